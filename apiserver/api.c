/*
 * apiserver/api.c: the HTTP front of an API server — bearer-token
 * authentication, health, discovery, OpenAPI v3, GET/LIST (plain JSON and
 * Table, limit/continue, selectors, resourceVersion semantics) and WATCH —
 * shaped after kube-apiserver v1.26 (recordings in tests/golden). Writes are
 * handed to write.c. Runs on server threads; all state is in the server's
 * store, registry and (mutex-guarded) OpenAPI cache.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "apiserver/apiserver_int.h"

static void reply_text(fl_request *req, int code, const char *text)
{
    fl_request_reply(req, code, "text/plain; charset=utf-8", text, strlen(text));
}

/* ------------------------------------------------------------ auth */

/* 401 for a wrong token (no Pf headers), anonymous for none (served as
 * admin on a loopback http cluster: fl_apiserver.anon_admin). Returns true
 * when the request may go on; *anon says whether it is anonymous. */
static bool authenticate(fl_apiserver *c, fl_request *req, bool *anon)
{
    const char *h = fl_request_header(req, "Authorization");
    *anon = false;
    if (!h && !c->anon_admin) {
        *anon = true;
        fl_request_set_user(req, "system:anonymous");
        return true;
    }
    if (!h || (strncasecmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, c->token) == 0)) {
        fl_request_set_user(req, "admin");
        fl_request_add_header(req, "X-Kubernetes-Pf-Flowschema-Uid", c->fs_uid);
        fl_request_add_header(req, "X-Kubernetes-Pf-Prioritylevel-Uid", c->pl_uid);
        return true;
    }
    fl_apiserver_reply_status(req, 401, "Unauthorized", "Unauthorized", NULL, NULL, NULL);
    return false;
}

static bool public_path(const char *p)
{
    return !strcmp(p, "/healthz") || !strcmp(p, "/livez") || !strcmp(p, "/readyz") ||
           !strcmp(p, "/version") || fl_str_has_prefix(p, "/healthz/") ||
           fl_str_has_prefix(p, "/livez/") || fl_str_has_prefix(p, "/readyz/");
}

/* ------------------------------------------------------------ discovery */

static bool only_aggregated(fl_request *req)
{
    const char *a = fl_request_header(req, "Accept");
    return a && strstr(a, "apidiscovery.k8s.io") && !strstr(a, "application/json,") &&
           !fl_str_has_suffix(a, "application/json") && !strstr(a, "*/*");
}

static void reply_health(fl_request *req, const char *path)
{
    fl_request_add_header(req, "X-Content-Type-Options", "nosniff");
    if (fl_request_query(req, "verbose")) {
        char body[256];
        snprintf(body, sizeof(body), "[+]ping ok\n[+]log ok\n[+]etcd ok\n%s check passed\n",
                 path + 1);
        reply_text(req, 200, body);
        return;
    }
    reply_text(req, 200, "ok");
}

/* /api, /apis, /apis/<g>, /api/v1, /apis/<g>/<v>, /version. True if it
 * answered. */
static bool discovery(fl_apiserver *c, fl_request *req, const char *p)
{
    json_t *v = NULL;
    int rc = FL_ENOTFOUND;
    char g[256];
    if (!strcmp(p, "/version")) {
        fl_kube_version_info vi = FL_KUBE_VERSION_INFO_INIT;
        rc = fl_kube_discovery_version(&vi, &v);
    } else if (!strcmp(p, "/api") || !strcmp(p, "/apis")) {
        if (only_aggregated(req)) {
            fl_apiserver_reply_status(
                req, 406, "NotAcceptable",
                "only the following media types are accepted: application/json, "
                "application/yaml, application/vnd.kubernetes.protobuf",
                NULL, NULL, NULL);
            return true;
        }
        rc = p[4] ? fl_kube_discovery_apis(c->reg, NULL, NULL, &v)
                  : fl_kube_discovery_api(c->server_addr, &v);
    } else if (!strcmp(p, "/api/v1")) {
        rc = fl_kube_discovery_resources(c->reg, "", "v1", NULL, NULL, &v);
    } else if (fl_str_has_prefix(p, "/apis/")) {
        const char *rest = p + 6, *slash = strchr(rest, '/');
        if (!slash) {
            rc = fl_kube_discovery_group(c->reg, rest, NULL, NULL, &v);
        } else if (!strchr(slash + 1, '/') && slash[1]) {
            snprintf(g, sizeof(g), "%.*s", (int)(slash - rest), rest);
            rc = fl_kube_discovery_resources(c->reg, g, slash + 1, NULL, NULL, &v);
        } else {
            return false;
        }
    } else {
        return false;
    }
    if (rc == FL_ENOTFOUND)
        fl_request_reply(req, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
    else if (rc != 0)
        fl_request_reply_status(req, 500, NULL, "discovery: %s", fl_strerror(rc));
    else
        fl_apiserver_reply_json(req, 200, v);
    return true;
}

/* ------------------------------------------------------------ OpenAPI v3 */

static int openapi_build(fl_apiserver *c)
{
    uint64_t gen = fl_kube_resources_generation(c->reg);
    if (c->oa.gen == gen && c->oa.index)
        return 0;
    json_t *index = NULL, *docs = json_object(), *paths = json_object();
    json_t *v2 = fl_kube_openapi_v2_new(), *v2body = NULL;
    int rc = docs && paths && v2 ? 0 : -ENOMEM;
    size_t total = fl_kube_resources_list(c->reg, NULL, 0);
    const fl_kube_resource **all = calloc(total + 1, sizeof(*all));
    if (!all)
        rc = -ENOMEM;
    size_t n = rc == 0 ? fl_kube_resources_list(c->reg, all, total) : 0;
    n = n > total ? total : n;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char key[300];
        if (*all[i]->group)
            snprintf(key, sizeof(key), "apis/%s/%s", all[i]->group, all[i]->version);
        else
            snprintf(key, sizeof(key), "api/%s", all[i]->version);
        if (json_object_get(docs, key))
            continue;
        json_t *doc = NULL;
        char hash[129];
        fl_buf b = FL_BUF_INIT(256u << 20);
        rc = fl_kube_openapi_doc(c->reg, all[i]->group, all[i]->version, NULL, NULL, &doc);
        if (rc == 0)
            rc = fl_kube_openapi_hash(doc, hash);
        if (rc == 0)
            rc = fl_json_encode(doc, false, &b);
        if (rc == 0)
            rc = fl_kube_openapi_v2_merge(v2, doc);
        if (rc == 0) {
            char url[600];
            snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%s", key, hash);
            json_object_set_new(docs, key,
                                json_pack("{s:s,s:s%}", "hash", hash, "body", b.data, b.len));
            json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
        }
        json_decref(doc);
        fl_buf_done(&b);
    }
    free(all);
    if (rc == 0 && !(index = json_pack("{s:O}", "paths", paths)))
        rc = -ENOMEM;
    if (rc == 0) {
        fl_buf b = FL_BUF_INIT(256u << 20);
        rc = fl_json_encode(v2, false, &b);
        if (rc == 0 && !(v2body = json_stringn(b.data, b.len)))
            rc = -ENOMEM;
        fl_buf_done(&b);
    }
    json_decref(paths);
    json_decref(v2);
    if (rc != 0) {
        json_decref(docs);
        json_decref(index);
        json_decref(v2body);
        return rc;
    }
    json_decref(c->oa.index);
    json_decref(c->oa.docs);
    json_decref(c->oa.v2);
    c->oa.index = index;
    c->oa.docs = docs;
    c->oa.v2 = v2body;
    c->oa.gen = gen;
    return 0;
}

