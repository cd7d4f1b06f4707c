/*
 * kube/resource.h: the Kubernetes API model. A registry of resource types
 * (group, version, plural, kind, scope, verbs, short names, categories,
 * subresources), the discovery documents kube-apiserver v1.26 serves for
 * it (/api, /apis, /apis/<g>, /api/v1, /apis/<g>/<v>, /version), the
 * OpenAPI v3 index and per group-version documents, and URL paths.
 *
 * The registry knows the built-in types the simulator serves, and learns
 * more at run time from CustomResourceDefinition objects or from a member's
 * discovery APIResourceList. It knows nothing of HTTP or the index.
 *
 * Threads: a registry is safe for concurrent use from any thread; every
 * call takes an internal read/write lock. Pointers returned by lookups are
 * BORROWED and stay valid until fl_kube_resources_free(): removing or
 * replacing a type unlinks it from lookups but keeps its memory (entries
 * are immutable once added), so a reader never sees a dangling pointer.
 * The price: retained entries count against FL_KUBE_RESOURCES_MAX, so a
 * process that re-registers changed CRDs thousands of times gets -E2BIG
 * and must build a fresh registry (re-adding an unchanged CRD or
 * discovery list retains nothing; changing a CRD retains its old entries).
 */
#ifndef FL_KUBE_RESOURCE_H
#define FL_KUBE_RESOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Caps: names longer than this, or more entries than this, are errors. */
#define FL_KUBE_RESOURCES_MAX 4096 /* live + retained entries */
#define FL_KUBE_NAME_MAX 253

/* A subresource ("pods/status"). group/version are "" unless they differ
 * from the parent's (deployments/scale is autoscaling/v1 Scale). */
typedef struct fl_kube_subresource {
    const char *name;         /* "status", "scale", "log", "binding", "eviction" */
    const char *kind;         /* "Pod", "Scale", "Binding", "Eviction" */
    const char *group;        /* "" = same as parent (discovery omits it) */
    const char *version;      /* "" = same as parent */
    const char *const *verbs; /* NULL-terminated */
} fl_kube_subresource;

/* Where a type came from. */
typedef enum {
    FL_KUBE_ORIGIN_BUILTIN = 0,
    FL_KUBE_ORIGIN_CRD,       /* fl_kube_resources_add_crd */
    FL_KUBE_ORIGIN_DISCOVERY, /* fl_kube_resources_add_discovery */
} fl_kube_origin;

/* One resource type at one group/version. Immutable once in a registry.
 * Invariants: group, version, resource, kind, singular are non-NULL
 * ("" group = the core group); the string arrays are NULL-terminated and
 * non-NULL (possibly empty). */
typedef struct fl_kube_resource {
    const char *group;     /* "" for core, "apps", "example.com" */
    const char *version;   /* "v1" */
    const char *resource;  /* plural, lower case: "deployments" */
    const char *singular;  /* "deployment" (lower-case kind if unset) */
    const char *kind;      /* "Deployment" */
    const char *list_kind; /* "DeploymentList" */
    bool namespaced;
    const char *const *verbs;       /* as discovery lists them ("create", ...) */
    const char *const *short_names; /* {"deploy", NULL} */
    const char *const *categories;  /* {"all", NULL} */
    const fl_kube_subresource *subresources;
    size_t n_subresources;
    const char *storage_version_hash; /* NULL = omitted from discovery */
    fl_kube_origin origin;
    /* discovery prints "singularName": "" for built-ins (v1.26) and the real
     * singular for CRDs; this is what discovery prints. */
    const char *discovery_singular;
    /* CRDs only (NULL otherwise): the version's additionalPrinterColumns
     * array (as in the CRD) and its openAPIV3Schema. Borrowed, immutable. */
    const json_t *printer_columns;
    const json_t *schema;
    bool served; /* CRD version served (always true if listed) */
    /* CRDs with a scale subresource: the version's subresources.scale object
     * {specReplicasPath, statusReplicasPath, labelSelectorPath}; NULL else
     * (built-ins use .spec.replicas / .status.replicas / .status.selector). */
    const json_t *crd_scale;
} fl_kube_resource;

typedef struct fl_kube_resources fl_kube_resources;

/* Filter for discovery/OpenAPI builders: return true to include r. */
typedef bool (*fl_kube_resource_filter)(const fl_kube_resource *r, void *ud);

/* ---- registry lifetime ------------------------------------------------ */

/* A new registry. with_builtins: preload the built-in types, with the
 * verbs, short names, categories, subresources and hashes kube-apiserver
 * v1.26 lists for them:
 *   v1: configmaps endpoints events namespaces(+finalize,status) nodes(+status)
 *       pods(+binding,eviction,log,status) resourcequotas(+status) secrets
 *       serviceaccounts services(+status)
 *   apps/v1: controllerrevisions daemonsets(+status) deployments(+scale,status)
 *       replicasets(+scale,status) statefulsets(+scale,status)
 *   events.k8s.io/v1 events; batch/v1 cronjobs(+status) jobs(+status);
 *   admissionregistration.k8s.io/v1 {mutating,validating}webhookconfigurations;
 *   apiextensions.k8s.io/v1 customresourcedefinitions(+status);
 *   coordination.k8s.io/v1 leases.
 * Returns 0 or -ENOMEM; *out written only on success. Any thread. */
