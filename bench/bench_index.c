/*
 * bench/bench_index.c: the ingest benchmark. Generates realistic
 * pods (~6.5 KB of JSON each, managedFields, 6 labels, init + 2 app
 * containers, full status) and nodes, and pushes them through the whole
 * index path (submit -> decode/prune/extract on decoder threads -> writer
 * with side tables and FTS) as 500-item list pages; then status-only
 * updates and deletes as watch events. Beside it, in the same run, the raw
 * limit: plain jansson parse of the same bytes + compact dump of each item
 * + plain batched SQLite insert (one table with its key index, no side
 * tables; WAL, synchronous=NORMAL, 10k-row transactions), and the same
 * updates and deletes by key. Prints figures; never passes or fails.
 *
 * usage: bench_index [pods (default 1000000)] [dir (default /tmp)]
 *        bench_index limit DIR [pods (default 30000)]: the writer alone
 */
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "index/index.h"
#include "index/index_int.h"

#define PAGE 500
#define RAW_TXN 10000

static const fl_index_src PODS = {"bench", "", "v1", "pods", "Pod"};
static const fl_index_src NODES = {"bench", "", "v1", "nodes", "Node"};

static const char MANAGED[] =
    "\"managedFields\":[{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\","
    "\"apiVersion\":\"v1\",\"time\":\"2026-11-01T10:00:00Z\",\"fieldsType\":\"FieldsV1\","
    "\"fieldsV1\":{\"f:metadata\":{\"f:generateName\":{},\"f:labels\":{\".\":{},\"f:app\":{},"
    "\"f:env\":{},\"f:pod-template-hash\":{},\"f:team\":{},\"f:tier\":{},\"f:version\":{}},"
    "\"f:ownerReferences\":{\".\":{},\"k:{\\\"uid\\\":\\\"5d2a\\\"}\":{}}},\"f:spec\":{"
    "\"f:containers\":{\"k:{\\\"name\\\":\\\"app\\\"}\":{\".\":{},\"f:env\":{\".\":{},"
    "\"k:{\\\"name\\\":\\\"LOG_LEVEL\\\"}\":{\".\":{},\"f:name\":{},\"f:value\":{}}},"
    "\"f:image\":{},\"f:imagePullPolicy\":{},\"f:livenessProbe\":{\".\":{},\"f:httpGet\":{"
    "\".\":{},\"f:path\":{},\"f:port\":{},\"f:scheme\":{}},\"f:periodSeconds\":{}},"
    "\"f:name\":{},\"f:ports\":{\".\":{},\"k:{\\\"containerPort\\\":8080,\\\"protocol\\\":"
    "\\\"TCP\\\"}\":{\".\":{},\"f:containerPort\":{},\"f:name\":{},\"f:protocol\":{}}},"
    "\"f:resources\":{\".\":{},\"f:limits\":{\".\":{},\"f:cpu\":{},\"f:memory\":{}},"
    "\"f:requests\":{\".\":{},\"f:cpu\":{},\"f:memory\":{}}},\"f:terminationMessagePath\":{},"
    "\"f:volumeMounts\":{\".\":{},\"k:{\\\"mountPath\\\":\\\"/etc/config\\\"}\":{\".\":{},"
    "\"f:mountPath\":{},\"f:name\":{}}}},\"k:{\\\"name\\\":\\\"proxy\\\"}\":{\".\":{},"
    "\"f:image\":{},\"f:name\":{},\"f:resources\":{\".\":{},\"f:requests\":{\".\":{},"
    "\"f:cpu\":{},\"f:memory\":{}}}}},\"f:dnsPolicy\":{},\"f:enableServiceLinks\":{},"
    "\"f:initContainers\":{\"k:{\\\"name\\\":\\\"init\\\"}\":{\".\":{},\"f:image\":{},"
    "\"f:name\":{}}},\"f:restartPolicy\":{},\"f:schedulerName\":{},\"f:securityContext\":{},"
    "\"f:terminationGracePeriodSeconds\":{},\"f:volumes\":{\".\":{},"
    "\"k:{\\\"name\\\":\\\"config\\\"}\":{\".\":{},\"f:configMap\":{\".\":{},"
    "\"f:defaultMode\":{},\"f:name\":{}},\"f:name\":{}}}}}},{\"manager\":\"kubelet\","
    "\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"2026-11-01T10:00:05Z\","
    "\"fieldsType\":\"FieldsV1\",\"subresource\":\"status\",\"fieldsV1\":{\"f:status\":{"
    "\"f:conditions\":{\"k:{\\\"type\\\":\\\"ContainersReady\\\"}\":{\".\":{},"
    "\"f:lastProbeTime\":{},\"f:lastTransitionTime\":{},\"f:status\":{},\"f:type\":{}},"
    "\"k:{\\\"type\\\":\\\"Initialized\\\"}\":{\".\":{},\"f:lastProbeTime\":{},"
    "\"f:lastTransitionTime\":{},\"f:status\":{},\"f:type\":{}},\"k:{\\\"type\\\":\\\"Ready\\\"}\":"
    "{\".\":{},\"f:lastProbeTime\":{},\"f:lastTransitionTime\":{},\"f:status\":{},\"f:type\":{}}},"
    "\"f:containerStatuses\":{},\"f:hostIP\":{},\"f:initContainerStatuses\":{},\"f:phase\":{},"
    "\"f:podIP\":{},\"f:podIPs\":{\".\":{},\"k:{\\\"ip\\\":\\\"10.1.2.3\\\"}\":{\".\":{},"
    "\"f:ip\":{}}},\"f:startTime\":{}}}}]";

