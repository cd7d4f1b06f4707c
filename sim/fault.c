/*
 * sim/fault.c: fault injection for one virtual cluster. The control
 * endpoint (ctl.c) switches faults; the API handlers consult them:
 * sim_fault_intercept before anything else, sim_fault_take_410 in list and
 * watch, and the watch registry / sim_fault_watch_write for open streams.
 * Owns the parked (hung) requests, the open-watch registry and the
 * cluster's churn thread. Touches the store only through churn.c.
 *
 * Semantics (kept in step with `flotilla sim ctl --help`):
 *   down          the cluster's listener is closed (connection refused; the
 *                 port stays held for its recovery);
 *                 in --prefix mode (shared port) requests get 503 instead
 *   hang          requests are accepted and never answered (until recover)
 *   slow MS       every request waits MS ms before it is served
 *   drop-watches  open watch streams end now (once)
 *   force-410     open watches get an ERROR 410 Expired event and end; the
 *                 next list and the next watch answer 410 Expired (once each)
 *   error-rate P  P% of requests (evenly spread) answer 500 InternalError
 *   garble-watch  every watch event line is cut in half and followed by junk
 *   html          every request answers 200 text/html (a login page)
 *   expire-token  the cluster's token answers 401 Unauthorized
 *   recover       all of the above off, listener back up
 *   churn R       R pod events per second
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

#define MAX_PARKED 4096
#define MAX_WATCHES 100000
#define MAX_SLOW_MS 600000

typedef struct wentry {
    fl_apiserver_watch *w;
    fl_stream *s;
} wentry;

/* Invariant: parked and watches only change under mu; the flags are
 * atomics read without it. */
struct sim_fault {
    sim_cluster *c;
    atomic_bool down, hang, garble, html, expired, list410, watch410;
    atomic_uint slow_ms, err_pct;
    atomic_ullong reqs;
    pthread_mutex_t mu;
    fl_request **parked;
    size_t nparked;
    wentry *watches;
    size_t nw, capw;
    sim_churn *churn;
};

