/*
 * apiserver/store.c: the in-memory object store of one API server.
 *
 * Owns: the resource table, one sorted array of immutable objects per
 * resource (etcd key order), the global resourceVersion counter (only
 * grows), a bounded ring of past events (for watch resume and for lists at
 * an old resourceVersion, rebuilt by rolling events back), and the
 * watchers. One mutex guards all of it; a ticker thread ends watches at
 * their deadline and sends bookmarks. Every writer goes through
 * fl_apiserver_store_create/update/delete, so controllers added later see the same
 * events HTTP writes do.
 *
 * Objects are ordinary (a JSON string) or generated records (fleet.c
 * renders their JSON on demand; fl_apiserver_obj in sim_int.h): readers go through
 * fl_apiserver_obj_write/fl_apiserver_obj_json/fl_apiserver_obj_parse, and a watch event's object is
 * rendered once for all its watchers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/apiserver_int.h"

#define MAX_RES 512

struct fl_apiserver_rstore {
    fl_apiserver_obj **items; /* sorted by key; each holds one reference */
    size_t n, cap;
    char group[64], resource[64];
};

typedef struct store_event {
    uint64_t rv;
    fl_apiserver_ev_type type;
    fl_apiserver_rstore *rs;
    fl_apiserver_obj *obj;  /* new state (DELETED: last state with the new rv) */
    fl_apiserver_obj *prev; /* state before (NULL for ADDED) */
} store_event;

struct fl_apiserver_watch {
    fl_apiserver_watch *next;
    const fl_apiserver_res *res;
    char ns[256];
    fl_apiserver_sel *labels, *fields;
    bool bookmarks, table, columns_sent;
    int64_t deadline_ms, next_bookmark_ms;
    bool final_bookmark_sent;
    uint64_t from_rv; /* skip events at or below (future-rv watch) */
    fl_apiserver_watch_write_fn wr;
    fl_apiserver_watch_end_fn end;
    fl_apiserver_table_fn table_fn;
    void *ud;
    atomic_bool cancelled;
    bool dead;
};

/* A durable write between its checks and its commit: queued, then in the
 * batch one writer (the leader) commits for all. */
typedef struct pending {
    struct pending *next;
    fl_apiserver_ev_type type;
    const fl_apiserver_res *r;
    fl_apiserver_obj *obj;  /* the new state (a reference) */
    fl_apiserver_obj *prev; /* the stored state it replaces (a reference; NULL for ADDED) */
    int rc;
    bool done;
    char why[512]; /* rc FL_ESQL: the file and SQLite's words, for the writer */
} pending;

/* Why this thread's last write failed with FL_ESQL (fl_apiserver_store_error). */
static _Thread_local char write_error[512];

struct fl_apiserver_store {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Durable stores: group commit. Writers queue under mu; one leader at
     * a time takes the whole queue, commits it in one transaction under
     * dbmu only (mu released, so more writers queue meanwhile), then
     * applies it under mu and wakes the others on committed. Lock order:
     * mu before dbmu; the leader never holds dbmu while taking mu. */
    pthread_mutex_t dbmu;
    pthread_cond_t committed;
    pending *queue, **queue_tail, *inflight;
    size_t npending;
    bool committing;
    uint64_t assigned; /* last rv handed to a write (>= rv) */
    pthread_t ticker;
    bool stopping;
    fl_apiserver_res *res[MAX_RES];
    size_t nres;
    fl_apiserver_rstore *rs[MAX_RES];
    size_t nrs;
    uint64_t rv, floor_rv;
    store_event *ring;
    size_t ring_cap, ring_start, ring_len;
    fl_apiserver_watch *watches;
    size_t nwatch;
    unsigned bookmark_s;
    fl_apiserver_table_fn table_fn;
    fl_apiserver_db *db; /* durable stores: the file every write commits to first */
};

static int insert_at(fl_apiserver_rstore *rs, size_t i, fl_apiserver_obj *o);

/* ------------------------------------------------------------- lifecycle */

static void *ticker_main(void *arg);

int fl_apiserver_store_new(const fl_apiserver_store_opts *o, fl_apiserver_store **out)
{
    fl_apiserver_store *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->ring_cap = o && o->history ? o->history : 10000;
    st->bookmark_s = o && o->bookmark_s ? o->bookmark_s : 60;
    st->table_fn = o ? o->table : NULL;
    st->ring = calloc(st->ring_cap, sizeof(*st->ring));
    if (!st->ring) {
        free(st);
        return -ENOMEM;
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    pthread_mutex_init(&st->dbmu, NULL);
    pthread_cond_init(&st->committed, NULL);
    st->queue_tail = &st->queue;
    if (pthread_create(&st->ticker, NULL, ticker_main, st) != 0) {
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->dbmu);
        pthread_cond_destroy(&st->committed);
        free(st->ring);
        free(st);
        return -EAGAIN;
    }
    *out = st;
    return 0;
}

static void event_clear(store_event *e)
{
    fl_apiserver_obj_unref(e->obj);
    fl_apiserver_obj_unref(e->prev);
    memset(e, 0, sizeof(*e));
}

static void watch_free(fl_apiserver_watch *w)
{
    if (w->end)
        w->end(w->ud);
    fl_apiserver_sel_free(w->labels);
    fl_apiserver_sel_free(w->fields);
    free(w);
}

