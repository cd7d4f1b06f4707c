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

/* A member cluster for pods/log (logs.c): conn NULL when its kubeconfig
 * could not be loaded. */
typedef struct query_member {
    char *name;
    fl_kube_conn *conn;
} query_member;

struct query_log_hub;

/* One cached set of OpenAPI v3 documents (openapi.c): for a prefix
 * (cluster "" = all) and the digest of the types it served. */
#define QUERY_OPENAPI_CACHE 8
typedef struct query_openapi_entry {
    char cluster[254];
    uint64_t sig;
    json_t *index; /* {"paths":{gv:{"serverRelativeURL"}}}, prefixed */
    json_t *docs;  /* gv -> {"hash","body"} */
    int64_t used;  /* 0 = empty slot */
} query_openapi_entry;

/* Invariant: everything but the pool is immutable after fl_query_new. */
struct fl_query {
    fl_index *index;
    fl_kube_resources *reg;
    query_token *tokens;
    size_t ntokens;
    bool anonymous_loopback;
    query_scope *scopes;
    size_t nscopes;
    char **admin_groups; /* besides system:masters */
    size_t nadmin_groups;
    query_gv *gvs;
    size_t ngvs;
    unsigned char key[QUERY_KEY_LEN];
    pthread_mutex_t pool_mu;
    pthread_mutex_t rd_mu; /* the reader pool only: never behind pool_mu */
    fl_index_reader *pool[QUERY_POOL_MAX];
    size_t npool;
    struct query_watch_hub *watches; /* watch.c */
    json_t *(*members_fn)(void *ud);
    void *members_ud;
    const fl_kube_resource *cluster_res; /* cluster.karmada.io/v1alpha1 clusters */
    query_member *members;               /* pods/log targets (logs.c) */
    size_t nmembers;
    query_openapi_entry oa[QUERY_OPENAPI_CACHE]; /* under oa_mu (openapi.c) */
    pthread_mutex_t oa_mu;
    int64_t oa_tick;
    struct query_log_hub *log_hub;       /* the log proxy thread (logs.c); NULL without members */
    int64_t sql_budget_ms, sql_max_rows; /* POST /query (sql_handler.c) */
    int64_t list_scan_budget_ms;         /* a filtered page scans on this long (list.c) */
    bool sql_open_to_all;
};

/* The authenticated caller. Strings borrowed from the fl_query or request. */
typedef struct query_user {
    const char *name;
    const char *const *groups;
    size_t ngroups;
    const char *anon_groups[2];
} query_user;

/* users.c: per-user-name counts of a bounded resource (watches, logs),
 * under the owner's lock; a free slot has n == 0. take: false when name is
 * at cap or every slot is used; put undoes one take of name. */
#define QUERY_USER_SLOTS 512
typedef struct query_user_count {
    char name[128];
    int n;
} query_user_count;
bool query_user_take(query_user_count *slots, size_t nslots, const char *name, int cap);
void query_user_put(query_user_count *slots, size_t nslots, const char *name);

/* auth.c */
int query_tokens_load(fl_query *q, const char *path, fl_err *err);
void query_tokens_free(fl_query *q);
/* 0 and *u, or answers the request (401) and returns FL_EUNAUTHORIZED. */
int query_authenticate(const fl_query *q, fl_request *r, query_user *u);
/* Is (cluster, namespace, resource/group) visible to u? */
bool query_scope_allows(const fl_query *q, const query_user *u, const char *cluster, const char *ns,
                        const char *group, const char *resource);
/* system:masters or one of auth.adminGroups: unrestricted. */
bool query_user_is_admin(const fl_query *q, const query_user *u);
/* The part of u's scope that covers one type, as index terms (#19: the
 * scope is compiled into the index query, not checked after reading):
 * any = u sees some of the type; clusters/namespaces = the union over the
 * matching scope entries (all_* = no restriction). The union may be wider
 * than the scope when entries differ (rows are still checked one by one),
 * never narrower. Strings borrowed from q. */
#define QUERY_SCOPE_TERMS 128
typedef struct query_scope_terms {
    bool any, all_clusters, all_namespaces;
    const char *clusters[QUERY_SCOPE_TERMS];
    size_t nclusters;
    const char *namespaces[QUERY_SCOPE_TERMS];
    size_t nnamespaces;
} query_scope_terms;
void query_scope_terms_for(const fl_query *q, const query_user *u, const char *group,
                           const char *resource, bool namespaced, query_scope_terms *out);
/* May u see anything of cluster (a cluster outside the scope answers as
 * one that does not exist)? */
