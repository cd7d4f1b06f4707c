/*
 * web/web.c: the front of web/ — fl_web's lifetime, its routes and their
 * handlers (authorization through the daemon's callback, one index reader
 * per request). Documents are built by capacity.c, metrics.c and ui.c.
 *
 * Auth: /api/v1/capacity and /metrics go through opts.authorize (the
 * search API's bearer tokens / client certificates / scopes). /ui and its
 * static assets hold no data and are served to anyone; the page sends the
 * token the user gives it (kept in the browser's sessionStorage) with every
 * API call it makes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/web_int.h"

#define CHARTJS_DEFAULT_DIR "/usr/share/javascript/chart.js"
#define ASSET_MAX_BYTES (4u << 20)
#define METRICS_MAX_BYTES (64u << 20)

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s && s[0] ? s : dflt);
}

int fl_web_new(const fl_web_opts *opts, fl_web **out, fl_err *err)
{
    if (!opts || !opts->index)
        return fl_err_set(err, -EINVAL, "web: no index");
    fl_web *w = calloc(1, sizeof *w);
    if (!w)
        return fl_err_set(err, -ENOMEM, "out of memory");
    w->o = *opts;
    w->version = dup_or(opts->version, "unknown");
    w->chartjs_dir = dup_or(opts->chartjs_dir, CHARTJS_DEFAULT_DIR);
    w->members = calloc(opts->nmembers + 1, sizeof *w->members);
    bool ok = w->version && w->chartjs_dir && w->members;
    /* Members are borrowed from the daemon's config, which outlives us;
     * only the array is ours. */
    for (size_t i = 0; ok && i < opts->nmembers; i++)
        w->members[i] = opts->members[i];
    w->o.members = w->members;
    web_requests_init(&w->requests);
    if (!ok) {
        fl_web_free(w);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    *out = w;
    return 0;
}

void fl_web_free(fl_web *w)
{
    if (!w)
        return;
    web_requests_done(&w->requests);
    free(w->members);
    free(w->version);
    free(w->chartjs_dir);
    free(w);
}

/* [{"name":..}] of every cluster the request may see, or NULL after
 * answering (401 / 500). From the collector's status when there is one. */
static json_t *visible_clusters(fl_web *w, fl_request *r, json_t **status)
{
    json_t *st = w->o.status ? w->o.status(w->o.status_ud) : NULL;
    json_t *cl = json_object_get(st, "clusters");
    if (cl)
        json_incref(cl);
    else {
        cl = json_array();
        for (size_t i = 0; cl && i < w->o.nmembers; i++)
            json_array_append_new(cl, json_pack("{ss}", "name", w->members[i].name));
    }
    if (!cl) {
        json_decref(st);
        fl_request_reply_status(r, 500, "InternalError", "out of memory");
        return NULL;
    }
    if (w->o.authorize && w->o.authorize(w->o.authorize_ud, r, cl) != 0) {
        json_decref(cl);
        json_decref(st);
        return NULL;
    }
    if (status)
        *status = st;
    else
        json_decref(st);
    return cl;
}

/* One request's user, for fl_web_scope.sees. */
typedef struct viewer {
    fl_web *w;
    fl_request *r;
} viewer;

static bool viewer_sees(void *ud, const char *cluster, const char *ns)
{
    const viewer *v = ud;
    if (!cluster) /* a fleet-wide quota: any cluster will do */
        return v->w->o.allows(v->w->o.authorize_ud, v->r, NULL, ns, "pods");
    return v->w->o.allows(v->w->o.authorize_ud, v->r, cluster, ns, ns[0] ? "pods" : "nodes");
}

static fl_web_scope scope_of(const json_t *clusters, viewer *v)
{
    fl_web_scope s = {clusters, v->w->o.allows ? viewer_sees : NULL, v};
    return s;
}

