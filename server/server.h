/*
 * server: the HTTP(S) front every Flotilla server uses (the daemon's API and
 * admission listeners, the simulator's virtual clusters). It owns
 * libmicrohttpd and its GnuTLS backend; no libmicrohttpd type appears here.
 *
 * Model: a fl_server is one listener with its own thread pool. Modules
 * register handlers for path prefixes. A handler runs on a server thread and
 * must answer its request exactly once — at once, or later from any thread
 * (the connection is suspended meanwhile, without busy-waiting) — either
 * with a whole reply or by opening a stream (watch, log -f) that any thread
 * may write lines to until it is closed.
 *
 * Every reply carries Kubernetes' usual headers (Audit-Id, Cache-Control:
 * no-cache, private); errors are Kubernetes Status JSON; each request is
 * logged once (method, path, user, code, bytes, duration) when access_log is
 * set. Bodies larger than max_body get 413 (before the handler runs); a
 * connection idle for request_timeout_s is closed (streams are exempt).
 * Request headers are capped by the connection memory (connection_memory,
 * libmicrohttpd's 32 KiB by default; larger gets 414/431).
 *
 * Hostile clients: fl_server_opts_public() turns on what a listener
 * facing untrusted clients needs — connections per client address capped,
 * a deadline for a request's headers (slowloris), handlers on a worker
 * pool so that /healthz (answered on the server threads) never waits
 * behind slow requests, connection memory sized for the caps, and a total
 * cap on what all streams may buffer.
 *
 * Lifetimes: a request is reference counted between the connection and the
 * handler's obligation to answer, so answering late — even after the client
 * left or the server stopped — is safe (the answer is then dropped and the
 * call returns FL_ECLOSED). The same holds for streams until fl_stream_close.
 */
#ifndef FL_SERVER_H
#define FL_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef struct fl_server fl_server;
typedef struct fl_request fl_request;
typedef struct fl_stream fl_stream;

typedef struct fl_server_opts {
    const char *name;         /* for logs: "api", "admission", "sim" */
    const char *listen;       /* "127.0.0.1:7443"; port 0 picks a free one */
    unsigned threads;         /* worker threads (default 2) */
    const char *tls_cert_pem; /* PEM blobs; NULL cert = plain HTTP */
    const char *tls_key_pem;
    const char *client_ca_pem;    /* ask for and verify client certs (optional) */
    size_t max_body;              /* bytes; default 3 MiB like kube-apiserver */
    unsigned request_timeout_s;   /* default 60; streams are exempt */
    size_t stream_max_queued;     /* bytes buffered per stream; default 16 MiB */
    bool access_log;              /* one log line per request */
    unsigned max_connections;     /* concurrent connections; default 1000 */
    unsigned max_per_client;      /* connections per client IP; 0 = no cap */
    unsigned header_timeout_s;    /* a request's line and headers must arrive
                                    within this (slowloris); 0 = none */
    size_t connection_memory;     /* per-connection memory (request line,
                                    headers, query pairs); 0 = 32 KiB */
    unsigned workers;             /* handlers run on this many worker threads
                                    (health on the server threads); 0 = the
                                    server threads run every handler */
    unsigned max_queued_requests; /* waiting for a worker; beyond: 429 (default 1024) */
    size_t stream_max_total;      /* bytes buffered by all streams; 0 = no cap */
} fl_server_opts;
#define FL_SERVER_OPTS_INIT                                                                        \
    {                                                                                              \
        .name = "http", .listen = "127.0.0.1:0", .threads = 2, .max_body = 3u << 20,               \
        .request_timeout_s = 60, .stream_max_queued = 16u << 20, .access_log = true,               \
        .max_connections = 1000                                                                    \
    }

/* Harden o for untrusted clients (the daemon's API): 64 connections per
 * client address, 10 s for a request's headers, 4 workers, 256 KiB of
 * connection memory, 1 MiB buffered per stream and 256 MiB for all. Fields
 * already set to non-default values are kept. */
void fl_server_opts_public(fl_server_opts *o);

/* A handler. It must answer req exactly once (reply or stream), now or
 * later from any thread; until then req stays valid. */
typedef void (*fl_handler_fn)(fl_request *req, void *ud);

