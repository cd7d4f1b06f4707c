/*
 * sim/sched.c: the default-scheduler stand-in of a member cluster, run on
 * the controller thread each tick (sim_sched_run). Pending unbound pods of
 * schedulerName default-scheduler are filtered as kube-scheduler v1.26's
 * plugins do, in its order — NodeUnschedulable, TaintToleration
 * (NoSchedule/NoExecute), NodeAffinity (nodeSelector), NodeResourcesFit
 * (every requested resource: cpu, memory, pods, extended ones such as
 * nvidia.com/gpu against allocatable minus the requests of pods already
 * there) — and bound to the least allocated fitting node (ties: name
 * order), or get PodScheduled=False reason Unschedulable with kube's
 * "0/N nodes are available: ..." message and a FailedScheduling event
 * (written only when the message changes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

#define MAX_REASONS 16

typedef struct node {
    const fl_apiserver_obj *o;
    json_t *j;
    json_t *free;           /* resource -> milli-units left (integers) */
    json_t *alloc;          /* resource -> milli-units allocatable */
    int64_t cpu_nz, mem_nz; /* scoring usage: unset requests count as 100m / 200MB */
} node;

int64_t sim_milli_of(const json_t *v)
{
    fl_quantity q;
    int64_t m = 0;
    if (json_is_integer(v))
        return json_integer_value(v) * 1000;
    const char *s = json_string_value(v);
    if (!s || fl_quantity_parse(s, strlen(s), &q, NULL) != 0 ||
        fl_quantity_milli_value(&q, &m) != 0)
        return 0;
    return m;
}

static void add_to(json_t *acc, const char *k, int64_t v)
{
    json_t *cur = json_object_get(acc, k);
    json_object_set_new(acc, k, json_integer((cur ? json_integer_value(cur) : 0) + v));
}

/* Effective requests of a pod spec in milli-units (new object), with
 * "pods": 1. Limits stand in for missing requests, as the API defaults. */
static json_t *pod_requests(const json_t *spec)
{
    json_t *acc = json_object(), *ct;
    size_t i;
    json_array_foreach(json_object_get(spec, "containers"), i, ct) {
        json_t *req = fl_obj_get(ct, "resources.requests"),
               *lim = fl_obj_get(ct, "resources.limits");
        const char *k;
        json_t *v;
        json_object_foreach(req, k, v)
            add_to(acc, k, sim_milli_of(v));
        json_object_foreach(lim, k, v)
            if (!json_object_get(req, k))
                add_to(acc, k, sim_milli_of(v));
    }
    add_to(acc, "pods", 1000);
    return acc;
}

static bool tolerates(const json_t *tols, const json_t *taint)
{
    size_t i;
    json_t *t;
    const char *tk = fl_obj_str_or(taint, "key", ""), *tv = fl_obj_str_or(taint, "value", "");
    const char *te = fl_obj_str_or(taint, "effect", "");
    json_array_foreach(tols, i, t) {
        const char *k = fl_obj_str_or(t, "key", ""), *op = fl_obj_str_or(t, "operator", "Equal");
        const char *e = fl_obj_str_or(t, "effect", "");
        if (*e && strcmp(e, te))
            continue;
        if (!*k && !strcmp(op, "Exists"))
            return true;
        if (strcmp(k, tk))
            continue;
        if (!strcmp(op, "Exists") || !strcmp(fl_obj_str_or(t, "value", ""), tv))
            return true;
    }
    return false;
}

/* The first taint of node spec's NoSchedule/NoExecute ones not tolerated. */
static const json_t *untolerated(const json_t *podspec, const json_t *nj)
{
    size_t i;
    json_t *taint;
    json_array_foreach(fl_obj_get(nj, "spec.taints"), i, taint) {
        const char *e = fl_obj_str_or(taint, "effect", "");
        if ((!strcmp(e, "NoSchedule") || !strcmp(e, "NoExecute")) &&
            !tolerates(json_object_get(podspec, "tolerations"), taint))
            return taint;
    }
    return NULL;
}

static bool selector_ok(const json_t *podspec, const json_t *nj)
{
    json_t *labels = fl_obj_get(nj, "metadata.labels"), *v;
    const char *k;
    json_object_foreach(json_object_get(podspec, "nodeSelector"), k, v) {
        const char *have = json_string_value(json_object_get(labels, k));
        if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)))
            return false;
    }
    return true;
}

bool sim_sched_fits_node(const json_t *podspec, const json_t *nj)
{
    return !json_is_true(fl_obj_get(nj, "spec.unschedulable")) && !untolerated(podspec, nj) &&
           selector_ok(podspec, nj);
}

/* ------------------------------------------------------------ filtering */

typedef struct reasons {
    char text[MAX_REASONS][200];
    unsigned count[MAX_REASONS];
    bool resource[MAX_REASONS]; /* preemption might help */
    size_t n;
} reasons;

