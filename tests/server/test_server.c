/*
 * tests/server/test_server.c: plain-HTTP behaviour of server/ — routing
 * (longest prefix, 404 text, 405), request accessors (query in order,
 * headers, body, peer), the standard headers, pretty JSON rules, health
 * endpoints, 413 for big bodies (and serving on), keep-alive, deferred
 * answers from another thread, independent listeners, 503 on stop.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "server/server.h"
#include "kube/kube.h"
#include "tests/test.h"
#include "tests/server/client.h"

/* Checks made on server threads land here; main checks them (the harness
 * counters are not thread-safe). */
static atomic_int bad_in_thread;

static void echo(fl_request *r, void *ud)
{
    json_t *o = json_object();
    size_t blen;
    const char *body = fl_request_body(r, &blen);
    json_object_set_new(o, "method", json_string(fl_request_method(r)));
    json_object_set_new(o, "path", json_string(fl_request_path(r)));
    const char *a = fl_request_query(r, "a");
    json_object_set_new(o, "a", a ? json_string(a) : json_null());
    const char *xt = fl_request_header(r, "x-TEST"); /* case-insensitive */
    json_object_set_new(o, "xtest", json_string(xt ? xt : "-"));
    json_object_set_new(o, "body", json_stringn(body, blen));
    json_object_set_new(o, "peer", json_string(fl_request_peer(r)));
    json_object_set_new(o, "loopback", json_boolean(fl_request_peer_is_loopback(r)));
    json_object_set_new(o, "nocert", json_boolean(fl_request_cert_user(r) == NULL));
    fl_request_reply_json(r, 200, o);
}

static bool add_pair(const char *k, const char *v, void *ud)
{
    json_t *pair = json_array();
    json_array_append_new(pair, json_string(k));
    json_array_append_new(pair, json_string(v));
    json_array_append_new(ud, pair);
    return true;
}

static void echo_q(fl_request *r, void *ud)
{
    json_t *q = json_array();
    fl_request_query_each(r, add_pair, q);
    fl_request_set_user(r, "tester");
    fl_request_reply_json(r, 200, q);
}

static void text(fl_request *r, void *ud)
{
    fl_request_reply(r, 200, "text/plain", ud, strlen(ud));
}

static void cache(fl_request *r, void *ud)
{
    bad_in_thread += fl_request_add_header(r, "Cache-Control", "public, immutable") != 0;
    bad_in_thread += fl_request_add_header(r, "Bad", "a\r\nb") != -EINVAL;
    fl_request_reply(r, 200, "text/plain", "c", 1);
}

static void status(fl_request *r, void *ud)
{
    fl_request_reply_status(r, 404, NULL, "pods \"%s\" not found", "x");
}

static void *defer_thread(void *p)
{
    sleep_ms(200);
    bad_in_thread += fl_request_reply(p, 200, "text/plain", "deferred", 8) != 0;
    return NULL;
}

static void defer(fl_request *r, void *ud)
{
    pthread_t t;
    pthread_create(&t, NULL, defer_thread, r);
    pthread_detach(t);
}

static void slow(fl_request *r, void *ud)
{
    sleep_ms(2000);
    fl_request_reply(r, 200, "text/plain", "slow", 4);
}

/* /hang: never answered until the test does it after stop. */
typedef struct hang {
    pthread_mutex_t mu;
    fl_request *req[2];
    int n;
} hang;

static void hang_h(fl_request *r, void *ud)
{
    hang *h = ud;
    pthread_mutex_lock(&h->mu);
    if (h->n < 2)
        h->req[h->n++] = r;
    pthread_mutex_unlock(&h->mu);
}

static fl_server *start(fl_server_opts *o, fl_err *err)
{
    fl_server *s = NULL;
    T_EQ_INT(fl_server_new(o, &s, err), 0);
    return s;
}

static char base[64];
static uint16_t main_port;

static const char *url(const char *path)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s%s", base, path);
    return buf;
}

static json_t *body_json(const resp *r)
{
    return r->body.data ? json_loadb(r->body.data, r->body.len, JSON_ALLOW_NUL, NULL) : NULL;
}

