/*
 * bench/bench_hostile.c: the daemon's API under hostile clients (#19.3).
 * Runs `flotilla sim` (2 clusters, generated pods, churn) and `flotilla
 * serve` (the binary beside this one: ../cmd/flotilla), then measures what
 * a well-behaved client sees — /healthz and a GET by name, p50/p99 over
 * keep-alive connections — and the daemon's RSS:
 *   1. at rest;
 *   2. while one client address (127.0.0.2) holds 1,000 idle connections
 *      that trickle a header line every 5 s (slowloris), and four users
 *      from 127.0.0.3-6 hold 256 watches that never read while the sim
 *      churns (their events pile up);
 *   3. after the hostile clients left.
 * Also counts how many hostile connections the daemon kept, how many
 * watches it accepted and how many it ended with a 410 ERROR event.
 * Prints figures; never passes or fails.
 *
 * Usage: bench_hostile [--pods N (2000)] [--churn R (200 events/s/cluster)]
 *                      [--idle N (1000)] [--watches N (256)] [--hold S (20)]
 *                      [--samples K (400)]
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "base/base.h"
#include "kube/json.h"

typedef struct opts {
    long pods, churn, idle, watches, hold, samples;
} opts;

static char dir[] = "/tmp/flotilla-hostile-XXXXXX";
static pid_t sim_pid = -1, serve_pid = -1;
static uint16_t port;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t l = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- processes ------------------------------------------------------------- */

static pid_t spawn(char *const argv[], int *out_fd, const char *log)
{
    int p[2] = {-1, -1};
    if (out_fd && pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out_fd) {
            dup2(p[1], 1);
            close(p[0]);
        } else {
            dup2(fd, 1);
        }
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    return pid;
}

static void stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 200 && waitpid(pid, NULL, WNOHANG) == 0; i++)
        usleep(50000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void cleanup(void)
{
    char cmd[128];
    stop(serve_pid);
    stop(sim_pid);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- the good client ---------------------------------------------------- */

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    fl_buf *b = ud;
    if (b)
        fl_buf_append(b, p, sz * n);
    return sz * n;
}

/* GET url on h (keep-alive): the status, the time in *us, the body in b. */
static long get(CURL *h, const char *url, const char *token, int64_t *us, fl_buf *b)
{
    char auth[200];
    struct curl_slist *hd = NULL;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    if (token)
        hd = curl_slist_append(hd, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    long code = 0;
    int64_t t0 = now_us();
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (us)
        *us = now_us() - t0;
    curl_slist_free_all(hd);
    return code;
}

typedef struct lat {
    int64_t *v;
    long n, fails;
} lat;

static void print_lat(const char *what, lat *l)
{
    qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_i64);
    if (!l->n) {
        printf("  %-26s no answers (%ld failed)\n", what, l->fails);
        return;
    }
    printf("  %-26s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%ld ok, %ld failed)\n", what,
           l->v[l->n / 2] / 1000.0, l->v[(l->n * 99) / 100] / 1000.0, l->v[l->n - 1] / 1000.0,
           l->n, l->fails);
}

static char names[64][600];
static int nnames;

/* /healthz and GET by name, interleaved, k samples each. */
static void measure(const char *phase, const char *token, long k)
{
    CURL *h1 = curl_easy_init(), *h2 = curl_easy_init();
    lat hz = {calloc((size_t)k, sizeof(int64_t)), 0, 0}, gt = {calloc((size_t)k, sizeof(int64_t)), 0, 0};
    char url[800];
    for (long i = 0; i < k; i++) {
        int64_t us;
        snprintf(url, sizeof url, "http://127.0.0.1:%u/healthz", port);
        if (get(h1, url, NULL, &us, NULL) == 200)
            hz.v[hz.n++] = us;
        else
            hz.fails++;
        snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, names[i % nnames]);
        long code = get(h2, url, token, &us, NULL);
        if (code == 200 || code == 404) /* answered (the churn deletes pods) */
            gt.v[gt.n++] = us;
        else
            gt.fails++;
    }
    printf("%s (serve RSS %ld MB)\n", phase, rss_kb(serve_pid) / 1024);
    print_lat("/healthz", &hz);
    print_lat("GET pod by name", &gt);
    free(hz.v);
    free(gt.v);
    curl_easy_cleanup(h1);
    curl_easy_cleanup(h2);
}

/* ---- hostile clients ------------------------------------------------------ */

static int connect_from(const char *src, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0}, b = {0};
    if (fd < 0)
        return -1;
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    b.sin_family = AF_INET;
    inet_pton(AF_INET, src, &b.sin_addr);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&b, sizeof b) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void send_str(int fd, const char *s)
{
    if (fd >= 0 && write(fd, s, strlen(s)) < 0 && errno != EAGAIN)
        return;
}

/* Connections the server has not closed (no EOF or reset seen; data
 * waiting to be read counts as open). */
