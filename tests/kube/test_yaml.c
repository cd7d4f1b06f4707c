/* tests/kube/test_yaml.c: kube/yaml.h — scalar resolution as
 * sigs.k8s.io/yaml (go-yaml v2) does it, nesting, multi-document streams,
 * errors with line numbers, alias bombs, caps, and the line map. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "tests/test.h"

static json_t *parse(const char *s)
{
    json_t *v = NULL;
    fl_err e = FL_ERR_INIT;
    if (fl_yaml_parse(s, strlen(s), &v, &e) != 0) {
        fprintf(stderr, "parse failed: %s\n", e.msg);
        return NULL;
    }
    return v;
}

static int parse_err(const char *s, fl_err *e)
{
    json_t *v = NULL;
    int rc = fl_yaml_parse(s, strlen(s), &v, e);
    json_decref(v);
    return rc;
}

static void test_scalars(void)
{
    json_t *v = parse("a: 1\n"
                      "b: \"1\"\n"
                      "c: true\n"
                      "d: yes\n"
                      "e: ~\n"
                      "f: 1.5\n"
                      "g: 0x1F\n"
                      "h: 017\n"
                      "i: 1_000\n"
                      "j: 2026-01-01\n"
                      "k: 'true'\n"
                      "l: 9223372036854775808\n"
                      "m: 08\n"
                      "nn: -0b101\n"
                      "o: .5\n"
                      "p: !!str 12\n"
                      "q: null\n"
                      "r: \"\"\n"
                      "s:\n"
                      "t: +12\n"
                      "u: 1e3\n"
                      "v: Off\n"
                      "w: hello world\n"
                      "x: 0o17\n"
                      "yy: -9223372036854775808\n"
                      "z: |\n  line1\n  line2\n"
                      "aa: !!float 3\n"
                      "ab: 1.2.3\n"
                      "ac: 12:30\n");
    T_CHECK(v != NULL);
    if (!v)
        return;
    T_EQ_INT(json_integer_value(json_object_get(v, "a")), 1);
    T_CHECK(json_is_integer(json_object_get(v, "a")));
    T_EQ_STR(json_string_value(json_object_get(v, "b")), "1");
    T_CHECK(json_is_true(json_object_get(v, "c")));
    T_CHECK(json_is_true(json_object_get(v, "d")));
    T_CHECK(json_is_null(json_object_get(v, "e")));
    T_CHECK(json_is_real(json_object_get(v, "f")) &&
            json_real_value(json_object_get(v, "f")) == 1.5);
    T_EQ_INT(json_integer_value(json_object_get(v, "g")), 31);
    T_EQ_INT(json_integer_value(json_object_get(v, "h")), 15);
    T_EQ_INT(json_integer_value(json_object_get(v, "i")), 1000);
    T_EQ_STR(json_string_value(json_object_get(v, "j")), "2026-01-01");
    T_EQ_STR(json_string_value(json_object_get(v, "k")), "true");
    T_CHECK(json_is_real(json_object_get(v, "l")));
    T_CHECK(json_is_real(json_object_get(v, "m")) &&
            json_real_value(json_object_get(v, "m")) == 8.0);
    T_EQ_INT(json_integer_value(json_object_get(v, "nn")), -5);
    T_CHECK(json_is_real(json_object_get(v, "o")) &&
            json_real_value(json_object_get(v, "o")) == 0.5);
    T_EQ_STR(json_string_value(json_object_get(v, "p")), "12");
    T_CHECK(json_is_null(json_object_get(v, "q")));
    T_EQ_STR(json_string_value(json_object_get(v, "r")), "");
    T_CHECK(json_is_null(json_object_get(v, "s")));
    T_EQ_INT(json_integer_value(json_object_get(v, "t")), 12);
    T_CHECK(json_is_real(json_object_get(v, "u")) &&
            json_real_value(json_object_get(v, "u")) == 1000.0);
    T_CHECK(json_is_false(json_object_get(v, "v")));
    T_EQ_STR(json_string_value(json_object_get(v, "w")), "hello world");
    T_EQ_INT(json_integer_value(json_object_get(v, "x")), 15);
    T_CHECK(json_integer_value(json_object_get(v, "yy")) == INT64_MIN);
    T_EQ_STR(json_string_value(json_object_get(v, "z")), "line1\nline2\n");
    T_CHECK(json_is_real(json_object_get(v, "aa")));
    T_EQ_STR(json_string_value(json_object_get(v, "ab")), "1.2.3");
    T_EQ_STR(json_string_value(json_object_get(v, "ac")), "12:30");
    json_decref(v);

    /* non-string keys become strings, as sigs.k8s.io/yaml writes them
     * (YAML 1.1: the key "n" is false) */
    v = parse("true: a\n1: b\n0x10: c\n1.5: d\nn: e\n");
    T_EQ_STR(json_string_value(json_object_get(v, "false")), "e");
    T_CHECK(v != NULL);
    T_EQ_STR(json_string_value(json_object_get(v, "true")), "a");
    T_EQ_STR(json_string_value(json_object_get(v, "1")), "b");
    T_EQ_STR(json_string_value(json_object_get(v, "16")), "c");
    T_EQ_STR(json_string_value(json_object_get(v, "1.5")), "d");
    json_decref(v);

    /* an empty stream is null; a bare scalar document is that scalar */
    v = parse("");
    T_CHECK(json_is_null(v));
    json_decref(v);
    v = parse("42\n");
    T_EQ_INT(json_integer_value(v), 42);
    json_decref(v);

    fl_err e = FL_ERR_INIT;
    T_EQ_INT(parse_err("a: .inf\n", &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "line 1 column 4") != NULL);
    T_EQ_INT(parse_err("a: !!int abc\n", &e), FL_EPARSE);
    T_EQ_INT(parse_err("~: x\n", &e), FL_EPARSE);
}

