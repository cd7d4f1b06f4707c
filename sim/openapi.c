/*
 * sim/openapi.c: private stand-in for kube/'s OpenAPI v3 builder until
 * fl_kube_openapi_doc/_hash land: per group-version documents holding the
 * paths and operations kubectl inspects (x-kubernetes-group-version-kind,
 * x-kubernetes-action, the fieldValidation and dryRun query parameters),
 * without component schemas. kubectl then validates on the server
 * (fieldValidation=Strict) and computes apply patches from its compiled-in
 * types. Content hashes are 512-bit FNV-1a based, upper-case hex.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

static json_t *param(const char *name, const char *desc)
{
    return json_pack("{s:s,s:s,s:s,s:{s:s},s:b}", "name", name, "in", "query", "description",
                     desc, "schema", "type", "string", "uniqueItems", 1);
}

static json_t *op(const fl_kube_resource *r, const char *action, const char *id, bool write)
{
    json_t *o = json_pack("{s:[s],s:s,s:s,s:{s:s,s:s,s:s}}", "tags", r->resource, "operationId",
                          id, "x-kubernetes-action", action, "x-kubernetes-group-version-kind",
                          "group", r->group, "version", r->version, "kind", r->kind);
    json_t *params = json_array();
    if (write) {
        json_array_append_new(params, param("dryRun", "When present, indicates that "
                                            "modifications should not be persisted."));
        json_array_append_new(params, param("fieldManager", "fieldManager is a name associated "
                                            "with the actor or entity that is making these "
                                            "changes."));
        json_array_append_new(params, param("fieldValidation", "fieldValidation instructs the "
                                            "server on how to handle objects in the request "
                                            "containing unknown or duplicate fields. Valid values "
                                            "are: Ignore, Warn, Strict."));
    }
    json_object_set_new(o, "parameters", params);
    json_object_set_new(o, "responses", json_pack("{s:{s:s}}", "200", "description", "OK"));
    return o;
}

static void add_paths(json_t *paths, const fl_kube_resource *r)
{
    char base[600], coll[700], item[760], id[200];
    if (*r->group)
        snprintf(base, sizeof(base), "/apis/%s/%s", r->group, r->version);
    else
        snprintf(base, sizeof(base), "/api/%s", r->version);
    snprintf(coll, sizeof(coll), "%s%s/%s", base, r->namespaced ? "/namespaces/{namespace}" : "",
             r->resource);
    snprintf(item, sizeof(item), "%s/{name}", coll);
    snprintf(id, sizeof(id), "%s", r->kind);
    json_object_set_new(paths, coll, json_pack("{s:o,s:o}", "get", op(r, "list", id, false),
                                               "post", op(r, "post", id, true)));
    json_object_set_new(paths, item, json_pack("{s:o,s:o,s:o,s:o}", "get", op(r, "get", id, false),
                                               "put", op(r, "put", id, true), "patch",
                                               op(r, "patch", id, true), "delete",
                                               op(r, "delete", id, false)));
    for (size_t i = 0; i < r->n_subresources; i++) {
        char sub[900];
        snprintf(sub, sizeof(sub), "%s/%s", item, r->subresources[i].name);
        json_object_set_new(paths, sub, json_pack("{s:o}", "get", op(r, "get", id, false)));
    }
}

int sim_openapi_doc(const fl_kube_resources *reg, const char *group, const char *version,
                    json_t **out)
{
    size_t total = fl_kube_resources_list(reg, NULL, 0), found = 0;
    const fl_kube_resource **all = calloc(total + 1, sizeof(*all));
    json_t *paths = json_object();
    if (!all || !paths) {
        free(all);
        json_decref(paths);
        return -ENOMEM;
    }
    size_t n = fl_kube_resources_list(reg, all, total);
    bool crd = false;
    for (size_t i = 0; i < n && i < total; i++) {
        if (strcmp(all[i]->group, group) || strcmp(all[i]->version, version))
            continue;
        crd |= all[i]->origin == FL_KUBE_ORIGIN_CRD;
        add_paths(paths, all[i]);
        found++;
    }
    free(all);
    if (!found) {
        json_decref(paths);
        return FL_ENOTFOUND;
    }
    json_t *doc = json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:{}}}", "openapi", "3.0.0", "info", "title",
                            crd ? "Kubernetes CRD Swagger" : "Kubernetes", "version",
                            crd ? "v0.1.0" : "v1.26.0", "paths", paths, "components", "schemas");
    if (!doc)
        return -ENOMEM;
    *out = doc;
    return 0;
}

int sim_openapi_hash(const json_t *doc, char out[129])
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return -ENOMEM;
    for (int k = 0; k < 8; k++) {
        uint64_t h = 1469598103934665603ull ^ (uint64_t)k * 0x9E3779B97F4A7C15ull;
        for (const char *p = s; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        snprintf(out + 16 * k, 17, "%016llX", (unsigned long long)h);
    }
    free(s);
    return 0;
}
