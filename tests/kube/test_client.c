/* tests/kube/test_client.c: kube/client.h against a local HTTPS server
 * (tests/kube/client/server.py) with a CA and certificates made at test
 * time: CA checks, client certificates, tls-server-name, path prefixes,
 * Status results for HTTP and transport errors, exec plugin refresh on 401,
 * timeouts, streams (lines, truncation, line cap), cancellation, 100
 * concurrent requests on one loop, and the blocking helper. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "kube/kube.h"
#include "tests/test.h"

extern char **environ;

static char dir[64];
static int port_tls, port_mtls;
static pid_t server_pid;
static int server_stdin = -1;
static fl_cert_pair ca, other_ca, srv, cli;
static uv_loop_t *loop;

/* ---------------------------------------------------------------- setup */

static void put(const char *name, const char *content, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(content, f);
    fclose(f);
    chmod(path, mode);
}

static int start_server(void)
{
    const char *src = getenv("FLOTILLA_SRC");
    char script[512], ports[256];
    snprintf(script, sizeof script, "%s/tests/kube/client/server.py", src ? src : "..");
    int in[2];
    if (pipe(in) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    char *argv[] = {"/usr/bin/python3", script, dir, NULL};
    int rc = posix_spawn(&server_pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    if (rc != 0)
        return -1;
    server_stdin = in[1];
    fcntl(server_stdin, F_SETFD, FD_CLOEXEC);
    snprintf(ports, sizeof ports, "%s/ports", dir);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(ports, "r");
        if (f) {
            int n = fscanf(f, "%d %d", &port_tls, &port_mtls); /* test code reading our own file */
            fclose(f);
            if (n == 2)
                return 0;
        }
        usleep(50 * 1000);
    }
    return -1;
}

static void stop_server(void)
{
    if (server_stdin >= 0)
        close(server_stdin);
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
}

static int make_certs(void)
{
    fl_err e = FL_ERR_INIT;
    const char *hosts[] = {"127.0.0.1", "flotilla.test"};
    const char *groups[] = {"team-a"};
    if (fl_cert_ca_new("test-ca", 1, &ca, &e) || fl_cert_ca_new("other-ca", 1, &other_ca, &e) ||
        fl_cert_server_new(&ca, hosts, 2, 1, &srv, &e) ||
        fl_cert_client_new(&ca, "alice", groups, 1, 1, &cli, &e)) {
        fprintf(stderr, "certs: %s\n", e.msg);
        return -1;
    }
    put("ca.crt", ca.cert_pem, 0644);
    put("server.crt", srv.cert_pem, 0644);
    put("server.key", srv.key_pem, 0600);
    return 0;
}

/* A connection to our server from in-memory settings. */
static fl_kube_conn *conn_for(int port, const char *prefix, const fl_cert_pair *trust,
                              bool client_cert, const char *token)
{
    char server[256];
    snprintf(server, sizeof server, "https://127.0.0.1:%d%s", port, prefix ? prefix : "");
    fl_kube_conn_info in = FL_KUBE_CONN_INFO_INIT;
    in.server = server;
    if (trust) {
        in.ca_pem = trust->cert_pem;
        in.ca_pem_len = strlen(trust->cert_pem);
    }
    if (client_cert) {
        in.client_cert_pem = cli.cert_pem;
        in.client_cert_pem_len = strlen(cli.cert_pem);
        in.client_key_pem = cli.key_pem;
        in.client_key_pem_len = strlen(cli.key_pem);
    }
    in.token = token;
    fl_kube_conn *c = NULL;
    fl_err e = FL_ERR_INIT;
    if (fl_kube_conn_new(&in, &c, &e) != 0)
        fprintf(stderr, "conn: %s\n", e.msg);
    return c;
}

/* ---------------------------------------------------------------- running */

typedef struct {
    int calls;
    int err;
    long http;
    int code;
    char reason[64];
    char message[512];
    char warning[256];
    char *body;
    size_t body_len;
    uint64_t lines;
    bool retried;
    int64_t retry_after;
    /* line capture */
    int line_calls;
    char first_line[256];
    int cancel_after_lines; /* cancel own request after N lines (0: never) */
    int stop_after_lines;   /* return nonzero after N lines */
    int pause_mod;          /* refuse watch line i once when i % pause_mod == 0 */
    int accepted, pauses, out_of_order;
    bool refused; /* the last line was refused: the next must be it */
    uv_timer_t resume;
    fl_kube_req *req;
} capture;

static void on_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    capture *c = ud;
    c->calls++;
    c->err = res->err;
    c->http = res->http_status;
    c->code = res->code;
    snprintf(c->reason, sizeof c->reason, "%s", res->reason);
    snprintf(c->message, sizeof c->message, "%s", res->message);
    snprintf(c->warning, sizeof c->warning, "%s", res->warning);
    c->body_len = res->body.len;
    free(c->body);
    c->body = fl_buf_steal(&res->body);
    c->lines = res->lines;
    c->retried = res->retried;
    c->retry_after = res->retry_after_s;
}

