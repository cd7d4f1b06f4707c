/*
 * tests/sim/test_compact.c: generated fleet objects are compact records
 * whose JSON is rendered on demand. Checks that
 *   - rendering is byte-identical to what the simulator served before the
 *     records became compact (FNV-1a hashes of whole fleets, captured from
 *     the JSON-string store; change them only when the generator's output
 *     changes on purpose), for the whole object and the list-item form;
 *   - the sim's controllers find nothing to change in generated
 *     Deployments and ReplicaSets (else they would all turn ordinary);
 *   - rendered JSON is in the apiserver's canonical encoding (re-encoding
 *     the parse gives the same bytes);
 *   - the extracted fields (key, labels, node, phase) agree with the JSON;
 *   - reads, selectors, snapshots at an old resourceVersion, watches with
 *     initial events, updates (which make an object ordinary) and deletes
 *     work on compact objects;
 *   - churn's pods come out the same as before.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/sim_int.h"
#include "tests/test.h"

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define FNV0 0xcbf29ce484222325ull

static sim_cluster *cluster_new(unsigned nodes, unsigned pods, unsigned nns, uint64_t seed)
{
    sim_cluster *c = calloc(1, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "east-1");
    c->seed = seed;
    c->nodes = nodes;
    c->pods = pods;
    c->namespaces = nns;
    fl_apiserver_store_opts so = {.history = 100000, .bookmark_s = 3600};
    T_EQ_INT(fl_kube_resources_new(true, &c->reg), 0);
    T_EQ_INT(fl_apiserver_store_new(&so, &c->st), 0);
    fl_apiserver_opts ao = {.name = c->name, .reg = c->reg, .st = c->st};
    T_EQ_INT(fl_apiserver_new(&ao, &c->api), 0);
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(sim_fleet_seed(c, &err), 0);
    return c;
}

static void cluster_free(sim_cluster *c)
{
    fl_apiserver_store_free(c->st);
    fl_apiserver_free(c->api);
    fl_kube_resources_free(c->reg);
    free(c);
}

/* Whole-object and list-item bytes of o. */
static int obj_bytes(const fl_apiserver_obj *o, bool item, fl_buf *out)
{
    fl_buf_reset(out);
    return fl_apiserver_obj_write(o, item, out);
}

static const char *const kinds[][2] = {
    {"", "namespaces"}, {"", "pods"}, {"apps", "deployments"}, {"apps", "replicasets"}};

/* Hash of every object of kinds[from..to) in c, whole and as list items. */
static uint64_t kinds_hash(sim_cluster *c, size_t from, size_t to, size_t *count)
{
    uint64_t h = FNV0;
    fl_buf b = FL_BUF_INIT(1u << 20);
    *count = 0;
    for (size_t k = from; k < to; k++) {
        const fl_apiserver_res *r = fl_apiserver_store_find(c->st, kinds[k][0], "v1", kinds[k][1]);
        fl_apiserver_list l = {0};
        fl_apiserver_list_req q = {0};
        T_CHECK(r != NULL);
        if (!r || fl_apiserver_store_list(c->st, r, &q, &l) != 0)
            continue;
        for (size_t i = 0; i < l.n; i++) {
            T_EQ_INT(obj_bytes(l.items[i], false, &b), 0);
            h = fnv(h, b.data, b.len);
            T_EQ_INT(obj_bytes(l.items[i], true, &b), 0);
            h = fnv(h, b.data, b.len);
        }
        *count += l.n;
        fl_apiserver_list_done(&l);
    }
    fl_buf_done(&b);
    return h;
}

/* Hash of the JSON of churn-style pods (sim_fleet_pod), encoded as the
 * apiserver would. */
static uint64_t pods_hash(sim_cluster *c)
{
    uint64_t h = FNV0;
    fl_buf b = FL_BUF_INIT(1u << 20);
    for (unsigned i = 0; i < 20; i++) {
        json_t *p = sim_fleet_pod(c, i % 3, i * 7, i % 2 ? "churned-name" : NULL);
        T_CHECK(p != NULL);
        fl_buf_reset(&b);
        T_EQ_INT(fl_json_encode(p, false, &b), 0);
        h = fnv(h, b.data, b.len);
        json_decref(p);
    }
    fl_buf_done(&b);
    return h;
}

