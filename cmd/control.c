/*
 * cmd/control.c: Flotilla's own control-plane API — what karmada-apiserver
 * is to Karmada — served by `flotilla serve` at the listener's root (/api,
 * /apis, /openapi, /version) when flotilla.yaml has no host:. It is the
 * generic apiserver/ over a durable store (dataDir/control.db), with the
 * built-in kinds and deploy/crds/ (PropagationPolicy, OverridePolicy,
 * FederatedResourceQuota, KarmadaQuota, ResourceBinding, ...) and no
 * controllers: a Deployment here is a template. The daemon then reads its
 * host objects from it exactly as from an external host (serve.c points the
 * host collector and quota/ at dataDir/flotilla.kubeconfig).
 *
 * Authorization (the auth hook): the admin token of dataDir/control.token
 * is admin; other users authenticate as the search API does (tokens file,
 * client certificates) and their groups give the role: "system:masters" or
 * "admin" = everything, "edit" = read all and write namespaced objects in
 * the namespaces the user's auth.scopes name ("*" or no scopes = all),
 * "view" = get/list/watch of everything but Secrets. Anything else is 403
 * in kube-apiserver's words. On plain http with a loopback listen address,
 * requests without credentials from loopback peers are admin (kubectl never
 * sends a kubeconfig's token to an http:// server; the simulator does the
 * same); configure tls: to make every request authenticate.
 *
 * Also `flotilla backup FILE` / `flotilla restore FILE`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apiserver/apiserver.h"
#include "cmd/cmd.h"
#include "cmd/control.h"
#include "kube/kube.h"

#define TOKEN_HEX 64

struct cmd_control {
    const fl_config *cfg;
    fl_kube_resources *reg;
    fl_apiserver_store *st;
    fl_apiserver *api;
    fl_query *query; /* borrowed: authenticates tokens-file users */
    bool anon_admin; /* plain http on a loopback listen address */
    char token[TOKEN_HEX + 1];
    char data_dir[4096];
};

typedef enum { ROLE_NONE = 0, ROLE_VIEW, ROLE_EDIT, ROLE_ADMIN } role;

/* ------------------------------------------------------------ admin token */

