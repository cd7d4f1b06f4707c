/*
 * scheduler/sched_int.h: what the scheduler's files share and no other
 * module may include. Layers, bottom up: webster.c (apportionment),
 * assign.c and select.c (Karmada's division and selection over typed
 * clusters), capacity.c (available replicas from nodes and pods), place.c
 * (policies, filters, the whole decision), ops.c (the JSON requests of
 * `flotilla debug place`).
 */
#ifndef FL_SCHED_INT_H
#define FL_SCHED_INT_H

#include "scheduler/scheduler.h"

/* Names descending on Webster ties (uid non-empty and fnv32a(uid) odd). */
bool fl_sched_tie_desc(const char *uid);

/* Stable sort of idx[0..n) by key descending (ties keep their order). */
void fl_sched_sort_desc(size_t *idx, const int64_t *key, size_t n);

/* capacity.c: true when every NoSchedule/NoExecute taint of taints[] is
 * tolerated; else false with *bad (if bad) the first untolerated taint. */
bool fl_sched_tolerates(const json_t *tolerations, const json_t *taints, const json_t **bad);
/* The same; noexec_only checks NoExecute taints alone (a cluster that
 * already holds the workload passes NoSchedule). */
bool fl_sched_tolerates_effects(const json_t *tolerations, const json_t *taints, bool noexec_only,
                                const json_t **bad);
/* Additional replicas of pod_spec that fit on nodes[] given pods[]. */
int fl_sched_capacity_json(const json_t *pod_spec, const json_t *nodes, const json_t *pods,
                           int64_t *out);

/* A nodeSelectorRequirement (In, NotIn, Exists, DoesNotExist, Gt, Lt)
 * against the value of r's key (NULL: the key is absent). */
bool fl_sched_req_matches_value(const json_t *r, const char *have);
/* The pod spec's nodeSelector and required node affinity against labels. */
bool fl_sched_node_claim_matches(const json_t *pod_spec, const json_t *labels);
/* The same with labels read through get (NULL: no such label). */
typedef const char *(*fl_sched_label_fn)(const void *ud, const char *key);
bool fl_sched_node_claim_matches_fn(const json_t *pod_spec, fl_sched_label_fn get, const void *ud);
/* A quantity (string, or integer units) in milli-units; 0 when invalid. */
int64_t fl_sched_milli(const json_t *v);
/* The per-replica requests of a pod spec as a ResourceList (new object). */
json_t *fl_sched_requests_json(const json_t *pod_spec);

/* labelscan.c: metadata.labels of an object's stored JSON, packed as
 * "k\0v\0k\0v\0\0" (caller frees), or NULL when it has none or the JSON is
 * not what the index stores. */
char *fl_sched_scan_labels(const char *json, size_t len);

/* ops.c: JSON helpers shared with place.c. */
bool fl_sched_json_int(const json_t *obj, const char *key, int64_t dflt, int64_t *out, fl_err *err);
const char *fl_sched_json_str(const json_t *obj, const char *key);
json_t *fl_sched_error(const char *msg, const char *reason);
json_t *fl_sched_targets_json(const fl_sched_target *t, size_t n);
fl_sched_spread *fl_sched_parse_spread(const json_t *a, size_t *n, fl_err *err);
/* A cluster entry's "zones" list (Karmada's cluster.spec.zones) joined as
 * "a,b" into out (when it fits size); returns the bytes it takes with its
 * NUL, 0 when the entry has no zones list (its "zone" is used). Division
 * and selection read a cluster's zone field as such a list. */
size_t fl_sched_zone_key(const json_t *cl, char *out, size_t size);

/* place.c's matchers: a resourceSelector's implicit priority (3 name, 2
 * labelSelector, 1 kind only, 0 miss); the policy of policies (array) that
 * claims tmpl (borrowed from policies) or NULL; a ClusterAffinity against a
 * cluster entry (NULL affinity matches every cluster). */
int fl_sched_selector_match(const json_t *rs, const json_t *tmpl);
const json_t *fl_sched_choose_policy(const json_t *policies, const json_t *tmpl);
bool fl_sched_affinity_matches(const json_t *aff, const json_t *cl);

/* override.c: apply the (Cluster)OverridePolicies of policies (array) that
 * select tmpl to obj (the copy for cluster entry cl), in Karmada's order.
 * *applied (new, may be NULL) lists "kind/ns/name" of the policies used.
 * 0, FL_EPARSE (a bad overrider: err says which), -ENOMEM. */
int fl_sched_overrides_apply(const json_t *policies, const json_t *tmpl, const json_t *cl,
                             json_t *obj, json_t **applied, fl_err *err);

/* failover.c: Karmada's failover rules over JSON.
 * The health of a member copy (Healthy, Unhealthy, Unknown) by the default
 * interpreter's rules: workloads need updated and available (ready)
 * replicas at spec.replicas for the observed generation and no unavailable
 * replicas (a rollout stuck on new pods that cannot run); a Job is
 * Unhealthy once Failed. */
const char *fl_sched_copy_health(const json_t *obj);
/* The gracefulEvictionTasks entry for evicting cluster (replicas it held)
 * under policy's spec.failover.cluster (taints) or .application purge mode:
 * Gracefully (with the policy's gracePeriodSeconds), Never
 * (suppressDeletion), or NULL for Directly (removed at once). */
json_t *fl_sched_evict_task(const json_t *policy, const char *cluster, int64_t replicas,
                            bool application, const char *message, const char *now_rfc3339);
/* Whether a task has ended: suppressDeletion false (true: never), the
 * grace period (its own or default_grace_s) has passed since its
 * creationTimestamp, or the new placement is healthy. */
bool fl_sched_task_done(const json_t *task, bool placement_healthy, int64_t default_grace_s,
                        int64_t now_s);
/* A Kubernetes JSONPath template ("{.a.b}", "{.a[0]['b.c']}", literal text
 * between expressions) over root, printed as kubectl's jsonpath does
 * (strings bare, other values as compact JSON) into *out (caller frees).
 * 0; FL_EPARSE (not the supported subset), FL_ENOTFOUND (a missing key:
 * Karmada disallows missing keys), FL_ETOOBIG; err says which. */
int fl_sched_jsonpath(const json_t *root, const char *tmpl, char **out, fl_err *err);
/* Karmada's statePreservation: the labels (aliasLabelName -> the value of
 * jsonPath over status, the evicted cluster's copy's status) that the
 * policy's spec.failover.application (or .cluster) rules preserve, as a new
 * object; NULL when the policy has no rules, or when a rule fails (err). */
json_t *fl_sched_preserve_state(const json_t *policy, bool application, const json_t *status,
                                fl_err *err);
/* spec.failover.application.decisionConditions.tolerationSeconds (300
 * when unset), or -1 when the policy has no application failover. */
int64_t fl_sched_app_toleration_s(const json_t *policy);

#endif
