/*
 * tests/collector/test_collector.c: the collector against fake member
 * clusters (tests/collector/fake_apiserver.py, one process each) feeding a
 * real index: paginated initial list with a namespace filter, create /
 * update / delete within a second, resume after a dropped watch (no
 * relist), relist after 410 deleting what vanished, a resource the member
 * does not serve (Skipped), a dead member (Unreachable) and a misbehaving
 * one (garbage watch lines, HTML lists) leaving the others untouched.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "collector/collector.h"
#include "index/index.h"
#include "kube/kube.h"
#include "tests/collector/fake.h"
#include "tests/test.h"

static char tmpdir[128];

/* A port nothing listens on (bound, then closed). */
static int dead_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

/* Poll (with index flushes) until count == want; returns ms waited or -1. */
/* Poll (with index flushes) until pod ns/name is present (want) or gone
 * (!want); returns ms waited or -1. */
static int64_t wait_pod(fl_index *idx, const char *cluster, const char *ns, const char *name,
                        bool want, int64_t timeout_ms)
{
    char rv[64];
    int64_t t0 = fl_mono_ms();
    while (fl_mono_ms() - t0 < timeout_ms) {
        fl_index_flush(idx, 1000);
        obj_rv(idx, cluster, "pods", ns, name, rv);
        if ((rv[0] != 0) == want)
            return fl_mono_ms() - t0;
        usleep(10000);
    }
    fprintf(stderr, "wait_pod %s %s/%s: still %s\n", cluster, ns, name, want ? "absent" : "there");
    return -1;
}

/* Hold the database's write lock from another process (the sqlite3 shell)
 * for ms: the index writer waits on it (busy timeout), its queue fills and
 * the collector's back-pressure paths (FL_EFULL, paused streams, retried
 * pages) run for sure, not only when the machine happens to be slow.
 * Returns once the lock is held, or false. */
static bool hold_write_lock(const char *db, int ms)
{
    char marker[200], cmd[700];
    snprintf(marker, sizeof marker, "%s/locked", tmpdir);
    snprintf(cmd, sizeof cmd,
             "sqlite3 -cmd '.timeout 5000' '%s' 'BEGIN IMMEDIATE;' "
             "'.shell touch %s; sleep %d.%03d' 'COMMIT;' >/dev/null 2>&1 &",
             db, marker, ms / 1000, ms % 1000);
    if (system(cmd) != 0)
        return false;
    for (int i = 0; i < 500; i++, usleep(10000))
        if (access(marker, F_OK) == 0)
            return true;
    return false;
}

