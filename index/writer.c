/*
 * index/writer.c: the single writer — turns decoded items into SQL, one
 * transaction per batch: coalesce per key, look each key up, skip
 * unchanged resourceVersions, upsert/tombstone the row, rewrite side
 * tables only when what they hold changed, append to the change log, keep
 * sync state and relist marks; every row about to change is first copied
 * into history (history.c). Plus housekeeping (change-log retention,
 * tombstone purge). Everything here runs on the writer thread only; the
 * struct is private to it.
 *
 * A failed transaction (an allocation failure, SQLite's own included, or
 * an SQL error) is rolled back and leaves the writer as it was before it:
 * the records stay their items' (the coalescer and the pending sync-state
 * writes borrow them), relists dropped in the transaction come back and
 * those begun in it go, marks and counters return to their values at
 * BEGIN. So the caller can apply the same batch again (index.c retries
 * after an allocation failure).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/index_int.h"

enum { CH_ADDED = 1, CH_MODIFIED = 2, CH_DELETED = 3 };

enum {
    S_CL_GET,
    S_CL_INS,
    S_GVR_GET,
    S_GVR_INS,
    S_LOOKUP,
    S_INSERT,
    S_UPDATE,
    S_UPDATE_STATE,
    S_TOMB,
    S_LAB_DEL,
    S_FTS_DEL,
    S_FTS_INS,
    S_POD_GET,
    S_PODRES_GET,
    S_NODE_GET,
    S_NODERES_GET,
    S_POD_DEL,
    S_PODRES_DEL,
    S_NODE_DEL,
    S_NODERES_DEL,
    S_META,
    S_SYNC_RV,
    S_SYNC_ERR,
    S_SYNC_SET,
    S_SYNC_LIST,
    S_SCOPE_LIVE,
    S_COUNT_LIVE,
    S_N
};

static const char *const sql_text[S_N] = {
    [S_CL_GET] = "SELECT id FROM clusters WHERE name = ?",
    [S_CL_INS] = "INSERT INTO clusters(name) VALUES(?)",
    [S_GVR_GET] = "SELECT id FROM gvrs WHERE grp = ? AND res = ? AND ver = ?",
    [S_GVR_INS] = "INSERT INTO gvrs(grp, res, ver, kind) VALUES(?, ?, ?, ?)",
    [S_LOOKUP] = "SELECT id, rv, uid, labels_hash, fts_hash, facts_hash, deleted_ms, owner_uid,"
                 " created FROM objects"
                 " WHERE gvr_id = ? AND ns = ? AND name = ? AND cluster_id = ?",
    [S_INSERT] = "INSERT INTO objects(cluster_id, gvr_id, ns, name, uid, rv, owner_uid, created,"
                 " synced_ms, revision, labels_hash, fts_hash, facts_hash, json)"
                 " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [S_UPDATE] = "UPDATE objects SET uid = ?, rv = ?, owner_uid = ?, created = ?, synced_ms = ?,"
                 " deleted_ms = NULL, revision = ?, labels_hash = ?, fts_hash = ?,"
                 " facts_hash = ?, json = ? WHERE id = ?",
    /* the same live object (uid, owner, creation and liveness unchanged): only
     * the objects_rev entry moves, not those of objects_owner, _live, _deleted */
    [S_UPDATE_STATE] = "UPDATE objects SET rv = ?2, synced_ms = ?3, revision = ?4,"
                       " labels_hash = ?5, fts_hash = ?6, facts_hash = ?7, json = ?8"
                       " WHERE id = ?1",
    [S_TOMB] = "UPDATE objects SET deleted_ms = ?1, revision = ?2, json = coalesce(?3, json),"
               " rv = coalesce(?5, rv), labels_hash = 0, fts_hash = 0, facts_hash = 0"
               " WHERE id = ?4",
    [S_LAB_DEL] = "DELETE FROM labels WHERE obj_id = ?"
                  " RETURNING gvr_id, cluster_id, ns, name, key, value",
    [S_FTS_DEL] = "DELETE FROM fts WHERE rowid = ?",
    [S_FTS_INS] = "INSERT INTO fts(rowid, name, namespace, labels, annotations, images)"
                  " VALUES(?, ?, ?, ?, ?, ?)",
    /* read, then deleted by plain statements: DELETE ... RETURNING costs
     * about five times as much as a SELECT and a DELETE */
    [S_POD_GET] = "SELECT cluster_id, ns, node, terminal FROM pods WHERE obj_id = ?",
    [S_PODRES_GET] = "SELECT resource, requests, limits FROM pod_resources WHERE obj_id = ?",
    [S_NODE_GET] = "SELECT cluster_id, region, zone, ready, unschedulable,"
                   " (SELECT name FROM objects WHERE id = obj_id) FROM nodes WHERE obj_id = ?",
    [S_NODERES_GET] = "SELECT resource, allocatable FROM node_resources WHERE obj_id = ?",
    [S_POD_DEL] = "DELETE FROM pods WHERE obj_id = ?",
    [S_PODRES_DEL] = "DELETE FROM pod_resources WHERE obj_id = ?",
    [S_NODE_DEL] = "DELETE FROM nodes WHERE obj_id = ?",
    [S_NODERES_DEL] = "DELETE FROM node_resources WHERE obj_id = ?",
    [S_META] = "UPDATE meta SET value = ? WHERE key = ?",
    [S_SYNC_RV] = "INSERT INTO sync_state(cluster_id, gvr_id, resource_version, last_event_ms)"
                  " VALUES(?1, ?2, coalesce(?3, ''), ?4) ON CONFLICT DO UPDATE SET"
                  " resource_version = coalesce(?3, resource_version), last_event_ms = ?4",
    [S_SYNC_ERR] = "INSERT INTO sync_state(cluster_id, gvr_id, last_error) VALUES(?1, ?2, ?3)"
                   " ON CONFLICT DO UPDATE SET last_error = ?3",
    [S_SYNC_SET] = "INSERT INTO sync_state(cluster_id, gvr_id, phase, lag_ms, last_error)"
                   " VALUES(?1, ?2, coalesce(?3, ''), ?4, coalesce(?5, '')) ON CONFLICT DO UPDATE"
                   " SET phase = coalesce(?3, phase), lag_ms = ?4, last_error = coalesce(?5, '')",
    [S_SYNC_LIST] = "INSERT INTO sync_state(cluster_id, gvr_id, resource_version, phase,"
                    " last_list_ms, last_event_ms, object_count, last_error)"
                    " VALUES(?1, ?2, ?3, 'Synced', ?4, ?4, ?5, '') ON CONFLICT DO UPDATE SET"
                    " resource_version = ?3, phase = 'Synced', last_list_ms = ?4,"
                    " last_event_ms = ?4, object_count = ?5, last_error = ''",
    [S_SCOPE_LIVE] = "SELECT id FROM objects WHERE cluster_id = ? AND gvr_id = ?"
                     " AND deleted_ms IS NULL",
    [S_COUNT_LIVE] = "SELECT count(*) FROM objects WHERE cluster_id = ? AND gvr_id = ?"
                     " AND deleted_ms IS NULL",
};

