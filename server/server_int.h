/*
 * server/server_int.h: what the files of server/ share and nothing else
 * includes (tests and the fuzz target of this module excepted). It holds the
 * server and request structs and the libmicrohttpd glue between the files:
 *   server.c   listeners, routing, the MHD callbacks, stop, access log
 *   request.c  capturing a request, its accessors, whole answers
 *   stream.c   chunked streams (watch, follow) with suspend/resume
 *   tls.c      client-certificate verification (GnuTLS)
 *   uri.c      percent-decoding of the path and the query (untrusted input)
 */
#ifndef FL_SERVER_INT_H
#define FL_SERVER_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "kube/kube.h"
#include "server/server.h"

typedef struct route {
    char *method; /* NULL = any */
    char *prefix;
    size_t plen;
    fl_handler_fn fn;
    void *ud;
    bool inline_; /* runs on the server thread even with workers (health) */
} route;

/* A request waiting for a worker (owner reference held). */
typedef struct srv_job {
    fl_request *r;
    const route *rt;
    struct srv_job *next;
} srv_job;

/* Per-connection state (MHD socket context): the client certificate,
 * verified once per connection, and the header deadline. Linked on
 * srv->conns under srv->mu while open. */
#define SRV_MAX_GROUPS 32
typedef struct srv_conn {
    bool checked;
    bool rejected; /* presented a certificate that does not verify */
    char *user;
    char *groups[SRV_MAX_GROUPS];
    size_t ngroups;
    int fd;
    int64_t hdr_deadline_ms; /* 0 = none pending (under srv->mu) */
    bool cut;                /* shut down by the prober */
    struct srv_conn *prev, *next;
} srv_conn;

/* Invariants: opts' strings point at the owned copies below; routes are
 * fixed once started (sorted longest prefix first); live lists the requests
 * between their URI callback and their completion, guarded by mu. */
struct fl_server {
    fl_server_opts o;
    char *name, *listen, *cert, *key, *ca;
    route *routes;
    size_t nroutes;
    char **hidden; /* path prefixes the access log does not spell out */
    size_t nhidden;
    fl_server_observer_fn observe; /* per finished request (optional) */
    void *observe_ud;
    struct MHD_Daemon *d;
    uint16_t port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fl_request *live;
    size_t nlive;
    atomic_bool stopping;
    bool started, stopped;
    /* the prober: finds clients that left while their stream sleeps, and
     * cuts connections past their header deadline */
    pthread_t prober;
    pthread_cond_t probe_cv;
    bool probe_stop, probe_running;
    srv_conn *conns;            /* open connections, under mu */
    atomic_size_t queued_total; /* bytes queued by all streams */
    atomic_bool trim;           /* a big stream queue was freed: malloc_trim */
    /* the worker pool (o.workers > 0): jobs under mu, job_cv signalled */
    pthread_t *workers;
    unsigned nworkers;
    pthread_cond_t job_cv;
    srv_job *jobs, *jobs_tail;
    size_t njobs;
    bool jobs_stop;
};

typedef struct kv {
    const char *k, *v;
} kv;

/* One queued stream write (a chunk on the wire). */
typedef struct chunk {
    struct chunk *next;
    size_t len, off;
    char data[];
} chunk;

struct fl_stream {
    fl_request *r;
};

typedef enum { PH_NEW = 0, PH_BODY, PH_WAIT, PH_DONE } phase;

/* A request. Reference counted: one reference for the connection (dropped
 * when MHD reports completion), one for the owner's duty to answer (taken
 * when the handler runs, dropped by the answer or fl_stream_close), one for
 * a stream response (dropped when MHD frees it). mu guards everything below
 * it; the captured request (arena) is immutable after the first callback.
 * Invariants: resp != NULL only between an answer and its queueing on the
 * MHD thread; suspended => the connection is suspended and not finished;
 * MHD calls touch conn only while !finished. */
