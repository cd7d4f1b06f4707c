/*
 * cmd/debug.c: `flotilla debug [kube]` — a line protocol for checking the
 * Kubernetes primitives against upstream: each stdin line is one JSON
 * object {"op": ..., ...}; each gets exactly one compact JSON line back
 * (flushed at once). Ops live in per-domain tables (kube today; the
 * placement engine adds its own table to `domains`), so a new op is one
 * handler and one table row. Invalid operands answer {"valid":false,
 * "error":...}; a line that is not a JSON object with a known "op" answers
 * {"error":...}; neither stops the loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "kube/kube.h"
#include "scheduler/scheduler.h"
#include "quota/quota.h"

#define DEBUG_MAX_LINE (1u << 20)
#define DEBUG_MAX_OUT (4u << 20)

/* A handler answers one request: a new object, or NULL with err set when
 * the request itself is malformed (missing or mistyped members). */
typedef json_t *(*debug_fn)(const json_t *req, fl_err *err);

/* An op: its name, handler, the request members it reads and its answer
 * (for --help), and one example request (--help runs it to show the answer). */
typedef struct debug_op {
    const char *name;
    debug_fn fn;
    const char *input, *output, *example;
} debug_op;

typedef struct debug_domain {
    const char *name;
    const debug_op *ops;
    size_t nops;
} debug_domain;

/* ---------------------------------------------------------------- helpers */

static const char *req_str(const json_t *req, const char *key, fl_err *err)
{
    const json_t *v = json_object_get(req, key);
    if (!json_is_string(v)) {
        fl_err_set(err, FL_EPARSE, "member \"%s\" must be a string", key);
        return NULL;
    }
    return json_string_value(v);
}

static json_t *invalid(const char *what, const fl_err *e)
{
    char msg[640];
    snprintf(msg, sizeof msg, "%s%s%s", what ? what : "", what ? ": " : "", e->msg);
    return json_pack("{s:b,s:s}", "valid", 0, "error", msg);
}

static json_t *int64_or_null(int rc, int64_t v)
{
    char buf[32];
    if (rc)
        return json_null();
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return json_string(buf);
}

/* Parse member `key` as a quantity; on failure *resp is the answer. */
static bool req_qty(const json_t *req, const char *key, fl_quantity *q, json_t **resp, fl_err *err)
{
    const char *s = req_str(req, key, err);
    if (!s)
        return false;
    fl_err e = FL_ERR_INIT;
    if (fl_quantity_parse(s, strlen(s), q, &e) != 0) {
        *resp = invalid(strcmp(key, "input") == 0 ? NULL : key, &e);
        return false;
    }
    return true;
}

static json_t *qty_string(const fl_quantity *q)
{
    char buf[FL_QTY_STR_MAX];
    fl_quantity_format(q, buf, sizeof buf);
    return json_string(buf);
}

/* ---------------------------------------------------------------- quantity ops */

static json_t *op_quantity(const json_t *req, fl_err *err)
{
    fl_quantity q;
    json_t *resp = NULL;
    if (!req_qty(req, "input", &q, &resp, err))
        return resp;
    int64_t v = 0, m = 0;
    int vrc = fl_quantity_value(&q, &v), mrc = fl_quantity_milli_value(&q, &m);
    return json_pack("{s:b,s:o,s:o,s:o}", "valid", 1, "string", qty_string(&q), "value",
                     int64_or_null(vrc, v), "milli", int64_or_null(mrc, m));
}

static json_t *op_quantity_cmp(const json_t *req, fl_err *err)
{
    fl_quantity a, b;
    json_t *resp = NULL;
    if (!req_qty(req, "a", &a, &resp, err) || !req_qty(req, "b", &b, &resp, err))
        return resp;
    return json_pack("{s:i}", "result", fl_quantity_cmp(&a, &b));
}

static json_t *quantity_arith(const json_t *req, fl_err *err, int which)
{
    fl_quantity a, b;
    json_t *resp = NULL;
    if (!req_qty(req, "a", &a, &resp, err) || !req_qty(req, "b", &b, &resp, err))
        return resp;
    int rc = which ? fl_quantity_sub(&a, &b) : fl_quantity_add(&a, &b);
    if (rc)
        return json_pack("{s:b,s:s}", "valid", 0, "error", "result has too many digits");
    return json_pack("{s:o}", "string", qty_string(&a));
}

static json_t *op_quantity_add(const json_t *req, fl_err *err)
{
    return quantity_arith(req, err, 0);
}

