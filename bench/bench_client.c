/*
 * bench/bench_client.c: what kube/client.h costs on the loop thread.
 * An in-process plain-HTTP server thread (loopback) serves
 *   - a chunked NDJSON watch stream of N events of ~1 KiB, and
 *   - small JSON answers for request/response round trips;
 * the client streams the events line by line and runs many small GETs
 * (64 in flight). Beside each figure it prints the raw baseline in the same
 * run: the same bytes read with a bare recv() loop, and the same GETs as
 * sequential keep-alive exchanges over one bare socket.
 * Prints figures, never pass/fail.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "kube/kube.h"

#define EVENTS 200000
#define GETS 20000
#define INFLIGHT 64

static const char watch_head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n";
static const char ok_answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 14\r\n\r\n{\"kind\":\"Ok\"}\n";
static int listen_fd;
static uint16_t port;
static char *event_block; /* EVENTS lines as one chunked body */
static size_t event_block_len;

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One connection: read requests (headers only), answer each. */
static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        char *end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
        if (!end) {
            if (have == sizeof buf)
                break;
            ssize_t r = read(fd, buf + have, sizeof buf - have);
            if (r <= 0)
                break;
            have += (size_t)r;
            continue;
        }
        bool watch = strncmp(buf, "GET /watch", 10) == 0;
        size_t used = (size_t)(end - buf) + 4;
        memmove(buf, buf + used, have - used);
        have -= used;
        if (watch) {
            if (write_all(fd, watch_head, strlen(watch_head)) ||
                write_all(fd, event_block, event_block_len))
                break;
        } else if (write_all(fd, ok_answer, strlen(ok_answer))) {
            break;
        }
    }
    close(fd);
    return NULL;
}

static void *acceptor(void *arg)
{
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_t t;
        pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

static void make_events(void)
{
    fl_buf b = FL_BUF_INIT((size_t)EVENTS * 1200 + 64);
    char pad[900];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    for (int i = 0; i < EVENTS; i++) {
        char line[1100];
        int n = snprintf(
            line, sizeof line,
            "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"pod-%d\","
            "\"resourceVersion\":\"%d\"},\"spec\":{\"x\":\"%s\"}}}\n",
            i, i, pad);
        fl_buf_printf(&b, "%x\r\n", n);
        fl_buf_append(&b, line, (size_t)n);
        fl_buf_puts(&b, "\r\n");
    }
    fl_buf_puts(&b, "0\r\n\r\n");
    event_block_len = b.len;
    event_block = fl_buf_steal(&b);
}

static int start_server(void)
{
    struct sockaddr_in a = {0};
    socklen_t al = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) ||
        listen(listen_fd, 256) || getsockname(listen_fd, (struct sockaddr *)&a, &al))
        return -1;
    port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, acceptor, NULL);
    pthread_detach(t);
    return 0;
}

static int connect_raw(void)
{
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- baselines ---- */

static double raw_stream(void)
{
    int fd = connect_raw();
    const char *req = "GET /watch HTTP/1.1\r\nHost: x\r\n\r\n";
    int64_t t0 = fl_mono_ms();
    size_t total = 0;
    static char buf[1 << 16];
    write_all(fd, req, strlen(req));
    while (total < strlen(watch_head) + event_block_len) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0)
            break;
        total += (size_t)r;
    }
    close(fd);
    return (double)(fl_mono_ms() - t0) / 1000.0;
}

static double raw_gets(void)
{
    int fd = connect_raw();
    const char *req = "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[512];
    int64_t t0 = fl_mono_ms();
    for (int i = 0; i < GETS; i++) {
        write_all(fd, req, strlen(req));
        size_t got = 0;
        while (got < strlen(ok_answer)) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0)
                goto out;
            got += (size_t)r;
        }
    }
out:
    close(fd);
    return (double)(fl_mono_ms() - t0) / 1000.0;
}

/* ---- the client ---- */

static uint64_t lines;
static int done_count, started;
static fl_kube_client *cl;

static int on_line(fl_kube_req *req, const char *line, size_t len, void *ud)
{
    lines++;
    return 0;
}

static void on_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    done_count++;
    if (res->err)
        fprintf(stderr, "request failed: %s: %s\n", res->reason, res->message);
}

static void on_get_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    done_count++;
    if (started < GETS) {
        fl_kube_request rq = FL_KUBE_REQUEST_INIT;
        rq.path = "/ok";
        started++;
        fl_kube_client_request(cl, &rq, NULL, on_get_done, NULL, NULL);
    }
}

int main(void)
{
    make_events();
    if (start_server() != 0) {
        perror("server");
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    fl_kube_conn_info in = FL_KUBE_CONN_INFO_INIT;
    in.server = url;
    fl_kube_conn *conn = NULL;
    fl_err e = FL_ERR_INIT;
    uv_loop_t *loop = uv_default_loop();
    if (fl_kube_conn_new(&in, &conn, &e) || fl_kube_client_new(loop, conn, NULL, &cl, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double mb = (double)event_block_len / 1e6;

    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    rq.path = "/watch";
    rq.stream = true;
    int64_t t0 = fl_mono_ms();
    fl_kube_client_request(cl, &rq, on_line, on_done, NULL, NULL);
    while (done_count < 1)
        uv_run(loop, UV_RUN_ONCE);
    double ts = (double)(fl_mono_ms() - t0) / 1000.0;
    double tr = raw_stream();
    printf("watch stream, %d events of ~1 KiB (%.0f MB), loopback HTTP/1.1 chunked:\n", EVENTS, mb);
    printf("  client lines  %10.0f events/s  %8.0f MB/s  (%llu lines)\n", EVENTS / ts, mb / ts,
           (unsigned long long)lines);
    printf("  raw recv()    %10.0f events/s  %8.0f MB/s  (baseline)\n", EVENTS / tr, mb / tr);

    done_count = 0;
    rq.path = "/ok";
    rq.stream = false;
    t0 = fl_mono_ms();
    for (started = 0; started < INFLIGHT; started++)
        fl_kube_client_request(cl, &rq, NULL, on_get_done, NULL, NULL);
    while (done_count < GETS)
        uv_run(loop, UV_RUN_ONCE);
    double tg = (double)(fl_mono_ms() - t0) / 1000.0;
    double trg = raw_gets();
    printf("small GETs, %d requests, %d in flight on one loop thread:\n", GETS, INFLIGHT);
    printf("  client        %10.0f req/s\n", GETS / tg);
    printf("  raw socket    %10.0f req/s  (baseline: one keep-alive socket, sequential)\n",
           GETS / trg);

    fl_kube_client_close(cl, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    fl_kube_conn_unref(conn);
    free(event_block);
    return 0;
}
