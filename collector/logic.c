/*
 * collector/logic.c: the collector's pure logic (see collector_int.h):
 * backoff, watch timeouts, the reflector state machine, health transitions,
 * request paths and the raw JSON field scanner. No I/O, no globals.
 */
#include "collector/collector_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- backoff */

void cl_backoff_init(cl_backoff *b, int64_t initial_ms, int64_t max_ms, int64_t reset_ms)
{
    b->initial_ms = initial_ms;
    b->max_ms = max_ms;
    b->reset_ms = reset_ms;
    b->cur_ms = 0;
    b->last_fail_ms = 0;
}

int64_t cl_backoff_next(cl_backoff *b, int64_t now_ms, double rand01)
{
    if (b->cur_ms == 0 || now_ms - b->last_fail_ms > b->reset_ms)
        b->cur_ms = b->initial_ms;
    else if (b->cur_ms < b->max_ms)
        b->cur_ms = b->cur_ms * 2 > b->max_ms ? b->max_ms : b->cur_ms * 2;
    b->last_fail_ms = now_ms;
    if (rand01 < 0 || rand01 >= 1)
        rand01 = 0;
    return b->cur_ms + (int64_t)(rand01 * (double)b->cur_ms);
}

void cl_backoff_reset(cl_backoff *b)
{
    b->cur_ms = 0;
}

int64_t cl_watch_timeout_s(int64_t min_ms, double rand01)
{
    if (rand01 < 0 || rand01 >= 1)
        rand01 = 0;
    int64_t s = (int64_t)((double)min_ms * (1.0 + rand01) / 1000.0);
    return s < 1 ? 1 : s;
}

double cl_rand01(void)
{
    uint64_t x = 0;
    if (fl_random_bytes(&x, sizeof x) != 0)
        x = (uint64_t)fl_mono_ms() * 0x9E3779B97F4A7C15ull;
    return (double)(x >> 11) / 9007199254740992.0; /* 2^53 */
}

/* ------------------------------------------------------------ reflector */

void cl_sm_init(cl_reflector_sm *sm, const char *stored_rv)
{
    memset(sm, 0, sizeof *sm);
    fl_strlcpy(sm->rv, stored_rv ? stored_rv : "", sizeof sm->rv);
    cl_backoff_init(&sm->backoff, 800, 30000, 120000);
    cl_backoff_init(&sm->corrupt, 800, 60000, 600000);
}

static cl_raction wait_then(cl_reflector_sm *sm, bool list, int64_t now, double r, int64_t *d)
{
    sm->phase = CL_R_WAITING;
    sm->after_wait_list = list;
    sm->consecutive_failures++;
    *d = cl_backoff_next(&sm->backoff, now, r);
    return CL_DO_WAIT;
}

static cl_raction do_list(cl_reflector_sm *sm)
{
    sm->phase = CL_R_LISTING;
    return CL_DO_LIST;
}

static cl_raction do_watch(cl_reflector_sm *sm)
{
    sm->phase = CL_R_WATCHING;
    return CL_DO_WATCH;
}

cl_raction cl_sm_feed(cl_reflector_sm *sm, cl_rev ev, const char *rv, int code, int64_t now_ms,
                      double rand01, int64_t *delay_ms)
{
    if (sm->phase == CL_R_STOPPED)
        return CL_DO_NOTHING;
    switch (ev) {
    case CL_EV_START:
        /* Restart: resume the watch from the stored RV (the member replays
         * what changed, deletes included); a 410 there relists. */
        return sm->rv[0] ? do_watch(sm) : do_list(sm);
    case CL_EV_LIST_DONE:
        fl_strlcpy(sm->rv, rv ? rv : "", sizeof sm->rv);
        sm->consecutive_failures = 0;
        cl_backoff_reset(&sm->backoff);
        return do_watch(sm);
    case CL_EV_LIST_FAILED:
        if (code == FL_ENOTFOUND) {
            sm->phase = CL_R_SKIPPED;
            return CL_DO_SKIP;
        }
        return wait_then(sm, true, now_ms, rand01, delay_ms);
    case CL_EV_WATCH_EVENT:
        if (rv && *rv)
            fl_strlcpy(sm->rv, rv, sizeof sm->rv);
        sm->consecutive_failures = 0;
        cl_backoff_reset(&sm->backoff);
        cl_backoff_reset(&sm->corrupt);
        return CL_DO_NOTHING;
    case CL_EV_WATCH_CORRUPT:
        /* The line we could not read was an event: resuming after it would
         * skip it for good. Relist, after a delay that grows while streams
         * keep arriving malformed (each relist is a whole LIST). */
        sm->rv[0] = 0;
        sm->phase = CL_R_WAITING;
        sm->after_wait_list = true;
        *delay_ms = cl_backoff_next(&sm->corrupt, now_ms, rand01);
        return CL_DO_WAIT;
    case CL_EV_WATCH_CLOSED: return sm->rv[0] ? do_watch(sm) : do_list(sm);
    case CL_EV_WATCH_FAILED: return wait_then(sm, sm->rv[0] == 0, now_ms, rand01, delay_ms);
    case CL_EV_WATCH_GONE:
        sm->rv[0] = 0;
        /* The first 410 relists at once (client-go does the same after its
         * watch returns "too old"); repeated ones back off. */
        if (sm->consecutive_failures == 0) {
            sm->consecutive_failures++;
            return do_list(sm);
        }
        return wait_then(sm, true, now_ms, rand01, delay_ms);
    case CL_EV_TIMER:
        if (sm->phase != CL_R_WAITING)
            return CL_DO_NOTHING;
        return (sm->after_wait_list || sm->rv[0] == 0) ? do_list(sm) : do_watch(sm);
    case CL_EV_STOP: sm->phase = CL_R_STOPPED; return CL_DO_NOTHING;
    }
    return CL_DO_NOTHING;
}

