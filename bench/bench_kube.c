/*
 * bench/bench_kube.c: ns/op for the kube value primitives, each printed
 * beside the raw baseline it chases, measured in the same run:
 *   quantity parse+format   vs  strtod on the same strings
 *   quantity add+cmp        vs  int64 add+compare
 *   label selector parse    vs  strlen+memchr over the same string
 *   label selector match    vs  strcmp of each key/value pair
 *   field selector parse+match vs strcmp
 * Times are process CPU time per op (steady while other jobs load the
 * machine). Prints figures only; never pass/fail. `bench_kube [iterations]`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kube.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: steady on a busy box */
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const char *const qty_in[] = {"100m",      "1.5Gi", "250Mi", "2",    "0.5", "1e3",
                                     "128974848", "129e6", "123Mi", "500m", "4Ki", "1.25"};
static const char *const qty_num[] = {"0.1",       "1.5",   "250", "2",   "0.5", "1e3",
                                      "128974848", "129e6", "123", "0.5", "4",   "1.25"};
#define NQ FL_ARRAY_LEN(qty_in)

static void report(const char *what, double ns, const char *base, double base_ns)
{
    printf("%-34s %8.1f ns/op   | baseline %-28s %8.1f ns/op  (x%.1f)\n", what, ns, base, base_ns,
           base_ns > 0 ? ns / base_ns : 0.0);
}

static void bench_quantity(long iters)
{
    volatile double sink_d = 0;
    volatile long sink_l = 0;
    char buf[FL_QTY_STR_MAX];
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        const char *s = qty_in[i % NQ];
        fl_quantity q;
        if (fl_quantity_parse(s, strlen(s), &q, NULL) == 0)
            sink_l += fl_quantity_format(&q, buf, sizeof buf);
    }
    double t1 = now_ns();
    for (long i = 0; i < iters; i++)
        sink_d += strtod(qty_num[i % NQ], NULL);
    double t2 = now_ns();
    report("quantity parse+format", (t1 - t0) / iters, "strtod", (t2 - t1) / iters);

    fl_quantity qs[NQ];
    for (size_t k = 0; k < NQ; k++)
        fl_quantity_parse(qty_in[k], strlen(qty_in[k]), &qs[k], NULL);
    fl_quantity acc = FL_QUANTITY_ZERO;
    t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        if (fl_quantity_add(&acc, &qs[i % NQ]) != 0)
            acc = (fl_quantity)FL_QUANTITY_ZERO;
        sink_l += fl_quantity_cmp(&acc, &qs[0]);
    }
    t1 = now_ns();
    long long a = 0;
    for (long i = 0; i < iters; i++) {
        a += (long long)(i % NQ) * 1000;
        sink_l += a > 5000;
    }
    t2 = now_ns();
    report("quantity add+cmp", (t1 - t0) / iters, "int64 add+compare", (t2 - t1) / iters);
    (void)sink_d;
    (void)sink_l;
}

static const char *sel_s = "app=web,tier in (frontend,cache),!canary,env!=dev";
static const char *label_k[] = {"app", "tier", "env", "zone"};
static const char *label_v[] = {"web", "cache", "prod", "east-a"};

static const char *get_label(const char *key, void *ud)
{
    (void)ud;
    for (size_t i = 0; i < 4; i++)
        if (strcmp(key, label_k[i]) == 0)
            return label_v[i];
    return NULL;
}

static void bench_labels(long iters)
{
    volatile long sink_l = 0;
    size_t n = strlen(sel_s);
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        fl_label_selector *sel = NULL;
        if (fl_label_selector_parse(sel_s, n, &sel, NULL) == 0)
            sink_l += (long)fl_label_selector_count(sel);
        fl_label_selector_free(sel);
    }
    double t1 = now_ns();
    for (long i = 0; i < iters; i++)
        sink_l += (long)strlen(sel_s) + (memchr(sel_s, '(', n) != NULL);
    double t2 = now_ns();
    report("label selector parse", (t1 - t0) / iters, "strlen+memchr", (t2 - t1) / iters);

    fl_label_selector *sel = NULL;
    fl_label_selector_parse(sel_s, n, &sel, NULL);
    t0 = now_ns();
    for (long i = 0; i < iters; i++)
        sink_l += fl_label_selector_matches_fn(sel, get_label, NULL);
    t1 = now_ns();
    for (long i = 0; i < iters; i++) {
        /* the cheapest equality matcher: one strcmp per key and value */
        bool m = true;
        for (size_t k = 0; k < 4; k++)
            m &= strcmp(get_label(label_k[k], NULL), label_v[k]) == 0;
        sink_l += m;
    }
    t2 = now_ns();
    report("label selector match (4 reqs)", (t1 - t0) / iters, "4x key lookup+strcmp",
           (t2 - t1) / iters);
    fl_label_selector_free(sel);
    (void)sink_l;
}

static const char *get_field(const char *f, void *ud)
{
    (void)ud;
    return strcmp(f, "metadata.name") == 0 ? "web-1" : "Running";
}

static void bench_fields(long iters)
{
    volatile long sink_l = 0;
    const char *s = "metadata.name=web-1,status.phase!=Failed";
    size_t n = strlen(s);
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        fl_field_selector *sel = NULL;
        if (fl_field_selector_parse(s, n, &sel, NULL) == 0)
            sink_l += fl_field_selector_matches(sel, get_field, NULL);
        fl_field_selector_free(sel);
    }
    double t1 = now_ns();
    for (long i = 0; i < iters; i++)
        sink_l += strcmp(get_field("metadata.name", NULL), "web-1") == 0 &&
                  strcmp(get_field("status.phase", NULL), "Failed") != 0;
    double t2 = now_ns();
    report("field selector parse+match", (t1 - t0) / iters, "2x strcmp", (t2 - t1) / iters);
    (void)sink_l;
}

int main(int argc, char **argv)
{
    long iters = 200000;
    int64_t v;
    if (argc > 1 && fl_parse_i64(argv[1], strlen(argv[1]), &v) == 0 && v > 0)
        iters = (long)v;
    printf("bench_kube: %ld iterations per figure\n", iters);
    bench_quantity(iters);
    bench_labels(iters);
    bench_fields(iters);
    return 0;
}
