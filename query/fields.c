/*
 * query/fields.c: field selectors on any JSON path of an object, the search
 * API's superset of Kubernetes' fields.Selector: terms "path=value",
 * "path==value", "path!=value" with fields' escaping (\\ \, \=), plus
 * "path>N" and "path<N" (integers), where path is dotted with an optional
 * leading '.', and a segment ending in "[]" means "any element of this
 * list" (spec.containers[].image=nginx:1.25). As upstream, an absent field
 * reads as "". Numbers and booleans compare by their JSON text.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

#define FIELDS_MAX_INPUT (16u << 10)
#define FIELDS_MAX_TERMS 64
#define FIELDS_MAX_DEPTH 16

typedef enum { OP_EQ, OP_NE, OP_GT, OP_LT } field_op;

typedef struct field_term {
    char *segs[FIELDS_MAX_DEPTH]; /* path segments, "[]" stripped */
    bool list[FIELDS_MAX_DEPTH];  /* segment is a list ("[]") */
    size_t nsegs;
    field_op op;
    char *value;
    int64_t num;
} field_term;

struct fl_query_fields {
    field_term terms[FIELDS_MAX_TERMS];
    size_t n;
};

void fl_query_fields_free(fl_query_fields *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        for (size_t k = 0; k < f->terms[i].nsegs; k++)
            free(f->terms[i].segs[k]);
        free(f->terms[i].value);
    }
    free(f);
}

static int parse_path(field_term *t, const char *s, size_t n, fl_err *err)
{
    if (n && s[0] == '.')
        s++, n--;
    while (n) {
        const char *dot = memchr(s, '.', n);
        size_t len = dot ? (size_t)(dot - s) : n;
        bool list = len >= 2 && s[len - 2] == '[' && s[len - 1] == ']';
        size_t name = list ? len - 2 : len;
        if (!name || t->nsegs >= FIELDS_MAX_DEPTH || memchr(s, '[', name) || memchr(s, ']', name))
            return fl_err_set(err, FL_EPARSE, "invalid field path \"%.*s\"", (int)n, s);
        if (!(t->segs[t->nsegs] = fl_strndup(s, name)))
            return -ENOMEM;
        t->list[t->nsegs++] = list;
        s += len + (dot ? 1 : 0);
        n -= len + (dot ? 1 : 0);
        if (dot && !n)
            return fl_err_set(err, FL_EPARSE, "invalid field path: trailing '.'");
    }
    return t->nsegs ? 0 : fl_err_set(err, FL_EPARSE, "field selector term without a field");
}

/* Unescape value s[0..n): \\ \, \= only; bare ',' '=' are errors. */
static int parse_value(field_term *t, const char *s, size_t n, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(FIELDS_MAX_INPUT);
    int rc = fl_buf_puts(&b, "");
    for (size_t i = 0; i < n && !rc; i++) {
        char c = s[i];
        if (c == '\\') {
            if (i + 1 >= n || (s[i + 1] != '\\' && s[i + 1] != ',' && s[i + 1] != '='))
                rc = fl_err_set(err, FL_EPARSE, "invalid field selector: invalid escape sequence");
            else
                rc = fl_buf_append(&b, &s[++i], 1);
        } else if (c == '=' || c == ',') {
            rc = fl_err_set(err, FL_EPARSE, "invalid field selector: unescaped '%c' in value", c);
        } else {
            rc = fl_buf_append(&b, &c, 1);
        }
    }
    if (rc) {
        fl_buf_done(&b);
        return rc;
    }
    t->value = fl_buf_steal(&b);
    if (!t->value)
        return -ENOMEM;
    if ((t->op == OP_GT || t->op == OP_LT) &&
        fl_parse_i64(t->value, strlen(t->value), &t->num) != 0)
        return fl_err_set(err, FL_EPARSE, "invalid field selector: \"%s\" is not an integer",
                          t->value);
    return 0;
}

static int parse_term(field_term *t, const char *s, size_t n, fl_err *err)
{
    size_t i = 0;
    while (i < n && !strchr("!=<>", s[i]))
        i++;
    if (i == n)
        return fl_err_set(err, FL_EPARSE, "invalid selector: '%.*s'; can't understand it",
                          (int)(n > 200 ? 200 : n), s);
    size_t oplen = 1;
    if (s[i] == '!') {
        if (i + 1 >= n || s[i + 1] != '=')
            return fl_err_set(err, FL_EPARSE, "invalid selector: bad operator");
        t->op = OP_NE, oplen = 2;
    } else if (s[i] == '=') {
        t->op = OP_EQ, oplen = (i + 1 < n && s[i + 1] == '=') ? 2 : 1;
    } else {
        t->op = s[i] == '>' ? OP_GT : OP_LT;
    }
    int rc = parse_path(t, s, i, err);
    return rc ? rc : parse_value(t, s + i + oplen, n - i - oplen, err);
}

