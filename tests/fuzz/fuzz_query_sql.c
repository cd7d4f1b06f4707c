/*
 * tests/fuzz/fuzz_query_sql.c: the SQL-like language (query/sql_*.c) on
 * arbitrary input: parse, compile for an admin and for a scoped caller,
 * and run every statement that compiles on an empty index (read-only
 * connection, authorizer, 50 ms budget). Property: whatever the input, a
 * compiled statement is valid SQLite that the authorizer accepts — the run
 * returns 0 or -ETIMEDOUT, never FL_ESQL or FL_EFORBIDDEN (that would be a
 * compiler bug, or user text reaching the SQL).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/sql_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fl_kube_resources *reg;
static fl_index *idx;
static fl_index_reader *rd;

static int on_row(void *arg, const fl_index_sql_value *cols, size_t n)
{
    (void)arg;
    (void)cols;
    (void)n;
    return 0;
}

static char dir[] = "/tmp/fuzz-sql-XXXXXX";

/* At exit: close the index and remove its files. */
static void teardown(void)
{
    static const char *const files[] = {"index.db", "index.db-wal", "index.db-shm"};
    char path[96];
    fl_index_reader_free(rd);
    fl_index_close(idx);
    for (size_t i = 0; i < FL_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void setup(void)
{
    char path[64];
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    o.decoder_threads = 1;
    if (fl_kube_resources_new(true, &reg) || fl_index_open(&o, &idx, NULL) ||
        fl_index_reader_new(idx, &rd, NULL))
        abort();
    atexit(teardown);
}

static void run(const sql_query *q, const sql_scope *s)
{
    fl_index_sql_value up[4] = {{FL_INDEX_SQL_TEXT, 0, 0, "x", 1},
                                {FL_INDEX_SQL_INT, 1, 0, NULL, 0},
                                {FL_INDEX_SQL_REAL, 0, 1.5, NULL, 0},
                                {FL_INDEX_SQL_NULL, 0, 0, NULL, 0}};
    sql_compiled c;
    fl_err err = FL_ERR_INIT;
    if (sql_compile(q, reg, s, up, 4, &c, &err) != 0)
        return;
    fl_index_sql_opts o = {50, 100, false};
    fl_index_sql_result res;
    int rc = fl_index_sql_run(rd, c.sql.data, c.params, c.nparams, &o, on_row, NULL, &res, &err);
    if (rc != 0 && rc != -ETIMEDOUT) {
        fprintf(stderr, "compiled statement failed (%d): %s\n%s\n", rc, err.msg, c.sql.data);
        abort();
    }
    sql_compiled_done(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!reg)
        setup();
    sql_query *q = NULL;
    if (sql_parse((const char *)data, size, &q, NULL) != 0)
        return 0;
    static const char *const cl[] = {"east-1"}, *ns[] = {"team-a"}, *res[] = {"pods", "nodes"};
    sql_scope_term t = {cl, 1, ns, 1, res, 2};
    sql_scope admin = {true, true, NULL, 0}, scoped = {false, false, &t, 1};
    run(q, &admin);
    run(q, &scoped);
    sql_query_free(q);
    return 0;
}
