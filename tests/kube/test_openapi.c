/*
 * tests/kube/test_openapi.c: the OpenAPI v3 index and group-version
 * documents, checked against kube-apiserver v1.26's own documents in
 * k8s-golden/02-openapi (paths, operations, extensions, parameters,
 * request/response shapes, and schemas minus descriptions), plus the
 * checks kubectl 1.32 itself makes (the fieldValidation query parameter on
 * the PATCH operation of a GVK, strategic-merge patch keys).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "tests/kube/golden.h"
#include "tests/test.h"

static json_t *load_json(const char *rel)
{
    return t_golden_load(rel);
}

static bool same(const json_t *a, const json_t *b, const char *what, const char *where)
{
    if ((!a && !b) || json_equal((json_t *)a, (json_t *)b))
        return true;
    char *sa = json_dumps(a, JSON_COMPACT), *sb = json_dumps(b, JSON_COMPACT);
    fprintf(stderr, "%s %s differs:\n  ours:   %.800s\n  golden: %.800s\n", where, what,
            sa ? sa : "(null)", sb ? sb : "(null)");
    free(sa);
    free(sb);
    return false;
}

/* A deep copy of v without any "description" member. */
static json_t *strip_desc(const json_t *v)
{
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (strcmp(k, "description") != 0)
                json_object_set_new(o, k, strip_desc(x));
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            json_array_append_new(a, strip_desc(x));
        return a;
    }
    return json_deep_copy(v);
}

static json_t *param_names(const json_t *params)
{
    json_t *names = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
        json_array_append(names, json_object_get(p, "name"));
    return names;
}

/* Every path we emit exists in golden with the same operations: action,
 * GVK, operationId, tags, parameter names, request body and responses.
 * Returns how many paths were compared. */
static size_t compare_paths(const json_t *ours, const json_t *gold, const char *doc)
{
    static const char *ops[] = {"get", "put", "post", "delete", "patch"};
    const json_t *op = json_object_get(ours, "paths"), *gp = json_object_get(gold, "paths");
    const char *path;
    json_t *item;
    size_t n = 0;
    json_object_foreach((json_t *)op, path, item) {
        const json_t *g = json_object_get(gp, path);
        if (!g) {
            fprintf(stderr, "%s: path %s not in golden\n", doc, path);
            T_CHECK(g != NULL);
            continue;
        }
        n++;
        json_t *a = param_names(json_object_get(item, "parameters"));
        json_t *b = param_names(json_object_get(g, "parameters"));
        T_CHECK(same(a, b, "path parameters", path));
        json_decref(a);
        json_decref(b);
        for (size_t i = 0; i < FL_ARRAY_LEN(ops); i++) {
            const json_t *x = json_object_get(item, ops[i]), *y = json_object_get(g, ops[i]);
            T_CHECK((x == NULL) == (y == NULL));
            if (!x || !y)
                continue;
            static const char *keys[] = {"x-kubernetes-action", "x-kubernetes-group-version-kind",
                                         "operationId",         "tags",
                                         "requestBody",         "responses"};
            for (size_t k = 0; k < FL_ARRAY_LEN(keys); k++)
                T_CHECK(
                    same(json_object_get(x, keys[k]), json_object_get(y, keys[k]), keys[k], path));
            a = param_names(json_object_get(x, "parameters"));
            b = param_names(json_object_get(y, "parameters"));
            T_CHECK(same(a, b, "parameters", path));
            json_decref(a);
            json_decref(b);
        }
    }
    return n;
}

/* Our schemas equal golden's with descriptions dropped. */
static size_t compare_schemas(const json_t *ours, const json_t *gold)
{
    const json_t *os = fl_obj_get(ours, "components.schemas");
    const json_t *gs = fl_obj_get(gold, "components.schemas");
    const char *name;
    json_t *s;
    size_t n = 0;
    json_object_foreach((json_t *)os, name, s) {
        const json_t *g = json_object_get(gs, name);
        T_CHECK(g != NULL);
        if (!g)
            continue;
        json_t *a = strip_desc(s), *b = strip_desc(g);
        T_CHECK(same(a, b, "schema", name));
        json_decref(a);
        json_decref(b);
        n++;
    }
    return n;
}

