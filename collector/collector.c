/*
 * collector/collector.c: the collector's loop thread — members, their
 * health probes, discovery, and one reflector per (cluster, resource)
 * driving the pure state machine of logic.c with real requests
 * (kube/client.h) and feeding raw bytes to the index (index/index.h).
 *
 * Ownership: everything below fl_collector is owned by the loop thread once
 * it runs; other threads only touch the stop flag, the async handle and the
 * status snapshot (behind mu). Nothing here parses a list page or a watch
 * event: cl_scan_* picks out the few fields the reflector needs.
 */
#include "collector/collector.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "collector/collector_int.h"
#include "kube/kube.h"

#define SPACE_RETRY_MS 50
#define BAD_LINE_SHOWN_MS 60000
#define STATUS_PERIOD_MS 250
#define DISCOVERY_MAX_BYTES (8u << 20)
#define CONT_MAX (64u << 10)

typedef struct member member;
typedef struct reflector reflector;

typedef enum { T_BACKOFF = 0, T_SPACE_LIST, T_SPACE_RESUME } timer_mode;

/* One (cluster, group, version, resource). Invariant: at most one request
 * (req) in flight; in_relist is true between relist_begin and end/abort. */
struct reflector {
    member *m;
    reflector *next;
    char *group, *version, *resource, *kind;
    bool namespaced;
    bool wanted;    /* named in config or listed by the last discovery */
    bool explicit_; /* named in config (not from "*") */
    fl_index_src src;
    cl_reflector_sm sm;
    uv_timer_t timer;
    timer_mode tmode;
    fl_kube_req *req;
    fl_buf cont; /* continue token of the next page */
    bool in_relist;
    int64_t limit;     /* page size of this relist: page_size, cut down when a
                         page is over max_object_bytes (down to 1) */
    bool cont_retried; /* an expired continue token restarted the list once */
    bool gone;         /* the current watch was stopped by us on a 410 */
    bool corrupt;      /* ... or on a malformed line: an event may be lost */
    char *pending;     /* a list page refused with FL_EFULL, retried */
    size_t pending_len;
    char pending_rv[64];
    int64_t watch_started_ms, watch_events;
    char last_error[256];
    bool error_is_failure; /* last_error came from a failed request: cleared
                              by the next successful watch line */
    char logged[256];      /* what was last logged/stored: phase or error */
    int64_t events, relists, bad_lines, filtered, last_synced_ms;
    int64_t last_bad_ms; /* wall clock of the last skipped watch line */
    /* Readiness: synced latches once the initial list is committed to the
     * index (or the reflector resumed from a resourceVersion the index had
     * committed), like an informer's HasSynced. awaiting: the relist's end
     * is queued; publish() confirms it from the sync state's last_list_ms
     * (written at commit) against list_begun_ms (wall clock at its begin). */
    bool synced, awaiting;
    int64_t list_begun_ms;
    int64_t left_watch_ms; /* wall clock the index stopped being current (lag); 0 = never */
    bool in_sync;          /* current: a list finished, a watch line arrived or a watch
                              was accepted since the last failure */
    bool open_only;        /* in_sync only because a watch was accepted (no line yet) */
};

struct member {
    fl_collector *c;
    char *name, *kubeconfig, *context;
    int64_t added_ms; /* wall clock when the daemon took it on */
    fl_kube_conn *conn;
    fl_kube_client *data, *probe;
    cl_health health;
    char version[64];
    uv_timer_t probe_timer, disco_timer, crd_timer;
    fl_kube_req *probe_req, *version_req;
    fl_kube_req *crd_req; /* watch on CRDs: any change re-runs discovery */
    bool crd_off;         /* the member does not let us watch CRDs */
    bool probing_healthz;
    fl_kube_req **disco_reqs; /* one per configured gv */
    size_t disco_pending;
    bool *disco_ok;     /* per configured gv: discovery answered once */
    bool discovered;    /* every configured gv answered once */
    bool disco_failing; /* the last discovery request failed */
    reflector *refl;
};

struct fl_collector {
    fl_index *index;
    fl_collector_opts o;
    fl_collector_gv *gvs;
    size_t ngvs;
    char *ns_include;          /* NULL or the one included namespace */
    const char *const *ns_set; /* two or more included namespaces (else NULL) */
    size_t nns_set;
    cl_nsfilter nsf, nsf_byname; /* ns_set by metadata.namespace / .name */
    char *exclude_sel;           /* metadata.namespace!=... or NULL */
    char *ns_name_sel;           /* the same for the namespaces resource (metadata.name) */
    member *members;
    size_t nmembers;
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t status_timer;
    uv_thread_t thread;
    fl_index_reader *reader; /* loop thread: stored RVs at reflector start */
    bool loop_ok, started, joined, stopping;
    atomic_bool stop_req;
    pthread_mutex_t mu;
    char *status;     /* JSON text of the last snapshot (mu) */
    bool ready;       /* (mu) see fl_collector_ready */
    char reason[512]; /* (mu) why not ready, or which members are failing */
    bool dirty;       /* loop thread: snapshot out of date */
};

static void start_list(reflector *r);
static void start_watch(reflector *r);
static void act(reflector *r, cl_raction a, int64_t delay);

/* ------------------------------------------------------------- helpers */

/* What a reflector lists and watches: its resource, the namespace filter
 * (sync.namespaces.include of one namespace goes into the path) and the
 * exclude field selector (namespaces themselves are filtered by name). */
static cl_scope scope_of(const reflector *r)
{
    const fl_collector *c = r->m->c;
    cl_scope s = {r->group,
                  r->version,
                  r->resource,
                  r->namespaced,
                  c->ns_include,
                  strcmp(r->resource, "namespaces") == 0 && !r->group[0] ? c->ns_name_sel
                                                                         : c->exclude_sel};
    if (!r->namespaced)
        s.namespace_ = NULL;
    if (!r->namespaced && s.field_selector == c->exclude_sel)
        s.field_selector = NULL;
    return s;
}

/* cl_sm_init with the resume point stored in the index (restart) and the
 * configured backoff cap. */
static void sm_init(reflector *r)
{
    fl_collector *c = r->m->c;
    int64_t max = c->o.backoff_max_ms;
    fl_index_sync st;
    if (c->reader && fl_index_sync_get(c->reader, &r->src, &st, NULL) == 0)
        cl_sm_init(&r->sm, st.resource_version);
    else
        cl_sm_init(&r->sm, NULL);
    cl_backoff_init(&r->sm.backoff, max < 800 ? max : 800, max, 120000);
}

/* A list finished or a watch line arrived: the index is current. */
static void current(reflector *r)
{
    r->last_synced_ms = fl_now_ms();
    r->in_sync = true;
    r->open_only = false;
}

/* The server accepted a watch from the stored resourceVersion: every later
 * event comes on it, so the index is current, even on a quiet resource
 * (kube-apiserver v1.26 sends no bookmark then). Without this a member that
 * came back looked stale until its next event or the watch's timeout. */
static void on_watch_opened(fl_kube_req *req, void *ud)
{
    reflector *r = ud;
    (void)req;
    if (r->in_sync)
        return;
    r->last_synced_ms = fl_now_ms();
    r->in_sync = r->open_only = true;
}

