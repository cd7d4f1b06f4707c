/*
 * scheduler/ops.c: the JSON face of the engine — `flotilla debug place`'s
 * webster, assign and select requests, parsed with bounds into the typed
 * inputs of webster.c, assign.c and select.c, and answered as JSON. The
 * "place" op lives in place.c. Field meanings follow Karmada (see
 * scheduler.h and the issue text quoted in scheduler/README.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

/* ---------------------------------------------------------------- helpers */

/* Integer member (absent or null: dflt). false with err set when mistyped. */
bool fl_sched_json_int(const json_t *obj, const char *key, int64_t dflt, int64_t *out, fl_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return true;
    }
    if (!json_is_integer(v)) {
        fl_err_set(err, FL_EPARSE, "member \"%s\" must be an integer", key);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

const char *fl_sched_json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const json_t *req_array(const json_t *req, const char *key, bool required, fl_err *err)
{
    const json_t *a = json_object_get(req, key);
    if ((!a || json_is_null(a)) && !required)
        return NULL;
    if (!json_is_array(a) || json_array_size(a) > FL_SCHED_MAX_CLUSTERS) {
        fl_err_set(err, FL_EPARSE, "member \"%s\" must be an array of at most %d items", key,
                   FL_SCHED_MAX_CLUSTERS);
        return NULL;
    }
    return a;
}

json_t *fl_sched_error(const char *msg, const char *reason)
{
    if (reason)
        return json_pack("{s:s,s:s}", "error", msg, "reason", reason);
    return json_pack("{s:s}", "error", msg);
}

/* ---------------------------------------------------------------- webster */

json_t *fl_sched_op_webster(const json_t *req, fl_err *err)
{
    int64_t seats;
    const json_t *a = req_array(req, "parties", true, err);
    if (!a || !fl_sched_json_int(req, "seats", 0, &seats, err))
        return NULL;
    const char *uid = fl_sched_json_str(req, "uid");
    size_t n = json_array_size(a);
    fl_sched_party *p = calloc(n + 1, sizeof *p);
    json_t *resp = NULL;
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(a, i);
        p[i].name = fl_sched_json_str(e, "name");
        if (!p[i].name) {
            fl_err_set(err, FL_EPARSE, "parties[%zu].name must be a string", i);
            goto out;
        }
        if (!fl_sched_json_int(e, "votes", 0, &p[i].votes, err) ||
            !fl_sched_json_int(e, "initial", 0, &p[i].seats, err))
            goto out;
        for (size_t k = 0; k < i; k++)
            if (strcmp(p[k].name, p[i].name) == 0) {
                fl_err_set(err, FL_EPARSE, "party \"%s\" appears twice", p[i].name);
                goto out;
            }
    }
    int rc = fl_sched_webster(p, n, seats, uid);
    if (rc) {
        resp = fl_sched_error(
            rc == -EINVAL ? "negative votes or seats, or too many seats" : "out of memory", NULL);
        goto out;
    }
    /* every party, in name order */
    size_t *ord = calloc(n + 1, sizeof *ord);
    if (!ord)
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && strcmp(p[ord[j - 1]].name, p[i].name) > 0) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = i;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:I}", "name", p[ord[i]].name, "seats",
                                             (json_int_t)p[ord[i]].seats));
    free(ord);
    resp = json_pack("{s:o}", "assignment", arr);
out:
    free(p);
    return resp;
}

/* ---------------------------------------------------------------- assign */

static bool parse_strategy(const char *s, fl_sched_strategy *out)
{
    static const struct {
        const char *name;
        fl_sched_strategy v;
    } tab[] = {
        {"duplicated", FL_SCHED_DUPLICATED},         {"Duplicated", FL_SCHED_DUPLICATED},
        {"static_weight", FL_SCHED_STATIC_WEIGHT},   {"StaticWeight", FL_SCHED_STATIC_WEIGHT},
        {"dynamic_weight", FL_SCHED_DYNAMIC_WEIGHT}, {"DynamicWeight", FL_SCHED_DYNAMIC_WEIGHT},
        {"aggregated", FL_SCHED_AGGREGATED},         {"Aggregated", FL_SCHED_AGGREGATED},
    };
    for (size_t i = 0; s && i < FL_ARRAY_LEN(tab); i++)
        if (strcmp(s, tab[i].name) == 0) {
            *out = tab[i].v;
            return true;
        }
    return false;
}

/* clusters[] of an assign or select request into typed clusters. */
size_t fl_sched_zone_key(const json_t *cl, char *out, size_t size)
{
    const json_t *zs = json_object_get(cl, "zones");
    size_t len = 0, i;
    const json_t *z;
    json_array_foreach(zs, i, z) {
        const char *v = json_string_value(z);
        if (!v || !v[0])
            continue;
        size_t l = strlen(v);
        if (out && len + l + 1 < size) {
            if (len)
                out[len - 1] = ',';
            memcpy(out + len, v, l + 1);
        }
        len += l + 1;
    }
    return len;
}

