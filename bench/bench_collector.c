/*
 * bench/bench_collector.c: the collector against a simulated fleet
 * (`flotilla sim`, a separate process), in one run:
 *   1. initial sync of N clusters x (nodes + pods) into a fresh index:
 *      seconds, objects/s, peak RSS of this process (collector + index; the
 *      sim's own peak is printed apart), DB bytes per object;
 *   2. steady churn at rising rates (1, 5, 10, 50, 100, 200, 250 pod events per
 *      second per cluster, stopping after the first step whose lag is no
 *      longer bounded: a probe lost or over 5 s): events/s applied by the
 *      index beside the rate offered, and the lag from a write on a member
 *      (a node label PATCH) to its visibility in the index (p50/p99/max);
 *   3. the raw limits it chases, measured here on the same bytes: jansson
 *      parsing the list pages (one core), the index ingesting them directly
 *      (fl_index_submit_list, no HTTP) for as many clusters, and the index
 *      applying watch events directly (fl_index_submit_event).
 * Prints figures, never pass/fail.
 *
 * Usage: bench_collector [--clusters N] [--nodes N] [--pods N] [--churn-seconds S]
 *                        [--scale] [--dir DIR]
 * Default 100 x (200 nodes + 10,000 pods). --scale is Karmada's 100-cluster
 * test, 100 x (5,000 nodes + 20,000 pods): long, not for CI; it checks free
 * disk first and refuses when short. The flotilla binary comes from
 * FLOTILLA_BIN or ../cmd/flotilla beside this program.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector/collector.h"
#include "index/index.h"
#include "kube/kube.h"

#define MAX_CLUSTERS 200
#define DB_BYTES_PER_OBJECT_EST 10240 /* for the disk check (about 9 KB measured) */
#define RAW_CLUSTERS_MAX                                                                           \
    20 /* the raw ingest runs on at most this many clusters' worth
                               (a smaller database: if anything, a higher limit) */

typedef struct cfg {
    long clusters, nodes, pods, churn_s;
    bool scale;
    const char *dir;
} cfg;

typedef struct member {
    char name[32], kubeconfig[600], node[256];
    fl_kube_conn *conn;
    int64_t pods, nodes; /* as the sim lists them */
} member;

typedef struct fleet {
    pid_t sim;
    char dir[512], ctl_url[256], ctl_token[128];
    member m[MAX_CLUSTERS];
    long n;
    int64_t objects;
} fleet;

/* --------------------------------------------------------------- helpers */

static double secs_since(int64_t t0)
{
    return (double)(fl_mono_ms() - t0) / 1000.0;
}

static long self_peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* VmHWM of another process in MB (-1 if unknown). */
static long proc_peak_rss_mb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) {
            char *p = line + 6;
            while (*p == ' ' || *p == '\t')
                p++;
            int64_t v;
            size_t n = strspn(p, "0123456789");
            if (fl_parse_i64(p, n, &v) == 0)
                kb = (long)v;
        }
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

static long long db_bytes(const char *db)
{
    char p[600];
    struct stat st;
    long long total = 0;
    const char *sfx[] = {"", "-wal"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s", db, sfx[i]);
        if (stat(p, &st) == 0)
            total += st.st_size;
    }
    return total;
}

