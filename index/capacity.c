/*
 * index/capacity.c: running capacity totals, kept by SQLite triggers on the
 * materialized pod and node tables (schema.c), so a capacity answer reads a
 * few hundred aggregate rows instead of every pod and node.
 *
 *   cap_node(cluster_id, node, resource, present, region, zone, sched,
 *            allocatable, requested, limits)
 *       one row per (cluster, node name, resource) that a node advertises or
 *       a scheduled non-terminal pod requests; present = the node is in the
 *       index (region, zone, sched = Ready and not cordoned are then its
 *       own); requested/limits sum the pods bound to that node name
 *   cap_group(cluster_id, region, zone, resource, allocatable, requested,
 *             limits)   the sums of cap_node's present rows
 *   cap_group_nodes(cluster_id, region, zone, total, ready, cordoned)
 *   cap_ns(cluster_id, ns, resource, requested, limits)
 *       non-terminal pods' requests per namespace (scheduled or not)
 *
 * Invariant: after every statement of the writer's transaction each table
 * equals the aggregate it names over pods/pod_resources/nodes/
 * node_resources. Every trigger applies the delta of one changed row joined
 * with the current state of the other tables, so the order in which the
 * writer touches them does not matter. cap_node rows that fall back to all
 * zeros are deleted (node names come and go); group, node-count and
 * namespace rows at zero stay (they are few) and the reads skip them. The largest free amount of a group is one step of the partial
 * index cap_node_free.
 *
 * The tables live beside the schema's versioned layout: capacity_install
 * (writer connection) creates them, their triggers and their contents in
 * one transaction when meta's 'capacity_totals' differs from TOTALS_VERSION
 * or a trigger is missing, so a schema migration that rebuilds the fact
 * tables only costs one rebuild at the next open.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "index/index_int.h"

#define TOTALS_VERSION 3
#define TOTALS_TRIGGERS 11

/* The node's live facts (present, region, zone, sched) for a pod's node
 * name: NODE_OF(p) joins nodes as n. */
#define NODE_OF(p)                                                                          \
    " LEFT JOIN objects o ON o.gvr_id = (SELECT id FROM gvrs WHERE grp = '' AND res = 'nodes'" \
    " AND ver = 'v1') AND o.ns = '' AND o.name = " p ".node AND o.cluster_id = " p ".cluster_id" \
    " LEFT JOIN nodes n ON n.obj_id = o.id"
#define NODE_COLS                                                                           \
    " n.obj_id IS NOT NULL, coalesce(n.region, ''), coalesce(n.zone, ''),"                 \
    " coalesce(n.ready AND NOT n.unschedulable, 0)"
#define ADD_USE                                                                             \
    " ON CONFLICT(cluster_id, node, resource) DO UPDATE SET"                               \
    " requested = requested + excluded.requested, limits = limits + excluded.limits;"
#define ADD_NS                                                                              \
    " ON CONFLICT(cluster_id, ns, resource) DO UPDATE SET"                                 \
    " requested = requested + excluded.requested, limits = limits + excluded.limits;"

static const char drop_sql[] =
    "DROP TRIGGER IF EXISTS cap_podres_ai; DROP TRIGGER IF EXISTS cap_podres_ad;"
    "DROP TRIGGER IF EXISTS cap_pods_ai; DROP TRIGGER IF EXISTS cap_pods_ad;"
    "DROP TRIGGER IF EXISTS cap_nodes_ai; DROP TRIGGER IF EXISTS cap_nodes_ad;"
    "DROP TRIGGER IF EXISTS cap_noderes_ai; DROP TRIGGER IF EXISTS cap_noderes_ad;"
    "DROP TABLE IF EXISTS cap_node; DROP TABLE IF EXISTS cap_group;"
    "DROP TABLE IF EXISTS cap_group_nodes; DROP TABLE IF EXISTS cap_ns;";