static void gen_pod(fl_buf *b, long i, long rv, const char *phase, int with_type)
{
    int app = (int)(i % 400), ns = (int)(i % 50), node = (int)(i % 1000);
    fl_buf_printf(
        b,
        "{%s\"metadata\":{\"name\":\"svc-%d-7d9f8c6b5-%08ld\",\"generateName\":\"svc-%d-7d9f8c6b5-"
        "\","
        "\"namespace\":\"team-%d\",\"uid\":\"0b7c%08lx-1f2e-4d3c-9b8a-%012lx\",\"resourceVersion\":"
        "\"%ld\","
        "\"creationTimestamp\":\"2026-11-01T10:00:00Z\",\"labels\":{\"app\":\"svc-%d\",\"tier\":\"%"
        "s\","
        "\"version\":\"v%d\",\"pod-template-hash\":\"7d9f8c6b5\",\"team\":\"team-%d\",\"env\":"
        "\"prod\"},"
        "\"annotations\":{\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"9090\","
        "\"kubectl.kubernetes.io/"
        "last-applied-configuration\":\"{\\\"apiVersion\\\":\\\"v1\\\",\\\"kind\\\":\\\"Pod\\\"}\"}"
        ","
        "\"ownerReferences\":[{\"apiVersion\":\"apps/"
        "v1\",\"kind\":\"ReplicaSet\",\"name\":\"svc-%d-7d9f8c6b5\","
        "\"uid\":\"5d2a%04d-aaaa-bbbb-cccc-000000000000\",\"controller\":true,"
        "\"blockOwnerDeletion\":true}],%s},",
        with_type ? "\"kind\":\"Pod\",\"apiVersion\":\"v1\"," : "", app, i, app, ns, i, i, rv, app,
        i % 3 ? "backend" : "frontend", (int)(i % 5), ns, app, app, MANAGED);
    fl_buf_printf(
        b,
        "\"spec\":{\"volumes\":[{\"name\":\"config\",\"configMap\":{\"name\":\"svc-%d-config\","
        "\"defaultMode\":420}},"
        "{\"name\":\"kube-api-access\",\"projected\":{\"sources\":[{\"serviceAccountToken\":{"
        "\"expirationSeconds\":3607,\"path\":\"token\"}}],\"defaultMode\":420}}],"
        "\"initContainers\":[{\"name\":\"init\",\"image\":\"registry.example.com/tools/"
        "migrate:1.%d\",\"command\":[\"/migrate\",\"--wait\"],"
        "\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"64Mi\"}},"
        "\"terminationMessagePath\":\"/dev/"
        "termination-log\",\"imagePullPolicy\":\"IfNotPresent\"}],"
        "\"containers\":[{\"name\":\"app\",\"image\":\"registry.example.com/team-%d/"
        "svc-%d:2.%d.0\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}"
        "],"
        "\"env\":[{\"name\":\"LOG_LEVEL\",\"value\":\"info\"},{\"name\":\"POD_NAME\",\"valueFrom\":"
        "{\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"metadata.name\"}}}],"
        "\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"512Mi\"},\"requests\":{\"cpu\":"
        "\"250m\",\"memory\":\"256Mi\"}},"
        "\"volumeMounts\":[{\"name\":\"config\",\"mountPath\":\"/etc/"
        "config\"},{\"name\":\"kube-api-access\",\"readOnly\":true,\"mountPath\":\"/var/run/"
        "secrets/kubernetes.io/serviceaccount\"}],"
        "\"livenessProbe\":{\"httpGet\":{\"path\":\"/"
        "healthz\",\"port\":8080,\"scheme\":\"HTTP\"},\"timeoutSeconds\":1,\"periodSeconds\":10,"
        "\"successThreshold\":1,\"failureThreshold\":3},"
        "\"terminationMessagePath\":\"/dev/"
        "termination-log\",\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":"
        "\"IfNotPresent\"},"
        "{\"name\":\"proxy\",\"image\":\"envoyproxy/"
        "envoy:v1.28.%d\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"}},"
        "\"terminationMessagePath\":\"/dev/"
        "termination-log\",\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":"
        "\"IfNotPresent\"}],"
        "\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":"
        "\"ClusterFirst\",\"serviceAccountName\":\"default\","
        "\"serviceAccount\":\"default\",\"nodeName\":\"node-%04d\",\"securityContext\":{},"
        "\"schedulerName\":\"default-scheduler\","
        "\"tolerations\":[{\"key\":\"node.kubernetes.io/"
        "not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300},"
        "{\"key\":\"node.kubernetes.io/"
        "unreachable\",\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]"
        ","
        "\"priority\":0,\"enableServiceLinks\":true,\"preemptionPolicy\":\"PreemptLowerPriority\"}"
        ",",
        app, (int)(i % 9), ns, app, (int)(i % 7), (int)(i % 4), node);
    fl_buf_printf(
        b,
        "\"status\":{\"phase\":\"%s\",\"conditions\":[{\"type\":\"Initialized\",\"status\":"
        "\"True\",\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-11-01T10:00:03Z\"},"
        "{\"type\":\"Ready\",\"status\":\"True\",\"lastProbeTime\":null,\"lastTransitionTime\":"
        "\"2026-11-01T10:00:09Z\"},"
        "{\"type\":\"ContainersReady\",\"status\":\"True\",\"lastProbeTime\":null,"
        "\"lastTransitionTime\":\"2026-11-01T10:00:09Z\"},"
        "{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastProbeTime\":null,"
        "\"lastTransitionTime\":\"2026-11-01T10:00:00Z\"}],"
        "\"hostIP\":\"10.0.%d.%d\",\"podIP\":\"10.%d.%d.%d\",\"podIPs\":[{\"ip\":\"10.%d.%d.%d\"}],"
        "\"startTime\":\"2026-11-01T10:00:00Z\","
        "\"initContainerStatuses\":[{\"name\":\"init\",\"state\":{\"terminated\":{\"exitCode\":0,"
        "\"reason\":\"Completed\",\"startedAt\":\"2026-11-01T10:00:01Z\",\"finishedAt\":\"2026-11-"
        "01T10:00:02Z\",\"containerID\":\"containerd://%016lx\"}},"
        "\"lastState\":{},\"ready\":true,\"restartCount\":0,\"image\":\"registry.example.com/tools/"
        "migrate:1.%d\",\"imageID\":\"sha256:%016lx\",\"containerID\":\"containerd://%016lx\"}],"
        "\"containerStatuses\":[{\"name\":\"app\",\"state\":{\"running\":{\"startedAt\":\"2026-11-"
        "01T10:00:04Z\"}},\"lastState\":{},\"ready\":true,\"restartCount\":%d,"
        "\"image\":\"registry.example.com/team-%d/"
        "svc-%d:2.%d.0\",\"imageID\":\"sha256:%016lx\",\"containerID\":\"containerd://"
        "%016lx\",\"started\":true},"
        "{\"name\":\"proxy\",\"state\":{\"running\":{\"startedAt\":\"2026-11-01T10:00:04Z\"}},"
        "\"lastState\":{},\"ready\":true,\"restartCount\":0,"
        "\"image\":\"envoyproxy/"
        "envoy:v1.28.%d\",\"imageID\":\"sha256:%016lx\",\"containerID\":\"containerd://"
        "%016lx\",\"started\":true}],"
        "\"qosClass\":\"Burstable\"}}",
        phase, node / 250, node % 250, (int)(i >> 16) & 255, (int)(i >> 8) & 255, (int)i & 255,
        (int)(i >> 16) & 255, (int)(i >> 8) & 255, (int)i & 255, i * 7, (int)(i % 9), i * 11,
        i * 13, (int)(rv % 3), ns, app, (int)(i % 7), i * 17, i * 19, (int)(i % 4), i * 23, i * 29);
}

