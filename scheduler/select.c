/*
 * scheduler/select.c: cluster selection under spreadConstraints, ported from
 * Karmada's pkg/scheduler/core/spreadconstraint: clusters ordered by score,
 * available replicas, name; group scores (calcGroupScore); the DFS over
 * groups with min/maxGroups (selectGroups, prioritizePaths); the
 * region-then-cluster fill (selectBestClustersByRegion) and the by-cluster
 * swap for available resources (selectClustersByAvailableResource). Zone
 * and provider groups are selected as regions are (Karmada stops at
 * region). Typed inputs only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

#define WEIGHT_UNIT 1000
#define MAX_PATHS 200000 /* DFS cap: past it the request is refused */

typedef struct cinfo {
    size_t idx; /* into in->clusters */
    const char *name;
    int64_t score, avail;
} cinfo;

typedef struct group {
    char *name;
    cinfo *cl; /* in cluster order (score, avail, name) */
    size_t n, cap;
    int64_t score;
} group;

typedef struct path {
    long id;
    group **g;
    size_t n;
    int64_t weight, value;
} path;

typedef struct dfs {
    group **groups;
    size_t n_groups;
    int64_t min, max, target;
    group **stack;
    size_t depth;
    path *paths;
    size_t n_paths, cap_paths;
    long next_id;
    int rc;
} dfs;

static int cmp_cluster(const void *a, const void *b)
{
    const cinfo *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->avail != y->avail)
        return x->avail > y->avail ? -1 : 1;
    return strcmp(x->name, y->name);
}

static const char *field_of(const fl_sched_cluster *c, fl_sched_spread_field f)
{
    switch (f) {
    case FL_SCHED_SPREAD_REGION: return c->region;
    case FL_SCHED_SPREAD_ZONE: return c->zone;
    case FL_SCHED_SPREAD_PROVIDER: return c->provider;
    default: return c->name;
    }
}

static const char *field_word(fl_sched_spread_field f)
{
    switch (f) {
    case FL_SCHED_SPREAD_REGION: return "region";
    case FL_SCHED_SPREAD_ZONE: return "zone";
    case FL_SCHED_SPREAD_PROVIDER: return "provider";
    default: return "cluster";
    }
}

/* Karmada's calcGroupScore (and calcGroupScore4Duplicate). */
static int64_t group_score(const group *g, const fl_sched_select_in *in, int64_t min_groups)
{
    if (in->duplicated) {
        int64_t valid = 0, sum = 0;
        for (size_t i = 0; i < g->n; i++)
            if (g->cl[i].avail >= in->replicas) {
                valid++;
                sum += g->cl[i].score;
            }
        /* Karmada divides by zero (a panic) when no cluster fits */
        return valid * WEIGHT_UNIT + (valid ? sum / valid : 0);
    }
    if (min_groups <= 0)
        min_groups = 1;
    int64_t rest = in->replicas % min_groups;
    int64_t target = (in->replicas - rest) / min_groups + 1;
    int64_t sum_avail = 0, sum_score = 0, valid = 0;
    for (size_t i = 0; i < g->n; i++) {
        sum_avail += g->cl[i].avail;
        sum_score += g->cl[i].score;
        valid++;
        if (sum_avail >= target)
            break;
    }
    if (sum_avail < target)
        return sum_avail * WEIGHT_UNIT + sum_score / (int64_t)g->n;
    return target * WEIGHT_UNIT + sum_score / valid;
}

