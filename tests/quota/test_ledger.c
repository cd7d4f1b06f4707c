/*
 * tests/quota/test_ledger.c: the ledger over a real index (a temporary
 * SQLite file fed like the collector feeds it): scheduler reservations and
 * the pods that consume them (a replica is never counted twice), direct
 * admissions reserved until their object shows in the index, TTL expiry
 * counted as drift, dry runs reserving nothing, release freeing a cluster's
 * usage, reserve refused past the quota, the stale policy (deny names
 * the cluster, allow lets it through), quotas read from the index's host
 * objects (cached, and a change taking effect at once), the off-lock
 * recount, decisions of one namespace going on while another's ledger
 * is held, and the full count from the index's materialized pod rows equal
 * to the count from every pod's JSON (init containers, sidecars, overhead,
 * terminal and deleted pods, formats, extended resources, scoped quotas).
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/index.h"
#include "kube/kube.h"
#include "quota/quota.h"
#include "tests/test.h"

#define NS "team"

static fl_index *idx;
static json_t *health_doc; /* what the health callback answers (NULL: no callback data) */

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, 0, &e);
    if (!v)
        fprintf(stderr, "bad test JSON: %s: %s\n", s, e.text);
    return v;
}

static int host(void *ud, const char *ns, json_t **kq, json_t **frq, fl_err *err)
{
    *kq = json_array();
    *frq = json_array();
    if (!strcmp(ns, NS))
        json_array_append_new(*kq,
                              J("{\"metadata\":{\"name\":\"team-quota\",\"namespace\":\"team\"},"
                                "\"spec\":{\"hard\":{\"requests.cpu\":\"4\",\"pods\":\"10\"}}}"));
    return 0;
}

static json_t *health(void *ud)
{
    return health_doc ? json_incref(health_doc) : NULL;
}

/* A ledger over idx with members m1, m2; hostfn NULL: quotas from the
 * index's host objects. */
static fl_quota *ledger_host(int64_t ttl_ms, bool stale_allow, bool with_health,
                             fl_quota_host_fn hostfn)
{
    static const char *const members[] = {"m1", "m2"};
    fl_quota_opts o = FL_QUOTA_OPTS_INIT;
    fl_quota *q = NULL;
    fl_err err = FL_ERR_INIT;
    o.index = idx;
    o.host = hostfn;
    o.members = members, o.nmembers = 2;
    o.reservation_ttl_ms = ttl_ms;
    o.stale_allow = stale_allow;
    o.threads = 1;
    o.recompute_interval_ms = 100;
    if (with_health)
        o.health = health;
    T_EQ_INT(fl_quota_new(&o, &q, &err), 0);
    if (err.msg[0])
        fprintf(stderr, "fl_quota_new: %s\n", err.msg);
    return q;
}

static fl_quota *ledger(int64_t ttl_ms, bool stale_allow, bool with_health)
{
    return ledger_host(ttl_ms, stale_allow, with_health, host);
}

/* A CREATE review of pod name asking cpu; *msg gets the denial (or ""). */
static bool review(fl_quota *q, const char *cluster, const char *name, const char *cpu, bool dry,
                   char *msg, size_t n)
{
    json_t *req = json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:s},s:s,s:s,s:b,s:{s:{s:s,s:s},s:{s:[{s:s,s:{s:{s:s}}}]}}}", "uid",
        name, "operation", "CREATE", "resource", "group", "", "version", "v1", "resource", "pods",
        "namespace", NS, "name", name, "dryRun", dry, "object", "metadata", "name", name,
        "namespace", NS, "spec", "containers", "name", "c", "resources", "requests", "cpu", cpu);
    json_t *resp = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = fl_quota_review(q, cluster, req, &resp, &err);
    T_EQ_INT(rc, 0);
    bool ok = json_is_true(json_object_get(resp, "allowed"));
    snprintf(msg, n, "%s", fl_obj_str_or(resp, "status.message", ""));
    T_EQ_STR(fl_obj_str_or(resp, "uid", ""), name);
    json_decref(resp);
    json_decref(req);
    return ok;
}

