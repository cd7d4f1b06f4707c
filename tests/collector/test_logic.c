/*
 * tests/collector/test_logic.c: the collector's pure logic — backoff and
 * jitter, watch timeouts, the reflector state machine (list → watch →
 * resume / relist on 410 / backoff / skip), health transitions, request
 * paths and the raw JSON scanner.
 */
#include <errno.h>
#include <string.h>

#include "collector/collector_int.h"
#include "tests/test.h"

static void test_backoff(void)
{
    cl_backoff b;
    cl_backoff_init(&b, 800, 30000, 120000);
    T_EQ_INT(cl_backoff_next(&b, 1000, 0.0), 800);
    T_EQ_INT(cl_backoff_next(&b, 2000, 0.0), 1600);
    T_EQ_INT(cl_backoff_next(&b, 3000, 0.5), 3200 + 1600);
    for (int i = 0; i < 10; i++)
        cl_backoff_next(&b, 4000 + i, 0.0);
    T_EQ_INT(cl_backoff_next(&b, 5000, 0.0), 30000); /* capped */
    T_EQ_INT(cl_backoff_next(&b, 5001, 0.999), 30000 + 29970);
    T_EQ_INT(cl_backoff_next(&b, 5001 + 120001, 0.0), 800); /* quiet 2 min: reset */
    cl_backoff_reset(&b);
    T_EQ_INT(cl_backoff_next(&b, 200000, 0.0), 800);
    /* jitter is within [d, 2d) for any random value */
    for (int i = 0; i < 100; i++) {
        double r = cl_rand01();
        T_CHECK(r >= 0 && r < 1);
        cl_backoff_reset(&b);
        int64_t d = cl_backoff_next(&b, 0, r);
        T_CHECK(d >= 800 && d < 1600);
    }
}

static void test_watch_timeout(void)
{
    T_EQ_INT(cl_watch_timeout_s(300000, 0.0), 300);
    T_EQ_INT(cl_watch_timeout_s(300000, 0.5), 450);
    T_CHECK(cl_watch_timeout_s(300000, 0.9999) < 600);
    T_EQ_INT(cl_watch_timeout_s(10, 0.0), 1);
}

