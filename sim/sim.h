/*
 * sim: N virtual Kubernetes API servers in one process (`flotilla sim`),
 * faithful enough that kubectl and client-go reflectors cannot tell them
 * from kube-apiserver v1.26 (recordings in tests/golden). Each virtual
 * cluster has its own listener (one port each, or one shared port with a
 * /clusters/<name> path prefix), bearer token, resource registry and object
 * store. It builds on kube/ (JSON, registry, discovery, OpenAPI, tables,
 * patches, certificates) and server/ (HTTP).
 *
 * Threads: fl_sim_new/start/free from one thread (the command's main);
 * the getters from any thread once started. HTTP handlers run on server
 * threads; each cluster's store has its own lock and ticker thread.
 */
#ifndef FL_SIM_H
#define FL_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef struct fl_sim fl_sim;

typedef struct fl_sim_opts {
    unsigned clusters;          /* member clusters (1..1000) */
    uint64_t seed;              /* names, uids and tokens derive from it */
    const char *listen;         /* "127.0.0.1:PORT": first port; 0 = free ports */
    bool tls;                   /* https with a CA written to kubeconfig_dir/ca.crt */
    bool host;                  /* add a "host" cluster with Karmada/Flotilla CRDs */
    bool path_prefix;           /* one port, clusters under /clusters/<name> */
    const char *kubeconfig_dir; /* DIR/<name>.kubeconfig (required) */
    unsigned nodes;             /* nodes per member cluster (default 3) */
    size_t history;             /* events kept per cluster (default 10000) */
    unsigned bookmark_s;        /* watch bookmark period (default 60) */
    unsigned threads;           /* HTTP threads per listener (default 2) */
    unsigned pods;              /* generated pods per member cluster (default 0) */
    unsigned namespaces;        /* generated namespaces per member (default 0: "default") */
    unsigned churn;             /* pod events per second per member (default 0) */
    bool controllers;           /* members run controllers, scheduler, kubelet, GC
                                 * (default on; never in the host cluster) */
    bool strict_auth;           /* plain http on loopback: anonymous requests get
                                 * 403 as from a real apiserver, instead of being
                                 * served as admin (see sim_cluster.anon_admin) */
} fl_sim_opts;
#define FL_SIM_OPTS_INIT                                                                           \
    {                                                                                              \
        .clusters = 1, .seed = 1, .listen = "127.0.0.1:0", .nodes = 3, .history = 10000,           \
        .bookmark_s = 60, .threads = 2, .controllers = true                                        \
    }

/* Build the fleet (stores seeded with namespaces and nodes, certificates
 * when tls) and write the kubeconfigs. Not yet listening. Returns 0,
 * -EINVAL (bad options; err says which), -ENOMEM, or the failing I/O
 * code. *out written only on success. */
int fl_sim_new(const fl_sim_opts *opts, fl_sim **out, fl_err *err);

/* Start every listener. Kubeconfigs name the bound ports, so they are
 * (re)written here. 0 or a negative code. */
int fl_sim_start(fl_sim *sim, fl_err *err);

/* Write a flotilla.yaml for the daemon pointing at this fleet, and
 * tokens.csv beside it with one admin token (returned in token[65]).
 * Call after fl_sim_start. 0 or a negative code. */
int fl_sim_write_config(const fl_sim *sim, const char *path, char token[65], fl_err *err);

/* Clusters, in order (members, then "host" when enabled). Strings are
 * borrowed and valid until fl_sim_free. */
size_t fl_sim_cluster_count(const fl_sim *sim);
const char *fl_sim_cluster_name(const fl_sim *sim, size_t i);
const char *fl_sim_cluster_url(const fl_sim *sim, size_t i);

/* The control endpoint's base URL ("http://127.0.0.1:PORT") and admin
 * token, also written to kubeconfig_dir/sim-control.json. After start. */
const char *fl_sim_control_url(const fl_sim *sim);

/* `flotilla sim ctl ...` (argv[0] = "ctl"): the control endpoint's client.
 * Returns the process exit code. Main thread. */
int fl_sim_ctl_main(int argc, char **argv);

/* Stop listeners, end watches, free everything. Accepts NULL. */
void fl_sim_free(fl_sim *sim);

#endif
