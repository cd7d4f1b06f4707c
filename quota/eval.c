/*
 * quota/eval.c: what a Kubernetes object costs under ResourceQuota, with
 * kube-apiserver v1.26's evaluators (pkg/quota/v1/evaluator/core and the
 * generic object-count evaluator): Handles, MatchingResources, scope
 * matching (Terminating, NotTerminating, BestEffort, NotBestEffort,
 * PriorityClass via scopeSelector, CrossNamespacePodAffinity), Constraints
 * ("must specify ... for: <containers>") and Usage. Pods count requests and
 * limits as upstream: app containers summed, each init container taken as a
 * max against that sum, overhead added; terminal pods (and pods past their
 * deletion grace period) only count as count/pods. Above rl.c; uses
 * kube/labels.h for scope selectors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota/quota_int.h"

#define STORAGE_CLASS_SUFFIX ".storageclass.storage.k8s.io/"

void qev_for(const char *group, const char *resource, evaluator *ev)
{
    static const char *const aliases[] = {"configmaps", "secrets", "replicationcontrollers",
                                          "resourcequotas"};
    memset(ev, 0, sizeof *ev);
    if (*group)
        snprintf(ev->count_name, sizeof ev->count_name, "count/%s.%s", resource, group);
    else
        snprintf(ev->count_name, sizeof ev->count_name, "count/%s", resource);
    ev->kind = EV_COUNT;
    if (*group)
        return;
    if (strcmp(resource, "pods") == 0)
        ev->kind = EV_POD;
    else if (strcmp(resource, "services") == 0)
        ev->kind = EV_SERVICE;
    else if (strcmp(resource, "persistentvolumeclaims") == 0)
        ev->kind = EV_PVC;
    for (size_t i = 0; i < FL_ARRAY_LEN(aliases); i++)
        if (strcmp(resource, aliases[i]) == 0)
            ev->alias = aliases[i];
}

bool qev_handles(const evaluator *ev, const char *op)
{
    bool create = strcmp(op, "CREATE") == 0, update = strcmp(op, "UPDATE") == 0;
    switch (ev->kind) {
    case EV_SERVICE:
    case EV_PVC: return create || update;
    case EV_POD:
    case EV_COUNT: return create;
    }
    return false;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static bool pod_resource(const char *name)
{
    static const char *const res[] = {
        "count/pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
    };
    if (in_list(name, res, FL_ARRAY_LEN(res)))
        return true;
    if (fl_str_has_prefix(name, "hugepages-") || fl_str_has_prefix(name, "requests.hugepages-"))
        return true;
    /* isExtendedResourceNameForQuota */
    return !q_is_native_resource(name) && fl_str_has_prefix(name, "requests.");
}

static bool pvc_resource(const char *name)
{
    static const char *const res[] = {"count/persistentvolumeclaims", "persistentvolumeclaims",
                                      "requests.storage"};
    if (in_list(name, res, FL_ARRAY_LEN(res)))
        return true;
    return fl_str_has_suffix(name, STORAGE_CLASS_SUFFIX "persistentvolumeclaims") ||
           fl_str_has_suffix(name, STORAGE_CLASS_SUFFIX "requests.storage");
}

bool qev_matches_resource(const evaluator *ev, const char *name)
{
    static const char *const svc[] = {"count/services", "services", "services.nodeports",
                                      "services.loadbalancers"};
    switch (ev->kind) {
    case EV_POD: return pod_resource(name);
    case EV_SERVICE: return in_list(name, svc, FL_ARRAY_LEN(svc));
    case EV_PVC: return pvc_resource(name);
    case EV_COUNT:
        return strcmp(name, ev->count_name) == 0 || (ev->alias && strcmp(name, ev->alias) == 0);
    }
    return false;
}

/* ---------------------------------------------------------------- pods */

