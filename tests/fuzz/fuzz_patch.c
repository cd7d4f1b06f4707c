/*
 * tests/fuzz/fuzz_patch.c: random patch bodies against a fixed Deployment
 * for the three patch types (first byte picks the type, the rest is the
 * body). Must not crash or leak, must leave the original untouched, and
 * every failure must map to a Status.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"

static const char original_json[] =
    "{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":\"web\","
    "\"labels\":{\"app\":\"web\"},\"finalizers\":[\"a\",\"b\"]},\"spec\":{\"replicas\":2,"
    "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":\"25%\"}},"
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":["
    "{\"name\":\"nginx\",\"image\":\"nginx:1.25\",\"ports\":[{\"containerPort\":80}],"
    "\"env\":[{\"name\":\"A\",\"value\":\"1\"}]},{\"name\":\"side\",\"image\":\"busybox\"}],"
    "\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}],\"tolerations\":[{\"key\":\"k\"}]}}},"
    "\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"True\"}]}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fl_patch_type types[] = {FL_PATCH_MERGE, FL_PATCH_JSON, FL_PATCH_STRATEGIC};
    if (size < 1)
        return 0;
    json_t *orig = json_loads(original_json, 0, NULL);
    json_t *copy = json_deep_copy(orig), *out = NULL;
    fl_err err = FL_ERR_INIT;
    fl_patch_type t = types[data[0] % 3];
    int rc = fl_patch_apply(t, orig, (const char *)data + 1, size - 1,
                            fl_patch_schema_for("apps", "Deployment"), &out, &err);
    if (rc == 0) {
        if (!out)
            abort();
        fl_buf b = FL_BUF_INIT(64u << 20);
        fl_json_encode(out, false, &b);
        fl_buf_done(&b);
        json_decref(out);
    } else {
        if (out)
            abort();
        json_t *st = fl_patch_status(rc, &err);
        if (!st)
            abort();
        json_decref(st);
    }
    if (!json_equal(orig, copy))
        abort();
    json_decref(orig);
    json_decref(copy);
    return 0;
}
