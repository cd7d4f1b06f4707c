/*
 * bench/bench_quota.c: quota/ at its target sizes, each figure beside the
 * floor it chases, in one run on one synthetic index:
 *   1. admission over HTTPS on loopback at a fixed rate (default 5,000
 *      reviews/s from 8 keep-alive connections): p50/p99/max of a no-op
 *      handler on the same server, then of quota reviews (dry runs, then
 *      charging reviews) of a namespace holding --ns-pods pods;
 *      1b. the same while 16 clients keep the listener's worker pool busy
 *      with 50 ms requests (a slow search), beside a no-op on that pool;
 *   2. 64 clients racing over HTTPS for the last units of a quota: how many
 *      are granted beside how many were free (over-admission must be 0);
 *   3. a full recomputation of a namespace holding --pods pods in --clusters
 *      clusters from the index's materialized pod rows, beside the raw
 *      SQLite aggregate of the same rows and beside the same count from
 *      every pod's JSON (count_from_json), and the periodic recount made
 *      off-lock with the slowest decision of that namespace meanwhile.
 *      --skip-http leaves out 1, 1b and 2.
 * The load average is printed beside the figures. Prints; never fails.
 *
 * Usage: bench_quota [--pods N (1000000)] [--clusters C (100)] [--ns-pods M (1000)]
 *                    [--rate R (5000)] [--seconds S (10)] [--threads T (8)]
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "base/base.h"
#include "index/index.h"
#include "kube/kube.h"
#include "quota/quota.h"
#include "server/server.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- data ------------------------------------------------------------------ */

static int submit_list(fl_index *idx, const fl_index_src *src, fl_buf *b)
{
    int rc;
    while ((rc = fl_index_submit_list(idx, src, b->data, b->len, NULL)) == FL_EFULL)
        usleep(1000);
    return rc;
}

/* n pods of namespace ns spread over clusters c-0..c-(clusters-1). */
static int load_pods(fl_index *idx, const char *ns, int n, int clusters)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    int per = (n + clusters - 1) / clusters, rc = 0;
    for (int c = 0; !rc && c < clusters; c++) {
        char cname[32];
        snprintf(cname, sizeof cname, "c-%d", c);
        fl_index_src src = {cname, "", "v1", "pods", "Pod"};
        for (int i = 0; !rc && i < per && c * per + i < n; i += 500) {
            fl_buf_reset(&b);
            fl_buf_puts(&b, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":"
                            "{\"resourceVersion\":\"1\"},\"items\":[");
            for (int k = i; k < i + 500 && k < per && c * per + k < n; k++)
                fl_buf_printf(
                    &b,
                    "%s{\"metadata\":{\"name\":\"%s-%07d\",\"namespace\":\"%s\","
                    "\"uid\":\"u-%s-%d-%d\",\"resourceVersion\":\"%d\",\"labels\":{\"app\":"
                    "\"app-%d\"}},\"spec\":{\"nodeName\":\"node-%d\",\"containers\":[{\"name\":"
                    "\"c\",\"image\":\"nginx:1.25\",\"resources\":{\"requests\":{\"cpu\":"
                    "\"100m\",\"memory\":\"64Mi\"},\"limits\":{\"memory\":\"128Mi\"}}}]},"
                    "\"status\":{\"phase\":\"Running\"}}",
                    k > i ? "," : "", ns, k, ns, ns, c, k, k + 1, k % 100, k % 20);
            fl_buf_puts(&b, "]}");
            rc = submit_list(idx, &src, &b);
        }
    }
    fl_buf_done(&b);
    return rc;
}

static int load_quota(fl_index *idx, const char *ns, const char *name, const char *hard)
{
    fl_index_src src = {FL_QUOTA_HOST_CLUSTER, "quota.flotilla.io", "v1alpha1", "karmadaquotas",
                        "KarmadaQuota"};
    char ev[1024];
    snprintf(
        ev, sizeof ev,
        "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"quota.flotilla.io/"
        "v1alpha1\",\"kind\":\"KarmadaQuota\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\","
        "\"uid\":\"q-%s\",\"resourceVersion\":\"1\"},\"spec\":{\"hard\":%s}}}",
        name, ns, ns, hard);
    return fl_index_submit_event(idx, &src, ev, strlen(ev), NULL);
}

