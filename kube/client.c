/*
 * kube/client.c: the Kubernetes HTTP client. libcurl's multi interface is
 * driven by libuv: curl tells us which sockets to watch (sock_cb -> one
 * uv_poll per socket) and when to wake it (timer_cb -> one uv_timer); we
 * hand readiness back with curl_multi_socket_action. Everything runs on the
 * loop thread that owns the client; only credential plugins run on the
 * libuv thread pool. Finished transfers are turned into fl_kube_response
 * (Status-like results) here; bodies are never parsed except small error
 * bodies for their Status.
 */
#include "kube/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "kube/json.h"

#define STATUS_PARSE_MAX (64u << 10)
#define TEXT_MESSAGE_MAX 2048

typedef enum {
    RQ_WAIT_CRED, /* waiting for an exec plugin credential */
    RQ_RUNNING,   /* added to the multi handle */
    RQ_FINISHING, /* result decided, done callback queued on the reaper */
} rq_state;

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct fl_kube_client *c;
    struct sock_ctx *prev, *next;
} sock_ctx;

struct fl_kube_req {
    fl_kube_client *c;
    fl_kube_req *prev, *next; /* c->reqs: every started, not yet freed request */
    fl_kube_req *fnext;       /* c->finishing */
    bool unlinked;            /* off c->reqs: its done callback is running */
    rq_state state;
    CURL *easy;
    bool in_multi;
    struct curl_slist *hdrs;
    struct curl_slist *connect_to;
    bool want_add; /* start_transfer ran inside a curl callback */
    char *url, *rq_body, *accept, *ctype, *host_hdr;
    size_t rq_body_len;
    char **extra; /* NULL-terminated copies */
    fl_kube_method method;
    bool stream;
    int64_t timeout_ms, stall_ms;
    fl_kube_line_cb line_cb;
    void (*opened_cb)(fl_kube_req *req, void *ud);
    bool opened; /* opened_cb ran for this response */
    fl_kube_done_cb done;
    void *ud;
    uint64_t cred_gen; /* generation of the credential sent */
    bool retried;
    /* response state */
    long http_status;
    bool body_mode_known, deliver_lines;
    fl_buf body, line, warn;
    /* a paused stream (the line callback answered FL_KUBE_LINE_PAUSE): the
     * refused line stays in line (line_held), the rest of that write in
     * held; curl redelivers the paused write, whose first discard bytes
     * were taken already */
    bool paused, line_held;
    fl_buf held;
    size_t discard;
    char *content_type;
    int64_t retry_after_s;
    uint64_t lines;
    int abort_err; /* set by callbacks that stopped the transfer */
    char abort_msg[256];
    /* queued result (RQ_FINISHING) */
    int fin_err;
    const char *fin_reason;
    char fin_msg[512];
    char errbuf[CURL_ERROR_SIZE];
};

struct fl_kube_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;  /* curl's timeout */
    uv_timer_t reaper; /* runs queued completions */
    fl_kube_conn *conn;
    fl_kube_client_opts opts;
    char *host; /* server host and port, for tls-server-name */
    long port;
    fl_kube_req *reqs;
    fl_kube_req *finishing, *finishing_tail;
    sock_ctx *socks;
    fl_kube_cred cred; /* last credential (merged, from the conn) */
    bool have_cred;
    bool cred_loading;
    bool in_curl; /* inside curl_multi_socket_action */
    int depth;    /* nesting of our libuv callbacks */
    bool closing, torn_down;
    int open_handles, pending_work;
    void (*close_cb)(void *);
    void *close_ud;
};

static void teardown_if_idle(fl_kube_client *c);
static void check_done(fl_kube_client *c);
static int start_transfer(fl_kube_req *r);
static void reaper_cb(uv_timer_t *t);

/* ================================================================ globals */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ================================================================ results */

static const char *http_reason(long code, bool post, const char **msg, const char *server_msg,
                               char *buf, size_t size)
{
    switch (code) {
    case 409: *msg = "the server reported a conflict"; return post ? "AlreadyExists" : "Conflict";
    case 404: *msg = "the server could not find the requested resource"; return "NotFound";
    case 400: *msg = "the server rejected our request for an unknown reason"; return "BadRequest";
    case 401:
        *msg = "the server has asked for the client to provide credentials";
        return "Unauthorized";
    case 403: *msg = server_msg; return "Forbidden";
    case 406:
        *msg = !*server_msg || strcmp(server_msg, "unknown") == 0
                   ? "the server was unable to respond with a content type that the client supports"
                   : server_msg;
        return "NotAcceptable";
    case 415: *msg = server_msg; return "UnsupportedMediaType";
    case 405:
        *msg = "the server does not allow this method on the requested resource";
        return "MethodNotAllowed";
    case 422:
        *msg = "the server rejected our request due to an error in our request";
        return "Invalid";
    case 503:
        *msg = "the server is currently unable to handle the request";
        return "ServiceUnavailable";
    case 504:
        *msg = "the server was unable to return a response in the time allotted, but may still be "
               "processing the request";
        return "Timeout";
    case 429:
        *msg = "the server has received too many requests and has asked us to try again later";
        return "TooManyRequests";
    default: break;
    }
    if (code >= 500) {
        snprintf(buf, size,
                 "an error on the server (\"%s\") has prevented the request from succeeding",
                 server_msg);
        *msg = buf;
        return "InternalError";
    }
    snprintf(buf, size,
             "the server responded with the status code %ld but did not return more information",
             code);
    *msg = buf;
    return "";
}

