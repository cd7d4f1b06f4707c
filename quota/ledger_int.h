/*
 * quota/ledger_int.h: the ledger's state, shared by ledger.c (decisions,
 * reservations), usage.c (what the index says a namespace uses) and
 * webhook.c (the HTTP side and its workers). Nothing outside quota/
 * includes it.
 */
#ifndef FL_QUOTA_LEDGER_INT_H
#define FL_QUOTA_LEDGER_INT_H

#include <pthread.h>

#include "index/index.h"
#include "quota/quota_int.h"

/* A direct admission's reservation: what it was charged, per quota name,
 * until (cluster, group, resource, ns,
 * name) shows in the index with a resourceVersion other than rv, or
 * expires_ms passes. */
typedef struct dres {
    char *cluster, *group, *resource, *ns, *name, *rv;
    size_t nc;   /* charged: amt[i] to the quota named cq[i] */
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
    char *ns;
    size_t nc;
    char **cq;
    rl *amt;
    int64_t checked_rev, next_expiry_ms;
} rtotal;

typedef struct webhook_pool webhook_pool;
typedef struct nscache nscache;

struct fl_quota {
    fl_quota_opts o; /* strings below replace the borrowed ones */
    char *host_cluster, *secrets_path;
    char **members;
    size_t nmembers;
    char **member_kubeconfigs, **member_contexts; /* parallel to members; NULL entries */
    fl_kube_conn **member_conns;                  /* loaded on first use (assign.c) */
    /* Everything below is guarded by mu. */
    pthread_mutex_t mu;
    fl_index_reader *rd;
    json_t *secrets;
    int64_t secrets_read_ms;
    dres *d;
    size_t nd, capd;
    rtotal *rt;  /* one per namespace with open direct reservations */
    size_t nrt;
    wres *w;
    size_t nw, capw;
    fl_quota_stats stats;
    json_t *denials;    /* the last QUOTA_DENIALS_MAX denied reviews, oldest first */
    webhook_pool *pool; /* webhook.c; set once at start */
    /* the periodic recomputation and status write-back (ledger.c) */
    pthread_t sweeper;
    bool sweeping, stop;
    pthread_cond_t wake;
    nscache **cache;         /* per-namespace usage followed from the change log (cache.c) */
    size_t ncache;
    fl_kube_conn *host_conn; /* NULL: no status write-back */
    json_t *status_cache;    /* "kind/ns/name" -> status last written (sweeper only) */
};

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
 * reservations (expired ones are dropped as drift). Under mu, in a snapshot. */
int ledger_compute(fl_quota *q, const char *ns, const health *h, qent *e, size_t ne, fl_err *err);
/* Quotas of ns as check entries (used zero); *keep holds the JSON their
 * names borrow from. Under mu. */
int ledger_quotas(fl_quota *q, const char *ns, json_t **keep, qent **out, size_t *n, fl_err *err);

/* usage.c: add what the index says ns uses on the clusters ready[0..n) to
 * every quota's used, and count the live pods of each scheduler
 * reservation of ns (wres.live). Under mu, inside a reader snapshot. */
int quota_usage_observe(fl_quota *q, const char *ns, const char *const *ready, size_t nready,
                  qent *e, size_t ne, int64_t now_s, fl_err *err);

/* cache.c: add what the index says ns uses on h's Ready members to every
 * quota's used, from the namespace's cache (followed from the change log,
 * rebuilt when stale). Under mu, in a snapshot. */
int quota_cache_observe(fl_quota *q, const char *ns, const health *h, qent *e, size_t ne,
                        int64_t now_s, fl_err *err);
void quota_cache_free_all(fl_quota *q);

/* status.c: write every quota's status to the host when it changed.
 * The sweeper thread only; takes mu itself. */
void quota_status_sync(fl_quota *q);

/* assign.c: static assignments -> member ResourceQuotas. The sweeper
 * thread only; takes mu itself. */
void quota_assign_sync(fl_quota *q);

/* webhook.c */
int quota_webhook_start(fl_quota *q, fl_err *err);
void quota_webhook_stop(fl_quota *q);

#endif