/* ---- HTTPS client ------------------------------------------------------------ */

typedef struct client {
    CURL *h;
    struct curl_slist *hdrs;
    fl_buf resp;
} client;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    fl_buf_append(ud, p, sz * n);
    return sz * n;
}

static void client_init(client *c, const char *ca_pem)
{
    struct curl_blob blob = {(void *)ca_pem, strlen(ca_pem), CURL_BLOB_COPY};
    c->h = curl_easy_init();
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    fl_buf_init(&c->resp, 1u << 20);
    curl_easy_setopt(c->h, CURLOPT_CAINFO_BLOB, &blob);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
}

static void client_done(client *c)
{
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdrs);
    fl_buf_done(&c->resp);
}

/* POST body to url; 200 -> 1 allowed / 0 denied; else -1. */
static int post(client *c, const char *url, const char *body)
{
    long code = 0;
    fl_buf_reset(&c->resp);
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c->h) != CURLE_OK)
        return -1;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 || !c->resp.data)
        return -1;
    return strstr(c->resp.data, "\"allowed\":true") != NULL;
}

static void review(char *out, size_t n, const char *ns, const char *name, bool dry)
{
    snprintf(
        out, n,
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
        "{\"uid\":\"%s\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
        "\"resource\":"
        "{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},\"namespace\":\"%s\",\"name\":"
        "\"%s\",\"operation\":\"CREATE\",\"dryRun\":%s,\"object\":{\"apiVersion\":\"v1\",\"kind\":"
        "\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},\"spec\":{\"containers\":[{"
        "\"name\":\"c\",\"image\":\"nginx\",\"resources\":{\"requests\":{\"cpu\":\"10m\","
        "\"memory\":"
        "\"16Mi\"}}}]}}}}",
        name, ns, name, dry ? "true" : "false", name, ns);
}

/* ---- 1. paced admission latency --------------------------------------------- */

typedef struct pacer {
    const char *url, *ca, *ns;
    int mode; /* 0 no-op, 1 quota dry run, 2 quota charging */
    int thread, threads;
    double rate;
    int64_t t0, dur;
    int64_t *lat;
    size_t n, cap;
    long errors, denied;
} pacer;

static void *pace(void *arg)
{
    pacer *p = arg;
    client c;
    char body[2048], name[64];
    client_init(&c, p->ca);
    double interval = 1e9 * p->threads / p->rate;
    for (long k = 0;; k++) {
        int64_t due =
            p->t0 + (int64_t)(k * interval) + (int64_t)(p->thread * interval / p->threads);
        if (due - p->t0 >= p->dur)
            break;
        int64_t now = now_ns();
        if (due > now) {
            struct timespec ts = {(due - now) / 1000000000, (due - now) % 1000000000};
            nanosleep(&ts, NULL);
        }
        snprintf(name, sizeof name, "b-%d-%ld", p->thread, k);
        review(body, sizeof body, p->ns, name, p->mode != 2);
        int64_t t = now_ns();
        int r = post(&c, p->url, body);
        if (r < 0)
            p->errors++;
        else if (r == 0)
            p->denied++;
        if (p->n < p->cap)
            p->lat[p->n++] = now_ns() - t;
    }
    client_done(&c);
    return NULL;
}

static void paced(const char *what, const char *url, const char *ca, int mode, double rate,
                  int seconds, int threads)
{
    pacer *p = calloc((size_t)threads, sizeof *p);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    size_t cap = (size_t)(rate * seconds / threads) + 16;
    int64_t t0 = now_ns() + 200000000;
    for (int i = 0; i < threads; i++) {
        p[i] = (pacer){url,
                       ca,
                       "bench",
                       mode,
                       i,
                       threads,
                       rate,
                       t0,
                       (int64_t)seconds * 1000000000,
                       calloc(cap, sizeof(int64_t)),
                       0,
                       cap,
                       0,
                       0};
        pthread_create(&th[i], NULL, pace, &p[i]);
    }
    size_t n = 0;
    long errors = 0, denied = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        n += p[i].n, errors += p[i].errors, denied += p[i].denied;
    }
    int64_t *all = calloc(n ? n : 1, sizeof *all), end = now_ns();
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, p[i].lat, p[i].n * sizeof(int64_t));
        k += p[i].n;
        free(p[i].lat);
    }
    qsort(all, n, sizeof *all, cmp_i64);
    printf("  %-34s %6zu reviews, %7.0f/s  p50 %6.3f ms  p99 %6.3f ms  max %7.3f ms  "
           "denied %ld errors %ld\n",
           what, n, n / ((end - t0) / 1e9), n ? all[n / 2] / 1e6 : 0,
           n ? all[n * 99 / 100] / 1e6 : 0, n ? all[n - 1] / 1e6 : 0, denied, errors);
    free(all), free(p), free(th);
}

