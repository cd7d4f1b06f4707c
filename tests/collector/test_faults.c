/*
 * tests/collector/test_faults.c: misbehaving members against real loopback
 * servers (tests/collector/fake_apiserver.py), beside a healthy member that
 * must keep flowing (a create visible within a second) the whole time:
 * a 50 MB object in a list page and in a watch (capped at 16 MiB, the page
 * retried smaller, then the error shown), 403, a cut list page (malformed
 * JSON: nothing deleted), a member whose API and health endpoint hang
 * (request timeout, Unreachable), list items and watch objects without
 * metadata (skipped, nothing else lost), HTTPS with a wrong CA and with an expired
 * certificate (Unreachable, the TLS error shown), and HTTPS done right.
 * Each failure is logged once per state change (stderr is captured and the
 * lines counted), shown in the status, and recovery follows the fix.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/collector/fake.h"
#include "tests/test.h"

static char tmpdir[128], logpath[256];

/* Lines of the captured log holding both a and b. */
static int log_lines(const char *a, const char *b)
{
    fl_buf text = FL_BUF_INIT(64u << 20);
    fl_err err = FL_ERR_INIT;
    int n = 0;
    if (fl_buf_read_file(&text, logpath, &err) != 0 || !text.data) {
        fl_buf_done(&text);
        return -1;
    }
    for (char *line = text.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (strstr(line, a) && strstr(line, b))
            n++;
        line = nl ? nl + 1 : NULL;
    }
    fl_buf_done(&text);
    return n;
}

/* Copy s without digits (error texts carry timings). */
static void strip_digits(const char *s, char *out, size_t n)
{
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        if (*s < '0' || *s > '9')
            out[k++] = *s;
    out[k] = 0;
}

/* "Logged once per state change": among the captured lines holding
 * prefix, how many repeat the previous one (timestamps and digits aside). */
static int log_repeats(const char *prefix)
{
    fl_buf text = FL_BUF_INIT(64u << 20);
    fl_err err = FL_ERR_INIT;
    char prev[512] = "", cur[512];
    int repeats = 0;
    if (fl_buf_read_file(&text, logpath, &err) != 0 || !text.data) {
        fl_buf_done(&text);
        return -1;
    }
    for (char *line = text.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        const char *at = strstr(line, prefix);
        if (at) {
            strip_digits(at, cur, sizeof cur);
            if (!strcmp(cur, prev)) {
                repeats++;
                fprintf(stderr, "repeated log line: %s\n", line);
            }
            fl_strlcpy(prev, cur, sizeof prev);
        }
        line = nl ? nl + 1 : NULL;
    }
    fl_buf_done(&text);
    return repeats;
}

/* The healthy member still takes a create within a second. */
static void ok_flows(fl_index *idx, const fake *ok, int *n)
{
    char body[160];
    snprintf(body, sizeof body,
             "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"ok-%d\"}", *n);
    control(ok, "upsert", body);
    (*n)++;
    int64_t sec = second();
    int64_t ms = wait_count(idx, "ok", "pods", 6 + *n, sec); /* + kube-system/coredns */
    T_CHECK(ms >= 0 && ms < sec);
}

/* Force a relist of bad's pods: cut the watch, move the resourceVersion on
 * (a configmap, not synced here) and forget the history: the resumed watch
 * gets 410. */
static void force_relist(const fake *bad)
{
    control(bad, "drop", "{}");
    control(bad, "upsert",
            "{\"resource\":\"configmaps\",\"namespace\":\"default\",\"name\":\"rv\"}");
    control(bad, "compact", "{}");
}

static void big_object(fl_collector *c, fl_index *idx, const fake *ok, const fake *bad, int *n)
{
    /* in a list page: 500 -> 50 -> 5 -> 1, then the error; nothing deleted */
    control(bad, "fault", "{\"mode\":\"big\",\"watches\":false}");
    force_relist(bad);
    T_CHECK(
        wait_status(c, "bad", "pods", "lastError", "larger than the 16777216-byte limit", 10000));
    T_CHECK(wait_status(c, "bad", "pods", "phase", "Backoff", 5000));
    ok_flows(idx, ok, n);
    int64_t relists = status_int(c, "bad", "pods", "relists");
    int64_t t0 = fl_mono_ms();
    while (status_int(c, "bad", "pods", "relists") < relists + 2 && fl_mono_ms() - t0 < 10000)
        usleep(20000); /* it keeps trying, with backoff */
    T_CHECK(status_int(c, "bad", "pods", "relists") >= relists + 2);
    T_EQ_INT(count(idx, "bad", "pods"), 4);
    T_EQ_INT(log_lines("bad pods: Backoff", "larger than"), 1); /* logged once */
    T_EQ_INT(log_repeats("bad pods: "), 0);
    /* in a watch: the event line is over the cap */
    control(bad, "fault", "{\"mode\":\"big\",\"lists\":false}");
    T_CHECK(wait_status(c, "bad", "pods", "phase", "Watching", 10000));
    control(bad, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"b1\"}");
    T_CHECK(wait_status(c, "bad", "pods", "lastError", "longer than", 10000));
    ok_flows(idx, ok, n);
    control(bad, "fault", "{\"mode\":\"\"}");
    T_CHECK(wait_count(idx, "bad", "pods", 5, 10000) >= 0);
    T_CHECK(wait_status(c, "bad", "pods", "phase", "Watching", 5000));
}

