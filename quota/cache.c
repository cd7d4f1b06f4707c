/*
 * quota/cache.c: what a namespace uses, kept up to date from the index's
 * change log instead of recounted per decision. Per namespace: the quotas
 * and Ready members it was built for (a signature), the index revision it
 * is true at, each counted object's contribution to each quota, and the
 * totals. A decision reads the changes since that revision (only rows of
 * this namespace, on Ready members, of resources its quotas count) and
 * moves each changed object's contribution; a new quota, a member becoming
 * Ready or not, an expired change log or a burst of changes rebuild it from
 * scratch under the namespace's lock (nothing else can answer then). The
 * periodic full recount (QUOTA_REBUILD_MS, which also notices
 * time-dependent counting such as a pod's deletion grace period) is made
 * off-lock from a snapshot of its own, brought up to date from the change
 * log and swapped in; one whose totals differ from the incremental ones
 * counts as drift (also on demand: fl_quota_recount_all). A full count
 * reads plain pods from the index's materialized rows
 * (fl_index_pod_quota_list) unless a quota has scopes; other objects from
 * their JSON. Namespaces with scheduler reservations are counted by
 * usage.c directly (they need each workload's live pods). Everything here
 * but the off-lock count runs holding the namespace's ledger.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota/ledger_int.h"

#define MAX_CHANGES 20000 /* more changes than this: rebuild instead */
#define MAX_GR 64         /* counted (group, resource) pairs per namespace */

typedef struct gr {
    char group[128], resource[128];
} gr;

/* Invariant: total[i] is the sum of every slot's contribution to quota i,
 * as the index stood at revision rev, for quota set qgen counted on the
 * Ready members named by ready. */
struct nscache {
    char *ns, *ready;
    uint64_t qgen;
    int64_t rev, built_ms;
    size_t nq;
    rl *total;       /* [nq] */
    json_t *slot_of; /* object key -> slot number */
    rl **slots;      /* slot -> rl[nq], NULL when free */
    size_t nslots;
    gr grs[MAX_GR];
    size_t ngr;
};

static void contrib_free(rl *c, size_t nq)
{
    for (size_t i = 0; c && i < nq; i++)
        qrl_done(&c[i]);
    free(c);
}

void quota_cache_free(nscache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nslots; i++)
        contrib_free(c->slots[i], c->nq);
    for (size_t i = 0; c->total && i < c->nq; i++)
        qrl_done(&c->total[i]);
    free(c->total), free(c->slots), free(c->ns), free(c->ready);
    json_decref(c->slot_of);
    free(c);
}

int64_t quota_cache_age_ms(const nsled *l)
{
    return l->cache ? fl_now_ms() - l->cache->built_ms : -1;
}

/* ---------------------------------------------------------------- counting */

/* An object's usage u as its contribution to every quota (generic.Matches
 * + Mask); obj is only read by quotas with scope selectors. */
static int mask(const qent *e, size_t ne, const evaluator *ev, const rl *u, const json_t *obj,
                rl **out)
{
    rl *c = calloc(ne ? ne : 1, sizeof *c);
    int rc = 0;
    if (!c)
        return -ENOMEM;
    for (size_t i = 0; !rc && i < ne; i++) {
        bool match = false;
        for (size_t j = 0; !match && j < e[i].hard.n; j++)
            match = qev_matches_resource(ev, e[i].hard.v[j].name);
        size_t k;
        const json_t *sel;
        json_array_foreach(e[i].selectors, k, sel) {
            bool m = false;
            if (!match)
                break;
            if (qev_matches_scope(ev, sel, obj, &m, NULL) != 0)
                m = false;
            match = m;
        }
        for (size_t j = 0; match && !rc && j < e[i].hard.n; j++) {
            const fl_quantity *v = qrl_get(u, e[i].hard.v[j].name);
            if (v)
                rc = qrl_set(&c[i], e[i].hard.v[j].name, v);
        }
    }
    if (rc) {
        contrib_free(c, ne);
        return rc;
    }
    *out = c;
    return 0;
}

/* One object's contribution to every quota, from its JSON. */
static int contribution(const qent *e, size_t ne, const char *group, const char *resource,
                        const json_t *obj, int64_t now_s, rl **out, fl_err *err)
{
    evaluator ev;
    rl u = RL_INIT;
    qev_for(group, resource, &ev);
    int rc = qev_usage(&ev, obj, now_s, &u, err);
    if (!rc)
        rc = mask(e, ne, &ev, &u, obj, out);
    qrl_done(&u);
    return rc;
}

