/*
 * bench/bench_collector.c: initial sync through the collector — fake member
 * clusters (tests/collector/fake_apiserver.py, objects padded to a realistic
 * size) listed page by page over loopback HTTP into a fresh index — beside,
 * in the same run, the limits it chases: jansson parsing the same list
 * bytes, and the index ingesting them directly (fl_index_submit_list, no
 * HTTP). Prints objects/s, seconds, peak RSS and DB bytes per object.
 * Never pass/fail.
 *
 * Usage: bench_collector [pods-per-cluster (20000)] [clusters (2)] [pad bytes (3000)]
 * Needs FLOTILLA_SRC (or run from the repository root) for the fake.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector/collector.h"
#include "index/index.h"
#include "kube/kube.h"

typedef struct fake {
    pid_t pid;
    int port;
} fake;

static int spawn_fake(fake *f, long pods, long pad)
{
    const char *src = getenv("FLOTILLA_SRC");
    char script[512], np[32], pp[32];
    int fds[2];
    snprintf(script, sizeof script, "%s/tests/collector/fake_apiserver.py", src ? src : ".");
    snprintf(np, sizeof np, "%ld", pods);
    snprintf(pp, sizeof pp, "%ld", pad);
    if (pipe(fds) != 0)
        return -1;
    f->pid = fork();
    if (f->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", script, "--pods", np, "--pad", pp, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char buf[32] = {0};
    size_t n = 0;
    while (n < sizeof buf - 1 && !memchr(buf, '\n', n)) {
        ssize_t got = read(fds[0], buf + n, sizeof buf - 1 - n);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(fds[0]);
    char *nl = memchr(buf, '\n', n);
    int64_t port;
    if (!nl || fl_parse_i64(buf, (size_t)(nl - buf), &port) != 0)
        return -1;
    f->port = (int)port;
    return 0;
}

static int64_t count(fl_index *idx)
{
    fl_index_reader *rd = NULL;
    int64_t n = -1;
    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = "";
    q.resource = "pods";
    if (fl_index_reader_new(idx, &rd, NULL) == 0)
        fl_index_count(rd, &q, &n, NULL);
    fl_index_reader_free(rd);
    return n;
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static long long db_bytes(const char *db)
{
    char p[600];
    struct stat st;
    long long total = 0;
    const char *sfx[] = {"", "-wal"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s", db, sfx[i]);
        if (stat(p, &st) == 0)
            total += st.st_size;
    }
    return total;
}

static int open_index(const char *path, fl_index **idx)
{
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_err err = FL_ERR_INIT;
    io.path = path;
    if (fl_index_open(&io, idx, &err) != 0) {
        fprintf(stderr, "index: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Fetch every page of the fake's pods (limit 500) for the baselines.
 * Returns the number of pages stored in pages[0..max). */
static size_t fetch_pages(const fake *f, fl_buf *pages, size_t max)
{
    char server[64], path[1024];
    fl_kube_conn_info info = FL_KUBE_CONN_INFO_INIT;
    fl_kube_conn *conn = NULL;
    size_t n = 0;
    snprintf(server, sizeof server, "http://127.0.0.1:%d", f->port);
    info.server = server;
    if (fl_kube_conn_new(&info, &conn, NULL) != 0)
        return 0;
    char cont[512] = "";
    while (n < max) {
        fl_kube_response res;
        snprintf(path, sizeof path, "/api/v1/pods?limit=500%s%s", cont[0] ? "&continue=" : "",
                 cont);
        int rc = fl_kube_get_sync(conn, path, 60000, &res, NULL);
        if (rc == 0) {
            pages[n++] = res.body;
            res.body = (fl_buf)FL_BUF_INIT(0);
        }
        fl_kube_response_done(&res);
        json_t *doc = NULL;
        if (rc || fl_json_parse(pages[n - 1].data, pages[n - 1].len, &doc, NULL) != 0)
            break;
        const char *c = fl_obj_str(doc, "metadata.continue");
        fl_strlcpy(cont, c ? c : "", sizeof cont);
        json_decref(doc);
        if (!cont[0])
            break;
    }
    fl_kube_conn_unref(conn);
    return n;
}

static double secs(int64_t t0)
{
    return (double)(fl_mono_ms() - t0) / 1000.0;
}

