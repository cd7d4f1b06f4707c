/*
 * tests/query/test_sql.c: the SQL-like language's parser and compiler
 * (query/sql_*.c) without a server: precedence (NOT > AND > OR, explicit
 * parentheses), quoting ('it''s', "quoted names"), unicode in literals and
 * names, keywords as column names after a '.', line:column errors with
 * suggestions, the caps (depth, size, IN, tokens), that no user text ever
 * appears in the compiled SQL (injection through every literal and
 * identifier), which columns compile to materialized columns, quantity
 * literals converted to milli-units, and the scope compiled as WHERE terms;
 * and, with EXPLAIN QUERY PLAN on an index's schema, the plans of the
 * bench's shapes (bench/bench_sql.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/sql_int.h"
#include "tests/test.h"

static fl_kube_resources *reg;

typedef struct out {
    int rc;
    char msg[512];
    char sql[8192];
    char notes[2048];
    char params[4096]; /* params joined by '|' (ints printed) */
} out;

static out compile_as(const char *text, const sql_scope *scope, const fl_index_sql_value *up,
                      size_t nup)
{
    out o = {0};
    fl_err err = FL_ERR_INIT;
    sql_query *q = NULL;
    sql_compiled c;
    o.rc = sql_parse(text, strlen(text), &q, &err);
    if (o.rc == 0)
        o.rc = sql_compile(q, reg, scope, up, nup, &c, &err);
    if (o.rc == 0) {
        snprintf(o.sql, sizeof o.sql, "%s", c.sql.data);
        snprintf(o.notes, sizeof o.notes, "%s", c.notes.data ? c.notes.data : "");
        size_t n = 0;
        for (size_t i = 0; i < c.nparams && n < sizeof o.params - 64; i++) {
            if (c.params[i].type == FL_INDEX_SQL_TEXT)
                n += (size_t)snprintf(o.params + n, sizeof o.params - n, "%s|", c.params[i].s);
            else
                n += (size_t)snprintf(o.params + n, sizeof o.params - n, "%lld|",
                                      (long long)c.params[i].i);
        }
        sql_compiled_done(&c);
    }
    snprintf(o.msg, sizeof o.msg, "%s", err.msg);
    sql_query_free(q);
    return o;
}

static const sql_scope admin = {true, true, NULL, 0};

static out compile(const char *text)
{
    return compile_as(text, &admin, NULL, 0);
}

static void expect_error(const char *text, const char *msg)
{
    out o = compile(text);
    T_CHECK(o.rc < 0);
    if (!strstr(o.msg, msg))
        fprintf(stderr, "for %s\n  got \"%s\"\n  want \"%s\"\n", text, o.msg, msg);
    T_CHECK(strstr(o.msg, msg) != NULL);
}

static void test_precedence(void)
{
    out o = compile("SELECT name FROM pods WHERE name = 'a' OR name = 'b' AND NOT name = 'c'");
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.sql, "((t0.name = ?3) OR ((t0.name = ?4) AND (NOT (t0.name = ?5))))"));
    o = compile("SELECT name FROM pods WHERE (name = 'a' OR name = 'b') AND name = 'c'");
    T_CHECK(strstr(o.sql, "(((t0.name = ?3) OR (t0.name = ?4)) AND (t0.name = ?5))"));
    o = compile("SELECT name FROM pods WHERE NOT name IN ('a') AND name NOT LIKE 'b%'");
    T_CHECK(strstr(o.sql, "(NOT (t0.name IN (?3))) AND (t0.name NOT LIKE ?4)"));
}

static void test_quoting_unicode_keywords(void)
{
    out o = compile("SELECT \"name\", labels.\"app.kubernetes.io/name\" FROM pods "
                    "WHERE name = 'it''s' AND labels.team = 'caf\xc3\xa9 \xe6\xbc\xa2'");
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.params, "|it's|") != NULL);
    T_CHECK(strstr(o.params, "app.kubernetes.io/name|") != NULL);
    T_CHECK(strstr(o.params, "team|caf\xc3\xa9 \xe6\xbc\xa2|") != NULL);
    /* keywords as names after a dot, and quoted at the start */
    o = compile("SELECT spec.select, status.order, labels.from, \"name\" FROM pods");
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.params, "$.\"spec\".\"select\"") != NULL);
    /* unicode identifiers with a position counted in code points */
    expect_error("SELECT \xc3\xa9t\xc3\xa9 FROM pods", "unknown column '\xc3\xa9t\xc3\xa9' at 1:8");
    expect_error("SELECT name FROM pods WHERE name = '\xc3\xa9' AND \xc3\xa9x = 1", "at 1:44");
    expect_error("SELECT name FROM pods WHERE name = '\xff'", "invalid UTF-8 at 1:37");
}

