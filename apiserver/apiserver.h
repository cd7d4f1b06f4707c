/*
 * apiserver: the generic Kubernetes API server, shared by the simulator
 * (sim/: member clusters) and the daemon (cmd/serve.c: Flotilla's own
 * control-plane API). It owns the object store (resources, objects,
 * resourceVersions, the bounded event history, list snapshots, watches),
 * label/field selectors, and the HTTP handlers that speak the Kubernetes
 * API over a store: discovery, OpenAPI v3, list/get/watch with Tables,
 * create/update/patch/delete with validation, pruning, defaults, CRDs and
 * validating-webhook calls. It builds on kube/ and server/ and knows
 * nothing of fleets, controllers or faults: those plug in through
 * fl_apiserver_hooks.
 *
 * Threads: stores are internally locked (any thread); a store's ticker
 * thread ends watches at their deadline and sends bookmarks. HTTP handlers
 * run on server threads.
 */
#ifndef FL_APISERVER_H
#define FL_APISERVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "kube/kube.h"
#include "server/server.h"

/* ------------------------------------------------------------ resources */
typedef struct fl_apiserver_rstore fl_apiserver_rstore;

/* One served group/version/resource of a virtual cluster: the registry's
 * type (kube/resource.h, borrowed; valid while the cluster's registry
 * lives) and its storage, shared by every version of a group/resource.
 * Invariant: immutable once registered with the store. */
typedef struct fl_apiserver_res {
    const fl_kube_resource *kr;
    char api_version[140];   /* "v1" or "group/version" */
    fl_apiserver_rstore *rs; /* owned by the store */
} fl_apiserver_res;

/* ---------------------------------------------------------------- objects
 * An immutable stored object, shared by reference between the table, the
 * history and readers. Two forms:
 *   ordinary:  compact JSON plus the fields lists filter on, in one
 *              allocation (json != NULL);
 *   generated: a compact record of a fleet.c object never written since
 *              (json == NULL, gen != NULL): the filter fields plus a shared
 *              recipe; its JSON is rendered on demand, byte-identical to
 *              what the ordinary form would hold. A write makes a new,
 *              ordinary object.
 * Read the JSON only through fl_apiserver_obj_write/fl_apiserver_obj_json/fl_apiserver_obj_parse. */
/* A generated object's recipe (the generator's own struct starts with
 * this header): how to render, copy and release it. The store never looks
 * inside; the simulator's fleet.c is the one generator today. */
typedef struct fl_apiserver_obj fl_apiserver_obj;
typedef struct fl_apiserver_gen fl_apiserver_gen;
typedef struct fl_apiserver_gen_ops {
    /* Render o (see fl_apiserver_obj_write). 0, -ENOMEM or -E2BIG. */
    int (*render)(const fl_apiserver_obj *o, bool item, fl_buf *out);
    /* A new, unshared copy of record o (rv 0) or NULL on ENOMEM. */
    fl_apiserver_obj *(*copy)(const fl_apiserver_obj *o);
    /* Drop one reference to g (when a record is freed). */
    void (*unref)(fl_apiserver_gen *g);
} fl_apiserver_gen_ops;
struct fl_apiserver_gen {
    const fl_apiserver_gen_ops *ops;
};

struct fl_apiserver_obj {
    atomic_int refs;
    uint8_t gen_kind; /* generated: the generator's kind (fleet.c); else 0 */
    uint64_t rv;
    const fl_apiserver_res *res;
    const char *key; /* "ns/name" or "name": etcd key order */
    const char *ns;  /* "" when cluster-scoped */
    const char *name;
    const char *labels; /* "k\0v\0k\0v\0\0" */
    const char *node;   /* spec.nodeName or "" */
    const char *phase;  /* status.phase or "" */
    const char *json;   /* ordinary: compact JSON, starts {"kind":..,"apiVersion":..,
                          * generated: NULL */
    size_t len;
    size_t hdr;            /* bytes of "\"kind\":..,\"apiVersion\":..," after '{' */
    fl_apiserver_gen *gen; /* generated: the recipe (one reference); else NULL */
    uint64_t gen_id;       /* generated pods: the pod number in its namespace */
};

