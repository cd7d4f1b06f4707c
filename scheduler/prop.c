/*
 * scheduler/prop.c: the propagation controller (scheduler.h,
 * "propagation"). One thread with its own libuv loop runs passes; a pass
 * reads the host (templates, policies, bindings) through the host_list
 * interface and the members' objects from the index, decides with the
 * engine (fl_sched_op_place), then writes in three waves, each concurrent
 * over every cluster and waited for: namespaces; member objects (create,
 * update with the indexed resourceVersion as precondition, delete); host
 * writes (ResourceBindings, their status, template status). Everything the
 * controller owns lives in struct fl_sched_prop and is touched by its
 * thread only, except the kick flag and the stats (under mu).
 *
 * Ownership in members: label karmada.io/managed=true, annotations
 * resourcebinding.karmada.io/{namespace,name}, resourcetemplate.karmada.io/uid
 * and flotilla.io/propagation-hash (the hash of what was sent: equal means
 * applied).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "scheduler/sched_int.h"

#define LBL_MANAGED "karmada.io/managed"
#define ANN_BNS "resourcebinding.karmada.io/namespace"
#define ANN_BNAME "resourcebinding.karmada.io/name"
#define ANN_UID "resourcetemplate.karmada.io/uid"
#define ANN_HASH "flotilla.io/propagation-hash"
#define ANN_SHADOW "shadow.clusterpedia.io/cluster-name"
#define ANN_CHANGE "flotilla.io/last-change"
#define ANN_SRC_RV "flotilla.io/source-resource-version"
#define TAINT_NOT_READY "cluster.karmada.io/not-ready"
#define TAINT_UNREACHABLE "cluster.karmada.io/unreachable"
#define INFLIGHT_MS 15000   /* a sent write not yet indexed is not sent again for this long */
#define SNAPSHOT_MIN_MS 500 /* capacity snapshot reloaded at most this often */
#define PROP_EVENTS_MAX 100 /* placement changes kept for fl_sched_prop_events */
#define MAX_TEMPLATES 100000
#define FULL_PASS_MS 60000  /* every template is decided again at least this often */
#define QUOTA_SAME_MS 30000 /* an unchanged reservation is renewed this often */
#define SYNC_WAIT_MS 30000  /* a first schedule waits this long for a member's capacity */
#define EVICT_SOON_MS 5000  /* a status that an eviction this close rewrites is not written */

/* The template kinds propagated (the host collector syncs them), workloads
 * first: their decisions say where their dependencies (dep) go. Member
 * writes of dependencies go out in a wave before the workloads'. */
typedef struct tkind {
    const char *group, *version, *resource, *kind;
    bool dep;     /* may be a workload's dependency (propagateDeps) */
    bool cluster; /* cluster-scoped: a ClusterResourceBinding, ClusterPropagationPolicy only */
} tkind;
static const tkind KINDS[] = {
    {"apps", "v1", "deployments", "Deployment", false, false},
    {"apps", "v1", "statefulsets", "StatefulSet", false, false},
    {"batch", "v1", "jobs", "Job", false, false},
    {"", "v1", "services", "Service", false, false},
    {"", "v1", "configmaps", "ConfigMap", true, false},
    {"", "v1", "secrets", "Secret", true, false},
    {"", "v1", "serviceaccounts", "ServiceAccount", true, false},
    {"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, false},
    {"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false,
     true},
};

/* A member's failover phase (run_pass); PH_NONE before the first pass. */
enum { PH_NONE = -1, PH_TRUSTED, PH_RECOVERING, PH_FAILING, PH_TAINTED, PH_EVICTING };

typedef struct member {
    char *name, *kubeconfig, *context;
    fl_kube_client *client; /* lazily, on the loop */
    char health[24];
    int64_t since;      /* mono ms of the last health change */
    bool was_down;      /* has been unhealthy since the daemon started */
    bool synced;        /* its capacity (nodes, pods) has been in the index since (members_fn) */
    bool probed;        /* its health has been known (not Unknown) since the daemon started */
    int phase;          /* PH_*: failover phase at the last pass (run_pass) */
    unsigned ready_gen; /* times the member entered PH_TRUSTED (may take new work) */
} member;

struct fl_sched_prop {
    fl_sched_prop_opts o;
    char *host_kubeconfig, *host_context;
    fl_kube_client *host;
    member *m;
    size_t nm;
    uv_loop_t loop;
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, kicked, started, subscribed;
    atomic_bool stopping;   /* set with stop: a pass in progress ends early */
    int sub_id;             /* index change subscription (kicks a pass) */
    fl_sched_prop_stats st; /* under mu */
    json_t *events;         /* under mu: recent placement changes, oldest first */
    /* loop thread only below */
    int pending;         /* requests in flight in this wave */
    json_t *inflight;    /* key -> {"h":hash,"t":ms} */
    json_t *retry;       /* key -> {"n":attempts,"at":ms} */
    json_t *settled;     /* binding key -> fingerprint of the inputs of a
                                       template that needed nothing (skipped while equal) */
    fl_index_reader *rd; /* the controller's reader (kept: opening one costs a connection) */
    fl_sched_snapshot *snap;
    int64_t snap_ms, snap_rev, last_rev;
    double tokens;
    int64_t tokens_ms;
    char health_sig[4096];
    json_t *obs_cache[FL_ARRAY_LEN(KINDS)]; /* per kind: the last pass's observed map */
    json_t *app_bad;              /* "binding key|cluster" -> mono ms since its copy is Unhealthy */
    json_t *last_event;           /* binding key -> hash of the last event sent for it */
    int64_t obs_rev, obs_full_ms; /* index revision it reflects; last member read whole */
    size_t rot;                   /* the next member read whole (modulo nm) */
    /* incremental passes: a template is looked at only when something it
     * depends on changed (ps->dirty, resourceVersions, policies), it is hot,
     * or the resync cursor reaches it (look_at) */
    json_t *bst;         /* binding key -> {"trv","brv","seen","ki","ns","name","want":{cluster}}:
                            what the last look at the template found */
    json_t *hot;         /* binding keys looked at again next pass (not settled, timers) */
    json_t *busy;        /* binding keys with copies left to delete (cleanup again next pass) */
    json_t *dep_contrib; /* workload binding key -> its propagateDeps needs (note_deps) */
    json_t *deps_last;   /* the last pass's dependency map */
    json_t *hcache;      /* "bkey|cluster" -> {"s": inputs, "h": hash of the desired copy} */
    json_t *qheld;       /* "ns|uid|cluster" -> {"r": replicas, "t": ms}: the last reservation */
    char pol_sig[24], ovr_sig[24];
    size_t rr_pos;    /* resync cursor over the templates (each decided again every FULL_PASS_MS) */
    int64_t start_ms; /* mono ms the controller was made */
    int64_t rr_ms;    /* when the cursor last moved */
};

/* ------------------------------------------------------------ helpers */

static void rfc3339(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* The collection of the binding of a template in ns ("": cluster-scoped,
 * a ClusterResourceBinding), with "/name" appended when name. */
static void binding_path(const char *ns, const char *name, char *out, size_t n)
{
    int w = ns[0] ? snprintf(out, n,
                             "/apis/work.karmada.io/v1alpha2/namespaces/%s/resourcebindings", ns)
                  : snprintf(out, n, "/apis/work.karmada.io/v1alpha2/clusterresourcebindings");
    if (name && w > 0 && (size_t)w < n)
        snprintf(out + w, n - (size_t)w, "/%s", name);
}

static void coll_path(const tkind *k, const char *ns, char *out, size_t n)
{
    if (k->cluster)
        snprintf(out, n, "/apis/%s/%s/%s", k->group, k->version, k->resource);
    else if (k->group[0])
        snprintf(out, n, "/apis/%s/%s/namespaces/%s/%s", k->group, k->version, ns, k->resource);
    else
        snprintf(out, n, "/api/%s/namespaces/%s/%s", k->version, ns, k->resource);
}

static member *member_of(fl_sched_prop *p, const char *name)
{
    for (size_t i = 0; i < p->nm; i++)
        if (!strcmp(p->m[i].name, name))
            return &p->m[i];
    return NULL;
}

static fl_kube_client *client_for(fl_sched_prop *p, const char *kc, const char *ctx,
                                  fl_kube_client **slot, const char *what)
{
    if (*slot || !kc)
        return *slot;
    fl_kube_conn *conn = NULL;
    fl_err err = FL_ERR_INIT;
    fl_kube_client_opts co = FL_KUBE_CLIENT_OPTS_INIT;
    co.timeout_ms = p->o.write_timeout_ms;
    co.connect_timeout_ms = p->o.write_timeout_ms;
    co.max_host_connections = 8;
    if (fl_kube_conn_load(kc, ctx, &conn, &err) != 0 ||
        fl_kube_client_new(&p->loop, conn, &co, slot, &err) != 0)
        fl_log(FL_LOG_WARN, "prop", "%s: %s", what, err.msg);
    fl_kube_conn_unref(conn);
    return *slot;
}

/* metadata.annotations[key] / metadata.labels[key] (keys hold dots, so not
 * through fl_obj_get's dotted paths), or "". */
static const char *meta_str(const json_t *o, const char *map, const char *key)
{
    const json_t *m = json_object_get(json_object_get(o, "metadata"), map);
    const char *v = json_string_value(json_object_get(m, key));
    return v ? v : "";
}

static uint64_t fnv64(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The hash of an object's compact, sorted JSON: what goes into the
 * copies' flotilla.io/propagation-hash (so it must not change). */
static void hash_of(const json_t *obj, char out[20])
{
    char *d = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(out, 20, "%016llx", d ? (unsigned long long)fnv64(d) : 0ull);
    free(d);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv64n(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

/* A hash of a JSON value's content, walked in place (no dump, no
 * allocation): object members combine in any order (their sum), arrays in
 * order. */
static uint64_t tree_hash(const json_t *v)
{
    uint64_t h = 1469598103934665603ull;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        uint64_t sum = 0;
        json_object_foreach((json_t *)v, k, x)
            sum += mix64(fnv64n(h, k, strlen(k)) ^ (tree_hash(x) * 31));
        return mix64(sum ^ 1);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        h = 2;
        json_array_foreach(v, i, x)
            h = mix64(h * 31 + tree_hash(x));
        return h;
    }
    case JSON_STRING: return mix64(fnv64n(h, json_string_value(v), json_string_length(v)) ^ 3);
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        return mix64(fnv64n(h, &n, sizeof n) ^ 4);
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        return mix64(fnv64n(h, &d, sizeof d) ^ 5);
    }
    case JSON_TRUE: return 6;
    case JSON_FALSE: return 7;
    default: return 8; /* null, or no value */
    }
}

/* A fingerprint of obj for the controller's own comparisons (settled
 * fingerprints, writes in flight, caches): never stored outside memory, so
 * free to differ from hash_of. */
static void fp_of(const json_t *obj, char out[20])
{
    snprintf(out, 20, "%016llx", obj ? (unsigned long long)tree_hash(obj) : 0ull);
}

/* ------------------------------------------------------------ writes */

/* One cluster's share of a wave: at most WINDOW writes in flight, the
 * next sent as one finishes; a transport failure (the member does not
 * answer) drops the rest of its share until the next pass. */
#define WINDOW 16
typedef struct wq {
    fl_sched_prop *p;
    fl_kube_client *client;
    const json_t *jobs; /* this cluster's jobs, borrowed */
    size_t next, inflight;
    bool dead;
} wq;

typedef struct wr {
    fl_sched_prop *p;
    wq *q;
    char key[700];
    char hash[24];
    bool del;
} wr;

static void pump(wq *q);

static void wr_done(fl_kube_req *rq, fl_kube_response *res, void *ud)
{
    (void)rq;
    wr *w = ud;
    fl_sched_prop *p = w->p;
    int64_t now = fl_mono_ms();
    p->pending--;
    pthread_mutex_lock(&p->mu);
    if (res->err == 0 || (w->del && res->err == FL_ENOTFOUND)) {
        p->st.writes++;
        pthread_mutex_unlock(&p->mu);
        json_object_set_new(p->inflight, w->key,
                            json_pack("{s:s,s:I}", "h", w->hash, "t", (json_int_t)now));
        json_object_del(p->retry, w->key);
    } else if (res->err == FL_ECONFLICT) {
        p->st.conflicts++;
        pthread_mutex_unlock(&p->mu);
    } else {
        p->st.write_errors++;
        pthread_mutex_unlock(&p->mu);
        json_t *r = json_object_get(p->retry, w->key);
        int64_t n = r ? json_integer_value(json_object_get(r, "n")) + 1 : 1;
        int64_t back = 200ll << (n < 8 ? n : 8);
        if (back > 30000)
            back = 30000;
        unsigned char rb = 0;
        fl_random_bytes(&rb, 1);
        back = back / 2 + back * rb / 255; /* jitter: [0.5, 1.5) × */
        json_object_set_new(
            p->retry, w->key,
            json_pack("{s:I,s:I}", "n", (json_int_t)n, "at", (json_int_t)(now + back)));
        fl_log(FL_LOG_WARN, "prop", "%s: %s %s (attempt %lld, next in %lld ms)", w->key,
               res->reason, res->message, (long long)n, (long long)back);
    }
    wq *q = w->q;
    if (q) {
        q->inflight--;
        if (res->code == 0 && res->err != 0)
            q->dead = true;
        pump(q);
    }
    free(w);
}

/* Send one write unless the same one is in flight/applied-but-unindexed or
 * backing off. body may be NULL (DELETE). */
static bool send_write(fl_sched_prop *p, wq *q, fl_kube_client *c, fl_kube_method m,
                       const char *path, const json_t *body, const char *key, const char *hash)
{
    int64_t now = fl_mono_ms();
    const json_t *inf = json_object_get(p->inflight, key);
    if (inf && !strcmp(fl_obj_str_or(inf, "h", ""), hash) &&
        now - json_integer_value(json_object_get(inf, "t")) < INFLIGHT_MS)
        return false;
    const json_t *r = json_object_get(p->retry, key);
    if (r && json_integer_value(json_object_get(r, "at")) > now)
        return false;
    if (!c)
        return false;
    wr *w = calloc(1, sizeof *w);
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!w || (body && !b)) {
        free(w);
        free(b);
        return false;
    }
    w->p = p;
    w->q = q;
    w->del = m == FL_KUBE_DELETE;
    snprintf(w->key, sizeof w->key, "%s", key);
    snprintf(w->hash, sizeof w->hash, "%s", hash);
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    rq.method = m, rq.path = path, rq.body = b, rq.body_len = b ? strlen(b) : 0;
    bool sent = fl_kube_client_request(c, &rq, NULL, wr_done, w, NULL) == 0;
    if (sent)
        p->pending++;
    else
        free(w);
    free(b);
    return sent;
}

/* Send q's next jobs until WINDOW are in flight (or none is left). */
static void pump(wq *q)
{
    while (!q->dead && !atomic_load(&q->p->stopping) && q->inflight < WINDOW &&
           q->next < json_array_size(q->jobs)) {
        const json_t *j = json_array_get(q->jobs, q->next++);
        if (send_write(q->p, q, q->client,
                       (fl_kube_method)json_integer_value(json_object_get(j, "m")),
                       fl_obj_str_or(j, "path", ""), json_object_get(j, "body"),
                       fl_obj_str_or(j, "key", ""), fl_obj_str_or(j, "hash", "")))
            q->inflight++;
    }
}

static void wave(fl_sched_prop *p)
{
    while (p->pending > 0)
        uv_run(&p->loop, UV_RUN_ONCE);
}

/* ------------------------------------------------------------ reading */

static json_t *host_items(fl_sched_prop *p, const char *group, const char *res, const char *kind)
{
    json_t *items = NULL;
    fl_err err = FL_ERR_INIT;
    if (p->o.host_list(p->o.host_ud, group, res, &items, &err) != 0 || !json_is_array(items)) {
        json_decref(items);
        return json_array();
    }
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o) {
        if (!fl_obj_str(o, "kind"))
            json_object_set_new(o, "kind", json_string(kind));
        json_t *ann = fl_obj_get(o, "metadata.annotations");
        if (json_is_object(ann))
            json_object_del(ann, ANN_SHADOW);
    }
    return items;
}

