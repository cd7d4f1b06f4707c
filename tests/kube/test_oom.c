/*
 * tests/kube/test_oom.c: every kube/ parser under allocation failure.
 *
 * Each case parses one input and renders what it parsed into a string.
 * It runs once normally (the reference), then again with the 1st, 2nd,
 * 3rd ... allocation failing (fl_alloc_fail_at), until a run finishes
 * without reaching the failing allocation. Every failing run must end in
 * an error code and never in a crash or a wrong answer; under ASan it must
 * also leak nothing.
 *
 * jansson allocates through fl_malloc too, so kube/'s handling of a failed
 * json_object_set or json_string is covered. jansson's own parser is not
 * run under injection (under allocation failure it can drop an object
 * member and still succeed, or assert): a case's JSON input is parsed
 * before the injected runs and handed to the case.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "kube/kube.h"
#include "tests/test.h"

/* Past this many allocations a case is too big for this test. */
#define MAX_ALLOCS 100000

typedef int (*case_fn)(const json_t *in, fl_buf *out);

static int labels_case(const json_t *in, fl_buf *out)
{
    static const char s[] = "env in (prod,staging),!legacy,tier=web,app!=x,rel notin (a,b),k,"
                            "example.com/name==v";
    fl_label_selector *sel = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_label_selector_parse(s, strlen(s), &sel, &e);
    if (rc == 0)
        rc = fl_label_selector_string(sel, out);
    fl_label_selector_free(sel);
    return rc;
}

static const char labels_json[] =
    "{\"matchLabels\":{\"a\":\"b\",\"c\":\"d\"},\"matchExpressions\":["
    "{\"key\":\"k\",\"operator\":\"In\",\"values\":[\"x\",\"y\"]},"
    "{\"key\":\"m\",\"operator\":\"DoesNotExist\"}]}";

static int labels_json_case(const json_t *in, fl_buf *out)
{
    fl_label_selector *sel = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_label_selector_from_json(in, &sel, &e);
    if (rc == 0)
        rc = fl_label_selector_string(sel, out);
    fl_label_selector_free(sel);
    return rc;
}

static int fields_case(const json_t *in, fl_buf *out)
{
    static const char s[] = "metadata.name=x,status.phase!=Running,spec.nodeName==n\\,1";
    fl_field_selector *sel = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_field_selector_parse(s, strlen(s), &sel, &e);
    if (rc == 0)
        rc = fl_field_selector_string(sel, out);
    fl_field_selector_free(sel);
    return rc;
}

static int quantity_case(const json_t *in, fl_buf *out)
{
    static const char *const text[] = {"1.5Gi", "100m", "2e3", "0.0001"};
    char s[64];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < FL_ARRAY_LEN(text); i++) {
        fl_quantity q;
        fl_err e = FL_ERR_INIT;
        rc = fl_quantity_parse(text[i], strlen(text[i]), &q, &e);
        if (rc == 0)
            rc = fl_quantity_format(&q, s, sizeof s) < 0 ? FL_EPARSE : 0;
        if (rc == 0)
            rc = fl_buf_printf(out, "%s ", s);
    }
    return rc;
}

static const char json_doc[] =
    "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":{\"a\":\"b\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]},"
    "\"n\":[1,2.5,true,null,\"\\u00e9\"]}";

/* Go's encoding of a parsed object (fl_json_encode). */
static int json_case(const json_t *in, fl_buf *out)
{
    return fl_json_encode(in, false, out);
}

static int jscan_case(const json_t *in, fl_buf *out)
{
    static const char s[] = "{\"a\":{\"b\":[1,{\"c\":2},[3,[4]]]},\"d\":{\"e\":{}}}";
    fl_jdoc doc = {0};
    int rc = fl_jscan_doc(&doc, s, strlen(s)) ? 0 : -ENOMEM;
    if (rc == 0)
        rc = fl_buf_printf(out, "%zu containers", doc.n);
    fl_jscan_doc_done(&doc);
    return rc;
}

static int yaml_case(const json_t *in, fl_buf *out)
{
    static const char s[] = "a: &x {b: 1, c: [x, y]}\n"
                            "d: *x\n"
                            "e: |\n  text\n"
                            "f: !!binary aGVsbG8=\n"
                            "g: [1, 2.5, true, null, 0x10]\n";
    fl_yaml_doc *doc = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_yaml_doc_parse(s, strlen(s), "t.yaml", &doc, &e);
    if (rc == 0)
        rc = fl_json_encode(fl_yaml_doc_root(doc), false, out);
    if (rc == 0)
        rc = fl_buf_printf(out, " line %d", fl_yaml_key_line(doc, fl_yaml_doc_root(doc), "e"));
    fl_yaml_doc_free(doc);
    return rc;
}

static int yaml_all_case(const json_t *in, fl_buf *out)
{
    static const char s[] = "a: 1\n---\nb: [x]\n---\n- c\n";
    json_t *j = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_yaml_parse_all(s, strlen(s), &j, &e);
    if (rc == 0)
        rc = fl_json_encode(j, false, out);
    json_decref(j);
    return rc;
}

static const char kubeconfig[] = "apiVersion: v1\n"
                                 "kind: Config\n"
                                 "current-context: east\n"
                                 "clusters:\n"
                                 "- name: east\n"
                                 "  cluster:\n"
                                 "    server: https://10.0.0.1:6443/clusters/east/\n"
                                 "    certificate-authority-data: aGVsbG8gY2E=\n"
                                 "    tls-server-name: api.east\n"
                                 "users:\n"
                                 "- name: tok\n"
                                 "  user:\n"
                                 "    token: abc123\n"
                                 "    client-certificate-data: Y2VydA==\n"
                                 "    client-key-data: a2V5\n"
                                 "- name: plugin\n"
                                 "  user:\n"
                                 "    exec:\n"
                                 "      apiVersion: client.authentication.k8s.io/v1\n"
                                 "      command: ./plugin.sh\n"
                                 "      args: [ok]\n"
                                 "      env: [{name: FOO, value: bar}]\n"
                                 "      interactiveMode: Never\n"
                                 "contexts:\n"
                                 "- name: east\n"
                                 "  context: {cluster: east, user: tok, namespace: team-a}\n"
                                 "- name: exec\n"
                                 "  context: {cluster: east, user: plugin}\n";

static int kubeconfig_case(const json_t *in, fl_buf *out)
{
    fl_kubeconfig *kc = NULL;
    fl_kube_conn *c = NULL, *x = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_kubeconfig_parse(kubeconfig, strlen(kubeconfig), "oom.kubeconfig", "/tmp", &kc, &e);
    if (rc == 0)
        rc = fl_kubeconfig_resolve(kc, NULL, &c, &e);
    if (rc == 0)
        rc = fl_kubeconfig_resolve(kc, "exec", &x, &e);
    if (rc == 0) {
        const fl_kube_conn_info *ci = fl_kube_conn_get_info(c);
        rc = fl_buf_printf(out, "%s %s %s %.*s %s %s exec=%d", ci->context, ci->server, ci->ns,
                           (int)ci->ca_pem_len, ci->ca_pem, ci->token, ci->tls_server_name,
                           fl_kube_conn_has_exec(x));
    }
    fl_kube_conn_unref(c);
    fl_kube_conn_unref(x);
    fl_kubeconfig_free(kc);
    return rc;
}

/* [original, merge patch, JSON patch, strategic merge patch] */
static const char patch_doc[] =
    "[{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"1\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}},"
    "{\"metadata\":{\"labels\":{\"x\":null,\"y\":\"2\"}}},"
    "[{\"op\":\"add\",\"path\":\"/spec/replicas\",\"value\":3},"
    " {\"op\":\"replace\",\"path\":\"/metadata/name\",\"value\":\"b\"},"
    " {\"op\":\"copy\",\"from\":\"/metadata/labels\",\"path\":\"/metadata/annotations\"}]]";

