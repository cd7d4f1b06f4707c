/*
 * kube/jscan.c: the strict in-place JSON scanner (see jscan.h). One
 * validating pass with an explicit stack (no recursion, no allocation),
 * then navigation that trusts the validated text: skipping a value is
 * bracket counting with memchr over strings.
 *
 * The plain subset is chosen so that acceptance implies jansson's: every
 * rule of jansson 2.14's decoder (load.c) that can reject a document is
 * either checked here the same way (grammar, control characters, UTF-8,
 * surrogate pairs, NUL in keys, duplicate keys, number overflow) or made
 * "not plain" (deep nesting, long numbers, whitespace between tokens).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kube/jscan.h"

typedef const unsigned char *uptr;

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

fl_jval fl_jscan_trim(const char *data, size_t len)
{
    uptr p = (uptr)data, end = p + len;
    while (p < end && is_ws(*p))
        p++;
    while (end > p && is_ws(end[-1]))
        end--;
    return (fl_jval){(const char *)p, (size_t)(end - p), NULL};
}

/* --------------------------------------------------------------- strings */

/* Bytes a string may hold as they are: printable ASCII except the quote,
 * the backslash and what Go escapes (< > &). */
static const bool PLAIN[256] = {
    [' '] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1,  ['0'] = 1, ['1'] = 1,
    ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,  ['8'] = 1, ['9'] = 1,
    [':'] = 1, [';'] = 1, ['='] = 1, ['?'] = 1, ['@'] = 1, ['A'] = 1,  ['B'] = 1, ['C'] = 1,
    ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,  ['J'] = 1, ['K'] = 1,
    ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1,  ['R'] = 1, ['S'] = 1,
    ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1,  ['Z'] = 1, ['['] = 1,
    [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['a'] = 1, ['b'] = 1,  ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,  ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,  ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,  ['{'] = 1, ['|'] = 1,
    ['}'] = 1, ['~'] = 1,
};

#define H_SEED 1469598103934665603ull
#define H_MUL 1099511628211ull

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Four hex digits at p (p + 4 <= end checked by the caller); -1 if not. */
static long hex4(uptr p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* cp as UTF-8 into b; the byte count. */
static int utf8_enc(uint32_t cp, unsigned char b[4])
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12), b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | cp >> 18), b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static uint64_t hash_cp(uint64_t h, uint32_t cp)
{
    unsigned char b[4];
    int n = utf8_enc(cp, b);
    for (int i = 0; i < n; i++)
        h = (h ^ b[i]) * H_MUL;
    return h;
}

/* One escape at *pp (pointing at the backslash): its code point, or -1.
 * A high surrogate must be followed by an escaped low one (jansson). */
static long escape(uptr *pp, uptr end)
{
    uptr p = *pp + 1;
    long cp;
    if (p >= end)
        return -1;
    switch (*p) {
    case '"': cp = '"'; break;
    case '\\': cp = '\\'; break;
    case '/': cp = '/'; break;
    case 'b': cp = '\b'; break;
    case 'f': cp = '\f'; break;
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'u':
        if (end - p < 5 || (cp = hex4(p + 1)) < 0)
            return -1;
        p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return -1;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo;
            if (end - p < 7 || p[1] != '\\' || p[2] != 'u' || (lo = hex4(p + 3)) < 0 ||
                lo < 0xDC00 || lo > 0xDFFF)
                return -1;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        }
        break;
    default: return -1;
    }
    *pp = p + 1;
    return cp;
}

/* One UTF-8 sequence at *pp (first byte >= 0x80): its code point, or -1
 * for what jansson's utf8_check_full rejects (overlong, surrogates, above
 * U+10FFFF, bad continuation). */
static long utf8_seq(uptr *pp, uptr end)
{
    uptr p = *pp;
    unsigned char c = *p;
    int n;
    long cp;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return -1;
    if (end - p < n)
        return -1;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) ||
        cp > 0x10FFFF)
        return -1;
    *pp = p + n;
    return cp;
}

/* Validate the string at *pp (at its opening quote); on success *pp is
 * past the closing quote. With hash non-NULL (a key), *hash gets a hash of
 * the decoded bytes and a NUL in the key is rejected (jansson). */
static bool scan_string(uptr *pp, uptr end, uint64_t *hash)
{
    uptr p = *pp + 1;
    uint64_t h = H_SEED;
    for (;;) {
        if (hash) {
            while (p < end && PLAIN[*p])
                h = (h ^ *p++) * H_MUL;
        } else {
            while (end - p >= 4 && PLAIN[p[0]] && PLAIN[p[1]] && PLAIN[p[2]] && PLAIN[p[3]])
                p += 4;
            while (p < end && PLAIN[*p])
                p++;
        }
        if (p >= end)
            return false;
        unsigned char c = *p;
        if (c == '"') {
            *pp = p + 1;
            if (hash)
                *hash = h;
            return true;
        }
        long cp;
        if (c == '\\')
            cp = escape(&p, end);
        else if (c < 0x80)
            return false; /* control characters; < > & that Go would escape */
        else if ((cp = utf8_seq(&p, end)) == 0x2028 || cp == 0x2029)
            return false; /* Go escapes these too */
        if (cp < 0 || (cp == 0 && hash))
            return false;
        if (hash)
            h = hash_cp(h, (uint32_t)cp);
    }
}