int sim_fault_new(sim_cluster *c, sim_fault **out)
{
    sim_fault *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->c = c;
    pthread_mutex_init(&f->mu, NULL);
    f->parked = calloc(MAX_PARKED, sizeof(*f->parked));
    int rc = f->parked ? sim_churn_new(c, c->churn, &f->churn) : -ENOMEM;
    if (rc != 0) {
        free(f->parked);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* Answer every parked request (503: the hang ended). */
static void unpark(sim_fault *f)
{
    fl_request *batch[MAX_PARKED];
    pthread_mutex_lock(&f->mu);
    size_t n = f->nparked;
    memcpy(batch, f->parked, n * sizeof(*batch));
    f->nparked = 0;
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < n; i++)
        fl_request_reply_status(batch[i], 503, "ServiceUnavailable", "simulated hang ended");
}

void sim_fault_stop(sim_fault *f)
{
    if (!f)
        return;
    sim_churn_free(f->churn);
    f->churn = NULL;
    unpark(f);
}

void sim_fault_free(sim_fault *f)
{
    if (!f)
        return;
    sim_fault_stop(f);
    free(f->parked);
    free(f->watches);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool park(sim_fault *f, fl_request *req)
{
    pthread_mutex_lock(&f->mu);
    bool ok = f->nparked < MAX_PARKED;
    if (ok)
        f->parked[f->nparked++] = req;
    pthread_mutex_unlock(&f->mu);
    if (!ok)
        fl_request_reply_status(req, 503, "ServiceUnavailable", "too many hung requests");
    return true;
}

/* Deterministic spread: request n fails when floor((n+1)p/100) > floor(np/100). */
static bool error_due(sim_fault *f)
{
    unsigned p = atomic_load(&f->err_pct);
    if (!p)
        return false;
    unsigned long long n = atomic_fetch_add(&f->reqs, 1);
    return (n + 1) * p / 100 > n * p / 100;
}

static const char html_page[] =
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    "<body><h1>Corporate proxy</h1><p>Please sign in to continue.</p></body></html>\n";

bool sim_fault_intercept(sim_cluster *c, fl_request *req)
{
    sim_fault *f = c->fault;
    if (!f)
        return false;
    if (atomic_load(&f->down)) {
        fl_request_reply_status(req, 503, "ServiceUnavailable", "simulated outage");
        return true;
    }
    if (atomic_load(&f->hang))
        return park(f, req);
    unsigned ms = atomic_load(&f->slow_ms);
    if (ms)
        sleep_ms(ms);
    if (atomic_load(&f->expired)) {
        fl_apiserver_reply_status(req, 401, "Unauthorized", "Unauthorized", NULL, NULL, NULL);
        return true;
    }
    if (atomic_load(&f->html)) {
        fl_request_reply(req, 200, "text/html; charset=utf-8", html_page, sizeof(html_page) - 1);
        return true;
    }
    if (error_due(f)) {
        fl_apiserver_reply_status(req, 500, "InternalError",
                                  "Internal error occurred: simulated fault (error-rate)", NULL,
                                  NULL, NULL);
        return true;
    }
    return false;
}

bool sim_fault_take_410(sim_cluster *c, bool watch)
{
    if (!c->fault)
        return false;
    return atomic_exchange(watch ? &c->fault->watch410 : &c->fault->list410, false);
}

void sim_fault_watch_add(sim_cluster *c, fl_apiserver_watch *w, fl_stream *s)
{
    sim_fault *f = c->fault;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    if (f->nw < MAX_WATCHES)
        fl_grow(&f->watches, &f->capw, f->nw + 1, sizeof *f->watches);
    if (f->nw < f->capw)
        f->watches[f->nw++] = (wentry){w, s};
    pthread_mutex_unlock(&f->mu);
}

void sim_fault_watch_del(sim_cluster *c, fl_apiserver_watch *w)
{
    sim_fault *f = c->fault;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nw; i++) {
        if (f->watches[i].w == w) {
            f->watches[i] = f->watches[--f->nw];
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
}

static const char expired_line[] =
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
    "\"status\":\"Failure\",\"message\":\"The resourceVersion for the provided watch is too "
    "old.\",\"reason\":\"Expired\",\"code\":410}}\n";

/* End every open watch, first sending the 410 ERROR event when expire. */
static void end_watches(sim_fault *f, bool expire)
{
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nw; i++) {
        if (expire)
            fl_stream_write(f->watches[i].s, expired_line, sizeof(expired_line) - 1);
        fl_apiserver_watch_cancel(f->watches[i].w);
    }
    pthread_mutex_unlock(&f->mu);
}

int sim_fault_watch_write(sim_cluster *c, fl_stream *s, const char *data, size_t len)
{
    static const char junk[] = "\x01\xff<garbled>\"}{\n";
    if (!c->fault || !atomic_load(&c->fault->garble) || len < 2)
        return fl_stream_write(s, data, len);
    int rc = fl_stream_write(s, data, len / 2);
    return rc == 0 ? fl_stream_write(s, junk, sizeof(junk) - 1) : rc;
}

static int parse_arg(const char *name, const char *arg, uint64_t max, unsigned *out, fl_err *err)
{
    uint64_t v = 0;
    if (!arg || !*arg || fl_parse_u64(arg, strlen(arg), &v) != 0 || v > max)
        return fl_err_set(err, -EINVAL, "%s wants a number 0..%llu", name, (unsigned long long)max);
    *out = (unsigned)v;
    return 0;
}

static int set_down(sim_cluster *c, bool down, fl_err *err)
{
    int rc = sim_cluster_listen(c, !down, err);
    if (rc == -EOPNOTSUPP) { /* shared port: answer 503 instead */
        atomic_store(&c->fault->down, down);
        return 0;
    }
    return rc;
}

static int recover(sim_cluster *c, fl_err *err)
{
    sim_fault *f = c->fault;
    atomic_store(&f->hang, false);
    atomic_store(&f->garble, false);
    atomic_store(&f->html, false);
    atomic_store(&f->expired, false);
    atomic_store(&f->list410, false);
    atomic_store(&f->watch410, false);
    atomic_store(&f->slow_ms, 0);
    atomic_store(&f->err_pct, 0);
    unpark(f);
    return set_down(c, false, err);
}

int sim_fault_apply(sim_cluster *c, const char *name, const char *arg, fl_err *err)
{
    sim_fault *f = c->fault;
    unsigned v = 0;
    int rc = 0;
    if (!strcmp(name, "down"))
        return set_down(c, true, err);
    if (!strcmp(name, "recover"))
        return recover(c, err);
    if (!strcmp(name, "hang"))
        atomic_store(&f->hang, true);
    else if (!strcmp(name, "slow") && (rc = parse_arg(name, arg, MAX_SLOW_MS, &v, err)) == 0)
        atomic_store(&f->slow_ms, v);
    else if (!strcmp(name, "error-rate") && (rc = parse_arg(name, arg, 100, &v, err)) == 0)
        atomic_store(&f->err_pct, v);
    else if (!strcmp(name, "churn") && (rc = parse_arg(name, arg, 100000, &v, err)) == 0)
        sim_churn_set(f->churn, v);
    else if (!strcmp(name, "drop-watches"))
        end_watches(f, false);
    else if (!strcmp(name, "force-410")) {
        atomic_store(&f->list410, true);
        atomic_store(&f->watch410, true);
        end_watches(f, true);
    } else if (!strcmp(name, "garble-watch"))
        atomic_store(&f->garble, true);
    else if (!strcmp(name, "html"))
        atomic_store(&f->html, true);
    else if (!strcmp(name, "expire-token"))
        atomic_store(&f->expired, true);
    else if (rc == 0)
        rc = fl_err_set(err, -EINVAL, "unknown fault \"%s\"", name);
    return rc;
}

json_t *sim_fault_state(sim_cluster *c)
{
    sim_fault *f = c->fault;
    pthread_mutex_lock(&f->mu);
    size_t nw = f->nw, np = f->nparked;
    pthread_mutex_unlock(&f->mu);
    return json_pack("{s:s,s:b,s:b,s:i,s:i,s:b,s:b,s:b,s:b,s:i,s:I,s:I}", "name", c->name, "down",
                     c->srv == NULL && !c->prefix[0] ? 1 : atomic_load(&f->down), "hang",
                     atomic_load(&f->hang), "slowMs", (int)atomic_load(&f->slow_ms), "errorRate",
                     (int)atomic_load(&f->err_pct), "garbleWatch", atomic_load(&f->garble), "html",
                     atomic_load(&f->html), "tokenExpired", atomic_load(&f->expired), "pending410",
                     atomic_load(&f->list410) || atomic_load(&f->watch410), "churn",
                     (int)sim_churn_rate(f->churn), "openWatches", (json_int_t)nw, "hungRequests",
                     (json_int_t)np);
}
