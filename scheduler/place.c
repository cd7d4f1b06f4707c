/*
 * scheduler/place.c: one whole placement decision, as Karmada's scheduler
 * makes it for a ResourceBinding: the matching PropagationPolicy /
 * ClusterPropagationPolicy (explicit priority, implicit precedence name >
 * labelSelector > kind, PropagationPolicy over ClusterPropagationPolicy,
 * then name), the filters (APIEnablement, TaintToleration, ClusterAffinity,
 * SpreadConstraint, ClusterEviction) with Karmada's reasons, the
 * ClusterLocality score, clusterAffinities as ordered fallback groups,
 * selection (select.c), division (assign.c), then the quota hook.
 * Capacity comes as numbers or from nodes and pods (capacity.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

/* ---------------------------------------------------------------- policy matching */

/* Karmada's implicit priority of a resourceSelector match: 3 name, 2
 * labelSelector, 1 kind only, 0 miss. */
static int selector_match(const json_t *rs, const json_t *tmpl)
{
    const char *av = fl_sched_json_str(rs, "apiVersion"), *kind = fl_sched_json_str(rs, "kind");
    const char *ns = fl_sched_json_str(rs, "namespace"), *name = fl_sched_json_str(rs, "name");
    if (!av || !kind || strcmp(av, fl_obj_str_or(tmpl, "apiVersion", "")) != 0 ||
        strcmp(kind, fl_obj_str_or(tmpl, "kind", "")) != 0)
        return 0;
    if (ns && ns[0] && strcmp(ns, fl_obj_str_or(tmpl, "metadata.namespace", "")) != 0)
        return 0;
    if (name && name[0])
        return strcmp(name, fl_obj_str_or(tmpl, "metadata.name", "")) == 0 ? 3 : 0;
    const json_t *ls = json_object_get(rs, "labelSelector");
    if (ls && !json_is_null(ls)) {
        fl_label_selector *sel = NULL;
        if (fl_label_selector_from_json(ls, &sel, NULL) != 0)
            return 0;
        bool m = fl_label_selector_matches(sel, fl_obj_get(tmpl, "metadata.labels"));
        fl_label_selector_free(sel);
        return m ? 2 : 0;
    }
    return 1;
}

/* The best implicit priority over a policy's selectors (0: no match). */
static int policy_match(const json_t *pol, const json_t *tmpl)
{
    const char *kind = fl_obj_str_or(pol, "kind", "PropagationPolicy");
    if (strcmp(kind, "PropagationPolicy") == 0 &&
        strcmp(fl_obj_str_or(pol, "metadata.namespace", ""),
               fl_obj_str_or(tmpl, "metadata.namespace", "")) != 0)
        return 0;
    int best = 0;
    size_t i;
    const json_t *rs;
    json_array_foreach(fl_obj_get(pol, "spec.resourceSelectors"), i, rs) {
        int m = selector_match(rs, tmpl);
        best = m > best ? m : best;
    }
    return best;
}

/* true when a should be chosen over b (both match). */
static bool policy_better(const json_t *a, int ma, const json_t *b, int mb)
{
    /* a namespaced policy is looked for first: it beats any cluster policy */
    bool ppa = strcmp(fl_obj_str_or(a, "kind", "PropagationPolicy"), "PropagationPolicy") == 0;
    bool ppb = strcmp(fl_obj_str_or(b, "kind", "PropagationPolicy"), "PropagationPolicy") == 0;
    if (ppa != ppb)
        return ppa;
    json_int_t pa = json_integer_value(fl_obj_get(a, "spec.priority"));
    json_int_t pb = json_integer_value(fl_obj_get(b, "spec.priority"));
    if (pa != pb)
        return pa > pb;
    if (ma != mb)
        return ma > mb;
    return strcmp(fl_obj_str_or(a, "metadata.name", ""), fl_obj_str_or(b, "metadata.name", "")) < 0;
}