int fl_kube_resources_new(bool with_builtins, fl_kube_resources **out);
/* Frees the registry and every entry ever returned by it. Accepts NULL. */
void fl_kube_resources_free(fl_kube_resources *reg);

/* A counter bumped by every change (add, remove, replace). Callers that
 * cache derived documents (discovery, OpenAPI, hashes) compare it. */
uint64_t fl_kube_resources_generation(const fl_kube_resources *reg);

/* ---- runtime extension ------------------------------------------------ */

/* Register the served versions of a CustomResourceDefinition object
 * (apiextensions.k8s.io/v1 JSON; borrowed, copied). Takes spec.group,
 * spec.names (plural, singular, kind, listKind, shortNames, categories),
 * spec.scope, and per served version the status/scale subresources,
 * additionalPrinterColumns and schema.openAPIV3Schema. Replaces any
 * previous registration of the same group+plural (all versions); re-adding
 * an unchanged definition (a CRD status update, a resync) is a no-op that
 * keeps the entries and the generation.
 * Returns 0, FL_EPARSE (err says which field is missing/wrong),
 * -EEXIST (the group+plural belongs to a built-in type), -E2BIG, -ENOMEM. */
int fl_kube_resources_add_crd(fl_kube_resources *reg, const json_t *crd, fl_err *err);

/* Remove what add_crd registered for this group+plural (all versions).
 * Returns 0 or FL_ENOTFOUND. Built-ins cannot be removed (FL_ENOTFOUND). */
int fl_kube_resources_remove_crd(fl_kube_resources *reg, const char *group, const char *plural);

/* Register every resource of a discovery APIResourceList document (the
 * body of /api/v1 or /apis/<g>/<v>; borrowed). "x/y" entries become
 * subresources of x. Types already known at that group/version are left
 * as they are (built-ins and CRDs win). Returns the number of types
 * added (>= 0), FL_EPARSE, -E2BIG or -ENOMEM. */
int fl_kube_resources_add_discovery(fl_kube_resources *reg, const json_t *list, fl_err *err);

/* ---- lookups (all return borrowed pointers or NULL) -------------------- */

/* Exact (group, version, plural). group "" = core. */
const fl_kube_resource *fl_kube_resources_find(const fl_kube_resources *reg, const char *group,
                                               const char *version, const char *resource);
/* (group, kind): the preferred (first registered) version. */
const fl_kube_resource *fl_kube_resources_find_kind(const fl_kube_resources *reg, const char *group,
                                                    const char *kind);
/* (apiVersion "apps/v1" or "v1", kind), e.g. from an object's fields. */
const fl_kube_resource *fl_kube_resources_find_gvk(const fl_kube_resources *reg,
                                                   const char *api_version, const char *kind);
/* kubectl-like resolution of what a user typed: "po", "pod", "pods",
 * "Pod", "deploy.apps", "deployments.apps", "deployments.v1.apps".
 * Matches plural, singular, short name or kind (case-insensitive);
 * when several groups match, the first registered wins (core first). */
const fl_kube_resource *fl_kube_resources_resolve(const fl_kube_resources *reg, const char *name);

/* Copy up to max live entries, in registration order (built-ins first, in
 * kube-apiserver's group order; then CRDs and discovered types as added),
 * into out, and return how many exist in total (may exceed max: call again
 * bigger). out may be NULL when max is 0. */
size_t fl_kube_resources_list(const fl_kube_resources *reg, const fl_kube_resource **out,
                              size_t max);

/* The subresource named sub ("status") of r, or NULL. */
const fl_kube_subresource *fl_kube_resource_sub(const fl_kube_resource *r, const char *sub);
/* True if r's verbs include verb. */
bool fl_kube_resource_has_verb(const fl_kube_resource *r, const char *verb);
/* "apps/v1" or "v1" into out (size >= 2*FL_KUBE_NAME_MAX). */
void fl_kube_resource_api_version(const fl_kube_resource *r, char *out, size_t size);

/* ---- URL paths -------------------------------------------------------- */

/* The URL path of a collection (name NULL) or object:
 *   /api/v1/pods                       (namespaced, ns NULL: all namespaces)
 *   /api/v1/namespaces/ns/pods[/name]
 *   /apis/apps/v1/namespaces/ns/deployments/web
 *   /api/v1/nodes/node-1
 * subresource (NULL or "status") is appended after the name. Cluster-
 * scoped types ignore ns. Returns 0, -EINVAL (subresource without name),
 * -E2BIG (out too small). out is written only on success. */
int fl_kube_resource_path(const fl_kube_resource *r, const char *ns, const char *name,
                          const char *subresource, char *out, size_t size);

