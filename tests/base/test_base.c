/* tests/base/test_base.c: errors, buffers, time and number parsing. */
#include <errno.h>
#include <stdlib.h>

#include "base/base.h"
#include "tests/test.h"

static void test_buf(void)
{
    fl_buf b = FL_BUF_INIT(10);
    T_EQ_INT(fl_buf_puts(&b, "hello"), 0);
    T_EQ_INT(fl_buf_printf(&b, "%d", 1234), 0);
    T_EQ_STR(b.data, "hello1234");
    T_EQ_INT(fl_buf_puts(&b, "xx"), -E2BIG); /* 11 > cap */
    T_EQ_STR(b.data, "hello1234");           /* unchanged on failure */
    T_EQ_INT(fl_buf_puts(&b, "x"), 0);
    char *s = fl_buf_steal(&b);
    T_EQ_STR(s, "hello1234x");
    T_EQ_INT(b.len, 0);
    free(s);
    fl_buf_done(&b);
}

static void test_parse(void)
{
    int64_t v = 7;
    T_EQ_INT(fl_parse_i64("-9223372036854775808", 20, &v), 0);
    T_CHECK(v == INT64_MIN);
    T_EQ_INT(fl_parse_i64("9223372036854775808", 19, &v), -ERANGE);
    T_EQ_INT(fl_parse_i64("12a", 3, &v), FL_EPARSE);
    T_EQ_INT(fl_parse_i64("", 0, &v), FL_EPARSE);
    T_EQ_INT(fl_parse_i64("-", 1, &v), FL_EPARSE);
    T_EQ_INT(fl_parse_i64("+42", 3, &v), 0);
    T_EQ_INT(v, 42);
}

static void test_time(void)
{
    int64_t t = 0;
    char out[32];
    T_EQ_INT(fl_time_parse("2026-11-22T03:44:00Z", &t), 0);
    T_EQ_INT(t, 1795319040);
    fl_time_format(t, out);
    T_EQ_STR(out, "2026-11-22T03:44:00Z");
    T_EQ_INT(fl_time_parse("2026-11-22T05:44:00.123+02:00", &t), 0);
    T_EQ_INT(t, 1795319040);
    T_EQ_INT(fl_time_parse("2026-11-22", &t), FL_EPARSE);
    T_EQ_INT(fl_time_parse("2026-13-22T03:44:00Z", &t), FL_EPARSE);
    T_EQ_INT(fl_time_parse("2026-11-22T03:44:00Zjunk", &t), FL_EPARSE);
}

static void test_err(void)
{
    fl_err e = FL_ERR_INIT;
    T_EQ_INT(fl_err_set(&e, FL_EPARSE, "bad %s", "thing"), FL_EPARSE);
    T_EQ_INT(fl_err_wrap(&e, FL_EPARSE, "reading %s", "x.yaml"), FL_EPARSE);
    T_EQ_STR(e.msg, "reading x.yaml: bad thing");
    T_EQ_INT(fl_err_set(NULL, -ENOMEM, "ignored"), -ENOMEM);
    T_EQ_INT(fl_err_wrap(NULL, -ENOMEM, "ignored"), -ENOMEM);
    T_EQ_STR(fl_strerror(FL_EGONE), "expired");
    T_EQ_STR(fl_strerror(-ENOENT), "No such file or directory");
}

static void test_uuid(void)
{
    char a[37], b[37];
    fl_uuid4(a);
    fl_uuid4(b);
    T_EQ_INT(strlen(a), 36);
    T_CHECK(a[14] == '4');
    T_CHECK(strcmp(a, b) != 0);
}

static void test_grow(void)
{
    int *v = NULL;
    size_t cap = 0;
    T_EQ_INT(fl_grow(&v, &cap, 0, sizeof *v), 0); /* nothing needed */
    T_CHECK(v == NULL && cap == 0);
    for (int i = 0; i < 1000; i++) {
        T_EQ_INT(fl_grow(&v, &cap, (size_t)i + 1, sizeof *v), 0);
        v[i] = i;
    }
    T_CHECK(cap >= 1000 && cap < 2000);
    T_EQ_INT(v[999] + v[0], 999);
    int *before = v;
    size_t cap_before = cap;
    /* sizes that overflow size_t fail and leave the array as it was */
    T_EQ_INT(fl_grow(&v, &cap, SIZE_MAX / 2, sizeof *v), -ENOMEM);
    T_EQ_INT(fl_grow(&v, &cap, SIZE_MAX, 1), -ENOMEM);
    T_CHECK(v == before && cap == cap_before);
    free(v);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    int ticks;
} ticker;

static void *ticker_main(void *arg)
{
    ticker *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        t->ticks++;
        pthread_cond_wait(&t->cv, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void test_thread_stop(void)
{
    ticker t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};
    pthread_t th;
    T_EQ_INT(pthread_create(&th, NULL, ticker_main, &t), 0);
    fl_thread_stop(th, &t.mu, &t.cv, &t.stop); /* returns only once it has ended */
    T_CHECK(t.stop);
    pthread_mutex_destroy(&t.mu);
    pthread_cond_destroy(&t.cv);
}

int main(void)
{
    test_grow();
    test_thread_stop();
    test_buf();
    test_parse();
    test_time();
    test_err();
    test_uuid();
    return t_done();
}
