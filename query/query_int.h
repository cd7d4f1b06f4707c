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

/* Does the request ask for a Table (Accept: application/json;as=Table;...)? */
bool query_wants_table(const fl_request *r);

#endif
