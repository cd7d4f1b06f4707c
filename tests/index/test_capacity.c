/*
 * tests/index/test_capacity.c: the running capacity totals (index/capacity.c)
 * equal the aggregates they stand for after random churn — pods created,
 * rescheduled, resized, finished and deleted, nodes arriving after their
 * pods, flipping Ready/cordoned, changing zone, deleted and re-added — and
 * again after the index is reopened and after the totals are rebuilt from
 * the facts (the 'capacity_totals' version forgotten). The reference is computed here from fl_index_nodes and
 * fl_index_usage_by_node/_by_namespace, which read the fact tables. The
 * totals by node label (fl_index_capacity_label) are checked the same way
 * for the zone label and for a "pool" label that nodes gain, change, empty
 * and lose.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "index/index.h"
#include "tests/test.h"

#define MAXROWS 4096

typedef struct row {
    char key[200];
    int64_t a, b, c, d;
} row;

typedef struct table {
    row r[MAXROWS];
    size_t n;
} table;

static row *at(table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->r[i].key, key))
            return &t->r[i];
    if (t->n == MAXROWS)
        abort();
    row *r = &t->r[t->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
    return r;
}

static int cmp_row(const void *x, const void *y)
{
    return strcmp(((const row *)x)->key, ((const row *)y)->key);
}

/* Equal as sets of rows, ignoring rows that are all zeros. */
static void same(table *x, table *y, const char *what)
{
    table *t[2] = {x, y};
    for (int k = 0; k < 2; k++) {
        size_t w = 0;
        for (size_t i = 0; i < t[k]->n; i++)
            if (t[k]->r[i].a || t[k]->r[i].b || t[k]->r[i].c || t[k]->r[i].d)
                t[k]->r[w++] = t[k]->r[i];
        t[k]->n = w;
        qsort(t[k]->r, w, sizeof(row), cmp_row);
    }
    T_EQ_INT(x->n, y->n);
    for (size_t i = 0; i < x->n && i < y->n; i++) {
        T_EQ_STR(x->r[i].key, y->r[i].key);
        if (x->r[i].a != y->r[i].a || x->r[i].b != y->r[i].b || x->r[i].c != y->r[i].c ||
            x->r[i].d != y->r[i].d)
            fprintf(stderr, "%s: %s: %lld %lld %lld %lld != %lld %lld %lld %lld\n", what,
                    x->r[i].key, (long long)x->r[i].a, (long long)x->r[i].b, (long long)x->r[i].c,
                    (long long)x->r[i].d, (long long)y->r[i].a, (long long)y->r[i].b,
                    (long long)y->r[i].c, (long long)y->r[i].d);
        T_EQ_INT(x->r[i].a, y->r[i].a);
        T_EQ_INT(x->r[i].b, y->r[i].b);
        T_EQ_INT(x->r[i].c, y->r[i].c);
        T_EQ_INT(x->r[i].d, y->r[i].d);
    }
}

/* --- the reference, from the fact tables ---------------------------------- */

typedef struct ref {
    table groups, counts, ns;
    /* per node: its group and schedulability, for usage and largest free */
    struct {
        char cluster[32], name[32], group[100];
        char zone[32];
        bool sched, ready, cord;
        char res[8][32];
        int64_t alloc[8], req[8], lim[8];
        size_t n;
    } nodes[256];
    size_t nnodes;
} ref;

