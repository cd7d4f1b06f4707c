/*
 * kube/kubeconfig.c: kubeconfig files (clientcmd v1) to resolved
 * connections, and the credentials a connection presents: static token,
 * token file (re-read when it changes), basic auth, client certificates, and
 * exec credential plugins (ExecCredential v1/v1beta1) run with posix_spawn,
 * a timeout and capped output, cached until their expiry.
 * Parsing of the file goes through kube/yaml.c; no other I/O than the
 * files the kubeconfig names and the plugin process.
 */
#include "kube/kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kube/json.h"
#include "kube/yaml.h"

extern char **environ;

struct fl_kubeconfig {
    fl_yaml_doc *doc;
    char *base_dir;
    json_t *clusters, *users, *contexts; /* borrowed arrays (possibly NULL) */
    const char *current;                 /* borrowed from doc */
};

/* Token file state: re-read when (ino, size, mtime) changes. */
typedef struct {
    char *token;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} token_file_state;

struct fl_kube_conn {
    atomic_int refs;
    fl_kube_conn_info info; /* strings owned (cast away const to free) */
    fl_kube_exec exec;      /* info.exec points here when set */
    char *
        exec_cluster_config; /* JSON of the cluster's client.authentication.k8s.io/exec extension */
    int64_t exec_timeout_ms;
    pthread_mutex_t mu;      /* guards the fields below */
    pthread_mutex_t exec_mu; /* one plugin run at a time */
    fl_kube_cred cache;      /* the plugin's last credential */
    bool have_cache;
    uint64_t generation;
    token_file_state tf;
};

/* ================================================================ files */

void fl_kubeconfig_free(fl_kubeconfig *kc)
{
    if (!kc)
        return;
    fl_yaml_doc_free(kc->doc);
    free(kc->base_dir);
    free(kc);
}

/* Check that root[key] is absent/null or an array of objects with a string
 * "name"; store it in *arr. */
static int check_list(fl_kubeconfig *kc, json_t *root, const char *key, json_t **arr, fl_err *err)
{
    json_t *a = json_object_get(root, key);
    *arr = NULL;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return fl_yaml_errf(kc->doc, fl_yaml_key_line(kc->doc, root, key), err, FL_EPARSE,
                            "%s: expected a list", key);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "name")))
            return fl_yaml_errf(kc->doc, fl_yaml_line(kc->doc, e), err, FL_EPARSE,
                                "%s[%zu]: expected an object with a string name", key, i);
    }
    *arr = a;
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return fl_strdup(".");
    if (slash == path)
        return fl_strdup("/");
    return fl_strndup(path, (size_t)(slash - path));
}

int fl_kubeconfig_parse(const char *data, size_t len, const char *name, const char *base_dir,
                        fl_kubeconfig **out, fl_err *err)
{
    fl_kubeconfig *kc = fl_calloc(1, sizeof *kc);
    int rc;
    if (!kc || !(kc->base_dir = fl_strdup(base_dir ? base_dir : "."))) {
        rc = fl_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if (len > FL_KUBECONFIG_MAX_FILE) {
        rc = fl_err_set(err, -E2BIG, "%s: kubeconfig over %u bytes", name ? name : "<kubeconfig>",
                        FL_KUBECONFIG_MAX_FILE);
        goto fail;
    }
    if ((rc = fl_yaml_doc_parse(data, len, name ? name : "<kubeconfig>", &kc->doc, err)) != 0)
        goto fail;
    json_t *root = fl_yaml_doc_root(kc->doc);
    if (!json_is_object(root) && !json_is_null(root)) {
        rc = fl_yaml_errf(kc->doc, 1, err, FL_EPARSE, "a kubeconfig must be a mapping");
        goto fail;
    }
    if ((rc = check_list(kc, root, "clusters", &kc->clusters, err)) != 0 ||
        (rc = check_list(kc, root, "users", &kc->users, err)) != 0 ||
        (rc = check_list(kc, root, "contexts", &kc->contexts, err)) != 0)
        goto fail;
    json_t *cur = json_object_get(root, "current-context");
    if (cur && !json_is_string(cur) && !json_is_null(cur)) {
        rc = fl_yaml_errf(kc->doc, fl_yaml_key_line(kc->doc, root, "current-context"), err,
                          FL_EPARSE, "current-context: expected a string");
        goto fail;
    }
    kc->current = json_string_value(cur);
    if (kc->current && !*kc->current)
        kc->current = NULL;
    *out = kc;
    return 0;
fail:
    fl_kubeconfig_free(kc);
    return rc;
}

int fl_kubeconfig_load(const char *path, fl_kubeconfig **out, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(FL_KUBECONFIG_MAX_FILE);
    char *dir = dir_of(path);
    int rc = dir ? fl_buf_read_file(&b, path, err) : fl_err_set(err, -ENOMEM, "out of memory");
    if (!rc)
        rc = fl_kubeconfig_parse(b.data ? b.data : "", b.len, path, dir, out, err);
    free(dir);
    fl_buf_done(&b);
    return rc;
}

const char *fl_kubeconfig_current_context(const fl_kubeconfig *kc)
{
    return kc->current;
}

size_t fl_kubeconfig_context_count(const fl_kubeconfig *kc)
{
    return kc->contexts ? json_array_size(kc->contexts) : 0;
}

const char *fl_kubeconfig_context_name(const fl_kubeconfig *kc, size_t i)
{
    return json_string_value(json_object_get(json_array_get(kc->contexts, i), "name"));
}

/* ================================================================ resolve */

/* The entry named name in list; *index gets its position. */
static json_t *find_named(json_t *list, const char *name, size_t *index)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0) {
            *index = i;
            return e;
        }
    }
    return NULL;
}

