/*
 * sim/controller.c: the control plane of a member cluster, on one thread
 * the cluster owns (sim_ctrl). Each tick (every 200 ms, or 4x the last
 * tick's time when longer, up to 1 s; only when the store's resourceVersion
 * moved) it takes a snapshot of pods and nodes and runs:
 * Deployments -> ReplicaSets (pod-template-hash, new RS scaled up, old
 * ones down once the new one is available), ReplicaSets -> Pods (churn
 * pods, "<rs>-churn-<n>" from churn.c, are left to churn.c),
 * StatefulSets -> ordinal Pods (OrderedReady), DaemonSets -> a Pod per
 * matching Node, Jobs -> Pods that succeed; the scheduler (sched.c); a
 * kubelet stand-in (bound Pods become Running and Ready one tick later,
 * Job pods Succeeded the tick after, terminating bound Pods go away); and
 * the garbage collector (gc.c) and quota status (quota.c). Workload status
 * is recomputed every tick and written only when it changed. Pods the
 * controllers create pass validating webhooks (webhook.c, as the
 * controller's service account) and quota admission first; a denial is a
 * ReplicaFailure condition and a FailedCreate event. Scale-down deletes
 * pass the webhooks too (DELETE): a denied one keeps the pod and shows as
 * ReplicaFailure/FailedDelete on a ReplicaSet. Every write goes
 * through the store, so watches see each change. Also serves pods/log
 * (the kubelet's part): deterministic lines, follow streams fed from this
 * thread. Never touches the host cluster.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

#define TICK_MS 200
#define BURST 64 /* pods created or deleted per workload per tick */
#define MANAGER "kube-controller-manager"
#define LOG_LINES 20    /* lines a container has logged when asked */
#define MAX_FOLLOW 1024 /* concurrent `logs -f` streams per cluster */

/* A followed container log: one more line a second until the client goes. */
typedef struct follow {
    fl_stream *s;
    atomic_bool gone;
    char ns[FL_KUBE_NAME_MAX + 1], pod[FL_KUBE_NAME_MAX + 1], ct[FL_KUBE_NAME_MAX + 1];
    int64_t next;    /* next line number */
    int64_t base_ms; /* when line LOG_LINES was logged: line n > it at + (n - it) s */
    bool timestamps;
} follow;

struct sim_ctrl {
    sim_cluster *c;
    pthread_t th;
    pthread_mutex_t mu; /* stop, fw */
    pthread_cond_t cv;
    bool stop;
    follow *fw[MAX_FOLLOW];
    size_t nfw;
    fl_apiserver_list prev; /* the last tick's pods and their summaries */
    sim_podinfo *prev_pi;   /* (controller thread only) */
};

/* --------------------------------------------------------------- helpers */

static void now_str(char out[32])
{
    fl_time_format(fl_now_ms() / 1000, out);
}

static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";

static void rand_suffix(char *out, size_t n)
{
    unsigned char r[16];
    n = n > sizeof(r) ? sizeof(r) : n;
    fl_random_bytes(r, n);
    for (size_t i = 0; i < n; i++)
        out[i] = alnum[r[i] % (sizeof(alnum) - 1)];
    out[n] = 0;
}

static int64_t int_at(const json_t *o, const char *path, int64_t dflt)
{
    json_t *v = fl_obj_get(o, path);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static bool is_deleting(const json_t *o)
{
    return fl_obj_get(o, "metadata.deletionTimestamp") != NULL;
}

/* The controller ownerReference's uid, or "". */
static const char *ctrl_uid(const json_t *obj)
{
    size_t i;
    json_t *ref;
    json_array_foreach(fl_obj_get(obj, "metadata.ownerReferences"), i, ref)
        if (json_is_true(json_object_get(ref, "controller")))
            return fl_obj_str_or(ref, "uid", "");
    return "";
}

static const char *ctrl_kind(const json_t *obj)
{
    size_t i;
    json_t *ref;
    json_array_foreach(fl_obj_get(obj, "metadata.ownerReferences"), i, ref)
        if (json_is_true(json_object_get(ref, "controller")))
            return fl_obj_str_or(ref, "kind", "");
    return "";
}

static bool cond_true(const json_t *obj, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(fl_obj_get(obj, "status.conditions"), i, c)
        if (!strcmp(fl_obj_str_or(c, "type", ""), type))
            return !strcmp(fl_obj_str_or(c, "status", ""), "True");
    return false;
}

static bool pod_active(const json_t *pod)
{
    const char *ph = fl_obj_str_or(pod, "status.phase", "");
    return !is_deleting(pod) && strcmp(ph, "Succeeded") && strcmp(ph, "Failed");
}

static bool pod_ready(const json_t *pod)
{
    return !strcmp(fl_obj_str_or(pod, "status.phase", ""), "Running") && cond_true(pod, "Ready");
}

/* Set status.conditions[type] keeping lastTransitionTime when the status
 * did not change. Steals nothing. True when something changed. */
static bool set_cond(json_t *status, const char *type, const char *st, const char *reason,
                     const char *msg, bool update_time)
{
    char now[32];
    now_str(now);
    json_t *list = json_object_get(status, "conditions");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(status, "conditions", list);
    }
    json_t *c = NULL, *v;
    size_t i, ci = 0;
    json_array_foreach(list, i, v)
        if (!strcmp(fl_obj_str_or(v, "type", ""), type)) {
            c = v;
            ci = i;
        }
    if (c && !strcmp(fl_obj_str_or(c, "status", ""), st) &&
        !strcmp(fl_obj_str_or(c, "reason", ""), reason) &&
        !strcmp(fl_obj_str_or(c, "message", ""), msg))
        return false;
    const char *ltt = c && !strcmp(fl_obj_str_or(c, "status", ""), st)
                          ? fl_obj_str_or(c, "lastTransitionTime", now)
                          : now;
    json_t *n =
        update_time
            ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", st, "lastUpdateTime",
                        now, "lastTransitionTime", ltt, "reason", reason, "message", msg)
            : json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", type, "status", st, "lastTransitionTime",
                        ltt, "reason", reason, "message", msg);
    if (c)
        json_array_set_new(list, ci, n);
    else
        json_array_append_new(list, n);
    return true;
}

static void set_int(json_t *o, const char *k, int64_t v, bool omit_zero)
{
    if (omit_zero && v == 0)
        json_object_del(o, k);
    else
        json_object_set_new(o, k, json_integer(v));
}

/* ------------------------------------------------------------ tick state */

/* What the controllers need of each pod of a tick's snapshot
 * (sim_podinfo, sim_int.h). Each pod is parsed once and dropped at once: a
 * 20,000-pod cluster would otherwise hold every pod parsed during the tick
 * (hundreds of MB); and a pod whose version (key, rv) the previous tick
 * saw is not parsed again. The few pods a tick acts on are parsed again
 * where needed. */
typedef sim_podinfo pinfo;

/* A pod index by controller uid (owned_pods' lookup). */
typedef struct uidx {
    const char *uid;
    size_t i;
} uidx;

typedef struct ctx {
    sim_tick t;
    sim_ctrl *k;
    pinfo *pi;    /* one per t.pods.items */
    uidx *by_uid; /* pods with a controller, by (uid, index) */
    size_t nby;
} ctx;

static void pinfo_of(const json_t *pod, pinfo *p)
{
    memset(p, 0, sizeof(*p));
    if (!pod)
        return;
    p->ok = true;
    snprintf(p->ctrl_uid, sizeof(p->ctrl_uid), "%s", ctrl_uid(pod));
    snprintf(p->ctrl_kind, sizeof(p->ctrl_kind), "%s", ctrl_kind(pod));
    p->deleting = is_deleting(pod);
    p->active = pod_active(pod);
    p->ready = pod_ready(pod);
    p->restart_always = !strcmp(fl_obj_str_or(pod, "spec.restartPolicy", "Always"), "Always");
    p->has_refs = json_array_size(fl_obj_get(pod, "metadata.ownerReferences")) > 0;
}