static void test_sm(void)
{
    cl_reflector_sm sm;
    int64_t d = -1;
    cl_sm_init(&sm, "");
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_START, NULL, 0, 0, 0, &d), CL_DO_LIST);
    T_EQ_INT(sm.phase, CL_R_LISTING);
    /* list fails: back off, then list again */
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_LIST_FAILED, NULL, FL_EHTTP, 10, 0, &d), CL_DO_WAIT);
    T_EQ_INT(d, 800);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_TIMER, NULL, 0, 900, 0, &d), CL_DO_LIST);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_LIST_FAILED, NULL, -ECONNREFUSED, 1000, 0, &d), CL_DO_WAIT);
    T_EQ_INT(d, 1600);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_TIMER, NULL, 0, 3000, 0, &d), CL_DO_LIST);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_LIST_DONE, "100", 0, 3100, 0, &d), CL_DO_WATCH);
    T_EQ_STR(sm.rv, "100");
    T_EQ_INT(sm.phase, CL_R_WATCHING);
    /* events move the resume point */
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_EVENT, "105", 0, 3200, 0, &d), CL_DO_NOTHING);
    T_EQ_STR(sm.rv, "105");
    /* a clean close (timeoutSeconds) re-watches at once from the last RV */
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_CLOSED, NULL, 0, 3300, 0, &d), CL_DO_WATCH);
    /* a dropped watch resumes from the last RV after a backoff (reset by success) */
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_FAILED, NULL, -ECONNRESET, 3400, 0, &d), CL_DO_WAIT);
    T_EQ_INT(d, 800);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_TIMER, NULL, 0, 4300, 0, &d), CL_DO_WATCH);
    T_EQ_STR(sm.rv, "105");
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_EVENT, "106", 0, 4400, 0, &d), CL_DO_NOTHING);
    /* 410: relist at once, forgetting the RV; a second 410 in a row backs off */
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_GONE, NULL, FL_EGONE, 4500, 0, &d), CL_DO_LIST);
    T_EQ_STR(sm.rv, "");
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_LIST_DONE, "200", 0, 4600, 0, &d), CL_DO_WATCH);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_GONE, NULL, FL_EGONE, 4700, 0, &d), CL_DO_LIST);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_LIST_DONE, "300", 0, 4800, 0, &d), CL_DO_WATCH);
    /* a stray timer while watching does nothing */
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_TIMER, NULL, 0, 4900, 0, &d), CL_DO_NOTHING);
    /* a malformed line: forget the RV, wait, relist; while streams keep
     * arriving malformed the wait grows (a good relist does not reset it),
     * and the first good event does */
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_CORRUPT, NULL, FL_EPARSE, 5000, 0, &d), CL_DO_WAIT);
    T_EQ_INT(d, 800);
    T_EQ_STR(sm.rv, "");
    T_EQ_INT(sm.phase, CL_R_WAITING);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_TIMER, NULL, 0, 5800, 0, &d), CL_DO_LIST);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_LIST_DONE, "400", 0, 5900, 0, &d), CL_DO_WATCH);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_CORRUPT, NULL, FL_EPARSE, 6000, 0, &d), CL_DO_WAIT);
    T_EQ_INT(d, 1600);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_TIMER, NULL, 0, 7600, 0, &d), CL_DO_LIST);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_LIST_DONE, "500", 0, 7700, 0, &d), CL_DO_WATCH);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_EVENT, "501", 0, 7800, 0, &d), CL_DO_NOTHING);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_CORRUPT, NULL, FL_EPARSE, 7900, 0, &d), CL_DO_WAIT);
    T_EQ_INT(d, 800);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_TIMER, NULL, 0, 8700, 0, &d), CL_DO_LIST);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_LIST_DONE, "600", 0, 8800, 0, &d), CL_DO_WATCH);
    /* 404 on list: skipped */
    /* restart with a stored RV: watch from it; 410 relists */
    cl_sm_init(&sm, "55");
    T_EQ_STR(sm.rv, "55");
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_START, NULL, 0, 0, 0, &d), CL_DO_WATCH);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_WATCH_GONE, NULL, FL_EGONE, 0, 0, &d), CL_DO_LIST);
    cl_sm_init(&sm, "");
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_START, NULL, 0, 0, 0, &d), CL_DO_LIST);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_LIST_FAILED, NULL, FL_ENOTFOUND, 0, 0, &d), CL_DO_SKIP);
    T_EQ_INT(sm.phase, CL_R_SKIPPED);
    T_EQ_STR(cl_rphase_name(sm.phase), "Skipped");
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_STOP, NULL, 0, 0, 0, &d), CL_DO_NOTHING);
    T_EQ_INT(cl_sm_feed(&sm, CL_EV_START, NULL, 0, 0, 0, &d), CL_DO_NOTHING);
}

static void test_health(void)
{
    cl_health h = {0};
    T_CHECK(cl_health_observe(&h, CL_H_READY, NULL, 1000));
    T_EQ_INT(h.since_ms, 1000);
    T_CHECK(!cl_health_observe(&h, CL_H_READY, NULL, 2000));
    /* one bad probe is not enough to leave Ready */
    T_CHECK(!cl_health_observe(&h, CL_H_UNREACHABLE, "connection refused", 3000));
    T_EQ_INT(h.state, CL_H_READY);
    T_CHECK(!cl_health_observe(&h, CL_H_READY, NULL, 4000));
    T_CHECK(!cl_health_observe(&h, CL_H_NOT_READY, "500", 5000));
    T_CHECK(cl_health_observe(&h, CL_H_NOT_READY, "500", 6000));
    T_EQ_INT(h.state, CL_H_NOT_READY);
    T_EQ_INT(h.since_ms, 6000);
    T_EQ_STR(h.last_error, "500");
    T_CHECK(cl_health_observe(&h, CL_H_UNREACHABLE, "timeout", 7000));
    T_EQ_STR(cl_hstate_name(h.state), "Unreachable");
    T_CHECK(cl_health_observe(&h, CL_H_READY, NULL, 8000));
    T_EQ_STR(h.last_error, ""); /* the error is the current problem: gone on recovery */
    T_CHECK(!cl_health_observe(&h, CL_H_UNREACHABLE, "refused", 9000));
    T_EQ_STR(h.last_error, "refused"); /* shown while Ready waits for a second bad probe */
    T_CHECK(!cl_health_observe(&h, CL_H_READY, NULL, 10000));
    T_EQ_STR(h.last_error, "");
}

