/*
 * scheduler/failover.c: the pieces of Karmada's failover that prop.c
 * applies to a binding: the health of a member copy (the default resource
 * interpreter's rules), graceful eviction tasks (created on eviction by
 * the policy's purge mode, ended when the new placement is healthy or the
 * grace period has passed), and the application failover toleration.
 * Pure functions over JSON; no I/O.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