/* An active relist: the object ids of its scope seen since _begin.
 * poisoned: a list item could not be read, so an object missing from the
 * marks may still exist on the member: the relist deletes nothing.
 * n0, poisoned0: their values when the open transaction began; fresh:
 * begun in it (a rollback forgets it). */
typedef struct relist {
    int64_t scope;
    int64_t *ids;
    size_t n, cap;
    int64_t poisoned; /* unreadable items seen */
    size_t n0;
    int64_t poisoned0;
    bool fresh;
} relist;

/* Per-batch pending sync-state write of one scope. */
typedef struct pend_rv {
    int64_t scope;
    const char *rv; /* borrowed from the batch's item; NULL: only last_event_ms */
} pend_rv;

#define PEND_MAX 64

struct idx_writer {
    sqlite3 *db;
    sqlite3_stmt *st[S_N];
    fl_index_opts o;
    idx_smap scopes; /* "cluster\0group\0version\0resource" -> cluster_id << 32 | gvr_id */
    coalescer coal;
    relist *relists;
    size_t n_relists, cap_relists;
    relist *dropped; /* relists ended in the open transaction (back on rollback) */
    size_t n_dropped, cap_dropped;
    pend_rv pend[PEND_MAX];
    size_t n_pend;
    zjw *zj;        /* compression of the stored JSON */
    hist_w *hist;   /* earlier states (history.c) */
    cap_delta *cap; /* the transaction's changes to the capacity totals */
    /* side rows queued by the objects of one flush_coal, written at its end */
    idx_rows *lab, *podres, *noderes, *pods, *nodes, *log;
    int64_t rev, floor, next_rev, now_ms;
    int64_t written, skipped, deleted, txns;
};

/* --------------------------------------------------------------- helpers */

/* SQLite's failure as ours: -ENOMEM when it ran out of memory (worth a
 * retry), else FL_ESQL. */
static int sqlfail(idx_writer *w, fl_err *err, const char *what)
{
    int rc = sqlite3_errcode(w->db) == SQLITE_NOMEM ? -ENOMEM : FL_ESQL;
    return fl_err_set(err, rc, "index writer: %s: %s", what, sqlite3_errmsg(w->db));
}

/* -ENOMEM with a message saying what ran out. */
static int oom(fl_err *err, const char *what)
{
    return fl_err_set(err, -ENOMEM, "index writer: %s: out of memory", what);
}

static sqlite3_stmt *fresh_stmt(idx_writer *w, int i)
{
    sqlite3_stmt *s = w->st[i];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static int done(idx_writer *w, sqlite3_stmt *s, fl_err *err, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlfail(w, err, what);
}

static int meta_get(idx_writer *w, const char *key, int64_t *out, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(w->db, "SELECT value FROM meta WHERE key = ?", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return sqlfail(w, err, "reading meta");
    }
    *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return 0;
}

static int meta_set(idx_writer *w, const char *key, int64_t v, fl_err *err)
{
    sqlite3_stmt *s = fresh_stmt(w, S_META);
    sqlite3_bind_int64(s, 1, v);
    bind_text_or_null(s, 2, key);
    return done(w, s, err, "meta");
}

int idx_writer_new(sqlite3 *db, const fl_index_opts *o, zjpub *pub, idx_writer **out, fl_err *err)
{
    idx_writer *w = fl_calloc(1, sizeof *w);
    int rc;
    if (!w)
        return -ENOMEM;
    w->db = db;
    w->o = *o;
    for (int i = 0; i < S_N; i++) {
        if (sqlite3_prepare_v3(db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &w->st[i], NULL)) {
            rc = fl_err_set(err, FL_ESQL, "preparing \"%s\": %s", sql_text[i], sqlite3_errmsg(db));
            goto fail;
        }
    }
    if ((rc = meta_get(w, "revision", &w->rev, err)) < 0 ||
        (rc = meta_get(w, "changelog_floor", &w->floor, err)) < 0 ||
        (rc = idx_zjw_new(db, pub, &w->zj, err)) < 0 ||
        (rc = idx_hist_w_new(db, &w->hist, err)) < 0 || (rc = idx_capacity_install(db, err)) < 0 ||
        (rc = idx_cap_delta_new(db, &w->cap, err)) < 0 ||
        (rc = idx_rows_new(db,
                           "INSERT OR IGNORE INTO labels(key, value, gvr_id, ns, name,"
                           " cluster_id, obj_id, created)",
                           8, &w->lab)) < 0 ||
        (rc = idx_rows_new(db,
                           "INSERT OR REPLACE INTO pod_resources(obj_id, resource, requests,"
                           " limits, fmt)",
                           5, &w->podres)) < 0 ||
        (rc = idx_rows_new(db,
                           "INSERT OR REPLACE INTO node_resources(obj_id, resource, capacity,"
                           " allocatable)",
                           4, &w->noderes)) < 0 ||
        (rc = idx_rows_new(db,
                           "INSERT INTO pods(obj_id, cluster_id, ns, node, phase, qos, prio_class,"
                           " terminal, quota_plain)",
                           9, &w->pods)) < 0 ||
        (rc = idx_rows_new(db,
                           "INSERT INTO nodes(obj_id, cluster_id, ready, unschedulable, taints,"
                           " region, zone)",
                           7, &w->nodes)) < 0 ||
        (rc = idx_rows_new(db, "INSERT INTO changelog(revision, obj_id, type)", 3, &w->log)) < 0)
        goto fail;
    *out = w;
    return 0;
fail:
    idx_writer_free(w);
    return rc;
}

static void relists_clear(idx_writer *w)
{
    for (size_t i = 0; i < w->n_relists; i++)
        free(w->relists[i].ids);
    for (size_t i = 0; i < w->n_dropped; i++)
        free(w->dropped[i].ids);
    free(w->relists);
    free(w->dropped);
    w->relists = w->dropped = NULL;
    w->n_relists = w->cap_relists = w->n_dropped = w->cap_dropped = 0;
}

void idx_writer_free(idx_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < S_N; i++)
        sqlite3_finalize(w->st[i]);
    idx_smap_clear(&w->scopes);
    idx_coal_done(&w->coal);
    relists_clear(w);
    idx_zjw_free(w->zj);
    idx_hist_w_free(w->hist);
    idx_cap_delta_free(w->cap);
    idx_rows_free(w->lab);
    idx_rows_free(w->podres);
    idx_rows_free(w->noderes);
    idx_rows_free(w->pods);
    idx_rows_free(w->nodes);
    idx_rows_free(w->log);
    free(w);
}

