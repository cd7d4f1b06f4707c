/*
 * tests/query/test_units.c: the search API's pure pieces — continue tokens
 * (round trip; any tampering, another key or garbage is rejected) and the
 * field-selector superset (=, ==, != with upstream's "absent reads as \"\"",
 * escapes, list fields with [], numeric > and <, parse errors), and the
 * orderby pieces (field parsing, sort, keyset resume after a cursor).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/query.h"
#include "query/query_int.h"
#include "tests/test.h"

static fl_query *make_query(fl_index *idx)
{
    fl_query_opts o = FL_QUERY_OPTS_INIT;
    fl_query *q = NULL;
    o.index = idx;
    T_EQ_INT(fl_query_new(&o, &q, NULL), 0);
    return q;
}

static void test_tokens(fl_index *idx)
{
    fl_query *q = make_query(idx), *other = make_query(idx);
    fl_query_cursor c = {.revision = 42,
                         .namespace_ = "team",
                         .name = "web-01",
                         .cluster = "east-1",
                         .offset = 7},
                    d;
    fl_buf b = FL_BUF_INIT(4096);
    T_EQ_INT(fl_query_token_encode(q, &c, &b), 0);
    T_EQ_INT(fl_query_token_decode(q, b.data, &d), 0);
    T_EQ_INT(d.revision, 42);
    T_EQ_STR(d.namespace_, "team");
    T_EQ_STR(d.name, "web-01");
    T_EQ_STR(d.cluster, "east-1");
    T_EQ_INT(d.offset, 7);
    T_EQ_INT(fl_query_token_decode(other, b.data, &d), FL_EPARSE); /* another key */
    for (size_t i = 0; i < b.len; i++) {
        char *t = strdup(b.data);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        T_EQ_INT(fl_query_token_decode(q, t, &d), FL_EPARSE);
        free(t);
    }
    const char *junk[] = {"", ".", "abc", "a.b", "1' OR '1'='1", "MS8xLy8v.", NULL};
    for (int i = 0; junk[i]; i++)
        T_EQ_INT(fl_query_token_decode(q, junk[i], &d), FL_EPARSE);
    /* ordered (orderby) cursors carry the sort key */
    fl_query_cursor o = {.revision = 9,
                         .namespace_ = "ns",
                         .name = "n",
                         .cluster = "c",
                         .offset = 3,
                         .ordered = true,
                         .order_sig = 0xdeadbeefu,
                         .created = -5,
                         .rv = "12345"};
    b.len = 0;
    T_EQ_INT(fl_query_token_encode(q, &o, &b), 0);
    T_EQ_INT(fl_query_token_decode(q, b.data, &d), 0);
    T_CHECK(d.ordered);
    T_EQ_INT(d.order_sig, 0xdeadbeefu);
    T_EQ_INT(d.created, -5);
    T_EQ_STR(d.rv, "12345");
    T_EQ_STR(d.name, "n");
    T_EQ_INT(d.offset, 3);
    T_EQ_INT(d.total, 0);
    /* the list's total, counted on the first page, rides along (both kinds) */
    c.total = o.total = 1000000;
    for (int k = 0; k < 2; k++) {
        b.len = 0;
        T_EQ_INT(fl_query_token_encode(q, k ? &o : &c, &b), 0);
        T_EQ_INT(fl_query_token_decode(q, b.data, &d), 0);
        T_EQ_INT(d.total, 1000000);
        T_EQ_INT(d.offset, k ? 3 : 7);
        T_EQ_STR(d.name, k ? "n" : "web-01");
        T_CHECK(d.ordered == (k == 1));
    }
    fl_buf_done(&b);
    fl_query_free(q);
    fl_query_free(other);
}

static fl_index_row row(const char *cl, const char *ns, const char *name, int64_t created,
                        const char *rv)
{
    fl_index_row r;
    memset(&r, 0, sizeof r);
    r.cluster = cl, r.namespace_ = ns, r.name = name, r.created = created;
    r.resource_version = rv; /* served as the index revision (query_row_json's rule) */
    fl_parse_i64(rv, strlen(rv), &r.revision);
    return r;
}

