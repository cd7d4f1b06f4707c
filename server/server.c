/*
 * server/server.c: the listener — one libmicrohttpd daemon with its own
 * thread pool per fl_server, routing by longest path prefix, the request
 * state machine driven by MHD's callbacks (capture, body, dispatch, deliver
 * a deferred answer after resume), the access log and graceful stop.
 *
 * The MHD callbacks run on the daemon's threads. A request's answer may come
 * from any thread; the connection is suspended until it does (request.c,
 * stream.c). Answers are queued on a later callback than the first one:
 * libmicrohttpd 0.9.75 closes the connection after a response queued on the
 * very first callback (PERF-NOTES), so keep-alive needs this.
 */
#include "server/server_int.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define STOP_GRACE_MS 2000
#define QUEUED_REQUESTS_DEFAULT 1024
#define BODY_DISCARD_MAX (64u << 20) /* past this an oversized body drops the connection */

static const char not_found[] = "404 page not found\n";

/* ---- options and routes ------------------------------------------------ */

static char *dup_or_null(const char *s, bool *fail)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *fail = true;
    return d;
}

void fl_server_opts_public(fl_server_opts *o)
{
    fl_server_opts def = FL_SERVER_OPTS_INIT;
    if (!o->max_per_client)
        o->max_per_client = 64;
    if (!o->header_timeout_s)
        o->header_timeout_s = 10;
    if (!o->workers)
        o->workers = 4;
    if (!o->connection_memory)
        o->connection_memory = 256u << 10;
    if (o->stream_max_queued == def.stream_max_queued)
        o->stream_max_queued = 1u << 20;
    if (!o->stream_max_total)
        o->stream_max_total = 256u << 20;
}