static void test_nesting(void)
{
    json_t *v = parse("apiVersion: v1\n"
                      "kind: Pod\n"
                      "metadata:\n"
                      "  name: p\n"
                      "  labels: {app: web, tier: \"1\"}\n"
                      "spec:\n"
                      "  containers:\n"
                      "  - name: c\n"
                      "    image: nginx\n"
                      "    ports: [80, 443]\n"
                      "  - name: d\n");
    T_CHECK(v != NULL);
    T_EQ_STR(fl_obj_str(v, "metadata.labels.app"), "web");
    T_EQ_STR(fl_obj_str(v, "metadata.labels.tier"), "1");
    json_t *cs = fl_obj_get(v, "spec.containers");
    T_EQ_INT(json_array_size(cs), 2);
    T_EQ_INT(json_integer_value(json_array_get(json_object_get(json_array_get(cs, 0), "ports"), 1)),
             443);
    /* key order is kept */
    const char *first = json_object_iter_key(json_object_iter(v));
    T_EQ_STR(first, "apiVersion");
    json_decref(v);

    /* anchors, aliases and merge keys */
    v = parse("base: &b {x: 1, z: 2}\n"
              "copy: *b\n"
              "merged:\n"
              "  <<: *b\n"
              "  z: 3\n"
              "list: &l [a, b]\n"
              "again: *l\n");
    T_CHECK(v != NULL);
    T_EQ_INT(json_integer_value(fl_obj_get(v, "copy.x")), 1);
    T_EQ_INT(json_integer_value(fl_obj_get(v, "merged.x")), 1);
    T_EQ_INT(json_integer_value(fl_obj_get(v, "merged.z")), 3);
    T_EQ_INT(json_array_size(json_object_get(v, "again")), 2);
    json_decref(v);
}

static void test_multi(void)
{
    const char *s = "a: 1\n---\nb: 2\n---\n---\n# only a comment\n---\nc: [3]\n";
    json_t *v = NULL;
    fl_err e = FL_ERR_INIT;
    T_EQ_INT(fl_yaml_parse_all(s, strlen(s), &v, &e), 0);
    T_EQ_INT(json_array_size(v), 3);
    T_EQ_INT(json_integer_value(json_object_get(json_array_get(v, 1), "b")), 2);
    json_decref(v);
    v = NULL;
    T_EQ_INT(fl_yaml_parse(s, strlen(s), &v, &e), FL_EPARSE);
    T_CHECK(v == NULL);
    T_CHECK(strstr(e.msg, "expected one document") != NULL);
    /* an error in a later document names its line */
    s = "a: 1\n---\nb: 2\n---\nc: [\n";
    T_EQ_INT(fl_yaml_parse_all(s, strlen(s), &v, &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "line 6") != NULL);
    v = NULL;
    T_EQ_INT(fl_yaml_parse_all("", 0, &v, &e), 0);
    T_EQ_INT(json_array_size(v), 0);
    json_decref(v);
}

