/*
 * quota/status.c: what the quotas look like from outside — the report
 * behind GET /api/v1/quota and `flotilla quota` (every KarmadaQuota and
 * FederatedResourceQuota with its hard and fleet-wide used; an FRQ also with
 * each static assignment's per-cluster used, and an invalid one with
 * Karmada's errors instead), and the status write-back to the host: a
 * merge patch of status (KarmadaQuota {hard, used}; FRQ {overall,
 * overallUsed, aggregatedStatus}; both with a Valid condition, False with
 * the errors for an invalid object, which also gets a Warning event)
 * whenever it changed, from the ledger's background thread. Above
 * ledger.c and usage.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quota/ledger_int.h"

#define KQ_GROUP "quota.flotilla.io"
#define FRQ_GROUP "policy.karmada.io"

typedef struct nsset {
    json_t *names; /* namespace -> true */
} nsset;

static int add_ns(void *arg, const fl_index_row *row)
{
    nsset *s = arg;
    json_object_set_new(s->names, row->namespace_, json_true());
    return 0;
}

/* Namespaces holding host quota objects (ns given: just it). */
static int namespaces(fl_quota *q, fl_index_reader *rd, const char *ns, json_t **out, fl_err *err)
{
    nsset s = {json_object()};
    if (!s.names)
        return -ENOMEM;
    if (ns) {
        json_object_set_new(s.names, ns, json_true());
        *out = s.names;
        return 0;
    }
    static const char *const gr[][2] = {{KQ_GROUP, "karmadaquotas"},
                                        {FRQ_GROUP, "federatedresourcequotas"}};
    const char *clusters[1] = {q->host_cluster};
    for (size_t i = 0; i < 2; i++) {
        fl_index_query iq = FL_INDEX_QUERY_INIT;
        iq.group = gr[i][0], iq.resource = gr[i][1];
        iq.clusters = clusters, iq.n_clusters = 1;
        iq.limit = FL_QUOTA_MAX_ITEMS;
        int rc = fl_index_list(rd, &iq, add_ns, &s, NULL, err);
        if (rc) {
            json_decref(s.names);
            return rc;
        }
    }
    *out = s.names;
    return 0;
}

/* The FRQ object named name in the kept host objects ([frqs, kqs]). */
static const json_t *frq_object(const json_t *keep, const char *name)
{
    size_t i;
    const json_t *o;
    json_array_foreach(json_array_get(keep, 0), i, o)
        if (!strcmp(fl_obj_str_or(o, "metadata.name", ""), name))
            return o;
    return NULL;
}

static int on_member_rq(void *arg, const fl_index_row *row)
{
    json_t **out = arg, *o = json_loadb(row->json, row->json_len, 0, NULL);
    json_t *used = json_object_get(json_object_get(o, "status"), "used");
    if (json_is_object(used))
        *out = json_incref(used);
    json_decref(o);
    return 0;
}

/* The status.used of the member ResourceQuota the assignment made, if the
 * member keeps one (a member with a quota controller). Holding l. */
static json_t *member_used(nsled *l, const char *cluster, const char *name)
{
    json_t *used = NULL;
    fl_index_key key = {cluster, "", NULL, "resourcequotas", l->ns, name};
    fl_index_get(l->rd, &key, on_member_rq, &used, NULL);
    return used;
}

/* aggregatedStatus: each static assignment's hard and what its cluster
 * uses of those resources: the member ResourceQuota's status.used where the
 * member keeps one, else the usage computed from the index. */
