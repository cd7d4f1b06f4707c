/*
 * query/pool.c: the pooled index readers every handler reads through (each
 * with a per-request time budget), and the served-type registry: which
 * types a prefix serves (synced by the config, or present in the index of
 * the cluster) and which of them a scoped user sees.
 */
#include <string.h>

#include "query/query_int.h"

fl_index_reader *query_reader_get(fl_query *q, fl_err *err)
{
    fl_index_reader *r = NULL;
    pthread_mutex_lock(&q->rd_mu);
    if (q->npool)
        r = q->pool[--q->npool];
    pthread_mutex_unlock(&q->rd_mu);
    if (!r && fl_index_reader_new(q->index, &r, err) != 0)
        return NULL;
    fl_index_reader_set_budget(r, QUERY_TIME_BUDGET_MS);
    return r;
}

void query_reader_put(fl_query *q, fl_index_reader *r)
{
    fl_index_reader_set_budget(r, 0);
    pthread_mutex_lock(&q->rd_mu);
    if (q->npool < QUERY_POOL_MAX) {
        q->pool[q->npool++] = r;
        r = NULL;
    }
    pthread_mutex_unlock(&q->rd_mu);
    fl_index_reader_free(r);
}

/* ---- which types are served ------------------------------------------------- */

bool query_type_synced(const fl_query *q, const fl_kube_resource *r)
{
    for (size_t i = 0; i < q->ngvs; i++) {
        const query_gv *g = &q->gvs[i];
        if (strcmp(g->group, r->group) != 0 || strcmp(g->version, r->version) != 0)
            continue;
        for (size_t k = 0; k < g->nresources; k++)
            if (!strcmp(g->resources[k], "*") || !strcmp(g->resources[k], r->resource))
                return true;
    }
    return false;
}

typedef query_served_ctx served_ctx;

static int stop_cb(void *arg, const fl_index_row *row)
{
    return 1;
}

/* Served: synced by the config, or present in the index (of the cluster). */
/* u sees some of r (in c->cluster when set). */
static bool visible_type(const served_ctx *c, const fl_kube_resource *r)
{
    query_scope_terms t;
    query_scope_terms_for(c->q, c->u, r->group, r->resource, r->namespaced, &t);
    if (!t.any || !c->cluster || t.all_clusters)
        return t.any;
    for (size_t i = 0; i < t.nclusters; i++)
        if (!strcmp(t.clusters[i], c->cluster))
            return true;
    return false;
}

bool query_served_filter(const fl_kube_resource *r, void *ud)
{
    served_ctx *c = ud;
    if (c->hidden)
        return false; /* as a cluster that does not exist */
    if (c->u && r != c->q->cluster_res && !visible_type(c, r))
        return false; /* as a type that does not exist */
    if (r == c->q->cluster_res)
        return !c->cluster;
    if (!c->cluster && query_type_synced(c->q, r))
        return true;
    if (!c->rd)
        return false;
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    iq.group = r->group;
    iq.version = r->version;
    iq.resource = r->resource;
    iq.clusters = &c->cluster;
    iq.n_clusters = c->cluster ? 1 : 0;
    iq.limit = 1;
    return fl_index_list(c->rd, &iq, stop_cb, NULL, NULL, NULL) == 1;
}

bool query_served(fl_query *q, const fl_kube_resource *r, fl_index_reader *rd)
{
    served_ctx c = {q, rd, NULL, NULL, false};
    return r != q->cluster_res && query_served_filter(r, &c);
}
