/*
 * tests/kube/test_resource.c: the resource registry and the discovery
 * documents, compared field by field with kube-apiserver v1.26's answers
 * in k8s-golden/01-discovery (read at run time via $FLOTILLA_GOLDEN).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "tests/kube/golden.h"
#include "tests/test.h"

/* The response body of a golden envelope file (new reference) or NULL. */
static json_t *golden_body(const char *rel)
{
    json_t *env = t_golden_load(rel);
    json_t *body = json_incref(json_object_get(json_object_get(env, "response"), "body"));
    json_decref(env);
    return body;
}

static bool same(const json_t *a, const json_t *b, const char *what)
{
    if (json_equal((json_t *)a, (json_t *)b))
        return true;
    char *sa = json_dumps(a, JSON_COMPACT), *sb = json_dumps(b, JSON_COMPACT);
    fprintf(stderr, "%s differs:\n  ours:   %s\n  golden: %s\n", what, sa ? sa : "(null)",
            sb ? sb : "(null)");
    free(sa);
    free(sb);
    return false;
}

static const json_t *entry_named(const json_t *list, const char *name)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(list, "resources"), i, r) {
        if (strcmp(json_string_value(json_object_get(r, "name")), name) == 0)
            return r;
    }
    return NULL;
}

static size_t index_of(const json_t *list, const char *name)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(list, "resources"), i, r) {
        if (strcmp(json_string_value(json_object_get(r, "name")), name) == 0)
            return i;
    }
    return (size_t)-1;
}

/* Every entry we serve equals the golden entry of that name, in the same
 * relative order; the list header fields match exactly. */
static void check_resource_list(const fl_kube_resources *reg, const char *group,
                                const char *version, const char *file)
{
    json_t *ours = NULL, *gold = golden_body(file);
    T_CHECK(gold != NULL);
    T_EQ_INT(fl_kube_discovery_resources(reg, group, version, NULL, NULL, &ours), 0);
    if (!ours || !gold)
        goto out;
    T_CHECK(same(json_object_get(ours, "kind"), json_object_get(gold, "kind"), "kind"));
    T_CHECK(same(json_object_get(ours, "groupVersion"), json_object_get(gold, "groupVersion"),
                 "groupVersion"));
    T_CHECK((json_object_get(ours, "apiVersion") == NULL) ==
            (json_object_get(gold, "apiVersion") == NULL));
    size_t i, prev = 0;
    const json_t *r;
    json_array_foreach(json_object_get(ours, "resources"), i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        const json_t *g = entry_named(gold, name);
        if (!g) {
            fprintf(stderr, "%s: %s not in golden\n", file, name);
            T_CHECK(g != NULL);
            continue;
        }
        T_CHECK(same(r, g, name));
        size_t at = index_of(gold, name);
        T_CHECK(i == 0 || at > prev);
        prev = at;
    }
out:
    json_decref(ours);
    json_decref(gold);
}

