/*
 * kube/fields.c: field selectors (see fields.h), ported from
 * k8s.io/apimachinery/pkg/fields/selector.go: splitTerms (on unescaped ','),
 * the raw terms sorted bytewise, splitTerm (first "!=", "==" or "=" from the
 * left), UnescapeValue (\\ \, \= only; bare ',' '=' rejected; as in Go,
 * where the value needed unescaping, invalid UTF-8 bytes come out as
 * U+FFFD), and String() re-escaping values. A term with an empty field and
 * value (a bare operator) selects everything, as hasTerm.Transform answers
 * Everything(). The selector owns its strings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/fields.h"

typedef struct term {
    char *field;
    fl_field_op op;
    char *value;
} term;

struct fl_field_selector {
    size_t n;
    term *terms;
};

void fl_field_selector_free(fl_field_selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++) {
        free(sel->terms[i].field);
        free(sel->terms[i].value);
    }
    free(sel->terms);
    free(sel);
}

/* A raw term: s[off..off+len). */
typedef struct span {
    const char *s;
    size_t len;
} span;

static int split_terms(const char *s, size_t n, span **out, size_t *count, fl_err *err)
{
    size_t cnt = 1;
    bool slash = false;
    for (size_t i = 0; i < n; i++) {
        if (slash)
            slash = false;
        else if (s[i] == '\\')
            slash = true;
        else if (s[i] == ',')
            cnt++;
    }
    if (cnt > FL_FIELDS_MAX_TERMS)
        return fl_err_set(err, -E2BIG, "field selector has more than %d terms",
                          FL_FIELDS_MAX_TERMS);
    span *t = fl_calloc(cnt, sizeof *t);
    if (!t)
        return fl_err_set(err, -ENOMEM, "out of memory");
    size_t k = 0, start = 0;
    slash = false;
    for (size_t i = 0; i < n; i++) {
        if (slash)
            slash = false;
        else if (s[i] == '\\')
            slash = true;
        else if (s[i] == ',') {
            t[k++] = (span){s + start, i - start};
            start = i + 1;
        }
    }
    t[k] = (span){s + start, n - start};
    *out = t;
    *count = cnt;
    return 0;
}

/* Go's string comparison: bytewise, shorter prefix first. */
static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, m);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Length of the UTF-8 sequence at s (1 for an invalid byte, *valid false). */
static size_t utf8_len(const unsigned char *s, size_t n, bool *valid)
{
    size_t need = s[0] < 0x80         ? 1
                  : (s[0] >> 5) == 6  ? 2
                  : (s[0] >> 4) == 14 ? 3
                  : (s[0] >> 3) == 30 ? 4
                                      : 0;
    *valid = need > 0 && need <= n;
    for (size_t i = 1; *valid && i < need; i++)
        *valid = (s[i] & 0xc0) == 0x80;
    if (*valid && need > 1) {
        uint32_t cp = s[0] & (0x7f >> need);
        for (size_t i = 1; i < need; i++)
            cp = (cp << 6) | (s[i] & 0x3f);
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        *valid = cp >= min[need] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    }
    return *valid ? need : 1;
}

/* fields.UnescapeValue of v[0..n) into a new string (*out). */
static int unescape(const char *v, size_t n, char **out, fl_err *err)
{
    if (!memchr(v, '\\', n) && !memchr(v, ',', n) && !memchr(v, '=', n)) {
        *out = fl_strndup(v, n);
        return *out ? 0 : fl_err_set(err, -ENOMEM, "out of memory");
    }
    fl_buf b = FL_BUF_INIT(3 * n + 1);
    int rc = fl_buf_reserve(&b, 1);
    bool slash = false;
    for (size_t i = 0; rc == 0 && i < n;) {
        bool valid;
        size_t len = utf8_len((const unsigned char *)v + i, n - i, &valid);
        char c = v[i];
        if (slash && len == 1 && (c == '\\' || c == ',' || c == '=')) {
            rc = fl_buf_append(&b, &c, 1);
            slash = false;
        } else if (slash) {
            rc = fl_err_set(err, FL_EPARSE,
                            "invalid field selector: invalid escape sequence: \\%.*s", (int)len,
                            valid ? v + i : "\xef\xbf\xbd");
        } else if (c == '\\') {
            slash = true;
        } else if (c == ',' || c == '=') {
            rc = fl_err_set(err, FL_EPARSE,
                            "invalid field selector: unescaped character in value: %d", c);
        } else {
            rc = valid ? fl_buf_append(&b, v + i, len) : fl_buf_puts(&b, "\xef\xbf\xbd");
        }
        i += len;
    }
    if (rc == 0 && slash)
        rc = fl_err_set(err, FL_EPARSE, "invalid field selector: invalid escape sequence: \\");
    if (rc == 0)
        *out = fl_buf_steal(&b);
    fl_buf_done(&b);
    return rc;
}

