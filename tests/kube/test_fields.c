/*
 * tests/kube/test_fields.c: kube/fields against the tables of
 * k8s.io/apimachinery/pkg/fields/selector_test.go (TestSplitTerms and
 * TestSplitTerm through whole selectors, TestEscapeValue,
 * TestUnescapeValue, TestSelectorParse, TestDeterministicParse,
 * TestSelectorMatches), plus error messages, enumeration and caps.
 */
#include <errno.h>
#include <stdlib.h>

#include "kube/kube.h"
#include "tests/test.h"

static char *restring(const char *s, fl_err *err)
{
    fl_field_selector *sel = NULL;
    if (fl_field_selector_parse(s, strlen(s), &sel, err) != 0)
        return NULL;
    fl_buf b = FL_BUF_INIT(1 << 16);
    T_EQ_INT(fl_field_selector_string(sel, &b), 0);
    fl_field_selector_free(sel);
    char *r = fl_buf_steal(&b);
    return r ? r : strdup("");
}

static const char *get_json(const char *field, void *ud)
{
    const json_t *v = json_object_get(ud, field);
    return json_string_value(v);
}

static bool matches(const char *s, const char *fields_json)
{
    fl_field_selector *sel = NULL;
    json_t *f = json_loads(fields_json, 0, NULL);
    T_CHECK(f != NULL);
    T_EQ_INT(fl_field_selector_parse(s, strlen(s), &sel, NULL), 0);
    bool m = sel && fl_field_selector_matches(sel, get_json, f);
    fl_field_selector_free(sel);
    json_decref(f);
    return m;
}

static void test_parse(void)
{
    static const char *good[] = {"x=a,y=b,z=c",
                                 "",
                                 "x!=a,y=b",
                                 "x=a||y\\=b",
                                 "x=a\\=\\=b",
                                 "a=b\\,c",
                                 "k=\\\\",
                                 "k=\\\\\\,",
                                 "=a",
                                 "a=",
                                 "\xed\x95\xa8=\xec\x88\x98"};
    for (size_t i = 0; i < FL_ARRAY_LEN(good); i++) {
        fl_err err = FL_ERR_INIT;
        char *s = restring(good[i], &err);
        T_EQ_STR(s, good[i]);
        free(s);
    }
    static const char *bad[] = {"x=a||y=b",     "x==a==b", "x=a,b",    "x in (a)",
                                "x in (a,b,c)", "x",       "k=\\a",    "k=\\",
                                "k=a\\",        "a=,b",    "k=\\b\\c", "k=a=b"};
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        fl_err err = FL_ERR_INIT;
        char *s = restring(bad[i], &err);
        if (s)
            fprintf(stderr, "bad field selector %s parsed as %s\n", bad[i], s);
        T_CHECK(s == NULL);
        T_EQ_INT(err.code, FL_EPARSE);
        free(s);
    }
    static const char *canon[][2] = {
        {"x=a,a=x", "a=x,x=a"},
        {"a=x,x=a", "a=x,x=a"},
        {"x==a", "x=a"},
        {"a=a,", "a=a"},
        {",a=a", "a=a"},
        {"b==1,b!=1,b=0", "b!=1,b=0,b=1"},
        {"k=\\,,k2=v2", "k2=v2,k=\\,"},
        {"metadata.name=foo,status.phase!=Running", "metadata.name=foo,status.phase!=Running"},
        /* a bare operator is Everything() after Transform, and drops out of an AND */
        {"=", ""},
        {"!=", ""},
        {"==", ""},
        {"a=b,=", "a=b"},
        {"=,!=", ""},
        {"a!==b", "a!=\\=b"}, /* no: '=' in value must be escaped -> error below */
    };
    for (size_t i = 0; i + 1 < FL_ARRAY_LEN(canon); i++) {
        fl_err err = FL_ERR_INIT;
        char *s = restring(canon[i][0], &err);
        T_EQ_STR(s, canon[i][1]);
        free(s);
    }
    fl_err err = FL_ERR_INIT;
    T_CHECK(restring("a!==b", &err) == NULL);
}

