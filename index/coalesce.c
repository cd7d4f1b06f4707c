/*
 * index/coalesce.c: the writer's per-batch merge of events by key, and the
 * small string->int64 hash map it (and the writer's scope cache) uses.
 * Rules: the last record of a key wins, which gives
 * create+update -> create, anything+delete -> delete, delete+create ->
 * create; whether a surviving upsert is ADDED or MODIFIED is decided by the
 * writer from the database. The coalescer borrows the records (they stay
 * their items', so a batch whose transaction failed can be applied again).
 * Writer thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

static int idx_smap_grow(idx_smap *m)
{
    size_t nc = m->cap ? m->cap * 2 : 64;
    idx_smap_ent *n = fl_calloc(nc, sizeof *n);
    if (!n)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->ents[i].key)
            continue;
        size_t j = m->ents[i].hash & (nc - 1);
        while (n[j].key)
            j = (j + 1) & (nc - 1);
        n[j] = m->ents[i];
    }
    free(m->ents);
    m->ents = n;
    m->cap = nc;
    return 0;
}

static idx_smap_ent *idx_smap_find(const idx_smap *m, const void *key, size_t klen, uint64_t h)
{
    size_t j = h & (m->cap - 1);
    while (m->ents[j].key) {
        if (m->ents[j].hash == h && m->ents[j].klen == klen &&
            memcmp(m->ents[j].key, key, klen) == 0)
            return &m->ents[j];
        j = (j + 1) & (m->cap - 1);
    }
    return &m->ents[j];
}

int64_t *idx_smap_put(idx_smap *m, const void *key, size_t klen, bool *created)
{
    if ((m->n + 1) * 2 > m->cap && idx_smap_grow(m) < 0)
        return NULL;
    uint64_t h = fl_hash64(key, klen, 0);
    idx_smap_ent *e = idx_smap_find(m, key, klen, h);
    *created = false;
    if (!e->key) {
        if (!(e->key = fl_malloc(klen ? klen : 1)))
            return NULL;
        memcpy(e->key, key, klen);
        e->klen = klen;
        e->hash = h;
        e->val = 0;
        m->n++;
        *created = true;
    }
    return &e->val;
}

void idx_smap_clear(idx_smap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->ents[i].key);
    free(m->ents);
    memset(m, 0, sizeof *m);
}

/* Key bytes: scope (8 bytes), ns, NUL, name. */
static size_t coal_key(char *buf, size_t size, int64_t scope, const fl_rec *r)
{
    size_t ln = strlen(r->ns), lm = strlen(r->name), n = sizeof scope + ln + 1 + lm;
    if (n > size)
        return 0;
    memcpy(buf, &scope, sizeof scope);
    memcpy(buf + sizeof scope, r->ns, ln + 1);
    memcpy(buf + sizeof scope + ln + 1, r->name, lm);
    return n;
}

static int coal_reserve(coalescer *c)
{
    return fl_grow(&c->ents, &c->cap, c->n + 1, sizeof *c->ents);
}

int idx_coal_add(coalescer *c, int64_t scope, fl_rec *rec)
{
    char key[1024];
    bool created;
    size_t klen = coal_key(key, sizeof key, scope, rec);
    int64_t *slot = NULL;
    if (klen == 0) /* ns + name are at most 316 bytes in Kubernetes */
        return -E2BIG;
    if (coal_reserve(c) < 0 || !(slot = idx_smap_put(&c->map, key, klen, &created)))
        return -ENOMEM;
    if (!created) {
        coal_ent *e = &c->ents[*slot];
        e->rec = rec;
        c->merged++;
        return 0;
    }
    *slot = (int64_t)c->n;
    c->ents[c->n].scope = scope;
    c->ents[c->n].rec = rec;
    c->n++;
    return 0;
}

void idx_coal_reset(coalescer *c)
{
    c->n = 0;
    idx_smap_clear(&c->map);
}

void idx_coal_done(coalescer *c)
{
    idx_coal_reset(c);
    free(c->ents);
    memset(c, 0, sizeof *c);
}
