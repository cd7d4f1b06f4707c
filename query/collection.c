/*
 * query/collection.c: Clusterpedia's collection resources under
 * /apis/clusterpedia.io/v1beta1/collectionresources: "workloads" (apps/v1
 * deployments, daemonsets, statefulsets), "kuberesources" (every served
 * built-in type) and "any" (the types named by groups=g[/v],... and
 * resources=g/resource,...). One page mixes types in a fixed order; the
 * continue token carries the type's position with the keyset cursor
 * ("<type index>|<cluster>" in the cursor's cluster field), so paging never
 * truncates. The same search conditions as a LIST apply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

#define COLL_TYPES_MAX 256

typedef struct coll {
    const char *name;
    const fl_kube_resource *types[COLL_TYPES_MAX];
    size_t n;
} coll;

static bool in_csv(const char *csv, const char *a, const char *b)
{
    char want[600];
    size_t wl;
    if (!csv)
        return false;
    snprintf(want, sizeof want, "%s%s%s", a, b ? "/" : "", b ? b : "");
    wl = strlen(want);
    for (const char *s = csv; *s;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == wl && !memcmp(s, want, n))
            return true;
        s += n + (e ? 1 : 0);
    }
    return false;
}

static bool wanted(const coll *c, const fl_kube_resource *r, fl_request *req)
{
    if (!strcmp(c->name, "workloads"))
        return !strcmp(r->group, "apps") &&
               (!strcmp(r->resource, "deployments") || !strcmp(r->resource, "daemonsets") ||
                !strcmp(r->resource, "statefulsets"));
    if (!strcmp(c->name, "kuberesources"))
        return r->origin == FL_KUBE_ORIGIN_BUILTIN;
    const char *g = fl_request_query(req, "groups"), *res = fl_request_query(req, "resources");
    return in_csv(g, r->group, NULL) || in_csv(g, r->group, r->version) ||
           in_csv(res, r->group, r->resource) || (!r->group[0] && in_csv(res, r->resource, NULL));
}

/* The wanted types that are served and that u may see something of (a
 * type outside the scope is left out as one that does not exist). */
static void collect_types(fl_query *q, const query_user *u, fl_index_reader *rd, fl_request *req,
                          coll *c)
{
    const fl_kube_resource *all[COLL_TYPES_MAX];
    size_t n = fl_kube_resources_list(q->reg, all, COLL_TYPES_MAX);
    for (size_t i = 0; i < n && i < COLL_TYPES_MAX; i++) {
        query_scope_terms st;
        if (!wanted(c, all[i], req) || !query_served(q, all[i], rd))
            continue;
        query_scope_terms_for(q, u, all[i]->group, all[i]->resource, all[i]->namespaced, &st);
        if (st.any)
            c->types[c->n++] = all[i];
    }
}

static json_t *type_list(const coll *c)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < c->n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "group", c->types[i]->group,
                                           "version", c->types[i]->version, "kind",
                                           c->types[i]->kind, "resource", c->types[i]->resource));
    return a;
}

/* Split "<idx>|<cluster>" from a decoded cursor. */
static int cursor_type(fl_query_cursor *cur, size_t ntypes, size_t *idx)
{
    char *bar = strchr(cur->cluster, '|');
    int64_t v;
    if (!bar || fl_parse_i64(cur->cluster, (size_t)(bar - cur->cluster), &v) != 0 || v < 0 ||
        (size_t)v >= ntypes)
        return FL_EPARSE;
    memmove(cur->cluster, bar + 1, strlen(bar + 1) + 1);
    *idx = (size_t)v;
    return 0;
}