const char *cl_rphase_name(cl_rphase p)
{
    static const char *const names[] = {"Pending", "Listing", "Watching",
                                        "Backoff", "Skipped", "Stopped"};
    return (size_t)p < FL_ARRAY_LEN(names) ? names[p] : "Unknown";
}

/* --------------------------------------------------------------- health */

bool cl_health_observe(cl_health *h, cl_hstate observed, const char *error, int64_t now_ms)
{
    /* last_error is the current problem: a good probe clears it */
    fl_strlcpy(h->last_error, observed != CL_H_READY && error ? error : "", sizeof h->last_error);
    if (observed == h->state) {
        h->pending = CL_H_UNKNOWN;
        return false;
    }
    if (h->state == CL_H_READY && observed != CL_H_READY && h->pending == CL_H_UNKNOWN) {
        h->pending = observed;
        return false;
    }
    h->pending = CL_H_UNKNOWN;
    h->state = observed;
    h->since_ms = now_ms;
    return true;
}

const char *cl_hstate_name(cl_hstate s)
{
    static const char *const names[] = {"Unknown", "Ready", "NotReady", "Unreachable"};
    return (size_t)s < FL_ARRAY_LEN(names) ? names[s] : "Unknown";
}

/* ------------------------------------------------------------ readiness */

cl_mstate cl_member_state(const cl_member_sync *s)
{
    if (s->health == CL_H_NOT_READY || s->health == CL_H_UNREACHABLE)
        return CL_M_FAILING;
    if (s->health == CL_H_UNKNOWN)
        return CL_M_SYNCING;
    if (!s->discovered)
        return s->disco_failing ? CL_M_FAILING : CL_M_SYNCING;
    if (s->synced >= s->resources)
        return CL_M_SYNCED;
    return s->failing ? CL_M_FAILING : CL_M_SYNCING;
}

const char *cl_mstate_name(cl_mstate s)
{
    static const char *const names[] = {"Syncing", "Synced", "Failing"};
    return (size_t)s < FL_ARRAY_LEN(names) ? names[s] : "Syncing";
}

bool cl_ready(size_t nmembers, size_t synced, size_t syncing)
{
    return syncing == 0 && (nmembers == 0 || synced > 0);
}

/* ----------------------------------------------------------------- paths */

