/*
 * bench/bench_sim.c: what the simulator's store costs, beside the raw
 * limits it chases (measured in the same run):
 *   - memory per stored pod (compact JSON + index fields) vs the JSON bytes;
 *   - create throughput (parse-free store path: encode + insert + history);
 *   - list throughput (objects/s) building a PodList body the way the HTTP
 *     handler does (byte splicing), vs memcpy of the same bytes and vs a
 *     jansson parse + dump of every object (the naive server);
 *   - watch fan-out (events/s delivered to W watchers) vs memcpy of the
 *     same event lines.
 * Usage: bench_sim [pods] [watchers]. Prints figures; never pass/fail.
 * bench_sim fleet CLUSTERS NODES PODS [CHURN]: a generated fleet (see
 * fleet_main): generation time and RSS (Karmada's 100-cluster test is
 * `bench_sim fleet 100 5000 20000`), list throughput of one cluster's pods
 * as compact records (rendered on demand) beside the same pods stored as
 * JSON strings (the store before records: its bytes per pod and list
 * speed), and list/watch throughput under churn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim_int.h"

static const char *const none[] = {NULL};
static const fl_kube_resource pod_kr = {
    .group = "",
    .version = "v1",
    .resource = "pods",
    .singular = "pod",
    .kind = "Pod",
    .list_kind = "PodList",
    .namespaced = true,
    .verbs = none,
    .short_names = none,
    .categories = none,
};

static json_t *make_pod(int i)
{
    char name[64], ns[32], node[32];
    snprintf(name, sizeof(name), "web-%06d", i);
    snprintf(ns, sizeof(ns), "team-%d", i % 20);
    snprintf(node, sizeof(node), "node-%d", i % 50);
    return json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s},s:[{s:s,s:s,s:s,s:s,s:b,s:b}]},"
        "s:{s:[{s:s,s:s,s:[{s:s,s:i,s:s}],s:{s:{s:s,s:s},s:{s:s,s:s}},s:s,s:s,s:s}],"
        "s:s,s:i,s:s,s:s,s:{},s:s,s:s,s:i,s:b,s:s},"
        "s:{s:s,s:[{s:s,s:s,s:n,s:s}],s:s,s:s,s:s,s:s}}",
        "kind", "Pod", "apiVersion", "v1", "metadata", "name", name, "namespace", ns, "uid",
        "91be27f7-9015-4db8-a3cc-70b552486a1b", "creationTimestamp", "2026-11-22T03:46:03Z",
        "labels", "app", "web", "tier", "frontend", "team", ns, "version", "v1.2.3",
        "pod-template-hash", "5d8f7c9b4", "env", "prod", "ownerReferences", "apiVersion", "apps/v1",
        "kind", "ReplicaSet", "name", "web-5d8f7c9b4", "uid",
        "a1b2c3d4-0000-1111-2222-333344445555", "controller", 1, "blockOwnerDeletion", 1, "spec",
        "containers", "name", "web", "image", "nginx:1.25.3", "ports", "name", "http",
        "containerPort", 80, "protocol", "TCP", "resources", "limits", "cpu", "500m", "memory",
        "256Mi", "requests", "cpu", "100m", "memory", "128Mi", "terminationMessagePath",
        "/dev/termination-log", "terminationMessagePolicy", "File", "imagePullPolicy",
        "IfNotPresent", "restartPolicy", "Always", "terminationGracePeriodSeconds", 30, "dnsPolicy",
        "ClusterFirst", "nodeName", node, "securityContext", "schedulerName", "default-scheduler",
        "preemptionPolicy", "PreemptLowerPriority", "priority", 0, "enableServiceLinks", 1,
        "serviceAccountName", "default", "status", "phase", "Running", "conditions", "type",
        "Ready", "status", "True", "lastProbeTime", "lastTransitionTime", "2026-11-22T03:46:05Z",
        "hostIP", "10.0.0.7", "podIP", "10.244.1.9", "qosClass", "Burstable", "startTime",
        "2026-11-22T03:46:04Z");
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) /* NOLINT: /proc format is fixed */
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

typedef struct sink {
    size_t bytes, events;
} sink;

static int sink_write(void *ud, const char *d, size_t n)
{
    sink *s = ud;
    s->bytes += n;
    s->events++;
    (void)d;
    return 0;
}

/* Microseconds on the monotonic clock (fl_mono_ms is too coarse for the
 * short baselines). */
static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double secs(int64_t t0)
{
    return (double)(now_us() - t0) / 1e6;
}

/* ---- fleet mode: bench_sim fleet CLUSTERS NODES PODS [CHURN] -----------
 * Generation time and RSS of a whole fl_sim fleet (extrapolated to
 * Karmada's 100 x (5,000 nodes + 20,000 pods)), beside the jansson parse
 * rate of the same pod JSON (generation parses every object once); then,
 * on the first cluster under churn: list throughput and watch events
 * delivered, and the highest churn rate one cluster sustains. */
