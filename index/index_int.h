/*
 * index/index_int.h: what the files of index/ share and nobody else sees
 * (tests/index may include it to test the pieces alone): the decoded
 * record, the decoder, the coalescer, the string map, the schema code and
 * the writer's entry points.
 */
#ifndef FL_INDEX_INT_H
#define FL_INDEX_INT_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>

#include "index/index.h"
#include "kube/kube.h"

/* ------------------------------------------------------------ records
 * One object change ready for the writer, produced by a decoder. Every
 * pointer is owned by the record (idx_rec_free). Invariant: ns/name/json are
 * non-NULL for UPSERT; DELETE may carry json (the last state) or not. */
typedef enum { REC_UPSERT = 1, REC_DELETE = 2 } rec_op;

typedef struct rec_res {
    char *name;
    int64_t a, b; /* pods: requests, limits; nodes: capacity, allocatable */
    int fmt;      /* pods: FL_INDEX_RES_* bits (index.h); nodes 0 */
} rec_res;

typedef struct fl_rec {
    rec_op op;
    char *ns, *name, *uid, *rv, *owner_uid; /* "" when absent, never NULL */
    int64_t created;
    char *json;
    size_t json_len;
    /* json compressed by a decoder with dictionary zdict (idx_zjpub_compress), or
     * NULL; the writer stores it when zdict is its resource's dictionary */
    void *zjson;
    size_t zjson_len;
    int64_t zdict;
    /* labels as n_labels pairs, key then value */
    char **labels;
    size_t n_labels;
    uint64_t labels_hash, fts_hash, facts_hash;
    char *fts_labels, *fts_annotations, *fts_images;
    /* materialized facts: kind_facts 0 none, 1 pod, 2 node */
    int kind_facts;
    char *node, *phase, *qos, *prio_class; /* pod */
    bool terminal, quota_plain;
    char *region, *zone, *taints; /* node */
    bool ready, unschedulable;
    rec_res *res;
    size_t n_res;
} fl_rec;

void idx_rec_free(fl_rec *r);

/* Decoding options (copied from fl_index_opts). */
typedef struct dec_opts {
    bool keep_managed_fields, keep_last_applied;
} dec_opts;

/* What the decoder makes of one submitted item. */
typedef struct dec_out {
    fl_rec **recs;
    size_t n_recs;
    char *rv;    /* event object's / bookmark's / list's resourceVersion, or NULL */
    char *error; /* ERROR event message or decode failure, or NULL */
    int decode_errors;
    int parsed; /* objects decoded by jansson, not in place (scan.c) */
} dec_out;

/* Decode one watch event line / one list page. src gives cluster (for the
 * annotation) and group+resource (Secret, Pod, Node handling). Fills *out
 * (owned by caller, idx_dec_out_done). Always returns 0 or -ENOMEM; malformed
 * input is reported through out->error / decode_errors. Any thread. */
int idx_dec_event(const dec_opts *o, const fl_index_src *src, const char *data, size_t len,
                  dec_out *out);
int idx_dec_list(const dec_opts *o, const fl_index_src *src, const char *data, size_t len,
                 dec_out *out);
void idx_dec_out_done(dec_out *out);

/* Turn one object (borrowed json_t *, modified in place: pruned and
 * annotated) into a record with op. NULL on ENOMEM or when the object has
 * no metadata.name. */
fl_rec *idx_dec_object(const dec_opts *o, const fl_index_src *src, json_t *obj, rec_op op);
/* Fill r (op set) from view, an object whose metadata is already pruned
 * and annotated: key, uid, owner, labels, full text, facts. Only
 * metadata, spec and status are read. 0 or -ENOMEM. */
int idx_dec_fill(fl_rec *r, const fl_index_src *src, json_t *view);

/* The in-place path (scan.c): one object of a document fl_jscan_plain
 * accepted. The stored JSON is obj's own bytes minus the pruned members,
 * plus the cluster annotation (and kind/apiVersion for list items), so no
 * re-encoding; the extracted fields come from a small view (metadata,
 * the spec members extraction reads, a few status members) parsed by
 * jansson. Returns 1 and *out, 0 when obj needs the jansson path (a shape
 * this path does not handle, or no metadata.name), or -ENOMEM. */