static int err_for_http(long code)
{
    switch (code) {
    case 401: return FL_EUNAUTHORIZED;
    case 403: return FL_EFORBIDDEN;
    case 404: return FL_ENOTFOUND;
    case 409: return FL_ECONFLICT;
    case 410: return FL_EGONE;
    default: return FL_EHTTP;
    }
}

/* The server's Status when the error body is one, else client-go's
 * synthesized Status for the code. */
static json_t *status_for_http(fl_kube_req *r)
{
    if (r->body.len && r->body.len <= STATUS_PARSE_MAX) {
        json_t *v = json_loadb(r->body.data, r->body.len, 0, NULL);
        const char *kind = json_string_value(json_object_get(v, "kind"));
        if (kind && strcmp(kind, "Status") == 0) {
            if (!json_object_get(v, "code"))
                json_object_set_new(v, "code", json_integer(r->http_status));
            return v;
        }
        json_decref(v);
    }
    char server_msg[TEXT_MESSAGE_MAX + 1] = "unknown", buf[TEXT_MESSAGE_MAX + 200];
    if (r->content_type && fl_str_has_prefix(r->content_type, "text/") && r->body.data) {
        size_t s = 0, e = r->body.len < TEXT_MESSAGE_MAX ? r->body.len : TEXT_MESSAGE_MAX;
        while (s < e && strchr(" \t\r\n", r->body.data[s]))
            s++;
        while (e > s && strchr(" \t\r\n", r->body.data[e - 1]))
            e--;
        memcpy(server_msg, r->body.data + s, e - s);
        server_msg[e - s] = 0;
    }
    const char *msg = "";
    const char *reason =
        http_reason(r->http_status, r->method == FL_KUBE_POST, &msg, server_msg, buf, sizeof buf);
    json_t *st = fl_status_new((int)r->http_status, reason, msg);
    if (st && r->retry_after_s > 0) {
        json_t *d = json_object();
        json_object_set_new(d, "retryAfterSeconds", json_integer(r->retry_after_s));
        json_t *code = json_incref(json_object_get(st, "code"));
        json_object_del(st, "code");
        json_object_set_new(st, "details", d);
        json_object_set_new(st, "code", code);
    }
    return st;
}

static void transport_error(fl_kube_req *r, CURLcode cc, int *err, const char **reason)
{
    bool ssl =
        strstr(r->errbuf, "SSL") || strstr(r->errbuf, "TLS") || strstr(r->errbuf, "certificate");
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        *err = -ECONNREFUSED;
        *reason = "ConnectionRefused";
        return;
    case CURLE_OPERATION_TIMEDOUT:
        *err = -ETIMEDOUT;
        *reason = "Timeout";
        return;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        *err = -EHOSTUNREACH;
        *reason = "DNSError";
        return;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        *err = FL_ETLS;
        *reason = "TLSError";
        return;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        if (ssl) {
            *err = FL_ETLS;
            *reason = "TLSError";
        } else {
            *err = -ECONNRESET;
            *reason = "ConnectionReset";
        }
        return;
    default:
        *err = -EIO;
        *reason = "TransportError";
        return;
    }
}

/* ================================================================ requests */

/* Take r off c->reqs (once). */
static void req_unlink(fl_kube_req *r)
{
    fl_kube_client *c = r->c;
    if (r->unlinked)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else if (c->reqs == r)
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->unlinked = true;
}

static void req_free(fl_kube_req *r)
{
    fl_kube_client *c = r->c;
    req_unlink(r);
    if (r->in_multi)
        curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    curl_slist_free_all(r->connect_to);
    for (size_t i = 0; r->extra && r->extra[i]; i++)
        free(r->extra[i]);
    free(r->extra);
    free(r->url);
    free(r->rq_body);
    free(r->accept);
    free(r->ctype);
    free(r->host_hdr);
    free(r->content_type);
    fl_buf_done(&r->body);
    fl_buf_done(&r->line);
    fl_buf_done(&r->held);
    fl_buf_done(&r->warn);
    free(r);
}

