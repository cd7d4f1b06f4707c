/*
 * bench/bench_sql.c: the SQL-like language (query/sql_*.c, index/sql.c)
 * over a synthetic fleet (1M pods in 100 clusters by default,
 * 20 nodes per cluster, a quarter of them NotReady), each query beside a
 * hand-written SQLite statement for the same answer on the same database
 * in the same run. The language path timed is the whole of it except HTTP:
 * parse, compile (admin scope), run on an index reader under the
 * authorizer and budget. Queries: label + phase filter page of 50 (p50/p99
 * over random apps), count(*) GROUP BY cluster, sum(requests.cpu) GROUP BY
 * cluster, namespace, MATCH page of 50 (p50/p99), pods<->nodes join for one
 * cluster (p50/p99). Prints figures and the load average; never passes or
 * fails.
 *
 * Usage: bench_sql [--pods N (default 1000000)] [--clusters C (default 100)]
 *                  [--samples K (default 200)] [--explain] [--keep DIR]
 * --keep DIR: load into DIR/index.db (a new DIR) and leave it there, to try
 * other statements on the same file with the sqlite3 shell.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "bench/bench.h"
#include "index/index.h"
#include "query/sql_int.h"

#define NS_COUNT 50
#define APP_COUNT 100
#define NODES 20

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

static int submit(fl_index *idx, const fl_index_src *src, fl_buf *b)
{
    int rc;
    while ((rc = fl_index_submit_list(idx, src, b->data, b->len, NULL)) == FL_EFULL)
        usleep(1000);
    return rc;
}

static int load(fl_index *idx, int pods, int clusters)
{
    char cname[32];
    fl_buf b = FL_BUF_INIT(64u << 20);
    int per = pods / clusters, rc = 0;
    for (int c = 0; c < clusters && rc == 0; c++) {
        snprintf(cname, sizeof cname, "c-%d", c);
        fl_index_src nsrc = {cname, "", "v1", "nodes", "Node"};
        fl_buf_reset(&b);
        fl_buf_puts(&b, "{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":"
                        "{\"resourceVersion\":\"1\"},\"items\":[");
        for (int n = 0; n < NODES; n++)
            fl_buf_printf(&b,
                          "%s{\"metadata\":{\"name\":\"node-%d\",\"uid\":\"n-%d-%d\","
                          "\"resourceVersion\":\"1\",\"labels\":{\"topology.kubernetes.io/zone\":"
                          "\"z-%d\"}},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":"
                          "\"%s\"}],\"allocatable\":{\"cpu\":\"16\",\"memory\":\"64Gi\"},"
                          "\"capacity\":{\"cpu\":\"16\",\"memory\":\"64Gi\"}}}",
                          n ? "," : "", n, c, n, n % 3, n % 4 == 0 ? "False" : "True");
        fl_buf_puts(&b, "]}");
        if ((rc = submit(idx, &nsrc, &b)) != 0)
            break;
        fl_index_src src = {cname, "", "v1", "pods", "Pod"};
        for (int i = 0; i < per && rc == 0; i += 500) {
            fl_buf_reset(&b);
            fl_buf_puts(&b, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":"
                            "{\"resourceVersion\":\"1\"},\"items\":[");
            for (int k = i; k < i + 500 && k < per; k++)
                fl_buf_printf(
                    &b,
                    "%s{\"metadata\":{\"name\":\"pod-%06d\",\"namespace\":\"ns-%d\","
                    "\"uid\":\"u-%d-%d\",\"resourceVersion\":\"%d\",\"creationTimestamp\":"
                    "\"2026-01-01T00:%02d:%02dZ\",\"labels\":{\"app\":\"app-%d\",\"tier\":"
                    "\"web\"}},\"spec\":{\"nodeName\":\"node-%d\","
                    "\"containers\":[{\"name\":\"c\",\"image\":\"img-%d:1.%d\",\"resources\":"
                    "{\"requests\":{\"cpu\":\"%dm\",\"memory\":\"64Mi\"}}}]},\"status\":"
                    "{\"phase\":\"%s\"}}",
                    k > i ? "," : "", k, k % NS_COUNT, c, k, k + 1, (k / 60) % 60, k % 60,
                    k % APP_COUNT, k % NODES, k % 1000, k % 7, 100 + k % 5,
                    k % 3 == 0 ? "Pending" : "Running");
            fl_buf_puts(&b, "]}");
            rc = submit(idx, &src, &b);
        }
    }
    fl_buf_done(&b);
    return rc ? rc : fl_index_flush(idx, 3600000);
}

/* ---- the two paths ------------------------------------------------------ */

