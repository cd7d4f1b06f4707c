/*
 * query/logs.c: GET .../namespaces/<ns>/pods/<pod>/log proxied to the member
 * cluster that runs the pod, so `kubectl logs [-f]` works through Flotilla.
 *
 * With /clusters/<name>/ in the path the member is named; without it the
 * pod's cluster is looked up in the index (a pod name found in several
 * clusters answers 400 asking for the /clusters/<name>/ prefix). The user's
 * scopes must allow (cluster, namespace, pods). The kube-apiserver log
 * options are passed through (container, tailLines, follow, timestamps,
 * previous, sinceSeconds, sinceTime, limitBytes,
 * insecureSkipTLSVerifyBackend); other parameters are dropped.
 *
 * Each proxied request runs on its own thread (at most LOG_MAX at once)
 * with a private libuv loop and kube/client.h client for the member:
 *   - without follow: the whole body (capped at LOG_BODY_MAX) is read, then
 *     answered with the member's status and content type;
 *   - with follow: the first line opens a chunked 200 stream and every line
 *     is written to it until the member ends the log, the client leaves
 *     (on_gone cancels the member request), the follow deadline passes, the
 *     client reads too slowly (the server's per-stream queue cap), or the
 *     fl_query is freed. A last line without "\n" is dropped in follow mode
 *     (the client delivers whole lines only).
 * Errors: unknown cluster 404, member without a usable kubeconfig or
 * unreachable 503, the member's own Status passed through with its code.
 * Owns the member connections (fl_kube_conn references) and nothing else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "query/query_int.h"

#define LOG_MAX 64
#define LOG_BODY_MAX (64u << 20)
#define LOG_LINE_MAX (2u << 20)
#define LOG_TIMEOUT_MS 60000
#define LOG_FOLLOW_MAX_MS (4 * 3600 * 1000)
#define LOG_PATH_MAX 2048

static const char *const LOG_PARAMS[] = {
    "container",  "tailLines",  "follow",
    "timestamps", "previous",   "sinceSeconds",
    "sinceTime",  "limitBytes", "insecureSkipTLSVerifyBackend"};

/* One proxied request. Invariant: while `linked` it is on q->logs and its
 * async handle may be signalled (under q->pool_mu); the thread unlinks it
 * before closing the handle. */
struct query_log {
    fl_query *q;
    fl_request *r; /* until answered (then NULL) */
    fl_stream *st; /* follow: the open stream */
    fl_kube_conn *conn;
    char cluster[254];
    char path[LOG_PATH_MAX];
    bool follow;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t deadline;
    fl_kube_client *cl;
    fl_kube_req *req;
    fl_buf line;
    bool cancel; /* under q->pool_mu: client gone / stopping */
    bool linked;
    struct query_log *next;
};

/* ---- members ------------------------------------------------------------- */

int query_members_load(fl_query *q, const fl_query_member *m, size_t n, fl_err *err)
{
    q->members = calloc(n ? n : 1, sizeof *q->members);
    if (!q->members)
        return fl_err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++, q->nmembers++) {
        query_member *d = &q->members[i];
        fl_err e = FL_ERR_INIT;
        if (!(d->name = strdup(m[i].name ? m[i].name : "")))
            return fl_err_set(err, -ENOMEM, "out of memory");
        if (m[i].conn)
            d->conn = fl_kube_conn_ref(m[i].conn);
        else if (m[i].kubeconfig &&
                 fl_kube_conn_load(m[i].kubeconfig, m[i].context, &d->conn, &e) != 0)
            fl_log(FL_LOG_WARN, "query", "member %s: pods/log unavailable: %s", d->name, e.msg);
    }
    return 0;
}

void query_members_free(fl_query *q)
{
    for (size_t i = 0; i < q->nmembers; i++) {
        free(q->members[i].name);
        fl_kube_conn_unref(q->members[i].conn);
    }
    free(q->members);
    q->members = NULL;
    q->nmembers = 0;
}