void fl_apiserver_store_free(fl_apiserver_store *st)
{
    if (!st)
        return;
    fl_thread_stop(st->ticker, &st->mu, &st->cv, &st->stopping);
    while (st->watches) {
        fl_apiserver_watch *w = st->watches;
        st->watches = w->next;
        watch_free(w);
    }
    for (size_t i = 0; i < st->ring_len; i++)
        event_clear(&st->ring[(st->ring_start + i) % st->ring_cap]);
    for (size_t i = 0; i < st->nrs; i++) {
        for (size_t j = 0; j < st->rs[i]->n; j++)
            fl_apiserver_obj_unref(st->rs[i]->items[j]);
        free(st->rs[i]->items);
        free(st->rs[i]);
    }
    for (size_t i = 0; i < st->nres; i++)
        free(st->res[i]);
    free(st->ring);
    fl_apiserver_db_close(st->db);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->dbmu);
    pthread_cond_destroy(&st->committed);
    free(st);
}

int fl_apiserver_store_open(const fl_apiserver_store_opts *o, const char *path,
                            fl_apiserver_store **out, fl_err *err)
{
    fl_apiserver_db *db = NULL;
    fl_apiserver_store *st = NULL;
    int rc = fl_apiserver_db_open(path, o && o->history ? o->history : 10000, &db, err);
    if (rc != 0)
        return rc;
    if ((rc = fl_apiserver_store_new(o, &st)) != 0) {
        fl_apiserver_db_close(db);
        return fl_err_set(err, rc, "%s: %s", path, fl_strerror(rc));
    }
    st->db = db;
    st->rv = st->assigned = fl_apiserver_db_rv(db);
    /* the change log is reloaded resource by resource (add_res); older
     * history answers 410 */
    st->floor_rv = fl_apiserver_db_floor(db);
    *out = st;
    return 0;
}

/* ------------------------------------------------------------- resources */

static fl_apiserver_rstore *rstore_for(fl_apiserver_store *st, const fl_kube_resource *kr)
{
    for (size_t i = 0; i < st->nrs; i++)
        if (!strcmp(st->rs[i]->group, kr->group) && !strcmp(st->rs[i]->resource, kr->resource))
            return st->rs[i];
    fl_apiserver_rstore *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return NULL;
    fl_strlcpy(rs->group, kr->group, sizeof(rs->group));
    fl_strlcpy(rs->resource, kr->resource, sizeof(rs->resource));
    st->rs[st->nrs++] = rs;
    return rs;
}

/* Loading one resource of a durable store: its rows (key order) into
 * its table, its change log (rv order) into ev. */
typedef struct load_ctx {
    const fl_apiserver_res *r;
    store_event *ev;
    size_t n, cap;
} load_ctx;

/* A stored object's JSON as an object of x's resource; the rv is the one
 * its metadata carries. NULL when unparsable or on ENOMEM. */
static fl_apiserver_obj *load_obj(const load_ctx *x, const void *data, size_t len)
{
    json_t *v = json_loadb(data, len, 0, NULL);
    const char *rv = v ? fl_obj_str(v, "metadata.resourceVersion") : NULL;
    fl_apiserver_obj *o = rv ? fl_apiserver_obj_build(x->r, v, strtoull(rv, NULL, 10)) : NULL;
    json_decref(v);
    return o;
}

/* fl_apiserver_db_load_changes' callback: one past event. */
static int load_change(void *ud, const fl_apiserver_db_change *c)
{
    load_ctx *x = ud;
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 64;
        store_event *a = realloc(x->ev, nc * sizeof(*a));
        if (!a)
            return -ENOMEM;
        x->ev = a;
        x->cap = nc;
    }
    store_event *e = &x->ev[x->n];
    *e = (store_event){c->rv, c->type, x->r->rs, load_obj(x, c->json, c->len), NULL};
    if (c->prev)
        e->prev = load_obj(x, c->prev, c->prev_len);
    if (!e->obj || (c->prev && !e->prev)) {
        event_clear(e);
        return FL_EPARSE;
    }
    x->n++;
    return 0;
}

/* Merge the past events add[0..n) (rv order; taken over) into the ring,
 * which keeps its newest ring_cap events. Locked. */
static int ring_merge(fl_apiserver_store *st, store_event *add, size_t n)
{
    if (n == 0)
        return 0;
    store_event *m = calloc(st->ring_cap, sizeof(*m));
    if (!m)
        return -ENOMEM;
    size_t total = st->ring_len + n, skip = total > st->ring_cap ? total - st->ring_cap : 0;
    size_t i = 0, j = 0, k = 0;
    while (i < st->ring_len || j < n) {
        store_event *a = i < st->ring_len ? &st->ring[(st->ring_start + i) % st->ring_cap] : NULL;
        store_event *e = a && (j == n || a->rv < add[j].rv) ? (i++, a) : &add[j++];
        if (skip > 0) {
            skip--;
            if (e->rv > st->floor_rv)
                st->floor_rv = e->rv;
            event_clear(e);
        } else {
            m[k++] = *e;
        }
    }
    free(st->ring);
    st->ring = m;
    st->ring_start = 0;
    st->ring_len = k;
    return 0;
}