static void test_errors(void)
{
    expect_error("SELECT cluster, stauts.phase FROM pods",
                 "unknown column 'stauts.phase' at 1:17 (did you mean 'status.phase'?)");
    expect_error("SELECT nmae FROM pods", "unknown column 'nmae' at 1:8 (did you mean 'name'?)");
    expect_error("SELECT name FROM dployments", "(did you mean 'deployments'?)");
    expect_error("SELECT name FROM pods\nWHERE phase = ", "expected a column, literal or '(', "
                                                          "found end of query at 2:15");
    expect_error("SELECT name FROM pods WHERE phase = 'x' LIMIT 'a'", "a number after LIMIT");
    expect_error("SELECT name FROM pods ORDER name", "expected BY, found 'name' at 1:29");
    expect_error("SELECT requests.cpu FROM nodes", "exists only on pods");
    expect_error("SELECT name FROM pods WHERE requests.cpu > '1x'", "is not a quantity");
    expect_error("SELECT name FROM pods WHERE created > 'yesterday'", "expected a time");
    expect_error("SELECT sum(count(*)) FROM pods", "not allowed");
    expect_error("SELECT a.spec.x[].y[].z FROM pods a", "at most one '[]'");
    expect_error("SELECT name FROM pods p JOIN nodes n ON p.node = n.name", "needs a table alias");
    expect_error("SELECT data FROM secrets", "Secret data is never returned at 1:8");
    expect_error("SELECT data.token FROM secrets", "Secret data is never returned");
    expect_error("SELECT json.stringData.x FROM secrets", "Secret data is never returned");
    expect_error("SELECT metadata.annotations FROM secrets", "Secret data is never returned");
    expect_error("SELECT metadata FROM secrets", "Secret data is never returned");
    expect_error("SELECT annotations.\"kubectl.kubernetes.io/last-applied-configuration\" "
                 "FROM secrets",
                 "Secret data is never returned");
    T_EQ_INT(compile("SELECT annotations.owner, metadata.name FROM secrets").rc, 0);
    expect_error("SELECT name FROM secrets WHERE MATCH('hunter2')", "not available on secrets");
    T_CHECK(strstr(compile("SELECT name FROM objects WHERE MATCH('hunter2')").sql,
                   "res = 'secrets'") != NULL);
}

static void test_caps(void)
{
    size_t n = 200000;
    char *deep = malloc(n * 2 + 100);
    strcpy(deep, "SELECT name FROM pods WHERE ");
    size_t l = strlen(deep);
    for (size_t i = 0; i < 100; i++)
        deep[l++] = '(';
    strcpy(deep + l, "name = 'x'");
    l += 10;
    for (size_t i = 0; i < 100; i++)
        deep[l++] = ')';
    deep[l] = 0;
    expect_error(deep, "nested deeper than 64 levels");
    /* 1 MB of query */
    char *big = malloc((1u << 20) + 100);
    snprintf(big, 100, "SELECT name FROM pods WHERE name = '");
    l = strlen(big);
    memset(big + l, 'x', 1u << 20);
    strcpy(big + l + (1u << 20), "'");
    expect_error(big, "the limit is");
    /* too many IN values and tokens */
    strcpy(deep, "SELECT name FROM pods WHERE name IN ('a'");
    for (int i = 0; i < 1200; i++)
        strcat(deep, ",'a'");
    strcat(deep, ")");
    expect_error(deep, "more than 1000 values in IN");
    strcpy(big, "SELECT name FROM pods WHERE name = 'a'");
    for (int i = 0; i < 8000; i++)
        strcat(big + strlen(big) - 10, " OR name = 'a'");
    out o = compile(big);
    T_CHECK(o.rc < 0);
    free(deep);
    free(big);
}

