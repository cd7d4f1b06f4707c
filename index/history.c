/*
 * index/history.c: the earlier states of objects, so the change log can
 * replay each change with the object as it was at that revision and a
 * list can be read as of an earlier revision (a snapshot page).
 *
 * Rule: before the writer changes an objects row (update, tombstone, a new
 * incarnation under the same key), it copies the row as it is into
 * history, with `until` = the revision about to replace it. A history row
 * is therefore the state its object had for revisions [revision, until);
 * the state at revision R of an object whose row has revision > R is the
 * history row with revision <= R < until (none: the object did not exist
 * at R). JSON is copied as stored (a zstd frame stays one). Retention
 * follows the change log: rows with until <= changelog_floor are purged
 * with it, and nothing older than the floor is ever served.
 *
 * Writer side (hist_w): writer thread only. Reader side: functions taking
 * an fl_index_reader, on that reader's thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "index/index_int.h"

/* ------------------------------------------------------------ writer side */

struct hist_w {
    sqlite3 *db;
    sqlite3_stmt *keep, *purge;
};

int idx_hist_w_new(sqlite3 *db, hist_w **out, fl_err *err)
{
    hist_w *h = fl_calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->db = db;
    /* OR IGNORE, not OR REPLACE: `until` is a fresh revision, so no row is
     * ever there; and a statement that may replace or abort opens a statement
     * journal, whose savepoint makes FTS5 write out its pending terms as a new
     * segment: one segment per update in a transaction that also adds objects
     * (7x the FTS5 cost of such a transaction in a 20k-row test). */
    if (sqlite3_prepare_v3(
            db,
            "INSERT OR IGNORE INTO history(until, obj_id, revision, uid, rv, owner_uid, created,"
            " synced_ms, deleted_ms, json) SELECT ?1, id, revision, uid, rv, owner_uid, created,"
            " synced_ms, deleted_ms, json FROM objects WHERE id = ?2",
            -1, SQLITE_PREPARE_PERSISTENT, &h->keep, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db, "DELETE FROM history WHERE until <= ?", -1,
                           SQLITE_PREPARE_PERSISTENT, &h->purge, NULL) != SQLITE_OK) {
        int rc = fl_err_set(err, FL_ESQL, "index history: %s", sqlite3_errmsg(db));
        idx_hist_w_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void idx_hist_w_free(hist_w *h)
{
    if (!h)
        return;
    sqlite3_finalize(h->keep);
    sqlite3_finalize(h->purge);
    free(h);
}

static int step_once(hist_w *h, sqlite3_stmt *s, const char *what, fl_err *err)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return 0;
    return fl_err_set(err, FL_ESQL, "index history: %s: %s", what, sqlite3_errmsg(h->db));
}

int idx_hist_w_keep(hist_w *h, int64_t obj_id, int64_t until, fl_err *err)
{
    sqlite3_bind_int64(h->keep, 1, until);
    sqlite3_bind_int64(h->keep, 2, obj_id);
    return step_once(h, h->keep, "keep", err);
}

int idx_hist_w_purge(hist_w *h, int64_t floor, fl_err *err)
{
    sqlite3_bind_int64(h->purge, 1, floor);
    return step_once(h, h->purge, "purge", err);
}

/* ------------------------------------------------------------ reader side */

/* The row layout of reader.c's fill_row: key from objects, state from
 * history. */
static const char STATE_SQL[] =
    "SELECT c.name, g.grp, g.ver, g.res, g.kind, o.ns, o.name, h.uid, h.rv, h.owner_uid,"
    " h.revision, h.created, h.synced_ms, h.deleted_ms, h.json"
    " FROM history h CROSS JOIN objects o CROSS JOIN clusters c CROSS JOIN gvrs g"
    " WHERE h.obj_id = ?1 AND h.revision <= ?2 AND h.until > ?2 AND o.id = h.obj_id"
    " AND c.id = o.cluster_id AND g.id = o.gvr_id ORDER BY h.revision DESC LIMIT 1";

int idx_hist_state(fl_index_reader *r, int64_t obj_id, int64_t rev, hist_row_cb cb, void *arg,
                   fl_err *err)
{
    sqlite3_stmt *s = idx_reader_prep(r, STATE_SQL);
    int rc, cbrc = 0;
    if (!s)
        return idx_reader_fail(r, err, "history");
    sqlite3_bind_int64(s, 1, obj_id);
    sqlite3_bind_int64(s, 2, rev);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        fl_index_row row;
        if ((rc = idx_reader_fill_row(r, s, 0, &row, err)) == 0)
            cbrc = cb(arg, &row);
    } else {
        rc = rc == SQLITE_DONE ? FL_ENOTFOUND : idx_reader_fail(r, err, "history");
    }
    sqlite3_reset(s);
    return cbrc ? cbrc : rc;
}

