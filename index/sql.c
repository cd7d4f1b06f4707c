/*
 * index/sql.c: runs one statement compiled by query/'s SQL language on a
 * reader's read-only connection (fl_index_sql_run in index.h). Owns the
 * guard rails: an authorizer while the statement is prepared (SELECT and
 * reads of the object tables only, a fixed function list), a progress
 * handler enforcing the time budget while it steps, the row cap, and the
 * snapshot that gives the answer one index revision. Reader side only: it
 * touches no writer state.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "index/index_int.h"

static const char *const tables_ok[] = {
    "objects", "clusters",      "gvrs",  "labels",         "fts",
    "pods",    "pod_resources", "nodes", "node_resources", "json_each",
};

static const char *const funcs_ok[] = {
    "fl_json",
    "json_extract",
    "json_each",
    "json_group_array",
    "json_array_length",
    "json_type",
    "json_quote",
    "count",
    "sum",
    "total",
    "min",
    "max",
    "avg",
    "coalesce",
    "ifnull",
    "like",
    "lower",
    "upper",
    "iif",
    "match",
    "length",
    "abs",
    "round",
    "cast",
};

static bool listed(const char *s, const char *const *v, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, v[i]) == 0)
            return true;
    return false;
}

/* FTS5 reads its shadow tables (fts_data, fts_idx, fts_config, ...). */
static bool fts_shadow(const char *t)
{
    return t && strncmp(t, "fts_", 4) == 0;
}

static int authorize(void *ud, int action, const char *a1, const char *a2, const char *db,
                     const char *trigger)
{
    (void)trigger;
    char *denied = ud; /* the first refusal, for the error message */
    bool ok = false;
    switch (action) {
    case SQLITE_SELECT: ok = true; break;
    case SQLITE_READ:
        ok = (!db || strcmp(db, "main") == 0) &&
             (listed(a1, tables_ok, FL_ARRAY_LEN(tables_ok)) || fts_shadow(a1));
        break;
    case SQLITE_FUNCTION: ok = listed(a2, funcs_ok, FL_ARRAY_LEN(funcs_ok)); break;
    case SQLITE_PRAGMA: /* FTS5 checks PRAGMA data_version (a read) when it connects */
        ok = a1 && strcmp(a1, "data_version") == 0 && !a2;
        break;
    default: ok = false;
    }
    if (!ok && !*denied)
        snprintf(denied, 160, "action %d on %.60s %.60s", action, a1 ? a1 : "-", a2 ? a2 : "-");
    return ok ? SQLITE_OK : SQLITE_DENY;
}

typedef struct budget {
    int64_t deadline;
    bool expired;
} budget;

static int progress(void *ud)
{
    budget *b = ud;
    if (fl_mono_ms() > b->deadline) {
        b->expired = true;
        return 1;
    }
    return 0;
}

static int bind_all(sqlite3_stmt *st, const fl_index_sql_value *p, size_t n)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        int k = (int)i + 1;
        switch (p[i].type) {
        case FL_INDEX_SQL_INT: rc = sqlite3_bind_int64(st, k, p[i].i); break;
        case FL_INDEX_SQL_REAL: rc = sqlite3_bind_double(st, k, p[i].d); break;
        case FL_INDEX_SQL_TEXT:
            rc = sqlite3_bind_text(st, k, p[i].s, (int)p[i].len, SQLITE_STATIC);
            break;
        default: rc = sqlite3_bind_null(st, k);
        }
    }
    return rc;
}

#define SQL_MAX_COLS 64

static int emit_row(sqlite3_stmt *st, fl_index_sql_row_cb cb, void *arg)
{
    fl_index_sql_value v[SQL_MAX_COLS];
    int n = sqlite3_column_count(st);
    if (n > SQL_MAX_COLS)
        n = SQL_MAX_COLS;
    for (int i = 0; i < n; i++) {
        memset(&v[i], 0, sizeof v[i]);
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v[i].type = FL_INDEX_SQL_INT;
            v[i].i = sqlite3_column_int64(st, i);
            break;
        case SQLITE_FLOAT:
            v[i].type = FL_INDEX_SQL_REAL;
            v[i].d = sqlite3_column_double(st, i);
            break;
        case SQLITE_NULL: break;
        default:
            v[i].type = FL_INDEX_SQL_TEXT;
            v[i].s = (const char *)sqlite3_column_text(st, i);
            v[i].len = (size_t)sqlite3_column_bytes(st, i);
            if (!v[i].s)
                return -ENOMEM;
        }
    }
    return cb(arg, v, (size_t)n);
}