int64_t idx_writer_revision(const idx_writer *w)
{
    return w->rev;
}

void idx_writer_counts(const idx_writer *w, int64_t *written, int64_t *skipped, int64_t *deleted,
                       int64_t *coalesced, int64_t *txns)
{
    *written = w->written, *skipped = w->skipped, *deleted = w->deleted;
    *coalesced = w->coal.merged, *txns = w->txns;
}

/* ---------------------------------------------------------------- scopes */

static int intern(idx_writer *w, int get, int ins, const char *a, const char *b, const char *c,
                  const char *d, int64_t *id, fl_err *err)
{
    sqlite3_stmt *s = fresh_stmt(w, get);
    bind_text_or_null(s, 1, a), bind_text_or_null(s, 2, b), bind_text_or_null(s, 3, c);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        return 0;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return sqlfail(w, err, "interning");
    s = fresh_stmt(w, ins);
    bind_text_or_null(s, 1, a), bind_text_or_null(s, 2, b), bind_text_or_null(s, 3, c),
        bind_text_or_null(s, 4, d);
    if ((rc = done(w, s, err, "interning")) < 0)
        return rc;
    *id = sqlite3_last_insert_rowid(w->db);
    return 0;
}

static int scope_of(idx_writer *w, const fl_index_src *src, int64_t *scope, fl_err *err)
{
    char key[1024];
    int n = snprintf(key, sizeof key, "%s%c%s%c%s%c%s", src->cluster, 0, src->group, 0,
                     src->version, 0, src->resource);
    bool created;
    if (n < 0 || (size_t)n >= sizeof key)
        return fl_err_set(err, -E2BIG, "index writer: scope names too long");
    int64_t *v = idx_smap_put(&w->scopes, key, (size_t)n, &created);
    if (!v)
        return oom(err, "scope cache");
    if (!created && *v) {
        *scope = *v;
        return 0;
    }
    int64_t cid, gid;
    int rc = intern(w, S_CL_GET, S_CL_INS, src->cluster, NULL, NULL, NULL, &cid, err);
    if (rc == 0)
        rc = intern(w, S_GVR_GET, S_GVR_INS, src->group, src->resource, src->version, src->kind,
                    &gid, err);
    if (rc < 0)
        return rc;
    *v = cid << 32 | gid;
    *scope = *v;
    return 0;
}

static int64_t scope_cid(int64_t scope)
{
    return scope >> 32;
}
static int64_t scope_gid(int64_t scope)
{
    return scope & 0xffffffff;
}

/* --------------------------------------------------------------- relists */

static relist *relist_find(idx_writer *w, int64_t scope)
{
    for (size_t i = 0; i < w->n_relists; i++)
        if (w->relists[i].scope == scope)
            return &w->relists[i];
    return NULL;
}

static int relist_mark(idx_writer *w, int64_t scope, int64_t id)
{
    relist *r = relist_find(w, scope);
    if (!r)
        return 0;
    if (fl_grow(&r->ids, &r->cap, r->n + 1, sizeof *r->ids) < 0)
        return -ENOMEM;
    r->ids[r->n++] = id;
    return 0;
}

/* End scope's relist: kept aside until the transaction ends (a rollback
 * brings it back), freed at once when begun in this transaction. */
static int relist_drop(idx_writer *w, int64_t scope)
{
    relist *r = relist_find(w, scope);
    if (!r)
        return 0;
    if (r->fresh) {
        free(r->ids);
    } else {
        if (fl_grow(&w->dropped, &w->cap_dropped, w->n_dropped + 1, sizeof *w->dropped) < 0)
            return -ENOMEM;
        w->dropped[w->n_dropped++] = *r;
    }
    *r = w->relists[--w->n_relists];
    return 0;
}

static int relist_begin(idx_writer *w, int64_t scope)
{
    if (relist_drop(w, scope) < 0 ||
        fl_grow(&w->relists, &w->cap_relists, w->n_relists + 1, sizeof *w->relists) < 0)
        return -ENOMEM;
    w->relists[w->n_relists++] = (relist){.scope = scope, .fresh = true};
    return 0;
}

/* BEGIN: remember where every relist is. */
static void relists_mark_begin(idx_writer *w)
{
    for (size_t i = 0; i < w->n_relists; i++) {
        w->relists[i].n0 = w->relists[i].n;
        w->relists[i].poisoned0 = w->relists[i].poisoned;
        w->relists[i].fresh = false;
    }
}

/* COMMIT: the relists ended in the transaction are gone for good. */
static void relists_commit(idx_writer *w)
{
    for (size_t i = 0; i < w->n_dropped; i++)
        free(w->dropped[i].ids);
    w->n_dropped = 0;
}

/* ROLLBACK: the relists as they were at BEGIN. Cannot fail: the dropped
 * ones come back into room their removal left (every dropped relist was
 * on relists at BEGIN, and relists never shrinks its capacity). */
static void relists_rollback(idx_writer *w)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n_relists; i++) {
        if (w->relists[i].fresh)
            free(w->relists[i].ids);
        else
            w->relists[k++] = w->relists[i];
    }
    w->n_relists = k;
    for (size_t i = 0; i < w->n_dropped; i++)
        w->relists[w->n_relists++] = w->dropped[i];
    w->n_dropped = 0;
    for (size_t i = 0; i < w->n_relists; i++) {
        w->relists[i].n = w->relists[i].n0;
        w->relists[i].poisoned = w->relists[i].poisoned0;
    }
}

/* ------------------------------------------------------------- side data */