static const char create_sql[] =
    "CREATE TABLE cap_node(cluster_id INTEGER NOT NULL, node TEXT NOT NULL,"
    "  resource TEXT NOT NULL, present INTEGER NOT NULL DEFAULT 0,"
    "  region TEXT NOT NULL DEFAULT '', zone TEXT NOT NULL DEFAULT '',"
    "  sched INTEGER NOT NULL DEFAULT 0, allocatable INTEGER NOT NULL DEFAULT 0,"
    "  requested INTEGER NOT NULL DEFAULT 0, limits INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(cluster_id, node, resource)) WITHOUT ROWID;"
    "CREATE INDEX cap_node_free ON cap_node(cluster_id, region, zone, resource,"
    "  allocatable - requested) WHERE present = 1 AND sched = 1;"
    "CREATE TABLE cap_group(cluster_id INTEGER NOT NULL, region TEXT NOT NULL,"
    "  zone TEXT NOT NULL, resource TEXT NOT NULL, allocatable INTEGER NOT NULL,"
    "  requested INTEGER NOT NULL, limits INTEGER NOT NULL,"
    "  PRIMARY KEY(cluster_id, region, zone, resource)) WITHOUT ROWID;"
    "CREATE TABLE cap_group_nodes(cluster_id INTEGER NOT NULL, region TEXT NOT NULL,"
    "  zone TEXT NOT NULL, total INTEGER NOT NULL, ready INTEGER NOT NULL,"
    "  cordoned INTEGER NOT NULL, PRIMARY KEY(cluster_id, region, zone)) WITHOUT ROWID;"
    "CREATE TABLE cap_ns(cluster_id INTEGER NOT NULL, ns TEXT NOT NULL, resource TEXT NOT NULL,"
    "  requested INTEGER NOT NULL, limits INTEGER NOT NULL,"
    "  PRIMARY KEY(cluster_id, ns, resource)) WITHOUT ROWID;"

    /* cap_node -> cap_group */
    "CREATE TRIGGER cap_node_ai AFTER INSERT ON cap_node WHEN NEW.present BEGIN"
    "  INSERT INTO cap_group VALUES(NEW.cluster_id, NEW.region, NEW.zone, NEW.resource,"
    "    NEW.allocatable, NEW.requested, NEW.limits)"
    "  ON CONFLICT(cluster_id, region, zone, resource) DO UPDATE SET"
    "    allocatable = allocatable + excluded.allocatable,"
    "    requested = requested + excluded.requested, limits = limits + excluded.limits;"
    "END;"
    "CREATE TRIGGER cap_node_ad AFTER DELETE ON cap_node WHEN OLD.present BEGIN"
    "  UPDATE cap_group SET allocatable = allocatable - OLD.allocatable,"
    "    requested = requested - OLD.requested, limits = limits - OLD.limits"
    "  WHERE cluster_id = OLD.cluster_id AND region = OLD.region AND zone = OLD.zone"
    "    AND resource = OLD.resource;"
    "END;"
    /* One trigger (a trigger program per row costs more than a statement
     * whose WHERE is constant false): the common case first, a pod's usage on
     * a node that stays in its group; then a node that joins, leaves or
     * changes group; then a row that fell to zero. */
    "CREATE TRIGGER cap_node_au AFTER UPDATE ON cap_node BEGIN"
    "  UPDATE cap_group SET allocatable = allocatable + NEW.allocatable - OLD.allocatable,"
    "    requested = requested + NEW.requested - OLD.requested,"
    "    limits = limits + NEW.limits - OLD.limits"
    "  WHERE NEW.present AND OLD.present AND NEW.region = OLD.region AND NEW.zone = OLD.zone"
    "    AND cluster_id = NEW.cluster_id AND region = NEW.region AND zone = NEW.zone"
    "    AND resource = NEW.resource;"
    "  UPDATE cap_group SET allocatable = allocatable - OLD.allocatable,"
    "    requested = requested - OLD.requested, limits = limits - OLD.limits"
    "  WHERE OLD.present AND (NOT NEW.present OR NEW.region != OLD.region"
    "    OR NEW.zone != OLD.zone) AND cluster_id = OLD.cluster_id AND region = OLD.region"
    "    AND zone = OLD.zone AND resource = OLD.resource;"
    "  INSERT INTO cap_group SELECT NEW.cluster_id, NEW.region, NEW.zone, NEW.resource,"
    "    NEW.allocatable, NEW.requested, NEW.limits WHERE NEW.present AND (NOT OLD.present"
    "    OR NEW.region != OLD.region OR NEW.zone != OLD.zone)"
    "  ON CONFLICT(cluster_id, region, zone, resource) DO UPDATE SET"
    "    allocatable = allocatable + excluded.allocatable,"
    "    requested = requested + excluded.requested, limits = limits + excluded.limits;"
    "  DELETE FROM cap_node WHERE NEW.allocatable = 0 AND NEW.requested = 0"
    "    AND NEW.limits = 0 AND cluster_id = NEW.cluster_id AND node = NEW.node"
    "    AND resource = NEW.resource;"
    "END;"

    /* pods and pod_resources -> cap_node, cap_ns */
    "CREATE TRIGGER cap_podres_ai AFTER INSERT ON pod_resources BEGIN"
    "  UPDATE cap_node SET requested = requested + NEW.requests, limits = limits + NEW.limits"
    "  WHERE (cluster_id, node) = (SELECT cluster_id, node FROM pods WHERE obj_id = NEW.obj_id"
    "    AND terminal = 0 AND node != '') AND resource = NEW.resource;"
    "  INSERT INTO cap_node(cluster_id, node, resource, present, region, zone, sched,"
    "    requested, limits)"
    "  SELECT p.cluster_id, p.node, NEW.resource," NODE_COLS ", NEW.requests, NEW.limits"
    "  FROM pods p" NODE_OF("p")
    "  WHERE p.obj_id = NEW.obj_id AND p.terminal = 0 AND p.node != '' AND NOT EXISTS"
    "    (SELECT 1 FROM cap_node c WHERE c.cluster_id = p.cluster_id AND c.node = p.node"
    "     AND c.resource = NEW.resource);"
    "  INSERT INTO cap_ns SELECT p.cluster_id, p.ns, NEW.resource, NEW.requests, NEW.limits"
    "  FROM pods p WHERE p.obj_id = NEW.obj_id AND p.terminal = 0" ADD_NS
    "END;"
    "CREATE TRIGGER cap_podres_ad AFTER DELETE ON pod_resources BEGIN"
    "  UPDATE cap_node SET requested = requested - OLD.requests, limits = limits - OLD.limits"
    "  WHERE (cluster_id, node) = (SELECT cluster_id, node FROM pods WHERE obj_id = OLD.obj_id"
    "    AND terminal = 0 AND node != '') AND resource = OLD.resource;"
    "  UPDATE cap_ns SET requested = requested - OLD.requests, limits = limits - OLD.limits"
    "  WHERE (cluster_id, ns) = (SELECT cluster_id, ns FROM pods WHERE obj_id = OLD.obj_id"
    "    AND terminal = 0) AND resource = OLD.resource;"
    "END;"
    "CREATE TRIGGER cap_pods_ai AFTER INSERT ON pods WHEN NEW.terminal = 0 BEGIN"
    "  INSERT INTO cap_node(cluster_id, node, resource, present, region, zone, sched,"
    "    requested, limits)"
    "  SELECT p.cluster_id, p.node, x.resource," NODE_COLS ", x.requests, x.limits"
    "  FROM pods p JOIN pod_resources x ON x.obj_id = p.obj_id" NODE_OF("p")
    "  WHERE p.obj_id = NEW.obj_id AND p.node != ''" ADD_USE
    "  INSERT INTO cap_ns SELECT NEW.cluster_id, NEW.ns, x.resource, x.requests, x.limits"
    "  FROM pod_resources x WHERE x.obj_id = NEW.obj_id" ADD_NS
    "END;"
    "CREATE TRIGGER cap_pods_ad AFTER DELETE ON pods WHEN OLD.terminal = 0 BEGIN"
    "  UPDATE cap_node SET"
    "    requested = requested - (SELECT x.requests FROM pod_resources x"
    "      WHERE x.obj_id = OLD.obj_id AND x.resource = cap_node.resource),"
    "    limits = limits - (SELECT x.limits FROM pod_resources x"
    "      WHERE x.obj_id = OLD.obj_id AND x.resource = cap_node.resource)"
    "  WHERE cluster_id = OLD.cluster_id AND node = OLD.node AND OLD.node != ''"
    "    AND resource IN (SELECT resource FROM pod_resources WHERE obj_id = OLD.obj_id);"
    "  UPDATE cap_ns SET"
    "    requested = requested - (SELECT x.requests FROM pod_resources x"
    "      WHERE x.obj_id = OLD.obj_id AND x.resource = cap_ns.resource),"
    "    limits = limits - (SELECT x.limits FROM pod_resources x"
    "      WHERE x.obj_id = OLD.obj_id AND x.resource = cap_ns.resource)"
    "  WHERE cluster_id = OLD.cluster_id AND ns = OLD.ns"
    "    AND resource IN (SELECT resource FROM pod_resources WHERE obj_id = OLD.obj_id);"
    "END;"

    /* nodes and node_resources -> cap_node, cap_group_nodes */
    "CREATE TRIGGER cap_nodes_ai AFTER INSERT ON nodes BEGIN"
    "  UPDATE cap_node SET present = 1, region = NEW.region, zone = NEW.zone,"
    "    sched = (NEW.ready AND NOT NEW.unschedulable)"
    "  WHERE cluster_id = NEW.cluster_id"
    "    AND node = (SELECT name FROM objects WHERE id = NEW.obj_id);"
    "  INSERT INTO cap_group_nodes VALUES(NEW.cluster_id, NEW.region, NEW.zone, 1,"
    "    NEW.ready != 0, NEW.unschedulable != 0)"
    "  ON CONFLICT(cluster_id, region, zone) DO UPDATE SET total = total + 1,"
    "    ready = ready + excluded.ready, cordoned = cordoned + excluded.cordoned;"
    "END;"
    "CREATE TRIGGER cap_nodes_ad AFTER DELETE ON nodes BEGIN"
    "  UPDATE cap_node SET present = 0, region = '', zone = '', sched = 0"
    "  WHERE cluster_id = OLD.cluster_id"
    "    AND node = (SELECT name FROM objects WHERE id = OLD.obj_id);"
    "  UPDATE cap_group_nodes SET total = total - 1, ready = ready - (OLD.ready != 0),"
    "    cordoned = cordoned - (OLD.unschedulable != 0)"
    "  WHERE cluster_id = OLD.cluster_id AND region = OLD.region AND zone = OLD.zone;"
    "END;"
    "CREATE TRIGGER cap_noderes_ai AFTER INSERT ON node_resources BEGIN"
    "  INSERT INTO cap_node(cluster_id, node, resource, present, region, zone, sched,"
    "    allocatable)"
    "  SELECT o.cluster_id, o.name, NEW.resource," NODE_COLS ", NEW.allocatable"
    "  FROM objects o LEFT JOIN nodes n ON n.obj_id = o.id WHERE o.id = NEW.obj_id"
    "  ON CONFLICT(cluster_id, node, resource) DO UPDATE SET"
    "    allocatable = allocatable + excluded.allocatable;"
    "END;"
    "CREATE TRIGGER cap_noderes_ad AFTER DELETE ON node_resources BEGIN"
    "  UPDATE cap_node SET allocatable = allocatable - OLD.allocatable"
    "  WHERE (cluster_id, node) = (SELECT cluster_id, name FROM objects WHERE id = OLD.obj_id)"
    "    AND resource = OLD.resource;"
    "END;";

