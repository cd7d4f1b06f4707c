/*
 * index/reader.c: read-only connections and every read query — get,
 * list/count from an fl_index_query (SQL assembled from fixed fragments,
 * every value bound as a parameter), the change log, sync state and the
 * materialized usage/node reads. A reader is used by one thread at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

#define STMT_CACHE 16
#define MAX_BINDS (8 + 6 * FL_INDEX_QUERY_MAX_TERMS * 2)

typedef struct cached {
    char *sql;
    sqlite3_stmt *st;
    uint64_t used;
} cached;

struct fl_index_reader {
    sqlite3 *db;
    bool in_snapshot;
    cached cache[STMT_CACHE];
    uint64_t tick;
    zjr *zj;                        /* decompression of stored JSON (zjson.c) */
    int64_t deadline_ms, budget_ms; /* 0 = no time budget */
    bool expired;                   /* the progress handler interrupted a read */
};

/* fl_json(json): a stored json column as JSON text, decompressing a zstd
 * row (zjson.c), so SQL over objects.json (json_extract, json_each) works
 * on compressed rows. NULL and plain text pass through. */
static void sql_fl_json(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    fl_index_reader *r = sqlite3_user_data(ctx);
    (void)argc;
    const void *p = sqlite3_value_blob(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB || !idx_zj_is_compressed(p, n)) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    const char *json = NULL;
    size_t len = 0;
    fl_err err = FL_ERR_INIT;
    if (idx_zjr_decode(r->zj, r->db, p, n, &json, &len, &err) != 0) {
        sqlite3_result_error(ctx, err.msg[0] ? err.msg : "fl_json: cannot decompress", -1);
        return;
    }
    sqlite3_result_text(ctx, json, (int)len, SQLITE_TRANSIENT);
}

static int rfail(fl_index_reader *r, fl_err *err, const char *what)
{
    return idx_reader_fail(r, err, what);
}

int idx_reader_fail(fl_index_reader *r, fl_err *err, const char *what)
{
    if (r->expired && sqlite3_errcode(r->db) == SQLITE_INTERRUPT)
        return fl_err_set(err, -ETIMEDOUT,
                          "the query took longer than its %lld ms budget: narrow it (clusters, "
                          "namespaces, labels, a smaller limit)",
                          (long long)r->budget_ms);
    return fl_err_set(err, FL_ESQL, "index reader: %s: %s", what, sqlite3_errmsg(r->db));
}

/* SQLite's progress handler: nonzero interrupts the running statement. */
static int on_progress(void *arg)
{
    fl_index_reader *r = arg;
    if (r->deadline_ms && fl_mono_ms() > r->deadline_ms)
        r->expired = true;
    return r->expired;
}

void idx_reader_progress_restore(fl_index_reader *r)
{
    sqlite3_progress_handler(r->db, 1000, on_progress, r);
}

int fl_index_reader_set_cache(fl_index_reader *r, int64_t kib)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%lld", (long long)(kib > 0 ? kib : 1));
    return sqlite3_exec(r->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : FL_ESQL;
}

void fl_index_reader_set_budget(fl_index_reader *r, int64_t ms)
{
    r->budget_ms = ms > 0 ? ms : 0;
    r->deadline_ms = ms > 0 ? fl_mono_ms() + ms : 0;
    r->expired = false;
}

/* A prepared statement for sql, from the reader's small LRU cache. The
 * statement is reset and its bindings cleared. NULL on failure. */
static sqlite3_stmt *prep(fl_index_reader *r, const char *sql)
{
    return idx_reader_prep(r, sql);
}

sqlite3_stmt *idx_reader_prep(fl_index_reader *r, const char *sql)
{
    cached *victim = &r->cache[0];
    for (int i = 0; i < STMT_CACHE; i++) {
        cached *c = &r->cache[i];
        if (c->sql && strcmp(c->sql, sql) == 0) {
            c->used = ++r->tick;
            sqlite3_reset(c->st);
            sqlite3_clear_bindings(c->st);
            return c->st;
        }
        if (c->used < victim->used)
            victim = c;
    }
    sqlite3_stmt *st = NULL;
    char *copy = fl_strndup(sql, strlen(sql));
    if (!copy || sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL)) {
        free(copy);
        sqlite3_finalize(st);
        return NULL;
    }
    free(victim->sql);
    sqlite3_finalize(victim->st);
    *victim = (cached){copy, st, ++r->tick};
    return st;
}

