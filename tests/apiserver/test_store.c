/*
 * tests/sim/test_store.c: the simulator's object store — resourceVersions,
 * optimistic concurrency, key order, pagination over a consistent snapshot,
 * the history window (410), selectors, and watch fan-out (initial events,
 * resume, selector enter/leave, too-old, bookmarks and deadlines).
 */
#include <errno.h>
#include <pthread.h>
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
static const fl_kube_resource pod_kr = {
    .group = "",
    .version = "v1",
    .resource = "pods",
    .singular = "pod",
    .kind = "Pod",
    .list_kind = "PodList",
    .namespaced = true,
    .verbs = no_strs,
    .short_names = no_strs,
    .categories = no_strs,
};

static json_t *cm(const char *ns, const char *name, const char *app)
{
    json_t *o = json_pack("{s:s,s:s,s:{s:s,s:s}}", "kind", "ConfigMap", "apiVersion", "v1",
                          "metadata", "name", name, "namespace", ns);
    if (app)
        json_object_set_new(json_object_get(o, "metadata"), "labels",
                            json_pack("{s:s}", "app", app));
    return o;
}

static int create(fl_apiserver_store *st, const fl_apiserver_res *r, const char *ns,
                  const char *name, const char *app)
{
    json_t *o = cm(ns, name, app);
    int rc = fl_apiserver_store_create(st, r, o, NULL);
    json_decref(o);
    return rc;
}

/* A watch sink collecting lines. */
typedef struct sink {
    fl_buf b;
    int ended;
    pthread_mutex_t mu;
} sink;

