/*
 * tests/index/test_plan.c: the read path's query plans and their answers.
 * Every page shape the search API asks for (no filter, namespace, cluster,
 * names, owner uid, label selectors with cursors, revision order, counts,
 * get by name) must be driven by one index range in the order asked for:
 * no full scan, no temporary sort (EXPLAIN QUERY PLAN via idx_reader_plan).
 * And the label-driven plans must answer exactly what a brute-force filter
 * of the same data answers, page by page through keyset cursors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"
#include "tests/test.h"

#define NPODS 60

static char dir[256];

static const char *const CLUSTERS[] = {"east", "west", "north"};

/* The synthetic pods: pod i lives in cluster i%3, namespace ns-(i%4),
 * name p-(i%20) (so names repeat across clusters), labels app=a(i%5),
 * tier=web|db (i%2), idx=i, owner rs-(i%6), on node n-(i%7), phase
 * Pending when i%3 == 0 else Running. */
static void pod_json(const char *type, int i, char *out, size_t n)
{
    snprintf(
        out, n,
        "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
        "\"metadata\":{\"name\":\"p-%02d\",\"namespace\":\"ns-%d\",\"uid\":\"u-%d\","
        "\"resourceVersion\":\"%d\",\"creationTimestamp\":\"2026-01-0%dT00:00:00Z\","
        "\"labels\":{\"app\":\"a%d\",\"tier\":\"%s\",\"idx\":\"%d\"},"
        "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
        "\"name\":\"rs\",\"uid\":\"rs-%d\",\"controller\":true}]},"
        "\"spec\":{\"nodeName\":\"n-%d\",\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1\"}]},"
        "\"status\":{\"phase\":\"%s\"}}}",
        type, i % 20, i % 4, i, i + 1, 1 + i % 5, i % 5, i % 2 ? "db" : "web", i, i % 6, i % 7,
        i % 3 ? "Running" : "Pending");
}

