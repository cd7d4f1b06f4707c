/*
 * sim/store.c: the object store of one virtual cluster.
 *
 * Owns: the resource table, one sorted array of immutable objects per
 * resource (etcd key order), the global resourceVersion counter (only
 * grows), a bounded ring of past events (for watch resume and for lists at
 * an old resourceVersion, rebuilt by rolling events back), and the
 * watchers. One mutex guards all of it; a ticker thread ends watches at
 * their deadline and sends bookmarks. Every writer goes through
 * sim_store_create/update/delete, so controllers added later see the same
 * events HTTP writes do.
 *
 * Objects are ordinary (a JSON string) or generated records (fleet.c
 * renders their JSON on demand; sim_obj in sim_int.h): readers go through
 * sim_obj_write/sim_obj_json/sim_obj_parse, and a watch event's object is
 * rendered once for all its watchers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

#define MAX_RES 512

struct sim_rstore {
    sim_obj **items;  /* sorted by key; each holds one reference */
    size_t n, cap;
    char group[64], resource[64];
};

typedef struct sim_event {
    uint64_t rv;
    sim_ev_type type;
    sim_rstore *rs;
    sim_obj *obj;   /* new state (DELETED: last state with the new rv) */
    sim_obj *prev;  /* state before (NULL for ADDED) */
} sim_event;

struct sim_watch {
    sim_watch *next;
    const sim_res *res;
    char ns[256];
    sim_sel *labels, *fields;
    bool bookmarks, table, columns_sent;
    int64_t deadline_ms, next_bookmark_ms;
    bool final_bookmark_sent;
    uint64_t from_rv;          /* skip events at or below (future-rv watch) */
    sim_watch_write_fn wr;
    sim_watch_end_fn end;
    sim_table_fn table_fn;
    void *ud;
    atomic_bool cancelled;
    bool dead;
};

struct sim_store {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t ticker;
    bool stopping;
    sim_res *res[MAX_RES];
    size_t nres;
    sim_rstore *rs[MAX_RES];
    size_t nrs;
    uint64_t rv, floor_rv, gen;
    sim_event *ring;
    size_t ring_cap, ring_start, ring_len;
    sim_watch *watches;
    size_t nwatch;
    unsigned bookmark_s;
    sim_table_fn table_fn;
};

/* ----------------------------------------------------------------- objects */

void sim_obj_ref(sim_obj *o)
{
    if (o)
        atomic_fetch_add(&o->refs, 1);
}

void sim_obj_unref(sim_obj *o)
{
    if (o && atomic_fetch_sub(&o->refs, 1) == 1) {
        sim_gen_unref(o->gen);
        free(o);
    }
}

int sim_obj_write(const sim_obj *o, bool item, fl_buf *out)
{
    if (!o->json)
        return sim_fleet_render(o, item, out);
    if (!item || !o->hdr)
        return fl_buf_append(out, o->json, o->len);
    int rc = fl_buf_puts(out, "{");
    return rc ? rc : fl_buf_append(out, o->json + 1 + o->hdr, o->len - 1 - o->hdr);
}

const char *sim_obj_json(const sim_obj *o, fl_buf *scratch, size_t *len)
{
    if (o->json) {
        *len = o->len;
        return o->json;
    }
    fl_buf_reset(scratch);
    if (sim_obj_write(o, false, scratch) != 0)
        return NULL;
    *len = scratch->len;
    return scratch->data;
}

bool sim_obj_contains(const sim_obj *o, const char *needle)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    size_t n;
    const char *s = sim_obj_json(o, &b, &n);
    bool found = s && strstr(s, needle) != NULL;
    fl_buf_done(&b);
    return found;
}

json_t *sim_obj_parse(const sim_obj *o)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    size_t n;
    const char *s = sim_obj_json(o, &b, &n);
    json_t *v = s ? json_loadb(s, n, 0, NULL) : NULL;
    fl_buf_done(&b);
    return v;
}

const char *sim_obj_label(const sim_obj *o, const char *key)
{
    for (const char *p = o->labels; *p;) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, key) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

static size_t labels_size(const json_t *labels)
{
    size_t n = 1;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
        if (json_is_string(v))
            n += strlen(k) + 1 + json_string_length(v) + 1;
    return n;
}

