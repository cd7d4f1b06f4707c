/*
 * index/index.h: the on-disk cache every other module reads (DESIGN.md,
 * "The index"). One SQLite database in WAL mode holding one row
 * per object seen in any member cluster, side tables for labels, full text
 * and the materialized fields capacity/quota/scheduling need, a global
 * monotonic revision with a change log, tombstones, and per (cluster,
 * resource) sync state. SQLite is used only inside index/; nothing here
 * exposes its types.
 *
 * Threads and data flow:
 *
 *   producer (collector loop) --fl_index_submit_*--> bounded ring
 *        --> decoder workers (parse, prune, annotate, extract fields)
 *        --> the one writer thread (coalesce per key, batched transactions)
 *        --> subscribers (fl_index_subscribe callbacks, on the writer thread)
 *   readers: one fl_index_reader per reading thread (own read-only
 *            connection; snapshot between fl_index_reader_begin/_end).
 *
 * Ordering: everything submitted through one fl_index (events, list pages,
 * relist begin/end, sync-state updates, flush barriers) is applied in the
 * order it was submitted, whatever the number of decoder threads.
 *
 * Back-pressure contract: the submit functions never block. When the ring
 * holds opts.queue_max_items items or opts.queue_max_bytes bytes they return
 * FL_EFULL and store nothing; the producer then pauses its stream (e.g.
 * curl_easy_pause) and retries after opts.on_space fires. on_space runs on an
 * index thread (the writer) once the queue has drained to half of
 * both caps after a FL_EFULL; it must be thread-safe (uv_async_send is the
 * intended body). An item bigger than queue_max_bytes on its own is accepted
 * only into an empty queue (so one huge list page cannot deadlock), and one
 * bigger than FL_INDEX_ITEM_MAX is refused with -E2BIG.
 *
 * What is stored per object: the object JSON compacted, with
 * metadata.managedFields and the kubectl.kubernetes.io/last-applied-
 * configuration annotation removed (each per opts), Secret data/stringData
 * always removed, and the annotation shadow.clusterpedia.io/cluster-name
 * set to the cluster name. An event whose object has the same
 * resourceVersion as the stored row writes nothing (not even synced time).
 * Objects as kube-apiserver sends them (compact, Go escaping) are kept as
 * their own bytes minus the pruned members (kube/jscan, index/scan.c);
 * anything else is parsed and re-encoded Go-style. Either way the JSON
 * served is, as a value, the member's object minus the pruned fields plus
 * the annotation. On disk (schema v4) a row is that JSON, or a zstd frame
 * of it made with a dictionary trained per resource; readers hand out the
 * JSON either way (fl_index_row.json).
 *
 * Revisions: every change the writer commits (create, update, delete) takes
 * the next value of one global counter (int64, starting at 1); that is the
 * "index revision", the resourceVersion the search API serves. The change
 * log keeps the last opts.changelog_max revisions, and with them every
 * object state those revisions replaced (schema v5), so the changes are
 * replayed and lists read as of any revision still in the log.
 */
#ifndef FL_INDEX_H
#define FL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Schema version written to PRAGMA user_version by this code. Opening an
 * older database migrates it; a newer one is refused with FL_EUNSUPPORTED. */
#define FL_INDEX_SCHEMA_VERSION 7

/* Largest single submitted item (event line or list page). */
#define FL_INDEX_ITEM_MAX (256u << 20)

/* Annotation added to every stored object. */
#define FL_INDEX_CLUSTER_ANNOTATION "shadow.clusterpedia.io/cluster-name"

typedef struct fl_index fl_index;
typedef struct fl_index_reader fl_index_reader;

/* ------------------------------------------------------------------ open */

