/*
 * kube/yaml.c: YAML to JSON through libyaml's event parser, resolving plain
 * scalars as go-yaml v2 does (sigs.k8s.io/yaml), with caps on input size,
 * nesting depth and alias expansion, and an optional node -> line map for
 * config loaders. The one place YAML from outside is parsed.
 */
#include "kube/yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

typedef struct {
    const json_t *v;
    int line;
} line_ent;

typedef struct {
    const json_t *obj;
    char *key;
    int line;
} key_ent;

struct fl_yaml_doc {
    char *name;
    json_t *root;
    line_ent *lines; /* sorted by v once parsed */
    size_t nlines, caplines;
    key_ent *keys; /* sorted by (obj, key) once parsed */
    size_t nkeys, capkeys;
};

typedef struct {
    json_t *node; /* borrowed from the tree being built (or a kept ref) */
    size_t nodes; /* nodes in the subtree */
    int depth;    /* height of the subtree */
} anchor;

typedef struct {
    yaml_parser_t p;
    fl_yaml_doc *doc; /* NULL: no line map */
    const char *name; /* NULL: messages "line L column C: ..." */
    fl_err *err;
    json_t *anchor_ix; /* name -> index into anchors */
    anchor *anchors;
    size_t nanchors, capanchors;
    size_t alias_nodes;
} ctx;

/* ---------------------------------------------------------------- errors */

static int errat(ctx *c, yaml_mark_t m, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int errat(ctx *c, yaml_mark_t m, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->name)
        return fl_err_set(c->err, code, "%s:%zu:%zu: %s", c->name, m.line + 1, m.column + 1, msg);
    return fl_err_set(c->err, code, "line %zu column %zu: %s", m.line + 1, m.column + 1, msg);
}

static int next_event(ctx *c, yaml_event_t *ev)
{
    if (yaml_parser_parse(&c->p, ev))
        return 0;
    if (c->p.error == YAML_MEMORY_ERROR)
        return fl_err_set(c->err, -ENOMEM, "out of memory parsing YAML");
    yaml_mark_t m = c->p.problem_mark;
    if (c->p.error == YAML_READER_ERROR) {
        m.line = 0;
        m.column = c->p.problem_offset;
    }
    if (c->p.context)
        return errat(c, m, FL_EPARSE, "%s %s", c->p.context,
                     c->p.problem ? c->p.problem : "syntax error");
    return errat(c, m, FL_EPARSE, "%s", c->p.problem ? c->p.problem : "syntax error");
}

/* ---------------------------------------------------------------- line map */

static int add_line(ctx *c, const json_t *v, int line)
{
    fl_yaml_doc *d = c->doc;
    if (!d || json_is_true(v) || json_is_false(v) || json_is_null(v))
        return 0;
    if (fl_grow(&d->lines, &d->caplines, d->nlines + 1, sizeof *d->lines) != 0)
        return -ENOMEM;
    d->lines[d->nlines++] = (line_ent){v, line};
    return 0;
}

static int add_key(ctx *c, const json_t *obj, const char *key, int line)
{
    fl_yaml_doc *d = c->doc;
    if (!d)
        return 0;
    if (fl_grow(&d->keys, &d->capkeys, d->nkeys + 1, sizeof *d->keys) != 0)
        return -ENOMEM;
    char *k = fl_strdup(key);
    if (!k)
        return -ENOMEM;
    d->keys[d->nkeys++] = (key_ent){obj, k, line};
    return 0;
}

/* ---------------------------------------------------------------- scalars */

static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON"};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                          "False", "FALSE", "off", "Off", "OFF"};
static const char *const null_words[] = {"", "~", "null", "Null", "NULL"};
static const char *const nonfinite_words[] = {".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",  ".INF",
                                              "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF"};

static bool in_words(const char *s, const char *const *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, w[i]) == 0)
            return true;
    return false;
}

static int digit_val(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A' + 10;
    return 99;
}

