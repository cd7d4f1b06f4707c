/*
 * tests/scheduler/test_failover_rules.c: scheduler/failover.c, Karmada's
 * failover rules over JSON: the health of member copies (Deployment,
 * StatefulSet, Job, others), the eviction task each purge mode makes, and
 * when a task ends (suppressDeletion, grace period, healthy placement).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/sched_int.h"
#include "tests/test.h"

static json_t *J(const char *s)
{
    json_t *o = json_loads(s, 0, NULL);
    if (!o)
        abort();
    return o;
}

static void health(const char *obj, const char *want)
{
    json_t *o = J(obj);
    T_EQ_STR(fl_sched_copy_health(o), want);
    json_decref(o);
}

static void test_health(void)
{
    health("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":2},\"spec\":{\"replicas\":3},"
           "\"status\":{\"observedGeneration\":2,\"updatedReplicas\":3,\"availableReplicas\":3}}",
           "Healthy");
    /* not seen by the member's controller yet */
    health("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":3},\"spec\":{\"replicas\":3},"
           "\"status\":{\"observedGeneration\":2,\"updatedReplicas\":3,\"availableReplicas\":3}}",
           "Unknown");
    health("{\"kind\":\"Deployment\",\"spec\":{\"replicas\":3}}", "Unknown");
    /* pods that cannot run */
    health("{\"kind\":\"Deployment\",\"spec\":{\"replicas\":3},"
           "\"status\":{\"updatedReplicas\":3,\"availableReplicas\":0}}",
           "Unhealthy");
    /* a rollout stuck behind old pods that still serve */
    health("{\"kind\":\"Deployment\",\"spec\":{\"replicas\":2},\"status\":{\"updatedReplicas\":2,"
           "\"availableReplicas\":2,\"unavailableReplicas\":2}}",
           "Unhealthy");
    health("{\"kind\":\"StatefulSet\",\"spec\":{\"replicas\":2},"
           "\"status\":{\"updatedReplicas\":2,\"readyReplicas\":1}}",
           "Unhealthy");
    health("{\"kind\":\"StatefulSet\",\"spec\":{\"replicas\":2},"
           "\"status\":{\"updatedReplicas\":2,\"readyReplicas\":2}}",
           "Healthy");
    health("{\"kind\":\"Job\",\"status\":{\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\"}"
           "]}}",
           "Unhealthy");
    health("{\"kind\":\"Job\",\"status\":{}}", "Healthy");
    health("{\"kind\":\"ConfigMap\"}", "Healthy");
}

static void test_tasks(void)
{
    const char *now = "2026-01-02T03:04:05Z";
    json_t *pol = J("{\"spec\":{\"failover\":{\"application\":{\"purgeMode\":\"Gracefully\","
                    "\"gracePeriodSeconds\":60,\"decisionConditions\":{\"tolerationSeconds\":7}},"
                    "\"cluster\":{\"purgeMode\":\"Directly\"}}}}");
    T_EQ_INT(fl_sched_app_toleration_s(pol), 7);
    json_t *t = fl_sched_evict_task(pol, "m1", 4, true, "why", now);
    T_CHECK(t != NULL);
    T_EQ_STR(fl_obj_str_or(t, "fromCluster", ""), "m1");
    T_EQ_STR(fl_obj_str_or(t, "reason", ""), "ApplicationFailure");
    T_EQ_STR(fl_obj_str_or(t, "producer", ""), "ResourceBindingApplicationFailoverController");
    T_EQ_STR(fl_obj_str_or(t, "purgeMode", ""), "Gracefully");
    T_EQ_INT(json_integer_value(json_object_get(t, "gracePeriodSeconds")), 60);
    T_EQ_INT(json_integer_value(json_object_get(t, "replicas")), 4);
    /* ends when the new placement is healthy or 60 s after its creation */
    struct tm tm = {
        .tm_year = 126, .tm_mon = 0, .tm_mday = 2, .tm_hour = 3, .tm_min = 4, .tm_sec = 5};
    int64_t at = (int64_t)timegm(&tm);
    T_CHECK(!fl_sched_task_done(t, false, 600, at + 59));
    T_CHECK(fl_sched_task_done(t, true, 600, at + 1));
    T_CHECK(fl_sched_task_done(t, false, 600, at + 60));
    json_decref(t);
    /* cluster failover with Directly: no task, the copy goes at once */
    T_CHECK(fl_sched_evict_task(pol, "m1", 4, false, "why", now) == NULL);
    json_decref(pol);
    /* Never (and the old Immediately name) */
    pol = J("{\"spec\":{\"failover\":{\"application\":{\"purgeMode\":\"Never\"},"
            "\"cluster\":{\"purgeMode\":\"Immediately\"}}}}");
    t = fl_sched_evict_task(pol, "m2", 1, true, "why", now);
    T_CHECK(t && json_is_true(json_object_get(t, "suppressDeletion")));
    T_CHECK(!fl_sched_task_done(t, true, 0, at + 100000));
    json_object_set_new(t, "suppressDeletion", json_false());
    T_CHECK(fl_sched_task_done(t, false, 600, at));
    json_decref(t);
    T_CHECK(fl_sched_evict_task(pol, "m2", 1, false, "why", now) == NULL);
    json_decref(pol);
    /* defaults: taint eviction is graceful with the controller's timeout */
    pol = J("{\"spec\":{}}");
    T_EQ_INT(fl_sched_app_toleration_s(pol), -1);
    t = fl_sched_evict_task(pol, "m3", 2, false, "why", now);
    T_CHECK(t != NULL);
    T_EQ_STR(fl_obj_str_or(t, "reason", ""), "TaintUntolerated");
    T_EQ_STR(fl_obj_str_or(t, "purgeMode", ""), "Gracefully");
    T_CHECK(json_object_get(t, "gracePeriodSeconds") == NULL);
    T_CHECK(!fl_sched_task_done(t, false, 600, at + 599));
    T_CHECK(fl_sched_task_done(t, false, 600, at + 600));
    json_decref(t);
    json_decref(pol);
}