static const query_member *member_find(const fl_query *q, const char *name)
{
    for (size_t i = 0; i < q->nmembers; i++)
        if (!strcmp(q->members[i].name, name))
            return &q->members[i];
    return NULL;
}

/* ---- the per-request thread ------------------------------------------------ */

static void log_unlink(struct query_log *l)
{
    fl_query *q = l->q;
    pthread_mutex_lock(&q->pool_mu);
    for (struct query_log **p = &q->logs; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    l->linked = false;
    pthread_mutex_unlock(&q->pool_mu);
}

static void on_gone(void *ud)
{
    struct query_log *l = ud;
    pthread_mutex_lock(&l->q->pool_mu);
    l->cancel = true;
    if (l->linked)
        uv_async_send(&l->wake);
    pthread_mutex_unlock(&l->q->pool_mu);
}

static void on_wake(uv_async_t *a)
{
    struct query_log *l = a->data;
    pthread_mutex_lock(&l->q->pool_mu);
    bool cancel = l->cancel;
    pthread_mutex_unlock(&l->q->pool_mu);
    if (cancel && l->req)
        fl_kube_req_cancel(l->req);
}

static void on_deadline(uv_timer_t *t)
{
    struct query_log *l = t->data;
    if (l->req)
        fl_kube_req_cancel(l->req);
}

static void reply_member_error(struct query_log *l, const fl_kube_response *res)
{
    if (res->err == -E2BIG) {
        fl_request_reply_status(l->r, 500, "InternalError",
                                "the log is larger than %u MiB: use tailLines, limitBytes or "
                                "sinceSeconds",
                                LOG_BODY_MAX >> 20);
        return;
    }
    if (res->code == 0 || !res->status) {
        fl_request_reply_status(l->r, 503, "ServiceUnavailable",
                                "cluster \"%s\" is unreachable: %s: %s", l->cluster, res->reason,
                                res->message);
        return;
    }
    long code = res->http_status >= 400 && res->http_status < 600 ? res->http_status : 502;
    fl_request_reply_json(l->r, (int)code, json_incref(res->status));
}

/* A pods/log answer is text/plain (kube-apiserver) or untyped. */
static bool is_log_type(const char *ct)
{
    return !ct[0] || !strncasecmp(ct, "text/plain", 10);
}

static int on_line(fl_kube_req *req, const char *line, size_t len, void *ud)
{
    struct query_log *l = ud;
    if (!l->st && !is_log_type(fl_kube_req_content_type(req)))
        return 1;
    if (!l->st) {
        int rc = fl_request_stream(l->r, 200, "text/plain", &l->st);
        if (rc == -ENOMEM)
            fl_request_reply_status(l->r, 500, "InternalError", "out of memory");
        l->r = NULL;
        if (rc != 0)
            return 1;
        fl_stream_on_gone(l->st, on_gone, l);
    }
    l->line.len = 0;
    if (fl_buf_append(&l->line, line, len) != 0 || fl_buf_puts(&l->line, "\n") != 0)
        return 1;
    return fl_stream_write(l->st, l->line.data, l->line.len) != 0;
}

static void on_closed(void *ud)
{
    struct query_log *l = ud;
    uv_close((uv_handle_t *)&l->deadline, NULL);
    uv_close((uv_handle_t *)&l->wake, NULL);
}

static void on_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    struct query_log *l = ud;
    l->req = NULL;
    if (l->r && res->err == 0 && !is_log_type(res->content_type)) {
        /* Only ever a log stream: anything else from the member is refused. */
        fl_request_reply_status(l->r, 502, "InternalError",
                                "cluster \"%s\" answered the log request with \"%.100s\", "
                                "not a log",
                                l->cluster, res->content_type);
    } else if (l->r && res->err == 0) {
        const char *ct = res->content_type[0] ? res->content_type : "text/plain";
        int code = res->http_status >= 200 && res->http_status < 300 ? (int)res->http_status : 200;
        fl_request_reply(l->r, code, ct, res->body.data ? res->body.data : "", res->body.len);
    } else if (l->r && res->err == -ECANCELED) {
        fl_request_reply_status(l->r, 503, "ServiceUnavailable", "log request cancelled");
    } else if (l->r) {
        reply_member_error(l, res);
    }
    l->r = NULL;
    /* The stream closes before the wake handle: on_gone cannot run after. */
    fl_stream_close(l->st);
    l->st = NULL;
    log_unlink(l);
    uv_timer_stop(&l->deadline);
    fl_kube_client_close(l->cl, on_closed, l);
}

