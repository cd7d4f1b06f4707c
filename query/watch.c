/*
 * query/watch.c: ?watch=1 across the fleet from the index change log,
 * served without a thread per watch. A watch is a small record (its
 * conditions, its user, its resume point and its stream); a fixed set of
 * WATCH_WORKERS threads, each with one index reader, takes watches off a
 * run queue and advances each by one step: the initial objects
 * (resourceVersion "" / "0", sent as ADDED), then at most one batch of the
 * change log with revision > its resume point that passes the request's
 * conditions and the user's scopes, then a bookmark when one is due. Every
 * index commit queues every idle watch; a tick once a second queues those
 * whose bookmark or timeoutSeconds is due. Writes go to the server's
 * suspended streams and never block: a client that does not read fills its
 * stream's buffer (the server's per-stream and total caps), and the watch
 * ends with a 410 ERROR event, as kube-apiserver's watch cache ends a watcher
 * that falls behind. So a stalled watcher costs its buffer, never a thread.
 *
 * Events are kube-apiserver's ({"type","object"} lines; Tables for kubectl
 * get -w), every change with its own type and revision and the object as it
 * was at that revision, in order. Objects carry the index revision of the
 * change as metadata.resourceVersion (the rule of query_row_json), so a
 * client resumes from its last event or from any object it has seen. A
 * resume point older than the change log answers an ERROR event with a 410
 * Expired Status. Bookmarks with allowWatchBookmarks=true.
 *
 * Threads: query_serve_watch runs on a server thread; on_change on the
 * index's writer thread; each watch is touched by one worker at a time
 * (its state says where it is: queued, running or idle, under hub.mu).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/query_int.h"

#define WATCH_WORKERS 2
#define WATCH_MAX_DEFAULT 10000        /* in all */
#define WATCH_PER_USER_DEFAULT 128     /* per user name: one user cannot lock others out */
#define WATCH_CACHE_KIB 8192           /* each worker reader's SQLite cache */
#define WATCH_BATCH_BYTES (256u << 10) /* copied out of the change log per step */
#define WATCH_BATCH 1000
#define WATCH_BOOKMARK_MS 10000
#define WATCH_TICK_MS 1000
#define WATCH_DEFAULT_TIMEOUT_S 1800
#define WATCH_MAX_TIMEOUT_S (366LL * 86400) /* larger timeoutSeconds: a year */
#define WATCH_INITIAL_MAX 200000
#define WATCH_GROUPS_MAX 64

/* Where a watch is. NEW: being set up by query_serve_watch (no worker or
 * commit touches it); QUEUED: on the run queue; RUNNING: a worker holds it;
 * IDLE: waiting for a commit or its tick. */
typedef enum { WS_NEW, WS_QUEUED, WS_RUNNING, WS_IDLE } watch_state;

typedef struct watch {
    fl_query *q;
    query_user u;
    char *user_name;
    char **groups; /* copied: a certificate's groups die with the request */
    query_target t;
    char *cluster, *ns;
    conds *c;
    fl_stream *st;
    fl_index_reader *rd; /* the running worker's reader, during a step only */
    int64_t from;        /* last revision read from the change log (or the resume point) */
    int64_t sent;        /* revision of the last event sent (or the resume point) */
    bool scoped;         /* bookmarks carry sent, not from (query_page_revision's rule) */
    bool table, bookmarks, first_table, initial;
    int64_t deadline_ms, last_bookmark_ms;
    int failed;        /* stream write failed: stop */
    char counted[128]; /* the user name counted in the hub's users */
    /* under hub.mu */
    watch_state state;
    bool again;                /* queue again after the running step */
    bool gone;                 /* the client left */
    struct watch *prev, *next; /* every watch of the hub */
    struct watch *qnext;       /* the run queue */
} watch;

typedef struct query_watch_hub hub;
typedef struct round round;
typedef struct worker {
    hub *h;
    fl_index_reader *rd;
    pthread_t th;
    bool started;
} worker;