/* --------------------------------------------------------------- numbers */

static bool scan_number(uptr *pp, uptr end)
{
    uptr p = *pp;
    int mant = 0, exp = 0;
    bool real = false;
    if (p < end && *p == '-')
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return false;
    if (*p == '0') {
        p++, mant++;
        if (p < end && *p >= '0' && *p <= '9')
            return false;
    } else {
        while (p < end && *p >= '0' && *p <= '9')
            p++, mant++;
    }
    if (p < end && *p == '.') {
        real = true;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return false;
        while (p < end && *p >= '0' && *p <= '9')
            p++, mant++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return false;
        while (p < end && *p >= '0' && *p <= '9')
            p++, exp++;
    }
    /* inside the subset, strtoll and strtod cannot overflow */
    if (real ? mant > 20 || exp > 2 : mant > 18)
        return false;
    *pp = p;
    return true;
}

static bool scan_word(uptr *pp, uptr end, const char *w, size_t n)
{
    if ((size_t)(end - *pp) < n || memcmp(*pp, w, n) != 0)
        return false;
    *pp += n;
    return true;
}

/* ------------------------------------------------------------ validation */

/* Record a container opening at off; its pair's index into *slot. */
static bool doc_open(fl_jdoc *doc, size_t off, size_t *slot)
{
    if (fl_grow(&doc->pairs, &doc->cap, doc->n + 1, sizeof *doc->pairs) != 0)
        return false;
    doc->pairs[doc->n][0] = (uint32_t)off;
    doc->pairs[doc->n][1] = 0;
    *slot = doc->n++;
    return true;
}

static bool validate(const char *data, size_t len, fl_jdoc *doc)
{
    fl_jval v = fl_jscan_trim(data, len);
    uptr p = (uptr)v.p, end = p + v.n;
    char open[FL_JSCAN_DEPTH_MAX];
    size_t kbase[FL_JSCAN_DEPTH_MAX], slot[FL_JSCAN_DEPTH_MAX], nk = 0;
    uint64_t keys[FL_JSCAN_KEYS_MAX];
    int d = 0;
value:
    if (p >= end)
        return false;
    switch (*p) {
    case '{':
    case '[':
        if (d == FL_JSCAN_DEPTH_MAX)
            return false;
        open[d] = (char)*p;
        kbase[d] = nk;
        if (doc && !doc_open(doc, (size_t)((const char *)p - data), &slot[d]))
            return false;
        d++, p++;
        if (p < end && *p == (open[d - 1] == '{' ? '}' : ']')) {
            d--;
            if (doc)
                doc->pairs[slot[d]][1] = (uint32_t)((const char *)p - data);
            p++;
            goto after;
        }
        if (open[d - 1] == '[')
            goto value;
        goto key;
    case '"':
        if (!scan_string(&p, end, NULL))
            return false;
        goto after;
    case 't':
        if (!scan_word(&p, end, "true", 4))
            return false;
        goto after;
    case 'f':
        if (!scan_word(&p, end, "false", 5))
            return false;
        goto after;
    case 'n':
        if (!scan_word(&p, end, "null", 4))
            return false;
        goto after;
    default:
        if (!scan_number(&p, end))
            return false;
        goto after;
    }
key : {
    uint64_t h;
    if (p >= end || *p != '"' || !scan_string(&p, end, &h))
        return false;
    for (size_t i = kbase[d - 1]; i < nk; i++)
        if (keys[i] == h)
            return false; /* a duplicate (or, rarely, a collision: jansson decides) */
    if (nk == FL_JSCAN_KEYS_MAX || p >= end || *p != ':')
        return false;
    keys[nk++] = h;
    p++;
    goto value;
}
after:
    if (d == 0)
        return p == end;
    if (p >= end)
        return false;
    if (*p == ',') {
        p++;
        if (open[d - 1] == '{')
            goto key;
        goto value;
    }
    if (*p == (open[d - 1] == '{' ? '}' : ']')) {
        d--;
        if (doc)
            doc->pairs[slot[d]][1] = (uint32_t)((const char *)p - data);
        p++;
        nk = kbase[d];
        goto after;
    }
    return false;
}

bool fl_jscan_plain(const char *data, size_t len)
{
    return validate(data, len, NULL);
}

bool fl_jscan_doc(fl_jdoc *doc, const char *data, size_t len)
{
    memset(doc, 0, sizeof *doc);
    doc->base = data;
    return len < UINT32_MAX && validate(data, len, doc);
}

