/*
 * sim/sim.c: a fleet of virtual clusters — naming and topology (3 regions
 * x 2 zones, a provider per region), per-cluster registry + store seeded
 * with the system namespaces and Nodes, the optional "host" cluster with
 * the Karmada/Flotilla CRDs (embedded from deploy/crds/ at build time),
 * listeners (a port each, or one port with /clusters/<name> prefixes),
 * TLS material, kubeconfigs, and the flotilla.yaml + tokens.csv writer.
 * Called from the command's main thread only.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/sim_int.h"

#define MAX_CLUSTERS 1000

struct fl_sim {
    fl_sim_opts o;
    char dir[PATH_MAX]; /* absolute kubeconfig dir */
    char host[64];      /* listen host */
    unsigned port;      /* first port (0 = any) */
    sim_cluster **c;
    size_t n;
    fl_server *shared; /* path-prefix mode */
    fl_cert_pair ca, cert;
    bool started;
    sim_ctl *ctl; /* control endpoint (ctl.c), after start */
};

static const char *const regions[] = {"east", "west", "central"};
static const char *const providers[] = {"aws", "gcp", "azure"};

/* --------------------------------------------------------------- seeding */

static int seed_create(sim_cluster *c, const char *group, const char *resource, json_t *obj)
{
    const fl_apiserver_res *r = fl_apiserver_store_find(c->st, group, "v1", resource);
    fl_apiserver_obj *o = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = r && obj ? fl_apiserver_create_object(c->api, r, obj, "flotilla-sim", false, &o, &err)
                      : -ENOMEM;
    fl_apiserver_obj_unref(o);
    json_decref(obj);
    return rc;
}

static json_t *node_json(const sim_cluster *c, unsigned i, const sim_node_shape *sh)
{
    char name[96], ip[32], zone[40], type[40], cores[16], mem[24], acpu[24], amem[24], pods[16];
    snprintf(type, sizeof(type), "sim.standard-%u", sh->cores);
    snprintf(cores, sizeof(cores), "%u", sh->cores);
    snprintf(mem, sizeof(mem), "%uGi", sh->mem_gi);
    snprintf(acpu, sizeof(acpu), "%um", sh->alloc_cpu_m);
    snprintf(amem, sizeof(amem), "%uGi", sh->alloc_mem_gi);
    snprintf(pods, sizeof(pods), "%u", sh->pods);
    snprintf(name, sizeof(name), "%s-node-%u", c->name, i + 1);
    snprintf(ip, sizeof(ip), "10.%u.%u.%u", (unsigned)(c->seed % 200) + 10, i / 250, i % 250 + 2);
    snprintf(zone, sizeof(zone), "%s", c->zone);
    return json_pack(
        "{s:s,s:s,s:{s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}},s:{s:s},"
        "s:{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s},"
        "s:[{s:s,s:s,s:s,s:s}],s:[{s:s,s:s},{s:s,s:s}],s:{s:{s:i}},"
        "s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}}}",
        "kind", "Node", "apiVersion", "v1", "metadata", "name", name, "labels",
        "kubernetes.io/hostname", name, "kubernetes.io/os", "linux", "kubernetes.io/arch", "amd64",
        "node.kubernetes.io/instance-type", type, "topology.kubernetes.io/region", c->region,
        "topology.kubernetes.io/zone", zone, "flotilla.io/provider", c->provider,
        "flotilla.io/cluster", c->name, "spec", "providerID", "sim://node", "status", "capacity",
        "cpu", cores, "memory", mem, "pods", pods, "ephemeral-storage", "100Gi", "allocatable",
        "cpu", acpu, "memory", amem, "pods", pods, "ephemeral-storage", "95Gi", "conditions",
        "type", "Ready", "status", "True", "reason", "KubeletReady", "message",
        "kubelet is posting ready status", "addresses", "type", "InternalIP", "address", ip, "type",
        "Hostname", "address", name, "daemonEndpoints", "kubeletEndpoint", "Port", 10250,
        "nodeInfo", "machineID", "", "systemUUID", "", "bootID", "", "kernelVersion", "6.1.0-sim",
        "osImage", "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion",
        "containerd://1.6.20", "kubeletVersion", "v1.26.0", "kubeProxyVersion", "v1.26.0",
        "operatingSystem", "linux", "architecture", "amd64");
}

