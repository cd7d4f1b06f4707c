/*
 * sim/sim_int.h: what the files of sim/ share and nobody else includes.
 *
 *   store.c     the per-cluster object store: one mutex, one global
 *               resourceVersion counter, a bounded event history, snapshots
 *               at an old resourceVersion, and watcher fan-out
 *   select.c    label and field selectors (private until kube/ ships them)
 *   api.c       HTTP handlers: discovery, OpenAPI, list, get, watch
 *   write.c     HTTP handlers: create, update, patch, delete, subresources
 *   sim.c       fleet construction, seeding, kubeconfigs, config files
 *
 * The store is the single write path: HTTP handlers (and, later, the
 * controllers and fault injection of part 2) change objects only through
 * sim_store_create/update/delete, and observe changes through watchers.
 */
#ifndef FL_SIM_INT_H
#define FL_SIM_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "kube/kube.h"
#include "sim/sim.h"

/* ------------------------------------------------------------ resources */
typedef struct sim_rstore sim_rstore;

/* One served group/version/resource of a virtual cluster: the registry's
 * type (kube/resource.h, borrowed; valid while the cluster's registry
 * lives) and its storage, shared by every version of a group/resource.
 * Invariant: immutable once registered with the store. */
typedef struct sim_res {
    const fl_kube_resource *kr;
    char api_version[140];   /* "v1" or "group/version" */
    sim_rstore *rs;          /* owned by the store */
} sim_res;

/* ---------------------------------------------------------------- objects
 * An immutable stored object: compact JSON plus the fields lists filter on,
 * in one allocation, shared by reference between the table, the history
 * and readers. */
typedef struct sim_obj {
    atomic_int refs;
    uint64_t rv;
    const sim_res *res;
    const char *key;     /* "ns/name" or "name": etcd key order */
    const char *ns;      /* "" when cluster-scoped */
    const char *name;
    const char *labels;  /* "k\0v\0k\0v\0\0" */
    const char *node;    /* spec.nodeName or "" */
    const char *phase;   /* status.phase or "" */
    const char *json;    /* compact JSON, starts {"kind":..,"apiVersion":..,  */
    size_t len;
    size_t hdr;          /* bytes of "\"kind\":..,\"apiVersion\":..," after '{' */
} sim_obj;

void sim_obj_ref(sim_obj *o);
void sim_obj_unref(sim_obj *o);
/* Parse the stored JSON (new reference) or NULL on ENOMEM. */
json_t *sim_obj_parse(const sim_obj *o);
/* Label value or NULL. */
const char *sim_obj_label(const sim_obj *o, const char *key);

/* ------------------------------------------------------------ selectors */
typedef struct sim_sel sim_sel;
int sim_sel_parse_labels(const char *s, sim_sel **out, fl_err *err);
int sim_sel_parse_fields(const char *s, sim_sel **out, fl_err *err);
bool sim_sel_match(const sim_sel *s, const sim_obj *o);
void sim_sel_free(sim_sel *s);
/* False (and *bad = the key) when a field selector names a field the
 * apiserver does not index for kind. */
bool sim_sel_fields_supported(const sim_sel *s, const char *kind, const char **bad);

/* ---------------------------------------------------------------- store */
typedef struct sim_store sim_store;
typedef struct sim_watch sim_watch;

typedef enum { SIM_EV_ADDED = 0, SIM_EV_MODIFIED, SIM_EV_DELETED } sim_ev_type;

/* Append o as a one-row Table (a Table watch event's object) to out;
 * omit_columns after the first event. 0 or a negative code. */
typedef int (*sim_table_fn)(const sim_res *r, const sim_obj *o, bool omit_columns, fl_buf *out);

typedef struct sim_store_opts {
    size_t history;          /* events kept for watch resume / snapshots */
    unsigned bookmark_s;     /* bookmark period of watches */
    sim_table_fn table;      /* renders Table watch events (NULL: none) */
} sim_store_opts;