typedef struct fl_index_opts {
    const char *path;          /* database file; required. "-wal"/"-shm" beside it */
    int64_t cache_kib;         /* writer's SQLite page cache (KiB), default 65536 */
    int64_t mmap_bytes;        /* PRAGMA mmap_size per connection, default 0 (off):
                                  mapped pages count in RSS once per connection */
    int decoder_threads;       /* default 2 (JSON decoding is the ingest bottleneck), max 16 */
    size_t queue_max_items;    /* ring capacity, default 4096 items */
    size_t queue_max_bytes;    /* raw bytes waiting in the ring, default 64 MiB */
    int batch_max;             /* objects per write transaction, default 10000 */
    int64_t changelog_max;     /* revisions kept in the change log, default 1000000 */
    int64_t tombstone_keep_ms; /* how long deleted rows stay, default 3600000 (1h) */
    bool keep_managed_fields;  /* default false: metadata.managedFields pruned */
    bool keep_last_applied;    /* default false: last-applied annotation pruned */
    /* Back-pressure wake-up (see above). Called on an index thread. */
    void (*on_space)(void *arg);
    void *on_space_arg;
    int64_t reader_cache_kib; /* page cache of each reader connection, default 8192 */
} fl_index_opts;
#define FL_INDEX_OPTS_INIT                                                                         \
    {                                                                                              \
        .cache_kib = 65536, .decoder_threads = 2, .queue_max_items = 4096,                         \
        .queue_max_bytes = 64u << 20, .batch_max = 10000, .changelog_max = 1000000,                \
        .tombstone_keep_ms = 3600000, .reader_cache_kib = 8192                                     \
    }

/* Pragmas set on the writer connection (documented here because they are
 * policy): journal_mode=WAL, synchronous=NORMAL (a process crash loses
 * nothing committed; a power loss may lose the last transactions, never
 * consistency — the index is a cache and the collector relists),
 * cache_size=-cache_kib (fixed: 64 MiB by default), secure_delete=OFF
 * (Debian builds it ON; deletes would crawl), mmap_size=mmap_bytes (off by
 * default), temp_store=MEMORY, foreign_keys=OFF, wal_autocheckpoint=4000
 * pages (~16 MB of WAL). Readers: query_only=ON,
 * cache_size=-reader_cache_kib, same mmap_size.
 *
 * Open (creating or migrating) the database and start the decoder and writer
 * threads. *out is written only on success; close it with fl_index_close.
 * Returns 0, -EINVAL (no path / bad option), FL_ESQL (cannot open, corrupt),
 * FL_EUNSUPPORTED (schema newer than this code), -ENOMEM. Any thread. */
int fl_index_open(const fl_index_opts *opts, fl_index **out, fl_err *err);

/* Flush everything submitted, stop the threads, close the database.
 * Readers must be freed first. Accepts NULL. Not from an index thread
 * (i.e. never from a subscription callback or on_space). */
void fl_index_close(fl_index *idx);

/* ------------------------------------------------------------- producing */

/* Where submitted bytes come from. All strings are copied by the call.
 * group + resource decide the special handling (core pods and nodes get
 * materialized fields, core secrets lose data/stringData). kind is stored
 * with the resource and put, with apiVersion, at the front of list items
 * (which come without them) so every stored object carries its type. */
typedef struct fl_index_src {
    const char *cluster;  /* member cluster name, non-empty */
    const char *group;    /* "" for the core group */
    const char *version;  /* "v1" */
    const char *resource; /* "pods" */
    const char *kind;     /* "Pod" */
} fl_index_src;

/* Queue one watch event line: {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR",
 * "object":{...}}. data[0..len) is copied. ADDED/MODIFIED upsert, DELETED
 * makes a tombstone, BOOKMARK only records the resourceVersion in the sync
 * state, ERROR records the Status message as the sync state's last error.
 * Every applied event also stores its object's resourceVersion as the sync
 * state's resource_version in the same transaction, so a restart resumes
 * from exactly what was committed.
 * Returns 0, FL_EFULL (back-pressure, nothing queued), -E2BIG, -EINVAL,
 * FL_ECLOSED, -ENOMEM. Malformed JSON is not reported here (decoding is
 * asynchronous): it is counted in fl_index_stats.decode_errors and recorded
 * as the sync state's last_error. Any thread (calls are serialized; items
 * are applied in the order the calls were made). */
int fl_index_submit_event(fl_index *idx, const fl_index_src *src, const char *data, size_t len,
                          fl_err *err);

/* Queue one list page: a whole List JSON ({"kind":"PodList","items":[...],
 * "metadata":{"resourceVersion":..,"continue":..}}). Each item is upserted.
 * Inside a relist (below) items are also marked as seen. The list's
 * metadata.resourceVersion is stored in the sync state only by
 * fl_index_relist_end (pages before the last are not a resume point).
 * Same returns as fl_index_submit_event. */
int fl_index_submit_list(fl_index *idx, const fl_index_src *src, const char *data, size_t len,
                         fl_err *err);