typedef struct obs_ctx {
    json_t *map;
    const json_t *cache; /* full read: the previous map, entries with the same rv reused */
    bool delta;          /* changed rows only, applied to map in place */
    json_t *chg;         /* keys of the copies that changed */
    json_t *seen;        /* keys read (a member read whole), or NULL */
} obs_ctx;

static bool managed(const json_t *o)
{
    const json_t *l = json_object_get(json_object_get(o, "metadata"), "labels");
    const char *v = json_string_value(json_object_get(l, LBL_MANAGED));
    return v && !strcmp(v, "true");
}

static int obs_row(void *arg, const fl_index_row *row)
{
    obs_ctx *c = arg;
    json_t *o = NULL;
    char key[700];
    if (!strcmp(row->cluster, "_host"))
        return 0;
    snprintf(key, sizeof key, "%s/%s/%s", row->cluster, row->namespace_, row->name);
    if (c->seen)
        json_object_set_new(c->seen, key, json_true());
    json_t *old = json_object_get(c->delta ? c->map : c->cache, key);
    if (old && !strcmp(fl_obj_str_or(old, "rv", ""), row->resource_version) && !row->deleted_ms) {
        if (!c->delta)
            json_object_set(c->map, key, old);
        return 0;
    }
    if (row->deleted_ms || fl_json_parse(row->json, row->json_len, &o, NULL) != 0 ||
        (c->delta && !managed(o))) {
        json_decref(o);
        if (old)
            json_object_set_new(c->chg, key, json_true());
        if (c->delta)
            json_object_del(c->map, key);
        return 0;
    }
    json_object_set_new(c->chg, key, json_true());
    json_object_set_new(
        c->map, key,
        json_pack("{s:s,s:s,s:o}", "cluster", row->cluster, "rv", row->resource_version, "obj", o));
    return 0;
}

/* Every managed object of kind k in the members: "cluster/ns/name" -> {cluster, rv, obj}.
 * With since > 0 only rows changed after index revision since are read and
 * applied to cache (returned with a new reference); else all of them into a
 * new map (cache's unchanged entries reused). Either way the keys of the
 * copies that changed from cache are set in chg. Entries are read only. */
static json_t *observed(fl_index_reader *r, const tkind *k, json_t *cache, int64_t since,
                        json_t *chg)
{
    static const char *const yes[] = {"true"};
    fl_index_label_req lr = {LBL_MANAGED, FL_INDEX_LABEL_EQ, yes, 1};
    fl_index_query q = FL_INDEX_QUERY_INIT;
    bool delta = cache && since > 0;
    obs_ctx c = {delta ? json_incref(cache) : json_object(), cache, delta, chg, NULL};
    q.group = k->group, q.resource = k->resource;
    if (delta) {
        q.min_revision = since;
        q.include_deleted = true;
        q.order = FL_INDEX_ORDER_REVISION;
    } else {
        q.labels = &lr, q.n_labels = 1;
    }
    fl_err err = FL_ERR_INIT;
    if (fl_index_list(r, &q, obs_row, &c, NULL, &err) != 0)
        fl_log(FL_LOG_WARN, "prop", "index: %s: %s", k->resource, err.msg);
    if (!delta) {
        const char *key;
        json_t *v;
        json_object_foreach(cache, key, v) {
            if (!json_object_get(c.map, key))
                json_object_set_new(chg, key, json_true()); /* gone */
        }
    }
    return c.map;
}

/* The safety net behind the delta reads, one member at a time: its copies
 * of kind k read whole and compared with map (updated in place; changed
 * and gone keys set in chg). */
static void reread(fl_index_reader *r, const tkind *k, json_t *map, const char *cluster,
                   json_t *chg)
{
    static const char *const yes[] = {"true"};
    fl_index_label_req lr = {LBL_MANAGED, FL_INDEX_LABEL_EQ, yes, 1};
    fl_index_query q = FL_INDEX_QUERY_INIT;
    obs_ctx c = {map, map, true, chg, json_object()};
    q.group = k->group, q.resource = k->resource;
    q.labels = &lr, q.n_labels = 1;
    q.clusters = &cluster, q.n_clusters = 1;
    fl_err err = FL_ERR_INIT;
    if (fl_index_list(r, &q, obs_row, &c, NULL, &err) != 0) {
        fl_log(FL_LOG_WARN, "prop", "index: %s in %s: %s", k->resource, cluster, err.msg);
        json_decref(c.seen);
        return;
    }
    size_t cl = strlen(cluster);
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(map, tmp, key, v) {
        if (!strncmp(key, cluster, cl) && key[cl] == '/' && !json_object_get(c.seen, key)) {
            json_object_set_new(chg, key, json_true()); /* gone */
            json_object_del(map, key);
        }
    }
    json_decref(c.seen);
}

typedef struct get_ctx {
    char rv[128];
    bool found;
} get_ctx;

static int get_row(void *arg, const fl_index_row *row)
{
    get_ctx *g = arg;
    g->found = true;
    snprintf(g->rv, sizeof g->rv, "%s", row->resource_version);
    return 0;
}

static bool index_has(fl_index_reader *r, const char *cluster, const char *group, const char *res,
                      const char *ns, const char *name, char rv[128])
{
    fl_index_key key = {cluster, group, NULL, res, ns, name};
    get_ctx g = {{0}, false};
    fl_index_get(r, &key, get_row, &g, NULL);
    if (rv)
        snprintf(rv, 128, "%s", g.rv);
    return g.found;
}

/* ------------------------------------------------------------ health */

/* Members' health and capacity sync from members_fn; true when a member's
 * capacity became synced (in the index) since the last call. */
static bool track_health(fl_sched_prop *p, const json_t *members, int64_t now)
{
    size_t i;
    const json_t *e;
    bool newly = false;
    json_array_foreach(members, i, e) {
        member *m = member_of(p, fl_obj_str_or(e, "name", ""));
        const char *h = fl_obj_str_or(e, "health", "Unknown");
        if (m) {
            bool synced = !json_is_false(json_object_get(e, "synced"));
            newly |= synced && !m->synced;
            m->synced = synced;
            m->probed |= strcmp(h, "Unknown") != 0;
        }
        if (!m || !strcmp(m->health, h))
            continue;
        if (m->health[0] && strcmp(h, "Ready"))
            m->was_down = true;
        fl_log(FL_LOG_INFO, "prop", "cluster %s: %s -> %s", m->name,
               m->health[0] ? m->health : "(start)", h);
        snprintf(m->health, sizeof m->health, "%s", h);
        m->since = now;
    }
    return newly;
}

/* The NoExecute toleration of placement for key, in ms (-1: forever). */
static int64_t toleration_ms(const fl_sched_prop *p, const json_t *placement, const char *key)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(placement, "clusterTolerations"), i, t) {
        const char *k = fl_obj_str_or(t, "key", ""), *eff = fl_obj_str_or(t, "effect", "");
        if ((k[0] && strcmp(k, key)) || (eff[0] && strcmp(eff, "NoExecute")))
            continue;
        const json_t *s = json_object_get(t, "tolerationSeconds");
        return json_is_integer(s) ? json_integer_value(s) * 1000 : -1;
    }
    return p->o.toleration_ms;
}

/* The eviction rate limit, a token bucket of one second's worth refilled
 * by the clock (not the pass's start time: a pass that decides for
 * seconds evicts at the configured rate all along, not one second's worth
 * per pass). */
static bool take_token(fl_sched_prop *p, int64_t now)
{
    double rate = p->o.eviction_rate > 0 ? p->o.eviction_rate : 50.0;
    p->tokens += (double)(now - p->tokens_ms) * rate / 1000.0;
    double cap = rate < 1 ? 1 : rate;
    if (p->tokens > cap)
        p->tokens = cap;
    p->tokens_ms = now;
    if (p->tokens < 1)
        return false;
    p->tokens -= 1;
    return true;
}

static int64_t prev_of(const json_t *prev, const char *name)
{
    size_t i;
    const json_t *e;
    json_array_foreach(prev, i, e)
        if (!strcmp(fl_obj_str_or(e, "name", ""), name))
            return json_integer_value(json_object_get(e, "replicas"));
    return -1;
}

/* ------------------------------------------------------------ one pass */

typedef struct pass {
    fl_sched_prop *p;
    fl_index_reader *r;
    int64_t now;
    json_t *members;   /* engine entries + health */
    json_t *policies;  /* PP + CPP */
    json_t *overrides; /* OP + COP */
    json_t *rbs;       /* "ns/name" -> binding */
    json_t *obs[FL_ARRAY_LEN(KINDS)];
    json_t *dirty;   /* binding keys whose inputs changed (looked at this pass) */
    json_t *touched; /* binding keys looked at this pass */
    json_t *shrunk;  /* binding keys whose clusters keeping copies lost one (or are new,
                          or no longer in force): cleanup checks their copies */
    json_t *hot;     /* the next pass's p->hot */
    json_t *obs_chg[FL_ARRAY_LEN(KINDS)]; /* member copies whose rows changed this pass */
    bool full;       /* every copy read and cleaned up, what is kept of gone templates forgotten */
    json_t *present; /* full pass, or a round of members read whole: binding keys of the
                        templates here (what is kept for the others is forgotten) */
    const char *whole;       /* the member whose copies were read whole (all cleaned up) */
    size_t n_look, n_decide; /* templates looked at, decided (this pass) */
    int64_t t_read, t_obs, t_look, t_clean; /* ms spent reading the host, the copies,
                                               looking at templates, cleaning up */
    json_t *ns_jobs;                        /* "cluster/ns" -> true */
    json_t *obj_jobs;                       /* [{"c","m","path","body","key","hash"[,"fetch"]}] */
    json_t *dep_jobs;  /* the same for dependency kinds: sent before obj_jobs */
    json_t *deps;      /* "Kind/ns/name" -> {"clusters":{name:true},"requiredBy":[..]} */
    json_t *fetched;   /* host path -> the object read from the host (Secrets: the index
                          keeps no data) */
    json_t *host_jobs; /* same, on the host */
    bool next_soon;    /* something waits: run again soon */
    char inputs[24];   /* hash of the overrides of this pass */
    json_t *ns_have;   /* "cluster/ns" -> bool: the namespace is in the index */
    json_t *seen;      /* binding keys whose template is here (host objects are read only:
                          the host interface may hand out cached objects) */
} pass;

static void job(json_t *list, const char *cluster, fl_kube_method m, const char *path,
                const json_t *body, const char *key, const char *hash)
{
    json_t *j = json_pack("{s:s,s:i,s:s,s:s,s:s}", "c", cluster, "m", (int)m, "path", path, "key",
                          key, "hash", hash);
    if (j && body)
        json_object_set(j, "body", (json_t *)body);
    if (j)
        json_array_append_new(list, j);
    else
        fl_log(FL_LOG_WARN, "prop", "%s: out of memory", key);
}

static void run_jobs(fl_sched_prop *p, const json_t *jobs)
{
    json_t *by = json_object(); /* cluster -> [jobs] */
    size_t i;
    const json_t *j;
    json_array_foreach(jobs, i, j) {
        const char *c = fl_obj_str_or(j, "c", "");
        json_t *list = json_object_get(by, c);
        if (!list)
            json_object_set_new(by, c, list = json_array());
        json_array_append(list, (json_t *)j);
    }
    size_t n = json_object_size(by), k = 0;
    wq *qs = calloc(n + 1, sizeof *qs);
    const char *c;
    json_t *list;
    json_object_foreach(by, c, list) {
        if (!qs)
            break;
        fl_kube_client *cl;
        if (!strcmp(c, "_host")) {
            cl = client_for(p, p->host_kubeconfig, p->host_context, &p->host, "host");
        } else {
            member *m = member_of(p, c);
            cl = m ? client_for(p, m->kubeconfig, m->context, &m->client, m->name) : NULL;
        }
        qs[k] = (wq){p, cl, list, 0, 0, false};
        pump(&qs[k++]);
    }
    wave(p);
    free(qs);
    json_decref(by);
}

typedef struct qctx {
    fl_sched_prop *p;
    const char *uid;
    const json_t *prev;
} qctx;

/* The same total reserved again within QUOTA_SAME_MS is not asked for
 * again (a reservation of an unchanged total cannot be refused; asking
 * costs the ledger a snapshot and a scan of its reservations, per cluster
 * per decision): the ledger still sees it renewed well within its TTL. */
static int q_reserve(void *ud, const char *ns, const char *cluster, int64_t add,
                     const json_t *requests, fl_err *err)
{
    qctx *q = ud;
    fl_sched_prop *p = q->p;
    int64_t cur = prev_of(q->prev, cluster), total = add + (cur > 0 ? cur : 0);
    char k[800];
    snprintf(k, sizeof k, "%s|%s|%s", ns, q->uid, cluster);
    const json_t *had = json_object_get(p->qheld, k);
    int64_t now = fl_mono_ms();
    if (had && json_integer_value(json_object_get(had, "r")) == total &&
        now - json_integer_value(json_object_get(had, "t")) < QUOTA_SAME_MS)
        return 0;
    int rc = p->o.quota.reserve(p->o.quota.ud, ns, q->uid, cluster, total, requests, err);
    if (rc == 0)
        json_object_set_new(p->qheld, k,
                            json_pack("{s:I,s:I}", "r", (json_int_t)total, "t", (json_int_t)now));
    else
        json_object_del(p->qheld, k);
    return rc == FL_EFORBIDDEN ? FL_EQUOTA : rc;
}

static void q_release(fl_sched_prop *p, const char *ns, const char *uid, const char *cluster)
{
    char k[800];
    snprintf(k, sizeof k, "%s|%s|%s", ns, uid, cluster);
    json_object_del(p->qheld, k);
    p->o.quota.release(p->o.quota.ud, ns, uid, cluster);
}

/* The copy of tmpl that goes to cluster entry cl with replicas, with the
 * labels of extra (may be NULL: a failover's preserved state). */