static void feed(reflector *r, cl_rev ev, const char *rv, int code)
{
    int64_t delay = 0;
    cl_raction a = cl_sm_feed(&r->sm, ev, rv, code, fl_mono_ms(), cl_rand01(), &delay);
    if (r->in_sync && r->sm.phase != CL_R_WATCHING) { /* the watch broke: lag counts from here */
        /* ... unless it was accepted and then answered 410 (too old): it never
         * was current, the lag goes on from the earlier break */
        if (!(r->open_only && ev == CL_EV_WATCH_GONE))
            r->left_watch_ms = fl_now_ms();
        r->in_sync = r->open_only = false;
    }
    act(r, a, delay);
}

/* The sync-time namespace filter of r: only with two or more included
 * namespaces, for namespaced resources and the namespaces themselves. */
static const cl_nsfilter *filter_of(const reflector *r)
{
    const fl_collector *c = r->m->c;
    if (!c->ns_set)
        return NULL;
    if (!r->group[0] && !strcmp(r->resource, "namespaces"))
        return &c->nsf_byname;
    return r->namespaced ? &c->nsf : NULL;
}

static void resp_error(const char *what, const fl_kube_response *res, char *out, size_t n)
{
    if (res->http_status)
        snprintf(out, n, "%s: %ld %s: %s", what, res->http_status, res->reason, res->message);
    else
        snprintf(out, n, "%s: %s: %s", what, res->reason, res->message);
}

/* a and b are the same text once every run of digits counts as one digit
 * ("timed out after 1502 ms" is no news after "... 1498 ms"). */
static bool same_text(const char *a, const char *b)
{
    while (*a && *b) {
        bool da = *a >= '0' && *a <= '9', db = *b >= '0' && *b <= '9';
        if (da && db) {
            while (*a >= '0' && *a <= '9')
                a++;
            while (*b >= '0' && *b <= '9')
                b++;
            continue;
        }
        if (*a++ != *b++)
            return false;
    }
    return *a == *b;
}

/* Log and store in the index when what the reflector shows changed:
 * its phase when healthy, its error when failing. */
static void note(reflector *r)
{
    fl_collector *c = r->m->c;
    char now[256];
    bool failing = r->sm.phase == CL_R_WAITING || r->sm.phase == CL_R_SKIPPED;
    c->dirty = true;
    if (r->sm.phase == CL_R_LISTING && r->logged[0])
        return; /* a relist in progress keeps the previous line */
    if (r->sm.phase == CL_R_WATCHING && r->error_is_failure && r->last_error[0])
        return; /* a retry: "Watching" is news once a line arrives (on_watch_line) */
    /* Watching again after a failure: the old error is not news. */
    const char *e = r->sm.phase == CL_R_WATCHING && r->error_is_failure ? "" : r->last_error;
    snprintf(now, sizeof now, "%s%s%s", cl_rphase_name(r->sm.phase), e[0] ? ": " : "", e);
    if (same_text(now, r->logged))
        return;
    fl_strlcpy(r->logged, now, sizeof r->logged);
    fl_log(failing || e[0]               ? FL_LOG_WARN
           : r->sm.phase == CL_R_LISTING ? FL_LOG_DEBUG
                                         : FL_LOG_INFO,
           "collector", "%s %s%s%s: %s", r->m->name, r->group, r->group[0] ? "/" : "", r->resource,
           now);
    fl_index_sync_set(c->index, &r->src, cl_rphase_name(r->sm.phase), 0, e, NULL);
}

static void set_error(reflector *r, const char *msg)
{
    fl_strlcpy(r->last_error, msg, sizeof r->last_error);
    r->error_is_failure = true;
}

static void timer_in(reflector *r, timer_mode mode, int64_t ms);

static void act(reflector *r, cl_raction a, int64_t delay)
{
    switch (a) {
    case CL_DO_LIST: start_list(r); break;
    case CL_DO_WATCH: start_watch(r); break;
    case CL_DO_WAIT: timer_in(r, T_BACKOFF, delay); break;
    case CL_DO_SKIP:
    case CL_DO_NOTHING: break;
    }
    note(r);
}

static void on_timer(uv_timer_t *t)
{
    reflector *r = t->data;
    if (r->m->c->stopping)
        return;
    switch (r->tmode) {
    case T_BACKOFF: feed(r, CL_EV_TIMER, NULL, 0); break;
    case T_SPACE_LIST:
        start_list(r); /* start_list submits the pending page first */
        break;
    case T_SPACE_RESUME:
        fl_kube_req_resume(r->req); /* hands the refused event over again */
        break;
    }
}

static void timer_in(reflector *r, timer_mode mode, int64_t ms)
{
    r->tmode = mode;
    uv_timer_start(&r->timer, on_timer, (uint64_t)(ms < 0 ? 0 : ms), 0);
}

/* ---------------------------------------------------------------- LIST */

static void list_failed(reflector *r, int code)
{
    if (r->in_relist)
        fl_index_relist_abort(r->m->c->index, &r->src, NULL);
    r->in_relist = false;
    fl_buf_reset(&r->cont);
    feed(r, CL_EV_LIST_FAILED, NULL, code);
}

/* A page is in the index; go on or finish the relist. */
static void page_done(reflector *r, const char *rv)
{
    fl_collector *c = r->m->c;
    if (r->cont.len) {
        start_list(r);
        return;
    }
    fl_err err = FL_ERR_INIT;
    int rc = fl_index_relist_end(c->index, &r->src, rv, &err);
    r->in_relist = false;
    if (rc) {
        set_error(r, err.msg);
        feed(r, CL_EV_LIST_FAILED, NULL, rc);
        return;
    }
    /* a malformed watch line stays shown a while after the relist it caused */
    if (r->error_is_failure || fl_now_ms() - r->last_bad_ms > BAD_LINE_SHOWN_MS)
        r->last_error[0] = 0;
    r->cont_retried = false;
    current(r);
    if (!r->synced) {
        r->awaiting = c->reader != NULL; /* confirmed at commit (publish) */
        r->synced = !r->awaiting;
    }
    feed(r, CL_EV_LIST_DONE, rv, 0);
}

/* Submit a page; FL_EFULL keeps it (stolen) for a retry. */
static void submit_page(reflector *r, char *body, size_t len, bool owned, const char *rv)
{
    fl_err err = FL_ERR_INIT;
    int rc = fl_index_submit_list(r->m->c->index, &r->src, body, len, &err);
    if (rc == FL_EFULL) {
        if (!owned && !(body = fl_strndup(body, len))) {
            set_error(r, "list: out of memory");
            list_failed(r, -ENOMEM);
            return;
        }
        r->pending = body;
        r->pending_len = len;
        fl_strlcpy(r->pending_rv, rv, sizeof r->pending_rv);
        timer_in(r, T_SPACE_LIST, SPACE_RETRY_MS);
        return;
    }
    if (owned)
        free(body);
    if (rc) {
        char msg[300];
        snprintf(msg, sizeof msg, "list: %s", err.msg[0] ? err.msg : fl_strerror(rc));
        set_error(r, msg);
        list_failed(r, rc);
        return;
    }
    page_done(r, rv);
}