static void http_faults(fl_collector *c, fl_index *idx, const fake *ok, const fake *bad, int *n)
{
    char rv[64];
    /* 403 on lists and watches */
    control(bad, "fault", "{\"mode\":\"403\"}");
    force_relist(bad);
    T_CHECK(wait_status(c, "bad", "pods", "lastError", "403 Forbidden", 10000));
    T_CHECK(wait_status(c, "bad", NULL, "health", "Ready", 100));
    ok_flows(idx, ok, n);
    /* a cut list page: the relist fails and deletes nothing */
    control(bad, "fault", "{\"mode\":\"truncated\"}");
    control(bad, "vanish", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"pod-0\"}");
    force_relist(bad);
    T_CHECK(wait_status(c, "bad", "pods", "lastError", "malformed JSON", 10000));
    T_EQ_INT(count(idx, "bad", "pods"), 5);
    obj_rv(idx, "bad", "pods", "default", "pod-1", rv);
    T_CHECK(rv[0] != 0);
    T_EQ_INT(log_lines("bad pods: Backoff", "malformed JSON"), 1);
    ok_flows(idx, ok, n);
    /* list items and watch objects without metadata: skipped, nothing else
     * lost; a relist with unreadable items deletes nothing (pod-0, gone from
     * the member, stays until a clean relist) */
    control(bad, "fault", "{\"mode\":\"nometa\"}");
    int64_t relists = status_int(c, "bad", "pods", "relists"), t0 = fl_mono_ms();
    force_relist(bad);
    while (status_int(c, "bad", "pods", "relists") == relists && fl_mono_ms() - t0 < 10000)
        usleep(20000);
    T_CHECK(wait_status(c, "bad", "pods", "phase", "Watching", 10000));
    control(bad, "upsert", "{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"nm\"}");
    T_CHECK(wait_status(c, "bad", "pods", "lastError", "without metadata", 10000));
    T_CHECK(wait_count(idx, "bad", "pods", 6, 10000) >= 0); /* +nm; pod-0 kept */
    obj_rv(idx, "bad", "pods", "default", "pod-1", rv);
    T_CHECK(rv[0] != 0);
    control(bad, "fault", "{\"mode\":\"\"}");
    force_relist(bad);
    T_CHECK(wait_count(idx, "bad", "pods", 5, 10000) >= 0); /* clean relist: -pod-0 */
    /* everything hangs, /readyz too: request timeout, then Unreachable */
    control(bad, "fault", "{\"mode\":\"hang\",\"health\":true}");
    force_relist(bad);
    T_CHECK(wait_status(c, "bad", NULL, "health", "Unreachable", 10000));
    T_CHECK(wait_status(c, "bad", "pods", "lastError", "imeout", 20000));
    ok_flows(idx, ok, n);
    T_CHECK(log_lines("cluster bad: Unreachable", "Timeout") >= 1);
    /* fixed: Ready again, in sync */
    control(bad, "fault", "{\"mode\":\"\"}");
    T_CHECK(wait_status(c, "bad", NULL, "health", "Ready", 10000));
    T_CHECK(wait_count(idx, "bad", "pods", 5, 15000) >= 0);
    T_CHECK(wait_status(c, "bad", "pods", "phase", "Watching", 5000));
    T_CHECK(log_lines("cluster bad: Ready", "") >= 2); /* at start, and now */
    /* each state change logged once: no line repeats the one before */
    T_EQ_INT(log_repeats("cluster bad: "), 0);
    T_EQ_INT(log_repeats("bad pods: "), 0);
    T_EQ_INT(log_repeats("cluster ok: "), 0);
    T_EQ_INT(log_lines("cluster expired: ", ""), 1);
    T_EQ_INT(log_lines("cluster wrongca: ", ""), 1);
}

