/*
 * apiserver/durable.c: the durable side of a store — a SQLite file (the
 * daemon's dataDir/control.db) that is the source of truth for a store's
 * objects: one row per live object, a revision-ordered change log (the
 * bounded history), and the last resourceVersion handed out. WAL with
 * synchronous=FULL: a write returns only after its transaction is on disk,
 * so the store acknowledges nothing a crash can take back.
 *
 * The in-memory store (store.c) stays the serving structure (lists,
 * snapshots, watch fan-out); it calls here, under its own lock, before it
 * changes anything, and changes nothing when this fails. Nothing here
 * knows HTTP. SQLite is used directly: DESIGN.md gives apiserver/ its own
 * store file beside index/'s cache.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"

struct fl_apiserver_db {
    sqlite3 *db;
    char path[1024];
    const char *name; /* path's last component (what clients are told) */
    size_t history;   /* change-log rows kept */
    uint64_t rv;      /* last resourceVersion written */
    sqlite3_stmt *put, *del, *log, *trim, *meta, *begin, *commit, *rollback;
};

/* Schema 2 keeps each change's previous state (prev) beside the new one,
 * so that selector enter/leave and lists at an old resourceVersion work on
 * a reloaded history as on a live one. */
#define SCHEMA_VERSION 2

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS objects(grp TEXT NOT NULL, resource TEXT NOT NULL,"
    " key TEXT NOT NULL, rv INTEGER NOT NULL, json BLOB NOT NULL,"
    " PRIMARY KEY(grp, resource, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS changes(rv INTEGER PRIMARY KEY, type INTEGER NOT NULL,"
    " grp TEXT NOT NULL, resource TEXT NOT NULL, key TEXT NOT NULL, json BLOB NOT NULL,"
    " prev BLOB);"
    "INSERT OR IGNORE INTO meta VALUES('rv', 0), ('schema', 2);";

/* A schema-1 file gains the prev column; its older rows have none (the
 * history before them answers 410, see fl_apiserver_db_floor). */
static const char UPGRADE_1[] = "ALTER TABLE changes ADD COLUMN prev BLOB;"
                                "UPDATE meta SET v = 2 WHERE k = 'schema';";

static int sql_fail(fl_apiserver_db *d, int rc, fl_err *err, const char *what)
{
    const char *msg = d && d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc);
    return fl_err_set(err, FL_ESQL, "%s: %s: %s", d ? d->path : "?", what, msg);
}

/* The WAL checkpoint after a commit: SQLite's automatic one (same size
 * trigger, PASSIVE, its failure never the commit's: the WAL keeps the
 * data and the next one retries), except that a failure is logged — the
 * first sign of a filling disk, before writes are refused. */
static int wal_hook(void *ud, sqlite3 *db, const char *schema, int frames)
{
    fl_apiserver_db *d = ud;
    if (frames < 1000)
        return SQLITE_OK;
    int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        fl_log(FL_LOG_WARN, "apiserver", "%s: checkpoint: %s (the WAL keeps the writes)", d->path,
               sqlite3_errmsg(db));
    return SQLITE_OK;
}

static int prepare(fl_apiserver_db *d, const char *sql, sqlite3_stmt **out, fl_err *err)
{
    int rc = sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return rc == SQLITE_OK ? 0 : sql_fail(d, rc, err, "prepare");
}

/* The file must be a healthy database of ours: a corrupt one is refused
 * (never recreated) with SQLite's own words. */
static int check(fl_apiserver_db *d, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->db, "PRAGMA quick_check", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(d, rc, err, "integrity check");
    rc = sqlite3_step(s);
    const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    int out = 0;
    if (rc != SQLITE_ROW)
        out = sql_fail(d, rc, err, "integrity check");
    else if (!v || strcmp(v, "ok") != 0)
        out = fl_err_set(err, FL_ESQL, "%s: integrity check: %s", d->path, v ? v : "failed");
    sqlite3_finalize(s);
    return out;
}

/* The one integer the query sql answers (*v = 0 when it has no row). */
static int query_u64(fl_apiserver_db *d, const char *sql, uint64_t *v, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(d, sql, &s, err);
    if (rc != 0)
        return rc;
    rc = sqlite3_step(s);
    *v = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    int out = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_fail(d, rc, err, sql);
    sqlite3_finalize(s);
    return out;
}

