/*
 * cmd/clusters.c: `flotilla clusters` — the member table, read from the
 * daemon's GET /api/v1/clusters (see cmd/serve.c and collector.h for the
 * fields). Prints one row per member (health and since when, sync state
 * with progress, objects, lag, age, version, current error), with -o wide
 * a row per (member, resource), with -o json the daemon's document as is.
 * Each column means one thing; usage() documents them.
 * Credentials: --token, else a kubeconfig (--kubeconfig, else the first
 * file of $KUBECONFIG that exists, as kubectl reads it: e.g. the one used
 * for kubectl against Flotilla; its server may carry the search API's
 * path, which is dropped), else $FLOTILLA_SERVER / $FLOTILLA_TOKEN; a 401
 * says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "kube/kube.h"

#define DEFAULT_SERVER CMD_DEFAULT_SERVER

typedef struct opts {
    cmd_conn_opts conn;
    const char *output;
} opts;

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: flotilla clusters [--server URL] [--token T] [--kubeconfig FILE [--context C]]\n"
        "                         [-o wide|json] [--certificate-authority FILE]\n"
        "                         [--insecure-skip-tls-verify]\n\n"
        "Show every member cluster the daemon watches; -o wide adds a row per\n"
        "synced resource, -o json prints the daemon's GET /api/v1/clusters.\n\n"
        "Columns:\n"
        "  HEALTH      the member's /readyz probe: Ready, NotReady (an HTTP error),\n"
        "              Unreachable (no answer) or Unknown (no probe answered yet);\n"
        "              leaving Ready takes two failed probes in a row\n"
        "  CHANGED     time since HEALTH last changed\n"
        "  SYNC        Synced, Syncing or Failing, then N/M: the resources whose\n"
        "              initial list is in the index / the resources synced. Synced:\n"
        "              Ready and N = M. Failing: not Ready, or a resource not yet\n"
        "              listed failing its requests. The daemon's /readyz waits for\n"
        "              Syncing members only\n"
        "  OBJECTS     objects of the member in the index\n"
        "  LAG         how long the index may have been behind the member: 0 while\n"
        "              every watch runs, else the time since the first watch broke\n"
        "              (failed retries do not reset it); - while unknown (before\n"
        "              the first list, or after a restart until a watch line)\n"
        "  AGE         time since the daemon took the member on\n"
        "  VERSION     the member's Kubernetes version\n"
        "  LAST ERROR  the current problem (the health probe's error, else the first\n"
        "              failing resource's); empty once it recovers\n\n"
        "  --server URL       the daemon (default: the kubeconfig's server, else\n"
        "                     $FLOTILLA_SERVER, else %s: the\n"
        "                     daemon's default listen, plain HTTP without tls:); a URL\n"
        "                     without a scheme is https://, as with kubectl\n"
        "  --token T          bearer token (default: the kubeconfig's credentials,\n"
        "                     else $FLOTILLA_TOKEN)\n"
        "  --kubeconfig FILE  a kubeconfig for Flotilla (server, CA, token or client\n"
        "                     certificate); a search API path in its server is\n"
        "                     dropped. Default, unless $FLOTILLA_SERVER is set: the\n"
        "                     first file of $KUBECONFIG that exists (~/.kube/config\n"
        "                     is not read: it names clusters, not Flotilla)\n"
        "  --context C        its context (default: current-context)\n",
        DEFAULT_SERVER);
}

static int parse(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **slot = NULL;
        int k = cmd_conn_flag(&o->conn, argc, argv, &i, "flotilla clusters");
        if (k < 0)
            return 2;
        if (k)
            continue;
        if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            slot = &o->output;
        else if (!strncmp(a, "-o", 2) && a[2])
            o->output = a[2] == '=' ? a + 3 : a + 2;
        else {
            fprintf(stderr, "flotilla clusters: unknown argument \"%s\"\n", a);
            return 2;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flotilla clusters: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        }
    }
    if (o->output && strcmp(o->output, "wide") && strcmp(o->output, "json")) {
        fprintf(stderr, "flotilla clusters: -o must be wide or json\n");
        return 2;
    }
    return 0;
}

/* "3s", "2m", "1h" — like kubectl's ages. */
static void human_ms(int64_t ms, char *out, size_t n)
{
    if (ms < 0)
        snprintf(out, n, "-");
    else if (ms < 1000)
        snprintf(out, n, "%lldms", (long long)ms);
    else if (ms < 120000)
        snprintf(out, n, "%llds", (long long)(ms / 1000));
    else if (ms < 7200000)
        snprintf(out, n, "%lldm", (long long)(ms / 60000));
    else
        snprintf(out, n, "%lldh", (long long)(ms / 3600000));
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = fl_obj_str(o, k);
    return s && *s ? s : "-";
}

static void age(const json_t *o, const char *k, char *out, size_t n)
{
    int64_t t;
    const char *s = fl_obj_str(o, k);
    if (!s || fl_time_parse(s, &t) != 0)
        snprintf(out, n, "-");
    else
        human_ms(fl_now_ms() - t * 1000, out, n);
}

