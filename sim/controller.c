/*
 * sim/controller.c: the control plane of a member cluster, on one thread
 * the cluster owns (sim_ctrl). Each tick (every 200 ms, when the store's
 * resourceVersion moved) it takes a snapshot of pods and nodes and runs:
 * Deployments -> ReplicaSets (pod-template-hash, new RS scaled up, old
 * ones down once the new one is available), ReplicaSets -> Pods,
 * StatefulSets -> ordinal Pods (OrderedReady), DaemonSets -> a Pod per
 * matching Node, Jobs -> Pods that succeed; the scheduler (sched.c); a
 * kubelet stand-in (bound Pods become Running and Ready one tick later,
 * Job pods Succeeded the tick after, terminating bound Pods go away); and
 * the garbage collector (gc.c). Workload status is recomputed every tick
 * and written only when it changed. Every write goes through the store,
 * so watches see each change. Never touches the host cluster.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

#define TICK_MS 200
#define BURST 64          /* pods created or deleted per workload per tick */
#define MANAGER "kube-controller-manager"

struct sim_ctrl {
    sim_cluster *c;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    uint64_t seq;         /* event / pod name counter */
};

/* --------------------------------------------------------------- helpers */

static void now_str(char out[32])
{
    fl_time_format(fl_now_ms() / 1000, out);
}

static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";

static void rand_suffix(char *out, size_t n)
{
    unsigned char r[16];
    n = n > sizeof(r) ? sizeof(r) : n;
    fl_random_bytes(r, n);
    for (size_t i = 0; i < n; i++)
        out[i] = alnum[r[i] % (sizeof(alnum) - 1)];
    out[n] = 0;
}

static int64_t int_at(const json_t *o, const char *path, int64_t dflt)
{
    json_t *v = fl_obj_get(o, path);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static const res_t_unused_guard_ = 0;
