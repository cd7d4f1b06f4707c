/*
 * cmd/place.c: "where would this go, and why?" — both halves of the dry run.
 *
 *   flotilla place -f workload.yaml -f policy.yaml [--server URL] [-o json]
 *     reads the workload(s) and (Cluster)PropagationPolicies from YAML or
 *     JSON files, asks the daemon, and prints each cluster's filter and
 *     score result, its available replicas, the division and the quota
 *     check (or the answer as JSON).
 *
 *   POST /api/v1/place (cmd_placer_handle, routed by cmd/serve.c)
 *     {"template":{...}, "policies":[...], "previous":[...]} → the engine's
 *     answer with "explain", against the live fleet: members from the
 *     config (labels, region/zone/provider labels, taints) that the collector
 *     reports Ready, filtered by the caller's auth scopes, available replicas from an index snapshot
 *     (reloaded when older than max(5 s, 10 × its load time), one request at
 *     a time behind a mutex). Like the real scheduler it starts from the
 *     workload's ResourceBinding on the host (its spec.clusters as the
 *     previous placement unless "previous" is given; its eviction tasks and
 *     failover history for the eviction filter) and checks the namespace's
 *     KarmadaQuotas / FederatedResourceQuotas with their live usage
 *     (fl_quota_report), reserving nothing.
 *
 * The decision itself is scheduler/'s (fl_sched_op_place).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/place.h"
#include "kube/kube.h"
#include "scheduler/scheduler.h"

#define MAX_FILES 16
#define FILE_MAX_BYTES (4u << 20)
#define SNAPSHOT_TTL_MS 5000

/* ---------------------------------------------------------------- daemon side */

struct cmd_placer {
    const fl_config *cfg;
    fl_index *index;
    fl_collector *collector;
    fl_query *query;
    fl_quota *quota;    /* may be NULL */
    pthread_mutex_t mu; /* guards snap (a snapshot is used by one thread at a time) */
    fl_sched_snapshot *snap;
    int64_t loaded_ms, ttl_ms; /* reload when older: max(5 s, 10 × the last load) */
};

int cmd_placer_new(const fl_config *cfg, fl_index *idx, fl_collector *col, fl_query *q,
                   cmd_placer **out)
{
    cmd_placer *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->cfg = cfg;
    p->index = idx;
    p->collector = col;
    p->query = q;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

void cmd_placer_free(cmd_placer *p)
{
    if (!p)
        return;
    fl_sched_snapshot_free(p->snap);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* true when the collector reports member name Ready. */
static bool member_ready(const json_t *status, const char *name)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(status, "clusters"), i, c) {
        if (strcmp(fl_obj_str_or(c, "name", ""), name) == 0)
            return strcmp(fl_obj_str_or(c, "health", ""), "Ready") == 0;
    }
    return false;
}

static const char *member_health(const json_t *status, const char *name)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(status, "clusters"), i, c) {
        if (strcmp(fl_obj_str_or(c, "name", ""), name) == 0)
            return fl_obj_str_or(c, "health", "Unknown");
    }
    return "Unknown";
}