bool query_scope_cluster_visible(const fl_query *q, const query_user *u, const char *cluster);
/* True when u may see something at all (has a scope, or no scopes exist). */
bool query_scope_any(const fl_query *q, const query_user *u);
int query_key_load(fl_query *q, const char *path, fl_err *err);

/* token.c: the binding of a continue token (hex SHA-256 of the user,
 * what is listed, the cluster path ("*" = all), the namespace and every
 * query parameter but the paging ones). 0 or -ENOMEM/-EIO. */
#define QUERY_BIND_LEN 65
int query_token_bind(fl_request *r, const query_user *u, const char *what, const char *cluster,
                     const char *ns, char out[QUERY_BIND_LEN]);

/* pool.c: a pooled reader with a time budget of QUERY_TIME_BUDGET_MS per
 * request (a longer read fails with -ETIMEDOUT: 504). */
#define QUERY_TIME_BUDGET_MS 15000
fl_index_reader *query_reader_get(fl_query *q, fl_err *err);
void query_reader_put(fl_query *q, fl_index_reader *r);
bool query_type_synced(const fl_query *q, const fl_kube_resource *r);

/* A resource request (LIST, GET or WATCH). */
typedef struct query_target {
    const char *cluster; /* NULL = every cluster */
    const fl_kube_resource *res;
    const char *ns;   /* NULL = all namespaces */
    const char *name; /* NULL = LIST */
} query_target;
/* auth.c: a namespace outside u's scope for the type: answers 403 as RBAC
 * would (verb "get", "list" or "watch") and returns true. */
bool query_scope_forbid_ns(const fl_query *q, fl_request *r, const query_user *u,
                           const query_target *t, const char *verb);
/* list.c: LIST of t (no name); answers r. */
void query_serve_list(fl_query *q, fl_request *r, const query_user *u, const query_target *t);
/* get.c: GET of t->name; answers r. */
void query_serve_get(fl_query *q, fl_request *r, const query_user *u, const query_target *t);

/* order.c: orderby (see there). */
#define QUERY_ORDER_MAX 5
#define QUERY_ORDER_MAX_ROWS 200000
typedef enum {
    QUERY_ORDER_CLUSTER,
    QUERY_ORDER_NAMESPACE,
    QUERY_ORDER_NAME,
    QUERY_ORDER_CREATED,
    QUERY_ORDER_RV,
} query_order_field;
typedef struct query_order {
    struct {
        query_order_field field;
        bool desc;
    } by[QUERY_ORDER_MAX];
    size_t n;
} query_order;
/* Add "name", "name desc" or "name_desc". 0, FL_EPARSE, -E2BIG. */
int query_order_add(query_order *o, const char *spec, fl_err *err);
/* A digest of the order, kept in continue tokens. */
uint32_t query_order_sig(const query_order *o);
/* The sort key of one row (one allocation at cluster). */
typedef struct query_sort_row {
    char *cluster, *ns, *name, *rv;
    int64_t created;
} query_sort_row;
typedef struct query_sorted {
    query_sort_row *v;
    size_t n, cap;
} query_sorted;
/* 0, -E2BIG (over QUERY_ORDER_MAX_ROWS), -ENOMEM. */
int query_sorted_add(query_sorted *s, const fl_index_row *row);
void query_sorted_sort(query_sorted *s, const query_order *o);
/* Index of the first row strictly after the cursor's position. */
size_t query_sorted_after(const query_sorted *s, const query_order *o, const fl_query_cursor *c);
/* The continue position of row r. */
void query_sorted_cursor(const query_sort_row *r, const query_order *o, int64_t revision,
                         fl_query_cursor *c);
void query_sorted_done(query_sorted *s);

/* owner.c: owner-uid / owner-name / owner-gr / owner-seniority (see there). */
#define QUERY_OWNER_MAX 4096
typedef struct query_owner {
    const char *uid, *name, *gr; /* borrowed from the request */
    int64_t seniority;
    char **uids, **clusters; /* resolved set ("" cluster = any) */
    size_t n;
    bool resolved;
} query_owner;
/* Resolve against rd over what u sees (NULL = anything; clusters/namespaces:
 * the request's positive sets, NULL/0 = any). 0, -E2BIG, FL_ESQL, -ENOMEM. */
int query_owner_resolve(fl_query *q, const query_user *u, query_owner *o,
                        const char *const *clusters, size_t nclusters,
                        const char *const *namespaces, size_t nnamespaces, fl_index_reader *rd,
                        fl_err *err);
bool query_owner_match(const query_owner *o, const fl_index_row *row);
/* The one owner uid the index can filter on, or NULL. */
const char *query_owner_index_uid(const query_owner *o);
/* True when resolution found no owner: nothing matches. */
bool query_owner_nothing(const query_owner *o);
void query_owner_done(query_owner *o);

