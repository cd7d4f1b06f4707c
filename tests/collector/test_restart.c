/*
 * tests/collector/test_restart.c: crash safety of the whole daemon. The
 * real `flotilla serve` ($FLOTILLA_BIN) watches a fake member
 * (fake_apiserver.py) that churns pods every 5 ms; the daemon is SIGKILLed
 * at random moments 20 times (during the initial sync and during churn),
 * then runs once more and drains on SIGTERM. Afterwards the set of
 * (namespace, name, resourceVersion) in the index equals the member's, and
 * a pod nobody touched kept the synced time of its first write.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "index/index.h"
#include "kube/kube.h"
#include "tests/collector/fake.h"
#include "tests/test.h"

static char tmpdir[128];

static pid_t spawn(const char *const *argv, int *port_out)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        if (!port_out) { /* the daemon: quiet */
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 2);
        }
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    if (port_out) {
        char buf[32] = {0};
        size_t n = 0;
        while (n < sizeof buf - 1 && !memchr(buf, '\n', n)) {
            ssize_t got = read(fds[0], buf + n, sizeof buf - 1 - n);
            if (got <= 0)
                break;
            n += (size_t)got;
        }
        char *nl = memchr(buf, '\n', n);
        int64_t p = 0;
        if (nl)
            fl_parse_i64(buf, (size_t)(nl - buf), &p);
        *port_out = (int)p;
    }
    close(fds[0]);
    return pid;
}

/* "ns/name@rv" lines of the member's pods, sorted, in out. */
static int member_pods(int port, json_t **out)
{
    char server[64];
    fl_kube_conn_info info = FL_KUBE_CONN_INFO_INIT;
    fl_kube_conn *conn = NULL;
    fl_kube_response res;
    snprintf(server, sizeof server, "http://127.0.0.1:%d", port);
    info.server = server;
    if (fl_kube_conn_new(&info, &conn, NULL) != 0)
        return -1;
    int rc = fl_kube_get_sync(conn, "/api/v1/pods", 10000, &res, NULL);
    json_t *doc = NULL, *set = json_array();
    if (rc == 0 && fl_json_parse(res.body.data, res.body.len, &doc, NULL) == 0) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(doc, "items"), i, it) {
            char line[512];
            snprintf(line, sizeof line, "%s/%s@%s", fl_obj_str(it, "metadata.namespace"),
                     fl_obj_str(it, "metadata.name"), fl_obj_str(it, "metadata.resourceVersion"));
            json_array_append_new(set, json_string(line));
        }
    }
    json_decref(doc);
    fl_kube_response_done(&res);
    fl_kube_conn_unref(conn);
    *out = set;
    return rc;
}

typedef struct rows {
    json_t *set;
    int64_t pod0_synced;
} rows;

static int collect(void *arg, const fl_index_row *row)
{
    rows *r = arg;
    char line[512];
    snprintf(line, sizeof line, "%s/%s@%s", row->namespace_, row->name, row->resource_version);
    json_array_append_new(r->set, json_string(line));
    if (!strcmp(row->name, "pod-0"))
        r->pod0_synced = row->synced_ms;
    return 0;
}

static int index_pods(const char *db, rows *out)
{
    fl_index *idx = NULL;
    fl_index_reader *rd = NULL;
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_err err = FL_ERR_INIT;
    io.path = db;
    out->set = json_array();
    out->pod0_synced = 0;
    if (fl_index_open(&io, &idx, &err) != 0) {
        fprintf(stderr, "index: %s\n", err.msg);
        return -1;
    }
    const char *cl[] = {"alpha"};
    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = "";
    q.resource = "pods";
    q.clusters = cl;
    q.n_clusters = 1;
    int rc = fl_index_reader_new(idx, &rd, NULL);
    if (!rc)
        rc = fl_index_list(rd, &q, collect, out, NULL, NULL);
    fl_index_reader_free(rd);
    fl_index_close(idx);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, newline-joined text of a JSON array of strings. */
static char *sorted_text(json_t *set)
{
    size_t n = json_array_size(set);
    const char **v = calloc(n ? n : 1, sizeof *v);
    fl_buf b = FL_BUF_INIT(16u << 20);
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_string_value(json_array_get(set, i));
    if (v)
        qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 0; v && i < n; i++)
        fl_buf_printf(&b, "%s\n", v[i]);
    free(v);
    if (!b.data)
        fl_buf_puts(&b, "");
    return fl_buf_steal(&b);
}

