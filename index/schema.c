/*
 * index/schema.c: the database layout, its version (PRAGMA user_version)
 * and the migrations from every older version, plus the pragmas of the
 * writer and reader connections.
 *
 * Layout (v3; v4 below):
 *   meta(key, value)            revision, changelog_floor
 *   clusters(id, name)          interned cluster names
 *   gvrs(id, grp, ver, res, kind)
 *   sync_state(cluster_id, gvr_id, ...)        per (cluster, resource)
 *   objects(id, cluster_id, gvr_id, ns, name, uid, rv, owner_uid, created,
 *           synced_ms, deleted_ms, revision, labels_hash, fts_hash,
 *           facts_hash, json)   one row per object; deleted_ms != NULL is
 *                               a tombstone
 *   labels(key, value, gvr_id, ns, name, cluster_id, obj_id)
 *                               live objects only; primary key (key, value,
 *                               gvr_id, ns, name, cluster_id), so the objects
 *                               with one label value are one index range
 *                               already in the API's key order
 *   fts                         FTS5, trigram tokenizer (substring search,
 *                               case-insensitive, queries of >= 3 chars),
 *                               rowid = objects.id, live objects only
 *   changelog(revision, obj_id, type)   1 ADDED, 2 MODIFIED, 3 DELETED
 *   pods(obj_id, cluster_id, ns, node, phase, qos, prio_class, terminal)
 *   pod_resources(obj_id, resource, requests, limits)    milli-units
 *   nodes(obj_id, cluster_id, ready, unschedulable, taints, region, zone)
 *   node_resources(obj_id, resource, capacity, allocatable)
 *
 * Migrations run in one transaction each; v1 -> v2 added the materialized
 * pod/node tables and forgets the resourceVersion of stored pods and nodes
 * so the next relist rewrites them (and fills the new tables); v2 -> v3
 * copies the object key (gvr, namespace, name, cluster) into labels and
 * extends objects_scope with (ns, name) and objects_owner with the key:
 * label-selector, per-cluster and per-owner pages then read at most
 * limit+1 index entries (reader.c); v3 -> v4 adds
 *   dicts(id, gvr_id, dict)     zstd dictionaries, one per resource; a row's
 *                               json is then JSON text or a zstd frame
 *                               naming its dictionary (zjson.c)
 *   labels_cluster(key, value, gvr_id, cluster_id, ns, name, obj_id)
 *                               a label page within one cluster reads
 *                               limit+1 entries (it read the label's range
 *                               over every cluster)
 * and keeps every row as it is; v4 -> v5 adds
 *   history(until, obj_id, revision, uid, rv, owner_uid, created, synced_ms,
 *           deleted_ms, json)
 *                               the earlier states of objects (history.c):
 *                               a row is the state an object had from
 *                               revision until the revision `until` that
 *                               replaced it (one per revision, so `until`
 *                               is the key); json stored as in objects
 * and moves changelog_floor to the current revision (no earlier state was
 * kept, so no earlier revision can be served); v5 -> v6 adds
 *   pods.quota_plain            1 when the pod's pod_resources rows are also
 *                               its ResourceQuota usage (facts.c)
 *   pod_resources.fmt           FL_INDEX_RES_* bits: whether the pod sets a
 *                               request / limit of the resource, and in which
 *                               quantity format
 * and forgets the resourceVersion of stored pods (the next relist fills them);
 * v6 -> v7 adds
 *   labels.created              the object's creation time (objects.created),
 *                               a column of the table, in no index: a label's
 *                               primary-key range then gives every match's
 *                               creation time without reading its objects
 *                               row, so the SQL language's label page in
 *                               creation order sorts that range and reads
 *                               objects rows only for the page (query/SQL.md)
 * and fills it from objects.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "index/index_int.h"

int idx_sql_exec(sqlite3 *db, const char *sql, fl_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        fl_err_set(err, FL_ESQL, "sqlite: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return FL_ESQL;
    }
    return 0;
}

static const char *const migrations[] = {
    /* 0 -> 1: the base layout */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta VALUES('revision', 0), ('changelog_floor', 0);"
    "CREATE TABLE clusters(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE gvrs(id INTEGER PRIMARY KEY, grp TEXT NOT NULL, ver TEXT NOT NULL,"
    "  res TEXT NOT NULL, kind TEXT NOT NULL, UNIQUE(grp, res, ver));"
    "CREATE TABLE sync_state(cluster_id INTEGER NOT NULL, gvr_id INTEGER NOT NULL,"
    "  resource_version TEXT NOT NULL DEFAULT '', phase TEXT NOT NULL DEFAULT '',"
    "  last_list_ms INTEGER NOT NULL DEFAULT 0, last_event_ms INTEGER NOT NULL DEFAULT 0,"
    "  object_count INTEGER NOT NULL DEFAULT 0, lag_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT NOT NULL DEFAULT '', PRIMARY KEY(cluster_id, gvr_id)) WITHOUT ROWID;"
    "CREATE TABLE objects(id INTEGER PRIMARY KEY, cluster_id INTEGER NOT NULL,"
    "  gvr_id INTEGER NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, uid TEXT NOT NULL,"
    "  rv TEXT NOT NULL, owner_uid TEXT NOT NULL, created INTEGER NOT NULL,"
    "  synced_ms INTEGER NOT NULL, deleted_ms INTEGER, revision INTEGER NOT NULL,"
    "  labels_hash INTEGER NOT NULL, fts_hash INTEGER NOT NULL, json BLOB NOT NULL);"
    "CREATE UNIQUE INDEX objects_key ON objects(gvr_id, ns, name, cluster_id);"
    "CREATE INDEX objects_rev ON objects(gvr_id, revision);"
    "CREATE INDEX objects_scope ON objects(cluster_id, gvr_id);"
    "CREATE INDEX objects_owner ON objects(owner_uid) WHERE owner_uid != '';"
    "CREATE INDEX objects_deleted ON objects(deleted_ms) WHERE deleted_ms IS NOT NULL;"
    "CREATE TABLE labels(key TEXT NOT NULL, value TEXT NOT NULL, obj_id INTEGER NOT NULL,"
    "  PRIMARY KEY(key, value, obj_id)) WITHOUT ROWID;"
    "CREATE INDEX labels_obj ON labels(obj_id);"
    "CREATE VIRTUAL TABLE fts USING fts5(name, namespace, labels, annotations, images,"
    "  tokenize = 'trigram');"
    "CREATE TABLE changelog(revision INTEGER PRIMARY KEY, obj_id INTEGER NOT NULL,"
    "  type INTEGER NOT NULL);",
    /* 1 -> 2: materialized pod and node fields */
    "ALTER TABLE objects ADD COLUMN facts_hash INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE pods(obj_id INTEGER PRIMARY KEY, cluster_id INTEGER NOT NULL,"
    "  ns TEXT NOT NULL, node TEXT NOT NULL, phase TEXT NOT NULL, qos TEXT NOT NULL,"
    "  prio_class TEXT NOT NULL, terminal INTEGER NOT NULL);"
    "CREATE INDEX pods_ns ON pods(cluster_id, ns) WHERE terminal = 0;"
    "CREATE INDEX pods_node ON pods(cluster_id, node) WHERE terminal = 0;"
    "CREATE TABLE pod_resources(obj_id INTEGER NOT NULL, resource TEXT NOT NULL,"
    "  requests INTEGER NOT NULL, limits INTEGER NOT NULL,"
    "  PRIMARY KEY(obj_id, resource)) WITHOUT ROWID;"
    "CREATE TABLE nodes(obj_id INTEGER PRIMARY KEY, cluster_id INTEGER NOT NULL,"
    "  ready INTEGER NOT NULL, unschedulable INTEGER NOT NULL, taints TEXT NOT NULL,"
    "  region TEXT NOT NULL, zone TEXT NOT NULL);"
    "CREATE INDEX nodes_cluster ON nodes(cluster_id);"
    "CREATE TABLE node_resources(obj_id INTEGER NOT NULL, resource TEXT NOT NULL,"
    "  capacity INTEGER NOT NULL, allocatable INTEGER NOT NULL,"
    "  PRIMARY KEY(obj_id, resource)) WITHOUT ROWID;"
    "UPDATE objects SET rv = '' WHERE gvr_id IN (SELECT id FROM gvrs WHERE grp = ''"
    "  AND res IN ('pods', 'nodes'));",
    /* 2 -> 3: labels carry the object's key, so a selector page is a range of
     * one index in key order; objects_scope also orders by key within a cluster */
    "CREATE TABLE labels_v3(key TEXT NOT NULL, value TEXT NOT NULL, gvr_id INTEGER NOT NULL,"
    "  ns TEXT NOT NULL, name TEXT NOT NULL, cluster_id INTEGER NOT NULL,"
    "  obj_id INTEGER NOT NULL,"
    "  PRIMARY KEY(key, value, gvr_id, ns, name, cluster_id)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO labels_v3 SELECT l.key, l.value, o.gvr_id, o.ns, o.name,"
    "  o.cluster_id, l.obj_id FROM labels l JOIN objects o ON o.id = l.obj_id"
    "  WHERE o.deleted_ms IS NULL;"
    "DROP TABLE labels;"
    "ALTER TABLE labels_v3 RENAME TO labels;"
    "CREATE INDEX labels_obj ON labels(obj_id, key, value);"
    "DROP INDEX objects_scope;"
    "CREATE INDEX objects_scope ON objects(cluster_id, gvr_id, ns, name);"
    "DROP INDEX objects_owner;"
    "CREATE INDEX objects_owner ON objects(owner_uid, gvr_id, ns, name, cluster_id)"
    "  WHERE owner_uid != '';",
    /* 3 -> 4: zstd dictionaries per resource (zjson.c); rows written from
     * now on may be compressed BLOBs, the rows already there stay JSON text */
    ("CREATE TABLE dicts(id INTEGER PRIMARY KEY, gvr_id INTEGER NOT NULL, dict BLOB NOT NULL);"
     /* a label page within one cluster is a range of this one, in key order */
     "CREATE INDEX labels_cluster ON labels(key, value, gvr_id, cluster_id, ns, name, obj_id);"),
    /* 4 -> 5: earlier object states for watch replay and snapshot pages */
    "CREATE TABLE history(until INTEGER PRIMARY KEY, obj_id INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL, uid TEXT NOT NULL, rv TEXT NOT NULL, owner_uid TEXT NOT NULL,"
    "  created INTEGER NOT NULL, synced_ms INTEGER NOT NULL, deleted_ms INTEGER,"
    "  json BLOB NOT NULL);"
    "CREATE INDEX history_obj ON history(obj_id, revision);"
    /* spec.nodeName field selectors: the pods of one node, terminal or not */
    "CREATE INDEX pods_by_node ON pods(node);"
    /* live objects per resource and cluster, covering: counts and GROUP BY
     * cluster[, namespace] read this index alone (deleted_ms, always NULL
     * here, is a column so that SQLite sees the index as covering) */
    "CREATE INDEX objects_live ON objects(gvr_id, cluster_id, ns, deleted_ms)"
    "  WHERE deleted_ms IS NULL;"
    "UPDATE meta SET value = (SELECT value FROM meta WHERE key = 'revision')"
    "  WHERE key = 'changelog_floor';",
    /* 5 -> 6: what quota/ needs to count a pod from its materialized rows
     * instead of its JSON (facts.c); rows already there say "not plain" until
     * the next relist rewrites them */
    "ALTER TABLE pods ADD COLUMN quota_plain INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE pod_resources ADD COLUMN fmt INTEGER NOT NULL DEFAULT 0;"
    "UPDATE objects SET rv = '' WHERE gvr_id IN (SELECT id FROM gvrs WHERE grp = ''"
    "  AND res = 'pods');",
    /* 6 -> 7: the creation time on every label row (the writer keeps it equal
     * to objects.created); no index, so a label row costs the writer a few
     * bytes and no B-tree */
    "ALTER TABLE labels ADD COLUMN created INTEGER NOT NULL DEFAULT 0;"
    "UPDATE labels SET created = (SELECT o.created FROM objects o WHERE o.id = labels.obj_id);",
};

