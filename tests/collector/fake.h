/*
 * tests/collector/fake.h: helpers shared by the collector's test programs
 * (each includes it once): start and stop fake member clusters
 * (fake_apiserver.py), write their kubeconfigs, drive them through
 * /control/..., and poll the index and the collector's status until a
 * condition holds (never a fixed sleep). Test-only; static functions.
 */
#ifndef FL_TESTS_COLLECTOR_FAKE_H
#define FL_TESTS_COLLECTOR_FAKE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector/collector.h"
#include "index/index.h"
#include "kube/kube.h"

typedef struct fake {
    pid_t pid;
    int port;
} fake;

/* Start fake_apiserver.py with extra arguments (NULL-terminated); 0 or -1. */
static inline int spawn_fake(fake *f, const char *const *extra)
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
        const char *argv[24] = {"/usr/bin/python3", script};
        size_t n = 2;
        for (size_t i = 0; extra && extra[i] && n < 23; i++)
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

static inline void kill_fake(fake *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
}

/* dir/name.kubeconfig for http(s)://127.0.0.1:port; ca: a CA file or NULL. */
static inline void write_kubeconfig(const char *dir, const char *name, int port, const char *ca,
                                    char *path, size_t n)
{
    snprintf(path, n, "%s/%s.kubeconfig", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f,
            "apiVersion: v1\nkind: Config\ncurrent-context: %s\n"
            "clusters:\n- name: %s\n  cluster: {server: \"%s://127.0.0.1:%d\"%s%s%s}\n"
            "users:\n- name: admin\n  user: {token: secret-%s}\n"
            "contexts:\n- name: %s\n  context: {cluster: %s, user: admin}\n",
            name, name, ca ? "https" : "http", port, ca ? ", certificate-authority: \"" : "",
            ca ? ca : "", ca ? "\"" : "", name, name, name);
    fclose(f);
}

/* POST /control/<what> with a JSON body to a plain-HTTP fake. */
static inline int control(const fake *f, const char *what, const char *body)
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

/* The bound for "visible within a second": 1000 ms, or 3000 ms while the
 * machine runs more than two runnable tasks per core (the suite runs beside
 * other builds; a latency check must not turn into a load test). */
static inline bool overloaded(void)
{
    double load[1];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return getloadavg(load, 1) == 1 && cpus > 0 && load[0] > 2.0 * (double)cpus;
}

static inline int64_t second(void)
{
    if (overloaded()) {
        fprintf(stderr, "overloaded machine: \"within a second\" allows 3 s\n");
        return 3000;
    }
    return 1000;
}

/* An "eventually" wait's bound: timeout_ms, tripled on an overloaded
 * machine (what is awaited is a state, not a latency). */
static inline int64_t eventually(int64_t timeout_ms)
{
    return overloaded() ? 3 * timeout_ms : timeout_ms;
}

/* Live objects of (cluster, core resource) in the index, -1 on error. */
static inline int64_t count(fl_index *idx, const char *cluster, const char *resource)
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

static inline int copy_rv(void *arg, const fl_index_row *row)
{
    fl_strlcpy(arg, row->resource_version, 64);
    return 0;
}

/* resourceVersion of a core object in the index, "" when absent. */
static inline void obj_rv(fl_index *idx, const char *cluster, const char *resource, const char *ns,
                          const char *name, char out[64])
{
    fl_index_reader *rd = NULL;
    fl_index_key k = {cluster, "", "v1", resource, ns, name};
    out[0] = 0;
    if (fl_index_reader_new(idx, &rd, NULL) == 0)
        fl_index_get(rd, &k, copy_rv, out, NULL);
    fl_index_reader_free(rd);
}

/* Poll (with index flushes) until count == want; returns ms waited or -1. */
static inline int64_t wait_count(fl_index *idx, const char *cluster, const char *res, int64_t want,
                                 int64_t timeout_ms)
{
    int64_t t0 = fl_mono_ms();
    timeout_ms = eventually(timeout_ms);
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

/* The status entry of cluster (resource NULL) or of (cluster, resource). */
static inline json_t *find_res(json_t *st, const char *cluster, const char *resource)
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

/* Wait until the status string field of (cluster, resource) contains want. */
static inline bool wait_status(fl_collector *c, const char *cluster, const char *res,
                               const char *field, const char *want, int64_t timeout_ms)
{
    int64_t t0 = fl_mono_ms();
    char last[256] = "";
    timeout_ms = eventually(timeout_ms);
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
    fprintf(stderr, "wait_status %s %s %s: have \"%s\", want \"%s\"\n", cluster, res ? res : "",
            field, last, want);
    return false;
}

static inline int64_t status_int(fl_collector *c, const char *cluster, const char *res,
                                 const char *f)
{
    json_t *st = fl_collector_status(c);
    int64_t v = json_integer_value(json_object_get(find_res(st, cluster, res), f));
    json_decref(st);
    return v;
}

#endif