static void tls(fl_collector *c, fl_index *idx)
{
    T_CHECK(wait_count(idx, "tls", "pods", 3, 10000) >= 0); /* + coredns */
    T_CHECK(wait_status(c, "tls", "pods", "phase", "Watching", 5000));
    T_CHECK(wait_status(c, "wrongca", NULL, "health", "Unreachable", 10000));
    T_CHECK(wait_status(c, "wrongca", NULL, "lastError", "certificate", 100));
    T_CHECK(wait_status(c, "expired", NULL, "health", "Unreachable", 10000));
    T_CHECK(wait_status(c, "expired", NULL, "lastError", "expired", 100));
    T_EQ_INT(count(idx, "wrongca", "pods"), 0);
    T_EQ_INT(count(idx, "expired", "pods"), 0);
    T_EQ_INT(log_lines("cluster expired: Unreachable", "expired"), 1);
}

static void run(void)
{
    fake ok = {0}, bad = {0}, tok = {0}, texp = {0};
    char tdir[200], edir[200], ca[256], eca[256];
    snprintf(tdir, sizeof tdir, "%s/tls-ok", tmpdir);
    snprintf(edir, sizeof edir, "%s/tls-expired", tmpdir);
    const char *okargs[] = {"--pods", "5", NULL};
    const char *badargs[] = {"--pods", "3", NULL};
    const char *targs[] = {"--pods", "2", "--tls-dir", tdir, NULL};
    const char *eargs[] = {"--pods", "2", "--tls-dir", edir, "--tls-expired", NULL};
    T_EQ_INT(spawn_fake(&ok, okargs), 0);
    T_EQ_INT(spawn_fake(&bad, badargs), 0);
    T_EQ_INT(spawn_fake(&tok, targs), 0);
    T_EQ_INT(spawn_fake(&texp, eargs), 0);
    snprintf(ca, sizeof ca, "%s/ca.crt", tdir);
    snprintf(eca, sizeof eca, "%s/ca.crt", edir);
    char kok[256], kbad[256], kt[256], kw[256], ke[256], db[256];
    write_kubeconfig(tmpdir, "ok", ok.port, NULL, kok, sizeof kok);
    write_kubeconfig(tmpdir, "bad", bad.port, NULL, kbad, sizeof kbad);
    write_kubeconfig(tmpdir, "tls", tok.port, ca, kt, sizeof kt);
    write_kubeconfig(tmpdir, "wrongca", tok.port, eca, kw, sizeof kw); /* another CA */
    write_kubeconfig(tmpdir, "expired", texp.port, eca, ke, sizeof ke);
    snprintf(db, sizeof db, "%s/index.db", tmpdir);

    fl_index *idx = NULL;
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    io.path = db;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&io, &idx, &err), 0);
    if (!idx)
        goto out;
    const char *core[] = {"pods"};
    fl_collector_gv gvs[] = {{"", "v1", core, 1}};
    fl_collector_member mem[] = {{"ok", kok, NULL},
                                 {"bad", kbad, NULL},
                                 {"tls", kt, NULL},
                                 {"wrongca", kw, NULL},
                                 {"expired", ke, NULL}};
    fl_collector_opts co = FL_COLLECTOR_OPTS_INIT;
    co.index = idx;
    co.members = mem;
    co.nmembers = 5;
    co.resources = gvs;
    co.nresources = 1;
    co.health_interval_ms = 300;
    co.health_timeout_ms = 2000; /* probes must not time out on a loaded machine */
    co.discovery_interval_ms = 1000;
    co.request_timeout_ms = 8000; /* a 16 MiB page must arrive on a loaded machine */
    co.stall_timeout_ms = 3000;
    co.watch_timeout_ms = 1000; /* a hung watch is silence past its own timeoutSeconds */
    co.backoff_max_ms = 800;
    fl_collector *c = NULL;
    T_EQ_INT(fl_collector_new(&co, &c, &err), 0);
    T_EQ_INT(fl_collector_start(c, &err), 0);
    T_CHECK(wait_count(idx, "ok", "pods", 6, 10000) >= 0); /* + kube-system/coredns */
    T_CHECK(wait_count(idx, "bad", "pods", 4, 10000) >= 0);
    T_CHECK(wait_status(c, "bad", "pods", "phase", "Watching", 5000));
    int n = 0;
    tls(c, idx);
    big_object(c, idx, &ok, &bad, &n);
    http_faults(c, idx, &ok, &bad, &n);
    fl_collector_free(c);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    fl_index_close(idx);
out:
    kill_fake(&ok);
    kill_fake(&bad);
    kill_fake(&tok);
    kill_fake(&texp);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fl-test-faults-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    /* stderr goes to a file the test reads (log lines are counted); it is
     * copied back to the real stderr at the end */
    snprintf(logpath, sizeof logpath, "%s/log", tmpdir);
    int saved = dup(2), fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0 || dup2(fd, 2) < 0)
        return 1;
    close(fd);
    fl_log_set_level(FL_LOG_INFO);
    run();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -v ' DEBUG ' %s | tail -n 60 >&2; rm -rf %s", logpath, tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done();
}
