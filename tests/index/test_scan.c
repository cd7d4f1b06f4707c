/*
 * tests/index/test_scan.c: the decoders' in-place path (index/scan.c)
 * against the jansson path and against the definition. For real objects
 * recorded from kube-apiserver v1.26 (data/golden-objects.ndjson, copied
 * from k8s-golden by data/extract_golden.py) and generated edge cases:
 *   - both paths give the same record (every field; JSON as a value);
 *   - the stored JSON equals the member's object minus managedFields, the
 *     last-applied annotation and Secret data, plus the cluster-name
 *     annotation (and kind/apiVersion for list items);
 *   - through the whole index (events and list pages), every object served
 *     back by fl_index_get equals that expectation.
 * usage: test_scan DATA/golden-objects.ndjson
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/index_int.h"
#include "tests/index/rec_same.h"
#include "tests/test.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

typedef struct sample {
    fl_index_src src;
    char grp[64], ver[32], res[64], kind[64];
    char *obj;          /* the object's bytes as sent */
    size_t len;
    bool list;          /* came as a list item (no kind/apiVersion) */
} sample;

static sample samples[256];
static size_t n_samples;
static int fast_hits, fast_misses;

/* What the index must serve for s (keep: managedFields/last-applied kept). */
static json_t *expected(const sample *s, bool keep)
{
    json_t *o = json_loadb(s->obj, s->len, 0, NULL), *e;
    json_t *md = json_object_get(o, "metadata");
    if (!keep) {
        json_object_del(md, "managedFields");
        json_object_del(json_object_get(md, "annotations"), LAST_APPLIED);
    }
    if (!s->src.group[0] && strcmp(s->src.resource, "secrets") == 0) {
        json_object_del(o, "data");
        json_object_del(o, "stringData");
    }
    fl_obj_set_annotation(o, FL_INDEX_CLUSTER_ANNOTATION, s->src.cluster);
    if (json_object_get(o, "kind") || !s->src.kind[0])
        return o;
    char av[160];
    snprintf(av, sizeof av, "%s%s%s", s->src.group, s->src.group[0] ? "/" : "", s->src.version);
    e = json_pack("{s:s, s:s}", "kind", s->src.kind, "apiVersion", av);
    json_object_update(e, o);
    json_decref(o);
    return e;
}

static void add_sample(const char *cluster, const char *grp, const char *ver, const char *res,
                       const char *kind, const char *obj, size_t len, bool list)
{
    if (n_samples == FL_ARRAY_LEN(samples))
        return;
    sample *s = &samples[n_samples++];
    snprintf(s->grp, sizeof s->grp, "%s", grp);
    snprintf(s->ver, sizeof s->ver, "%s", ver);
    snprintf(s->res, sizeof s->res, "%s", res);
    snprintf(s->kind, sizeof s->kind, "%s", kind);
    s->src = (fl_index_src){cluster, s->grp, s->ver, s->res, s->kind};
    s->obj = fl_strndup(obj, len);
    s->len = len;
    s->list = list;
}

/* ------------------------------------------------------------ the data */

static void load_golden(const char *path)
{
    fl_buf b = FL_BUF_INIT(16u << 20);
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_buf_read_file(&b, path, &err), 0);
    char *line = b.data, *nl;
    while (line && *line && (nl = strchr(line, '\n'))) {
        fl_jval doc = {line, (size_t)(nl - line), NULL}, obj, v, str;
        T_CHECK(fl_jscan_plain(doc.p, doc.n));
        json_t *meta = json_loadb(doc.p, doc.n, 0, NULL);
        if (fl_jscan_get(doc, "object", &obj, NULL) && meta) {
            bool list = json_is_true(json_object_get(meta, "list"));
            add_sample("east", json_string_value(json_object_get(meta, "group")),
                       json_string_value(json_object_get(meta, "version")),
                       json_string_value(json_object_get(meta, "resource")),
                       json_string_value(json_object_get(meta, "kind")), obj.p, obj.n, list);
        }
        (void)v, (void)str;
        json_decref(meta);
        line = nl + 1;
    }
    fl_buf_done(&b);
}