/* Member clusters as the engine reads them (config entries). */
json_t *cmd_members_json(const fl_config *cfg, const json_t *status, bool all)
{
    static const char *const fields[][2] = {{"region", "region"},
                                            {"zone", "zone"},
                                            {"provider", "provider"},
                                            {"topology.kubernetes.io/region", "region"},
                                            {"topology.kubernetes.io/zone", "zone"}};
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < cfg->nmembers; i++) {
        const fl_config_member *m = &cfg->members[i];
        if (!all && !member_ready(status, m->name))
            continue;
        json_t *labels = json_object(), *taints = json_array();
        json_t *cl = json_pack("{s:s,s:o,s:o,s:s}", "name", m->name, "labels", labels, "taints",
                               taints, "health", member_health(status, m->name));
        for (size_t l = 0; l < m->nlabels; l++) {
            json_object_set_new(labels, m->label_keys[l], json_string(m->label_values[l]));
            for (size_t f = 0; f < FL_ARRAY_LEN(fields); f++)
                if (strcmp(m->label_keys[l], fields[f][0]) == 0 &&
                    !json_object_get(cl, fields[f][1]))
                    json_object_set_new(cl, fields[f][1], json_string(m->label_values[l]));
        }
        for (size_t t = 0; t < m->ntaints; t++)
            json_array_append_new(taints,
                                  json_pack("{s:s,s:s,s:s}", "key", m->taints[t].key, "value",
                                            m->taints[t].value ? m->taints[t].value : "", "effect",
                                            m->taints[t].effect));
        /* a zone label "a,b": the cluster spans zones a and b (Karmada's spec.zones) */
        const char *z = fl_obj_str(cl, "zone");
        if (z && strchr(z, ',')) {
            json_t *zs = json_array();
            for (const char *p0 = z; p0 && *p0;) {
                const char *c = strchr(p0, ',');
                size_t l = c ? (size_t)(c - p0) : strlen(p0);
                if (l)
                    json_array_append_new(zs, json_stringn(p0, l));
                p0 = c ? c + 1 : NULL;
            }
            json_object_set_new(cl, "zones", zs);
        }
        json_array_append_new(arr, cl);
    }
    return arr;
}

static const json_t *pod_spec_of(const json_t *tmpl)
{
    if (strcmp(fl_obj_str_or(tmpl, "kind", ""), "Pod") == 0)
        return json_object_get(tmpl, "spec");
    return fl_obj_get(tmpl, "spec.template.spec");
}

/* Fill "available" of every cluster from the (fresh enough) snapshot. */
static int add_available(cmd_placer *p, const json_t *tmpl, json_t *clusters, fl_err *err)
{
    const json_t *spec = pod_spec_of(tmpl);
    if (!json_is_object(spec)) /* not a workload: nothing to count */
        return 0;
    size_t n = json_array_size(clusters);
    const char **names = calloc(n + 1, sizeof *names);
    int64_t *avail = calloc(n + 1, sizeof *avail);
    int rc = -ENOMEM;
    if (!names || !avail)
        goto out;
    for (size_t i = 0; i < n; i++)
        names[i] = fl_obj_str_or(json_array_get(clusters, i), "name", "");
    pthread_mutex_lock(&p->mu);
    rc = 0;
    if (!p->snap || fl_mono_ms() - p->loaded_ms > p->ttl_ms) {
        fl_index_reader *r = NULL;
        fl_sched_snapshot *s = NULL;
        rc = fl_index_reader_new(p->index, &r, err);
        if (rc == 0)
            rc = fl_sched_snapshot_load(r, NULL, &s, err);
        fl_index_reader_free(r);
        if (rc == 0) {
            fl_sched_snapshot_stats st;
            fl_sched_snapshot_stats_get(s, &st);
            fl_sched_snapshot_free(p->snap);
            p->snap = s;
            p->loaded_ms = fl_mono_ms();
            p->ttl_ms = 10 * st.load_ms > SNAPSHOT_TTL_MS ? 10 * st.load_ms : SNAPSHOT_TTL_MS;
        }
    }
    if (rc == 0)
        rc = fl_sched_snapshot_available_many(p->snap, spec, names, n, avail, err);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; rc == 0 && i < n; i++)
        json_object_set_new(json_array_get(clusters, i), "available", json_integer(avail[i]));
out:
    free(names);
    free(avail);
    return rc;
}

void cmd_placer_set_quota(cmd_placer *p, fl_quota *q)
{
    if (p)
        p->quota = q;
}

static int binding_row(void *arg, const fl_index_row *row)
{
    json_t **out = arg;
    if (!row->deleted_ms && !*out)
        fl_json_parse(row->json, row->json_len, out, NULL);
    return 0;
}