static void resume_cb(uv_timer_t *t)
{
    capture *c = t->data;
    fl_kube_req_resume(c->req);
}

/* Back-pressure: refuse some lines once (pause), resume from a timer; every
 * line must still arrive exactly once and in order. */
static int pausing_line(capture *c, fl_kube_req *req, const char *line)
{
    int i = -1;
    sscanf(line, "{\"type\":\"ADDED\",\"object\":{\"i\":%d", &i);
    if (i % c->pause_mod == 0 && !c->refused) {
        c->refused = true;
        c->pauses++;
        c->req = req;
        uv_timer_start(&c->resume, resume_cb, c->pauses % 3, 0);
        return FL_KUBE_LINE_PAUSE;
    }
    c->refused = false;
    c->out_of_order += i != c->accepted;
    c->accepted++;
    return 0;
}

static int on_line(fl_kube_req *req, const char *line, size_t len, void *ud)
{
    capture *c = ud;
    c->line_calls++;
    if (c->pause_mod)
        return pausing_line(c, req, line);
    if (c->line_calls == 1)
        snprintf(c->first_line, sizeof c->first_line, "%.*s", (int)(len > 200 ? 200 : len), line);
    if (c->cancel_after_lines && c->line_calls == c->cancel_after_lines)
        fl_kube_req_cancel(req);
    if (c->stop_after_lines && c->line_calls == c->stop_after_lines)
        return 1;
    return 0;
}

static void capture_done(capture *c)
{
    free(c->body);
    c->body = NULL;
}

/* Start one request and run the loop until it is done. */
static int run(fl_kube_client *cl, const fl_kube_request *rq, capture *cap)
{
    int rc = fl_kube_client_request(cl, rq, rq->stream ? on_line : NULL, on_done, cap, &cap->req);
    if (rc)
        return rc;
    while (cap->calls == 0)
        uv_run(loop, UV_RUN_ONCE);
    return 0;
}

static int get(fl_kube_client *cl, const char *path, capture *cap)
{
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    rq.path = path;
    return run(cl, &rq, cap);
}

static fl_kube_client *client_for(fl_kube_conn *conn, const fl_kube_client_opts *opts)
{
    fl_kube_client *cl = NULL;
    fl_err e = FL_ERR_INIT;
    if (!conn || fl_kube_client_new(loop, conn, opts, &cl, &e) != 0) {
        fprintf(stderr, "client: %s\n", e.msg);
        return NULL;
    }
    return cl;
}

static void closed_cb(void *ud)
{
    (*(int *)ud)++;
}

static void close_client(fl_kube_client *cl)
{
    int closed = 0;
    if (!cl)
        return;
    fl_kube_client_close(cl, closed_cb, &closed);
    while (!closed)
        uv_run(loop, UV_RUN_ONCE);
    T_EQ_INT(closed, 1);
}

/* ---------------------------------------------------------------- tests */