/* The current contents, computed once from the fact tables (the triggers
 * above fill cap_group from cap_node's inserts). */
static const char fill_sql[] =
    "INSERT INTO cap_node(cluster_id, node, resource, present, region, zone, sched,"
    "  allocatable)"
    "SELECT o.cluster_id, o.name, r.resource, 1, n.region, n.zone,"
    "  n.ready AND NOT n.unschedulable, r.allocatable"
    "  FROM nodes n JOIN objects o ON o.id = n.obj_id"
    "  JOIN node_resources r ON r.obj_id = n.obj_id WHERE true"
    "  ON CONFLICT(cluster_id, node, resource) DO UPDATE SET"
    "    allocatable = allocatable + excluded.allocatable;"
    "INSERT INTO cap_node(cluster_id, node, resource, present, region, zone, sched,"
    "  requested, limits)"
    "SELECT p.cluster_id, p.node, x.resource," NODE_COLS ", sum(x.requests), sum(x.limits)"
    "  FROM pods p JOIN pod_resources x ON x.obj_id = p.obj_id" NODE_OF("p")
    "  WHERE p.terminal = 0 AND p.node != '' GROUP BY p.cluster_id, p.node, x.resource" ADD_USE
    "INSERT INTO cap_group_nodes SELECT cluster_id, region, zone, count(*),"
    "  sum(ready != 0), sum(unschedulable != 0) FROM nodes GROUP BY cluster_id, region, zone;"
    "INSERT INTO cap_ns SELECT p.cluster_id, p.ns, x.resource, sum(x.requests), sum(x.limits)"
    "  FROM pods p JOIN pod_resources x ON x.obj_id = p.obj_id WHERE p.terminal = 0"
    "  GROUP BY p.cluster_id, p.ns, x.resource;";