void fl_apiserver_obj_ref(fl_apiserver_obj *o);
void fl_apiserver_obj_unref(fl_apiserver_obj *o);
/* Append o's JSON to out: the whole object, or (item) as an item of a
 * list of a built-in kind — without kind and apiVersion, as kube-apiserver
 * writes them (objects without that header are written whole). Generated
 * objects are rendered. 0, -ENOMEM or -E2BIG (out's cap). Any thread. */
int fl_apiserver_obj_write(const fl_apiserver_obj *o, bool item, fl_buf *out);
/* o's whole JSON: the stored string (borrowed from o), or rendered into
 * scratch (reset first; valid until scratch changes). NULL on ENOMEM.
 * *len gets the byte count. Any thread. */
const char *fl_apiserver_obj_json(const fl_apiserver_obj *o, fl_buf *scratch, size_t *len);
/* True when o's JSON contains needle (a quick test, e.g. for a member). */
bool fl_apiserver_obj_contains(const fl_apiserver_obj *o, const char *needle);
/* Parse o's JSON (new reference) or NULL on ENOMEM. */
json_t *fl_apiserver_obj_parse(const fl_apiserver_obj *o);
/* Label value or NULL. */
const char *fl_apiserver_obj_label(const fl_apiserver_obj *o, const char *key);

/* ------------------------------------------------------------ selectors */
typedef struct fl_apiserver_sel fl_apiserver_sel;
int fl_apiserver_sel_parse_labels(const char *s, fl_apiserver_sel **out, fl_err *err);
int fl_apiserver_sel_parse_fields(const char *s, fl_apiserver_sel **out, fl_err *err);
bool fl_apiserver_sel_match(const fl_apiserver_sel *s, const fl_apiserver_obj *o);
void fl_apiserver_sel_free(fl_apiserver_sel *s);
/* False (and *bad = the key) when a field selector names a field the
 * apiserver does not index for kind. */
bool fl_apiserver_sel_fields_supported(const fl_apiserver_sel *s, const char *kind,
                                       const char **bad);

/* ---------------------------------------------------------------- store */
typedef struct fl_apiserver_store fl_apiserver_store;
typedef struct fl_apiserver_watch fl_apiserver_watch;

typedef enum {
    FL_APISERVER_EV_ADDED = 0,
    FL_APISERVER_EV_MODIFIED,
    FL_APISERVER_EV_DELETED
} fl_apiserver_ev_type;

/* Append o as a one-row Table (a Table watch event's object) to out;
 * omit_columns after the first event. 0 or a negative code. */
typedef int (*fl_apiserver_table_fn)(const fl_apiserver_res *r, const fl_apiserver_obj *o,
                                     bool omit_columns, fl_buf *out);

typedef struct fl_apiserver_store_opts {
    size_t history;              /* events kept for watch resume / snapshots */
    unsigned bookmark_s;         /* bookmark period of watches */
    fl_apiserver_table_fn table; /* renders Table watch events (NULL: none) */
} fl_apiserver_store_opts;

int fl_apiserver_store_new(const fl_apiserver_store_opts *o, fl_apiserver_store **out);
void fl_apiserver_store_free(fl_apiserver_store *st);
/* A durable store: the same store over the SQLite file path (created when
 * absent; WAL, synchronous=FULL). A write returns only after it committed;
 * when the commit fails (full disk, I/O) it returns FL_ESQL and nothing
 * changed. Objects of each resource are loaded when it is added; the
 * resourceVersion continues from the file's; history from before the open
 * answers 410. A file that is not a healthy database is refused (err names
 * it and SQLite's error; it is never recreated). 0, FL_ESQL or -ENOMEM. */
int fl_apiserver_store_open(const fl_apiserver_store_opts *o, const char *path,
                            fl_apiserver_store **out, fl_err *err);
/* Online, consistent copy of a durable store's file into dest (SQLite's
 * backup API; writes go on meanwhile). 0 or FL_ESQL (err says why). Any
 * thread. */
int fl_apiserver_backup(const char *src, const char *dest, fl_err *err);

/* Serve registry type kr (borrowed; must outlive the store). A type with
 * the same group/resource as an earlier one shares its storage. Adding a
 * group/version/resource twice is a no-op. 0, FL_EFULL or -ENOMEM. */
