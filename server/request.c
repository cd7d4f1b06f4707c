/*
 * server/request.c: one HTTP request — capturing it from libmicrohttpd into
 * one immutable arena (so accessors never touch MHD memory and stay valid
 * as long as the request does), the accessors, and whole answers (reply,
 * JSON, Status) handed over from any thread. Streams are in stream.c.
 */
#include "server/server_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

/* Largest JSON answer we encode (a list of everything a cluster has). */
#define JSON_REPLY_MAX (512u << 20)

static void format_peer(fl_request *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    char ip[INET6_ADDRSTRLEN] = "?";
    fl_strlcpy(r->peer, "-", sizeof(r->peer));
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(r->peer, sizeof(r->peer), "%s:%u", ip, ntohs(in->sin_port));
        r->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(r->peer, sizeof(r->peer), "[%s]:%u", ip, ntohs(in6->sin6_port));
        r->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                      (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
    }
}

fl_request *srv_request_new(fl_server *s, struct MHD_Connection *c, const char *uri)
{
    fl_request *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->raw_uri = strdup(uri ? uri : "/");
    if (!r->raw_uri) {
        free(r);
        return NULL;
    }
    r->srv = s;
    r->conn = c;
    r->t0_us = fl_mono_us();
    r->t0 = r->t0_us / 1000;
    r->refs = 1;
    r->fd = -1;
    r->max_queued = s->o.stream_max_queued;
    r->st.r = r;
    fl_buf_init(&r->body, s->o.max_body);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    format_peer(r);
    return r;
}

static void free_request(fl_request *r)
{
    if (r->resp)
        MHD_destroy_response(r->resp);
    for (size_t i = 0; i < r->nrh; i++)
        free((char *)r->rh[i].k);
    free(r->rh);
    for (chunk *c = r->qh, *n; c; c = n) { /* never started: nothing counted */
        n = c->next;
        free(c);
    }
    for (size_t i = 0; i < r->ngroups; i++)
        free(r->groups[i]);
    free(r->groups);
    free(r->cert_user);
    free(r->user);
    free(r->log_uri);
    fl_buf_done(&r->body);
    free(r->query); /* hdrs share this allocation */
    free(r->arena);
    free((char *)r->raw_uri);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void srv_request_unref(fl_request *r)
{
    pthread_mutex_lock(&r->mu);
    int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left == 0)
        free_request(r);
}

typedef struct {
    fl_request *r;
    size_t bytes, n;
    char *o;
} hdr_ctx;

static enum MHD_Result count_hdr(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    hdr_ctx *h = cls;
    h->bytes += strlen(k) + strlen(v ? v : "") + 2;
    h->n++;
    return MHD_YES;
}

static enum MHD_Result copy_hdr(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    hdr_ctx *h = cls;
    size_t kl = strlen(k), vl = strlen(v ? v : "");
    if (h->n >= h->r->nhdrs)
        return MHD_NO;
    memcpy(h->o, k, kl + 1);
    memcpy(h->o + kl + 1, v ? v : "", vl + 1);
    h->r->hdrs[h->n].k = h->o;
    h->r->hdrs[h->n].v = h->o + kl + 1;
    h->o += kl + vl + 2;
    h->n++;
    return MHD_YES;
}

int srv_request_capture(fl_request *r, const char *method)
{
    hdr_ctx h = {r, 0, 0, NULL};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_hdr, &h);
    size_t nq = srv_uri_count_pairs(r->raw_uri);
    size_t ml = strlen(method), ul = strlen(r->raw_uri);
    r->arena = malloc(ml + 1 + ul + nq + 2 + h.bytes);
    r->query = calloc(nq + h.n + 1, sizeof(kv));
    if (!r->arena || !r->query)
        return -ENOMEM;
    memcpy(r->arena, method, ml + 1);
    r->method = r->arena;
    char *uri_out = r->arena + ml + 1;
    int got = srv_uri_parse(r->raw_uri, uri_out, r->query, nq, &r->path);
    if (got < 0) {
        r->path = "";
        return got;
    }
    r->nquery = (size_t)got;
    r->hdrs = r->query + nq;
    r->nhdrs = h.n;
    h.n = 0;
    h.o = uri_out + ul + nq + 2;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, copy_hdr, &h);
    r->nhdrs = h.n;
    return 0;
}