static void path_is(const char *root, const char *tmpl, const char *want)
{
    json_t *o = J(root);
    char *v = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_sched_jsonpath(o, tmpl, &v, &err), 0);
    T_EQ_STR(v ? v : "(null)", want);
    free(v);
    json_decref(o);
}

static void path_fails(const char *root, const char *tmpl, int code)
{
    json_t *o = J(root);
    char *v = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_sched_jsonpath(o, tmpl, &v, &err), code);
    T_CHECK(v == NULL && err.msg[0]);
    json_decref(o);
}

/* statePreservation: Karmada's JSONPath subset over a copy's status, and
 * the labels a policy's rules make of it */
static void test_state(void)
{
    const char *st = "{\"updatedReplicas\":3,\"jobStatus\":{\"state\":\"RUNNING\","
                     "\"checkpoint.id\":\"ck-7\"},\"conditions\":[{\"type\":\"A\"},"
                     "{\"type\":\"B\",\"ok\":true}]}";
    path_is(st, "{ .updatedReplicas }", "3");
    path_is(st, "{.jobStatus.state}", "RUNNING");
    path_is(st, "{$.jobStatus['checkpoint.id']}", "ck-7");
    path_is(st, "{.conditions[1].type}", "B");
    path_is(st, "{.conditions[1].ok}", "true");
    path_is(st, "id-{.jobStatus.state}-{.updatedReplicas}", "id-RUNNING-3");
    path_is(st, "{.conditions[0]}", "{\"type\":\"A\"}");
    path_fails(st, "{.missing}", FL_ENOTFOUND); /* Karmada: AllowMissingKeys(false) */
    path_fails(st, "{.conditions[7].type}", FL_ENOTFOUND);
    path_fails(st, "{.conditions[?(@.type=='A')]}", FL_EPARSE);
    path_fails(st, "{.jobStatus", FL_EPARSE);
    /* malformed templates end in an error, never past the string */
    static const char *const bad[] = {"{",
                                      "{[",
                                      "{['",
                                      "{[1",
                                      "{.a[",
                                      "{.}x{",
                                      "{..}",
                                      "{.a.}",
                                      "{['a']",
                                      "{[\"a",
                                      "{[99999999999]}",
                                      "{$.[0]}",
                                      "{ .a b}",
                                      "{@}}{"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *o = J(st);
        char *v = NULL;
        fl_err e = FL_ERR_INIT;
        T_CHECK(fl_sched_jsonpath(o, bad[i], &v, &e) != 0 && v == NULL);
        json_decref(o);
    }

    json_t *pol = J("{\"spec\":{\"failover\":{\"application\":{\"statePreservation\":{"
                    "\"rules\":[{\"aliasLabelName\":\"example.io/state\","
                    "\"jsonPath\":\"{.jobStatus.state}\"},{\"aliasLabelName\":\"replicas\","
                    "\"jsonPath\":\"{ .updatedReplicas }\"}]}}}}}");
    json_t *status = J(st);
    fl_err err = FL_ERR_INIT;
    json_t *l = fl_sched_preserve_state(pol, true, status, &err);
    T_CHECK(l != NULL);
    T_EQ_STR(fl_obj_str_or(l, "replicas", ""), "3");
    T_EQ_STR(json_string_value(json_object_get(l, "example.io/state")), "RUNNING");
    json_decref(l);
    /* the cluster behaviour has no rules */
    T_CHECK(fl_sched_preserve_state(pol, false, status, &err) == NULL);
    json_decref(pol);
    /* a value no label can hold is an error, not a copy the member refuses */
    pol = J("{\"spec\":{\"failover\":{\"cluster\":{\"statePreservation\":{\"rules\":["
            "{\"aliasLabelName\":\"c\",\"jsonPath\":\"{.conditions}\"}]}}}}}");
    T_CHECK(fl_sched_preserve_state(pol, false, status, &err) == NULL);
    T_CHECK(err.code == FL_EPARSE && strstr(err.msg, "statePreservation c"));
    json_decref(pol);
    json_decref(status);
}

int main(void)
{
    test_health();
    test_tasks();
    test_state();
    return t_done();
}
