/*
 * web/capacity.c: the capacity document (web.h, fl_web_capacity). It reads
 * the index's running capacity totals — per (cluster, region, zone,
 * resource) and per (cluster, namespace, resource), kept by the index's
 * writer — in one reader snapshot, and folds them into groups, so its cost
 * follows the number of groups, not of nodes or pods; groupBy=node-label:<key>
 * reads the totals per (key, value, cluster) the writer keeps too, less
 * from each cluster's for the nodes without the key.
 * Owns nothing beyond one call; touches no other module's state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "web/web_int.h"

#define NONE "<none>"

typedef enum { BY_CLUSTER, BY_REGION, BY_ZONE, BY_PROVIDER, BY_NAMESPACE, BY_LABEL } by_kind;

typedef struct cgroup {
    char *name;
    int64_t total, ready, not_ready, cordoned;
    int64_t alloc[FL_WEB_CAPACITY_MAX_RESOURCES], req[FL_WEB_CAPACITY_MAX_RESOURCES],
        lim[FL_WEB_CAPACITY_MAX_RESOURCES], largest[FL_WEB_CAPACITY_MAX_RESOURCES];
    bool has_alloc[FL_WEB_CAPACITY_MAX_RESOURCES], has_use[FL_WEB_CAPACITY_MAX_RESOURCES];
} cgroup;

typedef struct cap {
    by_kind by;
    const char *label_key;
    const fl_web_member *members;
    size_t nmembers;
    const char **allowed; /* NULL = all */
    size_t nallowed;
    const fl_web_scope *scope;
    char seen_cluster[254], seen_ns[254]; /* the last sees() answer, memoized */
    bool seen, seen_ok;
    char *resources[FL_WEB_CAPACITY_MAX_RESOURCES];
    size_t nres;
    cgroup *groups;
    size_t ngroups, capgroups, last_group;
    int rc;
    fl_err *err;
} cap;

static int fail(cap *c, int rc, const char *what)
{
    if (!c->rc)
        c->rc = fl_err_set(c->err, rc, "capacity: %s", what);
    return 1;
}

static bool cluster_allowed(const cap *c, const char *cluster)
{
    if (!c->allowed)
        return true;
    for (size_t i = 0; i < c->nallowed; i++)
        if (!strcmp(c->allowed[i], cluster))
            return true;
    return false;
}

/* Whether the scope shows (cluster, ns); ns "" = the cluster's nodes. Rows
 * come ordered by cluster (and namespace), so one remembered answer saves
 * nearly every call. */
static bool allowed_in(cap *c, const char *cluster, const char *ns)
{
    if (!cluster_allowed(c, cluster))
        return false;
    if (!c->scope || !c->scope->sees)
        return true;
    if (c->seen && !strcmp(c->seen_cluster, cluster) && !strcmp(c->seen_ns, ns))
        return c->seen_ok;
    c->seen_ok = c->scope->sees(c->scope->ud, cluster, ns);
    size_t lc = strlen(cluster), ln = strlen(ns);
    c->seen = lc < sizeof c->seen_cluster && ln < sizeof c->seen_ns;
    if (c->seen) {
        memcpy(c->seen_cluster, cluster, lc + 1);
        memcpy(c->seen_ns, ns, ln + 1);
    }
    return c->seen_ok;
}

static bool allowed(cap *c, const char *cluster)
{
    return allowed_in(c, cluster, "");
}

static const char *member_label(const cap *c, const char *cluster, const char *key)
{
    for (size_t i = 0; i < c->nmembers; i++) {
        if (strcmp(c->members[i].name, cluster) != 0)
            continue;
        for (size_t l = 0; l < c->members[i].nlabels; l++)
            if (!strcmp(c->members[i].label_keys[l], key))
                return c->members[i].label_values[l];
    }
    return NULL;
}

/* Index of resource name in c->resources, adding it; -1 when full. */
static int res_id(cap *c, const char *name)
{
    for (size_t i = 0; i < c->nres; i++)
        if (!strcmp(c->resources[i], name))
            return (int)i;
    if (c->nres >= FL_WEB_CAPACITY_MAX_RESOURCES)
        return -1;
    if (!(c->resources[c->nres] = strdup(name)))
        return -1;
    return (int)c->nres++;
}

