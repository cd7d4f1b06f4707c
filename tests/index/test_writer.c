/*
 * tests/index/test_writer.c: the writer's coalescing rules, driven
 * deterministically through idx_writer_apply (one call = one batch), and the
 * schema migrations (an older database opened by this code — v1, v2 and
 * v6 —; a newer one refused). Uses index_int.h: these are the module's own pieces.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/index_int.h"
#include "tests/test.h"

static char dir[256];
static const fl_index_src PODS = {"east", "", "v1", "pods", "Pod"};
static const fl_index_src PODS_W = {"west", "", "v1", "pods", "Pod"};

static long long q1(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        fprintf(stderr, "q1 %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return v;
}

static idx_item *event(const fl_index_src *src, const char *type, const char *name, const char *uid,
                       const char *rv, const char *app)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
             "\"name\":\"%s\",\"namespace\":\"ns\",\"uid\":\"%s\",\"resourceVersion\":\"%s\","
             "\"labels\":{\"app\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"
             "\"i\"}]}}}",
             type, name, uid, rv, app);
    idx_item *it = calloc(1, sizeof *it);
    dec_opts o = {false, false};
    it->type = IT_EVENT;
    it->src = *src;
    T_EQ_INT(idx_dec_event(&o, src, buf, strlen(buf), &it->out), 0);
    return it;
}

static void apply(idx_writer *w, idx_item **b, size_t n)
{
    int64_t from = 0, to = 0;
    fl_err err = FL_ERR_INIT;
    int rc = idx_writer_apply(w, b, n, &from, &to, &err);
    if (rc)
        fprintf(stderr, "apply: %s\n", err.msg);
    T_EQ_INT(rc, 0);
    for (size_t i = 0; i < n; i++)
        idx_item_free(b[i]);
}

static sqlite3 *fresh_db(const char *name)
{
    char path[512];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static void test_coalescer_unit(void)
{
    coalescer c = {0};
    fl_rec *recs[4]; /* the coalescer borrows them */
    for (int i = 0; i < 4; i++) {
        fl_rec *r = recs[i] = calloc(1, sizeof *r);
        r->ns = strdup("ns"), r->name = strdup("a");
        r->op = i == 2 ? REC_DELETE : REC_UPSERT;
        T_EQ_INT(idx_coal_add(&c, i == 3 ? 2 : 1, r), 0); /* other scope: not merged */
    }
    T_EQ_INT(c.n, 2);
    T_EQ_INT(c.merged, 2);
    T_EQ_INT(c.ents[0].rec->op, REC_DELETE); /* anything + delete -> delete */
    idx_coal_reset(&c);
    T_EQ_INT(c.n, 0);
    idx_coal_done(&c);
    for (int i = 0; i < 4; i++)
        idx_rec_free(recs[i]);
}

static void test_coalescing(void)
{
    sqlite3 *db = fresh_db("coal.db");
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    idx_writer *w = NULL;
    T_EQ_INT(idx_schema_open(db, &o, NULL), 0);
    T_EQ_INT(idx_writer_new(db, &o, NULL, &w, NULL), 0);

    /* create + update -> one create with the last state */
    idx_item *b1[] = {event(&PODS, "ADDED", "a", "u1", "1", "x"),
                      event(&PODS, "MODIFIED", "a", "u1", "2", "y"),
                      event(&PODS_W, "ADDED", "a", "w1", "1", "x")};
    apply(w, b1, 3);
    T_EQ_INT(q1(db, "SELECT count(*) FROM changelog"), 2);
    T_EQ_INT(q1(db, "SELECT type FROM changelog WHERE revision = 1"), 1);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE rv = '2' AND cluster_id = 1"), 1);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE value = 'y'"), 1);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE value = 'x'"), 1); /* west's */
    T_EQ_INT(idx_writer_revision(w), 2);

    /* update + delete -> delete */
    idx_item *b2[] = {event(&PODS, "MODIFIED", "a", "u1", "3", "z"),
                      event(&PODS, "DELETED", "a", "u1", "4", "z")};
    apply(w, b2, 2);
    T_EQ_INT(q1(db, "SELECT count(*) FROM changelog"), 3);
    T_EQ_INT(q1(db, "SELECT type FROM changelog WHERE revision = 3"), 3);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE deleted_ms IS NOT NULL"), 1);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE value = 'z' OR value = 'y'"), 0);

    /* create + delete of a new key -> nothing at all */
    idx_item *b3[] = {event(&PODS, "ADDED", "b", "u2", "5", "x"),
                      event(&PODS, "DELETED", "b", "u2", "6", "x")};
    apply(w, b3, 2);
    T_EQ_INT(idx_writer_revision(w), 3);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE name = 'b'"), 0);

    /* delete + create (new uid) of a live key -> DELETED old + ADDED new */
    idx_item *b4[] = {event(&PODS_W, "DELETED", "a", "w1", "7", "x"),
                      event(&PODS_W, "ADDED", "a", "w2", "8", "q")};
    apply(w, b4, 2);
    T_EQ_INT(idx_writer_revision(w), 5);
    T_EQ_INT(q1(db, "SELECT type FROM changelog WHERE revision = 4"), 3);
    T_EQ_INT(q1(db, "SELECT type FROM changelog WHERE revision = 5"), 1);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE value = 'q'"), 1);

    /* a tombstone comes back to life as ADDED */
    idx_item *b5[] = {event(&PODS, "ADDED", "a", "u3", "9", "r")};
    apply(w, b5, 1);
    T_EQ_INT(q1(db, "SELECT type FROM changelog WHERE revision = 6"), 1);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE deleted_ms IS NOT NULL"), 0);

    /* unchanged resourceVersion writes nothing */
    idx_item *b6[] = {event(&PODS, "MODIFIED", "a", "u3", "9", "changed-but-same-rv")};
    apply(w, b6, 1);
    T_EQ_INT(idx_writer_revision(w), 6);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE value = 'r'"), 1);

    int64_t written, skipped, deleted, coalesced, txns;
    idx_writer_counts(w, &written, &skipped, &deleted, &coalesced, &txns);
    T_EQ_INT(coalesced, 4);
    T_EQ_INT(skipped, 1);
    T_EQ_INT(txns, 6);
    T_EQ_INT(q1(db, "SELECT value FROM meta WHERE key = 'revision'"), 6);
    idx_writer_free(w);
    sqlite3_close(db);
}