int fl_apiserver_store_add_res(fl_apiserver_store *st, const fl_kube_resource *kr);
/* Find by group/version/resource (NULL group = core). Borrowed. */
const fl_apiserver_res *fl_apiserver_store_find(fl_apiserver_store *st, const char *group,
                                                const char *version, const char *resource);
/* Copy the resource list (array of borrowed pointers, caller frees the array). */
size_t fl_apiserver_store_resources(fl_apiserver_store *st, const fl_apiserver_res ***out);
uint64_t fl_apiserver_store_rv(fl_apiserver_store *st);
/* The oldest resourceVersion still reachable (history start). */
uint64_t fl_apiserver_store_oldest(fl_apiserver_store *st);

/* Reads: new reference in *out or FL_ENOTFOUND. */
int fl_apiserver_store_get(fl_apiserver_store *st, const fl_apiserver_res *r, const char *ns,
                           const char *name, fl_apiserver_obj **out);

/* Writes. obj is the full new state (kind, apiVersion, metadata...); the
 * store sets metadata.resourceVersion, encodes and publishes an event.
 * create: -EEXIST when the key exists. update: FL_ENOTFOUND, or
 * FL_ECONFLICT when expect_rv != 0 and the stored rv differs.
 * delete: obj is the final state to report (stored obj when NULL).
 * *out (optional) gets a new reference to the stored object. */
int fl_apiserver_store_create(fl_apiserver_store *st, const fl_apiserver_res *r, json_t *obj,
                              fl_apiserver_obj **out);
/* Create from a generated record o (fleet.c; not yet shared): the store
 * sets its resourceVersion and takes over the caller's reference, also on
 * failure. Codes and *out as fl_apiserver_store_create. */
int fl_apiserver_store_create_rec(fl_apiserver_store *st, const fl_apiserver_res *r,
                                  fl_apiserver_obj *o, fl_apiserver_obj **out);
int fl_apiserver_store_update(fl_apiserver_store *st, const fl_apiserver_res *r, json_t *obj,
                              uint64_t expect_rv, fl_apiserver_obj **out);
int fl_apiserver_store_delete(fl_apiserver_store *st, const fl_apiserver_res *r, const char *ns,
                              const char *name, uint64_t expect_rv, json_t *obj,
                              fl_apiserver_obj **out);
/* Why the calling thread's last write that failed with FL_ESQL failed:
 * the file's name, the step and SQLite's words ("control.db: commit:
 * database or disk is full"); "" before any. Valid until the thread's
 * next write. */
const char *fl_apiserver_store_error(void);

/* A list page. items are new references; caller calls fl_apiserver_list_done. */
typedef struct fl_apiserver_list {
    fl_apiserver_obj **items;
    size_t n;
    uint64_t rv;       /* the list's resourceVersion */
    char *next;        /* continue start key (after the last item) or NULL */
    int64_t remaining; /* items after this page (when next) */
} fl_apiserver_list;

typedef struct fl_apiserver_list_req {
    const char *ns; /* NULL or "" = all */
    const fl_apiserver_sel *labels, *fields;
    uint64_t at_rv;    /* 0 = now; else a snapshot at that rv */
    const char *start; /* resume after this key ("" = from the start) */
    int64_t limit;     /* 0 = no limit */
} fl_apiserver_list_req;

/* FL_EGONE when at_rv is older than the history window. */
int fl_apiserver_store_list(fl_apiserver_store *st, const fl_apiserver_res *r,
                            const fl_apiserver_list_req *q, fl_apiserver_list *out);
void fl_apiserver_list_done(fl_apiserver_list *l);

/* ---------------------------------------------------------------- watch */
typedef struct fl_apiserver_watch_req {
    const char *ns;
    fl_apiserver_sel *labels, *fields; /* owned by the watch from fl_apiserver_store_watch on */
    bool initial;                      /* synthetic ADDED for current objects first */
    bool initial_end_bookmark;         /* then the k8s.io/initial-events-end bookmark */
    uint64_t from_rv;                  /* when !initial: send events after this rv */
    bool bookmarks;
    int64_t deadline_ms; /* monotonic; 0 = none */
    bool table;          /* one-row Table per event */
} fl_apiserver_watch_req;

