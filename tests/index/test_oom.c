/*
 * tests/index/test_oom.c: the index writer under allocation failure.
 *
 * SQLite allocates through fl_malloc here (SQLITE_CONFIG_MALLOC), so the
 * injection (fl_alloc_fail_at) reaches every allocation of the writer path:
 * the writer's own (coalescer, scope cache, relist marks, capacity deltas,
 * dictionary samples) and SQLite's (statements, pages, the journal).
 *
 * A fresh index gets a base batch (pods with labels and resources, a node,
 * the start of a relist) without injection; then the batch under test
 * (events that add, change and delete, a list page, the relist's end, which
 * deletes what it did not see, a sync state) is applied with the 1st, 2nd,
 * 3rd ... allocation failing, until a run no longer reaches the failing
 * allocation. Every failing run must:
 *   - end in an error with a message (never a crash; under ASan no leak);
 *   - leave the database intact (PRAGMA integrity_check) and as it was
 *     before the batch (every table's rows, times aside);
 *   - leave the writer able to apply the same items again, and that retry
 *     must give exactly the reference result (the relist's deletions
 *     included: its marks came back with the rollback).
 * A sample of the same runs goes through idx_writer_apply_retrying (what
 * the writer thread calls): the one injected failure is retried and the
 * result is the reference's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/index_int.h"
#include "tests/test.h"

#define MAX_ALLOCS 200000
#define RETRY_EVERY 17 /* runs that also check idx_writer_apply_retrying */

static char dir[256];
static const fl_index_src PODS = {"east", "", "v1", "pods", "Pod"};
static const fl_index_src NODES = {"east", "", "v1", "nodes", "Node"};

/* ---- SQLite's allocator through fl_malloc (a size header in front) ---- */

static void *sq_malloc(int n)
{
    int64_t *p = fl_malloc((size_t)n + 8);
    if (!p)
        return NULL;
    p[0] = n;
    return p + 1;
}

static void sq_free(void *p)
{
    if (p)
        free((int64_t *)p - 1);
}

static void *sq_realloc(void *p, int n)
{
    int64_t *q = fl_realloc(p ? (int64_t *)p - 1 : NULL, (size_t)n + 8);
    if (!q)
        return NULL;
    q[0] = n;
    return q + 1;
}

static int sq_size(void *p)
{
    return p ? (int)((int64_t *)p)[-1] : 0;
}

static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sq_init(void *ud)
{
    (void)ud;
    return SQLITE_OK;
}

static void sq_shutdown(void *ud)
{
    (void)ud;
}

static const sqlite3_mem_methods SQ_MEM = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                           sq_roundup, sq_init, sq_shutdown, NULL};

/* ---- items ---- */

static idx_item *item(item_type type, const fl_index_src *src)
{
    idx_item *it = calloc(1, sizeof *it);
    it->type = type;
    it->src = *src;
    return it;
}

static char *pod_json(const char *name, const char *uid, const char *rv, const char *app,
                      const char *cpu)
{
    char *s = NULL;
    T_CHECK(
        asprintf(&s,
                 "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
                 "\"namespace\":\"ns\",\"uid\":\"%s\",\"resourceVersion\":\"%s\","
                 "\"labels\":{\"app\":\"%s\",\"tier\":\"web\"},\"annotations\":{\"a\":\"b\"}},"
                 "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"image\":"
                 "\"img:%s\",\"resources\":{\"requests\":{\"cpu\":\"%s\",\"memory\":\"64Mi\"}}}]},"
                 "\"status\":{\"phase\":\"Running\"}}",
                 name, uid, rv, app, app, cpu) > 0);
    return s;
}

static idx_item *event(const char *type, const char *name, const char *uid, const char *rv,
                       const char *app, const char *cpu)
{
    dec_opts o = {false, false};
    char *obj = pod_json(name, uid, rv, app, cpu), *ev = NULL;
    idx_item *it = item(IT_EVENT, &PODS);
    T_CHECK(asprintf(&ev, "{\"type\":\"%s\",\"object\":%s}", type, obj) > 0);
    T_EQ_INT(idx_dec_event(&o, &PODS, ev, strlen(ev), &it->out), 0);
    free(obj);
    free(ev);
    return it;
}

static idx_item *node_event(const char *type, const char *rv, const char *cpu)
{
    dec_opts o = {false, false};
    char ev[1024];
    snprintf(ev, sizeof ev,
             "{\"type\":\"%s\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{"
             "\"name\":\"n1\",\"uid\":\"nu1\",\"resourceVersion\":\"%s\",\"labels\":{"
             "\"topology.kubernetes.io/region\":\"r1\",\"topology.kubernetes.io/zone\":\"z1\"}},"
             "\"status\":{\"allocatable\":{\"cpu\":\"%s\",\"memory\":\"8Gi\",\"pods\":\"110\"},"
             "\"capacity\":{\"cpu\":\"%s\",\"memory\":\"8Gi\",\"pods\":\"110\"},\"conditions\":[{"
             "\"type\":\"Ready\",\"status\":\"True\"}]}}}",
             type, rv, cpu, cpu);
    idx_item *it = item(IT_EVENT, &NODES);
    T_EQ_INT(idx_dec_event(&o, &NODES, ev, strlen(ev), &it->out), 0);
    return it;
}