static void test_discovery_builtin(fl_kube_resources *reg)
{
    json_t *ours = NULL, *gold = NULL;
    check_resource_list(reg, "", "v1", "01-discovery/api-v1.json");
    check_resource_list(reg, "apps", "v1", "01-discovery/apis-apps-v1.json");
    check_resource_list(reg, "batch", "v1", "01-discovery/apis-batch-v1.json");
    check_resource_list(reg, "admissionregistration.k8s.io", "v1",
                        "01-discovery/apis-admissionregistration.k8s.io-v1.json");
    check_resource_list(reg, "apiextensions.k8s.io", "v1",
                        "01-discovery/apis-apiextensions.k8s.io-v1.json");

    T_EQ_INT(fl_kube_discovery_api("<server>", &ours), 0);
    gold = golden_body("01-discovery/api.json");
    T_CHECK(same(ours, gold, "/api"));
    json_decref(ours);
    json_decref(gold);

    T_EQ_INT(fl_kube_discovery_version(NULL, &ours), 0);
    gold = golden_body("01-discovery/version.json");
    T_CHECK(same(ours, gold, "/version"));
    json_decref(ours);
    json_decref(gold);

    fl_kube_version_info vi = FL_KUBE_VERSION_INFO_INIT;
    vi.git_version = "v1.27.3";
    T_EQ_INT(fl_kube_discovery_version(&vi, &ours), 0);
    T_EQ_STR(fl_obj_str(ours, "major"), "1");
    T_EQ_STR(fl_obj_str(ours, "minor"), "27");
    json_decref(ours);

    T_EQ_INT(fl_kube_discovery_group(reg, "apps", NULL, NULL, &ours), 0);
    gold = golden_body("01-discovery/apis-apps-group.json");
    T_CHECK(same(ours, gold, "/apis/apps"));
    json_decref(ours);
    json_decref(gold);

    ours = NULL;
    T_EQ_INT(fl_kube_discovery_group(reg, "nope.example", NULL, NULL, &ours), FL_ENOTFOUND);
    T_CHECK(ours == NULL);
    T_EQ_INT(fl_kube_discovery_resources(reg, "apps", "v2", NULL, NULL, &ours), FL_ENOTFOUND);
    T_EQ_INT(fl_kube_discovery_resources(reg, "apps", "v1", NULL, NULL, &ours), 0);
    json_decref(ours);
}

/* /apis: each group we serve equals golden's entry, in golden's order. */
static void check_apis(const fl_kube_resources *reg, const char *file, size_t want_groups)
{
    json_t *ours = NULL, *gold = golden_body(file);
    T_EQ_INT(fl_kube_discovery_apis(reg, NULL, NULL, &ours), 0);
    if (!ours || !gold)
        goto out;
    T_EQ_STR(fl_obj_str(ours, "kind"), "APIGroupList");
    T_EQ_STR(fl_obj_str(ours, "apiVersion"), "v1");
    const json_t *og = json_object_get(ours, "groups"), *gg = json_object_get(gold, "groups");
    T_EQ_INT(json_array_size(og), want_groups);
    size_t i, j, prev = 0;
    const json_t *g, *h;
    json_array_foreach(og, i, g) {
        const char *name = json_string_value(json_object_get(g, "name"));
        bool found = false;
        json_array_foreach(gg, j, h) {
            if (strcmp(json_string_value(json_object_get(h, "name")), name) != 0)
                continue;
            found = true;
            T_CHECK(same(g, h, name));
            T_CHECK(i == 0 || j > prev);
            prev = j;
        }
        T_CHECK(found);
    }
out:
    json_decref(ours);
    json_decref(gold);
}

static bool only_apps(const fl_kube_resource *r, void *ud)
{
    (void)ud;
    return strcmp(r->group, "apps") == 0 && strcmp(r->resource, "deployments") == 0;
}

static void test_filter(const fl_kube_resources *reg)
{
    json_t *doc = NULL;
    T_EQ_INT(fl_kube_discovery_apis(reg, only_apps, NULL, &doc), 0);
    T_EQ_INT(json_array_size(json_object_get(doc, "groups")), 1);
    json_decref(doc);
    doc = NULL;
    T_EQ_INT(fl_kube_discovery_resources(reg, "", "v1", only_apps, NULL, &doc), FL_ENOTFOUND);
    T_EQ_INT(fl_kube_discovery_resources(reg, "apps", "v1", only_apps, NULL, &doc), 0);
    /* deployments + scale + status */
    T_EQ_INT(json_array_size(json_object_get(doc, "resources")), 3);
    json_decref(doc);
}

