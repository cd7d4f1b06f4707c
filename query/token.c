/*
 * query/token.c: continue tokens. A token is
 *   base64url("1/<revision>/<offset>/<cluster>/<namespace>/<name>") "." base64url(HMAC-SHA256)
 * under the per-deployment key (query_key_load): opaque to clients, and any
 * change to it fails the HMAC (400). The payload is the keyset position of
 * the last object of the page and the index revision the first page was
 * served at (the list's resourceVersion). Ordered lists (orderby) use
 *   "2/<revision>/<offset>/<order digest>/<created>/<resourceVersion>/<cluster>/<namespace>/<name>"
 * with the sort key of the last row. OpenSSL's HMAC is the only crypto.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "query/query_int.h"

#define TOKEN_MAX 2048

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(const unsigned char *p, size_t n, fl_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], b64[v >> 6 & 63], b64[v & 63]};
        size_t k = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
        rc = fl_buf_append(out, q, k);
    }
    return rc;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Decode s[0..n) into out (at most max bytes); returns length or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t max)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= max)
                return -1;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    if (acc & ((1u << bits) - 1))
        return -1; /* non-canonical: unused low bits set (a second spelling) */
    return (long)o;
}

static void mac(const fl_query *q, const void *p, size_t n, unsigned char out[32])
{
    unsigned len = 32;
    HMAC(EVP_sha256(), q->key, (int)sizeof q->key, p, n, out, &len);
}

int fl_query_token_encode(const fl_query *q, const fl_query_cursor *c, fl_buf *out)
{
    char payload[1024];
    unsigned char m[32];
    int n = c->ordered
                ? snprintf(payload, sizeof payload, "2/%lld/%lld/%u/%lld/%s/%s/%s/%s",
                           (long long)c->revision, (long long)c->offset, (unsigned)c->order_sig,
                           (long long)c->created, c->rv, c->cluster, c->namespace_, c->name)
                : snprintf(payload, sizeof payload, "1/%lld/%lld/%s/%s/%s", (long long)c->revision,
                           (long long)c->offset, c->cluster, c->namespace_, c->name);
    if (n < 0 || (size_t)n >= sizeof payload)
        return -E2BIG;
    mac(q, payload, (size_t)n, m);
    int rc = b64_encode((const unsigned char *)payload, (size_t)n, out);
    if (!rc)
        rc = fl_buf_puts(out, ".");
    if (!rc)
        rc = b64_encode(m, sizeof m, out);
    return rc;
}

/* Copy the next '/'-separated field of *p into dst (size 254). */
static bool take(const char **p, char *dst, bool last)
{
    const char *s = *p, *e = last ? s + strlen(s) : strchr(s, '/');
    if (!e || (size_t)(e - s) >= 254)
        return false;
    memcpy(dst, s, (size_t)(e - s));
    dst[e - s] = 0;
    *p = last ? e : e + 1;
    return true;
}

/* "<sig>/<created>/<rv>/" of a version 2 payload. */
static bool parse_order(const char **p, fl_query_cursor *c)
{
    char sig[254], cr[254], rv[254];
    int64_t v;
    if (!take(p, sig, false) || fl_parse_i64(sig, strlen(sig), &v) != 0 || v < 0 ||
        v > 0xffffffffLL || !take(p, cr, false) ||
        fl_parse_i64(cr, strlen(cr), &c->created) != 0 || !take(p, rv, false) ||
        strlen(rv) >= sizeof c->rv)
        return false;
    c->order_sig = (uint32_t)v;
    c->ordered = true;
    memcpy(c->rv, rv, strlen(rv) + 1);
    return true;
}

static int parse_payload(const char *p, fl_query_cursor *c)
{
    char rev[254], off[254];
    bool v2 = !strncmp(p, "2/", 2);
    if (strncmp(p, "1/", 2) != 0 && !v2)
        return FL_EPARSE;
    p += 2;
    if (!take(&p, rev, false) || fl_parse_i64(rev, strlen(rev), &c->revision) != 0 ||
        c->revision < 0 || !take(&p, off, false) ||
        fl_parse_i64(off, strlen(off), &c->offset) != 0 || c->offset < 0 ||
        (v2 && !parse_order(&p, c)) || !take(&p, c->cluster, false) || !take(&p, c->namespace_, false) ||
        !take(&p, c->name, true) || strchr(c->name, '/'))
        return FL_EPARSE;
    return 0;
}

int fl_query_token_decode(const fl_query *q, const char *token, fl_query_cursor *out)
{
    unsigned char payload[1024], m[40], want[32];
    size_t n = strlen(token);
    const char *dot = memchr(token, '.', n);
    if (n > TOKEN_MAX || !dot)
        return FL_EPARSE;
    long pl = b64_decode(token, (size_t)(dot - token), payload, sizeof payload - 1);
    long ml = b64_decode(dot + 1, n - (size_t)(dot + 1 - token), m, sizeof m);
    if (pl <= 0 || ml != 32)
        return FL_EPARSE;
    mac(q, payload, (size_t)pl, want);
    unsigned diff = 0;
    for (size_t i = 0; i < 32; i++)
        diff |= (unsigned)(want[i] ^ m[i]);
    if (diff || memchr(payload, 0, (size_t)pl))
        return FL_EPARSE;
    payload[pl] = 0;
    fl_query_cursor c;
    memset(&c, 0, sizeof c);
    if (parse_payload((const char *)payload, &c) != 0)
        return FL_EPARSE;
    *out = c;
    return 0;
}
