/*
 * index/facts_read.c: reads of the materialized pod and node fields —
 * usage sums by namespace or node, node capacity lists, one pod's facts.
 * Reader-side, one thread per reader at a time (see index.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

/* These reads prepare their own statements per call: they are aggregates,
 * not hot point lookups. */

static int ffail(sqlite3 *db, fl_err *err, const char *what)
{
    return fl_err_set(err, FL_ESQL, "index reader: %s: %s", what, sqlite3_errmsg(db));
}

static const char *col(sqlite3_stmt *s, int i)
{
    const char *v = (const char *)sqlite3_column_text(s, i);
    return v ? v : "";
}

static int usage(fl_index_reader *r, const char *sql, const char *a, const char *b,
                 fl_index_usage_cb cb, void *arg, fl_err *err)
{
    sqlite3 *db = fl_index_reader_db(r);
    sqlite3_stmt *s = NULL;
    int rc, cbrc = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return ffail(db, err, "usage");
    if (a)
        sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        fl_index_usage u = {col(s, 0), col(s, 1), col(s, 2), sqlite3_column_int64(s, 3),
                            sqlite3_column_int64(s, 4)};
        if ((cbrc = cb(arg, &u)) != 0)
            break;
    }
    rc = cbrc ? cbrc : rc == SQLITE_DONE ? 0 : ffail(db, err, "usage");
    sqlite3_finalize(s);
    return rc;
}

int fl_index_usage_by_namespace(fl_index_reader *r, const char *cluster, const char *namespace_,
                                fl_index_usage_cb cb, void *arg, fl_err *err)
{
    return usage(
        r,
        "SELECT c.name, p.ns, x.resource, sum(x.requests), sum(x.limits) FROM pods p"
        " JOIN pod_resources x ON x.obj_id = p.obj_id JOIN clusters c ON c.id = p.cluster_id"
        " WHERE p.terminal = 0 AND (?1 IS NULL OR c.name = ?1) AND (?2 IS NULL OR p.ns = ?2)"
        " GROUP BY p.cluster_id, p.ns, x.resource ORDER BY c.name, p.ns, x.resource",
        cluster, namespace_, cb, arg, err);
}

int fl_index_usage_by_node(fl_index_reader *r, const char *cluster, fl_index_usage_cb cb, void *arg,
                           fl_err *err)
{
    return usage(
        r,
        "SELECT c.name, p.node, x.resource, sum(x.requests), sum(x.limits) FROM pods p"
        " JOIN pod_resources x ON x.obj_id = p.obj_id JOIN clusters c ON c.id = p.cluster_id"
        " WHERE p.terminal = 0 AND p.node != '' AND (?1 IS NULL OR c.name = ?1)"
        " GROUP BY p.cluster_id, p.node, x.resource ORDER BY c.name, p.node, x.resource",
        cluster, NULL, cb, arg, err);
}

/* Resources of one node into parallel arrays (caller frees names). */
typedef struct node_res {
    char **names;
    int64_t *cap, *alloc;
    size_t n;
    size_t names_cap, cap_cap, alloc_cap; /* each array's own capacity */
} node_res;

static void node_res_clear(node_res *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->names[i]);
    x->n = 0;
}

static int node_res_push(node_res *x, const char *name, int64_t c, int64_t a)
{
    if (fl_grow(&x->names, &x->names_cap, x->n + 1, sizeof *x->names) < 0 ||
        fl_grow(&x->cap, &x->cap_cap, x->n + 1, sizeof *x->cap) < 0 ||
        fl_grow(&x->alloc, &x->alloc_cap, x->n + 1, sizeof *x->alloc) < 0)
        return -ENOMEM;
    if (!(x->names[x->n] = fl_strndup(name, strlen(name))))
        return -ENOMEM;
    x->cap[x->n] = c, x->alloc[x->n] = a;
    x->n++;
    return 0;
}

static int load_res(sqlite3_stmt *rs, int64_t id, node_res *x)
{
    int rc;
    node_res_clear(x);
    sqlite3_reset(rs);
    sqlite3_bind_int64(rs, 1, id);
    while ((rc = sqlite3_step(rs)) == SQLITE_ROW)
        if (node_res_push(x, col(rs, 0), sqlite3_column_int64(rs, 1), sqlite3_column_int64(rs, 2)) <
            0)
            return -ENOMEM;
    return rc == SQLITE_DONE ? 0 : FL_ESQL;
}

