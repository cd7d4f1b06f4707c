/*
 * quota/admit.c: kube-apiserver's ResourceQuota admission decision
 * (plugin/pkg/admission/resourcequota CheckRequest, v1.26) over KarmadaQuota
 * or ResourceQuota objects whose used is the fleet-wide ledger's, plus
 * Flotilla's check of workloads (replicas x pod template must fit, nothing
 * charged). The top layer of the pure engine: uses eval.c and rl.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quota/quota_int.h"

static int cmp_qent(const void *a, const void *b)
{
    const qent *x = a, *y = b;
    if (x->frq != y->frq)
        return x->frq ? 1 : -1; /* ResourceQuota-style quotas first, then FRQs */
    return strcmp(x->name, y->name);
}

void qents_sort(qent *q, size_t n)
{
    if (n > 1)
        qsort(q, n, sizeof *q, cmp_qent);
}

void qents_free_one(qent *q)
{
    qrl_done(&q->hard), qrl_done(&q->used);
    json_decref(q->selectors);
    memset(q, 0, sizeof *q);
}

void qents_free(qent *q, size_t n)
{
    for (size_t i = 0; q && i < n; i++) {
        qrl_done(&q[i].hard), qrl_done(&q[i].used);
        json_decref(q[i].selectors);
    }
    free(q);
}

/* getScopeSelectorsFromQuota */
static int selectors_of(const json_t *quota, json_t **out, fl_err *err)
{
    const json_t *scopes = fl_obj_get(quota, "spec.scopes"), *s;
    const json_t *exprs = fl_obj_get(quota, "spec.scopeSelector.matchExpressions");
    json_t *a = json_array();
    size_t i;
    if (!a)
        return -ENOMEM;
    if ((scopes && !json_is_array(scopes) && !json_is_null(scopes)) ||
        (exprs && !json_is_array(exprs) && !json_is_null(exprs))) {
        json_decref(a);
        return fl_err_set(err, FL_EPARSE,
                          "quota %s: spec.scopes and scopeSelector.matchExpressions "
                          "must be arrays",
                          fl_obj_str_or(quota, "metadata.name", ""));
    }
    json_array_foreach(scopes, i, s)
        json_array_append_new(a, json_pack("{s:O,s:s}", "scopeName", s, "operator", "Exists"));
    json_array_foreach(exprs, i, s)
        json_array_append(a, (json_t *)s);
    *out = a;
    return 0;
}

int qent_from_quota(const json_t *quota, const json_t *used_map, qent *q, fl_err *err)
{
    if (!json_is_object(quota))
        return fl_err_set(err, FL_EPARSE, "quotas[]: must be objects");
    q->name = fl_obj_str(quota, "metadata.name");
    if (!q->name)
        q->name = fl_obj_str_or(quota, "name", "");
    const json_t *hard = fl_obj_get(quota, "status.hard");
    if (!hard || json_is_null(hard))
        hard = fl_obj_get(quota, "spec.hard");
    const json_t *used = json_object_get(used_map, q->name);
    if (!used)
        used = fl_obj_get(quota, "status.used");
    int rc = qrl_parse(&q->hard, hard, "hard", err);
    if (!rc)
        rc = qrl_parse(&q->used, used, "used", err);
    for (size_t i = 0; !rc && i < q->hard.n; i++) {
        fl_quantity zero = FL_QUANTITY_ZERO;
        if (!qrl_get(&q->used, q->hard.v[i].name))
            rc = qrl_set(&q->used, q->hard.v[i].name, &zero);
    }
    if (!rc)
        rc = selectors_of(quota, &q->selectors, err);
    return rc;
}