static int load_row(void *ud, const char *key, uint64_t rv, const void *data, size_t len)
{
    load_ctx *x = ud;
    json_t *v = json_loadb(data, len, 0, NULL);
    if (!v)
        return FL_EPARSE;
    fl_apiserver_obj *o = fl_apiserver_obj_build(x->r, v, rv);
    json_decref(v);
    if (!o || insert_at(x->r->rs, x->r->rs->n, o) != 0) {
        fl_apiserver_obj_unref(o);
        return -ENOMEM;
    }
    return 0;
}

int fl_apiserver_store_add_res(fl_apiserver_store *st, const fl_kube_resource *kr)
{
    int rc = 0;
    fl_apiserver_res *r = NULL;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->nres; i++)
        if (!strcmp(st->res[i]->kr->group, kr->group) &&
            !strcmp(st->res[i]->kr->version, kr->version) &&
            !strcmp(st->res[i]->kr->resource, kr->resource)) {
            /* a re-created CRD: the registry's entries are immutable and
             * live as long as the registry, so swapping is safe for readers */
            st->res[i]->kr = kr;
            goto out;
        }
    if (st->nres == MAX_RES || st->nrs == MAX_RES) {
        rc = FL_EFULL;
        goto out;
    }
    size_t nrs = st->nrs;
    r = calloc(1, sizeof(*r));
    if (!r || !(r->rs = rstore_for(st, kr))) {
        free(r);
        rc = -ENOMEM;
        goto out;
    }
    r->kr = kr;
    if (st->db && st->nrs > nrs) { /* new storage: its objects and history from the file */
        load_ctx x = {r, NULL, 0, 0};
        pthread_mutex_lock(&st->dbmu);
        rc = fl_apiserver_db_load(st->db, kr->group, kr->resource, load_row, &x);
        if (rc == 0)
            rc = fl_apiserver_db_load_changes(st->db, kr->group, kr->resource, st->floor_rv,
                                              load_change, &x);
        pthread_mutex_unlock(&st->dbmu);
        if (rc == 0)
            rc = ring_merge(st, x.ev, x.n);
        for (size_t i = 0; rc != 0 && i < x.n; i++)
            event_clear(&x.ev[i]);
        free(x.ev);
        if (rc != 0) {
            free(r); /* its storage stays, partly loaded: the caller refuses to start */
            goto out;
        }
    }
    snprintf(r->api_version, sizeof(r->api_version), "%s%s%s", kr->group, *kr->group ? "/" : "",
             kr->version);
    st->res[st->nres++] = r;
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

const fl_apiserver_res *fl_apiserver_store_find(fl_apiserver_store *st, const char *group,
                                                const char *version, const char *resource)
{
    const fl_apiserver_res *found = NULL;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->nres && !found; i++) {
        const fl_apiserver_res *r = st->res[i];
        if (!strcmp(r->kr->group, group ? group : "") && !strcmp(r->kr->version, version) &&
            !strcmp(r->kr->resource, resource))
            found = r;
    }
    pthread_mutex_unlock(&st->mu);
    return found;
}

size_t fl_apiserver_store_resources(fl_apiserver_store *st, const fl_apiserver_res ***out)
{
    pthread_mutex_lock(&st->mu);
    size_t n = st->nres;
    const fl_apiserver_res **a = malloc((n ? n : 1) * sizeof(*a));
    if (a)
        for (size_t i = 0; i < n; i++)
            a[i] = st->res[i];
    pthread_mutex_unlock(&st->mu);
    *out = a;
    return a ? n : 0;
}

#define LOCKED_U64(st, expr)                                                                       \
    do {                                                                                           \
        pthread_mutex_lock(&(st)->mu);                                                             \
        uint64_t v_ = (expr);                                                                      \
        pthread_mutex_unlock(&(st)->mu);                                                           \
        return v_;                                                                                 \
    } while (0)

uint64_t fl_apiserver_store_rv(fl_apiserver_store *st)
{
    LOCKED_U64(st, st->rv);
}
uint64_t fl_apiserver_store_oldest(fl_apiserver_store *st)
{
    LOCKED_U64(st, st->floor_rv + 1);
}

