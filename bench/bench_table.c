/*
 * bench/bench_table.c: what the API-model documents cost, each printed
 * beside the raw baseline it chases, measured in the same run:
 *   Table of N pods (render + encode)   vs  encoding the same N pods as a list
 *   discovery /apis/apps/v1 (build+encode) vs encoding the finished document
 *   OpenAPI apps/v1 doc (build+hash)    vs  parsing its own encoded bytes
 *   OpenAPI index (all GVs)             vs  the same, once per GV doc (above x GVs)
 * Prints figures only; never pass/fail. `bench_table [pods]`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kube.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void report(const char *what, double ns, const char *base, double base_ns)
{
    printf("%-36s %12.1f us   | baseline %-30s %12.1f us  (x%.1f)\n", what, ns / 1e3, base,
           base_ns / 1e3, base_ns > 0 ? ns / base_ns : 0.0);
}

/* A realistic running pod with one restart (as golden api-0). */
static json_t *make_pod(long i)
{
    char name[64];
    snprintf(name, sizeof name, "web-%ld", i);
    json_t *p = json_pack(
        "{s:{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}, s:{s:[{s:s, s:s, s:{s:{s:s, s:s}}}],"
        " s:s}, s:{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:s, s:[{s:s}], s:[{s:s, s:{s:{s:s}},"
        " s:{s:{s:i, s:s}}, s:b, s:i}]}}",
        "metadata", "name", name, "namespace", "default", "uid",
        "91be27f7-9015-4db8-a3cc-70b552486a1b", "resourceVersion", "219", "creationTimestamp",
        "2026-11-22T03:46:03Z", "labels", "app", "web", "tier", "frontend", "spec", "containers",
        "name", "web", "image", "nginx:1.25.3", "resources", "requests", "cpu", "100m", "memory",
        "128Mi", "nodeName", "node-1", "status", "phase", "Running", "conditions", "type", "Ready",
        "status", "True", "type", "PodScheduled", "status", "True", "podIP", "10.244.1.5", "podIPs",
        "ip", "10.244.1.5", "containerStatuses", "name", "web", "state", "running", "startedAt",
        "2026-11-22T03:46:24Z", "lastState", "terminated", "exitCode", 137, "finishedAt",
        "2026-11-22T03:44:33Z", "ready", 1, "restartCount", 1);
    return p;
}

static void bench_table(const fl_kube_resources *reg, long n)
{
    const fl_kube_resource *pods = fl_kube_resources_find(reg, "", "v1", "pods");
    json_t **objs = calloc((size_t)n, sizeof *objs), *items = json_array();
    fl_kube_table_opts o = FL_KUBE_TABLE_OPTS_INIT;
    fl_buf b = FL_BUF_INIT(1u << 30);
    for (long i = 0; i < n; i++) {
        objs[i] = make_pod(i);
        json_array_append(items, objs[i]);
    }
    json_t *list = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", "PodList", "apiVersion", "v1",
                             "metadata", "resourceVersion", "300", "items", items);
    o.now = 1795334926;
    o.resource_version = "300";
    double t0 = now_ns();
    json_t *t = NULL;
    fl_kube_table_render(pods, objs, (size_t)n, &o, &t, NULL);
    double t1 = now_ns();
    fl_json_encode(t, false, &b);
    double t2 = now_ns();
    size_t table_bytes = b.len;
    fl_buf_reset(&b);
    double t3 = now_ns();
    fl_json_encode(list, false, &b);
    double t4 = now_ns();
    char *raw = json_dumps(list, JSON_COMPACT);
    double t5 = now_ns();
    free(raw);
    char what[64], base[64];
    snprintf(what, sizeof what, "Table render, %ld pods", n);
    snprintf(base, sizeof base, "fl_json_encode PodList (%zu KB)", b.len >> 10);
    report(what, t1 - t0, base, t4 - t3);
    printf("%-36s %12.2f us/row\n", "  per row", (t1 - t0) / 1e3 / (double)n);
    snprintf(what, sizeof what, "fl_json_encode Table (%zu KB)", table_bytes >> 10);
    report(what, t2 - t1, "json_dumps PodList (jansson)", t5 - t4);
    json_decref(t);
    json_decref(list);
    for (long i = 0; i < n; i++)
        json_decref(objs[i]);
    free(objs);
    fl_buf_done(&b);
}