static json_t *desired_obj(pass *ps, const json_t *tmpl, const json_t *cl, int64_t replicas,
                           const json_t *extra, const char *bns, const char *bname, char hash[20],
                           fl_err *err)
{
    json_t *o = json_deep_copy(tmpl);
    if (!o)
        return NULL;
    json_object_del(o, "status");
    json_t *meta = fl_obj_ensure(o, "metadata");
    static const char *const drop[] = {"uid",           "resourceVersion",   "creationTimestamp",
                                       "managedFields", "generation",        "ownerReferences",
                                       "selfLink",      "deletionTimestamp", "finalizers"};
    for (size_t i = 0; i < FL_ARRAY_LEN(drop); i++)
        json_object_del(meta, drop[i]);
    json_t *ann = json_object_get(meta, "annotations");
    if (json_is_object(ann))
        json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
    const char *kind = fl_obj_str_or(tmpl, "kind", "");
    if (!strcmp(kind, "Secret"))
        fl_obj_set_annotation(o, ANN_SRC_RV, fl_obj_str_or(tmpl, "metadata.resourceVersion", ""));
    if (!strcmp(kind, "PersistentVolumeClaim") && json_is_object(json_object_get(o, "spec")))
        json_object_del(json_object_get(o, "spec"), "volumeName"); /* bound in the host only */
    if (!strcmp(kind, "ServiceAccount"))
        json_object_del(o, "secrets"); /* token secrets are each cluster's own */
    if (fl_obj_get(tmpl, "spec.replicas") || !strcmp(kind, "Deployment") ||
        !strcmp(kind, "StatefulSet"))
        json_object_set_new(fl_obj_ensure(o, "spec"), "replicas", json_integer(replicas));
    if (fl_sched_overrides_apply(ps->overrides, tmpl, cl, o, NULL, err) != 0) {
        json_decref(o);
        return NULL;
    }
    meta = fl_obj_ensure(o, "metadata");
    json_t *labels = json_object_get(meta, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(meta, "labels", labels);
    }
    if (extra)
        json_object_update(labels, (json_t *)extra); /* statePreservation */
    json_object_set_new(labels, LBL_MANAGED, json_string("true"));
    fl_obj_set_annotation(o, ANN_BNS, bns);
    fl_obj_set_annotation(o, ANN_BNAME, bname);
    fl_obj_set_annotation(o, ANN_UID, fl_obj_str_or(tmpl, "metadata.uid", ""));
    hash_of(o, hash);
    fl_obj_set_annotation(o, ANN_HASH, hash);
    return o;
}

/* Member copies of one template within one decision: without overrides the
 * copies with the same replicas are the same object, built once. */
typedef struct copies {
    json_t *base; /* the last one built (not sent: handed out as copies) */
    int64_t reps;
    char hash[20];
} copies;

/* The copy for cluster cn (entry cl) as a new object, its hash in hash. */
static json_t *build_copy(pass *ps, copies *cp, const json_t *tmpl, const json_t *cl, int64_t reps,
                          const json_t *extra, const char *bns, const char *bname, char hash[20],
                          fl_err *err)
{
    bool same = !json_array_size(ps->overrides) && !extra;
    if (same && cp->base && cp->reps == reps) {
        memcpy(hash, cp->hash, 20);
        return json_deep_copy(cp->base);
    }
    json_t *o = desired_obj(ps, tmpl, cl, reps, extra, bns, bname, hash, err);
    if (!o || !same)
        return o;
    json_decref(cp->base);
    cp->base = o;
    cp->reps = reps;
    memcpy(cp->hash, hash, 20);
    return json_deep_copy(o);
}

/* The hash of the copy for cluster cn: from p->hcache when its inputs are
 * those of the cached one (template resourceVersion, replicas, overrides
 * and, when there are any, the cluster's entry, preserved labels); else the copy is built
 * (*obj, new). 0 or -1 (err: an override failed). */
static int copy_hash(pass *ps, copies *cp, const json_t *tmpl, const json_t *cl, int64_t reps,
                     const json_t *extra, const char *bns, const char *bname, const char *key,
                     const char *cn, char hash[20], json_t **obj, fl_err *err)
{
    char sig[220], ck[800], ch[20] = "", xh[20] = "";
    if (json_array_size(ps->overrides))
        fp_of(cl, ch);
    if (extra)
        fp_of(extra, xh);
    snprintf(sig, sizeof sig, "%.100s|%lld|%s|%s|%s",
             fl_obj_str_or(tmpl, "metadata.resourceVersion", ""), (long long)reps, ps->inputs, ch,
             xh);
    snprintf(ck, sizeof ck, "%s|%s", key, cn);
    const json_t *c = json_object_get(ps->p->hcache, ck);
    *obj = NULL;
    if (c && !strcmp(fl_obj_str_or(c, "s", ""), sig)) {
        snprintf(hash, 20, "%s", fl_obj_str_or(c, "h", ""));
        return 0;
    }
    if (!(*obj = build_copy(ps, cp, tmpl, cl, reps, extra, bns, bname, hash, err)))
        return -1;
    json_object_set_new(ps->p->hcache, ck, json_pack("{s:s,s:s}", "s", sig, "h", hash));
    return 0;
}

static json_t *cond(const json_t *old_status, const char *type, bool ok, const char *reason,
                    const char *msg)
{
    char now[32];
    rfc3339(now);
    size_t i;
    const json_t *c;
    const char *st = ok ? "True" : "False", *ltt = now;
    json_array_foreach(json_object_get(old_status, "conditions"), i, c) {
        if (!strcmp(fl_obj_str_or(c, "type", ""), type) &&
            !strcmp(fl_obj_str_or(c, "status", ""), st))
            ltt = fl_obj_str_or(c, "lastTransitionTime", now);
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", type, "status", st, "reason", reason,
                     "message", msg, "lastTransitionTime", ltt);
}

/* Whether a member of prev (the binding's clusters) that is not Ready will
 * be evicted (its NoExecute toleration under placement ends) within
 * EVICT_SOON_MS: the eviction writes the binding's status then, so the
 * status that only says its copies' health is Unknown is not written
 * first (with a toleration of 300 s it is, at once). */
static bool evict_soon(const pass *ps, const json_t *placement, const json_t *prev)
{
    const fl_sched_prop *p = ps->p;
    size_t i;
    const json_t *t;
    json_array_foreach(prev, i, t) {
        const member *m = member_of((fl_sched_prop *)p, fl_obj_str_or(t, "name", ""));
        if (!m || !strcmp(m->health, "Ready"))
            continue;
        const char *key = !strcmp(m->health, "NotReady") ? TAINT_NOT_READY : TAINT_UNREACHABLE;
        int64_t tol = toleration_ms(p, placement, key);
        if (tol >= 0 && p->o.failure_threshold_ms + tol - (ps->now - m->since) <= EVICT_SOON_MS)
            return true;
    }
    return false;
}

/* Whether conditions[type] says the same (status, reason, message) in a and b. */
static bool same_cond(const json_t *a, const json_t *b, const char *type)
{
    const json_t *c[2] = {NULL, NULL}, *st[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        size_t i;
        const json_t *x;
        json_array_foreach(json_object_get(st[s], "conditions"), i, x) {
            if (!strcmp(fl_obj_str_or(x, "type", ""), type))
                c[s] = x;
        }
    }
    if (!c[0] || !c[1])
        return c[0] == c[1];
    static const char *const f[] = {"status", "reason", "message"};
    for (size_t i = 0; i < FL_ARRAY_LEN(f); i++)
        if (strcmp(fl_obj_str_or(c[0], f[i], ""), fl_obj_str_or(c[1], f[i], "")))
            return false;
    return true;
}

static void sum_status(json_t *sum, const json_t *st)
{
    static const char *const f[] = {"replicas", "readyReplicas", "availableReplicas",
                                    "updatedReplicas"};
    for (size_t i = 0; i < FL_ARRAY_LEN(f); i++) {
        json_int_t have = json_integer_value(json_object_get(sum, f[i]));
        json_object_set_new(sum, f[i],
                            json_integer(have + json_integer_value(json_object_get(st, f[i]))));
    }
}

/* What the binding keeps of a member's status (Karmada's default
 * interpreter for workloads: the replica counts and observedGeneration). */
static json_t *reflect_status(const json_t *st)
{
    static const char *const f[] = {"replicas",        "readyReplicas",       "availableReplicas",
                                    "updatedReplicas", "unavailableReplicas", "observedGeneration",
                                    "active",          "succeeded",           "failed"};
    json_t *o = json_object();
    for (size_t i = 0; o && i < FL_ARRAY_LEN(f); i++) {
        json_t *v = json_object_get(st, f[i]);
        if (v)
            json_object_set(o, f[i], v);
    }
    return o;
}

/* Member entries the engine may use for this template's policy, with
 * failover applied. *evicted counts clusters dropped by NoExecute and
 * *evicted_age_ms adds up how long each had been failing by then. */
static json_t *candidates(pass *ps, const json_t *placement, const json_t *prev, json_t *all,
                          json_t *evictions, int *evicted, int64_t *evicted_age_ms, int *deferred)
{
    fl_sched_prop *p = ps->p;
    json_t *out = json_array(), *had = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(prev, i, e)
        json_object_set_new(had, fl_obj_str_or(e, "name", ""), json_true());
    json_array_foreach(ps->members, i, e) {
        member *m = member_of(p, fl_obj_str_or(e, "name", ""));
        if (!m)
            continue;
        bool held = json_object_get(had, m->name) != NULL;
        bool ready = !strcmp(m->health, "Ready");
        int64_t age = ps->now - m->since;
        json_t *c = json_copy(e); /* shallow: only its own members are set below */
        json_object_set(all, m->name, c);
        if (held && json_object_get(evictions, m->name)) {
            (*evicted)++; /* application failover: its replicas go elsewhere */
            json_decref(c);
            continue;
        }
        if (ready) {
            if (!held && m->was_down && age < p->o.success_threshold_ms) {
                ps->next_soon = true;
                json_decref(c);
                continue; /* not yet trusted with new work */
            }
            json_array_append_new(out, c);
            continue;
        }
        if (!held) {
            json_decref(c);
            continue;
        }
        const char *key = !strcmp(m->health, "NotReady") ? TAINT_NOT_READY : TAINT_UNREACHABLE;
        int64_t tol = toleration_ms(p, placement, key);
        json_object_set_new(c, "available", json_integer(0));
        if (age >= p->o.failure_threshold_ms) {
            json_t *taints = json_object_get(c, "taints");
            taints = json_is_array(taints) ? json_copy(taints) : json_array();
            json_array_append_new(taints,
                                  json_pack("{s:s,s:s}", "key", key, "effect", "NoSchedule"));
            json_object_set_new(c, "taints", taints);
        }
        if (tol >= 0 && age >= p->o.failure_threshold_ms + tol) {
            if (take_token(p, fl_mono_ms())) {
                (*evicted)++;
                *evicted_age_ms += age;
                json_object_set_new(evictions, m->name, json_string("taint"));
                json_decref(c);
                continue; /* NoExecute: evicted, its replicas go elsewhere */
            }
            (*deferred)++; /* the eviction rate limit holds it back */
        }
        ps->next_soon = true;
        json_array_append_new(out, c);
    }
    json_decref(had);
    return out;
}

static void add_available(pass *ps, const json_t *tmpl, json_t *cands)
{
    const json_t *spec = !strcmp(fl_obj_str_or(tmpl, "kind", ""), "Pod")
                             ? json_object_get(tmpl, "spec")
                             : fl_obj_get(tmpl, "spec.template.spec");
    size_t n = json_array_size(cands);
    if (!json_is_object(spec) || !ps->p->snap || n == 0)
        return;
    const char **names = calloc(n, sizeof *names);
    int64_t *av = calloc(n, sizeof *av);
    for (size_t i = 0; names && av && i < n; i++)
        names[i] = fl_obj_str_or(json_array_get(cands, i), "name", "");
    if (names && av && fl_sched_snapshot_available_many(ps->p->snap, spec, names, n, av, NULL) == 0)
        for (size_t i = 0; i < n; i++) {
            json_t *c = json_array_get(cands, i);
            if (!json_object_get(c, "available"))
                json_object_set_new(c, "available", json_integer(av[i]));
        }
    free(names);
    free(av);
}

/* The names a pod spec references of one dependency kind: volumes,
 * projected sources, env and envFrom of every container, imagePullSecrets,
 * the service account (not "default"), as Karmada's dependency interpreter
 * for workloads. Appended to out (an object used as a set). */
static void pod_refs(const json_t *spec, const char *kind, json_t *out)
{
    bool cm = !strcmp(kind, "ConfigMap"), sec = !strcmp(kind, "Secret");
    size_t i, j;
    const json_t *v, *x;
#define REF(o, path)                                                                               \
    do {                                                                                           \
        const char *n_ = fl_obj_str(o, path);                                                      \
        if (n_ && n_[0])                                                                           \
            json_object_set_new(out, n_, json_true());                                             \
    } while (0)
    if (!strcmp(kind, "ServiceAccount")) {
        const char *sa = fl_obj_str(spec, "serviceAccountName");
        if (sa && sa[0] && strcmp(sa, "default"))
            json_object_set_new(out, sa, json_true());
        return;
    }
    json_array_foreach(json_object_get(spec, "volumes"), i, v) {
        if (cm)
            REF(v, "configMap.name");
        else if (sec)
            REF(v, "secret.secretName");
        else
            REF(v, "persistentVolumeClaim.claimName");
        json_array_foreach(fl_obj_get(v, "projected.sources"), j, x) {
            if (cm)
                REF(x, "configMap.name");
            else if (sec)
                REF(x, "secret.name");
        }
    }
    if (!cm && !sec)
        return;
    if (sec)
        json_array_foreach(json_object_get(spec, "imagePullSecrets"), i, v)
            REF(v, "name");
    static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};
    for (size_t l = 0; l < FL_ARRAY_LEN(lists); l++) {
        const json_t *c;
        size_t ci;
        json_array_foreach(json_object_get(spec, lists[l]), ci, c) {
            json_array_foreach(json_object_get(c, "env"), i, v)
                REF(v, cm ? "valueFrom.configMapKeyRef.name" : "valueFrom.secretKeyRef.name");
            json_array_foreach(json_object_get(c, "envFrom"), i, v)
                REF(v, cm ? "configMapRef.name" : "secretRef.name");
        }
    }
#undef REF
}

/* propagateDeps: record that the workload tmpl (binding bkey, placed on
 * clusters) needs its dependencies there (p->dep_contrib[bkey]: "Kind/ns/name"
 * -> {"clusters":{name:true},"requiredBy":[entry]}; merge_deps adds it to
 * the pass's map). */
