/*
 * sim/quota.c: ResourceQuota for a virtual cluster, counted as
 * kube-apiserver's quota evaluators do: pods / count/pods (pods not
 * Succeeded or Failed), cpu / requests.cpu, memory / requests.memory,
 * requests.<extended> (nvidia.com/gpu), limits.cpu / limits.memory /
 * limits.<extended>, the core object counts (configmaps, secrets,
 * services, resourcequotas) and count/<resource>[.<group>].
 *   sim_quota_admit: the admission check of a create (HTTP handlers and
 *                    the controllers), any thread;
 *   sim_quota_run:   keeps every quota's status.hard/used true (controller
 *                    thread, written only when it changed).
 * Reads the store only; never takes a lock of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

static bool terminal(const json_t *pod)
{
    const char *ph = fl_obj_str_or(pod, "status.phase", "");
    return !strcmp(ph, "Succeeded") || !strcmp(ph, "Failed");
}

/* Sum of a pod's container requests (limits=false) or limits of name,
 * in milli-units; requests fall back to limits as the API defaults. */
static int64_t pod_sum(const json_t *pod, const char *name, bool limits)
{
    int64_t sum = 0;
    size_t i;
    json_t *ct;
    json_array_foreach(fl_obj_get(pod, "spec.containers"), i, ct) {
        json_t *req = fl_obj_get(ct, "resources.requests"),
               *lim = fl_obj_get(ct, "resources.limits");
        json_t *v = limits ? json_object_get(lim, name) : json_object_get(req, name);
        if (!v && !limits)
            v = json_object_get(lim, name);
        sum += v ? sim_milli_of(v) : 0;
    }
    return sum;
}

/* What pod (in milli-units) counts against quota key; -1 = key is not
 * about pods. */
static int64_t pod_usage(const json_t *pod, const char *key)
{
    if (!strcmp(key, "pods") || !strcmp(key, "count/pods"))
        return 1000;
    if (!strcmp(key, "cpu") || !strcmp(key, "memory"))
        return pod_sum(pod, key, false);
    if (!strncmp(key, "requests.", 9))
        return pod_sum(pod, key + 9, false);
    if (!strncmp(key, "limits.", 7))
        return pod_sum(pod, key + 7, true);
    return -1;
}

/* The resource an object-count key counts, or NULL. */
static const fl_apiserver_res *count_res(fl_apiserver_store *st, const char *key)
{
    static const char *const core[] = {"configmaps",
                                       "secrets",
                                       "services",
                                       "resourcequotas",
                                       "persistentvolumeclaims",
                                       "replicationcontrollers"};
    char res[128], *group;
    if (!strncmp(key, "count/", 6)) {
        fl_strlcpy(res, key + 6, sizeof(res));
    } else {
        for (size_t i = 0; i < FL_ARRAY_LEN(core); i++)
            if (!strcmp(key, core[i]))
                return fl_apiserver_store_find(st, NULL, "v1", key);
        return NULL;
    }
    group = strchr(res, '.');
    if (group)
        *group++ = 0;
    const fl_apiserver_res **all = NULL, *found = NULL;
    size_t n = fl_apiserver_store_resources(st, &all);
    for (size_t i = 0; i < n && !found; i++)
        if (!strcmp(all[i]->kr->resource, res) && !strcmp(all[i]->kr->group, group ? group : ""))
            found = all[i];
    free(all);
    return found;
}

/* Current usage of key in ns, milli-units. */
static int64_t used_of(fl_apiserver_store *st, const char *ns, const char *key,
                       const fl_apiserver_list *pods)
{
    int64_t sum = 0;
    const fl_apiserver_res *r = count_res(st, key);
    if (r) {
        fl_apiserver_list l = {0};
        fl_apiserver_list_req q = {.ns = ns};
        if (fl_apiserver_store_list(st, r, &q, &l) == 0)
            sum = (int64_t)l.n * 1000;
        fl_apiserver_list_done(&l);
        return sum;
    }
    for (size_t i = 0; i < pods->n; i++) {
        json_t *pod = fl_apiserver_obj_parse(pods->items[i]);
        if (pod && !terminal(pod)) {
            int64_t u = pod_usage(pod, key);
            sum += u > 0 ? u : 0;
        }
        json_decref(pod);
    }
    return sum;
}

/* Format milli-units like the hard value hv (its binary/decimal format). */
static void fmt_like(int64_t milli, const json_t *hv, char out[FL_QTY_STR_MAX])
{
    fl_quantity h, q;
    const char *s = json_string_value(hv);
    fl_qty_format f = FL_QTY_DECIMAL_SI;
    if (s && fl_quantity_parse(s, strlen(s), &h, NULL) == 0)
        f = h.format;
    fl_quantity_from_milli(milli, f, &q);
    if (fl_quantity_format(&q, out, FL_QTY_STR_MAX) < 0)
        snprintf(out, FL_QTY_STR_MAX, "%lld", (long long)(milli / 1000));
}

static int list_ns(fl_apiserver_store *st, const char *group, const char *resource, const char *ns,
                   fl_apiserver_list *out)
{
    const fl_apiserver_res *r = fl_apiserver_store_find(st, group, "v1", resource);
    fl_apiserver_list_req q = {.ns = ns};
    return r ? fl_apiserver_store_list(st, r, &q, out) : FL_ENOTFOUND;
}

/* ------------------------------------------------------------ admission */

typedef struct viol {
    char req[512], used[512], lim[512];
    size_t nreq, nused, nlim;
} viol;

