/*
 * bench/bench_watch.c: many concurrent watches over the search API (query/
 * on a real index and a real HTTP server on loopback, in this process).
 *
 * Part 1, for 10 watches and then for --watches N (default 5000) watches of
 * /api/v1/pods?watch=1 from the current revision: the process's RSS and
 * thread count before and after the watches are open (memory per watch =
 * the RSS growth / N; it includes this process's client side, which is one
 * socket and a 256-byte tail per watch), then --rounds R index commits of
 * one pod change each: the delay from the commit's submission
 * (fl_index_submit_event) to each watcher's receipt of that event; printed
 * as p50/p99 over every watcher and round, and p50/p99 over rounds of the
 * delay to the *last* watcher. The raw limit beside it: the same commit to
 * one watcher (the 10-watch run).
 *
 * Part 2: --stalled S (default 256) watches whose client never reads, while
 * the index takes --churn updates/s of 1 KiB pods for --seconds; a
 * well-behaved client meanwhile GETs a pod by name once every 20 ms: its
 * p50/p99, the thread count, and how many stalled watches the server ended
 * (410 "fell behind"). Prints figures; never passes or fails.
 *
 * Usage: bench_watch [--watches N] [--rounds R] [--stalled S] [--churn U]
 *                    [--seconds T] [--conn-kib K (libmicrohttpd memory per connection)]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "base/base.h"
#include "index/index.h"
#include "query/query.h"
#include "server/server.h"

#define TAIL 256

static int arg_int(int argc, char **argv, const char *name, int def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return atoi(argv[i + 1]);
    return def;
}

/* VmRSS (KiB) or Threads of /proc/self/status. */
static long proc_status(const char *key)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)))
            v = strtol(line + strlen(key), NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int dial(uint16_t port, int rcvbuf)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_get(int fd, const char *path, bool close_after)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: b\r\n%s\r\n", path,
                     close_after ? "Connection: close\r\n" : "");
    return write(fd, req, (size_t)n) == n ? 0 : -1;
}

static int submit_pod(fl_index *idx, const char *type, int i, const char *mark, int pad)
{
    fl_index_src src = {"c-0", "", "v1", "pods", "Pod"};
    fl_buf b = FL_BUF_INIT(1u << 20);
    static int rv = 1000;
    int rc = fl_buf_printf(&b,
                           "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":"
                           "\"v1\",\"metadata\":{\"name\":\"pod-%d\",\"namespace\":\"ns\","
                           "\"uid\":\"u-%d\",\"resourceVersion\":\"%d\",\"labels\":{\"mark\":"
                           "\"%s\"},\"annotations\":{\"pad\":\"%*s\"}},\"spec\":{\"nodeName\":"
                           "\"n\"}}}",
                           type, i, i, ++rv, mark, pad, "");
    while (!rc && (rc = fl_index_submit_event(idx, &src, b.data, b.len, NULL)) == FL_EFULL)
        usleep(1000);
    fl_buf_done(&b);
    return rc;
}

static int64_t revision(fl_index *idx)
{
    fl_index_reader *rd = NULL;
    int64_t rev = 0;
    if (fl_index_reader_new(idx, &rd, NULL) == 0)
        fl_index_reader_revision(rd, &rev);
    fl_index_reader_free(rd);
    return rev;
}

/* ---- part 1: fan-out delay -------------------------------------------------- */

typedef struct watcher {
    int fd;
    char tail[TAIL];
    size_t ntail;
    bool got;
} watcher;

/* Read what fd has; true when the round's mark has arrived. */
static bool feed(watcher *w, const char *mark)
{
    char buf[65536 + TAIL];
    for (;;) {
        memcpy(buf, w->tail, w->ntail);
        ssize_t r = read(w->fd, buf + w->ntail, 65536);
        if (r <= 0)
            return w->got;
        size_t n = w->ntail + (size_t)r;
        buf[n] = 0;
        if (memmem(buf, n, mark, strlen(mark)))
            w->got = true;
        w->ntail = n < TAIL ? n : TAIL;
        memcpy(w->tail, buf + n - w->ntail, w->ntail);
    }
}