static void test_lookups(const fl_kube_resources *reg)
{
    const fl_kube_resource *r = fl_kube_resources_find(reg, "", "v1", "pods");
    T_CHECK(r != NULL);
    if (!r)
        return;
    T_EQ_STR(r->kind, "Pod");
    T_EQ_STR(r->list_kind, "PodList");
    T_EQ_STR(r->singular, "pod");
    T_CHECK(r->namespaced);
    T_CHECK(fl_kube_resource_has_verb(r, "watch"));
    T_CHECK(!fl_kube_resource_has_verb(r, "proxy"));
    T_CHECK(fl_kube_resource_sub(r, "status") != NULL);
    T_CHECK(fl_kube_resource_sub(r, "binding") != NULL);
    T_CHECK(fl_kube_resource_sub(r, "scale") == NULL);
    T_EQ_STR(fl_kube_resource_sub(r, "eviction")->group, "policy");

    T_CHECK(fl_kube_resources_find_kind(reg, "apps", "Deployment") ==
            fl_kube_resources_find(reg, "apps", "v1", "deployments"));
    T_CHECK(fl_kube_resources_find_gvk(reg, "apps/v1", "StatefulSet") ==
            fl_kube_resources_find(reg, "apps", "v1", "statefulsets"));
    T_CHECK(fl_kube_resources_find_gvk(reg, "v1", "Node") ==
            fl_kube_resources_find(reg, "", "v1", "nodes"));
    T_CHECK(fl_kube_resources_find_gvk(reg, "apps/v2", "Deployment") == NULL);
    T_CHECK(fl_kube_resources_find(reg, "apps", "v1", "pods") == NULL);

    T_EQ_STR(fl_kube_resources_resolve(reg, "po")->resource, "pods");
    T_EQ_STR(fl_kube_resources_resolve(reg, "Pod")->resource, "pods");
    T_EQ_STR(fl_kube_resources_resolve(reg, "deploy")->resource, "deployments");
    T_EQ_STR(fl_kube_resources_resolve(reg, "deployments.apps")->group, "apps");
    T_EQ_STR(fl_kube_resources_resolve(reg, "deployment.v1.apps")->resource, "deployments");
    T_EQ_STR(fl_kube_resources_resolve(reg, "crd")->resource, "customresourcedefinitions");
    T_EQ_STR(fl_kube_resources_resolve(reg, "quota")->resource, "resourcequotas");
    /* "events" exists in core and events.k8s.io: core first */
    T_EQ_STR(fl_kube_resources_resolve(reg, "ev")->group, "");
    T_EQ_STR(fl_kube_resources_resolve(reg, "events.events.k8s.io")->group, "events.k8s.io");
    T_CHECK(fl_kube_resources_resolve(reg, "deploy.batch") == NULL);
    T_CHECK(fl_kube_resources_resolve(reg, "nothing") == NULL);

    size_t n = fl_kube_resources_list(reg, NULL, 0);
    T_CHECK(n >= 20);
    const fl_kube_resource *some[4];
    T_EQ_INT(fl_kube_resources_list(reg, some, 4), n);
    T_EQ_STR(some[0]->group, "");
}

static void test_paths(const fl_kube_resources *reg)
{
    char p[256];
    const fl_kube_resource *pods = fl_kube_resources_find(reg, "", "v1", "pods");
    const fl_kube_resource *dep = fl_kube_resources_find(reg, "apps", "v1", "deployments");
    const fl_kube_resource *nodes = fl_kube_resources_find(reg, "", "v1", "nodes");
    T_EQ_INT(fl_kube_resource_path(pods, NULL, NULL, NULL, p, sizeof p), 0);
    T_EQ_STR(p, "/api/v1/pods");
    T_EQ_INT(fl_kube_resource_path(pods, "ns", NULL, NULL, p, sizeof p), 0);
    T_EQ_STR(p, "/api/v1/namespaces/ns/pods");
    T_EQ_INT(fl_kube_resource_path(pods, "ns", "web-0", "status", p, sizeof p), 0);
    T_EQ_STR(p, "/api/v1/namespaces/ns/pods/web-0/status");
    T_EQ_INT(fl_kube_resource_path(dep, "default", "web", "scale", p, sizeof p), 0);
    T_EQ_STR(p, "/apis/apps/v1/namespaces/default/deployments/web/scale");
    T_EQ_INT(fl_kube_resource_path(dep, NULL, NULL, NULL, p, sizeof p), 0);
    T_EQ_STR(p, "/apis/apps/v1/deployments");
    T_EQ_INT(fl_kube_resource_path(nodes, "ignored", "node-1", NULL, p, sizeof p), 0);
    T_EQ_STR(p, "/api/v1/nodes/node-1");
    T_EQ_INT(fl_kube_resource_path(pods, "ns", NULL, "status", p, sizeof p), -EINVAL);
    snprintf(p, sizeof p, "unchanged");
    T_EQ_INT(fl_kube_resource_path(dep, "default", "web", NULL, p, 10), -E2BIG);
    T_EQ_STR(p, "unchanged");
}

