/*
 * kube/patch.h: the patch types kube-apiserver accepts on PATCH, applied
 * exactly as it applies them:
 *
 *   application/json-patch+json           RFC 6902 (as evanphx/json-patch v4)
 *   application/merge-patch+json          RFC 7386 (as evanphx/json-patch)
 *   application/strategic-merge-patch+json
 *                                         k8s.io/apimachinery strategicpatch,
 *                                         with the merge keys and strategies of
 *                                         the built-in types (a compiled table)
 *
 * Server-side apply (application/apply-patch+yaml) is recognised by
 * fl_patch_type_parse so the caller can route it, but is not applied here.
 *
 * Every function is pure: the original is never modified, results are new
 * values owned by the caller. Threads: any (no shared mutable state; the
 * schema tables are const).
 *
 * Errors map onto the Status kube-apiserver answers (fl_patch_status builds it):
 *   FL_EPARSE        400 BadRequest: malformed patch document (Go's own
 *                    message: "error decoding patch: unexpected end of JSON
 *                    input"), a badly formed $retainKeys / $setElementOrder /
 *                    $deleteFromPrimitiveList directive, merge patch null
 *   -EINVAL          422 Invalid: a JSON patch op failed (test failed, path
 *                    missing, index out of range) or a strategic patch on
 *                    a list of lists;
 *                    err->msg holds upstream's detail (e.g. evanphx's
 *                    "testing value /spec/replicas failed: test failed"), the
 *                    Status message itself is the generic one
 *   FL_EUNSUPPORTED  415 UnsupportedMediaType: unknown Content-Type, or a
 *                    strategic merge patch on a kind without a schema
 *                    (custom resources)
 *   -E2BIG           413 RequestEntityTooLarge: more than
 *                    FL_PATCH_MAX_JSON_OPS operations in a JSON patch
 *   -EPROTO          500 InternalError: a strategic merge patch that
 *                    upstream rejects with a plain error (missing merge key,
 *                    "$patch: merge" in a list, $setElementOrder not matching
 *                    the patch list, mixed list element types); err->msg is
 *                    upstream's text, which kube-apiserver shows as message
 *   -ENOMEM
 *
 * Known differences from kube-apiserver (all on inputs kubectl never sends):
 * JSON patch "test" compares scalars by value (Go compares raw bytes, so
 * 1.50 vs 1.5, or an escaped vs a plain "A", differ there); "copy" may add
 * at most 2^20 JSON nodes per patch (422 past that); integers beyond int64
 * and invalid UTF-8 are rejected as malformed (400) where Go accepts them;
 * fieldValidation's strict-decoding findings (unknown or duplicate members
 * in the patch) are not reported; strategic merge treats fields it has no
 * metadata for as plain (maps merge, lists replace) where upstream fails on
 * fields its Go struct lacks; and the result is not decoded into a typed
 * object, so unknown fields stay (directive keys and nulls inside values
 * copied whole from a strategic patch are dropped, as that decoding would).
 */
#ifndef FL_KUBE_PATCH_H
#define FL_KUBE_PATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

/* kube-apiserver's maxJSONPatchOperations. */
#define FL_PATCH_MAX_JSON_OPS 10000

typedef enum fl_patch_type {
    FL_PATCH_JSON = 1,  /* application/json-patch+json */
    FL_PATCH_MERGE,     /* application/merge-patch+json */
    FL_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
    FL_PATCH_APPLY,     /* application/apply-patch+yaml (not applied here) */
} fl_patch_type;

/* Map a request Content-Type to a patch type as kube-apiserver does: the
 * value is cut at its first ';' (parameters such as charset are ignored)
 * and compared exactly. Returns 0 and writes *out, or FL_EUNSUPPORTED
 * (answer 415 "415: Unsupported Media Type") for anything else, including
 * plain application/json and NULL. */
int fl_patch_type_parse(const char *content_type, fl_patch_type *out);

/* The media type string of t ("application/merge-patch+json"); "" if t is
 * not a known type. Static storage. */
const char *fl_patch_type_media(fl_patch_type t);

/* Strategic merge patch metadata of one built-in kind: for each list field
 * (by path), its patchStrategy (merge / replace / retainKeys) and
 * patchMergeKey, as the k8s.io/api struct tags say. Opaque, static, const. */
typedef struct fl_patch_schema fl_patch_schema;

/* The schema for a built-in kind, e.g. ("", "Pod"), ("apps", "Deployment"),
 * ("autoscaling", "Scale"). group is the API group without version ("" for
 * core). Returns NULL for kinds we have no schema for (custom resources):
 * kube-apiserver refuses strategic merge patches on those with 415, and so
 * does fl_patch_apply when given a NULL schema. Covers core Pod, PodTemplate,
 * ReplicationController, Service, Node, Namespace, ConfigMap, Secret,
 * Endpoints, Event, ServiceAccount, PersistentVolume(Claim), LimitRange,
 * ResourceQuota, ComponentStatus; apps Deployment, ReplicaSet, StatefulSet,
 * DaemonSet, ControllerRevision, Scale; batch Job, CronJob; autoscaling
 * Scale (plus upstream's test type strategicpatch.test/MergeItem). The
 * table is generated from kube-apiserver v1.26's OpenAPI by
 * tools/gen_patch_schema.py. Borrowed, static. */
const fl_patch_schema *fl_patch_schema_for(const char *group, const char *kind);

/* Apply patch[0..len) of the given type to original. *out receives a new
 * value (the patched document), written only on success; original is not
 * modified. schema is used only by FL_PATCH_STRATEGIC and must be non-NULL
 * for it (NULL -> FL_EUNSUPPORTED with kube-apiserver's 415 message).
 * FL_PATCH_APPLY -> FL_EUNSUPPORTED. Return codes as at the top of this
 * file; err (may be NULL) gets the message. */
int fl_patch_apply(fl_patch_type type, const json_t *original, const char *patch, size_t len,
                   const fl_patch_schema *schema, json_t **out, fl_err *err);

/* RFC 6902 on an already parsed patch (an array of operations), for
 * Karmada's OverridePolicy. Same semantics and codes as fl_patch_apply with
 * FL_PATCH_JSON (a malformed operation is FL_EPARSE). */
int fl_patch_json_apply(const json_t *original, const json_t *ops, json_t **out, fl_err *err);

/* RFC 7386 on an already parsed patch. Never fails except -ENOMEM. */
int fl_patch_merge_apply(const json_t *original, const json_t *patch, json_t **out, fl_err *err);

/* A two-way JSON merge patch that turns `from` into `to`: an object holding
 * changed members, null for removed ones, recursing into objects; arrays and
 * scalars are replaced whole. Equal documents give {} (kubectl's "no
 * change"). Both must be objects, else -EINVAL. *out is new. */
int fl_patch_merge_diff(const json_t *from, const json_t *to, json_t **out, fl_err *err);

/* The Status object kube-apiserver sends for a failure rc/err returned by
 * the functions above (a new reference; NULL only on ENOMEM):
 *   FL_EPARSE -> 400 BadRequest with err->msg as message
 *   -EINVAL   -> 422 Invalid, "the server rejected our request due to an
 *                error in our request", details {}
 *   FL_EUNSUPPORTED -> 415 UnsupportedMediaType with err->msg (details {}
 *                for the terse "415: Unsupported Media Type")
 *   -E2BIG    -> 413 RequestEntityTooLarge with err->msg
 *   other     -> 500 InternalError with err->msg (err may be NULL) */
json_t *fl_patch_status(int rc, const fl_err *err);

#endif