static fl_sched_cluster *parse_clusters(const json_t *a, fl_err *err)
{
    size_t n = json_array_size(a), pool = 0;
    for (size_t i = 0; i < n; i++)
        pool += fl_sched_zone_key(json_array_get(a, i), NULL, 0);
    /* the clusters, then their joined zone lists (freed with them) */
    fl_sched_cluster *c = calloc(1, (n + 1) * sizeof *c + pool + 1);
    if (!c) {
        fl_err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    char *zp = (char *)(c + n + 1);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(a, i);
        size_t zl = fl_sched_zone_key(e, zp, pool + 1);
        c[i].name = fl_sched_json_str(e, "name");
        c[i].region = fl_sched_json_str(e, "region");
        c[i].zone = zl ? zp : fl_sched_json_str(e, "zone");
        zp += zl;
        pool -= zl;
        c[i].provider = fl_sched_json_str(e, "provider");
        if (!c[i].name) {
            fl_err_set(err, FL_EPARSE, "clusters[%zu].name must be a string", i);
            goto fail;
        }
        if (!fl_sched_json_int(e, "score", 0, &c[i].score, err) ||
            !fl_sched_json_int(e, "weight", -1, &c[i].weight, err) ||
            !fl_sched_json_int(e, "available", -1, &c[i].available, err) ||
            !fl_sched_json_int(e, "current", 0, &c[i].current, err))
            goto fail;
        for (size_t k = 0; k < i; k++)
            if (strcmp(c[k].name, c[i].name) == 0) {
                fl_err_set(err, FL_EPARSE, "cluster \"%s\" appears twice", c[i].name);
                goto fail;
            }
    }
    return c;
fail:
    free(c);
    return NULL;
}

json_t *fl_sched_targets_json(const fl_sched_target *t, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:s,s:I}", "name", t[i].name, "replicas", (json_int_t)t[i].replicas));
    return arr;
}

json_t *fl_sched_op_assign(const json_t *req, fl_err *err)
{
    fl_sched_assign_in in = {0};
    const char *strategy = fl_sched_json_str(req, "strategy");
    const char *mode = fl_sched_json_str(req, "mode");
    if (!parse_strategy(strategy, &in.strategy)) {
        fl_err_set(err, FL_EPARSE,
                   "member \"strategy\" must be duplicated, static_weight, dynamic_weight or "
                   "aggregated");
        return NULL;
    }
    if (mode && strcmp(mode, "Fresh") != 0 && strcmp(mode, "Steady") != 0) {
        fl_err_set(err, FL_EPARSE, "member \"mode\" must be Steady or Fresh");
        return NULL;
    }
    in.fresh = mode && strcmp(mode, "Fresh") == 0;
    in.uid = fl_sched_json_str(req, "uid");
    const json_t *ca = req_array(req, "clusters", true, err);
    if (!ca || !fl_sched_json_int(req, "replicas", 0, &in.replicas, err))
        return NULL;
    fl_sched_cluster *c = parse_clusters(ca, err);
    if (!c)
        return NULL;
    in.clusters = c;
    in.n_clusters = json_array_size(ca);
    fl_sched_target *t = NULL;
    size_t nt = 0;
    fl_err e = FL_ERR_INIT;
    json_t *resp;
    int rc = fl_sched_assign(&in, &t, &nt, &e);
    if (rc == 0)
        resp = json_pack("{s:o}", "assignment", fl_sched_targets_json(t, nt));
    else
        resp = fl_sched_error(e.msg, NULL);
    free(t);
    free(c);
    return resp;
}

/* ---------------------------------------------------------------- select */

static bool parse_field(const char *s, fl_sched_spread_field *f)
{
    static const char *const names[] = {"cluster", "region", "zone", "provider"};
    for (size_t i = 0; s && i < FL_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *f = (fl_sched_spread_field)i;
            return true;
        }
    return false;
}

/* spreadConstraints[] (Karmada's JSON) into typed constraints. */
fl_sched_spread *fl_sched_parse_spread(const json_t *a, size_t *n, fl_err *err)
{
    *n = json_array_size(a);
    fl_sched_spread *s = calloc(*n + 1, sizeof *s);
    if (!s) {
        fl_err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        const json_t *e = json_array_get(a, i);
        if (!parse_field(fl_sched_json_str(e, "spreadByField"), &s[i].field)) {
            fl_err_set(err, FL_EPARSE,
                       "spreadConstraints[%zu].spreadByField must be cluster, region, zone or "
                       "provider",
                       i);
            goto fail;
        }
        if (!fl_sched_json_int(e, "minGroups", 0, &s[i].min_groups, err) ||
            !fl_sched_json_int(e, "maxGroups", 0, &s[i].max_groups, err))
            goto fail;
    }
    return s;
fail:
    free(s);
    return NULL;
}

json_t *fl_sched_op_select(const json_t *req, fl_err *err)
{
    fl_sched_select_in in = {0};
    const char *strategy = fl_sched_json_str(req, "strategy");
    fl_sched_strategy st = FL_SCHED_DYNAMIC_WEIGHT;
    if (strategy && strcmp(strategy, "divided") != 0 && !parse_strategy(strategy, &st)) {
        fl_err_set(err, FL_EPARSE, "member \"strategy\" must be duplicated or divided");
        return NULL;
    }
    in.duplicated = !strategy || st == FL_SCHED_DUPLICATED;
    in.ignore_spread = st == FL_SCHED_STATIC_WEIGHT;
    const json_t *ca = req_array(req, "clusters", true, err);
    const json_t *sa = ca ? req_array(req, "spreadConstraints", false, err) : NULL;
    if (!ca || (!sa && err->code) || !fl_sched_json_int(req, "replicas", 0, &in.replicas, err))
        return NULL;
    fl_sched_cluster *c = parse_clusters(ca, err);
    fl_sched_spread *s = c ? fl_sched_parse_spread(sa, &in.n_spread, err) : NULL;
    json_t *resp = NULL;
    if (!c || !s)
        goto out;
    in.clusters = c;
    in.n_clusters = json_array_size(ca);
    in.spread = s;
    size_t *idx = NULL, ni = 0;
    fl_err e = FL_ERR_INIT;
    if (fl_sched_select(&in, &idx, &ni, &e) != 0) {
        resp = fl_sched_error(e.msg, NULL);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < ni; i++)
        json_array_append_new(arr, json_string(c[idx[i]].name));
    free(idx);
    resp = json_pack("{s:o}", "clusters", arr);
out:
    free(c);
    free(s);
    return resp;
}