static int current(sqlite3 *db, bool *out, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT (SELECT value FROM meta WHERE key = 'capacity_totals'),"
        " (SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'cap\\_%'"
        "  ESCAPE '\\')",
        -1, &s, NULL);
    if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return fl_err_set(err, FL_ESQL, "capacity totals: %s", sqlite3_errmsg(db));
    }
    *out = sqlite3_column_int(s, 0) == TOTALS_VERSION &&
           sqlite3_column_int(s, 1) == TOTALS_TRIGGERS;
    sqlite3_finalize(s);
    return 0;
}

int capacity_install(sqlite3 *db, fl_err *err)
{
    bool ok = false;
    int rc = current(db, &ok, err);
    if (rc < 0 || ok)
        return rc;
    char setv[96];
    snprintf(setv, sizeof setv,
             "INSERT OR REPLACE INTO meta VALUES('capacity_totals', %d);", TOTALS_VERSION);
    if ((rc = sql_exec(db, "BEGIN IMMEDIATE", err)) < 0)
        return rc;
    if ((rc = sql_exec(db, drop_sql, err)) < 0 || (rc = sql_exec(db, create_sql, err)) < 0 ||
        (rc = sql_exec(db, fill_sql, err)) < 0 || (rc = sql_exec(db, setv, err)) < 0 ||
        (rc = sql_exec(db, "COMMIT", err)) < 0) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return fl_err_wrap(err, rc, "building the capacity totals");
    }
    return 0;
}