/* --------------------------------------------------------- snapshot pages
 * A key-ordered list as of revision R is the merge, in key order, of
 *   - the rows the ordinary query selects among those unchanged since R
 *     (revision <= R: their state, labels and side tables are R's), and
 *   - for the rows changed after R, their state at R from history, when
 *     the object was live then; these are few (the changes since R) and
 *     are filtered here against the query's conditions on that state.
 * reader.c runs the first and calls hist_snap_before / hist_snap_rest. */

/* Changed rows a snapshot page merges at most: past that, the revision is
 * answered as expired (as kube-apiserver does once it compacted). */
#define SNAP_MAX 1000000

typedef struct snap_ent {
    int64_t obj_id, cid;
    char *ns, *name; /* one allocation: ns '\0' name '\0' */
} snap_ent;

struct hist_snap {
    snap_ent *v;
    size_t n, cap, next;
    int64_t as_of, after_cid;
};

void idx_hist_snap_free(hist_snap *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->v[i].ns);
    free(h->v);
    free(h);
}

static int snap_push(hist_snap *h, int64_t id, int64_t cid, const char *ns, const char *name)
{
    if (fl_grow(&h->v, &h->cap, h->n + 1, sizeof *h->v) < 0)
        return -ENOMEM;
    size_t a = strlen(ns), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return -ENOMEM;
    memcpy(p, ns, a + 1);
    memcpy(p + a + 1, name, b + 1);
    h->v[h->n++] = (snap_ent){id, cid, p, p + a + 1};
    return 0;
}

static bool in_list(const char *v, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, list[i]) == 0)
            return true;
    return false;
}

int idx_hist_key_cmp(const char *ns_a, const char *name_a, int64_t cid_a, const char *ns_b,
                     const char *name_b, int64_t cid_b)
{
    int c = strcmp(ns_a, ns_b);
    if (!c)
        c = strcmp(name_a, name_b);
    if (!c)
        c = (cid_a > cid_b) - (cid_a < cid_b);
    return c;
}

/* Rows of q's resource changed after as_of whose key passes q's key
 * conditions and cursor, in key order. */
static const char CHANGED_SQL[] =
    "SELECT o.id, o.cluster_id, c.name, o.ns, o.name FROM objects o CROSS JOIN clusters c"
    " WHERE o.gvr_id IN (SELECT id FROM gvrs WHERE grp = ?1 AND res = ?2"
    " AND (?3 IS NULL OR ver = ?3)) AND o.revision > ?4 AND c.id = o.cluster_id"
    " AND EXISTS (SELECT 1 FROM history h WHERE h.obj_id = o.id AND h.revision <= ?4"
    " AND h.until > ?4) ORDER BY o.ns, o.name, o.cluster_id";

