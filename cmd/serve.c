/*
 * cmd/serve.c: `flotilla serve` — the daemon. Wires flotilla.yaml → the
 * index (opened in dataDir) → the collector (its own loop thread) → the API
 * listener (server/), then waits for SIGTERM/SIGINT and drains: stop the
 * listener, stop the watches, flush the index writer, exit 0.
 *
 * HTTP routes live in register_routes() below: that is where the search
 * API, quota and the dashboard add theirs. Routes served here:
 *   /healthz, /livez       "ok" while the process runs (server/'s health)
 *   GET /readyz            "ok" when no member is still syncing and at least
 *                          one is synced (fl_collector_ready: a member that is
 *                          down or failing does not hold it back); else 503
 *                          with the reason (?verbose: checks, failing members)
 *   POST /api/v1/place     where a workload would go (cmd/place.c)
 *   GET /api/v1/clusters   every member's health and per-resource sync
 *                          state (collector status + object counts from the
 *                          index); /api/v1/clusters/NAME for one member
 * /api/v1/clusters authenticates as the search API does (query/): a bearer
 * token of auth.tokensFile or a verified client certificate; anonymous
 * only from loopback peers with auth.anonymousLoopback; else 401 Status.
 * A user sees the members the auth.scopes of its groups cover.
 * The search API also proxies pods/log to the members (their kubeconfigs).
 *   POST /admission/clusters/<cluster>/<secret>/quota   quota/'s admission
 *                          webhook (its own worker threads); with host: set,
 *                          a second collector watches the host's quota
 *                          objects into the index for it, and quota/
 *                          writes their status back there.
 *   GET /api/v1/quota      every quota with hard and fleet-wide used
 *                          (?namespace=NS), as `flotilla quota` shows it.
 *   POST /api/v1/quota/recount   a full recount of quota usage now
 *                          (?namespace=NS; admins only), as `flotilla quota
 *                          recount` asks for it: what it found, drift
 *                          counted.
 *   /api, /apis, /openapi, /version   without host: in flotilla.yaml, the
 *                          daemon's own control-plane API (cmd/control.c):
 *                          templates, policies and quotas in dataDir/control.db,
 *                          reached with dataDir/flotilla.kubeconfig; the host
 *                          collector and quota/ read it through that file as
 *                          they would an external host.
 *
 * Startup: the config's files (tls, auth.tokensFile) must be readable (the
 * error names file:line: key), dataDir/flotilla.lock is taken (flock: one
 * daemon per dataDir, a second one exits 1 naming the first's pid), and
 * one log line says how clients get in (a warning when nobody can).
 * The host collector also watches templates, policies and ResourceBindings
 * (from host: or the daemon's own API), and scheduler/'s propagation
 * controller (its own thread) reads them through prop_host_list (the
 * index), places, writes the members and the host, and fails over by the
 * collector's health.
 *
 * Threads: main blocks the signals before any thread starts and sleeps in
 * sigwait; handlers run on the server's threads, each with its own index
 * reader for the duration of a request. No globals: the handlers' state is
 * the serve_ctx on main's stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/config.h"
#include "cmd/control.h"
#include "cmd/place.h"
#include "collector/collector.h"
#include "index/index.h"
#include "kube/kube.h"
#include "server/server.h"
#include "query/query.h"
#include "quota/quota.h"
#include "scheduler/scheduler.h"
#include "web/web.h"
#include "cmd/version.h"

#define PEM_MAX_BYTES (1u << 20)

typedef struct serve_ctx {
    const fl_config *cfg;
    fl_index *index;
    fl_collector *collector;
    fl_query *query;            /* search API (query/), freed after the server */
    cmd_placer *placer;         /* POST /api/v1/place (cmd/place.c), freed after the server */
    fl_collector *host;         /* the host's quota objects into the index (host: set) */
    fl_quota *quota;            /* quota ledger and admission webhook, freed after the server */
    cmd_control *control;       /* own control-plane API (no host:), freed after the server */
    char host_kubeconfig[4200]; /* the host's kubeconfig: host: or dataDir/flotilla.kubeconfig */
    fl_sched_prop *prop; /* propagation controller (host: set), freed before the collectors */
    json_t *host_cache;  /* prop_host_list's parsed host objects by resourceVersion
                            ("group/resource" -> {"objs": "ns/name" -> {rv, obj}, "rev",
                            "full"}); its thread only */
    fl_index_reader *host_reader; /* prop_host_list's (the propagation thread's) */
    fl_web *web;                /* /api/v1/capacity, /metrics, /ui (web/), freed after the server */
    fl_web_recent *recent;      /* dataDir/recent.db: denials and placements across restarts */
    fl_web_member *web_members; /* the config's members for web/ */
} serve_ctx;

static void usage(FILE *f)
{
    fprintf(f, "Usage: flotilla serve -c FILE [--listen ADDR:PORT] [--data-dir DIR]\n\n"
               "Run the daemon: watch every member cluster of FILE (flotilla.yaml) into the\n"
               "index in dataDir and serve the API. SIGTERM or SIGINT drains and exits 0.\n\n"
               "  -c, --config FILE   configuration (see flotilla.example.yaml)\n"
               "  --listen ADDR:PORT  overrides the file's listen\n"
               "  --data-dir DIR      overrides the file's dataDir (one daemon per\n"
               "                      dataDir: it is locked while the daemon runs)\n\n"
               "/readyz is 200 when no member is still syncing and at least one has\n"
               "its initial lists in the index; members that are down or failing do\n"
               "not hold it back (503 says why; see `flotilla clusters --help`).\n"
               "Member status: GET /api/v1/clusters (or `flotilla clusters`).\n");
}

/* ------------------------------------------------------------- handlers */

/* GET /readyz (the other health paths are fl_server_route_health's):
 * fl_collector_ready, the reason in the body when not ready, and with
 * ?verbose the failing members too. */
