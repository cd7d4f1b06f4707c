/*
 * bench/bench_query.c: the search API (query/) over a synthetic fleet at
 * its target size (1M pods in 100 clusters by default), each figure beside
 * its raw SQLite equivalent on the same database in the same run: GET by
 * name p50/p99 over HTTP (and through fl_index_get alone), a label-selector
 * page of 100 p50/p99 (HTTP, fl_index_list, and the raw keyset SQL on the
 * labels index), a kubectl-style paginated list of 100k objects
 * (limit=500 + continue) beside the raw keyset walk, and get-by-name
 * requests/s with wrk (64 connections, random keys) beside raw point
 * lookups/s and wrk on /healthz (the HTTP floor). The load average is
 * printed beside the figures. Prints figures; never passes or fails.
 *
 * The dataset is loaded through the index's whole public write path
 * (fl_index_submit_list: decoder threads, writer, labels, FTS, pod facts).
 *
 * Usage: bench_query [--pods N (default 1000000)] [--clusters C (default 100)]
 *                    [--wrk-seconds S (default 10; 0 skips wrk)] [--samples K (default 2000)]
 *                    [--pages-only 1 (GET and label pages only: no paginated list, no wrk)]
 *                    [--keep DIR (the index in DIR, kept; a later run with the same DIR
 *                    skips the load, so two builds compare on the same data)]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "base/base.h"
#include "index/index.h"
#include "query/query.h"
#include "server/server.h"

#define NS_COUNT 50
#define APP_COUNT 100

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

static int load(fl_index *idx, int pods, int clusters)
{
    char cname[32];
    fl_buf b = FL_BUF_INIT(64u << 20);
    int per = pods / clusters;
    for (int c = 0; c < clusters; c++) {
        snprintf(cname, sizeof cname, "c-%d", c);
        fl_index_src src = {cname, "", "v1", "pods", "Pod"};
        for (int i = 0; i < per; i += 500) {
            fl_buf_reset(&b);
            fl_buf_puts(&b, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":"
                            "{\"resourceVersion\":\"1\"},\"items\":[");
            for (int k = i; k < i + 500 && k < per; k++)
                fl_buf_printf(
                    &b,
                    "%s{\"metadata\":{\"name\":\"pod-%06d\",\"namespace\":\"ns-%d\","
                    "\"uid\":\"u-%d-%d\",\"resourceVersion\":\"%d\",\"creationTimestamp\":"
                    "\"2026-01-01T00:00:00Z\",\"labels\":{\"app\":\"app-%d\",\"tier\":"
                    "\"web\",\"idx\":\"%d\"}},\"spec\":{\"nodeName\":\"node-%d\","
                    "\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1.25\",\"resources\":"
                    "{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]},\"status\":"
                    "{\"phase\":\"Running\",\"podIP\":\"10.0.%d.%d\"}}",
                    k > i ? "," : "", k, k % NS_COUNT, c, k, k + 1, k % APP_COUNT, k, k % 20,
                    (k / 250) % 250, k % 250);
            fl_buf_puts(&b, "]}");
            int rc;
            while ((rc = fl_index_submit_list(idx, &src, b.data, b.len, NULL)) == FL_EFULL)
                usleep(1000);
            if (rc) {
                fl_buf_done(&b);
                return rc;
            }
        }
    }
    fl_buf_done(&b);
    return fl_index_flush(idx, 3600000);
}

/* ---- a tiny keep-alive HTTP/1.1 client ---------------------------------------- */

typedef struct conn {
    int fd;
    uint16_t port;
    fl_buf body;
} conn;

static int conn_open(conn *c, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->port = port;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fl_buf_init(&c->body, 256u << 20);
    return connect(c->fd, (struct sockaddr *)&a, sizeof a);
}

static int http_get_once(conn *c, const char *path);

/* GET path; the body lands in c->body. Returns the status or -1. A
 * connection the server closed (a slow answer past its limits) is opened
 * again for the next request. */