static void note_deps(pass *ps, const json_t *tmpl, const json_t *pol, const char *bkey,
                      const json_t *clusters)
{
    json_object_del(ps->p->dep_contrib, bkey);
    if (!json_is_true(fl_obj_get(pol, "spec.propagateDeps")) || !json_array_size(clusters))
        return;
    const json_t *spec = fl_obj_get(tmpl, "spec.template.spec");
    if (!json_is_object(spec))
        return;
    const char *ns = fl_obj_str_or(tmpl, "metadata.namespace", "");
    const char *slash = strchr(bkey, '/');
    json_t *names = json_object(), *contrib = json_object();
    for (size_t ki = 0; ki < FL_ARRAY_LEN(KINDS); ki++) {
        if (!KINDS[ki].dep)
            continue;
        json_object_clear(names);
        pod_refs(spec, KINDS[ki].kind, names);
        const char *n;
        json_t *v;
        json_object_foreach(names, n, v) {
            char dk[700];
            snprintf(dk, sizeof dk, "%s/%s/%s", KINDS[ki].kind, ns, n);
            json_t *d = json_pack("{s:{},s:[]}", "clusters", "requiredBy");
            if (!d)
                continue;
            json_object_set_new(contrib, dk, d);
            size_t i;
            const json_t *t;
            json_array_foreach(clusters, i, t)
                json_object_set_new(json_object_get(d, "clusters"), fl_obj_str_or(t, "name", ""),
                                    json_true());
            json_t *tcs = json_array();
            json_array_foreach(clusters, i, t)
                json_array_append_new(tcs,
                                      json_pack("{s:s}", "name", fl_obj_str_or(t, "name", "")));
            json_array_append_new(json_object_get(d, "requiredBy"),
                                  json_pack("{s:s,s:s,s:o}", "namespace", ns, "name",
                                            slash ? slash + 1 : bkey, "clusters", tcs));
        }
    }
    json_decref(names);
    if (json_object_size(contrib))
        json_object_set_new(ps->p->dep_contrib, bkey, contrib);
    else
        json_decref(contrib);
}

/* Add the dependencies workload bkey needs to the pass's map (in template
 * order, so requiredBy keeps the order of the host's listing). */
static void merge_deps(pass *ps, const char *bkey)
{
    const char *dk;
    json_t *c;
    json_object_foreach(json_object_get(ps->p->dep_contrib, bkey), dk, c) {
        json_t *d = json_object_get(ps->deps, dk);
        if (!d) {
            d = json_pack("{s:{},s:[]}", "clusters", "requiredBy");
            json_object_set_new(ps->deps, dk, d);
        }
        json_object_update(json_object_get(d, "clusters"), json_object_get(c, "clusters"));
        json_array_extend(json_object_get(d, "requiredBy"), json_object_get(c, "requiredBy"));
    }
}

/* The placement of a dependency no policy claims: the clusters of the
 * workloads that need it (a new policy object). */
static json_t *dep_policy(const json_t *tmpl, const tkind *k, const json_t *dep)
{
    json_t *names = json_array();
    const char *cn;
    json_t *v;
    json_object_foreach(json_object_get(dep, "clusters"), cn, v)
        json_array_append_new(names, json_string(cn));
    return json_pack("{s:s,s:{s:s,s:s},s:{s:[{s:s,s:s,s:s}],s:{s:{s:o}}}}", "kind",
                     "PropagationPolicy", "metadata", "name", "propagate-deps", "namespace",
                     fl_obj_str_or(tmpl, "metadata.namespace", ""), "spec", "resourceSelectors",
                     "apiVersion", k->group[0] ? "" : "v1", "kind", k->kind, "name",
                     fl_obj_str_or(tmpl, "metadata.name", ""), "placement", "clusterAffinity",
                     "clusterNames", names);
}

/* Application failover: the binding's clusters whose copies have been
 * Unhealthy for the policy's tolerationSeconds go into evictions ("app").
 * Returns true while a copy is Unhealthy but still tolerated (a timer). */
static bool app_failover(pass *ps, size_t ki, const json_t *pol, const char *key, const char *ns,
                         const char *name, const json_t *prev, json_t *evictions)
{
    fl_sched_prop *p = ps->p;
    int64_t tol = fl_sched_app_toleration_s(pol);
    bool watching = false;
    if (tol < 0 && !json_object_size(p->app_bad))
        return false; /* no application failover, nothing being watched */
    size_t i;
    const json_t *t;
    json_array_foreach(prev, i, t) {
        const char *cn = fl_obj_str_or(t, "name", "");
        char bk[800], okey[700];
        snprintf(bk, sizeof bk, "%s|%s", key, cn);
        snprintf(okey, sizeof okey, "%s/%s/%s", cn, ns, name);
        member *m = member_of(p, cn);
        if (tol < 0 || !m || strcmp(m->health, "Ready")) {
            json_object_del(p->app_bad, bk);
            continue;
        }
        const json_t *ob = json_object_get(ps->obs[ki], okey);
        const char *h = ob ? fl_sched_copy_health(json_object_get(ob, "obj")) : "Unknown";
        if (!strcmp(h, "Healthy")) {
            json_object_del(p->app_bad, bk);
            continue;
        }
        const json_t *since = json_object_get(p->app_bad, bk);
        if (!since) {
            if (strcmp(h, "Unhealthy"))
                continue;
            json_object_set_new(p->app_bad, bk, json_integer(ps->now));
            fl_log(FL_LOG_INFO, "prop", "binding %s: copy in %s unhealthy (tolerated %llds)", key,
                   cn, (long long)tol);
            watching = true;
            continue;
        }
        if (ps->now - json_integer_value(since) >= tol * 1000)
            json_object_set_new(evictions, cn, json_string("app"));
        else
            watching = true;
    }
    return watching;
}

/* A core/v1 Event on the binding (host wave), unless the same reason and
 * message was the last one sent for it. */
static void binding_event(pass *ps, const char *key, const char *ns, const char *bname,
                          const char *type, const char *reason, const char *msg)
{
    fl_sched_prop *p = ps->p;
    char h[20], ts[32], evname[700], path[700], hk[800];
    json_t *sig = json_pack("[s,s]", reason, msg);
    fp_of(sig, h);
    json_decref(sig);
    if (!strcmp(fl_obj_str_or(p->last_event, key, ""), h))
        return;
    json_object_set_new(p->last_event, key, json_string(h));
    rfc3339(ts);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(evname, sizeof evname, "%.500s.%llx", bname,
             (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec);
    const char *evns = ns[0] ? ns : "default";
    json_t *ev =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},"
                  "s:s,s:s,s:i}",
                  "apiVersion", "v1", "kind", "Event", "metadata", "name", evname, "namespace",
                  evns, "involvedObject", "apiVersion", "work.karmada.io/v1alpha2", "kind",
                  ns[0] ? "ResourceBinding" : "ClusterResourceBinding", "namespace", ns, "name",
                  bname, "type", type, "reason", reason, "message", msg, "source", "component",
                  "flotilla-scheduler", "firstTimestamp", ts, "lastTimestamp", ts, "count", 1);
    if (!ev)
        return;
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", evns);
    snprintf(hk, sizeof hk, "_host/ev/%s", evname);
    job(ps->host_jobs, "_host", FL_KUBE_POST, path, ev, hk, h);
    json_decref(ev);
}

/* Remember a change of placement (under p->mu); the oldest goes past the cap. */
static void note_event(fl_sched_prop *p, const char *kind, const char *ns, const char *name,
                       const json_t *clusters, int evicted)
{
    if (!p->events && !(p->events = json_array()))
        return;
    json_t *e = json_pack("{s:I,s:s,s:s,s:s,s:O,s:i}", "time", (json_int_t)fl_now_ms(), "kind",
                          kind, "namespace", ns, "name", name, "clusters", (json_t *)clusters,
                          "evicted", evicted);
    if (!e || json_array_append_new(p->events, e))
        return;
    while (json_array_size(p->events) > PROP_EVENTS_MAX)
        json_array_remove(p->events, 0);
}

int fl_sched_prop_events(fl_sched_prop *p, json_t **out)
{
    pthread_mutex_lock(&p->mu);
    json_t *e = p->events ? json_deep_copy(p->events) : json_array();
    pthread_mutex_unlock(&p->mu);
    if (!e)
        return -ENOMEM;
    *out = e;
    return 0;
}

int fl_sched_prop_events_restore(fl_sched_prop *p, const json_t *items)
{
    if (!items || !json_is_array(items) || !json_array_size(items))
        return 0;
    json_t *e = json_deep_copy(items);
    if (!e)
        return -ENOMEM;
    pthread_mutex_lock(&p->mu);
    int rc = p->events ? json_array_extend(e, p->events) : 0;
    if (rc == 0) {
        while (json_array_size(e) > PROP_EVENTS_MAX)
            json_array_remove(e, 0);
        json_decref(p->events);
        p->events = e;
        e = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    json_decref(e);
    return rc ? -ENOMEM : 0;
}

/* The binding of template ns/name of kind k: its name and "ns/name" key. */
static void binding_key(const tkind *k, const char *ns, const char *name, char *bname, size_t bn,
                        char *key, size_t kn)
{
    snprintf(bname, bn, "%s-%s", name, k->kind);
    lower(bname);
    snprintf(key, kn, "%s/%s", ns, bname);
}

/* What a look at a template found, for the passes that skip it: its and its
 * binding's resourceVersions, whether the binding is in force (seen), the
 * clusters that keep copies (want); hot: look again next pass. */
static void remember(pass *ps, size_t ki, const json_t *tmpl, const char *key, const json_t *rb,
                     json_t *want, bool seen, bool hot)
{
    fl_sched_prop *p = ps->p;
    /* a cluster left the clusters that keep copies: cleanup looks at its copies */
    const json_t *had = json_object_get(json_object_get(p->bst, key), "want");
    const char *cn;
    json_t *x;
    bool shrunk = !had;
    json_object_foreach((json_t *)had, cn, x) {
        if (!json_object_get(want, cn))
            shrunk = true;
    }
    if (shrunk || !seen)
        json_object_set_new(ps->shrunk, key, json_true());
    json_t *b = json_pack("{s:s,s:s,s:b,s:i,s:s,s:s,s:O}", "trv",
                          fl_obj_str_or(tmpl, "metadata.resourceVersion", ""), "brv",
                          fl_obj_str_or(rb, "metadata.resourceVersion", "-"), "seen", seen, "ki",
                          (int)ki, "ns", fl_obj_str_or(tmpl, "metadata.namespace", ""), "name",
                          fl_obj_str_or(tmpl, "metadata.name", ""), "want", want);
    if (b)
        json_object_set_new(p->bst, key, b);
    else
        json_object_del(p->bst, key); /* looked at again next pass */
    if (hot)
        json_object_set_new(ps->hot, key, json_true());
    if (!seen)
        json_object_del(p->dep_contrib, key);
}

/* Add to set (name -> true) the clusters holding copies of binding rb: its
 * clusters, and the clusters evicted from that keep theirs while the task
 * lasts. */
static void add_holders(json_t *set, const json_t *rb)
{
    size_t i;
    const json_t *c;
    json_array_foreach(fl_obj_get(rb, "spec.clusters"), i, c)
        json_object_set_new(set, fl_obj_str_or(c, "name", ""), json_true());
    json_array_foreach(fl_obj_get(rb, "spec.gracefulEvictionTasks"), i, c)
        json_object_set_new(set, fl_obj_str_or(c, "fromCluster", ""), json_true());
}

/* A member's failover phase as the bindings that hold it see it: a Ready
 * member recovering is, to its holders, as one that never failed, and a
 * tainted one (NoSchedule, which a holder's filter skips) as a failing
 * one; the decision is the same (candidates()). To the others
 * a member counts when it may take new work (ready_gen). */
static int held_phase(int phase)
{
    return phase == PH_RECOVERING ? PH_TRUSTED : phase == PH_TAINTED ? PH_FAILING : phase;
}

/* What a binding says, for fingerprints: hashes of its spec and of status
 * ("-": no binding). */
static void binding_sig(const json_t *rb, const json_t *status, char out[40])
{
    char a[20], b[20];
    if (!rb) {
        snprintf(out, 40, "-");
        return;
    }
    fp_of(json_object_get(rb, "spec"), a);
    fp_of(status, b);
    snprintf(out, 40, "%s%s", a, b);
}

/* The body of a write of binding rb: a shallow copy (its spec or status
 * is replaced, not changed in place) with its own metadata (annotations
 * may be set), without "_seen". rb is left as it is. */
static json_t *binding_body(const json_t *rb)
{
    json_t *body = json_copy((json_t *)rb);
    if (!body)
        return NULL;
    json_object_del(body, "_seen");
    json_t *meta = json_object_get(rb, "metadata");
    if (meta)
        json_object_set_new(body, "metadata", json_deep_copy(meta));
    return body;
}

/* statePreservation: the labels the policy's rules preserve from the copy
 * in the evicted cluster cn (its status as the index last saw it, else the
 * binding's aggregatedStatus entry), and the clusters the binding held
 * before (prev), set on task (Karmada's preservedLabelState and
 * clustersBeforeFailover). A rule that fails leaves the task without them
 * (logged): the eviction goes on. */
static void preserve_state(pass *ps, size_t ki, const json_t *pol, bool app, const char *key,
                           const char *ns, const char *name, const char *cn, const json_t *prev,
                           const json_t *old_status, json_t *task)
{
    char okey[700];
    snprintf(okey, sizeof okey, "%s/%s/%s", cn, ns, name);
    const json_t *st =
        fl_obj_get(json_object_get(json_object_get(ps->obs[ki], okey), "obj"), "status");
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(old_status, "aggregatedStatus"), i, e) {
        if (!st && !strcmp(fl_obj_str_or(e, "clusterName", ""), cn))
            st = json_object_get(e, "status");
    }
    json_t *empty = json_object();
    fl_err err = FL_ERR_INIT;
    json_t *labels = fl_sched_preserve_state(pol, app, st ? st : empty, &err);
    json_decref(empty);
    if (!labels) {
        if (err.code)
            fl_log(FL_LOG_WARN, "prop", "binding %s: eviction from %s preserves no state: %s", key,
                   cn, err.msg);
        return;
    }
    json_t *names = json_array();
    json_array_foreach(prev, i, e)
        json_array_append_new(names, json_string(fl_obj_str_or(e, "name", "")));
    json_object_set_new(task, "preservedLabelState", labels);
    json_object_set_new(task, "clustersBeforeFailover", names);
}

/* Whether a first schedule should wait: at the daemon's start, a member's
 * health is not known yet (no probe answered: for at most SYNC_WAIT_MS
 * from the start), or a Ready member's capacity is not in the index yet
 * (its nodes and pods are being listed: at most SYNC_WAIT_MS after it
 * became Ready). Decided now, the workload would skip that member for good
 * (later decisions keep the replicas where they are), or fail with no
 * cluster at all. */
static bool capacity_pending(const pass *ps)
{
    for (size_t i = 0; i < ps->p->nm; i++) {
        const member *m = &ps->p->m[i];
        if (!m->probed && ps->now - ps->p->start_ms < SYNC_WAIT_MS)
            return true;
        if (!m->synced && !strcmp(m->health, "Ready") && ps->now - m->since < SYNC_WAIT_MS)
            return true;
    }
    return false;
}

