/* tests/kube/test_kubeconfig.c: kube/kubeconfig.h — every field, relative
 * paths, -data forms, contexts, errors naming file and field, auth-provider,
 * token files, and exec credential plugins (a shell script writing an
 * ExecCredential): caching until expiry, forced refresh, env and
 * KUBERNETES_EXEC_INFO, failures, timeouts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/kube.h"
#include "tests/test.h"

static char dir[64];

static void put(const char *name, const char *content, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(content, f);
    fclose(f);
    chmod(path, mode);
}

static char *slurp(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strdup(buf);
}

static int plugin_runs(void)
{
    char *s = slurp("count");
    int n = atoi(s); /* test code: the count file is ours */
    free(s);
    return n;
}

static const char *kubeconfig =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: east\n"
    "clusters:\n"
    "- name: east\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/clusters/east/\n"
    "    certificate-authority: pki/ca.crt\n"
    "    tls-server-name: api.east\n"
    "- name: west\n"
    "  cluster:\n"
    "    server: https://west.example.com\n"
    "    certificate-authority-data: aGVsbG8gY2E=\n"
    "    insecure-skip-tls-verify: true\n"
    "    proxy-url: http://proxy:3128\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    client-certificate: pki/admin.crt\n"
    "    client-key: /ABS/pki/admin.key\n"
    "- name: tok\n"
    "  user:\n"
    "    token: abc123\n"
    "- name: tf\n"
    "  user:\n"
    "    tokenFile: token.txt\n"
    "- name: basic\n"
    "  user:\n"
    "    username: u\n"
    "    password: p\n"
    "    client-certificate-data: Y2VydA==\n"
    "    client-key-data: a2V5\n"
    "- name: gcp\n"
    "  user:\n"
    "    auth-provider:\n"
    "      name: gcp\n"
    "- name: plugin\n"
    "  user:\n"
    "    exec:\n"
    "      apiVersion: client.authentication.k8s.io/v1\n"
    "      command: ./plugin.sh\n"
    "      args: [ok, \"2099-01-01T00:00:00Z\"]\n"
    "      env: [{name: FOO, value: bar}]\n"
    "      interactiveMode: Never\n"
    "      provideClusterInfo: true\n"
    "- name: expired\n"
    "  user:\n"
    "    exec:\n"
    "      apiVersion: client.authentication.k8s.io/v1beta1\n"
    "      command: ./plugin.sh\n"
    "      args: [ok, \"2000-01-01T00:00:00Z\"]\n"
    "- name: failing\n"
    "  user:\n"
    "    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh, args: [fail], "
    "interactiveMode: Never}\n"
    "- name: slow\n"
    "  user:\n"
    "    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh, args: [sleep], "
    "interactiveMode: Never}\n"
    "- name: badver\n"
    "  user:\n"
    "    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh, args: [badver], "
    "interactiveMode: Never}\n"
    "- name: nomode\n"
    "  user:\n"
    "    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh}\n"
    "- name: missingfile\n"
    "  user:\n"
    "    client-certificate: nope.crt\n"
    "    client-key: nope.key\n"
    "- name: badb64\n"
    "  user:\n"
    "    client-certificate-data: '!!!'\n"
    "    client-key-data: a2V5\n"
    "contexts:\n"
    "- name: east\n"
    "  context: {cluster: east, user: admin, namespace: team-a}\n"
    "- name: west\n"
    "  context: {cluster: west, user: tok}\n"
    "- {name: tf, context: {cluster: west, user: tf}}\n"
    "- {name: basic, context: {cluster: west, user: basic}}\n"
    "- {name: gcp, context: {cluster: west, user: gcp}}\n"
    "- {name: plugin, context: {cluster: east, user: plugin}}\n"
    "- {name: expired, context: {cluster: east, user: expired}}\n"
    "- {name: failing, context: {cluster: east, user: failing}}\n"
    "- {name: slow, context: {cluster: east, user: slow}}\n"
    "- {name: badver, context: {cluster: east, user: badver}}\n"
    "- {name: nomode, context: {cluster: east, user: nomode}}\n"
    "- {name: missingfile, context: {cluster: east, user: missingfile}}\n"
    "- {name: badb64, context: {cluster: east, user: badb64}}\n"
    "- {name: nouser, context: {cluster: nosuch, user: tok}}\n";