static void gen_node(fl_buf *b, long i)
{
    fl_buf_printf(
        b,
        "{\"metadata\":{\"name\":\"node-%04ld\",\"uid\":\"n-%ld\",\"resourceVersion\":\"1\","
        "\"labels\":{\"kubernetes.io/hostname\":\"node-%04ld\",\"topology.kubernetes.io/"
        "region\":\"eu-west\","
        "\"topology.kubernetes.io/zone\":\"eu-west-%c\",\"node.kubernetes.io/"
        "instance-type\":\"m5.2xlarge\"}},"
        "\"spec\":{\"podCIDR\":\"10.244.%ld.0/"
        "24\"},\"status\":{\"capacity\":{\"cpu\":\"8\",\"memory\":\"32Gi\","
        "\"pods\":\"110\",\"ephemeral-storage\":\"100Gi\"},\"allocatable\":{\"cpu\":\"7800m\","
        "\"memory\":\"30Gi\","
        "\"pods\":\"110\",\"ephemeral-storage\":\"95Gi\"},\"conditions\":[{\"type\":\"Ready\","
        "\"status\":\"True\"}],"
        "\"nodeInfo\":{\"kubeletVersion\":\"v1.26.1\",\"osImage\":\"Debian GNU/Linux 12\"}}}",
        i, i, i, (char)('a' + i % 3), i % 250);
}

/* Generating 6.5 KB with snprintf costs about as much as parsing it, so list
 * pages are assembled from a pool of pre-generated pods whose name and uid
 * digits are patched per pod (every pod stays unique). */
#define POOL 1000
typedef struct pool_ent {
    char *json;
    size_t len, name_at, uid_at;
} pool_ent;
/* variants: 0 list items (rv 1), 1 update events (rv 2, status changes),
 * 2 delete events (rv 3) */
static pool_ent pool[3][POOL];