/* splitTerm + build one term. */
static int parse_term(const char *sel, size_t seln, span t, term *out, fl_err *err)
{
    static const struct {
        const char *s;
        fl_field_op op;
    } ops[] = {{"!=", FL_FIELD_NOT_EQUALS}, {"==", FL_FIELD_DOUBLE_EQUALS}, {"=", FL_FIELD_EQUALS}};
    for (size_t i = 0; i < t.len; i++) {
        for (size_t k = 0; k < FL_ARRAY_LEN(ops); k++) {
            size_t ol = strlen(ops[k].s);
            if (t.len - i < ol || memcmp(t.s + i, ops[k].s, ol) != 0)
                continue;
            out->op = ops[k].op;
            if (!(out->field = fl_strndup(t.s, i)))
                return fl_err_set(err, -ENOMEM, "out of memory");
            return unescape(t.s + i + ol, t.len - i - ol, &out->value, err);
        }
    }
    return fl_err_set(err, FL_EPARSE, "invalid selector: '%.*s'; can't understand '%.*s'",
                      (int)seln, sel, (int)t.len, t.s);
}

int fl_field_selector_parse(const char *s, size_t n, fl_field_selector **out, fl_err *err)
{
    if (n > FL_FIELDS_MAX_INPUT)
        return fl_err_set(err, -E2BIG, "field selector longer than %u bytes", FL_FIELDS_MAX_INPUT);
    if (n && memchr(s, 0, n))
        return fl_err_set(err, FL_EPARSE, "invalid field selector: NUL byte in selector");
    span *spans = NULL;
    size_t cnt = 0;
    fl_field_selector *sel = fl_calloc(1, sizeof *sel);
    int rc = sel ? 0 : fl_err_set(err, -ENOMEM, "out of memory");
    if (rc == 0 && n > 0)
        rc = split_terms(s, n, &spans, &cnt, err);
    if (rc == 0 && cnt) {
        qsort(spans, cnt, sizeof *spans, span_cmp);
        if (!(sel->terms = fl_calloc(cnt, sizeof(term))))
            rc = fl_err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        if (spans[i].len == 0)
            continue;
        term *t = &sel->terms[sel->n];
        rc = parse_term(s, n, spans[i], t, err);
        sel->n++; /* counted even on failure so free() sees partial strings */
        if (rc == 0 && !t->field[0] && !t->value[0]) {
            /* a bare operator ("=", "!=") selects everything, as Transform does */
            free(t->field);
            free(t->value);
            /* the slot is reused: a next term that fails must not free these again */
            t->field = t->value = NULL;
            sel->n--;
        }
    }
    free(spans);
    if (rc) {
        fl_field_selector_free(sel);
        return rc;
    }
    *out = sel;
    return 0;
}

bool fl_field_selector_matches(const fl_field_selector *sel, fl_field_get_fn get, void *ud)
{
    for (size_t i = 0; i < sel->n; i++) {
        const term *t = &sel->terms[i];
        const char *v = get ? get(t->field, ud) : NULL;
        bool eq = strcmp(v ? v : "", t->value) == 0;
        if (eq == (t->op == FL_FIELD_NOT_EQUALS))
            return false;
    }
    return true;
}

bool fl_field_selector_is_empty(const fl_field_selector *sel)
{
    return sel->n == 0;
}

size_t fl_field_selector_count(const fl_field_selector *sel)
{
    return sel->n;
}

void fl_field_selector_term(const fl_field_selector *sel, size_t i, fl_field_term *out)
{
    out->field = sel->terms[i].field;
    out->op = sel->terms[i].op;
    out->value = sel->terms[i].value;
}

int fl_field_escape_value(const char *v, fl_buf *out)
{
    int rc = fl_buf_puts(out, "");
    for (; rc == 0 && *v; v++) {
        if (*v == '\\' || *v == ',' || *v == '=')
            rc = fl_buf_append(out, "\\", 1);
        if (rc == 0)
            rc = fl_buf_append(out, v, 1);
    }
    return rc;
}

int fl_field_selector_string(const fl_field_selector *sel, fl_buf *out)
{
    int rc = fl_buf_puts(out, "");
    for (size_t i = 0; rc == 0 && i < sel->n; i++) {
        const term *t = &sel->terms[i];
        rc = fl_buf_printf(out, "%s%s%s", i ? "," : "", t->field,
                           t->op == FL_FIELD_NOT_EQUALS ? "!=" : "=");
        if (rc == 0)
            rc = fl_field_escape_value(t->value, out);
    }
    return rc;
}
