/*
 * kube/yaml.h: YAML documents (kubeconfigs, manifests, flotilla.yaml) to
 * jansson JSON, the way sigs.k8s.io/yaml (go-yaml v2, YAML 1.1) resolves
 * them, through libyaml. Untrusted input: size, depth and alias expansion
 * are capped, and every error says "line L column C" (1-based).
 *
 * Scalar resolution (plain, untagged scalars only; quoted and block
 * scalars are always strings):
 *   ~ null Null NULL and the empty scalar        -> null
 *   true/false, yes/no, on/off, y/n (any of the
 *   three usual casings: yes Yes YES)            -> true/false
 *   integers: 12 -3 +7 0x1F 0o17 017 0b101 1_000 -> integer (int64; larger
 *                                                   values become reals)
 *   floats: 1.5 -2e3 .5 1.                       -> real
 *   .inf .nan (no JSON form)                     -> FL_EPARSE
 *   anything else (timestamps included)          -> string
 * Tags !!str !!int !!float !!bool !!null are honoured (!!binary keeps its
 * base64 text); other tags are ignored. Mapping keys become strings (true -> "true", 0x10 -> "16").
 * Duplicate keys are an error (go-yaml v3 and kubectl's strict mode agree).
 * Anchors and aliases are supported, expanded by deep copy, and bounded:
 * the nodes produced by aliases may not exceed FL_YAML_MAX_ALIAS_NODES (the
 * "billion laughs" document fails). Merge keys (<<) are supported.
 *
 * Line numbers for config loaders: fl_yaml_doc_* keeps, beside the JSON
 * tree, the line of every node and of every mapping key, so a loader can
 * say "flotilla.yaml:12: field members[0].kubeconfig: file not found".
 *
 * Threads: any; a fl_yaml_doc is not shared between threads while written.
 */
#ifndef FL_KUBE_YAML_H
#define FL_KUBE_YAML_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

#define FL_YAML_MAX_INPUT (16u << 20)   /* bytes accepted by every call */
#define FL_YAML_MAX_DEPTH 100           /* nesting of mappings/sequences */
#define FL_YAML_MAX_ALIAS_NODES 100000u /* nodes produced by alias expansion */

/* Parse a stream holding exactly one document (an empty stream is JSON
 * null). A stream with several documents is FL_EPARSE ("expected one
 * document"). *out is a new reference, written only on success.
 * Returns 0, FL_EPARSE (err: "line L column C: what"), -E2BIG (input over
 * FL_YAML_MAX_INPUT) or -ENOMEM. */
int fl_yaml_parse(const char *data, size_t len, json_t **out, fl_err *err);

/* Parse every document of a stream into a new JSON array (one element per
 * document, in order; documents that are empty or null are skipped, as
 * kubectl skips them). Same codes as fl_yaml_parse. */
int fl_yaml_parse_all(const char *data, size_t len, json_t **out, fl_err *err);

/* ---- documents with line numbers ---------------------------------------
 * A parsed single document plus a map from its JSON nodes to source lines.
 * Invariant: root is owned by the doc; lines refer to root's nodes as they
 * were parsed (a node added later has no line). */
typedef struct fl_yaml_doc fl_yaml_doc;

/* Parse one document (as fl_yaml_parse). name is used in messages ("file
 * name"); it is copied and may be NULL ("<input>"). *out written only on
 * success; errors are "name:L:C: what". */
int fl_yaml_doc_parse(const char *data, size_t len, const char *name, fl_yaml_doc **out,
                      fl_err *err);

/* Read and parse a file (at most FL_YAML_MAX_INPUT bytes); name = path.
 * Returns also -errno from open/read, with err naming the path. */
int fl_yaml_doc_load(const char *path, fl_yaml_doc **out, fl_err *err);

void fl_yaml_doc_free(fl_yaml_doc *doc); /* accepts NULL */

/* The document's root (borrowed; the doc keeps it). Never NULL (json null
 * for an empty document). The caller may json_incref it to keep it. */
json_t *fl_yaml_doc_root(const fl_yaml_doc *doc);

/* The name given at parse time. */
const char *fl_yaml_doc_name(const fl_yaml_doc *doc);

/* The 1-based line where value starts, 0 when unknown. jansson shares the
 * true/false/null singletons, so for those ask fl_yaml_key_line. */
int fl_yaml_line(const fl_yaml_doc *doc, const json_t *value);

/* The 1-based line of key `key` inside mapping `obj`, 0 when unknown. */
int fl_yaml_key_line(const fl_yaml_doc *doc, const json_t *obj, const char *key);

/* Fill err with "name:line: message" (":line" left out when line is 0) and
 * return code: `return fl_yaml_errf(doc, line, err, FL_EPARSE, "field %s: ...", f);` */
int fl_yaml_errf(const fl_yaml_doc *doc, int line, fl_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