static void fanout(fl_index *idx, uint16_t port, int n, int rounds)
{
    watcher *ws = calloc((size_t)n, sizeof *ws);
    int64_t *all = calloc((size_t)n * (size_t)rounds, sizeof *all),
            *last = calloc((size_t)rounds, sizeof *last);
    size_t nall = 0;
    int ep = epoll_create1(0), open_ok = 0;
    char path[256], la[64];
    long rss0 = proc_status("VmRSS:"), th0 = proc_status("Threads:");
    snprintf(path, sizeof path,
             "/apis/clusterpedia.io/v1beta1/resources/api/v1/pods?watch=1&"
             "resourceVersion=%lld",
             (long long)revision(idx));
    for (int i = 0; i < n; i++) {
        ws[i].fd = dial(port, 0);
        if (ws[i].fd < 0 || send_get(ws[i].fd, path, false) != 0)
            continue;
        open_ok++;
    }
    /* every watch answered its headers (200) before the first commit */
    int answered = 0;
    for (int i = 0; i < n; i++) {
        char buf[4096];
        ssize_t r = ws[i].fd >= 0 ? read(ws[i].fd, buf, sizeof buf - 1) : -1;
        if (r > 12 && !memcmp(buf + 9, "200", 3))
            answered++;
        if (ws[i].fd >= 0) {
            nonblocking(ws[i].fd);
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
            epoll_ctl(ep, EPOLL_CTL_ADD, ws[i].fd, &ev);
        }
    }
    usleep(500000);
    long rss1 = proc_status("VmRSS:"), th1 = proc_status("Threads:");
    bench_loadavg(la, sizeof la);
    printf("%d watches: %d connected, %d answered 200; RSS %ld -> %ld MB (%.1f KiB per watch), "
           "threads %ld -> %ld; load average %s\n",
           n, open_ok, answered, rss0 / 1024, rss1 / 1024, (double)(rss1 - rss0) / n, th0, th1, la);
    for (int k = 0; k < rounds; k++) {
        char mark[32];
        int need = answered;
        snprintf(mark, sizeof mark, "round-%d-x", k);
        for (int i = 0; i < n; i++)
            ws[i].got = false;
        int64_t t0 = bench_now_ns(), deadline = t0 + 30 * 1000000000LL;
        submit_pod(idx, "MODIFIED", 1, mark, 16);
        while (need > 0 && bench_now_ns() < deadline) {
            struct epoll_event evs[256];
            int m = epoll_wait(ep, evs, 256, 100);
            for (int e = 0; e < m; e++) {
                watcher *w = &ws[evs[e].data.u32];
                if (!w->got && feed(w, mark)) {
                    all[nall++] = bench_now_ns() - t0;
                    last[k] = bench_now_ns() - t0;
                    need--;
                } else if (w->got) {
                    feed(w, mark);
                }
            }
        }
        if (need > 0)
            printf("  round %d: %d watchers missed the event within 30 s\n", k, need);
        usleep(200000);
    }
    int64_t p50 = bench_pct(all, nall, 0.5), p99 = bench_pct(all, nall, 0.99);
    int64_t l50 = bench_pct(last, (size_t)rounds, 0.5), l99 = bench_pct(last, (size_t)rounds, 0.99);
    printf("%d watches, %d commits: commit -> event p50 %.2f ms, p99 %.2f ms over %zu "
           "deliveries; to the last watcher p50 %.2f ms, p99 %.2f ms\n",
           n, rounds, p50 / 1e6, p99 / 1e6, nall, l50 / 1e6, l99 / 1e6);
    for (int i = 0; i < n; i++)
        if (ws[i].fd >= 0)
            close(ws[i].fd);
    close(ep);
    free(ws);
    free(all);
    free(last);
    usleep(1500000); /* the server notices the closed watches */
}

/* ---- part 2: stalled watchers and a well-behaved client -------------------- */

