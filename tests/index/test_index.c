/*
 * tests/index/test_index.c: the index end to end through its public API —
 * pruning, Secret data, the cluster annotation, labels/FTS side tables in
 * step under updates and deletes, unchanged resourceVersions, relist diff,
 * sync state, change log and its retention, subscriptions, queries
 * (selectors, keyset cursors, counts), pod/node facts, back-pressure, and
 * snapshots that stay consistent while the writer goes on.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/index.h"
#include "tests/test.h"

static char dir[256];

static const fl_index_src PODS = {"east", "", "v1", "pods", "Pod"};
static const fl_index_src PODS_W = {"west", "", "v1", "pods", "Pod"};
static const fl_index_src NODES = {"east", "", "v1", "nodes", "Node"};
static const fl_index_src SECRETS = {"east", "", "v1", "secrets", "Secret"};

static fl_index *open_idx(const char *name, fl_index_opts *o)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fl_index_opts d = FL_INDEX_OPTS_INIT;
    if (!o)
        o = &d;
    o->path = path;
    o->cache_kib = 4096;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = fl_index_open(o, &idx, &err);
    if (rc)
        fprintf(stderr, "open: %s\n", err.msg);
    T_EQ_INT(rc, 0);
    return idx;
}

static sqlite3 *raw_db(const char *name)
{
    char path[512];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    return db;
}

static long long q1(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        fprintf(stderr, "q1 %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return v;
}

static char *pod(const char *ns, const char *name, const char *rv, const char *app,
                 const char *image, const char *node, const char *phase)
{
    char *s = NULL;
    int n = asprintf(
        &s,
        "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"%"
        "s\","
        "\"uid\":\"uid-%s-%s\",\"resourceVersion\":\"%s\",\"creationTimestamp\":\"2026-01-02T03:04:"
        "05Z\","
        "\"labels\":{\"app\":\"%s\",\"tier\":\"web\"},"
        "\"annotations\":{\"note\":\"hello "
        "<world>\",\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"},"
        "\"ownerReferences\":[{\"apiVersion\":\"apps/"
        "v1\",\"kind\":\"ReplicaSet\",\"name\":\"rs\",\"uid\":\"rs-uid\",\"controller\":true}],"
        "\"managedFields\":[{\"manager\":\"kubectl\",\"operation\":\"Update\"}]},"
        "\"spec\":{\"nodeName\":\"%s\",\"priorityClassName\":\"high\","
        "\"initContainers\":[{\"name\":\"init\",\"image\":\"busybox:1\",\"resources\":{"
        "\"requests\":{\"cpu\":\"2\",\"memory\":\"64Mi\"}}}],"
        "\"containers\":[{\"name\":\"a\",\"image\":\"%s\",\"resources\":{\"requests\":{\"cpu\":"
        "\"250m\",\"memory\":\"128Mi\",\"nvidia.com/gpu\":\"1\"},\"limits\":{\"cpu\":\"500m\"}}},"
        "{\"name\":\"b\",\"image\":\"sidecar:2\",\"resources\":{\"requests\":{\"cpu\":\"250m\","
        "\"memory\":\"128Mi\"},\"limits\":{\"cpu\":\"1\"}}}],"
        "\"overhead\":{\"cpu\":\"100m\"}},"
        "\"status\":{\"phase\":\"%s\",\"qosClass\":\"Burstable\"}}",
        name, ns, ns, name, rv, app, node, image, phase);
    return n < 0 ? NULL : s;
}

static int submit(fl_index *idx, const fl_index_src *src, const char *type, const char *obj)
{
    char *ev = NULL;
    if (asprintf(&ev, "{\"type\":\"%s\",\"object\":%s}", type, obj) < 0)
        return -ENOMEM;
    int rc = fl_index_submit_event(idx, src, ev, strlen(ev), NULL);
    free(ev);
    return rc;
}

static void ev(fl_index *idx, const fl_index_src *src, const char *type, char *obj)
{
    T_EQ_INT(submit(idx, src, type, obj), 0);
    free(obj);
}

/* ------------------------------------------------------------ callbacks */

typedef struct got {
    int n;
    char json[8192];
    char names[64][64];
    int64_t revs[64];
} got;

static int grab(void *arg, const fl_index_row *row)
{
    got *g = arg;
    if (g->n < 64) {
        snprintf(g->names[g->n], sizeof g->names[0], "%s/%s@%s", row->namespace_, row->name,
                 row->cluster);
        g->revs[g->n] = row->revision;
    }
    snprintf(g->json, sizeof g->json, "%.*s", (int)row->json_len, row->json);
    g->n++;
    return 0;
}

static got *list(fl_index_reader *r, fl_index_query *q)
{
    static got g;
    memset(&g, 0, sizeof g);
    fl_err err = FL_ERR_INIT;
    int rc = fl_index_list(r, q, grab, &g, NULL, &err);
    if (rc)
        fprintf(stderr, "list: %s\n", err.msg);
    T_EQ_INT(rc, 0);
    return &g;
}

static int stop_at_3(void *arg, const fl_index_row *row)
{
    (void)row;
    return ++*(int64_t *)arg == 3 ? 7 : 0;
}

/* ------------------------------------------------------------ the tests */