static void note(reasons *r, const char *text, bool resource)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->text[i], text)) {
            r->count[i]++;
            return;
        }
    if (r->n == MAX_REASONS)
        return;
    snprintf(r->text[r->n], sizeof(r->text[0]), "%s", text);
    r->count[r->n] = 1;
    r->resource[r->n++] = resource;
}

/* True when n can take the pod; else notes why in r. */
static bool filter(const node *n, const json_t *spec, const json_t *req, reasons *r)
{
    char msg[200];
    if (json_is_true(fl_obj_get(n->j, "spec.unschedulable"))) {
        note(r, "node(s) were unschedulable", false);
        return false;
    }
    const json_t *t = untolerated(spec, n->j);
    if (t) {
        snprintf(msg, sizeof(msg), "node(s) had untolerated taint {%s: %s}",
                 fl_obj_str_or(t, "key", ""), fl_obj_str_or(t, "value", ""));
        note(r, msg, false);
        return false;
    }
    if (!selector_ok(spec, n->j)) {
        note(r, "node(s) didn't match Pod's node affinity/selector", false);
        return false;
    }
    bool ok = true;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)req, k, v) {
        json_t *f = json_object_get(n->free, k);
        int64_t want = json_integer_value(v), have = f ? json_integer_value(f) : 0;
        if (want > 0 && want > have) {
            snprintf(msg, sizeof(msg), !strcmp(k, "pods") ? "Too many pods" : "Insufficient %s", k);
            note(r, msg, true);
            ok = false;
        }
    }
    return ok;
}

/* NodeResourcesFit's LeastAllocated over cpu and memory, with kube's
 * non-zero defaults for pods that request nothing. */
static double score(const node *n)
{
    json_t *ac = json_object_get(n->alloc, "cpu"), *am = json_object_get(n->alloc, "memory");
    double s = 0;
    if (ac && json_integer_value(ac) > 0)
        s += 1.0 - (double)n->cpu_nz / (double)json_integer_value(ac);
    if (am && json_integer_value(am) > 0)
        s += 1.0 - (double)n->mem_nz / (double)json_integer_value(am);
    return s;
}

