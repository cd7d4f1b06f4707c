/*
 * quota/cache.c: what a namespace uses, kept up to date from the index's
 * change log instead of recounted per decision. Per namespace: the quotas
 * and Ready members it was built for (a signature), the index revision it
 * is true at, each counted object's contribution to each quota, and the
 * totals. A decision reads the changes since that revision (only rows of
 * this namespace, on Ready members, of resources its quotas count) and
 * moves each changed object's contribution; a new quota, a member becoming
 * Ready or not, an expired change log, a burst of changes or age (a full
 * rebuild at least every REBUILD_MS, which also notices time-dependent
 * counting such as a pod's deletion grace period) rebuild it from scratch,
 * and a rebuild whose totals differ from the incremental ones counts as
 * drift. Namespaces with scheduler reservations are counted by usage.c
 * directly (they need each workload's live pods). Under the ledger's lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota/ledger_int.h"

#define CACHE_MAX 256          /* namespaces kept */
#define REBUILD_MS 60000       /* full rebuild at least this often */
#define MAX_CHANGES 20000      /* more changes than this: rebuild instead */
#define MAX_GR 64              /* counted (group, resource) pairs per namespace */

typedef struct gr {
    char group[128], resource[128];
} gr;

struct nscache {
    char *ns, *sig;
    int64_t rev, built_ms, used_ms;
    size_t nq;
    rl *total;     /* [nq] */
    json_t *slot_of; /* object key -> slot number */
    rl **slots;    /* slot -> rl[nq], NULL when free */
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

static void cache_free(nscache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nslots; i++)
        contrib_free(c->slots[i], c->nq);
    for (size_t i = 0; c->total && i < c->nq; i++)
        qrl_done(&c->total[i]);
    free(c->total), free(c->slots), free(c->ns), free(c->sig);
    json_decref(c->slot_of);
    free(c);
}

void quota_cache_free_all(fl_quota *q)
{
    for (size_t i = 0; i < q->ncache; i++)
        cache_free(q->cache[i]);
    free(q->cache);
    q->cache = NULL, q->ncache = 0;
}

/* ---------------------------------------------------------------- counting */

/* One object's contribution to every quota (generic.Matches + Mask). */
static int contribution(const qent *e, size_t ne, const char *group, const char *resource,
                        const json_t *obj, int64_t now_s, rl **out, fl_err *err)
{
    evaluator ev;
    rl u = RL_INIT, *c = calloc(ne ? ne : 1, sizeof *c);
    if (!c)
        return -ENOMEM;
    qev_for(group, resource, &ev);
    int rc = qev_usage(&ev, obj, now_s, &u, err);
    for (size_t i = 0; !rc && i < ne; i++) {
        bool match = false;
        for (size_t j = 0; !match && j < e[i].hard.n; j++)
            match = qev_matches_resource(&ev, e[i].hard.v[j].name);
        size_t k;
        const json_t *sel;
        json_array_foreach(e[i].selectors, k, sel) {
            bool m = false;
            if (!match)
                break;
            if (qev_matches_scope(&ev, sel, obj, &m, NULL) != 0)
                m = false;
            match = m;
        }
        for (size_t j = 0; match && !rc && j < e[i].hard.n; j++) {
            const fl_quantity *v = qrl_get(&u, e[i].hard.v[j].name);
            if (v)
                rc = qrl_set(&c[i], e[i].hard.v[j].name, v);
        }
    }
    qrl_done(&u);
    if (rc) {
        contrib_free(c, ne);
        return rc;
    }
    *out = c;
    return 0;
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
                snprintf(res, sizeof res, "%.*s", dot ? (int)(dot - k - 6) : (int)strlen(k + 6), k + 6);
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
    int rc;
    fl_err *err;
} walk;