static void openapi_doc(fl_apiserver *c, fl_request *req, const char *key)
{
    json_t *d = json_object_get(c->oa.docs, key);
    if (!d) {
        fl_request_reply(req, 404, NULL, "", 0);
        return;
    }
    const char *hash = json_string_value(json_object_get(d, "hash"));
    const char *want = fl_request_query(req, "hash");
    char etag[140];
    snprintf(etag, sizeof(etag), "\"%s\"", hash);
    if (want && strcmp(want, hash) != 0) {
        char loc[600];
        snprintf(loc, sizeof(loc), "/openapi/v3/%s?hash=%s", key, hash);
        fl_request_add_header(req, "Location", loc);
        const char *html = "<a href=\"\">Moved Permanently</a>.\n\n";
        fl_request_reply(req, 301, "text/html; charset=utf-8", html, strlen(html));
        return;
    }
    fl_request_add_header(req, "Etag", etag);
    if (want) {
        fl_request_add_header(req, "Cache-Control", "public, immutable");
        fl_request_add_header(req, "Expires", "Fri, 01 Jan 2100 00:00:00 GMT");
    }
    const char *inm = fl_request_header(req, "If-None-Match");
    if (inm && !strcmp(inm, etag)) {
        fl_request_reply(req, 304, NULL, "", 0);
        return;
    }
    json_t *body = json_object_get(d, "body");
    fl_request_reply(req, 200, "text/plain; charset=utf-8", json_string_value(body),
                     json_string_length(body));
}

/* /openapi/v2 as JSON; a client that accepts only protobuf gets 406. */
static void openapi_v2(fl_request *req, const json_t *body)
{
    const char *accept = fl_request_header(req, "Accept");
    if (accept && *accept && !strstr(accept, "json") && !strstr(accept, "*/*")) {
        fl_apiserver_reply_status(req, 406, "NotAcceptable",
                                  "only application/json is served for /openapi/v2", NULL, NULL,
                                  NULL);
        return;
    }
    fl_request_reply(req, 200, "application/json", json_string_value(body),
                     json_string_length(body));
}

