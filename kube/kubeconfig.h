/*
 * kube/kubeconfig.h: kubeconfig files (clientcmd v1 format) and the
 * credentials they lead to, including exec credential plugins
 * (client.authentication.k8s.io/v1 and v1beta1 ExecCredential).
 *
 * Two objects:
 *   fl_kubeconfig  a parsed file: clusters, users, contexts, current-context.
 *                  Immutable after load; any thread may read it.
 *   fl_kube_conn   one resolved context: everything needed to reach one API
 *                  server (URL, CA, client cert, token, ...), flattened and
 *                  self-contained (files are read at resolve time; relative
 *                  paths resolve against the kubeconfig's directory). It is
 *                  reference-counted and thread-safe: the credential cache
 *                  (exec plugin result, token file) is behind a mutex.
 *
 * Errors name the file and the field: "east.kubeconfig: users[0] (admin):
 * client-certificate: /x/y.crt: No such file or directory".
 * The legacy `auth-provider` user field answers FL_EUNSUPPORTED naming the
 * user; use an exec plugin instead.
 */
#ifndef FL_KUBE_KUBECONFIG_H
#define FL_KUBE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define FL_KUBECONFIG_MAX_FILE (4u << 20)  /* kubeconfig and referenced files */
#define FL_KUBE_EXEC_TIMEOUT_MS 30000      /* default plugin timeout */
#define FL_KUBE_EXEC_MAX_OUTPUT (1u << 20) /* plugin stdout (and stderr) cap */

typedef struct fl_kubeconfig fl_kubeconfig;
typedef struct fl_kube_conn fl_kube_conn;

/* ---- files --------------------------------------------------------------- */

/* Load and parse a kubeconfig file. *out written only on success.
 * Returns 0, -errno (file unreadable), FL_EPARSE (YAML or shape error),
 * -E2BIG (file over FL_KUBECONFIG_MAX_FILE), -ENOMEM. */
int fl_kubeconfig_load(const char *path, fl_kubeconfig **out, fl_err *err);

/* Parse kubeconfig bytes. name is used in messages (NULL: "<kubeconfig>");
 * base_dir is where relative paths resolve (NULL: the current directory).
 * Both are copied. Codes as fl_kubeconfig_load. */
int fl_kubeconfig_parse(const char *data, size_t len, const char *name, const char *base_dir,
                        fl_kubeconfig **out, fl_err *err);

void fl_kubeconfig_free(fl_kubeconfig *kc); /* accepts NULL */

/* current-context, or NULL when unset. Borrowed. */
const char *fl_kubeconfig_current_context(const fl_kubeconfig *kc);
/* Number of contexts and the i-th context's name (file order). Borrowed. */
size_t fl_kubeconfig_context_count(const fl_kubeconfig *kc);
const char *fl_kubeconfig_context_name(const fl_kubeconfig *kc, size_t i);

/* Resolve a context (NULL or "" = current-context) into a connection: the
 * context's cluster and user are looked up, files they name are read (CA,
 * client cert/key; a tokenFile is only checked here and read on use).
 * *out (a new reference) written only on success. Returns 0,
 * FL_ENOTFOUND (no such context / cluster / user, or no current-context),
 * FL_EPARSE (bad base64, bad server URL, an exec block without command),
 * FL_EUNSUPPORTED (auth-provider), -errno (a named file), -ENOMEM. */
int fl_kubeconfig_resolve(const fl_kubeconfig *kc, const char *context, fl_kube_conn **out,
                          fl_err *err);

/* Load a file and resolve one context in one call. */
int fl_kube_conn_load(const char *path, const char *context, fl_kube_conn **out, fl_err *err);

/* ---- connections ---------------------------------------------------------- */

/* An exec credential plugin (kubeconfig users[].user.exec). */
typedef struct fl_kube_exec {
    const char *command;          /* required; run directly, never via a shell;
                                     relative paths with a '/' resolve against
                                     the kubeconfig's directory, bare names via PATH */
    const char *const *args;      /* NULL-terminated, or NULL */
    const char *const *env;       /* "NAME=value" strings, NULL-terminated, or NULL;
                                     added to the daemon's environment */
    const char *api_version;      /* client.authentication.k8s.io/v1 or v1beta1 */
    const char *interactive_mode; /* Never | IfAvailable | Always (v1 requires it) */
    bool provide_cluster_info;    /* put spec.cluster in KUBERNETES_EXEC_INFO */
} fl_kube_exec;