static int parse_quotas(const json_t *req, qent **out, size_t *n, fl_err *err)
{
    const json_t *quotas = json_object_get(req, "quotas"), *qv;
    const json_t *used = json_object_get(req, "used");
    if (quotas && !json_is_array(quotas))
        return fl_err_set(err, FL_EPARSE, "quotas: must be an array");
    if (used && !json_is_object(used) && !json_is_null(used))
        return fl_err_set(err, FL_EPARSE, "used: must be an object");
    size_t nq = json_array_size(quotas), i;
    if (nq > FL_QUOTA_MAX_ITEMS)
        return fl_err_set(err, FL_EPARSE, "quotas: more than %d", FL_QUOTA_MAX_ITEMS);
    qent *q = calloc(nq ? nq : 1, sizeof *q);
    if (!q)
        return -ENOMEM;
    int rc = 0;
    json_array_foreach(quotas, i, qv) {
        if ((rc = qent_from_quota(qv, used, &q[i], err)) != 0)
            break;
    }
    if (rc) {
        qents_free(q, nq);
        return rc;
    }
    qents_sort(q, nq);
    *out = q, *n = nq;
    return 0;
}

/* ---------------------------------------------------------------- the check */

/* generic.Matches plus the restricted resources (MatchingResources of hard). */
static int quota_matches(const check *c, const qent *q, const json_t *obj, bool *match,
                         rl *restricted, fl_err *err)
{
    *match = false;
    for (size_t i = 0; i < q->hard.n; i++)
        if (qev_matches_resource(c->ev, q->hard.v[i].name) &&
            qrl_set(restricted, q->hard.v[i].name, &q->hard.v[i].q) != 0)
            return -ENOMEM;
    bool scope = true;
    size_t i;
    const json_t *s;
    json_array_foreach(q->selectors, i, s) {
        bool m;
        int rc = qev_matches_scope(c->ev, s, obj, &m, err);
        if (rc)
            return rc;
        scope = scope && m;
    }
    *match = restricted->n > 0 && scope;
    return 0;
}

