/*
 * index/facts.c: the materialized fields of pods and nodes (decoder side).
 *
 * Pods: node, phase, QoS class, priority class, terminal, and per resource
 * the requests and limits the scheduler counts (k8s.io/kubernetes
 * pkg/api/v1/resource PodRequests, the classic rule): for each resource
 * max(sum over app containers, max over init containers) + spec.overhead.
 * Also "pods" = 1000 (one pod, in milli-units) so quota can count pods.
 * Nodes: status.capacity and status.allocatable per resource, the Ready
 * condition, spec.unschedulable, spec.taints (JSON text), region and zone
 * from the topology.kubernetes.io labels (failure-domain.beta.* fallback).
 * Quantities are kube/quantity.h values as int64 milli-units; one that does
 * not parse or does not fit is left out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"
#include "kube/kube.h"

static char *dupstr(const char *s)
{
    return fl_strndup(s ? s : "", s ? strlen(s) : 0);
}

static rec_res *res_slot(fl_rec *r, const char *name, size_t *cap)
{
    for (size_t i = 0; i < r->n_res; i++)
        if (strcmp(r->res[i].name, name) == 0)
            return &r->res[i];
    if (r->n_res == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        rec_res *n = realloc(r->res, nc * sizeof *n);
        if (!n)
            return NULL;
        r->res = n;
        *cap = nc;
    }
    rec_res *s = &r->res[r->n_res];
    if (!(s->name = dupstr(name)))
        return NULL;
    s->a = s->b = 0;
    r->n_res++;
    return s;
}

static bool milli(json_t *v, int64_t *out)
{
    const char *s = json_string_value(v);
    fl_quantity q;
    if (!s || fl_quantity_parse(s, strlen(s), &q, NULL) < 0)
        return false;
    return fl_quantity_milli_value(&q, out) == 0;
}

typedef enum { ACC_SUM, ACC_MAX } acc_mode;

/* Fold one ResourceList into slot field a (which=0) or b (which=1). */
static int fold(fl_rec *r, size_t *cap, json_t *list, int which, acc_mode m)
{
    const char *k;
    json_t *v;
    json_object_foreach(list, k, v) {
        int64_t x;
        if (!milli(v, &x))
            continue;
        rec_res *s = res_slot(r, k, cap);
        if (!s)
            return -ENOMEM;
        int64_t *f = which ? &s->b : &s->a;
        if (m == ACC_MAX)
            *f = *f > x ? *f : x;
        else if (__builtin_add_overflow(*f, x, f))
            *f = INT64_MAX;
    }
    return 0;
}

static int pod_resources(fl_rec *r, json_t *spec)
{
    fl_rec init = {0};
    size_t cap = 0, icap = 0, i;
    json_t *c;
    int rc = 0;
    json_array_foreach(json_object_get(spec, "containers"), i, c) {
        json_t *res = json_object_get(c, "resources");
        if ((rc = fold(r, &cap, json_object_get(res, "requests"), 0, ACC_SUM)) < 0 ||
            (rc = fold(r, &cap, json_object_get(res, "limits"), 1, ACC_SUM)) < 0)
            goto out;
    }
    json_array_foreach(json_object_get(spec, "initContainers"), i, c) {
        json_t *res = json_object_get(c, "resources");
        if ((rc = fold(&init, &icap, json_object_get(res, "requests"), 0, ACC_MAX)) < 0 ||
            (rc = fold(&init, &icap, json_object_get(res, "limits"), 1, ACC_MAX)) < 0)
            goto out;
    }
    for (i = 0; i < init.n_res; i++) {
        rec_res *s = res_slot(r, init.res[i].name, &cap);
        if (!s) {
            rc = -ENOMEM;
            goto out;
        }
        s->a = s->a > init.res[i].a ? s->a : init.res[i].a;
        s->b = s->b > init.res[i].b ? s->b : init.res[i].b;
    }
    json_t *ovh = json_object_get(spec, "overhead");
    if ((rc = fold(r, &cap, ovh, 0, ACC_SUM)) < 0)
        goto out;
    /* Overhead adds to limits only where a limit is set (upstream PodLimits). */
    {
        const char *k;
        json_t *v;
        json_object_foreach(ovh, k, v) {
            int64_t x;
            for (size_t j = 0; j < r->n_res && milli(v, &x); j++)
                if (strcmp(r->res[j].name, k) == 0 && r->res[j].b > 0)
                    r->res[j].b += x;
        }
    }
    rec_res *p = res_slot(r, "pods", &cap);
    if (!p)
        rc = -ENOMEM;
    else
        p->a = 1000;
out:
    for (i = 0; i < init.n_res; i++)
        free(init.res[i].name);
    free(init.res);
    return rc;
}