/* Every $ref in doc resolves inside components.schemas. */
static void check_refs(const json_t *v, const json_t *schemas, size_t *bad)
{
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) {
            const char *r = json_string_value(x);
            if (strcmp(k, "$ref") == 0 && r) {
                const char *name = strrchr(r, '/');
                if (!name || !json_object_get(schemas, name + 1)) {
                    fprintf(stderr, "dangling $ref %s\n", r);
                    (*bad)++;
                }
            } else {
                check_refs(x, schemas, bad);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
            check_refs(x, schemas, bad);
    }
}

static const char *ostr(const json_t *o, const char *path)
{
    const char *s = fl_obj_str(o, path);
    return s ? s : "";
}

/* kubectl's supportsQueryParamV3: the first PATCH operation labelled with
 * the GVK decides; it must list the query parameter. */
static bool kubectl_supports(const json_t *doc, const char *g, const char *v, const char *kind,
                             const char *param)
{
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item) {
        const json_t *op = json_object_get(item, "patch");
        const json_t *gvk = json_object_get(op, "x-kubernetes-group-version-kind");
        if (!op || strcmp(ostr(gvk, "group"), g) != 0 || strcmp(ostr(gvk, "version"), v) != 0 ||
            strcmp(ostr(gvk, "kind"), kind) != 0)
            continue;
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(op, "parameters"), i, p) {
            if (strcmp(ostr(p, "name"), param) == 0 && strcmp(ostr(p, "in"), "query") == 0)
                return true;
        }
        return false;
    }
    return false;
}

/* The property's x-kubernetes-patch-merge-key / -strategy in schema. */
static void check_patch_key(const json_t *doc, const char *schema, const char *prop,
                            const char *key, const char *strategy)
{
    const json_t *s = json_object_get(fl_obj_get(doc, "components.schemas"), schema);
    const json_t *p = json_object_get(json_object_get(s, "properties"), prop);
    T_CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "%s.%s missing\n", schema, prop);
        return;
    }
    T_EQ_STR(fl_obj_str(p, "x-kubernetes-patch-merge-key"), key);
    T_EQ_STR(fl_obj_str(p, "x-kubernetes-patch-strategy"), strategy);
}

static void check_builtin_doc(fl_kube_resources *reg, const char *g, const char *file,
                              size_t min_paths)
{
    json_t *doc = NULL, *gold = load_json(file);
    T_EQ_INT(fl_kube_openapi_doc(reg, g, "v1", NULL, NULL, &doc), 0);
    if (!doc || !gold)
        goto out;
    T_EQ_STR(fl_obj_str(doc, "openapi"), "3.0.0");
    T_CHECK(same(json_object_get(doc, "info"), json_object_get(gold, "info"), "info", file));
    T_CHECK(compare_paths(doc, gold, file) >= min_paths);
    T_CHECK(compare_schemas(doc, gold) > 100);
    size_t bad = 0;
    check_refs(doc, fl_obj_get(doc, "components.schemas"), &bad);
    T_EQ_INT(bad, 0);
    T_CHECK(same(fl_obj_get(doc, "components.securitySchemes"),
                 fl_obj_get(gold, "components.securitySchemes"), "securitySchemes", file));
out:
    json_decref(doc);
    json_decref(gold);
}

