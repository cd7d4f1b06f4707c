/*
 * tests/index/test_zjson.c: compressed rows (schema v4, index/zjson.c).
 * Through the public API: once a resource has enough objects a dictionary
 * is trained and later rows are stored as zstd frames; every object (plain
 * or compressed) reads back byte for byte as the decoder produced it, by
 * get, list and the change log; a reopened index compresses with the
 * stored dictionary; a v3 database migrates to v4 keeping every row; a
 * database newer than the binary is refused with a schema-version error.
 * The writer publishes a committed dictionary to the decoder side: records
 * compressed there are stored as they are; a record compressed with a
 * dictionary that is not the writer's is compressed again by the writer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "index/index_int.h"
#include "tests/test.h"

static char dir[256];
static const fl_index_src PODS = {"east", "", "v1", "pods", "Pod"};

#define N_PODS 1600

static long long q1(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void pod(fl_buf *b, int i)
{
    fl_buf_printf(b,
                  "{\"metadata\":{\"name\":\"p-%05d\",\"namespace\":\"ns-%d\",\"uid\":\"u-%d\","
                  "\"resourceVersion\":\"%d\",\"labels\":{\"app\":\"a%d\",\"tier\":\"web\"},"
                  "\"annotations\":{\"note\":\"n%d\"},\"managedFields\":[{\"manager\":\"m\"}]},"
                  "\"spec\":{\"nodeName\":\"node-%d\",\"containers\":[{\"name\":\"c\","
                  "\"image\":\"registry.example.com/team-%d/app:%d\",\"resources\":{\"requests\":"
                  "{\"cpu\":\"%dm\",\"memory\":\"64Mi\"}}}]},\"status\":{\"phase\":\"Running\","
                  "\"podIP\":\"10.0.%d.%d\",\"qosClass\":\"Burstable\"}}",
                  i, i % 7, i, 10 + i, i % 13, i, i % 50, i % 9, i % 5, 100 + i % 300, i / 250,
                  i % 250);
}

/* The pods as list pages of 100; with stored[i] the JSON the decoder makes. */
static char *stored[N_PODS + 20];

static void submit_pods(fl_index *idx, int from, int to)
{
    dec_opts o = {false, false};
    for (int i = from; i < to; i += 100) {
        fl_buf b = FL_BUF_INIT(1u << 24);
        fl_buf_puts(&b,
                    "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[");
        for (int k = i; k < i + 100 && k < to; k++) {
            if (k > i)
                fl_buf_puts(&b, ",");
            pod(&b, k);
        }
        fl_buf_puts(&b, "]}");
        dec_out out = {0};
        T_EQ_INT(idx_dec_list(&o, &PODS, b.data, b.len, &out), 0);
        for (size_t k = 0; k < out.n_recs; k++)
            stored[i + (int)k] = fl_strndup(out.recs[k]->json, out.recs[k]->json_len);
        idx_dec_out_done(&out);
        T_EQ_INT(fl_index_submit_list(idx, &PODS, b.data, b.len, NULL), 0);
        fl_buf_done(&b);
    }
    T_EQ_INT(fl_index_flush(idx, 30000), 0);
}

typedef struct seen {
    int n, bad;
} seen;

static int index_of(const char *name)
{
    int i = -1;
    if (sscanf(name, "p-%d", &i) != 1 || i < 0 || i >= N_PODS + 20)
        return -1;
    return i;
}

static int check_row(void *arg, const fl_index_row *row)
{
    seen *s = arg;
    int i = index_of(row->name);
    s->n++;
    if (i < 0 || !stored[i] || row->json_len != strlen(stored[i]) ||
        memcmp(row->json, stored[i], row->json_len) != 0) {
        if (s->bad++ < 3)
            fprintf(stderr, "row %s differs: %.*s\n", row->name, (int)row->json_len, row->json);
    }
    return 0;
}

static int check_change(void *arg, const char *type, bool superseded, int64_t rev,
                        const fl_index_row *row)
{
    (void)type, (void)rev;
    return superseded ? 0 : check_row(arg, row);
}