static void test_injection(void)
{
    static const char *const evil[] = {
        "'; DROP TABLE objects; --",
        "\" OR 1=1 --",
        "x') OR ('1'='1",
        "?1",
        "$.a",
        "json_extract(json, '$')",
        "fts MATCH 'a'",
        "\\x00",
        "t0.json; DELETE",
    };
    char text[1024], lit[256], ident[256];
    for (size_t i = 0; i < FL_ARRAY_LEN(evil); i++) {
        size_t a = 0, b = 0;
        for (const char *p = evil[i]; *p; p++) {
            if (*p == '\'')
                lit[a++] = '\'';
            lit[a++] = *p;
            if (*p == '"')
                ident[b++] = '"';
            ident[b++] = *p;
        }
        lit[a] = ident[b] = 0;
        const char *forms[] = {
            "SELECT name FROM pods WHERE name = '%s'",
            "SELECT name FROM pods WHERE labels.app IN ('%s', 'b')",
            "SELECT name FROM pods WHERE MATCH('%s abc')",
            "SELECT name FROM pods WHERE name LIKE '%s'",
            "SELECT name FROM pods WHERE labels.\"%s\" = 'v'",
            "SELECT annotations.\"%s\" FROM pods",
            "SELECT metadata.\"%s\"[] FROM pods",
            "SELECT requests.\"%s\" FROM pods",
            "SELECT \"%s\" FROM pods",
        };
        for (size_t f = 0; f < FL_ARRAY_LEN(forms); f++) {
            const char *hole = strstr(forms[f], "%s");
            snprintf(text, sizeof text, "%.*s%s%s", (int)(hole - forms[f]), forms[f],
                     f >= 4 ? ident : lit, hole + 2);
            out o = compile(text);
            /* compiled or refused, the user's text never reaches the SQL */
            if (o.rc == 0 && strlen(evil[i]) > 3) {
                if (strstr(o.sql, evil[i]))
                    fprintf(stderr, "user text in SQL: %s\n  %s\n", text, o.sql);
                T_CHECK(strstr(o.sql, evil[i]) == NULL);
            }
            T_CHECK(strstr(o.sql, "DROP") == NULL);
        }
    }
}

static void test_columns(void)
{
    out o = compile("SELECT node, phase, qos, terminal, requests.cpu, limits.memory, "
                    "status.phase, spec.nodeName, metadata.creationTimestamp FROM pods");
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.sql, "json_extract") == NULL); /* all materialized */
    T_CHECK(strstr(o.notes, "status.phase -> pods.phase (materialized column)") != NULL);
    o = compile("SELECT ready, unschedulable, region, zone, allocatable.cpu, capacity.memory "
                "FROM nodes");
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.sql, "json_extract") == NULL);
    o = compile("SELECT name FROM pods WHERE requests.cpu > '500m' AND requests.memory >= '1Gi' "
                "AND limits.cpu < 2");
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.params, "|500|") != NULL);
    T_CHECK(strstr(o.params, "|1073741824000|") != NULL);
    T_CHECK(strstr(o.params, "|2000|") != NULL);
    o = compile("SELECT name FROM pods WHERE labels.app = 'web'");
    T_CHECK(strstr(o.sql, "t0.id IN (SELECT obj_id FROM labels WHERE key = ?3 AND value = ?4)"));
    o = compile("SELECT p.name FROM pods p JOIN nodes n ON p.cluster = n.cluster "
                "AND p.node = n.name");
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.sql, "t0.cluster_id = t1.cluster_id") != NULL);
    T_CHECK(strstr(o.sql, "x0.node = t1.name") != NULL);
    o = compile("SELECT cluster, count(*) AS n FROM pods GROUP BY cluster HAVING count(*) > 1 "
                "ORDER BY n DESC, 1 LIMIT 5 OFFSET 2");
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.sql, "ORDER BY r1 DESC, r0 LIMIT") != NULL);
    o = compile("SELECT kind, count(*) FROM objects WITH DELETED GROUP BY kind");
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.sql, "deleted_ms IS NULL") == NULL);
    o = compile("SELECT count(*) FROM deploy");
    T_CHECK(strstr(o.params, "apps|deployments|") != NULL);
    o = compile("SELECT count(*) FROM deployments.apps");
    T_EQ_INT(o.rc, 0);
}

