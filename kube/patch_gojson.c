/*
 * kube/patch_gojson.c: the parts of Go's encoding/json that show through
 * kube-apiserver's patch error messages: the syntax scanner's exact error
 * texts, the JSON kind and Go type names of decoded values, and fmt's "%v"
 * rendering of decoded maps (used in strategic-merge-patch errors). Private
 * to kube/patch*.c; pure functions, any thread.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/patch_int.h"

#define GO_MAX_DEPTH 10000 /* encoding/json maxNestingDepth */

/* Go's quoteChar: 'x', '\'', '"', '\n', '\x01', '\u0080' or the Latin-1
 * letter as UTF-8 (a byte is quoted as the rune of the same value). */
static void quote_char(unsigned char c, char out[16])
{
    static const char esc[] = "\a\b\f\n\r\t\v";
    static const char let[] = "abfnrtv";
    const char *e = c ? strchr(esc, c) : NULL;
    if (c == '\'')
        snprintf(out, 16, "'\\''");
    else if (c == '"')
        snprintf(out, 16, "'\"'");
    else if (e)
        snprintf(out, 16, "'\\%c'", let[e - esc]);
    else if (c < 0x20 || c == 0x7f)
        snprintf(out, 16, "'\\x%02x'", c);
    else if (c < 0x80)
        snprintf(out, 16, "'%c'", c);
    else if (c >= 0xa1 && c != 0xad)
        snprintf(out, 16, "'%c%c'", (char)(0xc0 | (c >> 6)), (char)(0x80 | (c & 0x3f)));
    else
        snprintf(out, 16, "'\\u%04x'", c);
}

typedef struct scan {
    const unsigned char *p, *end;
    char *msg;
    size_t msgsz;
    unsigned char *stack; /* 1 = object, 0 = array */
    size_t depth;
} scan;

static int bad(scan *s, const char *context)
{
    char q[16];
    if (s->p >= s->end) {
        snprintf(s->msg, s->msgsz, "unexpected end of JSON input");
        return FL_EPARSE;
    }
    quote_char(*s->p, q);
    snprintf(s->msg, s->msgsz, "invalid character %s %s", q, context);
    return FL_EPARSE;
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}
static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static void skip_ws(scan *s)
{
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

static int scan_string(scan *s)
{
    s->p++; /* opening quote */
    while (s->p < s->end) {
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return bad(s, "in string literal");
        if (c != '\\') {
            s->p++;
            continue;
        }
        s->p++;
        if (s->p >= s->end)
            break;
        c = *s->p;
        if (c == 'u') {
            s->p++;
            for (int i = 0; i < 4; i++, s->p++)
                if (s->p >= s->end || !is_hex(*s->p))
                    return bad(s, "in \\u hexadecimal character escape");
            continue;
        }
        if (!strchr("bfnrt\\/\"", c) || c == 0)
            return bad(s, "in string escape code");
        s->p++;
    }
    return bad(s, "");
}

static int scan_digits(scan *s)
{
    while (s->p < s->end && is_digit(*s->p))
        s->p++;
    return 0;
}

static int scan_number(scan *s)
{
    if (*s->p == '-') {
        s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
            return bad(s, "in numeric literal");
    }
    if (*s->p == '0')
        s->p++;
    else
        scan_digits(s);
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
            return bad(s, "after decimal point in numeric literal");
        scan_digits(s);
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
            return bad(s, "in exponent of numeric literal");
        scan_digits(s);
    }
    return 0;
}

static int scan_literal(scan *s, const char *word)
{
    char ctx[64];
    s->p++;
    for (const char *w = word + 1; *w; w++, s->p++) {
        if (s->p >= s->end || *s->p != (unsigned char)*w) {
            snprintf(ctx, sizeof ctx, "in literal %s (expecting '%c')", word, *w);
            return bad(s, ctx);
        }
    }
    return 0;
}

/* One scalar, or the opening of a container (pushed). */
static int scan_value_start(scan *s, bool *opened)
{
    *opened = false;
    skip_ws(s);
    if (s->p >= s->end)
        return bad(s, "");
    switch (*s->p) {
    case '{':
    case '[':
        if (s->depth >= GO_MAX_DEPTH) {
            snprintf(s->msg, s->msgsz, "exceeded max depth");
            return FL_EPARSE;
        }
        s->stack[s->depth++] = *s->p == '{';
        s->p++;
        *opened = true;
        return 0;
    case '"': return scan_string(s);
    case 't': return scan_literal(s, "true");
    case 'f': return scan_literal(s, "false");
    case 'n': return scan_literal(s, "null");
    default:
        if (*s->p == '-' || is_digit(*s->p))
            return scan_number(s);
        return bad(s, "looking for beginning of value");
    }
}

static int scan_key(scan *s)
{
    skip_ws(s);
    if (s->p >= s->end)
        return bad(s, "");
    if (*s->p != '"')
        return bad(s, "looking for beginning of object key string");
    int rc = scan_string(s);
    if (rc)
        return rc;
    skip_ws(s);
    if (s->p >= s->end)
        return bad(s, "");
    if (*s->p != ':')
        return bad(s, "after object key");
    s->p++;
    return 0;
}

