/*
 * sim/fleet.c: deterministic generated workloads for `--pods N
 * --namespaces N`: namespaces named after teams, Deployments with their
 * ReplicaSets (ownerReferences that resolve), and Running pods bound to
 * the cluster's Nodes, with the labels, managedFields, requests/limits,
 * images and statuses a busy production cluster has. Everything —
 * including uids and timestamps — derives from the cluster's seed, so the
 * same seed gives byte-identical objects. Objects go in through
 * sim_store_create (the normal write path). Also builds the pods churn.c
 * creates. Called from the fleet's construction thread and churn threads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/sim_int.h"

static const char *const teams[] = {"payments", "search", "checkout", "identity",
                                    "ml",       "data",   "platform", "web"};
static const char *const apps[] = {"api",     "web",     "worker",   "cache",    "gateway",
                                   "indexer", "cron",    "notifier", "frontend", "ledger"};
static const char *const tiers[] = {"frontend", "backend", "cache", "batch"};
static const char *const sidecars[] = {"docker.io/envoyproxy/envoy:v1.27.2",
                                       "cr.fluentbit.io/fluent/fluent-bit:2.1.10",
                                       "quay.io/prometheus/statsd-exporter:v0.26.0"};
static const char hash_chars[] = "bcdfghjklmnpqrstvwxz2456789";

#define BASE_EPOCH 1767225600LL /* 2026-01-01T00:00:00Z */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t h3(uint64_t a, uint64_t b, uint64_t c)
{
    return mix(mix(mix(a) ^ b) ^ c);
}

static void fake_uid(uint64_t h, char out[37])
{
    h = mix(h);
    uint64_t g = mix(h);
    snprintf(out, 37, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(h >> 32),
             (unsigned)(h >> 16) & 0xffff, (unsigned)h & 0xfff, (unsigned)(g >> 52) & 0xfff,
             (unsigned long long)(g & 0xffffffffffffull));
}

/* A time up to 90 days before BASE_EPOCH, plus after seconds. */
static void fake_time(uint64_t h, int64_t after, char out[32])
{
    time_t t = (time_t)(BASE_EPOCH - (int64_t)(h % (90 * 86400)) + after);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void hash_str(uint64_t h, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++, h = mix(h))
        out[i] = hash_chars[h % (sizeof(hash_chars) - 1)];
    out[n] = 0;
}

void sim_fleet_ns_name(unsigned k, char *out, size_t n)
{
    snprintf(out, n, "%s-%u", teams[k % FL_ARRAY_LEN(teams)], (unsigned)(k / FL_ARRAY_LEN(teams)) + 1);
}

static void ns_name(const sim_cluster *c, unsigned k, char *out, size_t n)
{
    if (c->namespaces)
        sim_fleet_ns_name(k, out, n);
    else
        snprintf(out, n, "default");
}

/* One workload: a Deployment d of namespace ns. */
typedef struct wl {
    char ns[64], app[64], deploy[96], rs[128], hash[16];
    char dep_uid[37], rs_uid[37], created[32];
    uint64_t h;
    const char *team, *tier;
    unsigned replicas, containers, cpu_m, mem_mi, image_minor;
} wl;

static void wl_init(const sim_cluster *c, unsigned ns, uint64_t d, wl *w)
{
    uint64_t h = h3(c->seed, ns, d);
    ns_name(c, ns, w->ns, sizeof(w->ns));
    w->team = c->namespaces ? teams[ns % FL_ARRAY_LEN(teams)] : teams[h % FL_ARRAY_LEN(teams)];
    snprintf(w->app, sizeof(w->app), "%s", apps[(h >> 8) % FL_ARRAY_LEN(apps)]);
    w->tier = tiers[(h >> 16) % FL_ARRAY_LEN(tiers)];
    snprintf(w->deploy, sizeof(w->deploy), "%s-%s-%llu", w->team, w->app, (unsigned long long)d);
    hash_str(h ^ 0x5a5a, 10, w->hash);
    snprintf(w->rs, sizeof(w->rs), "%s-%s", w->deploy, w->hash);
    fake_uid(h ^ 1, w->dep_uid);
    fake_uid(h ^ 2, w->rs_uid);
    fake_time(h, 0, w->created);
    w->h = h;
    w->replicas = 2 + (unsigned)((h >> 24) % 7);
    w->containers = 1 + (unsigned)((h >> 32) % 3);
    w->cpu_m = 100 * (1 + (unsigned)((h >> 36) % 10));
    w->mem_mi = 128u << ((h >> 40) % 5);
    w->image_minor = (unsigned)((h >> 44) % 30);
}

