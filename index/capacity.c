/*
 * index/capacity.c: running capacity totals, kept by the index writer from
 * the changes it makes to the materialized pod and node tables (schema.c),
 * so a capacity answer reads a few hundred aggregate rows instead of every
 * pod and node.
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
 * Invariant: at every commit of the writer's transaction each table equals
 * the aggregate it names over pods/pod_resources/nodes/node_resources. The
 * writer reports each fact row it inserts or deletes (idx_cap_pod_res,
 * idx_cap_node_res, idx_cap_node_state) to a cap_delta, which sums them per key in
 * memory; idx_cap_delta_apply, run just before COMMIT, writes each key once:
 * first the nodes whose presence, group or schedulability changed move
 * their cap_node rows (and those rows' amounts between groups), then the
 * per-(node, resource) sums are added to cap_node and to the group each row
 * is in, then the group, node-count and namespace sums. cap_node rows that
 * fall back to all zeros are deleted (node names come and go); group,
 * node-count and namespace rows at zero stay (they are few) and the reads
 * skip them. The largest free amount of a group is one step of the partial
 * index cap_node_free.
 *
 * The tables live beside the schema's versioned layout: idx_capacity_install
 * (writer connection) creates them and their contents in one transaction
 * when meta's 'capacity_totals' differs from TOTALS_VERSION or a table is
 * missing, so a schema migration that rebuilds the fact tables only costs
 * one rebuild at the next open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

#define TOTALS_VERSION 6

/* The node's live facts (present, region, zone, sched) for a pod's node
 * name: NODE_OF(p) joins nodes as n. */
#define NODE_OF(p)                                                                                 \
    " LEFT JOIN objects o ON o.gvr_id = (SELECT id FROM gvrs WHERE grp = '' AND res = 'nodes'"     \
    " AND ver = 'v1') AND o.ns = '' AND o.name = " p ".node AND o.cluster_id = " p ".cluster_id"   \
    " LEFT JOIN nodes n ON n.obj_id = o.id"
#define NODE_COLS                                                                                  \
    " n.obj_id IS NOT NULL, coalesce(n.region, ''), coalesce(n.zone, ''),"                         \
    " coalesce(n.ready AND NOT n.unschedulable, 0)"

static const char drop_sql[] =
    "DROP TRIGGER IF EXISTS cap_podres_ai; DROP TRIGGER IF EXISTS cap_podres_ad;"
    "DROP TRIGGER IF EXISTS cap_pods_ai; DROP TRIGGER IF EXISTS cap_pods_ad;"
    "DROP TRIGGER IF EXISTS cap_nodes_ai; DROP TRIGGER IF EXISTS cap_nodes_ad;"
    "DROP TRIGGER IF EXISTS cap_noderes_ai; DROP TRIGGER IF EXISTS cap_noderes_ad;"
    "DROP TABLE IF EXISTS cap_node; DROP TABLE IF EXISTS cap_group;"
    "DROP TABLE IF EXISTS cap_group_nodes; DROP TABLE IF EXISTS cap_ns;"
    "DROP TABLE IF EXISTS cap_label; DROP TABLE IF EXISTS cap_label_nodes;";

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
    "CREATE TABLE cap_label(key TEXT NOT NULL, cluster_id INTEGER NOT NULL, value TEXT NOT NULL,"
    "  resource TEXT NOT NULL, allocatable INTEGER NOT NULL, requested INTEGER NOT NULL,"
    "  limits INTEGER NOT NULL, largest INTEGER NOT NULL, largest_n INTEGER NOT NULL,"
    "  PRIMARY KEY(key, cluster_id, value, resource)) WITHOUT ROWID;"
    "CREATE TABLE cap_label_nodes(key TEXT NOT NULL, cluster_id INTEGER NOT NULL,"
    "  value TEXT NOT NULL, total INTEGER NOT NULL, ready INTEGER NOT NULL,"
    "  cordoned INTEGER NOT NULL, PRIMARY KEY(key, cluster_id, value)) WITHOUT ROWID;";

#define NODES_GVR "(SELECT id FROM gvrs WHERE grp = '' AND res = 'nodes' AND ver = 'v1')"

/* The current contents, computed once from the fact tables. */
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
    "  FROM pods p JOIN pod_resources x ON x.obj_id = p.obj_id" NODE_OF(
        "p") "  WHERE p.terminal = 0 AND p.node != '' GROUP BY p.cluster_id, p.node, x.resource"
             "  ON CONFLICT(cluster_id, node, resource) DO UPDATE SET"
             "  requested = requested + excluded.requested, limits = limits + excluded.limits;"
             "INSERT INTO cap_group SELECT cluster_id, region, zone, resource, sum(allocatable),"
             "  sum(requested), sum(limits) FROM cap_node WHERE present"
             "  GROUP BY cluster_id, region, zone, resource;"
             "INSERT INTO cap_group_nodes SELECT cluster_id, region, zone, count(*),"
             "  sum(ready != 0), sum(unschedulable != 0) FROM nodes GROUP BY cluster_id, region, "
             "zone;"
             "INSERT INTO cap_ns SELECT p.cluster_id, p.ns, x.resource, sum(x.requests), "
             "sum(x.limits)"
             "  FROM pods p JOIN pod_resources x ON x.obj_id = p.obj_id WHERE p.terminal = 0"
             "  GROUP BY p.cluster_id, p.ns, x.resource;"
             "INSERT INTO cap_label SELECT key, cluster_id, value, resource, sum(a), sum(q), "
             "sum(li),"
             "  coalesce(max(mx), 0), coalesce(sum(f = mx), 0) FROM (SELECT l.key, l.cluster_id,"
             "  l.value, c.resource, c.allocatable a, c.requested q, c.limits li,"
             "  CASE WHEN c.sched THEN max(0, c.allocatable - c.requested) END f,"
             "  max(CASE WHEN c.sched THEN max(0, c.allocatable - c.requested) END) OVER"
             "  (PARTITION BY l.key, l.cluster_id, l.value, c.resource) mx"
             "  FROM labels l JOIN cap_node c ON c.cluster_id = l.cluster_id AND c.node = l.name"
             "  WHERE l.gvr_id = " NODES_GVR " AND l.ns = '' AND l.value != '' AND c.present = 1)"
             "  GROUP BY key, cluster_id, value, resource;"
             "INSERT INTO cap_label_nodes SELECT l.key, l.cluster_id, l.value, count(*),"
             "  sum(n.ready != 0), sum(n.unschedulable != 0)"
             "  FROM labels l JOIN nodes n ON n.obj_id = l.obj_id"
             "  WHERE l.gvr_id = " NODES_GVR " AND l.ns = '' AND l.value != ''"
             "  GROUP BY l.key, l.cluster_id, l.value;";

