/*
 * tests/index/rec_same.h: whether two decoded records say the same thing
 * (every field, the JSON compared as a value). Shared by test_scan.c and
 * the index_scan fuzz target, which compare the in-place path with the
 * jansson path.
 */
#ifndef FL_TESTS_REC_SAME_H
#define FL_TESTS_REC_SAME_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "index/index_int.h"

static inline bool rs_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* true if equal; otherwise why names the first difference. */
static inline bool rec_same(const fl_rec *a, const fl_rec *b, char *why, size_t n)
{
#define RS_FAIL(what)                                                                              \
    do {                                                                                           \
        snprintf(why, n, "%s", what);                                                              \
        return false;                                                                              \
    } while (0)
    if (a->op != b->op)
        RS_FAIL("op");
    if (!rs_str(a->ns, b->ns) || !rs_str(a->name, b->name) || !rs_str(a->uid, b->uid) ||
        !rs_str(a->rv, b->rv) || !rs_str(a->owner_uid, b->owner_uid) || a->created != b->created)
        RS_FAIL("key, uid, rv, owner or created");
    if (a->n_labels != b->n_labels || a->labels_hash != b->labels_hash)
        RS_FAIL("labels");
    for (size_t i = 0; i < a->n_labels * 2; i++)
        if (!rs_str(a->labels[i], b->labels[i]))
            RS_FAIL("labels");
    if (a->fts_hash != b->fts_hash || !rs_str(a->fts_labels, b->fts_labels) ||
        !rs_str(a->fts_annotations, b->fts_annotations) || !rs_str(a->fts_images, b->fts_images))
        RS_FAIL("full text");
    if (a->kind_facts != b->kind_facts || a->facts_hash != b->facts_hash ||
        !rs_str(a->node, b->node) || !rs_str(a->phase, b->phase) || !rs_str(a->qos, b->qos) ||
        !rs_str(a->prio_class, b->prio_class) || a->terminal != b->terminal ||
        !rs_str(a->region, b->region) || !rs_str(a->zone, b->zone) ||
        !rs_str(a->taints, b->taints) || a->ready != b->ready ||
        a->unschedulable != b->unschedulable || a->n_res != b->n_res)
        RS_FAIL("facts");
    for (size_t i = 0; i < a->n_res; i++)
        if (!rs_str(a->res[i].name, b->res[i].name) || a->res[i].a != b->res[i].a ||
            a->res[i].b != b->res[i].b)
            RS_FAIL("facts (resources)");
    json_t *ja = json_loadb(a->json, a->json_len, JSON_ALLOW_NUL, NULL);
    json_t *jb = json_loadb(b->json, b->json_len, JSON_ALLOW_NUL, NULL);
    bool eq = ja && jb && json_equal(ja, jb);
    json_decref(ja), json_decref(jb);
    if (!eq)
        RS_FAIL("stored JSON (as a value)");
    return true;
#undef RS_FAIL
}

#endif