/* Group index for name, adding it; (size_t)-1 on failure (c->rc set). */
static size_t group_id(cap *c, const char *name)
{
    if (c->last_group < c->ngroups && !strcmp(c->groups[c->last_group].name, name))
        return c->last_group;
    for (size_t i = 0; i < c->ngroups; i++)
        if (!strcmp(c->groups[i].name, name))
            return c->last_group = i;
    if (c->ngroups >= FL_WEB_CAPACITY_MAX_GROUPS) {
        fail(c, -E2BIG, "too many groups (at most 10000)");
        return (size_t)-1;
    }
    if (fl_grow(&c->groups, &c->capgroups, c->ngroups + 1, sizeof *c->groups) != 0) {
        fail(c, -ENOMEM, "out of memory");
        return (size_t)-1;
    }
    cgroup *g = &c->groups[c->ngroups];
    memset(g, 0, sizeof *g);
    if (!(g->name = strdup(name))) {
        fail(c, -ENOMEM, "out of memory");
        return (size_t)-1;
    }
    return c->last_group = c->ngroups++;
}

static const char *group_of(const cap *c, const char *cluster, const char *region, const char *zone)
{
    const char *v = NULL;
    switch (c->by) {
    case BY_CLUSTER: v = cluster; break;
    case BY_REGION: v = region[0] ? region : member_label(c, cluster, "region"); break;
    case BY_ZONE: v = zone[0] ? zone : member_label(c, cluster, "zone"); break;
    case BY_PROVIDER: v = member_label(c, cluster, "provider"); break;
    case BY_LABEL: v = region; break; /* the label's value */
    case BY_NAMESPACE: break;
    }
    return v && v[0] ? v : NONE;
}

/* A row of the running totals: one (cluster, region, zone, resource). */
static int on_total(void *arg, const fl_index_capacity_group *t)
{
    cap *c = arg;
    if (!allowed(c, t->cluster))
        return 0;
    size_t g = group_id(c, group_of(c, t->cluster, t->region, t->zone));
    if (g == (size_t)-1)
        return 1;
    int r = res_id(c, t->resource);
    if (r < 0)
        return fail(c, -E2BIG, "too many distinct resources");
    cgroup *gr = &c->groups[g];
    gr->alloc[r] += t->allocatable;
    gr->req[r] += t->requested;
    gr->lim[r] += t->limits;
    gr->has_alloc[r] = true;
    gr->has_use[r] |= t->requested != 0 || t->limits != 0;
    if (t->has_largest_free && t->largest_free > gr->largest[r])
        gr->largest[r] = t->largest_free;
    return 0;
}

static int on_node_count(void *arg, const fl_index_capacity_nodes *n)
{
    cap *c = arg;
    if (!allowed(c, n->cluster))
        return 0;
    size_t g = group_id(c, group_of(c, n->cluster, n->region, n->zone));
    if (g == (size_t)-1)
        return 1;
    cgroup *gr = &c->groups[g];
    gr->total += n->total;
    gr->ready += n->ready;
    gr->not_ready += n->total - n->ready;
    gr->cordoned += n->cordoned;
    return 0;
}

static int on_ns_usage(void *arg, const fl_index_usage *u)
{
    cap *c = arg;
    if (!allowed_in(c, u->cluster, u->key))
        return 0;
    size_t g = group_id(c, u->key[0] ? u->key : NONE);
    if (g == (size_t)-1)
        return 1;
    int r = res_id(c, u->resource);
    if (r < 0)
        return fail(c, -E2BIG, "too many distinct resources");
    c->groups[g].req[r] += u->requests;
    c->groups[g].lim[r] += u->limits;
    c->groups[g].has_use[r] = true;
    return 0;
}

static int parse_by(cap *c, const char *s)
{
    static const struct {
        const char *name;
        by_kind by;
    } kinds[] = {{"cluster", BY_CLUSTER},
                 {"region", BY_REGION},
                 {"zone", BY_ZONE},
                 {"provider", BY_PROVIDER},
                 {"namespace", BY_NAMESPACE}};
    if (!s || !s[0])
        s = "cluster";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(s, kinds[i].name)) {
            c->by = kinds[i].by;
            return 0;
        }
    if (!strncmp(s, "node-label:", 11) && s[11] && strlen(s + 11) <= 316) {
        c->by = BY_LABEL;
        c->label_key = s + 11;
        return 0;
    }
    return fl_err_set(c->err, -EINVAL,
                      "groupBy must be cluster, region, zone, provider, "
                      "namespace or node-label:<key>");
}

/* Milli-units to the resource's base unit. */
static json_t *num(int64_t milli)
{
    return json_real((double)milli / 1000.0);
}

