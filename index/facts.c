/*
 * index/facts.c: the materialized fields of pods and nodes (decoder side).
 *
 * Pods: node, phase, QoS class (status.qosClass, which the apiserver sets
 * at creation), priority class, terminal, and per resource the requests
 * and limits the scheduler counts (k8s.io/kubernetes pkg/api/v1/resource
 * PodRequests/PodLimits): for each resource max(sum over app containers,
 * max over init containers) + spec.overhead, with restartable (sidecar)
 * init containers counted as upstream does since 1.28 (see pod_sum).
 * Also "pods" = 1000 (one pod, in milli-units) so quota can count pods.
 * quota_plain says whether those sums are also exactly the pod's usage
 * under kube-apiserver v1.26's ResourceQuota rules (quota/eval.c): no
 * sidecar init containers, no limit without its request, overhead only
 * on resources with limits, every quantity a string exact in milli-units
 * and not negative, one quantity format per (resource, requests|limits)
 * (kept in the row's fmt), no deletionTimestamp; quota/ counts a plain pod
 * from its rows and any other from its JSON.
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
    if (fl_grow(&r->res, cap, r->n_res + 1, sizeof *r->res) != 0)
        return NULL;
    rec_res *s = &r->res[r->n_res];
    if (!(s->name = dupstr(name)))
        return NULL;
    s->a = s->b = 0;
    s->fmt = 0;
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

/* Fold a ResourceList into the a (which=0) or b (which=1) fields of r's
 * resources, summing. */
static int fold(fl_rec *r, size_t *cap, json_t *list, int which)
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
        if (__builtin_add_overflow(*f, x, f))
            *f = INT64_MAX;
    }
    return 0;
}

/* A small resource list (names borrowed from the JSON being decoded).
 * More than RL_MAX distinct resources in one pod: the rest are ignored.
 * fmt[i] is the format every quantity summed into v[i] was written in
 * (FMT_NONE before the first, FMT_MIXED when they differ). */
#define RL_MAX 32
#define FMT_NONE (-2)
#define FMT_MIXED (-1)
typedef struct rl {
    const char *name[RL_MAX];
    int64_t v[RL_MAX];
    int fmt[RL_MAX];
    size_t n;
} rl;

/* Whether the pod's sums are also exactly what kube-apiserver v1.26's
 * quota evaluator counts (quota_plain): cleared by anything they would
 * differ on (see pod_facts). */
typedef struct plain {
    bool ok;
} plain;

static int64_t *rl_find(rl *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->name[i], name) == 0)
            return &l->v[i];
    return NULL;
}

static int64_t *rl_slot(rl *l, const char *name, plain *p)
{
    int64_t *v = rl_find(l, name);
    if (v)
        return v;
    if (l->n == RL_MAX) {
        p->ok = false;
        return NULL;
    }
    l->name[l->n] = name;
    l->v[l->n] = 0;
    l->fmt[l->n] = FMT_NONE;
    return &l->v[l->n++];
}

static void fmt_merge(rl *l, int64_t *v, int fmt)
{
    int *f = &l->fmt[v - l->v];
    if (*f == FMT_NONE)
        *f = fmt;
    else if (fmt != FMT_NONE && *f != fmt)
        *f = FMT_MIXED;
}

static void rl_add_one(rl *l, const char *name, int64_t x, int fmt, plain *p)
{
    int64_t *v = rl_slot(l, name, p);
    if (!v)
        return;
    fmt_merge(l, v, fmt);
    if (__builtin_add_overflow(*v, x, v))
        *v = INT64_MAX, p->ok = false;
}

/* A quantity string as milli-units; p is cleared for a value the quota
 * evaluator would count otherwise (not a string, not exact in milli-units,
 * negative). */
static bool milli_exact(json_t *v, int64_t *out, int *fmt, plain *p)
{
    const char *s = json_string_value(v);
    fl_quantity q, back;
    if (!s || fl_quantity_parse(s, strlen(s), &q, NULL) < 0 ||
        fl_quantity_milli_value(&q, out) != 0) {
        p->ok = false;
        return false;
    }
    fl_quantity_from_milli(*out, q.format, &back);
    if (fl_quantity_cmp(&back, &q) != 0 || *out < 0)
        p->ok = false;
    *fmt = (int)q.format;
    return true;
}

static void rl_add_json(rl *l, json_t *list, plain *p)
{
    const char *k;
    json_t *v;
    int64_t x;
    int fmt;
    if (list && !json_is_object(list) && !json_is_null(list))
        p->ok = false;
    json_object_foreach(list, k, v) {
        if (strcmp(k, "pods") == 0)
            p->ok = false; /* the row quota counts pods by */
        if (milli_exact(v, &x, &fmt, p))
            rl_add_one(l, k, x, fmt, p);
    }
}

static void rl_add(rl *l, const rl *x, plain *p)
{
    for (size_t i = 0; i < x->n; i++)
        rl_add_one(l, x->name[i], x->v[i], x->fmt[i], p);
}

static void rl_max(rl *l, const rl *x, plain *p)
{
    for (size_t i = 0; i < x->n; i++) {
        int64_t *v = rl_slot(l, x->name[i], p);
        if (!v)
            continue;
        fmt_merge(l, v, x->fmt[i]);
        if (*v < x->v[i])
            *v = x->v[i];
    }
}

/* Upstream PodRequests/PodLimits without overhead: the app containers'
 * sum; init containers run one at a time, each beside the restartable
 * (sidecar, restartPolicy: Always) init containers started before it;
 * sidecars also run beside the app containers. Result: max(app sum +
 * sidecars, max over init containers of (own + earlier sidecars)). */