int sim_ctrl_put(sim_tick *t, const fl_apiserver_res *r, const fl_apiserver_obj *o, json_t *obj)
{
    json_t *fin = fl_obj_get(obj, "metadata.finalizers");
    if (is_deleting(obj) && json_array_size(fin) == 0)
        return fl_apiserver_store_delete(t->c->st, r, o->ns, o->name, o->rv, obj, NULL);
    return fl_apiserver_store_update(t->c->st, r, obj, o->rv, NULL);
}

void sim_ctrl_event(sim_tick *t, const json_t *obj, const char *kind, const char *type,
                    const char *reason, const char *msg, const char *component)
{
    char name[320], sfx[20], now[32];
    unsigned char r[8];
    fl_random_bytes(r, sizeof(r));
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(sfx + 2 * i, 3, "%02x", r[i]);
    snprintf(name, sizeof(name), "%s.%s", fl_obj_str_or(obj, "metadata.name", "x"), sfx);
    now_str(now);
    const char *ns = fl_obj_str_or(obj, "metadata.namespace", "default");
    json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:{s:s},s:s,s:s,s:i,s:s,"
        "s:n,s:s,s:s}",
        "kind", "Event", "apiVersion", "v1", "metadata", "name", name, "namespace", ns,
        "involvedObject", "kind", kind, "namespace", ns, "name",
        fl_obj_str_or(obj, "metadata.name", ""), "uid", fl_obj_str_or(obj, "metadata.uid", ""),
        "resourceVersion", fl_obj_str_or(obj, "metadata.resourceVersion", ""), "reason", reason,
        "message", msg, "source", "component", component, "firstTimestamp", now, "lastTimestamp",
        now, "count", 1, "type", type, "eventTime", "reportingComponent", component,
        "reportingInstance", "");
    fl_apiserver_obj *o = NULL;
    fl_err err = FL_ERR_INIT;
    if (ev && t->events_r)
        fl_apiserver_create_object(t->c->api, t->events_r, ev, NULL, false, &o, &err);
    fl_apiserver_obj_unref(o);
    json_decref(ev);
}

static json_t *owner_ref(const json_t *owner, const char *api_version, const char *kind)
{
    return json_pack("[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion", api_version, "kind", kind, "name",
                     fl_obj_str_or(owner, "metadata.name", ""), "uid",
                     fl_obj_str_or(owner, "metadata.uid", ""), "controller", 1,
                     "blockOwnerDeletion", 1);
}

/* The AdmissionReview userInfo of owner_kind's controller (new). */
static json_t *controller_user(const char *owner_kind)
{
    char sa[200], lower[40];
    size_t i = 0;
    for (; owner_kind[i] && i < sizeof(lower) - 1; i++)
        lower[i] = (char)(owner_kind[i] >= 'A' && owner_kind[i] <= 'Z' ? owner_kind[i] + 32
                                                                       : owner_kind[i]);
    lower[i] = 0;
    snprintf(sa, sizeof(sa), "system:serviceaccount:kube-system:%s-controller", lower);
    return json_pack("{s:s,s:s,s:[s,s,s]}", "username", sa, "uid", sa, "groups",
                     "system:serviceaccounts", "system:serviceaccounts:kube-system",
                     "system:authenticated");
}

/* Admission of a controller's pod: webhooks (as the controller's service
 * account), then quota. 0, or the code with err->msg the whole error text
 * as the controller sees it. */
static int admit(ctx *x, const json_t *pod, const char *owner_kind, const char *name, fl_err *err)
{
    json_t *user = controller_user(owner_kind);
    json_t *opts = json_pack("{s:s,s:s}", "kind", "CreateOptions", "apiVersion", "meta.k8s.io/v1");
    json_t *copy = json_deep_copy(pod), *seen = NULL, *deny = NULL;
    fl_apiserver_obj *pre = NULL;
    fl_err e2 = FL_ERR_INIT;
    if (copy &&
        fl_apiserver_create_object(x->t.c->api, x->t.pods_r, copy, MANAGER, true, &pre, &e2) == 0)
        seen = fl_apiserver_obj_parse(pre);
    fl_apiserver_webhook_req w = {user, opts, false, NULL};
    int rc = fl_apiserver_webhook_admit(x->t.c->api, x->t.pods_r, "CREATE", seen ? seen : pod, NULL,
                                        &w, &deny);
    if (rc != 0)
        fl_err_set(err, rc, "%s", fl_obj_str_or(deny, "message", "admission denied"));
    if (rc == 0 && (rc = sim_quota_admit(x->t.c, x->t.pods_r, pod,
                                         fl_obj_str_or(pod, "metadata.namespace", ""), &e2)) != 0)
        fl_err_set(err, rc, "pods \"%s\" is forbidden: %s", name, e2.msg);
    json_decref(user);
    json_decref(opts);
    json_decref(copy);
    json_decref(seen);
    json_decref(deny);
    fl_apiserver_obj_unref(pre);
    return rc;
}

/* Create a pod from tmpl owned by owner. name NULL: generateName-style
 * "<owner>-xxxxx". labels (borrowed, may be NULL) are added. node: bind. */
static int create_pod(ctx *x, const json_t *owner, const char *apiv, const char *kind,
                      const char *name, const json_t *tmpl, const json_t *labels, const char *node,
                      char made[300], fl_err *err)
{
    char gen[280], sfx[8];
    json_t *pod = json_pack("{s:s,s:s,s:{},s:O}", "kind", "Pod", "apiVersion", "v1", "metadata",
                            "spec", fl_obj_get(tmpl, "spec"));
    if (!pod)
        return -ENOMEM;
    json_t *m = json_object_get(pod, "metadata");
    snprintf(gen, sizeof(gen), "%s-", fl_obj_str_or(owner, "metadata.name", ""));
    rand_suffix(sfx, 5);
    if (name)
        snprintf(made, 300, "%s", name);
    else
        snprintf(made, 300, "%s%s", gen, sfx);
    json_object_set_new(m, "name", json_string(made));
    if (!name)
        json_object_set_new(m, "generateName", json_string(gen));
    json_object_set_new(m, "namespace",
                        json_string(fl_obj_str_or(owner, "metadata.namespace", "")));
    json_t *lab = json_deep_copy(fl_obj_get(tmpl, "metadata.labels"));
    if (!json_is_object(lab)) {
        json_decref(lab);
        lab = json_object();
    }
    if (labels)
        json_object_update(lab, (json_t *)labels);
    json_object_set_new(m, "labels", lab);
    json_t *ann = fl_obj_get(tmpl, "metadata.annotations");
    if (json_is_object(ann))
        json_object_set_new(m, "annotations", json_deep_copy(ann));
    json_object_set_new(m, "ownerReferences", owner_ref(owner, apiv, kind));
    if (node)
        json_object_set_new(fl_obj_ensure(pod, "spec"), "nodeName", json_string(node));
    int rc = admit(x, pod, kind, made, err);
    fl_apiserver_obj *o = NULL;
    if (rc == 0)
        rc = fl_apiserver_create_object(x->t.c->api, x->t.pods_r, pod, MANAGER, false, &o, err);
    fl_apiserver_obj_unref(o);
    json_decref(pod);
    return rc;
}

static void delete_pod(ctx *x, size_t i)
{
    const fl_apiserver_obj *o = x->t.pods.items[i];
    fl_apiserver_store_delete(x->t.c->st, x->t.pods_r, o->ns, o->name, 0, NULL, NULL);
}