/* Clusterpedia's orderby: fields, desc, ties by key, keyset resume. */
static void test_order(void)
{
    query_order o;
    query_sorted s;
    fl_err e = FL_ERR_INIT;
    memset(&o, 0, sizeof o);
    memset(&s, 0, sizeof s);
    T_EQ_INT(query_order_add(&o, "nope", &e), FL_EPARSE);
    T_EQ_INT(query_order_add(&o, "name desc x", &e), FL_EPARSE);
    T_EQ_INT(query_order_add(&o, "resource_version", &e), 0);
    T_EQ_INT(query_order_add(&o, " created_at_desc ", &e), 0);
    T_EQ_INT((int)o.n, 2);
    T_CHECK(!o.by[0].desc && o.by[1].desc);
    memset(&o, 0, sizeof o);
    T_EQ_INT(query_order_add(&o, "namespace desc", &e), 0);
    T_EQ_INT(query_order_add(&o, "name", &e), 0);
    uint32_t sig = query_order_sig(&o);
    fl_index_row rows[] = {row("b", "a", "x", 5, "9"), row("a", "z", "y", 1, "10"),
                           row("a", "a", "x", 9, "2"), row("c", "m", "q", 3, "1")};
    for (size_t i = 0; i < 4; i++)
        T_EQ_INT(query_sorted_add(&s, &rows[i]), 0);
    query_sorted_sort(&s, &o);
    const char *want[] = {"z/y/a", "m/q/c", "a/x/a", "a/x/b"};
    for (size_t i = 0; i < 4; i++) {
        char k[64];
        snprintf(k, sizeof k, "%s/%s/%s", s.v[i].ns, s.v[i].name, s.v[i].cluster);
        T_EQ_STR(k, want[i]);
    }
    fl_query_cursor c;
    query_sorted_cursor(&s.v[1], &o, 7, &c);
    T_CHECK(c.ordered && c.order_sig == sig && c.revision == 7);
    T_EQ_INT((int)query_sorted_after(&s, &o, &c), 2);
    query_sorted_cursor(&s.v[3], &o, 7, &c);
    T_EQ_INT((int)query_sorted_after(&s, &o, &c), 4);
    /* resource_version numerically: 1 < 2 < 9 < 10 */
    memset(&o, 0, sizeof o);
    T_EQ_INT(query_order_add(&o, "resource_version", &e), 0);
    T_CHECK(query_order_sig(&o) != sig);
    query_sorted_sort(&s, &o);
    T_EQ_STR(s.v[0].rv, "1");
    T_EQ_STR(s.v[3].rv, "10");
    query_sorted_done(&s);
}

static int match(const char *sel, const char *obj)
{
    fl_query_fields *f = NULL;
    json_t *o = json_loads(obj, 0, NULL);
    int rc = fl_query_fields_parse(sel, &f, NULL);
    if (rc == 0)
        rc = fl_query_fields_match(f, o) ? 1 : 0;
    fl_query_fields_free(f);
    json_decref(o);
    return rc;
}

static void test_fields(void)
{
    const char *pod = "{\"metadata\":{\"name\":\"a,b\",\"namespace\":\"ns\"},\"status\":"
                      "{\"phase\":\"Running\"},\"spec\":{\"priority\":7,\"hostNetwork\":true,"
                      "\"containers\":[{\"image\":\"nginx:1.25\"},{\"image\":\"envoy:1\"}]}}";
    T_EQ_INT(match("", pod), 1);
    T_EQ_INT(match("status.phase=Running", pod), 1);
    T_EQ_INT(match(".status.phase==Running", pod), 1);
    T_EQ_INT(match("status.phase!=Running", pod), 0);
    T_EQ_INT(match("status.phase=Pending", pod), 0);
    T_EQ_INT(match("metadata.name=a\\,b", pod), 1);
    T_EQ_INT(match("spec.containers[].image=envoy:1", pod), 1);
    T_EQ_INT(match("spec.containers[].image=redis", pod), 0);
    T_EQ_INT(match("spec.containers[].image!=redis", pod), 1);
    T_EQ_INT(match("spec.containers[].image!=nginx:1.25", pod), 0);
    T_EQ_INT(match("spec.priority>6,spec.priority<8", pod), 1);
    T_EQ_INT(match("spec.priority>7", pod), 0);
    T_EQ_INT(match("spec.priority=7,spec.hostNetwork=true", pod), 1);
    T_EQ_INT(match("spec.nodeName=", pod), 1); /* absent reads as "" */
    T_EQ_INT(match("spec.nodeName!=", pod), 0);
    T_EQ_INT(match("spec.nodeName!=x", pod), 1);
    T_EQ_INT(match("spec.missing>1", pod), 0);
    T_EQ_INT(match("a=b=c", pod), FL_EPARSE);
    T_EQ_INT(match("a", pod), FL_EPARSE);
    T_EQ_INT(match("=x", pod), FL_EPARSE);
    T_EQ_INT(match("a>x", pod), FL_EPARSE);
    T_EQ_INT(match("a.=x", pod), FL_EPARSE);
    T_EQ_INT(match("a[0]=x", pod), FL_EPARSE);
    T_EQ_INT(match("a=\\q", pod), FL_EPARSE);
    T_EQ_INT(match("a!x", pod), FL_EPARSE);
    T_EQ_INT(match(",", pod), FL_EPARSE);
    char big[2000];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%sa%d=b", i ? "," : "", i);
    T_EQ_INT(match(big, pod), -E2BIG);
}