int idx_dec_object_scan(const dec_opts *o, const fl_index_src *src, fl_jval obj, rec_op op,
                        fl_rec **out);

/* Fill r's pod/node facts from obj (facts.c). 0 or -ENOMEM. */
int idx_dec_facts(fl_rec *r, const fl_index_src *src, json_t *obj);

/* -------------------------------------------------------- string map
 * Open-addressing map from byte strings to int64, grows by doubling. */
typedef struct idx_smap_ent {
    char *key;
    size_t klen;
    uint64_t hash;
    int64_t val;
} idx_smap_ent;
typedef struct idx_smap {
    idx_smap_ent *ents;
    size_t cap, n;
} idx_smap;
uint64_t fl_hash64(const void *p, size_t n, uint64_t seed);
/* Returns pointer to the value slot for key; *created tells if it was new
 * (value 0). NULL on ENOMEM. */
int64_t *idx_smap_put(idx_smap *m, const void *key, size_t klen, bool *created);
void idx_smap_clear(idx_smap *m); /* keeps nothing */

/* --------------------------------------------------------- coalescer
 * Per-batch, per-key merge: the last record of a key wins, so
 * create+update -> one upsert (ADDED if the key was absent before),
 * anything+delete -> delete, delete+create -> upsert. Order of first
 * appearance is kept. Keys are (scope, ns, name). */
typedef struct coal_ent {
    int64_t scope;
    fl_rec *rec;
} coal_ent;
typedef struct coalescer {
    idx_smap map; /* key -> index in ents */
    coal_ent *ents;
    size_t n, cap;
    int64_t merged; /* records dropped because a later one replaced them */
} coalescer;
/* Borrows rec (the caller keeps it alive until the reset). 0, -E2BIG or
 * -ENOMEM. */
int idx_coal_add(coalescer *c, int64_t scope, fl_rec *rec);
/* Empties the batch (keeps memory; the records are not freed). */
void idx_coal_reset(coalescer *c);
void idx_coal_done(coalescer *c);

/* ------------------------------------------------------ compressed JSON
 * zjson.c: zstd with one trained dictionary per resource (schema v4). */
typedef struct zjw zjw; /* writer side: writer thread only */
typedef struct zjr zjr; /* reader side: one reader connection */
/* The committed dictionaries, shared by the writer (which publishes each
 * one once its transaction committed) and the decoder threads (which
 * compress records with them, so the writer thread only does SQLite).
 * Thread-safe; entries are never removed before idx_zjpub_free. */
typedef struct zjpub zjpub;
typedef struct zjc zjc; /* one thread's compression context */
int idx_zjpub_new(zjpub **out);
void idx_zjpub_free(zjpub *p);
int idx_zjc_new(zjc **out);
void idx_zjc_free(zjc *c);
/* Compress the json of out's records with the dictionary published for
 * src's resource, if there is one, into each record's zjson (records the
 * dictionary does not shrink keep zjson NULL). c is the calling thread's
 * own. 0 or -ENOMEM. Any thread. */
int idx_zjpub_compress(zjpub *p, zjc *c, const fl_index_src *src, dec_out *out);
/* pub may be NULL (nothing is published). */
int idx_zjw_new(sqlite3 *db, zjpub *pub, zjw **out, fl_err *err);
/* The dictionary id rows of resource gvr are compressed with, 0 while it
 * has none (or only one trained in the open transaction). */
int64_t idx_zjw_dict(const zjw *z, int64_t gvr);
void idx_zjw_free(zjw *z);
/* What to store for json of resource gvr: *out is json itself (plain) or
 * z's compressed copy (*compressed true; valid until the next call).
 * Samples json for training while gvr has no dictionary; training stores
 * the dictionary in the open transaction. 0, -ENOMEM or FL_ESQL. */