typedef struct {
    const fl_kubeconfig *kc;
    fl_kube_conn *conn;
    fl_err *err;
    char where[300];   /* "users[0] (admin)" */
    const json_t *obj; /* the object fields are read from */
} rctx;

static int rerr(rctx *r, const char *field, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int rerr(rctx *r, const char *field, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = field ? fl_yaml_key_line(r->kc->doc, r->obj, field) : 0;
    if (!line)
        line = fl_yaml_line(r->kc->doc, r->obj);
    return fl_yaml_errf(r->kc->doc, line, r->err, code, "%s%s%s: %s", r->where, field ? ": " : "",
                        field ? field : "", msg);
}

/* A string field (NULL when absent, null or ""). Non-strings are errors. */
static int str_field(rctx *r, const char *field, const char **out)
{
    json_t *v = json_object_get(r->obj, field);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return rerr(r, field, FL_EPARSE, "expected a string");
    if (*json_string_value(v))
        *out = json_string_value(v);
    return 0;
}

static int bool_field(rctx *r, const char *field, bool *out)
{
    json_t *v = json_object_get(r->obj, field);
    *out = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return rerr(r, field, FL_EPARSE, "expected true or false");
    *out = json_is_true(v);
    return 0;
}

static char *abs_path(const fl_kubeconfig *kc, const char *p)
{
    fl_buf b = FL_BUF_INIT(8192);
    if (p[0] == '/' || fl_buf_printf(&b, "%s/", kc->base_dir) == 0) {
        if (fl_buf_puts(&b, p) == 0)
            return fl_buf_steal(&b);
    }
    fl_buf_done(&b);
    return NULL;
}

/* PEM (or token) bytes from "<field>-data" (base64) or "<field>" (a path). */
static int blob_field(rctx *r, const char *file_field, const char *data_field, char **out,
                      size_t *out_len)
{
    const char *file, *data;
    fl_buf b = FL_BUF_INIT(FL_KUBECONFIG_MAX_FILE);
    int rc;
    if ((rc = str_field(r, file_field, &file)) != 0 || (rc = str_field(r, data_field, &data)) != 0)
        return rc;
    if (data) {
        rc = fl_base64_decode(FL_BASE64_STD, data, strlen(data), &b);
        if (rc == FL_EPARSE)
            rc = rerr(r, data_field, rc, "illegal base64 data");
        else if (rc)
            rc = rerr(r, data_field, rc, "%s", fl_strerror(rc));
    } else if (file) {
        char *path = abs_path(r->kc, file);
        fl_err e2 = FL_ERR_INIT;
        rc = path ? fl_buf_read_file(&b, path, &e2) : -ENOMEM;
        if (rc)
            rc = rerr(r, file_field, rc, "%s", path ? e2.msg : "out of memory");
        free(path);
    }
    if (!rc && b.len) {
        *out_len = b.len;
        *out = fl_buf_steal(&b);
    }
    fl_buf_done(&b);
    return rc;
}

static int set_str(char **dst, const char *s)
{
    if (!s)
        return 0;
    *dst = fl_strdup(s);
    return *dst ? 0 : -ENOMEM;
}

static int normalize_server(const char *s, char **out)
{
    fl_buf b = FL_BUF_INIT(8192);
    int rc = 0;
    if (!fl_str_has_prefix(s, "https://") && !fl_str_has_prefix(s, "http://"))
        rc = fl_buf_puts(&b, "https://");
    if (!rc)
        rc = fl_buf_puts(&b, s);
    while (!rc && b.len > 0 && b.data[b.len - 1] == '/')
        b.data[--b.len] = 0;
    const char *host = b.data ? strstr(b.data, "://") : NULL;
    if (!rc && (!host || !host[3] || host[3] == '/' || strpbrk(b.data, " \t\r\n?#")))
        rc = FL_EPARSE;
    if (!rc)
        *out = fl_buf_steal(&b);
    fl_buf_done(&b);
    return rc;
}

static int resolve_cluster(rctx *r, const json_t *entry, size_t i)
{
    fl_kube_conn_info *in = &r->conn->info;
    const char *name = json_string_value(json_object_get(entry, "name"));
    snprintf(r->where, sizeof r->where, "clusters[%zu] (%s)", i, name);
    r->obj = json_object_get(entry, "cluster");
    if (!json_is_object(r->obj))
        return rerr(r, NULL, FL_EPARSE, "missing cluster");
    const char *server, *tsn, *proxy;
    size_t ca_len = 0;
    int rc;
    if ((rc = str_field(r, "server", &server)) != 0 ||
        (rc = str_field(r, "tls-server-name", &tsn)) || (rc = str_field(r, "proxy-url", &proxy)) ||
        (rc = bool_field(r, "insecure-skip-tls-verify", &in->insecure_skip_tls_verify)))
        return rc;
    if (!server)
        return rerr(r, "server", FL_EPARSE, "no server found for cluster \"%s\"", name);
    if ((rc = normalize_server(server, (char **)&in->server)) != 0)
        return rerr(r, "server", rc, rc == FL_EPARSE ? "not a valid URL: %s" : "%s",
                    rc == FL_EPARSE ? server : fl_strerror(rc));
    if ((rc = blob_field(r, "certificate-authority", "certificate-authority-data",
                         (char **)&in->ca_pem, &ca_len)) != 0)
        return rc;
    in->ca_pem_len = ca_len;
    json_t *ext = json_object_get(r->obj, "extensions");
    size_t k;
    json_t *e;
    json_array_foreach(ext, k, e) {
        const char *en = json_string_value(json_object_get(e, "name"));
        if (en && strcmp(en, "client.authentication.k8s.io/exec") == 0)
            r->conn->exec_cluster_config =
                json_dumps(json_object_get(e, "extension"), JSON_COMPACT | JSON_ENCODE_ANY);
    }
    if (set_str((char **)&in->cluster, name) || set_str((char **)&in->tls_server_name, tsn) ||
        set_str((char **)&in->proxy_url, proxy))
        return fl_err_set(r->err, -ENOMEM, "out of memory");
    return 0;
}

/* Copy a JSON list of strings into a NULL-terminated array. */
static int str_list(rctx *r, const char *field, char ***out)
{
    json_t *a = json_object_get(r->obj, field);
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return rerr(r, field, FL_EPARSE, "expected a list of strings");
    char **v = fl_calloc(json_array_size(a) + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    *out = v;
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        if (!json_is_string(e))
            return rerr(r, field, FL_EPARSE, "item %zu: expected a string", i);
        if (!(v[i] = fl_strdup(json_string_value(e))))
            return -ENOMEM;
    }
    return 0;
}

static int exec_env(rctx *r, char ***out)
{
    json_t *a = json_object_get(r->obj, "env");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return rerr(r, "env", FL_EPARSE, "expected a list of {name, value}");
    char **v = fl_calloc(json_array_size(a) + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    *out = v;
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        const char *val = json_string_value(json_object_get(e, "value"));
        if (!n || !*n || strchr(n, '=') || !val)
            return rerr(r, "env", FL_EPARSE, "item %zu: expected {name, value} strings", i);
        fl_buf b = FL_BUF_INIT(1u << 20);
        if (fl_buf_printf(&b, "%s=%s", n, val) != 0) {
            fl_buf_done(&b);
            return -ENOMEM;
        }
        v[i] = fl_buf_steal(&b);
    }
    return 0;
}

static int resolve_exec(rctx *r, const char *user)
{
    fl_kube_exec *x = &r->conn->exec;
    const char *cmd, *api, *mode;
    bool pci;
    int rc;
    if ((rc = str_field(r, "command", &cmd)) || (rc = str_field(r, "apiVersion", &api)) ||
        (rc = str_field(r, "interactiveMode", &mode)) ||
        (rc = bool_field(r, "provideClusterInfo", &pci)))
        return rc;
    if (!cmd)
        return rerr(r, "command", FL_EPARSE, "exec plugin for user \"%s\" has no command", user);
    if (!api || (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
                 strcmp(api, "client.authentication.k8s.io/v1beta1") != 0))
        return rerr(r, "apiVersion", FL_EPARSE,
                    "exec plugin: invalid apiVersion \"%s\" (want client.authentication.k8s.io/v1 "
                    "or v1beta1)",
                    api ? api : "");
    if (!mode && strcmp(api, "client.authentication.k8s.io/v1") == 0)
        return rerr(r, "interactiveMode", FL_EPARSE,
                    "interactiveMode must be specified for %s to use exec authentication plugin",
                    user);
    if (mode && strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0 &&
        strcmp(mode, "Always") != 0)
        return rerr(r, "interactiveMode", FL_EPARSE,
                    "invalid interactiveMode \"%s\" (Never, IfAvailable or Always)", mode);
    char *command = strchr(cmd, '/') ? abs_path(r->kc, cmd) : fl_strdup(cmd);
    x->command = command;
    if (!command || set_str((char **)&x->api_version, api) ||
        set_str((char **)&x->interactive_mode, mode ? mode : "IfAvailable"))
        return -ENOMEM;
    x->provide_cluster_info = pci;
    if ((rc = str_list(r, "args", (char ***)&x->args)) || (rc = exec_env(r, (char ***)&x->env)))
        return rc;
    r->conn->info.exec = x;
    return 0;
}

static int resolve_user(rctx *r, const json_t *entry, size_t i)
{
    fl_kube_conn_info *in = &r->conn->info;
    const char *name = json_string_value(json_object_get(entry, "name"));
    snprintf(r->where, sizeof r->where, "users[%zu] (%s)", i, name);
    r->obj = json_object_get(entry, "user");
    if (!r->obj || json_is_null(r->obj))
        return set_str((char **)&in->user, name);
    if (!json_is_object(r->obj))
        return rerr(r, NULL, FL_EPARSE, "user: expected a mapping");
    json_t *ap = json_object_get(r->obj, "auth-provider");
    if (ap && !json_is_null(ap))
        return rerr(r, "auth-provider", FL_EUNSUPPORTED,
                    "user \"%s\" uses the legacy auth-provider \"%s\", which is not supported; "
                    "use an exec credential plugin (e.g. kubelogin) instead",
                    name,
                    json_string_value(json_object_get(ap, "name"))
                        ? json_string_value(json_object_get(ap, "name"))
                        : "?");
    const char *token, *tf, *un, *pw;
    size_t cl = 0, kl = 0;
    int rc;
    if ((rc = str_field(r, "token", &token)) || (rc = str_field(r, "tokenFile", &tf)) ||
        (rc = str_field(r, "username", &un)) || (rc = str_field(r, "password", &pw)) ||
        (rc = blob_field(r, "client-certificate", "client-certificate-data",
                         (char **)&in->client_cert_pem, &cl)) ||
        (rc = blob_field(r, "client-key", "client-key-data", (char **)&in->client_key_pem, &kl)))
        return rc;
    in->client_cert_pem_len = cl;
    in->client_key_pem_len = kl;
    if (!in->client_cert_pem != !in->client_key_pem)
        return rerr(r, in->client_cert_pem ? "client-key" : "client-certificate", FL_EPARSE,
                    "client certificate and key must be given together");
    if (tf) {
        struct stat st;
        in->token_file = abs_path(r->kc, tf);
        if (!in->token_file)
            return -ENOMEM;
        if (stat(in->token_file, &st) != 0)
            return rerr(r, "tokenFile", -errno, "%s: %s", in->token_file, strerror(errno));
    }
    if (set_str((char **)&in->user, name) || set_str((char **)&in->token, token) ||
        set_str((char **)&in->username, un) || set_str((char **)&in->password, pw))
        return -ENOMEM;
    json_t *ex = json_object_get(r->obj, "exec");
    if (ex && !json_is_null(ex)) {
        if (!json_is_object(ex))
            return rerr(r, "exec", FL_EPARSE, "expected a mapping");
        r->obj = ex;
        snprintf(r->where + strlen(r->where), sizeof r->where - strlen(r->where), ": exec");
        return resolve_exec(r, name);
    }
    return 0;
}

static fl_kube_conn *conn_alloc(void)
{
    fl_kube_conn *c = fl_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->exec_timeout_ms = FL_KUBE_EXEC_TIMEOUT_MS;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->exec_mu, NULL);
    return c;
}