/* conds.c: parsed conditions of a LIST/WATCH request. */
typedef struct query_conds conds;
int query_conds_new(fl_request *r, const query_target *t, conds **out, fl_err *err);
void query_conds_free(conds *c);
/* Resolve owner-name / owner-seniority against rd (once). 0 or an error. */
int query_conds_resolve(fl_query *q, const query_user *u, conds *c, fl_index_reader *rd,
                        fl_err *err);
/* Every field selector path of f exists in r's schema (any path of a type
 * without one); else FL_EPARSE with kube-apiserver's message. */
int query_fields_check(const fl_query_fields *f, const fl_kube_resource *r, fl_err *err);
/* The value of the next "path=value" term of f from *at on (advances *at
 * past it), or NULL when there is none. Borrowed from f. */
const char *query_fields_eq(const fl_query_fields *f, const char *path, size_t *at);

/* Row + parsed object against every condition (sets, owner, labels, fields). */
bool query_conds_match(const conds *c, const fl_index_row *row, const json_t *obj);
/* The row's cluster, namespace, name and owner against the conditions. */
bool query_conds_row_ok(const conds *c, const fl_index_row *row);
/* The field selector (NULL: none), the orderby (n == 0: none). */
const fl_query_fields *query_conds_fields(const conds *c);
const query_order *query_conds_order(const conds *c);
/* No limit was asked for (the list is not paged by the client). */
bool query_conds_unlimited(const conds *c);
/* Fill iq with what the index can answer of c over t's type. */
void query_conds_index_query(const conds *c, const query_target *t, fl_index_query *iq);
/* True when every condition went to the index (so its count is exact). */
bool query_conds_exact(const fl_query *q, const conds *c);
/* remainingItemCount: asked for, or by default without selectors. */
bool query_conds_wants_remaining(const conds *c);
/* A positive set with no values (or an unresolved owner): nothing matches. */
bool query_conds_nothing(const conds *c);

/* reply.c: 400 for parse errors, 410 for FL_EGONE, else 500. */
void query_reply_error(fl_request *r, int rc, const fl_err *err);

/* watch.c: ?watch=1 on a collection; answers r. */
void query_serve_watch(fl_query *q, fl_request *r, const query_user *u, const query_target *t);
/* Start the watch workers and the index subscription (max / per_user: 0 =
 * defaults). 0 or an error; query_watch_done undoes a partial start. */
int query_watch_init(fl_query *q, unsigned max, unsigned per_user, fl_err *err);
/* End every watch (their streams close) and stop the workers. NULL-safe. */
void query_watch_done(fl_query *q);

/* auth.c: narrow iq (clusters, namespaces) to u's scope over res, so that
 * nothing outside it is read; false when u sees nothing of res. sb holds
 * the terms iq then points at. */
typedef struct query_scope_buf {
    query_scope_terms terms;
    const char *clusters[QUERY_SCOPE_TERMS], *namespaces[QUERY_SCOPE_TERMS];
} query_scope_buf;
bool query_scope_query(const fl_query *q, const query_user *u, const fl_kube_resource *res,
                       query_scope_buf *sb, fl_index_query *iq);

/* The request's page size (limit / search size, capped) and continue. */
int64_t query_conds_limit(const conds *c);
const char *query_conds_continue(const conds *c);
/* page.c: one page of a list. Invariant: objs holds the parsed items when
 * !raw_ok, out the raw JSON items (comma-separated) when raw_ok. */
#define QUERY_REPLY_MAX (512u << 20)
typedef struct query_page {
    fl_query *q;
    const query_user *u;
    const conds *c;
    const query_target *t;
    bool table, raw_ok;
    int64_t limit, seen, emitted;
    int64_t exact_rv;          /* resourceVersionMatch=Exact: that revision, else -1 */
    bool filtered;             /* rows are filtered after the index: scan on to fill the page */
    int64_t scan_until;        /* fl_mono_ms() deadline for a filtered scan */
    fl_buf out;                /* raw JSON items, comma-separated */
    json_t *objs;              /* parsed items (Table or field selector) */
    fl_query_cursor last;      /* key of the last row looked at */
    char bind[QUERY_BIND_LEN]; /* continue tokens are bound to this */
    bool more;
    int rc;
    int64_t max_rev; /* the newest revision among the items */
} query_page;
/* A user whose scope restricts what it sees (scopes exist, not an admin). */
bool query_user_scoped(const fl_query *q, const query_user *u);
/* The list's resourceVersion: the index revision rev; for a scoped user the
 * newest revision among the page's items ("0" for none), which moves only
 * when objects in the scope change, so the fleet's change rate outside it
 * does not show. A watch from it replays at most changes the client has
 * already listed, never misses one. */
