/*
 * cmd/sqlq.c: `flotilla query "SELECT ..."` — runs one query of the
 * SQL-like language (query/SQL.md) on the daemon's POST /query and prints
 * the answer as a table (default), JSON, CSV or YAML; --plan prints the
 * compiled statement, how each column compiled (materialized column,
 * labels table or JSON scan) and SQLite's query plan. Server and
 * credentials as for `flotilla clusters` (cmd/daemon_conn.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "kube/kube.h"

typedef struct sopts {
    cmd_conn_opts conn;
    const char *output, *text;
    const char *params[100];
    int nparams;
    bool plan;
} sopts;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: flotilla query [--server URL] [--token T] [-o table|json|csv|yaml] [--plan]\n"
            "                      [-p VALUE]... [--kubeconfig FILE [--context C]]\n"
            "                      [--certificate-authority FILE] [--insecure-skip-tls-verify]\n"
            "                      \"SELECT ...\"   (or - to read the query from stdin)\n\n"
            "Run a query of the SQL-like language over every cluster the daemon indexes\n"
            "(query/SQL.md), e.g.\n"
            "  flotilla query \"SELECT cluster, count(*) FROM pods GROUP BY cluster\"\n"
            "-p VALUE binds $1, $2, ... (or ?) in order: JSON (42, true, null) or else a string.\n"
            "--plan shows the compiled SQL, which columns are materialized (indexed) and\n"
            "which read the object's JSON, and SQLite's plan. A capped answer says so on\n"
            "stderr (the daemon's row cap); a query over its time budget fails.\n"
            "Server and credentials as for `flotilla clusters` (default %s).\n",
            CMD_DEFAULT_SERVER);
}

static int parse(int argc, char **argv, sopts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **slot = NULL;
        int k = cmd_conn_flag(&o->conn, argc, argv, &i, "flotilla query");
        if (k < 0)
            return 2;
        if (k)
            continue;
        if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            slot = &o->output;
        else if (!strcmp(a, "--plan"))
            o->plan = true;
        else if (!strcmp(a, "-p") || !strcmp(a, "--param")) {
            if (i + 1 >= argc || o->nparams == 100) {
                fprintf(stderr, "flotilla query: %s needs a value (at most 100)\n", a);
                return 2;
            }
            o->params[o->nparams++] = argv[++i];
        } else if (!o->text && (a[0] != '-' || !strcmp(a, "-")))
            o->text = a;
        else {
            fprintf(stderr, "flotilla query: unknown argument \"%s\"\n", a);
            return 2;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flotilla query: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        }
    }
    if (!o->text) {
        fprintf(stderr, "flotilla query: no query given\n");
        return 2;
    }
    if (o->output && strcmp(o->output, "table") && strcmp(o->output, "json") &&
        strcmp(o->output, "csv") && strcmp(o->output, "yaml")) {
        fprintf(stderr, "flotilla query: -o must be table, json, csv or yaml\n");
        return 2;
    }
    return 0;
}

/* A cell as text: strings bare, null empty, anything else as JSON. */
static char *cell_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_null(v) || !v)
        return strdup("");
    fl_buf b = FL_BUF_INIT(1u << 20);
    if (fl_json_encode(v, false, &b) < 0) {
        fl_buf_done(&b);
        return strdup("?");
    }
    return fl_buf_steal(&b);
}

static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void print_table(const json_t *cols, const json_t *rows)
{
    size_t nc = json_array_size(cols), nr = json_array_size(rows);
    size_t *w = calloc(nc ? nc : 1, sizeof *w);
    if (!w)
        return;
    for (size_t c = 0; c < nc; c++)
        w[c] = width(json_string_value(json_array_get(cols, c)));
    for (size_t r = 0; r < nr; r++)
        for (size_t c = 0; c < nc; c++) {
            char *t = cell_text(json_array_get(json_array_get(rows, r), c));
            if (t && width(t) > w[c])
                w[c] = width(t) > 80 ? 80 : width(t);
            free(t);
        }
    for (size_t c = 0; c < nc; c++) {
        const char *h = json_string_value(json_array_get(cols, c));
        printf("%s%*s", h, c + 1 < nc ? (int)(w[c] - width(h) + 3) : 0, "");
    }
    printf("\n");
    for (size_t r = 0; r < nr; r++) {
        for (size_t c = 0; c < nc; c++) {
            char *t = cell_text(json_array_get(json_array_get(rows, r), c));
            const char *s = t ? t : "";
            size_t tw = width(s);
            printf("%s%*s", s, c + 1 < nc ? (int)(tw < w[c] ? w[c] - tw + 3 : 3) : 0, "");
            free(t);
        }
        printf("\n");
    }
    free(w);
}

static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const json_t *cols, const json_t *rows)
{
    size_t nc = json_array_size(cols);
    for (size_t c = 0; c < nc; c++) {
        if (c)
            putchar(',');
        csv_field(json_string_value(json_array_get(cols, c)));
    }
    putchar('\n');
    for (size_t r = 0; r < json_array_size(rows); r++) {
        for (size_t c = 0; c < nc; c++) {
            char *t = cell_text(json_array_get(json_array_get(rows, r), c));
            if (c)
                putchar(',');
            csv_field(t ? t : "");
            free(t);
        }
        putchar('\n');
    }
}