static int add(sim_cluster *c, const char *resource, const char *group, fl_buf *b)
{
    const sim_res *r = sim_store_find(c->st, group, "v1", resource);
    json_t *obj = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = b->len >= b->max ? -E2BIG : fl_json_parse(b->data, b->len, &obj, &err);
    if (rc == 0)
        rc = r ? sim_store_create(c->st, r, obj, NULL) : FL_ENOTFOUND;
    json_decref(obj);
    b->len = 0;
    return rc;
}

static void labels(fl_buf *b, const wl *w, bool hash)
{
    fl_buf_printf(b, "\"labels\":{\"app\":\"%s\",\"app.kubernetes.io/name\":\"%s\","
                     "\"app.kubernetes.io/part-of\":\"%s\",\"team\":\"%s\",\"tier\":\"%s\","
                     "\"environment\":\"production\"",
                  w->deploy, w->app, w->team, w->team, w->tier);
    if (hash)
        fl_buf_printf(b, ",\"pod-template-hash\":\"%s\"", w->hash);
    fl_buf_printf(b, "}");
}

/* Container i of workload w: its name and image. */
static const char *container(const wl *w, unsigned i, char *image, size_t n)
{
    static const char *const side_names[] = {"envoy", "fluent-bit", "statsd-exporter"};
    if (i == 0)
        snprintf(image, n, "registry.example.com/%s/%s:v1.%u.%u", w->team, w->app,
                 w->image_minor, i);
    else
        snprintf(image, n, "%s", sidecars[(i - 1 + w->image_minor) % 3]);
    return i ? side_names[(i - 1 + w->image_minor) % 3] : w->app;
}

/* status.containerStatuses of a Running pod started at t. */
static void container_statuses(fl_buf *b, const wl *w, uint64_t h, const char *t)
{
    fl_buf_printf(b, ",\"containerStatuses\":[");
    for (unsigned i = 0; i < w->containers; i++) {
        char image[160];
        const char *cname = container(w, i, image, sizeof(image));
        fl_buf_printf(b, "%s{\"name\":\"%s\",\"state\":{\"running\":{\"startedAt\":\"%s\"}},"
                         "\"lastState\":{},\"ready\":true,\"restartCount\":0,\"image\":\"%s\","
                         "\"imageID\":\"%s@sha256:%016llx%016llx\",\"containerID\":"
                         "\"containerd://%016llx%016llx\",\"started\":true}",
                      i ? "," : "", cname, t, image, image, (unsigned long long)mix(h + i),
                      (unsigned long long)mix(h + i + 7), (unsigned long long)mix(h ^ i),
                      (unsigned long long)mix(h ^ (i + 99)));
    }
    fl_buf_printf(b, "]");
}

static void containers(fl_buf *b, const wl *w)
{
    fl_buf_printf(b, "\"containers\":[");
    for (unsigned i = 0; i < w->containers; i++) {
        char image[160];
        const char *cname = container(w, i, image, sizeof(image));
        unsigned cpu = i ? 50 : w->cpu_m, mem = i ? 64 : w->mem_mi;
        fl_buf_printf(b,
                      "%s{\"name\":\"%s\",\"image\":\"%s\",\"ports\":[{\"name\":\"http\","
                      "\"containerPort\":%u,\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"TEAM\","
                      "\"value\":\"%s\"},{\"name\":\"LOG_LEVEL\",\"value\":\"info\"}],"
                      "\"resources\":{\"limits\":{\"cpu\":\"%um\",\"memory\":\"%uMi\"},"
                      "\"requests\":{\"cpu\":\"%um\",\"memory\":\"%uMi\"}},"
                      "\"terminationMessagePath\":\"/dev/termination-log\","
                      "\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":\"IfNotPresent\"}",
                      i ? "," : "", cname, image, 8080 + i, w->team, cpu * 2, mem * 2, cpu, mem);
    }
    fl_buf_printf(b, "]");
}