static const char *plugin =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "n=$(cat \"$d/count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$d/count\"\n"
    "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$d/info\"\n"
    "case \"$1\" in\n"
    "fail) echo 'boom: bad things happened' >&2; exit 3;;\n"
    "sleep) exec sleep 10;;\n"
    "badver) echo "
    "'{\"apiVersion\":\"client.authentication.k8s.io/"
    "v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x\"}}'; exit 0;;\n"
    "esac\n"
    "v=v1; [ -n \"$FOO\" ] || v=v1beta1\n"
    "printf "
    "'{\"apiVersion\":\"client.authentication.k8s.io/"
    "%s\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-%s-%s\",\"expirationTimestamp\":"
    "\"%s\"}}\\n' \"$v\" \"$FOO\" \"$n\" \"$2\"\n";

static fl_kubeconfig *load(void)
{
    char *kc = strdup(kubeconfig);
    fl_buf b = FL_BUF_INIT(1u << 20);
    /* substitute the absolute directory for /ABS */
    char *abs = strstr(kc, "/ABS");
    fl_buf_append(&b, kc, (size_t)(abs - kc));
    fl_buf_puts(&b, dir);
    fl_buf_puts(&b, abs + 4);
    put("config", b.data, 0644);
    fl_buf_done(&b);
    free(kc);
    char path[256];
    snprintf(path, sizeof path, "%s/config", dir);
    fl_kubeconfig *k = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_kubeconfig_load(path, &k, &e);
    if (rc)
        fprintf(stderr, "load: %s\n", e.msg);
    return k;
}

static void test_fields(fl_kubeconfig *kc)
{
    fl_kube_conn *c = NULL;
    fl_err e = FL_ERR_INIT;
    T_EQ_STR(fl_kubeconfig_current_context(kc), "east");
    T_EQ_INT(fl_kubeconfig_context_count(kc), 14);
    T_EQ_STR(fl_kubeconfig_context_name(kc, 1), "west");

    T_EQ_INT(fl_kubeconfig_resolve(kc, NULL, &c, &e), 0);
    if (c) {
        const fl_kube_conn_info *in = fl_kube_conn_get_info(c);
        T_EQ_STR(in->context, "east");
        T_EQ_STR(in->cluster, "east");
        T_EQ_STR(in->user, "admin");
        T_EQ_STR(in->ns, "team-a");
        T_EQ_STR(in->server, "https://10.0.0.1:6443/clusters/east");
        T_EQ_STR(in->ca_pem, "CA-PEM\n");
        T_EQ_INT(in->ca_pem_len, 7);
        T_EQ_STR(in->tls_server_name, "api.east");
        T_CHECK(!in->insecure_skip_tls_verify);
        T_EQ_STR(in->client_cert_pem, "CERT-PEM\n");
        T_EQ_STR(in->client_key_pem, "KEY-PEM\n");
        T_CHECK(in->exec == NULL);
        fl_kube_cred cr = FL_KUBE_CRED_INIT;
        T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), 0);
        T_EQ_STR(cr.cert_pem, "CERT-PEM\n");
        T_CHECK(cr.token == NULL);
        fl_kube_cred_done(&cr);
        fl_kube_conn_unref(c);
    }
    c = NULL;
    T_EQ_INT(fl_kubeconfig_resolve(kc, "west", &c, &e), 0);
    if (c) {
        const fl_kube_conn_info *in = fl_kube_conn_get_info(c);
        T_EQ_STR(in->server, "https://west.example.com");
        T_EQ_STR(in->ca_pem, "hello ca");
        T_CHECK(in->insecure_skip_tls_verify);
        T_EQ_STR(in->proxy_url, "http://proxy:3128");
        T_EQ_STR(in->token, "abc123");
        T_CHECK(in->ns == NULL);
        fl_kube_cred cr = FL_KUBE_CRED_INIT;
        T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), 0);
        T_EQ_STR(cr.token, "abc123");
        fl_kube_cred_done(&cr);
        fl_kube_conn_unref(c);
    }
    c = NULL;
    T_EQ_INT(fl_kubeconfig_resolve(kc, "basic", &c, &e), 0);
    if (c) {
        const fl_kube_conn_info *in = fl_kube_conn_get_info(c);
        T_EQ_STR(in->username, "u");
        T_EQ_STR(in->password, "p");
        T_EQ_STR(in->client_cert_pem, "cert");
        T_EQ_STR(in->client_key_pem, "key");
        fl_kube_conn_unref(c);
    }
}

static void test_token_file(fl_kubeconfig *kc)
{
    fl_kube_conn *c = NULL;
    fl_err e = FL_ERR_INIT;
    put("token.txt", "  first-token\n", 0600);
    T_EQ_INT(fl_kubeconfig_resolve(kc, "tf", &c, &e), 0);
    if (!c)
        return;
    fl_kube_cred cr = FL_KUBE_CRED_INIT;
    T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), 0);
    T_EQ_STR(cr.token, "first-token");
    fl_kube_cred_done(&cr);
    put("token.txt", "second-token-longer\n", 0600);
    T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), 0);
    T_EQ_STR(cr.token, "second-token-longer");
    fl_kube_cred_done(&cr);
    fl_kube_conn_unref(c);
}

