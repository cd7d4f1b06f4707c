/*
 * bench/bench_query.c: the search API (query/) over a synthetic fleet, each
 * figure beside its raw SQLite equivalent on the same database in the same
 * run (issue #7): GET by name p50/p99 over HTTP, a label-selector page of
 * 100 p50/p99, a full kubectl-style paginated list (limit=500 + continue),
 * and get-by-name requests/s with wrk (64 connections) beside wrk on
 * /healthz (the HTTP floor). Prints figures; never passes or fails.
 *
 * Usage: bench_query [--pods N (default 100000)] [--clusters C (default 10)]
 *                    [--wrk-seconds S (default 5; 0 skips wrk)]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "index/index.h"
#include "query/query.h"
#include "server/server.h"

#define NS_COUNT 50
#define APP_COUNT 100
#define SAMPLES 2000

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

static void report(const char *what, int64_t *s, int n, const char *raw_what, int64_t *r, int rn)
{
    qsort(s, (size_t)n, sizeof *s, cmp_i64);
    qsort(r, (size_t)rn, sizeof *r, cmp_i64);
    printf("%-34s p50 %8.1f us  p99 %8.1f us   | raw %-26s p50 %7.1f us  p99 %7.1f us\n", what,
           s[n / 2] / 1e3, s[n * 99 / 100] / 1e3, raw_what, r[rn / 2] / 1e3,
           r[rn * 99 / 100] / 1e3);
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
                fl_buf_printf(&b, "%s{\"metadata\":{\"name\":\"pod-%06d\",\"namespace\":\"ns-%d\","
                              "\"uid\":\"u-%d-%d\",\"resourceVersion\":\"%d\",\"creationTimestamp\":"
                              "\"2026-01-01T00:00:00Z\",\"labels\":{\"app\":\"app-%d\",\"tier\":"
                              "\"web\",\"idx\":\"%d\"}},\"spec\":{\"nodeName\":\"node-%d\","
                              "\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1.25\",\"resources\":"
                              "{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]},\"status\":"
                              "{\"phase\":\"Running\",\"podIP\":\"10.0.%d.%d\"}}",
                              k > i ? "," : "", k, k % NS_COUNT, c, k, k + 1, k % APP_COUNT, k,
                              k % 20, (k / 250) % 250, k % 250);
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
    fl_buf body;
} conn;

static int conn_open(conn *c, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fl_buf_init(&c->body, 256u << 20);
    return connect(c->fd, (struct sockaddr *)&a, sizeof a);
}

/* GET path; the body lands in c->body. Returns the status or -1. */
static int http_get(conn *c, const char *path)
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

/* ---- raw SQLite ---------------------------------------------------------------- */

static int64_t raw_time(sqlite3_stmt *st)
{
    int64_t t0 = now_ns();
    size_t bytes = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        bytes += (size_t)sqlite3_column_bytes(st, 0);
    sqlite3_reset(st);
    return bytes ? now_ns() - t0 : now_ns() - t0;
}

static void bench_get(conn *c, sqlite3 *db, int per, int clusters)
{
    int64_t *s = calloc(SAMPLES, sizeof *s), *r = calloc(SAMPLES, sizeof *r);
    char path[512];
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, "SELECT o.json FROM objects o JOIN clusters c ON c.id = o.cluster_id "
                           "WHERE o.gvr_id = (SELECT id FROM gvrs WHERE res = 'pods') AND o.ns = ?1"
                           " AND o.name = ?2 AND c.name = ?3 AND o.deleted_ms IS NULL", -1, &st, NULL);
    for (int i = 0; i < SAMPLES; i++) {
        int k = rand() % per, cl = rand() % clusters;
        char ns[16], name[32], cn[16];
        snprintf(ns, sizeof ns, "ns-%d", k % NS_COUNT);
        snprintf(name, sizeof name, "pod-%06d", k);
        snprintf(cn, sizeof cn, "c-%d", cl);
        snprintf(path, sizeof path, "%s/clusters/%s/api/v1/namespaces/%s/pods/%s", FL_QUERY_PREFIX,
                 cn, ns, name);
        int64_t t0 = now_ns();
        int code = http_get(c, path);
        s[i] = now_ns() - t0;
        if (code != 200)
            fprintf(stderr, "GET %s: %d\n", path, code);
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, cn, -1, SQLITE_TRANSIENT);
        r[i] = raw_time(st);
    }
    report("GET by name (HTTP)", s, SAMPLES, "point lookup", r, SAMPLES);
    sqlite3_finalize(st);
    free(s);
    free(r);
}

