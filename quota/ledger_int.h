/*
 * quota/ledger_int.h: the ledger's state, shared by ledger.c (decisions,
 * reservations), usage.c (what the index says a namespace uses) and
 * webhook.c (the HTTP side and its workers). Nothing outside quota/
 * includes it.
 */
#ifndef FL_QUOTA_LEDGER_INT_H
#define FL_QUOTA_LEDGER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "index/index.h"
#include "quota/quota_int.h"

/* A direct admission's reservation: what it was charged, per quota name,
 * until (cluster, group, resource, ns,
 * name) shows in the index with a resourceVersion other than rv, or
 * expires_ms passes. */
typedef struct dres {
    char *cluster, *group, *resource, *ns, *name, *rv;
    size_t nc; /* charged: amt[i] to the quota named cq[i] */
    char **cq;
    rl *amt;
    int64_t expires_ms;
    int64_t checked_rev; /* index revision the object was last looked for at */
} dres;

/* A scheduler reservation: replicas x per (pod-style usage of one replica)
 * minus the workload's live pods in cluster. expires_ms 0 = committed. */
typedef struct wres {
    char *ns, *uid, *cluster;
    int64_t replicas;
    rl per;
    int64_t expires_ms;
    int64_t live; /* scratch: live pods seen by the last observation */
} wres;

/* Open direct reservations of one namespace, summed: what they add to each
 * quota (amt[i] to the quota named cq[i]), the index revision they were
 * last looked for at, and the earliest expiry among them. */
typedef struct rtotal {
    size_t nc;
    char **cq;
    rl *amt;
    int64_t checked_rev, next_expiry_ms;
} rtotal;

typedef struct webhook_pool webhook_pool;
typedef struct nscache nscache;

/* One namespace's ledger: everything a decision in ns reads or changes, so
 * that decisions in different namespaces run in parallel and decisions in
 * one namespace are serialized (no two reviews take the same last unit).
 * Fields below mu are guarded by it; rd is the reader (in a snapshot) the
 * holder of mu borrowed (ledger_enter), NULL otherwise. refs and idle_ms
 * are guarded by the fl_quota's mu. */
typedef struct nsled {
    char *ns;
    unsigned refs;
    int64_t idle_ms;
    pthread_mutex_t mu;
    fl_index_reader *rd;
    /* the quota set: host objects ([frqs, kqs]) read at index revision qrev,
     * as check entries (used zero); qgen counts reloads */
    json_t *keep;
    qent *qe;
    size_t nqe;
    char *qsig;
    int64_t qrev;
    uint64_t qgen;
    bool qloaded;
    dres *d;
    size_t nd, capd;
    rtotal rt;
    wres *w;
    size_t nw, capw;
    nscache *cache; /* usage followed from the change log (cache.c) */
    bool no_wait;   /* this hold must not count in full: -EAGAIN instead */
} nsled;

/* Counters behind fl_quota_stats, updated without a lock. */
typedef struct qstats {
    _Atomic uint64_t allowed, denied, errors, expired, recomputations, drift;
} qstats;

struct fl_quota {
    fl_quota_opts o; /* strings below replace the borrowed ones */
    char *host_cluster, *secrets_path;
    char **members;
    size_t nmembers;
    char **member_kubeconfigs, **member_contexts; /* parallel to members; NULL entries */
    fl_kube_conn **member_conns;                  /* loaded on first use (assign.c) */
    qstats stats;
    atomic_bool stopping; /* set first by fl_quota_free: long counts give up */
    /* Everything below is guarded by mu, held only briefly (never while a
     * namespace is counted): the namespace ledgers, the reader pool, the
     * secrets and the health report's cache. Lock order: an nsled's mu
     * before this one. */
    pthread_mutex_t mu;
    pthread_cond_t rd_free;
    fl_index_reader **readers; /* the pool; free ones are readers[0..nfree) */
    size_t nreaders, nfree;
    nsled **ns;
    size_t nns;
    json_t *secrets;
    int64_t secrets_read_ms;
    json_t *health_doc; /* the health callback's last answer */
    int64_t health_ms;  /* when it was asked (monotonic) */
    json_t *denials;    /* the last QUOTA_DENIALS_MAX denied reviews, oldest first */
    webhook_pool *pool; /* webhook.c; set once at start */
    /* the periodic recomputation and status write-back (ledger.c) */
    pthread_t sweeper;
    bool sweeping, stop;
    pthread_cond_t wake;
    fl_kube_conn *host_conn; /* NULL: no status write-back */
    json_t *status_cache;    /* "kind/ns/name" -> status last written (sweeper only) */
};

