/*
 * web/web.h: what a person or Prometheus sees of the daemon:
 *   GET /api/v1/capacity?groupBy=...   fleet capacity from the index's
 *                                      materialized node/pod columns
 *   GET /metrics                       Prometheus text exposition
 *   GET /ui, /ui/...                   the dashboard (embedded page, and
 *                                      Debian's Chart.js from disk)
 * It owns none of the data: it reads the index through its own readers, and
 * reaches the collector's status, authentication and quota counters through
 * callbacks the daemon (cmd/serve.c) hands in, so web/ depends only on kube,
 * index and server (DESIGN.md's layering). It also keeps the dashboard's
 * recent histories (quota denials, placements) in a small SQLite file of
 * the data dir so that they outlive a restart (fl_web_recent).
 */
#ifndef FL_WEB_H
#define FL_WEB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "index/index.h"
#include "server/server.h"

typedef struct fl_web fl_web;

/* A member cluster as the config names it; labels give "provider" (and
 * the fallback region/zone of nodes that carry none). */
typedef struct fl_web_member {
    const char *name;
    const char *const *label_keys, *const *label_values;
    size_t nlabels;
} fl_web_member;

/* quota/'s counters, copied by the daemon (web/ does not link quota/). */
typedef struct fl_web_quota_stats {
    uint64_t allowed, denied, errors;
    uint64_t reservations_open, reservations_expired;
    uint64_t recomputations, drift;
} fl_web_quota_stats;

/* scheduler/'s propagation counters, copied by the daemon. */
typedef struct fl_web_sched_stats {
    uint64_t passes, decisions, unschedulable, evictions, writes, write_errors;
    uint64_t decide_us;   /* time spent placing, µs */
    uint64_t failover_ms; /* summed over evictions: how long the cluster had failed */
    int64_t last_pass_ms;
} fl_web_sched_stats;

typedef struct fl_web_opts {
    fl_index *index;              /* required; borrowed, must outlive the fl_web */
    const fl_web_member *members; /* copied */
    size_t nmembers;
    /* Authenticate r and drop from clusters (a JSON array of {"name":..})
     * the members the user may not see. Returns 0, or nonzero after it
     * answered r itself (401). NULL: everything is open (tests only). */
    int (*authorize)(void *ud, fl_request *r, json_t *clusters);
    /* For an authorized r: whether its user may see resource (plural, core
     * group) in (cluster, namespace); namespace "" = cluster-scoped. NULL:
     * the clusters authorize leaves are all there is to scoping. */
    bool (*allows)(void *ud, fl_request *r, const char *cluster, const char *namespace_,
                   const char *resource);
    void *authorize_ud; /* for authorize and allows */
    /* The collector's status snapshot (collector.h's document), new
     * reference or NULL. Optional. */
    json_t *(*status)(void *ud);
    void *status_ud;
    /* Quota counters; false when there is no quota engine. Optional. */
    bool (*quota_stats)(void *ud, fl_web_quota_stats *out);
    /* quota/'s report (fl_quota_report's document, new reference; NULL on
     * failure), for used / hard per quota. Optional. */
    json_t *(*quota_report)(void *ud);
    void *quota_ud;
    /* The propagation controller's counters; false when none runs. Optional. */
    bool (*sched_stats)(void *ud, fl_web_sched_stats *out);
    void *sched_ud;
    const char *version;     /* build info; default "unknown" */
    const char *chartjs_dir; /* default "/usr/share/javascript/chart.js" */
} fl_web_opts;
#define FL_WEB_OPTS_INIT                                                                           \
    {                                                                                              \
        0                                                                                          \
    }

/* Most groups one capacity answer holds (more is -E2BIG with a message). */
#define FL_WEB_CAPACITY_MAX_GROUPS 10000
/* Most distinct resources (cpu, memory, GPUs, ...) in one answer. */
#define FL_WEB_CAPACITY_MAX_RESOURCES 64