/* A workload controller's scale-down delete of pod i: validating webhooks
 * see a DELETE from the controller's service account first. 0, or the code
 * with err->msg the text the controller reports (FailedDelete). */
static int controller_delete_pod(ctx *x, size_t i, const char *owner_kind, fl_err *err)
{
    json_t *user = controller_user(owner_kind), *deny = NULL;
    json_t *opts = json_pack("{s:s,s:s,s:s}", "kind", "DeleteOptions", "apiVersion",
                             "meta.k8s.io/v1", "propagationPolicy", "Background");
    fl_apiserver_webhook_req w = {user, opts, false, NULL};
    json_t *pod = fl_apiserver_obj_parse(x->t.pods.items[i]);
    int rc =
        pod ? fl_apiserver_webhook_admit(x->t.c->api, x->t.pods_r, "DELETE", NULL, pod, &w, &deny)
            : 0;
    json_decref(pod);
    if (rc != 0)
        fl_err_set(err, rc, "%s", fl_obj_str_or(deny, "message", "admission denied"));
    else
        delete_pod(x, i);
    json_decref(user);
    json_decref(opts);
    json_decref(deny);
    return rc;
}

bool sim_ctrl_churn_pod(const fl_apiserver_obj *o)
{
    return strstr(o->name, "-churn-") != NULL;
}

/* Indices of active pods in ns controlled by uid (caller frees). Churn
 * pods are not counted: the RS would delete one for each churn create and
 * replace each churn delete, and the generated fleet would drift. */
static size_t owned_pods(ctx *x, const char *ns, const char *uid, size_t **out)
{
    size_t lo = 0, hi = x->nby, n = 0;
    while (lo < hi) { /* first entry with uid >= uid */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(x->by_uid[mid].uid, uid) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < x->nby && !strcmp(x->by_uid[end].uid, uid))
        end++;
    size_t *idx = calloc(end - lo + 1, sizeof(*idx));
    for (size_t k = lo; idx && k < end; k++) {
        size_t i = x->by_uid[k].i;
        if (!strcmp(x->t.pods.items[i]->ns, ns) && x->pi[i].active &&
            !sim_ctrl_churn_pod(x->t.pods.items[i]))
            idx[n++] = i;
    }
    *out = idx;
    return idx ? n : 0;
}

static int cmp_uidx(const void *a, const void *b)
{
    const uidx *p = a, *q = b;
    int c = strcmp(p->uid, q->uid);
    return c ? c : p->i < q->i ? -1 : p->i > q->i;
}

/* Index the snapshot's pods by controller uid. 0 or -ENOMEM. */
static int index_owned(ctx *x)
{
    x->by_uid = calloc(x->t.pods.n + 1, sizeof(*x->by_uid));
    if (!x->by_uid)
        return -ENOMEM;
    for (size_t i = 0; i < x->t.pods.n; i++)
        if (x->pi[i].ok && x->pi[i].ctrl_uid[0])
            x->by_uid[x->nby++] = (uidx){x->pi[i].ctrl_uid, i};
    qsort(x->by_uid, x->nby, sizeof(*x->by_uid), cmp_uidx);
    return 0;
}

static void put_status(ctx *x, const fl_apiserver_res *r, const fl_apiserver_obj *o, json_t *obj,
                       json_t *status)
{
    if (!json_equal(json_object_get(obj, "status"), status)) {
        json_object_set(obj, "status", status);
        sim_ctrl_put(&x->t, r, o, obj);
    }
}

/* Rank for deletion on scale-down: unscheduled, then not ready, then the rest. */
static int del_rank(const ctx *x, size_t i)
{
    return !x->t.pods.items[i]->node[0] ? 0 : !x->pi[i].ready ? 1 : 2;
}

/* ------------------------------------------------------------ ReplicaSet */

static void sync_rs(ctx *x, const fl_apiserver_res *r, const fl_apiserver_obj *o)
{
    json_t *rs = fl_apiserver_obj_parse(o), *status = NULL;
    size_t *idx = NULL;
    if (!rs || is_deleting(rs))
        goto out;
    int64_t want = int_at(rs, "spec.replicas", 1);
    size_t n = owned_pods(x, o->ns, fl_obj_str_or(rs, "metadata.uid", ""), &idx);
    int64_t ready = 0;
    for (size_t i = 0; i < n; i++)
        ready += x->pi[idx[i]].ready;
    bool fail = false;
    const char *fail_reason = "FailedCreate";
    char made[300], msg[800];
    for (int64_t i = (int64_t)n; i < want && i < (int64_t)n + BURST; i++) {
        fl_err cerr = FL_ERR_INIT;
        int rc = create_pod(x, rs, "apps/v1", "ReplicaSet", NULL, fl_obj_get(rs, "spec.template"),
                            NULL, NULL, made, &cerr);
        if (rc != 0) {
            snprintf(msg, sizeof(msg), "%s", cerr.msg[0] ? cerr.msg : fl_strerror(rc));
            fail = true;
            break;
        }
        snprintf(msg, sizeof(msg), "Created pod: %s", made);
        sim_ctrl_event(&x->t, rs, "ReplicaSet", "Normal", "SuccessfulCreate", msg,
                       "replicaset-controller");
    }
    for (int rank = 0; rank < 3 && (int64_t)n > want; rank++)
        for (size_t i = n; i-- > 0 && (int64_t)n > want;)
            if (idx[i] != SIZE_MAX && del_rank(x, idx[i]) == rank) {
                fl_err derr = FL_ERR_INIT;
                if (controller_delete_pod(x, idx[i], "ReplicaSet", &derr) != 0) {
                    snprintf(msg, sizeof(msg), "%s", derr.msg);
                    fail = true;
                    fail_reason = "FailedDelete";
                    idx[i] = SIZE_MAX; /* stays, and still counts */
                    continue;
                }
                snprintf(msg, sizeof(msg), "Deleted pod: %s", x->t.pods.items[idx[i]]->name);
                sim_ctrl_event(&x->t, rs, "ReplicaSet", "Normal", "SuccessfulDelete", msg,
                               "replicaset-controller");
                ready -= x->pi[idx[i]].ready;
                idx[i] = SIZE_MAX;
                n--;
            }
    status = json_deep_copy(json_object_get(rs, "status"));
    if (!json_is_object(status)) {
        json_decref(status);
        status = json_object();
    }
    set_int(status, "replicas", (int64_t)n, false);
    set_int(status, "fullyLabeledReplicas", (int64_t)n, true);
    set_int(status, "readyReplicas", ready, true);
    set_int(status, "availableReplicas", ready, true);
    set_int(status, "observedGeneration", int_at(rs, "metadata.generation", 1), false);
    if (fail && !cond_true(rs, "ReplicaFailure") &&
        set_cond(status, "ReplicaFailure", "True", fail_reason, msg, false)) {
        char ev[900];
        snprintf(ev, sizeof(ev), "Error %s: %s",
                 strcmp(fail_reason, "FailedCreate") ? "deleting" : "creating", msg);
        sim_ctrl_event(&x->t, rs, "ReplicaSet", "Warning", fail_reason, ev,
                       "replicaset-controller");
    } else if (!fail)
        if (json_object_get(status, "conditions")) {
            json_object_del(status, "conditions");
        }
    put_status(x, r, o, rs, status);
out:
    free(idx);
    json_decref(status);
    json_decref(rs);
}

/* ------------------------------------------------------------ Deployment */