static void test_member_state(void)
{
    cl_member_sync s = {CL_H_UNKNOWN, false, false, 0, 0, 0};
    T_EQ_INT(cl_member_state(&s), CL_M_SYNCING); /* first probe not answered */
    s.health = CL_H_UNREACHABLE;
    T_EQ_INT(cl_member_state(&s), CL_M_FAILING);
    s.health = CL_H_NOT_READY;
    s.discovered = true, s.resources = s.synced = 14;
    T_EQ_INT(cl_member_state(&s), CL_M_FAILING); /* down, even with everything listed */
    s.health = CL_H_READY;
    T_EQ_INT(cl_member_state(&s), CL_M_SYNCED);
    s.synced = 9;
    T_EQ_INT(cl_member_state(&s), CL_M_SYNCING);
    s.failing = 1;
    T_EQ_INT(cl_member_state(&s), CL_M_FAILING); /* a list failing holds nothing back */
    s = (cl_member_sync){CL_H_READY, false, false, 0, 0, 0};
    T_EQ_INT(cl_member_state(&s), CL_M_SYNCING); /* discovery pending */
    s.disco_failing = true;
    T_EQ_INT(cl_member_state(&s), CL_M_FAILING);
    T_EQ_STR(cl_mstate_name(CL_M_FAILING), "Failing");
    T_CHECK(cl_ready(0, 0, 0));  /* no members: nothing to wait for */
    T_CHECK(!cl_ready(1, 0, 0)); /* the only member failing: nothing served */
    T_CHECK(!cl_ready(3, 2, 1)); /* one still syncing */
    T_CHECK(cl_ready(3, 1, 0));  /* two failing, one synced */
}

static void test_paths(void)
{
    fl_buf b = FL_BUF_INIT(4096);
    cl_scope pods = {"", "v1", "pods", true, NULL, NULL};
    T_EQ_INT(cl_list_path(&pods, 500, NULL, &b), 0);
    T_EQ_STR(b.data, "/api/v1/pods?limit=500");
    fl_buf_reset(&b);
    T_EQ_INT(cl_list_path(&pods, 2, "a+b/c=", &b), 0);
    T_EQ_STR(b.data, "/api/v1/pods?limit=2&continue=a%2Bb%2Fc%3D");
    fl_buf_reset(&b);
    cl_scope deps = {"apps", "v1", "deployments", true, "team-a", NULL};
    T_EQ_INT(cl_watch_path(&deps, "123", 450, &b), 0);
    T_EQ_STR(b.data, "/apis/apps/v1/namespaces/team-a/deployments?watch=1&allowWatchBookmarks=true"
                     "&resourceVersion=123&timeoutSeconds=450");
    fl_buf_reset(&b);
    const char *ex[] = {"kube-system", "b"};
    fl_buf sel = FL_BUF_INIT(1024);
    T_EQ_INT(cl_ns_exclude_selector(ex, 2, &sel), 0);
    T_EQ_STR(sel.data, "metadata.namespace!=kube-system,metadata.namespace!=b");
    cl_scope nodes = {"", "v1", "nodes", false, "ignored", sel.data};
    T_EQ_INT(cl_list_path(&nodes, 10, "", &b), 0);
    T_EQ_STR(b.data, "/api/v1/nodes?limit=10&fieldSelector=metadata.namespace%21%3Dkube-system"
                     "%2Cmetadata.namespace%21%3Db");
    fl_buf_done(&sel);
    fl_buf_done(&b);
}

