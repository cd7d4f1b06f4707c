/*
 * query/list.c: LIST and GET of one resource type across the fleet (or one
 * cluster) from the index. Parses the request's conditions once (label
 * selector, field selector, Clusterpedia search labels and query
 * parameters, limit/continue), pushes what the index can answer into an
 * fl_index_query (clusters, namespaces, names, labels, owner uid, creation
 * time, full text) and checks the rest per row (negative sets, field
 * selector, scopes, owner sets from owner.c). Answers a List (the stored
 * JSON, unparsed when possible) or a Table with a leading Cluster column.
 * With orderby the page comes from the sorted keys of every match
 * (order.c), fetched by point lookups in the same snapshot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

#define REPLY_MAX (512u << 20)
/* A page filtered after the index (field selectors, negative sets, scopes)
 * scans on until it is full, for at most this long or this many rows. */
#define LIST_SCAN_BUDGET_MS 3000
#define LIST_SCAN_MAX_ROWS 1000000
#define SET_MAX 256
#define PARAM_MAX (64u << 10)
#define SP "search.clusterpedia.io/"
#define IP "internalstorage.clusterpedia.io/"

/* A condition on cluster, namespace or name: positive sets are ANDed, as
 * are negative ones; the index gets the first positive set. */
typedef struct name_set {
    const char *v[SET_MAX];
    size_t n;
    bool neg; /* notin / != / DoesNotExist (n == 0: nothing matches) */
} name_set;

typedef enum { DIM_CLUSTER, DIM_NAMESPACE, DIM_NAME, DIM_FUZZY, DIM_N } dim;

struct query_conds {
    name_set sets[DIM_N][8];
    size_t nsets[DIM_N];
    fl_index_label_req labels[FL_LABELS_MAX_REQS];
    size_t nlabels;
    fl_query_fields *fields;
    fl_label_selector *sel;
    query_owner owner;
    query_order order;
    int64_t since, before, limit;
    bool remaining;
    const char *cont;
    char *arena[64]; /* copies of comma-split query parameters */
    size_t narena;
};

static void conds_done(conds *c)
{
    fl_label_selector_free(c->sel);
    fl_query_fields_free(c->fields);
    query_owner_done(&c->owner);
    for (size_t i = 0; i < c->narena; i++)
        free(c->arena[i]);
}

static int add_set(conds *c, dim d, bool neg, const char *const *v, size_t n, fl_err *err)
{
    if (c->nsets[d] >= 8 || n > SET_MAX)
        return fl_err_set(err, -E2BIG, "too many search conditions");
    name_set *s = &c->sets[d][c->nsets[d]++];
    s->neg = neg;
    s->n = n;
    for (size_t i = 0; i < n; i++)
        s->v[i] = v[i];
    return 0;
}

/* Parse a time for since/before: unix seconds, RFC 3339 or YYYY-MM-DD. */
static int parse_time(const char *s, int64_t *out, fl_err *err)
{
    char buf[40];
    if (fl_parse_i64(s, strlen(s), out) == 0)
        return 0;
    if (strlen(s) == 10 && snprintf(buf, sizeof buf, "%sT00:00:00Z", s) > 0 &&
        fl_time_parse(buf, out) == 0)
        return 0;
    if (fl_time_parse(s, out) == 0)
        return 0;
    return fl_err_set(err, FL_EPARSE, "invalid time \"%.64s\"", s);
}

static int one_value(const char *key, const fl_label_req *lr, const char **out, fl_err *err)
{
    if ((lr->op != FL_LABEL_EQUALS && lr->op != FL_LABEL_DOUBLE_EQUALS &&
         lr->op != FL_LABEL_IN) || lr->nvalues != 1)
        return fl_err_set(err, FL_EPARSE, "%s: only '=', '==' with one value are supported", key);
    *out = lr->values[0];
    return 0;
}

static int set_from_req(conds *c, dim d, const char *key, const fl_label_req *lr, fl_err *err)
{
    switch (lr->op) {
    case FL_LABEL_IN:
    case FL_LABEL_EQUALS:
    case FL_LABEL_DOUBLE_EQUALS:
        return add_set(c, d, false, lr->values, lr->nvalues, err);
    case FL_LABEL_NOT_IN:
    case FL_LABEL_NOT_EQUALS:
        return add_set(c, d, true, lr->values, lr->nvalues, err);
    case FL_LABEL_EXISTS:
        return 0;
    case FL_LABEL_DOES_NOT_EXIST:
        return add_set(c, d, false, NULL, 0, err); /* every object has one: nothing */
    default:
        return fl_err_set(err, FL_EPARSE, "%s: operator %s is not supported", key,
                          fl_label_op_name(lr->op));
    }
}

static int seniority_value(const char *key, const char *v, int64_t *out, fl_err *err)
{
    if (fl_parse_i64(v, strlen(v), out) != 0 || *out < 0 || *out > 16)
        return fl_err_set(err, FL_EPARSE, "%s: want an integer 0..16, not \"%.32s\"", key, v);
    return 0;
}

/* orderby from the search label: each value "field" or "field_desc". */
static int order_req(conds *c, const char *key, const fl_label_req *lr, fl_err *err)
{
    int rc = 0;
    if (lr->op != FL_LABEL_EQUALS && lr->op != FL_LABEL_DOUBLE_EQUALS && lr->op != FL_LABEL_IN)
        return fl_err_set(err, FL_EPARSE, "%s: only '=', '==' and 'in' are supported", key);
    for (size_t i = 0; i < lr->nvalues && !rc; i++)
        rc = query_order_add(&c->order, lr->values[i], err);
    return rc;
}

static int bool_value(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "0"))
        *out = false;
    else
        return FL_EPARSE;
    return 0;
}