/* The containers array at spec.<key> (NULL when absent). */
static int containers(const json_t *pod, const char *key, const json_t **out, fl_err *err)
{
    const json_t *a = json_object_get(json_object_get(pod, "spec"), key);
    *out = NULL;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a) || json_array_size(a) > FL_QUOTA_MAX_CONTAINERS)
        return fl_err_set(err, FL_EPARSE, "spec.%s: must be an array of at most %d containers", key,
                          FL_QUOTA_MAX_CONTAINERS);
    *out = a;
    return 0;
}

/* A container's requests and limits, with the apiserver's defaulting
 * (a limit without a request makes the request equal to the limit). */
static int container_resources(const json_t *c, rl *req, rl *lim, fl_err *err)
{
    if (!json_is_object(c))
        return fl_err_set(err, FL_EPARSE, "a container must be an object");
    const json_t *r = json_object_get(c, "resources");
    if (r && !json_is_null(r) && !json_is_object(r))
        return fl_err_set(err, FL_EPARSE, "container resources: must be an object");
    int rc = qrl_parse(req, json_object_get(r, "requests"), "resources.requests", err);
    if (!rc)
        rc = qrl_parse(lim, json_object_get(r, "limits"), "resources.limits", err);
    for (size_t i = 0; !rc && i < lim->n; i++)
        if (!qrl_get(req, lim->v[i].name) && qrl_set(req, lim->v[i].name, &lim->v[i].q) != 0)
            rc = fl_err_set(err, -ENOMEM, "out of memory");
    return rc;
}

/* requests.<name> unless name already has the prefix. */
static void requests_name(const char *name, char *out, size_t size)
{
    if (fl_str_has_prefix(name, "requests."))
        snprintf(out, size, "%s", name);
    else
        snprintf(out, size, "requests.%s", name);
}

/* podComputeUsageHelper */
static int compute_usage(const rl *req, const rl *lim, rl *out)
{
    static const char *const std[] = {"cpu", "memory", "ephemeral-storage"};
    fl_quantity one;
    q_int(1, &one);
    int rc = qrl_set(out, "pods", &one);
    for (size_t i = 0; !rc && i < FL_ARRAY_LEN(std); i++) {
        char name[64];
        const fl_quantity *r = qrl_get(req, std[i]), *l = qrl_get(lim, std[i]);
        if (r) {
            snprintf(name, sizeof name, "requests.%s", std[i]);
            rc = qrl_set(out, std[i], r);
            if (!rc)
                rc = qrl_set(out, name, r);
        }
        if (!rc && l) {
            snprintf(name, sizeof name, "limits.%s", std[i]);
            rc = qrl_set(out, name, l);
        }
    }
    for (size_t i = 0; !rc && i < req->n; i++) {
        char name[FL_QUOTA_NAME_MAX + 16];
        const char *n = req->v[i].name;
        requests_name(n, name, sizeof name);
        if (fl_str_has_prefix(n, "hugepages-")) {
            rc = qrl_set(out, n, &req->v[i].q);
            if (!rc)
                rc = qrl_set(out, name, &req->v[i].q);
        }
        if (!rc && q_is_extended_resource(n))
            rc = qrl_set(out, name, &req->v[i].q);
    }
    return rc;
}

/* QuotaV1Pod: false for terminal pods and pods past deletion + grace. */
static bool pod_counts(const json_t *pod, int64_t now)
{
    const char *phase = fl_obj_str_or(pod, "status.phase", "");
    if (strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0)
        return false;
    const char *del = fl_obj_str(pod, "metadata.deletionTimestamp");
    const json_t *grace = fl_obj_get(pod, "metadata.deletionGracePeriodSeconds");
    int64_t t;
    if (del && json_is_integer(grace) && fl_time_parse(del, &t) == 0 &&
        now > t + json_integer_value(grace))
        return false;
    return true;
}

