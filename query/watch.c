/*
 * query/watch.c: ?watch=1 across the fleet from the index change log. One
 * thread per watch (capped at WATCH_MAX) sleeps on the fl_query's condition
 * variable, which the index subscription broadcasts after every commit, and
 * streams the changes with revision > the resume point that pass the
 * request's conditions and the user's scopes, as kube-apiserver's watch
 * events, every change with its own type and revision and the object as it
 * was at that revision, in order ({"type","object"} lines; Tables for
 * kubectl get -w). Objects carry the index revision of the change as
 * metadata.resourceVersion (the rule of query_row_json), so a client
 * resumes from its last event or from any object it has seen. resourceVersion "" / "0" first sends the current objects
 * as ADDED. A resume point older than the change log answers an ERROR event
 * with a 410 Expired Status. Bookmarks with allowWatchBookmarks=true.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/query_int.h"

#define WATCH_MAX 2048     /* in all (one thread each until #15) */
#define WATCH_PER_USER 128 /* per user name: one user cannot lock others out */
#define WATCH_STACK (256u << 10)
#define WATCH_CACHE_KIB 256
#define WATCH_BATCH_BYTES (256u << 10) /* copied out of the change log per round */
#define WATCH_BATCH 1000
#define WATCH_BOOKMARK_MS 10000
#define WATCH_DEFAULT_TIMEOUT_S 1800
#define WATCH_MAX_TIMEOUT_S (366LL * 86400) /* larger timeoutSeconds: a year */
#define WATCH_INITIAL_MAX 200000

typedef struct watch {
    fl_query *q;
    query_user u;
    char *user_name;
    char *groups[64]; /* copied: a certificate's groups die with the request */
    query_target t;
    char *cluster, *ns;
    conds *c;
    fl_stream *st;
    fl_index_reader *rd;
    int64_t from;      /* last revision sent (or the resume point) */
    bool table, bookmarks, first_table, gone;
    int64_t deadline_ms;
    int failed;        /* stream write failed: stop */
    char counted[128]; /* the user name counted in q->wusers */
} watch;

static void on_change(void *arg, int64_t from_rev, int64_t to_rev)
{
    fl_query *q = arg;
    pthread_mutex_lock(&q->pool_mu);
    q->rev = to_rev;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->pool_mu);
}

int query_watch_init(fl_query *q, fl_err *err)
{
    int rc = fl_index_subscribe(q->index, on_change, q, &q->sub_id);
    if (rc)
        return fl_err_set(err, rc, "index subscription: %s", fl_strerror(rc));
    q->subscribed = true;
    return 0;
}

void query_watch_done(fl_query *q)
{
    if (q->subscribed)
        fl_index_unsubscribe(q->index, q->sub_id);
    pthread_mutex_lock(&q->pool_mu);
    q->stopping = true;
    pthread_cond_broadcast(&q->changed);
    while (q->nwatch > 0)
        pthread_cond_wait(&q->changed, &q->pool_mu);
    pthread_mutex_unlock(&q->pool_mu);
}

static void on_gone(void *ud)
{
    watch *w = ud;
    pthread_mutex_lock(&w->q->pool_mu);
    w->gone = true;
    pthread_cond_broadcast(&w->q->changed);
    pthread_mutex_unlock(&w->q->pool_mu);
}

/* The reader fell behind (its stream's buffer is full): end the watch
 * with a 410 as kube-apiserver's watch cache would, never buffer more. */
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

static int send_line(watch *w, const char *type, json_t *obj)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    json_t *ev = json_pack("{s:s,s:O}", "type", type, "object", obj);
    int rc = ev ? fl_json_encode(ev, false, &b) : -ENOMEM;
    if (!rc)
        rc = fl_stream_write(w->st, b.data, b.len);
    json_decref(ev);
    fl_buf_done(&b);
    if (rc == FL_EFULL)
        send_too_slow(w);
    if (rc)
        w->failed = rc;
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
        !query_scope_allows(w->q, &w->u, row->cluster, row->namespace_, row->group,
                            row->resource))
        return 0;
    if (fl_json_parse(row->json, row->json_len, &obj, NULL) != 0)
        return 0;
    if (query_conds_match(w->c, row, obj)) {
        snprintf(rv, sizeof rv, "%lld", (long long)revision);
        json_t *md = fl_obj_ensure(obj, "metadata");
        if (md)
            json_object_set_new(md, "resourceVersion", json_string(rv));
        send_object(w, type, obj);
    }
    json_decref(obj);
    return w->failed ? 1 : 0;
}

/* Changes are copied out of the change log first and sent after its read
 * ends: a watch never holds an SQLite read (a WAL read mark, of which
 * there are few) while it parses and writes (#19: 256 slow watchers made
 * other readers wait seconds for SQLITE_BUSY). */