static int current(sqlite3 *db, bool *out, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT (SELECT value FROM meta WHERE key = 'capacity_totals'),"
        " (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
        "  ('cap_node', 'cap_group', 'cap_group_nodes', 'cap_ns', 'cap_label',"
        "   'cap_label_nodes')),"
        " (SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'cap\\_%'"
        "  ESCAPE '\\')",
        -1, &s, NULL);
    if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return fl_err_set(err, FL_ESQL, "capacity totals: %s", sqlite3_errmsg(db));
    }
    *out = sqlite3_column_int(s, 0) == TOTALS_VERSION && sqlite3_column_int(s, 1) == 6 &&
           sqlite3_column_int(s, 2) == 0;
    sqlite3_finalize(s);
    return 0;
}

int idx_capacity_install(sqlite3 *db, fl_err *err)
{
    bool ok = false;
    int rc = current(db, &ok, err);
    if (rc < 0 || ok)
        return rc;
    char setv[96];
    snprintf(setv, sizeof setv, "INSERT OR REPLACE INTO meta VALUES('capacity_totals', %d);",
             TOTALS_VERSION);
    if ((rc = idx_sql_exec(db, "BEGIN IMMEDIATE", err)) < 0)
        return rc;
    if ((rc = idx_sql_exec(db, drop_sql, err)) < 0 ||
        (rc = idx_sql_exec(db, create_sql, err)) < 0 ||
        (rc = idx_sql_exec(db, fill_sql, err)) < 0 || (rc = idx_sql_exec(db, setv, err)) < 0 ||
        (rc = idx_sql_exec(db, "COMMIT", err)) < 0) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return fl_err_wrap(err, rc, "building the capacity totals");
    }
    return 0;
}

/* ------------------------------------------------------------ the deltas */

/* What a key sums: K_USE (cluster, node, resource) allocatable, requested,
 * limits; K_NS (cluster, ns, resource) requested, limits; K_COUNT (cluster,
 * region, zone) total, ready, cordoned; K_NODE (cluster, node) the node's
 * last state in the transaction (present, sched; region, zone in s[2],
 * s[3]); K_GROUP (cluster, region, zone, resource) allocatable, requested,
 * limits, filled by idx_cap_delta_apply; K_LBL (cluster, node, key, value)
 * a node's label rows inserted minus deleted; K_TOUCH (cluster, node) a
 * node whose label groups may change (x[0] its index in tn); K_LG
 * (cluster, key, value, resource) allocatable, requested, limits, with
 * fv the free amounts of the touched nodes there before and after; K_LC
 * (cluster, key, value) total, ready, cordoned. K_NODE's x: x[0] 1 once set, x[1] present before the
 * transaction, x[2], x[3] its ready and cordoned then. */
enum { K_USE, K_NS, K_COUNT, K_NODE, K_GROUP, K_LBL, K_TOUCH, K_LG, K_LC };

typedef struct dent {
    int kind;
    int64_t cid;
    char *key;        /* the map's key: kind, cid, then the strings, each NUL-ended */
    const char *s[4]; /* the strings in key (K_NODE: s[2], s[3] owned in st) */
    char *st;         /* K_NODE: "region\0zone\0" */
    int64_t v[3];
    int64_t x[4];
    int64_t *fv; /* K_LG: the touched nodes' free amounts, before (< 0: -1 - f) and after */
    size_t nfv, capfv;
} dent;

typedef struct dmap {
    idx_smap map; /* key -> index in e */
    dent *e;
    size_t n, cap;
} dmap;

enum {
    C_NODE_ROWS,
    C_NODE_MOVE,
    C_USE_GET,
    C_USE_NODE,
    C_USE_UPD,
    C_USE_INS,
    C_USE_DEL,
    C_GROUP,
    C_COUNT,
    C_NS,
    C_GVR_NODES,
    C_NODE_LABELS,
    C_LG,
    C_LG_GET,
    C_LG_SCAN,
    C_LG_SET,
    C_LG_DEL,
    C_LC,
    C_LC_DEL,
    C_N
};

static const char *const csql[C_N] = {
    [C_NODE_ROWS] = "SELECT resource, present, region, zone, sched, allocatable, requested,"
                    " limits FROM cap_node WHERE cluster_id = ? AND node = ?",
    [C_NODE_MOVE] = "UPDATE cap_node SET present = ?3, region = ?4, zone = ?5, sched = ?6"
                    " WHERE cluster_id = ?1 AND node = ?2",
    /* plain statements: UPDATE/INSERT ... RETURNING cost about five times as much */
    [C_USE_GET] = "SELECT present, region, zone, allocatable, requested, limits FROM cap_node"
                  " WHERE cluster_id = ? AND node = ? AND resource = ?",
    [C_USE_NODE] = "SELECT" NODE_COLS " FROM (SELECT ?1 AS cluster_id, ?2 AS node) p" NODE_OF("p"),
    [C_USE_UPD] = "UPDATE cap_node SET allocatable = ?4, requested = ?5, limits = ?6"
                  " WHERE cluster_id = ?1 AND node = ?2 AND resource = ?3",
    [C_USE_INS] = "INSERT INTO cap_node(cluster_id, node, resource, present, region, zone, sched,"
                  " allocatable, requested, limits) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [C_USE_DEL] = "DELETE FROM cap_node WHERE cluster_id = ? AND node = ? AND resource = ?",
    [C_GROUP] = "INSERT INTO cap_group VALUES(?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(cluster_id, region, zone, resource) DO UPDATE SET"
                " allocatable = allocatable + excluded.allocatable,"
                " requested = requested + excluded.requested, limits = limits + excluded.limits",
    [C_COUNT] =
        "INSERT INTO cap_group_nodes VALUES(?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(cluster_id, region, zone) DO UPDATE SET total = total + excluded.total,"
        " ready = ready + excluded.ready, cordoned = cordoned + excluded.cordoned",
    [C_NS] = "INSERT INTO cap_ns VALUES(?, ?, ?, ?, ?)"
             " ON CONFLICT(cluster_id, ns, resource) DO UPDATE SET"
             " requested = requested + excluded.requested, limits = limits + excluded.limits",
    [C_GVR_NODES] = "SELECT id FROM gvrs WHERE grp = '' AND res = 'nodes' AND ver = 'v1'",
    [C_NODE_LABELS] =
        "SELECT n.obj_id IS NOT NULL, coalesce(n.ready, 0), coalesce(n.unschedulable, 0),"
        " l.key, l.value FROM objects o LEFT JOIN nodes n ON n.obj_id = o.id"
        " LEFT JOIN labels l ON l.obj_id = o.id AND l.value != ''"
        " WHERE o.gvr_id = ?3 AND o.ns = '' AND o.name = ?2 AND o.cluster_id = ?1"
        " AND o.deleted_ms IS NULL",
    [C_LG] = "INSERT INTO cap_label VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
             " ON CONFLICT(key, cluster_id, value, resource) DO UPDATE SET"
             " allocatable = allocatable + excluded.allocatable,"
             " requested = requested + excluded.requested, limits = limits + excluded.limits,"
             " largest = excluded.largest, largest_n = excluded.largest_n"
             " RETURNING allocatable, requested, limits",
    [C_LG_GET] = "SELECT largest, largest_n FROM cap_label WHERE key = ?1 AND cluster_id = ?2"
                 " AND value = ?3 AND resource = ?4",
    [C_LG_SCAN] = "SELECT max(0, c.allocatable - c.requested) FROM labels l JOIN cap_node c"
                  " ON c.cluster_id = l.cluster_id AND c.node = l.name AND c.resource = ?4"
                  " WHERE l.key = ?1 AND l.value = ?3 AND l.gvr_id = ?5 AND l.cluster_id = ?2"
                  " AND l.ns = '' AND c.present = 1 AND c.sched = 1",
    [C_LG_SET] = "UPDATE cap_label SET largest = ?5, largest_n = ?6 WHERE key = ?1"
                 " AND cluster_id = ?2 AND value = ?3 AND resource = ?4",
    [C_LG_DEL] = "DELETE FROM cap_label WHERE key = ?1 AND cluster_id = ?2 AND value = ?3"
                 " AND resource = ?4",
    [C_LC] = "INSERT INTO cap_label_nodes VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
             " ON CONFLICT(key, cluster_id, value) DO UPDATE SET total = total + excluded.total,"
             " ready = ready + excluded.ready, cordoned = cordoned + excluded.cordoned"
             " RETURNING total",
    [C_LC_DEL] = "DELETE FROM cap_label_nodes WHERE key = ?1 AND cluster_id = ?2 AND value = ?3",
};