static void check_all(fl_index *idx, int n)
{
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    seen s = {0, 0};
    for (int i = 0; i < n; i++) {
        char name[32], ns[16];
        snprintf(name, sizeof name, "p-%05d", i);
        snprintf(ns, sizeof ns, "ns-%d", i % 7);
        fl_index_key k = {"east", "", "v1", "pods", ns, name};
        T_EQ_INT(fl_index_get(r, &k, check_row, &s, NULL), 0);
    }
    T_EQ_INT(s.n, n);
    T_EQ_INT(s.bad, 0);
    s = (seen){0, 0};
    fl_index_query q = {0};
    q.group = "", q.resource = "pods";
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_list(r, &q, check_row, &s, NULL, &err), 0);
    T_EQ_INT(s.n, n);
    T_EQ_INT(s.bad, 0);
    s = (seen){0, 0};
    T_EQ_INT(fl_index_changes(r, 0, 0, check_change, &s, NULL, &err), 0);
    T_CHECK(s.n >= n);
    T_EQ_INT(s.bad, 0);
    fl_index_reader_free(r);
}

static fl_index *open_at(const char *path)
{
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    o.cache_kib = 4096;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = fl_index_open(&o, &idx, &err);
    if (rc)
        fprintf(stderr, "open: %s\n", err.msg);
    T_EQ_INT(rc, 0);
    return idx;
}

/* Rows of SELECT json_extract(fl_json(json), ...) over compressed rows. */
typedef struct sql_rows {
    int64_t n, named;
} sql_rows;

static int count_row(void *arg, const fl_index_sql_value *cols, size_t ncols)
{
    sql_rows *r = arg;
    r->n++;
    if (ncols == 2 && cols[0].type == FL_INDEX_SQL_TEXT && !strncmp(cols[0].s, "p-", 2) &&
        cols[1].type == FL_INDEX_SQL_TEXT && !strcmp(cols[1].s, "Running"))
        r->named++;
    return 0;
}

/* The SQL language's runner sees compressed rows as JSON (fl_json), and the
 * reader's own time budget is back in place afterwards. */
static void check_sql(fl_index *idx, int n)
{
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    fl_index_sql_opts o = {0, 0, false};
    fl_index_sql_result res;
    sql_rows rows = {0, 0};
    fl_err err = FL_ERR_INIT;
    int rc = fl_index_sql_run(r,
                              "SELECT json_extract(fl_json(json), '$.metadata.name'),"
                              " json_extract(fl_json(json), '$.status.phase') FROM objects",
                              NULL, 0, &o, count_row, &rows, &res, &err);
    if (rc)
        fprintf(stderr, "sql: %s\n", err.msg);
    T_EQ_INT(rc, 0);
    T_EQ_INT(rows.n, n);
    T_EQ_INT(rows.named, n);
    fl_index_reader_free(r);
}

static void test_compressed_rows(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/z.db", dir);
    fl_index *idx = open_at(path);
    submit_pods(idx, 0, N_PODS);
    check_all(idx, N_PODS);
    check_sql(idx, N_PODS);
    fl_index_close(idx);

    sqlite3 *db = NULL;
    sqlite3_open(path, &db);
    T_EQ_INT(q1(db, "PRAGMA user_version"), FL_INDEX_SCHEMA_VERSION);
    T_EQ_INT(q1(db, "SELECT count(*) FROM dicts"), 1);
    long long blobs = q1(db, "SELECT count(*) FROM objects WHERE typeof(json) = 'blob'");
    long long zbytes = q1(db, "SELECT sum(length(json)) FROM objects WHERE typeof(json) = 'blob'");
    long long tbytes = q1(db, "SELECT sum(length(json)) FROM objects WHERE typeof(json) = 'text'");
    fprintf(stderr, "%lld of %d rows compressed, %.0f bytes each vs %.0f as text\n", blobs, N_PODS,
            (double)zbytes / (double)blobs, (double)tbytes / (double)(N_PODS - blobs));
    T_CHECK(blobs >= N_PODS - 1000 - 1);
    T_CHECK(zbytes * 2 < tbytes * blobs / (N_PODS - blobs)); /* at least 2x smaller */
    sqlite3_close(db);

    /* reopened: the stored dictionary compresses the new rows */
    idx = open_at(path);
    submit_pods(idx, N_PODS, N_PODS + 20);
    check_all(idx, N_PODS + 20);
    fl_index_close(idx);
    sqlite3_open(path, &db);
    T_EQ_INT(q1(db, "SELECT count(*) FROM dicts"), 1);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE typeof(json) = 'blob'"), blobs + 20);
    /* an older binary would refuse this file: that check is user_version >
     * its own, as a newer version is refused here */
    T_EQ_INT(idx_sql_exec(db, "PRAGMA user_version = 99", NULL), 0);
    sqlite3_close(db);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    fl_index *none = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&o, &none, &err), FL_EUNSUPPORTED);
    T_CHECK(strstr(err.msg, "index schema version 99 is newer than this flotilla") != NULL);
}