/* The policy that claims tmpl among req's "policy" / "policies", or NULL. */
static const json_t *choose_policy(const json_t *req, const json_t *tmpl)
{
    const json_t *one = json_object_get(req, "policy"), *list = json_object_get(req, "policies");
    const json_t *best = NULL;
    int bm = 0;
    if (json_is_object(one))
        return policy_match(one, tmpl) > 0 ? one : NULL;
    size_t i;
    const json_t *p;
    json_array_foreach(list, i, p) {
        int m = policy_match(p, tmpl);
        if (m > 0 && (!best || policy_better(p, m, best, bm))) {
            best = p;
            bm = m;
        }
    }
    return best;
}

/* ---------------------------------------------------------------- filters */

/* A clusterAffinity compiled once per decision (Karmada's util.ClusterMatches). */
typedef struct caff {
    const json_t *aff;      /* NULL: everything matches */
    fl_label_selector *sel; /* parsed labelSelector, or NULL */
    bool bad;               /* an invalid labelSelector matches nothing */
    const json_t *exclude, *names, *fields;
} caff;

static void caff_init(caff *c, const json_t *aff)
{
    memset(c, 0, sizeof *c);
    if (!json_is_object(aff))
        return;
    c->aff = aff;
    c->exclude = json_object_get(aff, "exclude");
    c->names = json_object_get(aff, "clusterNames");
    c->fields = fl_obj_get(aff, "fieldSelector.matchExpressions");
    const json_t *ls = json_object_get(aff, "labelSelector");
    if (ls && !json_is_null(ls) && fl_label_selector_from_json(ls, &c->sel, NULL) != 0)
        c->bad = true;
}

static void caff_done(caff *c)
{
    fl_label_selector_free(c->sel);
}

static bool in_list(const json_t *list, const char *name)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

/* Karmada's matchZones: a cluster in several zones is In when every one
 * of them is listed (and it has one), NotIn when none is. */
static bool zones_match(const json_t *r, const json_t *zones)
{
    const char *op = fl_obj_str_or(r, "operator", "");
    const json_t *vals = json_object_get(r, "values");
    size_t i, n = 0, hit = 0;
    const json_t *z;
    json_array_foreach(zones, i, z) {
        if (!json_is_string(z))
            continue;
        n++;
        hit += in_list(vals, json_string_value(z));
    }
    if (!strcmp(op, "In"))
        return n > 0 && hit == n;
    if (!strcmp(op, "NotIn"))
        return hit == 0;
    if (!strcmp(op, "Exists"))
        return n > 0;
    if (!strcmp(op, "DoesNotExist"))
        return n == 0;
    return false;
}

static bool caff_matches(const caff *c, const json_t *cl)
{
    if (!c->aff)
        return true;
    if (c->bad)
        return false;
    const char *name = fl_obj_str_or(cl, "name", "");
    if (in_list(c->exclude, name))
        return false;
    if (c->sel && !fl_label_selector_matches(c->sel, json_object_get(cl, "labels")))
        return false;
    size_t i;
    const json_t *r;
    json_array_foreach(c->fields, i, r) {
        const char *key = fl_sched_json_str(r, "key");
        if (key && !strcmp(key, "zone") && json_is_array(json_object_get(cl, "zones"))) {
            if (!zones_match(r, json_object_get(cl, "zones")))
                return false;
            continue;
        }
        bool known =
            key && (!strcmp(key, "provider") || !strcmp(key, "region") || !strcmp(key, "zone"));
        const char *have = known ? fl_sched_json_str(cl, key) : NULL;
        if (!fl_sched_req_matches_value(r, have && have[0] ? have : NULL))
            return false;
    }
    return json_array_size(c->names) == 0 || in_list(c->names, name);
}

/* The staticWeightList compiled once per decision. */
typedef struct cweights {
    caff *rule;
    int64_t *weight;
    size_t n;
} cweights;

static int cweights_init(cweights *w, const json_t *placement)
{
    const json_t *list =
        fl_obj_get(placement, "replicaScheduling.weightPreference.staticWeightList");
    w->n = json_array_size(list);
    w->rule = calloc(w->n + 1, sizeof *w->rule);
    w->weight = calloc(w->n + 1, sizeof *w->weight);
    if (!w->rule || !w->weight)
        return -ENOMEM;
    for (size_t i = 0; i < w->n; i++) {
        const json_t *rule = json_array_get(list, i);
        caff_init(&w->rule[i], json_object_get(rule, "targetCluster"));
        w->weight[i] = json_integer_value(json_object_get(rule, "weight"));
    }
    return 0;
}