#define POD_FIELDS \
    "{\"f:metadata\":{\"f:generateName\":{},\"f:labels\":{\".\":{},\"f:app\":{}," \
    "\"f:pod-template-hash\":{},\"f:team\":{},\"f:tier\":{}},\"f:ownerReferences\":{\".\":{}," \
    "\"k:{\\\"uid\\\":\\\"%s\\\"}\":{}}},\"f:spec\":{\"f:containers\":{},\"f:dnsPolicy\":{}," \
    "\"f:enableServiceLinks\":{},\"f:restartPolicy\":{},\"f:schedulerName\":{}," \
    "\"f:securityContext\":{},\"f:terminationGracePeriodSeconds\":{}}}"

json_t *sim_fleet_pod(const sim_cluster *c, unsigned ns, uint64_t id, const char *name)
{
    fl_buf b = FL_BUF_INIT(64 * 1024);
    wl w;
    uint64_t d = id / 8, h = h3(c->seed ^ 0x90d, ns, id);
    char pod[160], uid[37], started[32], node[96] = "", ip[32] = "", hostip[32] = "";
    wl_init(c, ns, d, &w);
    char sfx[8];
    hash_str(h, 5, sfx);
    snprintf(pod, sizeof(pod), "%s-%s", w.rs, sfx);
    fake_uid(h, uid);
    fake_time(w.h, (int64_t)(h % 86400), started);
    if (c->nodes) {
        unsigned n = (unsigned)(h % c->nodes);
        snprintf(node, sizeof(node), "%s-node-%u", c->name, n + 1);
        snprintf(hostip, sizeof(hostip), "10.%u.%u.%u", (unsigned)(c->seed % 200) + 10, n / 250,
                 n % 250 + 2);
        snprintf(ip, sizeof(ip), "172.%u.%u.%u", 16 + (unsigned)(h >> 40) % 16,
                 (unsigned)(h >> 48) % 256, 2 + (unsigned)(h >> 56) % 250);
    }
    fl_buf_printf(&b, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
                      "\"generateName\":\"%s-\",\"namespace\":\"%s\",\"uid\":\"%s\","
                      "\"creationTimestamp\":\"%s\",",
                  name ? name : pod, w.rs, w.ns, uid, started);
    labels(&b, &w, true);
    fl_buf_printf(&b, ",\"annotations\":{\"prometheus.io/scrape\":\"true\","
                      "\"prometheus.io/port\":\"8080\",\"kubectl.kubernetes.io/default-container\":"
                      "\"%s\"},\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":"
                      "\"ReplicaSet\",\"name\":\"%s\",\"uid\":\"%s\",\"controller\":true,"
                      "\"blockOwnerDeletion\":true}],\"managedFields\":[{\"manager\":"
                      "\"kube-controller-manager\",\"operation\":\"Update\",\"apiVersion\":\"v1\","
                      "\"time\":\"%s\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":",
                  w.app, w.rs, w.rs_uid, started);
    fl_buf_printf(&b, POD_FIELDS, w.rs_uid);
    fl_buf_printf(&b, "}]},\"spec\":{");
    containers(&b, &w);
    fl_buf_printf(&b, ",\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,"
                      "\"dnsPolicy\":\"ClusterFirst\",\"serviceAccountName\":\"default\","
                      "\"serviceAccount\":\"default\",%s%s%s\"securityContext\":{},"
                      "\"schedulerName\":\"default-scheduler\",\"priority\":0,"
                      "\"enableServiceLinks\":true,\"preemptionPolicy\":\"PreemptLowerPriority\"},",
                  node[0] ? "\"nodeName\":\"" : "", node, node[0] ? "\"," : "");
    if (node[0]) {
        fl_buf_printf(&b, "\"status\":{\"phase\":\"Running\",\"conditions\":["
                          "{\"type\":\"Initialized\",\"status\":\"True\",\"lastTransitionTime\":\"%s\"},"
                          "{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"%s\"},"
                          "{\"type\":\"ContainersReady\",\"status\":\"True\",\"lastTransitionTime\":\"%s\"},"
                          "{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":\"%s\"}],"
                          "\"hostIP\":\"%s\",\"podIP\":\"%s\",\"podIPs\":[{\"ip\":\"%s\"}],"
                          "\"startTime\":\"%s\",\"qosClass\":\"Burstable\"",
                      started, started, started, started, hostip, ip, ip, started);
        container_statuses(&b, &w, h, started);
        fl_buf_printf(&b, "}}");
    } else {
        fl_buf_printf(&b, "\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":"
                          "\"PodScheduled\",\"status\":\"False\",\"reason\":\"Unschedulable\","
                          "\"message\":\"0/0 nodes are available.\"}],\"qosClass\":\"Burstable\"}}");
    }
    json_t *obj = NULL;
    fl_err err = FL_ERR_INIT;
    if (b.len < b.max)
        fl_json_parse(b.data, b.len, &obj, &err);
    fl_buf_done(&b);
    return obj;
}

