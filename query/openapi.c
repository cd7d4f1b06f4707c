/*
 * query/openapi.c: OpenAPI v3 below the search API's prefixes, as
 * kube-apiserver serves it (k8s-golden 02-openapi): /openapi/v3 lists one
 * serverRelativeURL per group-version with ?hash=<SHA-512 of the doc>;
 * /openapi/v3/<gv>?hash=H answers Etag "H", Cache-Control public,
 * immutable and a one-year Expires; a stale H a 301 to the current URL;
 * If-None-Match equal to the Etag a 304; no hash: no-cache; an unknown gv
 * a 404 with an empty body. Documents are text/plain; charset=utf-8 (the
 * v1.26 quirk). /openapi/v2 is the same types as one Swagger 2.0 JSON
 * document (kubectl before v3 explain); a client that accepts only
 * protobuf gets 406.
 *
 * The documents follow the types a prefix serves (what the index holds),
 * so each request computes the served set's digest, and the encoded
 * documents with their hashes are cached per (prefix, digest): at most
 * QUERY_OPENAPI_CACHE sets, least recently used evicted. Builds run under
 * q->oa_mu (one at a time).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/query_int.h"

#define OA_TYPES_MAX 1024
#define OA_DOC_MAX (256u << 20)

static void entry_clear(query_openapi_entry *e)
{
    json_decref(e->index);
    json_decref(e->docs);
    memset(e, 0, sizeof *e);
}

void query_openapi_done(fl_query *q)
{
    for (size_t i = 0; i < QUERY_OPENAPI_CACHE; i++)
        entry_clear(&q->oa[i]);
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

/* The served types of the prefix and their digest. */
static size_t served_types(fl_query *q, query_served_ctx *sc, const fl_kube_resource **out,
                           uint64_t *sig)
{
    const fl_kube_resource *all[OA_TYPES_MAX];
    size_t n = fl_kube_resources_list(q->reg, all, OA_TYPES_MAX), k = 0;
    uint64_t h = 14695981039346656037ull ^ fl_kube_resources_generation(q->reg);
    for (size_t i = 0; i < n && i < OA_TYPES_MAX; i++) {
        if (!query_served_filter(all[i], sc))
            continue;
        out[k++] = all[i];
        h = fnv(fnv(fnv(h, all[i]->group), all[i]->version), all[i]->resource);
    }
    *sig = h;
    return k;
}

static void gv_key(const fl_kube_resource *r, char *out, size_t size)
{
    if (r->group[0])
        snprintf(out, size, "apis/%s/%s", r->group, r->version);
    else
        snprintf(out, size, "api/%s", r->version);
}

/* One document into e: encoded body and hash, and its index entry. */
static int build_doc(fl_query *q, query_served_ctx *sc, const fl_kube_resource *r, const char *gv,
                     query_openapi_entry *e, json_t *v2)
{
    json_t *doc = NULL;
    char hash[129], url[1400];
    fl_buf b = FL_BUF_INIT(OA_DOC_MAX);
    int rc = fl_kube_openapi_doc(q->reg, r->group, r->version, query_served_filter, sc, &doc);
    if (!rc)
        rc = fl_kube_openapi_hash(doc, hash);
    if (!rc)
        rc = fl_kube_openapi_v2_merge(v2, doc);
    if (!rc)
        rc = fl_json_encode(doc, false, &b);
    if (!rc) {
        snprintf(url, sizeof url, "%s%s%s/openapi/v3/%s?hash=%s", FL_QUERY_PREFIX,
                 e->cluster[0] ? "/clusters/" : "", e->cluster, gv, hash);
        if (json_object_set_new(e->docs, gv,
                                json_pack("{s:s,s:s%}", "hash", hash, "body", b.data, b.len - 1)) ||
            json_object_set_new(json_object_get(e->index, "paths"), gv,
                                json_pack("{s:s}", "serverRelativeURL", url)))
            rc = -ENOMEM;
    }
    json_decref(doc);
    fl_buf_done(&b);
    return rc;
}

static int build(fl_query *q, query_served_ctx *sc, const fl_kube_resource *const *types, size_t n,
                 query_openapi_entry *e)
{
    int rc = 0;
    json_t *v2 = fl_kube_openapi_v2_new();
    e->docs = json_object();
    e->index = json_pack("{s:{}}", "paths");
    if (!e->docs || !e->index || !v2) {
        json_decref(v2);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        char gv[600];
        gv_key(types[i], gv, sizeof gv);
        if (!json_object_get(e->docs, gv))
            rc = build_doc(q, sc, types[i], gv, e, v2);
    }
    fl_buf b = FL_BUF_INIT(OA_DOC_MAX);
    if (!rc)
        rc = fl_json_encode(v2, false, &b);
    /* "v2" cannot be a group-version key (those start with api/ or apis/) */
    if (!rc && json_object_set_new(e->docs, "v2", json_pack("{s:s%}", "body", b.data, b.len - 1)))
        rc = -ENOMEM;
    fl_buf_done(&b);
    json_decref(v2);
    return rc;
}

/* The cached entry for the prefix (built on a miss); a new reference to
 * the index or one doc ({"hash","body"}) in *out. 0, FL_ENOTFOUND, -ENOMEM. */
