/*
 * tests/cmd/test_config.c: flotilla.yaml loading (cmd/config.c): a full
 * valid file, defaults, relative paths, and errors that name file, line and
 * field (unknown keys, wrong types, bad values).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/config.h"
#include "tests/test.h"

static char tmpdir[256];

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

/* Load text as <tmpdir>/flotilla.yaml; returns rc, fills err. */
static int load(const char *text, fl_config **out, fl_err *err)
{
    const char *p = write_file("flotilla.yaml", text);
    return fl_config_load(p, out, err);
}

static const char full[] =
    "listen: 0.0.0.0:8443\n"
    "tls: {cert: tls/server.crt, key: /abs/server.key, clientCA: tls/ca.crt}\n"
    "dataDir: ./data\n"
    "auth:\n"
    "  tokensFile: tokens.csv\n"
    "  anonymousLoopback: true\n"
    "  scopes:\n"
    "  - {group: team-a, clusters: [\"*\"], namespaces: [team-a], resources: [\"*\"]}\n"
    "host: {kubeconfig: host.kubeconfig, context: ctx}\n"
    "members:\n"
    "- name: east-1\n"
    "  kubeconfig: east-1.kubeconfig\n"
    "  context: \"\"\n"
    "  labels: {region: east, zone: east-a, provider: aws}\n"
    "  taints: [{key: dedicated, value: gpu, effect: NoSchedule}]\n"
    "- name: west-1\n"
    "  kubeconfig: /etc/k/west-1.kubeconfig\n"
    "sync:\n"
    "  resources:\n"
    "  - {group: \"\", version: v1, resources: [nodes, pods]}\n"
    "  - {group: apps, version: v1, resources: [\"*\"]}\n"
    "  namespaces: {include: [], exclude: [kube-system]}\n"
    "  prune: {managedFields: false, lastAppliedConfiguration: true}\n"
    "  retainDeleted: 1h30m\n"
    "  pageSize: 100\n"
    "  stallTimeout: 2s\n";

static void test_full(void)
{
    fl_config *c = NULL;
    fl_err err = FL_ERR_INIT;
    char want[600];
    int rc = load(full, &c, &err);
    T_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    T_EQ_STR(c->listen, "0.0.0.0:8443");
    snprintf(want, sizeof want, "%s/tls/server.crt", tmpdir);
    T_EQ_STR(c->tls_cert, want);
    T_EQ_STR(c->tls_key, "/abs/server.key");
    snprintf(want, sizeof want, "%s/./data", tmpdir);
    T_EQ_STR(c->data_dir, want);
    snprintf(want, sizeof want, "%s/tokens.csv", tmpdir);
    T_EQ_STR(c->tokens_file, want);
    T_CHECK(c->anonymous_loopback);
    T_EQ_INT(c->nscopes, 1);
    T_EQ_STR(c->scopes[0].group, "team-a");
    T_EQ_INT(c->scopes[0].nnamespaces, 1);
    T_CHECK(c->has_host);
    T_EQ_STR(c->host_context, "ctx");
    T_EQ_INT(c->nmembers, 2);
    T_EQ_STR(c->members[0].name, "east-1");
    snprintf(want, sizeof want, "%s/east-1.kubeconfig", tmpdir);
    T_EQ_STR(c->members[0].kubeconfig, want);
    T_EQ_STR(c->members[0].context, "");
    T_EQ_INT(c->members[0].nlabels, 3);
    T_EQ_STR(c->members[0].label_keys[1], "zone");
    T_EQ_STR(c->members[0].label_values[1], "east-a");
    T_EQ_INT(c->members[0].ntaints, 1);
    T_EQ_STR(c->members[0].taints[0].effect, "NoSchedule");
    T_EQ_STR(c->members[1].kubeconfig, "/etc/k/west-1.kubeconfig");
    T_EQ_INT(c->nresources, 2);
    T_EQ_STR(c->resources[0].group, "");
    T_EQ_INT(c->resources[0].nresources, 2);
    T_EQ_STR(c->resources[1].resources[0], "*");
    T_EQ_INT(c->nns_include, 0);
    T_EQ_INT(c->nns_exclude, 1);
    T_EQ_STR(c->ns_exclude[0], "kube-system");
    T_CHECK(!c->prune_managed_fields);
    T_CHECK(c->prune_last_applied);
    T_EQ_INT(c->retain_deleted_ms, 5400000);
    T_EQ_INT(c->page_size, 100);
    T_EQ_INT(c->stall_timeout_ms, 2000);
    T_EQ_INT(c->watch_timeout_ms, 300000);

    T_EQ_INT(fl_config_set_listen(c, "127.0.0.1:0"), 0);
    T_EQ_STR(c->listen, "127.0.0.1:0");
    T_EQ_INT(fl_config_set_data_dir(c, "/var/lib/fl"), 0);
    T_EQ_STR(c->data_dir, "/var/lib/fl");
    fl_config_free(c);
}