static long count_open(const int *fds, long n)
{
    long open_ = 0;
    for (long i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        char b[1];
        ssize_t r = recv(fds[i], b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
        open_ += r > 0 || (r < 0 && errno == EAGAIN);
    }
    return open_;
}

/* Read a watch socket until it ends or stays quiet for 300 ms: "200" and
 * "410" seen (a 410 may straddle two reads: the last bytes are kept). */
static void drain_watch(int fd, bool *ok, bool *gone)
{
    static char b[(1 << 16) + 64];
    size_t keep = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 300) <= 0)
            break;
        ssize_t r = read(fd, b + keep, sizeof b - keep - 1);
        if (r <= 0)
            break;
        b[keep + (size_t)r] = 0;
        *ok |= strstr(b, "HTTP/1.1 200") != NULL;
        *gone |= strstr(b, "\"code\":410") != NULL;
        size_t len = keep + (size_t)r;
        keep = len < 32 ? len : 32;
        memmove(b, b + len - keep, keep);
    }
}

static long opt_val(int argc, char **argv, const char *name, long def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return strtol(argv[i + 1], NULL, 10);
    return def;
}

/* ---- setup ------------------------------------------------------------------ */

static int start(const opts *o, char *bin, char *admin, size_t asz, char *rv, size_t rvsz)
{
    char buf[4096], cfg[PATH_MAX], log[PATH_MAX], pods[32], churn[32], kdir[PATH_MAX];
    int out = -1;
    snprintf(pods, sizeof pods, "%ld", o->pods / 2);
    snprintf(churn, sizeof churn, "%ld", o->churn);
    snprintf(cfg, sizeof cfg, "%s/flotilla.yaml", dir);
    snprintf(kdir, sizeof kdir, "%s", dir);
    snprintf(log, sizeof log, "%s/sim.log", dir);
    char *sa[] = {bin, "sim", "--clusters", "2", "--pods", pods, "--namespaces", "10", "--churn",
                  churn, "--no-controllers", "--kubeconfig-dir", kdir, "--write-config", cfg,
                  NULL};
    if ((sim_pid = spawn(sa, &out, log)) < 0)
        return -1;
    FILE *f = fdopen(out, "r");
    bool ready = false;
    while (f && fgets(buf, sizeof buf, f))
        if (!strncmp(buf, "ready", 5)) {
            ready = true;
            break;
        }
    if (!ready)
        return -1;
    /* config: our port, data dir, tokens for the watch users */
    fl_buf y = FL_BUF_INIT(1u << 20);
    fl_err e = FL_ERR_INIT;
    if (fl_buf_read_file(&y, cfg, &e) != 0)
        return -1;
    snprintf(buf, sizeof buf, "%s/tokens.csv", dir);
    FILE *t = fopen(buf, "r+");
    if (!t || !fgets(admin, (int)asz, t))
        return -1;
    *strchr(admin, ',') = 0;
    fseek(t, 0, SEEK_END);
    for (int i = 0; i < 4; i++)
        fprintf(t, "watcher-%d-token,watcher-%d,\"team\"\n", i, i);
    fclose(t);
    port = free_port();
    char *p = strstr(y.data, "listen: 127.0.0.1:7443");
    char *d = strstr(y.data, "dataDir: ./flotilla-data");
    if (!p || !d)
        return -1;
    FILE *w = fopen(cfg, "w");
    fprintf(w, "%.*slisten: 127.0.0.1:%u\ndataDir: %s/data\n%s", (int)(p - y.data), y.data, port,
            dir, d + strlen("dataDir: ./flotilla-data\n"));
    fclose(w);
    fl_buf_done(&y);
    snprintf(log, sizeof log, "%s/serve.log", dir);
    char *va[] = {bin, "serve", "-c", cfg, NULL};
    if ((serve_pid = spawn(va, NULL, log)) < 0)
        return -1;
    /* wait for the pods, pick names */
    CURL *h = curl_easy_init();
    for (int i = 0; i < 600; i++) {
        fl_buf b = FL_BUF_INIT(64u << 20);
        snprintf(buf, sizeof buf,
                 "http://127.0.0.1:%u/apis/clusterpedia.io/v1beta1/resources/api/v1/pods?limit=64",
                 port);
        long code = get(h, buf, admin, NULL, &b);
        json_t *j = NULL;
        if (code == 200 && fl_json_parse(b.data, b.len, &j, NULL) == 0) {
            json_t *items = json_object_get(j, "items"), *it;
            size_t k;
            nnames = 0;
            json_array_foreach(items, k, it) {
                const char *ns = fl_obj_str(it, "metadata.namespace");
                const char *nm = fl_obj_str(it, "metadata.name");
                const char *cl = json_string_value(json_object_get(
                    fl_obj_get(it, "metadata.annotations"), "shadow.clusterpedia.io/cluster-name"));
                if (ns && nm && nnames < 64)
                    snprintf(names[nnames++], sizeof names[0],
                             "/apis/clusterpedia.io/v1beta1/resources/clusters/%s/api/v1/"
                             "namespaces/%s/pods/%s", cl ? cl : "east-1", ns, nm);
            }
            const char *r = fl_obj_str(j, "metadata.resourceVersion");
            snprintf(rv, rvsz, "%s", r ? r : "0");
        }
        json_decref(j);
        fl_buf_done(&b);
        if (nnames >= 32)
            break;
        usleep(200000);
    }
    curl_easy_cleanup(h);
    return nnames > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    opts o = {opt_val(argc, argv, "--pods", 2000), opt_val(argc, argv, "--churn", 200),
              opt_val(argc, argv, "--idle", 1000), opt_val(argc, argv, "--watches", 256),
              opt_val(argc, argv, "--hold", 20), opt_val(argc, argv, "--samples", 400)};
    char self[PATH_MAX], bin[PATH_MAX + 32], admin[256], rv[64], load[64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    struct rlimit rl = {8192, 8192};
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    if (n <= 0 || !mkdtemp(dir))
        return 1;
    self[n] = 0;
    *strrchr(self, '/') = 0;
    snprintf(bin, sizeof bin, "%s/../cmd/flotilla", self);
    curl_global_init(CURL_GLOBAL_ALL);
    if (start(&o, bin, admin, sizeof admin, rv, sizeof rv) != 0) {
        fprintf(stderr, "bench_hostile: could not start sim + serve (see %s)\n", dir);
        stop(serve_pid);
        stop(sim_pid);
        return 1;
    }
    bench_loadavg(load, sizeof load);
    printf("bench_hostile: %ld pods in 2 clusters, churn %ld/s/cluster; load %s\n", o.pods,
           o.churn, load);
    measure("1. at rest", admin, o.samples);

    /* hostile: idle slowloris connections from one address */
    int *idle = calloc((size_t)o.idle, sizeof(int)), *wfd = calloc((size_t)o.watches, sizeof(int));
    long peak = 0;
    int64_t t0 = now_us();
    for (long i = 0; i < o.idle; i++) {
        idle[i] = connect_from("127.0.0.2", 0);
        send_str(idle[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    }
    /* 256 watches that never read, from four users on four addresses */
    for (long i = 0; i < o.watches; i++) {
        char src[32], req[1024];
        snprintf(src, sizeof src, "127.0.0.%ld", 3 + i % 4);
        wfd[i] = connect_from(src, 4096);
        snprintf(req, sizeof req,
                 "GET /apis/clusterpedia.io/v1beta1/resources/api/v1/pods?watch=1&"
                 "resourceVersion=%s&allowWatchBookmarks=true HTTP/1.1\r\nHost: x\r\n"
                 "Authorization: Bearer watcher-%ld-token\r\n\r\n", rv, i % 4);
        send_str(wfd[i], req);
    }
    usleep(1000000);
    long idle_kept = count_open(idle, o.idle), watch_open = count_open(wfd, o.watches);
    printf("2. hostile: %ld idle connections from 127.0.0.2 (kept after 1 s: %ld), %ld stalled "
           "watches (open after 1 s: %ld)\n", o.idle, idle_kept, o.watches, watch_open);
    /* hold: trickle header lines (slowloris), sample RSS, measure */
    int64_t end = now_us() + o.hold * 1000000;
    while (now_us() < end) {
        for (long i = 0; i < o.idle; i++)
            send_str(idle[i], "X-Slow: 1\r\n");
        long r = rss_kb(serve_pid);
        peak = r > peak ? r : peak;
        usleep(1000000);
    }
    measure("   while held", admin, o.samples);
    long r = rss_kb(serve_pid);
    peak = r > peak ? r : peak;
    long idle_left = count_open(idle, o.idle), w_ok = 0, w_gone = 0;
    for (long i = 0; i < o.watches; i++) {
        bool ok = false, gone = false;
        if (wfd[i] >= 0)
            drain_watch(wfd[i], &ok, &gone);
        w_ok += ok;
        w_gone += gone;
    }
    printf("   after %.0f s: idle connections still open %ld; watches answered 200: %ld, ended "
           "with a 410 ERROR: %ld; serve RSS peak %ld MB\n",
           (now_us() - t0) / 1e6, idle_left, w_ok, w_gone, peak / 1024);
    for (long i = 0; i < o.idle; i++)
        if (idle[i] >= 0)
            close(idle[i]);
    for (long i = 0; i < o.watches; i++)
        if (wfd[i] >= 0)
            close(wfd[i]);
    free(idle);
    free(wfd);
    usleep(3000000);
    measure("3. after they left (3 s)", admin, o.samples);
    curl_global_cleanup();
    cleanup();
    return 0;
}
