/*
 * scheduler/labelscan.c: metadata.labels of a stored object's JSON, scanned
 * without building a tree. jansson spends ~40 µs building and freeing a
 * 500-byte node document, and reading half a million of them was the
 * capacity snapshot's whole cost. The index stores compact, valid JSON
 * (fl_json_encode), so a skipping scanner that copies only the label strings
 * is enough; it still checks bounds everywhere, caps nesting, and gives up
 * (no labels) on anything unexpected. Used by snapshot.c only.
 */
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

typedef struct scan {
    const char *p, *end;
    int depth;
} scan;

static void sc_ws(scan *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\t' || *sc->p == '\r'))
        sc->p++;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Four hex digits at sc->p (advanced past them), or -1. */
static long hex4(scan *sc)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = sc->p + i < sc->end ? hexval(sc->p[i]) : -1;
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    sc->p += 4;
    return v;
}

/* Code point v as UTF-8 into u; returns the length. */
static size_t utf8(long v, char u[4])
{
    if (v < 0x80) {
        u[0] = (char)v;
        return 1;
    }
    if (v < 0x800) {
        u[0] = (char)(0xC0 | (v >> 6));
        u[1] = (char)(0x80 | (v & 0x3F));
        return 2;
    }
    if (v < 0x10000) {
        u[0] = (char)(0xE0 | (v >> 12));
        u[1] = (char)(0x80 | ((v >> 6) & 0x3F));
        u[2] = (char)(0x80 | (v & 0x3F));
        return 3;
    }
    u[0] = (char)(0xF0 | (v >> 18));
    u[1] = (char)(0x80 | ((v >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((v >> 6) & 0x3F));
    u[3] = (char)(0x80 | (v & 0x3F));
    return 4;
}

/* A string at sc->p; appended (unescaped, NUL-terminated) to out when out. */
static bool sc_string(scan *sc, fl_buf *out)
{
    if (sc->p >= sc->end || *sc->p != '"')
        return false;
    sc->p++;
    while (sc->p < sc->end && *sc->p != '"') {
        const char *run = sc->p;
        while (sc->p < sc->end && *sc->p != '"' && *sc->p != '\\')
            sc->p++;
        if (out && fl_buf_append(out, run, (size_t)(sc->p - run)) != 0)
            return false;
        if (sc->p < sc->end && *sc->p == '\\') {
            if (sc->end - sc->p < 2)
                return false;
            char c = sc->p[1], e = c;
            sc->p += 2;
            if (c == 'u') {
                long v = hex4(sc);
                if (v < 0)
                    return false;
                /* a surrogate pair is one code point */
                if (v >= 0xD800 && v < 0xDC00 && sc->end - sc->p >= 6 && sc->p[0] == '\\' &&
                    sc->p[1] == 'u') {
                    scan look = *sc;
                    look.p += 2;
                    long lo = hex4(&look);
                    if (lo >= 0xDC00 && lo < 0xE000) {
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                        sc->p = look.p;
                    }
                }
                char u[4];
                size_t n = utf8(v, u);
                if (out && fl_buf_append(out, u, n) != 0)
                    return false;
                continue;
            }
            e = c == 'n'   ? '\n'
                : c == 't' ? '\t'
                : c == 'r' ? '\r'
                : c == 'b' ? '\b'
                : c == 'f' ? '\f'
                           : c;
            if (out && fl_buf_append(out, &e, 1) != 0)
                return false;
        }
    }
    if (sc->p >= sc->end)
        return false;
    sc->p++;
    return !out || fl_buf_append(out, "", 1) == 0;
}

static bool sc_skip(scan *sc);

/* A member name into key[size]; a name with escapes or too long for key
 * reads as "" (no member this scanner looks for has either). */
static bool sc_key(scan *sc, char *key, size_t size)
{
    const char *start = sc->p + 1;
    if (!sc_string(sc, NULL))
        return false;
    size_t n = (size_t)(sc->p - 1 - start);
    if (n >= size || memchr(start, '\\', n))
        n = 0;
    memcpy(key, start, n);
    key[n] = 0;
    return true;
}

/* Walk an object: for each member, cb(key, sc at value); cb consumes the value. */
static bool sc_object(scan *sc, bool (*cb)(scan *, const char *, void *), void *ud)
{
    if (sc->p >= sc->end || *sc->p != '{' || ++sc->depth > 64)
        return false;
    sc->p++;
    sc_ws(sc);
    if (sc->p < sc->end && *sc->p == '}') {
        sc->p++;
        sc->depth--;
        return true;
    }
    for (;;) {
        char key[256];
        sc_ws(sc);
        bool ok = sc_key(sc, key, sizeof key);
        sc_ws(sc);
        if (!ok || sc->p >= sc->end || *sc->p++ != ':')
            return false;
        sc_ws(sc);
        if (!(cb ? cb(sc, key, ud) : sc_skip(sc)))
            return false;
        sc_ws(sc);
        if (sc->p >= sc->end)
            return false;
        if (*sc->p == '}') {
            sc->p++;
            sc->depth--;
            return true;
        }
        if (*sc->p++ != ',')
            return false;
    }
}

static bool sc_skip_member(scan *sc, const char *key, void *ud)
{
    (void)key, (void)ud;
    return sc_skip(sc);
}

static bool sc_skip(scan *sc)
{
    if (sc->p >= sc->end)
        return false;
    if (*sc->p == '"')
        return sc_string(sc, NULL);
    if (*sc->p == '{')
        return sc_object(sc, sc_skip_member, NULL);
    if (*sc->p == '[') {
        if (++sc->depth > 64)
            return false;
        sc->p++;
        sc_ws(sc);
        if (sc->p < sc->end && *sc->p == ']') {
            sc->p++;
            sc->depth--;
            return true;
        }
        for (;;) {
            sc_ws(sc);
            if (!sc_skip(sc))
                return false;
            sc_ws(sc);
            if (sc->p >= sc->end)
                return false;
            if (*sc->p == ']') {
                sc->p++;
                sc->depth--;
                return true;
            }
            if (*sc->p++ != ',')
                return false;
        }
    }
    /* number, true, false, null */
    const char *start = sc->p;
    while (sc->p < sc->end && *sc->p != ',' && *sc->p != '}' && *sc->p != ']' && *sc->p != ' ')
        sc->p++;
    return sc->p > start;
}

static bool sc_label(scan *sc, const char *key, void *ud)
{
    fl_buf *out = ud;
    if (sc->p < sc->end && *sc->p == '"')
        return fl_buf_append(out, key, strlen(key) + 1) == 0 && sc_string(sc, out);
    return sc_skip(sc);
}

static bool sc_metadata(scan *sc, const char *key, void *ud)
{
    if (strcmp(key, "labels") == 0 && sc->p < sc->end && *sc->p == '{')
        return sc_object(sc, sc_label, ud);
    return sc_skip(sc);
}

static bool sc_top(scan *sc, const char *key, void *ud)
{
    if (strcmp(key, "metadata") == 0 && sc->p < sc->end && *sc->p == '{')
        return sc_object(sc, sc_metadata, ud);
    return sc_skip(sc);
}

char *fl_sched_scan_labels(const char *json, size_t len)
{
    scan sc = {json, json + len, 0};
    fl_buf b = FL_BUF_INIT(1u << 20);
    if (fl_buf_reserve(&b, 256) != 0)
        return NULL;
    sc_ws(&sc);
    if (!sc_object(&sc, sc_top, &b) || b.len == 0 || fl_buf_append(&b, "", 1) != 0) {
        fl_buf_done(&b);
        return NULL;
    }
    return fl_buf_steal(&b);
}