int cl_query_escape(const char *s, fl_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            rc = fl_buf_append(out, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = fl_buf_append(out, e, 3);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int base_path(const cl_scope *s, fl_buf *out)
{
    int rc = s->group[0] ? fl_buf_printf(out, "/apis/%s/%s", s->group, s->version)
                         : fl_buf_printf(out, "/api/%s", s->version);
    if (!rc && s->namespaced && s->namespace_)
        rc = fl_buf_printf(out, "/namespaces/%s", s->namespace_);
    if (!rc)
        rc = fl_buf_printf(out, "/%s", s->resource);
    return rc;
}

static int add_selector(const cl_scope *s, fl_buf *out)
{
    if (!s->field_selector || !*s->field_selector)
        return 0;
    int rc = fl_buf_puts(out, "&fieldSelector=");
    return rc ? rc : cl_query_escape(s->field_selector, out);
}

int cl_list_path(const cl_scope *s, int64_t limit, const char *cont, fl_buf *out)
{
    int rc = base_path(s, out);
    if (!rc)
        rc = fl_buf_printf(out, "?limit=%lld", (long long)limit);
    if (!rc && cont && *cont) {
        rc = fl_buf_puts(out, "&continue=");
        if (!rc)
            rc = cl_query_escape(cont, out);
    }
    return rc ? rc : add_selector(s, out);
}

int cl_watch_path(const cl_scope *s, const char *rv, int64_t timeout_s, fl_buf *out)
{
    int rc = base_path(s, out);
    if (!rc)
        rc = fl_buf_puts(out, "?watch=1&allowWatchBookmarks=true&resourceVersion=");
    if (!rc)
        rc = cl_query_escape(rv ? rv : "", out);
    if (!rc)
        rc = fl_buf_printf(out, "&timeoutSeconds=%lld", (long long)timeout_s);
    return rc ? rc : add_selector(s, out);
}

int cl_ns_exclude_selector(const char *const *exclude, size_t n, fl_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        int rc = fl_buf_printf(out, "%smetadata.namespace!=%s", i ? "," : "", exclude[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* --------------------------------------------------------------- scanner */

typedef struct scan {
    const char *p, *end;
} scan;

static void ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* s->p at '"': moves past the closing quote. memchr finds each candidate
 * quote; it closes the string when an even number of backslashes precede it. */
static int skip_string(scan *s)
{
    const char *start = s->p + 1, *p = start;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(s->end - p));
        if (!q)
            return FL_EPARSE;
        size_t bs = 0;
        while (q - bs > start && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0) {
            s->p = q + 1;
            return 0;
        }
        p = q + 1;
    }
}

/* Skip one value of any kind (no recursion: a bracket counter). */
static int skip_value(scan *s)
{
    ws(s);
    if (s->p >= s->end)
        return FL_EPARSE;
    if (*s->p == '"')
        return skip_string(s);
    if (*s->p != '{' && *s->p != '[') {
        const char *start = s->p;
        while (s->p < s->end && *s->p != ',' && *s->p != '}' && *s->p != ']' && *s->p != ' ' &&
               *s->p != '\n' && *s->p != '\r' && *s->p != '\t')
            s->p++;
        return s->p > start ? 0 : FL_EPARSE;
    }
    size_t depth = 0;
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            if (skip_string(s))
                return FL_EPARSE;
            continue;
        }
        s->p++;
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return 0;
    }
    return FL_EPARSE;
}

/* s->p at '{' of an object: moves to the value of key. */
static int find_key(scan *s, const char *key)
{
    size_t klen = strlen(key);
    ws(s);
    if (s->p >= s->end || *s->p != '{')
        return FL_ENOTFOUND;
    s->p++;
    for (;;) {
        ws(s);
        if (s->p >= s->end)
            return FL_EPARSE;
        if (*s->p == '}')
            return FL_ENOTFOUND;
        if (*s->p != '"')
            return FL_EPARSE;
        const char *k = s->p + 1;
        if (skip_string(s))
            return FL_EPARSE;
        bool match = (size_t)(s->p - 1 - k) == klen && memcmp(k, key, klen) == 0;
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            return FL_EPARSE;
        s->p++;
        ws(s);
        if (match)
            return 0;
        if (skip_value(s))
            return FL_EPARSE;
        ws(s);
        if (s->p < s->end && *s->p == ',')
            s->p++;
        else if (s->p < s->end && *s->p == '}')
            return FL_ENOTFOUND;
        else
            return FL_EPARSE;
    }
}

static int walk_path(scan *s, const char *const *path, size_t depth)
{
    if (depth == 0 || depth > 64)
        return FL_ENOTFOUND;
    for (size_t i = 0; i < depth; i++) {
        int rc = find_key(s, path[i]);
        if (rc)
            return rc;
    }
    return 0;
}

int cl_scan_str(const char *data, size_t len, const char *const *path, size_t depth, char *out,
                size_t outsz)
{
    scan s = {data, data + len};
    int rc = walk_path(&s, path, depth);
    if (rc)
        return rc;
    if (s.p >= s.end || *s.p != '"')
        return FL_ENOTFOUND;
    const char *start = s.p + 1;
    if (skip_string(&s))
        return FL_EPARSE;
    size_t n = 0;
    for (const char *q = start; q < s.p - 1; q++) {
        if (*q == '\\' && q + 1 < s.p - 1 && (q[1] == '"' || q[1] == '\\' || q[1] == '/'))
            q++;
        if (n + 1 >= outsz)
            return -E2BIG;
        out[n++] = *q;
    }
    if (outsz == 0)
        return -E2BIG;
    out[n] = 0;
    return 0;
}

int cl_scan_int(const char *data, size_t len, const char *const *path, size_t depth, int64_t *out)
{
    scan s = {data, data + len};
    int rc = walk_path(&s, path, depth);
    if (rc)
        return rc;
    const char *start = s.p;
    while (s.p < s.end && (*s.p == '-' || (*s.p >= '0' && *s.p <= '9')))
        s.p++;
    return fl_parse_i64(start, (size_t)(s.p - start), out) ? FL_ENOTFOUND : 0;
}

/* ----------------------------------------------------- whole-value checks */

bool cl_json_complete(const char *data, size_t len)
{
    scan s = {data, data + len};
    ws(&s);
    if (s.p >= s.end || (*s.p != '{' && *s.p != '['))
        return false;
    if (skip_value(&s))
        return false;
    ws(&s);
    return s.p == s.end;
}

/* ------------------------------------------------------- namespace filter */

bool cl_nsfilter_has(const cl_nsfilter *f, const char *ns)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->names[i], ns) == 0)
            return true;
    return false;
}

