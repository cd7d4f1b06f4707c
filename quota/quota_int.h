/*
 * quota/quota_int.h: what the files of quota/ share and nothing outside
 * includes — resource lists (a sorted array of name -> exact quantity) and
 * the small helpers every layer uses. Layers, bottom up: rl.c (resource
 * lists, Go-style quoting, names), then eval.c (Kubernetes evaluators) and
 * frq.c (Karmada), then admit.c (ResourceQuota admission).
 */
#ifndef FL_QUOTA_INT_H
#define FL_QUOTA_INT_H

#include "kube/kube.h"
#include "quota/quota.h"

/* One resource list. Invariant: v[0..n) sorted by strcmp(name), names
 * unique and heap-owned, n <= FL_QUOTA_MAX_RESOURCES. */
typedef struct rl_entry {
    char *name;
    fl_quantity q;
} rl_entry;

typedef struct rl {
    rl_entry *v;
    size_t n, cap;
} rl;
#define RL_INIT                                                                                    \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void qrl_done(rl *l);
/* Parse a JSON ResourceList (object of quantity strings or numbers; NULL or
 * null is the empty list) into l (appending). `what` names it in errors. */
int qrl_parse(rl *l, const json_t *obj, const char *what, fl_err *err);
const fl_quantity *qrl_get(const rl *l, const char *name);
int qrl_set(rl *l, const char *name, const fl_quantity *q);
/* l[name] += q (absent: set). 0, -ERANGE, -ENOMEM, -E2BIG. */
int qrl_add_one(rl *l, const char *name, const fl_quantity *q);
int qrl_add(rl *l, const rl *y);      /* quota.Add */
int qrl_max(rl *l, const rl *y);      /* quota.Max */
int qrl_copy(rl *dst, const rl *src); /* dst must be empty */
void qrl_remove(rl *l, const char *name);
/* The JSON form (canonical strings, keys sorted); NULL on ENOMEM. */
json_t *qrl_json(const rl *l);
/* "k=v,k=v" of l (keys sorted): quota's prettyPrint. */
int qrl_pretty(const rl *l, fl_buf *out);

/* The canonical string of q into buf (FL_QTY_STR_MAX). */
const char *q_str(const fl_quantity *q, char buf[FL_QTY_STR_MAX]);
/* 1 as a DecimalSI quantity (resource.NewQuantity(n, DecimalSI)). */
void q_int(int64_t n, fl_quantity *out);

/* helper.IsExtendedResourceName, IsNativeResource, IsIntegerResourceName. */
bool q_is_native_resource(const char *name);
bool q_is_extended_resource(const char *name);
bool q_is_integer_resource(const char *name);

/* Shared by frq.c and admit.c: an int64 JSON member, optional. */
int q_get_int(const json_t *obj, const char *key, bool *present, int64_t *out, fl_err *err);

/* ---- eval.c: kube-apiserver v1.26's quota evaluators ---------------- */
typedef enum { EV_POD, EV_SERVICE, EV_PVC, EV_COUNT } ev_kind;

typedef struct evaluator {
    ev_kind kind;
    char count_name[FL_QUOTA_NAME_MAX]; /* count/<resource>[.<group>] */
    const char *alias;                  /* "configmaps", ... or NULL */
} evaluator;

/* The evaluator the registry would pick for group/resource. */
void qev_for(const char *group, const char *resource, evaluator *ev);
/* Evaluator.Handles for an operation ("CREATE", "UPDATE", ...). */
bool qev_handles(const evaluator *ev, const char *op);
/* Evaluator.MatchingResources, one name at a time. */
bool qev_matches_resource(const evaluator *ev, const char *name);
/* One scope selector requirement {scopeName, operator, values} against
 * obj (MatchesScopeFunc). FL_EPARSE for a selector that cannot convert. */
int qev_matches_scope(const evaluator *ev, const json_t *sel, const json_t *obj, bool *match,
                      fl_err *err);
/* Evaluator.Constraints for the quota's restricted resources (names of
 * `required`): 0 when satisfied; 1 with msg ("must specify ...") when not. */
int qev_constraints(const evaluator *ev, const rl *required, const json_t *obj, fl_buf *msg,
                    fl_err *err);
/* Evaluator.Usage into out (empty on entry). */
int qev_usage(const evaluator *ev, const json_t *obj, int64_t now_unix, rl *out, fl_err *err);
/* The pod evaluator's Usage from a pod's summed requests and limits (app
 * containers, init containers, overhead, requests defaulted from limits):
 * count/pods, and when counts (QuotaV1Pod: not terminal, not past its
 * deletion grace period) pods and the compute resources. 0, -ERANGE,
 * -ENOMEM, -E2BIG. */
int qev_pod_usage_from(const rl *req, const rl *lim, bool counts, rl *out);

/* ---- admit.c: ResourceQuota admission over prepared quotas ----------- */

/* One quota as the check sees it: a KarmadaQuota / ResourceQuota, or a
 * FederatedResourceQuota (frq: hard = spec.overall, no scopes, Karmada's
 * denial wording). Invariant: every key of hard is in used (missing usage
 * counts as zero). name/ns are borrowed from the quota's JSON. */
typedef struct qent {
    const char *name, *ns;
    bool frq;
    rl hard, used;
    json_t *selectors; /* array of {scopeName, operator, values} (owned) */
} qent;

/* One admission check over quotas q[0..nq) (sorted by qents_sort). On
 * return code is 0 (allowed) or the HTTP code of the denial, msg its
 * message; touched[i] marks quotas whose used grew (q[i].used is then the
 * new used). */
typedef struct check {
    const evaluator *ev;
    const char *op;
    int64_t now;
    qent *q;
    size_t nq;
    fl_buf msg;
    int code;
    bool *touched;
} check;

/* Build from a quota object; used_map[name] (else status.used) is its used. */
int qent_from_quota(const json_t *quota, const json_t *used_map, qent *q, fl_err *err);
void qents_sort(qent *q, size_t n);
void qents_free(qent *q, size_t n); /* frees the array too */
void qents_free_one(qent *q);       /* one entry's members; zeroes it */
/* CheckRequest when the evaluator handles op, then the workload check. */
int qcheck_object(check *c, const char *group, const char *resource, const json_t *obj,
                  const json_t *old, fl_err *err);

#endif