static json_t *op_quantity_sub(const json_t *req, fl_err *err)
{
    return quantity_arith(req, err, 1);
}

static json_t *op_quantity_mul(const json_t *req, fl_err *err)
{
    fl_quantity a;
    json_t *resp = NULL;
    const json_t *n = json_object_get(req, "n");
    int64_t k;
    if (json_is_integer(n))
        k = json_integer_value(n);
    else if (!json_is_string(n) ||
             fl_parse_i64(json_string_value(n), json_string_length(n), &k) != 0) {
        fl_err_set(err, FL_EPARSE, "member \"n\" must be an int64 (number or string)");
        return NULL;
    }
    if (!req_qty(req, "a", &a, &resp, err))
        return resp;
    if (fl_quantity_mul(&a, k) != 0)
        return json_pack("{s:b,s:s}", "valid", 0, "error", "result has too many digits");
    return json_pack("{s:o}", "string", qty_string(&a));
}

/* ---------------------------------------------------------------- selector ops */

/* The selector from "selector" (string form) or "labelSelector" (JSON). */
static bool req_labels(const json_t *req, fl_label_selector **sel, json_t **resp, fl_err *err)
{
    fl_err e = FL_ERR_INIT;
    int rc;
    const json_t *s = json_object_get(req, "selector");
    if (json_is_string(s))
        rc = fl_label_selector_parse(json_string_value(s), json_string_length(s), sel, &e);
    else if (json_object_get(req, "labelSelector"))
        rc = fl_label_selector_from_json(json_object_get(req, "labelSelector"), sel, &e);
    else {
        fl_err_set(err, FL_EPARSE, "member \"selector\" (string) or \"labelSelector\" needed");
        return false;
    }
    if (rc)
        *resp = invalid(NULL, &e);
    return rc == 0;
}

static json_t *op_labels_parse(const json_t *req, fl_err *err)
{
    fl_label_selector *sel = NULL;
    json_t *resp = NULL;
    if (!req_labels(req, &sel, &resp, err))
        return resp;
    fl_buf b = FL_BUF_INIT(DEBUG_MAX_OUT);
    if (fl_label_selector_string(sel, &b) == 0)
        resp = json_pack("{s:b,s:s}", "valid", 1, "string", b.data ? b.data : "");
    else
        fl_err_set(err, -E2BIG, "selector string too long");
    fl_buf_done(&b);
    fl_label_selector_free(sel);
    return resp;
}

static json_t *op_labels_match(const json_t *req, fl_err *err)
{
    fl_label_selector *sel = NULL;
    json_t *resp = NULL;
    const json_t *labels = json_object_get(req, "labels");
    if (labels && !json_is_object(labels) && !json_is_null(labels)) {
        fl_err_set(err, FL_EPARSE, "member \"labels\" must be an object");
        return NULL;
    }
    if (!req_labels(req, &sel, &resp, err))
        return resp;
    resp = json_pack("{s:b}", "matches", fl_label_selector_matches(sel, labels));
    fl_label_selector_free(sel);
    return resp;
}

static bool req_fields(const json_t *req, fl_field_selector **sel, json_t **resp, fl_err *err)
{
    const char *s = req_str(req, "selector", err);
    if (!s)
        return false;
    fl_err e = FL_ERR_INIT;
    const json_t *sv = json_object_get(req, "selector");
    if (fl_field_selector_parse(s, json_string_length(sv), sel, &e) != 0) {
        *resp = invalid(NULL, &e);
        return false;
    }
    return true;
}

static json_t *op_fields_parse(const json_t *req, fl_err *err)
{
    fl_field_selector *sel = NULL;
    json_t *resp = NULL;
    if (!req_fields(req, &sel, &resp, err))
        return resp;
    fl_buf b = FL_BUF_INIT(DEBUG_MAX_OUT);
    if (fl_field_selector_string(sel, &b) == 0)
        resp = json_pack("{s:b,s:s}", "valid", 1, "string", b.data ? b.data : "");
    else
        fl_err_set(err, -E2BIG, "selector string too long");
    fl_buf_done(&b);
    fl_field_selector_free(sel);
    return resp;
}

static const char *field_get(const char *field, void *ud)
{
    return json_string_value(json_object_get((const json_t *)ud, field));
}