static int sink_write(void *ud, const char *data, size_t len)
{
    sink *s = ud;
    pthread_mutex_lock(&s->mu);
    int rc = fl_buf_append(&s->b, data, len);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void sink_end(void *ud)
{
    sink *s = ud;
    pthread_mutex_lock(&s->mu);
    s->ended++;
    pthread_mutex_unlock(&s->mu);
}

static int count(sink *s, const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (const char *p = s->b.data; p && (p = strstr(p, needle)); p++)
        n++;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void test_crud(void)
{
    fl_apiserver_store *st;
    T_EQ_INT(fl_apiserver_store_new(NULL, &st), 0);
    T_EQ_INT(fl_apiserver_store_add_res(st, &cm_kr), 0);
    T_EQ_INT(fl_apiserver_store_add_res(st, &cm_kr), 0); /* idempotent */
    const fl_apiserver_res *r = fl_apiserver_store_find(st, "", "v1", "configmaps");
    T_CHECK(r != NULL);
    T_CHECK(fl_apiserver_store_find(st, "", "v1", "pods") == NULL);
    T_EQ_INT(create(st, r, "default", "a", "x"), 0);
    T_EQ_INT(create(st, r, "default", "a", "x"), -EEXIST);
    T_EQ_INT(fl_apiserver_store_rv(st), 1);

    fl_apiserver_obj *o = NULL;
    T_EQ_INT(fl_apiserver_store_get(st, r, "default", "a", &o), 0);
    T_EQ_INT(o->rv, 1);
    T_EQ_STR(o->key, "default/a");
    T_EQ_STR(fl_apiserver_obj_label(o, "app"), "x");
    T_CHECK(strstr(o->json, "\"resourceVersion\":\"1\"") != NULL);
    T_EQ_INT(o->hdr, strlen("\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\","));
    fl_apiserver_obj_unref(o);
    T_EQ_INT(fl_apiserver_store_get(st, r, "default", "nope", &o), FL_ENOTFOUND);

    json_t *u = cm("default", "a", "y");
    T_EQ_INT(fl_apiserver_store_update(st, r, u, 7, NULL), FL_ECONFLICT);
    T_EQ_INT(fl_apiserver_store_update(st, r, u, 1, &o), 0);
    T_EQ_INT(o->rv, 2);
    fl_apiserver_obj_unref(o);
    json_decref(u);
    u = cm("default", "zz", NULL);
    T_EQ_INT(fl_apiserver_store_update(st, r, u, 0, NULL), FL_ENOTFOUND);
    json_decref(u);
    T_EQ_INT(fl_apiserver_store_delete(st, r, "default", "a", 1, NULL, NULL), FL_ECONFLICT);
    T_EQ_INT(fl_apiserver_store_delete(st, r, "default", "a", 0, NULL, &o), 0);
    T_EQ_INT(o->rv, 3);
    fl_apiserver_obj_unref(o);
    T_EQ_INT(fl_apiserver_store_get(st, r, "default", "a", &o), FL_ENOTFOUND);
    T_EQ_INT(fl_apiserver_store_rv(st), 3);
    fl_apiserver_store_free(st);
}

static void test_list(void)
{
    fl_apiserver_store *st;
    fl_apiserver_store_opts so = {.history = 8};
    T_EQ_INT(fl_apiserver_store_new(&so, &st), 0);
    T_EQ_INT(fl_apiserver_store_add_res(st, &cm_kr), 0);
    T_EQ_INT(fl_apiserver_store_add_res(st, &pod_kr), 0);
    const fl_apiserver_res *r = fl_apiserver_store_find(st, "", "v1", "configmaps");
    /* etcd key order: "a-x/..." sorts before "a/..." ('-' < '/'). */
    create(st, r, "a", "2", "web");
    create(st, r, "a", "1", "db");
    create(st, r, "a-x", "1", "web");
    create(st, r, "b", "1", "web");
    fl_apiserver_list l = {0};
    fl_apiserver_list_req q = {0};
    T_EQ_INT(fl_apiserver_store_list(st, r, &q, &l), 0);
    T_EQ_INT(l.n, 4);
    T_EQ_STR(l.items[0]->key, "a-x/1");
    T_EQ_STR(l.items[1]->key, "a/1");
    T_EQ_INT(l.rv, 4);
    T_CHECK(l.next == NULL);
    fl_apiserver_list_done(&l);

    /* page 1 of 2, then a write, then page 2 still sees the old state */
    q.limit = 2;
    T_EQ_INT(fl_apiserver_store_list(st, r, &q, &l), 0);
    T_EQ_INT(l.n, 2);
    T_EQ_INT(l.remaining, 2);
    T_CHECK(l.next != NULL);
    char *start = strdup(l.next);
    uint64_t at = l.rv;
    fl_apiserver_list_done(&l);
    create(st, r, "a", "3", "web");
    T_EQ_INT(fl_apiserver_store_delete(st, r, "b", "1", 0, NULL, NULL), 0);
    json_t *u = cm("a", "2", "changed");
    fl_apiserver_store_update(st, r, u, 0, NULL);
    json_decref(u);
    fl_apiserver_list_req q2 = {.at_rv = at, .start = start, .limit = 10};
    T_EQ_INT(fl_apiserver_store_list(st, r, &q2, &l), 0);
    T_EQ_INT(l.n, 2);
    T_EQ_STR(l.items[0]->key, "a/2");
    T_EQ_STR(fl_apiserver_obj_label(l.items[0], "app"), "web");
    T_EQ_STR(l.items[1]->key, "b/1");
    T_EQ_INT(l.rv, at);
    T_CHECK(l.next == NULL);
    fl_apiserver_list_done(&l);

    /* selectors */
    fl_apiserver_sel *ls = NULL, *fs = NULL;
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_apiserver_sel_parse_labels("app in (web,changed),app!=db", &ls, &err), 0);
    T_EQ_INT(fl_apiserver_sel_parse_fields("metadata.namespace=a", &fs, &err), 0);
    fl_apiserver_list_req q3 = {.labels = ls, .fields = fs};
    T_EQ_INT(fl_apiserver_store_list(st, r, &q3, &l), 0);
    T_EQ_INT(l.n, 2); /* a/2 (changed), a/3 (web) */
    fl_apiserver_list_done(&l);
    fl_apiserver_list_req q4 = {.ns = "a-x"};
    T_EQ_INT(fl_apiserver_store_list(st, r, &q4, &l), 0);
    T_EQ_INT(l.n, 1);
    fl_apiserver_list_done(&l);
    fl_apiserver_sel_free(ls);
    fl_apiserver_sel_free(fs);
    T_CHECK(fl_apiserver_sel_parse_labels("app in (", &ls, &err) != 0);
    T_CHECK(fl_apiserver_sel_parse_labels("app=a b", &ls, &err) != 0);
    T_CHECK(fl_apiserver_sel_parse_fields("metadata.name", &fs, &err) != 0);
    T_EQ_INT(fl_apiserver_sel_parse_fields("spec.bogus=1", &fs, &err), 0);
    const char *bad = NULL;
    T_CHECK(!fl_apiserver_sel_fields_supported(fs, "Pod", &bad));
    T_EQ_STR(bad, "spec.bogus");
    fl_apiserver_sel_free(fs);

    /* push the snapshot rv out of the 8-event window: 410 */
    for (int i = 0; i < 10; i++) {
        char n[16];
        snprintf(n, sizeof(n), "p%d", i);
        create(st, r, "c", n, NULL);
    }
    T_EQ_INT(fl_apiserver_store_list(st, r, &q2, &l), FL_EGONE);
    T_CHECK(fl_apiserver_store_oldest(st) > at);
    free(start);
    fl_apiserver_store_free(st);
}

static void test_watch(void)
{
    fl_apiserver_store *st;
    fl_apiserver_store_opts so = {.history = 16, .bookmark_s = 3600};
    T_EQ_INT(fl_apiserver_store_new(&so, &st), 0);
    T_EQ_INT(fl_apiserver_store_add_res(st, &cm_kr), 0);
    T_EQ_INT(fl_apiserver_store_add_res(st, &pod_kr), 0);
    const fl_apiserver_res *r = fl_apiserver_store_find(st, "", "v1", "configmaps");
    const fl_apiserver_res *pods = fl_apiserver_store_find(st, "", "v1", "pods");
    create(st, r, "default", "one", "sel");
    create(st, r, "default", "two", "other");

    /* initial state + later events, label selector enter/leave */
    sink s1 = {FL_BUF_INIT(1 << 20), 0, PTHREAD_MUTEX_INITIALIZER};
    fl_apiserver_watch_req q = {.initial = true};
    fl_err err = FL_ERR_INIT;
    T_EQ_INT(fl_apiserver_sel_parse_labels("app=sel", &q.labels, &err), 0);
    fl_apiserver_watch *w1 = NULL;
    uint64_t oldest = 0;
    T_EQ_INT(fl_apiserver_store_watch(st, r, &q, sink_write, sink_end, &s1, &w1, &oldest), 0);
    T_EQ_INT(count(&s1, "\"ADDED\""), 1);
    json_t *u = cm("default", "one", "other"); /* leaves */
    fl_apiserver_store_update(st, r, u, 0, NULL);
    json_decref(u);
    u = cm("default", "two", "sel"); /* enters */
    fl_apiserver_store_update(st, r, u, 0, NULL);
    json_decref(u);
    u = cm("default", "two", "sel"); /* stays */
    fl_apiserver_store_update(st, r, u, 0, NULL);
    json_decref(u);
    json_t *p = json_pack("{s:s,s:s,s:{s:s,s:s}}", "kind", "Pod", "apiVersion", "v1", "metadata",
                          "name", "pod", "namespace", "default");
    fl_apiserver_store_create(st, pods, p, NULL); /* other resource: not delivered */
    json_decref(p);
    fl_apiserver_store_delete(st, r, "default", "two", 0, NULL, NULL);
    T_EQ_INT(count(&s1, "\"ADDED\""), 2);
    T_EQ_INT(count(&s1, "\"DELETED\""), 2);
    T_EQ_INT(count(&s1, "\"MODIFIED\""), 1);
    T_EQ_INT(count(&s1, "\"Pod\""), 0);
    T_EQ_INT(fl_apiserver_store_watch_count(st), 1);

    /* resume from rv 2: replays events 3.. of configmaps only */
    sink s2 = {FL_BUF_INIT(1 << 20), 0, PTHREAD_MUTEX_INITIALIZER};
    fl_apiserver_watch_req q2 = {
        .from_rv = 2, .deadline_ms = fl_mono_ms() + 2500, .bookmarks = true};
    T_EQ_INT(fl_apiserver_store_watch(st, r, &q2, sink_write, sink_end, &s2, NULL, &oldest), 0);
    T_EQ_INT(count(&s2, "\"type\":"), 4);
    /* the deadline ends it, with a bookmark in its last 2 s */
    for (int i = 0; i < 50 && count(&s2, "BOOKMARK") == 0; i++)
        usleep(100 * 1000);
    T_EQ_INT(count(&s2, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\","
                        "\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"7\","
                        "\"creationTimestamp\":null}}}"),
             1);
    for (int i = 0; i < 50 && !s2.ended; i++)
        usleep(100 * 1000);
    T_EQ_INT(s2.ended, 1);
    T_EQ_INT(fl_apiserver_store_watch_count(st), 1);

    /* initial events then the initial-events-end bookmark */
    sink s3 = {FL_BUF_INIT(1 << 20), 0, PTHREAD_MUTEX_INITIALIZER};
    fl_apiserver_watch_req q3 = {.initial = true, .initial_end_bookmark = true};
    T_EQ_INT(fl_apiserver_store_watch(st, r, &q3, sink_write, sink_end, &s3, NULL, &oldest), 0);
    T_EQ_INT(count(&s3, "\"ADDED\""), 1);
    T_EQ_INT(count(&s3, "\"k8s.io/initial-events-end\":\"true\""), 1);

    /* too old once the window moved */
    for (int i = 0; i < 20; i++) {
        char n[16];
        snprintf(n, sizeof(n), "n%d", i);
        create(st, r, "x", n, NULL);
    }
    fl_apiserver_watch_req q4 = {.from_rv = 1};
    sink s4 = {FL_BUF_INIT(1 << 20), 0, PTHREAD_MUTEX_INITIALIZER};
    T_EQ_INT(fl_apiserver_store_watch(st, r, &q4, sink_write, sink_end, &s4, NULL, &oldest),
             FL_EGONE);
    T_EQ_INT(oldest, fl_apiserver_store_oldest(st));
    T_EQ_INT(s4.ended, 0);

    /* cancel ends the first watch */
    fl_apiserver_watch_cancel(w1);
    for (int i = 0; i < 50 && !s1.ended; i++)
        usleep(50 * 1000);
    T_EQ_INT(s1.ended, 1);
    fl_apiserver_store_free(st); /* ends s3's watch */
    T_EQ_INT(s3.ended, 1);
    fl_buf_done(&s1.b);
    fl_buf_done(&s2.b);
    fl_buf_done(&s3.b);
    fl_buf_done(&s4.b);
}

int main(void)
{
    test_crud();
    test_list();
    test_watch();
    return t_done();
}
