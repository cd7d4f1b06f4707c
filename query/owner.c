/*
 * query/owner.c: Clusterpedia's owner search (owner-uid, owner-name,
 * owner-gr, owner-seniority). The owner is named by uid, or by name
 * (optionally narrowed to a group/resource, "deployments.apps", and, when
 * the request names namespaces, to those namespaces plus cluster-scoped
 * objects); seniority N walks N controller levels down from it (0: the
 * owner's children, 1: its grandchildren, e.g. a Deployment's Pods). The
 * result is the set of (cluster, uid) of the objects whose children are
 * wanted; a row matches when its controller owner is in that set.
 *
 * Clusterpedia answers owner conditions only for a single cluster (and
 * ignores them otherwise); here they work across clusters: uids are paired
 * with their cluster, so an owner in one cluster never adopts objects of
 * another. Resolved once per request (per watch: at its start) against the
 * snapshot of the reader given; at most QUERY_OWNER_MAX objects per level.
 * Only objects the caller may see take part: an owner (or an intermediate
 * owner) outside the caller's scope is as one that does not exist.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

#define OWNER_TYPES_MAX 512

typedef struct level {
    char **uids, **clusters;
    size_t n;
} level;

static void level_done(level *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->uids[i]);
        free(l->clusters[i]);
    }
    free(l->uids);
    free(l->clusters);
    memset(l, 0, sizeof *l);
}

static int level_add(level *l, const char *cluster, const char *uid)
{
    if (!uid[0])
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->uids[i], uid) && !strcmp(l->clusters[i], cluster))
            return 0;
    if (l->n >= QUERY_OWNER_MAX)
        return -E2BIG;
    if (l->n % 64 == 0) {
        char **u = realloc(l->uids, (l->n + 64) * sizeof *u);
        if (u)
            l->uids = u;
        char **c = realloc(l->clusters, (l->n + 64) * sizeof *c);
        if (c)
            l->clusters = c;
        if (!u || !c)
            return -ENOMEM;
    }
    l->uids[l->n] = strdup(uid);
    l->clusters[l->n] = strdup(cluster);
    if (!l->uids[l->n] || !l->clusters[l->n]) {
        free(l->uids[l->n]);
        free(l->clusters[l->n]);
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

typedef struct walk {
    level *out;
    const char *want_cluster; /* "" = any */
    int rc;
    const fl_query *q;
    const query_user *u; /* only objects u may see (NULL = any) */
} walk;

static int walk_row(void *arg, const fl_index_row *row)
{
    walk *w = arg;
    if (w->want_cluster && w->want_cluster[0] && strcmp(w->want_cluster, row->cluster))
        return 0;
    if (w->u &&
        !query_scope_allows(w->q, w->u, row->cluster, row->namespace_, row->group, row->resource))
        return 0; /* an owner outside the scope is as one that does not exist */
    w->rc = level_add(w->out, row->cluster, row->uid);
    return w->rc ? 1 : 0;
}

/* Run iq, adding each row (of w's cluster) to w->out. 0 or an error. */
static int collect(fl_index_reader *rd, const fl_index_query *iq, walk *w, fl_err *err)
{
    int rc = fl_index_list(rd, iq, walk_row, w, NULL, err);
    return w->rc ? w->rc : rc < 0 ? rc : 0;
}

/* The types to look through: served ones (synced or in the index),
 * narrowed to gr ("resource.group") when given. */
static size_t owner_types(fl_query *q, fl_index_reader *rd, const char *gr,
                          const fl_kube_resource **out, size_t max)
{
    const fl_kube_resource *all[OWNER_TYPES_MAX];
    size_t n = fl_kube_resources_list(q->reg, all, OWNER_TYPES_MAX), k = 0;
    const char *dot = gr ? strchr(gr, '.') : NULL;
    size_t rlen = gr ? (dot ? (size_t)(dot - gr) : strlen(gr)) : 0;
    const char *group = dot ? dot + 1 : "";
    for (size_t i = 0; i < n && i < OWNER_TYPES_MAX && k < max; i++) {
        const fl_kube_resource *r = all[i];
        if (gr && (strlen(r->resource) != rlen || strncmp(r->resource, gr, rlen) ||
                   strcmp(r->group, group)))
            continue;
        bool dup = false; /* one version per group/resource */
        for (size_t j = 0; j < k && !dup; j++)
            dup = !strcmp(out[j]->group, r->group) && !strcmp(out[j]->resource, r->resource);
        if (!dup && query_served(q, r, rd))
            out[k++] = r;
    }
    return k;
}

typedef struct scope {
    const fl_query *q;
    const query_user *u;
    const char *const *clusters;
    size_t nclusters;
    const char *const *namespaces;
    size_t nnamespaces;
} scope;