static void test_defaults(void)
{
    fl_config *c = NULL;
    fl_err err = FL_ERR_INIT;
    char want[600];
    int rc = load("members: []\n", &c, &err);
    T_EQ_INT(rc, 0);
    if (rc)
        return;
    T_EQ_STR(c->listen, "127.0.0.1:7443");
    snprintf(want, sizeof want, "%s/flotilla-data", tmpdir);
    T_EQ_STR(c->data_dir, want);
    T_CHECK(!c->has_host);
    T_CHECK(c->tls_cert == NULL);
    T_CHECK(c->prune_managed_fields && c->prune_last_applied);
    T_EQ_INT(c->retain_deleted_ms, 3600000);
    T_CHECK(c->nresources >= 2);
    T_EQ_STR(c->resources[0].version, "v1");
    T_EQ_INT(c->page_size, 500);
    T_EQ_INT(c->health_interval_ms, 10000);
    T_EQ_INT(c->failover_failure_ms, 30000);
    T_EQ_INT(c->failover_success_ms, 30000);
    T_EQ_INT(c->failover_toleration_ms, 300000);
    T_EQ_INT(c->failover_eviction_rate, 50);
    T_EQ_INT(c->propagation_interval_ms, 1000);
    T_EQ_INT(c->sql_max_rows, 10000);
    T_EQ_INT(c->sql_budget_ms, 5000);
    T_CHECK(!c->sql_objects_for_all);
    T_EQ_INT(c->control_history, 10000);
    fl_config_free(c);
    /* controlPlane: the history kept */
    rc = load("members: []\ncontrolPlane: {history: 250}\n", &c, &err);
    T_EQ_INT(rc, 0);
    if (rc)
        return;
    T_EQ_INT(c->control_history, 250);
    fl_config_free(c);
    /* query: POST /query's caps */
    rc = load("members: []\nquery: {maxRows: 50, budgetMs: 250, objectsForAll: true}\n", &c, &err);
    T_EQ_INT(rc, 0);
    if (rc)
        return;
    T_EQ_INT(c->sql_max_rows, 50);
    T_EQ_INT(c->sql_budget_ms, 250);
    T_CHECK(c->sql_objects_for_all);
    fl_config_free(c);
}

/* failover: and propagation: (scheduler/'s propagation controller). */
static void test_failover(void)
{
    fl_config *c = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = load("members: []\nfailover: {failureThreshold: 2s, successThreshold: 500ms, "
                  "tolerationSeconds: 0, evictionRate: 7}\npropagation: {interval: 250ms}\n",
                  &c, &err);
    T_EQ_INT(rc, 0);
    if (!rc) {
        T_EQ_INT(c->failover_failure_ms, 2000);
        T_EQ_INT(c->failover_success_ms, 500);
        T_EQ_INT(c->failover_toleration_ms, 0);
        T_EQ_INT(c->failover_eviction_rate, 7);
        T_EQ_INT(c->propagation_interval_ms, 250);
        fl_config_free(c);
    }
    c = NULL;
    rc = load("members: []\nfailover: {tolerationSecs: 3}\n", &c, &err);
    T_CHECK(rc != 0 && strstr(err.msg, "failover.tolerationSecs: unknown field"));
    fl_config_free(c);
}

