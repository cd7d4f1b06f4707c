/*
 * tests/kube/test_jscan.c: the strict in-place scanner — which documents
 * are plain (and that jansson accepts every one of them), the cases that
 * must go the jansson way (whitespace, duplicates, long numbers, bad
 * UTF-8, lone surrogates, characters Go escapes), and navigation: members,
 * elements, escaped keys, raw strings.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "tests/test.h"

static bool plain(const char *s)
{
    return fl_jscan_plain(s, strlen(s));
}

static void test_plain(void)
{
    static const char *const yes[] = {
        "{}",
        "[]",
        "0",
        "-0",
        "\"\"",
        "null",
        "true",
        "false",
        " {\"a\":1}\n",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\\\"y\\\\z\\/\\b\\f\\n\\r\\t\"}",
        "[1.5,-2.25e10,1E+2,0.0,123456789012345678]",
        "\"\\u0000 in a value\"",
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
        "\"\\ud83d\\ude00\"",
        "{\"k:{\\\"name\\\":\\\"a\\\"}\":{}}",
        "\"\\u003c\\u003e\\u0026\"",
    };
    static const char *const no[] = {
        "",
        " ",
        "{",
        "}",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" :1}",
        "{\"a\": 1}",
        "[1, 2]",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"\\u0061\":2}",
        "01",
        "1.",
        ".5",
        "-",
        "+1",
        "1e",
        "1234567890123456789",
        "1.5e100",
        "nul",
        "truex",
        "\"abc",
        "\"a\nb\"",
        "\"\\x\"",
        "\"\\ud83d\"",
        "\"\\ude00\"",
        "\"\\ud83d\\u0041\"",
        "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xc3\"",
        "\"a<b\"",
        "\"a&b\"",
        "\"\xe2\x80\xa8\"",
        "{\"\\u0000\":1}",
        "[1]x",
        "{}{}",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(yes); i++) {
        bool ok = plain(yes[i]);
        if (!ok)
            fprintf(stderr, "not plain: %s\n", yes[i]);
        T_CHECK(ok);
        json_t *j = NULL;
        T_EQ_INT(fl_json_parse(yes[i], strlen(yes[i]), &j, NULL), 0);
        json_decref(j);
    }
    for (size_t i = 0; i < FL_ARRAY_LEN(no); i++) {
        bool ok = plain(no[i]);
        if (ok)
            fprintf(stderr, "plain: %s\n", no[i]);
        T_CHECK(!ok);
    }
    /* depth cap */
    char deep[2 * FL_JSCAN_DEPTH_MAX + 8];
    size_t d = FL_JSCAN_DEPTH_MAX;
    memset(deep, '[', d);
    memset(deep + d, ']', d);
    deep[2 * d] = 0;
    T_CHECK(plain(deep));
    memset(deep, '[', d + 1);
    memset(deep + d + 1, ']', d + 1);
    deep[2 * d + 2] = 0;
    T_CHECK(!plain(deep));
    /* a raw NUL byte is never plain */
    T_CHECK(!fl_jscan_plain("\"a\0b\"", 5));
}

static void test_navigation(void)
{
    const char *doc =
        " {\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"na\\u006de2\":\"q\","
        "\"labels\":{\"a\":\"b\"}},\"items\":[1,\"two\",{\"x\":[]},null],\"e\":\"a\\nb\"} ";
    T_CHECK(plain(doc));
    fl_jval v = fl_jscan_trim(doc, strlen(doc)), md, x, m, s;
    T_EQ_INT(fl_jscan_kind(v), '{');
    T_CHECK(fl_jscan_get(v, "metadata", &md, &m));
    T_EQ_INT(fl_jscan_kind(md), '{');
    T_CHECK(m.n == md.n + strlen("\"metadata\":") && m.p[0] == '"');
    T_CHECK(fl_jscan_get(md, "name", &x, NULL) && fl_jscan_str_raw(x, &s) && s.n == 1 &&
            s.p[0] == 'p');
    T_CHECK(fl_jscan_get(md, "name2", &x, NULL) && fl_jscan_str_raw(x, &s) && s.p[0] == 'q');
    T_CHECK(!fl_jscan_get(md, "nam", NULL, NULL));
    T_CHECK(!fl_jscan_get(md, "name22", NULL, NULL));
    T_CHECK(fl_jscan_get(v, "e", &x, NULL) && !fl_jscan_str_raw(x, &s));
    T_CHECK(fl_jscan_get(v, "items", &x, NULL));
    fl_jiter it = fl_jscan_iter(x);
    fl_jval el;
    char kinds[8] = {0};
    size_t n = 0;
    while (fl_jscan_next(&it, NULL, &el, NULL) && n < 7)
        kinds[n++] = fl_jscan_kind(el);
    T_EQ_STR(kinds, "0\"{n");
    T_CHECK(!fl_jscan_get(x, "a", NULL, NULL)); /* not an object */
    it = fl_jscan_iter(md);
    fl_jval k;
    n = 0;
    while (fl_jscan_next(&it, &k, NULL, NULL))
        n++;
    T_EQ_INT(n, 3);
    it = fl_jscan_iter((fl_jval){"{}", 2, NULL});
    T_CHECK(!fl_jscan_next(&it, &k, NULL, NULL));
}

int main(void)
{
    test_plain();
    test_navigation();
    return t_done();
}