static int http_get(conn *c, const char *path)
{
    int st = http_get_once(c, path);
    for (int again = 0; st < 0 && again < 2; again++) {
        close(c->fd);
        fl_buf_done(&c->body);
        if (conn_open(c, c->port) == 0)
            st = http_get_once(c, path);
    }
    return st;
}

static int http_get_once(conn *c, const char *path)
{
    char req[4096], buf[65536];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: b\r\n\r\n", path);
    if (write(c->fd, req, (size_t)n) != n)
        return -1;
    fl_buf hdr = FL_BUF_INIT(1u << 20);
    fl_buf_reset(&c->body);
    long want = -1;
    int status = -1;
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r <= 0)
            break;
        if (want < 0) {
            fl_buf_append(&hdr, buf, (size_t)r);
            char *end = strstr(hdr.data, "\r\n\r\n");
            if (!end)
                continue;
            char *cl = strcasestr(hdr.data, "Content-Length:");
            int64_t v = 0;
            if (hdr.len > 12 && fl_parse_i64(hdr.data + 9, 3, &v) == 0)
                status = (int)v;
            v = 0;
            if (cl) {
                char *e = strchr(cl, '\r');
                fl_parse_i64(cl + 16, (size_t)(e - cl - 16), &v);
            }
            want = (long)v;
            fl_buf_append(&c->body, end + 4, hdr.len - (size_t)(end + 4 - hdr.data));
        } else {
            fl_buf_append(&c->body, buf, (size_t)r);
        }
        if (want >= 0 && (long)c->body.len >= want)
            break;
    }
    fl_buf_done(&hdr);
    return status;
}

/* ---- measuring ---------------------------------------------------------------- */

static void print_load(void)
{
    char la[64];
    bench_loadavg(la, sizeof la);
    printf("  (load average %s)\n", la);
    fflush(stdout);
}

/* Keys of the dataset: pod k of cluster c. */
typedef struct key {
    char ns[16], name[32], cluster[16];
} key;

static void rand_key(key *k, int per, int clusters)
{
    int i = rand() % per;
    snprintf(k->ns, sizeof k->ns, "ns-%d", i % NS_COUNT);
    snprintf(k->name, sizeof k->name, "pod-%06d", i);
    snprintf(k->cluster, sizeof k->cluster, "c-%d", rand() % clusters);
}

/* Step a prepared statement to the end, touching every JSON byte. */
static int64_t raw_time(sqlite3_stmt *st, int *rows)
{
    int64_t t0 = now_ns();
    size_t bytes = 0;
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        bytes += (size_t)sqlite3_column_bytes(st, 0), n++;
    sqlite3_reset(st);
    if (rows)
        *rows = n;
    return now_ns() - t0 + (int64_t)(bytes & 0);
}

typedef struct sink {
    size_t bytes;
    int n;
} sink;

static int sink_row(void *arg, const fl_index_row *row)
{
    sink *k = arg;
    k->bytes += row->json_len;
    k->n++;
    return 0;
}

static void report3(const char *what, int64_t *h, int64_t *x, int64_t *r, int n)
{
    qsort(h, (size_t)n, sizeof *h, cmp_i64);
    qsort(x, (size_t)n, sizeof *x, cmp_i64);
    qsort(r, (size_t)n, sizeof *r, cmp_i64);
    printf("%s\n  HTTP        p50 %8.1f us  p99 %8.1f us\n"
           "  index API   p50 %8.1f us  p99 %8.1f us\n"
           "  raw SQLite  p50 %8.1f us  p99 %8.1f us\n",
           what, h[n / 2] / 1e3, h[n * 99 / 100] / 1e3, x[n / 2] / 1e3, x[n * 99 / 100] / 1e3,
           r[n / 2] / 1e3, r[n * 99 / 100] / 1e3);
}