/* The flat view of a connection. All strings borrowed from the conn (NULL =
 * not set); PEM blobs are the bytes themselves, never paths. */
typedef struct fl_kube_conn_info {
    const char *source;  /* kubeconfig path or name, for messages */
    const char *context; /* context name */
    const char *cluster; /* cluster name */
    const char *user;    /* user (AuthInfo) name */
    const char *ns;      /* context namespace, NULL if unset */
    const char *server;  /* "https://h:6443" or "https://h:6443/clusters/east";
                                     never ends with '/' */
    const char *ca_pem;  /* certificate-authority(-data) */
    size_t ca_pem_len;
    bool insecure_skip_tls_verify;
    const char *tls_server_name;
    const char *proxy_url;
    const char *client_cert_pem; /* client-certificate(-data) */
    size_t client_cert_pem_len;
    const char *client_key_pem; /* client-key(-data) */
    size_t client_key_pem_len;
    const char *token;      /* static bearer token */
    const char *token_file; /* absolute path; wins over token when both set */
    const char *username;   /* basic auth */
    const char *password;
    const fl_kube_exec *exec; /* NULL when no plugin */
} fl_kube_conn_info;
#define FL_KUBE_CONN_INFO_INIT                                                                     \
    {                                                                                              \
        0                                                                                          \
    }

/* Build a connection from a filled info (for programs and tests that have
 * the PEM bytes in memory). Everything is copied. server is required.
 * *out (refcount 1) written only on success. 0, FL_EPARSE (bad URL), -ENOMEM. */
int fl_kube_conn_new(const fl_kube_conn_info *info, fl_kube_conn **out, fl_err *err);

fl_kube_conn *fl_kube_conn_ref(fl_kube_conn *conn); /* returns conn */
void fl_kube_conn_unref(fl_kube_conn *conn);        /* accepts NULL */

/* The flat view. Borrowed; valid while the caller holds a reference. */
const fl_kube_conn_info *fl_kube_conn_get_info(const fl_kube_conn *conn);

/* Change the exec plugin timeout (default FL_KUBE_EXEC_TIMEOUT_MS). */
void fl_kube_conn_set_exec_timeout(fl_kube_conn *conn, int64_t timeout_ms);

/* ---- credentials ----------------------------------------------------------- */

/* What to present on a request. Owned by the caller: fl_kube_cred_done. */
typedef struct fl_kube_cred {
    char *token;               /* bearer token or NULL */
    char *username, *password; /* basic auth or NULL */
    char *cert_pem;            /* client certificate or NULL */
    size_t cert_pem_len;
    char *key_pem;
    size_t key_pem_len;
    int64_t expires_ms;  /* wall-clock ms; 0 = does not expire */
    uint64_t generation; /* bumps whenever the credential changes */
} fl_kube_cred;
#define FL_KUBE_CRED_INIT                                                                          \
    {                                                                                              \
        0                                                                                          \
    }
void fl_kube_cred_done(fl_kube_cred *c); /* frees and zeroes; accepts a zeroed cred */

/* The credential to use now: the exec plugin's (run when nothing is cached,
 * when the cached one expired, or when force_refresh — used after a 401),
 * else the token file (re-read when its mtime or size changes), else the
 * static token; client cert/key and basic auth come from the conn unless the
 * plugin returned a certificate. The plugin runs with its args and env plus
 * KUBERNETES_EXEC_INFO, stdin from /dev/null, a timeout and capped output.
 * Its ExecCredential must have the configured apiVersion and a status with
 * a token or both clientCertificateData and clientKeyData.
 * Any thread; may BLOCK for up to the plugin timeout, so the loop thread must
 * not call it when fl_kube_conn_cred_fresh() is false or force_refresh is set.
 * *out written only on success. Returns 0, FL_EEXEC (plugin failed, timed out
 * or printed a bad ExecCredential; err has its stderr's first line),
 * -errno (token file), -ENOMEM. */
int fl_kubeconfig_credential(fl_kube_conn *conn, bool force_refresh, fl_kube_cred *out,
                             fl_err *err);

/* True when fl_kubeconfig_credential(conn, false, ...) would not run the
 * plugin (no plugin, or a cached credential that has not expired). Cheap;
 * any thread. */
bool fl_kube_conn_cred_fresh(fl_kube_conn *conn);

/* True when the connection has an exec plugin (a 401 is worth a refresh). */
bool fl_kube_conn_has_exec(const fl_kube_conn *conn);

#endif