static char *put(char **p, const char *s)
{
    char *at = *p;
    size_t n = strlen(s) + 1;
    memcpy(at, s, n);
    *p += n;
    return at;
}

sim_obj *sim_obj_build(const sim_res *r, const json_t *obj, uint64_t rv)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    sim_obj *o = NULL;
    if (fl_json_encode(obj, false, &b) != 0)
        goto out;
    if (b.len && b.data[b.len - 1] == '\n')
        b.len--;
    const char *ns = fl_obj_str(obj, "metadata.namespace");
    const char *name = fl_obj_str(obj, "metadata.name");
    const char *node = fl_obj_str(obj, "spec.nodeName");
    const char *phase = fl_obj_str(obj, "status.phase");
    json_t *labels = fl_obj_get(obj, "metadata.labels");
    ns = (r->kr->namespaced && ns) ? ns : "";
    name = name ? name : "";
    node = node ? node : "";
    phase = phase ? phase : "";
    size_t ln = json_is_object(labels) ? labels_size(labels) : 1;
    size_t keyn = strlen(ns) + 1 + strlen(name) + 1;
    size_t sz = sizeof(*o) + keyn + strlen(ns) + 1 + strlen(name) + 1 + ln + strlen(node) + 1 +
                strlen(phase) + 1 + b.len + 1;
    o = malloc(sz);
    if (!o)
        goto out;
    char *p = (char *)(o + 1);
    *o = (sim_obj){.rv = rv};
    atomic_init(&o->refs, 1);
    o->res = r;
    o->key = p;
    if (*ns) {
        memcpy(p, ns, strlen(ns));
        p += strlen(ns);
        *p++ = '/';
    }
    put(&p, name);
    o->ns = put(&p, ns);
    o->name = put(&p, name);
    o->labels = p;
    if (json_is_object(labels)) {
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v) {
            if (!json_is_string(v))
                continue;
            put(&p, k);
            put(&p, json_string_value(v));
        }
    }
    *p++ = 0;
    o->node = put(&p, node);
    o->phase = put(&p, phase);
    memcpy(p, b.data, b.len);
    p[b.len] = 0;
    o->json = p;
    o->len = b.len;
    /* {"kind":"X","apiVersion":"Y", is what the encoder wrote first. */
    const char *hdr_end = NULL;
    if (strncmp(p, "{\"kind\":", 8) == 0) {
        hdr_end = strstr(p, "\"apiVersion\":\"");
        if (hdr_end)
            hdr_end = strchr(hdr_end + 14, '"');
    }
    o->hdr = (hdr_end && hdr_end[1] == ',') ? (size_t)(hdr_end + 2 - (p + 1)) : 0;
out:
    fl_buf_done(&b);
    return o;
}

/* ------------------------------------------------------------- lifecycle */

static void *ticker_main(void *arg);

int sim_store_new(const sim_store_opts *o, sim_store **out)
{
    sim_store *st = calloc(1, sizeof(*st));
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
    if (pthread_create(&st->ticker, NULL, ticker_main, st) != 0) {
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->cv);
        free(st->ring);
        free(st);
        return -EAGAIN;
    }
    *out = st;
    return 0;
}

static void event_clear(sim_event *e)
{
    sim_obj_unref(e->obj);
    sim_obj_unref(e->prev);
    memset(e, 0, sizeof(*e));
}

static void watch_free(sim_watch *w)
{
    if (w->end)
        w->end(w->ud);
    sim_sel_free(w->labels);
    sim_sel_free(w->fields);
    free(w);
}

void sim_store_free(sim_store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->ticker, NULL);
    while (st->watches) {
        sim_watch *w = st->watches;
        st->watches = w->next;
        watch_free(w);
    }
    for (size_t i = 0; i < st->ring_len; i++)
        event_clear(&st->ring[(st->ring_start + i) % st->ring_cap]);
    for (size_t i = 0; i < st->nrs; i++) {
        for (size_t j = 0; j < st->rs[i]->n; j++)
            sim_obj_unref(st->rs[i]->items[j]);
        free(st->rs[i]->items);
        free(st->rs[i]);
    }
    for (size_t i = 0; i < st->nres; i++)
        free(st->res[i]);
    free(st->ring);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
}