/* Go's strconv.ParseUint(s, 0, 64) on an unsigned magnitude. */
static bool go_parse_mag(const char *s, uint64_t *out)
{
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        s += 2;
    } else if (s[0] == '0' && s[1]) {
        base = 8;
        s += 1;
    }
    if (!*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        unsigned d = (unsigned)digit_val(*s);
        if (d >= base)
            return false;
        if (v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
    }
    *out = v;
    return true;
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool yaml_style_float(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    } else {
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9')
                s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == 0;
}

/* A number for a plain scalar starting with a digit, sign or '.'; NULL when
 * it is not one (*ok stays true) or on ENOMEM (*ok false). */
static json_t *resolve_number(const char *in, bool *ok)
{
    size_t n = strlen(in);
    char *plain = fl_malloc(n + 1);
    json_t *v = NULL;
    *ok = true;
    if (!plain) {
        *ok = false;
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] != '_')
            plain[j++] = in[i];
    plain[j] = 0;
    const char *mag = plain;
    bool neg = false;
    if (*mag == '-' || *mag == '+') {
        neg = *mag == '-';
        mag++;
    }
    uint64_t u;
    bool number = go_parse_mag(mag, &u) && (!neg || u <= (uint64_t)INT64_MAX + 1);
    if (number) {
        if (!neg && u <= (uint64_t)INT64_MAX)
            v = json_integer((json_int_t)u);
        else if (neg)
            v = json_integer(u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(json_int_t)u);
        else
            v = json_real((double)u);
    } else if (yaml_style_float(plain)) {
        double d = strtod(plain, NULL);
        number = isfinite(d);
        if (number)
            v = json_real(d);
    }
    free(plain);
    if (number && !v)
        *ok = false;
    return v;
}

typedef enum { K_STR, K_NULL, K_BOOL, K_INT, K_FLOAT, K_MERGE, K_NONFINITE } scalar_kind;

static scalar_kind plain_kind(const char *s)
{
    if (in_words(s, null_words, FL_ARRAY_LEN(null_words)))
        return K_NULL;
    if (in_words(s, true_words, FL_ARRAY_LEN(true_words)) ||
        in_words(s, false_words, FL_ARRAY_LEN(false_words)))
        return K_BOOL;
    if (in_words(s, nonfinite_words, FL_ARRAY_LEN(nonfinite_words)))
        return K_NONFINITE;
    if (strcmp(s, "<<") == 0)
        return K_MERGE;
    if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+' || s[0] == '.')
        return K_INT; /* maybe a number: resolve_number decides */
    return K_STR;
}

#define CORE_TAG "tag:yaml.org,2002:"

/* Resolve plain text s to null/bool/number; NULL when it is a string. */
static int resolve_plain(ctx *c, const yaml_event_t *ev, const char *s, json_t **out)
{
    scalar_kind k = plain_kind(s);
    *out = NULL;
    if (k == K_NULL)
        *out = json_null();
    else if (k == K_BOOL)
        *out = json_boolean(in_words(s, true_words, FL_ARRAY_LEN(true_words)));
    else if (k == K_NONFINITE)
        return errat(c, ev->start_mark, FL_EPARSE, "%s has no JSON representation", s);
    else if (k == K_INT) {
        bool ok;
        *out = resolve_number(s, &ok);
        if (!ok)
            return -ENOMEM;
    }
    return 0;
}

/* Resolve one scalar event into a new JSON value. Untagged plain scalars
 * (and those with a custom tag) are resolved; quoted ones are strings;
 * core tags !!null !!bool !!int !!float must resolve to their kind. */