/* The workload's ResourceBinding on the host (<name>-<kind>, as the
 * propagation controller names it), from the index; NULL when none. */
static json_t *binding_of(cmd_placer *p, const json_t *tmpl)
{
    char bname[600];
    snprintf(bname, sizeof bname, "%s-%s", fl_obj_str_or(tmpl, "metadata.name", ""),
             fl_obj_str_or(tmpl, "kind", ""));
    for (char *c = bname; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    const char *ns = fl_obj_str_or(tmpl, "metadata.namespace", "");
    fl_index_key key = {FL_QUOTA_HOST_CLUSTER,
                        "work.karmada.io",
                        NULL,
                        ns[0] ? "resourcebindings" : "clusterresourcebindings",
                        ns,
                        bname};
    fl_index_reader *r = NULL;
    json_t *rb = NULL;
    if (fl_index_reader_new(p->index, &r, NULL) == 0)
        fl_index_get(r, &key, binding_row, &rb, NULL);
    fl_index_reader_free(r);
    return rb;
}

/* The namespace's quotas with their live usage, as the engine's ledger
 * reads them ([{"name","hard","used"}]); NULL without a ledger. */
static json_t *quotas_of(cmd_placer *p, const char *ns)
{
    json_t *rep = NULL, *out = NULL;
    if (!p->quota || !ns[0] || fl_quota_report(p->quota, ns, &rep, NULL) != 0)
        return NULL;
    out = json_array();
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(rep, "items"), i, it) {
        if (!json_is_object(json_object_get(it, "hard")))
            continue;
        char qn[600];
        snprintf(qn, sizeof qn, "%s %s", fl_obj_str_or(it, "kind", ""),
                 fl_obj_str_or(it, "name", ""));
        json_array_append_new(out, json_pack("{s:s,s:O,s:O?}", "name", qn, "hard",
                                             json_object_get(it, "hard"), "used",
                                             json_object_get(it, "used")));
    }
    json_decref(rep);
    return out;
}

void cmd_placer_handle(fl_request *r, void *ud)
{
    cmd_placer *p = ud;
    size_t len = 0;
    const char *body = fl_request_body(r, &len);
    json_t *in = NULL, *clusters = NULL, *req = NULL, *ans = NULL, *rb = NULL;
    fl_err err = FL_ERR_INIT;
    if (strcmp(fl_request_method(r), "POST") != 0) {
        fl_request_reply_status(r, 405, "MethodNotAllowed", "POST a template and policies");
        return;
    }
    json_t *status = fl_collector_status(p->collector);
    clusters = cmd_members_json(p->cfg, status, false);
    json_decref(status);
    if (!clusters) {
        fl_request_reply_status(r, 500, "InternalError", "out of memory");
        return;
    }
    if (fl_query_filter_clusters(p->query, r, clusters) != 0) /* answered 401 */
        goto out;
    if (fl_json_parse(body, len, &in, &err) != 0 || !json_is_object(in) ||
        !json_is_object(json_object_get(in, "template"))) {
        fl_request_reply_status(r, 400, "BadRequest",
                                "want {\"template\":{...},\"policies\":"
                                "[...]}: %s",
                                err.msg[0] ? err.msg : "not an object");
        goto out;
    }
    const json_t *tmpl = json_object_get(in, "template");
    if (add_available(p, tmpl, clusters, &err) != 0) {
        fl_request_reply_status(r, 500, "InternalError", "capacity: %s", err.msg);
        goto out;
    }
    rb = binding_of(p, tmpl);
    const json_t *prev = json_object_get(in, "previous");
    if (!prev)
        prev = fl_obj_get(rb, "spec.clusters");
    req = json_pack("{s:s,s:O,s:O?,s:O?,s:O?,s:O,s:b,s:O?,s:o?}", "op", "place", "template", tmpl,
                    "policies", json_object_get(in, "policies"), "policy",
                    json_object_get(in, "policy"), "previous", prev, "clusters", clusters,
                    "explain", 1, "binding", rb, "quota",
                    quotas_of(p, fl_obj_str_or(tmpl, "metadata.namespace", "")));
    ans = req ? fl_sched_op_place(req, NULL, &err) : NULL;
    if (ans && prev)
        json_object_set(ans, "previous", (json_t *)prev);
    if (ans && json_object_get(req, "quota"))
        json_object_set(ans, "quotas", json_object_get(req, "quota"));
    if (!ans) {
        fl_request_reply_status(r, 400, "BadRequest", "%s", err.msg[0] ? err.msg : "bad request");
        goto out;
    }
    fl_request_reply_json(r, 200, ans);
    ans = NULL; /* the reply took it */
out:
    json_decref(in);
    json_decref(rb);
    json_decref(clusters);
    json_decref(req);
    json_decref(ans);
}

