/*
 * query/token.c: continue tokens. A token is
 *   base64url(nonce[12] || AES-256-GCM(payload) || tag[16])
 * under a key derived from the per-deployment key (query_key_load), with
 * the binding (query_token_bind: user, resource, cluster path, namespace
 * and the query's conditions) as additional authenticated data. So a token
 * is opaque to clients (the names of objects it positions after are
 * encrypted, #19), any change to it fails (400), and a token used by
 * another user, for another resource, path or query fails the same way.
 * The payload is
 *   "1/<revision>/<offset>/<cluster>/<namespace>/<name>"
 * (the keyset position of the last object looked at and the index revision
 * the first page was served at); ordered lists (orderby) use
 *   "2/<revision>/<offset>/<order digest>/<created>/<resourceVersion>/<cluster>/<namespace>/<name>"
 * with the sort key of the last row. OpenSSL (EVP) is the only crypto.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

#define TOKEN_MAX 2048
#define NONCE_LEN 12
#define TAG_LEN 16
#define PAYLOAD_MAX 1024

/* The AES key: HMAC-SHA256(deployment key, purpose), so the stored key
 * is never used directly as a cipher key. */
static void token_key(const fl_query *q, unsigned char out[32])
{
    static const char purpose[] = "flotilla continue token aes-256-gcm v1";
    unsigned len = 32;
    HMAC(EVP_sha256(), q->key, (int)sizeof q->key, (const unsigned char *)purpose,
         sizeof purpose - 1, out, &len);
}

/* AES-256-GCM seal or open of in[0..n) into out, aad = bind. 0 or -EIO
 * (open: authentication failed). */