static int load_token(cmd_control *c, fl_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/control.token", c->data_dir);
    fl_buf b = FL_BUF_INIT(4096);
    if (access(path, F_OK) == 0) {
        int rc = fl_buf_read_file(&b, path, err);
        size_t n = 0;
        while (rc == 0 && n < b.len && n < TOKEN_HEX && b.data[n] > ' ')
            n++;
        if (rc == 0 && n != TOKEN_HEX)
            rc = fl_err_set(err, FL_EPARSE, "%s: want %d hex characters", path, TOKEN_HEX);
        if (rc == 0)
            memcpy(c->token, b.data, TOKEN_HEX);
        fl_buf_done(&b);
        return rc;
    }
    unsigned char raw[TOKEN_HEX / 2];
    int rc = fl_random_bytes(raw, sizeof raw);
    if (rc != 0)
        return fl_err_set(err, rc, "random: %s", fl_strerror(rc));
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(c->token + 2 * i, 3, "%02x", raw[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return fl_err_set(err, -errno, "%s: %s", path, strerror(errno));
    bool ok =
        write(fd, c->token, TOKEN_HEX) == TOKEN_HEX && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    return ok ? 0 : fl_err_set(err, -EIO, "%s: cannot write", path);
}

static bool token_eq(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)(b[i] ^ (i < n ? a[i] : 0));
    return diff == 0;
}

/* ------------------------------------------------------------------ auth */

static bool has_group(const fl_query_identity *id, const char *g)
{
    for (size_t i = 0; i < id->ngroups; i++)
        if (id->groups[i] && !strcmp(id->groups[i], g))
            return true;
    return false;
}

static role role_of(const fl_query_identity *id)
{
    if (has_group(id, "system:masters") || has_group(id, "admin"))
        return ROLE_ADMIN;
    if (has_group(id, "edit"))
        return ROLE_EDIT;
    return has_group(id, "view") ? ROLE_VIEW : ROLE_NONE;
}

/* May an edit user write in ns? Its groups' auth.scopes namespaces. */
static bool edit_namespace(const cmd_control *c, const fl_query_identity *id, const char *ns)
{
    if (!ns || !ns[0])
        return false; /* cluster-scoped: admin only */
    if (c->cfg->nscopes == 0)
        return true;
    for (size_t i = 0; i < c->cfg->nscopes; i++) {
        const fl_config_scope *s = &c->cfg->scopes[i];
        if (!has_group(id, s->group))
            continue;
        if (s->nnamespaces == 0)
            return true;
        for (size_t k = 0; k < s->nnamespaces; k++)
            if (!strcmp(s->namespaces[k], "*") || !strcmp(s->namespaces[k], ns))
                return true;
    }
    return false;
}

static bool read_verb(const char *v)
{
    return !strcmp(v, "get") || !strcmp(v, "list") || !strcmp(v, "watch");
}

static bool allowed(const cmd_control *c, const fl_query_identity *id, role ro, const char *verb,
                    const fl_apiserver_res *r, const char *ns)
{
    const fl_kube_resource *kr = r->kr;
    bool secret = !kr->group[0] && !strcmp(kr->resource, "secrets");
    switch (ro) {
    case ROLE_ADMIN: return true;
    case ROLE_EDIT: return read_verb(verb) || (kr->namespaced && edit_namespace(c, id, ns));
    case ROLE_VIEW: return read_verb(verb) && !secret;
    default: return false;
    }
}

static void forbid(fl_request *req, const char *user, const char *verb, const fl_apiserver_res *r,
                   const char *ns, const char *name)
{
    const fl_kube_resource *kr = r->kr;
    char q[300], what[700], msg[1400];
    fl_apiserver_res_qualified(r, q, sizeof q);
    if (name && name[0])
        snprintf(what, sizeof what, "%s \"%s\"", q, name);
    else
        snprintf(what, sizeof what, "%s", q);
    char where[400];
    if (ns && ns[0])
        snprintf(where, sizeof where, "in the namespace \"%s\"", ns);
    else
        snprintf(where, sizeof where, "at the cluster scope");
    snprintf(msg, sizeof msg,
             "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group "
             "\"%s\" %s",
             what, user, verb, kr->resource, kr->group, where);
    fl_apiserver_reply_status(req, 403, "Forbidden", msg, name && name[0] ? name : NULL, kr->group,
                              kr->resource);
}

static int auth(void *ud, fl_request *req, const char *verb, const fl_apiserver_res *r,
                const char *ns, const char *name)
{
    cmd_control *c = ud;
    const char *h = fl_request_header(req, "Authorization");
    fl_query_identity id = {0};
    static const char *const masters[] = {"system:masters"};
    role ro = ROLE_NONE;
    if (h && !strncasecmp(h, "Bearer ", 7) && token_eq(h + 7, c->token)) {
        id.user = "flotilla-admin", id.groups = masters, id.ngroups = 1;
        ro = ROLE_ADMIN;
    } else if (!h && c->anon_admin && fl_request_peer_is_loopback(req)) {
        id.user = "system:anonymous", id.groups = masters, id.ngroups = 1;
        ro = ROLE_ADMIN;
    } else if (c->query && fl_query_identify(c->query, req, &id) == 0) {
        ro = role_of(&id);
    } else if (c->query) {
        return FL_EUNAUTHORIZED; /* answered 401 */
    } else {
        fl_request_reply_status(req, 401, "Unauthorized", "Unauthorized");
        return FL_EUNAUTHORIZED;
    }
    fl_request_set_user(req, id.user);
    if (!verb || allowed(c, &id, ro, verb, r, ns))
        return 0;
    forbid(req, id.user ? id.user : "system:anonymous", verb, r, ns, name);
    return FL_EFORBIDDEN;
}

/* ------------------------------------------------------------- lifecycle */

static int load_builtin_crds(cmd_control *c, fl_err *err)
{
    const fl_apiserver_res *r =
        fl_apiserver_store_find(c->st, "apiextensions.k8s.io", "v1", "customresourcedefinitions");
    if (!r)
        return fl_err_set(err, FL_ENOTFOUND, "registry has no customresourcedefinitions");
    for (size_t i = 0; fl_apiserver_crds[i]; i++) {
        json_t *crd = NULL;
        fl_apiserver_obj *o = NULL;
        int rc = fl_yaml_parse(fl_apiserver_crds[i], strlen(fl_apiserver_crds[i]), &crd, err);
        const char *name = rc == 0 ? fl_obj_str(crd, "metadata.name") : NULL;
        if (rc == 0 && name && fl_apiserver_store_get(c->st, r, "", name, &o) == 0) {
            fl_apiserver_obj_unref(o); /* stored by an earlier start (and maybe edited) */
            json_decref(crd);
            continue;
        }
        if (rc == 0)
            rc = fl_apiserver_create_object(c->api, r, crd, "flotilla", false, &o, err);
        json_decref(crd);
        fl_apiserver_obj_unref(o);
        if (rc != 0)
            return fl_err_wrap(err, rc, "built-in CRD %zu", i);
    }
    return 0;
}

/* The namespaces every kube-apiserver has, made on first start. */
static int ensure_namespaces(cmd_control *c, fl_err *err)
{
    static const char *const names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
    const fl_apiserver_res *r = fl_apiserver_store_find(c->st, "", "v1", "namespaces");
    for (size_t i = 0; r && i < FL_ARRAY_LEN(names); i++) {
        fl_apiserver_obj *o = NULL;
        if (fl_apiserver_store_get(c->st, r, "", names[i], &o) == 0) {
            fl_apiserver_obj_unref(o);
            continue;
        }
        json_t *ns = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                               "metadata", "name", names[i]);
        int rc =
            ns ? fl_apiserver_create_object(c->api, r, ns, "flotilla", false, &o, err) : -ENOMEM;
        json_decref(ns);
        fl_apiserver_obj_unref(o);
        if (rc != 0)
            return fl_err_wrap(err, rc, "namespace %s", names[i]);
    }
    return 0;
}

