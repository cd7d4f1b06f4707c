/*
 * web/requests.c: request counters and latency histograms per (route,
 * method) of the listener web/ is routed on, fed by the server's observer
 * (fl_server_observe) and written by /metrics. Series are capped
 * (REQ_SERIES_MAX); requests past the cap count under route "other".
 * Owns its table (under its mutex); any server thread may record.
 */
#include <stdlib.h>
#include <string.h>

#include "web/web_int.h"

static const double bounds[REQ_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                           0.25,  0.5,    1,     2.5,  5,     10};

void web_requests_init(web_requests *q)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
}

void web_requests_done(web_requests *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->s[i].route), free(q->s[i].method);
    pthread_mutex_destroy(&q->mu);
}

/* The series of (route, method), added when there is room; "other" past
 * the cap. Under q->mu. */
static req_series *series(web_requests *q, const char *route, const char *method)
{
    for (size_t i = 0; i < q->n; i++)
        if (!strcmp(q->s[i].route, route) && !strcmp(q->s[i].method, method))
            return &q->s[i];
    if (q->n >= REQ_SERIES_MAX - 1 && strcmp(route, "other") != 0)
        return series(q, "other", "-");
    req_series *s = &q->s[q->n];
    memset(s, 0, sizeof *s);
    s->route = strdup(route);
    s->method = strdup(method);
    if (!s->route || !s->method) {
        free(s->route), free(s->method);
        return NULL;
    }
    q->n++;
    return s;
}

void web_requests_record(web_requests *q, const char *method, const char *route, int code,
                         double seconds, bool stream)
{
    pthread_mutex_lock(&q->mu);
    req_series *s = series(q, route ? route : "none", method);
    if (s) {
        int cls = code >= 100 && code < 600 ? code / 100 : 0; /* 0: never answered */
        s->codes[cls]++;
        if (stream)
            s->streams++;
        else {
            for (size_t b = 0; b < REQ_BUCKETS; b++)
                s->buckets[b] += seconds <= bounds[b];
            s->count++;
            s->sum += seconds;
        }
    }
    pthread_mutex_unlock(&q->mu);
}

static int write_series(const req_series *s, fl_buf *b, bool counts)
{
    static const char *const classes[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    int rc = 0;
    if (counts) {
        for (size_t c = 0; c < 6 && !rc; c++) {
            const char *lb[] = {"route", s->route, "method", s->method, "code", classes[c], NULL};
            if (s->codes[c])
                rc = web_sample(b, "flotilla_http_requests_total", lb, (double)s->codes[c]);
        }
        return rc;
    }
    if (!s->count)
        return 0;
    for (size_t k = 0; k <= REQ_BUCKETS && !rc; k++) {
        char le[32];
        if (k < REQ_BUCKETS)
            snprintf(le, sizeof le, "%g", bounds[k]);
        else
            snprintf(le, sizeof le, "+Inf");
        const char *lb[] = {"route", s->route, "method", s->method, "le", le, NULL};
        rc = web_sample(b, "flotilla_http_request_duration_seconds_bucket", lb,
                        (double)(k < REQ_BUCKETS ? s->buckets[k] : s->count));
    }
    const char *lb[] = {"route", s->route, "method", s->method, NULL};
    if (!rc)
        rc = web_sample(b, "flotilla_http_request_duration_seconds_sum", lb, s->sum);
    if (!rc)
        rc = web_sample(b, "flotilla_http_request_duration_seconds_count", lb, (double)s->count);
    return rc;
}

int web_requests_write(web_requests *q, fl_buf *b)
{
    int rc = web_head(b, "flotilla_http_requests_total", "counter",
                      "Requests answered on the API listener, by route prefix, method and "
                      "status class (watch streams included).");
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->n && !rc; i++)
        rc = write_series(&q->s[i], b, true);
    if (!rc)
        rc = web_head(b, "flotilla_http_request_duration_seconds", "histogram",
                      "Time from a request's arrival to the end of its answer, by route prefix "
                      "and method (search queries, /query, admission reviews, ...; watch "
                      "streams excluded).");
    for (size_t i = 0; i < q->n && !rc; i++)
        rc = write_series(&q->s[i], b, false);
    pthread_mutex_unlock(&q->mu);
    return rc;
}
