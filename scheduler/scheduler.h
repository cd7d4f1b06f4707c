/*
 * scheduler: the placement engine — where a workload's replicas go, with
 * Karmada's decisions (policy matching, cluster filters, spread-constraint
 * selection, replica division by the Webster method) and Flotilla's
 * capacity and quota awareness. A pure engine: no threads, no globals, and
 * no I/O but one call (fl_sched_snapshot_load reads the index). Capacity
 * comes as plain numbers, node/pod JSON or an index snapshot; the quota
 * ledger is reached through the fl_sched_quota hook below; so every
 * decision can be tested case by case (`flotilla debug place`).
 *
 * Two layers:
 *   typed     fl_sched_webster, fl_sched_assign, fl_sched_select: the
 *             algorithms over plain structs (names are borrowed);
 *   JSON      fl_sched_op_*: one request object in, one answer object out,
 *             the `flotilla debug place` protocol (and the daemon's dry run).
 *
 * Errors: functions return 0 or a negative code (FL_EPARSE for a malformed
 * request, FL_ESCHED for a placement that cannot be made, -ENOMEM); the
 * human-readable reason, in Karmada's wording where Karmada has one, is in
 * err->msg. Threads: every function may be called from any thread; nothing
 * is shared between calls.
 */
#ifndef FL_SCHEDULER_H
#define FL_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "index/index.h"
#include "kube/kube.h"

/* A placement that cannot be made (unschedulable): err->msg says why. */
#define FL_ESCHED (-1101)
/* A placement refused by the quota hook: err->msg is the quota's message. */
#define FL_EQUOTA (-1102)

/* Caps on every input. */
#define FL_SCHED_MAX_CLUSTERS 4096
#define FL_SCHED_MAX_SEATS 100000000 /* replicas one division may hand out */

/* ---------------------------------------------------------------- Webster */

/* One party of a Webster (Sainte-Laguë) apportionment. */
typedef struct fl_sched_party {
    const char *name; /* borrowed; unique within a call */
    int64_t votes;    /* >= 0; a party with 0 votes gets no new seats */
    int64_t seats;    /* in: initial seats; out: initial + new */
} fl_sched_party;

/* Hand out new_seats more seats over p[0..n) by the highest quotient
 * votes/(2*seats+1) (exact rational comparison). Ties go to the party with
 * fewer seats, then by name ascending — descending when uid is non-empty and
 * fnv32a(uid) is odd (Karmada's per-workload tie-break). Seats that no party
 * can take (all votes 0) stay unassigned. Returns 0, or -EINVAL for negative
 * numbers or new_seats > FL_SCHED_MAX_SEATS, -ENOMEM. */
int fl_sched_webster(fl_sched_party *p, size_t n, int64_t new_seats, const char *uid);

/* FNV-1a 32-bit of s (Go's hash/fnv New32a). */
uint32_t fl_sched_fnv32a(const char *s);

/* ---------------------------------------------------------------- division */

typedef enum {
    FL_SCHED_DUPLICATED = 0,
    FL_SCHED_STATIC_WEIGHT,
    FL_SCHED_DYNAMIC_WEIGHT,
    FL_SCHED_AGGREGATED,
} fl_sched_strategy;

/* A candidate cluster as division and selection see it. */
typedef struct fl_sched_cluster {
    const char *name;     /* borrowed */
    const char *region;   /* borrowed, may be NULL */
    const char *zone;     /* borrowed, may be NULL; "a,b": in zones a and b */
    const char *provider; /* borrowed, may be NULL */
    int64_t score;        /* selection: the filter/score result */
    int64_t weight;       /* static weight; -1 = no weight rule matched */
    int64_t available;    /* additional replicas that fit; -1 = unknown */
    int64_t current;      /* replicas the previous placement gave it */
} fl_sched_cluster;

/* One cluster of a placement (name borrowed from the inputs). */
typedef struct fl_sched_target {
    const char *name;
    int64_t replicas;
} fl_sched_target;