static void test_errors(void)
{
    fl_err e = FL_ERR_INIT;
    T_EQ_INT(parse_err("a: 1\n\tb: 2\n", &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "line 2 column 1") != NULL);
    T_EQ_INT(parse_err("a: 1\na: 2\n", &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "line 2 column 1") != NULL);
    T_CHECK(strstr(e.msg, "already defined") != NULL);
    T_EQ_INT(parse_err("a: *nope\n", &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "unknown anchor") != NULL);
    T_EQ_INT(parse_err("a: {b: [1, 2}\n", &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "line 1") != NULL);
    T_EQ_INT(parse_err("? [a, b]\n: c\n", &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "mapping keys must be scalars") != NULL);

    /* depth cap */
    char deep[512];
    size_t n = 0;
    for (int i = 0; i < 150; i++)
        deep[n++] = '[';
    for (int i = 0; i < 150; i++)
        deep[n++] = ']';
    deep[n] = 0;
    T_EQ_INT(parse_err(deep, &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "nesting deeper") != NULL);

    /* size cap */
    size_t big = FL_YAML_MAX_INPUT + 1;
    char *b = malloc(big);
    if (b) {
        memset(b, ' ', big);
        json_t *v = NULL;
        T_EQ_INT(fl_yaml_parse(b, big, &v, &e), -E2BIG);
        free(b);
    }
}

static void test_alias_bomb(void)
{
    const char *bomb =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    fl_err e = FL_ERR_INIT;
    int64_t t0 = fl_mono_ms();
    T_EQ_INT(parse_err(bomb, &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "excessive aliasing") != NULL);
    T_CHECK(fl_mono_ms() - t0 < 2000);
    /* and the same in a multi-document stream */
    json_t *v = NULL;
    T_EQ_INT(fl_yaml_parse_all(bomb, strlen(bomb), &v, &e), FL_EPARSE);
    /* depth through nested aliases is bounded too */
    fl_buf chain = FL_BUF_INIT(1u << 20);
    fl_buf_puts(&chain, "a0: &a0 [x]\n");
    for (int i = 1; i < 120; i++)
        fl_buf_printf(&chain, "a%d: &a%d [*a%d]\n", i, i, i - 1);
    T_EQ_INT(parse_err(chain.data, &e), FL_EPARSE);
    T_CHECK(strstr(e.msg, "nesting deeper") != NULL);
    fl_buf_done(&chain);
}

static void test_doc_lines(void)
{
    const char *s = "a: 1\n"
                    "b:\n"
                    "  c: hello\n"
                    "  d: [1, 2]\n"
                    "  e: true\n"
                    "list:\n"
                    "- name: x\n"
                    "- name: y\n";
    fl_yaml_doc *doc = NULL;
    fl_err e = FL_ERR_INIT;
    T_EQ_INT(fl_yaml_doc_parse(s, strlen(s), "flotilla.yaml", &doc, &e), 0);
    if (!doc)
        return;
    json_t *root = fl_yaml_doc_root(doc);
    json_t *b = json_object_get(root, "b");
    T_EQ_INT(fl_yaml_key_line(doc, root, "b"), 2);
    T_EQ_INT(fl_yaml_key_line(doc, b, "c"), 3);
    T_EQ_INT(fl_yaml_line(doc, json_object_get(b, "c")), 3);
    T_EQ_INT(fl_yaml_line(doc, json_object_get(b, "d")), 4);
    T_EQ_INT(fl_yaml_key_line(doc, b, "e"), 5);
    T_EQ_INT(fl_yaml_line(doc, json_array_get(json_object_get(root, "list"), 1)), 8);
    T_EQ_INT(fl_yaml_key_line(doc, b, "zzz"), 0);
    T_EQ_STR(fl_yaml_doc_name(doc), "flotilla.yaml");
    int rc =
        fl_yaml_errf(doc, fl_yaml_key_line(doc, b, "c"), &e, FL_EPARSE, "field b.c: %s", "bad");
    T_EQ_INT(rc, FL_EPARSE);
    T_EQ_STR(e.msg, "flotilla.yaml:3: field b.c: bad");
    fl_yaml_doc_free(doc);
    fl_yaml_doc_free(NULL);

    doc = NULL;
    T_EQ_INT(fl_yaml_doc_parse("a: [\n", 5, "x.yaml", &doc, &e), FL_EPARSE);
    T_CHECK(fl_str_has_prefix(e.msg, "x.yaml:2:"));
    T_CHECK(doc == NULL);
    T_EQ_INT(fl_yaml_doc_load("/nonexistent/file.yaml", &doc, &e), -ENOENT);
    T_CHECK(strstr(e.msg, "/nonexistent/file.yaml") != NULL);
}

int main(void)
{
    test_scalars();
    test_nesting();
    test_multi();
    test_errors();
    test_alias_bomb();
    test_doc_lines();
    return t_done();
}
