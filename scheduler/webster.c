/*
 * scheduler/webster.c: the Webster (Sainte-Laguë) apportionment every
 * division goes through, and Karmada's per-workload tie-break. A binary
 * max-heap of parties keyed by votes/(2*seats+1), compared exactly
 * (128-bit cross products, where Karmada compares float64 quotients: the
 * same answer except for quotients that round to the same double).
 * Knows nothing of clusters or JSON.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

uint32_t fl_sched_fnv32a(const char *s)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

typedef struct heap {
    fl_sched_party *p;
    size_t *idx; /* heap of indexes into p */
    size_t n;
    bool desc; /* names descending on ties */
} heap;

/* true when party a should get the next seat before party b. */
static bool before(const heap *h, size_t a, size_t b)
{
    const fl_sched_party *x = &h->p[a], *y = &h->p[b];
    __int128 l = (__int128)x->votes * (2 * (__int128)y->seats + 1);
    __int128 r = (__int128)y->votes * (2 * (__int128)x->seats + 1);
    if (l != r)
        return l > r;
    if (x->seats != y->seats)
        return x->seats < y->seats;
    int c = strcmp(x->name, y->name);
    return h->desc ? c > 0 : c < 0;
}

static void sift_down(heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < h->n && before(h, h->idx[l], h->idx[best]))
            best = l;
        if (r < h->n && before(h, h->idx[r], h->idx[best]))
            best = r;
        if (best == i)
            return;
        size_t t = h->idx[i];
        h->idx[i] = h->idx[best];
        h->idx[best] = t;
        i = best;
    }
}

bool fl_sched_tie_desc(const char *uid)
{
    return uid && uid[0] && (fl_sched_fnv32a(uid) & 1u);
}

int fl_sched_webster(fl_sched_party *p, size_t n, int64_t new_seats, const char *uid)
{
    if (new_seats < 0 || new_seats > FL_SCHED_MAX_SEATS)
        return -EINVAL;
    heap h = {p, NULL, 0, fl_sched_tie_desc(uid)};
    for (size_t i = 0; i < n; i++)
        if (p[i].votes < 0 || p[i].seats < 0)
            return -EINVAL;
    if (new_seats == 0 || n == 0)
        return 0;
    h.idx = malloc(n * sizeof *h.idx);
    if (!h.idx)
        return -ENOMEM;
    /* every party competes, as in Karmada's AllocateWebsterSeats: a 0-vote
     * party has priority 0, so it gets a seat only when every party is at 0
     * (then fewer seats first, then the name) */
    for (size_t i = 0; i < n; i++)
        h.idx[h.n++] = i;
    for (size_t i = h.n / 2; i-- > 0;)
        sift_down(&h, i);
    for (int64_t s = 0; s < new_seats && h.n > 0; s++) {
        p[h.idx[0]].seats++;
        sift_down(&h, 0);
    }
    free(h.idx);
    return 0;
}
