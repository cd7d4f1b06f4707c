/*
 * tests/query/test_owner.c: owner search (query/owner.c) against a real
 * index: Deployment -> ReplicaSet -> Pods in two clusters whose objects
 * share names AND uids (so pairing uids with their cluster is what keeps
 * one cluster's owner from adopting the other's objects); by uid with
 * seniority 0/1, by name with seniority 0/1/2, narrowed by owner-gr and
 * by namespaces (plus cluster-scoped owners), the single-uid hint for the
 * index, and "no owner" matching nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/query_int.h"
#include "tests/test.h"

static void put(fl_index *idx, const char *cluster, const char *group, const char *res,
                const char *kind, const char *ns, const char *name, const char *uid,
                const char *owner)
{
    char ev[1024], refs[300] = "";
    fl_index_src src = {cluster, group, "v1", res, kind};
    if (owner)
        snprintf(refs, sizeof refs,
                 ",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"X\","
                 "\"name\":\"o\",\"uid\":\"%s\",\"controller\":true}]",
                 owner);
    snprintf(ev, sizeof ev,
             "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"%s\","
             "%s%s%s\"uid\":\"%s\",\"resourceVersion\":\"1\"%s}}}",
             name, ns ? "\"namespace\":\"" : "", ns ? ns : "", ns ? "\"," : "", uid, refs);
    T_EQ_INT(fl_index_submit_event(idx, &src, ev, strlen(ev), NULL), 0);
}

static void fill(fl_index *idx)
{
    const char *cl[] = {"c-1", "c-2"};
    for (int i = 0; i < 2; i++) {
        put(idx, cl[i], "apps", "deployments", "Deployment", "ns", "web", "dep-web", NULL);
        put(idx, cl[i], "apps", "replicasets", "ReplicaSet", "ns", "web-1", "rs-web-1", "dep-web");
        put(idx, cl[i], "", "pods", "Pod", "ns", "web-1-a", i ? "pod-2a" : "pod-1a", "rs-web-1");
        put(idx, cl[i], "", "pods", "Pod", "ns", "web-1-b", i ? "pod-2b" : "pod-1b", "rs-web-1");
        /* same name, other namespace and type */
        put(idx, cl[i], "", "configmaps", "ConfigMap", "other", "web", i ? "cm-2" : "cm-1", NULL);
    }
    /* only in c-2: a pod owned by the configmap "web" in namespace other */
    put(idx, "c-2", "", "pods", "Pod", "other", "odd", "pod-odd", "cm-2");
    /* a cluster-scoped owner named web */
    put(idx, "c-1", "", "nodes", "Node", NULL, "web", "node-web", NULL);
    put(idx, "c-1", "", "pods", "Pod", "ns", "on-node", "pod-node", "node-web");
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
}

static int resolve(fl_query *q, fl_index_reader *rd, query_owner *o, const char *cluster,
                   const char *ns)
{
    fl_err e = FL_ERR_INIT;
    return query_owner_resolve(q, NULL, o, cluster ? &cluster : NULL, cluster ? 1 : 0,
                               ns ? &ns : NULL, ns ? 1 : 0, rd, &e);
}

static bool owns(const query_owner *o, const char *cluster, const char *owner_uid)
{
    fl_index_row r;
    memset(&r, 0, sizeof r);
    r.cluster = cluster;
    r.owner_uid = owner_uid;
    return query_owner_match(o, &r);
}

static void test_uid(fl_query *q, fl_index_reader *rd)
{
    query_owner o = {"dep-web", NULL, NULL, 0, NULL, NULL, 0, false};
    T_EQ_INT(resolve(q, rd, &o, NULL, NULL), 0);
    T_CHECK(!o.resolved); /* seniority 0: the index filters on the uid itself */
    T_EQ_STR(query_owner_index_uid(&o), "dep-web");
    T_CHECK(owns(&o, "c-1", "dep-web") && !owns(&o, "c-1", "rs-web-1"));
    o.seniority = 1;
    T_EQ_INT(resolve(q, rd, &o, "c-2", NULL), 0);
    T_CHECK(o.resolved);
    T_EQ_INT((int)o.n, 1);
    T_CHECK(owns(&o, "c-2", "rs-web-1"));
    T_CHECK(!owns(&o, "c-1", "rs-web-1")); /* same uid, other cluster */
    T_EQ_STR(query_owner_index_uid(&o), "rs-web-1");
    query_owner_done(&o);
}