/* A search.clusterpedia.io/ or internalstorage.clusterpedia.io/ requirement. */
static int search_req(conds *c, const char *key, const fl_label_req *lr, fl_err *err)
{
    const char *k = key + (fl_str_has_prefix(key, SP) ? strlen(SP) : strlen(IP));
    const char *v = NULL;
    int rc = 0;
    bool b;
    if (!strcmp(k, "clusters"))
        return set_from_req(c, DIM_CLUSTER, key, lr, err);
    if (!strcmp(k, "namespaces"))
        return set_from_req(c, DIM_NAMESPACE, key, lr, err);
    if (!strcmp(k, "names"))
        return set_from_req(c, DIM_NAME, key, lr, err);
    if (!strcmp(k, "fuzzy-name"))
        return set_from_req(c, DIM_FUZZY, key, lr, err);
    if (!strcmp(k, "orderby"))
        return order_req(c, key, lr, err);
    if ((rc = one_value(key, lr, &v, err)) != 0)
        return rc;
    if (!strcmp(k, "owner-uid"))
        c->owner.uid = v;
    else if (!strcmp(k, "owner-name"))
        c->owner.name = v;
    else if (!strcmp(k, "owner-gr"))
        c->owner.gr = v;
    else if (!strcmp(k, "owner-seniority"))
        rc = seniority_value(key, v, &c->owner.seniority, err);
    else if (!strcmp(k, "since"))
        rc = parse_time(v, &c->since, err);
    else if (!strcmp(k, "before"))
        rc = parse_time(v, &c->before, err);
    else if (!strcmp(k, "limit") || !strcmp(k, "size"))
        rc = fl_parse_i64(v, strlen(v), &c->limit) || c->limit < 0
                 ? fl_err_set(err, FL_EPARSE, "%s: invalid value \"%s\"", key, v) : 0;
    else if (!strcmp(k, "with-remaining-count"))
        rc = bool_value(v, &b) ? fl_err_set(err, FL_EPARSE, "%s: want true|false", key)
                               : (c->remaining = b, 0);
    else if (!strcmp(k, "with-continue"))
        rc = bool_value(v, &b) ? fl_err_set(err, FL_EPARSE, "%s: want true|false", key) : 0;
    else
        rc = fl_err_set(err, FL_EUNSUPPORTED, "%s is not supported", key);
    return rc;
}

static fl_index_label_op map_op(fl_label_op op)
{
    switch (op) {
    case FL_LABEL_IN: return FL_INDEX_LABEL_IN;
    case FL_LABEL_NOT_IN: return FL_INDEX_LABEL_NOTIN;
    case FL_LABEL_NOT_EQUALS: return FL_INDEX_LABEL_NE;
    case FL_LABEL_EXISTS: return FL_INDEX_LABEL_EXISTS;
    case FL_LABEL_DOES_NOT_EXIST: return FL_INDEX_LABEL_NOT_EXISTS;
    case FL_LABEL_GT: return FL_INDEX_LABEL_GT;
    case FL_LABEL_LT: return FL_INDEX_LABEL_LT;
    default: return FL_INDEX_LABEL_EQ;
    }
}

static int parse_labels(conds *c, const char *s, fl_err *err)
{
    int rc = fl_label_selector_parse(s, strlen(s), &c->sel, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < fl_label_selector_count(c->sel) && !rc; i++) {
        fl_label_req lr;
        fl_label_selector_req(c->sel, i, &lr);
        if (fl_str_has_prefix(lr.key, SP) || fl_str_has_prefix(lr.key, IP)) {
            rc = search_req(c, lr.key, &lr, err);
            continue;
        }
        if (c->nlabels >= FL_INDEX_QUERY_MAX_TERMS)
            return fl_err_set(err, -E2BIG, "too many label requirements");
        c->labels[c->nlabels++] = (fl_index_label_req){lr.key, map_op(lr.op), lr.values,
                                                       lr.nvalues};
    }
    return rc;
}

/* A comma-separated query parameter (clusters=a,b) as a positive set. */
static int param_set(conds *c, dim d, const char *v, fl_err *err)
{
    const char *vals[SET_MAX];
    size_t n = 0;
    if (strlen(v) > PARAM_MAX || c->narena >= FL_ARRAY_LEN(c->arena))
        return fl_err_set(err, -E2BIG, "query parameter too long");
    char *copy = strdup(v);
    if (!copy)
        return -ENOMEM;
    c->arena[c->narena++] = copy;
    for (char *s = copy, *e; s; s = e) {
        if ((e = strchr(s, ',')))
            *e++ = 0;
        if (!*s)
            continue;
        if (n >= SET_MAX)
            return fl_err_set(err, -E2BIG, "more than %d values", SET_MAX);
        vals[n++] = s;
    }
    return add_set(c, d, false, vals, n, err);
}

