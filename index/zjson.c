/*
 * index/zjson.c: stored JSON compressed with zstd and one trained
 * dictionary per resource (schema v4). Objects of one resource share most
 * of their bytes (keys, images, conditions), so a dictionary trained on
 * the first ZJ_SAMPLES objects of a resource cuts pods several-fold where
 * plain zstd on one 4 KB object cannot.
 *
 * Writer side (zjw_*, writer thread only): samples the JSON of each
 * resource until it has enough, trains a dictionary, stores it in table
 * dicts (inside the writer's transaction; idx_zjw_rollback forgets one made in
 * a transaction that failed), and from then on compresses that resource's
 * rows. Rows written before stay plain JSON text; both forms are read.
 * Once the transaction that stored a dictionary committed, the writer
 * publishes it (zjpub_*) to the decoder threads, which compress records
 * before the writer sees them; the writer stores those bytes when they
 * name its own dictionary of the resource, and compresses the rest itself.
 * Reader side (zjr_*, one reader connection): a row whose json is a BLOB
 * starting with the zstd magic is decompressed with the dictionary named
 * in its frame header (loaded from dicts once per reader).
 * A compressed row is only ever in a v4 database, which an older binary
 * refuses to open ("index schema version 4 is newer than this flotilla").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define ZDICT_STATIC_LINKING_ONLY /* the fastCover trainer's parameters */
#include <zdict.h>
#include <zstd.h>

#include "index/index_int.h"

#define ZJ_SAMPLES 1000            /* objects sampled before training */
#define ZJ_SAMPLE_BYTES (8u << 20) /* sample bytes kept per resource, at most */
#define ZJ_SAMPLE_ONE_MAX (64u << 10)
#define ZJ_DICT_BYTES (64u << 10)
#define ZJ_LEVEL 1
#define ZJ_READER_DICTS 64

static const unsigned char ZMAGIC[4] = {0x28, 0xB5, 0x2F, 0xFD};

/* ------------------------------------------------------------ writer side */

typedef struct zres {
    int64_t gvr;
    ZSTD_CDict *cd; /* NULL until trained */
    int64_t dict_id;
    bool pending;   /* trained in the open transaction */
    bool published; /* given to the zjpub (committed) */
    bool gave_up;   /* training failed: rows stay plain */
    fl_buf samples;
    size_t *sizes;
    size_t n;
} zres;

struct zjw {
    sqlite3 *db;
    zjpub *pub; /* borrowed, may be NULL */
    zjc *c;
    zres *res;
    size_t n_res;
};

/* ---------------------------------------------------- published dicts */

typedef struct zpub_ent {
    char key[256]; /* "group/version/resource" */
    int64_t dict_id;
    ZSTD_CDict *cd; /* read-only once made: shared by every thread */
} zpub_ent;

struct zjpub {
    pthread_mutex_t mu;
    zpub_ent *ents; /* under mu; an entry's cd lives until idx_zjpub_free */
    size_t n;
};

struct zjc {
    ZSTD_CCtx *cctx;
    char *out;
    size_t cap;
};