static int ref_node(void *arg, const fl_index_node *n)
{
    ref *f = arg;
    char k[200];
    snprintf(k, sizeof k, "%s/%s/%s", n->cluster, n->region, n->zone);
    row *c = at(&f->counts, k);
    c->a++, c->b += n->ready, c->c += n->unschedulable;
    if (f->nnodes == 256)
        abort();
    __typeof__(f->nodes[0]) *x = &f->nodes[f->nnodes++];
    memset(x, 0, sizeof *x);
    snprintf(x->cluster, sizeof x->cluster, "%s", n->cluster);
    snprintf(x->name, sizeof x->name, "%s", n->name);
    snprintf(x->group, sizeof x->group, "%s", k);
    x->sched = n->ready && !n->unschedulable;
    x->ready = n->ready, x->cord = n->unschedulable;
    snprintf(x->zone, sizeof x->zone, "%s", n->zone);
    for (size_t i = 0; i < n->n_resources && i < 8; i++) {
        snprintf(x->res[i], sizeof x->res[i], "%s", n->resources[i]);
        x->alloc[i] = n->allocatable[i];
        x->n++;
        snprintf(k, sizeof k, "%s/%s/%s/%s", n->cluster, n->region, n->zone, n->resources[i]);
        at(&f->groups, k)->a += n->allocatable[i];
    }
    return 0;
}

static int ref_usage(void *arg, const fl_index_usage *u)
{
    ref *f = arg;
    for (size_t i = 0; i < f->nnodes; i++) {
        if (strcmp(f->nodes[i].cluster, u->cluster) || strcmp(f->nodes[i].name, u->key))
            continue;
        char k[200];
        snprintf(k, sizeof k, "%s/%s", f->nodes[i].group, u->resource);
        row *g = at(&f->groups, k);
        g->b += u->requests, g->c += u->limits;
        size_t r = 0;
        while (r < f->nodes[i].n && strcmp(f->nodes[i].res[r], u->resource))
            r++;
        if (r == f->nodes[i].n && r < 8) {
            snprintf(f->nodes[i].res[r], sizeof f->nodes[i].res[r], "%s", u->resource);
            f->nodes[i].n++;
        }
        if (r < 8)
            f->nodes[i].req[r] += u->requests, f->nodes[i].lim[r] += u->limits;
    }
    return 0;
}

static int ref_ns(void *arg, const fl_index_usage *u)
{
    char k[200];
    snprintf(k, sizeof k, "%s/%s/%s", u->cluster, u->key, u->resource);
    row *r = at(&((ref *)arg)->ns, k);
    r->a += u->requests, r->b += u->limits;
    return 0;
}

static void reference(fl_index_reader *rd, ref *f)
{
    memset(f, 0, sizeof *f);
    T_EQ_INT(fl_index_nodes(rd, NULL, ref_node, f, NULL), 0);
    T_EQ_INT(fl_index_usage_by_node(rd, NULL, ref_usage, f, NULL), 0);
    T_EQ_INT(fl_index_usage_by_namespace(rd, NULL, NULL, ref_ns, f, NULL), 0);
    for (size_t i = 0; i < f->nnodes; i++)
        for (size_t r = 0; f->nodes[i].sched && r < f->nodes[i].n; r++) {
            char k[200];
            snprintf(k, sizeof k, "%s/%s", f->nodes[i].group, f->nodes[i].res[r]);
            row *g = at(&f->groups, k);
            int64_t free_ = f->nodes[i].alloc[r] - f->nodes[i].req[r];
            /* d holds largest free + 1 so that "none" (0) differs from 0 free */
            if (!g->d || free_ + 1 > g->d)
                g->d = free_ + 1;
        }
}

static const char *const CLUSTERS[] = {"east", "west"};
#define NODES 12
#define PODS 60
/* the pool label of node i of cluster cl: -1 none, 3 "", else "p<n>" */
static int pool_of[2][NODES];

static const char *pool_value(int p, char *buf, size_t n)
{
    if (p < 0)
        return NULL;
    if (p == 3)
        return "";
    snprintf(buf, n, "p%d", p);
    return buf;
}

/* Clear d where a, b, c are zero (same() then drops the row). */
static void d_only_with_amounts(table *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (!t->r[i].a && !t->r[i].b && !t->r[i].c)
            t->r[i].d = 0;
}