static void pool_init(void)
{
    for (int v = 0; v < 3; v++) {
        for (long j = 0; j < POOL; j++) {
            pool_ent *e = &pool[v][j];
            fl_buf b = FL_BUF_INIT(1u << 20);
            if (v)
                fl_buf_puts(&b, v == 1 ? "{\"type\":\"MODIFIED\",\"object\":"
                                       : "{\"type\":\"DELETED\",\"object\":");
            gen_pod(&b, j, v + 1, v == 1 && j % 2 ? "Succeeded" : "Running", v != 0);
            if (v)
                fl_buf_puts(&b, "}");
            e->len = b.len;
            e->json = fl_buf_steal(&b);
            e->name_at = (size_t)(strstr(e->json, "7d9f8c6b5-") - e->json) + 10;
            e->uid_at = (size_t)(strstr(e->json, "\"uid\":\"0b7c") - e->json) + 7 + 28;
        }
    }
}

static void pool_done(void)
{
    for (int v = 0; v < 3; v++)
        for (long j = 0; j < POOL; j++)
            free(pool[v][j].json);
}

static void pool_pod_v(fl_buf *b, long i, int v)
{
    const pool_ent *e = &pool[v][i % POOL];
    char digits[32];
    size_t at = b->len;
    fl_buf_append(b, e->json, e->len);
    snprintf(digits, sizeof digits, "%08ld", i);
    memcpy(b->data + at + e->name_at, digits, 8);
    snprintf(digits, sizeof digits, "%012lx", (unsigned long)i);
    memcpy(b->data + at + e->uid_at, digits, 12);
}

static void pool_pod(fl_buf *b, long i)
{
    pool_pod_v(b, i, 0);
}

static char *gen_page(long first, long n, long rv, size_t *len)
{
    fl_buf b = FL_BUF_INIT(1u << 30);
    (void)rv;
    fl_buf_puts(&b, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
                    "\"1\"},\"items\":[");
    for (long i = first; i < first + n; i++) {
        if (i > first)
            fl_buf_puts(&b, ",");
        pool_pod(&b, i);
    }
    fl_buf_puts(&b, "]}");
    *len = b.len;
    return fl_buf_steal(&b);
}

static double now_s(void)
{
    return (double)fl_mono_ms() / 1000.0;
}

static long rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* Process CPU seconds (all threads): on a shared machine, CPU per object
 * moves much less with the load than wall-clock rates do. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_mark;

static void phase_done(const char *what, double secs)
{
    char la[64];
    double c = cpu_s();
    bench_loadavg(la, sizeof la);
    fprintf(stderr, "  %s: %.1f s, CPU %.1f s, RSS %ld MB, load average %s\n", what, secs,
            c - cpu_mark, rss_mb(), la);
    cpu_mark = c;
}

static long long file_bytes(const char *path)
{
    char p[600];
    struct stat st;
    long long total = 0;
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        if (stat(p, &st) == 0)
            total += st.st_size;
    }
    return total;
}

static void submit_retry(fl_index *idx, const fl_index_src *src, const char *d, size_t n, int list)
{
    for (;;) {
        int rc = list ? fl_index_submit_list(idx, src, d, n, NULL)
                      : fl_index_submit_event(idx, src, d, n, NULL);
        if (rc != FL_EFULL)
            return;
        usleep(200);
    }
}

/* Fold the WAL into the database (another connection may), so the bytes
 * counted are the data's, not a WAL bounded by journal_size_limit. */
static void checkpoint(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    }
    sqlite3_close(db);
}

/* ------------------------------------------------------------- full path */

typedef struct figures {
    double ingest, update, del, bytes_per_obj, json_bytes, cpu_us, cpu_upd_us, cpu_del_us;
    long rss;
    long long bytes;
} figures;

