/*
 * quota/ledger.c: the one quota ledger per namespace (DESIGN.md). used =
 * usage observed in the index on Ready members + open reservations, where
 *   * a direct admission (a pod created in a member) reserves what it was
 *     charged until the object shows in the index (a newer resourceVersion
 *     on UPDATE) or the TTL passes — an expiry is drift, logged and counted;
 *   * the scheduler reserves per (workload, cluster): max(0, replicas - the
 *     workload's live pods there) x per-replica request, so a replica is
 *     never counted twice; release drops it (eviction from a failed member).
 * Each namespace has a ledger of its own (nsled) with its own lock: a
 * decision holds its namespace's lock and one index snapshot, so concurrent
 * reviews of a namespace cannot both take the last unit, while reviews of
 * other namespaces go on in parallel on other readers of the pool. Quota
 * objects come from the host (fl_quota_host_fn; by default the host's
 * objects the collector put in the index, cached per namespace and reloaded
 * when the change log shows one of them changed). Members that are not Ready do
 * not count; a stale member (not Ready, or its pods lagging more than
 * staleAfter) makes its own reviews follow the stale policy, and a Ready
 * member whose pods lag makes every review in the namespace follow it.
 * Above admit.c / frq.c / eval.c; webhook.c (the HTTP side) is above this.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/index.h"
#include "quota/ledger_int.h"

#define MAX_CLUSTERS 4096
#define MAX_NAMESPACES 4096 /* namespace ledgers kept (idle ones are evicted) */
#define EXTRA_READERS 3     /* readers beyond the workers: sweeper, scheduler, API */
#define TRY_WAIT_US 1000    /* a server thread waits this long for a namespace's ledger */

static int sweeper_start(fl_quota *q, fl_err *err);
static int readers_new(fl_quota *q, fl_err *err);
static void sweeper_stop(fl_quota *q);

/* ---------------------------------------------------------------- lifecycle */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int fl_quota_new(const fl_quota_opts *opts, fl_quota **out, fl_err *err)
{
    if (!opts || !opts->index)
        return fl_err_set(err, -EINVAL, "quota: an index is required");
    if (opts->nmembers > MAX_CLUSTERS)
        return fl_err_set(err, -EINVAL, "quota: more than %d members", MAX_CLUSTERS);
    fl_quota *q = calloc(1, sizeof *q);
    if (!q)
        return fl_err_set(err, -ENOMEM, "out of memory");
    atomic_init(&q->stopping, false);
    q->o = *opts;
    q->host_cluster = strdup(opts->host_cluster ? opts->host_cluster : FL_QUOTA_HOST_CLUSTER);
    q->secrets_path = dup_or_null(opts->secrets_path);
    q->members = calloc(opts->nmembers + 1, sizeof *q->members);
    q->member_kubeconfigs = calloc(opts->nmembers + 1, sizeof *q->member_kubeconfigs);
    q->member_contexts = calloc(opts->nmembers + 1, sizeof *q->member_contexts);
    q->member_conns = calloc(opts->nmembers + 1, sizeof *q->member_conns);
    int rc = q->host_cluster && q->members && q->member_kubeconfigs && q->member_contexts &&
                     q->member_conns && (!opts->secrets_path || q->secrets_path)
                 ? 0
                 : -ENOMEM;
    for (size_t i = 0; !rc && i < opts->nmembers; i++) {
        const char *kc = opts->member_kubeconfigs ? opts->member_kubeconfigs[i] : NULL;
        const char *ctx = opts->member_contexts ? opts->member_contexts[i] : NULL;
        if (!(q->members[i] = strdup(opts->members[i])) ||
            (kc && !(q->member_kubeconfigs[i] = strdup(kc))) ||
            (ctx && !(q->member_contexts[i] = strdup(ctx))))
            rc = -ENOMEM;
    }
    q->nmembers = opts->nmembers;
    if (!q->o.stale_after_ms)
        q->o.stale_after_ms = 30000;
    if (!q->o.reservation_ttl_ms)
        q->o.reservation_ttl_ms = 120000;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->wake, NULL);
    pthread_cond_init(&q->rd_free, NULL);
    if (!q->o.recompute_interval_ms)
        q->o.recompute_interval_ms = 10000;
    if (rc)
        fl_err_set(err, rc, "out of memory");
    if (!rc)
        rc = readers_new(q, err);
    if (!rc && !(q->status_cache = json_object()))
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    if (!rc && opts->host_kubeconfig &&
        fl_kube_conn_load(opts->host_kubeconfig, opts->host_context, &q->host_conn, err) != 0) {
        fl_log(FL_LOG_WARN, "quota", "no status write-back: %s", err->msg);
        err->msg[0] = 0;
    }
    if (!q->o.status_interval_ms)
        q->o.status_interval_ms = 2000;
    if (!rc && q->secrets_path)
        rc = fl_quota_secrets(q->secrets_path, (const char *const *)q->members, q->nmembers,
                              &q->secrets, err);
    if (!rc)
        rc = quota_webhook_start(q, err);
    if (!rc)
        rc = sweeper_start(q, err);
    if (rc) {
        fl_quota_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

/* The reader pool: one per admission worker and a few for the others. */
static int readers_new(fl_quota *q, fl_err *err)
{
    size_t n = (q->o.threads ? q->o.threads : 4) + EXTRA_READERS;
    if (!(q->readers = calloc(n, sizeof *q->readers)))
        return fl_err_set(err, -ENOMEM, "out of memory");
    for (; q->nreaders < n; q->nreaders++) {
        int rc = fl_index_reader_new(q->o.index, &q->readers[q->nreaders], err);
        if (rc)
            return rc;
    }
    q->nfree = n;
    return 0;
}

fl_index_reader *ledger_reader_get(fl_quota *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->nfree == 0)
        pthread_cond_wait(&q->rd_free, &q->mu);
    fl_index_reader *rd = q->readers[--q->nfree];
    pthread_mutex_unlock(&q->mu);
    return rd;
}

void ledger_reader_put(fl_quota *q, fl_index_reader *rd)
{
    pthread_mutex_lock(&q->mu);
    q->readers[q->nfree++] = rd;
    pthread_cond_signal(&q->rd_free);
    pthread_mutex_unlock(&q->mu);
}

static void dres_done(dres *d)
{
    free(d->cluster), free(d->group), free(d->resource), free(d->ns), free(d->name), free(d->rv);
    for (size_t i = 0; i < d->nc; i++) {
        free(d->cq[i]);
        qrl_done(&d->amt[i]);
    }
    free(d->cq), free(d->amt);
}

static void wres_done(wres *w)
{
    free(w->ns), free(w->uid), free(w->cluster);
    qrl_done(&w->per);
}

static void rtotal_done(rtotal *t)
{
    for (size_t c = 0; c < t->nc; c++)
        free(t->cq[c]), qrl_done(&t->amt[c]);
    free(t->cq), free(t->amt);
    memset(t, 0, sizeof *t);
    t->next_expiry_ms = INT64_MAX;
}

