/*
 * query/query_int.h: what the files of query/ share (not for other modules).
 */
#ifndef FL_QUERY_INT_H
#define FL_QUERY_INT_H

#include <jansson.h>
#include <pthread.h>

#include "kube/kube.h"
#include "query/query.h"

#define QUERY_POOL_MAX 16
#define QUERY_KEY_LEN 32

typedef struct query_token {
    char *token, *user;
    char **groups;
    size_t ngroups;
} query_token;

/* A deep copy of an fl_query_scope (strings owned). */
typedef struct query_scope {
    char *group;
    char **clusters, **namespaces, **resources;
    size_t nclusters, nnamespaces, nresources;
} query_scope;

typedef struct query_gv {
    char *group, *version;
    char **resources;
    size_t nresources;
} query_gv;

/* Invariant: everything but the pool is immutable after fl_query_new. */
struct fl_query {
    fl_index *index;
    fl_kube_resources *reg;
    query_token *tokens;
    size_t ntokens;
    bool anonymous_loopback;
    query_scope *scopes;
    size_t nscopes;
    query_gv *gvs;
    size_t ngvs;
    unsigned char key[QUERY_KEY_LEN];
    pthread_mutex_t pool_mu;
    fl_index_reader *pool[QUERY_POOL_MAX];
    size_t npool;
    /* watches (watch.c): rev/stopping/nwatch under pool_mu, changed broadcast
     * on each index commit and at stop. */
    pthread_cond_t changed;
    int64_t rev;
    int sub_id;
    bool subscribed, stopping;
    int nwatch;
    json_t *(*members_fn)(void *ud);
    void *members_ud;
    const fl_kube_resource *cluster_res; /* cluster.karmada.io/v1alpha1 clusters */
};

/* The authenticated caller. Strings borrowed from the fl_query or request. */
typedef struct query_user {
    const char *name;
    const char *const *groups;
    size_t ngroups;
    const char *anon_groups[2];
} query_user;

/* auth.c */
int query_tokens_load(fl_query *q, const char *path, fl_err *err);
void query_tokens_free(fl_query *q);
/* 0 and *u, or answers the request (401) and returns FL_EUNAUTHORIZED. */
int query_authenticate(const fl_query *q, fl_request *r, query_user *u);
/* Is (cluster, namespace, resource/group) visible to u? */
bool query_scope_allows(const fl_query *q, const query_user *u, const char *cluster,
                        const char *ns, const char *group, const char *resource);
/* True when u may see something at all (has a scope, or no scopes exist). */
bool query_scope_any(const fl_query *q, const query_user *u);
int query_key_load(fl_query *q, const char *path, fl_err *err);

/* query.c */
fl_index_reader *query_reader_get(fl_query *q, fl_err *err);
void query_reader_put(fl_query *q, fl_index_reader *r);
bool query_type_synced(const fl_query *q, const fl_kube_resource *r);

/* list.c: a resource request (LIST or GET). */
typedef struct query_target {
    const char *cluster;            /* NULL = every cluster */
    const fl_kube_resource *res;
    const char *ns;                 /* NULL = all namespaces */
    const char *name;               /* NULL = LIST */
} query_target;
void query_serve_resource(fl_query *q, fl_request *r, const query_user *u,
                          const query_target *t);

/* Parsed conditions of a LIST/WATCH request (list.c). */
typedef struct query_conds conds;
int query_conds_new(fl_request *r, const query_target *t, conds **out, fl_err *err);
void query_conds_free(conds *c);
/* Row + parsed object against every condition (sets, owner, labels, fields). */
bool query_conds_match(const conds *c, const fl_index_row *row, const json_t *obj);
/* 400 for parse errors, 410 for FL_EGONE, else 500. */
void query_reply_error(fl_request *r, int rc, const fl_err *err);

/* watch.c: ?watch=1 on a collection; answers r. */
void query_serve_watch(fl_query *q, fl_request *r, const query_user *u, const query_target *t);
int query_watch_init(fl_query *q, fl_err *err);
void query_watch_done(fl_query *q);

/* The request's page size (limit / search size, capped) and continue. */
int64_t query_conds_limit(const conds *c);
const char *query_conds_continue(const conds *c);
/* Append up to limit parsed objects of res matching c (after the cursor)
 * to items; *last = key of the last row looked at, *more = rows remain. */
int query_collect(fl_query *q, const query_user *u, const conds *c, const fl_kube_resource *res,
                  fl_index_reader *rd, const fl_query_cursor *after, int64_t limit,
                  json_t *items, fl_query_cursor *last, bool *more, fl_err *err);
/* served types (query.c): true when r is synced or present in the index */
bool query_served(fl_query *q, const fl_kube_resource *r, fl_index_reader *rd);
/* collection.c: /apis/clusterpedia.io/v1beta1/collectionresources[/name] */
void query_serve_collection(fl_query *q, fl_request *r, const query_user *u, const char *rest);

/* clusters.c */
int query_clusters_init(fl_query *q, fl_err *err);
void query_serve_clusters(fl_query *q, fl_request *r, const query_user *u, const char *name);
/* Add a Warning header per not-Ready member that cluster (NULL = any) covers. */
void query_warn_not_ready(fl_query *q, fl_request *r, const char *cluster);

/* Does the request ask for a Table (Accept: application/json;as=Table;...)? */
bool query_wants_table(const fl_request *r);

#endif