static void test_scope(void)
{
    const char *cl[] = {"east-1"}, *ns[] = {"team-a", "team-b"}, *res[] = {"pods"};
    const char *star[] = {"*"};
    sql_scope_term t[2] = {{cl, 1, ns, 2, res, 1}, {star, 1, star, 1, star, 1}};
    sql_scope s = {false, false, t, 1};
    out o = compile_as("SELECT count(*) FROM pods", &s, NULL, 0);
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.sql, "AND (0 OR (1 AND c0.name IN (?3) AND t0.ns IN (?4, ?5)))") != NULL);
    o = compile_as("SELECT count(*) FROM deployments", &s, NULL, 0);
    T_CHECK(strstr(o.sql, "AND (0)") != NULL); /* nothing visible: no rows, no error */
    o = compile_as("SELECT count(*) FROM objects", &s, NULL, 0);
    T_EQ_INT(o.rc, FL_EFORBIDDEN);
    o = compile_as("SELECT count(*) FROM pods WITH DELETED", &s, NULL, 0);
    T_EQ_INT(o.rc, FL_EFORBIDDEN);
    s.wide = true;
    o = compile_as("SELECT count(*) FROM objects", &s, NULL, 0);
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.sql, "AND (0)") != NULL); /* only resources "*" scopes cover objects */
    s.nterms = 2;
    o = compile_as("SELECT count(*) FROM objects", &s, NULL, 0);
    T_CHECK(strstr(o.sql, "OR (1)") != NULL);
}

static void test_params(void)
{
    fl_index_sql_value up[2] = {{FL_INDEX_SQL_TEXT, 0, 0, "x'y", 3},
                                {FL_INDEX_SQL_INT, 7, 0, NULL, 0}};
    out o =
        compile_as("SELECT name FROM pods WHERE name = $1 AND spec.priority = ?", &admin, up, 2);
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.params, "|x'y|") != NULL);
    fl_index_sql_value qp[2] = {{FL_INDEX_SQL_TEXT, 0, 0, "1500m", 5},
                                {FL_INDEX_SQL_TEXT, 0, 0, "2026-01-02T03:04:05Z", 20}};
    o = compile_as("SELECT name FROM pods WHERE requests.cpu > $1 AND created < $2", &admin, qp, 2);
    T_EQ_INT(o.rc, 0);
    T_CHECK(strstr(o.params, "|1500|1767323045|") != NULL);
    o = compile_as("SELECT name FROM pods WHERE name = $2 AND name = $1", &admin, up, 1);
    T_CHECK(o.rc < 0);
}

static int plan_line(void *arg, const fl_index_sql_value *cols, size_t n)
{
    fl_buf *b = arg;
    for (size_t i = 0; i < n; i++)
        if (cols[i].s) {
            fl_buf_puts(b, cols[i].s);
            fl_buf_puts(b, "\n");
        }
    return 0;
}

/* The EXPLAIN QUERY PLAN lines of text compiled for an admin, into b. */
static void plan_of(fl_index_reader *rd, const char *text, fl_buf *b)
{
    sql_query *q = NULL;
    sql_compiled c;
    fl_err err = FL_ERR_INIT;
    fl_index_sql_opts o = {0, 0, true};
    fl_index_sql_result res;
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
    T_EQ_INT(sql_parse(text, strlen(text), &q, &err), 0);
    T_EQ_INT(sql_compile(q, reg, &admin, NULL, 0, &c, &err), 0);
    T_EQ_INT(fl_index_sql_run(rd, c.sql.data, c.params, c.nparams, &o, plan_line, b, &res, &err),
             0);
    fl_buf_puts(b, "");
    if (getenv("TEST_SQL_PLANS"))
        fprintf(stderr, "%s\n  %s\n%s", text, c.sql.data, b->data ? b->data : "");
    sql_compiled_done(&c);
    sql_query_free(q);
}

static bool has(const fl_buf *b, const char *s)
{
    return b->data && strstr(b->data, s) != NULL;
}

static int occurrences(const fl_buf *b, const char *s)
{
    int n = 0;
    for (const char *p = b->data; p && (p = strstr(p, s)) != NULL; p += strlen(s))
        n++;
    return n;
}

/* Plan shapes on the index schema (no statistics, as in a fresh index):
 * the count, sum, label and MATCH shapes as bench_sql's hand-written
 * statements plan them; the join through the cluster's pods. */
