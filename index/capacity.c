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

#define TOTALS_VERSION 4

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
    "  PRIMARY KEY(cluster_id, ns, resource)) WITHOUT ROWID;";

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
             "  GROUP BY p.cluster_id, p.ns, x.resource;";

static int current(sqlite3 *db, bool *out, fl_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT (SELECT value FROM meta WHERE key = 'capacity_totals'),"
        " (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
        "  ('cap_node', 'cap_group', 'cap_group_nodes', 'cap_ns')),"
        " (SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'cap\\_%'"
        "  ESCAPE '\\')",
        -1, &s, NULL);
    if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return fl_err_set(err, FL_ESQL, "capacity totals: %s", sqlite3_errmsg(db));
    }
    *out = sqlite3_column_int(s, 0) == TOTALS_VERSION && sqlite3_column_int(s, 1) == 4 &&
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
 * limits, filled by idx_cap_delta_apply. */
enum { K_USE, K_NS, K_COUNT, K_NODE, K_GROUP };

typedef struct dent {
    int kind;
    int64_t cid;
    char *key;        /* the map's key: kind, cid, then the strings, each NUL-ended */
    const char *s[4]; /* the strings in key (K_NODE: s[2], s[3] owned in st) */
    char *st;         /* K_NODE: "region\0zone\0" */
    int64_t v[3];
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
};

struct cap_delta {
    sqlite3 *db;
    sqlite3_stmt *st[C_N];
    dmap keys;   /* K_USE, K_NS, K_COUNT, K_NODE */
    dmap groups; /* K_GROUP */
};

static void dmap_clear(dmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
        free(m->e[i].st);
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
    if (klen > sizeof buf && !(k = malloc(klen)))
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
    if (!(e->key = malloc(klen))) {
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
    cap_delta *d = calloc(1, sizeof *d);
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

void idx_cap_delta_reset(cap_delta *d)
{
    dmap_clear(&d->keys);
    dmap_clear(&d->groups);
}

void idx_cap_delta_free(cap_delta *d)
{
    if (!d)
        return;
    idx_cap_delta_reset(d);
    free(d->keys.e);
    free(d->groups.e);
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
    if (sign < 0)
        region = zone = "";
    size_t rl = strlen(region), zl = strlen(zone);
    char *st = malloc(rl + zl + 2);
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
    if (s)
        sqlite3_reset(s);
    return fl_err_set(err, FL_ESQL, "capacity totals: %s: %s", what, sqlite3_errmsg(d->db));
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

int idx_cap_delta_apply(cap_delta *d, fl_err *err)
{
    dmap *m = &d->keys;
    int rc = 0;
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