static void test_messages(void)
{
    static const char *cases[][2] = {
        {"x", "invalid selector: 'x'; can't understand 'x'"},
        {"a=b,x", "invalid selector: 'a=b,x'; can't understand 'x'"},
        {"k=\\a", "invalid field selector: invalid escape sequence: \\a"},
        {"k=\\", "invalid field selector: invalid escape sequence: \\"},
        {"k=a,b=,c", "invalid selector: 'k=a,b=,c'; can't understand 'c'"},
        {"x=a=b", "invalid field selector: unescaped character in value: 61"},
        {"x=a||y=b", "invalid field selector: unescaped character in value: 61"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_err err = FL_ERR_INIT;
        char *s = restring(cases[i][0], &err);
        T_CHECK(s == NULL);
        T_EQ_STR(err.msg, cases[i][1]);
        free(s);
    }
}

static void test_escape(void)
{
    static const char *esc[][2] = {{"", ""},       {"a", "a"},
                                   {"=", "\\="},   {",", "\\,"},
                                   {"\\", "\\\\"}, {"\\=\\,\\", "\\\\\\=\\\\\\,\\\\"}};
    for (size_t i = 0; i < FL_ARRAY_LEN(esc); i++) {
        fl_buf b = FL_BUF_INIT(256);
        T_EQ_INT(fl_field_escape_value(esc[i][0], &b), 0);
        T_EQ_STR(b.data ? b.data : "", esc[i][1]);
        fl_buf_done(&b);
        /* UnescapeValue(EscapeValue(x)) == x, seen through a term */
        char sel_s[64];
        snprintf(sel_s, sizeof sel_s, "k=%s", esc[i][1]);
        fl_field_selector *sel = NULL;
        T_EQ_INT(fl_field_selector_parse(sel_s, strlen(sel_s), &sel, NULL), 0);
        if (sel && fl_field_selector_count(sel) == 1) {
            fl_field_term t;
            fl_field_selector_term(sel, 0, &t);
            T_EQ_STR(t.field, "k");
            T_EQ_STR(t.value, esc[i][0]);
            T_EQ_INT(t.op, FL_FIELD_EQUALS);
        }
        fl_field_selector_free(sel);
    }
    /* invalid UTF-8 in a value that needed unescaping reads as U+FFFD, as Go does */
    fl_field_selector *sel = NULL;
    T_EQ_INT(fl_field_selector_parse("k=\xff\\,", 5, &sel, NULL), 0);
    fl_field_term t;
    fl_field_selector_term(sel, 0, &t);
    T_EQ_STR(t.value, "\xef\xbf\xbd,");
    fl_field_selector_free(sel);
    T_EQ_INT(fl_field_selector_parse("k=\xff", 3, &sel, NULL), 0);
    fl_field_selector_term(sel, 0, &t);
    T_EQ_STR(t.value, "\xff");
    fl_field_selector_free(sel);
}

static void test_matches(void)
{
    T_CHECK(matches("", "{\"x\":\"y\"}"));
    T_CHECK(matches("x=y", "{\"x\":\"y\"}"));
    T_CHECK(matches("x=y,z=w", "{\"x\":\"y\",\"z\":\"w\"}"));
    T_CHECK(matches("x!=y,z!=w", "{\"x\":\"z\",\"z\":\"a\"}"));
    T_CHECK(matches("notin=in", "{\"notin\":\"in\"}"));
    T_CHECK(!matches("x=y", "{\"x\":\"z\"}"));
    T_CHECK(!matches("x=y,z=w", "{\"x\":\"w\",\"z\":\"w\"}"));
    T_CHECK(!matches("x!=y,z!=w", "{\"x\":\"z\",\"z\":\"w\"}"));
    const char *fs = "{\"foo\":\"bar\",\"baz\":\"blah\",\"complex\":\"=value\\\\,\\\\\"}";
    T_CHECK(matches("foo=bar", fs));
    T_CHECK(matches("baz=blah", fs));
    T_CHECK(matches("foo=bar,baz=blah", fs));
    T_CHECK(matches("foo=bar,baz=blah,complex=\\=value\\\\\\,\\\\", fs));
    T_CHECK(!matches("foo=blah", fs));
    T_CHECK(!matches("baz=bar", fs));
    T_CHECK(!matches("foo=bar,foobar=bar,baz=blah", fs));
    /* a missing field reads as "" */
    T_CHECK(matches("a=", "{}"));
    T_CHECK(!matches("a!=", "{}"));
    T_CHECK(matches("a!=x", "{}"));
    fl_field_selector *sel = NULL;
    T_EQ_INT(fl_field_selector_parse("a=", 2, &sel, NULL), 0);
    T_CHECK(fl_field_selector_matches(sel, NULL, NULL));
    T_CHECK(!fl_field_selector_is_empty(sel));
    fl_field_selector_free(sel);
    T_EQ_INT(fl_field_selector_parse("", 0, &sel, NULL), 0);
    T_CHECK(fl_field_selector_is_empty(sel));
    fl_field_selector_free(sel);
    fl_field_selector_free(NULL);
}

static void test_caps(void)
{
    size_t n = FL_FIELDS_MAX_INPUT + 1;
    char *big = malloc(n);
    memset(big, ',', n);
    fl_field_selector *sel = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_field_selector_parse(big, n, &sel, &err), -E2BIG);
    T_EQ_INT(fl_field_selector_parse(big, FL_FIELDS_MAX_TERMS + 10, &sel, &err), -E2BIG);
    free(big);
}

int main(void)
{
    test_parse();
    test_messages();
    test_escape();
    test_matches();
    test_caps();
    return t_done();
}