/* A list page must be one whole JSON document before it may count in a
 * relist (the index would see a page that fails to decode as "nothing
 * seen"). With a namespace set, *out gets the page without the items
 * outside it; otherwise out stays empty and the body is used as is.
 * 0, FL_EPARSE, -ENOMEM. */
static int checked_page(reflector *r, const fl_kube_response *res, fl_buf *out)
{
    const cl_nsfilter *f = filter_of(r);
    const char *body = res->body.data ? res->body.data : "";
    size_t kept = 0, dropped = 0;
    if (!f)
        return cl_json_complete(body, res->body.len) ? 0 : FL_EPARSE;
    int rc = cl_nsfilter_page(f, body, res->body.len, out, &kept, &dropped);
    if (rc == 0 && !cl_json_complete(out->data, out->len))
        rc = FL_EPARSE;
    if (rc == 0)
        r->filtered += (int64_t)dropped;
    return rc;
}

static void on_list_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    static const char *const rvp[] = {"metadata", "resourceVersion"};
    static const char *const contp[] = {"metadata", "continue"};
    reflector *r = ud;
    char rv[64], msg[300];
    r->req = NULL;
    if (r->m->c->stopping || r->sm.phase == CL_R_STOPPED || r->sm.phase == CL_R_SKIPPED)
        return;
    if (res->err == FL_EGONE && r->cont.len && !r->cont_retried) {
        /* The continue token expired: list again from the start. */
        r->cont_retried = true;
        fl_index_relist_abort(r->m->c->index, &r->src, NULL);
        r->in_relist = false;
        fl_buf_reset(&r->cont);
        start_list(r);
        return;
    }
    if (res->err == -E2BIG && r->limit > 1) {
        /* A page over the cap: the same page again in smaller pieces. */
        r->limit = r->limit / 10 > 1 ? r->limit / 10 : 1;
        fl_log(FL_LOG_DEBUG, "collector", "%s %s: page over %zu bytes, limit now %lld", r->m->name,
               r->resource, r->m->c->o.max_object_bytes, (long long)r->limit);
        start_list(r);
        return;
    }
    if (res->err) {
        resp_error("list", res, msg, sizeof msg);
        if (res->err == -E2BIG)
            snprintf(msg, sizeof msg, "list: an object is larger than the %zu-byte limit",
                     r->m->c->o.max_object_bytes);
        set_error(r, msg);
        list_failed(r, res->err);
        return;
    }
    const char *body = res->body.data ? res->body.data : "";
    if (cl_scan_str(body, res->body.len, rvp, 2, rv, sizeof rv) != 0) {
        snprintf(msg, sizeof msg, "list: the response is not a Kubernetes list (Content-Type %s)",
                 res->content_type[0] ? res->content_type : "none");
        set_error(r, msg);
        list_failed(r, FL_EPARSE);
        return;
    }
    fl_buf_reset(&r->cont);
    char *cont = malloc(CONT_MAX);
    if (cont && cl_scan_str(body, res->body.len, contp, 2, cont, CONT_MAX) == 0 && cont[0])
        fl_buf_puts(&r->cont, cont);
    free(cont);
    fl_buf kept = FL_BUF_INIT(res->body.len + 1);
    int rc = checked_page(r, res, &kept);
    if (rc) {
        fl_buf_done(&kept);
        snprintf(msg, sizeof msg, "list: %s",
                 rc == FL_EPARSE ? "malformed JSON (a cut or "
                                   "invalid page; nothing applied)"
                                 : fl_strerror(rc));
        set_error(r, msg);
        list_failed(r, rc);
        return;
    }
    size_t len = kept.len ? kept.len : res->body.len;
    char *owned = kept.len ? fl_buf_steal(&kept) : fl_buf_steal(&res->body);
    fl_buf_done(&kept);
    submit_page(r, owned ? owned : (char *)"", len, owned != NULL, rv);
}

static void start_list(reflector *r)
{
    fl_collector *c = r->m->c;
    fl_err err = FL_ERR_INIT;
    if (r->pending) { /* a page waiting for index space */
        char *p = r->pending;
        r->pending = NULL;
        char rv[64];
        fl_strlcpy(rv, r->pending_rv, sizeof rv);
        submit_page(r, p, r->pending_len, true, rv);
        return;
    }
    if (!r->in_relist) {
        if (fl_index_relist_begin(c->index, &r->src, &err) != 0) {
            set_error(r, err.msg);
            feed(r, CL_EV_LIST_FAILED, NULL, err.code);
            return;
        }
        r->in_relist = true;
        r->relists++;
        r->list_begun_ms = fl_now_ms();
        r->limit = c->o.page_size;
        fl_buf_reset(&r->cont);
    }
    cl_scope s = scope_of(r);
    fl_buf path = FL_BUF_INIT(CONT_MAX * 4);
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    int rc = cl_list_path(&s, r->limit > 0 ? r->limit : c->o.page_size, r->cont.data, &path);
    rq.path = path.data;
    rq.timeout_ms = c->o.request_timeout_ms;
    if (!rc)
        rc = fl_kube_client_request(r->m->data, &rq, NULL, on_list_done, r, &r->req);
    fl_buf_done(&path);
    if (rc) {
        set_error(r, fl_strerror(rc));
        list_failed(r, rc);
    }
}

/* ---------------------------------------------------------------- WATCH */

static void bad_line(reflector *r, const char *why)
{
    r->bad_lines++;
    r->last_bad_ms = fl_now_ms();
    set_error(r, why);
    r->error_is_failure = false;
    note(r);
}

static int on_watch_line(fl_kube_req *req, const char *line, size_t len, void *ud)
{
    static const char *const typ[] = {"type"};
    static const char *const orv[] = {"object", "metadata", "resourceVersion"};
    static const char *const ocode[] = {"object", "code"};
    static const char *const omsg[] = {"object", "message"};
    reflector *r = ud;
    fl_collector *c = r->m->c;
    char type[32], rv[64];
    if (len == 0 || (len == 1 && line[0] == '\r'))
        return 0;
    /* A line that is not whole JSON (cut, garbled) or not a watch event
     * hides an event we will never see again on this watch. */
    if (!cl_json_complete(line, len)) {
        bad_line(r, "watch: malformed event (cut or invalid JSON); relisting");
        r->corrupt = true;
        return 1;
    }
    if (cl_scan_str(line, len, typ, 1, type, sizeof type) != 0) {
        bad_line(r, "watch: malformed event (not a JSON watch event); relisting");
        r->corrupt = true;
        return 1;
    }
    if (strcmp(type, "ERROR") == 0) {
        int64_t code = 0;
        char msg[200] = "";
        cl_scan_int(line, len, ocode, 2, &code);
        cl_scan_str(line, len, omsg, 2, msg, sizeof msg);
        if (code == 410) {
            r->gone = true;
        } else {
            char e[256];
            snprintf(e, sizeof e, "watch: ERROR event %lld: %s", (long long)code, msg);
            set_error(r, e);
        }
        return 1; /* end this watch; done decides what comes next */
    }
    if (cl_scan_str(line, len, orv, 3, rv, sizeof rv) != 0 || !rv[0]) {
        bad_line(r, "watch: event object without metadata.resourceVersion");
        return 0;
    }
    const cl_nsfilter *f = filter_of(r);
    if (f && !cl_nsfilter_event(f, line, len)) {
        r->filtered++; /* outside sync.namespaces.include: the RV still moves on */
        if (r->error_is_failure && r->last_error[0])
            r->last_error[0] = 0; /* a good line: the watch works again */
        current(r);
        feed(r, CL_EV_WATCH_EVENT, rv, 0);
        return 0;
    }
    fl_err err = FL_ERR_INIT;
    int rc = fl_index_submit_event(c->index, &r->src, line, len, &err);
    if (rc == FL_EFULL) { /* back-pressure: stop reading until the index has room */
        timer_in(r, T_SPACE_RESUME, SPACE_RETRY_MS);
        return FL_KUBE_LINE_PAUSE;
    }
    if (rc) {
        char e[300];
        snprintf(e, sizeof e, "watch: %s", err.msg[0] ? err.msg : fl_strerror(rc));
        bad_line(r, e);
        return 0;
    }
    if (r->error_is_failure && r->last_error[0])
        r->last_error[0] = 0; /* reconnected: the failure is over */
    r->events++;
    r->watch_events++;
    current(r);
    feed(r, CL_EV_WATCH_EVENT, rv, 0);
    return 0;
}