static void test_tls(void)
{
    fl_kube_conn *conn = conn_for(port_tls, "/clusters/east", &ca, false, "tok1");
    fl_kube_client *cl = client_for(conn, NULL);
    capture cap = {0};
    T_EQ_INT(get(cl, "/ok", &cap), 0);
    T_EQ_INT(cap.calls, 1);
    T_EQ_INT(cap.err, 0);
    T_EQ_INT(cap.http, 200);
    json_t *j = cap.body ? json_loads(cap.body, 0, NULL) : NULL;
    T_EQ_STR(fl_obj_str(j, "path"), "/clusters/east/ok");
    T_EQ_STR(fl_obj_str(j, "auth"), "Bearer tok1");
    T_EQ_STR(fl_obj_str(j, "accept"), "application/json");
    T_EQ_STR(fl_obj_str(j, "user"), "");
    json_decref(j);
    T_EQ_STR(cap.warning, "299 - \"deprecated thing\"\n299 - \"second warning\"");
    capture_done(&cap);

    /* POST / PATCH bodies with a content type */
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    rq.method = FL_KUBE_PATCH;
    rq.path = "/echo";
    rq.body = "{\"a\":1}";
    rq.body_len = 7;
    rq.content_type = "application/merge-patch+json";
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(run(cl, &rq, &cap), 0);
    j = cap.body ? json_loads(cap.body, 0, NULL) : NULL;
    T_EQ_STR(fl_obj_str(j, "method"), "PATCH");
    T_EQ_STR(fl_obj_str(j, "content_type"), "application/merge-patch+json");
    T_EQ_STR(fl_obj_str(j, "body"), "{\"a\":1}");
    json_decref(j);
    capture_done(&cap);
    rq.method = FL_KUBE_DELETE;
    rq.content_type = NULL;
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(run(cl, &rq, &cap), 0);
    j = cap.body ? json_loads(cap.body, 0, NULL) : NULL;
    T_EQ_STR(fl_obj_str(j, "method"), "DELETE");
    T_EQ_STR(fl_obj_str(j, "content_type"), "application/json");
    json_decref(j);
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);

    /* the wrong CA fails with a TLS error */
    conn = conn_for(port_tls, NULL, &other_ca, false, NULL);
    cl = client_for(conn, NULL);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/ok", &cap), 0);
    T_EQ_INT(cap.err, FL_ETLS);
    T_EQ_STR(cap.reason, "TLSError");
    T_EQ_INT(cap.code, 0);
    T_EQ_INT(cap.http, 0);
    T_CHECK(cap.message[0] != 0);
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);

    /* client certificate required: missing, then presented */
    conn = conn_for(port_mtls, NULL, &ca, false, NULL);
    cl = client_for(conn, NULL);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/ok", &cap), 0);
    if (cap.err != FL_ETLS)
        fprintf(stderr, "mtls without cert: %d %s: %s\n", cap.err, cap.reason, cap.message);
    T_EQ_INT(cap.err, FL_ETLS);
    T_EQ_STR(cap.reason, "TLSError");
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);
    conn = conn_for(port_mtls, NULL, &ca, true, NULL);
    cl = client_for(conn, NULL);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/ok", &cap), 0);
    T_EQ_INT(cap.err, 0);
    j = cap.body ? json_loads(cap.body, 0, NULL) : NULL;
    T_EQ_STR(fl_obj_str(j, "user"), "alice");
    T_EQ_STR(fl_obj_str(j, "auth"), "");
    json_decref(j);
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);
}

static void test_tls_server_name(void)
{
    char server[128];
    snprintf(server, sizeof server, "https://127.0.0.1:%d", port_tls);
    fl_kube_conn_info in = FL_KUBE_CONN_INFO_INIT;
    in.server = server;
    in.ca_pem = ca.cert_pem;
    in.ca_pem_len = strlen(ca.cert_pem);
    in.tls_server_name = "flotilla.test";
    fl_kube_conn *conn = NULL;
    fl_err e = FL_ERR_INIT;
    T_EQ_INT(fl_kube_conn_new(&in, &conn, &e), 0);
    fl_kube_client *cl = client_for(conn, NULL);
    capture cap = {0};
    T_EQ_INT(get(cl, "/ok", &cap), 0);
    T_EQ_INT(cap.err, 0);
    json_t *j = cap.body ? json_loads(cap.body, 0, NULL) : NULL;
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", port_tls);
    T_EQ_STR(fl_obj_str(j, "host"), host);
    json_decref(j);
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);

    /* a name the certificate does not carry fails; insecure skips the check */
    in.tls_server_name = "wrong.test";
    conn = NULL;
    T_EQ_INT(fl_kube_conn_new(&in, &conn, &e), 0);
    cl = client_for(conn, NULL);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/ok", &cap), 0);
    T_EQ_INT(cap.err, FL_ETLS);
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);
    in.tls_server_name = NULL;
    in.ca_pem = NULL;
    in.ca_pem_len = 0;
    in.insecure_skip_tls_verify = true;
    conn = NULL;
    T_EQ_INT(fl_kube_conn_new(&in, &conn, &e), 0);
    cl = client_for(conn, NULL);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/ok", &cap), 0);
    T_EQ_INT(cap.err, 0);
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);
}