/* #19.2: tokens are bound (another bind fails) and encrypted (no name in
 * them); scopes: admin groups, "pods" = the core group's pods only. */
static void test_bound(fl_index *idx)
{
    fl_query *q = make_query(idx);
    fl_query_cursor c = {.revision = 42,
                         .namespace_ = "team",
                         .name = "web-01",
                         .cluster = "east-1",
                         .offset = 7},
                    d;
    fl_buf b = FL_BUF_INIT(4096);
    T_EQ_INT(fl_query_token_encode_for(q, "alice|pods|*", &c, &b), 0);
    T_EQ_INT(fl_query_token_decode_for(q, "alice|pods|*", b.data, &d), 0);
    T_EQ_STR(d.name, "web-01");
    T_EQ_INT(fl_query_token_decode_for(q, "bob|pods|*", b.data, &d), FL_EPARSE);
    T_EQ_INT(fl_query_token_decode(q, b.data, &d), FL_EPARSE);
    /* opaque: the decoded bytes hold no name */
    T_CHECK(!strstr(b.data, "web") && !strstr(b.data, "d2ViLTAx"));
    fl_buf_done(&b);
    fl_query_free(q);

    const char *groups[] = {"team-a"}, *masters[] = {"system:masters"}, *ops[] = {"ops"};
    const char *cl[] = {"east-1"}, *ns[] = {"team"}, *res[] = {"pods"}, *adm[] = {"ops"};
    fl_query_scope sc = {"team-a", cl, 1, ns, 1, res, 1};
    fl_query_opts o = FL_QUERY_OPTS_INIT;
    o.index = idx;
    o.scopes = &sc;
    o.nscopes = 1;
    o.admin_groups = adm;
    o.nadmin_groups = 1;
    T_EQ_INT(fl_query_new(&o, &q, NULL), 0);
    query_user a = {"alice", groups, 1, {0}}, m = {"admin", masters, 1, {0}},
               op = {"olga", ops, 1, {0}};
    T_CHECK(query_scope_allows(q, &a, "east-1", "team", "", "pods"));
    T_CHECK(!query_scope_allows(q, &a, "east-1", "team", "metrics.k8s.io", "pods"));
    T_CHECK(!query_scope_allows(q, &a, "east-2", "team", "", "pods"));
    T_CHECK(query_scope_allows(q, &m, "east-2", "x", "apps", "deployments"));
    T_CHECK(query_scope_allows(q, &op, "east-2", "x", "", "secrets"));
    query_scope_terms t;
    query_scope_terms_for(q, &a, "", "pods", true, &t);
    T_CHECK(t.any && !t.all_clusters && !t.all_namespaces && t.nclusters == 1 &&
            t.nnamespaces == 1);
    query_scope_terms_for(q, &a, "", "nodes", false, &t);
    T_CHECK(!t.any);
    fl_query_free(q);
}

/* #19.1: names as Kubernetes validates them; never a dot segment. */
static void test_names(void)
{
    static const char *const good[] = {"a", "default", "kube-system", "a.b", "east-1", "a-b.c-d.e"};
    static const char *const bad[] = {"",   ".", "..",  ".a",  "a.",  "a..b", "-a",
                                      "a-", "A", "a_b", "a/b", "a b", "a.-b", "a.b-"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        T_CHECK(fl_kube_dns_subdomain(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        T_CHECK(!fl_kube_dns_subdomain(bad[i]) && !fl_kube_dns_label(bad[i]));
    T_CHECK(fl_kube_dns_label("kube-system") && !fl_kube_dns_label("a.b"));
    char longl[80];
    memset(longl, 'a', 64);
    longl[64] = 0;
    /* IsDNS1123Subdomain bounds the whole (253), not each label */
    T_CHECK(!fl_kube_dns_label(longl) && fl_kube_dns_subdomain(longl));
    longl[63] = 0;
    T_CHECK(fl_kube_dns_label(longl));
    char longn[300];
    memset(longn, 'a', 254);
    longn[254] = 0;
    T_CHECK(!fl_kube_dns_subdomain(longn));
    longn[253] = 0;
    T_CHECK(fl_kube_dns_subdomain(longn));
}

int main(void)
{
    char dir[] = "/tmp/flotilla-query-unit-XXXXXX", path[128];
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_index *idx = NULL;
    io.path = path;
    T_EQ_INT(fl_index_open(&io, &idx, NULL), 0);
    test_tokens(idx);
    test_names();
    test_bound(idx);
    test_fields();
    test_order();
    fl_index_close(idx);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ_INT(system(cmd), 0);
    return t_done();
}