/* Relist of (cluster, gvr): after _begin, objects of that scope upserted
 * (by list pages, or events) are "seen"; _end(resource_version) tombstones every live object
 * of the scope that was not seen (DELETED in the change log), sets the sync
 * state's resource_version, phase "Synced", last_list_ms and object_count.
 * Objects whose resourceVersion is unchanged write nothing (their synced
 * time is kept). _abort forgets the marks and deletes nothing (a failed
 * list). A second _begin on the same scope restarts it. An _end with no
 * active _begin (none sent, or lost with a failed transaction) deletes
 * nothing and only records the sync state. All three are
 * queued in order with the data: same returns as submit, except that they
 * never return FL_EFULL (control items do not count against the caps). */
int fl_index_relist_begin(fl_index *idx, const fl_index_src *src, fl_err *err);
int fl_index_relist_end(fl_index *idx, const fl_index_src *src, const char *resource_version,
                        fl_err *err);
int fl_index_relist_abort(fl_index *idx, const fl_index_src *src, fl_err *err);

/* Per (cluster, gvr) sync state. */
typedef struct fl_index_sync {
    char resource_version[64]; /* last committed RV from that apiserver, "" if none */
    char phase[32];            /* free text set by the collector: "Listing", "Watching", ... */
    int64_t last_list_ms;      /* wall clock of the last completed relist, 0 if never */
    int64_t last_event_ms;     /* wall clock of the last applied event/page */
    int64_t object_count;      /* live objects of that scope after the last relist */
    int64_t lag_ms;            /* set by the collector (event delay), informative */
    char last_error[256];      /* "" if none */
} fl_index_sync;

/* Queue a sync-state update for (cluster, gvr): phase (NULL keeps the
 * current one), lag_ms, and last_error (NULL or "" clears it); the other
 * fields are owned by the index. Never FL_EFULL. Returns as submit. */
int fl_index_sync_set(fl_index *idx, const fl_index_src *src, const char *phase, int64_t lag_ms,
                      const char *last_error, fl_err *err);

/* Barrier: wait until everything submitted before this call is committed
 * (or dropped with a failed transaction: logged, counted in
 * fl_index_stats.write_errors). Returns 0 or -ETIMEDOUT (after timeout_ms;
 * the work still completes later). Any thread except the index's own. */
int fl_index_flush(fl_index *idx, int64_t timeout_ms);

/* Change-stream wake-up: cb(arg, from_rev, to_rev) runs on the writer thread
 * after each commit that produced revisions from_rev..to_rev (inclusive). It
 * must be quick and must not call into idx (typically it records to_rev and
 * calls uv_async_send / signals a condition). Callbacks for a commit run
 * before fl_index_flush calls waiting on it return, and new readers see the
 * commit by then. Returns 0 and writes *id, or -EINVAL (no cb) / -ENOSPC (at
 * most 64 subscribers). Any thread. */
typedef void (*fl_index_change_cb)(void *arg, int64_t from_rev, int64_t to_rev);
int fl_index_subscribe(fl_index *idx, fl_index_change_cb cb, void *arg, int *id);
/* After return the callback will not run again. Any thread but the writer. */
void fl_index_unsubscribe(fl_index *idx, int id);

typedef struct fl_index_stats {
    int64_t submitted;       /* items accepted */
    int64_t full;            /* FL_EFULL answers */
    int64_t decode_errors;   /* items/objects that failed to parse */
    int64_t write_errors;    /* batches lost to a failed transaction (logged) */
    int64_t objects_written; /* rows inserted or updated */
    int64_t objects_skipped; /* unchanged resourceVersion */
    int64_t objects_deleted;
    int64_t coalesced; /* events merged into another in the same batch */
    int64_t transactions;
    int64_t revision; /* last committed index revision */
    size_t queue_items, queue_bytes;
    int64_t objects_parsed; /* objects decoded by jansson (the rest in place: kube/jscan) */
} fl_index_stats;
/* Counters, thread-safe snapshot. */
void fl_index_stats_get(fl_index *idx, fl_index_stats *out);

/* --------------------------------------------------------------- reading */

/* A reader owns one read-only connection. Create one per reading thread;
 * a reader is used by one thread at a time. May be created after the index
 * is open; must be freed before fl_index_close.
 * Returns 0, FL_ESQL, -ENOMEM. */
int fl_index_reader_new(fl_index *idx, fl_index_reader **out, fl_err *err);
void fl_index_reader_free(fl_index_reader *r);