/* kube's ComputeHash + SafeEncodeString: fnv32a of the template. */
static void template_hash(const json_t *tmpl, char out[16])
{
    char *s = json_dumps(tmpl, JSON_COMPACT | JSON_SORT_KEYS), dec[16];
    uint32_t h = 2166136261u;
    for (const char *p = s ? s : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    free(s);
    snprintf(dec, sizeof(dec), "%u", h);
    size_t i = 0;
    for (; dec[i]; i++)
        out[i] = alnum[(unsigned char)dec[i] % (sizeof(alnum) - 1)];
    out[i] = 0;
}

/* deploymentutil.EqualIgnoreHash: the RS's template is the Deployment's
 * but for the pod-template-hash label. */
static bool same_template(const json_t *rs, const json_t *dep)
{
    json_t *a = json_deep_copy(fl_obj_get(rs, "spec.template"));
    json_t *labels = fl_obj_get(a, "metadata.labels");
    json_object_del(labels, "pod-template-hash");
    if (labels && json_object_size(labels) == 0)
        json_object_del(json_object_get(a, "metadata"), "labels");
    bool eq = a && json_equal(a, fl_obj_get(dep, "spec.template"));
    json_decref(a);
    return eq;
}

typedef struct rsv {
    const fl_apiserver_obj *o;
    json_t *j;
} rsv;

static int create_rs(ctx *x, const fl_apiserver_res *rr, const json_t *dep, const char *name,
                     const char *hash, int64_t replicas, int64_t revision)
{
    char rev[24];
    snprintf(rev, sizeof(rev), "%lld", (long long)revision);
    json_t *tmpl = json_deep_copy(fl_obj_get(dep, "spec.template"));
    json_t *sel = json_deep_copy(fl_obj_get(dep, "spec.selector"));
    if (!json_is_object(sel)) {
        json_decref(sel);
        sel = json_object();
    }
    json_object_set_new(fl_obj_ensure(tmpl, "metadata.labels"), "pod-template-hash",
                        json_string(hash));
    json_object_set_new(fl_obj_ensure(sel, "matchLabels"), "pod-template-hash", json_string(hash));
    json_t *rs = json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:O,s:{s:s,s:s,s:s},s:o},s:{s:I,s:o,s:o}}", "kind", "ReplicaSet",
        "apiVersion", "apps/v1", "metadata", "name", name, "namespace",
        fl_obj_str_or(dep, "metadata.namespace", ""), "labels", fl_obj_get(tmpl, "metadata.labels"),
        "annotations", "deployment.kubernetes.io/desired-replicas", "0",
        "deployment.kubernetes.io/max-replicas", "0", "deployment.kubernetes.io/revision", rev,
        "ownerReferences", owner_ref(dep, "apps/v1", "Deployment"), "spec", "replicas",
        (json_int_t)replicas, "selector", sel, "template", tmpl);
    if (!rs)
        return -ENOMEM;
    char d[24];
    snprintf(d, sizeof(d), "%lld", (long long)int_at(dep, "spec.replicas", 1));
    fl_obj_set_annotation(rs, "deployment.kubernetes.io/desired-replicas", d);
    fl_obj_set_annotation(rs, "deployment.kubernetes.io/max-replicas", d);
    fl_apiserver_obj *o = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = fl_apiserver_create_object(x->t.c->api, rr, rs, MANAGER, false, &o, &err);
    fl_apiserver_obj_unref(o);
    json_decref(rs);
    return rc;
}

static void scale_rs(ctx *x, const fl_apiserver_res *rr, const json_t *dep, rsv *v, int64_t to)
{
    if (int_at(v->j, "spec.replicas", 1) == to)
        return;
    char msg[400];
    snprintf(msg, sizeof(msg), "Scaled %s replica set %s to %lld",
             to > int_at(v->j, "spec.replicas", 1) ? "up" : "down", v->o->name, (long long)to);
    json_object_set_new(fl_obj_ensure(v->j, "spec"), "replicas", json_integer(to));
    if (sim_ctrl_put(&x->t, rr, v->o, v->j) == 0)
        sim_ctrl_event(&x->t, dep, "Deployment", "Normal", "ScalingReplicaSet", msg,
                       "deployment-controller");
}

static void dep_status(ctx *x, const fl_apiserver_res *r, const fl_apiserver_obj *o, json_t *dep,
                       rsv *rs, size_t n, const rsv *nw, int64_t want)
{
    int64_t repl = 0, spec_total = 0, ready = 0, avail = 0, upd = 0;
    for (size_t i = 0; i < n; i++) {
        repl += int_at(rs[i].j, "status.replicas", 0);
        spec_total += int_at(rs[i].j, "spec.replicas", 0);
        ready += int_at(rs[i].j, "status.readyReplicas", 0);
        avail += int_at(rs[i].j, "status.availableReplicas", 0);
    }
    if (nw)
        upd = int_at(nw->j, "status.replicas", 0);
    json_t *st = json_deep_copy(json_object_get(dep, "status"));
    if (!json_is_object(st)) {
        json_decref(st);
        st = json_object();
    }
    set_int(st, "observedGeneration", int_at(dep, "metadata.generation", 1), false);
    set_int(st, "replicas", repl, true);
    set_int(st, "updatedReplicas", upd, true);
    set_int(st, "readyReplicas", ready, true);
    set_int(st, "availableReplicas", avail, true);
    set_int(st, "unavailableReplicas", spec_total - avail > 0 ? spec_total - avail : 0, true);
    bool ok = avail >= want;
    set_cond(st, "Available", ok ? "True" : "False",
             ok ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
             ok ? "Deployment has minimum availability."
                : "Deployment does not have minimum availability.",
             true);
    char msg[400];
    bool done = nw && upd == want && avail >= want && repl == want;
    snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" %s.", nw ? nw->o->name : "",
             done ? "has successfully progressed" : "is progressing");
    set_cond(st, "Progressing", "True", done ? "NewReplicaSetAvailable" : "ReplicaSetUpdated", msg,
             true);
    put_status(x, r, o, dep, st);
    json_decref(st);
}

static void sync_dep(ctx *x, const fl_apiserver_res *r, const fl_apiserver_obj *o,
                     const fl_apiserver_res *rr, const fl_apiserver_list *all_rs, json_t **rsj)
{
    json_t *dep = fl_apiserver_obj_parse(o);
    rsv *mine = calloc(all_rs->n + 1, sizeof(*mine));
    size_t n = 0;
    if (!dep || !mine || is_deleting(dep))
        goto out;
    const char *uid = fl_obj_str_or(dep, "metadata.uid", "");
    char hash[16], name[300];
    template_hash(fl_obj_get(dep, "spec.template"), hash);
    snprintf(name, sizeof(name), "%s-%s", o->name, hash);
    rsv *nw = NULL;
    int64_t want = int_at(dep, "spec.replicas", 1), maxrev = 0;
    for (size_t i = 0; i < all_rs->n; i++) {
        if (!rsj[i] || strcmp(all_rs->items[i]->ns, o->ns) || strcmp(ctrl_uid(rsj[i]), uid))
            continue;
        mine[n] = (rsv){all_rs->items[i], rsj[i]};
        int64_t rev = 0;
        json_t *a = json_object_get(fl_obj_get(rsj[i], "metadata.annotations"),
                                    "deployment.kubernetes.io/revision");
        if (json_is_string(a))
            fl_parse_i64(json_string_value(a), strlen(json_string_value(a)), &rev);
        maxrev = rev > maxrev ? rev : maxrev;
        if (!nw && (!strcmp(all_rs->items[i]->name, name) || same_template(rsj[i], dep)))
            nw = &mine[n];
        n++;
    }
    if (!nw) {
        int rc = create_rs(x, rr, dep, name, hash, want, maxrev + 1);
        char msg[400];
        snprintf(msg, sizeof(msg), "Scaled up replica set %s to %lld", name, (long long)want);
        if (rc == 0)
            sim_ctrl_event(&x->t, dep, "Deployment", "Normal", "ScalingReplicaSet", msg,
                           "deployment-controller");
        goto out; /* status once the next tick sees the RS */
    }
    scale_rs(x, rr, dep, nw, want);
    bool new_ready = int_at(nw->j, "status.availableReplicas", 0) >= want;
    for (size_t i = 0; i < n; i++)
        if (&mine[i] != nw && new_ready)
            scale_rs(x, rr, dep, &mine[i], 0);
    dep_status(x, r, o, dep, mine, n, nw, want);
out:
    free(mine);
    json_decref(dep);
}