static void on_ready(fl_request *r, void *ud)
{
    serve_ctx *x = ud;
    char body[700], why[560];
    bool ok = fl_collector_ready(x->collector, why, sizeof why);
    int n = fl_request_query(r, "verbose")
                ? snprintf(body, sizeof body, "[+]ping ok\n[%c]collector %s\nreadyz check %s\n",
                           ok ? '+' : '-', why[0] ? why : "ok", ok ? "passed" : "failed")
            : ok ? snprintf(body, sizeof body, "ok")
                 : snprintf(body, sizeof body, "[-]collector: %s\n", why);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof body)
        n = (int)sizeof body - 1;
    fl_request_add_header(r, "X-Content-Type-Options", "nosniff");
    fl_request_reply(r, ok ? 200 : 503, "text/plain; charset=utf-8", body, (size_t)n);
}

/* Add "objects" (live objects in the index) to every resource and the sum
 * to every cluster. One count per (cluster, resource), in one snapshot. */
static void add_counts(serve_ctx *x, json_t *clusters)
{
    fl_index_reader *rd = NULL;
    if (fl_index_reader_new(x->index, &rd, NULL) != 0)
        return;
    fl_index_reader_begin(rd);
    size_t i, j;
    json_t *cl, *res;
    json_array_foreach(clusters, i, cl) {
        json_int_t total = 0;
        const char *name[1] = {fl_obj_str(cl, "name")};
        json_array_foreach(json_object_get(cl, "resources"), j, res) {
            fl_index_query q = FL_INDEX_QUERY_INIT;
            int64_t n = 0;
            q.group = fl_obj_str(res, "group");
            q.version = fl_obj_str(res, "version");
            q.resource = fl_obj_str(res, "resource");
            q.clusters = name;
            q.n_clusters = 1;
            if (!name[0] || !q.group || !q.resource || fl_index_count(rd, &q, &n, NULL) != 0)
                n = 0;
            json_object_set_new(res, "objects", json_integer(n));
            total += n;
        }
        json_object_set_new(cl, "objects", json_integer(total));
    }
    fl_index_reader_end(rd);
    fl_index_reader_free(rd);
}

/* Member labels from the config, for display. */
static void add_labels(serve_ctx *x, json_t *clusters)
{
    size_t i;
    json_t *cl;
    json_array_foreach(clusters, i, cl) {
        const char *name = fl_obj_str(cl, "name");
        for (size_t k = 0; name && k < x->cfg->nmembers; k++) {
            const fl_config_member *m = &x->cfg->members[k];
            if (strcmp(m->name, name) != 0)
                continue;
            json_t *labels = json_object();
            for (size_t l = 0; labels && l < m->nlabels; l++)
                json_object_set_new(labels, m->label_keys[l], json_string(m->label_values[l]));
            json_object_set_new(cl, "labels", labels ? labels : json_null());
        }
    }
}

static void on_clusters(fl_request *r, void *ud)
{
    serve_ctx *x = ud;
    const char *path = fl_request_path(r);
    const char *one =
        strlen(path) > strlen("/api/v1/clusters/") ? path + strlen("/api/v1/clusters/") : NULL;
    json_t *st = fl_collector_status(x->collector);
    json_t *clusters = json_object_get(st, "clusters");
    if (fl_query_filter_clusters(x->query, r, clusters) != 0) { /* 401, or scopes */
        json_decref(st);
        return;
    }
    add_counts(x, clusters);
    add_labels(x, clusters);
    if (!one) {
        fl_request_reply_json(r, 200, st);
        return;
    }
    size_t i;
    json_t *cl;
    json_array_foreach(clusters, i, cl)
        if (!strcmp(fl_obj_str(cl, "name") ? fl_obj_str(cl, "name") : "", one)) {
            json_incref(cl);
            json_decref(st);
            fl_request_reply_json(r, 200, cl);
            return;
        }
    json_decref(st);
    fl_request_reply_status(r, 404, "NotFound", "cluster \"%s\" not found", one);
}

/* Member status for the search API's Cluster objects (any thread). */
static json_t *query_members(void *ud)
{
    serve_ctx *x = ud;
    json_t *st = fl_collector_status(x->collector);
    if (st)
        add_labels(x, json_object_get(st, "clusters"));
    return st;
}

/* The search API (query/): auth, scopes and synced types from the config. */
static int route_query(fl_server *srv, serve_ctx *x, fl_err *err)
{
    const fl_config *c = x->cfg;
    fl_query_opts qo = FL_QUERY_OPTS_INIT;
    fl_query_scope *sc = calloc(c->nscopes + 1, sizeof *sc);
    fl_query_gv *gv = calloc(c->nresources + 1, sizeof *gv);
    fl_query_member *mem = calloc(c->nmembers + 1, sizeof *mem);
    char key[4200];
    int rc = -ENOMEM;
    for (size_t i = 0; sc && i < c->nscopes; i++)
        sc[i] =
            (fl_query_scope){c->scopes[i].group,       (const char *const *)c->scopes[i].clusters,
                             c->scopes[i].nclusters,   (const char *const *)c->scopes[i].namespaces,
                             c->scopes[i].nnamespaces, (const char *const *)c->scopes[i].resources,
                             c->scopes[i].nresources};
    for (size_t i = 0; gv && i < c->nresources; i++)
        gv[i] = (fl_query_gv){c->resources[i].group, c->resources[i].version,
                              (const char *const *)c->resources[i].resources,
                              c->resources[i].nresources};
    for (size_t i = 0; mem && i < c->nmembers; i++)
        mem[i] = (fl_query_member){c->members[i].name, NULL, c->members[i].kubeconfig,
                                   c->members[i].context};
    snprintf(key, sizeof key, "%s/query.key", c->data_dir);
    qo.index = x->index;
    qo.tokens_file = c->tokens_file;
    qo.anonymous_loopback = c->anonymous_loopback;
    qo.sql_max_rows = c->sql_max_rows;
    qo.sql_budget_ms = c->sql_budget_ms;
    qo.sql_open_to_all = c->sql_objects_for_all;
    qo.scopes = sc, qo.nscopes = c->nscopes;
    qo.gvs = gv, qo.ngvs = c->nresources;
    qo.key_file = key;
    qo.members_fn = query_members;
    qo.members_ud = x;
    qo.log_members = mem, qo.nlog_members = c->nmembers;
    qo.admin_groups = (const char *const *)c->admin_groups, qo.nadmin_groups = c->nadmin_groups;
    if (sc && gv && mem)
        rc = fl_query_new(&qo, &x->query, err);
    else
        fl_err_set(err, rc, "out of memory");
    if (!rc)
        rc = fl_query_route(x->query, srv);
    free(sc);
    free(gv);
    free(mem);
    return rc;
}