static int pod_facts(fl_rec *r, json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    const char *phase = fl_obj_str(obj, "status.phase");
    r->kind_facts = 1;
    r->node = dupstr(json_string_value(json_object_get(spec, "nodeName")));
    r->phase = dupstr(phase);
    r->qos = dupstr(fl_obj_str(obj, "status.qosClass"));
    r->prio_class = dupstr(json_string_value(json_object_get(spec, "priorityClassName")));
    r->terminal = phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
    if (!r->node || !r->phase || !r->qos || !r->prio_class)
        return -ENOMEM;
    return pod_resources(r, spec);
}

static const char *label(json_t *obj, const char *k1, const char *k2)
{
    json_t *l = fl_obj_get(obj, "metadata.labels");
    const char *v = json_string_value(json_object_get(l, k1));
    return v ? v : json_string_value(json_object_get(l, k2));
}

static int node_facts(fl_rec *r, json_t *obj)
{
    size_t cap = 0, i;
    json_t *c, *taints = fl_obj_get(obj, "spec.taints");
    r->kind_facts = 2;
    r->unschedulable = json_is_true(fl_obj_get(obj, "spec.unschedulable"));
    json_array_foreach(fl_obj_get(obj, "status.conditions"), i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));
        if (t && s && strcmp(t, "Ready") == 0)
            r->ready = strcmp(s, "True") == 0;
    }
    r->region = dupstr(label(obj, "topology.kubernetes.io/region",
                             "failure-domain.beta.kubernetes.io/region"));
    r->zone = dupstr(label(obj, "topology.kubernetes.io/zone",
                           "failure-domain.beta.kubernetes.io/zone"));
    r->taints = json_is_array(taints) ? json_dumps(taints, JSON_COMPACT) : dupstr("[]");
    if (!r->region || !r->zone || !r->taints)
        return -ENOMEM;
    if (fold(r, &cap, fl_obj_get(obj, "status.capacity"), 0, ACC_SUM) < 0 ||
        fold(r, &cap, fl_obj_get(obj, "status.allocatable"), 1, ACC_SUM) < 0)
        return -ENOMEM;
    return 0;
}

static uint64_t facts_hash(const fl_rec *r)
{
    uint64_t h = (uint64_t)r->kind_facts * 31 + 1;
    const char *s[] = {r->node, r->phase, r->qos, r->prio_class, r->region, r->zone, r->taints};
    for (size_t i = 0; i < FL_ARRAY_LEN(s); i++)
        if (s[i])
            h = fl_hash64(s[i], strlen(s[i]) + 1, h);
    int64_t flags = r->terminal | r->ready << 1 | r->unschedulable << 2;
    h = fl_hash64(&flags, sizeof flags, h);
    for (size_t i = 0; i < r->n_res; i++) {
        h = fl_hash64(r->res[i].name, strlen(r->res[i].name) + 1, h);
        h = fl_hash64(&r->res[i].a, sizeof(int64_t), h);
        h = fl_hash64(&r->res[i].b, sizeof(int64_t), h);
    }
    return h;
}

int dec_facts(fl_rec *r, const fl_index_src *src, json_t *obj)
{
    int rc = 0;
    if (src->group[0] != 0)
        return 0;
    if (strcmp(src->resource, "pods") == 0)
        rc = pod_facts(r, obj);
    else if (strcmp(src->resource, "nodes") == 0)
        rc = node_facts(r, obj);
    if (rc == 0 && r->kind_facts)
        r->facts_hash = facts_hash(r);
    return rc;
}