/* Golden hashes. Namespaces and pods (HASH_A, HASH_B) and churn's pods:
 * captured from the JSON-string store before records became compact.
 * Deployments and ReplicaSets (*_WL) changed once on purpose since: they
 * carry the status the sim's controllers would write (conditions,
 * fullyLabeledReplicas), so that the controllers leave them compact.
 * Pods with nodes (HASH_A, HASH_CHURN) changed once on purpose: pod IPs
 * became unique per cluster (slots of 100.64.0.0/10; two pods shared one
 * before). HASH_B (no nodes, no IPs) shows nothing else moved. */
#define HASH_A 0x1cfad797de9c2f43ull
#define HASH_A_WL 0xa4fccbb9df9b8385ull
#define HASH_CHURN 0x7b547e4153b8bc6bull
#define HASH_B 0x097ff9df7c3cd41bull
#define HASH_B_WL 0x25df0ce6d454ff84ull

static void test_golden(void)
{
    size_t n = 0, nw = 0;
    sim_cluster *c = cluster_new(7, 300, 5, 7 * 1000003ull);
    uint64_t h = kinds_hash(c, 0, 2, &n), hw = kinds_hash(c, 2, 4, &nw);
    T_EQ_INT(n, 5 + 300);
    T_EQ_INT(nw, 2 * 40);
    T_CHECK(h == HASH_A);
    T_CHECK(hw == HASH_A_WL);
    uint64_t hc = pods_hash(c);
    T_CHECK(hc == HASH_CHURN);
    if (hc != HASH_CHURN)
        fprintf(stderr, "churn pods: %016llx\n", (unsigned long long)hc);
    if (h != HASH_A || hw != HASH_A_WL)
        fprintf(stderr, "fleet A: %016llx %016llx\n", (unsigned long long)h,
                (unsigned long long)hw);
    cluster_free(c);
    c = cluster_new(0, 21, 0, 12345); /* no nodes: Pending pods in "default" */
    h = kinds_hash(c, 0, 2, &n);
    hw = kinds_hash(c, 2, 4, &nw);
    T_EQ_INT(n, 21);
    T_EQ_INT(nw, 2 * 3);
    T_CHECK(h == HASH_B);
    T_CHECK(hw == HASH_B_WL);
    if (h != HASH_B || hw != HASH_B_WL)
        fprintf(stderr, "fleet B: %016llx %016llx\n", (unsigned long long)h,
                (unsigned long long)hw);
    cluster_free(c);
}

/* Every generated object: canonical encoding, kind header, fields that
 * agree with the JSON, item form = whole form minus the header. */
static void check_obj(const fl_apiserver_obj *o, fl_buf *b, fl_buf *b2)
{
    T_EQ_INT(obj_bytes(o, false, b), 0);
    json_t *v = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_json_parse(b->data, b->len, &v, &err), 0);
    fl_buf_reset(b2);
    T_EQ_INT(fl_json_encode(v, false, b2), 0);
    T_CHECK(b2->len == b->len + 1 && memcmp(b->data, b2->data, b->len) == 0);
    T_CHECK(strncmp(b->data, "{\"kind\":\"", 9) == 0);
    T_EQ_STR(fl_obj_str(v, "metadata.name"), o->name);
    T_EQ_STR(fl_obj_str(v, "metadata.namespace") ?: "", o->ns);
    T_EQ_STR(fl_obj_str(v, "spec.nodeName") ?: "", o->node);
    T_EQ_STR(fl_obj_str(v, "status.phase") ?: "", o->phase);
    char rv[24];
    snprintf(rv, sizeof(rv), "%llu", (unsigned long long)o->rv);
    T_EQ_STR(fl_obj_str(v, "metadata.resourceVersion"), rv);
    const char *k;
    json_t *lv;
    size_t nl = 0;
    json_object_foreach(fl_obj_get(v, "metadata.labels"), k, lv) {
        T_EQ_STR(fl_apiserver_obj_label(o, k), json_string_value(lv));
        nl++;
    }
    for (const char *p = o->labels; *p; p += strlen(p) + 1, p += strlen(p) + 1)
        nl--;
    T_EQ_INT(nl, 0);
    json_t *parsed = fl_apiserver_obj_parse(o);
    T_CHECK(json_equal(parsed, v));
    json_decref(parsed);
    json_decref(v);
    size_t whole = b->len, n = 0;
    T_EQ_INT(obj_bytes(o, true, b2), 0);
    const char *hdr = strstr(b->data, "\"metadata\"");
    T_CHECK(hdr && b2->len == whole - (size_t)(hdr - b->data) + 1 &&
            memcmp(b2->data + 1, hdr, b2->len - 1) == 0);
    T_CHECK(fl_apiserver_obj_json(o, b2, &n) != NULL && n == whole);
    T_CHECK(fl_apiserver_obj_contains(o, "\"resourceVersion\""));
    T_CHECK(!fl_apiserver_obj_contains(o, "\"deletionTimestamp\""));
}