static int on_row(void *arg, const fl_index_row *row)
{
    walk *w = arg;
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

static nscache *build(fl_quota *q, const char *ns, const char *sig, const health *h, const qent *e,
                      size_t ne, int64_t rev, int64_t now_s, fl_err *err)
{
    nscache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ns = strdup(ns), c->sig = strdup(sig), c->nq = ne, c->rev = rev;
    c->total = calloc(ne ? ne : 1, sizeof *c->total);
    c->slot_of = json_object();
    c->built_ms = fl_now_ms();
    if (!c->ns || !c->sig || !c->total || !c->slot_of) {
        cache_free(c);
        return NULL;
    }
    counted(c, e, ne);
    walk w = {c, e, ne, now_s, h, 0, err};
    const char *nss[1] = {ns};
    for (size_t g = 0; g < c->ngr && h->nready; g++) {
        fl_index_query iq = FL_INDEX_QUERY_INIT;
        iq.group = c->grs[g].group, iq.resource = c->grs[g].resource;
        iq.clusters = h->ready, iq.n_clusters = h->nready;
        iq.namespaces = nss, iq.n_namespaces = 1;
        int rc = fl_index_list(q->rd, &iq, on_row, &w, NULL, err);
        if (rc || w.rc) {
            cache_free(c);
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
        f->rc = obj ? contribution(f->e, f->ne, row->group, row->resource, obj, f->now_s, &c, f->err) : 0;
        json_decref(obj);
    }
    if (!f->rc)
        f->rc = move(f->c, key, c);
    return f->rc ? 1 : 0;
}

/* The signature a cache entry is valid for: quotas (names, hard, scopes)
 * and the Ready members. */
static char *signature(const qent *e, size_t ne, const health *h)
{
    fl_buf b = FL_BUF_INIT(16u << 20);
    for (size_t i = 0; i < ne; i++) {
        char *sel = json_dumps(e[i].selectors, JSON_COMPACT);
        fl_buf_printf(&b, "%s|%d|", e[i].name, e[i].frq);
        qrl_pretty(&e[i].hard, &b);
        fl_buf_printf(&b, "|%s\n", sel ? sel : "");
        free(sel);
    }
    for (size_t i = 0; i < h->nready; i++)
        fl_buf_printf(&b, "%s,", h->ready[i]);
    if (!b.data)
        fl_buf_puts(&b, "");
    return fl_buf_steal(&b);
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

static void install(fl_quota *q, nscache *old, nscache *fresh)
{
    for (size_t i = 0; i < q->ncache; i++)
        if (q->cache[i] == old) {
            cache_free(old);
            q->cache[i] = fresh;
            return;
        }
    if (q->ncache == CACHE_MAX) { /* evict the least recently used */
        size_t lru = 0;
        for (size_t i = 1; i < q->ncache; i++)
            if (q->cache[i]->used_ms < q->cache[lru]->used_ms)
                lru = i;
        cache_free(q->cache[lru]);
        q->cache[lru] = fresh;
        return;
    }
    nscache **n = realloc(q->cache, (q->ncache + 1) * sizeof *n);
    if (!n) {
        cache_free(fresh);
        return;
    }
    q->cache = n;
    q->cache[q->ncache++] = fresh;
}

int quota_cache_observe(fl_quota *q, const char *ns, const health *h, qent *e, size_t ne,
                        int64_t now_s, fl_err *err)
{
    int64_t rev = 0;
    nscache *c = NULL;
    char *sig = signature(e, ne, h);
    int rc = sig ? fl_index_reader_revision(q->rd, &rev) : -ENOMEM;
    for (size_t i = 0; !rc && i < q->ncache; i++)
        if (!strcmp(q->cache[i]->ns, ns))
            c = q->cache[i];
    bool same = c && !strcmp(c->sig, sig) && c->rev <= rev;
    if (!rc && same && c->rev < rev) {
        follow f = {c, e, ne, h, now_s, 0, 0, err};
        if (fl_index_changes(q->rd, c->rev, 0, on_change, &f, NULL, err) == 0)
            c->rev = rev;
        else
            same = false; /* expired log, a burst, or a failure: rebuild */
    }
    if (!rc && (!same || fl_now_ms() - c->built_ms >= REBUILD_MS)) {
        nscache *b = build(q, ns, sig, h, e, ne, rev, now_s, err);
        if (!b)
            rc = err->code ? err->code : -ENOMEM;
        else {
            if (same && !totals_equal(c, b)) {
                q->stats.drift++;
                fl_log(FL_LOG_WARN, "quota", "drift: namespace %s's incremental usage differed "
                       "from a full recount at index revision %lld", ns, (long long)rev);
            }
            install(q, c, b);
            c = b;
        }
    }
    for (size_t i = 0; !rc && i < ne; i++)
        rc = qrl_add(&e[i].used, &c->total[i]);
    if (!rc)
        c->used_ms = fl_now_ms();
    free(sig);
    return rc;
}
