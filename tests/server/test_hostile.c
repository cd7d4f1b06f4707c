/*
 * tests/server/test_hostile.c: server/ facing hostile clients with
 * fl_server_opts_public's hardening (timeouts shortened for the test):
 *   - more than 1000 query pairs is a 414 at once (otherwise libmicrohttpd
 *     runs out of connection memory and hangs the connection 60 s);
 *   - a slowloris (a header line now and then) is cut at the header deadline;
 *   - connections per client address are capped, so /healthz still answers
 *     while one client holds more (another loopback address is another client);
 *   - /healthz answers at once while every worker is busy in a slow handler;
 *   - a stream that hits the total cap gets FL_EFULL, its last error line is
 *     still delivered (fl_stream_write_last).
 */
#include <pthread.h>

#include "server/server.h"
#include "tests/test.h"
#include "tests/server/client.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool release;
static int busy;

static void slow_h(fl_request *r, void *ud)
{
    pthread_mutex_lock(&mu);
    busy++;
    pthread_cond_broadcast(&cv);
    while (!release)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    fl_request_reply(r, 200, "text/plain", "slow\n", 5);
}

static int stream_rc = 1, last_rc = 1;

static void flood_h(fl_request *r, void *ud)
{
    fl_stream *st = NULL;
    static char block[64 << 10];
    memset(block, 'x', sizeof block);
    block[sizeof block - 1] = '\n';
    if (fl_request_stream(r, 200, "application/json", &st) != 0)
        return;
    int rc = 0;
    for (int i = 0; i < 64 && rc == 0; i++)
        rc = fl_stream_write(st, block, sizeof block);
    const char *err = "{\"type\":\"ERROR\",\"object\":{\"code\":410}}\n";
    pthread_mutex_lock(&mu);
    stream_rc = rc;
    last_rc = fl_stream_write_last(st, err, strlen(err));
    pthread_mutex_unlock(&mu);
    fl_stream_close(st);
}

static void *slow_client(void *arg)
{
    resp r;
    http("GET", arg, NULL, 0, NULL, &r);
    resp_done(&r);
    return NULL;
}

static int health_code(const char *base, int64_t *ms)
{
    char url[128];
    resp r;
    snprintf(url, sizeof url, "%s/healthz", base);
    int64_t t0 = fl_mono_ms();
    http("GET", url, NULL, 0, NULL, &r);
    *ms = fl_mono_ms() - t0;
    int code = (int)r.code;
    resp_done(&r);
    return code;
}

int main(void)
{
    fl_err err = FL_ERR_INIT;
    fl_server_opts o = FL_SERVER_OPTS_INIT;
    fl_server *s = NULL;
    char base[64], url[128];
    int64_t ms = 0;
    curl_global_init(CURL_GLOBAL_ALL);
    o.name = "hostile";
    o.header_timeout_s = 2;
    o.max_per_client = 8;
    o.workers = 2;
    o.stream_max_total = 1u << 20;
    fl_server_opts_public(&o);
    T_EQ_INT(o.max_per_client, 8);
    T_EQ_INT(o.workers, 2);
    T_EQ_INT(fl_server_new(&o, &s, &err), 0);
    T_EQ_INT(fl_server_route(s, "GET", "/slow", slow_h, NULL), 0);
    T_EQ_INT(fl_server_route(s, "GET", "/flood", flood_h, NULL), 0);
    T_EQ_INT(fl_server_route_health(s), 0);
    T_EQ_INT(fl_server_start(s, &err), 0);
    uint16_t port = fl_server_port(s);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);

    /* 414 for too many query pairs, answered at once */
    fl_buf q = FL_BUF_INIT(1u << 20);
    fl_buf_puts(&q, "GET /healthz?");
    for (int i = 0; i < 5000; i++)
        fl_buf_printf(&q, "%sp%d=v", i ? "&" : "", i);
    fl_buf_puts(&q, " HTTP/1.1\r\nHost: x\r\n\r\n");
    int fd = raw_connect(port, 0);
    fl_buf in = FL_BUF_INIT(1u << 20);
    T_CHECK(fd >= 0 && write(fd, q.data, q.len) == (ssize_t)q.len);
    T_CHECK(raw_read_until(fd, &in, "\r\n\r\n", 3000));
    T_CHECK(in.data && strstr(in.data, " 414 "));
    close(fd);
    fl_buf_done(&q);
    fl_buf_done(&in);

    /* slowloris: a header line every 500 ms is cut at the 2 s deadline */
    fd = raw_connect(port, 0);
    T_CHECK(fd >= 0 && raw_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n") == 0);
    int64_t t0 = fl_mono_ms();
    bool cut = false;
    for (int i = 0; i < 20 && !cut; i++) {
        sleep_ms(500);
        char b[64];
        struct pollfd p = {fd, POLLIN, 0};
        cut = raw_send(fd, "X-Slow: 1\r\n") != 0 ||
              (poll(&p, 1, 0) == 1 && read(fd, b, sizeof b) <= 0);
    }
    int64_t took = fl_mono_ms() - t0;
    T_CHECK(cut && took < 5000);
    close(fd);

    /* per-client cap: 8 connections from 127.0.0.2, then refused; 127.0.0.1
     * still gets /healthz */
    int fds[40], nfd = 0, held = 0;
    for (int i = 0; i < 40; i++) {
        fds[nfd] = t_dial(port, "127.0.0.2", 0);
        if (fds[nfd] >= 0)
            nfd++;
    }
    sleep_ms(300);
    for (int i = 0; i < nfd; i++) { /* refused ones are closed by the server */
        struct pollfd p = {fds[i], POLLIN, 0};
        char b[8];
        held += !(poll(&p, 1, 0) == 1 && read(fds[i], b, sizeof b) <= 0);
    }
    T_CHECK(nfd > 0 && held <= 8);
    T_EQ_INT(health_code(base, &ms), 200);
    for (int i = 0; i < nfd; i++)
        close(fds[i]);

    /* both workers busy: /healthz still answers at once */
    pthread_t th[2];
    snprintf(url, sizeof url, "%s/slow", base);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, slow_client, url);
    pthread_mutex_lock(&mu);
    while (busy < 2)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    T_EQ_INT(health_code(base, &ms), 200);
    T_CHECK(ms < 1000);
    pthread_mutex_lock(&mu);
    release = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);

    /* total stream cap: a client that does not read */
    fd = raw_connect(port, 4096);
    T_CHECK(fd >= 0 && raw_send(fd, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&mu);
        bool done = last_rc != 1;
        pthread_mutex_unlock(&mu);
        if (done)
            break;
        sleep_ms(50);
    }
    T_EQ_INT(stream_rc, FL_EFULL);
    T_EQ_INT(last_rc, 0);
    fl_buf all = FL_BUF_INIT(64u << 20);
    T_CHECK(raw_read_until(fd, &all, "\"code\":410", 10000));
    fl_buf_done(&all);
    close(fd);

    fl_server_free(s);
    curl_global_cleanup();
    return t_done();
}
