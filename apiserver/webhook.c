/*
 * apiserver/webhook.c: validating admission webhooks of an API server. The
 * server's ValidatingWebhookConfigurations are matched against a write
 * (rules: operations, apiGroups, apiVersions, resources, scope;
 * namespaceSelector and objectSelector with matchLabels/matchExpressions;
 * matchPolicy Equivalent, the default, where another served version of the
 * same group/resource listed in a rule matches too, or Exact), and each
 * matching webhook gets a POST of an admission.k8s.io/v1
 * AdmissionReview, as kube-apiserver v1.26 sends it (golden
 * 06-webhook/received), to clientConfig.url + "?timeout=Ns" over HTTPS
 * verified with caBundle, through kube/'s blocking client. DELETE sends
 * object null and the stored oldObject; a dry-run request that matches a
 * webhook whose sideEffects are not None/NoneOnDryRun is refused (400),
 * as kube-apiserver does. Answers as the
 * apiserver does: `admission webhook "<name>" denied the request: <msg>`
 * with the webhook's code and reason (none when it gave none); warnings
 * become Warning headers; a failed call with failurePolicy Fail is a 500
 * InternalError "failed calling webhook ...", with Ignore it is skipped.
 * Called on HTTP threads and the controller thread; holds no lock while
 * calling out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"

#define MAX_TIMEOUT_S 30

/* ------------------------------------------------------------ matching */

static bool list_has(const json_t *list, const char *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *s = json_string_value(e);
        if (s && (!strcmp(s, "*") || !strcmp(s, v)))
            return true;
    }
    return false;
}

/* Does rule match op on r? *as is the version the webhook sees it in: r
 * itself, or (matchPolicy Equivalent, the default) another served version
 * of the same group/resource that the rule lists, as the apiserver
 * converts the object to a version the webhook asked for. */
static bool rule_matches(fl_apiserver *c, const json_t *rule, const fl_apiserver_res *r,
                         const char *op, bool exact, const fl_apiserver_res **as)
{
    const char *scope = fl_obj_str_or(rule, "scope", "*");
    json_t *vers = json_object_get(rule, "apiVersions");
    if (!strcmp(scope, "Namespaced") && !r->kr->namespaced)
        return false;
    if (!strcmp(scope, "Cluster") && r->kr->namespaced)
        return false;
    if (!list_has(json_object_get(rule, "operations"), op) ||
        !list_has(json_object_get(rule, "apiGroups"), r->kr->group) ||
        !list_has(json_object_get(rule, "resources"), r->kr->resource))
        return false;
    *as = r;
    if (list_has(vers, r->kr->version))
        return true;
    size_t i;
    json_t *v;
    json_array_foreach(vers, i, v) {
        const fl_apiserver_res *o =
            exact || !json_is_string(v)
                ? NULL
                : fl_apiserver_store_find(c->st, r->kr->group, json_string_value(v),
                                          r->kr->resource);
        if (o && o->rs == r->rs) {
            *as = o;
            return true;
        }
    }
    return false;
}

/* metav1.LabelSelector against labels (NULL/{} selector: everything). */
static bool selector_matches(const json_t *sel, const json_t *labels)
{
    const char *k;
    json_t *v, *e;
    size_t i;
    json_object_foreach(json_object_get(sel, "matchLabels"), k, v) {
        const char *have = json_string_value(json_object_get(labels, k));
        if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)))
            return false;
    }
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e) {
        const char *key = fl_obj_str_or(e, "key", ""), *op = fl_obj_str_or(e, "operator", "");
        const char *have = json_string_value(json_object_get(labels, key));
        json_t *vals = json_object_get(e, "values");
        bool in = false;
        size_t j;
        json_t *x;
        json_array_foreach(vals, j, x)
            in |= have && json_is_string(x) && !strcmp(have, json_string_value(x));
        if ((!strcmp(op, "In") && !in) || (!strcmp(op, "NotIn") && in) ||
            (!strcmp(op, "Exists") && !have) || (!strcmp(op, "DoesNotExist") && have))
            return false;
    }
    return true;
}

/* objectSelector: the new or the old object may match (DELETE has only
 * the old one), as the apiserver's object matcher does. */
static bool object_selected(const json_t *wh, const json_t *obj, const json_t *old)
{
    const json_t *sel = json_object_get(wh, "objectSelector");
    return (obj && selector_matches(sel, fl_obj_get(obj, "metadata.labels"))) ||
           (old && selector_matches(sel, fl_obj_get(old, "metadata.labels")));
}

