/*
 * apiserver/write.c: the write side of an API server — create (with
 * generateName, defaulting, basic validation, dry run), update, patch
 * (merge, JSON, strategic via kube/patch.h; server-side apply as a best
 * effort merge), delete (finalizers, propagationPolicy, graceful pods,
 * namespace cascade), and the status, scale, binding and log
 * subresources. Every change goes through the store (fl_apiserver_store_*), with
 * the stored resourceVersion as a compare-and-swap guard. CRD writes
 * register their custom resources with the cluster's registry and store.
 * Runs on server threads.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apiserver/apiserver_int.h"

#define PATCH_RETRIES 8

/* ---------------------------------------------------------------- helpers */

static void now_str(char out[32])
{
    fl_time_format(fl_now_ms() / 1000, out);
}

static json_t *md(json_t *obj)
{
    return fl_obj_ensure(obj, "metadata");
}

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v));
}

static void set_default(json_t *o, const char *k, json_t *v)
{
    if (o && !json_object_get(o, k))
        json_object_set(o, k, v);
    json_decref(v);
}

/* Reorder o's members: keys in order first, the rest after. */
static void reorder(json_t *o, const char *const *order)
{
    if (!json_is_object(o))
        return;
    json_t *copy = json_object();
    for (size_t i = 0; order[i]; i++) {
        json_t *v = json_object_get(o, order[i]);
        if (v)
            json_object_set(copy, order[i], v);
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
        if (!json_object_get(copy, k))
            json_object_set(copy, k, v);
    json_object_clear(o);
    json_object_update(o, copy);
    json_decref(copy);
}

static const char *const top_order[] = {"kind", "apiVersion", "metadata", "spec", "status", NULL};
static const char *const md_order[] = {"name",
                                       "generateName",
                                       "namespace",
                                       "selfLink",
                                       "uid",
                                       "resourceVersion",
                                       "generation",
                                       "creationTimestamp",
                                       "deletionTimestamp",
                                       "deletionGracePeriodSeconds",
                                       "labels",
                                       "annotations",
                                       "ownerReferences",
                                       "finalizers",
                                       "managedFields",
                                       NULL};

/* A Secret's stringData is write-only: kube-apiserver merges it into data
 * (base64, over keys data already has) and never stores or returns it. */
static void secret_string_data(const fl_apiserver_res *r, json_t *obj)
{
    json_t *sd = json_object_get(obj, "stringData"), *v;
    const char *k;
    if (!sd || *r->kr->group || strcmp(r->kr->kind, "Secret") != 0)
        return;
    json_t *data = json_object_get(obj, "data");
    if (json_is_object(sd) && json_object_size(sd) && !json_is_object(data)) {
        data = json_object();
        json_object_set_new(obj, "data", data);
    }
    json_object_foreach(sd, k, v) {
        fl_buf b = FL_BUF_INIT(8u << 20);
        const char *str = json_string_value(v) ? json_string_value(v) : "";
        if (fl_base64_encode(FL_BASE64_STD, str, strlen(str), &b) == 0)
            json_object_set_new(data, k, json_string(b.data ? b.data : ""));
        fl_buf_done(&b);
    }
    json_object_del(obj, "stringData");
}

static void normalize(json_t *obj)
{
    reorder(obj, top_order);
    reorder(json_object_get(obj, "metadata"), md_order);
}

static void gen_suffix(char out[6])
{
    static const char alpha[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char r[5];
    fl_random_bytes(r, sizeof(r));
    for (int i = 0; i < 5; i++)
        out[i] = alpha[r[i] % (sizeof(alpha) - 1)];
    out[5] = 0;
}

/* The manager name: ?fieldManager, else the User-Agent up to '/'. */
static void manager_of(fl_request *req, char *out, size_t n)
{
    const char *fm = fl_request_query(req, "fieldManager");
    const char *ua = fl_request_header(req, "User-Agent");
    if (fm && *fm) {
        fl_strlcpy(out, fm, n);
        return;
    }
    fl_strlcpy(out, ua && *ua ? ua : "unknown", n);
    char *slash = strchr(out, '/');
    if (slash)
        *slash = 0;
}

/* --------------------------------------------------------- managedFields */

/* FieldsV1 of v: objects become "f:<key>" members, lists of named objects
 * "k:{\"name\":..}" members, other values leaves. */
static json_t *fields_of(const json_t *v, bool dot)
{
    json_t *f = json_object();
    if (json_is_object(v) && json_object_size(v) > 0) {
        if (dot)
            json_object_set_new(f, ".", json_object());
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m) {
            char key[600];
            snprintf(key, sizeof(key), "f:%s", k);
            json_object_set_new(f, key, fields_of(m, true));
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) {
            const char *name = fl_obj_str(m, "name");
            if (!json_is_object(m) || !name)
                continue;
            if (!json_object_get(f, "."))
                json_object_set_new(f, ".", json_object());
            json_t *kj = json_pack("{s:s}", "name", name);
            char *ks = json_dumps(kj, JSON_COMPACT);
            char key[600];
            snprintf(key, sizeof(key), "k:%s", ks ? ks : "{}");
            json_object_set_new(f, key, fields_of(m, true));
            free(ks);
            json_decref(kj);
        }
        if (json_object_size(f) == 0) {
            json_decref(f);
            return json_object();
        }
    }
    return f;
}

static json_t *managed_fieldset(const json_t *obj, bool status)
{
    json_t *f = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (!strcmp(k, "kind") || !strcmp(k, "apiVersion") || (!strcmp(k, "status") != status))
            continue;
        char key[300];
        snprintf(key, sizeof(key), "f:%s", k);
        if (!strcmp(k, "metadata")) {
            json_t *m = json_object();
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (strcmp(mk, "labels") && strcmp(mk, "annotations") && strcmp(mk, "finalizers") &&
                    strcmp(mk, "ownerReferences"))
                    continue;
                char k2[300];
                snprintf(k2, sizeof(k2), "f:%s", mk);
                json_object_set_new(m, k2, fields_of(mv, true));
            }
            if (json_object_size(m))
                json_object_set_new(f, key, m);
            else
                json_decref(m);
            continue;
        }
        json_object_set_new(f, key, fields_of(v, strcmp(k, "spec") && strcmp(k, "status")));
    }
    return f;
}

/* Record (or refresh) the managedFields entry of manager/operation. */
static void set_managed(json_t *obj, const char *manager, const char *op, const char *sub,
                        const char *api_version)
{
    char now[32];
    now_str(now);
    json_t *m = md(obj);
    json_t *list = json_object_get(m, "managedFields");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(m, "managedFields", list);
    }
    json_t *entry = json_object();
    set_str(entry, "manager", manager);
    set_str(entry, "operation", op);
    set_str(entry, "apiVersion", api_version);
    set_str(entry, "time", now);
    set_str(entry, "fieldsType", "FieldsV1");
    json_object_set_new(entry, "fieldsV1", managed_fieldset(obj, sub != NULL));
    if (sub)
        set_str(entry, "subresource", sub);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *es = fl_obj_str(e, "subresource");
        if (!strcmp(fl_obj_str(e, "manager") ?: "", manager) &&
            !strcmp(fl_obj_str(e, "operation") ?: "", op) &&
            !strcmp(es ? es : "", sub ? sub : "")) {
            json_array_set_new(list, i, entry);
            return;
        }
    }
    json_array_append_new(list, entry);
}

/* ---------------------------------------------------------------- defaults */

static json_t *tolerations(void)
{
    return json_pack("[{s:s,s:s,s:s,s:i},{s:s,s:s,s:s,s:i}]", "key", "node.kubernetes.io/not-ready",
                     "operator", "Exists", "effect", "NoExecute", "tolerationSeconds", 300, "key",
                     "node.kubernetes.io/unreachable", "operator", "Exists", "effect", "NoExecute",
                     "tolerationSeconds", 300);
}

static void default_container(json_t *ct)
{
    const char *image = fl_obj_str(ct, "image");
    const char *colon = image ? strrchr(image, ':') : NULL;
    bool latest = !image || !colon || strchr(colon, '/') || !strcmp(colon, ":latest");
    if (image && strchr(image, '@'))
        latest = false;
    set_default(ct, "resources", json_object());
    set_default(ct, "terminationMessagePath", json_string("/dev/termination-log"));
    set_default(ct, "terminationMessagePolicy", json_string("File"));
    set_default(ct, "imagePullPolicy", json_string(latest ? "Always" : "IfNotPresent"));
    json_t *ports = json_object_get(ct, "ports");
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
        set_default(p, "protocol", json_string("TCP"));
}