typedef struct pending {
    const char *type; /* static (the reader's type names) */
    int64_t revision;
    fl_index_row row; /* strings and json in mem */
    char *mem;
} pending;

typedef struct batch {
    watch *w;
    pending *v;
    size_t n, cap, bytes;
    int rc; /* -ENOMEM */
} batch;

static const char *copy_str(char **p, const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    memcpy(*p, s ? s : "", n);
    const char *r = *p;
    *p += n;
    return r;
}

static int keep_row(batch *b, const char *type, int64_t revision, const fl_index_row *row)
{
    const char *const strs[] = {row->cluster, row->group, row->version, row->resource, row->kind,
                                row->namespace_, row->name, row->uid, row->resource_version,
                                row->owner_uid};
    size_t need = row->json_len + 1;
    for (size_t i = 0; i < FL_ARRAY_LEN(strs); i++)
        need += strlen(strs[i] ? strs[i] : "") + 1;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        pending *v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return b->rc = -ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    pending *p = &b->v[b->n];
    char *m = p->mem = malloc(need);
    if (!m)
        return b->rc = -ENOMEM;
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
    batch *b = arg;
    watch *w = b->w;
    if (b->bytes >= WATCH_BATCH_BYTES)
        return 1; /* the rest next round */
    w->from = revision;
    if (!row->group || !row->resource || !row->uid || !row->cluster || !row->name ||
        strcmp(row->group, w->t.res->group) || strcmp(row->resource, w->t.res->resource) ||
        !query_scope_allows(w->q, &w->u, row->cluster, row->namespace_, row->group,
                            row->resource))
        return 0;
    if (superseded || !row->json)
        return 0; /* no state kept for that revision (the object was purged) */
    return keep_row(b, type, revision, row) ? 2 : 0;
}

static void batch_send(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        pending *p = &b->v[i];
        if (!b->w->failed)
            send_row(b->w, p->type, p->revision, &p->row);
        free(p->mem);
    }
    free(b->v);
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
    snprintf(rv, sizeof rv, "%lld", (long long)w->from);
    json_t *o = json_pack("{s:s,s:s,s:{s:s}}", "kind", w->t.res->kind, "apiVersion", av,
                          "metadata", "resourceVersion", rv);
    if (o)
        send_line(w, "BOOKMARK", o);
    json_decref(o);
}

/* Drain the change log from w->from. Returns false when the watch ends. */
static bool drain(watch *w)
{
    for (;;) {
        int64_t before = w->from, oldest = 0;
        batch b = {w, NULL, 0, 0, 0, 0};
        int rc = fl_index_changes(w->rd, w->from, WATCH_BATCH, change_cb, &b, &oldest, NULL);
        batch_send(&b);
        if (rc == FL_EGONE) {
            send_expired(w, oldest);
            return false;
        }
        if (rc < 0 || rc == 2 || w->failed)
            return false;
        if (rc == 1)
            continue; /* stopped at the byte cap */
        if (w->from == before || w->from - before < WATCH_BATCH)
            return true;
    }
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

/* Per-user watch counts (under q->pool_mu). false when u is at its cap
 * or the table is full. */
static bool user_take(fl_query *q, const char *name)
{
    char user[sizeof q->wusers[0].name]; /* names are counted by this prefix */
    fl_strlcpy(user, name, sizeof user);
    query_watch_user *free_slot = NULL;
    for (size_t i = 0; i < QUERY_WATCH_USERS; i++) {
        query_watch_user *e = &q->wusers[i];
        if (e->n && !strcmp(e->name, user)) {
            if (e->n >= WATCH_PER_USER)
                return false;
            e->n++;
            return true;
        }
        if (!e->n && !free_slot)
            free_slot = e;
    }
    if (!free_slot)
        return false;
    fl_strlcpy(free_slot->name, user, sizeof free_slot->name);
    free_slot->n = 1;
    return true;
}

static void user_put(fl_query *q, const char *name)
{
    char user[sizeof q->wusers[0].name];
    fl_strlcpy(user, name, sizeof user);
    for (size_t i = 0; i < QUERY_WATCH_USERS; i++)
        if (q->wusers[i].n && !strcmp(q->wusers[i].name, user)) {
            q->wusers[i].n--;
            return;
        }
}

static void watch_free(watch *w)
{
    fl_stream_close(w->st);
    if (w->rd)
        fl_index_reader_free(w->rd);
    query_conds_free(w->c);
    free(w->cluster);
    free(w->ns);
    free(w->user_name);
    for (size_t i = 0; i < 64; i++)
        free(w->groups[i]);
    fl_query *q = w->q;
    char user[sizeof q->wusers[0].name];
    fl_strlcpy(user, w->counted, sizeof user);
    free(w);
    pthread_mutex_lock(&q->pool_mu);
    user_put(q, user);
    q->nwatch--;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->pool_mu);
}