static json_t *aggregated(nsled *l, const json_t *frq, const health *h)
{
    json_t *out = json_array();
    size_t i;
    const json_t *a;
    json_array_foreach(fl_obj_get(frq, "spec.staticAssignments"), i, a) {
        const char *cluster = fl_obj_str_or(a, "clusterName", "");
        qent e = {0};
        fl_err err = FL_ERR_INIT;
        bool ready = false;
        for (size_t k = 0; k < h->nready; k++)
            ready = ready || !strcmp(h->ready[k], cluster);
        e.name = "assignment";
        e.selectors = json_array();
        if (qrl_parse(&e.hard, json_object_get(a, "hard"), "hard", &err) == 0) {
            fl_quantity zero = FL_QUANTITY_ZERO;
            for (size_t k = 0; k < e.hard.n; k++)
                qrl_set(&e.used, e.hard.v[k].name, &zero);
            const char *one[1] = {cluster};
            json_t *mu = member_used(l, cluster, fl_obj_str_or(frq, "metadata.name", ""));
            if (mu)
                for (size_t k = 0; k < e.hard.n; k++) {
                    fl_quantity v;
                    const char *s = json_string_value(json_object_get(mu, e.hard.v[k].name));
                    if (s && fl_quantity_parse(s, strlen(s), &v, NULL) == 0)
                        qrl_set(&e.used, e.hard.v[k].name, &v);
                }
            else if (ready)
                quota_usage_observe(l, one, 1, &e, 1, fl_now_ms() / 1000, &err);
            json_decref(mu);
            json_array_append_new(out, json_pack("{s:s,s:o,s:o}", "clusterName", cluster, "hard",
                                                 qrl_json(&e.hard), "used", qrl_json(&e.used)));
        }
        qents_free_one(&e);
    }
    return out;
}

/* The invalid quota objects of l's namespace, with why: FRQs that fail
 * Karmada's validation (its messages) and KarmadaQuotas whose spec does not
 * parse. They enforce nothing. Holding l. */
static void invalid_items(nsled *l, json_t *items)
{
    size_t i;
    const json_t *o;
    json_array_foreach(json_array_get(l->keep, 0), i, o) {
        json_t *errs = NULL;
        fl_err pe = FL_ERR_INIT;
        if (fl_quota_frq_validate(o, &errs, &pe) != 0)
            errs = json_pack("[s]", pe.msg);
        if (json_array_size(errs))
            json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:o}", "namespace", l->ns, "name",
                                                   fl_obj_str_or(o, "metadata.name", ""), "kind",
                                                   "FederatedResourceQuota", "errors", errs));
        else
            json_decref(errs);
    }
    json_array_foreach(json_array_get(l->keep, 1), i, o) {
        qent e = {0};
        fl_err pe = FL_ERR_INIT;
        if (qent_from_quota(o, NULL, &e, &pe) != 0)
            json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:[s]}", "namespace", l->ns,
                                                   "name", fl_obj_str_or(o, "metadata.name", ""),
                                                   "kind", "KarmadaQuota", "errors", pe.msg));
        qents_free_one(&e);
    }
}

/* Items of one namespace: valid quotas with used, invalid ones with errors. */
static int report_ns(fl_quota *q, nsled *l, json_t *items, fl_err *err)
{
    qent *e = NULL;
    size_t ne = 0;
    health h;
    char why[512];
    int rc = ledger_quotas(q, l, &e, &ne, err);
    if (rc)
        return rc;
    if ((rc = ledger_health(q, NULL, &h, why, sizeof why)) == 0) {
        rc = ledger_compute(q, l, &h, e, ne, err);
        for (size_t i = 0; !rc && i < ne; i++) {
            json_t *it = json_pack("{s:s,s:s,s:s,s:o,s:o}", "namespace", l->ns, "name", e[i].name,
                                   "kind", e[i].frq ? "FederatedResourceQuota" : "KarmadaQuota",
                                   "hard", qrl_json(&e[i].hard), "used", qrl_json(&e[i].used));
            if (it && e[i].frq)
                json_object_set_new(it, "aggregatedStatus",
                                    aggregated(l, frq_object(l->keep, e[i].name), &h));
            json_array_append_new(items, it);
        }
        ledger_health_done(&h);
    }
    if (!rc)
        invalid_items(l, items);
    qents_free(e, ne);
    return rc;
}