/* Deliver the result and free the request. The request leaves c->reqs
 * first, so a done callback that closes the client cannot complete it twice. */
static void complete(fl_kube_req *r, int err, const char *reason, const char *msg, json_t *status)
{
    fl_kube_response res;
    memset(&res, 0, sizeof res);
    req_unlink(r);
    r->state = RQ_FINISHING;
    if (r->in_multi) {
        curl_multi_remove_handle(r->c->multi, r->easy);
        r->in_multi = false;
    }
    res.err = err;
    res.http_status = r->http_status;
    res.status = err ? status : NULL;
    if (err && !status)
        res.status = status = fl_status_new(0, reason, msg);
    res.code = err ? (int)json_integer_value(json_object_get(res.status, "code")) : 0;
    if (!err)
        res.code = (int)r->http_status;
    res.reason = err ? json_string_value(json_object_get(res.status, "reason")) : "";
    res.message = err ? json_string_value(json_object_get(res.status, "message")) : "";
    if (!res.reason)
        res.reason = "";
    if (!res.message)
        res.message = "";
    res.content_type = r->content_type ? r->content_type : "";
    res.warning = r->warn.data ? r->warn.data : "";
    res.retry_after_s = r->retry_after_s;
    res.body = r->body;
    r->body = (fl_buf)FL_BUF_INIT(0);
    res.lines = r->lines;
    res.retried = r->retried;
    r->done(r, &res, r->ud);
    fl_buf_done(&res.body);
    json_decref(status);
    req_free(r);
}

/* Queue the request's completion on the reaper (never runs inline). */
static void finish_later(fl_kube_req *r, int err, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finish_later(fl_kube_req *r, int err, const char *reason, const char *fmt, ...)
{
    fl_kube_client *c = r->c;
    if (r->state == RQ_FINISHING)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fin_msg, sizeof r->fin_msg, fmt, ap);
    va_end(ap);
    r->state = RQ_FINISHING;
    r->fin_err = err;
    r->fin_reason = reason;
    r->fnext = NULL;
    if (c->finishing_tail)
        c->finishing_tail->fnext = r;
    else
        c->finishing = r;
    c->finishing_tail = r;
    uv_timer_start(&c->reaper, reaper_cb, 0, 0);
}

static void reaper_cb(uv_timer_t *t)
{
    fl_kube_client *c = t->data;
    c->depth++;
    for (fl_kube_req *r = c->reqs; r && !c->closing; r = r->next) {
        if (!r->want_add || r->state != RQ_RUNNING)
            continue;
        r->want_add = false;
        if (curl_multi_add_handle(c->multi, r->easy) == CURLM_OK)
            r->in_multi = true;
        else
            finish_later(r, -ENOMEM, "TransportError", "could not start the request");
    }
    while (c->finishing) {
        fl_kube_req *r = c->finishing;
        c->finishing = r->fnext;
        if (!c->finishing)
            c->finishing_tail = NULL;
        complete(r, r->fin_err, r->fin_reason, r->fin_msg, NULL);
    }
    c->depth--;
    teardown_if_idle(c);
}

void fl_kube_req_cancel(fl_kube_req *r)
{
    if (!r || r->state == RQ_FINISHING)
        return;
    finish_later(r, -ECANCELED, "Cancelled", "the request was cancelled");
}

/* ================================================================ curl callbacks */

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
    fl_kube_req *r = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (after 100, redirects) */
        r->opened = false;
        fl_buf_reset(&r->warn);
        free(r->content_type);
        r->content_type = NULL;
        r->retry_after_s = 0;
        return len;
    }
    if (len <= 2 && r->stream && r->opened_cb && !r->opened && r->state != RQ_FINISHING) {
        long code = 0; /* the blank line: this response's headers are done */
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && code < 300) {
            r->opened = true;
            r->opened_cb(r, r->ud);
        }
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - p);
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vlen = (size_t)(end - v);
    if (nlen == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
        free(r->content_type);
        r->content_type = fl_strndup(v, vlen);
    } else if (nlen == 7 && strncasecmp(p, "Warning", 7) == 0) {
        if ((r->warn.len && fl_buf_append(&r->warn, "\n", 1) != 0) ||
            fl_buf_append(&r->warn, v, vlen) != 0)
            fl_buf_reset(&r->warn);
    } else if (nlen == 11 && strncasecmp(p, "Retry-After", 11) == 0) {
        int64_t s;
        if (fl_parse_i64(v, vlen, &s) == 0 && s > 0)
            r->retry_after_s = s;
    }
    return len;
}