static int resolve_refs(const fl_kubeconfig *kc, rctx *r, const char *ctxname, size_t ci,
                        const json_t *ctx)
{
    snprintf(r->where, sizeof r->where, "contexts[%zu] (%s)", ci, ctxname);
    r->obj = json_object_get(ctx, "context");
    const char *cl, *us, *ns;
    size_t i;
    int rc;
    if (!json_is_object(r->obj))
        return rerr(r, NULL, FL_EPARSE, "missing context");
    if ((rc = str_field(r, "cluster", &cl)) || (rc = str_field(r, "user", &us)) ||
        (rc = str_field(r, "namespace", &ns)))
        return rc;
    if (!cl)
        return rerr(r, "cluster", FL_ENOTFOUND, "context \"%s\" has no cluster", ctxname);
    json_t *cluster = kc->clusters ? find_named(kc->clusters, cl, &i) : NULL;
    if (!cluster)
        return rerr(r, "cluster", FL_ENOTFOUND, "cluster \"%s\" not found", cl);
    if (set_str((char **)&r->conn->info.ns, ns) ||
        set_str((char **)&r->conn->info.context, ctxname))
        return -ENOMEM;
    if ((rc = resolve_cluster(r, cluster, i)) != 0)
        return rc;
    if (!us)
        return 0;
    json_t *user = kc->users ? find_named(kc->users, us, &i) : NULL;
    if (!user) {
        r->obj = json_object_get(ctx, "context");
        snprintf(r->where, sizeof r->where, "contexts[%zu] (%s)", ci, ctxname);
        return rerr(r, "user", FL_ENOTFOUND, "user \"%s\" not found", us);
    }
    return resolve_user(r, user, i);
}

