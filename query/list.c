/*
 * query/list.c: LIST of one resource type across the fleet (or one
 * cluster) from the index: the page (page.c) of rows that pass the
 * request's conditions (conds.c) after the continue token's position, with
 * resourceVersion, continue and remainingItemCount. With orderby the page
 * comes from the sorted keys of every match (order.c), fetched by point
 * lookups in the same snapshot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

/* A page filtered after the index (field selectors, negative sets, scopes)
 * scans on until it is full, for at most fl_query_opts.list_scan_budget_ms
 * or this many rows. */
#define LIST_SCAN_MAX_ROWS 1000000

static int change_stop(void *arg, const char *type, bool superseded, int64_t revision,
                       const fl_index_row *row)
{
    return 1;
}

/* Continue token check: FL_EPARSE (tampered), FL_EGONE (past retention). */
static int resume(query_page *x, fl_index_reader *rd, fl_query_cursor *cur, fl_err *err)
{
    if (fl_query_token_decode_for(x->q, x->bind, query_conds_continue(x->c), cur) != 0)
        return fl_err_set(err, FL_EPARSE,
                          "invalid continue token (or one from another list, "
                          "user or query)");
    int rc = fl_index_changes(rd, cur->revision, 1, change_stop, NULL, NULL, NULL);
    if (rc == FL_EGONE)
        return FL_EGONE;
    return 0;
}

/* ---- ordered lists (orderby): sort keys of every match, keyset page ---- */

typedef struct ord_ctx {
    query_page *x;
    query_sorted rows;
    int rc;
} ord_ctx;

static int ord_row(void *arg, const fl_index_row *row)
{
    ord_ctx *o = arg;
    const query_page *x = o->x;
    if (!query_conds_row_ok(x->c, row) ||
        !query_scope_allows(x->q, x->u, row->cluster, row->namespace_, row->group, row->resource))
        return 0;
    if (query_conds_fields(x->c)) {
        json_t *obj = NULL;
        bool ok = fl_json_parse(row->json, row->json_len, &obj, NULL) == 0 &&
                  fl_query_fields_match(query_conds_fields(x->c), obj);
        json_decref(obj);
        if (!ok)
            return 0;
    }
    o->rc = query_sorted_add(&o->rows, row);
    return o->rc ? 2 : 0;
}

static int ord_get(void *arg, const fl_index_row *row)
{
    query_page *x = arg;
    int rc = query_page_add(x, row);
    if (rc)
        x->rc = rc;
    return rc ? 2 : 0;
}

/* One object by key as of revision as_of (0: now). */
static int ord_one(query_page *x, fl_index_reader *rd, const fl_index_key *k, int64_t as_of,
                   fl_err *err)
{
    fl_index_query q = FL_INDEX_QUERY_INIT;
    if (!as_of)
        return fl_index_get(rd, k, ord_get, x, err);
    q.group = k->group, q.version = k->version, q.resource = k->resource;
    q.clusters = &k->cluster, q.n_clusters = 1;
    q.namespaces = &k->namespace_, q.n_namespaces = 1;
    q.names = &k->name, q.n_names = 1;
    q.as_of = as_of;
    q.limit = 1;
    return fl_index_list(rd, &q, ord_get, x, NULL, err);
}

/* Fetch rows [from, to) of the sorted keys by point lookups. */
static int ord_page(query_page *x, fl_index_reader *rd, const query_sorted *s, size_t from,
                    size_t to, int64_t as_of, fl_err *err)
{
    for (size_t i = from; i < to; i++) {
        fl_index_key k = {s->v[i].cluster,     x->t->res->group, x->t->res->version,
                          x->t->res->resource, s->v[i].ns,       s->v[i].name};
        int rc = ord_one(x, rd, &k, as_of, err);
        if (rc == 2)
            return x->rc;
        if (rc && rc != FL_ENOTFOUND)
            return rc;
    }
    return 0;
}

/* A list without limit that holds more than FL_QUERY_DEFAULT_LIMIT objects:
 * kube-apiserver would return them all; rather than a silently short answer
 * (a raw client that does not page ignores the continue token), refuse with
 * a Status that says why and what to do. Returns 0 (answered). */
static int refuse_unpaged(fl_request *r)
{
    fl_request_reply_status(r, 413, "RequestEntityTooLarge",
                            "the list has more than %d objects: page it with limit and continue "
                            "(kubectl pages by default; --chunk-size=0 does not)",
                            FL_QUERY_DEFAULT_LIMIT);
    return 0;
}