_Static_assert(FL_ARRAY_LEN(migrations) == FL_INDEX_SCHEMA_VERSION,
               "one migration per schema version");

static int user_version(sqlite3 *db, int *out, fl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    return fl_err_set(err, FL_ESQL, "reading user_version: %s", sqlite3_errmsg(db));
}

int idx_schema_migrate(sqlite3 *db, int to, fl_err *err)
{
    int v = 0, rc = user_version(db, &v, err);
    if (rc < 0)
        return rc;
    if (v > (int)FL_ARRAY_LEN(migrations) || to > (int)FL_ARRAY_LEN(migrations))
        return fl_err_set(err, FL_EUNSUPPORTED,
                          "index schema version %d is newer than this flotilla (%d)", v,
                          (int)FL_ARRAY_LEN(migrations));
    for (; v < to; v++) {
        char setv[64];
        snprintf(setv, sizeof setv, "PRAGMA user_version = %d", v + 1);
        if ((rc = idx_sql_exec(db, "BEGIN IMMEDIATE", err)) < 0)
            return rc;
        if ((rc = idx_sql_exec(db, migrations[v], err)) < 0 ||
            (rc = idx_sql_exec(db, setv, err)) < 0 || (rc = idx_sql_exec(db, "COMMIT", err)) < 0) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return fl_err_wrap(err, rc, "migrating index schema %d -> %d", v, v + 1);
        }
    }
    return 0;
}

