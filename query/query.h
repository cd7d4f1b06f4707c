/*
 * query/query.h: the Kubernetes-compatible search API over the whole fleet
 * in Clusterpedia's URL layout:
 *
 *   /apis/clusterpedia.io/v1beta1/resources/<kubernetes path>                 every cluster
 *   /apis/clusterpedia.io/v1beta1/resources/clusters/<name>/<kubernetes path> one cluster
 *
 * Under each prefix: discovery (/api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>,
 * /version) built from the types the fleet syncs, LIST and GET of any synced
 * resource from the index (JSON, or a Table with a leading Cluster column),
 * label selectors answered from the labels index, field selectors on any
 * JSON path (list fields with "[]", numeric > and <), Clusterpedia's search
 * conditions as query parameters and search.clusterpedia.io/... label
 * requirements (clusters, namespaces, names, fuzzy-name, since, before,
 * owner-uid/-name/-gr/-seniority, orderby, limit/size), and keyset
 * pagination with encrypted, bound continue tokens (ordered lists page on
 * their sort key). OpenAPI v3 documents are served with kube-apiserver's
 * ?hash= / Etag caching. GET .../namespaces/<ns>/pods/<pod>/log (with
 * follow) is proxied to the member that runs the pod (logs.c).
 *
 * Every request is authenticated (bearer token from the tokens file, a
 * verified client certificate, or anonymous on loopback when allowed) and
 * narrowed by the scopes of the user's groups. Secret data never leaves:
 * the index stores Secrets without data/stringData.
 *
 * Threads: fl_query_new/_route/_free on the owner's thread; handlers run on
 * the server's threads, each borrowing an index reader from a small pool.
 * The fl_query must outlive the server it is routed on (free it after
 * fl_server_free).
 */
#ifndef FL_QUERY_H
#define FL_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "index/index.h"
#include "kube/kubeconfig.h"
#include "server/server.h"

/* URL prefix of the search API. */
#define FL_QUERY_PREFIX "/apis/clusterpedia.io/v1beta1/resources"

/* Clusterpedia's collection resources (workloads, kuberesources, any). */
#define FL_QUERY_COLLECTION_PREFIX "/apis/clusterpedia.io/v1beta1/collectionresources"

/* Largest page a LIST answers (a bigger limit is lowered to this). */
#define FL_QUERY_MAX_LIMIT 10000
/* Largest number of objects an unpaginated LIST (limit 0) returns; over it
 * the LIST answers 413 with a Status telling the client to page. */
#define FL_QUERY_DEFAULT_LIMIT 10000

/* One auth.scopes entry: members of group see objects whose cluster,
 * namespace and resource are in the lists ("*" = any). Cluster-scoped
 * objects (namespace "") need namespaces "*". */
typedef struct fl_query_scope {
    const char *group;
    const char *const *clusters;
    size_t nclusters;
    const char *const *namespaces;
    size_t nnamespaces;
    const char *const *resources; /* plural ("pods") or "plural.group" */
    size_t nresources;
} fl_query_scope;

/* A synced group/version (sync.resources): resources "*" = all of the gv. */
typedef struct fl_query_gv {
    const char *group, *version;
    const char *const *resources;
    size_t nresources;
} fl_query_gv;

/* A member cluster the pods/log proxy can reach: an open connection
 * (referenced by fl_query_new), or else a kubeconfig path and context
 * loaded by fl_query_new (a failure is logged; that member's logs then
 * answer 503). */
typedef struct fl_query_member {
    const char *name;
    fl_kube_conn *conn;
    const char *kubeconfig;
    const char *context;
} fl_query_member;

typedef struct fl_query_opts {
    fl_index *index;              /* required, borrowed */
    const char *tokens_file;      /* token,user,"g1,g2" lines; NULL = no tokens */
    bool anonymous_loopback;      /* unauthenticated loopback peers allowed */
    const fl_query_scope *scopes; /* copied; none = every authenticated user sees all */
    size_t nscopes;
    const fl_query_gv *gvs; /* copied; synced types listed in discovery */
    size_t ngvs;
    const char *key_file; /* continue-token key (32 bytes); created
                                      when missing; NULL = random per process */
    /* Member clusters, for cluster.karmada.io/v1alpha1 Cluster objects and the
     * not-Ready Warning header: a new reference shaped like
     * fl_collector_status() ({"clusters":[{"name","health","since",
     * "lastError","version","labels":{..},"resources":[{"phase"}..]}]}), or
     * NULL. Called on server threads; NULL fn = no Cluster objects. */
    json_t *(*members_fn)(void *ud);
    void *members_ud;
    /* Members for the pods/log proxy (copied); none = logs answer 404. */
    const fl_query_member *log_members;
    size_t nlog_members;
    /* Groups whose members see everything whatever the scopes say, besides
     * system:masters (copied; auth.adminGroups). */
    const char *const *admin_groups;
    size_t nadmin_groups;
    /* POST /query (the SQL-like language, query/SQL.md): per-query time
     * budget and row cap (0 = 5000 ms, 10000 rows), and whether `objects`
     * and WITH DELETED are open to every caller (default admins only: a
     * caller with no scopes configured, or a scope of "*" everywhere). */
    int64_t sql_budget_ms;
    int64_t sql_max_rows;
    /* How long a page filtered after the index (field selectors, negative
     * sets) scans on to fill itself before it answers what it has with a
     * continue token (0 = 3000 ms). */
    int64_t list_scan_budget_ms;
    bool sql_open_to_all;
    /* Concurrent watches in all and per user name (0 = 10000 and 128). */
    unsigned watch_max;
    unsigned watch_per_user;
} fl_query_opts;
#define FL_QUERY_OPTS_INIT                                                                         \
    {                                                                                              \
        0                                                                                          \
    } /* every option unset: its default */