/* Invariant: a watch is on the list from query_serve_watch's registration
 * until a worker ends it; on the run queue iff its state is WS_QUEUED. */
struct query_watch_hub {
    fl_query *q;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* the queue grew, or stopping */
    pthread_cond_t ended; /* a watch ended */
    watch *all;
    watch *qh, *qt;
    int nwatch, max, per_user;
    bool stopping;
    int64_t next_tick_ms;
    uint64_t gen; /* counts index commits */
    round *last;  /* the latest round read (a reference), or NULL */
    query_user_count users[QUERY_USER_SLOTS];
    worker workers[WATCH_WORKERS];
    int sub_id;
    bool subscribed;
};

/* ---- the hub: run queue, commits, ticks (under h->mu) ------------------------- */

/* Queue w for a step: at once when idle, after its step when running. */
static void push_locked(hub *h, watch *w)
{
    if (w->state == WS_RUNNING) {
        w->again = true;
        return;
    }
    if (w->state == WS_QUEUED)
        return;
    w->state = WS_QUEUED;
    w->qnext = NULL;
    if (h->qt)
        h->qt->qnext = w;
    else
        h->qh = w;
    h->qt = w;
    pthread_cond_signal(&h->work);
}

static watch *pop_locked(hub *h)
{
    watch *w = h->qh;
    if (!w)
        return NULL;
    h->qh = w->qnext;
    if (!h->qh)
        h->qt = NULL;
    w->state = WS_RUNNING;
    w->again = false;
    return w;
}

static void on_change(void *arg, int64_t from_rev, int64_t to_rev)
{
    hub *h = arg;
    pthread_mutex_lock(&h->mu);
    h->gen++;
    for (watch *w = h->all; w; w = w->next)
        if (w->state != WS_NEW)
            push_locked(h, w);
    pthread_mutex_unlock(&h->mu);
}

/* Queue the watches whose bookmark or deadline is due (once a second). */
static void tick_locked(hub *h, int64_t now)
{
    if (now < h->next_tick_ms)
        return;
    h->next_tick_ms = now + WATCH_TICK_MS;
    for (watch *w = h->all; w; w = w->next)
        if (w->state == WS_IDLE &&
            (now >= w->deadline_ms || w->gone || h->stopping ||
             (w->bookmarks && now - w->last_bookmark_ms >= WATCH_BOOKMARK_MS)))
            push_locked(h, w);
}

static void unlink_locked(hub *h, watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        h->all = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void on_gone(void *ud)
{
    watch *w = ud;
    hub *h = w->q->watches;
    pthread_mutex_lock(&h->mu);
    w->gone = true;
    if (w->state != WS_NEW)
        push_locked(h, w);
    pthread_mutex_unlock(&h->mu);
}

/* ---- one watch's events ------------------------------------------------------- */

static void send_too_slow(watch *w)
{
    fl_buf b = FL_BUF_INIT(4096);
    json_t *st = fl_status_new(410, "Expired",
                               "the watch fell behind (too much waiting to be read): list "
                               "and watch again");
    json_object_set_new(st, "status", json_string("Failure"));
    json_t *ev = json_pack("{s:s,s:o}", "type", "ERROR", "object", st);
    if (ev && fl_json_encode(ev, false, &b) == 0)
        fl_stream_write_last(w->st, b.data, b.len);
    json_decref(ev);
    fl_buf_done(&b);
}

/* Queue one event line; a full stream ends the watch with a 410. */
static int send_bytes(watch *w, const char *data, size_t len)
{
    int rc = fl_stream_write(w->st, data, len);
    if (rc == FL_EFULL)
        send_too_slow(w);
    if (rc)
        w->failed = rc;
    return rc;
}

static int send_line(watch *w, const char *type, json_t *obj)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    json_t *ev = json_pack("{s:s,s:O}", "type", type, "object", obj);
    int rc = ev ? fl_json_encode(ev, false, &b) : -ENOMEM;
    if (!rc)
        rc = send_bytes(w, b.data, b.len);
    else
        w->failed = rc;
    json_decref(ev);
    fl_buf_done(&b);
    return rc;
}