/* Drop from items (objects with "namespace" and maybe "cluster") those
 * in namespaces r's user may not see. */
static void only_visible(serve_ctx *x, fl_request *r, json_t *items)
{
    for (size_t i = 0; i < json_array_size(items);) {
        const json_t *it = json_array_get(items, i);
        if (fl_query_allows(x->query, r, fl_obj_str(it, "cluster"),
                            fl_obj_str_or(it, "namespace", ""), NULL, NULL))
            i++;
        else
            json_array_remove(items, i);
    }
}

/* A caller of GET /api/v1/quota, for fl_quota_report_for's visibility test. */
typedef struct quota_caller {
    serve_ctx *x;
    fl_request *r;
} quota_caller;

static bool quota_visible(void *ud, const char *ns)
{
    quota_caller *c = ud;
    return fl_query_allows(c->x->query, c->r, NULL, ns, NULL, NULL);
}

/* GET /api/v1/quota[?namespace=NS]: every quota with hard and used
 * (quota/'s report; `flotilla quota`), of the namespaces the caller's
 * auth.scopes cover. Authenticated like the search API. */
static void on_quota(fl_request *r, void *ud)
{
    serve_ctx *x = ud;
    json_t *doc = NULL;
    fl_err err = FL_ERR_INIT;
    quota_caller c = {x, r};
    if (fl_query_authenticate(x->query, r) != 0)
        return;
    if (fl_quota_report_for(x->quota, fl_request_query(r, "namespace"), quota_visible, &c, &doc,
                            &err) != 0) {
        fl_request_reply_status(r, 500, "InternalError", "quota: %s", err.msg);
        return;
    }
    fl_request_reply_json(r, 200, doc);
}

/* POST /api/v1/quota/recount[?namespace=NS]: a full recount of one
 * namespace's usage, or of every namespace with a ledger, now
 * (fl_quota_recount_all: drift found is logged and counted). Admins only
 * (fl_query_is_admin): a scoped user gets 403 Forbidden. */
static void on_quota_recount(fl_request *r, void *ud)
{
    serve_ctx *x = ud;
    json_t *doc = NULL;
    fl_err err = FL_ERR_INIT;
    fl_query_identity id;
    bool answered = false;
    const char *ns = fl_request_query(r, "namespace");
    if (fl_query_identify(x->query, r, &id) != 0)
        return;
    if (!fl_query_is_admin(x->query, r, &answered)) {
        if (!answered)
            fl_request_reply_status(r, 403, "Forbidden",
                                    "user \"%s\" cannot recount quota usage: admins only "
                                    "(system:masters or auth.adminGroups)",
                                    id.user);
        return;
    }
    if (ns && !fl_kube_dns_label(ns)) {
        fl_request_reply_status(r, 400, "BadRequest", "invalid namespace name");
        return;
    }
    if (fl_quota_recount_all(x->quota, ns, &doc, &err) != 0) {
        fl_request_reply_status(r, 500, "InternalError", "quota recount: %s", err.msg);
        return;
    }
    fl_request_reply_json(r, 200, doc);
}

/* GET /api/v1/placements: the propagation controller's recent changes of
 * placement, oldest first ({"items":[...]}, fl_sched_prop_events; empty
 * without a controller), scoped like /api/v1/quota. */