int idx_zjpub_new(zjpub **out)
{
    zjpub *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

void idx_zjpub_free(zjpub *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        ZSTD_freeCDict(p->ents[i].cd);
    free(p->ents);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static bool pub_key(char *key, size_t size, const char *grp, const char *ver, const char *res)
{
    int n = snprintf(key, size, "%s/%s/%s", grp, ver, res);
    return n > 0 && (size_t)n < size;
}

/* Add dictionary id of resource key (a copy of the dictionary's bytes). */
static int pub_add(zjpub *p, const char *key, int64_t id, const void *dict, size_t len)
{
    ZSTD_CDict *cd = ZSTD_createCDict(dict, len, ZJ_LEVEL);
    int rc = 0;
    if (!cd)
        return -ENOMEM;
    pthread_mutex_lock(&p->mu);
    zpub_ent *n = realloc(p->ents, (p->n + 1) * sizeof *n);
    if (n) {
        p->ents = n;
        n[p->n] = (zpub_ent){.dict_id = id, .cd = cd};
        fl_strlcpy(n[p->n].key, key, sizeof n[p->n].key);
        p->n++;
    } else {
        ZSTD_freeCDict(cd);
        rc = -ENOMEM;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* The newest dictionary published for key (0 and NULL: none). */
static ZSTD_CDict *pub_find(zjpub *p, const char *key, int64_t *id)
{
    ZSTD_CDict *cd = NULL;
    *id = 0;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->ents[i].key, key) == 0)
            cd = p->ents[i].cd, *id = p->ents[i].dict_id;
    pthread_mutex_unlock(&p->mu);
    return cd;
}

int idx_zjc_new(zjc **out)
{
    zjc *c = calloc(1, sizeof *c);
    if (!c || !(c->cctx = ZSTD_createCCtx())) {
        free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void idx_zjc_free(zjc *c)
{
    if (!c)
        return;
    ZSTD_freeCCtx(c->cctx);
    free(c->out);
    free(c);
}

/* Compress json with cd into c's buffer: 1 with *out and *n (valid until the
 * next call on c), 0 when the frame would not be smaller, or -ENOMEM. */
static int zjc_compress(zjc *c, const ZSTD_CDict *cd, const char *json, size_t len,
                        const void **out, size_t *n)
{
    size_t bound = ZSTD_compressBound(len);
    if (bound > c->cap) {
        char *b = realloc(c->out, bound);
        if (!b)
            return -ENOMEM;
        c->out = b, c->cap = bound;
    }
    size_t got = ZSTD_compress_usingCDict(c->cctx, c->out, c->cap, json, len, cd);
    if (ZSTD_isError(got) || got >= len)
        return 0;
    *out = c->out, *n = got;
    return 1;
}

int idx_zjpub_compress(zjpub *p, zjc *c, const fl_index_src *src, dec_out *out)
{
    char key[256];
    int64_t id;
    if (!out->n_recs || !pub_key(key, sizeof key, src->group, src->version, src->resource))
        return 0;
    ZSTD_CDict *cd = pub_find(p, key, &id);
    for (size_t i = 0; cd && i < out->n_recs; i++) {
        fl_rec *r = out->recs[i];
        if (!r || !r->json || r->zjson)
            continue;
        const void *z;
        size_t n;
        int rc = zjc_compress(c, cd, r->json, r->json_len, &z, &n);
        if (rc < 0)
            return rc;
        if (rc == 0)
            continue; /* the writer stores it plain */
        if (!(r->zjson = malloc(n)))
            return -ENOMEM;
        memcpy(r->zjson, z, n);
        r->zjson_len = n;
        r->zdict = id;
    }
    return 0;
}

/* Publish the committed dictionaries not published yet. A failure only
 * leaves the writer compressing those rows itself. */
static void publish(zjw *z)
{
    static const char sql[] = "SELECT d.dict, g.grp, g.ver, g.res FROM dicts d"
                              " JOIN gvrs g ON g.id = d.gvr_id WHERE d.id = ?";
    for (size_t i = 0; z->pub && i < z->n_res; i++) {
        zres *r = &z->res[i];
        sqlite3_stmt *s = NULL;
        char key[256];
        if (!r->cd || r->pending || r->published)
            continue;
        if (sqlite3_prepare_v2(z->db, sql, -1, &s, NULL) == SQLITE_OK &&
            sqlite3_bind_int64(s, 1, r->dict_id) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
            pub_key(key, sizeof key, (const char *)sqlite3_column_text(s, 1),
                    (const char *)sqlite3_column_text(s, 2),
                    (const char *)sqlite3_column_text(s, 3)) &&
            pub_add(z->pub, key, r->dict_id, sqlite3_column_blob(s, 0),
                    (size_t)sqlite3_column_bytes(s, 0)) == 0)
            r->published = true;
        sqlite3_finalize(s);
    }
}

static void zres_drop_samples(zres *r)
{
    fl_buf_done(&r->samples);
    free(r->sizes);
    r->sizes = NULL;
    r->n = 0;
}

static zres *zres_get(zjw *z, int64_t gvr)
{
    for (size_t i = 0; i < z->n_res; i++)
        if (z->res[i].gvr == gvr)
            return &z->res[i];
    zres *n = fl_realloc(z->res, (z->n_res + 1) * sizeof *n);
    if (!n)
        return NULL;
    z->res = n;
    n[z->n_res] = (zres){.gvr = gvr, .samples = FL_BUF_INIT(ZJ_SAMPLE_BYTES)};
    return &n[z->n_res++];
}

int idx_zjw_new(sqlite3 *db, zjpub *pub, zjw **out, fl_err *err)
{
    zjw *z = fl_calloc(1, sizeof *z);
    sqlite3_stmt *s = NULL;
    int rc = 0;
    if (!z || idx_zjc_new(&z->c) < 0) {
        free(z);
        return -ENOMEM;
    }
    z->db = db;
    z->pub = pub;
    if (sqlite3_prepare_v2(db, "SELECT id, gvr_id, dict FROM dicts ORDER BY id", -1, &s, NULL)) {
        rc = fl_err_set(err, FL_ESQL, "index: reading dictionaries: %s", sqlite3_errmsg(db));
        goto fail;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        zres *r = zres_get(z, sqlite3_column_int64(s, 1));
        if (!r) {
            rc = -ENOMEM;
            goto fail;
        }
        ZSTD_freeCDict(r->cd);
        r->cd = ZSTD_createCDict(sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2),
                                 ZJ_LEVEL);
        r->dict_id = sqlite3_column_int64(s, 0);
        if (!r->cd)
            r->gave_up = true;
    }
    sqlite3_finalize(s);
    publish(z);
    *out = z;
    return 0;
fail:
    sqlite3_finalize(s);
    idx_zjw_free(z);
    return rc;
}

void idx_zjw_free(zjw *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->n_res; i++) {
        ZSTD_freeCDict(z->res[i].cd);
        zres_drop_samples(&z->res[i]);
    }
    free(z->res);
    idx_zjc_free(z->c);
    free(z);
}

static int store_dict(zjw *z, zres *r, const void *dict, size_t len, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(z->db, "INSERT INTO dicts(id, gvr_id, dict) VALUES(?, ?, ?)", -1,
                                &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, r->dict_id);
        sqlite3_bind_int64(s, 2, r->gvr);
        sqlite3_bind_blob(s, 3, dict, (int)len, SQLITE_STATIC);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_OK)
        return fl_err_set(err, FL_ESQL, "index: storing a dictionary: %s", sqlite3_errmsg(z->db));
    return 0;
}

static int next_dict_id(zjw *z, int64_t *id)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(z->db, "SELECT coalesce(max(id), 0) + 1 FROM dicts", -1, &s, NULL);
    if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    else
        rc = SQLITE_ERROR;
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? 0 : FL_ESQL;
}