static size_t abort_with(fl_kube_req *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static size_t abort_with(fl_kube_req *r, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->abort_msg, sizeof r->abort_msg, fmt, ap);
    va_end(ap);
    r->abort_err = err;
    return 0; /* makes curl stop the transfer */
}

/* Split data into lines and hand each to the line callback. Returns 1 when
 * all was taken, 0 when the transfer must stop (abort_with ran), 2 when the
 * callback paused the stream (the refused line and the rest are held). */
static size_t deliver_lines(fl_kube_req *r, const char *p, size_t len)
{
    size_t max = r->c->opts.max_line;
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t seg = nl ? (size_t)(nl - p) : len;
        if (r->line.len + seg > max)
            return abort_with(r, -E2BIG, "a stream line is longer than the %zu byte limit", max);
        if (fl_buf_append(&r->line, p, seg) != 0)
            return abort_with(r, -ENOMEM, "out of memory");
        if (!nl)
            break;
        p += seg + 1;
        len -= seg + 1;
        r->lines++;
        int stop = r->line_cb(r, r->line.data ? r->line.data : "", r->line.len, r->ud);
        if (r->state == RQ_FINISHING)
            return 0; /* cancelled from inside the callback */
        if (stop == FL_KUBE_LINE_PAUSE) {
            r->paused = r->line_held = true;
            if (fl_buf_append(&r->held, p, len) != 0)
                return abort_with(r, -ENOMEM, "out of memory");
            return 2;
        }
        fl_buf_reset(&r->line);
        if (stop)
            return abort_with(r, -ECANCELED, "the line callback stopped the stream");
    }
    return 1;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
    fl_kube_req *r = ud;
    size_t len = size * n, total = len;
    if (r->state == RQ_FINISHING)
        return 0;
    if (r->discard) { /* curl redelivers what a paused write had: taken already */
        size_t k = r->discard < len ? r->discard : len;
        r->discard -= k, p += k, len -= k;
        if (!len)
            return total;
    }
    if (r->paused) /* not expected: curl holds data while paused */
        return fl_buf_append(&r->held, p, len) == 0 ? total
                                                    : abort_with(r, -ENOMEM, "out of memory");
    if (!r->body_mode_known) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        r->body_mode_known = true;
        r->deliver_lines = r->stream && code >= 200 && code < 300;
    }
    if (r->deliver_lines) {
        size_t rc = deliver_lines(r, p, len);
        if (rc == 2) {
            r->discard = total;
            return CURL_WRITEFUNC_PAUSE;
        }
        return rc ? total : 0;
    }
    if (r->body.len + len > r->c->opts.max_body)
        return abort_with(r, -E2BIG, "the response body is larger than the %zu byte limit",
                          r->c->opts.max_body);
    if (fl_buf_append(&r->body, p, len) != 0)
        return abort_with(r, -ENOMEM, "out of memory");
    return len;
}

void fl_kube_req_resume(fl_kube_req *r)
{
    if (!r || !r->paused || r->state == RQ_FINISHING)
        return;
    if (r->line_held) {
        int stop = r->line_cb(r, r->line.data ? r->line.data : "", r->line.len, r->ud);
        if (r->state == RQ_FINISHING || stop == FL_KUBE_LINE_PAUSE)
            return; /* cancelled, or still paused */
        r->line_held = false;
        fl_buf_reset(&r->line);
        if (stop) {
            finish_later(r, -ECANCELED, "Cancelled", "the line callback stopped the stream");
            return;
        }
    }
    fl_buf rest = r->held;
    fl_buf_init(&r->held, rest.max);
    r->paused = false;
    size_t rc = rest.len ? deliver_lines(r, rest.data, rest.len) : 1;
    fl_buf_done(&rest);
    if (rc == 2 || r->state == RQ_FINISHING)
        return;
    if (rc == 0) { /* the callback stopped the stream, or a cap or memory ran out */
        finish_later(r, r->abort_err,
                     r->abort_err == -E2BIG       ? "TooLarge"
                     : r->abort_err == -ECANCELED ? "Cancelled"
                                                  : "InternalError",
                     "%s", r->abort_msg);
        return;
    }
    curl_easy_pause(r->easy, CURLPAUSE_CONT);
}

/* ================================================================ transfers */

static const char *method_name(fl_kube_method m)
{
    switch (m) {
    case FL_KUBE_POST: return "POST";
    case FL_KUBE_PUT: return "PUT";
    case FL_KUBE_PATCH: return "PATCH";
    case FL_KUBE_DELETE: return "DELETE";
    default: return "GET";
    }
}