/* One cap_node row of a touched node, before or after the transaction. */
typedef struct nrow {
    char *res;
    bool present, sched;
    int64_t a, q, l;
} nrow;

/* A node whose label groups the transaction may change: its labels now
 * (l1, key/value pairs), its label rows inserted or deleted (lev: indices
 * of K_LBL entries in keys), its state and cap_node rows before and after. */
typedef struct tnode {
    int64_t cid;
    const char *node; /* in the K_TOUCH entry's key */
    int64_t state;    /* index of its K_NODE entry, -1: none */
    size_t *lev, nlev, caplev;
    char **l1;
    size_t n1, capl1;
    nrow *pre, *post;
    size_t npre, cappre, npost, cappost;
    bool skip, present0, present1, ready0, cord0, ready1, cord1;
} tnode;

struct cap_delta {
    sqlite3 *db;
    sqlite3_stmt *st[C_N];
    dmap keys;   /* K_USE, K_NS, K_COUNT, K_NODE, K_LBL */
    dmap groups; /* K_GROUP */
    dmap touch;  /* K_TOUCH */
    dmap lg;     /* K_LG, K_LC */
    tnode *tn;
    size_t ntn, captn;
    int64_t nodes_gid; /* the core nodes' gvr id, 0: not looked up in this transaction */
};

static void dmap_clear(dmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
        free(m->e[i].st);
        free(m->e[i].fv);
    }
    m->n = 0;
    idx_smap_clear(&m->map);
}

/* The entry of (kind, cid, strings), created at zero. NULL on ENOMEM. */
static dent *dget(dmap *m, int kind, int64_t cid, const char *const *s, int ns)
{
    char buf[512], *k = buf;
    size_t len[4], klen = 1 + sizeof cid;
    for (int i = 0; i < ns; i++)
        klen += (len[i] = strlen(s[i])) + 1;
    if (klen > sizeof buf && !(k = fl_malloc(klen)))
        return NULL;
    k[0] = (char)kind;
    memcpy(k + 1, &cid, sizeof cid);
    size_t at = 1 + sizeof cid;
    for (int i = 0; i < ns; i++) {
        memcpy(k + at, s[i], len[i] + 1);
        at += len[i] + 1;
    }
    bool created;
    dent *e = NULL;
    int64_t *slot = idx_smap_put(&m->map, k, klen, &created);
    if (!slot)
        goto out;
    if (!created) {
        e = &m->e[*slot];
        goto out;
    }
    if (fl_grow(&m->e, &m->cap, m->n + 1, sizeof *m->e) != 0) {
        *slot = -1; /* never read: the failed transaction clears the map */
        goto out;
    }
    e = &m->e[m->n];
    memset(e, 0, sizeof *e);
    if (!(e->key = fl_malloc(klen))) {
        e = NULL;
        goto out;
    }
    memcpy(e->key, k, klen);
    e->kind = kind;
    e->cid = cid;
    at = 1 + sizeof cid;
    for (int i = 0; i < ns; i++) {
        e->s[i] = e->key + at;
        at += len[i] + 1;
    }
    *slot = (int64_t)m->n++;
out:
    if (k != buf)
        free(k);
    return e;
}

static int add3(dmap *m, int kind, int64_t cid, const char *const *s, int ns, int64_t a, int64_t b,
                int64_t c)
{
    dent *e = dget(m, kind, cid, s, ns);
    if (!e)
        return -ENOMEM;
    e->v[0] += a, e->v[1] += b, e->v[2] += c;
    return 0;
}

int idx_cap_delta_new(sqlite3 *db, cap_delta **out, fl_err *err)
{
    cap_delta *d = fl_calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->db = db;
    for (int i = 0; i < C_N; i++)
        if (sqlite3_prepare_v3(db, csql[i], -1, SQLITE_PREPARE_PERSISTENT, &d->st[i], NULL)) {
            int rc = fl_err_set(err, FL_ESQL, "capacity totals: preparing \"%s\": %s", csql[i],
                                sqlite3_errmsg(db));
            idx_cap_delta_free(d);
            return rc;
        }
    *out = d;
    return 0;
}

static void tnodes_clear(cap_delta *d)
{
    for (size_t i = 0; i < d->ntn; i++) {
        tnode *t = &d->tn[i];
        for (size_t k = 0; k < t->n1; k++)
            free(t->l1[k]);
        for (size_t k = 0; k < t->npre; k++)
            free(t->pre[k].res);
        for (size_t k = 0; k < t->npost; k++)
            free(t->post[k].res);
        free(t->l1), free(t->lev), free(t->pre), free(t->post);
    }
    d->ntn = 0;
}

void idx_cap_delta_reset(cap_delta *d)
{
    dmap_clear(&d->keys);
    dmap_clear(&d->groups);
    dmap_clear(&d->touch);
    dmap_clear(&d->lg);
    tnodes_clear(d);
    d->nodes_gid = 0;
}

void idx_cap_delta_free(cap_delta *d)
{
    if (!d)
        return;
    idx_cap_delta_reset(d);
    free(d->keys.e);
    free(d->groups.e);
    free(d->touch.e);
    free(d->lg.e);
    free(d->tn);
    for (int i = 0; i < C_N; i++)
        sqlite3_finalize(d->st[i]);
    free(d);
}

