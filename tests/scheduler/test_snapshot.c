/*
 * tests/scheduler/test_snapshot.c: available replicas from a real index.
 * Nodes and pods go through the whole index path (decode, materialized node
 * and pod columns); the snapshot then answers per pod spec: readiness,
 * taints and tolerations, node selectors, terminal pods, pod slots, a
 * resource no node has, the shape cache, and a snapshot without labels.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "scheduler/scheduler.h"
#include "tests/test.h"

static char dir[] = "/tmp/fl-sched-XXXXXX";

static void ev(fl_index *idx, const char *cluster, const char *res, const char *kind,
               const char *obj)
{
    fl_index_src src = {cluster, "", "v1", res, kind};
    char buf[4096];
    snprintf(buf, sizeof buf, "{\"type\":\"ADDED\",\"object\":%s}", obj);
    T_EQ_INT(fl_index_submit_event(idx, &src, buf, strlen(buf), NULL), 0);
}

static void node(fl_index *idx, const char *cluster, const char *name, const char *cpu,
                 const char *pods, const char *labels, const char *taints, bool ready)
{
    char o[2048];
    static int uid;
    int id = ++uid;
    snprintf(
        o, sizeof o,
        "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\",\"uid\":\"n%d\","
        "\"resourceVersion\":\"%d\",\"labels\":%s},\"spec\":{\"taints\":%s},\"status\":{"
        "\"allocatable\":{\"cpu\":\"%s\",\"memory\":\"8Gi\",\"pods\":\"%s\"},"
        "\"capacity\":{\"cpu\":\"%s\",\"memory\":\"8Gi\",\"pods\":\"%s\"},"
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
        name, id, 10 + id, labels, taints, cpu, pods, cpu, pods, ready ? "True" : "False");
    ev(idx, cluster, "nodes", "Node", o);
}

static void pod(fl_index *idx, const char *cluster, const char *name, const char *node_name,
                const char *cpu, const char *phase)
{
    char o[2048];
    static int uid;
    int id = ++uid;
    snprintf(
        o, sizeof o,
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
        "\"default\",\"uid\":\"p%d\",\"resourceVersion\":\"%d\"},\"spec\":{\"nodeName\":\"%s\","
        "\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":"
        "\"%s\"}}}]},\"status\":{\"phase\":\"%s\"}}",
        name, id, 100 + id, node_name, cpu, phase);
    ev(idx, cluster, "pods", "Pod", o);
}

static int64_t avail(fl_sched_snapshot *s, const char *cluster, const char *spec_json)
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    int64_t v = -1;
    fl_err err = FL_ERR_INIT;
    int rc = fl_sched_snapshot_available(s, cluster, spec, &v, &err);
    json_decref(spec);
    return rc ? rc : v;
}

#define CPU500 "{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"500m\"}}}]"

int main(void)
{
    T_CHECK(mkdtemp(dir) != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    o.cache_kib = 4096;
    fl_index *idx = NULL;
    T_EQ_INT(fl_index_open(&o, &idx, NULL), 0);
    node(idx, "east", "n1", "4", "10", "{\"disk\":\"ssd\"}", "[]", true);
    node(idx, "east", "n2", "8", "110", "{}",
         "[{\"key\":\"dedicated\",\"value\":\"gpu\",\"effect\":\"NoSchedule\"}]", true);
    node(idx, "east", "n3", "100", "110", "{\"disk\":\"ssd\"}", "[]", false);
    node(idx, "west", "w1", "2", "110", "{}", "[]", true);
    /* labels after an annotation that looks like labels, escapes, a list before them */
    node(idx, "south", "s1", "2", "110",
         "{\"topology.kubernetes.io/zone\":\"s-1\",\"disk\":\"nvme\"},\"annotations\":{"
         "\"note\":\"<labels>{\\\"disk\\\":\\\"hdd\\\"} \\u00e9\"},\"finalizers\":[\"a\",[1,{}]]",
         "[]", true);
    pod(idx, "east", "p1", "n1", "1", "Running");
    pod(idx, "east", "p2", "n1", "1", "Succeeded");
    T_EQ_INT(fl_index_flush(idx, 5000), 0);

    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    fl_sched_snapshot *s = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_sched_snapshot_load(r, NULL, &s, &err), 0);
    fl_sched_snapshot_stats st;
    fl_sched_snapshot_stats_get(s, &st);
    T_EQ_INT(st.nodes, 5);
    T_EQ_INT(st.clusters, 3);

    T_EQ_INT(avail(s, "east", CPU500 "}"), 6); /* n1: 3 cpu free; n2 tainted; n3 not ready */
    T_EQ_INT(avail(s, "west", CPU500 "}"), 4);
    T_EQ_INT(avail(s, "east",
                   CPU500 ",\"tolerations\":[{\"key\":\"dedicated\",\"operator\":"
                          "\"Exists\"}]}"),
             22);
    T_EQ_INT(avail(s, "east", CPU500 ",\"nodeSelector\":{\"disk\":\"ssd\"}}"), 6);
    T_EQ_INT(avail(s, "west", CPU500 ",\"nodeSelector\":{\"disk\":\"ssd\"}}"), 0);
    T_EQ_INT(avail(s, "east",
                   "{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{"
                   "\"nvidia.com/gpu\":\"1\"}}}]}"),
             0);
    T_EQ_INT(avail(s, "east", "{\"containers\":[{\"name\":\"c\"}]}"), 9); /* pod slots only */
    T_EQ_INT(avail(s, "west", "{\"containers\":[{\"name\":\"c\"}]}"), 110);
    T_EQ_INT(avail(s, "nowhere", CPU500 "}"), 0);
    T_EQ_INT(avail(s, "south", CPU500 ",\"nodeSelector\":{\"disk\":\"nvme\"}}"), 4);
    T_EQ_INT(avail(s, "south", CPU500 ",\"nodeSelector\":{\"disk\":\"hdd\"}}"), 0);
    T_EQ_INT(avail(s, "south",
                   CPU500 ",\"nodeSelector\":{\"topology.kubernetes.io/zone\":"
                          "\"s-1\"}}"),
             4);
    T_EQ_INT(avail(s, "east",
                   "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringScheduling"
                   "IgnoredDuringExecution\":{\"nodeSelectorTerms\":[{\"matchExpressions"
                   "\":[{\"key\":\"disk\",\"operator\":\"NotIn\",\"values\":[\"ssd\"]}]}]"
                   "}}},\"containers\":[{\"name\":\"c\"}]}"),
             0);
    fl_sched_snapshot_stats_get(s, &st);
    T_CHECK(st.hits >= 3); /* west after east, same shapes */
    fl_sched_snapshot_free(s);

    fl_sched_snapshot_opts no_labels = {false};
    T_EQ_INT(fl_sched_snapshot_load(r, &no_labels, &s, &err), 0);
    T_EQ_INT(avail(s, "east", CPU500 "}"), 6);
    T_EQ_INT(avail(s, "east", CPU500 ",\"nodeSelector\":{\"disk\":\"ssd\"}}"), -EINVAL);
    fl_sched_snapshot_free(s);
    fl_sched_snapshot_free(NULL);

    fl_index_reader_free(r);
    fl_index_close(idx);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_EQ_INT(system(cmd), 0);
    return t_done();
}
