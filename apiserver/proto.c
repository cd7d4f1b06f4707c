/*
 * apiserver/proto.c: request bodies in application/vnd.kubernetes.protobuf for
 * the kinds kubectl's `create <kind>` generators send that way (client-go
 * 1.32 clientsets default to protobuf): Namespace, ConfigMap, Secret,
 * ServiceAccount, Service, Deployment (with its pod template). Decodes the
 * "k8s\0" + runtime.Unknown envelope and the object with compiled field
 * tables from k8s.io/api's generated.proto, into the JSON the rest of the
 * simulator handles. Fields not in the tables are skipped (logged once per
 * request). Untrusted input: every length is bounds-checked, nesting is
 * capped. Responses stay JSON (clients also accept it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"

#define MAX_DEPTH 32

typedef enum { T_STR, T_INT, T_BOOL, T_MSG, T_MAP_STR, T_MAP_BYTES, T_MAP_QTY, T_BYTES,
               T_TIME, T_IOS, T_QTY } ftype;

typedef struct field {
    unsigned num;
    const char *name;
    ftype type;
    bool repeated;
    const struct msg *sub;
} field;

typedef struct msg {
    const field *f;
} msg;

#define M(n) static const msg n
#define END {0, NULL, 0, false, NULL}

static const field type_meta_f[] = {{1, "apiVersion", T_STR, 0, 0}, {2, "kind", T_STR, 0, 0}, END};
M(type_meta) = {type_meta_f};
static const field owner_f[] = {{5, "apiVersion", T_STR, 0, 0}, {1, "kind", T_STR, 0, 0},
                                {3, "name", T_STR, 0, 0}, {4, "uid", T_STR, 0, 0},
                                {6, "controller", T_BOOL, 0, 0},
                                {7, "blockOwnerDeletion", T_BOOL, 0, 0}, END};
M(owner) = {owner_f};
static const field meta_f[] = {
    {1, "name", T_STR, 0, 0}, {2, "generateName", T_STR, 0, 0}, {3, "namespace", T_STR, 0, 0},
    {5, "uid", T_STR, 0, 0}, {6, "resourceVersion", T_STR, 0, 0}, {7, "generation", T_INT, 0, 0},
    {8, "creationTimestamp", T_TIME, 0, 0}, {11, "labels", T_MAP_STR, 0, 0},
    {12, "annotations", T_MAP_STR, 0, 0}, {13, "ownerReferences", T_MSG, 1, &owner},
    {14, "finalizers", T_STR, 1, 0}, END};
M(meta) = {meta_f};
static const field lsreq_f[] = {{1, "key", T_STR, 0, 0}, {2, "operator", T_STR, 0, 0},
                                {3, "values", T_STR, 1, 0}, END};
M(lsreq) = {lsreq_f};
static const field lsel_f[] = {{1, "matchLabels", T_MAP_STR, 0, 0},
                               {2, "matchExpressions", T_MSG, 1, &lsreq}, END};
M(lsel) = {lsel_f};
static const field cport_f[] = {{1, "name", T_STR, 0, 0}, {2, "hostPort", T_INT, 0, 0},
                                {3, "containerPort", T_INT, 0, 0}, {4, "protocol", T_STR, 0, 0},
                                {5, "hostIP", T_STR, 0, 0}, END};
M(cport) = {cport_f};
static const field env_f[] = {{1, "name", T_STR, 0, 0}, {2, "value", T_STR, 0, 0}, END};
M(env) = {env_f};
static const field res_f[] = {{1, "limits", T_MAP_QTY, 0, 0}, {2, "requests", T_MAP_QTY, 0, 0},
                              END};
M(resreq) = {res_f};
static const field container_f[] = {
    {1, "name", T_STR, 0, 0}, {2, "image", T_STR, 0, 0}, {3, "command", T_STR, 1, 0},
    {4, "args", T_STR, 1, 0}, {5, "workingDir", T_STR, 0, 0}, {6, "ports", T_MSG, 1, &cport},
    {7, "env", T_MSG, 1, &env}, {8, "resources", T_MSG, 0, &resreq},
    {13, "terminationMessagePath", T_STR, 0, 0}, {14, "imagePullPolicy", T_STR, 0, 0},
    {16, "stdin", T_BOOL, 0, 0}, {18, "tty", T_BOOL, 0, 0},
    {20, "terminationMessagePolicy", T_STR, 0, 0}, END};
M(container) = {container_f};
static const field podspec_f[] = {
    {2, "containers", T_MSG, 1, &container}, {3, "restartPolicy", T_STR, 0, 0},
    {4, "terminationGracePeriodSeconds", T_INT, 0, 0}, {6, "dnsPolicy", T_STR, 0, 0},
    {7, "nodeSelector", T_MAP_STR, 0, 0}, {8, "serviceAccountName", T_STR, 0, 0},
    {10, "nodeName", T_STR, 0, 0}, {19, "schedulerName", T_STR, 0, 0},
    {20, "initContainers", T_MSG, 1, &container}, END};
M(podspec) = {podspec_f};
static const field tmpl_f[] = {{1, "metadata", T_MSG, 0, &meta}, {2, "spec", T_MSG, 0, &podspec},
                               END};
M(tmpl) = {tmpl_f};
static const field rollupd_f[] = {{1, "maxUnavailable", T_IOS, 0, 0},
                                  {2, "maxSurge", T_IOS, 0, 0}, END};
M(rollupd) = {rollupd_f};
static const field strategy_f[] = {{1, "type", T_STR, 0, 0},
                                   {2, "rollingUpdate", T_MSG, 0, &rollupd}, END};
M(strategy) = {strategy_f};
static const field dspec_f[] = {
    {1, "replicas", T_INT, 0, 0}, {2, "selector", T_MSG, 0, &lsel}, {3, "template", T_MSG, 0, &tmpl},
    {4, "strategy", T_MSG, 0, &strategy}, {5, "minReadySeconds", T_INT, 0, 0},
    {6, "revisionHistoryLimit", T_INT, 0, 0}, {7, "paused", T_BOOL, 0, 0},
    {9, "progressDeadlineSeconds", T_INT, 0, 0}, END};
M(dspec) = {dspec_f};
static const field empty_f[] = {END};
M(empty) = {empty_f};
static const field nsspec_f[] = {{1, "finalizers", T_STR, 1, 0}, END};
M(nsspec) = {nsspec_f};
static const field sport_f[] = {{1, "name", T_STR, 0, 0}, {2, "protocol", T_STR, 0, 0},
                                {3, "port", T_INT, 0, 0}, {4, "targetPort", T_IOS, 0, 0},
                                {5, "nodePort", T_INT, 0, 0}, END};
M(sport) = {sport_f};
static const field sspec_f[] = {{1, "ports", T_MSG, 1, &sport}, {2, "selector", T_MAP_STR, 0, 0},
                                {3, "clusterIP", T_STR, 0, 0}, {4, "type", T_STR, 0, 0},
                                {11, "externalName", T_STR, 0, 0}, END};
M(sspec) = {sspec_f};

static const field jspec_f[] = {
    {1, "parallelism", T_INT, 0, 0}, {2, "completions", T_INT, 0, 0},
    {3, "activeDeadlineSeconds", T_INT, 0, 0}, {4, "selector", T_MSG, 0, &lsel},
    {5, "manualSelector", T_BOOL, 0, 0}, {6, "template", T_MSG, 0, &tmpl},
    {7, "backoffLimit", T_INT, 0, 0}, {8, "ttlSecondsAfterFinished", T_INT, 0, 0},
    {9, "completionMode", T_STR, 0, 0}, {10, "suspend", T_BOOL, 0, 0}, END};
M(jspec) = {jspec_f};
static const field jtmpl_f[] = {{1, "metadata", T_MSG, 0, &meta}, {2, "spec", T_MSG, 0, &jspec},
                                END};
M(jtmpl) = {jtmpl_f};
static const field cjspec_f[] = {
    {1, "schedule", T_STR, 0, 0}, {2, "startingDeadlineSeconds", T_INT, 0, 0},
    {3, "concurrencyPolicy", T_STR, 0, 0}, {4, "suspend", T_BOOL, 0, 0},
    {5, "jobTemplate", T_MSG, 0, &jtmpl}, {6, "successfulJobsHistoryLimit", T_INT, 0, 0},
    {7, "failedJobsHistoryLimit", T_INT, 0, 0}, {8, "timeZone", T_STR, 0, 0}, END};
M(cjspec) = {cjspec_f};
static const field job_f[] = {{1, "metadata", T_MSG, 0, &meta}, {2, "spec", T_MSG, 0, &jspec},
                              {3, "status", T_MSG, 0, &empty}, END};
static const field cronjob_f[] = {{1, "metadata", T_MSG, 0, &meta},
                                  {2, "spec", T_MSG, 0, &cjspec}, {3, "status", T_MSG, 0, &empty},
                                  END};
static const field ns_f[] = {{1, "metadata", T_MSG, 0, &meta}, {2, "spec", T_MSG, 0, &nsspec},
                             {3, "status", T_MSG, 0, &empty}, END};
static const field cm_f[] = {{1, "metadata", T_MSG, 0, &meta}, {2, "data", T_MAP_STR, 0, 0},
                             {3, "binaryData", T_MAP_BYTES, 0, 0}, {4, "immutable", T_BOOL, 0, 0},
                             END};
static const field secret_f[] = {{1, "metadata", T_MSG, 0, &meta}, {2, "data", T_MAP_BYTES, 0, 0},
                                 {3, "type", T_STR, 0, 0}, {4, "stringData", T_MAP_STR, 0, 0},
                                 {5, "immutable", T_BOOL, 0, 0}, END};
static const field sa_f[] = {{1, "metadata", T_MSG, 0, &meta}, END};
static const field svc_f[] = {{1, "metadata", T_MSG, 0, &meta}, {2, "spec", T_MSG, 0, &sspec},
                              {3, "status", T_MSG, 0, &empty}, END};
static const field deploy_f[] = {{1, "metadata", T_MSG, 0, &meta}, {2, "spec", T_MSG, 0, &dspec},
                                 {3, "status", T_MSG, 0, &empty}, END};

static const struct {
    const char *api_version, *kind;
    msg m;
} kinds[] = {
    {"v1", "Namespace", {ns_f}},        {"v1", "ConfigMap", {cm_f}},
    {"v1", "Secret", {secret_f}},       {"v1", "ServiceAccount", {sa_f}},
    {"v1", "Service", {svc_f}},         {"apps/v1", "Deployment", {deploy_f}},
    {"batch/v1", "Job", {job_f}},       {"batch/v1", "CronJob", {cronjob_f}},
};

/* ------------------------------------------------------------ wire format */

