/*
 * index/zjson.c: stored JSON compressed with zstd and one trained
 * dictionary per resource (schema v4). Objects of one resource share most
 * of their bytes (keys, images, conditions), so a dictionary trained on
 * the first ZJ_SAMPLES objects of a resource cuts pods several-fold where
 * plain zstd on one 4 KB object cannot.
 *
 * Writer side (zjw_*, writer thread only): samples the JSON of each
 * resource until it has enough, trains a dictionary, stores it in table
 * dicts (inside the writer's transaction; zjw_rollback forgets one made in
 * a transaction that failed), and from then on compresses that resource's
 * rows. Rows written before stay plain JSON text; both forms are read.
 * Reader side (zjr_*, one reader connection): a row whose json is a BLOB
 * starting with the zstd magic is decompressed with the dictionary named
 * in its frame header (loaded from dicts once per reader).
 * A compressed row is only ever in a v4 database, which an older binary
 * refuses to open ("index schema version 4 is newer than this flotilla").
 */
#include <errno.h>
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
    ZSTD_CDict *cd;      /* NULL until trained */
    int64_t dict_id;
    bool pending;        /* trained in the open transaction */
    bool gave_up;        /* training failed: rows stay plain */
    fl_buf samples;
    size_t *sizes;
    size_t n;
} zres;

struct zjw {
    sqlite3 *db;
    ZSTD_CCtx *cctx;
    zres *res;
    size_t n_res;
    char *out;
    size_t out_cap;
};

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
    zres *n = realloc(z->res, (z->n_res + 1) * sizeof *n);
    if (!n)
        return NULL;
    z->res = n;
    n[z->n_res] = (zres){.gvr = gvr, .samples = FL_BUF_INIT(ZJ_SAMPLE_BYTES)};
    return &n[z->n_res++];
}

int zjw_new(sqlite3 *db, zjw **out, fl_err *err)
{
    zjw *z = calloc(1, sizeof *z);
    sqlite3_stmt *s = NULL;
    int rc = 0;
    if (!z || !(z->cctx = ZSTD_createCCtx())) {
        free(z);
        return -ENOMEM;
    }
    z->db = db;
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
    *out = z;
    return 0;
fail:
    sqlite3_finalize(s);
    zjw_free(z);
    return rc;
}

void zjw_free(zjw *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->n_res; i++) {
        ZSTD_freeCDict(z->res[i].cd);
        zres_drop_samples(&z->res[i]);
    }
    free(z->res);
    ZSTD_freeCCtx(z->cctx);
    free(z->out);
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
    void *dict = malloc(ZJ_DICT_BYTES);
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
    if (!r->sizes && !(r->sizes = calloc(ZJ_SAMPLES, sizeof *r->sizes)))
        return -ENOMEM;
    int rc = fl_buf_append(&r->samples, json, len);
    if (rc < 0)
        return rc == -E2BIG ? 0 : rc;
    r->sizes[r->n++] = len;
    return r->n == ZJ_SAMPLES ? train(z, r, err) : 0;
}

int zjw_encode(zjw *z, int64_t gvr, const char *json, size_t len, const void **out,
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
    size_t bound = ZSTD_compressBound(len);
    if (bound > z->out_cap) {
        char *n = realloc(z->out, bound);
        if (!n)
            return -ENOMEM;
        z->out = n, z->out_cap = bound;
    }
    size_t n = ZSTD_compress_usingCDict(z->cctx, z->out, z->out_cap, json, len, r->cd);
    if (ZSTD_isError(n) || n >= len)
        return 0; /* stored plain */
    *out = z->out, *out_len = n, *compressed = true;
    return 0;
}

void zjw_commit(zjw *z)
{
    for (size_t i = 0; i < z->n_res; i++)
        z->res[i].pending = false;
}

void zjw_rollback(zjw *z)
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

int zjr_new(zjr **out)
{
    zjr *z = calloc(1, sizeof *z);
    if (!z || !(z->dctx = ZSTD_createDCtx())) {
        free(z);
        return -ENOMEM;
    }
    *out = z;
    return 0;
}

void zjr_free(zjr *z)
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

bool zj_is_compressed(const void *p, size_t n)
{
    return p && n >= 4 && memcmp(p, ZMAGIC, 4) == 0;
}

int zjr_decode(zjr *z, sqlite3 *db, const void *p, size_t n, const char **json, size_t *len,
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