/* ------------------------------------------------------------- resources */

static sim_rstore *rstore_for(sim_store *st, const fl_kube_resource *kr)
{
    for (size_t i = 0; i < st->nrs; i++)
        if (!strcmp(st->rs[i]->group, kr->group) && !strcmp(st->rs[i]->resource, kr->resource))
            return st->rs[i];
    sim_rstore *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return NULL;
    fl_strlcpy(rs->group, kr->group, sizeof(rs->group));
    fl_strlcpy(rs->resource, kr->resource, sizeof(rs->resource));
    st->rs[st->nrs++] = rs;
    return rs;
}

int sim_store_add_res(sim_store *st, const fl_kube_resource *kr)
{
    int rc = 0;
    sim_res *r = NULL;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->nres; i++)
        if (!strcmp(st->res[i]->kr->group, kr->group) &&
            !strcmp(st->res[i]->kr->version, kr->version) &&
            !strcmp(st->res[i]->kr->resource, kr->resource)) {
            /* a re-created CRD: the registry's entries are immutable and
             * live as long as the registry, so swapping is safe for readers */
            if (st->res[i]->kr != kr) {
                st->res[i]->kr = kr;
                st->gen++;
            }
            goto out;
        }
    if (st->nres == MAX_RES || st->nrs == MAX_RES) {
        rc = FL_EFULL;
        goto out;
    }
    r = calloc(1, sizeof(*r));
    if (!r || !(r->rs = rstore_for(st, kr))) {
        free(r);
        rc = -ENOMEM;
        goto out;
    }
    r->kr = kr;
    snprintf(r->api_version, sizeof(r->api_version), "%s%s%s", kr->group, *kr->group ? "/" : "",
             kr->version);
    st->res[st->nres++] = r;
    st->gen++;
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

const sim_res *sim_store_find(sim_store *st, const char *group, const char *version,
                              const char *resource)
{
    const sim_res *found = NULL;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->nres && !found; i++) {
        const sim_res *r = st->res[i];
        if (!strcmp(r->kr->group, group ? group : "") && !strcmp(r->kr->version, version) &&
            !strcmp(r->kr->resource, resource))
            found = r;
    }
    pthread_mutex_unlock(&st->mu);
    return found;
}

size_t sim_store_resources(sim_store *st, const sim_res ***out)
{
    pthread_mutex_lock(&st->mu);
    size_t n = st->nres;
    const sim_res **a = malloc((n ? n : 1) * sizeof(*a));
    if (a)
        for (size_t i = 0; i < n; i++)
            a[i] = st->res[i];
    pthread_mutex_unlock(&st->mu);
    *out = a;
    return a ? n : 0;
}

#define LOCKED_U64(st, expr)                                                                      \
    do {                                                                                          \
        pthread_mutex_lock(&(st)->mu);                                                            \
        uint64_t v_ = (expr);                                                                     \
        pthread_mutex_unlock(&(st)->mu);                                                          \
        return v_;                                                                                \
    } while (0)

uint64_t sim_store_rv(sim_store *st) { LOCKED_U64(st, st->rv); }
uint64_t sim_store_oldest(sim_store *st) { LOCKED_U64(st, st->floor_rv + 1); }
uint64_t sim_store_generation(sim_store *st) { LOCKED_U64(st, st->gen); }