void fl_jscan_doc_done(fl_jdoc *doc)
{
    free(doc->pairs);
    memset(doc, 0, sizeof *doc);
}

fl_jval fl_jscan_root(const fl_jdoc *doc, const char *data, size_t len)
{
    fl_jval v = fl_jscan_trim(data, len);
    v.doc = doc;
    return v;
}

/* ------------------------------------------------------------ navigation */

/* Past the string at p (its opening quote); validated text: a backslash
 * always has one more byte after it. */
static const char *skip_str(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\')
            p++;
    }
    return end;
}

/* The end of the container at p from doc's index; NULL if not found. */
static const char *doc_skip(const fl_jdoc *doc, const char *p)
{
    if (p < doc->base)
        return NULL;
    size_t off = (size_t)(p - doc->base), lo = 0, hi = doc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (doc->pairs[mid][0] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < doc->n && doc->pairs[lo][0] == off)
        return doc->base + doc->pairs[lo][1] + 1;
    return NULL;
}

static const char *skip_value(const char *p, const char *end, const fl_jdoc *doc)
{
    if (p >= end)
        return end;
    if (*p == '"')
        return skip_str(p, end);
    if ((*p == '{' || *p == '[') && doc) {
        const char *q = doc_skip(doc, p);
        if (q && q <= end)
            return q;
    }
    if (*p == '{' || *p == '[') {
        int d = 0;
        for (; p < end; p++) {
            char c = *p;
            if (c == '"') {
                for (p++; p < end && *p != '"'; p++)
                    if (*p == '\\')
                        p++;
            } else if (c == '{' || c == '[') {
                d++;
            } else if ((c == '}' || c == ']') && --d == 0) {
                return p + 1;
            }
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']')
        p++;
    return p;
}

char fl_jscan_kind(fl_jval v)
{
    if (!v.n)
        return 0;
    char c = v.p[0];
    return c == '{' || c == '[' || c == '"' || c == 'n' || c == 't' || c == 'f' ? c : '0';
}

fl_jiter fl_jscan_iter(fl_jval v)
{
    char k = fl_jscan_kind(v);
    if ((k != '{' && k != '[') || v.n < 2)
        return (fl_jiter){v.p, v.p, false, v.doc};
    return (fl_jiter){v.p + 1, v.p + v.n - 1, k == '{', v.doc};
}

bool fl_jscan_next(fl_jiter *it, fl_jval *key, fl_jval *val, fl_jval *member)
{
    const char *p = it->p, *end = it->end, *start;
    if (p < end && *p == ',')
        p++;
    if (p >= end)
        return false;
    start = p;
    if (it->object) {
        const char *k = skip_str(p, end);
        if (key)
            *key = (fl_jval){p + 1, (size_t)(k - 1 - (p + 1)), it->doc};
        p = k + 1; /* the colon */
        if (p > end)
            return false;
    } else if (key) {
        *key = (fl_jval){p, 0, it->doc};
    }
    const char *ve = skip_value(p, end, it->doc);
    if (val)
        *val = (fl_jval){p, (size_t)(ve - p), it->doc};
    if (member)
        *member = (fl_jval){start, (size_t)(ve - start), it->doc};
    it->p = ve;
    return true;
}

bool fl_jscan_key_is(fl_jval key, const char *name)
{
    size_t n = strlen(name);
    if (key.n <= n) /* an escape makes the raw key longer than its meaning */
        return key.n == n && memcmp(key.p, name, n) == 0;
    if (!memchr(key.p, '\\', key.n))
        return false;
    /* escaped key: compare the decoded bytes */
    uptr p = (uptr)key.p, end = p + key.n;
    size_t i = 0;
    while (p < end) {
        if (*p != '\\') {
            if (i >= n || (unsigned char)name[i] != *p)
                return false;
            i++, p++;
            continue;
        }
        long cp = escape(&p, end);
        unsigned char b[4];
        if (cp < 0)
            return false;
        size_t len = (size_t)utf8_enc((uint32_t)cp, b);
        if (i + len > n || memcmp(name + i, b, len) != 0)
            return false;
        i += len;
    }
    return i == n;
}

bool fl_jscan_get(fl_jval obj, const char *name, fl_jval *val, fl_jval *member)
{
    fl_jiter it = fl_jscan_iter(obj);
    fl_jval k, v, m;
    if (!it.object)
        return false;
    while (fl_jscan_next(&it, &k, &v, &m)) {
        if (fl_jscan_key_is(k, name)) {
            if (val)
                *val = v;
            if (member)
                *member = m;
            return true;
        }
    }
    return false;
}

bool fl_jscan_str_raw(fl_jval v, fl_jval *s)
{
    if (fl_jscan_kind(v) != '"' || v.n < 2 || memchr(v.p + 1, '\\', v.n - 2))
        return false;
    *s = (fl_jval){v.p + 1, v.n - 2, v.doc};
    return true;
}
