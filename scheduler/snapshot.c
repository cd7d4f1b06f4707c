/*
 * scheduler/snapshot.c: the fleet's capacity as placement reads it — every
 * node's readiness, taints, labels and allocatable resources, and what its
 * non-terminal pods request, read once from the index (one reader
 * snapshot) into flat arrays. The only file of the engine that does I/O,
 * and only in fl_sched_snapshot_load. Answers "how many more replicas of
 * this pod spec fit in cluster X" from memory, cached per request shape
 * (requests, nodeSelector, required node affinity, tolerations), so ten
 * thousand decisions do not rescan five hundred thousand nodes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

#define SNAP_MAX_RES 32
#define SNAP_MAX_SHAPES 4096

typedef struct snode {
    uint32_t cluster;
    bool ok;        /* Ready and schedulable */
    json_t *taints; /* NULL when none */
    json_t *labels; /* NULL until labels are loaded, or none */
    char *name;
} snode;

typedef struct shape {
    char *key;
    int64_t *avail; /* per cluster */
} shape;

struct fl_sched_snapshot {
    char **clusters;
    size_t n_clusters, cap_clusters;
    size_t *first, *count; /* node range per cluster (nodes come sorted by cluster, name) */
    snode *nodes;
    size_t n_nodes, cap_nodes;
    char *res[SNAP_MAX_RES];
    size_t n_res;
    int64_t *alloc, *used; /* n_nodes × SNAP_MAX_RES, milli-units; used "pods" = count × 1000 */
    bool labels;
    shape *shapes;
    size_t n_shapes;
    fl_sched_snapshot_stats stats;
};

static int res_id(fl_sched_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n_res; i++)
        if (strcmp(s->res[i], name) == 0)
            return (int)i;
    if (s->n_res == SNAP_MAX_RES)
        return -1;
    s->res[s->n_res] = strdup(name);
    return s->res[s->n_res] ? (int)s->n_res++ : -1;
}

static int res_find(const fl_sched_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n_res; i++)
        if (strcmp(s->res[i], name) == 0)
            return (int)i;
    return -1;
}

static int cluster_id(fl_sched_snapshot *s, const char *name, uint32_t *out)
{
    if (s->n_clusters > 0 && strcmp(s->clusters[s->n_clusters - 1], name) == 0) {
        *out = (uint32_t)(s->n_clusters - 1);
        return 0;
    }
    for (size_t i = 0; i < s->n_clusters; i++)
        if (strcmp(s->clusters[i], name) == 0) {
            *out = (uint32_t)i;
            return 0;
        }
    if (s->n_clusters == s->cap_clusters) {
        size_t nc = s->cap_clusters ? 2 * s->cap_clusters : 16;
        char **c = realloc(s->clusters, nc * sizeof *c);
        size_t *f = realloc(s->first, nc * sizeof *f);
        if (c)
            s->clusters = c;
        if (f)
            s->first = f;
        size_t *n = realloc(s->count, nc * sizeof *n);
        if (n)
            s->count = n;
        if (!c || !f || !n)
            return -ENOMEM;
        s->cap_clusters = nc;
    }
    if (!(s->clusters[s->n_clusters] = strdup(name)))
        return -ENOMEM;
    s->first[s->n_clusters] = s->n_nodes;
    s->count[s->n_clusters] = 0;
    *out = (uint32_t)s->n_clusters++;
    return 0;
}

static int grow_nodes(fl_sched_snapshot *s)
{
    if (s->n_nodes < s->cap_nodes)
        return 0;
    size_t nc = s->cap_nodes ? 2 * s->cap_nodes : 1024;
    snode *n = realloc(s->nodes, nc * sizeof *n);
    if (n)
        s->nodes = n;
    int64_t *a = realloc(s->alloc, nc * SNAP_MAX_RES * sizeof *a);
    if (a)
        s->alloc = a;
    int64_t *u = realloc(s->used, nc * SNAP_MAX_RES * sizeof *u);
    if (u)
        s->used = u;
    if (!n || !a || !u)
        return -ENOMEM;
    s->cap_nodes = nc;
    return 0;
}

static int on_node(void *arg, const fl_index_node *n)
{
    fl_sched_snapshot *s = arg;
    uint32_t c;
    int rc;
    if ((rc = cluster_id(s, n->cluster, &c)) != 0 || (rc = grow_nodes(s)) != 0)
        return rc;
    snode *x = &s->nodes[s->n_nodes];
    memset(x, 0, sizeof *x);
    x->cluster = c;
    x->ok = n->ready && !n->unschedulable;
    if (!(x->name = strdup(n->name)))
        return -ENOMEM;
    if (n->taints_json && strcmp(n->taints_json, "[]") != 0)
        x->taints = json_loads(n->taints_json, 0, NULL);
    int64_t *al = &s->alloc[s->n_nodes * SNAP_MAX_RES], *us = &s->used[s->n_nodes * SNAP_MAX_RES];
    memset(al, 0, SNAP_MAX_RES * sizeof *al);
    memset(us, 0, SNAP_MAX_RES * sizeof *us);
    for (size_t i = 0; i < n->n_resources; i++) {
        int id = res_id(s, n->resources[i]);
        if (id >= 0)
            al[id] = n->allocatable[i];
    }
    s->count[c]++;
    s->n_nodes++;
    return 0;
}