static void on_watch_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    reflector *r = ud;
    char msg[300];
    r->req = NULL;
    if (r->m->c->stopping || r->sm.phase == CL_R_STOPPED || r->sm.phase == CL_R_SKIPPED)
        return;
    if (r->corrupt) { /* relist and diff (unchanged objects are not rewritten) */
        r->corrupt = false;
        feed(r, CL_EV_WATCH_CORRUPT, NULL, FL_EPARSE);
        return;
    }
    if (r->gone || res->err == FL_EGONE) {
        r->gone = false;
        feed(r, CL_EV_WATCH_GONE, NULL, FL_EGONE);
        return;
    }
    bool quick = fl_mono_ms() - r->watch_started_ms < 1000 && r->watch_events == 0;
    if (res->err == 0 && !quick) {
        feed(r, CL_EV_WATCH_CLOSED, NULL, 0);
        return;
    }
    if (res->err == 0)
        snprintf(msg, sizeof msg, "watch: the server closed the watch at once");
    else if (res->err == -ECANCELED && r->last_error[0])
        fl_strlcpy(msg, r->last_error, sizeof msg); /* an ERROR event ended it */
    else
        resp_error("watch", res, msg, sizeof msg);
    set_error(r, msg);
    feed(r, CL_EV_WATCH_FAILED, NULL, res->err ? res->err : FL_EHTTP);
}

static void start_watch(reflector *r)
{
    fl_collector *c = r->m->c;
    cl_scope s = scope_of(r);
    fl_buf path = FL_BUF_INIT(8192);
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    int64_t timeout_s = cl_watch_timeout_s(c->o.watch_timeout_ms, cl_rand01());
    int rc = cl_watch_path(&s, r->sm.rv, timeout_s, &path);
    rq.path = path.data;
    rq.stream = true;
    rq.timeout_ms = -1;
    /* An idle watch may carry nothing, not even a bookmark (kube-apiserver
     * v1.26 sends none on a quiet resource), until the server ends it at its
     * timeoutSeconds; it then resumes at once. Only silence past that deadline
     * is a stall. */
    rq.stall_timeout_ms = timeout_s * 1000 + c->o.stall_timeout_ms;
    rq.opened = on_watch_opened;
    r->sm.phase = CL_R_WATCHING;
    r->watch_started_ms = fl_mono_ms();
    r->watch_events = 0;
    r->gone = r->corrupt = false;
    if (!rc)
        rc = fl_kube_client_request(r->m->data, &rq, on_watch_line, on_watch_done, r, &r->req);
    fl_buf_done(&path);
    if (rc) {
        set_error(r, fl_strerror(rc));
        feed(r, CL_EV_WATCH_FAILED, NULL, rc);
    }
}

/* ----------------------------------------------------------- reflectors */

static reflector *find_refl(member *m, const char *g, const char *v, const char *res)
{
    for (reflector *r = m->refl; r; r = r->next)
        if (!strcmp(r->group, g) && !strcmp(r->version, v) && !strcmp(r->resource, res))
            return r;
    return NULL;
}

static reflector *new_refl(member *m, const char *g, const char *v, const char *res,
                           const char *kind, bool namespaced)
{
    reflector *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->m = m;
    r->group = strdup(g);
    r->version = strdup(v);
    r->resource = strdup(res);
    r->kind = strdup(kind ? kind : "");
    fl_buf_init(&r->cont, CONT_MAX);
    if (!r->group || !r->version || !r->resource || !r->kind) {
        free(r->group), free(r->version), free(r->resource), free(r->kind), free(r);
        return NULL;
    }
    r->namespaced = namespaced;
    r->src = (fl_index_src){m->name, r->group, r->version, r->resource, r->kind};
    uv_timer_init(&m->c->loop, &r->timer);
    r->timer.data = r;
    sm_init(r);
    reflector **tail = &m->refl; /* keep discovery order */
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    return r;
}

/* Cancel what runs and enter phase (Stopped or Skipped); the caller sets
 * the error and calls note(). */
static void stop_refl(reflector *r, cl_rphase phase)
{
    int64_t unused = 0;
    uv_timer_stop(&r->timer);
    if (r->req)
        fl_kube_req_cancel(r->req);
    if (r->in_relist)
        fl_index_relist_abort(r->m->c->index, &r->src, NULL);
    r->in_relist = false;
    if (r->in_sync)
        r->left_watch_ms = fl_now_ms();
    r->in_sync = false;
    cl_sm_feed(&r->sm, CL_EV_STOP, NULL, 0, 0, 0, &unused);
    r->sm.phase = phase;
}

/* Discovery says (g, v, res) is served (kind, namespaced) or not. */
static void want(member *m, const char *g, const char *v, const char *res, const char *kind,
                 bool namespaced, bool served, bool explicit_)
{
    reflector *r = find_refl(m, g, v, res);
    if (!r && !(r = new_refl(m, g, v, res, kind, namespaced)))
        return;
    r->wanted = true;
    r->explicit_ = r->explicit_ || explicit_;
    if (!served) {
        if (r->sm.phase != CL_R_SKIPPED) {
            stop_refl(r, CL_R_SKIPPED);
            set_error(r, "not served by this cluster");
            note(r);
        }
        return;
    }
    if (kind && *kind && strcmp(r->kind, kind) != 0) {
        char *k = strdup(kind);
        if (k) {
            free(r->kind);
            r->kind = k;
            r->src.kind = k;
        }
    }
    r->namespaced = namespaced;
    if (r->sm.phase == CL_R_IDLE || r->sm.phase == CL_R_SKIPPED || r->sm.phase == CL_R_STOPPED) {
        sm_init(r);
        r->last_error[0] = 0;
        feed(r, CL_EV_START, NULL, 0);
        if (r->sm.phase == CL_R_WATCHING)
            r->synced = true; /* resumed: the index holds its list up to that RV */
    }
}

/* ------------------------------------------------------------ discovery */

static bool has_verb(const json_t *verbs, const char *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(verbs, i, e)
        if (json_is_string(e) && !strcmp(json_string_value(e), v))
            return true;
    return false;
}

