/*
 * base/base64.c: base64 (RFC 4648) in the standard and URL-safe alphabets.
 * OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do the bit work; this file adds
 * the alphabet, the padding rules and strict validation, which
 * EVP_DecodeBlock alone does not give (it accepts '=' mid-quantum and trims
 * assorted trailing characters).
 */
#include "base/base.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Input bytes per EVP_EncodeBlock call: a multiple of 3, so every chunk
 * but the last encodes without padding. */
#define ENCODE_CHUNK (3 * 4096)
/* Characters per EVP_DecodeBlock call: a multiple of 4. */
#define DECODE_CHUNK (4 * 4096)

/* Value of c in the alphabet of enc, or -1. */
static int sextet(fl_base64 enc, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (enc == FL_BASE64_URL ? '-' : '+'))
        return 62;
    if (c == (enc == FL_BASE64_URL ? '_' : '/'))
        return 63;
    return -1;
}

int fl_base64_encode(fl_base64 enc, const void *p, size_t n, fl_buf *out)
{
    const unsigned char *s = p;
    size_t start = out->len;
    if (n > (SIZE_MAX - 2) / 4 * 3)
        return -E2BIG;
    int rc = fl_buf_reserve(out, (n + 2) / 3 * 4); /* also for n == 0: out->data is set */
    for (size_t off = 0; rc == 0 && off < n; off += ENCODE_CHUNK) {
        size_t k = n - off < ENCODE_CHUNK ? n - off : ENCODE_CHUNK;
        /* writes 4 * ceil(k / 3) characters and a NUL, which the reserve
         * above left room for */
        int w = EVP_EncodeBlock((unsigned char *)out->data + out->len, s + off, (int)k);
        out->len += (size_t)w;
    }
    if (rc != 0)
        return rc;
    if (enc == FL_BASE64_URL) {
        for (size_t i = start; i < out->len; i++)
            out->data[i] = out->data[i] == '+' ? '-' : out->data[i] == '/' ? '_' : out->data[i];
        while (out->len > start && out->data[out->len - 1] == '=')
            out->len--;
    }
    out->data[out->len] = 0;
    return 0;
}

/* The characters of s[0..n) other than CR and LF, validated and rewritten
 * into the standard alphabet with padding, in t (at least n + 3 bytes).
 * 0, *tlen (a multiple of 4) and *npad (the '=' at its end), or FL_EPARSE. */
static int normalize(fl_base64 enc, const char *s, size_t n, char *t, size_t *tlen, size_t *npad)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t m = 0, pad = 0;
    int last = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == '=' && enc == FL_BASE64_STD) {
            pad++;
            t[m++] = '=';
            continue;
        }
        int v = sextet(enc, c);
        if (v < 0 || pad)
            return FL_EPARSE; /* outside the alphabet, or data after '=' */
        t[m++] = std[v];
        last = v;
    }
    if (enc == FL_BASE64_URL)
        for (; m % 4 >= 2; pad++)
            t[m++] = '=';
    if (m % 4 != 0 || pad > 2)
        return FL_EPARSE;
    /* the bits of the last character that no output byte uses must be 0,
     * so every byte string has one spelling */
    if ((pad == 1 && (last & 0x03)) || (pad == 2 && (last & 0x0f)))
        return FL_EPARSE;
    *tlen = m;
    *npad = pad;
    return 0;
}

/* Decode the standard base64 t[0..n) (n a multiple of 4, no '=') to out,
 * which has room for it. */
static int decode_block(const char *t, size_t n, fl_buf *out)
{
    for (size_t off = 0; off < n; off += DECODE_CHUNK) {
        size_t k = n - off < DECODE_CHUNK ? n - off : DECODE_CHUNK;
        int w = EVP_DecodeBlock((unsigned char *)out->data + out->len,
                                (const unsigned char *)t + off, (int)k);
        if (w < 0)
            return FL_EPARSE;
        out->len += (size_t)w;
    }
    return 0;
}

int fl_base64_decode(fl_base64 enc, const char *s, size_t n, fl_buf *out)
{
    size_t start = out->len, tlen = 0, pad = 0;
    if (n > SIZE_MAX - 4)
        return -E2BIG;
    char *t = malloc(n + 4);
    if (!t)
        return -ENOMEM;
    int rc = normalize(enc, s, n, t, &tlen, &pad);
    /* room for exactly the decoded bytes: the quanta before the last one
     * decode in place, the last (which may be padded) through q */
    if (rc == 0)
        rc = fl_buf_reserve(out, tlen / 4 * 3 - pad);
    size_t body = tlen ? tlen - 4 : 0;
    if (rc == 0)
        rc = decode_block(t, body, out);
    if (rc == 0 && tlen) {
        unsigned char q[4];
        if (EVP_DecodeBlock(q, (const unsigned char *)t + body, 4) != 3)
            rc = FL_EPARSE;
        else
            rc = fl_buf_append(out, q, 3 - pad);
    }
    if (rc != 0)
        out->len = start;
    if (out->data)
        out->data[out->len] = 0;
    free(t);
    return rc;
}