static void test_plans(void)
{
    char dir[] = "/tmp/flotilla-test-sql-XXXXXX", path[128];
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    io.path = path;
    fl_index *idx = NULL;
    fl_index_reader *rd = NULL;
    T_EQ_INT(fl_index_open(&io, &idx, NULL), 0);
    T_EQ_INT(fl_index_reader_new(idx, &rd, NULL), 0);
    fl_buf b;
    fl_buf_init(&b, 1u << 20);

    /* a count reads the covering objects_live alone: no gvrs join, no table rows */
    plan_of(rd, "SELECT cluster, count(*) FROM pods GROUP BY cluster", &b);
    T_CHECK(has(&b, "SEARCH t0 USING COVERING INDEX objects_live (gvr_id=?)"));
    T_CHECK(!has(&b, "g0"));
    T_CHECK(!has(&b, "SCAN"));

    /* a sum over a resource joins pod_resources by its key, no correlated lookup */
    plan_of(rd,
            "SELECT cluster, namespace, sum(requests.cpu) FROM pods GROUP BY cluster, namespace",
            &b);
    T_CHECK(has(&b, "SEARCH t0 USING COVERING INDEX objects_live (gvr_id=?)"));
    T_CHECK(has(&b, "SEARCH rs0 USING PRIMARY KEY (obj_id=? AND resource=?)"));
    T_CHECK(!has(&b, "CORRELATED"));
    T_CHECK(!has(&b, "SCAN"));

    /* pods<->nodes in one cluster: the cluster's nodes, then for each the
     * cluster's pods (not pods_by_node's range over every cluster) */
    plan_of(rd,
            "SELECT p.name, n.name FROM pods p JOIN nodes n ON p.cluster = n.cluster AND "
            "p.node = n.name WHERE p.cluster = 'c-1' AND n.ready = false",
            &b);
    T_CHECK(has(&b, "SEARCH c0 USING COVERING INDEX sqlite_autoindex_clusters_1 (name=?)"));
    T_CHECK(has(&b, "SEARCH t0 USING INDEX objects_scope (cluster_id=? AND gvr_id=?)"));
    T_CHECK(has(&b, "SEARCH x0 USING INTEGER PRIMARY KEY (rowid=?)"));
    T_CHECK(!has(&b, "pods_by_node"));
    T_CHECK(!has(&b, "SCAN"));

    /* label + phase page in creation order: the label's primary-key range,
     * sorted by the creation time its rows carry (schema v7), drives; the
     * pods row, then the objects row, is read per candidate until the LIMIT:
     * no objects read before the limit, no sort after it */
    plan_of(rd,
            "SELECT cluster, namespace, name, phase, node FROM pods WHERE labels.app = 'a' "
            "AND phase != 'Running' ORDER BY created DESC LIMIT 50",
            &b);
    T_CHECK(has(&b, "CO-ROUTINE l0"));
    T_CHECK(has(&b, "SEARCH labels USING PRIMARY KEY (key=? AND value=?"));
    const char *l0 = strstr(b.data, "SCAN l0"), *x0 = strstr(b.data, "SEARCH x0"),
               *t0 = strstr(b.data, "SEARCH t0 USING INTEGER PRIMARY KEY (rowid=?)");
    T_CHECK(l0 && x0 && t0 && l0 < x0 && x0 < t0);
    T_EQ_INT(occurrences(&b, "USE TEMP B-TREE FOR ORDER BY"), 1); /* the range's, inside */
    T_CHECK(!has(&b, "SCAN t0"));
    T_CHECK(!has(&b, "labels_cluster")); /* the label is not read a second time */
    /* a second label: a probe per driving row, not its whole range */
    plan_of(rd,
            "SELECT name FROM pods WHERE labels.app = 'a' AND labels.tier = 'web' ORDER BY "
            "created DESC LIMIT 5",
            &b);
    T_CHECK(has(&b, "CO-ROUTINE l0"));
    T_CHECK(has(&b, "CORRELATED SCALAR SUBQUERY"));
    T_CHECK(has(&b, "labels_obj (obj_id=? AND key=? AND value=?)"));
    T_CHECK(!has(&b, "labels_cluster"));

    /* not driven: no LIMIT (everything is read anyway), the label under OR,
     * ORDER BY on something else: the label's index range as before */
    plan_of(rd,
            "SELECT name FROM pods WHERE labels.app = 'a' AND phase != 'Running' "
            "ORDER BY created DESC",
            &b);
    T_CHECK(!has(&b, "l0"));
    T_CHECK(has(&b, "labels_cluster (key=? AND value=?)"));
    plan_of(rd,
            "SELECT name FROM pods WHERE labels.app = 'a' OR phase = 'x' ORDER BY created "
            "LIMIT 5",
            &b);
    T_CHECK(!has(&b, "l0"));
    plan_of(rd, "SELECT name FROM pods WHERE labels.app = 'a' ORDER BY name LIMIT 5", &b);
    T_CHECK(!has(&b, "l0"));

    /* MATCH page: from the FTS hits */
    plan_of(rd, "SELECT cluster, namespace, name FROM pods WHERE MATCH('img-1:') LIMIT 50", &b);
    T_CHECK(has(&b, "VIRTUAL TABLE INDEX"));
    T_CHECK(has(&b, "SEARCH t0 USING INTEGER PRIMARY KEY (rowid=?)"));
    T_CHECK(!has(&b, "SCAN t0"));

    /* one join per resource (requests and limits of cpu share a row) */
    plan_of(rd,
            "SELECT name FROM pods WHERE requests.cpu > '500m' AND limits.cpu > 1 AND "
            "requests.memory > '1Gi'",
            &b);
    T_CHECK(has(&b, "SEARCH rs0 USING PRIMARY KEY (obj_id=? AND resource=?)"));
    T_CHECK(has(&b, "SEARCH rs1 USING PRIMARY KEY (obj_id=? AND resource=?)"));

    fl_buf_done(&b);
    fl_index_reader_free(rd);
    fl_index_close(idx);
    snprintf(path, sizeof path, "%s/index.db", dir);
    unlink(path);
    char p2[160];
    snprintf(p2, sizeof p2, "%s-wal", path);
    unlink(p2);
    snprintf(p2, sizeof p2, "%s-shm", path);
    unlink(p2);
    rmdir(dir);
}

