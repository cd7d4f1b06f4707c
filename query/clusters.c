/*
 * query/clusters.c: member clusters as read-only cluster.karmada.io/v1alpha1
 * Cluster objects (so `kubectl get clusters` works through the search API),
 * built from the daemon's member status (opts.members_fn): name, labels,
 * region/zone/provider (from the labels), the Ready condition, the Kubernetes
 * version and a sync summary.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

/* Karmada's Cluster CRD, reduced to what discovery and Tables need. */
static const char cluster_crd[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"clusters.cluster.karmada.io\"},\"spec\":{\"group\":"
    "\"cluster.karmada.io\",\"scope\":\"Cluster\",\"names\":{\"plural\":\"clusters\","
    "\"singular\":\"cluster\",\"kind\":\"Cluster\",\"listKind\":\"ClusterList\"},"
    "\"versions\":[{\"name\":\"v1alpha1\",\"served\":true,\"storage\":true,"
    "\"additionalPrinterColumns\":["
    "{\"name\":\"Version\",\"type\":\"string\",\"jsonPath\":\".status.kubernetesVersion\"},"
    "{\"name\":\"Mode\",\"type\":\"string\",\"jsonPath\":\".spec.syncMode\"},"
    "{\"name\":\"Ready\",\"type\":\"string\",\"jsonPath\":"
    "\".status.conditions[?(@.type==\\\"Ready\\\")].status\"},"
    "{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"}],"
    "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":"
    "true}}}]}}";

int query_clusters_init(fl_query *q, fl_err *err)
{
    if (!q->members_fn)
        return 0;
    json_t *crd = NULL;
    int rc = fl_json_parse(cluster_crd, sizeof cluster_crd - 1, &crd, err);
    if (!rc)
        rc = fl_kube_resources_add_crd(q->reg, crd, err);
    json_decref(crd);
    if (!rc)
        q->cluster_res =
            fl_kube_resources_find(q->reg, "cluster.karmada.io", "v1alpha1", "clusters");
    return rc;
}

static const char *ready_status(const char *health)
{
    if (health && !strcmp(health, "Ready"))
        return "True";
    if (health && (!strcmp(health, "NotReady") || !strcmp(health, "Unreachable")))
        return "False";
    return "Unknown";
}

static json_t *sync_summary(const json_t *m)
{
    size_t i, watching = 0, n = 0;
    json_t *res;
    char buf[96];
    json_array_foreach(json_object_get(m, "resources"), i, res) {
        const char *ph = fl_obj_str(res, "phase");
        n++;
        watching += ph && !strcmp(ph, "Watching");
    }
    snprintf(buf, sizeof buf, "%zu/%zu resources watching", watching, n);
    return json_string(buf);
}

/* One member status entry as a Cluster object (new reference). */
static json_t *cluster_object(const json_t *m)
{
    const char *name = fl_obj_str(m, "name"), *health = fl_obj_str(m, "health");
    const char *since = fl_obj_str(m, "since"), *ver = fl_obj_str(m, "version");
    const char *err = fl_obj_str(m, "lastError");
    json_t *labels = json_object_get(m, "labels");
    json_t *lab = json_is_object(labels) ? json_deep_copy(labels) : json_object();
    json_t *o =
        json_pack("{s:s,s:s,s:{s:s,s:o,s:{s:o}},s:{s:s},s:{s:s,s:[{s:s,s:s,s:s,s:s}]}}",
                  "apiVersion", "cluster.karmada.io/v1alpha1", "kind", "Cluster", "metadata",
                  "name", name ? name : "", "labels", lab, "annotations", "flotilla.io/sync",
                  sync_summary(m), "spec", "syncMode", "Push", "status", "kubernetesVersion",
                  ver ? ver : "", "conditions", "type", "Ready", "status", ready_status(health),
                  "reason", health ? health : "Unknown", "message", err ? err : "");
    if (!o)
        return NULL;
    const char *keys[] = {"region", "zone", "provider"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(labels, keys[i]));
        if (v)
            json_object_set_new(json_object_get(o, "spec"), keys[i], json_string(v));
    }
    const char *added = fl_obj_str(m, "added");
    if (added)
        json_object_set_new(json_object_get(o, "metadata"), "creationTimestamp",
                            json_string(added));
    if (since)
        json_object_set_new(json_array_get(fl_obj_get(o, "status.conditions"), 0),
                            "lastTransitionTime", json_string(since));
    return o;
}

static void reply_objs(fl_query *q, fl_request *r, json_t *items, const char *name)
{
    if (query_wants_table(r)) {
        fl_kube_table_opts to = FL_KUBE_TABLE_OPTS_INIT;
        json_t *tab = NULL;
        size_t n = json_array_size(items);
        json_t **objs = calloc(n ? n : 1, sizeof *objs);
        for (size_t i = 0; objs && i < n; i++)
            objs[i] = json_array_get(items, i);
        to.resource_version = "0";
        if (objs && fl_kube_table_render(q->cluster_res, objs, n, &to, &tab, NULL) == 0)
            fl_request_reply_json(r, 200, tab);
        else
            fl_request_reply_status(r, 500, "InternalError", "table rendering failed");
        free(objs);
        return;
    }
    if (name) {
        fl_request_reply_json(r, 200, json_incref(json_array_get(items, 0)));
        return;
    }
    fl_request_reply_json(r, 200,
                          json_pack("{s:s,s:s,s:{s:s},s:O}", "kind", "ClusterList", "apiVersion",
                                    "cluster.karmada.io/v1alpha1", "metadata", "resourceVersion",
                                    "0", "items", items));
}

static int cmp_name(const void *a, const void *b)
{
    const char *x = fl_obj_str(*(json_t *const *)a, "metadata.name");
    const char *y = fl_obj_str(*(json_t *const *)b, "metadata.name");
    return strcmp(x ? x : "", y ? y : "");
}

/* items sorted by name, as kube-apiserver lists (etcd key order), not in
 * the config's order. Leaves items as they were if out of memory. */
static void sort_by_name(json_t *items)
{
    size_t n = json_array_size(items);
    json_t **v = n > 1 ? calloc(n, sizeof *v) : NULL;
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(items, i));
    qsort(v, n, sizeof *v, cmp_name);
    json_array_clear(items);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, v[i]);
    free(v);
}

void query_serve_clusters(fl_query *q, fl_request *r, const query_user *u, const char *name)
{
    json_t *st = q->members_fn(q->members_ud), *items = json_array(), *m;
    size_t i;
    json_array_foreach(json_object_get(st, "clusters"), i, m) {
        const char *n = fl_obj_str(m, "name");
        if (!n || (name && strcmp(n, name)) || !query_scope_allows(q, u, n, NULL, NULL, NULL))
            continue;
        json_t *o = cluster_object(m);
        if (o)
            json_array_append_new(items, o);
    }
    sort_by_name(items);
    if (name && json_array_size(items) == 0)
        fl_request_reply_status(r, 404, "NotFound", "clusters.cluster.karmada.io \"%s\" not found",
                                name);
    else
        reply_objs(q, r, items, name);
    json_decref(items);
    json_decref(st);
}