typedef struct rd {
    const unsigned char *p, *end;
} rd;

static int varint(rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return FL_EPARSE;
        unsigned char b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return FL_EPARSE;
}

/* Read one field header and its payload (for length-delimited: *sub). */
static int next(rd *r, unsigned *num, unsigned *wt, uint64_t *val, rd *sub)
{
    uint64_t key;
    int rc = varint(r, &key);
    if (rc != 0)
        return rc;
    *num = (unsigned)(key >> 3);
    *wt = (unsigned)(key & 7);
    switch (*wt) {
    case 0: return varint(r, val);
    case 1:
        if (r->end - r->p < 8)
            return FL_EPARSE;
        r->p += 8;
        return 0;
    case 5:
        if (r->end - r->p < 4)
            return FL_EPARSE;
        r->p += 4;
        return 0;
    case 2:
        if ((rc = varint(r, val)) != 0 || *val > (uint64_t)(r->end - r->p))
            return FL_EPARSE;
        sub->p = r->p;
        sub->end = r->p + *val;
        r->p += *val;
        return 0;
    default: return FL_EPARSE;
    }
}

static int decode_msg(rd r, const msg *m, int depth, json_t *out);

static json_t *str_of(rd s)
{
    return json_stringn((const char *)s.p, (size_t)(s.end - s.p));
}

