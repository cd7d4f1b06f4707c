/*
 * quota/frq.c: Karmada's FederatedResourceQuota — the validating webhook's
 * checks and messages (pkg/webhook/federatedresourcequota), what a
 * ResourceBinding uses, the enforcement controller's overallUsed, and the
 * ResourceBinding validating webhook's decision
 * (pkg/webhook/resourcebinding). Pure functions over JSON; above rl.c, below
 * nothing. Deviations from Karmada are listed in quota/README.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota/quota_int.h"

#define FRQ_NAME_MAX 63     /* Karmada's LabelValueMaxLength */
#define CLUSTER_NAME_MAX 48 /* Karmada's clusterNameMaxLength */

/* ---------------------------------------------------------------- validation */

/* Append `path: Invalid value: "<value>": <detail>` to errs. */
static int invalid(json_t *errs, const char *path, const char *value, const char *detail)
{
    fl_buf b = FL_BUF_INIT(1u << 16);
    fl_buf_printf(&b, "%s: Invalid value: ", path);
    fl_buf_go_quote(&b, value);
    fl_buf_printf(&b, ": %s", detail);
    int rc = b.data ? json_array_append_new(errs, json_string(b.data)) : -ENOMEM;
    fl_buf_done(&b);
    return rc ? -ENOMEM : 0;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static bool hugepages_quota_name(const char *s)
{
    return fl_str_has_prefix(s, "hugepages-") || fl_str_has_prefix(s, "requests.hugepages-");
}

/* helper.IsStandardResourceName */
static bool standard_resource(const char *s)
{
    static const char *const names[] = {
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
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "storage",
        "requests.storage",
        "services.nodeports",
        "services.loadbalancers",
    };
    return in_list(s, names, FL_ARRAY_LEN(names)) || hugepages_quota_name(s);
}

/* helper.IsStandardQuotaResourceName */
static bool standard_quota_resource(const char *s)
{
    static const char *const names[] = {
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "persistentvolumeclaims",
        "configmaps",
        "services.nodeports",
        "services.loadbalancers",
    };
    return in_list(s, names, FL_ARRAY_LEN(names)) || hugepages_quota_name(s);
}

/* validation.IsQualifiedName messages, one error each, as field.Invalid. */
static int qualified_name_errors(json_t *errs, const char *path, const char *name, bool *bad)
{
    fl_err e = FL_ERR_INIT;
    *bad = fl_label_validate_key(name, &e) != 0;
    if (!*bad)
        return 0;
    /* e.msg is `Invalid value: "<name>": m1; m2`: take the messages. */
    fl_buf pre = FL_BUF_INIT(1u << 16);
    fl_buf_puts(&pre, "Invalid value: ");
    fl_buf_go_quote(&pre, name);
    fl_buf_puts(&pre, ": ");
    const char *msgs = e.msg;
    if (pre.data && fl_str_has_prefix(e.msg, pre.data))
        msgs += pre.len;
    fl_buf_done(&pre);
    char *copy = strdup(msgs);
    if (!copy)
        return -ENOMEM;
    int rc = 0;
    for (char *p = copy; p && !rc;) {
        char *sep = strstr(p, "; ");
        if (sep)
            *sep = 0;
        rc = invalid(errs, path, name, p);
        p = sep ? sep + 2 : NULL;
    }
    free(copy);
    return rc;
}

/* lifted.ValidateResourceQuotaResourceName + ValidateResourceQuantityValue. */
static int check_resource(json_t *errs, const char *path, const char *name, const fl_quantity *q)
{
    bool bad;
    int rc = qualified_name_errors(errs, path, name, &bad);
    if (!rc && !bad && !strchr(name, '/')) {
        if (!standard_resource(name))
            rc = invalid(errs, path, name, "must be a standard resource type or fully qualified");
        if (!rc && !standard_quota_resource(name))
            rc = invalid(errs, path, name, "must be a standard resource for quota");
    }
    char buf[FL_QTY_STR_MAX];
    if (!rc && fl_quantity_sign(q) < 0)
        rc = invalid(errs, path, q_str(q, buf), "must be greater than or equal to 0");
    if (!rc && q_is_integer_resource(name) && !fl_quantity_is_zero(q) && q->exp < 0)
        rc = invalid(errs, path, q_str(q, buf), "must be an integer");
    return rc;
}

static int check_list(json_t *errs, const char *path, const json_t *obj, fl_err *err)
{
    rl l = RL_INIT;
    int rc = qrl_parse(&l, obj, path, err);
    for (size_t i = 0; !rc && i < l.n; i++) {
        char p[FL_QUOTA_NAME_MAX + 128];
        snprintf(p, sizeof p, "%s[%s]", path, l.v[i].name);
        rc = check_resource(errs, p, l.v[i].name, &l.v[i].q);
    }
    qrl_done(&l);
    return rc;
}

/* clustervalidation.ValidateClusterName */
static int check_cluster_name(json_t *errs, const char *path, const json_t *v, fl_err *err)
{
    if (v && !json_is_string(v))
        return fl_err_set(err, FL_EPARSE, "%s: must be a string", path);
    const char *name = v ? json_string_value(v) : "";
    char msg[512] = "";
    if (!*name)
        snprintf(msg, sizeof msg, "must be not empty");
    else if (strlen(name) > CLUSTER_NAME_MAX)
        snprintf(msg, sizeof msg, "must be no more than %d characters", CLUSTER_NAME_MAX);
    else if (!fl_kube_dns_label(name))
        snprintf(msg, sizeof msg,
                 "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                 "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
                 "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
    return msg[0] ? invalid(errs, path, name, msg) : 0;
}

static const json_t *array_member(const json_t *obj, const char *key, const char *path, fl_err *err,
                                  int *rc)
{
    const json_t *a = json_object_get(obj, key);
    *rc = 0;
    if (!a || json_is_null(a))
        return NULL;
    if (!json_is_array(a) || json_array_size(a) > FL_QUOTA_MAX_ITEMS)
        *rc = fl_err_set(err, FL_EPARSE, "%s: must be an array (at most %d items)", path,
                         FL_QUOTA_MAX_ITEMS);
    return *rc ? NULL : a;
}

/* validateStaticAssignment for every entry, then validateOverallAndAssignments. */
static int check_assignments(json_t *errs, const json_t *spec, fl_err *err)
{
    int rc;
    const json_t *sa = array_member(spec, "staticAssignments", "spec.staticAssignments", err, &rc);
    rl overall = RL_INIT;
    size_t i;
    const json_t *a;
    json_array_foreach(sa, i, a) {
        char p[128];
        if (rc)
            break;
        if (!json_is_object(a)) {
            rc = fl_err_set(err, FL_EPARSE, "spec.staticAssignments[%zu]: must be an object", i);
            break;
        }
        snprintf(p, sizeof p, "spec.staticAssignments[%zu].clusterName", i);
        rc = check_cluster_name(errs, p, json_object_get(a, "clusterName"), err);
        snprintf(p, sizeof p, "spec.staticAssignments[%zu].hard", i);
        if (!rc)
            rc = check_list(errs, p, json_object_get(a, "hard"), err);
    }
    if (!rc)
        rc = qrl_parse(&overall, json_object_get(spec, "overall"), "spec.overall", err);
    /* overall[k] must be >= the sum of every assignment's hard[k] */
    for (size_t k = 0; !rc && k < overall.n; k++) {
        fl_quantity sum = FL_QUANTITY_ZERO;
        json_array_foreach(sa, i, a) {
            rl h = RL_INIT;
            rc = qrl_parse(&h, json_object_get(a, "hard"), "hard", err);
            const fl_quantity *q = rc ? NULL : qrl_get(&h, overall.v[k].name);
            if (q && fl_quantity_add(&sum, q) != 0)
                rc = fl_err_set(err, -ERANGE, "spec.staticAssignments: sum too large");
            qrl_done(&h);
            if (rc)
                break;
        }
        char p[FL_QUOTA_NAME_MAX + 64], buf[FL_QTY_STR_MAX];
        snprintf(p, sizeof p, "spec.overall[%s]", overall.v[k].name);
        if (!rc && fl_quantity_cmp(&overall.v[k].q, &sum) < 0)
            rc = invalid(errs, p, q_str(&overall.v[k].q, buf), "overall is less than assignments");
    }
    /* every assignment key must be in overall */
    json_array_foreach(sa, i, a) {
        rl h = RL_INIT;
        if (rc)
            break;
        rc = qrl_parse(&h, json_object_get(a, "hard"), "hard", err);
        for (size_t k = 0; !rc && k < h.n; k++) {
            char p[FL_QUOTA_NAME_MAX + 64];
            snprintf(p, sizeof p, "spec.staticAssignments[%zu].hard[%s]", i, h.v[k].name);
            if (!qrl_get(&overall, h.v[k].name))
                rc = invalid(errs, p, h.v[k].name,
                             "assignment resourceName is not exist in overall");
        }
        qrl_done(&h);
    }
    qrl_done(&overall);
    return rc;
}

static int check_status(json_t *errs, const json_t *status, fl_err *err)
{
    if (status && !json_is_null(status) && !json_is_object(status))
        return fl_err_set(err, FL_EPARSE, "status: must be an object");
    int rc = check_list(errs, "status.overall", json_object_get(status, "overall"), err);
    if (!rc)
        rc = check_list(errs, "status.overallUsed", json_object_get(status, "overallUsed"), err);
    const json_t *agg =
        rc ? NULL : array_member(status, "aggregatedStatus", "status.aggregatedStatus", err, &rc);
    size_t i;
    const json_t *a;
    json_array_foreach(agg, i, a) {
        char p[128];
        if (rc)
            break;
        if (!json_is_object(a)) {
            rc = fl_err_set(err, FL_EPARSE, "status.aggregatedStatus[%zu]: must be an object", i);
            break;
        }
        snprintf(p, sizeof p, "status.aggregatedStatus[%zu].clusterName", i);
        rc = check_cluster_name(errs, p, json_object_get(a, "clusterName"), err);
        snprintf(p, sizeof p, "status.aggregatedStatus[%zu].hard", i);
        if (!rc)
            rc = check_list(errs, p, json_object_get(a, "hard"), err);
        snprintf(p, sizeof p, "status.aggregatedStatus[%zu].used", i);
        if (!rc)
            rc = check_list(errs, p, json_object_get(a, "used"), err);
    }
    return rc;
}

int fl_quota_frq_validate(const json_t *frq, json_t **errors, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    if (!json_is_object(frq))
        return fl_err_set(err, FL_EPARSE, "a FederatedResourceQuota must be an object");
    json_t *errs = json_array();
    if (!errs)
        return -ENOMEM;
    const json_t *spec = json_object_get(frq, "spec");
    int rc = 0;
    if (spec && !json_is_null(spec) && !json_is_object(spec))
        rc = fl_err_set(err, FL_EPARSE, "spec: must be an object");
    const char *name = fl_obj_str_or(frq, "metadata.name", "");
    if (!rc && strlen(name) > FRQ_NAME_MAX) {
        char msg[64];
        snprintf(msg, sizeof msg, "must be no more than %d characters", FRQ_NAME_MAX);
        rc = invalid(errs, "metadata.name", name, msg);
    }
    if (!rc)
        rc = check_list(errs, "spec.overall", json_object_get(spec, "overall"), err);
    if (!rc)
        rc = check_assignments(errs, spec, err);
    if (!rc)
        rc = check_status(errs, json_object_get(frq, "status"), err);
    if (rc) {
        json_decref(errs);
        return rc == -ENOMEM ? fl_err_set(err, rc, "out of memory") : rc;
    }
    *errors = errs;
    return 0;
}

/* ---------------------------------------------------------------- binding usage */

/* The binding's spec (Karmada's object or the bare spec shape). */
static const json_t *binding_spec(const json_t *b)
{
    const json_t *spec = json_object_get(b, "spec");
    return json_is_object(spec) ? spec : b;
}

static const char *binding_ns(const json_t *b)
{
    const char *ns = fl_obj_str(b, "metadata.namespace");
    return ns ? ns : fl_obj_str_or(b, "namespace", "");
}

static const char *binding_name(const json_t *b)
{
    const char *n = fl_obj_str(b, "metadata.name");
    return n ? n : fl_obj_str_or(b, "name", "");
}

/* The per-replica request of a spec or a component: resourceRequest at the
 * top (the shape) or under replicaRequirements (Karmada's). */
static int request_of(const json_t *o, rl *req, const char *what, fl_err *err)
{
    const json_t *r = json_object_get(o, "resourceRequest");
    if (!r)
        r = fl_obj_get(o, "replicaRequirements.resourceRequest");
    return qrl_parse(req, r, what, err);
}

/* usage += replicas * request (zero requests skipped); negatives refused
 * with Karmada's message. */
static int add_scaled(rl *usage, const rl *req, int64_t replicas, const json_t *b, fl_err *err)
{
    for (size_t i = 0; i < req->n; i++) {
        fl_quantity q = req->v[i].q;
        char buf[FL_QTY_STR_MAX];
        if (fl_quantity_is_zero(&q))
            continue;
        if (fl_quantity_sign(&q) < 0)
            return fl_err_set(err, FL_EPARSE,
                              "resource request for %s in RB %s/%s has a negative value: %s",
                              req->v[i].name, binding_ns(b), binding_name(b), q_str(&q, buf));
        if (fl_quantity_mul(&q, replicas) != 0 || qrl_add_one(usage, req->v[i].name, &q) != 0)
            return fl_err_set(err, -ERANGE, "usage of %s too large", req->v[i].name);
    }
    return 0;
}

static int sum_replicas(const json_t *arr, const char *what, int64_t *total, fl_err *err)
{
    size_t i;
    const json_t *c;
    *total = 0;
    if (arr && !json_is_array(arr))
        return fl_err_set(err, FL_EPARSE, "%s: must be an array", what);
    if (json_array_size(arr) > FL_QUOTA_MAX_ITEMS)
        return fl_err_set(err, FL_EPARSE, "%s: more than %d items", what, FL_QUOTA_MAX_ITEMS);
    json_array_foreach(arr, i, c) {
        bool present;
        int64_t r = 0;
        if (!json_is_object(c))
            return fl_err_set(err, FL_EPARSE, "%s[%zu]: must be an object", what, i);
        if (q_get_int(c, "replicas", &present, &r, err) != 0)
            return FL_EPARSE;
        if (r > INT32_MAX || r < INT32_MIN)
            return fl_err_set(err, FL_EPARSE, "%s[%zu].replicas: out of int32 range", what, i);
        *total += r;
    }
    return 0;
}

static int usage_components(const json_t *comps, const json_t *b, rl *usage, fl_err *err)
{
    size_t i;
    const json_t *c;
    json_array_foreach(comps, i, c) {
        bool present;
        int64_t r = 0;
        rl req = RL_INIT;
        int rc = json_is_object(c)
                     ? q_get_int(c, "replicas", &present, &r, err)
                     : fl_err_set(err, FL_EPARSE, "components[%zu]: not an object", i);
        if (!rc && (r < 0 || r > INT32_MAX))
            rc = fl_err_set(err, FL_EPARSE, "components[%zu].replicas: must be 0..2^31-1", i);
        if (!rc)
            rc = request_of(c, &req, "components[].resourceRequest", err);
        if (!rc)
            rc = add_scaled(usage, &req, r, b, err);
        qrl_done(&req);
        if (rc)
            return rc;
    }
    return 0;
}

/* calculateResourceUsage into usage (empty on entry). */
static int binding_usage_rl(const json_t *b, rl *usage, fl_err *err)
{
    if (!b || json_is_null(b))
        return 0;
    if (!json_is_object(b))
        return fl_err_set(err, FL_EPARSE, "a binding must be an object");
    const json_t *spec = binding_spec(b);
    int64_t total;
    const json_t *comps = json_object_get(spec, "components");
    int rc = sum_replicas(json_object_get(spec, "clusters"), "clusters", &total, err);
    if (rc || json_array_size(json_object_get(spec, "clusters")) == 0)
        return rc;
    if (comps && !json_is_null(comps)) {
        if (!json_is_array(comps) || json_array_size(comps) > FL_QUOTA_MAX_ITEMS)
            return fl_err_set(err, FL_EPARSE, "components: must be an array");
        if (json_array_size(comps) > 0)
            return usage_components(comps, b, usage, err);
    }
    if (total == 0)
        return 0;
    if (total < 0)
        return fl_err_set(err, FL_EPARSE,
                          "total replicas in clusters cannot be negative for RB %s/%s: %lld",
                          binding_ns(b), binding_name(b), (long long)total);
    rl req = RL_INIT;
    rc = request_of(spec, &req, "replicaRequirements.resourceRequest", err);
    if (!rc)
        rc = add_scaled(usage, &req, total, b, err);
    qrl_done(&req);
    return rc;
}

int fl_quota_binding_usage(const json_t *binding, json_t **usage, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    rl u = RL_INIT;
    int rc = binding_usage_rl(binding, &u, err);
    json_t *j = rc ? NULL : qrl_json(&u);
    qrl_done(&u);
    if (rc)
        return rc;
    if (!j)
        return fl_err_set(err, -ENOMEM, "out of memory");
    *usage = j;
    return 0;
}

/* ---------------------------------------------------------------- overallUsed */

/* The usage a FRQ key counts: the key itself, or its requests./bare twin
 * (cpu ≡ requests.cpu, nvidia.com/gpu ≡ requests.nvidia.com/gpu). */
static const fl_quantity *usage_for(const rl *u, const char *key)
{
    const fl_quantity *q = qrl_get(u, key);
    if (q)
        return q;
    if (fl_str_has_prefix(key, "requests."))
        return qrl_get(u, key + strlen("requests."));
    if (fl_str_has_prefix(key, "limits.") || strlen(key) > FL_QUOTA_NAME_MAX)
        return NULL;
    char twin[FL_QUOTA_NAME_MAX + 16];
    snprintf(twin, sizeof twin, "requests.%s", key);
    return qrl_get(u, twin);
}

/* filterResourceListByOverall, with the twin lookup. */
static int filter_by(const rl *src, const rl *keys, rl *out)
{
    for (size_t i = 0; i < keys->n; i++) {
        const fl_quantity *q = usage_for(src, keys->v[i].name);
        int rc = q ? qrl_set(out, keys->v[i].name, q) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

int fl_quota_frq_used(const json_t *overall, const json_t *bindings, json_t **used, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    rl keys = RL_INIT, total = RL_INIT, out = RL_INIT;
    size_t i;
    const json_t *b;
    int rc = qrl_parse(&keys, overall, "overall", err);
    if (!rc && bindings && !json_is_array(bindings))
        rc = fl_err_set(err, FL_EPARSE, "bindings: must be an array");
    if (!rc && json_array_size(bindings) > FL_QUOTA_MAX_ITEMS)
        rc = fl_err_set(err, FL_EPARSE, "bindings: more than %d", FL_QUOTA_MAX_ITEMS);
    json_array_foreach(bindings, i, b) {
        rl u = RL_INIT;
        if (rc)
            break;
        rc = binding_usage_rl(b, &u, err);
        if (!rc && qrl_add(&total, &u) != 0)
            rc = fl_err_set(err, -ERANGE, "usage too large");
        qrl_done(&u);
    }
    if (!rc && filter_by(&total, &keys, &out) != 0)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    json_t *j = rc ? NULL : qrl_json(&out);
    qrl_done(&keys), qrl_done(&total), qrl_done(&out);
    if (!rc && !j)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    if (!rc)
        *used = j;
    return rc;
}

/* ---------------------------------------------------------------- admission */

/* Karmada keeps overallUsed in its util.Resource: cpu in millicores,
 * memory / ephemeral-storage / hugepages as BinarySI bytes, the rest as
 * DecimalSI integers, and only positive values. requests.X / limits.X are
 * treated as X (Karmada drops them: #7864). */
static int karmada_round(const char *name, const fl_quantity *q, fl_quantity *out)
{
    const char *base = name;
    if (fl_str_has_prefix(base, "requests."))
        base += strlen("requests.");
    else if (fl_str_has_prefix(base, "limits."))
        base += strlen("limits.");
    int64_t v;
    if (strcmp(base, "cpu") == 0) {
        if (fl_quantity_milli_value(q, &v) != 0)
            return -ERANGE;
        fl_quantity_from_milli(v, FL_QTY_DECIMAL_SI, out);
        return 0;
    }
    if (fl_quantity_value(q, &v) != 0)
        return -ERANGE;
    bool binary = strcmp(base, "memory") == 0 || strcmp(base, "ephemeral-storage") == 0 ||
                  fl_str_has_prefix(base, "hugepages-");
    fl_quantity_from_scaled(v, 0, binary ? FL_QTY_BINARY_SI : FL_QTY_DECIMAL_SI, out);
    return 0;
}

/* addResourceLists(used, delta) through Karmada's rounding. */
static int add_lists(const rl *used, const rl *delta, rl *out)
{
    rl sum = RL_INIT;
    int rc = qrl_copy(&sum, used);
    if (!rc)
        rc = qrl_add(&sum, delta);
    for (size_t i = 0; !rc && i < sum.n; i++) {
        fl_quantity r;
        rc = karmada_round(sum.v[i].name, &sum.v[i].q, &r);
        if (!rc && fl_quantity_sign(&r) > 0)
            rc = qrl_set(out, sum.v[i].name, &r);
    }
    qrl_done(&sum);
    return rc;
}

typedef struct bind_req {
    const char *op;
    const json_t *old, *new;
    const json_t *frqs;
} bind_req;

static int parse_bind_req(const json_t *req, bind_req *r, fl_err *err)
{
    r->op = json_string_value(json_object_get(req, "operation"));
    r->old = json_object_get(req, "old");
    r->new = json_object_get(req, "new");
    r->frqs = json_object_get(req, "frqs");
    if (!r->op || (strcmp(r->op, "CREATE") && strcmp(r->op, "UPDATE") && strcmp(r->op, "DELETE")))
        return fl_err_set(err, FL_EPARSE, "operation must be CREATE, UPDATE or DELETE");
    if (r->frqs && !json_is_array(r->frqs))
        return fl_err_set(err, FL_EPARSE, "frqs: must be an array");
    if (json_array_size(r->frqs) > FL_QUOTA_MAX_ITEMS)
        return fl_err_set(err, FL_EPARSE, "frqs: more than %d", FL_QUOTA_MAX_ITEMS);
    const json_t *dry = json_object_get(req, "dryRun");
    if (dry && !json_is_boolean(dry) && !json_is_null(dry))
        return fl_err_set(err, FL_EPARSE, "dryRun: must be a boolean");
    return 0;
}

static bool lists_equal(const rl *a, const rl *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].name, b->v[i].name) || fl_quantity_cmp(&a->v[i].q, &b->v[i].q))
            return false;
    return true;
}

/* isQuotaRelevantFieldChanged; components compared as JSON (Flotilla). */
static int relevant_change(const json_t *old, const json_t *new, bool *changed, fl_err *err)
{
    rl a = RL_INIT, b = RL_INIT;
    int64_t ra, rb;
    const json_t *so = binding_spec(old), *sn = binding_spec(new);
    int rc = request_of(so, &a, "old.replicaRequirements", err);
    if (!rc)
        rc = request_of(sn, &b, "new.replicaRequirements", err);
    if (!rc)
        rc = sum_replicas(json_object_get(so, "clusters"), "old.clusters", &ra, err);
    if (!rc)
        rc = sum_replicas(json_object_get(sn, "clusters"), "new.clusters", &rb, err);
    const json_t *ca = json_object_get(so, "components"), *cb = json_object_get(sn, "components");
    bool same_comps = (!ca && !cb) || (ca && cb && json_equal(ca, cb));
    *changed = rc || !lists_equal(&a, &b) || ra != rb || !same_comps;
    qrl_done(&a), qrl_done(&b);
    return rc;
}

static json_t *allowed_answer(json_t *used_by_frq)
{
    return json_pack("{s:b,s:o}", "allowed", 1, "overallUsed",
                     used_by_frq ? used_by_frq : json_object());
}

/* processSingleFRQ: *deny is set (new) when the FRQ is exceeded, else the
 * FRQ's new overallUsed goes into used_by_frq (unless unaffected). */
static int one_frq(const json_t *frq, const rl *delta, const json_t *binding, json_t *used_by_frq,
                   json_t **deny, fl_err *err)
{
    const json_t *overall_j = fl_obj_get(frq, "spec.overall");
    if (!overall_j || json_is_null(overall_j))
        return 0;
    rl overall = RL_INIT, d = RL_INIT, used = RL_INIT, next = RL_INIT;
    const char *name = fl_obj_str_or(frq, "metadata.name", fl_obj_str_or(frq, "name", ""));
    const char *ns = fl_obj_str(frq, "metadata.namespace");
    int rc = qrl_parse(&overall, overall_j, "spec.overall", err);
    if (!rc)
        rc = qrl_parse(&used, fl_obj_get(frq, "status.overallUsed"), "status.overallUsed", err);
    if (!rc && filter_by(delta, &overall, &d) != 0)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    bool zero = true;
    for (size_t i = 0; i < d.n; i++)
        zero = zero && fl_quantity_is_zero(&d.v[i].q);
    if (!rc && !zero && add_lists(&used, &d, &next) != 0)
        rc = fl_err_set(err, -ERANGE, "usage too large");
    for (size_t i = 0; !rc && !zero && i < next.n; i++) {
        const fl_quantity *lim = qrl_get(&overall, next.v[i].name);
        if (!lim || fl_quantity_cmp(&next.v[i].q, lim) <= 0)
            continue;
        char a[FL_QTY_STR_MAX], b[FL_QTY_STR_MAX], msg[2 * FL_QUOTA_NAME_MAX + 512];
        snprintf(
            msg, sizeof msg,
            "FederatedResourceQuota(%s/%s) exceeded for resource %s: requested sum %s, limit %s.",
            *binding_ns(binding) ? binding_ns(binding) : (ns ? ns : ""), name, next.v[i].name,
            q_str(&next.v[i].q, a), q_str(lim, b));
        *deny = json_pack("{s:b,s:i,s:s,s:s}", "allowed", 0, "code", 403, "reason", "QuotaExceeded",
                          "message", msg);
        break;
    }
    if (!rc && !zero && !*deny)
        json_object_set_new(used_by_frq, name, qrl_json(&next));
    qrl_done(&overall), qrl_done(&d), qrl_done(&used), qrl_done(&next);
    return rc;
}

/* delta = new - old, zero entries dropped (calculateDelta). */
static int delta_of(const rl *nu, const rl *ou, rl *delta)
{
    int rc = qrl_copy(delta, nu);
    for (size_t i = 0; !rc && i < ou->n; i++) {
        fl_quantity neg = FL_QUANTITY_ZERO;
        rc = fl_quantity_sub(&neg, &ou->v[i].q);
        if (!rc)
            rc = qrl_add_one(delta, ou->v[i].name, &neg);
    }
    for (size_t i = 0; !rc && i < delta->n;) {
        if (fl_quantity_is_zero(&delta->v[i].q))
            qrl_remove(delta, delta->v[i].name);
        else
            i++;
    }
    return rc;
}

static json_t *error_answer(int code, const char *msg)
{
    return json_pack("{s:b,s:i,s:s}", "allowed", 0, "code", code, "message", msg);
}

static int admit_delta(const bind_req *r, const json_t *b, json_t **answer, fl_err *err)
{
    rl nu = RL_INIT, ou = RL_INIT, delta = RL_INIT;
    fl_err uerr = FL_ERR_INIT;
    int rc = binding_usage_rl(r->new, &nu, &uerr);
    if (!rc && strcmp(r->op, "UPDATE") == 0)
        rc = binding_usage_rl(r->old, &ou, &uerr);
    if (rc) {
        qrl_done(&nu), qrl_done(&ou);
        *answer = error_answer(500, uerr.msg);
        return 0;
    }
    rc = delta_of(&nu, &ou, &delta);
    json_t *used_by_frq = json_object(), *deny = NULL;
    size_t i;
    const json_t *frq;
    json_array_foreach(r->frqs, i, frq) {
        if (rc || deny || delta.n == 0)
            break;
        if (!json_is_object(frq))
            rc = fl_err_set(err, FL_EPARSE, "frqs[%zu]: must be an object", i);
        else
            rc = one_frq(frq, &delta, b, used_by_frq, &deny, err);
    }
    qrl_done(&nu), qrl_done(&ou), qrl_done(&delta);
    if (rc || deny) {
        json_decref(used_by_frq);
        if (rc)
            json_decref(deny);
        else
            *answer = deny;
        return rc;
    }
    *answer = allowed_answer(used_by_frq);
    return 0;
}

int fl_quota_binding_admit(const json_t *req, json_t **answer, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    bind_req r;
    if (!json_is_object(req))
        return fl_err_set(err, FL_EPARSE, "a request must be an object");
    int rc = parse_bind_req(req, &r, err);
    if (rc)
        return rc;
    /* DELETE: allowed; the recomputation releases the usage. */
    if (strcmp(r.op, "DELETE") == 0) {
        *answer = allowed_answer(NULL);
        return 0;
    }
    if (!json_is_object(r.new))
        return fl_err_set(err, FL_EPARSE, "new: the binding must be an object");
    if (strcmp(r.op, "UPDATE") == 0 && !json_is_object(r.old))
        return fl_err_set(err, FL_EPARSE, "old: the binding must be an object on UPDATE");
    const json_t *clusters = json_object_get(binding_spec(r.new), "clusters");
    if (strcmp(r.op, "CREATE") == 0 && json_array_size(clusters) == 0) {
        *answer = allowed_answer(NULL); /* not yet scheduled */
        return 0;
    }
    if (strcmp(r.op, "UPDATE") == 0) {
        bool changed;
        fl_err e = FL_ERR_INIT;
        if (relevant_change(r.old, r.new, &changed, &e) == 0 && !changed) {
            *answer = allowed_answer(NULL);
            return 0;
        }
    }
    rc = admit_delta(&r, r.new, answer, err);
    if (!rc && !*answer)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    return rc;
}