static pid_t start_daemon(const char *bin, const char *cfg)
{
    const char *argv[] = {bin, "serve", "-c", cfg, "--listen", "127.0.0.1:0", NULL};
    return spawn(argv, NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *bin = getenv("FLOTILLA_BIN"), *src = getenv("FLOTILLA_SRC");
    char fakepy[512], cfg[300], kc[300], db[300];
    if (!bin || !src)
        return 77; /* skipped */
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fl-test-restart-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    snprintf(fakepy, sizeof fakepy, "%s/tests/collector/fake_apiserver.py", src);
    const char *fargv[] = {"/usr/bin/python3", fakepy, "--pods", "200", NULL};
    int port = 0;
    pid_t member = spawn(fargv, &port);
    T_CHECK(port > 0);
    snprintf(kc, sizeof kc, "%s/alpha.kubeconfig", tmpdir);
    snprintf(cfg, sizeof cfg, "%s/flotilla.yaml", tmpdir);
    snprintf(db, sizeof db, "%s/flotilla-data/index.db", tmpdir);
    FILE *f = fopen(kc, "w");
    if (f) {
        fprintf(f,
                "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n"
                "  cluster: {server: \"http://127.0.0.1:%d\"}\nusers:\n- name: u\n  user: {}\n"
                "contexts:\n- name: c\n  context: {cluster: c, user: u}\n",
                port);
        fclose(f);
    }
    f = fopen(cfg, "w");
    if (f) {
        fprintf(f, "members:\n- {name: alpha, kubeconfig: alpha.kubeconfig}\n"
                   "sync:\n  resources: [{version: v1, resources: [pods]}]\n  pageSize: 20\n"
                   "  healthInterval: 200ms\n");
        fclose(f);
    }
    /* first run: a clean initial sync, to learn pod-0's synced time */
    pid_t d = start_daemon(bin, cfg);
    usleep(1500000);
    kill(d, SIGTERM);
    int st = 0;
    waitpid(d, &st, 0);
    T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    rows first;
    T_EQ_INT(index_pods(db, &first), 0);
    T_EQ_INT(json_array_size(first.set), 201);
    T_CHECK(first.pod0_synced > 0);
    json_decref(first.set);

    /* 20 SIGKILLs at random moments while the member churns */
    control(&(fake){member, port}, "churn", "{\"on\":true}");
    unsigned seed = 12345;
    for (int i = 0; i < 20; i++) {
        d = start_daemon(bin, cfg);
        usleep(50000 + (useconds_t)(rand_r(&seed) % 400000));
        kill(d, SIGKILL);
        waitpid(d, NULL, 0);
    }
    control(&(fake){member, port}, "churn", "{\"on\":false}");

    /* last run: converge, drain */
    d = start_daemon(bin, cfg);
    usleep(2500000);
    kill(d, SIGTERM);
    waitpid(d, &st, 0);
    T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    json_t *want = NULL;
    rows have;
    T_EQ_INT(member_pods(port, &want), 0);
    T_EQ_INT(index_pods(db, &have), 0);
    char *a = sorted_text(want), *b = sorted_text(have.set);
    T_CHECK(a && b && strcmp(a, b) == 0);
    if (a && b && strcmp(a, b) != 0)
        fprintf(stderr, "member has %zu pods, index %zu\n", json_array_size(want),
                json_array_size(have.set));
    T_EQ_INT(have.pod0_synced, first.pod0_synced); /* untouched row not rewritten */
    free(a);
    free(b);
    json_decref(want);
    json_decref(have.set);

    kill(member, SIGKILL);
    waitpid(member, NULL, 0);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done();
}