/* The reference by node label: pool (true) or the zone label. */
static void ref_label(const ref *f, bool pool, table *groups, table *counts)
{
    groups->n = counts->n = 0;
    for (size_t i = 0; i < f->nnodes; i++) {
        const __typeof__(f->nodes[0]) *x = &f->nodes[i];
        char k[200], pb[16];
        const char *v = x->zone;
        if (pool) {
            int cl = strcmp(x->cluster, CLUSTERS[0]) ? 1 : 0, nd = atoi(x->name + 1);
            v = pool_value(pool_of[cl][nd], pb, sizeof pb);
            if (!v)
                v = "";
        }
        snprintf(k, sizeof k, "%s/%s", x->cluster, v);
        row *c = at(counts, k);
        c->a++, c->b += x->ready, c->c += x->cord;
        for (size_t r = 0; r < x->n; r++) {
            snprintf(k, sizeof k, "%s/%s/%s", x->cluster, v, x->res[r]);
            row *g = at(groups, k);
            g->a += x->alloc[r], g->b += x->req[r], g->c += x->lim[r];
            int64_t free_ = x->alloc[r] - x->req[r];
            if (!g->d)
                g->d = 1;
            if (x->sched && free_ + 1 > g->d)
                g->d = free_ + 1;
        }
    }
    d_only_with_amounts(groups);
}

/* --- the running totals ----------------------------------------------------- */

static int got_group(void *arg, const fl_index_capacity_group *g)
{
    char k[200];
    snprintf(k, sizeof k, "%s/%s/%s/%s", g->cluster, g->region, g->zone, g->resource);
    row *r = at(arg, k);
    r->a += g->allocatable, r->b += g->requested, r->c += g->limits;
    r->d = g->has_largest_free ? g->largest_free + 1 : 0;
    return 0;
}

static int got_count(void *arg, const fl_index_capacity_nodes *n)
{
    char k[200];
    snprintf(k, sizeof k, "%s/%s/%s", n->cluster, n->region, n->zone);
    row *r = at(arg, k);
    r->a += n->total, r->b += n->ready, r->c += n->cordoned;
    return 0;
}

static int got_ns(void *arg, const fl_index_usage *u)
{
    char k[200];
    snprintf(k, sizeof k, "%s/%s/%s", u->cluster, u->key, u->resource);
    row *r = at(arg, k);
    r->a += u->requests, r->b += u->limits;
    return 0;
}

static int got_lgroup(void *arg, const fl_index_capacity_group *g)
{
    char k[200];
    snprintf(k, sizeof k, "%s/%s/%s", g->cluster, g->region, g->resource);
    row *r = at(arg, k);
    r->a += g->allocatable, r->b += g->requested, r->c += g->limits;
    T_CHECK(g->has_largest_free && g->largest_free >= 0);
    r->d = g->largest_free + 1;
    return 0;
}

static int got_lcount(void *arg, const fl_index_capacity_nodes *n)
{
    char k[200];
    snprintf(k, sizeof k, "%s/%s", n->cluster, n->region);
    row *r = at(arg, k);
    r->a += n->total, r->b += n->ready, r->c += n->cordoned;
    return 0;
}

/* fl_index_capacity_label's two callbacks take different tables. */
static table *lcounts_of;
static int got_lcount_t(void *arg, const fl_index_capacity_nodes *n)
{
    (void)arg;
    return got_lcount(lcounts_of, n);
}