/* ---------------------------------------------------------------- the CLI */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: flotilla place -f FILE [-f FILE ...] [-o json] [--server URL] [--token T]\n"
            "                      [--kubeconfig FILE [--context C]]\n"
            "                      [--certificate-authority FILE] [--insecure-skip-tls-verify]\n\n"
            "Ask the daemon where the workloads in the files would go under the\n"
            "(Cluster)PropagationPolicies in the files, without placing anything: each\n"
            "member's filter and score result, its available replicas, the division and\n"
            "the quota check. Files are YAML (several documents) or JSON, lists allowed.\n\n"
            "  -f, --filename FILE  workload and policy documents (repeatable)\n"
            "  -o json              the daemon's answer as is\n"
            "  --server URL         the daemon (default: the kubeconfig's server, else\n"
            "                       $FLOTILLA_SERVER, else %s)\n"
            "  --token T            bearer token (default: $FLOTILLA_TOKEN)\n"
            "Exit status: 0 when every workload can be placed, 1 otherwise.\n",
            CMD_DEFAULT_SERVER);
}

typedef struct place_opts {
    cmd_conn_opts conn;
    const char *files[MAX_FILES];
    size_t nfiles;
    bool json;
} place_opts;

static int parse(int argc, char **argv, place_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-f") || !strcmp(a, "--filename")) {
            if (o->nfiles == MAX_FILES || i + 1 >= argc)
                return 1;
            o->files[o->nfiles++] = argv[++i];
            continue;
        }
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc || strcmp(argv[i + 1], "json") != 0)
                return 1;
            o->json = true;
            i++;
            continue;
        }
        int k = cmd_conn_flag(&o->conn, argc, argv, &i, "flotilla place");
        if (k <= 0)
            return 1;
    }
    return o->nfiles == 0;
}

/* Append the documents of one parsed value (object, List, or array). */
static void add_docs(json_t *docs, const json_t *v)
{
    size_t i;
    const json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            add_docs(docs, e);
        }
    } else if (json_is_object(v) && json_is_array(json_object_get(v, "items")) &&
               fl_str_has_suffix(fl_obj_str_or(v, "kind", ""), "List")) {
        add_docs(docs, json_object_get(v, "items"));
    } else if (json_is_object(v)) {
        json_array_append(docs, (json_t *)v);
    }
}

static int read_docs(const place_opts *o, json_t *policies, json_t *workloads)
{
    for (size_t f = 0; f < o->nfiles; f++) {
        fl_buf b = FL_BUF_INIT(FILE_MAX_BYTES);
        fl_err err = FL_ERR_INIT;
        json_t *v = NULL, *docs = json_array();
        int rc = fl_buf_read_file(&b, o->files[f], &err);
        if (rc == 0 && fl_yaml_parse_all(b.data, b.len, &v, &err) != 0)
            rc = FL_EPARSE;
        fl_buf_done(&b);
        if (rc) {
            fprintf(stderr, "flotilla place: %s: %s\n", o->files[f], err.msg);
            json_decref(docs);
            return 1;
        }
        add_docs(docs, v);
        json_decref(v);
        size_t i;
        json_t *d;
        json_array_foreach(docs, i, d) {
            const char *kind = fl_obj_str_or(d, "kind", "");
            bool pol =
                !strcmp(kind, "PropagationPolicy") || !strcmp(kind, "ClusterPropagationPolicy");
            json_array_append(pol ? policies : workloads, d);
        }
        json_decref(docs);
    }
    return 0;
}

