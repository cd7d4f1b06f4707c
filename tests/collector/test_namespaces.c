/*
 * tests/collector/test_namespaces.c: sync.namespaces include/exclude
 * against a fake member (tests/collector/fake_apiserver.py). Three
 * collectors watch the same member under different cluster names into one
 * index: "multi" includes two namespaces (filtered at sync time: lists and
 * watches are cluster-wide, objects outside the set never reach the
 * index), "mixed" includes three and excludes one of them (exclude wins),
 * "single" includes one (the namespace path). Creates, updates and deletes
 * inside and outside the sets follow; the namespaces resource is filtered
 * by name; apps/v1 "*" expands through discovery.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/collector/fake.h"
#include "tests/test.h"

static char tmpdir[128];

static fl_collector *start(fl_index *idx, const char *name, const char *kc, const char *const *incl,
                           size_t nincl, const char *const *excl, size_t nexcl)
{
    static const char *const core[] = {"pods", "namespaces", "nodes"};
    static const char *const star[] = {"*"};
    fl_collector_gv gvs[] = {{"", "v1", core, 3}, {"apps", "v1", star, 1}};
    fl_collector_member mem[] = {{name, kc, NULL}};
    fl_collector_opts co = FL_COLLECTOR_OPTS_INIT;
    fl_err err = FL_ERR_INIT;
    fl_collector *c = NULL;
    co.index = idx;
    co.members = mem;
    co.nmembers = 1;
    co.resources = gvs;
    co.nresources = 2;
    co.ns_include = incl;
    co.nns_include = nincl;
    co.ns_exclude = excl;
    co.nns_exclude = nexcl;
    co.page_size = 2; /* several pages, each filtered */
    co.health_interval_ms = 200;
    co.discovery_interval_ms = 1000;
    co.backoff_max_ms = 800;
    T_EQ_INT(fl_collector_new(&co, &c, &err), 0);
    if (c)
        T_EQ_INT(fl_collector_start(c, &err), 0);
    return c;
}

static void upsert(const fake *f, const char *res, const char *ns, const char *name)
{
    char body[200];
    snprintf(body, sizeof body, "{\"resource\":\"%s\",\"namespace\":\"%s\",\"name\":\"%s\"}", res,
             ns, name);
    control(f, "upsert", body);
}

