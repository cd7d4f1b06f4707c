/*
 * sim/select.c: label selectors (k8s.io/apimachinery/pkg/labels string
 * form: =, ==, !=, in, notin, exists, !exists) and field selectors (=, ==,
 * != on the fields the apiserver supports for a kind) matched against
 * stored objects. A private adapter until kube/labels.h and kube/fields.h
 * land; it parses untrusted query strings, so everything is bounded.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

#define MAX_REQS 64
#define MAX_VALS 64

enum { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS };

typedef struct req {
    char *key;
    int op;
    char *vals[MAX_VALS];
    size_t nvals;
} req;

struct sim_sel {
    bool fields;
    req r[MAX_REQS];
    size_t n;
};

void sim_sel_free(sim_sel *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->r[i].key);
        for (size_t j = 0; j < s->r[i].nvals; j++)
            free(s->r[i].vals[j]);
    }
    free(s);
}

static void skip_ws(const char **p)
{
    while (**p == ' ')
        (*p)++;
}

static bool key_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/';
}

static char *take(const char **p, bool (*ok)(char))
{
    const char *s = *p;
    while (**p && ok(**p))
        (*p)++;
    return *p > s ? fl_strndup(s, (size_t)(*p - s)) : NULL;
}

static bool valid_label_value(const char *v)
{
    size_t n = strlen(v);
    if (n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)v[i]) || v[i] == '-' || v[i] == '_' || v[i] == '.'))
            return false;
    return n == 0 || (isalnum((unsigned char)v[0]) && isalnum((unsigned char)v[n - 1]));
}

static int parse_set(const char **p, req *r, fl_err *err)
{
    skip_ws(p);
    if (**p != '(')
        return fl_err_set(err, FL_EPARSE, "found '%c', expected: '('", **p ? **p : ' ');
    (*p)++;
    for (;;) {
        skip_ws(p);
        if (r->nvals == MAX_VALS)
            return fl_err_set(err, FL_EPARSE, "too many values");
        const char *s = *p;
        while (**p && **p != ',' && **p != ')' && **p != ' ')
            (*p)++;
        r->vals[r->nvals] = fl_strndup(s, (size_t)(*p - s));
        if (!r->vals[r->nvals])
            return -ENOMEM;
        r->nvals++;
        skip_ws(p);
        if (**p == ')') {
            (*p)++;
            return 0;
        }
        if (**p != ',')
            return fl_err_set(err, FL_EPARSE, "found '%s', expected: ',' or ')'", *p);
        (*p)++;
    }
}

static int parse_op(const char **p, req *r, bool fields, fl_err *err)
{
    skip_ws(p);
    if (**p == 0 || **p == ',') {
        if (fields)
            return fl_err_set(err, FL_EPARSE, "invalid selector: '%s'; can't understand '%s'",
                              r->key, r->key);
        r->op = OP_EXISTS;
        return 0;
    }
    if (!strncmp(*p, "==", 2) || !strncmp(*p, "!=", 2)) {
        r->op = **p == '!' ? OP_NE : OP_EQ;
        *p += 2;
    } else if (**p == '=') {
        r->op = OP_EQ;
        *p += 1;
    } else if (!fields && !strncmp(*p, "notin", 5)) {
        r->op = OP_NOTIN;
        *p += 5;
        return parse_set(p, r, err);
    } else if (!fields && !strncmp(*p, "in", 2)) {
        r->op = OP_IN;
        *p += 2;
        return parse_set(p, r, err);
    } else {
        return fl_err_set(err, FL_EPARSE, "found '%s', expected: in, notin, =, ==, !=", *p);
    }
    skip_ws(p);
    const char *s = *p;
    while (**p && **p != ',' && (fields || **p != ' '))
        (*p)++;
    r->vals[0] = fl_strndup(s, (size_t)(*p - s));
    if (!r->vals[0])
        return -ENOMEM;
    r->nvals = 1;
    if (!fields && !valid_label_value(r->vals[0]))
        return fl_err_set(err, FL_EPARSE,
                          "invalid label value: \"%s\": at key: \"%s\": a valid label must be an "
                          "empty string or consist of alphanumeric characters, '-', '_' or '.', "
                          "and must start and end with an alphanumeric character",
                          r->vals[0], r->key);
    return 0;
}

static int parse(const char *s, bool fields, sim_sel **out, fl_err *err)
{
    sim_sel *sel = calloc(1, sizeof(*sel));
    int rc = 0;
    if (!sel)
        return -ENOMEM;
    sel->fields = fields;
    const char *p = s ? s : "";
    while (*p) {
        skip_ws(&p);
        if (!*p)
            break;
        if (sel->n == MAX_REQS) {
            rc = fl_err_set(err, FL_EPARSE, "too many requirements");
            goto out;
        }
        req *r = &sel->r[sel->n++];
        bool neg = !fields && *p == '!';
        if (neg)
            p++;
        skip_ws(&p);
        r->key = take(&p, key_char);
        if (!r->key) {
            rc = fl_err_set(err, FL_EPARSE, "unable to parse requirement: found '%s', expected: "
                            "identifier", p);
            goto out;
        }
        if (neg)
            r->op = OP_NOTEXISTS;
        else if ((rc = parse_op(&p, r, fields, err)) != 0)
            goto out;
        skip_ws(&p);
        if (*p == ',')
            p++;
        else if (*p) {
            rc = fl_err_set(err, FL_EPARSE, "found '%s', expected: ',' or 'end of string'", p);
            goto out;
        }
    }
out:
    if (rc != 0)
        sim_sel_free(sel);
    else
        *out = sel;
    return rc;
}

int sim_sel_parse_labels(const char *s, sim_sel **out, fl_err *err)
{
    return parse(s, false, out, err);
}

int sim_sel_parse_fields(const char *s, sim_sel **out, fl_err *err)
{
    return parse(s, true, out, err);
}

/* The value of a field-selector key for o; slow path parses the JSON. */
static const char *field_value(const sim_obj *o, const char *key, json_t **tmp)
{
    if (!strcmp(key, "metadata.name"))
        return o->name;
    if (!strcmp(key, "metadata.namespace"))
        return o->ns;
    if (!strcmp(key, "spec.nodeName"))
        return o->node;
    if (!strcmp(key, "status.phase"))
        return o->phase;
    if (!*tmp)
        *tmp = sim_obj_parse(o);
    const char *v = *tmp ? fl_obj_str(*tmp, key) : NULL;
    return v ? v : "";
}