/* ----------------------------------------------------------- StatefulSet */

static void sync_sts(ctx *x, const fl_apiserver_res *r, const fl_apiserver_obj *o)
{
    json_t *ss = fl_apiserver_obj_parse(o), *labels = NULL, *status = NULL;
    size_t *idx = NULL;
    if (!ss || is_deleting(ss))
        goto out;
    int64_t want = int_at(ss, "spec.replicas", 1), ready = 0;
    size_t n = owned_pods(x, o->ns, fl_obj_str_or(ss, "metadata.uid", ""), &idx);
    char hash[16], rev[300], pname[300], made[300];
    template_hash(fl_obj_get(ss, "spec.template"), hash);
    snprintf(rev, sizeof(rev), "%s-%s", o->name, hash);
    bool all_ready = true;
    int64_t top = -1;
    size_t top_i = 0;
    for (size_t i = 0; i < n; i++) {
        const char *pn = x->t.pods.items[idx[i]]->name, *dash = strrchr(pn, '-');
        int64_t ord = -1;
        if (dash)
            fl_parse_i64(dash + 1, strlen(dash + 1), &ord);
        if (ord > top) {
            top = ord;
            top_i = idx[i];
        }
        bool rd = x->pi[idx[i]].ready;
        ready += rd;
        all_ready &= rd;
    }
    if ((int64_t)n < want && all_ready && top + 1 == (int64_t)n) {
        snprintf(pname, sizeof(pname), "%s-%zu", o->name, n);
        labels = json_pack("{s:s,s:s}", "controller-revision-hash", rev,
                           "statefulset.kubernetes.io/pod-name", pname);
        json_t *tmpl = json_deep_copy(fl_obj_get(ss, "spec.template"));
        json_t *spec = fl_obj_ensure(tmpl, "spec");
        json_object_set_new(spec, "hostname", json_string(pname));
        if (fl_obj_str(ss, "spec.serviceName"))
            json_object_set_new(spec, "subdomain", json_string(fl_obj_str(ss, "spec.serviceName")));
        char msg[400];
        fl_err cerr = FL_ERR_INIT;
        if (create_pod(x, ss, "apps/v1", "StatefulSet", pname, tmpl, labels, NULL, made, &cerr) ==
            0) {
            snprintf(msg, sizeof(msg), "create Pod %s in StatefulSet %s successful", pname,
                     o->name);
            sim_ctrl_event(&x->t, ss, "StatefulSet", "Normal", "SuccessfulCreate", msg,
                           "statefulset-controller");
        }
        json_decref(tmpl);
    } else if ((int64_t)n > want && top >= 0) {
        fl_err derr = FL_ERR_INIT;
        /* denied: the pod stays; no event, as one per tick would keep the
         * controller ticking (kube's recorder aggregates them instead) */
        if (controller_delete_pod(x, top_i, "StatefulSet", &derr) != 0)
            fl_log(FL_LOG_DEBUG, "sim", "%s: delete Pod %s in StatefulSet %s failed error: %s",
                   x->t.c->name, x->t.pods.items[top_i]->name, o->name, derr.msg);
    }
    status = json_pack("{s:I,s:I,s:I,s:I,s:s,s:s,s:i,s:I}", "observedGeneration",
                       (json_int_t)int_at(ss, "metadata.generation", 1), "replicas", (json_int_t)n,
                       "currentReplicas", (json_int_t)n, "updatedReplicas", (json_int_t)n,
                       "currentRevision", rev, "updateRevision", rev, "collisionCount", 0,
                       "availableReplicas", (json_int_t)ready);
    set_int(status, "readyReplicas", ready, true);
    put_status(x, r, o, ss, status);
out:
    free(idx);
    json_decref(labels);
    json_decref(status);
    json_decref(ss);
}

/* ------------------------------------------------------------- DaemonSet */

static void sync_ds(ctx *x, const fl_apiserver_res *r, const fl_apiserver_obj *o)
{
    json_t *ds = fl_apiserver_obj_parse(o), *status = NULL, *labels = NULL;
    size_t *idx = NULL;
    if (!ds || is_deleting(ds))
        goto out;
    size_t n = owned_pods(x, o->ns, fl_obj_str_or(ds, "metadata.uid", ""), &idx);
    char hash[16], made[300], gen[24];
    template_hash(fl_obj_get(ds, "spec.template"), hash);
    snprintf(gen, sizeof(gen), "%lld", (long long)int_at(ds, "metadata.generation", 1));
    labels =
        json_pack("{s:s,s:s}", "controller-revision-hash", hash, "pod-template-generation", gen);
    json_t *pspec = fl_obj_get(ds, "spec.template.spec");
    int64_t desired = 0, sched = 0, ready = 0, mis = 0;
    for (size_t j = 0; j < x->t.nodes.n; j++) {
        json_t *node = fl_apiserver_obj_parse(x->t.nodes.items[j]);
        bool fits = node && sim_sched_fits_node(pspec, node);
        json_decref(node);
        const char *nn = x->t.nodes.items[j]->name;
        bool have = false;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(x->t.pods.items[idx[i]]->node, nn)) {
                have = true;
                ready += x->pi[idx[i]].ready;
            }
        desired += fits;
        sched += have && fits;
        mis += have && !fits;
        fl_err cerr = FL_ERR_INIT;
        if (fits && !have)
            create_pod(x, ds, "apps/v1", "DaemonSet", NULL, fl_obj_get(ds, "spec.template"), labels,
                       nn, made, &cerr);
    }
    status = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "currentNumberScheduled", (json_int_t)sched,
                       "desiredNumberScheduled", (json_int_t)desired, "numberMisscheduled",
                       (json_int_t)mis, "numberReady", (json_int_t)ready, "observedGeneration",
                       (json_int_t)int_at(ds, "metadata.generation", 1), "updatedNumberScheduled",
                       (json_int_t)sched);
    set_int(status, "numberAvailable", ready, true);
    set_int(status, "numberUnavailable", desired - ready > 0 ? desired - ready : 0, true);
    put_status(x, r, o, ds, status);
out:
    free(idx);
    json_decref(labels);
    json_decref(status);
    json_decref(ds);
}

/* ------------------------------------------------------------------- Job */

