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
 * Threads: every function here is pure (touches only its arguments) and may
 * be called from any thread. Not here: the ledger, the admission endpoint
 * and the host reader (see quota/README.md for what is not done yet).
 */
#ifndef FL_QUOTA_H
#define FL_QUOTA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

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

#endif