typedef struct fl_sched_assign_in {
    fl_sched_strategy strategy;
    int64_t replicas;                 /* desired, >= 0 */
    const char *uid;                  /* the template's uid (tie-break), may be "" */
    bool fresh;                       /* Fresh mode (else Steady) */
    const fl_sched_cluster *clusters; /* candidates, in candidate order */
    size_t n_clusters;
    const fl_sched_target *previous; /* earlier targets that are no longer candidates */
    size_t n_previous;
} fl_sched_assign_in;

/* Divide in->replicas over the candidates as Karmada's AssignReplicas does
 * (see scheduler/README.md for the few deviations). *out (caller frees with
 * free()) gets *n_out targets, sorted by name, clusters with 0 replicas
 * dropped when replicas > 0. FL_ESCHED with Karmada's message when it
 * cannot be done; -EINVAL / -ENOMEM otherwise. */
int fl_sched_assign(const fl_sched_assign_in *in, fl_sched_target **out, size_t *n_out,
                    fl_err *err);

/* ---------------------------------------------------------------- selection */

typedef enum {
    FL_SCHED_SPREAD_CLUSTER = 0,
    FL_SCHED_SPREAD_REGION,
    FL_SCHED_SPREAD_ZONE,
    FL_SCHED_SPREAD_PROVIDER,
} fl_sched_spread_field;

typedef struct fl_sched_spread {
    fl_sched_spread_field field;
    int64_t min_groups;
    int64_t max_groups;
} fl_sched_spread;

typedef struct fl_sched_select_in {
    bool duplicated;    /* replica scheduling type Duplicated */
    bool ignore_spread; /* static weights: constraints are ignored */
    int64_t replicas;
    const fl_sched_spread *spread;
    size_t n_spread;
    const fl_sched_cluster *clusters; /* available here counts replicas already there */
    size_t n_clusters;
} fl_sched_select_in;

/* Choose the clusters to divide over, as Karmada's SelectBestClusters (group
 * scores, min/maxGroups, region-then-cluster fill), with zone and provider
 * grouping as region's. *out (caller frees) gets *n_out indexes into
 * in->clusters, in selection order. FL_ESCHED with Karmada's message when no
 * selection satisfies the constraints. */
int fl_sched_select(const fl_sched_select_in *in, size_t **out, size_t *n_out, fl_err *err);

/* ---------------------------------------------------------------- quota hook */

/* The quota ledger as placement sees it: before a placement is answered, the
 * engine asks the ledger to reserve what it adds (per cluster: replicas
 * beyond the previous assignment × the per-replica requests). The ledger
 * answers 0 (reserved: commit or release later through its own API) or
 * FL_EQUOTA with the quota's message in err (e.g. "exceeded quota: q,
 * requested: cpu=2, used: cpu=9, limited: cpu=10"). A NULL hook allows
 * everything. `requests` is the per-replica ResourceList JSON (borrowed). */
typedef struct fl_sched_quota {
    int (*reserve)(void *ud, const char *namespace_, const char *cluster, int64_t replicas,
                   const json_t *requests, fl_err *err);
    void *ud;
} fl_sched_quota;

/* ---------------------------------------------------------------- capacity snapshot */

/* The fleet's nodes and pod usage, read once from the index into memory;
 * answers available replicas per (cluster, pod spec), cached per request
 * shape. One snapshot is used by one thread at a time. */
typedef struct fl_sched_snapshot fl_sched_snapshot;

typedef struct fl_sched_snapshot_opts {
    bool labels; /* also load node labels (needed for nodeSelector / affinity) */
} fl_sched_snapshot_opts;

typedef struct fl_sched_snapshot_stats {
    size_t clusters, nodes;
    int64_t load_ms; /* reading the index: nodes + usage + labels */
    int64_t nodes_ms, usage_ms, labels_ms;
    int64_t hits, misses; /* shape cache */
    int64_t compute_ms;   /* scanning nodes for new shapes */
} fl_sched_snapshot_stats;

/* Read every live node and the node usage of non-terminal pods within one
 * reader snapshot. opts may be NULL (labels loaded). Blocking (SQLite):
 * not for the loop thread. Returns 0, FL_ESQL, -ENOMEM; *out on success. */
int fl_sched_snapshot_load(fl_index_reader *r, const fl_sched_snapshot_opts *opts,
                           fl_sched_snapshot **out, fl_err *err);
void fl_sched_snapshot_free(fl_sched_snapshot *s); /* accepts NULL */