static int add_header(struct curl_slist **l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int add_header(struct curl_slist **l, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -E2BIG;
    struct curl_slist *nl = curl_slist_append(*l, buf);
    if (!nl)
        return -ENOMEM;
    *l = nl;
    return 0;
}

/* Headers and client certificate from the current credential. */
static int apply_cred(fl_kube_req *r)
{
    fl_kube_client *c = r->c;
    const fl_kube_cred *cr = &c->cred;
    struct curl_slist *h = NULL;
    int rc = add_header(&h, "Accept: %s", r->accept ? r->accept : "application/json");
    if (!rc && r->rq_body)
        rc = add_header(&h, "Content-Type: %s", r->ctype ? r->ctype : "application/json");
    if (!rc)
        rc = add_header(&h, "Expect:");
    if (!rc && cr->token)
        rc = add_header(&h, "Authorization: Bearer %s", cr->token);
    if (!rc && r->host_hdr)
        rc = add_header(&h, "Host: %s", r->host_hdr);
    for (size_t i = 0; !rc && r->extra && r->extra[i]; i++)
        rc = add_header(&h, "%s", r->extra[i]);
    if (rc) {
        curl_slist_free_all(h);
        return rc;
    }
    curl_slist_free_all(r->hdrs);
    r->hdrs = h;
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, h);
    if (!cr->token && cr->username) {
        curl_easy_setopt(r->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(r->easy, CURLOPT_USERNAME, cr->username);
        curl_easy_setopt(r->easy, CURLOPT_PASSWORD, cr->password ? cr->password : "");
    }
    if (cr->cert_pem && cr->key_pem) {
        struct curl_blob cb = {cr->cert_pem, cr->cert_pem_len, CURL_BLOB_COPY};
        struct curl_blob kb = {cr->key_pem, cr->key_pem_len, CURL_BLOB_COPY};
        curl_easy_setopt(r->easy, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(r->easy, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(r->easy, CURLOPT_SSLKEYTYPE, "PEM");
        curl_easy_setopt(r->easy, CURLOPT_SSLKEY_BLOB, &kb);
    }
    r->cred_gen = cr->generation;
    return 0;
}

static int64_t pick(int64_t req, int64_t def, bool stream)
{
    if (req < 0)
        return 0;
    if (req > 0)
        return req;
    return stream ? 0 : def;
}

/* Options that do not change between attempts. */
static int setup_easy(fl_kube_req *r)
{
    fl_kube_client *c = r->c;
    const fl_kube_conn_info *in = fl_kube_conn_get_info(c->conn);
    CURL *e = r->easy = curl_easy_init();
    if (!e)
        return -ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    /* Paths are sent as built: no dot-segment collapsing, which would turn a
     * name of "." or ".." into another API path on the member. */
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->opts.user_agent);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->opts.connect_timeout_ms);
    int64_t total = pick(r->timeout_ms, c->opts.timeout_ms, r->stream);
    int64_t stall = pick(r->stall_ms, c->opts.stall_timeout_ms, r->stream);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)total);
    if (stall > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)((stall + 999) / 1000));
    }
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                     r->method == FL_KUBE_GET ? NULL : method_name(r->method));
    if (r->rq_body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->rq_body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->rq_body);
    }
    if (in->ca_pem) {
        struct curl_blob b = {(void *)in->ca_pem, in->ca_pem_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    }
    if (in->insecure_skip_tls_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (in->proxy_url) {
        curl_easy_setopt(e, CURLOPT_PROXY, in->proxy_url);
        /* a CONNECT's "200 Connection established" is not the server's answer */
        curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    }
    return 0;
}

/* URL = server + path; with tls-server-name the URL names that host and
 * CONNECT_TO sends the connection to the real one (SNI and verification use
 * the name; Host keeps the real host). */
static int build_url(fl_kube_req *r, const char *path)
{
    fl_kube_client *c = r->c;
    const fl_kube_conn_info *in = fl_kube_conn_get_info(c->conn);
    fl_buf b = FL_BUF_INIT(1u << 20);
    int rc = 0;
    const char *server = in->server;
    if (in->tls_server_name && c->host) {
        const char *after = strstr(server, "://") + 3;
        const char *rest = after + strcspn(after, "/");
        rc = fl_buf_printf(&b, "%.*s%s:%ld%s", (int)(after - server), server, in->tls_server_name,
                           c->port, rest);
        if (!rc && !(r->host_hdr = fl_strndup(after, (size_t)(rest - after))))
            rc = -ENOMEM;
    } else {
        rc = fl_buf_puts(&b, server);
    }
    if (!rc)
        rc = fl_buf_printf(&b, "%s%s", path[0] == '/' ? "" : "/", path);
    if (!rc)
        r->url = fl_buf_steal(&b);
    fl_buf_done(&b);
    return rc;
}

static void reset_response(fl_kube_req *r)
{
    r->http_status = 0;
    r->body_mode_known = r->deliver_lines = false;
    fl_buf_reset(&r->body);
    fl_buf_reset(&r->line);
    fl_buf_reset(&r->held);
    r->paused = r->line_held = false;
    r->discard = 0;
    fl_buf_reset(&r->warn);
    free(r->content_type);
    r->content_type = NULL;
    r->retry_after_s = 0;
    r->abort_err = 0;
    r->errbuf[0] = 0;
}

static int start_transfer(fl_kube_req *r)
{
    fl_kube_client *c = r->c;
    int rc = apply_cred(r);
    if (rc)
        return rc;
    if (c->host && fl_kube_conn_get_info(c->conn)->tls_server_name) {
        char ct[1024];
        snprintf(ct, sizeof ct, "%s:%ld:%s:%ld", fl_kube_conn_get_info(c->conn)->tls_server_name,
                 c->port, c->host, c->port);
        if (!r->connect_to && !(r->connect_to = curl_slist_append(NULL, ct)))
            return -ENOMEM;
        curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, r->connect_to);
    }
    reset_response(r);
    r->state = RQ_RUNNING;
    if (c->in_curl) { /* curl forbids adding handles from its callbacks */
        r->want_add = true;
        uv_timer_start(&c->reaper, reaper_cb, 0, 0);
        return 0;
    }
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
        return -ENOMEM;
    r->in_multi = true;
    return 0;
}