void query_page_revision(const query_page *x, int64_t rev, char out[32]);
/* The one resourceVersion rule of the search API: every object it serves
 * (list items, GET, watch events) carries as metadata.resourceVersion the
 * index revision of the change that gave it that state, so a client can
 * resume a watch or pin a list from any object it has seen. Appends row's
 * JSON with that value in place of the member's (unchanged when the object
 * has none) to out. 0 or -ENOMEM/-E2BIG. */
int query_row_json(const fl_index_row *row, fl_buf *out);
/* Add one row that passed the conditions (the field selector is checked
 * here). 0 or -ENOMEM. */
int query_page_add(query_page *x, const fl_index_row *row);
/* The fl_index_list callback of a page: conditions, scope, then add. */
int query_page_row(void *arg, const fl_index_row *row);
/* Answer the page as a Table or a List. 0 or an error (nothing sent). */
int query_page_reply_table(query_page *x, fl_request *r, const char *rv, const char *cont,
                           int64_t remaining);
int query_page_reply_list(query_page *x, fl_request *r, const char *rv, const char *cont,
                          int64_t remaining);
/* Append up to limit parsed objects of res matching c (after the cursor)
 * to items; *last = key of the last row looked at, *more = rows remain. */
int query_collect(fl_query *q, const query_user *u, const conds *c, const fl_kube_resource *res,
                  fl_index_reader *rd, const fl_query_cursor *after, int64_t limit, json_t *items,
                  fl_query_cursor *last, bool *more, fl_err *err);
/* pool.c: the fl_kube_resource_filter of a prefix: served = synced by the
 * config (all-clusters prefix) or present in the index (of the cluster). */
typedef struct query_served_ctx {
    const fl_query *q;
    fl_index_reader *rd;
    const char *cluster; /* NULL = every cluster */
    const query_user *u; /* NULL = anyone; else only types u sees some of */
    bool hidden;         /* the cluster is outside u's scope: nothing served */
} query_served_ctx;
bool query_served_filter(const fl_kube_resource *r, void *ud);

/* openapi.c: /openapi/v3[/<api/v1|apis/g/v>] below a prefix (seg: what
 * follows "openapi/v3"); answers r. */
void query_serve_openapi(fl_query *q, fl_request *r, const char *cluster, const char *const *seg,
                         size_t nseg, query_served_ctx *sc);
/* openapi.c: /openapi/v2 below a prefix: the same types as one Swagger 2.0
 * JSON document; 406 for a client that accepts only protobuf. */
void query_serve_openapi_v2(fl_query *q, fl_request *r, query_served_ctx *sc);
void query_openapi_done(fl_query *q);

/* pool.c: true when r is synced or present in the index */
bool query_served(fl_query *q, const fl_kube_resource *r, fl_index_reader *rd);
/* collection.c: /apis/clusterpedia.io/v1beta1/collectionresources[/name] */
void query_serve_collection(fl_query *q, fl_request *r, const query_user *u, const char *rest);

/* clusters.c */
int query_clusters_init(fl_query *q, fl_err *err);
void query_serve_clusters(fl_query *q, fl_request *r, const query_user *u, const char *name);
/* members.c: a Warning header per not-Ready member that cluster (NULL = any)
 * covers. */
void query_warn_not_ready(fl_query *q, fl_request *r, const query_user *u, const char *cluster);

/* The member's health ("Ready", "Unreachable", ...) and last error from
 * members_fn: false when unknown. */
bool query_member_state(fl_query *q, const char *cluster, char *health, size_t hsize,
                        char *last_error, size_t esize);

/* logs.c: pods/log proxy. */
int query_members_load(fl_query *q, const fl_query_member *m, size_t n, fl_err *err);
void query_members_free(fl_query *q);
/* Answer GET .../namespaces/ns/pods/pod/log (cluster NULL = find it). */
void query_serve_log(fl_query *q, fl_request *r, const query_user *u, const char *cluster,
                     const char *ns, const char *pod);
/* Cancel every running log proxy and stop the log thread (fl_query_free). */
void query_logs_stop(fl_query *q);

/* discovery.c: /version, /api, /apis[/g[/v]], /api/v1 below a prefix. */
void query_serve_discovery(fl_query *q, fl_request *r, const char *const *seg, size_t nseg,
                           query_served_ctx *sc);

/* sql_handler.c: POST /query (the SQL-like language). */
int query_sql_route(fl_query *q, fl_server *srv);

/* reply.c: does the request ask for a Table (Accept: application/json;as=Table;...)? */
bool query_wants_table(const fl_request *r);

#endif