static json_t *group_json(const cap *c, const cgroup *g)
{
    json_t *o = json_object(), *res = json_object();
    if (!o || !res) {
        json_decref(o);
        json_decref(res);
        return NULL;
    }
    if (c->by != BY_NAMESPACE)
        json_object_set_new(o, "nodes",
                            json_pack("{sIsIsIsI}", "total", (json_int_t)g->total, "ready",
                                      (json_int_t)g->ready, "notReady", (json_int_t)g->not_ready,
                                      "cordoned", (json_int_t)g->cordoned));
    for (size_t r = 0; r < c->nres; r++) {
        if (!g->has_alloc[r] && !g->has_use[r])
            continue;
        json_t *e = json_object();
        if (c->by != BY_NAMESPACE) {
            json_object_set_new(e, "allocatable", num(g->alloc[r]));
            json_object_set_new(e, "free", num(g->alloc[r] - g->req[r]));
            json_object_set_new(e, "largestFree", num(g->largest[r]));
        }
        json_object_set_new(e, "requested", num(g->req[r]));
        json_object_set_new(e, "limits", num(g->lim[r]));
        json_object_set_new(res, c->resources[r], e);
    }
    json_object_set_new(o, "name", json_string(g->name));
    json_object_set_new(o, "resources", res);
    return o;
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const cgroup *)a)->name, ((const cgroup *)b)->name);
}

static int build(cap *c, const char *group_by, int64_t revision, json_t **out)
{
    if (c->ngroups)
        qsort(c->groups, c->ngroups, sizeof *c->groups, cmp_group);
    json_t *doc = json_object(), *arr = json_array();
    if (!doc || !arr) {
        json_decref(doc);
        json_decref(arr);
        return fl_err_set(c->err, -ENOMEM, "out of memory");
    }
    json_object_set_new(doc, "groupBy",
                        json_string(group_by && group_by[0] ? group_by : "cluster"));
    json_object_set_new(doc, "revision", json_integer(revision));
    json_object_set_new(doc, "groups", arr);
    for (size_t i = 0; i < c->ngroups; i++) {
        json_t *g = group_json(c, &c->groups[i]);
        if (!g || json_array_append_new(arr, g)) {
            json_decref(doc);
            return fl_err_set(c->err, -ENOMEM, "out of memory");
        }
    }
    *out = doc;
    return 0;
}

static void cap_done(cap *c)
{
    for (size_t i = 0; i < c->nres; i++)
        free(c->resources[i]);
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i].name);
    free(c->groups);
    free(c->allowed);
}

static int set_allowed(cap *c, const fl_web_scope *scope)
{
    const json_t *allowed_ = scope ? scope->clusters : NULL;
    c->scope = scope;
    if (!allowed_)
        return 0;
    size_t n = json_array_size(allowed_), i;
    c->allowed = calloc(n + 1, sizeof *c->allowed);
    if (!c->allowed)
        return fl_err_set(c->err, -ENOMEM, "out of memory");
    const json_t *e;
    json_array_foreach(allowed_, i, e) {
        const char *s = json_string_value(json_object_get(e, "name"));
        if (s)
            c->allowed[c->nallowed++] = s;
    }
    return 0;
}

int fl_web_capacity(fl_index_reader *rd, const fl_web_member *members, size_t nmembers,
                    const char *group_by, const fl_web_scope *scope, json_t **out, fl_err *err)
{
    cap c;
    memset(&c, 0, sizeof c);
    c.err = err, c.members = members, c.nmembers = nmembers;
    int64_t rev = 0;
    int rc = parse_by(&c, group_by);
    if (rc || (rc = set_allowed(&c, scope)))
        goto out;
    if ((rc = fl_index_reader_begin(rd)) != 0) {
        fl_err_set(err, rc, "capacity: cannot open a snapshot");
        goto out;
    }
    fl_index_reader_revision(rd, &rev);
    if (c.by == BY_NAMESPACE)
        rc = fl_index_capacity_namespaces(rd, on_ns_usage, &c, err);
    else if (c.by != BY_LABEL) {
        rc = fl_index_capacity_node_counts(rd, on_node_count, &c, err);
        if (!rc && !c.rc)
            rc = fl_index_capacity_groups(rd, on_total, &c, err);
    } else
        rc = fl_index_capacity_label(rd, c.label_key, on_total, on_node_count, &c, err);
    fl_index_reader_end(rd);
    if (c.rc)
        rc = c.rc;
    if (!rc)
        rc = build(&c, group_by, rev, out);
out:
    cap_done(&c);
    return rc;
}