/* A list page of pods p, q (q unchanged from the base) at rv 40. */
static idx_item *list_page(void)
{
    dec_opts o = {false, false};
    char *a = pod_json("p", "up", "30", "api", "250m"), *b = pod_json("q", "uq", "3", "db", "1");
    char *doc = NULL;
    T_CHECK(asprintf(&doc,
                     "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{"
                     "\"resourceVersion\":\"40\"},\"items\":[%s,%s]}",
                     a, b) > 0);
    idx_item *it = item(IT_LIST, &PODS);
    T_EQ_INT(idx_dec_list(&o, &PODS, doc, strlen(doc), &it->out), 0);
    free(a);
    free(b);
    free(doc);
    return it;
}

static idx_item *control(item_type type, const fl_index_src *src, const char *arg, const char *arg2)
{
    idx_item *it = item(type, src);
    it->arg = arg ? strdup(arg) : NULL;
    it->arg2 = arg2 ? strdup(arg2) : NULL;
    return it;
}

/* The batch under test (items stay intact through failed applies). The
 * relist it ends began in the base batch, after t and s were written and
 * before q was: its end deletes t only (s is deleted by its event; q, r
 * and p are marked), and only if a rollback gave the marks back. */
#define NTEST 7
static void test_batch(idx_item **b)
{
    b[0] = event("MODIFIED", "q", "uq", "20", "db", "2");    /* new resources */
    b[1] = event("ADDED", "r", "ur", "21", "cache", "500m"); /* a new pod */
    b[2] = event("DELETED", "s", "us", "22", "old", "1");    /* a delete */
    b[3] = node_event("MODIFIED", "23", "16");
    b[4] = list_page();                               /* p new, q as at rv 3 */
    b[5] = control(IT_RELIST_END, &PODS, "40", NULL); /* t is gone */
    b[6] = control(IT_SYNC, &NODES, "Watching", "");
}

static void free_items(idx_item **b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        idx_item_free(b[i]);
}

/* ---- the database ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every row of every table (times as "t", the internal tables of fts5 and
 * sqlite_ aside), sorted, one line each. */
static void digest(sqlite3 *db, fl_buf *out)
{
    sqlite3_stmt *t = NULL;
    T_EQ_INT(sqlite3_prepare_v2(db,
                                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                                "LIKE 'sqlite_%' AND name NOT LIKE 'fts_%' ORDER BY name",
                                -1, &t, NULL),
             SQLITE_OK);
    while (sqlite3_step(t) == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(t, 0);
        char sql[256];
        sqlite3_stmt *s = NULL;
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", table);
        T_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        char **rows = NULL;
        size_t n = 0, cap = 0;
        while (s && sqlite3_step(s) == SQLITE_ROW) {
            fl_buf row = FL_BUF_INIT(1u << 20);
            fl_buf_printf(&row, "%s:", table);
            for (int i = 0; i < sqlite3_column_count(s); i++) {
                const char *col = sqlite3_column_name(s, i);
                size_t cl = strlen(col);
                bool time = cl > 3 && !strcmp(col + cl - 3, "_ms");
                if (sqlite3_column_type(s, i) == SQLITE_NULL)
                    fl_buf_puts(&row, " NULL");
                else if (time)
                    fl_buf_puts(&row, " t");
                else if (sqlite3_column_type(s, i) == SQLITE_BLOB)
                    fl_buf_printf(&row, " blob%d", sqlite3_column_bytes(s, i));
                else
                    fl_buf_printf(&row, " %s", (const char *)sqlite3_column_text(s, i));
            }
            fl_grow(&rows, &cap, n + 1, sizeof *rows);
            rows[n++] = strdup(row.data);
            fl_buf_done(&row);
        }
        sqlite3_finalize(s);
        if (n)
            qsort(rows, n, sizeof *rows, cmp_str);
        for (size_t i = 0; i < n; i++) {
            fl_buf_printf(out, "%s\n", rows[i]);
            free(rows[i]);
        }
        free(rows);
    }
    sqlite3_finalize(t);
}

/* Whether two digests are equal; else their first differing lines. */
static bool same(const char *got, const char *want)
{
    if (!strcmp(got, want))
        return true;
    size_t i = 0, line = 0;
    while (got[i] && got[i] == want[i])
        if (got[i++] == '\n')
            line = i;
    fprintf(stderr, "  got:  %.*s\n  want: %.*s\n", (int)strcspn(got + line, "\n"), got + line,
            (int)strcspn(want + line, "\n"), want + line);
    return false;
}