static void cweights_done(cweights *w)
{
    for (size_t i = 0; w->rule && i < w->n; i++)
        caff_done(&w->rule[i]);
    free(w->rule);
    free(w->weight);
}

/* A cluster's static weight: the max over matching rules, -1 when none. */
static int64_t cweights_of(const cweights *w, const json_t *cl)
{
    int64_t best = -1;
    for (size_t i = 0; i < w->n; i++)
        if (w->weight[i] > best && caff_matches(&w->rule[i], cl))
            best = w->weight[i];
    return best;
}

static int64_t previous_of(const json_t *prev, const char *name)
{
    size_t i;
    const json_t *p;
    json_array_foreach(prev, i, p) {
        if (strcmp(fl_obj_str_or(p, "name", ""), name) == 0)
            return json_integer_value(json_object_get(p, "replicas"));
    }
    return -1;
}

static bool api_enabled(const json_t *cl, const json_t *tmpl)
{
    const json_t *apis = json_object_get(cl, "apis");
    if (!json_is_array(apis))
        return true;
    char want[512];
    snprintf(want, sizeof want, "%s/%s", fl_obj_str_or(tmpl, "apiVersion", ""),
             fl_obj_str_or(tmpl, "kind", ""));
    size_t i;
    const json_t *v;
    json_array_foreach(apis, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

/* Karmada's SpreadConstraint filter: the first grouping field cl lacks. */
static const char *spread_field_missing(const json_t *placement, const json_t *cl)
{
    size_t i;
    const json_t *sc;
    json_array_foreach(json_object_get(placement, "spreadConstraints"), i, sc) {
        const char *f = fl_sched_json_str(sc, "spreadByField");
        const char *v = f && strcmp(f, "cluster") != 0 ? fl_sched_json_str(cl, f) : "x";
        if (f && !strcmp(f, "zone") && fl_sched_zone_key(cl, NULL, 0) > 0)
            v = "x";
        if (v && v[0])
            continue;
        if (!strcmp(f, "provider"))
            return "cluster(s) didn't have provider property";
        if (!strcmp(f, "region"))
            return "cluster(s) didn't have region property";
        if (!strcmp(f, "zone"))
            return "cluster(s) didn't have zone property";
    }
    return NULL;
}

/* The first failing filter's reason for cl, or NULL when it passes. */
/* Karmada's ClusterEviction filter: a cluster the binding's last failover
 * (status.failoverHistory) left, or one of its spec.gracefulEvictionTasks. */
static const char *eviction_filter(const json_t *binding, const char *name, char *buf, size_t size)
{
    const json_t *hist = fl_obj_get(binding, "status.failoverHistory");
    size_t nh = json_array_size(hist), i;
    const json_t *e;
    if (nh > 0) {
        json_array_foreach(fl_obj_get(json_array_get(hist, nh - 1), "clustersBeforeFailover"), i,
                           e) {
            if (json_is_string(e) && strcmp(json_string_value(e), name) == 0) {
                snprintf(buf, size, "workload has been failed over from this cluster %s", name);
                return buf;
            }
        }
    }
    json_array_foreach(fl_obj_get(binding, "spec.gracefulEvictionTasks"), i, e) {
        if (strcmp(fl_obj_str_or(e, "fromCluster", ""), name) == 0)
            return "cluster(s) is in the process of eviction";
    }
    return NULL;
}

static const char *filter(const json_t *placement, const caff *aff, const json_t *cl,
                          const json_t *tmpl, const json_t *prev, const json_t *binding, char *buf,
                          size_t size)
{
    const char *name = fl_obj_str_or(cl, "name", "");
    if (!api_enabled(cl, tmpl))
        return "cluster(s) did not have the API resource";
    const json_t *bad = NULL;
    if (!fl_sched_tolerates_effects(json_object_get(placement, "clusterTolerations"),
                                    json_object_get(cl, "taints"), previous_of(prev, name) >= 0,
                                    &bad)) {
        const char *k = fl_sched_json_str(bad, "key"), *v = fl_sched_json_str(bad, "value");
        snprintf(buf, size, "cluster(s) had untolerated taint {%s%s%s:%s}", k ? k : "",
                 v && v[0] ? "=" : "", v && v[0] ? v : "", fl_obj_str_or(bad, "effect", ""));
        return buf;
    }
    if (!caff_matches(aff, cl))
        return "cluster(s) did not match the placement cluster affinity constraint";
    const char *missing = spread_field_missing(placement, cl);
    if (missing)
        return missing;
    if (json_is_true(json_object_get(cl, "evicting")))
        return "cluster(s) is in the process of eviction";
    return eviction_filter(binding, name, buf, size);
}

/* Exported to the module (sched_int.h): the same matchers for prop.c and
 * override.c. */
int fl_sched_selector_match(const json_t *rs, const json_t *tmpl)
{
    return selector_match(rs, tmpl);
}

const json_t *fl_sched_choose_policy(const json_t *policies, const json_t *tmpl)
{
    json_t *req = json_pack("{s:O}", "policies", (json_t *)policies);
    const json_t *p = req ? choose_policy(req, tmpl) : NULL;
    json_decref(req); /* p points into policies, which the caller holds */
    return p;
}

bool fl_sched_affinity_matches(const json_t *aff, const json_t *cl)
{
    caff c;
    caff_init(&c, aff);
    bool m = caff_matches(&c, cl);
    caff_done(&c);
    return m;
}

/* ---------------------------------------------------------------- decision */

typedef struct reason {
    char text[300];
    int count;
} reason;

static int cmp_reason(const void *a, const void *b)
{
    char x[320], y[320];
    snprintf(x, sizeof x, "%d %s", ((const reason *)a)->count, ((const reason *)a)->text);
    snprintf(y, sizeof y, "%d %s", ((const reason *)b)->count, ((const reason *)b)->text);
    return strcmp(x, y);
}

static void fit_error(reason *rs, size_t nr, size_t n_all, fl_err *err)
{
    char msg[sizeof err->msg];
    size_t off = (size_t)snprintf(msg, sizeof msg, "0/%zu clusters are available: ", n_all);
    qsort(rs, nr, sizeof *rs, cmp_reason);
    for (size_t i = 0; i < nr && off < sizeof msg; i++)
        off += (size_t)snprintf(msg + off, sizeof msg - off, "%s%d %s", i ? ", " : "", rs[i].count,
                                rs[i].text);
    if (off < sizeof msg)
        snprintf(msg + off, sizeof msg - off, ".");
    fl_err_set(err, FL_ESCHED, "%s", msg);
}

static void add_reason(reason *rs, size_t *nr, const char *text)
{
    for (size_t i = 0; i < *nr; i++)
        if (strcmp(rs[i].text, text) == 0) {
            rs[i].count++;
            return;
        }
    fl_strlcpy(rs[*nr].text, text, sizeof rs[*nr].text);
    rs[(*nr)++].count = 1;
}

static const json_t *pod_spec_of(const json_t *tmpl)
{
    const char *kind = fl_obj_str_or(tmpl, "kind", "");
    if (strcmp(kind, "Pod") == 0)
        return json_object_get(tmpl, "spec");
    return fl_obj_get(tmpl, "spec.template.spec");
}

static int64_t replicas_of(const json_t *tmpl)
{
    const char *kind = fl_obj_str_or(tmpl, "kind", "");
    const json_t *r = fl_obj_get(tmpl, "spec.replicas");
    if (strcmp(kind, "Job") == 0)
        r = fl_obj_get(tmpl, "spec.parallelism");
    if (json_is_integer(r))
        return json_integer_value(r);
    if (!strcmp(kind, "Deployment") || !strcmp(kind, "StatefulSet") ||
        !strcmp(kind, "ReplicaSet") || !strcmp(kind, "Job") || !strcmp(kind, "Pod"))
        return 1;
    return 0;
}

static fl_sched_strategy strategy_of(const json_t *placement)
{
    const json_t *rs = json_object_get(placement, "replicaScheduling");
    const char *type = fl_sched_json_str(rs, "replicaSchedulingType");
    if (!rs || !type || strcmp(type, "Divided") != 0)
        return FL_SCHED_DUPLICATED;
    const char *pref = fl_sched_json_str(rs, "replicaDivisionPreference");
    if (pref && strcmp(pref, "Aggregated") == 0)
        return FL_SCHED_AGGREGATED;
    const char *dyn = fl_obj_str(rs, "weightPreference.dynamicWeight");
    return dyn && dyn[0] ? FL_SCHED_DYNAMIC_WEIGHT : FL_SCHED_STATIC_WEIGHT;
}

static int64_t available_of(const json_t *cl, const json_t *tmpl, fl_err *err)
{
    const json_t *a = json_object_get(cl, "available");
    int64_t v = 0;
    if (json_is_integer(a))
        v = json_integer_value(a);
    else if (!json_object_get(cl, "nodes"))
        return -1;
    else if (fl_sched_capacity_json(pod_spec_of(tmpl), json_object_get(cl, "nodes"),
                                    json_object_get(cl, "pods"), &v) != 0) {
        fl_err_set(err, -ENOMEM, "out of memory");
        return -2;
    }
    /* replicas assigned earlier but not running yet are not free */
    v -= json_integer_value(json_object_get(cl, "pending"));
    return v < 0 ? 0 : v;
}

typedef struct decision {
    const json_t *req, *tmpl, *placement, *prev;
    const json_t
        *binding; /* the ResourceBinding so far (eviction tasks, failover history), or NULL */
    const fl_sched_quota *quota;
    int64_t replicas;
    json_t *explain; /* "explain": true — attempts with each cluster's result, else NULL */
} decision;

/* The explain entry of cluster name in attempt at (NULL without explain). */
static json_t *explained(json_t *at, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(at, "clusters"), i, e) {
        if (strcmp(fl_obj_str_or(e, "name", ""), name) == 0)
            return e;
    }
    return NULL;
}

/* One attempt with one affinity term: targets or an error. */
static int try_affinity(const decision *d, const json_t *aff_json, json_t **answer, fl_err *err)
{
    caff aff;
    cweights wl = {0};
    caff_init(&aff, aff_json);
    const json_t *cls = json_object_get(d->req, "clusters");
    size_t n = json_array_size(cls), nc = 0, nr = 0, *sel = NULL, nsel = 0;
    fl_sched_cluster *c = calloc(n + 1, sizeof *c), *chosen = NULL;
    char **zk = calloc(n + 1, sizeof *zk); /* joined zones lists */
    reason *rs = calloc(n + 1, sizeof *rs);
    fl_sched_spread *sp = NULL;
    fl_sched_target *t = NULL;
    size_t nt = 0, nsp = 0;
    char buf[300];
    int rc = -ENOMEM;
    json_t *at = NULL;
    if (!c || !rs || !zk || cweights_init(&wl, d->placement) != 0)
        goto out;
    if (d->explain) {
        at = json_pack("{s:s?,s:[]}", "affinityName", fl_sched_json_str(aff_json, "affinityName"),
                       "clusters");
        json_array_append_new(d->explain, at);
    }
    fl_sched_strategy st = strategy_of(d->placement);
    for (size_t i = 0; i < n; i++) {
        const json_t *cl = json_array_get(cls, i);
        const char *why =
            filter(d->placement, &aff, cl, d->tmpl, d->prev, d->binding, buf, sizeof buf);
        if (at)
            json_array_append_new(json_object_get(at, "clusters"),
                                  json_pack("{s:s,s:s}", "name", fl_obj_str_or(cl, "name", ""),
                                            "filter", why ? why : "passed"));
        if (why) {
            add_reason(rs, &nr, why);
            continue;
        }
        const char *name = fl_obj_str_or(cl, "name", "");
        int64_t cur = previous_of(d->prev, name);
        size_t zl = fl_sched_zone_key(cl, NULL, 0);
        if (zl && (zk[i] = malloc(zl)))
            fl_sched_zone_key(cl, zk[i], zl);
        c[nc] = (fl_sched_cluster){name,
                                   fl_sched_json_str(cl, "region"),
                                   zk[i] ? zk[i] : fl_sched_json_str(cl, "zone"),
                                   fl_sched_json_str(cl, "provider"),
                                   cur >= 0 ? 100 : 0,
                                   cweights_of(&wl, cl),
                                   -1,
                                   cur > 0 ? cur : 0};
        c[nc].available = available_of(cl, d->tmpl, err);
        if (c[nc].available == -2)
            goto out;
        json_t *e = at ? explained(at, name) : NULL;
        if (e) {
            json_object_set_new(e, "score", json_integer(c[nc].score));
            json_object_set_new(e, "available",
                                c[nc].available >= 0 ? json_integer(c[nc].available) : json_null());
            if (st == FL_SCHED_STATIC_WEIGHT)
                json_object_set_new(e, "weight", json_integer(c[nc].weight));
        }
        nc++;
    }
    if (nc == 0) {
        fit_error(rs, nr, n, err);
        rc = FL_ESCHED;
        goto out;
    }
    sp = fl_sched_parse_spread(json_object_get(d->placement, "spreadConstraints"), &nsp, err);
    if (!sp) {
        rc = err && err->code ? err->code : -ENOMEM;
        goto out;
    }
    /* selection counts replicas already there as available */
    for (size_t i = 0; i < nc; i++)
        if (c[i].available >= 0)
            c[i].available += c[i].current;
    fl_sched_select_in si = {
        st == FL_SCHED_DUPLICATED, st == FL_SCHED_STATIC_WEIGHT, d->replicas, sp, nsp, c, nc};
    if ((rc = fl_sched_select(&si, &sel, &nsel, err)) != 0)
        goto out;
    for (size_t i = 0; i < nc; i++)
        if (c[i].available >= 0)
            c[i].available -= c[i].current;
    chosen = calloc(nsel + 1, sizeof *chosen);
    if (!chosen) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nsel; i++) {
        chosen[i] = c[sel[i]];
        json_t *e = at ? explained(at, chosen[i].name) : NULL;
        if (e)
            json_object_set_new(e, "selected", json_true());
    }
    const char *mode = fl_sched_json_str(d->req, "mode");
    fl_sched_assign_in ai = {st,
                             d->replicas,
                             fl_obj_str_or(d->tmpl, "metadata.uid", ""),
                             mode && strcmp(mode, "Fresh") == 0,
                             chosen,
                             nsel,
                             NULL,
                             0};
    if ((rc = fl_sched_assign(&ai, &t, &nt, err)) != 0)
        goto out;
    for (size_t i = 0; at && i < nt; i++) {
        json_t *e = explained(at, t[i].name);
        if (e)
            json_object_set_new(e, "replicas", json_integer(t[i].replicas));
    }
    if (at)
        json_object_set_new(
            at, "quota", json_string(d->quota && d->quota->reserve ? "reserved" : "not checked"));
    if (d->quota && d->quota->reserve) {
        json_t *reqs = fl_sched_requests_json(pod_spec_of(d->tmpl));
        const char *ns = fl_obj_str_or(d->tmpl, "metadata.namespace", "");
        for (size_t i = 0; rc == 0 && i < nt; i++) {
            int64_t cur = previous_of(d->prev, t[i].name),
                    add = t[i].replicas - (cur > 0 ? cur : 0);
            if (add > 0)
                rc = d->quota->reserve(d->quota->ud, ns, t[i].name, add, reqs, err);
        }
        json_decref(reqs);
        if (rc)
            goto out;
    }
    *answer = json_pack("{s:o}", "clusters", fl_sched_targets_json(t, nt));
    rc = *answer ? 0 : -ENOMEM;
out:
    if (rc == -ENOMEM)
        fl_err_set(err, rc, "out of memory");
    if (at && rc)
        json_object_set_new(at, rc == FL_EQUOTA ? "quota" : "error", json_string(err->msg));
    caff_done(&aff);
    cweights_done(&wl);
    for (size_t i = 0; zk && i < n; i++)
        free(zk[i]);
    free(zk);
    free(c);
    free(rs);
    free(sp);
    free(sel);
    free(chosen);
    free(t);
    return rc;
}

