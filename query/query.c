/*
 * query/query.c: the search API's front: construction and teardown, and
 * routing of /apis/clusterpedia.io/v1beta1/resources[/clusters/<name>]/...
 * and collectionresources to the handlers (discovery, OpenAPI v3, clusters,
 * pods/log, watch, get, list, collection). Routes only: the handlers and
 * the pieces below them never call back into this file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

#define PATH_MAX_SEGS 9

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = true;
    return d;
}

static char **dup_list(const char *const *v, size_t n, bool *oom)
{
    char **d = calloc(n ? n : 1, sizeof *d);
    if (!d) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = dup_or_null(v[i], oom);
    return d;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static bool copy_config(fl_query *q, const fl_query_opts *o)
{
    bool oom = false;
    q->scopes = calloc(o->nscopes ? o->nscopes : 1, sizeof *q->scopes);
    q->gvs = calloc(o->ngvs ? o->ngvs : 1, sizeof *q->gvs);
    if (!q->scopes || !q->gvs)
        return false;
    for (size_t i = 0; i < o->nscopes; i++, q->nscopes++) {
        const fl_query_scope *s = &o->scopes[i];
        query_scope *d = &q->scopes[i];
        d->group = dup_or_null(s->group ? s->group : "", &oom);
        d->clusters = dup_list(s->clusters, d->nclusters = s->nclusters, &oom);
        d->namespaces = dup_list(s->namespaces, d->nnamespaces = s->nnamespaces, &oom);
        d->resources = dup_list(s->resources, d->nresources = s->nresources, &oom);
    }
    q->admin_groups = dup_list(o->admin_groups, q->nadmin_groups = o->nadmin_groups, &oom);
    for (size_t i = 0; i < o->ngvs; i++, q->ngvs++) {
        const fl_query_gv *g = &o->gvs[i];
        query_gv *d = &q->gvs[i];
        d->group = dup_or_null(g->group ? g->group : "", &oom);
        d->version = dup_or_null(g->version ? g->version : "", &oom);
        d->resources = dup_list(g->resources, d->nresources = g->nresources, &oom);
    }
    return !oom;
}

void fl_query_free(fl_query *q)
{
    if (!q)
        return;
    query_logs_stop(q);
    query_watch_done(q);
    query_members_free(q);
    for (size_t i = 0; i < q->npool; i++)
        fl_index_reader_free(q->pool[i]);
    query_openapi_done(q);
    pthread_mutex_destroy(&q->pool_mu);
    pthread_mutex_destroy(&q->rd_mu);
    pthread_mutex_destroy(&q->oa_mu);
    query_tokens_free(q);
    for (size_t i = 0; i < q->nscopes; i++) {
        free(q->scopes[i].group);
        free_list(q->scopes[i].clusters, q->scopes[i].nclusters);
        free_list(q->scopes[i].namespaces, q->scopes[i].nnamespaces);
        free_list(q->scopes[i].resources, q->scopes[i].nresources);
    }
    free(q->scopes);
    free_list(q->admin_groups, q->nadmin_groups);
    for (size_t i = 0; i < q->ngvs; i++) {
        free(q->gvs[i].group);
        free(q->gvs[i].version);
        free_list(q->gvs[i].resources, q->gvs[i].nresources);
    }
    free(q->gvs);
    fl_kube_resources_free(q->reg);
    free(q);
}

int fl_query_new(const fl_query_opts *opts, fl_query **out, fl_err *err)
{
    if (!opts || !opts->index)
        return fl_err_set(err, -EINVAL, "query: no index");
    fl_query *q = calloc(1, sizeof *q);
    if (!q)
        return fl_err_set(err, -ENOMEM, "out of memory");
    int rc = 0;
    pthread_mutex_init(&q->pool_mu, NULL);
    pthread_mutex_init(&q->rd_mu, NULL);
    pthread_mutex_init(&q->oa_mu, NULL);
    q->index = opts->index;
    q->anonymous_loopback = opts->anonymous_loopback;
    q->members_fn = opts->members_fn;
    q->members_ud = opts->members_ud;
    q->sql_budget_ms = opts->sql_budget_ms > 0 ? opts->sql_budget_ms : 5000;
    q->list_scan_budget_ms = opts->list_scan_budget_ms > 0 ? opts->list_scan_budget_ms : 3000;
    q->sql_max_rows = opts->sql_max_rows > 0 ? opts->sql_max_rows : 10000;
    q->sql_open_to_all = opts->sql_open_to_all;
    if (!copy_config(q, opts) || fl_kube_resources_new(true, &q->reg) != 0) {
        rc = fl_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = query_clusters_init(q, err)) != 0 ||
        (rc = query_members_load(q, opts->log_members, opts->nlog_members, err)) != 0)
        goto fail;
    if (opts->tokens_file && (rc = query_tokens_load(q, opts->tokens_file, err)) != 0)
        goto fail;
    if ((rc = query_key_load(q, opts->key_file, err)) != 0 ||
        (rc = query_watch_init(q, opts->watch_max, opts->watch_per_user, err)) != 0)
        goto fail;
    *out = q;
    return 0;
fail:
    fl_query_free(q);
    return rc;
}

/* ---- dispatch ----------------------------------------------------------------- */