static int send_object(watch *w, const char *type, json_t *obj)
{
    if (!w->table)
        return send_line(w, type, obj);
    fl_kube_table_opts to = FL_KUBE_TABLE_OPTS_INIT;
    json_t *tab = NULL;
    to.cluster_column = true;
    to.resource_version = fl_obj_str(obj, "metadata.resourceVersion");
    to.omit_column_definitions = !w->first_table;
    if (fl_kube_table_render(w->t.res, &obj, 1, &to, &tab, NULL) != 0)
        return w->failed = -ENOMEM;
    w->first_table = false;
    int rc = send_line(w, type, tab);
    json_decref(tab);
    return rc;
}

/* Parse, filter and send one row as an event of type. */
static int send_row(watch *w, const char *type, int64_t revision, const fl_index_row *row)
{
    json_t *obj = NULL;
    char rv[32];
    if (strcmp(row->group, w->t.res->group) || strcmp(row->resource, w->t.res->resource) ||
        !query_scope_allows(w->q, &w->u, row->cluster, row->namespace_, row->group, row->resource))
        return 0;
    if (fl_json_parse(row->json, row->json_len, &obj, NULL) != 0)
        return 0;
    if (query_conds_match(w->c, row, obj)) {
        snprintf(rv, sizeof rv, "%lld", (long long)revision);
        if (revision > w->sent)
            w->sent = revision;
        json_t *md = fl_obj_ensure(obj, "metadata");
        if (md)
            json_object_set_new(md, "resourceVersion", json_string(rv));
        send_object(w, type, obj);
    }
    json_decref(obj);
    return w->failed ? 1 : 0;
}

/* A round: one read of the change log from a resume point, shared by every
 * watch at that point (after a commit, all of them). Changes are copied out
 * of the log first and prepared after its read ends (each object parsed
 * once, its event line encoded once): a watch never holds an SQLite read (a
 * WAL read mark, of which there are few) while it filters and writes.
 * Immutable once built; freed by the last of its holders (refs under hub.mu). */
typedef struct pending {
    const char *type; /* static (the reader's type names) */
    int64_t revision;
    fl_index_row row; /* strings and json in mem */
    char *mem;
    json_t *obj; /* the state sent, resourceVersion = revision; NULL: skipped */
    char *line;  /* {"type","object"} encoded, with its newline */
    size_t line_len;
} pending;

struct round {
    int refs;
    uint64_t gen;     /* hub.gen when the read began */
    int64_t from, to; /* the resume point; the last revision read */
    int64_t oldest;   /* FL_EGONE: the oldest revision the log holds */
    int rc;           /* fl_index_changes': 0, 1 (byte cap), FL_EGONE, < 0 */
    pending *v;
    size_t n, cap, bytes;
};

static const char *copy_str(char **p, const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    memcpy(*p, s ? s : "", n);
    const char *r = *p;
    *p += n;
    return r;
}

static int keep_row(round *b, const char *type, int64_t revision, const fl_index_row *row)
{
    const char *const strs[] = {
        row->cluster,    row->group, row->version, row->resource,         row->kind,
        row->namespace_, row->name,  row->uid,     row->resource_version, row->owner_uid};
    size_t need = row->json_len + 1;
    for (size_t i = 0; i < FL_ARRAY_LEN(strs); i++)
        need += strlen(strs[i] ? strs[i] : "") + 1;
    if (fl_grow(&b->v, &b->cap, b->n + 1, sizeof *b->v) < 0)
        return -ENOMEM;
    pending *p = &b->v[b->n];
    memset(p, 0, sizeof *p);
    char *m = p->mem = malloc(need);
    if (!m)
        return -ENOMEM;
    p->type = type;
    p->revision = revision;
    p->row = *row;
    p->row.cluster = copy_str(&m, row->cluster);
    p->row.group = copy_str(&m, row->group);
    p->row.version = copy_str(&m, row->version);
    p->row.resource = copy_str(&m, row->resource);
    p->row.kind = copy_str(&m, row->kind);
    p->row.namespace_ = copy_str(&m, row->namespace_);
    p->row.name = copy_str(&m, row->name);
    p->row.uid = copy_str(&m, row->uid);
    p->row.resource_version = copy_str(&m, row->resource_version);
    p->row.owner_uid = copy_str(&m, row->owner_uid);
    if (row->json_len)
        memcpy(m, row->json, row->json_len);
    m[row->json_len] = 0;
    p->row.json = m;
    b->n++;
    b->bytes += need;
    return 0;
}