int idx_cap_pod_res(cap_delta *d, int64_t cid, const char *ns, const char *node, bool terminal,
                    const char *res, int64_t req, int64_t lim, int sign)
{
    if (terminal)
        return 0;
    int rc = add3(&d->keys, K_NS, cid, (const char *[]){ns, res}, 2, sign * req, sign * lim, 0);
    if (rc == 0 && node[0])
        rc = add3(&d->keys, K_USE, cid, (const char *[]){node, res}, 2, 0, sign * req, sign * lim);
    return rc;
}

int idx_cap_node_res(cap_delta *d, int64_t cid, const char *node, const char *res, int64_t alloc,
                     int sign)
{
    return add3(&d->keys, K_USE, cid, (const char *[]){node, res}, 2, sign * alloc, 0, 0);
}

int idx_cap_node_state(cap_delta *d, int64_t cid, const char *node, const char *region,
                       const char *zone, bool ready, bool unschedulable, int sign)
{
    int rc = add3(&d->keys, K_COUNT, cid, (const char *[]){region, zone}, 2, sign,
                  sign * (ready != 0), sign * (unschedulable != 0));
    if (rc < 0)
        return rc;
    dent *e = dget(&d->keys, K_NODE, cid, (const char *[]){node}, 1);
    if (!e)
        return -ENOMEM;
    if (!e->x[0]) { /* the first event: a deleted row is the state before */
        e->x[0] = 1;
        e->x[1] = sign < 0;
        e->x[2] = sign < 0 && ready;
        e->x[3] = sign < 0 && unschedulable;
    }
    if (sign < 0)
        region = zone = "";
    size_t rl = strlen(region), zl = strlen(zone);
    char *st = fl_malloc(rl + zl + 2);
    if (!st)
        return -ENOMEM;
    memcpy(st, region, rl + 1);
    memcpy(st + rl + 1, zone, zl + 1);
    free(e->st);
    e->st = st;
    e->s[2] = st, e->s[3] = st + rl + 1;
    e->v[0] = sign > 0;
    e->v[1] = sign > 0 && ready && !unschedulable;
    return 0;
}

static int cfail(cap_delta *d, sqlite3_stmt *s, fl_err *err, const char *what)
{
    int rc = sqlite3_errcode(d->db) == SQLITE_NOMEM ? -ENOMEM : FL_ESQL;
    if (s)
        sqlite3_reset(s);
    return fl_err_set(err, rc, "capacity totals: %s: %s", what, sqlite3_errmsg(d->db));
}

/* The core nodes' gvr id, looked up once per transaction, in *gid: 0 if
 * there is none (then no node and no node label exists). 0 or an error. */
static int nodes_gid(cap_delta *d, int64_t *gid, fl_err *err)
{
    if (d->nodes_gid <= 0) {
        sqlite3_stmt *s = d->st[C_GVR_NODES];
        sqlite3_reset(s);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            d->nodes_gid = sqlite3_column_int64(s, 0);
        else if (rc != SQLITE_DONE)
            return cfail(d, s, err, "nodes' id");
        sqlite3_reset(s);
    }
    *gid = d->nodes_gid;
    return 0;
}

int idx_cap_label(cap_delta *d, int64_t gid, int64_t cid, const char *ns, const char *name,
                  const char *key, const char *value, int sign, fl_err *err)
{
    int64_t nodes = 0;
    int rc = ns[0] || !value[0] ? 0 : nodes_gid(d, &nodes, err);
    if (rc < 0 || ns[0] || !value[0] || gid != nodes)
        return rc;
    rc = add3(&d->keys, K_LBL, cid, (const char *[]){name, key, value}, 3, sign, 0, 0);
    return rc < 0 ? fl_err_set(err, rc, "capacity totals: out of memory") : rc;
}

