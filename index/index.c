/*
 * index/index.c: the fl_index handle — opening, the bounded ring of
 * submitted items, the decoder worker threads, the writer thread loop,
 * flush barriers, subscriptions and stats. SQL lives in writer.c and
 * reader.c; JSON work in decode.c.
 *
 * Queue invariant (under mu): items form a FIFO list head..tail in
 * submission order (seq ascending); `dec` points at the first item no
 * decoder has taken (NULL when all are taken); every item before `dec` is
 * being decoded (IT_DECODING) or decoded (IT_DECODED). The writer only removes a
 * prefix of decoded items, so commits follow submission order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/index_int.h"

#define MAX_SUBS 64
#define MAX_DECODERS 16
#define HOUSEKEEP_MS 1000

typedef struct sub {
    fl_index_change_cb cb;
    void *arg;
    bool used;
} sub;

struct fl_index {
    fl_index_opts o;
    char *path;
    sqlite3 *db; /* the writer's connection */
    idx_writer *w;
    zjpub *zpub; /* dictionaries the writer published for the decoders */
    dec_opts dopts;

    pthread_mutex_t mu;
    pthread_cond_t cond_dec, cond_wr, cond_done;
    idx_item *head, *tail, *dec;
    size_t n_items, n_bytes; /* data items and their bytes in the ring */
    uint64_t next_seq, done_seq;
    bool stopping, want_space;
    int64_t submitted, full, decode_errors, write_errors, parsed;
    int64_t st_written, st_skipped, st_deleted, st_coalesced, st_txns, st_rev;

    pthread_mutex_t subs_mu;
    sub subs[MAX_SUBS];

    pthread_t decoders[MAX_DECODERS];
    int n_decoders;
    pthread_t writer_thread;
    bool writer_started;
};

void idx_item_free(idx_item *it)
{
    if (!it)
        return;
    free(it->srcbuf);
    free(it->data);
    free(it->arg);
    free(it->arg2);
    idx_dec_out_done(&it->out);
    free(it);
}

/* ---------------------------------------------------------------- threads */

/* Decode it and compress its records' JSON (zc may be NULL: the writer
 * compresses them). */
static void decode_item(fl_index *idx, zjc *zc, idx_item *it)
{
    int rc = 0;
    if (it->type == IT_EVENT)
        rc = idx_dec_event(&idx->dopts, &it->src, it->data, it->len, &it->out);
    else if (it->type == IT_LIST)
        rc = idx_dec_list(&idx->dopts, &it->src, it->data, it->len, &it->out);
    if (rc == 0 && zc)
        rc = idx_zjpub_compress(idx->zpub, zc, &it->src, &it->out);
    if (rc < 0)
        it->out.decode_errors++;
    free(it->data);
    it->data = NULL;
}

static void *decoder_main(void *arg)
{
    fl_index *idx = arg;
    zjc *zc = NULL;
    pthread_setname_np(pthread_self(), "fl-index-dec");
    if (idx_zjc_new(&zc) < 0)
        zc = NULL; /* records go to the writer uncompressed */
    pthread_mutex_lock(&idx->mu);
    for (;;) {
        while (!idx->stopping && !idx->dec)
            pthread_cond_wait(&idx->cond_dec, &idx->mu);
        if (!idx->dec)
            break; /* stopping and nothing left to decode */
        idx_item *it = idx->dec;
        idx->dec = it->next;
        it->state = IT_DECODING;
        pthread_mutex_unlock(&idx->mu);
        decode_item(idx, zc, it);
        pthread_mutex_lock(&idx->mu);
        it->state = IT_DECODED;
        idx->decode_errors += it->out.decode_errors;
        idx->parsed += it->out.parsed;
        if (it == idx->head)
            pthread_cond_signal(&idx->cond_wr);
    }
    pthread_mutex_unlock(&idx->mu);
    idx_zjc_free(zc);
    return NULL;
}

/* Take a decoded prefix of the ring (under mu). */
static size_t take_batch(fl_index *idx, idx_item ***out, size_t *cap)
{
    size_t n = 0, recs = 0;
    while (idx->head && idx->head->state == IT_DECODED &&
           (n == 0 || recs < (size_t)idx->o.batch_max)) {
        idx_item *it = idx->head;
        if (fl_grow(out, cap, n + 1, sizeof **out) != 0)
            break;
        (*out)[n++] = it;
        recs += it->out.n_recs + 1;
        idx->head = it->next;
        if (!idx->head)
            idx->tail = NULL;
        it->next = NULL;
    }
    return n;
}