static fl_index *populate(const char *name)
{
    char path[512], ev[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    o.cache_kib = 2048;
    fl_index *idx = NULL;
    T_EQ_INT(fl_index_open(&o, &idx, NULL), 0);
    if (!idx)
        return NULL;
    for (int i = 0; i < NPODS; i++) {
        fl_index_src src = {CLUSTERS[i % 3], "", "v1", "pods", "Pod"};
        pod_json("ADDED", i, ev, sizeof ev);
        T_EQ_INT(fl_index_submit_event(idx, &src, ev, strlen(ev), NULL), 0);
    }
    T_EQ_INT(fl_index_flush(idx, 10000), 0); /* (else the delete coalesces with the add) */
    /* a tombstone: pod 7 deleted */
    fl_index_src src = {CLUSTERS[7 % 3], "", "v1", "pods", "Pod"};
    pod_json("DELETED", 7, ev, sizeof ev);
    T_EQ_INT(fl_index_submit_event(idx, &src, ev, strlen(ev), NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    return idx;
}

/* ------------------------------------------------------------------ plans */

static void plan_of(fl_index_reader *r, const fl_index_query *q, bool count, char *out, size_t n)
{
    fl_buf b = FL_BUF_INIT(1 << 20);
    fl_err err = FL_ERR_INIT;
    int rc = idx_reader_plan(r, q, count, &b, &err);
    if (rc)
        fprintf(stderr, "plan: %s\n", err.msg);
    T_EQ_INT(rc, 0);
    snprintf(out, n, "%s", b.data ? b.data : "");
    fl_buf_done(&b);
}

/* The plan of q uses `want` (a substring), sorts nothing and scans no table. */
static void expect_plan(fl_index_reader *r, const fl_index_query *q, bool count, const char *want)
{
    char plan[8192];
    plan_of(r, q, count, plan, sizeof plan);
    bool ok = strstr(plan, want) && !strstr(plan, "TEMP B-TREE") && !strstr(plan, "SCAN o") &&
              !strstr(plan, "SCAN l") && !strstr(plan, "SCAN x");
    if (!ok)
        fprintf(stderr, "want \"%s\", no sort, no scan; plan:\n%s", want, plan);
    T_CHECK(ok);
}

static void test_plans(fl_index_reader *r)
{
    fl_index_query q = FL_INDEX_QUERY_INIT;
    const char *ns[] = {"ns-1"}, *ns2[] = {"ns-1", "ns-2"}, *cl[] = {"west"};
    const char *names[] = {"p-03", "p-04"}, *a1[] = {"a1"}, *web[] = {"web"};
    const char *two[] = {"a1", "a2"};
    fl_index_label_req app = {"app", FL_INDEX_LABEL_EQ, a1, 1};
    fl_index_label_req reqs[3] = {{"tier", FL_INDEX_LABEL_NOTIN, web, 1},
                                  {"app", FL_INDEX_LABEL_IN, a1, 1},
                                  {"idx", FL_INDEX_LABEL_EXISTS, NULL, 0}};
    fl_index_label_req set = {"app", FL_INDEX_LABEL_IN, two, 2};
    const char *nine[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9"}, *i34[] = {"3", "4"};
    const char *i5[] = {"5"};
    fl_index_label_req many = {"idx", FL_INDEX_LABEL_IN, nine, 9};
    fl_index_label_req broad_first[2] = {{"tier", FL_INDEX_LABEL_EQ, web, 1},
                                         {"idx", FL_INDEX_LABEL_IN, i34, 2}};
    fl_index_label_req broad_last[2] = {{"idx", FL_INDEX_LABEL_IN, i34, 2},
                                        {"tier", FL_INDEX_LABEL_EQ, web, 1}};
    fl_index_label_req eq_beats_set[2] = {{"app", FL_INDEX_LABEL_IN, two, 2},
                                          {"idx", FL_INDEX_LABEL_EQ, i5, 1}};
    char plan[8192];
    const char *cl2[] = {"west", "east"}, *cl_dup[] = {"west", "west"};

    q.group = "", q.resource = "pods", q.limit = 101;
    expect_plan(r, &q, false, "USING INDEX objects_key (gvr_id=?)");
    q.after_namespace = "ns-1", q.after_name = "p-05", q.after_cluster = "west";
    expect_plan(r, &q, false,
                "USING INDEX objects_key (gvr_id=? AND (ns,name,cluster_id)>(?,?,?))");
    q.namespaces = ns, q.n_namespaces = 1;
    expect_plan(r, &q, false,
                "USING INDEX objects_key (gvr_id=? AND ns=? AND (name,cluster_id)>(?,?))");
    q.namespaces = ns2, q.n_namespaces = 2; /* (a range from the cursor, namespaces filtered) */
    expect_plan(r, &q, false,
                "USING INDEX objects_key (gvr_id=? AND (ns,name,cluster_id)>(?,?,?))");
    q.after_namespace = q.after_name = q.after_cluster = NULL;
    expect_plan(r, &q, false, "USING INDEX objects_key (gvr_id=? AND ns=?)");
    q.n_namespaces = 0;
    q.clusters = cl, q.n_clusters = 1;
    expect_plan(r, &q, false, "USING INDEX objects_scope (cluster_id=? AND gvr_id=?)");
    q.after_namespace = "ns-1", q.after_name = "p-05", q.after_cluster = "west";
    expect_plan(r, &q, false,
                "USING INDEX objects_scope (cluster_id=? AND gvr_id=? AND (ns,name)>(?,?))");
    q.after_namespace = q.after_name = q.after_cluster = NULL;
    q.names = names, q.n_names = 2, q.namespaces = ns, q.n_namespaces = 1;
    expect_plan(r, &q, false, "USING INDEX");
    q.names = NULL, q.n_names = 0, q.namespaces = NULL, q.n_namespaces = 0;
    q.clusters = NULL, q.n_clusters = 0;
    q.owner_uid = "rs-1";
    expect_plan(r, &q, false, "USING INDEX objects_owner (owner_uid=? AND gvr_id=?)");
    q.owner_uid = NULL;
    /* label equality drives from the labels primary key */
    q.labels = &app, q.n_labels = 1;
    expect_plan(r, &q, false, "SEARCH l USING PRIMARY KEY (key=? AND value=? AND gvr_id=?)");
    q.after_namespace = "ns-1", q.after_name = "p-05", q.after_cluster = "west";
    expect_plan(
        r, &q, false,
        "USING PRIMARY KEY (key=? AND value=? AND gvr_id=? AND (ns,name,cluster_id)>(?,?,?))");
    /* within one cluster: labels_cluster (schema v4), limit+1 entries */
    q.namespaces = ns, q.n_namespaces = 1, q.clusters = cl, q.n_clusters = 1;
    expect_plan(r, &q, false,
                "USING COVERING INDEX labels_cluster (key=? AND value=? AND gvr_id=? AND "
                "cluster_id=? AND ns=?");
    q.after_namespace = q.after_name = q.after_cluster = NULL;
    q.namespaces = NULL, q.n_namespaces = 0;
    expect_plan(
        r, &q, false,
        "USING COVERING INDEX labels_cluster (key=? AND value=? AND gvr_id=? AND cluster_id=?)");
    q.clusters = NULL, q.n_clusters = 0;
    expect_plan(r, &q, true, "(key=? AND value=? AND gvr_id=?)");
    /* the first one-value "in" drives; the others probe labels_obj */
    q.labels = reqs, q.n_labels = 3;
    expect_plan(r, &q, false, "USING PRIMARY KEY (key=? AND value=? AND gvr_id=?)");
    expect_plan(r, &q, false, "USING COVERING INDEX labels_obj (obj_id=? AND key=? AND value=?)");
    expect_plan(r, &q, false, "USING COVERING INDEX labels_obj (obj_id=? AND key=?)");
    q.owner_uid = "rs-1";
    expect_plan(r, &q, true, "SEARCH o USING INTEGER PRIMARY KEY");
    q.owner_uid = NULL;
    /* a set of a few values: one labels range per value, merged in key
     * order (no sort); a count reads the values' ranges as one IN */
    q.labels = &set, q.n_labels = 1;
    expect_plan(r, &q, false, "MERGE (UNION ALL)");
    expect_plan(r, &q, false, "SEARCH l USING PRIMARY KEY (key=? AND value=? AND gvr_id=?)");
    q.after_namespace = "ns-1", q.after_name = "p-05", q.after_cluster = "west";
    expect_plan(
        r, &q, false,
        "USING PRIMARY KEY (key=? AND value=? AND gvr_id=? AND (ns,name,cluster_id)>(?,?,?))");
    q.after_namespace = q.after_name = q.after_cluster = NULL;
    q.clusters = cl, q.n_clusters = 1;
    expect_plan(
        r, &q, false,
        "USING COVERING INDEX labels_cluster (key=? AND value=? AND gvr_id=? AND cluster_id=?)");
    q.clusters = NULL, q.n_clusters = 0;
    expect_plan(r, &q, true, "(key=? AND value=? AND gvr_id=?)");
    /* a few clusters: one labels_cluster range per cluster (and value), merged */
    q.labels = &app, q.n_labels = 1;
    q.clusters = cl2, q.n_clusters = 2;
    expect_plan(r, &q, false, "MERGE (UNION ALL)");
    expect_plan(
        r, &q, false,
        "USING COVERING INDEX labels_cluster (key=? AND value=? AND gvr_id=? AND cluster_id=?)");
    q.labels = &set, q.n_labels = 1;
    expect_plan(r, &q, false, "MERGE (UNION ALL)");
    q.clusters = cl_dup, q.n_clusters = 2; /* a name twice: no split */
    plan_of(r, &q, false, plan, sizeof plan);
    T_CHECK(strstr(plan, "MERGE (UNION ALL)") != NULL);
    q.labels = &app, q.n_labels = 1;
    plan_of(r, &q, false, plan, sizeof plan);
    T_CHECK(!strstr(plan, "MERGE"));
    q.clusters = NULL, q.n_clusters = 0;
    /* a set of more values than a merge takes: objects drive, labels are probes */
    q.labels = &many, q.n_labels = 1;
    expect_plan(r, &q, false, "USING INDEX objects_key (gvr_id=?)");
    expect_plan(r, &q, false, "labels_obj (obj_id=? AND key=? AND value=?)");
    /* several candidates: the one whose sample reads the fewest entries
     * drives, whatever the order (tier=web is half the pods, idx in
     * (3,4) two of them) */
    q.labels = broad_first, q.n_labels = 2;
    expect_plan(r, &q, false, "MERGE (UNION ALL)");
    q.labels = broad_last, q.n_labels = 2;
    expect_plan(r, &q, false, "MERGE (UNION ALL)");
    q.labels = eq_beats_set, q.n_labels = 2; /* idx=5 (one pod) over app in (a1,a2) */
    plan_of(r, &q, false, plan, sizeof plan);
    T_CHECK(!strstr(plan, "MERGE"));
    expect_plan(r, &q, false, "SEARCH l USING PRIMARY KEY (key=? AND value=? AND gvr_id=?)");
    /* revision order */
    q.labels = &app, q.n_labels = 1;
    q.order = FL_INDEX_ORDER_REVISION, q.after_revision = 5;
    expect_plan(r, &q, false, "USING INDEX objects_rev (gvr_id=? AND revision>?)");
}

/* spec.nodeName / status.phase on pods: the materialized pods table through
 * its indexes, never the JSON. */
static void test_pod_plans(fl_index_reader *r)
{
    fl_index_query q = FL_INDEX_QUERY_INIT;
    const char *node[] = {"n-3"}, *pending[] = {"Pending"};
    char plan[8192];
    q.group = "", q.resource = "pods", q.limit = 101;
    q.pod_nodes = node, q.n_pod_nodes = 1;
    plan_of(r, &q, false, plan, sizeof plan);
    T_CHECK(strstr(plan, "pods USING COVERING INDEX pods_by_node (node=?)") &&
            !strstr(plan, "SCAN") && !strstr(plan, "json"));
    if (!strstr(plan, "pods_by_node"))
        fprintf(stderr, "node plan:\n%s", plan);
    q.pod_nodes = NULL, q.n_pod_nodes = 0;
    q.pod_phases = pending, q.n_pod_phases = 1;
    expect_plan(r, &q, false, "SEARCH p USING INTEGER PRIMARY KEY (rowid=?)");
    expect_plan(r, &q, false, "USING INDEX objects_key (gvr_id=?)");
    plan_of(r, &q, true, plan, sizeof plan);
    T_CHECK(strstr(plan, "SEARCH p USING INTEGER PRIMARY KEY (rowid=?)") && !strstr(plan, "json"));
}

/* ---------------------------------------------------------- the answers */

typedef struct page {
    int n;
    char keys[NPODS + 1][64];
    char last_ns[32], last_name[32], last_cl[32];
} page;

static int grab(void *arg, const fl_index_row *row)
{
    page *p = arg;
    if (p->n <= NPODS)
        snprintf(p->keys[p->n++], sizeof p->keys[0], "%s/%s@%s", row->namespace_, row->name,
                 row->cluster);
    snprintf(p->last_ns, sizeof p->last_ns, "%s", row->namespace_);
    snprintf(p->last_name, sizeof p->last_name, "%s", row->name);
    snprintf(p->last_cl, sizeof p->last_cl, "%s", row->cluster);
    return 0;
}

/* All pages of q with the given page size, concatenated. */
static int walk(fl_index_reader *r, fl_index_query q, int per, char (*keys)[64], int max)
{
    page p;
    int total = 0;
    q.limit = per;
    for (int guard = 0; guard < 100; guard++) {
        memset(&p, 0, sizeof p);
        T_EQ_INT(fl_index_list(r, &q, grab, &p, NULL, NULL), 0);
        for (int i = 0; i < p.n && total < max; i++)
            memcpy(keys[total++], p.keys[i], 64);
        if (p.n < per)
            break;
        static char ns[32], name[32], cl[32];
        memcpy(ns, p.last_ns, 32), memcpy(name, p.last_name, 32), memcpy(cl, p.last_cl, 32);
        q.after_namespace = ns, q.after_name = name, q.after_cluster = cl;
    }
    return total;
}

static int cluster_rank(const char *c)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(c, CLUSTERS[i]))
            return i;
    return -1;
}

typedef bool (*pod_pred)(int i);

static int cmp_pod(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    char kx[64], ky[64];
    snprintf(kx, sizeof kx, "ns-%d\x01p-%02d\x01%d", x % 4, x % 20, x % 3);
    snprintf(ky, sizeof ky, "ns-%d\x01p-%02d\x01%d", y % 4, y % 20, y % 3);
    return strcmp(kx, ky);
}

/* Brute force: the keys of live pods matching pred, in (ns, name, cluster
 * registration order) order. Clusters registered in order east, west, north. */
static int expected(pod_pred pred, char (*keys)[64])
{
    int ids[NPODS], n = 0;
    for (int i = 0; i < NPODS; i++)
        if (i != 7 && pred(i))
            ids[n++] = i;
    qsort(ids, (size_t)n, sizeof *ids, cmp_pod);
    for (int k = 0; k < n; k++)
        snprintf(keys[k], 64, "ns-%d/p-%02d@%s", ids[k] % 4, ids[k] % 20, CLUSTERS[ids[k] % 3]);
    return n;
}

static bool p_a1(int i)
{
    return i % 5 == 1;
}
static bool p_a1_db(int i)
{
    return i % 5 == 1 && i % 2;
}
static bool p_a1_west(int i)
{
    return i % 5 == 1 && i % 3 == 1;
}
static bool p_a1_ns1(int i)
{
    return i % 5 == 1 && i % 4 == 1;
}
static bool p_a1_rs(int i)
{
    return i % 5 == 1 && i % 6 == 1;
}
static bool p_a12(int i)
{
    return i % 5 == 1 || i % 5 == 2;
}
static bool p_a12_two(int i)
{
    return (i % 5 == 1 || i % 5 == 2) && i % 3 != 2 && i != 7;
}
static bool p_a1_two(int i)
{
    return i % 5 == 1 && i % 3 != 2;
}
static bool p_web_i34(int i)
{
    return i % 2 == 0 && (i == 3 || i == 4);
}
static bool p_a12_west(int i)
{
    return (i % 5 == 1 || i % 5 == 2) && i % 3 == 1;
}
static bool p_a12_db(int i)
{
    return (i % 5 == 1 || i % 5 == 2) && i % 2 == 1 && i != 7;
}
static bool p_idx_gt(int i)
{
    return i > 40;
}
static bool p_a1_not_idx(int i)
{
    return i % 5 == 1 && i != 11 && i != 21;
}
static bool p_all(int i)
{
    (void)i;
    return true;
}
static bool p_west(int i)
{
    return i % 3 == 1;
}
static bool p_rs2(int i)
{
    return i % 6 == 2;
}
static bool p_n3(int i)
{
    return i % 7 == 3 && i != 7;
}
static bool p_pending_a1(int i)
{
    return i % 3 == 0 && i % 5 == 1;
}

static void check_same(fl_index_reader *r, const fl_index_query *q, pod_pred pred, const char *what)
{
    static char got[NPODS][64], want[NPODS][64];
    int w = expected(pred, want);
    int64_t cnt = -1;
    for (int per = 1; per <= 7; per += 3) {
        int g = walk(r, *q, per, got, NPODS);
        T_EQ_INT(g, w);
        bool same = g == w;
        for (int i = 0; same && i < g; i++)
            same = !strcmp(got[i], want[i]);
        if (!same)
            fprintf(stderr, "%s, pages of %d: first difference\n", what, per);
        T_CHECK(same);
    }
    T_EQ_INT(fl_index_count(r, q, &cnt, NULL), 0);
    T_EQ_INT(cnt, w);
}

static void test_answers(fl_index_reader *r)
{
    fl_index_query q = FL_INDEX_QUERY_INIT;
    const char *a1[] = {"a1"}, *db[] = {"db"}, *cl[] = {"west"}, *ns[] = {"ns-1"};
    const char *a12[] = {"a1", "a2"}, *forty[] = {"40"}, *idxs[] = {"11", "21"};
    fl_index_label_req app = {"app", FL_INDEX_LABEL_EQ, a1, 1};
    fl_index_label_req two[2] = {{"app", FL_INDEX_LABEL_IN, a1, 1},
                                 {"tier", FL_INDEX_LABEL_EQ, db, 1}};
    fl_index_label_req notidx[2] = {{"idx", FL_INDEX_LABEL_NOTIN, idxs, 2},
                                    {"app", FL_INDEX_LABEL_EQ, a1, 1}};
    fl_index_label_req set = {"app", FL_INDEX_LABEL_IN, a12, 2};
    fl_index_label_req gt = {"idx", FL_INDEX_LABEL_GT, forty, 1};
    const char *web[] = {"web"}, *i34[] = {"3", "4"};
    const char *cl2[] = {"west", "east"}, *cl_dup[] = {"west", "west"};
    fl_index_label_req set_db[2] = {{"tier", FL_INDEX_LABEL_EQ, db, 1},
                                    {"app", FL_INDEX_LABEL_IN, a12, 2}};
    fl_index_label_req web_i34[2] = {{"tier", FL_INDEX_LABEL_EQ, web, 1},
                                     {"idx", FL_INDEX_LABEL_IN, i34, 2}};

    q.group = "", q.resource = "pods";
    check_same(r, &q, p_all, "everything");
    q.clusters = cl, q.n_clusters = 1;
    check_same(r, &q, p_west, "one cluster");
    q.clusters = NULL, q.n_clusters = 0;
    q.owner_uid = "rs-2";
    check_same(r, &q, p_rs2, "owner");
    q.owner_uid = NULL;
    q.labels = &app, q.n_labels = 1;
    check_same(r, &q, p_a1, "app=a1");
    q.clusters = cl, q.n_clusters = 1;
    check_same(r, &q, p_a1_west, "app=a1 in west");
    q.clusters = NULL, q.n_clusters = 0;
    q.namespaces = ns, q.n_namespaces = 1;
    check_same(r, &q, p_a1_ns1, "app=a1 in ns-1");
    q.namespaces = NULL, q.n_namespaces = 0;
    q.owner_uid = "rs-1";
    check_same(r, &q, p_a1_rs, "app=a1 owned by rs-1");
    q.owner_uid = NULL;
    q.labels = two, q.n_labels = 2;
    check_same(r, &q, p_a1_db, "app in (a1), tier=db");
    q.labels = notidx, q.n_labels = 2;
    check_same(r, &q, p_a1_not_idx, "idx notin (11,21), app=a1");
    q.labels = &set, q.n_labels = 1;
    check_same(r, &q, p_a12, "app in (a1,a2)");
    q.clusters = cl, q.n_clusters = 1;
    check_same(r, &q, p_a12_west, "app in (a1,a2) in west");
    q.clusters = NULL, q.n_clusters = 0;
    q.clusters = cl2, q.n_clusters = 2;
    check_same(r, &q, p_a12_two, "app in (a1,a2) in west and east");
    q.labels = &app, q.n_labels = 1;
    check_same(r, &q, p_a1_two, "app=a1 in west and east");
    q.clusters = cl_dup, q.n_clusters = 2;
    check_same(r, &q, p_a1_west, "app=a1 in west and west");
    q.clusters = NULL, q.n_clusters = 0;
    q.labels = set_db, q.n_labels = 2;
    check_same(r, &q, p_a12_db, "tier=db, app in (a1,a2)");
    q.labels = web_i34, q.n_labels = 2;
    check_same(r, &q, p_web_i34, "tier=web, idx in (3,4)");
    q.labels = &gt, q.n_labels = 1;
    check_same(r, &q, p_idx_gt, "idx>40");
    (void)cluster_rank;
    q.labels = NULL, q.n_labels = 0;
    const char *n3[] = {"n-3"}, *pending[] = {"Pending"};
    q.pod_nodes = n3, q.n_pod_nodes = 1;
    check_same(r, &q, p_n3, "spec.nodeName=n-3");
    q.pod_nodes = NULL, q.n_pod_nodes = 0;
    q.pod_phases = pending, q.n_pod_phases = 1;
    q.labels = &app, q.n_labels = 1;
    check_same(r, &q, p_pending_a1, "status.phase=Pending, app=a1");
    q.pod_phases = NULL, q.n_pod_phases = 0;

    /* an unknown cluster in the cursor sorts first: the page restarts at that key */
    q.labels = &app, q.n_labels = 1, q.limit = 100;
    q.after_namespace = "ns-1", q.after_name = "p-00", q.after_cluster = "nowhere";
    page p;
    memset(&p, 0, sizeof p);
    T_EQ_INT(fl_index_list(r, &q, grab, &p, NULL, NULL), 0);
    T_CHECK(p.n > 0 && strcmp(p.keys[0], "ns-1/p-01@east") == 0);
    /* include_deleted: tombstones carry no labels, so never match a selector */
    q.after_namespace = q.after_name = q.after_cluster = NULL;
    q.include_deleted = true;
    check_same(r, &q, p_a1, "app=a1 with tombstones");
    q.labels = NULL, q.n_labels = 0;
    int64_t cnt = 0;
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, NPODS);
}

static int get_cb(void *arg, const fl_index_row *row)
{
    snprintf(arg, 64, "%s/%s@%s %s", row->namespace_, row->name, row->cluster, row->uid);
    return 0;
}

static void test_get(fl_index_reader *r)
{
    char got[64] = "";
    fl_index_key k = {"north", "", NULL, "pods", "ns-2", "p-02"};
    T_EQ_INT(fl_index_get(r, &k, get_cb, got, NULL), 0);
    T_EQ_STR(got, "ns-2/p-02@north u-2");
    k.version = "v1", k.cluster = "east", k.namespace_ = "ns-2", k.name = "p-99";
    T_EQ_INT(fl_index_get(r, &k, get_cb, got, NULL), FL_ENOTFOUND);
    k.name = "p-02";
    k.version = "v2", k.cluster = "north";
    T_EQ_INT(fl_index_get(r, &k, get_cb, got, NULL), FL_ENOTFOUND);
    k.version = "v1", k.cluster = "nowhere";
    T_EQ_INT(fl_index_get(r, &k, get_cb, got, NULL), FL_ENOTFOUND);
    fl_index_key dead = {"west", "", "v1", "pods", "ns-3", "p-07"};
    T_EQ_INT(fl_index_get(r, &dead, get_cb, got, NULL), FL_ENOTFOUND);
    fl_index_key bad = {NULL, "", "v1", "pods", "ns-2", "p-02"};
    T_EQ_INT(fl_index_get(r, &bad, get_cb, got, NULL), -EINVAL);
    /* the get statement is a point lookup on objects_key */
    sqlite3_stmt *s = NULL;
    T_EQ_INT(sqlite3_prepare_v2(
                 fl_index_reader_db(r),
                 "EXPLAIN QUERY PLAN SELECT o.json FROM objects o WHERE o.gvr_id IN (SELECT id FROM"
                 " gvrs WHERE grp = ?1 AND res = ?2 AND (?3 IS NULL OR ver = ?3)) AND o.ns = ?4 AND"
                 " o.name = ?5 AND o.cluster_id = (SELECT id FROM clusters WHERE name = ?6)",
                 -1, &s, NULL),
             SQLITE_OK);
    bool point = false;
    while (s && sqlite3_step(s) == SQLITE_ROW)
        point |= strstr((const char *)sqlite3_column_text(s, 3), "ns=? AND name=?") != NULL;
    sqlite3_finalize(s);
    T_CHECK(point);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fl-index-plan-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    fl_log_set_level(FL_LOG_WARN);
    fl_index *idx = populate("plan.db");
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    if (r) {
        test_plans(r);
        test_pod_plans(r);
        test_answers(r);
        test_get(r);
    }
    fl_index_reader_free(r);
    fl_index_close(idx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return t_done();
}
