/*
 * tests/server/test_stream.c: chunked streams of server/ — headers sent at
 * once, each write its own chunk arriving before the end, the zero chunk on
 * close (and keep-alive after it), a client that disconnects (on_gone once,
 * then FL_ECLOSED), a client that never reads (FL_EFULL), many writes from
 * another thread in order, and stop with open streams (on_gone, zero chunk,
 * owners closing after the server is gone).
 */
#include <pthread.h>

#include "server/server.h"
#include "tests/test.h"
#include "tests/server/client.h"

typedef struct watch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fl_stream *st[8];
    int n;
    int gone[8];
    int bad; /* failures seen on server threads */
    fl_stream *late;
    int closed_in_gone;
} watch;

static watch W = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, {0}, 0, NULL, 0};

static void on_gone(void *ud)
{
    int *g = ud;
    pthread_mutex_lock(&W.mu);
    (*g)++;
    pthread_mutex_unlock(&W.mu);
}

static void watch_h(fl_request *r, void *ud)
{
    fl_stream *st = NULL;
    int rc = fl_request_stream(r, 200, "application/json", &st);
    pthread_mutex_lock(&W.mu);
    W.bad += rc != 0;
    int i = W.n++;
    W.st[i] = st;
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
    fl_stream_on_gone(st, on_gone, &W.gone[i]);
}

/* A stream opened later from another thread (the connection is suspended
 * meanwhile), written and closed there. */