static int log_start(struct query_log *l, fl_err *err)
{
    fl_kube_client_opts co = FL_KUBE_CLIENT_OPTS_INIT;
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    co.max_body = LOG_BODY_MAX;
    co.max_line = LOG_LINE_MAX;
    co.timeout_ms = LOG_TIMEOUT_MS;
    int rc = fl_kube_client_new(&l->loop, l->conn, &co, &l->cl, err);
    if (rc)
        return rc;
    rq.path = l->path;
    rq.accept = "*/*";
    rq.stream = l->follow;
    rq.timeout_ms = l->follow ? -1 : LOG_TIMEOUT_MS;
    rq.stall_timeout_ms = -1;
    rc = fl_kube_client_request(l->cl, &rq, on_line, on_done, l, &l->req);
    if (rc) {
        fl_kube_client_close(l->cl, NULL, NULL);
        l->cl = NULL;
        return fl_err_set(err, rc, "request: %s", fl_strerror(rc));
    }
    uv_timer_start(&l->deadline, on_deadline, l->follow ? LOG_FOLLOW_MAX_MS : LOG_TIMEOUT_MS + 5000,
                   0);
    return 0;
}

static void log_free(struct query_log *l)
{
    fl_query *q = l->q;
    fl_kube_conn_unref(l->conn);
    fl_buf_done(&l->line);
    free(l);
    pthread_mutex_lock(&q->pool_mu);
    q->nlogs--;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->pool_mu);
}

static void *log_main(void *arg)
{
    struct query_log *l = arg;
    fl_err err = FL_ERR_INIT;
    if (log_start(l, &err) != 0) {
        fl_request_reply_status(l->r, 503, "ServiceUnavailable", "cluster \"%s\": %s", l->cluster,
                                err.msg);
        l->r = NULL;
        log_unlink(l);
        uv_close((uv_handle_t *)&l->deadline, NULL);
        uv_close((uv_handle_t *)&l->wake, NULL);
    } else {
        /* a stop requested before the loop ran */
        on_wake(&l->wake);
    }
    uv_run(&l->loop, UV_RUN_DEFAULT);
    uv_loop_close(&l->loop);
    log_free(l);
    return NULL;
}

/* Set up the loop and handles on the calling thread, link l, start it. */
static int log_spawn(struct query_log *l)
{
    fl_query *q = l->q;
    pthread_t th;
    pthread_attr_t at;
    if (uv_loop_init(&l->loop) != 0)
        return -ENOMEM;
    uv_async_init(&l->loop, &l->wake, on_wake);
    uv_timer_init(&l->loop, &l->deadline);
    l->wake.data = l;
    l->deadline.data = l;
    pthread_mutex_lock(&q->pool_mu);
    l->linked = true;
    l->next = q->logs;
    q->logs = l;
    pthread_mutex_unlock(&q->pool_mu);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &at, log_main, l);
    pthread_attr_destroy(&at);
    if (rc == 0)
        return 0;
    log_unlink(l);
    uv_close((uv_handle_t *)&l->deadline, NULL);
    uv_close((uv_handle_t *)&l->wake, NULL);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    uv_loop_close(&l->loop);
    return -rc;
}

void query_logs_stop(fl_query *q)
{
    pthread_mutex_lock(&q->pool_mu);
    q->stopping = true;
    for (struct query_log *l = q->logs; l; l = l->next) {
        l->cancel = true;
        uv_async_send(&l->wake);
    }
    while (q->nlogs > 0)
        pthread_cond_wait(&q->changed, &q->pool_mu);
    pthread_mutex_unlock(&q->pool_mu);
}