static bool webhook_matches(fl_apiserver *c, const json_t *wh, const fl_apiserver_res *r,
                            const char *op, const json_t *obj, const json_t *old, const char *ns,
                            const fl_apiserver_res **as)
{
    bool any = false, exact = !strcmp(fl_obj_str_or(wh, "matchPolicy", "Equivalent"), "Exact");
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(wh, "rules"), i, rule) {
        const fl_apiserver_res *a = NULL;
        if (!any && rule_matches(c, rule, r, op, exact, &a)) {
            any = true;
            *as = a;
        }
    }
    if (!any || !object_selected(wh, obj, old))
        return false;
    json_t *nsel = json_object_get(wh, "namespaceSelector");
    if (!r->kr->namespaced || !ns || !*ns || json_object_size(nsel) == 0)
        return true;
    const fl_apiserver_res *nr = fl_apiserver_store_find(c->st, NULL, "v1", "namespaces");
    fl_apiserver_obj *no = NULL;
    json_t *nj = NULL;
    if (nr && fl_apiserver_store_get(c->st, nr, "", ns, &no) == 0)
        nj = fl_apiserver_obj_parse(no);
    bool ok = selector_matches(nsel, fl_obj_get(nj, "metadata.labels"));
    json_decref(nj);
    fl_apiserver_obj_unref(no);
    return ok;
}

/* ------------------------------------------------------------ calling */

static json_t *gv_of(const fl_apiserver_res *r, bool resource)
{
    return json_pack("{s:s,s:s,s:s}", "group", r->kr->group, "version", r->kr->version,
                     resource ? "resource" : "kind", resource ? r->kr->resource : r->kr->kind);
}

/* Objects go as stored, also when as (the version the webhook asked for)
 * differs from r: the sim keeps one schema per group/resource. */
static json_t *review(const fl_apiserver_res *r, const fl_apiserver_res *as, const char *op,
                      const json_t *obj, const json_t *old, const fl_apiserver_webhook_req *w)
{
    char uid[37];
    fl_uuid4(uid);
    const json_t *subj = obj ? obj : old; /* DELETE: only the old object */
    json_t *req =
        json_pack("{s:s,s:o,s:o,s:o,s:o,s:s}", "uid", uid, "kind", gv_of(as, false), "resource",
                  gv_of(as, true), "requestKind", gv_of(r, false), "requestResource",
                  gv_of(r, true), "name", fl_obj_str_or(subj, "metadata.name", ""));
    if (!req)
        return NULL;
    if (r->kr->namespaced)
        json_object_set_new(req, "namespace",
                            json_string(fl_obj_str_or(subj, "metadata.namespace", "")));
    json_object_set_new(req, "operation", json_string(op));
    json_object_set_new(req, "userInfo",
                        w->user ? json_deep_copy(w->user)
                                : json_pack("{s:s,s:s,s:[s,s]}", "username", "admin", "uid",
                                            "uid-admin", "groups", "system:masters",
                                            "system:authenticated"));
    json_object_set_new(req, "object", obj ? json_deep_copy(obj) : json_null());
    json_object_set_new(req, "oldObject", old ? json_deep_copy(old) : json_null());
    json_object_set_new(req, "dryRun", json_boolean(w->dry));
    json_object_set_new(req, "options", w->options ? json_deep_copy(w->options) : json_null());
    return json_pack("{s:s,s:s,s:o}", "kind", "AdmissionReview", "apiVersion",
                     "admission.k8s.io/v1", "request", req);
}

/* Split "https://h:p/path" into origin and path. */
static int split_url(const char *url, char *origin, size_t on, char *path, size_t pn)
{
    const char *p = strncmp(url, "https://", 8) ? NULL : strchr(url + 8, '/');
    if (strncmp(url, "https://", 8))
        return FL_EPARSE;
    size_t olen = p ? (size_t)(p - url) : strlen(url);
    if (olen >= on)
        return FL_EPARSE;
    snprintf(origin, on, "%.*s", (int)olen, url);
    snprintf(path, pn, "%s", p ? p : "/");
    return 0;
}

/* The webhook's caBundle ([]byte in JSON: standard base64), or nothing
 * when it is absent or not base64. */
