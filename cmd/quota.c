/*
 * cmd/quota.c: `flotilla quota [-n NS] [-o wide|json]` — every KarmadaQuota
 * and FederatedResourceQuota with its fleet-wide usage, read from the
 * daemon's GET /api/v1/quota (quota/'s report). One row per (quota,
 * resource): namespace, quota, resource, used, hard, percent; -o wide adds
 * the kind and, for an FRQ, each static assignment's cluster usage; -o json
 * prints the daemon's document. Credentials as `flotilla clusters`: --token,
 * a kubeconfig, or $FLOTILLA_TOKEN / $FLOTILLA_SERVER.
 *
 * `flotilla quota recount [-n NS] [-o json]` asks the daemon for a full
 * recount now (POST /api/v1/quota/recount, admins only) and prints what it
 * found: namespaces recounted, those whose followed usage had drifted,
 * how long it took.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "kube/kube.h"

#define DEFAULT_SERVER CMD_DEFAULT_SERVER

typedef struct qopts {
    cmd_conn_opts conn;
    const char *output, *ns;
    bool recount; /* `flotilla quota recount` */
} qopts;

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: flotilla quota [-n NAMESPACE] [-o wide|json] [--server URL] [--token T]\n"
        "                      [--kubeconfig FILE [--context C]] [--certificate-authority FILE]\n"
        "                      [--insecure-skip-tls-verify]\n\n"
        "       flotilla quota recount [-n NAMESPACE] [-o json] [connection flags as above]\n\n"
        "Show every KarmadaQuota and FederatedResourceQuota with what the namespace uses\n"
        "across every member cluster: one row per quota and resource (used, hard,\n"
        "percent). -o wide adds the kind and each static assignment's cluster usage.\n\n"
        "recount: recount usage from the index now (the daemon also does it once a\n"
        "minute per namespace) and compare it with the usage the daemon followed from\n"
        "the change log; a difference is drift (logged, and counted in\n"
        "flotilla_quota_drift_total). -n recounts one namespace, else every namespace\n"
        "the daemon has decided since it started. Admins only (system:masters or\n"
        "auth.adminGroups, or no auth.scopes configured).\n\n"
        "Server and credentials as for `flotilla clusters` (default %s).\n",
        DEFAULT_SERVER);
}

static int parse(int argc, char **argv, qopts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **slot = NULL;
        int k = cmd_conn_flag(&o->conn, argc, argv, &i, "flotilla quota");
        if (k < 0)
            return 2;
        if (k)
            continue;
        if (!strcmp(a, "recount") && !o->recount)
            o->recount = true;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            slot = &o->output;
        else if (!strcmp(a, "-n") || !strcmp(a, "--namespace"))
            slot = &o->ns;
        else {
            fprintf(stderr, "flotilla quota: unknown argument \"%s\"\n", a);
            return 2;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flotilla quota: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        }
    }
    if (o->output && strcmp(o->output, "json") && (o->recount || strcmp(o->output, "wide"))) {
        fprintf(stderr, "flotilla quota: -o must be %s\n", o->recount ? "json" : "wide or json");
        return 2;
    }
    return 0;
}

/* "42%" of used over hard ("-" when hard is zero or too large to say). */
static void percent(const char *used, const char *hard, char *out, size_t n)
{
    fl_quantity u, h;
    int64_t um, hm;
    snprintf(out, n, "-");
    if (fl_quantity_parse(used, strlen(used), &u, NULL) ||
        fl_quantity_parse(hard, strlen(hard), &h, NULL) || fl_quantity_milli_value(&u, &um) ||
        fl_quantity_milli_value(&h, &hm) || hm <= 0 || um > INT64_MAX / 100)
        return;
    snprintf(out, n, "%lld%%", (long long)(um * 100 / hm));
}

static void clusters_of(const json_t *it, const char *res, char *out, size_t n)
{
    size_t i, len = 0;
    const json_t *a;
    out[0] = 0;
    json_array_foreach(json_object_get(it, "aggregatedStatus"), i, a) {
        const char *u = json_string_value(json_object_get(json_object_get(a, "used"), res));
        const char *h = json_string_value(json_object_get(json_object_get(a, "hard"), res));
        if (!h || len >= n)
            continue;
        len += (size_t)snprintf(out + len, n - len, "%s%s=%s/%s", len ? "," : "",
                                fl_obj_str_or(a, "clusterName", "?"), u ? u : "0", h);
    }
    if (!out[0])
        snprintf(out, n, "-");
}