static void test_errors(fl_kubeconfig *kc)
{
    fl_kube_conn *c = NULL;
    fl_err e = FL_ERR_INIT;
    T_EQ_INT(fl_kubeconfig_resolve(kc, "gcp", &c, &e), FL_EUNSUPPORTED);
    T_CHECK(strstr(e.msg, "user \"gcp\"") != NULL);
    T_CHECK(strstr(e.msg, "auth-provider") != NULL);
    T_CHECK(strstr(e.msg, "config:") != NULL);
    T_EQ_INT(fl_kubeconfig_resolve(kc, "nosuch", &c, &e), FL_ENOTFOUND);
    T_CHECK(strstr(e.msg, "context \"nosuch\" not found") != NULL);
    T_EQ_INT(fl_kubeconfig_resolve(kc, "nouser", &c, &e), FL_ENOTFOUND);
    T_CHECK(strstr(e.msg, "cluster \"nosuch\" not found") != NULL);
    T_EQ_INT(fl_kubeconfig_resolve(kc, "missingfile", &c, &e), -ENOENT);
    T_CHECK(strstr(e.msg, "client-certificate") != NULL);
    T_CHECK(strstr(e.msg, "nope.crt") != NULL);
    T_CHECK(strstr(e.msg, "users[11] (missingfile)") != NULL);
    T_EQ_INT(fl_kubeconfig_resolve(kc, "badb64", &c, &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "client-certificate-data") != NULL);
    T_EQ_INT(fl_kubeconfig_resolve(kc, "nomode", &c, &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "interactiveMode must be specified for nomode") != NULL);
    T_CHECK(c == NULL);

    fl_kubeconfig *k = NULL;
    const char *bad = "clusters: {a: b}\n";
    T_EQ_INT(fl_kubeconfig_parse(bad, strlen(bad), "bad.kubeconfig", NULL, &k, &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "bad.kubeconfig:1: clusters: expected a list") != NULL);
    T_EQ_INT(fl_kubeconfig_load("/nonexistent/kubeconfig", &k, &e), -ENOENT);
    const char *empty = "apiVersion: v1\nkind: Config\n";
    T_EQ_INT(fl_kubeconfig_parse(empty, strlen(empty), NULL, NULL, &k, &e), 0);
    T_EQ_INT(fl_kubeconfig_resolve(k, NULL, &c, &e), FL_ENOTFOUND);
    T_CHECK(strstr(e.msg, "current-context is not set") != NULL);
    fl_kubeconfig_free(k);
    fl_kubeconfig_free(NULL);
    fl_kube_conn_unref(NULL);
}