int fl_index_reader_new(fl_index *idx, fl_index_reader **out, fl_err *err)
{
    fl_index_reader *r = calloc(1, sizeof *r);
    int rc;
    if (!r)
        return -ENOMEM;
    rc = sqlite3_open_v2(fl_index_path(idx), &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        rc = fl_err_set(err, FL_ESQL, "index reader: open: %s",
                        r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(r->db, 5000);
    sqlite3_progress_handler(r->db, 1000, on_progress, r);
    if ((rc = idx_schema_reader_pragmas(r->db, fl_index_options(idx), err)) < 0 ||
        (rc = idx_zjr_new(&r->zj)) < 0)
        goto fail;
    if (sqlite3_create_function(r->db, "fl_json", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, r,
                                sql_fl_json, NULL, NULL) != SQLITE_OK) {
        rc = fl_err_set(err, FL_ESQL, "index: cannot register fl_json");
        goto fail;
    }
    *out = r;
    return 0;
fail:
    fl_index_reader_free(r);
    return rc;
}

void fl_index_reader_free(fl_index_reader *r)
{
    if (!r)
        return;
    for (int i = 0; i < STMT_CACHE; i++) {
        free(r->cache[i].sql);
        sqlite3_finalize(r->cache[i].st);
    }
    if (r->in_snapshot)
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(r->db);
    idx_zjr_free(r->zj);
    free(r);
}

sqlite3 *fl_index_reader_db(fl_index_reader *r)
{
    return r->db;
}

static int meta_value(fl_index_reader *r, const char *key, int64_t *out, fl_err *err)
{
    sqlite3_stmt *s = prep(r, "SELECT value FROM meta WHERE key = ?");
    if (!s)
        return rfail(r, err, "meta");
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : rfail(r, err, "meta");
}

int fl_index_reader_begin(fl_index_reader *r)
{
    int64_t rev;
    if (r->in_snapshot)
        return -EBUSY;
    if (idx_sql_exec(r->db, "BEGIN", NULL) < 0)
        return FL_ESQL;
    r->in_snapshot = true;
    /* The snapshot starts at the first read: take it now. */
    if (meta_value(r, "revision", &rev, NULL) < 0) {
        fl_index_reader_end(r);
        return FL_ESQL;
    }
    return 0;
}

int fl_index_reader_end(fl_index_reader *r)
{
    if (!r->in_snapshot)
        return 0;
    r->in_snapshot = false;
    return idx_sql_exec(r->db, "COMMIT", NULL);
}

int fl_index_reader_revision(fl_index_reader *r, int64_t *out)
{
    return meta_value(r, "revision", out, NULL);
}

/* ------------------------------------------------------------------ rows */

static const char *col(sqlite3_stmt *s, int i)
{
    const char *v = (const char *)sqlite3_column_text(s, i);
    return v ? v : "";
}

/* The row at column at of s; its JSON decompressed when stored so
 * (valid until the next row). 0, -ENOMEM or FL_ESQL. */
static int fill_row(fl_index_reader *r, sqlite3_stmt *s, int at, fl_index_row *row, fl_err *err)
{
    return idx_reader_fill_row(r, s, at, row, err);
}

int idx_reader_fill_row(fl_index_reader *r, sqlite3_stmt *s, int at, fl_index_row *row, fl_err *err)
{
    row->cluster = col(s, at), row->group = col(s, at + 1), row->version = col(s, at + 2);
    row->resource = col(s, at + 3), row->kind = col(s, at + 4), row->namespace_ = col(s, at + 5);
    row->name = col(s, at + 6), row->uid = col(s, at + 7), row->resource_version = col(s, at + 8);
    row->owner_uid = col(s, at + 9);
    row->revision = sqlite3_column_int64(s, at + 10);
    row->created = sqlite3_column_int64(s, at + 11);
    row->synced_ms = sqlite3_column_int64(s, at + 12);
    row->deleted_ms = sqlite3_column_int64(s, at + 13);
    if (sqlite3_column_type(s, at + 14) == SQLITE_BLOB) {
        const void *p = sqlite3_column_blob(s, at + 14);
        size_t n = (size_t)sqlite3_column_bytes(s, at + 14);
        if (idx_zj_is_compressed(p, n))
            return idx_zjr_decode(r->zj, r->db, p, n, &row->json, &row->json_len, err);
    }
    row->json = (const char *)sqlite3_column_text(s, at + 14);
    row->json_len = (size_t)sqlite3_column_bytes(s, at + 14);
    if (!row->json)
        row->json = "";
    return 0;
}

int idx_reader_json(fl_index_reader *r, sqlite3_stmt *s, int at, const char **json, size_t *len,
                    fl_err *err)
{
    if (sqlite3_column_type(s, at) == SQLITE_BLOB) {
        const void *p = sqlite3_column_blob(s, at);
        size_t n = (size_t)sqlite3_column_bytes(s, at);
        if (idx_zj_is_compressed(p, n))
            return idx_zjr_decode(r->zj, r->db, p, n, json, len, err);
    }
    *json = (const char *)sqlite3_column_text(s, at);
    *len = (size_t)sqlite3_column_bytes(s, at);
    if (!*json)
        *json = "";
    return 0;
}

/* ------------------------------------------------------------ query build
 *
 * Plans (checked by EXPLAIN QUERY PLAN in tests/index/test_plan.c). Every
 * key-ordered page reads at most limit+1 entries of one index range when
 * nothing but the index filters it:
 *   - a label equality (or one-value "in") drives: labels' primary key is
 *     (key, value, gvr_id, ns, name, cluster_id), so the page is a range of
 *     it in the API's order; only the rows handed out are looked up in
 *     objects (JSON included). Other label requirements are EXISTS /
 *     NOT EXISTS probes of labels_obj(obj_id, key, value) per row. A set
 *     of up to MERGE_MAX_VALUES values drives as one such range per value,
 *     merged in key order by SQLite (a UNION ALL with ORDER BY: MERGE, no
 *     sort); a page in 2-8 clusters as one labels_cluster range per
 *     cluster (and value), merged the same way. With several candidates, the first SAMPLE_ROWS entries of each
 *     one's range, probed with the other conditions, pick the one that
 *     reads the fewest entries per row handed out (a broad tier=web before
 *     a 1% app=x no longer drives).
 *   - otherwise objects drive: objects_key(gvr_id, ns, name, cluster_id),
 *     or objects_scope(cluster_id, gvr_id, ns, name) for one cluster, or
 *     objects_owner(owner_uid, gvr_id, ns, name, cluster_id) for an owner,
 *     or objects_rev(gvr_id, revision) in revision order. Conditions no
 *     index holds (creation time, label sets, negations) filter the rows
 *     of that range, so such a page reads as far as it takes to fill it.
 * CROSS JOIN pins the loop order (the driving table outermost); clusters
 * and gvrs are primary-key lookups per row handed out. */

static const char ROW_SEL[] =
    "SELECT c.name, g.grp, g.ver, g.res, g.kind, o.ns, o.name, o.uid, o.rv, o.owner_uid,"
    " o.revision, o.created, o.synced_ms, o.deleted_ms, o.json";
static const char FROM_OBJECTS[] = " FROM objects o CROSS JOIN clusters c CROSS JOIN gvrs g"
                                   " WHERE c.id = o.cluster_id AND g.id = o.gvr_id";
/* Label-driven rows take the key from labels (equal to objects' by
 * construction) and add l.cluster_id: the ORDER BY of a merge of one
 * value's range per arm (ORDER BY 6, 7, 16) is then each arm's index order. */
static const char ROW_SEL_L[] =
    "SELECT c.name, g.grp, g.ver, g.res, g.kind, l.ns, l.name, o.uid, o.rv, o.owner_uid,"
    " o.revision, o.created, o.synced_ms, o.deleted_ms, o.json, l.cluster_id";
static const char FROM_LABELS[] =
    " FROM labels l CROSS JOIN objects o CROSS JOIN clusters c CROSS JOIN gvrs g"
    " WHERE o.id = l.obj_id AND c.id = o.cluster_id AND g.id = o.gvr_id";

typedef struct bind {
    bool is_int;
    int64_t i;
    const char *s;
} bind;

typedef struct qb {
    fl_buf sql;
    bind b[MAX_BINDS];
    int n;
    int rc;
    char *fts;     /* quoted FTS5 string, owned */
    bool empty;    /* a constraint can match nothing (unknown cluster/gvr) */
    int drv;       /* index of the driving label requirement, -1: objects drive */
    int arm;       /* a set driver's value of this arm of a merge, -1: every value */
    int carm;      /* the cluster of this arm of a merge, -1: every cluster asked for */
    const char *k; /* alias of the table holding the key columns: "l." or "o." */
    bool has_o;    /* objects o is part of the statement */
} qb;

static void qs(qb *q, const char *s)
{
    if (q->rc == 0)
        q->rc = fl_buf_puts(&q->sql, s);
}

/* A key column of the driving table: "l.ns", "o.ns", ... */
static void qk(qb *q, const char *column)
{
    qs(q, q->k), qs(q, column);
}

static void qt(qb *q, const char *v)
{
    if (q->n == MAX_BINDS) {
        q->rc = -E2BIG;
        return;
    }
    q->b[q->n++] = (bind){false, 0, v};
    qs(q, "?");
}

static void qi(qb *q, int64_t v)
{
    if (q->n == MAX_BINDS) {
        q->rc = -E2BIG;
        return;
    }
    q->b[q->n++] = (bind){true, v, NULL};
    qs(q, "?");
}

static void qlist(qb *q, const char *const *v, size_t n)
{
    qs(q, "(");
    for (size_t i = 0; i < n; i++) {
        if (i)
            qs(q, ", ");
        qt(q, v[i]);
    }
    qs(q, ")");
}

/* Resolve the gvr ids of (group, resource[, version]) into "AND k.gvr_id IN (...)". */
static int gvr_ids(fl_index_reader *r, const fl_index_query *q, qb *b, fl_err *err)
{
    sqlite3_stmt *s =
        prep(r, q->version ? "SELECT id FROM gvrs WHERE grp = ? AND res = ? AND ver = ?"
                           : "SELECT id FROM gvrs WHERE grp = ? AND res = ?");
    int rc, n = 0;
    if (!s)
        return rfail(r, err, "gvrs");
    sqlite3_bind_text(s, 1, q->group, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, q->resource, -1, SQLITE_STATIC);
    if (q->version)
        sqlite3_bind_text(s, 3, q->version, -1, SQLITE_STATIC);
    qs(b, " AND "), qk(b, "gvr_id IN (");
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        qs(b, n++ ? ", " : ""), qi(b, sqlite3_column_int64(s, 0));
    sqlite3_reset(s);
    qs(b, ")");
    if (rc != SQLITE_DONE)
        return rfail(r, err, "gvrs");
    b->empty |= n == 0;
    return 0;
}

/* The id of cluster name: 0 and *id set, 0 with *id = 0 when unknown, or FL_ESQL. */
static int cluster_id(fl_index_reader *r, const char *name, int64_t *id, fl_err *err)
{
    sqlite3_stmt *s = prep(r, "SELECT id FROM clusters WHERE name = ?");
    if (!s)
        return rfail(r, err, "clusters");
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : rfail(r, err, "clusters");
}

static int cluster_ids(fl_index_reader *r, const fl_index_query *q, qb *b, fl_err *err)
{
    int n = 0;
    if (!q->n_clusters)
        return 0;
    qs(b, " AND "), qk(b, "cluster_id IN (");
    for (size_t i = 0, w = 0; i < q->n_clusters; i++) {
        int64_t id;
        int rc = cluster_id(r, q->clusters[i], &id, err);
        if (rc < 0)
            return rc;
        n += id != 0;
        if (id && (b->carm < 0 || (size_t)b->carm == i)) /* an arm: its cluster only */
            qs(b, w++ ? ", " : ""), qi(b, id);
    }
    qs(b, ")");
    b->empty |= n == 0;
    return 0;
}

/* A label requirement as a probe of labels_obj for the row's object. */
static void label_req(qb *b, const fl_index_label_req *l)
{
    bool neg = l->op == FL_INDEX_LABEL_NE || l->op == FL_INDEX_LABEL_NOTIN ||
               l->op == FL_INDEX_LABEL_NOT_EXISTS;
    qs(b, neg ? " AND NOT EXISTS (SELECT 1 FROM labels x WHERE x.obj_id = "
              : " AND EXISTS (SELECT 1 FROM labels x WHERE x.obj_id = ");
    qs(b, b->drv >= 0 ? "l.obj_id" : "o.id");
    qs(b, " AND x.key = "), qt(b, l->key);
    switch (l->op) {
    case FL_INDEX_LABEL_EQ:
    case FL_INDEX_LABEL_NE: qs(b, " AND x.value = "), qt(b, l->values[0]); break;
    case FL_INDEX_LABEL_IN:
    case FL_INDEX_LABEL_NOTIN: qs(b, " AND x.value IN "), qlist(b, l->values, l->n_values); break;
    case FL_INDEX_LABEL_GT:
    case FL_INDEX_LABEL_LT:
        /* upstream: the label value must parse as an integer */
        qs(b, " AND (x.value GLOB '[0-9]*' OR x.value GLOB '-[0-9]*')"
              " AND NOT substr(x.value, 2) GLOB '*[^0-9]*' AND CAST(x.value AS INTEGER) ");
        qs(b, l->op == FL_INDEX_LABEL_GT ? "> CAST(" : "< CAST("), qt(b, l->values[0]);
        qs(b, " AS INTEGER)");
        break;
    default: break;
    }
    qs(b, ")");
}

static bool is_pods(const fl_index_query *q)
{
    return !q->group[0] && !strcmp(q->resource, "pods");
}

/* Materialized pod columns: a node set selects through pods_by_node (the
 * pods of a node are few), a phase set probes the row's pods entry. */
static void pod_facts(qb *b, const fl_index_query *q)
{
    const char *id = b->drv >= 0 ? "l.obj_id" : "o.id";
    if (q->n_pod_nodes)
        qs(b, " AND "), qs(b, id), qs(b, " IN (SELECT obj_id FROM pods WHERE node IN "),
            qlist(b, q->pod_nodes, q->n_pod_nodes), qs(b, ")");
    if (q->n_pod_phases)
        qs(b, " AND EXISTS (SELECT 1 FROM pods p WHERE p.obj_id = "), qs(b, id),
            qs(b, " AND p.phase IN "), qlist(b, q->pod_phases, q->n_pod_phases), qs(b, ")");
}

/* A set driver is a merge of one index range per value (a UNION ALL whose
 * arms SQLite merges in order); more values than this, or a merge whose
 * binds would not fit, leave the set to a per-row probe. */
#define MERGE_MAX_VALUES 8
/* Entries of each candidate's range read to estimate how many the page reads. */
#define SAMPLE_ROWS 64

/* Arms of one merge at most (values × clusters). */
#define MERGE_MAX_ARMS 16

/* The binds of one arm of a page, at most. */
static size_t arm_binds(const fl_index_query *q)
{
    size_t per_arm = 16 + q->n_clusters + q->n_namespaces + q->n_names + q->n_pod_nodes +
                     q->n_pod_phases + (q->owner_uid != NULL) + (q->text != NULL);
    for (size_t i = 0; i < q->n_labels; i++)
        per_arm += 1 + q->labels[i].n_values;
    return per_arm;
}

static bool can_drive(const fl_index_query *q, const fl_index_label_req *l)
{
    if (l->op == FL_INDEX_LABEL_EQ || (l->op == FL_INDEX_LABEL_IN && l->n_values == 1))
        return true;
    if (l->op != FL_INDEX_LABEL_IN || l->n_values > MERGE_MAX_VALUES)
        return false;
    return arm_binds(q) * l->n_values < MAX_BINDS;
}

/* Clusters a page driven by d splits into, one arm each: a few clusters
 * are each a range of labels_cluster (in key order, merged), where one
 * range over every cluster filtered by cluster reads the label's entries
 * of all of them. 1: no split. */
static size_t cluster_arms(const fl_index_query *q, const fl_index_label_req *d)
{
    size_t nc = q->n_clusters;
    if (nc < 2 || nc * d->n_values > MERGE_MAX_ARMS || arm_binds(q) * nc * d->n_values >= MAX_BINDS)
        return 1;
    for (size_t i = 0; i < nc; i++) /* a name twice would give its rows twice */
        for (size_t j = 0; j < i; j++)
            if (!strcmp(q->clusters[i], q->clusters[j]))
                return 1;
    return nc;
}

static int build_where(fl_index_reader *r, const fl_index_query *q, qb *b, fl_err *err);
static qb *qb_new(void);
static void qb_free(qb *b);
static sqlite3_stmt *bind_all(fl_index_reader *r, qb *b);

/* The cost of driving from label requirement i: the first SAMPLE_ROWS
 * entries of its range (with the page's clusters, namespaces, names) and
 * how many of them pass the other index conditions (labels, pod facts).
 * A range that ends inside the sample costs its length; else the entries
 * read per row handed out (SAMPLE_ROWS / hits), scaled past any short
 * range. *cost < 0 on a statement error. */
static int sample_cost(fl_index_reader *r, const fl_index_query *q, int i, double *cost,
                       fl_err *err)
{
    qb *b = qb_new();
    int rc;
    if (!b)
        return -ENOMEM;
    b->drv = i, b->arm = b->carm = -1, b->k = "l.";
    const fl_index_label_req *l = &q->labels[i];
    qs(b, "SELECT count(*), total(h) FROM (SELECT (1");
    for (size_t j = 0; j < q->n_labels; j++)
        if ((int)j != i)
            label_req(b, &q->labels[j]);
    if (is_pods(q))
        pod_facts(b, q);
    qs(b, ") AS h FROM labels l WHERE l.key = "), qt(b, l->key);
    qs(b, " AND l.value IN "), qlist(b, l->values, l->n_values);
    if ((rc = gvr_ids(r, q, b, err)) < 0 || (rc = cluster_ids(r, q, b, err)) < 0)
        goto out;
    if (q->n_namespaces)
        qs(b, " AND l.ns IN "), qlist(b, q->namespaces, q->n_namespaces);
    if (q->n_names)
        qs(b, " AND l.name IN "), qlist(b, q->names, q->n_names);
    qs(b, " LIMIT "), qi(b, SAMPLE_ROWS), qs(b, ")");
    if ((rc = b->rc) < 0)
        goto out;
    *cost = 0;
    if (b->empty)
        goto out;
    sqlite3_stmt *s = bind_all(r, b);
    if (!s || sqlite3_step(s) != SQLITE_ROW) {
        rc = rfail(r, err, "label sample");
        if (s)
            sqlite3_reset(s);
        goto out;
    }
    double n = (double)sqlite3_column_int64(s, 0), hits = sqlite3_column_double(s, 1);
    sqlite3_reset(s);
    *cost = n < SAMPLE_ROWS ? n : SAMPLE_ROWS * (double)SAMPLE_ROWS / (hits > 0 ? hits : 0.5);
out:
    qb_free(b);
    return rc;
}

/* The label requirement that drives a key-ordered query, -1: objects
 * drive. With one candidate (an equality, a one-value set, a small set)
 * it drives; with several, the one whose sample says the page reads the
 * fewest entries (ties: the earlier requirement). A set drives a count
 * as one IN range and a page as a merge. */
static int choose_driver(fl_index_reader *r, const fl_index_query *q, int *drv, fl_err *err)
{
    int n = 0, first = -1;
    *drv = -1;
    if (q->order != FL_INDEX_ORDER_KEY)
        return 0;
    for (size_t i = 0; i < q->n_labels; i++)
        if (can_drive(q, &q->labels[i]) && n++ == 0)
            first = (int)i;
    if (n <= 1) {
        *drv = first;
        return 0;
    }
    double best = 0;
    for (size_t i = 0; i < q->n_labels; i++) {
        double cost;
        int rc;
        if (!can_drive(q, &q->labels[i]))
            continue;
        if ((rc = sample_cost(r, q, (int)i, &cost, err)) < 0)
            return rc;
        if (*drv < 0 || cost < best)
            *drv = (int)i, best = cost;
    }
    return 0;
}

/* Conditions only objects can answer. */
static bool needs_objects(const fl_index_query *q)
{
    return q->owner_uid || q->created_since || q->created_before || q->min_revision || q->text;
}

static int check_query(const fl_index_query *q, fl_err *err)
{
    if (!q->group || !q->resource || !q->resource[0])
        return fl_err_set(err, -EINVAL, "index query: group and resource are required");
    if (q->n_clusters > FL_INDEX_QUERY_MAX_TERMS || q->n_namespaces > FL_INDEX_QUERY_MAX_TERMS ||
        q->n_names > FL_INDEX_QUERY_MAX_TERMS || q->n_labels > FL_INDEX_QUERY_MAX_TERMS ||
        q->n_pod_nodes > FL_INDEX_QUERY_MAX_TERMS || q->n_pod_phases > FL_INDEX_QUERY_MAX_TERMS)
        return fl_err_set(err, -E2BIG, "index query: too many terms");
    for (size_t i = 0; i < q->n_labels; i++) {
        const fl_index_label_req *l = &q->labels[i];
        bool needs = l->op != FL_INDEX_LABEL_EXISTS && l->op != FL_INDEX_LABEL_NOT_EXISTS;
        if (l->n_values > FL_INDEX_QUERY_MAX_TERMS)
            return fl_err_set(err, -E2BIG,
                              "label requirement on \"%.100s\" has %zu values: at most %d are "
                              "allowed",
                              l->key ? l->key : "", l->n_values, FL_INDEX_QUERY_MAX_TERMS);
        if (!l->key || (needs && (l->n_values < 1 || !l->values)))
            return fl_err_set(err, -EINVAL, "index query: bad label requirement");
    }
    bool some = q->after_namespace || q->after_name || q->after_cluster;
    bool all = q->after_namespace && q->after_name && q->after_cluster;
    if (some && !all)
        return fl_err_set(err, -EINVAL, "index query: half a key cursor");
    if (q->text && strlen(q->text) < 3)
        return fl_err_set(err, -EINVAL, "index query: full-text search needs 3 or more bytes");
    return 0;
}

static int fts_quote(qb *b, const char *text)
{
    fl_buf f = FL_BUF_INIT(4096);
    int rc = fl_buf_puts(&f, "\"");
    for (const char *p = text; *p && rc == 0; p++)
        rc = *p == '"' ? fl_buf_puts(&f, "\"\"") : fl_buf_append(&f, p, 1);
    if (rc == 0)
        rc = fl_buf_puts(&f, "\"");
    if (rc < 0) {
        fl_buf_done(&f);
        return rc;
    }
    b->fts = fl_buf_steal(&f);
    return b->fts ? 0 : -ENOMEM;
}

/* SELECT ... FROM ... for a listing (count false) or a count, choosing the
 * driving table (see the plans above). */
static void build_head(const fl_index_query *q, qb *b, bool count)
{
    b->k = b->drv >= 0 ? "l." : "o.";
    b->has_o = !count || b->drv < 0 || needs_objects(q);
    if (!count)
        qs(b, b->drv >= 0 ? ROW_SEL_L : ROW_SEL), qs(b, b->drv >= 0 ? FROM_LABELS : FROM_OBJECTS);
    else if (b->drv < 0)
        qs(b, "SELECT count(*) FROM objects o WHERE 1");
    else
        qs(b, b->has_o ? "SELECT count(*) FROM labels l CROSS JOIN objects o WHERE o.id = l.obj_id"
                       : "SELECT count(*) FROM labels l WHERE 1");
    if (b->drv >= 0) {
        const fl_index_label_req *l = &q->labels[b->drv];
        qs(b, " AND l.key = "), qt(b, l->key);
        if (l->n_values == 1 || b->arm >= 0)
            qs(b, " AND l.value = "), qt(b, l->values[b->arm >= 0 ? b->arm : 0]);
        else
            qs(b, " AND l.value IN "), qlist(b, l->values, l->n_values);
    }
}

/* The WHERE conditions of q (no cursor, order or limit). Labels hold live
 * objects only, so a label-driven count without objects needs no
 * deleted_ms test (and tombstones never match a positive requirement). */
static int build_where(fl_index_reader *r, const fl_index_query *q, qb *b, fl_err *err)
{
    int rc;
    if ((rc = gvr_ids(r, q, b, err)) < 0 || (rc = cluster_ids(r, q, b, err)) < 0)
        return rc;
    if (!q->include_deleted && b->has_o)
        qs(b, " AND o.deleted_ms IS NULL");
    if (q->n_namespaces)
        qs(b, " AND "), qk(b, "ns IN "), qlist(b, q->namespaces, q->n_namespaces);
    if (q->n_names)
        qs(b, " AND "), qk(b, "name IN "), qlist(b, q->names, q->n_names);
    for (size_t i = 0; i < q->n_labels; i++)
        if ((int)i != b->drv)
            label_req(b, &q->labels[i]);
    if (is_pods(q))
        pod_facts(b, q);
    if (q->owner_uid) /* "!= ''" lets the partial index objects_owner serve */
        qs(b,
           q->owner_uid[0] ? " AND o.owner_uid != '' AND o.owner_uid = " : " AND o.owner_uid = "),
            qt(b, q->owner_uid);
    if (q->created_since)
        qs(b, " AND o.created >= "), qi(b, q->created_since);
    if (q->created_before)
        qs(b, " AND o.created < "), qi(b, q->created_before);
    if (q->min_revision)
        qs(b, " AND o.revision > "), qi(b, q->min_revision);
    if (q->as_of && b->has_o) /* the rows changed since come from history.c */
        qs(b, " AND o.revision <= "), qi(b, q->as_of);
    if (q->text) {
        if ((rc = fts_quote(b, q->text)) < 0)
            return rc;
        qs(b, " AND o.id IN (SELECT rowid FROM fts WHERE fts MATCH "), qt(b, b->fts), qs(b, ")");
    }
    return b->rc;
}

/* "AND (ns, name, cluster_id) > cursor". With one namespace the planner
 * would range on the cursor and sort the namespace's rows, so the cursor
 * is decided against it here and becomes a range after ns = ?. */
static int key_cursor(fl_index_reader *r, const fl_index_query *q, qb *b, fl_err *err)
{
    int64_t cid; /* an unknown cluster sorts first: 0 */
    int rc, cmp = 0;
    if (!q->after_namespace)
        return 0;
    if ((rc = cluster_id(r, q->after_cluster, &cid, err)) < 0)
        return rc;
    if (q->n_namespaces == 1 && (cmp = strcmp(q->after_namespace, q->namespaces[0])) != 0) {
        b->empty |= cmp > 0; /* past the namespace: nothing left; before it: no bound */
        return 0;
    }
    qs(b, " AND (");
    if (q->n_namespaces != 1)
        qk(b, "ns, ");
    qk(b, "name, "), qk(b, "cluster_id) > (");
    if (q->n_namespaces != 1)
        qt(b, q->after_namespace), qs(b, ", ");
    qt(b, q->after_name), qs(b, ", "), qi(b, cid), qs(b, ")");
    return b->rc;
}

static int build_tail(fl_index_reader *r, const fl_index_query *q, qb *b, fl_err *err)
{
    if (q->order == FL_INDEX_ORDER_REVISION) {
        if (q->after_revision)
            qs(b, " AND o.revision > "), qi(b, q->after_revision);
        qs(b, " ORDER BY o.revision");
    } else {
        int rc = key_cursor(r, q, b, err);
        if (rc < 0)
            return rc;
        qs(b, " ORDER BY "), qk(b, "ns, "), qk(b, "name, "), qk(b, "cluster_id");
    }
    if (q->limit > 0)
        qs(b, " LIMIT "), qi(b, q->limit);
    return b->rc;
}

static sqlite3_stmt *bind_all(fl_index_reader *r, qb *b)
{
    sqlite3_stmt *s = prep(r, b->sql.data);
    for (int i = 0; s && i < b->n; i++) {
        if (b->b[i].is_int)
            sqlite3_bind_int64(s, i + 1, b->b[i].i);
        else
            sqlite3_bind_text(s, i + 1, b->b[i].s, -1, SQLITE_STATIC);
    }
    return s;
}

static qb *qb_new(void)
{
    qb *b = calloc(1, sizeof *b);
    if (b) {
        fl_buf_init(&b->sql, 64 * 1024);
        b->drv = b->arm = b->carm = -1;
    }
    return b;
}

static void qb_free(qb *b)
{
    if (!b)
        return;
    fl_buf_done(&b->sql);
    free(b->fts);
    free(b);
}

/* The whole listing statement of q into b. */
static int build_list(fl_index_reader *r, const fl_index_query *q, qb *b, fl_err *err)
{
    int rc = check_query(q, err);
    if (rc < 0 || (rc = choose_driver(r, q, &b->drv, err)) < 0)
        return rc;
    size_t nv = b->drv >= 0 ? q->labels[b->drv].n_values : 1;
    size_t nc = b->drv >= 0 ? cluster_arms(q, &q->labels[b->drv]) : 1, arms = nv * nc;
    if (arms <= 1) {
        build_head(q, b, false);
        if ((rc = build_where(r, q, b, err)) < 0 || (rc = build_tail(r, q, b, err)) < 0)
            return rc;
        return b->rc;
    }
    /* one arm per value (and per cluster asked for, when a few are), each a
     * range of a labels index in key order;
     * SQLite merges the arms (MERGE (UNION ALL)) and stops at the limit */
    for (size_t a = 0; a < arms; a++) {
        b->arm = (int)(a % nv);
        b->carm = nc > 1 ? (int)(a / nv) : -1;
        if (a)
            qs(b, " UNION ALL ");
        build_head(q, b, false);
        if ((rc = build_where(r, q, b, err)) < 0 || (rc = key_cursor(r, q, b, err)) < 0)
            return rc;
    }
    qs(b, " ORDER BY 6, 7, 16");
    if (q->limit > 0)
        qs(b, " LIMIT "), qi(b, q->limit);
    return b->rc;
}

int idx_reader_plan(fl_index_reader *r, const fl_index_query *q, bool count, fl_buf *out,
                    fl_err *err)
{
    qb *b = qb_new();
    int rc;
    if (!b)
        return -ENOMEM;
    qs(b, "EXPLAIN QUERY PLAN ");
    if (!count) {
        rc = build_list(r, q, b, err);
    } else if ((rc = check_query(q, err)) == 0 && (rc = choose_driver(r, q, &b->drv, err)) == 0) {
        build_head(q, b, true);
        rc = build_where(r, q, b, err);
    }
    sqlite3_stmt *s = rc < 0 ? NULL : bind_all(r, b);
    if (rc == 0 && !s)
        rc = rfail(r, err, "explain");
    while (s && rc == 0 && sqlite3_step(s) == SQLITE_ROW)
        rc = fl_buf_printf(out, "%s\n", col(s, 3));
    if (s)
        sqlite3_reset(s);
    qb_free(b);
    return rc;
}

/* For q->as_of: FL_EGONE past the change log's retention; *snap gets the
 * past states to merge (NULL when as_of is the current revision). */
static int snapshot_open(fl_index_reader *r, const fl_index_query *q, hist_snap **snap, fl_err *err)
{
    int64_t floor = 0, rev = 0, after_cid = 0;
    int rc;
    *snap = NULL;
    if (!q->as_of)
        return 0;
    if (q->order != FL_INDEX_ORDER_KEY)
        return fl_err_set(err, -EINVAL, "index query: as_of needs key order");
    if ((rc = meta_value(r, "changelog_floor", &floor, err)) < 0 ||
        (rc = meta_value(r, "revision", &rev, err)) < 0)
        return rc;
    if (q->as_of < floor)
        return fl_err_set(err, FL_EGONE, "too old resource version: %lld (%lld)",
                          (long long)q->as_of, (long long)floor);
    if (q->as_of >= rev)
        return 0;
    if (q->after_cluster && (rc = cluster_id(r, q->after_cluster, &after_cid, err)) < 0)
        return rc;
    return idx_hist_snap_new(r, q, after_cid, snap, err);
}

/* Before the current row at s: the past states that sort before it. */
static int snapshot_before(fl_index_reader *r, hist_snap *snap, const fl_index_query *q,
                           sqlite3_stmt *s, fl_index_row_cb cb, void *arg, int64_t *n, fl_err *err)
{
    int64_t cid = 0;
    int rc = cluster_id(r, col(s, 0), &cid, err);
    if (rc == 0)
        rc = idx_hist_snap_emit(r, snap, q, col(s, 5), col(s, 6), cid, cb, arg, n, err);
    return rc;
}

int fl_index_list(fl_index_reader *r, const fl_index_query *q, fl_index_row_cb cb, void *arg,
                  int64_t *n_out, fl_err *err)
{
    int64_t n = 0;
    int cbrc = 0, rc;
    hist_snap *snap = NULL;
    qb *b = qb_new();
    if (!b)
        return -ENOMEM;
    if ((rc = build_list(r, q, b, err)) < 0 || (rc = snapshot_open(r, q, &snap, err)) < 0)
        goto out;
    sqlite3_stmt *s = b->empty ? NULL : bind_all(r, b);
    if (!s && !b->empty) {
        rc = rfail(r, err, "list");
        goto out;
    }
    while (s && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        fl_index_row row;
        if (snap && ((cbrc = snapshot_before(r, snap, q, s, cb, arg, &n, err)) != 0 ||
                     (q->limit > 0 && n >= q->limit)))
            break;
        if ((cbrc = fill_row(r, s, 0, &row, err)) != 0)
            break;
        n++;
        if ((cbrc = cb(arg, &row)) != 0)
            break;
    }
    if (s) {
        rc = cbrc ? cbrc : rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rfail(r, err, "list");
        sqlite3_reset(s);
    }
    if (rc == 0 && snap && !b->empty)
        rc = idx_hist_snap_emit(r, snap, q, NULL, NULL, 0, cb, arg, &n, err);
out:
    idx_hist_snap_free(snap);
    qb_free(b);
    if (rc == 0 && n_out)
        *n_out = n;
    return rc;
}

int fl_index_count(fl_index_reader *r, const fl_index_query *q, int64_t *out, fl_err *err)
{
    qb *b = NULL;
    int64_t n = 0;
    int rc = check_query(q, err);
    if (rc < 0)
        return rc;
    if (!(b = qb_new()))
        return -ENOMEM;
    if ((rc = choose_driver(r, q, &b->drv, err)) < 0)
        goto out;
    build_head(q, b, true);
    if ((rc = build_where(r, q, b, err)) < 0 || (rc = b->rc) < 0)
        goto out;
    if (!b->empty) {
        sqlite3_stmt *s = bind_all(r, b);
        if (!s || sqlite3_step(s) != SQLITE_ROW) {
            rc = rfail(r, err, "count");
            if (s)
                sqlite3_reset(s);
            goto out;
        }
        n = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
out:
    qb_free(b);
    if (rc == 0)
        *out = n;
    return rc;
}

/* One statement, prepared once per reader: a point lookup on objects_key
 * (gvr_id, ns, name, cluster_id). */
static const char GET_SQL[] =
    "SELECT c.name, g.grp, g.ver, g.res, g.kind, o.ns, o.name, o.uid, o.rv, o.owner_uid,"
    " o.revision, o.created, o.synced_ms, o.deleted_ms, o.json"
    " FROM objects o CROSS JOIN clusters c CROSS JOIN gvrs g"
    " WHERE o.gvr_id IN (SELECT id FROM gvrs WHERE grp = ?1 AND res = ?2"
    " AND (?3 IS NULL OR ver = ?3)) AND o.ns = ?4 AND o.name = ?5"
    " AND o.cluster_id = (SELECT id FROM clusters WHERE name = ?6) AND o.deleted_ms IS NULL"
    " AND c.id = o.cluster_id AND g.id = o.gvr_id LIMIT 1";

int fl_index_get(fl_index_reader *r, const fl_index_key *k, fl_index_row_cb cb, void *arg,
                 fl_err *err)
{
    const char *ns = k->namespace_ ? k->namespace_ : "";
    int rc, cbrc = 0;
    if (!k->cluster || !k->name || !k->group || !k->resource)
        return fl_err_set(err, -EINVAL,
                          "index get: cluster, group, resource and name are required");
    sqlite3_stmt *s = prep(r, GET_SQL);
    if (!s)
        return rfail(r, err, "get");
    sqlite3_bind_text(s, 1, k->group, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, k->resource, -1, SQLITE_STATIC);
    if (k->version)
        sqlite3_bind_text(s, 3, k->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, k->cluster, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        fl_index_row row;
        rc = fill_row(r, s, 0, &row, err);
        if (rc == 0)
            cbrc = cb(arg, &row);
    } else if (rc == SQLITE_DONE) {
        rc = fl_err_set(err, FL_ENOTFOUND, "index get: %s/%s not found", ns, k->name);
    } else {
        rc = rfail(r, err, "get");
    }
    sqlite3_reset(s);
    return cbrc ? cbrc : rc;
}

/* ------------------------------------------------------------ change log */

typedef struct change_ctx {
    fl_index_change_row_cb cb;
    void *arg;
    const char *type;
    int64_t rev;
} change_ctx;

static int change_state(void *arg, const fl_index_row *row)
{
    change_ctx *x = arg;
    return x->cb(x->arg, x->type, false, x->rev, row);
}

int fl_index_changes(fl_index_reader *r, int64_t from_rev, int64_t limit, fl_index_change_row_cb cb,
                     void *arg, int64_t *oldest_out, fl_err *err)
{
    static const char *const types[] = {"", "ADDED", "MODIFIED", "DELETED"};
    int64_t floor = 0;
    int cbrc = 0, rc = meta_value(r, "changelog_floor", &floor, err);
    if (rc < 0)
        return rc;
    if (from_rev < floor) {
        if (oldest_out)
            *oldest_out = floor;
        return fl_err_set(err, FL_EGONE, "too old resource version: %lld (%lld)",
                          (long long)from_rev, (long long)floor);
    }
    sqlite3_stmt *s = prep(
        r, "SELECT l.revision, l.type, c.name, g.grp, g.ver, g.res, g.kind, o.ns, o.name, o.uid,"
           " o.rv, o.owner_uid, o.revision, o.created, o.synced_ms, o.deleted_ms, o.json, l.obj_id"
           " FROM changelog l LEFT JOIN objects o ON o.id = l.obj_id"
           " LEFT JOIN clusters c ON c.id = o.cluster_id LEFT JOIN gvrs g ON g.id = o.gvr_id"
           " WHERE l.revision > ? ORDER BY l.revision LIMIT ?");
    if (!s)
        return rfail(r, err, "changes");
    sqlite3_bind_int64(s, 1, from_rev);
    sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        change_ctx x = {cb, arg, types[0], 0};
        int t = sqlite3_column_int(s, 1);
        fl_index_row row;
        x.rev = sqlite3_column_int64(s, 0);
        x.type = types[t >= 1 && t <= 3 ? t : 0];
        if ((cbrc = fill_row(r, s, 2, &row, err)) != 0)
            break;
        bool gone = sqlite3_column_type(s, 12) == SQLITE_NULL;
        if (!gone && row.revision != x.rev) { /* replaced since: its state then */
            cbrc = idx_hist_state(r, sqlite3_column_int64(s, 17), x.rev, change_state, &x, err);
            if (cbrc != FL_ENOTFOUND) {
                if (cbrc != 0)
                    break;
                continue;
            }
            cbrc = 0;
            gone = true;
        }
        if (gone)
            row.json = NULL, row.json_len = 0;
        if ((cbrc = cb(arg, x.type, gone, x.rev, &row)) != 0)
            break;
    }
    rc = cbrc ? cbrc : rc == SQLITE_DONE ? 0 : rfail(r, err, "changes");
    sqlite3_reset(s);
    return rc;
}

/* ------------------------------------------------------------ sync state */

int fl_index_sync_get(fl_index_reader *r, const fl_index_src *src, fl_index_sync *out, fl_err *err)
{
    sqlite3_stmt *s = prep(
        r, "SELECT s.resource_version, s.phase, s.last_list_ms, s.last_event_ms, s.object_count,"
           " s.lag_ms, s.last_error FROM sync_state s JOIN clusters c ON c.id = s.cluster_id"
           " JOIN gvrs g ON g.id = s.gvr_id WHERE c.name = ? AND g.grp = ? AND g.ver = ?"
           " AND g.res = ?");
    if (!s)
        return rfail(r, err, "sync state");
    sqlite3_bind_text(s, 1, src->cluster, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, src->group, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, src->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, src->resource, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        fl_index_sync st;
        memset(&st, 0, sizeof st);
        fl_strlcpy(st.resource_version, col(s, 0), sizeof st.resource_version);
        fl_strlcpy(st.phase, col(s, 1), sizeof st.phase);
        st.last_list_ms = sqlite3_column_int64(s, 2);
        st.last_event_ms = sqlite3_column_int64(s, 3);
        st.object_count = sqlite3_column_int64(s, 4);
        st.lag_ms = sqlite3_column_int64(s, 5);
        fl_strlcpy(st.last_error, col(s, 6), sizeof st.last_error);
        *out = st;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return fl_err_set(err, FL_ENOTFOUND, "no sync state for %s %s/%s", src->cluster, src->group,
                          src->resource);
    return rfail(r, err, "sync state");
}