static int page(fl_query *q, fl_request *r, const query_user *u, const conds *cd, const coll *c,
                fl_index_reader *rd, json_t *items, fl_buf *tok, fl_err *err)
{
    fl_query_cursor cur, last;
    size_t start = 0;
    int64_t limit = query_conds_limit(cd);
    const char *cont = query_conds_continue(cd);
    char what[64], bind[QUERY_BIND_LEN];
    snprintf(what, sizeof what, "collectionresources/%s", c->name);
    memset(&cur, 0, sizeof cur);
    if (query_token_bind(r, u, what, NULL, NULL, bind) != 0)
        return -ENOMEM;
    if (cont &&
        (fl_query_token_decode_for(q, bind, cont, &cur) != 0 || cursor_type(&cur, c->n, &start)))
        return fl_err_set(err, FL_EPARSE, "invalid continue token");
    for (size_t i = start; i < c->n; i++) {
        int64_t budget = limit - (int64_t)json_array_size(items);
        bool more = false;
        memset(&last, 0, sizeof last);
        if (budget <= 0) {
            more = true; /* next type from its start */
        } else {
            int rc = query_collect(q, u, cd, c->types[i], rd, i == start ? &cur : NULL, budget,
                                   items, &last, &more, err);
            if (rc)
                return rc;
        }
        if (more) {
            char cl[254];
            snprintf(cl, sizeof cl, "%zu|%s", i, last.cluster);
            fl_strlcpy(last.cluster, cl, sizeof last.cluster);
            return fl_query_token_encode_for(q, bind, &last, tok);
        }
    }
    return 0;
}

static void serve_one(fl_query *q, fl_request *r, const query_user *u, const char *name,
                      fl_index_reader *rd)
{
    coll *c = calloc(1, sizeof *c);
    conds *cd = NULL;
    fl_err err = FL_ERR_INIT;
    query_target t = {NULL, NULL, NULL, NULL};
    fl_buf tok = FL_BUF_INIT(4096);
    json_t *items = json_array();
    int rc = c && items ? 0 : -ENOMEM;
    if (!rc && (rc = query_conds_new(r, &t, &cd, &err)) == 0 &&
        (rc = query_conds_resolve(q, u, cd, rd, &err)) == 0) {
        c->name = name;
        collect_types(q, u, rd, r, c);
        rc = page(q, r, u, cd, c, rd, items, &tok, &err);
    }
    if (rc) {
        query_reply_error(r, rc, &err);
    } else {
        json_t *md = json_pack("{s:s}", "name", name);
        if (tok.data)
            json_object_set_new(md, "continue", json_string(tok.data));
        fl_request_reply_json(r, 200,
                              json_pack("{s:s,s:s,s:o,s:o,s:O}", "apiVersion",
                                        "clusterpedia.io/v1beta1", "kind", "CollectionResource",
                                        "metadata", md, "resourceTypes", type_list(c), "items",
                                        items));
    }
    json_decref(items);
    query_conds_free(cd);
    fl_buf_done(&tok);
    free(c);
}

void query_serve_collection(fl_query *q, fl_request *r, const query_user *u, const char *rest)
{
    static const char *const names[] = {"workloads", "kuberesources", "any"};
    fl_err err = FL_ERR_INIT;
    fl_index_reader *rd = query_reader_get(q, &err);
    if (!rd) {
        fl_request_reply_status(r, 500, "InternalError", "index: %s", err.msg);
        return;
    }
    if (!*rest || !strcmp(rest, "/")) {
        json_t *items = json_array();
        for (size_t i = 0; i < 3; i++) {
            coll c = {names[i], {0}, 0};
            if (i < 2)
                collect_types(q, u, rd, r, &c);
            json_array_append_new(items, json_pack("{s:{s:s},s:o}", "metadata", "name", names[i],
                                                   "resourceTypes", type_list(&c)));
        }
        fl_request_reply_json(r, 200,
                              json_pack("{s:s,s:s,s:{},s:o}", "apiVersion",
                                        "clusterpedia.io/v1beta1", "kind", "CollectionResourceList",
                                        "metadata", "items", items));
    } else {
        size_t i = 0;
        while (i < 3 && strcmp(rest + 1, names[i]))
            i++;
        if (i < 3)
            serve_one(q, r, u, names[i], rd);
        else
            fl_request_reply_status(r, 404, "NotFound",
                                    "collectionresources.clusterpedia.io \"%.100s\" not found",
                                    rest + 1);
    }
    query_reader_put(q, rd);
}
