/*
 * quota/assign.c: FederatedResourceQuota static assignments become member
 * ResourceQuotas, as Karmada's sync controller makes them: in every listed
 * member, a ResourceQuota named after the FRQ in its namespace with
 * spec.hard = the assignment's hard and the labels
 * federatedresourcequota.karmada.io/{namespace,name}; created when missing,
 * patched when hard differs, deleted when the assignment (or the FRQ, or its
 * validity) goes away. What the members hold is read from the index (the
 * collector syncs resourcequotas); writes go to the members' APIs with
 * their kubeconfigs. Runs on the ledger's background thread, one pass per
 * status interval; a failed write is logged and retried on the next pass.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota/ledger_int.h"

#define LABEL_NS "federatedresourcequota.karmada.io/namespace"
#define LABEL_NAME "federatedresourcequota.karmada.io/name"

static fl_kube_conn *member_conn(fl_quota *q, const char *cluster)
{
    for (size_t i = 0; i < q->nmembers; i++) {
        if (strcmp(q->members[i], cluster))
            continue;
        if (!q->member_conns[i] && q->member_kubeconfigs[i]) {
            fl_err err = FL_ERR_INIT;
            if (fl_kube_conn_load(q->member_kubeconfigs[i], q->member_contexts[i],
                                  &q->member_conns[i], &err) != 0)
                fl_log(FL_LOG_WARN, "quota", "%s: %s", cluster, err.msg);
        }
        return q->member_conns[i];
    }
    return NULL;
}

static int send(fl_quota *q, const char *cluster, fl_kube_method m, const char *path,
                const json_t *body, const char *ctype, const char *what)
{
    fl_kube_conn *conn = member_conn(q, cluster);
    if (!conn)
        return FL_ENOTFOUND;
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    fl_kube_response res;
    fl_err err = FL_ERR_INIT;
    rq.method = m, rq.path = path, rq.body = b, rq.body_len = b ? strlen(b) : 0;
    rq.content_type = ctype;
    rq.timeout_ms = 10000;
    int rc = fl_kube_request_sync(conn, &rq, NULL, &res, &err);
    if (rc && rc != FL_ECONFLICT && rc != FL_ENOTFOUND)
        fl_log(FL_LOG_WARN, "quota", "%s %s in %s: %s", what, path, cluster, err.msg);
    else if (!rc)
        fl_log(FL_LOG_INFO, "quota", "%s %s in %s", what, path, cluster);
    fl_kube_response_done(&res);
    free(b);
    return rc;
}

/* The ResourceQuotas every valid FRQ wants: "cluster/ns/name" -> hard. */
static void desired(const json_t *frqs, json_t *want)
{
    size_t i, j;
    const json_t *f, *a;
    json_array_foreach(frqs, i, f) {
        json_t *errs = NULL;
        if (fl_quota_frq_validate(f, &errs, NULL) != 0 || json_array_size(errs)) {
            json_decref(errs);
            continue;
        }
        json_decref(errs);
        json_array_foreach(fl_obj_get(f, "spec.staticAssignments"), j, a) {
            char key[1024];
            const json_t *hard = json_object_get(a, "hard");
            snprintf(key, sizeof key, "%s/%s/%s", fl_obj_str_or(a, "clusterName", ""),
                     fl_obj_str_or(f, "metadata.namespace", ""),
                     fl_obj_str_or(f, "metadata.name", ""));
            if (json_is_object(hard))
                json_object_set(want, key, (json_t *)hard);
        }
    }
}

static int on_rq(void *arg, const fl_index_row *row)
{
    json_t *have = arg, *o = json_loadb(row->json, row->json_len, 0, NULL);
    const json_t *labels = fl_obj_get(o, "metadata.labels");
    if (o && json_object_get(labels, LABEL_NAME)) {
        char key[1024];
        snprintf(key, sizeof key, "%s/%s/%s", row->cluster, row->namespace_, row->name);
        json_object_set(have, key, o);
    }
    json_decref(o);
    return 0;
}

