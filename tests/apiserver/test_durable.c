/*
 * tests/apiserver/test_durable.c: the durable store (apiserver/durable.c)
 * on a real SQLite file: writes survive close and reopen with the same
 * objects and resourceVersions; the change log is reloaded, so watches
 * and lists from a resourceVersion before the open replay it (410 beyond
 * the bounded history); concurrent writers share group commits and every
 * acknowledged write is there after reopen; a
 * failed commit (a full disk, made with RLIMIT_FSIZE) answers FL_ESQL and
 * changes nothing, reads go on, and writes work again once there is room;
 * a corrupt file is refused with its name
 * and SQLite's words; an online backup reopens to the same state.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/apiserver.h"
#include "tests/test.h"

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

static json_t *cm(const char *name, const char *v)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s}}", "kind", "ConfigMap", "apiVersion", "v1",
                     "metadata", "name", name, "namespace", "default", "data", "v", v);
}

static fl_apiserver_store *open_store(const char *path, const fl_apiserver_res **r)
{
    fl_apiserver_store_opts so = {.history = 100, .bookmark_s = 3600};
    fl_apiserver_store *st = NULL;
    fl_err err = FL_ERR_INIT;
    int rc = fl_apiserver_store_open(&so, path, &st, &err);
    T_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    T_EQ_INT(fl_apiserver_store_add_res(st, &cm_kr), 0);
    *r = fl_apiserver_store_find(st, "", "v1", "configmaps");
    T_CHECK(*r != NULL);
    return st;
}

static const char *data_v(fl_apiserver_store *st, const fl_apiserver_res *r, const char *name,
                          char *buf, size_t n, uint64_t *rv)
{
    fl_apiserver_obj *o = NULL;
    if (fl_apiserver_store_get(st, r, "default", name, &o) != 0)
        return NULL;
    json_t *v = fl_apiserver_obj_parse(o);
    snprintf(buf, n, "%s", fl_obj_str_or(v, "data.v", "?"));
    *rv = o->rv;
    json_decref(v);
    fl_apiserver_obj_unref(o);
    return buf;
}

/* A watch's event lines, summed up as "TYPE name rv," each. */
static int collect(void *ud, const char *data, size_t len)
{
    fl_buf *b = ud;
    json_t *v = json_loadb(data, len, 0, NULL);
    if (v)
        fl_buf_printf(b, "%s %s %s,", fl_obj_str_or(v, "type", "?"),
                      fl_obj_str_or(v, "object.metadata.name", "?"),
                      fl_obj_str_or(v, "object.metadata.resourceVersion", "?"));
    json_decref(v);
    return 0;
}

/* The events a watch from rv replays (the watch ends at once), or
 * "410" when rv is older than the history. */
static const char *watch_types(fl_apiserver_store *st, const fl_apiserver_res *r, uint64_t rv,
                               fl_buf *out)
{
    fl_apiserver_watch_req q = {.from_rv = rv};
    fl_apiserver_watch *w = NULL;
    uint64_t oldest = 0;
    fl_buf_reset(out);
    int rc = fl_apiserver_store_watch(st, r, &q, collect, NULL, out, &w, &oldest);
    if (rc == FL_EGONE)
        return "410";
    T_EQ_INT(rc, 0);
    fl_apiserver_watch_cancel(w);
    fl_buf_puts(out, "");
    return out->data ? out->data : "";
}