static void sync_job(ctx *x, const fl_apiserver_res *r, const fl_apiserver_obj *o)
{
    json_t *job = fl_apiserver_obj_parse(o), *status = NULL, *labels = NULL;
    if (!job || is_deleting(job))
        goto out;
    const char *uid = fl_obj_str_or(job, "metadata.uid", "");
    int64_t compl = int_at(job, "spec.completions", 1), par = int_at(job, "spec.parallelism", 1);
    int64_t active = 0, ok = 0, failed = 0, ready = 0;
    for (size_t i = 0; i < x->t.pods.n; i++) {
        if (!x->pi[i].ok || strcmp(x->t.pods.items[i]->ns, o->ns) || strcmp(x->pi[i].ctrl_uid, uid))
            continue;
        const char *ph = x->t.pods.items[i]->phase;
        ok += !strcmp(ph, "Succeeded");
        failed += !strcmp(ph, "Failed");
        active += x->pi[i].active;
        ready += x->pi[i].ready;
    }
    char now[32], made[300];
    now_str(now);
    status = json_deep_copy(json_object_get(job, "status"));
    if (!json_is_object(status)) {
        json_decref(status);
        status = json_object();
    }
    bool complete = ok >= compl ;
    labels = json_pack("{s:s,s:s}", "controller-uid", uid, "job-name", o->name);
    int64_t need = complete ? 0 : (par < compl -ok ? par : compl -ok) - active;
    for (int64_t i = 0; i < need && i < BURST; i++) {
        fl_err cerr = FL_ERR_INIT;
        if (create_pod(x, job, "batch/v1", "Job", NULL, fl_obj_get(job, "spec.template"), labels,
                       NULL, made, &cerr) != 0)
            break;
        active++;
    }
    if (!json_object_get(status, "startTime"))
        json_object_set_new(status, "startTime", json_string(now));
    set_int(status, "active", active, true);
    set_int(status, "succeeded", ok, true);
    set_int(status, "failed", failed, true);
    set_int(status, "ready", ready, false);
    json_object_set_new(status, "uncountedTerminatedPods", json_object());
    if (complete && !json_object_get(status, "completionTime")) {
        json_object_set_new(status, "completionTime", json_string(now));
        json_object_set_new(status, "conditions",
                            json_pack("[{s:s,s:s,s:s,s:s}]", "type", "Complete", "status", "True",
                                      "lastProbeTime", now, "lastTransitionTime", now));
    }
    put_status(x, r, o, job, status);
out:
    json_decref(labels);
    json_decref(status);
    json_decref(job);
}

/* --------------------------------------------------------------- kubelet */

static json_t *container_statuses(const json_t *pod, bool running)
{
    json_t *out = json_array();
    size_t i;
    json_t *ct;
    char now[32];
    now_str(now);
    json_array_foreach(fl_obj_get(pod, "spec.containers"), i, ct) {
        char cid[80], sfx[40];
        rand_suffix(sfx, 16);
        snprintf(cid, sizeof(cid), "containerd://%s", sfx);
        const char *img = fl_obj_str_or(ct, "image", "");
        json_t *state = running ? json_pack("{s:{s:s}}", "running", "startedAt", now)
                                : json_pack("{s:{s:i,s:s,s:s,s:s,s:s}}", "terminated", "exitCode",
                                            0, "reason", "Completed", "startedAt", now,
                                            "finishedAt", now, "containerID", cid);
        json_array_append_new(out,
                              json_pack("{s:s,s:o,s:{},s:b,s:i,s:s,s:s,s:s,s:b}", "name",
                                        fl_obj_str_or(ct, "name", ""), "state", state, "lastState",
                                        "ready", running, "restartCount", 0, "image", img,
                                        "imageID", img, "containerID", cid, "started", running));
    }
    return out;
}

/* The InternalIP of node name, from the tick's snapshot. */
static void node_ip(ctx *x, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s", name);
    for (size_t i = 0; i < x->t.nodes.n; i++) {
        if (strcmp(x->t.nodes.items[i]->name, name))
            continue;
        json_t *node = fl_apiserver_obj_parse(x->t.nodes.items[i]), *a;
        size_t j;
        json_array_foreach(fl_obj_get(node, "status.addresses"), j, a)
            if (!strcmp(fl_obj_str_or(a, "type", ""), "InternalIP")) {
                snprintf(out, n, "%s", fl_obj_str_or(a, "address", name));
                break;
            }
        json_decref(node);
        return;
    }
}

static void pod_to_running(ctx *x, size_t i, json_t *pod)
{
    char now[32], ip[32];
    now_str(now);
    const fl_apiserver_obj *o = x->t.pods.items[i];
    /* the pod's resourceVersion is the cluster's alone: an IP no other pod
     * holds (100.96.0.0/11; generated pods use 100.64.0.0/11, fleet.c) */
    uint64_t slot = o->rv % (250ull * 256 * 32);
    snprintf(ip, sizeof(ip), "100.%u.%u.%u", 96 + (unsigned)(slot / 250 / 256),
             (unsigned)(slot / 250 % 256), 2 + (unsigned)(slot % 250));
    json_t *st = json_object_get(pod, "status");
    json_object_set_new(st, "phase", json_string("Running"));
    json_t *conds = json_pack(
        "[{s:s,s:s,s:n,s:s},{s:s,s:s,s:n,s:s},{s:s,s:s,s:n,s:s},"
        "{s:s,s:s,s:n,s:s}]",
        "type", "Initialized", "status", "True", "lastProbeTime", "lastTransitionTime", now, "type",
        "Ready", "status", "True", "lastProbeTime", "lastTransitionTime", now, "type",
        "ContainersReady", "status", "True", "lastProbeTime", "lastTransitionTime", now, "type",
        "PodScheduled", "status", "True", "lastProbeTime", "lastTransitionTime", now);
    json_object_set_new(st, "conditions", conds);
    char host[64];
    node_ip(x, o->node, host, sizeof(host));
    json_object_set_new(st, "hostIP", json_string(host));
    json_object_set_new(st, "podIP", json_string(ip));
    json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", ip));
    json_object_set_new(st, "startTime", json_string(now));
    json_object_set_new(st, "containerStatuses", container_statuses(pod, true));
    sim_ctrl_put(&x->t, x->t.pods_r, o, pod);
}

static void pod_to_succeeded(ctx *x, size_t i, json_t *pod)
{
    json_t *st = json_object_get(pod, "status");
    json_object_set_new(st, "phase", json_string("Succeeded"));
    size_t j;
    json_t *c;
    json_array_foreach(json_object_get(st, "conditions"), j, c) {
        const char *t = fl_obj_str_or(c, "type", "");
        if (!strcmp(t, "Ready") || !strcmp(t, "ContainersReady")) {
            json_object_set_new(c, "status", json_string("False"));
            json_object_set_new(c, "reason", json_string("PodCompleted"));
        }
    }
    json_object_set_new(st, "containerStatuses", container_statuses(pod, false));
    sim_ctrl_put(&x->t, x->t.pods_r, x->t.pods.items[i], pod);
}

static void kubelet(ctx *x)
{
    for (size_t i = 0; i < x->t.pods.n; i++) {
        const pinfo *p = &x->pi[i];
        const fl_apiserver_obj *o = x->t.pods.items[i];
        if (!p->ok || !o->node[0])
            continue;
        bool to_run = !p->deleting && !strcmp(o->phase, "Pending");
        bool to_done = !p->deleting && !strcmp(o->phase, "Running") &&
                       !strcmp(p->ctrl_kind, "Job") && !p->restart_always;
        json_t *pod = to_run || to_done ? fl_apiserver_obj_parse(o) : NULL;
        if (p->deleting)
            delete_pod(x, i);
        else if (to_run && pod)
            pod_to_running(x, i, pod);
        else if (to_done && pod)
            pod_to_succeeded(x, i, pod);
        json_decref(pod);
    }
}

/* ------------------------------------------------------------------ tick */

typedef void (*sync_fn)(ctx *x, const fl_apiserver_res *r, const fl_apiserver_obj *o);

static void each(ctx *x, const char *group, const char *resource, sync_fn fn)
{
    const fl_apiserver_res *r = fl_apiserver_store_find(x->t.c->st, group, "v1", resource);
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    if (!r || fl_apiserver_store_list(x->t.c->st, r, &q, &l) != 0)
        return;
    for (size_t i = 0; i < l.n; i++)
        fn(x, r, l.items[i]);
    fl_apiserver_list_done(&l);
}