static char *used_cpu(fl_quota *q)
{
    static char buf[64];
    json_t *used = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_quota_used(q, NS, &used, &err), 0);
    const char *v =
        json_string_value(json_object_get(json_object_get(used, "team-quota"), "requests.cpu"));
    snprintf(buf, sizeof buf, "%s", v ? v : "?");
    json_decref(used);
    return buf;
}

static void submit(const char *cluster, const char *group, const char *resource, const char *kind,
                   const char *obj)
{
    fl_index_src src = {cluster, group, "v1", resource, kind};
    char ev[4096];
    snprintf(ev, sizeof ev, "{\"type\":\"ADDED\",\"object\":%s}", obj);
    T_EQ_INT(fl_index_submit_event(idx, &src, ev, strlen(ev), NULL), 0);
}

static void pod(const char *cluster, const char *name, const char *cpu, const char *owner)
{
    char obj[2048];
    snprintf(obj, sizeof obj,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
             "\"team\","
             "\"uid\":\"uid-%s\",\"resourceVersion\":\"10\"%s%s%s},\"spec\":{\"containers\":[{"
             "\"name\":\"c\","
             "\"resources\":{\"requests\":{\"cpu\":\"%s\"}}}]},\"status\":{\"phase\":\"Running\"}}",
             name, name,
             owner ? ",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":"
                     "\"ReplicaSet\",\"name\":\"rs\",\"controller\":true,\"uid\":\""
                   : "",
             owner ? owner : "", owner ? "\"}]" : "", cpu);
    submit(cluster, "", "pods", "Pod", obj);
}

static void test_reservations(void)
{
    fl_quota *q = ledger(60000, false, false);
    fl_err err = FL_ERR_INIT;
    char msg[1024];
    json_t *per = J("{\"cpu\":\"1\"}");
    /* the scheduler reserves 3 replicas of dep-1 in m1 */
    T_EQ_INT(fl_quota_reserve(q, NS, "dep-1", "m1", 3, per, &err), 0);
    T_EQ_STR(used_cpu(q), "3");
    /* a pod created directly in m2 takes the last unit */
    T_CHECK(review(q, "m2", "solo", "1", false, msg, sizeof msg));
    T_EQ_STR(used_cpu(q), "4");
    T_CHECK(!review(q, "m2", "solo2", "100m", false, msg, sizeof msg));
    T_EQ_STR(msg, "exceeded quota: team-quota, requested: requests.cpu=100m, used: "
                  "requests.cpu=4, limited: requests.cpu=4");
    /* a dry run is answered, reserves nothing */
    T_CHECK(!review(q, "m1", "dry", "1", true, msg, sizeof msg));
    /* dep-1's ReplicaSet and two of its pods show in m1, solo in m2: the
     * pods consume the reservation (3 - 2 = 1 left) and solo's reservation
     * is replaced by the observed pod: still exactly 4, nothing twice */
    submit(
        "m1", "apps", "replicasets", "ReplicaSet",
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"rs\","
        "\"namespace\":\"team\",\"uid\":\"rs-uid\",\"resourceVersion\":\"5\",\"ownerReferences\":"
        "[{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"dep\",\"controller\":true,"
        "\"uid\":\"dep-1\"}]},\"spec\":{\"replicas\":3}}");
    pod("m1", "dep-a", "1", "rs-uid");
    pod("m1", "dep-b", "1", "rs-uid");
    pod("m2", "solo", "1", NULL);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_STR(used_cpu(q), "4");
    /* committed reservations do not expire; commit of nothing is ENOTFOUND */
    T_EQ_INT(fl_quota_commit(q, NS, "dep-1", "m1"), 0);
    T_EQ_INT(fl_quota_commit(q, NS, "nope", "m1"), FL_ENOTFOUND);
    /* more than fits is refused with Kubernetes' wording */
    T_EQ_INT(fl_quota_reserve(q, NS, "dep-2", "m2", 2, per, &err), FL_EFORBIDDEN);
    T_CHECK(strstr(err.msg, "exceeded quota: team-quota, requested: requests.cpu=2") != NULL);
    /* eviction from m1: its reservation is released, the observed pods stay */
    T_EQ_INT(fl_quota_release(q, NS, "dep-1", "m1"), 0);
    T_EQ_INT(fl_quota_release(q, NS, "dep-1", "m1"), FL_ENOTFOUND);
    T_EQ_STR(used_cpu(q), "3");
    T_CHECK(review(q, "m1", "after", "1", false, msg, sizeof msg));
    T_EQ_STR(used_cpu(q), "4");
    fl_quota_stats st;
    fl_quota_stats_get(q, &st);
    T_EQ_INT(st.allowed, 2);
    T_EQ_INT(st.denied, 2);
    T_EQ_INT(st.drift, 0);
    json_decref(per);
    fl_quota_free(q);
}

