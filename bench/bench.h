/*
 * bench/bench.h: what several benchmarks print beside their figures.
 * Header-only (each bench is one program).
 */
#ifndef FL_BENCH_BENCH_H
#define FL_BENCH_BENCH_H

#include <stdio.h>
#include <string.h>

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

#endif