static int seed_cluster(sim_cluster *c, unsigned nodes)
{
    static const char *const ns[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < FL_ARRAY_LEN(ns); i++)
        rc = seed_create(c, "", "namespaces",
                         json_pack("{s:s,s:s,s:{s:s}}", "kind", "Namespace", "apiVersion", "v1",
                                   "metadata", "name", ns[i]));
    sim_node_shape sh = {8, 32, 7800, 31, 110};
    if (!c->is_host && nodes)
        sim_fleet_node_shape(c, &sh); /* room for the pods seeding binds */
    for (unsigned i = 0; rc == 0 && !c->is_host && i < nodes; i++)
        rc = seed_create(c, "", "nodes", node_json(c, i, &sh));
    return rc;
}

static int load_crds(sim_cluster *c, fl_err *err)
{
    const fl_apiserver_res *r =
        fl_apiserver_store_find(c->st, "apiextensions.k8s.io", "v1", "customresourcedefinitions");
    if (!r)
        return fl_err_set(err, FL_ENOTFOUND, "registry has no customresourcedefinitions");
    for (size_t i = 0; fl_apiserver_crds[i]; i++) {
        json_t *crd = NULL;
        fl_apiserver_obj *o = NULL;
        int rc = fl_yaml_parse(fl_apiserver_crds[i], strlen(fl_apiserver_crds[i]), &crd, err);
        if (rc == 0)
            rc = fl_apiserver_create_object(c->api, r, crd, "flotilla-sim", false, &o, err);
        json_decref(crd);
        fl_apiserver_obj_unref(o);
        if (rc != 0)
            return fl_err_wrap(err, rc, "CRD %zu", i);
    }
    return 0;
}

/* --------------------------------------------------------------- clusters */