static const char *const GENERATED[][3] = {
    /* resource, kind, object */
    {"pods", "Pod",
     "{\"metadata\":{\"name\":\"bare\",\"namespace\":\"ns\",\"uid\":\"u1\",\"resourceVersion\":\"5\"},"
     "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"nginx\"}]},\"status\":{\"phase\":\"Pending\"}}"},
    {"pods", "Pod",
     "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"managedFields\":[{\"manager\":\"m\"}],"
     "\"name\":\"only-la\",\"namespace\":\"ns\",\"annotations\":{\"" LAST_APPLIED "\":\"{}\"}},"
     "\"spec\":{},\"status\":{\"phase\":\"Succeeded\",\"qosClass\":\"BestEffort\"}}"},
    {"pods", "Pod",
     "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"esc\",\"namespace\":\"ns\","
     "\"labels\":{\"a\\u002fb\":\"caf\\u00e9 \\u003cx\\u003e\",\"emoji\":\"\\ud83d\\ude00 \xc3\xa9\"},"
     "\"annotations\":{},\"managedFields\":[]},\"spec\":{\"nodeName\":\"n\\\"1\","
     "\"containers\":[{\"image\":\"a\\\\b\",\"resources\":{\"requests\":{\"cpu\":\"1.5\"}}}]}}"},
    {"secrets", "Secret",
     "{\"data\":{\"k\":\"djE=\"},\"stringData\":{\"x\":\"y\"},\"metadata\":{\"name\":\"s\","
     "\"namespace\":\"ns\",\"annotations\":{\"a\":\"b\"}},\"type\":\"Opaque\"}"},
    {"secrets", "Secret",
     "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s2\",\"namespace\":\"ns\"},"
     "\"type\":\"Opaque\",\"stringData\":{\"x\":\"y\"},\"data\":{\"k\":\"djE=\"}}"},
    {"pods", "Pod", /* apiVersion without kind: the jansson path reorders */
     "{\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"av\",\"namespace\":\"ns\"}}"},
    {"pods", "Pod", /* the cluster annotation already there */
     "{\"metadata\":{\"name\":\"pre\",\"namespace\":\"ns\",\"annotations\":{"
     "\"shadow.clusterpedia.io/cluster-name\":\"other\",\"z\":\"1\"}}}"},
    {"pods", "Pod", /* pretty-printed */
     "{\n  \"metadata\": {\"name\": \"pretty\", \"namespace\": \"ns\"},\n  \"spec\": {}\n}"},
    {"pods", "Pod", /* numbers */
     "{\"metadata\":{\"name\":\"num\",\"namespace\":\"ns\",\"generation\":-0},\"spec\":{"
     "\"a\":1.5e3,\"b\":0.25,\"c\":-12,\"d\":123456789012345678,\"e\":[true,false,null]}}"},
    {"pods", "Pod", /* too big an integer for the plain subset */
     "{\"metadata\":{\"name\":\"bignum\",\"namespace\":\"ns\"},\"spec\":{\"x\":12345678901234567890}}"},
    {"nodes", "Node",
     "{\"metadata\":{\"name\":\"n1\",\"labels\":{\"topology.kubernetes.io/region\":\"eu\","
     "\"failure-domain.beta.kubernetes.io/zone\":\"eu-a\"},\"managedFields\":[{\"x\":1}]},"
     "\"spec\":{\"unschedulable\":true,\"taints\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}]},"
     "\"status\":{\"capacity\":{\"cpu\":\"8\",\"memory\":\"32Gi\"},\"allocatable\":{\"cpu\":\"7800m\"},"
     "\"conditions\":[{\"type\":\"MemoryPressure\",\"status\":\"False\"},{\"type\":\"Ready\",\"status\":\"True\"}]}}"},
    {"pods", "Pod", /* sidecars, overhead, ephemeral containers */
     "{\"metadata\":{\"name\":\"side\",\"namespace\":\"ns\",\"ownerReferences\":[{\"uid\":\"x\"},"
     "{\"uid\":\"ctl\",\"controller\":true}]},\"spec\":{\"overhead\":{\"cpu\":\"10m\"},"
     "\"initContainers\":[{\"name\":\"s\",\"image\":\"s:1\",\"restartPolicy\":\"Always\","
     "\"resources\":{\"requests\":{\"cpu\":\"100m\"},\"limits\":{\"cpu\":\"200m\"}}},"
     "{\"name\":\"i\",\"image\":\"i:1\",\"resources\":{\"requests\":{\"cpu\":\"2\"}}}],"
     "\"containers\":[{\"name\":\"a\",\"image\":\"a:1\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}],"
     "\"ephemeralContainers\":[{\"name\":\"dbg\",\"image\":\"busybox\"}]},\"status\":null}"},
    {"pods", "Pod", /* not an object where objects are expected */
     "{\"metadata\":{\"name\":\"odd\",\"namespace\":\"ns\",\"annotations\":null},\"spec\":[1]}"},
    {"pods", "Pod", /* no name */
     "{\"metadata\":{\"namespace\":\"ns\"}}"},
};

