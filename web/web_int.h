/*
 * web/web_int.h: what the files of web/ share (no other module includes it).
 * web.c is the front (routes, auth, the handlers); capacity.c and metrics.c
 * build documents, requests.c keeps the per-route request table, prom.c
 * writes the exposition format; each calls only files listed after it.
 * recent.c (the histories kept across restarts) stands alone.
 */
#ifndef FL_WEB_INT_H
#define FL_WEB_INT_H

#include <pthread.h>

#include "web/web.h"

#define REQ_BUCKETS 13
#define REQ_SERIES_MAX 64

/* Requests of one (route prefix, method). */
typedef struct req_series {
    char *route, *method;
    uint64_t codes[6]; /* by status class; [0] never answered */
    uint64_t streams;
    uint64_t buckets[REQ_BUCKETS]; /* cumulative: duration <= bound */
    uint64_t count;                /* non-stream requests */
    double sum;                    /* their seconds */
} req_series;

typedef struct web_requests {
    pthread_mutex_t mu;
    req_series s[REQ_SERIES_MAX];
    size_t n;
} web_requests;

struct fl_web {
    fl_web_opts o; /* strings below are owned copies */
    fl_web_member *members;
    char *version, *chartjs_dir;
    web_requests requests;
};

/* requests.c: the per-route table (init/done once; record from any thread). */
void web_requests_init(web_requests *q);
void web_requests_done(web_requests *q);
void web_requests_record(web_requests *q, const char *method, const char *route, int code,
                         double seconds, bool stream);
/* Both families (counter, histogram) into b. 0, -ENOMEM or -E2BIG. */
int web_requests_write(web_requests *q, fl_buf *b);

/* prom.c: "# HELP/# TYPE" lines, and one sample with labels
 * as NULL-terminated name/value pairs (values escaped). 0 or fl_buf's codes. */
int web_head(fl_buf *b, const char *name, const char *type, const char *help);
int web_sample(fl_buf *b, const char *name, const char *const *labels, double v);

/* Prometheus text exposition into out: st is the collector status (NULL:
 * none; its clusters already narrowed to what the caller may see), scope
 * what capacity is shown for (NULL = all). 0, -ENOMEM or -E2BIG. */
int web_metrics(fl_web *w, const json_t *st, const fl_web_scope *scope, fl_buf *out);

/* The embedded dashboard page (NUL-terminated, static). */
const char *web_ui_page(void);

#endif
