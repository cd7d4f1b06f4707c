/*
 * tests/kube/golden.h: reading the recorded kube-apiserver answers in
 * tests/golden/ (a copy of the files the kube tests compare against; see its
 * README.md). Meson points $FLOTILLA_GOLDEN there; run by hand from the
 * source root, the relative default finds it too. A file that cannot be read
 * is a failed check with its path, never a crash: callers get NULL and
 * jansson's getters accept NULL.
 */
#ifndef FL_TESTS_KUBE_GOLDEN_H
#define FL_TESTS_KUBE_GOLDEN_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/test.h"

static inline void t_golden_path(const char *rel, char *buf, size_t size)
{
    const char *dir = getenv("FLOTILLA_GOLDEN");
    snprintf(buf, size, "%s/%s", dir && *dir ? dir : "tests/golden", rel);
}

static inline void t_golden_missing(const char *path, const char *why)
{
    t_checks++;
    t_failures++;
    fprintf(stderr, "golden data %s: %s (copy it into tests/golden/ or set FLOTILLA_GOLDEN)\n",
            path, why);
}

/* The whole JSON document at rel (new reference), or NULL after a failed check. */
static inline json_t *t_golden_load(const char *rel)
{
    char path[1024];
    json_error_t e;
    t_golden_path(rel, path, sizeof path);
    json_t *v = json_load_file(path, JSON_DECODE_ANY, &e);
    if (!v)
        t_golden_missing(path, e.text);
    return v;
}

/* The file at rel opened for reading, or NULL after a failed check. */
static inline FILE *t_golden_open(const char *rel)
{
    char path[1024];
    t_golden_path(rel, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        t_golden_missing(path, "cannot open");
    return f;
}

#endif
