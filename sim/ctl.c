/*
 * sim/ctl.c: the simulator's control endpoint and its client.
 *
 * Server: a separate plain-HTTP listener on the fleet's loopback host that
 * switches faults (fault.c) per cluster. Every request needs
 * "Authorization: Bearer <admin token>"; the URL and token are written to
 * DIR/sim-control.json (mode 0600) beside the kubeconfigs.
 *   GET  /v1/clusters                         state of every cluster
 *   GET  /v1/clusters/NAME                    state of one
 *   POST /v1/clusters/NAME/faults/FAULT[?arg=N]  apply FAULT, answer the state
 * Requests are serialized by one mutex (listener restarts for down/recover).
 *
 * Client: `flotilla sim ctl` — a minimal HTTP/1.0 client over a loopback
 * socket (the endpoint is plain HTTP on loopback only).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/sim_int.h"

#define CTL_MAX_ANSWER (1u << 20)

struct sim_ctl {
    fl_server *srv;
    sim_cluster **c;
    size_t n;
    char token[65];
    char url[96];
    pthread_mutex_t mu;
};

/* ------------------------------------------------------------ server */

static sim_cluster *find(sim_ctl *x, const char *name, size_t len)
{
    for (size_t i = 0; i < x->n; i++)
        if (strlen(x->c[i]->name) == len && !strncmp(x->c[i]->name, name, len))
            return x->c[i];
    return NULL;
}

static void ctl_all(sim_ctl *x, fl_request *req)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < x->n; i++)
        json_array_append_new(arr, sim_fault_state(x->c[i]));
    fl_request_reply_json(req, 200, json_pack("{s:o}", "clusters", arr));
}

static void ctl_apply(sim_ctl *x, sim_cluster *c, fl_request *req, const char *fault)
{
    fl_err err = FL_ERR_INIT;
    const char *arg = fl_request_query(req, "arg");
    int rc = sim_fault_apply(c, fault, arg ? arg : "", &err);
    if (rc == 0) {
        fl_log(FL_LOG_INFO, "sim", "cluster %s: fault %s %s", c->name, fault, arg ? arg : "");
        fl_request_reply_json(req, 200, sim_fault_state(c));
    } else {
        fl_request_reply_status(req, rc == -EINVAL ? 400 : 500, NULL, "%s", err.msg);
    }
    (void)x;
}

static bool authorized(sim_ctl *x, fl_request *req)
{
    const char *h = fl_request_header(req, "Authorization");
    if (h && !strncasecmp(h, "Bearer ", 7) && !strcmp(h + 7, x->token))
        return true;
    fl_request_reply_status(req, 401, "Unauthorized", "Unauthorized");
    return false;
}

static void ctl_handle(fl_request *req, void *ud)
{
    sim_ctl *x = ud;
    const char *p = fl_request_path(req), *m = fl_request_method(req);
    if (!authorized(x, req))
        return;
    pthread_mutex_lock(&x->mu);
    const char *rest = p + strlen("/v1/clusters");
    const char *slash = *rest == '/' ? strchr(rest + 1, '/') : NULL;
    size_t nlen = *rest == '/' ? (slash ? (size_t)(slash - rest - 1) : strlen(rest + 1)) : 0;
    sim_cluster *c = nlen ? find(x, rest + 1, nlen) : NULL;
    if (!*rest && !strcmp(m, "GET"))
        ctl_all(x, req);
    else if (nlen && !c)
        fl_request_reply_status(req, 404, NULL, "no cluster \"%.*s\"", (int)nlen, rest + 1);
    else if (c && !slash && !strcmp(m, "GET"))
        fl_request_reply_json(req, 200, sim_fault_state(c));
    else if (c && slash && fl_str_has_prefix(slash, "/faults/") && !strcmp(m, "POST"))
        ctl_apply(x, c, req, slash + strlen("/faults/"));
    else
        fl_request_reply_status(req, 404, NULL, "no such control path: %s %s", m, p);
    pthread_mutex_unlock(&x->mu);
}