static void full_path(const char *path, long n, long m, figures *f)
{
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    o.decoder_threads = 2;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    if (fl_index_open(&o, &idx, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    double t0 = now_s(), gen = 0;
    cpu_mark = cpu_s();
    fl_index_relist_begin(idx, &PODS, NULL);
    for (long i = 0; i < n; i += PAGE) {
        size_t len;
        double g0 = now_s();
        char *p = gen_page(i, i + PAGE > n ? n - i : PAGE, 1, &len);
        gen += now_s() - g0;
        submit_retry(idx, &PODS, p, len, 1);
        free(p);
    }
    fl_index_relist_end(idx, &PODS, "1", NULL);
    fl_buf nb = FL_BUF_INIT(1u << 26);
    fl_buf_puts(&nb, "{\"kind\":\"NodeList\",\"items\":[");
    for (long i = 0; i < 1000; i++) {
        if (i)
            fl_buf_puts(&nb, ",");
        gen_node(&nb, i);
    }
    fl_buf_puts(&nb, "]}");
    submit_retry(idx, &NODES, nb.data, nb.len, 1);
    fl_buf_done(&nb);
    fl_index_flush(idx, 3600 * 1000);
    f->ingest = (double)(n + 1000) / (now_s() - t0);
    f->cpu_us = (cpu_s() - cpu_mark) * 1e6 / (double)(n + 1000);
    phase_done("index path ingest", now_s() - t0);
    checkpoint(path);
    f->bytes = file_bytes(path);
    f->bytes_per_obj = (double)f->bytes / (double)(n + 1000);
    (void)gen;

    fl_buf b = FL_BUF_INIT(1u << 20);
    t0 = now_s();
    cpu_mark = cpu_s();
    for (long i = 0; i < m; i++) {
        fl_buf_reset(&b);
        pool_pod_v(&b, i, 1);
        submit_retry(idx, &PODS, b.data, b.len, 0);
    }
    fl_index_flush(idx, 3600 * 1000);
    f->update = (double)m / (now_s() - t0);
    f->cpu_upd_us = (cpu_s() - cpu_mark) * 1e6 / (double)m;
    phase_done("index path updates", now_s() - t0);
    t0 = now_s();
    cpu_mark = cpu_s();
    for (long i = 0; i < m; i++) {
        fl_buf_reset(&b);
        pool_pod_v(&b, i, 2);
        submit_retry(idx, &PODS, b.data, b.len, 0);
    }
    fl_index_flush(idx, 3600 * 1000);
    f->del = (double)m / (now_s() - t0);
    f->cpu_del_us = (cpu_s() - cpu_mark) * 1e6 / (double)m;
    phase_done("index path deletes", now_s() - t0);
    fl_buf_done(&b);
    f->rss = rss_mb();
    fl_index_stats st;
    fl_index_stats_get(idx, &st);
    fprintf(stderr,
            "  (written %lld, skipped %lld, deleted %lld, coalesced %lld, %lld transactions, "
            "revision %lld, decode errors %lld, decoded by jansson %lld)\n",
            (long long)st.objects_written, (long long)st.objects_skipped,
            (long long)st.objects_deleted, (long long)st.coalesced, (long long)st.transactions,
            (long long)st.revision, (long long)st.decode_errors, (long long)st.objects_parsed);
    fl_index_close(idx);
}

/* ------------------------------------------------------- SQLite limit
 * The index's own writer (same schema, pragmas, statements, side tables,
 * FTS5, pod facts, change log, relist marks, 10k-record transactions) fed
 * with records decoded before the clock starts: what ingest would be if
 * decoding cost nothing. Records are clones of POOL decoded pods with the
 * name and uid patched, so every row is unique; cloning is not timed. */

static char *sdup(const char *s)
{
    return s ? fl_strndup(s, strlen(s)) : NULL;
}

static void patch_at(char *s, size_t len, const char *find, size_t flen, const char *with)
{
    char *p = s ? memmem(s, len, find, flen) : NULL;
    if (p)
        memcpy(p + flen - strlen(with), with, strlen(with));
}

static fl_rec *clone_rec(const fl_rec *t, long i)
{
    fl_rec *r = calloc(1, sizeof *r);
    char name[16], uid[16];
    *r = *t;
    r->ns = sdup(t->ns), r->name = sdup(t->name), r->uid = sdup(t->uid), r->rv = sdup(t->rv);
    r->owner_uid = sdup(t->owner_uid);
    r->json = fl_strndup(t->json, t->json_len);
    r->labels = calloc(t->n_labels * 2 + 1, sizeof *r->labels);
    for (size_t k = 0; k < t->n_labels * 2; k++)
        r->labels[k] = sdup(t->labels[k]);
    r->fts_labels = sdup(t->fts_labels), r->fts_annotations = sdup(t->fts_annotations);
    r->fts_images = sdup(t->fts_images);
    r->node = sdup(t->node), r->phase = sdup(t->phase), r->qos = sdup(t->qos);
    r->prio_class = sdup(t->prio_class), r->region = sdup(t->region), r->zone = sdup(t->zone);
    r->taints = sdup(t->taints);
    r->res = calloc(t->n_res + 1, sizeof *r->res);
    for (size_t k = 0; k < t->n_res; k++) {
        r->res[k] = t->res[k];
        r->res[k].name = sdup(t->res[k].name);
    }
    snprintf(name, sizeof name, "%08ld", i);
    snprintf(uid, sizeof uid, "%012lx", (unsigned long)i);
    size_t nl = strlen(t->name), ul = strlen(t->uid);
    patch_at(r->json, r->json_len, t->name, nl, name);
    patch_at(r->json, r->json_len, t->uid, ul, uid);
    memcpy(r->name + nl - 8, name, 8);
    memcpy(r->uid + ul - 12, uid, 12);
    return r;
}

/* The transactions after the first (which trains the zstd dictionary):
 * valgrind --tool=callgrind --collect-atstart=no --toggle-collect=steady_apply
 * counts the writer's steady state. */
__attribute__((noinline)) static int steady_apply(idx_writer *w, idx_item **items, size_t n,
                                                  int64_t *a, int64_t *b, fl_err *err)
{
    return idx_writer_apply(w, items, n, a, b, err);
}

static void sqlite_limit(const char *path, long n, figures *f)
{
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    sqlite3 *db = NULL;
    idx_writer *w = NULL;
    zjpub *pub = NULL;
    zjc *zc = NULL;
    fl_err err = FL_ERR_INIT;
    fl_rec *tmpl[POOL];
    int64_t a, b;
    dec_opts dopt = {false, false};
    o.path = path;
    if (idx_zjpub_new(&pub) < 0 || idx_zjc_new(&zc) < 0 || sqlite3_open(path, &db) != SQLITE_OK ||
        idx_schema_open(db, &o, &err) < 0 || idx_writer_new(db, &o, pub, &w, &err) < 0) {
        fprintf(stderr, "sqlite limit: %s\n", err.msg);
        exit(1);
    }
    for (long j = 0; j < POOL; j += PAGE) {
        size_t len;
        char *p = gen_page(j, PAGE, 1, &len);
        dec_out out = {0};
        idx_dec_list(&dopt, &PODS, p, len, &out);
        for (size_t k = 0; k < out.n_recs; k++) {
            tmpl[j + (long)k] = out.recs[k];
            out.recs[k] = NULL;
        }
        idx_dec_out_done(&out);
        free(p);
    }
    size_t per = (size_t)o.batch_max / PAGE + 2;
    idx_item *its = calloc(per, sizeof *its);
    idx_item **ptrs = calloc(per, sizeof *ptrs);
    double spent = 0, cpu = 0;
    for (long i = 0; i <= n;) {
        size_t k = 0;
        if (i == 0)
            its[k++] = (idx_item){.type = IT_RELIST_BEGIN, .src = PODS};
        for (; k < per - 1 && i < n; k++, i += PAGE) {
            idx_item *it = &its[k];
            long m = i + PAGE > n ? n - i : PAGE;
            *it = (idx_item){.type = IT_LIST, .src = PODS};
            it->out.recs = calloc((size_t)m, sizeof *it->out.recs);
            it->out.n_recs = (size_t)m;
            for (long x = 0; x < m; x++)
                it->out.recs[x] = clone_rec(tmpl[(i + x) % POOL], i + x);
            /* compressed as the decoder threads do, before the clock */
            idx_zjpub_compress(pub, zc, &PODS, &it->out);
        }
        if (i >= n) {
            its[k] = (idx_item){.type = IT_RELIST_END, .src = PODS, .arg = "1"};
            k++, i++;
        }
        for (size_t x = 0; x < k; x++)
            ptrs[x] = &its[x];
        double t0 = now_s(), c0 = cpu_s();
        if ((its[0].type == IT_RELIST_BEGIN ? idx_writer_apply(w, ptrs, k, &a, &b, &err)
                                            : steady_apply(w, ptrs, k, &a, &b, &err)) < 0) {
            fprintf(stderr, "sqlite limit: %s\n", err.msg);
            exit(1);
        }
        spent += now_s() - t0;
        cpu += cpu_s() - c0;
        for (size_t x = 0; x < k; x++)
            idx_dec_out_done(&its[x].out);
    }
    f->ingest = (double)n / spent;
    f->cpu_us = cpu * 1e6 / (double)n;
    cpu_mark = cpu_s() - cpu; /* phase_done prints the writer's CPU alone */
    phase_done("SQLite-bound limit (writer only, records decoded in advance)", spent);
    double js = 0;
    for (long j = 0; j < POOL; j++)
        js += (double)tmpl[j]->json_len;
    f->json_bytes = js / POOL;
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    f->bytes = file_bytes(path);
    f->bytes_per_obj = (double)f->bytes / (double)n;
    free(its), free(ptrs);
    for (long j = 0; j < POOL; j++)
        idx_rec_free(tmpl[j]);
    idx_writer_free(w);
    idx_zjpub_free(pub);
    idx_zjc_free(zc);
    sqlite3_close(db);
}

/* ------------------------------------------------------- decode alone
 * One thread decoding list pages of the same pods: the in-place path
 * (idx_dec_list) and the jansson path (parse the page, idx_dec_object per item:
 * what idx_dec_list did before), objects/s each. */
static void decode_alone(long n, int passes, double *fast, double *slow)
{
    dec_opts o = {false, false};
    long done = 0;
    double t0 = now_s(), spent = 0;
    for (int pass = 0; pass < passes; pass++) {
        spent = 0, done = 0;
        for (long i = 0; i < n; i += PAGE) {
            size_t len;
            char *p = gen_page(i, PAGE, 1, &len);
            dec_out out = {0};
            t0 = now_s();
            cpu_mark = cpu_s();
            if (pass == 0) {
                idx_dec_list(&o, &PODS, p, len, &out);
                done += (long)out.n_recs;
            } else {
                json_t *list = NULL, *it;
                size_t k;
                fl_json_parse(p, len, &list, NULL);
                json_array_foreach(json_object_get(list, "items"), k, it) {
                    fl_rec *r = idx_dec_object(&o, &PODS, it, REC_UPSERT);
                    done += r != NULL;
                    idx_rec_free(r);
                }
                json_decref(list);
            }
            spent += now_s() - t0;
            idx_dec_out_done(&out);
            free(p);
        }
        *(pass ? slow : fast) = (double)done / spent;
    }
}

/* ------------------------------------------------------------- raw limit */

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "raw: %s: %s\n", sql, msg);
        exit(1);
    }
}