static void on_placements(fl_request *r, void *ud)
{
    serve_ctx *x = ud;
    json_t *items = NULL;
    if (fl_query_authenticate(x->query, r) != 0)
        return;
    if (x->prop ? fl_sched_prop_events(x->prop, &items) != 0 : !(items = json_array())) {
        fl_request_reply_status(r, 500, "InternalError", "out of memory");
        return;
    }
    only_visible(x, r, items);
    fl_request_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* GET /api/v1/quota/denials: the last denied admission reviews, oldest
 * first ({"items":[...]}, fl_quota_denials), scoped like /api/v1/quota. */
static void on_quota_denials(fl_request *r, void *ud)
{
    serve_ctx *x = ud;
    json_t *items = NULL;
    if (fl_query_authenticate(x->query, r) != 0)
        return;
    if (fl_quota_denials(x->quota, &items) != 0) {
        fl_request_reply_status(r, 500, "InternalError", "out of memory");
        return;
    }
    only_visible(x, r, items);
    fl_request_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

/* web/'s callbacks: auth and scopes as the search API, the collector's
 * status with the config's member labels, quota's counters. */
static int web_authorize(void *ud, fl_request *r, json_t *clusters)
{
    return fl_query_filter_clusters(((serve_ctx *)ud)->query, r, clusters);
}

static bool web_allows(void *ud, fl_request *r, const char *cluster, const char *ns,
                       const char *resource)
{
    return fl_query_allows(((serve_ctx *)ud)->query, r, cluster, ns, "", resource);
}

static json_t *web_quota_report(void *ud)
{
    json_t *doc = NULL;
    return fl_quota_report(((serve_ctx *)ud)->quota, NULL, &doc, NULL) == 0 ? doc : NULL;
}

static bool web_sched_stats(void *ud, fl_web_sched_stats *out)
{
    serve_ctx *x = ud;
    fl_sched_prop_stats s;
    if (!x->prop)
        return false;
    fl_sched_prop_stats_get(x->prop, &s);
    *out =
        (fl_web_sched_stats){s.passes,       s.decisions, s.unschedulable, s.evictions,   s.writes,
                             s.write_errors, s.decide_us, s.failover_ms,   s.last_pass_ms};
    return true;
}

static bool web_quota_stats(void *ud, fl_web_quota_stats *out)
{
    serve_ctx *x = ud;
    fl_quota_stats s;
    if (!x->quota)
        return false;
    fl_quota_stats_get(x->quota, &s);
    *out = (fl_web_quota_stats){
        s.allowed,        s.denied, s.errors, s.reservations_open, s.reservations_expired,
        s.recomputations, s.drift};
    return true;
}

static int route_web(fl_server *srv, serve_ctx *x, fl_err *err)
{
    const fl_config *c = x->cfg;
    fl_web_opts wo = FL_WEB_OPTS_INIT;
    x->web_members = calloc(c->nmembers + 1, sizeof *x->web_members);
    if (!x->web_members)
        return fl_err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < c->nmembers; i++)
        x->web_members[i] =
            (fl_web_member){c->members[i].name, (const char *const *)c->members[i].label_keys,
                            (const char *const *)c->members[i].label_values, c->members[i].nlabels};
    wo.index = x->index;
    wo.members = x->web_members, wo.nmembers = c->nmembers;
    wo.authorize = web_authorize, wo.allows = web_allows, wo.authorize_ud = x;
    wo.status = query_members, wo.status_ud = x;
    if (x->quota)
        wo.quota_stats = web_quota_stats, wo.quota_report = web_quota_report, wo.quota_ud = x;
    wo.sched_stats = web_sched_stats, wo.sched_ud = x;
    wo.version = FLOTILLA_VERSION;
    int rc = fl_web_new(&wo, &x->web, err);
    return rc ? rc : fl_web_route(x->web, srv);
}

/* Every route of the daemon's API listener. Modules that serve on this
 * listener (search API, quota, dashboard) register here. */
static int register_routes(fl_server *srv, serve_ctx *x, fl_err *err)
{
    int rc = 0;
    if ((rc = route_query(srv, x, err)) || (rc = fl_server_route_health(srv)) ||
        (rc = fl_server_route(srv, "GET", "/readyz", on_ready, x)) ||
        (rc = fl_server_route(srv, "GET", "/api/v1/clusters", on_clusters, x)) ||
        (rc = route_web(srv, x, err)) ||
        (rc = cmd_placer_new(x->cfg, x->index, x->collector, x->query, &x->placer)) ||
        (cmd_placer_set_quota(x->placer, x->quota),
         rc = fl_server_route(srv, "POST", "/api/v1/place", cmd_placer_handle, x->placer)) ||
        (rc = fl_server_route(srv, "GET", "/api/v1/placements", on_placements, x)) ||
        (x->control && (rc = cmd_control_route(x->control, srv, x->query))) ||
        (x->quota &&
         ((rc = fl_quota_route(x->quota, srv)) ||
          (rc = fl_server_route(srv, "GET", "/api/v1/quota", on_quota, x)) ||
          (rc = fl_server_route(srv, "GET", "/api/v1/quota/denials", on_quota_denials, x)) ||
          (rc = fl_server_route(srv, "POST", "/api/v1/quota/recount", on_quota_recount, x)))))
        return rc;
    return 0;
}

/* ------------------------------------------------------------ the wiring */

static int parse_args(int argc, char **argv, const char **cfg, const char **listen,
                      const char **data_dir)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "-c") || !strcmp(a, "--config"))
            slot = cfg;
        else if (!strcmp(a, "--listen"))
            slot = listen;
        else if (!strcmp(a, "--data-dir"))
            slot = data_dir;
        else if (!strncmp(a, "--config=", 9))
            *cfg = a + 9;
        else if (!strncmp(a, "--listen=", 9))
            *listen = a + 9;
        else if (!strncmp(a, "--data-dir=", 11))
            *data_dir = a + 11;
        else {
            fprintf(stderr, "flotilla serve: unknown argument \"%s\"\n", a);
            return 2;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flotilla serve: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        }
    }
    if (!*cfg) {
        fprintf(stderr, "flotilla serve: -c FILE is required\n");
        return 2;
    }
    return 0;
}

static int mkdir_p(const char *dir, fl_err *err)
{
    char tmp[4096];
    if (fl_strlcpy(tmp, dir, sizeof tmp) >= sizeof tmp)
        return fl_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return fl_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return fl_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
    return 0;
}

/* Every file the config names for the listener and auth can be read; else
 * the error names the config's file, line and key. */
static int check_files(const fl_config *cfg, fl_err *err)
{
    const char *const files[][2] = {{cfg->tls_cert, cfg->tls_cert_at},
                                    {cfg->tls_key, cfg->tls_key_at},
                                    {cfg->tls_client_ca, cfg->tls_client_ca_at},
                                    {cfg->tokens_file, cfg->tokens_file_at}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!files[i][0])
            continue;
        int fd = open(files[i][0], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return fl_err_set(err, -errno, "%s: %s: %s", files[i][1] ? files[i][1] : cfg->path,
                              files[i][0], strerror(errno));
        close(fd);
    }
    return 0;
}

/* Take dataDir/flotilla.lock (flock, exclusive, held until exit): two
 * daemons on one index would both write it. *fd_out gets the open lock.
 * The file holds the holder's pid, for the message. */
static int lock_data_dir(const char *dir, int *fd_out, fl_err *err)
{
    char path[4200], pid[32] = "";
    snprintf(path, sizeof path, "%s/flotilla.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return fl_err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        if (e == EWOULDBLOCK)
            return fl_err_set(err, -EBUSY,
                              "data dir %s is in use by another flotilla serve%s%s%s "
                              "(one daemon per dataDir: give this one its own --data-dir)",
                              dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
        return fl_err_set(err, -e, "%s: lock: %s", path, strerror(e));
    }
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        fl_log(FL_LOG_WARN, "serve", "%s: cannot record the pid", path);
    *fd_out = fd;
    return 0;
}

/* One line on how clients get in, and a warning when nobody can. */
static void log_access(const fl_config *cfg, fl_server *srv)
{
    char how[1200] = "";
    size_t n = 0;
    if (cfg->tokens_file)
        n += (size_t)snprintf(how + n, sizeof how - n, "bearer tokens listed in %s%s",
                              cfg->tokens_file,
                              cfg->tls_cert ? ""
                                            : " (kubectl sends tokens "
                                              "only over HTTPS: add tls: for kubectl)");
    if (cfg->tls_client_ca && n < sizeof how)
        n += (size_t)snprintf(how + n, sizeof how - n, "%sclient certificates signed by %s",
                              n ? "; " : "", cfg->tls_client_ca);
    if (cfg->anonymous_loopback && n < sizeof how)
        n += (size_t)snprintf(how + n, sizeof how - n, "%sanyone from loopback (anonymousLoopback)",
                              n ? "; " : "");
    char host[300];
    fl_strlcpy(host, cfg->listen, sizeof host);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = 0;
    if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "[::]"))
        fl_strlcpy(host, "127.0.0.1", sizeof host);
    if (n)
        fl_log(FL_LOG_INFO, "serve",
               "API access (/api, /apis): %s; /healthz and /readyz are "
               "open. kubectl: a kubeconfig with server %s://%s:%u/apis/clusterpedia.io/v1beta1/"
               "resources",
               how, cfg->tls_cert ? "https" : "http", host, (unsigned)fl_server_port(srv));
    else
        fl_log(FL_LOG_WARN, "serve",
               "API access: nobody can get in: no auth.tokensFile, no "
               "tls.clientCA and auth.anonymousLoopback is off, so every /api and /apis "
               "request answers 401 (only /healthz and /readyz are open). Add auth.tokensFile "
               "(lines token,user,\"group1,group2\"); see flotilla.example.yaml");
}