static void nsled_free(nsled *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nd; i++)
        dres_done(&l->d[i]);
    for (size_t i = 0; i < l->nw; i++)
        wres_done(&l->w[i]);
    rtotal_done(&l->rt);
    free(l->d), free(l->w);
    qents_free(l->qe, l->nqe);
    json_decref(l->keep);
    free(l->qsig);
    quota_cache_free(l->cache);
    pthread_mutex_destroy(&l->mu);
    free(l->ns);
    free(l);
}

void fl_quota_free(fl_quota *q)
{
    if (!q)
        return;
    atomic_store(&q->stopping, true);
    quota_webhook_stop(q);
    sweeper_stop(q);
    for (size_t i = 0; i < q->nns; i++)
        nsled_free(q->ns[i]);
    free(q->ns);
    for (size_t i = 0; q->readers && i < q->nreaders; i++)
        fl_index_reader_free(q->readers[i]);
    free(q->readers);
    json_decref(q->denials);
    bool lists = q->members && q->member_kubeconfigs && q->member_contexts && q->member_conns;
    for (size_t i = 0; lists && i < q->nmembers; i++) {
        free(q->members[i]);
        free(q->member_kubeconfigs[i]), free(q->member_contexts[i]);
        fl_kube_conn_unref(q->member_conns[i]);
    }
    free(q->members), free(q->member_kubeconfigs), free(q->member_contexts), free(q->member_conns);
    free(q->host_cluster), free(q->secrets_path);
    json_decref(q->secrets);
    json_decref(q->health_doc);
    json_decref(q->status_cache);
    fl_kube_conn_unref(q->host_conn);
    pthread_cond_destroy(&q->rd_free);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

void fl_quota_stats_get(fl_quota *q, fl_quota_stats *out)
{
    memset(out, 0, sizeof *out);
    out->allowed = atomic_load(&q->stats.allowed);
    out->denied = atomic_load(&q->stats.denied);
    out->errors = atomic_load(&q->stats.errors);
    out->reservations_expired = atomic_load(&q->stats.expired);
    out->recomputations = atomic_load(&q->stats.recomputations);
    out->drift = atomic_load(&q->stats.drift);
    pthread_mutex_lock(&q->mu);
    size_t n = q->nns;
    nsled **all = n ? malloc(n * sizeof *all) : NULL;
    for (size_t i = 0; all && i < n; i++)
        (all[i] = q->ns[i])->refs++;
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; all && i < n; i++) {
        pthread_mutex_lock(&all[i]->mu);
        out->reservations_open += all[i]->nd + all[i]->nw;
        pthread_mutex_unlock(&all[i]->mu);
    }
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; all && i < n; i++)
        all[i]->refs--;
    pthread_mutex_unlock(&q->mu);
    free(all);
}

/* ---------------------------------------------------------------- namespace ledgers */

static nsled *nsled_new(const char *ns)
{
    nsled *l = calloc(1, sizeof *l);
    if (!l || !(l->ns = strdup(ns))) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->rt.next_expiry_ms = INT64_MAX;
    return l;
}

/* Drop the least recently used idle ledger (nothing open, nobody in it)
 * when the table is full. Under q->mu. */
static void evict_idle(fl_quota *q)
{
    size_t best = q->nns;
    for (size_t i = 0; i < q->nns; i++) {
        nsled *l = q->ns[i];
        if (l->refs || pthread_mutex_trylock(&l->mu) != 0)
            continue;
        bool idle = l->nd == 0 && l->nw == 0;
        pthread_mutex_unlock(&l->mu);
        if (idle && (best == q->nns || l->idle_ms < q->ns[best]->idle_ms))
            best = i;
    }
    if (best < q->nns) {
        nsled_free(q->ns[best]);
        q->ns[best] = q->ns[--q->nns];
    }
}