static void openapi(fl_apiserver *c, fl_request *req, const char *p)
{
    pthread_mutex_lock(&c->mu);
    int rc = openapi_build(c);
    if (rc != 0)
        fl_request_reply_status(req, 500, NULL, "openapi: %s", fl_strerror(rc));
    else if (!strcmp(p, "/openapi/v3"))
        fl_apiserver_reply_json(req, 200, json_incref(c->oa.index));
    else if (!strcmp(p, "/openapi/v2"))
        openapi_v2(req, c->oa.v2);
    else
        openapi_doc(c, req, p + strlen("/openapi/v3/"));
    pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------ path parsing */

/* Split /api/v1/... or /apis/g/v/... into a fl_apiserver_path. 0, FL_ENOTFOUND
 * (unknown group/version: plain 404), or -ENOENT (known group/version,
 * unknown resource: Status 404). */
static int parse_path(fl_apiserver *c, const char *p, fl_apiserver_path *out)
{
    char seg[8][256];
    size_t n = 0;
    const char *s = p;
    while (*s == '/' && n < 8) {
        s++;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || len >= sizeof(seg[0]))
            return FL_ENOTFOUND;
        memcpy(seg[n], s, len);
        seg[n++][len] = 0;
        s += len;
    }
    if (*s)
        return FL_ENOTFOUND;
    const char *group = "", *version;
    size_t i;
    if (n >= 2 && !strcmp(seg[0], "api")) {
        version = seg[1];
        i = 2;
    } else if (n >= 3 && !strcmp(seg[0], "apis")) {
        group = seg[1];
        version = seg[2];
        i = 3;
    } else {
        return FL_ENOTFOUND;
    }
    memset(out, 0, sizeof(*out));
    if (n > i + 1 && !strcmp(seg[i], "watch")) { /* the deprecated watch paths */
        out->watch = true;
        i++;
    }
    size_t left = n - i;
    if (left >= 3 && !strcmp(seg[i], "namespaces") &&
        !(left == 3 && (!strcmp(seg[i + 2], "status") || !strcmp(seg[i + 2], "finalize")))) {
        fl_strlcpy(out->ns, seg[i + 1], sizeof(out->ns));
        i += 2;
        left -= 2;
    }
    if (left < 1 || left > 3)
        return -ENOENT;
    out->res = fl_apiserver_store_find(c->st, group, version, seg[i]);
    if (!out->res) {
        bool gv_known = false;
        const fl_apiserver_res **all = NULL;
        size_t m = fl_apiserver_store_resources(c->st, &all);
        for (size_t k = 0; k < m && !gv_known; k++)
            gv_known = !strcmp(all[k]->kr->group, group) && !strcmp(all[k]->kr->version, version);
        free(all);
        return gv_known ? -ENOENT : FL_ENOTFOUND;
    }
    if (fl_kube_resources_find(c->reg, group, version, seg[i]) != out->res->kr)
        return -ENOENT; /* its CRD was deleted */
    if (left >= 2)
        fl_strlcpy(out->name, seg[i + 1], sizeof(out->name));
    if (left == 3)
        fl_strlcpy(out->sub, seg[i + 2], sizeof(out->sub));
    if (out->sub[0] && !fl_kube_resource_sub(out->res->kr, out->sub))
        return -ENOENT;
    return 0;
}

/* ------------------------------------------------------------ list */

typedef struct table_req {
    bool on;
    const char *api_version; /* meta.k8s.io/v1 or v1beta1 */
} table_req;

static table_req want_table(fl_request *req)
{
    table_req t = {false, NULL};
    const char *a = fl_request_header(req, "Accept");
    if (!a)
        return t;
    const char *p = strstr(a, "as=Table");
    if (!p || !strstr(a, "g=meta.k8s.io"))
        return t;
    const char *end = strchr(p, ',');
    const char *v1b = strstr(p, "v=v1beta1");
    t.on = true;
    t.api_version = (v1b && (!end || v1b < end)) ? "meta.k8s.io/v1beta1" : "meta.k8s.io/v1";
    return t;
}

int fl_apiserver_token_encode(uint64_t rv, bool neg, const char *start, fl_buf *out)
{
    fl_buf j = FL_BUF_INIT(4096);
    json_t *t = json_pack("{s:s,s:I,s:s}", "v", "meta.k8s.io/v1", "rv",
                          neg ? (json_int_t)-1 : (json_int_t)rv, "start", "");
    /* start is key + "\0": the stored form ends in \x01 (see store.c page()). */
    size_t sl = strlen(start);
    char *s = malloc(sl + 1);
    int rc = t && s ? 0 : -ENOMEM;
    if (rc == 0) {
        memcpy(s, start, sl + 1);
        if (sl && s[sl - 1] == '\x01')
            s[sl - 1] = 0;
        json_object_set_new(t, "start", json_stringn(s, sl));
        rc = fl_json_encode(t, false, &j);
    }
    if (rc == 0 && j.len && j.data[j.len - 1] == '\n')
        j.len--;
    if (rc == 0)
        rc = fl_base64_encode(FL_BASE64_URL, j.data, j.len, out);
    free(s);
    json_decref(t);
    fl_buf_done(&j);
    return rc;
}

