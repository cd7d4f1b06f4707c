/*
 * kube/openapi.c: OpenAPI v3 documents for the types of a resource
 * registry, the way kube-apiserver v1.26 serves /openapi/v3 and
 * /openapi/v3/<api/v1|apis/g/v> (golden 02-openapi/), in compact form:
 * every path and operation kubectl looks at (x-kubernetes-action,
 * x-kubernetes-group-version-kind, the fieldValidation parameter), and
 * schemas that carry what kubectl needs for create/apply/patch/explain
 * (GVK extensions, strategic-merge patch keys and strategies, list types).
 *
 * Built-in schemas are the generated table of kube/openapi_schemas.c:
 * upstream's v1.26 schemas for the built-in kinds with their descriptions,
 * plus compact hand-written ones where the golden set has no document. CRD
 * versions use their openAPIV3Schema. Types learnt from discovery get a
 * permissive schema. Pure functions over the registry; any thread.
 */
#include "kube/resource.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/json.h"
#include "kube/openapi_schemas.h"

#define REF_PREFIX "#/components/schemas/"
#define META "io.k8s.apimachinery.pkg.apis.meta.v1."
#define NAME_MAX_LEN 512

/* ---------------------------------------------------------------- small JSON helpers */

static bool set(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0;
}

static bool push(json_t *a, json_t *v)
{
    return v && json_array_append_new(a, v) == 0;
}

static json_t *ref_to(const char *schema)
{
    char r[NAME_MAX_LEN + 32];
    snprintf(r, sizeof r, REF_PREFIX "%s", schema);
    return json_pack("{s:s}", "$ref", r);
}

/* ---------------------------------------------------------------- names */

/* "example.com" -> "com.example" (upstream's CRD schema prefix). */
static void reverse_group(const char *g, char *out, size_t size)
{
    size_t n = strlen(g), o = 0;
    out[0] = 0;
    while (n > 0) {
        size_t start = n;
        while (start > 0 && g[start - 1] != '.')
            start--;
        int w = snprintf(out + o, size - o, "%s%.*s", o ? "." : "", (int)(n - start), g + start);
        if (w < 0 || (size_t)w >= size - o)
            return;
        o += (size_t)w;
        n = start ? start - 1 : 0;
    }
}

/* The components.schemas name of kind in group/version. */
static void schema_name(const char *group, const char *version, const char *kind, bool builtin,
                        char *out, size_t size)
{
    static const struct {
        const char *group, *prefix;
    } known[] = {
        {"", "io.k8s.api.core"},
        {"apps", "io.k8s.api.apps"},
        {"batch", "io.k8s.api.batch"},
        {"autoscaling", "io.k8s.api.autoscaling"},
        {"policy", "io.k8s.api.policy"},
        {"admissionregistration.k8s.io", "io.k8s.api.admissionregistration"},
        {"coordination.k8s.io", "io.k8s.api.coordination"},
        {"events.k8s.io", "io.k8s.api.events"},
        {"apiextensions.k8s.io", "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"},
    };
    char rev[NAME_MAX_LEN];
    for (size_t i = 0; builtin && i < FL_ARRAY_LEN(known); i++) {
        if (strcmp(known[i].group, group) == 0) {
            snprintf(out, size, "%s.%s.%s", known[i].prefix, version, kind);
            return;
        }
    }
    reverse_group(group, rev, sizeof rev);
    snprintf(out, size, "%s.%s.%s", rev, version, kind);
}

static void res_schema_name(const fl_kube_resource *r, const char *kind, char *out, size_t size)
{
    schema_name(r->group, r->version, kind, r->origin != FL_KUBE_ORIGIN_CRD, out, size);
}

/* "admissionregistration.k8s.io" -> "Admissionregistration", "example.com" ->
 * "ExampleCom", "" -> "Core" (operationIds); lower-camel for tags. */
static void group_camel(const char *g, bool upper_first, char *out, size_t size)
{
    size_t o = 0;
    bool up = upper_first;
    if (!g[0])
        g = upper_first ? "Core" : "core";
    const char *end = strstr(g, ".k8s.io");
    size_t n = end ? (size_t)(end - g) : strlen(g);
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        if (g[i] == '.' || g[i] == '-') {
            up = true;
            continue;
        }
        out[o++] = up ? (char)toupper((unsigned char)g[i]) : g[i];
        up = false;
    }
    out[o] = 0;
}

/* ---------------------------------------------------------------- parameters */

typedef enum { P_STRING, P_INT, P_BOOL } ptype;

typedef struct param {
    const char *name;
    ptype type;
    const char *desc;
} param;

static const param Q_DRYRUN = {
    "dryRun", P_STRING,
    "When present, indicates that modifications should not be persisted. Valid values are: - All: "
    "all dry run stages will be processed"};
static const param Q_MANAGER = {
    "fieldManager", P_STRING,
    "fieldManager is a name associated with the actor or entity that is making these changes."};
