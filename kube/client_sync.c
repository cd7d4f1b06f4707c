/*
 * kube/client_sync.c: the blocking helpers over kube/client.c — one request
 * on a private libuv loop, for the CLI and tests. Never call these from a
 * loop thread.
 */
#include "kube/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct {
    fl_kube_response *out;
    bool done;
} sync_state;

/* Copy the borrowed response into *out, which then owns everything. */
static void sync_done(fl_kube_req *req, fl_kube_response *res, void *ud)
{
    sync_state *st = ud;
    fl_kube_response *o = st->out;
    *o = *res;
    o->body = res->body;
    res->body = (fl_buf)FL_BUF_INIT(0);
    o->status = json_incref(res->status);
    size_t ct = strlen(res->content_type), w = strlen(res->warning);
    o->owned_ = malloc(ct + w + 2);
    if (o->owned_) {
        memcpy(o->owned_, res->content_type, ct + 1);
        memcpy(o->owned_ + ct + 1, res->warning, w + 1);
        o->content_type = o->owned_;
        o->warning = o->owned_ + ct + 1;
    } else {
        o->content_type = o->warning = "";
    }
    st->done = true;
}

static void closed_cb(void *ud)
{
    *(bool *)ud = true;
}

int fl_kube_request_sync(fl_kube_conn *conn, const fl_kube_request *rq,
                         const fl_kube_client_opts *opts, fl_kube_response *out, fl_err *err)
{
    uv_loop_t loop;
    fl_kube_client *c = NULL;
    sync_state st = {out, false};
    bool closed = false;
    fl_kube_request one = *rq;
    int rc;
    memset(out, 0, sizeof *out);
    out->reason = out->message = out->content_type = out->warning = "";
    one.stream = false;
    if ((rc = uv_loop_init(&loop)) != 0) {
        out->err = rc;
        return fl_err_set(err, rc, "uv_loop_init: %s", uv_strerror(rc));
    }
    if ((rc = fl_kube_client_new(&loop, conn, opts, &c, err)) != 0)
        goto out;
    if ((rc = fl_kube_client_request(c, &one, NULL, sync_done, &st, NULL)) != 0) {
        fl_err_set(err, rc, "starting request: %s", fl_strerror(rc));
        goto out;
    }
    while (!st.done)
        uv_run(&loop, UV_RUN_ONCE);
    rc = out->err;
    if (rc)
        fl_err_set(err, rc, "%s%s%s", out->reason, *out->reason ? ": " : "", out->message);
out:
    if (c) {
        fl_kube_client_close(c, closed_cb, &closed);
        while (!closed)
            uv_run(&loop, UV_RUN_ONCE);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    out->err = rc;
    return rc;
}

int fl_kube_get_sync(fl_kube_conn *conn, const char *path, int64_t timeout_ms,
                     fl_kube_response *out, fl_err *err)
{
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    fl_kube_client_opts opts = FL_KUBE_CLIENT_OPTS_INIT;
    rq.path = path;
    if (timeout_ms > 0)
        opts.timeout_ms = timeout_ms;
    return fl_kube_request_sync(conn, &rq, &opts, out, err);
}

void fl_kube_response_done(fl_kube_response *r)
{
    if (!r)
        return;
    fl_buf_done(&r->body);
    json_decref(r->status);
    free(r->owned_);
    memset(r, 0, sizeof *r);
    r->reason = r->message = r->content_type = r->warning = "";
}