static void test_reopen(const char *dir)
{
    char path[512], bak[512], buf[64];
    snprintf(path, sizeof(path), "%s/control.db", dir);
    snprintf(bak, sizeof(bak), "%s/backup.db", dir);
    const fl_apiserver_res *r;
    fl_apiserver_store *st = open_store(path, &r);
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cm-%02d", i);
        json_t *o = cm(name, "one");
        T_EQ_INT(fl_apiserver_store_create(st, r, o, NULL), 0);
        json_decref(o);
    }
    json_t *u = cm("cm-07", "two");
    T_EQ_INT(fl_apiserver_store_update(st, r, u, 0, NULL), 0);
    json_decref(u);
    T_EQ_INT(fl_apiserver_store_delete(st, r, "default", "cm-09", 0, NULL, NULL), 0);
    uint64_t rv = fl_apiserver_store_rv(st), orv = 0;
    T_EQ_INT(rv, 52);
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_apiserver_backup(path, bak, &err), 0);
    fl_apiserver_store_free(st);

    /* reopen: same objects, same resourceVersions, counter goes on */
    st = open_store(path, &r);
    T_EQ_INT(fl_apiserver_store_rv(st), rv);
    T_EQ_STR(data_v(st, r, "cm-07", buf, sizeof(buf), &orv), "two");
    T_EQ_INT(orv, 51);
    T_CHECK(data_v(st, r, "cm-09", buf, sizeof(buf), &orv) == NULL);
    T_EQ_STR(data_v(st, r, "cm-49", buf, sizeof(buf), &orv), "one");
    T_EQ_INT(orv, 50);
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    T_EQ_INT(fl_apiserver_store_list(st, r, &q, &l), 0);
    T_EQ_INT(l.n, 49);
    T_EQ_INT(l.rv, rv);
    fl_apiserver_list_done(&l);
    /* history from before the open: a list at rv 10 is that snapshot,
     * a watch from rv 48 replays each event with its own type */
    fl_apiserver_list_req old = {.at_rv = 10};
    T_EQ_INT(fl_apiserver_store_list(st, r, &old, &l), 0);
    T_EQ_INT(l.n, 10);
    T_EQ_INT(l.rv, 10);
    fl_apiserver_list_done(&l);
    fl_apiserver_list_req before = {.at_rv = 51};
    T_EQ_INT(fl_apiserver_store_list(st, r, &before, &l), 0);
    T_EQ_INT(l.n, 50); /* cm-09 is deleted at 52 */
    fl_apiserver_list_done(&l);
    fl_buf got = FL_BUF_INIT(1u << 20);
    T_EQ_STR(watch_types(st, r, 48, &got), "ADDED cm-48 49,ADDED cm-49 50,MODIFIED cm-07 51,"
                                           "DELETED cm-09 52,");
    fl_buf_done(&got);
    json_t *n = cm("cm-new", "x");
    T_EQ_INT(fl_apiserver_store_create(st, r, n, NULL), 0);
    json_decref(n);
    T_EQ_INT(fl_apiserver_store_rv(st), rv + 1);
    fl_apiserver_store_free(st);

    /* the backup is the state at its time */
    st = open_store(bak, &r);
    T_EQ_INT(fl_apiserver_store_rv(st), rv);
    T_CHECK(data_v(st, r, "cm-new", buf, sizeof(buf), &orv) == NULL);
    T_EQ_STR(data_v(st, r, "cm-07", buf, sizeof(buf), &orv), "two");
    fl_apiserver_store_free(st);
}

/* More changes than the history holds: a watch from before the window
 * answers 410 after a reopen, one inside it resumes. */
static void test_history_bound(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/bound.db", dir);
    const fl_apiserver_res *r;
    fl_apiserver_store *st = open_store(path, &r);
    json_t *o = cm("churn", "0");
    T_EQ_INT(fl_apiserver_store_create(st, r, o, NULL), 0);
    json_decref(o);
    for (int i = 1; i < 150; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        o = cm("churn", v);
        T_EQ_INT(fl_apiserver_store_update(st, r, o, 0, NULL), 0);
        json_decref(o);
    }
    fl_apiserver_store_free(st);
    st = open_store(path, &r);
    fl_buf got = FL_BUF_INIT(1u << 20);
    T_EQ_STR(watch_types(st, r, 20, &got), "410");
    T_EQ_STR(watch_types(st, r, 148, &got), "MODIFIED churn 149,MODIFIED churn 150,");
    fl_apiserver_list_req q = {.at_rv = 20};
    fl_apiserver_list l = {0};
    T_EQ_INT(fl_apiserver_store_list(st, r, &q, &l), FL_EGONE);
    fl_buf_done(&got);
    fl_apiserver_store_free(st);
}

/* Writers at once: each creates its own objects and all update one
 * shared object; every acknowledged write is there after a reopen and
 * resourceVersions are unique. */
typedef struct writer {
    fl_apiserver_store *st;
    const fl_apiserver_res *r;
    int id, ok;
} writer;

#define WRITERS 8
#define WRITES 25

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < WRITES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "w%d-%02d", w->id, i);
        json_t *o = cm(name, "x");
        w->ok += fl_apiserver_store_create(w->st, w->r, o, NULL) == 0;
        json_decref(o);
        o = cm("shared", name);
        w->ok += fl_apiserver_store_update(w->st, w->r, o, 0, NULL) == 0;
        json_decref(o);
    }
    return NULL;
}