/* Sink for encoded event lines. Returns 0 or FL_ECLOSED/FL_EFULL to end. */
typedef int (*fl_apiserver_watch_write_fn)(void *ud, const char *data, size_t len);
/* Called once when the watch ends (timeout, client gone, store freed), on
 * the store's ticker thread or the freeing thread, outside the lock. */
typedef void (*fl_apiserver_watch_end_fn)(void *ud);

/* Start a watch. On FL_EGONE (rv too old) nothing was registered and
 * *oldest says where the window starts. Selectors in q are taken over
 * even on failure. */
int fl_apiserver_store_watch(fl_apiserver_store *st, const fl_apiserver_res *r,
                             fl_apiserver_watch_req *q, fl_apiserver_watch_write_fn wr,
                             fl_apiserver_watch_end_fn end, void *ud, fl_apiserver_watch **out,
                             uint64_t *oldest);
/* Ask a watch to end soon (from any thread, e.g. the client went away). */
void fl_apiserver_watch_cancel(fl_apiserver_watch *w);
size_t fl_apiserver_store_watch_count(fl_apiserver_store *st);

/* ------------------------------------------------------------ the server
 * One served API: a registry and a store (both borrowed: they outlive it)
 * behind one entry point for HTTP requests. */
typedef struct fl_apiserver fl_apiserver;

/* What an embedder (the simulator) adds to the generic server. Every
 * member may be NULL; ud is passed back. */
typedef struct fl_apiserver_hooks {
    void *ud;
    /* First thing a request meets: true when the hook answered or parked
     * req (the server must not touch it again). */
    bool (*intercept)(void *ud, fl_request *req);
    /* True: answer this list (watch=false) or watch with 410 Gone. */
    bool (*take_410)(void *ud, bool watch);
    /* Open watches: registered after the watch started and before its
     * stream may close; deregistered before s closes. */
    void (*watch_add)(void *ud, fl_apiserver_watch *w, fl_stream *s);
    void (*watch_del)(void *ud, fl_apiserver_watch *w);
    /* Write an event line to s (NULL: fl_stream_write). */
    int (*watch_write)(void *ud, fl_stream *s, const char *data, size_t len);
    /* Admission after validation, before a create is stored: 0 or
     * FL_EFORBIDDEN with err the text after `KIND "NAME" is forbidden: `. */
    int (*admit)(void *ud, const fl_apiserver_res *r, const json_t *obj, const char *ns,
                 fl_err *err);
    /* GET pods/log of bound pod o: true when it answered req (else the
     * server answers as for an unreachable kubelet). */
    bool (*log)(void *ud, fl_request *req, const fl_apiserver_obj *o);
    /* Authentication and authorization instead of the one admin token.
     * verb NULL: authenticate only (discovery, OpenAPI; r, ns, name NULL).
     * Else may the request's user do verb ("get", "list", "watch",
     * "create", "update", "patch", "delete", "deletecollection") on r in
     * ns ("" = cluster scope) for name ("" = the collection)? 0 = yes;
     * else the hook answered req (401, or 403 in Kubernetes' words) and
     * returns non-zero. Server threads. */
    int (*auth)(void *ud, fl_request *req, const char *verb, const fl_apiserver_res *r,
                const char *ns, const char *name);
} fl_apiserver_hooks;

typedef struct fl_apiserver_opts {
    const char *name;            /* for logs */
    const char *token;           /* the bearer token that is admin ("" = none) */
    const char *prefix;          /* "" or a path prefix such as "/clusters/x" */
    bool anon_admin;             /* requests without credentials are admin */
    const char *server_addr;     /* host:port for /api's serverAddressByClientCIDRs */
    const char *fs_uid, *pl_uid; /* X-Kubernetes-Pf-* values (36 chars) */
    fl_kube_resources *reg;      /* borrowed */
    fl_apiserver_store *st;      /* borrowed */
    fl_apiserver_hooks hooks;
} fl_apiserver_opts;

/* New server over o's registry and store (every resource the registry
 * knows is registered with the store). 0, -EINVAL or -ENOMEM; *out only
 * on success. */
