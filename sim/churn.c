/*
 * sim/churn.c: pod churn for one virtual cluster (`--churn R`, `flotilla
 * sim ctl CLUSTER churn R`). A thread wakes every 20 ms (500 ms when idle)
 * and spends its budget of R events per second on creating, updating (a
 * label and the first container's restartCount) and deleting pods named
 * "<replicaset>-churn-<n>", round-robin over the cluster's namespaces,
 * through the store's write path, so watches see ADDED/MODIFIED/DELETED
 * events. Creates insert fleet.c's compact records (no JSON is built);
 * updates parse the pod, change it and store it (it becomes ordinary). It
 * keeps about half a second's worth of churn pods alive (at least 8).
 * Owns nothing but its thread and counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

#define TICK_MS 20
#define MAX_BURST 10000 /* events per tick, whatever the backlog */

/* Invariant: live churn pods are numbers [lo, hi); only the thread
 * touches lo/hi/op. */
struct sim_churn {
    sim_cluster *c;
    atomic_uint rate;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    pthread_t thr;
    uint64_t lo, hi, op;
    double budget;
};

/* Churn pod n: "<its ReplicaSet>-churn-<n>", a generated record (new). */
static int pod_rec(sim_churn *ch, const fl_apiserver_res *r, uint64_t n, fl_apiserver_obj **out)
{
    sim_cluster *c = ch->c;
    unsigned nns = c->namespaces ? c->namespaces : 1;
    unsigned k = (unsigned)(n % nns);
    unsigned per_ns = c->pods / nns;
    uint64_t id = per_ns ? (n / nns) % per_ns : n / nns;
    char sfx[32];
    snprintf(sfx, sizeof(sfx), "churn-%llu", (unsigned long long)n);
    return sim_fleet_pod_rec(c, r, k, id, sfx, n + 1, out);
}

static void pod_name(sim_churn *ch, const fl_apiserver_res *r, uint64_t n, char ns[64],
                     char name[200])
{
    fl_apiserver_obj *o = NULL;
    ns[0] = name[0] = 0;
    if (pod_rec(ch, r, n, &o) == 0) {
        fl_strlcpy(ns, o->ns, 64);
        fl_strlcpy(name, o->name, 200);
    }
    fl_apiserver_obj_unref(o);
}

static int do_create(sim_churn *ch, const fl_apiserver_res *r)
{
    fl_apiserver_obj *o = NULL;
    int rc = pod_rec(ch, r, ch->hi, &o);
    if (rc == 0)
        rc = fl_apiserver_store_create_rec(ch->c->st, r, o, NULL);
    ch->hi++;
    return rc;
}

static int do_update(sim_churn *ch, const fl_apiserver_res *r)
{
    char ns[64], name[200], gen[24];
    uint64_t n = ch->lo + ch->op % (ch->hi - ch->lo);
    fl_apiserver_obj *o = NULL;
    pod_name(ch, r, n, ns, name);
    int rc = fl_apiserver_store_get(ch->c->st, r, ns, name, &o);
    json_t *p = rc == 0 ? fl_apiserver_obj_parse(o) : NULL;
    if (rc == 0 && p) {
        snprintf(gen, sizeof(gen), "%llu", (unsigned long long)ch->op);
        json_object_set_new(fl_obj_ensure(p, "metadata.labels"), "churn-generation",
                            json_string(gen));
        json_t *cs = json_array_get(fl_obj_get(p, "status.containerStatuses"), 0);
        if (cs) /* a container restart, as kubelet reports it */
            json_object_set_new(
                cs, "restartCount",
                json_integer(json_integer_value(json_object_get(cs, "restartCount")) + 1));
        rc = fl_apiserver_store_update(ch->c->st, r, p, 0, NULL);
    }
    json_decref(p);
    fl_apiserver_obj_unref(o);
    return rc;
}

static int do_delete(sim_churn *ch, const fl_apiserver_res *r)
{
    char ns[64], name[200];
    pod_name(ch, r, ch->lo++, ns, name);
    return fl_apiserver_store_delete(ch->c->st, r, ns, name, 0, NULL, NULL);
}

/* One event: grow to the target first, then create/update/delete in turn. */
static void one_event(sim_churn *ch, const fl_apiserver_res *r, unsigned rate)
{
    uint64_t live = ch->hi - ch->lo, target = rate / 2 < 8 ? 8 : rate / 2;
    unsigned step = (unsigned)(ch->op++ % 3);
    if (live == 0 || (live < target && step != 1))
        do_create(ch, r);
    else if (step == 1)
        do_update(ch, r);
    else if (step == 2 || live > target)
        do_delete(ch, r);
    else
        do_create(ch, r);
}

static void *churn_main(void *arg)
{
    sim_churn *ch = arg;
    const fl_apiserver_res *r = fl_apiserver_store_find(ch->c->st, "", "v1", "pods");
    int64_t last = fl_mono_ms();
    unsigned prev = 0;
    pthread_mutex_lock(&ch->mu);
    while (!ch->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* idle: wake rarely; set() signals */
        ts.tv_nsec += (atomic_load(&ch->rate) ? TICK_MS : 500) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ch->cv, &ch->mu, &ts);
        if (ch->stop)
            break;
        pthread_mutex_unlock(&ch->mu);
        int64_t now = fl_mono_ms();
        unsigned rate = atomic_load(&ch->rate);
        ch->budget = rate && prev ? ch->budget + (double)rate * (double)(now - last) / 1000.0
                                  : 0; /* no burst for the time spent idle */
        prev = rate;
        last = now;
        for (unsigned i = 0; r && ch->budget >= 1 && i < MAX_BURST; i++, ch->budget -= 1)
            one_event(ch, r, rate);
        if (ch->budget > MAX_BURST)
            ch->budget = 0;
        pthread_mutex_lock(&ch->mu);
    }
    pthread_mutex_unlock(&ch->mu);
    return NULL;
}

int sim_churn_new(sim_cluster *c, unsigned rate, sim_churn **out)
{
    sim_churn *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return -ENOMEM;
    ch->c = c;
    atomic_init(&ch->rate, c->is_host ? 0 : rate);
    pthread_mutex_init(&ch->mu, NULL);
    pthread_cond_init(&ch->cv, NULL);
    if (pthread_create(&ch->thr, NULL, churn_main, ch) != 0) {
        pthread_cond_destroy(&ch->cv);
        pthread_mutex_destroy(&ch->mu);
        free(ch);
        return -EAGAIN;
    }
    *out = ch;
    return 0;
}

void sim_churn_set(sim_churn *ch, unsigned rate)
{
    if (!ch || ch->c->is_host)
        return;
    pthread_mutex_lock(&ch->mu);
    atomic_store(&ch->rate, rate);
    pthread_cond_signal(&ch->cv);
    pthread_mutex_unlock(&ch->mu);
}

unsigned sim_churn_rate(const sim_churn *ch)
{
    return ch ? atomic_load(&((sim_churn *)ch)->rate) : 0;
}

void sim_churn_free(sim_churn *ch)
{
    if (!ch)
        return;
    fl_thread_stop(ch->thr, &ch->mu, &ch->cv, &ch->stop);
    pthread_cond_destroy(&ch->cv);
    pthread_mutex_destroy(&ch->mu);
    free(ch);
}