/* A plain pod's contribution from the index's rows (fl_index_pod_quota:
 * the same sums the evaluator makes from its JSON, and their formats). */
static int pod_contribution(const qent *e, size_t ne, const fl_index_pod_quota *p, rl **out)
{
    evaluator ev;
    rl req = RL_INIT, lim = RL_INIT, u = RL_INIT;
    int rc = 0;
    qev_for("", "pods", &ev);
    for (size_t i = 0; !rc && i < p->n; i++) {
        fl_quantity v;
        if (p->fmt[i] & FL_INDEX_RES_REQUEST) {
            fl_quantity_from_milli(p->requests[i], FL_INDEX_RES_REQUEST_FMT(p->fmt[i]), &v);
            rc = qrl_set(&req, p->resources[i], &v);
        }
        if (!rc && (p->fmt[i] & FL_INDEX_RES_LIMIT)) {
            fl_quantity_from_milli(p->limits[i], FL_INDEX_RES_LIMIT_FMT(p->fmt[i]), &v);
            rc = qrl_set(&lim, p->resources[i], &v);
        }
    }
    if (!rc)
        rc = qev_pod_usage_from(&req, &lim, !p->terminal, &u);
    if (!rc)
        rc = mask(e, ne, &ev, &u, NULL, out);
    qrl_done(&req), qrl_done(&lim), qrl_done(&u);
    return rc;
}

static int add_to_total(nscache *c, const rl *contrib, int sign)
{
    for (size_t i = 0; i < c->nq; i++)
        for (size_t j = 0; j < contrib[i].n; j++) {
            fl_quantity v = contrib[i].v[j].q;
            if (sign < 0) {
                fl_quantity neg = FL_QUANTITY_ZERO;
                if (fl_quantity_sub(&neg, &v) != 0)
                    return -ERANGE;
                v = neg;
            }
            int rc = qrl_add_one(&c->total[i], contrib[i].v[j].name, &v);
            if (rc)
                return rc;
        }
    return 0;
}

static void key_of(const char *cluster, const char *group, const char *resource, const char *name,
                   char *out, size_t n)
{
    snprintf(out, n, "%s\x1f%s\x1f%s\x1f%s", cluster, group, resource, name);
}