/* Iterative scanner: Go's state machine flattened into "after a value" and
 * "expect a value" steps, with an explicit container stack. */
static int scan_all(scan *s)
{
    bool opened;
    int rc = scan_value_start(s, &opened);
    while (rc == 0 && s->depth > 0) {
        bool obj = s->stack[s->depth - 1];
        skip_ws(s);
        if (s->p >= s->end)
            return bad(s, "");
        if (opened) { /* just after '{' or '[' */
            if (*s->p == (obj ? '}' : ']')) {
                s->p++;
                s->depth--;
                opened = false;
                continue;
            }
            if (obj && (rc = scan_key(s)) != 0)
                return rc;
            rc = scan_value_start(s, &opened);
            continue;
        }
        if (*s->p == ',') {
            s->p++;
            if (obj && (rc = scan_key(s)) != 0)
                return rc;
            rc = scan_value_start(s, &opened);
        } else if (*s->p == (obj ? '}' : ']')) {
            s->p++;
            s->depth--;
        } else {
            return bad(s, obj ? "after object key:value pair" : "after array element");
        }
    }
    if (rc)
        return rc;
    skip_ws(s);
    if (s->p < s->end)
        return bad(s, "after top-level value");
    return 0;
}

int fl_patch_go_syntax(const char *data, size_t len, char *msg, size_t msgsz)
{
    scan s = {(const unsigned char *)data, (const unsigned char *)data + len, msg, msgsz, NULL, 0};
    s.stack = fl_malloc(GO_MAX_DEPTH);
    if (!s.stack)
        return -ENOMEM;
    int rc = scan_all(&s);
    free(s.stack);
    return rc;
}

int fl_patch_parse(const char *data, size_t len, const char *prefix, json_t **out, fl_err *err)
{
    char msg[256];
    json_error_t jerr;
    int rc = fl_patch_go_syntax(data, len, msg, sizeof msg);
    if (rc == -ENOMEM)
        return fl_err_set(err, rc, "out of memory");
    if (rc)
        return fl_err_set(err, FL_EPARSE, "%s%s", prefix, msg);
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v) /* valid for Go, not for jansson: huge integers, bad UTF-8 */
        return fl_err_set(err, FL_EPARSE, "%s%s", prefix, jerr.text);
    *out = v;
    return 0;
}

const char *fl_patch_go_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "null";
    }
}

const char *fl_patch_go_type(const json_t *v)
{
    if (!v)
        return "%!s(<nil>)";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "map[string]interface {}";
    case JSON_ARRAY: return "[]interface {}";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "int64";
    case JSON_REAL: return "float64";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "%!s(<nil>)";
    }
}

bool fl_patch_scalar_eq(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    if (json_typeof(a) != json_typeof(b))
        return false;
    return json_equal((json_t *)a, (json_t *)b);
}

/* Go's %v of a float64: strconv 'g' with the shortest exact digits, and
 * exponents below -4 or at/above 21 (fmt uses %g semantics: 'e' when
 * exp < -4 || exp >= precision, with shortest precision). */
static void go_float(fl_buf *b, double d)
{
    char tmp[64];
    if (isinf(d) || isnan(d)) {
        fl_buf_puts(b, isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    fl_buf_puts(b, tmp);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void go_fmt_object(fl_buf *b, const json_t *v)
{
    size_t n = json_object_size(v), i = 0;
    const char **keys = n ? fl_malloc(n * sizeof *keys) : NULL;
    const char *k;
    json_t *x;
    if (n && !keys)
        return;
    json_object_foreach((json_t *)v, k, x)
        keys[i++] = k;
    if (n)
        qsort(keys, n, sizeof *keys, cmp_str);
    fl_buf_puts(b, "map[");
    for (i = 0; i < n; i++) {
        if (i)
            fl_buf_puts(b, " ");
        fl_buf_printf(b, "%s:", keys[i]);
        fl_patch_go_fmt(b, json_object_get(v, keys[i]));
    }
    fl_buf_puts(b, "]");
    free(keys);
}

void fl_patch_go_fmt(fl_buf *b, const json_t *v)
{
    size_t i;
    json_t *x;
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: go_fmt_object(b, v); break;
    case JSON_ARRAY:
        fl_buf_puts(b, "[");
        json_array_foreach((json_t *)v, i, x) {
            if (i)
                fl_buf_puts(b, " ");
            fl_patch_go_fmt(b, x);
        }
        fl_buf_puts(b, "]");
        break;
    case JSON_STRING: fl_buf_append(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: fl_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: go_float(b, json_real_value(v)); break;
    case JSON_TRUE: fl_buf_puts(b, "true"); break;
    case JSON_FALSE: fl_buf_puts(b, "false"); break;
    default: fl_buf_puts(b, "<nil>"); break;
    }
}