/* Sum of app containers, max with each init container, plus overhead. */
static int pod_requests_limits(const json_t *pod, rl *req, rl *lim, fl_err *err)
{
    const json_t *cs = NULL, *ics = NULL, *c;
    size_t i;
    int rc = containers(pod, "containers", &cs, err);
    if (!rc)
        rc = containers(pod, "initContainers", &ics, err);
    json_array_foreach(cs, i, c) {
        rl r = RL_INIT, l = RL_INIT;
        if (rc)
            break;
        rc = container_resources(c, &r, &l, err);
        if (!rc && (qrl_add(req, &r) != 0 || qrl_add(lim, &l) != 0))
            rc = fl_err_set(err, -ERANGE, "pod usage too large");
        qrl_done(&r), qrl_done(&l);
    }
    json_array_foreach(ics, i, c) {
        rl r = RL_INIT, l = RL_INIT;
        if (rc)
            break;
        rc = container_resources(c, &r, &l, err);
        if (!rc && (qrl_max(req, &r) != 0 || qrl_max(lim, &l) != 0))
            rc = fl_err_set(err, -ENOMEM, "out of memory");
        qrl_done(&r), qrl_done(&l);
    }
    rl over = RL_INIT;
    if (!rc)
        rc = qrl_parse(&over, fl_obj_get(pod, "spec.overhead"), "spec.overhead", err);
    if (!rc && (qrl_add(req, &over) != 0 || qrl_add(lim, &over) != 0))
        rc = fl_err_set(err, -ERANGE, "pod usage too large");
    qrl_done(&over);
    return rc;
}

int qev_pod_usage_from(const rl *req, const rl *lim, bool counts, rl *out)
{
    fl_quantity one;
    rl comp = RL_INIT;
    q_int(1, &one);
    int rc = qrl_set(out, "count/pods", &one);
    if (!rc && counts && (rc = compute_usage(req, lim, &comp)) == 0)
        rc = qrl_add(out, &comp);
    qrl_done(&comp);
    return rc;
}

static int pod_usage(const json_t *pod, int64_t now, rl *out, fl_err *err)
{
    fl_quantity one;
    q_int(1, &one);
    if (!json_is_object(pod))
        return fl_err_set(err, FL_EPARSE, "a pod must be an object");
    int rc = qrl_set(out, "count/pods", &one);
    if (rc || !pod_counts(pod, now))
        return rc;
    rl req = RL_INIT, lim = RL_INIT, comp = RL_INIT;
    rc = pod_requests_limits(pod, &req, &lim, err);
    if (!rc && (compute_usage(&req, &lim, &comp) != 0 || qrl_add(out, &comp) != 0))
        rc = fl_err_set(err, -ERANGE, "pod usage too large");
    qrl_done(&req), qrl_done(&lim), qrl_done(&comp);
    return rc;
}

/* qos.GetPodQOS(pod) == BestEffort: no container asks for cpu or memory. */
static bool best_effort(const json_t *pod)
{
    static const char *const keys[] = {"containers", "initContainers"};
    for (size_t k = 0; k < FL_ARRAY_LEN(keys); k++) {
        const json_t *cs = json_object_get(json_object_get(pod, "spec"), keys[k]), *c;
        size_t i;
        json_array_foreach(cs, i, c) {
            static const char *const paths[] = {"resources.requests", "resources.limits"};
            for (size_t p = 0; p < 2; p++) {
                rl l = RL_INIT;
                bool any = false;
                if (qrl_parse(&l, fl_obj_get(c, paths[p]), "r", NULL) == 0)
                    for (size_t j = 0; j < l.n; j++)
                        any = any ||
                              ((!strcmp(l.v[j].name, "cpu") || !strcmp(l.v[j].name, "memory")) &&
                               fl_quantity_sign(&l.v[j].q) > 0);
                qrl_done(&l);
                if (any)
                    return false;
            }
        }
    }
    return true;
}

