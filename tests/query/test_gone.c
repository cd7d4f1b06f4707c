/*
 * tests/query/test_gone.c: the search API against an index with a tiny
 * change log (10 revisions): continue pages are a snapshot of the first
 * page's revision; a continue token whose revision has left the log
 * answers 410 Expired; a tampered one 400; resourceVersionMatch=Exact
 * serves an older revision as it was, 410 once the log forgot it; a watch from a revision
 * inside the log replays the changes after it (resume), and one from before
 * it gets an ERROR event carrying a 410 Expired Status, as kube-apiserver.
 * HTTP through a raw loopback socket (Connection: close, read to EOF).
 */
#include <errno.h>
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

static void submit(fl_index *idx, const char *json)
{
    fl_index_src src = {"c-1", "", "v1", "pods", "Pod"};
    T_EQ_INT(fl_index_submit_event(idx, &src, json, strlen(json), NULL), 0);
}

static void event(fl_index *idx, const char *type, int name, int rv)
{
    char ev[512];
    snprintf(ev, sizeof ev,
             "{\"type\":\"%s\",\"object\":{\"metadata\":{\"name\":\"p%d\","
             "\"namespace\":\"ns\",\"uid\":\"u%d\",\"resourceVersion\":\"%d\"},\"spec\":{}}}",
             type, name, name, rv);
    submit(idx, ev);
}

static void modify(fl_index *idx, int name, int rv)
{
    event(idx, "MODIFIED", name, rv);
}

/* The "type" values of the watch events in b, in order, joined by ' '. */
static void event_types(const fl_buf *b, char *out, size_t size)
{
    const char *p = b->data ? b->data : "";
    out[0] = 0;
    while ((p = strstr(p, "{\"type\":\""))) {
        p += 9;
        const char *e = strchr(p, '"');
        if (!e)
            break;
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%.*s", n ? " " : "", (int)(e - p), p);
        p = e;
    }
}

/* The value of "key":"..." in b (first occurrence) into out. */
static void find_str(const fl_buf *b, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(b->data ? b->data : "", pat), *e;
    out[0] = 0;
    if (p && (e = strchr(p + strlen(pat), '"')))
        snprintf(out, size, "%.*s", (int)(e - p - strlen(pat)), p + strlen(pat));
}