static bool loopback_listen(const char *listen)
{
    return fl_str_has_prefix(listen, "127.") || fl_str_has_prefix(listen, "localhost:") ||
           fl_str_has_prefix(listen, "[::1]:");
}

int cmd_control_open(const fl_config *cfg, cmd_control **out, fl_err *err)
{
    cmd_control *c = calloc(1, sizeof *c);
    if (!c)
        return fl_err_set(err, -ENOMEM, "out of memory");
    c->cfg = cfg;
    fl_strlcpy(c->data_dir, cfg->data_dir, sizeof c->data_dir);
    c->anon_admin = !cfg->tls_cert && loopback_listen(cfg->listen);
    char path[4200];
    snprintf(path, sizeof path, "%s/control.db", cfg->data_dir);
    fl_apiserver_store_opts so = {.history = (size_t)cfg->control_history,
                                  .bookmark_s = 60,
                                  .table = fl_apiserver_table_event};
    int rc = load_token(c, err);
    if (rc == 0 && (rc = fl_kube_resources_new(true, &c->reg)) != 0)
        fl_err_set(err, rc, "registry: %s", fl_strerror(rc));
    if (rc == 0)
        rc = fl_apiserver_store_open(&so, path, &c->st, err);
    if (rc == 0) {
        fl_apiserver_opts ao = {
            .name = "flotilla", .reg = c->reg, .st = c->st, .server_addr = cfg->listen};
        ao.hooks.ud = c;
        ao.hooks.auth = auth;
        if ((rc = fl_apiserver_new(&ao, &c->api)) != 0)
            fl_err_set(err, rc, "%s: loading objects: %s", path, fl_strerror(rc));
    }
    if (rc == 0)
        rc = load_builtin_crds(c, err);
    if (rc == 0)
        rc = ensure_namespaces(c, err);
    if (rc != 0) {
        cmd_control_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int cmd_control_route(cmd_control *c, fl_server *srv, fl_query *q)
{
    static const char *const prefixes[] = {"/api", "/apis", "/openapi", "/version"};
    c->query = q;
    for (size_t i = 0; i < FL_ARRAY_LEN(prefixes); i++) {
        int rc = fl_server_route(srv, NULL, prefixes[i], fl_apiserver_handle, c->api);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The CA a client should trust: ca.crt beside tls.cert (what `flotilla
 * certs server` writes), else tls.clientCA. */
static const char *ca_path(const fl_config *cfg, char *buf, size_t n)
{
    const char *slash = strrchr(cfg->tls_cert, '/');
    snprintf(buf, n, "%.*sca.crt", slash ? (int)(slash - cfg->tls_cert + 1) : 0, cfg->tls_cert);
    if (access(buf, R_OK) == 0)
        return buf;
    return cfg->tls_client_ca;
}

int cmd_control_write_kubeconfig(cmd_control *c, unsigned port, char *path, size_t n, fl_err *err)
{
    const fl_config *cfg = c->cfg;
    char host[300], ca[4200], tmp[4300];
    fl_strlcpy(host, cfg->listen, sizeof host);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = 0;
    if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "[::]"))
        fl_strlcpy(host, "127.0.0.1", sizeof host);
    snprintf(path, n, "%s/flotilla.kubeconfig", c->data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const char *cap = cfg->tls_cert ? ca_path(cfg, ca, sizeof ca) : NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return fl_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
    }
    fprintf(f,
            "# Written by flotilla serve: its own control-plane API (admin).\n"
            "apiVersion: v1\nkind: Config\nclusters:\n- name: flotilla\n  cluster:\n"
            "    server: %s://%s:%u\n",
            cfg->tls_cert ? "https" : "http", host, port);
    if (cap)
        fprintf(f, "    certificate-authority: %s\n", cap);
    fprintf(f,
            "users:\n- name: flotilla-admin\n  user:\n    token: %s\n"
            "contexts:\n- name: flotilla\n  context:\n    cluster: flotilla\n"
            "    user: flotilla-admin\ncurrent-context: flotilla\n",
            c->token);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        return fl_err_set(err, -EIO, "%s: cannot write", path);
    return 0;
}

void cmd_control_free(cmd_control *c)
{
    if (!c)
        return;
    fl_apiserver_store_free(c->st); /* ends watches first: they use the server */
    fl_apiserver_free(c->api);
    fl_kube_resources_free(c->reg);
    free(c);
}

/* ------------------------------------------------------- backup, restore */

static void usage_br(FILE *f, const char *cmd)
{
    if (!strcmp(cmd, "backup"))
        fprintf(f, "Usage: flotilla backup (-c FILE | --data-dir DIR) OUT\n\n"
                   "Copy the control-plane store (dataDir/control.db) to OUT while the daemon\n"
                   "runs: one consistent revision (SQLite's online backup). OUT must not exist.\n");
    else
        fprintf(f,
                "Usage: flotilla restore (-c FILE | --data-dir DIR) IN\n\n"
                "Make IN (a `flotilla backup` file) the control-plane store of a data dir\n"
                "that has none (a fresh one, or after removing control.db with the daemon\n"
                "stopped). The next `flotilla serve` serves its objects and resourceVersions.\n");
}

/* -c FILE or --data-dir DIR, then one path. 0 or 2 (usage). */
static int br_args(int argc, char **argv, char *dir, size_t n, const char **file)
{
    const char *cfg = NULL, *dd = NULL;
    *file = NULL;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            cfg = argv[++i];
        else if (!strcmp(argv[i], "--data-dir") && i + 1 < argc)
            dd = argv[++i];
        else if (argv[i][0] != '-' && !*file)
            *file = argv[i];
        else
            return 2;
    }
    if (!*file || (!cfg && !dd))
        return 2;
    if (dd) {
        fl_strlcpy(dir, dd, n);
        return 0;
    }
    fl_config *c = NULL;
    fl_err err = FL_ERR_INIT;
    if (fl_config_load(cfg, &c, &err) != 0) {
        fprintf(stderr, "flotilla %s: %s\n", argv[0], err.msg);
        return 1;
    }
    fl_strlcpy(dir, c->data_dir, n);
    fl_config_free(c);
    return 0;
}

int cmd_backup(int argc, char **argv)
{
    char dir[4096], db[4200];
    const char *out = NULL;
    if (cmd_wants_help(argc, argv)) {
        usage_br(stdout, "backup");
        return 0;
    }
    int rc = br_args(argc, argv, dir, sizeof dir, &out);
    if (rc) {
        if (rc == 2)
            usage_br(stderr, "backup");
        return rc;
    }
    snprintf(db, sizeof db, "%s/control.db", dir);
    fl_err err = FL_ERR_INIT;
    if (access(db, R_OK) != 0) {
        fprintf(stderr, "flotilla backup: %s: %s\n", db, strerror(errno));
        return 1;
    }
    if (access(out, F_OK) == 0) {
        fprintf(stderr, "flotilla backup: %s exists; not overwriting it\n", out);
        return 1;
    }
    if (fl_apiserver_backup(db, out, &err) != 0) {
        fprintf(stderr, "flotilla backup: %s\n", err.msg);
        unlink(out);
        return 1;
    }
    printf("backed up %s to %s\n", db, out);
    return 0;
}

int cmd_restore(int argc, char **argv)
{
    char dir[4096], db[4200], tmp[4300];
    const char *in = NULL;
    if (cmd_wants_help(argc, argv)) {
        usage_br(stdout, "restore");
        return 0;
    }
    int rc = br_args(argc, argv, dir, sizeof dir, &in);
    if (rc) {
        if (rc == 2)
            usage_br(stderr, "restore");
        return rc;
    }
    snprintf(db, sizeof db, "%s/control.db", dir);
    snprintf(tmp, sizeof tmp, "%s/control.db.restore", dir);
    if (access(db, F_OK) == 0) {
        fprintf(stderr,
                "flotilla restore: %s exists: restore into a data dir without one "
                "(stop the daemon and move it away first)\n",
                db);
        return 1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "flotilla restore: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* check the file as the daemon would (refuses a corrupt one), copy it
     * with the backup API, then move it into place */
    fl_err err = FL_ERR_INIT;
    fl_apiserver_store *st = NULL;
    fl_apiserver_store_opts so = {.history = 10000};
    unlink(tmp);
    if (fl_apiserver_backup(in, tmp, &err) != 0 ||
        fl_apiserver_store_open(&so, tmp, &st, &err) != 0) {
        fprintf(stderr, "flotilla restore: %s\n", err.msg);
        unlink(tmp);
        return 1;
    }
    uint64_t rv = fl_apiserver_store_rv(st);
    fl_apiserver_store_free(st);
    char wal[4400];
    snprintf(wal, sizeof wal, "%s-wal", tmp);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", tmp);
    unlink(wal);
    if (rename(tmp, db) != 0) {
        fprintf(stderr, "flotilla restore: %s: %s\n", db, strerror(errno));
        return 1;
    }
    printf("restored %s into %s (resourceVersion %llu)\n", in, db, (unsigned long long)rv);
    return 0;
}