static void test_exec(fl_kubeconfig *kc)
{
    fl_kube_conn *c = NULL;
    fl_err e = FL_ERR_INIT;
    fl_kube_cred cr = FL_KUBE_CRED_INIT;
    put("plugin.sh", plugin, 0755);
    put("count", "0\n", 0644);
    T_EQ_INT(fl_kubeconfig_resolve(kc, "plugin", &c, &e), 0);
    if (!c)
        return;
    T_CHECK(fl_kube_conn_has_exec(c));
    T_CHECK(!fl_kube_conn_cred_fresh(c));
    const fl_kube_exec *x = fl_kube_conn_get_info(c)->exec;
    T_CHECK(x && fl_str_has_suffix(x->command, "/plugin.sh") && x->command[0] == '/');
    setenv("FOO", "outer", 1); /* the plugin's env wins over ours */
    T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), 0);
    unsetenv("FOO");
    T_EQ_STR(cr.token, "tok-bar-1");
    T_EQ_INT(cr.expires_ms / 1000, 4070908800LL);
    /* the client certificate from the kubeconfig is not used by this user */
    uint64_t gen = cr.generation;
    fl_kube_cred_done(&cr);
    T_CHECK(fl_kube_conn_cred_fresh(c));
    /* cached until expiry */
    T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), 0);
    T_EQ_STR(cr.token, "tok-bar-1");
    T_EQ_INT(cr.generation, gen);
    fl_kube_cred_done(&cr);
    T_EQ_INT(plugin_runs(), 1);
    /* forced refresh (after a 401) runs it again */
    T_EQ_INT(fl_kubeconfig_credential(c, true, &cr, &e), 0);
    T_EQ_STR(cr.token, "tok-bar-2");
    T_CHECK(cr.generation != gen);
    fl_kube_cred_done(&cr);
    T_EQ_INT(plugin_runs(), 2);
    char *info = slurp("info");
    json_t *ji = json_loads(info, 0, NULL);
    T_EQ_STR(fl_obj_str(ji, "kind"), "ExecCredential");
    T_EQ_STR(fl_obj_str(ji, "apiVersion"), "client.authentication.k8s.io/v1");
    T_CHECK(json_is_false(fl_obj_get(ji, "spec.interactive")));
    T_EQ_STR(fl_obj_str(ji, "spec.cluster.server"), "https://10.0.0.1:6443/clusters/east");
    T_EQ_STR(fl_obj_str(ji, "spec.cluster.certificate-authority-data"), "Q0EtUEVNCg==");
    T_EQ_STR(fl_obj_str(ji, "spec.cluster.tls-server-name"), "api.east");
    json_decref(ji);
    free(info);
    fl_kube_conn_unref(c);

    /* an expired credential is fetched again on every use */
    c = NULL;
    T_EQ_INT(fl_kubeconfig_resolve(kc, "expired", &c, &e), 0);
    if (c) {
        T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), 0);
        T_EQ_STR(cr.token, "tok--3");
        fl_kube_cred_done(&cr);
        T_CHECK(!fl_kube_conn_cred_fresh(c));
        T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), 0);
        T_EQ_STR(cr.token, "tok--4");
        fl_kube_cred_done(&cr);
        char *i2 = slurp("info");
        T_CHECK(strstr(i2, "\"cluster\"") == NULL); /* provideClusterInfo is off */
        T_CHECK(strstr(i2, "v1beta1") != NULL);
        free(i2);
        fl_kube_conn_unref(c);
    }

    c = NULL;
    T_EQ_INT(fl_kubeconfig_resolve(kc, "failing", &c, &e), 0);
    if (c) {
        T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), FL_EEXEC);
        T_CHECK(strstr(e.msg, "exit code 3") != NULL);
        T_CHECK(strstr(e.msg, "boom: bad things happened") != NULL);
        T_CHECK(strstr(e.msg, "user \"failing\"") != NULL);
        fl_kube_conn_unref(c);
    }
    c = NULL;
    T_EQ_INT(fl_kubeconfig_resolve(kc, "badver", &c, &e), 0);
    if (c) {
        T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), FL_EEXEC);
        T_CHECK(strstr(e.msg, "plugin returned version client.authentication.k8s.io/v1beta1") !=
                NULL);
        fl_kube_conn_unref(c);
    }
    c = NULL;
    T_EQ_INT(fl_kubeconfig_resolve(kc, "slow", &c, &e), 0);
    if (c) {
        fl_kube_conn_set_exec_timeout(c, 300);
        int64_t t0 = fl_mono_ms();
        T_EQ_INT(fl_kubeconfig_credential(c, false, &cr, &e), FL_EEXEC);
        T_CHECK(strstr(e.msg, "timed out") != NULL);
        T_CHECK(fl_mono_ms() - t0 < 3000);
        fl_kube_conn_unref(c);
    }
}

static void test_conn_new(void)
{
    fl_kube_conn_info in = FL_KUBE_CONN_INFO_INIT;
    fl_kube_conn *c = NULL;
    fl_err e = FL_ERR_INIT;
    in.server = "127.0.0.1:6443/";
    in.token = "t";
    in.ca_pem = "ca";
    in.ca_pem_len = 2;
    T_EQ_INT(fl_kube_conn_new(&in, &c, &e), 0);
    if (c) {
        T_EQ_STR(fl_kube_conn_get_info(c)->server, "https://127.0.0.1:6443");
        T_EQ_STR(fl_kube_conn_get_info(c)->ca_pem, "ca");
        T_CHECK(fl_kube_conn_ref(c) == c);
        fl_kube_conn_unref(c);
        fl_kube_conn_unref(c);
    }
    in.server = "https:///nohost";
    T_EQ_INT(fl_kube_conn_new(&in, &c, &e), FL_EPARSE);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fl-kc-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char pki[128];
    snprintf(pki, sizeof pki, "%s/pki", dir);
    mkdir(pki, 0755);
    put("pki/ca.crt", "CA-PEM\n", 0644);
    put("pki/admin.crt", "CERT-PEM\n", 0644);
    put("pki/admin.key", "KEY-PEM\n", 0600);
    fl_kubeconfig *kc = load();
    T_CHECK(kc != NULL);
    if (kc) {
        test_fields(kc);
        test_token_file(kc);
        test_errors(kc);
        test_exec(kc);
    }
    test_conn_new();
    fl_kubeconfig_free(kc);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ_INT(system(cmd), 0);
    return t_done();
}
