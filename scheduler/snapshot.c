/*
 * scheduler/snapshot.c: the fleet's capacity as placement reads it — every
 * node's readiness, taints, labels and allocatable resources, and what its
 * non-terminal pods request, read once from the index (one reader
 * snapshot) into flat arrays. The only file of the engine that does I/O,
 * and only in fl_sched_snapshot_load. Answers "how many more replicas of
 * this pod spec fit in cluster X" from memory, cached per request shape
 * (requests, nodeSelector, required node affinity, tolerations), so ten
 * thousand decisions do not rescan five hundred thousand nodes.
 *
 * Layout: nodes sorted by (cluster, name); free capacity per resource as
 * one array per resource (allocatable − requested, milli-units; "pods" =
 * free slots × 1000); labels as one "k\0v\0...\0" string per node. A
 * request shape is (node filter, requests): the node filter (nodeSelector,
 * required node affinity, tolerations, readiness) is a bitmap cached on its
 * own, so shapes that differ only in requests scan only the free arrays.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

#define SNAP_MAX_RES 64
#define SNAP_MAX_SHAPES 4096
#define SNAP_MAX_FILTERS 256

typedef struct snode {
    uint32_t cluster;
    bool ok;        /* Ready and schedulable */
    json_t *taints; /* NULL when none */
    char *labels;   /* "k\0v\0k\0v\0\0", or NULL (none, or not loaded) */
    char *name;
} snode;

typedef struct shape {
    char *key;
    int64_t *avail; /* per cluster */
} shape;

/* The nodes a pod spec may use, collapsed: one entry per distinct (cluster,
 * free capacity of every resource), with how many eligible nodes share it
 * (fleets are mostly identical nodes, so shapes scan thousands of entries,
 * not hundreds of thousands of nodes). */
typedef struct filter {
    char *key;
    size_t n;          /* distinct entries */
    uint32_t *cluster; /* per entry */
    uint32_t *count;   /* per entry: nodes */
    int64_t *free_;    /* n × n_res: free milli-units */
} filter;

static void filter_done(filter *f)
{
    free(f->key);
    free(f->cluster);
    free(f->count);
    free(f->free_);
}

typedef struct pending_res { /* allocatable as read, before the arrays exist */
    uint32_t node;
    uint16_t res;
    int64_t value;
} pending_res;

struct fl_sched_snapshot {
    char **clusters;
    size_t n_clusters, cap_clusters;
    size_t *first, *count; /* node range per cluster (nodes come sorted by cluster, name) */
    snode *nodes;
    size_t n_nodes, cap_nodes;
    char *res[SNAP_MAX_RES];
    size_t n_res;
    int64_t *free_[SNAP_MAX_RES]; /* per resource: n_nodes free milli-units */
    pending_res *pend;
    size_t n_pend, cap_pend;
    bool labels;
    shape *shapes;
    size_t n_shapes;
    filter *filters;
    size_t n_filters;
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
    if (s->n_clusters == s->cap_clusters) {
        size_t nc = s->cap_clusters ? 2 * s->cap_clusters : 16;
        char **c = realloc(s->clusters, nc * sizeof *c);
        if (c)
            s->clusters = c;
        size_t *f = realloc(s->first, nc * sizeof *f);
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

static int on_node(void *arg, const fl_index_node *n)
{
    fl_sched_snapshot *s = arg;
    uint32_t c;
    size_t cap = s->cap_nodes;
    int rc;
    if ((rc = cluster_id(s, n->cluster, &c)) != 0 ||
        (rc = fl_grow(&s->nodes, &cap, s->n_nodes + 1, sizeof *s->nodes)) != 0)
        return rc;
    s->cap_nodes = cap;
    snode *x = &s->nodes[s->n_nodes];
    memset(x, 0, sizeof *x);
    x->cluster = c;
    x->ok = n->ready && !n->unschedulable;
    if (!(x->name = strdup(n->name)))
        return -ENOMEM;
    if (n->taints_json && strcmp(n->taints_json, "[]") != 0)
        x->taints = json_loads(n->taints_json, 0, NULL);
    for (size_t i = 0; i < n->n_resources; i++) {
        int id = res_id(s, n->resources[i]);
        if (id < 0)
            continue;
        if (fl_grow(&s->pend, &s->cap_pend, s->n_pend + 1, sizeof *s->pend) != 0)
            return -ENOMEM;
        s->pend[s->n_pend++] = (pending_res){(uint32_t)s->n_nodes, (uint16_t)id, n->allocatable[i]};
    }
    s->count[c]++;
    s->n_nodes++;
    return 0;
}

/* After the nodes: one free-capacity array per resource, from allocatable. */
static int build_free(fl_sched_snapshot *s)
{
    for (size_t r = 0; r < s->n_res; r++)
        if (!(s->free_[r] = calloc(s->n_nodes + 1, sizeof *s->free_[r])))
            return -ENOMEM;
    for (size_t i = 0; i < s->n_pend; i++)
        s->free_[s->pend[i].res][s->pend[i].node] = s->pend[i].value;
    free(s->pend);
    s->pend = NULL;
    s->n_pend = s->cap_pend = 0;
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
    /* a resource no node offers cannot be requested anyway */
    if (find_cluster(s, u->cluster, &c) && find_node(s, (uint32_t)c, u->key, &at) &&
        (id = res_find(s, u->resource)) >= 0)
        s->free_[id][at] -= u->requests;
    return 0;
}

static int on_node_row(void *arg, const fl_index_row *row)
{
    fl_sched_snapshot *s = arg;
    size_t at, c;
    snode *n = find_cluster(s, row->cluster, &c) ? find_node(s, (uint32_t)c, row->name, &at) : NULL;
    if (n && !n->labels)
        n->labels = fl_sched_scan_labels(row->json, row->json_len);
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
    int64_t t0 = fl_mono_ms(), t1;
    rc = fl_index_nodes(r, NULL, on_node, s, err);
    if (rc == 0)
        rc = build_free(s);
    s->stats.nodes_ms = (t1 = fl_mono_ms()) - t0;
    if (rc == 0)
        rc = fl_index_usage_by_node(r, NULL, on_usage, s, err);
    s->stats.usage_ms = fl_mono_ms() - t1;
    t1 = fl_mono_ms();
    if (rc == 0 && s->labels) {
        fl_index_query q = FL_INDEX_QUERY_INIT;
        q.group = "";
        q.resource = "nodes";
        rc = fl_index_list(r, &q, on_node_row, s, NULL, err);
    }
    s->stats.labels_ms = fl_mono_ms() - t1;
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
        free(s->nodes[i].labels);
    }
    for (size_t i = 0; i < s->n_clusters; i++)
        free(s->clusters[i]);
    for (size_t i = 0; i < s->n_res; i++) {
        free(s->res[i]);
        free(s->free_[i]);
    }
    for (size_t i = 0; i < s->n_filters; i++)
        filter_done(&s->filters[i]);
    free(s->filters);
    free(s->pend);
    for (size_t i = 0; i < s->n_shapes; i++) {
        free(s->shapes[i].key);
        free(s->shapes[i].avail);
    }
    free(s->shapes);
    free(s->clusters);
    free(s->first);
    free(s->count);
    free(s->nodes);
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

static const char *packed_label(const void *ud, const char *key)
{
    for (const char *p = ud; p && *p; p += strlen(p) + 1) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, key) == 0)
            return v;
        p = v;
    }
    return NULL;
}