static void test_fleet(void)
{
    fake a = {0}, b = {0}, g = {0};
    const char *aargs[] = {"--pods", "5", "--token", "secret-alpha", NULL};
    const char *bargs[] = {"--pods", "2", NULL};
    const char *gargs[] = {"--pods", "300", "--pad", "3000", NULL}; /* big pages */
    T_EQ_INT(spawn_fake(&a, aargs), 0);
    T_EQ_INT(spawn_fake(&b, bargs), 0);
    T_EQ_INT(spawn_fake(&g, gargs), 0);
    char ka[256], kb[256], kg[256], kd[256], db[256], rv[64], rv2[64];
    write_kubeconfig(tmpdir, "alpha", a.port, NULL, ka, sizeof ka);
    write_kubeconfig(tmpdir, "beta", b.port, NULL, kb, sizeof kb);
    write_kubeconfig(tmpdir, "dead", dead_port(), NULL, kd, sizeof kd);
    write_kubeconfig(tmpdir, "gamma", g.port, NULL, kg, sizeof kg);
    snprintf(db, sizeof db, "%s/index.db", tmpdir);

    fl_index *idx = NULL;
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    io.path = db;
    io.queue_max_items = 3;    /* tiny: back-pressure (FL_EFULL) happens all the time */
    io.queue_max_bytes = 4096; /* gamma's pages (2 x 3 KB) only fit an empty queue */
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&io, &idx, &err), 0);
    if (!idx) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    const char *core[] = {"pods", "namespaces", "configmaps"};
    const char *apps[] = {"deployments"};
    fl_collector_gv gvs[] = {{"", "v1", core, 3}, {"apps", "v1", apps, 1}};
    fl_collector_member mem[] = {
        {"alpha", ka, NULL}, {"beta", kb, NULL}, {"dead", kd, NULL}, {"gamma", kg, NULL}};
    const char *excl[] = {"kube-system"};
    fl_collector_opts co = FL_COLLECTOR_OPTS_INIT;
    co.index = idx;
    co.members = mem;
    co.nmembers = 4;
    co.resources = gvs;
    co.nresources = 2;
    co.ns_exclude = excl;
    co.nns_exclude = 1;
    co.page_size = 2;
    co.health_interval_ms = 200;
    co.health_timeout_ms = 1000;
    co.discovery_interval_ms = 500;
    co.stall_timeout_ms = 1500;
    co.watch_timeout_ms = 3000; /* stalls are silence past a watch's own timeoutSeconds */
    co.backoff_max_ms = 1000;
    fl_collector *c = NULL;
    T_EQ_INT(fl_collector_new(&co, &c, &err), 0);
    T_CHECK(hold_write_lock(db, 1500)); /* the initial sync starts under back-pressure */
    T_EQ_INT(fl_collector_start(c, &err), 0);

    /* initial sync: 5 pods over 3 pages; kube-system's pod filtered out */
    T_CHECK(wait_count(idx, "alpha", "pods", 5, 10000) >= 0);
    T_CHECK(wait_count(idx, "alpha", "namespaces", 2, 5000) >= 0); /* kube-system excluded */
    T_CHECK(wait_count(idx, "beta", "pods", 2, 5000) >= 0);
    T_CHECK(wait_count(idx, "gamma", "pods", 300, 20000) >= 0); /* under back-pressure */
    T_CHECK(wait_status(c, "alpha", "pods", "phase", "Watching", 5000));
    T_CHECK(wait_status(c, "alpha", "deployments", "phase", "Skipped", 5000));
    T_CHECK(wait_status(c, "alpha", NULL, "health", "Ready", 5000));
    T_CHECK(wait_status(c, "alpha", NULL, "version", "v1.26.0-fake", 5000));
    T_CHECK(wait_status(c, "dead", NULL, "health", "Unreachable", 5000));
    T_CHECK(wait_count(idx, "dead", "pods", 0, 100) >= 0);

    /* create, update, delete show up within a second */
    control(&a, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"new\"}");
    int64_t sec = second(); /* "within a second" (3 s when the machine is overloaded) */
    int64_t ms = wait_count(idx, "alpha", "pods", 6, sec);
    T_CHECK(ms >= 0 && ms < sec);
    obj_rv(idx, "alpha", "pods", "default", "pod-0", rv);
    control(&a, "upsert",
            "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"pod-0\",\"labels\":{\"x\":"
            "\"y\"}}");
    int64_t t0 = fl_mono_ms();
    do {
        fl_index_flush(idx, 1000);
        obj_rv(idx, "alpha", "pods", "default", "pod-0", rv2);
    } while (!strcmp(rv, rv2) && fl_mono_ms() - t0 < sec);
    T_CHECK(rv[0] && strcmp(rv, rv2) != 0);
    control(&a, "delete", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"pod-1\"}");
    ms = wait_count(idx, "alpha", "pods", 5, sec);
    T_CHECK(ms >= 0 && ms < sec);
    obj_rv(idx, "alpha", "pods", "default", "pod-1", rv);
    T_EQ_STR(rv, "");

    /* a dropped watch resumes from the last RV: no relist */
    int64_t relists = status_int(c, "alpha", "pods", "relists");
    T_EQ_INT(relists, 1);
    control(&a, "drop", "{}");
    control(&a, "upsert",
            "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"after-drop\"}");
    T_CHECK(wait_count(idx, "alpha", "pods", 6, 5000) >= 0);
    T_EQ_INT(status_int(c, "alpha", "pods", "relists"), 1);

    /* an idle watch, silent longer than stallTimeout, ends at its own
     * timeoutSeconds and resumes: no stall error, no relist */
    control(&a, "fault", "{\"mode\":\"nobookmarks\"}");
    usleep(7000 * 1000);
    control(&a, "fault", "{\"mode\":\"\"}");
    json_t *st = fl_collector_status(c);
    T_EQ_STR(fl_obj_str(find_res(st, "alpha", "pods"), "lastError"), "");
    json_decref(st);
    T_EQ_INT(status_int(c, "alpha", "pods", "relists"), 1);

    /* 410: while the watch is cut, an object vanishes without an event and
     * the history is compacted: the resumed watch gets 410, the relist
     * deletes the vanished object. Watches answer 500 until the history is
     * compacted: a watch that came back in between would see x, resume past
     * the compaction, and pod-2 would never go (the test would race). */
    control(&a, "fault", "{\"mode\":\"500\",\"lists\":false,\"health\":false}");
    control(&a, "drop", "{}");
    control(&a, "vanish", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"pod-2\"}");
    control(&a, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"x\"}");
    control(&a, "compact", "{}");
    control(&a, "fault", "{\"mode\":\"\"}");
    /* the count is 6 before and after (-pod-2 +x): wait for each change */
    T_CHECK(wait_pod(idx, "alpha", "default", "x", true, 8000) >= 0);
    T_CHECK(wait_pod(idx, "alpha", "default", "pod-2", false, 8000) >= 0);
    T_EQ_INT(count(idx, "alpha", "pods"), 6);
    T_CHECK(wait_status(c, "alpha", "pods", "phase", "Watching", 5000));
    obj_rv(idx, "alpha", "pods", "default", "pod-2", rv);
    T_EQ_STR(rv, "");
    T_EQ_INT(status_int(c, "alpha", "pods", "relists"), 2);

    /* beta misbehaves: garbage lines in watches are skipped and reported */
    control(&b, "fault", "{\"mode\":\"garbage\",\"lists\":false}");
    control(&b, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"g\"}");
    T_CHECK(wait_count(idx, "beta", "pods", 3, 5000) >= 0);
    T_CHECK(wait_status(c, "beta", "pods", "lastError", "malformed event", 5000));
    T_CHECK(status_int(c, "beta", "pods", "badEvents") >= 1);
    /* ... then answers HTML to lists after a 410. Watches answer HTML too
     * until h is written and the history compacted: a watch that came back
     * in between would see h, and the test would depend on timing. */
    control(&b, "fault", "{\"mode\":\"html\"}");
    control(&b, "drop", "{}");
    control(&b, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"h\"}");
    control(&b, "compact", "{}");
    control(&b, "fault", "{\"mode\":\"html\",\"watches\":false}");
    T_CHECK(wait_status(c, "beta", "pods", "lastError", "not a Kubernetes list", 8000));
    T_CHECK(wait_status(c, "beta", "pods", "phase", "Backoff", 5000));
    T_EQ_INT(count(idx, "beta", "pods"), 3); /* a failed relist deletes nothing */
    /* ... while alpha goes on */
    control(&a, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"z\"}");
    ms = wait_count(idx, "alpha", "pods", 7, sec);
    T_CHECK(ms >= 0 && ms < sec);
    /* ... then 500s, then 401s: each shown as the last error */
    control(&b, "fault", "{\"mode\":\"500\"}");
    T_CHECK(wait_status(c, "beta", "pods", "lastError", "500 InternalError", 5000));
    control(&b, "fault", "{\"mode\":\"401\"}");
    T_CHECK(wait_status(c, "beta", "pods", "lastError", "401 Unauthorized", 5000));
    T_CHECK(wait_status(c, "beta", NULL, "health", "Ready", 100)); /* /readyz still fine */
    /* beta recovers */
    control(&b, "fault", "{\"mode\":\"\"}");
    T_CHECK(wait_status(c, "beta", "pods", "phase", "Watching", 5000));
    T_CHECK(wait_count(idx, "beta", "pods", 4, 5000) >= 0);

    /* a resource appears (a CRD is installed): rediscovery starts it */
    control(&a, "upsert",
            "{\"resource\":\"deployments\",\"namespace\":\"default\",\"name\":\"d\"}");
    control(&a, "apps", "{\"on\":true}");
    T_CHECK(wait_status(c, "alpha", "deployments", "phase", "Watching", 5000));
    T_CHECK(wait_status(c, "beta", "deployments", "phase", "Skipped", 100));
    /* ... and goes away again */
    control(&a, "apps", "{\"on\":false}");
    T_CHECK(wait_status(c, "alpha", "deployments", "phase", "Skipped", 5000));

    /* a cut watch resumed on a quiet resource (no event, no bookmark, as
     * kube-apiserver v1.26): the server accepted it, so the index is current
     * and no lag grows until the next event */
    control(&a, "fault", "{\"mode\":\"nobookmarks\",\"lists\":false}");
    control(&a, "drop", "{}");
    usleep(1000000); /* the cut is seen; a lag counted from it is past 1 s now */
    int64_t lag = -1;
    for (int i = 0; i < 400 && (lag = status_int(c, "alpha", "pods", "lagMs")) >= 500; i++)
        usleep(20000);
    T_CHECK(lag >= 0 && lag < 500);
    T_CHECK(wait_status(c, "alpha", "pods", "phase", "Watching", 100));
    control(&a, "fault", "{\"mode\":\"\"}");

    /* watch events without metadata are skipped and reported */
    control(&b, "fault", "{\"mode\":\"nometa\",\"lists\":false}");
    control(&b, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"m\"}");
    T_CHECK(wait_count(idx, "beta", "pods", 5, 5000) >= 0);
    T_CHECK(wait_status(c, "beta", "pods", "lastError", "without metadata.resourceVersion", 5000));
    control(&b, "fault", "{\"mode\":\"\"}");

    /* a stalled watch (headers, then silence) is detected and restarted */
    control(&b, "fault", "{\"mode\":\"silent\",\"lists\":false}");
    control(&b, "drop", "{}");
    T_CHECK(wait_status(c, "beta", "pods", "lastError", "Timeout", 12000));
    control(&b, "fault", "{\"mode\":\"\"}");
    control(&b, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"s\"}");
    T_CHECK(wait_count(idx, "beta", "pods", 6, 8000) >= 0);
    T_CHECK(wait_status(c, "beta", "pods", "phase", "Watching", 5000));
    /* beta being stuck never touched alpha */
    T_EQ_INT(count(idx, "alpha", "pods"), 7);

    fl_index_stats stats;
    fl_index_stats_get(idx, &stats);
    T_CHECK(stats.full > 0); /* the back-pressure paths did run (hold_write_lock) */
    fprintf(stderr, "index: %lld submitted, %lld FL_EFULL answers\n", (long long)stats.submitted,
            (long long)stats.full);

    fl_collector_free(c);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    fl_index_close(idx);
out:
    kill_fake(&a);
    kill_fake(&b);
    kill_fake(&g);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (getenv("FLOTILLA_LOG") == NULL)
        fl_log_set_level(FL_LOG_WARN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fl-test-collector-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_fleet();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done();
}