static sqlite3_stmt *C(cap_delta *d, int i)
{
    sqlite3_stmt *s = d->st[i];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static void ct(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static const char *ccol(sqlite3_stmt *s, int i)
{
    const char *v = (const char *)sqlite3_column_text(s, i);
    return v ? v : "";
}

/* Add (a, b, c) to the group of a present cap_node row. */
static int to_group(cap_delta *d, int64_t cid, const char *region, const char *zone,
                    const char *res, int64_t a, int64_t b, int64_t c)
{
    return add3(&d->groups, K_GROUP, cid, (const char *[]){region, zone, res}, 3, a, b, c);
}

/* Bring the cap_node rows of a node whose state the transaction changed to
 * its final state, moving their amounts between groups. */
static int move_node(cap_delta *d, const dent *e, fl_err *err)
{
    sqlite3_stmt *s = C(d, C_NODE_ROWS);
    bool moved = false;
    int rc;
    sqlite3_bind_int64(s, 1, e->cid);
    ct(s, 2, e->s[0]);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        bool present = sqlite3_column_int(s, 1) != 0;
        const char *region = ccol(s, 2), *zone = ccol(s, 3), *res = ccol(s, 0);
        if (present == (e->v[0] != 0) && (sqlite3_column_int(s, 4) != 0) == (e->v[1] != 0) &&
            (!present || (!strcmp(region, e->s[2]) && !strcmp(zone, e->s[3]))))
            continue;
        moved = true;
        int64_t a = sqlite3_column_int64(s, 5), b = sqlite3_column_int64(s, 6),
                c = sqlite3_column_int64(s, 7);
        if ((present && to_group(d, e->cid, region, zone, res, -a, -b, -c) < 0) ||
            (e->v[0] && to_group(d, e->cid, e->s[2], e->s[3], res, a, b, c) < 0)) {
            sqlite3_reset(s);
            return -ENOMEM;
        }
    }
    if (rc != SQLITE_DONE)
        return cfail(d, s, err, "node rows");
    sqlite3_reset(s);
    if (!moved)
        return 0;
    s = C(d, C_NODE_MOVE);
    sqlite3_bind_int64(s, 1, e->cid);
    ct(s, 2, e->s[0]);
    sqlite3_bind_int64(s, 3, e->v[0]);
    ct(s, 4, e->s[2]), ct(s, 5, e->s[3]);
    sqlite3_bind_int64(s, 6, e->v[1]);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : cfail(d, NULL, err, "node move");
}

/* Add one (node, resource) sum to cap_node and to the row's group; drop a
 * row that falls to zero. A new row takes its node's facts. */
static int add_use(cap_delta *d, const dent *e, fl_err *err)
{
    sqlite3_stmt *s = C(d, C_USE_GET);
    int64_t v[3];
    char region[256], zone[256];
    bool present, sched = false;
    sqlite3_bind_int64(s, 1, e->cid);
    ct(s, 2, e->s[0]), ct(s, 3, e->s[1]);
    int rc = sqlite3_step(s);
    bool found = rc == SQLITE_ROW;
    if (!found) {
        if (rc != SQLITE_DONE)
            return cfail(d, s, err, "node row");
        sqlite3_reset(s);
        s = C(d, C_USE_NODE);
        sqlite3_bind_int64(s, 1, e->cid);
        ct(s, 2, e->s[0]);
        if (sqlite3_step(s) != SQLITE_ROW)
            return cfail(d, s, err, "node facts");
        sched = sqlite3_column_int(s, 3) != 0;
        for (int i = 0; i < 3; i++)
            v[i] = 0;
    } else {
        for (int i = 0; i < 3; i++)
            v[i] = sqlite3_column_int64(s, 3 + i);
    }
    present = sqlite3_column_int(s, 0) != 0;
    fl_strlcpy(region, ccol(s, 1), sizeof region);
    fl_strlcpy(zone, ccol(s, 2), sizeof zone);
    sqlite3_reset(s);
    for (int i = 0; i < 3; i++)
        v[i] += e->v[i];
    if (present && to_group(d, e->cid, region, zone, e->s[1], e->v[0], e->v[1], e->v[2]) < 0)
        return -ENOMEM;
    bool zero = !v[0] && !v[1] && !v[2];
    if (zero && !found)
        return 0;
    s = C(d, zero ? C_USE_DEL : found ? C_USE_UPD : C_USE_INS);
    sqlite3_bind_int64(s, 1, e->cid);
    ct(s, 2, e->s[0]), ct(s, 3, e->s[1]);
    if (!zero && found) {
        for (int i = 0; i < 3; i++)
            sqlite3_bind_int64(s, 4 + i, v[i]);
    } else if (!zero) {
        sqlite3_bind_int(s, 4, present);
        ct(s, 5, region), ct(s, 6, zone);
        sqlite3_bind_int(s, 7, sched);
        for (int i = 0; i < 3; i++)
            sqlite3_bind_int64(s, 8 + i, v[i]);
    }
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : cfail(d, NULL, err, "node use");
}

static int upsert_sums(cap_delta *d, int st, const dent *e, int ns, int nv, fl_err *err)
{
    sqlite3_stmt *s = C(d, st);
    sqlite3_bind_int64(s, 1, e->cid);
    for (int i = 0; i < ns; i++)
        ct(s, 2 + i, e->s[i]);
    for (int i = 0; i < nv; i++)
        sqlite3_bind_int64(s, 2 + ns + i, e->v[i]);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : cfail(d, NULL, err, "totals");
}

/* ---------------------------------------------------- node label groups
 * cap_label and cap_label_nodes sum cap_node's present rows and the node
 * counts per (node label key, value, cluster). A node's share there is
 * (present ? its rows and state on each of its labels : nothing), so for
 * each node the transaction touched the change is its share after minus
 * its share before: the labels before are those now, less the rows
 * inserted, plus the rows deleted (K_LBL); the state before is the first
 * nodes row deleted (K_NODE), else the state now; the cap_node rows are
 * read before and after the other totals are written. A group keeps its
 * largest free amount and how many of its Ready, schedulable nodes have
 * it (identical empty nodes tie); only when the last of them lost it is
 * the group's largest read again from its nodes (labels by key and value,
 * then cap_node by name). */

static tnode *touch(cap_delta *d, int64_t cid, const char *node)
{
    dent *e = dget(&d->touch, K_TOUCH, cid, (const char *[]){node}, 1);
    if (!e)
        return NULL;
    if (e->x[1])
        return &d->tn[e->x[0]];
    if (fl_grow(&d->tn, &d->captn, d->ntn + 1, sizeof *d->tn) != 0)
        return NULL;
    tnode *t = &d->tn[d->ntn];
    memset(t, 0, sizeof *t);
    t->cid = cid, t->node = e->s[0], t->state = -1;
    e->x[0] = (int64_t)d->ntn++, e->x[1] = 1;
    return t;
}

/* The cap_node rows of t's node into rows. */
static int read_rows(cap_delta *d, const tnode *t, nrow **rows, size_t *n, size_t *cap, fl_err *err)
{
    sqlite3_stmt *s = C(d, C_NODE_ROWS);
    int rc;
    sqlite3_bind_int64(s, 1, t->cid);
    ct(s, 2, t->node);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (fl_grow(rows, cap, *n + 1, sizeof **rows) != 0) {
            sqlite3_reset(s);
            return -ENOMEM;
        }
        nrow *r = &(*rows)[*n];
        if (!(r->res = strdup(ccol(s, 0)))) {
            sqlite3_reset(s);
            return -ENOMEM;
        }
        (*n)++;
        r->present = sqlite3_column_int(s, 1) != 0;
        r->sched = sqlite3_column_int(s, 4) != 0;
        r->a = sqlite3_column_int64(s, 5);
        r->q = sqlite3_column_int64(s, 6);
        r->l = sqlite3_column_int64(s, 7);
    }
    if (rc != SQLITE_DONE)
        return cfail(d, s, err, "node rows");
    sqlite3_reset(s);
    return 0;
}

/* t's labels and state now. */
static int read_labels(cap_delta *d, tnode *t, int64_t gid, fl_err *err)
{
    sqlite3_stmt *s = C(d, C_NODE_LABELS);
    int rc;
    sqlite3_bind_int64(s, 1, t->cid);
    ct(s, 2, t->node);
    sqlite3_bind_int64(s, 3, gid);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        t->present1 = sqlite3_column_int(s, 0) != 0;
        t->ready1 = sqlite3_column_int(s, 1) != 0;
        t->cord1 = sqlite3_column_int(s, 2) != 0;
        if (sqlite3_column_type(s, 3) == SQLITE_NULL)
            continue;
        if (fl_grow(&t->l1, &t->capl1, t->n1 + 2, sizeof *t->l1) != 0) {
            sqlite3_reset(s);
            return -ENOMEM;
        }
        t->l1[t->n1] = strdup(ccol(s, 3));
        t->l1[t->n1 + 1] = strdup(ccol(s, 4));
        t->n1 += 2;
        if (!t->l1[t->n1 - 2] || !t->l1[t->n1 - 1]) {
            sqlite3_reset(s);
            return -ENOMEM;
        }
    }
    if (rc != SQLITE_DONE)
        return cfail(d, s, err, "node labels");
    sqlite3_reset(s);
    return 0;
}

/* Before the other totals are written: the touched nodes, their labels
 * and state now and before, their cap_node rows before. */