static void notify(fl_index *idx, int64_t from, int64_t to)
{
    pthread_mutex_lock(&idx->subs_mu);
    for (int i = 0; i < MAX_SUBS; i++)
        if (idx->subs[i].used)
            idx->subs[i].cb(idx->subs[i].arg, from, to);
    pthread_mutex_unlock(&idx->subs_mu);
}

/* Release the ring space of a committed batch; wake flushers and the
 * producer. */
static void finish_batch(fl_index *idx, idx_item **b, size_t n)
{
    bool wake = false;
    pthread_mutex_lock(&idx->mu);
    for (size_t i = 0; i < n; i++) {
        if (b[i]->type == IT_EVENT || b[i]->type == IT_LIST) {
            idx->n_items--;
            idx->n_bytes -= b[i]->counted;
        }
        idx->done_seq = b[i]->seq;
    }
    idx_writer_counts(idx->w, &idx->st_written, &idx->st_skipped, &idx->st_deleted,
                      &idx->st_coalesced, &idx->st_txns);
    idx->st_rev = idx_writer_revision(idx->w);
    if (idx->want_space && idx->n_items <= idx->o.queue_max_items / 2 &&
        idx->n_bytes <= idx->o.queue_max_bytes / 2) {
        idx->want_space = false;
        wake = true;
    }
    pthread_cond_broadcast(&idx->cond_done);
    pthread_mutex_unlock(&idx->mu);
    if (wake && idx->o.on_space)
        idx->o.on_space(idx->o.on_space_arg);
}

/* A batch that failed for want of memory is tried again after this long
 * (then 4 and 16 times as long: idx_writer_apply_retrying). */
#define WRITE_BACKOFF_MS 50

static void write_batch(fl_index *idx, idx_item **b, size_t n)
{
    fl_err err = FL_ERR_INIT;
    int64_t from = 0, to = -1;
    if (idx_writer_apply_retrying(idx->w, b, n, WRITE_BACKOFF_MS, &from, &to, &err) < 0) {
        fl_log(FL_LOG_ERROR, "index", "batch of %zu items lost: %s", n, err.msg);
        pthread_mutex_lock(&idx->mu);
        idx->write_errors++;
        pthread_mutex_unlock(&idx->mu);
    }
    if (to >= from)
        notify(idx, from, to); /* before flushers wake: a flush implies notified */
    finish_batch(idx, b, n);
    for (size_t i = 0; i < n; i++)
        idx_item_free(b[i]);
}

/* When the writer has been idle for IDLE_TRUNCATE_MS after writing, the WAL
 * is folded into the database and truncated, so an idle index does not keep a
 * WAL as large as its last burst (journal_size_limit bounds it under load). */
#define IDLE_TRUNCATE_MS 2000

static void truncate_when_idle(fl_index *idx, int64_t last_write, bool *dirty)
{
    fl_err err = FL_ERR_INIT;
    if (!*dirty || fl_mono_ms() - last_write < IDLE_TRUNCATE_MS)
        return;
    int rc = idx_writer_truncate_wal(idx->w, &err);
    if (rc == 0)
        *dirty = false;
    else if (rc != -EBUSY)
        fl_log(FL_LOG_WARN, "index", "%s", err.msg);
}

static void housekeep(fl_index *idx, int64_t *last)
{
    fl_err err = FL_ERR_INIT;
    int64_t now = fl_mono_ms();
    if (now - *last < HOUSEKEEP_MS)
        return;
    *last = now;
    if (idx_writer_housekeep(idx->w, fl_now_ms(), &err) < 0)
        fl_log(FL_LOG_WARN, "index", "housekeeping: %s", err.msg);
}

static void timed_wait(pthread_cond_t *c, pthread_mutex_t *mu, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(c, mu, &ts);
}