int idx_zjw_encode(zjw *z, int64_t gvr, const char *json, size_t len, const void **out,
                   size_t *out_len, bool *compressed, fl_err *err);
/* The transaction committed / rolled back (forget its new dictionaries). */
void idx_zjw_commit(zjw *z);
void idx_zjw_rollback(zjw *z);
int idx_zjr_new(zjr **out);
/* The reader's own progress handler (its time budget) back in place after
 * a caller (index/sql.c) installed another for one statement. */
void idx_reader_progress_restore(fl_index_reader *r);
void idx_zjr_free(zjr *z);
/* Whether a stored json value is a zstd frame (else it is JSON text). */
bool idx_zj_is_compressed(const void *p, size_t n);
/* Decompress a stored frame; *json is z's buffer (NUL-terminated, valid
 * until the next call). 0, -ENOMEM, FL_ESQL (corrupt row, missing dict). */
int idx_zjr_decode(zjr *z, sqlite3 *db, const void *p, size_t n, const char **json, size_t *len,
                   fl_err *err);

/* ------------------------------------------------------------ history
 * history.c: earlier object states (see the rule at the top of that file). */
typedef struct hist_w hist_w; /* writer side: writer thread only */
int idx_hist_w_new(sqlite3 *db, hist_w **out, fl_err *err);
void idx_hist_w_free(hist_w *h);
/* Copy objects row obj_id as it is into history, valid until revision
 * until (the revision about to replace it). 0 or FL_ESQL. */
int idx_hist_w_keep(hist_w *h, int64_t obj_id, int64_t until, fl_err *err);
/* Forget the states replaced at or before floor. 0 or FL_ESQL. */
int idx_hist_w_purge(hist_w *h, int64_t floor, fl_err *err);

/* The state object obj_id had at revision rev, from history, to cb (the
 * row borrowed for the call). 0, FL_ENOTFOUND (no such state: the object
 * did not exist then, or the row is its state), FL_ESQL, or cb's value. */
typedef int (*hist_row_cb)(void *arg, const fl_index_row *row);
int idx_hist_state(fl_index_reader *r, int64_t obj_id, int64_t rev, hist_row_cb cb, void *arg,
                   fl_err *err);

/* A snapshot page (q->as_of): the past states of the rows of q's resource
 * changed after q->as_of that pass q's key conditions and the cursor
 * (after_cid: the cursor's cluster id), in key order. */
typedef struct hist_snap hist_snap;
int idx_hist_snap_new(fl_index_reader *r, const fl_index_query *q, int64_t after_cid,
                      hist_snap **out, fl_err *err);
void idx_hist_snap_free(hist_snap *h);
/* Hand the next past states that pass q's conditions to cb while their key
 * sorts before (ns, name, cid) (ns NULL: all that remain) and *n (rows
 * handed out so far, counted here too) is below q->limit. 0, FL_ESQL or
 * cb's value. */
int idx_hist_snap_emit(fl_index_reader *r, hist_snap *h, const fl_index_query *q, const char *ns,
                       const char *name, int64_t cid, fl_index_row_cb cb, void *arg, int64_t *n,
                       fl_err *err);
/* The API's key order: namespace, name, then cluster id. */
int idx_hist_key_cmp(const char *ns_a, const char *name_a, int64_t cid_a, const char *ns_b,
                     const char *name_b, int64_t cid_b);

/* reader.c's pieces history.c reads with: a cached prepared statement
 * (reset, bindings cleared; NULL on failure), the FL_ESQL/-ETIMEDOUT
 * answer for a failed read, and the row at column `at` in fill order
 * (cluster, grp, ver, res, kind, ns, name, uid, rv, owner_uid, revision,
 * created, synced_ms, deleted_ms, json). */
sqlite3_stmt *idx_reader_prep(fl_index_reader *r, const char *sql);
/* The stored JSON at column at of s, decompressed when it is a zstd frame
 * (valid until the next call on r). 0, -ENOMEM or FL_ESQL. */
int idx_reader_json(fl_index_reader *r, sqlite3_stmt *s, int at, const char **json, size_t *len,
                    fl_err *err);