/* Queued (flush_side): nothing reads the change log inside the transaction. */
static int log_change(idx_writer *w, int64_t id, int type, fl_err *err)
{
    idx_val *v = idx_rows_add(w->log);
    if (!v)
        return oom(err, "change log");
    v[0].i = ++w->next_rev;
    v[1].i = id;
    v[2].i = type;
    return 0;
}

static int del_by_id(idx_writer *w, int st, int64_t id, fl_err *err)
{
    sqlite3_stmt *s = fresh_stmt(w, st);
    sqlite3_bind_int64(s, 1, id);
    return done(w, s, err, sql_text[st]);
}

static void val_text(idx_val *v, const char *s)
{
    v->text = true;
    v->s = s;
}

/* One row per label, carrying the object's key (schema v3) so that a
 * selector page is one index range in key order, and its creation time
 * (v7: the SQL language's label page in creation order); queued
 * (flush_side). */
static int write_labels(idx_writer *w, int64_t scope, int64_t id, const fl_rec *r, fl_err *err)
{
    for (size_t i = 0; i < r->n_labels; i++) {
        idx_val *v = idx_rows_add(w->lab);
        if (!v)
            return oom(err, "labels");
        const char *k = r->labels[2 * i] ? r->labels[2 * i] : "",
                   *val = r->labels[2 * i + 1] ? r->labels[2 * i + 1] : "";
        val_text(&v[0], r->labels[2 * i]), val_text(&v[1], r->labels[2 * i + 1]);
        v[2].i = scope_gid(scope);
        val_text(&v[3], r->ns), val_text(&v[4], r->name);
        v[5].i = scope_cid(scope);
        v[6].i = id;
        v[7].i = r->created;
        /* the row is new unless the record names the label twice (OR IGNORE
         * keeps the first): the object's old rows are gone by now */
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = r->labels[2 * j] && strcmp(r->labels[2 * j], k) == 0 && r->labels[2 * j + 1] &&
                  strcmp(r->labels[2 * j + 1], val) == 0;
        int rc = dup ? 0
                     : idx_cap_label(w->cap, scope_gid(scope), scope_cid(scope), r->ns ? r->ns : "",
                                     r->name ? r->name : "", k, val, 1, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Write the side rows queued since the last call. Called before the
 * records they point into are freed, and before anything reads or deletes
 * side rows of an object upserted since (each key is upserted at most once
 * per flush_coal). */
static int flush_side(idx_writer *w, fl_err *err)
{
    idx_rows *q[] = {w->lab, w->pods, w->podres, w->nodes, w->noderes, w->log};
    int rc = 0;
    for (size_t i = 0; i < FL_ARRAY_LEN(q) && rc == 0; i++)
        rc = idx_rows_flush(q[i], err);
    return rc;
}

static void drop_side(idx_writer *w)
{
    idx_rows *q[] = {w->lab, w->pods, w->podres, w->nodes, w->noderes, w->log};
    for (size_t i = 0; i < FL_ARRAY_LEN(q); i++)
        idx_rows_reset(q[i]);
}

static const char *col_str(sqlite3_stmt *s, int i);

/* Delete id's label rows, handing each to the capacity totals (a node's
 * labels group its capacity). */
static int del_labels(idx_writer *w, int64_t id, fl_err *err)
{
    sqlite3_stmt *s = fresh_stmt(w, S_LAB_DEL);
    int rc = 0, src = SQLITE_DONE;
    sqlite3_bind_int64(s, 1, id);
    while (rc == 0 && (src = sqlite3_step(s)) == SQLITE_ROW)
        rc = idx_cap_label(w->cap, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                           col_str(s, 2), col_str(s, 3), col_str(s, 4), col_str(s, 5), -1, err);
    sqlite3_reset(s);
    return rc < 0 ? rc : src == SQLITE_DONE ? 0 : sqlfail(w, err, "labels");
}

static int write_fts(idx_writer *w, int64_t id, const fl_rec *r, fl_err *err)
{
    sqlite3_stmt *s = fresh_stmt(w, S_FTS_INS);
    sqlite3_bind_int64(s, 1, id);
    bind_text_or_null(s, 2, r->name), bind_text_or_null(s, 3, r->ns),
        bind_text_or_null(s, 4, r->fts_labels);
    bind_text_or_null(s, 5, r->fts_annotations), bind_text_or_null(s, 6, r->fts_images);
    return done(w, s, err, "fts");
}

static const char *col_str(sqlite3_stmt *s, int i)
{
    const char *v = (const char *)sqlite3_column_text(s, i);
    return v ? v : "";
}

/* Delete the fact rows of id, handing each deleted row to the capacity
 * totals: a pod's row and resources, else a node's. */
static int del_facts(idx_writer *w, int64_t id, fl_err *err)
{
    sqlite3_stmt *p = fresh_stmt(w, S_POD_GET), *s;
    int rc = 0, prc;
    sqlite3_bind_int64(p, 1, id);
    if ((prc = sqlite3_step(p)) != SQLITE_ROW && prc != SQLITE_DONE)
        return sqlfail(w, err, "pod facts");
    bool pod = prc == SQLITE_ROW;
    if (pod) { /* p stays on its row while the resources are read */
        s = fresh_stmt(w, S_PODRES_GET);
        sqlite3_bind_int64(s, 1, id);
        int64_t cid = sqlite3_column_int64(p, 0);
        bool terminal = sqlite3_column_int(p, 3) != 0;
        while (rc == 0 && (prc = sqlite3_step(s)) == SQLITE_ROW)
            rc = idx_cap_pod_res(w->cap, cid, col_str(p, 1), col_str(p, 2), terminal, col_str(s, 0),
                                 sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2), -1);
    } else {
        sqlite3_reset(p);
        p = fresh_stmt(w, S_NODE_GET);
        sqlite3_bind_int64(p, 1, id);
        if ((prc = sqlite3_step(p)) != SQLITE_ROW) {
            sqlite3_reset(p);
            return prc == SQLITE_DONE ? 0 : sqlfail(w, err, "node facts");
        }
        int64_t cid = sqlite3_column_int64(p, 0);
        rc = idx_cap_node_state(w->cap, cid, col_str(p, 5), col_str(p, 1), col_str(p, 2),
                                sqlite3_column_int(p, 3) != 0, sqlite3_column_int(p, 4) != 0, -1);
        s = fresh_stmt(w, S_NODERES_GET);
        sqlite3_bind_int64(s, 1, id);
        while (rc == 0 && (prc = sqlite3_step(s)) == SQLITE_ROW)
            rc = idx_cap_node_res(w->cap, cid, col_str(p, 5), col_str(s, 0),
                                  sqlite3_column_int64(s, 1), -1);
    }
    if (rc == 0 && prc != SQLITE_DONE) /* before a reset clears SQLite's error */
        rc = sqlfail(w, err, pod ? "pod resources" : "node resources");
    sqlite3_reset(s);
    sqlite3_reset(p);
    if (rc < 0)
        return rc;
    if ((rc = del_by_id(w, pod ? S_POD_DEL : S_NODE_DEL, id, err)) < 0)
        return rc;
    return del_by_id(w, pod ? S_PODRES_DEL : S_NODERES_DEL, id, err);
}

static int write_facts(idx_writer *w, int64_t scope, int64_t id, const fl_rec *r, fl_err *err)
{
    int rc;
    idx_val *v = idx_rows_add(r->kind_facts == 1 ? w->pods : w->nodes);
    if (!v)
        return oom(err, "facts");
    v[0].i = id;
    v[1].i = scope_cid(scope);
    if (r->kind_facts == 1) {
        val_text(&v[2], r->ns), val_text(&v[3], r->node), val_text(&v[4], r->phase);
        val_text(&v[5], r->qos), val_text(&v[6], r->prio_class);
        v[7].i = r->terminal;
        v[8].i = r->quota_plain;
    } else {
        v[2].i = r->ready;
        v[3].i = r->unschedulable;
        val_text(&v[4], r->taints), val_text(&v[5], r->region), val_text(&v[6], r->zone);
    }
    int64_t cid = scope_cid(scope);
    if (r->kind_facts != 1 && (rc = idx_cap_node_state(w->cap, cid, r->name, r->region, r->zone,
                                                       r->ready, r->unschedulable, 1)) < 0)
        return rc;
    for (size_t i = 0; i < r->n_res; i++) {
        idx_val *rv = idx_rows_add(r->kind_facts == 1 ? w->podres : w->noderes);
        if (!rv)
            return oom(err, "resources");
        rv[0].i = id;
        val_text(&rv[1], r->res[i].name);
        rv[2].i = r->res[i].a;
        rv[3].i = r->res[i].b;
        if (r->kind_facts == 1)
            rv[4].i = r->res[i].fmt;
        rc = r->kind_facts == 1
                 ? idx_cap_pod_res(w->cap, cid, r->ns ? r->ns : "", r->node, r->terminal,
                                   r->res[i].name, r->res[i].a, r->res[i].b, 1)
                 : idx_cap_node_res(w->cap, cid, r->name, r->res[i].name, r->res[i].b, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ----------------------------------------------------------- object rows */

typedef struct existing {
    bool found, live;
    int64_t id;
    char rv[128], uid[128], owner_uid[128];
    int64_t labels_hash, fts_hash, facts_hash, created;
} existing;

static int lookup(idx_writer *w, int64_t scope, const fl_rec *r, existing *e, fl_err *err)
{
    sqlite3_stmt *s = fresh_stmt(w, S_LOOKUP);
    sqlite3_bind_int64(s, 1, scope_gid(scope));
    bind_text_or_null(s, 2, r->ns), bind_text_or_null(s, 3, r->name);
    sqlite3_bind_int64(s, 4, scope_cid(scope));
    int rc = sqlite3_step(s);
    memset(e, 0, sizeof *e);
    if (rc == SQLITE_ROW) {
        e->found = true;
        e->id = sqlite3_column_int64(s, 0);
        fl_strlcpy(e->rv, (const char *)sqlite3_column_text(s, 1), sizeof e->rv);
        fl_strlcpy(e->uid, (const char *)sqlite3_column_text(s, 2), sizeof e->uid);
        e->labels_hash = sqlite3_column_int64(s, 3);
        e->fts_hash = sqlite3_column_int64(s, 4);
        e->facts_hash = sqlite3_column_int64(s, 5);
        e->live = sqlite3_column_type(s, 6) == SQLITE_NULL;
        fl_strlcpy(e->owner_uid, col_str(s, 7), sizeof e->owner_uid);
        e->created = sqlite3_column_int64(s, 8);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlfail(w, err, "lookup");
}

/* Bind the stored form of r's JSON (compressed when its resource has a
 * dictionary: by a decoder when it used that dictionary, else here) at
 * parameter i. */
static int bind_json(idx_writer *w, sqlite3_stmt *s, int i, int64_t scope, const fl_rec *r,
                     fl_err *err)
{
    const void *p;
    size_t n;
    bool z;
    if (r->zjson && r->zdict == idx_zjw_dict(w->zj, scope_gid(scope))) {
        sqlite3_bind_blob(s, i, r->zjson, (int)r->zjson_len, SQLITE_STATIC);
        return 0;
    }
    int rc = idx_zjw_encode(w->zj, scope_gid(scope), r->json, r->json_len, &p, &n, &z, err);
    if (rc < 0)
        return rc;
    if (z)
        sqlite3_bind_blob(s, i, p, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_text(s, i, r->json, (int)r->json_len, SQLITE_STATIC);
    return 0;
}

static int bind_row(sqlite3_stmt *s, int at, idx_writer *w, int64_t scope, const fl_rec *r,
                    fl_err *err)
{
    bind_text_or_null(s, at, r->uid), bind_text_or_null(s, at + 1, r->rv),
        bind_text_or_null(s, at + 2, r->owner_uid);
    sqlite3_bind_int64(s, at + 3, r->created);
    sqlite3_bind_int64(s, at + 4, w->now_ms);
    sqlite3_bind_int64(s, at + 5, w->next_rev);
    sqlite3_bind_int64(s, at + 6, (int64_t)r->labels_hash);
    sqlite3_bind_int64(s, at + 7, (int64_t)r->fts_hash);
    sqlite3_bind_int64(s, at + 8, (int64_t)r->facts_hash);
    return bind_json(w, s, at + 9, scope, r, err);
}

static int upsert(idx_writer *w, int64_t scope, const fl_rec *r, fl_err *err)
{
    existing e;
    int rc = lookup(w, scope, r, &e, err);
    if (rc < 0)
        return rc;
    if (e.live && r->rv[0] && strcmp(e.rv, r->rv) == 0) {
        w->skipped++;
        return relist_mark(w, scope, e.id) < 0 ? oom(err, "relist marks") : 0;
    }
    bool same_obj = e.live && strcmp(e.uid, r->uid) == 0;
    if (e.live && !same_obj && (rc = log_change(w, e.id, CH_DELETED, err)) < 0)
        return rc; /* a new incarnation replaces the old one under the same key */
    int64_t id = e.id;
    sqlite3_stmt *s;
    if (!e.found) {
        s = fresh_stmt(w, S_INSERT);
        sqlite3_bind_int64(s, 1, scope_cid(scope));
        sqlite3_bind_int64(s, 2, scope_gid(scope));
        bind_text_or_null(s, 3, r->ns), bind_text_or_null(s, 4, r->name);
        w->next_rev++;
        rc = bind_row(s, 5, w, scope, r, err);
        w->next_rev--;
        if (rc < 0 || (rc = done(w, s, err, "insert")) < 0)
            return rc;
        id = sqlite3_last_insert_rowid(w->db);
    } else {
        if ((rc = idx_hist_w_keep(w->hist, id, w->next_rev + 1, err)) < 0)
            return rc;
        if (same_obj && strcmp(e.owner_uid, r->owner_uid ? r->owner_uid : "") == 0 &&
            e.created == r->created) {
            s = fresh_stmt(w, S_UPDATE_STATE);
            sqlite3_bind_int64(s, 1, id);
            bind_text_or_null(s, 2, r->rv);
            sqlite3_bind_int64(s, 3, w->now_ms);
            sqlite3_bind_int64(s, 4, w->next_rev + 1);
            sqlite3_bind_int64(s, 5, (int64_t)r->labels_hash);
            sqlite3_bind_int64(s, 6, (int64_t)r->fts_hash);
            sqlite3_bind_int64(s, 7, (int64_t)r->facts_hash);
            rc = bind_json(w, s, 8, scope, r, err);
        } else {
            s = fresh_stmt(w, S_UPDATE);
            w->next_rev++;
            rc = bind_row(s, 1, w, scope, r, err);
            w->next_rev--;
            sqlite3_bind_int64(s, 11, id);
        }
        if (rc < 0 || (rc = done(w, s, err, "update")) < 0)
            return rc;
    }
    if ((rc = log_change(w, id, same_obj ? CH_MODIFIED : CH_ADDED, err)) < 0)
        return rc;
    w->written++;
    /* label rows carry the creation time too: a new incarnation with the
     * same labels rewrites them */
    if (!e.live || e.labels_hash != (int64_t)r->labels_hash || e.created != r->created) {
        if ((e.live && (rc = del_labels(w, id, err)) < 0) ||
            (rc = write_labels(w, scope, id, r, err)) < 0)
            return rc;
    }
    if (!e.live || e.fts_hash != (int64_t)r->fts_hash) {
        if ((e.live && (rc = del_by_id(w, S_FTS_DEL, id, err)) < 0) ||
            (rc = write_fts(w, id, r, err)) < 0)
            return rc;
    }
    if (!e.live || e.facts_hash != (int64_t)r->facts_hash) {
        if ((e.live && e.facts_hash && (rc = del_facts(w, id, err)) < 0) ||
            (r->kind_facts && (rc = write_facts(w, scope, id, r, err)) < 0))
            return rc;
    }
    return relist_mark(w, scope, id) < 0 ? oom(err, "relist marks") : 0;
}

/* Tombstone a live row (json NULL keeps the stored last state). */
static int tombstone(idx_writer *w, int64_t scope, int64_t id, const fl_rec *r, bool had_facts,
                     fl_err *err)
{
    int rc = idx_hist_w_keep(w->hist, id, w->next_rev + 1, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *s = fresh_stmt(w, S_TOMB);
    sqlite3_bind_int64(s, 1, w->now_ms);
    sqlite3_bind_int64(s, 2, w->next_rev + 1);
    if (r)
        rc = bind_json(w, s, 3, scope, r, err);
    if (r && r->rv[0])
        bind_text_or_null(s, 5, r->rv);
    sqlite3_bind_int64(s, 4, id);
    if (rc < 0 || (rc = done(w, s, err, "tombstone")) < 0 ||
        (rc = log_change(w, id, CH_DELETED, err)) < 0 || (rc = del_labels(w, id, err)) < 0 ||
        (rc = del_by_id(w, S_FTS_DEL, id, err)) < 0)
        return rc;
    if (had_facts && (rc = del_facts(w, id, err)) < 0)
        return rc;
    w->deleted++;
    return 0;
}

static int delete_rec(idx_writer *w, int64_t scope, const fl_rec *r, fl_err *err)
{
    existing e;
    int rc = lookup(w, scope, r, &e, err);
    if (rc < 0 || !e.live)
        return rc;
    return tombstone(w, scope, e.id, r->json ? r : NULL, e.facts_hash != 0, err);
}

static int flush_coal(idx_writer *w, fl_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < w->coal.n && rc == 0; i++) {
        coal_ent *e = &w->coal.ents[i];
        rc = e->rec->op == REC_UPSERT ? upsert(w, e->scope, e->rec, err)
                                      : delete_rec(w, e->scope, e->rec, err);
    }
    if (rc == 0)
        rc = flush_side(w, err);
    else /* the queued rows point into the records freed here */
        drop_side(w);
    idx_coal_reset(&w->coal);
    return rc;
}

/* ------------------------------------------------------------ sync state */

static pend_rv *pend_slot(idx_writer *w, int64_t scope)
{
    for (size_t i = 0; i < w->n_pend; i++)
        if (w->pend[i].scope == scope)
            return &w->pend[i];
    if (w->n_pend == PEND_MAX)
        return NULL;
    w->pend[w->n_pend] = (pend_rv){scope, NULL};
    return &w->pend[w->n_pend++];
}

static int flush_pend(idx_writer *w, fl_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < w->n_pend && rc == 0; i++) {
        sqlite3_stmt *s = fresh_stmt(w, S_SYNC_RV);
        sqlite3_bind_int64(s, 1, scope_cid(w->pend[i].scope));
        sqlite3_bind_int64(s, 2, scope_gid(w->pend[i].scope));
        bind_text_or_null(s, 3, w->pend[i].rv);
        sqlite3_bind_int64(s, 4, w->now_ms);
        rc = done(w, s, err, "sync state");
    }
    w->n_pend = 0;
    return rc;
}

/* Remember that scope saw data (and, for events, its RV, borrowed); flushes
 * the pending table when it is full. */
static int note_rv(idx_writer *w, int64_t scope, const char *rv, fl_err *err)
{
    pend_rv *p = pend_slot(w, scope);
    int rc;
    if (!p) {
        if ((rc = flush_coal(w, err)) < 0 || (rc = flush_pend(w, err)) < 0)
            return rc;
        p = pend_slot(w, scope);
    }
    if (rv)
        p->rv = rv;
    return 0;
}

static int sync_error(idx_writer *w, int64_t scope, const char *msg, fl_err *err)
{
    sqlite3_stmt *s = fresh_stmt(w, S_SYNC_ERR);
    sqlite3_bind_int64(s, 1, scope_cid(scope));
    sqlite3_bind_int64(s, 2, scope_gid(scope));
    bind_text_or_null(s, 3, msg);
    return done(w, s, err, "sync error");
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Tombstone the live objects of scope that the relist did not see. */
static int relist_diff(idx_writer *w, int64_t scope, relist *r, fl_err *err)
{
    int64_t *ids = NULL;
    size_t nids = 0, cap = 0;
    int rc = 0;
    if (r->n)
        qsort(r->ids, r->n, sizeof *r->ids, cmp_i64);
    sqlite3_stmt *s = fresh_stmt(w, S_SCOPE_LIVE);
    sqlite3_bind_int64(s, 1, scope_cid(scope));
    sqlite3_bind_int64(s, 2, scope_gid(scope));
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (bsearch(&id, r->ids, r->n, sizeof id, cmp_i64))
            continue;
        if (fl_grow(&ids, &cap, nids + 1, sizeof *ids) < 0) {
            sqlite3_reset(s);
            free(ids);
            return oom(err, "relist scan");
        }
        ids[nids++] = id;
    }
    sqlite3_reset(s);
    rc = rc == SQLITE_DONE ? 0 : sqlfail(w, err, "relist scan");
    for (size_t i = 0; i < nids && rc == 0; i++)
        rc = tombstone(w, scope, ids[i], NULL, true, err);
    free(ids);
    if (rc == 0 && relist_drop(w, scope) < 0)
        rc = oom(err, "relist end");
    return rc;
}

/* End a relist: diff (when a _begin is active; without one — e.g. lost to a
 * failed transaction — nothing is deleted) and record the sync state. A
 * poisoned relist deletes nothing and says so in last_error. */
static int relist_end(idx_writer *w, int64_t scope, const char *rv, fl_err *err)
{
    relist *r = relist_find(w, scope);
    int64_t live = 0, poisoned = r ? r->poisoned : 0;
    int rc = 0;
    if (poisoned && relist_drop(w, scope) < 0)
        return oom(err, "relist end");
    if (!poisoned && r)
        rc = relist_diff(w, scope, r, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *s = fresh_stmt(w, S_COUNT_LIVE);
    sqlite3_bind_int64(s, 1, scope_cid(scope));
    sqlite3_bind_int64(s, 2, scope_gid(scope));
    if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
        rc = sqlfail(w, err, "live count");
        sqlite3_reset(s);
        return rc;
    }
    live = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    s = fresh_stmt(w, S_SYNC_LIST);
    sqlite3_bind_int64(s, 1, scope_cid(scope));
    sqlite3_bind_int64(s, 2, scope_gid(scope));
    bind_text_or_null(s, 3, rv ? rv : "");
    sqlite3_bind_int64(s, 4, w->now_ms);
    sqlite3_bind_int64(s, 5, live);
    if ((rc = done(w, s, err, "sync list")) < 0 || !poisoned)
        return rc;
    char msg[160];
    snprintf(msg, sizeof msg, "list: %lld item(s) could not be read; this relist deleted nothing",
             (long long)poisoned);
    return sync_error(w, scope, msg, err);
}

static int sync_set(idx_writer *w, int64_t scope, const idx_item *it, fl_err *err)
{
    sqlite3_stmt *s = fresh_stmt(w, S_SYNC_SET);
    sqlite3_bind_int64(s, 1, scope_cid(scope));
    sqlite3_bind_int64(s, 2, scope_gid(scope));
    bind_text_or_null(s, 3, it->arg);
    sqlite3_bind_int64(s, 4, it->lag_ms);
    bind_text_or_null(s, 5, it->arg2);
    return done(w, s, err, "sync set");
}

/* ----------------------------------------------------------------- apply */

static int apply_data(idx_writer *w, int64_t scope, idx_item *it, fl_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < it->out.n_recs && rc == 0; i++)
        rc = idx_coal_add(&w->coal, scope, it->out.recs[i]);
    if (rc == -ENOMEM)
        return oom(err, "coalescing");
    if (rc < 0)
        return fl_err_set(err, rc, "index writer: namespace and name too long");
    relist *rl = it->type == IT_LIST && it->out.decode_errors ? relist_find(w, scope) : NULL;
    if (rl)
        rl->poisoned += it->out.decode_errors;
    if (it->out.error && (rc = sync_error(w, scope, it->out.error, err)) < 0)
        return rc;
    return note_rv(w, scope, it->type == IT_EVENT ? it->out.rv : NULL, err);
}

static int apply_control(idx_writer *w, int64_t scope, idx_item *it, fl_err *err)
{
    int rc;
    if ((rc = flush_coal(w, err)) < 0 || (rc = flush_pend(w, err)) < 0)
        return rc;
    switch (it->type) {
    case IT_RELIST_BEGIN: return relist_begin(w, scope) < 0 ? oom(err, "relist begin") : 0;
    case IT_RELIST_END: return relist_end(w, scope, it->arg, err);
    case IT_RELIST_ABORT: return relist_drop(w, scope) < 0 ? oom(err, "relist abort") : 0;
    case IT_SYNC: return sync_set(w, scope, it, err);
    default: return 0;
    }
}

static int apply_items(idx_writer *w, idx_item **items, size_t n, fl_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t scope;
        if ((rc = scope_of(w, &items[i]->src, &scope, err)) < 0)
            break;
        if (items[i]->type == IT_EVENT || items[i]->type == IT_LIST)
            rc = apply_data(w, scope, items[i], err);
        else
            rc = apply_control(w, scope, items[i], err);
    }
    if (rc == 0)
        rc = flush_coal(w, err);
    if (rc == 0)
        rc = flush_pend(w, err);
    return rc;
}

/* End the open transaction. Under memory pressure SQLite may have rolled
 * back already (the ROLLBACK then fails harmlessly: no transaction is
 * active), and the ROLLBACK itself may fail for want of memory: tried
 * again while a transaction stays open (the next BEGIN tries too). */
static void rollback(idx_writer *w)
{
    for (int i = 0; i < 3 && !sqlite3_get_autocommit(w->db); i++)
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
}

int idx_writer_apply(idx_writer *w, idx_item **items, size_t n, int64_t *first_rev,
                     int64_t *last_rev, fl_err *err)
{
    int rc;
    int64_t written = w->written, skipped = w->skipped, deleted = w->deleted,
            merged = w->coal.merged;
    w->now_ms = fl_now_ms();
    w->next_rev = w->rev;
    if (!sqlite3_get_autocommit(w->db))
        rollback(w); /* left open by a ROLLBACK that failed */
    if ((rc = idx_sql_exec(w->db, "BEGIN IMMEDIATE", err)) < 0)
        return sqlite3_errcode(w->db) == SQLITE_NOMEM ? -ENOMEM : rc;
    relists_mark_begin(w);
    rc = apply_items(w, items, n, err);
    if (rc == 0)
        rc = idx_cap_delta_apply(w->cap, err);
    if (rc == 0 && w->next_rev != w->rev)
        rc = meta_set(w, "revision", w->next_rev, err);
    if (rc == 0)
        rc = idx_sql_exec(w->db, "COMMIT", err);
    if (rc < 0) {
        if (rc == FL_ESQL && sqlite3_errcode(w->db) == SQLITE_NOMEM)
            rc = err ? (err->code = -ENOMEM) : -ENOMEM;
        if (rc == -ENOMEM && err && !err->msg[0])
            oom(err, "applying a batch");
        rollback(w);
        idx_zjw_rollback(w->zj);
        idx_cap_delta_reset(w->cap);
        idx_coal_reset(&w->coal);
        drop_side(w);
        w->n_pend = 0;
        idx_smap_clear(&w->scopes); /* ids interned in the lost transaction are gone */
        relists_rollback(w);
        w->written = written, w->skipped = skipped, w->deleted = deleted;
        w->coal.merged = merged;
        return rc;
    }
    relists_commit(w);
    idx_zjw_commit(w->zj);
    *first_rev = w->rev + 1;
    *last_rev = w->next_rev;
    w->rev = w->next_rev;
    w->txns++;
    return 0;
}

int idx_writer_apply_retrying(idx_writer *w, idx_item **items, size_t n, int64_t backoff_ms,
                              int64_t *first_rev, int64_t *last_rev, fl_err *err)
{
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        fl_err e = FL_ERR_INIT;
        rc = idx_writer_apply(w, items, n, first_rev, last_rev, &e);
        if (rc == 0 && attempt > 0)
            fl_log(FL_LOG_WARN, "index", "batch of %zu items written at attempt %d of %d", n,
                   attempt + 1, IDX_WRITE_ATTEMPTS);
        if (rc != -ENOMEM || attempt + 1 == IDX_WRITE_ATTEMPTS) {
            if (rc < 0 && err)
                *err = e;
            /* The batch is lost: an open relist lacks its marks and must
             * delete nothing (relist_end without a relist). */
            if (rc < 0)
                relists_clear(w);
            return rc;
        }
        int64_t ms = backoff_ms << (2 * attempt); /* 1, 4, 16 times backoff_ms */
        fl_log(FL_LOG_WARN, "index",
               "batch of %zu items not written (%s); rolled back, retrying in %lld ms "
               "(attempt %d of %d)",
               n, e.msg, (long long)ms, attempt + 2, IDX_WRITE_ATTEMPTS);
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

/* ----------------------------------------------------------- housekeeping */

static int purge_tombstones(idx_writer *w, int64_t cutoff, int64_t *floor, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(w->db,
                                "SELECT max(revision) FROM objects WHERE deleted_ms IS NOT NULL"
                                " AND deleted_ms < ?",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, cutoff);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return sqlfail(w, err, "tombstone scan");
    }
    bool any = sqlite3_column_type(s, 0) != SQLITE_NULL;
    int64_t maxrev = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (!any)
        return 0;
    if (maxrev > *floor)
        *floor = maxrev; /* watchers from before a purged delete must relist */
    if (sqlite3_prepare_v2(w->db,
                           "DELETE FROM objects WHERE deleted_ms IS NOT NULL AND deleted_ms < ?",
                           -1, &s, NULL) != SQLITE_OK)
        return sqlfail(w, err, "tombstone purge");
    sqlite3_bind_int64(s, 1, cutoff);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : sqlfail(w, err, "tombstone purge");
}

int idx_writer_housekeep(idx_writer *w, int64_t now_ms, fl_err *err)
{
    int64_t floor = w->floor;
    sqlite3_stmt *s = NULL;
    int rc;
    if (w->rev - w->o.changelog_max > floor)
        floor = w->rev - w->o.changelog_max;
    if ((rc = idx_sql_exec(w->db, "BEGIN IMMEDIATE", err)) < 0)
        return rc;
    rc = purge_tombstones(w, now_ms - w->o.tombstone_keep_ms, &floor, err);
    if (rc == 0 && floor != w->floor) {
        if (sqlite3_prepare_v2(w->db, "DELETE FROM changelog WHERE revision <= ?", -1, &s, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_int64(s, 1, floor);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sqlfail(w, err, "change log retention");
        } else {
            rc = sqlfail(w, err, "change log retention");
        }
        sqlite3_finalize(s);
        if (rc == 0)
            rc = idx_hist_w_purge(w->hist, floor, err);
        if (rc == 0)
            rc = meta_set(w, "changelog_floor", floor, err);
    }
    if (rc == 0)
        rc = idx_sql_exec(w->db, "COMMIT", err);
    if (rc < 0) {
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    w->floor = floor;
    return 0;
}

int idx_writer_truncate_wal(idx_writer *w, fl_err *err)
{
    int log = 0, done = 0;
    sqlite3_busy_timeout(w->db, 0); /* never stall the writer for a reader */
    int rc = sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    sqlite3_busy_timeout(w->db, 5000);
    if (rc == SQLITE_BUSY || (rc == SQLITE_OK && log > 0 && done < log))
        return -EBUSY;
    return rc == SQLITE_OK ? 0 : sqlfail(w, err, "wal checkpoint");
}
