/*
 * sim/sim_int.h: what the files of sim/ share and nobody else includes.
 *
 *   sim.c         fleet construction, seeding, kubeconfigs, config files
 *   fleet.c       generated objects (records rendered on demand)
 *   fault.c/ctl.c fault injection and its control endpoint
 *   churn.c       pod churn
 *   controller.c, sched.c, gc.c, quota.c  the member controllers
 *
 * Each virtual cluster is an apiserver/ server (store, HTTP API) plus what
 * this folder adds through its hooks (faults, ResourceQuota admission, the
 * kubelet's logs). Everything writes through the apiserver's store.
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
#include "apiserver/apiserver.h"
#include "sim/sim.h"

/* -------------------------------------------------------------- clusters */
/* One virtual cluster. Immutable after fl_sim_new except what its store,
 * registry and server (all internally locked) hold. */
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
    fl_apiserver_store *st;
    fl_apiserver *api;     /* the generic server over reg and st (owned) */
    fl_server *srv;        /* own listener, or NULL when sharing one */
    int hold_fd;           /* while down: a bound, not listening socket keeping the port, or -1 */
    char fs_uid[37], pl_uid[37];   /* X-Kubernetes-Pf-* values */
    char server_addr[64];  /* host:port for /api's serverAddressByClientCIDRs */
    uint64_t seed;         /* per-cluster deterministic name suffixes */
    /* part 2 (fault.c, fleet.c): fault state (owned), fleet shape, and
     * what sim_cluster_listen needs to rebuild the listener. */
    struct sim_fault *fault;
    unsigned nodes, pods, namespaces, churn;
    struct fl_sim *sim;
    struct sim_ctrl *ctrl; /* controller thread (members, --controllers) */
} sim_cluster;

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
/* First thing fl_apiserver_handle does: true when a fault answered or parked
 * req (the caller must not touch it again). May sleep (slow). */
bool sim_fault_intercept(sim_cluster *c, fl_request *req);
/* force-410: consume the pending 410 for the next list (watch=false) or
 * watch (watch=true). */
bool sim_fault_take_410(sim_cluster *c, bool watch);
/* Open watches, for drop-watches / force-410: register after the watch
 * started and before its stream may close; deregister before closing s. */
void sim_fault_watch_add(sim_cluster *c, fl_apiserver_watch *w, fl_stream *s);
void sim_fault_watch_del(sim_cluster *c, fl_apiserver_watch *w);
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

typedef struct sim_gen sim_gen;   /* fleet.c: a generated workload's recipe */

/* fleet.c: deterministic generated objects (same seed, same JSON). Pods,
 * Deployments and ReplicaSets are stored as compact records (fl_apiserver_obj's
 * generated form) sharing one recipe per workload. */
void sim_fleet_ns_name(unsigned k, char *out, size_t n);
/* A realistic Pod (new reference) in namespace index ns of nns, number id. */
json_t *sim_fleet_pod(const sim_cluster *c, unsigned ns, uint64_t id, const char *name);
/* The same pod as a generated record (new, for fl_apiserver_store_create_rec),
 * named its generateName + suffix (NULL: the seeded name). 0 or -ENOMEM. */
int sim_fleet_pod_rec(const sim_cluster *c, const fl_apiserver_res *r, unsigned ns, uint64_t id,
                      const char *suffix, uint64_t serial, fl_apiserver_obj **out);
/* serial (churn's pod number + 1; 0 = a seeded pod) makes the pod one
 * created now: creationTimestamp and startTime now, an IP of its own. */

/* The nodes' shape of a cluster (all alike): see fleet.c. */
typedef struct sim_node_shape {
    unsigned cores, mem_gi, alloc_cpu_m, alloc_mem_gi, pods;
} sim_node_shape;
void sim_fleet_node_shape(const sim_cluster *c, sim_node_shape *out);
/* A new copy of generated record o (same recipe and fields; rv 0, not
 * yet shared) or NULL on ENOMEM: a deleted record's last state. */
fl_apiserver_obj *sim_fleet_rec_copy(const fl_apiserver_obj *o);
/* Render generated object o (see fl_apiserver_obj_write). 0, -ENOMEM or -E2BIG. */
int sim_fleet_render(const fl_apiserver_obj *o, bool item, fl_buf *out);
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
void sim_ctrl_log(sim_ctrl *k, fl_request *req, const fl_apiserver_obj *o);

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
    const fl_apiserver_res *pods_r, *nodes_r, *events_r;
    fl_apiserver_list pods, nodes;        /* at the tick's start */
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
int sim_quota_admit(sim_cluster *c, const fl_apiserver_res *r, const json_t *obj, const char *ns,
                    fl_err *err);
void sim_quota_run(sim_tick *t);
/* controller.c: a pod churn.c made ("<rs>-churn-<n>"): the ReplicaSet
 * controller does not count it and GC leaves its references alone, so
 * churn and controllers do not fight over it. */
bool sim_ctrl_churn_pod(const fl_apiserver_obj *o);
/* gc.c: ownerReferences — orphans, foreground and orphan finalizers. */
void sim_gc_run(sim_tick *t);
/* controller.c helpers for sched.c and gc.c. Record an Event about obj
 * (of the given kind) from component. */
void sim_ctrl_event(sim_tick *t, const json_t *obj, const char *kind, const char *type,
                    const char *reason, const char *msg, const char *component);
/* Store obj (a modified parse of o) as o's new state; deletes it when it
 * is terminating without finalizers. 0 or the store's code. */
int sim_ctrl_put(sim_tick *t, const fl_apiserver_res *r, const fl_apiserver_obj *o, json_t *obj);

#endif