/* ================================================================ credentials */

typedef struct {
    uv_work_t w;
    fl_kube_client *c;
    fl_kube_conn *conn;
    bool force;
    int rc;
    fl_kube_cred cred;
    fl_err err;
} cred_work;

static void cred_work_cb(uv_work_t *w)
{
    cred_work *cw = w->data;
    cw->rc = fl_kubeconfig_credential(cw->conn, cw->force, &cw->cred, &cw->err);
}

static void cred_after_cb(uv_work_t *w, int status)
{
    cred_work *cw = w->data;
    fl_kube_client *c = cw->c;
    c->pending_work--;
    c->cred_loading = false;
    c->depth++;
    if (!c->closing && cw->rc == 0) {
        fl_kube_cred_done(&c->cred);
        c->cred = cw->cred;
        cw->cred = (fl_kube_cred)FL_KUBE_CRED_INIT;
        c->have_cred = true;
    }
    for (fl_kube_req *r = c->reqs; r && !c->closing; r = r->next) {
        if (r->state != RQ_WAIT_CRED)
            continue;
        int rc = cw->rc;
        if (!rc && (rc = start_transfer(r)) != 0)
            finish_later(r, rc, "TransportError", "could not start the request: %s",
                         fl_strerror(rc));
        else if (cw->rc)
            finish_later(r, cw->rc, "CredentialError", "getting credentials: %s", cw->err.msg);
    }
    fl_kube_cred_done(&cw->cred);
    fl_kube_conn_unref(cw->conn);
    free(cw);
    c->depth--;
    teardown_if_idle(c);
}

/* Fetch the credential on the thread pool; waiting requests start after. */
static int load_cred_async(fl_kube_client *c, bool force)
{
    if (c->cred_loading)
        return 0;
    cred_work *cw = calloc(1, sizeof *cw);
    if (!cw)
        return -ENOMEM;
    cw->w.data = cw;
    cw->c = c;
    cw->conn = fl_kube_conn_ref(c->conn);
    cw->force = force;
    int rc = uv_queue_work(c->loop, &cw->w, cred_work_cb, cred_after_cb);
    if (rc) {
        fl_kube_conn_unref(cw->conn);
        free(cw);
        return rc;
    }
    c->pending_work++;
    c->cred_loading = true;
    return 0;
}

static bool cred_expired(const fl_kube_client *c)
{
    return !c->have_cred || (c->cred.expires_ms && fl_now_ms() > c->cred.expires_ms);
}

/* Start r now, or park it until a credential is there. */
static int launch(fl_kube_req *r, bool force_refresh)
{
    fl_kube_client *c = r->c;
    if (fl_kube_conn_has_exec(c->conn)) {
        if (!force_refresh && !cred_expired(c) && !c->cred_loading)
            return start_transfer(r);
        r->state = RQ_WAIT_CRED;
        return load_cred_async(c, force_refresh);
    }
    fl_kube_cred cr = FL_KUBE_CRED_INIT;
    fl_err e = FL_ERR_INIT;
    int rc = fl_kubeconfig_credential(c->conn, false, &cr, &e);
    if (rc)
        return rc;
    fl_kube_cred_done(&c->cred);
    c->cred = cr;
    c->have_cred = true;
    return start_transfer(r);
}