/* orderby=namespace desc,cluster */
static int param_order(conds *c, const char *v, fl_err *err)
{
    char one[128];
    if (strlen(v) > 1024)
        return fl_err_set(err, -E2BIG, "orderby too long");
    for (const char *s = v, *e; s; s = e ? e + 1 : NULL) {
        e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n >= sizeof one)
            return fl_err_set(err, FL_EPARSE, "orderby: unknown field \"%.64s\"", s);
        memcpy(one, s, n);
        one[n] = 0;
        int rc = query_order_add(&c->order, one, err);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct param_ctx {
    conds *c;
    fl_err *err;
    int rc;
} param_ctx;

static int one_param(conds *c, const char *k, const char *v, fl_err *err)
{
    bool b;
    if (!strcmp(k, "clusters"))
        return param_set(c, DIM_CLUSTER, v, err);
    if (!strcmp(k, "namespaces"))
        return param_set(c, DIM_NAMESPACE, v, err);
    if (!strcmp(k, "names"))
        return param_set(c, DIM_NAME, v, err);
    if (!strcmp(k, "fuzzyName"))
        return param_set(c, DIM_FUZZY, v, err);
    if (!strcmp(k, "ownerUID") || !strcmp(k, "ownerID"))
        return c->owner.uid = v, 0;
    if (!strcmp(k, "ownerName"))
        return c->owner.name = v, 0;
    if (!strcmp(k, "ownerGR"))
        return c->owner.gr = v, 0;
    if (!strcmp(k, "ownerSeniority"))
        return seniority_value(k, v, &c->owner.seniority, err);
    if (!strcmp(k, "orderby"))
        return param_order(c, v, err);
    if (!strcmp(k, "since"))
        return parse_time(v, &c->since, err);
    if (!strcmp(k, "before"))
        return parse_time(v, &c->before, err);
    if (!strcmp(k, "withRemainingCount"))
        return bool_value(v, &b) ? fl_err_set(err, FL_EPARSE, "%s: want true|false", k)
                                 : (c->remaining = b, 0);
    return 0; /* kube-apiserver ignores unknown parameters */
}

static bool param_cb(const char *k, const char *v, void *ud)
{
    param_ctx *p = ud;
    p->rc = one_param(p->c, k, v ? v : "", p->err);
    return p->rc == 0;
}

static int parse_conds(fl_request *r, conds *c, fl_err *err)
{
    const char *ls = fl_request_query(r, "labelSelector");
    const char *fs = fl_request_query(r, "fieldSelector");
    const char *lim = fl_request_query(r, "limit");
    int rc = 0;
    param_ctx pc = {c, err, 0};
    if (ls && (rc = parse_labels(c, ls, err)) != 0)
        return rc;
    if (fs && (rc = fl_query_fields_parse(fs, &c->fields, err)) != 0)
        return rc;
    if (lim && *lim && (fl_parse_i64(lim, strlen(lim), &c->limit) != 0 || c->limit < 0))
        return fl_err_set(err, FL_EPARSE, "invalid limit \"%.32s\"", lim);
    c->cont = fl_request_query(r, "continue");
    fl_request_query_each(r, param_cb, &pc);
    return pc.rc;
}

/* ---- per-row checks ---------------------------------------------------------- */

static bool set_has(const name_set *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], v))
            return true;
    return false;
}

static bool fuzzy_has(const name_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcasestr(name, s->v[i]))
            return true;
    return false;
}

static bool dim_ok(const conds *c, dim d, const char *v)
{
    for (size_t i = 0; i < c->nsets[d]; i++) {
        const name_set *s = &c->sets[d][i];
        bool in = d == DIM_FUZZY ? fuzzy_has(s, v) : set_has(s, v);
        if (in == s->neg)
            return false;
    }
    return true;
}

static bool row_ok(const conds *c, const fl_index_row *row)
{
    return dim_ok(c, DIM_CLUSTER, row->cluster) && dim_ok(c, DIM_NAMESPACE, row->namespace_) &&
           dim_ok(c, DIM_NAME, row->name) && dim_ok(c, DIM_FUZZY, row->name) &&
           query_owner_match(&c->owner, row);
}

static int add_target_sets(conds *c, const query_target *t, fl_err *err);
static const char *const *first_pos(const conds *c, dim d, size_t *n);

/* Label requirements (not search ones) against metadata.labels. */
static bool label_ok(const fl_index_label_req *lr, const json_t *labels)
{
    const char *v = json_string_value(json_object_get(labels, lr->key));
    bool in = false;
    int64_t a, b;
    for (size_t i = 0; v && i < lr->n_values; i++)
        in |= !strcmp(v, lr->values[i]);
    switch (lr->op) {
    case FL_INDEX_LABEL_EQ: case FL_INDEX_LABEL_IN: return in;
    case FL_INDEX_LABEL_NE: case FL_INDEX_LABEL_NOTIN: return !in;
    case FL_INDEX_LABEL_EXISTS: return v != NULL;
    case FL_INDEX_LABEL_NOT_EXISTS: return v == NULL;
    default:
        if (!v || lr->n_values != 1 || fl_parse_i64(v, strlen(v), &a) ||
            fl_parse_i64(lr->values[0], strlen(lr->values[0]), &b))
            return false;
        return lr->op == FL_INDEX_LABEL_GT ? a > b : a < b;
    }
}

bool query_conds_match(const conds *c, const fl_index_row *row, const json_t *obj)
{
    if (!row_ok(c, row))
        return false;
    const json_t *labels = fl_obj_get(obj, "metadata.labels");
    for (size_t i = 0; i < c->nlabels; i++)
        if (!label_ok(&c->labels[i], labels))
            return false;
    return fl_query_fields_match(c->fields, obj);
}

/* metadata.namespace=X and metadata.name=X field selector terms as index
 * sets, so the index query narrows to them (the terms still filter rows). */
static int fields_to_sets(conds *c, fl_err *err)
{
    static const struct { const char *path; dim d; } cols[] = {
        {"metadata.namespace", DIM_NAMESPACE}, {"metadata.name", DIM_NAME}};
    int rc = 0;
    for (size_t k = 0; k < FL_ARRAY_LEN(cols) && !rc; k++) {
        const char *v;
        for (size_t i = 0; !rc && (v = query_fields_eq(c->fields, cols[k].path, &i)) != NULL;)
            if (*v)
                rc = add_set(c, cols[k].d, false, &v, 1, err);
    }
    return rc;
}

