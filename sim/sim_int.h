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
 * An immutable stored object, shared by reference between the table, the
 * history and readers. Two forms:
 *   ordinary:  compact JSON plus the fields lists filter on, in one
 *              allocation (json != NULL);
 *   generated: a compact record of a fleet.c object never written since
 *              (json == NULL, gen != NULL): the filter fields plus a shared
 *              recipe; its JSON is rendered on demand, byte-identical to
 *              what the ordinary form would hold. A write makes a new,
 *              ordinary object.
 * Read the JSON only through sim_obj_write/sim_obj_json/sim_obj_parse. */
typedef struct sim_gen sim_gen;   /* fleet.c: a generated workload's recipe */

typedef struct sim_obj {
    atomic_int refs;
    uint8_t gen_kind;    /* generated: SIM_GEN_POD, ... (fleet.c); else 0 */
    uint64_t rv;
    const sim_res *res;
    const char *key;     /* "ns/name" or "name": etcd key order */
    const char *ns;      /* "" when cluster-scoped */
    const char *name;
    const char *labels;  /* "k\0v\0k\0v\0\0" */
    const char *node;    /* spec.nodeName or "" */
    const char *phase;   /* status.phase or "" */
    const char *json;    /* ordinary: compact JSON, starts {"kind":..,"apiVersion":..,
                          * generated: NULL */
    size_t len;
    size_t hdr;          /* bytes of "\"kind\":..,\"apiVersion\":..," after '{' */
    sim_gen *gen;        /* generated: the recipe (one reference); else NULL */
    uint64_t gen_id;     /* generated pods: the pod number in its namespace */
} sim_obj;

void sim_obj_ref(sim_obj *o);
void sim_obj_unref(sim_obj *o);
/* Append o's JSON to out: the whole object, or (item) as an item of a
 * list of a built-in kind — without kind and apiVersion, as kube-apiserver
 * writes them (objects without that header are written whole). Generated
 * objects are rendered. 0, -ENOMEM or -E2BIG (out's cap). Any thread. */
int sim_obj_write(const sim_obj *o, bool item, fl_buf *out);
/* o's whole JSON: the stored string (borrowed from o), or rendered into
 * scratch (reset first; valid until scratch changes). NULL on ENOMEM.
 * *len gets the byte count. Any thread. */
const char *sim_obj_json(const sim_obj *o, fl_buf *scratch, size_t *len);
/* True when o's JSON contains needle (a quick test, e.g. for a member). */
bool sim_obj_contains(const sim_obj *o, const char *needle);
/* Parse o's JSON (new reference) or NULL on ENOMEM. */
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
/* Create from a generated record o (fleet.c; not yet shared): the store
 * sets its resourceVersion and takes over the caller's reference, also on
 * failure. Codes and *out as sim_store_create. */
int sim_store_create_rec(sim_store *st, const sim_res *r, sim_obj *o, sim_obj **out);
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
    /* write.c's field validation: "group/version" -> parsed document, for
     * schemas_gen; read-only once stored (shared by reference). */
    uint64_t schemas_gen;
    json_t *schemas;
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
    /* Plain http on a loopback address (and not --strict-auth): requests
     * without credentials are served as admin, as kube-apiserver's old
     * insecure port did, because kubectl never sends a kubeconfig's token
     * to an http:// server (client-go clientcmd reads auth info only when
     * the transport is TLS). A wrong token still gets 401. */
    bool anon_admin;
    fl_kube_resources *reg;
    sim_store *st;
    fl_server *srv;        /* own listener, or NULL when sharing one */
    char fs_uid[37], pl_uid[37];   /* X-Kubernetes-Pf-* values */
    char server_addr[64];  /* host:port for /api's serverAddressByClientCIDRs */
    pthread_mutex_t mu;
    sim_openapi oa;
    uint64_t seed;         /* per-cluster deterministic name suffixes */
    /* part 2 (fault.c, fleet.c): fault state (owned), fleet shape, and
     * what sim_cluster_listen needs to rebuild the listener. */
    struct sim_fault *fault;
    unsigned nodes, pods, namespaces, churn;
    struct fl_sim *sim;
    struct sim_ctrl *ctrl; /* controller thread (members, --controllers) */
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
    bool watch;            /* legacy /api/v1/watch/... or /apis/<g>/<v>/watch/... */
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

