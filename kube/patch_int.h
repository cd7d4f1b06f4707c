/*
 * kube/patch_int.h: private to kube/patch*.c. The strategic-merge schema
 * tables (generated into patch_schema.c), Go-compatible JSON syntax checking
 * and message formatting shared by the three patch implementations.
 * Nothing outside kube/patch*.c includes this.
 */
#ifndef FL_KUBE_PATCH_INT_H
#define FL_KUBE_PATCH_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "kube/patch.h"

/* ---- strategic merge schema ----------------------------------------------
 * One sm_type per Go struct that leads to a field with a patch strategy.
 * Invariant: fields are sorted by name; type is an index into
 * fl_patch_sm_types or -1 (no metadata below this field). */
enum {
    SM_MERGE = 1,       /* patchStrategy:"merge" */
    SM_RETAIN_KEYS = 2, /* patchStrategy:"retainKeys" (client-side only) */
    SM_REPLACE = 4,     /* patchStrategy:"replace" */
    SM_MAP = 8,         /* a map whose values are `type` (any key matches) */
};

typedef struct sm_field {
    const char *name;
    unsigned flags;
    const char *merge_key; /* patchMergeKey, NULL for none */
    int type;              /* child (element) type index or -1 */
} sm_field;

typedef struct sm_type {
    const char *name;
    const sm_field *fields;
    size_t nfields;
} sm_type;

struct fl_patch_schema {
    const char *group;
    const char *kind;
    int root; /* index into fl_patch_sm_types, -1 for no metadata */
};

extern const sm_type fl_patch_sm_types[];
extern const fl_patch_schema fl_patch_sm_kinds[];
extern const size_t fl_patch_sm_nkinds;

/* ---- Go encoding/json emulation (patch_gojson.c) ------------------------ */
/* Check data[0..len) is one JSON value as Go's scanner does. 0, or FL_EPARSE
 * with Go's exact message in msg ("unexpected end of JSON input",
 * "invalid character 'x' looking for beginning of value"). */
int fl_patch_go_syntax(const char *data, size_t len, char *msg, size_t msgsz);

/* Parse a patch body: Go syntax check, then jansson. Returns 0 and *out (new
 * reference), or FL_EPARSE with prefix + Go's message in err. */
int fl_patch_parse(const char *data, size_t len, const char *prefix, json_t **out, fl_err *err);

/* Go's JSON kind name of a value for UnmarshalTypeError: "object", "array",
 * "string", "number", "bool". */
const char *fl_patch_go_kind(const json_t *v);

/* Append Go's fmt "%v" rendering of v (map[k:v ...] with sorted keys, [a b],
 * <nil>) to b, truncating silently at b's cap. */
void fl_patch_go_fmt(fl_buf *b, const json_t *v);

/* Go's reflect type name of a decoded JSON value ("map[string]interface {}",
 * "[]interface {}", "string", "int64", "float64", "bool", "<nil>"). */
const char *fl_patch_go_type(const json_t *v);

/* Deep-equal with Go interface semantics for scalars (an integer never equals
 * a real, as int64 never equals float64). */
bool fl_patch_scalar_eq(const json_t *a, const json_t *b);

/* ---- strategic merge patch (patch_strategic.c) -------------------------- */
int fl_patch_strategic_apply(const json_t *original, const json_t *patch,
                             const fl_patch_schema *schema, json_t **out, fl_err *err);

#endif