/* ------------------------------------------------------------------ reads */

static const char *col(sqlite3_stmt *s, int i)
{
    const char *v = (const char *)sqlite3_column_text(s, i);
    return v ? v : "";
}

/* The caller's callback (one of the three) and its argument. */
typedef struct sink {
    fl_index_capacity_group_cb group;
    fl_index_capacity_nodes_cb nodes;
    fl_index_usage_cb usage;
    void *arg;
} sink;

typedef int (*row_fn)(sqlite3_stmt *s, const sink *k);

/* Run sql on the reader's connection, handing each row to fn. */
static int each_row(fl_index_reader *r, const char *sql, const char *what, row_fn fn, const sink *k,
                    fl_err *err)
{
    sqlite3 *db = fl_index_reader_db(r);
    sqlite3_stmt *s = NULL;
    int rc, cbrc = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return fl_err_set(err, FL_ESQL, "%s: %s", what, sqlite3_errmsg(db));
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if ((cbrc = fn(s, k)) != 0)
            break;
    if (cbrc)
        rc = cbrc;
    else if (rc == SQLITE_DONE)
        rc = 0;
    else
        rc = fl_err_set(err, FL_ESQL, "%s: %s", what, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return rc;
}

static int group_row(sqlite3_stmt *s, const sink *k)
{
    fl_index_capacity_group g = {col(s, 0), col(s, 1), col(s, 2), col(s, 3),
                                 sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 5),
                                 sqlite3_column_int64(s, 6), sqlite3_column_int64(s, 7),
                                 sqlite3_column_type(s, 7) != SQLITE_NULL};
    return k->group(k->arg, &g);
}