/* One template: decide, write the member objects, build the binding. */
static void do_template(pass *ps, const tkind *k, size_t ki, const json_t *tmpl)
{
    fl_sched_prop *p = ps->p;
    const char *ns = fl_obj_str_or(tmpl, "metadata.namespace", "");
    const char *name = fl_obj_str_or(tmpl, "metadata.name", "");
    const char *uid = fl_obj_str_or(tmpl, "metadata.uid", "");
    char bname[600], key[700];
    binding_key(k, ns, name, bname, sizeof bname, key, sizeof key);
    json_t *want = json_object(); /* clusters that keep copies */
    json_t *rb = json_object_get(ps->rbs, key);
    const json_t *pol = NULL;
    char dkey[700];
    snprintf(dkey, sizeof dkey, "%s/%s/%s", k->kind, ns, name);
    const json_t *dep = k->dep ? json_object_get(ps->deps, dkey) : NULL;
    json_t *dep_pol = NULL; /* the placement of a dependency that no policy claims */
    if (!fl_obj_get(tmpl, "metadata.deletionTimestamp")) {
        pol = fl_sched_choose_policy(ps->policies, tmpl);
        if (!pol && dep)
            pol = dep_pol = dep_policy(tmpl, k, dep);
    }
    char rbkey[800];
    snprintf(rbkey, sizeof rbkey, "_host/rb/%s", key);
    /* no binding yet: wait for the members' capacity, or for the index to
     * show the binding this controller created (deciding again could
     * create it differently: the first write wins) */
    if (!pol || (!rb && (capacity_pending(ps) || json_object_get(p->inflight, rbkey)))) {
        remember(ps, ki, tmpl, key, rb, want, false, pol != NULL);
        if (pol)
            ps->next_soon = true;
        json_decref(want);
        json_decref(dep_pol);
        return;
    }
    if (rb)
        json_object_set_new(ps->seen, key, json_true());
    /* a template whose inputs are those of a pass that needed nothing is skipped */
    fl_buf fp = FL_BUF_INIT(1u << 20);
    /* the binding by what it says (spec and status), not its resourceVersion:
     * a status write of ours, once indexed, gives the fingerprint it was
     * written with (below) and is not decided again */
    char rbsig[40];
    binding_sig(rb, json_object_get(rb, "status"), rbsig);
    fl_buf_printf(&fp, "%s|%s|", ps->inputs, fl_obj_str_or(tmpl, "metadata.resourceVersion", ""));
    size_t rbsig_at = fp.len;
    fl_buf_printf(&fp, "%s|%s|%s|%s", rbsig, fl_obj_str_or(pol, "metadata.name", ""),
                  fl_obj_str_or(pol, "metadata.uid", ""),
                  fl_obj_str_or(pol, "metadata.resourceVersion", ""));
    if (!fl_obj_str(pol, "metadata.resourceVersion")) {
        char ph[20];
        fp_of(pol, ph);
        fl_buf_printf(&fp, "|%s", ph);
    }
    /* members: the failover phase of those holding the binding (placed or
     * evicted from); of the others only how often they became able to take
     * new work, so a member that fails does not make the templates it does
     * not hold decided again */
    bool stable = true;
    json_t *holders = json_object();
    add_holders(holders, rb);
    for (size_t mi = 0; mi < p->nm; mi++) {
        const member *m = &p->m[mi];
        char okey0[700];
        snprintf(okey0, sizeof okey0, "%s/%s/%s", m->name, ns, name);
        bool held = json_object_get(holders, m->name) != NULL;
        if (held && m->phase != PH_TRUSTED)
            stable = false;
        if (held)
            fl_buf_printf(&fp, "|p%d", held_phase(m->phase));
        else
            fl_buf_printf(&fp, "|g%u", m->ready_gen);
        fl_buf_printf(&fp, ":%s", fl_obj_str_or(json_object_get(ps->obs[ki], okey0), "rv", ""));
    }
    json_decref(holders);
    if (dep) {
        char *d = json_dumps(dep, JSON_COMPACT | JSON_SORT_KEYS);
        fl_buf_printf(&fp, "|%s", d ? d : "");
        free(d);
    }
    {
        /* eviction tasks whose grace period has passed: decided again then */
        size_t ti, expired = 0;
        const json_t *tt;
        json_array_foreach(fl_obj_get(rb, "spec.gracefulEvictionTasks"), ti, tt)
            expired +=
                fl_sched_task_done(tt, false, p->o.eviction_timeout_ms / 1000, (int64_t)time(NULL));
        fl_buf_printf(&fp, "|e%zu", expired);
    }
    const char *fps = fp.data ? fp.data : "";
    /* custom NoExecute tolerations end at their own times: no skipping then */
    bool may_skip =
        stable || !json_array_size(fl_obj_get(pol, "spec.placement.clusterTolerations"));
    if (may_skip && rb && !strcmp(fl_obj_str_or(p->settled, key, "?"), fps)) {
        add_holders(want, rb);
        fl_buf_done(&fp);
        note_deps(ps, tmpl, pol, key,
                  json_object_get(rb, "spec") ? fl_obj_get(rb, "spec.clusters") : NULL);
        remember(ps, ki, tmpl, key, rb, want, true,
                 json_array_size(fl_obj_get(rb, "spec.gracefulEvictionTasks")) > 0);
        json_decref(want);
        json_decref(dep_pol);
        return;
    }
    json_t *ojobs = k->dep ? ps->dep_jobs : ps->obj_jobs;
    size_t jobs_before = json_array_size(ps->obj_jobs) + json_array_size(ps->dep_jobs) +
                         json_array_size(ps->host_jobs) + json_object_size(ps->ns_jobs);
    const json_t *placement = fl_obj_get(pol, "spec.placement");
    const json_t *prev = fl_obj_get(rb, "spec.clusters");
    json_t *all = json_object(), *answer = NULL, *req = NULL, *clusters = NULL;
    int evicted = 0, deferred = 0;
    /* cluster name -> "app" | "taint": clusters whose replicas leave in this decision */
    json_t *evictions = json_object();
    bool watching = app_failover(ps, ki, pol, key, ns, name, prev, evictions);
    int64_t evicted_age = 0;
    json_t *cands =
        candidates(ps, placement, prev, all, evictions, &evicted, &evicted_age, &deferred);
    add_available(ps, tmpl, cands);
    req = json_pack("{s:s,s:O,s:O,s:O,s:o}", "op", "place", "template", tmpl, "policy", pol,
                    "clusters", cands, "previous",
                    json_is_array(prev) ? json_incref((json_t *)prev) : json_array());
    if (req && rb)
        json_object_set(req, "binding", rb);
    qctx qc = {p, uid, prev};
    fl_sched_quota hook = {q_reserve, &qc};
    fl_err err = FL_ERR_INIT;
    int64_t t_place = fl_mono_us();
    answer = req ? fl_sched_op_place(req, p->o.quota.reserve ? &hook : NULL, &err) : NULL;
    t_place = fl_mono_us() - t_place;
    const char *emsg = fl_obj_str(answer, "error");
    bool ok = answer && !emsg;
    clusters = ok                    ? json_incref(json_object_get(answer, "clusters"))
               : json_is_array(prev) ? json_incref((json_t *)prev)
                                     : json_array();
    if (dep) {
        /* a dependency also goes wherever the workloads that need it are */
        json_t *u = json_deep_copy(clusters);
        const char *cn;
        json_t *v;
        json_object_foreach(json_object_get(dep, "clusters"), cn, v) {
            if (prev_of(u, cn) < 0)
                json_array_append_new(u, json_pack("{s:s,s:i}", "name", cn, "replicas", 0));
        }
        json_decref(clusters);
        clusters = u;
    }
    note_deps(ps, tmpl, pol, key, clusters); /* refused: the previous placement stays */
    ps->n_decide++;
    pthread_mutex_lock(&p->mu);
    p->st.decisions++;
    p->st.unschedulable += !ok;
    p->st.decide_us += (uint64_t)t_place;
    if (ok && evicted) {
        p->st.evictions += (uint64_t)evicted;
        p->st.failover_ms += (uint64_t)evicted_age;
    }
    if (ok && !json_equal(clusters, json_is_array(prev) ? (json_t *)prev : NULL))
        note_event(p, k->kind, ns, name, clusters, evicted);
    pthread_mutex_unlock(&p->mu);
    /* quota: release clusters no longer assigned */
    size_t i;
    const json_t *t;
    json_array_foreach(prev, i, t) {
        const char *cn = fl_obj_str_or(t, "name", "");
        if (ok && prev_of(clusters, cn) < 0 && p->o.quota.release)
            q_release(p, ns, uid, cn);
    }
    bool suspended = json_is_true(fl_obj_get(pol, "spec.suspension.dispatching"));
    const char *conflict = fl_obj_str_or(pol, "spec.conflictResolution", "Abort");
    json_t *agg = json_array(), *sum = json_object();
    copies cp = {NULL, 0, ""};
    /* evictions: a gracefulEvictionTask per evicted cluster (made before
     * the copies: the last task's preserved state goes into the labels of
     * the copies in clusters the workload was not in before) */
    const json_t *old_status = json_object_get(rb, "status");
    char nowts[32];
    rfc3339(nowts);
    json_t *newtasks = json_array();
    char change[600] = "";
    if (ok && evicted) {
        const char *cn;
        json_t *why;
        json_object_foreach(evictions, cn, why) {
            bool app = !strcmp(json_string_value(why), "app");
            int64_t had = prev_of(prev, cn);
            if (had < 0)
                continue;
            char msg[300];
            snprintf(msg, sizeof msg,
                     app ? "workload unhealthy in cluster %s for %llds"
                         : "cluster %s has an untolerated NoExecute taint",
                     cn, (long long)(app ? fl_sched_app_toleration_s(pol) : 0));
            json_t *task = fl_sched_evict_task(pol, cn, had, app, msg, nowts);
            if (task)
                preserve_state(ps, ki, pol, app, key, ns, name, cn, prev, old_status, task);
            if (task)
                json_array_append_new(newtasks, task);
            size_t cl = strlen(change);
            snprintf(change + cl, sizeof change - cl, "%s%s evicted (%s, purge %s)", cl ? "; " : "",
                     cn, app ? "ApplicationFailure" : "TaintUntolerated",
                     task ? fl_obj_str_or(task, "purgeMode", "") : "Directly");
            char bk[800];
            snprintf(bk, sizeof bk, "%s|%s", key, cn);
            json_object_del(p->app_bad, bk);
        }
    }
    const json_t *lt =
        json_array_size(newtasks)
            ? json_array_get(newtasks, json_array_size(newtasks) - 1)
            : json_array_get(fl_obj_get(rb, "spec.gracefulEvictionTasks"),
                             json_array_size(fl_obj_get(rb, "spec.gracefulEvictionTasks")) - 1);
    const json_t *preserved = json_object_get(lt, "preservedLabelState");
    if (!json_object_size(preserved))
        preserved = NULL;
    json_t *before = json_object(); /* lt's clustersBeforeFailover, as a set */
    json_array_foreach(json_object_get(lt, "clustersBeforeFailover"), i, t)
        json_object_set_new(before, json_string_value(t) ? json_string_value(t) : "", json_true());
    bool status_only = false; /* the binding's one write is its status */
    size_t fresh = 0;         /* member writes queued here that are not failing */
    bool all_applied = !suspended;
    char emsg2[300] = "";
    json_array_foreach(clusters, i, t) {
        const char *cn = fl_obj_str_or(t, "name", "");
        int64_t reps = json_integer_value(json_object_get(t, "replicas"));
        char okey[700], hash[20], path[900], rv[128];
        json_object_set_new(want, cn, json_true());
        member *m = member_of(p, cn);
        const json_t *cl = json_object_get(all, cn);
        json_t *entry = json_pack("{s:s,s:b}", "clusterName", cn, "applied", 0);
        json_array_append_new(agg, entry);
        if (!m || suspended)
            continue;
        json_object_set_new(entry, "health", json_string("Unknown"));
        fl_err oe = FL_ERR_INIT;
        json_t *obj = NULL;
        const json_t *extra = preserved && !json_object_get(before, cn) ? preserved : NULL;
        if (copy_hash(ps, &cp, tmpl, cl, reps, extra, ns, bname, key, cn, hash, &obj, &oe) != 0) {
            all_applied = false;
            json_object_set_new(entry, "applied", json_false());
            snprintf(emsg2, sizeof emsg2, "override: %s", oe.msg);
            continue;
        }
        snprintf(okey, sizeof okey, "%s/%s/%s", cn, ns, name);
        const json_t *ob = json_object_get(ps->obs[ki], okey);
        const char *have =
            ob ? meta_str(json_object_get(ob, "obj"), "annotations", ANN_HASH) : NULL;
        if (have && !strcmp(have, hash)) {
            json_t *st = fl_obj_get(json_object_get(ob, "obj"), "status");
            json_object_set_new(entry, "applied", json_true());
            if (!strcmp(m->health, "Ready"))
                json_object_set_new(entry, "health",
                                    json_string(fl_sched_copy_health(json_object_get(ob, "obj"))));
            if (json_is_object(st))
                json_object_set_new(entry, "status", reflect_status(st));
            sum_status(sum, st);
            json_object_del(p->inflight, okey);
            json_decref(obj);
            continue;
        }
        all_applied = false;
        if (strcmp(m->health, "Ready")) {
            json_decref(obj);
            continue;
        }
        if (!obj && !(obj = build_copy(ps, &cp, tmpl, cl, reps, extra, ns, bname, hash, &oe))) {
            json_object_set_new(entry, "applied", json_false());
            snprintf(emsg2, sizeof emsg2, "override: %s", oe.msg);
            continue;
        }
        char nskey[600];
        snprintf(nskey, sizeof nskey, "%s/%s", cn, ns);
        json_t *have_ns = ns[0] ? json_object_get(ps->ns_have, nskey) : json_true();
        if (!have_ns) {
            have_ns = json_boolean(index_has(ps->r, cn, "", "namespaces", "", ns, NULL));
            json_object_set_new(ps->ns_have, nskey, have_ns);
        }
        if (!json_is_true(have_ns) && !json_object_get(ps->ns_jobs, nskey)) {
            json_t *nso = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                                    "metadata", "name", ns);
            json_object_set_new(ps->ns_jobs, nskey, nso);
        }
        coll_path(k, ns, path, sizeof path);
        size_t nj0 = json_array_size(ojobs);
        if (ob) {
            json_object_set_new(fl_obj_ensure(obj, "metadata"), "resourceVersion",
                                json_string(fl_obj_str_or(ob, "rv", "")));
            size_t pl = strlen(path);
            snprintf(path + pl, sizeof path - pl, "/%s", name);
            job(ojobs, cn, FL_KUBE_PUT, path, obj, okey, hash);
        } else if (index_has(ps->r, cn, k->group, k->resource, ns, name, rv)) {
            if (!strcmp(conflict, "Overwrite")) {
                json_object_set_new(fl_obj_ensure(obj, "metadata"), "resourceVersion",
                                    json_string(rv));
                size_t pl = strlen(path);
                snprintf(path + pl, sizeof path - pl, "/%s", name);
                job(ojobs, cn, FL_KUBE_PUT, path, obj, okey, hash);
            } else {
                snprintf(emsg2, sizeof emsg2,
                         "%s %s/%s already exists in cluster %s and conflictResolution is Abort",
                         k->kind, ns, name, cn);
            }
        } else {
            job(ojobs, cn, FL_KUBE_POST, path, obj, okey, hash);
        }
        if (json_array_size(ojobs) > nj0 && !json_object_get(p->retry, okey))
            fresh++; /* a write on its way (not one failing) */
        if (!strcmp(k->kind, "Secret") && json_array_size(ojobs)) {
            /* the index keeps no Secret data: read it from the host before the wave */
            char hp[900];
            coll_path(k, ns, hp, sizeof hp);
            size_t hl = strlen(hp);
            snprintf(hp + hl, sizeof hp - hl, "/%s", name);
            json_t *last = json_array_get(ojobs, json_array_size(ojobs) - 1);
            if (!strcmp(fl_obj_str_or(last, "key", ""), okey)) {
                json_object_set_new(last, "fetch", json_string(hp));
                json_object_set_new(ps->fetched, hp, json_null());
            }
        }
        json_decref(obj);
    }
    /* graceful eviction: evicted clusters keep their copies until the new
     * placement is healthy or the grace period ends */
    bool healthy = ok && json_array_size(agg) > 0;
    json_array_foreach(agg, i, t) {
        if (strcmp(fl_obj_str_or(t, "health", ""), "Healthy"))
            healthy = false;
    }
    json_t *tasks = json_array();
    json_array_foreach(fl_obj_get(rb, "spec.gracefulEvictionTasks"), i, t) {
        const char *from = fl_obj_str_or(t, "fromCluster", "");
        if (prev_of(clusters, from) >= 0 ||
            fl_sched_task_done(t, healthy, p->o.eviction_timeout_ms / 1000, (int64_t)time(NULL)))
            continue;
        json_array_append(tasks, (json_t *)t);
    }
    json_array_extend(tasks, newtasks);
    json_array_foreach(tasks, i, t)
        json_object_set_new(want, fl_obj_str_or(t, "fromCluster", ""), json_true());
    if (watching)
        ps->next_soon = true;
    /* the binding */
    json_t *conds = json_array();
    char smsg[1200];
    snprintf(smsg, sizeof smsg, "%s",
             ok     ? "Binding has been scheduled successfully."
             : emsg ? emsg
                    : err.msg);
    json_array_append_new(
        conds, cond(old_status, "Scheduled", ok,
                    ok ? "Success" : fl_obj_str_or(answer, "reason", "SchedulerError"), smsg));
    json_array_append_new(conds,
                          cond(old_status, "FullyApplied", all_applied && json_array_size(clusters),
                               all_applied ? "FullyAppliedSuccess"
                               : suspended ? "Suspended"
                                           : "FullyAppliedFailed",
                               all_applied ? "All works have been successfully applied"
                               : emsg2[0]  ? emsg2
                                           : "Works are being applied"));
    json_t *status = json_pack("{s:o,s:o}", "conditions", conds, "aggregatedStatus", agg);
    json_t *reqs = fl_sched_requests_json(fl_obj_get(tmpl, "spec.template.spec"));
    json_t *spec = json_pack("{s:{s:s,s:s,s:s,s:s,s:s},s:I,s:O,s:O?,s:s,s:b}", "resource",
                             "apiVersion", fl_obj_str_or(tmpl, "apiVersion", ""), "kind", k->kind,
                             "namespace", ns, "name", name, "uid", uid, "replicas",
                             (json_int_t)json_integer_value(fl_obj_get(tmpl, "spec.replicas")),
                             "clusters", clusters, "placement", (json_t *)placement,
                             "conflictResolution", conflict, "preserveResourcesOnDeletion",
                             json_is_true(fl_obj_get(pol, "spec.preserveResourcesOnDeletion")));
    if (spec && json_object_size(reqs))
        json_object_set_new(spec, "replicaRequirements",
                            json_pack("{s:O}", "resourceRequest", reqs));
    json_decref(reqs);
    if (spec && json_array_size(tasks))
        json_object_set(spec, "gracefulEvictionTasks", tasks);
    if (spec && dep)
        json_object_set(spec, "requiredBy", json_object_get(dep, "requiredBy"));
    if (spec && json_is_true(fl_obj_get(pol, "spec.propagateDeps")))
        json_object_set_new(spec, "propagateDeps", json_true());
    /* the reason for the last change of the placement */
    if (ok && !change[0] && !json_equal(prev, clusters))
        snprintf(change, sizeof change, "%s",
                 !rb ? "first schedule"
                 : json_integer_value(fl_obj_get(rb, "spec.replicas")) !=
                         json_integer_value(fl_obj_get(tmpl, "spec.replicas"))
                     ? "replicas changed"
                 : !json_equal(fl_obj_get(rb, "spec.placement"), placement)
                     ? "placement policy changed"
                     : "candidate clusters or their capacity changed");
    if (change[0]) {
        char *from = prev ? json_dumps(prev, JSON_COMPACT) : NULL;
        char *to = json_dumps(clusters, JSON_COMPACT);
        char full[1800];
        snprintf(full, sizeof full, "%s: %s -> %s", change, from ? from : "[]", to ? to : "[]");
        free(from);
        free(to);
        json_object_set_new(status, "lastScheduledTime", json_string(nowts));
        binding_event(ps, key, ns, bname, "Normal", "ScheduleBindingSucceed", full);
        snprintf(change, sizeof change, "%.*s", (int)(sizeof change - 1), full);
    } else if (!ok) {
        binding_event(ps, key, ns, bname, "Warning", "ScheduleBindingFailed", smsg);
    }
    if (!change[0] && json_is_string(fl_obj_get(old_status, "lastScheduledTime")))
        json_object_set(status, "lastScheduledTime", fl_obj_get(old_status, "lastScheduledTime"));
    else if (!change[0] && ok)
        json_object_set_new(status, "lastScheduledTime", json_string(nowts));
    char rbpath[900], hk[800];
    binding_path(ns, NULL, rbpath, sizeof rbpath);
    if (!rb) {
        json_t *body =
            json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:O}", "apiVersion", "work.karmada.io/v1alpha2",
                      "kind", ns[0] ? "ResourceBinding" : "ClusterResourceBinding", "metadata",
                      "name", bname, "namespace", ns, "labels", LBL_MANAGED, "true", "spec", spec);
        if (body && !ns[0])
            json_object_del(json_object_get(body, "metadata"), "namespace");
        if (body && change[0])
            fl_obj_set_annotation(body, ANN_CHANGE, change);
        char h[20];
        fp_of(body, h);
        snprintf(hk, sizeof hk, "_host/rb/%s", key);
        job(ps->host_jobs, "_host", FL_KUBE_POST, rbpath, body, hk, h);
        json_decref(body);
        ps->next_soon = true;
        if (ok) {
            char *d = json_dumps(clusters, JSON_COMPACT);
            fl_log(FL_LOG_INFO, "prop", "binding %s: clusters %s (first schedule)", key,
                   d ? d : "?");
            free(d);
        }
    } else if (!json_equal(json_object_get(rb, "spec"), spec)) {
        json_t *body = binding_body(rb);
        json_object_set(body, "spec", spec);
        if (body && change[0])
            fl_obj_set_annotation(body, ANN_CHANGE, change);
        char h[20];
        fp_of(body, h);
        snprintf(hk, sizeof hk, "_host/rb/%s", key);
        size_t pl = strlen(rbpath);
        snprintf(rbpath + pl, sizeof rbpath - pl, "/%s", bname);
        job(ps->host_jobs, "_host", FL_KUBE_PUT, rbpath, body, hk, h);
        json_decref(body);
        if (ok && !json_equal(json_object_get(rb, "spec") ? fl_obj_get(rb, "spec.clusters") : NULL,
                              clusters)) {
            char *d = json_dumps(clusters, JSON_COMPACT);
            fl_log(FL_LOG_INFO, "prop", "binding %s: clusters %s", key, d ? d : "?");
            free(d);
        }
    } else if (!json_equal(old_status, status) && !((fresh || evict_soon(ps, placement, prev)) &&
                                                    same_cond(old_status, status, "Scheduled"))) {
        /* with member writes on their way (and the decision unchanged) the
         * status would say "being applied" for the moment they take: it is
         * written once they show in the index (the copies changing bring
         * the template back), or once one fails (it says so then) */
        json_t *body = binding_body(rb);
        json_object_set(body, "status", status);
        char h[20];
        fp_of(body, h);
        snprintf(hk, sizeof hk, "_host/rbs/%s", key);
        size_t pl = strlen(rbpath);
        snprintf(rbpath + pl, sizeof rbpath - pl, "/%s/status", bname);
        job(ps->host_jobs, "_host", FL_KUBE_PUT, rbpath, body, hk, h);
        json_decref(body);
        status_only = true;
    }
    /* the template's status: the members' summed */
    if (json_object_size(sum) && !suspended && !k->dep && !k->cluster &&
        strcmp(k->resource, "services")) {
        const json_t *ts = json_object_get(tmpl, "status");
        bool diff = false;
        const char *f;
        json_t *v;
        json_object_foreach(sum, f, v)
            if (!json_equal(json_object_get(ts, f), v))
                diff = true;
        if (diff) {
            json_t *body = json_copy((json_t *)tmpl); /* shallow: only its status is replaced */
            json_t *nst = json_is_object(ts) ? json_deep_copy(ts) : json_object();
            json_object_update(nst, sum);
            json_object_set_new(
                nst, "observedGeneration",
                json_integer(json_integer_value(fl_obj_get(tmpl, "metadata.generation"))));
            json_object_set_new(body, "status", nst);
            char tp[900], h[20];
            coll_path(k, ns, tp, sizeof tp);
            size_t pl = strlen(tp);
            snprintf(tp + pl, sizeof tp - pl, "/%s/status", name);
            fp_of(body, h);
            snprintf(hk, sizeof hk, "_host/ts/%s/%s", k->resource, key);
            job(ps->host_jobs, "_host", FL_KUBE_PUT, tp, body, hk, h);
            json_decref(body);
        }
    }
    size_t jobs_after = json_array_size(ps->obj_jobs) + json_array_size(ps->dep_jobs) +
                        json_array_size(ps->host_jobs) + json_object_size(ps->ns_jobs);
    bool settled =
        ok && all_applied && !evicted && !deferred && !watching && jobs_after == jobs_before && rb;
    /* the one write is the binding's status: settled as the binding will
     * be once the index has it (looked at then, not decided again) */
    bool settles_when_written = ok && all_applied && !evicted && !deferred && !watching && rb &&
                                fp.data && status_only && jobs_after == jobs_before + 1;
    if (settled) {
        json_object_set_new(p->settled, key, json_string(fps));
    } else if (settles_when_written) {
        char sig2[40];
        binding_sig(rb, status, sig2);
        size_t old_len = strlen(rbsig);
        fl_buf f2 = FL_BUF_INIT(1u << 20);
        fl_buf_printf(&f2, "%.*s%s%s", (int)rbsig_at, fps, sig2, fps + rbsig_at + old_len);
        if (f2.data)
            json_object_set_new(p->settled, key, json_string(f2.data));
        else
            json_object_del(p->settled, key);
        fl_buf_done(&f2);
    } else {
        json_object_del(p->settled, key);
    }
    /* the binding as it will be: the clusters keep their copies; a binding
     * being written is looked at again (rb is seen as the index has it) */
    remember(ps, ki, tmpl, key, rb, want, rb != NULL,
             !settled || !may_skip || json_array_size(tasks) > 0);
    if (settles_when_written && may_skip && !json_array_size(tasks)) {
        /* nothing to look at again until the index has the status write
         * (the binding changes then), unless the write did not succeed */
        char wk[800];
        snprintf(wk, sizeof wk, "_host/rbs/%s", key);
        json_object_set_new(ps->hot, key, json_string(wk));
    }
    json_decref(want);
    fl_buf_done(&fp);
    json_decref(tasks);
    json_decref(newtasks);
    json_decref(before);
    json_decref(evictions);
    json_decref(dep_pol);
    json_decref(sum);
    json_decref(status);
    json_decref(spec);
    json_decref(clusters);
    json_decref(answer);
    json_decref(req);
    json_decref(cands);
    json_decref(all);
    json_decref(cp.base);
}