static const param Q_VALIDATION = {
    "fieldValidation", P_STRING,
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict"};
static const param Q_FORCE = {"force", P_BOOL,
                              "Force is going to \"force\" Apply requests. It means user will "
                              "re-acquire conflicting fields owned by other people."};
static const param Q_BOOKMARKS = {
    "allowWatchBookmarks", P_BOOL,
    "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."};
static const param Q_CONTINUE = {
    "continue", P_STRING,
    "The continue option should be set when retrieving more results from the server."};
static const param Q_FIELDSEL = {
    "fieldSelector", P_STRING,
    "A selector to restrict the list of returned objects by their fields. Defaults to everything."};
static const param Q_LABELSEL = {
    "labelSelector", P_STRING,
    "A selector to restrict the list of returned objects by their labels. Defaults to everything."};
static const param Q_LIMIT = {"limit", P_INT,
                              "limit is a maximum number of responses to return for a list call."};
static const param Q_RV = {
    "resourceVersion", P_STRING,
    "resourceVersion sets a constraint on what resource versions a request may be served from."};
static const param Q_RVMATCH = {
    "resourceVersionMatch", P_STRING,
    "resourceVersionMatch determines how resourceVersion is applied to list calls."};
static const param Q_TIMEOUT = {"timeoutSeconds", P_INT, "Timeout for the list/watch call."};
static const param Q_WATCH = {"watch", P_BOOL,
                              "Watch for changes to the described resources and return them as a "
                              "stream of add, update, and remove notifications."};
static const param Q_GRACE = {"gracePeriodSeconds", P_INT,
                              "The duration in seconds before the object should be deleted."};
static const param Q_ORPHAN = {"orphanDependents", P_BOOL,
                               "Deprecated: please use the PropagationPolicy."};
static const param Q_PROPAGATION = {"propagationPolicy", P_STRING,
                                    "Whether and how garbage collection will be performed: "
                                    "'Orphan', 'Background' or 'Foreground'."};

static const param *const PARAMS_LIST[] = {&Q_BOOKMARKS, &Q_CONTINUE, &Q_FIELDSEL, &Q_LABELSEL,
                                           &Q_LIMIT,     &Q_RV,       &Q_RVMATCH,  &Q_TIMEOUT,
                                           &Q_WATCH,     NULL};
static const param *const PARAMS_WRITE[] = {&Q_DRYRUN, &Q_MANAGER, &Q_VALIDATION, NULL};
static const param *const PARAMS_PATCH[] = {&Q_DRYRUN, &Q_MANAGER, &Q_VALIDATION, &Q_FORCE, NULL};
static const param *const PARAMS_DELETE[] = {&Q_DRYRUN, &Q_GRACE, &Q_ORPHAN, &Q_PROPAGATION, NULL};
static const param *const PARAMS_DELETE_COLL[] = {
    &Q_CONTINUE, &Q_DRYRUN,      &Q_FIELDSEL, &Q_GRACE,   &Q_LABELSEL, &Q_LIMIT,
    &Q_ORPHAN,   &Q_PROPAGATION, &Q_RV,       &Q_RVMATCH, &Q_TIMEOUT,  NULL};

static json_t *param_json(const char *name, const char *in, ptype t, const char *desc,
                          bool required)
{
    const char *type = t == P_INT ? "integer" : t == P_BOOL ? "boolean" : "string";
    json_t *p = json_pack("{s:s, s:s, s:s}", "name", name, "in", in, "description", desc);
    if (p && required && !set(p, "required", json_true())) {
        json_decref(p);
        return NULL;
    }
    if (p && !set(p, "schema", json_pack("{s:s, s:b}", "type", type, "uniqueItems", 1))) {
        json_decref(p);
        return NULL;
    }
    return p;
}

static json_t *query_params(const param *const *list)
{
    json_t *a = json_array();
    for (size_t i = 0; a && list[i]; i++)
        if (!push(a, param_json(list[i]->name, "query", list[i]->type, list[i]->desc, false))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Path-level parameters: name, namespace (as applicable) and pretty. */
static json_t *path_params(const char *kind, bool with_name, bool with_ns)
{
    char d[NAME_MAX_LEN];
    json_t *a = json_array();
    bool ok = a != NULL;
    snprintf(d, sizeof d, "name of the %s", kind);
    if (ok && with_name)
        ok = push(a, param_json("name", "path", P_STRING, d, true));
    if (ok && with_ns)
        ok =
            push(a, param_json("namespace", "path", P_STRING,
                               "object name and auth scope, such as for teams and projects", true));
    ok = ok && push(a, param_json("pretty", "query", P_STRING,
                                  "If 'true', then the output is pretty printed.", false));
    if (!ok) {
        json_decref(a);
        return NULL;
    }
    return a;
}

/* ---------------------------------------------------------------- operations */

/* What an operation needs to know about its resource. */
typedef struct opctx {
    const fl_kube_resource *r;
    const char *tag;      /* "apps_v1" */
    const char *gv_camel; /* "AppsV1" */
    bool builtin;         /* protobuf and strategic merge patch offered */
} opctx;

static json_t *content(const opctx *c, const char *schema, bool watch)
{
    json_t *o = json_object();
    bool ok = o && set(o, "application/json", json_pack("{s:o}", "schema", ref_to(schema)));
    if (ok && watch && c->builtin)
        ok = set(o, "application/json;stream=watch", json_pack("{s:o}", "schema", ref_to(schema)));
    if (ok && c->builtin)
        ok = set(o, "application/vnd.kubernetes.protobuf",
                 json_pack("{s:o}", "schema", ref_to(schema)));
    if (ok && c->builtin && watch)
        ok = set(o, "application/vnd.kubernetes.protobuf;stream=watch",
                 json_pack("{s:o}", "schema", ref_to(schema)));
    ok = ok && set(o, "application/yaml", json_pack("{s:o}", "schema", ref_to(schema)));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* responses: the given codes ("200", "201", "202") with schema, plus 401. */
static json_t *responses(const opctx *c, const char *schema, const char *const *codes, bool watch)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    for (size_t i = 0; ok && codes[i]; i++) {
        const char *d = strcmp(codes[i], "201") == 0   ? "Created"
                        : strcmp(codes[i], "202") == 0 ? "Accepted"
                                                       : "OK";
        ok = set(o, codes[i],
                 json_pack("{s:s, s:o}", "description", d, "content", content(c, schema, watch)));
    }
    ok = ok && set(o, "401", json_pack("{s:s}", "description", "Unauthorized"));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A request body: any content type for built-ins, JSON and YAML for custom resources. */
static json_t *body_of(const opctx *c, const char *schema)
{
    if (c->builtin)
        return json_pack("{s:{s:{s:o}}}", "content", "*/*", "schema", ref_to(schema));
    return json_pack("{s:{s:{s:o}, s:{s:o}}}", "content", "application/json", "schema",
                     ref_to(schema), "application/yaml", "schema", ref_to(schema));
}

static json_t *patch_body(const opctx *c)
{
    static const char *types[] = {"application/apply-patch+yaml", "application/json-patch+json",
                                  "application/merge-patch+json",
                                  "application/strategic-merge-patch+json"};
    json_t *ct = json_object();
    bool ok = ct != NULL;
    for (size_t i = 0; ok && i < (c->builtin ? 4u : 3u); i++)
        ok = set(ct, types[i], json_pack("{s:o}", "schema", ref_to(META "Patch")));
    if (!ok) {
        json_decref(ct);
        return NULL;
    }
    return json_pack("{s:o}", "content", ct);
}

/* One operation. gvk_kind/gvk_group/gvk_version name the object it acts on. */
typedef struct opdesc {
    const char *action;         /* x-kubernetes-action */
    const char *verb;           /* operationId verb: list, create, read, ... */
    const char *what;           /* description */
    const param *const *params; /* NULL: none */
    json_t *request_body;       /* stolen; NULL: none */
    json_t *responses;          /* stolen */
} opdesc;

static json_t *operation(const opctx *c, const opdesc *d, const char *op_suffix, const char *group,
                         const char *version, const char *kind)
{
    char id[NAME_MAX_LEN];
    json_t *o;
    bool ok;
    snprintf(id, sizeof id, "%s%s%s", d->verb, c->gv_camel, op_suffix);
    o = json_pack("{s:[s], s:s, s:s}", "tags", c->tag, "description", d->what, "operationId", id);
    ok = o != NULL;
    if (ok && d->params)
        ok = set(o, "parameters", query_params(d->params));
    if (ok && d->request_body)
        ok = set(o, "requestBody", json_incref(d->request_body));
    ok = ok && set(o, "responses", json_incref(d->responses));
    ok = ok && set(o, "x-kubernetes-action", json_string(d->action));
    ok = ok && set(o, "x-kubernetes-group-version-kind",
                   json_pack("{s:s, s:s, s:s}", "group", group, "version", version, "kind", kind));
    json_decref(d->request_body);
    json_decref(d->responses);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *const R200[] = {"200", NULL};
static const char *const R200_201[] = {"200", "201", NULL};
static const char *const R200_201_202[] = {"200", "201", "202", NULL};
static const char *const R200_202[] = {"200", "202", NULL};

static bool has(const fl_kube_resource *r, const char *verb)
{
    return fl_kube_resource_has_verb(r, verb);
}

/* Path-level parameters of a cross-namespace list: the list parameters
 * and pretty, sorted by name as upstream writes them. */
static json_t *all_namespaces_params(void)
{
    static const param pretty = {"pretty", P_STRING,
                                 "If 'true', then the output is pretty printed."};
    static const param *const list[] = {&Q_BOOKMARKS, &Q_CONTINUE, &Q_FIELDSEL, &Q_LABELSEL,
                                        &Q_LIMIT,     &pretty,     &Q_RV,       &Q_RVMATCH,
                                        &Q_TIMEOUT,   &Q_WATCH,    NULL};
    return query_params(list);
}

/* "<base>" collection path: list, create, deletecollection. */
static json_t *collection_item(const opctx *c, bool all_namespaces)
{
    const fl_kube_resource *r = c->r;
    char sch[NAME_MAX_LEN], list[NAME_MAX_LEN], suffix[NAME_MAX_LEN], what[NAME_MAX_LEN];
    json_t *p = json_object();
    bool ok = p != NULL;
    const char *ns = r->namespaced && !all_namespaces ? "Namespaced" : "";
    res_schema_name(r, r->kind, sch, sizeof sch);
    res_schema_name(r, r->list_kind, list, sizeof list);
    if (ok && has(r, "list")) {
        snprintf(suffix, sizeof suffix, "%s%s%s", ns, r->kind,
                 all_namespaces ? "ForAllNamespaces" : "");
        snprintf(what, sizeof what, "list or watch objects of kind %s", r->kind);
        /* the all-namespaces path carries the list parameters at path level */
        opdesc d = {"list", "list",
                    what,   all_namespaces ? NULL : PARAMS_LIST,
                    NULL,   responses(c, list, R200, true)};
        ok = set(p, "get", operation(c, &d, suffix, r->group, r->version, r->kind));
    }
    if (ok && !all_namespaces && has(r, "create")) {
        snprintf(suffix, sizeof suffix, "%s%s", ns, r->kind);
        snprintf(what, sizeof what, "create a %s", r->kind);
        opdesc d = {"post",       "create",        what,
                    PARAMS_WRITE, body_of(c, sch), responses(c, sch, R200_201_202, false)};
        ok = set(p, "post", operation(c, &d, suffix, r->group, r->version, r->kind));
    }
    if (ok && !all_namespaces && has(r, "deletecollection")) {
        snprintf(suffix, sizeof suffix, "Collection%s%s", ns, r->kind);
        snprintf(what, sizeof what, "delete collection of %s", r->kind);
        opdesc d = {"deletecollection",
                    "delete",
                    what,
                    PARAMS_DELETE_COLL,
                    body_of(c, META "DeleteOptions"),
                    responses(c, META "Status", R200, false)};
        ok = set(p, "delete", operation(c, &d, suffix, r->group, r->version, r->kind));
    }
    if (all_namespaces)
        ok = ok && set(p, "parameters", all_namespaces_params());
    else
        ok = ok && set(p, "parameters", path_params(r->kind, false, r->namespaced));
    if (!ok) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* The core kinds whose DELETE answers with the object, not a Status. */
static bool delete_returns_object(const fl_kube_resource *r)
{
    static const char *const kinds[] = {"Pod", "Service", "ServiceAccount", "ResourceQuota",
                                        "PersistentVolumeClaim"};
    for (size_t i = 0; !r->group[0] && i < FL_ARRAY_LEN(kinds); i++)
        if (strcmp(r->kind, kinds[i]) == 0)
            return true;
    return false;
}

/* "<base>/{name}[/sub]": get, put, patch (+ delete for the object). sub
 * NULL is the object itself; its kind is kind/group/version. */
static json_t *object_item(const opctx *c, const fl_kube_subresource *sub)
{
    const fl_kube_resource *r = c->r;
    const char *kind = sub ? sub->kind : r->kind;
    const char *group = sub && sub->group && sub->group[0] ? sub->group : r->group;
    const char *version = sub && sub->version && sub->version[0] ? sub->version : r->version;
    /* the CRD builder labels subresource operations with the CR's GVK */
    const char *gvk_kind = c->builtin ? kind : r->kind;
    const char *gvk_group = c->builtin ? group : r->group;
    const char *gvk_version = c->builtin ? version : r->version;
    char sch[NAME_MAX_LEN], suffix[NAME_MAX_LEN], what[NAME_MAX_LEN], subcamel[64] = "";
    const char *const *verbs = sub ? sub->verbs : r->verbs;
    json_t *p = json_object();
    bool ok = p != NULL;
    schema_name(group, version, kind, sub ? true : r->origin != FL_KUBE_ORIGIN_CRD, sch,
                sizeof sch);
    if (sub && strcmp(group, r->group) == 0 && strcmp(kind, r->kind) == 0)
        res_schema_name(r, kind, sch, sizeof sch);
    if (sub)
        snprintf(subcamel, sizeof subcamel, "%c%s", toupper((unsigned char)sub->name[0]),
                 sub->name + 1);
    snprintf(suffix, sizeof suffix, "%s%s%s", r->namespaced ? "Namespaced" : "", r->kind, subcamel);
    bool can_get = false, can_put = false, can_patch = false, can_del = false;
    for (size_t i = 0; verbs && verbs[i]; i++) {
        can_get |= strcmp(verbs[i], "get") == 0;
        can_put |= strcmp(verbs[i], "update") == 0;
        can_patch |= strcmp(verbs[i], "patch") == 0;
        can_del |= !sub && strcmp(verbs[i], "delete") == 0;
    }
    if (ok && can_get) {
        snprintf(what, sizeof what, "read %s of the specified %s", sub ? sub->name : "", r->kind);
        opdesc d = {"get", "read", sub ? what : "read the specified object",
                    NULL,  NULL,   responses(c, sch, R200, false)};
        ok = set(p, "get", operation(c, &d, suffix, gvk_group, gvk_version, gvk_kind));
    }
    if (ok && can_put) {
        opdesc d = {"put",        "replace",       "replace the specified object",
                    PARAMS_WRITE, body_of(c, sch), responses(c, sch, R200_201, false)};
        ok = set(p, "put", operation(c, &d, suffix, gvk_group, gvk_version, gvk_kind));
    }
    if (ok && can_del) {
        opdesc d = {"delete",
                    "delete",
                    "delete the specified object",
                    PARAMS_DELETE,
                    body_of(c, META "DeleteOptions"),
                    responses(c, delete_returns_object(r) ? sch : META "Status", R200_202, false)};
        ok = set(p, "delete", operation(c, &d, suffix, gvk_group, gvk_version, gvk_kind));
    }
    if (ok && can_patch) {
        /* custom resources: no force parameter, 200 only (as upstream) */
        opdesc d = {"patch",
                    "patch",
                    "partially update the specified object",
                    c->builtin ? PARAMS_PATCH : PARAMS_WRITE,
                    patch_body(c),
                    responses(c, sch, c->builtin ? R200_201 : R200, false)};
        ok = set(p, "patch", operation(c, &d, suffix, gvk_group, gvk_version, gvk_kind));
    }
    ok = ok && set(p, "parameters", path_params(r->kind, true, r->namespaced));
    if (!ok) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* All paths of one resource into paths. */
static bool resource_paths(const opctx *c, json_t *paths, const char *prefix)
{
    const fl_kube_resource *r = c->r;
    char base[NAME_MAX_LEN + 64], path[NAME_MAX_LEN + 128];
    bool ok = true;
    snprintf(base, sizeof base, "%s%s%s", prefix, r->namespaced ? "/namespaces/{namespace}/" : "/",
             r->resource);
    ok = set(paths, base, collection_item(c, false));
    snprintf(path, sizeof path, "%s/{name}", base);
    ok = ok && set(paths, path, object_item(c, NULL));
    for (size_t i = 0; ok && i < r->n_subresources; i++) {
        const fl_kube_subresource *s = &r->subresources[i];
        if (strcmp(s->name, "status") != 0 && strcmp(s->name, "scale") != 0)
            continue; /* log, binding, eviction... are not documents kubectl reads */
        snprintf(path, sizeof path, "%s/{name}/%s", base, s->name);
        ok = set(paths, path, object_item(c, s));
    }
    if (ok && r->namespaced && has(r, "list")) {
        snprintf(path, sizeof path, "%s/%s", prefix, r->resource);
        ok = set(paths, path, collection_item(c, true));
    }
    return ok;
}

/* ---------------------------------------------------------------- schemas */

static json_t *gvk_list(const char *group, const char *version, const char *kind)
{
    return json_pack("[{s:s, s:s, s:s}]", "group", group, "kind", kind, "version", version);
}

#define CONVENTIONS "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"

/* apiVersion, kind and metadata as kube-apiserver's CRD schema builder
 * writes them (TypeMeta's descriptions; the object's or the list's
 * metadata), so `kubectl explain` describes them as upstream does. */
static json_t *kind_props(const char *meta_schema)
{
    bool list = strstr(meta_schema, "ListMeta") != NULL;
    return json_pack(
        "{s:{s:s,s:s}, s:{s:s,s:s}, s:{s:s,s:[o]}}", "apiVersion", "description",
        "APIVersion defines the versioned schema of this representation of an object. Servers "
        "should convert recognized schemas to the latest internal value, and may reject "
        "unrecognized values. More info: " CONVENTIONS "#resources",
        "type", "string", "kind", "description",
        "Kind is a string value representing the REST resource this object represents. Servers "
        "may infer this from the endpoint the client submits requests to. Cannot be updated. In "
        "CamelCase. More info: " CONVENTIONS "#types-kinds",
        "type", "string", "metadata", "description",
        list ? "Standard list metadata. More info: " CONVENTIONS "#types-kinds"
             : "Standard object's metadata. More info: " CONVENTIONS "#metadata",
        "allOf", ref_to(meta_schema));
}

/* A permissive kind schema (types learnt from discovery, CRDs without a schema). */
static json_t *generic_kind(const fl_kube_resource *r)
{
    return json_pack("{s:s, s:o, s:b, s:o}", "type", "object", "properties",
                     kind_props(META "ObjectMeta"), "x-kubernetes-preserve-unknown-fields", 1,
                     "x-kubernetes-group-version-kind", gvk_list(r->group, r->version, r->kind));
}

/* The CRD version's openAPIV3Schema with apiVersion/kind/metadata and the GVK. */
static json_t *crd_kind(const fl_kube_resource *r)
{
    json_t *s, *props, *std;
    const char *k;
    json_t *v;
    if (!json_is_object(r->schema))
        return generic_kind(r);
    s = json_deep_copy(r->schema);
    props = json_object_get(s, "properties");
    if (s && !json_is_object(props)) {
        props = json_object();
        if (!set(s, "properties", props))
            props = NULL;
    }
    std = kind_props(META "ObjectMeta");
    if (!s || !props || !std) {
        json_decref(s);
        json_decref(std);
        return NULL;
    }
    json_object_foreach(std, k, v) json_object_set(props, k, v);
    json_decref(std);
    if (!set(s, "x-kubernetes-group-version-kind", gvk_list(r->group, r->version, r->kind))) {
        json_decref(s);
        return NULL;
    }
    return s;
}

static json_t *list_kind(const fl_kube_resource *r, const char *item_schema)
{
    json_t *props = kind_props(META "ListMeta");
    char desc[NAME_MAX_LEN];
    if (!props || !set(props, "items",
                       json_pack("{s:s, s:o}", "type", "array", "items", ref_to(item_schema)))) {
        json_decref(props);
        return NULL;
    }
    snprintf(desc, sizeof desc, "%s is a list of %s", r->list_kind, r->kind);
    return json_pack("{s:s, s:[s], s:o, s:o}", "description", desc, "required", "items",
                     "properties", props, "x-kubernetes-group-version-kind",
                     gvk_list(r->group, r->version, r->list_kind));
}

/* Add the kind and list schemas of r to schemas. */
static bool kind_schemas(const fl_kube_resource *r, const json_t *table, json_t *schemas)
{
    char sch[NAME_MAX_LEN], list[NAME_MAX_LEN];
    json_t *v;
    res_schema_name(r, r->kind, sch, sizeof sch);
    res_schema_name(r, r->list_kind, list, sizeof list);
    if (r->origin == FL_KUBE_ORIGIN_CRD)
        v = crd_kind(r);
    else if ((v = json_object_get(table, sch)))
        v = json_deep_copy(v);
    else
        v = generic_kind(r);
    if (!set(schemas, sch, v))
        return false;
    if (json_object_get(table, list) && r->origin != FL_KUBE_ORIGIN_CRD)
        return set(schemas, list, json_deep_copy(json_object_get(table, list)));
    return set(schemas, list, list_kind(r, sch));
}

/* Collect every "$ref" target under v into want (an object used as a set). */
static void collect_refs(const json_t *v, json_t *want)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
        {
            const char *s = json_string_value(x);
            if (strcmp(k, "$ref") == 0 && s && fl_str_has_prefix(s, REF_PREFIX))
                json_object_set_new(want, s + strlen(REF_PREFIX), json_true());
            else
                collect_refs(x, want);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) collect_refs(x, want);
    }
}

/* Add every schema referenced (transitively) from doc that the table has. */
static bool close_schemas(const json_t *doc, const json_t *table, json_t *schemas)
{
    json_t *want = json_object();
    bool ok = want != NULL, grew = true;
    if (ok)
        collect_refs(doc, want);
    while (ok && grew) {
        const char *k;
        json_t *x;
        grew = false;
        json_object_foreach(want, k, x)
        {
            const json_t *s = json_object_get(table, k);
            if (json_object_get(schemas, k) || !s)
                continue;
            ok = set(schemas, k, json_deep_copy(s));
            if (!ok)
                break;
            collect_refs(s, want);
            grew = true;
            break; /* want changed: restart the walk */
        }
    }
    json_decref(want);
    return ok;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy of obj with its keys sorted (upstream writes maps sorted). */
static json_t *sorted_object(const json_t *obj)
{
    size_t n = json_object_size(obj), i = 0;
    const char **keys = calloc(n + 1, sizeof *keys);
    json_t *out = json_object();
    const char *k;
    json_t *v;
    bool ok = keys && out;
    json_object_foreach((json_t *)obj, k, v) if (keys) keys[i++] = k;
    if (keys)
        qsort(keys, i, sizeof *keys, cmp_keys);
    for (size_t j = 0; ok && j < i; j++)
        ok = json_object_set(out, keys[j], json_object_get(obj, keys[j])) == 0;
    free(keys);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---------------------------------------------------------------- documents */

typedef struct gvsnap {
    const fl_kube_resource **r;
    size_t n;
} gvsnap;

static int gv_take(const fl_kube_resources *reg, const char *group, const char *version,
                   fl_kube_resource_filter filter, void *ud, gvsnap *s)
{
    size_t total = fl_kube_resources_list(reg, NULL, 0), n = 0;
    const fl_kube_resource **all = calloc(total + 1, sizeof *all);
    if (!all)
        return -ENOMEM;
    size_t got = fl_kube_resources_list(reg, all, total);
    for (size_t i = 0; i < got && i < total; i++) {
        const fl_kube_resource *r = all[i];
        if ((!group || strcmp(r->group, group) == 0) &&
            (!version || strcmp(r->version, version) == 0) && (!filter || filter(r, ud)))
            all[n++] = r;
    }
    s->r = all;
    s->n = n;
    return 0;
}

/* The /apis/g/v/ (or /api/v1/) discovery path. */
static json_t *discovery_path(const opctx *c)
{
    char id[NAME_MAX_LEN];
    snprintf(id, sizeof id, "get%sAPIResources", c->gv_camel);
    return json_pack("{s:{s:[s], s:s, s:s, s:o}}", "get", "tags", c->tag, "description",
                     "get available resources", "operationId", id, "responses",
                     responses(c, META "APIResourceList", R200, false));
}

static int build_doc(const gvsnap *s, const char *group, const char *version, const json_t *table,
                     json_t **out)
{
    char prefix[NAME_MAX_LEN], tag[NAME_MAX_LEN], gvc[NAME_MAX_LEN], gc[NAME_MAX_LEN], vc[64],
        path[NAME_MAX_LEN];
    bool crd = false;
    json_t *doc = NULL, *paths = json_object(), *schemas = json_object();
    int rc = -ENOMEM;
    for (size_t i = 0; i < s->n; i++)
        crd |= s->r[i]->origin == FL_KUBE_ORIGIN_CRD;
    snprintf(prefix, sizeof prefix, "%s%s/%s", group[0] ? "/apis/" : "/api", group, version);
    group_camel(group, false, gc, sizeof gc);
    snprintf(tag, sizeof tag, "%s_%s", gc, version);
    group_camel(group, true, gc, sizeof gc);
    snprintf(vc, sizeof vc, "%c%s", toupper((unsigned char)version[0]), version + 1);
    snprintf(gvc, sizeof gvc, "%s%s", gc, vc);
    if (!paths || !schemas)
        goto out;
    opctx c = {NULL, tag, gvc, !crd};
    snprintf(path, sizeof path, "%s/", prefix);
    if (!crd && !set(paths, path, discovery_path(&c)))
        goto out;
    for (size_t i = 0; i < s->n; i++) {
        c.r = s->r[i];
        c.builtin = s->r[i]->origin != FL_KUBE_ORIGIN_CRD;
        if (!resource_paths(&c, paths, prefix) || !kind_schemas(s->r[i], table, schemas))
            goto out;
    }
    if (!close_schemas(paths, table, schemas) || !close_schemas(schemas, table, schemas))
        goto out;
    json_t *sp = sorted_object(paths), *ss = sorted_object(schemas);
    doc = json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:o}}", "openapi", "3.0.0", "info", "title",
                    crd ? "Kubernetes CRD Swagger" : "Kubernetes", "version",
                    crd ? "v0.1.0" : "v1.26.0", "paths", sp, "components", "schemas", ss);
    if (!doc)
        goto out;
    if (!crd &&
        !set(json_object_get(doc, "components"), "securitySchemes",
             json_pack("{s:{s:s, s:s, s:s, s:s}}", "BearerToken", "type", "apiKey", "description",
                       "Bearer Token authentication", "name", "authorization", "in", "header")))
        goto out;
    *out = json_incref(doc);
    rc = 0;
out:
    json_decref(doc);
    json_decref(paths);
    json_decref(schemas);
    return rc;
}

static json_t *schema_table(void)
{
    return json_loads(fl_kube_openapi_schemas, 0, NULL);
}

int fl_kube_openapi_doc(const fl_kube_resources *reg, const char *group, const char *version,
                        fl_kube_resource_filter filter, void *ud, json_t **out)
{
    gvsnap s = {0};
    json_t *table = NULL;
    int rc;
    if (!group || !version)
        return FL_ENOTFOUND;
    rc = gv_take(reg, group, version, filter, ud, &s);
    if (rc < 0)
        return rc;
    rc = FL_ENOTFOUND;
    if (s.n == 0)
        goto out;
    rc = -ENOMEM;
    table = schema_table();
    if (table)
        rc = build_doc(&s, group, version, table, out);
out:
    json_decref(table);
    free(s.r);
    return rc;
}

int fl_kube_openapi_hash(const json_t *doc, char out[129])
{
    fl_buf b = FL_BUF_INIT(256u << 20);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    static const char hex[] = "0123456789ABCDEF";
    int rc = fl_json_encode(doc, false, &b);
    if (rc < 0)
        goto out;
    rc = -ENOMEM;
    if (EVP_Digest(b.data, b.len, md, &len, EVP_sha512(), NULL) != 1 || len != 64)
        goto out;
    for (unsigned int i = 0; i < len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[128] = 0;
    rc = 0;
out:
    fl_buf_done(&b);
    return rc;
}

static bool gv_seen(const gvsnap *s, size_t upto)
{
    for (size_t i = 0; i < upto; i++)
        if (strcmp(s->r[i]->group, s->r[upto]->group) == 0 &&
            strcmp(s->r[i]->version, s->r[upto]->version) == 0)
            return true;
    return false;
}

/* Index entry for one GV: build its doc (only s's entries of that GV), hash it. */
static int index_entry(const gvsnap *all, size_t at, const json_t *table, json_t *paths)
{
    const char *g = all->r[at]->group, *v = all->r[at]->version;
    gvsnap s = {calloc(all->n + 1, sizeof *s.r), 0};
    json_t *doc = NULL;
    char key[NAME_MAX_LEN], url[NAME_MAX_LEN + 200], hash[129];
    int rc = -ENOMEM;
    if (!s.r)
        return rc;
    for (size_t i = 0; i < all->n; i++)
        if (strcmp(all->r[i]->group, g) == 0 && strcmp(all->r[i]->version, v) == 0)
            s.r[s.n++] = all->r[i];
    rc = build_doc(&s, g, v, table, &doc);
    if (rc == 0)
        rc = fl_kube_openapi_hash(doc, hash);
    if (rc == 0) {
        snprintf(key, sizeof key, "%s%s/%s", g[0] ? "apis/" : "api", g, v);
        snprintf(url, sizeof url, "/openapi/v3/%s?hash=%s", key, hash);
        rc = set(paths, key, json_pack("{s:s}", "serverRelativeURL", url)) ? 0 : -ENOMEM;
    }
    json_decref(doc);
    free(s.r);
    return rc;
}

int fl_kube_openapi_index(const fl_kube_resources *reg, fl_kube_resource_filter filter, void *ud,
                          json_t **out)
{
    gvsnap s = {0};
    json_t *table = NULL, *paths = json_object(), *sorted = NULL;
    int rc = paths ? gv_take(reg, NULL, NULL, filter, ud, &s) : -ENOMEM;
    if (rc < 0)
        goto out;
    rc = -ENOMEM;
    table = schema_table();
    if (!table)
        goto out;
    for (size_t i = 0; i < s.n; i++) {
        if (gv_seen(&s, i))
            continue;
        rc = index_entry(&s, i, table, paths);
        if (rc < 0)
            goto out;
    }
    rc = -ENOMEM;
    sorted = sorted_object(paths);
    json_t *doc = sorted ? json_pack("{s:O}", "paths", sorted) : NULL;
    if (!doc)
        goto out;
    *out = doc;
    rc = 0;
out:
    json_decref(sorted);
    json_decref(paths);
    json_decref(table);
    free(s.r);
    return rc;
}

/* ---------------------------------------------------------------- field paths */

static pthread_once_t paths_once = PTHREAD_ONCE_INIT;
static json_t *paths_table; /* immutable after paths_once: the parsed fl_kube_openapi_schemas */

static void paths_load(void)
{
    paths_table = schema_table();
}

/* s with $ref / allOf[0] followed in table; NULL when unknown. */
static const json_t *schema_resolve(const json_t *table, const json_t *s)
{
    for (int hops = 0; s && hops < 8; hops++) {
        const char *ref = json_string_value(json_object_get(s, "$ref"));
        const json_t *all = json_object_get(s, "allOf");
        if (ref && !strncmp(ref, "#/components/schemas/", 21))
            s = json_object_get(table, ref + 21);
        else if (json_array_size(all) > 0 && !json_object_get(s, "properties"))
            s = json_array_get(all, 0);
        else
            return s;
    }
    return s;
}

static bool open_schema(const json_t *s)
{
    return json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields")) ||
           json_is_true(json_object_get(s, "x-kubernetes-int-or-string"));
}

bool fl_kube_openapi_has_field(const fl_kube_resource *r, const char *const *segs,
                               const bool *list, size_t n)
{
    char sch[NAME_MAX_LEN];
    const json_t *s = NULL, *table;
    pthread_once(&paths_once, paths_load);
    table = paths_table;
    if (r->origin == FL_KUBE_ORIGIN_CRD) {
        if (!json_is_object(r->schema))
            return true;
        s = r->schema;
    } else {
        res_schema_name(r, r->kind, sch, sizeof sch);
        if (!table || !(s = json_object_get(table, sch)))
            return true; /* a type without a known schema: any path */
    }
    for (size_t i = 0; i < n; i++) {
        if (!(s = schema_resolve(table, s)))
            return false;
        if (open_schema(s))
            return true;
        const json_t *p = json_object_get(json_object_get(s, "properties"), segs[i]);
        if (!p && i == 0 && (!strcmp(segs[i], "apiVersion") || !strcmp(segs[i], "kind") ||
                             !strcmp(segs[i], "metadata"))) {
            if (!strcmp(segs[i], "metadata"))
                p = json_object_get(table, META "ObjectMeta");
            else
                return n == 1;
        }
        if (!p) {
            const json_t *ap = json_object_get(s, "additionalProperties");
            if (!ap)
                return false;
            p = json_is_object(ap) ? ap : NULL;
            if (!p)
                return json_is_true(ap);
        }
        s = schema_resolve(table, p);
        if (s && list[i]) {
            if (!json_object_get(s, "items"))
                return false;
            s = schema_resolve(table, json_object_get(s, "items"));
        }
        if (!s)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- OpenAPI v2 */

json_t *fl_kube_openapi_v2_new(void)
{
    return json_pack("{s:s,s:{s:s,s:s},s:{},s:{}}", "swagger", "2.0", "info", "title",
                     "Kubernetes", "version", "v1.26.0", "paths", "definitions");
}

/* A v3 schema in v2's terms (new reference): refs point into
 * #/definitions/, a one-element allOf becomes its $ref (with the
 * description beside it), int-or-string is the string format upstream's v2
 * uses, and what v2 has no word for (oneOf, anyOf, nullable, the default
 * of a $ref) is left out. NULL on ENOMEM. */
static json_t *v2_schema(const json_t *s, int depth)
{
    if (json_is_array(s)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(s, i, e)
            if (!a || json_array_append_new(a, v2_schema(e, depth + 1)) != 0) {
                json_decref(a);
                return NULL;
            }
        return a;
    }
    if (!json_is_object(s) || depth > 64)
        return json_deep_copy(s);
    json_t *o = json_object();
    const json_t *all = json_object_get(s, "allOf");
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    if (!ref && json_array_size(all) == 1)
        ref = json_string_value(json_object_get(json_array_get(all, 0), "$ref"));
    const char *fmt = json_string_value(json_object_get(s, "format"));
    bool ios = fmt && !strcmp(fmt, "int-or-string");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (!o)
            break;
        if (!strcmp(k, "oneOf") || !strcmp(k, "anyOf") || !strcmp(k, "nullable") ||
            !strcmp(k, "allOf") || !strcmp(k, "$ref") || (ref && !strcmp(k, "default")))
            continue;
        json_t *c = v2_schema(v, depth + 1);
        if (!c || json_object_set_new(o, k, c) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    if (o && ref && !strncmp(ref, REF_PREFIX, strlen(REF_PREFIX))) {
        char r[NAME_MAX_LEN + 32];
        snprintf(r, sizeof(r), "#/definitions/%s", ref + strlen(REF_PREFIX));
        json_object_set_new(o, "$ref", json_string(r));
    }
    if (o && ios)
        json_object_set_new(o, "type", json_string("string"));
    return o;
}

int fl_kube_openapi_v2_merge(json_t *v2, const json_t *v3doc)
{
    json_t *defs = json_object_get(v2, "definitions");
    const json_t *schemas = json_object_get(json_object_get(v3doc, "components"), "schemas");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)schemas, k, v) {
        if (json_object_get(defs, k))
            continue;
        json_t *c = v2_schema(v, 0);
        if (!c || json_object_set_new(defs, k, c) != 0)
            return -ENOMEM;
    }
    return 0;
}