/* Create a server (not yet listening). Copies opts and its strings (the
 * PEM blobs too); opts NULL = FL_SERVER_OPTS_INIT. "listen" is "HOST:PORT",
 * "[V6]:PORT", ":PORT" (all addresses) or "localhost:PORT"; zero numeric
 * fields take their defaults. 0 or -ENOMEM; *out written only on success.
 * Any thread. */
int fl_server_new(const fl_server_opts *opts, fl_server **out, fl_err *err);

/* Route requests whose path equals prefix, or starts with prefix followed by
 * '/' (prefix "/" matches everything). The longest matching prefix wins;
 * method NULL matches any method. A path that only matches routes of other
 * methods gets 405 MethodNotAllowed. Strings are copied; ud is borrowed and
 * must outlive the server. Call before fl_server_start (else -EBUSY);
 * 0, -EINVAL, -EBUSY or -ENOMEM. */
int fl_server_route(fl_server *s, const char *method, const char *prefix, fl_handler_fn fn,
                    void *ud);

/* fl_server_route for a handler that never blocks (it answers at once or
 * hands the request to a queue of its own): it runs on the server thread
 * that read the request, as /healthz does, never queued behind slow
 * handlers on the worker pool. Same return codes. */
int fl_server_route_inline(fl_server *s, const char *method, const char *prefix, fl_handler_fn fn,
                           void *ud);

/* The access log shows requests under prefix as "<prefix>/" and three stars (paths that
 * carry secrets), unless the handler named a log uri. Before start; 0,
 * -EINVAL, -EBUSY or -ENOMEM. */
int fl_server_hide_path(fl_server *s, const char *prefix);

/* Called once per finished request (answered, or the client gone), on a
 * server thread: the server's name, the method, the prefix of the route
 * that served it (NULL when none matched), the status code (0: never
 * answered), the seconds since it arrived and whether it was a stream
 * (watch: its duration is the stream's life). Must not block. */
typedef void (*fl_server_observer_fn)(void *ud, const char *server, const char *method,
                                      const char *route, int code, double seconds, bool stream);
/* Set the one observer (NULL fn: none); ud must outlive the server. Before
 * start; 0 or -EBUSY. */
int fl_server_observe(fl_server *s, fl_server_observer_fn fn, void *ud);

/* Register /healthz, /readyz and /livez (and their sub-paths) answering
 * "ok" as kube-apiserver does (text/plain; charset=utf-8, nosniff); with
 * ?verbose the check list ("[+]ping ok\n...check passed\n"). Before start;
 * 0 or the fl_server_route codes. */
int fl_server_route_health(fl_server *s);

/* Start listening (threads start). Unmatched paths answer 404
 * "404 page not found\n" text, as an apiserver does for unknown groups.
 * 0, -EBUSY (already started), -EINVAL (bad listen address), FL_ETLS (bad
 * PEM, or a key without a certificate) or -EADDRINUSE (cannot listen; the
 * log has libmicrohttpd's reason), with err saying why. Call once, from the
 * thread that owns s. With client_ca_pem the certificate is verified once
 * per connection. */
int fl_server_start(fl_server *s, fl_err *err);
uint16_t fl_server_port(const fl_server *s); /* the bound port, after start */

/* Stop accepting, end open streams (their on_gone fires and they end with
 * the zero chunk), answer requests still pending with 503, wait briefly for
 * running handlers, close every connection and join the threads. Idempotent.
 * Not from a handler or an on_gone callback. fl_server_free accepts NULL,
 * stops first, then frees. Owners may still answer / write / close later:
 * they get FL_ECLOSED and nothing touches the freed server. */
void fl_server_stop(fl_server *s);
void fl_server_free(fl_server *s);

/* ---- the request --------------------------------------------------------
 * Captured whole before the handler runs, so the accessors are cheap, work
 * from any thread and stay valid until the request is answered (for a
 * stream: until fl_request_stream returns). Strings are borrowed. */
const char *fl_request_method(const fl_request *r);
const char *fl_request_path(const fl_request *r);                   /* percent-decoded, no query */
const char *fl_request_query(const fl_request *r, const char *key); /* first value or NULL */
/* Calls fn for every query argument in order; stop early by returning false. */
void fl_request_query_each(const fl_request *r,
                           bool (*fn)(const char *key, const char *value, void *ud), void *ud);