int fl_index_capacity_groups(fl_index_reader *r, fl_index_capacity_group_cb cb, void *arg,
                             fl_err *err)
{
    return each_row(
        r,
        "SELECT c.name, g.region, g.zone, g.resource, g.allocatable, g.requested, g.limits,"
        " (SELECT f.allocatable - f.requested FROM cap_node f WHERE f.cluster_id = g.cluster_id"
        "  AND f.region = g.region AND f.zone = g.zone AND f.resource = g.resource"
        "  AND f.present = 1 AND f.sched = 1 ORDER BY f.allocatable - f.requested DESC LIMIT 1)"
        " FROM cap_group g JOIN clusters c ON c.id = g.cluster_id"
        " WHERE g.allocatable != 0 OR g.requested != 0 OR g.limits != 0"
        " ORDER BY c.name, g.region, g.zone, g.resource",
        "capacity groups", group_row, &(sink){cb, NULL, NULL, arg}, err);
}

static int nodes_row(sqlite3_stmt *s, const sink *k)
{
    fl_index_capacity_nodes n = {col(s, 0), col(s, 1), col(s, 2), sqlite3_column_int64(s, 3),
                                 sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 5)};
    return k->nodes(k->arg, &n);
}

int fl_index_capacity_node_counts(fl_index_reader *r, fl_index_capacity_nodes_cb cb, void *arg,
                                  fl_err *err)
{
    return each_row(r,
                    "SELECT c.name, g.region, g.zone, g.total, g.ready, g.cordoned"
                    " FROM cap_group_nodes g JOIN clusters c ON c.id = g.cluster_id"
                    " WHERE g.total != 0 ORDER BY c.name, g.region, g.zone",
                    "capacity nodes", nodes_row, &(sink){NULL, cb, NULL, arg}, err);
}

static int ns_row(sqlite3_stmt *s, const sink *k)
{
    fl_index_usage u = {col(s, 0), col(s, 1), col(s, 2), sqlite3_column_int64(s, 3),
                        sqlite3_column_int64(s, 4)};
    return k->usage(k->arg, &u);
}

int fl_index_capacity_namespaces(fl_index_reader *r, fl_index_usage_cb cb, void *arg,
                                 fl_err *err)
{
    return each_row(r,
                    "SELECT c.name, g.ns, g.resource, g.requested, g.limits FROM cap_ns g"
                    " JOIN clusters c ON c.id = g.cluster_id"
                    " WHERE g.requested != 0 OR g.limits != 0 ORDER BY c.name, g.ns, g.resource",
                    "capacity namespaces", ns_row, &(sink){NULL, NULL, cb, arg}, err);
}