static bool terminating(const json_t *pod)
{
    const json_t *ads = fl_obj_get(pod, "spec.activeDeadlineSeconds");
    return json_is_integer(ads) && json_integer_value(ads) >= 0;
}

/* usesCrossNamespacePodAffinity */
static bool cross_ns_affinity(const json_t *pod)
{
    static const char *const kinds[] = {"podAffinity", "podAntiAffinity"};
    static const char *const lists[] = {"requiredDuringSchedulingIgnoredDuringExecution",
                                        "preferredDuringSchedulingIgnoredDuringExecution"};
    const json_t *aff = fl_obj_get(pod, "spec.affinity");
    for (size_t k = 0; k < 2; k++)
        for (size_t l = 0; l < 2; l++) {
            const json_t *terms = json_object_get(json_object_get(aff, kinds[k]), lists[l]), *t;
            size_t i;
            json_array_foreach(terms, i, t) {
                const json_t *term = l == 1 ? json_object_get(t, "podAffinityTerm") : t;
                const json_t *nss = json_object_get(term, "namespaces");
                const json_t *sel = json_object_get(term, "namespaceSelector");
                if (json_array_size(nss) > 0 || (sel && !json_is_null(sel)))
                    return true;
            }
        }
    return false;
}

/* podMatchesSelector: the scope selector as a label selector over
 * {PriorityClass: <priorityClassName>} (no labels when it has none). */
static int priority_matches(const json_t *sel, const json_t *pod, bool *match, fl_err *err)
{
    const char *op = json_string_value(json_object_get(sel, "operator"));
    const char *pcn = fl_obj_str_or(pod, "spec.priorityClassName", "");
    if (op && strcmp(op, "Exists") == 0) {
        *match = *pcn != 0;
        return 0;
    }
    if (!op || (strcmp(op, "In") && strcmp(op, "NotIn") && strcmp(op, "DoesNotExist")))
        return fl_err_set(err, FL_EPARSE,
                          "failed to parse and convert selector: \"%s\" is not a valid scope "
                          "selector operator",
                          op ? op : "");
    json_t *expr = json_pack("{s:s,s:s}", "key", "PriorityClass", "operator", op);
    const json_t *vals = json_object_get(sel, "values");
    if (expr && vals)
        json_object_set(expr, "values", (json_t *)vals);
    json_t *ls = expr ? json_pack("{s:[o]}", "matchExpressions", expr) : NULL;
    json_t *labels = *pcn ? json_pack("{s:s}", "PriorityClass", pcn) : NULL;
    fl_label_selector *s = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = ls ? fl_label_selector_from_json(ls, &s, &e) : -ENOMEM;
    if (rc == 0)
        *match = fl_label_selector_matches(s, labels);
    else
        fl_err_set(err, FL_EPARSE, "failed to parse and convert selector: %s", e.msg);
    fl_label_selector_free(s);
    json_decref(ls);
    json_decref(labels);
    return rc ? FL_EPARSE : 0;
}

int qev_matches_scope(const evaluator *ev, const json_t *sel, const json_t *obj, bool *match,
                      fl_err *err)
{
    const char *scope = json_string_value(json_object_get(sel, "scopeName"));
    *match = false;
    if (ev->kind != EV_POD || !scope)
        return 0; /* generic.MatchesNoScopeFunc */
    if (strcmp(scope, "Terminating") == 0)
        *match = terminating(obj);
    else if (strcmp(scope, "NotTerminating") == 0)
        *match = !terminating(obj);
    else if (strcmp(scope, "BestEffort") == 0)
        *match = best_effort(obj);
    else if (strcmp(scope, "NotBestEffort") == 0)
        *match = !best_effort(obj);
    else if (strcmp(scope, "CrossNamespacePodAffinity") == 0)
        *match = cross_ns_affinity(obj);
    else if (strcmp(scope, "PriorityClass") == 0)
        return priority_matches(sel, obj, match, err);
    return 0;
}