/* The node of cluster c named name (binary search in its range), or NULL. */
static snode *find_node(fl_sched_snapshot *s, uint32_t c, const char *name, size_t *at)
{
    size_t lo = s->first[c], hi = lo + s->count[c];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(s->nodes[mid].name, name);
        if (cmp == 0) {
            *at = mid;
            return &s->nodes[mid];
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Clusters come from fl_index_nodes in name order: binary search. */
static bool find_cluster(const fl_sched_snapshot *s, const char *name, size_t *out)
{
    size_t lo = 0, hi = s->n_clusters;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(s->clusters[mid], name);
        if (cmp == 0) {
            *out = mid;
            return true;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int on_usage(void *arg, const fl_index_usage *u)
{
    fl_sched_snapshot *s = arg;
    size_t at, c;
    int id;
    if (find_cluster(s, u->cluster, &c) && find_node(s, (uint32_t)c, u->key, &at) &&
        (id = res_id(s, u->resource)) >= 0)
        s->used[at * SNAP_MAX_RES + (size_t)id] += u->requests;
    return 0;
}

static int on_node_row(void *arg, const fl_index_row *row)
{
    fl_sched_snapshot *s = arg;
    size_t at, c;
    snode *n = find_cluster(s, row->cluster, &c) ? find_node(s, (uint32_t)c, row->name, &at) : NULL;
    if (n && !n->labels) {
        json_t *o = json_loadb(row->json, row->json_len, 0, NULL);
        json_t *l = fl_obj_get(o, "metadata.labels");
        if (json_is_object(l))
            n->labels = json_incref(l);
        json_decref(o);
    }
    return 0;
}

int fl_sched_snapshot_load(fl_index_reader *r, const fl_sched_snapshot_opts *opts,
                           fl_sched_snapshot **out, fl_err *err)
{
    fl_sched_snapshot *s = calloc(1, sizeof *s);
    int rc;
    if (!s)
        return fl_err_set(err, -ENOMEM, "out of memory");
    s->labels = opts ? opts->labels : true;
    if ((rc = fl_index_reader_begin(r)) != 0) {
        free(s);
        return fl_err_set(err, rc, "index snapshot failed");
    }
    int64_t t0 = fl_mono_ms();
    rc = fl_index_nodes(r, NULL, on_node, s, err);
    if (rc == 0)
        rc = fl_index_usage_by_node(r, NULL, on_usage, s, err);
    if (rc == 0 && s->labels) {
        fl_index_query q = FL_INDEX_QUERY_INIT;
        q.group = "";
        q.resource = "nodes";
        rc = fl_index_list(r, &q, on_node_row, s, NULL, err);
    }
    fl_index_reader_end(r);
    s->stats.load_ms = fl_mono_ms() - t0;
    s->stats.nodes = s->n_nodes;
    s->stats.clusters = s->n_clusters;
    if (rc) {
        if (rc == -ENOMEM)
            fl_err_set(err, rc, "out of memory");
        fl_sched_snapshot_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void fl_sched_snapshot_free(fl_sched_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_nodes; i++) {
        free(s->nodes[i].name);
        json_decref(s->nodes[i].taints);
        json_decref(s->nodes[i].labels);
    }
    for (size_t i = 0; i < s->n_clusters; i++)
        free(s->clusters[i]);
    for (size_t i = 0; i < s->n_res; i++)
        free(s->res[i]);
    for (size_t i = 0; i < s->n_shapes; i++) {
        free(s->shapes[i].key);
        free(s->shapes[i].avail);
    }
    free(s->shapes);
    free(s->clusters);
    free(s->first);
    free(s->count);
    free(s->nodes);
    free(s->alloc);
    free(s->used);
    free(s);
}

/* The part of a pod spec that decides where it fits, as a canonical key. */
static char *shape_key(const json_t *pod_spec)
{
    json_t *req = fl_sched_requests_json(pod_spec);
    json_t *k = json_pack("{s:o,s:O?,s:O?,s:O?}", "r", req ? req : json_object(), "s",
                          json_object_get(pod_spec, "nodeSelector"), "a",
                          fl_obj_get(pod_spec, "affinity.nodeAffinity"), "t",
                          json_object_get(pod_spec, "tolerations"));
    char *s = k ? json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(k);
    return s;
}

static int compute_shape(fl_sched_snapshot *s, const json_t *pod_spec, int64_t *avail)
{
    json_t *reqs = fl_sched_requests_json(pod_spec);
    int ids[SNAP_MAX_RES];
    int64_t want[SNAP_MAX_RES];
    size_t nreq = 0;
    const char *k;
    const json_t *v;
    bool impossible = false;
    json_object_foreach(reqs, k, v) {
        int64_t m = fl_sched_milli(v);
        if (m <= 0 || strcmp(k, "pods") == 0)
            continue;
        int id = res_find(s, k);
        if (id < 0) { /* no node has it: nothing fits */
            impossible = true;
            break;
        }
        ids[nreq] = id;
        want[nreq++] = m;
        if (nreq == SNAP_MAX_RES)
            break;
    }
    json_decref(reqs);
    int pods = res_find(s, "pods");
    bool claim = json_object_get(pod_spec, "nodeSelector") ||
                 fl_obj_get(pod_spec, "affinity.nodeAffinity");
    if (claim && !s->labels)
        return -EINVAL;
    for (size_t c = 0; c < s->n_clusters; c++)
        avail[c] = 0;
    if (impossible)
        return 0;
    for (size_t i = 0; i < s->n_nodes; i++) {
        const snode *n = &s->nodes[i];
        if (!n->ok)
            continue;
        if (n->taints && !fl_sched_tolerates(json_object_get(pod_spec, "tolerations"), n->taints, NULL))
            continue;
        if (claim && !fl_sched_node_claim_matches(pod_spec, n->labels))
            continue;
        const int64_t *al = &s->alloc[i * SNAP_MAX_RES], *us = &s->used[i * SNAP_MAX_RES];
        int64_t fit = pods >= 0 ? (al[pods] - us[pods]) / 1000 : 0;
        for (size_t x = 0; x < nreq && fit > 0; x++) {
            int64_t f = (al[ids[x]] - us[ids[x]]) / want[x];
            if (f < fit)
                fit = f;
        }
        if (fit > 0)
            avail[n->cluster] += fit;
    }
    return 0;
}

/* The shape of pod_spec, computed on first use (NULL with err set on failure). */
static const shape *get_shape(fl_sched_snapshot *s, const json_t *pod_spec, fl_err *err)
{
    char *key = shape_key(pod_spec);
    if (!key) {
        fl_err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < s->n_shapes; i++)
        if (strcmp(s->shapes[i].key, key) == 0) {
            s->stats.hits++;
            free(key);
            return &s->shapes[i];
        }
    if (s->n_shapes == SNAP_MAX_SHAPES) { /* full: start over */
        for (size_t i = 0; i < s->n_shapes; i++) {
            free(s->shapes[i].key);
            free(s->shapes[i].avail);
        }
        s->n_shapes = 0;
    }
    int64_t *avail = calloc(s->n_clusters + 1, sizeof *avail);
    if ((!s->shapes && !(s->shapes = calloc(SNAP_MAX_SHAPES, sizeof *s->shapes))) || !avail) {
        free(key);
        free(avail);
        fl_err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    int64_t t0 = fl_mono_ms();
    int rc = compute_shape(s, pod_spec, avail);
    s->stats.compute_ms += fl_mono_ms() - t0;
    s->stats.misses++;
    if (rc) {
        free(key);
        free(avail);
        fl_err_set(err, rc, "the snapshot was loaded without node labels, and the pod spec "
                            "selects nodes by label");
        return NULL;
    }
    s->shapes[s->n_shapes] = (shape){key, avail};
    return &s->shapes[s->n_shapes++];
}

int fl_sched_snapshot_available_many(fl_sched_snapshot *s, const json_t *pod_spec,
                                     const char *const *clusters, size_t n, int64_t *out,
                                     fl_err *err)
{
    const shape *sh = get_shape(s, pod_spec, err);
    if (!sh)
        return err && err->code ? err->code : -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t c;
        out[i] = find_cluster(s, clusters[i], &c) ? sh->avail[c] : 0; /* no nodes: nothing fits */
    }
    return 0;
}

int fl_sched_snapshot_available(fl_sched_snapshot *s, const char *cluster, const json_t *pod_spec,
                                int64_t *out, fl_err *err)
{
    fl_err e = FL_ERR_INIT;
    int rc = fl_sched_snapshot_available_many(s, pod_spec, &cluster, 1, out, &e);
    if (rc && err)
        *err = e;
    return rc;
}

void fl_sched_snapshot_stats_get(const fl_sched_snapshot *s, fl_sched_snapshot_stats *out)
{
    *out = s->stats;
}