static void test_crd(fl_kube_resources *reg)
{
    fl_err err = FL_ERR_INIT;
    json_t *crd = golden_body("04-responses/crd-get-established.json"), *doc = NULL, *gold;
    uint64_t gen = fl_kube_resources_generation(reg);
    T_CHECK(crd != NULL);
    T_EQ_INT(fl_kube_resources_add_crd(reg, crd, &err), 0);
    T_CHECK(fl_kube_resources_generation(reg) > gen);
    const fl_kube_resource *w = fl_kube_resources_find(reg, "example.com", "v1", "widgets");
    T_CHECK(w != NULL);
    if (!w)
        goto out;
    T_EQ_STR(w->kind, "Widget");
    T_EQ_STR(w->list_kind, "WidgetList");
    T_EQ_INT(w->origin, FL_KUBE_ORIGIN_CRD);
    T_CHECK(w->schema != NULL && json_object_get(w->schema, "properties") != NULL);
    T_EQ_INT(json_array_size(w->printer_columns), 4);
    T_EQ_STR(fl_obj_str(w->crd_scale, "specReplicasPath"), ".spec.size");
    T_EQ_STR(fl_obj_str(w->crd_scale, "statusReplicasPath"), ".status.replicas");
    T_CHECK(fl_kube_resources_find(reg, "apps", "v1", "deployments")->crd_scale == NULL);
    T_EQ_STR(fl_kube_resources_resolve(reg, "wd")->resource, "widgets");
    T_EQ_STR(fl_kube_resources_resolve(reg, "widget")->resource, "widgets");

    check_resource_list(reg, "example.com", "v1", "01-discovery/apis-example.com-v1.crd.json");
    gold = golden_body("01-discovery/apis-example.com-v1.crd.json");
    T_EQ_INT(fl_kube_discovery_resources(reg, "example.com", "v1", NULL, NULL, &doc), 0);
    T_CHECK(same(doc, gold, "example.com/v1 list"));
    json_decref(doc);
    json_decref(gold);
    gold = golden_body("01-discovery/apis-example.com-group.crd.json");
    T_EQ_INT(fl_kube_discovery_group(reg, "example.com", NULL, NULL, &doc), 0);
    T_CHECK(same(doc, gold, "/apis/example.com"));
    json_decref(doc);
    json_decref(gold);
    check_apis(reg, "01-discovery/apis.after-crd.json", 7);

    /* re-adding the same definition changes nothing */
    gen = fl_kube_resources_generation(reg);
    T_EQ_INT(fl_kube_resources_add_crd(reg, crd, &err), 0);
    T_CHECK(fl_kube_resources_find(reg, "example.com", "v1", "widgets") == w);
    T_EQ_INT(fl_kube_resources_generation(reg), gen);
    /* a changed one replaces it; the old pointer stays readable */
    json_t *changed = json_deep_copy(crd);
    json_array_append_new(fl_obj_get(changed, "spec.names.shortNames"), json_string("wdg"));
    T_EQ_INT(fl_kube_resources_add_crd(reg, changed, &err), 0);
    T_CHECK(fl_kube_resources_generation(reg) > gen);
    const fl_kube_resource *w2 = fl_kube_resources_find(reg, "example.com", "v1", "widgets");
    T_CHECK(w2 != NULL && w2 != w);
    T_EQ_STR(fl_kube_resources_resolve(reg, "wdg")->kind, "Widget");
    T_EQ_STR(w->kind, "Widget");
    T_CHECK(w->short_names[1] == NULL);
    json_decref(changed);
    T_EQ_INT(fl_kube_resources_add_crd(reg, crd, &err), 0);

    T_EQ_INT(fl_kube_resources_remove_crd(reg, "example.com", "widgets"), 0);
    T_CHECK(fl_kube_resources_find(reg, "example.com", "v1", "widgets") == NULL);
    T_EQ_INT(fl_kube_resources_remove_crd(reg, "example.com", "widgets"), FL_ENOTFOUND);
    doc = NULL;
    T_EQ_INT(fl_kube_discovery_group(reg, "example.com", NULL, NULL, &doc), FL_ENOTFOUND);
    check_apis(reg, "01-discovery/apis.json", 6);

    /* errors */
    json_t *bad = json_pack("{s:{s:s}}", "spec", "group", "x.io");
    T_EQ_INT(fl_kube_resources_add_crd(reg, bad, &err), FL_EPARSE);
    T_CHECK(strstr(err.msg, "names") != NULL);
    json_decref(bad);
    bad = json_pack("{s:{s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:b}]}}", "spec", "group", "", "scope",
                    "Namespaced", "names", "plural", "pods", "kind", "Pod", "versions", "name",
                    "v1", "served", 1);
    T_EQ_INT(fl_kube_resources_add_crd(reg, bad, &err), FL_EPARSE);
    json_decref(bad);
out:
    json_decref(crd);
}