static void default_pod_spec(json_t *spec, bool full)
{
    size_t i;
    json_t *ct;
    json_array_foreach(json_object_get(spec, "containers"), i, ct)
        default_container(ct);
    json_array_foreach(json_object_get(spec, "initContainers"), i, ct)
        default_container(ct);
    set_default(spec, "restartPolicy", json_string("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json_integer(30));
    set_default(spec, "dnsPolicy", json_string("ClusterFirst"));
    set_default(spec, "securityContext", json_object());
    set_default(spec, "schedulerName", json_string("default-scheduler"));
    if (!full)
        return;
    set_default(spec, "tolerations", tolerations());
    set_default(spec, "priority", json_integer(0));
    set_default(spec, "enableServiceLinks", json_true());
    set_default(spec, "preemptionPolicy", json_string("PreemptLowerPriority"));
}

static const char *qos_class(const json_t *spec)
{
    bool any = false, guaranteed = true;
    size_t i;
    json_t *ct;
    json_array_foreach(json_object_get(spec, "containers"), i, ct) {
        json_t *req = fl_obj_get(ct, "resources.requests"),
               *lim = fl_obj_get(ct, "resources.limits");
        any |= json_object_size(req) > 0 || json_object_size(lim) > 0;
        if (!json_object_get(lim, "cpu") || !json_object_get(lim, "memory"))
            guaranteed = false;
        const char *k;
        json_t *v;
        json_object_foreach(req, k, v)
            if (!json_equal(v, json_object_get(lim, k)))
                guaranteed = false;
    }
    return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable";
}

static void default_workload(json_t *obj, const char *kind)
{
    json_t *spec = fl_obj_ensure(obj, "spec");
    json_t *tmpl = fl_obj_get(obj, "spec.template");
    if (json_is_object(tmpl)) {
        json_t *tm = fl_obj_ensure(tmpl, "metadata");
        set_default(tm, "creationTimestamp", json_null());
        reorder(tm, md_order);
        default_pod_spec(fl_obj_ensure(tmpl, "spec"), false);
    }
    if (!strcmp(kind, "Deployment")) {
        set_default(spec, "replicas", json_integer(1));
        if (!fl_obj_str(spec, "strategy.type"))
            json_object_del(spec, "strategy");
        set_default(spec, "strategy",
                    json_pack("{s:s,s:{s:s,s:s}}", "type", "RollingUpdate", "rollingUpdate",
                              "maxUnavailable", "25%", "maxSurge", "25%"));
        set_default(spec, "revisionHistoryLimit", json_integer(10));
        set_default(spec, "progressDeadlineSeconds", json_integer(600));
    } else if (!strcmp(kind, "ReplicaSet") || !strcmp(kind, "StatefulSet")) {
        set_default(spec, "replicas", json_integer(1));
        if (!strcmp(kind, "StatefulSet")) {
            set_default(spec, "podManagementPolicy", json_string("OrderedReady"));
            set_default(spec, "updateStrategy",
                        json_pack("{s:s,s:{s:i}}", "type", "RollingUpdate", "rollingUpdate",
                                  "partition", 0));
            set_default(spec, "revisionHistoryLimit", json_integer(10));
        }
    } else if (!strcmp(kind, "DaemonSet")) {
        set_default(spec, "updateStrategy",
                    json_pack("{s:s,s:{s:i,s:i}}", "type", "RollingUpdate", "rollingUpdate",
                              "maxUnavailable", 1, "maxSurge", 0));
        set_default(spec, "revisionHistoryLimit", json_integer(10));
    } else if (!strcmp(kind, "Job")) {
        set_default(spec, "parallelism", json_integer(1));
        set_default(spec, "completions", json_integer(1));
        set_default(spec, "backoffLimit", json_integer(6));
        set_default(spec, "completionMode", json_string("NonIndexed"));
        set_default(spec, "suspend", json_false());
    }
    json_object_set_new(obj, "status", json_object());
}

static void default_service(fl_apiserver *c, json_t *obj)
{
    json_t *spec = fl_obj_ensure(obj, "spec");
    set_default(spec, "type", json_string("ClusterIP"));
    set_default(spec, "sessionAffinity", json_string("None"));
    if (!json_object_get(spec, "clusterIP")) {
        unsigned char r[2];
        char ip[32];
        fl_random_bytes(r, sizeof(r));
        snprintf(ip, sizeof(ip), "10.96.%u.%u", r[0], r[1] % 254 + 1);
        set_str(spec, "clusterIP", ip);
        json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
    }
    set_default(spec, "ipFamilies", json_pack("[s]", "IPv4"));
    set_default(spec, "ipFamilyPolicy", json_string("SingleStack"));
    set_default(spec, "internalTrafficPolicy", json_string("Cluster"));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(spec, "ports"), i, p) {
        set_default(p, "protocol", json_string("TCP"));
        json_t *port = json_object_get(p, "port");
        if (port)
            set_default(p, "targetPort", json_incref(port));
    }
    set_default(obj, "status", json_pack("{s:{}}", "loadBalancer"));
}

static bool node_ready(const json_t *obj)
{
    size_t i;
    json_t *cnd;
    json_array_foreach(fl_obj_get(obj, "status.conditions"), i, cnd)
        if (!strcmp(fl_obj_str(cnd, "type") ?: "", "Ready") &&
            !strcmp(fl_obj_str(cnd, "status") ?: "", "True"))
            return true;
    return false;
}

/* Defaults for a created object of r (behaviour 13). */
static void apply_defaults(fl_apiserver *c, const fl_apiserver_res *r, json_t *obj)
{
    const char *kind = r->kr->kind, *g = r->kr->group;
    if (!*g && !strcmp(kind, "Pod")) {
        json_t *spec = fl_obj_ensure(obj, "spec");
        default_pod_spec(spec, true);
        json_object_set_new(
            obj, "status", json_pack("{s:s,s:s}", "phase", "Pending", "qosClass", qos_class(spec)));
    } else if (!*g && !strcmp(kind, "Namespace")) {
        json_t *labels = fl_obj_ensure(obj, "metadata.labels");
        set_str(labels, "kubernetes.io/metadata.name", fl_obj_str(obj, "metadata.name"));
        json_t *sorted = json_object();
        const char *k;
        json_t *v;
        const char *keys[256];
        size_t n = 0;
        json_object_foreach(labels, k, v)
            if (n < 256)
                keys[n++] = k;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (strcmp(keys[j], keys[i]) < 0) {
                    const char *t = keys[i];
                    keys[i] = keys[j];
                    keys[j] = t;
                }
        for (size_t i = 0; i < n; i++)
            json_object_set(sorted, keys[i], json_object_get(labels, keys[i]));
        json_object_set_new(md(obj), "labels", sorted);
        json_object_set_new(obj, "spec", json_pack("{s:[s]}", "finalizers", "kubernetes"));
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
    } else if (!*g && !strcmp(kind, "Node")) {
        json_t *spec = fl_obj_ensure(obj, "spec");
        if (!node_ready(obj))
            set_default(spec, "taints",
                        json_pack("[{s:s,s:s}]", "key", "node.kubernetes.io/not-ready", "effect",
                                  "NoSchedule"));
    } else if (!*g && !strcmp(kind, "Service")) {
        default_service(c, obj);
    } else if (!*g && !strcmp(kind, "Secret")) {
        set_default(obj, "type", json_string("Opaque"));
    } else if (!strcmp(g, "apps") || (!strcmp(g, "batch") && !strcmp(kind, "Job"))) {
        default_workload(obj, kind);
    }
}

/* ---------------------------------------------------------------- CRDs */

static void crd_status(json_t *obj)
{
    char now[32];
    now_str(now);
    json_t *names = fl_obj_get(obj, "spec.names");
    json_t *versions = fl_obj_get(obj, "spec.versions");
    json_t *stored = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
        if (json_is_true(json_object_get(v, "storage")))
            json_array_append(stored, json_object_get(v, "name"));
    json_t *st =
        json_pack("{s:[{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}],s:O,s:o}", "conditions", "type",
                  "NamesAccepted", "status", "True", "lastTransitionTime", now, "reason",
                  "NoConflicts", "message", "no conflicts found", "type", "Established", "status",
                  "True", "lastTransitionTime", now, "reason", "InitialNamesAccepted", "message",
                  "the initial names have been accepted", "acceptedNames",
                  names ? names : json_null(), "storedVersions", stored);
    if (st)
        json_object_set_new(obj, "status", st);
}

int fl_apiserver_sync_resources(fl_apiserver *c)
{
    size_t total = fl_kube_resources_list(c->reg, NULL, 0);
    const fl_kube_resource **all = calloc(total + 1, sizeof(*all));
    if (!all)
        return -ENOMEM;
    size_t n = fl_kube_resources_list(c->reg, all, total);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n && i < total; i++)
        rc = fl_apiserver_store_add_res(c->st, all[i]);
    free(all);
    return rc;
}

static int crd_register(fl_apiserver *c, const json_t *crd, fl_err *err)
{
    int rc = fl_kube_resources_add_crd(c->reg, crd, err);
    return rc == 0 ? fl_apiserver_sync_resources(c) : rc;
}

int fl_apiserver_load_stored_crds(fl_apiserver *c, fl_err *err)
{
    const fl_apiserver_res *r =
        fl_apiserver_store_find(c->st, "apiextensions.k8s.io", "v1", "customresourcedefinitions");
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    int rc = r ? fl_apiserver_store_list(c->st, r, &q, &l) : 0;
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        json_t *crd = fl_apiserver_obj_parse(l.items[i]);
        rc = crd ? crd_register(c, crd, err) : -ENOMEM;
        json_decref(crd);
    }
    fl_apiserver_list_done(&l);
    return rc;
}

/* The CRD obj was deleted: its custom resources go, then the types. */
static void crd_unregister(fl_apiserver *c, const json_t *obj)
{
    const char *group = fl_obj_str(obj, "spec.group"),
               *plural = fl_obj_str(obj, "spec.names.plural");
    if (!group || !plural)
        return;
    const fl_apiserver_res **all = NULL;
    size_t n = fl_apiserver_store_resources(c->st, &all);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i]->kr->group, group) || strcmp(all[i]->kr->resource, plural))
            continue;
        fl_apiserver_list l = {0};
        fl_apiserver_list_req q = {0};
        if (fl_apiserver_store_list(c->st, all[i], &q, &l) == 0)
            for (size_t j = 0; j < l.n; j++)
                fl_apiserver_store_delete(c->st, all[i], l.items[j]->ns, l.items[j]->name, 0, NULL,
                                          NULL);
        fl_apiserver_list_done(&l);
    }
    free(all);
    fl_kube_resources_remove_crd(c->reg, group, plural);
}

static bool is_crd(const fl_apiserver_res *r)
{
    return !strcmp(r->kr->group, "apiextensions.k8s.io") &&
           !strcmp(r->kr->resource, "customresourcedefinitions");
}

/* ---------------------------------------------------------------- errors */

static void reply_not_found(fl_request *req, const fl_apiserver_res *r, const char *name)
{
    char q[200], msg[600];
    fl_apiserver_res_qualified(r, q, sizeof(q));
    snprintf(msg, sizeof(msg), "%s \"%s\" not found", q, name);
    fl_apiserver_reply_status(req, 404, "NotFound", msg, name, r->kr->group, r->kr->resource);
}

static void reply_conflict(fl_request *req, const fl_apiserver_res *r, const char *name)
{
    char q[200], msg[700];
    fl_apiserver_res_qualified(r, q, sizeof(q));
    snprintf(msg, sizeof(msg),
             "Operation cannot be fulfilled on %s \"%s\": the object has been "
             "modified; please apply your changes to the latest version and try again",
             q, name);
    fl_apiserver_reply_status(req, 409, "Conflict", msg, name, r->kr->group, r->kr->resource);
}

/* Why a write failed (code rc): the store's words when the file refused
 * it (FL_ESQL: "control.db: commit: database or disk is full"). */
