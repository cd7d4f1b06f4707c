/*
 * query/sql_handler.c: POST /query, the HTTP face of the SQL-like language.
 * Body {"sql": "...", "params": [...], "plan": false} ->
 *   {"columns": [...], "rows": [[...]], "truncated": bool, "revision": N,
 *    "limits": {"maxRows", "budgetMs"}, "elapsedMs": N}
 * or with "plan": true {"sql", "columns", "notes": [...], "plan": [...]}
 * (the compiled statement, how each column compiled, SQLite's plan).
 * Authenticates as the search API does and compiles the caller's scope
 * into the statement (sql_compile.c). Errors are Kubernetes Status: 400
 * (parse, with line:column), 403 (objects / WITH DELETED for a non-admin),
 * 504 (time budget), 500.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kube/json.h"
#include "kube/quantity.h"
#include "query/query_int.h"
#include "query/sql_int.h"

#define SQL_MAX_USER_PARAMS 100

/* The caller's scope terms (borrowing the fl_query's strings). */
typedef struct scope_buf {
    sql_scope s;
    sql_scope_term terms[64];
} scope_buf;

static bool all_star(char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], "*") == 0)
            return true;
    return false;
}

static bool in_groups(const query_user *u, const char *g)
{
    for (size_t i = 0; i < u->ngroups; i++)
        if (strcmp(u->groups[i], g) == 0)
            return true;
    return false;
}

static void build_scope(const fl_query *q, const query_user *u, scope_buf *b)
{
    memset(b, 0, sizeof *b);
    b->s.terms = b->terms;
    if (!q->nscopes) {
        b->s.admin = true;
        return;
    }
    for (size_t i = 0; i < q->nscopes && b->s.nterms < FL_ARRAY_LEN(b->terms); i++) {
        const query_scope *s = &q->scopes[i];
        if (!in_groups(u, s->group))
            continue;
        if (all_star(s->clusters, s->nclusters) && all_star(s->namespaces, s->nnamespaces) &&
            all_star(s->resources, s->nresources))
            b->s.admin = true;
        sql_scope_term *t = &b->terms[b->s.nterms++];
        t->clusters = (const char *const *)s->clusters;
        t->nclusters = s->nclusters;
        t->namespaces = (const char *const *)s->namespaces;
        t->nnamespaces = s->nnamespaces;
        t->resources = (const char *const *)s->resources;
        t->nresources = s->nresources;
    }
}

/* ------------------------------------------------------------ rows */

/* Bytes of cell values one answer may hold; past it the answer stops
 * there, truncated (the row cap alone does not bound 10000 rows of specs). */
#define SQL_ANSWER_MAX_BYTES (64u << 20)
#define STOP_TOO_BIG 1

typedef struct rows_ctx {
    const sql_compiled *c;
    json_t *rows;
    bool plan;
    size_t bytes;
} rows_ctx;

static json_t *qty_json(int64_t milli, bool binary)
{
    fl_quantity q;
    char buf[FL_QTY_STR_MAX];
    fl_quantity_from_milli(milli, binary ? FL_QTY_BINARY_SI : FL_QTY_DECIMAL_SI, &q);
    if (fl_quantity_format(&q, buf, sizeof buf) < 0)
        return json_integer(milli);
    return json_string(buf);
}

static json_t *cell(const fl_index_sql_value *v, sql_col_kind k)
{
    if (v->type == FL_INDEX_SQL_NULL)
        return json_null();
    switch (k) {
    case SQL_COL_QTY_DEC:
    case SQL_COL_QTY_BIN: {
        int64_t m = v->type == FL_INDEX_SQL_REAL ? (int64_t)llround(v->d) : v->i;
        if (v->type == FL_INDEX_SQL_TEXT)
            break;
        return qty_json(m, k == SQL_COL_QTY_BIN);
    }
    case SQL_COL_BOOL:
        if (v->type == FL_INDEX_SQL_INT)
            return json_boolean(v->i != 0);
        break;
    case SQL_COL_TIME:
        if (v->type == FL_INDEX_SQL_INT) {
            char t[32];
            if (v->i == 0)
                return json_null();
            fl_time_format(v->i, t);
            return json_string(t);
        }
        break;
    case SQL_COL_JSON:
        if (v->type == FL_INDEX_SQL_TEXT) {
            json_t *j = json_loadb(v->s, v->len, JSON_DECODE_ANY, NULL);
            if (j)
                return j;
        }
        break;
    default: break;
    }
    switch (v->type) {
    case FL_INDEX_SQL_INT: return json_integer(v->i);
    case FL_INDEX_SQL_REAL: return isfinite(v->d) ? json_real(v->d) : json_null();
    default: return json_stringn(v->s, v->len);
    }
}