typedef struct fl_query fl_query;

/* Load the tokens file and the key, build the type registry. Returns 0,
 * -EINVAL (no index), -errno (cannot read a file), FL_EPARSE (bad tokens
 * line; err says file:line), -ENOMEM. *out written only on success. */
int fl_query_new(const fl_query_opts *opts, fl_query **out, fl_err *err);

/* Register the GET routes under FL_QUERY_PREFIX on srv (before it starts).
 * Returns 0 or fl_server_route's codes. */
int fl_query_route(fl_query *q, fl_server *srv);

/* Authenticate a request as the search API does (bearer token, verified
 * client certificate, anonymous loopback when allowed), for other routes
 * of the same listener. Returns 0 (and names the user for the access log),
 * or answers 401 Status and returns FL_EUNAUTHORIZED. Server threads. */
int fl_query_authenticate(fl_query *q, fl_request *r);

/* Who a request is (fl_query_authenticate's rules), for other APIs of the
 * listener that authorize by group (the control-plane API). Strings are
 * borrowed from q (or from *out itself) and live as long as both. */
typedef struct fl_query_identity {
    const char *user;
    const char *const *groups;
    size_t ngroups;
    const char *anon_groups[2];
} fl_query_identity;
/* 0 and *out, or answers 401 Status and returns FL_EUNAUTHORIZED. */
int fl_query_identify(fl_query *q, fl_request *r, fl_query_identity *out);

/* Authenticate r (as above) and remove from clusters (a JSON array of
 * objects with a "name", e.g. fl_collector_status()'s "clusters") every
 * member the user's auth.scopes do not cover. Returns 0, or answers 401
 * and returns FL_EUNAUTHORIZED. Server threads. */
int fl_query_filter_clusters(fl_query *q, fl_request *r, json_t *clusters);

/* Whether r's user may see resource (plural; group "" = core) in cluster and
 * namespace ("" = cluster-scoped, which needs namespaces "*"), by the same
 * auth.scopes the search API applies. For a request already authenticated
 * (fl_query_authenticate); otherwise it answers 401 and returns false.
 * Server threads. */
bool fl_query_allows(fl_query *q, fl_request *r, const char *cluster, const char *namespace_,
                     const char *group, const char *resource);

/* Whether r's user sees everything: no auth.scopes are configured, or it is
 * in system:masters or a group of auth.adminGroups (the rule that lifts the
 * scopes). For admin-only routes of the listener. Authenticates r first:
 * false after answering 401 when it does not authenticate (*answered set),
 * false with *answered unset for a user who is not an admin (the caller
 * answers 403). Server threads. */
bool fl_query_is_admin(fl_query *q, fl_request *r, bool *answered);

/* Free (after the server that routes to q has been freed). Accepts NULL. */
void fl_query_free(fl_query *q);

/* ---- pieces exposed for tests and the fuzzer ---------------------------- */

/* Continue tokens: opaque base64url(nonce, AES-256-GCM ciphertext, tag).
 * Encode the keyset position (revision the list was served at, then the
 * last key); bind (a string, "" for none) is authenticated with it, so a
 * token only decodes with the same bind (the search API binds user,
 * resource, path and query). fl_query_token_encode[_for] returns 0 or
 * -E2BIG/-ENOMEM/-EIO (out capped). */
typedef struct fl_query_cursor {
    int64_t revision;
    char namespace_[254], name[254], cluster[254];
    int64_t offset; /* index rows before this position (remainingItemCount) */
    /* ordered lists (orderby): the sort key of the last row */
    bool ordered;
    uint32_t order_sig;
    int64_t created;
    char rv[64];
    int64_t total; /* rows of the whole list at its snapshot, counted on the first
                    * page (remainingItemCount = total - offset); 0 = not counted */
} fl_query_cursor;
int fl_query_token_encode_for(const fl_query *q, const char *bind, const fl_query_cursor *c,
                              fl_buf *out);
int fl_query_token_encode(const fl_query *q, const fl_query_cursor *c, fl_buf *out); /* bind "" */
/* Returns 0, or FL_EPARSE (malformed, tampered, another key or another
 * bind: a 400). */
int fl_query_token_decode_for(const fl_query *q, const char *bind, const char *token,
                              fl_query_cursor *out);
int fl_query_token_decode(const fl_query *q, const char *token, fl_query_cursor *out);

/* Field selector with list fields and numeric comparison:
 * "status.phase=Running,spec.containers[].image=nginx:1.25,spec.replicas>2".
 * Returns 0 and *out (free with fl_query_fields_free), FL_EPARSE, -E2BIG. */
typedef struct fl_query_fields fl_query_fields;
int fl_query_fields_parse(const char *s, fl_query_fields **out, fl_err *err);
void fl_query_fields_free(fl_query_fields *f);
/* obj is a json_t* (kept void* so this header does not need jansson). */
bool fl_query_fields_match(const fl_query_fields *f, const void *obj);

#endif