/* as_of: the revision to list at (0: now); a continue token's wins. */
static int run_ordered(query_page *x, fl_index_reader *rd, fl_request *r, int64_t as_of,
                       fl_err *err)
{
    ord_ctx o = {x, {0}, 0};
    query_scope_buf sb;
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    fl_query_cursor cur, last;
    int64_t rev = 0;
    size_t from = 0;
    fl_buf tok = FL_BUF_INIT(4096);
    int rc = fl_index_reader_revision(rd, &rev);
    memset(&cur, 0, sizeof cur);
    query_conds_index_query(x->c, x->t, &iq);
    bool some = query_scope_query(x->q, x->u, x->t->res, &sb, &iq);
    iq.limit = QUERY_ORDER_MAX_ROWS + 1;
    if (!rc && query_conds_continue(x->c) &&
        (fl_query_token_decode_for(x->q, x->bind, query_conds_continue(x->c), &cur) != 0 ||
         !cur.ordered || cur.order_sig != query_order_sig(query_conds_order(x->c))))
        rc = fl_err_set(err, FL_EPARSE, "invalid continue token (for this orderby)");
    if (cur.ordered)
        as_of = cur.revision;
    if (as_of)
        iq.as_of = rev = as_of;
    if (!rc && some && !query_conds_nothing(x->c) &&
        (rc = fl_index_list(rd, &iq, ord_row, &o, NULL, err)))
        rc = o.rc == -E2BIG ? fl_err_set(err, -E2BIG,
                                         "orderby over more than %d objects: "
                                         "narrow the query",
                                         QUERY_ORDER_MAX_ROWS)
             : o.rc         ? o.rc
                            : rc;
    if (rc)
        goto out;
    query_sorted_sort(&o.rows, query_conds_order(x->c));
    if (cur.ordered)
        from = query_sorted_after(&o.rows, query_conds_order(x->c), &cur);
    size_t to = from + (size_t)x->limit < o.rows.n ? from + (size_t)x->limit : o.rows.n;
    if (to < o.rows.n && query_conds_unlimited(x->c)) {
        rc = refuse_unpaged(r);
        goto out;
    }
    if ((rc = ord_page(x, rd, &o.rows, from, to, as_of, err)) != 0)
        goto out;
    char rvs[32], *cont = NULL;
    query_page_revision(x, rev, rvs);
    if (to < o.rows.n) {
        query_sorted_cursor(&o.rows.v[to - 1], query_conds_order(x->c), rev, &last);
        last.offset = (int64_t)to;
        if ((rc = fl_query_token_encode_for(x->q, x->bind, &last, &tok)) != 0)
            goto out;
        cont = tok.data;
    }
    int64_t remaining = query_conds_wants_remaining(x->c) && cont ? (int64_t)(o.rows.n - to) : -1;
    rc = x->table ? query_page_reply_table(x, r, rvs, cont, remaining)
                  : query_page_reply_list(x, r, rvs, cont, remaining);
out:
    query_sorted_done(&o.rows);
    fl_buf_done(&tok);
    return rc;
}

static int run_list(query_page *x, fl_index_reader *rd, fl_request *r, fl_err *err)
{
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    query_scope_buf sb;
    fl_query_cursor cur;
    int64_t rev = 0;
    int rc;
    memset(&cur, 0, sizeof cur);
    query_conds_index_query(x->c, x->t, &iq);
    bool some = query_scope_query(x->q, x->u, x->t->res, &sb, &iq);
    if ((rc = fl_index_reader_revision(rd, &rev)) != 0)
        return fl_err_set(err, rc, "index revision");
    if (query_conds_continue(x->c)) {
        if ((rc = resume(x, rd, &cur, err)) != 0)
            return rc;
        iq.after_cluster = cur.cluster;
        iq.after_namespace = cur.namespace_;
        iq.after_name = cur.name;
        iq.as_of = rev = cur.revision; /* every page is the first page's snapshot */
    }
    if (x->exact_rv >= 0 && !query_conds_continue(x->c) && x->exact_rv != rev) {
        /* as kube-apiserver: a revision not reached yet is a timeout, an older
         * one is served as it was while the change log holds it, then 410 */
        if (x->exact_rv > rev) {
            fl_request_reply_status(r, 504, "Timeout",
                                    "Timeout: Too large resource version: "
                                    "%lld, current: %lld",
                                    (long long)x->exact_rv, (long long)rev);
            return 0;
        }
        iq.as_of = rev = x->exact_rv;
    }
    x->limit = query_conds_limit(x->c);
    if (query_conds_order(x->c)->n)
        return run_ordered(x, rd, r, iq.as_of, err);
    x->filtered = !query_conds_exact(x->q, x->c);
    x->scan_until = fl_mono_ms() + x->q->list_scan_budget_ms;
    iq.limit = x->filtered ? LIST_SCAN_MAX_ROWS : x->limit + 1;
    if (some && !query_conds_nothing(x->c)) {
        rc = fl_index_list(rd, &iq, query_page_row, x, NULL, err);
        if (rc == FL_EGONE && !query_conds_continue(x->c)) {
            fl_request_reply_status(r, 410, "Expired", "%s", err->msg);
            return 0;
        }
        if (rc == 2 || (rc < 0))
            return x->rc ? x->rc : rc;
    }
    if (x->more && query_conds_unlimited(x->c))
        return refuse_unpaged(r);
    char rvs[32], *cont = NULL;
    fl_buf tok = FL_BUF_INIT(4096);
    query_page_revision(x, rev, rvs);
    int64_t remaining = -1;
    if (x->more) {
        x->last.revision = rev;
        x->last.offset = cur.offset + x->seen;
        /* the list's total at its snapshot: counted once, on the first page (the
         * count ignores the cursor), then carried in the token, so a page stays
         * O(limit) however long the list */
        int64_t total = cur.total;
        bool counted = query_conds_wants_remaining(x->c) && query_conds_exact(x->q, x->c);
        if (counted && total <= 0 && fl_index_count(rd, &iq, &total, NULL) != 0)
            total = 0;
        if (counted && total > 0)
            remaining = total > x->last.offset ? total - x->last.offset : 0;
        x->last.total = total;
        if ((rc = fl_query_token_encode_for(x->q, x->bind, &x->last, &tok)) != 0)
            return rc;
        cont = tok.data;
    }
    rc = x->table ? query_page_reply_table(x, r, rvs, cont, remaining)
                  : query_page_reply_list(x, r, rvs, cont, remaining);
    fl_buf_done(&tok);
    return rc;
}