/* Multi-version CRD: served versions only, preferred = highest priority. */
static void test_crd_versions(fl_kube_resources *reg)
{
    fl_err err = FL_ERR_INIT;
    json_t *crd = json_pack(
        "{s:{s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:b, s:b}, {s:s, s:b, s:b}, {s:s, s:b, s:b}]}}",
        "spec", "group", "multi.io", "scope", "Cluster", "names", "plural", "gadgets", "kind",
        "Gadget", "versions", "name", "v1beta1", "served", 1, "storage", 0, "name", "v1", "served",
        1, "storage", 1, "name", "v1alpha1", "served", 0, "storage", 0);
    json_t *doc = NULL;
    T_EQ_INT(fl_kube_resources_add_crd(reg, crd, &err), 0);
    T_EQ_INT(fl_kube_discovery_group(reg, "multi.io", NULL, NULL, &doc), 0);
    T_EQ_STR(fl_obj_str(doc, "preferredVersion.version"), "v1");
    T_EQ_INT(json_array_size(json_object_get(doc, "versions")), 2);
    T_EQ_STR(json_string_value(
                 json_object_get(json_array_get(json_object_get(doc, "versions"), 1), "version")),
             "v1beta1");
    const fl_kube_resource *g = fl_kube_resources_find(reg, "multi.io", "v1beta1", "gadgets");
    T_CHECK(g && !g->namespaced && strcmp(g->singular, "gadget") == 0);
    T_CHECK(fl_kube_resources_find(reg, "multi.io", "v1alpha1", "gadgets") == NULL);
    T_EQ_INT(fl_kube_resources_remove_crd(reg, "multi.io", "gadgets"), 0);
    json_decref(doc);
    json_decref(crd);
}