static void test_ttl(void)
{
    fl_quota *q = ledger(200, false, false);
    char msg[1024];
    T_EQ_STR(used_cpu(q), "3"); /* dep-a, dep-b, solo from the index */
    T_CHECK(review(q, "m2", "ghost", "1", false, msg, sizeof msg));
    T_EQ_STR(used_cpu(q), "4");
    /* ghost never shows: the periodic recomputation releases it as drift */
    fl_quota_stats st;
    for (int i = 0; i < 100; i++) {
        usleep(50 * 1000);
        fl_quota_stats_get(q, &st);
        if (st.drift)
            break;
    }
    T_EQ_INT(st.drift, 1);
    T_EQ_STR(used_cpu(q), "3");
    fl_quota_stats_get(q, &st);
    T_EQ_INT(st.reservations_expired, 1);
    fl_quota_free(q);
}

static void test_stale(void)
{
    char msg[1024];
    health_doc = J("{\"clusters\":[{\"name\":\"m1\",\"health\":\"Unreachable\",\"resources\":[]},"
                   "{\"name\":\"m2\",\"health\":\"Ready\",\"resources\":[{\"group\":\"\","
                   "\"resource\":\"pods\",\"phase\":\"Watching\",\"lagMs\":0}]}]}");
    fl_quota *q = ledger(60000, false, true);
    T_CHECK(!review(q, "m1", "s1", "1m", false, msg, sizeof msg));
    T_CHECK(strstr(msg, "cluster m1 is Unreachable") && strstr(msg, "stalePolicy deny"));
    /* m2 is fine, and m1's usage is released (not Ready): only solo counts */
    T_CHECK(review(q, "m2", "s2", "1m", true, msg, sizeof msg));
    T_EQ_STR(used_cpu(q), "1");
    fl_quota_free(q);
    q = ledger(60000, true, true);
    T_CHECK(review(q, "m1", "s3", "1m", false, msg, sizeof msg));
    fl_quota_free(q);
    /* a Ready member whose pods lag makes every review follow the policy */
    json_decref(health_doc);
    health_doc =
        J("{\"clusters\":[{\"name\":\"m1\",\"health\":\"Ready\",\"resources\":[{\"group\":\"\","
          "\"resource\":\"pods\",\"phase\":\"Watching\",\"lagMs\":0}]},"
          "{\"name\":\"m2\",\"health\":\"Ready\",\"resources\":[{\"group\":\"\","
          "\"resource\":\"pods\",\"phase\":\"Backoff\",\"lagMs\":90000}]}]}");
    q = ledger(60000, false, true);
    T_CHECK(!review(q, "m1", "s4", "1m", false, msg, sizeof msg));
    T_CHECK(strstr(msg, "cluster m2 has not synced its pods (Backoff)") != NULL);
    fl_quota_free(q);
    json_decref(health_doc);
    health_doc = NULL;
}

