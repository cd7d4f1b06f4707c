/*
 * kube/client.h: the HTTP client for Kubernetes APIs. libcurl's multi
 * interface driven by a libuv loop (uv_poll per socket + one uv_timer, from
 * curl's socket and timer callbacks): one loop thread, any number of
 * concurrent requests, connections kept alive and reused per client.
 *
 * One fl_kube_client per connection (per member cluster), built from a
 * fl_kube_conn (kubeconfig.h): TLS from memory blobs (CA, client cert/key;
 * no temporary files), bearer token / basic auth, tls-server-name,
 * insecure-skip-tls-verify. With an exec plugin, the credential is fetched
 * on the libuv thread pool (never blocking the loop), and a 401 refreshes it
 * and retries the request once.
 *
 * Results. Every request ends with exactly one call of its done callback
 * with a fl_kube_response. Success is a 2xx status. Every failure carries a
 * Kubernetes Status-like triple (code, reason, message):
 *   - HTTP errors: the server's Status body when it parses as one, else a
 *     synthesized Status ("the server responded with the status code 500
 *     but did not return more information", reason from the code);
 *   - transport failures: code 0, reason "ConnectionRefused", "Timeout",
 *     "TLSError", "DNSError", "ConnectionReset", "TooLarge",
 *     "StreamTruncated", "Cancelled", "Closed", "CredentialError" or
 *     "TransportError", message = curl's (or our) text.
 * The client never parses success bodies: whole bodies are handed over as
 * raw bytes (the callback may steal them for a decoder thread); only small
 * error bodies (<= 64 KiB) are parsed, for their Status.
 *
 * Threads: every function here except the _sync helpers must be called on
 * the loop thread that owns the client, and every callback runs on it.
 * Callbacks may start new requests and cancel any request (their own too);
 * a done callback may close the client, a line callback must not.
 */
#ifndef FL_KUBE_CLIENT_H
#define FL_KUBE_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "kube/kubeconfig.h"

struct uv_loop_s; /* libuv's uv_loop_t; include <uv.h> to make one */

typedef struct fl_kube_client fl_kube_client;
typedef struct fl_kube_req fl_kube_req;

/* Per-client settings (each request may override the timeouts). */
typedef struct fl_kube_client_opts {
    int64_t connect_timeout_ms; /* TCP + TLS handshake; default 10000 */
    int64_t timeout_ms;         /* whole request, non-streaming; 0 = none; default 60000 */
    int64_t stall_timeout_ms;   /* abort when no byte arrives for this long
                                     (curl's low-speed limit of 1 byte/s);
                                     0 = off; default 30000 (non-streaming only) */
    size_t max_body;            /* whole-body cap; default FL_JSON_MAX_DEFAULT (64 MiB) */
    size_t max_line;            /* streaming line cap; default 8 MiB */
    long max_host_connections;  /* concurrent connections to the server; default 0 = no cap */
    const char *user_agent;     /* default "flotilla/<version>" */
} fl_kube_client_opts;
#define FL_KUBE_CLIENT_OPTS_INIT                                                                   \
    {                                                                                              \
        .connect_timeout_ms = 10000, .timeout_ms = 60000, .stall_timeout_ms = 30000,               \
        .max_body = 64u << 20, .max_line = 8u << 20                                                \
    }

/* Create a client on loop for conn (the client takes its own reference).
 * opts may be NULL (defaults). Nothing is sent yet: unusable TLS material
 * (a CA that is not PEM, say) shows as FL_ETLS on each request.
 * *out written only on success. Returns 0, -ENOMEM, FL_EPARSE (server URL). */
int fl_kube_client_new(struct uv_loop_s *loop, fl_kube_conn *conn, const fl_kube_client_opts *opts,
                       fl_kube_client **out, fl_err *err);

/* Close a client: every pending request's done callback runs (from inside
 * this call) with FL_ECLOSED / reason "Closed" (a request already cancelled
 * keeps -ECANCELED), then the client's libuv
 * handles close; once they have, close_cb (may be NULL) runs from the loop
 * and the memory is gone. The loop must run for that to happen. Accepts
 * NULL (close_cb is then not called). */
void fl_kube_client_close(fl_kube_client *c, void (*close_cb)(void *ud), void *ud);

typedef enum {
    FL_KUBE_GET = 0,
    FL_KUBE_POST,
    FL_KUBE_PUT,
    FL_KUBE_PATCH,
    FL_KUBE_DELETE,
} fl_kube_method;

/* What fl_kube_client_request sends. Everything is copied at start. */
typedef struct fl_kube_request {
    fl_kube_method method;
    const char *path;         /* "/api/v1/pods?limit=500": appended to the
                                     server URL (keeping its path prefix) */
    const char *accept;       /* NULL: "application/json" */
    const char *content_type; /* of body; NULL: "application/json" (use
                                     "application/merge-patch+json" etc. for PATCH) */
    const char *body;         /* NULL: no body */
    size_t body_len;
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
    bool stream;                /* deliver a 2xx body line by line (watch, logs -f) */
    int64_t timeout_ms;         /* 0: client default (none when streaming); -1: none */
    int64_t stall_timeout_ms;   /* 0: client default (off when streaming); -1: off */
    /* streaming: runs once the server has answered 2xx, when its headers end
     * and before any line (a watch the server accepted, events or not). It
     * runs inside the transfer: it must not start, cancel or resume requests.
     * NULL: none. */
    void (*opened)(fl_kube_req *req, void *ud);
} fl_kube_request;
#define FL_KUBE_REQUEST_INIT                                                                       \
    {                                                                                              \
        .method = FL_KUBE_GET                                                                      \
    }

