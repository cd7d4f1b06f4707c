/*
 * kube/json.h: JSON the way kube-apiserver writes it, Kubernetes Status
 * objects, and small accessors for object fields.
 *
 * Threads: any. Values are jansson json_t; "new" results are new references
 * owned by the caller, everything else is borrowed.
 */
#ifndef FL_KUBE_JSON_H
#define FL_KUBE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

/* Largest JSON document we parse from a peer unless a caller says otherwise. */
#define FL_JSON_MAX_DEFAULT (64u << 20)

/* Append v encoded as Go's encoding/json does for the apiserver: compact
 * with one trailing "\n", or (pretty) 2-space indented with no trailing
 * newline; '<' '>' '&' U+2028 U+2029 escaped as \u003c \u003e \u0026
 * \u2028 \u2029. Object keys keep insertion order.
 * Returns 0, -ENOMEM or -E2BIG (out's cap). */
int fl_json_encode(const json_t *v, bool pretty, fl_buf *out);

/* Parse exactly one JSON value from data[0..len). On failure returns
 * FL_EPARSE and err says where ("line 3 column 7: ..."). *out is a new
 * reference, written only on success. Duplicate keys are rejected. */
int fl_json_parse(const char *data, size_t len, json_t **out, fl_err *err);

/* ---- Kubernetes Status (metav1.Status) ---------------------------------
 * {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
 *  "message":...,"reason":...,"details":{...},"code":N}, fields in Go order.
 * reason NULL or "" leaves it out (as for webhook denials without one). */
json_t *fl_status_new(int code, const char *reason, const char *message);
/* Status with status:"Success" (DELETE answers). */
json_t *fl_status_success(const char *name, const char *group, const char *kind, const char *uid);
/* Set details {name, group, kind} (NULL/"" members are left out). */
void fl_status_set_details(json_t *status, const char *name, const char *group, const char *kind);
/* The reason Kubernetes uses for a code (404 -> "NotFound"), "" if none. */
const char *fl_status_reason_for(int code);

/* ---- object helpers ---------------------------------------------------- */
/* The string at a dotted path ("metadata.name"), or NULL. Borrowed. */
const char *fl_obj_str(const json_t *obj, const char *path);
/* fl_obj_str, or dflt when the path is absent or not a string. */
const char *fl_obj_str_or(const json_t *obj, const char *path, const char *dflt);
/* The value at a dotted path, or NULL. Borrowed. */
json_t *fl_obj_get(const json_t *obj, const char *path);
/* Get or create the object at a dotted path (creating empty objects on the
 * way). Borrowed; NULL if a member on the way is not an object or ENOMEM. */
json_t *fl_obj_ensure(json_t *obj, const char *path);
/* metadata.annotations[key] = value (creating what is missing); 0 or -ENOMEM. */
int fl_obj_set_annotation(json_t *obj, const char *key, const char *value);

#endif