/* Each case: YAML, and the text the error must contain. */
static void test_errors(void)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"listen: 1.2.3.4:80\nmembrs: []\n", "flotilla.yaml:2: membrs: unknown field"},
        {"members:\n- name: a\n  kubeconfig: k\n  kubeconfg: x\n",
         "flotilla.yaml:4: members[0].kubeconfg: unknown field"},
        {"members:\n- name: a\n", "members[0].kubeconfig: required"},
        {"members:\n- name: Bad_Name\n  kubeconfig: k\n",
         "flotilla.yaml:2: members[0].name: \"Bad_Name\" must be a DNS label"},
        {"members:\n- {name: a, kubeconfig: k}\n- {name: a, kubeconfig: j}\n",
         "flotilla.yaml:3: members[1].name: duplicate member name"},
        {"listen: 7443\n", "flotilla.yaml:1: listen: must be a string, not a number"},
        {"query:\n  maxRow: 5\n", "flotilla.yaml:2: query.maxRow: unknown field"},
        {"listen: localhost\n", "flotilla.yaml:1: listen: must be HOST:PORT"},
        {"auth:\n  anonymousLoopback: maybe\n",
         "flotilla.yaml:2: auth.anonymousLoopback: must be true or false, not a string"},
        {"auth:\n  anonymousLoopback: null\n  tokensFile: [a]\n",
         "flotilla.yaml:3: auth.tokensFile: must be a string, not a list"},
        {"members: {a: b}\n", "flotilla.yaml:1: members: must be a list, not a mapping"},
        {"members:\n- name: a\n  kubeconfig: k\n  labels: {tier: 1}\n",
         "flotilla.yaml:4: members[0].labels.tier: label values must be strings"},
        {"members:\n- name: a\n  kubeconfig: k\n  taints:\n  - {key: x, effect: Sometimes}\n",
         "flotilla.yaml:5: members[0].taints[0].effect: must be NoSchedule"},
        {"sync:\n  resources:\n  - {group: apps, resources: [deployments]}\n",
         "flotilla.yaml:3: sync.resources[0].version: required"},
        {"sync:\n  resources:\n  - {version: v1, resources: []}\n",
         "sync.resources[0].resources: must list at least one resource"},
        {"sync:\n  resources:\n  - version: v1\n    resources: [pods, 3]\n",
         "flotilla.yaml:4: sync.resources[0].resources[1]: must be a string, not a number"},
        {"sync:\n  retainDeleted: forever\n",
         "flotilla.yaml:2: sync.retainDeleted: must be a duration"},
        {"sync:\n  namespaces: {include: [a], exclud: [b]}\n",
         "flotilla.yaml:2: sync.namespaces.exclud: unknown field"},
        {"sync:\n  namespaces: {include: [team-a, \"a,b=c\"]}\n",
         "flotilla.yaml:2: sync.namespaces.include[1]: \"a,b=c\" is not a namespace name"},
        {"sync:\n  namespaces:\n    exclude: [Kube-System]\n",
         "flotilla.yaml:3: sync.namespaces.exclude[0]: \"Kube-System\" is not a namespace name"},
        {"sync:\n  prune:\n    managedFields: yes please\n",
         "flotilla.yaml:3: sync.prune.managedFields: must be true or false"},
        {"sync:\n  pageSize: 0\n", "flotilla.yaml:2: sync.pageSize: must be between 1 and"},
        {"maxRequestBytes: 100\n", "flotilla.yaml:1: maxRequestBytes: must be between 65536 and"},
        {"tls: {cert: a.crt}\n", "tls.key: required"},
        {"controlPlane: {history: 10}\n",
         "flotilla.yaml:1: controlPlane.history: must be between 100 and 1000000"},
        {"controlPlane:\n  history: lots\n", "flotilla.yaml:2: controlPlane.history: must be"},
        {"controlPlane:\n  histroy: 500\n", "flotilla.yaml:2: controlPlane.histroy: unknown field"},
        {"controlPlane: 5000\n", "flotilla.yaml:1: controlPlane: must be a mapping"},
        {"- a\n- b\n", "(top): must be a mapping, not a list"},
        {"host: {context: x}\n", "host.kubeconfig: required"},
        {"members:\n- name: a\n  kubeconfig: k\n  labels: [x]\n",
         "flotilla.yaml:4: members[0].labels: must be a mapping, not a list"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_config *c = NULL;
        fl_err err = FL_ERR_INIT;
        int rc = load(cases[i].yaml, &c, &err);
        T_EQ_INT(rc, FL_EPARSE);
        T_CHECK(c == NULL);
        if (!strstr(err.msg, cases[i].want)) {
            T_CHECK(!"error text");
            fprintf(stderr, "  case %zu: got \"%s\"\n  want \"%s\"\n", i, err.msg, cases[i].want);
        }
        T_CHECK(strstr(err.msg, tmpdir) != NULL); /* the file is named */
    }
}