/* api.c: continue tokens (behaviour 7): unpadded base64url of
 * {"v":"meta.k8s.io/v1","rv":RV,"start":"<key>\u0000"}; neg writes rv -1
 * (an inconsistent continuation). start is in store form (key + "\x01").
 * decode: 0, FL_EPARSE (err has the apiserver's 400 text) or -ENOMEM;
 * *start is malloc'd. Untrusted input: this is the one parser of it. */
int sim_token_encode(uint64_t rv, bool neg, const char *start, fl_buf *out);
int sim_token_decode(const char *tok, int64_t *rv, char **start, fl_err *err);

/* proto.c: a application/vnd.kubernetes.protobuf request body of one of
 * the kinds kubectl's create generators send (Namespace, ConfigMap,
 * Secret, ServiceAccount, Service, Deployment) as JSON (*out new). 0,
 * FL_EPARSE (malformed), FL_EUNSUPPORTED (another kind: answer 415). */
int sim_proto_decode(const char *data, size_t len, json_t **out, fl_err *err);

/* ------------------------------------------- faults, churn, fleets (part 2)
 * fault.c: per-cluster fault injection, switched by ctl.c's control
 * endpoint (semantics: `flotilla sim ctl --help`). All functions are safe
 * from any thread; the state is atomics plus one mutex per cluster. */
typedef struct sim_fault sim_fault;
typedef struct sim_churn sim_churn;
int sim_fault_new(sim_cluster *c, sim_fault **out);
/* Ends churn and answers parked (hung) requests: call before the store is
 * freed. sim_fault_free after it (watches deregister as the store ends
 * them). Both accept NULL. */
void sim_fault_stop(sim_fault *f);
void sim_fault_free(sim_fault *f);
/* First thing sim_api_handle does: true when a fault answered or parked
 * req (the caller must not touch it again). May sleep (slow). */
bool sim_fault_intercept(sim_cluster *c, fl_request *req);
/* force-410: consume the pending 410 for the next list (watch=false) or
 * watch (watch=true). */
bool sim_fault_take_410(sim_cluster *c, bool watch);
/* Open watches, for drop-watches / force-410: register after the watch
 * started and before its stream may close; deregister before closing s. */
void sim_fault_watch_add(sim_cluster *c, sim_watch *w, fl_stream *s);
void sim_fault_watch_del(sim_cluster *c, sim_watch *w);
/* Write an event line to s, garbled when garble-watch is on. */
int sim_fault_watch_write(sim_cluster *c, fl_stream *s, const char *data, size_t len);
/* Apply fault name with arg ("" when none) to c. 0, -EINVAL (unknown fault
 * or bad arg; err says why), or what relisten returned. */
int sim_fault_apply(sim_cluster *c, const char *name, const char *arg, fl_err *err);
/* The cluster's fault state as JSON (new reference). */
json_t *sim_fault_state(sim_cluster *c);

/* churn.c: a thread per cluster making rate pod create/update/delete
 * events per second through the store. rate 0 = idle (thread sleeps). */
int sim_churn_new(sim_cluster *c, unsigned rate, sim_churn **out);
void sim_churn_set(sim_churn *ch, unsigned rate);
unsigned sim_churn_rate(const sim_churn *ch);
void sim_churn_free(sim_churn *ch);   /* joins the thread; accepts NULL */

/* fleet.c: deterministic generated objects (same seed, same JSON). Pods,
 * Deployments and ReplicaSets are stored as compact records (sim_obj's
 * generated form) sharing one recipe per workload. */
