/*
 * query/discovery.c: discovery below a prefix (/version, /api, /apis,
 * /api/v1, /apis/<g>[/<v>]) listing only the types the prefix serves to
 * the user, with read verbs only.
 */
#include <string.h>

#include "query/query_int.h"

static void reply_discovery(fl_request *r, int rc, json_t *doc)
{
    if (rc == 0)
        fl_request_reply_json(r, 200, doc);
    else if (rc == FL_ENOTFOUND)
        fl_request_reply(r, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
    else
        fl_request_reply_status(r, 500, NULL, "discovery: %s", fl_strerror(rc));
}

/* The search API serves only reads: an APIResourceList advertises get, list
 * and watch of each entry (kubectl api-resources -o wide), and drops the
 * subresources left with no verb (pods/eviction, .../status). */
static void keep_read_verbs(json_t *doc)
{
    json_t *res = json_object_get(doc, "resources");
    for (size_t i = 0; i < json_array_size(res);) {
        json_t *verbs = json_object_get(json_array_get(res, i), "verbs");
        for (size_t j = 0; j < json_array_size(verbs);) {
            const char *v = json_string_value(json_array_get(verbs, j));
            if (v && (!strcmp(v, "get") || !strcmp(v, "list") || !strcmp(v, "watch")))
                j++;
            else
                json_array_remove(verbs, j);
        }
        if (json_array_size(verbs) == 0)
            json_array_remove(res, i);
        else
            i++;
    }
}

void query_serve_discovery(fl_query *q, fl_request *r, const char *const *s, size_t nseg,
                           query_served_ctx *sc)
{
    json_t *doc = NULL;
    int rc = FL_ENOTFOUND;
    if (nseg == 1 && !strcmp(s[0], "version")) {
        fl_kube_version_info vi = FL_KUBE_VERSION_INFO_INIT;
        rc = fl_kube_discovery_version(&vi, &doc);
    } else if (nseg == 1 && !strcmp(s[0], "api")) {
        rc = fl_kube_discovery_api("", &doc);
    } else if (nseg == 2 && !strcmp(s[0], "api")) {
        rc = fl_kube_discovery_resources(q->reg, "", s[1], query_served_filter, sc, &doc);
    } else if (nseg == 1) {
        rc = fl_kube_discovery_apis(q->reg, query_served_filter, sc, &doc);
    } else if (nseg == 2) {
        rc = fl_kube_discovery_group(q->reg, s[1], query_served_filter, sc, &doc);
    } else if (nseg == 3) {
        rc = fl_kube_discovery_resources(q->reg, s[1], s[2], query_served_filter, sc, &doc);
    }
    if (rc == 0 && nseg >= 2 && (nseg == 3 || !strcmp(s[0], "api")))
        keep_read_verbs(doc);
    reply_discovery(r, rc, doc);
}