size_t fl_apiserver_store_watch_count(fl_apiserver_store *st)
{
    pthread_mutex_lock(&st->mu);
    size_t n = st->nwatch;
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* ------------------------------------------------------------ key lookup */

static void make_key(const fl_apiserver_res *r, const char *ns, const char *name, char *key,
                     size_t n)
{
    if (r->kr->namespaced && ns && *ns)
        snprintf(key, n, "%s/%s", ns, name);
    else
        snprintf(key, n, "%s", name);
}

/* Index of the first item with key >= key; *found when equal. */
static size_t lower_bound(fl_apiserver_obj *const *items, size_t n, const char *key, bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(items[mid]->key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (found)
        *found = lo < n && strcmp(items[lo]->key, key) == 0;
    return lo;
}

int fl_apiserver_store_get(fl_apiserver_store *st, const fl_apiserver_res *r, const char *ns,
                           const char *name, fl_apiserver_obj **out)
{
    char key[600];
    bool found;
    make_key(r, ns, name, key, sizeof(key));
    pthread_mutex_lock(&st->mu);
    size_t i = lower_bound(r->rs->items, r->rs->n, key, &found);
    if (found) {
        *out = r->rs->items[i];
        fl_apiserver_obj_ref(*out);
    }
    pthread_mutex_unlock(&st->mu);
    return found ? 0 : FL_ENOTFOUND;
}

/* ------------------------------------------------------------ fan-out */

static bool watch_matches(const fl_apiserver_watch *w, const fl_apiserver_obj *o)
{
    if (!o)
        return false;
    if (w->ns[0] && strcmp(w->ns, o->ns) != 0)
        return false;
    return fl_apiserver_sel_match(w->labels, o) && fl_apiserver_sel_match(w->fields, o);
}

/* The object of an event as sent to watchers: its JSON is taken (or, for
 * a generated object, rendered) at most once however many watchers get
 * it; line is the scratch event line, reused from watcher to watcher. */
typedef struct ev_obj {
    const fl_apiserver_obj *o;
    const char *json; /* NULL until first needed */
    size_t len;
    fl_buf scratch, line;
} ev_obj;

#define EV_OBJ_INIT(obj)                                                                           \
    {                                                                                              \
        (obj), NULL, 0, FL_BUF_INIT(64u << 20), FL_BUF_INIT(64u << 20)                             \
    }

static void ev_obj_set(ev_obj *e, const fl_apiserver_obj *o)
{
    e->o = o;
    e->json = NULL;
}

static void ev_obj_done(ev_obj *e)
{
    fl_buf_done(&e->scratch);
    fl_buf_done(&e->line);
}

static int ev_obj_append(ev_obj *e, fl_buf *out)
{
    if (!e->json && !(e->json = fl_apiserver_obj_json(e->o, &e->scratch, &e->len)))
        return -ENOMEM;
    return fl_buf_append(out, e->json, e->len);
}

static int st_table(fl_apiserver_watch *w, const fl_apiserver_obj *o, fl_buf *b)
{
    if (!w->table_fn)
        return FL_EUNSUPPORTED;
    int rc = w->table_fn(w->res, o, w->columns_sent, b);
    w->columns_sent = true;
    return rc;
}

/* Write one event line to w; marks it dead when the sink refuses. */
static void watch_send(fl_apiserver_watch *w, const char *type, ev_obj *e)
{
    fl_buf *b = &e->line;
    fl_buf_reset(b);
    int rc = fl_buf_printf(b, "{\"type\":\"%s\",\"object\":", type);
    if (rc == 0 && w->table)
        rc = st_table(w, e->o, b);
    else if (rc == 0)
        rc = ev_obj_append(e, b);
    if (rc == 0)
        rc = fl_buf_puts(b, "}\n");
    if (rc != 0 || w->wr(w->ud, b->data, b->len) != 0)
        w->dead = true;
}

static void watch_bookmark(fl_apiserver_watch *w, uint64_t rv, bool initial_end)
{
    char line[1024];
    if (w->table)
        return;
    snprintf(line, sizeof(line),
             "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\","
             "\"metadata\":{\"resourceVersion\":\"%llu\",\"creationTimestamp\":null%s}}}\n",
             w->res->kr->kind, w->res->api_version, (unsigned long long)rv,
             initial_end ? ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}" : "");
    if (w->wr(w->ud, line, strlen(line)) != 0)
        w->dead = true;
}

/* Deliver one event to watcher w, turning selector enter/leave into
 * ADDED/DELETED as the apiserver's cacher does. eo holds e->obj. */
static void deliver(fl_apiserver_watch *w, const store_event *e, ev_obj *eo)
{
    /* a cancelled watch writes nothing more (its sink may be gone) */
    if (w->dead || atomic_load(&w->cancelled) || e->rs != w->res->rs || e->rv <= w->from_rv)
        return;
    bool now = watch_matches(w, e->obj);
    bool before = e->type != FL_APISERVER_EV_ADDED && watch_matches(w, e->prev);
    if (e->type == FL_APISERVER_EV_DELETED) {
        if (now)
            watch_send(w, "DELETED", eo);
        return;
    }
    if (now && before)
        watch_send(w, "MODIFIED", eo);
    else if (now)
        watch_send(w, "ADDED", eo);
    else if (before)
        watch_send(w, "DELETED", eo);
}

/* Append an event (takes the references), fans it out. Locked. */
static void publish(fl_apiserver_store *st, fl_apiserver_ev_type type, fl_apiserver_rstore *rs,
                    fl_apiserver_obj *obj, fl_apiserver_obj *prev)
{
    if (st->ring_len == st->ring_cap) {
        store_event *old = &st->ring[st->ring_start];
        st->floor_rv = old->rv;
        event_clear(old);
        st->ring_start = (st->ring_start + 1) % st->ring_cap;
        st->ring_len--;
    }
    store_event *e = &st->ring[(st->ring_start + st->ring_len) % st->ring_cap];
    *e = (store_event){obj->rv, type, rs, obj, prev};
    st->ring_len++;
    ev_obj eo = EV_OBJ_INIT(obj);
    for (fl_apiserver_watch *w = st->watches; w; w = w->next)
        deliver(w, e, &eo);
    ev_obj_done(&eo);
}

/* ---------------------------------------------------------------- writes */

static int set_rv(json_t *obj, uint64_t rv)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)rv);
    json_t *md = fl_obj_ensure(obj, "metadata");
    if (!md || json_object_set_new(md, "resourceVersion", json_string(s)) != 0)
        return -ENOMEM;
    return 0;
}