/* ---------------------------------------------------------------- the op's ledger */

/* A ledger from the request's "quota" ({"name","hard","used"}, or a list
 * of them: every one must allow): what the debug op and the daemon's dry
 * run use to show QuotaExceeded without reserving; propagation wires
 * quota/ instead. */
typedef struct ledger {
    const json_t *q; /* the quota being checked */
    json_t *used;    /* that quota's name -> resource -> milli added so far */
} ledger;

static void fmt_milli(int64_t m, char *buf, size_t size)
{
    fl_quantity q;
    fl_quantity_from_milli(m, FL_QTY_DECIMAL_SI, &q);
    fl_quantity_format(&q, buf, size);
}

static int64_t ledger_used(const ledger *l, const char *k)
{
    const json_t *u = json_object_get(json_object_get(l->used, fl_obj_str_or(l->q, "name", "")), k);
    if (u)
        return json_integer_value(u);
    return fl_sched_milli(json_object_get(json_object_get(l->q, "used"), k));
}

static int64_t ledger_per(const char *k, const json_t *requests)
{
    const char *res = fl_str_has_prefix(k, "requests.") ? k + 9 : k;
    return strcmp(res, "pods") == 0 ? 1000 : fl_sched_milli(json_object_get(requests, res));
}

static int ledger_reserve_one(ledger *l, const char *ns, const char *cluster, int64_t replicas,
                              const json_t *requests, fl_err *err)
{
    const char *k;
    const json_t *hard;
    char rq[256] = "", us[256] = "", li[256] = "";
    bool over = false;
    json_object_foreach(json_object_get(l->q, "hard"), k, hard) {
        int64_t want = ledger_per(k, requests) * replicas, used = ledger_used(l, k);
        if (want > 0 && used + want > fl_sched_milli(hard)) {
            char a[64], b[64], c[64];
            fmt_milli(want, a, sizeof a);
            fmt_milli(used, b, sizeof b);
            fmt_milli(fl_sched_milli(hard), c, sizeof c);
            size_t o1 = strlen(rq), o2 = strlen(us), o3 = strlen(li);
            snprintf(rq + o1, sizeof rq - o1, "%s%s=%s", over ? "," : "", k, a);
            snprintf(us + o2, sizeof us - o2, "%s%s=%s", over ? "," : "", k, b);
            snprintf(li + o3, sizeof li - o3, "%s%s=%s", over ? "," : "", k, c);
            over = true;
        }
    }
    if (over)
        return fl_err_set(err, FL_EQUOTA,
                          "exceeded quota: %s, requested: %s, used: %s, limited: %s (cluster %s, "
                          "namespace %s)",
                          fl_obj_str_or(l->q, "name", "quota"), rq, us, li, cluster, ns);
    const char *qn = fl_obj_str_or(l->q, "name", "");
    json_t *mine = json_object_get(l->used, qn);
    if (!mine)
        json_object_set_new(l->used, qn, mine = json_object());
    json_object_foreach(json_object_get(l->q, "hard"), k, hard) {
        json_object_set_new(mine, k,
                            json_integer(ledger_used(l, k) + ledger_per(k, requests) * replicas));
    }
    return 0;
}