static const char *write_failure(int rc)
{
    const char *why = rc == FL_ESQL ? fl_apiserver_store_error() : "";
    return why[0] ? why : fl_strerror(rc);
}

/* kube-apiserver's NewInternalError: 500 InternalError, "Internal error
 * occurred: CAUSE" with the cause in details.causes (new). */
static json_t *status_internal(const char *cause)
{
    char msg[800];
    snprintf(msg, sizeof(msg), "Internal error occurred: %s", cause);
    json_t *st = fl_status_new(500, "InternalError", msg);
    if (st)
        json_object_set_new(st, "details", json_pack("{s:[{s:s}]}", "causes", "message", cause));
    return st;
}

/* A write the store did not take (rc from a store write): 500. */
static void reply_write_failed(fl_request *req, int rc)
{
    fl_apiserver_reply_json(req, 500, status_internal(write_failure(rc)));
}

static void reply_bad(fl_request *req, const char *msg)
{
    fl_apiserver_reply_status(req, 400, "BadRequest", msg, NULL, NULL, NULL);
}

/* 422 Invalid with one cause. */
static void reply_invalid(fl_request *req, const fl_apiserver_res *r, const char *name,
                          const char *field, const char *reason, const char *detail)
{
    char msg[1200], kind[200];
    snprintf(kind, sizeof(kind), "%s%s%s", r->kr->kind, *r->kr->group ? "." : "", r->kr->group);
    snprintf(msg, sizeof(msg), "%s \"%s\" is invalid: %s: %s", kind, name, field, detail);
    json_t *st = fl_status_new(422, "Invalid", msg);
    json_t *d = json_object();
    if (*name)
        set_str(d, "name", name);
    if (*r->kr->group)
        set_str(d, "group", r->kr->group);
    set_str(d, "kind", r->kr->kind);
    json_object_set_new(
        d, "causes",
        json_pack("[{s:s,s:s,s:s}]", "reason", reason, "message", detail, "field", field));
    json_object_set_new(st, "details", d);
    fl_apiserver_reply_json(req, 422, st);
}

/* ------------------------------------------------------- spec validation
 * The 422s kube-apiserver's validation gives for the mistakes people make
 * most with the built-in workloads (a subset of pkg/apis/GROUP/validation):
 * pods without containers, containers without name or image or with a
 * duplicate name, workloads without a selector, a selector the template
 * labels do not match, negative replicas, a Job template that may restart
 * Always. All errors of an object are reported together, as field.ErrorList
 * does: `Kind.group "name" is invalid: [field: detail, ...]`. */
typedef struct verrs {
    json_t *causes;
    fl_buf msg;
    size_t n;
} verrs;

static void verr(verrs *e, const char *field, const char *reason, const char *detail)
{
    json_array_append_new(
        e->causes, json_pack("{s:s,s:s,s:s}", "reason", reason, "message", detail, "field", field));
    fl_buf_printf(&e->msg, "%s%s: %s", e->n++ ? ", " : "", field, detail);
}

static void validate_pod_spec(verrs *e, const json_t *spec, const char *at)
{
    json_t *cs = json_object_get(spec, "containers");
    char f[300], d[400];
    if (json_array_size(cs) == 0) {
        snprintf(f, sizeof(f), "%s.containers", at);
        verr(e, f, "FieldValueRequired", "Required value");
        return;
    }
    size_t i;
    json_t *ct;
    json_array_foreach(cs, i, ct) {
        const char *name = fl_obj_str(ct, "name");
        snprintf(f, sizeof(f), "%s.containers[%zu].name", at, i);
        if (!name || !*name)
            verr(e, f, "FieldValueRequired", "Required value");
        for (size_t j = 0; name && *name && j < i; j++)
            if (!strcmp(fl_obj_str(json_array_get(cs, j), "name") ?: "", name)) {
                snprintf(d, sizeof(d), "Duplicate value: \"%.300s\"", name);
                verr(e, f, "FieldValueDuplicate", d);
                break;
            }
        const char *img = fl_obj_str(ct, "image");
        snprintf(f, sizeof(f), "%s.containers[%zu].image", at, i);
        if (!img || !*img)
            verr(e, f, "FieldValueRequired", "Required value");
    }
}

/* Go's %#v of a map[string]string, keys sorted. */
static void go_map(const json_t *m, fl_buf *out)
{
    const char *keys[64];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v)
        if (n < FL_ARRAY_LEN(keys))
            keys[n++] = k;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    fl_buf_puts(out, "map[string]string{");
    for (size_t i = 0; i < n; i++)
        fl_buf_printf(out, "%s\"%s\":\"%s\"", i ? ", " : "", keys[i],
                      json_string_value(json_object_get(m, keys[i])) ?: "");
    fl_buf_puts(out, "}");
}

static void validate_workload(verrs *e, const json_t *obj, const char *kind)
{
    json_t *sel = fl_obj_get(obj, "spec.selector"),
           *tl = fl_obj_get(obj, "spec.template.metadata.labels");
    json_t *rep = fl_obj_get(obj, "spec.replicas");
    bool job = !strcmp(kind, "Job");
    if (json_is_integer(rep) && json_integer_value(rep) < 0 && strcmp(kind, "DaemonSet")) {
        char d[200];
        snprintf(d, sizeof(d), "Invalid value: %lld: must be greater than or equal to 0",
                 (long long)json_integer_value(rep));
        verr(e, "spec.replicas", "FieldValueInvalid", d);
    }
    if (!job && !json_is_object(sel)) {
        verr(e, "spec.selector", "FieldValueRequired", "Required value");
    } else if (json_is_object(sel)) {
        const char *k;
        json_t *v;
        bool match = true;
        json_object_foreach(json_object_get(sel, "matchLabels"), k, v)
            match &= json_is_string(v) && json_is_string(json_object_get(tl, k)) &&
                     !strcmp(json_string_value(v), json_string_value(json_object_get(tl, k)));
        if (!match && !job) {
            fl_buf b = FL_BUF_INIT(4096);
            fl_buf_puts(&b, "Invalid value: ");
            go_map(tl, &b);
            fl_buf_puts(&b, ": `selector` does not match template `labels`");
            verr(e, "spec.template.metadata.labels", "FieldValueInvalid", b.data ? b.data : "");
            fl_buf_done(&b);
        }
    }
    validate_pod_spec(e, fl_obj_get(obj, "spec.template.spec"), "spec.template.spec");
    const char *rp = fl_obj_str(obj, "spec.template.spec.restartPolicy");
    if (job && rp && strcmp(rp, "OnFailure") && strcmp(rp, "Never")) {
        char d[200];
        snprintf(d, sizeof(d),
                 "Unsupported value: \"%.60s\": supported values: \"OnFailure\", "
                 "\"Never\"",
                 rp);
        verr(e, "spec.template.spec.restartPolicy", "FieldValueNotSupported", d);
    }
}

/* Validate obj (defaulted) of r; false after answering 422. */
static bool validate_object(fl_request *req, const fl_apiserver_res *r, const json_t *obj)
{
    static const char *const workloads[] = {"Deployment", "ReplicaSet", "StatefulSet",
                                            "DaemonSet",  "Job",        NULL};
    const char *kind = r->kr->kind, *name = fl_obj_str(obj, "metadata.name") ?: "";
    bool builtin = r->kr->origin != FL_KUBE_ORIGIN_CRD;
    verrs e = {json_array(), FL_BUF_INIT(16384), 0};
    if (builtin && !*r->kr->group && !strcmp(kind, "Pod"))
        validate_pod_spec(&e, fl_obj_get(obj, "spec"), "spec");
    for (size_t i = 0; builtin && workloads[i]; i++)
        if (!strcmp(kind, workloads[i]))
            validate_workload(&e, obj, kind);
    bool ok = e.n == 0;
    if (!ok) {
        char msg[17000], k[200];
        snprintf(k, sizeof(k), "%s%s%s", kind, *r->kr->group ? "." : "", r->kr->group);
        snprintf(msg, sizeof(msg), "%s \"%s\" is invalid: %s%s%s", k, name, e.n > 1 ? "[" : "",
                 e.msg.data ? e.msg.data : "", e.n > 1 ? "]" : "");
        json_t *st = fl_status_new(422, "Invalid", msg), *d = json_object();
        if (*name)
            set_str(d, "name", name);
        if (*r->kr->group)
            set_str(d, "group", r->kr->group);
        set_str(d, "kind", kind);
        json_object_set(d, "causes", e.causes);
        json_object_set_new(st, "details", d);
        fl_apiserver_reply_json(req, 422, st);
    }
    json_decref(e.causes);
    fl_buf_done(&e.msg);
    return ok;
}

/* dryRun: "" or "All"; anything else answers 422. */
static bool parse_dry_run(fl_request *req, const char *opts_kind, bool *dry)
{
    const char *d = fl_request_query(req, "dryRun");
    *dry = d && !strcmp(d, "All");
    if (!d || !*d || *dry)
        return true;
    char msg[400], det[300];
    snprintf(det, sizeof(det), "Unsupported value: []string{\"%.100s\"}: supported values: \"All\"",
             d);
    snprintf(msg, sizeof(msg), "%s.meta.k8s.io \"\" is invalid: dryRun: %s", opts_kind, det);
    json_t *st = fl_status_new(422, "Invalid", msg);
    json_object_set_new(st, "details",
                        json_pack("{s:s,s:s,s:[{s:s,s:s,s:s}]}", "group", "meta.k8s.io", "kind",
                                  opts_kind, "causes", "reason", "FieldValueNotSupported",
                                  "message", det, "field", "dryRun"));
    fl_apiserver_reply_json(req, 422, st);
    return false;
}

/* ---------------------------------------------------- field validation
 * fieldValidation=Strict|Warn walks a built-in object against the schema
 * the cluster's OpenAPI v3 document serves for its kind (the same one
 * kubectl reads), collecting the paths of fields the schema does not
 * declare, in the decoder's words: "spec.template.spec.containers[0].bogus"
 * (custom resources: prune.c). */
#define MAX_DEPTH 40

typedef struct unknown_fields {
    const json_t *schemas;     /* components.schemas */
    fl_apiserver_unknown *out; /* the paths; out->prune: delete them too */
} unknown_fields;