/* Insert o at i into a growable array of object pointers. */
static int ptrs_insert(fl_apiserver_obj ***v, size_t *n, size_t *cap, size_t i, fl_apiserver_obj *o)
{
    if (fl_grow(v, cap, *n + 1, sizeof **v) != 0)
        return -ENOMEM;
    memmove(*v + i + 1, *v + i, (*n - i) * sizeof(**v));
    (*v)[i] = o;
    (*n)++;
    return 0;
}

static int insert_at(fl_apiserver_rstore *rs, size_t i, fl_apiserver_obj *o)
{
    return ptrs_insert(&rs->items, &rs->n, &rs->cap, i, o);
}

/* A new object for r from obj at the next resourceVersion to hand out. */
static fl_apiserver_obj *build_next(fl_apiserver_store *st, const fl_apiserver_res *r, json_t *obj)
{
    if (set_rv(obj, st->assigned + 1) != 0)
        return NULL;
    fl_apiserver_obj *o = fl_apiserver_obj_build(r, obj, st->assigned + 1);
    if (o)
        st->assigned++;
    return o;
}

/* Make change p current in memory and publish it. Takes its own
 * references to p->obj and p->prev. Locked; cannot fail (an insert's room
 * was reserved when the write was checked). */
static void apply(fl_apiserver_store *st, const pending *p)
{
    fl_apiserver_rstore *rs = p->r->rs;
    bool found;
    size_t i = lower_bound(rs->items, rs->n, p->obj->key, &found);
    fl_apiserver_obj_ref(p->obj); /* the event's */
    if (p->type == FL_APISERVER_EV_ADDED) {
        fl_apiserver_obj_ref(p->obj); /* the table's */
        insert_at(rs, i, p->obj);
        publish(st, p->type, rs, p->obj, NULL);
    } else {
        fl_apiserver_obj *prev = rs->items[i]; /* the table's reference moves to the event */
        if (p->type == FL_APISERVER_EV_MODIFIED) {
            fl_apiserver_obj_ref(p->obj);
            rs->items[i] = p->obj;
        } else {
            memmove(rs->items + i, rs->items + i + 1, (rs->n - i - 1) * sizeof(*rs->items));
            rs->n--;
        }
        publish(st, p->type, rs, p->obj, prev);
    }
    if (p->obj->rv > st->rv)
        st->rv = p->obj->rv;
}

/* Commit the batch b (rising rv) to the file in one transaction. Called
 * with dbmu held and mu not held: the objects are immutable, their JSON
 * is rendered here. */
static int commit_batch(fl_apiserver_store *st, pending *b, fl_err *err)
{
    size_t n = 0;
    for (pending *p = b; p; p = p->next)
        n++;
    fl_apiserver_db_change *c = calloc(n, sizeof(*c));
    fl_buf *scratch = calloc(2 * n, sizeof(*scratch));
    int rc = c && scratch ? 0 : -ENOMEM;
    size_t k = 0;
    for (pending *p = b; p && rc == 0; p = p->next, k++) {
        scratch[2 * k] = (fl_buf)FL_BUF_INIT(64u << 20);
        scratch[2 * k + 1] = (fl_buf)FL_BUF_INIT(64u << 20);
        c[k] = (fl_apiserver_db_change){
            p->obj->rv, p->type, p->r->rs->group, p->r->rs->resource, p->obj->key, NULL, 0,
            NULL,       0};
        c[k].json = fl_apiserver_obj_json(p->obj, &scratch[2 * k], &c[k].len);
        if (p->prev)
            c[k].prev = fl_apiserver_obj_json(p->prev, &scratch[2 * k + 1], &c[k].prev_len);
        if (!c[k].json || (p->prev && !c[k].prev))
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = fl_apiserver_db_write(st->db, c, n, err); /* logs a failure */
    for (size_t i = 0; scratch && i < 2 * k; i++)
        fl_buf_done(&scratch[i]);
    free(scratch);
    free(c);
    return rc;
}

/* Lead one group commit: take the queue, commit it unlocked, apply it.
 * Locked on entry and exit. */
static void lead(fl_apiserver_store *st)
{
    pending *b = st->queue;
    st->queue = NULL;
    st->queue_tail = &st->queue;
    st->inflight = b;
    st->committing = true;
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&st->dbmu);
    fl_err err = FL_ERR_INIT;
    int rc = commit_batch(st, b, &err);
    pthread_mutex_unlock(&st->dbmu);
    pthread_mutex_lock(&st->mu);
    for (pending *p = b; p; p = p->next) {
        if (rc == 0)
            apply(st, p);
        else
            fl_strlcpy(p->why, err.msg[0] ? err.msg : fl_strerror(rc), sizeof(p->why));
        p->rc = rc;
        p->done = true;
        st->npending--;
    }
    if (rc != 0 && !st->queue)
        st->assigned = st->rv; /* nothing after the failed batch: reuse its rvs */
    st->inflight = NULL;
    st->committing = false;
    pthread_cond_broadcast(&st->committed);
}

/* True while a queued or committing write holds key of rs: a second write
 * of it waits, so every write is checked against the state it replaces.
 * Locked. */