static int pragmas(sqlite3 *db, const fl_index_opts *o, bool reader, fl_err *err)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA cache_size = -%lld; PRAGMA mmap_size = %lld; PRAGMA temp_store = MEMORY;"
             "PRAGMA secure_delete = OFF; PRAGMA foreign_keys = OFF; %s",
             (long long)(reader ? o->reader_cache_kib : o->cache_kib), (long long)o->mmap_bytes,
             reader ? "PRAGMA query_only = ON;"
                    : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                      "PRAGMA wal_autocheckpoint = 4000;"
                      /* a reset WAL is cut back to this size: bounded under load */
                      "PRAGMA journal_size_limit = 67108864;");
    return idx_sql_exec(db, sql, err);
}

/* FTS5 keeps the terms of the open transaction in a hash table and writes
 * them out as a new index segment whenever the table passes this size (and
 * at commit); every segment is later merged into bigger ones. With the
 * default of 1 MB a transaction of 10,000 pods (about 3 KB of trigram
 * postings each) made some 30 segments, and merging them was about a third
 * of the FTS cost; at this size it makes one or two. The setting lives in
 * fts_config (the database file), so it holds for every connection. */
#define FTS_HASH_BYTES (16 << 20)

int idx_schema_open(sqlite3 *db, const fl_index_opts *o, fl_err *err)
{
    char sql[128];
    int rc = pragmas(db, o, false, err);
    if (rc < 0 || (rc = idx_schema_migrate(db, FL_INDEX_SCHEMA_VERSION, err)) < 0)
        return rc;
    snprintf(sql, sizeof sql, "INSERT INTO fts(fts, rank) VALUES('hashsize', %d)", FTS_HASH_BYTES);
    return idx_sql_exec(db, sql, err);
}

int idx_schema_reader_pragmas(sqlite3 *db, const fl_index_opts *o, fl_err *err)
{
    return pragmas(db, o, true, err);
}