int fl_apiserver_new(const fl_apiserver_opts *o, fl_apiserver **out);
void fl_apiserver_free(fl_apiserver *a); /* accepts NULL */
/* Set where clients reach it (after the listener bound). */
void fl_apiserver_set_server_addr(fl_apiserver *a, const char *host_port);
/* The one HTTP entry point (an fl_server route handler; ud = fl_apiserver). */
void fl_apiserver_handle(fl_request *req, void *ud);
/* A fl_apiserver_table_fn rendering Table watch events with kube/table.h. */
int fl_apiserver_table_event(const fl_apiserver_res *r, const fl_apiserver_obj *o,
                             bool omit_columns, fl_buf *out);
/* Register everything a's registry knows with its store (after CRD changes). */
int fl_apiserver_sync_resources(fl_apiserver *a);
/* Store a new object as a create would (uid, creationTimestamp, defaults,
 * CRD registration) without HTTP: seeding and controllers. 0 or a code. */
int fl_apiserver_create_object(fl_apiserver *a, const fl_apiserver_res *r, json_t *obj,
                               const char *manager, bool dry_run, fl_apiserver_obj **out,
                               fl_err *err);
/* Validating webhooks: before op ("CREATE", "UPDATE", "DELETE") of obj
 * (NULL for DELETE) with old (the stored object for UPDATE and DELETE,
 * else NULL) on r: call every matching webhook. 0 = allowed (warnings
 * added to w->req when set), or FL_EFORBIDDEN with *deny the Status to
 * answer (new; its "code" member is the HTTP status). Blocking (up to
 * timeoutSeconds per webhook); any thread holding no store lock. */
typedef struct fl_apiserver_webhook_req {
    const json_t *user;    /* AdmissionReview userInfo; NULL = admin */
    const json_t *options; /* CreateOptions/UpdateOptions or NULL */
    bool dry;
    fl_request *req; /* for Warning headers; may be NULL */
} fl_apiserver_webhook_req;
int fl_apiserver_webhook_admit(fl_apiserver *a, const fl_apiserver_res *r, const char *op,
                               const json_t *obj, const json_t *old,
                               const fl_apiserver_webhook_req *w, json_t **deny);

/* Status replies with Kubernetes' wording. */
void fl_apiserver_reply_status(fl_request *req, int code, const char *reason, const char *msg,
                               const char *name, const char *group, const char *kind);
void fl_apiserver_reply_obj(fl_request *req, int code, const fl_apiserver_obj *o);
void fl_apiserver_reply_json(fl_request *req, int code, json_t *v);
/* "pods" or "deployments.apps" (for messages). */
void fl_apiserver_res_qualified(const fl_apiserver_res *r, char *out, size_t n);
/* Build the stored form of obj (borrowed) at rv: a new object, refs 1. */
fl_apiserver_obj *fl_apiserver_obj_build(const fl_apiserver_res *r, const json_t *obj, uint64_t rv);

/* Continue tokens: unpadded base64url of
 * {"v":"meta.k8s.io/v1","rv":RV,"start":"<key>\u0000"}; neg writes rv -1
 * (an inconsistent continuation). start is in store form (key + "\x01").
 * decode: 0, FL_EPARSE (err has the apiserver's 400 text) or -ENOMEM;
 * *start is malloc'd. Untrusted input: this is the one parser of it. */
int fl_apiserver_token_encode(uint64_t rv, bool neg, const char *start, fl_buf *out);
int fl_apiserver_token_decode(const char *tok, int64_t *rv, char **start, fl_err *err);
/* A application/vnd.kubernetes.protobuf request body of one of the kinds
 * kubectl's create generators send (Namespace, ConfigMap, Secret,
 * ServiceAccount, Service, Deployment) as JSON (*out new). 0, FL_EPARSE
 * (malformed), FL_EUNSUPPORTED (another kind: answer 415). */
int fl_apiserver_proto_decode(const char *data, size_t len, json_t **out, fl_err *err);

/* The Karmada/Flotilla CRDs of deploy/crds/ as YAML, NULL-terminated
 * (generated at build time). */
extern const char *const fl_apiserver_crds[];

#endif