static bool key_busy(const fl_apiserver_store *st, const fl_apiserver_rstore *rs, const char *key)
{
    const pending *lists[] = {st->queue, st->inflight};
    for (size_t i = 0; i < FL_ARRAY_LEN(lists); i++)
        for (const pending *p = lists[i]; p; p = p->next)
            if (p->r->rs == rs && !strcmp(p->obj->key, key))
                return true;
    return false;
}

/* Wait until no write holds key (durable stores). Locked. */
static void wait_key(fl_apiserver_store *st, const fl_apiserver_rstore *rs, const char *key)
{
    while (st->db && key_busy(st, rs, key))
        pthread_cond_wait(&st->committed, &st->mu);
}

/* Make a checked write current: o (its rv handed out by build_next; the
 * caller keeps its reference) replaces prev (NULL for ADDED) at key.
 * Memory stores apply it at once; durable stores queue it and return once
 * its group committed (0) or failed (FL_ESQL: nothing changed). Locked
 * (mu is released while the group commits). */
static int write_change(fl_apiserver_store *st, fl_apiserver_ev_type type,
                        const fl_apiserver_res *r, fl_apiserver_obj *o, fl_apiserver_obj *prev)
{
    pending p = {NULL, type, r, o, prev, 0, false, ""};
    fl_apiserver_rstore *rs = r->rs;
    if (type == FL_APISERVER_EV_ADDED && rs->n + st->npending + 1 > rs->cap) {
        /* room for every insert that may apply before this one */
        size_t nc = rs->cap ? rs->cap * 2 : 16;
        while (nc < rs->n + st->npending + 1)
            nc *= 2;
        fl_apiserver_obj **a = realloc(rs->items, nc * sizeof(*a));
        if (!a) {
            if (!st->npending)
                st->assigned = st->rv;
            return -ENOMEM;
        }
        rs->items = a;
        rs->cap = nc;
    }
    if (!st->db) {
        apply(st, &p);
        return 0;
    }
    fl_apiserver_obj_ref(o);
    if (prev)
        fl_apiserver_obj_ref(prev);
    *st->queue_tail = &p;
    st->queue_tail = &p.next;
    st->npending++;
    while (!p.done) {
        if (!st->committing)
            lead(st);
        else
            pthread_cond_wait(&st->committed, &st->mu);
    }
    fl_apiserver_obj_unref(o);
    fl_apiserver_obj_unref(prev);
    if (p.rc != 0)
        fl_strlcpy(write_error, p.why, sizeof(write_error));
    return p.rc;
}

const char *fl_apiserver_store_error(void)
{
    return write_error;
}

/* The end of a write: on success *out (optional) gets a reference to o;
 * the caller's reference is dropped. */
static int finish(int rc, fl_apiserver_obj *o, fl_apiserver_obj **out)
{
    if (rc == 0 && out) {
        fl_apiserver_obj_ref(o);
        *out = o;
    }
    fl_apiserver_obj_unref(o);
    return rc;
}

