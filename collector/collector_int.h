/*
 * collector/collector_int.h: private to collector/. The pure pieces of the
 * collector — backoff with jitter, watch timeouts, the reflector's state
 * machine, health state transitions, request paths, and the bounded scanner
 * that pulls a few fields out of raw JSON without parsing it — so that they
 * are unit-tested without a network. Nothing here does I/O or keeps global
 * state; every function may be called from any thread on its own data.
 */
#ifndef FL_COLLECTOR_INT_H
#define FL_COLLECTOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---------------------------------------------------------------- backoff
 * client-go's reflector backoff: 800ms initial, doubling, capped at 30s,
 * full jitter factor 1.0 (a wait d becomes d + rand*d), reset to the
 * initial value after reset_ms (2 min) without failures. */
typedef struct cl_backoff {
    int64_t initial_ms, max_ms, reset_ms;
    int64_t cur_ms;       /* next base delay; 0 = not failing */
    int64_t last_fail_ms; /* monotonic time of the last failure */
} cl_backoff;

void cl_backoff_init(cl_backoff *b, int64_t initial_ms, int64_t max_ms, int64_t reset_ms);
/* A failure at now: returns the delay to wait (with jitter; rand01 in [0,1)). */
int64_t cl_backoff_next(cl_backoff *b, int64_t now_ms, double rand01);
/* A success: the next failure starts again from the initial delay. */
void cl_backoff_reset(cl_backoff *b);

/* client-go: timeoutSeconds = min * (1 + rand) — in [min, 2*min). */
int64_t cl_watch_timeout_s(int64_t min_ms, double rand01);

/* A uniform double in [0,1) from getrandom (no global PRNG state). */
double cl_rand01(void);

/* -------------------------------------------------------- reflector FSM
 * One (cluster, resource). The driver (collector.c) performs the action the
 * machine returns and feeds back what happened. */
typedef enum {
    CL_R_IDLE = 0, /* not started */
    CL_R_LISTING,  /* paginated LIST in progress */
    CL_R_WATCHING, /* WATCH open */
    CL_R_WAITING,  /* backoff timer running (or queue full) */
    CL_R_SKIPPED,  /* the member does not serve the resource */
    CL_R_STOPPED,
} cl_rphase;

typedef enum {
    CL_EV_START = 0,     /* start: WATCH from the stored RV if any, else LIST */
    CL_EV_LIST_DONE,     /* last page submitted; rv = list RV */
    CL_EV_LIST_FAILED,   /* code = error */
    CL_EV_WATCH_EVENT,   /* rv = event object's RV (also bookmarks) */
    CL_EV_WATCH_CLOSED,  /* server ended the watch cleanly (timeout) */
    CL_EV_WATCH_FAILED,  /* code = error (transport, HTTP, stall) */
    CL_EV_WATCH_GONE,    /* 410 / ERROR event Expired */
    CL_EV_WATCH_CORRUPT, /* a malformed line: an event was lost; back off, relist */
    CL_EV_TIMER,         /* backoff elapsed */
    CL_EV_STOP,
} cl_rev;

typedef enum {
    CL_DO_NOTHING = 0,
    CL_DO_LIST,  /* start a full relist (fl_index_relist_begin + pages) */
    CL_DO_WATCH, /* open a watch from rv */
    CL_DO_WAIT,  /* arm the timer for delay_ms, then feed CL_EV_TIMER */
    CL_DO_SKIP,  /* resource not served: report, wait for rediscovery */
} cl_raction;

typedef struct cl_reflector_sm {
    cl_rphase phase;
    char rv[64];          /* resume point: last list RV or event RV; "" = none */
    bool after_wait_list; /* what CL_EV_TIMER leads to: LIST (true) or WATCH */
    int consecutive_failures;
    cl_backoff backoff;
    cl_backoff corrupt; /* malformed streams: only a good watch event resets it
                            (a relist succeeds every time, the stream may not) */
} cl_reflector_sm;

void cl_sm_init(cl_reflector_sm *sm, const char *stored_rv);
/* Feed one event; returns what to do next and, for CL_DO_WAIT, *delay_ms. */
cl_raction cl_sm_feed(cl_reflector_sm *sm, cl_rev ev, const char *rv, int code, int64_t now_ms,
                      double rand01, int64_t *delay_ms);
const char *cl_rphase_name(cl_rphase p);

/* ---------------------------------------------------------------- health
 * Karmada-style: /readyz (then /healthz when /readyz is 404). A transport
 * failure means Unreachable, an HTTP failure NotReady. Leaving Ready needs
 * two consecutive bad probes (one lost probe is not a failover); every
 * other change takes effect at once. */
typedef enum { CL_H_UNKNOWN = 0, CL_H_READY, CL_H_NOT_READY, CL_H_UNREACHABLE } cl_hstate;

typedef struct cl_health {
    cl_hstate state;
    int64_t since_ms;  /* wall clock of the last state change */
    cl_hstate pending; /* bad state seen once while Ready */
    char last_error[256];
} cl_health;