/* Shrink (or grow) r's page cache to kib KiB: long-lived readers that
 * only follow the change log (one per watch) need little. 0 or FL_ESQL. */
int fl_index_reader_set_cache(fl_index_reader *r, int64_t kib);

/* A time budget for what r reads from now on (ms; 0 = none): a statement
 * still running when it is spent is interrupted and the call fails with
 * -ETIMEDOUT (err says so). The HTTP handlers set one per request. */
void fl_index_reader_set_budget(fl_index_reader *r, int64_t ms);

/* Snapshot: every read between _begin and _end sees the same committed
 * state, while the writer goes on. Reads outside a snapshot each see the
 * latest commit. Nesting is not allowed (-EBUSY). Returns 0 or FL_ESQL. */
int fl_index_reader_begin(fl_index_reader *r);
int fl_index_reader_end(fl_index_reader *r);

/* Last committed index revision (in the current snapshot). */
int fl_index_reader_revision(fl_index_reader *r, int64_t *out);

/* One object as the reader hands it out. All pointers are borrowed and valid
 * only during the callback. json is the stored JSON: compact, Go's escaping
 * (kube/json.h fl_json_encode), no trailing newline, NUL-terminated. */
typedef struct fl_index_row {
    const char *cluster, *group, *version, *resource, *kind;
    const char *namespace_, *name, *uid, *resource_version, *owner_uid; /* "" if none */
    int64_t revision;   /* index revision of the last change */
    int64_t created;    /* creationTimestamp, unix seconds (0 if none) */
    int64_t synced_ms;  /* when the current state was written */
    int64_t deleted_ms; /* 0 for live objects, else when tombstoned */
    const char *json;
    size_t json_len;
} fl_index_row;

/* Return nonzero to stop the iteration (that value is returned by the
 * listing call); 0 to continue. */
typedef int (*fl_index_row_cb)(void *arg, const fl_index_row *row);

/* Get one live object by key (namespace "" for cluster-scoped; version NULL
 * matches any version). cb runs once. Returns 0, FL_ENOTFOUND, FL_ESQL,
 * or the callback's nonzero value. */
typedef struct fl_index_key {
    const char *cluster, *group, *version, *resource, *namespace_, *name;
} fl_index_key;
int fl_index_get(fl_index_reader *r, const fl_index_key *key, fl_index_row_cb cb, void *arg,
                 fl_err *err);

/* Label requirement, the meaning of k8s.io/apimachinery labels.Requirement:
 * NOTIN and NOT_EXISTS match objects without the key; GT/LT compare the
 * value as an integer (values[0]). */
typedef enum {
    FL_INDEX_LABEL_EQ, /* key = values[0] (also "==" and "in" with one value) */
    FL_INDEX_LABEL_NE, /* key != values[0] (objects without key match) */
    FL_INDEX_LABEL_IN,
    FL_INDEX_LABEL_NOTIN,
    FL_INDEX_LABEL_EXISTS,
    FL_INDEX_LABEL_NOT_EXISTS,
    FL_INDEX_LABEL_GT,
    FL_INDEX_LABEL_LT,
} fl_index_label_op;

typedef struct fl_index_label_req {
    const char *key;
    fl_index_label_op op;
    const char *const *values;
    size_t n_values;
} fl_index_label_req;

typedef enum {
    FL_INDEX_ORDER_KEY = 0,  /* namespace, name, then cluster (registration order) */
    FL_INDEX_ORDER_REVISION, /* ascending index revision */
} fl_index_order;

/* A query: every member narrows the result (AND); NULL/0 means "no
 * constraint". Arrays are OR-ed within themselves. Everything is bound as
 * SQL parameters; no member is ever pasted into SQL text. Caps: at most
 * FL_INDEX_QUERY_MAX_TERMS entries per array, else -E2BIG.
 * Cursor (keyset): with ORDER_KEY, after_namespace/after_name/after_cluster
 * (all set) start strictly after that key; with ORDER_REVISION,
 * after_revision starts strictly after that revision. limit 0 = no limit
 * (callers should always set one; the search API caps at 500..10000). */