static void cluster_free(sim_cluster *c)
{
    if (!c)
        return;
    fl_server_stop(c->srv);         /* streams end; their owners close them next */
    sim_ctrl_stop(c->ctrl);         /* its writes end before the store goes */
    sim_fault_stop(c->fault);       /* churn stops before the store goes */
    fl_apiserver_store_free(c->st); /* closes the watches' streams */
    sim_fault_free(c->fault);       /* after the watches deregistered */
    fl_server_free(c->srv);
    if (c->hold_fd >= 0)
        close(c->hold_fd);
    fl_kube_resources_free(c->reg);
    fl_apiserver_free(c->api); /* after the watches ended (their hooks use it) */
    free(c);
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char r[64];
    fl_random_bytes(r, bytes);
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static void name_cluster(sim_cluster *c, size_t k, bool host)
{
    if (host) {
        snprintf(c->name, sizeof(c->name), "host");
        snprintf(c->region, sizeof(c->region), "central");
        snprintf(c->zone, sizeof(c->zone), "central-a");
        snprintf(c->provider, sizeof(c->provider), "azure");
        return;
    }
    size_t reg = (k / 2) % 3, idx = (k / 6) * 2 + k % 2 + 1;
    snprintf(c->name, sizeof(c->name), "%s-%zu", regions[reg], idx);
    snprintf(c->region, sizeof(c->region), "%s", regions[reg]);
    snprintf(c->zone, sizeof(c->zone), "%s-%c", regions[reg], k % 2 ? 'b' : 'a');
    snprintf(c->provider, sizeof(c->provider), "%s", providers[reg]);
}

/* A listen host only this machine can reach. */
static bool loopback_host(const char *h)
{
    return fl_str_has_prefix(h, "127.") || !strcmp(h, "localhost") || !strcmp(h, "::1") ||
           !strcmp(h, "[::1]");
}

/* ------------------------------------------ the apiserver's hooks (ud = c) */

static bool hook_intercept(void *ud, fl_request *req)
{
    return sim_fault_intercept(ud, req);
}

static bool hook_take_410(void *ud, bool watch)
{
    return sim_fault_take_410(ud, watch);
}

static void hook_watch_add(void *ud, fl_apiserver_watch *w, fl_stream *s)
{
    sim_fault_watch_add(ud, w, s);
}

static void hook_watch_del(void *ud, fl_apiserver_watch *w)
{
    sim_fault_watch_del(ud, w);
}

static int hook_watch_write(void *ud, fl_stream *s, const char *data, size_t len)
{
    return sim_fault_watch_write(ud, s, data, len);
}

static int hook_admit(void *ud, const fl_apiserver_res *r, const json_t *obj, const char *ns,
                      fl_err *err)
{
    return sim_quota_admit(ud, r, obj, ns, err);
}

static bool hook_log(void *ud, fl_request *req, const fl_apiserver_obj *o)
{
    sim_cluster *c = ud;
    if (!c->ctrl)
        return false;
    sim_ctrl_log(c->ctrl, req, o);
    return true;
}

/* c's generic API server over its registry and store, with the sim's
 * faults, ResourceQuota admission and kubelet logs plugged in. */
static int api_new(sim_cluster *c)
{
    fl_apiserver_opts o = {
        .name = c->name,
        .token = c->token,
        .prefix = c->prefix,
        .anon_admin = c->anon_admin,
        .server_addr = c->server_addr,
        .fs_uid = c->fs_uid,
        .pl_uid = c->pl_uid,
        .reg = c->reg,
        .st = c->st,
        .hooks = {c, hook_intercept, hook_take_410, hook_watch_add, hook_watch_del,
                  hook_watch_write, hook_admit, hook_log, NULL},
    };
    return fl_apiserver_new(&o, &c->api);
}

static int cluster_new(fl_sim *s, size_t k, bool host, sim_cluster **out, fl_err *err)
{
    sim_cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->hold_fd = -1;
    name_cluster(c, k, host);
    c->is_host = host;
    c->anon_admin = !s->o.tls && !s->o.strict_auth && loopback_host(s->host);
    c->seed = s->o.seed * 1000003u + k;
    random_hex(c->token, 32);
    fl_uuid4(c->fs_uid);
    fl_uuid4(c->pl_uid);
    if (s->o.path_prefix)
        snprintf(c->prefix, sizeof(c->prefix), "/clusters/%s", c->name);
    c->sim = s;
    c->nodes = host ? 0 : s->o.nodes;
    c->pods = host ? 0 : s->o.pods;
    c->namespaces = host ? 0 : s->o.namespaces;
    c->churn = host ? 0 : s->o.churn;
    fl_apiserver_store_opts so = {s->o.history, s->o.bookmark_s, fl_apiserver_table_event};
    int rc = fl_kube_resources_new(true, &c->reg);
    if (rc == 0)
        rc = fl_apiserver_store_new(&so, &c->st);
    if (rc == 0)
        rc = api_new(c);
    if (rc == 0)
        rc = seed_cluster(c, s->o.nodes);
    if (rc == 0 && host)
        rc = load_crds(c, err);
    if (rc == 0)
        rc = sim_fault_new(c, &c->fault);
    if (rc != 0) {
        cluster_free(c);
        return err && err->code ? rc
                                : fl_err_set(err, rc, "cluster %s: %s", c->name, fl_strerror(rc));
    }
    *out = c;
    return 0;
}

/* --------------------------------------------------------------- lifecycle */

static int parse_listen(fl_sim *s, const char *listen, fl_err *err)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    uint64_t port = 0;
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(s->host) ||
        fl_parse_u64(colon + 1, strlen(colon + 1), &port) != 0 || port > 65535)
        return fl_err_set(err, -EINVAL, "--listen: want HOST:PORT, got \"%s\"",
                          listen ? listen : "");
    snprintf(s->host, sizeof(s->host), "%.*s", (int)(colon - listen), listen);
    s->port = (unsigned)port;
    return 0;
}