static int change_cb(void *arg, const char *type, bool superseded, int64_t revision,
                     const fl_index_row *row)
{
    round *b = arg;
    if (b->bytes >= WATCH_BATCH_BYTES)
        return 1; /* the rest next round */
    b->to = revision;
    if (!row->group || !row->resource || !row->uid || !row->cluster || !row->name)
        return 0;
    if (superseded || !row->json)
        return 0; /* no state kept for that revision (the object was purged) */
    return keep_row(b, type, revision, row) ? 2 : 0;
}

/* Each change's state to send: parsed, stamped with the change's revision,
 * and encoded as an event line. -ENOMEM, else 0. */
static int round_prepare(round *b)
{
    for (size_t i = 0; i < b->n; i++) {
        pending *p = &b->v[i];
        if (fl_json_parse(p->row.json, p->row.json_len, &p->obj, NULL) != 0)
            continue; /* unreadable: skipped */
        char rv[32];
        snprintf(rv, sizeof rv, "%lld", (long long)p->revision);
        json_t *md = fl_obj_ensure(p->obj, "metadata");
        if (md)
            json_object_set_new(md, "resourceVersion", json_string(rv));
        fl_buf out = FL_BUF_INIT(64u << 20);
        json_t *ev = json_pack("{s:s,s:O}", "type", p->type, "object", p->obj);
        int rc = ev ? fl_json_encode(ev, false, &out) : -ENOMEM;
        json_decref(ev);
        if (!rc) {
            p->line = out.data; /* the buffer's bytes are the line's */
            p->line_len = out.len;
        } else {
            fl_buf_done(&out);
            return -ENOMEM;
        }
    }
    return 0;
}

static void round_free(round *b)
{
    for (size_t i = 0; b && i < b->n; i++) {
        free(b->v[i].mem);
        free(b->v[i].line);
        json_decref(b->v[i].obj);
    }
    if (b)
        free(b->v);
    free(b);
}

static void round_release(hub *h, round *b)
{
    pthread_mutex_lock(&h->mu);
    bool last = b && --b->refs == 0;
    pthread_mutex_unlock(&h->mu);
    if (last)
        round_free(b);
}

/* The round from `from`: the hub's latest one when it starts there (and
 * either moved on or was read after the last commit), else read now on rd
 * (and kept as the latest). *behind: commits came after it was read. NULL
 * when out of memory. Release with round_release. */
static round *round_take(hub *h, int64_t from, fl_index_reader *rd, bool *behind)
{
    pthread_mutex_lock(&h->mu);
    round *b = h->last, *old = NULL;
    uint64_t gen = h->gen;
    if (b && b->from == from && (b->gen == gen || b->to > b->from)) {
        b->refs++;
        *behind = b->gen != gen;
        pthread_mutex_unlock(&h->mu);
        return b;
    }
    pthread_mutex_unlock(&h->mu);
    if (!(b = calloc(1, sizeof *b)))
        return NULL;
    b->refs = 1;
    b->gen = gen;
    b->from = b->to = from;
    b->rc = fl_index_changes(rd, from, WATCH_BATCH, change_cb, b, &b->oldest, NULL);
    if (b->rc == 2 || (b->rc != FL_EGONE && b->rc >= 0 && round_prepare(b) != 0)) {
        round_free(b);
        return NULL;
    }
    pthread_mutex_lock(&h->mu);
    old = h->last;
    h->last = b;
    b->refs++;
    *behind = h->gen != gen;
    bool free_old = old && --old->refs == 0;
    pthread_mutex_unlock(&h->mu);
    if (free_old)
        round_free(old);
    return b;
}

