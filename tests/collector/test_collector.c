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
#include "tests/test.h"

typedef struct fake {
    pid_t pid;
    int port;
} fake;

static char tmpdir[128];

static int spawn_fake(fake *f, const char *const *extra)
{
    const char *src = getenv("FLOTILLA_SRC");
    char script[512];
    int fds[2];
    snprintf(script, sizeof script, "%s/tests/collector/fake_apiserver.py", src ? src : ".");
    if (pipe(fds) != 0)
        return -1;
    f->pid = fork();
    if (f->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* no orphans if the test dies */
        const char *argv[16] = {"/usr/bin/python3", script};
        size_t n = 2;
        for (size_t i = 0; extra && extra[i] && n < 15; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[32] = {0};
    size_t n = 0;
    while (n < sizeof buf - 1 && !memchr(buf, '\n', n)) {
        ssize_t got = read(fds[0], buf + n, sizeof buf - 1 - n);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(fds[0]);
    int64_t port = 0;
    char *nl = memchr(buf, '\n', n);
    if (!nl || fl_parse_i64(buf, (size_t)(nl - buf), &port) != 0)
        return -1;
    f->port = (int)port;
    return 0;
}

static void kill_fake(fake *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
    }
}

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

static void write_kubeconfig(const char *name, int port, char *path, size_t n)
{
    snprintf(path, n, "%s/%s.kubeconfig", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f,
            "apiVersion: v1\nkind: Config\ncurrent-context: %s\n"
            "clusters:\n- name: %s\n  cluster: {server: \"http://127.0.0.1:%d\"}\n"
            "users:\n- name: admin\n  user: {token: secret-%s}\n"
            "contexts:\n- name: %s\n  context: {cluster: %s, user: admin}\n",
            name, name, port, name, name, name);
    fclose(f);
}

static int control(const fake *f, const char *what, const char *body)
{
    char server[64], path[64];
    fl_kube_conn_info info = FL_KUBE_CONN_INFO_INIT;
    fl_kube_conn *conn = NULL;
    fl_kube_response res;
    snprintf(server, sizeof server, "http://127.0.0.1:%d", f->port);
    snprintf(path, sizeof path, "/control/%s", what);
    info.server = server;
    if (fl_kube_conn_new(&info, &conn, NULL) != 0)
        return -1;
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    rq.method = FL_KUBE_POST;
    rq.path = path;
    rq.body = body;
    rq.body_len = strlen(body);
    int rc = fl_kube_request_sync(conn, &rq, NULL, &res, NULL);
    fl_kube_response_done(&res);
    fl_kube_conn_unref(conn);
    return rc;
}

static int64_t count(fl_index *idx, const char *cluster, const char *resource)
{
    fl_index_reader *rd = NULL;
    int64_t n = -1;
    const char *cl[] = {cluster};
    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = "";
    q.resource = resource;
    q.clusters = cl;
    q.n_clusters = 1;
    if (fl_index_reader_new(idx, &rd, NULL) == 0)
        fl_index_count(rd, &q, &n, NULL);
    fl_index_reader_free(rd);
    return n;
}

static int copy_rv(void *arg, const fl_index_row *row)
{
    fl_strlcpy(arg, row->resource_version, 64);
    return 0;
}

/* resourceVersion of a pod in the index, "" when absent. */
static void pod_rv(fl_index *idx, const char *cluster, const char *ns, const char *name,
                   char out[64])
{
    fl_index_reader *rd = NULL;
    fl_index_key k = {cluster, "", "v1", "pods", ns, name};
    out[0] = 0;
    if (fl_index_reader_new(idx, &rd, NULL) == 0)
        fl_index_get(rd, &k, copy_rv, out, NULL);
    fl_index_reader_free(rd);
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
        pod_rv(idx, cluster, ns, name, rv);
        if ((rv[0] != 0) == want)
            return fl_mono_ms() - t0;
        usleep(10000);
    }
    fprintf(stderr, "wait_pod %s %s/%s: still %s\n", cluster, ns, name, want ? "absent" : "there");
    return -1;
}

static int64_t wait_count(fl_index *idx, const char *cluster, const char *res, int64_t want,
                          int64_t timeout_ms)
{
    int64_t t0 = fl_mono_ms();
    while (fl_mono_ms() - t0 < timeout_ms) {
        fl_index_flush(idx, 1000);
        if (count(idx, cluster, res) == want)
            return fl_mono_ms() - t0;
        usleep(10000);
    }
    fprintf(stderr, "wait_count %s %s: have %lld, want %lld\n", cluster, res,
            (long long)count(idx, cluster, res), (long long)want);
    return -1;
}

static json_t *find_res(json_t *st, const char *cluster, const char *resource)
{
    size_t i, j;
    json_t *cl, *r;
    json_array_foreach(json_object_get(st, "clusters"), i, cl) {
        if (strcmp(fl_obj_str(cl, "name"), cluster))
            continue;
        if (!resource)
            return cl;
        json_array_foreach(json_object_get(cl, "resources"), j, r)
            if (!strcmp(fl_obj_str(r, "resource"), resource))
                return r;
    }
    return NULL;
}

/* Wait until the status field of (cluster, resource) equals want. */
static bool wait_status(fl_collector *c, const char *cluster, const char *res, const char *field,
                        const char *want, int64_t timeout_ms)
{
    int64_t t0 = fl_mono_ms();
    char last[256] = "";
    while (fl_mono_ms() - t0 < timeout_ms) {
        json_t *st = fl_collector_status(c);
        const char *v = fl_obj_str(find_res(st, cluster, res), field);
        bool ok = v && strstr(v, want) != NULL;
        fl_strlcpy(last, v ? v : "(none)", sizeof last);
        json_decref(st);
        if (ok)
            return true;
        usleep(20000);
    }
    fprintf(stderr, "wait_status %s %s %s: have \"%s\", want \"%s\"\n", cluster,
            res ? res : "", field, last, want);
    return false;
}

static int64_t status_int(fl_collector *c, const char *cluster, const char *res, const char *f)
{
    json_t *st = fl_collector_status(c);
    int64_t v = json_integer_value(json_object_get(find_res(st, cluster, res), f));
    json_decref(st);
    return v;
}

/* The bound for "visible within a second": 1000 ms, or 3000 ms while the
 * machine runs more than two runnable tasks per core (the suite runs beside
 * other builds; a latency check must not turn into a load test). */
static int64_t second(void)
{
    double load[1];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (getloadavg(load, 1) == 1 && cpus > 0 && load[0] > 2.0 * (double)cpus) {
        fprintf(stderr, "load average %.1f on %ld cores: \"within a second\" allows 3 s\n",
                load[0], cpus);
        return 3000;
    }
    return 1000;
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
    write_kubeconfig("alpha", a.port, ka, sizeof ka);
    write_kubeconfig("beta", b.port, kb, sizeof kb);
    write_kubeconfig("dead", dead_port(), kd, sizeof kd);
    write_kubeconfig("gamma", g.port, kg, sizeof kg);
    snprintf(db, sizeof db, "%s/index.db", tmpdir);

    fl_index *idx = NULL;
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    io.path = db;
    io.queue_max_items = 3; /* tiny: back-pressure (FL_EFULL) happens all the time */
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
    fl_collector_member mem[] = {{"alpha", ka, NULL}, {"beta", kb, NULL}, {"dead", kd, NULL},
                                 {"gamma", kg, NULL}};
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
    co.backoff_max_ms = 1000;
    fl_collector *c = NULL;
    T_EQ_INT(fl_collector_new(&co, &c, &err), 0);
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
    pod_rv(idx, "alpha", "default", "pod-0", rv);
    control(&a, "upsert",
            "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"pod-0\",\"labels\":{\"x\":\"y\"}}");
    int64_t t0 = fl_mono_ms();
    do {
        fl_index_flush(idx, 1000);
        pod_rv(idx, "alpha", "default", "pod-0", rv2);
    } while (!strcmp(rv, rv2) && fl_mono_ms() - t0 < sec);
    T_CHECK(rv[0] && strcmp(rv, rv2) != 0);
    control(&a, "delete", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"pod-1\"}");
    ms = wait_count(idx, "alpha", "pods", 5, sec);
    T_CHECK(ms >= 0 && ms < sec);
    pod_rv(idx, "alpha", "default", "pod-1", rv);
    T_EQ_STR(rv, "");

    /* a dropped watch resumes from the last RV: no relist */
    int64_t relists = status_int(c, "alpha", "pods", "relists");
    T_EQ_INT(relists, 1);
    control(&a, "drop", "{}");
    control(&a, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"after-drop\"}");
    T_CHECK(wait_count(idx, "alpha", "pods", 6, 5000) >= 0);
    T_EQ_INT(status_int(c, "alpha", "pods", "relists"), 1);

    /* 410: while the watch is cut, an object vanishes without an event and
     * the history is compacted: the resumed watch gets 410, the relist
     * deletes the vanished object */
    control(&a, "drop", "{}");
    control(&a, "vanish", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"pod-2\"}");
    control(&a, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"x\"}");
    control(&a, "compact", "{}");
    /* the count is 6 before and after (-pod-2 +x): wait for each change */
    T_CHECK(wait_pod(idx, "alpha", "default", "x", true, 8000) >= 0);
    T_CHECK(wait_pod(idx, "alpha", "default", "pod-2", false, 8000) >= 0);
    T_EQ_INT(count(idx, "alpha", "pods"), 6);
    T_CHECK(wait_status(c, "alpha", "pods", "phase", "Watching", 5000));
    pod_rv(idx, "alpha", "default", "pod-2", rv);
    T_EQ_STR(rv, "");
    T_EQ_INT(status_int(c, "alpha", "pods", "relists"), 2);

    /* beta misbehaves: garbage lines in watches are skipped and reported */
    control(&b, "fault", "{\"mode\":\"garbage\",\"lists\":false}");
    control(&b, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"g\"}");
    T_CHECK(wait_count(idx, "beta", "pods", 3, 5000) >= 0);
    T_CHECK(wait_status(c, "beta", "pods", "lastError", "malformed event", 5000));
    T_CHECK(status_int(c, "beta", "pods", "badEvents") >= 1);
    /* ... then answers HTML to lists after a 410 */
    control(&b, "fault", "{\"mode\":\"html\",\"watches\":false}");
    control(&b, "drop", "{}");
    control(&b, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"h\"}");
    control(&b, "compact", "{}");
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
    control(&a, "upsert", "{\"resource\":\"deployments\",\"namespace\":\"default\",\"name\":\"d\"}");
    control(&a, "apps", "{\"on\":true}");
    T_CHECK(wait_status(c, "alpha", "deployments", "phase", "Watching", 5000));
    T_CHECK(wait_status(c, "beta", "deployments", "phase", "Skipped", 100));
    /* ... and goes away again */
    control(&a, "apps", "{\"on\":false}");
    T_CHECK(wait_status(c, "alpha", "deployments", "phase", "Skipped", 5000));

    /* watch events without metadata are skipped and reported */
    control(&b, "fault", "{\"mode\":\"nometa\",\"lists\":false}");
    control(&b, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"m\"}");
    T_CHECK(wait_count(idx, "beta", "pods", 5, 5000) >= 0);
    T_CHECK(wait_status(c, "beta", "pods", "lastError", "without metadata.resourceVersion", 5000));
    control(&b, "fault", "{\"mode\":\"\"}");

    /* a stalled watch (headers, then silence) is detected and restarted */
    control(&b, "fault", "{\"mode\":\"silent\",\"lists\":false}");
    control(&b, "drop", "{}");
    T_CHECK(wait_status(c, "beta", "pods", "lastError", "Timeout", 8000));
    control(&b, "fault", "{\"mode\":\"\"}");
    control(&b, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"s\"}");
    T_CHECK(wait_count(idx, "beta", "pods", 6, 8000) >= 0);
    T_CHECK(wait_status(c, "beta", "pods", "phase", "Watching", 5000));
    /* beta being stuck never touched alpha */
    T_EQ_INT(count(idx, "alpha", "pods"), 7);

    fl_index_stats stats;
    fl_index_stats_get(idx, &stats);
    T_CHECK(stats.full > 0); /* the back-pressure paths did run */
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
