/*
 * tests/web/test_recent.c: fl_web_recent (web.h): lists copied into the
 * file when they change, loaded back after a reopen as they were (oldest
 * first), kinds kept apart, an unchanged list not rewritten, the thread's
 * copy and the last one at free, an empty history for a new kind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/test.h"
#include "web/web.h"

static json_t *list_a, *list_b;
static int calls_a;

static json_t *get_a(void *ud)
{
    (void)ud;
    calls_a++;
    return json_incref(list_a);
}

static json_t *get_b(void *ud)
{
    (void)ud;
    return list_b ? json_incref(list_b) : NULL;
}

static json_t *load(fl_web_recent *r, const char *kind)
{
    json_t *out = NULL;
    T_EQ_INT(fl_web_recent_load(r, kind, &out, NULL), 0);
    return out;
}

int main(void)
{
    char dir[] = "/tmp/fl-test-recent-XXXXXX", path[300];
    T_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/recent.db", dir);
    fl_web_recent *r = NULL;
    T_EQ_INT(fl_web_recent_open(path, &r, NULL), 0);
    json_t *got = load(r, "denials");
    T_EQ_INT(json_array_size(got), 0);
    json_decref(got);

    list_a = json_pack("[{sIss},{sIss}]", "time", (json_int_t)1, "name", "first", "time",
                       (json_int_t)2, "name", "second");
    list_b = NULL; /* nothing to write yet */
    T_EQ_INT(fl_web_recent_track(r, "denials", get_a, NULL), 0);
    T_EQ_INT(fl_web_recent_track(r, "placements", get_b, NULL), 0);
    T_EQ_INT(fl_web_recent_sync(r, NULL), 0);
    got = load(r, "denials");
    T_CHECK(json_equal(got, list_a));
    json_decref(got);
    got = load(r, "placements");
    T_EQ_INT(json_array_size(got), 0);
    json_decref(got);

    /* the thread copies a change within its interval */
    T_EQ_INT(fl_web_recent_start(r, 20, NULL), 0);
    T_EQ_INT(fl_web_recent_track(r, "late", get_b, NULL), -EINVAL); /* after start */
    list_b = json_pack("[{ss}]", "name", "shop/web");
    for (int i = 0; i < 200; i++) {
        got = load(r, "placements");
        size_t n = json_array_size(got);
        json_decref(got);
        if (n == 1)
            break;
        usleep(10000);
    }
    got = load(r, "placements");
    T_CHECK(json_equal(got, list_b));
    json_decref(got);
    T_CHECK(calls_a > 1);

    /* a list that moved on (oldest dropped, one added): written whole at free */
    json_t *next = json_pack("[{sIss},{sIss}]", "time", (json_int_t)2, "name", "second", "time",
                             (json_int_t)3, "name", "third");
    json_t *old = list_a;
    list_a = next;
    json_decref(old);
    fl_web_recent_free(r);

    r = NULL;
    T_EQ_INT(fl_web_recent_open(path, &r, NULL), 0);
    got = load(r, "denials");
    T_CHECK(json_equal(got, list_a));
    T_EQ_STR(json_string_value(json_object_get(json_array_get(got, 0), "name")), "second");
    json_decref(got);
    got = load(r, "placements");
    T_CHECK(json_equal(got, list_b));
    json_decref(got);
    fl_web_recent_free(r);
    fl_web_recent_free(NULL);

    /* a path that cannot be opened */
    fl_err err = FL_ERR_INIT;
    r = NULL;
    T_CHECK(fl_web_recent_open("/nonexistent-dir/x/recent.db", &r, &err) != 0);
    T_CHECK(r == NULL && strstr(err.msg, "recent history") != NULL);

    json_decref(list_a);
    json_decref(list_b);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0);
    return t_done();
}
