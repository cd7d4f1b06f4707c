/*
 * cmd: the `flotilla` executable. One file per subcommand (cmd/<name>.c),
 * each exposing `int cmd_<name>(int argc, char **argv)` where argv[0] is the
 * subcommand's name; each answers --help. main.c holds the dispatch table.
 */
#ifndef FL_CMD_H
#define FL_CMD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fl_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} fl_command;

int cmd_version(int argc, char **argv);
int cmd_debug(int argc, char **argv);
int cmd_certs(int argc, char **argv);
int cmd_certs_webhook(int argc, char **argv); /* `certs webhook` (cmd/webhook.c) */
int cmd_sim(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_clusters(int argc, char **argv);
int cmd_quota(int argc, char **argv);
int cmd_query(int argc, char **argv); /* cmd/sqlq.c */
int cmd_capacity(int argc, char **argv);

int cmd_place(int argc, char **argv);

/* True when argv holds -h or --help. */
bool cmd_wants_help(int argc, char **argv);

/* How CLI commands reach the daemon (cmd/daemon_conn.c): flags first, then
 * a kubeconfig (a search API path in its server is dropped), then
 * $FLOTILLA_SERVER / $FLOTILLA_TOKEN, then CMD_DEFAULT_SERVER. */
#define CMD_DEFAULT_SERVER "http://127.0.0.1:7443"
typedef struct cmd_conn_opts {
    const char *server, *token, *ca, *kubeconfig, *context;
    const char *env_server, *env_token,
        *env_kubeconfig; /* $FLOTILLA_SERVER, .._TOKEN, $KUBECONFIG */
    bool insecure;
} cmd_conn_opts;
struct fl_kube_conn;
/* The connection to the daemon: --server/--token/--ca/--kubeconfig flags,
 * else $FLOTILLA_SERVER, else the first file of $KUBECONFIG that exists (as
 * kubectl reads it), else CMD_DEFAULT_SERVER; a server without a scheme gets
 * https://. 0 and *out, or 1 after printing "who: reason" on stderr. */
int cmd_daemon_connect(const cmd_conn_opts *o, const char *who, struct fl_kube_conn **out);
/* The connection flags every client subcommand takes, at argv[*i]:
 * --server/-s URL (or --server=URL), --token T, --certificate-authority F,
 * --kubeconfig F, --context C, --insecure-skip-tls-verify. 1 when consumed
 * (*i moved past its value), 0 when argv[*i] is none of them, -1 after
 * printing "who: FLAG needs a value". */
int cmd_conn_flag(cmd_conn_opts *c, int argc, char **argv, int *i, const char *who);
/* $FLOTILLA_SERVER, $FLOTILLA_TOKEN and $KUBECONFIG into c. */
void cmd_conn_env(cmd_conn_opts *c);
struct json_t;
struct fl_buf;
/* GET path from the daemon (connected as cmd_daemon_connect, the
 * environment filled in) and parse the JSON answer: 0 and *doc (new), or 1
 * after printing "who: server: reason" (401 says how to give credentials). */
int cmd_daemon_get_json(const cmd_conn_opts *o, const char *who, const char *path,
                        int64_t timeout_ms, struct json_t **doc);
/* The same for POST path with an empty body (an action of the daemon's). */
int cmd_daemon_post_json(const cmd_conn_opts *o, const char *who, const char *path,
                         int64_t timeout_ms, struct json_t **doc);
/* v percent-encoded (RFC 3986 unreserved characters kept) appended to b. */
int cmd_url_escape(struct fl_buf *b, const char *v);
/* doc as indented JSON on stdout (-o json). */
void cmd_print_json(const struct json_t *doc);

#endif