static void ca_of(const json_t *wh, fl_buf *out)
{
    const char *b64 = fl_obj_str_or(wh, "clientConfig.caBundle", "");
    fl_base64_decode(FL_BASE64_STD, b64, strlen(b64), out);
}

/* The transport error as Go's net/http words it. */
static void call_error(const fl_kube_response *res, const char *origin, char *out, size_t n)
{
    const char *host = strstr(origin, "://") ? strstr(origin, "://") + 3 : origin;
    if (res->err == -ECONNREFUSED)
        snprintf(out, n, "dial tcp %s: connect: connection refused", host);
    else if (res->err == -ETIMEDOUT)
        snprintf(out, n, "context deadline exceeded");
    else if (res->err == FL_ETLS)
        snprintf(out, n,
                 "tls: failed to verify certificate: x509: certificate signed by unknown "
                 "authority");
    else
        snprintf(out, n, "%s", res->message[0] ? res->message : fl_strerror(res->err));
}

/* POST the review; 0 with *resp (the "response" member, new), or the
 * failure text in err. */
static int call(const json_t *wh, const json_t *rev, json_t **resp, char *url_out, size_t un,
                fl_err *err)
{
    char origin[512], path[1024], full[1100];
    const char *url = fl_obj_str_or(wh, "clientConfig.url", "");
    int64_t tmo = 10;
    json_t *t = json_object_get(wh, "timeoutSeconds");
    if (json_is_integer(t))
        tmo = json_integer_value(t);
    tmo = tmo < 1 ? 1 : tmo > MAX_TIMEOUT_S ? MAX_TIMEOUT_S : tmo;
    snprintf(url_out, un, "%s?timeout=%llds", url, (long long)tmo);
    if (split_url(url, origin, sizeof(origin), path, sizeof(path)) != 0)
        return fl_err_set(err, FL_EPARSE, "unsupported webhook URL %s", url);
    snprintf(full, sizeof(full), "%s?timeout=%llds", path, (long long)tmo);
    fl_buf ca = FL_BUF_INIT(1 << 20);
    ca_of(wh, &ca);
    fl_kube_conn_info info = FL_KUBE_CONN_INFO_INIT;
    info.source = "webhook";
    info.server = origin;
    info.ca_pem = ca.data;
    info.ca_pem_len = ca.len;
    fl_kube_conn *conn = NULL;
    fl_kube_response res = {0};
    char *body = json_dumps(rev, JSON_COMPACT);
    int rc = body ? fl_kube_conn_new(&info, &conn, err) : -ENOMEM;
    if (rc == 0) {
        fl_kube_client_opts o = FL_KUBE_CLIENT_OPTS_INIT;
        fl_kube_request rq = FL_KUBE_REQUEST_INIT;
        o.user_agent = "kube-apiserver-admission";
        o.timeout_ms = tmo * 1000;
        o.connect_timeout_ms = tmo * 1000;
        rq.method = FL_KUBE_POST;
        rq.path = full;
        rq.body = body;
        rq.body_len = strlen(body);
        rq.timeout_ms = tmo * 1000;
        rc = fl_kube_request_sync(conn, &rq, &o, &res, err);
        if (rc == 0 && res.err != 0)
            rc = res.err;
        if (rc != 0) {
            char e[400];
            call_error(&res, origin, e, sizeof(e));
            fl_err_set(err, rc, "%s", e);
        } else {
            json_t *doc = json_loadb(res.body.data ? res.body.data : "", res.body.len, 0, NULL);
            json_t *r = json_object_get(doc, "response");
            if (!json_is_object(r))
                rc = fl_err_set(err, FL_EPARSE, "expected response in AdmissionReview");
            else
                *resp = json_incref(r);
            json_decref(doc);
        }
    }
    fl_kube_response_done(&res);
    fl_kube_conn_unref(conn);
    free(body);
    fl_buf_done(&ca);
    return rc;
}