static void deployments(ctx *x)
{
    fl_apiserver_store *st = x->t.c->st;
    const fl_apiserver_res *dr = fl_apiserver_store_find(st, "apps", "v1", "deployments");
    const fl_apiserver_res *rr = fl_apiserver_store_find(st, "apps", "v1", "replicasets");
    fl_apiserver_list d = {0}, rs = {0};
    fl_apiserver_list_req q = {0};
    json_t **rsj = NULL;
    if (!dr || !rr || fl_apiserver_store_list(st, dr, &q, &d) != 0)
        return;
    if (d.n == 0 || fl_apiserver_store_list(st, rr, &q, &rs) != 0)
        goto out;
    rsj = calloc(rs.n + 1, sizeof(*rsj));
    for (size_t i = 0; rsj && i < rs.n; i++)
        rsj[i] = fl_apiserver_obj_parse(rs.items[i]);
    for (size_t i = 0; rsj && i < d.n; i++)
        sync_dep(x, dr, d.items[i], rr, &rs, rsj);
    for (size_t i = 0; rsj && i < rs.n; i++)
        json_decref(rsj[i]);
out:
    free(rsj);
    fl_apiserver_list_done(&rs);
    fl_apiserver_list_done(&d);
}

static int snapshot(ctx *x)
{
    fl_apiserver_store *st = x->t.c->st;
    fl_apiserver_list_req q = {0};
    x->t.pods_r = fl_apiserver_store_find(st, NULL, "v1", "pods");
    x->t.nodes_r = fl_apiserver_store_find(st, NULL, "v1", "nodes");
    x->t.events_r = fl_apiserver_store_find(st, NULL, "v1", "events");
    if (!x->t.pods_r || !x->t.nodes_r)
        return FL_ENOTFOUND;
    if (fl_apiserver_store_list(st, x->t.pods_r, &q, &x->t.pods) != 0 ||
        fl_apiserver_store_list(st, x->t.nodes_r, &q, &x->t.nodes) != 0)
        return -ENOMEM;
    x->pi = calloc(x->t.pods.n + 1, sizeof(*x->pi));
    if (!x->pi)
        return -ENOMEM;
    const fl_apiserver_list *pv = &x->k->prev;
    for (size_t i = 0, j = 0; i < x->t.pods.n; i++) {
        const fl_apiserver_obj *o = x->t.pods.items[i];
        while (j < pv->n && strcmp(pv->items[j]->key, o->key) < 0)
            j++;
        if (j < pv->n && pv->items[j]->rv == o->rv && !strcmp(pv->items[j]->key, o->key)) {
            x->pi[i] = x->k->prev_pi[j]; /* same version as last tick */
            continue;
        }
        json_t *pod = fl_apiserver_obj_parse(o);
        pinfo_of(pod, &x->pi[i]);
        json_decref(pod);
    }
    x->t.pi = x->pi;
    return index_owned(x);
}

static void tick(sim_ctrl *k)
{
    ctx x = {.t = {.c = k->c}, .k = k};
    if (snapshot(&x) == 0) {
        kubelet(&x);
        sim_gc_run(&x.t);
        deployments(&x);
        each(&x, "apps", "replicasets", sync_rs);
        each(&x, "apps", "statefulsets", sync_sts);
        each(&x, "apps", "daemonsets", sync_ds);
        each(&x, "batch", "jobs", sync_job);
        sim_sched_run(&x.t);
        sim_quota_run(&x.t);
    }
    free(x.by_uid);
    fl_apiserver_list_done(&k->prev); /* keep this tick's summaries for the next */
    free(k->prev_pi);
    k->prev = x.t.pods;
    k->prev_pi = x.pi;
    if (!x.pi) /* no summaries: nothing to reuse */
        fl_apiserver_list_done(&k->prev);
    fl_apiserver_list_done(&x.t.nodes);
}

/* ------------------------------------------------------------- pods/log */

/* Line n of a container's log, logged at t_ms: the app's own timestamp
 * first; with ts, the kubelet's RFC3339Nano time before it (kubectl logs
 * --timestamps). */
static void log_line(const char *ns, const char *pod, const char *ct, int64_t n, int64_t t_ms,
                     bool ts, char *out, size_t cap)
{
    static const char *const paths[] = {"/", "/healthz", "/api/items", "/metrics", "/login"};
    char t[32], kt[48] = "";
    fl_time_format(t_ms / 1000, t);
    if (ts)
        snprintf(kt, sizeof(kt), "%.19s.%03lld000000Z ", t, (long long)(t_ms % 1000));
    snprintf(out, cap, "%s%s INFO %s: GET %s 200 (%s/%s request %lld)\n", kt, t, ct,
             paths[(size_t)n % FL_ARRAY_LEN(paths)], ns, pod, (long long)n);
}

static void follow_gone(void *ud)
{
    atomic_store(&((follow *)ud)->gone, true);
}

/* Controller thread, under k->mu: feed followed logs, drop finished ones. */
static void follow_tick(sim_ctrl *k)
{
    int64_t now = fl_now_ms();
    for (size_t i = 0; i < k->nfw;) {
        follow *f = k->fw[i];
        char line[1200];
        int rc = 0;
        int64_t at;
        while (!atomic_load(&f->gone) && rc == 0 &&
               now >= (at = f->base_ms + (f->next - LOG_LINES) * 1000)) {
            log_line(f->ns, f->pod, f->ct, f->next, at, f->timestamps, line, sizeof(line));
            f->next++;
            rc = fl_stream_write(f->s, line, strlen(line));
        }
        if (atomic_load(&f->gone) || rc != 0) {
            fl_stream_close(f->s);
            free(f);
            k->fw[i] = k->fw[--k->nfw];
        } else {
            i++;
        }
    }
}

/* Which container: the named one, or the only one. 0 or replies 400. */
static int log_container(fl_request *req, const json_t *pod, const char *name, const char **out)
{
    const char *want = fl_request_query(req, "container");
    json_t *cts = fl_obj_get(pod, "spec.containers"), *ct;
    size_t i;
    char names[1024] = "";
    size_t len = 0;
    json_array_foreach(cts, i, ct) {
        const char *n = fl_obj_str_or(ct, "name", "");
        if ((want && !strcmp(want, n)) || (!want && json_array_size(cts) == 1)) {
            *out = n;
            return 0;
        }
        if (len < sizeof(names))
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? " " : "", n);
    }
    if (want)
        fl_request_reply_status(req, 400, "BadRequest", "container %s is not valid for pod %s",
                                want, name);
    else
        fl_request_reply_status(req, 400, "BadRequest",
                                "a container name must be specified for "
                                "pod %s, choose one of: [%s]",
                                name, names);
    return FL_EPARSE;
}

static void log_follow(sim_ctrl *k, fl_request *req, const fl_apiserver_obj *o, const char *ct,
                       const fl_buf *b, int64_t base_ms, bool ts)
{
    follow *f = calloc(1, sizeof(*f));
    fl_stream *s = NULL;
    pthread_mutex_lock(&k->mu);
    bool room = f && k->nfw < MAX_FOLLOW && !k->stop;
    pthread_mutex_unlock(&k->mu);
    if (!room) {
        free(f);
        fl_request_reply_status(req, 429, "TooManyRequests", "too many log streams");
        return;
    }
    if (fl_request_stream(req, 200, "text/plain", &s) != 0) {
        free(f);
        return;
    }
    f->s = s;
    atomic_init(&f->gone, false);
    fl_strlcpy(f->ns, o->ns, sizeof(f->ns));
    fl_strlcpy(f->pod, o->name, sizeof(f->pod));
    fl_strlcpy(f->ct, ct, sizeof(f->ct));
    f->next = LOG_LINES + 1;
    f->base_ms = base_ms;
    f->timestamps = ts;
    fl_stream_on_gone(s, follow_gone, f);
    fl_stream_write(s, b->data, b->len);
    pthread_mutex_lock(&k->mu);
    if (k->nfw < MAX_FOLLOW && !k->stop) {
        k->fw[k->nfw++] = f;
        f = NULL;
    }
    pthread_mutex_unlock(&k->mu);
    if (f) {
        fl_stream_close(s);
        free(f);
    }
}