/* The member copy okey of kind ki, unless its binding still assigns it
 * there: deleted (when its cluster is Ready), unless the binding is gone
 * and asked to preserve it. busy gets the bindings with copies left. */
static void cleanup_one(pass *ps, size_t ki, const char *okey, const json_t *ob, json_t *busy)
{
    fl_sched_prop *p = ps->p;
    const json_t *o = json_object_get(ob, "obj");
    const char *cn = fl_obj_str_or(ob, "cluster", "");
    const char *bns = meta_str(o, "annotations", ANN_BNS);
    const char *bn = meta_str(o, "annotations", ANN_BNAME);
    char bkey[600];
    snprintf(bkey, sizeof bkey, "%s/%s", bns, bn);
    bool gone = !json_object_get(ps->seen, bkey);
    if (!gone && json_object_get(fl_obj_get(json_object_get(p->bst, bkey), "want"), cn))
        return;
    const json_t *rb = json_object_get(ps->rbs, bkey);
    /* no binding: its template went with preserveResourcesOnDeletion (a
     * binding is deleted only once its copies are, otherwise) */
    if (!rb)
        return;
    if (gone && json_is_true(fl_obj_get(rb, "spec.preserveResourcesOnDeletion")))
        return;
    json_object_set_new(busy, bkey, json_true());
    member *m = member_of(p, cn);
    if (!m || strcmp(m->health, "Ready")) {
        ps->next_soon = true;
        return;
    }
    char path[900];
    coll_path(&KINDS[ki], fl_obj_str_or(o, "metadata.namespace", ""), path, sizeof path);
    size_t pl = strlen(path);
    snprintf(path + pl, sizeof path - pl, "/%s", fl_obj_str_or(o, "metadata.name", ""));
    job(ps->obj_jobs, cn, FL_KUBE_DELETE, path, NULL, okey, "delete");
}

static int kind_index(const char *kind)
{
    for (size_t ki = 0; ki < FL_ARRAY_LEN(KINDS); ki++)
        if (!strcmp(KINDS[ki].kind, kind))
            return (int)ki;
    return -1;
}

/* The copies binding bkey may have in the members, as keys of cand[ki]. */
static void binding_copies(pass *ps, const char *bkey, json_t **cand)
{
    const json_t *b = json_object_get(ps->p->bst, bkey);
    const json_t *rb = json_object_get(ps->rbs, bkey);
    int ki = b ? (int)json_integer_value(json_object_get(b, "ki"))
               : kind_index(fl_obj_str_or(rb, "spec.resource.kind", ""));
    const char *ns =
        b ? fl_obj_str_or(b, "ns", "") : fl_obj_str_or(rb, "spec.resource.namespace", "");
    const char *name =
        b ? fl_obj_str_or(b, "name", "") : fl_obj_str_or(rb, "spec.resource.name", "");
    if (ki < 0 || !name[0])
        return;
    for (size_t mi = 0; mi < ps->p->nm; mi++) {
        char okey[700];
        snprintf(okey, sizeof okey, "%s/%s/%s", ps->p->m[mi].name, ns, name);
        if (json_object_get(ps->obs[ki], okey))
            json_object_set_new(cand[ki], okey, json_true());
    }
}