static int on_row(void *arg, const fl_index_sql_value *cols, size_t n)
{
    rows_ctx *x = arg;
    if (x->plan)
        return json_array_append_new(x->rows, json_stringn(cols[0].s, cols[0].len)) ? -ENOMEM : 0;
    for (size_t i = 0; i < n; i++)
        x->bytes += cols[i].len + 8;
    if (x->bytes > SQL_ANSWER_MAX_BYTES)
        return STOP_TOO_BIG;
    json_t *row = json_array();
    if (!row)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        sql_col_kind k = i < x->c->ncols ? x->c->colkinds[i] : SQL_COL_ANY;
        json_t *v = cell(&cols[i], k);
        if (!v || json_array_append_new(row, v) < 0) {
            json_decref(row);
            return -ENOMEM;
        }
    }
    return json_array_append_new(x->rows, row) ? -ENOMEM : 0;
}

/* ------------------------------------------------------------ request */

static int read_params(json_t *arr, fl_index_sql_value *out, size_t *n, fl_err *err)
{
    *n = 0;
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return fl_err_set(err, FL_EPARSE, "\"params\" must be an array");
    if (json_array_size(arr) > SQL_MAX_USER_PARAMS)
        return fl_err_set(err, -E2BIG, "more than %d params", SQL_MAX_USER_PARAMS);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        fl_index_sql_value *p = &out[(*n)++];
        memset(p, 0, sizeof *p);
        if (json_is_string(v)) {
            p->type = FL_INDEX_SQL_TEXT;
            p->s = json_string_value(v);
            p->len = json_string_length(v);
        } else if (json_is_integer(v)) {
            p->type = FL_INDEX_SQL_INT;
            p->i = json_integer_value(v);
        } else if (json_is_real(v)) {
            p->type = FL_INDEX_SQL_REAL;
            p->d = json_real_value(v);
        } else if (json_is_boolean(v)) {
            p->type = FL_INDEX_SQL_INT;
            p->i = json_is_true(v);
        } else if (!json_is_null(v)) {
            return fl_err_set(err, FL_EPARSE, "params[%zu]: strings, numbers, booleans or null", i);
        }
    }
    return 0;
}

static void reply_error(fl_request *r, int rc, const fl_err *err)
{
    int code = 500;
    const char *reason = NULL;
    if (rc == FL_EPARSE || rc == -E2BIG || rc == -EINVAL || rc == FL_EUNSUPPORTED)
        code = 400;
    else if (rc == FL_EFORBIDDEN)
        code = 403;
    else if (rc == -ETIMEDOUT) {
        code = 504;
        reason = "Timeout";
    }
    fl_request_reply_status(r, code, reason, "%s", err->msg[0] ? err->msg : fl_strerror(rc));
}

static json_t *answer(const sql_compiled *c, rows_ctx *x, const fl_index_sql_result *res,
                      const fl_query *q, bool plan)
{
    json_t *cols = json_array();
    for (size_t i = 0; cols && i < c->ncols; i++)
        json_array_append_new(cols, json_string(c->colnames[i]));
    if (plan) {
        json_t *notes = json_array();
        char *dup = strdup(c->notes.data ? c->notes.data : "");
        for (char *s = dup, *e; notes && s && *s; s = e + 1) {
            if (!(e = strchr(s, '\n')))
                break;
            *e = 0;
            json_array_append_new(notes, json_string(s));
        }
        free(dup);
        return json_pack("{s:s, s:o, s:o, s:O}", "sql", c->sql.data ? c->sql.data : "", "columns",
                         cols, "notes", notes ? notes : json_array(), "plan", x->rows);
    }
    return json_pack("{s:o, s:O, s:b, s:I, s:{s:I, s:I}, s:I}", "columns", cols, "rows", x->rows,
                     "truncated", res->truncated, "revision", (json_int_t)res->revision, "limits",
                     "maxRows", (json_int_t)q->sql_max_rows, "budgetMs",
                     (json_int_t)q->sql_budget_ms, "elapsedMs", (json_int_t)res->elapsed_ms);
}