static void test_migration(void)
{
    sqlite3 *db = fresh_db("old.db");
    T_EQ_INT(idx_schema_migrate(db, 1, NULL), 0);
    T_EQ_INT(q1(db, "PRAGMA user_version"), 1);
    /* a v1 database with a pod and a configmap */
    T_EQ_INT(idx_sql_exec(
                 db,
                 "INSERT INTO clusters(id, name) VALUES(1, 'east');"
                 "INSERT INTO gvrs(id, grp, ver, res, kind) VALUES(1, '', 'v1', 'pods', 'Pod'),"
                 "  (2, '', 'v1', 'configmaps', 'ConfigMap');"
                 "INSERT INTO objects(cluster_id, gvr_id, ns, name, uid, rv, owner_uid, created, "
                 "synced_ms,"
                 "  revision, labels_hash, fts_hash, json) VALUES"
                 "  (1, 1, 'ns', 'p', 'pu', '5', '', 0, 1, 1, 0, 0, '{\"kind\":\"Pod\"}'),"
                 "  (1, 2, 'ns', 'c', 'cu', '7', '', 0, 1, 2, 0, 0, '{\"kind\":\"ConfigMap\"}');"
                 "UPDATE meta SET value = 2 WHERE key = 'revision';",
                 NULL),
             0);
    sqlite3_close(db);

    char path[512];
    snprintf(path, sizeof path, "%s/old.db", dir);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&o, &idx, &err), 0);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    int64_t rev = 0;
    T_EQ_INT(fl_index_reader_revision(r, &rev), 0);
    T_EQ_INT(rev, 2);
    /* the pod's RV was forgotten, so the same RV now rewrites it with facts */
    const char *ev = "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
                     "\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"pu\","
                     "\"resourceVersion\":\"5\"},\"spec\":{\"nodeName\":\"n1\"},"
                     "\"status\":{\"phase\":\"Running\"}}}";
    T_EQ_INT(fl_index_submit_event(idx, &PODS, ev, strlen(ev), NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
    fl_index_pod p;
    fl_index_key k = {"east", "", "v1", "pods", "ns", "p"};
    T_EQ_INT(fl_index_pod_get(r, &k, &p, NULL), 0);
    T_EQ_STR(p.node, "n1");
    T_EQ_INT(fl_index_reader_revision(r, &rev), 0);
    T_EQ_INT(rev, 3);
    fl_index_reader_free(r);
    fl_index_close(idx);

    db = fresh_db("old.db");
    T_EQ_INT(q1(db, "PRAGMA user_version"), FL_INDEX_SCHEMA_VERSION);
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects WHERE rv = '7'"), 1); /* configmap kept */
    T_EQ_INT(q1(db, "SELECT count(*) FROM objects"), 2);
    T_EQ_INT(idx_sql_exec(db, "PRAGMA user_version = 99", NULL), 0);
    sqlite3_close(db);
    idx = NULL;
    T_EQ_INT(fl_index_open(&o, &idx, &err), FL_EUNSUPPORTED);
    T_CHECK(idx == NULL);
    T_CHECK(strstr(err.msg, "newer") != NULL);
}

static int count_rows(void *arg, const fl_index_row *row)
{
    (void)row;
    ++*(int *)arg;
    return 0;
}

/* v2 -> v3: labels gain the object key (rows of tombstones dropped), the
 * scope and owner indexes gain the key; label queries answer the same. */
static void test_migration_v3(void)
{
    sqlite3 *db = fresh_db("v2.db");
    T_EQ_INT(idx_schema_migrate(db, 2, NULL), 0);
    T_EQ_INT(
        idx_sql_exec(
            db,
            "INSERT INTO clusters(id, name) VALUES(1, 'east'), (2, 'west');"
            "INSERT INTO gvrs(id, grp, ver, res, kind) VALUES(1, '', 'v1', 'configmaps', "
            "'ConfigMap');"
            "INSERT INTO objects(id, cluster_id, gvr_id, ns, name, uid, rv, owner_uid, created,"
            "  synced_ms, deleted_ms, revision, labels_hash, fts_hash, json) VALUES"
            "  (1, 1, 1, 'ns', 'a', 'ua', '5', 'o1', 0, 1, NULL, 1, 1, 0, '{}'),"
            "  (2, 2, 1, 'ns', 'a', 'ub', '6', '', 0, 1, NULL, 2, 1, 0, '{}'),"
            "  (3, 1, 1, 'ns', 'b', 'uc', '7', 'o1', 0, 1, 99, 3, 1, 0, '{}');"
            "INSERT INTO labels(key, value, obj_id) VALUES('app', 'x', 1), ('tier', 'web', 1),"
            "  ('app', 'x', 2), ('app', 'x', 3);"
            "UPDATE meta SET value = 3 WHERE key = 'revision';",
            NULL),
        0);
    sqlite3_close(db);

    char path[512];
    snprintf(path, sizeof path, "%s/v2.db", dir);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&o, &idx, &err), 0);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    fl_index_query q = FL_INDEX_QUERY_INIT;
    const char *x[] = {"x"}, *web[] = {"web"};
    fl_index_label_req reqs[2] = {{"app", FL_INDEX_LABEL_EQ, x, 1},
                                  {"tier", FL_INDEX_LABEL_EQ, web, 1}};
    q.group = "", q.resource = "configmaps", q.labels = reqs, q.n_labels = 1;
    int n = 0;
    int64_t cnt = 0;
    T_EQ_INT(fl_index_list(r, &q, count_rows, &n, NULL, NULL), 0);
    T_EQ_INT(n, 2);
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, 2);
    q.n_labels = 2;
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, 1);
    q.n_labels = 0, q.owner_uid = "o1";
    T_EQ_INT(fl_index_count(r, &q, &cnt, NULL), 0);
    T_EQ_INT(cnt, 1);
    fl_index_reader_free(r);
    fl_index_close(idx);

    db = fresh_db("v2.db");
    T_EQ_INT(q1(db, "PRAGMA user_version"), FL_INDEX_SCHEMA_VERSION);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels"), 3);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE key = 'app' AND value = 'x' AND"
                    " gvr_id = 1 AND ns = 'ns' AND name = 'a' AND cluster_id = 2 AND obj_id = 2"),
             1);
    T_EQ_INT(q1(db, "SELECT count(*) FROM pragma_index_info('objects_scope')"), 4);
    T_EQ_INT(q1(db, "SELECT count(*) FROM pragma_index_info('objects_owner')"), 5);
    T_EQ_INT(q1(db, "SELECT count(*) FROM pragma_index_info('labels_obj')"), 3);
    /* a migrated file gets the FTS5 pending-terms size too (schema.c) */
    T_EQ_INT(q1(db, "SELECT v FROM fts_config WHERE k = 'hashsize'"), 16 << 20);
    sqlite3_close(db);
}

