/* base/alloc.c: growable arrays. */
#include "base/base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* First capacity of an array that had none. */
#define GROW_FIRST 8

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
    np = realloc(old, nc * elem);
    if (!np)
        return -ENOMEM;
    memcpy(p, &np, sizeof np);
    *cap = nc;
    return 0;
}