int fl_apiserver_token_decode(const char *tok, int64_t *rv, char **start, fl_err *err)
{
    fl_buf raw = FL_BUF_INIT(8192);
    json_t *t = NULL;
    int rc = fl_base64_decode(FL_BASE64_URL, tok, strlen(tok), &raw);
    if (rc != 0 || !(t = json_loadb(raw.data, raw.len, JSON_ALLOW_NUL, NULL))) {
        rc = fl_err_set(err, FL_EPARSE,
                        "invalid continue token: continue key is not valid: "
                        "invalid character looking for beginning of value");
        goto out;
    }
    json_t *jrv = json_object_get(t, "rv"), *js = json_object_get(t, "start");
    if (!json_is_integer(jrv) || !json_is_string(js) ||
        strcmp(json_string_value(json_object_get(t, "v")) ?: "", "meta.k8s.io/v1") != 0) {
        rc = fl_err_set(err, FL_EPARSE,
                        "invalid continue token: continue key is not valid: "
                        "incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
        goto out;
    }
    size_t sl = json_string_length(js);
    char *s = malloc(sl + 2);
    if (!s) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(s, json_string_value(js), sl + 1);
    if (sl && s[sl - 1] == 0)
        s[sl - 1] = '\x01';
    *rv = json_integer_value(jrv);
    *start = s;
    rc = 0;
out:
    json_decref(t);
    fl_buf_done(&raw);
    return rc;
}

static void list_meta(fl_buf *b, const fl_apiserver_list *l, const char *tok, bool crd)
{
    fl_buf_printf(b, "\"metadata\":{\"resourceVersion\":\"%llu\"", (unsigned long long)l->rv);
    if (tok && *tok)
        fl_buf_printf(b, ",\"continue\":\"%s\",\"remainingItemCount\":%lld", tok,
                      (long long)l->remaining);
    else if (crd)
        fl_buf_puts(b, ",\"continue\":\"\"");
    fl_buf_puts(b, "}");
}

static void reply_list(fl_request *req, const fl_apiserver_res *r, const fl_apiserver_list *l,
                       const char *tok)
{
    fl_buf b = FL_BUF_INIT(1u << 30);
    bool crd = r->kr->origin == FL_KUBE_ORIGIN_CRD;
    fl_buf_printf(&b, "{\"kind\":\"%s\",\"apiVersion\":\"%s\",", r->kr->list_kind, r->api_version);
    list_meta(&b, l, tok, crd);
    fl_buf_puts(&b, ",\"items\":[");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        const fl_apiserver_obj *o = l->items[i];
        if (i)
            rc = fl_buf_puts(&b, ",");
        rc = rc ? rc : fl_apiserver_obj_write(o, !crd, &b);
    }
    if (rc == 0)
        rc = fl_buf_puts(&b, "]}\n");
    if (rc == 0)
        fl_apiserver_reply_bytes(req, 200, &b);
    else
        fl_request_reply_status(req, 500, NULL, "list too large: %s", fl_strerror(rc));
    fl_buf_done(&b);
}

static void reply_table(fl_request *req, const fl_apiserver_res *r, fl_apiserver_obj *const *objs,
                        size_t n, const char *rv, const char *tok, int64_t remaining,
                        const char *apiv)
{
    json_t **v = calloc(n ? n : 1, sizeof(*v)), *t = NULL;
    fl_kube_table_opts to = FL_KUBE_TABLE_OPTS_INIT;
    fl_err err = FL_ERR_INIT;
    int rc = v ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!(v[i] = fl_apiserver_obj_parse(objs[i])))
            rc = -ENOMEM;
    if (rc == 0)
        rc = fl_kube_table_include_parse(fl_request_query(req, "includeObject"), &to.include);
    to.api_version = apiv;
    to.resource_version = rv;
    to.continue_token = tok;
    to.remaining_item_count = tok && *tok ? remaining : -1;
    if (rc == 0)
        rc = fl_kube_table_render(r->kr, v, n, &to, &t, &err);
    for (size_t i = 0; v && i < n; i++)
        json_decref(v[i]);
    free(v);
    if (rc == FL_EPARSE)
        fl_apiserver_reply_status(req, 400, "BadRequest", err.msg, NULL, NULL, NULL);
    else if (rc != 0)
        fl_request_reply_status(req, 500, NULL, "table: %s", fl_strerror(rc));
    else
        fl_apiserver_reply_json(req, 200, t);
}

typedef struct list_params {
    fl_apiserver_sel *labels, *fields;
    const char *rv, *rvm;
    bool has_rv;
    uint64_t rv_num;
} list_params;

/* ListOptions errors, gathered as apimachinery's field.ErrorList. */
typedef struct opt_errs {
    json_t *causes;
    fl_buf msg;
    size_t n;
} opt_errs;

static void opt_err(opt_errs *e, bool forbidden, const char *field, const char *detail)
{
    char m[400];
    snprintf(m, sizeof(m), "%s: %s", forbidden ? "Forbidden" : "Unsupported value", detail);
    json_array_append_new(e->causes,
                          json_pack("{s:s,s:s,s:s}", "reason",
                                    forbidden ? "FieldValueForbidden" : "FieldValueNotSupported",
                                    "message", m, "field", field));
    fl_buf_printf(&e->msg, "%s%s: %s", e->n++ ? ", " : "", field, m);
}

/* apimachinery's ValidateListOptions (watch and list forms, WatchList on):
 * false after answering 422 Invalid on ListOptions. */
