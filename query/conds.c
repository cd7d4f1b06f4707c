/*
 * query/conds.c: the conditions of a LIST or WATCH request, parsed once
 * (label selector, field selector, Clusterpedia search labels and query
 * parameters, limit/continue): what the index can answer goes into an
 * fl_index_query (clusters, namespaces, names, labels, owner uid, creation
 * time), the rest is checked per row (negative sets, field selector, owner
 * sets from owner.c). Calls nothing above it in query/.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

#define SET_MAX 256
#define PARAM_MAX (64u << 10)
#define SP "search.clusterpedia.io/"
#define IP "internalstorage.clusterpedia.io/"

/* A condition on cluster, namespace or name: positive sets are ANDed, as
 * are negative ones; the index gets the first positive set. */
typedef struct name_set {
    const char **v; /* owned array (n entries) of borrowed strings */
    size_t n;
    bool neg; /* notin / != / DoesNotExist (n == 0: nothing matches) */
} name_set;

typedef enum { DIM_CLUSTER, DIM_NAMESPACE, DIM_NAME, DIM_FUZZY, DIM_N } dim;

struct query_conds {
    name_set sets[DIM_N][8];
    size_t nsets[DIM_N];
    fl_index_label_req *labels; /* owned, one per selector requirement */
    size_t nlabels;
    fl_query_fields *fields;
    fl_label_selector *sel;
    query_owner owner;
    query_order order;
    const char *pod_node[1],
        *pod_phase[1]; /* core pods: the first spec.nodeName= / status.phase= */
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
    for (int d = 0; d < DIM_N; d++)
        for (size_t i = 0; i < c->nsets[d]; i++)
            free(c->sets[d][i].v);
    free(c->labels);
}

static int add_set(conds *c, dim d, bool neg, const char *const *v, size_t n, fl_err *err)
{
    if (c->nsets[d] >= 8 || n > SET_MAX)
        return fl_err_set(err, -E2BIG, "too many search conditions");
    name_set *s = &c->sets[d][c->nsets[d]++];
    s->neg = neg;
    s->n = 0;
    if (n && !(s->v = malloc(n * sizeof *s->v)))
        return -ENOMEM;
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
    if ((lr->op != FL_LABEL_EQUALS && lr->op != FL_LABEL_DOUBLE_EQUALS && lr->op != FL_LABEL_IN) ||
        lr->nvalues != 1)
        return fl_err_set(err, FL_EPARSE, "%s: only '=', '==' with one value are supported", key);
    *out = lr->values[0];
    return 0;
}