static int open_index(const fl_config *cfg, fl_index **out, fl_err *err)
{
    char path[4200];
    int rc = mkdir_p(cfg->data_dir, err);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/index.db", cfg->data_dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    io.path = path;
    io.keep_managed_fields = !cfg->prune_managed_fields;
    io.keep_last_applied = !cfg->prune_last_applied;
    io.tombstone_keep_ms = cfg->retain_deleted_ms;
    return fl_index_open(&io, out, err);
}

static int start_collector(const fl_config *cfg, fl_index *idx, fl_collector **out, fl_err *err)
{
    fl_collector_opts co = FL_COLLECTOR_OPTS_INIT;
    fl_collector_member *mem = calloc(cfg->nmembers ? cfg->nmembers : 1, sizeof *mem);
    fl_collector_gv *gvs = calloc(cfg->nresources ? cfg->nresources : 1, sizeof *gvs);
    fl_collector *c = NULL;
    int rc = -ENOMEM;
    if (!mem || !gvs) {
        fl_err_set(err, rc, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < cfg->nmembers; i++)
        mem[i] = (fl_collector_member){cfg->members[i].name, cfg->members[i].kubeconfig,
                                       cfg->members[i].context};
    for (size_t i = 0; i < cfg->nresources; i++)
        gvs[i] = (fl_collector_gv){cfg->resources[i].group, cfg->resources[i].version,
                                   (const char *const *)cfg->resources[i].resources,
                                   cfg->resources[i].nresources};
    co.index = idx;
    co.members = mem;
    co.nmembers = cfg->nmembers;
    co.resources = gvs;
    co.nresources = cfg->nresources;
    co.ns_include = (const char *const *)cfg->ns_include;
    co.nns_include = cfg->nns_include;
    co.ns_exclude = (const char *const *)cfg->ns_exclude;
    co.nns_exclude = cfg->nns_exclude;
    co.page_size = cfg->page_size;
    co.watch_timeout_ms = cfg->watch_timeout_ms;
    co.stall_timeout_ms = cfg->stall_timeout_ms;
    co.health_interval_ms = cfg->health_interval_ms;
    co.health_timeout_ms = cfg->health_timeout_ms;
    co.discovery_interval_ms = cfg->discovery_interval_ms;
    if ((rc = fl_collector_new(&co, &c, err)) != 0)
        goto out;
    if ((rc = fl_collector_start(c, err)) != 0) {
        fl_collector_free(c);
        goto out;
    }
    *out = c;
out:
    free(mem);
    free(gvs);
    return rc;
}

/* The host's objects, watched into the index under the cluster name quota/
 * and scheduler/ read them from: KarmadaQuotas and FederatedResourceQuotas;
 * templates, Propagation/Override policies and ResourceBindings. The host is
 * host: or, without it, the daemon's own control-plane API. */
static int start_host(const serve_ctx *x, fl_index *idx, fl_collector **out, fl_err *err)
{
    static const char *const kq[] = {"karmadaquotas"},
                             *const pol[] = {"federatedresourcequotas", "propagationpolicies",
                                             "clusterpropagationpolicies", "overridepolicies",
                                             "clusteroverridepolicies"},
                             *const rb[] = {"resourcebindings", "clusterresourcebindings"},
                             *const apps[] = {"deployments", "statefulsets"},
                             *const ext[] = {"customresourcedefinitions"},
                             *const batch[] = {"jobs"},
                             *const core[] = {"configmaps", "services", "secrets",
                                              "serviceaccounts", "persistentvolumeclaims"};
    const fl_config *cfg = x->cfg;
    fl_collector_member m = {FL_QUOTA_HOST_CLUSTER, x->host_kubeconfig,
                             cfg->has_host ? cfg->host_context : ""};
    fl_collector_gv gvs[] = {{"quota.flotilla.io", "v1alpha1", kq, 1},
                             {"policy.karmada.io", "v1alpha1", pol, 5},
                             {"work.karmada.io", "v1alpha2", rb, 2},
                             {"apiextensions.k8s.io", "v1", ext, 1},
                             {"apps", "v1", apps, 2},
                             {"batch", "v1", batch, 1},
                             {"", "v1", core, FL_ARRAY_LEN(core)}};
    fl_collector_opts co = FL_COLLECTOR_OPTS_INIT;
    fl_collector *c = NULL;
    co.index = idx, co.members = &m, co.nmembers = 1, co.resources = gvs;
    co.nresources = FL_ARRAY_LEN(gvs);
    co.health_interval_ms = cfg->health_interval_ms;
    int rc = fl_collector_new(&co, &c, err);
    if (!rc && (rc = fl_collector_start(c, err)) != 0)
        fl_collector_free(c);
    if (!rc)
        *out = c;
    return rc;
}

static json_t *member_health(void *ud)
{
    return fl_collector_status(((serve_ctx *)ud)->collector);
}

static int start_quota(serve_ctx *x, fl_err *err)
{
    const fl_config *cfg = x->cfg;
    fl_quota_opts qo = FL_QUOTA_OPTS_INIT;
    char secrets[4200];
    const char **mem = calloc(3 * (cfg->nmembers + 1), sizeof *mem);
    if (!mem)
        return fl_err_set(err, -ENOMEM, "out of memory");
    const char **kcs = mem + cfg->nmembers + 1, **ctxs = kcs + cfg->nmembers + 1;
    for (size_t i = 0; i < cfg->nmembers; i++) {
        mem[i] = cfg->members[i].name;
        kcs[i] = cfg->members[i].kubeconfig, ctxs[i] = cfg->members[i].context;
    }
    qo.member_kubeconfigs = kcs, qo.member_contexts = ctxs;
    snprintf(secrets, sizeof secrets, "%s/" FL_QUOTA_SECRETS_FILE, cfg->data_dir);
    qo.index = x->index;
    qo.health = member_health, qo.health_ud = x;
    qo.members = mem, qo.nmembers = cfg->nmembers;
    qo.secrets_path = secrets;
    qo.stale_after_ms = cfg->quota_stale_after_ms;
    qo.stale_allow = cfg->quota_stale_allow;
    qo.reservation_ttl_ms = cfg->quota_reservation_ttl_ms;
    qo.threads = (unsigned)cfg->quota_threads;
    qo.host_kubeconfig = x->host_kubeconfig; /* host: or our own API's */
    qo.host_context = cfg->has_host ? cfg->host_context : "";
    qo.health_max_age_ms = 100; /* the collector's report, reused across a burst of reviews */
    int rc = fl_quota_new(&qo, &x->quota, err);
    free(mem);
    return rc;
}

/* The port of cfg->listen (0 when it asks for a free one). */
static unsigned listen_port(const fl_config *cfg)
{
    const char *colon = strrchr(cfg->listen, ':');
    unsigned long p = colon ? strtoul(colon + 1, NULL, 10) : 0;
    return p <= 65535 ? (unsigned)p : 0;
}

/* ---- the propagation controller's interfaces: the host through the index
 * (the host collector feeds it; the control store can stand in),
 * members from the config and the collector, quota through the ledger. */

typedef struct host_rows {
    json_t *objs; /* "ns/name" -> {rv, obj}: the cache, updated in place (delta) or new */
    json_t *old;  /* full read: the cache before it (entries with the same rv reused) */
    bool delta;
} host_rows;

/* Objects unchanged since the last read (same resourceVersion) are handed
 * out again without parsing; the controller treats them as read only. */
static int host_row(void *arg, const fl_index_row *row)
{
    host_rows *h = arg;
    char key[600];
    snprintf(key, sizeof key, "%s/%s", row->namespace_, row->name);
    json_t *c = json_object_get(h->delta ? h->objs : h->old, key), *o = NULL;
    if (row->deleted_ms) {
        if (h->delta)
            json_object_del(h->objs, key);
        return 0;
    }
    if (c && !strcmp(fl_obj_str_or(c, "rv", ""), row->resource_version)) {
        if (!h->delta)
            json_object_set(h->objs, key, c);
        return 0;
    }
    if (fl_json_parse(row->json, row->json_len, &o, NULL) != 0) {
        if (h->delta)
            json_object_del(h->objs, key);
        return 0;
    }
    json_object_set_new(h->objs, key,
                        json_pack("{s:s,s:o}", "rv", row->resource_version, "obj", o));
    return 0;
}

#define HOST_FULL_READ_MS 60000 /* the host cache is read whole at least this often */

/* The host's objects of group/resource from the index: only the rows that
 * changed since the last read (tombstones too) are read, and all of them
 * every HOST_FULL_READ_MS. */
static int prop_host_list(void *ud, const char *group, const char *resource, json_t **items,
                          fl_err *err)
{
    serve_ctx *x = ud;
    static const char *const host[] = {FL_QUOTA_HOST_CLUSTER};
    char ck[300];
    snprintf(ck, sizeof ck, "%s/%s", group, resource);
    json_t *ent = json_object_get(x->host_cache, ck);
    int64_t now = fl_mono_ms(), since = json_integer_value(json_object_get(ent, "rev"));
    bool delta = ent && since > 0 &&
                 now - json_integer_value(json_object_get(ent, "full")) < HOST_FULL_READ_MS;
    json_t *old = json_object_get(ent, "objs");
    host_rows h = {delta ? json_incref(old) : json_object(), old, delta};
    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = group, q.resource = resource, q.clusters = host, q.n_clusters = 1;
    if (delta) {
        q.min_revision = since;
        q.include_deleted = true;
        q.order = FL_INDEX_ORDER_REVISION;
    }
    int64_t rev = 0;
    int rc = x->host_reader ? 0 : fl_index_reader_new(x->index, &x->host_reader, err);
    fl_index_reader *r = x->host_reader;
    if (!rc && (rc = fl_index_reader_begin(r)) == 0) {
        rc = fl_index_reader_revision(r, &rev);
        if (!rc)
            rc = fl_index_list(r, &q, host_row, &h, NULL, err);
        fl_index_reader_end(r);
    }
    if (rc && x->host_reader) {
        fl_index_reader_free(x->host_reader); /* opened again next time */
        x->host_reader = NULL;
    }
    if (rc) {
        /* a delta may be half applied: read everything next time */
        json_object_del(x->host_cache, ck);
        json_decref(h.objs);
        return rc;
    }
    json_t *out = json_array();
    const char *k;
    json_t *c;
    json_object_foreach(h.objs, k, c)
        json_array_append(out, json_object_get(c, "obj"));
    /* when it was last read whole; the first time an offset per resource
     * spreads the whole reads of the resources over the period */
    int64_t full = now;
    if (delta) {
        full = json_integer_value(json_object_get(ent, "full"));
    } else if (!ent) {
        uint32_t hsh = 2166136261u;
        for (const char *ch = ck; *ch; ch++)
            hsh = (hsh ^ (unsigned char)*ch) * 16777619u;
        full = now - (int64_t)(hsh % HOST_FULL_READ_MS);
    }
    json_object_set_new(x->host_cache, ck,
                        json_pack("{s:o,s:I,s:I}", "objs", h.objs, "rev", (json_int_t)rev, "full",
                                  (json_int_t)full));
    *items = out;
    return 0;
}

/* Whether the collector's status says member name's nodes and pods (what
 * its available replicas are computed from) have been listed into the
 * index once: both synced, or (a member that syncs neither) the member's
 * whole sync done. False before discovery has listed its resources. */
static bool capacity_synced(const json_t *st, const char *name)
{
    size_t i, j;
    const json_t *c, *r;
    json_array_foreach(json_object_get(st, "clusters"), i, c) {
        if (strcmp(fl_obj_str_or(c, "name", ""), name))
            continue;
        int have = 0;
        json_array_foreach(json_object_get(c, "resources"), j, r) {
            const char *res = fl_obj_str_or(r, "resource", "");
            if (fl_obj_str_or(r, "group", "")[0] || (strcmp(res, "nodes") && strcmp(res, "pods")))
                continue;
            if (!json_is_true(json_object_get(r, "synced")))
                return false;
            have++;
        }
        return have == 2 || !strcmp(fl_obj_str_or(c, "sync", ""), "Synced");
    }
    return false;
}

/* The members for the propagation controller: the engine's entries, their
 * health and "synced" (capacity_synced). */
static json_t *prop_members(void *ud)
{
    serve_ctx *x = ud;
    json_t *st = fl_collector_status(x->collector);
    json_t *m = st ? cmd_members_json(x->cfg, st, true) : NULL;
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e)
        json_object_set_new(e, "synced",
                            json_boolean(capacity_synced(st, fl_obj_str_or(e, "name", ""))));
    json_decref(st);
    return m;
}