static int cmp_group_dfs(const void *a, const void *b)
{
    const group *x = *(group *const *)a, *y = *(group *const *)b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_group_path(const void *a, const void *b)
{
    const group *x = *(group *const *)a, *y = *(group *const *)b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void dfs_record(dfs *d)
{
    if (d->n_paths >= MAX_PATHS) {
        d->rc = -E2BIG;
        return;
    }
    if (fl_grow(&d->paths, &d->cap_paths, d->n_paths + 1, sizeof *d->paths) != 0) {
        d->rc = -ENOMEM;
        return;
    }
    path *p = &d->paths[d->n_paths];
    p->g = malloc((d->depth + 1) * sizeof *p->g);
    if (!p->g) {
        d->rc = -ENOMEM;
        return;
    }
    memcpy(p->g, d->stack, d->depth * sizeof *p->g);
    p->n = d->depth;
    p->id = ++d->next_id;
    p->weight = p->value = 0;
    for (size_t i = 0; i < p->n; i++) {
        p->weight += p->g[i]->score;
        p->value += (int64_t)p->g[i]->n;
    }
    qsort(p->g, p->n, sizeof *p->g, cmp_group_path);
    d->n_paths++;
}

static void dfs_walk(dfs *d, int64_t sum, size_t begin)
{
    if (d->rc)
        return;
    int64_t len = (int64_t)d->depth;
    if (sum >= d->target && len >= d->min && len <= d->max) {
        dfs_record(d);
        return;
    }
    if (len >= d->max)
        return;
    for (size_t i = begin; i < d->n_groups && !d->rc; i++) {
        d->stack[d->depth++] = d->groups[i];
        dfs_walk(d, sum + (int64_t)d->groups[i]->n, i + 1);
        d->depth--;
    }
}

static int cmp_path(const void *a, const void *b)
{
    const path *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool is_sub_path(const path *p, const path *sub)
{
    if (sub->n >= p->n)
        return false;
    for (size_t i = 0; i < sub->n; i++)
        if (strcmp(p->g[i]->name, sub->g[i]->name) != 0)
            return false;
    return true;
}

/* Karmada's selectGroups: the best feasible combination, or none (*n = 0). */
static int select_groups(group **groups, size_t n, int64_t min, int64_t max, int64_t target,
                         group ***out, size_t *n_out)
{
    dfs d = {groups, n, min, max, target, NULL, 0, NULL, 0, 0, 0, 0};
    *n_out = 0;
    if (n == 0)
        return 0;
    qsort(groups, n, sizeof *groups, cmp_group_dfs);
    d.stack = malloc((n + 1) * sizeof *d.stack);
    if (!d.stack)
        return -ENOMEM;
    dfs_walk(&d, 0, 0);
    if (d.rc == 0 && d.n_paths > 0) {
        qsort(d.paths, d.n_paths, sizeof *d.paths, cmp_path);
        path *best = &d.paths[0];
        for (size_t i = 1; i < d.n_paths; i++)
            if (is_sub_path(best, &d.paths[i]))
                best = &d.paths[i];
        *out = malloc((best->n + 1) * sizeof **out);
        if (!*out)
            d.rc = -ENOMEM;
        else {
            memcpy(*out, best->g, best->n * sizeof **out);
            *n_out = best->n;
        }
    }
    for (size_t i = 0; i < d.n_paths; i++)
        free(d.paths[i].g);
    free(d.paths);
    free(d.stack);
    return d.rc;
}

static const fl_sched_spread *find_spread(const fl_sched_select_in *in, fl_sched_spread_field f)
{
    const fl_sched_spread *found = NULL;
    for (size_t i = 0; i < in->n_spread; i++)
        if (in->spread[i].field == f)
            found = &in->spread[i]; /* the last one wins, as in Karmada's map */
    return found;
}

static int push_group_cluster(group **gs, size_t *ng, const char *key, const cinfo *c)
{
    group *g = NULL;
    for (size_t i = 0; i < *ng && !g; i++)
        if (strcmp(gs[i]->name, key) == 0)
            g = gs[i];
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g || !(g->name = strdup(key))) {
            free(g);
            return -ENOMEM;
        }
        gs[(*ng)++] = g;
    }
    if (fl_grow(&g->cl, &g->cap, g->n + 1, sizeof *g->cl) != 0)
        return -ENOMEM;
    g->cl[g->n++] = *c;
    return 0;
}

/* selectBestClustersByRegion, for region, zone or provider groups. */
static int by_group(const fl_sched_select_in *in, cinfo *cl, size_t n, fl_sched_spread_field f,
                    size_t *res, size_t *n_res, fl_err *err)
{
    const fl_sched_spread *gc = find_spread(in, f), *cc = find_spread(in, FL_SCHED_SPREAD_CLUSTER);
    fl_sched_spread none = {FL_SCHED_SPREAD_CLUSTER, 0, 0};
    if (!cc)
        cc = &none;
    /* a cluster in several zones ("a,b") is in each zone's group */
    size_t slots = n + 1;
    for (size_t i = 0; f == FL_SCHED_SPREAD_ZONE && i < n; i++)
        for (const char *z = field_of(&in->clusters[cl[i].idx], f); z && *z; z++)
            slots += *z == ',';
    group **gs = calloc(slots, sizeof *gs), **sel = NULL;
    cinfo *cand = calloc(slots, sizeof *cand);
    bool *taken = calloc(in->n_clusters + 1, sizeof *taken);
    size_t ng = 0, nsel = 0, ncand = 0;
    int rc = -ENOMEM;
    if (!gs || !cand || !taken)
        goto out;
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *key = field_of(&in->clusters[cl[i].idx], f);
        while (key && key[0] && rc == 0) {
            const char *comma = f == FL_SCHED_SPREAD_ZONE ? strchr(key, ',') : NULL;
            size_t len = comma ? (size_t)(comma - key) : strlen(key);
            char one[256];
            snprintf(one, sizeof one, "%.*s", (int)len, key);
            if (one[0])
                rc = push_group_cluster(gs, &ng, one, &cl[i]);
            key = comma ? comma + 1 : NULL;
        }
    }
    if (rc)
        goto out;
    for (size_t i = 0; i < ng; i++)
        gs[i]->score = group_score(gs[i], in, gc->min_groups);
    if ((int64_t)ng < gc->min_groups) {
        rc = fl_err_set(err, FL_ESCHED,
                        "the number of feasible %s is less than spreadConstraint.MinGroups",
                        field_word(f));
        goto out;
    }
    rc = select_groups(gs, ng, gc->min_groups, gc->max_groups, cc->min_groups, &sel, &nsel);
    if (rc == -E2BIG)
        rc = fl_err_set(err, FL_ESCHED, "too many %s combinations to consider", field_word(f));
    if (rc)
        goto out;
    if (nsel == 0) {
        rc = fl_err_set(
            err, FL_ESCHED,
            "the number of clusters is less than the cluster spreadConstraint.MinGroups");
        goto out;
    }
    *n_res = 0;
    for (size_t i = 0; i < nsel; i++) {
        size_t first = sel[i]->cl[0].idx;
        if (!taken[first]) {
            taken[first] = true;
            res[(*n_res)++] = first;
        }
    }
    for (size_t i = 0; i < nsel; i++)
        for (size_t k = 1; k < sel[i]->n; k++)
            if (!taken[sel[i]->cl[k].idx]) {
                taken[sel[i]->cl[k].idx] = true; /* once, though in several selected zones */
                cand[ncand++] = sel[i]->cl[k];
            }
    int64_t need = (int64_t)(ncand + *n_res);
    if (need > cc->max_groups)
        need = cc->max_groups;
    int64_t rest = need - (int64_t)*n_res;
    if (rest > 0) {
        qsort(cand, ncand, sizeof *cand, cmp_cluster);
        for (int64_t i = 0; i < rest; i++)
            res[(*n_res)++] = cand[i].idx;
    }
out:
    for (size_t i = 0; gs && i < ng; i++) {
        free(gs[i]->name);
        free(gs[i]->cl);
        free(gs[i]);
    }
    free(gs);
    free(sel);
    free(cand);
    free(taken);
    return rc;
}

