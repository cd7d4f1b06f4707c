/*
 * tests/index/test_budget.c: a reader's time budget (#19.3): a statement
 * still running when the budget is spent is interrupted by SQLite's
 * progress handler, and a list that runs past it fails with -ETIMEDOUT and
 * a message naming the budget; without a budget the same reader works.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/index.h"
#include "index/index_int.h"
#include "tests/test.h"

static int slow_cb(void *arg, const fl_index_row *row)
{
    usleep(2000); /* the caller's work per row counts against the budget too */
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/flotilla-budget-XXXXXX", path[128], cmd[160];
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/index.db", dir);
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_index *idx = NULL;
    fl_index_reader *r = NULL;
    fl_err err = FL_ERR_INIT;
    io.path = path;
    T_EQ_INT(fl_index_open(&io, &idx, NULL), 0);
    T_EQ_INT(fl_index_reader_new(idx, &r, NULL), 0);

    /* a runaway statement is interrupted */
    fl_index_reader_set_budget(r, 100);
    int64_t t0 = fl_mono_ms();
    int rc = sqlite3_exec(fl_index_reader_db(r),
                          "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c"
                          " WHERE x < 2000000000) SELECT count(*) FROM c",
                          NULL, NULL, NULL);
    T_EQ_INT(rc, SQLITE_INTERRUPT);
    T_CHECK(fl_mono_ms() - t0 < 2000);

    /* a list past its budget: -ETIMEDOUT with the budget in the message */
    fl_index_reader_set_budget(r, 1);
    usleep(5000);
    fl_index_query q = FL_INDEX_QUERY_INIT;
    q.group = "";
    q.resource = "pods";
    q.text = "anything";
    rc = fl_index_list(r, &q, slow_cb, NULL, NULL, &err);
    T_CHECK(rc == 0 || rc == -ETIMEDOUT); /* an empty index may finish first */
    if (rc == -ETIMEDOUT)
        T_CHECK(strstr(err.msg, "1 ms budget") != NULL);

    /* no budget: works */
    fl_index_reader_set_budget(r, 0);
    rc = sqlite3_exec(fl_index_reader_db(r), "SELECT 1", NULL, NULL, NULL);
    T_EQ_INT(rc, SQLITE_OK);
    T_EQ_INT(fl_index_list(r, &q, slow_cb, NULL, NULL, &err), 0);

    fl_index_reader_free(r);
    fl_index_close(idx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_EQ_INT(system(cmd), 0);
    return t_done();
}