static json_t *op_fields_match(const json_t *req, fl_err *err)
{
    fl_field_selector *sel = NULL;
    json_t *resp = NULL;
    const json_t *fields = json_object_get(req, "fields");
    if (fields && !json_is_object(fields) && !json_is_null(fields)) {
        fl_err_set(err, FL_EPARSE, "member \"fields\" must be an object");
        return NULL;
    }
    if (!req_fields(req, &sel, &resp, err))
        return resp;
    bool m =
        fl_field_selector_matches(sel, json_is_object(fields) ? field_get : NULL, (void *)fields);
    fl_field_selector_free(sel);
    return json_pack("{s:b}", "matches", m);
}

/* ---------------------------------------------------------------- quota ops */

/* A quota op's result: the answer, or {"error":..} when the request is
 * malformed (the engine's message). */
static json_t *quota_result(int rc, json_t *out, const char *key, const fl_err *e)
{
    if (rc)
        return json_pack("{s:s}", "error", e->msg[0] ? e->msg : fl_strerror(rc));
    return key ? json_pack("{s:o}", key, out) : out;
}

static json_t *op_frq_validate(const json_t *req, fl_err *err)
{
    json_t *out = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_quota_frq_validate(json_object_get(req, "frq"), &out, &e);
    return quota_result(rc, out, "errors", &e);
}

static json_t *op_binding_usage(const json_t *req, fl_err *err)
{
    json_t *out = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_quota_binding_usage(json_object_get(req, "binding"), &out, &e);
    return quota_result(rc, out, "usage", &e);
}

static json_t *op_frq_used(const json_t *req, fl_err *err)
{
    json_t *out = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_quota_frq_used(json_object_get(req, "overall"), json_object_get(req, "bindings"),
                               &out, &e);
    return quota_result(rc, out, "used", &e);
}

static json_t *op_binding_admit(const json_t *req, fl_err *err)
{
    json_t *out = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_quota_binding_admit(req, &out, &e);
    return quota_result(rc, out, NULL, &e);
}

static json_t *op_quota_admit(const json_t *req, fl_err *err)
{
    json_t *out = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_quota_admit(req, &out, &e);
    return quota_result(rc, out, NULL, &e);
}

static json_t *op_quota_usage(const json_t *req, fl_err *err)
{
    json_t *out = NULL;
    fl_err e = FL_ERR_INIT;
    const json_t *now = json_object_get(req, "now");
    const char *res = json_string_value(json_object_get(req, "resource"));
    if (!res) {
        fl_err_set(err, FL_EPARSE,
                   "member \"resource\" must be a string (\"pods\", \"jobs.batch\")");
        return NULL;
    }
    const char *dot = strchr(res, '.');
    char resource[256];
    snprintf(resource, sizeof resource, "%.*s", dot ? (int)(dot - res) : (int)strlen(res), res);
    int rc = fl_quota_object_usage(
        dot ? dot + 1 : "", resource, json_object_get(req, "object"),
        json_is_integer(now) ? json_integer_value(now) : fl_now_ms() / 1000, &out, &e);
    return quota_result(rc, out, "usage", &e);
}

/* ---------------------------------------------------------------- tables */

static const debug_op kube_ops[] = {
    {"quantity", op_quantity, "input: quantity string",
     "valid, string (canonical), value, milli (int64 strings; null on overflow) | valid:false, "
     "error",
     "{\"op\":\"quantity\",\"input\":\"1.5Gi\"}"},
    {"quantity.cmp", op_quantity_cmp, "a, b: quantity strings", "result: -1, 0 or 1",
     "{\"op\":\"quantity.cmp\",\"a\":\"1\",\"b\":\"999m\"}"},
    {"quantity.add", op_quantity_add, "a, b: quantity strings", "string: a + b",
     "{\"op\":\"quantity.add\",\"a\":\"100m\",\"b\":\"1\"}"},
    {"quantity.sub", op_quantity_sub, "a, b: quantity strings", "string: a - b",
     "{\"op\":\"quantity.sub\",\"a\":\"1Gi\",\"b\":\"512Mi\"}"},
    {"quantity.mul", op_quantity_mul, "a: quantity string, n: int64 (number or string)",
     "string: a * n", "{\"op\":\"quantity.mul\",\"a\":\"250m\",\"n\":3}"},
    {"labels.parse", op_labels_parse,
     "selector: label selector string, or labelSelector: {matchLabels, matchExpressions}",
     "valid, string (canonical) | valid:false, error",
     "{\"op\":\"labels.parse\",\"selector\":\"app in (web,api), !canary\"}"},
    {"labels.match", op_labels_match, "selector or labelSelector (as labels.parse), labels: object",
     "matches: bool",
     "{\"op\":\"labels.match\",\"labelSelector\":{\"matchLabels\":{\"app\":\"web\"}},"
     "\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}}"},
    {"fields.parse", op_fields_parse, "selector: field selector string",
     "valid, string (canonical) | valid:false, error",
     "{\"op\":\"fields.parse\",\"selector\":\"status.phase!=Running,spec.nodeName=n1\"}"},
    {"fields.match", op_fields_match, "selector: field selector string, fields: object of strings",
     "matches: bool",
     "{\"op\":\"fields.match\",\"selector\":\"metadata.namespace=default\","
     "\"fields\":{\"metadata.namespace\":\"default\"}}"},
};