static void test_routing(void)
{
    resp r;
    char h[256], h2[256];
    http("GET", url("/nope"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 404);
    T_EQ_STR(r.body.data, "404 page not found\n");
    T_EQ_STR(resp_header(&r, "Content-Type", h, sizeof(h)), "text/plain; charset=utf-8");
    T_EQ_STR(resp_header(&r, "X-Content-Type-Options", h, sizeof(h)), "nosniff");
    T_EQ_STR(resp_header(&r, "Cache-Control", h, sizeof(h)), "no-cache, private");
    T_EQ_STR(resp_header(&r, "Content-Length", h, sizeof(h)), "19");
    T_CHECK(resp_header(&r, "Audit-Id", h, sizeof(h)) && strlen(h) == 36);
    resp_done(&r);
    http("GET", url("/echox"), NULL, 0, NULL, &r); /* a prefix matches whole segments only */
    T_EQ_INT(r.code, 404);
    resp_done(&r);

    http("GET", url("/echo/deep/er"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 200);
    T_EQ_STR(r.body.data, "deep");
    resp_done(&r);
    http("GET", url("/echo/x%20y"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 200);
    T_CHECK(resp_header(&r, "Audit-Id", h2, sizeof(h2)) && strcmp(h, h2) != 0);
    json_t *j = body_json(&r);
    T_EQ_STR(json_string_value(json_object_get(j, "path")), "/echo/x y");
    json_decref(j);
    resp_done(&r);

    http("POST", url("/only-get"), "x", 1, NULL, &r);
    T_EQ_INT(r.code, 405);
    j = body_json(&r);
    T_EQ_STR(json_string_value(json_object_get(j, "reason")), "MethodNotAllowed");
    T_CHECK(json_is_object(json_object_get(j, "details")));
    json_decref(j);
    resp_done(&r);
    http("GET", url("/only-get"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 200);
    resp_done(&r);

    http("GET", url("/bad%zz"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 400);
    resp_done(&r);
    /* #19.4: a bad escape or a NUL in any query pair is a 400, never a
     * silently dropped parameter (a dropped selector fails open). */
    static const char *const bad[] = {"/echo?labelSelector=app%3Dx%00y",
                                      "/echo?a=1&b=%00",
                                      "/echo?%00=1",
                                      "/echo?clusters=east-1%00",
                                      "/echo?x=%zz",
                                      "/echo?x=%4",
                                      "/echo?c%00ontainer=a"};
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        http("GET", url(bad[i]), NULL, 0, NULL, &r);
        T_EQ_INT(r.code, 400);
        resp_done(&r);
    }
}

static void test_accessors(void)
{
    resp r;
    char h[256];
    const char *hdrs[] = {"X-Test: hi", NULL};
    http("GET", url("/echo?a=1&b=x%20y&a=2&c+d=e+f&verbose&=skip&last="), NULL, 0, hdrs, &r);
    T_EQ_INT(r.code, 200);
    T_EQ_STR(resp_header(&r, "Content-Type", h, sizeof(h)), "application/json");
    json_t *j = body_json(&r);
    T_EQ_STR(json_string_value(json_object_get(j, "method")), "GET");
    T_EQ_STR(json_string_value(json_object_get(j, "path")), "/echo");
    T_EQ_STR(json_string_value(json_object_get(j, "a")), "1");
    T_EQ_STR(json_string_value(json_object_get(j, "xtest")), "hi");
    T_EQ_STR(json_string_value(json_object_get(j, "body")), "");
    T_CHECK(json_is_true(json_object_get(j, "loopback")));
    T_CHECK(json_is_true(json_object_get(j, "nocert")));
    T_CHECK(fl_str_has_prefix(json_string_value(json_object_get(j, "peer")), "127.0.0.1:"));
    json_decref(j);
    T_CHECK(r.body.len > 0 && r.body.data[r.body.len - 1] == '\n'); /* compact */
    resp_done(&r);

    http("GET", url("/q?a=1&b=x%20y&a=2&c+d=e+f&verbose&=skip&last="), NULL, 0, NULL, &r);
    T_EQ_STR(r.body.data, "[[\"a\",\"1\"],[\"b\",\"x y\"],[\"a\",\"2\"],[\"c d\",\"e f\"],"
                          "[\"verbose\",\"\"],[\"last\",\"\"]]\n");
    resp_done(&r);

    http("POST", url("/echo"), "hello\0world", 11, NULL, &r);
    j = body_json(&r);
    size_t n = json_string_length(json_object_get(j, "body"));
    T_EQ_INT(n, 11);
    T_EQ_STR(json_string_value(json_object_get(j, "method")), "POST");
    json_decref(j);
    resp_done(&r);
}

static void test_pretty_and_status(void)
{
    resp r;
    char h[256];
    const char *curl_ua[] = {"User-Agent: curl/7.88.1", NULL};
    const char *moz_ua[] = {"User-Agent: Mozilla/5.0 (X11)", NULL};
    http("GET", url("/status"), NULL, 0, curl_ua, &r);
    T_EQ_INT(r.code, 404);
    T_EQ_STR(r.body.data,
             "{\n  \"kind\": \"Status\",\n  \"apiVersion\": \"v1\",\n  \"metadata\": {},\n"
             "  \"status\": \"Failure\",\n  \"message\": \"pods \\\"x\\\" not found\",\n"
             "  \"reason\": \"NotFound\",\n  \"code\": 404\n}");
    T_EQ_STR(resp_header(&r, "Cache-Control", h, sizeof(h)), "no-cache, private");
    resp_done(&r);
    http("GET", url("/status?pretty=false"), NULL, 0, curl_ua, &r);
    T_CHECK(fl_str_has_suffix(r.body.data, "\"code\":404}\n"));
    resp_done(&r);
    http("GET", url("/status?pretty=1"), NULL, 0, NULL, &r);
    T_CHECK(fl_str_has_suffix(r.body.data, "\n  \"code\": 404\n}"));
    resp_done(&r);
    http("GET", url("/status?pretty=yes"), NULL, 0, moz_ua, &r); /* unparsable: false */
    T_CHECK(fl_str_has_suffix(r.body.data, "\"code\":404}\n"));
    resp_done(&r);
    http("GET", url("/status?pretty="), NULL, 0, moz_ua, &r); /* empty: the agent decides */
    T_CHECK(fl_str_has_suffix(r.body.data, "\n}"));
    resp_done(&r);
    http("GET", url("/cache"), NULL, 0, NULL, &r);
    T_EQ_STR(resp_header(&r, "Cache-Control", h, sizeof(h)), "public, immutable");
    resp_done(&r);
}

static void test_health(void)
{
    resp r;
    char h[256];
    http("GET", url("/healthz"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 200);
    T_EQ_STR(r.body.data, "ok");
    T_EQ_STR(resp_header(&r, "Content-Type", h, sizeof(h)), "text/plain; charset=utf-8");
    T_EQ_STR(resp_header(&r, "X-Content-Type-Options", h, sizeof(h)), "nosniff");
    resp_done(&r);
    http("GET", url("/readyz?verbose"), NULL, 0, NULL, &r);
    T_EQ_STR(r.body.data, "[+]ping ok\nreadyz check passed\n");
    resp_done(&r);
    http("GET", url("/livez"), NULL, 0, NULL, &r);
    T_EQ_STR(r.body.data, "ok");
    resp_done(&r);
}

static void test_big_body_and_keepalive(size_t max_body)
{
    resp r;
    char *big = malloc(max_body + 1);
    memset(big, 'x', max_body + 1);
    http("POST", url("/echo"), big, max_body + 1, NULL, &r);
    T_EQ_INT(r.code, 413);
    json_t *j = body_json(&r);
    T_EQ_STR(json_string_value(json_object_get(j, "reason")), "RequestEntityTooLarge");
    json_decref(j);
    resp_done(&r);
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    http("POST", url("/echo"), big, max_body + 1, chunked, &r);
    T_EQ_INT(r.code, 413);
    resp_done(&r);
    http("POST", url("/echo"), big, max_body, chunked, &r); /* exactly the limit is fine */
    T_EQ_INT(r.code, 200);
    resp_done(&r);
    free(big);

    CURL *c = curl_easy_init();
    http_on(c, "GET", url("/echo"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 200);
    T_EQ_INT(r.connects, 1);
    resp_done(&r);
    http_on(c, "POST", url("/echo"), "abc", 3, NULL, &r);
    T_EQ_INT(r.code, 200);
    T_EQ_INT(r.connects, 0); /* the same connection again */
    resp_done(&r);
    http_on(c, "GET", url("/defer"), NULL, 0, NULL, &r); /* deferred answers keep it too */
    T_EQ_INT(r.connects, 0);
    resp_done(&r);
    http_on(c, "GET", url("/nope"), NULL, 0, NULL, &r);
    T_EQ_INT(r.connects, 0);
    resp_done(&r);
    curl_easy_cleanup(c);
}

static void test_deferred(void)
{
    resp r;
    int64_t t0 = fl_mono_ms();
    http("GET", url("/defer"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 200);
    T_EQ_STR(r.body.data, "deferred");
    T_CHECK(fl_mono_ms() - t0 >= 190);
    resp_done(&r);
}

typedef struct bg {
    char url[128];
    resp r;
    int64_t ms;
} bg;

static void *bg_get(void *p)
{
    bg *b = p;
    int64_t t0 = fl_mono_ms();
    http("GET", b->url, NULL, 0, NULL, &b->r);
    b->ms = fl_mono_ms() - t0;
    return NULL;
}

static void test_independent_listeners(fl_server *a)
{
    fl_err err = FL_ERR_INIT;
    fl_server_opts o = FL_SERVER_OPTS_INIT;
    o.name = "other";
    o.threads = 1;
    fl_server *b = start(&o, &err);
    T_EQ_INT(fl_server_route(b, "GET", "/fast", text, "fast"), 0);
    T_EQ_INT(fl_server_start(b, &err), 0);
    T_EQ_INT(fl_server_route(b, "GET", "/late", text, "x"), -EBUSY);
    bg slow_req = {{0}, {0}, 0};
    snprintf(slow_req.url, sizeof(slow_req.url), "%s/slow", base);
    pthread_t t;
    pthread_create(&t, NULL, bg_get, &slow_req);
    sleep_ms(100);
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/fast", fl_server_port(b));
    resp r;
    int64_t t0 = fl_mono_ms();
    http("GET", u, NULL, 0, NULL, &r);
    int64_t fast_ms = fl_mono_ms() - t0;
    T_EQ_INT(r.code, 200);
    T_CHECK(fast_ms < 500);
    resp_done(&r);
    pthread_join(t, NULL);
    T_EQ_INT(slow_req.r.code, 200);
    T_CHECK(slow_req.ms >= 1900);
    resp_done(&slow_req.r);
    fl_server_free(b);
}

/* Headers beyond libmicrohttpd's per-connection memory (32 KiB) are
 * refused, the server goes on; an idle connection is closed after
 * request_timeout_s. */
static void test_limits(void)
{
    resp r;
    size_t n = 40000;
    char *h = malloc(n + 16);
    memcpy(h, "X-Big: ", 7);
    memset(h + 7, 'b', n);
    h[7 + n] = '\0';
    const char *hdrs[] = {h, NULL};
    http("GET", url("/echo"), NULL, 0, hdrs, &r);
    T_CHECK(r.code == 431 || r.code == 413 || r.code == 400);
    resp_done(&r);
    free(h);
    http("GET", url("/echo"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 200);
    resp_done(&r);
    /* Malformed requests are refused by libmicrohttpd without leaking ours. */
    static const char *const broken[] = {
        "GET /echo HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /echo HTTP/1.1\r\nHost: t\r\n", /* then the client leaves */
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(broken); i++) {
        fl_buf b = FL_BUF_INIT(65536);
        int fd = raw_connect(main_port, 0);
        raw_send(fd, broken[i]);
        raw_read_until(fd, &b, "\r\n\r\n", i == 3 ? 50 : 2000);
        close(fd);
        fl_buf_done(&b);
    }
    http("GET", url("/echo"), NULL, 0, NULL, &r);
    T_EQ_INT(r.code, 200);
    resp_done(&r);

    fl_err err = FL_ERR_INIT;
    fl_server_opts o = FL_SERVER_OPTS_INIT;
    o.name = "idle";
    o.request_timeout_s = 1;
    fl_server *s = start(&o, &err);
    T_EQ_INT(fl_server_start(s, &err), 0);
    int fd = raw_connect(fl_server_port(s), 0);
    fl_buf b = FL_BUF_INIT(4096);
    int64_t t0 = fl_mono_ms();
    raw_read_until(fd, &b, "never", 4000); /* returns at EOF */
    int64_t ms = fl_mono_ms() - t0;
    T_CHECK(ms >= 900 && ms < 3500);
    fl_buf_done(&b);
    close(fd);
    fl_server_free(s);
}

static void test_stop_pending(void)
{
    fl_err err = FL_ERR_INIT;
    fl_server_opts o = FL_SERVER_OPTS_INIT;
    hang h = {PTHREAD_MUTEX_INITIALIZER, {NULL, NULL}, 0};
    o.name = "stopper";
    fl_server *s = start(&o, &err);
    T_EQ_INT(fl_server_route(s, NULL, "/hang", hang_h, &h), 0);
    T_EQ_INT(fl_server_start(s, &err), 0);
    bg req[2] = {{{0}, {0}, 0}, {{0}, {0}, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        snprintf(req[i].url, sizeof(req[i].url), "http://127.0.0.1:%u/hang", fl_server_port(s));
        pthread_create(&t[i], NULL, bg_get, &req[i]);
    }
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&h.mu);
        bool got = h.n == 2;
        pthread_mutex_unlock(&h.mu);
        if (got)
            break;
        sleep_ms(10);
    }
    fl_server_stop(s);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        T_EQ_INT(req[i].r.code, 503);
        json_t *j = body_json(&req[i].r);
        T_EQ_STR(json_string_value(json_object_get(j, "reason")), "ServiceUnavailable");
        json_decref(j);
        resp_done(&req[i].r);
    }
    fl_server_free(s);
    /* The owners answer after the server is gone: dropped, and safe. */
    T_EQ_INT(h.n, 2);
    if (h.n == 2) {
        fl_stream *st = NULL;
        T_EQ_INT(fl_request_reply(h.req[0], 200, "text/plain", "late", 4), FL_ECLOSED);
        T_EQ_INT(fl_request_stream(h.req[1], 200, "application/json", &st), FL_ECLOSED);
        T_CHECK(st == NULL);
    }
}

int main(void)
{
    fl_err err = FL_ERR_INIT;
    fl_server_opts o = FL_SERVER_OPTS_INIT;
    curl_global_init(CURL_GLOBAL_ALL);
    o.name = "test";
    o.max_body = 4096;
    fl_server *s = start(&o, &err);
    T_EQ_INT(fl_server_route(s, NULL, "/echo", echo, NULL), 0);
    T_EQ_INT(fl_server_route(s, NULL, "/echo/deep", text, "deep"), 0);
    T_EQ_INT(fl_server_route(s, NULL, "/q", echo_q, NULL), 0);
    T_EQ_INT(fl_server_route(s, "GET", "/only-get", text, "g"), 0);
    T_EQ_INT(fl_server_route(s, NULL, "/status", status, NULL), 0);
    T_EQ_INT(fl_server_route(s, NULL, "/cache", cache, NULL), 0);
    T_EQ_INT(fl_server_route(s, NULL, "/defer", defer, NULL), 0);
    T_EQ_INT(fl_server_route(s, NULL, "/slow", slow, NULL), 0);
    T_EQ_INT(fl_server_route(s, NULL, "bad", slow, NULL), -EINVAL);
    T_EQ_INT(fl_server_route_health(s), 0);
    T_EQ_INT(fl_server_start(s, &err), 0);
    T_CHECK(fl_server_port(s) != 0);
    main_port = fl_server_port(s);
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", main_port);

    test_routing();
    test_accessors();
    test_pretty_and_status();
    test_health();
    test_big_body_and_keepalive(o.max_body);
    test_deferred();
    test_independent_listeners(s);
    test_limits();
    test_stop_pending();

    fl_server *bad = NULL;
    fl_server_opts ob = FL_SERVER_OPTS_INIT;
    ob.listen = "nonsense";
    T_EQ_INT(fl_server_new(&ob, &bad, &err), 0);
    T_EQ_INT(fl_server_start(bad, &err), -EINVAL);
    fl_server_free(bad);
    /* IPv6 (skipped where the machine has no ::1). */
    ob.listen = "[::1]:0";
    T_EQ_INT(fl_server_new(&ob, &bad, &err), 0);
    T_EQ_INT(fl_server_route(bad, NULL, "/echo", echo, NULL), 0);
    if (fl_server_start(bad, &err) == 0) {
        char u6[64];
        resp r6;
        snprintf(u6, sizeof(u6), "http://[::1]:%u/echo", fl_server_port(bad));
        http("GET", u6, NULL, 0, NULL, &r6);
        json_t *j6 = body_json(&r6);
        T_CHECK(fl_str_has_prefix(json_string_value(json_object_get(j6, "peer")), "[::1]:"));
        T_CHECK(json_is_true(json_object_get(j6, "loopback")));
        json_decref(j6);
        resp_done(&r6);
    }
    fl_server_free(bad);
    char taken[32]; /* a port in use is an error, not a shared listener */
    snprintf(taken, sizeof(taken), "127.0.0.1:%u", fl_server_port(s));
    ob.listen = taken;
    T_EQ_INT(fl_server_new(&ob, &bad, &err), 0);
    T_EQ_INT(fl_server_start(bad, &err), -EADDRINUSE);
    fl_server_free(bad);
    fl_server_free(s);
    fl_server_free(NULL);
    T_EQ_INT(bad_in_thread, 0);
    curl_global_cleanup();
    return t_done();
}