static void test_malformed(void)
{
    fl_quota *q = ledger(60000, false, false);
    static const char *const bad[] = {
        "{}",
        "{\"uid\":\"u\"}",
        "{\"uid\":\"u\",\"operation\":\"PATCH\"}",
        "{\"uid\":\"u\",\"operation\":\"CREATE\",\"resource\":{\"group\":\"\",\"resource\":"
        "\"pods\"},"
        "\"namespace\":\"team\"}",
        "{\"uid\":\"u\",\"operation\":\"UPDATE\",\"resource\":{\"group\":\"\",\"resource\":"
        "\"pods\"},"
        "\"namespace\":\"team\",\"object\":{}}",
        "{\"uid\":\"u\",\"operation\":\"CREATE\",\"resource\":{\"group\":\"\",\"resource\":"
        "\"pods\"},"
        "\"namespace\":\"team\",\"object\":{\"spec\":{\"containers\":[{\"resources\":{\"requests\":"
        "{\"cpu\":\"x\"}}}]}}}",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        json_t *req = J(bad[i]), *resp = NULL;
        fl_err err = FL_ERR_INIT;
        T_EQ_INT(fl_quota_review(q, "m1", req, &resp, &err), FL_EPARSE);
        T_CHECK(resp == NULL);
        json_decref(req);
    }
    fl_quota_stats st;
    fl_quota_stats_get(q, &st);
    T_EQ_INT(st.reservations_open, 0);
    fl_quota_free(q);
}

/* Quotas read from the index's host objects (no host callback): cached per
 * namespace, and a change of the host's KarmadaQuota takes effect at the
 * next decision. The off-lock full recount finds the same usage (no
 * drift). */