static void pod_event(fl_index *idx, const char *type, const char *uid, const char *created,
                      const char *phase)
{
    char ev[512];
    snprintf(ev, sizeof ev,
             "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
             "\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\",\"uid\":\"%s\","
             "\"resourceVersion\":\"%s%s\",\"creationTimestamp\":\"%s\",\"labels\":"
             "{\"app\":\"x\",\"tier\":\"web\"}},\"status\":{\"phase\":\"%s\"}}}",
             type, uid, uid, phase, created, phase);
    T_EQ_INT(fl_index_submit_event(idx, &PODS, ev, strlen(ev), NULL), 0);
    T_EQ_INT(fl_index_flush(idx, 5000), 0);
}

/* v6 -> v7: label rows gain the object's creation time, filled from
 * objects (rows of every kind); then the writer keeps it: a pod recreated
 * under its name with the same labels moves its label rows to the new
 * time, a status update leaves them. */
static void test_migration_v7(void)
{
    sqlite3 *db = fresh_db("v6.db");
    T_EQ_INT(idx_schema_migrate(db, 6, NULL), 0);
    T_EQ_INT(
        idx_sql_exec(
            db,
            "INSERT INTO clusters(id, name) VALUES(1, 'east');"
            "INSERT INTO gvrs(id, grp, ver, res, kind) VALUES(1, '', 'v1', 'pods', 'Pod'),"
            "  (2, '', 'v1', 'configmaps', 'ConfigMap');"
            "INSERT INTO objects(id, cluster_id, gvr_id, ns, name, uid, rv, owner_uid, created,"
            "  synced_ms, deleted_ms, revision, labels_hash, fts_hash, json) VALUES"
            "  (1, 1, 1, 'ns', 'a', 'ua', '5', '', 1767225600, 1, NULL, 1, 1, 0, '{}'),"
            "  (2, 1, 1, 'ns', 'b', 'ub', '6', '', 1767225700, 1, NULL, 2, 1, 0, '{}'),"
            "  (3, 1, 2, 'ns', 'm', 'um', '7', '', 1767225800, 1, NULL, 3, 1, 0, '{}');"
            "INSERT INTO labels(key, value, gvr_id, ns, name, cluster_id, obj_id) VALUES"
            "  ('app', 'x', 1, 'ns', 'a', 1, 1), ('tier', 'web', 1, 'ns', 'a', 1, 1),"
            "  ('app', 'x', 1, 'ns', 'b', 1, 2), ('app', 'x', 2, 'ns', 'm', 1, 3);"
            "UPDATE meta SET value = 3 WHERE key = 'revision';",
            NULL),
        0);
    sqlite3_close(db);

    char path[512];
    snprintf(path, sizeof path, "%s/v6.db", dir);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&o, &idx, &err), 0);
    db = fresh_db("v6.db");
    T_EQ_INT(q1(db, "PRAGMA user_version"), FL_INDEX_SCHEMA_VERSION);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels"), 4);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels l JOIN objects o ON o.id = l.obj_id"
                    " WHERE l.created = o.created"),
             4);
    T_EQ_INT(q1(db, "SELECT created FROM labels WHERE key = 'app' AND obj_id = 3"), 1767225800);
    /* not in any index: a label row costs the writer no B-tree more */
    T_EQ_INT(q1(db, "SELECT count(*) FROM pragma_index_list('labels')"), 3);
    T_EQ_INT(q1(db, "SELECT count(*) FROM pragma_index_xinfo('labels_cluster')"
                    " WHERE name = 'created'"),
             0);

    pod_event(idx, "ADDED", "uc1", "2026-01-02T00:00:00Z", "Pending");
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE name = 'c' AND created = 1767312000"), 2);
    pod_event(idx, "MODIFIED", "uc1", "2026-01-02T00:00:00Z", "Running"); /* status only */
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE name = 'c' AND created = 1767312000"), 2);
    pod_event(idx, "ADDED", "uc2", "2026-01-03T00:00:00Z", "Pending"); /* recreated */
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE name = 'c' AND created = 1767398400"), 2);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels WHERE name = 'c'"), 2);
    T_EQ_INT(q1(db, "SELECT count(*) FROM labels l JOIN objects o ON o.id = l.obj_id"
                    " WHERE l.created != o.created"),
             0);
    sqlite3_close(db);
    fl_index_close(idx);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* After a burst of writes the WAL is folded back and truncated once the
 * writer has been idle, even while a reader connection stays open. */