/* Create the web front. 0, -EINVAL (no index), -ENOMEM; *out only on
 * success. Any thread. */
int fl_web_new(const fl_web_opts *opts, fl_web **out, fl_err *err);
/* Register /api/v1/capacity, /metrics and /ui on srv (before it starts),
 * and take srv's request observer for the request metrics. 0 or
 * fl_server_route's codes. */
int fl_web_route(fl_web *w, fl_server *srv);
/* Accepts NULL. After the server that routes to w is stopped. */
void fl_web_free(fl_web *w);

/* What one user may see of capacity: the clusters (a JSON array of
 * {"name":..}; NULL = all) and, optionally, a finer test. sees(ud,
 * cluster, "") asks for the cluster's nodes (every grouping but namespace
 * reads them), sees(ud, cluster, ns) for the pods of one namespace (cluster
 * NULL: in any cluster, for fleet-wide quotas); NULL = everything in the
 * clusters. A user scoped to some namespaces thus sees
 * those namespaces' requests and no node capacity. */
typedef struct fl_web_scope {
    const json_t *clusters;
    bool (*sees)(void *ud, const char *cluster, const char *namespace_);
    void *ud;
} fl_web_scope;

/* The capacity document of groupBy ("cluster", "region", "zone",
 * "provider", "namespace" or "node-label:<key>"), restricted to what
 * scope lets its user see (NULL = all) — what GET /api/v1/capacity
 * answers:
 *   {"groupBy":..., "revision":N, "groups":[{"name":..,
 *     "nodes":{"total","ready","notReady","cordoned"},
 *     "resources":{"cpu":{"allocatable","requested","limits","free",
 *       "largestFree"}, ...}}]}
 * Values are numbers in the resource's base unit (cpu in cores, memory in
 * bytes, pods in pods) as doubles. free = allocatable - requested;
 * largestFree: the most of that resource one Ready, schedulable node still
 * has (the largest pod shape that fits somewhere). "namespace" groups have
 * only requested and limits. Reads nodes and pod usage from the
 * materialized columns in one snapshot (node-label: from the index's
 * totals per label key and value). 0, -EINVAL (bad groupBy, message in err),
 * -E2BIG, FL_ESQL, -ENOMEM. The reader's thread. */
int fl_web_capacity(fl_index_reader *rd, const fl_web_member *members, size_t nmembers,
                    const char *group_by, const fl_web_scope *scope, json_t **out, fl_err *err);

/* Recent histories kept across restarts: lists (JSON arrays, oldest
 * first, bounded by whoever keeps them in memory) that a thread copies
 * into a SQLite file whenever they changed. */
typedef struct fl_web_recent fl_web_recent;
/* The current list, a new reference (NULL: nothing to write now). */
typedef json_t *(*fl_web_recent_source)(void *ud);
/* Open or create the file (e.g. dataDir/recent.db). 0 or FL_ESQL, -ENOMEM. */
int fl_web_recent_open(const char *path, fl_web_recent **out, fl_err *err);
/* What was last written for kind, oldest first (an empty array when
 * nothing was). 0, FL_ESQL, -ENOMEM. */
int fl_web_recent_load(fl_web_recent *r, const char *kind, json_t **out, fl_err *err);
/* Keep kind equal to what get returns (at most 8 kinds, before start;
 * -EINVAL otherwise). get is called from the history's thread. */
int fl_web_recent_track(fl_web_recent *r, const char *kind, fl_web_recent_source get, void *ud);
/* Copy every interval_ms (default 2000) on a thread of its own. */
int fl_web_recent_start(fl_web_recent *r, int64_t interval_ms, fl_err *err);
/* Copy the lists that changed now. 0 or FL_ESQL, -ENOMEM. */
int fl_web_recent_sync(fl_web_recent *r, fl_err *err);
/* Stop the thread, copy once more, close. Before the sources are freed.
 * Accepts NULL. */
void fl_web_recent_free(fl_web_recent *r);

#endif