static int label_prepare(cap_delta *d, fl_err *err)
{
    dmap *m = &d->keys;
    int64_t gid = 0;
    int rc = nodes_gid(d, &gid, err);
    if (rc < 0 || !gid)
        return rc;
    for (size_t i = 0; i < m->n; i++) {
        const dent *e = &m->e[i];
        if (e->kind != K_USE && e->kind != K_NODE && e->kind != K_LBL)
            continue;
        if (e->kind == K_USE && !e->v[0] && !e->v[1] && !e->v[2])
            continue;
        if (e->kind == K_LBL && !e->v[0])
            continue;
        tnode *t = touch(d, e->cid, e->s[0]);
        if (!t)
            return -ENOMEM;
        if (e->kind == K_NODE)
            t->state = (int64_t)i;
        else if (e->kind == K_LBL) {
            if (fl_grow(&t->lev, &t->caplev, t->nlev + 1, sizeof *t->lev) != 0)
                return -ENOMEM;
            t->lev[t->nlev++] = i;
        }
    }
    for (size_t i = 0; i < d->ntn; i++) {
        tnode *t = &d->tn[i];
        rc = read_labels(d, t, gid, err);
        if (rc < 0)
            return rc;
        if (!t->n1 && !t->nlev) { /* in no label group, before or after */
            t->skip = true;
            continue;
        }
        const dent *st = t->state >= 0 ? &m->e[t->state] : NULL;
        t->present0 = st ? st->x[1] != 0 : t->present1;
        t->ready0 = st ? st->x[2] != 0 : t->ready1;
        t->cord0 = st ? st->x[3] != 0 : t->cord1;
        if ((rc = read_rows(d, t, &t->pre, &t->npre, &t->cappre, err)) < 0)
            return rc;
    }
    return 0;
}

/* Add one node's rows (sign 1: after, -1: before) to the group of (key,
 * value). */
static int lg_add(cap_delta *d, const tnode *t, const char *key, const char *value,
                  const nrow *rows, size_t n, int sign, bool ready, bool cord)
{
    int rc = add3(&d->lg, K_LC, t->cid, (const char *[]){key, value}, 2, sign, sign * ready,
                  sign * cord);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const nrow *r = &rows[i];
        if (!r->present)
            continue;
        dent *e = dget(&d->lg, K_LG, t->cid, (const char *[]){key, value, r->res}, 3);
        if (!e)
            return -ENOMEM;
        e->v[0] += sign * r->a, e->v[1] += sign * r->q, e->v[2] += sign * r->l;
        int64_t f = r->a - r->q > 0 ? r->a - r->q : 0;
        if (!r->sched)
            continue;
        if (fl_grow(&e->fv, &e->capfv, e->nfv + 1, sizeof *e->fv) != 0)
            return -ENOMEM;
        e->fv[e->nfv++] = sign > 0 ? f : -1 - f;
    }
    return rc;
}

static int lg_node(cap_delta *d, tnode *t, fl_err *err)
{
    int rc = read_rows(d, t, &t->post, &t->npost, &t->cappost, err);
    if (rc < 0)
        return rc;
    const dmap *m = &d->keys;
    for (size_t k = 0; t->present1 && k < t->n1 && rc == 0; k += 2)
        rc = lg_add(d, t, t->l1[k], t->l1[k + 1], t->post, t->npost, 1, t->ready1, t->cord1);
    if (!t->present0)
        return rc;
    /* before: the labels now that no inserted row brought, and the deleted ones */
    for (size_t k = 0; k < t->n1 && rc == 0; k += 2) {
        bool added = false;
        for (size_t j = 0; j < t->nlev && !added; j++) {
            const dent *e = &m->e[t->lev[j]];
            added = e->v[0] > 0 && !strcmp(e->s[1], t->l1[k]) && !strcmp(e->s[2], t->l1[k + 1]);
        }
        if (!added)
            rc = lg_add(d, t, t->l1[k], t->l1[k + 1], t->pre, t->npre, -1, t->ready0, t->cord0);
    }
    for (size_t j = 0; j < t->nlev && rc == 0; j++) {
        const dent *e = &m->e[t->lev[j]];
        if (e->v[0] < 0)
            rc = lg_add(d, t, e->s[1], e->s[2], t->pre, t->npre, -1, t->ready0, t->cord0);
    }
    return rc;
}

static void bind_lkey(sqlite3_stmt *s, const dent *e)
{
    ct(s, 1, e->s[0]);
    sqlite3_bind_int64(s, 2, e->cid);
    ct(s, 3, e->s[1]);
}

static int step_done(cap_delta *d, sqlite3_stmt *s, fl_err *err, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : cfail(d, NULL, err, what);
}

static int lg_write(cap_delta *d, const dent *e, fl_err *err)
{
    bool zero = !e->v[0] && !e->v[1] && !e->v[2];
    if (e->kind == K_LC) {
        if (zero)
            return 0;
        sqlite3_stmt *s = C(d, C_LC);
        bind_lkey(s, e);
        for (int i = 0; i < 3; i++)
            sqlite3_bind_int64(s, 4 + i, e->v[i]);
        if (sqlite3_step(s) != SQLITE_ROW)
            return cfail(d, s, err, "label node counts");
        bool gone = sqlite3_column_int64(s, 0) == 0;
        sqlite3_reset(s);
        if (!gone)
            return 0;
        s = C(d, C_LC_DEL);
        bind_lkey(s, e);
        return step_done(d, s, err, "label node counts");
    }
    /* the group's largest free and how many of its nodes have it: each
     * touched node that had it no longer counts, the new amounts may raise
     * it or join it; when none is left, its nodes are read again */
    sqlite3_stmt *s = C(d, C_LG_GET);
    int64_t L = 0, n = 0, L0, n0;
    bind_lkey(s, e);
    ct(s, 4, e->s[2]);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        L = sqlite3_column_int64(s, 0), n = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return cfail(d, NULL, err, "label totals");
    L0 = L, n0 = n;
    int64_t m = -1, cnt = 0;
    for (size_t i = 0; i < e->nfv; i++) {
        int64_t f = e->fv[i];
        if (f < 0)
            n -= -1 - f == L;
        else if (f > m)
            m = f, cnt = 1;
        else if (f == m)
            cnt++;
    }
    if (m > L)
        L = m, n = cnt;
    else if (m == L)
        n += cnt;
    bool fix = L > 0 && n <= 0;
    if (zero && !fix && L == L0 && n == n0)
        return 0;
    s = C(d, C_LG);
    bind_lkey(s, e);
    ct(s, 4, e->s[2]);
    for (int i = 0; i < 3; i++)
        sqlite3_bind_int64(s, 5 + i, e->v[i]);
    sqlite3_bind_int64(s, 8, L);
    sqlite3_bind_int64(s, 9, n);
    if (sqlite3_step(s) != SQLITE_ROW)
        return cfail(d, s, err, "label totals");
    bool gone =
        !sqlite3_column_int64(s, 0) && !sqlite3_column_int64(s, 1) && !sqlite3_column_int64(s, 2);
    sqlite3_reset(s);
    if (gone) {
        s = C(d, C_LG_DEL);
        bind_lkey(s, e);
        ct(s, 4, e->s[2]);
        return step_done(d, s, err, "label totals");
    }
    if (!fix)
        return 0;
    s = C(d, C_LG_SCAN);
    bind_lkey(s, e);
    ct(s, 4, e->s[2]);
    sqlite3_bind_int64(s, 5, d->nodes_gid);
    L = 0, n = 0;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t f = sqlite3_column_int64(s, 0);
        if (f > L)
            L = f, n = 1;
        else if (f == L)
            n++;
    }
    if (src != SQLITE_DONE)
        return cfail(d, s, err, "label largest free");
    sqlite3_reset(s);
    s = C(d, C_LG_SET);
    bind_lkey(s, e);
    ct(s, 4, e->s[2]);
    sqlite3_bind_int64(s, 5, L);
    sqlite3_bind_int64(s, 6, n);
    return step_done(d, s, err, "label totals");
}