static void test_host_objects(void)
{
    fl_quota *q = ledger_host(60000, false, false, NULL);
    fl_err err = FL_ERR_INIT;
    char msg[1024];
#define KQ(rv, cpu)                                                                                \
    "{\"apiVersion\":\"quota.flotilla.io/v1alpha1\",\"kind\":\"KarmadaQuota\",\"metadata\":{"      \
    "\"name\":\"team-quota\",\"namespace\":\"team\",\"uid\":\"kq-1\",\"resourceVersion\":\"" rv    \
    "\"},\"spec\":{\"hard\":{\"requests.cpu\":\"" cpu "\"}}}"
    char obj[1024];
    fl_index_src src = {FL_QUOTA_HOST_CLUSTER, "quota.flotilla.io", "v1alpha1", "karmadaquotas",
                        "KarmadaQuota"};
    snprintf(obj, sizeof obj, "%s", KQ("1", "4"));
    char ev[1200];
    snprintf(ev, sizeof ev, "{\"type\":\"ADDED\",\"object\":%s}", obj);
    T_EQ_INT(fl_index_submit_event(idx, &src, ev, strlen(ev), NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_STR(used_cpu(q), "3"); /* dep-a, dep-b, solo */
    T_CHECK(review(q, "m1", "fits", "1", true, msg, sizeof msg));
    T_CHECK(review(q, "m1", "fits-again", "1", true, msg, sizeof msg)); /* the cached set */
    /* the host lowers the quota: the next decision sees it */
    snprintf(obj, sizeof obj, "%s", KQ("2", "3"));
    snprintf(ev, sizeof ev, "{\"type\":\"MODIFIED\",\"object\":%s}", obj);
    T_EQ_INT(fl_index_submit_event(idx, &src, ev, strlen(ev), NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_CHECK(!review(q, "m1", "too-much", "1", true, msg, sizeof msg));
    T_EQ_STR(msg, "exceeded quota: team-quota, requested: requests.cpu=1, used: "
                  "requests.cpu=3, limited: requests.cpu=3");
    /* a pod shows meanwhile; the recount agrees with the followed usage */
    pod("m2", "late", "500m", NULL);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_INT(fl_quota_recount(q, NS, &err), 0);
    T_EQ_STR(used_cpu(q), "3500m");
    fl_quota_stats st;
    fl_quota_stats_get(q, &st);
    T_EQ_INT(st.drift, 0);
    fl_quota_free(q);
}

/* A host callback that blocks in namespace "slow" until released: while a
 * decision of "slow" holds its ledger, one of "team" must still go on. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool inside, open;
} gate;
static gate slow_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static int host_slow(void *ud, const char *ns, json_t **kq, json_t **frq, fl_err *err)
{
    if (!strcmp(ns, "slow")) {
        pthread_mutex_lock(&slow_gate.mu);
        slow_gate.inside = true;
        pthread_cond_broadcast(&slow_gate.cv);
        while (!slow_gate.open)
            pthread_cond_wait(&slow_gate.cv, &slow_gate.mu);
        pthread_mutex_unlock(&slow_gate.mu);
    }
    return host(ud, ns, kq, frq, err);
}

static void *reserve_slow(void *arg)
{
    json_t *per = J("{\"cpu\":\"1\"}");
    fl_quota_reserve(arg, "slow", "w", "m1", 1, per, NULL);
    json_decref(per);
    return NULL;
}

typedef struct team_call {
    fl_quota *q;
    bool done;
} team_call;

static void *review_team(void *arg)
{
    team_call *c = arg;
    char msg[1024];
    review(c->q, "m1", "meanwhile", "100m", true, msg, sizeof msg);
    pthread_mutex_lock(&slow_gate.mu);
    c->done = true;
    pthread_cond_broadcast(&slow_gate.cv);
    pthread_mutex_unlock(&slow_gate.mu);
    return NULL;
}

static void test_namespaces_in_parallel(void)
{
    fl_quota *q = ledger_host(60000, false, false, host_slow);
    pthread_t slow, team;
    team_call c = {q, false};
    pthread_create(&slow, NULL, reserve_slow, q);
    pthread_mutex_lock(&slow_gate.mu);
    while (!slow_gate.inside)
        pthread_cond_wait(&slow_gate.cv, &slow_gate.mu);
    pthread_mutex_unlock(&slow_gate.mu);
    pthread_create(&team, NULL, review_team, &c);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&slow_gate.mu);
    while (!c.done && pthread_cond_timedwait(&slow_gate.cv, &slow_gate.mu, &until) == 0)
        ;
    bool done = c.done;
    slow_gate.open = true; /* let "slow" finish either way */
    pthread_cond_broadcast(&slow_gate.cv);
    pthread_mutex_unlock(&slow_gate.mu);
    T_CHECK(done); /* "team" was decided while "slow" held its ledger */
    pthread_join(slow, NULL);
    pthread_join(team, NULL);
    fl_quota_free(q);
}

/* ---- the full count from the index's materialized rows equals the count
 * from every pod's JSON (values and formats), on pods of every shape */

static bool mixed_scoped; /* the host also has scoped quotas in "mixed" */

static int host_mixed(void *ud, const char *ns, json_t **kq, json_t **frq, fl_err *err)
{
    *kq = json_array();
    *frq = json_array();
    if (strcmp(ns, "mixed"))
        return 0;
    json_array_append_new(
        *kq, J("{\"metadata\":{\"name\":\"all\",\"namespace\":\"mixed\"},\"spec\":{\"hard\":{"
               "\"pods\":\"100\",\"count/pods\":\"100\",\"cpu\":\"100\",\"memory\":\"100Gi\","
               "\"requests.cpu\":\"100\",\"requests.memory\":\"100Gi\",\"limits.cpu\":\"100\","
               "\"limits.memory\":\"100Gi\",\"ephemeral-storage\":\"1Ti\","
               "\"requests.ephemeral-storage\":\"1Ti\",\"limits.ephemeral-storage\":\"1Ti\","
               "\"hugepages-2Mi\":\"1Gi\",\"requests.hugepages-2Mi\":\"1Gi\","
               "\"requests.nvidia.com/gpu\":\"100\"}}}"));
    if (mixed_scoped) {
        json_array_append_new(
            *kq, J("{\"metadata\":{\"name\":\"best-effort\",\"namespace\":\"mixed\"},\"spec\":{"
                   "\"hard\":{\"pods\":\"100\"},\"scopes\":[\"BestEffort\"]}}"));
        json_array_append_new(
            *kq, J("{\"metadata\":{\"name\":\"terminating\",\"namespace\":\"mixed\"},\"spec\":{"
                   "\"hard\":{\"pods\":\"100\",\"requests.cpu\":\"100\"},\"scopes\":["
                   "\"Terminating\"]}}"));
        json_array_append_new(
            *kq, J("{\"metadata\":{\"name\":\"high\",\"namespace\":\"mixed\"},\"spec\":{\"hard\":{"
                   "\"pods\":\"100\",\"limits.memory\":\"100Gi\"},\"scopeSelector\":{"
                   "\"matchExpressions\":[{\"scopeName\":\"PriorityClass\",\"operator\":\"In\","
                   "\"values\":[\"high\"]}]}}}"));
    }
    return 0;
}

typedef struct shape {
    const char *name, *spec, *meta, *phase;
    bool plain; /* what the index must say */
} shape;

static const shape shapes[] = {
    {"simple",
     "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":"
     "\"64Mi\"},\"limits\":{\"memory\":\"128Mi\"}}}]",
     "", "Running", true},
    {"init",
     "\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\"}}},{\"name\":"
     "\"b\",\"resources\":{\"requests\":{\"cpu\":\"200m\",\"memory\":\"32Mi\"}}}],"
     "\"initContainers\":[{\"name\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"500m\","
     "\"memory\":\"1Gi\"}}},{\"name\":\"j\",\"resources\":{\"requests\":{\"cpu\":\"50m\"}}}]",
     "", "Running", true},
    {"overhead-on-limits",
     "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"1\"},\"limits\":{"
     "\"cpu\":\"2\"}}}],\"overhead\":{\"cpu\":\"250m\"}",
     "", "Running", true},
    {"overhead-no-limits",
     "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}}],"
     "\"overhead\":{\"cpu\":\"100m\",\"memory\":\"10Mi\"}",
     "", "Running", false},
    {"sidecar",
     "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}}],"
     "\"initContainers\":[{\"name\":\"s\",\"restartPolicy\":\"Always\",\"resources\":{"
     "\"requests\":{\"cpu\":\"300m\"}}}]",
     "", "Running", false},
    {"limits-only",
     "\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":"
     "\"1Gi\"}}}]",
     "", "Running", false},
    {"succeeded", "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"5\"}}}]",
     "", "Succeeded", true},
    {"failed", "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"7\"}}}]", "",
     "Failed", true},
    {"deleted-long-ago",
     "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"3\"}}}]",
     ",\"deletionTimestamp\":\"2020-01-01T00:00:00Z\",\"deletionGracePeriodSeconds\":30", "Running",
     false},
    {"deleting",
     "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"300m\"}}}]",
     ",\"deletionTimestamp\":\"2099-01-01T00:00:00Z\",\"deletionGracePeriodSeconds\":30", "Running",
     false},
    {"sub-milli", "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"1u\"}}}]",
     "", "Running", false},
    {"mixed-formats",
     "\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"memory\":\"1Gi\"}}},{"
     "\"name\":\"b\",\"resources\":{\"requests\":{\"memory\":\"1G\"}}}]",
     "", "Running", false},
    {"decimal-memory",
     "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"memory\":\"500M\",\"cpu\":"
     "\"2\"},\"limits\":{\"memory\":\"1G\"}}}],\"priorityClassName\":\"high\"",
     "", "Running", true},
    {"extended",
     "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"nvidia.com/gpu\":\"1\","
     "\"hugepages-2Mi\":\"4Mi\",\"ephemeral-storage\":\"1Gi\",\"cpu\":\"1500m\"},\"limits\":{"
     "\"nvidia.com/gpu\":\"1\",\"hugepages-2Mi\":\"4Mi\",\"ephemeral-storage\":\"2Gi\"}}}],"
     "\"activeDeadlineSeconds\":60",
     "", "Running", true},
    {"number", "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":2}}}]", "",
     "Pending", false},
    {"best-effort", "\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}]", "", "Pending", true},
};