/* ---------------------------------------------------------------- constraints */

static const char *const validation_set[] = {
    "cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"};
#define NVALIDATION FL_ARRAY_LEN(validation_set)

/* missing[i]: "," separated container names lacking validation_set[i]. */
static int check_container(const json_t *c, const rl *required, fl_buf *missing, fl_err *err)
{
    rl req = RL_INIT, lim = RL_INIT, usage = RL_INIT;
    int rc = container_resources(c, &req, &lim, err);
    if (!rc && compute_usage(&req, &lim, &usage) != 0)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    const char *name = json_string_value(json_object_get(c, "name"));
    for (size_t i = 0; !rc && i < NVALIDATION; i++) {
        if (!qrl_get(required, validation_set[i]) || qrl_get(&usage, validation_set[i]))
            continue;
        fl_buf_printf(&missing[i], "%s%s", missing[i].len ? "," : "", name ? name : "");
    }
    qrl_done(&req), qrl_done(&lim), qrl_done(&usage);
    return rc;
}

/* Container names sorted (sets.String.List()). */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sort_names(fl_buf *b)
{
    char *copy = b->data ? strdup(b->data) : NULL;
    if (!copy)
        return;
    size_t n = 1;
    for (char *p = copy; *p; p++)
        n += *p == ',';
    char **v = calloc(n, sizeof *v);
    if (!v) {
        free(copy);
        return;
    }
    size_t k = 0;
    for (char *p = copy, *s = copy;; p++)
        if (*p == ',' || *p == 0) {
            bool end = *p == 0;
            *p = 0;
            v[k++] = s;
            s = p + 1;
            if (end)
                break;
        }
    qsort(v, k, sizeof *v, cmp_str);
    fl_buf_reset(b);
    for (size_t i = 0; i < k; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            fl_buf_printf(b, "%s%s", b->len ? "," : "", v[i]);
    free(v);
    free(copy);
}

int qev_constraints(const evaluator *ev, const rl *required, const json_t *obj, fl_buf *msg,
                    fl_err *err)
{
    if (ev->kind != EV_POD)
        return 0;
    fl_buf missing[NVALIDATION];
    for (size_t i = 0; i < NVALIDATION; i++)
        fl_buf_init(&missing[i], 1u << 20);
    static const char *const keys[] = {"containers", "initContainers"};
    int rc = 0;
    for (size_t k = 0; !rc && k < 2; k++) {
        const json_t *cs, *c;
        size_t i;
        rc = containers(obj, keys[k], &cs, err);
        json_array_foreach(cs, i, c) {
            if (rc)
                break;
            rc = check_container(c, required, missing, err);
        }
    }
    /* validation_set is not sorted: emit resources in sorted order */
    static const size_t order[] = {0, 4, 5,
                                   1, 2, 3}; /* cpu limits.cpu limits.memory memory requests.* */
    bool any = false;
    for (size_t j = 0; !rc && j < NVALIDATION; j++) {
        size_t i = order[j];
        if (!missing[i].len)
            continue;
        sort_names(&missing[i]);
        fl_buf_printf(msg, "%s%s for: %s", any ? "; " : "must specify ", validation_set[i],
                      missing[i].data);
        any = true;
    }
    for (size_t i = 0; i < NVALIDATION; i++)
        fl_buf_done(&missing[i]);
    return rc ? rc : any ? 1 : 0;
}

/* ---------------------------------------------------------------- usage */

static int service_usage(const json_t *svc, rl *out, fl_err *err)
{
    fl_quantity one, zero = FL_QUANTITY_ZERO, ports;
    q_int(1, &one);
    const json_t *pa = fl_obj_get(svc, "spec.ports");
    if (pa && !json_is_null(pa) && !json_is_array(pa))
        return fl_err_set(err, FL_EPARSE, "spec.ports: must be an array");
    int64_t nports = (int64_t)json_array_size(pa);
    const char *type = fl_obj_str_or(svc, "spec.type", "");
    int rc = qrl_set(out, "count/services", &one);
    if (!rc)
        rc = qrl_set(out, "services", &one);
    if (!rc)
        rc = qrl_set(out, "services.loadbalancers", &zero);
    if (!rc)
        rc = qrl_set(out, "services.nodeports", &zero);
    if (!rc && strcmp(type, "NodePort") == 0) {
        q_int(nports, &ports);
        rc = qrl_set(out, "services.nodeports", &ports);
    } else if (!rc && strcmp(type, "LoadBalancer") == 0) {
        const json_t *alloc = fl_obj_get(svc, "spec.allocateLoadBalancerNodePorts");
        if (json_is_false(alloc)) { /* only ports that have a node port */
            size_t i;
            const json_t *p;
            nports = 0;
            json_array_foreach(pa, i, p) {
                const json_t *np = json_object_get(p, "nodePort");
                nports += json_is_integer(np) && json_integer_value(np) != 0;
            }
        }
        q_int(nports, &ports);
        rc = qrl_set(out, "services.nodeports", &ports);
        if (!rc)
            rc = qrl_set(out, "services.loadbalancers", &one);
    }
    return rc ? fl_err_set(err, rc, "%s", fl_strerror(rc)) : 0;
}

static int pvc_usage(const json_t *pvc, rl *out, fl_err *err)
{
    fl_quantity one;
    q_int(1, &one);
    const json_t *ann = fl_obj_get(pvc, "metadata.annotations");
    const char *sc =
        json_string_value(json_object_get(ann, "volume.beta.kubernetes.io/storage-class"));
    if (!sc)
        sc = fl_obj_str_or(pvc, "spec.storageClassName", "");
    char name[FL_QUOTA_NAME_MAX * 2];
    int rc = qrl_set(out, "persistentvolumeclaims", &one);
    if (!rc)
        rc = qrl_set(out, "count/persistentvolumeclaims", &one);
    if (!rc && *sc && strlen(sc) < FL_QUOTA_NAME_MAX) {
        snprintf(name, sizeof name, "%s" STORAGE_CLASS_SUFFIX "persistentvolumeclaims", sc);
        rc = qrl_set(out, name, &one);
    }
    rl req = RL_INIT;
    if (!rc)
        rc = qrl_parse(&req, fl_obj_get(pvc, "spec.resources.requests"), "spec.resources.requests",
                       err);
    const fl_quantity *st = qrl_get(&req, "storage");
    if (!rc && st) {
        rc = qrl_set(out, "requests.storage", st);
        if (!rc && *sc && strlen(sc) < FL_QUOTA_NAME_MAX) {
            snprintf(name, sizeof name, "%s" STORAGE_CLASS_SUFFIX "requests.storage", sc);
            rc = qrl_set(out, name, st);
        }
    }
    qrl_done(&req);
    return rc == -ENOMEM || rc == -E2BIG ? fl_err_set(err, rc, "%s", fl_strerror(rc)) : rc;
}

int qev_usage(const evaluator *ev, const json_t *obj, int64_t now_unix, rl *out, fl_err *err)
{
    if (!json_is_object(obj))
        return fl_err_set(err, FL_EPARSE, "the object must be a JSON object");
    fl_quantity one;
    q_int(1, &one);
    switch (ev->kind) {
    case EV_POD: return pod_usage(obj, now_unix, out, err);
    case EV_SERVICE: return service_usage(obj, out, err);
    case EV_PVC: return pvc_usage(obj, out, err);
    case EV_COUNT: {
        int rc = qrl_set(out, ev->count_name, &one);
        if (!rc && ev->alias)
            rc = qrl_set(out, ev->alias, &one);
        return rc ? fl_err_set(err, rc, "%s", fl_strerror(rc)) : 0;
    }
    }
    return 0;
}