/* After the other totals are written: each touched node's change, then
 * each group's. */
static int label_finish(cap_delta *d, fl_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < d->ntn && rc == 0; i++)
        if (!d->tn[i].skip)
            rc = lg_node(d, &d->tn[i], err);
    for (size_t i = 0; i < d->lg.n && rc == 0; i++)
        rc = lg_write(d, &d->lg.e[i], err);
    return rc;
}

int idx_cap_delta_apply(cap_delta *d, fl_err *err)
{
    dmap *m = &d->keys;
    int rc = label_prepare(d, err);
    for (size_t i = 0; i < m->n && rc == 0; i++)
        if (m->e[i].kind == K_NODE)
            rc = move_node(d, &m->e[i], err);
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        const dent *e = &m->e[i];
        if (!e->v[0] && !e->v[1] && !e->v[2])
            continue;
        if (e->kind == K_USE)
            rc = add_use(d, e, err);
        else if (e->kind == K_COUNT)
            rc = upsert_sums(d, C_COUNT, e, 2, 3, err);
        else if (e->kind == K_NS)
            rc = upsert_sums(d, C_NS, e, 2, 2, err);
    }
    for (size_t i = 0; i < d->groups.n && rc == 0; i++) {
        const dent *e = &d->groups.e[i];
        if (e->v[0] || e->v[1] || e->v[2])
            rc = upsert_sums(d, C_GROUP, e, 3, 3, err);
    }
    if (rc == 0)
        rc = label_finish(d, err);
    idx_cap_delta_reset(d);
    return rc;
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
    fl_index_capacity_group g = {col(s, 0),
                                 col(s, 1),
                                 col(s, 2),
                                 col(s, 3),
                                 sqlite3_column_int64(s, 4),
                                 sqlite3_column_int64(s, 5),
                                 sqlite3_column_int64(s, 6),
                                 sqlite3_column_int64(s, 7),
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
    fl_index_capacity_nodes n = {col(s, 0),
                                 col(s, 1),
                                 col(s, 2),
                                 sqlite3_column_int64(s, 3),
                                 sqlite3_column_int64(s, 4),
                                 sqlite3_column_int64(s, 5)};
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

int fl_index_capacity_namespaces(fl_index_reader *r, fl_index_usage_cb cb, void *arg, fl_err *err)
{
    return each_row(r,
                    "SELECT c.name, g.ns, g.resource, g.requested, g.limits FROM cap_ns g"
                    " JOIN clusters c ON c.id = g.cluster_id"
                    " WHERE g.requested != 0 OR g.limits != 0 ORDER BY c.name, g.ns, g.resource",
                    "capacity namespaces", ns_row, &(sink){NULL, NULL, cb, arg}, err);
}

/* ------------------------------------------------ reads by node label */

/* A cluster's totals (res "" for its node counts) less its label groups. */
typedef struct ltot {
    int64_t cid;
    char *cluster, *res;
    int64_t v[3];
} ltot;

typedef struct lread {
    sqlite3 *db;
    const char *key;
    fl_index_capacity_group_cb gcb;
    fl_index_capacity_nodes_cb ncb;
    void *arg;
    idx_smap map; /* (cid, res) -> index in t */
    ltot *t;
    size_t n, cap;
    sqlite3_stmt *zones, *walk, *has;
    fl_err *err;
} lread;

static int lr_fail(lread *l, const char *what)
{
    return fl_err_set(l->err, FL_ESQL, "capacity by node label: %s: %s", what,
                      sqlite3_errmsg(l->db));
}

/* The entry of (cid, res), created at zero with cluster's name; NULL on ENOMEM. */
static ltot *lr_get(lread *l, int64_t cid, const char *cluster, const char *res)
{
    char k[400];
    size_t rl = strlen(res);
    if (rl > sizeof k - sizeof cid)
        rl = sizeof k - sizeof cid;
    memcpy(k, &cid, sizeof cid);
    memcpy(k + sizeof cid, res, rl);
    bool created;
    int64_t *slot = idx_smap_put(&l->map, k, sizeof cid + rl, &created);
    if (!slot)
        return NULL;
    if (!created)
        return &l->t[*slot];
    if (fl_grow(&l->t, &l->cap, l->n + 1, sizeof *l->t) != 0)
        return NULL;
    ltot *t = &l->t[l->n];
    memset(t, 0, sizeof *t);
    t->cid = cid;
    t->cluster = strdup(cluster), t->res = strdup(res);
    if (!t->cluster || !t->res) {
        free(t->cluster), free(t->res);
        return NULL;
    }
    *slot = (int64_t)l->n++;
    return t;
}

/* Run sql (?1 = the key when it has one); each row: cid, cluster, resource
 * ("" for counts), then with emit the label value and 3 (+ largest) amounts
 * handed to the callbacks and taken off the cluster's totals, else 3
 * amounts added to them. */
static int lr_rows(lread *l, const char *sql, bool emit, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, src;
    if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK)
        return lr_fail(l, "prepare");
    if (emit)
        sqlite3_bind_text(s, 1, l->key, -1, SQLITE_STATIC);
    int at = emit ? 4 : 3;
    while (rc == 0 && (src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *cluster = col(s, 1), *res = col(s, 2);
        ltot *t = lr_get(l, sqlite3_column_int64(s, 0), cluster, res);
        if (!t) {
            rc = fl_err_set(err, -ENOMEM, "out of memory");
            break;
        }
        int sign = emit ? -1 : 1;
        for (int i = 0; i < 3; i++)
            t->v[i] += sign * sqlite3_column_int64(s, at + i);
        if (!emit)
            continue;
        if (res[0]) {
            fl_index_capacity_group g = {cluster,
                                         col(s, 3),
                                         "",
                                         res,
                                         sqlite3_column_int64(s, 4),
                                         sqlite3_column_int64(s, 5),
                                         sqlite3_column_int64(s, 6),
                                         sqlite3_column_int64(s, 7),
                                         true};
            rc = l->gcb(l->arg, &g);
        } else {
            fl_index_capacity_nodes n = {cluster,
                                         col(s, 3),
                                         "",
                                         sqlite3_column_int64(s, 4),
                                         sqlite3_column_int64(s, 5),
                                         sqlite3_column_int64(s, 6)};
            rc = l->ncb(l->arg, &n);
        }
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = lr_fail(l, "read");
    sqlite3_finalize(s);
    return rc;
}

/* Whether the node lacks the key (or has it empty). -1 on error. */
static int lr_unlabelled(lread *l, int64_t cid, const char *node)
{
    sqlite3_stmt *s = l->has;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, cid);
    sqlite3_bind_text(s, 2, node, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, l->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 1 : rc == SQLITE_ROW ? 0 : -1;
}

/* The largest free amount of res over the cluster's Ready, schedulable
 * nodes without the key: each (region, zone) of the cluster walked from
 * its freest node down (the cap_node_free index) to the first one without
 * the key, or to the best found so far. */
static int lr_largest(lread *l, const ltot *t, char **zones, size_t nz, int64_t *best)
{
    *best = 0;
    for (size_t z = 0; z < nz; z += 2) {
        sqlite3_stmt *s = l->walk;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, t->cid);
        sqlite3_bind_text(s, 2, zones[z], -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, zones[z + 1], -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, t->res, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, *best);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int u = lr_unlabelled(l, t->cid, col(s, 0));
            if (u < 0) {
                sqlite3_reset(s);
                return lr_fail(l, "node labels");
            }
            if (u) {
                *best = sqlite3_column_int64(s, 1);
                break;
            }
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            sqlite3_reset(s);
            return lr_fail(l, "largest free");
        }
        sqlite3_reset(s);
    }
    return 0;
}