static void *writer_main(void *arg)
{
    fl_index *idx = arg;
    idx_item **batch = NULL;
    size_t cap = 0;
    int64_t last_hk = fl_mono_ms(), last_write = 0;
    bool dirty = false;
    pthread_setname_np(pthread_self(), "fl-index-write");
    pthread_mutex_lock(&idx->mu);
    for (;;) {
        while (!(idx->head && idx->head->state == IT_DECODED) && !(idx->stopping && !idx->head)) {
            timed_wait(&idx->cond_wr, &idx->mu, HOUSEKEEP_MS);
            if (!idx->head) {
                pthread_mutex_unlock(&idx->mu);
                housekeep(idx, &last_hk);
                truncate_when_idle(idx, last_write, &dirty);
                pthread_mutex_lock(&idx->mu);
            }
        }
        if (!idx->head)
            break;
        size_t n = take_batch(idx, &batch, &cap);
        pthread_mutex_unlock(&idx->mu);
        if (n) {
            write_batch(idx, batch, n);
            last_write = fl_mono_ms();
            dirty = true;
        }
        housekeep(idx, &last_hk);
        pthread_mutex_lock(&idx->mu);
    }
    pthread_mutex_unlock(&idx->mu);
    free(batch);
    return NULL;
}

/* ------------------------------------------------------------------ open */

static int check_opts(const fl_index_opts *o, fl_err *err)
{
    if (!o || !o->path || !o->path[0])
        return fl_err_set(err, -EINVAL, "index: no database path");
    if (o->decoder_threads < 1 || o->decoder_threads > MAX_DECODERS || o->queue_max_items < 1 ||
        o->queue_max_bytes < 1 || o->batch_max < 1 || o->cache_kib < 1 || o->reader_cache_kib < 1 ||
        o->mmap_bytes < 0 || o->changelog_max < 1 || o->tombstone_keep_ms < 0)
        return fl_err_set(err, -EINVAL, "index: option out of range");
    return 0;
}