/* The outcome of a request. In a done callback it is borrowed and valid only
 * during the call, except what the callback steals (fl_buf_steal(&r->body),
 * or json_incref(r->status)). */
typedef struct fl_kube_response {
    int err;                  /* 0 for 2xx; else FL_EUNAUTHORIZED (401),
                                     FL_EFORBIDDEN (403), FL_ENOTFOUND (404),
                                     FL_ECONFLICT (409), FL_EGONE (410), FL_EHTTP
                                     (other statuses), FL_ETLS, -ETIMEDOUT,
                                     -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH,
                                     -E2BIG (body or line cap), FL_EPARSE (stream
                                     cut mid-line), -ECANCELED, FL_ECLOSED,
                                     FL_EEXEC (credential plugin), -EIO */
    long http_status;         /* 0 when no response arrived */
    int code;                 /* Status code: http_status, or 0 for transport */
    const char *reason;       /* "" on success; never NULL */
    const char *message;      /* "" on success; never NULL */
    json_t *status;           /* the Status object for failures (the
                                     server's or synthesized), NULL on success */
    const char *content_type; /* response Content-Type or "" */
    const char *warning;      /* Warning header values joined by "\n", or "" */
    int64_t retry_after_s;    /* Retry-After seconds, 0 if absent */
    fl_buf body;              /* whole body (non-streaming; for a failed
                                     stream, the error body); may be empty */
    uint64_t lines;           /* streaming: lines delivered */
    bool retried;             /* a 401 caused a credential refresh and retry */
    char *owned_;             /* private: storage of the strings above */
} fl_kube_response;

/* Done: runs exactly once per successfully started request. */
typedef void (*fl_kube_done_cb)(fl_kube_req *req, fl_kube_response *res, void *ud);
/* A line of a streaming 2xx body, without its "\n" (a trailing "\r" is
 * kept). line is borrowed for the call and NUL-terminated at len. Return 0
 * to go on, FL_KUBE_LINE_PAUSE to refuse this line and pause the stream
 * (back-pressure: nothing more is read from the socket until
 * fl_kube_req_resume, which hands the same line again), anything else to
 * stop the stream: done then runs with -ECANCELED. */
typedef int (*fl_kube_line_cb)(fl_kube_req *req, const char *line, size_t len, void *ud);
#define FL_KUBE_LINE_PAUSE 2

/* Start a request. line_cb is required when rq->stream, else ignored.
 * On success *out (may be NULL) gets the handle, valid until done returns.
 * If this returns an error, no callback ever runs; otherwise done runs
 * exactly once, never from inside this call.
 * Returns 0, -EINVAL (no path, stream without line_cb), FL_ECLOSED (client
 * closing), -ENOMEM. */
int fl_kube_client_request(fl_kube_client *c, const fl_kube_request *rq, fl_kube_line_cb line_cb,
                           fl_kube_done_cb done, void *ud, fl_kube_req **out);

/* Cancel a request started and not yet done: its done callback runs once,
 * soon (from the loop, not from inside this call), with -ECANCELED /
 * "Cancelled"; no line callback runs after this returns. Cancelling a
 * request that is already being finished is a no-op. */
void fl_kube_req_cancel(fl_kube_req *req);

/* Resume a stream its line callback paused: the refused line is handed to
 * the line callback again (it may pause again), then reading goes on. Loop
 * thread, never from inside a line callback; a no-op unless paused. A
 * paused stream is exempt from the stall timeout; cancel works as ever. */
void fl_kube_req_resume(fl_kube_req *req);

/* The Content-Type of the response so far ("" before its headers): a line
 * callback may check what it is being handed. Loop thread. */
const char *fl_kube_req_content_type(const fl_kube_req *req);

/* ---- blocking helper (CLI, tests) --------------------------------------- */

/* Run one whole-body request on a private loop and wait for it. Any thread
 * (not a loop thread: it blocks). opts may be NULL. *out is ALWAYS filled
 * (unlike other out-parameters, so a caller sees the Status of a failure)
 * and must be released with fl_kube_response_done. The return value equals
 * out->err; err (may be NULL) gets "reason: message". */
int fl_kube_request_sync(fl_kube_conn *conn, const fl_kube_request *rq,
                         const fl_kube_client_opts *opts, fl_kube_response *out, fl_err *err);

/* GET path (Accept: application/json) via fl_kube_request_sync. */
int fl_kube_get_sync(fl_kube_conn *conn, const char *path, int64_t timeout_ms,
                     fl_kube_response *out, fl_err *err);

/* Frees what a response owns (from the sync helpers); zeroes it. */
void fl_kube_response_done(fl_kube_response *r);

#endif