static void test_http_errors(void)
{
    fl_kube_conn *conn = conn_for(port_tls, NULL, &ca, false, "wrong");
    fl_kube_client *cl = client_for(conn, NULL);
    capture cap = {0};
    T_EQ_INT(get(cl, "/auth", &cap), 0);
    T_EQ_INT(cap.err, FL_EUNAUTHORIZED);
    T_EQ_INT(cap.code, 401);
    T_EQ_STR(cap.reason, "Unauthorized");
    T_EQ_STR(cap.message, "Unauthorized");
    T_CHECK(!cap.retried);
    capture_done(&cap);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/notfound", &cap), 0);
    T_EQ_INT(cap.err, FL_ENOTFOUND);
    T_EQ_STR(cap.reason, "NotFound");
    T_EQ_STR(cap.message, "pods \"x\" not found");
    capture_done(&cap);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/status500", &cap), 0);
    T_EQ_INT(cap.err, FL_EHTTP);
    T_EQ_INT(cap.code, 500);
    T_EQ_STR(cap.reason, "InternalError");
    T_EQ_STR(
        cap.message,
        "an error on the server (\"oops, internal\") has prevented the request from succeeding");
    capture_done(&cap);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/status418", &cap), 0);
    T_EQ_INT(cap.err, FL_EHTTP);
    T_EQ_INT(cap.code, 418);
    T_EQ_STR(cap.message,
             "the server responded with the status code 418 but did not return more information");
    T_EQ_INT(cap.retry_after, 7);
    capture_done(&cap);
    close_client(cl);

    /* body cap */
    fl_kube_client_opts o = FL_KUBE_CLIENT_OPTS_INIT;
    o.max_body = 1000;
    cl = client_for(conn, &o);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/big?n=999", &cap), 0);
    T_EQ_INT(cap.err, 0);
    T_EQ_INT(cap.body_len, 999);
    capture_done(&cap);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/big?n=5000", &cap), 0);
    T_EQ_INT(cap.err, -E2BIG);
    T_EQ_STR(cap.reason, "TooLarge");
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);

    /* connection refused: a port nobody listens on */
    conn = conn_for(1, NULL, &ca, false, NULL);
    cl = client_for(conn, NULL);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/ok", &cap), 0);
    T_EQ_INT(cap.err, -ECONNREFUSED);
    T_EQ_STR(cap.reason, "ConnectionRefused");
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);
}

static const char *plugin =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "n=$(cat \"$d/runs\" 2>/dev/null || echo 0); echo $((n+1)) > \"$d/runs\"\n"
    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
    "\"status\":{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}\\n' "
    "\"$(cat \"$d/plugin-token\")\" \"$(cat \"$d/plugin-exp\")\"\n";

static int runs(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/runs", dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    if (f) {
        if (fscanf(f, "%d", &n) != 1) /* test code reading our own file */
            n = 0;
        fclose(f);
    }
    return n;
}