/* nodeSelector and required node affinity, read once per filter. */
typedef struct claim {
    const json_t *spec;
    const char *key[32], *val[32];
    size_t n;
    bool generic; /* more pairs than fit: ask capacity.c per node */
    bool any;
} claim;

static void claim_init(claim *c, const json_t *spec)
{
    memset(c, 0, sizeof *c);
    c->spec = spec;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(spec, "nodeSelector"), k, v) {
        c->any = true;
        if (c->n == FL_ARRAY_LEN(c->key) || !json_is_string(v)) {
            c->generic = true;
            continue;
        }
        c->key[c->n] = k;
        c->val[c->n++] = json_string_value(v);
    }
    if (fl_obj_get(spec, "affinity.nodeAffinity"))
        c->any = c->generic = true;
}

static bool claim_matches(const claim *c, const char *labels)
{
    if (c->generic)
        return fl_sched_node_claim_matches_fn(c->spec, packed_label, labels);
    for (size_t i = 0; i < c->n; i++) {
        const char *have = packed_label(labels, c->key[i]);
        if (!have || strcmp(have, c->val[i]) != 0)
            return false;
    }
    return true;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

/* Collapse the eligible nodes (ok[i]) into distinct entries. */
static int filter_build(const fl_sched_snapshot *s, const uint8_t *ok, filter *f)
{
    size_t nres = s->n_res, cap = 64, slots = 128, n = 0;
    uint32_t *tab = NULL; /* open addressing: entry index + 1, 0 = empty */
    f->cluster = malloc(cap * sizeof *f->cluster);
    f->count = malloc(cap * sizeof *f->count);
    f->free_ = malloc(cap * (nres + 1) * sizeof *f->free_);
    tab = calloc(slots, sizeof *tab);
    if (!f->cluster || !f->count || !f->free_ || !tab)
        goto fail;
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (!ok[i])
            continue;
        uint32_t c = s->nodes[i].cluster;
        uint64_t h = mix(0, c);
        for (size_t r = 0; r < nres; r++)
            h = mix(h, (uint64_t)s->free_[r][i]);
        size_t at = (size_t)h & (slots - 1);
        for (;; at = (at + 1) & (slots - 1)) {
            uint32_t e = tab[at];
            if (e == 0)
                break;
            const int64_t *fv = &f->free_[(e - 1) * nres];
            bool same = f->cluster[e - 1] == c;
            for (size_t r = 0; same && r < nres; r++)
                same = fv[r] == s->free_[r][i];
            if (same)
                break;
        }
        if (tab[at]) {
            f->count[tab[at] - 1]++;
            continue;
        }
        if (n == cap) {
            cap *= 2;
            uint32_t *nc = realloc(f->cluster, cap * sizeof *nc);
            if (nc)
                f->cluster = nc;
            uint32_t *nn = realloc(f->count, cap * sizeof *nn);
            if (nn)
                f->count = nn;
            int64_t *nf = realloc(f->free_, cap * (nres + 1) * sizeof *nf);
            if (nf)
                f->free_ = nf;
            if (!nc || !nn || !nf)
                goto fail;
        }
        f->cluster[n] = c;
        f->count[n] = 1;
        for (size_t r = 0; r < nres; r++)
            f->free_[n * nres + r] = s->free_[r][i];
        tab[at] = (uint32_t)++n;
        if (2 * n > slots) { /* grow and rehash */
            size_t ns = slots * 2;
            uint32_t *nt = calloc(ns, sizeof *nt);
            if (!nt)
                goto fail;
            for (size_t e = 0; e < n; e++) {
                uint64_t hh = mix(0, f->cluster[e]);
                for (size_t r = 0; r < nres; r++)
                    hh = mix(hh, (uint64_t)f->free_[e * nres + r]);
                size_t a = (size_t)hh & (ns - 1);
                while (nt[a])
                    a = (a + 1) & (ns - 1);
                nt[a] = (uint32_t)(e + 1);
            }
            free(tab);
            tab = nt;
            slots = ns;
        }
    }
    f->n = n;
    free(tab);
    return 0;
fail:
    free(tab);
    return -ENOMEM;
}