/* ns's ledger with a reference taken (created when missing). Under q->mu. */
static nsled *nsled_ref(fl_quota *q, const char *ns)
{
    for (size_t i = 0; i < q->nns; i++)
        if (!strcmp(q->ns[i]->ns, ns)) {
            q->ns[i]->refs++;
            return q->ns[i];
        }
    if (q->nns >= MAX_NAMESPACES)
        evict_idle(q);
    nsled **grown = realloc(q->ns, (q->nns + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    q->ns = grown;
    nsled *l = nsled_new(ns);
    if (!l)
        return NULL;
    q->ns[q->nns++] = l;
    l->refs = 1;
    return l;
}

int ledger_enter(fl_quota *q, const char *ns, nsled **out)
{
    pthread_mutex_lock(&q->mu);
    nsled *l = nsled_ref(q, ns);
    pthread_mutex_unlock(&q->mu);
    if (!l)
        return -ENOMEM;
    pthread_mutex_lock(&l->mu);
    l->rd = ledger_reader_get(q);
    int rc = fl_index_reader_begin(l->rd);
    if (rc) {
        ledger_reader_put(q, l->rd);
        l->rd = NULL;
        pthread_mutex_unlock(&l->mu);
        pthread_mutex_lock(&q->mu);
        l->refs--;
        pthread_mutex_unlock(&q->mu);
        return rc;
    }
    *out = l;
    return 0;
}

/* Lock l->mu, waiting at most TRY_WAIT_US: another decision of the
 * namespace is tens of microseconds; a longer hold is a count. */
static bool lock_briefly(nsled *l)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += TRY_WAIT_US * 1000;
    if (until.tv_nsec >= 1000000000)
        until.tv_sec++, until.tv_nsec -= 1000000000;
    return pthread_mutex_timedlock(&l->mu, &until) == 0;
}

int ledger_try_enter(fl_quota *q, const char *ns, nsled **out)
{
    pthread_mutex_lock(&q->mu);
    nsled *l = nsled_ref(q, ns);
    pthread_mutex_unlock(&q->mu);
    if (!l)
        return -ENOMEM;
    fl_index_reader *rd = NULL;
    int rc = lock_briefly(l) ? 0 : -EAGAIN;
    bool held = rc == 0;
    if (!rc && (!l->qloaded || (l->nqe && !l->cache) || l->nw))
        rc = -EAGAIN; /* cold: a full count is due */
    pthread_mutex_lock(&q->mu);
    if (!rc && q->nfree == 0)
        rc = -EAGAIN;
    if (!rc)
        rd = q->readers[--q->nfree];
    else
        l->refs--;
    pthread_mutex_unlock(&q->mu);
    if (rc) {
        if (held)
            pthread_mutex_unlock(&l->mu);
        return rc;
    }
    l->rd = rd;
    if ((rc = fl_index_reader_begin(rd)) != 0) {
        l->rd = NULL;
        pthread_mutex_unlock(&l->mu);
        ledger_reader_put(q, rd);
        pthread_mutex_lock(&q->mu);
        l->refs--;
        pthread_mutex_unlock(&q->mu);
        return rc;
    }
    l->no_wait = true;
    *out = l;
    return 0;
}

void ledger_leave(fl_quota *q, nsled *l)
{
    l->no_wait = false;
    fl_index_reader *rd = l->rd;
    fl_index_reader_end(rd);
    l->rd = NULL;
    pthread_mutex_unlock(&l->mu);
    ledger_reader_put(q, rd);
    pthread_mutex_lock(&q->mu);
    l->refs--;
    l->idle_ms = fl_mono_ms();
    pthread_mutex_unlock(&q->mu);
}

bool ledger_is_member(const fl_quota *q, const char *cluster)
{
    for (size_t i = 0; i < q->nmembers; i++)
        if (strcmp(q->members[i], cluster) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- host objects */

typedef struct collect {
    json_t *arr;
} collect;

static int collect_row(void *arg, const fl_index_row *row)
{
    collect *c = arg;
    json_t *o = json_loadb(row->json, row->json_len, 0, NULL);
    if (o)
        json_array_append_new(c->arr, o);
    return 0;
}

static int host_list(fl_quota *q, nsled *l, const char *group, const char *resource, json_t **out,
                     fl_err *err)
{
    const char *clusters[1] = {q->host_cluster}, *nss[1] = {l->ns};
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    iq.group = group, iq.resource = resource;
    iq.clusters = clusters, iq.n_clusters = 1;
    iq.namespaces = nss, iq.n_namespaces = 1;
    iq.limit = FL_QUOTA_MAX_ITEMS;
    collect c = {json_array()};
    if (!c.arr)
        return -ENOMEM;
    int rc = fl_index_list(l->rd, &iq, collect_row, &c, NULL, err);
    if (rc) {
        json_decref(c.arr);
        return rc;
    }
    *out = c.arr;
    return 0;
}

/* The host's KarmadaQuotas and FRQs of l's namespace. */
static int host_objects(fl_quota *q, nsled *l, json_t **kq, json_t **frq, fl_err *err)
{
    if (q->o.host)
        return q->o.host(q->o.host_ud, l->ns, kq, frq, err);
    int rc = host_list(q, l, "quota.flotilla.io", "karmadaquotas", kq, err);
    if (!rc && (rc = host_list(q, l, "policy.karmada.io", "federatedresourcequotas", frq, err)))
        json_decref(*kq);
    return rc;
}

/* Used starts at zero for every hard key: the ledger computes it. */
static void zero_used(qent *e)
{
    fl_quantity zero = FL_QUANTITY_ZERO;
    qrl_done(&e->used);
    for (size_t i = 0; i < e->hard.n; i++)
        qrl_set(&e->used, e->hard.v[i].name, &zero);
}

/* Quotas of l's namespace as check entries: every valid KarmadaQuota, and
 * every valid FRQ's spec.overall (an invalid one enforces nothing; the
 * report and the host's status say why). */
static int load_quotas(fl_quota *q, nsled *l, json_t **keep, qent **out, size_t *n, fl_err *err)
{
    const char *ns = l->ns;
    json_t *kq = NULL, *frq = NULL;
    int rc = host_objects(q, l, &kq, &frq, err);
    if (rc)
        return rc;
    size_t cap = json_array_size(kq) + json_array_size(frq), k = 0, i;
    qent *e = calloc(cap ? cap : 1, sizeof *e);
    json_t *o;
    if (!e)
        rc = -ENOMEM;
    json_array_foreach(kq, i, o) {
        if (rc)
            break;
        fl_err pe = FL_ERR_INIT;
        if (qent_from_quota(o, NULL, &e[k], &pe) != 0) {
            fl_log(FL_LOG_WARN, "quota", "KarmadaQuota %s/%s ignored: %s", ns,
                   fl_obj_str_or(o, "metadata.name", ""), pe.msg);
            qents_free_one(&e[k]);
            continue;
        }
        e[k].ns = fl_obj_str_or(o, "metadata.namespace", ns);
        zero_used(&e[k++]);
    }
    json_array_foreach(frq, i, o) {
        json_t *errs = NULL;
        fl_err pe = FL_ERR_INIT;
        if (rc)
            break;
        if (fl_quota_frq_validate(o, &errs, &pe) != 0 || json_array_size(errs) > 0) {
            json_decref(errs);
            continue; /* invalid: enforces nothing */
        }
        json_decref(errs);
        if (!fl_obj_get(o, "spec.overall"))
            continue;
        e[k].name = fl_obj_str_or(o, "metadata.name", "");
        e[k].ns = fl_obj_str_or(o, "metadata.namespace", ns);
        e[k].frq = true;
        e[k].selectors = json_array();
        if (qrl_parse(&e[k].hard, fl_obj_get(o, "spec.overall"), "spec.overall", &pe) != 0 ||
            !e[k].selectors) {
            qents_free_one(&e[k]);
            continue;
        }
        zero_used(&e[k++]);
    }
    if (rc) {
        qents_free(e, k);
        json_decref(kq), json_decref(frq);
        return rc;
    }
    qents_sort(e, k);
    /* the names point into the JSON: keep both arrays alive */
    *keep = json_pack("[o,o]", frq, kq);
    *out = e, *n = k;
    return *keep ? 0 : -ENOMEM;
}

/* What a quota set enforces (names, kinds, hard, scopes), as a string. */
static char *quota_sig(const qent *e, size_t ne)
{
    fl_buf b = FL_BUF_INIT(16u << 20);
    for (size_t i = 0; i < ne; i++) {
        char *sel = json_dumps(e[i].selectors, JSON_COMPACT);
        fl_buf_printf(&b, "%s|%d|", e[i].name, e[i].frq);
        qrl_pretty(&e[i].hard, &b);
        fl_buf_printf(&b, "|%s\n", sel ? sel : "");
        free(sel);
    }
    if (!b.data)
        fl_buf_puts(&b, "");
    return fl_buf_steal(&b);
}

typedef struct qchange {
    const char *host, *ns;
} qchange;

static int on_host_change(void *arg, const char *type, bool superseded, int64_t revision,
                          const fl_index_row *row)
{
    const qchange *c = arg;
    (void)type, (void)superseded, (void)revision;
    return row && !strcmp(row->cluster, c->host) && !strcmp(row->namespace_, c->ns) &&
           (!strcmp(row->resource, "karmadaquotas") ||
            !strcmp(row->resource, "federatedresourcequotas"));
}

/* Is l's cached quota set still what the host says at revision rev? Only
 * the change log since it was read is looked at (nothing when the index did
 * not move). A host callback is asked every time. */
static bool quotas_current(fl_quota *q, nsled *l, int64_t rev)
{
    if (q->o.host || !l->qloaded)
        return false;
    if (l->qrev == rev)
        return true;
    qchange c = {q->host_cluster, l->ns};
    if (fl_index_changes(l->rd, l->qrev, 0, on_host_change, &c, NULL, NULL) != 0)
        return false; /* one changed, or the log no longer reaches back */
    l->qrev = rev;
    return true;
}

static int qents_copy(const qent *src, size_t n, qent **out)
{
    qent *e = calloc(n ? n : 1, sizeof *e);
    int rc = e ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        e[i].name = src[i].name, e[i].ns = src[i].ns, e[i].frq = src[i].frq;
        e[i].selectors = json_incref(src[i].selectors);
        if ((rc = qrl_copy(&e[i].hard, &src[i].hard)) == 0)
            rc = qrl_copy(&e[i].used, &src[i].used);
    }
    if (rc) {
        qents_free(e, n);
        return rc;
    }
    *out = e;
    return 0;
}

int ledger_quotas(fl_quota *q, nsled *l, qent **out, size_t *n, fl_err *err)
{
    int64_t rev = 0;
    int rc = fl_index_reader_revision(l->rd, &rev);
    if (!rc && !quotas_current(q, l, rev)) {
        json_t *keep = NULL;
        qent *e = NULL;
        size_t ne = 0;
        char *sig = NULL;
        if ((rc = load_quotas(q, l, &keep, &e, &ne, err)) == 0 && !(sig = quota_sig(e, ne)))
            rc = -ENOMEM;
        if (!rc) {
            if (!l->qsig || strcmp(l->qsig, sig))
                l->qgen++; /* what is enforced changed: usage caches are rebuilt */
            qents_free(l->qe, l->nqe);
            json_decref(l->keep);
            free(l->qsig);
            l->keep = keep, l->qe = e, l->nqe = ne, l->qsig = sig;
            l->qrev = rev, l->qloaded = true;
        } else {
            qents_free(e, ne);
            json_decref(keep);
        }
    }
    if (!rc && (rc = qents_copy(l->qe, l->nqe, out)) == 0)
        *n = l->nqe;
    return rc;
}

/* ---------------------------------------------------------------- health */

void ledger_health_done(health *h)
{
    free(h->ready);
    json_decref(h->doc);
}

/* The pods reflector's lag of a cluster entry (-1: none yet). */
static int64_t pods_lag(const json_t *cl, const char **phase)
{
    size_t i;
    const json_t *r;
    *phase = "";
    json_array_foreach(json_object_get(cl, "resources"), i, r) {
        if (strcmp(fl_obj_str_or(r, "resource", ""), "pods") || *fl_obj_str_or(r, "group", ""))
            continue;
        *phase = fl_obj_str_or(r, "phase", "");
        const json_t *lag = json_object_get(r, "lagMs");
        return json_is_integer(lag) ? json_integer_value(lag) : -1;
    }
    return -1;
}

/* Is cluster stale? why[] says so in the message's words. */
static bool stale(const fl_quota *q, const json_t *cl, char *why, size_t n)
{
    const char *h = fl_obj_str_or(cl, "health", "Unknown"), *phase;
    if (strcmp(h, "Ready") != 0) {
        snprintf(why, n, "cluster %s is %s", fl_obj_str_or(cl, "name", ""), h);
        return true;
    }
    int64_t lag = pods_lag(cl, &phase);
    if (strcmp(phase, "Watching") && strcmp(phase, "Skipped")) {
        snprintf(why, n, "cluster %s has not synced its pods (%s)", fl_obj_str_or(cl, "name", ""),
                 *phase ? phase : "no pods reflector");
        return true;
    }
    if (lag > q->o.stale_after_ms) {
        snprintf(why, n, "cluster %s's pods lag %lld ms behind (staleAfter %lld ms)",
                 fl_obj_str_or(cl, "name", ""), (long long)lag, (long long)q->o.stale_after_ms);
        return true;
    }
    return false;
}

/* The health callback's answer (a new reference), reused for
 * health_max_age_ms. */
static json_t *health_doc(fl_quota *q)
{
    int64_t now = fl_mono_ms();
    json_t *doc = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->health_doc && now - q->health_ms < q->o.health_max_age_ms)
        doc = json_incref(q->health_doc);
    pthread_mutex_unlock(&q->mu);
    if (doc || !(doc = q->o.health(q->o.health_ud)) || q->o.health_max_age_ms <= 0)
        return doc;
    pthread_mutex_lock(&q->mu);
    json_decref(q->health_doc);
    q->health_doc = json_incref(doc);
    q->health_ms = now;
    pthread_mutex_unlock(&q->mu);
    return doc;
}

char *ledger_ready_key(const health *h)
{
    fl_buf b = FL_BUF_INIT(16u << 20);
    for (size_t i = 0; i < h->nready; i++)
        fl_buf_printf(&b, "%s,", h->ready[i]);
    if (!b.data)
        fl_buf_puts(&b, "");
    return fl_buf_steal(&b);
}

/* Ready members, and whether this review must follow the stale policy:
 * the calling cluster is stale, or a Ready member lags. */
int ledger_health(fl_quota *q, const char *caller, health *h, char *why, size_t n)
{
    memset(h, 0, sizeof *h);
    why[0] = 0;
    h->ready = calloc(q->nmembers + 1, sizeof *h->ready);
    if (!h->ready)
        return -ENOMEM;
    if (!q->o.health) {
        for (size_t i = 0; i < q->nmembers; i++)
            h->ready[h->nready++] = q->members[i];
        return 0;
    }
    h->doc = health_doc(q);
    size_t i;
    const json_t *cl;
    bool caller_seen = false;
    json_array_foreach(json_object_get(h->doc, "clusters"), i, cl) {
        const char *name = fl_obj_str_or(cl, "name", "");
        char w[300];
        if (!ledger_is_member(q, name))
            continue;
        bool is_caller = caller && !strcmp(name, caller), st = stale(q, cl, w, sizeof w);
        caller_seen = caller_seen || is_caller;
        if (!strcmp(fl_obj_str_or(cl, "health", ""), "Ready") && h->nready < q->nmembers)
            h->ready[h->nready++] = name;
        /* a member that is not Ready is released; one that lags is not */
        if (st && !why[0] && (is_caller || !strcmp(fl_obj_str_or(cl, "health", ""), "Ready")))
            snprintf(why, n, "%s", w);
    }
    if (caller && !caller_seen && !why[0])
        snprintf(why, n, "cluster %s has no health report yet", caller);
    return 0;
}

/* ---------------------------------------------------------------- reservations */

/* Add (sign 1) or remove (-1) d's charges to / from its namespace's sum. */
static int rtotal_apply(nsled *l, const dres *d, int sign)
{
    rtotal *t = &l->rt;
    for (size_t c = 0; c < d->nc; c++) {
        size_t k = 0;
        while (k < t->nc && strcmp(t->cq[k], d->cq[c]))
            k++;
        if (k == t->nc) {
            char **cq = realloc(t->cq, (t->nc + 1) * sizeof *cq);
            rl *amt = cq ? realloc(t->amt, (t->nc + 1) * sizeof *amt) : NULL;
            if (cq)
                t->cq = cq;
            if (amt)
                t->amt = amt;
            if (!amt || !(cq[t->nc] = strdup(d->cq[c])))
                return -ENOMEM;
            t->amt[t->nc++] = (rl)RL_INIT;
        }
        for (size_t j = 0; j < d->amt[c].n; j++) {
            fl_quantity v = d->amt[c].v[j].q, neg = FL_QUANTITY_ZERO;
            if (sign < 0 && fl_quantity_sub(&neg, &v) == 0)
                v = neg;
            qrl_add_one(&t->amt[k], d->amt[c].v[j].name, &v);
        }
    }
    if (sign > 0 && d->expires_ms < t->next_expiry_ms)
        t->next_expiry_ms = d->expires_ms;
    return 0;
}

static void add_totals(qent *e, size_t ne, const rtotal *t)
{
    for (size_t c = 0; c < t->nc; c++)
        for (size_t i = 0; i < ne; i++) {
            if (strcmp(e[i].name, t->cq[c]))
                continue;
            for (size_t j = 0; j < t->amt[c].n; j++)
                if (qrl_get(&e[i].hard, t->amt[c].v[j].name))
                    qrl_add_one(&e[i].used, t->amt[c].v[j].name, &t->amt[c].v[j].q);
        }
}

typedef struct seen {
    const char *rv;
    bool newer;
} seen;

static int on_seen(void *arg, const fl_index_row *row)
{
    seen *s = arg;
    s->newer = !s->rv || strcmp(row->resource_version, s->rv) != 0;
    return 0;
}

/* Close direct reservations that the snapshot shows (each looked up once
 * per index revision) or that expired (drift: counted, logged once per
 * pass), then add the open ones to the quotas' used. The list is walked
 * only when the index moved on or an expiry is due. */
static void apply_direct(fl_quota *q, nsled *l, qent *e, size_t ne, int64_t now_ms, int64_t rev)
{
    rtotal *t = &l->rt;
    size_t expired = 0;
    char example[600] = "";
    if (l->nd && (t->checked_rev < rev || now_ms >= t->next_expiry_ms)) {
        int64_t next = INT64_MAX;
        for (size_t i = 0; i < l->nd;) {
            dres *d = &l->d[i];
            bool drop = false;
            if (*d->name && d->checked_rev < rev) {
                fl_index_key key = {d->cluster, d->group, NULL, d->resource, d->ns, d->name};
                seen s = {*d->rv ? d->rv : NULL, false};
                if (fl_index_get(l->rd, &key, on_seen, &s, NULL) == 0 && s.newer)
                    drop = true; /* the index shows it now: observed usage has it */
                d->checked_rev = rev;
            }
            if (!drop && d->expires_ms <= now_ms) {
                if (!expired++)
                    snprintf(example, sizeof example, "%s %s/%s in %s", d->resource, d->ns, d->name,
                             d->cluster);
                atomic_fetch_add(&q->stats.expired, 1);
                atomic_fetch_add(&q->stats.drift, 1);
                drop = true;
            }
            if (drop) {
                rtotal_apply(l, d, -1);
                dres_done(d);
                l->d[i] = l->d[--l->nd];
                continue;
            }
            if (d->expires_ms < next)
                next = d->expires_ms;
            i++;
        }
        t->checked_rev = rev, t->next_expiry_ms = next;
    }
    if (l->nd == 0 && t->nc)
        rtotal_done(t); /* nothing open: drop rounding leftovers and names */
    if (expired)
        fl_log(FL_LOG_WARN, "quota",
               "drift: %zu reservation(s) expired without their object "
               "showing in the index (e.g. %s)",
               expired, example);
    add_totals(e, ne, t);
}

/* Scheduler reservations: max(0, replicas - live) x per, masked per quota. */
static void apply_workloads(fl_quota *q, nsled *l, qent *e, size_t ne, int64_t now_ms)
{
    for (size_t i = 0; i < l->nw;) {
        wres *w = &l->w[i];
        if (w->expires_ms && w->expires_ms <= now_ms) {
            atomic_fetch_add(&q->stats.expired, 1);
            wres_done(w);
            l->w[i] = l->w[--l->nw];
            continue;
        }
        int64_t missing = w->replicas - w->live;
        for (size_t k = 0; missing > 0 && k < ne; k++)
            for (size_t j = 0; j < w->per.n; j++) {
                fl_quantity v = w->per.v[j].q;
                if (qrl_get(&e[k].hard, w->per.v[j].name) && fl_quantity_mul(&v, missing) == 0)
                    qrl_add_one(&e[k].used, w->per.v[j].name, &v);
            }
        i++;
    }
}

/* used of every quota of l's namespace: observed + reservations. Holding
 * l, in its snapshot. */
int ledger_compute(fl_quota *q, nsled *l, const health *h, qent *e, size_t ne, fl_err *err)
{
    int64_t now = fl_now_ms();
    /* a namespace with scheduler reservations needs each workload's live
     * pods: counted directly; the others follow the index's change log */
    int rc = l->nw && l->no_wait ? -EAGAIN
             : l->nw ? quota_usage_observe(l, h->ready, h->nready, e, ne, now / 1000, err)
                     : quota_cache_observe(q, l, h, e, ne, now / 1000, err);
    if (!rc) {
        int64_t rev = 0;
        fl_index_reader_revision(l->rd, &rev);
        apply_direct(q, l, e, ne, now, rev);
        apply_workloads(q, l, e, ne, now);
        atomic_fetch_add(&q->stats.recomputations, 1);
    }
    return rc;
}

/* ---------------------------------------------------------------- reviews */

typedef struct review {
    const char *uid, *op, *ns, *name, *group, *resource, *sub;
    const json_t *obj, *old;
    bool dry;
} review;

static int parse_review(const json_t *r, review *v, fl_err *err)
{
    memset(v, 0, sizeof *v);
    if (!json_is_object(r))
        return fl_err_set(err, FL_EPARSE, "request: must be an object");
    v->uid = json_string_value(json_object_get(r, "uid"));
    v->op = json_string_value(json_object_get(r, "operation"));
    const json_t *res = json_object_get(r, "resource");
    v->group = json_string_value(json_object_get(res, "group"));
    v->resource = json_string_value(json_object_get(res, "resource"));
    v->ns = fl_obj_str_or(r, "namespace", "");
    v->sub = fl_obj_str_or(r, "subResource", "");
    v->name = fl_obj_str_or(r, "name", "");
    v->obj = json_object_get(r, "object");
    v->old = json_object_get(r, "oldObject");
    const json_t *dry = json_object_get(r, "dryRun");
    v->dry = json_is_true(dry);
    if (!v->uid || !*v->uid || json_string_length(json_object_get(r, "uid")) > 256)
        return fl_err_set(err, FL_EPARSE, "request.uid: must be a non-empty string");
    if (!v->op || (strcmp(v->op, "CREATE") && strcmp(v->op, "UPDATE") && strcmp(v->op, "DELETE") &&
                   strcmp(v->op, "CONNECT")))
        return fl_err_set(err, FL_EPARSE,
                          "request.operation: must be CREATE, UPDATE, DELETE or CONNECT");
    if (!json_is_object(res) || !v->group || !v->resource || !*v->resource ||
        strlen(v->group) > 253 || strlen(v->resource) > 253)
        return fl_err_set(err, FL_EPARSE, "request.resource: must be {group, version, resource}");
    if (dry && !json_is_boolean(dry) && !json_is_null(dry))
        return fl_err_set(err, FL_EPARSE, "request.dryRun: must be a boolean");
    if (v->old && json_is_null(v->old))
        v->old = NULL;
    if (v->obj && json_is_null(v->obj))
        v->obj = NULL;
    bool writes = !strcmp(v->op, "CREATE") || !strcmp(v->op, "UPDATE");
    if (writes && !json_is_object(v->obj))
        return fl_err_set(err, FL_EPARSE, "request.object: must be an object on %s", v->op);
    if (!strcmp(v->op, "UPDATE") && !json_is_object(v->old))
        return fl_err_set(err, FL_EPARSE, "request.oldObject: must be an object on UPDATE");
    if (!*v->name)
        v->name = fl_obj_str_or(v->obj, "metadata.name", "");
    if (strlen(v->ns) > 253 || strlen(v->name) > 253)
        return fl_err_set(err, FL_EPARSE, "request: namespace or name too long");
    return 0;
}

static json_t *response(const char *uid, int code, const char *msg)
{
    if (!code)
        return json_pack("{s:s,s:b}", "uid", uid, "allowed", 1);
    return json_pack("{s:s,s:b,s:{s:{},s:s,s:s,s:s,s:i}}", "uid", uid, "allowed", 0, "status",
                     "metadata", "status", "Failure", "message", msg, "reason",
                     code == 403 ? "Forbidden" : fl_status_reason_for(code), "code", code);
}

/* charged = used after - used before, per touched quota. */
static json_t *charged_of(const check *c, const rl *before)
{
    json_t *j = json_object();
    for (size_t i = 0; j && i < c->nq; i++) {
        if (!c->touched[i])
            continue;
        rl d = RL_INIT;
        qrl_copy(&d, &c->q[i].used);
        for (size_t k = 0; k < before[i].n; k++) {
            fl_quantity neg = FL_QUANTITY_ZERO;
            fl_quantity_sub(&neg, &before[i].v[k].q);
            qrl_add_one(&d, before[i].v[k].name, &neg);
        }
        for (size_t k = 0; k < d.n;)
            if (fl_quantity_sign(&d.v[k].q) <= 0)
                qrl_remove(&d, d.v[k].name);
            else
                k++;
        if (d.n)
            json_object_set_new(j, c->q[i].name, qrl_json(&d));
        qrl_done(&d);
    }
    return j;
}

static int reserve_direct(fl_quota *q, nsled *l, const char *cluster, const review *v,
                          json_t *charged)
{
    size_t n = json_object_size(charged);
    if (n == 0) {
        json_decref(charged);
        return 0;
    }
    if (fl_grow(&l->d, &l->capd, l->nd + 1, sizeof *l->d) != 0) {
        json_decref(charged);
        return -ENOMEM;
    }
    dres *d = &l->d[l->nd];
    memset(d, 0, sizeof *d);
    d->cluster = strdup(cluster), d->group = strdup(v->group), d->resource = strdup(v->resource);
    d->ns = strdup(v->ns), d->name = strdup(v->name);
    d->rv = strdup(!strcmp(v->op, "UPDATE") ? fl_obj_str_or(v->old, "metadata.resourceVersion", "")
                                            : "");
    d->cq = calloc(n, sizeof *d->cq);
    d->amt = calloc(n, sizeof *d->amt);
    d->expires_ms = fl_now_ms() + q->o.reservation_ttl_ms;
    fl_index_reader_revision(l->rd, &d->checked_rev); /* not in this snapshot: no need to look */
    bool ok = d->cluster && d->group && d->resource && d->ns && d->name && d->rv && d->cq && d->amt;
    const char *k;
    json_t *amt;
    json_object_foreach(ok ? charged : NULL, k, amt) {
        if (!(d->cq[d->nc] = strdup(k)) || qrl_parse(&d->amt[d->nc], amt, "charged", NULL) != 0) {
            free(d->cq[d->nc]);
            qrl_done(&d->amt[d->nc]);
            ok = false;
            break;
        }
        d->nc++;
    }
    json_decref(charged);
    if (!ok || rtotal_apply(l, d, 1) != 0) {
        dres_done(d);
        return -ENOMEM;
    }
    l->nd++;
    return 0;
}

/* The decision for a parsed review, holding its namespace's ledger. */
static int decide(fl_quota *q, nsled *l, const char *cluster, const review *v, int *code,
                  fl_buf *msg, fl_err *err)
{
    qent *e = NULL;
    size_t ne = 0;
    health h;
    char why[512];
    int rc = ledger_quotas(q, l, &e, &ne, err);
    if (rc || ne == 0)
        goto out;
    if ((rc = ledger_health(q, cluster, &h, why, sizeof why)) != 0)
        goto out;
    if (why[0]) {
        fl_buf_printf(msg,
                      "quota.flotilla.io: usage of namespace %s is not known: %s "
                      "(stalePolicy %s)",
                      v->ns, why, q->o.stale_allow ? "allow" : "deny");
        *code = q->o.stale_allow ? 0 : 403;
        ledger_health_done(&h);
        goto out;
    }
    rc = ledger_compute(q, l, &h, e, ne, err);
    ledger_health_done(&h);
    if (rc)
        goto out;
    rl *before = calloc(ne, sizeof *before);
    bool *touched = calloc(ne, sizeof *touched);
    check c = {.op = v->op,
               .now = fl_now_ms() / 1000,
               .q = e,
               .nq = ne,
               .touched = touched,
               .msg = FL_BUF_INIT(1u << 20)};
    evaluator ev;
    qev_for(v->group, v->resource, &ev);
    c.ev = &ev;
    for (size_t i = 0; before && i < ne; i++)
        qrl_copy(&before[i], &e[i].used);
    rc =
        before && touched ? qcheck_object(&c, v->group, v->resource, v->obj, v->old, err) : -ENOMEM;
    if (!rc && c.code) {
        *code = c.code;
        fl_buf_puts(msg, c.msg.data ? c.msg.data : "");
    } else if (!rc && !v->dry)
        rc = reserve_direct(q, l, cluster, v, charged_of(&c, before));
    for (size_t i = 0; before && i < ne; i++)
        qrl_done(&before[i]);
    free(before), free(touched);
    fl_buf_done(&c.msg);
out:
    qents_free(e, ne);
    return rc;
}

/* Remember a denied review (under q->mu); the oldest goes past the cap. */
static void note_denial(fl_quota *q, const char *cluster, const review *v, const char *msg)
{
    if (!q->denials && !(q->denials = json_array()))
        return;
    json_t *d =
        json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s}", "time", (json_int_t)fl_now_ms(), "cluster",
                  cluster, "namespace", v->ns, "resource", v->resource ? v->resource : "", "name",
                  v->name ? v->name : "", "operation", v->op, "message", msg);
    if (!d || json_array_append_new(q->denials, d))
        return;
    while (json_array_size(q->denials) > QUOTA_DENIALS_MAX)
        json_array_remove(q->denials, 0);
}

