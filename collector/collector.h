/*
 * collector/collector.h: keeps the index true to every member cluster.
 *
 * One reflector per (cluster, resource): a paginated LIST (limit/continue)
 * inside an index relist (objects that vanished are deleted, unchanged
 * resourceVersions write nothing), then a WATCH with bookmarks from the
 * list's resourceVersion; a dropped watch resumes from the last seen
 * resourceVersion, and so does a restart (from the resourceVersion the index
 * committed last for that cluster and resource); a 410/Expired relists, failures back off exponentially
 * with jitter (client-go's 800ms..30s), watch timeouts are randomized in
 * [watchTimeout, 2*watchTimeout) (an idle watch ends there cleanly and
 * resumes at once), and a watch still silent stallTimeout past its own
 * timeoutSeconds is restarted as stalled. Discovery expands
 * "*" and finds what a member does not serve (reported as Skipped); it is
 * re-run soon after any CustomResourceDefinition changes (a watch on CRDs
 * per member) and every discovery interval, so CRDs that appear or go are
 * followed.
 * Namespace filters: exclude is applied by the member (a field selector
 * metadata.namespace!=a,..., metadata.name!= for the namespaces resource);
 * one included namespace uses the namespace path (/api/v1/namespaces/a/pods);
 * two or more are filtered at sync time: a field selector cannot say
 * "namespace in (a, b)", so those reflectors list and watch cluster-wide and
 * drop, before the index, every object outside the set. Chosen over one
 * LIST+WATCH per included namespace because the index keeps one relist scope
 * and one resume point per (cluster, resource): per-namespace watches would
 * each need their own resourceVersion (a restart could not resume them
 * from one) and would multiply connections (namespaces x resources x
 * clusters). The cost is wire bytes: objects of other namespaces still cross
 * the network (and one raw scan), never the decoder or the database.
 * Every list page must be one complete JSON document (a cut page fails the
 * list and deletes nothing); a page over max_object_bytes is fetched again
 * with a limit ten times smaller, down to 1, before the list fails.
 * A health probe per cluster (/readyz, then /healthz when that is 404) runs
 * on its own connection: Ready / NotReady / Unreachable with since and the
 * last error.
 *
 * Threads: the collector owns one libuv loop thread (started by
 * fl_collector_start) that holds all of its state; raw response bytes go
 * to the index's decoder threads unparsed (only a bounded scan picks out
 * resourceVersion/continue/type), so a relist storm never delays a probe.
 * fl_collector_status may be called from any thread. Logs: one line per
 * state change of a cluster or a reflector.
 */
#ifndef FL_COLLECTOR_H
#define FL_COLLECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "index/index.h"

typedef struct fl_collector fl_collector;

typedef struct fl_collector_member {
    const char *name;       /* unique */
    const char *kubeconfig; /* path */
    const char *context;    /* NULL or "" = current-context */
} fl_collector_member;

/* resources may hold "*" (everything of the group/version that supports
 * list and watch). */
typedef struct fl_collector_gv {
    const char *group, *version;
    const char *const *resources;
    size_t nresources;
} fl_collector_gv;

typedef struct fl_collector_opts {
    fl_index *index; /* required; must outlive the collector */
    const fl_collector_member *members;
    size_t nmembers;
    const fl_collector_gv *resources;
    size_t nresources;
    const char *const *ns_include; /* none = every namespace (see above) */
    size_t nns_include;
    const char *const *ns_exclude;
    size_t nns_exclude;
    int64_t page_size;             /* LIST limit; default 500 */
    int64_t watch_timeout_ms;      /* default 300000 (5 min) */
    int64_t stall_timeout_ms;      /* past the watch's own timeoutSeconds; default 30000 */
    int64_t health_interval_ms;    /* default 10000 */
    int64_t health_timeout_ms;     /* default 5000 */
    int64_t discovery_interval_ms; /* default 60000 */
    int64_t request_timeout_ms;    /* LIST page / discovery; default 120000 */
    size_t max_object_bytes;       /* largest watch line / list page; default 16 MiB
                                           (etcd refuses objects over 1.5 MiB) */
    int64_t backoff_max_ms;        /* backoff cap; default 30000 (client-go) */
} fl_collector_opts;
#define FL_COLLECTOR_OPTS_INIT                                                                     \
    {                                                                                              \
        .page_size = 500, .watch_timeout_ms = 300000, .stall_timeout_ms = 30000,                   \
        .health_interval_ms = 10000, .health_timeout_ms = 5000, .discovery_interval_ms = 60000,    \
        .request_timeout_ms = 120000, .max_object_bytes = 16u << 20, .backoff_max_ms = 30000       \
    }