/* Member objects whose binding no longer assigns them there: deleted
 * (cleanup_one). A full pass looks at every copy; the others at the copies
 * of the bindings that lost a cluster in this pass (or are new, or no
 * longer in force), of those with copies left, of those whose template is
 * gone, and at the copies that changed. Bindings
 * whose template is gone are deleted once their objects are. */
static void cleanup(pass *ps)
{
    fl_sched_prop *p = ps->p;
    json_t *busy = json_object(); /* "ns/bname" with objects still in members */
    json_t *cand[FL_ARRAY_LEN(KINDS)] = {NULL};
    if (!ps->full) {
        for (size_t ki = 0; ki < FL_ARRAY_LEN(KINDS); ki++) {
            cand[ki] = json_object();
            if (json_object_size(ps->obs_chg[ki]))
                json_object_update(cand[ki], ps->obs_chg[ki]);
        }
        const char *k;
        json_t *v;
        json_object_foreach(ps->shrunk, k, v)
            binding_copies(ps, k, cand);
        json_object_foreach(p->busy, k, v)
            binding_copies(ps, k, cand);
        json_object_foreach(ps->rbs, k, v) {
            if (!json_object_get(ps->seen, k))
                binding_copies(ps, k, cand);
        }
        size_t wl = ps->whole ? strlen(ps->whole) : 0;
        for (size_t ki = 0; wl && ki < FL_ARRAY_LEN(KINDS); ki++) {
            json_object_foreach(ps->obs[ki], k, v) {
                if (!strncmp(k, ps->whole, wl) && k[wl] == '/')
                    json_object_set_new(cand[ki], k, json_true());
            }
        }
    }
    for (size_t ki = 0; ki < FL_ARRAY_LEN(KINDS); ki++) {
        const char *okey;
        json_t *ob, *x;
        if (ps->full) {
            json_object_foreach(ps->obs[ki], okey, ob)
                cleanup_one(ps, ki, okey, ob, busy);
            continue;
        }
        json_object_foreach(cand[ki], okey, x) {
            if ((ob = json_object_get(ps->obs[ki], okey)))
                cleanup_one(ps, ki, okey, ob, busy);
        }
        json_decref(cand[ki]);
    }
    const char *bkey;
    json_t *rb;
    json_object_foreach(ps->rbs, bkey, rb) {
        if (json_object_get(ps->seen, bkey) || !json_is_object(rb) ||
            (json_object_get(busy, bkey) &&
             !json_is_true(fl_obj_get(rb, "spec.preserveResourcesOnDeletion"))))
            continue;
        if (strcmp(meta_str(rb, "labels", LBL_MANAGED), "true"))
            continue; /* not ours */
        char path[900], hk[800];
        binding_path(fl_obj_str_or(rb, "metadata.namespace", ""),
                     fl_obj_str_or(rb, "metadata.name", ""), path, sizeof path);
        snprintf(hk, sizeof hk, "_host/rbdel/%s", bkey);
        job(ps->host_jobs, "_host", FL_KUBE_DELETE, path, NULL, hk, "delete");
        json_object_del(p->last_event, bkey);
        json_object_del(p->settled, bkey);
        json_object_del(p->bst, bkey);
        if (p->o.quota.release) {
            size_t i;
            const json_t *t;
            json_array_foreach(fl_obj_get(rb, "spec.clusters"), i, t)
                q_release(p, fl_obj_str_or(rb, "metadata.namespace", ""),
                          fl_obj_str_or(rb, "spec.resource.uid", ""), fl_obj_str_or(t, "name", ""));
        }
    }
    json_decref(p->busy);
    p->busy = busy;
}

typedef struct fetch {
    fl_sched_prop *p;
    json_t *slot; /* the fetched map */
    char path[900];
} fetch;

static void fetch_done(fl_kube_req *rq, fl_kube_response *res, void *ud)
{
    (void)rq;
    fetch *f = ud;
    json_t *o = NULL;
    f->p->pending--;
    if (res->err == 0 && fl_json_parse(res->body.data, res->body.len, &o, NULL) == 0)
        json_object_set_new(f->slot, f->path, o);
    else
        fl_log(FL_LOG_WARN, "prop", "host GET %s: %s %s", f->path, res->reason, res->message);
    free(f);
}

/* Read the host objects named in ps->fetched (concurrently, one wave),
 * then complete the jobs that wait for them: Secret data and type into
 * the body; a job whose object could not be read is dropped (next pass). */
static json_t *fetch_wave(pass *ps, json_t *jobs)
{
    fl_sched_prop *p = ps->p;
    if (!json_object_size(ps->fetched))
        return json_incref(jobs);
    fl_kube_client *c = client_for(p, p->host_kubeconfig, p->host_context, &p->host, "host");
    const char *path;
    json_t *v;
    json_object_foreach(ps->fetched, path, v) {
        fetch *f = calloc(1, sizeof *f);
        if (!c || !f) {
            free(f);
            break;
        }
        f->p = p;
        f->slot = ps->fetched;
        snprintf(f->path, sizeof f->path, "%s", path);
        fl_kube_request rq = FL_KUBE_REQUEST_INIT;
        rq.method = FL_KUBE_GET, rq.path = f->path;
        if (fl_kube_client_request(c, &rq, NULL, fetch_done, f, NULL) == 0)
            p->pending++;
        else
            free(f);
    }
    wave(p);
    json_t *out = json_array();
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) {
        const char *fp = fl_obj_str(j, "fetch");
        if (fp) {
            const json_t *src = json_object_get(ps->fetched, fp);
            json_t *body = json_object_get(j, "body");
            if (!json_is_object(src) || !json_is_object(body)) {
                ps->next_soon = true;
                continue;
            }
            static const char *const f[] = {"data", "stringData", "type", "immutable"};
            for (size_t k = 0; k < FL_ARRAY_LEN(f); k++) {
                json_t *x = json_object_get(src, f[k]);
                if (x)
                    json_object_set(body, f[k], x);
            }
        }
        json_array_append(out, j);
    }
    return out;
}

/* Host writes in the order they matter (stable inside each class): the
 * bindings' specs (placements: what the members' copies follow), then
 * their status and deletions, the templates' status, and Events last. */
static void order_host_jobs(json_t *jobs)
{
    static const char *const first[] = {"_host/rb/", "_host/rbs/", "_host/rbdel/", "_host/ts/"};
    static const int rank_of[] = {0, 1, 1, 2};
    json_t *by[4] = {json_array(), json_array(), json_array(), json_array()};
    size_t i;
    json_t *j;
    if (!by[0] || !by[1] || !by[2] || !by[3])
        goto out; /* left as they are */
    json_array_foreach(jobs, i, j) {
        const char *key = fl_obj_str_or(j, "key", "");
        int rank = 3;
        for (size_t r = 0; r < FL_ARRAY_LEN(first); r++)
            if (!strncmp(key, first[r], strlen(first[r])))
                rank = rank_of[r];
        json_array_append(by[rank], j);
    }
    json_array_clear(jobs);
    for (int r = 0; r < 4; r++)
        json_array_extend(jobs, by[r]);
out:
    for (int r = 0; r < 4; r++)
        json_decref(by[r]);
}

static void concat_into(json_t *dst, json_t *src)
{
    json_array_extend(dst, src);
    json_decref(src);
}

/* The controller's reader, opened on first use (NULL when it cannot be). */
static fl_index_reader *reader(fl_sched_prop *p)
{
    if (!p->rd && fl_index_reader_new(p->o.index, &p->rd, NULL) != 0)
        p->rd = NULL;
    return p->rd;
}

static void load_snapshot(fl_sched_prop *p, int64_t now, int64_t rev, bool force)
{
    if (p->snap && !force && (rev == p->snap_rev || now - p->snap_ms < SNAPSHOT_MIN_MS))
        return;
    fl_index_reader *r = reader(p);
    fl_sched_snapshot *s = NULL;
    if (r && fl_sched_snapshot_load(r, NULL, &s, NULL) == 0) {
        fl_sched_snapshot_free(p->snap);
        p->snap = s;
        p->snap_ms = now;
        p->snap_rev = rev;
    }
}

/* Bindings that hold (are placed on, or evicted from) a member in moved:
 * looked at this pass (a failover phase change re-decides only them). */
static void mark_holders(pass *ps, const json_t *moved)
{
    const char *key;
    json_t *v;
    json_object_foreach(ps->p->bst, key, v) {
        const char *cn;
        json_t *x;
        json_object_foreach(json_object_get(v, "want"), cn, x) {
            if (json_object_get(moved, cn)) {
                json_object_set_new(ps->dirty, key, json_true());
                break;
            }
        }
    }
    json_object_foreach(ps->rbs, key, v) {
        size_t i;
        const json_t *t;
        json_array_foreach(fl_obj_get(v, "spec.clusters"), i, t) {
            if (json_object_get(moved, fl_obj_str_or(t, "name", "")))
                json_object_set_new(ps->dirty, key, json_true());
        }
        json_array_foreach(fl_obj_get(v, "spec.gracefulEvictionTasks"), i, t) {
            if (json_object_get(moved, fl_obj_str_or(t, "fromCluster", "")))
                json_object_set_new(ps->dirty, key, json_true());
        }
    }
}

/* Templates of kind k whose member copies changed ("cluster/ns/name"):
 * looked at this pass. */
