/*
 * cmd/daemon_conn.c: how the CLI commands (clusters, place) connect to the
 * daemon — flags, a kubeconfig, or the environment — as a kube/ client
 * connection. Prints its failures (CLI only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "kube/kube.h"

#define SEARCH_PATH "/apis/clusterpedia.io/"

/* The daemon's root from a kubeconfig server that may point at the
 * search API ("https://h:7443/apis/clusterpedia.io/v1beta1/resources"). */
static void daemon_root(const char *server, char *out, size_t size)
{
    fl_strlcpy(out, server, size);
    char *p = strstr(out, SEARCH_PATH);
    if (p)
        *p = 0;
}

/* The first file of a $KUBECONFIG list ("a:b:c") that exists, into out;
 * false when none does. */
static bool env_kubeconfig(const char *list, char *out, size_t n)
{
    while (list && *list) {
        const char *end = strchr(list, ':');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (len && len < n) {
            memcpy(out, list, len);
            out[len] = 0;
            if (access(out, R_OK) == 0)
                return true;
        }
        list = end ? end + 1 : NULL;
    }
    return false;
}

/* server with https:// in front when it names no scheme (as kubectl does). */
static const char *with_scheme(const char *server, char *buf, size_t n)
{
    if (!server || strstr(server, "://"))
        return server;
    snprintf(buf, n, "https://%s", server);
    return buf;
}

int cmd_daemon_connect(const cmd_conn_opts *o, const char *who, fl_kube_conn **out)
{
    fl_kube_conn_info info = FL_KUBE_CONN_INFO_INIT;
    fl_kube_conn *kc = NULL;
    fl_buf ca = FL_BUF_INIT(1u << 20);
    fl_err err = FL_ERR_INIT;
    char root[2048], kcpath[4096], flag_server[2048];
    const char *kubeconfig = o->kubeconfig;
    int rc = 0;
    if (!kubeconfig && !(o->env_server && *o->env_server) &&
        env_kubeconfig(o->env_kubeconfig, kcpath, sizeof kcpath))
        kubeconfig = kcpath;
    if (kubeconfig && fl_kube_conn_load(kubeconfig, o->context, &kc, &err) != 0) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        return 1;
    }
    if (kc) {
        info = *fl_kube_conn_get_info(kc);
        daemon_root(info.server, root, sizeof root);
        info.server = root;
    } else {
        info.server = o->env_server && *o->env_server
                          ? with_scheme(o->env_server, flag_server, sizeof flag_server)
                          : CMD_DEFAULT_SERVER;
        info.token = o->env_token;
    }
    info.source = who;
    if (o->server)
        info.server = with_scheme(o->server, flag_server, sizeof flag_server);
    if (o->token)
        info.token = o->token, info.token_file = NULL, info.exec = NULL;
    if (o->insecure)
        info.insecure_skip_tls_verify = true;
    if (o->ca) {
        if (fl_buf_read_file(&ca, o->ca, &err) != 0) {
            fprintf(stderr, "%s: %s\n", who, err.msg);
            rc = 1;
        }
        info.ca_pem = ca.data, info.ca_pem_len = ca.len;
    }
    if (!rc && fl_kube_conn_new(&info, out, &err) != 0) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        rc = 1;
    }
    fl_buf_done(&ca);
    fl_kube_conn_unref(kc);
    return rc;
}

int cmd_conn_flag(cmd_conn_opts *c, int argc, char **argv, int *i, const char *who)
{
    const char *a = argv[*i], **slot = NULL;
    if (!strcmp(a, "--insecure-skip-tls-verify")) {
        c->insecure = true;
        return 1;
    }
    if (!strncmp(a, "--server=", 9)) {
        c->server = a + 9;
        return 1;
    }
    if (!strcmp(a, "--server") || !strcmp(a, "-s"))
        slot = &c->server;
    else if (!strcmp(a, "--token"))
        slot = &c->token;
    else if (!strcmp(a, "--certificate-authority"))
        slot = &c->ca;
    else if (!strcmp(a, "--kubeconfig"))
        slot = &c->kubeconfig;
    else if (!strcmp(a, "--context"))
        slot = &c->context;
    else
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", who, a);
        return -1;
    }
    *slot = argv[++*i];
    return 1;
}

void cmd_conn_env(cmd_conn_opts *c)
{
    c->env_server = getenv("FLOTILLA_SERVER");
    c->env_token = getenv("FLOTILLA_TOKEN");
    c->env_kubeconfig = getenv("KUBECONFIG");
}

/* GET or POST (an empty body) path; as cmd_daemon_get_json. */
static int daemon_json(const cmd_conn_opts *o, const char *who, fl_kube_method method,
                       const char *path, int64_t timeout_ms, json_t **doc)
{
    cmd_conn_opts c = *o;
    fl_kube_conn *conn = NULL;
    fl_kube_response res;
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    fl_kube_client_opts opts = FL_KUBE_CLIENT_OPTS_INIT;
    fl_err err = FL_ERR_INIT;
    cmd_conn_env(&c);
    if (cmd_daemon_connect(&c, who, &conn) != 0)
        return 1;
    const char *server = fl_kube_conn_get_info(conn)->server;
    rq.method = method, rq.path = path;
    if (method == FL_KUBE_POST)
        rq.body = "", rq.body_len = 0;
    if (timeout_ms > 0)
        opts.timeout_ms = timeout_ms;
    int rc = fl_kube_request_sync(conn, &rq, &opts, &res, &err);
    if (rc == 0 && fl_json_parse(res.body.data ? res.body.data : "", res.body.len, doc, &err))
        rc = FL_EPARSE;
    if (rc == FL_EUNAUTHORIZED)
        fprintf(stderr,
                "%s: %s: 401 Unauthorized: the daemon wants credentials (--token T, "
                "$FLOTILLA_TOKEN, or --kubeconfig FILE with a token or client certificate)\n",
                who, server);
    else if (rc == FL_EFORBIDDEN)
        fprintf(stderr, "%s: %s: 403 Forbidden: %s\n", who, server, res.message);
    else if (rc)
        fprintf(stderr, "%s: %s: %s\n", who, server, err.msg);
    fl_kube_response_done(&res);
    fl_kube_conn_unref(conn);
    return rc ? 1 : 0;
}

int cmd_daemon_get_json(const cmd_conn_opts *o, const char *who, const char *path,
                        int64_t timeout_ms, json_t **doc)
{
    return daemon_json(o, who, FL_KUBE_GET, path, timeout_ms, doc);
}

int cmd_daemon_post_json(const cmd_conn_opts *o, const char *who, const char *path,
                         int64_t timeout_ms, json_t **doc)
{
    return daemon_json(o, who, FL_KUBE_POST, path, timeout_ms, doc);
}

int cmd_url_escape(fl_buf *b, const char *v)
{
    static const char keep[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~";
    int rc = 0;
    for (const char *p = v; !rc && *p; p++)
        rc = strchr(keep, *p) ? fl_buf_append(b, p, 1)
                              : fl_buf_printf(b, "%%%02X", (unsigned char)*p);
    return rc;
}

void cmd_print_json(const json_t *doc)
{
    fl_buf b = FL_BUF_INIT(256u << 20);
    if (fl_json_encode(doc, true, &b) == 0)
        printf("%s\n", b.data);
    fl_buf_done(&b);
}