#define FL_INDEX_QUERY_MAX_TERMS 256
typedef struct fl_index_query {
    const char *group;    /* required ("" = core) */
    const char *version;  /* NULL = any version */
    const char *resource; /* required */
    const char *const *clusters;
    size_t n_clusters;
    const char *const *namespaces;
    size_t n_namespaces;
    const char *const *names;
    size_t n_names;
    const fl_index_label_req *labels;
    size_t n_labels;
    const char *owner_uid; /* controller owner uid */
    const char *text;      /* full-text: substring (>= 3 bytes, else -EINVAL)
                                   of name, namespace, labels ("k=v"),
                                   annotations ("k=v") or container images;
                                   FTS5 trigram, case-insensitive */
    /* core pods only (other resources: ignored): the materialized
     * spec.nodeName ("" = unscheduled) and status.phase, each a set */
    const char *const *pod_nodes;
    size_t n_pod_nodes;
    const char *const *pod_phases;
    size_t n_pod_phases;
    int64_t created_since;  /* creationTimestamp >= (unix s), 0 = none */
    int64_t created_before; /* creationTimestamp < (unix s), 0 = none */
    int64_t min_revision;   /* revision > min_revision (changed since), 0 = none */
    bool include_deleted;   /* also tombstones (deleted_ms != 0) */
    fl_index_order order;
    const char *after_namespace, *after_name, *after_cluster;
    int64_t after_revision;
    int64_t limit;
    /* As of an earlier revision (0 = the current state): key order only;
     * objects as they were at as_of (created after it absent, deleted
     * after it present, updated ones in their state then). FL_EGONE when
     * as_of is older than the change log's retention. Conditions on the
     * content of a past state (labels, owner, creation time, full text as
     * a case-insensitive substring of its JSON) are checked on that state. */
    int64_t as_of;
} fl_index_query;
#define FL_INDEX_QUERY_INIT                                                                        \
    {                                                                                              \
        0                                                                                          \
    }

/* Run q, calling cb for each row in order. *n_out (optional) = rows passed
 * to cb. Cost: a key-ordered page driven by a label equality (or one-value
 * set), one cluster, one owner uid, namespaces or nothing at all reads one
 * index range and looks up only the rows it hands out (limit+1 when the
 * caller asks one more to know there is a next page); conditions no index
 * holds (label sets and negations, creation time, full text) filter that
 * range (reader.c, "Plans"). Returns 0, -EINVAL (missing group/resource, half a cursor),
 * -E2BIG, FL_ESQL, or the callback's nonzero value. */
int fl_index_list(fl_index_reader *r, const fl_index_query *q, fl_index_row_cb cb, void *arg,
                  int64_t *n_out, fl_err *err);

/* Count the rows q selects, ignoring cursor and limit. */
int fl_index_count(fl_index_reader *r, const fl_index_query *q, int64_t *out, fl_err *err);

/* Change log: the changes with revision > from_rev, ascending, at most
 * limit (0 = no limit). type is "ADDED", "MODIFIED" or "DELETED"; row is the
 * object's state at that revision (its latest state, or the earlier one
 * the index keeps until the change log forgets that revision: history.c);
 * DELETED rows are the last state. superseded is true, and row->json NULL,
 * only when no state is kept for that revision (a database written before
 * states were kept, or the object purged).
 * Returns 0, FL_EGONE when from_rev is older than the retained log (the
 * caller relists; *oldest_out, if given, gets the oldest from_rev still
 * served), FL_ESQL, or the callback's nonzero value. */
typedef int (*fl_index_change_row_cb)(void *arg, const char *type, bool superseded,
                                      int64_t revision, const fl_index_row *row);
int fl_index_changes(fl_index_reader *r, int64_t from_rev, int64_t limit, fl_index_change_row_cb cb,
                     void *arg, int64_t *oldest_out, fl_err *err);

/* Sync state of (cluster, gvr). Returns 0 or FL_ENOTFOUND. */
int fl_index_sync_get(fl_index_reader *r, const fl_index_src *src, fl_index_sync *out, fl_err *err);

/* ---------------------------------------------- materialized fields (read)
 * Quantities are int64 milli-units (cpu "250m" = 250, memory "1Ki" =
 * 1024000). Pod requests/limits are what Kubernetes' scheduler counts:
 * per resource max(sum over containers, max over init containers) plus
 * spec.overhead. Terminal pods (phase Succeeded/Failed) are excluded from
 * the usage sums below. */

