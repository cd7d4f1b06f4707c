/*
 * cmd/capacity.c: `flotilla capacity [--by GROUP] [-o wide|json]` — fleet
 * capacity from the daemon's GET /api/v1/capacity (web/): one row per group
 * (cluster by default; region, zone, provider, namespace or
 * node-label:<key>) with node counts and requested / allocatable for CPU,
 * memory, pods and GPUs; -o wide adds limits, free and the largest free
 * slice on one node; -o json prints the daemon's document. Server and
 * credentials as `flotilla clusters`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "kube/kube.h"

#define DEFAULT_SERVER CMD_DEFAULT_SERVER
#define GPU "nvidia.com/gpu"

typedef struct qopts {
    cmd_conn_opts conn;
    const char *output, *by;
} qopts;

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: flotilla capacity [--by cluster|region|zone|provider|namespace|node-label:KEY]\n"
        "                         [-o wide|json] [--server URL] [--token T]\n"
        "                         [--kubeconfig FILE [--context C]] [--certificate-authority "
        "FILE]\n"
        "                         [--insecure-skip-tls-verify]\n\n"
        "Show the fleet's capacity from the daemon's index: per group, nodes (ready/total)\n"
        "and requested/allocatable CPU (cores), memory (GiB), pods and GPUs. -o wide adds\n"
        "limits, free and the largest free share of one schedulable node (the biggest pod\n"
        "that still fits). Server and credentials as for `flotilla clusters` (default %s).\n",
        DEFAULT_SERVER);
}

static int parse(int argc, char **argv, qopts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **slot = NULL;
        int k = cmd_conn_flag(&o->conn, argc, argv, &i, "flotilla capacity");
        if (k < 0)
            return 2;
        if (k)
            continue;
        if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            slot = &o->output;
        else if (!strcmp(a, "--by") || !strcmp(a, "--group-by"))
            slot = &o->by;
        else if (!strncmp(a, "--by=", 5))
            o->by = a + 5;
        else {
            fprintf(stderr, "flotilla capacity: unknown argument \"%s\"\n", a);
            return 2;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flotilla capacity: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        }
    }
    if (o->output && strcmp(o->output, "wide") && strcmp(o->output, "json")) {
        fprintf(stderr, "flotilla capacity: -o must be wide or json\n");
        return 2;
    }
    return 0;
}

static double val(const json_t *g, const char *res, const char *what)
{
    return json_number_value(
        json_object_get(json_object_get(json_object_get(g, "resources"), res), what));
}

static bool has(const json_t *g, const char *res)
{
    return json_object_get(json_object_get(g, "resources"), res) != NULL;
}

/* "req/alloc" in the resource's display unit (memory in GiB), "-" if absent. */
static void pair(const json_t *g, const char *res, const char *a, const char *b, char *out,
                 size_t n)
{
    double k = !strcmp(res, "memory") ? 1073741824.0 : 1.0;
    if (!has(g, res))
        snprintf(out, n, "-");
    else if (!b)
        snprintf(out, n, "%.4g", val(g, res, a) / k);
    else
        snprintf(out, n, "%.4g/%.4g", val(g, res, a) / k, val(g, res, b) / k);
}

static void print(const json_t *doc, bool wide)
{
    bool ns = !strcmp(fl_obj_str_or(doc, "groupBy", ""), "namespace");
    size_t i;
    const json_t *g;
    if (ns)
        printf("%-28s %-16s %-16s %-12s %s\n", "NAMESPACE", "CPU(REQ/LIM)", "MEM-GiB(REQ/LIM)",
               "PODS", "GPU(REQ)");
    else if (wide)
        printf("%-24s %-11s %-9s %-14s %-10s %-10s %-19s %-10s %-12s %-10s %s\n", "GROUP", "NODES",
               "CORDONED", "CPU(REQ/ALLOC)", "CPU-LIM", "CPU-FREE", "MEM-GiB(REQ/ALLOC)",
               "MEM-FREE", "PODS", "GPU", "LARGEST-FREE(CPU/MEM-GiB)");
    else
        printf("%-24s %-11s %-16s %-20s %-14s %s\n", "GROUP", "NODES", "CPU(REQ/ALLOC)",
               "MEM-GiB(REQ/ALLOC)", "PODS", "GPU");
    json_array_foreach(json_object_get(doc, "groups"), i, g) {
        char cpu[64], mem[64], pods[64], gpu[64], nodes[48];
        const char *name = fl_obj_str_or(g, "name", "-");
        if (ns) {
            pair(g, "cpu", "requested", "limits", cpu, sizeof cpu);
            pair(g, "memory", "requested", "limits", mem, sizeof mem);
            pair(g, "pods", "requested", NULL, pods, sizeof pods);
            pair(g, GPU, "requested", NULL, gpu, sizeof gpu);
            printf("%-28s %-16s %-16s %-12s %s\n", name, cpu, mem, pods, gpu);
            continue;
        }
        const json_t *nd = json_object_get(g, "nodes");
        snprintf(nodes, sizeof nodes, "%lld/%lld",
                 (long long)json_integer_value(json_object_get(nd, "ready")),
                 (long long)json_integer_value(json_object_get(nd, "total")));
        pair(g, "cpu", "requested", "allocatable", cpu, sizeof cpu);
        pair(g, "memory", "requested", "allocatable", mem, sizeof mem);
        pair(g, "pods", "requested", "allocatable", pods, sizeof pods);
        pair(g, GPU, "requested", "allocatable", gpu, sizeof gpu);
        if (!wide) {
            printf("%-24s %-11s %-16s %-20s %-14s %s\n", name, nodes, cpu, mem, pods, gpu);
            continue;
        }
        char lim[32], cfree[32], mfree[32], largest[64], lc[32], lm[32];
        pair(g, "cpu", "limits", NULL, lim, sizeof lim);
        pair(g, "cpu", "free", NULL, cfree, sizeof cfree);
        pair(g, "memory", "free", NULL, mfree, sizeof mfree);
        pair(g, "cpu", "largestFree", NULL, lc, sizeof lc);
        pair(g, "memory", "largestFree", NULL, lm, sizeof lm);
        snprintf(largest, sizeof largest, "%s/%s", lc, lm);
        printf("%-24s %-11s %-9lld %-14s %-10s %-10s %-19s %-10s %-12s %-10s %s\n", name, nodes,
               (long long)json_integer_value(json_object_get(nd, "cordoned")), cpu, lim, cfree, mem,
               mfree, pods, gpu, largest);
    }
}

int cmd_capacity(int argc, char **argv)
{
    qopts o = {0};
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    fl_buf path = FL_BUF_INIT(4096);
    json_t *doc = NULL;
    int rc = fl_buf_puts(&path, "/api/v1/capacity?groupBy=");
    if (!rc)
        rc = cmd_url_escape(&path, o.by ? o.by : "cluster");
    if (rc)
        fprintf(stderr, "flotilla capacity: --by is too long\n");
    else
        rc = cmd_daemon_get_json(&o.conn, "flotilla capacity", path.data, 30000, &doc);
    fl_buf_done(&path);
    if (rc)
        return 1;
    if (o.output && !strcmp(o.output, "json"))
        cmd_print_json(doc);
    else
        print(doc, o.output != NULL);
    json_decref(doc);
    return 0;
}