/* Send the changes of b that w's type, scope and conditions let through. */
static void round_send(watch *w, const round *b)
{
    for (size_t i = 0; i < b->n && !w->failed; i++) {
        const pending *p = &b->v[i];
        if (!p->obj || strcmp(p->row.group, w->t.res->group) ||
            strcmp(p->row.resource, w->t.res->resource) ||
            !query_scope_allows(w->q, &w->u, p->row.cluster, p->row.namespace_, p->row.group,
                                p->row.resource) ||
            !query_conds_match(w->c, &p->row, p->obj))
            continue;
        if (p->revision > w->sent)
            w->sent = p->revision;
        if (w->table) {
            json_t *copy = json_deep_copy(p->obj); /* p->obj is shared: read only */
            if (!copy || send_object(w, p->type, copy) != 0)
                w->failed = w->failed ? w->failed : -ENOMEM;
            json_decref(copy);
        } else {
            send_bytes(w, p->line, p->line_len);
        }
    }
}

static void send_expired(watch *w, int64_t oldest)
{
    char msg[128];
    snprintf(msg, sizeof msg, "too old resource version: %lld (%lld)", (long long)w->from,
             (long long)oldest);
    json_t *st = fl_status_new(410, "Expired", msg);
    json_object_set_new(st, "status", json_string("Failure"));
    send_line(w, "ERROR", st);
    json_decref(st);
}

static void send_bookmark(watch *w)
{
    char av[512], rv[32];
    fl_kube_resource_api_version(w->t.res, av, sizeof av);
    if (w->scoped && w->sent == 0)
        return; /* nothing of the scope seen yet: no revision to tell */
    snprintf(rv, sizeof rv, "%lld", (long long)(w->scoped ? w->sent : w->from));
    json_t *o = json_pack("{s:s,s:s,s:{s:s}}", "kind", w->t.res->kind, "apiVersion", av, "metadata",
                          "resourceVersion", rv);
    if (o)
        send_line(w, "BOOKMARK", o);
    json_decref(o);
}

typedef struct init_ctx {
    watch *w;
    fl_query_cursor last;
    int64_t n;
} init_ctx;

static int init_row(void *arg, const fl_index_row *row)
{
    init_ctx *x = arg;
    fl_strlcpy(x->last.cluster, row->cluster, sizeof x->last.cluster);
    fl_strlcpy(x->last.namespace_, row->namespace_, sizeof x->last.namespace_);
    fl_strlcpy(x->last.name, row->name, sizeof x->last.name);
    x->n++;
    return send_row(x->w, "ADDED", row->revision, row);
}

/* resourceVersion "" or "0": the current objects as ADDED, then changes. */
static void send_initial(watch *w)
{
    init_ctx x = {w, {0}, 0};
    int64_t total = 0;
    if (fl_index_reader_begin(w->rd) != 0)
        return;
    fl_index_reader_revision(w->rd, &w->from);
    for (;;) {
        fl_index_query iq = FL_INDEX_QUERY_INIT;
        iq.group = w->t.res->group;
        iq.resource = w->t.res->resource;
        iq.clusters = (const char *const *)&w->t.cluster;
        iq.n_clusters = w->t.cluster ? 1 : 0;
        iq.namespaces = (const char *const *)&w->t.ns;
        iq.n_namespaces = w->t.ns ? 1 : 0;
        iq.limit = WATCH_BATCH;
        query_scope_buf sb;
        if (!query_scope_query(w->q, &w->u, w->t.res, &sb, &iq))
            break; /* nothing of the type in u's scope */
        if (total) {
            iq.after_cluster = x.last.cluster;
            iq.after_namespace = x.last.namespace_;
            iq.after_name = x.last.name;
        }
        x.n = 0;
        if (fl_index_list(w->rd, &iq, init_row, &x, NULL, NULL) != 0 || x.n < WATCH_BATCH)
            break;
        total += x.n;
        if (total >= WATCH_INITIAL_MAX)
            break;
    }
    fl_index_reader_end(w->rd);
}

