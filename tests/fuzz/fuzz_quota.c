/*
 * tests/fuzz/fuzz_quota.c: libFuzzer target for quota/'s engine on
 * untrusted JSON (what an AdmissionReview, a ResourceBinding or a quota
 * object from a member or the host may hold): the input, when it parses,
 * goes through ResourceQuota admission, ResourceBinding admission, FRQ
 * validation, binding usage and object usage. No crash, no leak, and an
 * answer is always an object (or a clean error).
 */
#include <stdint.h>
#include <stdlib.h>

#include "kube/kube.h"
#include "quota/quota.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *req = NULL, *out = NULL;
    if (size > (1u << 16) || fl_json_parse((const char *)data, size, &req, NULL) != 0)
        return 0;
    if (fl_quota_admit(req, &out, NULL) == 0 && !json_is_object(out))
        abort();
    json_decref(out), out = NULL;
    if (fl_quota_binding_admit(req, &out, NULL) == 0 && !json_is_object(out))
        abort();
    json_decref(out), out = NULL;
    if (fl_quota_frq_validate(req, &out, NULL) == 0 && !json_is_array(out))
        abort();
    json_decref(out), out = NULL;
    if (fl_quota_binding_usage(req, &out, NULL) == 0 && !json_is_object(out))
        abort();
    json_decref(out), out = NULL;
    if (fl_quota_object_usage("", "pods", json_object_get(req, "object"), 0, &out, NULL) == 0 &&
        !json_is_object(out))
        abort();
    json_decref(out);
    json_decref(req);
    return 0;
}