static void *late_stream(void *p)
{
    fl_stream *st = NULL;
    sleep_ms(100);
    int rc = fl_request_stream(p, 200, "application/json", &st);
    rc = rc ? rc : fl_stream_write(st, "{\"late\":1}\n", 11);
    sleep_ms(50);
    rc = rc ? rc : fl_stream_write(st, "{\"late\":2}\n", 11);
    fl_stream_close(st);
    pthread_mutex_lock(&W.mu);
    W.bad += rc != 0;
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

static void dwatch_h(fl_request *r, void *ud)
{
    pthread_t t;
    pthread_create(&t, NULL, late_stream, r);
    pthread_detach(t);
}

static void test_deferred_stream(uint16_t port)
{
    char u[128];
    resp r;
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/dwatch", port);
    http("GET", u, NULL, 0, NULL, &r);
    T_EQ_INT(r.rc, CURLE_OK);
    T_EQ_INT(r.code, 200);
    T_EQ_STR(r.body.data, "{\"late\":1}\n{\"late\":2}\n");
    resp_done(&r);
}

static void text(fl_request *r, void *ud)
{
    fl_request_reply(r, 200, "text/plain", "hi", 2);
}

/* Wait for the i-th stream to open; NULL after 5 s. */
static fl_stream *wait_stream(int i)
{
    fl_stream *st = NULL;
    int64_t end = fl_mono_ms() + 5000;
    pthread_mutex_lock(&W.mu);
    while (W.n <= i && fl_mono_ms() < end) {
        pthread_mutex_unlock(&W.mu);
        sleep_ms(5);
        pthread_mutex_lock(&W.mu);
    }
    if (W.n > i)
        st = W.st[i];
    pthread_mutex_unlock(&W.mu);
    return st;
}

static int gone(int i)
{
    pthread_mutex_lock(&W.mu);
    int g = W.gone[i];
    pthread_mutex_unlock(&W.mu);
    return g;
}

static const char req[] = "GET /watch?watch=true HTTP/1.1\r\nHost: t\r\n\r\n";

static void test_lines_and_close(uint16_t port)
{
    fl_buf b = FL_BUF_INIT(1u << 20);
    int fd = raw_connect(port, 0);
    T_CHECK(fd >= 0);
    raw_send(fd, req);
    fl_stream *st = wait_stream(0);
    T_CHECK(st != NULL);
    /* Headers come before any data. */
    T_CHECK(raw_read_until(fd, &b, "\r\n\r\n", 2000));
    T_CHECK(fl_str_has_prefix(b.data, "HTTP/1.1 200 OK\r\n"));
    T_CHECK(strstr(b.data, "Transfer-Encoding: chunked\r\n") != NULL);
    T_CHECK(strstr(b.data, "Content-Type: application/json\r\n") != NULL);
    T_CHECK(strstr(b.data, "Audit-Id: ") != NULL);
    fl_buf_reset(&b);
    sleep_ms(1500); /* longer than request_timeout_s: streams are exempt */
    T_EQ_INT(fl_stream_write(st, "{\"n\":1}\n", 8), 0);
    T_CHECK(raw_read_until(fd, &b, "{\"n\":1}\n\r\n", 2000));
    T_EQ_STR(b.data, "8\r\n{\"n\":1}\n\r\n"); /* one write, one chunk */
    fl_buf_reset(&b);
    T_EQ_INT(fl_stream_write(st, "{\"n\":2}\n", 8), 0);
    T_EQ_INT(fl_stream_write(st, "{\"n\":3}\n", 8), 0);
    T_CHECK(raw_read_until(fd, &b, "{\"n\":3}\n\r\n", 2000));
    T_EQ_STR(b.data, "8\r\n{\"n\":2}\n\r\n8\r\n{\"n\":3}\n\r\n");
    fl_buf_reset(&b);
    T_EQ_INT(fl_stream_write(st, "last\n", 5), 0);
    fl_stream_close(st); /* queued data first, then the zero chunk */
    T_CHECK(raw_read_until(fd, &b, "0\r\n\r\n", 2000));
    T_EQ_STR(b.data, "5\r\nlast\n\r\n0\r\n\r\n");
    /* The connection stays usable. */
    fl_buf_reset(&b);
    raw_send(fd, "GET /text HTTP/1.1\r\nHost: t\r\n\r\n");
    T_CHECK(raw_read_until(fd, &b, "\r\n\r\nhi", 2000));
    close(fd);
    fl_buf_done(&b);
    T_EQ_INT(gone(0), 0); /* closed by its owner: on_gone does not fire */
}

static void test_client_gone(uint16_t port)
{
    int fd = raw_connect(port, 0);
    raw_send(fd, req);
    fl_stream *st = wait_stream(1);
    T_CHECK(st != NULL);
    if (!st)
        return;
    sleep_ms(50);
    close(fd);
    int rc = 0;
    for (int i = 0; i < 300 && gone(1) == 0; i++) {
        rc = fl_stream_write(st, "bookmark\n", 9);
        sleep_ms(10);
    }
    T_EQ_INT(gone(1), 1);
    T_EQ_INT(fl_stream_write(st, "x\n", 2), FL_ECLOSED);
    (void)rc;
    fl_stream_close(st);
    T_EQ_INT(gone(1), 1);
}

/* A client that leaves while nothing is being written is found by the
 * prober within about a second. */
static void test_client_gone_idle(uint16_t port)
{
    int fd = raw_connect(port, 0);
    raw_send(fd, req);
    fl_stream *st = wait_stream(4);
    T_CHECK(st != NULL);
    if (!st)
        return;
    fl_buf b = FL_BUF_INIT(65536);
    T_CHECK(raw_read_until(fd, &b, "\r\n\r\n", 2000));
    fl_buf_done(&b);
    close(fd);
    int64_t t0 = fl_mono_ms();
    while (gone(4) == 0 && fl_mono_ms() - t0 < 5000)
        sleep_ms(20);
    T_EQ_INT(gone(4), 1);
    T_CHECK(fl_mono_ms() - t0 < 3000);
    T_EQ_INT(fl_stream_write(st, "x\n", 2), FL_ECLOSED);
    fl_stream_close(st);
}

/* on_gone set after the client left runs at once; closing the stream from
 * inside it (its last reference) is allowed. */
static void close_in_gone(void *ud)
{
    fl_stream_close(ud);
    pthread_mutex_lock(&W.mu);
    W.closed_in_gone++;
    pthread_mutex_unlock(&W.mu);
}

static void late_gone_h(fl_request *r, void *ud)
{
    fl_stream *st = NULL;
    int rc = fl_request_stream(r, 200, "application/json", &st);
    pthread_mutex_lock(&W.mu);
    W.bad += rc != 0;
    W.late = st;
    pthread_mutex_unlock(&W.mu);
}

static void test_on_gone_after_leaving(uint16_t port)
{
    int fd = raw_connect(port, 0);
    raw_send(fd, "GET /lategone HTTP/1.1\r\nHost: t\r\n\r\n");
    fl_buf b = FL_BUF_INIT(65536);
    T_CHECK(raw_read_until(fd, &b, "\r\n\r\n", 2000));
    fl_buf_done(&b);
    close(fd);
    pthread_mutex_lock(&W.mu);
    fl_stream *st = W.late;
    pthread_mutex_unlock(&W.mu);
    T_CHECK(st != NULL);
    if (!st)
        return;
    int rc = 0;
    for (int i = 0; i < 300 && rc == 0; i++) { /* until the server has seen it go */
        rc = fl_stream_write(st, "x\n", 2);
        sleep_ms(10);
    }
    T_EQ_INT(rc, FL_ECLOSED);
    sleep_ms(50); /* let the connection finish completely */
    fl_stream_on_gone(st, close_in_gone, st);
    pthread_mutex_lock(&W.mu);
    T_EQ_INT(W.closed_in_gone, 1);
    pthread_mutex_unlock(&W.mu);
}

static void test_full(uint16_t port)
{
    int fd = raw_connect(port, 4096);
    raw_send(fd, req);
    fl_stream *st = wait_stream(2);
    T_CHECK(st != NULL);
    if (!st)
        return;
    char block[16384];
    memset(block, 'w', sizeof(block));
    int rc = 0, i;
    for (i = 0; i < 8192 && rc == 0; i++) {
        rc = fl_stream_write(st, block, sizeof(block));
        if (i % 16 == 0)
            sleep_ms(1);
    }
    T_EQ_INT(rc, FL_EFULL);
    fl_stream_close(st);
    close(fd);
}

typedef struct reader {
    uint16_t port;
    resp r;
} reader;

static void *read_all(void *p)
{
    reader *rd = p;
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/watch", rd->port);
    http("GET", u, NULL, 0, NULL, &rd->r);
    return NULL;
}

static void test_many_writes(uint16_t port)
{
    reader rd = {port, {0}};
    pthread_t t;
    pthread_create(&t, NULL, read_all, &rd);
    fl_stream *st = wait_stream(3);
    T_CHECK(st != NULL);
    if (!st) {
        pthread_join(t, NULL);
        return;
    }
    char line[64];
    int fails = 0;
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(line, sizeof(line), "{\"i\":%d}\n", i);
        fails += fl_stream_write(st, line, (size_t)n) != 0;
    }
    T_EQ_INT(fails, 0);
    fl_stream_close(st);
    pthread_join(t, NULL);
    T_EQ_INT(rd.r.rc, CURLE_OK); /* ended with the zero chunk */
    T_EQ_INT(rd.r.code, 200);
    int bad = 0, n = 0;
    for (const char *p = rd.r.body.data; p && *p; n++) {
        snprintf(line, sizeof(line), "{\"i\":%d}\n", n);
        bad += strncmp(p, line, strlen(line)) != 0;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    T_EQ_INT(n, 2000);
    T_EQ_INT(bad, 0);
    resp_done(&rd.r);
}

static void test_stop_with_streams(fl_server *s, uint16_t port)
{
    fl_buf b = FL_BUF_INIT(1u << 20);
    int fd1 = raw_connect(port, 0);
    raw_send(fd1, req);
    fl_stream *a = wait_stream(5);
    int fd2 = raw_connect(port, 4096);
    raw_send(fd2, req);
    fl_stream *c = wait_stream(6);
    int idle = raw_connect(port, 0); /* an idle keep-alive connection */
    T_CHECK(a && c);
    if (!a || !c)
        return;
    T_EQ_INT(fl_stream_write(a, "before\n", 7), 0);
    fl_server_stop(s);
    T_EQ_INT(gone(5), 1);
    T_EQ_INT(gone(6), 1);
    T_CHECK(raw_read_until(fd1, &b, "0\r\n\r\n", 2000));
    T_CHECK(strstr(b.data, "7\r\nbefore\n\r\n0\r\n\r\n") != NULL);
    T_EQ_INT(fl_stream_write(a, "after\n", 6), FL_ECLOSED);
    fl_stream_close(a);
    fl_server_free(s);
    T_EQ_INT(fl_stream_write(c, "x\n", 2), FL_ECLOSED);
    fl_stream_close(c); /* after the server is gone: still safe */
    T_EQ_INT(gone(5), 1);
    close(fd1);
    close(fd2);
    close(idle);
    fl_buf_done(&b);
}

/* ---- stop while many streams are being written from another thread ---- */
#define NSTRESS 16

typedef struct stress {
    pthread_mutex_t mu;
    fl_stream *st[NSTRESS];
    int n, gone, stop_writer, write_errs;
    uint16_t port;
    resp r[NSTRESS];
} stress;

static stress S = {PTHREAD_MUTEX_INITIALIZER, {0}, 0, 0, 0, 0, 0, {{0}}};

static void stress_gone(void *ud)
{
    pthread_mutex_lock(&S.mu);
    S.gone++;
    pthread_mutex_unlock(&S.mu);
}

static void stress_h(fl_request *r, void *ud)
{
    fl_stream *st = NULL;
    if (fl_request_stream(r, 200, "application/json", &st) != 0 && !st)
        return;
    pthread_mutex_lock(&S.mu);
    S.st[S.n++] = st;
    pthread_mutex_unlock(&S.mu);
    fl_stream_on_gone(st, stress_gone, NULL);
}

static void *stress_client(void *p)
{
    resp *r = p;
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/w", S.port);
    http("GET", u, NULL, 0, NULL, r);
    return NULL;
}

static void *stress_writer(void *p)
{
    for (;;) {
        pthread_mutex_lock(&S.mu);
        if (S.stop_writer) {
            pthread_mutex_unlock(&S.mu);
            return NULL;
        }
        for (int i = 0; i < S.n; i++) {
            int rc = fl_stream_write(S.st[i], "{\"type\":\"BOOKMARK\"}\n", 20);
            S.write_errs += rc != 0 && rc != FL_ECLOSED;
        }
        pthread_mutex_unlock(&S.mu);
        sleep_ms(1);
    }
}

static void test_stop_under_load(void)
{
    fl_err err = FL_ERR_INIT;
    fl_server_opts o = FL_SERVER_OPTS_INIT;
    fl_server *s = NULL;
    pthread_t cl[NSTRESS], wr;
    o.name = "stress";
    o.access_log = false;
    T_EQ_INT(fl_server_new(&o, &s, &err), 0);
    T_EQ_INT(fl_server_route(s, "GET", "/w", stress_h, NULL), 0);
    T_EQ_INT(fl_server_start(s, &err), 0);
    S.port = fl_server_port(s);
    pthread_create(&wr, NULL, stress_writer, NULL);
    for (int i = 0; i < NSTRESS; i++)
        pthread_create(&cl[i], NULL, stress_client, &S.r[i]);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&S.mu);
        int n = S.n;
        pthread_mutex_unlock(&S.mu);
        if (n == NSTRESS)
            break;
        sleep_ms(10);
    }
    sleep_ms(100);
    fl_server_stop(s);
    pthread_mutex_lock(&S.mu);
    S.stop_writer = 1;
    T_EQ_INT(S.n, NSTRESS);
    T_EQ_INT(S.gone, NSTRESS);
    T_EQ_INT(S.write_errs, 0);
    pthread_mutex_unlock(&S.mu);
    pthread_join(wr, NULL);
    for (int i = 0; i < S.n; i++) /* no test lock held: close may wait for on_gone */
        fl_stream_close(S.st[i]);
    fl_server_free(s);
    int ok = 0;
    for (int i = 0; i < NSTRESS; i++) {
        pthread_join(cl[i], NULL);
        ok += S.r[i].code == 200 && S.r[i].body.len > 0;
        resp_done(&S.r[i]);
    }
    T_EQ_INT(ok, NSTRESS);
}