static void test_shape(void)
{
    sim_cluster *c = cluster_new(4, 50, 3, 99);
    fl_buf b = FL_BUF_INIT(1u << 20), b2 = FL_BUF_INIT(1u << 20);
    size_t generated = 0;
    for (size_t k = 0; k < FL_ARRAY_LEN(kinds); k++) {
        const fl_apiserver_res *r = fl_apiserver_store_find(c->st, kinds[k][0], "v1", kinds[k][1]);
        fl_apiserver_list l = {0};
        fl_apiserver_list_req q = {0};
        T_EQ_INT(fl_apiserver_store_list(c->st, r, &q, &l), 0);
        for (size_t i = 0; i < l.n; i++) {
            check_obj(l.items[i], &b, &b2);
            generated += l.items[i]->json == NULL;
        }
        fl_apiserver_list_done(&l);
    }
    T_EQ_INT(generated, 50 + 2 * (3 + 3 + 2)); /* all but namespaces: 17, 17, 16 pods */
    fl_buf_done(&b);
    fl_buf_done(&b2);
    cluster_free(c);
}

/* A watch sink collecting lines. */
static int sink_write(void *ud, const char *data, size_t len)
{
    return fl_buf_append(ud, data, len);
}

static int count(const fl_buf *b, const char *needle)
{
    int n = 0;
    for (const char *p = b->data; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Reads, selectors, snapshots, watches, update and delete on records. */
static void test_store_ops(void)
{
    sim_cluster *c = cluster_new(3, 40, 2, 5);
    const fl_apiserver_res *pr = fl_apiserver_store_find(c->st, "", "v1", "pods");
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    T_EQ_INT(fl_apiserver_store_list(c->st, pr, &q, &l), 0);
    T_EQ_INT(l.n, 40);
    fl_apiserver_obj *first = l.items[0];
    fl_apiserver_obj_ref(first);
    char app[128];
    snprintf(app, sizeof(app), "app=%s", fl_apiserver_obj_label(first, "app"));
    fl_apiserver_list_done(&l);
    uint64_t rv0 = fl_apiserver_store_rv(c->st);

    /* label and field selectors */
    fl_apiserver_sel *ls = NULL, *fs = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_apiserver_sel_parse_labels(app, &ls, &err), 0);
    T_EQ_INT(fl_apiserver_sel_parse_fields("status.phase=Running,spec.restartPolicy=Always", &fs, &err), 0);
    q.labels = ls;
    q.fields = fs;
    T_EQ_INT(fl_apiserver_store_list(c->st, pr, &q, &l), 0);
    T_CHECK(l.n >= 1 && l.n <= 8);
    for (size_t i = 0; i < l.n; i++)
        T_EQ_STR(fl_apiserver_obj_label(l.items[i], "pod-template-hash"),
                 fl_apiserver_obj_label(first, "pod-template-hash"));
    fl_apiserver_list_done(&l);

    /* watch with initial events renders records */
    fl_buf wb = FL_BUF_INIT(16u << 20);
    fl_apiserver_watch_req wq = {.initial = true, .labels = ls};
    uint64_t oldest;
    q.labels = NULL;
    T_EQ_INT(fl_apiserver_store_watch(c->st, pr, &wq, sink_write, NULL, &wb, NULL, &oldest), 0);
    int initial = count(&wb, "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\"");
    T_CHECK(initial >= 1 && initial <= 8);

    /* update: the object becomes ordinary, the watcher sees MODIFIED */
    json_t *p = fl_apiserver_obj_parse(first);
    json_object_set_new(fl_obj_get(p, "metadata"), "generation", json_integer(2));
    fl_apiserver_obj *up = NULL;
    T_EQ_INT(fl_apiserver_store_update(c->st, pr, p, first->rv, &up), 0);
    T_CHECK(up && up->json != NULL && up->gen == NULL);
    T_EQ_INT(count(&wb, "\"type\":\"MODIFIED\""), 1);
    json_decref(p);
    fl_apiserver_obj_unref(up);

    /* a snapshot at the old rv still has the record */
    q.at_rv = rv0;
    T_EQ_INT(fl_apiserver_store_list(c->st, pr, &q, &l), 0);
    T_EQ_INT(l.n, 40);
    bool found = false;
    for (size_t i = 0; i < l.n; i++)
        found |= l.items[i] == first;
    T_CHECK(found);
    fl_apiserver_list_done(&l);

    /* delete a record: DELETED carries the last state with a new rv */
    const fl_apiserver_res *dr = fl_apiserver_store_find(c->st, "apps", "v1", "deployments");
    q = (fl_apiserver_list_req){0};
    T_EQ_INT(fl_apiserver_store_list(c->st, dr, &q, &l), 0);
    fl_apiserver_obj *gone = NULL;
    T_EQ_INT(fl_apiserver_store_delete(c->st, dr, l.items[0]->ns, l.items[0]->name, 0, NULL, &gone), 0);
    T_CHECK(gone && gone->rv == fl_apiserver_store_rv(c->st) && fl_apiserver_obj_contains(gone, "\"Deployment\""));
    if (gone) { /* the same bytes as setting the rv on the parsed last state */
        fl_buf b1 = FL_BUF_INIT(1u << 20), b2 = FL_BUF_INIT(1u << 20);
        char rv[24];
        json_t *v = fl_apiserver_obj_parse(l.items[0]);
        snprintf(rv, sizeof(rv), "%llu", (unsigned long long)gone->rv);
        json_object_set_new(fl_obj_get(v, "metadata"), "resourceVersion", json_string(rv));
        T_EQ_INT(fl_json_encode(v, false, &b1), 0);
        T_EQ_INT(fl_apiserver_obj_write(gone, false, &b2), 0);
        T_CHECK(b1.len == b2.len + 1 && memcmp(b1.data, b2.data, b2.len) == 0);
        T_EQ_STR(gone->key, l.items[0]->key);
        json_decref(v);
        fl_buf_done(&b1);
        fl_buf_done(&b2);
    }
    fl_apiserver_obj_unref(gone);
    fl_apiserver_list_done(&l);

    /* churn-style records: create, get, duplicate */
    fl_apiserver_obj *rec = NULL, *got = NULL;
    T_EQ_INT(sim_fleet_pod_rec(c, pr, 1, 3, "churn-7", 0, &rec), 0);
    char ns[64], name[200];
    snprintf(ns, sizeof(ns), "%s", rec->ns);
    snprintf(name, sizeof(name), "%s", rec->name);
    T_CHECK(strstr(name, "-churn-7") != NULL);
    T_EQ_INT(fl_apiserver_store_create_rec(c->st, pr, rec, NULL), 0);
    T_EQ_INT(count(&wb, "\"type\":\"ADDED\""), initial); /* other app: not matched */
    T_EQ_INT(fl_apiserver_store_get(c->st, pr, ns, name, &got), 0);
    T_CHECK(got && got->json == NULL && got->rv == fl_apiserver_store_rv(c->st));
    json_t *gp = got ? fl_apiserver_obj_parse(got) : NULL;
    json_t *want = sim_fleet_pod(c, 1, 3, name);
    T_CHECK(gp && want);
    if (gp && want) {
        json_object_del(json_object_get(gp, "metadata"), "resourceVersion");
        T_CHECK(json_equal(gp, want));
    }
    json_decref(gp);
    json_decref(want);
    fl_apiserver_obj_unref(got);
    T_EQ_INT(sim_fleet_pod_rec(c, pr, 1, 3, "churn-7", 0, &rec), 0);
    T_EQ_INT(fl_apiserver_store_create_rec(c->st, pr, rec, NULL), -EEXIST);

    /* a pod churn creates now (serial): created now, with an IP of its own */
    T_EQ_INT(sim_fleet_pod_rec(c, pr, 1, 3, "churn-8", 9, &rec), 0);
    json_t *np = rec ? fl_apiserver_obj_parse(rec) : NULL;
    json_t *seeded = sim_fleet_pod(c, 1, 3, NULL);
    int64_t born = 0;
    T_EQ_INT(fl_time_parse(fl_obj_str(np, "metadata.creationTimestamp"), &born), 0);
    T_CHECK(born >= fl_now_ms() / 1000 - 5 && born <= fl_now_ms() / 1000 + 1);
    T_EQ_STR(fl_obj_str(np, "status.startTime"), fl_obj_str(np, "metadata.creationTimestamp"));
    T_CHECK(fl_obj_str(np, "status.podIP") && fl_obj_str(seeded, "status.podIP") &&
            strcmp(fl_obj_str(np, "status.podIP"), fl_obj_str(seeded, "status.podIP")) != 0);
    json_decref(np);
    json_decref(seeded);
    fl_apiserver_obj_unref(rec);

    fl_apiserver_obj_unref(first);
    fl_apiserver_sel_free(fs);
    cluster_free(c); /* ends the watch (it owns ls) */
    fl_buf_done(&wb);
}

/* Seed 26086 draws the same 5-char suffix for pods 6 and 7 of the first
 * ReplicaSet: the second gets another (the old store failed with EEXIST,
 * which stopped Karmada's 100-cluster fleet at its 21st cluster). */
static void test_name_collision(void)
{
    sim_cluster *c = cluster_new(3, 8, 1, 26086);
    const fl_apiserver_res *pr = fl_apiserver_store_find(c->st, "", "v1", "pods");
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    T_EQ_INT(fl_apiserver_store_list(c->st, pr, &q, &l), 0);
    T_EQ_INT(l.n, 8);
    int suffix_t4ccv = 0;
    for (size_t i = 0; i < l.n; i++)
        suffix_t4ccv += strstr(l.items[i]->name, "-t4ccv") != NULL;
    T_EQ_INT(suffix_t4ccv, 1);
    fl_apiserver_list_done(&l);
    cluster_free(c);
}

/* The cluster's Nodes, ready, with room for every generated pod. */
static void add_nodes(sim_cluster *c)
{
    const fl_apiserver_res *nr = fl_apiserver_store_find(c->st, "", "v1", "nodes");
    for (unsigned i = 1; i <= c->nodes; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s-node-%u", c->name, i);
        json_t *n = json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s},"
                              "s:[{s:s,s:s}]}}", "kind", "Node", "apiVersion", "v1", "metadata",
                              "name", name, "labels", "kubernetes.io/hostname", name, "status",
                              "capacity", "cpu", "64", "memory", "256Gi", "pods", "500",
                              "allocatable", "cpu", "64", "memory", "256Gi", "pods", "500",
                              "conditions", "type", "Ready", "status", "True");
        T_EQ_INT(fl_apiserver_store_create(c->st, nr, n, NULL), 0);
        json_decref(n);
    }
}

