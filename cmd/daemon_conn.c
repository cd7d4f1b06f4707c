/*
 * cmd/daemon_conn.c: how the CLI commands (clusters, place) connect to the
 * daemon — flags, a kubeconfig, or the environment — as a kube/ client
 * connection. Prints its failures (CLI only).
 */
#include <stdio.h>
#include <string.h>

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

int cmd_daemon_connect(const cmd_conn_opts *o, const char *who, fl_kube_conn **out)
{
    fl_kube_conn_info info = FL_KUBE_CONN_INFO_INIT;
    fl_kube_conn *kc = NULL;
    fl_buf ca = FL_BUF_INIT(1u << 20);
    fl_err err = FL_ERR_INIT;
    char root[2048];
    int rc = 0;
    if (o->kubeconfig && fl_kube_conn_load(o->kubeconfig, o->context, &kc, &err) != 0) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        return 1;
    }
    if (kc) {
        info = *fl_kube_conn_get_info(kc);
        daemon_root(info.server, root, sizeof root);
        info.server = root;
    } else {
        info.server = o->env_server && *o->env_server ? o->env_server : CMD_DEFAULT_SERVER;
        info.token = o->env_token;
    }
    info.source = who;
    if (o->server)
        info.server = o->server;
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