static bool req_match(const req *r, const char *v)
{
    switch (r->op) {
    case OP_EXISTS: return v != NULL;
    case OP_NOTEXISTS: return v == NULL;
    case OP_EQ: return v && !strcmp(v, r->vals[0]);
    case OP_NE: return !v || strcmp(v, r->vals[0]) != 0;
    case OP_IN:
    case OP_NOTIN:
        for (size_t i = 0; v && i < r->nvals; i++)
            if (!strcmp(v, r->vals[i]))
                return r->op == OP_IN;
        return r->op == OP_NOTIN;
    }
    return false;
}

bool sim_sel_match(const sim_sel *s, const sim_obj *o)
{
    json_t *tmp = NULL;
    bool ok = true;
    for (size_t i = 0; s && ok && i < s->n; i++) {
        const char *v = s->fields ? field_value(o, s->r[i].key, &tmp)
                                  : sim_obj_label(o, s->r[i].key);
        ok = req_match(&s->r[i], v);
    }
    json_decref(tmp);
    return ok;
}

/* Field selector keys a kind supports (the apiserver answers 400 for
 * others): metadata.name/namespace everywhere, plus a few per kind. */
bool sim_sel_fields_supported(const sim_sel *s, const char *kind, const char **bad)
{
    static const char *const pod[] = {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                      "spec.serviceAccountName", "status.phase", "status.podIP",
                                      "status.nominatedNodeName", NULL};
    static const char *const other[] = {"spec.unschedulable", "involvedObject.kind",
                                        "involvedObject.name", "involvedObject.namespace",
                                        "reason", "type", "status.phase", "spec.nodeName",
                                        "type", "status.successful", NULL};
    for (size_t i = 0; s && i < s->n; i++) {
        const char *k = s->r[i].key;
        bool ok = !strcmp(k, "metadata.name") || !strcmp(k, "metadata.namespace");
        const char *const *list = !strcmp(kind, "Pod") ? pod : other;
        for (size_t j = 0; !ok && list[j]; j++)
            ok = !strcmp(k, list[j]);
        if (!ok) {
            *bad = k;
            return false;
        }
    }
    return true;
}
