/*
 * index/rows.c: multi-row INSERTs for the writer's side tables. The writer
 * queues the rows of many objects (labels, pod and node resources) and
 * writes them with one statement per IDX_ROWS_CHUNK rows: SQLite's cost of
 * running a statement (begin, halt, cursors, reset) was about a fifth of a
 * label row's. Text values are bound SQLITE_STATIC: the strings must live
 * until idx_rows_flush (the writer flushes before it frees the batch's
 * records). Writer thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

#define IDX_ROWS_CHUNK 64

struct idx_rows {
    sqlite3 *db;
    char *head; /* "INSERT ... INTO t(c1, ..., cn)" */
    int ncols;
    sqlite3_stmt *st[IDX_ROWS_CHUNK]; /* st[k - 1] inserts k rows; prepared on first use */
    idx_val *v;                       /* n rows of ncols values */
    size_t n, cap;
};

int idx_rows_new(sqlite3 *db, const char *head, int ncols, idx_rows **out)
{
    idx_rows *m = calloc(1, sizeof *m);
    if (!m || !(m->head = fl_strndup(head, strlen(head)))) {
        free(m);
        return -ENOMEM;
    }
    m->db = db;
    m->ncols = ncols;
    *out = m;
    return 0;
}

void idx_rows_free(idx_rows *m)
{
    if (!m)
        return;
    for (int i = 0; i < IDX_ROWS_CHUNK; i++)
        sqlite3_finalize(m->st[i]);
    free(m->head);
    free(m->v);
    free(m);
}

idx_val *idx_rows_add(idx_rows *m)
{
    size_t need = (m->n + 1) * (size_t)m->ncols;
    if (fl_grow(&m->v, &m->cap, need, sizeof *m->v) < 0)
        return NULL;
    idx_val *r = &m->v[m->n * (size_t)m->ncols];
    memset(r, 0, (size_t)m->ncols * sizeof *r);
    m->n++;
    return r;
}

void idx_rows_reset(idx_rows *m)
{
    m->n = 0;
}

static sqlite3_stmt *stmt_for(idx_rows *m, int k, fl_err *err)
{
    if (m->st[k - 1])
        return m->st[k - 1];
    fl_buf b = FL_BUF_INIT(1u << 20);
    int rc = fl_buf_puts(&b, m->head);
    if (rc == 0)
        rc = fl_buf_puts(&b, " VALUES");
    for (int r = 0; r < k && rc == 0; r++) {
        rc = fl_buf_puts(&b, r ? ",(" : "(");
        for (int c = 0; c < m->ncols && rc == 0; c++)
            rc = fl_buf_puts(&b, c ? ",?" : "?");
        if (rc == 0)
            rc = fl_buf_puts(&b, ")");
    }
    if (rc == 0 && sqlite3_prepare_v3(m->db, b.data, (int)b.len, SQLITE_PREPARE_PERSISTENT,
                                      &m->st[k - 1], NULL) != SQLITE_OK) {
        fl_err_set(err, sqlite3_errcode(m->db) == SQLITE_NOMEM ? -ENOMEM : FL_ESQL,
                   "index writer: preparing %s: %s", m->head, sqlite3_errmsg(m->db));
        m->st[k - 1] = NULL;
    } else if (rc < 0) {
        fl_err_set(err, rc, "index writer: %s: out of memory", m->head);
    }
    fl_buf_done(&b);
    return m->st[k - 1];
}

int idx_rows_flush(idx_rows *m, fl_err *err)
{
    size_t at = 0;
    int rc = 0;
    while (at < m->n && rc == 0) {
        int k = m->n - at > IDX_ROWS_CHUNK ? IDX_ROWS_CHUNK : (int)(m->n - at);
        sqlite3_stmt *s = stmt_for(m, k, err);
        if (!s) {
            rc = err && err->code ? err->code : FL_ESQL;
            break;
        }
        const idx_val *v = &m->v[at * (size_t)m->ncols];
        for (int i = 0; i < k * m->ncols; i++) {
            if (v[i].text && v[i].s)
                sqlite3_bind_text(s, i + 1, v[i].s, -1, SQLITE_STATIC);
            else if (v[i].text)
                sqlite3_bind_null(s, i + 1);
            else
                sqlite3_bind_int64(s, i + 1, v[i].i);
        }
        int src = sqlite3_step(s);
        sqlite3_reset(s);
        if (src != SQLITE_DONE)
            rc = fl_err_set(err, sqlite3_errcode(m->db) == SQLITE_NOMEM ? -ENOMEM : FL_ESQL,
                            "index writer: %s: %s", m->head, sqlite3_errmsg(m->db));
        at += (size_t)k;
    }
    m->n = 0;
    return rc;
}
