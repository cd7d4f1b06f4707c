/*
 * server/uri.c: the one parser of request targets (untrusted input). It
 * splits "path?query", percent-decodes the path as Go's url.PathUnescape
 * does, and the query much as url.ParseQuery does ('&' separated, '+' is a
 * space, pairs with a ';' in the key or an empty key are dropped) except
 * that a bad escape or a %00 anywhere fails the whole target (-EINVAL, a
 * 400): Go drops such a pair, which turned `labelSelector=a%3Dx%00` into
 * "no selector" (fail open, #19).
 * Pure functions, any thread; fuzzed by tests/fuzz/fuzz_server_uri.c.
 */
#include "server/server_int.h"

#include <errno.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode s[0..n) into out (NUL-terminated). plus: '+' means ' '.
 * Returns the bytes written, or -EINVAL (bad escape, or %00). */
static int decode(const char *s, size_t n, bool plus, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3)
                return -EINVAL;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -EINVAL;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return (int)o;
}

size_t srv_uri_count_pairs(const char *raw)
{
    const char *q = strchr(raw, '?');
    size_t n = 0;
    if (!q)
        return 0;
    for (n = 1; *q; q++)
        n += *q == '&';
    return n;
}

int srv_uri_parse(const char *raw, char *out, kv *q, size_t qmax, const char **path)
{
    const char *qs = strchr(raw, '?');
    size_t plen = qs ? (size_t)(qs - raw) : strlen(raw);
    int w = decode(raw, plen, false, out);
    if (w < 0)
        return -EINVAL;
    *path = out;
    char *o = out + w + 1;
    size_t nq = 0;
    for (const char *p = qs; p && (p = strchr(p, '%')); p++)
        if (p[1] == '0' && p[2] == '0')
            return -EINVAL; /* even in a pair that would be skipped */
    while (qs && nq < qmax) {
        const char *p = qs + 1;
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        qs = amp;
        if (klen == 0 || memchr(p, ';', klen))
            continue;
        int kw = decode(p, klen, true, o);
        if (kw < 0)
            return -EINVAL;
        char *vo = o + kw + 1;
        int vw = eq ? decode(eq + 1, len - klen - 1, true, vo) : (vo[0] = '\0', 0);
        if (vw < 0)
            return -EINVAL;
        q[nq].k = o;
        q[nq].v = vo;
        nq++;
        o = vo + vw + 1;
    }
    return (int)nq;
}