static void bench_get(conn *c, fl_index_reader *rd, sqlite3 *db, int per, int clusters, int samples)
{
    int64_t *h = calloc((size_t)samples, sizeof *h), *x = calloc((size_t)samples, sizeof *x);
    int64_t *r = calloc((size_t)samples, sizeof *r);
    char path[512];
    int bad = 0;
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT o.json FROM objects o WHERE o.gvr_id = (SELECT id FROM gvrs"
                       " WHERE grp = '' AND res = 'pods') AND o.ns = ?1 AND o.name = ?2 AND"
                       " o.cluster_id = (SELECT id FROM clusters WHERE name = ?3) AND"
                       " o.deleted_ms IS NULL",
                       -1, &st, NULL);
    for (int i = 0; i < samples; i++) {
        key k;
        rand_key(&k, per, clusters);
        snprintf(path, sizeof path, "%s/clusters/%s/api/v1/namespaces/%s/pods/%s", FL_QUERY_PREFIX,
                 k.cluster, k.ns, k.name);
        int64_t t0 = now_ns();
        bad += http_get(c, path) != 200;
        h[i] = now_ns() - t0;
        fl_index_key ik = {k.cluster, "", "v1", "pods", k.ns, k.name};
        sink sk = {0, 0};
        t0 = now_ns();
        bad += fl_index_get(rd, &ik, sink_row, &sk, NULL) != 0;
        x[i] = now_ns() - t0;
        sqlite3_bind_text(st, 1, k.ns, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, k.name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, k.cluster, -1, SQLITE_TRANSIENT);
        int rows = 0;
        r[i] = raw_time(st, &rows);
        bad += rows != 1;
    }
    report3("GET pod by name (one random pod of one cluster)", h, x, r, samples);
    if (bad)
        printf("  (%d lookups failed)\n", bad);
    print_load();
    sqlite3_finalize(st);
    free(h), free(x), free(r);
}

/* Label pages of 100: across the fleet (clusters 0), or in one random
 * cluster out of `clusters` (that cluster's 1% is then 100 pods, and the
 * page reads the label's range of the whole fleet to find them). */
static void bench_labels(conn *c, fl_index_reader *rd, sqlite3 *db, int samples, int clusters,
                         int per)
{
    int64_t *h = calloc((size_t)samples, sizeof *h), *x = calloc((size_t)samples, sizeof *x);
    int64_t *r = calloc((size_t)samples, sizeof *r);
    char path[512], app[32], cl[32] = "", what[256];
    int bad = 0, want = 101; /* limit+1; in one cluster maybe all of them: per / APP_COUNT */
    if (clusters && per / APP_COUNT < want)
        want = per / APP_COUNT;
    sqlite3_stmt *st = NULL;
    /* the raw equivalent of the page: the keyset range of the labels index, JSON of the rows */
    sqlite3_prepare_v2(db,
                       "SELECT o.json FROM labels l JOIN objects o ON o.id = l.obj_id"
                       " WHERE l.key = 'app' AND l.value = ?1 AND l.gvr_id = (SELECT id FROM"
                       " gvrs WHERE grp = '' AND res = 'pods') AND (?2 IS NULL OR l.cluster_id ="
                       " (SELECT id FROM clusters WHERE name = ?2)) ORDER BY l.ns, l.name,"
                       " l.cluster_id LIMIT 101",
                       -1, &st, NULL);
    for (int i = 0; i < samples; i++) {
        snprintf(app, sizeof app, "app-%d", rand() % APP_COUNT);
        if (clusters)
            snprintf(cl, sizeof cl, "c-%d", rand() % clusters);
        snprintf(path, sizeof path, "%s%s%s/api/v1/pods?limit=100&labelSelector=app%%3D%s",
                 FL_QUERY_PREFIX, clusters ? "/clusters/" : "", cl, app);
        int64_t t0 = now_ns();
        bad += http_get(c, path) != 200;
        h[i] = now_ns() - t0;
        const char *vals[] = {app}, *cls[] = {cl};
        fl_index_label_req lr = {"app", FL_INDEX_LABEL_EQ, vals, 1};
        fl_index_query q = FL_INDEX_QUERY_INIT;
        q.group = "", q.version = "v1", q.resource = "pods", q.labels = &lr, q.n_labels = 1;
        q.clusters = cls, q.n_clusters = clusters ? 1 : 0;
        q.limit = 101;
        sink sk = {0, 0};
        t0 = now_ns();
        bad += fl_index_list(rd, &q, sink_row, &sk, NULL, NULL) != 0 || sk.n != want;
        x[i] = now_ns() - t0;
        sqlite3_bind_text(st, 1, app, -1, SQLITE_TRANSIENT);
        if (clusters)
            sqlite3_bind_text(st, 2, cl, -1, SQLITE_TRANSIENT);
        int rows = 0;
        r[i] = raw_time(st, &rows);
        bad += rows != want;
    }
    snprintf(what, sizeof what, "label-selector page of 100, app=app-N (1%% of the pods)%s",
             clusters ? " in one cluster (/clusters/c-M/...)" : " across all clusters");
    report3(what, h, x, r, samples);
    if (bad)
        printf("  (%d pages failed)\n", bad);
    print_load();
    sqlite3_finalize(st);
    free(h), free(x), free(r);
}