static void on_noop(fl_request *r, void *ud)
{
    static const char ok[] = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                             "\"response\":{\"uid\":\"x\",\"allowed\":true}}\n";
    fl_request_reply(r, 200, "application/json", ok, sizeof ok - 1);
}

/* The ledger's own cost: n dry-run decisions called in-process (no HTTP). */
static void in_process(fl_quota *q, int n)
{
    char body[2048], name[64];
    int64_t *lat = calloc((size_t)n, sizeof *lat), t0 = now_ns();
    for (int i = 0; lat && i < n; i++) {
        snprintf(name, sizeof name, "p-%d", i);
        review(body, sizeof body, "bench", name, true);
        json_t *doc = json_loads(body, 0, NULL), *resp = NULL;
        int64_t t = now_ns();
        if (fl_quota_review(q, "c-0", json_object_get(doc, "request"), &resp, NULL) == 0)
            json_decref(resp);
        lat[i] = now_ns() - t;
        json_decref(doc);
    }
    if (!lat)
        return;
    int64_t total = now_ns() - t0;
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    printf("  in-process decision (dry run, no HTTP), %d calls: p50 %6.3f ms  p99 %6.3f ms  "
           "(%.0f/s on one thread)\n",
           n, lat[n / 2] / 1e6, lat[n * 99 / 100] / 1e6, n / (total / 1e9));
    free(lat);
}

/* A stand-in for a slow search: 50 ms on the listener's worker pool. */
static void on_slow(fl_request *r, void *ud)
{
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    on_noop(r, ud);
}

typedef struct hog {
    const char *url, *ca;
    volatile int *stop;
    long n;
} hog;

static void *hog_loop(void *arg)
{
    hog *h = arg;
    client c;
    client_init(&c, h->ca);
    while (!*h->stop) {
        post(&c, h->url, "{}");
        h->n++;
    }
    client_done(&c);
    return NULL;
}

/* Quota reviews while 16 clients keep the listener's worker pool busy with
 * slow requests (searches): admission must not queue behind them. */
static void behind_slow_search(const char *url_slow, const char *url_q, const char *url_noop,
                               const char *ca, double rate, int seconds, int threads)
{
    enum { HOGS = 16 };
    hog h[HOGS];
    pthread_t th[HOGS];
    volatile int stop = 0;
    for (int i = 0; i < HOGS; i++) {
        h[i] = (hog){url_slow, ca, &stop, 0};
        pthread_create(&th[i], NULL, hog_loop, &h[i]);
    }
    paced("quota, dry run, workers busy", url_q, ca, 1, rate, seconds, threads);
    paced("no-op on the worker pool, busy", url_noop, ca, 0, rate / 50, seconds, 2);
    stop = 1;
    long n = 0;
    for (int i = 0; i < HOGS; i++) {
        pthread_join(th[i], NULL);
        n += h[i].n;
    }
    printf("  (%d clients kept 4 workers busy with 50 ms requests: %ld served meanwhile)\n", HOGS,
           n);
}

/* ---- 2. racing clients -------------------------------------------------------- */

typedef struct racer {
    const char *url, *ca;
    int i, granted;
    pthread_barrier_t *go;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    client c;
    char body[2048], name[32];
    client_init(&c, r->ca);
    snprintf(name, sizeof name, "racer-%d", r->i);
    review(body, sizeof body, "race", name, false);
    pthread_barrier_wait(r->go);
    r->granted = post(&c, r->url, body) == 1;
    client_done(&c);
    return NULL;
}