static void test_exec_refresh(void)
{
    char kc[2048], path[256];
    put("plugin.sh", plugin, 0755);
    put("plugin-token", "t1\n", 0644);
    put("plugin-exp", "2099-01-01T00:00:00Z", 0644);
    put("valid-token", "t1\n", 0644);
    snprintf(kc, sizeof kc,
             "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
             "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:%d', "
             "certificate-authority: ca.crt}}]\n"
             "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
             "command: ./plugin.sh, interactiveMode: Never}}}]\n"
             "contexts: [{name: c, context: {cluster: c, user: u}}]\n",
             port_tls);
    put("kubeconfig", kc, 0600);
    snprintf(path, sizeof path, "%s/kubeconfig", dir);
    fl_kube_conn *conn = NULL;
    fl_err e = FL_ERR_INIT;
    T_EQ_INT(fl_kube_conn_load(path, NULL, &conn, &e), 0);
    fl_kube_client *cl = client_for(conn, NULL);
    if (!cl)
        return;
    capture cap = {0};
    T_EQ_INT(get(cl, "/auth", &cap), 0);
    T_EQ_INT(cap.err, 0);
    T_CHECK(!cap.retried);
    T_EQ_INT(runs(), 1);
    capture_done(&cap);
    /* cached: no new run */
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/auth", &cap), 0);
    T_EQ_INT(cap.err, 0);
    T_EQ_INT(runs(), 1);
    capture_done(&cap);
    /* the server rotates: 401, refresh, retry once, success */
    put("plugin-token", "t2\n", 0644);
    put("valid-token", "t2\n", 0644);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/auth", &cap), 0);
    T_EQ_INT(cap.err, 0);
    T_CHECK(cap.retried);
    T_EQ_INT(runs(), 2);
    T_CHECK(cap.body && strstr(cap.body, "\"t2\""));
    capture_done(&cap);
    /* still refused after the refresh: one retry only, then Unauthorized */
    put("valid-token", "t3\n", 0644);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/auth", &cap), 0);
    T_EQ_INT(cap.err, FL_EUNAUTHORIZED);
    T_CHECK(cap.retried);
    T_EQ_INT(runs(), 3);
    capture_done(&cap);
    /* a credential that has expired is fetched again before the request */
    put("plugin-exp", "2001-01-01T00:00:00Z", 0644);
    put("plugin-token", "t4\n", 0644);
    put("valid-token", "t4\n", 0644);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/auth", &cap), 0); /* cached t2 (2099): 401, refresh to t4 (expired) */
    T_EQ_INT(cap.err, 0);
    T_EQ_INT(runs(), 4);
    capture_done(&cap);
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(get(cl, "/auth", &cap), 0); /* t4 has expired: run before sending */
    T_EQ_INT(cap.err, 0);
    T_CHECK(!cap.retried);
    T_EQ_INT(runs(), 5);
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);
}

static void test_timeouts(void)
{
    fl_kube_conn *conn = conn_for(port_tls, NULL, &ca, false, NULL);
    fl_kube_client *cl = client_for(conn, NULL);
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    capture cap = {0};
    rq.path = "/hang";
    rq.stall_timeout_ms = 1000;
    int64_t t0 = fl_mono_ms();
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.err, -ETIMEDOUT);
    T_EQ_STR(cap.reason, "Timeout");
    T_CHECK(fl_mono_ms() - t0 < 5000);
    capture_done(&cap);
    /* a body that drips: no stall, but the total timeout cuts it */
    rq.path = "/slow";
    rq.stall_timeout_ms = 0;
    rq.timeout_ms = 800;
    memset(&cap, 0, sizeof cap);
    t0 = fl_mono_ms();
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.err, -ETIMEDOUT);
    T_CHECK(fl_mono_ms() - t0 < 4000);
    capture_done(&cap);
    close_client(cl);
    fl_kube_conn_unref(conn);
}

static void test_streams(void)
{
    fl_kube_conn *conn = conn_for(port_tls, NULL, &ca, false, NULL);
    fl_kube_client *cl = client_for(conn, NULL);
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    capture cap = {0};
    rq.stream = true;
    rq.path = "/watch?n=50";
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.err, 0);
    T_EQ_INT(cap.line_calls, 50);
    T_EQ_INT(cap.lines, 50);
    T_EQ_STR(cap.first_line, "{\"type\":\"ADDED\",\"object\":{\"i\":0}}");
    capture_done(&cap);

    /* a clean end in the middle of a line */
    rq.path = "/cutclean";
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.line_calls, 1);
    T_EQ_INT(cap.err, FL_EPARSE);
    T_EQ_STR(cap.reason, "StreamTruncated");
    T_CHECK(strstr(cap.message, "middle of a line") != NULL);
    capture_done(&cap);

    /* the connection dropped in the middle of a line */
    rq.path = "/cutabrupt";
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.line_calls, 1);
    T_CHECK(cap.err != 0);
    T_CHECK(strstr(cap.message, "middle of a line") != NULL);
    capture_done(&cap);

    /* a 10 MiB line hits the (default 8 MiB) line cap */
    rq.path = "/bigline";
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.line_calls, 0);
    T_EQ_INT(cap.err, -E2BIG);
    T_EQ_STR(cap.reason, "TooLarge");
    capture_done(&cap);

    /* an HTTP error on a stream arrives as a Status, not as lines */
    rq.path = "/notfound";
    memset(&cap, 0, sizeof cap);
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.line_calls, 0);
    T_EQ_INT(cap.err, FL_ENOTFOUND);
    capture_done(&cap);

    /* the line callback stops the stream */
    rq.path = "/watch?n=20";
    memset(&cap, 0, sizeof cap);
    cap.stop_after_lines = 3;
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.line_calls, 3);
    T_EQ_INT(cap.err, -ECANCELED);
    capture_done(&cap);

    /* back-pressure: the line callback pauses the stream 400 times */
    rq.path = "/watch?n=4000";
    memset(&cap, 0, sizeof cap);
    cap.pause_mod = 10;
    uv_timer_init(loop, &cap.resume);
    cap.resume.data = &cap;
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.err, 0);
    T_EQ_INT(cap.accepted, 4000);
    T_EQ_INT(cap.pauses, 400);
    T_EQ_INT(cap.out_of_order, 0);
    T_EQ_INT(cap.line_calls, 4400);
    uv_close((uv_handle_t *)&cap.resume, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    capture_done(&cap);

    /* stream without a line callback is refused; no callback runs */
    T_EQ_INT(fl_kube_client_request(cl, &rq, NULL, on_done, &cap, NULL), -EINVAL);
    close_client(cl);
    fl_kube_conn_unref(conn);
}