/* The member ResourceQuotas this daemon made ("cluster/ns/name" -> object), read with rd. */
static int existing(fl_quota *q, fl_index_reader *rd, json_t *have, fl_err *err)
{
    static const char *const exists[1] = {NULL};
    fl_index_label_req lr = {LABEL_NAME, FL_INDEX_LABEL_EXISTS, exists, 0};
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    iq.group = "", iq.resource = "resourcequotas";
    iq.labels = &lr, iq.n_labels = 1;
    iq.limit = FL_QUOTA_MAX_ITEMS;
    return q->nmembers ? fl_index_list(rd, &iq, on_rq, have, NULL, err) : 0;
}

static int all_frqs(void *arg, const fl_index_row *row)
{
    json_t *o = json_loadb(row->json, row->json_len, 0, NULL);
    if (o)
        json_array_append_new(arg, o);
    return 0;
}

static void apply_one(fl_quota *q, const char *key, const json_t *hard, const json_t *cur)
{
    char cluster[256], ns[256], name[256], path[1024];
    const char *s1 = strchr(key, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s2 || s1 - key >= 256 || s2 - s1 - 1 >= 256 || strlen(s2 + 1) >= 256)
        return;
    snprintf(cluster, sizeof cluster, "%.*s", (int)(s1 - key), key);
    snprintf(ns, sizeof ns, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
    snprintf(name, sizeof name, "%s", s2 + 1);
    if (!hard) { /* no assignment wants it any more */
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/resourcequotas/%s", ns, name);
        send(q, cluster, FL_KUBE_DELETE, path, NULL, NULL, "deleted ResourceQuota");
        return;
    }
    const json_t *now = fl_obj_get(cur, "spec.hard");
    if (cur && json_equal(now, hard))
        return;
    if (!cur) {
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/resourcequotas", ns);
        json_t *rq = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s}},s:{s:O}}", "apiVersion", "v1",
                               "kind", "ResourceQuota", "metadata", "name", name, "namespace", ns,
                               "labels", LABEL_NS, ns, LABEL_NAME, name, "spec", "hard", hard);
        send(q, cluster, FL_KUBE_POST, path, rq, NULL, "created ResourceQuota");
        json_decref(rq);
        return;
    }
    /* merge patch: new keys and values, removed keys as null */
    json_t *h = json_deep_copy(hard);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)now, k, v)
        if (!json_object_get(hard, k))
            json_object_set_new(h, k, json_null());
    json_t *patch = json_pack("{s:{s:o}}", "spec", "hard", h);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/resourcequotas/%s", ns, name);
    send(q, cluster, FL_KUBE_PATCH, path, patch, "application/merge-patch+json",
         "updated ResourceQuota");
    json_decref(patch);
}

void quota_assign_sync(fl_quota *q)
{
    json_t *frqs = json_array(), *want = json_object(), *have = json_object();
    const char *clusters[1] = {q->host_cluster};
    fl_err err = FL_ERR_INIT;
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    iq.group = "policy.karmada.io", iq.resource = "federatedresourcequotas";
    iq.clusters = clusters, iq.n_clusters = 1;
    iq.limit = FL_QUOTA_MAX_ITEMS;
    int rc = frqs && want && have ? 0 : -ENOMEM;
    fl_index_reader *rd = ledger_reader_get(q);
    if (!rc && (rc = fl_index_reader_begin(rd)) == 0) {
        rc = fl_index_list(rd, &iq, all_frqs, frqs, NULL, &err);
        if (!rc)
            rc = existing(q, rd, have, &err);
        fl_index_reader_end(rd);
    }
    ledger_reader_put(q, rd);
    if (rc)
        fl_log(FL_LOG_WARN, "quota", "static assignments: %s",
               err.msg[0] ? err.msg : fl_strerror(rc));
    if (!rc)
        desired(frqs, want);
    const char *k;
    json_t *v;
    json_object_foreach(rc ? NULL : want, k, v) {
        char cluster[256];
        const char *slash = strchr(k, '/');
        snprintf(cluster, sizeof cluster, "%.*s", slash ? (int)(slash - k) : 0, k);
        if (ledger_is_member(q, cluster))
            apply_one(q, k, v, json_object_get(have, k));
    }
    json_object_foreach(rc ? NULL : have, k, v) {
        char cluster[256];
        const char *slash = strchr(k, '/');
        snprintf(cluster, sizeof cluster, "%.*s", slash ? (int)(slash - k) : 0, k);
        if (!json_object_get(want, k) && ledger_is_member(q, cluster))
            apply_one(q, k, NULL, v);
    }
    json_decref(frqs), json_decref(want), json_decref(have);
}