int fl_kubeconfig_resolve(const fl_kubeconfig *kc, const char *context, fl_kube_conn **out,
                          fl_err *err)
{
    const char *name = context && *context ? context : kc->current;
    const char *file = fl_yaml_doc_name(kc->doc);
    size_t ci;
    if (!name)
        return fl_err_set(err, FL_ENOTFOUND, "%s: current-context is not set", file);
    json_t *ctx = kc->contexts ? find_named(kc->contexts, name, &ci) : NULL;
    if (!ctx)
        return fl_err_set(err, FL_ENOTFOUND, "%s: context \"%s\" not found", file, name);
    rctx r = {.kc = kc, .conn = conn_alloc(), .err = err};
    if (!r.conn)
        return fl_err_set(err, -ENOMEM, "out of memory");
    int rc = resolve_refs(kc, &r, name, ci, ctx);
    if (!rc && !(r.conn->info.source = fl_strdup(file)))
        rc = -ENOMEM;
    if (rc) {
        if (rc == -ENOMEM)
            fl_err_set(err, rc, "%s: out of memory", file);
        fl_kube_conn_unref(r.conn);
        return rc;
    }
    *out = r.conn;
    return 0;
}

int fl_kube_conn_load(const char *path, const char *context, fl_kube_conn **out, fl_err *err)
{
    fl_kubeconfig *kc = NULL;
    int rc = fl_kubeconfig_load(path, &kc, err);
    if (!rc)
        rc = fl_kubeconfig_resolve(kc, context, out, err);
    fl_kubeconfig_free(kc);
    return rc;
}

/* ================================================================ conn */

static void free_list(const char *const *v)
{
    for (size_t i = 0; v && v[i]; i++)
        free((char *)v[i]);
    free((void *)v);
}

static void info_free(fl_kube_conn_info *in)
{
    const char *strs[] = {in->source, in->context,    in->cluster,         in->user,
                          in->ns,     in->server,     in->tls_server_name, in->proxy_url,
                          in->token,  in->token_file, in->username,        in->password};
    for (size_t i = 0; i < FL_ARRAY_LEN(strs); i++)
        free((char *)strs[i]);
    free((char *)in->ca_pem);
    free((char *)in->client_cert_pem);
    if (in->client_key_pem)
        memset((char *)in->client_key_pem, 0, in->client_key_pem_len);
    free((char *)in->client_key_pem);
}