static bool validate_list_options(fl_request *req, bool watch, const list_params *lp)
{
    const char *rvm = lp->rvm && *lp->rvm ? lp->rvm : NULL;
    const char *sie = fl_request_query(req, "sendInitialEvents");
    const char *cont = fl_request_query(req, "continue");
    bool nt = rvm && !strcmp(rvm, "NotOlderThan"), ex = rvm && !strcmp(rvm, "Exact");
    char v[200];
    opt_errs e = {json_array(), FL_BUF_INIT(8192), 0};
    snprintf(v, sizeof(v), "\"%.150s\": supported values: %s", rvm ? rvm : "",
             watch ? "\"NotOlderThan\"" : "\"Exact\", \"NotOlderThan\", \"\"");
    if (watch && sie && !nt)
        opt_err(&e, true, "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
    if (watch && rvm && !sie)
        opt_err(&e, true, "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided");
    if (!watch && rvm && !lp->has_rv)
        opt_err(&e, true, "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided");
    if (rvm && cont && *cont)
        opt_err(&e, true, "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided");
    if (rvm && !nt && (watch || !ex))
        opt_err(&e, false, "resourceVersionMatch", v);
    if (!watch && ex && lp->has_rv && lp->rv_num == 0)
        opt_err(&e, true, "resourceVersionMatch",
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"");
    if (!watch && sie)
        opt_err(&e, true, "sendInitialEvents", "sendInitialEvents is forbidden for list");
    bool ok = e.n == 0;
    if (!ok) {
        char msg[2400];
        snprintf(msg, sizeof(msg), "ListOptions.meta.k8s.io \"\" is invalid: %s%s%s",
                 e.n > 1 ? "[" : "", e.msg.data ? e.msg.data : "", e.n > 1 ? "]" : "");
        json_t *st = fl_status_new(422, "Invalid", msg);
        json_object_set_new(st, "details",
                            json_pack("{s:s,s:s,s:O}", "group", "meta.k8s.io", "kind",
                                      "ListOptions", "causes", e.causes));
        fl_apiserver_reply_json(req, 422, st);
    }
    json_decref(e.causes);
    fl_buf_done(&e.msg);
    return ok;
}

/* Parse selectors and resourceVersion; answers the request itself on
 * error. name: a legacy watch path's object ("" for none) adds
 * metadata.name=<name> to the field selector, as the apiserver does. */
static bool parse_list_params(fl_apiserver *c, fl_request *req, const fl_apiserver_res *r,
                              bool watch, const char *name, list_params *lp)
{
    fl_err err = FL_ERR_INIT;
    const char *bad = NULL;
    memset(lp, 0, sizeof(*lp));
    const char *ls = fl_request_query(req, "labelSelector");
    const char *fs = fl_request_query(req, "fieldSelector");
    char fsn[1024];
    if (name && *name) {
        snprintf(fsn, sizeof(fsn), "%s%smetadata.name=%s", fs ? fs : "", fs && *fs ? "," : "",
                 name);
        fs = fsn;
    }
    if (fl_apiserver_sel_parse_labels(ls, &lp->labels, &err) != 0) {
        fl_apiserver_reply_status(req, 400, "BadRequest", err.msg, NULL, NULL, NULL);
        goto fail;
    }
    if (fl_apiserver_sel_parse_fields(fs, &lp->fields, &err) != 0) {
        fl_apiserver_reply_status(req, 400, "BadRequest", err.msg, NULL, NULL, NULL);
        goto fail;
    }
    if (!fl_apiserver_sel_fields_supported(lp->fields, r->kr->kind, &bad)) {
        char msg[400];
        snprintf(msg, sizeof(msg), "field label not supported: %s", bad);
        fl_apiserver_reply_status(req, 400, "BadRequest", msg, NULL, NULL, NULL);
        goto fail;
    }
    lp->rv = fl_request_query(req, "resourceVersion");
    lp->rvm = fl_request_query(req, "resourceVersionMatch");
    lp->has_rv = lp->rv && *lp->rv;
    if (lp->has_rv && fl_parse_u64(lp->rv, strlen(lp->rv), &lp->rv_num) != 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "invalid resource version: %.200s", lp->rv);
        fl_apiserver_reply_status(req, 400, "BadRequest", msg, NULL, NULL, NULL);
        goto fail;
    }
    if (validate_list_options(req, watch, lp))
        return true;
fail: /* answered: nothing of lp outlives the call */
    fl_apiserver_sel_free(lp->labels);
    fl_apiserver_sel_free(lp->fields);
    lp->labels = lp->fields = NULL;
    return false;
}

static void list_params_done(list_params *lp)
{
    fl_apiserver_sel_free(lp->labels);
    fl_apiserver_sel_free(lp->fields);
}

/* The watch cache's waitUntilFreshAndBlock: a LIST at a future rv waits up
 * to 3 s for the store to reach it (then 504). Returns the store's rv. */
#define FRESH_WAIT_MS 3000
static uint64_t wait_for_rv(fl_apiserver *c, uint64_t want)
{
    int64_t end = fl_mono_ms() + FRESH_WAIT_MS;
    uint64_t cur = fl_apiserver_store_rv(c->st);
    while (cur < want && fl_mono_ms() < end) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        cur = fl_apiserver_store_rv(c->st);
    }
    return cur;
}

static void reply_too_large(fl_request *req, uint64_t want, uint64_t cur)
{
    fl_request_add_header(req, "Retry-After", "1");
    char msg[200];
    snprintf(msg, sizeof(msg), "Timeout: Too large resource version: %llu, current: %llu",
             (unsigned long long)want, (unsigned long long)cur);
    json_t *st = fl_status_new(504, "Timeout", msg);
    json_object_set_new(st, "details",
                        json_pack("{s:[{s:s,s:s}],s:i}", "causes", "reason",
                                  "ResourceVersionTooLarge", "message",
                                  "Too large resource version", "retryAfterSeconds", 1));
    fl_apiserver_reply_json(req, 504, st);
}

static void reply_expired_continue(fl_request *req, const char *start)
{
    fl_buf tok = FL_BUF_INIT(8192);
    json_t *st = fl_status_new(
        410, "Expired",
        "The provided continue parameter is too old to display a consistent list result. You "
        "can start a new list without the continue parameter, or use the continue token in "
        "this response to retrieve the remainder of the results. Continuing with the provided "
        "token results in an inconsistent list - objects that were created, modified, or "
        "deleted between the time the first chunk was returned and now may show up in the list.");
    if (st && fl_apiserver_token_encode(0, true, start, &tok) == 0)
        json_object_set_new(json_object_get(st, "metadata"), "continue", json_string(tok.data));
    fl_apiserver_reply_json(req, 410, st);
    fl_buf_done(&tok);
}