static int scalar_value(ctx *c, const yaml_event_t *ev, json_t **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    bool core = tag && fl_str_has_prefix(tag, CORE_TAG);
    const char *want = core ? tag + strlen(CORE_TAG) : NULL;
    bool typed = want && (strcmp(want, "null") == 0 || strcmp(want, "bool") == 0 ||
                          strcmp(want, "int") == 0 || strcmp(want, "float") == 0);
    bool resolve = typed || (plain && (!tag || (!core && strcmp(tag, "!") != 0)));
    json_t *v = NULL;
    int rc;
    if (resolve && strlen(s) == len && (rc = resolve_plain(c, ev, s, &v)) != 0)
        return rc;
    if (typed) {
        bool match = v && ((strcmp(want, "null") == 0 && json_is_null(v)) ||
                           (strcmp(want, "bool") == 0 && json_is_boolean(v)) ||
                           (strcmp(want, "int") == 0 && json_is_integer(v)) ||
                           (strcmp(want, "float") == 0 && json_is_number(v)));
        if (!match) {
            json_decref(v);
            return errat(c, ev->start_mark, FL_EPARSE, "cannot decode \"%.60s\" as !!%s", s, want);
        }
        if (strcmp(want, "float") == 0 && json_is_integer(v)) {
            json_t *r = json_real((double)json_integer_value(v));
            json_decref(v);
            if (!r)
                return -ENOMEM;
            v = r;
        }
    }
    if (!v) {
        v = json_stringn(s, len);
        if (!v)
            return errat(c, ev->start_mark, FL_EPARSE, "string is not valid UTF-8");
    }
    *out = v;
    return 0;
}

/* The JSON object key for a scalar key, as sigs.k8s.io/yaml spells it. */
static int key_string(ctx *c, const yaml_event_t *ev, fl_buf *out)
{
    json_t *v = NULL;
    int rc = scalar_value(c, ev, &v);
    if (rc)
        return rc;
    if (json_is_string(v))
        rc = fl_buf_append(out, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v))
        rc = fl_buf_printf(out, "%lld", (long long)json_integer_value(v));
    else if (json_is_true(v) || json_is_false(v))
        rc = fl_buf_puts(out, json_is_true(v) ? "true" : "false");
    else if (json_is_real(v)) {
        double d = json_real_value(v);
        char tmp[40] = "";
        for (int prec = 1; prec <= 9; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if ((float)strtod(tmp, NULL) == (float)d)
                break;
        }
        rc = fl_buf_puts(out, tmp);
    } else
        rc = errat(c, ev->start_mark, FL_EPARSE, "unsupported map key: null");
    json_decref(v);
    return rc;
}

/* ---------------------------------------------------------------- tree */

typedef struct {
    size_t nodes;
    int depth;
} shape;

static int parse_node(ctx *c, yaml_event_t *ev, int depth, json_t **out, shape *sh);

static int remember_anchor(ctx *c, const yaml_char_t *name, json_t *node, shape sh)
{
    if (!name)
        return 0;
    if (fl_grow(&c->anchors, &c->capanchors, c->nanchors + 1, sizeof *c->anchors) != 0)
        return -ENOMEM;
    json_t *ix = json_integer((json_int_t)c->nanchors);
    if (!ix || json_object_set_new(c->anchor_ix, (const char *)name, ix) != 0)
        return -ENOMEM;
    c->anchors[c->nanchors++] = (anchor){json_incref(node), sh.nodes, sh.depth};
    return 0;
}

static int parse_alias(ctx *c, yaml_event_t *ev, int depth, json_t **out, shape *sh)
{
    json_t *ix = json_object_get(c->anchor_ix, (const char *)ev->data.alias.anchor);
    if (!ix)
        return errat(c, ev->start_mark, FL_EPARSE, "unknown anchor '%.100s' referenced",
                     (const char *)ev->data.alias.anchor);
    anchor *a = &c->anchors[json_integer_value(ix)];
    c->alias_nodes += a->nodes;
    if (c->alias_nodes > FL_YAML_MAX_ALIAS_NODES)
        return errat(c, ev->start_mark, FL_EPARSE,
                     "document contains excessive aliasing (more than %u nodes from aliases)",
                     FL_YAML_MAX_ALIAS_NODES);
    if (depth + a->depth > FL_YAML_MAX_DEPTH)
        return errat(c, ev->start_mark, FL_EPARSE, "nesting deeper than %d levels",
                     FL_YAML_MAX_DEPTH);
    json_t *v = json_deep_copy(a->node);
    if (!v)
        return -ENOMEM;
    *out = v;
    *sh = (shape){a->nodes, a->depth};
    return 0;
}