int idx_reader_fail(fl_index_reader *r, fl_err *err, const char *what);
int idx_reader_fill_row(fl_index_reader *r, sqlite3_stmt *s, int at, fl_index_row *row,
                        fl_err *err);

/* ------------------------------------------------------------ schema */
/* Apply the writer pragmas, create or migrate the schema to
 * FL_INDEX_SCHEMA_VERSION. 0, FL_ESQL, FL_EUNSUPPORTED. */
int idx_schema_open(sqlite3 *db, const fl_index_opts *o, fl_err *err);
/* Migrate an open database from its user_version up to `to` (tests use a
 * lower `to` to build an old schema). 0, FL_ESQL, FL_EUNSUPPORTED. */
int idx_schema_migrate(sqlite3 *db, int to, fl_err *err);
/* Reader pragmas. */
/* Create or rebuild the capacity totals (capacity.c) on the writer's
 * connection when they are missing or of another version (idx_writer_new runs
 * it). 0 or FL_ESQL. */
int idx_capacity_install(sqlite3 *db, fl_err *err);
/* The writer's pending changes to the capacity totals (capacity.c): the
 * fact rows it inserts (sign 1) and deletes (sign -1) during a transaction,
 * summed per key; idx_cap_delta_apply writes them, in that transaction, before
 * COMMIT and empties the sums; idx_cap_delta_reset drops them (rollback).
 * Needs the tables idx_capacity_install made. 0, -ENOMEM or FL_ESQL. */
typedef struct cap_delta cap_delta;
int idx_cap_delta_new(sqlite3 *db, cap_delta **out, fl_err *err);
void idx_cap_delta_free(cap_delta *d);
void idx_cap_delta_reset(cap_delta *d);
int idx_cap_delta_apply(cap_delta *d, fl_err *err);
/* One pod_resources row of a pod (cluster cid, namespace ns, node name
 * node, "" when unscheduled). */
int idx_cap_pod_res(cap_delta *d, int64_t cid, const char *ns, const char *node, bool terminal,
                    const char *res, int64_t req, int64_t lim, int sign);
/* One node_resources row of the node named node. */
int idx_cap_node_res(cap_delta *d, int64_t cid, const char *node, const char *res, int64_t alloc,
                     int sign);
/* One nodes row. */
int idx_cap_node_state(cap_delta *d, int64_t cid, const char *node, const char *region,
                       const char *zone, bool ready, bool unschedulable, int sign);
/* One labels row of an object of gvr gid (only a core node's count, and
 * only when value is not ""). 0, or an error in err. */
int idx_cap_label(cap_delta *d, int64_t gid, int64_t cid, const char *ns, const char *name,
                  const char *key, const char *value, int sign, fl_err *err);
int idx_schema_reader_pragmas(sqlite3 *db, const fl_index_opts *o, fl_err *err);
/* Run a statement list; FL_ESQL with err on failure. */
int idx_sql_exec(sqlite3 *db, const char *sql, fl_err *err);

/* ------------------------------------------------------------ rows
 * Multi-row INSERTs (rows.c): rows queued with idx_rows_add (ncols values
 * each, zeroed: set .text and .s for text, NULL .s binds NULL, else .i) are
 * written by idx_rows_flush, IDX_ROWS_CHUNK to a statement; text is bound
 * SQLITE_STATIC, so it must live until the flush. Writer thread only. */
typedef struct idx_val {
    bool text;
    const char *s;
    int64_t i;
} idx_val;
typedef struct idx_rows idx_rows;
/* head: "INSERT [OR ...] INTO t(c1, ..., cn)" with ncols columns. 0 or -ENOMEM. */
int idx_rows_new(sqlite3 *db, const char *head, int ncols, idx_rows **out);
void idx_rows_free(idx_rows *m);
/* The next row's ncols values; NULL on ENOMEM. */
idx_val *idx_rows_add(idx_rows *m);
/* Write the queued rows and forget them (also on failure). 0 or FL_ESQL. */
int idx_rows_flush(idx_rows *m, fl_err *err);
/* Forget the queued rows (rollback). */
void idx_rows_reset(idx_rows *m);