/* How many more replicas of pod_spec fit in cluster: over its Ready,
 * schedulable nodes that the spec's nodeSelector, required node affinity
 * and tolerations allow, floor((allocatable − requested) / per-replica
 * request) for every requested resource, capped by free pod slots. 0 for a
 * cluster without nodes. -EINVAL when the spec selects nodes by label and
 * the snapshot has no labels; -ENOMEM. */
int fl_sched_snapshot_available(fl_sched_snapshot *s, const char *cluster, const json_t *pod_spec,
                                int64_t *out, fl_err *err);
/* The same for clusters[0..n) at once (one shape lookup): out[i]. */
int fl_sched_snapshot_available_many(fl_sched_snapshot *s, const json_t *pod_spec,
                                     const char *const *clusters, size_t n, int64_t *out,
                                     fl_err *err);
void fl_sched_snapshot_stats_get(const fl_sched_snapshot *s, fl_sched_snapshot_stats *out);

/* ---------------------------------------------------------------- JSON ops */

/* The `flotilla debug place` ops. Each takes one request object and returns
 * a new answer object ({"assignment":...}, {"clusters":...} or
 * {"error":...[,"reason":...]}); NULL with err set only when the request is
 * malformed (a member missing or of the wrong type). */
json_t *fl_sched_op_webster(const json_t *req, fl_err *err);
json_t *fl_sched_op_assign(const json_t *req, fl_err *err);
json_t *fl_sched_op_select(const json_t *req, fl_err *err);
/* "place": policy (PropagationPolicy or ClusterPropagationPolicy, or
 * "policies": a list to match against), template, clusters (config entries
 * with labels, region, zone, provider, taints, and either "available" or
 * "nodes"/"pods"), previous, and optionally "binding" (the ResourceBinding
 * so far: clusters in its spec.gracefulEvictionTasks or in the last
 * status.failoverHistory entry's clustersBeforeFailover are filtered out,
 * as Karmada's ClusterEviction plugin). quota may be NULL. */
json_t *fl_sched_op_place(const json_t *req, const fl_sched_quota *quota, fl_err *err);
/* "override": {"template":{..}, "policies":[(Cluster)OverridePolicy..],
 * "cluster":{name, labels, region, zone, provider}} -> {"object":{the copy
 * for that cluster}, "applied":["Kind/ns/name",..]} or {"error":..}: the
 * overriders in Karmada's order (propagation applies the same). */
json_t *fl_sched_op_override(const json_t *req, fl_err *err);

/* ---------------------------------------------------------------- propagation */

/* The propagation controller (prop.c): host templates + policies → the
 * engine → ResourceBinding on the host (Scheduled, FullyApplied,
 * aggregatedStatus) → objects in the members (namespaces first, per-cluster
 * replicas, OverridePolicies, ownership labels, conflictResolution,
 * removal from clusters no longer assigned) → status summed back into the
 * template; cluster failover by health (taints after failureThreshold,
 * NoExecute eviction after the placement's toleration, success threshold,
 * eviction rate limit). It runs on its own thread with its own libuv loop,
 * where member and host writes go out concurrently (one HTTP client per
 * cluster); a pass runs when the index or member health changed, or a
 * retry or a timer is due. The same write is never sent twice: updates
 * carry the resourceVersion the index last saw (a conflict waits for the
 * next pass), and a write in flight or applied but not yet indexed is
 * remembered by the hash of what was sent. */
typedef struct fl_sched_prop fl_sched_prop;

/* The host's objects of one resource (every namespace): *items (new) is an
 * array of objects. Any interface can stand behind it (the index fed by a
 * host collector today, the daemon's own control store later). Called on
 * the propagation thread. 0 or a negative code. */
typedef int (*fl_sched_host_list_fn)(void *ud, const char *group, const char *resource,
                                     json_t **items, fl_err *err);
/* Member clusters as the engine reads them ({name, labels, region, zone,
 * provider, taints}) plus "health" (Ready|NotReady|Unreachable|Unknown):
 * a new array. Called on the propagation thread. */
typedef json_t *(*fl_sched_members_fn)(void *ud);