static void test_wal_truncated_when_idle(void)
{
    char path[512], wal[520];
    snprintf(path, sizeof path, "%s/wal.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    fl_index *idx = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_index_open(&o, &idx, &err), 0);
    fl_index_reader *r = NULL;
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);
    for (int i = 0; i < 2000; i++) {
        char ev[512];
        snprintf(ev, sizeof ev,
                 "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
                 "\"metadata\":{\"name\":\"p%d\",\"namespace\":\"ns\",\"uid\":\"u%d\","
                 "\"resourceVersion\":\"%d\"}}}",
                 i, i, i + 1);
        T_EQ_INT(fl_index_submit_event(idx, &PODS, ev, strlen(ev), NULL), 0);
    }
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    int64_t rev = 0;
    T_EQ_INT(fl_index_reader_revision(r, &rev), 0);
    T_EQ_INT(rev, 2000);
    T_CHECK(file_size(wal) > 0);
    long long sz = -1;
    for (int i = 0; i < 100 && (sz = file_size(wal)) != 0; i++)
        usleep(100 * 1000); /* idle threshold is 2 s */
    T_EQ_INT(sz, 0);
    T_EQ_INT(fl_index_reader_revision(r, &rev), 0);
    T_EQ_INT(rev, 2000);
    fl_index_reader_free(r);
    fl_index_close(idx);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fl-index-writer-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    test_coalescer_unit();
    test_coalescing();
    test_migration();
    test_migration_v3();
    test_migration_v7();
    test_wal_truncated_when_idle();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return t_done();
}