static bool gv_names(const fl_collector_gv *gv, const char *res)
{
    for (size_t i = 0; i < gv->nresources; i++)
        if (!strcmp(gv->resources[i], res))
            return true;
    return false;
}

static bool gv_star(const fl_collector_gv *gv)
{
    return gv_names(gv, "*");
}

static void apply_discovery(member *m, const fl_collector_gv *gv, const json_t *list)
{
    json_t *arr = json_object_get(list, "resources");
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *kind = json_string_value(json_object_get(e, "kind"));
        json_t *verbs = json_object_get(e, "verbs");
        if (!name || strchr(name, '/') || !has_verb(verbs, "list") || !has_verb(verbs, "watch"))
            continue;
        bool exp = gv_names(gv, name);
        if (exp || gv_star(gv))
            want(m, gv->group, gv->version, name, kind,
                 json_is_true(json_object_get(e, "namespaced")), true, exp);
    }
    for (size_t k = 0; k < gv->nresources; k++) { /* named but not served */
        const char *name = gv->resources[k];
        reflector *r = strcmp(name, "*") ? find_refl(m, gv->group, gv->version, name) : NULL;
        if (strcmp(name, "*") && (!r || !r->wanted))
            want(m, gv->group, gv->version, name, NULL, true, false, true);
    }
}

/* After a discovery round: reflectors of a gv that answered but no longer
 * list them (a CRD went away) stop. */
static void prune_unwanted(member *m, const fl_collector_gv *gv)
{
    for (reflector *r = m->refl; r; r = r->next)
        if (!strcmp(r->group, gv->group) && !strcmp(r->version, gv->version) && !r->wanted &&
            r->sm.phase != CL_R_STOPPED && r->sm.phase != CL_R_SKIPPED) {
            stop_refl(r, CL_R_STOPPED);
            set_error(r, "no longer served by this cluster");
            note(r);
        }
}

static void disco_answered(member *m, size_t gi)
{
    m->disco_ok[gi] = true;
    m->disco_failing = false;
    m->discovered = true;
    for (size_t i = 0; i < m->c->ngvs; i++)
        m->discovered = m->discovered && m->disco_ok[i];
}

static void on_disco_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    member *m = ud;
    fl_collector *c = m->c;
    size_t gi = 0;
    while (gi < c->ngvs && m->disco_reqs[gi] != req)
        gi++;
    if (gi == c->ngvs)
        return;
    m->disco_reqs[gi] = NULL;
    m->disco_pending--;
    if (c->stopping)
        return;
    const fl_collector_gv *gv = &c->gvs[gi];
    for (reflector *r = m->refl; r; r = r->next)
        if (!strcmp(r->group, gv->group) && !strcmp(r->version, gv->version))
            r->wanted = false;
    json_t *doc = NULL;
    m->c->dirty = true;
    if (res->err == FL_ENOTFOUND) {
        disco_answered(m, gi);
        for (size_t k = 0; k < gv->nresources; k++)
            if (strcmp(gv->resources[k], "*"))
                want(m, gv->group, gv->version, gv->resources[k], NULL, true, false, true);
    } else if (res->err || res->body.len > DISCOVERY_MAX_BYTES ||
               fl_json_parse(res->body.data ? res->body.data : "", res->body.len, &doc, NULL) ||
               !json_is_object(doc)) {
        /* Unreachable or garbage: keep what runs; the next round retries. */
        m->disco_failing = true;
        for (reflector *r = m->refl; r; r = r->next)
            if (!strcmp(r->group, gv->group) && !strcmp(r->version, gv->version))
                r->wanted = true;
        if (!res->err)
            fl_log(FL_LOG_DEBUG, "collector", "%s: discovery of %s/%s: not a resource list",
                   m->name, gv->group, gv->version);
        json_decref(doc);
        return;
    } else {
        disco_answered(m, gi);
        apply_discovery(m, gv, doc);
    }
    json_decref(doc);
    prune_unwanted(m, gv);
}

static void on_disco_timer(uv_timer_t *t)
{
    member *m = t->data;
    fl_collector *c = m->c;
    if (c->stopping || m->disco_pending)
        return;
    for (size_t i = 0; i < c->ngvs; i++) {
        char path[512];
        const fl_collector_gv *gv = &c->gvs[i];
        if (gv->group[0])
            snprintf(path, sizeof path, "/apis/%s/%s", gv->group, gv->version);
        else
            snprintf(path, sizeof path, "/api/%s", gv->version);
        fl_kube_request rq = FL_KUBE_REQUEST_INIT;
        rq.path = path;
        rq.timeout_ms = c->o.request_timeout_ms;
        if (fl_kube_client_request(m->data, &rq, NULL, on_disco_done, m, &m->disco_reqs[i]) == 0)
            m->disco_pending++;
        else
            m->disco_reqs[i] = NULL;
    }
}

/* ------------------------------------------------------------ CRD watch
 * A change of any CustomResourceDefinition re-runs discovery soon (the
 * periodic re-discovery stays as the fallback for members that do not let
 * us watch CRDs). */

#define CRD_DISCOVERY_DELAY_MS 500

static void crd_watch_start(member *m);

static void on_crd_timer(uv_timer_t *t)
{
    crd_watch_start(t->data);
}

static int on_crd_line(fl_kube_req *req, const char *line, size_t len, void *ud)
{
    static const char *const typ[] = {"type"};
    member *m = ud;
    char type[32];
    if (cl_scan_str(line, len, typ, 1, type, sizeof type) == 0 &&
        (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") || !strcmp(type, "DELETED")))
        uv_timer_start(&m->disco_timer, on_disco_timer, CRD_DISCOVERY_DELAY_MS,
                       (uint64_t)m->c->o.discovery_interval_ms);
    return 0;
}

static void on_crd_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    member *m = ud;
    m->crd_req = NULL;
    if (m->c->stopping)
        return;
    if (res->err == FL_ENOTFOUND || res->err == FL_EFORBIDDEN) {
        m->crd_off = true; /* periodic discovery only */
        fl_log(FL_LOG_DEBUG, "collector", "cluster %s: not watching CRDs: %s", m->name,
               res->message);
        return;
    }
    uv_timer_start(&m->crd_timer, on_crd_timer, res->err ? 5000 : 100, 0);
}

static void crd_watch_start(member *m)
{
    char path[256];
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    if (m->c->stopping || m->crd_off || m->crd_req)
        return;
    snprintf(path, sizeof path,
             "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?watch=1&timeoutSeconds=%lld",
             (long long)cl_watch_timeout_s(m->c->o.watch_timeout_ms, cl_rand01()));
    rq.path = path;
    rq.stream = true;
    rq.timeout_ms = -1;
    rq.stall_timeout_ms = -1; /* CRD watches carry no bookmarks: silence is normal */
    if (fl_kube_client_request(m->data, &rq, on_crd_line, on_crd_done, m, &m->crd_req) != 0)
        uv_timer_start(&m->crd_timer, on_crd_timer, 5000, 0);
}

/* --------------------------------------------------------------- health */

static void probe_start(member *m, const char *path);

static void on_version_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    static const char *const gv[] = {"gitVersion"};
    member *m = ud;
    m->version_req = NULL;
    if (m->c->stopping || res->err)
        return;
    if (cl_scan_str(res->body.data ? res->body.data : "", res->body.len, gv, 1, m->version,
                    sizeof m->version) != 0)
        m->version[0] = 0;
    m->c->dirty = true;
}