static void compare(fl_index *idx, const char *when)
{
    static ref f;
    static table g, c, n, lg, lc, rg, rc;
    fl_index_reader *rd = NULL;
    T_EQ_INT(fl_index_flush(idx, 30000), 0);
    T_EQ_INT(fl_index_reader_new(idx, &rd, NULL), 0);
    T_EQ_INT(fl_index_reader_begin(rd), 0);
    reference(rd, &f);
    g.n = c.n = n.n = 0;
    T_EQ_INT(fl_index_capacity_groups(rd, got_group, &g, NULL), 0);
    T_EQ_INT(fl_index_capacity_node_counts(rd, got_count, &c, NULL), 0);
    T_EQ_INT(fl_index_capacity_namespaces(rd, got_ns, &n, NULL), 0);
    for (int pool = 0; pool < 2; pool++) {
        lg.n = lc.n = 0;
        lcounts_of = &lc;
        T_EQ_INT(fl_index_capacity_label(rd, pool ? "pool" : "topology.kubernetes.io/zone",
                                         got_lgroup, got_lcount_t, &lg, NULL),
                 0);
        d_only_with_amounts(&lg);
        ref_label(&f, pool, &rg, &rc);
        T_CHECK(rg.n > 0);
        same(&lg, &rg, pool ? "by pool" : "by zone label");
        same(&lc, &rc, pool ? "by pool, nodes" : "by zone label, nodes");
    }
    fl_index_reader_end(rd);
    fl_index_reader_free(rd);
    fprintf(stderr, "%s: %zu groups, %zu node counts, %zu namespace rows\n", when, f.groups.n,
            f.counts.n, f.ns.n);
    T_CHECK(f.groups.n > 0 && f.counts.n > 0 && f.ns.n > 0);
    same(&g, &f.groups, "groups");
    same(&c, &f.counts, "node counts");
    same(&n, &f.ns, "namespaces");
}

/* --- churn -------------------------------------------------------------------- */

static void node_ev(fl_index *idx, const char *type, int cl, int i, int rv, int zone, bool ready,
                    bool cordoned, int cpu, bool gpu, int pool)
{
    fl_index_src src = {CLUSTERS[cl], "", "v1", "nodes", "Node"};
    char buf[2048], pl[64] = "", pb[16];
    const char *pv = pool_value(pool, pb, sizeof pb);
    if (pv)
        snprintf(pl, sizeof pl, ",\"pool\":\"%s\"", pv);
    if (strcmp(type, "DELETED"))
        pool_of[cl][i] = pool;
    snprintf(buf, sizeof buf,
             "{\"type\":\"%s\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\","
             "\"metadata\":{\"name\":\"n%d\",\"uid\":\"u-%d-%d\",\"resourceVersion\":\"%d\","
             "\"labels\":{\"topology.kubernetes.io/region\":\"r%d\","
             "\"topology.kubernetes.io/zone\":\"z%d\"%s}},\"spec\":{\"unschedulable\":%s},"
             "\"status\":{\"allocatable\":{\"cpu\":\"%d\",\"memory\":\"8Gi\",\"pods\":\"20\"%s},"
             "\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}}",
             type, i, cl, i, rv, cl, zone, pl, cordoned ? "true" : "false", cpu,
             gpu ? ",\"nvidia.com/gpu\":\"4\"" : "", ready ? "True" : "False");
    T_EQ_INT(fl_index_submit_event(idx, &src, buf, strlen(buf), NULL), 0);
}

static void pod_ev(fl_index *idx, const char *type, int cl, int i, int rv, int node, int cpu_m,
                   bool gpu, const char *phase)
{
    fl_index_src src = {CLUSTERS[cl], "", "v1", "pods", "Pod"};
    char buf[2048], nodename[16] = "";
    if (node >= 0)
        snprintf(nodename, sizeof nodename, "n%d", node);
    snprintf(buf, sizeof buf,
             "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
             "\"metadata\":{\"name\":\"p%d\",\"namespace\":\"ns%d\",\"uid\":\"p-%d-%d\","
             "\"resourceVersion\":\"%d\"},\"spec\":{\"nodeName\":\"%s\",\"containers\":[{"
             "\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"%dm\",\"memory\":\"%dMi\"%s},"
             "\"limits\":{\"cpu\":\"%dm\"%s}}}]},\"status\":{\"phase\":\"%s\"}}}",
             type, i, i % 3, cl, i, rv, nodename, cpu_m, cpu_m / 2,
             gpu ? ",\"nvidia.com/gpu\":\"1\"" : "", cpu_m * 2,
             gpu ? ",\"nvidia.com/gpu\":\"1\"" : "", phase);
    T_EQ_INT(fl_index_submit_event(idx, &src, buf, strlen(buf), NULL), 0);
}

