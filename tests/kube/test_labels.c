/*
 * tests/kube/test_labels.c: kube/labels against the tables of
 * k8s.io/apimachinery/pkg/labels/selector_test.go (TestSelectorParse,
 * TestSelectorMatches, TestSetSelectorParser, TestRequirementConstructor,
 * TestToString, TestRequirementSelectorMatching, TestLexer via whole
 * selectors) and metav1.LabelSelectorAsSelector, plus error messages,
 * enumeration and caps.
 */
#include <errno.h>
#include <stdlib.h>

#include "kube/kube.h"
#include "tests/test.h"

/* Parse s; return its String() (caller frees) or NULL on error. */
static char *restring(const char *s, fl_err *err)
{
    fl_label_selector *sel = NULL;
    if (fl_label_selector_parse(s, strlen(s), &sel, err) != 0)
        return NULL;
    fl_buf b = FL_BUF_INIT(1 << 16);
    T_EQ_INT(fl_label_selector_string(sel, &b), 0);
    fl_label_selector_free(sel);
    return fl_buf_steal(&b);
}

static bool matches(const char *sel_s, const char *labels_json)
{
    fl_label_selector *sel = NULL;
    fl_err err = FL_ERR_INIT;
    json_t *labels = json_loads(labels_json, 0, NULL);
    T_CHECK(labels != NULL);
    int rc = fl_label_selector_parse(sel_s, strlen(sel_s), &sel, &err);
    if (rc)
        fprintf(stderr, "parse %s: %s\n", sel_s, err.msg);
    T_EQ_INT(rc, 0);
    bool m = sel && fl_label_selector_matches(sel, labels);
    fl_label_selector_free(sel);
    json_decref(labels);
    return m;
}

static void test_parse_restring(void)
{
    /* TestSelectorParse: String() is the input without spaces */
    static const char *good[] = {
        "x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5"};
    for (size_t i = 0; i < FL_ARRAY_LEN(good); i++) {
        fl_err err = FL_ERR_INIT;
        char *s = restring(good[i], &err);
        char want[64];
        size_t k = 0;
        for (const char *p = good[i]; *p; p++)
            if (*p != ' ')
                want[k++] = *p;
        want[k] = 0;
        T_EQ_STR(s, want);
        free(s);
    }
    static const char *bad[] = {"x=a||y=b",
                                "x==a==b",
                                "!x=a",
                                "x<a",
                                "x,,y",
                                ",x,y",
                                "x nott in (y)",
                                "a in (xyz),",
                                "a in (xyz)b notin ()",
                                "a in (xyz abc)",
                                "a notin(",
                                "a (",
                                "(",
                                "x=a b",
                                "x>",
                                "x>1.5",
                                "x in (a",
                                "a/b/c",
                                "/a",
                                "a/",
                                "-a",
                                "a-",
                                "x=-a",
                                "Prefix.example.com/a",
                                "x in (a b)",
                                "x=(",
                                "==",
                                "x!",
                                "x!!=a",
                                "in in",
                                "x notin"};
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        fl_err err = FL_ERR_INIT;
        char *s = restring(bad[i], &err);
        if (s)
            fprintf(stderr, "bad selector %s parsed as %s\n", bad[i], s);
        T_CHECK(s == NULL);
        T_EQ_INT(err.code, FL_EPARSE);
        free(s);
    }
    /* TestSetSelectorParser and canonical forms */
    static const char *canon[][2] = {
        {"\rx", "x"},
        {"this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"},
        {"this-is-another-dns.domain.com/key-with-dash in (so,what)",
         "this-is-another-dns.domain.com/key-with-dash in (so,what)"},
        {"0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
         "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"},
        {"foo  in\t (abc)", "foo in (abc)"},
        {"x notin\n (abc)", "x notin (abc)"},
        {"x  notin\t\t\t(abc,def)", "x notin (abc,def)"},
        {"x in (abc,def)", "x in (abc,def)"},
        {"x in (abc,)", "x in (,abc)"},
        {"x in ()", "x in ()"},
        {"x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"},
        {"x,y in (a)", "x,y in (a)"},
        {"x=a", "x=a"},
        {"x>1", "x>1"},
        {"x<7", "x<7"},
        {"x=a,y!=b", "x=a,y!=b"},
        {"x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)"},
        {"x notin ( )", "x notin ()"},
        {"x notin (, a)", "x notin (,a)"},
        {"a ", "a"},
        {"a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"},
        {"x in (b,a)", "x in (a,b)"},
        {"x in (b,a,b,a)", "x in (a,b)"},
        {"x==a", "x==a"},
        {"x=a,a=x", "a=x,x=a"},
        {"a=x,x=a", "a=x,x=a"},
        {"notin=in", "notin=in"},
        {"z,y,x", "x,y,z"},
        {"b=2,a,b=1", "a,b=2,b=1"},
        {"x=in", "x=in"},
        {"x in (notin)", "x in (notin)"},
        {"example.com/a=B_c.d-e", "example.com/a=B_c.d-e"},
        {"x>-1", NULL}, /* "-1" is not a valid label value */
        {"x>+1", NULL},
        {"x>01", "x>01"},
        /* TestRequirementConstructor */
        {"1foo in (bar)", "1foo in (bar)"},
        {"1234 in (bar)", "1234 in (bar)"},
        {"y>1", "y>1"},
        {"z<6", "z<6"},
        {"foo>bar", NULL},
        {"barz<blah", NULL},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(canon); i++) {
        fl_err err = FL_ERR_INIT;
        char *s = restring(canon[i][0], &err);
        if (canon[i][1])
            T_EQ_STR(s, canon[i][1]);
        else
            T_CHECK(s == NULL);
        free(s);
    }
}