/* A cluster came back: reflectors waiting in backoff try again now. */
static void kick_waiting(member *m)
{
    for (reflector *r = m->refl; r; r = r->next)
        if (r->sm.phase == CL_R_WAITING && r->tmode == T_BACKOFF)
            timer_in(r, T_BACKOFF, 0);
}

static void health_set(member *m, cl_hstate st, const char *error)
{
    cl_hstate before = m->health.state;
    if (!cl_health_observe(&m->health, st, error, fl_now_ms()))
        return;
    m->c->dirty = true;
    if (st == CL_H_READY)
        fl_log(FL_LOG_INFO, "collector", "cluster %s: Ready", m->name);
    else
        fl_log(FL_LOG_WARN, "collector", "cluster %s: %s: %s", m->name, cl_hstate_name(st),
               error ? error : "");
    if (st == CL_H_READY && before != CL_H_UNKNOWN)
        kick_waiting(m);
}

static void on_probe_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    member *m = ud;
    char msg[300];
    m->probe_req = NULL;
    if (m->c->stopping)
        return;
    if (res->err == 0 && strncasecmp(res->content_type, "text/html", 9) == 0) {
        /* kube-apiserver answers text/plain "ok": a page is a proxy or a login screen */
        snprintf(msg, sizeof msg,
                 "%s: 200 with a text/html page, not the Kubernetes API "
                 "(a proxy or login page in front of it?)",
                 m->probing_healthz ? "/healthz" : "/readyz");
        health_set(m, CL_H_NOT_READY, msg);
        return;
    }
    if (res->err == 0) {
        health_set(m, CL_H_READY, NULL);
        if (!m->version[0] && !m->version_req) {
            fl_kube_request rq = FL_KUBE_REQUEST_INIT;
            rq.path = "/version";
            rq.timeout_ms = m->c->o.health_timeout_ms;
            fl_kube_client_request(m->probe, &rq, NULL, on_version_done, m, &m->version_req);
        }
        return;
    }
    if (res->http_status == 404 && !m->probing_healthz) {
        probe_start(m, "/healthz");
        return;
    }
    resp_error(m->probing_healthz ? "/healthz" : "/readyz", res, msg, sizeof msg);
    health_set(m, res->http_status ? CL_H_NOT_READY : CL_H_UNREACHABLE, msg);
}

static void probe_start(member *m, const char *path)
{
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    rq.path = path;
    rq.accept = "*/*";
    rq.timeout_ms = m->c->o.health_timeout_ms;
    m->probing_healthz = strcmp(path, "/healthz") == 0;
    int rc = fl_kube_client_request(m->probe, &rq, NULL, on_probe_done, m, &m->probe_req);
    if (rc)
        health_set(m, CL_H_UNREACHABLE, fl_strerror(rc));
}

static void on_probe_timer(uv_timer_t *t)
{
    member *m = t->data;
    if (!m->c->stopping && !m->probe_req)
        probe_start(m, "/readyz");
}

/* --------------------------------------------------------------- status */

static json_t *time_or_null(int64_t ms)
{
    if (!ms)
        return json_null();
    char buf[32];
    fl_time_format(ms / 1000, buf);
    return json_string(buf);
}

static json_t *refl_json(const reflector *r, int64_t now)
{
    int64_t lag = 0;
    if (r->sm.phase == CL_R_WATCHING && r->in_sync && r->last_bad_ms > r->last_synced_ms)
        lag = now - r->last_synced_ms; /* watching, but the lines since were skipped */
    else if (!r->in_sync && r->sm.phase != CL_R_SKIPPED)
        lag = r->left_watch_ms ? now - r->left_watch_ms : -1;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}",
                     "group", r->group, "version", r->version, "resource", r->resource, "kind",
                     r->kind, "phase", cl_rphase_name(r->sm.phase), "synced", r->synced,
                     "resourceVersion", r->sm.rv, "lastError", r->last_error, "lagMs",
                     (json_int_t)lag, "events", (json_int_t)r->events, "relists",
                     (json_int_t)r->relists, "badEvents", (json_int_t)r->bad_lines, "filtered",
                     (json_int_t)r->filtered, "lastSynced", time_or_null(r->last_synced_ms));
}

/* A relist's end was queued: has the writer committed it? (loop thread) */
static void confirm_synced(fl_collector *c, reflector *r)
{
    fl_index_sync st;
    if (!r->awaiting || !c->reader || fl_index_sync_get(c->reader, &r->src, &st, NULL) != 0)
        return;
    if (st.last_list_ms >= r->list_begun_ms) {
        r->synced = true;
        r->awaiting = false;
    }
}

static cl_member_sync member_sync(fl_collector *c, member *m)
{
    cl_member_sync s = {m->health.state, m->discovered, m->disco_failing, 0, 0, 0};
    for (reflector *r = m->refl; r; r = r->next) {
        confirm_synced(c, r);
        if (r->sm.phase == CL_R_SKIPPED || r->sm.phase == CL_R_STOPPED)
            continue;
        s.resources++;
        if (r->synced)
            s.synced++;
        else if (r->sm.consecutive_failures > 0)
            s.failing++;
    }
    return s;
}

/* Append "name (what)" to the reason, "; "-separated, while it fits. */
static void reason_add(char *out, size_t n, const char *name, const char *what)
{
    size_t len = strlen(out);
    if (len + 8 >= n)
        return;
    snprintf(out + len, n - len, "%s%s (%s)", len ? "; " : "", name, what);
    if (strlen(out) + 1 >= n)
        fl_strlcpy(out + n - 4, "...", 4);
}

/* The member's problem in a few words: its health error, else the first
 * failing resource's. */
static void member_problem(const member *m, const cl_member_sync *s, char *out, size_t n)
{
    if (m->health.state != CL_H_READY) {
        snprintf(out, n, "%s%s%s", cl_hstate_name(m->health.state),
                 m->health.last_error[0] ? ": " : "", m->health.last_error);
        return;
    }
    if (!s->discovered) {
        snprintf(out, n, "discovery failing");
        return;
    }
    for (const reflector *r = m->refl; r; r = r->next)
        if (!r->synced && r->sm.consecutive_failures > 0 && r->sm.phase != CL_R_SKIPPED &&
            r->sm.phase != CL_R_STOPPED) {
            snprintf(out, n, "%s: %s", r->resource, r->last_error);
            return;
        }
    snprintf(out, n, "failing");
}

static json_t *member_json(fl_collector *c, member *m, int64_t now, cl_mstate *state)
{
    cl_member_sync s = member_sync(c, m);
    json_t *res = json_array();
    for (const reflector *r = m->refl; r && res; r = r->next)
        json_array_append_new(res, refl_json(r, now));
    *state = cl_member_state(&s);
    return json_pack("{s:s, s:o, s:s, s:o, s:s, s:s, s:s, s:I, s:I, s:o}", "name", m->name, "added",
                     time_or_null(m->added_ms), "health", cl_hstate_name(m->health.state), "since",
                     time_or_null(m->health.since_ms), "lastError", m->health.last_error, "version",
                     m->version, "sync", cl_mstate_name(*state), "resourcesSynced",
                     (json_int_t)s.synced, "resourcesTotal", (json_int_t)s.resources, "resources",
                     res ? res : json_array());
}