typedef struct route {
    const char *cluster;
    const char *seg[PATH_MAX_SEGS];
    size_t nseg;
    char buf[4096];
} route;

/* Split the path after the prefix; false when it is not a valid path
 * (empty segments other than one trailing '/', too many segments). */
static bool split_path(const char *p, route *rt)
{
    if (fl_strlcpy(rt->buf, p, sizeof rt->buf) >= sizeof rt->buf)
        return false;
    char *s = rt->buf;
    if (!*s)
        return true;
    if (*s != '/')
        return false;
    s++;
    while (*s) {
        char *e = strchr(s, '/');
        if (e == s)
            return false; /* "//" */
        if (rt->nseg >= PATH_MAX_SEGS)
            return false;
        rt->seg[rt->nseg++] = s;
        if (!e)
            break;
        *e = 0;
        s = e + 1;
    }
    return true;
}

static void not_found(fl_request *r)
{
    fl_request_reply_status(r, 404, "NotFound", "the server could not find the requested resource");
}

/* ?watch= as kube-apiserver converts a bool parameter: false for "0", "f"
 * and "false" (any case), true for anything else present ("maybe" too). */
static bool watch_wanted(fl_request *r)
{
    const char *w = fl_request_query(r, "watch");
    return w && strcmp(w, "0") && strcasecmp(w, "f") && strcasecmp(w, "false");
}

/* segs after /api/v1 or /apis/g/v: [namespaces/ns/]res[/name]. */
static void serve_object_path(fl_query *q, fl_request *r, const query_user *u, const char *group,
                              const char *version, const char *const *s, size_t n,
                              const char *cluster, query_served_ctx *sc)
{
    query_target t = {cluster, NULL, NULL, NULL};
    if (n >= 3 && !strcmp(s[0], "namespaces")) {
        t.ns = s[1];
        s += 2, n -= 2;
    }
    if (t.ns && n == 3 && !group[0] && !strcmp(version, "v1") && !strcmp(s[0], "pods") &&
        !strcmp(s[2], "log")) {
        query_serve_log(q, r, u, cluster, t.ns, s[1]);
        return;
    }
    if (n < 1 || n > 2) {
        not_found(r);
        return;
    }
    t.res = fl_kube_resources_find(q->reg, group, version, s[0]);
    t.name = n == 2 ? s[1] : NULL;
    if (!t.res || !query_served_filter(t.res, sc) || (t.ns && !t.res->namespaced)) {
        not_found(r);
        return;
    }
    if (t.res == q->cluster_res) {
        query_serve_clusters(q, r, u, t.name);
        return;
    }
    bool watch = watch_wanted(r) && !t.name;
    if (query_scope_forbid_ns(q, r, u, &t, t.name ? "get" : watch ? "watch" : "list"))
        return;
    if (watch)
        query_serve_watch(q, r, u, &t);
    else if (t.name)
        query_serve_get(q, r, u, &t);
    else
        query_serve_list(q, r, u, &t);
}

static void dispatch(fl_query *q, fl_request *r, const query_user *u, const route *rt)
{
    fl_err err = FL_ERR_INIT;
    query_served_ctx sc = {q, query_reader_get(q, &err), rt->cluster, u,
                           rt->cluster && !query_scope_cluster_visible(q, u, rt->cluster)};
    const char *const *s = rt->seg;
    size_t n = rt->nseg;
    if (!sc.rd) {
        fl_request_reply_status(r, 500, NULL, "index: %s", err.msg);
        return;
    }
    if (n >= 2 && !strcmp(s[0], "openapi") && !strcmp(s[1], "v3"))
        query_serve_openapi(q, r, rt->cluster, rt->seg + 2, rt->nseg - 2, &sc);
    else if (n == 2 && !strcmp(s[0], "openapi") && !strcmp(s[1], "v2"))
        query_serve_openapi_v2(q, r, &sc);
    else if (n == 0 ||
             (n == 1 && strcmp(s[0], "version") && strcmp(s[0], "api") && strcmp(s[0], "apis")))
        not_found(r);
    else if (n == 1 || (n == 2 && !strcmp(s[0], "api")) || (n <= 3 && !strcmp(s[0], "apis")))
        query_serve_discovery(q, r, rt->seg, rt->nseg, &sc);
    else if (!strcmp(s[0], "api") && !strcmp(s[1], "v1"))
        serve_object_path(q, r, u, "", "v1", s + 2, n - 2, rt->cluster, &sc);
    else if (!strcmp(s[0], "apis"))
        serve_object_path(q, r, u, s[1], s[2], s + 3, n - 3, rt->cluster, &sc);
    else
        not_found(r);
    query_reader_put(q, sc.rd);
}