/* One round of the change log from w->from. Returns false when the watch
 * ends; *more when the log holds more after this round. */
static bool drain_once(watch *w, bool *more)
{
    hub *h = w->q->watches;
    bool behind = false;
    round *b = round_take(h, w->from, w->rd, &behind);
    bool live = b != NULL;
    if (b && b->rc == FL_EGONE) {
        send_expired(w, b->oldest);
        live = false;
    } else if (b && b->rc < 0) {
        live = false;
    } else if (b) {
        round_send(w, b);
        if (b->to > w->from)
            w->from = b->to;
        *more = b->rc == 1 || b->to - b->from >= WATCH_BATCH || behind;
    }
    round_release(h, b);
    return live && !w->failed;
}

/* Advance w by one step on the worker's reader rd. Returns false when the
 * watch ends (client gone, stopping, deadline, a failed write, 410);
 * *more when it has more to send at once. */
static bool step(watch *w, fl_index_reader *rd, bool stop, bool *more)
{
    int64_t now = fl_mono_ms();
    bool live = true;
    *more = false;
    if (stop || now >= w->deadline_ms)
        return false;
    w->rd = rd;
    if (w->initial) {
        w->initial = false;
        send_initial(w);
    }
    if (!w->failed)
        live = drain_once(w, more);
    if (live && !w->failed && w->bookmarks && now - w->last_bookmark_ms >= WATCH_BOOKMARK_MS) {
        send_bookmark(w);
        w->last_bookmark_ms = now;
    }
    w->rd = NULL;
    return live && !w->failed;
}

static void watch_free(watch *w)
{
    if (!w)
        return;
    fl_stream_close(w->st);
    query_conds_free(w->c);
    free(w->cluster);
    free(w->ns);
    free(w->user_name);
    for (size_t i = 0; w->groups && i < w->u.ngroups; i++)
        free(w->groups[i]);
    free(w->groups);
    free(w);
}

/* w ended (its worker, or query_serve_watch before it was queued): off the
 * hub, its counts returned, its stream closed (so on_gone never runs again). */
static void watch_end(hub *h, watch *w)
{
    pthread_mutex_lock(&h->mu);
    unlink_locked(h, w);
    query_user_put(h->users, QUERY_USER_SLOTS, w->counted);
    h->nwatch--;
    pthread_cond_broadcast(&h->ended);
    pthread_cond_broadcast(&h->work);
    pthread_mutex_unlock(&h->mu);
    watch_free(w);
}

static void *worker_main(void *arg)
{
    worker *k = arg;
    hub *h = k->h;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        int64_t now = fl_mono_ms();
        tick_locked(h, now);
        watch *w = pop_locked(h);
        if (!w) {
            if (h->stopping && h->nwatch == 0)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)WATCH_TICK_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&h->work, &h->mu, &ts);
            continue;
        }
        bool stop = w->gone || h->stopping, more = false;
        pthread_mutex_unlock(&h->mu);
        bool live = step(w, k->rd, stop, &more);
        if (!live) {
            watch_end(h, w);
            pthread_mutex_lock(&h->mu);
            continue;
        }
        pthread_mutex_lock(&h->mu);
        bool again = more || w->again || w->gone || h->stopping;
        w->state = WS_IDLE;
        if (again)
            push_locked(h, w);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void hub_free(hub *h)
{
    if (h->last && --h->last->refs == 0)
        round_free(h->last);
    for (size_t i = 0; i < WATCH_WORKERS; i++)
        fl_index_reader_free(h->workers[i].rd);
    pthread_cond_destroy(&h->work);
    pthread_cond_destroy(&h->ended);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void query_watch_done(fl_query *q)
{
    hub *h = q->watches;
    if (!h)
        return;
    if (h->subscribed)
        fl_index_unsubscribe(q->index, h->sub_id);
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    for (watch *w = h->all; w; w = w->next)
        if (w->state != WS_NEW)
            push_locked(h, w);
    pthread_cond_broadcast(&h->work);
    while (h->nwatch > 0)
        pthread_cond_wait(&h->ended, &h->mu);
    pthread_cond_broadcast(&h->work);
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < WATCH_WORKERS; i++)
        if (h->workers[i].started)
            pthread_join(h->workers[i].th, NULL);
    hub_free(h);
    q->watches = NULL;
}

