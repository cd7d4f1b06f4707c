/*
 * scheduler/assign.c: replica division, ported from Karmada's
 * pkg/scheduler/core (assignment.go, division_algorithm.go): Duplicated,
 * static weights, dynamic weights by available replicas and Aggregated, in
 * Steady mode (scale up divides only the new replicas, from zero seats, and
 * adds them to what each cluster holds; scale down divides the desired count
 * over the previous assignment) and Fresh mode. Every division goes through
 * fl_sched_webster. Typed inputs only.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

void fl_sched_sort_desc(size_t *idx, const int64_t *key, size_t n)
{
    /* insertion sort: stable, and candidate lists are short */
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i], j = i;
        while (j > 0 && key[idx[j - 1]] < key[v]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

/* The working state of one dynamic division (Karmada's assignState). */
typedef struct dyn {
    const fl_sched_assign_in *in;
    bool aggregated;
    int64_t target; /* replicas to hand out in this round */
    int64_t *avail; /* per candidate: weight of the round */
    size_t *order;  /* candidates by avail descending (stable) */
    size_t n_order;
    int64_t *init; /* per candidate: replicas kept (scheduled), or NULL */
} dyn;

static int cmp_target(const void *a, const void *b)
{
    return strcmp(((const fl_sched_target *)a)->name, ((const fl_sched_target *)b)->name);
}

/* Webster of d->target new seats over the candidates listed in
 * d->order[0..n_order), every party starting at 0 seats; seats[] (per
 * candidate) gets the new seats plus d->init. As in Karmada since #6837
 * (SpreadReplicasByTargetClusters with no initial result, then
 * MergeTargetClusters): the kept replicas order Aggregated's clusters but
 * do not weigh in the division. */
static int divide(dyn *d, int64_t *seats, fl_err *err)
{
    const fl_sched_assign_in *in = d->in;
    int64_t sum = 0; /* stops once it covers the target: no overflow */
    for (size_t k = 0; k < d->n_order && sum < d->target; k++)
        sum += d->avail[d->order[k]];
    if (sum < d->target)
        return fl_err_set(err, FL_ESCHED,
                          "Clusters available replicas %lld are not enough to schedule.",
                          (long long)sum);
    size_t n_use = d->n_order;
    if (d->aggregated) {
        /* clusters that already hold replicas first, then the shortest prefix */
        size_t w = 0;
        size_t *re = malloc((d->n_order + 1) * sizeof *re);
        if (!re)
            return -ENOMEM;
        for (int pass = 0; pass < 2; pass++)
            for (size_t k = 0; k < d->n_order; k++) {
                size_t c = d->order[k];
                bool prior = d->init && d->init[c] > 0;
                if (prior == (pass == 0))
                    re[w++] = c;
            }
        memcpy(d->order, re, d->n_order * sizeof *re);
        free(re);
        int64_t acc = 0;
        for (size_t k = 0; k < d->n_order; k++)
            if ((acc += d->avail[d->order[k]]) >= d->target) {
                n_use = k + 1;
                break;
            }
    }
    fl_sched_party *p = calloc(in->n_clusters + 1, sizeof *p);
    if (!p)
        return -ENOMEM;
    for (size_t c = 0; c < in->n_clusters; c++)
        p[c].name = in->clusters[c].name;
    for (size_t k = 0; k < n_use; k++)
        p[d->order[k]].votes = d->avail[d->order[k]];
    int rc = fl_sched_webster(p, in->n_clusters, d->target, in->uid);
    for (size_t c = 0; rc == 0 && c < in->n_clusters; c++)
        seats[c] = p[c].seats + (d->init ? d->init[c] : 0);
    free(p);
    return rc;
}

static int64_t avail_of(const fl_sched_assign_in *in, size_t c)
{
    int64_t a = in->clusters[c].available;
    return a < 0 ? in->replicas : a;
}

static int assign_dynamic(const fl_sched_assign_in *in, int64_t *seats, fl_err *err)
{
    size_t n = in->n_clusters;
    dyn d = {in, in->strategy == FL_SCHED_AGGREGATED, 0, NULL, NULL, n, NULL};
    int rc = -ENOMEM;
    int64_t assigned = 0;
    const char *what = NULL;
    d.avail = calloc(n, sizeof *d.avail);
    d.order = calloc(n, sizeof *d.order);
    d.init = calloc(n, sizeof *d.init);
    if (!d.avail || !d.order || !d.init)
        goto out;
    for (size_t c = 0; c < n; c++) {
        d.order[c] = c;
        d.init[c] = in->clusters[c].current > 0 ? in->clusters[c].current : 0;
        assigned += d.init[c];
    }
    if (in->fresh) {
        what = "failed to do fresh scale";
        d.target = in->replicas;
        for (size_t c = 0; c < n; c++)
            d.avail[c] =
                avail_of(in, c) > INT64_MAX - d.init[c] ? INT64_MAX : avail_of(in, c) + d.init[c];
        free(d.init);
        d.init = NULL;
    } else if (assigned > in->replicas) {
        /* the previous result is the weight of the scale down */
        what = "failed to scale down";
        d.target = in->replicas;
        memcpy(d.avail, d.init, n * sizeof *d.avail);
        free(d.init);
        d.init = NULL;
    } else if (assigned < in->replicas) {
        what = "failed to scale up";
        d.target = in->replicas - assigned;
        for (size_t c = 0; c < n; c++)
            d.avail[c] = avail_of(in, c);
    } else {
        memcpy(seats, d.init, n * sizeof *seats);
        rc = 0;
        goto out;
    }
    fl_sched_sort_desc(d.order, d.avail, n);
    rc = divide(&d, seats, err);
    if (rc == FL_ESCHED)
        fl_err_wrap(err, rc, "%s", what);
out:
    free(d.avail);
    free(d.order);
    free(d.init);
    return rc;
}

static int assign_static(const fl_sched_assign_in *in, int64_t *seats)
{
    size_t n = in->n_clusters;
    fl_sched_party *p = calloc(n + 1, sizeof *p);
    if (!p)
        return -ENOMEM;
    bool any = false; /* not a sum: weights may add up past INT64_MAX */
    for (size_t c = 0; c < n; c++) {
        p[c].name = in->clusters[c].name;
        p[c].votes = in->clusters[c].weight > 0 ? in->clusters[c].weight : 0;
        any = any || p[c].votes > 0;
    }
    if (!any) /* no rule matched any candidate: all weigh 1 */
        for (size_t c = 0; c < n; c++)
            p[c].votes = 1;
    int rc = fl_sched_webster(p, n, in->replicas, in->uid);
    for (size_t c = 0; rc == 0 && c < n; c++)
        seats[c] = p[c].seats;
    free(p);
    return rc;
}

int fl_sched_assign(const fl_sched_assign_in *in, fl_sched_target **out, size_t *n_out, fl_err *err)
{
    size_t n = in->n_clusters;
    if (n == 0)
        return fl_err_set(err, FL_ESCHED, "no clusters available to schedule");
    bool bad = n > FL_SCHED_MAX_CLUSTERS || in->replicas < 0 || in->replicas > FL_SCHED_MAX_SEATS;
    for (size_t c = 0; !bad && c < n; c++) /* keeps the sum of what is held in range */
        bad = in->clusters[c].current > FL_SCHED_MAX_SEATS;
    if (bad)
        return fl_err_set(err, -EINVAL, "too many clusters or replicas out of range");
    int64_t *seats = calloc(n, sizeof *seats);
    fl_sched_target *t = calloc(n, sizeof *t);
    int rc = -ENOMEM;
    if (!seats || !t)
        goto out;
    rc = 0;
    if (in->replicas > 0) {
        switch (in->strategy) {
        case FL_SCHED_DUPLICATED:
            for (size_t c = 0; c < n; c++)
                seats[c] = in->replicas;
            break;
        case FL_SCHED_STATIC_WEIGHT: rc = assign_static(in, seats); break;
        default: rc = assign_dynamic(in, seats, err); break;
        }
    }
    if (rc)
        goto out;
    size_t w = 0;
    for (size_t c = 0; c < n; c++) {
        if (in->replicas > 0 && seats[c] == 0)
            continue;
        t[w].name = in->clusters[c].name;
        t[w++].replicas = seats[c];
    }
    qsort(t, w, sizeof *t, cmp_target);
    *out = t;
    *n_out = w;
    t = NULL;
out:
    if (rc == -ENOMEM)
        fl_err_set(err, rc, "out of memory");
    free(seats);
    free(t);
    return rc;
}