int sim_store_new(const sim_store_opts *o, sim_store **out);
void sim_store_free(sim_store *st);

/* Serve registry type kr (borrowed; must outlive the store). A type with
 * the same group/resource as an earlier one shares its storage. Adding a
 * group/version/resource twice is a no-op. 0, FL_EFULL or -ENOMEM. */
int sim_store_add_res(sim_store *st, const fl_kube_resource *kr);
/* Find by group/version/resource (NULL group = core). Borrowed. */
const sim_res *sim_store_find(sim_store *st, const char *group, const char *version,
                              const char *resource);
/* Copy the resource list (array of borrowed pointers, caller frees the array). */
size_t sim_store_resources(sim_store *st, const sim_res ***out);
uint64_t sim_store_rv(sim_store *st);
/* The oldest resourceVersion still reachable (history start). */
uint64_t sim_store_oldest(sim_store *st);
/* Bumped whenever the resource table changes (CRDs). */
uint64_t sim_store_generation(sim_store *st);

/* Reads: new reference in *out or FL_ENOTFOUND. */
int sim_store_get(sim_store *st, const sim_res *r, const char *ns, const char *name, sim_obj **out);

/* Writes. obj is the full new state (kind, apiVersion, metadata...); the
 * store sets metadata.resourceVersion, encodes and publishes an event.
 * create: -EEXIST when the key exists. update: FL_ENOTFOUND, or
 * FL_ECONFLICT when expect_rv != 0 and the stored rv differs.
 * delete: obj is the final state to report (stored obj when NULL).
 * *out (optional) gets a new reference to the stored object. */
int sim_store_create(sim_store *st, const sim_res *r, json_t *obj, sim_obj **out);
int sim_store_update(sim_store *st, const sim_res *r, json_t *obj, uint64_t expect_rv,
                     sim_obj **out);
int sim_store_delete(sim_store *st, const sim_res *r, const char *ns, const char *name,
                     uint64_t expect_rv, json_t *obj, sim_obj **out);

/* A list page. items are new references; caller calls sim_list_done. */
typedef struct sim_list {
    sim_obj **items;
    size_t n;
    uint64_t rv;            /* the list's resourceVersion */
    char *next;             /* continue start key (after the last item) or NULL */
    int64_t remaining;      /* items after this page (when next) */
} sim_list;

typedef struct sim_list_req {
    const char *ns;         /* NULL or "" = all */
    const sim_sel *labels, *fields;
    uint64_t at_rv;         /* 0 = now; else a snapshot at that rv */
    const char *start;      /* resume after this key ("" = from the start) */
    int64_t limit;          /* 0 = no limit */
} sim_list_req;

/* FL_EGONE when at_rv is older than the history window. */
int sim_store_list(sim_store *st, const sim_res *r, const sim_list_req *q, sim_list *out);
void sim_list_done(sim_list *l);

/* ---------------------------------------------------------------- watch */
typedef struct sim_watch_req {
    const char *ns;
    sim_sel *labels, *fields;   /* owned by the watch from sim_store_watch on */
    bool initial;               /* synthetic ADDED for current objects first */
    bool initial_end_bookmark;  /* then the k8s.io/initial-events-end bookmark */
    uint64_t from_rv;           /* when !initial: send events after this rv */
    bool bookmarks;
    int64_t deadline_ms;        /* monotonic; 0 = none */
    bool table;                 /* one-row Table per event */
} sim_watch_req;

/* Sink for encoded event lines. Returns 0 or FL_ECLOSED/FL_EFULL to end. */
typedef int (*sim_watch_write_fn)(void *ud, const char *data, size_t len);
/* Called once when the watch ends (timeout, client gone, store freed), on
 * the store's ticker thread or the freeing thread, outside the lock. */
typedef void (*sim_watch_end_fn)(void *ud);

/* Start a watch. On FL_EGONE (rv too old) nothing was registered and
 * *oldest says where the window starts. Selectors in q are taken over
 * even on failure. */