size_t sim_store_watch_count(sim_store *st)
{
    pthread_mutex_lock(&st->mu);
    size_t n = st->nwatch;
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* ------------------------------------------------------------ key lookup */

static void make_key(const sim_res *r, const char *ns, const char *name, char *key, size_t n)
{
    if (r->kr->namespaced && ns && *ns)
        snprintf(key, n, "%s/%s", ns, name);
    else
        snprintf(key, n, "%s", name);
}

/* Index of the first item with key >= key; *found when equal. */
static size_t lower_bound(sim_obj *const *items, size_t n, const char *key, bool *found)
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

int sim_store_get(sim_store *st, const sim_res *r, const char *ns, const char *name, sim_obj **out)
{
    char key[600];
    bool found;
    make_key(r, ns, name, key, sizeof(key));
    pthread_mutex_lock(&st->mu);
    size_t i = lower_bound(r->rs->items, r->rs->n, key, &found);
    if (found) {
        *out = r->rs->items[i];
        sim_obj_ref(*out);
    }
    pthread_mutex_unlock(&st->mu);
    return found ? 0 : FL_ENOTFOUND;
}

/* ------------------------------------------------------------ fan-out */

static bool watch_matches(const sim_watch *w, const sim_obj *o)
{
    if (!o)
        return false;
    if (w->ns[0] && strcmp(w->ns, o->ns) != 0)
        return false;
    return sim_sel_match(w->labels, o) && sim_sel_match(w->fields, o);
}

/* The object of an event as sent to watchers: its JSON is taken (or, for
 * a generated object, rendered) at most once however many watchers get
 * it; line is the scratch event line, reused from watcher to watcher. */
typedef struct ev_obj {
    const sim_obj *o;
    const char *json;   /* NULL until first needed */
    size_t len;
    fl_buf scratch, line;
} ev_obj;

#define EV_OBJ_INIT(obj) {(obj), NULL, 0, FL_BUF_INIT(64u << 20), FL_BUF_INIT(64u << 20)}

static void ev_obj_set(ev_obj *e, const sim_obj *o)
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
    if (!e->json && !(e->json = sim_obj_json(e->o, &e->scratch, &e->len)))
        return -ENOMEM;
    return fl_buf_append(out, e->json, e->len);
}

static int st_table(sim_watch *w, const sim_obj *o, fl_buf *b)
{
    if (!w->table_fn)
        return FL_EUNSUPPORTED;
    int rc = w->table_fn(w->res, o, w->columns_sent, b);
    w->columns_sent = true;
    return rc;
}

/* Write one event line to w; marks it dead when the sink refuses. */
static void watch_send(sim_watch *w, const char *type, ev_obj *e)
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