int fl_apiserver_store_create(fl_apiserver_store *st, const fl_apiserver_res *r, json_t *obj,
                              fl_apiserver_obj **out)
{
    char key[600];
    bool found;
    int rc = 0;
    make_key(r, fl_obj_str(obj, "metadata.namespace"), fl_obj_str(obj, "metadata.name"), key,
             sizeof(key));
    pthread_mutex_lock(&st->mu);
    wait_key(st, r->rs, key);
    lower_bound(r->rs->items, r->rs->n, key, &found);
    if (found) {
        rc = -EEXIST;
        goto out;
    }
    fl_apiserver_obj *o = build_next(st, r, obj);
    rc = o ? finish(write_change(st, FL_APISERVER_EV_ADDED, r, o, NULL), o, out) : -ENOMEM;
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int fl_apiserver_store_create_rec(fl_apiserver_store *st, const fl_apiserver_res *r,
                                  fl_apiserver_obj *o, fl_apiserver_obj **out)
{
    bool found;
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    wait_key(st, r->rs, o->key);
    lower_bound(r->rs->items, r->rs->n, o->key, &found);
    if (found) {
        rc = -EEXIST;
        fl_apiserver_obj_unref(o);
        goto out;
    }
    o->res = r;
    o->rv = ++st->assigned;
    rc = finish(write_change(st, FL_APISERVER_EV_ADDED, r, o, NULL), o, out);
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int fl_apiserver_store_update(fl_apiserver_store *st, const fl_apiserver_res *r, json_t *obj,
                              uint64_t expect_rv, fl_apiserver_obj **out)
{
    char key[600];
    bool found;
    int rc = 0;
    make_key(r, fl_obj_str(obj, "metadata.namespace"), fl_obj_str(obj, "metadata.name"), key,
             sizeof(key));
    pthread_mutex_lock(&st->mu);
    wait_key(st, r->rs, key);
    size_t i = lower_bound(r->rs->items, r->rs->n, key, &found);
    if (!found) {
        rc = FL_ENOTFOUND;
        goto out;
    }
    fl_apiserver_obj *prev = r->rs->items[i];
    if (expect_rv && prev->rv != expect_rv) {
        rc = FL_ECONFLICT;
        goto out;
    }
    fl_apiserver_obj *o = build_next(st, r, obj);
    rc = o ? finish(write_change(st, FL_APISERVER_EV_MODIFIED, r, o, prev), o, out) : -ENOMEM;
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int fl_apiserver_store_delete(fl_apiserver_store *st, const fl_apiserver_res *r, const char *ns,
                              const char *name, uint64_t expect_rv, json_t *obj,
                              fl_apiserver_obj **out)
{
    char key[600];
    bool found;
    int rc = 0;
    json_t *last = NULL;
    make_key(r, ns, name, key, sizeof(key));
    pthread_mutex_lock(&st->mu);
    wait_key(st, r->rs, key);
    size_t i = lower_bound(r->rs->items, r->rs->n, key, &found);
    if (!found) {
        rc = FL_ENOTFOUND;
        goto out;
    }
    fl_apiserver_obj *prev = r->rs->items[i];
    if (expect_rv && prev->rv != expect_rv) {
        rc = FL_ECONFLICT;
        goto out;
    }
    fl_apiserver_obj *o = NULL;
    if (!obj && prev->gen && (o = prev->gen->ops->copy(prev)) != NULL) {
        o->res = r; /* a generated record's last state needs no JSON */
        o->rv = ++st->assigned;
    } else if (!o) {
        last = obj ? json_incref(obj) : fl_apiserver_obj_parse(prev);
        o = last ? build_next(st, r, last) : NULL;
    }
    rc = o ? finish(write_change(st, FL_APISERVER_EV_DELETED, r, o, prev), o, out) : -ENOMEM;
out:
    pthread_mutex_unlock(&st->mu);
    json_decref(last);
    return rc;
}

/* ----------------------------------------------------------------- lists */

void fl_apiserver_list_done(fl_apiserver_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        fl_apiserver_obj_unref(l->items[i]);
    free(l->items);
    free(l->next);
    memset(l, 0, sizeof(*l));
}

typedef struct objvec {
    fl_apiserver_obj **v;
    size_t n, cap;
} objvec;

static int vec_insert(objvec *a, size_t i, fl_apiserver_obj *o)
{
    return ptrs_insert(&a->v, &a->n, &a->cap, i, o);
}

/* The objects of rs as of at_rv (borrowed pointers), rolling back events
 * newer than at_rv. Locked. */
static int snapshot(fl_apiserver_store *st, fl_apiserver_rstore *rs, uint64_t at_rv, objvec *a)
{
    a->v = malloc((rs->n ? rs->n : 1) * sizeof(*a->v));
    if (!a->v)
        return -ENOMEM;
    if (rs->n)
        memcpy(a->v, rs->items, rs->n * sizeof(*a->v));
    a->n = a->cap = rs->n;
    if (!a->cap)
        a->cap = 1;
    for (size_t k = st->ring_len; k-- > 0;) {
        store_event *e = &st->ring[(st->ring_start + k) % st->ring_cap];
        if (e->rv <= at_rv)
            break;
        if (e->rs != rs)
            continue;
        bool found;
        size_t i = lower_bound(a->v, a->n, e->obj->key, &found);
        if (e->type == FL_APISERVER_EV_ADDED && found) {
            memmove(a->v + i, a->v + i + 1, (a->n - i - 1) * sizeof(*a->v));
            a->n--;
        } else if (e->type == FL_APISERVER_EV_MODIFIED && found) {
            a->v[i] = e->prev;
        } else if (e->type == FL_APISERVER_EV_DELETED && !found) {
            if (vec_insert(a, i, e->prev) != 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static bool list_matches(const fl_apiserver_list_req *q, const fl_apiserver_obj *o)
{
    if (q->ns && *q->ns && strcmp(q->ns, o->ns) != 0)
        return false;
    return fl_apiserver_sel_match(q->labels, o) && fl_apiserver_sel_match(q->fields, o);
}

/* Fill out from the key-ordered candidates a[0..n) (borrowed). */
static int page(const fl_apiserver_list_req *q, fl_apiserver_obj *const *a, size_t n,
                fl_apiserver_list *out)
{
    size_t i = 0;
    if (q->start && *q->start) {
        bool found;
        i = lower_bound(a, n, q->start, &found);
    }
    size_t cap = q->limit > 0 ? (size_t)q->limit : n - i;
    out->items = malloc((cap ? cap : 1) * sizeof(*out->items));
    if (!out->items)
        return -ENOMEM;
    for (; i < n && out->n < cap; i++) {
        if (!list_matches(q, a[i]))
            continue;
        fl_apiserver_obj_ref(a[i]);
        out->items[out->n++] = a[i];
    }
    int64_t more = 0;
    for (size_t j = i; j < n; j++)
        more += list_matches(q, a[j]);
    if (more > 0 && out->n > 0) {
        const char *k = out->items[out->n - 1]->key;
        size_t kl = strlen(k);
        out->next = malloc(kl + 2);
        if (!out->next)
            return -ENOMEM;
        memcpy(out->next, k, kl);
        out->next[kl] = '\x01'; /* strictly after k: resume at k + "\0" */
        out->next[kl + 1] = 0;
        out->remaining = more;
    }
    return 0;
}

int fl_apiserver_store_list(fl_apiserver_store *st, const fl_apiserver_res *r,
                            const fl_apiserver_list_req *q, fl_apiserver_list *out)
{
    fl_apiserver_list l = {0};
    objvec a = {0};
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    if (q->at_rv && q->at_rv < st->floor_rv) {
        rc = FL_EGONE;
        goto out;
    }
    l.rv = q->at_rv && q->at_rv < st->rv ? q->at_rv : st->rv;
    if (q->at_rv && q->at_rv < st->rv) {
        rc = snapshot(st, r->rs, q->at_rv, &a);
        if (rc == 0)
            rc = page(q, a.v, a.n, &l);
    } else {
        rc = page(q, r->rs->items, r->rs->n, &l);
    }
out:
    pthread_mutex_unlock(&st->mu);
    free(a.v);
    if (rc != 0)
        fl_apiserver_list_done(&l);
    else
        *out = l;
    return rc;
}

/* ----------------------------------------------------------------- watch */

static void send_initial(fl_apiserver_store *st, fl_apiserver_watch *w)
{
    fl_apiserver_rstore *rs = w->res->rs;
    ev_obj eo = EV_OBJ_INIT(NULL);
    for (size_t i = 0; i < rs->n && !w->dead; i++)
        if (watch_matches(w, rs->items[i])) {
            ev_obj_set(&eo, rs->items[i]);
            watch_send(w, "ADDED", &eo);
        }
    ev_obj_done(&eo);
}

static void replay(fl_apiserver_store *st, fl_apiserver_watch *w)
{
    ev_obj eo = EV_OBJ_INIT(NULL);
    for (size_t k = 0; k < st->ring_len && !w->dead; k++) {
        const store_event *e = &st->ring[(st->ring_start + k) % st->ring_cap];
        ev_obj_set(&eo, e->obj);
        deliver(w, e, &eo);
    }
    ev_obj_done(&eo);
}

int fl_apiserver_store_watch(fl_apiserver_store *st, const fl_apiserver_res *r,
                             fl_apiserver_watch_req *q, fl_apiserver_watch_write_fn wr,
                             fl_apiserver_watch_end_fn end, void *ud, fl_apiserver_watch **out,
                             uint64_t *oldest)
{
    fl_apiserver_watch *w = calloc(1, sizeof(*w));
    if (!w) {
        fl_apiserver_sel_free(q->labels);
        fl_apiserver_sel_free(q->fields);
        return -ENOMEM;
    }
    w->res = r;
    fl_strlcpy(w->ns, q->ns ? q->ns : "", sizeof(w->ns));
    w->labels = q->labels;
    w->fields = q->fields;
    q->labels = q->fields = NULL;
    w->bookmarks = q->bookmarks;
    w->table = q->table;
    w->table_fn = st->table_fn;
    w->deadline_ms = q->deadline_ms;
    w->wr = wr;
    w->ud = ud;
    atomic_init(&w->cancelled, false);
    pthread_mutex_lock(&st->mu);
    if (!q->initial && q->from_rv < st->floor_rv) {
        *oldest = st->floor_rv + 1;
        pthread_mutex_unlock(&st->mu);
        watch_free(w);
        return FL_EGONE;
    }
    w->next_bookmark_ms = fl_mono_ms() + (int64_t)st->bookmark_s * 1000;
    if (q->initial) {
        w->from_rv = st->rv;
        send_initial(st, w);
        if (q->initial_end_bookmark)
            watch_bookmark(w, st->rv, true);
    } else {
        w->from_rv = q->from_rv;
        replay(st, w);
    }
    w->end = end;
    w->next = st->watches;
    st->watches = w;
    st->nwatch++;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (out)
        *out = w;
    return 0;
}

void fl_apiserver_watch_cancel(fl_apiserver_watch *w)
{
    atomic_store(&w->cancelled, true);
}

/* One pass of the ticker: bookmarks, deadlines; unlinks finished watches
 * into *done. Locked. */
static void tick(fl_apiserver_store *st, int64_t now, fl_apiserver_watch **done)
{
    for (fl_apiserver_watch **pp = &st->watches; *pp;) {
        fl_apiserver_watch *w = *pp;
        bool over =
            w->dead || atomic_load(&w->cancelled) || (w->deadline_ms && now >= w->deadline_ms);
        if (!over && w->bookmarks) {
            bool last = w->deadline_ms && !w->final_bookmark_sent && now >= w->deadline_ms - 2000;
            if (last || now >= w->next_bookmark_ms) {
                watch_bookmark(w, st->rv, false);
                w->next_bookmark_ms = now + (int64_t)st->bookmark_s * 1000;
                w->final_bookmark_sent |= last;
            }
        }
        if (over) {
            *pp = w->next;
            w->next = *done;
            *done = w;
            st->nwatch--;
        } else {
            pp = &w->next;
        }
    }
}

static void *ticker_main(void *arg)
{
    fl_apiserver_store *st = arg;
    pthread_mutex_lock(&st->mu);
    while (!st->stopping) {
        fl_apiserver_watch *done = NULL;
        tick(st, fl_mono_ms(), &done);
        pthread_mutex_unlock(&st->mu);
        while (done) {
            fl_apiserver_watch *w = done;
            done = w->next;
            watch_free(w);
        }
        pthread_mutex_lock(&st->mu);
        if (st->stopping)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}