static int pods_plain(const char *path, const char *name)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT min(p.quota_plain), max(p.quota_plain) FROM pods p JOIN objects"
                           " o ON o.id = p.obj_id WHERE o.ns = 'mixed' AND o.name = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
            sqlite3_column_int(st, 0) == sqlite3_column_int(st, 1))
            v = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static json_t *used_of(bool from_json)
{
    static const char *const members[] = {"m1", "m2"};
    fl_quota_opts o = FL_QUOTA_OPTS_INIT;
    fl_quota *q = NULL;
    fl_err err = FL_ERR_INIT;
    json_t *used = NULL;
    o.index = idx, o.host = host_mixed, o.members = members, o.nmembers = 2, o.threads = 1;
    o.count_from_json = from_json;
    T_EQ_INT(fl_quota_new(&o, &q, &err), 0);
    T_EQ_INT(fl_quota_used(q, "mixed", &used, &err), 0);
    /* the off-lock recount (the same way of counting) agrees: no drift */
    T_EQ_INT(fl_quota_recount(q, "mixed", &err), 0);
    fl_quota_stats st;
    fl_quota_stats_get(q, &st);
    T_EQ_INT(st.drift, 0);
    fl_quota_free(q);
    return used;
}

static void test_rows_equal_json(const char *path)
{
    static const char *const clusters[] = {"m1", "m2"};
    char obj[4096];
    for (size_t c = 0; c < 2; c++)
        for (size_t i = 0; i < FL_ARRAY_LEN(shapes); i++) {
            if (c == 1 && i % 3 == 0)
                continue; /* m2 has most of them: same names in two clusters */
            snprintf(obj, sizeof obj,
                     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                     "\"namespace\":\"mixed\",\"uid\":\"u-%zu-%s\",\"resourceVersion\":\"5\"%s},"
                     "\"spec\":{%s},\"status\":{\"phase\":\"%s\"}}",
                     shapes[i].name, c, shapes[i].name, shapes[i].meta, shapes[i].spec,
                     shapes[i].phase);
            submit(clusters[c], "", "pods", "Pod", obj);
        }
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    for (size_t i = 0; i < FL_ARRAY_LEN(shapes); i++)
        if (pods_plain(path, shapes[i].name) != (int)shapes[i].plain) {
            fprintf(stderr, "pod %s: quota_plain %d, want %d\n", shapes[i].name,
                    pods_plain(path, shapes[i].name), shapes[i].plain);
            T_CHECK(!"quota_plain as expected");
        }
    for (int scoped = 0; scoped < 2; scoped++) {
        mixed_scoped = scoped;
        json_t *rows = used_of(false), *js = used_of(true);
        char *a = json_dumps(rows, JSON_SORT_KEYS), *b = json_dumps(js, JSON_SORT_KEYS);
        if (!a || !b || strcmp(a, b)) {
            fprintf(stderr, "scoped %d: from rows %s\n  from JSON %s\n", scoped, a, b);
            T_CHECK(!"the count from rows equals the count from JSON");
        }
        free(a), free(b);
        if (!scoped) /* every pod of m1 (16) and m2 (10), terminal or not */
            T_EQ_STR(fl_obj_str_or(json_object_get(rows, "all"), "count/pods", "?"), "26");
        json_decref(rows), json_decref(js);
    }
    mixed_scoped = false;
}

int main(void)
{
    char dir[] = "/tmp/flotilla-quota-ledger-XXXXXX", path[256];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    io.path = path;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&io, &idx, &err), 0);
    test_reservations();
    test_ttl();
    test_stale();
    test_malformed();
    test_host_objects();
    test_namespaces_in_parallel();
    test_rows_equal_json(path);
    fl_index_close(idx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return t_done();
}