static int add_namespace(sim_cluster *c, unsigned k, fl_buf *b)
{
    char name[64], uid[37], t[32];
    uint64_t h = h3(c->seed, 0x5e, k);
    sim_fleet_ns_name(k, name, sizeof(name));
    fake_uid(h, uid);
    fake_time(h, -90 * 86400, t);
    fl_buf_printf(b, "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
                     "\"%s\",\"uid\":\"%s\",\"creationTimestamp\":\"%s\",\"labels\":{"
                     "\"kubernetes.io/metadata.name\":\"%s\",\"team\":\"%s\"}},\"spec\":{"
                     "\"finalizers\":[\"kubernetes\"]},\"status\":{\"phase\":\"Active\"}}",
                  name, uid, t, name, teams[k % FL_ARRAY_LEN(teams)]);
    return add(c, "namespaces", "", b);
}

/* The Deployment and its ReplicaSet for workload d of namespace ns. */
static int add_workload(sim_cluster *c, unsigned ns, uint64_t d, unsigned replicas, fl_buf *b)
{
    wl w;
    wl_init(c, ns, d, &w);
    const char *kinds[] = {"Deployment", "ReplicaSet"};
    for (int i = 0; i < 2; i++) {
        fl_buf_printf(b, "{\"kind\":\"%s\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":"
                         "\"%s\",\"namespace\":\"%s\",\"uid\":\"%s\",\"generation\":1,"
                         "\"creationTimestamp\":\"%s\",",
                      kinds[i], i ? w.rs : w.deploy, w.ns, i ? w.rs_uid : w.dep_uid, w.created);
        labels(b, &w, i == 1);
        if (i == 0)
            fl_buf_printf(b, ",\"annotations\":{\"deployment.kubernetes.io/revision\":\"1\","
                             "\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"apiVersion"
                             "\\\":\\\"apps/v1\\\",\\\"kind\\\":\\\"Deployment\\\",\\\"metadata\\\":"
                             "{\\\"name\\\":\\\"%s\\\",\\\"namespace\\\":\\\"%s\\\"},\\\"spec\\\":"
                             "{\\\"replicas\\\":%u}}\\n\"}",
                          w.deploy, w.ns, replicas);
        else
            fl_buf_printf(b, ",\"annotations\":{\"deployment.kubernetes.io/revision\":\"1\"},"
                             "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":"
                             "\"Deployment\",\"name\":\"%s\",\"uid\":\"%s\",\"controller\":true,"
                             "\"blockOwnerDeletion\":true}]",
                          w.deploy, w.dep_uid);
        fl_buf_printf(b, "},\"spec\":{\"replicas\":%u,\"selector\":{\"matchLabels\":{\"app\":"
                         "\"%s\"%s%s%s}},\"template\":{\"metadata\":{",
                      replicas, w.deploy, i ? ",\"pod-template-hash\":\"" : "", i ? w.hash : "",
                      i ? "\"" : "");
        labels(b, &w, i == 1);
        fl_buf_printf(b, "},\"spec\":{");
        containers(b, &w);
        fl_buf_printf(b, ",\"restartPolicy\":\"Always\"}}},\"status\":{\"observedGeneration\":1,"
                         "\"replicas\":%u,\"readyReplicas\":%u,\"availableReplicas\":%u",
                      replicas, replicas, replicas);
        if (i == 0)
            fl_buf_printf(b, ",\"updatedReplicas\":%u", replicas);
        fl_buf_printf(b, "}}");
        int rc = add(c, i ? "replicasets" : "deployments", "apps", b);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Pods: pod id of namespace ns belongs to workload id / 8 (8 replicas per
 * ReplicaSet; the last one of a namespace may have fewer). */
static int seed_namespace(sim_cluster *c, unsigned ns, unsigned pods, fl_buf *b)
{
    const sim_res *pr = sim_store_find(c->st, "", "v1", "pods");
    int rc = pr ? 0 : FL_ENOTFOUND;
    for (unsigned d = 0; rc == 0 && d * 8 < pods; d++)
        rc = add_workload(c, ns, d, pods - d * 8 < 8 ? pods - d * 8 : 8, b);
    for (unsigned i = 0; rc == 0 && i < pods; i++) {
        json_t *p = sim_fleet_pod(c, ns, i, NULL);
        rc = p ? sim_store_create(c->st, pr, p, NULL) : -ENOMEM;
        json_decref(p);
    }
    return rc;
}

int sim_fleet_seed(sim_cluster *c, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(64 * 1024);
    unsigned nns = c->namespaces ? c->namespaces : 1;
    int rc = 0;
    for (unsigned k = 0; rc == 0 && k < c->namespaces; k++)
        rc = add_namespace(c, k, &b);
    for (unsigned k = 0; rc == 0 && c->pods && k < nns; k++)
        rc = seed_namespace(c, k, c->pods / nns + (k < c->pods % nns), &b);
    fl_buf_done(&b);
    return rc ? fl_err_set(err, rc, "cluster %s: generating objects: %s", c->name,
                           fl_strerror(rc))
              : 0;
}

/* Parallel seeding: clusters are independent (a store each). */
typedef struct seed_job {
    sim_cluster **c;
    size_t n;
    atomic_size_t next;
    pthread_mutex_t mu;
    int rc;
    fl_err err;
} seed_job;

static void *seed_worker(void *arg)
{
    seed_job *j = arg;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        fl_err e = FL_ERR_INIT;
        int rc = j->c[i]->is_host ? 0 : sim_fleet_seed(j->c[i], &e);
        pthread_mutex_lock(&j->mu);
        if (rc != 0 && j->rc == 0) {
            j->rc = rc;
            j->err = e;
        }
        pthread_mutex_unlock(&j->mu);
        if (rc != 0)
            break;
    }
    return NULL;
}

int sim_fleet_seed_all(sim_cluster **c, size_t n, fl_err *err)
{
    pthread_t t[16];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cpus < 1 ? 1 : cpus > 16 ? 16 : (size_t)cpus, started = 0;
    seed_job j = {.c = c, .n = n};
    atomic_init(&j.next, 0);
    pthread_mutex_init(&j.mu, NULL);
    for (size_t i = 0; i < nt && i < n; i++)
        started += pthread_create(&t[started], NULL, seed_worker, &j) == 0;
    if (!started)
        seed_worker(&j);
    for (size_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.rc != 0 && err)
        *err = j.err;
    return j.rc;
}