typedef struct fl_index_usage {
    const char *cluster;      /* borrowed for the callback */
    const char *key;          /* namespace or node name, per the call */
    const char *resource;     /* "cpu", "memory", "nvidia.com/gpu", ... ;
                                "pods": requests = pod count in milli-units
                                (1 pod = 1000), limits 0 */
    int64_t requests, limits; /* milli-units */
} fl_index_usage;
typedef int (*fl_index_usage_cb)(void *arg, const fl_index_usage *u);

/* Sum of live non-terminal pods' requests/limits grouped by (cluster,
 * namespace, resource); cluster/namespace NULL = all. Ordered by cluster,
 * namespace, resource. Returns 0, FL_ESQL or the callback's value. */
int fl_index_usage_by_namespace(fl_index_reader *r, const char *cluster, const char *namespace_,
                                fl_index_usage_cb cb, void *arg, fl_err *err);
/* The same grouped by (cluster, node) for scheduled pods (node != ""). */
int fl_index_usage_by_node(fl_index_reader *r, const char *cluster, fl_index_usage_cb cb, void *arg,
                           fl_err *err);

typedef struct fl_index_node {
    const char *cluster, *name, *region, *zone; /* "" if none */
    bool ready, unschedulable;
    const char *taints_json; /* spec.taints as JSON array text, "[]" if none */
    /* capacity/allocatable per resource, parallel arrays */
    size_t n_resources;
    const char *const *resources;
    const int64_t *capacity, *allocatable;
} fl_index_node;
typedef int (*fl_index_node_cb)(void *arg, const fl_index_node *n);
/* Live nodes of a cluster (NULL = all), ordered by cluster then name. */
int fl_index_nodes(fl_index_reader *r, const char *cluster, fl_index_node_cb cb, void *arg,
                   fl_err *err);

/* Running capacity totals (capacity.c keeps them in the writer's
 * transactions), so these read a few rows per (cluster, region, zone)
 * whatever the fleet's size. region/zone are the nodes' own ("" if none). */
typedef struct fl_index_capacity_group {
    const char *cluster, *region, *zone, *resource; /* borrowed for the callback */
    int64_t allocatable;       /* sum over the group's live nodes, milli-units */
    int64_t requested, limits; /* non-terminal pods bound to those nodes */
    int64_t largest_free;      /* max(allocatable - requested) over the group's
                                Ready, schedulable nodes; */
    bool has_largest_free;     /* false: no such node */
} fl_index_capacity_group;
typedef int (*fl_index_capacity_group_cb)(void *arg, const fl_index_capacity_group *g);
/* One row per (cluster, region, zone, resource), ordered so. Returns 0,
 * FL_ESQL or the callback's value. Reader's thread. */
int fl_index_capacity_groups(fl_index_reader *r, fl_index_capacity_group_cb cb, void *arg,
                             fl_err *err);

typedef struct fl_index_capacity_nodes {
    const char *cluster, *region, *zone;
    int64_t total, ready, cordoned;
} fl_index_capacity_nodes;
typedef int (*fl_index_capacity_nodes_cb)(void *arg, const fl_index_capacity_nodes *n);
/* Live node counts per (cluster, region, zone). As above. */
int fl_index_capacity_node_counts(fl_index_reader *r, fl_index_capacity_nodes_cb cb, void *arg,
                                  fl_err *err);
/* The same grouped by the value of the node label key: one group row per
 * (cluster, value, resource) and one count row per (cluster, value), value
 * passed as region (zone ""), and per cluster the nodes without the key
 * (or with it empty) as value "". From running totals per (key, value);
 * the "" rows' largest free walks the cluster's freest nodes down to the
 * first one without the key. Unordered. As above. */
int fl_index_capacity_label(fl_index_reader *r, const char *key, fl_index_capacity_group_cb gcb,
                            fl_index_capacity_nodes_cb ncb, void *arg, fl_err *err);
/* fl_index_usage_by_namespace(r, NULL, NULL, ...) from the running totals. */
int fl_index_capacity_namespaces(fl_index_reader *r, fl_index_usage_cb cb, void *arg, fl_err *err);

/* A pod's resources as quota/ reads them (fl_index_pod_quota_list): the
 * pod sets a request / a limit of the resource (else that amount is 0 and
 * unset), and the format (kube/quantity.h fl_qty_format) its quantities
 * were written in: request format in the low bits, limit format shifted. */
