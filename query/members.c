/*
 * query/members.c: what handlers read of the members' state (the daemon's
 * opts.members_fn): one member's health, and the Warning header
 * Clusterpedia sends when a result may include clusters that are not Ready.
 */
#include <string.h>

#include "query/query_int.h"

void query_warn_not_ready(fl_query *q, fl_request *r, const query_user *u, const char *cluster)
{
    if (!q->members_fn)
        return;
    json_t *st = q->members_fn(q->members_ud), *m;
    size_t i, nwarn = 0;
    json_array_foreach(json_object_get(st, "clusters"), i, m) {
        const char *n = fl_obj_str(m, "name"), *h = fl_obj_str(m, "health");
        char w[512];
        if (!n || (cluster && strcmp(cluster, n)) || (h && !strcmp(h, "Ready")) || nwarn >= 16 ||
            !query_scope_cluster_visible(q, u, n))
            continue; /* warnings only name clusters in the caller's scope */
        snprintf(w, sizeof w, "299 - \"cluster %s is not ready (%s): its resources may be stale\"",
                 n, h ? h : "Unknown");
        fl_request_add_header(r, "Warning", w);
        nwarn++;
    }
    json_decref(st);
}

bool query_member_state(fl_query *q, const char *cluster, char *health, size_t hsize,
                        char *last_error, size_t esize)
{
    if (!q->members_fn)
        return false;
    json_t *st = q->members_fn(q->members_ud), *m;
    size_t i;
    bool found = false;
    json_array_foreach(json_object_get(st, "clusters"), i, m) {
        const char *n = fl_obj_str(m, "name");
        if (!n || strcmp(n, cluster))
            continue;
        const char *h = fl_obj_str(m, "health"), *e = fl_obj_str(m, "lastError");
        fl_strlcpy(health, h ? h : "Unknown", hsize);
        fl_strlcpy(last_error, e ? e : "", esize);
        found = true;
        break;
    }
    json_decref(st);
    return found;
}
