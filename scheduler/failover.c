/*
 * scheduler/failover.c: the pieces of Karmada's failover that prop.c
 * applies to a binding: the health of a member copy (the default resource
 * interpreter's rules), graceful eviction tasks (created on eviction by
 * the policy's purge mode, ended when the new placement is healthy or the
 * grace period has passed), the state they preserve (statePreservation:
 * JSONPath rules over the evicted copy's status) and the application
 * failover toleration.
 * Pure functions over JSON; no I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/labels.h"
#include "scheduler/sched_int.h"

static int64_t int_at(const json_t *o, const char *path, int64_t dflt)
{
    const json_t *v = fl_obj_get(o, path);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

const char *fl_sched_copy_health(const json_t *obj)
{
    const char *kind = fl_obj_str_or(obj, "kind", "");
    const json_t *st = json_object_get(obj, "status");
    bool deploy = !strcmp(kind, "Deployment"), sts = !strcmp(kind, "StatefulSet");
    if (deploy || sts) {
        if (!json_is_object(st))
            return "Unknown";
        int64_t want = int_at(obj, "spec.replicas", 1);
        int64_t gen = int_at(obj, "metadata.generation", 0);
        int64_t seen = int_at(st, "observedGeneration", gen);
        if (seen < gen)
            return "Unknown"; /* the member's controller has not seen this spec yet */
        int64_t updated = int_at(st, deploy ? "updatedReplicas" : "updatedReplicas", 0);
        int64_t avail = int_at(st, deploy ? "availableReplicas" : "readyReplicas", 0);
        int64_t unavail = int_at(st, "unavailableReplicas", 0); /* a rollout that is stuck */
        return updated >= want && avail >= want && unavail <= 0 ? "Healthy" : "Unhealthy";
    }
    if (!strcmp(kind, "Job")) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(st, "conditions"), i, c) {
            if (!strcmp(fl_obj_str_or(c, "type", ""), "Failed") &&
                !strcmp(fl_obj_str_or(c, "status", ""), "True"))
                return "Unhealthy";
        }
        return "Healthy";
    }
    return "Healthy";
}

/* Karmada's purge modes, with the names older API versions used. */
static const char *purge_mode(const char *m)
{
    if (!strcmp(m, "Immediately") || !strcmp(m, "Directly"))
        return "Directly";
    if (!strcmp(m, "Never"))
        return "Never";
    return "Gracefully";
}

json_t *fl_sched_evict_task(const json_t *policy, const char *cluster, int64_t replicas,
                            bool application, const char *message, const char *now_rfc3339)
{
    const json_t *fo =
        fl_obj_get(policy, application ? "spec.failover.application" : "spec.failover.cluster");
    const char *mode = purge_mode(fl_obj_str_or(fo, "purgeMode", "Gracefully"));
    if (!strcmp(mode, "Directly"))
        return NULL;
    json_t *t = json_pack(
        "{s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "fromCluster", cluster, "replicas", (json_int_t)replicas,
        "reason", application ? "ApplicationFailure" : "TaintUntolerated", "message", message,
        "producer", application ? "ResourceBindingApplicationFailoverController" : "TaintManager",
        "purgeMode", mode, "creationTimestamp", now_rfc3339);
    if (!t)
        return NULL;
    const json_t *gp = json_object_get(fo, "gracePeriodSeconds");
    if (!strcmp(mode, "Gracefully") && json_is_integer(gp))
        json_object_set(t, "gracePeriodSeconds", (json_t *)gp);
    if (!strcmp(mode, "Never"))
        json_object_set_new(t, "suppressDeletion", json_true());
    return t;
}

/* One step of a JSONPath expression at *pp ('.name', "['name']", '[n]')
 * applied to *v; false (err set) when it is malformed or leads nowhere. */
static bool path_step(const char **pp, const json_t **v, fl_err *err)
{
    const char *p = *pp;
    char name[256];
    size_t n = 0;
    if (*p == '.') {
        p++;
        while (*p && *p != '.' && *p != '[' && *p != '}' && *p != ' ' && n + 1 < sizeof name)
            name[n++] = *p++;
        name[n] = 0;
        if (!n) {
            fl_err_set(err, FL_EPARSE, "an empty field name");
            return false;
        }
        *v = json_object_get(*v, name);
    } else if (*p == '[' && (p[1] == '\'' || p[1] == '"')) {
        char q = p[1];
        p += 2;
        while (*p && *p != q && n + 1 < sizeof name)
            name[n++] = *p++;
        name[n] = 0;
        if (p[0] != q || p[1] != ']') {
            fl_err_set(err, FL_EPARSE, "an unterminated ['name']");
            return false;
        }
        p += 2;
        *v = json_object_get(*v, name);
    } else if (*p == '[') {
        size_t idx = 0;
        p++;
        if (*p < '0' || *p > '9') {
            fl_err_set(err, FL_EPARSE, "only [n], ['name'] and .name are supported");
            return false;
        }
        while (*p >= '0' && *p <= '9' && idx < 1000000)
            idx = idx * 10 + (size_t)(*p++ - '0');
        if (*p++ != ']') {
            fl_err_set(err, FL_EPARSE, "an unterminated [n]");
            return false;
        }
        *v = json_array_get(*v, idx);
    } else {
        fl_err_set(err, FL_EPARSE, "unexpected '%c'", *p);
        return false;
    }
    *pp = p;
    if (!*v) {
        fl_err_set(err, FL_ENOTFOUND, "%s is not found", name[0] ? name : "the index");
        return false;
    }
    return true;
}