/* YAML: a list of mappings; every value written as JSON (valid YAML). */
static void print_yaml(const json_t *cols, const json_t *rows)
{
    size_t nc = json_array_size(cols);
    if (!json_array_size(rows))
        printf("[]\n");
    for (size_t r = 0; r < json_array_size(rows); r++) {
        for (size_t c = 0; c < nc; c++) {
            fl_buf k = FL_BUF_INIT(4096), v = FL_BUF_INIT(1u << 20);
            json_t *key = json_array_get(cols, c);
            const json_t *val = json_array_get(json_array_get(rows, r), c);
            if (fl_json_encode(key, false, &k) == 0 && fl_json_encode(val, false, &v) == 0) {
                while (k.len && k.data[k.len - 1] == '\n')
                    k.data[--k.len] = 0;
                while (v.len && v.data[v.len - 1] == '\n')
                    v.data[--v.len] = 0;
                printf("%s%s: %s\n", c ? "  " : "- ", k.data, v.data);
            }
            fl_buf_done(&k);
            fl_buf_done(&v);
        }
    }
}

static void print_plan(const json_t *doc)
{
    printf("SQL:\n  %s\n", json_string_value(json_object_get(doc, "sql")));
    printf("Columns:\n");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "notes"), i, v)
        printf("  %s\n", json_string_value(v));
    printf("Plan:\n");
    json_array_foreach(json_object_get(doc, "plan"), i, v)
        printf("  %s\n", json_string_value(v));
}

static json_t *request_body(const sopts *o, const char *text)
{
    json_t *params = json_array();
    for (int i = 0; params && i < o->nparams; i++) {
        json_t *v = json_loads(o->params[i], JSON_DECODE_ANY, NULL);
        if (!v || json_is_object(v) || json_is_array(v)) {
            json_decref(v);
            v = json_string(o->params[i]);
        }
        json_array_append_new(params, v);
    }
    return json_pack("{s:s, s:o, s:b}", "sql", text, "params", params ? params : json_array(),
                     "plan", o->plan);
}

int cmd_query(int argc, char **argv)
{
    sopts o = {0};
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    fl_buf in = FL_BUF_INIT(4u << 20);
    const char *text = o.text;
    if (!strcmp(text, "-")) {
        if (fl_buf_read_file(&in, "/dev/stdin", NULL) < 0) {
            fprintf(stderr, "flotilla query: cannot read the query from stdin\n");
            fl_buf_done(&in);
            return 1;
        }
        text = in.data ? in.data : "";
    }
    cmd_conn_opts c = o.conn;
    cmd_conn_env(&c);
    fl_kube_conn *conn = NULL;
    json_t *body = request_body(&o, text), *doc = NULL;
    fl_buf_done(&in);
    fl_buf enc = FL_BUF_INIT(16u << 20);
    if (!body || fl_json_encode(body, false, &enc) < 0) {
        fprintf(stderr, "flotilla query: out of memory\n");
        json_decref(body);
        fl_buf_done(&enc);
        return 1;
    }
    json_decref(body);
    if (cmd_daemon_connect(&c, "flotilla query", &conn)) {
        fl_buf_done(&enc);
        return 1;
    }
    fl_kube_request rq = FL_KUBE_REQUEST_INIT;
    rq.method = FL_KUBE_POST;
    rq.path = "/query";
    rq.body = enc.data;
    rq.body_len = enc.len;
    rq.timeout_ms = 120000;
    fl_kube_response res;
    fl_err err = FL_ERR_INIT;
    int rc = fl_kube_request_sync(conn, &rq, NULL, &res, &err);
    if (!rc && fl_json_parse(res.body.data ? res.body.data : "", res.body.len, &doc, &err))
        rc = FL_EPARSE;
    if (rc)
        fprintf(stderr, "flotilla query: %s\n", res.message[0] ? res.message : err.msg);
    fl_kube_response_done(&res);
    fl_kube_conn_unref(conn);
    fl_buf_done(&enc);
    if (rc)
        return 1;
    const json_t *cols = json_object_get(doc, "columns"), *rows = json_object_get(doc, "rows");
    if (o.plan)
        print_plan(doc);
    else if (o.output && !strcmp(o.output, "json")) {
        cmd_print_json(doc);
    } else if (o.output && !strcmp(o.output, "csv"))
        print_csv(cols, rows);
    else if (o.output && !strcmp(o.output, "yaml"))
        print_yaml(cols, rows);
    else
        print_table(cols, rows);
    if (json_is_true(json_object_get(doc, "truncated")))
        fprintf(stderr, "flotilla query: answer truncated at %lld rows (the daemon's row cap)\n",
                (long long)json_array_size(rows));
    json_decref(doc);
    return 0;
}
