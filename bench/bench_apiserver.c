/*
 * bench/bench_apiserver.c: the apiserver's stores, in one run — creates,
 * updates and watch fan-out on the in-memory store and on the durable one
 * (SQLite, WAL, synchronous=FULL), beside raw SQLite commits with
 * synchronous=FULL on the same disk: the limit for acknowledged writes
 * (one fsync'd transaction each). Prints figures; never fails on time.
 *   bench_apiserver [DIR]   (DIR: where the files go; default ".")
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apiserver/apiserver.h"

static const char *const no_strs[] = {NULL};
static const fl_kube_resource cm_kr = {
    .group = "",
    .version = "v1",
    .resource = "configmaps",
    .singular = "configmap",
    .kind = "ConfigMap",
    .list_kind = "ConfigMapList",
    .namespaced = true,
    .verbs = no_strs,
    .short_names = no_strs,
    .categories = no_strs,
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *cm(int i, int gen)
{
    char name[32], v[300];
    snprintf(name, sizeof name, "cm-%06d", i);
    snprintf(v, sizeof v, "%d-%0256d", gen, i);
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:{s:s}}", "kind", "ConfigMap", "apiVersion",
                     "v1", "metadata", "name", name, "namespace", "default", "labels", "app",
                     "bench", "data", "v", v);
}

typedef struct counter {
    pthread_mutex_t mu;
    long lines;
} counter;

static int count_write(void *ud, const char *data, size_t len)
{
    counter *c = ud;
    pthread_mutex_lock(&c->mu);
    c->lines++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void count_end(void *ud) {}

static void run(const char *label, const char *path, int n, int watchers)
{
    fl_apiserver_store_opts so = {.history = 100000, .bookmark_s = 3600};
    fl_apiserver_store *st = NULL;
    fl_err err = FL_ERR_INIT;
    int rc =
        path ? fl_apiserver_store_open(&so, path, &st, &err) : fl_apiserver_store_new(&so, &st);
    if (rc != 0 || fl_apiserver_store_add_res(st, &cm_kr) != 0) {
        fprintf(stderr, "%s: open: %s\n", label, err.msg);
        exit(1);
    }
    const fl_apiserver_res *r = fl_apiserver_store_find(st, "", "v1", "configmaps");
    counter cnt = {PTHREAD_MUTEX_INITIALIZER, 0};
    for (int w = 0; w < watchers; w++) {
        fl_apiserver_watch_req q = {.ns = "", .from_rv = fl_apiserver_store_rv(st)};
        fl_apiserver_watch *wh = NULL;
        uint64_t oldest = 0;
        if (fl_apiserver_store_watch(st, r, &q, count_write, count_end, &cnt, &wh, &oldest) != 0) {
            fprintf(stderr, "watch failed\n");
            exit(1);
        }
    }
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        json_t *o = cm(i, 0);
        if (fl_apiserver_store_create(st, r, o, NULL) != 0)
            exit(1);
        json_decref(o);
    }
    double t1 = now_s();
    for (int i = 0; i < n; i++) {
        json_t *o = cm(i, 1);
        if (fl_apiserver_store_update(st, r, o, 0, NULL) != 0)
            exit(1);
        json_decref(o);
    }
    double t2 = now_s();
    printf("| %s | %d | %.0f | %.0f | %d | %.0f |\n", label, n, n / (t1 - t0), n / (t2 - t1),
           watchers, (double)cnt.lines / (t2 - t0));
    fl_apiserver_store_free(st);
}

/* N clients at once, each creating its own share of n objects. */
typedef struct client {
    fl_apiserver_store *st;
    const fl_apiserver_res *r;
    int id, n;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    for (int i = 0; i < c->n; i++) {
        json_t *o = cm(c->id * 1000000 + i, 0);
        if (fl_apiserver_store_create(c->st, c->r, o, NULL) != 0)
            exit(1);
        json_decref(o);
    }
    return NULL;
}

static void run_clients(const char *path, int n, int clients)
{
    fl_apiserver_store_opts so = {.history = 100000, .bookmark_s = 3600};
    fl_apiserver_store *st = NULL;
    fl_err err = FL_ERR_INIT;
    unlink(path);
    if (fl_apiserver_store_open(&so, path, &st, &err) != 0 ||
        fl_apiserver_store_add_res(st, &cm_kr) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    client c[64];
    pthread_t t[64];
    clients = clients > 64 ? 64 : clients;
    double t0 = now_s();
    for (int i = 0; i < clients; i++) {
        c[i] = (client){st, fl_apiserver_store_find(st, "", "v1", "configmaps"), i, n / clients};
        if (pthread_create(&t[i], NULL, client_main, &c[i]) != 0)
            exit(1);
    }
    for (int i = 0; i < clients; i++)
        pthread_join(t[i], NULL);
    double t1 = now_s();
    printf("| durable (control.db), concurrent creates | %d | %d | %.0f |\n", clients,
           n / clients * clients, n / clients * clients / (t1 - t0));
    fl_apiserver_store_free(st);
}

static void raw_sqlite(const char *path, int n)
{
    sqlite3 *db = NULL;
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        exit(1);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE t(k TEXT PRIMARY KEY, v BLOB)",
                 NULL, NULL, NULL);
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO t VALUES(?1, ?2)", -1, &s, NULL);
    char v[400];
    memset(v, 'x', sizeof v);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "cm-%06d", i);
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        sqlite3_bind_text(s, 1, k, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(s, 2, v, sizeof v, SQLITE_STATIC);
        sqlite3_step(s);
        sqlite3_reset(s);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double t1 = now_s();
    printf("| raw SQLite, one 400-byte row per synchronous=FULL commit | %d | %.0f | | | |\n", n,
           n / (t1 - t0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[4096], raw[4096];
    snprintf(path, sizeof path, "%s/bench-control.db", dir);
    snprintf(raw, sizeof raw, "%s/bench-raw.db", dir);
    printf("| store | objects | creates/s | updates/s | watchers | events delivered/s |\n"
           "|---|---:|---:|---:|---:|---:|\n");
    for (int w = 0; w <= 100; w += 100) {
        run("memory", NULL, 20000, w);
        unlink(path);
        run("durable (control.db)", path, 2000, w);
    }
    raw_sqlite(raw, 2000);
    printf("\n| store | clients | objects | writes/s |\n|---|---:|---:|---:|\n");
    const int clients[] = {1, 4, 16, 64};
    for (size_t i = 0; i < FL_ARRAY_LEN(clients); i++)
        run_clients(path, 2000, clients[i]);
    char tmp[4200];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(tmp, sizeof tmp, "%s%s", path, sfx[i]);
        unlink(tmp);
        snprintf(tmp, sizeof tmp, "%s%s", raw, sfx[i]);
        unlink(tmp);
    }
    return 0;
}