static int parse_sequence(ctx *c, yaml_event_t *start, int depth, json_t **out, shape *sh)
{
    json_t *arr = json_array();
    yaml_event_t ev;
    int rc = arr ? 0 : -ENOMEM;
    *sh = (shape){1, 1};
    while (!rc) {
        rc = next_event(c, &ev);
        if (rc)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        json_t *item = NULL;
        shape csh;
        rc = parse_node(c, &ev, depth + 1, &item, &csh);
        if (!rc && json_array_append_new(arr, item) != 0)
            rc = -ENOMEM;
        if (!rc) {
            sh->nodes += csh.nodes;
            if (csh.depth + 1 > sh->depth)
                sh->depth = csh.depth + 1;
        }
    }
    if (!rc)
        rc = remember_anchor(c, start->data.sequence_start.anchor, arr, *sh);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

/* Apply merge sources (<<) to obj: keys already present win. */
static int apply_merge(ctx *c, json_t *obj, json_t *src, yaml_mark_t m)
{
    if (json_is_array(src)) {
        size_t i;
        json_t *e;
        json_array_foreach(src, i, e) {
            int rc = apply_merge(c, obj, e, m);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(src))
        return errat(c, m, FL_EPARSE, "map merge requires map or sequence of maps as the value");
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        if (!json_object_get(obj, k) && json_object_set(obj, k, v) != 0)
            return -ENOMEM;
    }
    return 0;
}

static int parse_pair(ctx *c, yaml_event_t *kev, json_t *obj, json_t *merges, int depth, shape *sh)
{
    fl_buf key = FL_BUF_INIT(1u << 20);
    json_t *val = NULL;
    yaml_event_t vev;
    shape csh;
    int rc = 0;
    bool merge = false;
    yaml_mark_t km = kev->start_mark;
    if (kev->type != YAML_SCALAR_EVENT) {
        rc = errat(c, km, FL_EPARSE, "mapping keys must be scalars");
        goto out;
    }
    merge = kev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !kev->data.scalar.tag &&
            strcmp((const char *)kev->data.scalar.value, "<<") == 0;
    if (!merge && (rc = key_string(c, kev, &key)) != 0)
        goto out;
    if (!merge && json_object_get(obj, key.data ? key.data : "")) {
        rc = errat(c, km, FL_EPARSE, "mapping key \"%.100s\" already defined",
                   key.data ? key.data : "");
        goto out;
    }
    if ((rc = next_event(c, &vev)) != 0)
        goto out;
    rc = parse_node(c, &vev, depth + 1, &val, &csh);
    if (rc)
        goto out;
    sh->nodes += csh.nodes;
    if (csh.depth + 1 > sh->depth)
        sh->depth = csh.depth + 1;
    if (merge) {
        if (!json_is_object(val) && !json_is_array(val)) {
            rc = errat(c, km, FL_EPARSE, "map merge requires map or sequence of maps as the value");
            goto out;
        }
        rc = json_array_append(merges, val) ? -ENOMEM : 0;
        goto out;
    }
    const char *k = key.data ? key.data : "";
    if (json_object_set(obj, k, val) != 0) {
        rc = -ENOMEM;
        goto out;
    }
    rc = add_key(c, obj, k, (int)km.line + 1);
out:
    json_decref(val);
    fl_buf_done(&key);
    return rc;
}

static int parse_mapping(ctx *c, yaml_event_t *start, int depth, json_t **out, shape *sh)
{
    json_t *obj = json_object();
    json_t *merges = json_array();
    yaml_event_t ev;
    int rc = obj && merges ? 0 : -ENOMEM;
    *sh = (shape){1, 1};
    while (!rc) {
        rc = next_event(c, &ev);
        if (rc)
            break;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        rc = parse_pair(c, &ev, obj, merges, depth, sh);
        yaml_event_delete(&ev);
    }
    size_t i;
    json_t *m;
    if (!rc)
        json_array_foreach(merges, i, m) {
            if ((rc = apply_merge(c, obj, m, start->start_mark)) != 0)
                break;
        }
    if (!rc)
        rc = remember_anchor(c, start->data.mapping_start.anchor, obj, *sh);
    json_decref(merges);
    if (rc) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return 0;
}

/* Build the node that starts with *ev (consumed: deleted here). */
static int parse_node(ctx *c, yaml_event_t *ev, int depth, json_t **out, shape *sh)
{
    int rc;
    json_t *v = NULL;
    if (depth > FL_YAML_MAX_DEPTH) {
        rc =
            errat(c, ev->start_mark, FL_EPARSE, "nesting deeper than %d levels", FL_YAML_MAX_DEPTH);
        goto out;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT: rc = parse_alias(c, ev, depth, &v, sh); break;
    case YAML_SCALAR_EVENT:
        *sh = (shape){1, 0};
        rc = scalar_value(c, ev, &v);
        if (!rc)
            rc = remember_anchor(c, ev->data.scalar.anchor, v, *sh);
        break;
    case YAML_SEQUENCE_START_EVENT: rc = parse_sequence(c, ev, depth, &v, sh); break;
    case YAML_MAPPING_START_EVENT: rc = parse_mapping(c, ev, depth, &v, sh); break;
    default: rc = errat(c, ev->start_mark, FL_EPARSE, "unexpected YAML event %d", (int)ev->type);
    }
    if (!rc)
        rc = add_line(c, v, (int)ev->start_mark.line + 1);
    if (rc) {
        json_decref(v);
        goto out;
    }
    *out = v;
out:
    if (rc == -ENOMEM)
        fl_err_set(c->err, rc, "out of memory parsing YAML");
    yaml_event_delete(ev);
    return rc;
}

/* ---------------------------------------------------------------- streams */

static void reset_anchors(ctx *c)
{
    for (size_t i = 0; i < c->nanchors; i++)
        json_decref(c->anchors[i].node);
    c->nanchors = 0;
    c->alias_nodes = 0;
    json_object_clear(c->anchor_ix);
}

static int ctx_init(ctx *c, const char *data, size_t len, const char *name, fl_err *err)
{
    memset(c, 0, sizeof *c);
    c->err = err;
    c->name = name;
    if (len > FL_YAML_MAX_INPUT)
        return fl_err_set(err, -E2BIG, "YAML input of %zu bytes is over the %u byte limit", len,
                          FL_YAML_MAX_INPUT);
    c->anchor_ix = json_object();
    if (!c->anchor_ix || !yaml_parser_initialize(&c->p)) {
        json_decref(c->anchor_ix);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&c->p, (const unsigned char *)data, len);
    return 0;
}

static void ctx_done(ctx *c)
{
    reset_anchors(c);
    free(c->anchors);
    json_decref(c->anchor_ix);
    yaml_parser_delete(&c->p);
}

/* Read the next document: *out = its root (json null if empty), or NULL at
 * the end of the stream. */
static int next_document(ctx *c, json_t **out)
{
    yaml_event_t ev;
    int rc = next_event(c, &ev);
    if (rc)
        return rc;
    if (ev.type == YAML_STREAM_START_EVENT) {
        yaml_event_delete(&ev);
        if ((rc = next_event(c, &ev)) != 0)
            return rc;
    }
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        *out = NULL;
        return 0;
    }
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        rc = errat(c, ev.start_mark, FL_EPARSE, "expected a document");
        yaml_event_delete(&ev);
        return rc;
    }
    yaml_event_delete(&ev);
    reset_anchors(c);
    if ((rc = next_event(c, &ev)) != 0)
        return rc;
    json_t *root = NULL;
    shape sh;
    if ((rc = parse_node(c, &ev, 1, &root, &sh)) != 0)
        return rc;
    if ((rc = next_event(c, &ev)) != 0) {
        json_decref(root);
        return rc;
    }
    yaml_event_delete(&ev); /* DOCUMENT_END */
    *out = root;
    return 0;
}