static int64_t get_once(uint16_t port, const char *path)
{
    char buf[65536];
    int64_t t0 = bench_now_ns();
    int fd = dial(port, 0);
    if (fd < 0 || send_get(fd, path, true) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while (read(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
    return bench_now_ns() - t0;
}

static void stalled(fl_index *idx, uint16_t port, int s, int churn, int seconds)
{
    int *fds = calloc((size_t)s, sizeof *fds);
    int64_t *lat = calloc((size_t)seconds * 100 + 16, sizeof *lat);
    size_t nlat = 0;
    long rss0 = proc_status("VmRSS:");
    for (int i = 0; i < s; i++) {
        fds[i] = dial(port, 4096);
        if (fds[i] >= 0)
            send_get(fds[i],
                     "/apis/clusterpedia.io/v1beta1/resources/api/v1/pods?watch=1&"
                     "resourceVersion=0",
                     false);
    }
    usleep(500000);
    long th = proc_status("Threads:");
    int64_t end = bench_now_ns() + (int64_t)seconds * 1000000000LL, next_get = 0, next_put = 0;
    int put = 0;
    while (bench_now_ns() < end) {
        int64_t t = bench_now_ns();
        if (t >= next_put) {
            char mark[32];
            snprintf(mark, sizeof mark, "churn-%d", put);
            submit_pod(idx, "MODIFIED", 100 + put % 500, mark, 1000);
            put++;
            next_put = t + 1000000000LL / churn;
        }
        if (t >= next_get) {
            int64_t d = get_once(port, "/apis/clusterpedia.io/v1beta1/resources/clusters/c-0/"
                                       "api/v1/namespaces/ns/pods/pod-7");
            if (d >= 0)
                lat[nlat++] = d;
            next_get = bench_now_ns() + 20000000LL;
        }
        usleep(1000);
    }
    long rss1 = proc_status("VmRSS:");
    int ended = 0;
    for (int i = 0; i < s; i++) { /* drain: an ended watch closes with the 410 */
        char buf[65536];
        bool e = false;
        nonblocking(fds[i]);
        ssize_t r;
        while ((r = read(fds[i], buf, sizeof buf)) > 0)
            if (memmem(buf, (size_t)r, "fell behind", 11))
                e = true;
        ended += e;
        close(fds[i]);
    }
    printf("%d stalled watches, %d updates/s of ~1 KiB for %d s (%d updates): good client "
           "GET by name p50 %.2f ms, p99 %.2f ms (%zu requests); threads %ld; RSS %ld -> %ld MB; "
           "%d stalled watches ended with 410 \"fell behind\"\n",
           s, churn, seconds, put, bench_pct(lat, nlat, 0.5) / 1e6,
           bench_pct(lat, nlat, 0.99) / 1e6, nlat, th, rss0 / 1024, rss1 / 1024, ended);
    free(fds);
    free(lat);
}

int main(int argc, char **argv)
{
    int n = arg_int(argc, argv, "--watches", 5000);
    int rounds = arg_int(argc, argv, "--rounds", 20);
    int s = arg_int(argc, argv, "--stalled", 256);
    int churn = arg_int(argc, argv, "--churn", 200);
    int seconds = arg_int(argc, argv, "--seconds", 15);
    char dir[] = "/tmp/flotilla-bench-watch-XXXXXX", path[128];
    if (!mkdtemp(dir) || n < 1 || rounds < 1 || churn < 1 || seconds < 1)
        return 1;
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    fl_query_opts qo = FL_QUERY_OPTS_INIT;
    fl_index *idx = NULL;
    fl_query *q = NULL;
    fl_server *srv = NULL;
    io.path = path;
    fl_log_set_level(FL_LOG_WARN);
    if (fl_index_open(&io, &idx, NULL) != 0)
        return 1;
    for (int i = 0; i < 600; i++)
        submit_pod(idx, "ADDED", i, "start", 1000);
    fl_index_flush(idx, 600000);
    const char *pods_res[] = {"pods"};
    fl_query_gv gv = {"", "v1", pods_res, 1};
    qo.index = idx;
    qo.gvs = &gv;
    qo.ngvs = 1;
    qo.anonymous_loopback = true;
    qo.watch_max = (unsigned)(n + s + 16);
    qo.watch_per_user = (unsigned)(n + s + 16);
    fl_server_opts_public(&so); /* the daemon's settings for untrusted clients */
    so.access_log = false;
    so.max_connections = (unsigned)(n + s + 64);
    so.max_per_client = 0; /* every client of this bench is 127.0.0.1 */
    if (arg_int(argc, argv, "--conn-kib", 0) > 0)
        so.connection_memory = (size_t)arg_int(argc, argv, "--conn-kib", 0) << 10;
    if (fl_query_new(&qo, &q, NULL) || fl_server_new(&so, &srv, NULL) || fl_query_route(q, srv) ||
        fl_server_route_health(srv) || fl_server_start(srv, NULL))
        return 1;
    printf("bench_watch: server threads %u, workers %u, %zu KiB buffered per stream at most, "
           "%zu KiB connection memory\n",
           so.threads, so.workers, so.stream_max_queued >> 10, so.connection_memory >> 10);
    fanout(idx, fl_server_port(srv), 10, rounds);
    fanout(idx, fl_server_port(srv), n, rounds);
    if (s > 0)
        stalled(idx, fl_server_port(srv), s, churn, seconds);
    fl_server_free(srv);
    fl_query_free(q);
    fl_index_close(idx);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    return system(path) == 0 ? 0 : 1;
}
