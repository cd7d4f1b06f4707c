/*
 * quota: KarmadaQuota and FederatedResourceQuota semantics for Flotilla —
 * the pure engine that decides what an object or a ResourceBinding costs
 * and whether it fits.
 *
 *   * Karmada's FederatedResourceQuota (policy.karmada.io/v1alpha1):
 *     validation with Karmada's messages, ResourceBinding usage, overallUsed
 *     recomputation and the ResourceBinding admission decision.
 *   * Kubernetes' ResourceQuota admission (kube-apiserver v1.26): the pod,
 *     service, persistentvolumeclaim and object-count evaluators, scopes and
 *     scopeSelector, "must specify" constraints, and the exact "exceeded
 *     quota" wording; used by KarmadaQuota, whose spec is a ResourceQuotaSpec
 *     and whose used sums a namespace over every member cluster.
 *
 * Where Karmada is wrong Flotilla does the right thing; quota/README.md lists
 * every deviation. Objects are jansson values (Kubernetes JSON); resource
 * lists in answers are JSON objects of canonical quantity strings with keys
 * sorted as Go sorts map keys. Quantities go through kube/quantity.h.
 *
 * The ledger (fl_quota) holds each namespace's fleet-wide usage:
 * usage observed in the index on Ready member clusters plus open
 * reservations, and answers member clusters' AdmissionReviews at
 * POST /admission/clusters/<cluster>/<secret>/quota (on the server
 * thread when the namespace's ledger is free and warm, else on its own
 * worker threads). One ledger per namespace, each with its own lock.
 * Quota objects (KarmadaQuota, FederatedResourceQuota) come from the host
 * through one small interface (fl_quota_host_fn).
 *
 * Threads: the engine functions are pure (touch only their arguments) and
 * may be called from any thread; fl_quota's functions are thread-safe
 * unless their contract says otherwise.
 */
#ifndef FL_QUOTA_H
#define FL_QUOTA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

struct fl_index;
struct fl_server;

/* Caps on untrusted input: entries of one resource list, containers of one
 * pod, quotas / FRQs / bindings in one call, length of a resource name. */
#define FL_QUOTA_MAX_RESOURCES 256
#define FL_QUOTA_MAX_CONTAINERS 1024
#define FL_QUOTA_MAX_ITEMS 100000
#define FL_QUOTA_NAME_MAX 512

/* Karmada's validateFederatedResourceQuota on a FederatedResourceQuota object
 * (metadata.name, spec.overall, spec.staticAssignments, status.*). *errors
 * (new reference) is an array of Karmada's field-error strings, e.g.
 * `spec.overall[cpu]: Invalid value: "10": overall is less than assignments`
 * ([] when valid), in a deterministic order (Karmada's walk, map keys sorted).
 * Returns 0; FL_EPARSE (err says why) when frq is not an object or a member
 * has the wrong JSON type or a quantity does not parse; -ENOMEM. */
int fl_quota_frq_validate(const json_t *frq, json_t **errors, fl_err *err);

/* The usage of one ResourceBinding, as Karmada computes it: total replicas
 * over spec.clusters times replicaRequirements.resourceRequest (zero requests
 * left out), or for multi-component bindings the sum of each component's
 * replicas times its request. binding is either Karmada's object
 * ({metadata, spec:{clusters, replicaRequirements, components}}) or the bare
 * spec shape ({namespace, clusters, replicaRequirements, components}).
 * *usage (new) maps resource names to canonical strings. Returns 0,
 * FL_EPARSE (malformed; also negative requests or replicas, with Karmada's
 * message), -ERANGE (a product too large), -ENOMEM. */
int fl_quota_binding_usage(const json_t *binding, json_t **usage, fl_err *err);

/* Karmada's enforcement controller: overallUsed for a FRQ whose spec.overall
 * is `overall`, from every binding in `bindings` (array), keeping only the
 * keys of overall (requests.X counts X's usage: Flotilla's fix of karmada
 * #7864). *used is new. Returns as fl_quota_binding_usage. */
int fl_quota_frq_used(const json_t *overall, const json_t *bindings, json_t **used, fl_err *err);