/* ---- request parsing --------------------------------------------------------- */

static int put_escaped(fl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (; *s && !rc; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            rc = fl_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = fl_buf_append(b, e, 3);
        }
    }
    return rc;
}

/* The member path: /api/v1/namespaces/NS/pods/POD/log?<passed options>,
 * from validated names only (a DNS label and a DNS subdomain: no '/', no
 * dot segment), each escaped again all the same. */
static int build_path(fl_request *r, const char *ns, const char *pod, char *out, size_t size,
                      bool *follow)
{
    fl_buf b = FL_BUF_INIT(size - 1);
    if (!query_dns_label(ns) || !query_dns_name(pod))
        return -EINVAL;
    int rc = fl_buf_puts(&b, "/api/v1/namespaces/");
    if (!rc)
        rc = put_escaped(&b, ns);
    if (!rc)
        rc = fl_buf_puts(&b, "/pods/");
    if (!rc)
        rc = put_escaped(&b, pod);
    if (!rc)
        rc = fl_buf_puts(&b, "/log");
    char sep = '?';
    *follow = false;
    for (size_t i = 0; !rc && i < FL_ARRAY_LEN(LOG_PARAMS); i++) {
        const char *v = fl_request_query(r, LOG_PARAMS[i]);
        if (!v)
            continue;
        if (!strcmp(LOG_PARAMS[i], "follow"))
            *follow = !strcmp(v, "true") || !strcmp(v, "1");
        rc = fl_buf_printf(&b, "%c%s=", sep, LOG_PARAMS[i]);
        if (!rc)
            rc = put_escaped(&b, v);
        sep = '&';
    }
    if (!rc)
        memcpy(out, b.data, b.len + 1);
    fl_buf_done(&b);
    return rc;
}

typedef struct find_ctx {
    const fl_query *q;
    const query_user *u;
    char cluster[254];
    int found;
} find_ctx;

static int find_row(void *arg, const fl_index_row *row)
{
    find_ctx *f = arg;
    if (!query_scope_allows(f->q, f->u, row->cluster, row->namespace_, "", "pods"))
        return 0;
    if (f->found++ == 0)
        fl_strlcpy(f->cluster, row->cluster, sizeof f->cluster);
    return 0;
}

/* The pod's cluster from the index. 0, or answers r and returns nonzero. */
static int find_cluster(fl_query *q, fl_request *r, const query_user *u, const char *ns,
                        const char *pod, char *out, size_t size)
{
    fl_err err = FL_ERR_INIT;
    fl_index_reader *rd = query_reader_get(q, &err);
    find_ctx f = {q, u, {0}, 0};
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    iq.group = "";
    iq.version = "v1";
    iq.resource = "pods";
    iq.namespaces = &ns;
    iq.n_namespaces = 1;
    iq.names = &pod;
    iq.n_names = 1;
    iq.limit = 1000;
    int rc = rd ? fl_index_list(rd, &iq, find_row, &f, NULL, &err) : -ENOMEM;
    if (rd)
        query_reader_put(q, rd);
    if (rc) {
        fl_request_reply_status(r, 500, "InternalError", "index: %s", err.msg);
        return rc;
    }
    if (f.found == 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "pods \"%s\" not found", pod);
        json_t *st = fl_status_new(404, "NotFound", msg);
        fl_status_set_details(st, pod, "", "pods");
        fl_request_reply_json(r, 404, st);
        return FL_ENOTFOUND;
    }
    if (f.found > 1) {
        fl_request_reply_status(r, 400, "BadRequest",
                                "pod \"%s\" in namespace \"%s\" exists in %d clusters: use "
                                "%s/clusters/<name>/api/v1/namespaces/%s/pods/%s/log to choose "
                                "one",
                                pod, ns, f.found, FL_QUERY_PREFIX, ns, pod);
        return -EINVAL;
    }
    fl_strlcpy(out, f.cluster, size);
    return 0;
}

