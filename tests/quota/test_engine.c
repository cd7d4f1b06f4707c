/*
 * tests/quota/test_engine.c: quota/'s public functions called directly —
 * ownership (answers are new references, nothing written on failure),
 * hostile inputs (wrong JSON types, caps on list sizes, huge quantities,
 * overflowing products) and the exact wording of the main answers. The
 * case-by-case semantics live in test_debug_quota.py; this checks the C
 * contract and, under ASan, that every path is leak-free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "quota/quota.h"
#include "tests/test.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
    if (!v)
        fprintf(stderr, "bad test JSON: %s: %s\n", s, e.text);
    return v;
}

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

static void expect_admit(const char *req, const char *want)
{
    json_t *r = J(req), *out = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = fl_quota_admit(r, &out, &err);
    T_EQ_INT(rc, 0);
    char *got = out ? dump(out) : NULL;
    T_EQ_STR(got, want);
    free(got);
    json_decref(out);
    json_decref(r);
}

static void expect_admit_error(const char *req)
{
    json_t *r = J(req), *out = (json_t *)0x1;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_quota_admit(r, &out, &err), FL_EPARSE);
    T_CHECK(out == (json_t *)0x1); /* not written on failure */
    T_CHECK(err.msg[0] != 0);
    json_decref(r);
}

static void test_admit(void)
{
    expect_admit(
        "{\"quotas\":[{\"metadata\":{\"name\":\"compute\"},\"spec\":{\"hard\":{\"requests.cpu\":"
        "\"2\"}}}],"
        "\"used\":{\"compute\":{\"requests.cpu\":\"1500m\"}},\"operation\":\"CREATE\","
        "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"name\":"
        "\"c\","
        "\"resources\":{\"requests\":{\"cpu\":\"1\"}}}]}}}",
        "{\"allowed\":false,\"code\":403,\"reason\":\"Forbidden\",\"message\":\"exceeded quota: "
        "compute, requested: requests.cpu=1, used: requests.cpu=1500m, limited: requests.cpu=2\"}");
    /* no quotas: allowed, nothing used */
    expect_admit(
        "{\"quotas\":[],\"operation\":\"CREATE\",\"resource\":\"pods\",\"object\":{\"spec\":{}}}",
        "{\"allowed\":true,\"used\":{}}");
    /* hostile: wrong types, missing members */
    expect_admit_error("[]");
    expect_admit_error("{\"operation\":5}");
    expect_admit_error("{\"operation\":\"CREATE\",\"object\":\"x\"}");
    expect_admit_error(
        "{\"operation\":\"CREATE\",\"resource\":\"pods\",\"object\":{},\"quotas\":{}}");
    expect_admit_error(
        "{\"operation\":\"CREATE\",\"resource\":\"pods\",\"object\":{\"spec\":{\"containers\":7}},"
        "\"quotas\":[{\"spec\":{\"hard\":{\"pods\":\"1\"}}}]}");
    expect_admit_error("{\"operation\":\"CREATE\",\"resource\":\"pods\",\"object\":{},"
                       "\"quotas\":[{\"spec\":{\"hard\":{\"pods\":[1]}}}]}");
    expect_admit_error("{\"operation\":\"UPDATE\",\"resource\":\"pods\",\"object\":{}}");
    /* a quantity with too many digits is refused, not truncated */
    expect_admit_error(
        "{\"operation\":\"CREATE\",\"resource\":\"pods\",\"object\":{},\"quotas\":[{\"spec\":"
        "{\"hard\":{\"pods\":\"1234567890123456789012345678901234567890123456789012345678901"
        "23456789012345678901234567890123456789012345678901234567890123456789012345678901\"}}}]}");
}

static void test_caps(void)
{
    /* a resource list past FL_QUOTA_MAX_RESOURCES */
    json_t *hard = json_object();
    for (int i = 0; i <= FL_QUOTA_MAX_RESOURCES; i++) {
        char k[32];
        snprintf(k, sizeof k, "count/x%d.example.com", i);
        json_object_set_new(hard, k, json_string("1"));
    }
    json_t *req = json_pack("{s:s,s:s,s:{},s:[{s:{s:o}}]}", "operation", "CREATE", "resource",
                            "pods", "object", "quotas", "spec", "hard", hard);
    json_t *out = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_quota_admit(req, &out, &err), FL_EPARSE);
    T_CHECK(strstr(err.msg, "more than") != NULL);
    json_decref(req);
    /* replicas x request overflowing the digit cap is -ERANGE, not garbage */
    json_t *b =
        J("{\"clusters\":[{\"name\":\"m\",\"replicas\":2147483647}],\"replicaRequirements\":"
          "{\"resourceRequest\":{\"cpu\":\"9999999999999999999999999999999999999999999999999999"
          "99999999999999999999999999999999999999999999k\"}}}");
    out = NULL;
    int rc = fl_quota_binding_usage(b, &out, &err);
    T_CHECK(rc == -ERANGE || rc == 0);
    json_decref(out);
    json_decref(b);
}

static void test_frq(void)
{
    json_t *f = J("{\"metadata\":{\"name\":\"f\"},\"spec\":{\"overall\":{\"cpu\":\"1\"},"
                  "\"staticAssignments\":[{\"clusterName\":\"m1\",\"hard\":{\"cpu\":\"2\"}}]}}");
    json_t *errs = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_quota_frq_validate(f, &errs, &err), 0);
    T_EQ_INT(json_array_size(errs), 1);
    T_EQ_STR(json_string_value(json_array_get(errs, 0)),
             "spec.overall[cpu]: Invalid value: \"1\": overall is less than assignments");
    json_decref(errs);
    json_decref(f);
    errs = NULL;
    f = J("{\"spec\":{\"staticAssignments\":{}}}");
    T_EQ_INT(fl_quota_frq_validate(f, &errs, &err), FL_EPARSE);
    T_CHECK(errs == NULL);
    json_decref(f);

    json_t *req =
        J("{\"operation\":\"CREATE\",\"new\":{\"namespace\":\"ns\",\"clusters\":[{\"name\":\"m\","
          "\"replicas\":3}],\"replicaRequirements\":{\"resourceRequest\":{\"cpu\":\"500m\"}}},"
          "\"frqs\":[{\"metadata\":{\"name\":\"q\"},\"spec\":{\"overall\":{\"cpu\":\"2\"}},"
          "\"status\":{\"overallUsed\":{\"cpu\":\"1\"}}}]}");
    json_t *ans = NULL;
    T_EQ_INT(fl_quota_binding_admit(req, &ans, &err), 0);
    char *s = dump(ans);
    T_EQ_STR(s, "{\"allowed\":false,\"code\":403,\"reason\":\"QuotaExceeded\",\"message\":"
                "\"FederatedResourceQuota(ns/q) exceeded for resource cpu: requested sum 2500m, "
                "limit 2.\"}");
    free(s);
    json_decref(ans);
    json_decref(req);

    json_t *overall = J("{\"cpu\":\"10\"}"),
           *bindings = J("[{\"clusters\":[{\"name\":\"m\",\"replicas\":2}],"
                         "\"replicaRequirements\":{\"resourceRequest\":{\"cpu\":\"1.5\"}}}]");
    json_t *used = NULL;
    T_EQ_INT(fl_quota_frq_used(overall, bindings, &used, &err), 0);
    T_EQ_STR(json_string_value(json_object_get(used, "cpu")), "3");
    json_decref(used);
    json_decref(overall);
    json_decref(bindings);
}

int main(void)
{
    test_admit();
    test_caps();
    test_frq();
    return t_done();
}