static int patch_case(const json_t *in, fl_buf *out)
{
    json_t *m = NULL, *j = NULL, *d = NULL;
    fl_err e = FL_ERR_INIT;
    int rc = fl_patch_merge_apply(json_array_get(in, 0), json_array_get(in, 1), &m, &e);
    if (rc == 0)
        rc = fl_patch_json_apply(m, json_array_get(in, 2), &j, &e);
    if (rc == 0)
        rc = fl_patch_merge_diff(json_array_get(in, 0), j, &d, &e);
    if (rc == 0)
        rc = fl_json_encode(j, false, out);
    if (rc == 0)
        rc = fl_json_encode(d, false, out);
    json_decref(m);
    json_decref(j);
    json_decref(d);
    return rc;
}

/* Run c (on input, parsed first, when not NULL) with each allocation
 * failing in turn; see the file comment. */
static void run(const char *name, case_fn c, const char *input)
{
    fl_buf ref = FL_BUF_INIT(1u << 20);
    json_t *in = NULL;
    fl_err e = FL_ERR_INIT;
    if (input && fl_json_parse(input, strlen(input), &in, &e) != 0) {
        fprintf(stderr, "%s: the input does not parse: %s\n", name, e.msg);
        T_CHECK(0);
        return;
    }
    int rc = c(in, &ref);
    T_EQ_INT(rc, 0);
    unsigned long n = 1, errors = 0;
    for (; n <= MAX_ALLOCS; n++) {
        fl_buf got = FL_BUF_INIT(1u << 20);
        fl_alloc_fail_at(n);
        rc = c(in, &got);
        bool fired = fl_alloc_failed();
        fl_alloc_fail_at(0);
        if (!fired) {
            /* the run had fewer than n allocations: it must have succeeded */
            T_EQ_INT(rc, 0);
            T_EQ_STR(got.data, ref.data);
            fl_buf_done(&got);
            break;
        }
        if (rc == 0) {
            /* an allocation that may fail (a cache, a hint) left the answer intact */
            if (!got.data || strcmp(got.data, ref.data) != 0)
                fprintf(stderr, "%s: allocation %lu failed, yet it answered \"%s\"\n", name, n,
                        got.data ? got.data : "");
            T_EQ_STR(got.data, ref.data);
        } else {
            errors++;
            T_CHECK(rc < 0);
        }
        fl_buf_done(&got);
    }
    T_CHECK(n > 1 && n <= MAX_ALLOCS);
    fprintf(stderr, "%-12s %4lu allocations, %4lu failed cleanly: %s\n", name, n - 1, errors,
            ref.data ? ref.data : "");
    fl_buf_done(&ref);
    json_decref(in);
}

int main(void)
{
    json_set_alloc_funcs(fl_malloc, free);
    run("labels", labels_case, NULL);
    run("labels-json", labels_json_case, labels_json);
    run("fields", fields_case, NULL);
    run("quantity", quantity_case, NULL);
    run("json", json_case, json_doc);
    run("jscan", jscan_case, NULL);
    run("yaml", yaml_case, NULL);
    run("yaml-all", yaml_all_case, NULL);
    run("kubeconfig", kubeconfig_case, NULL);
    run("patch", patch_case, patch_doc);
    return t_done();
}