/* Checks before the proxy: names, cluster, scope. 0 or answered. */
static int log_check(fl_query *q, fl_request *r, const query_user *u, const char *cluster,
                     const char *ns, const char *pod, const query_member **m)
{
    if (!query_dns_label(ns)) {
        fl_request_reply_status(r, 400, "BadRequest",
                                "invalid namespace name: a lowercase RFC 1123 label must consist "
                                "of lower case alphanumeric characters or '-', and must start "
                                "and end with an alphanumeric character");
        return -EINVAL;
    }
    if (!query_dns_name(pod)) {
        fl_request_reply_status(r, 400, "BadRequest",
                                "invalid pod name: a lowercase RFC 1123 subdomain must consist "
                                "of lower case alphanumeric characters, '-' or '.', and must "
                                "start and end with an alphanumeric character");
        return -EINVAL;
    }
    if (!(*m = member_find(q, cluster)) || !query_scope_cluster_visible(q, u, cluster)) {
        fl_request_reply_status(r, 404, "NotFound", "cluster \"%s\" not found", cluster);
        return FL_ENOTFOUND;
    }
    if (!query_scope_allows(q, u, cluster, ns, "", "pods")) {
        fl_request_reply_status(r, 403, "Forbidden",
                                "pods \"%s\" is forbidden: User \"%s\" cannot get resource "
                                "\"pods/log\" in API group \"\" in the namespace \"%s\" of "
                                "cluster \"%s\"",
                                pod, u->name, ns, cluster);
        return FL_EFORBIDDEN;
    }
    if (!(*m)->conn) {
        fl_request_reply_status(r, 503, "ServiceUnavailable",
                                "cluster \"%s\" has no usable kubeconfig", cluster);
        return -ENOTCONN;
    }
    char health[32], last[256];
    if (query_member_state(q, cluster, health, sizeof health, last, sizeof last) &&
        !strcmp(health, "Unreachable")) {
        /* Known down: fail at once rather than after the connect timeout. */
        fl_request_reply_status(r, 503, "ServiceUnavailable", "cluster \"%s\" is Unreachable%s%s",
                                cluster, last[0] ? ": " : "", last);
        return -ENOTCONN;
    }
    return 0;
}

static bool log_admit(fl_query *q)
{
    pthread_mutex_lock(&q->pool_mu);
    bool ok = q->nlogs < LOG_MAX && !q->stopping;
    if (ok)
        q->nlogs++;
    pthread_mutex_unlock(&q->pool_mu);
    return ok;
}

void query_serve_log(fl_query *q, fl_request *r, const query_user *u, const char *cluster,
                     const char *ns, const char *pod)
{
    char found[254];
    const query_member *m = NULL;
    if (!cluster && find_cluster(q, r, u, ns, pod, found, sizeof found) != 0)
        return;
    if (!cluster)
        cluster = found;
    if (log_check(q, r, u, cluster, ns, pod, &m) != 0)
        return;
    if (!log_admit(q)) {
        fl_request_reply_status(r, 429, "TooManyRequests", "too many log streams");
        return;
    }
    struct query_log *l = calloc(1, sizeof *l);
    if (!l || build_path(r, ns, pod, l->path, sizeof l->path, &l->follow) != 0) {
        fl_request_reply_status(r, 400, "BadRequest", "log options too long");
        goto fail;
    }
    l->q = q;
    l->r = r;
    l->conn = fl_kube_conn_ref(m->conn);
    fl_strlcpy(l->cluster, cluster, sizeof l->cluster);
    fl_buf_init(&l->line, LOG_LINE_MAX + 1);
    if (log_spawn(l) == 0)
        return;
    fl_request_reply_status(r, 500, "InternalError", "cannot start the log proxy");
fail:
    if (l) {
        fl_kube_conn_unref(l->conn);
        free(l);
    }
    pthread_mutex_lock(&q->pool_mu);
    q->nlogs--;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->pool_mu);
}