static void racing(const char *url, const char *ca, int free_units)
{
    racer r[64];
    pthread_t th[64];
    pthread_barrier_t go;
    int granted = 0;
    pthread_barrier_init(&go, NULL, 64);
    for (int i = 0; i < 64; i++) {
        r[i] = (racer){url, ca, i, 0, &go};
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < 64; i++) {
        pthread_join(th[i], NULL);
        granted += r[i].granted;
    }
    pthread_barrier_destroy(&go);
    printf("  64 clients racing for %d free pods: %d granted, over-admission %d\n", free_units,
           granted, granted > free_units ? granted - free_units : 0);
}

/* ---- 3. recomputation ----------------------------------------------------------- */

static void raw_aggregate(const char *db, const char *ns)
{
    sqlite3 *s = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            s,
            "SELECT r.resource, count(*), sum(r.requests), sum(r.limits) FROM pods p "
            "JOIN pod_resources r ON r.obj_id = p.obj_id WHERE p.ns = ? AND "
            "p.terminal = 0 GROUP BY r.resource",
            -1, &st, NULL) != SQLITE_OK) {
        printf("  raw aggregate: %s\n", sqlite3_errmsg(s));
        sqlite3_close(s);
        return;
    }
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    int64_t t = now_ns();
    long long pods = 0, cpu = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        if (!strcmp((const char *)sqlite3_column_text(st, 0), "cpu"))
            pods = sqlite3_column_int64(st, 1), cpu = sqlite3_column_int64(st, 2);
    printf("  raw SQLite aggregate of the same rows:  %8.1f ms  (%lld pods, cpu %lld m)\n",
           (now_ns() - t) / 1e6, pods, cpu / 1000);
    sqlite3_finalize(st);
    sqlite3_close(s);
}

typedef struct recounter {
    fl_quota *q;
    int64_t took;
    volatile int done;
} recounter;

static void *recount_thread(void *arg)
{
    recounter *r = arg;
    int64_t t = now_ns();
    fl_err err = FL_ERR_INIT;
    if (fl_quota_recount(r->q, "bulk", &err) != 0)
        printf("  recount: %s\n", err.msg);
    r->took = now_ns() - t;
    r->done = 1;
    return NULL;
}

/* The periodic full recount runs off the namespace's lock: decisions of that
 * namespace made meanwhile, their slowest beside the recount's duration. */