static int open_index(const char *path, fl_index **idx)
{
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_err err = FL_ERR_INIT;
    io.path = path;
    if (fl_index_open(&io, idx, &err) != 0) {
        fprintf(stderr, "index: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------- the sim */

static void flotilla_bin(char *out, size_t n)
{
    const char *env = getenv("FLOTILLA_BIN");
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    self[len > 0 ? len : 0] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    snprintf(out, n, "%s/../cmd/flotilla", self);
}

/* Start `flotilla sim` and wait for its "cluster NAME URL kubeconfig=F"
 * lines. 0 or -1. */
static int start_sim(fleet *fl, const cfg *c)
{
    char bin[PATH_MAX + 32], ncl[32], nn[32], np[32];
    int fds[2];
    flotilla_bin(bin, sizeof bin);
    snprintf(ncl, sizeof ncl, "%ld", c->clusters);
    snprintf(nn, sizeof nn, "%ld", c->nodes);
    snprintf(np, sizeof np, "%ld", c->pods);
    if (pipe(fds) != 0)
        return -1;
    fl->sim = fork();
    if (fl->sim == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char log[600];
        snprintf(log, sizeof log, "%s/sim.log", fl->dir);
        int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fds[1], 1);
        if (lfd >= 0)
            dup2(lfd, 2);
        close(fds[0]);
        close(fds[1]);
        execl(bin, "flotilla", "sim", "--clusters", ncl, "--nodes", nn, "--pods", np,
              "--no-controllers", "--kubeconfig-dir", fl->dir, (char *)NULL);
        fprintf(stderr, "cannot run %s (set FLOTILLA_BIN)\n", bin);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[1024];
    fl->n = 0;
    while (f && fl->n < c->clusters && fgets(line, sizeof line, f)) {
        char *kc = strstr(line, "kubeconfig=");
        if (strncmp(line, "cluster ", 8) || !kc)
            continue;
        member *m = &fl->m[fl->n++];
        size_t nl = strcspn(line + 8, " ");
        snprintf(m->name, sizeof m->name, "%.*s", (int)nl, line + 8);
        snprintf(m->kubeconfig, sizeof m->kubeconfig, "%.*s", (int)strcspn(kc + 11, "\n"), kc + 11);
    }
    if (f)
        fclose(f);
    return fl->n == c->clusters ? 0 : -1;
}

static void stop_sim(fleet *fl)
{
    if (fl->sim <= 0)
        return;
    kill(fl->sim, SIGTERM);
    waitpid(fl->sim, NULL, 0);
    fl->sim = 0;
}

/* Items the sim serves for path (remainingItemCount + items of a limit=1
 * page); name gets the first item's name when given. */
static int64_t served(fl_kube_conn *conn, const char *path, char *name, size_t n)
{
    fl_kube_response res;
    json_t *doc = NULL;
    int64_t total = -1;
    if (fl_kube_get_sync(conn, path, 60000, &res, NULL) == 0 &&
        fl_json_parse(res.body.data, res.body.len, &doc, NULL) == 0) {
        json_t *items = json_object_get(doc, "items");
        json_t *rem = json_object_get(json_object_get(doc, "metadata"), "remainingItemCount");
        total = (int64_t)json_array_size(items) + (rem ? json_integer_value(rem) : 0);
        if (name && json_array_size(items))
            snprintf(name, n, "%s", fl_obj_str(json_array_get(items, 0), "metadata.name"));
    }
    json_decref(doc);
    fl_kube_response_done(&res);
    return total;
}

static int read_ctl(fleet *fl)
{
    char path[600];
    snprintf(path, sizeof path, "%s/sim-control.json", fl->dir);
    json_t *j = json_load_file(path, 0, NULL);
    const char *u = fl_obj_str(j, "url"), *t = fl_obj_str(j, "token");
    if (u && t) {
        snprintf(fl->ctl_url, sizeof fl->ctl_url, "%s", u);
        snprintf(fl->ctl_token, sizeof fl->ctl_token, "%s", t);
    }
    json_decref(j);
    return u && t ? 0 : -1;
}

static int connect_members(fleet *fl)
{
    fl->objects = 0;
    for (long i = 0; i < fl->n; i++) {
        member *m = &fl->m[i];
        fl_err err = FL_ERR_INIT;
        if (fl_kube_conn_load(m->kubeconfig, NULL, &m->conn, &err) != 0) {
            fprintf(stderr, "%s: %s\n", m->kubeconfig, err.msg);
            return -1;
        }
        m->pods = served(m->conn, "/api/v1/pods?limit=1", NULL, 0);
        m->nodes = served(m->conn, "/api/v1/nodes?limit=1", m->node, sizeof m->node);
        if (m->pods < 0 || m->nodes < 0)
            return -1;
        fl->objects += m->pods + m->nodes;
    }
    return read_ctl(fl);
}

static void set_churn(fleet *fl, long rate)
{
    fl_kube_conn_info info = FL_KUBE_CONN_INFO_INIT;
    fl_kube_conn *conn = NULL;
    info.server = fl->ctl_url;
    info.token = fl->ctl_token;
    if (fl_kube_conn_new(&info, &conn, NULL) != 0)
        return;
    for (long i = 0; i < fl->n; i++) {
        char path[256];
        fl_kube_response res;
        fl_kube_request rq = FL_KUBE_REQUEST_INIT;
        snprintf(path, sizeof path, "/v1/clusters/%s/faults/churn?arg=%ld", fl->m[i].name, rate);
        rq.method = FL_KUBE_POST;
        rq.path = path;
        if (fl_kube_request_sync(conn, &rq, NULL, &res, NULL) != 0)
            fprintf(stderr, "churn %s: %s\n", fl->m[i].name, res.message);
        fl_kube_response_done(&res);
    }
    fl_kube_conn_unref(conn);
}

/* ------------------------------------------------------- initial sync */

static int64_t index_count(fl_index *idx, const char *resource)
{
    fl_index_reader *rd = NULL;
    int64_t n = -1;
    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = "";
    q.resource = resource;
    if (fl_index_reader_new(idx, &rd, NULL) == 0)
        fl_index_count(rd, &q, &n, NULL);
    fl_index_reader_free(rd);
    return n;
}

static fl_collector *start_collector(fleet *fl, fl_index *idx)
{
    static const char *const core[] = {"nodes", "pods"};
    fl_collector_gv gv = {"", "v1", core, 2};
    fl_collector_member mem[MAX_CLUSTERS];
    for (long i = 0; i < fl->n; i++)
        mem[i] = (fl_collector_member){fl->m[i].name, fl->m[i].kubeconfig, NULL};
    fl_collector_opts co = FL_COLLECTOR_OPTS_INIT;
    co.index = idx;
    co.members = mem;
    co.nmembers = (size_t)fl->n;
    co.resources = &gv;
    co.nresources = 1;
    fl_collector *c = NULL;
    fl_err err = FL_ERR_INIT;
    if (fl_collector_new(&co, &c, &err) || fl_collector_start(c, &err)) {
        fprintf(stderr, "collector: %s\n", err.msg);
        fl_collector_free(c);
        return NULL;
    }
    return c;
}

/* Wait until every object is in the index; seconds, or -1. */
static double initial_sync(fleet *fl, fl_index *idx, fl_collector *c, int64_t t0)
{
    while (secs_since(t0) < 7200) {
        if (fl_collector_ready(c, NULL, 0)) {
            fl_index_flush(idx, 600000);
            double t = secs_since(t0);
            int64_t have = index_count(idx, "pods") + index_count(idx, "nodes");
            if (have >= fl->objects)
                return t;
        }
        usleep(100000);
    }
    return -1;
}

/* ------------------------------------------------------------- churn */

static int copy_rv(void *arg, const fl_index_row *row)
{
    snprintf(arg, 64, "%s", row->resource_version);
    return 0;
}

/* PATCH a label on member i's first node, then poll the index until that
 * resourceVersion is visible: the lag in ms, or -1. */
static int64_t probe(fleet *fl, fl_index_reader *rd, long i, int64_t seq)
{
    member *m = &fl->m[i];
    char path[512], body[128], want[64] = "", have[64];
    fl_kube_response res;
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    snprintf(path, sizeof path, "/api/v1/nodes/%s", m->node);
    snprintf(body, sizeof body, "{\"metadata\":{\"labels\":{\"bench-probe\":\"%lld\"}}}",
             (long long)seq);
    rq.method = FL_KUBE_PATCH;
    rq.path = path;
    rq.content_type = "application/merge-patch+json";
    rq.body = body;
    rq.body_len = strlen(body);
    int64_t t0 = fl_mono_ms();
    int rc = fl_kube_request_sync(m->conn, &rq, NULL, &res, NULL);
    json_t *doc = NULL;
    if (rc == 0 && fl_json_parse(res.body.data, res.body.len, &doc, NULL) == 0)
        snprintf(want, sizeof want, "%s", fl_obj_str(doc, "metadata.resourceVersion"));
    json_decref(doc);
    fl_kube_response_done(&res);
    if (!want[0])
        return -1;
    fl_index_key k = {m->name, "", "v1", "nodes", "", m->node};
    while (fl_mono_ms() - t0 < 60000) {
        have[0] = 0;
        fl_index_get(rd, &k, copy_rv, have, NULL);
        if (!strcmp(have, want))
            return fl_mono_ms() - t0;
        usleep(1000);
    }
    return -1;
}

static int64_t applied(fl_index *idx)
{
    fl_index_stats s;
    fl_index_stats_get(idx, &s);
    return s.objects_written + s.objects_deleted + s.objects_skipped + s.coalesced;
}

static int64_t full_answers(fl_index *idx)
{
    fl_index_stats s;
    fl_index_stats_get(idx, &s);
    return s.full;
}

/* One churn step at rate per member for seconds: applied events/s and the
 * probe lags. */
static void churn_step(fleet *fl, fl_index *idx, long rate, long seconds, bool *bounded)
{
    fl_index_reader *rd = NULL;
    int64_t lags[4096];
    size_t nl = 0, lost = 0;
    if (fl_index_reader_new(idx, &rd, NULL) != 0)
        return;
    set_churn(fl, rate);
    usleep(1000000); /* let the rate settle */
    int64_t a0 = applied(idx), f0 = full_answers(idx), t0 = fl_mono_ms();
    for (int64_t seq = 0; secs_since(t0) < (double)seconds && nl < 4096; seq++) {
        int64_t lag = probe(fl, rd, (long)(seq % fl->n), seq + rate * 100000);
        if (lag < 0)
            lost++;
        else
            lags[nl++] = lag;
        usleep(100000);
    }
    double el = secs_since(t0);
    int64_t a1 = applied(idx);
    set_churn(fl, 0);
    fl_index_reader_free(rd);
    qsort(lags, nl, sizeof *lags, cmp_i64);
    int64_t p50 = nl ? lags[nl / 2] : -1, p99 = nl ? lags[(nl * 99) / 100] : -1;
    int64_t mx = nl ? lags[nl - 1] : -1;
    printf("  churn %5ld/s/cluster  offered %7ld ev/s  applied %8.0f ev/s  lag p50 %5lld ms"
           "  p99 %6lld ms  max %6lld ms  (%zu probes, %zu lost; %lld FL_EFULL)\n",
           rate, rate * fl->n, (double)(a1 - a0) / el, (long long)p50, (long long)p99,
           (long long)mx, nl, lost, (long long)(full_answers(idx) - f0));
    fflush(stdout);
    *bounded = lost == 0 && mx >= 0 && mx < 5000;
}

/* ----------------------------------------------------------- raw limits */

/* Every page of path on member 0 (limit 500). Returns pages stored. */
static size_t fetch_pages(fl_kube_conn *conn, const char *res, fl_buf *pages, size_t max)
{
    char path[1024], cont[4096] = "";
    size_t n = 0;
    while (n < max) {
        fl_kube_response r;
        fl_buf esc = FL_BUF_INIT(8192);
        for (const char *p = cont; *p; p++)
            fl_buf_printf(&esc,
                          (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                  (*p >= '0' && *p <= '9')
                              ? "%c"
                              : "%%%02X",
                          (unsigned char)*p);
        snprintf(path, sizeof path, "/api/v1/%s?limit=500%s%s", res, cont[0] ? "&continue=" : "",
                 esc.data ? esc.data : "");
        fl_buf_done(&esc);
        int rc = fl_kube_get_sync(conn, path, 120000, &r, NULL);
        json_t *doc = NULL;
        if (rc == 0 && fl_json_parse(r.body.data, r.body.len, &doc, NULL) == 0) {
            const char *c = fl_obj_str(doc, "metadata.continue");
            snprintf(cont, sizeof cont, "%s", c ? c : "");
            pages[n++] = r.body;
            r.body = (fl_buf)FL_BUF_INIT(0);
        } else {
            cont[0] = 0;
        }
        json_decref(doc);
        fl_kube_response_done(&r);
        if (!cont[0])
            break;
    }
    return n;
}

/* The index alone: the same pages submitted directly as n clusters. */
static double raw_ingest(fl_buf *pages, size_t np, size_t npods, long n, const char *db)
{
    fl_index *idx = NULL;
    if (open_index(db, &idx))
        return -1;
    int64_t t0 = fl_mono_ms();
    for (long c = 0; c < n; c++) {
        char name[32];
        snprintf(name, sizeof name, "raw-%ld", c);
        for (size_t i = 0; i < np; i++) {
            fl_index_src src = {name, "", "v1", i < npods ? "pods" : "nodes",
                                i < npods ? "Pod" : "Node"};
            if (i == 0 || i == npods)
                fl_index_relist_begin(idx, &src, NULL);
            while (fl_index_submit_list(idx, &src, pages[i].data, pages[i].len, NULL) == FL_EFULL)
                usleep(500);
            if (i + 1 == npods || i + 1 == np)
                fl_index_relist_end(idx, &src, "1", NULL);
        }
    }
    fl_index_flush(idx, 3600000);
    double t = secs_since(t0);
    fl_index_close(idx);
    return t;
}

/* jansson on the same bytes, one core: seconds for `rounds` passes. */
static double raw_parse(fl_buf *pages, size_t np, long rounds)
{
    int64_t t0 = fl_mono_ms();
    for (long c = 0; c < rounds; c++)
        for (size_t i = 0; i < np; i++)
            json_decref(json_loadb(pages[i].data, pages[i].len, 0, NULL));
    return secs_since(t0);
}

/* The index applying MODIFIED events, each a different object (the pods
 * of member 0's pages, under a new cluster name every round, so that no
 * two events coalesce): events/s, or -1. */
static double raw_events(fl_buf *pages, size_t npods, long nevents, const char *db)
{
    json_t *all = json_array();
    for (size_t p = 0; p < npods; p++) {
        json_t *list = json_loadb(pages[p].data, pages[p].len, 0, NULL);
        json_array_extend(all, json_object_get(list, "items"));
        json_decref(list);
    }
    size_t ni = json_array_size(all);
    char **lines = calloc((size_t)nevents, sizeof *lines);
    fl_index *idx = NULL;
    double rate = -1;
    if (!ni || !lines || open_index(db, &idx))
        goto out;
    for (long e = 0; e < nevents; e++) {
        json_t *obj = json_array_get(all, (size_t)e % ni);
        char rv[32];
        snprintf(rv, sizeof rv, "%ld", 1000000 + e);
        json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string(rv));
        json_t *ev = json_pack("{s:s, s:O}", "type", "MODIFIED", "object", obj);
        lines[e] = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
    }
    int64_t t0 = fl_mono_ms();
    for (long e = 0; e < nevents; e++) {
        char name[32];
        snprintf(name, sizeof name, "raw-ev-%zu", (size_t)e / ni);
        fl_index_src src = {name, "", "v1", "pods", "Pod"};
        while (lines[e] &&
               fl_index_submit_event(idx, &src, lines[e], strlen(lines[e]), NULL) == FL_EFULL)
            usleep(200);
    }
    fl_index_flush(idx, 600000);
    rate = (double)nevents / secs_since(t0);
out:
    fl_index_close(idx);
    for (long e = 0; lines && e < nevents; e++)
        free(lines[e]);
    free(lines);
    json_decref(all);
    return rate;
}

static void raw_limits(fleet *fl, const char *dir, double sync_rate, double *ev_rate)
{
    size_t maxp = (size_t)((fl->m[0].pods + fl->m[0].nodes) / 500 + 4);
    fl_buf *pages = calloc(maxp, sizeof *pages);
    char db[600];
    if (!pages)
        return;
    size_t npods = fetch_pages(fl->m[0].conn, "pods", pages, maxp);
    size_t np = npods + fetch_pages(fl->m[0].conn, "nodes", pages + npods, maxp - npods);
    size_t bytes = 0;
    for (size_t i = 0; i < np; i++)
        bytes += pages[i].len;
    int64_t per = fl->m[0].pods + fl->m[0].nodes;
    long rounds = fl->n < 10 ? fl->n : 10;
    double tp = raw_parse(pages, np, rounds);
    snprintf(db, sizeof db, "%s/raw.db", dir);
    long nraw = fl->n < RAW_CLUSTERS_MAX ? fl->n : RAW_CLUSTERS_MAX;
    double ti = raw_ingest(pages, np, npods, nraw, db);
    double ir = (double)(per * nraw) / ti;
    printf("  list JSON: %.0f bytes/object (%zu pages of cluster %s)\n",
           (double)bytes / (double)per, np, fl->m[0].name);
    printf("  raw: jansson parse      %9.0f objects/s  (one core, %ld clusters' worth)\n",
           (double)(per * rounds) / tp, rounds);
    printf("  raw: index list ingest  %9.0f objects/s  %8.1f s  (same pages as %ld clusters, no "
           "HTTP)\n",
           ir, ti, nraw);
    printf("  initial sync / raw ingest = %.0f%%\n", 100.0 * sync_rate / ir);
    snprintf(db, sizeof db, "%s/raw-events.db", dir);
    *ev_rate = npods ? raw_events(pages, npods, 100000, db) : -1;
    printf("  raw: index event ingest %9.0f events/s   (MODIFIED lines, each a different "
           "object, no HTTP)\n",
           *ev_rate);
    for (size_t i = 0; i < np; i++)
        fl_buf_done(&pages[i]);
    free(pages);
}

/* ----------------------------------------------------------------- main */

static int parse_args(int argc, char **argv, cfg *c)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *slot = NULL;
        if (!strcmp(a, "--scale")) {
            c->scale = true;
            c->nodes = 5000;
            c->pods = 20000;
            continue;
        }
        if (!strcmp(a, "--dir") && i + 1 < argc) {
            c->dir = argv[++i];
            continue;
        }
        if (!strcmp(a, "--clusters"))
            slot = &c->clusters;
        else if (!strcmp(a, "--nodes"))
            slot = &c->nodes;
        else if (!strcmp(a, "--pods"))
            slot = &c->pods;
        else if (!strcmp(a, "--churn-seconds"))
            slot = &c->churn_s;
        int64_t v;
        if (!slot || i + 1 >= argc || fl_parse_i64(argv[i + 1], strlen(argv[i + 1]), &v) || v < 0)
            return -1;
        *slot = (long)v;
        i++;
    }
    return c->clusters < 1 || c->clusters > MAX_CLUSTERS || c->nodes < 1 ? -1 : 0;
}

/* Refuse when the disk cannot hold two databases of this size. */
static int check_disk(const cfg *c)
{
    struct statvfs sv;
    double objects = (double)c->clusters * (double)(c->nodes + c->pods);
    double need = objects * DB_BYTES_PER_OBJECT_EST * 1.5; /* collector DB + raw DB + WAL */
    if (statvfs(c->dir, &sv) != 0) {
        fprintf(stderr, "bench_collector: %s: %s\n", c->dir, strerror(errno));
        return -1;
    }
    double have = (double)sv.f_bavail * (double)sv.f_frsize;
    if (have < need) {
        fprintf(stderr,
                "bench_collector: %.0f objects need about %.1f GB free in %s; only %.1f GB "
                "free. Refusing (free space or pass --dir on a bigger disk).\n",
                objects, need / 1e9, c->dir, have / 1e9);
        return -1;
    }
    return 0;
}

static void run(fleet *fl, const cfg *c, const char *dir)
{
    char db[600];
    int64_t t0 = fl_mono_ms();
    if (start_sim(fl, c) || connect_members(fl)) {
        fprintf(stderr, "bench_collector: the sim did not come up\n");
        return;
    }
    printf("bench_collector: %ld clusters x (%ld nodes + %ld pods) = %lld objects "
           "(sim up in %.1f s)\n",
           fl->n, c->nodes, c->pods, (long long)fl->objects, secs_since(t0));
    fflush(stdout);
    snprintf(db, sizeof db, "%s/collector.db", dir);
    fl_index *idx = NULL;
    if (open_index(db, &idx))
        return;
    t0 = fl_mono_ms();
    fl_collector *col = start_collector(fl, idx);
    double ts = col ? initial_sync(fl, idx, col, t0) : -1;
    long rss = self_peak_rss_mb();
    double rate = ts > 0 ? (double)fl->objects / ts : 0;
    printf("  initial sync            %9.0f objects/s  %8.1f s  peak RSS %ld MB (collector + "
           "index; the sim: %ld MB)\n",
           rate, ts, rss, proc_peak_rss_mb(fl->sim));
    fl_index_stats st;
    fl_index_stats_get(idx, &st);
    printf("  decoded in place (kube/jscan) %lld, by jansson %lld\n",
           (long long)(st.objects_written + st.objects_skipped - st.objects_parsed),
           (long long)st.objects_parsed);
    fflush(stdout);
    /* per cluster and second; 250 is the 5,000 events/s at 20 clusters */
    static const long rates[] = {1, 5, 10, 50, 100, 200, 250};
    bool bounded = true;
    for (size_t i = 0; col && ts > 0 && c->churn_s > 0 && bounded && i < FL_ARRAY_LEN(rates); i++)
        churn_step(fl, idx, rates[i], c->churn_s, &bounded);
    printf("  peak RSS after churn %ld MB\n", self_peak_rss_mb());
    fl_collector_free(col);
    fl_index_flush(idx, 600000);
    int64_t objs = index_count(idx, "pods") + index_count(idx, "nodes");
    fl_index_close(idx);
    printf("  DB %.0f bytes/object (%lld objects, %.2f GB)\n",
           (double)db_bytes(db) / (double)(objs > 0 ? objs : 1), (long long)objs,
           (double)db_bytes(db) / 1e9);
    double ev = 0;
    raw_limits(fl, dir, rate, &ev);
}

int main(int argc, char **argv)
{
    cfg c = {100, 200, 10000, 10, false, "/tmp"};
    if (parse_args(argc, argv, &c)) {
        fprintf(stderr, "usage: bench_collector [--clusters N (100)] [--nodes N (200)] "
                        "[--pods N (10000)] [--churn-seconds S (10)] [--scale] [--dir DIR]\n");
        return 2;
    }
    if (check_disk(&c))
        return 1;
    signal(SIGPIPE, SIG_IGN);
    fl_log_set_level(FL_LOG_ERROR);
    static fleet fl;
    snprintf(fl.dir, sizeof fl.dir, "%s/fl-bench-collector-XXXXXX", c.dir);
    if (!mkdtemp(fl.dir))
        return 1;
    run(&fl, &c, fl.dir);
    for (long i = 0; i < fl.n; i++)
        fl_kube_conn_unref(fl.m[i].conn);
    stop_sim(&fl);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fl.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fl.dir);
    return 0;
}