static bool intact(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    bool ok = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
              sqlite3_step(s) == SQLITE_ROW &&
              !strcmp((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    return ok;
}

typedef struct fixture {
    sqlite3 *db;
    idx_writer *w;
} fixture;

/* A fresh index with the base batch applied. */
static void fixture_open(fixture *f, const char *name)
{
    char path[512];
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    fl_err err = FL_ERR_INIT;
    int64_t a, b;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    T_EQ_INT(sqlite3_open(path, &f->db), SQLITE_OK);
    T_EQ_INT(idx_schema_open(f->db, &o, &err), 0);
    T_EQ_INT(idx_writer_new(f->db, &o, NULL, &f->w, &err), 0);
    idx_item *base[] = {event("ADDED", "t", "ut", "5", "tmp", "100m"),
                        event("ADDED", "s", "us", "4", "old", "1"),
                        control(IT_RELIST_BEGIN, &PODS, NULL, NULL),
                        event("ADDED", "q", "uq", "3", "db", "1"),
                        node_event("ADDED", "6", "8"),
                        control(IT_SYNC, &PODS, "Watching", "")};
    T_EQ_INT(idx_writer_apply(f->w, base, FL_ARRAY_LEN(base), &a, &b, &err), 0);
    free_items(base, FL_ARRAY_LEN(base));
}

static void fixture_close(fixture *f)
{
    idx_writer_free(f->w);
    T_EQ_INT(sqlite3_close(f->db), SQLITE_OK);
}

int main(void)
{
    T_EQ_INT(sqlite3_config(SQLITE_CONFIG_MALLOC, &SQ_MEM), SQLITE_OK);
    /* tmpfs when there is one: thousands of small databases, each synced */
    snprintf(dir, sizeof dir, "%s/fl-index-oom-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        return 1;
    idx_item *batch[NTEST];
    test_batch(batch);

    /* the reference: the batch applied without injection */
    fixture f;
    fl_buf before = FL_BUF_INIT(16u << 20), ref = FL_BUF_INIT(16u << 20);
    fl_err err = FL_ERR_INIT;
    int64_t a, b;
    fixture_open(&f, "ref.db");
    digest(f.db, &before);
    T_EQ_INT(idx_writer_apply(f.w, batch, NTEST, &a, &b, &err), 0);
    digest(f.db, &ref);
    fixture_close(&f);
    T_CHECK(strcmp(before.data, ref.data) != 0);
    T_CHECK(strstr(ref.data, "objects:") != NULL);
    T_CHECK(strstr(ref.data, "changelog:") != NULL);

    unsigned long n = 1, failed = 0, retried = 0;
    for (; n <= MAX_ALLOCS; n++) {
        fl_buf got = FL_BUF_INIT(16u << 20);
        fl_err e = FL_ERR_INIT;
        bool via_retry = n % RETRY_EVERY == 0;
        fixture_open(&f, "oom.db");
        fl_alloc_fail_at(n);
        int rc = via_retry ? idx_writer_apply_retrying(f.w, batch, NTEST, 0, &a, &b, &e)
                           : idx_writer_apply(f.w, batch, NTEST, &a, &b, &e);
        bool fired = fl_alloc_failed();
        fl_alloc_fail_at(0);
        T_CHECK(intact(f.db));
        if (rc != 0) {
            failed++;
            if (rc != -ENOMEM || !e.msg[0])
                fprintf(stderr, "allocation %lu: rc %d \"%s\"\n", n, rc, e.msg);
            T_EQ_INT(rc, -ENOMEM);
            T_CHECK(e.msg[0] != 0);
            T_CHECK(!via_retry); /* one injected failure: the retry succeeds */
            digest(f.db, &got);
            T_CHECK(same(got.data, before.data)); /* nothing of the batch, nothing lost */
            got.len = 0;
            rc = idx_writer_apply(f.w, batch, NTEST, &a, &b, &e); /* the same items again */
            T_EQ_INT(rc, 0);
        } else if (via_retry && fired) {
            retried++;
        }
        digest(f.db, &got);
        if (strcmp(got.data, ref.data) != 0)
            fprintf(stderr, "allocation %lu (%s): the result differs from the reference\n", n,
                    rc      ? "failed"
                    : fired ? "survived"
                            : "not reached");
        T_CHECK(same(got.data, ref.data));
        fixture_close(&f);
        fl_buf_done(&got);
        if (!fired)
            break;
    }
    T_CHECK(n > 1 && n <= MAX_ALLOCS);
    T_CHECK(failed > 0);
    fprintf(stderr,
            "writer batch: %lu allocations, %lu failed cleanly (rolled back, applied again), "
            "%lu retried by idx_writer_apply_retrying\n",
            n - 1, failed, retried);
    free_items(batch, NTEST);
    fl_buf_done(&before);
    fl_buf_done(&ref);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ_INT(system(cmd), 0);
    return t_done();
}