static void load_generated(void)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(GENERATED); i++) {
        const char *o = GENERATED[i][2];
        add_sample("east", "", "v1", GENERATED[i][0], GENERATED[i][1], o, strlen(o),
                   strstr(o, "\"kind\"") == NULL);
    }
    static const char dep[] =
        "{\"metadata\":{\"name\":\"d\",\"namespace\":\"ns\",\"labels\":{\"app\":\"d\"}},"
        "\"spec\":{\"replicas\":2,\"template\":{\"metadata\":{\"labels\":{\"app\":\"d\"}},"
        "\"spec\":{\"initContainers\":[{\"image\":\"init:1\"}],\"containers\":[{\"image\":\"app:2\"}]}}}}";
    add_sample("east", "apps", "v1", "deployments", "Deployment", dep, strlen(dep), true);
    static const char cj[] =
        "{\"metadata\":{\"name\":\"cj\",\"namespace\":\"ns\"},\"spec\":{\"jobTemplate\":{\"spec\":"
        "{\"template\":{\"spec\":{\"containers\":[{\"image\":\"job:3\"}]}}}}}}";
    add_sample("east", "batch", "v1", "cronjobs", "CronJob", cj, strlen(cj), true);
}

/* ------------------------------------------------------------ the checks */

static void check_paths(const sample *s, bool keep)
{
    dec_opts o = {keep, keep};
    fl_rec *fast = NULL, *slow = NULL;
    json_t *j = json_loadb(s->obj, s->len, 0, NULL);
    int rc = fl_jscan_plain(s->obj, s->len)
                 ? idx_dec_object_scan(&o, &s->src, fl_jscan_trim(s->obj, s->len), REC_UPSERT, &fast)
                 : 0;
    T_CHECK(rc >= 0);
    slow = j ? idx_dec_object(&o, &s->src, j, REC_UPSERT) : NULL;
    rc == 1 ? fast_hits++ : fast_misses++;
    if (rc == 1) {
        char why[128] = "";
        T_CHECK(slow != NULL);
        bool same = slow && rec_same(fast, slow, why, sizeof why);
        if (!same)
            fprintf(stderr, "%s %.80s: paths differ: %s\n", s->src.resource, s->obj, why);
        T_CHECK(same);
    }
    fl_rec *r = fast ? fast : slow;
    if (r) {
        json_t *got = json_loadb(r->json, r->json_len, 0, NULL), *want = expected(s, keep);
        bool eq = got && json_equal(got, want);
        if (!eq)
            fprintf(stderr, "stored %.*s\n  want %s\n", (int)r->json_len, r->json,
                    json_dumps(want, JSON_COMPACT));
        T_CHECK(eq);
        /* the in-place path keeps the member's bytes: no whitespace, Go escaping */
        if (fast)
            T_CHECK(strchr(fast->json, '\n') == NULL && strchr(fast->json, '<') == NULL);
        json_decref(got), json_decref(want);
    }
    idx_rec_free(fast), idx_rec_free(slow);
    json_decref(j);
}

/* The whole index: every sample as a watch event (cluster east) and as a
 * one-item list page (cluster west), then fl_index_get of each. */
typedef struct grab_t {
    json_t *got;
} grab_t;

