/*
 * bench/bench_server.c: requests/s of server/ for a tiny JSON answer
 * (encoded per request by fl_request_reply_json) and a 20 KB answer, with
 * wrk on 64 keep-alive connections, beside the raw limit measured in the
 * same run: a minimal libmicrohttpd server (same thread pool, epoll,
 * static response, queued on the second callback so keep-alive holds).
 * Prints figures only; never passes or fails.
 *
 * Usage: bench_server [seconds per run, default 2] [threads, default 2]
 * Each figure is the best of 3 interleaved rounds (machines are shared).
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "kube/kube.h"

#define BIG_LEN (20u * 1024u)
#define ROUNDS 3

static char big[BIG_LEN];
static const char tiny_json[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                "\"status\":\"Success\",\"code\":200}\n";

static void tiny_h(fl_request *r, void *ud)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string("Status"));
    json_object_set_new(o, "apiVersion", json_string("v1"));
    json_object_set_new(o, "metadata", json_object());
    json_object_set_new(o, "status", json_string("Success"));
    json_object_set_new(o, "code", json_integer(200));
    fl_request_reply_json(r, 200, o);
}

static void big_h(fl_request *r, void *ud)
{
    fl_request_reply(r, 200, "application/json", big, sizeof(big));
}

/* ---- the raw libmicrohttpd baseline ------------------------------------ */
typedef struct raw {
    struct MHD_Response *tiny, *big;
} raw;

static enum MHD_Result raw_access(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *up,
                                  size_t *up_size, void **con_cls)
{
    raw *rw = cls;
    static int second;
    if (!*con_cls) { /* first callback: wait for the next (keep-alive) */
        *con_cls = &second;
        return MHD_YES;
    }
    return MHD_queue_response(c, 200, strcmp(url, "/big") == 0 ? rw->big : rw->tiny);
}

static struct MHD_Daemon *raw_start(raw *rw, unsigned threads)
{
    rw->tiny = MHD_create_response_from_buffer(sizeof(tiny_json) - 1, (void *)tiny_json,
                                               MHD_RESPMEM_PERSISTENT);
    rw->big = MHD_create_response_from_buffer(sizeof(big), big, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(rw->tiny, "Content-Type", "application/json");
    MHD_add_response_header(rw->big, "Content-Type", "application/json");
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                            raw_access, rw, MHD_OPTION_THREAD_POOL_SIZE, threads,
                            MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_END);
}

static uint16_t raw_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : 0;
}

/* ---- wrk ---------------------------------------------------------------- */
static double wrk(uint16_t port, const char *path, int64_t secs)
{
    char cmd[256], line[512];
    double rps = -1;
    snprintf(cmd, sizeof(cmd), "wrk -t2 -c64 -d%llds http://127.0.0.1:%u%s 2>&1", (long long)secs,
             port, path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    while (fgets(line, sizeof(line), p)) {
        if (strncmp(line, "Requests/sec:", 13) == 0)
            rps = strtod(line + 13, NULL);
        if (strstr(line, "Non-2xx") || strstr(line, "Socket errors"))
            fprintf(stderr, "  wrk: %s", line);
    }
    pclose(p);
    return rps;
}

int main(int argc, char **argv)
{
    int64_t secs = 2, threads = 2;
    if (argc > 1 && (fl_parse_i64(argv[1], strlen(argv[1]), &secs) || secs <= 0 || secs > 600))
        secs = 2;
    if (argc > 2 &&
        (fl_parse_i64(argv[2], strlen(argv[2]), &threads) || threads <= 0 || threads > 64))
        threads = 2;
    fl_err err = FL_ERR_INIT;
    fl_server_opts o = FL_SERVER_OPTS_INIT;
    fl_server *s = NULL;
    raw rw;
    memset(big, 'x', sizeof(big));
    big[0] = '"';
    big[sizeof(big) - 2] = '"';
    big[sizeof(big) - 1] = '\n';
    fl_log_set_level(FL_LOG_WARN);
    o.name = "bench";
    o.threads = (unsigned)threads;
    o.access_log = false;
    if (fl_server_new(&o, &s, &err) || fl_server_route(s, "GET", "/tiny", tiny_h, NULL) ||
        fl_server_route(s, "GET", "/big", big_h, NULL) || fl_server_start(s, &err)) {
        fprintf(stderr, "bench_server: %s\n", err.msg);
        fl_server_free(s);
        return 1;
    }
    struct MHD_Daemon *d = raw_start(&rw, (unsigned)threads);
    if (!d) {
        fprintf(stderr, "bench_server: cannot start the raw libmicrohttpd server\n");
        fl_server_free(s);
        return 1;
    }
    printf("bench_server: wrk -t2 -c64, %lld s per run, best of %d interleaved rounds, %lld "
           "server threads, keep-alive\n",
           (long long)secs, ROUNDS, (long long)threads);
    double best[4] = {0, 0, 0, 0}; /* flotilla tiny, raw tiny, flotilla big, raw big */
    for (int round = 0; round < ROUNDS; round++) {
        double v[4] = {wrk(fl_server_port(s), "/tiny", secs), wrk(raw_port(d), "/tiny", secs),
                       wrk(fl_server_port(s), "/big", secs), wrk(raw_port(d), "/big", secs)};
        for (int i = 0; i < 4; i++)
            best[i] = v[i] > best[i] ? v[i] : best[i];
    }
    printf("  %-34s %12s %12s %7s\n", "answer", "flotilla/s", "raw MHD/s", "ratio");
    printf("  %-34s %12.0f %12.0f %6.0f%%\n", "tiny JSON (fl_request_reply_json)", best[0], best[1],
           best[1] > 0 ? 100 * best[0] / best[1] : 0);
    printf("  %-34s %12.0f %12.0f %6.0f%%\n", "20 KB (fl_request_reply, copied)", best[2], best[3],
           best[3] > 0 ? 100 * best[2] / best[3] : 0);
    printf("  (PERF-NOTES reference on 2 cores: raw ~89k/s tiny, ~60k/s 20 KB)\n");
    MHD_stop_daemon(d);
    MHD_destroy_response(rw.tiny);
    MHD_destroy_response(rw.big);
    fl_server_free(s);
    return 0;
}