static void deny(check *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void deny(check *c, int code, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fl_buf_reset(&c->msg);
    fl_buf_puts(&c->msg, buf);
    c->code = code;
}

static void names_of(const rl *l, fl_buf *b)
{
    for (size_t i = 0; i < l->n; i++)
        fl_buf_printf(b, "%s%s", i ? "," : "", l->v[i].name);
    if (!b->data)
        fl_buf_puts(b, "");
}

/* Mask(l, keys of by) into out. */
static int mask(const rl *l, const rl *by, rl *out)
{
    for (size_t i = 0; i < l->n; i++)
        if (qrl_get(by, l->v[i].name)) {
            int rc = qrl_set(out, l->v[i].name, &l->v[i].q);
            if (rc)
                return rc;
        }
    return 0;
}

/* delta = SubtractWithNonNegativeResult(delta, prev), then RemoveZeros. */
static int subtract_nonneg(rl *delta, const rl *prev)
{
    for (size_t i = 0; i < delta->n; i++) {
        const fl_quantity *p = qrl_get(prev, delta->v[i].name);
        if (p && fl_quantity_sub(&delta->v[i].q, p) != 0)
            return -ERANGE;
    }
    for (size_t i = 0; i < delta->n;) {
        if (fl_quantity_sign(&delta->v[i].q) <= 0)
            qrl_remove(delta, delta->v[i].name);
        else
            i++;
    }
    return 0;
}

/* Usage of obj times mult. */
static int scaled_usage(const check *c, const json_t *obj, int64_t mult, rl *out, fl_err *err)
{
    int rc = qev_usage(c->ev, obj, c->now, out, err);
    for (size_t i = 0; !rc && i < out->n; i++)
        if (fl_quantity_mul(&out->v[i].q, mult) != 0)
            rc = fl_err_set(err, -ERANGE, "usage of %s too large", out->v[i].name);
    return rc;
}

/* The interesting quotas (matching obj) into idx[]; constraint failures deny. */
static int interesting(check *c, const json_t *obj, size_t *idx, size_t *n, fl_err *err)
{
    *n = 0;
    for (size_t i = 0; i < c->nq && !c->code; i++) {
        rl restricted = RL_INIT;
        bool match;
        int rc = quota_matches(c, &c->q[i], obj, &match, &restricted, err);
        fl_buf m = FL_BUF_INIT(1u << 20);
        if (!rc && match) {
            rc = qev_constraints(c->ev, &restricted, obj, &m, err);
            if (rc == 1) {
                deny(c, 403, "failed quota: %s: %s", c->q[i].name, m.data);
                rc = 0;
            }
            idx[(*n)++] = i;
        }
        fl_buf_done(&m);
        qrl_done(&restricted);
        if (rc)
            return rc;
    }
    return 0;
}

/* One interesting quota: requested = Mask(delta, hard); deny when used +
 * requested passes hard on any requested resource; else (charge) keep it. */
static int charge_one(check *c, qent *q, const rl *delta, bool charge, size_t qi, fl_err *err)
{
    rl req = RL_INIT, next = RL_INIT, exceeded = RL_INIT;
    int rc = mask(delta, &q->hard, &req);
    if (!rc)
        rc = qrl_copy(&next, &q->used);
    if (!rc)
        rc = qrl_add(&next, &req);
    for (size_t i = 0; !rc && i < req.n; i++) {
        const fl_quantity *h = qrl_get(&q->hard, req.v[i].name);
        const fl_quantity *u = qrl_get(&next, req.v[i].name);
        if (h && u && fl_quantity_cmp(u, h) > 0)
            rc = qrl_set(&exceeded, req.v[i].name, h);
    }
    if (rc) {
        qrl_done(&req), qrl_done(&next), qrl_done(&exceeded);
        return fl_err_set(err, rc, "quota %s: %s", q->name, fl_strerror(rc));
    }
    if (exceeded.n > 0 && q->frq) {
        char a[FL_QTY_STR_MAX], b[FL_QTY_STR_MAX];
        const char *k = exceeded.v[0].name;
        deny(c, 403,
             "FederatedResourceQuota(%s/%s) exceeded for resource %s: requested sum %s, "
             "limit %s.",
             q->ns ? q->ns : "", q->name, k, q_str(qrl_get(&next, k), a),
             q_str(&exceeded.v[0].q, b));
    } else if (exceeded.n > 0) {
        rl fr = RL_INIT, fu = RL_INIT;
        fl_buf a = FL_BUF_INIT(1u << 20), b = FL_BUF_INIT(1u << 20), h = FL_BUF_INIT(1u << 20);
        mask(&req, &exceeded, &fr), mask(&q->used, &exceeded, &fu);
        qrl_pretty(&fr, &a), qrl_pretty(&fu, &b), qrl_pretty(&exceeded, &h);
        deny(c, 403, "exceeded quota: %s, requested: %s, used: %s, limited: %s", q->name,
             a.data ? a.data : "", b.data ? b.data : "", h.data ? h.data : "");
        fl_buf_done(&a), fl_buf_done(&b), fl_buf_done(&h);
        qrl_done(&fr), qrl_done(&fu);
    } else if (charge) {
        rl tmp = q->used;
        q->used = next;
        next = tmp;
        c->touched[qi] = true;
    }
    qrl_done(&req), qrl_done(&next), qrl_done(&exceeded);
    return 0;
}

/* CheckRequest for obj (old on UPDATE), usages times mult_new / mult_old;
 * charge: whether the new usage is kept in the quotas' used. */
static int check_request(check *c, const json_t *obj, const json_t *old, int64_t mult_new,
                         int64_t mult_old, bool charge, fl_err *err)
{
    size_t *idx = calloc(c->nq ? c->nq : 1, sizeof *idx), n = 0;
    rl delta = RL_INIT, prev = RL_INIT;
    if (!idx)
        return -ENOMEM;
    int rc = interesting(c, obj, idx, &n, err);
    if (!rc && !c->code && n > 0)
        rc = scaled_usage(c, obj, mult_new, &delta, err);
    for (size_t i = 0; !rc && !c->code && n > 0 && i < delta.n; i++)
        if (fl_quantity_sign(&delta.v[i].q) < 0) {
            fl_buf names = FL_BUF_INIT(1u << 20);
            rl neg = RL_INIT;
            for (size_t j = 0; j < delta.n; j++)
                if (fl_quantity_sign(&delta.v[j].q) < 0)
                    qrl_set(&neg, delta.v[j].name, &delta.v[j].q);
            names_of(&neg, &names);
            deny(c, 403, "quota usage is negative for resource(s): %s", names.data);
            fl_buf_done(&names), qrl_done(&neg);
        }
    if (!rc && !c->code && n > 0 && old && fl_obj_str(old, "metadata.resourceVersion") &&
        *fl_obj_str(old, "metadata.resourceVersion")) {
        rc = scaled_usage(c, old, mult_old, &prev, err);
        if (!rc && subtract_nonneg(&delta, &prev) != 0)
            rc = fl_err_set(err, -ERANGE, "usage too large");
    }
    for (size_t i = 0; !rc && !c->code && n > 0 && i < delta.n;) {
        if (fl_quantity_is_zero(&delta.v[i].q))
            qrl_remove(&delta, delta.v[i].name);
        else
            i++;
    }
    for (size_t k = 0; !rc && !c->code && k < n && delta.n > 0; k++)
        rc = charge_one(c, &c->q[idx[k]], &delta, charge, idx[k], err);
    qrl_done(&delta), qrl_done(&prev);
    free(idx);
    return rc;
}

/* ---------------------------------------------------------------- workloads */

/* Workloads whose pods the quota will see: the replica count and the pod
 * template as a pod. Returns false for anything else. */
static bool workload_pods(const char *group, const char *resource, const json_t *obj,
                          int64_t *replicas, json_t **pod)
{
    static const char *const apps[] = {"deployments", "replicasets", "statefulsets"};
    bool known = false;
    const char *count = "spec.replicas";
    for (size_t i = 0; i < FL_ARRAY_LEN(apps); i++)
        known = known || (strcmp(group, "apps") == 0 && strcmp(resource, apps[i]) == 0);
    known = known || (!*group && strcmp(resource, "replicationcontrollers") == 0);
    if (strcmp(group, "batch") == 0 && strcmp(resource, "jobs") == 0)
        known = true, count = "spec.parallelism";
    const json_t *tmpl = fl_obj_get(obj, "spec.template");
    if (!known || !json_is_object(tmpl))
        return false;
    const json_t *r = fl_obj_get(obj, count);
    *replicas = json_is_integer(r) && json_integer_value(r) >= 0 ? json_integer_value(r) : 1;
    json_t *meta = json_object_get(tmpl, "metadata"), *spec = json_object_get(tmpl, "spec");
    *pod = json_object();
    if (!*pod)
        return false;
    json_object_set_new(*pod, "metadata", meta ? json_incref(meta) : json_object());
    json_object_set_new(*pod, "spec", spec ? json_incref(spec) : json_object());
    return true;
}

/* replicas x template must fit (checked, not charged). */
static int check_workload(check *c, const char *group, const char *resource, const json_t *obj,
                          const json_t *old, fl_err *err);

int qcheck_object(check *c, const char *group, const char *resource, const json_t *obj,
                  const json_t *old, fl_err *err)
{
    int rc = 0;
    if (qev_handles(c->ev, c->op))
        rc = check_request(c, obj, old, 1, 1, true, err);
    if (!rc && !c->code)
        rc = check_workload(c, group, resource, obj, old, err);
    if (rc == FL_EPARSE && strstr(err->msg, "failed to parse and convert selector")) {
        deny(c, 500, "%s", err->msg); /* upstream: an internal error */
        rc = 0;
    }
    return rc;
}

static int check_workload(check *c, const char *group, const char *resource, const json_t *obj,
                          const json_t *old, fl_err *err)
{
    int64_t rn = 0, ro = 0;
    json_t *pn = NULL, *po = NULL;
    if (strcmp(c->op, "CREATE") && strcmp(c->op, "UPDATE"))
        return 0;
    if (!workload_pods(group, resource, obj, &rn, &pn))
        return 0;
    if (old && strcmp(c->op, "UPDATE") == 0 && workload_pods(group, resource, old, &ro, &po))
        json_object_set_new(po, "metadata", json_pack("{s:s}", "resourceVersion", "1"));
    evaluator pods;
    qev_for("", "pods", &pods);
    const evaluator *saved = c->ev;
    c->ev = &pods;
    int rc = check_request(c, pn, po, rn, ro, false, err);
    c->ev = saved;
    json_decref(pn), json_decref(po);
    return rc;
}

/* ---------------------------------------------------------------- entry points */

/* meta.UnsafeGuessKindToResource for kinds the registry does not know, for
 * core and well-known groups only (a CRD must be named by "resource"). */
static int guess_resource(const char *av, const char *kind, char *group, char *resource,
                          size_t size)
{
    static const char *const known[] = {"v1",
                                        "apps/v1",
                                        "batch/v1",
                                        "networking.k8s.io/v1",
                                        "policy/v1",
                                        "rbac.authorization.k8s.io/v1",
                                        "storage.k8s.io/v1",
                                        "autoscaling/v2"};
    bool ok = false;
    for (size_t i = 0; i < FL_ARRAY_LEN(known); i++)
        ok = ok || strcmp(av, known[i]) == 0;
    size_t n = strlen(kind);
    if (!ok || n == 0 || n + 4 > size)
        return FL_ENOTFOUND;
    const char *slash = strchr(av, '/');
    snprintf(group, size, "%.*s", slash ? (int)(slash - av) : 0, av);
    for (size_t i = 0; i <= n; i++)
        resource[i] = (char)((kind[i] >= 'A' && kind[i] <= 'Z') ? kind[i] - 'A' + 'a' : kind[i]);
    char last = resource[n - 1];
    if (last == 's' || last == 'x' || fl_str_has_suffix(resource, "ch") ||
        fl_str_has_suffix(resource, "sh"))
        memcpy(resource + n, "es", 3);
    else if (last == 'y' && n > 1 && !strchr("aeiou", resource[n - 2]))
        memcpy(resource + n - 1, "ies", 4);
    else
        memcpy(resource + n, "s", 2);
    return 0;
}

/* group/resource from "resource" or the object's apiVersion/kind. */
static int resource_of(const json_t *req, const json_t *obj, char *group, char *resource,
                       size_t size, fl_err *err)
{
    const json_t *r = json_object_get(req, "resource");
    if (json_is_object(r)) {
        snprintf(group, size, "%s", fl_obj_str_or(r, "group", ""));
        snprintf(resource, size, "%s", fl_obj_str_or(r, "resource", ""));
    } else if (json_is_string(r)) {
        const char *s = json_string_value(r), *dot = strchr(s, '.');
        snprintf(resource, size, "%.*s", dot ? (int)(dot - s) : (int)strlen(s), s);
        snprintf(group, size, "%s", dot ? dot + 1 : "");
    } else {
        const char *av = fl_obj_str_or(obj, "apiVersion", "v1"), *kind = fl_obj_str(obj, "kind");
        fl_kube_resources *reg = NULL;
        if (!kind)
            return fl_err_set(err, FL_EPARSE, "name the object's kind or give \"resource\"");
        if (fl_kube_resources_new(true, &reg) != 0)
            return fl_err_set(err, -ENOMEM, "out of memory");
        const fl_kube_resource *kr = fl_kube_resources_find_gvk(reg, av, kind);
        if (kr) {
            snprintf(group, size, "%s", kr->group);
            snprintf(resource, size, "%s", kr->resource);
        }
        fl_kube_resources_free(reg);
        if (!kr && guess_resource(av, kind, group, resource, size) != 0)
            return fl_err_set(err, FL_EPARSE, "unknown kind %s in %s: give \"resource\"", kind, av);
    }
    if (!*resource)
        return fl_err_set(err, FL_EPARSE, "resource: empty");
    return 0;
}

static json_t *answer_of(const check *c)
{
    if (c->code)
        return json_pack("{s:b,s:i,s:s,s:s}", "allowed", 0, "code", c->code, "reason",
                         c->code == 403 ? "Forbidden" : "InternalError", "message",
                         c->msg.data ? c->msg.data : "");
    json_t *used = json_object();
    for (size_t i = 0; used && i < c->nq; i++)
        if (c->touched[i])
            json_object_set_new(used, c->q[i].name, qrl_json(&c->q[i].used));
    return json_pack("{s:b,s:o}", "allowed", 1, "used", used ? used : json_object());
}

static int parse_now(const json_t *req, int64_t *now, fl_err *err)
{
    bool present;
    int rc = q_get_int(req, "now", &present, now, err);
    if (!rc && !present)
        *now = fl_now_ms() / 1000;
    return rc;
}

int fl_quota_admit(const json_t *req, json_t **answer, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    if (!json_is_object(req))
        return fl_err_set(err, FL_EPARSE, "a request must be an object");
    const char *op = json_string_value(json_object_get(req, "operation"));
    const json_t *obj = json_object_get(req, "object"), *old = json_object_get(req, "oldObject");
    char group[FL_QUOTA_NAME_MAX / 2], resource[FL_QUOTA_NAME_MAX / 2];
    if (!op)
        return fl_err_set(err, FL_EPARSE, "operation: must be a string");
    if (!json_is_object(obj) && strcmp(op, "DELETE") != 0)
        return fl_err_set(err, FL_EPARSE, "object: must be an object");
    if (old && !json_is_null(old) && !json_is_object(old))
        return fl_err_set(err, FL_EPARSE, "oldObject: must be an object");
    if (json_is_null(old))
        old = NULL;
    if (!strcmp(op, "UPDATE") && !old)
        return fl_err_set(
            err, FL_EPARSE,
            "unable to get previous usage since prior version of object was not found");
    check c = {.op = op, .msg = FL_BUF_INIT(1u << 20)};
    evaluator ev;
    int rc = parse_now(req, &c.now, err);
    if (!rc && strcmp(op, "DELETE") == 0) {
        *answer = json_pack("{s:b,s:o}", "allowed", 1, "used", json_object());
        return *answer ? 0 : fl_err_set(err, -ENOMEM, "out of memory");
    }
    if (!rc)
        rc = resource_of(req, obj, group, resource, sizeof group, err);
    if (!rc)
        rc = parse_quotas(req, &c.q, &c.nq, err);
    if (rc)
        return rc;
    c.touched = calloc(c.nq ? c.nq : 1, sizeof *c.touched);
    qev_for(group, resource, &ev);
    c.ev = &ev;
    if (!c.touched)
        rc = -ENOMEM;
    if (!rc)
        rc = qcheck_object(&c, group, resource, obj, old, err);
    json_t *ans = rc ? NULL : answer_of(&c);
    if (!rc && !ans)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    if (!rc)
        *answer = ans;
    qents_free(c.q, c.nq);
    free(c.touched);
    fl_buf_done(&c.msg);
    return rc;
}

int fl_quota_object_usage(const char *group, const char *resource, const json_t *obj,
                          int64_t now_unix, json_t **usage, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    evaluator ev;
    rl u = RL_INIT;
    qev_for(group, resource, &ev);
    int rc = qev_usage(&ev, obj, now_unix, &u, err);
    json_t *j = rc ? NULL : qrl_json(&u);
    qrl_done(&u);
    if (!rc && !j)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    if (!rc)
        *usage = j;
    return rc;
}
