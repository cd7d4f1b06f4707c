/*
 * apiserver/reply.c: the bottom helpers every handler shares — JSON and
 * Status replies with Kubernetes' wording and single-object answers. Calls
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
