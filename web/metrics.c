/*
 * web/metrics.c: GET /metrics, the Prometheus text exposition (format
 * 0.0.4) of what the daemon already counts: build info; per cluster its
 * health and sync state, and per (cluster, resource) the sync lag, watch
 * events, relists and objects in the index (collector status + index
 * counts); the index writer's counters; quota admission counters and
 * used / hard per quota (when a quota engine runs); the propagation
 * controller's decisions, unschedulable placements and failovers;
 * requests and their latency per route (requests.c); capacity per cluster
 * (allocatable / requested per resource, base units). Names follow Prometheus conventions: flotilla_
 * prefix, _total for counters, _seconds and _bytes base units.
 * Reads through callbacks and its own index reader; owns nothing else.
 */
#include <errno.h>
#include <string.h>

#include "kube/kube.h"
#include "web/web_int.h"

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double numv(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* One family over every (cluster, resource) of the status. what: "lag",
 * "events", "relists", "bad", "objects". */
static int per_resource(fl_buf *b, const json_t *clusters, const char *name, const char *type,
                        const char *help, const char *what, fl_index_reader *rd)
{
    int rc = web_head(b, name, type, help);
    size_t i, j;
    const json_t *cl, *res;
    json_array_foreach(clusters, i, cl) {
        json_array_foreach(json_object_get(cl, "resources"), j, res) {
            const char *lb[] = {"cluster",  str(cl, "name"),      "group", str(res, "group"),
                                "resource", str(res, "resource"), NULL};
            double v;
            if (!strcmp(what, "lag")) {
                v = numv(res, "lagMs");
                if (v < 0)
                    continue; /* unknown yet: no sample rather than a made-up one */
                v /= 1000.0;
            } else if (!strcmp(what, "events"))
                v = numv(res, "events");
            else if (!strcmp(what, "relists"))
                v = numv(res, "relists");
            else if (!strcmp(what, "bad"))
                v = numv(res, "badEvents");
            else {
                fl_index_query q = FL_INDEX_QUERY_INIT;
                const char *name1[1] = {str(cl, "name")};
                int64_t n = 0;
                q.group = str(res, "group"), q.resource = str(res, "resource");
                q.version = str(res, "version");
                q.clusters = name1, q.n_clusters = 1;
                if (!rd || !q.resource[0] || fl_index_count(rd, &q, &n, NULL) != 0)
                    continue;
                v = (double)n;
            }
            if (!rc)
                rc = web_sample(b, name, lb, v);
        }
    }
    return rc;
}

static int clusters_part(fl_buf *b, const json_t *clusters, fl_index_reader *rd)
{
    size_t i;
    const json_t *cl;
    int rc = web_head(b, "flotilla_cluster_ready", "gauge",
                      "1 when the member cluster's health is Ready.");
    json_array_foreach(clusters, i, cl) {
        const char *lb[] = {"cluster", str(cl, "name"), NULL};
        if (!rc)
            rc = web_sample(b, "flotilla_cluster_ready", lb, !strcmp(str(cl, "health"), "Ready"));
    }
    if (!rc)
        rc = web_head(b, "flotilla_cluster_synced", "gauge",
                      "1 when every synced resource of the member has its initial list indexed.");
    json_array_foreach(clusters, i, cl) {
        const char *lb[] = {"cluster", str(cl, "name"), NULL};
        if (!rc)
            rc = web_sample(b, "flotilla_cluster_synced", lb, !strcmp(str(cl, "sync"), "Synced"));
    }
    if (!rc)
        rc = web_head(b, "flotilla_cluster_resources", "gauge",
                      "Resources synced from the member, by state (synced or total).");
    json_array_foreach(clusters, i, cl) {
        const char *a[] = {"cluster", str(cl, "name"), "state", "synced", NULL};
        const char *t[] = {"cluster", str(cl, "name"), "state", "total", NULL};
        if (!rc)
            rc = web_sample(b, "flotilla_cluster_resources", a, numv(cl, "resourcesSynced"));
        if (!rc)
            rc = web_sample(b, "flotilla_cluster_resources", t, numv(cl, "resourcesTotal"));
    }
    if (!rc)
        rc = per_resource(b, clusters, "flotilla_sync_lag_seconds", "gauge",
                          "How long the index may have been behind the member for the resource.",
                          "lag", rd);
    if (!rc)
        rc = per_resource(b, clusters, "flotilla_watch_events_total", "counter",
                          "Watch events received from the member.", "events", rd);
    if (!rc)
        rc = per_resource(b, clusters, "flotilla_relists_total", "counter",
                          "Full lists of the resource (initial and after a broken watch).",
                          "relists", rd);
    if (!rc)
        rc = per_resource(b, clusters, "flotilla_watch_bad_events_total", "counter",
                          "Watch lines skipped as malformed.", "bad", rd);
    if (!rc)
        rc = per_resource(b, clusters, "flotilla_index_objects", "gauge",
                          "Live objects of the resource in the index.", "objects", rd);
    return rc;
}

static int counter(fl_buf *b, const char *name, const char *help, int64_t v)
{
    int rc = web_head(b, name, "counter", help);
    return rc ? rc : web_sample(b, name, NULL, (double)v);
}

static int gauge(fl_buf *b, const char *name, const char *help, double v)
{
    int rc = web_head(b, name, "gauge", help);
    return rc ? rc : web_sample(b, name, NULL, v);
}

static int index_part(fl_buf *b, fl_index *idx)
{
    fl_index_stats s;
    fl_index_stats_get(idx, &s);
    int rc = counter(b, "flotilla_index_submitted_items_total",
                     "Items (events, list pages) accepted by the index queue.", s.submitted);
    if (!rc)
        rc = counter(b, "flotilla_index_queue_full_total",
                     "Submissions refused because the index queue was full.", s.full);
    if (!rc)
        rc = counter(b, "flotilla_index_decode_errors_total",
                     "Items or objects that failed to parse.", s.decode_errors);
    if (!rc)
        rc = counter(b, "flotilla_index_write_errors_total",
                     "Write batches lost to a failed transaction.", s.write_errors);
    if (!rc)
        rc = counter(b, "flotilla_index_objects_written_total", "Rows inserted or updated.",
                     s.objects_written);
    if (!rc)
        rc = counter(b, "flotilla_index_objects_skipped_total",
                     "Objects skipped because their resourceVersion was unchanged.",
                     s.objects_skipped);
    if (!rc)
        rc = counter(b, "flotilla_index_objects_deleted_total", "Objects tombstoned.",
                     s.objects_deleted);
    if (!rc)
        rc = counter(b, "flotilla_index_coalesced_events_total",
                     "Events merged into another of the same batch.", s.coalesced);
    if (!rc)
        rc = counter(b, "flotilla_index_transactions_total", "Write transactions committed.",
                     s.transactions);
    if (!rc)
        rc = gauge(b, "flotilla_index_revision", "Last committed index revision.",
                   (double)s.revision);
    if (!rc)
        rc = gauge(b, "flotilla_index_queue_items", "Items waiting in the index queue.",
                   (double)s.queue_items);
    if (!rc)
        rc = gauge(b, "flotilla_index_queue_bytes", "Bytes waiting in the index queue.",
                   (double)s.queue_bytes);
    return rc;
}

static int quota_part(fl_buf *b, const fl_web_quota_stats *q)
{
    const char *al[] = {"result", "allowed", NULL}, *de[] = {"result", "denied", NULL},
               *er[] = {"result", "error", NULL};
    int rc = web_head(b, "flotilla_quota_admission_reviews_total", "counter",
                      "AdmissionReviews answered by the quota webhook, by result.");
    if (!rc)
        rc = web_sample(b, "flotilla_quota_admission_reviews_total", al, (double)q->allowed);
    if (!rc)
        rc = web_sample(b, "flotilla_quota_admission_reviews_total", de, (double)q->denied);
    if (!rc)
        rc = web_sample(b, "flotilla_quota_admission_reviews_total", er, (double)q->errors);
    if (!rc)
        rc = gauge(b, "flotilla_quota_reservations_open", "Quota reservations not yet settled.",
                   (double)q->reservations_open);
    if (!rc)
        rc = counter(b, "flotilla_quota_reservations_expired_total",
                     "Quota reservations that expired.", (int64_t)q->reservations_expired);
    if (!rc)
        rc = counter(b, "flotilla_quota_recomputations_total", "Full usage recomputations.",
                     (int64_t)q->recomputations);
    if (!rc)
        rc = counter(b, "flotilla_quota_drift_total",
                     "Reservations that expired without their object being seen, and full "
                     "recounts that differed from the usage followed from the change log.",
                     (int64_t)q->drift);
    return rc;
}

/* used / hard per (namespace, quota, resource) from quota/'s report. */
static int quota_usage_part(fl_buf *b, const json_t *report, const fl_web_scope *scope)
{
    static const char *const fam[][3] = {
        {"flotilla_quota_used", "used",
         "Fleet-wide usage counted against a KarmadaQuota or FederatedResourceQuota "
         "(cpu in cores, memory in bytes)."},
        {"flotilla_quota_hard", "hard", "The quota's limit, in the same units."}};
    int rc = 0;
    for (size_t f = 0; f < 2 && !rc; f++) {
        rc = web_head(b, fam[f][0], "gauge", fam[f][2]);
        size_t i;
        const json_t *it;
        json_array_foreach(json_object_get(report, "items"), i, it) {
            if (scope && scope->sees && !scope->sees(scope->ud, NULL, str(it, "namespace")))
                continue;
            const char *res;
            const json_t *v;
            json_object_foreach((json_t *)json_object_get(it, "hard"), res, v) {
                const json_t *x = json_object_get(json_object_get(it, fam[f][1]), res);
                const char *s = json_string_value(x ? x : f ? v : NULL);
                fl_quantity qv;
                int64_t milli;
                if (!s)
                    s = "0";
                if (fl_quantity_parse(s, strlen(s), &qv, NULL) != 0 ||
                    fl_quantity_milli_value(&qv, &milli) != 0)
                    continue;
                const char *lb[] = {"namespace", str(it, "namespace"), "quota",    str(it, "name"),
                                    "kind",      str(it, "kind"),      "resource", res,
                                    NULL};
                if (!rc)
                    rc = web_sample(b, fam[f][0], lb, (double)milli / 1000.0);
            }
        }
    }
    return rc;
}

static int sched_part(fl_buf *b, const fl_web_sched_stats *s)
{
    int rc = counter(b, "flotilla_scheduler_decisions_total",
                     "Placements computed by the propagation controller (one per binding per "
                     "pass).",
                     (int64_t)s->decisions);
    if (!rc)
        rc = counter(b, "flotilla_scheduler_unschedulable_total",
                     "Placements that found no cluster for the workload.",
                     (int64_t)s->unschedulable);
    if (!rc)
        rc = web_head(b, "flotilla_scheduler_decision_seconds_total", "counter",
                      "Time spent computing placements.");
    if (!rc)
        rc = web_sample(b, "flotilla_scheduler_decision_seconds_total", NULL,
                        (double)s->decide_us / 1e6);
    if (!rc)
        rc = counter(b, "flotilla_scheduler_failover_evictions_total",
                     "Clusters dropped from a binding because they failed (NoExecute taint), "
                     "their replicas placed elsewhere.",
                     (int64_t)s->evictions);
    if (!rc)
        rc = web_head(b, "flotilla_scheduler_failover_seconds_total", "counter",
                      "Summed over failover evictions: how long the cluster had been failing "
                      "when its replicas were moved (divide by the evictions for the mean).");
    if (!rc)
        rc = web_sample(b, "flotilla_scheduler_failover_seconds_total", NULL,
                        (double)s->failover_ms / 1000.0);
    if (!rc)
        rc = counter(b, "flotilla_scheduler_passes_total", "Propagation controller passes.",
                     (int64_t)s->passes);
    if (!rc)
        rc = gauge(b, "flotilla_scheduler_last_pass_seconds",
                   "Duration of the last propagation pass.", (double)s->last_pass_ms / 1000.0);
    if (!rc)
        rc = counter(b, "flotilla_scheduler_member_writes_total",
                     "Writes of propagated objects to members.", (int64_t)s->writes);
    if (!rc)
        rc = counter(b, "flotilla_scheduler_member_write_errors_total",
                     "Failed writes of propagated objects to members.", (int64_t)s->write_errors);
    return rc;
}

static const char *unit_of(const char *res)
{
    if (!strcmp(res, "cpu"))
        return "core";
    if (!strcmp(res, "memory") || !strcmp(res, "ephemeral-storage") ||
        !strncmp(res, "hugepages-", 10))
        return "byte";
    return "integer";
}

/* Nodes per (cluster, state) from the capacity document. */
static int nodes_part(fl_buf *b, const json_t *cap)
{
    static const char *const states[][2] = {
        {"ready", "ready"}, {"not_ready", "notReady"}, {"cordoned", "cordoned"}};
    int rc = web_head(b, "flotilla_cluster_nodes", "gauge",
                      "Nodes of the member by state (ready, not_ready; cordoned counts either).");
    size_t i;
    const json_t *g;
    json_array_foreach(json_object_get(cap, "groups"), i, g) {
        for (size_t k = 0; k < 3 && !rc; k++) {
            const char *lb[] = {"cluster", str(g, "name"), "state", states[k][0], NULL};
            rc = web_sample(b, "flotilla_cluster_nodes", lb,
                            numv(json_object_get(g, "nodes"), states[k][1]));
        }
    }
    return rc;
}

/* allocatable / requested per (cluster, resource) from the capacity document. */
static int capacity_part(fl_buf *b, const json_t *cap)
{
    static const char *const fam[][3] = {
        {"flotilla_cluster_allocatable", "allocatable",
         "Allocatable of the member's nodes, per resource (cpu in cores, memory in bytes)."},
        {"flotilla_cluster_requested", "requested",
         "Requests of the member's scheduled non-terminal pods, per resource."}};
    int rc = 0;
    for (size_t f = 0; f < 2 && !rc; f++) {
        rc = web_head(b, fam[f][0], "gauge", fam[f][2]);
        size_t i;
        const json_t *g;
        json_array_foreach(json_object_get(cap, "groups"), i, g) {
            const char *res;
            const json_t *v;
            json_object_foreach((json_t *)json_object_get(g, "resources"), res, v) {
                const json_t *x = json_object_get(v, fam[f][1]);
                const char *lb[] = {"cluster", str(g, "name"), "resource", res,
                                    "unit",    unit_of(res),   NULL};
                if (x && !rc)
                    rc = web_sample(b, fam[f][0], lb, json_number_value(x));
            }
        }
    }
    return rc;
}

int web_metrics(fl_web *w, const json_t *st, const fl_web_scope *scope, fl_buf *out)
{
    json_t *cap = NULL;
    fl_index_reader *rd = NULL;
    const char *bl[] = {"version", w->version, NULL};
    int rc = web_head(out, "flotilla_build_info", "gauge", "Build information; always 1.");
    if (!rc)
        rc = web_sample(out, "flotilla_build_info", bl, 1);
    if (fl_index_reader_new(w->o.index, &rd, NULL) != 0)
        rd = NULL;
    if (!rc && st) {
        if (rd)
            fl_index_reader_begin(rd);
        rc = clusters_part(out, json_object_get(st, "clusters"), rd);
        if (rd)
            fl_index_reader_end(rd);
    }
    if (!rc)
        rc = index_part(out, w->o.index);
    fl_web_quota_stats q;
    memset(&q, 0, sizeof q);
    if (!rc && w->o.quota_stats && w->o.quota_stats(w->o.quota_ud, &q))
        rc = quota_part(out, &q);
    json_t *report = !rc && w->o.quota_report ? w->o.quota_report(w->o.quota_ud) : NULL;
    if (report)
        rc = quota_usage_part(out, report, scope);
    json_decref(report);
    fl_web_sched_stats ss;
    memset(&ss, 0, sizeof ss);
    if (!rc && w->o.sched_stats && w->o.sched_stats(w->o.sched_ud, &ss))
        rc = sched_part(out, &ss);
    if (!rc)
        rc = web_requests_write(&w->requests, out);
    if (!rc && rd &&
        fl_web_capacity(rd, w->members, w->o.nmembers, "cluster", scope, &cap, NULL) == 0)
        rc = capacity_part(out, cap);
    if (!rc && cap)
        rc = nodes_part(out, cap);
    json_decref(cap);
    fl_index_reader_free(rd);
    return rc;
}