/* One document from a fresh ctx; fails on a second document. */
static int parse_one(ctx *c, json_t **out)
{
    json_t *root = NULL, *extra = NULL;
    int rc = next_document(c, &root);
    if (rc)
        return rc;
    if (!root) {
        *out = json_null();
        return 0;
    }
    yaml_mark_t m = c->p.mark;
    rc = next_document(c, &extra);
    if (!rc && extra) {
        rc = errat(c, m, FL_EPARSE, "expected one document, found more");
        json_decref(extra);
    }
    if (rc) {
        json_decref(root);
        return rc;
    }
    *out = root;
    return 0;
}

int fl_yaml_parse(const char *data, size_t len, json_t **out, fl_err *err)
{
    ctx c;
    int rc = ctx_init(&c, data, len, NULL, err);
    if (rc)
        return rc;
    rc = parse_one(&c, out);
    ctx_done(&c);
    return rc;
}

int fl_yaml_parse_all(const char *data, size_t len, json_t **out, fl_err *err)
{
    ctx c;
    int rc = ctx_init(&c, data, len, NULL, err);
    if (rc)
        return rc;
    json_t *arr = json_array();
    if (!arr)
        rc = fl_err_set(err, -ENOMEM, "out of memory");
    while (!rc) {
        json_t *d = NULL;
        rc = next_document(&c, &d);
        if (rc || !d)
            break;
        if (json_is_null(d))
            continue;
        if (json_array_append_new(arr, d) != 0)
            rc = fl_err_set(err, -ENOMEM, "out of memory");
    }
    ctx_done(&c);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

/* ---------------------------------------------------------------- docs */

static int cmp_line(const void *a, const void *b)
{
    const line_ent *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v;
}

static int cmp_key(const void *a, const void *b)
{
    const key_ent *x = a, *y = b;
    if (x->obj != y->obj)
        return x->obj < y->obj ? -1 : 1;
    return strcmp(x->key, y->key);
}

void fl_yaml_doc_free(fl_yaml_doc *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->nkeys; i++)
        free(doc->keys[i].key);
    free(doc->keys);
    free(doc->lines);
    json_decref(doc->root);
    free(doc->name);
    free(doc);
}