static int make_tls(fl_sim *s, fl_err *err)
{
    const char *hosts[] = {s->host, "localhost", "127.0.0.1"};
    int rc = fl_cert_ca_new("flotilla-sim-ca", 365, &s->ca, err);
    if (rc == 0)
        rc = fl_cert_server_new(&s->ca, hosts, 3, 365, &s->cert, err);
    if (rc != 0)
        return rc;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/ca.crt", s->dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return fl_err_set(err, -errno, "%s: %s", path, strerror(errno));
    fputs(s->ca.cert_pem, f);
    return fclose(f) == 0 ? 0 : fl_err_set(err, -EIO, "%s: write failed", path);
}

int fl_sim_new(const fl_sim_opts *opts, fl_sim **out, fl_err *err)
{
    fl_sim *s = calloc(1, sizeof(*s));
    int rc = 0;
    if (!s)
        return -ENOMEM;
    s->o = *opts;
    if (s->o.clusters < 1 || s->o.clusters > MAX_CLUSTERS) {
        rc = fl_err_set(err, -EINVAL, "--clusters must be 1..%d", MAX_CLUSTERS);
        goto fail;
    }
    if (!s->o.kubeconfig_dir || !*s->o.kubeconfig_dir) {
        rc = fl_err_set(err, -EINVAL, "--kubeconfig-dir is required");
        goto fail;
    }
    if ((rc = parse_listen(s, s->o.listen, err)) != 0)
        goto fail;
    mkdir(s->o.kubeconfig_dir, 0755);
    if (!realpath(s->o.kubeconfig_dir, s->dir)) {
        rc = fl_err_set(err, -errno, "%s: %s", s->o.kubeconfig_dir, strerror(errno));
        goto fail;
    }
    if (s->o.tls && (rc = make_tls(s, err)) != 0)
        goto fail;
    size_t total = s->o.clusters + (s->o.host ? 1 : 0);
    s->c = calloc(total, sizeof(*s->c));
    if (!s->c) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t k = 0; k < total; k++) {
        if ((rc = cluster_new(s, k, k == s->o.clusters, &s->c[k], err)) != 0)
            goto fail;
        s->n++;
    }
    if ((rc = sim_fleet_seed_all(s->c, s->n, err)) != 0) /* --pods, --namespaces */
        goto fail;
    *out = s;
    return 0;
fail:
    fl_sim_free(s);
    return rc;
}

