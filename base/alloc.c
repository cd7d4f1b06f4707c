/* base/alloc.c: allocation that tests can make fail, and growable arrays.
 *
 * fl_malloc and its siblings are malloc's with one addition: a test can
 * make the Nth call on its thread return NULL (fl_alloc_fail_at), to check
 * that the code above handles every allocation failure (SQLite's
 * discipline). The counter is per thread and off (0) unless a test sets
 * it, so threads never see each other's injection. */
#include "base/base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* First capacity of an array that had none. */
#define GROW_FIRST 8

/* Injection state of this thread: the call that fails (0: none), the calls
 * counted since it was set, and whether it has failed. */
static _Thread_local unsigned long fail_at, calls;
static _Thread_local bool fired;

void fl_alloc_fail_at(unsigned long n)
{
    fail_at = n;
    calls = 0;
    fired = false;
}

bool fl_alloc_failed(void)
{
    return fired;
}

/* Whether this allocation is the one a test asked to fail. */
static bool inject(void)
{
    if (!fail_at || ++calls != fail_at)
        return false;
    fired = true;
    return true;
}

void *fl_malloc(size_t n)
{
    return inject() ? NULL : malloc(n);
}

void *fl_calloc(size_t n, size_t size)
{
    return inject() ? NULL : calloc(n, size);
}

void *fl_realloc(void *p, size_t n)
{
    return inject() ? NULL : realloc(p, n);
}

char *fl_strdup(const char *s)
{
    return fl_strndup(s, strlen(s));
}

char *fl_strndup(const char *s, size_t n)
{
    char *p = fl_malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

int fl_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : GROW_FIRST;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return -ENOMEM;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem)
        return -ENOMEM;
    /* *p is the caller's T *: read and written as bytes, so any object
     * pointer type works without aliasing it as void * */
    void *old, *np;
    memcpy(&old, p, sizeof old);
    np = fl_realloc(old, nc * elem);
    if (!np)
        return -ENOMEM;
    memcpy(p, &np, sizeof np);
    *cap = nc;
    return 0;
}