static void test_io_and_yaml_errors(void)
{
    fl_config *c = NULL;
    fl_err err = FL_ERR_INIT;
    char p[600];
    snprintf(p, sizeof p, "%s/does-not-exist.yaml", tmpdir);
    T_CHECK(fl_config_load(p, &c, &err) < 0);
    T_CHECK(strstr(err.msg, "does-not-exist.yaml") != NULL);
    err = (fl_err)FL_ERR_INIT;
    T_EQ_INT(load("members:\n- name: [\n", &c, &err), FL_EPARSE);
    T_CHECK(strstr(err.msg, "flotilla.yaml") != NULL);
    T_CHECK(c == NULL);
}

static void test_durations(void)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"0", 0},       {"1h", 3600000},  {"1h30m", 5400000}, {"500ms", 500},
        {"2.5s", 2500}, {"1m30s", 90000}, {"1500us", 2},      {"10s", 10000},
    };
    static const char *const bad[] = {"", "1", "h", "1x", "-1s", "1.s", ".5s", "1h 2m", "s1"};
    for (size_t i = 0; i < FL_ARRAY_LEN(ok); i++) {
        int64_t v = -1;
        T_EQ_INT(fl_config_parse_duration(ok[i].s, &v), 0);
        T_EQ_INT(v, ok[i].ms);
    }
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        int64_t v = 42;
        T_EQ_INT(fl_config_parse_duration(bad[i], &v), FL_EPARSE);
        T_EQ_INT(v, 42);
    }
}

/* The annotated example at the repository root must load. */
static void test_example(void)
{
    const char *src = getenv("FLOTILLA_SRC");
    char p[600];
    fl_config *c = NULL;
    fl_err err = FL_ERR_INIT;
    snprintf(p, sizeof p, "%s/flotilla.example.yaml", src ? src : "..");
    T_EQ_INT(fl_config_load(p, &c, &err), 0);
    if (!c) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    T_EQ_INT(c->nmembers, 2);
    T_EQ_INT(c->members[1].ntaints, 1);
    T_EQ_INT(c->nns_exclude, 1);
    fl_config_free(c);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fl-test-config-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_full();
    test_defaults();
    test_errors();
    test_io_and_yaml_errors();
    test_durations();
    test_example();
    test_failover();
    char p[600];
    snprintf(p, sizeof p, "%s/flotilla.yaml", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    return t_done();
}
