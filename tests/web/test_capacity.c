/*
 * tests/web/test_capacity.c: fl_web_capacity on a hand-made index (web.h):
 * exact allocatable / requested / limits / free / largestFree, node states
 * (Ready, NotReady, cordoned), GPUs, terminal pods left out, every groupBy,
 * cluster scoping, the errors. Linked only against web/ (and what it uses).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/test.h"
#include "web/web.h"

static char dir[256];

static void node(fl_index *idx, const char *cluster, const char *name, const char *zone,
                 const char *cpu, const char *gpu, bool ready, bool cordoned)
{
    fl_index_src src = {cluster, "", "v1", "nodes", "Node"};
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\","
             "\"metadata\":{\"name\":\"%s\",\"uid\":\"u-%s-%s\",\"resourceVersion\":\"1\","
             "\"labels\":{\"topology.kubernetes.io/zone\":\"%s\",\"pool\":\"%s\"}},"
             "\"spec\":{\"unschedulable\":%s},\"status\":{\"allocatable\":{\"cpu\":\"%s\","
             "\"memory\":\"4Gi\",\"pods\":\"10\"%s%s%s},\"conditions\":[{\"type\":\"Ready\","
             "\"status\":\"%s\"}]}}}",
             name, cluster, name, zone, gpu ? "gpu" : "cpu", cordoned ? "true" : "false", cpu,
             gpu ? ",\"nvidia.com/gpu\":\"" : "", gpu ? gpu : "", gpu ? "\"" : "",
             ready ? "True" : "False");
    T_EQ_INT(fl_index_submit_event(idx, &src, buf, strlen(buf), NULL), 0);
}

static void pod(fl_index *idx, const char *cluster, const char *ns, const char *name,
                const char *node_, const char *cpu, const char *lim, const char *phase)
{
    fl_index_src src = {cluster, "", "v1", "pods", "Pod"};
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
             "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"uid\":\"p-%s-%s\","
             "\"resourceVersion\":\"1\"},\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":"
             "\"c\",\"resources\":{\"requests\":{\"cpu\":\"%s\"},\"limits\":{\"cpu\":\"%s\"}}}]},"
             "\"status\":{\"phase\":\"%s\"}}}",
             name, ns, cluster, name, node_, cpu, lim, phase);
    T_EQ_INT(fl_index_submit_event(idx, &src, buf, strlen(buf), NULL), 0);
}

static const json_t *group(const json_t *doc, const char *name)
{
    size_t i;
    const json_t *g;
    json_array_foreach(json_object_get(doc, "groups"), i, g) {
        if (!strcmp(json_string_value(json_object_get(g, "name")), name))
            return g;
    }
    return NULL;
}

static double val(const json_t *doc, const char *g, const char *res, const char *what)
{
    return json_number_value(
        json_object_get(json_object_get(json_object_get(group(doc, g), "resources"), res), what));
}

static json_int_t nodes(const json_t *doc, const char *g, const char *what)
{
    return json_integer_value(json_object_get(json_object_get(group(doc, g), "nodes"), what));
}

#define T_NEAR(a, b) T_CHECK((a) >= (b)-1e-6 && (a) <= (b) + 1e-6)

/* A user who may see the namespace "team" in any cluster, and no nodes. */
static bool only_team(void *ud, const char *cluster, const char *ns)
{
    return !strcmp(ns, "team");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fl-test-web-XXXXXX");
    T_CHECK(mkdtemp(dir) != NULL);
    char path[300];
    snprintf(path, sizeof path, "%s/idx.db", dir);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    fl_index *idx = NULL;
    T_EQ_INT(fl_index_open(&o, &idx, NULL), 0);
    /* east: a (4 cpu, ready), b (2 cpu, cordoned), c (8 cpu, 2 GPUs, NotReady);
     * west: w (16 cpu, no zone label) */
    node(idx, "east", "a", "e-1", "4", NULL, true, false);
    node(idx, "east", "b", "e-2", "2", NULL, true, true);
    node(idx, "east", "c", "e-1", "8", "2", false, false);
    node(idx, "west", "w", "", "16", NULL, true, false);
    pod(idx, "east", "team", "p1", "a", "1500m", "2", "Running");
    pod(idx, "east", "team", "p2", "b", "500m", "1", "Running");
    pod(idx, "east", "team", "done", "a", "2", "2", "Succeeded"); /* terminal: not counted */
    pod(idx, "west", "ops", "p3", "w", "3", "4", "Running");
    pod(idx, "east", "team", "pending", "", "1", "1", "Pending"); /* unscheduled */
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    fl_index_reader *rd = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &rd, NULL), 0);
    const char *keys[] = {"provider", "region"}, *east_v[] = {"aws", "eu"},
               *west_v[] = {"gcp", "us"};
    fl_web_member mem[] = {{"east", keys, east_v, 2}, {"west", keys, west_v, 2}};
    json_t *doc = NULL;

    T_EQ_INT(fl_web_capacity(rd, mem, 2, NULL, NULL, &doc, NULL), 0);
    T_EQ_STR(json_string_value(json_object_get(doc, "groupBy")), "cluster");
    T_EQ_INT(json_array_size(json_object_get(doc, "groups")), 2);
    T_NEAR(val(doc, "east", "cpu", "allocatable"), 14);
    T_NEAR(val(doc, "east", "cpu", "requested"), 2);
    T_NEAR(val(doc, "east", "cpu", "limits"), 3);
    T_NEAR(val(doc, "east", "cpu", "free"), 12);
    T_NEAR(val(doc, "east", "cpu", "largestFree"), 2.5); /* a: 4 - 1.5; b cordoned, c NotReady */
    T_NEAR(val(doc, "east", "nvidia.com/gpu", "allocatable"), 2);
    T_NEAR(val(doc, "east", "nvidia.com/gpu", "largestFree"), 0);
    T_NEAR(val(doc, "east", "memory", "allocatable"), 3.0 * 4 * 1073741824);
    T_NEAR(val(doc, "east", "pods", "requested"), 2);
    T_NEAR(val(doc, "east", "pods", "allocatable"), 30);
    T_EQ_INT(nodes(doc, "east", "total"), 3);
    T_EQ_INT(nodes(doc, "east", "ready"), 2);
    T_EQ_INT(nodes(doc, "east", "notReady"), 1);
    T_EQ_INT(nodes(doc, "east", "cordoned"), 1);
    T_NEAR(val(doc, "west", "cpu", "largestFree"), 13);
    json_decref(doc);

    T_EQ_INT(fl_web_capacity(rd, mem, 2, "provider", NULL, &doc, NULL), 0);
    T_NEAR(val(doc, "aws", "cpu", "allocatable"), 14);
    T_NEAR(val(doc, "gcp", "cpu", "requested"), 3);
    json_decref(doc);

    /* zone: node labels; a node without one falls back to the member's, else <none> */
    T_EQ_INT(fl_web_capacity(rd, mem, 2, "zone", NULL, &doc, NULL), 0);
    T_NEAR(val(doc, "e-1", "cpu", "allocatable"), 12);
    T_NEAR(val(doc, "e-2", "cpu", "requested"), 0.5);
    T_NEAR(val(doc, "<none>", "cpu", "allocatable"), 16);
    json_decref(doc);

    T_EQ_INT(fl_web_capacity(rd, mem, 2, "node-label:pool", NULL, &doc, NULL), 0);
    T_NEAR(val(doc, "gpu", "cpu", "allocatable"), 8);
    T_NEAR(val(doc, "cpu", "cpu", "allocatable"), 22);
    json_decref(doc);

    T_EQ_INT(fl_web_capacity(rd, mem, 2, "namespace", NULL, &doc, NULL), 0);
    T_NEAR(val(doc, "team", "cpu", "requested"), 3); /* p1 + p2 + the pending pod */
    T_NEAR(val(doc, "ops", "cpu", "limits"), 4);
    T_CHECK(json_object_get(group(doc, "team"), "nodes") == NULL);
    json_decref(doc);

    /* scoping: only west */
    json_t *allowed = json_pack("[{ss}]", "name", "west");
    T_EQ_INT(
        fl_web_capacity(rd, mem, 2, "cluster", &(fl_web_scope){allowed, NULL, NULL}, &doc, NULL),
        0);
    T_EQ_INT(json_array_size(json_object_get(doc, "groups")), 1);
    T_CHECK(group(doc, "west") != NULL);
    json_decref(doc);
    json_decref(allowed);

    /* scoping to one namespace: its requests, no node capacity anywhere */
    fl_web_scope team_only = {NULL, only_team, NULL};
    T_EQ_INT(fl_web_capacity(rd, mem, 2, "namespace", &team_only, &doc, NULL), 0);
    T_EQ_INT(json_array_size(json_object_get(doc, "groups")), 1);
    T_NEAR(val(doc, "team", "cpu", "requested"), 3);
    T_CHECK(group(doc, "ops") == NULL);
    json_decref(doc);
    T_EQ_INT(fl_web_capacity(rd, mem, 2, "cluster", &team_only, &doc, NULL), 0);
    T_EQ_INT(json_array_size(json_object_get(doc, "groups")), 0);
    json_decref(doc);
    T_EQ_INT(fl_web_capacity(rd, mem, 2, "node-label:pool", &team_only, &doc, NULL), 0);
    T_EQ_INT(json_array_size(json_object_get(doc, "groups")), 0);
    json_decref(doc);

    fl_err err = FL_ERR_INIT;
    doc = NULL;
    T_EQ_INT(fl_web_capacity(rd, mem, 2, "colour", NULL, &doc, &err), -EINVAL);
    T_CHECK(strstr(err.msg, "groupBy") != NULL);
    T_CHECK(doc == NULL);
    T_EQ_INT(fl_web_capacity(rd, mem, 2, "node-label:", NULL, &doc, NULL), -EINVAL);

    fl_index_reader_free(rd);
    fl_index_close(idx);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0);
    return t_done();
}