static json_t *bytes_of(rd s)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    json_t *j = NULL;
    if (fl_base64_encode(FL_BASE64_STD, s.p, (size_t)(s.end - s.p), &b) == 0)
        j = json_stringn(b.data, b.len);
    fl_buf_done(&b);
    return j;
}

/* map<string, V>: entries {1: key, 2: value}. */
static int map_entry(rd s, ftype t, json_t *obj)
{
    unsigned num, wt;
    uint64_t val;
    rd sub, key = {0, 0}, value = {0, 0};
    while (s.p < s.end) {
        if (next(&s, &num, &wt, &val, &sub) != 0 || wt != 2)
            return FL_EPARSE;
        if (num == 1)
            key = sub;
        else if (num == 2)
            value = sub;
    }
    if (!key.p)
        return FL_EPARSE;
    json_t *v;
    if (t == T_MAP_QTY) {
        rd q = {0, 0}, inner = value; /* message Quantity { string string = 1; } */
        while (inner.p && inner.p < inner.end) {
            if (next(&inner, &num, &wt, &val, &sub) != 0)
                return FL_EPARSE;
            if (num == 1 && wt == 2)
                q = sub;
        }
        v = q.p ? str_of(q) : json_string("0");
    } else if (t == T_MAP_BYTES) {
        v = value.p ? bytes_of(value) : json_string("");
    } else {
        v = value.p ? str_of(value) : json_string("");
    }
    char *k = fl_strndup((const char *)key.p, (size_t)(key.end - key.p));
    int rc = k && v ? json_object_set_new(obj, k, v) : -ENOMEM;
    free(k);
    return rc;
}

