/*
 * web/recent.c: the recent histories the dashboard shows (quota denials,
 * placement changes) kept in a SQLite file of the data dir, so that they
 * survive a restart (web.h, fl_web_recent). quota/ and scheduler/ keep
 * their bounded lists in memory as before; a thread of this file reads
 * each list every interval and, when it changed, writes it whole in one
 * transaction (a list is at most a few hundred small items), and once more
 * at fl_web_recent_free. A crash loses at most one interval. The daemon
 * seeds the in-memory lists from fl_web_recent_load at start.
 *
 *   recent(kind, seq, item)   item: one list element as JSON text, seq its
 *                             place (0 = oldest)
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web/web_int.h"

#define RECENT_KINDS_MAX 8

typedef struct source {
    char *kind;
    fl_web_recent_source get;
    void *ud;
    json_t *written; /* the list last written (NULL: none yet) */
} source;

struct fl_web_recent {
    sqlite3 *db;
    pthread_mutex_t mu; /* db and the sources' written copies */
    source src[RECENT_KINDS_MAX];
    size_t nsrc;
    pthread_t thread;
    bool started, stopping;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int64_t interval_ms;
};

static int dbfail(fl_web_recent *r, fl_err *err, const char *what)
{
    return fl_err_set(err, FL_ESQL, "recent history: %s: %s", what, sqlite3_errmsg(r->db));
}

int fl_web_recent_open(const char *path, fl_web_recent **out, fl_err *err)
{
    fl_web_recent *r = calloc(1, sizeof *r);
    if (!r)
        return fl_err_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->stop_mu, NULL);
    pthread_cond_init(&r->stop_cv, NULL);
    int rc = 0;
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = fl_err_set(err, FL_ESQL, "recent history: %s: %s", path,
                        r->db ? sqlite3_errmsg(r->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(r->db, 5000);
    if (sqlite3_exec(r->db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                     "CREATE TABLE IF NOT EXISTS recent(kind TEXT NOT NULL, seq INTEGER NOT NULL,"
                     "  item TEXT NOT NULL, PRIMARY KEY(kind, seq)) WITHOUT ROWID;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        rc = fl_err_set(err, FL_ESQL, "recent history: %s: %s", path, sqlite3_errmsg(r->db));
        goto fail;
    }
    *out = r;
    return 0;
fail:
    sqlite3_close(r->db);
    r->db = NULL;
    fl_web_recent_free(r);
    return rc;
}

int fl_web_recent_load(fl_web_recent *r, const char *kind, json_t **out, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    json_t *arr = json_array();
    int rc = 0, src;
    if (!arr)
        return fl_err_set(err, -ENOMEM, "out of memory");
    pthread_mutex_lock(&r->mu);
    if (sqlite3_prepare_v2(r->db, "SELECT item FROM recent WHERE kind = ? ORDER BY seq", -1, &s,
                           NULL) != SQLITE_OK) {
        rc = dbfail(r, err, "load");
        goto out;
    }
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *it = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
        if (it && json_array_append_new(arr, it)) {
            rc = fl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
    }
    if (src != SQLITE_DONE)
        rc = dbfail(r, err, "load");
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&r->mu);
    if (rc)
        json_decref(arr);
    else
        *out = arr;
    return rc;
}

int fl_web_recent_track(fl_web_recent *r, const char *kind, fl_web_recent_source get, void *ud)
{
    if (r->started || r->nsrc == RECENT_KINDS_MAX || !get)
        return -EINVAL;
    source *s = &r->src[r->nsrc];
    if (!(s->kind = strdup(kind)))
        return -ENOMEM;
    s->get = get, s->ud = ud, s->written = NULL;
    r->nsrc++;
    return 0;
}

/* Write kind's list whole, in one transaction (r->mu held). */
static int write_list(fl_web_recent *r, const char *kind, const json_t *list, fl_err *err)
{
    sqlite3_stmt *del = NULL, *ins = NULL;
    int rc = 0;
    if (sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return dbfail(r, err, "begin");
    if (sqlite3_prepare_v2(r->db, "DELETE FROM recent WHERE kind = ?", -1, &del, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(r->db, "INSERT INTO recent(kind, seq, item) VALUES(?, ?, ?)", -1, &ins,
                           NULL) != SQLITE_OK) {
        rc = dbfail(r, err, "prepare");
        goto out;
    }
    sqlite3_bind_text(del, 1, kind, -1, SQLITE_STATIC);
    if (sqlite3_step(del) != SQLITE_DONE) {
        rc = dbfail(r, err, "delete");
        goto out;
    }
    size_t i;
    const json_t *it;
    json_array_foreach(list, i, it) {
        char *text = json_dumps(it, JSON_COMPACT);
        if (!text) {
            rc = fl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)i);
        sqlite3_bind_text(ins, 3, text, -1, free);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            rc = dbfail(r, err, "insert");
            goto out;
        }
    }
out:
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    if (sqlite3_exec(r->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) != SQLITE_OK && !rc)
        rc = dbfail(r, err, "commit");
    return rc;
}

int fl_web_recent_sync(fl_web_recent *r, fl_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->nsrc && rc == 0; i++) {
        source *s = &r->src[i];
        json_t *list = s->get(s->ud);
        if (!list || !json_is_array(list) || (s->written && json_equal(list, s->written))) {
            json_decref(list);
            continue;
        }
        if ((rc = write_list(r, s->kind, list, err)) == 0) {
            json_decref(s->written);
            s->written = list;
        } else
            json_decref(list);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static void *run(void *arg)
{
    fl_web_recent *r = arg;
    pthread_mutex_lock(&r->stop_mu);
    while (!r->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += r->interval_ms / 1000;
        ts.tv_nsec += (r->interval_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&r->stop_cv, &r->stop_mu, &ts);
        if (r->stopping)
            break;
        pthread_mutex_unlock(&r->stop_mu);
        fl_err err = FL_ERR_INIT;
        if (fl_web_recent_sync(r, &err) != 0)
            fl_log(FL_LOG_WARN, "web", "%s", err.msg);
        pthread_mutex_lock(&r->stop_mu);
    }
    pthread_mutex_unlock(&r->stop_mu);
    return NULL;
}

int fl_web_recent_start(fl_web_recent *r, int64_t interval_ms, fl_err *err)
{
    if (r->started)
        return fl_err_set(err, -EINVAL, "recent history: started twice");
    r->interval_ms = interval_ms > 0 ? interval_ms : 2000;
    int rc = pthread_create(&r->thread, NULL, run, r);
    if (rc)
        return fl_err_set(err, -rc, "recent history: cannot start its thread");
    r->started = true;
    return 0;
}

void fl_web_recent_free(fl_web_recent *r)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->stop_mu);
        r->stopping = true;
        pthread_cond_signal(&r->stop_cv);
        pthread_mutex_unlock(&r->stop_mu);
        pthread_join(r->thread, NULL);
    }
    fl_err err = FL_ERR_INIT;
    if (r->db && fl_web_recent_sync(r, &err) != 0)
        fl_log(FL_LOG_WARN, "web", "%s", err.msg);
    for (size_t i = 0; i < r->nsrc; i++) {
        free(r->src[i].kind);
        json_decref(r->src[i].written);
    }
    sqlite3_close(r->db);
    pthread_cond_destroy(&r->stop_cv);
    pthread_mutex_destroy(&r->stop_mu);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
