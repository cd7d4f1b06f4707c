/*
 * kube/discovery.c: the legacy (non-aggregated) discovery documents of
 * kube-apiserver v1.26 built from a resource registry: /api, /apis,
 * /apis/<g>, /api/v1, /apis/<g>/<v> and /version (golden 01-discovery/).
 * Works only through the registry's public API; knows nothing of HTTP.
 */
#include "kube/resource.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A snapshot of the live entries that pass the filter. */
typedef struct snap {
    const fl_kube_resource **r;
    size_t n;
} snap;

static int snap_take(const fl_kube_resources *reg, fl_kube_resource_filter filter, void *ud,
                     snap *s)
{
    size_t total = fl_kube_resources_list(reg, NULL, 0), n = 0;
    const fl_kube_resource **all = fl_calloc(total + 1, sizeof *all);
    if (!all)
        return -ENOMEM;
    /* the registry may have grown meanwhile: list clamps to what fits */
    size_t got = fl_kube_resources_list(reg, all, total);
    if (got > total)
        got = total;
    for (size_t i = 0; i < got; i++)
        if (!filter || filter(all[i], ud))
            all[n++] = all[i];
    s->r = all;
    s->n = n;
    return 0;
}

/* Append b to arr (stealing the reference); false on ENOMEM. */
static bool push(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
}

static bool set(json_t *obj, const char *k, json_t *v)
{
    return v && json_object_set_new(obj, k, v) == 0;
}