/* The placement engine's ops (scheduler/scheduler.h does the work). */
static json_t *op_place(const json_t *req, fl_err *err)
{
    return fl_sched_op_place(req, NULL, err);
}

static const debug_op place_ops[] = {
    {"webster", fl_sched_op_webster,
     "seats: new seats, uid: template uid (tie order), parties: [{name, votes, initial}]",
     "assignment: [{name, seats}] for every party, in name order (initial + new seats)",
     "{\"op\":\"webster\",\"seats\":5,\"uid\":\"\",\"parties\":[{\"name\":\"A\",\"votes\":3,"
     "\"initial\":0},{\"name\":\"B\",\"votes\":2,\"initial\":0}]}"},
    {"assign", fl_sched_op_assign,
     "strategy: duplicated|static_weight|dynamic_weight|aggregated, replicas, uid, mode: "
     "Steady|Fresh, clusters: [{name, weight, available, current}], previous: [{name, replicas}]",
     "assignment: [{name, replicas}] | error (Karmada's wording)",
     "{\"op\":\"assign\",\"strategy\":\"static_weight\",\"replicas\":12,\"clusters\":[{\"name\":"
     "\"m1\",\"weight\":3},{\"name\":\"m2\",\"weight\":2},{\"name\":\"m3\",\"weight\":1}]}"},
    {"select", fl_sched_op_select,
     "replicas, strategy: duplicated|divided, spreadConstraints: [{spreadByField, minGroups, "
     "maxGroups}], clusters: [{name, score, available, region, zone, provider}]",
     "clusters: [names] | error",
     "{\"op\":\"select\",\"replicas\":4,\"strategy\":\"divided\",\"spreadConstraints\":[{"
     "\"spreadByField\":\"cluster\",\"minGroups\":1,\"maxGroups\":2}],\"clusters\":[{\"name\":"
     "\"m1\",\"score\":60,\"available\":5},{\"name\":\"m2\",\"score\":40,\"available\":5},"
     "{\"name\":\"m3\",\"score\":20,\"available\":5}]}"},
    {"place", op_place,
     "policy: PropagationPolicy, template: object, clusters: [config entries with nodes and pods, "
     "or available], previous: [{name, replicas}]",
     "clusters: [{name, replicas}] | error, reason: NoClusterFit|QuotaExceeded",
     "{\"op\":\"place\",\"policy\":{\"kind\":\"PropagationPolicy\",\"metadata\":{\"name\":\"p\","
     "\"namespace\":\"default\"},\"spec\":{\"resourceSelectors\":[{\"apiVersion\":\"apps/v1\","
     "\"kind\":\"Deployment\"}],\"placement\":{\"replicaScheduling\":{\"replicaSchedulingType\":"
     "\"Duplicated\"}}}},\"template\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
     "\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":2}},"
     "\"clusters\":[{\"name\":\"m1\",\"available\":10},{\"name\":\"m2\",\"available\":10}]}"},
    {"override", fl_sched_op_override,
     "policies: [OverridePolicy|ClusterOverridePolicy], template, cluster: {name, labels, ...}",
     "object: the template with every matching overrider applied in Karmada's order, applied: "
     "[policies] | error",
     "{\"op\":\"override\",\"policies\":[{\"kind\":\"OverridePolicy\",\"metadata\":{"
     "\"name\":\"o\",\"namespace\":\"default\"},\"spec\":{\"overrideRules\":[{"
     "\"overriders\":{\"labelsOverrider\":[{\"operator\":\"add\",\"value\":{\"tier\":"
     "\"web\"}}]}}]}}],\"template\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
     "\"metadata\":{\"name\":\"c\",\"namespace\":\"default\"}},\"cluster\":{\"name\":"
     "\"m1\"}}"},
};