/* ---- a label page in creation order: driven vs the sorted answer ------- */

static int add_row(void *arg, const fl_index_sql_value *cols, size_t n)
{
    fl_buf *b = arg;
    for (size_t i = 0; i < n; i++) {
        if (i)
            fl_buf_puts(b, "|");
        switch (cols[i].type) {
        case FL_INDEX_SQL_TEXT: fl_buf_append(b, cols[i].s, cols[i].len); break;
        case FL_INDEX_SQL_INT: fl_buf_printf(b, "%lld", (long long)cols[i].i); break;
        case FL_INDEX_SQL_REAL: fl_buf_printf(b, "%g", cols[i].d); break;
        default: fl_buf_puts(b, "NULL");
        }
    }
    fl_buf_puts(b, "\n");
    return 0;
}

/* Run text for scope: its rows into rows (one line each), whether it
 * compiled to the label drive (l0) into *driven. */
static void run_rows(fl_index_reader *rd, const char *text, const sql_scope *scope, fl_buf *rows,
                     bool *driven)
{
    sql_query *q = NULL;
    sql_compiled c;
    fl_err err = FL_ERR_INIT;
    fl_index_sql_opts o = {0, 0, false};
    fl_index_sql_result res;
    fl_buf_reset(rows);
    fl_buf_puts(rows, "");
    int prc = sql_parse(text, strlen(text), &q, &err);
    if (prc == 0)
        prc = sql_compile(q, reg, scope, NULL, 0, &c, &err);
    if (prc) {
        fprintf(stderr, "%s: %s\n", text, err.msg);
        T_EQ_INT(prc, 0);
        sql_query_free(q);
        return;
    }
    *driven = strstr(c.sql.data, " l0") != NULL;
    int rc = fl_index_sql_run(rd, c.sql.data, c.params, c.nparams, &o, add_row, rows, &res, &err);
    if (rc)
        fprintf(stderr, "%s\n  %s\n  %s\n", text, c.sql.data, err.msg);
    T_EQ_INT(rc, 0);
    sql_compiled_done(&c);
    sql_query_free(q);
}

/* Lines [from, from + n) of text (the sorted answer's rows). */
static void slice_lines(const char *text, int from, int n, fl_buf *lines)
{
    fl_buf_reset(lines);
    fl_buf_puts(lines, "");
    int line = 0;
    for (const char *p = text; *p && line < from + n; line++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (line >= from)
            fl_buf_append(lines, p, len);
        p += len;
    }
}