/* Train r's dictionary from its samples; store it. A resource whose
 * samples do not train (too few distinct bytes) gives up: rows stay plain. */
static int train(zjw *z, zres *r, fl_err *err)
{
    void *dict = fl_malloc(ZJ_DICT_BYTES);
    int rc = 0;
    if (!dict)
        return -ENOMEM;
    if ((rc = next_dict_id(z, &r->dict_id)) < 0) {
        free(dict);
        return fl_err_set(err, rc, "index: dictionary id: %s", sqlite3_errmsg(z->db));
    }
    ZDICT_fastCover_params_t p;
    memset(&p, 0, sizeof p);
    p.k = 200, p.d = 8, p.f = 20, p.steps = 1, p.accel = 1;
    p.zParams.compressionLevel = ZJ_LEVEL;
    p.zParams.dictID = (unsigned)r->dict_id;
    size_t len = ZDICT_trainFromBuffer_fastCover(dict, ZJ_DICT_BYTES, r->samples.data, r->sizes,
                                                 (unsigned)r->n, p);
    zres_drop_samples(r);
    if (ZDICT_isError(len) || !(r->cd = ZSTD_createCDict(dict, len, ZJ_LEVEL))) {
        r->gave_up = true;
        free(dict);
        return 0;
    }
    rc = store_dict(z, r, dict, len, err);
    free(dict);
    if (rc < 0) {
        ZSTD_freeCDict(r->cd);
        r->cd = NULL;
        return rc;
    }
    r->pending = true;
    return 0;
}

static int sample(zjw *z, zres *r, const char *json, size_t len, fl_err *err)
{
    if (len > ZJ_SAMPLE_ONE_MAX || r->samples.len + len > ZJ_SAMPLE_BYTES)
        return 0;
    if (!r->sizes && !(r->sizes = fl_calloc(ZJ_SAMPLES, sizeof *r->sizes)))
        return -ENOMEM;
    int rc = fl_buf_append(&r->samples, json, len);
    if (rc < 0)
        return rc == -E2BIG ? 0 : rc;
    r->sizes[r->n++] = len;
    return r->n == ZJ_SAMPLES ? train(z, r, err) : 0;
}