/* Quota reservations per (namespace, workload uid, cluster) for a total of
 * replicas (quota/'s fl_quota_reserve and fl_quota_release behind it).
 * reserve answers 0 or FL_EQUOTA/FL_EFORBIDDEN with the message in err. */
typedef struct fl_sched_prop_quota {
    int (*reserve)(void *ud, const char *ns, const char *uid, const char *cluster, int64_t replicas,
                   const json_t *per_replica, fl_err *err);
    void (*release)(void *ud, const char *ns, const char *uid, const char *cluster);
    void *ud;
} fl_sched_prop_quota;

typedef struct fl_sched_prop_member {
    const char *name, *kubeconfig, *context;
} fl_sched_prop_member;

typedef struct fl_sched_prop_opts {
    fl_index *index;                 /* members' objects and capacity; required */
    fl_sched_host_list_fn host_list; /* required */
    void *host_ud;
    const char *host_kubeconfig, *host_context; /* where bindings and status are written */
    fl_sched_members_fn members;                /* required */
    void *members_ud;
    const fl_sched_prop_member *conns; /* how to reach each member */
    size_t nconns;
    fl_sched_prop_quota quota;    /* reserve NULL: no quota check */
    int64_t interval_ms;          /* the longest wait between passes, default 1000 */
    int64_t min_gap_ms;           /* the shortest gap between passes, default 20 */
    int64_t failure_threshold_ms; /* unhealthy this long: tainted, default 30000 */
    int64_t success_threshold_ms; /* healthy this long: takes new work, default 30000 */
    int64_t toleration_ms;    /* NoExecute toleration when the policy names none, default 300000 */
    double eviction_rate;     /* bindings evicted per second, default 50 */
    int64_t write_timeout_ms; /* one member or host write, default 10000 */
    int64_t eviction_timeout_ms; /* a graceful eviction task ends after this at the
                                             latest (its gracePeriodSeconds first), default
                                             600000 (Karmada's 10 minutes) */
} fl_sched_prop_opts;
#define FL_SCHED_PROP_OPTS_INIT                                                                    \
    {                                                                                              \
        .interval_ms = 1000, .min_gap_ms = 20, .failure_threshold_ms = 30000,                      \
        .success_threshold_ms = 30000, .toleration_ms = 300000, .eviction_rate = 50.0,             \
        .write_timeout_ms = 10000, .eviction_timeout_ms = 600000                                   \
    }

/* Create and start the controller thread. Strings are copied; index and
 * the callbacks' ud must outlive it. 0, -EINVAL, -ENOMEM, -errno. */
int fl_sched_prop_new(const fl_sched_prop_opts *opts, fl_sched_prop **out, fl_err *err);
/* Stop the thread (a pass in progress finishes its writes) and free. NULL ok. */
void fl_sched_prop_free(fl_sched_prop *p);
/* Wake the controller now (the index changed, say). Any thread. */
void fl_sched_prop_kick(fl_sched_prop *p);

typedef struct fl_sched_prop_stats {
    uint64_t passes, writes, write_errors, conflicts, evictions, bindings;
    int64_t last_pass_ms;   /* duration of the last pass */
    uint64_t decisions;     /* placements computed (bindings whose inputs changed) */
    uint64_t unschedulable; /* of those, the ones that found no placement */
    uint64_t decide_us;     /* time spent in them, µs */
    uint64_t failover_ms;   /* summed over evictions: how long the cluster had
                               been failing when its replicas were moved */
} fl_sched_prop_stats;
void fl_sched_prop_stats_get(fl_sched_prop *p, fl_sched_prop_stats *out); /* any thread */

/* The last 100 changes of placement, oldest first, as *out (new):
 * [{"time" (Unix ms), "kind", "namespace", "name", "clusters"
 * ([{"name","replicas"}], the new placement), "evicted" (clusters dropped
 * because they failed: a failover when > 0)}]. 0 or -ENOMEM. Any thread. */
int fl_sched_prop_events(fl_sched_prop *p, json_t **out);
/* Put items (a list as fl_sched_prop_events gives, e.g. kept from before a
 * restart) before the changes it holds, keeping the last 100. 0 or -ENOMEM. */
int fl_sched_prop_events_restore(fl_sched_prop *p, const json_t *items);

#endif
