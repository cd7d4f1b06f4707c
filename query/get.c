/*
 * query/get.c: GET of one object by name, from one cluster (a point
 * lookup) or across the fleet (the first of the clusters that hold it,
 * with a Warning naming how many do), as JSON or a Table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

/* ---- GET ------------------------------------------------------------------------------ */

typedef struct get_ctx {
    json_t *obj;
    char *raw;
    int found;
    bool visible;
    const fl_query *q;
    const query_user *u;
    char cluster[254];
} get_ctx;

static int get_row(void *arg, const fl_index_row *row)
{
    get_ctx *g = arg;
    if (!query_scope_allows(g->q, g->u, row->cluster, row->namespace_, row->group, row->resource))
        return 0;
    if (g->found++)
        return 0;
    fl_strlcpy(g->cluster, row->cluster, sizeof g->cluster);
    fl_buf b = FL_BUF_INIT(QUERY_REPLY_MAX);
    if (query_row_json(row, &b) == 0)
        g->raw = fl_buf_steal(&b);
    fl_buf_done(&b);
    return g->raw ? 0 : 2;
}

static void serve_get(fl_query *q, fl_request *r, const query_user *u, const query_target *t,
                      fl_index_reader *rd)
{
    get_ctx g = {NULL, NULL, 0, false, q, u, {0}};
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    fl_err err = FL_ERR_INIT;
    iq.group = t->res->group;
    iq.version = t->res->version;
    iq.resource = t->res->resource;
    iq.clusters = &t->cluster;
    iq.n_clusters = t->cluster ? 1 : 0;
    iq.namespaces = &t->ns;
    iq.n_namespaces = t->ns ? 1 : 0;
    if (!t->ns && t->res->namespaced)
        iq.n_namespaces = 0;
    iq.names = &t->name;
    iq.n_names = 1;
    iq.limit = 64;
    int rc;
    if (t->cluster) { /* point lookup */
        fl_index_key key = {t->cluster,       t->res->group,      t->res->version,
                            t->res->resource, t->ns ? t->ns : "", t->name};
        rc = fl_index_get(rd, &key, get_row, &g, &err);
        rc = rc == FL_ENOTFOUND ? 0 : rc;
    } else {
        rc = fl_index_list(rd, &iq, get_row, &g, NULL, &err);
    }
    if (rc != 0 && rc != 1) {
        query_reply_error(r, rc == 2 ? -ENOMEM : rc, &err);
        goto out;
    }
    if (!g.found) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s \"%s\" not found", t->res->resource, t->name);
        json_t *st = fl_status_new(404, "NotFound", msg);
        fl_status_set_details(st, t->name, t->res->group, t->res->resource);
        fl_request_reply_json(r, 404, st);
        goto out;
    }
    /* A namespace exists in most clusters by design: no warning for it (kubectl
     * GETs the namespace after a NotFound, so one would precede every NotFound). */
    if (g.found > 1 && !(!t->res->group[0] && !strcmp(t->res->resource, "namespaces"))) {
        char w[400];
        snprintf(w, sizeof w,
                 "299 - \"%s/%s exists in %d clusters; showing %s (add "
                 "/clusters/<name> to the path)\"",
                 t->res->resource, t->name, g.found, g.cluster);
        fl_request_add_header(r, "Warning", w);
    }
    if (!query_wants_table(r) && !fl_request_wants_pretty(r)) {
        size_t n = strlen(g.raw); /* stored compact in Go's encoding: send as is */
        g.raw[n] = 0;
        fl_buf b = FL_BUF_INIT(QUERY_REPLY_MAX);
        if (fl_buf_append(&b, g.raw, n) == 0 && fl_buf_puts(&b, "\n") == 0)
            fl_request_reply(r, 200, "application/json", b.data, b.len);
        else
            fl_request_reply_status(r, 500, "InternalError", "out of memory");
        fl_buf_done(&b);
        goto out;
    }
    if (fl_json_parse(g.raw, strlen(g.raw), &g.obj, &err) != 0) {
        query_reply_error(r, -EIO, &err);
        goto out;
    }
    if (query_wants_table(r)) {
        query_page x = {.q = q, .u = u, .t = t, .table = true, .objs = json_array()};
        json_array_append(x.objs, g.obj);
        const char *rv = fl_obj_str(g.obj, "metadata.resourceVersion");
        if (query_page_reply_table(&x, r, rv ? rv : "", NULL, -1) != 0)
            fl_request_reply_status(r, 500, "InternalError", "table rendering failed");
        json_decref(x.objs);
        goto out;
    }
    fl_request_reply_json(r, 200, json_incref(g.obj));
out:
    json_decref(g.obj);
    free(g.raw);
}

void query_serve_get(fl_query *q, fl_request *r, const query_user *u, const query_target *t)
{
    fl_err err = FL_ERR_INIT;
    fl_index_reader *rd = NULL;
    if (!t->ns && t->res->namespaced) {
        /* /api/v1/pods/x is not a Kubernetes path */
        fl_request_reply_status(r, 404, "NotFound",
                                "the server could not find the requested resource");
        return;
    }
    if (!(rd = query_reader_get(q, &err))) {
        fl_request_reply_status(r, 500, "InternalError", "out of resources");
        return;
    }
    serve_get(q, r, u, t, rd);
    query_reader_put(q, rd);
}