static void recount_beside_decisions(fl_quota *q)
{
    recounter r = {q, 0, 0};
    pthread_t th;
    char body[2048], name[64];
    int64_t worst = 0, *lat = calloc(100000, sizeof *lat);
    long n = 0;
    if (!lat)
        return;
    pthread_create(&th, NULL, recount_thread, &r);
    while (!r.done && n < 100000) {
        snprintf(name, sizeof name, "during-%ld", n++);
        review(body, sizeof body, "bulk", name, true);
        json_t *doc = json_loads(body, 0, NULL), *resp = NULL;
        int64_t t = now_ns();
        if (fl_quota_review(q, "c-0", json_object_get(doc, "request"), &resp, NULL) == 0)
            json_decref(resp);
        t = now_ns() - t;
        lat[n - 1] = t;
        if (t > worst)
            worst = t;
        json_decref(doc);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_join(th, NULL);
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    printf("  periodic full recount (off-lock, swapped in): %8.1f ms; meanwhile %ld decisions in "
           "that namespace: p50 %.3f ms, p99 %.3f ms, slowest %.3f ms\n",
           r.took / 1e6, n, n ? lat[n / 2] / 1e6 : 0, n ? lat[n * 99 / 100] / 1e6 : 0, worst / 1e6);
    free(lat);
}

/* The same namespace's first full count by a second ledger that reads
 * every pod's JSON (fl_quota_opts.count_from_json), as before the rows. */
static void recompute_json(const fl_quota_opts *base, int pods, int clusters)
{
    fl_quota_opts o = *base;
    fl_quota *q = NULL;
    json_t *used = NULL;
    fl_err err = FL_ERR_INIT;
    o.count_from_json = true;
    if (fl_quota_new(&o, &q, &err) != 0) {
        printf("  recompute (JSON): %s\n", err.msg);
        return;
    }
    int64_t t = now_ns();
    if (fl_quota_used(q, "bulk", &used, &err) != 0)
        printf("  recompute (JSON): %s\n", err.msg);
    else {
        const json_t *u = json_object_get(used, "bulk-quota");
        printf("  the same count from every pod's JSON:     %8.1f ms  (pods %s, requests.cpu %s)\n",
               (now_ns() - t) / 1e6, json_string_value(json_object_get(u, "pods")),
               json_string_value(json_object_get(u, "requests.cpu")));
    }
    json_decref(used);
    fl_quota_free(q);
    (void)pods, (void)clusters;
}

static void recompute(fl_quota *q, const fl_quota_opts *qo, const char *db, int pods, int clusters)
{
    json_t *used = NULL;
    fl_err err = FL_ERR_INIT;
    int64_t full = 0, best = INT64_MAX;
    for (int i = 0; i < 4; i++) {
        int64_t t = now_ns();
        if (fl_quota_used(q, "bulk", &used, &err) != 0) {
            printf("  recompute: %s\n", err.msg);
            return;
        }
        t = now_ns() - t;
        if (i == 0)
            full = t; /* the namespace's first decision: a full recount */
        else if (t < best)
            best = t;
        if (i < 3)
            json_decref(used);
    }
    const json_t *u = json_object_get(used, "bulk-quota");
    printf("  full count of a namespace from the index's pod rows, %d pods in %d clusters: "
           "%8.1f ms  (pods %s, requests.cpu %s)\n",
           pods, clusters, full / 1e6, json_string_value(json_object_get(u, "pods")),
           json_string_value(json_object_get(u, "requests.cpu")));
    printf("  the same, followed from the change log (no change):  %8.3f ms\n", best / 1e6);
    json_decref(used);
    raw_aggregate(db, "bulk");
    recompute_json(qo, pods, clusters);
    recount_beside_decisions(q);
}

/* ---- main ------------------------------------------------------------------------- */

static int arg_int(int argc, char **argv, const char *name, int dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return atoi(argv[i + 1]);
    return dflt;
}

int main(int argc, char **argv)
{
    int pods = arg_int(argc, argv, "--pods", 1000000),
        clusters = arg_int(argc, argv, "--clusters", 100);
    int ns_pods = arg_int(argc, argv, "--ns-pods", 1000),
        rate = arg_int(argc, argv, "--rate", 5000);
    int seconds = arg_int(argc, argv, "--seconds", 10),
        threads = arg_int(argc, argv, "--threads", 8);
    char dir[] = "/tmp/bench-quota-XXXXXX", db[256], secrets[256], load[64];
    fl_log_set_level(FL_LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!mkdtemp(dir))
        return 1;
    snprintf(db, sizeof db, "%s/index.db", dir);
    snprintf(secrets, sizeof secrets, "%s/secrets.json", dir);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    io.path = db;
    if (fl_index_open(&io, &idx, &err) != 0) {
        fprintf(stderr, "index: %s\n", err.msg);
        return 1;
    }
    int64_t t = now_ns();
    int rc = load_pods(idx, "bulk", pods, clusters);
    if (!rc)
        rc = load_pods(idx, "bench", ns_pods, clusters);
    if (!rc)
        rc = load_quota(idx, "bulk", "bulk-quota",
                        "{\"pods\":\"100000000\",\"requests.cpu\":\"1000000\"}");
    if (!rc)
        rc = load_quota(idx, "bench", "bench-quota",
                        "{\"pods\":\"1000000000\",\"requests.cpu\":"
                        "\"100000000\",\"requests.memory\":\"100Pi\"}");
    if (!rc)
        rc = load_quota(idx, "race", "race-quota", "{\"pods\":\"5\"}");
    if (!rc)
        rc = fl_index_flush(idx, 3600000);
    if (rc) {
        fprintf(stderr, "load: %s\n", fl_strerror(rc));
        return 1;
    }
    printf("loaded %d + %d pods in %d clusters in %.1f s\n", pods, ns_pods, clusters,
           (now_ns() - t) / 1e9);

    char **names = calloc((size_t)clusters, sizeof *names);
    for (int c = 0; c < clusters; c++) {
        names[c] = malloc(16);
        snprintf(names[c], 16, "c-%d", c);
    }
    fl_quota_opts qo = FL_QUOTA_OPTS_INIT;
    fl_quota *q = NULL;
    qo.index = idx;
    qo.members = (const char *const *)names, qo.nmembers = (size_t)clusters;
    qo.secrets_path = secrets;
    qo.threads = 4;
    json_t *sec = NULL;
    fl_cert_pair ca = FL_CERT_PAIR_INIT, srv_cert = FL_CERT_PAIR_INIT;
    const char *host[1] = {"127.0.0.1"};
    if (fl_quota_new(&qo, &q, &err) != 0 || fl_quota_secrets(secrets, NULL, 0, &sec, &err) != 0 ||
        fl_cert_ca_new(NULL, 1, &ca, &err) != 0 ||
        fl_cert_server_new(&ca, host, 1, 1, &srv_cert, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    fl_server *srv = NULL;
    so.name = "bench", so.threads = 4, so.access_log = false;
    so.workers = 4; /* as the daemon's listener: handlers on a worker pool */
    so.tls_cert_pem = srv_cert.cert_pem, so.tls_key_pem = srv_cert.key_pem;
    if (fl_server_new(&so, &srv, &err) || fl_quota_route(q, srv) ||
        fl_server_route_inline(srv, "POST", "/noop", on_noop, NULL) ||
        fl_server_route(srv, "POST", "/noop-pooled", on_noop, NULL) ||
        fl_server_route(srv, "POST", "/slow", on_slow, NULL) || fl_server_start(srv, &err)) {
        fprintf(stderr, "server: %s\n", err.msg);
        return 1;
    }
    char url_q[512], url_noop[128], url_slow[128], url_pooled[128];
    snprintf(url_q, sizeof url_q, "https://127.0.0.1:%u/admission/clusters/c-0/%s/quota",
             fl_server_port(srv), json_string_value(json_object_get(sec, "c-0")));
    snprintf(url_noop, sizeof url_noop, "https://127.0.0.1:%u/noop", fl_server_port(srv));
    snprintf(url_slow, sizeof url_slow, "https://127.0.0.1:%u/slow", fl_server_port(srv));
    snprintf(url_pooled, sizeof url_pooled, "https://127.0.0.1:%u/noop-pooled",
             fl_server_port(srv));

    bool skip_http = false;
    for (int i = 1; i < argc; i++)
        skip_http = skip_http || !strcmp(argv[i], "--skip-http");
    if (skip_http)
        goto recount;
    bench_loadavg(load, sizeof load);
    printf("1. admission over HTTPS, %d reviews/s from %d keep-alive connections for %d s "
           "(load %s):\n",
           rate, threads, seconds, load);
    in_process(q, 5000);
    paced("no-op handler, same server", url_noop, ca.cert_pem, 0, rate, seconds, threads);
    char what[96];
    snprintf(what, sizeof what, "quota, dry run (%d pods in ns)", ns_pods);
    paced(what, url_q, ca.cert_pem, 1, rate, seconds, threads);
    snprintf(what, sizeof what, "quota, charging (%d pods in ns)", ns_pods);
    paced(what, url_q, ca.cert_pem, 2, rate, seconds, threads);
    printf("1b. the same listener's worker pool saturated by slow requests (a slow search):\n");
    behind_slow_search(url_slow, url_q, url_pooled, ca.cert_pem, rate, seconds, threads);
    printf("2. zero over-admission:\n");
    racing(url_q, ca.cert_pem, 5);
recount:
    bench_loadavg(load, sizeof load);
    printf("3. recomputation (load %s):\n", load);
    recompute(q, &qo, db, pods, clusters);
    fl_quota_stats st;
    fl_quota_stats_get(q, &st);
    printf("ledger: %llu allowed, %llu denied, %llu errors, %llu reservations open\n",
           (unsigned long long)st.allowed, (unsigned long long)st.denied,
           (unsigned long long)st.errors, (unsigned long long)st.reservations_open);

    fl_server_free(srv);
    fl_quota_free(q);
    fl_index_close(idx);
    for (int c = 0; c < clusters; c++)
        free(names[c]);
    free(names);
    json_decref(sec);
    fl_cert_pair_done(&ca), fl_cert_pair_done(&srv_cert);
    curl_global_cleanup();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