static void *watch_main(void *arg)
{
    watch *w = arg;
    fl_query *q = w->q;
    int64_t last_bookmark = fl_mono_ms();
    if (w->from == 0)
        send_initial(w);
    while (!w->failed && drain(w)) {
        pthread_mutex_lock(&q->pool_mu);
        if (!w->gone && !q->stopping && q->rev <= w->from) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&q->changed, &q->pool_mu, &ts);
        }
        bool stop = w->gone || q->stopping;
        pthread_mutex_unlock(&q->pool_mu);
        int64_t now = fl_mono_ms();
        if (stop || now >= w->deadline_ms)
            break;
        if (w->bookmarks && now - last_bookmark >= WATCH_BOOKMARK_MS) {
            send_bookmark(w);
            last_bookmark = now;
        }
    }
    watch_free(w);
    return NULL;
}

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
    if (parse_rv(r, &w->from) != 0)
        return fl_err_set(err, FL_EPARSE, "invalid resourceVersion");
    if (ts && (fl_parse_i64(ts, strlen(ts), &timeout) != 0 || timeout < 0))
        return fl_err_set(err, FL_EPARSE, "invalid timeoutSeconds");
    if (timeout > WATCH_MAX_TIMEOUT_S)
        timeout = WATCH_MAX_TIMEOUT_S; /* no overflow in the deadline below */
    w->deadline_ms = fl_mono_ms() + (timeout ? timeout : WATCH_DEFAULT_TIMEOUT_S) * 1000;
    w->table = query_wants_table(r);
    w->first_table = true;
    w->bookmarks = want(r, "allowWatchBookmarks");
    if (!(w->user_name = strdup(u->name)) || (t->cluster && !(w->cluster = strdup(t->cluster))) ||
        (t->ns && !(w->ns = strdup(t->ns))))
        return -ENOMEM;
    w->u.name = w->user_name;
    w->u.ngroups = u->ngroups < 64 ? u->ngroups : 64;
    for (size_t i = 0; i < w->u.ngroups; i++)
        if (!(w->groups[i] = strdup(u->groups[i])))
            return -ENOMEM;
    w->u.groups = (const char *const *)w->groups;
    w->t.cluster = w->cluster;
    w->t.ns = w->ns;
    w->t.name = NULL;
    int rc = query_conds_new(r, &w->t, &w->c, err);
    if (!rc)
        rc = fl_index_reader_new(q->index, &w->rd, err);
    if (!rc) /* one reader per watch: a small cache keeps 2048 of them cheap */
        rc = fl_index_reader_set_cache(w->rd, WATCH_CACHE_KIB);
    if (!rc) /* owner-name / owner-seniority: the owners as of the start */
        rc = query_conds_resolve(q, w->c, w->rd, err);
    return rc;
}

void query_serve_watch(fl_query *q, fl_request *r, const query_user *u, const query_target *t)
{
    fl_err err = FL_ERR_INIT;
    watch *w = calloc(1, sizeof *w);
    pthread_t th;
    pthread_attr_t at;
    int rc = w ? 0 : -ENOMEM;
    pthread_mutex_lock(&q->pool_mu);
    bool full = q->nwatch >= WATCH_MAX || q->stopping;
    bool user_full = !full && !user_take(q, u->name);
    if (!full && !user_full)
        q->nwatch++;
    pthread_mutex_unlock(&q->pool_mu);
    if (full || user_full) {
        if (user_full)
            fl_request_reply_status(r, 429, "TooManyRequests",
                                    "too many watches for user \"%s\": at most %d at once",
                                    u->name, WATCH_PER_USER);
        else
            fl_request_reply_status(r, 429, "TooManyRequests",
                                    "too many watches: at most %d at once", WATCH_MAX);
        free(w);
        return;
    }
    if (w)
        fl_strlcpy(w->counted, u->name, sizeof w->counted);
    if (!rc)
        rc = watch_setup(q, r, u, t, w, &err);
    const char *ct = w && w->table ? "application/json;as=Table;v=v1;g=meta.k8s.io"
                                   : "application/json";
    if (rc || (rc = fl_request_stream(r, 200, ct, &w->st)) != 0) {
        if (rc != FL_ECLOSED && rc != 0)
            query_reply_error(r, rc, &err);
        if (w) {
            w->st = NULL;
            watch_free(w);
        } else {
            pthread_mutex_lock(&q->pool_mu);
            user_put(q, u->name);
            q->nwatch--;
            pthread_mutex_unlock(&q->pool_mu);
        }
        return;
    }
    fl_stream_on_gone(w->st, on_gone, w);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, WATCH_STACK);
    if (pthread_create(&th, &at, watch_main, w) != 0)
        watch_free(w);
    pthread_attr_destroy(&at);
}