static void do_list(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    list_params lp;
    fl_apiserver_list l = {0};
    char *start = NULL;
    fl_buf tok = FL_BUF_INIT(8192);
    fl_err err = FL_ERR_INIT;
    if (c->hooks.take_410 && c->hooks.take_410(c->hooks.ud, false)) { /* e.g. the sim's force-410 */
        fl_apiserver_reply_status(req, 410, "Expired",
                                  "The resourceVersion for the provided list is too "
                                  "old.",
                                  NULL, NULL, NULL);
        return;
    }
    if (!parse_list_params(c, req, p->res, false, NULL, &lp))
        goto out;
    const char *cont = fl_request_query(req, "continue");
    const char *lim = fl_request_query(req, "limit");
    int64_t limit = 0, trv = 0;
    if (lim && *lim && (fl_parse_i64(lim, strlen(lim), &limit) != 0 || limit < 0))
        limit = 0;
    fl_apiserver_list_req q = {
        .ns = p->ns, .labels = lp.labels, .fields = lp.fields, .limit = limit};
    bool rv0 = lp.has_rv && lp.rv_num == 0;
    if (cont && *cont) {
        if (lp.has_rv && !rv0) {
            fl_apiserver_reply_status(req, 400, "BadRequest",
                                      "specifying resource version is not "
                                      "allowed when using continue",
                                      NULL, NULL, NULL);
            goto out;
        }
        if (fl_apiserver_token_decode(cont, &trv, &start, &err) != 0) {
            fl_apiserver_reply_status(req, 400, "BadRequest", err.msg, NULL, NULL, NULL);
            goto out;
        }
        q.start = start;
        q.at_rv = trv > 0 ? (uint64_t)trv : 0;
    } else if (rv0) {
        q.limit = 0; /* the watch cache ignores limit */
    } else if (lp.has_rv) {
        uint64_t cur = wait_for_rv(c, lp.rv_num);
        bool exact = lp.rvm && !strcmp(lp.rvm, "Exact");
        if (lp.rv_num > cur) {
            reply_too_large(req, lp.rv_num, cur);
            goto out;
        }
        if (exact)
            q.at_rv = lp.rv_num;
    }
    int rc = fl_apiserver_store_list(c->st, p->res, &q, &l);
    if (rc == FL_EGONE && start) {
        reply_expired_continue(req, start);
        goto out;
    }
    if (rc == FL_EGONE) {
        fl_apiserver_reply_status(req, 410, "Expired",
                                  "The resourceVersion for the provided list is too "
                                  "old.",
                                  NULL, NULL, NULL);
        goto out;
    }
    if (rc != 0) {
        fl_request_reply_status(req, 500, NULL, "list: %s", fl_strerror(rc));
        goto out;
    }
    if (l.next && fl_apiserver_token_encode(trv < 0 ? 0 : l.rv, trv < 0, l.next, &tok) != 0) {
        fl_request_reply_status(req, 500, NULL, "out of memory");
        goto out;
    }
    table_req t = want_table(req);
    char rvs[24];
    snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)l.rv);
    if (t.on)
        reply_table(req, p->res, l.items, l.n, rvs, tok.data, l.remaining, t.api_version);
    else
        reply_list(req, p->res, &l, tok.data);
out:
    fl_apiserver_list_done(&l);
    list_params_done(&lp);
    free(start);
    fl_buf_done(&tok);
}

/* ------------------------------------------------------------ watch */

int fl_apiserver_table_event(const fl_apiserver_res *r, const fl_apiserver_obj *o,
                             bool omit_columns, fl_buf *out)
{
    char rv[24];
    json_t *obj = fl_apiserver_obj_parse(o), *t = NULL;
    fl_kube_table_opts to = FL_KUBE_TABLE_OPTS_INIT;
    snprintf(rv, sizeof(rv), "%llu", (unsigned long long)o->rv);
    to.resource_version = rv;
    to.omit_column_definitions = omit_columns;
    int rc = obj ? fl_kube_table_render(r->kr, &obj, 1, &to, &t, NULL) : -ENOMEM;
    json_decref(obj);
    size_t before = out->len;
    if (rc == 0)
        rc = fl_json_encode(t, false, out);
    json_decref(t);
    if (rc == 0 && out->len > before && out->data[out->len - 1] == '\n')
        out->data[--out->len] = 0;
    return rc;
}

typedef struct wctx {
    pthread_mutex_t mu;
    atomic_int refs;
    fl_stream *s;
    fl_apiserver_watch *w;
    bool ended;
    fl_apiserver *c; /* for its hooks */
} wctx;

static void wctx_unref(wctx *x)
{
    if (atomic_fetch_sub(&x->refs, 1) == 1) {
        pthread_mutex_destroy(&x->mu);
        free(x);
    }
}

static int wctx_write(void *ud, const char *data, size_t len)
{
    wctx *x = ud;
    if (x->c->hooks.watch_write)
        return x->c->hooks.watch_write(x->c->hooks.ud, x->s, data, len);
    return fl_stream_write(x->s, data, len);
}

static void wctx_end(void *ud)
{
    wctx *x = ud;
    pthread_mutex_lock(&x->mu);
    x->ended = true;
    fl_stream *s = x->s;
    x->s = NULL;
    if (x->c->hooks.watch_del)
        x->c->hooks.watch_del(x->c->hooks.ud, x->w);
    pthread_mutex_unlock(&x->mu);
    fl_stream_close(s);
    wctx_unref(x);
}