static void print(const json_t *doc, bool wide)
{
    size_t i;
    const json_t *it;
    if (wide)
        printf("%-16s %-24s %-23s %-28s %-10s %-10s %-8s %s\n", "NAMESPACE", "QUOTA", "KIND",
               "RESOURCE", "USED", "HARD", "PERCENT", "CLUSTERS");
    else
        printf("%-16s %-24s %-28s %-10s %-10s %s\n", "NAMESPACE", "QUOTA", "RESOURCE", "USED",
               "HARD", "PERCENT");
    json_array_foreach(json_object_get(doc, "items"), i, it) {
        const char *ns = fl_obj_str_or(it, "namespace", "-"),
                   *name = fl_obj_str_or(it, "name", "-");
        const char *kind = fl_obj_str_or(it, "kind", "-");
        if (json_object_get(it, "errors")) {
            printf("%-16s %-24s %s%-28s invalid: %s\n", ns, name,
                   wide ? "FederatedResourceQuota  " : "", "-",
                   json_string_value(json_array_get(json_object_get(it, "errors"), 0)));
            continue;
        }
        const char *res;
        json_t *h;
        json_object_foreach(json_object_get(it, "hard"), res, h) {
            const char *used = json_string_value(json_object_get(json_object_get(it, "used"), res));
            char pct[32], cl[512];
            percent(used ? used : "0", json_string_value(h), pct, sizeof pct);
            if (wide) {
                clusters_of(it, res, cl, sizeof cl);
                printf("%-16s %-24s %-23s %-28s %-10s %-10s %-8s %s\n", ns, name, kind, res,
                       used ? used : "0", json_string_value(h), pct, cl);
            } else
                printf("%-16s %-24s %-28s %-10s %-10s %s\n", ns, name, res, used ? used : "0",
                       json_string_value(h), pct);
        }
    }
}

/* `flotilla quota recount`: 0 when the daemon recounted (drift or not), 1
 * after saying why it did not. */
static int recount(const qopts *o)
{
    fl_buf path = FL_BUF_INIT(4096);
    json_t *doc = NULL;
    int rc = fl_buf_puts(&path, "/api/v1/quota/recount");
    if (!rc && o->ns && !(rc = fl_buf_puts(&path, "?namespace=")))
        rc = cmd_url_escape(&path, o->ns);
    if (rc)
        fprintf(stderr, "flotilla quota recount: --namespace is too long\n");
    else
        rc = cmd_daemon_post_json(&o->conn, "flotilla quota recount", path.data, 600000, &doc);
    fl_buf_done(&path);
    if (rc)
        return 1;
    json_int_t drift = json_integer_value(json_object_get(doc, "drift"));
    if (o->output && !strcmp(o->output, "json"))
        cmd_print_json(doc);
    else {
        printf("recounted %lld of %lld namespace(s) in %lld ms; drift: %lld\n",
               (long long)json_integer_value(json_object_get(doc, "recounted")),
               (long long)json_integer_value(json_object_get(doc, "namespaces")),
               (long long)json_integer_value(json_object_get(doc, "durationMs")), (long long)drift);
        size_t i;
        const json_t *n;
        json_array_foreach(json_object_get(doc, "driftNamespaces"), i, n)
            printf("  drift in namespace %s (its usage was replaced by the recount)\n",
                   json_string_value(n));
    }
    json_decref(doc);
    return 0;
}

int cmd_quota(int argc, char **argv)
{
    qopts o = {0};
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    if (o.recount)
        return recount(&o);
    fl_buf path = FL_BUF_INIT(4096);
    json_t *doc = NULL;
    int rc = fl_buf_puts(&path, "/api/v1/quota");
    if (!rc && o.ns && !(rc = fl_buf_puts(&path, "?namespace=")))
        rc = cmd_url_escape(&path, o.ns);
    if (rc)
        fprintf(stderr, "flotilla quota: --namespace is too long\n");
    else
        rc = cmd_daemon_get_json(&o.conn, "flotilla quota", path.data, 10000, &doc);
    fl_buf_done(&path);
    if (rc)
        return 1;
    if (o.output && !strcmp(o.output, "json"))
        cmd_print_json(doc);
    else
        print(doc, o.output != NULL);
    json_decref(doc);
    return 0;
}