static int gcm(const fl_query *q, bool seal, const unsigned char nonce[NONCE_LEN], const char *bind,
               const unsigned char *in, size_t n, unsigned char *out, unsigned char tag[TAG_LEN])
{
    unsigned char key[32];
    int len = 0, ok = 0;
    EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
    token_key(q, key);
    if (!cx)
        return -ENOMEM;
    if (seal)
        ok = EVP_EncryptInit_ex(cx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
             EVP_EncryptUpdate(cx, NULL, &len, (const unsigned char *)bind, (int)strlen(bind)) ==
                 1 &&
             EVP_EncryptUpdate(cx, out, &len, in, (int)n) == 1 &&
             EVP_EncryptFinal_ex(cx, out + len, &len) == 1 &&
             EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    else
        ok = EVP_DecryptInit_ex(cx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
             EVP_DecryptUpdate(cx, NULL, &len, (const unsigned char *)bind, (int)strlen(bind)) ==
                 1 &&
             EVP_DecryptUpdate(cx, out, &len, in, (int)n) == 1 &&
             EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1 &&
             EVP_DecryptFinal_ex(cx, out + len, &len) == 1;
    EVP_CIPHER_CTX_free(cx);
    OPENSSL_cleanse(key, sizeof key);
    return ok ? 0 : -EIO;
}

int fl_query_token_encode_for(const fl_query *q, const char *bind, const fl_query_cursor *c,
                              fl_buf *out)
{
    char payload[PAYLOAD_MAX];
    unsigned char sealed[NONCE_LEN + PAYLOAD_MAX + TAG_LEN];
    /* versions 1 (key order) and 2 (ordered); 3 and 4 are the same with the
     * list's total after the offset */
    char head[96];
    int h = c->total > 0
                ? snprintf(head, sizeof head, "%d/%lld/%lld/%lld", c->ordered ? 4 : 3,
                           (long long)c->revision, (long long)c->offset, (long long)c->total)
                : snprintf(head, sizeof head, "%d/%lld/%lld", c->ordered ? 2 : 1,
                           (long long)c->revision, (long long)c->offset);
    int n = h < 0 || (size_t)h >= sizeof head ? -1
            : c->ordered ? snprintf(payload, sizeof payload, "%s/%u/%lld/%s/%s/%s/%s", head,
                                    (unsigned)c->order_sig, (long long)c->created, c->rv,
                                    c->cluster, c->namespace_, c->name)
                         : snprintf(payload, sizeof payload, "%s/%s/%s/%s", head, c->cluster,
                                    c->namespace_, c->name);
    if (n < 0 || (size_t)n >= sizeof payload)
        return -E2BIG;
    int rc = fl_random_bytes(sealed, NONCE_LEN);
    if (!rc)
        rc = gcm(q, true, sealed, bind ? bind : "", (const unsigned char *)payload, (size_t)n,
                 sealed + NONCE_LEN, sealed + NONCE_LEN + n);
    if (!rc)
        rc = fl_base64_encode(FL_BASE64_URL, sealed, NONCE_LEN + (size_t)n + TAG_LEN, out);
    return rc;
}

int fl_query_token_encode(const fl_query *q, const fl_query_cursor *c, fl_buf *out)
{
    return fl_query_token_encode_for(q, "", c, out);
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
        v > 0xffffffffLL || !take(p, cr, false) || fl_parse_i64(cr, strlen(cr), &c->created) != 0 ||
        !take(p, rv, false) || strlen(rv) >= sizeof c->rv)
        return false;
    c->order_sig = (uint32_t)v;
    c->ordered = true;
    memcpy(c->rv, rv, strlen(rv) + 1);
    return true;
}

static int parse_payload(const char *p, fl_query_cursor *c)
{
    char rev[254], off[254], tot[254];
    if (p[0] < '1' || p[0] > '4' || p[1] != '/')
        return FL_EPARSE;
    bool ordered = p[0] == '2' || p[0] == '4', counted = p[0] >= '3';
    p += 2;
    if (!take(&p, rev, false) || fl_parse_i64(rev, strlen(rev), &c->revision) != 0 ||
        c->revision < 0 || !take(&p, off, false) ||
        fl_parse_i64(off, strlen(off), &c->offset) != 0 || c->offset < 0 ||
        (counted && (!take(&p, tot, false) || fl_parse_i64(tot, strlen(tot), &c->total) != 0 ||
                     c->total <= 0)) ||
        (ordered && !parse_order(&p, c)) || !take(&p, c->cluster, false) ||
        !take(&p, c->namespace_, false) || !take(&p, c->name, true) || strchr(c->name, '/'))
        return FL_EPARSE;
    return 0;
}

int fl_query_token_decode_for(const fl_query *q, const char *bind, const char *token,
                              fl_query_cursor *out)
{
    unsigned char sealed[NONCE_LEN + PAYLOAD_MAX + TAG_LEN], payload[PAYLOAD_MAX + 1];
    size_t n = strlen(token);
    if (n > TOKEN_MAX)
        return FL_EPARSE;
    fl_buf raw = FL_BUF_INIT(sizeof sealed);
    size_t sl = fl_base64_decode(FL_BASE64_URL, token, n, &raw) == 0 ? raw.len : 0;
    if (sl)
        memcpy(sealed, raw.data, sl);
    fl_buf_done(&raw);
    if (sl <= NONCE_LEN + TAG_LEN)
        return FL_EPARSE;
    size_t pl = sl - NONCE_LEN - TAG_LEN;
    if (gcm(q, false, sealed, bind ? bind : "", sealed + NONCE_LEN, pl, payload,
            sealed + NONCE_LEN + pl) != 0 ||
        memchr(payload, 0, pl))
        return FL_EPARSE;
    payload[pl] = 0;
    fl_query_cursor c;
    memset(&c, 0, sizeof c);
    if (parse_payload((const char *)payload, &c) != 0)
        return FL_EPARSE;
    *out = c;
    return 0;
}

int fl_query_token_decode(const fl_query *q, const char *token, fl_query_cursor *out)
{
    return fl_query_token_decode_for(q, "", token, out);
}

/* ---- binding -------------------------------------------------------------- */

/* Parameters that may change between the pages of one list. */
static bool unbound_param(const char *k)
{
    static const char *const skip[] = {"continue",           "limit",          "pretty",
                                       "withRemainingCount", "timeoutSeconds", "includeObject"};
    for (size_t i = 0; i < FL_ARRAY_LEN(skip); i++)
        if (!strcmp(k, skip[i]))
            return true;
    return false;
}

typedef struct bind_ctx {
    EVP_MD_CTX *md;
    bool ok;
} bind_ctx;

static void bind_add(bind_ctx *b, const char *s)
{
    b->ok = b->ok && EVP_DigestUpdate(b->md, s, strlen(s) + 1) == 1; /* with the NUL */
}

static bool bind_param(const char *k, const char *v, void *ud)
{
    if (!unbound_param(k)) {
        bind_add(ud, k);
        bind_add(ud, v ? v : "");
    }
    return true;
}

int query_token_bind(fl_request *r, const query_user *u, const char *what, const char *cluster,
                     const char *ns, char out[QUERY_BIND_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[32];
    unsigned dl = 0;
    bind_ctx b = {EVP_MD_CTX_new(), true};
    if (!b.md)
        return -ENOMEM;
    b.ok = EVP_DigestInit_ex(b.md, EVP_sha256(), NULL) == 1;
    bind_add(&b, u->name ? u->name : "");
    bind_add(&b, what ? what : "");
    bind_add(&b, cluster ? cluster : "*");
    bind_add(&b, ns ? ns : "*");
    if (r)
        fl_request_query_each(r, bind_param, &b);
    b.ok = b.ok && EVP_DigestFinal_ex(b.md, d, &dl) == 1 && dl == 32;
    EVP_MD_CTX_free(b.md);
    if (!b.ok)
        return -EIO;
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = 0;
    return 0;
}