/* The client went away. Runs before wctx_end's fl_stream_close returns
 * (the server waits for a running callback and fires none after close),
 * and the store frees the watch only after wctx_end: x->w is alive here.
 * Takes no lock: it may run synchronously inside fl_stream_on_gone. */
static void wctx_gone(void *ud)
{
    wctx *x = ud;
    fl_apiserver_watch_cancel(x->w);
}

static void watch_too_old(fl_stream *s, uint64_t asked, uint64_t oldest)
{
    char line[512];
    snprintf(line, sizeof(line),
             "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
             "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: "
             "%llu (%llu)\",\"reason\":\"Expired\",\"code\":410}}\n",
             (unsigned long long)asked, (unsigned long long)oldest);
    fl_stream_write(s, line, strlen(line));
    fl_stream_close(s);
}

static void do_watch(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    list_params lp;
    fl_stream *s = NULL;
    if (!parse_list_params(c, req, p->res, true, p->name, &lp))
        return;
    fl_apiserver_watch_req q = {.ns = p->ns, .labels = lp.labels, .fields = lp.fields};
    lp.labels = lp.fields = NULL;
    const char *ts = fl_request_query(req, "timeoutSeconds");
    const char *bm = fl_request_query(req, "allowWatchBookmarks");
    const char *sie = fl_request_query(req, "sendInitialEvents");
    int64_t tsec = 0;
    if (ts && fl_parse_i64(ts, strlen(ts), &tsec) == 0 && tsec > 0)
        q.deadline_ms = fl_mono_ms() + tsec * 1000;
    else
        q.deadline_ms = fl_mono_ms() + 1800 * 1000;
    q.bookmarks = bm && !strcmp(bm, "true");
    q.table = want_table(req).on;
    if (sie && !strcmp(sie, "true")) {
        q.initial = true;
        q.initial_end_bookmark = q.bookmarks;
    } else if (sie) { /* false: no initial events, even without a resourceVersion */
        q.from_rv = lp.has_rv && lp.rv_num ? lp.rv_num : fl_apiserver_store_rv(c->st);
    } else {
        q.initial = !lp.has_rv || lp.rv_num == 0;
        q.from_rv = lp.rv_num;
    }
    wctx *x = calloc(1, sizeof(*x));
    if (!x || fl_request_stream(req, 200, "application/json", &s) != 0) {
        free(x);
        fl_apiserver_sel_free(q.labels);
        fl_apiserver_sel_free(q.fields);
        if (!s)
            fl_request_reply_status(req, 500, NULL, "cannot open stream");
        return;
    }
    pthread_mutex_init(&x->mu, NULL);
    atomic_init(&x->refs, 2); /* one for the watch's end callback, one for us */
    x->s = s;
    x->c = c;
    uint64_t oldest = 0;
    if (c->hooks.take_410 && c->hooks.take_410(c->hooks.ud, true)) { /* as for a compacted rv */
        fl_apiserver_sel_free(q.labels);
        fl_apiserver_sel_free(q.fields);
        watch_too_old(s, q.from_rv, fl_apiserver_store_rv(c->st));
        atomic_store(&x->refs, 1);
        wctx_unref(x);
        return;
    }
    int rc = fl_apiserver_store_watch(c->st, p->res, &q, wctx_write, wctx_end, x, &x->w, &oldest);
    if (rc == 0) {
        pthread_mutex_lock(&x->mu);
        if (!x->ended) {
            fl_stream_on_gone(s, wctx_gone, x);
            if (c->hooks.watch_add)
                c->hooks.watch_add(c->hooks.ud, x->w, s);
        }
        pthread_mutex_unlock(&x->mu);
    } else if (rc == FL_EGONE) {
        watch_too_old(s, q.from_rv, oldest);
        wctx_unref(x);
    } else {
        fl_stream_close(s);
        wctx_unref(x);
    }
    wctx_unref(x);
}

/* ------------------------------------------------------------ get */

static void do_get(fl_apiserver *c, fl_request *req, const fl_apiserver_path *p)
{
    fl_apiserver_obj *o = NULL;
    char q[200];
    if (fl_apiserver_store_get(c->st, p->res, p->ns, p->name, &o) != 0) {
        char msg[600];
        fl_apiserver_res_qualified(p->res, q, sizeof(q));
        snprintf(msg, sizeof(msg), "%s \"%s\" not found", q, p->name);
        fl_apiserver_reply_status(req, 404, "NotFound", msg, p->name, p->res->kr->group,
                                  p->res->kr->resource);
        return;
    }
    table_req t = want_table(req);
    if (t.on) {
        char rvs[24];
        snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)o->rv);
        reply_table(req, p->res, &o, 1, rvs, NULL, -1, t.api_version);
    } else {
        fl_apiserver_reply_obj(req, 200, o);
    }
    fl_apiserver_obj_unref(o);
}

/* ------------------------------------------------------------ entry */

static void forbidden_anonymous(fl_request *req, const char *path)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "forbidden: User \"system:anonymous\" cannot get path \"%.400s\"",
             path);
    fl_apiserver_reply_status(req, 403, "Forbidden", msg, NULL, NULL, NULL);
}

