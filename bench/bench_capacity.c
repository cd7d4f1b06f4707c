/*
 * bench/bench_capacity.c: fl_web_capacity (GET /api/v1/capacity) on a
 * made-up fleet, beside the raw SQLite aggregate over the same
 * materialized tables in the same run (the target: < 100 ms at 100
 * clusters x 5,000 nodes). Prints figures; never pass/fail.
 * Usage: bench_capacity [CLUSTERS [NODES_PER_CLUSTER [PODS_PER_NODE]]]
 * (default 20 x 1000 x 4: the full 100 x 5000 takes long to ingest), or
 * bench_capacity --db PATH: an index built before (bench_place keeps one
 * at 100 x 5000), opened in place; the first open builds its capacity
 * totals, and that time is printed too. Nodes carry seven labels, as real
 * ones carry several (hostname, os, arch, instance type, pool, region,
 * zone; every tenth one gpu), since the totals per node label cost the
 * writer per label; the ingest's process CPU time is printed beside its
 * wall time.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "web/web.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void submit(fl_index *idx, const fl_index_src *src, fl_buf *page)
{
    fl_buf_puts(page, "]}");
    while (fl_index_submit_list(idx, src, page->data, page->len, NULL) == FL_EFULL)
        usleep(2000);
    fl_buf_reset(page);
}

static void fill(fl_index *idx, int clusters, int nodes, int pods)
{
    fl_buf page = FL_BUF_INIT(64u << 20);
    for (int c = 0; c < clusters; c++) {
        char cl[32];
        snprintf(cl, sizeof cl, "c%03d", c);
        fl_index_src ns = {cl, "", "v1", "nodes", "Node"}, ps = {cl, "", "v1", "pods", "Pod"};
        for (int n = 0; n < nodes; n++) {
            fl_buf_printf(
                &page,
                "%s{\"metadata\":{\"name\":\"n%05d\",\"uid\":\"%s-n%d\","
                "\"resourceVersion\":\"1\",\"labels\":{\"topology.kubernetes.io/region\":"
                "\"r%d\",\"topology.kubernetes.io/zone\":\"z%d\","
                "\"kubernetes.io/hostname\":\"n%05d\",\"kubernetes.io/os\":\"linux\","
                "\"kubernetes.io/arch\":\"amd64\","
                "\"node.kubernetes.io/instance-type\":\"m5.%dxlarge\",\"pool\":\"p%d\"%s}},"
                "\"spec\":{},"
                "\"status\":{\"allocatable\":{\"cpu\":\"16\",\"memory\":\"64Gi\","
                "\"pods\":\"110\"},\"conditions\":[{\"type\":\"Ready\",\"status\":"
                "\"True\"}]}}",
                page.len ? "," : "{\"kind\":\"NodeList\",\"metadata\":{},\"items\":[", n, cl, n,
                c % 4, c % 12, n, 2 << (n % 3), n % 5, n % 10 ? "" : ",\"gpu\":\"a100\"");
            if ((n + 1) % 500 == 0 || n + 1 == nodes)
                submit(idx, &ns, &page);
        }
        for (int p = 0; p < nodes * pods; p++) {
            fl_buf_printf(&page,
                          "%s{\"metadata\":{\"name\":\"p%07d\",\"namespace\":\"ns%d\","
                          "\"uid\":\"%s-p%d\",\"resourceVersion\":\"1\"},\"spec\":{\"nodeName\":"
                          "\"n%05d\",\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":"
                          "{\"cpu\":\"250m\",\"memory\":\"1Gi\"}}}]},\"status\":{\"phase\":"
                          "\"Running\"}}",
                          page.len ? "," : "{\"kind\":\"PodList\",\"metadata\":{},\"items\":[", p,
                          p % 50, cl, p, p % nodes);
            if ((p + 1) % 500 == 0 || p + 1 == nodes * pods)
                submit(idx, &ps, &page);
        }
    }
    fl_buf_done(&page);
    fl_index_flush(idx, 3600000);
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double raw(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    double t0 = now_ms();
    static const char *const sql[] = {
        "SELECT n.cluster_id, r.resource, sum(r.allocatable) FROM nodes n JOIN node_resources r"
        " ON r.obj_id = n.obj_id GROUP BY n.cluster_id, r.resource",
        "SELECT p.cluster_id, x.resource, sum(x.requests), sum(x.limits) FROM pods p JOIN"
        " pod_resources x ON x.obj_id = p.obj_id WHERE p.terminal = 0 AND p.node != ''"
        " GROUP BY p.cluster_id, x.resource"};
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    for (size_t i = 0; i < 2; i++) {
        sqlite3_prepare_v2(db, sql[i], -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    bool existing = argc > 2 && !strcmp(argv[1], "--db");
    int clusters = argc > 1 && !existing ? atoi(argv[1]) : 20,
        nodes = argc > 2 && !existing ? atoi(argv[2]) : 1000,
        pods = argc > 3 && !existing ? atoi(argv[3]) : 4;
    char dir[] = "/tmp/fl-bench-capacity-XXXXXX", path[4096], load[64];
    if (existing)
        snprintf(path, sizeof path, "%s", argv[2]);
    else if (!mkdtemp(dir))
        return 1;
    else
        snprintf(path, sizeof path, "%s/idx.db", dir);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    double t0 = now_ms();
    if (fl_index_open(&o, &idx, &err) != 0) {
        fprintf(stderr, "bench_capacity: %s\n", err.msg);
        return 1;
    }
    if (existing)
        printf("index %s: opened in %.1f s (building the capacity totals if missing)\n", path,
               (now_ms() - t0) / 1e3);
    else {
        t0 = now_ms();
        double c0 = cpu_s();
        fill(idx, clusters, nodes, pods);
        double cpu = cpu_s() - c0;
        printf("fleet: %d clusters x %d nodes, %d pods/node; ingest %.1f s wall, %.2f s CPU"
               " (%.0f us/object)\n",
               clusters, nodes, pods, (now_ms() - t0) / 1e3, cpu,
               cpu * 1e6 / ((double)clusters * nodes * (1 + pods)));
    }
    fl_index_reader *rd = NULL;
    fl_index_reader_new(idx, &rd, NULL);
    /* node-label:gpu: a key only every tenth node of the made-up fleet
     * carries (the others are the group <none>); node-label:absent: none */
    static const char *const by[] = {"cluster",
                                     "region",
                                     "zone",
                                     "namespace",
                                     "node-label:topology.kubernetes.io/zone",
                                     "node-label:pool",
                                     "node-label:gpu",
                                     "node-label:absent"};
    for (size_t i = 0; i < sizeof by / sizeof by[0]; i++) {
        double best = 1e18;
        for (int run = 0; run < 3; run++) {
            json_t *doc = NULL;
            double t = now_ms();
            if (fl_web_capacity(rd, NULL, 0, by[i], NULL, &doc, NULL) != 0)
                return 1;
            t = now_ms() - t;
            best = t < best ? t : best;
            json_decref(doc);
        }
        printf("fl_web_capacity groupBy=%-40s best of 3: %8.1f ms\n", by[i], best);
    }
    double r = 1e18;
    for (int run = 0; run < 3; run++) {
        double t = raw(path);
        r = t < r ? t : r;
    }
    printf("raw SQLite aggregate (nodes + pod usage per cluster)  best of 3: %8.1f ms\n", r);
    bench_loadavg(load, sizeof load);
    printf("load average: %s\n", load);
    fl_index_reader_free(rd);
    fl_index_close(idx);
    if (existing)
        return 0;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