#define FL_INDEX_RES_REQUEST 0x4
#define FL_INDEX_RES_LIMIT 0x20
#define FL_INDEX_RES_LIMIT_FMT_SHIFT 3
#define FL_INDEX_RES_REQUEST_FMT(f) ((f)&0x3)
#define FL_INDEX_RES_LIMIT_FMT(f) (((f) >> FL_INDEX_RES_LIMIT_FMT_SHIFT) & 0x3)

/* One live pod for quota/'s full count. plain: requests/limits below are
 * exactly the pod's usage under kube-apiserver v1.26's ResourceQuota rules
 * (no sidecars, no limit without its request, overhead only on set limits,
 * exact quantities of one format per resource, no deletionTimestamp:
 * facts.c), json NULL; otherwise json is the stored object (the caller
 * counts from it) and the arrays are empty. The synthetic "pods" row is
 * left out. Everything is borrowed for the callback. */
typedef struct fl_index_pod_quota {
    const char *cluster, *name;
    bool terminal, plain;
    size_t n;
    const char *const *resources;
    const int64_t *requests, *limits; /* milli-units */
    const int *fmt;                   /* FL_INDEX_RES_* bits */
    const char *json;
    size_t json_len;
} fl_index_pod_quota;
typedef int (*fl_index_pod_quota_cb)(void *arg, const fl_index_pod_quota *p);
/* Every live pod of namespace_ in the named clusters (n_clusters of them;
 * an unknown name matches nothing), in fl_index_list's order (name, then
 * cluster). Returns 0, FL_ESQL, -ENOMEM or the callback's nonzero value.
 * Reader's thread. */
int fl_index_pod_quota_list(fl_index_reader *r, const char *const *clusters, size_t n_clusters,
                            const char *namespace_, fl_index_pod_quota_cb cb, void *arg,
                            fl_err *err);

/* Pod facts for one live pod (by key): node, phase, qosClass, priority class
 * name, terminal. Strings are copied into the caller's struct. */
typedef struct fl_index_pod {
    char node[254], phase[32], qos[32], priority_class[254];
    bool terminal;
} fl_index_pod;
int fl_index_pod_get(fl_index_reader *r, const fl_index_key *key, fl_index_pod *out, fl_err *err);

/* ------------------------------------------------ compiled queries (read)
 * For query/'s SQL-like language: run one statement query/ compiled (never
 * text from a user) on the reader's read-only connection. While it is
 * prepared an authorizer allows only SELECT, reads of the object tables
 * (objects, clusters, gvrs, labels, fts, pods, pod_resources, nodes,
 * node_resources; json_each) and a fixed list of functions; anything else
 * fails to prepare (FL_EFORBIDDEN). While it steps, a progress handler
 * stops it after budget_ms (-ETIMEDOUT). At most max_rows rows reach cb;
 * one more means res->truncated. The statement runs in one snapshot whose
 * index revision is res->revision. */
typedef enum {
    FL_INDEX_SQL_NULL = 0,
    FL_INDEX_SQL_INT,
    FL_INDEX_SQL_REAL,
    FL_INDEX_SQL_TEXT,
} fl_index_sql_type;
typedef struct fl_index_sql_value {
    fl_index_sql_type type;
    int64_t i;
    double d;
    const char *s; /* TEXT: borrowed, NUL-terminated, len bytes */
    size_t len;
} fl_index_sql_value;
typedef struct fl_index_sql_opts {
    int64_t budget_ms; /* default (0) 5000 */
    int64_t max_rows;  /* default (0) 10000 */
    bool plan;         /* EXPLAIN QUERY PLAN instead: one text column per plan line */
} fl_index_sql_opts;
typedef struct fl_index_sql_result {
    int64_t rows, revision, elapsed_ms;
    bool truncated;
} fl_index_sql_result;
/* cb gets the row's ncols values (borrowed for the call); nonzero stops
 * and is returned. Returns 0, FL_EFORBIDDEN, -ETIMEDOUT, FL_ESQL (err has
 * SQLite's message), -EINVAL, or cb's value. */
typedef int (*fl_index_sql_row_cb)(void *arg, const fl_index_sql_value *cols, size_t ncols);
int fl_index_sql_run(fl_index_reader *r, const char *sql, const fl_index_sql_value *params,
                     size_t nparams, const fl_index_sql_opts *o, fl_index_sql_row_cb cb, void *arg,
                     fl_index_sql_result *res, fl_err *err);

#endif