int query_watch_init(fl_query *q, unsigned max, unsigned per_user, fl_err *err)
{
    hub *h = calloc(1, sizeof *h);
    int rc = 0;
    if (!h)
        return fl_err_set(err, -ENOMEM, "out of memory");
    h->q = q;
    h->max = max ? (int)max : WATCH_MAX_DEFAULT;
    h->per_user = per_user ? (int)per_user : WATCH_PER_USER_DEFAULT;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->work, NULL);
    pthread_cond_init(&h->ended, NULL);
    q->watches = h;
    for (size_t i = 0; i < WATCH_WORKERS && !rc; i++) {
        worker *k = &h->workers[i];
        k->h = h;
        if ((rc = fl_index_reader_new(q->index, &k->rd, err)) == 0)
            rc = fl_index_reader_set_cache(k->rd, WATCH_CACHE_KIB);
    }
    for (size_t i = 0; i < WATCH_WORKERS && !rc; i++) {
        worker *k = &h->workers[i];
        if (pthread_create(&k->th, NULL, worker_main, k) != 0)
            rc = fl_err_set(err, -EAGAIN, "watch worker thread");
        k->started = rc == 0;
    }
    if (!rc && (rc = fl_index_subscribe(q->index, on_change, h, &h->sub_id)) != 0)
        rc = fl_err_set(err, rc, "index subscription: %s", fl_strerror(rc));
    h->subscribed = rc == 0;
    return rc;
}

/* ---- a new watch -------------------------------------------------------------- */

static int parse_rv(fl_request *r, int64_t *out)
{
    const char *rv = fl_request_query(r, "resourceVersion");
    *out = 0;
    if (!rv || !*rv)
        return 0;
    return fl_parse_i64(rv, strlen(rv), out) == 0 && *out >= 0 ? 0 : FL_EPARSE;
}