/* A policy or workload without a namespace lives in "default", as kubectl would put it. */
static void default_namespace(json_t *docs)
{
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        const char *kind = fl_obj_str_or(d, "kind", "");
        if (!strcmp(kind, "ClusterPropagationPolicy") || fl_obj_str(d, "metadata.namespace"))
            continue;
        json_t *md = fl_obj_ensure(d, "metadata");
        if (md)
            json_object_set_new(md, "namespace", json_string("default"));
    }
}

static void print_answer(const json_t *tmpl, const json_t *ans)
{
    const json_t *ex = json_object_get(ans, "explain");
    printf("%s %s/%s", fl_obj_str_or(tmpl, "kind", "?"),
           fl_obj_str_or(tmpl, "metadata.namespace", ""),
           fl_obj_str_or(tmpl, "metadata.name", "?"));
    if (ex)
        printf(": %s %s, %s, %lld replicas\n", fl_obj_str_or(ex, "kind", ""),
               fl_obj_str_or(ex, "policy", ""), fl_obj_str_or(ex, "strategy", ""),
               (long long)json_integer_value(json_object_get(ex, "replicas")));
    else
        printf("\n");
    size_t i, j;
    const json_t *at, *c;
    json_array_foreach(json_object_get(ex, "attempts"), i, at) {
        const char *aff = fl_obj_str(at, "affinityName");
        if (aff)
            printf("clusterAffinities term \"%s\":\n", aff);
        printf("  %-20s %-8s %-6s %-10s %s\n", "CLUSTER", "SCORE", "AVAIL", "REPLICAS", "FILTER");
        json_array_foreach(json_object_get(at, "clusters"), j, c) {
            char score[24] = "-", avail[24] = "-", reps[24] = "-";
            const json_t *v;
            if ((v = json_object_get(c, "score")))
                snprintf(score, sizeof score, "%lld", (long long)json_integer_value(v));
            if ((v = json_object_get(c, "available")))
                snprintf(avail, sizeof avail, json_is_integer(v) ? "%lld" : "?",
                         (long long)json_integer_value(v));
            if ((v = json_object_get(c, "replicas")))
                snprintf(reps, sizeof reps, "%lld", (long long)json_integer_value(v));
            else if (json_is_true(json_object_get(c, "selected")))
                snprintf(reps, sizeof reps, "0");
            printf("  %-20s %-8s %-6s %-10s %s\n", fl_obj_str_or(c, "name", "?"), score, avail,
                   reps, fl_obj_str_or(c, "filter", ""));
        }
        if (json_object_get(at, "quota"))
            printf("  quota: %s\n", fl_obj_str_or(at, "quota", ""));
        if (json_object_get(at, "error"))
            printf("  error: %s\n", fl_obj_str_or(at, "error", ""));
    }
    if (json_array_size(json_object_get(ans, "previous"))) {
        printf("Previous:");
        json_array_foreach(json_object_get(ans, "previous"), i, c)
            printf(" %s=%lld", fl_obj_str_or(c, "name", "?"),
                   (long long)json_integer_value(json_object_get(c, "replicas")));
        printf("\n");
    }
    json_array_foreach(json_object_get(ans, "quotas"), i, c) {
        char *h = json_dumps(json_object_get(c, "hard"), JSON_COMPACT | JSON_SORT_KEYS);
        char *u = json_dumps(json_object_get(c, "used"), JSON_COMPACT | JSON_SORT_KEYS);
        printf("Quota %s: hard %s, used %s\n", fl_obj_str_or(c, "name", "?"), h ? h : "{}",
               u ? u : "{}");
        free(h);
        free(u);
    }
    if (json_object_get(ans, "clusters")) {
        printf("Scheduled:");
        json_array_foreach(json_object_get(ans, "clusters"), i, c) {
            printf(" %s=%lld", fl_obj_str_or(c, "name", "?"),
                   (long long)json_integer_value(json_object_get(c, "replicas")));
        }
        printf("\n");
    } else {
        printf("%s: %s\n", fl_obj_str_or(ans, "reason", "Unschedulable"),
               fl_obj_str_or(ans, "error", ""));
    }
}