/* ------------------------------------------------------------ writer
 * The writer owns the write connection and its prepared statements. */
typedef struct idx_writer idx_writer;

typedef enum {
    IT_EVENT = 1,
    IT_LIST,
    IT_RELIST_BEGIN,
    IT_RELIST_END,
    IT_RELIST_ABORT,
    IT_SYNC
} item_type;

/* Where a queued item is: waiting for a decoder, being decoded, decoded. */
typedef enum { IT_QUEUED = 0, IT_DECODING, IT_DECODED } item_state;

/* One queued item. src strings live in one block (srcbuf). */
typedef struct idx_item {
    struct idx_item *next;
    item_type type;
    item_state state;
    uint64_t seq;
    fl_index_src src;
    char *srcbuf;
    char *data;          /* raw bytes (freed after decoding) */
    size_t len, counted; /* counted: bytes charged against queue_max_bytes */
    char *arg;           /* relist_end RV, sync phase */
    char *arg2;          /* sync last_error */
    int64_t lag_ms;
    dec_out out;
} idx_item;
void idx_item_free(idx_item *it);

/* The database path and options of an open index (borrowed; index.c). */
const char *fl_index_path(const fl_index *idx);
const fl_index_opts *fl_index_options(const fl_index *idx);
/* A reader's connection, for the other read files (reader.c). */
sqlite3 *fl_index_reader_db(fl_index_reader *r);
/* The EXPLAIN QUERY PLAN detail lines (one per line) of the statement
 * fl_index_list (count false) or fl_index_count (count true) would run for
 * q, appended to out. For tests of the plans. 0 or as fl_index_list. */
int idx_reader_plan(fl_index_reader *r, const fl_index_query *q, bool count, fl_buf *out,
                    fl_err *err);

/* pub (may be NULL) gets the dictionaries the writer trains, once committed. */
int idx_writer_new(sqlite3 *db, const fl_index_opts *o, zjpub *pub, idx_writer **out, fl_err *err);
void idx_writer_free(idx_writer *w);
/* Apply items[0..n) in one transaction. first_rev and last_rev get the
 * revision range produced (first > last when none). 0, -ENOMEM (an
 * allocation failed, SQLite's included), -E2BIG or FL_ESQL: then the
 * transaction is rolled back, the writer's own state (relist marks,
 * counters, caches) is as it was before the call and the items are intact,
 * so the same items may be applied again. */
int idx_writer_apply(idx_writer *w, idx_item **items, size_t n, int64_t *first_rev,
                     int64_t *last_rev, fl_err *err);
/* idx_writer_apply, tried again after an allocation failure (-ENOMEM: the
 * writer is as it was before the call) up to IDX_WRITE_ATTEMPTS times in
 * all, sleeping backoff_ms, then 4 and 16 times that, between attempts;
 * each retry and a late success are logged (WARN). Returns the last
 * attempt's result, err its message; when that is a failure the batch is
 * lost, and the open relists are dropped (they would miss its marks, so
 * their end deletes nothing). */
#define IDX_WRITE_ATTEMPTS 3
int idx_writer_apply_retrying(idx_writer *w, idx_item **items, size_t n, int64_t backoff_ms,
                              int64_t *first_rev, int64_t *last_rev, fl_err *err);
/* Housekeeping (change-log retention, tombstone purge), one transaction. */
int idx_writer_housekeep(idx_writer *w, int64_t now_ms, fl_err *err);
/* Checkpoints the whole WAL into the database and truncates it to zero bytes,
 * without waiting: returns 0 when done, -EBUSY when a reader still holds an
 * older snapshot (try again later). Writer thread only, between batches. */
int idx_writer_truncate_wal(idx_writer *w, fl_err *err);
int64_t idx_writer_revision(const idx_writer *w);
void idx_writer_counts(const idx_writer *w, int64_t *written, int64_t *skipped, int64_t *deleted,
                       int64_t *coalesced, int64_t *txns);

#endif