static void test_builtin_docs(fl_kube_resources *reg)
{
    check_builtin_doc(reg, "apps", "02-openapi/openapi-v3-apis-apps-v1.json", 23);
    check_builtin_doc(reg, "", "02-openapi/openapi-v3-api-v1.json", 34);

    json_t *doc = NULL;
    T_EQ_INT(fl_kube_openapi_doc(reg, "apps", "v1", NULL, NULL, &doc), 0);
    T_CHECK(kubectl_supports(doc, "apps", "v1", "Deployment", "fieldValidation"));
    T_CHECK(kubectl_supports(doc, "apps", "v1", "StatefulSet", "fieldValidation"));
    T_CHECK(!kubectl_supports(doc, "apps", "v1", "Nope", "fieldValidation"));
    /* strategic merge patch metadata kubectl apply relies on */
    check_patch_key(doc, "io.k8s.api.core.v1.PodSpec", "containers", "name", "merge");
    check_patch_key(doc, "io.k8s.api.core.v1.PodSpec", "volumes", "name", "merge,retainKeys");
    check_patch_key(doc, "io.k8s.api.core.v1.PodSpec", "initContainers", "name", "merge");
    check_patch_key(doc, "io.k8s.api.core.v1.Container", "ports", "containerPort", "merge");
    check_patch_key(doc, "io.k8s.api.core.v1.Container", "env", "name", "merge");
    check_patch_key(doc, "io.k8s.api.core.v1.Container", "volumeMounts", "mountPath", "merge");
    const json_t *d =
        json_object_get(fl_obj_get(doc, "components.schemas"), "io.k8s.api.apps.v1.Deployment");
    T_EQ_STR(fl_obj_str(json_array_get(json_object_get(d, "x-kubernetes-group-version-kind"), 0),
                        "kind"),
             "Deployment");
    T_CHECK(fl_obj_str(d, "description") != NULL); /* kubectl explain */
    json_decref(doc);

    /* groups without a golden document: compact schemas, same operations */
    static const struct {
        const char *g, *kind, *schema;
    } others[] = {
        {"batch", "Job", "io.k8s.api.batch.v1.Job"},
        {"batch", "CronJob", "io.k8s.api.batch.v1.CronJob"},
        {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration",
         "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration"},
        {"apiextensions.k8s.io", "CustomResourceDefinition",
         "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"},
        {"coordination.k8s.io", "Lease", "io.k8s.api.coordination.v1.Lease"},
        {"events.k8s.io", "Event", "io.k8s.api.events.v1.Event"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(others); i++) {
        doc = NULL;
        T_EQ_INT(fl_kube_openapi_doc(reg, others[i].g, "v1", NULL, NULL, &doc), 0);
        T_CHECK(kubectl_supports(doc, others[i].g, "v1", others[i].kind, "fieldValidation"));
        const json_t *schemas = fl_obj_get(doc, "components.schemas");
        T_CHECK(json_object_get(schemas, others[i].schema) != NULL);
        size_t bad = 0;
        check_refs(doc, schemas, &bad);
        T_EQ_INT(bad, 0);
        json_decref(doc);
    }
    doc = NULL;
    T_EQ_INT(fl_kube_openapi_doc(reg, "batch", "v1", NULL, NULL, &doc), 0);
    /* a Job's pod template reaches PodSpec and its patch keys */
    check_patch_key(doc, "io.k8s.api.core.v1.PodSpec", "containers", "name", "merge");
    json_decref(doc);
    doc = NULL;
    T_EQ_INT(fl_kube_openapi_doc(reg, "apps", "v2", NULL, NULL, &doc), FL_ENOTFOUND);
    T_EQ_INT(fl_kube_openapi_doc(reg, "nope.io", "v1", NULL, NULL, &doc), FL_ENOTFOUND);
    T_CHECK(doc == NULL);
}

static void test_crd_doc(fl_kube_resources *reg)
{
    fl_err err = FL_ERR_INIT;
    json_t *env = load_json("04-responses/crd-get-established.json");
    json_t *gold = load_json("02-openapi/openapi-v3-apis-example.com-v1.crd.json");
    json_t *doc = NULL;
    T_EQ_INT(fl_kube_resources_add_crd(reg, fl_obj_get(env, "response.body"), &err), 0);
    T_EQ_INT(fl_kube_openapi_doc(reg, "example.com", "v1", NULL, NULL, &doc), 0);
    if (!doc || !gold)
        goto out;
    T_CHECK(same(json_object_get(doc, "info"), json_object_get(gold, "info"), "info", "crd"));
    T_EQ_STR(fl_obj_str(doc, "info.title"), "Kubernetes CRD Swagger");
    T_EQ_INT(json_object_size(json_object_get(doc, "paths")),
             json_object_size(json_object_get(gold, "paths")));
    const json_t *w =
        json_object_get(fl_obj_get(doc, "components.schemas"), "com.example.v1.Widget");
    json_t *a = strip_desc(w);
    json_t *b = strip_desc(
        json_object_get(fl_obj_get(gold, "components.schemas"), "com.example.v1.Widget"));
    T_CHECK(same(a, b, "schema", "com.example.v1.Widget"));
    json_decref(a);
    json_decref(b);
    /* apiVersion, kind and metadata with upstream's descriptions (kubectl explain) */
    static const char *const kinds[] = {"com.example.v1.Widget", "com.example.v1.WidgetList"};
    static const char *const std[] = {"apiVersion", "kind", "metadata"};
    for (size_t i = 0; i < 2; i++)
        for (size_t k = 0; k < 3; k++) {
            const json_t *have = fl_obj_get(
                json_object_get(fl_obj_get(doc, "components.schemas"), kinds[i]), "properties");
            const json_t *want = fl_obj_get(
                json_object_get(fl_obj_get(gold, "components.schemas"), kinds[i]), "properties");
            T_CHECK(same(json_object_get(have, std[k]), json_object_get(want, std[k]), kinds[i],
                         std[k]));
        }
    T_CHECK(kubectl_supports(doc, "example.com", "v1", "Widget", "fieldValidation"));
    /* the CR patch takes no strategic merge patch */
    const json_t *patch =
        fl_obj_get(json_object_get(json_object_get(doc, "paths"),
                                   "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"),
                   "patch.requestBody.content");
    T_CHECK(patch && !json_object_get(patch, "application/strategic-merge-patch+json"));
    T_CHECK(json_object_get(patch, "application/apply-patch+yaml") != NULL);
    size_t bad = 0;
    check_refs(doc, fl_obj_get(doc, "components.schemas"), &bad);
    T_EQ_INT(bad, 0);
out:
    json_decref(doc);
    json_decref(gold);
    json_decref(env);
}

static bool is_hex_upper(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return s[n] == 0;
}

static bool only_apps(const fl_kube_resource *r, void *ud)
{
    (void)ud;
    return strcmp(r->group, "apps") == 0;
}

static void test_index(fl_kube_resources *reg)
{
    json_t *idx = NULL, *idx2 = NULL, *gold = load_json("02-openapi/openapi-v3-index.json");
    T_EQ_INT(fl_kube_openapi_index(reg, NULL, NULL, &idx), 0);
    const json_t *paths = json_object_get(idx, "paths");
    /* every GV we serve is in golden's index too */
    const char *key;
    json_t *e;
    json_object_foreach((json_t *)paths, key, e) {
        T_CHECK(json_object_get(fl_obj_get(gold, "response.body.paths"), key) != NULL);
        const char *url = fl_obj_str(e, "serverRelativeURL");
        char want[256];
        snprintf(want, sizeof want, "/openapi/v3/%s?hash=", key);
        T_CHECK(url && fl_str_has_prefix(url, want));
        if (!url || !fl_str_has_prefix(url, want))
            continue;
        T_CHECK(is_hex_upper(url + strlen(want), 128));
    }
    T_CHECK(json_object_get(paths, "api/v1") != NULL);
    T_CHECK(json_object_get(paths, "apis/apps/v1") != NULL);
    T_CHECK(json_object_get(paths, "apis/batch/v1") != NULL);
    T_EQ_INT(json_object_size(paths), 7);

    /* the hash is the doc's, and stable */
    json_t *doc = NULL;
    char h[129], want[300];
    T_EQ_INT(fl_kube_openapi_doc(reg, "apps", "v1", NULL, NULL, &doc), 0);
    T_EQ_INT(fl_kube_openapi_hash(doc, h), 0);
    snprintf(want, sizeof want, "/openapi/v3/apis/apps/v1?hash=%s", h);
    T_EQ_STR(fl_obj_str(json_object_get(paths, "apis/apps/v1"), "serverRelativeURL"), want);
    T_EQ_INT(fl_kube_openapi_index(reg, NULL, NULL, &idx2), 0);
    T_CHECK(json_equal(idx, idx2));
    json_decref(idx2);
    json_decref(doc);

    /* a CRD adds its GV and leaves the others' hashes alone */
    fl_err err = FL_ERR_INIT;
    json_t *env = load_json("04-responses/crd-get-established.json");
    T_EQ_INT(fl_kube_resources_add_crd(reg, fl_obj_get(env, "response.body"), &err), 0);
    T_EQ_INT(fl_kube_openapi_index(reg, NULL, NULL, &idx2), 0);
    T_CHECK(json_object_get(json_object_get(idx2, "paths"), "apis/example.com/v1") != NULL);
    T_CHECK(json_equal(json_object_get(json_object_get(idx2, "paths"), "apis/apps/v1"),
                       json_object_get(paths, "apis/apps/v1")));
    json_decref(idx2);
    T_EQ_INT(fl_kube_openapi_index(reg, only_apps, NULL, &idx2), 0);
    T_EQ_INT(json_object_size(json_object_get(idx2, "paths")), 1);
    json_decref(idx2);
    T_EQ_INT(fl_kube_resources_remove_crd(reg, "example.com", "widgets"), 0);
    json_decref(env);
    json_decref(idx);
    json_decref(gold);
}

/* A type learnt from member discovery gets a permissive schema. */
static void test_discovered_type(void)
{
    fl_kube_resources *reg = NULL;
    fl_err err = FL_ERR_INIT;
    json_t *list =
        json_pack("{s:s, s:s, s:[{s:s, s:s, s:b, s:s, s:[s, s, s]}]}", "kind", "APIResourceList",
                  "groupVersion", "policy.karmada.io/v1alpha1", "resources", "name",
                  "propagationpolicies", "singularName", "propagationpolicy", "namespaced", 1,
                  "kind", "PropagationPolicy", "verbs", "get", "list", "patch");
    json_t *doc = NULL;
    T_EQ_INT(fl_kube_resources_new(false, &reg), 0);
    T_EQ_INT(fl_kube_resources_add_discovery(reg, list, &err), 1);
    T_EQ_INT(fl_kube_openapi_doc(reg, "policy.karmada.io", "v1alpha1", NULL, NULL, &doc), 0);
    const json_t *s = json_object_get(fl_obj_get(doc, "components.schemas"),
                                      "io.karmada.policy.v1alpha1.PropagationPolicy");
    T_CHECK(s != NULL);
    T_CHECK(json_is_true(json_object_get(s, "x-kubernetes-preserve-unknown-fields")));
    T_CHECK(kubectl_supports(doc, "policy.karmada.io", "v1alpha1", "PropagationPolicy",
                             "fieldValidation"));
    const json_t *paths = json_object_get(doc, "paths");
    /* only the verbs it has */
    const json_t *coll = json_object_get(
        paths, "/apis/policy.karmada.io/v1alpha1/namespaces/{namespace}/propagationpolicies");
    T_CHECK(coll && json_object_get(coll, "get") && !json_object_get(coll, "post"));
    json_decref(doc);
    json_decref(list);
    fl_kube_resources_free(reg);
}

int main(void)
{
    fl_kube_resources *reg = NULL;
    T_EQ_INT(fl_kube_resources_new(true, &reg), 0);
    if (!reg)
        return t_done();
    test_builtin_docs(reg);
    test_index(reg);
    test_crd_doc(reg);
    test_discovered_type();
    fl_kube_resources_free(reg);
    return t_done();
}