int main(void)
{
    char dir[] = "/tmp/flotilla-query-gone-XXXXXX", path[256], tok[1024], rv[32];
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_query_opts qo = FL_QUERY_OPTS_INIT;
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    fl_index *idx = NULL;
    fl_query *q = NULL;
    fl_server *srv = NULL;
    fl_buf b = FL_BUF_INIT(16u << 20);
    const char *pods_res[] = {"pods"};
    fl_query_gv gv = {"", "v1", pods_res, 1};
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/index.db", dir);
    io.path = path;
    io.changelog_max = 10;
    T_EQ_INT(fl_index_open(&io, &idx, NULL), 0);
    for (int i = 0; i < 5; i++)
        modify(idx, i, 1);
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    qo.index = idx;
    qo.anonymous_loopback = true;
    qo.gvs = &gv;
    qo.ngvs = 1;
    so.access_log = false;
    T_EQ_INT(fl_query_new(&qo, &q, NULL), 0);
    T_EQ_INT(fl_server_new(&so, &srv, NULL), 0);
    T_EQ_INT(fl_query_route(q, srv), 0);
    T_EQ_INT(fl_server_start(srv, NULL), 0);
    port = fl_server_port(srv);

    T_EQ_INT(get("/api/v1/pods?limit=2", &b), 200);
    find_str(&b, "continue", tok, sizeof tok);
    find_str(&b, "resourceVersion", rv, sizeof rv);
    T_CHECK(tok[0] != 0);
    T_EQ_STR(rv, "5");
    char p2[1200];
    snprintf(p2, sizeof p2, "/api/v1/pods?limit=2&continue=%s", tok);
    T_EQ_INT(get(p2, &b), 200); /* still inside the log */
    T_CHECK(strstr(b.data, "\"p2\"") && strstr(b.data, "\"p3\"") && !strstr(b.data, "\"p1\""));

    /* watch resume: from revision 3, the changes 4 and 5 */
    T_EQ_INT(get("/api/v1/pods?watch=1&resourceVersion=3&timeoutSeconds=1", &b), 200);
    T_CHECK(strstr(b.data, "\"p3\"") && strstr(b.data, "\"p4\"") && !strstr(b.data, "\"p2\""));
    T_CHECK(strstr(b.data, "\"resourceVersion\":\"5\"") != NULL);

    /* replay from an older revision: every change with its own type, in order
     * (k8s-golden 07-semantics/watch-replay-from-older-rv: nothing coalesced) */
    const char *const types[] = {"ADDED", "MODIFIED", "MODIFIED", "DELETED"};
    for (int i = 0; i < 4; i++) {
        event(idx, types[i], 9, 100 + i);
        T_EQ_INT(fl_index_flush(idx, 10000), 0);
    }
    char seen[256];
    T_EQ_INT(get("/api/v1/pods?watch=1&resourceVersion=5&timeoutSeconds=1", &b), 200);
    event_types(&b, seen, sizeof seen);
    T_EQ_STR(seen, "ADDED MODIFIED MODIFIED DELETED");
    const char *r6 = strstr(b.data, "\"resourceVersion\":\"6\""),
               *r9 = strstr(b.data, "\"resourceVersion\":\"9\"");
    T_CHECK(r6 && r9 && r6 < r9);

    /* each replayed event carries the object as it was at its revision
     * (member resourceVersions 100..103 in the stored states) */
    const char *s1 = strstr(b.data, "\"uid\":\"u9\""),
               *s2 = s1 ? strstr(s1 + 1, "\"uid\":\"u9\"") : NULL;
    T_CHECK(s1 && s2 && r6 > s1 && r6 < s2); /* ADDED's object says 6, the next 7 */

    /* pages are a snapshot of the first page's revision (k8s-golden
     * 07-semantics/list-pages-are-a-snapshot): after page 1, p2 is deleted,
     * p25 created and p3 changed; later pages still show p2, not p25, and
     * p3 as it was (revision 4, the object's own at the first page) */
    char tok2[1024], p3[1200];
    T_EQ_INT(get("/api/v1/pods?limit=2", &b), 200);
    find_str(&b, "continue", tok2, sizeof tok2);
    find_str(&b, "resourceVersion", rv, sizeof rv);
    T_EQ_STR(rv, "9");
    const char *rem = strstr(b.data, "\"remainingItemCount\":");
    int rem1 = rem ? atoi(rem + 21) : -1;
    T_CHECK(rem1 > 2);
    event(idx, "DELETED", 2, 200);
    event(idx, "ADDED", 25, 201);
    modify(idx, 3, 202);
    event(idx, "ADDED", 26, 203);
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    snprintf(p3, sizeof p3, "/api/v1/pods?limit=2&continue=%s", tok2);
    T_EQ_INT(get(p3, &b), 200);
    T_CHECK(strstr(b.data, "\"p2\"") && strstr(b.data, "\"p3\"") && !strstr(b.data, "\"p25\""));
    T_CHECK(strstr(b.data, "\"resourceVersion\":\"4\"") &&
            !strstr(b.data, "\"resourceVersion\":\"12\""));
    /* remainingItemCount counts down in the snapshot, as kube's: p26 is not in it */
    rem = strstr(b.data, "\"remainingItemCount\":");
    T_EQ_INT(rem ? atoi(rem + 21) : -1, rem1 - 2);
    find_str(&b, "continue", tok2, sizeof tok2);
    snprintf(p3, sizeof p3, "/api/v1/pods?limit=2&continue=%s", tok2);
    T_EQ_INT(get(p3, &b), 200);
    T_CHECK(strstr(b.data, "\"p4\"") && !strstr(b.data, "\"p25\""));
    /* resourceVersionMatch=Exact at an older revision: the list as it was */
    T_EQ_INT(get("/api/v1/pods?resourceVersionMatch=Exact&resourceVersion=9&limit=10", &b), 200);
    T_CHECK(strstr(b.data, "\"p2\"") && !strstr(b.data, "\"p25\"") &&
            strstr(b.data, "\"metadata\":{\"resourceVersion\":\"9\"}"));
    T_EQ_INT(get("/api/v1/pods?limit=10", &b), 200);
    T_CHECK(!strstr(b.data, "\"p2\"") && strstr(b.data, "\"p25\""));
    /* GET carries the same rule: p3's revision is 12 */
    T_EQ_INT(get("/clusters/c-1/api/v1/namespaces/ns/pods/p3", &b), 200);
    T_CHECK(strstr(b.data, "\"resourceVersion\":\"12\"") != NULL);

    for (int i = 0; i < 30; i++) { /* one batch each: the writer coalesces per key */
        modify(idx, i % 5, 10 + i);
        T_EQ_INT(fl_index_flush(idx, 10000), 0);
    }
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    int code = 0;
    for (int i = 0; i < 40 && (code = get(p2, &b)) == 200; i++)
        usleep(100000); /* the index trims its change log once a second */
    T_EQ_INT(code, 410);
    T_CHECK(strstr(b.data, "\"reason\":\"Expired\"") != NULL);
    T_CHECK(strstr(b.data, "The provided continue parameter is too old to display a consistent "
                           "list result. You can start a new list without the continue "
                           "parameter.") != NULL);
    /* the trim runs once a second: one run may have passed revision 5 but not 9 yet */
    const char *exact9 = "/api/v1/pods?resourceVersionMatch=Exact&resourceVersion=9&limit=10";
    for (int i = 0; i < 40 && (code = get(exact9, &b)) == 200; i++)
        usleep(100000);
    T_EQ_INT(code, 410);
    T_CHECK(strstr(b.data, "too old resource version: 9") && strstr(b.data, "Expired"));
    tok[strlen(tok) - 2] ^= 1;
    snprintf(p2, sizeof p2, "/api/v1/pods?limit=2&continue=%s", tok);
    T_EQ_INT(get(p2, &b), 400);
    T_EQ_INT(get("/api/v1/pods?watch=1&resourceVersion=2&timeoutSeconds=1", &b), 200);
    T_CHECK(strstr(b.data, "\"type\":\"ERROR\"") && strstr(b.data, "\"code\":410") &&
            strstr(b.data, "Expired"));

    fl_server_free(srv);
    fl_query_free(q);
    fl_index_close(idx);
    fl_buf_done(&b);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    T_EQ_INT(system(path), 0);
    return t_done();
}