static int lookup(fl_query *q, query_served_ctx *sc, const char *gv, json_t **out)
{
    const fl_kube_resource *types[OA_TYPES_MAX];
    uint64_t sig;
    size_t n = served_types(q, sc, types, &sig);
    const char *cl = sc->cluster ? sc->cluster : "";
    query_openapi_entry *e = NULL, *lru = &q->oa[0];
    int rc = 0;
    pthread_mutex_lock(&q->oa_mu);
    for (size_t i = 0; i < QUERY_OPENAPI_CACHE && !e; i++) {
        query_openapi_entry *c = &q->oa[i];
        if (c->used && c->sig == sig && !strcmp(c->cluster, cl))
            e = c;
        else if (c->used < lru->used)
            lru = c;
    }
    if (!e) {
        e = lru;
        entry_clear(e);
        fl_strlcpy(e->cluster, cl, sizeof e->cluster);
        e->sig = sig;
        if ((rc = build(q, sc, types, n, e)) != 0)
            entry_clear(e);
    }
    if (!rc) {
        e->used = ++q->oa_tick;
        json_t *v = gv ? json_object_get(e->docs, gv) : e->index;
        *out = json_incref(v);
        rc = v ? 0 : FL_ENOTFOUND;
    }
    pthread_mutex_unlock(&q->oa_mu);
    return rc;
}

/* Caching headers; true when r has been answered (301 or 304). */
static bool cache_headers(fl_request *r, const char *cluster, const char *gv, const char *hash)
{
    char etag[140], loc[1400], exp[64];
    const char *want = fl_request_query(r, "hash");
    snprintf(etag, sizeof etag, "\"%s\"", hash);
    fl_request_add_header(r, "Etag", etag);
    fl_request_add_header(r, "Vary", "Accept");
    if (want && strcmp(want, hash) != 0) {
        char html[1600];
        snprintf(loc, sizeof loc, "%s%s%s/openapi/v3/%s?hash=%s", FL_QUERY_PREFIX,
                 cluster ? "/clusters/" : "", cluster ? cluster : "", gv, hash);
        int n = snprintf(html, sizeof html, "<a href=\"%s\">Moved Permanently</a>.\n\n", loc);
        fl_request_add_header(r, "Location", loc);
        fl_request_reply(r, 301, "text/html; charset=utf-8", html, (size_t)n);
        return true;
    }
    if (want) {
        time_t t = (time_t)(fl_now_ms() / 1000) + 365 * 24 * 3600;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(exp, sizeof exp, "%a, %d %b %Y %H:%M:%S UTC", &tm);
        fl_request_add_header(r, "Cache-Control", "public, immutable");
        fl_request_add_header(r, "Expires", exp);
    }
    const char *inm = fl_request_header(r, "If-None-Match");
    if (inm && !strcmp(inm, etag)) {
        fl_request_reply(r, 304, NULL, "", 0);
        return true;
    }
    return false;
}

void query_serve_openapi_v2(fl_query *q, fl_request *r, query_served_ctx *sc)
{
    const char *accept = fl_request_header(r, "Accept");
    json_t *v = NULL;
    if (accept && *accept && !strstr(accept, "json") && !strstr(accept, "*/*")) {
        fl_request_reply_status(r, 406, "NotAcceptable",
                                "only application/json is served for /openapi/v2");
        return;
    }
    int rc = lookup(q, sc, "v2", &v);
    if (rc == 0) {
        json_t *body = json_object_get(v, "body");
        fl_request_reply(r, 200, "application/json", json_string_value(body),
                         json_string_length(body));
    } else {
        fl_request_reply_status(r, 500, NULL, "openapi: %s", fl_strerror(rc));
    }
    json_decref(v);
}

void query_serve_openapi(fl_query *q, fl_request *r, const char *cluster, const char *const *seg,
                         size_t nseg, query_served_ctx *sc)
{
    char gv[600] = "";
    json_t *v = NULL;
    int rc = FL_ENOTFOUND;
    if (nseg == 2 && !strcmp(seg[0], "api"))
        snprintf(gv, sizeof gv, "api/%s", seg[1]);
    else if (nseg == 3 && !strcmp(seg[0], "apis"))
        snprintf(gv, sizeof gv, "apis/%s/%s", seg[1], seg[2]);
    if (nseg == 0 || gv[0])
        rc = lookup(q, sc, gv[0] ? gv : NULL, &v);
    if (rc == 0 && !gv[0]) {
        fl_request_reply_json(r, 200, v);
        return;
    }
    if (rc == 0) {
        json_t *body = json_object_get(v, "body");
        if (!cache_headers(r, cluster, gv, json_string_value(json_object_get(v, "hash"))))
            fl_request_reply(r, 200, "text/plain; charset=utf-8", json_string_value(body),
                             json_string_length(body));
    } else if (rc == FL_ENOTFOUND) {
        fl_request_reply(r, 404, "text/plain; charset=utf-8", "", 0);
    } else {
        fl_request_reply_status(r, 500, NULL, "openapi: %s", fl_strerror(rc));
    }
    json_decref(v);
}