const char *fl_request_header(const fl_request *r, const char *name); /* case-insensitive */
const char *fl_request_body(const fl_request *r, size_t *len);        /* "" when none */
const char *fl_request_peer(const fl_request *r);                     /* "127.0.0.1:5555" */
bool fl_request_peer_is_loopback(const fl_request *r);
/* The verified client certificate's subject CN (user) and O values (groups),
 * or NULL/0 when no certificate was presented or it did not verify. */
const char *fl_request_cert_user(const fl_request *r);
size_t fl_request_cert_groups(const fl_request *r, const char *const **groups);
/* True when the client presented a certificate that did not verify against
 * the client CA (or had no CN): kube-apiserver answers 401, never anonymous. */
bool fl_request_cert_rejected(const fl_request *r);
/* Name the authenticated user for the access log (copied; any thread). */
void fl_request_set_user(fl_request *r, const char *user);
/* Log uri instead of the request's own (a path that carries a secret). */
void fl_request_set_log_uri(fl_request *r, const char *uri);
/* The request should get pretty JSON (?pretty=true, or a curl/Wget/browser
 * User-Agent without ?pretty=false), as kube-apiserver decides. */
bool fl_request_wants_pretty(const fl_request *r);

/* ---- answers: exactly one per request, from any thread -----------------
 * Each answer returns 0, FL_ECLOSED (the client left or the server stopped:
 * the answer is dropped, but the request is released all the same),
 * -EALREADY (answered twice: a bug; nothing happens) or -ENOMEM. After an
 * answer call (whatever it returned) req must not be touched again. */
/* Add a response header before answering (copied); Cache-Control replaces
 * the default. 0, -EINVAL (CR/LF in it), -EALREADY or -ENOMEM. */
int fl_request_add_header(fl_request *r, const char *name, const char *value);
/* Whole reply; body copied. */
int fl_request_reply(fl_request *r, int code, const char *content_type, const void *body,
                     size_t len);
/* JSON reply (application/json), encoded by fl_json_encode, pretty as the
 * request wants. Steals the reference to v (even on failure). */
int fl_request_reply_json(fl_request *r, int code, json_t *v);
/* Kubernetes Status reply (no details); reason NULL =
 * fl_status_reason_for(code), "" = no reason (webhook denials). */
int fl_request_reply_status(fl_request *r, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- streams (watch, follow) -------------------------------------------
 * Answer with `code` and headers now (chunked transfer), body to follow.
 * This is the request's answer: afterwards use only the stream. Returns 0
 * (*out is the caller's until fl_stream_close), FL_ECLOSED (the client left
 * or the server stopped: the request is answered and released, *out left
 * alone, nothing to close), -EALREADY (already answered) or -ENOMEM (not
 * answered: the caller still owes an answer). Each write goes out as its
 * own chunk.
 * While nothing is queued the connection sleeps (suspended, no polling by
 * libmicrohttpd); a prober thread per server checks sleeping streams once
 * a second, so a client that hangs up is noticed within about a second
 * (else at the next write), and on_gone fires. */
int fl_request_stream(fl_request *r, int code, const char *content_type, fl_stream **out);
/* Queue bytes (copied) to send; wakes the connection. From any thread.
 * Returns 0, FL_ECLOSED once the client has gone or the server stopped
 * (stop writing, then close), FL_EFULL when more than stream_max_queued
 * bytes would be waiting, or all streams of the server together would hold
 * more than stream_max_total (a slow client: the caller should close the
 * stream), or -ENOMEM. Writes of len 0 do nothing. */
int fl_stream_write(fl_stream *st, const void *data, size_t len);
/* A last write that ignores the caps (at most 64 KiB): the error that ends
 * a stream whose reader fell behind. Same returns otherwise. */
int fl_stream_write_last(fl_stream *st, const void *data, size_t len);
/* Called once, on a server thread (or in fl_server_stop's caller), when the
 * client goes away or the server stops; the stream must still be closed by
 * its owner. Set right after fl_request_stream; if the client is already
 * gone, fn runs at once on the calling thread. fl_stream_close waits for a
 * running fn (unless called from inside it) and cancels a later one, so ud
 * may be freed after fl_stream_close returns. */
void fl_stream_on_gone(fl_stream *st, void (*fn)(void *ud), void *ud);
/* End the response after what is queued (then the zero chunk); releases
 * the caller's reference: st must not be used again. Any thread, but not
 * while holding a lock that the on_gone fn takes. Accepts NULL. */
void fl_stream_close(fl_stream *st);

#endif