static json_t *denial(const char *name, const json_t *resp)
{
    json_t *st = json_object_get(resp, "status");
    json_t *code = json_object_get(st, "code");
    const char *msg = fl_obj_str_or(st, "message", ""), *reason = fl_obj_str_or(st, "reason", "");
    char text[1200];
    if (*msg)
        snprintf(text, sizeof(text), "admission webhook \"%s\" denied the request: %s", name, msg);
    else
        snprintf(text, sizeof(text),
                 "admission webhook \"%s\" denied the request without "
                 "explanation",
                 name);
    json_t *s = json_pack("{s:s,s:s,s:{},s:s,s:s}", "kind", "Status", "apiVersion", "v1",
                          "metadata", "status", "Failure", "message", text);
    if (*reason)
        json_object_set_new(s, "reason", json_string(reason));
    json_object_set_new(s, "code",
                        json_integer(json_is_integer(code) && json_integer_value(code)
                                         ? json_integer_value(code)
                                         : 403));
    return s;
}

static json_t *call_failed(const char *name, const char *url, const char *why)
{
    char text[1600];
    snprintf(text, sizeof(text),
             "failed calling webhook \"%s\": failed to call webhook: Post "
             "\"%s\": %s",
             name, url, why);
    json_t *s = json_pack("{s:s,s:s,s:{},s:s,s:s+,s:s,s:{s:[{s:s}]},s:i}", "kind", "Status",
                          "apiVersion", "v1", "metadata", "status", "Failure", "message",
                          "Internal error occurred: ", text, "reason", "InternalError", "details",
                          "causes", "message", text, "code", 500);
    return s;
}

static void add_warnings(fl_request *req, const json_t *resp)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(resp, "warnings"), i, w) {
        char h[1200];
        if (!req || !json_is_string(w))
            continue;
        snprintf(h, sizeof(h), "299 - \"%s\"", json_string_value(w));
        fl_request_add_header(req, "Warning", h);
    }
}

/* A dry-run request meets a webhook that may have side effects: the
 * apiserver refuses the request (400) rather than call it. */
static json_t *no_dry_run(const char *name)
{
    char text[600];
    snprintf(text, sizeof(text), "admission webhook \"%s\" does not support dry run", name);
    return fl_status_new(400, "BadRequest", text);
}

/* One webhook: 0 (allowed or ignored) or a Status in *deny. */
static int run_one(const json_t *wh, const fl_apiserver_res *r, const fl_apiserver_res *as,
                   const char *op, const json_t *obj, const json_t *old,
                   const fl_apiserver_webhook_req *w, json_t **deny)
{
    const char *name = fl_obj_str_or(wh, "name", "");
    const char *fx = fl_obj_str_or(wh, "sideEffects", "Unknown");
    if (w->dry && strcmp(fx, "None") && strcmp(fx, "NoneOnDryRun")) {
        *deny = no_dry_run(name);
        return FL_EFORBIDDEN;
    }
    json_t *rev = review(r, as, op, obj, old, w), *resp = NULL;
    char url[1200];
    fl_err err = FL_ERR_INIT;
    int rc = rev ? call(wh, rev, &resp, url, sizeof(url), &err) : -ENOMEM;
    json_decref(rev);
    if (rc != 0) {
        if (!strcmp(fl_obj_str_or(wh, "failurePolicy", "Fail"), "Ignore"))
            return 0;
        *deny = call_failed(name, url, err.msg);
        return FL_EFORBIDDEN;
    }
    add_warnings(w->req, resp);
    if (!json_is_true(json_object_get(resp, "allowed"))) {
        *deny = denial(name, resp);
        rc = FL_EFORBIDDEN;
    }
    json_decref(resp);
    return rc;
}

int fl_apiserver_webhook_admit(fl_apiserver *c, const fl_apiserver_res *r, const char *op,
                               const json_t *obj, const json_t *old,
                               const fl_apiserver_webhook_req *w, json_t **deny)
{
    const fl_apiserver_res *vr = fl_apiserver_store_find(c->st, "admissionregistration.k8s.io",
                                                         "v1", "validatingwebhookconfigurations");
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    int rc = 0;
    if (!vr || vr == r || fl_apiserver_store_list(c->st, vr, &q, &l) != 0)
        return 0;
    const char *ns = fl_obj_str_or(obj ? obj : old, "metadata.namespace", "");
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        json_t *cfg = fl_apiserver_obj_parse(l.items[i]), *wh;
        size_t j;
        json_array_foreach(json_object_get(cfg, "webhooks"), j, wh) {
            const fl_apiserver_res *as = r;
            if (rc == 0 && webhook_matches(c, wh, r, op, obj, old, ns, &as))
                rc = run_one(wh, r, as, op, obj, old, w, deny);
        }
        json_decref(cfg);
    }
    fl_apiserver_list_done(&l);
    return rc;
}