static bool enough(const cinfo *c, size_t n, int64_t need)
{
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += c[i].avail;
    return total >= need;
}

/* selectBestClustersByCluster with selectClustersByAvailableResource. */
static int by_cluster(const fl_sched_select_in *in, cinfo *cl, size_t n, size_t *res, size_t *n_res,
                      fl_err *err)
{
    const fl_sched_spread *cc = find_spread(in, FL_SCHED_SPREAD_CLUSTER);
    if ((int64_t)n < cc->min_groups)
        return fl_err_set(
            err, FL_ESCHED,
            "the number of feasible clusters is less than spreadConstraint.MinGroups");
    size_t need = cc->max_groups < 0 ? 0 : (size_t)cc->max_groups;
    if (n < need)
        need = n;
    if (!in->duplicated) {
        cinfo *ret = cl, *rest = cl + need;
        size_t n_rest = n - need;
        for (size_t u = need; u-- > 0 && !enough(ret, need, in->replicas);) {
            int64_t max = ret[u].avail;
            size_t id = SIZE_MAX;
            for (size_t i = 0; i < n_rest; i++)
                if (max < rest[i].avail) {
                    max = rest[i].avail;
                    id = i;
                }
            if (id == SIZE_MAX)
                continue;
            cinfo t = ret[u];
            ret[u] = rest[id];
            rest[id] = t;
        }
        if (!enough(ret, need, in->replicas) || need == 0)
            return fl_err_set(err, FL_ESCHED, "no enough resource when selecting %zu clusters",
                              need);
    }
    for (size_t i = 0; i < need; i++)
        res[i] = cl[i].idx;
    *n_res = need;
    return 0;
}

int fl_sched_select(const fl_sched_select_in *in, size_t **out, size_t *n_out, fl_err *err)
{
    size_t n = in->n_clusters;
    if (n > FL_SCHED_MAX_CLUSTERS)
        return fl_err_set(err, -EINVAL, "too many clusters");
    cinfo *cl = calloc(n + 1, sizeof *cl);
    size_t *res = calloc(n + 1, sizeof *res), n_res = 0;
    int rc = -ENOMEM;
    if (!cl || !res)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const fl_sched_cluster *c = &in->clusters[i];
        cl[i] = (cinfo){i, c->name, c->score, c->available < 0 ? in->replicas : c->available};
    }
    qsort(cl, n, sizeof *cl, cmp_cluster);
    rc = 0;
    if (in->n_spread == 0 || in->ignore_spread) {
        for (size_t i = 0; i < n; i++)
            res[i] = cl[i].idx;
        n_res = n;
    } else if (find_spread(in, FL_SCHED_SPREAD_REGION)) {
        rc = by_group(in, cl, n, FL_SCHED_SPREAD_REGION, res, &n_res, err);
    } else if (find_spread(in, FL_SCHED_SPREAD_ZONE)) {
        rc = by_group(in, cl, n, FL_SCHED_SPREAD_ZONE, res, &n_res, err);
    } else if (find_spread(in, FL_SCHED_SPREAD_PROVIDER)) {
        rc = by_group(in, cl, n, FL_SCHED_SPREAD_PROVIDER, res, &n_res, err);
    } else {
        rc = by_cluster(in, cl, n, res, &n_res, err);
    }
    if (rc == 0) {
        *out = res;
        *n_out = n_res;
        res = NULL;
    }
out:
    if (rc == -ENOMEM)
        fl_err_set(err, rc, "out of memory");
    free(cl);
    free(res);
    return rc;
}