/* A v3 database (text rows) opened by this code: migrated, every row kept. */
static void test_migrate_v3(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/v3.db", dir);
    sqlite3 *db = NULL;
    T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    T_EQ_INT(idx_schema_migrate(db, 3, NULL), 0);
    T_EQ_INT(q1(db, "PRAGMA user_version"), 3);
    T_EQ_INT(idx_sql_exec(
                 db,
                 "INSERT INTO clusters(id, name) VALUES(1, 'east');"
                 "INSERT INTO gvrs(id, grp, ver, res, kind) VALUES(1, '', 'v1', 'pods', 'Pod');",
                 NULL),
             0);
    for (int i = 0; i < 50; i++) {
        char sql[512];
        snprintf(
            sql, sizeof sql,
            "INSERT INTO objects(cluster_id, gvr_id, ns, name, uid, rv, owner_uid, created,"
            " synced_ms, revision, labels_hash, fts_hash, facts_hash, json) VALUES(1, 1,"
            " 'ns-%d', 'p-%05d', 'u', '%d', '', 0, 1, %d, 0, 0, 0, '{\"kind\":\"Pod\",\"n\":%d}')",
            i % 7, i, i + 1, i + 1, i);
        T_EQ_INT(idx_sql_exec(db, sql, NULL), 0);
    }
    T_EQ_INT(idx_sql_exec(db, "UPDATE meta SET value = 50 WHERE key = 'revision'", NULL), 0);
    sqlite3_close(db);
    fl_index *idx = open_at(path);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    int found = 0;
    for (int i = 0; i < 50; i++) {
        char name[32], ns[16], want[64];
        snprintf(name, sizeof name, "p-%05d", i);
        snprintf(ns, sizeof ns, "ns-%d", i % 7);
        snprintf(want, sizeof want, "{\"kind\":\"Pod\",\"n\":%d}", i);
        stored[i] = fl_strndup(want, strlen(want));
        seen s = {0, 0};
        fl_index_key k = {"east", "", "v1", "pods", ns, name};
        T_EQ_INT(fl_index_get(r, &k, check_row, &s, NULL), 0);
        found += s.n == 1 && s.bad == 0;
        free(stored[i]);
        stored[i] = NULL;
    }
    T_EQ_INT(found, 50);
    fl_index_reader_free(r);
    fl_index_close(idx);
    sqlite3_open(path, &db);
    T_EQ_INT(q1(db, "PRAGMA user_version"), FL_INDEX_SCHEMA_VERSION);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects"), 50);
    T_EQ_INT(q1(db, "SELECT count(*) FROM dicts"), 0);
    sqlite3_close(db);
}

