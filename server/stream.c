/*
 * server/stream.c: chunked streaming answers (watch, log -f). The owner
 * queues writes from any thread; libmicrohttpd pulls them through a content
 * reader on the connection's thread, one write per chunk. When the queue is
 * empty the reader suspends the connection (no busy loop) and the next
 * write, close or server stop resumes it. The request's reference count
 * keeps it alive for both sides: the owner until fl_stream_close, the MHD
 * response until libmicrohttpd frees it.
 */
#include "server/server_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_BLOCK (64u << 10)

static void wake_locked(fl_request *r)
{
    if (r->suspended && !r->finished) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
}

/* MHD thread: the next chunk, end of stream, or 0 after suspending. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    fl_request *r = cls;
    ssize_t n;
    pthread_mutex_lock(&r->mu);
    chunk *c = r->qh;
    if (r->peer_closed) {
        n = MHD_CONTENT_READER_END_WITH_ERROR; /* MHD closes the connection */
    } else if (c) {
        size_t take = c->len - c->off;
        if (take > max)
            take = max;
        memcpy(buf, c->data + c->off, take);
        c->off += take;
        if (c->off == c->len) {
            r->qh = c->next;
            if (!r->qh)
                r->qt = NULL;
            free(c);
        }
        r->queued -= take;
        atomic_fetch_sub(&r->srv->queued_total, take);
        r->bytes += take;
        n = (ssize_t)take;
    } else if (r->st_closed || r->server_ended || atomic_load(&r->srv->stopping)) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        r->suspended = true;
        MHD_suspend_connection(r->conn);
        n = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void stream_free(void *cls)
{
    srv_request_unref(cls);
}

void srv_stream_end_locked(fl_request *r)
{
    r->server_ended = true;
    r->st_gone = true;
    wake_locked(r);
}

/* A suspended connection is out of MHD's event loop, so MHD would only
 * notice a departed client at the next write. POLLRDHUP tells us the peer
 * shut its side (a watch client sends nothing while it listens). */
void srv_stream_probe_locked(fl_request *r)
{
    if (!r->is_stream || !r->suspended || r->finished || r->fd < 0)
        return;
    struct pollfd p = {r->fd, POLLRDHUP, 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        r->peer_closed = true;
        wake_locked(r);
    }
}

int fl_request_stream(fl_request *r, int code, const char *content_type, fl_stream **out)
{
    struct MHD_Response *resp, *drop = NULL;
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    if (r->owner_done) {
        pthread_mutex_unlock(&r->mu);
        return -EALREADY;
    }
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, r,
                                             stream_free);
    if (!resp) {
        pthread_mutex_unlock(&r->mu);
        return -ENOMEM;
    }
    r->refs++; /* the response's reference, dropped by stream_free */
    srv_add_headers(r, resp, content_type);
    r->owner_done = true;
    r->is_stream = true;
    if (r->answered || r->finished) {
        r->st_gone = true;
        drop = resp;
        rc = FL_ECLOSED;
    } else {
        r->answered = true;
        r->resp = resp;
        r->code = code;
        wake_locked(r);
    }
    pthread_mutex_unlock(&r->mu);
    if (drop) { /* nobody to stream to: release the response and the owner */
        MHD_destroy_response(drop);
        srv_request_unref(r);
        return rc;
    }
    *out = &r->st;
    return rc;
}

void srv_stream_drop_locked(fl_request *r)
{
    for (chunk *c = r->qh, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    r->qh = r->qt = NULL;
    if (r->queued >= (1u << 20))
        atomic_store(&r->srv->trim, true); /* give big queues back to the system */
    atomic_fetch_sub(&r->srv->queued_total, r->queued);
    r->queued = 0;
}

#define STREAM_LAST_MAX (64u << 10)

static int stream_write(fl_stream *st, const void *data, size_t len, bool last)
{
    fl_request *r = st->r;
    if (len == 0)
        return 0;
    if (last && len > STREAM_LAST_MAX)
        return -E2BIG;
    chunk *c = malloc(sizeof(*c) + len);
    if (!c)
        return -ENOMEM;
    memcpy(c->data, data, len);
    c->len = len;
    c->off = 0;
    c->next = NULL;
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    if (r->st_closed || r->st_gone || r->finished) {
        rc = FL_ECLOSED;
    } else if (!last && (len > r->max_queued - r->queued ||
                         (r->srv->o.stream_max_total &&
                          atomic_load(&r->srv->queued_total) + len > r->srv->o.stream_max_total))) {
        rc = FL_EFULL;
    } else {
        if (r->qt)
            r->qt->next = c;
        else
            r->qh = c;
        r->qt = c;
        r->queued += len;
        atomic_fetch_add(&r->srv->queued_total, len);
        c = NULL;
        wake_locked(r);
    }
    pthread_mutex_unlock(&r->mu);
    free(c);
    return rc;
}

int fl_stream_write(fl_stream *st, const void *data, size_t len)
{
    return stream_write(st, data, len, false);
}

int fl_stream_write_last(fl_stream *st, const void *data, size_t len)
{
    return stream_write(st, data, len, true);
}

void srv_fire_gone(fl_request *r)
{
    pthread_mutex_lock(&r->mu);
    if (r->gone_fired || !r->on_gone || !r->st_gone) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    void (*fn)(void *) = r->on_gone;
    void *ud = r->gone_ud;
    r->gone_fired = true;
    r->firing = true;
    r->firing_thread = pthread_self();
    pthread_mutex_unlock(&r->mu);
    fn(ud);
    pthread_mutex_lock(&r->mu);
    r->firing = false;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void fl_stream_on_gone(fl_stream *st, void (*fn)(void *ud), void *ud)
{
    fl_request *r = st->r;
    pthread_mutex_lock(&r->mu);
    r->on_gone = fn;
    r->gone_ud = ud;
    r->refs++; /* fn may close the stream, dropping the owner's reference */
    pthread_mutex_unlock(&r->mu);
    srv_fire_gone(r); /* the client may already be gone */
    srv_request_unref(r);
}

void fl_stream_close(fl_stream *st)
{
    if (!st)
        return;
    fl_request *r = st->r;
    pthread_mutex_lock(&r->mu);
    r->on_gone = NULL;
    while (r->firing && !pthread_equal(r->firing_thread, pthread_self()))
        pthread_cond_wait(&r->cv, &r->mu);
    r->st_closed = true;
    wake_locked(r);
    pthread_mutex_unlock(&r->mu);
    srv_request_unref(r);
}