static void bench_labels(conn *c, sqlite3 *db)
{
    int64_t *s = calloc(SAMPLES, sizeof *s), *r = calloc(SAMPLES, sizeof *r);
    char path[512], app[32];
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, "SELECT o.json FROM labels l JOIN objects o ON o.id = l.obj_id "
                           "WHERE l.key = 'app' AND l.value = ?1 AND o.gvr_id = (SELECT id FROM gvrs"
                           " WHERE res = 'pods') AND o.deleted_ms IS NULL LIMIT 100", -1, &st, NULL);
    for (int i = 0; i < SAMPLES; i++) {
        snprintf(app, sizeof app, "app-%d", rand() % APP_COUNT);
        snprintf(path, sizeof path, "%s/api/v1/pods?limit=100&labelSelector=app%%3D%s",
                 FL_QUERY_PREFIX, app);
        int64_t t0 = now_ns();
        http_get(c, path);
        s[i] = now_ns() - t0;
        sqlite3_bind_text(st, 1, app, -1, SQLITE_TRANSIENT);
        r[i] = raw_time(st);
    }
    report("label page of 100 (HTTP)", s, SAMPLES, "labels join LIMIT 100", r, SAMPLES);
    printf("  (the raw query is unordered; the API pages in key order, so it sorts every match)\n");
    sqlite3_finalize(st);
    free(s);
    free(r);
}

static void bench_full(conn *c, sqlite3 *db, int pods)
{
    char path[4096], cont[2048] = "";
    int64_t n = 0, pages = 0, t0 = now_ns();
    for (;;) {
        snprintf(path, sizeof path, "%s/api/v1/pods?limit=500%s%s", FL_QUERY_PREFIX,
                 cont[0] ? "&continue=" : "", cont);
        if (http_get(c, path) != 200)
            break;
        pages++;
        for (const char *p = c->body.data; (p = strstr(p, "\"kind\":\"Pod\"")); p++)
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
    sqlite3_prepare_v2(db, "SELECT json, ns, name, cluster_id FROM objects WHERE gvr_id = (SELECT id"
                           " FROM gvrs WHERE res = 'pods') AND deleted_ms IS NULL AND (ns, name, "
                           "cluster_id) > (?1, ?2, ?3) ORDER BY ns, name, cluster_id LIMIT 500", -1,
                       &st, NULL);
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
    } while (rows == 500);
    double raw_s = (double)(now_ns() - t0) / 1e9;
    sqlite3_finalize(st);
    printf("%-34s %lld objects (of %d) in %lld pages, %.2f s = %.0f objects/s | raw keyset "
           "%lld rows in %.2f s = %.0f rows/s\n", "full list limit=500 (HTTP)", (long long)n,
           pods, (long long)pages, api_s, n / api_s, (long long)raw, raw_s, raw / raw_s);
}

static void run_wrk(uint16_t port, int secs)
{
    char cmd[1024];
    if (secs <= 0 || system("command -v wrk >/dev/null 2>&1") != 0) {
        printf("wrk: skipped\n");
        return;
    }
    const char *urls[2][2] = {{"GET by name", FL_QUERY_PREFIX
                               "/clusters/c-1/api/v1/namespaces/ns-7/pods/pod-000007"},
                              {"raw: /healthz (HTTP floor)", "/healthz"}};
    for (int i = 0; i < 2; i++) {
        printf("wrk -t2 -c64 -d%ds, %s:\n", secs, urls[i][0]);
        fflush(stdout);
        snprintf(cmd, sizeof cmd, "wrk -t2 -c64 -d%ds 'http://127.0.0.1:%u%s' | "
                 "grep -E 'Requests/sec|Latency|Non-2xx'", secs, port, urls[i][1]);
        if (system(cmd) != 0)
            printf("  (wrk failed)\n");
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

int main(int argc, char **argv)
{
    int pods = arg_int(argc, argv, "--pods", 100000), clusters = arg_int(argc, argv, "--clusters", 10);
    int wrk_s = arg_int(argc, argv, "--wrk-seconds", 5);
    char dir[] = "/tmp/flotilla-bench-query-XXXXXX", path[128];
    if (!mkdtemp(dir) || clusters < 1 || pods < clusters)
        return 1;
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_index *idx = NULL;
    fl_query *q = NULL;
    fl_server *srv = NULL;
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    fl_query_opts qo = FL_QUERY_OPTS_INIT;
    sqlite3 *db = NULL;
    conn c;
    io.path = path;
    fl_log_set_level(FL_LOG_WARN);
    if (fl_index_open(&io, &idx, NULL) != 0)
        return 1;
    int64_t t0 = now_ns();
    if (load(idx, pods, clusters) != 0)
        return 1;
    printf("dataset: %d pods in %d clusters, loaded in %.1f s\n", pods / clusters * clusters,
           clusters, (double)(now_ns() - t0) / 1e9);
    const char *pods_res[] = {"pods"};
    fl_query_gv gv = {"", "v1", pods_res, 1};
    qo.index = idx;
    qo.gvs = &gv;
    qo.ngvs = 1;
    qo.anonymous_loopback = true;
    so.access_log = false;
    if (fl_query_new(&qo, &q, NULL) || fl_server_new(&so, &srv, NULL) || fl_query_route(q, srv) ||
        fl_server_route_health(srv) || fl_server_start(srv, NULL) ||
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        conn_open(&c, fl_server_port(srv)) != 0)
        return 1;
    srand(1);
    bench_get(&c, db, pods / clusters, clusters);
    bench_labels(&c, db);
    bench_full(&c, db, pods);
    close(c.fd);
    fl_buf_done(&c.body);
    run_wrk(fl_server_port(srv), wrk_s);
    sqlite3_close(db);
    fl_server_free(srv);
    fl_query_free(q);
    fl_index_close(idx);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    return system(path) == 0 ? 0 : 1;
}