static int prop_reserve(void *ud, const char *ns, const char *uid, const char *cluster,
                        int64_t replicas, const json_t *per_replica, fl_err *err)
{
    return fl_quota_reserve(((serve_ctx *)ud)->quota, ns, uid, cluster, replicas, per_replica, err);
}

static void prop_release(void *ud, const char *ns, const char *uid, const char *cluster)
{
    fl_quota_release(((serve_ctx *)ud)->quota, ns, uid, cluster);
}

static int start_prop(serve_ctx *x, fl_err *err)
{
    const fl_config *cfg = x->cfg;
    fl_sched_prop_opts po = FL_SCHED_PROP_OPTS_INIT;
    fl_sched_prop_member *mem = calloc(cfg->nmembers + 1, sizeof *mem);
    if (!mem)
        return fl_err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->nmembers; i++)
        mem[i] = (fl_sched_prop_member){cfg->members[i].name, cfg->members[i].kubeconfig,
                                        cfg->members[i].context};
    po.index = x->index;
    po.host_list = prop_host_list, po.host_ud = x;
    po.host_kubeconfig = x->host_kubeconfig; /* host: or our own API's */
    po.host_context = cfg->has_host ? cfg->host_context : "";
    po.members = prop_members, po.members_ud = x;
    po.conns = mem, po.nconns = cfg->nmembers;
    if (x->quota)
        po.quota = (fl_sched_prop_quota){prop_reserve, prop_release, x};
    po.interval_ms = cfg->propagation_interval_ms;
    po.failure_threshold_ms = cfg->failover_failure_ms;
    po.success_threshold_ms = cfg->failover_success_ms;
    po.toleration_ms = cfg->failover_toleration_ms;
    po.eviction_rate = (double)cfg->failover_eviction_rate;
    po.eviction_timeout_ms = cfg->failover_eviction_timeout_ms;
    if (!(x->host_cache = json_object())) {
        free(mem);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = fl_sched_prop_new(&po, &x->prop, err);
    free(mem);
    return rc;
}