int fl_quota_denials(fl_quota *q, json_t **out)
{
    pthread_mutex_lock(&q->mu);
    json_t *d = q->denials ? json_deep_copy(q->denials) : json_array();
    pthread_mutex_unlock(&q->mu);
    if (!d)
        return -ENOMEM;
    *out = d;
    return 0;
}

int fl_quota_denials_restore(fl_quota *q, const json_t *items)
{
    if (!items || !json_is_array(items) || !json_array_size(items))
        return 0;
    json_t *d = json_deep_copy(items);
    if (!d)
        return -ENOMEM;
    pthread_mutex_lock(&q->mu);
    int rc = q->denials ? json_array_extend(d, q->denials) : 0;
    if (rc == 0) {
        while (json_array_size(d) > QUOTA_DENIALS_MAX)
            json_array_remove(d, 0);
        json_decref(q->denials);
        q->denials = d;
        d = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    json_decref(d);
    return rc ? -ENOMEM : 0;
}

int fl_quota_review(fl_quota *q, const char *cluster, const json_t *request, json_t **out,
                    fl_err *err)
{
    return quota_review(q, cluster, request, true, out, err);
}

int quota_review(fl_quota *q, const char *cluster, const json_t *request, bool wait, json_t **out,
                 fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    review v;
    int rc = parse_review(request, &v, err);
    if (rc)
        return rc;
    int code = 0;
    fl_buf msg = FL_BUF_INIT(1u << 20);
    bool counted = strcmp(v.op, "CREATE") == 0 || strcmp(v.op, "UPDATE") == 0;
    /* quota ignores subresources and cluster-scoped objects, as kube does */
    if (counted && !*v.sub && *v.ns) {
        nsled *l = NULL;
        if ((rc = wait ? ledger_enter(q, v.ns, &l) : ledger_try_enter(q, v.ns, &l)) == 0) {
            rc = decide(q, l, cluster, &v, &code, &msg, err);
            ledger_leave(q, l);
        }
        if (rc == -EAGAIN && !wait) {
            fl_buf_done(&msg);
            return rc; /* nothing decided, nothing reserved: a worker decides */
        }
        atomic_fetch_add(rc ? &q->stats.errors : code ? &q->stats.denied : &q->stats.allowed, 1);
        if (!rc && code) {
            pthread_mutex_lock(&q->mu);
            note_denial(q, cluster, &v, msg.data ? msg.data : "");
            pthread_mutex_unlock(&q->mu);
        }
    }
    json_t *resp = rc ? NULL : response(v.uid, code, msg.data ? msg.data : "");
    fl_buf_done(&msg);
    if (!rc && !resp)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    if (!rc)
        *out = resp;
    return rc;
}

/* ---------------------------------------------------------------- scheduler API */

/* A replica's pod-style usage from a resourceRequest ({cpu, memory, ...}):
 * pods and count/pods 1, X and requests.X for cpu / memory /
 * ephemeral-storage / hugepages, requests.X for extended resources. */
static int per_replica(const json_t *req, rl *out, fl_err *err)
{
    rl r = RL_INIT;
    fl_quantity one;
    q_int(1, &one);
    int rc = qrl_parse(&r, req, "per_replica", err);
    if (!rc)
        rc = qrl_set(out, "pods", &one);
    if (!rc)
        rc = qrl_set(out, "count/pods", &one);
    for (size_t i = 0; !rc && i < r.n; i++) {
        const char *n = r.v[i].name;
        char name[FL_QUOTA_NAME_MAX + 16];
        snprintf(name, sizeof name, "%s%s", fl_str_has_prefix(n, "requests.") ? "" : "requests.",
                 n);
        rc = qrl_set(out, name, &r.v[i].q);
        if (!rc && !strchr(n, '/') && !fl_str_has_prefix(n, "requests."))
            rc = qrl_set(out, n, &r.v[i].q);
    }
    qrl_done(&r);
    return rc;
}

static wres *find_wres(nsled *l, const char *uid, const char *cluster)
{
    for (size_t i = 0; i < l->nw; i++)
        if (!strcmp(l->w[i].uid, uid) && !strcmp(l->w[i].cluster, cluster))
            return &l->w[i];
    return NULL;
}

/* Would replicas more of per fit every quota of l's namespace? Holding l. */
static int fits(fl_quota *q, nsled *l, const rl *per, int64_t extra, fl_err *err)
{
    qent *e = NULL;
    size_t ne = 0;
    health h;
    char why[512];
    int rc = ledger_quotas(q, l, &e, &ne, err);
    if (!rc && ne)
        rc = ledger_health(q, NULL, &h, why, sizeof why);
    if (!rc && ne) {
        rc = ledger_compute(q, l, &h, e, ne, err);
        ledger_health_done(&h);
    }
    for (size_t i = 0; !rc && extra > 0 && i < ne; i++) {
        for (size_t j = 0; !rc && j < per->n; j++) {
            const fl_quantity *hard = qrl_get(&e[i].hard, per->v[j].name);
            fl_quantity want = per->v[j].q;
            if (!hard || fl_quantity_mul(&want, extra) != 0)
                continue;
            fl_quantity next = *qrl_get(&e[i].used, per->v[j].name);
            char a[FL_QTY_STR_MAX], b[FL_QTY_STR_MAX], c[FL_QTY_STR_MAX];
            q_str(&next, b);
            if (fl_quantity_add(&next, &want) == 0 && fl_quantity_cmp(&next, hard) > 0)
                rc = fl_err_set(err, FL_EFORBIDDEN,
                                "exceeded quota: %s, requested: %s=%s, used: "
                                "%s=%s, limited: %s=%s",
                                e[i].name, per->v[j].name, q_str(&want, a), per->v[j].name, b,
                                per->v[j].name, q_str(hard, c));
        }
    }
    qents_free(e, ne);
    return rc;
}

int fl_quota_reserve(fl_quota *q, const char *ns, const char *uid, const char *cluster,
                     int64_t replicas, const json_t *per, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    rl p = RL_INIT;
    if (!ns || !uid || !cluster || replicas < 0 || replicas > INT32_MAX)
        return fl_err_set(err, FL_EPARSE,
                          "reserve: namespace, workload uid, cluster and "
                          "0 <= replicas < 2^31 are required");
    int rc = per_replica(per, &p, err);
    if (rc) {
        qrl_done(&p);
        return rc;
    }
    nsled *l = NULL;
    if ((rc = ledger_enter(q, ns, &l)) != 0) {
        qrl_done(&p);
        return rc;
    }
    wres *w = find_wres(l, uid, cluster);
    int64_t extra = replicas - (w ? w->replicas : 0);
    rc = fits(q, l, &p, extra, err);
    if (!rc && !w)
        rc = fl_grow(&l->w, &l->capw, l->nw + 1, sizeof *l->w);
    if (!rc && !w) {
        w = &l->w[l->nw];
        memset(w, 0, sizeof *w);
        w->ns = strdup(ns), w->uid = strdup(uid), w->cluster = strdup(cluster);
        if (!w->ns || !w->uid || !w->cluster) {
            wres_done(w);
            rc = -ENOMEM;
        } else
            l->nw++;
    }
    if (!rc) {
        qrl_done(&w->per);
        w->per = p;
        p = (rl)RL_INIT;
        w->replicas = replicas;
        if (w->expires_ms || extra > 0)
            w->expires_ms = fl_now_ms() + q->o.reservation_ttl_ms;
    }
    ledger_leave(q, l);
    qrl_done(&p);
    return rc;
}

int fl_quota_commit(fl_quota *q, const char *ns, const char *uid, const char *cluster)
{
    nsled *l = NULL;
    int rc = ledger_enter(q, ns, &l);
    if (rc)
        return rc;
    wres *w = find_wres(l, uid, cluster);
    if (w)
        w->expires_ms = 0;
    ledger_leave(q, l);
    return w ? 0 : FL_ENOTFOUND;
}

int fl_quota_release(fl_quota *q, const char *ns, const char *uid, const char *cluster)
{
    nsled *l = NULL;
    int rc = ledger_enter(q, ns, &l);
    if (rc)
        return rc;
    wres *w = find_wres(l, uid, cluster);
    if (w) {
        wres_done(w);
        *w = l->w[--l->nw];
    }
    ledger_leave(q, l);
    return w ? 0 : FL_ENOTFOUND;
}

int fl_quota_used(fl_quota *q, const char *ns, json_t **used, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    json_t *out = NULL;
    qent *e = NULL;
    size_t ne = 0;
    health h;
    char why[512];
    nsled *l = NULL;
    int rc = ledger_enter(q, ns, &l);
    if (!rc) {
        rc = ledger_quotas(q, l, &e, &ne, err);
        if (!rc)
            rc = ledger_health(q, NULL, &h, why, sizeof why);
        if (!rc) {
            rc = ledger_compute(q, l, &h, e, ne, err);
            ledger_health_done(&h);
        }
        out = rc ? NULL : json_object();
        for (size_t i = 0; out && i < ne; i++)
            json_object_set_new(out, e[i].name, qrl_json(&e[i].used));
        ledger_leave(q, l);
    }
    qents_free(e, ne);
    if (!rc && !out)
        rc = -ENOMEM;
    if (!rc)
        *used = out;
    return rc;
}

/* ---------------------------------------------------------------- periodic recomputation */

/* The namespaces with a ledger (copies), for a pass over them. */
static char **ledger_names(fl_quota *q, size_t *n)
{
    pthread_mutex_lock(&q->mu);
    char **names = calloc(q->nns + 1, sizeof *names);
    size_t k = 0;
    for (size_t i = 0; names && i < q->nns; i++)
        if ((names[k] = strdup(q->ns[i]->ns)) != NULL)
            k++;
    pthread_mutex_unlock(&q->mu);
    *n = k;
    return names;
}

/* One namespace's periodic pass: reservations closed or expired (drift)
 * under its lock, then, when its usage cache is older than REBUILD_MS, the
 * full recount off-lock. */
static void sweep_one(fl_quota *q, const char *ns)
{
    qent *e = NULL;
    size_t ne = 0;
    health h;
    char why[512];
    fl_err err = FL_ERR_INIT;
    nsled *l = NULL;
    int64_t age = -1;
    if (ledger_enter(q, ns, &l) != 0)
        return;
    if ((l->nd || l->nw) && ledger_quotas(q, l, &e, &ne, &err) == 0 &&
        ledger_health(q, NULL, &h, why, sizeof why) == 0) {
        if (ledger_compute(q, l, &h, e, ne, &err) != 0)
            fl_log(FL_LOG_WARN, "quota", "recomputing %s: %s", ns, err.msg);
        ledger_health_done(&h);
    }
    age = quota_cache_age_ms(l);
    ledger_leave(q, l);
    qents_free(e, ne);
    bool counted, drift;
    if (age >= QUOTA_REBUILD_MS && quota_cache_recount(q, ns, &counted, &drift, &err) != 0)
        fl_log(FL_LOG_WARN, "quota", "recounting %s: %s", ns, err.msg);
}

static void sweep(fl_quota *q)
{
    size_t n = 0;
    char **names = ledger_names(q, &n);
    for (size_t i = 0; names && i < n; i++) {
        pthread_mutex_lock(&q->mu);
        bool stop = q->stop;
        pthread_mutex_unlock(&q->mu);
        if (!stop)
            sweep_one(q, names[i]);
        free(names[i]);
    }
    free(names);
}

int fl_quota_recount(fl_quota *q, const char *ns, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    bool counted, drift;
    return quota_cache_recount(q, ns, &counted, &drift, err ? err : &local_err);
}

int fl_quota_recount_all(fl_quota *q, const char *ns, json_t **out, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    size_t n = 0, recounted = 0;
    char **names = NULL;
    int64_t t0 = fl_mono_ms();
    int rc = 0;
    json_t *drifted = json_array(), *doc = NULL;
    if (!err)
        err = &local_err;
    if (ns) {
        names = calloc(2, sizeof *names);
        if (names && (names[0] = strdup(ns)) != NULL)
            n = 1;
    } else
        names = ledger_names(q, &n);
    if (!names || (ns && !n) || !drifted)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        bool counted = false, drift = false;
        if ((rc = quota_cache_recount(q, names[i], &counted, &drift, err)) != 0)
            break;
        recounted += counted;
        if (drift && json_array_append_new(drifted, json_string(names[i])) != 0)
            rc = fl_err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    if (!rc && !(doc = json_pack("{s:I,s:I,s:I,s:O,s:I}", "namespaces", (json_int_t)n, "recounted",
                                 (json_int_t)recounted, "drift",
                                 (json_int_t)json_array_size(drifted), "driftNamespaces", drifted,
                                 "durationMs", (json_int_t)(fl_mono_ms() - t0))))
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    json_decref(drifted);
    if (!rc)
        *out = doc;
    return rc;
}

/* Ticks at the shorter of the two intervals: reservations are swept every
 * recompute_interval_ms, status compared every status_interval_ms. */
static void *sweeper(void *arg)
{
    fl_quota *q = arg;
    int64_t tick = q->o.recompute_interval_ms, last_sweep = fl_mono_ms(), last_status = 0;
    if (q->host_conn && q->o.status_interval_ms < tick)
        tick = q->o.status_interval_ms;
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (tick % 1000) * 1000000;
        ts.tv_sec += tick / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_mutex_lock(&q->mu);
        while (!q->stop && pthread_cond_timedwait(&q->wake, &q->mu, &ts) == 0)
            ;
        bool stop = q->stop;
        pthread_mutex_unlock(&q->mu);
        if (stop)
            return NULL;
        int64_t now = fl_mono_ms();
        if (now - last_sweep >= q->o.recompute_interval_ms) {
            sweep(q);
            last_sweep = now;
        }
        if (q->host_conn && now - last_status >= q->o.status_interval_ms) {
            quota_status_sync(q);
            quota_assign_sync(q);
            last_status = now;
        }
    }
}

static int sweeper_start(fl_quota *q, fl_err *err)
{
    int rc = pthread_create(&q->sweeper, NULL, sweeper, q);
    if (rc)
        return fl_err_set(err, -rc, "quota: %s", fl_strerror(-rc));
    q->sweeping = true;
    return 0;
}

static void sweeper_stop(fl_quota *q)
{
    if (!q->sweeping)
        return;
    fl_thread_stop(q->sweeper, &q->mu, &q->wake, &q->stop);
    q->sweeping = false;
}