int main(void)
{
    fl_err err = FL_ERR_INIT;
    fl_server_opts o = FL_SERVER_OPTS_INIT;
    fl_server *s = NULL;
    curl_global_init(CURL_GLOBAL_ALL);
    o.name = "stream";
    o.stream_max_queued = 256u << 10;
    o.request_timeout_s = 1;
    T_EQ_INT(fl_server_new(&o, &s, &err), 0);
    T_EQ_INT(fl_server_route(s, "GET", "/watch", watch_h, NULL), 0);
    T_EQ_INT(fl_server_route(s, "GET", "/text", text, NULL), 0);
    T_EQ_INT(fl_server_route(s, "GET", "/dwatch", dwatch_h, NULL), 0);
    T_EQ_INT(fl_server_route(s, "GET", "/lategone", late_gone_h, NULL), 0);
    T_EQ_INT(fl_server_start(s, &err), 0);
    uint16_t port = fl_server_port(s);

    test_lines_and_close(port);
    test_client_gone(port);
    test_full(port);
    test_many_writes(port);
    test_deferred_stream(port);
    test_client_gone_idle(port);
    test_on_gone_after_leaving(port);
    test_stop_with_streams(s, port);
    test_stop_under_load();
    T_EQ_INT(W.bad, 0);
    curl_global_cleanup();
    return t_done();
}