/* Readiness and its reason from the members' states (see collector.h). */
static bool readiness(fl_collector *c, const cl_mstate *st, char *why, size_t n)
{
    size_t synced = 0, syncing = 0, failing = 0;
    why[0] = 0;
    for (size_t i = 0; i < c->nmembers; i++)
        synced += st[i] == CL_M_SYNCED, syncing += st[i] == CL_M_SYNCING,
            failing += st[i] == CL_M_FAILING;
    bool ready = cl_ready(c->nmembers, synced, syncing);
    size_t len = (size_t)snprintf(why, n, "%s",
                                  syncing   ? "initial sync in progress: "
                                  : !ready  ? "no member is synced: "
                                  : failing ? "serving the synced members; failing: "
                                            : "");
    for (size_t i = 0; i < c->nmembers && len < n; i++) {
        member *m = &c->members[i];
        char what[300];
        if (syncing && st[i] == CL_M_SYNCING) {
            cl_member_sync s = member_sync(c, m);
            if (m->health.state == CL_H_UNKNOWN)
                snprintf(what, sizeof what, "first health probe");
            else if (!s.discovered)
                snprintf(what, sizeof what, "discovery");
            else
                snprintf(what, sizeof what, "%zu/%zu resources", s.synced, s.resources);
        } else if (!syncing && st[i] == CL_M_FAILING) {
            cl_member_sync s = member_sync(c, m);
            member_problem(m, &s, what, sizeof what);
        } else {
            continue;
        }
        reason_add(why + len, n - len, m->name, what);
    }
    return ready;
}

static void publish(fl_collector *c)
{
    int64_t now = fl_now_ms();
    char why[sizeof c->reason];
    cl_mstate *st = calloc(c->nmembers ? c->nmembers : 1, sizeof *st);
    json_t *arr = st ? json_array() : NULL;
    for (size_t i = 0; i < c->nmembers && arr; i++)
        json_array_append_new(arr, member_json(c, &c->members[i], now, &st[i]));
    bool ready = arr && readiness(c, st, why, sizeof why);
    json_t *doc = arr ? json_pack("{s:b, s:s, s:o}", "ready", ready, "reason", arr ? why : "",
                                  "clusters", arr)
                      : NULL;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    free(st);
    if (!text)
        return;
    pthread_mutex_lock(&c->mu);
    free(c->status);
    c->status = text;
    c->ready = ready;
    fl_strlcpy(c->reason, why, sizeof c->reason);
    pthread_mutex_unlock(&c->mu);
    c->dirty = false;
}

static void on_status_timer(uv_timer_t *t)
{
    fl_collector *c = t->data;
    publish(c); /* lag moves with time: always refresh */
}

/* ------------------------------------------------------------- the loop */

