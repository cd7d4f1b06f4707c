/*
 * scheduler/capacity.c: how many more replicas of a pod template fit in one
 * cluster, from its nodes and pods (Kubernetes JSON, as the index stores
 * them): for each Ready, schedulable node that the template's nodeSelector,
 * required node affinity and tolerations allow, floor((allocatable −
 * requests of its non-terminal pods) / per-replica request) over every
 * requested resource, capped by its free pod slots; summed over nodes.
 * This is what Karmada's scheduler-estimator computes, without deploying
 * one. Quantities are compared in milli-units.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

#define MAX_RES 16

typedef struct reslist {
    const char *name[MAX_RES];
    int64_t milli[MAX_RES];
    size_t n;
} reslist;

int64_t fl_sched_milli(const json_t *v)
{
    fl_quantity q;
    int64_t m = 0;
    if (json_is_string(v)) {
        if (fl_quantity_parse(json_string_value(v), json_string_length(v), &q, NULL) != 0 ||
            fl_quantity_milli_value(&q, &m) != 0)
            return 0;
        return m;
    }
    if (json_is_integer(v))
        return json_integer_value(v) * 1000;
    return 0;
}

static int64_t *res_slot(reslist *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->name[i], name) == 0)
            return &r->milli[i];
    if (r->n == MAX_RES)
        return NULL;
    r->name[r->n] = name;
    r->milli[r->n] = 0;
    return &r->milli[r->n++];
}

/* add (max=false) or max (max=true) a ResourceList into r */
static void res_merge(reslist *r, const json_t *list, bool max)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)list, k, v) {
        int64_t *s = res_slot(r, k);
        int64_t m = fl_sched_milli(v);
        if (!s)
            continue;
        if (max)
            *s = m > *s ? m : *s;
        else
            *s += m;
    }
}

/* A pod spec's requests: max(sum of containers, each init container) + overhead. */
static void pod_requests(const json_t *spec, reslist *out)
{
    size_t i;
    const json_t *c;
    memset(out, 0, sizeof *out);
    json_array_foreach(json_object_get(spec, "containers"), i, c)
        res_merge(out, fl_obj_get(c, "resources.requests"), false);
    json_array_foreach(json_object_get(spec, "initContainers"), i, c)
        res_merge(out, fl_obj_get(c, "resources.requests"), true);
    res_merge(out, json_object_get(spec, "overhead"), false);
}

static bool node_ready(const json_t *node)
{
    size_t i;
    const json_t *c;
    if (json_is_true(fl_obj_get(node, "spec.unschedulable")))
        return false;
    json_array_foreach(fl_obj_get(node, "status.conditions"), i, c) {
        const char *t = fl_sched_json_str(c, "type");
        if (t && strcmp(t, "Ready") == 0) {
            const char *s = fl_sched_json_str(c, "status");
            return s && strcmp(s, "True") == 0;
        }
    }
    return false;
}

bool fl_sched_req_matches_value(const json_t *r, const char *have)
{
    const char *key = fl_sched_json_str(r, "key"), *op = fl_sched_json_str(r, "operator");
    const json_t *vals = json_object_get(r, "values");
    if (!key || !op)
        return false;
    if (strcmp(op, "Exists") == 0)
        return have != NULL;
    if (strcmp(op, "DoesNotExist") == 0)
        return have == NULL;
    bool in = false;
    size_t i;
    const json_t *v;
    json_array_foreach(vals, i, v) {
        if (have && json_is_string(v) && strcmp(json_string_value(v), have) == 0)
            in = true;
    }
    if (strcmp(op, "In") == 0)
        return in;
    if (strcmp(op, "NotIn") == 0)
        return !in;
    if ((strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) && have && json_array_size(vals) == 1) {
        int64_t a, b;
        const json_t *bv = json_array_get(vals, 0);
        if (!json_is_string(bv) || fl_parse_i64(have, strlen(have), &a) != 0 ||
            fl_parse_i64(json_string_value(bv), json_string_length(bv), &b) != 0)
            return false;
        return op[0] == 'G' ? a > b : a < b;
    }
    return false;
}

bool fl_sched_node_claim_matches_fn(const json_t *spec, fl_sched_label_fn get, const void *ud)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(spec, "nodeSelector"), k, v) {
        const char *have = get(ud, k);
        if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    const json_t *terms =
        fl_obj_get(spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                         "nodeSelectorTerms");
    if (json_array_size(terms) == 0)
        return true;
    size_t i, j;
    const json_t *t, *r;
    json_array_foreach(terms, i, t) {
        bool all = true;
        json_array_foreach(json_object_get(t, "matchExpressions"), j, r) {
            const char *key = fl_sched_json_str(r, "key");
            all = all && fl_sched_req_matches_value(r, key ? get(ud, key) : NULL);
        }
        if (all)
            return true;
    }
    return false;
}

static const char *json_label(const void *ud, const char *key)
{
    return fl_sched_json_str(ud, key);
}