static void serve(fl_query *q, fl_request *r, const query_user *u)
{
    fl_err err = FL_ERR_INIT;
    size_t blen = 0;
    const char *body = fl_request_body(r, &blen);
    json_error_t je;
    json_t *req = json_loadb(body, blen, 0, &je), *out = NULL;
    sql_query *ast = NULL;
    sql_compiled c = {0};
    fl_index_reader *rd = NULL;
    rows_ctx x = {&c, json_array(), false, 0};
    fl_index_sql_value params[SQL_MAX_USER_PARAMS];
    size_t nparams = 0;
    scope_buf sb;
    int rc;
    const char *text = NULL;
    if (!req || !json_is_object(req) || !(text = json_string_value(json_object_get(req, "sql")))) {
        rc = fl_err_set(&err, FL_EPARSE,
                        "body must be JSON {\"sql\": \"SELECT ...\", "
                        "\"params\": [...]}");
        goto fail;
    }
    x.plan = json_is_true(json_object_get(req, "plan"));
    if ((rc = read_params(json_object_get(req, "params"), params, &nparams, &err)) < 0 ||
        (rc = sql_parse(text, json_string_length(json_object_get(req, "sql")), &ast, &err)) < 0)
        goto fail;
    build_scope(q, u, &sb);
    sb.s.wide = sb.s.admin || q->sql_open_to_all;
    if ((rc = sql_compile(ast, q->reg, &sb.s, params, nparams, &c, &err)) < 0)
        goto fail;
    if (!(rd = query_reader_get(q, &err))) {
        rc = FL_ESQL;
        goto fail;
    }
    fl_index_sql_opts o = {q->sql_budget_ms, q->sql_max_rows, x.plan};
    fl_index_sql_result res;
    if (!x.rows) {
        rc = fl_err_set(&err, -ENOMEM, "out of memory");
        goto fail;
    }
    rc = fl_index_sql_run(rd, c.sql.data, c.params, c.nparams, &o, on_row, &x, &res, &err);
    if (rc == STOP_TOO_BIG) {
        res.truncated = true;
        res.rows = (int64_t)json_array_size(x.rows);
        rc = 0;
    }
    if (rc != 0)
        goto fail;
    out = answer(&c, &x, &res, q, x.plan);
    if (!out) {
        rc = fl_err_set(&err, -ENOMEM, "out of memory");
        goto fail;
    }
    fl_request_reply_json(r, 200, out);
    goto done;
fail:
    if (rc == -ENOMEM && !err.msg[0])
        fl_err_set(&err, rc, "out of memory");
    if (rc > 0 || rc == FL_ESQL)
        fl_log(FL_LOG_WARN, "query", "POST /query by %s: %s", u->name, err.msg);
    reply_error(r, rc, &err);
done:
    if (rd)
        query_reader_put(q, rd);
    json_decref(x.rows);
    sql_compiled_done(&c);
    sql_query_free(ast);
    json_decref(req);
}

static void on_query(fl_request *r, void *ud)
{
    fl_query *q = ud;
    query_user u;
    if (query_authenticate(q, r, &u) != 0)
        return;
    if (!query_scope_any(q, &u)) {
        fl_request_reply_status(r, 403, NULL, "user \"%s\" has no scope in auth.scopes", u.name);
        return;
    }
    serve(q, r, &u);
}

int query_sql_route(fl_query *q, fl_server *srv)
{
    return fl_server_route(srv, "POST", "/query", on_query, q);
}