static const debug_op quota_ops[] = {
    {"frq.validate", op_frq_validate, "frq: FederatedResourceQuota object",
     "errors: [Karmada's field errors] ([] when valid)",
     "{\"op\":\"frq.validate\",\"frq\":{\"metadata\":{\"name\":\"q\",\"namespace\":\"ns\"},"
     "\"spec\":{\"overall\":{\"cpu\":\"1\"},\"staticAssignments\":[{\"clusterName\":\"m1\","
     "\"hard\":{\"cpu\":\"2\"}}]}}}"},
    {"binding.usage", op_binding_usage,
     "binding: ResourceBinding or its spec {namespace, clusters, replicaRequirements, components}",
     "usage: {resource: quantity}",
     "{\"op\":\"binding.usage\",\"binding\":{\"namespace\":\"ns\",\"clusters\":[{\"name\":\"m1\","
     "\"replicas\":2}],\"replicaRequirements\":{\"resourceRequest\":{\"cpu\":\"500m\"}}}}"},
    {"frq.used", op_frq_used, "overall: resource list, bindings: [binding]",
     "used: {resource: quantity} (keys of overall only)",
     "{\"op\":\"frq.used\",\"overall\":{\"cpu\":\"4\"},\"bindings\":[{\"namespace\":\"ns\","
     "\"clusters\":[{\"name\":\"m1\",\"replicas\":3}],\"replicaRequirements\":{"
     "\"resourceRequest\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]}"},
    {"binding.admit", op_binding_admit,
     "operation: CREATE|UPDATE|DELETE, dryRun, old, new: binding|null, frqs: [{name, "
     "spec:{overall}, status:{overallUsed}}]",
     "allowed:true, overallUsed: {frq: {..}} | allowed:false, code, reason, message",
     "{\"op\":\"binding.admit\",\"operation\":\"CREATE\",\"dryRun\":false,\"old\":null,\"new\":{"
     "\"namespace\":\"ns\",\"clusters\":[{\"name\":\"m1\",\"replicas\":2}],"
     "\"replicaRequirements\":{\"resourceRequest\":{\"cpu\":\"1\"}}},\"frqs\":[{\"name\":\"q\","
     "\"spec\":{\"overall\":{\"cpu\":\"1\"}},\"status\":{\"overallUsed\":{\"cpu\":\"0\"}}}]}"},
    {"quota.admit", op_quota_admit,
     "quotas: [KarmadaQuota], used: {quota: {..}}, object: pod or object, operation",
     "allowed, message (Kubernetes' wording)",
     "{\"op\":\"quota.admit\",\"quotas\":[{\"metadata\":{\"name\":\"team\",\"namespace\":\"ns\"},"
     "\"spec\":{\"hard\":{\"requests.cpu\":\"10\"}}}],\"used\":{\"team\":{\"requests.cpu\":\"9\"}},"
     "\"operation\":\"CREATE\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
     "\"name\":\"p\",\"namespace\":\"ns\"},\"spec\":{\"containers\":[{\"name\":\"c\","
     "\"resources\":{\"requests\":{\"cpu\":\"2\"}}}]}}}"},
    {"quota.usage", op_quota_usage,
     "resource: plural with group (\"pods\", \"jobs.batch\"), object, now: unix seconds (optional)",
     "usage: {resource: quantity} as Kubernetes' evaluators count it",
     "{\"op\":\"quota.usage\",\"resource\":\"pods\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":"
     "\"v1\",\"metadata\":{"
     "\"name\":\"p\",\"namespace\":\"ns\"},\"spec\":{\"containers\":[{\"name\":\"c\","
     "\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"}}}]}}}"},
};

/* Domains, as `flotilla debug <domain>` names them. Add a row per domain. */
static const debug_domain domains[] = {
    {"kube", kube_ops, FL_ARRAY_LEN(kube_ops)},
    {"place", place_ops, FL_ARRAY_LEN(place_ops)},
    {"quota", quota_ops, FL_ARRAY_LEN(quota_ops)},
};

static debug_fn find_op(const debug_domain *only, const char *name)
{
    for (size_t d = 0; d < FL_ARRAY_LEN(domains); d++) {
        if (only && only != &domains[d])
            continue;
        for (size_t i = 0; i < domains[d].nops; i++)
            if (strcmp(domains[d].ops[i].name, name) == 0)
                return domains[d].ops[i].fn;
    }
    return NULL;
}

/* ---------------------------------------------------------------- loop */

