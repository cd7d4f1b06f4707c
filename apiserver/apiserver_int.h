/*
 * apiserver/apiserver_int.h: what the files of apiserver/ share and nobody
 * else includes.
 *
 *   reply.c     JSON/Status replies (the bottom: calls nothing here)
 *   obj.c       stored objects: build, render, parse
 *   durable.c   the SQLite file behind a durable store
 *   store.c     the object store: one mutex, one resourceVersion counter,
 *               a bounded event history, snapshots at an old
 *               resourceVersion, and watcher fan-out
 *   select.c    label and field selectors
 *   api.c       HTTP front: authentication, discovery, OpenAPI, list, get,
 *               watch, Tables, continue tokens; routes writes to write.c
 *   write.c     create, update, patch, delete, subresources, CRDs,
 *               validation, pruning, defaults
 *   webhook.c   validating-webhook calls (uses the store only)
 *   proto.c     the protobuf bodies kubectl's create generators send
 *   prune.c     custom resources' unknown fields (structural pruning)
 *
 * Layers: api.c -> write.c -> webhook.c -> store.c/select.c; the store is
 * the single write path.
 */
#ifndef FL_APISERVER_INT_H
#define FL_APISERVER_INT_H

#include <pthread.h>

#include "apiserver/apiserver.h"

/* Cached OpenAPI v3 documents, rebuilt when the registry's generation
 * changes. */
typedef struct fl_apiserver_openapi {
    uint64_t gen;  /* registry generation they were built for; 0 = none */
    json_t *index; /* /openapi/v3 body */
    json_t *docs;  /* "api/v1" -> {"hash": H, "body": compact JSON string} */
    json_t *v2;    /* /openapi/v2 body: compact JSON string */
    /* write.c's field validation: "group/version" -> parsed document, for
     * schemas_gen; read-only once stored (shared by reference). */
    uint64_t schemas_gen;
    json_t *schemas;
} fl_apiserver_openapi;

/* One served API. Immutable after fl_apiserver_new except server_addr
 * (set once before serving), what the store and registry (both internally
 * locked) and the openapi cache (mu) hold. */
struct fl_apiserver {
    char name[64];
    char token[65];
    char prefix[96]; /* "" or "/clusters/<name>" */
    /* Plain http on a loopback address: requests without credentials are
     * served as admin, as kube-apiserver's old insecure port did, because
     * kubectl never sends a kubeconfig's token to an http:// server. A
     * wrong token still gets 401. */
    bool anon_admin;
    fl_kube_resources *reg;
    fl_apiserver_store *st;
    char fs_uid[37], pl_uid[37]; /* X-Kubernetes-Pf-* values */
    char server_addr[64];        /* host:port for /api's serverAddressByClientCIDRs */
    pthread_mutex_t mu;
    fl_apiserver_openapi oa;
    fl_apiserver_hooks hooks;
};

/* durable.c: a store's SQLite file (see there). One caller at a time
 * (the store serializes them with its db lock). */
typedef struct fl_apiserver_db fl_apiserver_db;
/* Open or create path; a file that is not a healthy database is refused
 * with err naming the file and SQLite's error. 0 or FL_ESQL/-ENOMEM. */
int fl_apiserver_db_open(const char *path, size_t history, fl_apiserver_db **out, fl_err *err);
void fl_apiserver_db_close(fl_apiserver_db *d); /* accepts NULL */
uint64_t fl_apiserver_db_rv(const fl_apiserver_db *d);
/* Each stored object of group/resource in key order; fn's non-zero return
 * stops and is returned. */
typedef int (*fl_apiserver_db_row_fn)(void *ud, const char *key, uint64_t rv, const void *json,
                                      size_t len);
int fl_apiserver_db_load(fl_apiserver_db *d, const char *group, const char *resource,
                         fl_apiserver_db_row_fn fn, void *ud);
/* One change: the object's new row (deleted for DELETED) and its
 * change-log row. */
typedef struct fl_apiserver_db_change {
    uint64_t rv;
    fl_apiserver_ev_type type;
    const char *group, *resource, *key;
    const char *json; /* the new state (DELETED: the last one) */
    size_t len;
    const char *prev; /* the state before (NULL for ADDED) */
    size_t prev_len;
} fl_apiserver_db_change;
/* Acknowledged writes: the changes c[0..n) (rising rv), the history trim
 * and the last resourceVersion in one committed transaction (one fsync
 * for the group). 0, or FL_ESQL with nothing written: the log gets the
 * path, err the file's name, the failing step and SQLite's words
 * ("control.db: commit: database or disk is full"). */
int fl_apiserver_db_write(fl_apiserver_db *d, const fl_apiserver_db_change *c, size_t n,
                          fl_err *err);
/* The resourceVersion after which the change log is complete: watches
 * and lists from an older one answer 410. */
uint64_t fl_apiserver_db_floor(fl_apiserver_db *d);
/* Each change of group/resource after rv after, in rv order (c and its
 * strings valid during the call); fn's non-zero return stops and is
 * returned. */
typedef int (*fl_apiserver_db_change_fn)(void *ud, const fl_apiserver_db_change *c);
int fl_apiserver_db_load_changes(fl_apiserver_db *d, const char *group, const char *resource,
                                 uint64_t after, fl_apiserver_db_change_fn fn, void *ud);

/* write.c: writes, reached from fl_apiserver_handle. */
typedef struct fl_apiserver_path {
    const fl_apiserver_res *res;
    char ns[FL_KUBE_NAME_MAX + 1];
    char name[FL_KUBE_NAME_MAX + 1];
    char sub[32]; /* "", "status", "scale", "binding", "log", ... */
    bool watch;   /* legacy /api/v1/watch/... or /apis/<g>/<v>/watch/... */
} fl_apiserver_path;
void fl_apiserver_write_handle(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p);
/* write.c: register the CRDs a (durable) store already holds with the
 * registry, so their objects load and serve. 0 or a code. */
int fl_apiserver_load_stored_crds(fl_apiserver *c, fl_err *err);

/* prune.c: the members of a custom resource its CRD's structural schema
 * does not know, found (and with prune, removed) as kube-apiserver's
 * pruning and strict decoding find them; see there. */
#define FL_APISERVER_MAX_UNKNOWN 64 /* paths reported; the rest are cut */
typedef struct fl_apiserver_unknown {
    bool prune;                            /* also remove them (every fieldValidation but Strict) */
    char *paths[FL_APISERVER_MAX_UNKNOWN]; /* "spec.extra.known.bogus" */
    size_t n;
    bool more; /* more than FL_APISERVER_MAX_UNKNOWN */
} fl_apiserver_unknown;
/* Walk obj (a custom resource) against schema (its version's
 * openAPIV3Schema; NULL = none): the root's unknown metadata members, the
 * pruned paths (sorted), the embedded resources' unknown metadata members
 * (sorted), appended to u in that order. */
void fl_apiserver_prune_cr(const json_t *schema, json_t *obj, fl_apiserver_unknown *u);
void fl_apiserver_unknown_done(fl_apiserver_unknown *u); /* frees the paths */

/* reply.c: send the compact bytes b (re-encoded when the client wants
 * pretty JSON). */
void fl_apiserver_reply_bytes(fl_request *req, int code, fl_buf *b);

#endif