/* Follow $ref and a one-element allOf to the schema they name. */
static const json_t *resolve(const unknown_fields *u, const json_t *sc)
{
    for (int hops = 0; sc && hops < 8; hops++) {
        json_t *all = json_object_get(sc, "allOf");
        const char *ref = fl_obj_str(sc, "$ref");
        if (!ref && json_array_size(all) == 1)
            ref = fl_obj_str(json_array_get(all, 0), "$ref");
        if (!ref || strncmp(ref, "#/components/schemas/", 21))
            return sc;
        sc = json_object_get(u->schemas, ref + 21);
    }
    return sc;
}

static void walk_fields(unknown_fields *u, const json_t *sc, json_t *v, fl_buf *path, int depth)
{
    sc = resolve(u, sc);
    if (!sc || depth > MAX_DEPTH ||
        json_is_true(json_object_get(sc, "x-kubernetes-preserve-unknown-fields")))
        return;
    size_t at = path->len;
    if (json_is_array(v) && json_object_get(sc, "items")) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            fl_buf_printf(path, "[%zu]", i);
            walk_fields(u, json_object_get(sc, "items"), e, path, depth + 1);
            path->len = at;
            path->data[at] = 0;
        }
        return;
    }
    json_t *props = json_object_get(sc, "properties"),
           *addl = json_object_get(sc, "additionalProperties");
    if (!json_is_object(v) || (!props && !json_is_object(addl)))
        return; /* free-form (RawExtension, IntOrString, ...) */
    const char *k;
    json_t *e;
    void *next;
    json_object_foreach_safe(v, next, k, e) {
        json_t *sub = json_object_get(props, k);
        fl_buf_printf(path, "%s%s", at ? "." : "", k);
        if (sub || json_is_object(addl)) {
            walk_fields(u, sub ? sub : addl, e, path, depth + 1);
        } else if (!json_is_true(addl)) {
            fl_apiserver_unknown *o = u->out;
            if (o->n < FL_APISERVER_MAX_UNKNOWN &&
                (o->paths[o->n] = strdup(path->data ? path->data : k)))
                o->n++;
            if (o->prune)
                json_object_del(v, k);
        }
        path->len = at;
        if (path->data)
            path->data[at] = 0;
    }
}

/* The schema of r's kind in doc (x-kubernetes-group-version-kind). */
static const json_t *kind_schema(const json_t *schemas, const fl_apiserver_res *r)
{
    const char *k;
    json_t *sc;
    json_object_foreach((json_t *)schemas, k, sc) {
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(sc, "x-kubernetes-group-version-kind"), i, g)
            if (!strcmp(fl_obj_str(g, "group") ?: "", r->kr->group) &&
                !strcmp(fl_obj_str(g, "version") ?: "", r->kr->version) &&
                !strcmp(fl_obj_str(g, "kind") ?: "", r->kr->kind))
                return sc;
    }
    return NULL;
}

/* r's group/version OpenAPI document (new reference), built once per
 * registry generation and kept in c->oa.schemas; NULL on failure. */