int query_conds_new(fl_request *r, const query_target *t, conds **out, fl_err *err)
{
    conds *c = calloc(1, sizeof *c);
    int rc = c ? 0 : -ENOMEM;
    if (!rc && !(rc = parse_conds(r, c, err)) &&
        !(rc = query_fields_check(c->fields, t->res, err)) && !(rc = fields_to_sets(c, err)))
        rc = add_target_sets(c, t, err);
    if (rc) {
        if (c)
            conds_done(c);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int query_conds_resolve(fl_query *q, conds *c, fl_index_reader *rd, fl_err *err)
{
    size_t nc, nn;
    const char *const *cl = first_pos(c, DIM_CLUSTER, &nc);
    const char *const *ns = first_pos(c, DIM_NAMESPACE, &nn);
    return query_owner_resolve(q, &c->owner, cl, nc, ns, nn, rd, err);
}

void query_conds_free(conds *c)
{
    if (c)
        conds_done(c);
    free(c);
}

/* ---- the listing ---------------------------------------------------------------- */

typedef struct list_ctx {
    fl_query *q;
    const query_user *u;
    const conds *c;
    const query_target *t;
    bool table, raw_ok;
    int64_t limit, seen, emitted;
    int64_t exact_rv;    /* resourceVersionMatch=Exact: that revision, else -1 */
    bool filtered;       /* rows are filtered after the index: scan on to fill the page */
    int64_t scan_until;  /* fl_mono_ms() deadline for a filtered scan */
    fl_buf out;         /* raw JSON items, comma-separated */
    json_t *objs;       /* parsed items (Table or field selector) */
    fl_query_cursor last; /* key of the last row looked at */
    char bind[QUERY_BIND_LEN]; /* continue tokens are bound to this */
    bool more;
    int rc;
} list_ctx;

/* kube-apiserver's list items carry no kind/apiVersion (the list's own do):
 * the length of the stored object's leading "kind":"K","apiVersion":"V",
 * members after its '{' (Go's encoding puts them first), 0 if not there. */
static size_t type_prefix(const char *j, size_t n)
{
    static const char *const keys[] = {"\"kind\":\"", "\"apiVersion\":\""};
    size_t at = 1;
    if (n < 2 || j[0] != '{')
        return 0;
    for (int k = 0; k < 2; k++) {
        size_t kl = strlen(keys[k]);
        if (n - at < kl || memcmp(j + at, keys[k], kl))
            return 0;
        at += kl;
        while (at < n && j[at] != '"' && j[at] != '\\')
            at++;
        if (at + 1 >= n || j[at] != '"' || j[at + 1] != ',')
            return 0;
        at += 2;
    }
    return at - 1;
}

static int add_row(list_ctx *x, const fl_index_row *row)
{
    json_t *obj = NULL;
    if (!x->raw_ok || x->c->fields) {
        fl_err e = FL_ERR_INIT;
        if (fl_json_parse(row->json, row->json_len, &obj, &e) != 0)
            return 0; /* unreadable row: skip */
        if (!fl_query_fields_match(x->c->fields, obj)) {
            json_decref(obj);
            return 0;
        }
    }
    x->emitted++;
    if (!x->raw_ok)
        return json_array_append_new(x->objs, obj) ? -ENOMEM : 0;
    json_decref(obj);
    size_t skip = type_prefix(row->json, row->json_len);
    int rc = x->out.len ? fl_buf_puts(&x->out, ",") : 0;
    if (rc || !skip)
        return rc ? rc : fl_buf_append(&x->out, row->json, row->json_len);
    rc = fl_buf_puts(&x->out, "{");
    return rc ? rc : fl_buf_append(&x->out, row->json + 1 + skip, row->json_len - 1 - skip);
}

static int list_row(void *arg, const fl_index_row *row)
{
    list_ctx *x = arg;
    if ((x->filtered ? x->emitted : x->seen) == x->limit ||
        (x->filtered && (x->seen % 256) == 255 && fl_mono_ms() > x->scan_until)) {
        x->more = true; /* a filtered page stops early at its time budget */
        return 1;
    }
    x->seen++;
    fl_strlcpy(x->last.cluster, row->cluster, sizeof x->last.cluster);
    fl_strlcpy(x->last.namespace_, row->namespace_, sizeof x->last.namespace_);
    fl_strlcpy(x->last.name, row->name, sizeof x->last.name);
    if (!row_ok(x->c, row) ||
        !query_scope_allows(x->q, x->u, row->cluster, row->namespace_, row->group, row->resource))
        return 0;
    int rc = add_row(x, row);
    if (rc) {
        x->rc = rc;
        return 2;
    }
    return 0;
}

static const char *const *first_pos(const conds *c, dim d, size_t *n)
{
    for (size_t i = 0; i < c->nsets[d]; i++)
        if (!c->sets[d][i].neg) {
            *n = c->sets[d][i].n;
            return c->sets[d][i].v;
        }
    *n = 0;
    return NULL;
}

static void build_query(const conds *c, const query_target *t, fl_index_query *iq)
{
    size_t n;
    const char *const *p;
    iq->group = t->res->group;
    iq->version = t->res->version;
    iq->resource = t->res->resource;
    if ((p = first_pos(c, DIM_CLUSTER, &n)))
        iq->clusters = p, iq->n_clusters = n;
    if ((p = first_pos(c, DIM_NAMESPACE, &n)))
        iq->namespaces = p, iq->n_namespaces = n;
    if ((p = first_pos(c, DIM_NAME, &n)))
        iq->names = p, iq->n_names = n;
    iq->labels = c->labels;
    iq->n_labels = c->nlabels;
    iq->owner_uid = query_owner_index_uid(&c->owner);
    iq->created_since = c->since;
    iq->created_before = c->before;
    iq->order = FL_INDEX_ORDER_KEY;
}

/* Narrow an index term list (n == 0: no constraint) to the scope's
 * terms; buf holds the intersection. False when nothing is left. */
static bool narrow(const char *const **set, size_t *n, const char *const *scope, size_t ns,
                   const char **buf)
{
    if (!*set || *n == 0) {
        *set = scope;
        *n = ns;
        return ns > 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        for (size_t j = 0; j < ns; j++)
            if (!strcmp((*set)[i], scope[j])) {
                buf[k++] = (*set)[i];
                break;
            }
    *set = buf;
    *n = k;
    return k > 0;
}

bool query_scope_query(const fl_query *q, const query_user *u, const fl_kube_resource *res,
                       query_scope_buf *sb, fl_index_query *iq)
{
    query_scope_terms *t = &sb->terms;
    query_scope_terms_for(q, u, res->group, res->resource, res->namespaced, t);
    if (!t->any)
        return false;
    if (!t->all_clusters && !narrow(&iq->clusters, &iq->n_clusters, t->clusters, t->nclusters,
                                    sb->clusters))
        return false;
    if (!t->all_namespaces && !narrow(&iq->namespaces, &iq->n_namespaces, t->namespaces,
                                      t->nnamespaces, sb->namespaces))
        return false;
    return true;
}

/* True when every condition went to the index (so its count is exact). */
static bool all_in_index(const fl_query *q, const conds *c)
{
    if (c->fields || q->nscopes || c->nsets[DIM_FUZZY] ||
        (c->owner.resolved && c->owner.n != 1))
        return false;
    for (int d = 0; d < DIM_N; d++)
        if (c->nsets[d] > 1 || (c->nsets[d] == 1 && c->sets[d][0].neg))
            return false;
    return true;
}

/* remainingItemCount: asked for (withRemainingCount=true), or by default on
 * a list without label or field selectors, as kube-apiserver sends it. */
static bool wants_remaining(const conds *c)
{
    return c->remaining || (!c->fields && !c->sel && c->nlabels == 0);
}

/* A positive set with no values matches nothing. */
static bool matches_nothing(const conds *c)
{
    if (query_owner_nothing(&c->owner))
        return true;
    for (int d = 0; d < DIM_N; d++)
        for (size_t i = 0; i < c->nsets[d]; i++)
            if (!c->sets[d][i].neg && c->sets[d][i].n == 0)
                return true;
    return false;
}

static int add_target_sets(conds *c, const query_target *t, fl_err *err)
{
    int rc = 0;
    if (t->cluster)
        rc = add_set(c, DIM_CLUSTER, false, &t->cluster, 1, err);
    if (!rc && t->ns)
        rc = add_set(c, DIM_NAMESPACE, false, &t->ns, 1, err);
    if (!rc && t->name)
        rc = add_set(c, DIM_NAME, false, &t->name, 1, err);
    return rc;
}

/* ---- answers ---------------------------------------------------------------------- */

bool query_wants_table(const fl_request *r)
{
    const char *a = fl_request_header(r, "Accept");
    return a && strstr(a, "as=Table") && strstr(a, "g=meta.k8s.io");
}

void query_reply_error(fl_request *r, int rc, const fl_err *err)
{
    if (rc == FL_EPARSE || rc == -E2BIG || rc == FL_EUNSUPPORTED || rc == -EINVAL)
        fl_request_reply_status(r, 400, "BadRequest", "%s", err->msg[0] ? err->msg
                                                                         : fl_strerror(rc));
    else if (rc == -ETIMEDOUT)
        fl_request_reply_status(r, 504, "Timeout", "Timeout: %s",
                                err->msg[0] ? err->msg : "the request took too long");
    else if (rc == FL_EGONE)
        fl_request_reply_status(r, 410, "Expired",
                                "The provided continue parameter is too old to display a "
                                "consistent list result. You can start a new list without the "
                                "continue parameter.");
    else
        fl_request_reply_status(r, 500, "InternalError", "%s",
                                err->msg[0] ? err->msg : fl_strerror(rc));
}

static int reply_table(list_ctx *x, fl_request *r, const char *rv, const char *cont,
                       int64_t remaining)
{
    fl_kube_table_opts to = FL_KUBE_TABLE_OPTS_INIT;
    fl_kube_table_include inc = FL_KUBE_TABLE_METADATA;
    fl_err e = FL_ERR_INIT;
    json_t *tab = NULL;
    fl_kube_table_include_parse(fl_request_query(r, "includeObject"), &inc);
    to.include = inc;
    to.resource_version = rv;
    to.continue_token = cont;
    to.remaining_item_count = remaining;
    to.cluster_column = true;
    const char *a = fl_request_header(r, "Accept");
    to.api_version = a && strstr(a, "v=v1beta1") ? "meta.k8s.io/v1beta1" : "meta.k8s.io/v1";
    size_t n = json_array_size(x->objs);
    json_t **objs = calloc(n ? n : 1, sizeof *objs);
    if (!objs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        objs[i] = json_array_get(x->objs, i);
    int rc = fl_kube_table_render(x->t->res, objs, n, &to, &tab, &e);
    free(objs);
    if (rc)
        return rc;
    fl_request_reply_json(r, 200, tab);
    return 0;
}

static int reply_list(list_ctx *x, fl_request *r, const char *rv, const char *cont,
                      int64_t remaining)
{
    char av[512];
    fl_buf b = FL_BUF_INIT(REPLY_MAX);
    fl_kube_resource_api_version(x->t->res, av, sizeof av);
    int rc = fl_buf_printf(&b, "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":"
                               "{\"resourceVersion\":\"%s\"", x->t->res->list_kind, av, rv);
    if (!rc && cont)
        rc = fl_buf_printf(&b, ",\"continue\":\"%s\"", cont);
    if (!rc && remaining >= 0)
        rc = fl_buf_printf(&b, ",\"remainingItemCount\":%lld", (long long)remaining);
    if (!rc)
        rc = fl_buf_puts(&b, "},\"items\":[");
    if (!rc && x->raw_ok)
        rc = fl_buf_append(&b, x->out.data ? x->out.data : "", x->out.len);
    for (size_t i = 0; !rc && !x->raw_ok && i < json_array_size(x->objs); i++) {
        if (i)
            rc = fl_buf_puts(&b, ",");
        fl_buf one = FL_BUF_INIT(REPLY_MAX);
        if (!rc && !(rc = fl_json_encode(json_array_get(x->objs, i), false, &one)))
            rc = fl_buf_append(&b, one.data, one.len - 1); /* drop the newline */
        fl_buf_done(&one);
    }
    if (!rc)
        rc = fl_buf_puts(&b, "]}\n");
    if (!rc && fl_request_wants_pretty(r)) {
        json_t *v = NULL;
        if (!(rc = fl_json_parse(b.data, b.len, &v, NULL)))
            fl_request_reply_json(r, 200, v);
    } else if (!rc) {
        fl_request_reply(r, 200, "application/json", b.data, b.len);
    }
    fl_buf_done(&b);
    return rc;
}

static int change_stop(void *arg, const char *type, bool superseded, int64_t revision,
                       const fl_index_row *row)
{
    return 1;
}

/* Continue token check: FL_EPARSE (tampered), FL_EGONE (past retention). */
static int resume(list_ctx *x, fl_index_reader *rd, fl_query_cursor *cur, fl_err *err)
{
    if (fl_query_token_decode_for(x->q, x->bind, x->c->cont, cur) != 0)
        return fl_err_set(err, FL_EPARSE, "invalid continue token (or one from another list, "
                                          "user or query)");
    int rc = fl_index_changes(rd, cur->revision, 1, change_stop, NULL, NULL, NULL);
    if (rc == FL_EGONE)
        return FL_EGONE;
    return 0;
}

/* ---- ordered lists (orderby): sort keys of every match, keyset page ---- */

typedef struct ord_ctx {
    list_ctx *x;
    query_sorted rows;
    int rc;
} ord_ctx;

static int ord_row(void *arg, const fl_index_row *row)
{
    ord_ctx *o = arg;
    const list_ctx *x = o->x;
    if (!row_ok(x->c, row) ||
        !query_scope_allows(x->q, x->u, row->cluster, row->namespace_, row->group, row->resource))
        return 0;
    if (x->c->fields) {
        json_t *obj = NULL;
        bool ok = fl_json_parse(row->json, row->json_len, &obj, NULL) == 0 &&
                  fl_query_fields_match(x->c->fields, obj);
        json_decref(obj);
        if (!ok)
            return 0;
    }
    o->rc = query_sorted_add(&o->rows, row);
    return o->rc ? 2 : 0;
}

static int ord_get(void *arg, const fl_index_row *row)
{
    list_ctx *x = arg;
    int rc = add_row(x, row);
    if (rc)
        x->rc = rc;
    return rc ? 2 : 0;
}

/* Fetch rows [from, to) of the sorted keys by point lookups. */
static int ord_page(list_ctx *x, fl_index_reader *rd, const query_sorted *s, size_t from,
                    size_t to, fl_err *err)
{
    for (size_t i = from; i < to; i++) {
        fl_index_key k = {s->v[i].cluster, x->t->res->group, x->t->res->version,
                          x->t->res->resource, s->v[i].ns, s->v[i].name};
        int rc = fl_index_get(rd, &k, ord_get, x, err);
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

static int run_ordered(list_ctx *x, fl_index_reader *rd, fl_request *r, fl_err *err)
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
    build_query(x->c, x->t, &iq);
    bool some = query_scope_query(x->q, x->u, x->t->res, &sb, &iq);
    iq.limit = QUERY_ORDER_MAX_ROWS + 1;
    if (!rc && x->c->cont && *x->c->cont &&
        (fl_query_token_decode_for(x->q, x->bind, x->c->cont, &cur) != 0 || !cur.ordered ||
         cur.order_sig != query_order_sig(&x->c->order)))
        rc = fl_err_set(err, FL_EPARSE, "invalid continue token (for this orderby)");
    if (!rc && some && !matches_nothing(x->c) &&
        (rc = fl_index_list(rd, &iq, ord_row, &o, NULL, err)))
        rc = o.rc == -E2BIG ? fl_err_set(err, -E2BIG, "orderby over more than %d objects: "
                                         "narrow the query", QUERY_ORDER_MAX_ROWS)
             : o.rc ? o.rc : rc;
    if (rc)
        goto out;
    query_sorted_sort(&o.rows, &x->c->order);
    if (cur.ordered)
        from = query_sorted_after(&o.rows, &x->c->order, &cur);
    size_t to = from + (size_t)x->limit < o.rows.n ? from + (size_t)x->limit : o.rows.n;
    if (to < o.rows.n && x->c->limit == 0) {
        rc = refuse_unpaged(r);
        goto out;
    }
    if ((rc = ord_page(x, rd, &o.rows, from, to, err)) != 0)
        goto out;
    char rvs[32], *cont = NULL;
    snprintf(rvs, sizeof rvs, "%lld", (long long)rev);
    if (to < o.rows.n) {
        query_sorted_cursor(&o.rows.v[to - 1], &x->c->order, rev, &last);
        last.offset = (int64_t)to;
        if ((rc = fl_query_token_encode_for(x->q, x->bind, &last, &tok)) != 0)
            goto out;
        cont = tok.data;
    }
    int64_t remaining = wants_remaining(x->c) && cont ? (int64_t)(o.rows.n - to) : -1;
    rc = x->table ? reply_table(x, r, rvs, cont, remaining)
                  : reply_list(x, r, rvs, cont, remaining);
out:
    query_sorted_done(&o.rows);
    fl_buf_done(&tok);
    return rc;
}

static int run_list(list_ctx *x, fl_index_reader *rd, fl_request *r, fl_err *err)
{
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    query_scope_buf sb;
    fl_query_cursor cur;
    int64_t rev = 0;
    int rc;
    memset(&cur, 0, sizeof cur);
    build_query(x->c, x->t, &iq);
    bool some = query_scope_query(x->q, x->u, x->t->res, &sb, &iq);
    if ((rc = fl_index_reader_revision(rd, &rev)) != 0)
        return fl_err_set(err, rc, "index revision");
    if (x->c->cont && *x->c->cont) {
        if ((rc = resume(x, rd, &cur, err)) != 0)
            return rc;
        iq.after_cluster = cur.cluster;
        iq.after_namespace = cur.namespace_;
        iq.after_name = cur.name;
        rev = cur.revision;
    }
    if (x->exact_rv >= 0 && !(x->c->cont && *x->c->cont) && x->exact_rv != rev) {
        /* the index serves its current revision only: as kube-apiserver answers
         * a revision it no longer has, or one it has not reached */
        if (x->exact_rv > rev)
            fl_request_reply_status(r, 504, "Timeout", "Timeout: Too large resource version: "
                                    "%lld, current: %lld", (long long)x->exact_rv, (long long)rev);
        else
            fl_request_reply_status(r, 410, "Expired", "too old resource version: %lld (%lld)",
                                    (long long)x->exact_rv, (long long)rev);
        return 0;
    }
    x->limit = query_conds_limit(x->c);
    if (x->c->order.n)
        return run_ordered(x, rd, r, err);
    x->filtered = !all_in_index(x->q, x->c);
    x->scan_until = fl_mono_ms() + LIST_SCAN_BUDGET_MS;
    iq.limit = x->filtered ? LIST_SCAN_MAX_ROWS : x->limit + 1;
    if (some && !matches_nothing(x->c)) {
        rc = fl_index_list(rd, &iq, list_row, x, NULL, err);
        if (rc == 2 || (rc < 0))
            return x->rc ? x->rc : rc;
    }
    if (x->more && x->c->limit == 0)
        return refuse_unpaged(r);
    char rvs[32], *cont = NULL;
    fl_buf tok = FL_BUF_INIT(4096);
    snprintf(rvs, sizeof rvs, "%lld", (long long)rev);
    if (x->more) {
        x->last.revision = rev;
        x->last.offset = cur.offset + x->seen;
        if ((rc = fl_query_token_encode_for(x->q, x->bind, &x->last, &tok)) != 0)
            return rc;
        cont = tok.data;
    }
    int64_t remaining = -1;
    if (wants_remaining(x->c) && x->more && all_in_index(x->q, x->c)) {
        int64_t total = 0; /* the count ignores the cursor: subtract what was paged */
        if (fl_index_count(rd, &iq, &total, NULL) == 0)
            remaining = total > x->last.offset ? total - x->last.offset : 0;
    }
    rc = x->table ? reply_table(x, r, rvs, cont, remaining)
                  : reply_list(x, r, rvs, cont, remaining);
    fl_buf_done(&tok);
    return rc;
}

int64_t query_conds_limit(const conds *c)
{
    return c->limit > 0 && c->limit < FL_QUERY_MAX_LIMIT ? c->limit
           : c->limit ? FL_QUERY_MAX_LIMIT : FL_QUERY_DEFAULT_LIMIT;
}

const char *query_conds_continue(const conds *c)
{
    return c->cont && *c->cont ? c->cont : NULL;
}

int query_collect(fl_query *q, const query_user *u, const conds *c, const fl_kube_resource *res,
                  fl_index_reader *rd, const fl_query_cursor *after, int64_t limit,
                  json_t *items, fl_query_cursor *last, bool *more, fl_err *err)
{
    query_target t = {NULL, res, NULL, NULL};
    list_ctx x = {.q = q, .u = u, .c = c, .t = &t, .raw_ok = false, .objs = items,
                  .limit = limit};
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    query_scope_buf sb;
    if (c->order.n)
        return fl_err_set(err, FL_EUNSUPPORTED, "orderby is not supported on collections");
    build_query(c, &t, &iq);
    if (!query_scope_query(q, u, res, &sb, &iq)) {
        *more = false;
        memset(last, 0, sizeof *last);
        return 0;
    }
    if (after && after->name[0]) {
        iq.after_cluster = after->cluster;
        iq.after_namespace = after->namespace_;
        iq.after_name = after->name;
    }
    iq.limit = limit + 1;
    int rc = fl_index_list(rd, &iq, list_row, &x, NULL, err);
    if (rc == 2 || rc < 0)
        return x.rc ? x.rc : rc;
    *last = x.last;
    *more = x.more;
    return 0;
}

/* ---- GET ------------------------------------------------------------------------------ */

typedef struct get_ctx {
    json_t *obj;
    char *raw;
    int found;
    bool visible;
    const fl_query *q;
    const query_user *u;
    char cluster[254];
} get_ctx;

static int get_row(void *arg, const fl_index_row *row)
{
    get_ctx *g = arg;
    if (!query_scope_allows(g->q, g->u, row->cluster, row->namespace_, row->group, row->resource))
        return 0;
    if (g->found++)
        return 0;
    fl_strlcpy(g->cluster, row->cluster, sizeof g->cluster);
    g->raw = fl_strndup(row->json, row->json_len);
    return g->raw ? 0 : 2;
}

static void serve_get(fl_query *q, fl_request *r, const query_user *u, const query_target *t,
                      fl_index_reader *rd)
{
    get_ctx g = {NULL, NULL, 0, false, q, u, {0}};
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    fl_err err = FL_ERR_INIT;
    iq.group = t->res->group;
    iq.version = t->res->version;
    iq.resource = t->res->resource;
    iq.clusters = &t->cluster;
    iq.n_clusters = t->cluster ? 1 : 0;
    iq.namespaces = &t->ns;
    iq.n_namespaces = t->ns ? 1 : 0;
    if (!t->ns && t->res->namespaced)
        iq.n_namespaces = 0;
    iq.names = &t->name;
    iq.n_names = 1;
    iq.limit = 64;
    int rc;
    if (t->cluster) { /* point lookup */
        fl_index_key key = {t->cluster, t->res->group, t->res->version, t->res->resource,
                            t->ns ? t->ns : "", t->name};
        rc = fl_index_get(rd, &key, get_row, &g, &err);
        rc = rc == FL_ENOTFOUND ? 0 : rc;
    } else {
        rc = fl_index_list(rd, &iq, get_row, &g, NULL, &err);
    }
    if (rc != 0 && rc != 1) {
        query_reply_error(r, rc == 2 ? -ENOMEM : rc, &err);
        goto out;
    }
    if (!g.found) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s \"%s\" not found", t->res->resource, t->name);
        json_t *st = fl_status_new(404, "NotFound", msg);
        fl_status_set_details(st, t->name, t->res->group, t->res->resource);
        fl_request_reply_json(r, 404, st);
        goto out;
    }
    /* A namespace exists in most clusters by design: no warning for it (kubectl
     * GETs the namespace after a NotFound, so one would precede every NotFound). */
    if (g.found > 1 && !(!t->res->group[0] && !strcmp(t->res->resource, "namespaces"))) {
        char w[400];
        snprintf(w, sizeof w, "299 - \"%s/%s exists in %d clusters; showing %s (add "
                 "/clusters/<name> to the path)\"", t->res->resource, t->name, g.found, g.cluster);
        fl_request_add_header(r, "Warning", w);
    }
    if (!query_wants_table(r) && !fl_request_wants_pretty(r)) {
        size_t n = strlen(g.raw); /* stored compact in Go's encoding: send as is */
        g.raw[n] = 0;
        fl_buf b = FL_BUF_INIT(REPLY_MAX);
        if (fl_buf_append(&b, g.raw, n) == 0 && fl_buf_puts(&b, "\n") == 0)
            fl_request_reply(r, 200, "application/json", b.data, b.len);
        else
            fl_request_reply_status(r, 500, "InternalError", "out of memory");
        fl_buf_done(&b);
        goto out;
    }
    if (fl_json_parse(g.raw, strlen(g.raw), &g.obj, &err) != 0) {
        query_reply_error(r, -EIO, &err);
        goto out;
    }
    if (query_wants_table(r)) {
        list_ctx x = {.q = q, .u = u, .t = t, .table = true, .objs = json_array()};
        json_array_append(x.objs, g.obj);
        const char *rv = fl_obj_str(g.obj, "metadata.resourceVersion");
        if (reply_table(&x, r, rv ? rv : "", NULL, -1) != 0)
            fl_request_reply_status(r, 500, "InternalError", "table rendering failed");
        json_decref(x.objs);
        goto out;
    }
    fl_request_reply_json(r, 200, json_incref(g.obj));
out:
    json_decref(g.obj);
    free(g.raw);
}

/* ---- entry ------------------------------------------------------------------------------ */

/* ?watch= as kube-apiserver converts a bool parameter: false for "0", "f"
 * and "false" (any case), true for anything else present ("maybe" too). */
static bool watch_wanted(fl_request *r)
{
    const char *w = fl_request_query(r, "watch");
    return w && strcmp(w, "0") && strcasecmp(w, "f") && strcasecmp(w, "false");
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
                                "parsing \"%.64s\": invalid syntax", rv, rv);
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
                                "\"NotOlderThan\"", m);
        return true;
    }
    return false;
}