/* The authorization verb of a resource request, as kube-apiserver names it. */
static const char *verb_of(fl_request *req, const fl_apiserver_path *p)
{
    const char *m = fl_request_method(req), *w = fl_request_query(req, "watch");
    if (!strcmp(m, "GET"))
        return p->watch || (!p->name[0] && w && (!strcmp(w, "true") || !strcmp(w, "1"))) ? "watch"
               : p->name[0]                                                              ? "get"
                                                                                         : "list";
    if (!strcmp(m, "POST"))
        return "create";
    if (!strcmp(m, "PUT"))
        return "update";
    if (!strcmp(m, "PATCH"))
        return "patch";
    if (!strcmp(m, "DELETE"))
        return p->name[0] ? "delete" : "deletecollection";
    return "get";
}

static void resource_request(fl_apiserver *c, fl_request *req, const char *path)
{
    fl_apiserver_path p;
    int rc = parse_path(c, path, &p);
    const char *m = fl_request_method(req);
    if (rc == FL_ENOTFOUND) {
        fl_request_reply(req, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
        return;
    }
    if (rc != 0) {
        fl_apiserver_reply_status(req, 404, "NotFound",
                                  "the server could not find the requested resource", NULL, NULL,
                                  NULL);
        return;
    }
    if (!p.res->kr->namespaced && p.ns[0]) {
        fl_apiserver_reply_status(req, 404, "NotFound",
                                  "the server could not find the requested resource", NULL, NULL,
                                  NULL);
        return;
    }
    const char *w = fl_request_query(req, "watch");
    bool get = !strcmp(m, "GET");
    if (c->hooks.auth &&
        c->hooks.auth(c->hooks.ud, req, verb_of(req, &p), p.res, p.ns, p.name) != 0)
        return; /* answered: 401 or 403 */
    if (p.watch && (!get || p.sub[0]))
        fl_apiserver_reply_status(req, 405, "MethodNotAllowed",
                                  "the server does not allow this method on "
                                  "the requested resource",
                                  NULL, NULL, NULL);
    else if (p.watch)
        do_watch(c, req, &p);
    else if (get && !p.name[0] && w && (!strcmp(w, "true") || !strcmp(w, "1")))
        do_watch(c, req, &p);
    else if (get && !p.name[0])
        do_list(c, req, &p);
    else if (get && !p.sub[0])
        do_get(c, req, &p);
    else
        fl_apiserver_write_handle(c, req, &p);
}

void fl_apiserver_handle(fl_request *req, void *ud)
{
    fl_apiserver *c = ud;
    const char *path = fl_request_path(req);
    bool anon;
    if (c->prefix[0]) {
        if (!fl_str_has_prefix(path, c->prefix)) {
            fl_request_reply(req, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
            return;
        }
        path += strlen(c->prefix);
        if (!*path)
            path = "/";
    }
    if (c->hooks.intercept && c->hooks.intercept(c->hooks.ud, req)) /* e.g. sim faults */
        return;
    if (c->hooks.auth) { /* the embedder's users; resources are checked per verb below */
        if (!public_path(path) && c->hooks.auth(c->hooks.ud, req, NULL, NULL, NULL, NULL) != 0)
            return;
        anon = false;
    } else if (!authenticate(c, req, &anon)) {
        return;
    }
    if (anon && !public_path(path)) {
        forbidden_anonymous(req, path);
        return;
    }
    if (!strcmp(path, "/healthz") || !strcmp(path, "/livez") || !strcmp(path, "/readyz")) {
        reply_health(req, path);
        return;
    }
    if (!strcmp(path, "/openapi/v3") || fl_str_has_prefix(path, "/openapi/v3/") ||
        !strcmp(path, "/openapi/v2")) {
        openapi(c, req, path);
        return;
    }
    if (discovery(c, req, path))
        return;
    resource_request(c, req, path);
}

/* -------------------------------------------------------------- lifecycle */

int fl_apiserver_new(const fl_apiserver_opts *o, fl_apiserver **out)
{
    if (!o || !o->reg || !o->st)
        return -EINVAL;
    fl_apiserver *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    pthread_mutex_init(&a->mu, NULL);
    snprintf(a->name, sizeof(a->name), "%s", o->name ? o->name : "");
    snprintf(a->token, sizeof(a->token), "%s", o->token ? o->token : "");
    snprintf(a->prefix, sizeof(a->prefix), "%s", o->prefix ? o->prefix : "");
    snprintf(a->server_addr, sizeof(a->server_addr), "%s", o->server_addr ? o->server_addr : "");
    snprintf(a->fs_uid, sizeof(a->fs_uid), "%s", o->fs_uid ? o->fs_uid : "");
    snprintf(a->pl_uid, sizeof(a->pl_uid), "%s", o->pl_uid ? o->pl_uid : "");
    a->anon_admin = o->anon_admin;
    a->reg = o->reg;
    a->st = o->st;
    a->hooks = o->hooks;
    fl_err err = FL_ERR_INIT;
    int rc = fl_apiserver_sync_resources(a);
    if (rc == 0)
        rc = fl_apiserver_load_stored_crds(a, &err); /* a durable store's, after a restart */
    if (rc != 0) {
        fl_apiserver_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void fl_apiserver_free(fl_apiserver *a)
{
    if (!a)
        return;
    json_decref(a->oa.index);
    json_decref(a->oa.docs);
    json_decref(a->oa.v2);
    json_decref(a->oa.schemas);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void fl_apiserver_set_server_addr(fl_apiserver *a, const char *host_port)
{
    snprintf(a->server_addr, sizeof(a->server_addr), "%s", host_port);
}