int sim_store_watch(sim_store *st, const sim_res *r, sim_watch_req *q, sim_watch_write_fn wr,
                    sim_watch_end_fn end, void *ud, sim_watch **out, uint64_t *oldest);
/* Ask a watch to end soon (from any thread, e.g. the client went away). */
void sim_watch_cancel(sim_watch *w);
size_t sim_store_watch_count(sim_store *st);


/* -------------------------------------------------------------- clusters */
#include "server/server.h"

/* Cached OpenAPI v3 documents of one cluster, rebuilt when the registry's
 * generation changes. */
typedef struct sim_openapi {
    uint64_t gen;          /* registry generation they were built for; 0 = none */
    json_t *index;         /* /openapi/v3 body */
    json_t *docs;          /* "api/v1" -> {"hash": H, "body": compact JSON string} */
} sim_openapi;

/* One virtual cluster. Immutable after fl_sim_new except what its store,
 * registry (both internally locked) and openapi cache (mu) hold. */
typedef struct sim_cluster {
    char name[64];
    char token[65];
    char url[160];
    char prefix[96];       /* "" or "/clusters/<name>" */
    char region[32], zone[32], provider[32];
    bool is_host;
    fl_kube_resources *reg;
    sim_store *st;
    fl_server *srv;        /* own listener, or NULL when sharing one */
    char fs_uid[37], pl_uid[37];   /* X-Kubernetes-Pf-* values */
    char server_addr[64];  /* host:port for /api's serverAddressByClientCIDRs */
    pthread_mutex_t mu;
    sim_openapi oa;
    uint64_t seed;         /* per-cluster deterministic name suffixes */
} sim_cluster;

/* api.c: the one HTTP entry point of a cluster (ud = sim_cluster). */
void sim_api_handle(fl_request *req, void *ud);
/* api.c: a sim_table_fn rendering Table watch events with kube/table.h. */
int sim_api_table_event(const sim_res *r, const sim_obj *o, bool omit_columns, fl_buf *out);
/* write.c: writes, reached from sim_api_handle. The path was parsed into pr. */
typedef struct sim_path {
    const sim_res *res;
    char ns[254];
    char name[254];
    char sub[32];          /* "", "status", "scale", "binding", "log", ... */
} sim_path;
void sim_write_handle(sim_cluster *c, fl_request *req, const sim_path *p);
/* Register everything c's registry knows with its store (after CRD changes). */
int sim_sync_resources(sim_cluster *c);
/* Build a new object for writes: fills uid, creationTimestamp etc. Used by
 * seeding (sim.c) and the create handler. */
int sim_create_object(sim_cluster *c, const sim_res *r, json_t *obj, const char *manager,
                      bool dry_run, sim_obj **out, fl_err *err);

/* Status replies. */
void sim_reply_status(fl_request *req, int code, const char *reason, const char *msg,
                      const char *name, const char *group, const char *kind);
/* "pods" or "deployments.apps" (for messages). */
void sim_res_qualified(const sim_res *r, char *out, size_t n);
/* Encode o for a single-object answer (with kind/apiVersion). */
void sim_reply_obj(fl_request *req, int code, const sim_obj *o);
void sim_reply_json(fl_request *req, int code, json_t *v);

/* openapi.c: stand-ins for fl_kube_openapi_doc/_hash (see the file). */
int sim_openapi_doc(const fl_kube_resources *reg, const char *group, const char *version,
                    json_t **out);
int sim_openapi_hash(const json_t *doc, char out[129]);

/* ------------------------------------------------------------- helpers */
/* Base64url without padding. */
int sim_b64url_encode(const void *p, size_t n, fl_buf *out);
int sim_b64url_decode(const char *s, fl_buf *out);
/* Build the object store entry for obj. */
sim_obj *sim_obj_build(const sim_res *r, const json_t *obj, uint64_t rv);

#endif
