/*
 * quota/rl.c: resource lists (corev1.ResourceList) as sorted arrays of exact
 * quantities, with the operations k8s.io/apiserver/pkg/quota/v1 defines
 * (Add, Max, Mask...), their JSON and pretty-printed forms, and the resource
 * name predicates of k8s.io/kubernetes/pkg/apis/core/helper. The bottom
 * layer of quota/: it calls nothing else in the module.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota/quota_int.h"

void qrl_done(rl *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Index of name, or where it would go (*found false). */
static size_t find(const rl *l, const char *name, bool *found)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->v[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

const fl_quantity *qrl_get(const rl *l, const char *name)
{
    bool found;
    size_t i = find(l, name, &found);
    return found ? &l->v[i].q : NULL;
}

int qrl_set(rl *l, const char *name, const fl_quantity *q)
{
    bool found;
    size_t i = find(l, name, &found);
    if (found) {
        l->v[i].q = *q;
        return 0;
    }
    if (l->n >= FL_QUOTA_MAX_RESOURCES)
        return -E2BIG;
    if (fl_grow(&l->v, &l->cap, l->n + 1, sizeof *l->v) != 0)
        return -ENOMEM;
    char *dup = strdup(name);
    if (!dup)
        return -ENOMEM;
    memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof *l->v);
    l->v[i].name = dup;
    l->v[i].q = *q;
    l->n++;
    return 0;
}

void qrl_remove(rl *l, const char *name)
{
    bool found;
    size_t i = find(l, name, &found);
    if (!found)
        return;
    free(l->v[i].name);
    memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof *l->v);
    l->n--;
}

int qrl_add_one(rl *l, const char *name, const fl_quantity *q)
{
    bool found;
    size_t i = find(l, name, &found);
    if (!found)
        return qrl_set(l, name, q);
    return fl_quantity_add(&l->v[i].q, q);
}

int qrl_add(rl *l, const rl *y)
{
    for (size_t i = 0; i < y->n; i++) {
        int rc = qrl_add_one(l, y->v[i].name, &y->v[i].q);
        if (rc)
            return rc;
    }
    return 0;
}

int qrl_max(rl *l, const rl *y)
{
    for (size_t i = 0; i < y->n; i++) {
        const fl_quantity *have = qrl_get(l, y->v[i].name);
        if (have && fl_quantity_cmp(have, &y->v[i].q) >= 0)
            continue;
        int rc = qrl_set(l, y->v[i].name, &y->v[i].q);
        if (rc)
            return rc;
    }
    return 0;
}

int qrl_copy(rl *dst, const rl *src)
{
    return qrl_add(dst, src);
}

/* A JSON number as Kubernetes' Quantity.UnmarshalJSON takes it: its text. */
static int number_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_integer(v))
        return snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    return snprintf(buf, size, "%.17g", json_real_value(v));
}

int qrl_parse(rl *l, const json_t *obj, const char *what, fl_err *err)
{
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return fl_err_set(err, FL_EPARSE, "%s: must be an object of quantities", what);
    if (json_object_size(obj) > FL_QUOTA_MAX_RESOURCES)
        return fl_err_set(err, FL_EPARSE, "%s: more than %d resources", what,
                          FL_QUOTA_MAX_RESOURCES);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        char num[64];
        const char *s;
        size_t n;
        if (json_is_string(v))
            s = json_string_value(v), n = json_string_length(v);
        else if (json_is_number(v))
            s = num, n = (size_t)number_text(v, num, sizeof num);
        else
            return fl_err_set(err, FL_EPARSE, "%s[%s]: must be a quantity string", what, k);
        if (strlen(k) > FL_QUOTA_NAME_MAX)
            return fl_err_set(err, FL_EPARSE, "%s: resource name longer than %d bytes", what,
                              FL_QUOTA_NAME_MAX);
        fl_quantity q;
        fl_err e = FL_ERR_INIT;
        if (fl_quantity_parse(s, n, &q, &e) != 0)
            return fl_err_set(err, FL_EPARSE, "%s[%s]: %s", what, k, e.msg);
        int rc = qrl_set(l, k, &q);
        if (rc)
            return fl_err_set(err, rc, "%s: %s", what, fl_strerror(rc));
    }
    return 0;
}

const char *q_str(const fl_quantity *q, char buf[FL_QTY_STR_MAX])
{
    if (fl_quantity_format(q, buf, FL_QTY_STR_MAX) < 0)
        buf[0] = 0;
    return buf;
}

void q_int(int64_t n, fl_quantity *out)
{
    fl_quantity_from_scaled(n, 0, FL_QTY_DECIMAL_SI, out);
}

json_t *qrl_json(const rl *l)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < l->n; i++) {
        char buf[FL_QTY_STR_MAX];
        if (json_object_set_new(o, l->v[i].name, json_string(q_str(&l->v[i].q, buf))) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int qrl_pretty(const rl *l, fl_buf *out)
{
    for (size_t i = 0; i < l->n; i++) {
        char buf[FL_QTY_STR_MAX];
        int rc = fl_buf_printf(out, "%s%s=%s", i ? "," : "", l->v[i].name, q_str(&l->v[i].q, buf));
        if (rc)
            return rc;
    }
    if (!out->data)
        return fl_buf_puts(out, "");
    return 0;
}

/* ---------------------------------------------------------------- names */

bool q_is_native_resource(const char *name)
{
    return !strchr(name, '/') || strstr(name, "kubernetes.io/");
}

bool q_is_extended_resource(const char *name)
{
    if (q_is_native_resource(name) || fl_str_has_prefix(name, "requests."))
        return false;
    char buf[FL_QUOTA_NAME_MAX + 16];
    snprintf(buf, sizeof buf, "requests.%s", name);
    return fl_label_validate_key(buf, NULL) == 0;
}

bool q_is_integer_resource(const char *name)
{
    static const char *const ints[] = {
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(ints); i++)
        if (strcmp(name, ints[i]) == 0)
            return true;
    return q_is_extended_resource(name);
}

int q_get_int(const json_t *obj, const char *key, bool *present, int64_t *out, fl_err *err)
{
    const json_t *v = json_object_get(obj, key);
    *present = v && !json_is_null(v);
    if (!*present)
        return 0;
    if (!json_is_integer(v))
        return fl_err_set(err, FL_EPARSE, "%s: must be an integer", key);
    *out = json_integer_value(v);
    return 0;
}