static int grab(void *arg, const fl_index_row *row)
{
    grab_t *g = arg;
    g->got = json_loadb(row->json, row->json_len, 0, NULL);
    return 0;
}

static void check_served(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/scan.db", dir);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    o.cache_kib = 4096;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&o, &idx, &err), 0);
    if (!idx)
        return;
    for (size_t i = 0; i < n_samples; i++) {
        sample *s = &samples[i];
        fl_buf b = FL_BUF_INIT(1u << 24);
        fl_buf_printf(&b, "{\"type\":\"ADDED\",\"object\":%.*s}", (int)s->len, s->obj);
        T_EQ_INT(fl_index_submit_event(idx, &s->src, b.data, b.len, NULL), 0);
        fl_buf_reset(&b);
        fl_index_src w = s->src;
        w.cluster = "west";
        fl_buf_printf(&b, "{\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[%.*s]}",
                      (int)s->len, s->obj);
        T_EQ_INT(fl_index_submit_list(idx, &w, b.data, b.len, NULL), 0);
        fl_buf_done(&b);
    }
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    int checked = 0;
    for (size_t i = 0; i < n_samples && r; i++) {
        sample *s = &samples[i];
        json_t *j = json_loadb(s->obj, s->len, 0, NULL);
        const char *name = fl_obj_str(j, "metadata.name"), *ns = fl_obj_str_or(j, "metadata.namespace", "");
        dec_opts dopts = {false, false};
        fl_rec *slow = j ? idx_dec_object(&dopts, &s->src, j, REC_UPSERT) : NULL;
        /* not indexed, or another sample has the same key (the golden data
         * has states of one object under one resourceVersion): not compared */
        bool later = !slow;
        idx_rec_free(slow);
        for (size_t k = 0; k < n_samples && name; k++) {
            if (k == i)
                continue;
            json_t *jk = json_loadb(samples[k].obj, samples[k].len, 0, NULL);
            const char *nk = fl_obj_str(jk, "metadata.name");
            if (nk && strcmp(nk, name) == 0 && strcmp(fl_obj_str_or(jk, "metadata.namespace", ""), ns) == 0 &&
                strcmp(samples[k].src.resource, s->src.resource) == 0 &&
                strcmp(samples[k].src.group, s->src.group) == 0)
                later = true;
            json_decref(jk);
        }
        for (int c = 0; c < 2 && name && name[0] && !later; c++) {
            sample t = *s;
            t.src.cluster = c ? "west" : "east";
            grab_t g = {NULL};
            fl_index_key key = {t.src.cluster, s->src.group, s->src.version, s->src.resource, ns, name};
            T_EQ_INT(fl_index_get(r, &key, grab, &g, NULL), 0);
            json_t *want = expected(&t, false);
            bool eq = g.got && json_equal(g.got, want);
            if (!eq)
                fprintf(stderr, "served %s/%s@%s differs:\n  got  %s\n  want %s\n", ns, name,
                        t.src.cluster, g.got ? json_dumps(g.got, JSON_COMPACT) : "(none)",
                        json_dumps(want, JSON_COMPACT));
            T_CHECK(eq);
            checked++;
            json_decref(want), json_decref(g.got);
        }
        json_decref(j);
    }
    fprintf(stderr, "%d objects served back and compared\n", checked);
    T_CHECK(checked >= 80);
    fl_index_reader_free(r);
    fl_index_close(idx);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/fl-test-scan-XXXXXX";
    T_CHECK(argc > 1);
    if (argc < 2 || !mkdtemp(dir))
        return t_done();
    load_golden(argv[1]);
    size_t golden = n_samples;
    T_CHECK(golden >= 50);
    load_generated();
    for (size_t i = 0; i < n_samples; i++) {
        check_paths(&samples[i], false);
        check_paths(&samples[i], true);
    }
    fprintf(stderr, "%zu golden + %zu generated objects; in-place path %d, jansson path %d\n",
            golden, n_samples - golden, fast_hits, fast_misses);
    T_CHECK(fast_hits >= (int)golden * 2); /* every recorded object goes the fast way */
    check_served(dir);
    for (size_t i = 0; i < n_samples; i++)
        free(samples[i].obj);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return t_done();
}