static int prepare(sqlite3 *db, const char *sql, bool plan, sqlite3_stmt **st, fl_err *err)
{
    char denied[160] = "";
    sqlite3_stmt *warm = NULL;
    /* load the schema first, outside the authorizer (a fresh connection
     * reads sqlite_master on its first prepare) */
    static const char *const warmups[] = {
        "SELECT id FROM objects LIMIT 0",
        /* and connect the virtual tables: their constructors write the
         * in-memory schema, which the authorizer below would refuse */
        "SELECT value FROM json_each('[]')",
        "SELECT rowid FROM fts WHERE fts MATCH 'abc' LIMIT 0",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(warmups); i++) {
        sqlite3_prepare_v2(db, warmups[i], -1, &warm, NULL);
        sqlite3_finalize(warm);
        warm = NULL;
    }
    sqlite3_set_authorizer(db, authorize, denied);
    int rc;
    if (plan) {
        size_t n = strlen(sql);
        char *q = sqlite3_malloc64(n + 32);
        if (!q) {
            sqlite3_set_authorizer(db, NULL, NULL);
            return -ENOMEM;
        }
        memcpy(q, "EXPLAIN QUERY PLAN ", 19);
        memcpy(q + 19, sql, n + 1);
        rc = sqlite3_prepare_v2(db, q, -1, st, NULL);
        sqlite3_free(q);
    } else {
        rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    }
    sqlite3_set_authorizer(db, NULL, NULL);
    if (rc == SQLITE_OK && *st)
        return 0;
    int code = denied[0] || rc == SQLITE_AUTH ? FL_EFORBIDDEN : FL_ESQL;
    sqlite3_finalize(*st);
    *st = NULL;
    return fl_err_set(err, code, "index: compiled query refused: %s%s%s", sqlite3_errmsg(db),
                      denied[0] ? "; authorizer denied " : "", denied);
}

static int step_all(fl_index_reader *r, sqlite3 *db, sqlite3_stmt *st, const fl_index_sql_opts *o,
                    fl_index_sql_row_cb cb, void *arg, fl_index_sql_result *res, fl_err *err)
{
    int64_t max_rows = o->max_rows > 0 ? o->max_rows : 10000;
    budget b = {fl_mono_ms() + (o->budget_ms > 0 ? o->budget_ms : 5000), false};
    sqlite3_progress_handler(db, 1000, progress, &b);
    int rc = 0, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (res->rows == max_rows) {
            res->truncated = true;
            break;
        }
        res->rows++;
        if ((rc = emit_row(st, cb, arg)) != 0)
            break;
    }
    idx_reader_progress_restore(r);
    if (rc != 0 || s == SQLITE_ROW || s == SQLITE_DONE)
        return rc;
    if (b.expired)
        return fl_err_set(err, -ETIMEDOUT, "query stopped after its time budget of %lld ms",
                          (long long)(o->budget_ms > 0 ? o->budget_ms : 5000));
    return fl_err_set(err, FL_ESQL, "index: %s", sqlite3_errmsg(db));
}

int fl_index_sql_run(fl_index_reader *r, const char *sql, const fl_index_sql_value *params,
                     size_t nparams, const fl_index_sql_opts *o, fl_index_sql_row_cb cb, void *arg,
                     fl_index_sql_result *res, fl_err *err)
{
    if (!r || !sql || !cb || !o || !res || (nparams && !params))
        return fl_err_set(err, -EINVAL, "index: bad arguments to sql_run");
    sqlite3 *db = fl_index_reader_db(r);
    sqlite3_stmt *st = NULL;
    int64_t t0 = fl_mono_ms();
    memset(res, 0, sizeof *res);
    int rc = fl_index_reader_begin(r);
    if (rc < 0)
        return fl_err_set(err, rc, "index: cannot start a snapshot");
    if ((rc = fl_index_reader_revision(r, &res->revision)) < 0) {
        fl_err_set(err, rc, "index: reading the revision");
        goto out;
    }
    if ((rc = prepare(db, sql, o->plan, &st, err)) < 0)
        goto out;
    if (bind_all(st, params, nparams) != SQLITE_OK) {
        rc = fl_err_set(err, FL_ESQL, "index: binding: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (o->plan) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            fl_index_sql_value v = {FL_INDEX_SQL_TEXT, 0, 0, NULL, 0};
            v.s = (const char *)sqlite3_column_text(st, 3);
            v.len = (size_t)sqlite3_column_bytes(st, 3);
            if (v.s && (rc = cb(arg, &v, 1)) != 0)
                break;
        }
        goto out;
    }
    rc = step_all(r, db, st, o, cb, arg, res, err);
out:
    sqlite3_finalize(st);
    fl_index_reader_end(r);
    res->elapsed_ms = fl_mono_ms() - t0;
    return rc;
}