bool fl_sched_node_claim_matches(const json_t *spec, const json_t *labels)
{
    return fl_sched_node_claim_matches_fn(spec, json_label, labels);
}

static bool node_fits_claim(const json_t *spec, const json_t *node)
{
    return fl_sched_node_claim_matches(spec, fl_obj_get(node, "metadata.labels")) &&
           fl_sched_tolerates(json_object_get(spec, "tolerations"), fl_obj_get(node, "spec.taints"),
                              NULL);
}

bool fl_sched_tolerates(const json_t *tolerations, const json_t *taints, const json_t **bad)
{
    return fl_sched_tolerates_effects(tolerations, taints, false, bad);
}

bool fl_sched_tolerates_effects(const json_t *tolerations, const json_t *taints, bool noexec_only,
                                const json_t **bad)
{
    size_t i, j;
    const json_t *t, *tol;
    json_array_foreach(taints, i, t) {
        const char *eff = fl_sched_json_str(t, "effect");
        if (!eff ||
            (strcmp(eff, "NoExecute") != 0 && (noexec_only || strcmp(eff, "NoSchedule") != 0)))
            continue;
        const char *key = fl_sched_json_str(t, "key"), *val = fl_sched_json_str(t, "value");
        bool ok = false;
        json_array_foreach(tolerations, j, tol) {
            const char *tk = fl_sched_json_str(tol, "key"),
                       *op = fl_sched_json_str(tol, "operator");
            const char *tv = fl_sched_json_str(tol, "value"),
                       *te = fl_sched_json_str(tol, "effect");
            if (te && te[0] && strcmp(te, eff) != 0)
                continue;
            if (tk && tk[0] && (!key || strcmp(tk, key) != 0))
                continue;
            if (!tk || !tk[0]) { /* empty key: must be Exists, tolerates all */
                if (op && strcmp(op, "Exists") == 0)
                    ok = true;
                continue;
            }
            if (op && strcmp(op, "Exists") == 0)
                ok = true;
            else if (strcmp(tv ? tv : "", val ? val : "") == 0)
                ok = true;
        }
        if (!ok) {
            if (bad)
                *bad = t;
            return false;
        }
    }
    return true;
}

int fl_sched_capacity_json(const json_t *pod_spec, const json_t *nodes, const json_t *pods,
                           int64_t *out)
{
    reslist req;
    pod_requests(pod_spec, &req);
    size_t nn = json_array_size(nodes), i;
    const json_t *node, *pod;
    int64_t total = 0;
    reslist *used = calloc(nn + 1, sizeof *used);
    int64_t *count = calloc(nn + 1, sizeof *count);
    if (!used || !count) {
        free(used);
        free(count);
        return -ENOMEM;
    }
    json_array_foreach(pods, i, pod) {
        const char *phase = fl_obj_str(pod, "status.phase");
        const char *nodename = fl_obj_str(pod, "spec.nodeName");
        if (!nodename || (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))))
            continue;
        for (size_t k = 0; k < nn; k++)
            if (strcmp(fl_obj_str_or(json_array_get(nodes, k), "metadata.name", ""), nodename) ==
                0) {
                reslist r;
                pod_requests(json_object_get(pod, "spec"), &r);
                for (size_t x = 0; x < r.n; x++) {
                    int64_t *s = res_slot(&used[k], r.name[x]);
                    if (s)
                        *s += r.milli[x];
                }
                count[k]++;
                break;
            }
    }
    json_array_foreach(nodes, i, node) {
        if (!node_ready(node) || !node_fits_claim(pod_spec, node))
            continue;
        const json_t *alloc = fl_obj_get(node, "status.allocatable");
        int64_t slots = fl_sched_milli(json_object_get(alloc, "pods")) / 1000 - count[i];
        int64_t fit = slots < 0 ? 0 : slots;
        for (size_t x = 0; x < req.n; x++) {
            if (req.milli[x] <= 0 || strcmp(req.name[x], "pods") == 0)
                continue;
            int64_t have = fl_sched_milli(json_object_get(alloc, req.name[x]));
            int64_t *u = res_slot(&used[i], req.name[x]);
            int64_t f = (have - (u ? *u : 0)) / req.milli[x];
            if (f < fit)
                fit = f < 0 ? 0 : f;
        }
        total += fit;
    }
    free(used);
    free(count);
    *out = total;
    return 0;
}

json_t *fl_sched_requests_json(const json_t *pod_spec)
{
    reslist r;
    pod_requests(pod_spec, &r);
    json_t *o = json_object();
    for (size_t i = 0; o && i < r.n; i++) {
        fl_quantity q;
        char buf[FL_QTY_STR_MAX];
        fl_quantity_from_milli(r.milli[i], FL_QTY_DECIMAL_SI, &q);
        fl_quantity_format(&q, buf, sizeof buf);
        json_object_set_new(o, r.name[i], json_string(buf));
    }
    return o;
}