/* The object at data[0..len) (a list item or a watch event's object) is
 * inside the filter: its metadata.namespace (metadata.name for the
 * namespaces resource) is one of the names. */
static bool object_in(const cl_nsfilter *f, const char *data, size_t len)
{
    static const char *const nsp[] = {"metadata", "namespace"};
    static const char *const namep[] = {"metadata", "name"};
    char ns[256];
    if (cl_scan_str(data, len, f->by_name ? namep : nsp, 2, ns, sizeof ns) != 0)
        return false;
    return cl_nsfilter_has(f, ns);
}

bool cl_nsfilter_event(const cl_nsfilter *f, const char *line, size_t len)
{
    static const char *const typ[] = {"type"};
    static const char *const objp[] = {"object"};
    char type[32];
    if (cl_scan_str(line, len, typ, 1, type, sizeof type) != 0 || !strcmp(type, "BOOKMARK") ||
        !strcmp(type, "ERROR"))
        return true;
    scan s = {line, line + len};
    if (walk_path(&s, objp, 1) != 0)
        return true; /* malformed: let the caller report it */
    const char *obj = s.p;
    if (skip_value(&s) != 0)
        return true;
    return object_in(f, obj, (size_t)(s.p - obj));
}

/* Copy the items of the array at s->p that are inside f to out, comma
 * separated; s->p ends just past the closing ']'. */
static int filter_items(const cl_nsfilter *f, scan *s, fl_buf *out, size_t *kept, size_t *dropped)
{
    if (s->p >= s->end || *s->p != '[')
        return FL_EPARSE;
    s->p++;
    for (bool first = true;; first = false) {
        ws(s);
        if (s->p < s->end && *s->p == ']' && first) {
            s->p++;
            return 0;
        }
        const char *item = s->p;
        if (skip_value(s) != 0)
            return FL_EPARSE;
        size_t ilen = (size_t)(s->p - item);
        if (object_in(f, item, ilen)) {
            int rc = fl_buf_append(out, ",", *kept ? 1 : 0);
            if (!rc)
                rc = fl_buf_append(out, item, ilen);
            if (rc)
                return rc;
            (*kept)++;
        } else {
            (*dropped)++;
        }
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return 0;
        }
        return FL_EPARSE;
    }
}

int cl_nsfilter_page(const cl_nsfilter *f, const char *data, size_t len, fl_buf *out, size_t *kept,
                     size_t *dropped)
{
    static const char *const itp[] = {"items"};
    scan s = {data, data + len};
    size_t k = 0, d = 0;
    int rc = walk_path(&s, itp, 1);
    if (rc == FL_ENOTFOUND)
        rc = FL_EPARSE;
    if (!rc && s.p < s.end && *s.p == 'n') { /* "items":null */
        rc = fl_buf_append(out, data, len);
        goto done;
    }
    if (!rc && (s.p >= s.end || *s.p != '['))
        rc = FL_EPARSE;
    if (!rc)
        rc = fl_buf_append(out, data, (size_t)(s.p - data + 1)); /* up to '[' */
    if (!rc)
        rc = filter_items(f, &s, out, &k, &d);
    if (!rc)
        rc = fl_buf_append(out, "]", 1);
    if (!rc)
        rc = fl_buf_append(out, s.p, (size_t)(s.end - s.p));
done:
    if (rc)
        return rc;
    *kept = k;
    *dropped = d;
    return 0;
}