static void submit_pods(fl_index *idx, const char *cluster, int from, int to, int created0,
                        int step)
{
    fl_index_src src = {cluster, "", "v1", "pods", "Pod"};
    fl_buf b = FL_BUF_INIT(1u << 20);
    static const char *const phases[] = {"Running", "Pending", "Failed"};
    fl_buf_puts(&b, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":"
                    "{\"resourceVersion\":\"1\"},\"items\":[");
    for (int k = from; k < to; k++) {
        int t = created0 + (k * step) % 1000;
        fl_buf_printf(&b,
                      "%s{\"metadata\":{\"name\":\"p-%03d\",\"namespace\":\"ns-%d\",\"uid\":"
                      "\"%s-%d\",\"resourceVersion\":\"%d\",\"creationTimestamp\":"
                      "\"2026-01-01T%02d:%02d:%02dZ\",\"labels\":{\"app\":\"app-%d\","
                      "\"tier\":\"%s\"}},"
                      "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                      "\"resources\":{\"requests\":{\"cpu\":\"%dm\"}}}]},"
                      "\"status\":{\"phase\":\"%s\"}}",
                      k > from ? "," : "", k, k % 3, cluster, k, k + 1, t / 3600, t / 60 % 60,
                      t % 60, k % 4, k % 5 < 2 ? "web" : "db", 50 + 25 * (k % 5), phases[k % 3]);
    }
    fl_buf_puts(&b, "]}");
    T_EQ_INT(fl_index_submit_list(idx, &src, b.data, b.len, NULL), 0);
    fl_buf_done(&b);
}

static void submit_pod_event(fl_index *idx, const char *cluster, const char *type, int k,
                             const char *uid, const char *created, const char *phase, int app)
{
    fl_index_src src = {cluster, "", "v1", "pods", "Pod"};
    char ev[1024];
    snprintf(ev, sizeof ev,
             "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
             "\"metadata\":{\"name\":\"p-%03d\",\"namespace\":\"ns-%d\",\"uid\":\"%s\","
             "\"resourceVersion\":\"%d\",\"creationTimestamp\":\"%s\",\"labels\":"
             "{\"app\":\"app-%d\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
             "\"image\":\"i\"}]},\"status\":{\"phase\":\"%s\"}}}",
             type, k, k % 3, uid, 5000 + k, created, app, phase);
    T_EQ_INT(fl_index_submit_event(idx, &src, ev, strlen(ev), NULL), 0);
}

/* A page of q_sorted (a query ending in ORDER BY created, not driven)
 * with " LIMIT n OFFSET m" is driven and answers lines [m, m + n) of it. */
static void expect_page(fl_index_reader *rd, const char *q_sorted, const sql_scope *scope, int n,
                        int m, fl_buf *all, fl_buf *page, fl_buf *want)
{
    char text[1024];
    bool driven = true;
    run_rows(rd, q_sorted, scope, all, &driven);
    T_CHECK(!driven);
    snprintf(text, sizeof text, "%s LIMIT %d OFFSET %d", q_sorted, n, m);
    run_rows(rd, text, scope, page, &driven);
    T_CHECK(driven);
    slice_lines(all->data, m, n, want);
    if (strcmp(page->data, want->data) != 0)
        fprintf(stderr, "%s\n  driven:\n%s  sorted:\n%s", text, page->data, want->data);
    T_EQ_STR(page->data, want->data);
}

/* The driven label page (schema v7's labels.created) answers what the sorted
 * plan answers: every LIMIT/OFFSET, both directions, WITH DELETED, FROM
 * objects, a scoped user, a resource join; after deletes, a phase change
 * and a pod recreated under its name with a new creation time (its label
 * rows must follow); with ties in creation time, pages partition. */