static void charge(node *n, const json_t *req)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)req, k, v)
        add_to(n->free, k, -json_integer_value(v));
    json_t *c = json_object_get(req, "cpu"), *m = json_object_get(req, "memory");
    n->cpu_nz += c && json_integer_value(c) > 0 ? json_integer_value(c) : 100;
    n->mem_nz +=
        m && json_integer_value(m) > 0 ? json_integer_value(m) : 200LL * 1024 * 1024 * 1000;
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* kube-scheduler's FitError text plus the preemption post-filter's. */
static void fit_message(const reasons *r, size_t nodes, char *out, size_t cap)
{
    char parts[MAX_REASONS][220], pre[2][80];
    const char *ptr[MAX_REASONS];
    unsigned res = 0, other = 0;
    for (size_t i = 0; i < r->n; i++) {
        snprintf(parts[i], sizeof(parts[i]), "%u %s", r->count[i], r->text[i]);
        ptr[i] = parts[i];
    }
    qsort(ptr, r->n, sizeof(ptr[0]), cmp_text);
    size_t len = (size_t)snprintf(out, cap, "0/%zu nodes are available: ", nodes);
    for (size_t i = 0; i < r->n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", ptr[i]);
    /* a node counts once for preemption: resource-only failures may be helped */
    for (size_t i = 0; i < r->n; i++)
        r->resource[i] ? (res += r->count[i]) : (other += r->count[i]);
    res = res > nodes - other ? (unsigned)(nodes - other) : res;
    snprintf(pre[0], sizeof(pre[0]), "%u No preemption victims found for incoming pod", res);
    snprintf(pre[1], sizeof(pre[1]), "%u Preemption is not helpful for scheduling", other);
    if (len < cap)
        snprintf(out + len, cap - len, ". preemption: 0/%zu nodes are available: %s%s%s.", nodes,
                 res ? pre[0] : "", res && other ? ", " : "", other ? pre[1] : "");
}

/* ------------------------------------------------------------ binding */

static void set_scheduled(json_t *pod, const char *status, const char *reason, const char *msg)
{
    char now[32];
    fl_time_format(fl_now_ms() / 1000, now);
    json_t *st = fl_obj_ensure(pod, "status");
    json_t *list = json_object_get(st, "conditions");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(st, "conditions", list);
    }
    json_t *c = json_pack("{s:s,s:s,s:n,s:s}", "type", "PodScheduled", "status", status,
                          "lastProbeTime", "lastTransitionTime", now);
    if (reason) {
        json_object_set_new(c, "reason", json_string(reason));
        json_object_set_new(c, "message", json_string(msg));
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        if (!strcmp(fl_obj_str_or(v, "type", ""), "PodScheduled")) {
            json_array_set_new(list, i, c);
            return;
        }
    json_array_append_new(list, c);
}

static bool same_unsched(const json_t *pod, const char *msg)
{
    size_t i;
    json_t *v;
    json_array_foreach(fl_obj_get(pod, "status.conditions"), i, v)
        if (!strcmp(fl_obj_str_or(v, "type", ""), "PodScheduled"))
            return !strcmp(fl_obj_str_or(v, "message", ""), msg);
    return false;
}

static void schedule_one(sim_tick *t, const fl_apiserver_obj *o, node *nodes, size_t nn)
{
    json_t *pod = fl_apiserver_obj_parse(o), *req = NULL;
    if (!pod)
        return;
    json_t *spec = json_object_get(pod, "spec");
    req = pod_requests(spec);
    reasons r = {.n = 0};
    node *best = NULL;
    double best_s = 0;
    for (size_t i = 0; i < nn; i++) {
        if (!filter(&nodes[i], spec, req, &r))
            continue;
        double s = score(&nodes[i]);
        if (!best || s > best_s) { /* scores go below 0 on overcommitted nodes */
            best_s = s;
            best = &nodes[i];
        }
    }
    if (best) {
        charge(best, req);
        json_object_set_new(spec, "nodeName", json_string(best->o->name));
        set_scheduled(pod, "True", NULL, NULL);
        sim_ctrl_put(t, t->pods_r, o, pod);
    } else {
        char msg[2048];
        fit_message(&r, nn, msg, sizeof(msg));
        if (!same_unsched(pod, msg)) {
            set_scheduled(pod, "False", "Unschedulable", msg);
            if (sim_ctrl_put(t, t->pods_r, o, pod) == 0)
                sim_ctrl_event(t, pod, "Pod", "Warning", "FailedScheduling", msg,
                               "default-scheduler");
        }
    }
    json_decref(req);
    json_decref(pod);
}

static bool wants_scheduling(const fl_apiserver_obj *o, const json_t *pod)
{
    return !o->node[0] && !strcmp(o->phase, "Pending") &&
           !fl_obj_get(pod, "metadata.deletionTimestamp") &&
           !strcmp(fl_obj_str_or(pod, "spec.schedulerName", "default-scheduler"),
                   "default-scheduler");
}

static void load_nodes(sim_tick *t, node *nodes)
{
    for (size_t i = 0; i < t->nodes.n; i++) {
        node *n = &nodes[i];
        n->o = t->nodes.items[i];
        n->j = fl_apiserver_obj_parse(n->o);
        n->alloc = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(fl_obj_get(n->j, "status.allocatable"), k, v)
            json_object_set_new(n->alloc, k, json_integer(sim_milli_of(v)));
        n->free = json_deep_copy(n->alloc);
    }
}

static node *find_node(node *nodes, size_t nn, const char *name)
{
    for (size_t i = 0; i < nn; i++)
        if (!strcmp(nodes[i].o->name, name))
            return &nodes[i];
    return NULL;
}

void sim_sched_run(sim_tick *t)
{
    size_t nn = t->nodes.n, pending = 0;
    for (size_t i = 0; i < t->pods.n; i++)
        pending += !t->pods.items[i]->node[0] && !strcmp(t->pods.items[i]->phase, "Pending");
    if (!pending)
        return; /* node usage is only needed to place someone */
    node *nodes = calloc(nn + 1, sizeof(*nodes));
    if (!nodes)
        return;
    load_nodes(t, nodes);
    for (size_t i = 0; i < t->pods.n; i++) { /* usage of bound pods */
        const fl_apiserver_obj *o = t->pods.items[i];
        node *n = o->node[0] && strcmp(o->phase, "Succeeded") && strcmp(o->phase, "Failed")
                      ? find_node(nodes, nn, o->node)
                      : NULL;
        json_t *pod = n ? fl_apiserver_obj_parse(o) : NULL;
        json_t *req = pod ? pod_requests(json_object_get(pod, "spec")) : NULL;
        if (req)
            charge(n, req);
        json_decref(req);
        json_decref(pod);
    }
    for (size_t i = 0; i < t->pods.n; i++) {
        const fl_apiserver_obj *o = t->pods.items[i];
        if (o->node[0] || strcmp(o->phase, "Pending"))
            continue;
        json_t *pod = fl_apiserver_obj_parse(o);
        bool want = pod && wants_scheduling(o, pod);
        json_decref(pod);
        if (want)
            schedule_one(t, o, nodes, nn);
    }
    for (size_t i = 0; i < nn; i++) {
        json_decref(nodes[i].j);
        json_decref(nodes[i].free);
        json_decref(nodes[i].alloc);
    }
    free(nodes);
}
