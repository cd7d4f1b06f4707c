/*
 * kube/fields.h: field selectors with k8s.io/apimachinery/pkg/fields'
 * exact semantics: "a=b,c!=d,e==f", terms split on unescaped ',', values
 * unescaped (\\ \, \= ; any other escape, a trailing '\' and a bare ',' or
 * '=' in a value are errors), terms sorted as upstream sorts them, canonical
 * String() ("a=b" for both = and ==, values re-escaped), and Matches through
 * a getter callback where an absent field reads as "" (so "a=" matches an
 * object without a).
 *
 * A selector is immutable once parsed; share it read-only across threads.
 */
#ifndef FL_KUBE_FIELDS_H
#define FL_KUBE_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

#define FL_FIELDS_MAX_INPUT (64u << 10)
#define FL_FIELDS_MAX_TERMS 1024

typedef enum fl_field_op {
    FL_FIELD_EQUALS = 0,    /* "="  */
    FL_FIELD_DOUBLE_EQUALS, /* "==" (String() prints it as "=") */
    FL_FIELD_NOT_EQUALS     /* "!=" */
} fl_field_op;

/* One term, borrowed from its selector. value is unescaped. */
typedef struct fl_field_term {
    const char *field;
    fl_field_op op;
    const char *value;
} fl_field_term;

/* Value of a field for matching, or NULL when the object has none (read as
 * ""). The returned string must stay valid until the next call. */
typedef const char *(*fl_field_get_fn)(const char *field, void *ud);

typedef struct fl_field_selector fl_field_selector;

/* fields.ParseSelector(s[0..n)). "" gives the empty selector (matches
 * everything). A NUL byte is rejected (our strings are C strings).
 * Returns 0, FL_EPARSE (err->msg as upstream: "invalid
 * selector: '...'; can't understand '...'", "invalid field selector:
 * invalid escape sequence: \x", ...), -E2BIG or -ENOMEM. *out (caller
 * frees) written only on success. */
int fl_field_selector_parse(const char *s, size_t n, fl_field_selector **out, fl_err *err);

void fl_field_selector_free(fl_field_selector *sel); /* accepts NULL */

/* Selector.Matches: every term holds; get NULL means no fields at all. */
bool fl_field_selector_matches(const fl_field_selector *sel, fl_field_get_fn get, void *ud);

bool fl_field_selector_is_empty(const fl_field_selector *sel);
size_t fl_field_selector_count(const fl_field_selector *sel);
void fl_field_selector_term(const fl_field_selector *sel, size_t i, fl_field_term *out);

/* Append the canonical String() to out: 0, -ENOMEM or -E2BIG. */
int fl_field_selector_string(const fl_field_selector *sel, fl_buf *out);

/* fields.EscapeValue: append v with \ , = escaped. 0, -ENOMEM, -E2BIG. */
int fl_field_escape_value(const char *v, fl_buf *out);

#endif
