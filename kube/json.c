/* kube/json.c: Go-compatible JSON encoding, Status objects, object helpers. */
#include "kube/kube.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    fl_buf *out;
    int rc;
} enc_ctx;

/* jansson hands us output in pieces; the characters Go escapes can only
 * occur inside strings, so replacing them anywhere is safe. */
static int enc_cb(const char *p, size_t n, void *data)
{
    enc_ctx *c = data;
    size_t start = 0;
    for (size_t i = 0; i < n && !c->rc; i++) {
        const char *rep = NULL;
        size_t skip = 1;
        unsigned char ch = (unsigned char)p[i];
        if (ch == '<')
            rep = "\\u003c";
        else if (ch == '>')
            rep = "\\u003e";
        else if (ch == '&')
            rep = "\\u0026";
        else if (ch == 0xE2 && i + 2 < n && (unsigned char)p[i + 1] == 0x80 &&
                 ((unsigned char)p[i + 2] == 0xA8 || (unsigned char)p[i + 2] == 0xA9)) {
            rep = (unsigned char)p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (!rep)
            continue;
        c->rc = fl_buf_append(c->out, p + start, i - start);
        if (!c->rc)
            c->rc = fl_buf_puts(c->out, rep);
        i += skip - 1;
        start = i + 1;
    }
    if (!c->rc && start < n)
        c->rc = fl_buf_append(c->out, p + start, n - start);
    return c->rc ? -1 : 0;
}

int fl_json_encode(const json_t *v, bool pretty, fl_buf *out)
{
    enc_ctx c = {out, 0};
    size_t flags = (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_ENCODE_ANY;
    if (json_dump_callback(v, enc_cb, &c, flags) != 0)
        return c.rc ? c.rc : -ENOMEM;
    return pretty ? 0 : fl_buf_append(out, "\n", 1);
}

int fl_json_parse(const char *data, size_t len, json_t **out, fl_err *err)
{
    json_error_t je;
    json_t *v =
        json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        return fl_err_set(err, FL_EPARSE, "line %d column %d: %s", je.line, je.column, je.text);
    *out = v;
    return 0;
}

const char *fl_status_reason_for(int code)
{
    switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
    }
}

json_t *fl_status_new(int code, const char *reason, const char *message)
{
    json_t *s = json_object();
    if (!s)
        return NULL;
    json_object_set_new(s, "kind", json_string("Status"));
    json_object_set_new(s, "apiVersion", json_string("v1"));
    json_object_set_new(s, "metadata", json_object());
    json_object_set_new(s, "status",
                        json_string(code >= 200 && code < 300 ? "Success" : "Failure"));
    if (message)
        json_object_set_new(s, "message", json_string(message));
    if (reason && *reason)
        json_object_set_new(s, "reason", json_string(reason));
    json_object_set_new(s, "code", json_integer(code));
    return s;
}

void fl_status_set_details(json_t *status, const char *name, const char *group, const char *kind)
{
    json_t *d = json_object();
    if (!d)
        return;
    if (name && *name)
        json_object_set_new(d, "name", json_string(name));
    if (group && *group)
        json_object_set_new(d, "group", json_string(group));
    if (kind && *kind)
        json_object_set_new(d, "kind", json_string(kind));
    /* Go order puts details before code: rebuild the tail. */
    json_t *code = json_incref(json_object_get(status, "code"));
    json_object_del(status, "code");
    json_object_set_new(status, "details", d);
    if (code)
        json_object_set_new(status, "code", code);
}

json_t *fl_status_success(const char *name, const char *group, const char *kind, const char *uid)
{
    json_t *s = fl_status_new(200, NULL, NULL);
    if (!s)
        return NULL;
    fl_status_set_details(s, name, group, kind);
    json_t *d = json_object_get(s, "details");
    if (d && uid && *uid)
        json_object_set_new(d, "uid", json_string(uid));
    return s;
}

json_t *fl_obj_get(const json_t *obj, const char *path)
{
    const json_t *cur = obj;
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, p, n);
        p += n + (dot ? 1 : 0);
    }
    return (json_t *)cur;
}

const char *fl_obj_str(const json_t *obj, const char *path)
{
    return json_string_value(fl_obj_get(obj, path));
}

const char *fl_obj_str_or(const json_t *obj, const char *path, const char *dflt)
{
    const char *s = fl_obj_str(obj, path);
    return s ? s : dflt;
}

json_t *fl_obj_ensure(json_t *obj, const char *path)
{
    json_t *cur = obj;
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur))
            return NULL;
        json_t *next = json_object_getn(cur, p, n);
        if (!next) {
            next = json_object();
            if (!next || json_object_setn_new(cur, p, n, next))
                return NULL;
        }
        cur = next;
        p += n + (dot ? 1 : 0);
    }
    return json_is_object(cur) ? cur : NULL;
}

int fl_obj_set_annotation(json_t *obj, const char *key, const char *value)
{
    json_t *a = fl_obj_ensure(obj, "metadata.annotations");
    if (!a || json_object_set_new(a, key, json_string(value)))
        return -ENOMEM;
    return 0;
}