void fl_kube_conn_unref(fl_kube_conn *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    info_free(&c->info);
    free((char *)c->exec.command);
    free((char *)c->exec.api_version);
    free((char *)c->exec.interactive_mode);
    free_list(c->exec.args);
    free_list(c->exec.env);
    free(c->exec_cluster_config);
    fl_kube_cred_done(&c->cache);
    free(c->tf.token);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->exec_mu);
    free(c);
}

fl_kube_conn *fl_kube_conn_ref(fl_kube_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

const fl_kube_conn_info *fl_kube_conn_get_info(const fl_kube_conn *c)
{
    return &c->info;
}

void fl_kube_conn_set_exec_timeout(fl_kube_conn *c, int64_t timeout_ms)
{
    pthread_mutex_lock(&c->mu);
    c->exec_timeout_ms = timeout_ms > 0 ? timeout_ms : FL_KUBE_EXEC_TIMEOUT_MS;
    pthread_mutex_unlock(&c->mu);
}

bool fl_kube_conn_has_exec(const fl_kube_conn *c)
{
    return c->info.exec != NULL;
}

static int dup_blob(const char **dst, size_t *dlen, const char *src, size_t len)
{
    if (!src)
        return 0;
    char *p = fl_malloc(len + 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, src, len);
    p[len] = 0;
    *dst = p;
    *dlen = len;
    return 0;
}

static int dup_list(const char *const **dst, const char *const *src)
{
    size_t n = 0;
    while (src && src[n])
        n++;
    if (!src)
        return 0;
    char **v = fl_calloc(n + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    *dst = (const char *const *)v;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = fl_strdup(src[i])))
            return -ENOMEM;
    return 0;
}

static int copy_info(fl_kube_conn *c, const fl_kube_conn_info *s)
{
    fl_kube_conn_info *d = &c->info;
    d->insecure_skip_tls_verify = s->insecure_skip_tls_verify;
    if (set_str((char **)&d->source, s->source ? s->source : "<memory>") ||
        set_str((char **)&d->context, s->context) || set_str((char **)&d->cluster, s->cluster) ||
        set_str((char **)&d->user, s->user) || set_str((char **)&d->ns, s->ns) ||
        set_str((char **)&d->tls_server_name, s->tls_server_name) ||
        set_str((char **)&d->proxy_url, s->proxy_url) || set_str((char **)&d->token, s->token) ||
        set_str((char **)&d->token_file, s->token_file) ||
        set_str((char **)&d->username, s->username) ||
        set_str((char **)&d->password, s->password) ||
        dup_blob(&d->ca_pem, &d->ca_pem_len, s->ca_pem, s->ca_pem_len) ||
        dup_blob(&d->client_cert_pem, &d->client_cert_pem_len, s->client_cert_pem,
                 s->client_cert_pem_len) ||
        dup_blob(&d->client_key_pem, &d->client_key_pem_len, s->client_key_pem,
                 s->client_key_pem_len))
        return -ENOMEM;
    if (!s->exec)
        return 0;
    fl_kube_exec *x = &c->exec;
    x->provide_cluster_info = s->exec->provide_cluster_info;
    if (set_str((char **)&x->command, s->exec->command) ||
        set_str((char **)&x->api_version,
                s->exec->api_version ? s->exec->api_version : "client.authentication.k8s.io/v1") ||
        set_str((char **)&x->interactive_mode,
                s->exec->interactive_mode ? s->exec->interactive_mode : "Never") ||
        dup_list(&x->args, s->exec->args) || dup_list(&x->env, s->exec->env))
        return -ENOMEM;
    d->exec = x;
    return 0;
}