void sim_fleet_ns_name(unsigned k, char *out, size_t n);
/* A realistic Pod (new reference) in namespace index ns of nns, number id. */
json_t *sim_fleet_pod(const sim_cluster *c, unsigned ns, uint64_t id, const char *name);
/* The same pod as a generated record (new, for sim_store_create_rec),
 * named its generateName + suffix (NULL: the seeded name). 0 or -ENOMEM. */
int sim_fleet_pod_rec(const sim_cluster *c, const sim_res *r, unsigned ns, uint64_t id,
                      const char *suffix, uint64_t serial, sim_obj **out);
/* serial (churn's pod number + 1; 0 = a seeded pod) makes the pod one
 * created now: creationTimestamp and startTime now, an IP of its own. */

/* The nodes' shape of a cluster (all alike): see fleet.c. */
typedef struct sim_node_shape {
    unsigned cores, mem_gi, alloc_cpu_m, alloc_mem_gi, pods;
} sim_node_shape;
void sim_fleet_node_shape(const sim_cluster *c, sim_node_shape *out);
/* A new copy of generated record o (same recipe and fields; rv 0, not
 * yet shared) or NULL on ENOMEM: a deleted record's last state. */
sim_obj *sim_fleet_rec_copy(const sim_obj *o);
/* Render generated object o (see sim_obj_write). 0, -ENOMEM or -E2BIG. */
int sim_fleet_render(const sim_obj *o, bool item, fl_buf *out);
/* Drop a reference to a recipe (store.c, when a record is freed). */
void sim_gen_unref(sim_gen *g);
/* Seed c with namespaces, Deployments, ReplicaSets and pods. 0 or a code. */
int sim_fleet_seed(sim_cluster *c, fl_err *err);
/* sim_fleet_seed for every member of c[0..n), one thread per CPU. */
int sim_fleet_seed_all(sim_cluster **c, size_t n, fl_err *err);

/* ctl.c: the control endpoint (a loopback listener on host, port 0) over
 * clusters c[0..n) (borrowed; must outlive it); writes
 * dir/sim-control.json. sim_ctl_free stops it first. */
typedef struct sim_ctl sim_ctl;
int sim_ctl_new(sim_cluster **c, size_t n, const char *host, const char *dir, sim_ctl **out,
                fl_err *err);
const char *sim_ctl_url(const sim_ctl *x);
const char *sim_ctl_token(const sim_ctl *x);
void sim_ctl_free(sim_ctl *x);

/* sim.c: cluster i of the fleet (borrowed) or NULL; for benchmarks. */
sim_cluster *sim_cluster_at(fl_sim *s, size_t i);

/* sim.c: bring a cluster's own listener down (connection refused) or back
 * up on the same port. -EOPNOTSUPP in --prefix mode (shared port). */
int sim_cluster_listen(sim_cluster *c, bool up, fl_err *err);

/* ---------------------------------------------------------- controllers
 * controller.c: one thread per member cluster (started by sim.c when
 * fl_sim_opts.controllers) running the workload controllers, the
 * scheduler (sched.c), a kubelet stand-in and garbage collection (gc.c)
 * each tick, all writing through the store. */
typedef struct sim_ctrl sim_ctrl;
/* Start c's controller thread. 0 or a negative code; *out on success. */
int sim_ctrl_start(sim_cluster *c, sim_ctrl **out);
/* Stop and join (before the store is freed). Accepts NULL. */
void sim_ctrl_stop(sim_ctrl *k);
/* GET pods/log of bound pod o (HTTP thread): deterministic fake lines,
 * tailLines, container (400 when not valid), follow (a line a second on
 * the controller thread until the client leaves). Answers req. */
void sim_ctrl_log(sim_ctrl *k, fl_request *req, const sim_obj *o);