/* ---- accessors (immutable data: any thread) ---------------------------- */
const char *fl_request_method(const fl_request *r)
{
    return r->method;
}
const char *fl_request_path(const fl_request *r)
{
    return r->path;
}
const char *fl_request_peer(const fl_request *r)
{
    return r->peer;
}
bool fl_request_peer_is_loopback(const fl_request *r)
{
    return r->loopback;
}
const char *fl_request_cert_user(const fl_request *r)
{
    return r->cert_user;
}
bool fl_request_cert_rejected(const fl_request *r)
{
    return r->cert_rejected;
}

const char *fl_request_query(const fl_request *r, const char *key)
{
    for (size_t i = 0; i < r->nquery; i++)
        if (strcmp(r->query[i].k, key) == 0)
            return r->query[i].v;
    return NULL;
}

void fl_request_query_each(const fl_request *r,
                           bool (*fn)(const char *key, const char *value, void *ud), void *ud)
{
    for (size_t i = 0; i < r->nquery; i++)
        if (!fn(r->query[i].k, r->query[i].v, ud))
            return;
}

const char *fl_request_header(const fl_request *r, const char *name)
{
    for (size_t i = 0; i < r->nhdrs; i++)
        if (strcasecmp(r->hdrs[i].k, name) == 0)
            return r->hdrs[i].v;
    return NULL;
}

const char *fl_request_body(const fl_request *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

size_t fl_request_cert_groups(const fl_request *r, const char *const **groups)
{
    if (groups)
        *groups = (const char *const *)r->groups;
    return r->ngroups;
}

void fl_request_set_user(fl_request *r, const char *user)
{
    char *u = user ? strdup(user) : NULL;
    pthread_mutex_lock(&r->mu);
    free(r->user);
    r->user = u;
    pthread_mutex_unlock(&r->mu);
}

void fl_request_set_log_uri(fl_request *r, const char *uri)
{
    char *u = uri ? strdup(uri) : NULL;
    pthread_mutex_lock(&r->mu);
    free(r->log_uri);
    r->log_uri = u;
    pthread_mutex_unlock(&r->mu);
}

/* Go's strconv.ParseBool; *ok false for anything else. */
static bool parse_bool(const char *s, bool *ok)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    *ok = true;
    for (size_t i = 0; i < FL_ARRAY_LEN(yes); i++)
        if (strcmp(s, yes[i]) == 0)
            return true;
    for (size_t i = 0; i < FL_ARRAY_LEN(no); i++)
        if (strcmp(s, no[i]) == 0)
            return false;
    *ok = false;
    return false;
}

/* k8s.io/apiserver responsewriters: ?pretty=<bool> wins when non-empty
 * (an unparsable value means false), else the User-Agent decides. */
bool fl_request_wants_pretty(const fl_request *r)
{
    const char *pp = fl_request_query(r, "pretty");
    if (pp && *pp) {
        bool ok;
        return parse_bool(pp, &ok);
    }
    const char *ua = fl_request_header(r, "User-Agent");
    return ua && (fl_str_has_prefix(ua, "curl") || fl_str_has_prefix(ua, "Wget") ||
                  fl_str_has_prefix(ua, "Mozilla/5.0"));
}

