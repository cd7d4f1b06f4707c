/*
 * tests/query/test_watchers.c: many watches cost no threads, and a watcher
 * that does not read costs only its bounded buffer. Over a real index and
 * a real HTTP server on loopback: 300 open watches leave the process's
 * thread count where it was; one commit reaches every one of them; a
 * watcher that never reads (tiny receive buffer, 64 KiB stream cap) is
 * ended with a 410 "fell behind" ERROR event while a GET by name still
 * answers; fl_query_free with watches open ends them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "query/query.h"
#include "tests/test.h"

#define NWATCH 300

static uint16_t port;

static long threads(void)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Threads:", 8))
            v = strtol(line + 8, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int dial(int rcvbuf)
{
    return t_dial(port, NULL, rcvbuf);
}

static int send_get(int fd, const char *path, bool close_after)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s%s HTTP/1.1\r\nHost: t\r\n%s\r\n", FL_QUERY_PREFIX,
                     path, close_after ? "Connection: close\r\n" : "");
    return write(fd, req, (size_t)n) == n ? 0 : -1;
}

/* Read fd until needle shows up or ms pass; true when it did. */
static bool wait_for(int fd, const char *needle, int ms)
{
    char buf[65536 + 64];
    size_t keep = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t r = read(fd, buf + keep, 65536);
        if (r <= 0)
            return false;
        size_t n = keep + (size_t)r;
        buf[n] = 0;
        if (memmem(buf, n, needle, strlen(needle)))
            return true;
        keep = n < 64 ? n : 64;
        memmove(buf, buf + n - keep, keep);
    }
}

static void submit_pod(fl_index *idx, int name, const char *mark, int pad)
{
    static int rv = 1;
    fl_buf b = FL_BUF_INIT(1u << 20);
    fl_index_src src = {"c-1", "", "v1", "pods", "Pod"};
    T_EQ_INT(fl_buf_printf(&b,
                           "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"p%d\","
                           "\"namespace\":\"ns\",\"uid\":\"u%d\",\"resourceVersion\":\"%d\","
                           "\"labels\":{\"mark\":\"%s\"},\"annotations\":{\"pad\":\"%*s\"}},"
                           "\"spec\":{}}}",
                           name, name, ++rv, mark, pad, ""),
             0);
    int rc;
    while ((rc = fl_index_submit_event(idx, &src, b.data, b.len, NULL)) == FL_EFULL)
        usleep(1000);
    T_EQ_INT(rc, 0);
    fl_buf_done(&b);
}

static int get_status(const char *path)
{
    return t_http_get(port, FL_QUERY_PREFIX, path, NULL);
}

int main(void)
{
    char dir[] = "/tmp/flotilla-query-watchers-XXXXXX", path[256];
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_query_opts qo = FL_QUERY_OPTS_INIT;
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    fl_index *idx = NULL;
    fl_query *q = NULL;
    fl_server *srv = NULL;
    const char *pods_res[] = {"pods"};
    fl_query_gv gv = {"", "v1", pods_res, 1};
    static int fds[NWATCH];
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/index.db", dir);
    io.path = path;
    T_EQ_INT(fl_index_open(&io, &idx, NULL), 0);
    for (int i = 0; i < 10; i++)
        submit_pod(idx, i, "start", 10);
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    qo.index = idx;
    qo.anonymous_loopback = true;
    qo.gvs = &gv;
    qo.ngvs = 1;
    qo.watch_per_user = NWATCH + 10;
    so.access_log = false;
    so.max_connections = NWATCH + 50;
    so.stream_max_queued = 64u << 10;
    T_EQ_INT(fl_query_new(&qo, &q, NULL), 0);
    T_EQ_INT(fl_server_new(&so, &srv, NULL), 0);
    T_EQ_INT(fl_query_route(q, srv), 0);
    T_EQ_INT(fl_server_start(srv, NULL), 0);
    port = fl_server_port(srv);
    long before = threads();

    /* many watches, no thread each; one commit reaches them all */
    for (int i = 0; i < NWATCH; i++) {
        fds[i] = dial(0);
        T_CHECK(fds[i] >= 0);
        T_EQ_INT(send_get(fds[i], "/api/v1/pods?watch=1", false), 0);
    }
    for (int i = 0; i < NWATCH; i++)
        T_CHECK(wait_for(fds[i], "200 OK", 10000));
    long during = threads();
    fprintf(stderr, "threads: %ld before, %ld with %d watches open\n", before, during, NWATCH);
    T_CHECK(during <= before + 2);
    submit_pod(idx, 3, "fanout", 10);
    int got = 0;
    for (int i = 0; i < NWATCH; i++)
        got += wait_for(fds[i], "fanout", 20000);
    T_EQ_INT(got, NWATCH);
    for (int i = 0; i < NWATCH; i++)
        close(fds[i]);

    /* a watcher that never reads is ended (410), others are served meanwhile */
    int stalled = dial(2048);
    T_CHECK(stalled >= 0);
    T_EQ_INT(send_get(stalled, "/api/v1/pods?watch=1&resourceVersion=0", false), 0);
    usleep(200000);
    for (int i = 0; i < 3000; i++) /* ~12 MB of events: past every buffer on the way */
        submit_pod(idx, 100 + i % 50, "churn", 4000);
    T_EQ_INT(fl_index_flush(idx, 60000), 0);
    T_EQ_INT(get_status("/clusters/c-1/api/v1/namespaces/ns/pods/p3"), 200);
    fcntl(stalled, F_SETFL, fcntl(stalled, F_GETFL) | O_NONBLOCK);
    T_CHECK(wait_for(stalled, "fell behind", 30000));
    close(stalled);

    /* teardown with a watch open ends it */
    int last = dial(0);
    T_EQ_INT(send_get(last, "/api/v1/pods?watch=1", false), 0);
    T_CHECK(wait_for(last, "200 OK", 10000));
    fl_server_free(srv);
    fl_query_free(q);
    close(last);
    fl_index_close(idx);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    T_EQ_INT(system(path), 0);
    return t_done();
}