static void member_start(member *m)
{
    fl_collector *c = m->c;
    fl_err err = FL_ERR_INIT;
    uv_timer_init(&c->loop, &m->probe_timer);
    uv_timer_init(&c->loop, &m->disco_timer);
    uv_timer_init(&c->loop, &m->crd_timer);
    m->probe_timer.data = m->disco_timer.data = m->crd_timer.data = m;
    if (!m->conn)
        return;
    fl_kube_client_opts co = FL_KUBE_CLIENT_OPTS_INIT;
    co.max_body = co.max_line = c->o.max_object_bytes;
    co.timeout_ms = c->o.request_timeout_ms;
    if (fl_kube_client_new(&c->loop, m->conn, &co, &m->data, &err) != 0 ||
        fl_kube_client_new(&c->loop, m->conn, &co, &m->probe, &err) != 0) {
        health_set(m, CL_H_UNREACHABLE, err.msg);
        return;
    }
    uv_timer_start(&m->probe_timer, on_probe_timer, 0, (uint64_t)c->o.health_interval_ms);
    uv_timer_start(&m->disco_timer, on_disco_timer, 0, (uint64_t)c->o.discovery_interval_ms);
    crd_watch_start(m);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void shutdown_loop(fl_collector *c)
{
    c->stopping = true;
    for (size_t i = 0; i < c->nmembers; i++) {
        member *m = &c->members[i];
        for (reflector *r = m->refl; r; r = r->next) {
            if (r->in_relist)
                fl_index_relist_abort(c->index, &r->src, NULL);
            r->in_relist = false;
            uv_close((uv_handle_t *)&r->timer, on_closed);
        }
        fl_kube_client_close(m->data, NULL, NULL);
        fl_kube_client_close(m->probe, NULL, NULL);
        m->data = m->probe = NULL;
        uv_close((uv_handle_t *)&m->probe_timer, on_closed);
        uv_close((uv_handle_t *)&m->disco_timer, on_closed);
        uv_close((uv_handle_t *)&m->crd_timer, on_closed);
    }
    uv_close((uv_handle_t *)&c->status_timer, on_closed);
    uv_close((uv_handle_t *)&c->async, on_closed);
}

static void on_async(uv_async_t *a)
{
    fl_collector *c = a->data;
    if (atomic_load(&c->stop_req) && !c->stopping)
        shutdown_loop(c);
}

static void loop_main(void *arg)
{
    fl_collector *c = arg;
    if (fl_index_reader_new(c->index, &c->reader, NULL) != 0)
        c->reader = NULL; /* no resume points: every reflector lists */
    for (size_t i = 0; i < c->nmembers; i++)
        member_start(&c->members[i]);
    uv_timer_init(&c->loop, &c->status_timer);
    c->status_timer.data = c;
    uv_timer_start(&c->status_timer, on_status_timer, 0, STATUS_PERIOD_MS);
    if (atomic_load(&c->stop_req))
        shutdown_loop(c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    publish(c);
    fl_index_reader_free(c->reader);
    c->reader = NULL;
}

/* ------------------------------------------------------------ public API */

static int copy_strs(const char *const *in, size_t n, const char *const **out)
{
    char **a = calloc(n ? n : 1, sizeof *a);
    if (!a)
        return -ENOMEM;
    *out = (const char *const *)a;
    for (size_t i = 0; i < n; i++)
        if (!(a[i] = strdup(in[i])))
            return -ENOMEM;
    return 0;
}

static void free_strs(const char *const *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        free((char *)a[i]);
    free((void *)a);
}

static int build_selectors(fl_collector *c, const fl_collector_opts *o)
{
    fl_buf b = FL_BUF_INIT(64u << 10), nb = FL_BUF_INIT(64u << 10);
    int rc = cl_ns_exclude_selector(o->ns_exclude, o->nns_exclude, &b);
    for (size_t i = 0; !rc && i < o->nns_exclude; i++)
        rc = fl_buf_printf(&nb, "%smetadata.name!=%s", i ? "," : "", o->ns_exclude[i]);
    if (!rc && o->nns_include == 1) /* more than one: filtered at sync time */
        rc = fl_buf_printf(&nb, "%smetadata.name=%s", nb.len ? "," : "", o->ns_include[0]);
    if (!rc) {
        c->exclude_sel = b.len ? fl_buf_steal(&b) : NULL;
        c->ns_name_sel = nb.len ? fl_buf_steal(&nb) : NULL;
    }
    fl_buf_done(&b);
    fl_buf_done(&nb);
    return rc;
}

static int copy_opts(fl_collector *c, const fl_collector_opts *o)
{
    c->o = *o;
    c->o.members = NULL;
    c->o.resources = NULL;
    c->o.ns_include = c->o.ns_exclude = NULL;
    if (!(c->gvs = calloc(o->nresources ? o->nresources : 1, sizeof *c->gvs)))
        return -ENOMEM;
    for (size_t i = 0; i < o->nresources; i++, c->ngvs++) {
        fl_collector_gv *g = &c->gvs[i];
        g->group = strdup(o->resources[i].group ? o->resources[i].group : "");
        g->version = strdup(o->resources[i].version);
        g->nresources = o->resources[i].nresources;
        if (!g->group || !g->version ||
            copy_strs(o->resources[i].resources, g->nresources, &g->resources))
            return -ENOMEM;
    }
    if (o->nns_include == 1 && !(c->ns_include = strdup(o->ns_include[0])))
        return -ENOMEM;
    if (o->nns_include > 1) {
        c->nns_set = o->nns_include; /* before the copy: a partial one is freed whole */
        if (copy_strs(o->ns_include, o->nns_include, &c->ns_set))
            return -ENOMEM;
        c->nsf = (cl_nsfilter){c->ns_set, c->nns_set, false};
        c->nsf_byname = (cl_nsfilter){c->ns_set, c->nns_set, true};
    }
    return build_selectors(c, o);
}

static int add_members(fl_collector *c, const fl_collector_opts *o)
{
    if (!(c->members = calloc(o->nmembers ? o->nmembers : 1, sizeof *c->members)))
        return -ENOMEM;
    for (size_t i = 0; i < o->nmembers; i++, c->nmembers++) {
        member *m = &c->members[i];
        const fl_collector_member *om = &o->members[i];
        fl_err err = FL_ERR_INIT;
        m->c = c;
        m->added_ms = fl_now_ms();
        m->name = strdup(om->name);
        m->kubeconfig = strdup(om->kubeconfig ? om->kubeconfig : "");
        m->context = strdup(om->context ? om->context : "");
        m->disco_reqs = calloc(c->ngvs ? c->ngvs : 1, sizeof *m->disco_reqs);
        m->disco_ok = calloc(c->ngvs ? c->ngvs : 1, sizeof *m->disco_ok);
        m->discovered = c->ngvs == 0;
        if (!m->name || !m->kubeconfig || !m->context || !m->disco_reqs || !m->disco_ok)
            return -ENOMEM;
        if (fl_kube_conn_load(m->kubeconfig, m->context, &m->conn, &err) != 0) {
            fl_log(FL_LOG_ERROR, "collector", "cluster %s: %s", m->name, err.msg);
            cl_health_observe(&m->health, CL_H_UNREACHABLE, err.msg, fl_now_ms());
        }
    }
    return 0;
}

static int check_opts(const fl_collector_opts *o, fl_err *err)
{
    if (!o || !o->index)
        return fl_err_set(err, -EINVAL, "collector: no index");
    for (size_t i = 0; i < o->nmembers; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(o->members[i].name, o->members[j].name))
                return fl_err_set(err, -EINVAL, "collector: duplicate member %s",
                                  o->members[i].name);
    if (o->page_size < 1 || o->watch_timeout_ms < 1000 || o->health_interval_ms < 10 ||
        o->discovery_interval_ms < 10 || o->backoff_max_ms < 1)
        return fl_err_set(err, -EINVAL, "collector: bad timing options");
    return 0;
}

int fl_collector_new(const fl_collector_opts *opts, fl_collector **out, fl_err *err)
{
    int rc = check_opts(opts, err);
    if (rc)
        return rc;
    fl_collector *c = calloc(1, sizeof *c);
    if (!c)
        return fl_err_set(err, -ENOMEM, "collector: out of memory");
    c->index = opts->index;
    atomic_init(&c->stop_req, false);
    pthread_mutex_init(&c->mu, NULL);
    if ((rc = copy_opts(c, opts)) || (rc = add_members(c, opts))) {
        fl_err_set(err, rc, "collector: %s", fl_strerror(rc));
        fl_collector_free(c);
        return rc;
    }
    if ((rc = uv_loop_init(&c->loop)) != 0) {
        fl_err_set(err, rc, "collector: uv_loop_init: %s", uv_strerror(rc));
        fl_collector_free(c);
        return rc;
    }
    c->loop_ok = true;
    *out = c;
    return 0;
}

int fl_collector_start(fl_collector *c, fl_err *err)
{
    int rc = uv_async_init(&c->loop, &c->async, on_async);
    if (rc)
        return fl_err_set(err, rc, "collector: uv_async_init: %s", uv_strerror(rc));
    c->async.data = c;
    if ((rc = uv_thread_create(&c->thread, loop_main, c)) != 0) {
        uv_close((uv_handle_t *)&c->async, NULL);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        return fl_err_set(err, rc, "collector: thread: %s", uv_strerror(rc));
    }
    c->started = true;
    return 0;
}

void fl_collector_stop(fl_collector *c)
{
    if (!c || !c->started || c->joined)
        return;
    atomic_store(&c->stop_req, true);
    uv_async_send(&c->async);
    uv_thread_join(&c->thread);
    c->joined = true;
}

static void free_refls(reflector *r)
{
    while (r) {
        reflector *next = r->next;
        free(r->group), free(r->version), free(r->resource), free(r->kind);
        free(r->pending);
        fl_buf_done(&r->cont);
        free(r);
        r = next;
    }
}

void fl_collector_free(fl_collector *c)
{
    if (!c)
        return;
    fl_collector_stop(c);
    if (c->loop_ok)
        uv_loop_close(&c->loop);
    for (size_t i = 0; i < c->nmembers; i++) {
        member *m = &c->members[i];
        free_refls(m->refl);
        fl_kube_conn_unref(m->conn);
        free(m->name), free(m->kubeconfig), free(m->context), free(m->disco_reqs);
        free(m->disco_ok);
    }
    free(c->members);
    for (size_t i = 0; i < c->ngvs; i++) {
        free((char *)c->gvs[i].group);
        free((char *)c->gvs[i].version);
        free_strs(c->gvs[i].resources, c->gvs[i].nresources);
    }
    free(c->gvs);
    free(c->ns_include), free(c->exclude_sel), free(c->ns_name_sel);
    free_strs(c->ns_set, c->nns_set);
    free(c->status);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

json_t *fl_collector_status(fl_collector *c)
{
    pthread_mutex_lock(&c->mu);
    json_t *doc = c->status ? json_loads(c->status, 0, NULL) : NULL;
    pthread_mutex_unlock(&c->mu);
    return doc ? doc : json_pack("{s:[]}", "clusters");
}

bool fl_collector_ready(fl_collector *c, char *reason, size_t n)
{
    pthread_mutex_lock(&c->mu);
    bool ready = c->status && c->ready;
    if (reason && n)
        fl_strlcpy(reason, c->status ? c->reason : "starting", n);
    pthread_mutex_unlock(&c->mu);
    return ready;
}