int fl_yaml_doc_parse(const char *data, size_t len, const char *name, fl_yaml_doc **out,
                      fl_err *err)
{
    fl_yaml_doc *doc = fl_calloc(1, sizeof *doc);
    ctx c;
    int rc;
    if (!doc || !(doc->name = fl_strdup(name ? name : "<input>"))) {
        fl_yaml_doc_free(doc);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    if ((rc = ctx_init(&c, data, len, doc->name, err)) != 0) {
        fl_yaml_doc_free(doc);
        return rc;
    }
    c.doc = doc;
    rc = parse_one(&c, &doc->root);
    ctx_done(&c);
    if (rc) {
        fl_yaml_doc_free(doc);
        return rc;
    }
    if (doc->nlines)
        qsort(doc->lines, doc->nlines, sizeof *doc->lines, cmp_line);
    if (doc->nkeys)
        qsort(doc->keys, doc->nkeys, sizeof *doc->keys, cmp_key);
    *out = doc;
    return 0;
}

int fl_yaml_doc_load(const char *path, fl_yaml_doc **out, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(FL_YAML_MAX_INPUT);
    int rc = fl_buf_read_file(&b, path, err);
    if (!rc)
        rc = fl_yaml_doc_parse(b.data ? b.data : "", b.len, path, out, err);
    fl_buf_done(&b);
    return rc;
}

json_t *fl_yaml_doc_root(const fl_yaml_doc *doc)
{
    return doc->root;
}

const char *fl_yaml_doc_name(const fl_yaml_doc *doc)
{
    return doc->name;
}

int fl_yaml_line(const fl_yaml_doc *doc, const json_t *value)
{
    if (!doc || !value || !doc->nlines)
        return 0;
    line_ent k = {value, 0};
    const line_ent *e = bsearch(&k, doc->lines, doc->nlines, sizeof k, cmp_line);
    return e ? e->line : 0;
}

int fl_yaml_key_line(const fl_yaml_doc *doc, const json_t *obj, const char *key)
{
    if (!doc || !obj || !key || !doc->nkeys)
        return 0;
    key_ent k = {obj, (char *)key, 0};
    const key_ent *e = bsearch(&k, doc->keys, doc->nkeys, sizeof k, cmp_key);
    return e ? e->line : 0;
}

int fl_yaml_errf(const fl_yaml_doc *doc, int line, fl_err *err, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = doc && doc->name ? doc->name : "<input>";
    if (line > 0)
        return fl_err_set(err, code, "%s:%d: %s", name, line, msg);
    return fl_err_set(err, code, "%s: %s", name, msg);
}