int fl_server_new(const fl_server_opts *opts, fl_server **out, fl_err *err)
{
    fl_server_opts def = FL_SERVER_OPTS_INIT;
    const fl_server_opts *o = opts ? opts : &def;
    bool fail = false;
    fl_server *s = calloc(1, sizeof(*s));
    if (!s)
        return fl_err_set(err, -ENOMEM, "out of memory");
    s->o = *o;
    s->name = dup_or_null(o->name ? o->name : "http", &fail);
    s->listen = dup_or_null(o->listen ? o->listen : "127.0.0.1:0", &fail);
    s->cert = dup_or_null(o->tls_cert_pem, &fail);
    s->key = dup_or_null(o->tls_key_pem, &fail);
    s->ca = dup_or_null(o->client_ca_pem, &fail);
    s->o.name = s->name;
    s->o.listen = s->listen;
    s->o.tls_cert_pem = s->cert;
    s->o.tls_key_pem = s->key;
    s->o.client_ca_pem = s->ca;
    if (!s->o.threads)
        s->o.threads = def.threads;
    if (!s->o.max_body)
        s->o.max_body = def.max_body;
    if (!s->o.request_timeout_s)
        s->o.request_timeout_s = def.request_timeout_s;
    if (!s->o.stream_max_queued)
        s->o.stream_max_queued = def.stream_max_queued;
    if (!s->o.max_connections)
        s->o.max_connections = def.max_connections;
    if (!s->o.max_queued_requests)
        s->o.max_queued_requests = QUEUED_REQUESTS_DEFAULT;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_cond_init(&s->probe_cv, &ca);
    pthread_cond_init(&s->job_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (fail) {
        fl_server_free(s);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

int fl_server_route(fl_server *s, const char *method, const char *prefix, fl_handler_fn fn,
                    void *ud)
{
    if (!s || !prefix || prefix[0] != '/' || !fn)
        return -EINVAL;
    if (s->started)
        return -EBUSY;
    route *n = realloc(s->routes, (s->nroutes + 1) * sizeof(route));
    if (!n)
        return -ENOMEM;
    s->routes = n;
    route *r = &s->routes[s->nroutes];
    r->prefix = strdup(prefix);
    r->method = method ? strdup(method) : NULL;
    if (!r->prefix || (method && !r->method)) {
        free(r->prefix);
        free(r->method);
        return -ENOMEM;
    }
    r->plen = strlen(prefix);
    r->inline_ = false;
    r->fn = fn;
    r->ud = ud;
    s->nroutes++;
    return 0;
}

int fl_server_hide_path(fl_server *s, const char *prefix)
{
    if (!s || !prefix || prefix[0] != '/')
        return -EINVAL;
    if (s->started)
        return -EBUSY;
    char **n = realloc(s->hidden, (s->nhidden + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    s->hidden = n;
    if (!(s->hidden[s->nhidden] = strdup(prefix)))
        return -ENOMEM;
    s->nhidden++;
    return 0;
}

/* Longest prefix first; for equal prefixes, method-specific routes first. */
static int route_cmp(const void *a, const void *b)
{
    const route *ra = a, *rb = b;
    if (ra->plen != rb->plen)
        return ra->plen < rb->plen ? 1 : -1;
    return (ra->method == NULL) - (rb->method == NULL);
}

static bool prefix_matches(const route *rt, const char *path)
{
    if (strncmp(path, rt->prefix, rt->plen) != 0)
        return false;
    return path[rt->plen] == '\0' || path[rt->plen] == '/' || rt->prefix[rt->plen - 1] == '/';
}

/* The longest matching route for (method, path); *path_only tells whether
 * some route matched the path with another method. */
static const route *find_route(const fl_server *s, const char *method, const char *path,
                               bool *path_only)
{
    *path_only = false;
    for (size_t i = 0; i < s->nroutes; i++) {
        const route *rt = &s->routes[i];
        if (!prefix_matches(rt, path))
            continue;
        if (!rt->method || strcmp(rt->method, method) == 0)
            return rt;
        *path_only = true;
    }
    return NULL;
}

int fl_server_observe(fl_server *s, fl_server_observer_fn fn, void *ud)
{
    if (s->started)
        return -EBUSY;
    s->observe = fn;
    s->observe_ud = ud;
    return 0;
}

/* ---- health ------------------------------------------------------------ */

static void health(fl_request *r, void *ud)
{
    const char *name = ud;
    char body[128];
    int n = 2;
    fl_strlcpy(body, "ok", sizeof(body));
    if (fl_request_query(r, "verbose"))
        n = snprintf(body, sizeof(body), "[+]ping ok\n%s check passed\n", name);
    fl_request_add_header(r, "X-Content-Type-Options", "nosniff");
    fl_request_reply(r, 200, "text/plain; charset=utf-8", body, (size_t)n);
}

int fl_server_route_health(fl_server *s)
{
    static const char *const names[] = {"healthz", "readyz", "livez"};
    for (size_t i = 0; i < FL_ARRAY_LEN(names); i++) {
        char path[16];
        snprintf(path, sizeof(path), "/%s", names[i]);
        int rc = fl_server_route(s, NULL, path, health, (void *)names[i]);
        if (rc)
            return rc;
        s->routes[s->nroutes - 1].inline_ = true; /* never behind the workers' queue */
    }
    return 0;
}

int fl_server_route_inline(fl_server *s, const char *method, const char *prefix, fl_handler_fn fn,
                           void *ud)
{
    int rc = fl_server_route(s, method, prefix, fn, ud);
    if (!rc)
        s->routes[s->nroutes - 1].inline_ = true;
    return rc;
}

/* ---- MHD callbacks ----------------------------------------------------- */

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    fl_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* Most of what MHD reports concerns one misbehaving client (bad request,
     * reset, TLS alert): debug. Trouble for the whole listener: warn. */
    static const char *const serious[] = {"bind",   "listen",           "limit",       "thread",
                                          "memory", "Failed to create", "certificate", "key"};
    fl_log_level lvl = FL_LOG_DEBUG;
    for (size_t i = 0; i < FL_ARRAY_LEN(serious); i++)
        if (strstr(msg, serious[i]))
            lvl = FL_LOG_WARN;
    fl_log(lvl, "server", "%s: %s", s->name, msg);
}

/* Connections are tracked from accept to close (MHD notifies before it
 * closes the socket, so fd stays valid while linked). */
static void on_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                    enum MHD_ConnectionNotificationCode code)
{
    fl_server *s = cls;
    srv_conn *cc = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        cc = calloc(1, sizeof(srv_conn)); /* NULL: no cert user, no deadline */
        *socket_context = cc;
        if (!cc)
            return;
        cc->fd = ci ? ci->connect_fd : -1;
        pthread_mutex_lock(&s->mu);
        if (s->o.header_timeout_s)
            cc->hdr_deadline_ms = fl_mono_ms() + (int64_t)s->o.header_timeout_s * 1000;
        cc->next = s->conns;
        if (s->conns)
            s->conns->prev = cc;
        s->conns = cc;
        pthread_mutex_unlock(&s->mu);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && cc) {
        pthread_mutex_lock(&s->mu);
        if (cc->prev)
            cc->prev->next = cc->next;
        else
            s->conns = cc->next;
        if (cc->next)
            cc->next->prev = cc->prev;
        pthread_mutex_unlock(&s->mu);
        srv_conn_free(cc);
        *socket_context = NULL;
    }
}

static srv_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Start (a request line arrived) or clear (its headers are complete) the
 * header deadline of c's connection. MHD thread. */
static void header_deadline(fl_server *s, struct MHD_Connection *c, bool start)
{
    srv_conn *cc = s->o.header_timeout_s ? conn_of(c) : NULL;
    if (!cc)
        return;
    pthread_mutex_lock(&s->mu);
    if (!start)
        cc->hdr_deadline_ms = 0;
    else if (!cc->hdr_deadline_ms)
        cc->hdr_deadline_ms = fl_mono_ms() + (int64_t)s->o.header_timeout_s * 1000;
    pthread_mutex_unlock(&s->mu);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    fl_server *s = cls;
    header_deadline(s, c, true);
    fl_request *r = srv_request_new(s, c, uri);
    if (!r)
        return NULL;
    if (srv_uri_count_pairs(uri) > SRV_MAX_QUERY_PAIRS) {
        /* libmicrohttpd parses the query into the connection's memory right
         * after this callback, from this very buffer, and hangs when that
         * memory runs out (#19: the 431 could not be sent). We parse our
         * copy (r->raw_uri) ourselves and never use its parse: cut the
         * query short in its buffer so that it stores none, and answer 414. */
        char *qm = strchr((char *)(uintptr_t)uri, '?');
        if (qm)
            qm[1] = '\0';
        r->too_many_pairs = true;
    }
    pthread_mutex_lock(&s->mu);
    r->next = s->live;
    if (s->live)
        s->live->prev = r;
    s->live = r;
    s->nlive++;
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* An answer decided by the server itself, before or instead of a handler
 * (MHD thread). Ignored when the request is already answered. */
static void answer_direct(fl_request *r, int code, struct MHD_Response *resp, size_t bytes)
{
    pthread_mutex_lock(&r->mu);
    if (r->answered) {
        pthread_mutex_unlock(&r->mu);
        if (resp)
            MHD_destroy_response(resp);
        return;
    }
    r->answered = true;
    r->resp = resp;
    r->code = code;
    r->bytes = bytes;
    pthread_mutex_unlock(&r->mu);
}

static void answer_status(fl_request *r, int code, const char *msg)
{
    size_t len = 0;
    struct MHD_Response *resp = srv_status_response(r, code, msg, &len);
    answer_direct(r, code, resp, len);
}

static void answer_not_found(fl_request *r)
{
    struct MHD_Response *resp;
    pthread_mutex_lock(&r->mu);
    resp = srv_response(r, "text/plain; charset=utf-8", not_found, sizeof(not_found) - 1, false);
    if (resp)
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    pthread_mutex_unlock(&r->mu);
    answer_direct(r, 404, resp, sizeof(not_found) - 1);
}

/* Queue the answer if there is one, else suspend until it comes. */
static enum MHD_Result deliver(fl_server *s, fl_request *r)
{
    pthread_mutex_lock(&r->mu);
    if (!r->answered && atomic_load(&s->stopping)) {
        r->answered = true;
        r->code = 503;
        r->resp = srv_status_response(r, 503, "the server is shutting down, please try again later",
                                      &r->bytes);
    }
    if (!r->answered) {
        r->suspended = true;
        MHD_suspend_connection(r->conn);
        pthread_mutex_unlock(&r->mu);
        return MHD_YES;
    }
    struct MHD_Response *resp = r->resp;
    int code = r->code;
    bool stream = r->is_stream;
    r->resp = NULL;
    pthread_mutex_unlock(&r->mu);
    if (!resp)
        return MHD_NO; /* out of memory: drop the connection */
    r->ph = PH_DONE;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)code, resp);
    if (ret == MHD_YES && stream) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        pthread_mutex_lock(&r->mu);
        r->fd = ci ? ci->connect_fd : -1;
        pthread_mutex_unlock(&r->mu);
    }
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the worker pool ---------------------------------------------------- */

/* Hand r to a worker; 429 when too many wait already (MHD thread). */
static void enqueue(fl_server *s, fl_request *r, const route *rt)
{
    srv_job *j = malloc(sizeof *j);
    pthread_mutex_lock(&s->mu);
    bool full = !j || s->njobs >= s->o.max_queued_requests || s->jobs_stop;
    pthread_mutex_unlock(&s->mu);
    if (full) {
        free(j);
        answer_status(r, 429, "too many requests waiting, please try again later");
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->refs++; /* the owner's duty to answer: the worker's */
    r->dispatched = true;
    pthread_mutex_unlock(&r->mu);
    j->r = r;
    j->rt = rt;
    j->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->jobs_tail)
        s->jobs_tail->next = j;
    else
        s->jobs = j;
    s->jobs_tail = j;
    s->njobs++;
    pthread_cond_signal(&s->job_cv);
    pthread_mutex_unlock(&s->mu);
}

static void *worker(void *arg)
{
    fl_server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->jobs && !s->jobs_stop)
            pthread_cond_wait(&s->job_cv, &s->mu);
        if (!s->jobs)
            break;
        srv_job *j = s->jobs;
        s->jobs = j->next;
        if (!s->jobs)
            s->jobs_tail = NULL;
        s->njobs--;
        pthread_mutex_unlock(&s->mu);
        if (atomic_load(&s->stopping))
            fl_request_reply_status(j->r, 503, "ServiceUnavailable",
                                    "the server is shutting down, please try again later");
        else
            j->rt->fn(j->r, j->rt->ud);
        free(j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void workers_start(fl_server *s)
{
    if (!s->o.workers || !(s->workers = calloc(s->o.workers, sizeof *s->workers)))
        return;
    for (unsigned i = 0; i < s->o.workers; i++) {
        if (pthread_create(&s->workers[i], NULL, worker, s) != 0)
            break;
        s->nworkers++;
    }
    if (s->nworkers < s->o.workers)
        fl_log(FL_LOG_WARN, "server", "%s: %u of %u worker threads", s->name, s->nworkers,
               s->o.workers);
}

/* Let the workers finish what is queued (answered 503 at stop) and join. */
static void workers_stop(fl_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->jobs_stop = true;
    pthread_cond_broadcast(&s->job_cv);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
}

static void run_handler(fl_server *s, fl_request *r)
{
    bool path_only;
    const route *rt = find_route(s, r->method, r->path, &path_only);
    if (!rt) {
        if (path_only)
            answer_status(r, 405,
                          "the server does not allow this method on the requested resource");
        else
            answer_not_found(r);
        return;
    }
    r->route = rt->prefix;
    if (s->nworkers && !rt->inline_) {
        enqueue(s, r, rt);
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->refs++; /* the owner's duty to answer */
    r->dispatched = true;
    pthread_mutex_unlock(&r->mu);
    rt->fn(r, rt->ud);
}

static enum MHD_Result dispatch(fl_server *s, fl_request *r)
{
    char msg[96];
    r->ph = PH_WAIT;
    if (r->too_big) {
        snprintf(msg, sizeof(msg), "Request entity too large: limit is %zu", s->o.max_body);
        answer_status(r, 413, msg);
    } else if (r->too_many_pairs) {
        snprintf(msg, sizeof(msg), "Request-URI Too Long: more than %d query parameters",
                 SRV_MAX_QUERY_PAIRS);
        answer_status(r, 414, msg);
    } else if (r->bad_path) {
        answer_status(r, 400, "invalid URL escape (or %00) in the request target");
    } else if (atomic_load(&s->stopping)) {
        answer_status(r, 503, "the server is shutting down, please try again later");
    } else {
        run_handler(s, r);
    }
    return deliver(s, r);
}

static enum MHD_Result first_call(fl_server *s, fl_request *r, const char *method)
{
    header_deadline(s, r->conn, false);
    int rc = srv_request_capture(r, method);
    if (rc == -ENOMEM)
        return MHD_NO;
    r->bad_path = rc != 0;
    if (s->ca && s->cert)
        srv_tls_peer(r);
    r->ph = PH_BODY;
    const char *cl = fl_request_header(r, "Content-Length");
    uint64_t n;
    if (cl && fl_parse_u64(cl, strlen(cl), &n) == 0 && n > s->o.max_body) {
        /* Refuse before reading it; MHD closes the connection afterwards. */
        r->too_big = true;
        return dispatch(s, r);
    }
    return MHD_YES;
}

static enum MHD_Result take_body(fl_server *s, fl_request *r, const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (!r->too_big) {
        int rc = fl_buf_append(&r->body, data, n);
        if (rc == -E2BIG) {
            r->too_big = true;
            fl_buf_done(&r->body);
            fl_buf_init(&r->body, s->o.max_body);
        } else if (rc) {
            return MHD_NO;
        }
    }
    if (r->too_big) {
        r->discarded += n;
        if (r->discarded > BODY_DISCARD_MAX)
            return MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    fl_server *s = cls;
    fl_request *r = *con_cls;
    if (!r)
        return MHD_NO;
    switch (r->ph) {
    case PH_NEW: return first_call(s, r, method);
    case PH_BODY:
        if (*upload_size)
            return take_body(s, r, upload, upload_size);
        return dispatch(s, r);
    case PH_WAIT: return deliver(s, r);
    case PH_DONE: break;
    }
    return MHD_YES;
}

static void access_log(fl_server *s, fl_request *r, int code, size_t bytes)
{
    char user[128], uri[256];
    pthread_mutex_lock(&r->mu);
    fl_strlcpy(user, r->user ? r->user : "-", sizeof(user));
    fl_strlcpy(uri, r->log_uri ? r->log_uri : r->raw_uri, sizeof(uri));
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; !r->log_uri && i < s->nhidden; i++) {
        size_t n = strlen(s->hidden[i]);
        if (!strncmp(uri, s->hidden[i], n) && (uri[n] == '/' || uri[n] == '?' || !uri[n]))
            snprintf(uri, sizeof(uri), "%s/***", s->hidden[i]);
    }
    fl_log(FL_LOG_INFO, "server", "%s %s %s %s %.200s %d %zu %lldms", s->name, r->peer, user,
           r->method ? r->method : "-", uri, code, bytes, (long long)(fl_mono_ms() - r->t0));
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    fl_server *s = cls;
    fl_request *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&r->mu);
    r->finished = true;
    r->suspended = false;
    srv_stream_drop_locked(r);
    struct MHD_Response *drop = r->resp;
    r->resp = NULL;
    if (r->is_stream)
        r->st_gone = true;
    int code = r->answered ? r->code : 0;
    size_t bytes = r->bytes;
    pthread_mutex_unlock(&r->mu);
    if (drop)
        MHD_destroy_response(drop);
    if (s->o.access_log)
        access_log(s, r, code, bytes);
    if (s->observe)
        s->observe(s->observe_ud, s->name, r->method ? r->method : "-", r->route, code,
                   (double)(fl_mono_us() - r->t0_us) / 1e6, r->is_stream);
    srv_fire_gone(r);
    pthread_mutex_lock(&s->mu);
    if (r->prev)
        r->prev->next = r->next;
    else
        s->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    s->nlive--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    srv_request_unref(r);
}

/* ---- start / stop ------------------------------------------------------ */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6, fl_err *err)
{
    const char *colon = strrchr(listen, ':');
    char host[INET6_ADDRSTRLEN + 2];
    uint64_t port;
    memset(ss, 0, sizeof(*ss));
    if (!colon || fl_parse_u64(colon + 1, strlen(colon + 1), &port) != 0 || port > 65535)
        return fl_err_set(err, -EINVAL, "listen address \"%s\": want HOST:PORT", listen);
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof(host))
        return fl_err_set(err, -EINVAL, "listen address \"%s\": host too long", listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *v6 = true;
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return fl_err_set(err, -EINVAL, "listen address \"%s\": bad IPv6 address", listen);
        return 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *v6 = false;
    if (hl == 0 || strcmp(host, "*") == 0)
        a->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return fl_err_set(err, -EINVAL, "listen address \"%s\": bad IPv4 address", listen);
    return 0;
}

static struct timespec deadline(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* The prober thread: once a second, look for sleeping streams whose
 * client hung up (see srv_stream_probe_locked). */
static void *prober(void *arg)
{
    fl_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->probe_stop) {
        struct timespec ts = deadline(SRV_PROBE_MS);
        if (pthread_cond_timedwait(&s->probe_cv, &s->mu, &ts) == 0 || s->probe_stop)
            continue;
        /* trylock: a request whose lock is held (a writer thread, maybe
         * preempted) is probed next time; waiting here would hold s->mu
         * and stall every connection behind it */
        for (fl_request *r = s->live; r; r = r->next) {
            if (pthread_mutex_trylock(&r->mu) != 0)
                continue;
            srv_stream_probe_locked(r);
            pthread_mutex_unlock(&r->mu);
        }
        int64_t now = fl_mono_ms();
        for (srv_conn *cc = s->conns; cc; cc = cc->next)
            if (cc->hdr_deadline_ms && now > cc->hdr_deadline_ms && !cc->cut && cc->fd >= 0) {
                /* headers too slow (slowloris): MHD sees the end and closes */
                shutdown(cc->fd, SHUT_RDWR);
                cc->cut = true;
            }
        if (atomic_exchange(&s->trim, false))
            malloc_trim(0);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void prober_stop(fl_server *s)
{
    if (!s->probe_running)
        return;
    fl_thread_stop(s->prober, &s->mu, &s->probe_cv, &s->probe_stop);
    s->probe_running = false;
}

int fl_server_start(fl_server *s, fl_err *err)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    if (s->started)
        return fl_err_set(err, -EBUSY, "server %s already started", s->name);
    int rc = parse_listen(s->listen, &ss, &v6, err);
    if (rc)
        return rc;
    if ((s->cert || s->key) && (rc = srv_tls_check(s->cert, s->key, s->ca, err)) != 0)
        return rc;
    if (s->nroutes > 1)
        qsort(s->routes, s->nroutes, sizeof(route), route_cmp);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (s->cert ? MHD_USE_TLS : 0);
    struct MHD_OptionItem extra[10];
    size_t ne = 0;
    if (s->o.threads > 1)
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, s->o.threads, NULL};
    if (s->cert) {
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->key};
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert};
    }
    if (s->cert && s->ca)
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, s->ca};
    if ((s->cert && s->ca) || s->o.header_timeout_s)
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_conn, s};
    if (s->o.max_per_client)
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                              (intptr_t)s->o.max_per_client, NULL};
    if (s->o.connection_memory)
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                              (intptr_t)s->o.connection_memory, NULL};
    extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    /* the port argument only names the port in MHD's own messages ("Failed
     * to bind to port N"): the address is MHD_OPTION_SOCK_ADDR's */
    uint16_t want_port =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    s->d = MHD_start_daemon(flags, want_port, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_log, s, MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)s->o.request_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)s->o.max_connections, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
    if (!s->d)
        return fl_err_set(err, -EADDRINUSE, "server %s: cannot listen on %s (see the log)", s->name,
                          s->listen);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    s->started = true;
    workers_start(s);
    s->probe_running = pthread_create(&s->prober, NULL, prober, s) == 0;
    if (!s->probe_running)
        fl_log(FL_LOG_WARN, "server",
               "%s: no prober thread: departed watch clients are "
               "noticed at the next write only",
               s->name);
    fl_log(FL_LOG_INFO, "server", "%s: listening on %s port %u (%s)", s->name, s->listen, s->port,
           s->cert ? (s->ca ? "https, client certs" : "https") : "http");
    return 0;
}