static void append(char *buf, size_t cap, size_t *len, const char *k, const char *v)
{
    if (*len < cap)
        *len += (size_t)snprintf(buf + *len, cap - *len, "%s%s=%s", *len ? "," : "", k, v);
}

/* What obj (being created in ns) adds to key, milli-units; 0 if nothing. */
static int64_t delta_of(fl_apiserver_store *st, const fl_apiserver_res *r, const json_t *obj,
                        const char *key)
{
    bool pod = !*r->kr->group && !strcmp(r->kr->kind, "Pod");
    if (pod) {
        int64_t u = pod_usage(obj, key);
        if (u >= 0)
            return u;
    }
    return count_res(st, key) == r ? 1000 : 0;
}

/* Check one quota; fills err and returns FL_EFORBIDDEN when exceeded. */
static int check_quota(fl_apiserver_store *st, const fl_apiserver_res *r, const json_t *obj,
                       const json_t *quota, const fl_apiserver_list *pods, fl_err *err)
{
    json_t *hard = fl_obj_get(quota, "spec.hard"), *hv;
    const char *key;
    const char *keys[64];
    size_t nk = 0;
    json_object_foreach(hard, key, hv)
        if (nk < 64)
            keys[nk++] = key;
    for (size_t i = 0; i < nk; i++) /* prettyPrint sorts keys */
        for (size_t j = i + 1; j < nk; j++)
            if (strcmp(keys[j], keys[i]) < 0) {
                const char *t = keys[i];
                keys[i] = keys[j];
                keys[j] = t;
            }
    viol v = {.nreq = 0};
    bool bad = false;
    const char *ns = fl_obj_str_or(obj, "metadata.namespace", "");
    for (size_t i = 0; i < nk; i++) {
        hv = json_object_get(hard, keys[i]);
        int64_t d = delta_of(st, r, obj, keys[i]);
        if (d <= 0)
            continue;
        int64_t used = used_of(st, ns, keys[i], pods), lim = sim_milli_of(hv);
        if (used + d <= lim)
            continue;
        char a[FL_QTY_STR_MAX], b[FL_QTY_STR_MAX], c[FL_QTY_STR_MAX];
        fmt_like(d, hv, a);
        fmt_like(used, hv, b);
        fmt_like(lim, hv, c);
        append(v.req, sizeof(v.req), &v.nreq, keys[i], a);
        append(v.used, sizeof(v.used), &v.nused, keys[i], b);
        append(v.lim, sizeof(v.lim), &v.nlim, keys[i], c);
        bad = true;
    }
    if (!bad)
        return 0;
    return fl_err_set(err, FL_EFORBIDDEN,
                      "exceeded quota: %s, requested: %s, used: %s, "
                      "limited: %s",
                      fl_obj_str_or(quota, "metadata.name", ""), v.req, v.used, v.lim);
}

int sim_quota_admit(sim_cluster *c, const fl_apiserver_res *r, const json_t *obj, const char *ns,
                    fl_err *err)
{
    fl_apiserver_list quotas = {0}, pods = {0};
    int rc = 0;
    if (!r->kr->namespaced || c->is_host ||
        list_ns(c->st, NULL, "resourcequotas", ns, &quotas) != 0 || quotas.n == 0)
        goto out;
    if (list_ns(c->st, NULL, "pods", ns, &pods) != 0)
        goto out;
    json_t *copy = json_deep_copy(obj);
    if (!copy) {
        rc = -ENOMEM;
        goto out;
    }
    json_object_set_new(fl_obj_ensure(copy, "metadata"), "namespace", json_string(ns));
    for (size_t i = 0; rc == 0 && i < quotas.n; i++) {
        json_t *q = fl_apiserver_obj_parse(quotas.items[i]);
        rc = q ? check_quota(c->st, r, copy, q, &pods, err) : -ENOMEM;
        json_decref(q);
    }
    json_decref(copy);
out:
    fl_apiserver_list_done(&quotas);
    fl_apiserver_list_done(&pods);
    return rc;
}

/* ------------------------------------------------------------ status */

static void sync_quota(sim_tick *t, const fl_apiserver_res *qr, const fl_apiserver_obj *o)
{
    json_t *q = fl_apiserver_obj_parse(o), *st = NULL;
    fl_apiserver_list pods = {0};
    if (!q || list_ns(t->c->st, NULL, "pods", o->ns, &pods) != 0)
        goto out;
    json_t *hard = fl_obj_get(q, "spec.hard"), *hv;
    const char *key;
    st = json_object();
    json_t *used = json_object();
    json_object_set_new(st, "hard", json_is_object(hard) ? json_deep_copy(hard) : json_object());
    json_object_set_new(st, "used", used);
    json_object_foreach(hard, key, hv) {
        char s[FL_QTY_STR_MAX];
        fmt_like(used_of(t->c->st, o->ns, key, &pods), hv, s);
        json_object_set_new(used, key, json_string(s));
    }
    if (!json_equal(json_object_get(q, "status"), st)) {
        json_object_set(q, "status", st);
        sim_ctrl_put(t, qr, o, q);
    }
out:
    fl_apiserver_list_done(&pods);
    json_decref(st);
    json_decref(q);
}

void sim_quota_run(sim_tick *t)
{
    const fl_apiserver_res *qr = fl_apiserver_store_find(t->c->st, NULL, "v1", "resourcequotas");
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    if (!qr || fl_apiserver_store_list(t->c->st, qr, &q, &l) != 0)
        return;
    for (size_t i = 0; i < l.n; i++)
        sync_quota(t, qr, l.items[i]);
    fl_apiserver_list_done(&l);
}