static json_t *time_of(rd s)
{
    unsigned num, wt;
    uint64_t val, secs = 0;
    rd sub;
    while (s.p < s.end) {
        if (next(&s, &num, &wt, &val, &sub) != 0)
            return NULL;
        if (num == 1 && wt == 0)
            secs = val;
    }
    char ts[32];
    if (secs == 0)
        return json_null(); /* metav1.Time{} */
    fl_time_format((int64_t)secs, ts);
    return json_string(ts);
}

static json_t *ios_of(rd s)
{
    unsigned num, wt;
    uint64_t val, type = 0, iv = 0;
    rd sub, sv = {0, 0};
    while (s.p < s.end) {
        if (next(&s, &num, &wt, &val, &sub) != 0)
            return NULL;
        if (num == 1 && wt == 0)
            type = val;
        else if (num == 2 && wt == 0)
            iv = val;
        else if (num == 3 && wt == 2)
            sv = sub;
    }
    if (type == 1)
        return sv.p ? str_of(sv) : json_string("");
    return json_integer((json_int_t)(int32_t)iv);
}

static const field *lookup(const msg *m, unsigned num)
{
    for (const field *f = m->f; f->name; f++)
        if (f->num == num)
            return f;
    return NULL;
}

static json_t *value_of(const field *f, unsigned wt, uint64_t val, rd sub, int depth)
{
    switch (f->type) {
    case T_STR: return wt == 2 ? str_of(sub) : NULL;
    case T_BYTES: return wt == 2 ? bytes_of(sub) : NULL;
    case T_INT: return wt == 0 ? json_integer((json_int_t)val) : NULL;
    case T_BOOL: return wt == 0 ? json_boolean(val != 0) : NULL;
    case T_TIME: return wt == 2 ? time_of(sub) : NULL;
    case T_IOS: return wt == 2 ? ios_of(sub) : NULL;
    case T_MSG: {
        json_t *o = json_object();
        if (wt != 2 || !o || decode_msg(sub, f->sub, depth + 1, o) != 0) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    default: return NULL;
    }
}

/* Zero scalars stand for "unset", except for the pointer fields whose
 * zero is meaningful (replicas: 0). */
static bool is_zero(const field *f, const json_t *v)
{
    if (!strcmp(f->name, "replicas") || !strcmp(f->name, "parallelism"))
        return false;
    return (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_integer(v) && json_integer_value(v) == 0) || json_is_false(v);
}

static int decode_msg(rd r, const msg *m, int depth, json_t *out)
{
    unsigned num, wt;
    uint64_t val;
    rd sub = {0, 0};
    if (depth > MAX_DEPTH)
        return FL_EPARSE;
    while (r.p < r.end) {
        if (next(&r, &num, &wt, &val, &sub) != 0)
            return FL_EPARSE;
        const field *f = lookup(m, num);
        if (!f)
            continue; /* a field we do not model */
        if (f->type == T_MAP_STR || f->type == T_MAP_BYTES || f->type == T_MAP_QTY) {
            json_t *map = json_object_get(out, f->name);
            if (!map) {
                map = json_object();
                json_object_set_new(out, f->name, map);
            }
            if (wt != 2 || map_entry(sub, f->type, map) != 0)
                return FL_EPARSE;
            continue;
        }
        json_t *v = value_of(f, wt, val, sub, depth);
        if (!v)
            return FL_EPARSE;
        if (!f->repeated && is_zero(f, v)) {
            json_decref(v); /* Go's omitempty: gogo-protobuf writes zero values */
            continue;
        }
        if (f->repeated) {
            json_t *a = json_object_get(out, f->name);
            if (!a) {
                a = json_array();
                json_object_set_new(out, f->name, a);
            }
            json_array_append_new(a, v);
        } else {
            json_object_set_new(out, f->name, v);
        }
    }
    return 0;
}

int fl_apiserver_proto_decode(const char *data, size_t len, json_t **out, fl_err *err)
{
    static const unsigned char magic[4] = {'k', '8', 's', 0};
    if (len < 4 || memcmp(data, magic, 4) != 0)
        return fl_err_set(err, FL_EPARSE, "protobuf body without the k8s envelope");
    rd r = {(const unsigned char *)data + 4, (const unsigned char *)data + len}, sub, raw = {0, 0};
    unsigned num, wt;
    uint64_t val;
    json_t *tm = json_object(), *obj = NULL;
    int rc = tm ? 0 : -ENOMEM;
    while (rc == 0 && r.p < r.end) {
        if (next(&r, &num, &wt, &val, &sub) != 0) {
            rc = fl_err_set(err, FL_EPARSE, "malformed protobuf envelope");
            break;
        }
        if (num == 1 && wt == 2)
            rc = decode_msg(sub, &type_meta, 0, tm);
        else if (num == 2 && wt == 2)
            raw = sub;
    }
    const char *av = fl_obj_str(tm, "apiVersion"), *kind = fl_obj_str(tm, "kind");
    const msg *m = NULL;
    for (size_t i = 0; rc == 0 && av && kind && i < FL_ARRAY_LEN(kinds); i++)
        if (!strcmp(av, kinds[i].api_version) && !strcmp(kind, kinds[i].kind))
            m = &kinds[i].m;
    if (rc == 0 && !m)
        rc = fl_err_set(err, FL_EUNSUPPORTED, "protobuf is not supported for %s %s; send JSON",
                        av ? av : "?", kind ? kind : "?");
    if (rc == 0) {
        obj = json_pack("{s:s,s:s}", "kind", kind, "apiVersion", av);
        if (!obj || !raw.p || decode_msg(raw, m, 0, obj) != 0)
            rc = fl_err_set(err, FL_EPARSE, "malformed protobuf %s", kind);
    }
    json_decref(tm);
    if (rc != 0) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return 0;
}
