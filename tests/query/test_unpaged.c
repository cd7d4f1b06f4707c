/*
 * tests/query/test_unpaged.c: a list without limit over more objects than
 * FL_QUERY_DEFAULT_LIMIT is refused with a Status saying why (413), not cut
 * short with a continue token a raw client would ignore; the same list with
 * limit pages normally, and a list without limit under the cap answers all.
 * Field selectors fill their pages: metadata.namespace/metadata.name (and
 * spec.nodeName/status.phase on pods) compile to the index, other paths
 * scan on past non-matching rows.
 * HTTP through a raw loopback socket (Connection: close, read to EOF).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/query.h"
#include "tests/test.h"

static uint16_t port;

/* GET path below the search API; the status, the whole raw response in out. */
static int get(const char *path, fl_buf *out)
{
    return t_http_get(port, FL_QUERY_PREFIX, path, out);
}

static void add_pods(fl_index *idx, const char *ns, int n)
{
    fl_index_src src = {"c-1", "", "v1", "pods", "Pod"};
    char ev[512];
    for (int i = 0; i < n; i++) {
        int len = snprintf(ev, sizeof ev,
                           "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\","
                           "\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p%05d\",\"namespace\":"
                           "\"%s\",\"uid\":\"%s-%d\",\"resourceVersion\":\"%d\"},\"spec\":{}}}",
                           i, ns, ns, i, i + 1);
        T_EQ_INT(fl_index_submit_event(idx, &src, ev, (size_t)len, NULL), 0);
        if (i % 500 == 499) /* the writer's queue is capped */
            T_EQ_INT(fl_index_flush(idx, 60000), 0);
    }
    T_EQ_INT(fl_index_flush(idx, 60000), 0);
}

int main(void)
{
    char dir[] = "/tmp/flotilla-query-unpaged-XXXXXX", path[256];
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_query_opts qo = FL_QUERY_OPTS_INIT;
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    fl_index *idx = NULL;
    fl_query *q = NULL;
    fl_server *srv = NULL;
    fl_buf b = FL_BUF_INIT(64u << 20);
    const char *pods_res[] = {"pods"};
    fl_query_gv gv = {"", "v1", pods_res, 1};
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/index.db", dir);
    io.path = path;
    T_EQ_INT(fl_index_open(&io, &idx, NULL), 0);
    add_pods(idx, "big", FL_QUERY_DEFAULT_LIMIT + 1);
    add_pods(idx, "small", 3);
    qo.index = idx;
    qo.anonymous_loopback = true;
    qo.list_scan_budget_ms =
        60000; /* the scans below must fill their pages, even under ASan and load */
    qo.gvs = &gv;
    qo.ngvs = 1;
    so.access_log = false;
    T_EQ_INT(fl_query_new(&qo, &q, NULL), 0);
    T_EQ_INT(fl_server_new(&so, &srv, NULL), 0);
    T_EQ_INT(fl_query_route(q, srv), 0);
    T_EQ_INT(fl_server_start(srv, NULL), 0);
    port = fl_server_port(srv);

    T_EQ_INT(get("/api/v1/pods", &b), 413);
    T_CHECK(strstr(b.data, "\"kind\":\"Status\"") && strstr(b.data, "page it with limit"));
    T_EQ_INT(get("/api/v1/pods?orderby=name", &b), 413);
    T_EQ_INT(get("/api/v1/pods?limit=500", &b), 200);
    T_CHECK(strstr(b.data, "\"continue\":\"") != NULL);
    /* field selectors fill pages: metadata.namespace through the index, an
     * unindexed path by scanning on (the 3 matches sort after 10,001 others) */
    T_EQ_INT(get("/api/v1/pods?limit=2&fieldSelector=metadata.namespace%3Dsmall", &b), 200);
    T_CHECK(strstr(b.data, "\"uid\":\"small-0\"") && strstr(b.data, "\"uid\":\"small-1\"") &&
            strstr(b.data, "\"continue\":\""));
    T_EQ_INT(get("/api/v1/pods?limit=2&fieldSelector=metadata.uid%3Dsmall-2", &b), 200);
    T_CHECK(strstr(b.data, "\"uid\":\"small-2\"") != NULL);
    T_EQ_INT(get("/api/v1/pods?limit=5&fieldSelector=metadata.namespace%21%3Dbig", &b), 200);
    T_CHECK(strstr(b.data, "\"uid\":\"small-0\"") && strstr(b.data, "\"uid\":\"small-2\""));
    /* spec.nodeName / status.phase on pods go to the index's pod columns
     * (plans in index_plan); the pages are the same */
    fl_index_src src = {"c-1", "", "v1", "pods", "Pod"};
    for (int i = 0; i < 2; i++) {
        char ev[512];
        int len = snprintf(ev, sizeof ev,
                           "{\"type\":\"ADDED\",\"object\":{\"metadata\":{"
                           "\"name\":\"x%d\",\"namespace\":\"small\",\"uid\":\"x-%d\","
                           "\"resourceVersion\":\"9%d\"},\"spec\":{\"nodeName\":\"node-x\"},"
                           "\"status\":{\"phase\":\"%s\"}}}",
                           i, i, i, i ? "Failed" : "Running");
        T_EQ_INT(fl_index_submit_event(idx, &src, ev, (size_t)len, NULL), 0);
    }
    T_EQ_INT(fl_index_flush(idx, 60000), 0);
    T_EQ_INT(get("/api/v1/pods?limit=1&fieldSelector=spec.nodeName%3Dnode-x", &b), 200);
    T_CHECK(strstr(b.data, "\"uid\":\"x-0\"") && strstr(b.data, "\"continue\":\""));
    T_EQ_INT(
        get("/api/v1/pods?limit=5&fieldSelector=spec.nodeName%3Dnode-x,status.phase%3DFailed", &b),
        200);
    T_CHECK(strstr(b.data, "\"uid\":\"x-1\"") && !strstr(b.data, "\"uid\":\"x-0\""));
    T_EQ_INT(get("/api/v1/pods?limit=5&fieldSelector=status.phase%3DRunning", &b), 200);
    T_CHECK(strstr(b.data, "\"uid\":\"x-0\"") && !strstr(b.data, "\"uid\":\"small-0\""));
    T_EQ_INT(get("/api/v1/namespaces/small/pods", &b), 200);
    T_CHECK(strstr(b.data, "\"p00002\"") && !strstr(b.data, "\"continue\""));

    fl_server_free(srv);
    fl_query_free(q);
    fl_index_close(idx);
    fl_buf_done(&b);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    T_EQ_INT(system(path), 0);
    return t_done();
}