/* One request line to one response object (never NULL unless ENOMEM). */
static json_t *answer(const debug_domain *only, const char *line, size_t len)
{
    fl_err err = FL_ERR_INIT;
    json_t *req = NULL, *resp = NULL;
    if (fl_json_parse(line, len, &req, &err) != 0)
        goto out;
    const char *op = json_is_object(req) ? req_str(req, "op", &err) : NULL;
    if (!json_is_object(req))
        fl_err_set(&err, FL_EPARSE, "a request must be a JSON object");
    debug_fn fn = op ? find_op(only, op) : NULL;
    if (op && !fn)
        fl_err_set(&err, FL_ENOTFOUND, "unknown op \"%s\"", op);
    if (fn)
        resp = fn(req, &err);
out:
    json_decref(req);
    if (!resp)
        resp = json_pack("{s:s}", "error", err.msg[0] ? err.msg : "internal error");
    return resp;
}

/* Write resp as one compact line (members in insertion order, '<' '>'
 * '&' unescaped so answers read as plainly as the requests) and flush. */
static void reply(json_t *resp)
{
    char *s = resp ? json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s && strlen(s) <= DEBUG_MAX_OUT)
        printf("%s\n", s);
    else
        printf("{\"error\":\"%s\"}\n", s ? "answer too large" : "out of memory");
    fflush(stdout);
    free(s);
    json_decref(resp);
}

/* Read one line (without its '\n') into b; false at EOF with nothing read.
 * *too_long is set when the line passed the cap (the rest is dropped). */
static bool read_line(FILE *in, fl_buf *b, bool *too_long)
{
    int c;
    bool any = false;
    fl_buf_reset(b);
    *too_long = false;
    while ((c = getc(in)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        char ch = (char)c;
        if (!*too_long && fl_buf_append(b, &ch, 1) != 0)
            *too_long = true;
    }
    return any;
}

/* The answer to an example request, computed by its handler. */
static void print_example(FILE *f, const debug_op *op)
{
    json_t *req = json_loads(op->example, 0, NULL);
    fl_err err = FL_ERR_INIT;
    json_t *resp = req ? op->fn(req, &err) : NULL;
    char *out = resp ? json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    fprintf(f, "      %s\n      -> %s\n", op->example, out ? out : err.msg);
    free(out);
    json_decref(resp);
    json_decref(req);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: flotilla debug [kube|place|quota]\n\n"
            "Reads JSON requests, one per line, on stdin and writes one compact JSON answer\n"
            "per line on stdout, so the primitives can be checked against upstream's\n"
            "behaviour. Every request is an object with \"op\" and the members below.\n"
            "An operand that does not parse answers {\"valid\":false,\"error\":...}; a\n"
            "request with a missing or mistyped member, or an unknown op, answers\n"
            "{\"error\":...}; neither stops the loop.\n\n"
            "Ops (domains kube, place, quota): op, its input members, its answer, an example:\n");
    for (size_t d = 0; d < FL_ARRAY_LEN(domains); d++)
        for (size_t i = 0; i < domains[d].nops; i++) {
            const debug_op *op = &domains[d].ops[i];
            fprintf(f, "\n  %s\n      in:  %s\n      out: %s\n", op->name, op->input, op->output);
            print_example(f, op);
        }
    fprintf(f, "\nTry:\n  printf '%%s\\n' '{\"op\":\"quantity\",\"input\":\"1.5Gi\"}' "
               "| flotilla debug\n");
}

int cmd_debug(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const debug_domain *only = NULL;
    if (argc > 2) {
        usage(stderr);
        return 2;
    }
    if (argc == 2) {
        for (size_t d = 0; d < FL_ARRAY_LEN(domains); d++)
            if (strcmp(argv[1], domains[d].name) == 0)
                only = &domains[d];
        if (!only) {
            fprintf(stderr, "flotilla debug: unknown domain \"%s\"\n\n", argv[1]);
            usage(stderr);
            return 2;
        }
    }
    fl_buf line = FL_BUF_INIT(DEBUG_MAX_LINE);
    bool too_long;
    while (read_line(stdin, &line, &too_long)) {
        if (too_long)
            reply(json_pack("{s:s}", "error", "line longer than 1 MiB"));
        else if (line.len > 0 && !(line.len == 1 && line.data[0] == '\r'))
            reply(answer(only, line.data, line.len));
        else
            reply(json_pack("{s:s}", "error", "empty line"));
    }
    fl_buf_done(&line);
    return 0;
}
