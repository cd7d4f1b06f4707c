/*
 * bench/bench.h: what several benchmarks print beside their figures.
 * Header-only (each bench is one program).
 */
#ifndef FL_BENCH_BENCH_H
#define FL_BENCH_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The 1, 5 and 15 minute load averages ("0.52 0.58 0.59"): the machine is
 * shared, and a figure means little without them. */
static inline void bench_loadavg(char *out, size_t n)
{
    FILE *f = fopen("/proc/loadavg", "r");
    char buf[128] = "?";
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            snprintf(buf, sizeof buf, "?");
        fclose(f);
    }
    char *sp = strchr(buf, ' ');
    sp = sp ? strchr(sp + 1, ' ') : NULL;
    sp = sp ? strchr(sp + 1, ' ') : NULL;
    buf[sp ? (size_t)(sp - buf) : strcspn(buf, "\n")] = 0;
    snprintf(out, n, "%s", buf);
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-quantile (0..1) of v[0..n) (sorts v); 0 when n is 0. */
static inline int64_t bench_pct(int64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, bench_cmp_i64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

#endif