static void pod_sum(json_t *spec, const char *field, rl *out, plain *p)
{
    rl sidecars = {0}, init = {0};
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
        rl_add_json(out, fl_obj_get(c, field), p);
    json_array_foreach(json_object_get(spec, "initContainers"), i, c) {
        rl cr = {0};
        const char *policy = json_string_value(json_object_get(c, "restartPolicy"));
        rl_add_json(&cr, fl_obj_get(c, field), p);
        if (policy && strcmp(policy, "Always") == 0) {
            rl_add(out, &cr, p);
            rl_add(&sidecars, &cr, p);
            cr = sidecars;
            p->ok = false; /* v1.26's quota knows no sidecars */
        } else {
            rl_add(&cr, &sidecars, p);
        }
        rl_max(&init, &cr, p);
    }
    rl_max(out, &init, p);
}

/* What else the quota evaluator (kube-apiserver v1.26, quota/eval.c) does
 * differently from the scheduler's sums: a pod being deleted stops counting
 * after its grace period (time-dependent); a container's limit without a
 * request is taken as the request (defaulting); malformed containers fail
 * the count. Any of these: not plain. */
static void plain_spec(json_t *obj, json_t *spec, plain *p)
{
    static const char *const keys[] = {"containers", "initContainers"};
    if (fl_obj_get(obj, "metadata.deletionTimestamp") || !json_is_object(spec)) {
        p->ok = false;
        return;
    }
    for (size_t k = 0; k < FL_ARRAY_LEN(keys) && p->ok; k++) {
        json_t *cs = json_object_get(spec, keys[k]), *c;
        size_t i;
        if (cs && !json_is_null(cs) && (!json_is_array(cs) || json_array_size(cs) > 1024))
            p->ok = false;
        json_array_foreach(cs, i, c) {
            json_t *res = json_object_get(c, "resources");
            json_t *req = json_object_get(res, "requests"), *lim = json_object_get(res, "limits");
            const char *name;
            json_t *v;
            if (!json_is_object(c) || (res && !json_is_null(res) && !json_is_object(res))) {
                p->ok = false;
                break;
            }
            json_object_foreach(lim, name, v) {
                if (!json_object_get(req, name))
                    p->ok = false;
            }
        }
    }
}

static int pod_resources(fl_rec *r, json_t *obj, json_t *spec)
{
    rl req = {0}, lim = {0};
    plain p = {true};
    size_t cap = 0;
    const char *k;
    json_t *v;
    int64_t x;
    int fmt;
    plain_spec(obj, spec, &p);
    pod_sum(spec, "resources.requests", &req, &p);
    pod_sum(spec, "resources.limits", &lim, &p);
    json_t *ovh = json_object_get(spec, "overhead");
    rl_add_json(&req, ovh, &p);
    json_object_foreach(ovh, k, v) { /* upstream: only onto limits that are set */
        int64_t *l = rl_find(&lim, k);
        if (!l)
            p.ok = false; /* v1.26's quota adds overhead to every limit */
        else if (milli_exact(v, &x, &fmt, &p)) {
            fmt_merge(&lim, l, fmt);
            if (__builtin_add_overflow(*l, x, l))
                *l = INT64_MAX, p.ok = false;
        }
    }
    for (size_t i = 0; i < req.n + lim.n; i++) {
        bool is_req = i < req.n;
        size_t j = is_req ? i : i - req.n;
        rec_res *s = res_slot(r, is_req ? req.name[i] : lim.name[j], &cap);
        if (!s)
            return -ENOMEM;
        int f = is_req ? req.fmt[j] : lim.fmt[j];
        if (f < 0)
            p.ok = false, f = 0;
        if (is_req)
            s->a = req.v[j], s->fmt |= FL_INDEX_RES_REQUEST | f;
        else
            s->b = lim.v[j], s->fmt |= FL_INDEX_RES_LIMIT | f << FL_INDEX_RES_LIMIT_FMT_SHIFT;
    }
    rec_res *pods = res_slot(r, "pods", &cap);
    if (!pods)
        return -ENOMEM;
    pods->a = 1000;
    r->quota_plain = p.ok;
    return 0;
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
    return pod_resources(r, obj, spec);
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
    r->region = dupstr(
        label(obj, "topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region"));
    r->zone =
        dupstr(label(obj, "topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"));
    r->taints = json_is_array(taints) ? json_dumps(taints, JSON_COMPACT) : dupstr("[]");
    if (!r->region || !r->zone || !r->taints)
        return -ENOMEM;
    if (fold(r, &cap, fl_obj_get(obj, "status.capacity"), 0) < 0 ||
        fold(r, &cap, fl_obj_get(obj, "status.allocatable"), 1) < 0)
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
    int64_t flags = r->terminal | r->ready << 1 | r->unschedulable << 2 | r->quota_plain << 3;
    h = fl_hash64(&flags, sizeof flags, h);
    for (size_t i = 0; i < r->n_res; i++) {
        h = fl_hash64(r->res[i].name, strlen(r->res[i].name) + 1, h);
        h = fl_hash64(&r->res[i].a, sizeof(int64_t), h);
        h = fl_hash64(&r->res[i].b, sizeof(int64_t), h);
        h = fl_hash64(&r->res[i].fmt, sizeof(int), h);
    }
    return h;
}

int idx_dec_facts(fl_rec *r, const fl_index_src *src, json_t *obj)
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