int fl_index_nodes(fl_index_reader *r, const char *cluster, fl_index_node_cb cb, void *arg,
                   fl_err *err)
{
    sqlite3 *db = fl_index_reader_db(r);
    sqlite3_stmt *s = NULL, *rs = NULL;
    node_res x = {0};
    int rc;
    if (sqlite3_prepare_v2(
            db,
            "SELECT n.obj_id, c.name, o.name, n.region, n.zone, n.ready, n.unschedulable,"
            " n.taints FROM nodes n JOIN objects o ON o.id = n.obj_id"
            " JOIN clusters c ON c.id = n.cluster_id WHERE (?1 IS NULL OR c.name = ?1)"
            " ORDER BY c.name, o.name",
            -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT resource, capacity, allocatable FROM node_resources"
                           " WHERE obj_id = ? ORDER BY resource",
                           -1, &rs, NULL) != SQLITE_OK) {
        rc = ffail(db, err, "nodes");
        goto out;
    }
    if (cluster)
        sqlite3_bind_text(s, 1, cluster, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = load_res(rs, sqlite3_column_int64(s, 0), &x)) < 0) {
            rc = rc == FL_ESQL ? ffail(db, err, "node resources") : rc;
            goto out;
        }
        fl_index_node n = {col(s, 1),
                           col(s, 2),
                           col(s, 3),
                           col(s, 4),
                           sqlite3_column_int(s, 5) != 0,
                           sqlite3_column_int(s, 6) != 0,
                           col(s, 7),
                           x.n,
                           (const char *const *)x.names,
                           x.cap,
                           x.alloc};
        if ((rc = cb(arg, &n)) != 0)
            goto out;
    }
    rc = rc == SQLITE_DONE ? 0 : ffail(db, err, "nodes");
out:
    node_res_clear(&x);
    free(x.names), free(x.cap), free(x.alloc);
    sqlite3_finalize(s);
    sqlite3_finalize(rs);
    return rc;
}

int fl_index_pod_get(fl_index_reader *r, const fl_index_key *k, fl_index_pod *out, fl_err *err)
{
    sqlite3 *db = fl_index_reader_db(r);
    sqlite3_stmt *s = NULL;
    int rc;
    if (sqlite3_prepare_v2(
            db,
            "SELECT p.node, p.phase, p.qos, p.prio_class, p.terminal FROM pods p"
            " JOIN objects o ON o.id = p.obj_id JOIN clusters c ON c.id = o.cluster_id"
            " JOIN gvrs g ON g.id = o.gvr_id WHERE c.name = ? AND g.grp = '' AND g.res = 'pods'"
            " AND o.ns = ? AND o.name = ? AND o.deleted_ms IS NULL LIMIT 1",
            -1, &s, NULL) != SQLITE_OK)
        return ffail(db, err, "pod");
    sqlite3_bind_text(s, 1, k->cluster ? k->cluster : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, k->namespace_ ? k->namespace_ : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, k->name ? k->name : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        fl_index_pod p;
        memset(&p, 0, sizeof p);
        fl_strlcpy(p.node, col(s, 0), sizeof p.node);
        fl_strlcpy(p.phase, col(s, 1), sizeof p.phase);
        fl_strlcpy(p.qos, col(s, 2), sizeof p.qos);
        fl_strlcpy(p.priority_class, col(s, 3), sizeof p.priority_class);
        p.terminal = sqlite3_column_int(s, 4) != 0;
        *out = p;
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = fl_err_set(err, FL_ENOTFOUND, "pod %s/%s not found",
                        k->namespace_ ? k->namespace_ : "", k->name ? k->name : "");
    } else {
        rc = ffail(db, err, "pod");
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---------------------------------------------------------------- quota */

/* The current pod of fl_index_pod_quota_list: its rows gathered, names
 * copied (sqlite's text is gone at the next step). */
typedef struct qpod {
    char cluster[256], name[256];
    bool terminal, plain, have;
    size_t n, cap;
    char **res;
    int64_t *req, *lim;
    int *fmt;
} qpod;

static void qpod_done(qpod *p)
{
    for (size_t i = 0; i < p->cap; i++)
        free(p->res[i]);
    free(p->res), free(p->req), free(p->lim), free(p->fmt);
}

static int qpod_add(qpod *p, sqlite3_stmt *s)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        char **res = realloc(p->res, cap * sizeof *res);
        if (res)
            p->res = res, memset(res + p->cap, 0, (cap - p->cap) * sizeof *res);
        int64_t *req = res ? realloc(p->req, cap * sizeof *req) : NULL;
        if (req)
            p->req = req;
        int64_t *lim = req ? realloc(p->lim, cap * sizeof *lim) : NULL;
        if (lim)
            p->lim = lim;
        int *fmt = lim ? realloc(p->fmt, cap * sizeof *fmt) : NULL;
        if (!fmt)
            return -ENOMEM;
        p->fmt = fmt, p->cap = cap;
    }
    const char *name = col(s, 5);
    size_t len = strlen(name);
    char *slot = realloc(p->res[p->n], len + 1);
    if (!slot)
        return -ENOMEM;
    memcpy(slot, name, len + 1);
    p->res[p->n] = slot;
    p->req[p->n] = sqlite3_column_int64(s, 6);
    p->lim[p->n] = sqlite3_column_int64(s, 7);
    p->fmt[p->n++] = sqlite3_column_int(s, 8);
    return 0;
}