/* Pods from..to decoded as one list page, into out. */
static void decode_pods(int from, int to, dec_out *out)
{
    dec_opts o = {false, false};
    fl_buf b = FL_BUF_INIT(1u << 24);
    fl_buf_puts(&b, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[");
    for (int k = from; k < to; k++) {
        if (k > from)
            fl_buf_puts(&b, ",");
        pod(&b, k);
    }
    fl_buf_puts(&b, "]}");
    memset(out, 0, sizeof *out);
    T_EQ_INT(idx_dec_list(&o, &PODS, b.data, b.len, out), 0);
    fl_buf_done(&b);
}

static void apply_out(idx_writer *w, dec_out *out)
{
    idx_item it = {.type = IT_LIST, .src = PODS}, *p = &it;
    int64_t a, b;
    it.out = *out;
    T_EQ_INT(idx_writer_apply(w, &p, 1, &a, &b, NULL), 0);
    idx_dec_out_done(&it.out);
    memset(out, 0, sizeof *out);
}

/* The stored json of pod i is a frame of dictionary dict_id whose bytes
 * are want (or, want NULL, that decompresses to the decoder's JSON). */
static void check_stored(sqlite3 *db, zjr *zr, int i, int64_t dict_id, const void *want,
                         size_t want_len, const char *json)
{
    char sql[128];
    sqlite3_stmt *s = NULL;
    snprintf(sql, sizeof sql, "SELECT json FROM objects WHERE name = 'p-%05d'", i);
    T_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    T_EQ_INT(sqlite3_step(s), SQLITE_ROW);
    const void *p = sqlite3_column_blob(s, 0);
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    T_CHECK(idx_zj_is_compressed(p, n));
    T_EQ_INT((int64_t)ZSTD_getDictID_fromFrame(p, n), dict_id);
    if (want)
        T_CHECK(n == want_len && memcmp(p, want, n) == 0);
    const char *got;
    size_t len;
    T_EQ_INT(idx_zjr_decode(zr, db, p, n, &got, &len, NULL), 0);
    T_CHECK(len == strlen(json) && memcmp(got, json, len) == 0);
    sqlite3_finalize(s);
}

static void test_published_dicts(void)
{
    char path[512];
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    sqlite3 *db = NULL;
    zjpub *pub = NULL;
    zjc *zc = NULL;
    zjr *zr = NULL;
    idx_writer *w = NULL;
    dec_out out;
    snprintf(path, sizeof path, "%s/pub.db", dir);
    o.path = path;
    T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    T_EQ_INT(idx_schema_open(db, &o, NULL), 0);
    T_EQ_INT(idx_zjpub_new(&pub), 0);
    T_EQ_INT(idx_zjc_new(&zc), 0);
    T_EQ_INT(idx_zjr_new(&zr), 0);
    T_EQ_INT(idx_writer_new(db, &o, pub, &w, NULL), 0);

    /* nothing published yet: a decoder leaves the records alone */
    decode_pods(0, 1000, &out);
    T_EQ_INT(idx_zjpub_compress(pub, zc, &PODS, &out), 0);
    for (size_t k = 0; k < out.n_recs; k++)
        T_CHECK(out.recs[k]->zjson == NULL);
    apply_out(w, &out); /* the 1000th sample trains; the commit publishes */
    int64_t dict = q1(db, "SELECT id FROM dicts");
    T_CHECK(dict > 0);

    decode_pods(1000, 1010, &out);
    T_EQ_INT(idx_zjpub_compress(pub, zc, &PODS, &out), 0);
    void *z[10];
    size_t zn[10];
    char *json[10];
    for (size_t k = 0; k < 10; k++) {
        fl_rec *r = out.recs[k];
        T_CHECK(r->zjson != NULL && r->zdict == dict);
        z[k] = malloc(r->zjson_len);
        memcpy(z[k], r->zjson, r->zjson_len);
        zn[k] = r->zjson_len;
        json[k] = fl_strndup(r->json, r->json_len);
    }
    /* the writer stores a decoder's frame as it is (here, record 1's frame
     * under record 0, which only this test does) */
    memcpy(out.recs[0]->zjson = realloc(out.recs[0]->zjson, zn[1]), z[1], zn[1]);
    out.recs[0]->zjson_len = zn[1];
    /* one record claims a dictionary the writer does not use for pods */
    out.recs[9]->zdict = dict + 7;
    memset(out.recs[9]->zjson, 0, out.recs[9]->zjson_len);
    apply_out(w, &out);
    check_stored(db, zr, 1000, dict, z[1], zn[1], json[1]);
    for (int k = 1; k < 9; k++)
        check_stored(db, zr, 1000 + k, dict, z[k], zn[k], json[k]);
    check_stored(db, zr, 1009, dict, NULL, 0, json[9]);
    for (int k = 0; k < 10; k++)
        free(z[k]), free(json[k]);

    /* a reopened writer publishes the stored dictionary at once */
    idx_writer_free(w);
    idx_zjpub_free(pub);
    T_EQ_INT(idx_zjpub_new(&pub), 0);
    T_EQ_INT(idx_writer_new(db, &o, pub, &w, NULL), 0);
    decode_pods(1010, 1011, &out);
    T_EQ_INT(idx_zjpub_compress(pub, zc, &PODS, &out), 0);
    T_CHECK(out.recs[0]->zjson != NULL && out.recs[0]->zdict == dict);
    idx_dec_out_done(&out);

    idx_writer_free(w);
    idx_zjpub_free(pub);
    idx_zjc_free(zc);
    idx_zjr_free(zr);
    sqlite3_close(db);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fl-test-zjson-%d", (int)getpid());
    T_EQ_INT(mkdir(dir, 0700), 0);
    test_migrate_v3();
    test_compressed_rows();
    test_published_dicts();
    for (size_t i = 0; i < FL_ARRAY_LEN(stored); i++)
        free(stored[i]);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return t_done();
}