/* Karmada's ResourceBinding validating webhook for one request:
 * {"operation":"CREATE|UPDATE|DELETE","dryRun":bool,"old":binding|null,
 *  "new":binding|null,"frqs":[{metadata,spec:{overall},status:{overallUsed}}]}.
 * *answer (new) is {"allowed":true,"overallUsed":{frq-name:{..},..}} (every
 * FRQ whose usage changes; the caller stores them unless dryRun) or
 * {"allowed":false,"code":403,"reason":"QuotaExceeded","message":..} with
 * Karmada's wording, or code 500 with Karmada's message for a binding it
 * cannot measure. Returns 0 (the answer says allowed or not), FL_EPARSE for
 * a malformed request (err says why), -ENOMEM. */
int fl_quota_binding_admit(const json_t *req, json_t **answer, fl_err *err);

/* What a Kubernetes object costs under ResourceQuota rules: group and
 * resource name the evaluator ("" / "pods", "apps" / "deployments"); *usage
 * (new) is the evaluator's Usage() (pods: count/pods, pods, cpu,
 * requests.*, limits.*, extended and hugepages resources; services: count,
 * nodeports, loadbalancers; pvcs: claims and storage, also per storage
 * class; anything else: count/<resource>[.<group>] and the legacy alias).
 * now_unix decides whether a pod past its deletion grace period still
 * counts. Returns 0, FL_EPARSE (malformed object), -ERANGE, -ENOMEM. */
int fl_quota_object_usage(const char *group, const char *resource, const json_t *obj,
                          int64_t now_unix, json_t **usage, fl_err *err);

/* kube-apiserver's ResourceQuota admission (CheckRequest) for one object
 * against a set of quotas (KarmadaQuota or ResourceQuota objects: name,
 * spec.hard or status.hard, spec.scopes, spec.scopeSelector):
 *   req = {"quotas":[..],"used":{"<quota>":{..}},"object":{..},
 *          "oldObject":{..}|absent,"operation":"CREATE|UPDATE|DELETE",
 *          "resource":{"group":..,"resource":..}|"deployments.apps"|absent,
 *          "now":unix-seconds|absent}
 * (without "resource" the object's apiVersion/kind name it; quotas' own
 * status.used serves when "used" lacks one). Deployments, ReplicaSets,
 * StatefulSets, ReplicationControllers and Jobs are also checked as replicas
 * times their pod template (not charged). *answer (new) is
 * {"allowed":true,"used":{"<quota>":{new used},..}} or {"allowed":false,
 * "code":403,"reason":"Forbidden","message":"exceeded quota: ..."} with
 * Kubernetes' message. Returns 0, FL_EPARSE (malformed request), -ENOMEM. */
int fl_quota_admit(const json_t *req, json_t **answer, fl_err *err);

/* ---------------------------------------------------------------- the ledger */

typedef struct fl_quota fl_quota;

/* The index's cluster name for the host's objects, and the secrets file
 * (in dataDir) the daemon and `flotilla certs webhook` share. */
#define FL_QUOTA_HOST_CLUSTER "_host"
#define FL_QUOTA_SECRETS_FILE "quota-webhook-secrets.json"

/* The host's quota objects of one namespace: *kq and *frq (new references)
 * are arrays of KarmadaQuota and FederatedResourceQuota objects. Called
 * holding that namespace's ledger, for every decision, from server and
 * worker threads — concurrently for different namespaces. 0 or a negative
 * code. (Without it the ledger reads the host's objects from the index and
 * caches them per namespace.) */
typedef int (*fl_quota_host_fn)(void *ud, const char *namespace_, json_t **kq, json_t **frq,
                                fl_err *err);

/* Member health for the stale policy, as fl_collector_status answers it
 * ({"clusters":[{"name","health","resources":[{"resource","phase","lagMs"}]}]}),
 * a new reference or NULL. Any thread. */
typedef json_t *(*fl_quota_health_fn)(void *ud);

