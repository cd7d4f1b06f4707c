/*
 * tests/fuzz/fuzz_place.c: libFuzzer target for the placement engine's JSON
 * requests (what `flotilla debug place` and POST /api/v1/place take from
 * outside): webster, assign, select, place (with explain and the
 * request's quota ledger) and override (OverridePolicies from the host). No crash, no leak, and every call either answers
 * an object or names why the request is malformed. Requests asking for more
 * than 100,000 seats are skipped (time, not correctness: the engine accepts
 * up to FL_SCHED_MAX_SEATS).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/scheduler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool too_big(const json_t *req)
{
    static const char *const keys[] = {"seats", "replicas"};
    for (size_t i = 0; i < FL_ARRAY_LEN(keys); i++) {
        const json_t *v = json_object_get(req, keys[i]);
        if (json_is_integer(v) && json_integer_value(v) > 100000)
            return true;
    }
    const json_t *r =
        json_object_get(json_object_get(json_object_get(req, "template"), "spec"), "replicas");
    return json_is_integer(r) && json_integer_value(r) > 100000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *req = NULL;
    fl_err err = FL_ERR_INIT;
    if (fl_json_parse((const char *)data, size, &req, &err) != 0)
        return 0;
    if (!json_is_object(req) || too_big(req)) {
        json_decref(req);
        return 0;
    }
    const char *op = json_string_value(json_object_get(req, "op"));
    json_t *ans = NULL;
    if (op && !strcmp(op, "webster"))
        ans = fl_sched_op_webster(req, &err);
    else if (op && !strcmp(op, "assign"))
        ans = fl_sched_op_assign(req, &err);
    else if (op && !strcmp(op, "select"))
        ans = fl_sched_op_select(req, &err);
    else if (op && !strcmp(op, "override"))
        ans = fl_sched_op_override(req, &err);
    else {
        json_object_set_new(req, "explain", json_true());
        ans = fl_sched_op_place(req, NULL, &err);
    }
    if (!ans && !err.msg[0])
        abort();
    if (ans && !json_is_object(ans))
        abort();
    json_decref(ans);
    json_decref(req);
    return 0;
}