static void test_scan(void)
{
    static const char *const rvp[] = {"metadata", "resourceVersion"};
    static const char *const contp[] = {"metadata", "continue"};
    static const char *const orv[] = {"object", "metadata", "resourceVersion"};
    static const char *const typ[] = {"type"};
    static const char *const code[] = {"object", "code"};
    char out[64];
    const char *list =
        "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\""
        ":\"42\",\"continue\":\"tok\\\"en\"},\"items\":[{\"metadata\":{\"name\":\"a\"}}]}";
    T_EQ_INT(cl_scan_str(list, strlen(list), rvp, 2, out, sizeof out), 0);
    T_EQ_STR(out, "42");
    T_EQ_INT(cl_scan_str(list, strlen(list), contp, 2, out, sizeof out), 0);
    T_EQ_STR(out, "tok\"en");
    T_EQ_INT(cl_scan_str(list, strlen(list), rvp, 2, out, 2), -E2BIG);
    /* metadata after items, nested braces and strings with brackets */
    const char *late = "{\"items\":[{\"a\":\"}]{[\\\"\"},[1,2,{\"x\":null}]],\"metadata\":"
                       "{\"continue\":\"\",\"resourceVersion\":\"7\"}}";
    T_EQ_INT(cl_scan_str(late, strlen(late), rvp, 2, out, sizeof out), 0);
    T_EQ_STR(out, "7");
    T_EQ_INT(cl_scan_str(late, strlen(late), contp, 2, out, sizeof out), 0);
    T_EQ_STR(out, "");
    const char *ev = "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":"
                     "\"p\",\"resourceVersion\":\"99\"}}}";
    T_EQ_INT(cl_scan_str(ev, strlen(ev), typ, 1, out, sizeof out), 0);
    T_EQ_STR(out, "MODIFIED");
    T_EQ_INT(cl_scan_str(ev, strlen(ev), orv, 3, out, sizeof out), 0);
    T_EQ_STR(out, "99");
    const char *err = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}";
    int64_t c = 0;
    T_EQ_INT(cl_scan_int(err, strlen(err), code, 2, &c), 0);
    T_EQ_INT(c, 410);
    /* absent, wrong type, garbage, truncation */
    T_EQ_INT(cl_scan_str(err, strlen(err), orv, 3, out, sizeof out), FL_ENOTFOUND);
    T_EQ_INT(cl_scan_str(err, strlen(err), code, 2, out, sizeof out), FL_ENOTFOUND);
    T_EQ_INT(cl_scan_str("<html>", 6, typ, 1, out, sizeof out), FL_ENOTFOUND);
    T_EQ_INT(cl_scan_str("{\"a\":[1,", 8, typ, 1, out, sizeof out), FL_EPARSE);
    T_EQ_INT(cl_scan_str(ev, 30, orv, 3, out, sizeof out), FL_EPARSE);
    T_EQ_INT(cl_scan_str("{\"type\":\"ADD", 12, typ, 1, out, sizeof out), FL_EPARSE);
    T_EQ_INT(cl_scan_str("", 0, typ, 1, out, sizeof out), FL_ENOTFOUND);
}

static void test_complete(void)
{
    const char *ok = "{\"a\":\"x\\\\\",\"b\":[1,{\"c\":\"]}\\\"\"}]} \n";
    T_CHECK(cl_json_complete(ok, strlen(ok)));
    T_CHECK(cl_json_complete("[]", 2));
    /* every strict prefix of a document is incomplete */
    for (size_t n = 0; n + 3 < strlen(ok); n++)
        T_CHECK(!cl_json_complete(ok, n));
    T_CHECK(!cl_json_complete("<html>", 6));
    T_CHECK(!cl_json_complete("{}{}", 4));
    T_CHECK(!cl_json_complete("\"s\"", 3));
    T_CHECK(!cl_json_complete("{\"a\":\"\\\"}", 9)); /* the quote is escaped */
}