uint16_t fl_server_port(const fl_server *s)
{
    return s ? s->port : 0;
}

/* Answer or end one live request for stop (r->mu NOT held). */
static void stop_request(fl_request *r)
{
    pthread_mutex_lock(&r->mu);
    if (r->finished) {
        /* nothing to do */
    } else if (r->is_stream) {
        srv_stream_end_locked(r);
    } else if (r->dispatched && !r->answered) {
        /* Requests not yet handed to a handler get their 503 on their own
         * MHD thread (dispatch), where their capture happens. */
        r->answered = true;
        r->code = 503;
        r->resp = srv_status_response(r, 503, "the server is shutting down, please try again later",
                                      &r->bytes);
        if (r->suspended) {
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
    }
    pthread_mutex_unlock(&r->mu);
    srv_fire_gone(r);
}

static void wait_idle(fl_server *s, int64_t ms)
{
    struct timespec ts = deadline(ms);
    pthread_mutex_lock(&s->mu);
    while (s->nlive > 0 && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0) {
    }
    pthread_mutex_unlock(&s->mu);
}

void fl_server_stop(fl_server *s)
{
    if (!s || !s->started || s->stopped)
        return;
    s->stopped = true;
    atomic_store(&s->stopping, true);
    prober_stop(s);
    MHD_socket lfd = MHD_quiesce_daemon(s->d);
    fl_request *list = NULL;
    pthread_mutex_lock(&s->mu);
    for (fl_request *r = s->live; r; r = r->next) {
        pthread_mutex_lock(&r->mu);
        r->refs++;
        pthread_mutex_unlock(&r->mu);
        r->stop_next = list;
        list = r;
    }
    pthread_mutex_unlock(&s->mu);
    for (fl_request *r = list, *n; r; r = n) {
        n = r->stop_next;
        stop_request(r);
        srv_request_unref(r);
    }
    workers_stop(s);
    wait_idle(s, STOP_GRACE_MS);
    MHD_stop_daemon(s->d);
    s->d = NULL;
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    fl_log(FL_LOG_INFO, "server", "%s: stopped", s->name);
}

void fl_server_free(fl_server *s)
{
    if (!s)
        return;
    fl_server_stop(s);
    for (size_t i = 0; i < s->nroutes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].prefix);
    }
    free(s->routes);
    for (size_t i = 0; i < s->nhidden; i++)
        free(s->hidden[i]);
    free(s->hidden);
    free(s->name);
    free(s->listen);
    free(s->cert);
    free(s->key);
    free(s->ca);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->probe_cv);
    pthread_cond_destroy(&s->job_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