int main(void)
{
    char dir[] = "/tmp/fl-test-capacity-XXXXXX", path[300];
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/idx.db", dir);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    fl_index *idx = NULL;
    T_EQ_INT(fl_index_open(&o, &idx, NULL), 0);
    unsigned seed = 12345;
    int rv = 1;
    bool node_live[2][NODES] = {{false}}, pod_live[2][PODS] = {{false}};
    /* pods first, on nodes that do not exist yet; then half the nodes */
    for (int cl = 0; cl < 2; cl++)
        for (int i = 0; i < PODS / 2; i++) {
            pod_ev(idx, "ADDED", cl, i, rv++, i % NODES, 100 + i, i % 7 == 0, "Running");
            pod_live[cl][i] = true;
        }
    for (int cl = 0; cl < 2; cl++)
        for (int i = 0; i < NODES / 2; i++) {
            node_ev(idx, "ADDED", cl, i, rv++, i % 3, true, false, 8, i % 4 == 0, i % 5 - 1);
            node_live[cl][i] = true;
        }
    compare(idx, "pods before nodes");
    for (int step = 0; step < 600; step++) {
        int cl = (int)(rand_r(&seed) % 2), what = (int)(rand_r(&seed) % 10);
        if (what < 3) { /* a node: added, changed or deleted */
            int i = (int)(rand_r(&seed) % NODES);
            if (node_live[cl][i] && rand_r(&seed) % 4 == 0) {
                node_ev(idx, "DELETED", cl, i, rv++, 0, true, false, 8, false, -1);
                node_live[cl][i] = false;
            } else {
                node_ev(idx, node_live[cl][i] ? "MODIFIED" : "ADDED", cl, i, rv++,
                        (int)(rand_r(&seed) % 3), rand_r(&seed) % 5 != 0, rand_r(&seed) % 6 == 0,
                        4 + (int)(rand_r(&seed) % 8), i % 4 == 0,
                        rand_r(&seed) % 3 ? pool_of[cl][i] : (int)(rand_r(&seed) % 5) - 1);
                node_live[cl][i] = true;
            }
        } else { /* a pod: created, moved, resized, finished or deleted */
            int i = (int)(rand_r(&seed) % PODS);
            static const char *const phases[] = {"Running", "Running", "Pending", "Succeeded",
                                                 "Failed"};
            if (pod_live[cl][i] && rand_r(&seed) % 5 == 0) {
                pod_ev(idx, "DELETED", cl, i, rv++, 0, 100, false, "Running");
                pod_live[cl][i] = false;
            } else {
                int node = (int)(rand_r(&seed) % (NODES + 2)) - 1; /* -1: unscheduled */
                pod_ev(idx, pod_live[cl][i] ? "MODIFIED" : "ADDED", cl, i, rv++,
                       node >= NODES ? NODES + 5 : node, 50 * (1 + (int)(rand_r(&seed) % 20)),
                       i % 7 == 0, phases[rand_r(&seed) % 5]);
                pod_live[cl][i] = true;
            }
        }
        if (step % 150 == 149)
            compare(idx, "churn");
    }
    compare(idx, "after churn");
    fl_index_close(idx);
    idx = NULL;
    T_EQ_INT(fl_index_open(&o, &idx, NULL), 0);
    compare(idx, "reopened");
    fl_index_close(idx);
    /* forget the totals' version: the next open rebuilds them from the facts */
    sqlite3 *db = NULL;
    T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    T_EQ_INT(sqlite3_exec(db,
                          "DELETE FROM meta WHERE key = 'capacity_totals';"
                          "DELETE FROM cap_group; DELETE FROM cap_label;"
                          "DELETE FROM cap_label_nodes;",
                          NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(db);
    idx = NULL;
    T_EQ_INT(fl_index_open(&o, &idx, NULL), 0);
    compare(idx, "rebuilt");
    fl_index_close(idx);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_EQ_INT(system(cmd), 0);
    return t_done();
}