static void test_drive_results(void)
{
    char dir[] = "/tmp/flotilla-test-sqld-XXXXXX", path[128], cmd[160];
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    io.path = path;
    fl_index *idx = NULL;
    fl_index_reader *rd = NULL;
    T_EQ_INT(fl_index_open(&io, &idx, NULL), 0);
    submit_pods(idx, "c-0", 0, 120, 0, 53);    /* distinct creation times */
    submit_pods(idx, "c-1", 0, 120, 1000, 37); /* later ones */
    submit_pods(idx, "c-2", 0, 24, 600, 0);    /* all at the same second */
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    for (int k = 0; k < 120; k += 10)
        submit_pod_event(idx, "c-0", "DELETED", k, "c-0-0", "2026-01-01T00:00:00Z", "Running", 0);
    submit_pod_event(idx, "c-1", "ADDED", 5, "again-5", "2026-01-01T09:00:00Z", "Pending", 1);
    submit_pod_event(idx, "c-1", "MODIFIED", 9, "c-1-9", "2026-01-01T00:17:16Z", "Running", 1);
    T_EQ_INT(fl_index_flush(idx, 10000), 0);
    T_EQ_INT(fl_index_reader_new(idx, &rd, NULL), 0);

    fl_buf all, page, want;
    fl_buf_init(&all, 1u << 20), fl_buf_init(&page, 1u << 20), fl_buf_init(&want, 1u << 20);
    static const int pages[][2] = {{5, 0}, {7, 3}, {50, 0}, {3, 40}, {4, 1000}};
    const char *const sorted[] = {
        "SELECT cluster, namespace, name, phase, created FROM pods WHERE labels.app = 'app-1' "
        "AND phase != 'Running' AND cluster != 'c-2' ORDER BY created DESC",
        "SELECT cluster, name, created FROM pods WHERE cluster != 'c-2' AND labels.app = "
        "'app-1' ORDER BY created",
        "SELECT cluster, name, \"deleted\" FROM pods WITH DELETED WHERE phase != 'Running' AND "
        "labels.app = 'app-2' AND cluster IN ('c-0', 'c-1') ORDER BY created DESC",
        "SELECT kind, cluster, name FROM objects WHERE labels.app = 'app-3' AND cluster != "
        "'c-2' ORDER BY metadata.creationTimestamp",
        "SELECT name, requests.cpu FROM pods WHERE labels.app = 'app-0' AND requests.cpu > "
        "'100m' AND cluster != 'c-2' ORDER BY created DESC",
        "SELECT cluster, name FROM pods WHERE labels.app = 'app-1' AND cluster != 'c-2' AND "
        "(labels.tier = 'web' AND phase != 'Failed') ORDER BY created DESC",
    };
    for (size_t q = 0; q < FL_ARRAY_LEN(sorted); q++)
        for (size_t i = 0; i < FL_ARRAY_LEN(pages); i++)
            expect_page(rd, sorted[q], &admin, pages[i][0], pages[i][1], &all, &page, &want);

    /* the recreated pod is first (its label rows carry its new creation time) */
    bool driven = false;
    run_rows(rd,
             "SELECT cluster, name, phase FROM pods WHERE labels.app = 'app-1' ORDER BY created "
             "DESC LIMIT 1",
             &admin, &page, &driven);
    T_CHECK(driven);
    T_EQ_STR(page.data, "c-1|p-005|Pending\n");

    /* a scoped user's page: the scope filters before the LIMIT counts */
    const char *cl[] = {"c-1"}, *ns[] = {"ns-1"}, *res[] = {"pods"};
    sql_scope_term term = {cl, 1, ns, 1, res, 1};
    sql_scope scoped = {false, false, &term, 1};
    for (size_t i = 0; i < FL_ARRAY_LEN(pages); i++)
        expect_page(rd,
                    "SELECT cluster, namespace, name FROM pods WHERE labels.app = 'app-1' ORDER "
                    "BY created DESC",
                    &scoped, pages[i][0], pages[i][1], &all, &page, &want);
    run_rows(rd, "SELECT count(*) FROM pods WHERE labels.app = 'app-1'", &scoped, &all, &driven);
    T_EQ_STR(all.data, "10\n"); /* c-1's ns-1 pods (k % 3 == 1) of app-1 (k % 4 == 1) */

    /* ties (c-2: one creation time): pages of 3 partition the 6 app-1 pods */
    fl_buf names = FL_BUF_INIT(1u << 16);
    fl_buf_puts(&names, "");
    for (int m = 0; m < 9; m += 3) {
        char text[256];
        snprintf(text, sizeof text,
                 "SELECT name FROM pods WHERE labels.app = 'app-1' AND cluster = 'c-2' ORDER BY "
                 "created DESC LIMIT 3 OFFSET %d",
                 m);
        run_rows(rd, text, &admin, &page, &driven);
        T_CHECK(driven);
        fl_buf_puts(&names, page.data);
    }
    T_EQ_STR(names.data, "p-021\np-017\np-013\np-009\np-005\np-001\n"); /* by id, newest */
    fl_buf_done(&names);

    fl_buf_done(&all), fl_buf_done(&page), fl_buf_done(&want);
    fl_index_reader_free(rd);
    fl_index_close(idx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ_INT(system(cmd), 0);
}

int main(void)
{
    T_EQ_INT(fl_kube_resources_new(true, &reg), 0);
    test_precedence();
    test_quoting_unicode_keywords();
    test_errors();
    test_caps();
    test_injection();
    test_columns();
    test_scope();
    test_params();
    test_plans();
    test_drive_results();
    fl_kube_resources_free(reg);
    return t_done();
}