/* Worst lag of a member's resources (-1: one never listed). */
static int64_t member_lag(const json_t *cl)
{
    size_t i;
    json_t *r;
    int64_t lag = 0;
    json_array_foreach(json_object_get(cl, "resources"), i, r) {
        const char *ph = fl_obj_str(r, "phase");
        int64_t l = json_integer_value(json_object_get(r, "lagMs"));
        if (ph && (!strcmp(ph, "Skipped") || !strcmp(ph, "Stopped")))
            continue;
        if (l < 0 || (lag >= 0 && l > lag))
            lag = l < 0 ? -1 : l;
    }
    return lag;
}

/* The member's current problem: its health error, else the first error of
 * a resource that is not Watching cleanly. */
static void member_error(const json_t *cl, char *out, size_t n)
{
    size_t i;
    json_t *r;
    const char *e = fl_obj_str(cl, "lastError");
    out[0] = 0;
    if (e && *e) {
        fl_strlcpy(out, e, n);
        return;
    }
    json_array_foreach(json_object_get(cl, "resources"), i, r) {
        const char *re = fl_obj_str(r, "lastError"), *ph = fl_obj_str(r, "phase");
        if (re && *re && ph && strcmp(ph, "Skipped") != 0) {
            snprintf(out, n, "%s: %s", str(r, "resource"), re);
            return;
        }
    }
}

static void print_table(const json_t *doc)
{
    size_t i;
    json_t *cl;
    printf("%-16s %-12s %-8s %-14s %-9s %-7s %-6s %-10s %s\n", "NAME", "HEALTH", "CHANGED", "SYNC",
           "OBJECTS", "LAG", "AGE", "VERSION", "LAST ERROR");
    json_array_foreach(json_object_get(doc, "clusters"), i, cl) {
        char lagb[16], ageb[16], chb[16], sync[48], errb[512];
        human_ms(member_lag(cl), lagb, sizeof lagb);
        age(cl, "since", chb, sizeof chb);
        age(cl, "added", ageb, sizeof ageb);
        snprintf(sync, sizeof sync, "%s %lld/%lld", str(cl, "sync"),
                 (long long)json_integer_value(json_object_get(cl, "resourcesSynced")),
                 (long long)json_integer_value(json_object_get(cl, "resourcesTotal")));
        member_error(cl, errb, sizeof errb);
        printf("%-16s %-12s %-8s %-14s %-9lld %-7s %-6s %-10s %s\n", str(cl, "name"),
               str(cl, "health"), chb, sync,
               (long long)json_integer_value(json_object_get(cl, "objects")), lagb, ageb,
               str(cl, "version"), errb);
    }
}

static void print_wide(const json_t *doc)
{
    size_t i, j;
    json_t *cl, *r;
    printf("%-16s %-12s %-32s %-9s %-7s %-9s %-12s %-7s %s\n", "CLUSTER", "HEALTH", "RESOURCE",
           "PHASE", "LISTED", "OBJECTS", "RV", "LAG", "LAST ERROR");
    json_array_foreach(json_object_get(doc, "clusters"), i, cl) {
        if (json_array_size(json_object_get(cl, "resources")) == 0)
            printf("%-16s %-12s %-32s %-9s %-7s %-9s %-12s %-7s %s\n", str(cl, "name"),
                   str(cl, "health"), "-", "-", "-", "-", "-", "-",
                   fl_obj_str(cl, "lastError") ? fl_obj_str(cl, "lastError") : "");
        json_array_foreach(json_object_get(cl, "resources"), j, r) {
            char gvr[256], lagb[16];
            const char *g = fl_obj_str(r, "group");
            snprintf(gvr, sizeof gvr, "%s%s%s/%s", g && *g ? g : "", g && *g ? "/" : "",
                     str(r, "version"), str(r, "resource"));
            human_ms(json_integer_value(json_object_get(r, "lagMs")), lagb, sizeof lagb);
            printf("%-16s %-12s %-32s %-9s %-7s %-9lld %-12s %-7s %s\n", str(cl, "name"),
                   str(cl, "health"), gvr, str(r, "phase"),
                   json_is_true(json_object_get(r, "synced")) ? "yes" : "no",
                   (long long)json_integer_value(json_object_get(r, "objects")),
                   str(r, "resourceVersion"), lagb,
                   fl_obj_str(r, "lastError") ? fl_obj_str(r, "lastError") : "");
        }
    }
}

int cmd_clusters(int argc, char **argv)
{
    opts o = {0};
    cmd_conn_env(&o.conn);
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    json_t *doc = NULL;
    if (cmd_daemon_get_json(&o.conn, "flotilla clusters", "/api/v1/clusters", 10000, &doc))
        return 1;
    if (o.output && !strcmp(o.output, "json")) {
        cmd_print_json(doc);
    } else if (o.output) {
        print_wide(doc);
    } else {
        print_table(doc);
    }
    json_decref(doc);
    return 0;
}