/* A value as JSONPath prints it: strings bare, numbers and booleans as
 * JSON, objects and arrays as compact JSON. */
static bool path_print(const json_t *v, fl_buf *out)
{
    if (json_is_string(v))
        return fl_buf_append(out, json_string_value(v), json_string_length(v)) == 0;
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    bool ok = d && fl_buf_append(out, d, strlen(d)) == 0;
    free(d);
    return ok;
}

int fl_sched_jsonpath(const json_t *root, const char *tmpl, char **out, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(4096);
    const char *p = tmpl;
    int rc = FL_EPARSE;
    while (*p) {
        if (*p != '{') {
            if (fl_buf_append(&b, p, 1) != 0)
                goto too_big;
            p++;
            continue;
        }
        p++;
        while (*p == ' ')
            p++;
        if (*p == '$' || *p == '@')
            p++;
        const json_t *v = root;
        if (*p == '.' && (p[1] == '}' || p[1] == ' '))
            p++; /* {.}: the whole object */
        while (*p && *p != '}' && *p != ' ') {
            if (!path_step(&p, &v, err)) {
                rc = err && err->code ? err->code : FL_EPARSE;
                goto out;
            }
        }
        while (*p == ' ')
            p++;
        if (*p != '}') {
            fl_err_set(err, FL_EPARSE, "%s: expected }", tmpl);
            goto out;
        }
        p++;
        if (!path_print(v, &b))
            goto too_big;
    }
    if (!b.data && fl_buf_reserve(&b, 1) != 0)
        goto too_big;
    *out = fl_buf_steal(&b);
    rc = 0;
    goto out;
too_big:
    rc = fl_err_set(err, -E2BIG, "%s: the value is too long", tmpl);
out:
    fl_buf_done(&b);
    return rc;
}

json_t *fl_sched_preserve_state(const json_t *policy, bool application, const json_t *status,
                                fl_err *err)
{
    const json_t *rules =
        fl_obj_get(policy, application ? "spec.failover.application.statePreservation.rules"
                                       : "spec.failover.cluster.statePreservation.rules");
    if (!json_array_size(rules))
        return NULL;
    json_t *labels = json_object();
    size_t i;
    const json_t *r;
    json_array_foreach(rules, i, r) {
        const char *alias = fl_obj_str_or(r, "aliasLabelName", "");
        const char *path = fl_obj_str_or(r, "jsonPath", "");
        char *v = NULL;
        if (fl_label_validate_key(alias, err) != 0 ||
            fl_sched_jsonpath(status, path, &v, err) != 0 || fl_label_validate_value(v, err) != 0) {
            fl_err_wrap(err, err ? err->code : FL_EPARSE, "statePreservation %s", alias);
            free(v);
            json_decref(labels);
            return NULL;
        }
        json_object_set_new(labels, alias, json_string(v));
        free(v);
    }
    return labels;
}

/* Seconds since the epoch of an RFC 3339 UTC time ("2006-01-02T15:04:05Z"); -1 if bad. */
static int64_t epoch_of(const char *s)
{
    struct tm tm = {0};
    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

bool fl_sched_task_done(const json_t *task, bool placement_healthy, int64_t default_grace_s,
                        int64_t now_s)
{
    const json_t *sd = json_object_get(task, "suppressDeletion");
    if (json_is_true(sd))
        return false; /* purgeMode Never: kept until someone clears suppressDeletion */
    if (json_is_false(sd))
        return true; /* deletion explicitly allowed */
    int64_t grace = int_at(task, "gracePeriodSeconds", default_grace_s);
    int64_t at = epoch_of(fl_obj_str(task, "creationTimestamp"));
    if (at < 0 || now_s - at >= grace)
        return true;
    return placement_healthy;
}

int64_t fl_sched_app_toleration_s(const json_t *policy)
{
    const json_t *app = fl_obj_get(policy, "spec.failover.application");
    if (!json_is_object(app))
        return -1;
    return int_at(app, "decisionConditions.tolerationSeconds", 300);
}