/* The node filter of pod_spec (readiness, taints, node selectors), cached. */
static const filter *get_filter(fl_sched_snapshot *s, const json_t *pod_spec, int *rc)
{
    const json_t *tol = json_object_get(pod_spec, "tolerations");
    claim cl;
    claim_init(&cl, pod_spec);
    json_t *k = json_pack("{s:O?,s:O?,s:O?}", "s", json_object_get(pod_spec, "nodeSelector"), "a",
                          fl_obj_get(pod_spec, "affinity.nodeAffinity"), "t", tol);
    char *key = k ? json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(k);
    *rc = -ENOMEM;
    if (!key)
        return NULL;
    for (size_t i = 0; i < s->n_filters; i++)
        if (strcmp(s->filters[i].key, key) == 0) {
            free(key);
            return &s->filters[i];
        }
    if (cl.any && !s->labels) {
        free(key);
        *rc = -EINVAL;
        return NULL;
    }
    if (s->n_filters == SNAP_MAX_FILTERS) { /* full: start over */
        for (size_t i = 0; i < s->n_filters; i++)
            filter_done(&s->filters[i]);
        s->n_filters = 0;
    }
    uint8_t *ok = malloc(s->n_nodes + 1);
    if ((!s->filters && !(s->filters = calloc(SNAP_MAX_FILTERS, sizeof *s->filters))) || !ok) {
        free(key);
        free(ok);
        return NULL;
    }
    for (size_t i = 0; i < s->n_nodes; i++) {
        const snode *n = &s->nodes[i];
        ok[i] = n->ok && (!n->taints || fl_sched_tolerates(tol, n->taints, NULL)) &&
                (!cl.any || claim_matches(&cl, n->labels));
    }
    filter f = {key, 0, NULL, NULL, NULL};
    int brc = filter_build(s, ok, &f);
    free(ok);
    if (brc) {
        filter_done(&f);
        return NULL;
    }
    s->filters[s->n_filters] = f;
    *rc = 0;
    return &s->filters[s->n_filters++];
}

static int compute_shape(fl_sched_snapshot *s, const json_t *pod_spec, int64_t *avail)
{
    int rc;
    const filter *f = get_filter(s, pod_spec, &rc);
    if (!f)
        return rc;
    json_t *reqs = fl_sched_requests_json(pod_spec);
    size_t rid[SNAP_MAX_RES];
    int64_t want[SNAP_MAX_RES];
    size_t nreq = 0, nres = s->n_res;
    const char *k;
    const json_t *v;
    bool impossible = false;
    json_object_foreach(reqs, k, v) {
        int64_t m = fl_sched_milli(v);
        if (m <= 0 || strcmp(k, "pods") == 0)
            continue;
        int id = res_find(s, k);
        if (id < 0 || nreq == SNAP_MAX_RES) { /* no node has it: nothing fits */
            impossible = true;
            break;
        }
        rid[nreq] = (size_t)id;
        want[nreq++] = m;
    }
    json_decref(reqs);
    memset(avail, 0, s->n_clusters * sizeof *avail);
    int pods = res_find(s, "pods");
    if (impossible || pods < 0)
        return 0;
    for (size_t e = 0; e < f->n; e++) {
        const int64_t *fv = &f->free_[e * nres];
        int64_t fit = fv[pods] / 1000;
        for (size_t x = 0; x < nreq && fit > 0; x++) {
            int64_t q = fv[rid[x]] / want[x];
            if (q < fit)
                fit = q;
        }
        if (fit > 0)
            avail[f->cluster[e]] += fit * (int64_t)f->count[e];
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
        fl_err_set(err, rc,
                   "the snapshot was loaded without node labels, and the pod spec "
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
