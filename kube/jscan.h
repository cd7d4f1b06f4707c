/*
 * kube/jscan.h: a strict JSON scanner that reads Kubernetes objects in
 * place, without building a tree: one pass decides whether a document is
 * "plain" (valid JSON, compact, and inside the subset whose every detail
 * jansson would accept the same way), then cheap navigation finds members
 * and array elements as byte ranges of the original text.
 *
 * It exists so that the index can store what a member sent minus a few
 * member ranges (managedFields, the last-applied annotation) instead of
 * parsing and re-encoding every object. Anything the scanner is not sure
 * of is reported as "not plain"; the caller then takes the jansson path,
 * which gives the real answer (the error message, or the value). So
 * fl_jscan_plain never accepts what fl_json_parse rejects.
 *
 * Threads: any; no state. Navigation functions require a range that came
 * from a document fl_jscan_plain accepted (on anything else they stay
 * inside the range but their answers mean nothing).
 */
#ifndef FL_KUBE_JSCAN_H
#define FL_KUBE_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fl_jdoc fl_jdoc;

/* The bytes of one JSON value (or one object member) inside a document;
 * doc (may be NULL) is the document's container index, which makes
 * skipping an object or array O(log n) instead of a byte scan. */
typedef struct fl_jval {
    const char *p;
    size_t n;
    const fl_jdoc *doc;
} fl_jval;

/* A validated document with the position of every container's end. */
struct fl_jdoc {
    const char *base;
    uint32_t (*pairs)[2]; /* (open offset, close offset), by open offset */
    size_t n, cap;
};

/* Caps of the plain subset; deeper or wider documents are "not plain". */
#define FL_JSCAN_DEPTH_MAX 64
#define FL_JSCAN_KEYS_MAX 2048 /* keys open at once, over all levels */

/* true when data[0..len) is exactly one JSON value (leading and trailing
 * whitespace allowed) that jansson's fl_json_parse would accept with the
 * same value, and that is compact (no whitespace between tokens), at most
 * FL_JSCAN_DEPTH_MAX deep, without duplicate keys, with numbers that fit
 * (integers of at most 18 digits; reals of at most 20 mantissa digits and
 * a 2-digit exponent) and with valid UTF-8 and surrogate pairs; strings
 * must also be as Go's encoding/json writes them where it matters for
 * bytes kept as they are: no raw '<', '>', '&', U+2028 or U+2029. */
bool fl_jscan_plain(const char *data, size_t len);

/* fl_jscan_plain that also indexes the containers into *doc (caller
 * frees with fl_jscan_doc_done, also after false). Documents of 4 GiB or
 * more are not plain. */
bool fl_jscan_doc(fl_jdoc *doc, const char *data, size_t len);
void fl_jscan_doc_done(fl_jdoc *doc);
/* The document's value (doc set), without surrounding whitespace. */
fl_jval fl_jscan_root(const fl_jdoc *doc, const char *data, size_t len);

/* The document's value without surrounding whitespace. */
fl_jval fl_jscan_trim(const char *data, size_t len);

/* The kind of v: '{', '[', '"', 'n', 't', 'f' or '0' (a number). */
char fl_jscan_kind(fl_jval v);

/* Iteration over an object's members or an array's elements. */
typedef struct fl_jiter {
    const char *p, *end;
    bool object;
    const fl_jdoc *doc;
} fl_jiter;
/* Start iterating v (an object or an array; anything else yields nothing). */
fl_jiter fl_jscan_iter(fl_jval v);
/* Next member (key: the key's bytes without quotes, escapes kept; val: the
 * value; member: from the key's opening quote to the value's end) or next
 * element (key and member NULL-able: key is then empty). false at the end. */
bool fl_jscan_next(fl_jiter *it, fl_jval *key, fl_jval *val, fl_jval *member);

/* Whether the raw key bytes (escapes kept) spell name. */
bool fl_jscan_key_is(fl_jval key, const char *name);
/* obj's member named name: its value (and, if member is non-NULL, the
 * member's range). false when absent or obj is not an object. */
bool fl_jscan_get(fl_jval obj, const char *name, fl_jval *val, fl_jval *member);
/* A string value's content when it has no escapes (the common case):
 * true and *s set; false for other values or strings with escapes. */
bool fl_jscan_str_raw(fl_jval v, fl_jval *s);

#endif