static void watch_bookmark(sim_watch *w, uint64_t rv, bool initial_end)
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
static void deliver(sim_watch *w, const sim_event *e, ev_obj *eo)
{
    if (w->dead || e->rs != w->res->rs || e->rv <= w->from_rv)
        return;
    bool now = watch_matches(w, e->obj);
    bool before = e->type != SIM_EV_ADDED && watch_matches(w, e->prev);
    if (e->type == SIM_EV_DELETED) {
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
static void publish(sim_store *st, sim_ev_type type, sim_rstore *rs, sim_obj *obj, sim_obj *prev)
{
    if (st->ring_len == st->ring_cap) {
        sim_event *old = &st->ring[st->ring_start];
        st->floor_rv = old->rv;
        event_clear(old);
        st->ring_start = (st->ring_start + 1) % st->ring_cap;
        st->ring_len--;
    }
    sim_event *e = &st->ring[(st->ring_start + st->ring_len) % st->ring_cap];
    *e = (sim_event){obj->rv, type, rs, obj, prev};
    st->ring_len++;
    ev_obj eo = EV_OBJ_INIT(obj);
    for (sim_watch *w = st->watches; w; w = w->next)
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
static int ptrs_insert(sim_obj ***v, size_t *n, size_t *cap, size_t i, sim_obj *o)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        sim_obj **a = realloc(*v, nc * sizeof(*a));
        if (!a)
            return -ENOMEM;
        *v = a;
        *cap = nc;
    }
    memmove(*v + i + 1, *v + i, (*n - i) * sizeof(**v));
    (*v)[i] = o;
    (*n)++;
    return 0;
}

static int insert_at(sim_rstore *rs, size_t i, sim_obj *o)
{
    return ptrs_insert(&rs->items, &rs->n, &rs->cap, i, o);
}

static sim_obj *build_next(sim_store *st, const sim_res *r, json_t *obj)
{
    if (set_rv(obj, st->rv + 1) != 0)
        return NULL;
    sim_obj *o = sim_obj_build(r, obj, st->rv + 1);
    if (o)
        st->rv++;
    return o;
}

/* Insert o (its rv already st->rv + 1; the caller's reference becomes the
 * table's) at i and publish ADDED. Locked. */
static int insert_new(sim_store *st, const sim_res *r, size_t i, sim_obj *o, sim_obj **out)
{
    if (insert_at(r->rs, i, o) != 0)
        return -ENOMEM;
    st->rv = o->rv;
    sim_obj_ref(o);
    publish(st, SIM_EV_ADDED, r->rs, o, NULL);
    if (out) {
        sim_obj_ref(o);
        *out = o;
    }
    return 0;
}

int sim_store_create(sim_store *st, const sim_res *r, json_t *obj, sim_obj **out)
{
    char key[600];
    bool found;
    int rc = 0;
    make_key(r, fl_obj_str(obj, "metadata.namespace"), fl_obj_str(obj, "metadata.name"), key,
             sizeof(key));
    pthread_mutex_lock(&st->mu);
    size_t i = lower_bound(r->rs->items, r->rs->n, key, &found);
    if (found) {
        rc = -EEXIST;
        goto out;
    }
    sim_obj *o = set_rv(obj, st->rv + 1) == 0 ? sim_obj_build(r, obj, st->rv + 1) : NULL;
    rc = o ? insert_new(st, r, i, o, out) : -ENOMEM;
    if (rc != 0)
        sim_obj_unref(o);
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sim_store_create_rec(sim_store *st, const sim_res *r, sim_obj *o, sim_obj **out)
{
    bool found;
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    size_t i = lower_bound(r->rs->items, r->rs->n, o->key, &found);
    if (found) {
        rc = -EEXIST;
        goto out;
    }
    o->res = r;
    o->rv = st->rv + 1;
    rc = insert_new(st, r, i, o, out);
out:
    pthread_mutex_unlock(&st->mu);
    if (rc != 0)
        sim_obj_unref(o);
    return rc;
}

int sim_store_update(sim_store *st, const sim_res *r, json_t *obj, uint64_t expect_rv,
                     sim_obj **out)
{
    char key[600];
    bool found;
    int rc = 0;
    make_key(r, fl_obj_str(obj, "metadata.namespace"), fl_obj_str(obj, "metadata.name"), key,
             sizeof(key));
    pthread_mutex_lock(&st->mu);
    size_t i = lower_bound(r->rs->items, r->rs->n, key, &found);
    if (!found) {
        rc = FL_ENOTFOUND;
        goto out;
    }
    sim_obj *prev = r->rs->items[i];
    if (expect_rv && prev->rv != expect_rv) {
        rc = FL_ECONFLICT;
        goto out;
    }
    sim_obj *o = build_next(st, r, obj);
    if (!o) {
        rc = -ENOMEM;
        goto out;
    }
    r->rs->items[i] = o; /* the table's reference to prev moves to the event */
    sim_obj_ref(o);
    publish(st, SIM_EV_MODIFIED, r->rs, o, prev);
    if (out) {
        sim_obj_ref(o);
        *out = o;
    }
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int sim_store_delete(sim_store *st, const sim_res *r, const char *ns, const char *name,
                     uint64_t expect_rv, json_t *obj, sim_obj **out)
{
    char key[600];
    bool found;
    int rc = 0;
    json_t *last = NULL;
    make_key(r, ns, name, key, sizeof(key));
    pthread_mutex_lock(&st->mu);
    size_t i = lower_bound(r->rs->items, r->rs->n, key, &found);
    if (!found) {
        rc = FL_ENOTFOUND;
        goto out;
    }
    sim_obj *prev = r->rs->items[i];
    if (expect_rv && prev->rv != expect_rv) {
        rc = FL_ECONFLICT;
        goto out;
    }
    sim_obj *o = NULL;
    if (!obj && prev->gen && (o = sim_fleet_rec_copy(prev)) != NULL) {
        o->res = r; /* a generated record's last state needs no JSON */
        o->rv = ++st->rv;
    } else if (!o) {
        last = obj ? json_incref(obj) : sim_obj_parse(prev);
        o = last ? build_next(st, r, last) : NULL;
    }
    if (!o) {
        rc = -ENOMEM;
        goto out;
    }
    memmove(r->rs->items + i, r->rs->items + i + 1, (r->rs->n - i - 1) * sizeof(sim_obj *));
    r->rs->n--;
    publish(st, SIM_EV_DELETED, r->rs, o, prev);
    if (out) {
        sim_obj_ref(o);
        *out = o;
    }
out:
    pthread_mutex_unlock(&st->mu);
    json_decref(last);
    return rc;
}

/* ----------------------------------------------------------------- lists */

void sim_list_done(sim_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        sim_obj_unref(l->items[i]);
    free(l->items);
    free(l->next);
    memset(l, 0, sizeof(*l));
}

typedef struct objvec {
    sim_obj **v;
    size_t n, cap;
} objvec;

static int vec_insert(objvec *a, size_t i, sim_obj *o)
{
    return ptrs_insert(&a->v, &a->n, &a->cap, i, o);
}

/* The objects of rs as of at_rv (borrowed pointers), rolling back events
 * newer than at_rv. Locked. */
static int snapshot(sim_store *st, sim_rstore *rs, uint64_t at_rv, objvec *a)
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
        sim_event *e = &st->ring[(st->ring_start + k) % st->ring_cap];
        if (e->rv <= at_rv)
            break;
        if (e->rs != rs)
            continue;
        bool found;
        size_t i = lower_bound(a->v, a->n, e->obj->key, &found);
        if (e->type == SIM_EV_ADDED && found) {
            memmove(a->v + i, a->v + i + 1, (a->n - i - 1) * sizeof(*a->v));
            a->n--;
        } else if (e->type == SIM_EV_MODIFIED && found) {
            a->v[i] = e->prev;
        } else if (e->type == SIM_EV_DELETED && !found) {
            if (vec_insert(a, i, e->prev) != 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static bool list_matches(const sim_list_req *q, const sim_obj *o)
{
    if (q->ns && *q->ns && strcmp(q->ns, o->ns) != 0)
        return false;
    return sim_sel_match(q->labels, o) && sim_sel_match(q->fields, o);
}

/* Fill out from the key-ordered candidates a[0..n) (borrowed). */
static int page(const sim_list_req *q, sim_obj *const *a, size_t n, sim_list *out)
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
        sim_obj_ref(a[i]);
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

int sim_store_list(sim_store *st, const sim_res *r, const sim_list_req *q, sim_list *out)
{
    sim_list l = {0};
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
        sim_list_done(&l);
    else
        *out = l;
    return rc;
}

/* ----------------------------------------------------------------- watch */

static void send_initial(sim_store *st, sim_watch *w)
{
    sim_rstore *rs = w->res->rs;
    ev_obj eo = EV_OBJ_INIT(NULL);
    for (size_t i = 0; i < rs->n && !w->dead; i++)
        if (watch_matches(w, rs->items[i])) {
            ev_obj_set(&eo, rs->items[i]);
            watch_send(w, "ADDED", &eo);
        }
    ev_obj_done(&eo);
}

static void replay(sim_store *st, sim_watch *w)
{
    ev_obj eo = EV_OBJ_INIT(NULL);
    for (size_t k = 0; k < st->ring_len && !w->dead; k++) {
        const sim_event *e = &st->ring[(st->ring_start + k) % st->ring_cap];
        ev_obj_set(&eo, e->obj);
        deliver(w, e, &eo);
    }
    ev_obj_done(&eo);
}

int sim_store_watch(sim_store *st, const sim_res *r, sim_watch_req *q, sim_watch_write_fn wr,
                    sim_watch_end_fn end, void *ud, sim_watch **out, uint64_t *oldest)
{
    sim_watch *w = calloc(1, sizeof(*w));
    if (!w) {
        sim_sel_free(q->labels);
        sim_sel_free(q->fields);
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

void sim_watch_cancel(sim_watch *w)
{
    atomic_store(&w->cancelled, true);
}

/* One pass of the ticker: bookmarks, deadlines; unlinks finished watches
 * into *done. Locked. */
static void tick(sim_store *st, int64_t now, sim_watch **done)
{
    for (sim_watch **pp = &st->watches; *pp;) {
        sim_watch *w = *pp;
        bool over = w->dead || atomic_load(&w->cancelled) ||
                    (w->deadline_ms && now >= w->deadline_ms);
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
    sim_store *st = arg;
    pthread_mutex_lock(&st->mu);
    while (!st->stopping) {
        sim_watch *done = NULL;
        tick(st, fl_mono_ms(), &done);
        pthread_mutex_unlock(&st->mu);
        while (done) {
            sim_watch *w = done;
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