static int64_t fleet_arg(int argc, char **argv, int i, int64_t def)
{
    int64_t v = def;
    if (argc > i && (fl_parse_i64(argv[i], strlen(argv[i]), &v) != 0 || v < 0))
        return -1;
    return v;
}

static void fleet_list(sim_cluster *c, const fl_apiserver_res *r, unsigned churn)
{
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    size_t objs = 0, bytes = 0;
    fl_buf b = FL_BUF_INIT((size_t)4 << 30);
    int64_t t0 = now_us();
    for (int k = 0; k < 10; k++) {
        if (fl_apiserver_store_list(c->st, r, &q, &l) != 0)
            break;
        fl_buf_reset(&b); /* the PodList body, spliced as api.c does */
        fl_buf_puts(&b, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[");
        for (size_t i = 0; i < l.n; i++) {
            if (i)
                fl_buf_puts(&b, ",");
            fl_apiserver_obj_write(l.items[i], true, &b);
        }
        fl_buf_puts(&b, "]}\n");
        bytes += b.len;
        objs += l.n;
        fl_apiserver_list_done(&l);
    }
    double t = secs(t0) + 1e-9;
    printf("  list (snapshot + PodList body) of one cluster's pods under churn %u/s: %.0f "
           "objects/s (%.0f MB/s)\n",
           churn, objs / t, bytes / t / 1e6);
    fl_buf_done(&b);
}

/* A PodList body of objs[0..n) spliced/rendered as api.c does, rounds
 * times: objects/s, and the body's bytes in *bytes. */
static double list_body(fl_apiserver_obj *const *objs, size_t n, int rounds, size_t *bytes)
{
    fl_buf b = FL_BUF_INIT((size_t)4 << 30);
    int64_t t0 = now_us();
    for (int k = 0; k < rounds; k++) {
        fl_buf_reset(&b);
        fl_buf_puts(&b, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                fl_buf_puts(&b, ",");
            fl_apiserver_obj_write(objs[i], true, &b);
        }
        fl_buf_puts(&b, "]}\n");
    }
    double t = secs(t0) + 1e-9;
    *bytes = b.len;
    fl_buf_done(&b);
    return (double)n * rounds / t;
}

/* The baseline for records: the same pods stored as before them (one
 * compact JSON string each, fl_apiserver_obj_build): bytes per pod and list speed,
 * beside the records' (rendered on demand). */
static void fleet_compare(sim_cluster *c, const fl_apiserver_res *r)
{
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    if (fl_apiserver_store_list(c->st, r, &q, &l) != 0 || !l.n)
        return;
    fl_apiserver_obj **old = calloc(l.n, sizeof(*old));
    long rss0 = rss_kb();
    size_t built = 0;
    for (; old && built < l.n; built++) {
        json_t *v = fl_apiserver_obj_parse(l.items[built]);
        old[built] = v ? fl_apiserver_obj_build(r, v, l.items[built]->rv) : NULL;
        json_decref(v);
        if (!old[built])
            break;
    }
    long rss1 = rss_kb();
    if (built < l.n) {
        printf("  out of memory building the JSON-string baseline\n");
        goto out;
    }
    size_t b_new = 0, b_old = 0;
    double v_new = list_body(l.items, l.n, 10, &b_new);
    double v_old = list_body(old, l.n, 10, &b_old);
    printf("  list of one cluster's %zu pods (PodList body): records rendered %.0f objects/s "
           "(%.0f MB/s); baseline, the same pods stored as JSON strings (before records): "
           "%.0f objects/s (%.0f MB/s); bodies %s\n",
           l.n, v_new, v_new * b_new / l.n / 1e6, v_old, v_old * b_old / l.n / 1e6,
           b_new == b_old ? "identical in size" : "DIFFER");
    printf("  baseline memory of those pods as JSON strings: %.0f bytes per pod (RSS)\n",
           (double)(rss1 - rss0) * 1024.0 / l.n);
out:
    for (size_t i = 0; i < built; i++)
        fl_apiserver_obj_unref(old[i]);
    free(old);
    fl_apiserver_list_done(&l);
}

/* sinks[0..nw) must outlive the store: the watches stay registered. */
static void fleet_watch(sim_cluster *c, const fl_apiserver_res *r, unsigned churn, int nw,
                        sink *sinks)
{
    fl_err err = FL_ERR_INIT;
    char arg[24];
    for (int i = 0; i < nw; i++) {
        fl_apiserver_watch_req wq = {.from_rv = fl_apiserver_store_rv(c->st)};
        uint64_t oldest;
        fl_apiserver_store_watch(c->st, r, &wq, sink_write, NULL, &sinks[i], NULL, &oldest);
    }
    snprintf(arg, sizeof(arg), "%u", churn);
    uint64_t rv0 = fl_apiserver_store_rv(c->st);
    sim_fault_apply(c, "churn", arg, &err);
    int64_t t0 = now_us();
    sleep(2);
    sim_fault_apply(c, "churn", "0", &err);
    double t = secs(t0);
    size_t ev = 0, bytes = 0;
    for (int i = 0; i < nw; i++) {
        ev += sinks[i].events;
        bytes += sinks[i].bytes;
    }
    printf("  churn asked %u/s: %.0f store events/s made; %d watchers got %.0f events/s "
           "(%.0f MB/s)\n",
           churn, (double)(fl_apiserver_store_rv(c->st) - rv0) / t, nw, ev / t, bytes / t / 1e6);
}

static int fleet_main(int argc, char **argv)
{
    int64_t nc = fleet_arg(argc, argv, 2, 4), nn = fleet_arg(argc, argv, 3, 500),
            np = fleet_arg(argc, argv, 4, 2000), churn = fleet_arg(argc, argv, 5, 100);
    char dir[] = "/tmp/bench-sim-XXXXXX";
    if (nc <= 0 || nn < 0 || np < 0 || churn < 0 || !mkdtemp(dir))
        return 2;
    fl_sim_opts o = FL_SIM_OPTS_INIT;
    o.clusters = (unsigned)nc;
    o.nodes = (unsigned)nn;
    o.pods = (unsigned)np;
    o.namespaces = 20;
    o.kubeconfig_dir = dir;
    fl_sim *sim = NULL;
    fl_err err = FL_ERR_INIT;
    long rss0 = rss_kb();
    int64_t t0 = now_us();
    if (fl_sim_new(&o, &sim, &err) != 0) {
        fprintf(stderr, "bench_sim: %s\n", err.msg);
        return 1;
    }
    double tg = secs(t0) + 1e-9;
    long rss1 = rss_kb();
    double objs = (double)nc * (double)(nn + np + np / 4);
    double per = (double)(rss1 - rss0) * 1024.0 / objs;
    printf("fleet: %lld clusters x (%lld nodes + %lld pods + workloads): %.0f objects in %.2f s "
           "= %.0f objects/s\n",
           (long long)nc, (long long)nn, (long long)np, objs, tg, objs / tg);
    printf("  RSS %.1f MB = %.0f bytes per object; 100 x (5000 nodes + 20000 pods + 5000 "
           "workloads) would take %.1f GB\n",
           (rss1 - rss0) / 1024.0, per, per * 100.0 * 30000.0 / 1e9);
    sim_cluster *c = sim_cluster_at(sim, 0);
    json_t *pod = sim_fleet_pod(c, 0, 0, NULL);
    char *pj = json_dumps(pod, JSON_COMPACT);
    size_t pl = strlen(pj);
    t0 = now_us();
    int reps = 20000;
    for (int i = 0; i < reps; i++)
        json_decref(json_loadb(pj, pl, 0, NULL));
    printf("  baseline jansson parse of one generated pod (%zu bytes): %.0f pods/s\n", pl,
           reps / (secs(t0) + 1e-9));
    free(pj);
    json_decref(pod);
    const fl_apiserver_res *r = fl_apiserver_store_find(c->st, "", "v1", "pods");
    sink sinks[20] = {{0, 0}};
    if (r) {
        fleet_compare(c, r);
        fleet_list(c, r, 0);
        fleet_watch(c, r, (unsigned)churn, 10, sinks);
        sim_fault_apply(c, "churn", churn ? "100" : "0", &err);
        fleet_list(c, r, churn ? 100 : 0);
        sim_fault_apply(c, "churn", "0", &err);
        fleet_watch(c, r, 100000, 10, sinks + 10);
    }
    fl_sim_free(sim);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_sim: could not remove %s\n", dir);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t n = 50000, nw = 100;
    if (argc > 1 && !strcmp(argv[1], "fleet"))
        return fleet_main(argc, argv);
    if ((argc > 1 && fl_parse_i64(argv[1], strlen(argv[1]), &n) != 0) ||
        (argc > 2 && fl_parse_i64(argv[2], strlen(argv[2]), &nw) != 0))
        return 2;
    fl_apiserver_store *st;
    fl_apiserver_store_opts so = {.history = 10000, .bookmark_s = 3600};
    if (n <= 0 || nw <= 0 || fl_apiserver_store_new(&so, &st) != 0 ||
        fl_apiserver_store_add_res(st, &pod_kr) != 0)
        return 1;
    const fl_apiserver_res *r = fl_apiserver_store_find(st, "", "v1", "pods");
    json_t *sample = make_pod(1);
    char *sample_s = json_dumps(sample, JSON_COMPACT);
    size_t json_bytes = strlen(sample_s);
    long rss0 = rss_kb();
    int64_t t0 = now_us();
    for (int i = 0; i < n; i++) {
        json_t *p = make_pod(i);
        fl_apiserver_store_create(st, r, p, NULL);
        json_decref(p);
    }
    double tc = secs(t0);
    long rss1 = rss_kb();
    printf("pods: %lld, %zu JSON bytes each\n", (long long)n, json_bytes);
    printf("create (build JSON + encode + insert + history): %.0f pods/s\n", n / tc);
    printf("memory per stored pod: %.0f bytes RSS (history of %zu events included; raw JSON %zu)\n",
           (double)(rss1 - rss0) * 1024.0 / n, so.history, json_bytes);

    /* list: splice bytes as api.c does */
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    fl_buf b = FL_BUF_INIT((size_t)4 << 30);
    t0 = now_us();
    int rounds = 5;
    for (int k = 0; k < rounds; k++) {
        fl_apiserver_store_list(st, r, &q, &l);
        fl_buf_reset(&b);
        fl_buf_puts(&b, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[");
        for (size_t i = 0; i < l.n; i++) {
            if (i)
                fl_buf_puts(&b, ",");
            fl_apiserver_obj_write(l.items[i], true, &b);
        }
        fl_buf_puts(&b, "]}\n");
        if (k + 1 < rounds)
            fl_apiserver_list_done(&l);
    }
    double tl = secs(t0);
    printf("list (snapshot + PodList body): %.0f objects/s, %.0f MB/s\n", rounds * (double)n / tl,
           rounds * (double)b.len / tl / 1e6);
    /* baseline 1: memcpy of the same bytes */
    char *dst = malloc(b.len);
    t0 = now_us();
    int mrounds = 50;
    for (int k = 0; k < mrounds; k++) {
        memcpy(dst, b.data, b.len);
        dst[k % b.len] ^= 1;
    }
    double tm = secs(t0) + 1e-9;
    printf("  baseline memcpy of the body: %.0f objects/s, %.0f MB/s\n", mrounds * (double)n / tm,
           mrounds * (double)b.len / tm / 1e6);
    /* baseline 2: parse + dump each object (what a json_t store would do) */
    t0 = now_us();
    size_t dumped = 0;
    for (size_t i = 0; i < l.n; i++) {
        json_t *v = fl_apiserver_obj_parse(l.items[i]);
        char *s = json_dumps(v, JSON_COMPACT);
        dumped += strlen(s);
        free(s);
        json_decref(v);
    }
    double tj = secs(t0) + 1e-9;
    printf("  baseline jansson parse+dump per object: %.0f objects/s (%zu bytes)\n", l.n / tj,
           dumped);
    fl_apiserver_list_done(&l);
    free(dst);

    /* watch fan-out */
    sink *sinks = calloc((size_t)nw, sizeof(*sinks));
    if (!sinks)
        return 1;
    for (int i = 0; i < nw; i++) {
        fl_apiserver_watch_req wq = {.from_rv = fl_apiserver_store_rv(st)};
        uint64_t oldest;
        fl_apiserver_store_watch(st, r, &wq, sink_write, NULL, &sinks[i], NULL, &oldest);
    }
    int updates = 2000;
    t0 = now_us();
    for (int i = 0; i < updates; i++) {
        json_t *p = make_pod((int)(i % n));
        fl_apiserver_store_update(st, r, p, 0, NULL);
        json_decref(p);
    }
    double tw = secs(t0);
    size_t ev = 0, bytes = 0;
    for (int i = 0; i < nw; i++) {
        ev += sinks[i].events;
        bytes += sinks[i].bytes;
    }
    printf("watch fan-out to %lld watchers: %.0f events/s delivered (%.0f MB/s), %d updates/s\n",
           (long long)nw, ev / tw, bytes / tw / 1e6, (int)(updates / tw));
    size_t line = ev ? bytes / ev : 1;
    char *src = calloc(1, line), *d2 = malloc(line);
    t0 = now_us();
    size_t copies = ev * 4;
    unsigned sum = 0;
    for (size_t i = 0; i < copies; i++) {
        memcpy(d2, src, line);
        src[i % line] = (char)i;
        sum += (unsigned char)d2[(i * 7) % line];
    }
    double tmc = secs(t0) + 1e-9;
    printf("  baseline memcpy of %zu-byte event lines: %.0f events/s (%u)\n", line, copies / tmc,
           sum & 1);
    free(src);
    free(d2);
    free(sinks);
    fl_buf_done(&b);
    free(sample_s);
    json_decref(sample);
    fl_apiserver_store_free(st);
    return 0;
}
