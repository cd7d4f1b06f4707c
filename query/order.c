/*
 * query/order.c: Clusterpedia's orderby for the search API. Fields cluster,
 * namespace, name, created_at and resource_version, each ascending or
 * descending ("name desc" in the orderby query parameter, "name_desc" in
 * the search.clusterpedia.io/orderby label, whose values arrive sorted as
 * labels.Parse leaves them), any combination; ties are broken by the
 * index key (namespace, name, cluster) so the order is total.
 *
 * An ordered LIST collects the sort keys of every matching row of the
 * snapshot (capped at QUERY_ORDER_MAX_ROWS), sorts them and serves the page
 * after the continue token's position: keyset paging over the sort key, so
 * an object unchanged while the pages are read appears exactly once (its
 * sort key does not move). resource_version compares as an integer when
 * both values are integers (Kubernetes' are), else as text.
 * Pure functions on caller-owned data; no index or HTTP state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

static const char *const FIELDS[] = {"cluster", "namespace", "name", "created_at",
                                     "resource_version"};

int query_order_add(query_order *o, const char *spec, fl_err *err)
{
    char f[64];
    size_t n = strlen(spec);
    bool desc = false;
    while (n && spec[n - 1] == ' ')
        n--;
    while (n && *spec == ' ')
        spec++, n--;
    if (n > 5 && (!strncmp(spec + n - 5, " desc", 5) || !strncmp(spec + n - 5, "_desc", 5)))
        desc = true, n -= 5;
    else if (n > 4 && !strncmp(spec + n - 4, " asc", 4))
        n -= 4;
    while (n && spec[n - 1] == ' ')
        n--;
    if (n >= sizeof f)
        return fl_err_set(err, FL_EPARSE, "orderby: unknown field \"%.64s\"", spec);
    memcpy(f, spec, n);
    f[n] = 0;
    for (size_t i = 0; i < FL_ARRAY_LEN(FIELDS); i++) {
        if (strcmp(f, FIELDS[i]) != 0)
            continue;
        if (o->n >= QUERY_ORDER_MAX)
            return fl_err_set(err, -E2BIG, "orderby: at most %d fields", QUERY_ORDER_MAX);
        o->by[o->n].field = (query_order_field)i;
        o->by[o->n++].desc = desc;
        return 0;
    }
    return fl_err_set(err, FL_EPARSE,
                      "orderby: unknown field \"%s\" (want cluster, namespace, "
                      "name, created_at or resource_version, optionally with \" desc\")",
                      f);
}

uint32_t query_order_sig(const query_order *o)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < o->n; i++) {
        h = (h ^ (uint32_t)(o->by[i].field + 1)) * 16777619u;
        h = (h ^ (uint32_t)o->by[i].desc) * 16777619u;
    }
    return h;
}

/* ---- rows ------------------------------------------------------------------ */

int query_sorted_add(query_sorted *s, const fl_index_row *row)
{
    if (s->n >= QUERY_ORDER_MAX_ROWS)
        return -E2BIG;
    if (fl_grow(&s->v, &s->cap, s->n + 1, sizeof *s->v) < 0)
        return -ENOMEM;
    query_sort_row *d = &s->v[s->n];
    char rv[24]; /* the resourceVersion served (query_row_json's rule) */
    snprintf(rv, sizeof rv, "%lld", (long long)row->revision);
    size_t lc = strlen(row->cluster) + 1, ln = strlen(row->namespace_) + 1,
           lm = strlen(row->name) + 1, lr = strlen(rv) + 1;
    char *p = malloc(lc + ln + lm + lr);
    if (!p)
        return -ENOMEM;
    d->cluster = memcpy(p, row->cluster, lc);
    d->ns = memcpy(p + lc, row->namespace_, ln);
    d->name = memcpy(p + lc + ln, row->name, lm);
    d->rv = memcpy(p + lc + ln + lm, rv, lr);
    d->created = row->created;
    s->n++;
    return 0;
}

void query_sorted_done(query_sorted *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].cluster); /* one block per row */
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_rv(const char *a, const char *b)
{
    int64_t x, y;
    if (fl_parse_i64(a, strlen(a), &x) == 0 && fl_parse_i64(b, strlen(b), &y) == 0)
        return x < y ? -1 : x > y;
    return strcmp(a, b);
}

static int cmp_field(query_order_field f, const query_sort_row *a, const query_sort_row *b)
{
    switch (f) {
    case QUERY_ORDER_CLUSTER: return strcmp(a->cluster, b->cluster);
    case QUERY_ORDER_NAMESPACE: return strcmp(a->ns, b->ns);
    case QUERY_ORDER_NAME: return strcmp(a->name, b->name);
    case QUERY_ORDER_CREATED: return a->created < b->created ? -1 : a->created > b->created;
    default: return cmp_rv(a->rv, b->rv);
    }
}

static int cmp_rows(const query_sort_row *a, const query_sort_row *b, const query_order *o)
{
    for (size_t i = 0; i < o->n; i++) {
        int c = cmp_field(o->by[i].field, a, b);
        if (c)
            return o->by[i].desc ? -c : c;
    }
    int c = strcmp(a->ns, b->ns);
    if (!c)
        c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->cluster, b->cluster);
}

static int qcmp(const void *a, const void *b, void *ud)
{
    return cmp_rows(a, b, ud);
}

void query_sorted_sort(query_sorted *s, const query_order *o)
{
    if (s->n > 1)
        qsort_r(s->v, s->n, sizeof *s->v, qcmp, (void *)o);
}

size_t query_sorted_after(const query_sorted *s, const query_order *o, const fl_query_cursor *c)
{
    query_sort_row k = {(char *)c->cluster, (char *)c->namespace_, (char *)c->name, (char *)c->rv,
                        c->created};
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_rows(&s->v[mid], &k, o) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void query_sorted_cursor(const query_sort_row *r, const query_order *o, int64_t revision,
                         fl_query_cursor *c)
{
    memset(c, 0, sizeof *c);
    c->revision = revision;
    c->ordered = true;
    c->order_sig = query_order_sig(o);
    c->created = r->created;
    fl_strlcpy(c->cluster, r->cluster, sizeof c->cluster);
    fl_strlcpy(c->namespace_, r->ns, sizeof c->namespace_);
    fl_strlcpy(c->name, r->name, sizeof c->name);
    if (strlen(r->rv) < sizeof c->rv && !strchr(r->rv, '/'))
        fl_strlcpy(c->rv, r->rv, sizeof c->rv);
}