static void raw_row(sqlite3_stmt *ins, json_t *it)
{
    json_t *md = json_object_get(it, "metadata");
    char *js = json_dumps(it, JSON_COMPACT);
    sqlite3_bind_text(ins, 1, "bench", -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, json_string_value(json_object_get(md, "namespace")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, json_string_value(json_object_get(md, "name")), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, json_string_value(json_object_get(md, "uid")), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, json_string_value(json_object_get(md, "resourceVersion")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, js, -1, free);
    sqlite3_step(ins);
    sqlite3_reset(ins);
}

static void raw_limit(const char *path, long n, long m, figures *f)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *upd = NULL, *del = NULL;
    sqlite3_open(path, &db);
    raw_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=OFF;"
                 "PRAGMA cache_size=-65536;"
                 "CREATE TABLE objects(id INTEGER PRIMARY KEY, cluster TEXT, ns TEXT, name TEXT,"
                 " uid TEXT, rv TEXT, json BLOB);"
                 "CREATE UNIQUE INDEX objects_key ON objects(cluster, ns, name);");
    sqlite3_prepare_v2(db,
                       "INSERT INTO objects(cluster, ns, name, uid, rv, json) VALUES(?,?,?,?,?,?)",
                       -1, &ins, NULL);
    sqlite3_prepare_v2(db,
                       "UPDATE objects SET uid = ?4, rv = ?5, json = ?6 WHERE cluster = ?1 AND ns "
                       "= ?2 AND name = ?3",
                       -1, &upd, NULL);
    sqlite3_prepare_v2(db, "DELETE FROM objects WHERE cluster = ?1 AND ns = ?2 AND name = ?3", -1,
                       &del, NULL);
    double t0 = now_s(), gen = 0;
    cpu_mark = cpu_s();
    long in_txn = 0;
    raw_exec(db, "BEGIN");
    for (long i = 0; i < n; i += PAGE) {
        size_t len;
        double g0 = now_s();
        char *p = gen_page(i, i + PAGE > n ? n - i : PAGE, 1, &len);
        gen += now_s() - g0;
        json_t *list = json_loadb(p, len, 0, NULL), *it;
        size_t k;
        json_array_foreach(json_object_get(list, "items"), k, it) {
            raw_row(ins, it);
            if (++in_txn == RAW_TXN) {
                raw_exec(db, "COMMIT; BEGIN");
                in_txn = 0;
            }
        }
        json_decref(list);
        free(p);
    }
    raw_exec(db, "COMMIT");
    f->ingest = (double)n / (now_s() - t0);
    phase_done("raw ingest", now_s() - t0);
    (void)gen;
    raw_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    f->bytes = file_bytes(path);
    f->bytes_per_obj = (double)f->bytes / (double)n;

    fl_buf b = FL_BUF_INIT(1u << 20);
    for (int pass = 0; pass < 2; pass++) {
        sqlite3_stmt *st = pass ? del : upd;
        t0 = now_s();
        cpu_mark = cpu_s();
        raw_exec(db, "BEGIN");
        for (long i = 0; i < m; i++) {
            fl_buf_reset(&b);
            pool_pod_v(&b, i, 1 + pass);
            json_t *ev = json_loadb(b.data, b.len, 0, NULL);
            raw_row(st, json_object_get(ev, "object"));
            json_decref(ev);
            if ((i + 1) % RAW_TXN == 0)
                raw_exec(db, "COMMIT; BEGIN");
        }
        raw_exec(db, "COMMIT");
        *(pass ? &f->del : &f->update) = (double)m / (now_s() - t0);
        phase_done(pass ? "raw deletes" : "raw updates", now_s() - t0);
    }
    fl_buf_done(&b);
    sqlite3_finalize(ins), sqlite3_finalize(upd), sqlite3_finalize(del);
    sqlite3_close(db);
}