static json_t *str_array(const char *const *list)
{
    json_t *a = json_array();
    for (size_t i = 0; a && list && list[i]; i++)
        if (!push(a, json_string(list[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

int fl_kube_discovery_api(const char *server_address, json_t **out)
{
    json_t *v = json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
                          "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
                          server_address ? server_address : "");
    if (!v)
        return -ENOMEM;
    *out = v;
    return 0;
}

static json_t *gv_json(const char *group, const char *version)
{
    char gv[2 * FL_KUBE_NAME_MAX + 2];
    snprintf(gv, sizeof gv, "%s/%s", group, version);
    return json_pack("{s:s, s:s}", "groupVersion", gv, "version", version);
}

static bool seen_version(const snap *s, size_t upto, const char *group, const char *version)
{
    for (size_t i = 0; i < upto; i++)
        if (strcmp(s->r[i]->group, group) == 0 && strcmp(s->r[i]->version, version) == 0)
            return true;
    return false;
}

/* {"name":g,"versions":[...],"preferredVersion":{...}} or NULL (none/ENOMEM). */
static json_t *group_json(const snap *s, const char *group)
{
    json_t *g = json_object(), *versions = json_array();
    const char *preferred = NULL;
    bool ok = g && versions;
    for (size_t i = 0; ok && i < s->n; i++) {
        const fl_kube_resource *r = s->r[i];
        if (strcmp(r->group, group) != 0 || seen_version(s, i, group, r->version))
            continue;
        if (!preferred)
            preferred = r->version;
        ok = push(versions, gv_json(group, r->version));
    }
    ok = ok && preferred && set(g, "name", json_string(group));
    ok = ok && set(g, "versions", json_incref(versions));
    ok = ok && set(g, "preferredVersion", gv_json(group, preferred));
    json_decref(versions);
    if (!ok) {
        json_decref(g);
        return NULL;
    }
    return g;
}

static bool seen_group(const snap *s, size_t upto, const char *group)
{
    for (size_t i = 0; i < upto; i++)
        if (strcmp(s->r[i]->group, group) == 0)
            return true;
    return false;
}

int fl_kube_discovery_apis(const fl_kube_resources *reg, fl_kube_resource_filter filter, void *ud,
                           json_t **out)
{
    snap s = {0};
    json_t *doc = NULL, *groups = NULL;
    int rc = snap_take(reg, filter, ud, &s);
    if (rc < 0)
        return rc;
    rc = -ENOMEM;
    doc = json_pack("{s:s, s:s}", "kind", "APIGroupList", "apiVersion", "v1");
    groups = json_array();
    if (!doc || !groups)
        goto out;
    for (size_t i = 0; i < s.n; i++) {
        const char *g = s.r[i]->group;
        if (!g[0] || seen_group(&s, i, g))
            continue;
        if (!push(groups, group_json(&s, g)))
            goto out;
    }
    if (!set(doc, "groups", json_incref(groups)))
        goto out;
    *out = json_incref(doc);
    rc = 0;
out:
    json_decref(groups);
    json_decref(doc);
    free(s.r);
    return rc;
}

int fl_kube_discovery_group(const fl_kube_resources *reg, const char *group,
                            fl_kube_resource_filter filter, void *ud, json_t **out)
{
    snap s = {0};
    json_t *doc = NULL, *g = NULL;
    int rc = snap_take(reg, filter, ud, &s);
    if (rc < 0)
        return rc;
    rc = FL_ENOTFOUND;
    if (!group || !group[0] || !seen_group(&s, s.n, group))
        goto out;
    rc = -ENOMEM;
    g = group_json(&s, group);
    doc = json_pack("{s:s, s:s}", "kind", "APIGroup", "apiVersion", "v1");
    if (!g || !doc || json_object_update(doc, g) != 0)
        goto out;
    *out = json_incref(doc);
    rc = 0;
out:
    json_decref(g);
    json_decref(doc);
    free(s.r);
    return rc;
}

/* The APIResource entry of a top-level resource. */
static json_t *resource_json(const fl_kube_resource *r)
{
    json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->resource, "singularName",
                          r->discovery_singular ? r->discovery_singular : "", "namespaced",
                          r->namespaced, "kind", r->kind, "verbs", str_array(r->verbs));
    bool ok = o != NULL;
    if (ok && r->short_names && r->short_names[0])
        ok = set(o, "shortNames", str_array(r->short_names));
    if (ok && r->categories && r->categories[0])
        ok = set(o, "categories", str_array(r->categories));
    if (ok && r->storage_version_hash)
        ok = set(o, "storageVersionHash", json_string(r->storage_version_hash));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The "pods/status" entry. */
static json_t *subresource_json(const fl_kube_resource *r, const fl_kube_subresource *sr)
{
    char name[2 * FL_KUBE_NAME_MAX + 2];
    json_t *o;
    bool ok;
    snprintf(name, sizeof name, "%s/%s", r->resource, sr->name);
    o = json_pack("{s:s, s:s, s:b}", "name", name, "singularName", "", "namespaced", r->namespaced);
    ok = o != NULL;
    if (ok && sr->group && sr->group[0])
        ok = set(o, "group", json_string(sr->group));
    if (ok && sr->version && sr->version[0])
        ok = set(o, "version", json_string(sr->version));
    ok = ok && set(o, "kind", json_string(sr->kind));
    ok = ok && set(o, "verbs", str_array(sr->verbs));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int cmp_plural(const void *a, const void *b)
{
    const fl_kube_resource *ra = *(const fl_kube_resource *const *)a;
    const fl_kube_resource *rb = *(const fl_kube_resource *const *)b;
    return strcmp(ra->resource, rb->resource);
}

/* Keep only the entries of group/version, sorted by plural. */
static void snap_keep_gv(snap *s, const char *group, const char *version)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->r[i]->group, group) == 0 && strcmp(s->r[i]->version, version) == 0)
            s->r[n++] = s->r[i];
    s->n = n;
    if (n > 1)
        qsort(s->r, n, sizeof *s->r, cmp_plural);
}

int fl_kube_discovery_resources(const fl_kube_resources *reg, const char *group,
                                const char *version, fl_kube_resource_filter filter, void *ud,
                                json_t **out)
{
    snap s = {0};
    json_t *doc = NULL, *list = NULL;
    char gv[2 * FL_KUBE_NAME_MAX + 2];
    const char *g = group ? group : "";
    int rc = snap_take(reg, filter, ud, &s);
    if (rc < 0)
        return rc;
    snap_keep_gv(&s, g, version ? version : "");
    rc = FL_ENOTFOUND;
    if (s.n == 0)
        goto out;
    rc = -ENOMEM;
    snprintf(gv, sizeof gv, "%s%s%s", g, g[0] ? "/" : "", version);
    doc = g[0] ? json_pack("{s:s, s:s, s:s}", "kind", "APIResourceList", "apiVersion", "v1",
                           "groupVersion", gv)
               : json_pack("{s:s, s:s}", "kind", "APIResourceList", "groupVersion", gv);
    list = json_array();
    if (!doc || !list)
        goto out;
    for (size_t i = 0; i < s.n; i++) {
        if (!push(list, resource_json(s.r[i])))
            goto out;
        for (size_t j = 0; j < s.r[i]->n_subresources; j++)
            if (!push(list, subresource_json(s.r[i], &s.r[i]->subresources[j])))
                goto out;
    }
    if (!set(doc, "resources", json_incref(list)))
        goto out;
    *out = json_incref(doc);
    rc = 0;
out:
    json_decref(list);
    json_decref(doc);
    free(s.r);
    return rc;
}

/* "v1.26.0" -> major "1", minor "26" (empty when it does not parse). */
static void major_minor(const char *gv, char *major, char *minor, size_t size)
{
    const char *p = gv[0] == 'v' ? gv + 1 : gv;
    size_t i = 0;
    major[0] = minor[0] = 0;
    while (p[i] >= '0' && p[i] <= '9' && i + 1 < size) {
        major[i] = p[i];
        major[i + 1] = 0;
        i++;
    }
    if (p[i] != '.')
        return;
    p += i + 1;
    for (i = 0; p[i] >= '0' && p[i] <= '9' && i + 1 < size; i++) {
        minor[i] = p[i];
        minor[i + 1] = 0;
    }
}

int fl_kube_discovery_version(const fl_kube_version_info *info, json_t **out)
{
    fl_kube_version_info d = info ? *info : (fl_kube_version_info)FL_KUBE_VERSION_INFO_INIT;
    char major[16], minor[16];
    const char *git = d.git_version ? d.git_version : "v1.26.0";
    major_minor(git, major, minor, sizeof major);
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", major, "minor",
                          minor, "gitVersion", git, "gitCommit",
                          d.git_commit ? d.git_commit : "8f94681cd294aa8cfd3407b8191f6c70214973a4",
                          "gitTreeState", "", "buildDate",
                          d.build_date ? d.build_date : "1970-01-01T00:00:00Z", "goVersion",
                          d.go_version ? d.go_version : "go1.19.8", "compiler", "gc", "platform",
                          d.platform ? d.platform : "linux/amd64");
    if (!v)
        return -ENOMEM;
    *out = v;
    return 0;
}