static bool want(fl_request *r, const char *k)
{
    const char *v = fl_request_query(r, k);
    return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

static int watch_setup(fl_query *q, fl_request *r, const query_user *u, const query_target *t,
                       watch *w, fl_err *err)
{
    int64_t timeout = WATCH_DEFAULT_TIMEOUT_S;
    const char *ts = fl_request_query(r, "timeoutSeconds");
    w->q = q;
    w->t = *t;
    w->u = *u;
    w->u.ngroups = 0;
    w->u.groups = NULL;
    if (parse_rv(r, &w->from) != 0)
        return fl_err_set(err, FL_EPARSE, "invalid resourceVersion");
    if (ts && (fl_parse_i64(ts, strlen(ts), &timeout) != 0 || timeout < 0))
        return fl_err_set(err, FL_EPARSE, "invalid timeoutSeconds");
    if (timeout > WATCH_MAX_TIMEOUT_S)
        timeout = WATCH_MAX_TIMEOUT_S; /* no overflow in the deadline below */
    w->deadline_ms = fl_mono_ms() + (timeout ? timeout : WATCH_DEFAULT_TIMEOUT_S) * 1000;
    w->last_bookmark_ms = fl_mono_ms();
    w->table = query_wants_table(r);
    w->first_table = true;
    w->initial = w->from == 0;
    w->sent = w->from;
    w->scoped = query_user_scoped(q, u);
    w->bookmarks = want(r, "allowWatchBookmarks");
    if (!(w->user_name = strdup(u->name)) || (t->cluster && !(w->cluster = strdup(t->cluster))) ||
        (t->ns && !(w->ns = strdup(t->ns))))
        return -ENOMEM;
    w->u.name = w->user_name;
    size_t ng = u->ngroups < WATCH_GROUPS_MAX ? u->ngroups : WATCH_GROUPS_MAX;
    if (ng && !(w->groups = calloc(ng, sizeof *w->groups)))
        return -ENOMEM;
    for (; w->u.ngroups < ng; w->u.ngroups++)
        if (!(w->groups[w->u.ngroups] = strdup(u->groups[w->u.ngroups])))
            return -ENOMEM;
    w->u.groups = (const char *const *)w->groups;
    w->t.cluster = w->cluster;
    w->t.ns = w->ns;
    w->t.name = NULL;
    int rc = query_conds_new(r, &w->t, &w->c, err);
    fl_index_reader *rd = rc ? NULL : query_reader_get(q, err);
    if (!rc && !rd)
        rc = -ENOMEM;
    if (!rc) /* owner-name / owner-seniority: the owners as of the start */
        rc = query_conds_resolve(q, &w->u, w->c, rd, err);
    if (rd)
        query_reader_put(q, rd);
    return rc;
}

/* Count a watch for u: 0, or answers 429 (over the total or u's cap) or
 * 503 (stopping) and returns -EBUSY. */
static int admit(hub *h, fl_request *r, const query_user *u)
{
    pthread_mutex_lock(&h->mu);
    bool full = h->nwatch >= h->max || h->stopping;
    bool user_full = !full && !query_user_take(h->users, QUERY_USER_SLOTS, u->name, h->per_user);
    if (!full && !user_full)
        h->nwatch++;
    pthread_mutex_unlock(&h->mu);
    if (user_full)
        fl_request_reply_status(r, 429, "TooManyRequests",
                                "too many watches for user \"%s\": at most %d at once", u->name,
                                h->per_user);
    else if (full)
        fl_request_reply_status(r, 429, "TooManyRequests", "too many watches: at most %d at once",
                                h->max);
    return full || user_full ? -EBUSY : 0;
}

static void unadmit(hub *h, const char *user)
{
    pthread_mutex_lock(&h->mu);
    query_user_put(h->users, QUERY_USER_SLOTS, user);
    h->nwatch--;
    pthread_cond_broadcast(&h->ended);
    pthread_mutex_unlock(&h->mu);
}

void query_serve_watch(fl_query *q, fl_request *r, const query_user *u, const query_target *t)
{
    hub *h = q->watches;
    fl_err err = FL_ERR_INIT;
    watch *w = NULL;
    if (admit(h, r, u) != 0)
        return;
    int rc = (w = calloc(1, sizeof *w)) ? 0 : -ENOMEM;
    if (!rc)
        rc = watch_setup(q, r, u, t, w, &err);
    const char *ct =
        w && w->table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json";
    if (rc || (rc = fl_request_stream(r, 200, ct, &w->st)) != 0) {
        if (rc != FL_ECLOSED)
            query_reply_error(r, rc, &err);
        if (w)
            w->st = NULL;
        watch_free(w);
        unadmit(h, u->name);
        return;
    }
    fl_strlcpy(w->counted, u->name, sizeof w->counted);
    pthread_mutex_lock(&h->mu); /* listed as WS_NEW: nothing queues it yet */
    w->next = h->all;
    if (h->all)
        h->all->prev = w;
    h->all = w;
    pthread_mutex_unlock(&h->mu);
    fl_stream_on_gone(w->st, on_gone, w);
    pthread_mutex_lock(&h->mu);
    w->state = WS_IDLE;
    push_locked(h, w);
    pthread_mutex_unlock(&h->mu);
}