struct fl_request {
    fl_server *srv; /* valid while !finished */
    struct MHD_Connection *conn;
    int64_t t0, t0_us; /* arrival, monotonic ms and µs */
    phase ph;          /* MHD thread only */
    /* captured request (immutable after capture) */
    char *arena;
    const char *method, *path, *raw_uri;
    kv *query, *hdrs;
    size_t nquery, nhdrs;
    char peer[64];
    bool loopback;
    char *cert_user;
    bool cert_rejected; /* a certificate was presented and failed */
    char **groups;
    size_t ngroups;
    fl_buf body;
    bool too_big;
    size_t discarded;
    /* shared state */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    char *user;
    char *log_uri;     /* what the access log shows instead of raw_uri */
    const char *route; /* prefix of the route that took it (the
                                       server's copy), NULL until dispatched */
    kv *rh;            /* response headers added by the handler */
    size_t nrh;
    struct MHD_Response *resp; /* answer waiting to be queued */
    int code;
    size_t bytes;
    bool dispatched; /* handed to a handler (an owner exists) */
    bool owner_done, answered, suspended, finished, server_ended;
    /* stream state */
    bool is_stream, st_closed, st_gone, gone_fired, firing;
    bool peer_closed; /* the prober saw the client hang up */
    int fd;           /* the stream's socket, -1 until queued */
    pthread_t firing_thread;
    void (*on_gone)(void *);
    void *gone_ud;
    chunk *qh, *qt;
    size_t queued, max_queued;
    fl_stream st;
    fl_request *prev, *next; /* srv->live, under srv->mu */
    fl_request *stop_next;   /* fl_server_stop's private list */
    bool bad_path;           /* MHD thread only */
    bool too_many_pairs;     /* MHD thread only: 414 */
};

/* request.c */
fl_request *srv_request_new(fl_server *s, struct MHD_Connection *c, const char *uri);
void srv_request_unref(fl_request *r);
int srv_request_capture(fl_request *r, const char *method);
/* Build an MHD response with the standard headers plus r->rh (r->mu held
 * or r not yet shared). NULL on ENOMEM. data is copied unless steal. */
struct MHD_Response *srv_response(fl_request *r, const char *ctype, const void *data, size_t len,
                                  bool steal);
/* Kubernetes' usual headers, Content-Type and r->rh, sorted by name. */
void srv_add_headers(fl_request *r, struct MHD_Response *resp, const char *ctype);
/* Hand an answer over (from any thread); see the answer contract. */
int srv_answer(fl_request *r, int code, struct MHD_Response *resp, size_t bytes);
/* A Status answer built directly (stop, 413, 405): response or NULL. */
struct MHD_Response *srv_status_response(fl_request *r, int code, const char *msg, size_t *len);
void srv_fire_gone(fl_request *r); /* r->mu NOT held */
/* The connection finished: drop what its stream still queued (r->mu held;
 * r->srv valid). */
void srv_stream_drop_locked(fl_request *r);

/* stream.c */
/* Server stop: mark the stream ended, wake the connection (r->mu held). */
void srv_stream_end_locked(fl_request *r);
/* Prober: if r is a sleeping stream whose client hung up, end it so that
 * MHD closes the connection (and on_gone fires). r->mu held. */
void srv_stream_probe_locked(fl_request *r);
#define SRV_PROBE_MS 1000

/* At most this many query pairs (414 beyond): what the connection memory
 * is sized for. */
#define SRV_MAX_QUERY_PAIRS 1000

/* tls.c */
void srv_conn_free(srv_conn *cc);
/* Fill r->cert_user/groups from a verified client certificate (MHD thread,
 * first callback); nothing when there is none or it does not verify. */
void srv_tls_peer(fl_request *r);
/* Check PEM blobs before MHD sees them: 0 or FL_ETLS with err set. */
int srv_tls_check(const char *cert, const char *key, const char *ca, fl_err *err);

/* uri.c: decode raw (path?query) into out (at least strlen(raw) +
 * srv_uri_count_pairs(raw) + 2 bytes):
 * out gets the path, then each key and value NUL-terminated. Fills q[] (up
 * to qmax pairs) in order. Returns the number of pairs, or -EINVAL for a
 * bad %-escape or a %00 in the path or anywhere in the query (never
 * dropped: a dropped selector would fail open). Query pairs with an empty
 * key or a ';' in the key are skipped, as Go's url.ParseQuery does. */
int srv_uri_parse(const char *raw, char *out, kv *q, size_t qmax, const char **path);
size_t srv_uri_count_pairs(const char *raw);

#endif
