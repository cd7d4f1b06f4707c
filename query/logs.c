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
 * Every proxied request, followed or not, runs on one log thread: a libuv
 * loop with one kube/client.h client per member (libcurl's multi interface,
 * made on first use), so a followed log costs its record, its curl
 * transfer and its connections, never a thread (at most LOG_MAX at once):
 *   - without follow: the whole body (capped at LOG_BODY_MAX) is read, then
 *     answered with the member's status and content type;
 *   - with follow: the first line opens a chunked 200 stream and every line
 *     is written to it until the member ends the log, the client leaves
 *     (on_gone queues the log for cancelling), the follow deadline passes,
 *     the client reads too slowly (the server's per-stream queue cap), or
 *     the fl_query is freed. A last line without "\n" is dropped in follow
 *     mode (the client delivers whole lines only).
 * Errors: unknown cluster 404, member without a usable kubeconfig or
 * unreachable 503, the member's own Status passed through with its code.
 *
 * Threads: query_serve_log checks the request on a server thread and hands
 * the log to the log thread through the hub's inbox; on_gone runs on
 * whichever thread sees the client leave and queues the log on the cancel
 * queue; everything else runs on the log thread. Owns the member
 * connections (fl_kube_conn references) and nothing else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "query/query_int.h"

#define LOG_MAX 4096     /* proxied logs at once, in all */
#define LOG_PER_USER 256 /* per user name: one user cannot take them all */
#define LOG_BODY_MAX (64u << 20)
#define LOG_LINE_MAX (2u << 20)
#define LOG_TIMEOUT_MS 60000
#define LOG_FOLLOW_MAX_MS (4 * 3600 * 1000)
#define LOG_PATH_MAX 2048
#define LOG_SWEEP_MS 1000 /* how often deadlines are checked */

static const char *const LOG_PARAMS[] = {
    "container",  "tailLines",  "follow",
    "timestamps", "previous",   "sinceSeconds",
    "sinceTime",  "limitBytes", "insecureSkipTLSVerifyBackend"};

typedef struct query_log query_log;
typedef struct query_log_hub hub;

/* One proxied request. From the inbox until its done callback it belongs
 * to the log thread; in_cancelq, dead and cnext are under h->mu. */
struct query_log {
    hub *h;
    size_t member;     /* index in q->members: its client, its name */
    fl_request *r;     /* until answered (then NULL) */
    fl_stream *st;     /* follow: the open stream */
    char *path;        /* until the request starts */
    char counted[128]; /* the user name counted in the hub's users */
    bool follow;
    int64_t deadline_ms;
    fl_kube_req *req; /* while the member request runs */
    fl_buf line;
    query_log *prev, *next; /* the inbox (next only), then h->running */
    /* under h->mu */
    bool in_cancelq; /* on h->cancelq: freed by the drain, not by on_done */
    bool dead;       /* done while on the cancel queue */
    query_log *cnext;
};

/* The log thread and what it serves. Invariant: every admitted log (n) is
 * on the inbox, on running, or dead on the cancel queue; the wake handle
 * is open until closed is set (under mu), which happens only once stopping
 * is set and n is 0. */
struct query_log_hub {
    fl_query *q;
    pthread_t th;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t sweep;
    fl_kube_client **clients; /* per member, made on first use */
    query_log *running;       /* log thread */
    bool closing;             /* log thread: the handles are closing */
    pthread_mutex_t mu;
    query_log *inbox, *inbox_tail;
    query_log *cancelq;
    bool stopping, closed;
    int n; /* admitted, not yet freed */
    query_user_count users[QUERY_USER_SLOTS];
};

/* ---- members ------------------------------------------------------------- */

static int hub_start(fl_query *q, fl_err *err);

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
    return n ? hub_start(q, err) : 0;
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

static const char *log_cluster(const query_log *l)
{
    return l->h->q->members[l->member].name;
}

/* ---- the log thread ---------------------------------------------------------- */

static void log_free(query_log *l)
{
    hub *h = l->h;
    pthread_mutex_lock(&h->mu);
    query_user_put(h->users, QUERY_USER_SLOTS, l->counted);
    h->n--;
    pthread_mutex_unlock(&h->mu);
    fl_buf_done(&l->line);
    free(l->path);
    free(l);
}

static void running_unlink(query_log *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        l->h->running = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

/* Any thread (a server thread, or the log thread from fl_stream_on_gone):
 * the client left; the log thread cancels the member request. */
static void on_gone(void *ud)
{
    query_log *l = ud;
    hub *h = l->h;
    pthread_mutex_lock(&h->mu);
    if (!l->in_cancelq) {
        l->in_cancelq = true;
        l->cnext = h->cancelq;
        h->cancelq = l;
    }
    if (!h->closed)
        uv_async_send(&h->wake);
    pthread_mutex_unlock(&h->mu);
}

/* The cancel queue: logs done meanwhile are freed, the others cancelled. */
static void drain_cancelq(hub *h)
{
    pthread_mutex_lock(&h->mu);
    query_log *cq = h->cancelq, *dead = NULL, *live = NULL;
    h->cancelq = NULL;
    for (query_log *l = cq, *next; l; l = next) {
        next = l->cnext;
        l->in_cancelq = false;
        if (l->dead) {
            l->cnext = dead;
            dead = l;
        } else {
            l->cnext = live;
            live = l;
        }
    }
    pthread_mutex_unlock(&h->mu);
    for (query_log *l = dead, *next; l; l = next) {
        next = l->cnext;
        log_free(l);
    }
    for (query_log *l = live; l; l = l->cnext)
        if (l->req)
            fl_kube_req_cancel(l->req);
}

/* Once stopping and nothing runs: close the clients and handles; the loop
 * then ends and the thread returns. */
static void hub_maybe_close(hub *h)
{
    if (h->closing || h->running)
        return;
    pthread_mutex_lock(&h->mu);
    bool go = h->stopping && !h->inbox;
    pthread_mutex_unlock(&h->mu);
    if (!go)
        return;
    drain_cancelq(h); /* only dead logs are left on it */
    h->closing = true;
    for (size_t i = 0; i < h->q->nmembers; i++) {
        fl_kube_client_close(h->clients[i], NULL, NULL);
        h->clients[i] = NULL;
    }
    uv_close((uv_handle_t *)&h->sweep, NULL);
    pthread_mutex_lock(&h->mu);
    h->closed = true;
    pthread_mutex_unlock(&h->mu);
    uv_close((uv_handle_t *)&h->wake, NULL);
}

static void on_sweep(uv_timer_t *t)
{
    hub *h = t->data;
    int64_t now = fl_mono_ms();
    for (query_log *l = h->running; l; l = l->next)
        if (l->req && now >= l->deadline_ms)
            fl_kube_req_cancel(l->req);
}

static void reply_member_error(query_log *l, const fl_kube_response *res)
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
                                "cluster \"%s\" is unreachable: %s: %s", log_cluster(l),
                                res->reason, res->message);
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
    query_log *l = ud;
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

static void on_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    query_log *l = ud;
    hub *h = l->h;
    l->req = NULL;
    if (l->r && res->err == 0 && !is_log_type(res->content_type)) {
        /* Only ever a log stream: anything else from the member is refused. */
        fl_request_reply_status(l->r, 502, "InternalError",
                                "cluster \"%s\" answered the log request with \"%.100s\", "
                                "not a log",
                                log_cluster(l), res->content_type);
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
    /* After fl_stream_close no on_gone runs (it waits for one running). */
    fl_stream_close(l->st);
    l->st = NULL;
    running_unlink(l);
    pthread_mutex_lock(&h->mu);
    bool queued = l->in_cancelq;
    l->dead = queued;
    pthread_mutex_unlock(&h->mu);
    if (!queued)
        log_free(l);
    hub_maybe_close(h);
}

/* The member's client, made on first use. NULL with err set. */
static fl_kube_client *client_get(hub *h, size_t member, fl_err *err)
{
    if (h->clients[member])
        return h->clients[member];
    fl_kube_client_opts co = FL_KUBE_CLIENT_OPTS_INIT;
    co.max_body = LOG_BODY_MAX;
    co.max_line = LOG_LINE_MAX;
    co.timeout_ms = LOG_TIMEOUT_MS;
    if (fl_kube_client_new(&h->loop, h->q->members[member].conn, &co, &h->clients[member], err))
        return NULL;
    return h->clients[member];
}

/* Start l's member request; answers and frees l when it cannot. */
static void log_begin(query_log *l)
{
    hub *h = l->h;
    fl_err err = FL_ERR_INIT;
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    fl_kube_client *cl = client_get(h, l->member, &err);
    int rc = cl ? 0 : err.code ? err.code : -ENOMEM;
    if (cl) {
        rq.path = l->path;
        rq.accept = "*/*";
        rq.stream = l->follow;
        rq.timeout_ms = l->follow ? -1 : LOG_TIMEOUT_MS;
        rq.stall_timeout_ms = -1;
        rc = fl_kube_client_request(cl, &rq, on_line, on_done, l, &l->req);
        if (rc)
            fl_err_set(&err, rc, "request: %s", fl_strerror(rc));
    }
    free(l->path);
    l->path = NULL;
    if (rc) {
        fl_request_reply_status(l->r, 503, "ServiceUnavailable", "cluster \"%s\": %s",
                                log_cluster(l), err.msg);
        log_free(l);
        return;
    }
    l->deadline_ms = fl_mono_ms() + (l->follow ? LOG_FOLLOW_MAX_MS : LOG_TIMEOUT_MS + 5000);
    l->prev = NULL;
    l->next = h->running;
    if (h->running)
        h->running->prev = l;
    h->running = l;
}

static void on_wake(uv_async_t *a)
{
    hub *h = a->data;
    pthread_mutex_lock(&h->mu);
    bool stopping = h->stopping;
    query_log *in = h->inbox;
    h->inbox = h->inbox_tail = NULL;
    pthread_mutex_unlock(&h->mu);
    drain_cancelq(h);
    for (query_log *l = in, *next; l; l = next) {
        next = l->next;
        l->next = NULL;
        if (stopping) {
            fl_request_reply_status(l->r, 503, "ServiceUnavailable", "the server is stopping");
            log_free(l);
        } else {
            log_begin(l);
        }
    }
    if (stopping)
        for (query_log *l = h->running; l; l = l->next)
            if (l->req)
                fl_kube_req_cancel(l->req);
    hub_maybe_close(h);
}

static void *hub_main(void *arg)
{
    hub *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void hub_free(hub *h)
{
    uv_loop_close(&h->loop);
    pthread_mutex_destroy(&h->mu);
    free(h->clients);
    free(h);
}

static int hub_start(fl_query *q, fl_err *err)
{
    hub *h = calloc(1, sizeof *h);
    if (!h || !(h->clients = calloc(q->nmembers, sizeof *h->clients)) ||
        uv_loop_init(&h->loop) != 0) {
        if (h)
            free(h->clients);
        free(h);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    h->q = q;
    pthread_mutex_init(&h->mu, NULL);
    uv_async_init(&h->loop, &h->wake, on_wake);
    uv_timer_init(&h->loop, &h->sweep);
    h->wake.data = h;
    h->sweep.data = h;
    uv_timer_start(&h->sweep, on_sweep, LOG_SWEEP_MS, LOG_SWEEP_MS);
    if (pthread_create(&h->th, NULL, hub_main, h) != 0) {
        uv_close((uv_handle_t *)&h->sweep, NULL);
        uv_close((uv_handle_t *)&h->wake, NULL);
        uv_run(&h->loop, UV_RUN_DEFAULT);
        hub_free(h);
        return fl_err_set(err, -EAGAIN, "the log proxy thread");
    }
    q->log_hub = h;
    return 0;
}

void query_logs_stop(fl_query *q)
{
    hub *h = q->log_hub;
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    uv_async_send(&h->wake);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->th, NULL);
    hub_free(h);
    q->log_hub = NULL;
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
    if (!fl_kube_dns_label(ns) || !fl_kube_dns_subdomain(pod))
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
    if (!fl_kube_dns_label(ns)) {
        fl_request_reply_status(r, 400, "BadRequest",
                                "invalid namespace name: a lowercase RFC 1123 label must consist "
                                "of lower case alphanumeric characters or '-', and must start "
                                "and end with an alphanumeric character");
        return -EINVAL;
    }
    if (!fl_kube_dns_subdomain(pod)) {
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

void query_serve_log(fl_query *q, fl_request *r, const query_user *u, const char *cluster,
                     const char *ns, const char *pod)
{
    char found[254], path[LOG_PATH_MAX];
    const query_member *m = NULL;
    hub *h = q->log_hub;
    bool follow = false;
    if (!cluster && find_cluster(q, r, u, ns, pod, found, sizeof found) != 0)
        return;
    if (!cluster)
        cluster = found;
    if (log_check(q, r, u, cluster, ns, pod, &m) != 0)
        return;
    if (build_path(r, ns, pod, path, sizeof path, &follow) != 0) {
        fl_request_reply_status(r, 400, "BadRequest", "log options too long");
        return;
    }
    query_log *l = fl_calloc(1, sizeof *l);
    if (!l || !(l->path = fl_strdup(path))) {
        free(l);
        fl_request_reply_status(r, 500, "InternalError", "out of memory");
        return;
    }
    l->h = h;
    l->r = r;
    l->follow = follow;
    l->member = (size_t)(m - q->members);
    fl_buf_init(&l->line, LOG_LINE_MAX + 1);
    /* h is set whenever there are members, and m is one */
    pthread_mutex_lock(&h->mu);
    fl_strlcpy(l->counted, u->name ? u->name : "", sizeof l->counted);
    int code = h->stopping ? 503 : h->n >= LOG_MAX ? 429 : 0;
    bool user_full =
        !code && !query_user_take(h->users, QUERY_USER_SLOTS, l->counted, LOG_PER_USER);
    code = user_full ? 429 : code;
    if (!code) {
        h->n++;
        if (h->inbox_tail)
            h->inbox_tail->next = l;
        else
            h->inbox = l;
        h->inbox_tail = l;
        uv_async_send(&h->wake);
    }
    pthread_mutex_unlock(&h->mu);
    if (!code)
        return; /* l and r are the log thread's now */
    if (user_full)
        fl_request_reply_status(r, 429, "TooManyRequests",
                                "too many log streams for user \"%s\": at most %d at once",
                                l->counted, LOG_PER_USER);
    else if (code == 429)
        fl_request_reply_status(r, 429, "TooManyRequests", "too many log streams");
    else
        fl_request_reply_status(r, 503, "ServiceUnavailable", "the server is stopping");
    free(l->path);
    free(l);
}