/* A namespace outside u's scope for the type: 403 as RBAC would answer
 * (the type is in scope elsewhere, else the path was a 404 already). */
static bool forbidden_ns(fl_query *q, fl_request *r, const query_user *u, const query_target *t)
{
    query_scope_terms st;
    if (!t->ns)
        return false;
    query_scope_terms_for(q, u, t->res->group, t->res->resource, t->res->namespaced, &st);
    if (st.all_namespaces)
        return false;
    for (size_t i = 0; i < st.nnamespaces; i++)
        if (!strcmp(st.namespaces[i], t->ns))
            return false;
    const char *verb = t->name ? "get" : watch_wanted(r) ? "watch" : "list";
    fl_request_reply_status(r, 403, "Forbidden",
                            "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API "
                            "group \"%s\" in the namespace \"%s\"", t->res->resource, u->name,
                            verb, t->res->resource, t->res->group, t->ns);
    return true;
}

void query_serve_resource(fl_query *q, fl_request *r, const query_user *u, const query_target *t)
{
    fl_err err = FL_ERR_INIT;
    fl_index_reader *rd = query_reader_get(q, &err);
    conds *c = NULL;
    list_ctx x = {.q = q, .u = u, .t = t, .exact_rv = -1};
    int rc = 0;
    if (!rd) {
        fl_request_reply_status(r, 500, "InternalError", "out of resources");
        goto out;
    }
    if (forbidden_ns(q, r, u, t))
        goto out;
    if (watch_wanted(r) && !t->name) {
        query_serve_watch(q, r, u, t);
        goto out;
    }
    if (t->name && !t->ns && t->res->namespaced) {
        /* /api/v1/pods/x is not a Kubernetes path */
        fl_request_reply_status(r, 404, "NotFound", "the server could not find the requested resource");
        goto out;
    }
    if (t->name) {
        serve_get(q, r, u, t, rd);
        goto out;
    }
    if (list_params_refused(r))
        goto out;
    if (!(c = calloc(1, sizeof *c))) {
        fl_request_reply_status(r, 500, "InternalError", "out of memory");
        goto out;
    }
    if ((rc = parse_conds(r, c, &err)) != 0 ||
        (rc = query_fields_check(c->fields, t->res, &err)) != 0 ||
        (rc = fields_to_sets(c, &err)) != 0 ||
        (rc = add_target_sets(c, t, &err)) != 0) {
        query_reply_error(r, rc, &err);
        goto out;
    }
    x.c = c;
    const char *m = fl_request_query(r, "resourceVersionMatch"), *rv = fl_request_query(r, "resourceVersion");
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
    fl_buf_init(&x.out, REPLY_MAX);
    query_warn_not_ready(q, r, u, t->cluster);
    if (fl_index_reader_begin(rd) != 0) {
        fl_request_reply_status(r, 500, "InternalError", "index snapshot failed");
        goto out;
    }
    if ((rc = query_conds_resolve(q, c, rd, &err)) != 0 || (rc = run_list(&x, rd, r, &err)) != 0)
        query_reply_error(r, rc, &err);
    fl_index_reader_end(rd);
out:
    json_decref(x.objs);
    fl_buf_done(&x.out);
    if (c)
        conds_done(c);
    free(c);
    if (rd)
        query_reader_put(q, rd);
}
