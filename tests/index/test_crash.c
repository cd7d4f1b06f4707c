/*
 * tests/index/test_crash.c: crash safety. 25 times, a child
 * process opens the index, continues the sequence of batches where the
 * database stops, and is killed with SIGKILL at a random moment. After
 * each kill the database must open, pass PRAGMA integrity_check, and hold
 * exactly a prefix of the batch sequence — every batch whole or absent,
 * no gaps — covering at least every batch the child saw committed. Every
 * other kill comes after the child's first commit.
 * A batch is one list page: 100 new pods plus an update of the first pod
 * of the previous batch (so rows are both inserted and rewritten; when the
 * two batches share a transaction the writer coalesces create+update).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "index/index.h"
#include "tests/test.h"

#define K 100
#define ROUNDS 25

static const fl_index_src PODS = {"east", "", "v1", "pods", "Pod"};

static void pod(fl_buf *b, int batch, int j, int rv)
{
    fl_buf_printf(
        b,
        "{\"metadata\":{\"name\":\"b%05d-%03d\",\"namespace\":\"ns%d\",\"uid\":\"u%d-%d\","
        "\"resourceVersion\":\"%d\",\"labels\":{\"batch\":\"%d\",\"app\":\"crash\"},"
        "\"managedFields\":[{\"manager\":\"m\",\"fieldsV1\":{\"f:spec\":{}}}]},"
        "\"spec\":{\"nodeName\":\"n%d\",\"containers\":[{\"name\":\"c\",\"image\":\"img:%d\","
        "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]},"
        "\"status\":{\"phase\":\"Running\"}}",
        batch, j, j % 7, batch, j, rv, batch, j % 13, batch);
}

static char *page(int batch)
{
    fl_buf b = FL_BUF_INIT(1 << 24);
    fl_buf_puts(&b, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[");
    for (int j = 0; j < K; j++) {
        if (j)
            fl_buf_puts(&b, ",");
        pod(&b, batch, j, 1);
    }
    if (batch > 0) {
        fl_buf_puts(&b, ",");
        pod(&b, batch - 1, 0, batch + 1); /* new RV: a real update */
    }
    fl_buf_puts(&b, "]}");
    return fl_buf_steal(&b);
}

/* Number of whole batches, or -1 when the content is not a clean prefix. */
static int verify(const char *path, int *integrity_ok)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int n = 0, bad = 0;
    *integrity_ok = 0;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        *integrity_ok = strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
    sqlite3_finalize(s);
    s = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT CAST(substr(o.name, 2, 5) AS INTEGER) AS b, count(DISTINCT o.id),"
                       " count(l.obj_id) FROM objects o LEFT JOIN labels l ON l.obj_id = o.id"
                       " GROUP BY b ORDER BY b",
                       -1, &s, NULL);
    while (s && sqlite3_step(s) == SQLITE_ROW) {
        if (sqlite3_column_int(s, 0) != n || sqlite3_column_int(s, 1) != K ||
            sqlite3_column_int(s, 2) != 2 * K) {
            fprintf(stderr, "batch %d: number %d, %d objects, %d labels\n", n,
                    sqlite3_column_int(s, 0), sqlite3_column_int(s, 1), sqlite3_column_int(s, 2));
            bad++;
        }
        n++;
    }
    sqlite3_finalize(s);
    /* the update riding in batch n-1 is there too, and the revision adds up */
    long long rev = -1, log = -2, upd = -3;
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT value FROM meta WHERE key = 'revision'),"
                           " (SELECT count(*) FROM changelog),"
                           " (SELECT count(*) FROM objects WHERE rv != '1')",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        rev = sqlite3_column_int64(s, 0), log = sqlite3_column_int64(s, 1);
        upd = sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    long long want_upd = n > 0 ? n - 1 : 0;
    /* an update may have been coalesced into the create of the same batch
     * pair (create+update -> create), so it adds 0 or 1 revision */
    if (upd != want_upd || rev != log || rev < (long long)n * K ||
        rev > (long long)n * K + want_upd) {
        fprintf(stderr, "%d batches: revision %lld, change log %lld, updated %lld\n", n, rev, log,
                upd);
        bad++;
    }
    return bad ? -1 : n;
}

static void child(const char *path, int start, int ackfd)
{
    fl_index_opts o = FL_INDEX_OPTS_INIT;
    o.path = path;
    o.cache_kib = 2048;
    o.decoder_threads = 2;
    fl_index *idx = NULL;
    if (fl_index_open(&o, &idx, NULL) != 0)
        _exit(3);
    for (int b = start;; b++) {
        char *p = page(b);
        while (fl_index_submit_list(idx, &PODS, p, strlen(p), NULL) == FL_EFULL)
            usleep(1000);
        free(p);
        if (b % 3 == 2) {
            if (fl_index_flush(idx, 10000) == 0) {
                int acked = b;
                if (write(ackfd, &acked, sizeof acked) != sizeof acked)
                    _exit(4);
            }
        }
    }
}

int main(void)
{
    char dir[] = "/tmp/fl-index-crash-XXXXXX", path[300];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/crash.db", dir);
    srand(20261122);
    int have = 0, max_acked = -1, rounds_ok = 0, progress = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        T_EQ_INT(pipe(fds), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            child(path, have, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        int st = 0, acked;
        /* even rounds: a random moment from the start (opening included);
         * odd rounds: a random moment after the child's first commit, so
         * progress does not depend on how loaded the machine is */
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        if (round % 2 && poll(&pf, 1, 60000) == 1 &&
            read(fds[0], &acked, sizeof acked) == sizeof acked)
            max_acked = acked > max_acked ? acked : max_acked;
        usleep((useconds_t)(50000 + rand() % 350000));
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        T_CHECK(WIFSIGNALED(st));
        while (read(fds[0], &acked, sizeof acked) == sizeof acked)
            max_acked = acked > max_acked ? acked : max_acked;
        close(fds[0]);

        int ok = 0, n = verify(path, &ok);
        T_CHECK(ok);
        T_CHECK(n >= 0);
        T_CHECK(n >= max_acked + 1); /* everything acknowledged survived */
        if (n > have)
            progress++;
        if (ok && n >= 0 && n >= max_acked + 1)
            rounds_ok++;
        if (n >= 0)
            have = n;
        /* the index itself opens it cleanly too */
        fl_index_opts o = FL_INDEX_OPTS_INIT;
        o.path = path;
        fl_index *idx = NULL;
        T_EQ_INT(fl_index_open(&o, &idx, NULL), 0);
        fl_index_close(idx);
    }
    fprintf(stderr, "%d rounds ok, %d batches committed, %d rounds made progress\n", rounds_ok,
            have, progress);
    T_EQ_INT(rounds_ok, ROUNDS);
    T_CHECK(progress >= ROUNDS / 2); /* the odd rounds kill after a commit */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return t_done();
}