static void test_prune_and_secret(void)
{
    fl_index *idx = open_idx("prune.db", NULL);
    ev(idx, &PODS, "ADDED", pod("ns1", "p1", "10", "shop", "nginx:1.25", "n1", "Running"));
    const char *sec = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Secret\",\"apiVersion\":\"v1\","
                      "\"metadata\":{\"name\":\"s1\",\"namespace\":\"ns1\",\"uid\":\"su\","
                      "\"resourceVersion\":\"11\"},\"data\":{\"password\":\"aHVudGVyMg==\"},"
                      "\"stringData\":{\"x\":\"y\"},\"type\":\"Opaque\"}}";
    T_EQ_INT(fl_index_submit_event(idx, &SECRETS, sec, strlen(sec), NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);

    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    got g = {0};
    fl_index_key k = {"east", "", "v1", "pods", "ns1", "p1"};
    T_EQ_INT(fl_index_get(r, &k, grab, &g, NULL), 0);
    T_CHECK(strstr(g.json, "managedFields") == NULL);
    T_CHECK(strstr(g.json, "last-applied-configuration") == NULL);
    T_CHECK(strstr(g.json, "\"shadow.clusterpedia.io/cluster-name\":\"east\"") != NULL);
    T_CHECK(strstr(g.json, "hello \\u003cworld\\u003e") != NULL); /* Go escaping */
    T_CHECK(strncmp(g.json, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\"", 31) == 0);
    memset(&g, 0, sizeof g);
    fl_index_key ks = {"east", "", "v1", "secrets", "ns1", "s1"};
    T_EQ_INT(fl_index_get(r, &ks, grab, &g, NULL), 0);
    T_CHECK(strstr(g.json, "aHVudGVyMg") == NULL);
    T_CHECK(strstr(g.json, "\"data\"") == NULL);
    T_CHECK(strstr(g.json, "stringData") == NULL);
    T_CHECK(strstr(g.json, "\"type\":\"Opaque\"") != NULL);
    fl_index_key kn = {"east", "", "v1", "pods", "ns1", "nope"};
    T_EQ_INT(fl_index_get(r, &kn, grab, &g, NULL), FL_ENOTFOUND);
    fl_index_reader_free(r);
    fl_index_close(idx);

    /* keep options */
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.keep_managed_fields = o.keep_last_applied = true;
    idx = open_idx("keep.db", &o);
    ev(idx, &PODS, "ADDED", pod("ns1", "p1", "10", "shop", "nginx:1.25", "n1", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    memset(&g, 0, sizeof g);
    T_EQ_INT(fl_index_get(r, &k, grab, &g, NULL), 0);
    T_CHECK(strstr(g.json, "managedFields") != NULL);
    T_CHECK(strstr(g.json, "last-applied-configuration") != NULL);
    fl_index_reader_free(r);
    fl_index_close(idx);
}

static void test_side_tables(void)
{
    fl_index *idx = open_idx("side.db", NULL);
    ev(idx, &PODS, "ADDED",
       pod("ns1", "p1", "1", "shop", "registry.io/team/nginx:1.25", "n1", "Running"));
    ev(idx, &PODS, "ADDED", pod("ns1", "p2", "2", "shop", "redis:7", "n1", "Running"));
    ev(idx, &PODS, "ADDED", pod("ns2", "p3", "3", "cart", "redis:7", "n2", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    sqlite3 *db = raw_db("side.db");
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels"), 6);
    T_EQ_INT(q1(db, "SELECT count(*) FROM fts"), 3);

    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = "", q.resource = "pods";
    const char *shop[] = {"shop"}, *both[] = {"shop", "cart"};
    fl_index_label_req eq = {"app", FL_INDEX_LABEL_EQ, shop, 1};
    q.labels = &eq, q.n_labels = 1;
    T_EQ_INT(list(r, &q)->n, 2);
    fl_index_label_req notin = {"app", FL_INDEX_LABEL_NOTIN, both, 2};
    q.labels = &notin;
    T_EQ_INT(list(r, &q)->n, 0);
    fl_index_label_req nex = {"zzz", FL_INDEX_LABEL_NOT_EXISTS, NULL, 0};
    q.labels = &nex;
    T_EQ_INT(list(r, &q)->n, 3);
    q.labels = NULL, q.n_labels = 0;
    q.text = "team/ngi"; /* substring of an image */
    T_EQ_INT(list(r, &q)->n, 1);
    q.text = "CART"; /* label value, case-insensitive */
    T_EQ_INT(list(r, &q)->n, 1);
    q.text = "ab";
    T_EQ_INT(fl_index_list(r, &q, grab, NULL, NULL, NULL), -EINVAL);
    q.text = NULL;

    /* update p1: label and image change; p2: only status changes */
    ev(idx, &PODS, "MODIFIED", pod("ns1", "p1", "4", "cart", "httpd:2", "n1", "Running"));
    ev(idx, &PODS, "MODIFIED", pod("ns1", "p2", "5", "shop", "redis:7", "n1", "Succeeded"));
    ev(idx, &PODS, "DELETED", pod("ns2", "p3", "6", "cart", "redis:7", "n2", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels"), 4);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE key = 'app' AND value = 'cart'"), 1);
    T_EQ_INT(q1(db, "SELECT count(*) FROM fts"), 2);
    T_EQ_INT(q1(db, "SELECT count(*) FROM fts WHERE fts MATCH '\"nginx\"'"), 0);
    T_EQ_INT(q1(db, "SELECT count(*) FROM fts WHERE fts MATCH '\"httpd\"'"), 1);
    /* every live object has exactly its labels, tombstones have none */
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels l JOIN objects o ON o.id = l.obj_id"
                    " WHERE o.deleted_ms IS NOT NULL"),
             0);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects o WHERE o.deleted_ms IS NULL AND"
                    " (SELECT count(*) FROM labels WHERE obj_id = o.id) != 2"),
             0);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE deleted_ms IS NOT NULL"), 1);
    q.labels = &eq, q.n_labels = 1;
    T_EQ_INT(list(r, &q)->n, 1);
    q.labels = NULL, q.n_labels = 0;
    q.include_deleted = true;
    T_EQ_INT(list(r, &q)->n, 3);
    q.include_deleted = false;

    /* pod facts: p2 terminal now, p1 counted */
    fl_index_pod p;
    fl_index_key k1 = {"east", "", "v1", "pods", "ns1", "p1"};
    T_EQ_INT(fl_index_pod_get(r, &k1, &p, NULL), 0);
    T_EQ_STR(p.node, "n1");
    T_EQ_STR(p.phase, "Running");
    T_EQ_STR(p.qos, "Burstable");
    T_EQ_STR(p.priority_class, "high");
    T_CHECK(!p.terminal);
    fl_index_key k2 = {"east", "", "v1", "pods", "ns1", "p2"};
    T_EQ_INT(fl_index_pod_get(r, &k2, &p, NULL), 0);
    T_CHECK(p.terminal);
    /* cpu: max(250m+250m, init 2) + 100m overhead = 2100m; limits 500m+1 + 100m = 1600m;
     * memory: max(256Mi, 64Mi); gpu 1 */
    T_EQ_INT(q1(db, "SELECT requests FROM pod_resources x JOIN objects o ON o.id = x.obj_id"
                    " WHERE o.name = 'p1' AND resource = 'cpu'"),
             2100);
    T_EQ_INT(q1(db, "SELECT limits FROM pod_resources x JOIN objects o ON o.id = x.obj_id"
                    " WHERE o.name = 'p1' AND resource = 'cpu'"),
             1600);
    T_EQ_INT(q1(db, "SELECT requests FROM pod_resources x JOIN objects o ON o.id = x.obj_id"
                    " WHERE o.name = 'p1' AND resource = 'memory'"),
             256LL * 1048576 * 1000);
    T_EQ_INT(q1(db, "SELECT requests FROM pod_resources x JOIN objects o ON o.id = x.obj_id"
                    " WHERE o.name = 'p1' AND resource = 'nvidia.com/gpu'"),
             1000);
    T_EQ_INT(q1(db, "SELECT count(*) FROM pods"), 2); /* deleted p3's facts gone */
    sqlite3_close(db);
    fl_index_reader_free(r);
    fl_index_close(idx);
}

typedef struct usage_acc {
    int64_t cpu, pods;
    int rows;
} usage_acc;

static int usage_cb(void *arg, const fl_index_usage *u)
{
    usage_acc *a = arg;
    a->rows++;
    if (strcmp(u->resource, "cpu") == 0)
        a->cpu += u->requests;
    if (strcmp(u->resource, "pods") == 0)
        a->pods += u->requests;
    return 0;
}

typedef struct node_acc {
    int n;
    bool ready, unsched;
    char zone[32], taints[256];
    int64_t alloc_cpu, cap_mem;
} node_acc;

static int node_cb(void *arg, const fl_index_node *n)
{
    node_acc *a = arg;
    a->n++;
    a->ready = n->ready, a->unsched = n->unschedulable;
    snprintf(a->zone, sizeof a->zone, "%s", n->zone);
    snprintf(a->taints, sizeof a->taints, "%s", n->taints_json);
    for (size_t i = 0; i < n->n_resources; i++) {
        if (strcmp(n->resources[i], "cpu") == 0)
            a->alloc_cpu = n->allocatable[i];
        if (strcmp(n->resources[i], "memory") == 0)
            a->cap_mem = n->capacity[i];
    }
    return 0;
}

static void test_facts_reads(void)
{
    fl_index *idx = open_idx("facts.db", NULL);
    ev(idx, &PODS, "ADDED", pod("ns1", "p1", "1", "a", "x:1", "n1", "Running"));
    ev(idx, &PODS, "ADDED", pod("ns1", "p2", "2", "a", "x:1", "n1", "Pending"));
    ev(idx, &PODS, "ADDED", pod("ns1", "p3", "3", "a", "x:1", "n2", "Failed"));
    ev(idx, &PODS_W, "ADDED", pod("ns1", "p1", "1", "a", "x:1", "w1", "Running"));
    const char *node =
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\","
        "\"metadata\":{\"name\":\"n1\",\"uid\":\"nu\",\"resourceVersion\":\"9\",\"labels\":{"
        "\"topology.kubernetes.io/region\":\"eu\",\"topology.kubernetes.io/zone\":\"eu-1a\"}},"
        "\"spec\":{\"unschedulable\":true,\"taints\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}]},"
        "\"status\":{\"capacity\":{\"cpu\":\"4\",\"memory\":\"8Gi\"},\"allocatable\":{\"cpu\":"
        "\"3800m\","
        "\"memory\":\"7Gi\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}}";
    T_EQ_INT(fl_index_submit_event(idx, &NODES, node, strlen(node), NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    usage_acc a = {0};
    T_EQ_INT(fl_index_usage_by_namespace(r, "east", "ns1", usage_cb, &a, NULL), 0);
    T_EQ_INT(a.cpu, 4200); /* two non-terminal pods of 2100m */
    T_EQ_INT(a.pods, 2000);
    memset(&a, 0, sizeof a);
    T_EQ_INT(fl_index_usage_by_namespace(r, NULL, NULL, usage_cb, &a, NULL), 0);
    T_EQ_INT(a.pods, 3000);
    memset(&a, 0, sizeof a);
    T_EQ_INT(fl_index_usage_by_node(r, "west", usage_cb, &a, NULL), 0);
    T_EQ_INT(a.cpu, 2100);
    node_acc n = {0};
    T_EQ_INT(fl_index_nodes(r, "east", node_cb, &n, NULL), 0);
    T_EQ_INT(n.n, 1);
    T_CHECK(n.ready);
    T_CHECK(n.unsched);
    T_EQ_STR(n.zone, "eu-1a");
    T_EQ_STR(n.taints, "[{\"key\":\"k\",\"effect\":\"NoSchedule\"}]");
    T_EQ_INT(n.alloc_cpu, 3800);
    T_EQ_INT(n.cap_mem, 8LL * 1073741824 * 1000);
    fl_index_reader_free(r);
    fl_index_close(idx);
}

/* Restartable init containers (sidecars) as upstream PodRequests counts them. */
static void test_sidecars(void)
{
    fl_index *idx = open_idx("sidecar.db", NULL);
    static const char *const tmpl =
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
        "\"name\":\"%s\",\"namespace\":\"ns\",\"uid\":\"%s\",\"resourceVersion\":\"1\"},"
        "\"spec\":{\"initContainers\":[%s,%s],\"containers\":[{\"name\":\"app\",\"resources\":"
        "{\"requests\":{\"cpu\":\"500m\"},\"limits\":{\"cpu\":\"2\"}}}]}}}";
    const char *side = "{\"name\":\"side\",\"restartPolicy\":\"Always\",\"resources\":"
                       "{\"requests\":{\"cpu\":\"100m\"},\"limits\":{\"cpu\":\"200m\"}}}";
    const char *init = "{\"name\":\"init\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}}";
    char buf[2048];
    snprintf(buf, sizeof buf, tmpl, "a", "ua", side, init); /* init runs beside the sidecar */
    T_EQ_INT(fl_index_submit_event(idx, &PODS, buf, strlen(buf), NULL), 0);
    snprintf(buf, sizeof buf, tmpl, "b", "ub", init, side); /* init runs before it */
    T_EQ_INT(fl_index_submit_event(idx, &PODS, buf, strlen(buf), NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    sqlite3 *db = raw_db("sidecar.db");
    T_EQ_INT(q1(db, "SELECT requests FROM pod_resources x JOIN objects o ON o.id = x.obj_id"
                    " WHERE o.name = 'a' AND resource = 'cpu'"),
             1100);
    T_EQ_INT(q1(db, "SELECT requests FROM pod_resources x JOIN objects o ON o.id = x.obj_id"
                    " WHERE o.name = 'b' AND resource = 'cpu'"),
             1000);
    T_EQ_INT(q1(db, "SELECT limits FROM pod_resources x JOIN objects o ON o.id = x.obj_id"
                    " WHERE o.name = 'a' AND resource = 'cpu'"),
             2200);
    sqlite3_close(db);
    fl_index_close(idx);
}

/* ------------------------------------------------------------- relist */

static char *list_of(int n, int first, const char *rv_of_item, const char *listrv)
{
    fl_buf b = FL_BUF_INIT(1 << 24);
    fl_buf_printf(&b,
                  "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
                  "\"%s\"},\"items\":[",
                  listrv);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", first + i);
        char *p = pod("ns", name, rv_of_item, "a", "x:1", "n", "Running");
        /* list items carry no kind/apiVersion */
        char *body = strstr(p, "\"metadata\"");
        fl_buf_printf(&b, "%s{%s", i ? "," : "", body);
        free(p);
    }
    fl_buf_puts(&b, "]}");
    return fl_buf_steal(&b);
}

static void test_relist(void)
{
    fl_index *idx = open_idx("relist.db", NULL);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_relist_begin(idx, &PODS, NULL), 0);
    char *l = list_of(10, 0, "5", "100");
    T_EQ_INT(fl_index_submit_list(idx, &PODS, l, strlen(l), NULL), 0);
    free(l);
    T_EQ_INT(fl_index_relist_end(idx, &PODS, "100", NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    int64_t rev1 = 0;
    T_EQ_INT(fl_index_reader_revision(r, &rev1), 0);
    T_EQ_INT(rev1, 10);
    fl_index_sync st;
    T_EQ_INT(fl_index_sync_get(r, &PODS, &st, NULL), 0);
    T_EQ_STR(st.resource_version, "100");
    T_EQ_STR(st.phase, "Synced");
    T_EQ_INT(st.object_count, 10);
    T_CHECK(st.last_list_ms > 0);
    sqlite3 *db = raw_db("relist.db");
    long long synced = q1(db, "SELECT synced_ms FROM objects WHERE name = 'p3'");
    usleep(5000);

    /* second relist: p0..p5 unchanged (same RV), p6..p9 gone, p10 new */
    T_EQ_INT(fl_index_relist_begin(idx, &PODS, NULL), 0);
    l = list_of(6, 0, "5", "200");
    T_EQ_INT(fl_index_submit_list(idx, &PODS, l, strlen(l), NULL), 0);
    free(l);
    l = list_of(1, 10, "150", "200");
    T_EQ_INT(fl_index_submit_list(idx, &PODS, l, strlen(l), NULL), 0);
    free(l);
    T_EQ_INT(fl_index_relist_end(idx, &PODS, "200", NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    int64_t rev2 = 0;
    T_EQ_INT(fl_index_reader_revision(r, &rev2), 0);
    T_EQ_INT(rev2, 10 + 4 + 1); /* 4 deletes + 1 add; unchanged rows write nothing */
    T_EQ_INT(q1(db, "SELECT synced_ms FROM objects WHERE name = 'p3'"), synced);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE deleted_ms IS NOT NULL"), 4);
    T_EQ_INT(fl_index_sync_get(r, &PODS, &st, NULL), 0);
    T_EQ_STR(st.resource_version, "200");
    T_EQ_INT(st.object_count, 7);

    /* a list item that cannot be read poisons the relist: p4 and p5 are
     * missing from it but may well exist, so nothing is deleted */
    T_EQ_INT(fl_index_relist_begin(idx, &PODS, NULL), 0);
    l = list_of(4, 0, "5", "210");
    l[strlen(l) - 2] = 0; /* drop "]}" */
    char *bad = NULL;
    T_CHECK(asprintf(&bad, "%s,{\"kind\":\"Pod\"}]}", l) > 0);
    T_EQ_INT(fl_index_submit_list(idx, &PODS, bad, strlen(bad), NULL), 0);
    free(bad);
    free(l);
    l = list_of(1, 10, "150", "210");
    T_EQ_INT(fl_index_submit_list(idx, &PODS, l, strlen(l), NULL), 0);
    free(l);
    T_EQ_INT(fl_index_relist_end(idx, &PODS, "210", NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE deleted_ms IS NULL"), 7);
    T_EQ_INT(fl_index_sync_get(r, &PODS, &st, NULL), 0);
    T_EQ_STR(st.resource_version, "210");
    T_CHECK(strstr(st.last_error, "could not be read") != NULL);

    /* aborted relist deletes nothing */
    T_EQ_INT(fl_index_relist_begin(idx, &PODS, NULL), 0);
    T_EQ_INT(fl_index_relist_abort(idx, &PODS, NULL), 0);
    T_EQ_INT(fl_index_sync_set(idx, &PODS, "Watching", 42, "boom", NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE deleted_ms IS NULL"), 7);
    T_EQ_INT(fl_index_sync_get(r, &PODS, &st, NULL), 0);
    T_EQ_STR(st.phase, "Watching");
    T_EQ_STR(st.last_error, "boom");
    T_EQ_INT(st.lag_ms, 42);

    /* events record their RV as the resume point; bookmarks too */
    ev(idx, &PODS, "MODIFIED", pod("ns", "p1", "300", "a", "x:1", "n", "Running"));
    const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
                     "\"metadata\":{\"resourceVersion\":\"310\",\"creationTimestamp\":null}}}";
    T_EQ_INT(fl_index_submit_event(idx, &PODS, bm, strlen(bm), NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_INT(fl_index_sync_get(r, &PODS, &st, NULL), 0);
    T_EQ_STR(st.resource_version, "310");
    const char *er =
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
        "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: 1 (311)\","
        "\"reason\":\"Expired\",\"code\":410}}";
    T_EQ_INT(fl_index_submit_event(idx, &PODS, er, strlen(er), NULL), 0);
    T_EQ_INT(fl_index_submit_event(idx, &PODS, "{nope", 5, NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    T_EQ_INT(fl_index_sync_get(r, &PODS, &st, NULL), 0);
    T_CHECK(strstr(st.last_error, "parse") || strstr(st.last_error, "watch event"));
    fl_index_stats stats;
    fl_index_stats_get(idx, &stats);
    T_EQ_INT(stats.decode_errors, 2); /* the item without metadata, "{nope" */
    T_CHECK(stats.objects_skipped >= 6);
    sqlite3_close(db);
    fl_index_reader_free(r);
    fl_index_close(idx);
}

/* ---------------------------------------------------- queries & cursors */

static void test_queries(void)
{
    fl_index *idx = open_idx("query.db", NULL);
    for (int i = 0; i < 20; i++) {
        char name[16], rv[16];
        snprintf(name, sizeof name, "p%02d", i);
        snprintf(rv, sizeof rv, "%d", i + 1);
        ev(idx, i % 2 ? &PODS : &PODS_W, "ADDED",
           pod(i < 10 ? "a" : "b", name, rv, i % 3 ? "x" : "y", "img:1", "n", "Running"));
    }
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = "", q.resource = "pods", q.limit = 7;
    /* keyset pages over key order cover everything once */
    int total = 0;
    char ns[16] = "", name[16] = "", cl[16] = "";
    for (int page = 0; page < 5; page++) {
        got *g = list(r, &q);
        total += g->n;
        if (g->n < 7)
            break;
        sscanf(g->names[g->n - 1], "%15[^/]/%15[^@]@%15s", ns, name, cl);
        q.after_namespace = ns, q.after_name = name, q.after_cluster = cl;
    }
    T_EQ_INT(total, 20);
    /* a callback's nonzero answer stops the walk and is returned */
    memset(&q, 0, sizeof q);
    q.group = "", q.resource = "pods";
    int64_t seen = 0;
    T_EQ_INT(fl_index_list(r, &q, stop_at_3, &seen, NULL, NULL), 7);
    T_EQ_INT(seen, 3);
    /* revision order and cursor */
    memset(&q, 0, sizeof q);
    q.group = "", q.resource = "pods", q.order = FL_INDEX_ORDER_REVISION, q.after_revision = 15;
    got *g = list(r, &q);
    T_EQ_INT(g->n, 5);
    T_EQ_INT(g->revs[0], 16);
    /* clusters, namespaces, names, owner */
    memset(&q, 0, sizeof q);
    q.group = "", q.resource = "pods";
    const char *west[] = {"west"}, *nsb[] = {"b"}, *names[] = {"p10", "p11", "p03"},
               *unknown[] = {"zz"};
    q.clusters = west, q.n_clusters = 1;
    T_EQ_INT(list(r, &q)->n, 10);
    q.namespaces = nsb, q.n_namespaces = 1;
    T_EQ_INT(list(r, &q)->n, 5);
    q.names = names, q.n_names = 3;
    T_EQ_INT(list(r, &q)->n, 1);
    q.clusters = unknown;
    T_EQ_INT(list(r, &q)->n, 0);
    memset(&q, 0, sizeof q);
    q.group = "", q.resource = "pods", q.owner_uid = "rs-uid";
    int64_t cnt = 0;
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, 20);
    q.owner_uid = "other";
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, 0);
    q.owner_uid = NULL;
    q.created_since = 1767323045; /* 2026-01-02T03:04:05Z */
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, 20);
    q.created_since = 1767323046;
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, 0);
    q.created_since = 0;
    q.resource = "nothing";
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, 0);
    q.resource = NULL;
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), -EINVAL);
    q.resource = "pods";
    q.after_name = "x";
    T_EQ_INT(fl_index_list(r, &q, grab, NULL, NULL, NULL), -EINVAL);
    q.after_name = NULL;
    /* injection attempt is just a value */
    const char *evil[] = {"a' OR 1=1 --"};
    q.namespaces = evil, q.n_namespaces = 1;
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, 0);
    /* GT / LT compare integer label values; non-integers never match */
    static const fl_index_src SVC = {"east", "", "v1", "services", "Service"};
    ev(idx, &SVC, "ADDED", pod("c", "s1", "1", "7", "i:1", "", ""));
    ev(idx, &SVC, "ADDED", pod("c", "s2", "1", "12", "i:1", "", ""));
    ev(idx, &SVC, "ADDED", pod("c", "s3", "1", "-3", "i:1", "", ""));
    ev(idx, &SVC, "ADDED", pod("c", "s4", "1", "9z", "i:1", "", ""));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    memset(&q, 0, sizeof q);
    q.group = "", q.resource = "services";
    const char *five[] = {"5"};
    fl_index_label_req gt = {"app", FL_INDEX_LABEL_GT, five, 1};
    q.labels = &gt, q.n_labels = 1;
    T_EQ_INT(list(r, &q)->n, 2);
    gt.op = FL_INDEX_LABEL_LT;
    T_EQ_INT(list(r, &q)->n, 1);
    fl_index_reader_free(r);
    fl_index_close(idx);
}

/* ---------------------------------------------------- change log, retention */

typedef struct chg {
    int n, superseded;
    int64_t last;
    char types[64][10];
    char rvs[64][16]; /* the member resourceVersion of each change's state */
} chg;

static int chg_cb(void *arg, const char *type, bool superseded, int64_t rev,
                  const fl_index_row *row)
{
    chg *c = arg;
    if (c->n < 64)
        snprintf(c->types[c->n], sizeof c->types[0], "%s", type);
    if (c->n < 64)
        snprintf(c->rvs[c->n], sizeof c->rvs[0], "%s", superseded ? "" : row->resource_version);
    c->n++;
    c->superseded += superseded;
    c->last = rev;
    return 0;
}

typedef struct subs {
    pthread_mutex_t mu;
    int64_t last;
    int calls;
} subs;

static void on_change(void *arg, int64_t from, int64_t to)
{
    subs *s = arg;
    pthread_mutex_lock(&s->mu);
    if (from == s->last + 1)
        s->last = to;
    else
        s->last = -1000000; /* gap: fail */
    s->calls++;
    pthread_mutex_unlock(&s->mu);
}

static void test_changelog(void)
{
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.changelog_max = 5;
    fl_index *idx = open_idx("log.db", &o);
    subs s = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    int id = -1;
    T_EQ_INT(fl_index_subscribe(idx, on_change, &s, &id), 0);
    ev(idx, &PODS, "ADDED", pod("ns", "a", "1", "x", "i:1", "n", "Running"));
    ev(idx, &PODS, "ADDED", pod("ns", "b", "2", "x", "i:1", "n", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    ev(idx, &PODS, "MODIFIED", pod("ns", "a", "3", "x", "i:1", "n", "Running"));
    ev(idx, &PODS, "DELETED", pod("ns", "b", "4", "x", "i:1", "n", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    chg c = {0};
    T_EQ_INT(fl_index_changes(r, 0, 0, chg_cb, &c, NULL, NULL), 0);
    T_EQ_INT(c.n, 4);
    T_EQ_STR(c.types[0], "ADDED");
    T_EQ_STR(c.types[1], "ADDED");
    T_EQ_STR(c.types[2], "MODIFIED");
    T_EQ_STR(c.types[3], "DELETED");
    T_EQ_INT(c.superseded, 0); /* each change with the object's state at it */
    T_EQ_STR(c.rvs[0], "1");
    T_EQ_STR(c.rvs[1], "2");
    T_EQ_STR(c.rvs[2], "3");
    T_EQ_STR(c.rvs[3], "4");
    memset(&c, 0, sizeof c);
    T_EQ_INT(fl_index_changes(r, 2, 1, chg_cb, &c, NULL, NULL), 0);
    T_EQ_INT(c.n, 1);
    T_EQ_INT(c.last, 3);
    pthread_mutex_lock(&s.mu);
    T_EQ_INT(s.last, 4);
    pthread_mutex_unlock(&s.mu);
    fl_index_unsubscribe(idx, id);

    /* 8 more revisions: only the last 5 are kept (after housekeeping) */
    for (int i = 0; i < 8; i++) {
        char rv[16];
        snprintf(rv, sizeof rv, "%d", 10 + i);
        ev(idx, &PODS, "MODIFIED", pod("ns", "a", rv, "x", "i:1", "n", "Running"));
        T_EQ_INT(fl_index_flush(idx, 5000), 0);
    }
    usleep(1300 * 1000); /* housekeeping runs once a second when idle */
    int64_t oldest = 0;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_changes(r, 3, 0, chg_cb, &c, &oldest, &err), FL_EGONE);
    T_EQ_INT(oldest, 7);
    T_CHECK(strstr(err.msg, "too old resource version: 3 (7)") != NULL);
    memset(&c, 0, sizeof c);
    T_EQ_INT(fl_index_changes(r, 7, 0, chg_cb, &c, NULL, NULL), 0);
    T_EQ_INT(c.n, 5);
    sqlite3 *db = raw_db("log.db");
    T_EQ_INT(q1(db, "SELECT count(*) FROM changelog"), 5);
    sqlite3_close(db);
    fl_index_reader_free(r);
    fl_index_close(idx);

    /* tombstone retention 0: tombstones go, the floor passes their revision */
    o = (fl_index_opts)FL_INDEX_OPTS_INIT;
    o.tombstone_keep_ms = 0;
    idx = open_idx("tomb.db", &o);
    ev(idx, &PODS, "ADDED", pod("ns", "a", "1", "x", "i:1", "n", "Running"));
    ev(idx, &PODS, "ADDED", pod("ns", "b", "1", "x", "i:1", "n", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    ev(idx, &PODS, "DELETED", pod("ns", "a", "2", "x", "i:1", "n", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    usleep(1300 * 1000);
    db = raw_db("tomb.db");
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects"), 1);
    T_EQ_INT(q1(db, "SELECT value FROM meta WHERE key = 'changelog_floor'"), 3);
    sqlite3_close(db);
    fl_index_close(idx);
}

/* ------------------------------------------------------------ back-pressure */

typedef struct space {
    pthread_mutex_t mu;
    int calls;
} space;

static void on_space(void *arg)
{
    space *s = arg;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    pthread_mutex_unlock(&s->mu);
}

static void test_backpressure(void)
{
    space sp = {PTHREAD_MUTEX_INITIALIZER, 0};
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.queue_max_items = 4;
    o.on_space = on_space, o.on_space_arg = &sp;
    fl_index *idx = open_idx("bp.db", &o);
    int full = 0, ok = 0;
    char *big = list_of(300, 0, "1", "1");
    for (int i = 0; i < 200 && !full; i++) {
        int rc = fl_index_submit_list(idx, &PODS, big, strlen(big), NULL);
        if (rc == FL_EFULL)
            full++;
        else if (rc == 0)
            ok++;
    }
    free(big);
    T_EQ_INT(full, 1);
    T_CHECK(ok >= 4);
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    /* on_space runs on the writer thread just after the flush is released */
    int calls = 0;
    for (int i = 0; i < 200 && !calls; i++) {
        pthread_mutex_lock(&sp.mu);
        calls = sp.calls;
        pthread_mutex_unlock(&sp.mu);
        if (!calls)
            usleep(10000);
    }
    T_EQ_INT(calls, 1);
    fl_index_stats st;
    fl_index_stats_get(idx, &st);
    T_EQ_INT(st.full, 1);
    T_EQ_INT(st.queue_items, 0);
    T_EQ_INT(fl_index_submit_event(idx, &PODS, "", 0, NULL), -EINVAL);
    fl_index_src bad = {"", "", "v1", "pods", "Pod"};
    T_EQ_INT(fl_index_submit_event(idx, &bad, "{}", 2, NULL), -EINVAL);
    fl_index_close(idx);
}

/* ------------------------------------------------------------ snapshots */

typedef struct writer_arg {
    fl_index *idx;
    volatile int stop;
} writer_arg;

static void *churn(void *arg)
{
    writer_arg *w = arg;
    for (int i = 0; !w->stop && i < 400; i++) {
        /* move one unit between two pods: the total of labels "v" stays 100 */
        char rv[16], v1[16], v2[16];
        snprintf(rv, sizeof rv, "%d", 100 + i);
        snprintf(v1, sizeof v1, "%d", 50 + i % 7);
        snprintf(v2, sizeof v2, "%d", 50 - i % 7);
        char *a = pod("ns", "a", rv, v1, "i:1", "n", "Running");
        char *b = pod("ns", "b", rv, v2, "i:1", "n", "Running");
        fl_buf l = FL_BUF_INIT(1 << 20);
        fl_buf_printf(&l, "{\"kind\":\"PodList\",\"items\":[%s,%s]}", a, b);
        while (fl_index_submit_list(w->idx, &PODS, l.data, l.len, NULL) == FL_EFULL)
            usleep(1000);
        fl_buf_done(&l);
        free(a), free(b);
    }
    return NULL;
}

typedef struct sum {
    long long total;
} sum;

static int sum_cb(void *arg, const fl_index_row *row)
{
    sum *s = arg;
    const char *p = strstr(row->json, "\"app\":\"");
    if (p)
        s->total += strtol(p + 7, NULL, 10);
    return 0;
}

static void test_snapshots(void)
{
    fl_index *idx = open_idx("snap.db", NULL);
    ev(idx, &PODS, "ADDED", pod("ns", "a", "1", "50", "i:1", "n", "Running"));
    ev(idx, &PODS, "ADDED", pod("ns", "b", "1", "50", "i:1", "n", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    writer_arg w = {idx, 0};
    pthread_t th;
    pthread_create(&th, NULL, churn, &w);
    int bad = 0, rounds = 0;
    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = "", q.resource = "pods";
    const char *na[] = {"a"}, *nb[] = {"b"};
    for (; rounds < 300; rounds++) {
        sum s = {0};
        int64_t rev1 = 0, rev2 = 0;
        T_EQ_INT(fl_index_reader_begin(r), 0);
        T_EQ_INT(fl_index_reader_begin(r), -EBUSY);
        fl_index_reader_revision(r, &rev1);
        q.names = na, q.n_names = 1;
        fl_index_list(r, &q, sum_cb, &s, NULL, NULL);
        usleep(200); /* let the writer commit in between */
        q.names = nb;
        fl_index_list(r, &q, sum_cb, &s, NULL, NULL);
        fl_index_reader_revision(r, &rev2);
        T_EQ_INT(fl_index_reader_end(r), 0);
        bad += s.total != 100 || rev1 != rev2;
    }
    w.stop = 1;
    pthread_join(th, NULL);
    T_EQ_INT(bad, 0);
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    fl_index_reader_free(r);
    fl_index_close(idx);
}

/* Lists as of an earlier revision: objects created after it absent, those
 * deleted after it present, updated ones (labels too) in their state then;
 * pages through a cursor stay on that revision; older than the log: gone. */
static void test_as_of(void)
{
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.changelog_max = 6;
    fl_index *idx = open_idx("asof.db", &o);
    ev(idx, &PODS, "ADDED", pod("ns", "a", "1", "x", "i:1", "n1", "Running"));
    ev(idx, &PODS, "ADDED", pod("ns", "b", "2", "x", "i:1", "n1", "Running"));
    ev(idx, &PODS_W, "ADDED", pod("ns", "b", "3", "x", "i:1", "n1", "Running"));
    ev(idx, &PODS, "ADDED", pod("ns", "c", "4", "x", "i:1", "n1", "Pending"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    int64_t at = 0;
    T_EQ_INT(fl_index_reader_revision(r, &at), 0);
    T_EQ_INT(at, 4);
    ev(idx, &PODS, "ADDED", pod("ns", "0new", "5", "x", "i:1", "n1", "Running"));
    ev(idx, &PODS, "DELETED", pod("ns", "b", "6", "x", "i:1", "n1", "Running"));
    ev(idx, &PODS, "MODIFIED", pod("ns", "c", "7", "y", "i:1", "n1", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    ev(idx, &PODS, "MODIFIED", pod("ns", "c", "8", "z", "i:1", "n1", "Running"));
    T_EQ_INT(fl_index_flush(idx, 5000), 0);

    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = "", q.resource = "pods";
    got *g = list(r, &q);
    T_EQ_INT(g->n, 4); /* now: 0new, a, b@west, c */
    q.as_of = at;
    g = list(r, &q);
    T_EQ_INT(g->n, 4);
    T_EQ_STR(g->names[0], "ns/a@east");
    T_EQ_STR(g->names[1], "ns/b@east");
    T_EQ_STR(g->names[2], "ns/b@west");
    T_EQ_STR(g->names[3], "ns/c@east");
    T_CHECK(strstr(g->json, "\"resourceVersion\":\"4\"") != NULL); /* c as it was */
    T_CHECK(strstr(g->json, "\"app\":\"x\"") != NULL);

    /* pages of 1 through the cursor, all at revision 4 */
    q.limit = 1;
    g = list(r, &q);
    T_EQ_INT(g->n, 1);
    T_EQ_STR(g->names[0], "ns/a@east");
    q.after_namespace = "ns", q.after_name = "a", q.after_cluster = "east";
    g = list(r, &q);
    T_EQ_STR(g->names[0], "ns/b@east");
    q.after_name = "b";
    g = list(r, &q);
    T_EQ_STR(g->names[0], "ns/b@west");
    q.after_cluster = "west";
    q.limit = 5;
    g = list(r, &q);
    T_EQ_INT(g->n, 1);
    T_EQ_STR(g->names[0], "ns/c@east");
    q.after_namespace = q.after_name = q.after_cluster = NULL;

    /* label selectors see the labels of then */
    fl_index_label_req lx = {"app", FL_INDEX_LABEL_EQ, (const char *const[]){"x"}, 1};
    q.labels = &lx, q.n_labels = 1;
    T_EQ_INT(list(r, &q)->n, 4);
    q.as_of = 0;
    T_EQ_INT(list(r, &q)->n, 3); /* now: 0new, a, b@west */
    q.as_of = at;
    fl_index_label_req lz = {"app", FL_INDEX_LABEL_EQ, (const char *const[]){"z"}, 1};
    q.labels = &lz;
    T_EQ_INT(list(r, &q)->n, 0);
    q.labels = NULL, q.n_labels = 0;
    const char *cl[] = {"west"};
    q.clusters = cl, q.n_clusters = 1;
    T_EQ_INT(list(r, &q)->n, 1);
    q.clusters = NULL, q.n_clusters = 0;

    /* 6 more revisions: revision 4 leaves the log */
    for (int i = 0; i < 6; i++) {
        char rv[16];
        snprintf(rv, sizeof rv, "%d", 20 + i);
        ev(idx, &PODS, "MODIFIED", pod("ns", "a", rv, "x", "i:1", "n1", "Running"));
        T_EQ_INT(fl_index_flush(idx, 5000), 0);
    }
    usleep(1300 * 1000); /* housekeeping */
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_list(r, &q, grab, g, NULL, &err), FL_EGONE);
    T_CHECK(strstr(err.msg, "too old resource version: 4") != NULL);
    sqlite3 *db = raw_db("asof.db");
    T_CHECK(q1(db, "SELECT count(*) FROM history") <= 6);
    T_EQ_INT(q1(db, "SELECT count(*) FROM history WHERE until <= "
                    "(SELECT value FROM meta WHERE key = 'changelog_floor')"),
             0);
    sqlite3_close(db);
    fl_index_reader_free(r);
    fl_index_close(idx);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fl-index-test-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    fl_log_set_level(FL_LOG_ERROR);
    test_prune_and_secret();
    test_side_tables();
    test_facts_reads();
    test_sidecars();
    test_relist();
    test_queries();
    test_changelog();
    test_as_of();
    test_backpressure();
    test_snapshots();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return t_done();
}