/* Lock namespace ns's ledger (created on first use) with a reader in a
 * snapshot: 0 and *out, -ENOMEM, or FL_ESQL (nothing held). */
int ledger_enter(fl_quota *q, const char *ns, nsled **out);
/* ledger_enter without waiting long: -EAGAIN when the namespace's ledger
 * stays busy for a millisecond, no reader is free, or the ledger is cold (quotas never read, no
 * usage cache yet, or scheduler reservations to count); the hold has
 * no_wait set, so a count
 * it would need answers -EAGAIN too. */
int ledger_try_enter(fl_quota *q, const char *ns, nsled **out);
void ledger_leave(fl_quota *q, nsled *l);
/* A reader from the pool (waits for one), outside any namespace. */
fl_index_reader *ledger_reader_get(fl_quota *q);
void ledger_reader_put(fl_quota *q, fl_index_reader *rd);

#define QUOTA_DENIALS_MAX 50

bool ledger_is_member(const fl_quota *q, const char *cluster);

/* Ready members (from the health callback) and, for caller, why its reviews
 * must follow the stale policy (why[0] == 0: they need not). */
typedef struct health {
    const char **ready; /* Ready members (borrowed from doc) */
    size_t nready;
    json_t *doc;
} health;
int ledger_health(fl_quota *q, const char *caller, health *h, char *why, size_t n);
void ledger_health_done(health *h);
/* used of every quota of ns = observed on h's Ready members + open
 * reservations (expired ones are dropped as drift). Holding l. */
int ledger_compute(fl_quota *q, nsled *l, const health *h, qent *e, size_t ne, fl_err *err);
/* Quotas of l's namespace as check entries (used zero), a copy of the
 * cached set (reloaded when the host's objects of the namespace changed):
 * their names borrow from l->keep, valid while l is held. */
int ledger_quotas(fl_quota *q, nsled *l, qent **out, size_t *n, fl_err *err);
/* Health-report ready list as one string ("a,b,"), for cache signatures. */
char *ledger_ready_key(const health *h);

/* usage.c: add what the index says ns uses on the clusters ready[0..n) to
 * every quota's used, and count the live pods of each scheduler
 * reservation of l (wres.live). Holding l. */
int quota_usage_observe(nsled *l, const char *const *ready, size_t nready, qent *e, size_t ne,
                        int64_t now_s, fl_err *err);

/* cache.c: add what the index says l's namespace uses on h's Ready members
 * to every quota's used, from the namespace's cache (followed from the
 * change log; built when missing or when the quotas or the Ready members
 * changed). Holding l, in a snapshot. */
int quota_cache_observe(fl_quota *q, nsled *l, const health *h, qent *e, size_t ne, int64_t now_s,
                        fl_err *err);
/* The full recount of ns, made without holding its ledger: counted from a
 * snapshot of its own, then brought up to date from the change log and
 * swapped in under the lock (a difference from the incremental totals is
 * drift: logged, counted). The reservations made meanwhile stay open and
 * are added on top as ever. *counted: a count was swapped in (false: the
 * namespace has no quotas, or scheduler reservations and so no cache, or its
 * quotas or members changed meanwhile); *drift: it differed. 0 or a
 * negative code. Not holding any nsled. */
int quota_cache_recount(fl_quota *q, const char *ns, bool *counted, bool *drift, fl_err *err);
/* Age of l's cache (ms since its last full count), -1 when none. Holding l. */
int64_t quota_cache_age_ms(const nsled *l);
/* A namespace's usage cache is recounted in full (off-lock) at least this
 * often: that notices time-dependent counting (a pod's deletion grace
 * period) and any drift of the incremental totals. */
#define QUOTA_REBUILD_MS 60000
void quota_cache_free(nscache *c);

/* status.c: write every quota's status to the host when it changed.
 * The sweeper thread only; takes the locks itself. */
void quota_status_sync(fl_quota *q);

/* assign.c: static assignments -> member ResourceQuotas. The sweeper
 * thread only; takes the locks itself. */
void quota_assign_sync(fl_quota *q);

/* fl_quota_review; wait false: -EAGAIN instead of waiting for the
 * namespace's ledger or counting it in full (the caller queues the review
 * to a worker that may wait). */
int quota_review(fl_quota *q, const char *cluster, const json_t *request, bool wait,
                 json_t **response, fl_err *err);

/* webhook.c */
int quota_webhook_start(fl_quota *q, fl_err *err);
void quota_webhook_stop(fl_quota *q);

#endif