static void mark_copies(pass *ps, size_t k)
{
    const char *okey;
    json_t *v;
    json_object_foreach(ps->obs_chg[k], okey, v) {
        const char *s1 = strchr(okey, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s2)
            continue;
        char ns[300], bname[600], key[700];
        snprintf(ns, sizeof ns, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
        binding_key(&KINDS[k], ns, s2 + 1, bname, sizeof bname, key, sizeof key);
        json_object_set_new(ps->dirty, key, json_true());
    }
}

static bool same_json(const json_t *a, const json_t *b)
{
    return a == b || (a && b && json_equal(a, b));
}

/* One template of kind k: looked at (do_template) when all, forced (the
 * resync cursor: decided again) or when its inputs changed since the last
 * look: the template, its binding, its copies or a holder's failover phase
 * (ps->dirty), a dependency's needs, or the last look asked for another
 * (hot); else what the last look found stands. merge: a workload's
 * dependencies go into the pass's map (once per template and pass). */
static void look_at(pass *ps, size_t k, const json_t *o, bool all, bool forced, bool merge)
{
    fl_sched_prop *p = ps->p;
    const char *ns = fl_obj_str_or(o, "metadata.namespace", "");
    const char *name = fl_obj_str_or(o, "metadata.name", "");
    char bname[600], key[700], dkey[700];
    binding_key(&KINDS[k], ns, name, bname, sizeof bname, key, sizeof key);
    if (forced && json_object_get(ps->touched, key))
        return; /* looked at in this pass already */
    const json_t *b = json_object_get(p->bst, key);
    const json_t *rb = json_object_get(ps->rbs, key);
    /* hot: a string names a write whose effect is awaited: looked at when
     * it did not succeed (no longer in flight), else still waiting */
    const json_t *h = json_object_get(p->hot, key);
    bool waits = json_is_string(h) && json_object_get(p->inflight, json_string_value(h));
    bool look =
        all || forced || !b || (h && !waits) || json_object_get(ps->dirty, key) ||
        strcmp(fl_obj_str_or(b, "trv", ""), fl_obj_str_or(o, "metadata.resourceVersion", "")) ||
        strcmp(fl_obj_str_or(b, "brv", ""), fl_obj_str_or(rb, "metadata.resourceVersion", "-"));
    if (!look && KINDS[k].dep) {
        snprintf(dkey, sizeof dkey, "%s/%s/%s", KINDS[k].kind, ns, name);
        look = !same_json(json_object_get(ps->deps, dkey), json_object_get(p->deps_last, dkey));
    }
    if (forced)
        json_object_del(p->settled, key);
    if (ps->present)
        json_object_set_new(ps->present, key, json_true());
    if (look) {
        json_object_set_new(ps->touched, key, json_true());
        ps->n_look++;
        do_template(ps, &KINDS[k], k, o);
    } else {
        if (json_is_true(json_object_get(b, "seen")))
            json_object_set_new(ps->seen, key, json_true());
        if (waits)
            json_object_set(ps->hot, key, (json_t *)h);
    }
    if (merge && !KINDS[k].dep)
        merge_deps(ps, key);
}

/* After a full pass: what is kept for templates that are gone. */
static void forget(pass *ps)
{
    fl_sched_prop *p = ps->p;
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(p->bst, tmp, key, v) {
        if (!json_object_get(ps->present, key))
            json_object_del(p->bst, key);
    }
    json_object_foreach_safe(p->dep_contrib, tmp, key, v) {
        if (!json_object_get(p->bst, key))
            json_object_del(p->dep_contrib, key);
    }
    json_object_foreach_safe(p->hcache, tmp, key, v) {
        const char *bar = strrchr(key, '|');
        char bk[700];
        snprintf(bk, sizeof bk, "%.*s", bar ? (int)(bar - key) : 0, key);
        if (!json_object_get(p->bst, bk))
            json_object_del(p->hcache, key);
    }
}

/* One pass; returns true when another should follow soon. */
static bool run_pass(fl_sched_prop *p)
{
    pass ps = {.p = p, .now = fl_mono_ms()};
    int64_t t0 = ps.now;
    fl_index_stats is;
    fl_index_stats_get(p->o.index, &is);
    ps.members = p->o.members(p->o.members_ud);
    if (!ps.members)
        return true;
    /* a member whose capacity was just listed: the snapshot is read again
     * now (not up to SNAPSHOT_MIN_MS later: first schedules wait for it) */
    bool fresh_capacity = track_health(p, ps.members, ps.now);
    load_snapshot(p, ps.now, is.revision, fresh_capacity);
    ps.policies = host_items(p, "policy.karmada.io", "propagationpolicies", "PropagationPolicy");
    concat_into(ps.policies, host_items(p, "policy.karmada.io", "clusterpropagationpolicies",
                                        "ClusterPropagationPolicy"));
    ps.overrides =
        host_items(p, "policy.karmada.io", "clusteroverridepolicies", "ClusterOverridePolicy");
    concat_into(ps.overrides,
                host_items(p, "policy.karmada.io", "overridepolicies", "OverridePolicy"));
    fp_of(ps.overrides, ps.inputs);
    char psig[20];
    fp_of(ps.policies, psig);
    /* a change of policies or overrides: every template is looked at */
    bool all = strcmp(psig, p->pol_sig) || strcmp(ps.inputs, p->ovr_sig);
    json_t *moved = json_object(); /* members whose failover phase changed */
    /* every member's failover phase (PH_EVICTING: past the default
     * toleration) */
    for (size_t mi = 0; mi < p->nm; mi++) {
        member *m = &p->m[mi];
        int64_t age = ps.now - m->since;
        bool ready = !strcmp(m->health, "Ready");
        int phase =
            ready ? (m->was_down && age < p->o.success_threshold_ms ? PH_RECOVERING : PH_TRUSTED)
            : age < p->o.failure_threshold_ms                      ? PH_FAILING
            : age < p->o.failure_threshold_ms + p->o.toleration_ms ? PH_TAINTED
                                                                   : PH_EVICTING;
        if (phase == PH_TRUSTED && m->phase != PH_TRUSTED)
            m->ready_gen++, all = true; /* may take new work: every template may go there */
        if (held_phase(phase) != held_phase(m->phase))
            json_object_set_new(moved, m->name, json_true());
        m->phase = phase;
    }
    json_t *rbl = host_items(p, "work.karmada.io", "resourcebindings", "ResourceBinding");
    concat_into(
        rbl, host_items(p, "work.karmada.io", "clusterresourcebindings", "ClusterResourceBinding"));
    ps.rbs = json_object();
    size_t i;
    json_t *o;
    json_array_foreach(rbl, i, o) {
        char key[600];
        snprintf(key, sizeof key, "%s/%s", fl_obj_str_or(o, "metadata.namespace", ""),
                 fl_obj_str_or(o, "metadata.name", ""));
        json_object_set(ps.rbs, key, o);
    }
    json_decref(rbl);
    ps.dirty = json_object();
    ps.touched = json_object();
    ps.shrunk = json_object();
    ps.hot = json_object();
    if (json_object_size(moved) && !all)
        mark_holders(&ps, moved);
    json_decref(moved);
    ps.ns_jobs = json_object();
    ps.ns_have = json_object();
    ps.seen = json_object();
    ps.obj_jobs = json_array();
    ps.dep_jobs = json_array();
    ps.deps = json_object();
    ps.fetched = json_object();
    ps.host_jobs = json_array();
    if ((ps.r = reader(p)) && fl_index_reader_begin(ps.r) != 0) {
        fl_index_reader_free(p->rd); /* opened again next pass */
        p->rd = ps.r = NULL;
    }
    if (ps.r) {
        size_t nt = 0;
        int64_t t1 = fl_mono_ms();
        ps.t_read = t1 - t0;
        /* member copies: what changed since the last pass; and, one member
         * at a time (every member once per FULL_PASS_MS), all of them */
        int64_t rev = 0, since = p->obs_rev;
        fl_index_reader_revision(ps.r, &rev);
        for (size_t k = 0; k < FL_ARRAY_LEN(KINDS); k++)
            if (!p->obs_cache[k])
                since = 0;
        ps.full = since == 0;
        const char *whole = NULL; /* the member read whole in this pass */
        if (!ps.full && p->nm && ps.now - p->obs_full_ms >= FULL_PASS_MS / (int64_t)p->nm) {
            whole = p->m[p->rot % p->nm].name;
            p->obs_full_ms = ps.now;
            if (++p->rot % p->nm == 0)
                ps.present = json_object(); /* a round: forget what is gone */
        }
        if (ps.full)
            ps.present = json_object();
        ps.whole = whole;
        for (size_t k = 0; k < FL_ARRAY_LEN(KINDS); k++) {
            ps.obs_chg[k] = json_object();
            ps.obs[k] = observed(ps.r, &KINDS[k], p->obs_cache[k], since, ps.obs_chg[k]);
            if (whole && ps.obs[k])
                reread(ps.r, &KINDS[k], ps.obs[k], whole, ps.obs_chg[k]);
            mark_copies(&ps, k);
        }
        p->obs_rev = rev;
        int64_t t2 = fl_mono_ms();
        ps.t_obs = t2 - t1;
        json_t *tl[FL_ARRAY_LEN(KINDS)];
        size_t total = 0;
        for (size_t k = 0; k < FL_ARRAY_LEN(KINDS); k++) {
            tl[k] = host_items(p, KINDS[k].group, KINDS[k].resource, KINDS[k].kind);
            total += json_array_size(tl[k]);
        }
        for (size_t k = 0; k < FL_ARRAY_LEN(KINDS); k++) {
            json_array_foreach(tl[k], i, o) {
                if (nt++ >= MAX_TEMPLATES || atomic_load(&p->stopping))
                    continue;
                look_at(&ps, k, o, all, false, true);
            }
        }
        /* the resync cursor: templates decided again, all of them every
         * FULL_PASS_MS, in passes that have nothing else to do (unless it
         * fell a whole period behind), a bounded slice per pass */
        if (total && !atomic_load(&p->stopping)) {
            if (ps.now - p->rr_ms > 2 * FULL_PASS_MS)
                p->rr_ms = ps.now - 2 * FULL_PASS_MS;
            size_t budget = (size_t)((ps.now - p->rr_ms) * (int64_t)total / FULL_PASS_MS);
            if (budget > total / 20 + 1)
                budget = total / 20 + 1;
            if (ps.n_look && ps.now - p->rr_ms < FULL_PASS_MS)
                budget = 0;
            for (size_t j = 0; j < budget; j++) {
                size_t at = (p->rr_pos + j) % total, k = 0;
                while (at >= json_array_size(tl[k]))
                    at -= json_array_size(tl[k++]);
                look_at(&ps, k, json_array_get(tl[k], at), false, true, false);
            }
            p->rr_ms += (int64_t)budget * FULL_PASS_MS / (int64_t)total;
            p->rr_pos = (p->rr_pos + budget) % total;
        }
        for (size_t k = 0; k < FL_ARRAY_LEN(KINDS); k++)
            json_decref(tl[k]);
        int64_t t3 = fl_mono_ms();
        ps.t_look = t3 - t2;
        if (!atomic_load(&p->stopping))
            cleanup(&ps);
        if (ps.present && !atomic_load(&p->stopping) && nt < MAX_TEMPLATES)
            forget(&ps);
        ps.t_clean = fl_mono_ms() - t3;
        fl_index_reader_end(ps.r);
    }
    int64_t t_decided = fl_mono_ms();
    size_t n_obj = json_array_size(ps.obj_jobs) + json_array_size(ps.dep_jobs),
           n_host = json_array_size(ps.host_jobs);
    /* wave 1: namespaces; wave 2: dependencies (Secrets read from the host
     * first); wave 3: member objects; wave 4: the host */
    json_t *nsj = json_array();
    const char *nk;
    json_t *nso;
    json_object_foreach(ps.ns_jobs, nk, nso) {
        char c[300];
        snprintf(c, sizeof c, "%.*s", (int)(strchr(nk, '/') - nk), nk);
        job(nsj, c, FL_KUBE_POST, "/api/v1/namespaces", nso, nk, "ns");
    }
    run_jobs(p, nsj);
    json_t *depj = fetch_wave(&ps, ps.dep_jobs);
    run_jobs(p, depj);
    json_decref(depj);
    run_jobs(p, ps.obj_jobs);
    order_host_jobs(ps.host_jobs);
    run_jobs(p, ps.host_jobs);
    bool soon = ps.next_soon || json_array_size(ps.obj_jobs) || json_array_size(ps.dep_jobs) ||
                json_array_size(ps.host_jobs) || json_object_size(p->retry) ||
                json_object_size(p->inflight);
    /* forget inflight entries past their window */
    const char *ik;
    json_t *iv;
    void *tmp;
    json_object_foreach_safe(p->inflight, tmp, ik, iv) {
        if (ps.now - json_integer_value(json_object_get(iv, "t")) > INFLIGHT_MS)
            json_object_del(p->inflight, ik);
    }
    json_decref(nsj);
    for (size_t k = 0; k < FL_ARRAY_LEN(KINDS); k++) {
        json_decref(p->obs_cache[k]);
        p->obs_cache[k] = ps.obs[k]; /* NULL when the reader failed */
    }
    json_decref(ps.members);
    json_decref(ps.policies);
    json_decref(ps.overrides);
    json_decref(ps.rbs);
    json_decref(ps.dirty);
    json_decref(ps.touched);
    json_decref(ps.shrunk);
    json_decref(ps.present);
    if (ps.r) { /* else nothing was looked at: the same templates wait */
        json_decref(p->hot);
        p->hot = ps.hot;
    } else {
        json_decref(ps.hot);
    }
    for (size_t k = 0; k < FL_ARRAY_LEN(KINDS); k++)
        json_decref(ps.obs_chg[k]);
    json_decref(p->deps_last);
    p->deps_last = json_incref(ps.deps);
    snprintf(p->pol_sig, sizeof p->pol_sig, "%s", psig);
    snprintf(p->ovr_sig, sizeof p->ovr_sig, "%s", ps.inputs);
    json_decref(ps.ns_jobs);
    json_decref(ps.ns_have);
    json_decref(ps.seen);
    json_decref(ps.obj_jobs);
    json_decref(ps.dep_jobs);
    json_decref(ps.deps);
    json_decref(ps.fetched);
    json_decref(ps.host_jobs);
    int64_t spent = fl_mono_ms() - t0;
    if (spent > 1000)
        fl_log(FL_LOG_INFO, "prop",
               "slow pass: %lld ms (%zu member writes, %zu host writes, decide %lld ms: "
               "read %lld, copies %lld, %zu templates looked at / %zu decided %lld, "
               "cleanup %lld%s)",
               (long long)spent, n_obj, n_host, (long long)(t_decided - t0), (long long)ps.t_read,
               (long long)ps.t_obs, ps.n_look, ps.n_decide, (long long)ps.t_look,
               (long long)ps.t_clean, ps.full ? ", full" : "");
    pthread_mutex_lock(&p->mu);
    p->st.passes++;
    p->st.last_pass_ms = spent;
    pthread_mutex_unlock(&p->mu);
    p->last_rev = is.revision;
    return soon;
}

/* ------------------------------------------------------------ the thread */

static void *main_fn(void *arg)
{
    fl_sched_prop *p = arg;
    bool soon = true;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (!p->stop && !p->kicked) {
            int64_t wait = soon ? p->o.min_gap_ms * 5 : p->o.interval_ms;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        }
        bool stop = p->stop;
        p->kicked = false;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        int64_t t = fl_mono_ms();
        soon = run_pass(p);
        int64_t spent = fl_mono_ms() - t;
        if (spent < p->o.min_gap_ms)
            uv_sleep((unsigned)(p->o.min_gap_ms - spent));
    }
    for (size_t i = 0; i < p->nm; i++)
        fl_kube_client_close(p->m[i].client, NULL, NULL), p->m[i].client = NULL;
    fl_kube_client_close(p->host, NULL, NULL);
    p->host = NULL;
    uv_run(&p->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_change(void *arg, int64_t from, int64_t to)
{
    (void)from, (void)to;
    fl_sched_prop_kick(arg);
}

void fl_sched_prop_kick(fl_sched_prop *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->kicked = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int fl_sched_prop_new(const fl_sched_prop_opts *opts, fl_sched_prop **out, fl_err *err)
{
    if (!opts || !opts->index || !opts->host_list || !opts->members)
        return fl_err_set(err, -EINVAL, "propagation: index, host_list and members are required");
    fl_sched_prop *p = calloc(1, sizeof *p);
    if (!p)
        return fl_err_set(err, -ENOMEM, "out of memory");
    p->o = *opts;
    fl_sched_prop_opts d = FL_SCHED_PROP_OPTS_INIT;
    if (p->o.interval_ms <= 0)
        p->o.interval_ms = d.interval_ms;
    if (p->o.min_gap_ms <= 0)
        p->o.min_gap_ms = d.min_gap_ms;
    if (p->o.write_timeout_ms <= 0)
        p->o.write_timeout_ms = d.write_timeout_ms;
    if (p->o.eviction_rate <= 0)
        p->o.eviction_rate = d.eviction_rate;
    if (p->o.eviction_timeout_ms <= 0)
        p->o.eviction_timeout_ms = d.eviction_timeout_ms;
    p->host_kubeconfig = dup_or_null(opts->host_kubeconfig);
    p->host_context = dup_or_null(opts->host_context);
    p->m = calloc(opts->nconns + 1, sizeof *p->m);
    p->nm = opts->nconns;
    p->inflight = json_object();
    p->retry = json_object();
    p->settled = json_object();
    p->app_bad = json_object();
    p->last_event = json_object();
    p->bst = json_object();
    p->hot = json_object();
    p->busy = json_object();
    p->dep_contrib = json_object();
    p->hcache = json_object();
    p->qheld = json_object();
    int rc = -ENOMEM;
    if (!p->m || !p->inflight || !p->retry || !p->settled || !p->app_bad || !p->last_event ||
        !p->bst || !p->hot || !p->busy || !p->dep_contrib || !p->hcache || !p->qheld)
        goto fail;
    int64_t now = fl_mono_ms();
    for (size_t i = 0; i < p->nm; i++) {
        p->m[i].name = strdup(opts->conns[i].name);
        p->m[i].kubeconfig = dup_or_null(opts->conns[i].kubeconfig);
        p->m[i].context = dup_or_null(opts->conns[i].context);
        p->m[i].since = now;
        p->m[i].phase = PH_NONE;
        if (!p->m[i].name)
            goto fail;
    }
    p->tokens_ms = now;
    p->start_ms = now;
    p->tokens = 1;
    if ((rc = uv_loop_init(&p->loop)) != 0)
        goto fail;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if ((rc = -pthread_create(&p->thr, NULL, main_fn, p)) != 0) {
        uv_loop_close(&p->loop);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        goto fail;
    }
    p->started = true;
    if (fl_index_subscribe(opts->index, on_change, p, &p->sub_id) == 0)
        p->subscribed = true;
    *out = p;
    return 0;
fail:
    p->started = false;
    fl_sched_prop_free(p);
    return fl_err_set(err, rc, "propagation: %s", fl_strerror(rc));
}

void fl_sched_prop_free(fl_sched_prop *p)
{
    if (!p)
        return;
    if (p->subscribed)
        fl_index_unsubscribe(p->o.index, p->sub_id);
    if (p->started) {
        atomic_store(&p->stopping, true);
        fl_thread_stop(p->thr, &p->mu, &p->cv, &p->stop);
        uv_loop_close(&p->loop);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
    json_decref(p->events);
    for (size_t i = 0; p->m && i < p->nm; i++) {
        free(p->m[i].name);
        free(p->m[i].kubeconfig);
        free(p->m[i].context);
    }
    free(p->m);
    free(p->host_kubeconfig);
    free(p->host_context);
    json_decref(p->inflight);
    json_decref(p->retry);
    json_decref(p->settled);
    json_decref(p->app_bad);
    json_decref(p->last_event);
    json_decref(p->bst);
    json_decref(p->hot);
    json_decref(p->busy);
    json_decref(p->dep_contrib);
    json_decref(p->deps_last);
    json_decref(p->hcache);
    json_decref(p->qheld);
    for (size_t k = 0; k < FL_ARRAY_LEN(p->obs_cache); k++)
        json_decref(p->obs_cache[k]);
    fl_sched_snapshot_free(p->snap);
    fl_index_reader_free(p->rd);
    free(p);
}

void fl_sched_prop_stats_get(fl_sched_prop *p, fl_sched_prop_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    pthread_mutex_unlock(&p->mu);
}