static json_t *recent_denials(void *ud)
{
    serve_ctx *x = ud;
    json_t *d = NULL;
    return x->quota && fl_quota_denials(x->quota, &d) == 0 ? d : NULL;
}

static json_t *recent_placements(void *ud)
{
    serve_ctx *x = ud;
    json_t *e = NULL;
    return x->prop && fl_sched_prop_events(x->prop, &e) == 0 ? e : NULL;
}

/* The recent quota denials and placement changes of the dashboard are kept
 * in dataDir/recent.db: what was there before a restart is put back, and
 * from now on copied there every 2 s and at the drain. Without the file
 * the daemon runs on, with histories in memory only (a warning says why). */
static void start_recent(serve_ctx *x)
{
    char path[4200];
    fl_err err = FL_ERR_INIT;
    json_t *d = NULL, *p = NULL;
    snprintf(path, sizeof path, "%s/recent.db", x->cfg->data_dir);
    if (fl_web_recent_open(path, &x->recent, &err) != 0 ||
        fl_web_recent_load(x->recent, "quota-denials", &d, &err) != 0 ||
        fl_web_recent_load(x->recent, "placements", &p, &err) != 0 ||
        (x->quota && fl_quota_denials_restore(x->quota, d) != 0) ||
        (x->prop && fl_sched_prop_events_restore(x->prop, p) != 0) ||
        fl_web_recent_track(x->recent, "quota-denials", recent_denials, x) != 0 ||
        fl_web_recent_track(x->recent, "placements", recent_placements, x) != 0 ||
        fl_web_recent_start(x->recent, 2000, &err) != 0) {
        fl_log(FL_LOG_WARN, "serve", "recent denials and placements kept in memory only: %s",
               err.msg[0] ? err.msg : "out of memory");
        fl_web_recent_free(x->recent);
        x->recent = NULL;
    }
    json_decref(d);
    json_decref(p);
}