static json_t *schema_doc(fl_apiserver *c, const fl_apiserver_res *r)
{
    char key[300];
    json_t *doc = NULL;
    snprintf(key, sizeof(key), "%s/%s", r->kr->group, r->kr->version);
    pthread_mutex_lock(&c->mu);
    uint64_t gen = fl_kube_resources_generation(c->reg);
    if (c->oa.schemas_gen != gen || !c->oa.schemas) {
        json_decref(c->oa.schemas);
        c->oa.schemas = json_object();
        c->oa.schemas_gen = gen;
    }
    doc = json_incref(json_object_get(c->oa.schemas, key));
    if (!doc && c->oa.schemas &&
        fl_kube_openapi_doc(c->reg, r->kr->group, r->kr->version, NULL, NULL, &doc) == 0)
        json_object_set(c->oa.schemas, key, doc);
    pthread_mutex_unlock(&c->mu);
    return doc;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* fieldValidation: fields the schema does not know are a 400 with Strict
 * ("strict decoding error: unknown field ...", sorted, as the decoder
 * reports them), a Warning header each with Warn or no parameter (the
 * apiserver's default), and accepted silently with Ignore. Unless Strict,
 * they are also dropped before the object is stored, as kube-apiserver
 * does (Go decoding for built-ins, pruning for custom resources; a subtree
 * marked x-kubernetes-preserve-unknown-fields keeps the members it does not
 * declare): for custom resources by their CRD's structural schema
 * (prune.c, with their metadata as ObjectMeta), for built-ins of the core
 * and apps groups by upstream's schemas (the other built-in groups'
 * schemas here are compact, so their fields are only reported). */
static bool check_fields(fl_apiserver *c, fl_request *req, const fl_apiserver_res *r, json_t *obj)
{
    const char *fv = fl_request_query(req, "fieldValidation");
    bool strict = fv && !strcmp(fv, "Strict"), warn = !fv || !*fv || !strcmp(fv, "Warn");
    bool crd = r->kr->origin == FL_KUBE_ORIGIN_CRD && r->kr->schema;
    bool upstream = r->kr->origin == FL_KUBE_ORIGIN_BUILTIN &&
                    (!r->kr->group[0] || !strcmp(r->kr->group, "apps"));
    json_t *doc = NULL;
    fl_apiserver_unknown found = {0};
    unknown_fields u = {NULL, &found};
    fl_buf path = FL_BUF_INIT(4096), msg = FL_BUF_INIT(8192);
    if (!strict && !warn && !crd && !upstream)
        return true;
    if (crd) {
        found.prune = !strict;
        fl_apiserver_prune_cr(r->kr->schema, obj, &found); /* self-contained: no $ref */
    } else if ((doc = schema_doc(c, r))) {
        u.schemas = fl_obj_get(doc, "components.schemas");
        const json_t *sc = kind_schema(u.schemas, r);
        found.prune = upstream && !strict;
        if (sc)
            walk_fields(&u, sc, obj, &path, 0);
        if (found.n > 1)
            qsort(found.paths, found.n, sizeof(found.paths[0]), cmp_path);
    } else {
        return true;
    }
    for (size_t i = 0; i < found.n; i++) {
        if (!strict && !warn) {
            /* Ignore: pruned silently */
        } else if (warn) {
            char h[600];
            snprintf(h, sizeof(h), "299 - \"unknown field \\\"%s\\\"\"", found.paths[i]);
            fl_request_add_header(req, "Warning", h);
        } else {
            fl_buf_printf(&msg, "%sunknown field \"%s\"", i ? ", " : "", found.paths[i]);
        }
    }
    bool ok = !strict || found.n == 0;
    fl_apiserver_unknown_done(&found);
    if (!ok) {
        char text[9000];
        snprintf(text, sizeof(text),
                 "%s in version \"%s\" cannot be handled as a %s: strict "
                 "decoding error: %s",
                 r->kr->kind, r->kr->version, r->kr->kind, msg.data ? msg.data : "");
        reply_bad(req, text);
    }
    json_decref(doc);
    fl_buf_done(&path);
    fl_buf_done(&msg);
    return ok;
}

/* Parse the body; checks kind/apiVersion against r. Answers on failure. */
static json_t *parse_body(fl_request *req, const fl_apiserver_res *r)
{
    size_t len;
    const char *body = fl_request_body(req, &len);
    const char *ct = fl_request_header(req, "Content-Type");
    json_t *obj = NULL;
    char msg[700];
    if (ct && fl_str_has_prefix(ct, "application/vnd.kubernetes.protobuf")) {
        fl_err err = FL_ERR_INIT;
        int rc = fl_apiserver_proto_decode(body, len, &obj, &err);
        if (rc == FL_EUNSUPPORTED)
            fl_apiserver_reply_status(req, 415, "UnsupportedMediaType", err.msg, NULL, NULL, NULL);
        else if (rc != 0)
            reply_bad(req, err.msg);
        if (rc != 0)
            return NULL;
    } else {
        obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    }
    if (!json_is_object(obj)) {
        snprintf(msg, sizeof(msg),
                 "the object provided is unrecognized (must be of type %s): "
                 "couldn't get version/kind; json parse error: unexpected end of JSON input "
                 "(%.30s ...)",
                 r->kr->kind, body);
        json_decref(obj);
        reply_bad(req, msg);
        return NULL;
    }
    const char *kind = fl_obj_str(obj, "kind"), *av = fl_obj_str(obj, "apiVersion");
    if (!kind || !*kind) {
        json_object_set_new(obj, "kind", json_string(r->kr->kind));
        kind = r->kr->kind;
    }
    if (!av || !*av) {
        json_object_set_new(obj, "apiVersion", json_string(r->api_version));
        av = r->api_version;
    }
    if (strcmp(kind, r->kr->kind) != 0) {
        snprintf(msg, sizeof(msg),
                 "%s in version \"%s\" cannot be handled as a %s: converting "
                 "(%s.%s) to (%s): unknown conversion",
                 kind, strchr(av, '/') ? strchr(av, '/') + 1 : av, r->kr->kind,
                 strchr(av, '/') ? strchr(av, '/') + 1 : av, kind, r->kr->kind);
        json_decref(obj);
        reply_bad(req, msg);
        return NULL;
    }
    json_object_set_new(obj, "apiVersion", json_string(r->api_version));
    return obj;
}

/* Fill and check metadata.namespace against the URL. */
static bool check_namespace(fl_request *req, const fl_apiserver_path *p, json_t *obj)
{
    if (!p->res->kr->namespaced) {
        json_object_del(md(obj), "namespace");
        return true;
    }
    const char *ns = fl_obj_str(obj, "metadata.namespace");
    if (ns && *ns && strcmp(ns, p->ns) != 0) {
        reply_bad(req, "the namespace of the provided object does not match the namespace sent "
                       "on the request");
        return false;
    }
    set_str(md(obj), "namespace", p->ns);
    return true;
}

static bool namespace_exists(fl_apiserver *c, const char *ns)
{
    const fl_apiserver_res *nr = fl_apiserver_store_find(c->st, "", "v1", "namespaces");
    fl_apiserver_obj *o = NULL;
    if (!nr || fl_apiserver_store_get(c->st, nr, "", ns, &o) != 0)
        return false;
    fl_apiserver_obj_unref(o);
    return true;
}

static bool validate_labels(fl_request *req, const fl_apiserver_res *r, const json_t *obj,
                            const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach(fl_obj_get(obj, "metadata.labels"), k, v) {
        fl_err err = FL_ERR_INIT;
        const char *s = json_string_value(v);
        int rc = s ? fl_label_validate_value(s, &err) : FL_EPARSE;
        if (rc == 0)
            rc = fl_label_validate_key(k, &err);
        if (rc != 0) {
            char det[900];
            snprintf(det, sizeof(det), "Invalid value: \"%s\": %s", s ? s : "", err.msg);
            reply_invalid(req, r, name, "metadata.labels", "FieldValueInvalid", det);
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- create */

int fl_apiserver_create_object(fl_apiserver *c, const fl_apiserver_res *r, json_t *obj,
                               const char *manager, bool dry_run, fl_apiserver_obj **out,
                               fl_err *err)
{
    char uid[37], now[32];
    json_t *m = md(obj);
    fl_uuid4(uid);
    now_str(now);
    json_object_del(m, "resourceVersion");
    json_object_del(m, "managedFields");
    json_object_del(m, "deletionTimestamp");
    set_str(m, "uid", uid);
    set_str(m, "creationTimestamp", now);
    if (*r->kr->group)
        json_object_set_new(m, "generation", json_integer(1));
    apply_defaults(c, r, obj);
    secret_string_data(r, obj);
    if (is_crd(r))
        crd_status(obj);
    if (manager)
        set_managed(obj, manager, "Update", NULL, r->api_version);
    normalize(obj);
    if (dry_run) {
        *out = fl_apiserver_obj_build(r, obj, 0);
        return *out ? 0 : -ENOMEM;
    }
    if (is_crd(r)) {
        int rc = crd_register(c, obj, err);
        if (rc != 0)
            return rc;
    }
    int rc = fl_apiserver_store_create(c->st, r, obj, out);
    if (rc != 0 && rc != -EEXIST && is_crd(r))
        crd_unregister(c, obj); /* the file refused it: the type goes too */
    return rc;
}

/* Validating admission webhooks (webhook.c) on the defaulted object;
 * false when they denied and req was answered. */
static bool webhooks_allow(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p,
                           const json_t *obj, const char *manager, bool dry)
{
    json_t *copy = json_deep_copy(obj), *seen = NULL, *deny = NULL;
    fl_apiserver_obj *pre = NULL;
    fl_err err = FL_ERR_INIT;
    const char *fv = fl_request_query(req, "fieldValidation");
    json_t *opts = json_pack("{s:s,s:s,s:s}", "kind", "CreateOptions", "apiVersion",
                             "meta.k8s.io/v1", "fieldManager", manager);
    if (fv && opts)
        json_object_set_new(opts, "fieldValidation", json_string(fv));
    if (copy && fl_apiserver_create_object(c, p->res, copy, manager, true, &pre, &err) == 0)
        seen = fl_apiserver_obj_parse(pre);
    fl_apiserver_webhook_req w = {NULL, opts, dry, req};
    int rc = fl_apiserver_webhook_admit(c, p->res, "CREATE", seen ? seen : obj, NULL, &w, &deny);
    if (rc == FL_EFORBIDDEN && deny)
        fl_apiserver_reply_json(req, (int)json_integer_value(json_object_get(deny, "code")), deny);
    json_decref(copy);
    json_decref(seen);
    json_decref(opts);
    fl_apiserver_obj_unref(pre);
    return rc != FL_EFORBIDDEN;
}

static void do_create(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    json_t *obj = NULL;
    fl_apiserver_obj *o = NULL;
    char manager[128], q[200], msg[700];
    bool dry;
    fl_err err = FL_ERR_INIT;
    if (!parse_dry_run(req, "CreateOptions", &dry) || !(obj = parse_body(req, p->res)))
        goto out;
    if (!check_fields(c, req, p->res, obj) || !check_namespace(req, p, obj))
        goto out;
    const char *name = fl_obj_str(obj, "metadata.name");
    const char *gen = fl_obj_str(obj, "metadata.generateName");
    if ((!name || !*name) && gen && *gen) {
        char sfx[6], full[300];
        gen_suffix(sfx);
        snprintf(full, sizeof(full), "%.*s%s", 58, gen, sfx);
        set_str(md(obj), "name", full);
        name = fl_obj_str(obj, "metadata.name");
    }
    if (!name || !*name) {
        reply_invalid(req, p->res, "", "metadata.name", "FieldValueRequired",
                      "Required value: name or generateName is required");
        goto out;
    }
    bool label_kind =
        !strcmp(p->res->kr->kind, "Namespace") || !strcmp(p->res->kr->kind, "Service");
    if (label_kind ? !fl_kube_dns_label(name) : !fl_kube_dns_subdomain(name)) {
        snprintf(msg, sizeof(msg),
                 "Invalid value: \"%s\": a lowercase RFC 1123 %s must consist "
                 "of lower case alphanumeric characters, '-'%s, and must start and end with an "
                 "alphanumeric character",
                 name, label_kind ? "label" : "subdomain", label_kind ? "" : " or '.'");
        reply_invalid(req, p->res, name, "metadata.name", "FieldValueInvalid", msg);
        goto out;
    }
    if (!validate_labels(req, p->res, obj, name) || !validate_object(req, p->res, obj))
        goto out;
    if (p->res->kr->namespaced && !namespace_exists(c, p->ns)) {
        snprintf(msg, sizeof(msg), "namespaces \"%s\" not found", p->ns);
        fl_apiserver_reply_status(req, 404, "NotFound", msg, p->ns, NULL, "namespaces");
        goto out;
    }
    manager_of(req, manager, sizeof(manager));
    if (!webhooks_allow(c, req, p, obj, manager, dry))
        goto out;
    if (c->hooks.admit && c->hooks.admit(c->hooks.ud, p->res, obj, p->ns, &err) == FL_EFORBIDDEN) {
        fl_apiserver_res_qualified(p->res, q, sizeof(q));
        snprintf(msg, sizeof(msg), "%s \"%s\" is forbidden: %s", q, name, err.msg);
        fl_apiserver_reply_status(req, 403, "Forbidden", msg, name, p->res->kr->group,
                                  p->res->kr->resource);
        goto out;
    }
    int rc = fl_apiserver_create_object(c, p->res, obj, manager, dry, &o, &err);
    if (rc == -EEXIST) {
        fl_apiserver_res_qualified(p->res, q, sizeof(q));
        snprintf(msg, sizeof(msg), "%s \"%s\" already exists", q, name);
        fl_apiserver_reply_status(req, 409, "AlreadyExists", msg, name, p->res->kr->group,
                                  p->res->kr->resource);
    } else if (rc == FL_EPARSE || rc == -EEXIST) {
        reply_invalid(req, p->res, name, "spec", "FieldValueInvalid", err.msg);
    } else if (rc != 0 && err.msg[0]) {
        fl_apiserver_reply_json(req, 500, status_internal(err.msg));
    } else if (rc != 0) {
        reply_write_failed(req, rc);
    } else {
        fl_apiserver_reply_obj(req, 201, o);
    }
out:
    json_decref(obj);
    fl_apiserver_obj_unref(o);
}

/* ---------------------------------------------------------------- update */

static bool has_status_sub(const fl_apiserver_res *r)
{
    return fl_kube_resource_sub(r->kr, "status") != NULL;
}

typedef struct upd {
    const char *sub; /* NULL or "status" */
    const char *manager;
    const char *op; /* "Update" or "Apply" */
    bool dry;
    fl_request *req; /* set: call UPDATE webhooks; a denial is answered
                             here and commit_update returns FL_EFORBIDDEN */
} upd;

/* Turn the requested new state into what is stored, relative to old.
 * Takes no reference. */
static void merge_system_fields(const fl_apiserver_res *r, const json_t *old, json_t *nw,
                                const upd *u)
{
    json_t *om = fl_obj_get(old, "metadata"), *nm = md(nw);
    static const char *const keep[] = {"uid",
                                       "creationTimestamp",
                                       "deletionTimestamp",
                                       "deletionGracePeriodSeconds",
                                       "generation",
                                       "managedFields",
                                       NULL};
    for (size_t i = 0; keep[i]; i++) {
        json_t *v = json_object_get(om, keep[i]);
        if (v)
            json_object_set(nm, keep[i], v);
        else
            json_object_del(nm, keep[i]);
    }
    set_str(nm, "name", fl_obj_str(old, "metadata.name"));
    if (u->sub && !strcmp(u->sub, "status")) {
        /* only status changes */
        json_t *st = json_object_get(nw, "status");
        json_t *keepst = st ? json_incref(st) : NULL;
        json_object_clear(nw);
        json_object_update(nw, (json_t *)old);
        if (keepst)
            json_object_set_new(nw, "status", keepst);
        json_object_set_new(nw, "metadata", json_deep_copy(om));
        return;
    }
    if (has_status_sub(r)) {
        json_t *st = json_object_get(old, "status");
        if (st)
            json_object_set(nw, "status", st);
        else
            json_object_del(nw, "status");
    }
    json_t *og = json_object_get(om, "generation");
    if (json_is_integer(og) &&
        !json_equal(json_object_get(old, "spec"), json_object_get(nw, "spec")))
        json_object_set_new(nm, "generation", json_integer(json_integer_value(og) + 1));
}

static bool finalizers_empty(const json_t *obj)
{
    return json_array_size(fl_obj_get(obj, "metadata.finalizers")) == 0;
}

/* Store nw as the new state of old (CAS on old's rv). Returns 0 with *out,
 * FL_ECONFLICT, FL_ENOTFOUND or another code. Deletes the object when it
 * is terminating and has no finalizers left. */
static bool update_webhooks_allow(fl_apiserver *c, const fl_apiserver_res *r, const json_t *old,
                                  const json_t *nw, const upd *u)
{
    json_t *deny = NULL;
    json_t *opts = json_pack("{s:s,s:s,s:s}", "kind", "UpdateOptions", "apiVersion",
                             "meta.k8s.io/v1", "fieldManager", u->manager);
    fl_apiserver_webhook_req w = {NULL, opts, u->dry, u->req};
    int rc = fl_apiserver_webhook_admit(c, r, "UPDATE", nw, old, &w, &deny);
    if (rc == FL_EFORBIDDEN && deny)
        fl_apiserver_reply_json(u->req, (int)json_integer_value(json_object_get(deny, "code")),
                                deny);
    json_decref(opts);
    return rc != FL_EFORBIDDEN;
}

static int commit_update(fl_apiserver *c, const fl_apiserver_res *r, const fl_apiserver_obj *old_o,
                         const json_t *old, json_t *nw, const upd *u, fl_apiserver_obj **out)
{
    merge_system_fields(r, old, nw, u);
    secret_string_data(r, nw);
    normalize(nw);
    json_t *cmp = json_deep_copy(nw);
    set_str(md(cmp), "resourceVersion", fl_obj_str(old, "metadata.resourceVersion") ?: "");
    bool same = json_equal(cmp, old);
    json_decref(cmp);
    if (same) {
        *out = (fl_apiserver_obj *)old_o;
        fl_apiserver_obj_ref(*out);
        return 0;
    }
    if (u->req && !u->sub && !validate_object(u->req, r, nw))
        return FL_EFORBIDDEN; /* answered 422 */
    if (u->req && !update_webhooks_allow(c, r, old, nw, u))
        return FL_EFORBIDDEN;
    set_managed(nw, u->manager, u->op, u->sub, r->api_version);
    if (u->dry) {
        *out = fl_apiserver_obj_build(r, nw, old_o->rv);
        return *out ? 0 : -ENOMEM;
    }
    if (fl_obj_get(nw, "metadata.deletionTimestamp") && finalizers_empty(nw))
        return fl_apiserver_store_delete(c->st, r, old_o->ns, old_o->name, old_o->rv, nw, out);
    fl_err err = FL_ERR_INIT;
    if (is_crd(r) && crd_register(c, nw, &err) != 0)
        fl_log(FL_LOG_WARN, "apiserver", "%s: CRD update: %s", c->name, err.msg);
    int rc = fl_apiserver_store_update(c->st, r, nw, old_o->rv, out);
    if (rc != 0 && is_crd(r) && crd_register(c, old, &err) != 0) /* the stored one again */
        fl_log(FL_LOG_WARN, "apiserver", "%s: CRD update undone: %s", c->name, err.msg);
    return rc;
}

static void reply_commit(fl_request *req, const fl_apiserver_path *p, int rc, fl_apiserver_obj *o,
                         int code)
{
    if (rc == FL_EFORBIDDEN)
        return; /* validation or a webhook denied it; answered */
    if (rc == FL_ECONFLICT)
        reply_conflict(req, p->res, p->name);
    else if (rc == FL_ENOTFOUND)
        reply_not_found(req, p->res, p->name);
    else if (rc != 0)
        reply_write_failed(req, rc);
    else
        fl_apiserver_reply_obj(req, code, o);
}

/* ---------------------------------------------------------------- scale */

static json_t *scale_of(const json_t *obj)
{
    json_t *m = fl_obj_get(obj, "metadata");
    json_t *sm = json_object();
    static const char *const keys[] = {
        "name", "namespace", "uid", "resourceVersion", "creationTimestamp", NULL};
    for (size_t i = 0; keys[i]; i++)
        if (json_object_get(m, keys[i]))
            json_object_set(sm, keys[i], json_object_get(m, keys[i]));
    json_t *rep = fl_obj_get(obj, "spec.replicas");
    json_t *srep = fl_obj_get(obj, "status.replicas");
    fl_buf sel = FL_BUF_INIT(4096);
    const char *k;
    json_t *v;
    json_object_foreach(fl_obj_get(obj, "spec.selector.matchLabels"), k, v)
        fl_buf_printf(&sel, "%s%s=%s", sel.len ? "," : "", k, json_string_value(v) ?: "");
    json_t *s = json_pack(
        "{s:s,s:s,s:o,s:{s:I},s:{s:I,s:s}}", "kind", "Scale", "apiVersion", "autoscaling/v1",
        "metadata", sm, "spec", "replicas", (json_int_t)json_integer_value(rep), "status",
        "replicas", (json_int_t)json_integer_value(srep), "selector", sel.data ? sel.data : "");
    fl_buf_done(&sel);
    return s;
}

static void reply_scale(fl_request *req, const fl_apiserver_obj *o)
{
    json_t *obj = fl_apiserver_obj_parse(o);
    fl_apiserver_reply_json(req, 200, obj ? scale_of(obj) : NULL);
    json_decref(obj);
}

/* ---------------------------------------------------------------- patch */

static int patch_type(fl_request *req, const fl_apiserver_res *r, fl_patch_type *t)
{
    const char *ct = fl_request_header(req, "Content-Type");
    int rc = fl_patch_type_parse(ct, t);
    if (rc != 0) {
        fl_apiserver_reply_status(req, 415, "UnsupportedMediaType", "415: Unsupported Media Type",
                                  NULL, NULL, NULL);
        return rc;
    }
    if (*t == FL_PATCH_STRATEGIC && r->kr->origin == FL_KUBE_ORIGIN_CRD) {
        json_t *st = fl_status_new(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted "
                                   "media types include: application/json-patch+json, "
                                   "application/merge-patch+json, application/apply-patch+yaml");
        fl_apiserver_reply_json(req, 415, st);
        return FL_EUNSUPPORTED;
    }
    return 0;
}

/* The document the patch applies to: the object, or its Scale. */
static int patched(const fl_apiserver_path *p, fl_patch_type t, const json_t *cur, const char *body,
                   size_t len, json_t **out, fl_err *err)
{
    bool scale = !strcmp(p->sub, "scale");
    json_t *base = scale ? scale_of(cur) : json_incref((json_t *)cur), *res = NULL;
    int rc;
    if (t == FL_PATCH_APPLY) {
        json_t *applied = NULL;
        rc = fl_yaml_parse(body, len, &applied, err);
        if (rc == 0)
            rc = fl_patch_merge_apply(base, applied, &res, err);
        json_decref(applied);
    } else {
        const fl_patch_schema *schema =
            scale ? fl_patch_schema_for("autoscaling", "Scale")
                  : fl_patch_schema_for(p->res->kr->group, p->res->kr->kind);
        rc = fl_patch_apply(t, base, body, len, schema, &res, err);
    }
    json_decref(base);
    if (rc == 0 && scale) {
        json_t *obj = json_deep_copy(cur);
        json_t *rep = fl_obj_get(res, "spec.replicas");
        json_object_set(fl_obj_ensure(obj, "spec"), "replicas", rep ? rep : json_integer(0));
        const char *rv = fl_obj_str(res, "metadata.resourceVersion");
        if (rv)
            set_str(md(obj), "resourceVersion", rv);
        json_decref(res);
        res = obj;
    }
    if (rc == 0)
        *out = res;
    return rc;
}

static void do_patch(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    fl_patch_type t;
    char manager[128];
    bool dry;
    size_t len;
    const char *body = fl_request_body(req, &len);
    if (patch_type(req, p->res, &t) != 0 || !parse_dry_run(req, "PatchOptions", &dry))
        return;
    manager_of(req, manager, sizeof(manager));
    if (t == FL_PATCH_APPLY && !fl_request_query(req, "fieldManager")) {
        json_t *st = fl_status_new(422, "Invalid",
                                   "PatchOptions.meta.k8s.io \"\" is invalid: "
                                   "fieldManager: Required value: is required for apply patch");
        json_object_set_new(st, "details",
                            json_pack("{s:s,s:s,s:[{s:s,s:s,s:s}]}", "group", "meta.k8s.io", "kind",
                                      "PatchOptions", "causes", "reason", "FieldValueRequired",
                                      "message", "Required value: is required for apply patch",
                                      "field", "fieldManager"));
        fl_apiserver_reply_json(req, 422, st);
        return;
    }
    upd u = {p->sub[0] && strcmp(p->sub, "scale") ? p->sub : NULL, manager,
             t == FL_PATCH_APPLY ? "Apply" : "Update", dry,
             p->sub[0] ? NULL : req}; /* subresources do not match plain rules */
    for (int attempt = 0; attempt < PATCH_RETRIES; attempt++) {
        fl_apiserver_obj *o = NULL, *out = NULL;
        json_t *cur = NULL, *nw = NULL;
        fl_err err = FL_ERR_INIT;
        if (fl_apiserver_store_get(c->st, p->res, p->ns, p->name, &o) != 0) {
            if (t == FL_PATCH_APPLY) {
                /* server-side apply creates */
                json_t *obj = NULL;
                if (fl_yaml_parse(body, len, &obj, &err) != 0 || !json_is_object(obj)) {
                    reply_bad(req, err.msg[0] ? err.msg : "invalid apply configuration");
                } else {
                    set_str(md(obj), "name", p->name);
                    if (p->res->kr->namespaced)
                        set_str(md(obj), "namespace", p->ns);
                    int rc = fl_apiserver_create_object(c, p->res, obj, manager, dry, &out, &err);
                    json_decref(obj);
                    if (rc != 0 && err.msg[0])
                        fl_apiserver_reply_json(req, 500, status_internal(err.msg));
                    else if (rc != 0)
                        reply_write_failed(req, rc);
                    else
                        fl_apiserver_reply_obj(req, 201, out);
                    fl_apiserver_obj_unref(out);
                }
                return;
            }
            reply_not_found(req, p->res, p->name);
            return;
        }
        cur = fl_apiserver_obj_parse(o);
        int rc = cur ? patched(p, t, cur, body, len, &nw, &err) : -ENOMEM;
        if (rc != 0) {
            json_t *st = fl_patch_status(rc, &err);
            fl_apiserver_reply_json(req, json_integer_value(json_object_get(st, "code")) ?: 500,
                                    st);
            fl_apiserver_obj_unref(o);
            json_decref(cur);
            return;
        }
        const char *want = fl_obj_str(nw, "metadata.resourceVersion");
        bool pinned = want && strcmp(want, fl_obj_str(cur, "metadata.resourceVersion") ?: "");
        if (!pinned && t != FL_PATCH_APPLY && !p->sub[0] && !check_fields(c, req, p->res, nw))
            rc = FL_EFORBIDDEN; /* answered 400 */
        else
            rc = pinned ? FL_ECONFLICT : commit_update(c, p->res, o, cur, nw, &u, &out);
        bool retry = rc == FL_ECONFLICT && !pinned && attempt + 1 < PATCH_RETRIES;
        if (!retry) {
            if (rc == 0 && !strcmp(p->sub, "scale"))
                reply_scale(req, out);
            else
                reply_commit(req, p, rc, out, 200);
        }
        fl_apiserver_obj_unref(o);
        fl_apiserver_obj_unref(out);
        json_decref(cur);
        json_decref(nw);
        if (!retry)
            return;
    }
}

static void do_update(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    json_t *nw = NULL, *cur = NULL;
    fl_apiserver_obj *o = NULL, *out = NULL;
    char manager[128];
    bool dry;
    bool scale = !strcmp(p->sub, "scale");
    if (!parse_dry_run(req, "UpdateOptions", &dry))
        return;
    if (scale) {
        size_t len;
        const char *b = fl_request_body(req, &len);
        nw = json_loadb(b, len, 0, NULL);
        if (!json_is_object(nw)) {
            reply_bad(req, "the object provided is unrecognized (must be of type Scale)");
            goto out;
        }
    } else if (!(nw = parse_body(req, p->res)) || !check_fields(c, req, p->res, nw) ||
               !check_namespace(req, p, nw)) {
        goto out;
    }
    const char *name = fl_obj_str(nw, "metadata.name");
    if (name && strcmp(name, p->name) != 0) {
        reply_bad(req, "the name of the object does not match the name on the URL");
        goto out;
    }
    if (fl_apiserver_store_get(c->st, p->res, p->ns, p->name, &o) != 0) {
        reply_not_found(req, p->res, p->name);
        goto out;
    }
    cur = fl_apiserver_obj_parse(o);
    const char *want = fl_obj_str(nw, "metadata.resourceVersion");
    if (want && *want && strcmp(want, fl_obj_str(cur, "metadata.resourceVersion") ?: "")) {
        reply_conflict(req, p->res, p->name);
        goto out;
    }
    if (scale) {
        json_t *obj = json_deep_copy(cur);
        json_t *rep = fl_obj_get(nw, "spec.replicas");
        json_object_set(fl_obj_ensure(obj, "spec"), "replicas", rep ? rep : json_integer(0));
        json_decref(nw);
        nw = obj;
    }
    manager_of(req, manager, sizeof(manager));
    upd u = {p->sub[0] && !scale ? p->sub : NULL, manager, "Update", dry,
             p->sub[0] ? NULL : req}; /* subresources do not match plain rules */
    int rc = commit_update(c, p->res, o, cur, nw, &u, &out);
    if (rc == 0 && scale)
        reply_scale(req, out);
    else
        reply_commit(req, p, rc, out, 200);
out:
    json_decref(nw);
    json_decref(cur);
    fl_apiserver_obj_unref(o);
    fl_apiserver_obj_unref(out);
}

/* ---------------------------------------------------------------- delete */

typedef struct delopts {
    const char *policy;
    int64_t grace; /* -1 = unset */
    const char *pre_uid, *pre_rv;
    json_t *body;
} delopts;

static void parse_delopts(fl_request *req, delopts *d)
{
    size_t len;
    const char *b = fl_request_body(req, &len);
    memset(d, 0, sizeof(*d));
    d->grace = -1;
    d->body = len ? json_loadb(b, len, 0, NULL) : NULL;
    d->policy = fl_obj_str(d->body, "propagationPolicy");
    json_t *g = json_object_get(d->body, "gracePeriodSeconds");
    if (json_is_integer(g))
        d->grace = json_integer_value(g);
    d->pre_uid = fl_obj_str(d->body, "preconditions.uid");
    d->pre_rv = fl_obj_str(d->body, "preconditions.resourceVersion");
    const char *qp = fl_request_query(req, "propagationPolicy");
    const char *qg = fl_request_query(req, "gracePeriodSeconds");
    int64_t v;
    if (qp)
        d->policy = qp;
    if (qg && fl_parse_i64(qg, strlen(qg), &v) == 0)
        d->grace = v;
}

static void add_finalizer(json_t *obj, const char *f)
{
    json_t *list = json_object_get(md(obj), "finalizers");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(md(obj), "finalizers", list);
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        if (!strcmp(json_string_value(v) ?: "", f))
            return;
    json_array_append_new(list, json_string(f));
}

/* Delete everything in namespace ns (the namespace controller's job). */
static void purge_namespace(fl_apiserver *c, const char *ns)
{
    const fl_apiserver_res **all = NULL;
    size_t n = fl_apiserver_store_resources(c->st, &all);
    for (size_t i = 0; i < n; i++) {
        if (!all[i]->kr->namespaced)
            continue;
        fl_apiserver_list l = {0};
        fl_apiserver_list_req q = {.ns = ns};
        if (fl_apiserver_store_list(c->st, all[i], &q, &l) != 0)
            continue;
        for (size_t j = 0; j < l.n; j++)
            fl_apiserver_store_delete(c->st, all[i], l.items[j]->ns, l.items[j]->name, 0, NULL,
                                      NULL);
        fl_apiserver_list_done(&l);
    }
    free(all);
}

static void mark_deleting(json_t *obj, int64_t grace)
{
    char ts[32];
    fl_time_format(fl_now_ms() / 1000 + grace, ts);
    set_str(md(obj), "deletionTimestamp", ts);
    json_object_set_new(md(obj), "deletionGracePeriodSeconds", json_integer(grace));
    normalize(obj);
}

static void not_allowed(fl_request *req)
{
    fl_apiserver_reply_status(req, 405, "MethodNotAllowed",
                              "the server does not allow this method on the "
                              "requested resource",
                              NULL, NULL, NULL);
}

/* A Status about object name of r. */
static json_t *item_status(int code, const char *reason, const char *msg, const fl_apiserver_res *r,
                           const char *name)
{
    json_t *st = fl_status_new(code, reason, msg);
    if (st)
        fl_status_set_details(st, name, r->kr->group, r->kr->resource);
    return st;
}

static json_t *status_not_found(const fl_apiserver_res *r, const char *name)
{
    char q[200], msg[600];
    fl_apiserver_res_qualified(r, q, sizeof(q));
    snprintf(msg, sizeof(msg), "%s \"%s\" not found", q, name);
    return item_status(404, "NotFound", msg, r, name);
}

static json_t *status_conflict(const fl_apiserver_res *r, const char *name, const char *why)
{
    char q[200], msg[900];
    fl_apiserver_res_qualified(r, q, sizeof(q));
    snprintf(msg, sizeof(msg), "Operation cannot be fulfilled on %s \"%s\": %s", q, name, why);
    return item_status(409, "Conflict", msg, r, name);
}

/* Validating webhooks for DELETE: object null, oldObject the stored one.
 * 0 or FL_EFORBIDDEN with *deny (new) the Status to answer. */
static int delete_webhooks(fl_apiserver *c, fl_request *req, const fl_apiserver_res *r,
                           const json_t *old, const delopts *d, bool dry, json_t **deny)
{
    json_t *opts = json_pack("{s:s,s:s}", "kind", "DeleteOptions", "apiVersion", "meta.k8s.io/v1");
    if (opts && d->policy)
        json_object_set_new(opts, "propagationPolicy", json_string(d->policy));
    if (opts && d->grace >= 0)
        json_object_set_new(opts, "gracePeriodSeconds", json_integer(d->grace));
    if (opts && dry)
        json_object_set_new(opts, "dryRun", json_pack("[s]", "All"));
    fl_apiserver_webhook_req w = {NULL, opts, dry, req};
    int rc = fl_apiserver_webhook_admit(c, r, "DELETE", NULL, old, &w, deny);
    json_decref(opts);
    return rc;
}

/* Delete one stored object as the DELETE verb does: preconditions,
 * webhooks, propagation finalizers, graceful pods, namespace purge, CRD
 * removal. Returns the answer (new: the object, or a Status) and its HTTP
 * code in *code. Used by DELETE and deletecollection; HTTP threads. */
static json_t *delete_item(fl_apiserver *c, fl_request *req, const fl_apiserver_res *r,
                           const char *ns, const char *name, const delopts *d, bool dry, int *code)
{
    fl_apiserver_obj *o = NULL, *out = NULL;
    json_t *obj = NULL, *ans = NULL;
    char msg[700];
    *code = 200;
    if (fl_apiserver_store_get(c->st, r, ns, name, &o) != 0) {
        *code = 404;
        return status_not_found(r, name);
    }
    obj = fl_apiserver_obj_parse(o);
    const char *uid = fl_obj_str(obj, "metadata.uid") ?: "";
    if (d->pre_uid && strcmp(d->pre_uid, uid)) {
        snprintf(msg, sizeof(msg),
                 "Operation cannot be fulfilled on %s \"%s\": the UID in the "
                 "precondition (%s) does not match the UID in record (%s). The object might have "
                 "been deleted and then recreated",
                 r->kr->kind, name, d->pre_uid, uid);
        *code = 409;
        ans = fl_status_new(409, "Conflict", msg);
        fl_status_set_details(ans, name, r->kr->group, r->kr->kind);
        goto out;
    }
    if (d->pre_rv && strcmp(d->pre_rv, fl_obj_str(obj, "metadata.resourceVersion") ?: "")) {
        *code = 409;
        ans = status_conflict(r, name,
                              "the object has been modified; please apply your changes "
                              "to the latest version and try again");
        goto out;
    }
    if (delete_webhooks(c, req, r, obj, d, dry, &ans) != 0) {
        *code = ans ? (int)json_integer_value(json_object_get(ans, "code")) : 500;
        goto out;
    }
    bool pod = !*r->kr->group && !strcmp(r->kr->kind, "Pod");
    bool bound = pod && fl_obj_str(obj, "spec.nodeName");
    if (d->policy && !strcmp(d->policy, "Foreground"))
        add_finalizer(obj, "foregroundDeletion");
    else if (d->policy && !strcmp(d->policy, "Orphan"))
        add_finalizer(obj, "orphan");
    int64_t grace = d->grace >= 0 ? d->grace : 30;
    json_t *tg = fl_obj_get(obj, "spec.terminationGracePeriodSeconds");
    if (d->grace < 0 && json_is_integer(tg))
        grace = json_integer_value(tg);
    int rc = 0;
    bool stays = !finalizers_empty(obj) || (bound && grace > 0);
    if (stays) {
        if (!fl_obj_get(obj, "metadata.deletionTimestamp"))
            mark_deleting(obj, bound ? grace : 0);
        rc = dry ? 0 : fl_apiserver_store_update(c->st, r, obj, o->rv, &out);
        if (rc == 0)
            ans = json_incref(obj);
    } else {
        if (pod && !dry) {
            if (!fl_obj_get(obj, "metadata.deletionTimestamp"))
                mark_deleting(obj, 0);
            rc = fl_apiserver_store_update(c->st, r, obj, o->rv, &out);
            if (rc == 0)
                rc = fl_apiserver_store_delete(c->st, r, ns, name, out->rv, NULL, NULL);
        } else if (!dry) {
            rc = fl_apiserver_store_delete(c->st, r, ns, name, o->rv, NULL, NULL);
            if (rc == 0 && !*r->kr->group && !strcmp(r->kr->kind, "Namespace"))
                purge_namespace(c, name);
            if (rc == 0 && is_crd(r))
                crd_unregister(c, obj);
        }
        if (rc == 0 && pod)
            ans = json_incref(obj);
        else if (rc == 0)
            ans = fl_status_success(name, r->kr->group, r->kr->resource, uid);
    }
    if (rc == FL_ECONFLICT) {
        *code = 409;
        ans = status_conflict(r, name,
                              "the object has been modified; please apply your changes "
                              "to the latest version and try again");
    } else if (rc == FL_ENOTFOUND) {
        *code = 404;
        ans = status_not_found(r, name);
    } else if (rc != 0) {
        *code = 500;
        ans = status_internal(write_failure(rc));
    }
out:
    json_decref(obj);
    fl_apiserver_obj_unref(o);
    fl_apiserver_obj_unref(out);
    return ans;
}

static void do_delete(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    delopts d;
    bool dry;
    int code = 500;
    parse_delopts(req, &d);
    if (parse_dry_run(req, "DeleteOptions", &dry)) {
        json_t *ans = delete_item(c, req, p->res, p->ns, p->name, &d, dry, &code);
        fl_apiserver_reply_json(req, code, ans);
    }
    json_decref(d.body);
}

/* The list answer of deletecollection: what was listed, before deletion
 * (as registry.Store.DeleteCollection returns it). Built-in list items
 * carry no kind/apiVersion. */
static json_t *collection_list(const fl_apiserver_res *r, const fl_apiserver_list *l)
{
    char rv[24];
    bool crd = r->kr->origin == FL_KUBE_ORIGIN_CRD;
    snprintf(rv, sizeof(rv), "%llu", (unsigned long long)l->rv);
    json_t *items = json_array();
    json_t *list = json_pack("{s:s,s:s,s:{s:s},s:o}", "kind", r->kr->list_kind, "apiVersion",
                             r->api_version, "metadata", "resourceVersion", rv, "items", items);
    for (size_t i = 0; list && i < l->n; i++) {
        json_t *it = fl_apiserver_obj_parse(l->items[i]);
        if (it && !crd) {
            json_object_del(it, "kind");
            json_object_del(it, "apiVersion");
        }
        if (it)
            json_array_append_new(items, it);
    }
    return list;
}

/* DELETE on a collection: list with the request's selectors (namespace of
 * the path, labelSelector, fieldSelector), then delete each item as DELETE
 * does (NotFound skipped: deleted meanwhile). The first other failure is
 * the answer; else the list of what was deleted. */
static void do_delete_collection(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    delopts d;
    bool dry;
    fl_err err = FL_ERR_INIT;
    fl_apiserver_sel *ls = NULL, *fs = NULL;
    fl_apiserver_list l = {0};
    json_t *fail = NULL;
    int code = 200;
    const char *bad = NULL;
    parse_delopts(req, &d);
    if (!fl_kube_resource_has_verb(p->res->kr, "deletecollection")) {
        not_allowed(req);
        goto out;
    }
    if (!parse_dry_run(req, "DeleteOptions", &dry))
        goto out;
    if (fl_apiserver_sel_parse_labels(fl_request_query(req, "labelSelector"), &ls, &err) != 0 ||
        fl_apiserver_sel_parse_fields(fl_request_query(req, "fieldSelector"), &fs, &err) != 0) {
        reply_bad(req, err.msg);
        goto out;
    }
    if (!fl_apiserver_sel_fields_supported(fs, p->res->kr->kind, &bad)) {
        char msg[400];
        snprintf(msg, sizeof(msg), "field label not supported: %s", bad);
        reply_bad(req, msg);
        goto out;
    }
    fl_apiserver_list_req q = {.ns = p->ns, .labels = ls, .fields = fs};
    int rc = fl_apiserver_store_list(c->st, p->res, &q, &l);
    if (rc != 0) {
        fl_request_reply_status(req, 500, NULL, "list: %s", fl_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < l.n && !fail; i++) {
        json_t *ans = delete_item(c, req, p->res, l.items[i]->ns, l.items[i]->name, &d, dry, &code);
        if (code >= 300 && code != 404)
            fail = json_incref(ans);
        json_decref(ans);
    }
    if (fail)
        fl_apiserver_reply_json(req, code, fail);
    else
        fl_apiserver_reply_json(req, 200, collection_list(p->res, &l));
out:
    fl_apiserver_list_done(&l);
    fl_apiserver_sel_free(ls);
    fl_apiserver_sel_free(fs);
    json_decref(d.body);
}

/* ---------------------------------------------------------------- pods */

static void do_binding(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    size_t len;
    const char *b = fl_request_body(req, &len);
    json_t *bind = json_loadb(b, len, 0, NULL), *obj = NULL;
    fl_apiserver_obj *o = NULL, *out = NULL;
    const char *node = fl_obj_str(bind, "target.name");
    char msg[600], now[32];
    if (!node) {
        reply_bad(req, "binding target name is required");
        goto out;
    }
    if (fl_apiserver_store_get(c->st, p->res, p->ns, p->name, &o) != 0) {
        reply_not_found(req, p->res, p->name);
        goto out;
    }
    obj = fl_apiserver_obj_parse(o);
    const char *cur = fl_obj_str(obj, "spec.nodeName");
    if (cur && *cur) {
        snprintf(msg, sizeof(msg),
                 "Operation cannot be fulfilled on pods/binding \"%s\": pod %s "
                 "is already assigned to node \"%s\"",
                 p->name, p->name, cur);
        fl_apiserver_reply_status(req, 409, "Conflict", msg, p->name, NULL, "pods/binding");
        goto out;
    }
    set_str(fl_obj_ensure(obj, "spec"), "nodeName", node);
    now_str(now);
    json_t *conds = fl_obj_get(obj, "status.conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(fl_obj_ensure(obj, "status"), "conditions", conds);
    }
    json_array_append_new(conds, json_pack("{s:s,s:s,s:n,s:s}", "type", "PodScheduled", "status",
                                           "True", "lastProbeTime", "lastTransitionTime", now));
    reorder(json_object_get(obj, "status"), (const char *const[]){"phase", "conditions", NULL});
    int rc = fl_apiserver_store_update(c->st, p->res, obj, o->rv, &out);
    if (rc == FL_ECONFLICT || rc == FL_ENOTFOUND)
        reply_conflict(req, p->res, p->name);
    else if (rc != 0)
        reply_write_failed(req, rc);
    else
        fl_apiserver_reply_json(req, 201,
                                json_pack("{s:s,s:s,s:{},s:s,s:i}", "kind", "Status", "apiVersion",
                                          "v1", "metadata", "status", "Success", "code", 201));
out:
    json_decref(bind);
    json_decref(obj);
    fl_apiserver_obj_unref(o);
    fl_apiserver_obj_unref(out);
}

static void do_log(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    fl_apiserver_obj *o = NULL;
    if (fl_apiserver_store_get(c->st, p->res, p->ns, p->name, &o) != 0) {
        reply_not_found(req, p->res, p->name);
        return;
    }
    if (!o->node[0]) {
        fl_request_reply(req, 204, NULL, "", 0);
    } else if (c->hooks.log && c->hooks.log(c->hooks.ud, req, o)) {
        /* answered by the embedder (the sim's kubelet) */
    } else {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "Get \"https://%s:10250/containerLogs/%s/%s\": dial tcp: "
                 "connect: connection refused",
                 o->node, o->ns, o->name);
        fl_apiserver_reply_status(req, 500, "", msg, NULL, NULL, NULL);
    }
    fl_apiserver_obj_unref(o);
}

/* ---------------------------------------------------------------- entry */

void fl_apiserver_write_handle(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    const char *m = fl_request_method(req);
    const char *sub = p->sub;
    if (!*sub || !strcmp(sub, "status") || !strcmp(sub, "scale")) {
        if (!p->name[0] && !*sub && !strcmp(m, "DELETE"))
            do_delete_collection(c, req, p);
        else if (!p->name[0])
            !strcmp(m, "POST") ? do_create(c, req, p) : not_allowed(req);
        else if (!strcmp(m, "GET") && !strcmp(sub, "scale")) {
            fl_apiserver_obj *o = NULL;
            if (fl_apiserver_store_get(c->st, p->res, p->ns, p->name, &o) == 0)
                reply_scale(req, o);
            else
                reply_not_found(req, p->res, p->name);
            fl_apiserver_obj_unref(o);
        } else if (!strcmp(m, "GET")) {
            fl_apiserver_obj *o = NULL;
            if (fl_apiserver_store_get(c->st, p->res, p->ns, p->name, &o) == 0)
                fl_apiserver_reply_obj(req, 200, o);
            else
                reply_not_found(req, p->res, p->name);
            fl_apiserver_obj_unref(o);
        } else if (!strcmp(m, "PUT"))
            do_update(c, req, p);
        else if (!strcmp(m, "PATCH"))
            do_patch(c, req, p);
        else if (!strcmp(m, "DELETE") && !*sub)
            do_delete(c, req, p);
        else
            not_allowed(req);
    } else if (!strcmp(sub, "binding") && !strcmp(m, "POST")) {
        do_binding(c, req, p);
    } else if (!strcmp(sub, "log") && !strcmp(m, "GET")) {
        do_log(c, req, p);
    } else {
        not_allowed(req);
    }
}