/* A few controller ticks over a generated fleet change no Deployment or
 * ReplicaSet: they stay compact records. */
static void test_controllers_steady(void)
{
    sim_cluster *c = cluster_new(3, 40, 2, 11);
    add_nodes(c);
    const fl_apiserver_res *rs[2] = {fl_apiserver_store_find(c->st, "apps", "v1", "deployments"),
                            fl_apiserver_store_find(c->st, "apps", "v1", "replicasets")};
    uint64_t before = fl_apiserver_store_rv(c->st);
    sim_ctrl *k = NULL;
    T_EQ_INT(sim_ctrl_start(c, &k), 0);
    usleep(1500 * 1000);
    sim_ctrl_stop(k);
    for (int i = 0; i < 2; i++) {
        fl_apiserver_list l = {0};
        fl_apiserver_list_req q = {0};
        T_EQ_INT(fl_apiserver_store_list(c->st, rs[i], &q, &l), 0);
        T_EQ_INT(l.n, 2 * 3);
        for (size_t j = 0; j < l.n; j++)
            T_CHECK(l.items[j]->json == NULL && l.items[j]->rv < before);
        fl_apiserver_list_done(&l);
    }
    cluster_free(c);
}

int main(void)
{
    test_golden();
    test_name_collision();
    test_shape();
    test_store_ops();
    test_controllers_steady();
    return t_done();
}
