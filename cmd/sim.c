/*
 * cmd/sim.c: `flotilla sim` — run N virtual Kubernetes API servers (sim/)
 * until SIGINT or SIGTERM. Signals are blocked before any thread starts and
 * taken with sigwait() on the main thread, so shutdown runs in order.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cmd/cmd.h"
#include "sim/sim.h"

static void sim_usage(FILE *f)
{
    fprintf(
        f,
        "Usage: flotilla sim --clusters N --kubeconfig-dir DIR [options]\n\n"
        "Serve N virtual Kubernetes clusters (kube-apiserver v1.26 API) on loopback.\n\n"
        "  --clusters N          member clusters: east-1, east-2, west-1, west-2, central-1, ...\n"
        "  --kubeconfig-dir DIR  write DIR/<name>.kubeconfig (and DIR/ca.crt with --tls)\n"
        "  --listen HOST:PORT    first port; cluster i gets PORT+i (default 127.0.0.1:0 = free "
        "ports)\n"
        "  --prefix              one port for all, clusters under /clusters/<name>\n"
        "  --tls                 serve https with a generated CA and require the token\n"
        "                        (without it, on loopback, requests with no token are served\n"
        "                        as admin like the old insecure port, since kubectl sends no\n"
        "                        credentials to http:// servers; a wrong token is still 401)\n"
        "  --strict-auth         plain http too: no token = system:anonymous (403)\n"
        "  --host                add a \"host\" cluster with the Karmada/Flotilla CRDs\n"
        "  --no-controllers      members run no controllers, scheduler, kubelet or GC\n"
        "                        (default: they do, like busy clusters; the host never does)\n"
        "  --write-config FILE   write a flotilla.yaml for this fleet and tokens.csv beside it\n"
        "  --seed S              seed for generated names (default 1)\n"
        "  --nodes N             nodes per member cluster (default 3)\n"
        "  --pods N              generated pods per member (Deployments and ReplicaSets\n"
        "                        own them; bound to nodes, Running; same seed, same objects)\n"
        "  --namespaces N        spread them over N generated namespaces (default: default)\n"
        "  --churn R             R pod create/update/delete events per second per member\n"
        "                        (change while running: flotilla sim ctl CLUSTER churn R)\n"
        "  flotilla sim ctl ...  switch faults of a running sim (see flotilla sim ctl --help;\n"
        "                        its URL and token are in DIR/sim-control.json)\n"
        "  --history N           watch/list history window in events per cluster (default 10000)\n"
        "  --bookmark-interval S watch bookmark period in seconds (default 60)\n"
        "  -h, --help            this text\n");
}

static int num_arg(const char *name, const char *v, uint64_t max, uint64_t *out)
{
    if (!v || fl_parse_u64(v, strlen(v), out) != 0 || *out > max) {
        fprintf(stderr, "flotilla sim: %s wants a number up to %llu\n", name,
                (unsigned long long)max);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, fl_sim_opts *o, const char **config)
{
    uint64_t v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (!strcmp(a, "--clusters") && num_arg(a, next, 1000, &v) == 0)
            o->clusters = (unsigned)v;
        else if (!strcmp(a, "--seed") && num_arg(a, next, UINT64_MAX, &v) == 0)
            o->seed = v;
        else if (!strcmp(a, "--nodes") && num_arg(a, next, 5000, &v) == 0)
            o->nodes = (unsigned)v;
        else if (!strcmp(a, "--pods") && num_arg(a, next, 1000000, &v) == 0)
            o->pods = (unsigned)v;
        else if (!strcmp(a, "--namespaces") && num_arg(a, next, 100000, &v) == 0)
            o->namespaces = (unsigned)v;
        else if (!strcmp(a, "--churn") && num_arg(a, next, 100000, &v) == 0)
            o->churn = (unsigned)v;
        else if (!strcmp(a, "--history") && num_arg(a, next, 10000000, &v) == 0 && v > 0)
            o->history = (size_t)v;
        else if (!strcmp(a, "--bookmark-interval") && num_arg(a, next, 3600, &v) == 0 && v > 0)
            o->bookmark_s = (unsigned)v;
        else if (!strcmp(a, "--listen") && next)
            o->listen = next;
        else if (!strcmp(a, "--kubeconfig-dir") && next)
            o->kubeconfig_dir = next;
        else if (!strcmp(a, "--write-config") && next)
            *config = next;
        else if ((takes = false), !strcmp(a, "--tls"))
            o->tls = true;
        else if (!strcmp(a, "--host"))
            o->host = true;
        else if (!strcmp(a, "--no-controllers"))
            o->controllers = false;
        else if (!strcmp(a, "--strict-auth"))
            o->strict_auth = true;
        else if (!strcmp(a, "--prefix"))
            o->path_prefix = true;
        else {
            fprintf(stderr, "flotilla sim: bad or incomplete option \"%s\"\n", a);
            return -1;
        }
        i += takes;
    }
    return 0;
}

int cmd_sim(int argc, char **argv)
{
    fl_sim_opts o = FL_SIM_OPTS_INIT;
    const char *config = NULL;
    fl_sim *sim = NULL;
    fl_err err = FL_ERR_INIT;
    sigset_t set;
    int sig = 0, rc = 1;
    if (argc > 1 && !strcmp(argv[1], "ctl"))
        return fl_sim_ctl_main(argc - 1, argv + 1);
    if (cmd_wants_help(argc, argv)) {
        sim_usage(stdout);
        return 0;
    }
    if (parse_args(argc, argv, &o, &config) != 0) {
        sim_usage(stderr);
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (fl_sim_new(&o, &sim, &err) != 0 || fl_sim_start(sim, &err) != 0) {
        fprintf(stderr, "flotilla sim: %s\n", err.msg);
        goto out;
    }
    for (size_t i = 0; i < fl_sim_cluster_count(sim); i++)
        printf("cluster %-12s %s  kubeconfig=%s/%s.kubeconfig\n", fl_sim_cluster_name(sim, i),
               fl_sim_cluster_url(sim, i), o.kubeconfig_dir, fl_sim_cluster_name(sim, i));
    printf("control %s  (token in %s/sim-control.json)\n", fl_sim_control_url(sim),
           o.kubeconfig_dir);
    if (config) {
        char token[65];
        if (fl_sim_write_config(sim, config, token, &err) != 0) {
            fprintf(stderr, "flotilla sim: %s\n", err.msg);
            goto out;
        }
        printf("config %s written; admin token for flotilla's API: %s\n", config, token);
    }
    printf("ready\n");
    fflush(stdout);
    sigwait(&set, &sig);
    fl_log(FL_LOG_INFO, "sim", "signal %d: shutting down", sig);
    rc = 0;
out:
    fl_sim_free(sim);
    return rc;
}