/* ================================================================ completion */

static void finish_transfer(fl_kube_req *r, CURLcode cc)
{
    fl_kube_client *c = r->c;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
    curl_multi_remove_handle(c->multi, r->easy);
    r->in_multi = false;
    if (r->abort_err) {
        const char *reason = r->abort_err == -E2BIG       ? "TooLarge"
                             : r->abort_err == -ECANCELED ? "Cancelled"
                                                          : "InternalError";
        complete(r, r->abort_err, reason, r->abort_msg, NULL);
        return;
    }
    if (cc != CURLE_OK) {
        int err;
        const char *reason;
        char msg[512];
        transport_error(r, cc, &err, &reason);
        snprintf(msg, sizeof msg, "%s%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc),
                 r->line.len ? "; the stream was cut in the middle of a line" : "");
        complete(r, err, reason, msg, NULL);
        return;
    }
    if (r->http_status >= 200 && r->http_status < 300) {
        if (r->deliver_lines && r->line.len) {
            char msg[200];
            snprintf(msg, sizeof msg, "the stream ended in the middle of a line (%zu bytes)",
                     r->line.len);
            complete(r, FL_EPARSE, "StreamTruncated", msg, NULL);
            return;
        }
        complete(r, 0, "", "", NULL);
        return;
    }
    if (r->http_status == 401 && fl_kube_conn_has_exec(c->conn) && !r->retried) {
        r->retried = true;
        bool newer = c->have_cred && c->cred.generation != r->cred_gen;
        int rc = launch(r, !newer);
        if (rc)
            finish_later(r, rc, "TransportError", "retrying after 401: %s", fl_strerror(rc));
        return;
    }
    json_t *st = status_for_http(r);
    complete(r, err_for_http(r->http_status), "", "", st);
}

static void check_done(fl_kube_client *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        fl_kube_req *r = NULL;
        CURLcode cc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (!r)
            continue;
        if (r->state == RQ_FINISHING) { /* cancelled: the reaper completes it */
            curl_multi_remove_handle(c->multi, r->easy);
            r->in_multi = false;
            continue;
        }
        finish_transfer(r, cc);
        if (c->closing)
            break;
    }
}

/* ================================================================ libuv glue */

static void on_handle_closed(uv_handle_t *h)
{
    fl_kube_client *c = h->data;
    if (h->type == UV_POLL)
        free(h); /* sock_ctx starts with its uv_poll_t */
    c->open_handles--;
    teardown_if_idle(c);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    sock_ctx *s = (sock_ctx *)h;
    fl_kube_client *c = s->c;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    c->depth++;
    c->in_curl = true;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    c->in_curl = false;
    check_done(c);
    c->depth--;
    teardown_if_idle(c);
}

static void close_sock(fl_kube_client *c, sock_ctx *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
    fl_kube_client *c = ud;
    sock_ctx *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(c->multi, fd, NULL);
            close_sock(c, s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = c;
        s->fd = fd;
        s->c = c;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        c->open_handles++;
        curl_multi_assign(c->multi, fd, s);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, poll_cb);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    fl_kube_client *c = t->data;
    int running;
    c->depth++;
    c->in_curl = true;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    c->in_curl = false;
    check_done(c);
    c->depth--;
    teardown_if_idle(c);
}