/* The collector: every fake listed into a fresh index. */
static double run_collector(fake *fakes, long clusters, const char *dir, int64_t want,
                            long long *dbb)
{
    char db[512], kc[64][512], names[64][16];
    fl_collector_member mem[64];
    snprintf(db, sizeof db, "%s/collector.db", dir);
    for (long i = 0; i < clusters; i++) {
        snprintf(names[i], sizeof names[i], "c%ld", i);
        snprintf(kc[i], sizeof kc[i], "%s/%s.kubeconfig", dir, names[i]);
        FILE *f = fopen(kc[i], "w");
        if (!f)
            return -1;
        fprintf(f, "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n"
                   "  cluster: {server: \"http://127.0.0.1:%d\"}\nusers:\n- name: u\n  user: {}\n"
                   "contexts:\n- name: c\n  context: {cluster: c, user: u}\n", fakes[i].port);
        fclose(f);
        mem[i] = (fl_collector_member){names[i], kc[i], NULL};
    }
    fl_index *idx = NULL;
    if (open_index(db, &idx))
        return -1;
    const char *res[] = {"pods"};
    fl_collector_gv gv = {"", "v1", res, 1};
    fl_collector_opts co = FL_COLLECTOR_OPTS_INIT;
    co.index = idx;
    co.members = mem;
    co.nmembers = (size_t)clusters;
    co.resources = &gv;
    co.nresources = 1;
    fl_collector *c = NULL;
    fl_err err = FL_ERR_INIT;
    int64_t t0 = fl_mono_ms();
    if (fl_collector_new(&co, &c, &err) || fl_collector_start(c, &err)) {
        fprintf(stderr, "collector: %s\n", err.msg);
        fl_collector_free(c);
        fl_index_close(idx);
        return -1;
    }
    while (count(idx) < want && secs(t0) < 600)
        usleep(20000);
    double t = secs(t0);
    fl_collector_free(c);
    fl_index_flush(idx, 60000);
    fl_index_close(idx);
    *dbb = db_bytes(db);
    return t;
}

/* The index alone: the same pages submitted directly, once per cluster. */
static double run_index(fl_buf *pages, size_t npages, long clusters, const char *dir)
{
    char db[512];
    snprintf(db, sizeof db, "%s/raw.db", dir);
    fl_index *idx = NULL;
    if (open_index(db, &idx))
        return -1;
    int64_t t0 = fl_mono_ms();
    for (long c = 0; c < clusters; c++) {
        char name[16];
        snprintf(name, sizeof name, "c%ld", c);
        fl_index_src src = {name, "", "v1", "pods", "Pod"};
        fl_index_relist_begin(idx, &src, NULL);
        for (size_t i = 0; i < npages; i++)
            while (fl_index_submit_list(idx, &src, pages[i].data, pages[i].len, NULL) == FL_EFULL)
                usleep(1000);
        fl_index_relist_end(idx, &src, "1", NULL);
    }
    fl_index_flush(idx, 600000);
    double t = secs(t0);
    fl_index_close(idx);
    return t;
}

/* jansson parsing the same bytes (the per-core parse ceiling). */
static double run_parse(fl_buf *pages, size_t npages, long clusters)
{
    int64_t t0 = fl_mono_ms();
    for (long c = 0; c < clusters; c++)
        for (size_t i = 0; i < npages; i++) {
            json_t *doc = json_loadb(pages[i].data, pages[i].len, 0, NULL);
            json_decref(doc);
        }
    return secs(t0);
}

int main(int argc, char **argv)
{
    long pods = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    long clusters = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
    long pad = argc > 3 ? strtol(argv[3], NULL, 10) : 3000;
    if (pods < 1 || clusters < 1 || clusters > 64 || pad < 0) {
        fprintf(stderr, "usage: bench_collector [pods (20000)] [clusters 1..64 (2)] [pad (3000)]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    fl_log_set_level(FL_LOG_ERROR);
    char dir[] = "/tmp/fl-bench-collector-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    fake fakes[64] = {{0}};
    for (long i = 0; i < clusters; i++)
        if (spawn_fake(&fakes[i], pods, pad) != 0) {
            fprintf(stderr, "cannot start the fake apiserver (set FLOTILLA_SRC)\n");
            return 1;
        }
    int64_t want = (pods + 1) * clusters; /* + kube-system/coredns each */
    long long dbb = 0;
    double tc = run_collector(fakes, clusters, dir, want, &dbb);
    long rss_c = peak_rss_mb();
    size_t maxp = (size_t)(pods / 500 + 2);
    fl_buf *pages = calloc(maxp, sizeof *pages);
    size_t np = pages ? fetch_pages(&fakes[0], pages, maxp) : 0;
    size_t bytes = 0;
    for (size_t i = 0; i < np; i++)
        bytes += pages[i].len;
    double tp = run_parse(pages, np, clusters);
    double ti = run_index(pages, np, clusters, dir);
    printf("bench_collector: %ld clusters x %ld pods (+1 each), %.0f bytes/object JSON\n",
           clusters, pods, (double)bytes / (double)(pods + 1));
    printf("  collector initial sync  %8.2f s  %9.0f objects/s  peak RSS %ld MB  DB %.0f bytes/object\n",
           tc, (double)want / tc, rss_c, (double)dbb / (double)want);
    printf("  raw: index ingest       %8.2f s  %9.0f objects/s  (same bytes, no HTTP)\n", ti,
           (double)want / ti);
    printf("  raw: jansson parse      %8.2f s  %9.0f objects/s  (one core)\n", tp,
           (double)want / tp);
    printf("  collector / index ingest = %.0f%%\n", 100.0 * ti / tc);
    for (size_t i = 0; i < np; i++)
        fl_buf_done(&pages[i]);
    free(pages);
    for (long i = 0; i < clusters; i++) {
        kill(fakes[i].pid, SIGKILL);
        waitpid(fakes[i].pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