static void test_name(fl_query *q, fl_index_reader *rd)
{
    /* seniority 0: children of every object named web (any type, any ns) */
    query_owner o = {NULL, "web", NULL, 0, NULL, NULL, 0, false};
    T_CHECK(!owns(&o, "c-1", "dep-web")); /* unresolved name: nothing */
    T_EQ_INT(resolve(q, rd, &o, NULL, NULL), 0);
    T_CHECK(owns(&o, "c-1", "dep-web") && owns(&o, "c-2", "dep-web"));
    T_CHECK(owns(&o, "c-2", "cm-2") && owns(&o, "c-1", "node-web"));
    T_CHECK(!owns(&o, "c-1", "rs-web-1"));
    T_CHECK(query_owner_index_uid(&o) == NULL);
    query_owner_done(&o);
    /* owner-gr narrows the type */
    query_owner g = {NULL, "web", "deployments.apps", 1, NULL, NULL, 0, false};
    T_EQ_INT(resolve(q, rd, &g, NULL, NULL), 0);
    T_CHECK(owns(&g, "c-1", "rs-web-1") && owns(&g, "c-2", "rs-web-1"));
    T_CHECK(!owns(&g, "c-2", "cm-2"));
    query_owner_done(&g);
    query_owner p = {NULL, "web", "configmaps", 0, NULL, NULL, 0, false};
    T_EQ_INT(resolve(q, rd, &p, "c-2", NULL), 0);
    T_EQ_INT((int)p.n, 1);
    T_CHECK(owns(&p, "c-2", "cm-2") && !owns(&p, "c-1", "cm-1"));
    query_owner_done(&p);
    /* namespaces: those plus cluster-scoped owners */
    query_owner n = {NULL, "web", NULL, 0, NULL, NULL, 0, false};
    T_EQ_INT(resolve(q, rd, &n, "c-1", "ns"), 0);
    T_CHECK(owns(&n, "c-1", "dep-web") && owns(&n, "c-1", "node-web"));
    T_CHECK(!owns(&n, "c-1", "cm-1"));
    query_owner_done(&n);
    /* seniority 2: Deployment -> ReplicaSet -> Pods: the pods' uids */
    query_owner s = {NULL, "web", "deployments.apps", 2, NULL, NULL, 0, false};
    T_EQ_INT(resolve(q, rd, &s, NULL, NULL), 0);
    T_EQ_INT((int)s.n, 4);
    T_CHECK(owns(&s, "c-1", "pod-1a") && owns(&s, "c-2", "pod-2b"));
    T_CHECK(!owns(&s, "c-1", "pod-2a")); /* c-2's pod uid, asked in c-1 */
    query_owner_done(&s);
    /* nobody of that name */
    query_owner z = {NULL, "nope", NULL, 3, NULL, NULL, 0, false};
    T_EQ_INT(resolve(q, rd, &z, NULL, NULL), 0);
    T_CHECK(query_owner_nothing(&z) && !owns(&z, "c-1", ""));
    query_owner_done(&z);
}

int main(void)
{
    char dir[] = "/tmp/flotilla-query-owner-XXXXXX", path[128];
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_index *idx = NULL;
    fl_index_reader *rd = NULL;
    fl_query *q = NULL;
    fl_query_opts qo = FL_QUERY_OPTS_INIT;
    fl_query_gv gv[] = {{"", "v1", (const char *const[]){"*"}, 1},
                        {"apps", "v1", (const char *const[]){"*"}, 1}};
    io.path = path;
    T_EQ_INT(fl_index_open(&io, &idx, NULL), 0);
    fill(idx);
    qo.index = idx;
    qo.gvs = gv;
    qo.ngvs = 2;
    T_EQ_INT(fl_query_new(&qo, &q, NULL), 0);
    T_EQ_INT(fl_index_reader_new(idx, &rd, NULL), 0);
    test_uid(q, rd);
    test_name(q, rd);
    fl_index_reader_free(rd);
    fl_query_free(q);
    fl_index_close(idx);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ_INT(system(cmd), 0);
    return t_done();
}