int fl_quota_report_for(fl_quota *q, const char *ns, fl_quota_visible_fn visible, void *ud,
                        json_t **out, fl_err *err)
{
    fl_err local_err = FL_ERR_INIT;
    if (!err)
        err = &local_err; /* err may be NULL: the code below reads it */
    json_t *names = NULL, *items = json_array();
    if (!items)
        return -ENOMEM;
    fl_index_reader *rd = ledger_reader_get(q);
    int rc = fl_index_reader_begin(rd);
    if (!rc) {
        rc = namespaces(q, rd, ns, &names, err);
        fl_index_reader_end(rd);
    }
    ledger_reader_put(q, rd);
    const char *n;
    json_t *v;
    json_object_foreach(rc ? NULL : names, n, v) {
        nsled *l = NULL;
        if (visible && !visible(ud, n))
            continue;
        if ((rc = ledger_enter(q, n, &l)) != 0)
            break;
        rc = report_ns(q, l, items, err);
        ledger_leave(q, l);
        if (rc)
            break;
    }
    json_decref(names);
    if (rc) {
        json_decref(items);
        return rc;
    }
    *out = json_pack("{s:o}", "items", items);
    return *out ? 0 : -ENOMEM;
}

int fl_quota_report(fl_quota *q, const char *ns, json_t **out, fl_err *err)
{
    return fl_quota_report_for(q, ns, NULL, NULL, out, err);
}

/* ---------------------------------------------------------------- write-back */

/* The message of an invalid item: its errors joined by "; ". */
static void errors_text(const json_t *it, fl_buf *out)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(it, "errors"), i, e)
        fl_buf_printf(out, "%s%s", i ? "; " : "", json_string_value(e) ? json_string_value(e) : "");
    if (!out->data)
        fl_buf_puts(out, "");
}

/* The condition saying whether the object is enforced (type Valid): True,
 * or False with why. lastTransitionTime is added when written. */
static json_t *valid_condition(const json_t *it)
{
    if (!json_object_get(it, "errors"))
        return json_pack("{s:s,s:s,s:s,s:s}", "type", "Valid", "status", "True", "reason", "Valid",
                         "message", "enforced at every member's admission");
    fl_buf msg = FL_BUF_INIT(1u << 20);
    errors_text(it, &msg);
    json_t *c = json_pack("{s:s,s:s,s:s,s:s}", "type", "Valid", "status", "False", "reason",
                          "Invalid", "message", msg.data ? msg.data : "");
    fl_buf_done(&msg);
    return c;
}

/* The status to write: KarmadaQuota {hard, used}, FRQ {overall,
 * overallUsed, aggregatedStatus}, both with the Valid condition; an
 * invalid object only the condition (it enforces and counts nothing). */
static json_t *status_of(const json_t *it)
{
    json_t *st;
    if (json_object_get(it, "errors"))
        st = json_object();
    else if (!strcmp(fl_obj_str_or(it, "kind", ""), "KarmadaQuota"))
        st = json_pack("{s:O,s:O}", "hard", json_object_get(it, "hard"), "used",
                       json_object_get(it, "used"));
    else
        st = json_pack("{s:O,s:O,s:O}", "overall", json_object_get(it, "hard"), "overallUsed",
                       json_object_get(it, "used"), "aggregatedStatus",
                       json_object_get(it, "aggregatedStatus"));
    if (st)
        json_object_set_new(st, "conditions", json_pack("[o]", valid_condition(it)));
    return st;
}