static void test_nsfilter(void)
{
    const char *names[] = {"team-a", "team-b"};
    cl_nsfilter f = {names, 2, false};
    cl_nsfilter byname = {names, 2, true};
    fl_buf out = FL_BUF_INIT(1u << 20);
    size_t kept = 99, dropped = 99;
    const char *page =
        "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"9\"},\"items\":["
        "{\"metadata\":{\"name\":\"p1\",\"namespace\":\"team-a\"}},"
        "{\"metadata\":{\"name\":\"p2\",\"namespace\":\"default\"},\"spec\":{\"x\":\"]\"}} ,"
        "{\"metadata\":{\"namespace\":\"team-b\",\"name\":\"p3\"}},"
        "{\"spec\":{}}"
        "],\"tail\":true}";
    T_EQ_INT(cl_nsfilter_page(&f, page, strlen(page), &out, &kept, &dropped), 0);
    T_EQ_INT(kept, 2);
    T_EQ_INT(dropped, 2);
    T_EQ_STR(out.data, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"9\"},\"items\":["
                       "{\"metadata\":{\"name\":\"p1\",\"namespace\":\"team-a\"}},"
                       "{\"metadata\":{\"namespace\":\"team-b\",\"name\":\"p3\"}}],\"tail\":true}");
    T_CHECK(cl_json_complete(out.data, out.len));
    /* nothing kept, empty and null item lists, namespaces by name */
    fl_buf_reset(&out);
    const char *none = "{\"items\":[{\"metadata\":{\"namespace\":\"x\"}}],\"metadata\":{}}";
    T_EQ_INT(cl_nsfilter_page(&f, none, strlen(none), &out, &kept, &dropped), 0);
    T_EQ_STR(out.data, "{\"items\":[],\"metadata\":{}}");
    T_EQ_INT(kept, 0);
    fl_buf_reset(&out);
    T_EQ_INT(cl_nsfilter_page(&f, "{\"items\":[ ]}", 13, &out, &kept, &dropped), 0);
    T_EQ_STR(out.data, "{\"items\":[]}");
    fl_buf_reset(&out);
    T_EQ_INT(cl_nsfilter_page(&f, "{\"items\":null}", 14, &out, &kept, &dropped), 0);
    T_EQ_STR(out.data, "{\"items\":null}");
    fl_buf_reset(&out);
    const char *nss =
        "{\"items\":[{\"metadata\":{\"name\":\"team-b\"}},{\"metadata\":{\"name\":\"y\"}}]}";
    T_EQ_INT(cl_nsfilter_page(&byname, nss, strlen(nss), &out, &kept, &dropped), 0);
    T_EQ_STR(out.data, "{\"items\":[{\"metadata\":{\"name\":\"team-b\"}}]}");
    /* not a list, truncated */
    fl_buf_reset(&out);
    T_EQ_INT(cl_nsfilter_page(&f, "<html>", 6, &out, &kept, &dropped), FL_EPARSE);
    T_EQ_INT(cl_nsfilter_page(&f, "{\"kind\":1}", 10, &out, &kept, &dropped), FL_EPARSE);
    T_EQ_INT(cl_nsfilter_page(&f, page, 120, &out, &kept, &dropped), FL_EPARSE);
    T_EQ_INT(cl_nsfilter_page(&f, "{\"items\" :  ", 13, &out, &kept, &dropped), FL_EPARSE);
    T_EQ_INT(cl_nsfilter_page(&f, "{\"items\":5}", 11, &out, &kept, &dropped), FL_EPARSE);
    fl_buf_done(&out);
    /* watch events */
    const char *in = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"namespace\":\"team-b\"}}}";
    const char *outs = "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"namespace\":\"c\"}}}";
    const char *bm =
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}";
    const char *nsev = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"team-a\"}}}";
    T_CHECK(cl_nsfilter_event(&f, in, strlen(in)));
    T_CHECK(!cl_nsfilter_event(&f, outs, strlen(outs)));
    T_CHECK(cl_nsfilter_event(&f, bm, strlen(bm)));
    T_CHECK(!cl_nsfilter_event(&f, nsev, strlen(nsev)));
    T_CHECK(cl_nsfilter_event(&byname, nsev, strlen(nsev)));
    T_CHECK(cl_nsfilter_event(&f, "garbage", 7));
    T_CHECK(cl_nsfilter_has(&f, "team-a") && !cl_nsfilter_has(&f, "team"));
}

int main(void)
{
    test_backoff();
    test_watch_timeout();
    test_sm();
    test_health();
    test_member_state();
    test_paths();
    test_scan();
    test_complete();
    test_nsfilter();
    return t_done();
}