int idx_zjw_encode(zjw *z, int64_t gvr, const char *json, size_t len, const void **out,
                   size_t *out_len, bool *compressed, fl_err *err)
{
    zres *r = zres_get(z, gvr);
    int rc;
    *out = json, *out_len = len, *compressed = false;
    if (!r)
        return -ENOMEM;
    if (!r->cd) {
        if (!r->gave_up && (rc = sample(z, r, json, len, err)) < 0)
            return rc;
        return 0;
    }
    if ((rc = zjc_compress(z->c, r->cd, json, len, out, out_len)) < 0)
        return rc;
    *compressed = rc == 1; /* else stored plain */
    return 0;
}

void idx_zjw_commit(zjw *z)
{
    bool fresh = false;
    for (size_t i = 0; i < z->n_res; i++) {
        fresh |= z->res[i].pending;
        z->res[i].pending = false;
    }
    if (fresh)
        publish(z);
}

int64_t idx_zjw_dict(const zjw *z, int64_t gvr)
{
    for (size_t i = 0; i < z->n_res; i++)
        if (z->res[i].gvr == gvr)
            return z->res[i].cd && !z->res[i].pending ? z->res[i].dict_id : 0;
    return 0;
}

void idx_zjw_rollback(zjw *z)
{
    for (size_t i = 0; i < z->n_res; i++) {
        zres *r = &z->res[i];
        if (r->pending) { /* its dicts row is gone: train again later */
            ZSTD_freeCDict(r->cd);
            r->cd = NULL;
            r->pending = false;
        }
    }
}

/* ------------------------------------------------------------ reader side */

typedef struct zdd {
    int64_t id;
    ZSTD_DDict *dd;
} zdd;

struct zjr {
    ZSTD_DCtx *dctx;
    zdd dicts[ZJ_READER_DICTS];
    size_t n_dicts, next_evict;
    char *out;
    size_t out_cap;
};

int idx_zjr_new(zjr **out)
{
    zjr *z = calloc(1, sizeof *z);
    if (!z || !(z->dctx = ZSTD_createDCtx())) {
        free(z);
        return -ENOMEM;
    }
    *out = z;
    return 0;
}

void idx_zjr_free(zjr *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->n_dicts; i++)
        ZSTD_freeDDict(z->dicts[i].dd);
    ZSTD_freeDCtx(z->dctx);
    free(z->out);
    free(z);
}

static ZSTD_DDict *ddict(zjr *z, sqlite3 *db, int64_t id)
{
    for (size_t i = 0; i < z->n_dicts; i++)
        if (z->dicts[i].id == id)
            return z->dicts[i].dd;
    sqlite3_stmt *s = NULL;
    ZSTD_DDict *dd = NULL;
    if (sqlite3_prepare_v2(db, "SELECT dict FROM dicts WHERE id = ?", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, id);
        if (sqlite3_step(s) == SQLITE_ROW)
            dd = ZSTD_createDDict(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
    }
    sqlite3_finalize(s);
    if (!dd)
        return NULL;
    size_t slot = z->n_dicts < ZJ_READER_DICTS ? z->n_dicts++ : z->next_evict++ % ZJ_READER_DICTS;
    if (z->dicts[slot].dd)
        ZSTD_freeDDict(z->dicts[slot].dd);
    z->dicts[slot] = (zdd){id, dd};
    return dd;
}

bool idx_zj_is_compressed(const void *p, size_t n)
{
    return p && n >= 4 && memcmp(p, ZMAGIC, 4) == 0;
}

int idx_zjr_decode(zjr *z, sqlite3 *db, const void *p, size_t n, const char **json, size_t *len,
                   fl_err *err)
{
    unsigned id = ZSTD_getDictID_fromFrame(p, n);
    unsigned long long size = ZSTD_getFrameContentSize(p, n);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
        size > FL_INDEX_ITEM_MAX)
        return fl_err_set(err, FL_ESQL, "index: a compressed row has no valid size");
    ZSTD_DDict *dd = id ? ddict(z, db, id) : NULL;
    if (id && !dd)
        return fl_err_set(err, FL_ESQL, "index: dictionary %u of a row is missing", id);
    if (size + 1 > z->out_cap) {
        char *b = realloc(z->out, (size_t)size + 1);
        if (!b)
            return -ENOMEM;
        z->out = b, z->out_cap = (size_t)size + 1;
    }
    size_t got = dd ? ZSTD_decompress_usingDDict(z->dctx, z->out, z->out_cap, p, n, dd)
                    : ZSTD_decompressDCtx(z->dctx, z->out, z->out_cap, p, n);
    if (ZSTD_isError(got) || got != size)
        return fl_err_set(err, FL_ESQL, "index: a compressed row does not decompress");
    z->out[got] = 0;
    *json = z->out, *len = got;
    return 0;
}