/* The other shapes of a label page of 100 (HTTP and fl_index_list): two
 * equalities with the broad one first, a label within its namespace, a
 * label in two clusters, a two-value set. */
enum { SH_TWO_LABELS, SH_NAMESPACE, SH_TWO_CLUSTERS, SH_SET, SH_N };

static void bench_shape(conn *c, fl_index_reader *rd, int samples, int shape, int clusters, int per)
{
    static const char *const what[SH_N] = {
        "label page of 100, tier=web,app=app-N (100% and 1%), all clusters",
        "label page of 100, app=app-N in its namespace, all clusters",
        "label page of 100, app=app-N in two clusters (clusters in (c-A,c-B))",
        "label page of 100, app in (app-N,app-M), all clusters"};
    int64_t *h = calloc((size_t)samples, sizeof *h), *x = calloc((size_t)samples, sizeof *x);
    char path[512], app[32], app2[32], ns[32], c1[32], c2[32];
    int bad = 0;
    for (int i = 0; i < samples; i++) {
        int a = rand() % APP_COUNT, b = (a + 1 + rand() % (APP_COUNT - 1)) % APP_COUNT;
        snprintf(app, sizeof app, "app-%d", a);
        snprintf(app2, sizeof app2, "app-%d", b);
        snprintf(ns, sizeof ns, "ns-%d", a % NS_COUNT); /* app-N lives in ns-(N % 50) */
        int k1 = rand() % clusters,
            k2 = (k1 + 1 + rand() % (clusters > 1 ? clusters - 1 : 1)) % clusters;
        snprintf(c1, sizeof c1, "c-%d", k1);
        snprintf(c2, sizeof c2, "c-%d", k2);
        const char *v1[] = {app}, *vt[] = {"web"}, *vs[] = {app, app2}, *nss[] = {ns},
                   *cls[] = {c1, c2};
        fl_index_label_req lr[2] = {{"app", FL_INDEX_LABEL_EQ, v1, 1}};
        fl_index_query q = FL_INDEX_QUERY_INIT;
        q.group = "", q.version = "v1", q.resource = "pods", q.labels = lr, q.n_labels = 1;
        q.limit = 101;
        int want = 101;
        switch (shape) {
        case SH_TWO_LABELS:
            snprintf(path, sizeof path,
                     "%s/api/v1/pods?limit=100&labelSelector=tier%%3Dweb,app%%3D%s",
                     FL_QUERY_PREFIX, app);
            lr[1] = lr[0];
            lr[0] = (fl_index_label_req){"tier", FL_INDEX_LABEL_EQ, vt, 1};
            q.n_labels = 2;
            break;
        case SH_NAMESPACE:
            snprintf(path, sizeof path,
                     "%s/api/v1/namespaces/%s/pods?limit=100&labelSelector=app%%3D%s",
                     FL_QUERY_PREFIX, ns, app);
            q.namespaces = nss, q.n_namespaces = 1;
            break;
        case SH_TWO_CLUSTERS:
            snprintf(path, sizeof path,
                     "%s/api/v1/pods?limit=100&labelSelector=app%%3D%s,"
                     "search.clusterpedia.io%%2Fclusters%%20in%%20(%s,%s)",
                     FL_QUERY_PREFIX, app, c1, c2);
            q.clusters = cls, q.n_clusters = 2;
            if (2 * (per / APP_COUNT) < want)
                want = 2 * (per / APP_COUNT);
            break;
        default:
            snprintf(path, sizeof path,
                     "%s/api/v1/pods?limit=100&labelSelector=app%%20in%%20(%s,%s)", FL_QUERY_PREFIX,
                     app, app2);
            lr[0] = (fl_index_label_req){"app", FL_INDEX_LABEL_IN, vs, 2};
            break;
        }
        int64_t t0 = now_ns();
        bad += http_get(c, path) != 200;
        h[i] = now_ns() - t0;
        sink sk = {0, 0};
        t0 = now_ns();
        bad += fl_index_list(rd, &q, sink_row, &sk, NULL, NULL) != 0 || sk.n != want;
        x[i] = now_ns() - t0;
    }
    qsort(h, (size_t)samples, sizeof *h, cmp_i64);
    qsort(x, (size_t)samples, sizeof *x, cmp_i64);
    printf("%s\n  HTTP        p50 %8.1f us  p99 %8.1f us\n"
           "  index API   p50 %8.1f us  p99 %8.1f us\n",
           what[shape], h[samples / 2] / 1e3, h[samples * 99 / 100] / 1e3, x[samples / 2] / 1e3,
           x[samples * 99 / 100] / 1e3);
    if (bad)
        printf("  (%d pages failed)\n", bad);
    print_load();
    free(h), free(x);
}