static void now_rfc3339(char *out, size_t n)
{
    time_t t = (time_t)(fl_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One request to the host; 0 or the failure (logged by the caller). */
static int host_send(fl_quota *q, fl_kube_method method, const char *path, const char *ctype,
                     const json_t *body, fl_err *err)
{
    char *b = json_dumps(body, JSON_COMPACT);
    if (!b)
        return fl_err_set(err, -ENOMEM, "out of memory");
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    fl_kube_response res;
    rq.method = method, rq.path = path, rq.body = b, rq.body_len = strlen(b);
    rq.content_type = ctype;
    rq.timeout_ms = 10000;
    int rc = fl_kube_request_sync(q->host_conn, &rq, NULL, &res, err);
    if (rc == 0)
        fl_kube_response_done(&res);
    free(b);
    return rc;
}

/* A Warning event on the host naming why an object is invalid. */
static void invalid_event(fl_quota *q, const json_t *it)
{
    const char *kind = fl_obj_str_or(it, "kind", ""), *ns = fl_obj_str_or(it, "namespace", "");
    const char *name = fl_obj_str_or(it, "name", "");
    char path[512], gen[300], now[32];
    fl_buf msg = FL_BUF_INIT(1u << 20);
    fl_err err = FL_ERR_INIT;
    errors_text(it, &msg);
    now_rfc3339(now, sizeof now);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", ns);
    snprintf(gen, sizeof gen, "%s.", name);
    json_t *ev =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},"
                  "s:s,s:s,s:i}",
                  "apiVersion", "v1", "kind", "Event", "metadata", "generateName", gen, "namespace",
                  ns, "involvedObject", "apiVersion",
                  strcmp(kind, "KarmadaQuota") ? FRQ_GROUP "/v1alpha1" : KQ_GROUP "/v1alpha1",
                  "kind", kind, "namespace", ns, "name", name, "type", "Warning", "reason",
                  "Invalid", "message", msg.data ? msg.data : "", "source", "component",
                  "flotilla-quota", "firstTimestamp", now, "lastTimestamp", now, "count", 1);
    if (ev && host_send(q, FL_KUBE_POST, path, "application/json", ev, &err) != 0)
        fl_log(FL_LOG_WARN, "quota", "event for %s %s/%s: %s", kind, ns, name, err.msg);
    json_decref(ev);
    fl_buf_done(&msg);
}

/* Write an item's status when it differs from what was last written (cache:
 * key -> the status compared, without times); an invalid object also gets
 * an event, once per distinct problem. */
static void patch_status(fl_quota *q, const json_t *it, json_t *cache, const char *key)
{
    const char *kind = fl_obj_str_or(it, "kind", ""), *ns = fl_obj_str_or(it, "namespace", "");
    const char *name = fl_obj_str_or(it, "name", "");
    bool kq = !strcmp(kind, "KarmadaQuota");
    char path[1024], now[32];
    json_t *st = status_of(it);
    char *want = st ? json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *have = json_string_value(json_object_get(cache, key));
    if (want && (!have || strcmp(have, want))) {
        fl_err err = FL_ERR_INIT;
        snprintf(path, sizeof path, "/apis/%s/v1alpha1/namespaces/%s/%s/%s/status",
                 kq ? KQ_GROUP : FRQ_GROUP, ns, kq ? "karmadaquotas" : "federatedresourcequotas",
                 name);
        now_rfc3339(now, sizeof now);
        json_object_set_new(json_array_get(json_object_get(st, "conditions"), 0),
                            "lastTransitionTime", json_string(now));
        json_t *body = json_pack("{s:O}", "status", st);
        if (body &&
            host_send(q, FL_KUBE_PATCH, path, "application/merge-patch+json", body, &err) == 0) {
            json_object_set_new(cache, key, json_string(want));
            if (json_object_get(it, "errors"))
                invalid_event(q, it);
        } else if (body)
            fl_log(FL_LOG_WARN, "quota", "status of %s: %s", key, err.msg);
        json_decref(body);
    }
    free(want);
    json_decref(st);
}

void quota_status_sync(fl_quota *q)
{
    json_t *rep = NULL;
    fl_err err = FL_ERR_INIT;
    if (!q->host_conn || fl_quota_report(q, NULL, &rep, &err) != 0) {
        if (err.msg[0])
            fl_log(FL_LOG_WARN, "quota", "status: %s", err.msg);
        return;
    }
    json_t *seen = json_object();
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(rep, "items"), i, it) {
        char key[768];
        snprintf(key, sizeof key, "%s/%s/%s", fl_obj_str_or(it, "kind", ""),
                 fl_obj_str_or(it, "namespace", ""), fl_obj_str_or(it, "name", ""));
        patch_status(q, it, q->status_cache, key);
        json_object_set_new(seen, key, json_true());
    }
    /* forget objects that are gone */
    const char *k;
    json_t *v, *tmp;
    json_object_foreach_safe(q->status_cache, tmp, k, v) {
        if (!json_object_get(seen, k))
            json_object_del(q->status_cache, k);
    }
    json_decref(seen);
    json_decref(rep);
}