static int qpod_emit(qpod *p, fl_index_pod_quota_cb cb, void *arg)
{
    if (!p->have)
        return 0;
    fl_index_pod_quota q = {
        p->cluster, p->name, p->terminal, true, p->n, (const char *const *)p->res,
        p->req,     p->lim,  p->fmt,      NULL, 0};
    p->have = false;
    return cb(arg, &q);
}

int fl_index_pod_quota_list(fl_index_reader *r, const char *const *clusters, size_t n_clusters,
                            const char *namespace_, fl_index_pod_quota_cb cb, void *arg,
                            fl_err *err)
{
    sqlite3 *db = fl_index_reader_db(r);
    sqlite3_stmt *s = NULL;
    fl_buf sql = FL_BUF_INIT(1u << 20);
    qpod p = {0};
    int64_t last_id = -1;
    int rc = 0, step;
    if (n_clusters == 0)
        return 0;
    rc = fl_buf_puts(&sql,
                     "SELECT c.name, o.name, p.terminal, p.quota_plain,"
                     " CASE WHEN p.quota_plain THEN NULL ELSE o.json END, r.resource, r.requests,"
                     " r.limits, r.fmt, o.id FROM objects o JOIN pods p ON p.obj_id = o.id"
                     " JOIN clusters c ON c.id = o.cluster_id"
                     " LEFT JOIN pod_resources r ON p.quota_plain AND r.obj_id = o.id"
                     " AND r.resource != 'pods'"
                     " WHERE o.gvr_id IN (SELECT id FROM gvrs WHERE grp = '' AND res = 'pods')"
                     " AND o.ns = ?1 AND o.deleted_ms IS NULL AND c.name IN (");
    for (size_t i = 0; !rc && i < n_clusters; i++)
        rc = fl_buf_printf(&sql, "%s?%zu", i ? ", " : "", i + 2);
    if (!rc)
        rc = fl_buf_puts(&sql, ") ORDER BY o.name, o.cluster_id");
    if (rc) {
        fl_buf_done(&sql);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    if (sqlite3_prepare_v2(db, sql.data, -1, &s, NULL) != SQLITE_OK) {
        fl_buf_done(&sql);
        return ffail(db, err, "pod quota");
    }
    fl_buf_done(&sql);
    sqlite3_bind_text(s, 1, namespace_ ? namespace_ : "", -1, SQLITE_STATIC);
    for (size_t i = 0; i < n_clusters; i++)
        sqlite3_bind_text(s, (int)i + 2, clusters[i], -1, SQLITE_STATIC);
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 9);
        if (!sqlite3_column_int(s, 3)) { /* not plain: the object itself */
            fl_index_pod_quota q = {col(s, 0), col(s, 1), sqlite3_column_int(s, 2) != 0,
                                    false,     0,         NULL,
                                    NULL,      NULL,      NULL,
                                    NULL,      0};
            if ((rc = qpod_emit(&p, cb, arg)) == 0 &&
                (rc = idx_reader_json(r, s, 4, &q.json, &q.json_len, err)) == 0)
                rc = cb(arg, &q);
            last_id = -1;
            continue;
        }
        if (id != last_id) {
            if ((rc = qpod_emit(&p, cb, arg)) != 0)
                break;
            fl_strlcpy(p.cluster, col(s, 0), sizeof p.cluster);
            fl_strlcpy(p.name, col(s, 1), sizeof p.name);
            p.terminal = sqlite3_column_int(s, 2) != 0;
            p.have = true, p.n = 0, last_id = id;
        }
        if (sqlite3_column_type(s, 5) != SQLITE_NULL && qpod_add(&p, s) != 0)
            rc = fl_err_set(err, -ENOMEM, "out of memory");
    }
    if (!rc && step != SQLITE_DONE)
        rc = ffail(db, err, "pod quota");
    if (!rc)
        rc = qpod_emit(&p, cb, arg);
    sqlite3_finalize(s);
    qpod_done(&p);
    return rc;
}