typedef struct runner {
    fl_kube_resources *reg;
    fl_index_reader *rd;
    sqlite3 *db;
    int64_t rows;
    bool explain;     /* print this run's statements and plans */
    bool explain_all; /* --explain: print each query's statements and plans once */
} runner;

static int print_plan(void *arg, const fl_index_sql_value *cols, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n; i++)
        if (cols[i].s)
            printf("    %s\n", cols[i].s);
    return 0;
}

/* Print the hand-written statement and its EXPLAIN QUERY PLAN. */
static void explain_raw(sqlite3 *db, const char *sql)
{
    char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st = NULL;
    printf("  hand-written: %s\n", sql);
    if (q && sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            printf("    %s\n", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    sqlite3_free(q);
}

static int count_row(void *arg, const fl_index_sql_value *cols, size_t n)
{
    (void)cols;
    (void)n;
    ((runner *)arg)->rows++;
    return 0;
}

/* The language: parse, compile, run. Returns ns, -1 on error. */
static int64_t lang(runner *r, const char *text)
{
    int64_t t0 = now_ns();
    sql_query *q = NULL;
    sql_compiled c;
    fl_err err = FL_ERR_INIT;
    sql_scope admin = {true, true, NULL, 0};
    fl_index_sql_opts o = {600000, 1000000, false};
    fl_index_sql_result res;
    r->rows = 0;
    if (sql_parse(text, strlen(text), &q, &err) ||
        sql_compile(q, r->reg, &admin, NULL, 0, &c, &err)) {
        fprintf(stderr, "bench_sql: %s: %s\n", text, err.msg);
        sql_query_free(q);
        return -1;
    }
    int rc = fl_index_sql_run(r->rd, c.sql.data, c.params, c.nparams, &o, count_row, r, &res, &err);
    int64_t dt = now_ns() - t0;
    if (r->explain && rc == 0) {
        fl_index_sql_opts po = o;
        po.plan = true;
        printf("  language: %s\n  compiled: %s\n", text, c.sql.data);
        fl_index_sql_run(r->rd, c.sql.data, c.params, c.nparams, &po, print_plan, NULL, &res, &err);
    }
    if (rc)
        fprintf(stderr, "bench_sql: %s: %s\n", text, err.msg);
    sql_compiled_done(&c);
    sql_query_free(q);
    return rc ? -1 : dt;
}

/* Hand-written SQLite (prepared each time, as the language prepares). */
static int64_t raw(runner *r, const char *sql)
{
    int64_t t0 = now_ns();
    sqlite3_stmt *st = NULL;
    r->rows = 0;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_sql: raw: %s: %s\n", sql, sqlite3_errmsg(r->db));
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        r->rows++;
    sqlite3_finalize(st);
    int64_t dt = now_ns() - t0;
    if (r->explain)
        explain_raw(r->db, sql);
    return dt;
}

static void report(const char *what, int64_t *a, int64_t *b, int n, int64_t ra, int64_t rb,
                   const char *target)
{
    qsort(a, (size_t)n, sizeof *a, cmp_i64);
    qsort(b, (size_t)n, sizeof *b, cmp_i64);
    int p99 = n * 99 / 100 >= n ? n - 1 : n * 99 / 100;
    double la50 = a[n / 2] / 1e6, la99 = a[p99] / 1e6, lb50 = b[n / 2] / 1e6, lb99 = b[p99] / 1e6;
    printf("%-44s language p50 %8.2f ms p99 %8.2f ms | hand-written p50 %8.2f ms p99 %8.2f ms |"
           " ratio p50 %.2f | rows %lld/%lld | target %s\n",
           what, la50, la99, lb50, lb99, lb50 > 0 ? la50 / lb50 : 0, (long long)ra, (long long)rb,
           target);
    fflush(stdout);
}

typedef void (*mkq)(char *lang_q, char *raw_q, size_t n, int i, int clusters);

static void q_label(char *l, char *r, size_t n, int i, int clusters)
{
    int app = rand() % APP_COUNT;
    (void)i;
    (void)clusters;
    snprintf(l, n,
             "SELECT cluster, namespace, name, phase, node FROM pods WHERE labels.app = "
             "'app-%d' AND phase != 'Running' ORDER BY created DESC LIMIT 50",
             app);
    /* schema v7: the label's range carries created; sorted, it drives, and
     * pods then objects rows are read until 50 rows pass (no sort after) */
    snprintf(r, n,
             "SELECT c.name, o.ns, o.name, p.phase, p.node FROM (SELECT obj_id, created FROM "
             "labels WHERE key = 'app' AND value = 'app-%d' AND gvr_id = (SELECT id FROM gvrs "
             "WHERE grp = '' AND res = 'pods') ORDER BY created DESC LIMIT -1) l CROSS JOIN pods "
             "p ON p.obj_id = l.obj_id CROSS JOIN objects o ON o.id = l.obj_id JOIN clusters c "
             "ON c.id = o.cluster_id WHERE p.phase != 'Running' AND o.deleted_ms IS NULL "
             "LIMIT 50",
             app);
}

static void q_match(char *l, char *r, size_t n, int i, int clusters)
{
    int img = rand() % 1000;
    (void)i;
    (void)clusters;
    snprintf(l, n, "SELECT cluster, namespace, name FROM pods WHERE MATCH('img-%d:') LIMIT 50",
             img);
    /* as index/reader.c writes full text: the FTS rowids as an IN set */
    snprintf(r, n,
             "SELECT c.name, o.ns, o.name FROM objects o JOIN clusters c ON c.id = "
             "o.cluster_id WHERE o.id IN (SELECT rowid FROM fts WHERE fts MATCH '\"img-%d:\"') "
             "AND o.gvr_id = (SELECT id FROM gvrs WHERE grp = '' AND res = 'pods') AND "
             "o.deleted_ms IS NULL LIMIT 50",
             img);
}

static void q_join(char *l, char *r, size_t n, int i, int clusters)
{
    int c = rand() % clusters;
    (void)i;
    snprintf(l, n,
             "SELECT p.name, n.name FROM pods p JOIN nodes n ON p.cluster = n.cluster AND "
             "p.node = n.name WHERE p.cluster = 'c-%d' AND n.ready = false",
             c);
    snprintf(r, n,
             "SELECT po.name, no.name FROM clusters c JOIN objects no ON no.cluster_id = c.id "
             "AND no.gvr_id = (SELECT id FROM gvrs WHERE grp = '' AND res = 'nodes') JOIN nodes "
             "n ON n.obj_id = no.id JOIN pods p ON p.cluster_id = c.id AND p.node = no.name JOIN "
             "objects po ON po.id = p.obj_id WHERE c.name = 'c-%d' AND n.ready = 0 AND "
             "no.deleted_ms IS NULL AND po.deleted_ms IS NULL",
             c);
}

static void sampled(runner *r, const char *what, mkq mk, int samples, int clusters,
                    const char *target)
{
    int64_t *a = calloc((size_t)samples, sizeof *a), *b = calloc((size_t)samples, sizeof *b);
    char lq[2048], rq[2048];
    int64_t ra = 0, rb = 0;
    for (int i = 0; i < samples; i++) {
        mk(lq, rq, sizeof lq, i, clusters);
        r->explain = r->explain_all && i == 0;
        a[i] = lang(r, lq);
        ra = r->rows;
        b[i] = raw(r, rq);
        rb = r->rows;
        r->explain = false;
        if (a[i] < 0 || b[i] < 0)
            break;
    }
    report(what, a, b, samples, ra, rb, target);
    free(a);
    free(b);
}

static void once(runner *r, const char *what, const char *lq, const char *rq, int reps,
                 const char *target)
{
    int64_t a[8], b[8], ra = 0, rb = 0;
    for (int i = 0; i < reps; i++) {
        r->explain = r->explain_all && i == 0;
        a[i] = lang(r, lq);
        ra = r->rows;
        b[i] = raw(r, rq);
        rb = r->rows;
        r->explain = false;
    }
    report(what, a, b, reps, ra, rb, target);
}

static int arg_int(int argc, char **argv, const char *name, int def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return atoi(argv[i + 1]); /* bench-only: trusted command line */
    return def;
}

static const char *arg_str(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static bool arg_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (arg_flag(argc, argv, "--help")) {
        printf("usage: bench_sql [--pods N (1000000)] [--clusters C (100)] [--samples K (200)]"
               " [--explain] [--keep DIR]\n  --explain: print each query's compiled and"
               " hand-written SQL with EXPLAIN QUERY PLAN (first sample)\n  --keep DIR: load"
               " into DIR/index.db (DIR must not exist) and keep it\n");
        return 0;
    }
    int pods = arg_int(argc, argv, "--pods", 1000000);
    int clusters = arg_int(argc, argv, "--clusters", 100);
    int samples = arg_int(argc, argv, "--samples", 200);
    const char *keep = arg_str(argc, argv, "--keep");
    char dir[] = "/tmp/flotilla-bench-sql-XXXXXX", path[4200], la[64];
    if (clusters < 1 || pods < clusters || samples < 10 || (keep && strlen(keep) > 4000) ||
        (keep ? mkdir(keep, 0700) != 0 : !mkdtemp(dir)))
        return 1;
    snprintf(path, sizeof path, "%s/index.db", keep ? keep : dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_index *idx = NULL;
    runner r = {0};
    io.path = path;
    fl_log_set_level(FL_LOG_WARN);
    if (fl_index_open(&io, &idx, NULL) != 0)
        return 1;
    bench_loadavg(la, sizeof la);
    printf("bench_sql: %d pods in %d clusters (%d nodes each, 1 in 4 NotReady; %d namespaces), "
           "load average before %s\n",
           pods / clusters * clusters, clusters, NODES, NS_COUNT, la);
    fflush(stdout);
    int64_t t0 = now_ns();
    if (load(idx, pods, clusters) != 0)
        return 1;
    bench_loadavg(la, sizeof la);
    printf("loaded in %.1f s; load average %s\n", (double)(now_ns() - t0) / 1e9, la);
    if (fl_kube_resources_new(true, &r.reg) || fl_index_reader_new(idx, &r.rd, NULL) ||
        sqlite3_open_v2(path, &r.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return 1;
    sqlite3_exec(r.db, "PRAGMA cache_size = -8192", NULL, NULL, NULL); /* as a reader's */
    r.explain_all = arg_flag(argc, argv, "--explain");
    srand(1);
    sampled(&r, "label + phase filter, page of 50", q_label, samples, clusters, "p99 < 5 ms");
    once(&r, "count(*) GROUP BY cluster", "SELECT cluster, count(*) FROM pods GROUP BY cluster",
         "SELECT c.name, count(*) FROM objects o JOIN clusters c ON c.id = o.cluster_id WHERE "
         "o.gvr_id = (SELECT id FROM gvrs WHERE grp = '' AND res = 'pods') AND o.deleted_ms IS "
         "NULL GROUP BY c.name",
         3, "< 300 ms");
    once(&r, "sum(requests.cpu) GROUP BY cluster, namespace",
         "SELECT cluster, namespace, sum(requests.cpu) FROM pods GROUP BY cluster, namespace",
         "SELECT c.name, o.ns, sum(r.requests) FROM objects o JOIN clusters c ON c.id = "
         "o.cluster_id LEFT JOIN pod_resources r ON r.obj_id = o.id AND r.resource = 'cpu' WHERE "
         "o.gvr_id = (SELECT id FROM gvrs WHERE grp = '' AND res = 'pods') AND o.deleted_ms IS "
         "NULL GROUP BY c.name, o.ns",
         3, "< 1 s");
    sampled(&r, "MATCH page of 50", q_match, samples, clusters, "p99 < 20 ms");
    sampled(&r, "pods<->nodes join, one cluster", q_join, samples / 4 > 10 ? samples / 4 : 10,
            clusters, "< 50 ms");
    bench_loadavg(la, sizeof la);
    printf("load average after %s\n", la);
    sqlite3_close(r.db);
    fl_index_reader_free(r.rd);
    fl_kube_resources_free(r.reg);
    fl_index_close(idx);
    if (keep)
        return 0;
    snprintf(path, sizeof path, "rm -rf %s", dir);
    return system(path) == 0 ? 0 : 1;
}