/* Record a probe result at now (wall ms); returns true when state changed. */
bool cl_health_observe(cl_health *h, cl_hstate observed, const char *error, int64_t now_ms);
const char *cl_hstate_name(cl_hstate s);

/* ------------------------------------------------------------- readiness
 * What one member means for the daemon's readiness (see collector.h):
 * Synced: health Ready and the initial list of every resource it syncs is
 * committed to the index (informer HasSynced; Skipped resources count as
 * done). Syncing: on its way there (health not known yet, discovery or lists
 * in progress). Failing: down (NotReady, Unreachable), discovery failing
 * before anything was discovered, or a resource whose initial list has not
 * landed failing its requests. Failing members do not hold readiness back. */
typedef enum { CL_M_SYNCING = 0, CL_M_SYNCED, CL_M_FAILING } cl_mstate;

typedef struct cl_member_sync {
    cl_hstate health;
    bool discovered;    /* a discovery round answered (reflectors exist) */
    bool disco_failing; /* the last discovery request failed */
    size_t resources;   /* reflectors not Skipped or Stopped */
    size_t synced;      /* ... whose initial list is in the index */
    size_t failing;     /* ... not synced, whose last request failed */
} cl_member_sync;

cl_mstate cl_member_state(const cl_member_sync *s);
const char *cl_mstate_name(cl_mstate s);
/* The daemon is ready when no member is Syncing and, unless there are no
 * members at all, at least one is Synced. */
bool cl_ready(size_t nmembers, size_t synced, size_t syncing);

/* ----------------------------------------------------------------- paths */
typedef struct cl_scope {
    const char *group, *version, *resource; /* group "" = core */
    bool namespaced;
    const char *namespace_;     /* non-NULL: only this namespace */
    const char *field_selector; /* NULL or already-built selector */
} cl_scope;

/* "/api/v1/pods?limit=500&continue=..." — appended to out. */
int cl_list_path(const cl_scope *s, int64_t limit, const char *cont, fl_buf *out);
/* "/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=..&timeoutSeconds=.." */
int cl_watch_path(const cl_scope *s, const char *rv, int64_t timeout_s, fl_buf *out);
/* Build a field selector excluding namespaces (metadata.namespace!=a,...);
 * empty when there is nothing to exclude. */
int cl_ns_exclude_selector(const char *const *exclude, size_t n, fl_buf *out);
/* Percent-encode s for a query value. */
int cl_query_escape(const char *s, fl_buf *out);

/* ------------------------------------------------------ raw JSON scanner
 * Finds the string at a path of object keys (e.g. {"metadata",
 * "resourceVersion"}) in a JSON document without building it: values on the
 * way are skipped by a bracket/string-aware scan, and the scan stops as soon
 * as the value is found. Bounded by len and by depth (64). The string is
 * copied unescaped for the simple escapes (\" \\ \/; others keep their
 * backslash form) and must fit in outsz. Returns 0, FL_ENOTFOUND (path
 * absent, or not a string), FL_EPARSE (malformed before the value),
 * -E2BIG (value longer than outsz - 1). */
int cl_scan_str(const char *data, size_t len, const char *const *path, size_t depth, char *out,
                size_t outsz);
/* The integer at a path (e.g. {"object","code"}); same codes. */
int cl_scan_int(const char *data, size_t len, const char *const *path, size_t depth, int64_t *out);

/* True when data[0..len) is exactly one complete JSON object or array
 * (bracket- and string-aware, trailing whitespace allowed). Catches a
 * truncated or cut list page before it reaches the index, where a page that
 * fails to decode inside a relist would otherwise count as "nothing seen". */
bool cl_json_complete(const char *data, size_t len);

/* -------------------------------------------------------- namespace filter
 * sync.namespaces.include with more than one namespace: a field selector
 * cannot say "namespace in (a, b)" (terms are ANDed), so such reflectors
 * list and watch cluster-wide (still excluding by field selector) and drop
 * what is outside the set here, before the index. by_name: match
 * metadata.name (the namespaces resource) instead of metadata.namespace. */
typedef struct cl_nsfilter {
    const char *const *names;
    size_t n;
    bool by_name;
} cl_nsfilter;

bool cl_nsfilter_has(const cl_nsfilter *f, const char *ns);
/* A watch event line is kept: BOOKMARK, ERROR and lines that do not scan
 * (the caller reports those) always are; others when their object is in
 * the set. */
bool cl_nsfilter_event(const cl_nsfilter *f, const char *line, size_t len);
/* Append to out the list page data[0..len) with only the items in the set
 * (everything else byte for byte); *kept / *dropped count items. Returns 0,
 * FL_EPARSE (no items array, or malformed), -ENOMEM / -E2BIG (out's cap);
 * the counts are written only on success. */
int cl_nsfilter_page(const cl_nsfilter *f, const char *data, size_t len, fl_buf *out, size_t *kept,
                     size_t *dropped);

#endif