static void test_messages(void)
{
    static const char *cases[][2] = {
        {"x=a||y=b", "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": a "
                     "valid label must be an empty string or consist of alphanumeric "
                     "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                     "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
                     "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
        {"x==a==b", "found '==', expected: ',' or 'end of string'"},
        {"!x=a", "found '=', expected: ',' or 'end of string'"},
        {",x", "found ',', expected: !, identifier, or 'end of string'"},
        {"x,,y", "found ',', expected: identifier after ','"},
        {"x nott in (y)",
         "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt"},
        {"a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"},
        {"a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'"},
        {"a in x", "unable to parse requirement: found 'x' expected: '('"},
        {"x<a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', "
                "'Lt' operators, the value must be an integer"},
        {"a/b/c", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified "
                  "name must consist of alphanumeric characters, '-', '_' or '.', and must "
                  "start and end with an alphanumeric character (e.g. 'MyName',  or "
                  "'my.name',  or '123-abc', regex used for validation is "
                  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
                  "subdomain prefix and '/' (e.g. 'example.com/MyName')"},
        {"/a", "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must "
               "be non-empty"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_err err = FL_ERR_INIT;
        char *s = restring(cases[i][0], &err);
        T_CHECK(s == NULL);
        T_EQ_STR(err.msg, cases[i][1]);
        free(s);
    }
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_label_validate_key("ok.example.com/fine", &err), 0);
    T_EQ_INT(fl_label_validate_value("", &err), 0);
    char v64[65];
    memset(v64, 'a', 64);
    v64[64] = 0;
    T_EQ_INT(fl_label_validate_value(v64, &err), FL_EPARSE);
    T_EQ_INT(fl_label_validate_key(v64, &err), FL_EPARSE);
    v64[63] = 0;
    T_EQ_INT(fl_label_validate_key(v64, &err), 0);
    T_EQ_INT(fl_label_validate_value(v64, &err), 0);
}

static void test_matches(void)
{
    /* TestSelectorMatches */
    T_CHECK(matches("", "{\"x\":\"y\"}"));
    T_CHECK(matches("x=y", "{\"x\":\"y\"}"));
    T_CHECK(matches("x=y,z=w", "{\"x\":\"y\",\"z\":\"w\"}"));
    T_CHECK(matches("x!=y,z!=w", "{\"x\":\"z\",\"z\":\"a\"}"));
    T_CHECK(matches("notin=in", "{\"notin\":\"in\"}"));
    T_CHECK(matches("x", "{\"x\":\"z\"}"));
    T_CHECK(matches("!x", "{\"y\":\"z\"}"));
    T_CHECK(matches("x>1", "{\"x\":\"2\"}"));
    T_CHECK(matches("x<1", "{\"x\":\"0\"}"));
    T_CHECK(!matches("x=z", "{}"));
    T_CHECK(!matches("x=y", "{\"x\":\"z\"}"));
    T_CHECK(!matches("x=y,z=w", "{\"x\":\"w\",\"z\":\"w\"}"));
    T_CHECK(!matches("x!=y,z!=w", "{\"x\":\"z\",\"z\":\"w\"}"));
    T_CHECK(!matches("x", "{\"y\":\"z\"}"));
    T_CHECK(!matches("!x", "{\"x\":\"z\"}"));
    T_CHECK(!matches("x>1", "{\"x\":\"0\"}"));
    T_CHECK(!matches("x<1", "{\"x\":\"2\"}"));
    const char *ls = "{\"foo\":\"bar\",\"baz\":\"blah\"}";
    T_CHECK(matches("foo=bar", ls));
    T_CHECK(matches("baz=blah", ls));
    T_CHECK(matches("foo=bar,baz=blah", ls));
    T_CHECK(!matches("foo=blah", ls));
    T_CHECK(!matches("baz=bar", ls));
    T_CHECK(!matches("foo=bar,foobar=bar,baz=blah", ls));
    /* TestRequirementSelectorMatching */
    T_CHECK(matches("x in (foo),y notin (alpha)", "{\"x\":\"foo\",\"y\":\"baz\"}"));
    T_CHECK(!matches("x in (foo),y in (alpha)", "{\"x\":\"foo\",\"y\":\"baz\"}"));
    T_CHECK(matches("x notin (),y", "{\"y\":\"\"}"));
    T_CHECK(matches("!x,y", "{\"y\":\"\"}"));
    T_CHECK(!matches("x notin (),!y", "{\"y\":\"\"}"));
    T_CHECK(!matches("x in ()", "{\"y\":\"baz\"}"));
    T_CHECK(matches("x in ()", "{\"x\":\"\"}"));
    T_CHECK(matches("z>1", "{\"z\":\"2\"}"));
    T_CHECK(!matches("z>1", "{\"z\":\"v2\"}"));
    T_CHECK(!matches("z<1", "{}"));
    T_CHECK(matches("x!=a", "{\"y\":\"b\"}"));
    T_CHECK(matches("x=", "{\"x\":\"\"}"));
    T_CHECK(!matches("x=", "{}"));
    T_CHECK(matches("x>5", "{\"x\":\"+6\"}"));
    T_CHECK(!matches("x=1", "{\"x\":1}")); /* non-string label: absent */
}

static void check_json(const char *js, int want_rc, const char *want_str, const char *labels,
                       int want_match)
{
    json_t *v = json_loads(js, JSON_DECODE_ANY, NULL);
    T_CHECK(v != NULL);
    fl_label_selector *sel = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = fl_label_selector_from_json(v, &sel, &err);
    T_EQ_INT(rc, want_rc);
    if (rc == 0 && want_str) {
        fl_buf b = FL_BUF_INIT(4096);
        fl_label_selector_string(sel, &b);
        T_EQ_STR(b.data ? b.data : "", want_str);
        fl_buf_done(&b);
    }
    if (rc && want_str)
        T_EQ_STR(err.msg, want_str);
    if (rc == 0 && labels) {
        json_t *l = json_loads(labels, 0, NULL);
        T_EQ_INT(fl_label_selector_matches(sel, l), want_match);
        json_decref(l);
    }
    fl_label_selector_free(sel);
    json_decref(v);
}

static void test_json(void)
{
    check_json("null", 0, "", "{\"a\":\"b\"}", 0);
    check_json("{}", 0, "", "{\"a\":\"b\"}", 1);
    check_json("{\"matchLabels\":{}}", 0, "", "{}", 1);
    check_json("{\"matchLabels\":{\"app\":\"web\",\"a\":\"b\"}}", 0, "a=b,app=web",
               "{\"app\":\"web\",\"a\":\"b\",\"c\":\"d\"}", 1);
    check_json("{\"matchLabels\":{\"app\":\"web\"}}", 0, "app=web", "{\"app\":\"db\"}", 0);
    check_json("{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\","
               "\"values\":[\"b\",\"a\"]},{\"key\":\"env\",\"operator\":\"NotIn\","
               "\"values\":[\"prod\"]},{\"key\":\"x\",\"operator\":\"Exists\"},"
               "{\"key\":\"canary\",\"operator\":\"DoesNotExist\"}]}",
               0, "!canary,env notin (prod),tier in (a,b),x", "{\"tier\":\"a\",\"x\":\"\"}", 1);
    check_json("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":\"app\","
               "\"operator\":\"Exists\"}]}",
               0, "app=web,app", "{\"app\":\"web\"}", 1);
    check_json("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"In\",\"values\":[]}]}",
               FL_EPARSE,
               "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set "
               "can't be empty",
               NULL, 0);
    check_json("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"NotIn\"}]}", FL_EPARSE, NULL,
               NULL, 0);
    check_json("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"Exists\",\"values\":"
               "[\"a\"]}]}",
               FL_EPARSE,
               "values: Invalid value: []string{\"a\"}: values set must be empty for exists "
               "and does not exist",
               NULL, 0);
    check_json("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}",
               FL_EPARSE, "\"Gt\" is not a valid label selector operator", NULL, 0);
    check_json("{\"matchLabels\":{\"a b\":\"c\"}}", FL_EPARSE, NULL, NULL, 0);
    check_json("{\"matchLabels\":{\"a\":\"c d\"}}", FL_EPARSE, NULL, NULL, 0);
    check_json("{\"matchLabels\":{\"a\":1}}", FL_EPARSE, NULL, NULL, 0);
    check_json("[]", FL_EPARSE, NULL, NULL, 0);
    /* nothing vs everything */
    fl_label_selector *n = fl_label_selector_nothing(), *e = fl_label_selector_everything();
    T_CHECK(fl_label_selector_is_nothing(n) && !fl_label_selector_matches(n, NULL));
    T_CHECK(fl_label_selector_is_empty(e) && fl_label_selector_matches(e, NULL));
    fl_label_selector_free(n);
    fl_label_selector_free(e);
    fl_label_selector_free(NULL);
}

static void test_enumerate(void)
{
    const char *s = "x notin (b,a),!y,z>3,env in (prod),w==v";
    fl_label_selector *sel = NULL;
    T_EQ_INT(fl_label_selector_parse(s, strlen(s), &sel, NULL), 0);
    T_EQ_INT(fl_label_selector_count(sel), 5);
    fl_label_req r;
    fl_label_selector_req(sel, 0, &r);
    T_EQ_STR(r.key, "env");
    T_EQ_INT(r.op, FL_LABEL_IN);
    T_EQ_INT(r.nvalues, 1);
    T_EQ_STR(r.values[0], "prod");
    fl_label_selector_req(sel, 1, &r);
    T_EQ_STR(r.key, "w");
    T_EQ_INT(r.op, FL_LABEL_DOUBLE_EQUALS);
    T_EQ_STR(fl_label_op_name(r.op), "==");
    fl_label_selector_req(sel, 2, &r);
    T_EQ_STR(r.key, "x");
    T_EQ_INT(r.op, FL_LABEL_NOT_IN);
    T_EQ_INT(r.nvalues, 2);
    T_EQ_STR(r.values[0], "a");
    T_EQ_STR(r.values[1], "b");
    fl_label_selector_req(sel, 3, &r);
    T_EQ_INT(r.op, FL_LABEL_DOES_NOT_EXIST);
    T_EQ_INT(r.nvalues, 0);
    fl_label_selector_req(sel, 4, &r);
    T_EQ_INT(r.op, FL_LABEL_GT);
    T_EQ_STR(r.values[0], "3");
    fl_label_selector_free(sel);
    /* a NUL byte ends a token as end of input does in upstream's lexer */
    T_EQ_INT(fl_label_selector_parse("a\0", 2, &sel, NULL), 0);
    fl_label_selector_free(sel);
}

static void test_caps(void)
{
    /* TestRequirementConstructor: a 254-byte key breaks the length rules */
    char key[255];
    memset(key, 'a', 254);
    key[254] = 0;
    fl_label_selector *ks = NULL;
    T_EQ_INT(fl_label_selector_parse(key, 254, &ks, NULL), FL_EPARSE);
    size_t n = FL_LABELS_MAX_INPUT + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    fl_label_selector *sel = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_label_selector_parse(big, n, &sel, &err), -E2BIG);
    /* more requirements than the cap */
    size_t k = 0;
    for (int i = 0; i < FL_LABELS_MAX_REQS + 1 && k + 4 < n; i++) {
        big[k++] = 'a';
        big[k++] = ',';
    }
    big[k - 1] = 0;
    T_EQ_INT(fl_label_selector_parse(big, strlen(big), &sel, &err), -E2BIG);
    free(big);
}

int main(void)
{
    test_parse_restring();
    test_messages();
    test_matches();
    test_json();
    test_enumerate();
    test_caps();
    return t_done();
}