/* GET /api/v1/capacity?groupBy=... */
static void on_capacity(fl_request *r, void *ud)
{
    fl_web *w = ud;
    json_t *cl = visible_clusters(w, r, NULL), *doc = NULL;
    if (!cl)
        return;
    viewer v = {w, r};
    fl_web_scope scope = scope_of(cl, &v);
    fl_index_reader *rd = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = fl_index_reader_new(w->o.index, &rd, &err);
    if (!rc)
        rc = fl_web_capacity(rd, w->members, w->o.nmembers, fl_request_query(r, "groupBy"), &scope,
                             &doc, &err);
    fl_index_reader_free(rd);
    json_decref(cl);
    if (rc == -EINVAL)
        fl_request_reply_status(r, 400, "BadRequest", "%s", err.msg);
    else if (rc)
        fl_request_reply_status(r, 500, "InternalError", "%s",
                                err.msg[0] ? err.msg : fl_strerror(rc));
    else
        fl_request_reply_json(r, 200, doc);
}

/* GET /metrics */
static void on_metrics(fl_request *r, void *ud)
{
    fl_web *w = ud;
    json_t *st = NULL;
    json_t *cl = visible_clusters(w, r, &st);
    if (!cl)
        return;
    if (st) /* the status shows only what the user may see */
        json_object_set(st, "clusters", cl);
    fl_buf b = FL_BUF_INIT(METRICS_MAX_BYTES);
    viewer v = {w, r};
    fl_web_scope scope = scope_of(cl, &v);
    int rc = web_metrics(w, st, &scope, &b);
    if (rc)
        fl_request_reply_status(r, 500, "InternalError", "metrics: %s", fl_strerror(rc));
    else
        fl_request_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "",
                         b.len);
    fl_buf_done(&b);
    json_decref(cl);
    json_decref(st);
}

static void reply_asset(fl_request *r, const char *type, const void *body, size_t len)
{
    fl_request_add_header(r, "X-Content-Type-Options", "nosniff");
    fl_request_add_header(r, "Cache-Control", "no-cache");
    fl_request_reply(r, 200, type, body, len);
}

/* GET /ui, /ui/ (the page) and /ui/chart.js (Debian's libjs-chart.js). */
static void on_ui(fl_request *r, void *ud)
{
    fl_web *w = ud;
    const char *p = fl_request_path(r);
    if (!strcmp(p, "/ui") || !strcmp(p, "/ui/") || !strcmp(p, "/ui/index.html")) {
        const char *page = web_ui_page();
        fl_request_add_header(r, "Content-Security-Policy",
                              "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                              "style-src 'self' 'unsafe-inline'; img-src 'self' data:");
        reply_asset(r, "text/html; charset=utf-8", page, strlen(page));
        return;
    }
    if (!strcmp(p, "/ui/config.json")) { /* which panels have data; no secrets */
        json_t *c = json_pack("{sbss}", "quota", w->o.quota_stats != NULL, "version", w->version);
        if (c)
            fl_request_reply_json(r, 200, c);
        else
            fl_request_reply_status(r, 500, "InternalError", "out of memory");
        return;
    }
    if (!strcmp(p, "/ui/chart.js")) {
        static const char *const names[] = {"chart.umd.min.js", "chart.umd.js", "chart.min.js",
                                            "Chart.min.js",     "chart.js",     "Chart.js"};
        fl_buf b = FL_BUF_INIT(ASSET_MAX_BYTES);
        char path[4200];
        bool found = false;
        for (size_t i = 0; !found && i < sizeof names / sizeof names[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", w->chartjs_dir, names[i]);
            fl_buf_reset(&b);
            found = fl_buf_read_file(&b, path, NULL) == 0;
        }
        if (found)
            reply_asset(r, "text/javascript; charset=utf-8", b.data, b.len);
        else
            fl_request_reply_status(r, 404, "NotFound",
                                    "Chart.js not found in %s (install Debian's libjs-chart.js)",
                                    w->chartjs_dir);
        fl_buf_done(&b);
        return;
    }
    fl_request_reply(r, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
}

static void observe(void *ud, const char *server, const char *method, const char *route, int code,
                    double seconds, bool stream)
{
    web_requests_record(&((fl_web *)ud)->requests, method, route, code, seconds, stream);
}

int fl_web_route(fl_web *w, fl_server *srv)
{
    int rc;
    if ((rc = fl_server_observe(srv, observe, w)) ||
        (rc = fl_server_route(srv, "GET", "/api/v1/capacity", on_capacity, w)) ||
        (rc = fl_server_route(srv, "GET", "/metrics", on_metrics, w)) ||
        (rc = fl_server_route(srv, "GET", "/ui", on_ui, w)))
        return rc;
    return 0;
}