/* A registry learnt from member discovery reproduces the golden lists. */
static void test_from_discovery(void)
{
    static const char *files[] = {"01-discovery/api-v1.json", "01-discovery/apis-apps-v1.json",
                                  "01-discovery/apis-batch-v1.json",
                                  "01-discovery/apis-example.com-v1.crd.json"};
    static const char *gvs[][2] = {
        {"", "v1"}, {"apps", "v1"}, {"batch", "v1"}, {"example.com", "v1"}};
    fl_kube_resources *reg = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_kube_resources_new(false, &reg), 0);
    for (size_t i = 0; i < FL_ARRAY_LEN(files); i++) {
        json_t *gold = golden_body(files[i]), *doc = NULL;
        int n = fl_kube_resources_add_discovery(reg, gold, &err);
        T_CHECK(n > 0);
        T_EQ_INT(fl_kube_resources_add_discovery(reg, gold, &err), 0); /* idempotent */
        T_EQ_INT(fl_kube_discovery_resources(reg, gvs[i][0], gvs[i][1], NULL, NULL, &doc), 0);
        T_CHECK(same(doc, gold, files[i]));
        json_decref(doc);
        json_decref(gold);
    }
    const fl_kube_resource *d = fl_kube_resources_find(reg, "apps", "v1", "deployments");
    T_CHECK(d && d->origin == FL_KUBE_ORIGIN_DISCOVERY);
    T_CHECK(d && fl_kube_resource_sub(d, "scale") &&
            strcmp(fl_kube_resource_sub(d, "scale")->group, "autoscaling") == 0);
    json_t *bad = json_pack("{s:s, s:[{s:s}]}", "groupVersion", "x/v1", "resources", "name", "a");
    T_EQ_INT(fl_kube_resources_add_discovery(reg, bad, &err), FL_EPARSE);
    json_decref(bad);
    fl_kube_resources_free(reg);
}

/* Readers race a writer that adds and removes a CRD: borrowed pointers
 * stay readable (entries are retained), lookups never see half an entry. */
typedef struct race {
    fl_kube_resources *reg;
    int stop;
} race;

static void *reader(void *arg)
{
    race *r = arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        const fl_kube_resource *w = fl_kube_resources_resolve(r->reg, "wd");
        if (w && (strcmp(w->kind, "Widget") != 0 || w->n_subresources != 2))
            abort(); /* a half-built entry */
        json_t *doc = NULL;
        if (fl_kube_discovery_apis(r->reg, NULL, NULL, &doc) == 0)
            json_decref(doc);
    }
    return NULL;
}

static void test_concurrency(void)
{
    race r = {NULL, 0};
    fl_err err = FL_ERR_INIT;
    json_t *crd = golden_body("04-responses/crd-get-established.json");
    pthread_t th[2];
    T_EQ_INT(fl_kube_resources_new(true, &r.reg), 0);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, &r);
    for (int i = 0; i < 300; i++) {
        T_EQ_INT(fl_kube_resources_add_crd(r.reg, crd, &err), 0);
        T_EQ_INT(fl_kube_resources_remove_crd(r.reg, "example.com", "widgets"), 0);
    }
    T_EQ_INT(fl_kube_resources_add_crd(r.reg, crd, &err), 0);
    /* retained entries count against the cap: 301 added, 1 live */
    T_EQ_INT(fl_kube_resources_list(r.reg, NULL, 0), 24);
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    T_CHECK(fl_kube_resources_resolve(r.reg, "wd") != NULL);
    fl_kube_resources_free(r.reg);
    json_decref(crd);
}

int main(void)
{
    fl_kube_resources *reg = NULL;
    T_EQ_INT(fl_kube_resources_new(true, &reg), 0);
    if (!reg)
        return t_done();
    test_lookups(reg);
    test_paths(reg);
    test_discovery_builtin(reg);
    check_apis(reg, "01-discovery/apis.json", 6);
    test_filter(reg);
    test_crd(reg);
    test_crd_versions(reg);
    test_from_discovery();
    test_concurrency();
    fl_kube_resources_free(reg);
    fl_kube_resources_free(NULL);
    return t_done();
}