int fl_kube_conn_new(const fl_kube_conn_info *info, fl_kube_conn **out, fl_err *err)
{
    if (!info || !info->server)
        return fl_err_set(err, FL_EPARSE, "connection: no server");
    if (info->exec && !info->exec->command)
        return fl_err_set(err, FL_EPARSE, "connection: exec plugin without command");
    fl_kube_conn *c = conn_alloc();
    if (!c)
        return fl_err_set(err, -ENOMEM, "out of memory");
    int rc = copy_info(c, info);
    if (!rc) {
        rc = normalize_server(info->server, (char **)&c->info.server);
        if (rc == FL_EPARSE)
            fl_err_set(err, rc, "connection: server: not a valid URL: %s", info->server);
    }
    if (rc) {
        if (rc == -ENOMEM)
            fl_err_set(err, rc, "out of memory");
        fl_kube_conn_unref(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ================================================================ credentials */

void fl_kube_cred_done(fl_kube_cred *c)
{
    if (!c)
        return;
    if (c->key_pem)
        memset(c->key_pem, 0, c->key_pem_len);
    free(c->token);
    free(c->username);
    free(c->password);
    free(c->cert_pem);
    free(c->key_pem);
    memset(c, 0, sizeof *c);
}

static int cred_copy(fl_kube_cred *d, const fl_kube_cred *s)
{
    const char *cp = NULL, *kp = NULL;
    *d = (fl_kube_cred)FL_KUBE_CRED_INIT;
    d->expires_ms = s->expires_ms;
    d->generation = s->generation;
    if (set_str(&d->token, s->token) || set_str(&d->username, s->username) ||
        set_str(&d->password, s->password) ||
        dup_blob(&cp, &d->cert_pem_len, s->cert_pem, s->cert_pem_len) ||
        dup_blob(&kp, &d->key_pem_len, s->key_pem, s->key_pem_len)) {
        d->cert_pem = (char *)cp;
        d->key_pem = (char *)kp;
        fl_kube_cred_done(d);
        return -ENOMEM;
    }
    d->cert_pem = (char *)cp;
    d->key_pem = (char *)kp;
    return 0;
}

/* Caller holds c->mu. */
static bool cache_valid(const fl_kube_conn *c)
{
    return c->have_cache && (c->cache.expires_ms == 0 || fl_now_ms() <= c->cache.expires_ms);
}

bool fl_kube_conn_cred_fresh(fl_kube_conn *c)
{
    if (!c->info.exec)
        return true;
    pthread_mutex_lock(&c->mu);
    bool ok = cache_valid(c);
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* Re-read the token file when it changed. Caller holds c->mu. */
static int token_file_refresh(fl_kube_conn *c, fl_err *err)
{
    struct stat st;
    const char *path = c->info.token_file;
    if (stat(path, &st) != 0)
        return fl_err_set(err, -errno, "tokenFile %s: %s", path, strerror(errno));
    if (c->tf.token && st.st_ino == c->tf.ino && st.st_size == c->tf.size &&
        st.st_mtim.tv_sec == c->tf.mtime.tv_sec && st.st_mtim.tv_nsec == c->tf.mtime.tv_nsec)
        return 0;
    fl_buf b = FL_BUF_INIT(FL_KUBECONFIG_MAX_FILE);
    int rc = fl_buf_read_file(&b, path, err);
    if (rc) {
        fl_buf_done(&b);
        return rc;
    }
    size_t s = 0, e = b.len;
    while (s < e && strchr(" \t\r\n", b.data[s]))
        s++;
    while (e > s && strchr(" \t\r\n", b.data[e - 1]))
        e--;
    char *tok = fl_strndup(b.data ? b.data + s : "", e - s);
    fl_buf_done(&b);
    if (!tok)
        return fl_err_set(err, -ENOMEM, "out of memory");
    free(c->tf.token);
    c->tf.token = tok;
    c->tf.ino = st.st_ino;
    c->tf.size = st.st_size;
    c->tf.mtime = st.st_mtim;
    c->generation++;
    return 0;
}

/* The static part of a credential (no plugin). Caller holds c->mu. */
static int static_cred(fl_kube_conn *c, fl_kube_cred *out, fl_err *err)
{
    fl_kube_cred s = FL_KUBE_CRED_INIT;
    int rc = 0;
    if (c->info.token_file && (rc = token_file_refresh(c, err)) != 0)
        return rc;
    s.token = c->info.token_file ? c->tf.token : (char *)c->info.token;
    s.username = (char *)c->info.username;
    s.password = (char *)c->info.password;
    s.cert_pem = (char *)c->info.client_cert_pem;
    s.cert_pem_len = c->info.client_cert_pem_len;
    s.key_pem = (char *)c->info.client_key_pem;
    s.key_pem_len = c->info.client_key_pem_len;
    s.generation = c->generation;
    if (cred_copy(out, &s) != 0)
        return fl_err_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* ---- the plugin process ---- */

typedef struct {
    fl_buf out, errb;
    int status;
    bool timed_out;
} exec_result;

/* KUBERNETES_EXEC_INFO for this conn. */
static int exec_info(fl_kube_conn *c, fl_buf *b)
{
    json_t *root = json_pack("{s:s, s:s, s:{s:b}}", "kind", "ExecCredential", "apiVersion",
                             c->exec.api_version, "spec", "interactive", 0);
    int rc = root ? 0 : -ENOMEM;
    if (!rc && c->exec.provide_cluster_info) {
        json_t *cl = json_object();
        json_object_set_new(json_object_get(root, "spec"), "cluster", cl);
        json_object_set_new(cl, "server", json_string(c->info.server));
        if (c->info.tls_server_name)
            json_object_set_new(cl, "tls-server-name", json_string(c->info.tls_server_name));
        if (c->info.insecure_skip_tls_verify)
            json_object_set_new(cl, "insecure-skip-tls-verify", json_true());
        if (c->info.ca_pem) {
            fl_buf ca = FL_BUF_INIT(FL_KUBECONFIG_MAX_FILE * 2);
            if (fl_base64_encode(FL_BASE64_STD, c->info.ca_pem, c->info.ca_pem_len, &ca) == 0)
                json_object_set_new(cl, "certificate-authority-data", json_string(ca.data));
            fl_buf_done(&ca);
        }
        if (c->info.proxy_url)
            json_object_set_new(cl, "proxy-url", json_string(c->info.proxy_url));
        if (c->exec_cluster_config)
            json_object_set_new(cl, "config",
                                json_loads(c->exec_cluster_config, JSON_DECODE_ANY, NULL));
    }
    if (!rc && fl_buf_puts(b, "KUBERNETES_EXEC_INFO=") != 0)
        rc = -ENOMEM;
    if (!rc) {
        char *s = json_dumps(root, JSON_COMPACT);
        rc = s ? fl_buf_puts(b, s) : -ENOMEM;
        free(s);
    }
    json_decref(root);
    return rc;
}

/* True when "NAME=..." in env has its NAME set by one of over's entries. */
static bool overridden(const char *env, const char *const *over)
{
    size_t n = strcspn(env, "=");
    for (size_t i = 0; over && over[i]; i++)
        if (strncmp(env, over[i], n) == 0 && over[i][n] == '=')
            return true;
    return false;
}

/* environ + the plugin's env (which wins, as with Go's exec.Cmd) +
 * KUBERNETES_EXEC_INFO. Strings borrowed (info is the caller's). */
static char **exec_envp(fl_kube_conn *c, const char *info)
{
    size_t n = 0, m = 0;
    while (environ && environ[n])
        n++;
    while (c->exec.env && c->exec.env[m])
        m++;
    char **v = fl_calloc(n + m + 2, sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!fl_str_has_prefix(environ[i], "KUBERNETES_EXEC_INFO=") &&
            !overridden(environ[i], c->exec.env))
            v[k++] = environ[i];
    for (size_t i = 0; i < m; i++)
        v[k++] = (char *)c->exec.env[i];
    v[k++] = (char *)info;
    return v;
}

static int drain(int fd, fl_buf *b, bool *open_, bool *over)
{
    char tmp[16384];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        *open_ = false;
        return 0;
    }
    if (fl_buf_append(b, tmp, (size_t)n) != 0)
        *over = true;
    return 0;
}

/* Read both pipes until EOF, the deadline, or a cap; then reap the child. */
static void exec_wait(pid_t pid, int ofd, int efd, int64_t timeout_ms, exec_result *r)
{
    bool oo = true, eo = true, over = false;
    int64_t deadline = fl_mono_ms() + timeout_ms;
    while ((oo || eo) && !over) {
        int64_t left = deadline - fl_mono_ms();
        if (left <= 0) {
            r->timed_out = true;
            break;
        }
        struct pollfd p[2] = {{oo ? ofd : -1, POLLIN, 0}, {eo ? efd : -1, POLLIN, 0}};
        int n = poll(p, 2, (int)(left > 1000 ? 1000 : left));
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && p[0].revents)
            drain(ofd, &r->out, &oo, &over);
        if (n > 0 && p[1].revents)
            drain(efd, &r->errb, &eo, &over);
    }
    if (r->timed_out || over)
        kill(pid, SIGKILL);
    while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
        ;
    if (over)
        r->status = -1;
}

static int exec_spawn(fl_kube_conn *c, int64_t timeout_ms, exec_result *r, fl_err *err)
{
    fl_buf info = FL_BUF_INIT(FL_KUBECONFIG_MAX_FILE * 3);
    char **envp = NULL, **argv = NULL;
    int op[2] = {-1, -1}, ep[2] = {-1, -1}, rc = 0;
    posix_spawn_file_actions_t fa;
    bool fa_init = false;
    size_t na = 0;
    while (c->exec.args && c->exec.args[na])
        na++;
    if (exec_info(c, &info) != 0 || !(envp = exec_envp(c, info.data)) ||
        !(argv = fl_calloc(na + 2, sizeof *argv))) {
        rc = fl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    argv[0] = (char *)c->exec.command;
    for (size_t i = 0; i < na; i++)
        argv[i + 1] = (char *)c->exec.args[i];
    if (pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0 ||
        posix_spawn_file_actions_init(&fa) != 0) {
        rc = fl_err_set(err, -errno, "exec plugin: %s", strerror(errno));
        goto out;
    }
    fa_init = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3); /* no daemon fds leak into the plugin */
    pid_t pid;
    int e = posix_spawnp(&pid, c->exec.command, &fa, NULL, argv, envp);
    if (e != 0) {
        rc = fl_err_set(err, FL_EEXEC, "exec: executable %s %s", c->exec.command,
                        e == ENOENT ? "not found" : strerror(e));
        goto out;
    }
    close(op[1]);
    close(ep[1]);
    op[1] = ep[1] = -1;
    exec_wait(pid, op[0], ep[0], timeout_ms, r);
out:
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (op[i] >= 0)
            close(op[i]);
        if (ep[i] >= 0)
            close(ep[i]);
    }
    free(argv);
    free(envp);
    fl_buf_done(&info);
    return rc;
}

/* First line of the plugin's stderr, for messages. */
static void first_line(const fl_buf *b, char *out, size_t size)
{
    out[0] = 0;
    if (!b->data)
        return;
    size_t n = strcspn(b->data, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, b->data, n);
    out[n] = 0;
}

/* Decode an ExecCredential the way client-go validates it. */
static int exec_decode(fl_kube_conn *c, const fl_buf *out, fl_kube_cred *cred, fl_err *err)
{
    json_t *root = NULL;
    fl_err pe = FL_ERR_INIT;
    const char *cmd = c->exec.command;
    int rc = 0;
    if (fl_json_parse(out->data ? out->data : "", out->len, &root, &pe) != 0 ||
        !json_is_object(root)) {
        rc = fl_err_set(err, FL_EEXEC, "exec plugin %s: decoding stdout: %s", cmd,
                        pe.msg[0] ? pe.msg : "not an object");
        goto out;
    }
    const char *api = fl_obj_str(root, "apiVersion");
    if (!api || strcmp(api, c->exec.api_version) != 0) {
        rc = fl_err_set(
            err, FL_EEXEC,
            "exec plugin %s is configured to use API version %s, plugin returned version %s", cmd,
            c->exec.api_version, api ? api : "");
        goto out;
    }
    json_t *st = json_object_get(root, "status");
    if (!json_is_object(st)) {
        rc = fl_err_set(err, FL_EEXEC, "exec plugin %s didn't return a status field", cmd);
        goto out;
    }
    const char *tok = fl_obj_str(st, "token"), *cd = fl_obj_str(st, "clientCertificateData"),
               *kd = fl_obj_str(st, "clientKeyData"), *exp = fl_obj_str(st, "expirationTimestamp");
    bool hc = cd && *cd, hk = kd && *kd;
    if ((!tok || !*tok) && (!hc || !hk)) {
        rc =
            fl_err_set(err, FL_EEXEC, "exec plugin %s didn't return a token or cert/key pair", cmd);
        goto out;
    }
    if (hc != hk) {
        rc = fl_err_set(err, FL_EEXEC, "exec plugin %s returned only certificate or key, not both",
                        cmd);
        goto out;
    }
    int64_t sec = 0;
    if (exp && *exp && fl_time_parse(exp, &sec) != 0) {
        rc = fl_err_set(err, FL_EEXEC, "exec plugin %s: bad expirationTimestamp \"%s\"", cmd, exp);
        goto out;
    }
    fl_kube_cred n = FL_KUBE_CRED_INIT;
    n.expires_ms = exp && *exp ? sec * 1000 : 0;
    if ((tok && *tok && !(n.token = fl_strdup(tok))) ||
        (hc && (!(n.cert_pem = fl_strdup(cd)) || !(n.key_pem = fl_strdup(kd))))) {
        fl_kube_cred_done(&n);
        rc = fl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    n.cert_pem_len = hc ? strlen(cd) : 0;
    n.key_pem_len = hc ? strlen(kd) : 0;
    *cred = n;
out:
    json_decref(root);
    return rc;
}

/* Run the plugin and decode its answer into *cred. */
static int exec_run(fl_kube_conn *c, int64_t timeout_ms, fl_kube_cred *cred, fl_err *err)
{
    exec_result r = {FL_BUF_INIT(FL_KUBE_EXEC_MAX_OUTPUT), FL_BUF_INIT(FL_KUBE_EXEC_MAX_OUTPUT), 0,
                     false};
    char line[256];
    int rc;
    if (strcmp(c->exec.interactive_mode, "Always") == 0) {
        rc = fl_err_set(
            err, FL_EEXEC,
            "exec plugin %s cannot support interactive mode: standard input is not a terminal",
            c->exec.command);
        goto out;
    }
    if ((rc = exec_spawn(c, timeout_ms, &r, err)) != 0)
        goto out;
    first_line(&r.errb, line, sizeof line);
    if (r.timed_out)
        rc = fl_err_set(err, FL_EEXEC, "exec: executable %s timed out after %lld ms",
                        c->exec.command, (long long)timeout_ms);
    else if (r.status == -1)
        rc = fl_err_set(err, FL_EEXEC, "exec: executable %s printed more than %u bytes",
                        c->exec.command, FL_KUBE_EXEC_MAX_OUTPUT);
    else if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        rc = fl_err_set(err, FL_EEXEC, "exec: executable %s failed with exit code %d%s%s",
                        c->exec.command, WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1,
                        line[0] ? ": " : "", line);
    else
        rc = exec_decode(c, &r.out, cred, err);
out:
    fl_buf_done(&r.out);
    fl_buf_done(&r.errb);
    return rc;
}

/* Merge the plugin's credential with the conn's static parts into *out.
 * Caller holds c->mu. */
static int merged_cred(fl_kube_conn *c, fl_kube_cred *out, fl_err *err)
{
    fl_kube_cred s = FL_KUBE_CRED_INIT;
    int rc = static_cred(c, &s, err);
    if (rc)
        return rc;
    if (c->cache.token) {
        free(s.token);
        s.token = fl_strdup(c->cache.token);
    }
    if (c->cache.cert_pem) {
        fl_kube_cred_done(&(fl_kube_cred){
            .cert_pem = s.cert_pem, .key_pem = s.key_pem, .key_pem_len = s.key_pem_len});
        s.cert_pem = fl_strdup(c->cache.cert_pem);
        s.key_pem = fl_strdup(c->cache.key_pem);
        s.cert_pem_len = c->cache.cert_pem_len;
        s.key_pem_len = c->cache.key_pem_len;
    }
    s.expires_ms = c->cache.expires_ms;
    s.generation = c->generation;
    if ((c->cache.token && !s.token) || (c->cache.cert_pem && (!s.cert_pem || !s.key_pem))) {
        fl_kube_cred_done(&s);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

static int exec_credential(fl_kube_conn *c, bool force, fl_kube_cred *out, fl_err *err)
{
    int rc;
    pthread_mutex_lock(&c->exec_mu);
    pthread_mutex_lock(&c->mu);
    if (!force && cache_valid(c)) {
        rc = merged_cred(c, out, err);
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->exec_mu);
        return rc;
    }
    int64_t timeout = c->exec_timeout_ms;
    pthread_mutex_unlock(&c->mu);
    fl_kube_cred fresh = FL_KUBE_CRED_INIT;
    fl_err e2 = FL_ERR_INIT;
    rc = exec_run(c, timeout, &fresh, &e2);
    pthread_mutex_lock(&c->mu);
    if (!rc) {
        fl_kube_cred_done(&c->cache);
        c->cache = fresh;
        c->have_cache = true;
        c->generation++;
        rc = merged_cred(c, out, err);
    } else {
        fl_err_set(err, rc, "user \"%s\": %s", c->info.user ? c->info.user : "", e2.msg);
    }
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&c->exec_mu);
    return rc;
}

int fl_kubeconfig_credential(fl_kube_conn *c, bool force_refresh, fl_kube_cred *out, fl_err *err)
{
    if (c->info.exec)
        return exec_credential(c, force_refresh, out, err);
    pthread_mutex_lock(&c->mu);
    int rc = static_cred(c, out, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}