static int ask(fl_kube_conn *conn, const json_t *tmpl, const json_t *policies, json_t **ans)
{
    json_t *q = json_pack("{s:O,s:O}", "template", tmpl, "policies", policies);
    fl_buf b = FL_BUF_INIT(FILE_MAX_BYTES * 2);
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    fl_kube_response res;
    fl_err err = FL_ERR_INIT;
    int rc = q ? fl_json_encode(q, false, &b) : -ENOMEM;
    json_decref(q);
    if (rc) {
        fl_buf_done(&b);
        fprintf(stderr, "flotilla place: request too large\n");
        return 1;
    }
    rq.method = FL_KUBE_POST;
    rq.path = "/api/v1/place";
    rq.body = b.data;
    rq.body_len = b.len;
    rq.timeout_ms = 60000;
    rc = fl_kube_request_sync(conn, &rq, NULL, &res, &err);
    if (rc == 0 && fl_json_parse(res.body.data ? res.body.data : "", res.body.len, ans, &err))
        rc = FL_EPARSE;
    if (rc == FL_EUNAUTHORIZED)
        fprintf(stderr, "flotilla place: 401 Unauthorized: the daemon wants credentials "
                        "(--token T, $FLOTILLA_TOKEN, or --kubeconfig FILE)\n");
    else if (rc)
        fprintf(stderr, "flotilla place: %s: %s\n", fl_kube_conn_get_info(conn)->server, err.msg);
    fl_kube_response_done(&res);
    fl_buf_done(&b);
    return rc ? 1 : 0;
}

int cmd_place(int argc, char **argv)
{
    place_opts o = {0};
    cmd_conn_env(&o.conn);
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    json_t *policies = json_array(), *workloads = json_array(), *all = json_array();
    fl_kube_conn *conn = NULL;
    int status = 1;
    if (read_docs(&o, policies, workloads) != 0)
        goto out;
    default_namespace(policies);
    default_namespace(workloads);
    if (json_array_size(workloads) == 0) {
        fprintf(stderr, "flotilla place: no workload in the files (only policies)\n");
        goto out;
    }
    if (cmd_daemon_connect(&o.conn, "flotilla place", &conn) != 0)
        goto out;
    status = 0;
    size_t i;
    json_t *w;
    json_array_foreach(workloads, i, w) {
        json_t *ans = NULL;
        if (ask(conn, w, policies, &ans) != 0) {
            status = 1;
            break;
        }
        if (!json_object_get(ans, "clusters"))
            status = 1;
        if (o.json)
            json_array_append(all, ans);
        else
            print_answer(w, ans);
        json_decref(ans);
    }
    if (o.json) {
        fl_buf b = FL_BUF_INIT(64u << 20);
        const json_t *out = json_array_size(all) == 1 ? json_array_get(all, 0) : all;
        if (fl_json_encode(out, true, &b) == 0)
            printf("%s\n", b.data);
        fl_buf_done(&b);
    }
out:
    fl_kube_conn_unref(conn);
    json_decref(policies);
    json_decref(workloads);
    json_decref(all);
    return status;
}