static int timer_cb(CURLM *m, long timeout_ms, void *ud)
{
    fl_kube_client *c = ud;
    if (c->torn_down)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ================================================================ client */

static int parse_host(fl_kube_client *c, const char *server)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int rc = FL_EPARSE;
    if (u && curl_url_set(u, CURLUPART_URL, server, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        int64_t p;
        if (fl_parse_i64(port, strlen(port), &p) == 0) {
            c->host = strdup(host);
            c->port = (long)p;
            rc = c->host ? 0 : -ENOMEM;
        }
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

int fl_kube_client_new(uv_loop_t *loop, fl_kube_conn *conn, const fl_kube_client_opts *opts,
                       fl_kube_client **out, fl_err *err)
{
    fl_kube_client_opts def = FL_KUBE_CLIENT_OPTS_INIT;
    pthread_once(&curl_once, curl_init_once);
    fl_kube_client *c = calloc(1, sizeof *c);
    if (!c)
        return fl_err_set(err, -ENOMEM, "out of memory");
    c->opts = opts ? *opts : def;
    if (!c->opts.max_body)
        c->opts.max_body = def.max_body;
    if (!c->opts.max_line)
        c->opts.max_line = def.max_line;
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = def.connect_timeout_ms;
    if (!c->opts.user_agent)
        c->opts.user_agent = "flotilla";
    c->loop = loop;
    c->conn = fl_kube_conn_ref(conn);
    int rc = parse_host(c, fl_kube_conn_get_info(conn)->server);
    if (rc) {
        fl_kube_conn_unref(c->conn);
        free(c);
        return fl_err_set(err, rc, "bad server URL %s", fl_kube_conn_get_info(conn)->server);
    }
    c->multi = curl_multi_init();
    if (!c->multi) {
        fl_kube_conn_unref(c->conn);
        free(c->host);
        free(c);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    if (c->opts.max_host_connections > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->opts.max_host_connections);
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->reaper);
    c->timer.data = c->reaper.data = c;
    c->open_handles = 2;
    *out = c;
    return 0;
}

/* Copy a request's inputs. */
static int req_copy(fl_kube_req *r, const fl_kube_request *rq)
{
    r->method = rq->method;
    r->stream = rq->stream;
    r->opened_cb = rq->opened;
    r->timeout_ms = rq->timeout_ms;
    r->stall_ms = rq->stall_timeout_ms;
    if ((rq->accept && !(r->accept = strdup(rq->accept))) ||
        (rq->content_type && !(r->ctype = strdup(rq->content_type))))
        return -ENOMEM;
    if (rq->body) {
        if (!(r->rq_body = malloc(rq->body_len + 1)))
            return -ENOMEM;
        memcpy(r->rq_body, rq->body, rq->body_len);
        r->rq_body[rq->body_len] = 0;
        r->rq_body_len = rq->body_len;
    }
    size_t n = 0;
    while (rq->headers && rq->headers[n])
        n++;
    if (n) {
        if (!(r->extra = calloc(n + 1, sizeof *r->extra)))
            return -ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (!(r->extra[i] = strdup(rq->headers[i])))
                return -ENOMEM;
    }
    return 0;
}

int fl_kube_client_request(fl_kube_client *c, const fl_kube_request *rq, fl_kube_line_cb line_cb,
                           fl_kube_done_cb done, void *ud, fl_kube_req **out)
{
    if (c->closing)
        return FL_ECLOSED;
    if (!rq || !rq->path || !done || (rq->stream && !line_cb))
        return -EINVAL;
    fl_kube_req *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->c = c;
    r->line_cb = line_cb;
    r->done = done;
    r->ud = ud;
    fl_buf_init(&r->body, c->opts.max_body);
    fl_buf_init(&r->line, c->opts.max_line);
    fl_buf_init(&r->held, c->opts.max_line);
    fl_buf_init(&r->warn, 64u << 10);
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    int rc = req_copy(r, rq);
    if (!rc)
        rc = build_url(r, rq->path);
    if (!rc)
        rc = setup_easy(r);
    if (!rc)
        rc = launch(r, false);
    if (rc) {
        req_free(r);
        return rc;
    }
    if (out)
        *out = r;
    return 0;
}

/* Free the client once nothing of it is left running. */
static void teardown_if_idle(fl_kube_client *c)
{
    if (!c->closing || c->depth > 0)
        return;
    if (!c->torn_down) {
        c->torn_down = true;
        curl_multi_cleanup(c->multi);
        c->multi = NULL;
        while (c->socks)
            close_sock(c, c->socks);
        uv_timer_stop(&c->timer);
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        uv_close((uv_handle_t *)&c->reaper, on_handle_closed);
        return;
    }
    if (c->open_handles > 0 || c->pending_work > 0)
        return;
    void (*cb)(void *) = c->close_cb;
    void *ud = c->close_ud;
    fl_kube_cred_done(&c->cred);
    fl_kube_conn_unref(c->conn);
    free(c->host);
    free(c);
    if (cb)
        cb(ud);
}

void fl_kube_client_close(fl_kube_client *c, void (*close_cb)(void *), void *ud)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->close_cb = close_cb;
    c->close_ud = ud;
    c->depth++;
    while (c->finishing) { /* already decided: keep their results */
        fl_kube_req *r = c->finishing;
        c->finishing = r->fnext;
        complete(r, r->fin_err, r->fin_reason, r->fin_msg, NULL);
    }
    c->finishing_tail = NULL;
    while (c->reqs) {
        fl_kube_req *r = c->reqs;
        r->state = RQ_FINISHING;
        complete(r, FL_ECLOSED, "Closed", "the client was closed", NULL);
    }
    c->depth--;
    teardown_if_idle(c);
}

const char *fl_kube_req_content_type(const fl_kube_req *req)
{
    return req && req->content_type ? req->content_type : "";
}