typedef struct fl_quota_opts {
    struct fl_index *index; /* required; members' objects */
    fl_quota_host_fn host;  /* NULL: objects of host_cluster in the index */
    void *host_ud;
    const char *host_cluster;  /* the index's name for the host (FL_QUOTA_HOST_CLUSTER) */
    fl_quota_health_fn health; /* NULL: every member is Ready and current */
    void *health_ud;
    const char *const *members; /* clusters that may call the webhook */
    size_t nmembers;
    const char *const *member_kubeconfigs; /* parallel to members (or NULL): where FRQ */
    const char *const *member_contexts;    /* static assignments' ResourceQuotas go */
    const char *secrets_path;              /* JSON {cluster: secret}, created 0600 when missing */
    int64_t stale_after_ms;                /* default 30000 */
    bool stale_allow;                      /* stalePolicy allow (default deny) */
    int64_t reservation_ttl_ms;            /* default 120000 */
    unsigned threads;                      /* admission workers, default 4 */
    size_t queue_max;                      /* pending reviews before 429, default 4096 */
    int64_t recompute_interval_ms;         /* full recomputation of namespaces with open
                                      reservations (expiry, drift), default 10000 */
    const char *host_kubeconfig;           /* the host API for status write-back (NULL: none) */
    const char *host_context;
    int64_t status_interval_ms; /* how often status is compared and written, default 2000 */
    int64_t health_max_age_ms;  /* reuse the health callback's answer this long (0: ask
                                      for every decision) */
    bool count_from_json;       /* tests, benchmarks: count every pod from its JSON, also
                                   where the index's materialized rows would do */
} fl_quota_opts;
#define FL_QUOTA_OPTS_INIT                                                                         \
    {                                                                                              \
        .host_cluster = FL_QUOTA_HOST_CLUSTER, .stale_after_ms = 30000,                            \
        .reservation_ttl_ms = 120000, .threads = 4, .queue_max = 4096,                             \
        .recompute_interval_ms = 10000, .status_interval_ms = 2000                                 \
    }

/* Create the ledger and start its workers. Copies opts' strings; index
 * and the callbacks' ud must outlive it. Creates missing secrets in
 * secrets_path. 0, -EINVAL, -ENOMEM, -errno (secrets file); *out written
 * only on success. */
int fl_quota_new(const fl_quota_opts *opts, fl_quota **out, fl_err *err);
/* Stop the workers (pending reviews are answered 503) and free. NULL ok. */
void fl_quota_free(fl_quota *q);

/* Register POST /admission/clusters/ on s (before fl_server_start). */
int fl_quota_route(fl_quota *q, struct fl_server *s);

/* The webhook secret of each cluster, kept in a JSON file (0600): read it,
 * add a random 32-hex-digit secret for every missing cluster, write it back
 * atomically when anything was added. *secrets (new) maps cluster ->
 * secret. 0, -errno, FL_EPARSE (not such a file), -ENOMEM. Any thread; the
 * daemon and `flotilla certs webhook` share the file. */
int fl_quota_secrets(const char *path, const char *const *clusters, size_t n, json_t **secrets,
                     fl_err *err);

/* The ValidatingWebhookConfiguration (YAML) a member applies so that its
 * pods and counted objects are checked here: webhook quota.flotilla.io, URL
 * https://<url_host>/admission/clusters/<cluster>/<secret>/quota, caBundle
 * = ca_pem, failurePolicy Fail, sideEffects None, timeoutSeconds 5, the
 * system namespaces left out. Appends to out: 0, -ENOMEM, -E2BIG. */
int fl_quota_webhook_yaml(const char *cluster, const char *url_host, const char *secret,
                          const char *ca_pem, fl_buf *out);

/* The ledger's decision for one AdmissionReview request object (the
 * "request" member) from cluster: *response (new) is the AdmissionResponse
 * ({"uid","allowed","status":{..}}). A direct admission that is allowed
 * reserves its delta until the object shows in the index or the TTL passes
 * (not on dry runs). Returns 0, FL_EPARSE (malformed review: err says why,
 * nothing reserved), -ENOMEM. Any thread; decisions of one namespace are
 * serialized, those of different namespaces run in parallel. */
int fl_quota_review(fl_quota *q, const char *cluster, const json_t *request, json_t **response,
                    fl_err *err);

/* Scheduler reservations, per (namespace, workload uid, cluster):
 * reserve holds replicas x per_replica (a resource list like a binding's
 * resourceRequest) minus the workload's live pods there, checked against
 * the namespace's quotas (FL_EFORBIDDEN with Kubernetes' message in err
 * when it does not fit); it expires after the TTL unless committed.
 * release drops it (eviction from a failed cluster: the cluster's usage is
 * released). 0, FL_EFORBIDDEN, FL_ENOTFOUND (commit/release of nothing),
 * FL_EPARSE, -ENOMEM. Any thread. */