int main(int argc, char **argv)
{
    long n = 1000000;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    if (argc > 2 && strcmp(argv[1], "path") == 0) { /* for profiling: the index path alone */
        figures f = {0};
        char p[512], rm[1200];
        snprintf(p, sizeof p, "%s/bench-index-path-%d.db", argv[2], (int)getpid());
        pool_init();
        full_path(p, 30000, 30000, &f);
        printf("index path: ingest %.0f objects/s, %.0f CPU us/object; updates %.0f/s, %.0f CPU"
               " us each; deletes %.0f/s, %.0f CPU us each\n",
               f.ingest, f.cpu_us, f.update, f.cpu_upd_us, f.del, f.cpu_del_us);
        pool_done();
        snprintf(rm, sizeof rm, "rm -f %s %s-wal %s-shm", p, p, p);
        return system(rm) == 0 ? 0 : 1;
    }
    if (argc > 2 && strcmp(argv[1], "limit") == 0) { /* for profiling: the writer alone */
        figures f = {0};
        char p[512];
        long pods = 30000;
        int64_t v;
        if (argc > 3 && fl_parse_i64(argv[3], strlen(argv[3]), &v) == 0 && v > 0)
            pods = (long)v; /* e.g. fewer under callgrind */
        snprintf(p, sizeof p, "%s/bench-index-lim-%d.db", argv[2], (int)getpid());
        pool_init();
        sqlite_limit(p, pods, &f);
        printf("writer alone: %.0f objects/s, %.0f CPU us/object, %.0f bytes/object\n", f.ingest,
               f.cpu_us, f.bytes_per_obj);
        pool_done();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "decode") == 0) { /* for profiling: the in-place path alone */
        double f = 0, sl = 0;
        pool_init();
        decode_alone(100000, 1, &f, &sl);
        printf("in-place decode, one thread: %.0f objects/s\n", f);
        pool_done();
        return 0;
    }
    int64_t v;
    if (argc > 1 && fl_parse_i64(argv[1], strlen(argv[1]), &v) == 0 && v > 0)
        n = (long)v;
    long m = n < 200000 ? n : 200000;
    fl_index_opts defaults = FL_INDEX_OPTS_INIT;
    char la[64];
    bench_loadavg(la, sizeof la);
    char p1[512], p2[512], p3[512], cmd[1800];
    snprintf(p1, sizeof p1, "%s/bench-index-%d.db", dir, (int)getpid());
    snprintf(p2, sizeof p2, "%s/bench-index-raw-%d.db", dir, (int)getpid());
    snprintf(p3, sizeof p3, "%s/bench-index-lim-%d.db", dir, (int)getpid());
    fl_log_set_level(FL_LOG_WARN);
    fl_buf sample = FL_BUF_INIT(1 << 20);
    gen_pod(&sample, 42, 1, "Running", 1);
    printf("bench_index: %ld pods (+1000 nodes), %ld updates, %ld deletes; pod JSON %zu bytes;"
           " load average before %s\n",
           n, m, m, sample.len, la);
    fflush(stdout);
    fl_buf_done(&sample);
    figures full = {0}, raw = {0}, lim = {0};
    pool_init();
    double dfast = 0, dslow = 0;
    decode_alone(n < 20000 ? n : 20000, 2, &dfast, &dslow);
    bench_loadavg(la, sizeof la);
    printf("decode alone, one thread: in-place path %.0f objects/s, jansson path %.0f objects/s"
           " (%.1fx); load average %s\n",
           dfast, dslow, dfast / dslow, la);
    fflush(stdout);
    full_path(p1, n, m, &full);
    sqlite_limit(p3, n, &lim);
    raw_limit(p2, n, m, &raw);
    printf("%-28s %12s %14s %6s %14s %6s\n", "", "index path", "SQLite limit", "ratio",
           "old raw limit", "ratio");
    printf("%-28s %12.0f %14.0f %5.0f%% %14.0f %5.0f%%\n", "ingest objects/s", full.ingest,
           lim.ingest, 100 * full.ingest / lim.ingest, raw.ingest, 100 * full.ingest / raw.ingest);
    printf("%-28s %12.0f %14s %6s %14.0f %5.0f%%\n", "update objects/s", full.update, "-", "",
           raw.update, 100 * full.update / raw.update);
    printf("%-28s %12.0f %14s %6s %14.0f %5.0f%%\n", "delete objects/s", full.del, "-", "", raw.del,
           100 * full.del / raw.del);
    printf("%-28s %12.0f %14.0f %5.0f%%\n", "ingest CPU us/object", full.cpu_us, lim.cpu_us,
           100 * lim.cpu_us / full.cpu_us);
    printf("%-28s %12.0f %14.0f %6s %14.0f\n", "DB bytes/object (ingest)", full.bytes_per_obj,
           lim.bytes_per_obj, "", raw.bytes_per_obj);
    printf("%-28s %12.0f %14s %6s %14s\n", "pruned JSON bytes/pod", lim.json_bytes, "", "", "");
    printf("%-28s %12ld\n", "peak RSS MB (index path)", full.rss);
    bench_loadavg(la, sizeof la);
    printf("load average at the end: %s (2 cores, shared machine)\n", la);
    printf(
        "SQLite limit: the index's own writer (same schema, statements, side tables, FTS5,\n"
        "pod facts, change log, %d-record transactions) on records decoded before the clock\n"
        "starts: ingest if decoding were free. Old raw limit: one thread, jansson json_loadb +\n"
        "json_dumps per item + one INSERT per row into one table with a unique key index, WAL,\n"
        "synchronous=NORMAL, %d-row transactions; same pre-generated bytes. Index path: submit\n"
        "-> 2 decoder threads -> writer; writer cache_size %lld MiB, mmap off, queue cap %zu MiB;\n"
        "the RSS is the whole process (generator pool included).\n",
        defaults.batch_max, RAW_TXN, (long long)(defaults.cache_kib / 1024),
        defaults.queue_max_bytes >> 20);
    pool_done();
    snprintf(cmd, sizeof cmd, "rm -f %s %s-wal %s-shm %s %s-wal %s-shm %s %s-wal %s-shm", p1, p1,
             p1, p2, p2, p2, p3, p3, p3);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove the bench databases\n");
    return 0;
}