/* ---- discovery documents (kube-apiserver v1.26, 01-discovery/) ---------
 * All builders return 0 and a new reference in *out, FL_ENOTFOUND when
 * nothing matches (the server answers 404 then), or -ENOMEM. filter may be
 * NULL (everything). Groups appear when at least one of their resources
 * passes the filter. Call from any thread. */

/* /api: {"kind":"APIVersions","versions":["v1"],
 *  "serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":addr}]} */
int fl_kube_discovery_api(const char *server_address, json_t **out);
/* /apis: APIGroupList, groups in registration order, each with versions
 * and preferredVersion (the first registered version). */
int fl_kube_discovery_apis(const fl_kube_resources *reg, fl_kube_resource_filter filter, void *ud,
                           json_t **out);
/* /apis/<group>: APIGroup. */
int fl_kube_discovery_group(const fl_kube_resources *reg, const char *group,
                            fl_kube_resource_filter filter, void *ud, json_t **out);
/* /api/v1 (group "") or /apis/<g>/<v>: APIResourceList, with
 * subresources as "pods/status" entries as the real server lists them.
 * The core list has no "apiVersion" member (as in v1.26). */
int fl_kube_discovery_resources(const fl_kube_resources *reg, const char *group,
                                const char *version, fl_kube_resource_filter filter, void *ud,
                                json_t **out);

/* /version: version.Info. Fields NULL take the v1.26.0 golden values. */
typedef struct fl_kube_version_info {
    const char *git_version; /* "v1.26.0"; major/minor derived from it */
    const char *git_commit;  /* "8f94681cd294aa8cfd3407b8191f6c70214973a4" */
    const char *build_date;  /* "1970-01-01T00:00:00Z" (as the golden build) */
    const char *go_version;  /* "go1.19.8" */
    const char *platform;    /* "linux/amd64" */
} fl_kube_version_info;
#define FL_KUBE_VERSION_INFO_INIT                                                                  \
    {                                                                                              \
        0                                                                                          \
    }
int fl_kube_discovery_version(const fl_kube_version_info *info, json_t **out);

/* ---- OpenAPI v3 (02-openapi/) -------------------------------------------
 * What callers (the HTTP server) should do: serve the index at /openapi/v3
 * and each doc at /openapi/v3/<api/v1|apis/g/v>. With ?hash=H equal to the
 * doc's hash: 200 with Etag "\"H\"", Cache-Control public, immutable and a
 * 1-year Expires; a different H: 301 to the serverRelativeURL with the
 * current hash (text/html). Without hash: Cache-Control no-cache, private.
 * If-None-Match equal to the Etag: 304. Content-Type text/plain;
 * charset=utf-8. An unknown GV: 404 with an empty body. Documents change
 * only when fl_kube_resources_generation() changes: cache them with it. */

/* The per group-version document for (group, version): openapi 3.0.0,
 * info, paths for every resource's collection/item/subresource with
 * operations carrying x-kubernetes-action, x-kubernetes-group-version-kind
 * and the fieldValidation parameter, and components.schemas (compact
 * built-in schemas with the strategic-merge patch keys kubectl needs;
 * CRDs use their openAPIV3Schema, title "Kubernetes CRD Swagger").
 * Returns 0, FL_ENOTFOUND, -ENOMEM. */
int fl_kube_openapi_doc(const fl_kube_resources *reg, const char *group, const char *version,
                        fl_kube_resource_filter filter, void *ud, json_t **out);
/* Whether the dotted field path segs[0..n) exists in r's schema (list[i]:
 * segs[i] is a list and the path goes on in its items). Types without a
 * known schema and open objects (preserve-unknown-fields, maps) accept any
 * path below them. Any thread; the built-in table is parsed once. */
bool fl_kube_openapi_has_field(const fl_kube_resource *r, const char *const *segs, const bool *list,
                               size_t n);
/* Upper-case hex SHA-512 of the doc's compact encoding (128 hex chars
 * + NUL), like upstream; stable for equal documents. Returns 0 or -ENOMEM. */
int fl_kube_openapi_hash(const json_t *doc, char out[129]);
/* /openapi/v3: {"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=H"},
 * "apis/apps/v1":{...},...}} (builds every doc to hash it: cache it).
 * Returns 0 or -ENOMEM. */
int fl_kube_openapi_index(const fl_kube_resources *reg, fl_kube_resource_filter filter, void *ud,
                          json_t **out);

/* ---- OpenAPI v2 ----------------------------------------------------------
 * /openapi/v2 as JSON (Accept: application/json), what older kubectl
 * (`explain --output plaintext-openapiv2`) and other Swagger 2.0 clients
 * read: a document with every served type's schema under definitions,
 * made from the v3 documents. Protobuf is not served (406). */
/* An empty v2 document (swagger 2.0, info, paths, definitions); NULL on
 * ENOMEM. */
json_t *fl_kube_openapi_v2_new(void);
/* Add the schemas of v3doc (an fl_kube_openapi_doc) to v2's definitions in
 * v2's terms (#/definitions/ refs, no oneOf/anyOf). 0 or -ENOMEM. */
int fl_kube_openapi_v2_merge(json_t *v2, const json_t *v3doc);

#endif