/* Level 0 by name: objects named name (in the namespaces, plus
 * cluster-scoped ones, when namespaces are given). */
static int by_name(fl_query *q, fl_index_reader *rd, const query_owner *o, const scope *s,
                   const fl_kube_resource *const *types, size_t ntypes, level *out, fl_err *err)
{
    const char *ns[FL_INDEX_QUERY_MAX_TERMS];
    size_t nns = 0;
    for (size_t i = 0; i < s->nnamespaces && nns + 1 < FL_INDEX_QUERY_MAX_TERMS; i++)
        ns[nns++] = s->namespaces[i];
    if (nns)
        ns[nns++] = "";
    for (size_t i = 0; i < ntypes; i++) {
        fl_index_query iq = FL_INDEX_QUERY_INIT;
        walk w = {out, NULL, 0, s->q, s->u};
        iq.group = types[i]->group;
        iq.resource = types[i]->resource;
        iq.clusters = s->clusters;
        iq.n_clusters = s->nclusters;
        iq.namespaces = nns ? ns : NULL;
        iq.n_namespaces = nns;
        iq.names = &o->name;
        iq.n_names = 1;
        iq.limit = QUERY_OWNER_MAX + 1;
        int rc = collect(rd, &iq, &w, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* One level down: the objects whose controller is in from. */
static int children(fl_index_reader *rd, const scope *s, const fl_kube_resource *const *types,
                    size_t ntypes, const level *from, level *out, fl_err *err)
{
    for (size_t u = 0; u < from->n; u++) {
        for (size_t i = 0; i < ntypes; i++) {
            fl_index_query iq = FL_INDEX_QUERY_INIT;
            walk w = {out, from->clusters[u], 0, s->q, s->u};
            iq.group = types[i]->group;
            iq.resource = types[i]->resource;
            iq.clusters = s->clusters;
            iq.n_clusters = s->nclusters;
            iq.owner_uid = from->uids[u];
            iq.limit = QUERY_OWNER_MAX + 1;
            int rc = collect(rd, &iq, &w, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int query_owner_resolve(fl_query *q, const query_user *u, query_owner *o,
                        const char *const *clusters, size_t nclusters,
                        const char *const *namespaces, size_t nnamespaces, fl_index_reader *rd,
                        fl_err *err)
{
    const fl_kube_resource *types[OWNER_TYPES_MAX], *gr_types[OWNER_TYPES_MAX];
    scope s = {q, u, clusters, nclusters, namespaces, nnamespaces};
    level cur = {0}, next = {0};
    int rc = 0;
    if (o->resolved || (!o->uid && !o->name) || (o->uid && o->seniority == 0))
        return 0; /* nothing, or a plain owner uid the index answers */
    size_t ntypes = owner_types(q, rd, NULL, types, OWNER_TYPES_MAX);
    if (o->uid) {
        rc = level_add(&cur, "", o->uid);
    } else {
        size_t ngr = o->gr ? owner_types(q, rd, o->gr, gr_types, OWNER_TYPES_MAX) : ntypes;
        rc = by_name(q, rd, o, &s, o->gr ? gr_types : types, ngr, &cur, err);
    }
    for (int64_t k = 0; !rc && k < o->seniority && cur.n; k++) {
        rc = children(rd, &s, types, ntypes, &cur, &next, err);
        level_done(&cur);
        cur = next;
        memset(&next, 0, sizeof next);
    }
    level_done(&next);
    if (rc == -E2BIG)
        rc = fl_err_set(err, -E2BIG, "owner search: more than %d owners", QUERY_OWNER_MAX);
    if (rc) {
        level_done(&cur);
        return rc;
    }
    o->uids = cur.uids;
    o->clusters = cur.clusters;
    o->n = cur.n;
    o->resolved = true;
    return 0;
}

bool query_owner_match(const query_owner *o, const fl_index_row *row)
{
    if (!o->resolved) /* an unresolved owner name matches nothing */
        return o->uid ? !strcmp(o->uid, row->owner_uid) : !o->name;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->uids[i], row->owner_uid) &&
            (!o->clusters[i][0] || !strcmp(o->clusters[i], row->cluster)))
            return true;
    return false;
}

const char *query_owner_index_uid(const query_owner *o)
{
    if (!o->resolved)
        return o->uid;
    return o->n == 1 ? o->uids[0] : NULL;
}

bool query_owner_nothing(const query_owner *o)
{
    return o->resolved && o->n == 0;
}

void query_owner_done(query_owner *o)
{
    level l = {o->uids, o->clusters, o->n};
    level_done(&l);
    o->uids = o->clusters = NULL;
    o->n = 0;
    o->resolved = false;
}