static void on_request(fl_request *r, void *ud)
{
    fl_query *q = ud;
    query_user u;
    route rt;
    memset(&rt, 0, sizeof rt);
    if (query_authenticate(q, r, &u) != 0)
        return;
    if (!query_scope_any(q, &u)) {
        fl_request_reply_status(r, 403, "Forbidden",
                                "user \"%s\" cannot read anything through the search API", u.name);
        return;
    }
    const char *p = fl_request_path(r) + strlen(FL_QUERY_PREFIX);
    if (!split_path(p, &rt)) {
        fl_request_reply_status(r, 400, "BadRequest", "invalid path");
        return;
    }
    if (rt.nseg >= 2 && !strcmp(rt.seg[0], "clusters")) {
        if (!fl_kube_dns_subdomain(rt.seg[1])) {
            fl_request_reply_status(r, 400, "BadRequest", "invalid cluster name");
            return;
        }
        rt.cluster = rt.seg[1];
        memmove(rt.seg, rt.seg + 2, (rt.nseg - 2) * sizeof rt.seg[0]);
        rt.nseg -= 2;
    }
    dispatch(q, r, &u, &rt);
}

static void on_collection(fl_request *r, void *ud)
{
    fl_query *q = ud;
    query_user u;
    if (query_authenticate(q, r, &u) != 0)
        return;
    if (!query_scope_any(q, &u)) {
        fl_request_reply_status(r, 403, "Forbidden",
                                "user \"%s\" cannot read anything through the search API", u.name);
        return;
    }
    query_serve_collection(q, r, &u, fl_request_path(r) + strlen(FL_QUERY_COLLECTION_PREFIX));
}

int fl_query_authenticate(fl_query *q, fl_request *r)
{
    query_user u;
    return query_authenticate(q, r, &u);
}

int fl_query_identify(fl_query *q, fl_request *r, fl_query_identity *out)
{
    query_user u;
    int rc = query_authenticate(q, r, &u);
    if (rc != 0)
        return rc;
    out->user = u.name;
    out->ngroups = u.ngroups;
    out->groups = u.groups;
    if (u.groups == u.anon_groups) { /* u is ours: keep its groups in out */
        out->anon_groups[0] = u.anon_groups[0];
        out->anon_groups[1] = u.anon_groups[1];
        out->groups = out->anon_groups;
    }
    return 0;
}

int fl_query_filter_clusters(fl_query *q, fl_request *r, json_t *clusters)
{
    query_user u;
    int rc = query_authenticate(q, r, &u);
    for (size_t i = 0; !rc && i < json_array_size(clusters);) {
        const char *name = fl_obj_str(json_array_get(clusters, i), "name");
        if (name && query_scope_allows(q, &u, name, NULL, NULL, NULL))
            i++;
        else
            json_array_remove(clusters, i);
    }
    return rc;
}

bool fl_query_allows(fl_query *q, fl_request *r, const char *cluster, const char *namespace_,
                     const char *group, const char *resource)
{
    query_user u;
    return query_authenticate(q, r, &u) == 0 &&
           query_scope_allows(q, &u, cluster, namespace_, group, resource);
}

bool fl_query_is_admin(fl_query *q, fl_request *r, bool *answered)
{
    query_user u;
    *answered = query_authenticate(q, r, &u) != 0;
    return !*answered && (!q->nscopes || query_user_is_admin(q, &u));
}

int fl_query_route(fl_query *q, fl_server *srv)
{
    int rc = fl_server_route(srv, "GET", FL_QUERY_PREFIX, on_request, q);
    rc = rc ? rc : fl_server_route(srv, "GET", FL_QUERY_COLLECTION_PREFIX, on_collection, q);
    return rc ? rc : query_sql_route(q, srv);
}