/* Create a collector (nothing runs yet). Everything in opts is copied. A
 * member whose kubeconfig cannot be loaded does not fail the call: it is
 * reported as Unreachable with that error (and logged). Returns 0, -EINVAL
 * (no index, duplicate member, bad timing options), -ENOMEM
 * or -errno from libuv. *out written only on success. Any thread. */
int fl_collector_new(const fl_collector_opts *opts, fl_collector **out, fl_err *err);

/* Start the loop thread: probes, discovery and reflectors begin. 0 or
 * -errno. Call once. */
int fl_collector_start(fl_collector *c, fl_err *err);

/* Stop: cancel every request and timer, close the connections and join
 * the loop thread. Idempotent; the index is not flushed here (the caller
 * does that). Not from the loop thread. */
void fl_collector_stop(fl_collector *c);

/* Stop if running, then free. Accepts NULL. */
void fl_collector_free(fl_collector *c);

/* A snapshot of every cluster's state, new reference (NULL on ENOMEM):
 * {"ready":bool, "reason":"..." (see fl_collector_ready),
 *  "clusters":[{"name", "added":RFC3339 (when the daemon took it on),
 *   "health":"Ready|NotReady|Unreachable|Unknown",
 *   "since":RFC3339|null (the last health change), "lastError" (the current
 *   health problem, "" while Ready), "version",
 *   "sync":"Synced|Syncing|Failing", "resourcesSynced", "resourcesTotal",
 *   "resources":[{"group","version","resource","kind","phase":"Pending|
 *   Listing|Watching|Backoff|Skipped|Stopped","synced":bool,
 *   "resourceVersion","lastError","lagMs","events","relists","badEvents",
 *   "filtered","lastSynced":RFC3339|null}]}]}
 * synced: the resource's initial list is committed to the index (it stays
 * true through later relists and outages, like an informer's HasSynced).
 * A member's sync is Synced when its health is Ready and every resource it
 * syncs (Skipped and Stopped ones aside) is synced; Failing when it is
 * NotReady or Unreachable, when discovery fails before it answered once, or
 * when a resource not yet synced is failing its requests; else Syncing.
 * lagMs: how long the index may have been behind the member: 0 while a
 * watch runs (events are submitted as they arrive; bench_collector
 * measures the member-write-to-index lag) and for Skipped, unless the
 * watch's latest lines were skipped as malformed (then the ms since the
 * last good line); else the ms since the index stopped being current (a
 * watch broke), through failed retries, until a list completes or a watch
 * line arrives again; -1 before the first (also after a restart, until
 * the resumed watch sends a line).
 * badEvents
 * counts watch lines skipped as malformed, filtered the objects dropped by
 * a sync.namespaces.include of two or more namespaces.
 * The snapshot is refreshed by the loop thread at least every 250 ms.
 * Any thread. */
json_t *fl_collector_status(fl_collector *c);

/* Readiness of the daemon as far as the members go: true when no member is
 * Syncing and at least one is Synced (or there are no members). So a member
 * that is down or failing never holds readiness back (its trouble shows in
 * its status), while a fleet whose every member is failing is not ready:
 * nothing could be served. reason (if given, n bytes, always terminated)
 * gets why not, e.g. "initial sync in progress: east-1 (9/14 resources)"
 * or "no member is synced: east-1 (Unreachable: ...)", and when ready the
 * failing members ("serving the synced members; failing: ...") or "".
 * False until the loop thread published its first snapshot. Any thread. */
bool fl_collector_ready(fl_collector *c, char *reason, size_t n);

#endif