/* Pages of limit=500 until `want` objects (or the end), like kubectl --chunk-size=500. */
static void bench_full(conn *c, sqlite3 *db, int want)
{
    char path[4096], cont[2048] = "";
    int64_t n = 0, pages = 0, t0 = now_ns();
    while (n < want) {
        snprintf(path, sizeof path, "%s/api/v1/pods?limit=500%s%s", FL_QUERY_PREFIX,
                 cont[0] ? "&continue=" : "", cont);
        if (http_get(c, path) != 200)
            break;
        pages++;
        /* items carry no kind (as kube-apiserver's); each has its uid "u-..." */
        for (const char *p = c->body.data; (p = strstr(p, "\"uid\":\"u-")); p++)
            n++;
        const char *k = strstr(c->body.data, "\"continue\":\"");
        if (!k)
            break;
        k += 12;
        const char *e = strchr(k, '"');
        snprintf(cont, sizeof cont, "%.*s", (int)(e - k), k);
    }
    double api_s = (double)(now_ns() - t0) / 1e9;
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT json, ns, name, cluster_id FROM objects WHERE gvr_id = (SELECT id"
                       " FROM gvrs WHERE res = 'pods') AND deleted_ms IS NULL AND (ns, name, "
                       "cluster_id) > (?1, ?2, ?3) ORDER BY ns, name, cluster_id LIMIT 500",
                       -1, &st, NULL);
    char ns[64] = "", name[64] = "";
    int64_t cl = -1, raw = 0, rows;
    t0 = now_ns();
    do {
        rows = 0;
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, cl);
        while (sqlite3_step(st) == SQLITE_ROW) {
            rows++;
            snprintf(ns, sizeof ns, "%s", (const char *)sqlite3_column_text(st, 1));
            snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(st, 2));
            cl = sqlite3_column_int64(st, 3);
        }
        sqlite3_reset(st);
        raw += rows;
    } while (rows == 500 && raw < want);
    double raw_s = (double)(now_ns() - t0) / 1e9;
    sqlite3_finalize(st);
    printf("paginated list, limit=500 + continue, first %d pods of all clusters\n"
           "  HTTP        %lld objects in %lld pages, %.2f s = %.0f objects/s\n"
           "  raw SQLite  %lld rows, keyset pages of 500, %.2f s = %.0f rows/s\n",
           want, (long long)n, (long long)pages, api_s, n / api_s, (long long)raw, raw_s,
           raw / raw_s);
    print_load();
}