static int set_from_req(conds *c, dim d, const char *key, const fl_label_req *lr, fl_err *err)
{
    switch (lr->op) {
    case FL_LABEL_IN:
    case FL_LABEL_EQUALS:
    case FL_LABEL_DOUBLE_EQUALS: return add_set(c, d, false, lr->values, lr->nvalues, err);
    case FL_LABEL_NOT_IN:
    case FL_LABEL_NOT_EQUALS: return add_set(c, d, true, lr->values, lr->nvalues, err);
    case FL_LABEL_EXISTS: return 0;
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
                 ? fl_err_set(err, FL_EPARSE, "%s: invalid value \"%s\"", key, v)
                 : 0;
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
    size_t nreq = fl_label_selector_count(c->sel);
    if (nreq && !(c->labels = calloc(nreq, sizeof *c->labels)))
        return -ENOMEM;
    for (size_t i = 0; i < nreq && !rc; i++) {
        fl_label_req lr;
        fl_label_selector_req(c->sel, i, &lr);
        if (fl_str_has_prefix(lr.key, SP) || fl_str_has_prefix(lr.key, IP)) {
            rc = search_req(c, lr.key, &lr, err);
            continue;
        }
        if (c->nlabels >= FL_INDEX_QUERY_MAX_TERMS)
            return fl_err_set(err, -E2BIG, "too many label requirements");
        c->labels[c->nlabels++] =
            (fl_index_label_req){lr.key, map_op(lr.op), lr.values, lr.nvalues};
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
    case FL_INDEX_LABEL_EQ:
    case FL_INDEX_LABEL_IN: return in;
    case FL_INDEX_LABEL_NE:
    case FL_INDEX_LABEL_NOTIN: return !in;
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
    static const struct {
        const char *path;
        dim d;
    } cols[] = {{"metadata.namespace", DIM_NAMESPACE}, {"metadata.name", DIM_NAME}};
    int rc = 0;
    for (size_t k = 0; k < FL_ARRAY_LEN(cols) && !rc; k++) {
        const char *v;
        for (size_t i = 0; !rc && (v = query_fields_eq(c->fields, cols[k].path, &i)) != NULL;)
            if (*v)
                rc = add_set(c, cols[k].d, false, &v, 1, err);
    }
    return rc;
}

/* spec.nodeName=X and status.phase=X on core pods: the index's materialized
 * pod columns (the terms still filter rows, which also covers past states). */
static void fields_to_pod_columns(conds *c, const query_target *t)
{
    size_t i = 0, j = 0;
    if (!c->fields || !t->res || t->res->group[0] || strcmp(t->res->resource, "pods"))
        return;
    c->pod_node[0] = query_fields_eq(c->fields, "spec.nodeName", &i);
    c->pod_phase[0] = query_fields_eq(c->fields, "status.phase", &j);
}

int query_conds_new(fl_request *r, const query_target *t, conds **out, fl_err *err)
{
    conds *c = calloc(1, sizeof *c);
    int rc = c ? 0 : -ENOMEM;
    if (!rc && !(rc = parse_conds(r, c, err)) &&
        !(rc = query_fields_check(c->fields, t->res, err)) && !(rc = fields_to_sets(c, err)))
        rc = add_target_sets(c, t, err);
    if (!rc)
        fields_to_pod_columns(c, t);
    if (rc) {
        if (c)
            conds_done(c);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int query_conds_resolve(fl_query *q, const query_user *u, conds *c, fl_index_reader *rd,
                        fl_err *err)
{
    size_t nc, nn;
    const char *const *cl = first_pos(c, DIM_CLUSTER, &nc);
    const char *const *ns = first_pos(c, DIM_NAMESPACE, &nn);
    return query_owner_resolve(q, u, &c->owner, cl, nc, ns, nn, rd, err);
}

void query_conds_free(conds *c)
{
    if (c)
        conds_done(c);
    free(c);
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

void query_conds_index_query(const conds *c, const query_target *t, fl_index_query *iq)
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
    if (c->pod_node[0])
        iq->pod_nodes = c->pod_node, iq->n_pod_nodes = 1;
    if (c->pod_phase[0])
        iq->pod_phases = c->pod_phase, iq->n_pod_phases = 1;
    iq->owner_uid = query_owner_index_uid(&c->owner);
    iq->created_since = c->since;
    iq->created_before = c->before;
    iq->order = FL_INDEX_ORDER_KEY;
}

/* True when every condition went to the index (so its count is exact). */
bool query_conds_exact(const fl_query *q, const conds *c)
{
    if (c->fields || q->nscopes || c->nsets[DIM_FUZZY] || (c->owner.resolved && c->owner.n != 1))
        return false;
    for (int d = 0; d < DIM_N; d++)
        if (c->nsets[d] > 1 || (c->nsets[d] == 1 && c->sets[d][0].neg))
            return false;
    return true;
}

/* remainingItemCount: asked for (withRemainingCount=true), or by default on
 * a list without label or field selectors, as kube-apiserver sends it. */
bool query_conds_wants_remaining(const conds *c)
{
    return c->remaining || (!c->fields && !c->sel && c->nlabels == 0);
}

/* A positive set with no values matches nothing. */
bool query_conds_nothing(const conds *c)
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

int64_t query_conds_limit(const conds *c)
{
    return c->limit > 0 && c->limit < FL_QUERY_MAX_LIMIT ? c->limit
           : c->limit                                    ? FL_QUERY_MAX_LIMIT
                                                         : FL_QUERY_DEFAULT_LIMIT;
}

const char *query_conds_continue(const conds *c)
{
    return c->cont && *c->cont ? c->cont : NULL;
}

bool query_conds_row_ok(const conds *c, const fl_index_row *row)
{
    return row_ok(c, row);
}

const fl_query_fields *query_conds_fields(const conds *c)
{
    return c->fields;
}

const query_order *query_conds_order(const conds *c)
{
    return &c->order;
}

bool query_conds_unlimited(const conds *c)
{
    return c->limit == 0;
}