typedef struct ledgers {
    const json_t *list; /* array of quotas */
    json_t *used;
} ledgers;

/* Every quota must allow (checked first), then every one records the use. */
static int ledger_reserve(void *ud, const char *ns, const char *cluster, int64_t replicas,
                          const json_t *requests, fl_err *err)
{
    ledgers *ls = ud;
    size_t i;
    const json_t *q;
    json_t *trial = json_deep_copy(ls->used);
    json_array_foreach(ls->list, i, q) {
        ledger l = {q, trial};
        int rc = ledger_reserve_one(&l, ns, cluster, replicas, requests, err);
        if (rc) {
            json_decref(trial);
            return rc;
        }
    }
    json_object_update(ls->used, trial);
    json_decref(trial);
    return 0;
}

json_t *fl_sched_op_place(const json_t *req, const fl_sched_quota *quota, fl_err *err)
{
    const json_t *tmpl = json_object_get(req, "template");
    const json_t *cls = json_object_get(req, "clusters");
    if (!json_is_object(tmpl) || !json_is_array(cls) ||
        json_array_size(cls) > FL_SCHED_MAX_CLUSTERS) {
        fl_err_set(err, FL_EPARSE, "members \"template\" (object) and \"clusters\" (array) needed");
        return NULL;
    }
    const json_t *pol = choose_policy(req, tmpl);
    if (!pol)
        return fl_sched_error(
            "no PropagationPolicy or ClusterPropagationPolicy matches the template",
            "NoPolicyMatch");
    const json_t *rq = json_object_get(req, "quota");
    json_t *qlist = json_is_array(rq)    ? json_incref((json_t *)rq)
                    : json_is_object(rq) ? json_pack("[O]", rq)
                                         : NULL;
    ledgers l = {qlist, json_object()};
    fl_sched_quota own = {ledger_reserve, &l};
    if (!quota && json_array_size(qlist))
        quota = &own;
    decision d = {req,
                  tmpl,
                  fl_obj_get(pol, "spec.placement"),
                  json_object_get(req, "previous"),
                  json_object_get(req, "binding"),
                  quota,
                  replicas_of(tmpl),
                  json_is_true(json_object_get(req, "explain")) ? json_array() : NULL};
    json_t *answer = NULL;
    fl_err first = FL_ERR_INIT, e = FL_ERR_INIT;
    int rc;
    const json_t *terms = json_object_get(d.placement, "clusterAffinities");
    if (json_array_size(terms) == 0) {
        rc = try_affinity(&d, json_object_get(d.placement, "clusterAffinity"), &answer, &first);
    } else {
        /* ordered fallback groups, starting from the one in use */
        size_t start = 0, i;
        const json_t *term;
        const char *in_use = fl_sched_json_str(req, "affinityName");
        json_array_foreach(terms, i, term) {
            if (in_use && strcmp(fl_obj_str_or(term, "affinityName", ""), in_use) == 0)
                start = i;
        }
        rc = FL_ESCHED;
        for (i = start; i < json_array_size(terms) && rc != 0; i++) {
            term = json_array_get(terms, i);
            e = (fl_err)FL_ERR_INIT;
            rc = try_affinity(&d, term, &answer, &e);
            if (rc == 0)
                json_object_set_new(answer, "affinityName",
                                    json_string(fl_obj_str_or(term, "affinityName", "")));
            else if (!first.code)
                first = e;
            if (rc == -ENOMEM || rc == FL_EQUOTA)
                break;
        }
        if (rc == FL_EQUOTA)
            first = e;
    }
    json_decref(l.used);
    json_decref(qlist);
    if (rc != 0)
        answer = fl_sched_error(first.msg, rc == FL_EQUOTA ? "QuotaExceeded" : "NoClusterFit");
    if (answer && d.explain) {
        static const char *const names[] = {"Duplicated", "StaticWeight", "DynamicWeight",
                                            "Aggregated"};
        char pname[600];
        snprintf(pname, sizeof pname, "%s%s%s", fl_obj_str_or(pol, "metadata.namespace", ""),
                 fl_obj_str(pol, "metadata.namespace") ? "/" : "",
                 fl_obj_str_or(pol, "metadata.name", ""));
        json_object_set_new(answer, "explain",
                            json_pack("{s:s,s:s,s:s,s:I,s:o}", "policy", pname, "kind",
                                      fl_obj_str_or(pol, "kind", "PropagationPolicy"), "strategy",
                                      names[strategy_of(d.placement)], "replicas",
                                      (json_int_t)d.replicas, "attempts", d.explain));
    } else {
        json_decref(d.explain);
    }
    return answer;
}