static void cancel_timer_cb(uv_timer_t *t)
{
    capture *c = t->data;
    fl_kube_req_cancel(c->req);
    fl_kube_req_cancel(c->req); /* twice: still one callback */
}

static void test_cancel(void)
{
    fl_kube_conn *conn = conn_for(port_tls, NULL, &ca, false, NULL);
    fl_kube_client *cl = client_for(conn, NULL);
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    capture cap = {0};
    uv_timer_t t;
    rq.path = "/hang";
    rq.stream = true;
    uv_timer_init(loop, &t);
    t.data = &cap;
    T_EQ_INT(fl_kube_client_request(cl, &rq, on_line, on_done, &cap, &cap.req), 0);
    T_EQ_INT(cap.calls, 0); /* never from inside the start call */
    uv_timer_start(&t, cancel_timer_cb, 200, 0);
    int64_t t0 = fl_mono_ms();
    while (cap.calls == 0)
        uv_run(loop, UV_RUN_ONCE);
    T_EQ_INT(cap.err, -ECANCELED);
    T_EQ_STR(cap.reason, "Cancelled");
    T_CHECK(fl_mono_ms() - t0 < 3000);
    /* run the loop a little more: the callback does not run again */
    uv_timer_start(&t, cancel_timer_cb, 0, 0);
    t.data = &(capture){0};
    uv_run(loop, UV_RUN_NOWAIT);
    T_EQ_INT(cap.calls, 1);
    capture_done(&cap);

    /* cancel from inside the line callback */
    rq.path = "/watch?n=20";
    memset(&cap, 0, sizeof cap);
    cap.cancel_after_lines = 2;
    T_EQ_INT(run(cl, &rq, &cap), 0);
    T_EQ_INT(cap.line_calls, 2);
    T_EQ_INT(cap.err, -ECANCELED);
    T_EQ_INT(cap.calls, 1);
    capture_done(&cap);

    /* closing the client ends pending requests once with FL_ECLOSED */
    capture a = {0}, b = {0};
    rq.path = "/hang";
    T_EQ_INT(fl_kube_client_request(cl, &rq, on_line, on_done, &a, NULL), 0);
    T_EQ_INT(fl_kube_client_request(cl, &rq, on_line, on_done, &b, NULL), 0);
    uv_run(loop, UV_RUN_NOWAIT);
    int closed = 0;
    fl_kube_client_close(cl, closed_cb, &closed);
    T_EQ_INT(a.calls, 1);
    T_EQ_INT(b.calls, 1);
    T_EQ_INT(a.err, FL_ECLOSED);
    T_EQ_STR(b.reason, "Closed");
    while (!closed)
        uv_run(loop, UV_RUN_ONCE);
    T_EQ_INT(a.calls + b.calls, 2);
    capture_done(&a);
    capture_done(&b);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    fl_kube_conn_unref(conn);
}