/* The list parameters kube-apiserver v1.26 rejects before it lists, with its
 * codes and messages (tests/golden/07-semantics): a resourceVersion that is
 * not a number is a 500, resourceVersionMatch without resourceVersion a 422.
 * Replies and returns true when the request is refused. */
static bool list_params_refused(fl_request *r)
{
    const char *rv = fl_request_query(r, "resourceVersion");
    const char *m = fl_request_query(r, "resourceVersionMatch");
    int64_t n;
    if (rv && *rv && (fl_parse_i64(rv, strlen(rv), &n) != 0 || n < 0)) {
        fl_request_reply_status(r, 500, "",
                                "resourceVersion: Invalid value: \"%.64s\": strconv.ParseUint: "
                                "parsing \"%.64s\": invalid syntax",
                                rv, rv);
        return true;
    }
    if (m && *m && !(rv && *rv)) {
        fl_request_reply_status(r, 422, "Invalid",
                                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
                                "Forbidden: resourceVersionMatch is forbidden unless "
                                "resourceVersion is provided");
        return true;
    }
    if (m && *m && strcmp(m, "Exact") && strcmp(m, "NotOlderThan")) {
        fl_request_reply_status(r, 422, "Invalid",
                                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
                                "Unsupported value: \"%.64s\": supported values: \"Exact\", "
                                "\"NotOlderThan\"",
                                m);
        return true;
    }
    return false;
}

void query_serve_list(fl_query *q, fl_request *r, const query_user *u, const query_target *t)
{
    fl_err err = FL_ERR_INIT;
    fl_index_reader *rd = query_reader_get(q, &err);
    conds *c = NULL;
    query_page x = {.q = q, .u = u, .t = t, .exact_rv = -1};
    int rc = 0;
    if (!rd) {
        fl_request_reply_status(r, 500, "InternalError", "out of resources");
        goto out;
    }
    if (list_params_refused(r))
        goto out;
    if ((rc = query_conds_new(r, t, &c, &err)) != 0) {
        query_reply_error(r, rc, &err);
        goto out;
    }
    x.c = c;
    const char *m = fl_request_query(r, "resourceVersionMatch"),
               *rv = fl_request_query(r, "resourceVersion");
    if (m && !strcmp(m, "Exact") && rv && fl_parse_i64(rv, strlen(rv), &x.exact_rv) != 0)
        x.exact_rv = -1;
    char what[512];
    snprintf(what, sizeof what, "%s/%s/%s", t->res->group, t->res->version, t->res->resource);
    if (query_token_bind(r, u, what, t->cluster, t->ns, x.bind) != 0) {
        fl_request_reply_status(r, 500, "InternalError", "out of memory");
        goto out;
    }
    x.table = query_wants_table(r);
    x.raw_ok = !x.table;
    x.objs = json_array();
    fl_buf_init(&x.out, QUERY_REPLY_MAX);
    query_warn_not_ready(q, r, u, t->cluster);
    if (fl_index_reader_begin(rd) != 0) {
        fl_request_reply_status(r, 500, "InternalError", "index snapshot failed");
        goto out;
    }
    if ((rc = query_conds_resolve(q, u, c, rd, &err)) != 0 || (rc = run_list(&x, rd, r, &err)) != 0)
        query_reply_error(r, rc, &err);
    fl_index_reader_end(rd);
out:
    json_decref(x.objs);
    fl_buf_done(&x.out);
    query_conds_free(c);
    if (rd)
        query_reader_put(q, rd);
}