/* The container's current start in s (state.running.startedAt, else the
 * pod's startTime, else now) and its restartCount. */
static int64_t container_start(const json_t *pod, const char *ct, int64_t now_s, int64_t *restarts)
{
    json_t *cs;
    size_t i;
    int64_t t = 0;
    *restarts = 0;
    json_array_foreach(fl_obj_get(pod, "status.containerStatuses"), i, cs)
        if (!strcmp(fl_obj_str_or(cs, "name", ""), ct)) {
            *restarts = json_integer_value(json_object_get(cs, "restartCount"));
            const char *s = fl_obj_str(cs, "state.running.startedAt");
            if (s && fl_time_parse(s, &t) == 0)
                return t;
        }
    const char *s = fl_obj_str(pod, "status.startTime");
    return s && fl_time_parse(s, &t) == 0 && t <= now_s ? t : now_s;
}

/* kubelet's log options: sinceSeconds / sinceTime (the earliest time a
 * line may have), tailLines, timestamps, previous. 0 or replies 400. */
typedef struct log_opts {
    int64_t since_s, tail;
    bool ts, previous, follow;
} log_opts;

static int log_opts_parse(fl_request *req, log_opts *o)
{
    const char *ss = fl_request_query(req, "sinceSeconds"),
               *st = fl_request_query(req, "sinceTime");
    const char *tl = fl_request_query(req, "tailLines"), *v;
    int64_t n;
    *o = (log_opts){0, LOG_LINES, false, false, false};
    o->ts = (v = fl_request_query(req, "timestamps")) && !strcmp(v, "true");
    o->previous = (v = fl_request_query(req, "previous")) && !strcmp(v, "true");
    o->follow = (v = fl_request_query(req, "follow")) && !strcmp(v, "true");
    if (ss && st) {
        fl_request_reply_status(req, 400, "BadRequest",
                                "at most one of sinceTime or sinceSeconds "
                                "may be specified");
        return FL_EPARSE;
    }
    if (ss) {
        if (fl_parse_i64(ss, strlen(ss), &n) != 0 || n < 1) {
            fl_request_reply_status(req, 400, "BadRequest",
                                    "sinceSeconds: Invalid value: %s: "
                                    "must be greater than 0",
                                    ss);
            return FL_EPARSE;
        }
        o->since_s = fl_now_ms() / 1000 - n; /* whole seconds, as the kubelet */
    } else if (st && fl_time_parse(st, &o->since_s) != 0) {
        fl_request_reply_status(req, 400, "BadRequest", "sinceTime: Invalid value: \"%s\"", st);
        return FL_EPARSE;
    }
    if (tl && (fl_parse_i64(tl, strlen(tl), &o->tail) != 0 || o->tail < 0))
        o->tail = LOG_LINES;
    if (o->tail > LOG_LINES)
        o->tail = LOG_LINES;
    return 0;
}

/* GET pods/log. The kubelet keeps a container's last LOG_LINES lines,
 * numbered 1..LOG_LINES, the last logged now and the others a second apart
 * (closer for a container started less than LOG_LINES s ago: never before
 * its start); a follow adds line LOG_LINES + k k seconds later. previous:
 * the instance before the last restart, whose last line came just before
 * the current start; 400 when the container never restarted, as the
 * kubelet answers. sinceSeconds / sinceTime drop older lines, then
 * tailLines keeps the last ones. */
void sim_ctrl_log(sim_ctrl *k, fl_request *req, const fl_apiserver_obj *o)
{
    json_t *pod = fl_apiserver_obj_parse(o);
    const char *ct = NULL;
    fl_buf b = FL_BUF_INIT(256 * 1024);
    log_opts lo;
    char line[1200];
    if (!pod || log_container(req, pod, o->name, &ct) != 0 || log_opts_parse(req, &lo) != 0)
        goto out;
    if (strcmp(o->phase, "Running") && strcmp(o->phase, "Succeeded") &&
        strcmp(o->phase, "Failed")) {
        fl_request_reply_status(req, 400, "BadRequest",
                                "container \"%s\" in pod \"%s\" is "
                                "waiting to start: ContainerCreating",
                                ct, o->name);
        goto out;
    }
    int64_t now = fl_now_ms(), restarts = 0;
    int64_t start = container_start(pod, ct, now / 1000, &restarts) * 1000;
    int64_t end = now, gap = (now - start) / LOG_LINES;
    if (lo.previous) {
        if (restarts == 0) {
            fl_request_reply_status(req, 400, "BadRequest",
                                    "previous terminated container \"%s\" "
                                    "in pod \"%s\" not found",
                                    ct, o->name);
            goto out;
        }
        end = start - 1000, gap = 1000;
        lo.follow = false;
    }
    gap = gap < 0 ? 0 : gap > 1000 ? 1000 : gap;
    int64_t first = 1;
    while (first <= LOG_LINES && end - (LOG_LINES - first) * gap < lo.since_s * 1000)
        first++;
    if (LOG_LINES - first + 1 > lo.tail)
        first = LOG_LINES - lo.tail + 1;
    for (int64_t n = first; n <= LOG_LINES; n++) {
        log_line(o->ns, o->name, ct, n, end - (LOG_LINES - n) * gap, lo.ts, line, sizeof(line));
        fl_buf_append(&b, line, strlen(line));
    }
    if (lo.follow && !strcmp(o->phase, "Running"))
        log_follow(k, req, o, ct, &b, end, lo.ts);
    else
        fl_request_reply(req, 200, "text/plain", b.data ? b.data : "", b.len);
out:
    fl_buf_done(&b);
    json_decref(pod);
}

static void *run(void *arg)
{
    sim_ctrl *k = arg;
    uint64_t seen = 0;
    int64_t wait_ms = TICK_MS;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        pthread_mutex_unlock(&k->mu);
        uint64_t rv = fl_apiserver_store_rv(k->c->st);
        if (rv != seen) {
            int64_t t0 = fl_mono_ms();
            seen = rv;
            tick(k);
            /* big busy fleets: ~20% of a core per cluster at most (but a
             * tick a second at least, for `logs -f`) */
            int64_t took = fl_mono_ms() - t0;
            wait_ms = took * 4 > TICK_MS ? (took * 4 < 1000 ? took * 4 : 1000) : TICK_MS;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += wait_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&k->mu);
        follow_tick(k);
        if (!k->stop)
            pthread_cond_timedwait(&k->cv, &k->mu, &ts);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

int sim_ctrl_start(sim_cluster *c, sim_ctrl **out)
{
    sim_ctrl *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->c = c;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    int rc = pthread_create(&k->th, NULL, run, k);
    if (rc != 0) {
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        free(k);
        return -rc;
    }
    *out = k;
    return 0;
}

void sim_ctrl_stop(sim_ctrl *k)
{
    if (!k)
        return;
    fl_thread_stop(k->th, &k->mu, &k->cv, &k->stop);
    for (size_t i = 0; i < k->nfw; i++) {
        fl_stream_close(k->fw[i]->s);
        free(k->fw[i]);
    }
    fl_apiserver_list_done(&k->prev);
    free(k->prev_pi);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}