/* ---- answers ----------------------------------------------------------- */
int fl_request_add_header(fl_request *r, const char *name, const char *value)
{
    if (!name || !*name || !value || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -EINVAL;
    size_t nl = strlen(name), vl = strlen(value);
    char *p = malloc(nl + vl + 2);
    if (!p)
        return -ENOMEM;
    memcpy(p, name, nl + 1);
    memcpy(p + nl + 1, value, vl + 1);
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    kv *n = r->owner_done ? NULL : realloc(r->rh, (r->nrh + 1) * sizeof(kv));
    if (n) {
        r->rh = n;
        r->rh[r->nrh].k = p;
        r->rh[r->nrh++].v = p + nl + 1;
        p = NULL;
    } else {
        rc = r->owner_done ? -EALREADY : -ENOMEM;
    }
    pthread_mutex_unlock(&r->mu);
    free(p);
    return rc;
}

static int kv_cmp(const void *a, const void *b)
{
    return strcasecmp(((const kv *)a)->k, ((const kv *)b)->k);
}

/* Go's net/http writes headers sorted by name; we do the same. */
void srv_add_headers(fl_request *r, struct MHD_Response *resp, const char *ctype)
{
    char uuid[37];
    kv all[64];
    size_t n = 0;
    bool has_cc = false;
    fl_uuid4(uuid);
    all[n++] = (kv){"Audit-Id", uuid};
    if (ctype)
        all[n++] = (kv){"Content-Type", ctype};
    for (size_t i = 0; i < r->nrh && n < FL_ARRAY_LEN(all) - 1; i++) {
        has_cc |= strcasecmp(r->rh[i].k, "Cache-Control") == 0;
        all[n++] = r->rh[i];
    }
    if (!has_cc)
        all[n++] = (kv){"Cache-Control", "no-cache, private"};
    qsort(all, n, sizeof(kv), kv_cmp);
    for (size_t i = 0; i < n; i++)
        MHD_add_response_header(resp, all[i].k, all[i].v);
}

struct MHD_Response *srv_response(fl_request *r, const char *ctype, const void *data, size_t len,
                                  bool steal)
{
    struct MHD_Response *resp;
    if (steal)
        resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_FREE);
    else
        resp =
            MHD_create_response_from_buffer(len, (void *)(data ? data : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (steal)
            free((void *)data);
        return NULL;
    }
    srv_add_headers(r, resp, ctype);
    return resp;
}

struct MHD_Response *srv_status_response(fl_request *r, int code, const char *msg, size_t *len)
{
    json_t *st = fl_status_new(code, fl_status_reason_for(code), msg);
    fl_buf b = FL_BUF_INIT(1u << 20);
    struct MHD_Response *resp = NULL;
    if (st && code == 405) /* as kube-apiserver: "details": {} */
        fl_status_set_details(st, NULL, NULL, NULL);
    if (st && fl_json_encode(st, fl_request_wants_pretty(r), &b) == 0) {
        *len = b.len;
        resp = srv_response(r, "application/json", fl_buf_steal(&b), *len, true);
    }
    json_decref(st);
    fl_buf_done(&b);
    return resp;
}

int srv_answer(fl_request *r, int code, struct MHD_Response *resp, size_t bytes)
{
    struct MHD_Response *drop = NULL;
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    if (r->owner_done) {
        pthread_mutex_unlock(&r->mu);
        if (resp)
            MHD_destroy_response(resp);
        return -EALREADY;
    }
    r->owner_done = true;
    if (r->answered || r->finished) {
        rc = FL_ECLOSED;
        drop = resp;
    } else {
        /* resp NULL (out of memory) makes the MHD thread drop the connection. */
        r->answered = true;
        r->resp = resp;
        r->code = code;
        r->bytes = bytes;
        rc = resp ? 0 : -ENOMEM;
        if (r->suspended) {
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (drop)
        MHD_destroy_response(drop);
    srv_request_unref(r);
    return rc;
}

int fl_request_reply(fl_request *r, int code, const char *content_type, const void *body,
                     size_t len)
{
    struct MHD_Response *resp = NULL;
    pthread_mutex_lock(&r->mu);
    if (!r->owner_done)
        resp = srv_response(r, content_type, body, len, false);
    pthread_mutex_unlock(&r->mu);
    return srv_answer(r, code, resp, len);
}

int fl_request_reply_json(fl_request *r, int code, json_t *v)
{
    if (!v) /* out of memory building it: drop the connection */
        return srv_answer(r, code, NULL, 0);
    fl_buf b = FL_BUF_INIT(JSON_REPLY_MAX);
    int rc = fl_json_encode(v, fl_request_wants_pretty(r), &b);
    json_decref(v);
    if (rc != 0) {
        fl_buf_done(&b);
        fl_log(FL_LOG_ERROR, "server", "%s %s: cannot encode the answer: %s", r->method, r->path,
               fl_strerror(rc));
        return fl_request_reply_status(r, 500, NULL, "cannot encode the response: %s",
                                       fl_strerror(rc));
    }
    struct MHD_Response *resp = NULL;
    size_t len = b.len;
    pthread_mutex_lock(&r->mu);
    if (!r->owner_done)
        resp = srv_response(r, "application/json", fl_buf_steal(&b), len, true);
    pthread_mutex_unlock(&r->mu);
    fl_buf_done(&b);
    return srv_answer(r, code, resp, len);
}

int fl_request_reply_status(fl_request *r, int code, const char *reason, const char *fmt, ...)
{
    char small[512];
    char *msg = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(small)) {
        msg = malloc((size_t)n + 1);
        if (msg) {
            va_start(ap, fmt);
            vsnprintf(msg, (size_t)n + 1, fmt, ap);
            va_end(ap);
        } else {
            msg = small; /* truncated rather than nothing */
        }
    }
    json_t *st = fl_status_new(code, reason ? reason : fl_status_reason_for(code), msg);
    if (msg != small)
        free(msg);
    return fl_request_reply_json(r, code, st);
}