int fl_quota_reserve(fl_quota *q, const char *namespace_, const char *workload_uid,
                     const char *cluster, int64_t replicas, const json_t *per_replica, fl_err *err);
int fl_quota_commit(fl_quota *q, const char *namespace_, const char *workload_uid,
                    const char *cluster);
int fl_quota_release(fl_quota *q, const char *namespace_, const char *workload_uid,
                     const char *cluster);

/* Recompute one namespace's usage from the index now: *used (new) maps each
 * quota's name to its used (observed + open reservations). Reservations the
 * index now shows are closed; expired ones are drift (logged, counted).
 * A background thread does the same every recompute_interval_ms for every
 * namespace with open reservations. 0 or a negative code. */
int fl_quota_used(fl_quota *q, const char *namespace_, json_t **used, fl_err *err);

/* The full recomputation of one namespace's observed usage from the index
 * (every object parsed and counted), as the background thread makes it
 * once a minute per namespace: counted from an index snapshot without
 * holding the namespace's ledger, so admissions go on meanwhile, then
 * brought up to date from the change log and swapped in; a difference from
 * the incrementally followed usage is drift (logged, counted). Open
 * reservations are unaffected. 0 or a negative code. Any thread. */
int fl_quota_recount(fl_quota *q, const char *namespace_, fl_err *err);

/* The same on demand (POST /api/v1/quota/recount, `flotilla quota
 * recount`): namespace_, or (NULL) every namespace with a ledger (that
 * has been decided or recounted since the daemon started: no other has
 * incremental usage to drift), one after the other. *out (new) =
 * {"namespaces": n asked, "recounted": n whose count was swapped in (a
 * namespace without quotas, or with scheduler reservations, has no cache
 * to recount), "drift": n that drifted, "driftNamespaces": [..],
 * "durationMs"}; each drift is also logged and counted in
 * fl_quota_stats.drift. 0 or a negative code (the first failure). Any
 * thread; blocks for the counts (seconds for 100k-pod namespaces). */
int fl_quota_recount_all(fl_quota *q, const char *namespace_, json_t **out, fl_err *err);

/* Every KarmadaQuota and FederatedResourceQuota of namespace_ (NULL: of
 * every namespace the host has quota objects in) with its hard and
 * fleet-wide used: *out (new) = {"items":[{"namespace","name","kind",
 * "hard","used"[,"aggregatedStatus"]} or, for an invalid FRQ or
 * KarmadaQuota, {.., "errors":[Karmada's messages, or why the spec does not
 * parse]}]}. What GET /api/v1/quota and `flotilla quota` show, and what is
 * written back to the host's status (an invalid object gets a condition and
 * an event there).
 * 0 or a negative code. Any thread. */
int fl_quota_report(fl_quota *q, const char *namespace_, json_t **out, fl_err *err);

/* fl_quota_report for one caller: namespaces for which visible(ud, ns) is
 * false are left out (not even counted). visible NULL: every namespace.
 * Any thread; visible runs on the calling thread. */
typedef bool (*fl_quota_visible_fn)(void *ud, const char *namespace_);
int fl_quota_report_for(fl_quota *q, const char *namespace_, fl_quota_visible_fn visible, void *ud,
                        json_t **out, fl_err *err);

typedef struct fl_quota_stats {
    uint64_t allowed, denied, errors; /* AdmissionReviews answered */
    uint64_t reservations_open, reservations_expired;
    uint64_t recomputations, drift; /* drift: reservations that expired unseen, and
                                       full recounts that differed from the
                                       incrementally followed usage */
} fl_quota_stats;
void fl_quota_stats_get(fl_quota *q, fl_quota_stats *out);

/* The last 50 denied reviews, oldest first, as *out (new): [{"time" (Unix
 * ms), "cluster", "namespace", "resource", "name", "operation", "message"
 * (Kubernetes' wording)}]. 0 or -ENOMEM. Any thread. */
int fl_quota_denials(fl_quota *q, json_t **out);
/* Put items (a list as fl_quota_denials gives, e.g. kept from before a
 * restart) before the denials it holds, keeping the last 50. 0 or -ENOMEM. */
int fl_quota_denials_restore(fl_quota *q, const json_t *items);

#endif