static int kubeconfig_write(const fl_sim *s, const sim_cluster *c, fl_err *err)
{
    char path[PATH_MAX + 80], tmp[PATH_MAX + 96], ca[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s.kubeconfig", s->dir, c->name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(ca, sizeof(ca), "%s/ca.crt", s->dir);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return fl_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
    fprintf(f,
            "# Written by flotilla sim: virtual cluster %s (region %s, zone %s, provider %s).\n"
            "apiVersion: v1\nkind: Config\nclusters:\n- name: %s\n  cluster:\n"
            "    server: %s\n",
            c->name, c->region, c->zone, c->provider, c->name, c->url);
    if (s->o.tls)
        fprintf(f, "    certificate-authority: %s\n", ca);
    fprintf(f,
            "contexts:\n- name: %s\n  context:\n    cluster: %s\n    user: %s-admin\n"
            "    namespace: default\ncurrent-context: %s\npreferences: {}\nusers:\n"
            "- name: %s-admin\n  user:\n    token: %s\n",
            c->name, c->name, c->name, c->name, c->name, c->token);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return fl_err_set(err, -EIO, "%s: write failed", path);
    chmod(path, 0600);
    return 0;
}

static int listener(fl_sim *s, unsigned port, fl_server **out, fl_err *err)
{
    char listen[96];
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    snprintf(listen, sizeof(listen), "%s:%u", s->host, port);
    so.name = "sim";
    so.listen = listen;
    so.threads = s->o.threads ? s->o.threads : 2;
    so.access_log = fl_log_enabled(FL_LOG_DEBUG);
    if (s->o.tls) {
        so.tls_cert_pem = s->cert.cert_pem;
        so.tls_key_pem = s->cert.key_pem;
    }
    return fl_server_new(&so, out, err);
}

static void set_url(fl_sim *s, sim_cluster *c, uint16_t port)
{
    snprintf(c->server_addr, sizeof(c->server_addr), "%s:%u", s->host, port);
    fl_apiserver_set_server_addr(c->api, c->server_addr);
    snprintf(c->url, sizeof(c->url), "%s://%s:%u%s", s->o.tls ? "https" : "http", s->host, port,
             c->prefix);
}

int fl_sim_start(fl_sim *s, fl_err *err)
{
    int rc = 0;
    if (s->o.path_prefix) {
        rc = listener(s, s->port, &s->shared, err);
        for (size_t i = 0; rc == 0 && i < s->n; i++)
            rc = fl_server_route(s->shared, NULL, s->c[i]->prefix, fl_apiserver_handle,
                                 s->c[i]->api);
        if (rc == 0)
            rc = fl_server_start(s->shared, err);
        for (size_t i = 0; rc == 0 && i < s->n; i++)
            set_url(s, s->c[i], fl_server_port(s->shared));
    } else {
        for (size_t i = 0; rc == 0 && i < s->n; i++) {
            sim_cluster *c = s->c[i];
            rc = listener(s, s->port ? s->port + (unsigned)i : 0, &c->srv, err);
            if (rc == 0)
                rc = fl_server_route(c->srv, NULL, "/", fl_apiserver_handle, c->api);
            if (rc == 0)
                rc = fl_server_start(c->srv, err);
            if (rc == 0)
                set_url(s, c, fl_server_port(c->srv));
        }
    }
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        rc = kubeconfig_write(s, s->c[i], err);
    if (rc == 0)
        rc = sim_ctl_new(s->c, s->n, s->host, s->dir, &s->ctl, err);
    for (size_t i = 0; rc == 0 && s->o.controllers && i < s->n; i++)
        if (!s->c[i]->is_host)
            rc = sim_ctrl_start(s->c[i], &s->c[i]->ctrl);
    s->started = rc == 0;
    return rc;
}

int fl_sim_write_config(const fl_sim *s, const char *path, char token[65], fl_err *err)
{
    char dir[PATH_MAX], tokpath[PATH_MAX + 16], tok[65];
    fl_strlcpy(dir, path, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof(dir), ".");
    mkdir(dir, 0755); /* the one missing level, as for --kubeconfig-dir */
    random_hex(tok, 32);
    snprintf(tokpath, sizeof(tokpath), "%s/tokens.csv", dir);
    FILE *t = fopen(tokpath, "w");
    if (!t)
        return fl_err_set(err, -errno, "%s: %s", tokpath, strerror(errno));
    fprintf(t, "%s,admin,\"system:masters\"\n", tok);
    if (fclose(t) != 0)
        return fl_err_set(err, -EIO, "%s: write failed", tokpath);
    chmod(tokpath, 0600);
    FILE *f = fopen(path, "w");
    if (!f)
        return fl_err_set(err, -errno, "%s: %s", path, strerror(errno));
    fprintf(f,
            "# flotilla.yaml written by `flotilla sim` for its %zu virtual clusters.\n"
            "listen: 127.0.0.1:7443\ndataDir: ./flotilla-data\nauth:\n"
            "  tokensFile: tokens.csv\n",
            s->o.clusters + (size_t)0);
    for (size_t i = 0; i < s->n; i++)
        if (s->c[i]->is_host)
            fprintf(f, "host: {kubeconfig: %s/%s.kubeconfig, context: \"\"}\n", s->dir,
                    s->c[i]->name);
    fprintf(f, "members:\n");
    for (size_t i = 0; i < s->n; i++) {
        const sim_cluster *c = s->c[i];
        if (c->is_host)
            continue;
        fprintf(f,
                "- name: %s\n  kubeconfig: %s/%s.kubeconfig\n  context: \"\"\n"
                "  labels: {region: %s, zone: %s, provider: %s}\n  taints: []\n",
                c->name, s->dir, c->name, c->region, c->zone, c->provider);
    }
    fprintf(f, "sync:\n  resources:\n"
               "  - {group: \"\", version: v1, resources: [nodes, namespaces, pods, services, "
               "configmaps, secrets, events, resourcequotas]}\n"
               "  - {group: apps, version: v1, resources: [\"*\"]}\n"
               "  - {group: batch, version: v1, resources: [jobs]}\n");
    if (fclose(f) != 0)
        return fl_err_set(err, -EIO, "%s: write failed", path);
    memcpy(token, tok, sizeof(tok));
    return 0;
}

size_t fl_sim_cluster_count(const fl_sim *s)
{
    return s->n;
}

const char *fl_sim_cluster_name(const fl_sim *s, size_t i)
{
    return i < s->n ? s->c[i]->name : NULL;
}

const char *fl_sim_cluster_url(const fl_sim *s, size_t i)
{
    return i < s->n ? s->c[i]->url : NULL;
}

const char *fl_sim_control_url(const fl_sim *s)
{
    return sim_ctl_url(s->ctl);
}

sim_cluster *sim_cluster_at(fl_sim *s, size_t i)
{
    return i < s->n ? s->c[i] : NULL;
}

/* Called under the control endpoint's lock (one caller at a time). */
/* A down cluster keeps its port: a socket bound to it but not listening
 * answers connects with a reset (connection refused, as a closed port
 * does), and no other program on the machine can take the port before
 * the cluster comes back on it. -1 when the port cannot be held. */
static int hold_port(const char *host, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1, zero = 0, fd;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    /* SO_REUSEADDR to bind beside the closed connections' TIME_WAIT, then
     * off: a socket bound without it conflicts with any other listener */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof zero) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int sim_cluster_listen(sim_cluster *c, bool up, fl_err *err)
{
    fl_sim *s = c->sim;
    fl_server *srv = NULL;
    uint64_t port = 0;
    const char *colon = strrchr(c->server_addr, ':');
    if (s->o.path_prefix)
        return -EOPNOTSUPP;
    if (!colon || fl_parse_u64(colon + 1, strlen(colon + 1), &port) != 0 || port > 65535)
        return fl_err_set(err, -EINVAL, "cluster %s: no port to listen on", c->name);
    if (!up || c->srv) {
        srv = up ? NULL : c->srv;
        c->srv = up ? c->srv : NULL;
        fl_server_free(srv);
        if (srv)
            c->hold_fd = hold_port(s->host, (uint16_t)port);
        return 0;
    }
    if (c->hold_fd >= 0)
        close(c->hold_fd);
    c->hold_fd = -1;
    int rc = listener(s, (unsigned)port, &srv, err);
    if (rc == 0)
        rc = fl_server_route(srv, NULL, "/", fl_apiserver_handle, c->api);
    if (rc == 0)
        rc = fl_server_start(srv, err);
    if (rc != 0) {
        fl_server_free(srv);
        return rc;
    }
    c->srv = srv;
    return 0;
}

void fl_sim_free(fl_sim *s)
{
    if (!s)
        return;
    sim_ctl_free(s->ctl); /* no fault changes from here on */
    fl_server_stop(s->shared);
    for (size_t i = 0; i < s->n; i++)
        fl_server_stop(s->c[i]->srv);
    for (size_t i = 0; i < s->n; i++)
        cluster_free(s->c[i]);
    fl_server_free(s->shared);
    free(s->c);
    fl_cert_pair_done(&s->ca);
    fl_cert_pair_done(&s->cert);
    free(s);
}
