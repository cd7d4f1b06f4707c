/*
 * quota/usage.c: what one namespace uses according to the index, counted
 * with Kubernetes' ResourceQuota rules (eval.c) for each quota: pods,
 * services and persistentvolumeclaims through their evaluators (scopes
 * included), every other counted resource (configmaps, secrets,
 * count/<resource>.<group>) by an index count. Only the given (Ready)
 * clusters are read. It also counts, for the scheduler's reservations, the
 * live pods whose controller chain (pod -> ReplicaSet -> Deployment, or pod
 * -> StatefulSet / Job / ReplicaSet) leads to the reserved workload. Reads
 * only; called holding the namespace's ledger (ledger_enter).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "quota/ledger_int.h"

typedef struct obs {
    nsled *l;
    const char *ns;
    qent *e;
    size_t ne;
    evaluator ev;
    int64_t now;
    json_t *owners; /* ReplicaSet uid -> its controller uid (pods only) */
    int rc;
    fl_err *err;
} obs;

static bool wants(const evaluator *ev, const qent *e)
{
    for (size_t i = 0; i < e->hard.n; i++)
        if (qev_matches_resource(ev, e->hard.v[i].name))
            return true;
    return false;
}

/* Add obj's usage to every matching quota (generic.Matches). */
static int charge(obs *o, const json_t *obj)
{
    rl u = RL_INIT;
    int rc = qev_usage(&o->ev, obj, o->now, &u, o->err);
    for (size_t i = 0; !rc && i < o->ne; i++) {
        qent *e = &o->e[i];
        bool match = wants(&o->ev, e);
        size_t k;
        const json_t *sel;
        json_array_foreach(e->selectors, k, sel) {
            bool m = false;
            if (!match)
                break;
            if (qev_matches_scope(&o->ev, sel, obj, &m, o->err) != 0)
                m = false; /* a selector that does not convert matches nothing */
            match = m;
        }
        for (size_t j = 0; match && !rc && j < e->hard.n; j++) {
            const fl_quantity *v = qrl_get(&u, e->hard.v[j].name);
            if (v)
                rc = qrl_add_one(&e->used, e->hard.v[j].name, v);
        }
    }
    qrl_done(&u);
    return rc;
}

static bool pod_live(const json_t *pod)
{
    const char *phase = fl_obj_str_or(pod, "status.phase", "");
    return strcmp(phase, "Succeeded") && strcmp(phase, "Failed") &&
           !fl_obj_get(pod, "metadata.deletionTimestamp");
}

/* A live pod of a reserved workload: count it for that reservation. */
static void count_for_reservations(obs *o, const fl_index_row *row, const json_t *pod)
{
    const char *owner = row->owner_uid, *grand = NULL;
    if (!*owner || !pod_live(pod))
        return;
    grand = json_string_value(json_object_get(o->owners, owner));
    for (size_t i = 0; i < o->l->nw; i++) {
        wres *w = &o->l->w[i];
        if (strcmp(w->cluster, row->cluster))
            continue;
        if (!strcmp(w->uid, owner) || (grand && !strcmp(w->uid, grand)))
            w->live++;
    }
}

static int on_row(void *arg, const fl_index_row *row)
{
    obs *o = arg;
    json_t *obj = json_loadb(row->json, row->json_len, 0, NULL);
    if (!obj)
        return 0; /* the index stores valid JSON; skip rather than fail */
    int rc = charge(o, obj);
    if (!rc && o->ev.kind == EV_POD && o->owners)
        count_for_reservations(o, row, obj);
    json_decref(obj);
    if (rc) {
        o->rc = rc;
        return 1;
    }
    return 0;
}

static int on_rs(void *arg, const fl_index_row *row)
{
    obs *o = arg;
    if (*row->uid && *row->owner_uid)
        json_object_set_new(o->owners, row->uid, json_string(row->owner_uid));
    return 0;
}

static int list_ns(obs *o, const char *group, const char *resource, const char *const *ready,
                   size_t nready, fl_index_row_cb cb)
{
    const char *nss[1] = {o->ns};
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    iq.group = group, iq.resource = resource;
    iq.clusters = ready, iq.n_clusters = nready;
    iq.namespaces = nss, iq.n_namespaces = 1;
    int rc = fl_index_list(o->l->rd, &iq, cb, o, NULL, o->err);
    return rc == 1 ? o->rc : rc;
}

/* Object counts: count/<resource>[.<group>] and the legacy aliases. */
static int count_objects(obs *o, const char *const *ready, size_t nready)
{
    for (size_t i = 0; i < o->ne; i++) {
        qent *e = &o->e[i];
        if (json_array_size(e->selectors) > 0)
            continue; /* scoped quotas never match object counts */
        for (size_t j = 0; j < e->hard.n; j++) {
            const char *k = e->hard.v[j].name;
            char res[FL_QUOTA_NAME_MAX];
            const char *group = "";
            if (fl_str_has_prefix(k, "count/")) {
                snprintf(res, sizeof res, "%s", k + 6);
                char *dot = strchr(res, '.');
                if (dot)
                    *dot = 0, group = k + 6 + (dot - res) + 1;
            } else if (!strcmp(k, "configmaps") || !strcmp(k, "secrets") ||
                       !strcmp(k, "replicationcontrollers") || !strcmp(k, "resourcequotas")) {
                snprintf(res, sizeof res, "%s", k);
            } else
                continue;
            if (!*group && (!strcmp(res, "pods") || !strcmp(res, "services") ||
                            !strcmp(res, "persistentvolumeclaims")))
                continue; /* their evaluators count them */
            const char *nss[1] = {o->ns};
            fl_index_query iq = FL_INDEX_QUERY_INIT;
            int64_t n = 0;
            iq.group = group, iq.resource = res;
            iq.clusters = ready, iq.n_clusters = nready;
            iq.namespaces = nss, iq.n_namespaces = 1;
            if (nready && fl_index_count(o->l->rd, &iq, &n, o->err) != 0)
                n = 0; /* a resource the index does not hold counts zero */
            fl_quantity c;
            q_int(n, &c);
            int rc = qrl_add_one(&e->used, k, &c);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int quota_usage_observe(nsled *l, const char *const *ready, size_t nready, qent *e, size_t ne,
                        int64_t now_s, fl_err *err)
{
    obs o = {.l = l, .ns = l->ns, .e = e, .ne = ne, .now = now_s, .err = err};
    static const char *const kinds[] = {"pods", "services", "persistentvolumeclaims"};
    int rc = 0;
    for (size_t i = 0; i < l->nw; i++)
        l->w[i].live = 0;
    if (nready == 0)
        return 0;
    for (size_t k = 0; !rc && k < FL_ARRAY_LEN(kinds); k++) {
        qev_for("", kinds[k], &o.ev);
        bool need = k == 0 && l->nw > 0;
        for (size_t i = 0; !need && i < ne; i++)
            need = wants(&o.ev, &e[i]);
        if (!need)
            continue;
        if (k == 0 && l->nw > 0) {
            o.owners = json_object();
            if (!o.owners)
                return -ENOMEM;
            rc = list_ns(&o, "apps", "replicasets", ready, nready, on_rs);
        }
        if (!rc)
            rc = list_ns(&o, "", kinds[k], ready, nready, on_row);
        json_decref(o.owners);
        o.owners = NULL;
    }
    if (!rc)
        rc = count_objects(&o, ready, nready);
    return rc;
}