static void bench_discovery(const fl_kube_resources *reg)
{
    const int iters = 2000;
    fl_buf b = FL_BUF_INIT(1u << 20);
    json_t *d = NULL;
    double t0 = now_ns();
    for (int i = 0; i < iters; i++) {
        fl_kube_discovery_resources(reg, "apps", "v1", NULL, NULL, &d);
        fl_buf_reset(&b);
        fl_json_encode(d, false, &b);
        json_decref(d);
    }
    double t1 = now_ns();
    fl_kube_discovery_resources(reg, "apps", "v1", NULL, NULL, &d);
    double t2 = now_ns();
    for (int i = 0; i < iters; i++) {
        fl_buf_reset(&b);
        fl_json_encode(d, false, &b);
    }
    double t3 = now_ns();
    json_decref(d);
    fl_buf_done(&b);
    report("discovery apis/apps/v1", (t1 - t0) / iters, "encode the built doc", (t3 - t2) / iters);
}

static void bench_openapi(const fl_kube_resources *reg)
{
    const int iters = 20;
    char h[129];
    fl_buf b = FL_BUF_INIT(64u << 20);
    json_t *d = NULL;
    double t0 = now_ns();
    for (int i = 0; i < iters; i++) {
        fl_kube_openapi_doc(reg, "apps", "v1", NULL, NULL, &d);
        fl_kube_openapi_hash(d, h);
        json_decref(d);
    }
    double t1 = now_ns();
    fl_kube_openapi_doc(reg, "apps", "v1", NULL, NULL, &d);
    fl_json_encode(d, false, &b);
    json_decref(d);
    double t2 = now_ns();
    for (int i = 0; i < iters; i++) {
        json_t *p = json_loadb(b.data, b.len, 0, NULL);
        json_decref(p);
    }
    double t3 = now_ns();
    char what[64];
    snprintf(what, sizeof what, "openapi apps/v1 build+hash (%zu KB)", b.len >> 10);
    report(what, (t1 - t0) / iters, "json_loadb of that doc", (t3 - t2) / iters);
    static const char *gvs[][2] = {{"", "v1"},
                                   {"apps", "v1"},
                                   {"batch", "v1"},
                                   {"admissionregistration.k8s.io", "v1"},
                                   {"apiextensions.k8s.io", "v1"},
                                   {"coordination.k8s.io", "v1"},
                                   {"events.k8s.io", "v1"}};
    t0 = now_ns();
    for (int i = 0; i < 5; i++) {
        fl_kube_openapi_index(reg, NULL, NULL, &d);
        json_decref(d);
    }
    t1 = now_ns();
    t2 = now_ns();
    for (int i = 0; i < 5; i++) {
        for (size_t g = 0; g < FL_ARRAY_LEN(gvs); g++) {
            fl_kube_openapi_doc(reg, gvs[g][0], gvs[g][1], NULL, NULL, &d);
            fl_kube_openapi_hash(d, h);
            json_decref(d);
        }
    }
    t3 = now_ns();
    report("openapi index (7 GVs)", (t1 - t0) / 5, "each GV doc built+hashed", (t3 - t2) / 5);
    fl_buf_done(&b);
}

int main(int argc, char **argv)
{
    int64_t n = 10000;
    fl_kube_resources *reg = NULL;
    if (argc > 1 && (fl_parse_i64(argv[1], strlen(argv[1]), &n) != 0 || n <= 0 || n > 1000000)) {
        fprintf(stderr, "usage: bench_table [pods (1..1000000)]\n");
        return 2;
    }
    if (fl_kube_resources_new(true, &reg) != 0)
        return 1;
    bench_table(reg, (long)n);
    bench_discovery(reg);
    bench_openapi(reg);
    fl_kube_resources_free(reg);
    return 0;
}