/* The cluster's (region, zone) pairs with nodes, into zones. */
static int lr_zones(lread *l, int64_t cid, char ***zones, size_t *nz, size_t *cap)
{
    sqlite3_stmt *s = l->zones;
    int rc;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, cid);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (fl_grow(zones, cap, *nz + 2, sizeof **zones) != 0)
            break;
        (*zones)[*nz] = strdup(col(s, 0));
        (*zones)[*nz + 1] = strdup(col(s, 1));
        *nz += 2;
        if (!(*zones)[*nz - 2] || !(*zones)[*nz - 1])
            break;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return fl_err_set(l->err, -ENOMEM, "out of memory");
    return rc == SQLITE_DONE ? 0 : lr_fail(l, "zones");
}

/* What is left of each cluster after its label groups: the nodes without
 * the key, as the group "". */
static int lr_rest(lread *l)
{
    char **zones = NULL;
    size_t nz = 0, capz = 0;
    int rc = 0;
    for (size_t i = 0; i < l->n && rc == 0; i++) {
        const ltot *c = &l->t[i];
        if (c->res[0] || c->v[0] <= 0)
            continue; /* not a count row, or every node has the key */
        fl_index_capacity_nodes n = {c->cluster, "", "", c->v[0], c->v[1], c->v[2]};
        if ((rc = l->ncb(l->arg, &n)) != 0)
            break;
        for (size_t k = 0; k < nz; k++)
            free(zones[k]);
        nz = 0;
        if ((rc = lr_zones(l, c->cid, &zones, &nz, &capz)) != 0)
            break;
        for (size_t j = 0; j < l->n && rc == 0; j++) {
            const ltot *t = &l->t[j];
            if (t->cid != c->cid || !t->res[0] || (!t->v[0] && !t->v[1] && !t->v[2]))
                continue;
            int64_t best;
            if ((rc = lr_largest(l, t, zones, nz, &best)) != 0)
                break;
            fl_index_capacity_group g = {t->cluster, "",      "",   t->res, t->v[0],
                                         t->v[1],    t->v[2], best, true};
            rc = l->gcb(l->arg, &g);
        }
    }
    for (size_t k = 0; k < nz; k++)
        free(zones[k]);
    free(zones);
    return rc;
}

int fl_index_capacity_label(fl_index_reader *r, const char *key, fl_index_capacity_group_cb gcb,
                            fl_index_capacity_nodes_cb ncb, void *arg, fl_err *err)
{
    lread l;
    memset(&l, 0, sizeof l);
    l.db = fl_index_reader_db(r), l.key = key, l.gcb = gcb, l.ncb = ncb, l.arg = arg;
    l.err = err;
    int rc = 0;
    if (sqlite3_prepare_v2(l.db,
                           "SELECT region, zone FROM cap_group_nodes WHERE cluster_id = ?1"
                           " AND total > 0",
                           -1, &l.zones, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            l.db,
            "SELECT node, allocatable - requested FROM cap_node WHERE cluster_id = ?1"
            " AND region = ?2 AND zone = ?3 AND resource = ?4 AND present = 1 AND sched = 1"
            " AND allocatable - requested > ?5 ORDER BY allocatable - requested DESC",
            -1, &l.walk, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(l.db,
                           "SELECT 1 FROM objects o JOIN labels l ON l.obj_id = o.id"
                           " WHERE o.gvr_id = " NODES_GVR " AND o.ns = '' AND o.name = ?2"
                           " AND o.cluster_id = ?1 AND o.deleted_ms IS NULL AND l.key = ?3"
                           " AND l.value != ''",
                           -1, &l.has, NULL) != SQLITE_OK) {
        rc = lr_fail(&l, "prepare");
        goto out;
    }
    if ((rc = lr_rows(&l,
                      "SELECT g.cluster_id, c.name, g.resource, sum(g.allocatable),"
                      " sum(g.requested), sum(g.limits) FROM cap_group g"
                      " JOIN clusters c ON c.id = g.cluster_id GROUP BY g.cluster_id, g.resource",
                      false, err)) != 0 ||
        (rc = lr_rows(&l,
                      "SELECT g.cluster_id, c.name, '', sum(g.total), sum(g.ready),"
                      " sum(g.cordoned) FROM cap_group_nodes g"
                      " JOIN clusters c ON c.id = g.cluster_id GROUP BY g.cluster_id",
                      false, err)) != 0 ||
        (rc = lr_rows(&l,
                      "SELECT l.cluster_id, c.name, '', l.value, l.total, l.ready, l.cordoned"
                      " FROM cap_label_nodes l JOIN clusters c ON c.id = l.cluster_id"
                      " WHERE l.key = ?1",
                      true, err)) != 0 ||
        (rc = lr_rows(&l,
                      "SELECT l.cluster_id, c.name, l.resource, l.value, l.allocatable,"
                      " l.requested, l.limits, l.largest FROM cap_label l"
                      " JOIN clusters c ON c.id = l.cluster_id WHERE l.key = ?1",
                      true, err)) != 0)
        goto out;
    rc = lr_rest(&l);
out:
    sqlite3_finalize(l.zones);
    sqlite3_finalize(l.walk);
    sqlite3_finalize(l.has);
    for (size_t i = 0; i < l.n; i++)
        free(l.t[i].cluster), free(l.t[i].res);
    free(l.t);
    idx_smap_clear(&l.map);
    return rc;
}