static int open_db(fl_index *idx, fl_err *err)
{
    int rc =
        sqlite3_open_v2(idx->path, &idx->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return fl_err_set(err, FL_ESQL, "index: opening %s: %s", idx->path,
                          idx->db ? sqlite3_errmsg(idx->db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(idx->db, 5000);
    if ((rc = idx_schema_open(idx->db, &idx->o, err)) < 0 || (rc = idx_zjpub_new(&idx->zpub)) < 0)
        return rc;
    return idx_writer_new(idx->db, &idx->o, idx->zpub, &idx->w, err);
}

static int start_threads(fl_index *idx, fl_err *err)
{
    for (int i = 0; i < idx->o.decoder_threads; i++) {
        if (pthread_create(&idx->decoders[i], NULL, decoder_main, idx) != 0)
            return fl_err_set(err, -EAGAIN, "index: cannot start decoder thread");
        idx->n_decoders++;
    }
    if (pthread_create(&idx->writer_thread, NULL, writer_main, idx) != 0)
        return fl_err_set(err, -EAGAIN, "index: cannot start writer thread");
    idx->writer_started = true;
    return 0;
}

int fl_index_open(const fl_index_opts *opts, fl_index **out, fl_err *err)
{
    int rc = check_opts(opts, err);
    if (rc < 0)
        return rc;
    fl_index *idx = calloc(1, sizeof *idx);
    if (!idx)
        return -ENOMEM;
    idx->o = *opts;
    idx->dopts.keep_managed_fields = opts->keep_managed_fields;
    idx->dopts.keep_last_applied = opts->keep_last_applied;
    pthread_mutex_init(&idx->mu, NULL);
    pthread_mutex_init(&idx->subs_mu, NULL);
    pthread_cond_init(&idx->cond_dec, NULL);
    pthread_cond_init(&idx->cond_wr, NULL);
    pthread_cond_init(&idx->cond_done, NULL);
    if (!(idx->path = fl_strndup(opts->path, strlen(opts->path)))) {
        rc = -ENOMEM;
        goto fail;
    }
    idx->o.path = idx->path;
    if ((rc = open_db(idx, err)) < 0 || (rc = start_threads(idx, err)) < 0)
        goto fail;
    idx->st_rev = idx_writer_revision(idx->w);
    *out = idx;
    return 0;
fail:
    fl_index_close(idx);
    return rc;
}

void fl_index_close(fl_index *idx)
{
    if (!idx)
        return;
    pthread_mutex_lock(&idx->mu);
    idx->stopping = true;
    pthread_cond_broadcast(&idx->cond_dec);
    pthread_cond_broadcast(&idx->cond_wr);
    pthread_mutex_unlock(&idx->mu);
    for (int i = 0; i < idx->n_decoders; i++)
        pthread_join(idx->decoders[i], NULL);
    if (idx->writer_started)
        pthread_join(idx->writer_thread, NULL);
    while (idx->head) { /* only if threads never started */
        idx_item *n = idx->head->next;
        idx_item_free(idx->head);
        idx->head = n;
    }
    idx_writer_free(idx->w);
    idx_zjpub_free(idx->zpub);
    if (idx->db)
        sqlite3_close(idx->db);
    pthread_mutex_destroy(&idx->mu);
    pthread_mutex_destroy(&idx->subs_mu);
    pthread_cond_destroy(&idx->cond_dec);
    pthread_cond_destroy(&idx->cond_wr);
    pthread_cond_destroy(&idx->cond_done);
    free(idx->path);
    free(idx);
}

const char *fl_index_path(const fl_index *idx)
{
    return idx->path;
}

const fl_index_opts *fl_index_options(const fl_index *idx)
{
    return &idx->o;
}

/* ------------------------------------------------------------- producing */

static idx_item *item_new(item_type type, const fl_index_src *src)
{
    const char *s[5] = {src->cluster, src->group, src->version, src->resource,
                        src->kind ? src->kind : ""};
    size_t len[5], total = 0;
    for (int i = 0; i < 5; i++)
        total += (len[i] = strlen(s[i])) + 1;
    idx_item *it = calloc(1, sizeof *it);
    char *buf = malloc(total);
    if (!it || !buf) {
        free(it);
        free(buf);
        return NULL;
    }
    const char **dst[5] = {&it->src.cluster, &it->src.group, &it->src.version, &it->src.resource,
                           &it->src.kind};
    char *p = buf;
    for (int i = 0; i < 5; i++) {
        memcpy(p, s[i], len[i] + 1);
        *dst[i] = p;
        p += len[i] + 1;
    }
    it->srcbuf = buf;
    it->type = type;
    return it;
}

static int check_src(const fl_index_src *src, fl_err *err)
{
    if (!src || !src->cluster || !src->cluster[0] || !src->group || !src->version ||
        !src->version[0] || !src->resource || !src->resource[0])
        return fl_err_set(err, -EINVAL,
                          "index: incomplete source (cluster/group/version/resource)");
    if (strlen(src->cluster) + strlen(src->group) + strlen(src->version) + strlen(src->resource) +
            (src->kind ? strlen(src->kind) : 0) >
        900)
        return fl_err_set(err, -E2BIG, "index: source names too long");
    return 0;
}

/* Append it to the ring, or refuse (FL_EFULL) when a data item would pass a
 * cap. Takes ownership of it in every case. */
static int enqueue(fl_index *idx, idx_item *it, fl_err *err)
{
    bool data = it->type == IT_EVENT || it->type == IT_LIST;
    int rc = 0;
    pthread_mutex_lock(&idx->mu);
    if (idx->stopping) {
        rc = fl_err_set(err, FL_ECLOSED, "index: closed");
    } else if (data && idx->n_items > 0 &&
               (idx->n_items + 1 > idx->o.queue_max_items ||
                idx->n_bytes + it->len > idx->o.queue_max_bytes)) {
        idx->full++;
        idx->want_space = true;
        rc = fl_err_set(err, FL_EFULL, "index: queue full (%zu items, %zu bytes)", idx->n_items,
                        idx->n_bytes);
    } else {
        it->seq = ++idx->next_seq;
        if (data) {
            it->counted = it->len;
            idx->n_items++;
            idx->n_bytes += it->len;
            idx->submitted++;
        }
        if (idx->tail)
            idx->tail->next = it;
        else
            idx->head = it;
        idx->tail = it;
        if (!idx->dec)
            idx->dec = it;
        pthread_cond_signal(&idx->cond_dec);
        it = NULL;
    }
    pthread_mutex_unlock(&idx->mu);
    idx_item_free(it);
    return rc;
}

static int submit_data(fl_index *idx, item_type t, const fl_index_src *src, const char *data,
                       size_t len, fl_err *err)
{
    int rc = check_src(src, err);
    if (rc < 0)
        return rc;
    if (!data || len == 0)
        return fl_err_set(err, -EINVAL, "index: empty item");
    if (len > FL_INDEX_ITEM_MAX)
        return fl_err_set(err, -E2BIG, "index: item of %zu bytes is over the cap", len);
    idx_item *it = item_new(t, src);
    if (!it || !(it->data = malloc(len))) {
        idx_item_free(it);
        return -ENOMEM;
    }
    memcpy(it->data, data, len);
    it->len = len;
    return enqueue(idx, it, err);
}

int fl_index_submit_event(fl_index *idx, const fl_index_src *src, const char *data, size_t len,
                          fl_err *err)
{
    return submit_data(idx, IT_EVENT, src, data, len, err);
}

int fl_index_submit_list(fl_index *idx, const fl_index_src *src, const char *data, size_t len,
                         fl_err *err)
{
    return submit_data(idx, IT_LIST, src, data, len, err);
}

static int submit_control(fl_index *idx, item_type t, const fl_index_src *src, const char *arg,
                          const char *arg2, int64_t lag, fl_err *err)
{
    int rc = check_src(src, err);
    if (rc < 0)
        return rc;
    idx_item *it = item_new(t, src);
    if (!it || (arg && !(it->arg = fl_strndup(arg, strlen(arg)))) ||
        (arg2 && !(it->arg2 = fl_strndup(arg2, strlen(arg2))))) {
        idx_item_free(it);
        return -ENOMEM;
    }
    it->lag_ms = lag;
    return enqueue(idx, it, err);
}

int fl_index_relist_begin(fl_index *idx, const fl_index_src *src, fl_err *err)
{
    return submit_control(idx, IT_RELIST_BEGIN, src, NULL, NULL, 0, err);
}

int fl_index_relist_end(fl_index *idx, const fl_index_src *src, const char *resource_version,
                        fl_err *err)
{
    return submit_control(idx, IT_RELIST_END, src, resource_version ? resource_version : "", NULL,
                          0, err);
}

int fl_index_relist_abort(fl_index *idx, const fl_index_src *src, fl_err *err)
{
    return submit_control(idx, IT_RELIST_ABORT, src, NULL, NULL, 0, err);
}

int fl_index_sync_set(fl_index *idx, const fl_index_src *src, const char *phase, int64_t lag_ms,
                      const char *last_error, fl_err *err)
{
    return submit_control(idx, IT_SYNC, src, phase, last_error, lag_ms, err);
}

int fl_index_flush(fl_index *idx, int64_t timeout_ms)
{
    int64_t deadline = fl_mono_ms() + timeout_ms;
    int rc = 0;
    pthread_mutex_lock(&idx->mu);
    uint64_t target = idx->next_seq;
    while (idx->done_seq < target) {
        int64_t left = deadline - fl_mono_ms();
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        timed_wait(&idx->cond_done, &idx->mu, left < 100 ? left : 100);
    }
    pthread_mutex_unlock(&idx->mu);
    return rc;
}

/* ------------------------------------------------------- subscriptions */

int fl_index_subscribe(fl_index *idx, fl_index_change_cb cb, void *arg, int *id)
{
    int rc = -ENOSPC;
    if (!cb)
        return -EINVAL;
    pthread_mutex_lock(&idx->subs_mu);
    for (int i = 0; i < MAX_SUBS; i++) {
        if (!idx->subs[i].used) {
            idx->subs[i] = (sub){cb, arg, true};
            *id = i;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&idx->subs_mu);
    return rc;
}

void fl_index_unsubscribe(fl_index *idx, int id)
{
    if (id < 0 || id >= MAX_SUBS)
        return;
    pthread_mutex_lock(&idx->subs_mu);
    idx->subs[id].used = false;
    pthread_mutex_unlock(&idx->subs_mu);
}

void fl_index_stats_get(fl_index *idx, fl_index_stats *out)
{
    pthread_mutex_lock(&idx->mu);
    out->submitted = idx->submitted;
    out->full = idx->full;
    out->decode_errors = idx->decode_errors;
    out->objects_parsed = idx->parsed;
    out->write_errors = idx->write_errors;
    out->objects_written = idx->st_written;
    out->objects_skipped = idx->st_skipped;
    out->objects_deleted = idx->st_deleted;
    out->coalesced = idx->st_coalesced;
    out->transactions = idx->st_txns;
    out->revision = idx->st_rev;
    out->queue_items = idx->n_items;
    out->queue_bytes = idx->n_bytes;
    pthread_mutex_unlock(&idx->mu);
}