static void run(void)
{
    fake f = {0};
    const char *args[] = {"--pods", "4", "--apps",
                          NULL}; /* default/pod-0..3, kube-system/coredns */
    T_EQ_INT(spawn_fake(&f, args), 0);
    upsert(&f, "namespaces", "", "team-b");
    upsert(&f, "pods", "team-a", "a1");
    upsert(&f, "pods", "team-a", "a2");
    upsert(&f, "pods", "team-b", "b1");
    upsert(&f, "pods", "team-b", "b2");
    upsert(&f, "pods", "team-b", "b3");
    upsert(&f, "nodes", "", "n1");
    char kc[256], db[256];
    write_kubeconfig(tmpdir, "member", f.port, NULL, kc, sizeof kc);
    snprintf(db, sizeof db, "%s/index.db", tmpdir);
    fl_index *idx = NULL;
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    io.path = db;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&io, &idx, &err), 0);
    if (!idx)
        goto out;
    const char *two[] = {"team-a", "team-b"};
    const char *three[] = {"team-a", "kube-system", "team-b"};
    const char *ks[] = {"kube-system"};
    const char *one[] = {"team-b"};
    fl_collector *multi = start(idx, "multi", kc, two, 2, NULL, 0);
    fl_collector *mixed = start(idx, "mixed", kc, three, 3, ks, 1);
    fl_collector *single = start(idx, "single", kc, one, 1, NULL, 0);

    /* initial lists */
    T_CHECK(wait_count(idx, "multi", "pods", 5, 10000) >= 0);
    T_CHECK(wait_count(idx, "mixed", "pods", 5, 5000) >= 0);
    T_CHECK(wait_count(idx, "single", "pods", 3, 5000) >= 0);
    T_CHECK(wait_count(idx, "multi", "namespaces", 2, 5000) >= 0);
    T_CHECK(wait_count(idx, "mixed", "namespaces", 2, 5000) >= 0);
    T_CHECK(wait_count(idx, "single", "namespaces", 1, 5000) >= 0);
    T_CHECK(wait_count(idx, "multi", "nodes", 1, 5000) >= 0); /* cluster-scoped: not filtered */
    T_CHECK(wait_status(multi, "multi", "pods", "phase", "Watching", 5000));
    T_CHECK(wait_status(mixed, "mixed", "pods", "phase", "Watching", 5000));
    T_CHECK(status_int(multi, "multi", "pods", "filtered") >= 4); /* the default pods, coredns */
    /* apps/v1 "*" expanded through discovery; core configmaps were not asked for */
    T_CHECK(wait_status(multi, "multi", "deployments", "phase", "Watching", 5000));
    json_t *st0 = fl_collector_status(multi);
    T_CHECK(find_res(st0, "multi", "configmaps") == NULL);
    json_decref(st0);
    char rv[64];
    obj_rv(idx, "multi", "pods", "default", "pod-0", rv);
    T_EQ_STR(rv, "");
    obj_rv(idx, "multi", "pods", "team-b", "b2", rv);
    T_CHECK(rv[0] != 0);

    /* watches: outside the set nothing happens, inside it follows */
    upsert(&f, "pods", "default", "outside");
    upsert(&f, "pods", "kube-system", "outside");
    upsert(&f, "pods", "team-a", "a3");
    T_CHECK(wait_count(idx, "multi", "pods", 6, 2000) >= 0);
    T_CHECK(wait_count(idx, "mixed", "pods", 6, 2000) >= 0);
    T_CHECK(wait_count(idx, "single", "pods", 3, 100) >= 0);
    obj_rv(idx, "multi", "pods", "default", "outside", rv);
    T_EQ_STR(rv, "");
    obj_rv(idx, "mixed", "pods", "kube-system", "outside", rv);
    T_EQ_STR(rv, "");
    control(&f, "delete", "{\"resource\":\"pods\",\"namespace\":\"team-b\",\"name\":\"b1\"}");
    T_CHECK(wait_count(idx, "multi", "pods", 5, 2000) >= 0);
    T_CHECK(wait_count(idx, "single", "pods", 2, 2000) >= 0);
    upsert(&f, "namespaces", "", "team-c");
    upsert(&f, "namespaces", "", "team-a"); /* MODIFIED, inside */
    fl_index_flush(idx, 1000);
    T_CHECK(wait_count(idx, "multi", "namespaces", 2, 100) >= 0);

    /* 410: the relist (filtered pages) deletes what vanished inside the set */
    control(&f, "drop", "{}");
    control(&f, "vanish", "{\"resource\":\"pods\",\"namespace\":\"team-a\",\"name\":\"a1\"}");
    upsert(&f, "pods", "default", "moves-rv");
    control(&f, "compact", "{}");
    T_CHECK(wait_count(idx, "multi", "pods", 4, 8000) >= 0);
    T_CHECK(wait_count(idx, "mixed", "pods", 4, 8000) >= 0);
    T_CHECK(wait_status(multi, "multi", "pods", "phase", "Watching", 5000));
    T_EQ_INT(status_int(multi, "multi", "pods", "relists"), 2);
    json_t *st = fl_collector_status(multi);
    T_EQ_STR(fl_obj_str(find_res(st, "multi", "pods"), "lastError"), "");
    json_decref(st);

    fl_collector_free(multi);
    fl_collector_free(mixed);
    fl_collector_free(single);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    fl_index_close(idx);
out:
    kill_fake(&f);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (getenv("FLOTILLA_LOG") == NULL)
        fl_log_set_level(FL_LOG_WARN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fl-test-ns-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    run();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done();
}