typedef struct {
    fl_kube_client *cl;
    int closed;
    capture cap;
} closer;

static void close_from_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    closer *k = ud;
    on_done(req, res, &k->cap);
    fl_kube_client_close(k->cl, closed_cb, &k->closed);
}

/* A done callback may close its client: the others end once, FL_ECLOSED. */
static void test_close_in_callback(void)
{
    fl_kube_conn *conn = conn_for(port_tls, NULL, &ca, false, NULL);
    closer k = {client_for(conn, NULL), 0, {0}};
    capture hang[3] = {{0}};
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    rq.path = "/hang";
    rq.stream = true;
    for (int i = 0; i < 3; i++)
        T_EQ_INT(fl_kube_client_request(k.cl, &rq, on_line, on_done, &hang[i], NULL), 0);
    rq.path = "/ok";
    rq.stream = false;
    T_EQ_INT(fl_kube_client_request(k.cl, &rq, NULL, close_from_done, &k, NULL), 0);
    while (!k.closed)
        uv_run(loop, UV_RUN_ONCE);
    T_EQ_INT(k.cap.calls, 1);
    T_EQ_INT(k.cap.err, 0);
    for (int i = 0; i < 3; i++) {
        T_EQ_INT(hang[i].calls, 1);
        T_EQ_INT(hang[i].err, FL_ECLOSED);
        capture_done(&hang[i]);
    }
    capture_done(&k.cap);
    fl_kube_conn_unref(conn);
}

static void test_concurrent(void)
{
    enum { N = 100 };
    fl_kube_conn *conn = conn_for(port_tls, NULL, &ca, false, "tok");
    fl_kube_client *cl = client_for(conn, NULL);
    static capture caps[N];
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    rq.path = "/ok";
    memset(caps, 0, sizeof caps);
    for (int i = 0; i < N; i++)
        T_EQ_INT(fl_kube_client_request(cl, &rq, NULL, on_done, &caps[i], NULL), 0);
    int64_t t0 = fl_mono_ms();
    for (;;) {
        int done = 0;
        for (int i = 0; i < N; i++)
            done += caps[i].calls;
        if (done == N || fl_mono_ms() - t0 > 20000)
            break;
        uv_run(loop, UV_RUN_ONCE);
    }
    int ok = 0, calls = 0;
    for (int i = 0; i < N; i++) {
        calls += caps[i].calls;
        ok += caps[i].calls == 1 && caps[i].err == 0 && caps[i].http == 200;
        capture_done(&caps[i]);
    }
    T_EQ_INT(calls, N);
    T_EQ_INT(ok, N);
    close_client(cl);
    fl_kube_conn_unref(conn);
}

static void test_sync(void)
{
    fl_kube_conn *conn = conn_for(port_tls, NULL, &ca, false, "s");
    fl_kube_response r;
    fl_err e = FL_ERR_INIT;
    T_EQ_INT(fl_kube_get_sync(conn, "/ok", 5000, &r, &e), 0);
    T_EQ_INT(r.http_status, 200);
    T_EQ_STR(r.content_type, "application/json");
    T_CHECK(r.body.data && strstr(r.body.data, "Bearer s"));
    fl_kube_response_done(&r);
    T_EQ_INT(fl_kube_get_sync(conn, "/notfound", 5000, &r, &e), FL_ENOTFOUND);
    T_EQ_STR(r.reason, "NotFound");
    T_EQ_STR(e.msg, "NotFound: pods \"x\" not found");
    T_CHECK(r.status != NULL);
    fl_kube_response_done(&r);
    fl_kube_conn_unref(conn);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/fl-client-XXXXXX");
    if (!mkdtemp(dir) || make_certs() != 0 || start_server() != 0) {
        fprintf(stderr, "setup failed\n");
        stop_server();
        return 1;
    }
    loop = uv_default_loop();
    test_tls();
    test_tls_server_name();
    test_http_errors();
    test_exec_refresh();
    test_timeouts();
    test_streams();
    test_cancel();
    test_close_in_callback();
    test_concurrent();
    test_sync();
    T_EQ_INT(uv_loop_close(loop), 0);
    stop_server();
    fl_cert_pair_done(&ca);
    fl_cert_pair_done(&other_ca);
    fl_cert_pair_done(&srv);
    fl_cert_pair_done(&cli);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
    return t_done();
}