/* What a tick knows of each pod without keeping it parsed. */
typedef struct sim_podinfo {
    char ctrl_uid[40];    /* controller ownerReference's uid or "" */
    char ctrl_kind[16];   /* its kind or "" */
    bool ok;              /* parsed */
    bool deleting, active, ready, restart_always;
    bool has_refs;        /* any ownerReferences */
} sim_podinfo;

/* One tick's snapshot (controller thread only). */
typedef struct sim_tick {
    sim_cluster *c;
    const sim_res *pods_r, *nodes_r, *events_r;
    sim_list pods, nodes;        /* at the tick's start */
    const sim_podinfo *pi;       /* one per pods.items, or NULL */
} sim_tick;
/* sched.c: bind pending pods of t->pods to nodes or mark them Unschedulable. */
void sim_sched_run(sim_tick *t);
/* sched.c: node passes pod spec's nodeSelector, taints and cordon. */
bool sim_sched_fits_node(const json_t *podspec, const json_t *node);
/* A quantity (string or integer JSON) in milli-units; 0 when absent or invalid. */
int64_t sim_milli_of(const json_t *v);
/* quota.c: ResourceQuota. admit: may obj (of r, to be created in ns) be
 * created? 0, FL_EFORBIDDEN with err "exceeded quota: NAME, requested:
 * ..., used: ..., limited: ..." (the text after `pods "x" is forbidden: `),
 * or -ENOMEM. Any thread. run: keep status.hard/used true (tick). */
int sim_quota_admit(sim_cluster *c, const sim_res *r, const json_t *obj, const char *ns,
                    fl_err *err);
void sim_quota_run(sim_tick *t);
/* webhook.c: ValidatingWebhookConfigurations. Before op ("CREATE",
 * "UPDATE", "DELETE") of obj (NULL for DELETE) with old (the stored
 * object for UPDATE and DELETE, else NULL) on r: call every
 * matching webhook. 0 = allowed (warnings added to w->req when set), or
 * FL_EFORBIDDEN with *deny the Status to answer (new; its "code" member is
 * the HTTP status). Blocking (up to timeoutSeconds per webhook); any thread
 * holding no store lock. */
typedef struct sim_webhook_req {
    const json_t *user;      /* AdmissionReview userInfo; NULL = admin */
    const json_t *options;   /* CreateOptions/UpdateOptions or NULL */
    bool dry;
    fl_request *req;         /* for Warning headers; may be NULL */
} sim_webhook_req;
int sim_webhook_admit(sim_cluster *c, const sim_res *r, const char *op, const json_t *obj,
                      const json_t *old, const sim_webhook_req *w, json_t **deny);
/* controller.c: a pod churn.c made ("<rs>-churn-<n>"): the ReplicaSet
 * controller does not count it and GC leaves its references alone, so
 * churn and controllers do not fight over it. */
bool sim_ctrl_churn_pod(const sim_obj *o);
/* gc.c: ownerReferences — orphans, foreground and orphan finalizers. */
void sim_gc_run(sim_tick *t);
/* controller.c helpers for sched.c and gc.c. Record an Event about obj
 * (of the given kind) from component. */
void sim_ctrl_event(sim_tick *t, const json_t *obj, const char *kind, const char *type,
                    const char *reason, const char *msg, const char *component);
/* Store obj (a modified parse of o) as o's new state; deletes it when it
 * is terminating without finalizers. 0 or the store's code. */
int sim_ctrl_put(sim_tick *t, const sim_res *r, const sim_obj *o, json_t *obj);

/* ------------------------------------------------------------- helpers */
/* Base64url without padding. */
int sim_b64url_encode(const void *p, size_t n, fl_buf *out);
int sim_b64url_decode(const char *s, fl_buf *out);
/* Build the object store entry for obj. */
sim_obj *sim_obj_build(const sim_res *r, const json_t *obj, uint64_t rv);

#endif