static int start_server(serve_ctx *x, fl_server **out, fl_err *err)
{
    const fl_config *cfg = x->cfg;
    fl_buf cert = FL_BUF_INIT(PEM_MAX_BYTES), key = FL_BUF_INIT(PEM_MAX_BYTES),
           ca = FL_BUF_INIT(PEM_MAX_BYTES);
    fl_server *srv = NULL;
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    int rc = 0;
    so.name = "api";
    so.listen = cfg->listen;
    fl_server_opts_public(&so); /* untrusted clients */
    so.max_body = (size_t)cfg->max_request_bytes;
    if (cfg->tls_cert && ((rc = fl_buf_read_file(&cert, cfg->tls_cert, err)) ||
                          (rc = fl_buf_read_file(&key, cfg->tls_key, err))))
        goto out;
    if (cfg->tls_client_ca && (rc = fl_buf_read_file(&ca, cfg->tls_client_ca, err)))
        goto out;
    so.tls_cert_pem = cert.data;
    so.tls_key_pem = key.data;
    so.client_ca_pem = ca.data;
    if ((rc = fl_server_new(&so, &srv, err)) || (rc = register_routes(srv, x, err)) ||
        (rc = fl_server_start(srv, err))) {
        if (rc && err && !err->msg[0])
            fl_err_set(err, rc, "listener: %s", fl_strerror(rc));
        fl_server_free(srv);
        goto out;
    }
    *out = srv;
out:
    fl_buf_done(&cert);
    fl_buf_done(&key);
    fl_buf_done(&ca);
    return rc;
}

static int wait_for_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

/* Every watch, followed log and member connection is a descriptor: take
 * the hard limit as the soft one (as Go's runtime does for kube-apiserver),
 * and say what it is when it is low. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 8192)
        fl_log(FL_LOG_WARN, "serve",
               "open files limited to %llu (ulimit -n): watches, followed logs and member "
               "connections each take one",
               (unsigned long long)rl.rlim_cur);
}

int cmd_serve(int argc, char **argv)
{
    const char *cfg_path = NULL, *listen = NULL, *data_dir = NULL;
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    int rc = parse_args(argc, argv, &cfg_path, &listen, &data_dir);
    if (rc) {
        usage(stderr);
        return rc;
    }
    /* Block the signals before any thread exists: every thread inherits
     * the mask and main alone takes them in sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    raise_fd_limit();

    fl_err err = FL_ERR_INIT;
    fl_config *cfg = NULL;
    fl_index *idx = NULL;
    fl_collector *col = NULL;
    fl_server *srv = NULL;
    serve_ctx x = {0};
    int status = 1, lock_fd = -1;
    if (fl_config_load(cfg_path, &cfg, &err) != 0 ||
        (listen && fl_config_set_listen(cfg, listen) != 0) ||
        (data_dir && fl_config_set_data_dir(cfg, data_dir) != 0)) {
        fprintf(stderr, "flotilla serve: %s\n", err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    x.cfg = cfg;
    if (check_files(cfg, &err) != 0) {
        fprintf(stderr, "flotilla serve: %s\n", err.msg);
        goto out;
    }
    if (mkdir_p(cfg->data_dir, &err) != 0 || lock_data_dir(cfg->data_dir, &lock_fd, &err) != 0) {
        fprintf(stderr, "flotilla serve: %s\n", err.msg);
        goto out;
    }
    if (open_index(cfg, &idx, &err) != 0) {
        fprintf(stderr, "flotilla serve: index: %s\n", err.msg);
        goto out;
    }
    x.index = idx;
    if (start_collector(cfg, idx, &col, &err) != 0) {
        fprintf(stderr, "flotilla serve: %s\n", err.msg);
        goto out;
    }
    x.collector = col;
    if (cfg->has_host) {
        fl_strlcpy(x.host_kubeconfig, cfg->host_kubeconfig, sizeof x.host_kubeconfig);
    } else if (cmd_control_open(cfg, &x.control, &err) != 0 ||
               cmd_control_write_kubeconfig(x.control, listen_port(cfg), x.host_kubeconfig,
                                            sizeof x.host_kubeconfig, &err) != 0) {
        fprintf(stderr, "flotilla serve: control plane: %s\n", err.msg);
        goto out;
    }
    if (start_quota(&x, &err) != 0) {
        fprintf(stderr, "flotilla serve: quota: %s\n", err.msg);
        goto out;
    }
    if (start_server(&x, &srv, &err) != 0) {
        fprintf(stderr, "flotilla serve: listen %s: %s\n", cfg->listen, err.msg);
        goto out;
    }
    if (x.control &&
        cmd_control_write_kubeconfig(x.control, (unsigned)fl_server_port(srv), x.host_kubeconfig,
                                     sizeof x.host_kubeconfig, &err) != 0) { /* the bound port */
        fprintf(stderr, "flotilla serve: control plane: %s\n", err.msg);
        goto out;
    }
    if (start_host(&x, idx, &x.host, &err) != 0) {
        fprintf(stderr, "flotilla serve: host: %s\n", err.msg);
        goto out;
    }
    if (start_prop(&x, &err) != 0) {
        fprintf(stderr, "flotilla serve: propagation: %s\n", err.msg);
        goto out;
    }
    start_recent(&x);
    fl_log(FL_LOG_INFO, "serve", "listening on %s://%s (port %u), %zu members, data in %s",
           cfg->tls_cert ? "https" : "http", cfg->listen, (unsigned)fl_server_port(srv),
           cfg->nmembers, cfg->data_dir);
    log_access(cfg, srv);
    int sig = wait_for_signal(&set);
    fl_log(FL_LOG_INFO, "serve", "%s: draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
    status = 0;
out:
    fl_server_free(srv);
    fl_web_recent_free(x.recent); /* its last copy reads quota and prop */
    fl_sched_prop_free(x.prop);
    fl_collector_free(x.host); /* it may be watching our own API */
    x.host = NULL;
    cmd_control_free(x.control);
    json_decref(x.host_cache);
    fl_index_reader_free(x.host_reader); /* the propagation thread has stopped */
    cmd_placer_free(x.placer);
    fl_query_free(x.query);
    fl_web_free(x.web);
    free(x.web_members);
    fl_quota_free(x.quota);
    fl_collector_free(x.host);
    fl_collector_free(col);
    if (idx && fl_index_flush(idx, 30000) != 0)
        fl_log(FL_LOG_WARN, "serve", "index flush did not finish in 30s");
    fl_index_close(idx);
    fl_config_free(cfg);
    if (lock_fd >= 0)
        close(lock_fd); /* releases the data dir */
    if (status == 0)
        fl_log(FL_LOG_INFO, "serve", "stopped");
    return status;
}