static void test_group_commit(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/group.db", dir);
    const fl_apiserver_res *r;
    fl_apiserver_store *st = open_store(path, &r);
    json_t *o = cm("shared", "start");
    T_EQ_INT(fl_apiserver_store_create(st, r, o, NULL), 0);
    json_decref(o);
    fl_buf got = FL_BUF_INIT(1u << 20);
    pthread_t t[WRITERS];
    writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){st, r, i, 0};
        T_EQ_INT(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(t[i], NULL);
        T_EQ_INT(w[i].ok, 2 * WRITES);
    }
    uint64_t rv = fl_apiserver_store_rv(st);
    T_EQ_INT(rv, 1 + 2 * WRITERS * WRITES);
    fl_apiserver_store_free(st);
    st = open_store(path, &r);
    T_EQ_INT(fl_apiserver_store_rv(st), rv);
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    T_EQ_INT(fl_apiserver_store_list(st, r, &q, &l), 0);
    T_EQ_INT(l.n, 1 + WRITERS * WRITES);
    fl_apiserver_list_done(&l);
    /* the last 100 changes replay in order, each rv once */
    watch_types(st, r, rv - 100, &got);
    size_t events = 0;
    for (const char *p = got.data; p && *p; p++)
        events += *p == ',';
    T_EQ_INT(events, 100);
    fl_buf_done(&got);
    fl_apiserver_store_free(st);
}

static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : 0;
}

static void test_full_disk(const char *dir)
{
    char path[512], wal[520], buf[64];
    snprintf(path, sizeof(path), "%s/full.db", dir);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    const fl_apiserver_res *r;
    fl_apiserver_store *st = open_store(path, &r);
    json_t *o = cm("small", "one");
    T_EQ_INT(fl_apiserver_store_create(st, r, o, NULL), 0);
    json_decref(o);
    uint64_t rv = fl_apiserver_store_rv(st), orv = 0;
    /* the disk is full: no file may grow past what it is now */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    off_t cap = file_size(wal) > file_size(path) ? file_size(wal) : file_size(path);
    lim.rlim_cur = (rlim_t)cap + 1;
    lim.rlim_max = old.rlim_max;
    T_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char *big = malloc(200000);
    memset(big, 'b', 199999);
    big[199999] = 0;
    o = cm("big", big);
    T_EQ_INT(fl_apiserver_store_create(st, r, o, NULL), FL_ESQL);
    json_decref(o);
    o = cm("small", big);
    T_EQ_INT(fl_apiserver_store_update(st, r, o, 0, NULL), FL_ESQL);
    json_decref(o);
    /* nothing changed; reads keep working */
    T_EQ_INT(fl_apiserver_store_rv(st), rv);
    T_CHECK(data_v(st, r, "big", buf, sizeof(buf), &orv) == NULL);
    T_EQ_STR(data_v(st, r, "small", buf, sizeof(buf), &orv), "one");
    T_EQ_INT(orv, rv);
    /* room again: writes go on from the same resourceVersion */
    T_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
    o = cm("big", big);
    T_EQ_INT(fl_apiserver_store_create(st, r, o, NULL), 0);
    json_decref(o);
    T_EQ_INT(fl_apiserver_store_rv(st), rv + 1);
    free(big);
    fl_apiserver_store_free(st);
    st = open_store(path, &r);
    T_EQ_INT(fl_apiserver_store_rv(st), rv + 1);
    T_CHECK(data_v(st, r, "big", buf, sizeof(buf), &orv) != NULL);
    T_EQ_INT(orv, rv + 1);
    fl_apiserver_store_free(st);
}

static void test_corrupt(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/bad.db", dir);
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL);
    for (int i = 0; f && i < 512; i++)
        fputs("this is not a database ", f);
    if (f)
        fclose(f);
    fl_apiserver_store_opts so = {.history = 100};
    fl_apiserver_store *st = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_apiserver_store_open(&so, path, &st, &err), FL_ESQL);
    T_CHECK(st == NULL);
    T_CHECK(strstr(err.msg, path) != NULL);
    T_CHECK(strstr(err.msg, "not a database") != NULL);
    fprintf(stderr, "corrupt file refused: %s\n", err.msg);
    /* and left alone */
    f = fopen(path, "r");
    char head[16] = {0};
    T_CHECK(f && fread(head, 1, 15, f) == 15 && !strcmp(head, "this is not a d"));
    if (f)
        fclose(f);
}

int main(void)
{
    char dir[] = "/tmp/fl-durable-XXXXXX";
    T_CHECK(mkdtemp(dir) != NULL);
    test_reopen(dir);
    test_history_bound(dir);
    test_group_commit(dir);
    test_full_disk(dir);
    test_corrupt(dir);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    T_EQ_INT(system(cmd), 0);
    return t_done();
}