static int upgrade(fl_apiserver_db *d, fl_err *err)
{
    uint64_t version = 0;
    int rc = query_u64(d, "SELECT v FROM meta WHERE k = 'schema'", &version, err);
    if (rc != 0 || version == SCHEMA_VERSION)
        return rc;
    if (version != 1)
        return fl_err_set(err, FL_ESQL, "%s: schema version %llu is not one this build knows",
                          d->path, (unsigned long long)version);
    char *msg = NULL;
    rc = sqlite3_exec(d->db, UPGRADE_1, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        rc = fl_err_set(err, FL_ESQL, "%s: upgrade: %s", d->path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

int fl_apiserver_db_open(const char *path, size_t history, fl_apiserver_db **out, fl_err *err)
{
    fl_apiserver_db *d = calloc(1, sizeof(*d));
    if (!d)
        return fl_err_set(err, -ENOMEM, "%s: out of memory", path);
    fl_strlcpy(d->path, path, sizeof(d->path));
    const char *slash = strrchr(d->path, '/');
    d->name = slash ? slash + 1 : d->path;
    d->history = history ? history : 10000;
    int rc = sqlite3_open_v2(
        path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = sql_fail(d, rc, err, "open");
        goto fail;
    }
    sqlite3_busy_timeout(d->db, 5000);
    sqlite3_wal_hook(d->db, wal_hook, d);
    char *msg = NULL;
    if ((rc = check(d, err)) != 0)
        goto fail;
    rc = sqlite3_exec(d->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(d->db, SCHEMA, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        rc = fl_err_set(err, FL_ESQL, "%s: schema: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        goto fail;
    }
    if ((rc = upgrade(d, err)) != 0 ||
        (rc = query_u64(d, "SELECT v FROM meta WHERE k = 'rv'", &d->rv, err)) != 0 ||
        (rc = prepare(d, "INSERT OR REPLACE INTO objects VALUES(?1, ?2, ?3, ?4, ?5)", &d->put,
                      err)) ||
        (rc = prepare(d, "DELETE FROM objects WHERE grp = ?1 AND resource = ?2 AND key = ?3",
                      &d->del, err)) ||
        (rc = prepare(d, "INSERT INTO changes VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", &d->log, err)) ||
        (rc = prepare(d, "DELETE FROM changes WHERE rv <= ?1", &d->trim, err)) ||
        (rc = prepare(d, "UPDATE meta SET v = ?1 WHERE k = 'rv'", &d->meta, err)) ||
        (rc = prepare(d, "BEGIN IMMEDIATE", &d->begin, err)) ||
        (rc = prepare(d, "COMMIT", &d->commit, err)) ||
        (rc = prepare(d, "ROLLBACK", &d->rollback, err)))
        goto fail;
    *out = d;
    return 0;
fail:
    fl_apiserver_db_close(d);
    return rc;
}

void fl_apiserver_db_close(fl_apiserver_db *d)
{
    if (!d)
        return;
    sqlite3_stmt *s[] = {d->put,  d->del,   d->log,    d->trim,
                         d->meta, d->begin, d->commit, d->rollback};
    for (size_t i = 0; i < FL_ARRAY_LEN(s); i++)
        sqlite3_finalize(s[i]);
    sqlite3_close(d->db);
    free(d);
}

uint64_t fl_apiserver_db_rv(const fl_apiserver_db *d)
{
    return d->rv;
}

int fl_apiserver_db_load(fl_apiserver_db *d, const char *group, const char *resource,
                         fl_apiserver_db_row_fn fn, void *ud)
{
    sqlite3_stmt *s = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = prepare(d,
                     "SELECT key, rv, json FROM objects WHERE grp = ?1 AND resource = ?2 "
                     "ORDER BY key",
                     &s, &err);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(s, 1, group, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, resource, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int r =
            fn(ud, (const char *)sqlite3_column_text(s, 0), (uint64_t)sqlite3_column_int64(s, 1),
               sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2));
        if (r != 0) {
            sqlite3_finalize(s);
            return r;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : FL_ESQL;
}

static int step_reset(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

uint64_t fl_apiserver_db_floor(fl_apiserver_db *d)
{
    /* The log is complete after its oldest row, and after the newest row
     * that lacks its previous state (rows from schema 1). */
    uint64_t oldest = 0, blind = 0;
    fl_err err = FL_ERR_INIT;
    if (query_u64(d, "SELECT min(rv) FROM changes", &oldest, &err) != 0 ||
        query_u64(d, "SELECT max(rv) FROM changes WHERE type != 0 AND prev IS NULL", &blind,
                  &err) != 0 ||
        oldest == 0)
        return d->rv;
    oldest--;
    return blind > oldest ? blind : oldest;
}

int fl_apiserver_db_load_changes(fl_apiserver_db *d, const char *group, const char *resource,
                                 uint64_t after, fl_apiserver_db_change_fn fn, void *ud)
{
    sqlite3_stmt *s = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = prepare(d,
                     "SELECT rv, type, key, json, prev FROM changes WHERE grp = ?1 AND "
                     "resource = ?2 AND rv > ?3 ORDER BY rv",
                     &s, &err);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(s, 1, group, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, resource, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)after);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        fl_apiserver_db_change c = {
            .rv = (uint64_t)sqlite3_column_int64(s, 0),
            .type = (fl_apiserver_ev_type)sqlite3_column_int(s, 1),
            .group = group,
            .resource = resource,
            .key = (const char *)sqlite3_column_text(s, 2),
            .json = sqlite3_column_blob(s, 3),
            .len = (size_t)sqlite3_column_bytes(s, 3),
            .prev = sqlite3_column_blob(s, 4),
            .prev_len = (size_t)sqlite3_column_bytes(s, 4),
        };
        int r = fn(ud, &c);
        if (r != 0) {
            sqlite3_finalize(s);
            return r;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : FL_ESQL;
}

static void bind_blob(sqlite3_stmt *s, int i, const char *p, size_t n)
{
    if (p)
        sqlite3_bind_blob(s, i, p, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* Stage change c in the open transaction; *what names the failing step. */
static int stage(fl_apiserver_db *d, const fl_apiserver_db_change *c, const char **what)
{
    sqlite3_stmt *o = c->type == FL_APISERVER_EV_DELETED ? d->del : d->put;
    sqlite3_bind_text(o, 1, c->group, -1, SQLITE_STATIC);
    sqlite3_bind_text(o, 2, c->resource, -1, SQLITE_STATIC);
    sqlite3_bind_text(o, 3, c->key, -1, SQLITE_STATIC);
    if (o == d->put) {
        sqlite3_bind_int64(o, 4, (sqlite3_int64)c->rv);
        sqlite3_bind_blob(o, 5, c->json, (int)c->len, SQLITE_STATIC);
    }
    *what = "write object";
    int rc = step_reset(o);
    if (rc != 0)
        return rc;
    *what = "append change";
    sqlite3_bind_int64(d->log, 1, (sqlite3_int64)c->rv);
    sqlite3_bind_int(d->log, 2, (int)c->type);
    sqlite3_bind_text(d->log, 3, c->group, -1, SQLITE_STATIC);
    sqlite3_bind_text(d->log, 4, c->resource, -1, SQLITE_STATIC);
    sqlite3_bind_text(d->log, 5, c->key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(d->log, 6, c->json, (int)c->len, SQLITE_STATIC);
    bind_blob(d->log, 7, c->prev, c->prev_len);
    return step_reset(d->log);
}

int fl_apiserver_db_write(fl_apiserver_db *d, const fl_apiserver_db_change *c, size_t n,
                          fl_err *err)
{
    if (n == 0)
        return 0;
    const char *what = "begin";
    int rc = step_reset(d->begin);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = stage(d, &c[i], &what);
    uint64_t rv = c[n - 1].rv;
    if (rc == 0 && rv > d->history) {
        what = "trim history";
        sqlite3_bind_int64(d->trim, 1, (sqlite3_int64)(rv - d->history));
        rc = step_reset(d->trim);
    }
    if (rc == 0) {
        what = "record resourceVersion";
        sqlite3_bind_int64(d->meta, 1, (sqlite3_int64)rv);
        rc = step_reset(d->meta);
    }
    if (rc == 0) {
        what = "commit";
        rc = step_reset(d->commit);
    }
    if (rc != 0) {
        /* the log names the file; the writers (and their clients) get its
         * name, the step and SQLite's words */
        const char *msg = sqlite3_errmsg(d->db);
        fl_log(FL_LOG_ERROR, "apiserver", "%s: %s: %s", d->path, what, msg);
        int out = fl_err_set(err, FL_ESQL, "%s: %s: %s", d->name, what, msg);
        if (!sqlite3_get_autocommit(d->db))
            step_reset(d->rollback);
        return out;
    }
    d->rv = rv;
    return 0;
}

int fl_apiserver_backup(const char *src, const char *dest, fl_err *err)
{
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b = NULL;
    int rc = sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL);
    const char *what = src;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(from, 10000);
        what = dest;
        rc = sqlite3_open_v2(dest, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    }
    if (rc == SQLITE_OK && !(b = sqlite3_backup_init(to, "main", from, "main")))
        rc = sqlite3_errcode(to);
    if (b) {
        /* one step: the whole file under one read transaction, so the copy
         * is one consistent revision however busy the writer is */
        do {
            rc = sqlite3_backup_step(b, -1);
            if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                sqlite3_sleep(50);
        } while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_backup_finish(b);
        if (rc == SQLITE_OK)
            rc = sqlite3_errcode(to);
    }
    int out = 0;
    if (rc != SQLITE_OK)
        out = fl_err_set(err, FL_ESQL, "%s: %s", what,
                         to && what == dest ? sqlite3_errmsg(to)
                         : from             ? sqlite3_errmsg(from)
                                            : sqlite3_errstr(rc));
    sqlite3_close(to);
    sqlite3_close(from);
    return out;
}