/* Raw point lookups per second over `secs` on 2 threads' worth of work:
 * one connection, the same random keys as wrk (the HTTP answer's floor). */
static void raw_rate(sqlite3 *db, int per, int clusters, double secs)
{
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT o.json FROM objects o WHERE o.gvr_id = (SELECT id FROM gvrs"
                       " WHERE grp = '' AND res = 'pods') AND o.ns = ?1 AND o.name = ?2 AND"
                       " o.cluster_id = (SELECT id FROM clusters WHERE name = ?3) AND"
                       " o.deleted_ms IS NULL",
                       -1, &st, NULL);
    int64_t n = 0, t0 = now_ns(), end = t0 + (int64_t)(secs * 1e9);
    while (now_ns() < end) {
        for (int i = 0; i < 100; i++, n++) {
            key k;
            rand_key(&k, per, clusters);
            sqlite3_bind_text(st, 1, k.ns, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, k.name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, k.cluster, -1, SQLITE_TRANSIENT);
            raw_time(st, NULL);
        }
    }
    printf("  raw SQLite point lookups, 1 thread: %.0f lookups/s\n",
           (double)n / ((double)(now_ns() - t0) / 1e9));
    sqlite3_finalize(st);
}

static void run_wrk(uint16_t port, int secs, int per, int clusters, const char *dir)
{
    char cmd[2048], script[256];
    if (secs <= 0 || system("command -v wrk >/dev/null 2>&1") != 0) {
        printf("wrk: skipped\n");
        return;
    }
    /* random keys over the whole fleet, a different pod per request */
    snprintf(script, sizeof script, "%s/get.lua", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return;
    fprintf(f,
            "math.randomseed(7)\nrequest = function()\n"
            "  local i = math.random(0, %d)\n"
            "  return wrk.format('GET', string.format('%s/clusters/c-%%d/api/v1/namespaces/"
            "ns-%%d/pods/pod-%%06d', math.random(0, %d), i %% %d, i))\nend\n",
            per - 1, FL_QUERY_PREFIX, clusters - 1, NS_COUNT);
    fclose(f);
    const char *what[2] = {"GET pod by name, random keys", "/healthz (the HTTP floor)"};
    for (int i = 0; i < 2; i++) {
        printf("wrk -t2 -c64 -d%ds, %s:\n", secs, what[i]);
        fflush(stdout);
        if (i == 0)
            snprintf(cmd, sizeof cmd,
                     "wrk -t2 -c64 -d%ds -s %s 'http://127.0.0.1:%u/' | "
                     "grep -E 'Requests/sec|Latency|Non-2xx|requests in'",
                     secs, script, port);
        else
            snprintf(cmd, sizeof cmd,
                     "wrk -t2 -c64 -d%ds 'http://127.0.0.1:%u/healthz' | "
                     "grep -E 'Requests/sec|Latency|Non-2xx|requests in'",
                     secs, port);
        if (system(cmd) != 0)
            printf("  (wrk failed)\n");
        print_load();
    }
}

static int arg_int(int argc, char **argv, const char *name, int def)
{
    for (int i = 1; i + 1 < argc; i++) {
        int64_t v;
        if (!strcmp(argv[i], name) && fl_parse_i64(argv[i + 1], strlen(argv[i + 1]), &v) == 0)
            return (int)v;
    }
    return def;
}

static long rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

int main(int argc, char **argv)
{
    int pods = arg_int(argc, argv, "--pods", 1000000);
    int clusters = arg_int(argc, argv, "--clusters", 100);
    int wrk_s = arg_int(argc, argv, "--wrk-seconds", 10);
    int samples = arg_int(argc, argv, "--samples", 2000);
    int quick = arg_int(argc, argv, "--pages-only", 0); /* 1: label pages only (no list, no wrk) */
    char dir[256] = "/tmp/flotilla-bench-query-XXXXXX", path[512], la[64];
    const char *keep = NULL; /* --keep DIR: the index lives there and stays; loaded once */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--keep"))
            keep = argv[i + 1];
    if (keep)
        snprintf(dir, sizeof dir, "%s", keep);
    if ((keep ? (mkdir(dir, 0700) != 0 && errno != EEXIST) : !mkdtemp(dir)) || clusters < 1 ||
        pods < clusters || samples < 100)
        return 1;
    char marker[300];
    snprintf(marker, sizeof marker, "%s/loaded", dir);
    bool loaded = keep && access(marker, F_OK) == 0;
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_index *idx = NULL;
    fl_index_reader *rd = NULL;
    fl_query *q = NULL;
    fl_server *srv = NULL;
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    fl_query_opts qo = FL_QUERY_OPTS_INIT;
    sqlite3 *db = NULL;
    conn c;
    io.path = path;
    fl_log_set_level(FL_LOG_WARN);
    signal(SIGPIPE, SIG_IGN); /* a closed connection is an error, not the end */
    if (fl_index_open(&io, &idx, NULL) != 0)
        return 1;
    bench_loadavg(la, sizeof la);
    printf("bench_query: %d pods in %d clusters (%d each, %d namespaces, app=app-0..%d),"
           " load average before %s\n",
           pods / clusters * clusters, clusters, pods / clusters, NS_COUNT, APP_COUNT - 1, la);
    fflush(stdout);
    int64_t t0 = now_ns();
    if (loaded) {
        printf("dataset: the index kept in %s (loaded by an earlier run; opened in %.1f s)\n", dir,
               (double)(now_ns() - t0) / 1e9);
    } else {
        if (load(idx, pods, clusters) != 0)
            return 1;
        double load_s = (double)(now_ns() - t0) / 1e9;
        printf("dataset loaded through fl_index_submit_list (the whole write path) in %.1f s = "
               "%.0f pods/s\n",
               load_s, pods / load_s);
        FILE *m = keep ? fopen(marker, "w") : NULL;
        if (m)
            fclose(m);
    }
    print_load();
    const char *pods_res[] = {"pods"};
    fl_query_gv gv = {"", "v1", pods_res, 1};
    qo.index = idx;
    qo.gvs = &gv;
    qo.ngvs = 1;
    qo.anonymous_loopback = true;
    so.access_log = false;
    if (fl_query_new(&qo, &q, NULL) || fl_server_new(&so, &srv, NULL) || fl_query_route(q, srv) ||
        fl_server_route_health(srv) || fl_server_start(srv, NULL) ||
        fl_index_reader_new(idx, &rd, NULL) ||
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        conn_open(&c, fl_server_port(srv)) != 0)
        return 1;
    sqlite3_exec(db, "PRAGMA cache_size = -8192", NULL, NULL, NULL); /* as a reader's */
    srand(1);
    bench_get(&c, rd, db, pods / clusters, clusters, samples);
    bench_labels(&c, rd, db, samples, 0, pods / clusters);
    bench_labels(&c, rd, db, samples / 4, clusters, pods / clusters);
    for (int sh = 0; sh < SH_N; sh++)
        bench_shape(&c, rd, samples / 4, sh, clusters, pods / clusters);
    if (!quick)
        bench_full(&c, db, pods < 100000 ? pods : 100000);
    close(c.fd);
    fl_buf_done(&c.body);
    if (!quick)
        run_wrk(fl_server_port(srv), wrk_s, pods / clusters, clusters, dir);
    if (wrk_s > 0 && !quick)
        raw_rate(db, pods / clusters, clusters, wrk_s / 2.0);
    printf("peak RSS of this process (index writer + readers + HTTP): %ld MB\n", rss_mb());
    sqlite3_close(db);
    fl_index_reader_free(rd);
    fl_server_free(srv);
    fl_query_free(q);
    fl_index_close(idx);
    if (keep)
        return 0;
    snprintf(path, sizeof path, "rm -rf %s", dir);
    return system(path) == 0 ? 0 : 1;
}
