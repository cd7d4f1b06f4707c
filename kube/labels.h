/*
 * kube/labels.h: label selectors with k8s.io/apimachinery/pkg/labels'
 * exact semantics — the string form ("env in (a,b),tier!=db,!canary,x>3")
 * and metav1.LabelSelector JSON ({matchLabels, matchExpressions}), key and
 * value validation, canonical String(), Matches, and enumeration of the
 * parsed requirements (so the search API can turn them into SQL).
 *
 * A selector is an immutable heap object once built: share it read-only
 * across threads freely. Labels to match are a json_t object whose members
 * are strings (metadata.labels); non-string members are treated as absent.
 */
#ifndef FL_KUBE_LABELS_H
#define FL_KUBE_LABELS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

/* Largest selector string / number of requirements / values we parse. */
#define FL_LABELS_MAX_INPUT (64u << 10)
#define FL_LABELS_MAX_REQS 1024
#define FL_LABELS_MAX_VALUES 1024

/* Operators (selection.Operator). Equals is "=", DoubleEquals "==". */
typedef enum fl_label_op {
    FL_LABEL_IN = 0,         /* "in"     key in (v1,v2)        */
    FL_LABEL_NOT_IN,         /* "notin"  key notin (v1,v2)     */
    FL_LABEL_EQUALS,         /* "="      key=v                 */
    FL_LABEL_DOUBLE_EQUALS,  /* "=="     key==v                */
    FL_LABEL_NOT_EQUALS,     /* "!="     key!=v                */
    FL_LABEL_EXISTS,         /* "exists" key                   */
    FL_LABEL_DOES_NOT_EXIST, /* "!"      !key                  */
    FL_LABEL_GT,             /* "gt"     key>5 (integer)       */
    FL_LABEL_LT              /* "lt"     key<5 (integer)       */
} fl_label_op;

/* Upstream's selection.Operator spelling: "in", "notin", "=", "==", "!=",
 * "exists", "!", "gt", "lt". Never NULL. */
const char *fl_label_op_name(fl_label_op op);

/* One requirement, borrowed from its selector (valid while it lives).
 * values are sorted and de-duplicated; nvalues is 0 for exists/!,
 * 1 for =, ==, !=, gt, lt. */
typedef struct fl_label_req {
    const char *key;
    fl_label_op op;
    const char *const *values;
    size_t nvalues;
} fl_label_req;

typedef struct fl_label_selector fl_label_selector;

/* labels.Parse(s[0..n)): requirements sorted by key (stable), validated
 * as upstream does (qualified-name keys, label values, integer values for
 * > and <, non-empty value sets for in/notin). "" gives the empty selector
 * (matches everything). Returns 0, FL_EPARSE (err->msg like upstream's:
 * "unable to parse requirement: ..."), -E2BIG (over a cap) or -ENOMEM.
 * *out (caller frees) written only on success. */
int fl_label_selector_parse(const char *s, size_t n, fl_label_selector **out, fl_err *err);

/* metav1.LabelSelectorAsSelector: ls NULL or JSON null gives the "nothing"
 * selector (matches nothing); {} gives "everything"; otherwise matchLabels
 * become = requirements and matchExpressions In/NotIn/Exists/DoesNotExist
 * requirements with upstream's validation ("values: Invalid value: ...:
 * for 'in', 'notin' operators, values set can't be empty", "... is not a
 * valid label selector operator"). Values are sorted and de-duplicated as
 * in the string form (upstream keeps duplicates from JSON in its String();
 * matching is the same either way). Returns as fl_label_selector_parse. */
int fl_label_selector_from_json(const json_t *ls, fl_label_selector **out, fl_err *err);

/* labels.Everything() / labels.Nothing(). NULL only on ENOMEM. */
fl_label_selector *fl_label_selector_everything(void);
fl_label_selector *fl_label_selector_nothing(void);

void fl_label_selector_free(fl_label_selector *sel); /* accepts NULL */

/* Selector.Matches: every requirement holds for labels (NULL = no labels).
 * The nothing selector matches nothing, the empty one everything. */
bool fl_label_selector_matches(const fl_label_selector *sel, const json_t *labels);
/* The same with a lookup callback: get(key, ud) returns the label's value
 * or NULL when absent. */
bool fl_label_selector_matches_fn(const fl_label_selector *sel,
                                  const char *(*get)(const char *key, void *ud), void *ud);

/* True for the empty selector (Empty()), and for the nothing selector. */
bool fl_label_selector_is_empty(const fl_label_selector *sel);
bool fl_label_selector_is_nothing(const fl_label_selector *sel);

/* Number of requirements, and the i-th (0 <= i < count) into *out. */
size_t fl_label_selector_count(const fl_label_selector *sel);
void fl_label_selector_req(const fl_label_selector *sel, size_t i, fl_label_req *out);

/* Append the canonical String() ("a=b,x in (a,b),!c"; "" for empty and
 * nothing selectors) to out. Returns 0, -ENOMEM or -E2BIG (out's cap). */
int fl_label_selector_string(const fl_label_selector *sel, fl_buf *out);

/* validation.IsQualifiedName / IsValidLabelValue: 0 or FL_EPARSE with
 * upstream's message in err. */
int fl_label_validate_key(const char *key, fl_err *err);
int fl_label_validate_value(const char *value, fl_err *err);

/* validation.IsDNS1123Label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63
 * (namespace, Service, cluster names). */
bool fl_kube_dns_label(const char *s);
/* validation.IsDNS1123Subdomain: such labels joined by single dots, at
 * most 253 in all and no bound per label (most object names). */
bool fl_kube_dns_subdomain(const char *s);

#endif