static int write_info(sim_ctl *x, const char *dir, fl_err *err)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof(path), "%s/sim-control.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return fl_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
    fchmod(fileno(f), 0600);
    fprintf(f, "{\"url\": \"%s\", \"token\": \"%s\"}\n", x->url, x->token);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return fl_err_set(err, -EIO, "%s: write failed", path);
    return 0;
}

int sim_ctl_new(sim_cluster **c, size_t n, const char *host, const char *dir, sim_ctl **out,
                fl_err *err)
{
    sim_ctl *x = calloc(1, sizeof(*x));
    char listen[96];
    unsigned char r[32];
    if (!x)
        return -ENOMEM;
    pthread_mutex_init(&x->mu, NULL);
    x->c = c;
    x->n = n;
    fl_random_bytes(r, sizeof(r));
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(x->token + 2 * i, 3, "%02x", r[i]);
    fl_server_opts so = FL_SERVER_OPTS_INIT;
    snprintf(listen, sizeof(listen), "%s:0", host);
    so.name = "sim-ctl";
    so.listen = listen;
    so.threads = 1;
    so.access_log = fl_log_enabled(FL_LOG_DEBUG);
    int rc = fl_server_new(&so, &x->srv, err);
    if (rc == 0)
        rc = fl_server_route(x->srv, NULL, "/v1/clusters", ctl_handle, x);
    if (rc == 0)
        rc = fl_server_start(x->srv, err);
    if (rc == 0) {
        snprintf(x->url, sizeof(x->url), "http://%s:%u", host, fl_server_port(x->srv));
        rc = write_info(x, dir, err);
    }
    if (rc != 0) {
        sim_ctl_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

const char *sim_ctl_url(const sim_ctl *x)
{
    return x ? x->url : "";
}

void sim_ctl_free(sim_ctl *x)
{
    if (!x)
        return;
    fl_server_free(x->srv);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

/* ------------------------------------------------------------ client */

static void ctl_usage(FILE *f)
{
    fprintf(f,
            "Usage: flotilla sim ctl [--server URL --token T | --kubeconfig-dir DIR] CLUSTER FAULT "
            "[ARG]\n"
            "       flotilla sim ctl [...] status [CLUSTER]\n\n"
            "Switch faults of a running `flotilla sim` cluster. The control URL and admin token\n"
            "are read from DIR/sim-control.json (written by `flotilla sim --kubeconfig-dir DIR`)\n"
            "unless --server and --token are given. Prints the cluster's fault state as JSON.\n\n"
            "Faults (each stays on until recover; they combine):\n"
            "  down          close the cluster's listener: connection refused, the port kept for\n"
            "                recover (with --prefix, where clusters share a port, requests\n"
            "                answer 503 instead)\n"
            "  hang          accept requests and never answer them (until recover, then 503)\n"
            "  slow MS       every request waits MS milliseconds first (watches: before opening)\n"
            "  drop-watches  end every open watch stream now (one-shot)\n"
            "  force-410     open watches get an ERROR event with a 410 Expired Status and end;\n"
            "                the next LIST answers 410 Expired and the next WATCH an ERROR 410\n"
            "                event (one-shot each)\n"
            "  error-rate P  P%% of requests (0..100, evenly spread) answer 500 InternalError\n"
            "  garble-watch  every watch event line is cut in half and followed by junk bytes\n"
            "  html          every request answers 200 text/html (a proxy login page)\n"
            "  expire-token  the cluster's bearer token answers 401 Unauthorized\n"
            "  recover       all faults off, the listener back up on the same port\n"
            "  churn R       pod create/update/delete events per second (0 = off)\n\n"
            "Exit status: 0 applied, 1 refused or unreachable, 2 bad usage.\n");
}

/* "http://HOST:PORT" -> host, port. */
static int split_url(const char *url, char *host, size_t hn, char *port, size_t pn)
{
    if (!fl_str_has_prefix(url, "http://"))
        return -EINVAL;
    const char *h = url + 7, *colon = strrchr(h, ':');
    if (!colon || colon == h || (size_t)(colon - h) >= hn)
        return -EINVAL;
    snprintf(host, hn, "%.*s", (int)(colon - h), h);
    snprintf(port, pn, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    return 0;
}

static int connect_to(const char *url)
{
    char host[256], port[16];
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (split_url(url, host, sizeof(host), port, sizeof(port)) != 0 ||
        getaddrinfo(host, port, &hints, &ai) != 0)
        return -EINVAL;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -errno;
    }
    freeaddrinfo(ai);
    return fd;
}

/* One request; the answer's body goes to stdout. Returns the HTTP code or <0. */
static int http_call(const char *url, const char *token, const char *method, const char *path)
{
    fl_buf b = FL_BUF_INIT(CTL_MAX_ANSWER);
    char chunk[4096];
    int fd = connect_to(url), code = -EIO;
    if (fd < 0)
        return fd;
    fl_buf_printf(&b,
                  "%s %s HTTP/1.0\r\nHost: sim\r\nAuthorization: Bearer %s\r\n"
                  "Content-Length: 0\r\n\r\n",
                  method, path, token);
    bool ok = write(fd, b.data, b.len) == (ssize_t)b.len;
    b.len = 0;
    ssize_t got;
    while (ok && (got = read(fd, chunk, sizeof(chunk))) > 0)
        ok = fl_buf_append(&b, chunk, (size_t)got) == 0;
    close(fd);
    int64_t v = 0;
    if (ok && b.len > 12 && fl_str_has_prefix(b.data, "HTTP/1.") &&
        fl_parse_i64(b.data + 9, 3, &v) == 0)
        code = (int)v;
    const char *body = b.data ? strstr(b.data, "\r\n\r\n") : NULL;
    if (body)
        fputs(body + 4, stdout);
    fl_buf_done(&b);
    return code;
}

static int read_info(const char *dir, char *url, size_t un, char *token, size_t tn)
{
    char path[4200];
    json_error_t je;
    snprintf(path, sizeof(path), "%s/sim-control.json", dir);
    json_t *j = json_load_file(path, 0, &je);
    const char *u = fl_obj_str(j, "url"), *t = fl_obj_str(j, "token");
    int rc = u && t ? 0 : -ENOENT;
    if (rc == 0) {
        snprintf(url, un, "%s", u);
        snprintf(token, tn, "%s", t);
    } else {
        fprintf(stderr, "flotilla sim ctl: %s: %s\n", path, j ? "no url/token" : je.text);
    }
    json_decref(j);
    return rc;
}

static bool safe_word(const char *s)
{
    return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == strlen(s);
}

int fl_sim_ctl_main(int argc, char **argv)
{
    char url[256] = "", token[128] = "", path[512];
    const char *dir = NULL, *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            ctl_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--server") && next) {
            snprintf(url, sizeof(url), "%s", next);
            i++;
        } else if (!strcmp(a, "--token") && next) {
            snprintf(token, sizeof(token), "%s", next);
            i++;
        } else if (!strcmp(a, "--kubeconfig-dir") && next) {
            dir = argv[++i];
        } else if (a[0] != '-' && npos < 3 && safe_word(a)) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "flotilla sim ctl: bad argument \"%s\"\n", a);
            ctl_usage(stderr);
            return 2;
        }
    }
    if (dir && (!url[0] || !token[0]) &&
        read_info(dir, url[0] ? path : url, sizeof(url), token[0] ? path : token, sizeof(token)) !=
            0)
        return 1;
    if (!npos || !url[0] || !token[0] || (strcmp(pos[0], "status") && npos < 2)) {
        ctl_usage(stderr);
        return 2;
    }
    const char *method = "POST";
    if (!strcmp(pos[0], "status")) {
        method = "GET";
        snprintf(path, sizeof(path), "/v1/clusters%s%s", pos[1] ? "/" : "", pos[1] ? pos[1] : "");
    } else {
        snprintf(path, sizeof(path), "/v1/clusters/%s/faults/%s%s%s", pos[0], pos[1],
                 pos[2] ? "?arg=" : "", pos[2] ? pos[2] : "");
    }
    int code = http_call(url, token, method, path);
    if (code < 0)
        fprintf(stderr, "flotilla sim ctl: %s: %s\n", url, fl_strerror(code));
    return code >= 200 && code < 300 ? 0 : 1;
}