int fl_query_fields_parse(const char *s, fl_query_fields **out, fl_err *err)
{
    size_t n = strlen(s);
    if (n > FIELDS_MAX_INPUT)
        return fl_err_set(err, -E2BIG, "field selector longer than %u bytes", FIELDS_MAX_INPUT);
    fl_query_fields *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    int rc = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n && !rc; i++) {
        if (i < n && s[i] == '\\') {
            i++;
            continue;
        }
        if (i < n && s[i] != ',')
            continue;
        if (i > start || i < n) {
            if (f->n >= FIELDS_MAX_TERMS)
                rc = fl_err_set(err, -E2BIG, "more than %d field selector terms", FIELDS_MAX_TERMS);
            else
                rc = parse_term(&f->terms[f->n++], s + start, i - start, err);
        }
        start = i + 1;
    }
    if (rc) {
        fl_query_fields_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- matching ----------------------------------------------------------- */

typedef struct match_state {
    const field_term *t;
    bool any_value, hit;
} match_state;

static bool value_text(const json_t *v, char *buf, size_t size, const char **out)
{
    if (json_is_string(v))
        *out = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v)), *out = buf;
    else if (json_is_real(v))
        snprintf(buf, size, "%g", json_real_value(v)), *out = buf;
    else if (json_is_boolean(v))
        *out = json_is_true(v) ? "true" : "false";
    else
        return false;
    return true;
}

static void leaf(match_state *m, const json_t *v)
{
    char buf[64];
    const char *s;
    if (!value_text(v, buf, sizeof buf, &s))
        return;
    m->any_value = true;
    if (m->t->op == OP_EQ || m->t->op == OP_NE) {
        m->hit |= strcmp(s, m->t->value) == 0;
        return;
    }
    int64_t x;
    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (fl_parse_i64(s, strlen(s), &x) != 0)
        return;
    m->hit |= m->t->op == OP_GT ? x > m->t->num : x < m->t->num;
}

static void walk(match_state *m, const json_t *v, size_t depth)
{
    if (depth == m->t->nsegs) {
        leaf(m, v);
        return;
    }
    const json_t *c = json_is_object(v) ? json_object_get(v, m->t->segs[depth]) : NULL;
    if (!c)
        return;
    if (!m->t->list[depth]) {
        walk(m, c, depth + 1);
        return;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(c, i, e)
        walk(m, e, depth + 1);
}

static bool term_matches(const field_term *t, const json_t *obj)
{
    match_state m = {t, false, false};
    walk(&m, obj, 0);
    if (!m.any_value && (t->op == OP_EQ || t->op == OP_NE))
        m.hit = t->value[0] == 0; /* absent reads as "" */
    return t->op == OP_NE ? !m.hit : m.hit;
}

bool fl_query_fields_match(const fl_query_fields *f, const void *obj)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (!term_matches(&f->terms[i], obj))
            return false;
    return true;
}

/* Types whose kube-apiserver registers its own field label conversion and
 * so answers "field label not supported: X"; the rest answer with the
 * default "is not a known field selector" form (k8s-golden 07-semantics). */
static bool custom_labels(const fl_kube_resource *r)
{
    static const char *const core[] = {
        "pods", "nodes", "events", "namespaces", "secrets", "services", "replicationcontrollers",
        NULL};
    if (!r->group[0]) {
        for (size_t i = 0; core[i]; i++)
            if (!strcmp(core[i], r->resource))
                return true;
        return false;
    }
    return (!strcmp(r->group, "apps") && !strcmp(r->resource, "replicasets")) ||
           (!strcmp(r->group, "batch") && !strcmp(r->resource, "jobs"));
}

int query_fields_check(const fl_query_fields *f, const fl_kube_resource *r, fl_err *err)
{
    for (size_t i = 0; f && i < f->n; i++) {
        const field_term *t = &f->terms[i];
        if (fl_kube_openapi_has_field(r, (const char *const *)t->segs, t->list, t->nsegs))
            continue;
        fl_buf b = FL_BUF_INIT(FIELDS_MAX_INPUT);
        int rc = 0;
        for (size_t k = 0; k < t->nsegs && !rc; k++)
            rc = fl_buf_printf(&b, "%s%s%s", k ? "." : "", t->segs[k], t->list[k] ? "[]" : "");
        if (!rc && custom_labels(r))
            rc = fl_err_set(err, FL_EPARSE, "field label not supported: %s", b.data);
        else if (!rc)
            rc = fl_err_set(err, FL_EPARSE,
                            "\"%s\" is not a known field selector: only "
                            "\"metadata.name\", \"metadata.namespace\"",
                            b.data);
        fl_buf_done(&b);
        return rc;
    }
    return 0;
}

const char *query_fields_eq(const fl_query_fields *f, const char *path, size_t *at)
{
    size_t plen = strlen(path);
    for (; f && *at < f->n; (*at)++) {
        const field_term *t = &f->terms[*at];
        size_t n = 0;
        bool same = t->op == OP_EQ;
        for (size_t k = 0; same && k < t->nsegs; k++) {
            size_t l = strlen(t->segs[k]);
            same = !t->list[k] && n + l <= plen && !memcmp(path + n, t->segs[k], l) &&
                   (n + l == plen ? k + 1 == t->nsegs : path[n + l] == '.');
            n += l + 1;
        }
        if (same && n == plen + 1) {
            (*at)++;
            return t->value;
        }
    }
    return NULL;
}