/* Replace the contribution under key by next (NULL: the object is gone). */
static int move(nscache *c, const char *key, rl *next)
{
    json_t *slot = json_object_get(c->slot_of, key);
    int rc = 0;
    if (slot) {
        size_t s = (size_t)json_integer_value(slot);
        rc = add_to_total(c, c->slots[s], -1);
        contrib_free(c->slots[s], c->nq);
        c->slots[s] = next;
        if (!next)
            json_object_del(c->slot_of, key);
    } else if (next) {
        rl **ns = realloc(c->slots, (c->nslots + 1) * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        c->slots = ns;
        c->slots[c->nslots] = next;
        json_object_set_new(c->slot_of, key, json_integer((json_int_t)c->nslots++));
    }
    return !rc && next ? add_to_total(c, next, 1) : rc;
}

/* The (group, resource) pairs the quotas count. */
static void counted(nscache *c, const qent *e, size_t ne)
{
    static const char *const kinds[] = {"pods", "services", "persistentvolumeclaims"};
    c->ngr = 0;
    for (size_t k = 0; k < FL_ARRAY_LEN(kinds); k++) {
        evaluator ev;
        bool need = false;
        qev_for("", kinds[k], &ev);
        for (size_t i = 0; !need && i < ne; i++)
            for (size_t j = 0; !need && j < e[i].hard.n; j++)
                need = qev_matches_resource(&ev, e[i].hard.v[j].name);
        if (need)
            snprintf(c->grs[c->ngr].group, 128, "%s", ""),
                snprintf(c->grs[c->ngr++].resource, 128, "%s", kinds[k]);
    }
    for (size_t i = 0; i < ne; i++) {
        if (json_array_size(e[i].selectors))
            continue;
        for (size_t j = 0; j < e[i].hard.n && c->ngr < MAX_GR; j++) {
            const char *k = e[i].hard.v[j].name, *dot;
            char res[128] = "", grp[128] = "";
            if (fl_str_has_prefix(k, "count/") && strlen(k) < 120) {
                dot = strchr(k + 6, '.');
                snprintf(res, sizeof res, "%.*s", dot ? (int)(dot - k - 6) : (int)strlen(k + 6),
                         k + 6);
                snprintf(grp, sizeof grp, "%s", dot ? dot + 1 : "");
            } else if (!strcmp(k, "configmaps") || !strcmp(k, "secrets") ||
                       !strcmp(k, "replicationcontrollers") || !strcmp(k, "resourcequotas"))
                snprintf(res, sizeof res, "%s", k);
            bool have = !*res;
            for (size_t g = 0; !have && g < c->ngr; g++)
                have = !strcmp(c->grs[g].group, grp) && !strcmp(c->grs[g].resource, res);
            if (!have)
                snprintf(c->grs[c->ngr].group, 128, "%s", grp),
                    snprintf(c->grs[c->ngr++].resource, 128, "%s", res);
        }
    }
}

static bool counts(const nscache *c, const char *group, const char *resource)
{
    for (size_t g = 0; g < c->ngr; g++)
        if (!strcmp(c->grs[g].group, group) && !strcmp(c->grs[g].resource, resource))
            return true;
    return false;
}

/* ---------------------------------------------------------------- building */

typedef struct walk {
    nscache *c;
    const qent *e;
    size_t ne;
    int64_t now_s;
    const health *h;
    const atomic_bool *stop; /* NULL, or set: give up (shutting down) */
    int rc;
    fl_err *err;
} walk;

static int on_row(void *arg, const fl_index_row *row)
{
    walk *w = arg;
    if (w->stop && atomic_load(w->stop)) {
        w->rc = fl_err_set(w->err, -ECANCELED, "stopping");
        return 1;
    }
    json_t *obj = json_loadb(row->json, row->json_len, 0, NULL);
    rl *c = NULL;
    char key[1200];
    if (!obj)
        return 0;
    key_of(row->cluster, row->group, row->resource, row->name, key, sizeof key);
    w->rc = contribution(w->e, w->ne, row->group, row->resource, obj, w->now_s, &c, w->err);
    if (!w->rc)
        w->rc = move(w->c, key, c);
    json_decref(obj);
    return w->rc ? 1 : 0;
}

/* A pod for the full count: from its rows when the index says they are
 * its usage (plain), else from its JSON as on_row. */
static int on_pod(void *arg, const fl_index_pod_quota *p)
{
    walk *w = arg;
    rl *c = NULL;
    char key[1200];
    if (w->stop && atomic_load(w->stop)) {
        w->rc = fl_err_set(w->err, -ECANCELED, "stopping");
        return 1;
    }
    if (p->plain)
        w->rc = pod_contribution(w->e, w->ne, p, &c);
    else {
        json_t *obj = json_loadb(p->json, p->json_len, 0, NULL);
        if (!obj)
            return 0;
        w->rc = contribution(w->e, w->ne, "", "pods", obj, w->now_s, &c, w->err);
        json_decref(obj);
    }
    key_of(p->cluster, "", "pods", p->name, key, sizeof key);
    if (!w->rc)
        w->rc = move(w->c, key, c);
    if (w->rc && !w->err->code)
        fl_err_set(w->err, w->rc, "counting pod %s: %s", p->name, fl_strerror(w->rc));
    return w->rc ? 1 : 0;
}

static bool any_scoped(const qent *e, size_t ne)
{
    for (size_t i = 0; i < ne; i++)
        if (json_array_size(e[i].selectors))
            return true;
    return false;
}

/* A full count of ns on h's Ready members at rd's snapshot (revision rev);
 * NULL (err says why) on failure or when *stop is set meanwhile. Pods are
 * counted from the index's materialized rows where they are plain (unless
 * from_json, or a quota has scopes: those read the pod); everything else
 * from the objects' JSON. */
static nscache *build(fl_index_reader *rd, const char *ns, uint64_t qgen, const char *ready,
                      const health *h, const qent *e, size_t ne, int64_t rev, int64_t now_s,
                      bool from_json, const atomic_bool *stop, fl_err *err)
{
    nscache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ns = strdup(ns), c->ready = strdup(ready), c->nq = ne, c->rev = rev, c->qgen = qgen;
    c->total = calloc(ne ? ne : 1, sizeof *c->total);
    c->slot_of = json_object();
    c->built_ms = fl_now_ms();
    if (!c->ns || !c->ready || !c->total || !c->slot_of) {
        quota_cache_free(c);
        return NULL;
    }
    counted(c, e, ne);
    walk w = {c, e, ne, now_s, h, stop, 0, err};
    const char *nss[1] = {ns};
    bool rows = !from_json && !any_scoped(e, ne);
    for (size_t g = 0; g < c->ngr && h->nready; g++) {
        fl_index_query iq = FL_INDEX_QUERY_INIT;
        int rc;
        iq.group = c->grs[g].group, iq.resource = c->grs[g].resource;
        iq.clusters = h->ready, iq.n_clusters = h->nready;
        iq.namespaces = nss, iq.n_namespaces = 1;
        if (rows && !*iq.group && !strcmp(iq.resource, "pods"))
            rc = fl_index_pod_quota_list(rd, h->ready, h->nready, ns, on_pod, &w, err);
        else
            rc = fl_index_list(rd, &iq, on_row, &w, NULL, err);
        if (rc || w.rc) {
            quota_cache_free(c);
            return NULL;
        }
    }
    return c;
}

/* ---------------------------------------------------------------- following */

typedef struct follow {
    nscache *c;
    const qent *e;
    size_t ne;
    const health *h;
    int64_t now_s;
    size_t n;
    int rc;
    fl_err *err;
} follow;

static bool ready(const health *h, const char *cluster)
{
    for (size_t i = 0; i < h->nready; i++)
        if (!strcmp(h->ready[i], cluster))
            return true;
    return false;
}

static int on_change(void *arg, const char *type, bool superseded, int64_t revision,
                     const fl_index_row *row)
{
    follow *f = arg;
    if (++f->n > MAX_CHANGES) {
        f->rc = -E2BIG;
        return 1;
    }
    if (superseded || !row || strcmp(row->namespace_, f->c->ns) || !ready(f->h, row->cluster) ||
        !counts(f->c, row->group, row->resource))
        return 0;
    char key[1200];
    rl *c = NULL;
    key_of(row->cluster, row->group, row->resource, row->name, key, sizeof key);
    if (strcmp(type, "DELETED") && row->json) {
        json_t *obj = json_loadb(row->json, row->json_len, 0, NULL);
        f->rc =
            obj ? contribution(f->e, f->ne, row->group, row->resource, obj, f->now_s, &c, f->err)
                : 0;
        json_decref(obj);
    }
    if (!f->rc)
        f->rc = move(f->c, key, c);
    return f->rc ? 1 : 0;
}

static bool totals_equal(const nscache *a, const nscache *b)
{
    for (size_t i = 0; i < a->nq; i++) {
        const rl *x = &a->total[i], *y = &b->total[i];
        for (size_t j = 0; j < x->n; j++) {
            const fl_quantity *v = qrl_get(y, x->v[j].name);
            if ((v ? fl_quantity_cmp(v, &x->v[j].q) : fl_quantity_sign(&x->v[j].q)) != 0)
                return false;
        }
        for (size_t j = 0; j < y->n; j++)
            if (!qrl_get(x, y->v[j].name) && fl_quantity_sign(&y->v[j].q) != 0)
                return false;
    }
    return true;
}

/* Bring c from its revision to rev along the change log. 0, or nonzero
 * when it cannot (expired log, a burst, a failure): rebuild instead. */
static int follow_to(fl_index_reader *rd, nscache *c, const qent *e, size_t ne, const health *h,
                     int64_t rev, int64_t now_s, fl_err *err)
{
    if (c->rev >= rev)
        return 0;
    follow f = {c, e, ne, h, now_s, 0, 0, err};
    int rc = fl_index_changes(rd, c->rev, 0, on_change, &f, NULL, err);
    if (rc == 0)
        c->rev = rev;
    return rc;
}

int quota_cache_observe(fl_quota *q, nsled *l, const health *h, qent *e, size_t ne, int64_t now_s,
                        fl_err *err)
{
    int64_t rev = 0;
    nscache *c = l->cache;
    char *ready = ledger_ready_key(h);
    int rc = ready ? fl_index_reader_revision(l->rd, &rev) : -ENOMEM;
    bool same =
        !rc && c && c->qgen == l->qgen && c->nq == ne && !strcmp(c->ready, ready) && c->rev <= rev;
    if (same && follow_to(l->rd, c, e, ne, h, rev, now_s, err) != 0)
        same = false;
    if (!rc && !same && l->no_wait)
        rc = -EAGAIN; /* a full count: not on this thread */
    if (!rc && !same) {
        nscache *b = build(l->rd, l->ns, l->qgen, ready, h, e, ne, rev, now_s, q->o.count_from_json,
                           NULL, err);
        if (!b)
            rc = err->code ? err->code : -ENOMEM;
        else {
            quota_cache_free(l->cache);
            l->cache = c = b;
        }
    }
    for (size_t i = 0; !rc && i < ne; i++)
        rc = qrl_add(&e[i].used, &c->total[i]);
    free(ready);
    return rc;
}

/* What the off-lock count needs, copied under the lock. */
typedef struct recount_in {
    qent *e;
    size_t ne;
    json_t *keep; /* the names of e borrow from it */
    uint64_t qgen;
    health h;
    char *ready;
    bool have_h;
} recount_in;

static void recount_in_done(recount_in *in)
{
    qents_free(in->e, in->ne);
    json_decref(in->keep);
    if (in->have_h)
        ledger_health_done(&in->h);
    free(in->ready);
}

/* Swap b in for l's cache when both count the same quotas on the same
 * members; both are first brought to the snapshot's revision. *old gets
 * the cache b replaced (freed by the caller, after the lock). Holding l. */
static int swap_in(fl_quota *q, nsled *l, nscache *b, const recount_in *in, int64_t now_s,
                   nscache **old, bool *drift, fl_err *err)
{
    int64_t rev = 0;
    int rc = fl_index_reader_revision(l->rd, &rev);
    nscache *c = l->cache;
    if (rc || l->qgen != b->qgen || (c && (c->qgen != b->qgen || strcmp(c->ready, b->ready))))
        return rc; /* the quotas or the members changed meanwhile: b is moot */
    if ((rc = follow_to(l->rd, b, in->e, in->ne, &in->h, rev, now_s, err)) != 0)
        return rc;
    if (c && follow_to(l->rd, c, in->e, in->ne, &in->h, rev, now_s, err) == 0 &&
        !totals_equal(c, b)) {
        atomic_fetch_add(&q->stats.drift, 1);
        *drift = true;
        fl_log(FL_LOG_WARN, "quota",
               "drift: namespace %s's incremental usage differed "
               "from a full recount at index revision %lld",
               l->ns, (long long)rev);
    }
    *old = l->cache;
    l->cache = b;
    return 0;
}

int quota_cache_recount(fl_quota *q, const char *ns, bool *counted_out, bool *drift, fl_err *err)
{
    recount_in in = {0};
    char why[512];
    nsled *l = NULL;
    int64_t now_s = fl_now_ms() / 1000, rev = 0;
    int rc = ledger_enter(q, ns, &l);
    if (rc)
        return rc;
    if ((rc = ledger_quotas(q, l, &in.e, &in.ne, err)) == 0 &&
        (rc = ledger_health(q, NULL, &in.h, why, sizeof why)) == 0) {
        in.have_h = true;
        in.keep = json_incref(l->keep);
        in.qgen = l->qgen;
        if (!(in.ready = ledger_ready_key(&in.h)))
            rc = -ENOMEM;
    }
    bool counted = l->nw == 0 && in.ne > 0; /* else usage.c counts per decision */
    *drift = false;
    *counted_out = false;
    ledger_leave(q, l);
    /* the count itself: no ledger held */
    nscache *b = NULL;
    if (!rc && counted) {
        fl_index_reader *rd = ledger_reader_get(q);
        if ((rc = fl_index_reader_begin(rd)) == 0) {
            if ((rc = fl_index_reader_revision(rd, &rev)) == 0 &&
                !(b = build(rd, ns, in.qgen, in.ready, &in.h, in.e, in.ne, rev, now_s,
                            q->o.count_from_json, &q->stopping, err)))
                rc = err->code ? err->code : -ENOMEM;
            fl_index_reader_end(rd);
        }
        ledger_reader_put(q, rd);
    }
    nscache *old = NULL;
    if (b && (rc = ledger_enter(q, ns, &l)) == 0) {
        if ((rc = swap_in(q, l, b, &in, now_s, &old, drift, err)) == 0 && l->cache == b) {
            b = NULL;
            *counted_out = true;
        }
        ledger_leave(q, l);
    }
    quota_cache_free(b);
    quota_cache_free(old); /* a large namespace's cache takes a while to free */
    recount_in_done(&in);
    return rc;
}
