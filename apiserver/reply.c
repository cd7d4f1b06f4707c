/*
 * apiserver/reply.c: the bottom helpers every handler shares — JSON and
 * Status replies with Kubernetes' wording, single-object answers, and
 * base64 (url-safe for continue tokens, standard for Secret data). Calls
 * nothing above it in apiserver/.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"

/* ---------------------------------------------------------------- replies */

void fl_apiserver_reply_json(fl_request *req, int code, json_t *v)
{
    if (!v) {
        fl_request_reply_status(req, 500, NULL, "out of memory");
        return;
    }
    json_t *c = json_object_get(v, "code");
    if (c && !strcmp(fl_obj_str(v, "kind") ?: "", "Status")) {
        json_incref(c); /* Go's field order: code comes last */
        json_object_del(v, "code");
        json_object_set_new(v, "code", c);
    }
    fl_request_reply_json(req, code, v);
}

void fl_apiserver_reply_status(fl_request *req, int code, const char *reason, const char *msg,
                      const char *name, const char *group, const char *kind)
{
    json_t *st = fl_status_new(code, reason ? reason : fl_status_reason_for(code), msg);
    if (st && (name || group || kind))
        fl_status_set_details(st, name, group, kind);
    else if (st && (code == 404 || code == 405 || code == 415) && !name)
        json_object_set_new(st, "details", json_object());
    fl_apiserver_reply_json(req, code, st);
}

void fl_apiserver_res_qualified(const fl_apiserver_res *r, char *out, size_t n)
{
    snprintf(out, n, "%s%s%s", r->kr->resource, *r->kr->group ? "." : "", r->kr->group);
}


void fl_apiserver_reply_bytes(fl_request *req, int code, fl_buf *b)
{
    if (fl_request_wants_pretty(req)) {
        json_t *v = json_loadb(b->data, b->len, 0, NULL);
        fl_apiserver_reply_json(req, code, v);
        return;
    }
    fl_request_reply(req, code, "application/json", b->data, b->len);
}

void fl_apiserver_reply_obj(fl_request *req, int code, const fl_apiserver_obj *o)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    if (fl_apiserver_obj_write(o, false, &b) == 0 && fl_buf_puts(&b, "\n") == 0)
        fl_apiserver_reply_bytes(req, code, &b);
    else
        fl_request_reply_status(req, 500, NULL, "out of memory");
    fl_buf_done(&b);
}

/* ---------------------------------------------------------------- base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of p[0..n) with alphabet tbl, '='-padded when pad. */
static int b64_encode(const void *p, size_t n, const char *tbl, bool pad, fl_buf *out)
{
    const unsigned char *s = p;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        char q[4] = {tbl[v >> 18 & 63], tbl[v >> 12 & 63], tbl[v >> 6 & 63], tbl[v & 63]};
        size_t k = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
        for (; pad && k < 4; k++)
            q[k] = '=';
        rc = fl_buf_append(out, q, k);
    }
    return rc == 0 && !out->data ? fl_buf_puts(out, "") : rc;
}

int fl_apiserver_b64url_encode(const void *p, size_t n, fl_buf *out)
{
    return b64_encode(p, n, b64, false, out);
}

int fl_apiserver_b64url_decode(const char *s, fl_buf *out)
{
    uint32_t v = 0;
    int bits = 0, rc = 0;
    for (; *s && rc == 0; s++) {
        const char *p = strchr(b64, *s == '+' ? '-' : *s == '/' ? '_' : *s);
        if (*s == '=')
            break;
        if (!p || !*s)
            return FL_EPARSE;
        v = v << 6 | (uint32_t)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)(v >> bits & 0xff);
            rc = fl_buf_append(out, &c, 1);
        }
    }
    return rc == 0 && !out->data ? fl_buf_puts(out, "") : rc;
}

int fl_apiserver_b64std_encode(const void *p, size_t n, fl_buf *out)
{
    return b64_encode(p, n, b64std, true, out);
}