int idx_hist_snap_new(fl_index_reader *r, const fl_index_query *q, int64_t after_cid,
                      hist_snap **out, fl_err *err)
{
    hist_snap *h = calloc(1, sizeof *h);
    int rc = 0;
    if (!h)
        return -ENOMEM;
    h->as_of = q->as_of;
    h->after_cid = after_cid;
    sqlite3_stmt *s = idx_reader_prep(r, CHANGED_SQL);
    if (!s) {
        idx_hist_snap_free(h);
        return idx_reader_fail(r, err, "snapshot");
    }
    sqlite3_bind_text(s, 1, q->group, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, q->resource, -1, SQLITE_STATIC);
    if (q->version)
        sqlite3_bind_text(s, 3, q->version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, q->as_of);
    while (rc == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0), cid = sqlite3_column_int64(s, 1);
        const char *cl = (const char *)sqlite3_column_text(s, 2);
        const char *ns = (const char *)sqlite3_column_text(s, 3);
        const char *name = (const char *)sqlite3_column_text(s, 4);
        rc = 0;
        if ((q->n_clusters && !in_list(cl, q->clusters, q->n_clusters)) ||
            (q->n_namespaces && !in_list(ns, q->namespaces, q->n_namespaces)) ||
            (q->n_names && !in_list(name, q->names, q->n_names)))
            continue;
        if (q->after_namespace &&
            idx_hist_key_cmp(ns, name, cid, q->after_namespace, q->after_name, after_cid) <= 0)
            continue;
        rc = h->n < SNAP_MAX ? snap_push(h, id, cid, ns, name)
                             : fl_err_set(err, FL_EGONE,
                                          "too old resource version: %lld (more "
                                          "than %d changes since)",
                                          (long long)q->as_of, SNAP_MAX);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && rc != 0) {
        rc = rc < 0 ? rc : idx_reader_fail(r, err, "snapshot");
        idx_hist_snap_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* ---------------------------------------------- conditions on a past state */

static bool label_ok(const fl_index_label_req *l, json_t *labels)
{
    const char *v = json_string_value(json_object_get(labels, l->key));
    bool in = false;
    for (size_t i = 0; v && i < l->n_values; i++)
        in = in || strcmp(v, l->values[i]) == 0;
    switch (l->op) {
    case FL_INDEX_LABEL_EQ:
    case FL_INDEX_LABEL_IN: return in;
    case FL_INDEX_LABEL_NE:
    case FL_INDEX_LABEL_NOTIN: return !in;
    case FL_INDEX_LABEL_EXISTS: return v != NULL;
    case FL_INDEX_LABEL_NOT_EXISTS: return v == NULL;
    case FL_INDEX_LABEL_GT:
    case FL_INDEX_LABEL_LT: {
        char *end = NULL, *end2 = NULL;
        if (!v || !*v)
            return false;
        long long a = strtoll(v, &end, 10), b = strtoll(l->values[0], &end2, 10);
        if (*end || *end2)
            return false;
        return l->op == FL_INDEX_LABEL_GT ? a > b : a < b;
    }
    }
    return false;
}

/* Whether row (a state from history) passes q's conditions on the
 * object's content: deletion, owner, creation time, labels, and full text
 * (a case-insensitive substring of the stored JSON here). */
static bool state_ok(const fl_index_query *q, const fl_index_row *row)
{
    if (row->deleted_ms && !q->include_deleted)
        return false;
    if (q->owner_uid && strcmp(row->owner_uid, q->owner_uid) != 0)
        return false;
    if ((q->created_since && row->created < q->created_since) ||
        (q->created_before && row->created >= q->created_before))
        return false;
    if (q->text && !strcasestr(row->json, q->text))
        return false;
    if (!q->n_labels)
        return true;
    json_t *obj = json_loadb(row->json, row->json_len, 0, NULL);
    json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    bool ok = obj != NULL;
    for (size_t i = 0; ok && i < q->n_labels; i++)
        ok = label_ok(&q->labels[i], labels);
    json_decref(obj);
    return ok;
}

typedef struct emit_ctx {
    const fl_index_query *q;
    fl_index_row_cb cb;
    void *arg;
    int64_t *n;
} emit_ctx;

static int emit_state(void *arg, const fl_index_row *row)
{
    emit_ctx *e = arg;
    if (!state_ok(e->q, row))
        return 0;
    ++*e->n;
    return e->cb(e->arg, row);
}

int idx_hist_snap_emit(fl_index_reader *r, hist_snap *h, const fl_index_query *q, const char *ns,
                       const char *name, int64_t cid, fl_index_row_cb cb, void *arg, int64_t *n,
                       fl_err *err)
{
    emit_ctx e = {q, cb, arg, n};
    while (h->next < h->n && !(q->limit > 0 && *n >= q->limit)) {
        snap_ent *x = &h->v[h->next];
        if (ns && idx_hist_key_cmp(x->ns, x->name, x->cid, ns, name, cid) >= 0)
            return 0;
        h->next++;
        int rc = idx_hist_state(r, x->obj_id, h->as_of, emit_state, &e, err);
        if (rc != 0 && rc != FL_ENOTFOUND)
            return rc;
    }
    return 0;
}
