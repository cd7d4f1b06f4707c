/*
 * kube/patch_strategic.c: strategic merge patch as kube-apiserver v1.26
 * applies it (k8s.io/apimachinery/pkg/util/strategicpatch
 * StrategicMergeMapPatch with MergeParallelList and IgnoreUnmatchedNulls),
 * ported function by function so that list order, de-duplication and error
 * texts come out as upstream's: mergeMap, mergePatchIntoOriginal
 * ($setElementOrder), applyRetainKeysDirective, mergeSlice (with $patch
 * delete/replace elements and $deleteFromPrimitiveList), normalizeElementOrder
 * (Go's sort.SliceStable, reproduced, because upstream's "less" is not a
 * strict order) and mergeSortedSlice.
 *
 * Field metadata comes from the generated tables in patch_schema.c; a field
 * we have no metadata for merges maps and replaces lists (upstream would
 * fail on a field its Go struct lacks; such fields cannot be in a stored
 * object anyway). Directive keys left inside values copied whole from the
 * patch are dropped, as decoding into the typed object drops them.
 *
 * Errors: FL_EPARSE (400) for the mergepatch.ErrBadPatchFormat* family,
 * -EINVAL (422) for lists of lists, -EPROTO (500) for everything upstream
 * returns as a plain error. Any thread; no shared state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/patch_int.h"

#define DIRECTIVE "$patch"
#define RETAIN_KEYS "$retainKeys"
#define SET_ORDER "$setElementOrder"
#define DELETE_PRIM "$deleteFromPrimitiveList"

typedef struct sm_cur {
    int type; /* fl_patch_sm_types index or -1 */
    bool map; /* inside a map whose values are `type` */
} sm_cur;

typedef struct sm_meta {
    sm_cur sub;
    unsigned flags;
    const char *merge_key; /* "" for none */
} sm_meta;

typedef struct smp {
    fl_err *err;
    /* Go slice aliasing, see alias_delete: the view of the original list
     * that mergePatchIntoOriginal later uses as the server order; handed to
     * the next merge_slice call only. */
    json_t *view;
} smp;

/* element "kind" of a list (sliceElementType) */
enum { K_MAP = 1, K_SLICE, K_SCALAR };

__attribute__((format(printf, 3, 4))) static int fail(smp *s, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fl_err_set(s->err, code, "%s", msg);
}

static int oom(smp *s)
{
    return fail(s, -ENOMEM, "out of memory");
}

/* fmt "%v" of v into a short static-size string. */
static const char *gov(const json_t *v, char *out, size_t sz)
{
    fl_buf b = FL_BUF_INIT(sz - 1);
    fl_patch_go_fmt(&b, v);
    fl_strlcpy(out, b.data ? b.data : "", sz);
    fl_buf_done(&b);
    return out;
}

static int err_no_merge_key(smp *s, const json_t *m, const char *key)
{
    char v[400];
    return fail(s, -EPROTO, "map: %s does not contain declared merge key: %s", gov(m, v, sizeof v),
                key);
}

static int err_bad_arg(smp *s, const char *expected, const json_t *actual)
{
    return fail(s, -EPROTO, "expected a %s, but received a %s", expected, fl_patch_go_type(actual));
}

static int err_bad_patch_type(smp *s, const json_t *t, const json_t *m)
{
    char a[100], b[400];
    return fail(s, -EPROTO, "unknown patch type: %s in map: %s",
                json_is_string(t) ? json_string_value(t) : gov(t, a, sizeof a),
                gov(m, b, sizeof b));
}

/* ---- schema lookups ------------------------------------------------------ */

static sm_meta lookup(sm_cur c, const char *key)
{
    sm_meta m = {{-1, false}, 0, ""};
    if (c.type < 0)
        return m;
    if (c.map) {
        m.sub.type = c.type;
        return m;
    }
    const sm_type *t = &fl_patch_sm_types[c.type];
    for (size_t i = 0; i < t->nfields; i++) {
        if (strcmp(t->fields[i].name, key) != 0)
            continue;
        m.sub.type = t->fields[i].type;
        m.sub.map = (t->fields[i].flags & SM_MAP) != 0;
        m.flags = t->fields[i].flags;
        m.merge_key = t->fields[i].merge_key ? t->fields[i].merge_key : "";
        break;
    }
    return m;
}

/* ---- Go value semantics -------------------------------------------------- */

/* interface == on decoded JSON scalars; containers are never equal (Go
 * would panic comparing them). NULL (absent) equals NULL and JSON null. */
static bool go_eq(const json_t *a, const json_t *b)
{
    bool an = !a || json_is_null(a), bn = !b || json_is_null(b);
    if (an || bn)
        return an && bn;
    if (json_is_object(a) || json_is_array(a) || json_is_object(b) || json_is_array(b))
        return false;
    return fl_patch_scalar_eq(a, b);
}

/* reflect.TypeOf equality */
static bool same_type(const json_t *a, const json_t *b)
{
    json_type ta = json_typeof(a), tb = json_typeof(b);
    if (ta == JSON_TRUE)
        ta = JSON_FALSE;
    if (tb == JSON_TRUE)
        tb = JSON_FALSE;
    return ta == tb;
}

/* sliceElementType over up to two lists: K_* or an error. */
static int element_kind(smp *s, const json_t *l1, const json_t *l2, int *kind)
{
    const json_t *lists[2] = {l1, l2}, *prev = NULL;
    for (int li = 0; li < 2; li++) {
        size_t i;
        json_t *v;
        if (!lists[li])
            continue;
        json_array_foreach(lists[li], i, v) {
            if (!prev) {
                if (json_is_null(v))
                    return fail(s, -EPROTO, "list element types are not identical");
                if (json_is_array(v))
                    return fail(s, -EINVAL, "lists of lists are not supported");
                prev = v;
            } else if (json_is_null(v) || !same_type(prev, v)) {
                char a[200] = "", b[200] = "";
                if (l1)
                    gov(l1, a, sizeof a);
                if (l2)
                    gov(l2, b, sizeof b);
                return fail(s, -EPROTO, "list element types are not identical: [%s %s]", a, b);
            }
        }
    }
    if (!prev)
        return fail(s, -EPROTO, "no elements in any of the given slices");
    *kind = json_is_object(prev) ? K_MAP : K_SCALAR;
    return 0;
}

static bool is_directive_key(const char *k)
{
    return strcmp(k, DIRECTIVE) == 0 || strcmp(k, RETAIN_KEYS) == 0 ||
           fl_str_has_prefix(k, SET_ORDER "/") || fl_str_has_prefix(k, DELETE_PRIM "/");
}

/* discardNullValuesFromPatch, plus dropping directive keys (typed decoding
 * drops them): a new value; null array elements stay. NULL on ENOMEM. */
static json_t *clean_copy(const json_t *v)
{
    const char *k;
    json_t *x, *c;
    size_t i;
    if (json_is_object(v)) {
        if (!(c = json_object()))
            return NULL;
        json_object_foreach((json_t *)v, k, x) {
            if (json_is_null(x) || is_directive_key(k))
                continue;
            if (json_object_set_new(c, k, clean_copy(x))) {
                json_decref(c);
                return NULL;
            }
        }
        return c;
    }
    if (json_is_array(v)) {
        if (!(c = json_array()))
            return NULL;
        json_array_foreach(v, i, x)
            if (json_array_append_new(c, clean_copy(x))) {
                json_decref(c);
                return NULL;
            }
        return c;
    }
    return json_deep_copy(v);
}

static json_t *merge_map(smp *s, json_t *original, json_t *patch, sm_cur sc);

/* ---- list helpers -------------------------------------------------------- */

/* deduplicateScalars, in place, with Go's order-changing algorithm. */
static int dedupe(json_t *l)
{
    size_t length = json_array_size(l);
    if (length == 0)
        return 0;
    length--;
    for (size_t i = 0; i < length; i++) {
        for (size_t j = i + 1; j <= length; j++) {
            if (!go_eq(json_array_get(l, i), json_array_get(l, j)))
                continue;
            if (json_array_set(l, j, json_array_get(l, length)))
                return -ENOMEM;
            json_array_remove(l, length);
            length--;
            j--;
        }
    }
    return 0;
}

/* findMapInSliceBasedOnKeyValue: index or -1; -2 on error. */
static long find_map(smp *s, const json_t *l, const char *key, const json_t *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(l, i, v) {
        if (!json_is_object(v)) {
            fail(s, -EPROTO, "value for key %zu is not a map", i);
            return -2;
        }
        json_t *m = json_object_get(v, key);
        if (m && go_eq(m, value))
            return (long)i;
    }
    return -1;
}

/* index(): position of val in l by merge key (maps) or value. */
static long index_of(const json_t *l, const json_t *val, const char *mk, int kind)
{
    size_t i;
    json_t *v;
    const json_t *want =
        kind == K_MAP ? (json_is_object(val) ? json_object_get(val, mk) : NULL) : val;
    json_array_foreach(l, i, v) {
        const json_t *got = kind == K_MAP ? (json_is_object(v) ? json_object_get(v, mk) : NULL) : v;
        if (go_eq(want, got))
            return (long)i;
    }
    return -1;
}

/* ---- Go's sort.SliceStable over (value, key) pairs ----------------------- */

typedef struct sitem {
    json_t *v;
    long key; /* position in the order list, -1 if absent */
} sitem;

static bool less(const sitem *d, long i, long j)
{
    if (d[i].key >= 0 && d[j].key >= 0)
        return d[i].key < d[j].key;
    return true;
}

static void swap(sitem *d, long i, long j)
{
    sitem t = d[i];
    d[i] = d[j];
    d[j] = t;
}

static void insertion_sort(sitem *d, long a, long b)
{
    for (long i = a + 1; i < b; i++)
        for (long j = i; j > a && less(d, j, j - 1); j--)
            swap(d, j, j - 1);
}

static void swap_range(sitem *d, long a, long b, long n)
{
    for (long i = 0; i < n; i++)
        swap(d, a + i, b + i);
}

static void rotate(sitem *d, long a, long m, long b)
{
    long i = m - a, j = b - m;
    while (i != j) {
        if (i > j) {
            swap_range(d, m - i, m, j);
            i -= j;
        } else {
            swap_range(d, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(d, m - i, m, i);
}

static void sym_merge(sitem *d, long a, long m, long b)
{
    if (m - a == 1) {
        long i = m, j = b;
        while (i < j) {
            long h = (long)((unsigned long)(i + j) >> 1);
            if (less(d, h, a))
                i = h + 1;
            else
                j = h;
        }
        for (long k = a; k < i - 1; k++)
            swap(d, k, k + 1);
        return;
    }
    if (b - m == 1) {
        long i = a, j = m;
        while (i < j) {
            long h = (long)((unsigned long)(i + j) >> 1);
            if (!less(d, m, h))
                i = h + 1;
            else
                j = h;
        }
        for (long k = m; k > i; k--)
            swap(d, k, k - 1);
        return;
    }
    long mid = (long)((unsigned long)(a + b) >> 1), n = mid + m, start, r;
    if (m > mid) {
        start = n - b;
        r = mid;
    } else {
        start = a;
        r = m;
    }
    long p = n - 1;
    while (start < r) {
        long c = (long)((unsigned long)(start + r) >> 1);
        if (!less(d, p - c, c))
            start = c + 1;
        else
            r = c;
    }
    long end = n - start;
    if (start < m && m < end)
        rotate(d, start, m, end);
    if (a < start && start < mid)
        sym_merge(d, a, start, mid);
    if (mid < end && end < b)
        sym_merge(d, mid, end, b);
}

static void stable_sort(sitem *d, long n)
{
    long block = 20, a = 0, b = block;
    while (b <= n) {
        insertion_sort(d, a, b);
        a = b;
        b += block;
    }
    insertion_sort(d, a, n);
    while (block < n) {
        a = 0;
        b = 2 * block;
        while (b <= n) {
            sym_merge(d, a, a + block, b);
            a = b;
            b += 2 * block;
        }
        long m = a + block;
        if (m < n)
            sym_merge(d, a, m, n);
        block *= 2;
    }
}

/* ---- normalizeElementOrder ---------------------------------------------- */

static int check_merge_keys(smp *s, const json_t *l, const char *mk)
{
    size_t i;
    json_t *v;
    if (!l)
        return 0;
    json_array_foreach(l, i, v) {
        if (!json_is_object(v))
            return err_bad_arg(s, "map[string]interface {}", v);
        if (!json_object_get(v, mk))
            return err_no_merge_key(s, v, mk);
    }
    return 0;
}

static bool is_delete_item(const json_t *v)
{
    json_t *d = json_object_get(v, DIRECTIVE);
    return json_is_string(d) && strcmp(json_string_value(d), "delete") == 0;
}

/* normalizeSliceOrder: a new list sorted by position in order. */
static json_t *sort_by_order(smp *s, const json_t *to_sort, const json_t *order, const char *mk,
                             int kind)
{
    size_t n = json_array_size(to_sort), cnt = 0, i;
    json_t *out = json_array(), *v;
    sitem *d = n ? fl_calloc(n, sizeof *d) : NULL;
    if (!out || (n && !d))
        goto nomem;
    if (kind == K_MAP && (check_merge_keys(s, to_sort, mk) || check_merge_keys(s, order, mk)))
        goto fail;
    json_array_foreach(to_sort, i, v) {
        if (kind == K_MAP && is_delete_item(v))
            continue;
        d[cnt].v = v;
        d[cnt++].key = order ? index_of(order, v, mk, kind) : -1;
    }
    stable_sort(d, (long)cnt);
    for (i = 0; i < cnt; i++)
        if (json_array_append(out, d[i].v))
            goto nomem;
    json_array_foreach(to_sort, i, v)
        if (kind == K_MAP && is_delete_item(v) && json_array_append(out, v))
            goto nomem;
    free(d);
    return out;
nomem:
    oom(s);
fail:
    free(d);
    json_decref(out);
    return NULL;
}

/* mergeSortedSlice(left = server-only, right = patch items). */
static json_t *merge_sorted(const json_t *left, const json_t *right, const json_t *server_order,
                            const char *mk, int kind)
{
    size_t nl = json_array_size(left), nr = json_array_size(right), i = 0, j = 0;
    json_t *out = json_array();
    if (!out)
        return NULL;
    for (size_t k = 0; k < nl + nr; k++) {
        json_t *pick;
        if (i >= nl)
            pick = json_array_get(right, j++);
        else if (j >= nr)
            pick = json_array_get(left, i++);
        else {
            long li = index_of(server_order, json_array_get(left, i), mk, kind);
            long ri = index_of(server_order, json_array_get(right, j), mk, kind);
            if (li >= 0 && ri >= 0 && li < ri)
                pick = json_array_get(left, i++);
            else
                pick = json_array_get(right, j++);
        }
        if (json_array_append(out, pick)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *normalize_order(smp *s, const json_t *patch_items, const json_t *server_only,
                               const json_t *patch_order, const json_t *server_order,
                               const char *mk, int kind)
{
    json_t *p = sort_by_order(s, patch_items, patch_order, mk, kind), *so = NULL, *all = NULL;
    if (p)
        so = sort_by_order(s, server_only, server_order, mk, kind);
    if (so && !(all = merge_sorted(so, p, server_order, mk, kind)))
        oom(s);
    json_decref(p);
    json_decref(so);
    return all;
}

/* partition*ByPresentInList: items of merged present in by -> *in, else *out. */
static int partition(smp *s, const json_t *merged, const json_t *by, const char *mk, json_t **in,
                     json_t **out)
{
    size_t i;
    json_t *v;
    *in = json_array();
    *out = json_array();
    if (!*in || !*out)
        goto nomem;
    json_array_foreach(merged, i, v) {
        bool found;
        if (*mk) {
            if (!json_is_object(v)) {
                err_bad_arg(s, "map[string]interface {}", v);
                goto fail;
            }
            json_t *kv = json_object_get(v, mk);
            if (!kv) {
                err_no_merge_key(s, v, mk);
                goto fail;
            }
            long at = by ? find_map(s, by, mk, kv) : -1;
            if (at == -2)
                goto fail;
            found = at >= 0;
        } else {
            found = by && index_of(by, v, "", K_SCALAR) >= 0;
        }
        if (json_array_append(found ? *in : *out, v))
            goto nomem;
    }
    return 0;
nomem:
    oom(s);
fail:
    json_decref(*in);
    json_decref(*out);
    *in = *out = NULL;
    return s->err->code;
}

/* ---- mergeSlice ---------------------------------------------------------- */

/* deleteFromSlice */
static json_t *delete_from(const json_t *cur, const json_t *del)
{
    size_t i;
    json_t *v, *out = json_array();
    if (!out)
        return NULL;
    json_array_foreach(cur, i, v) {
        if (index_of(del, v, "", K_SCALAR) >= 0)
            continue;
        if (json_array_append(out, v)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Upstream mutates the original list's backing array in place: deleting
 * index k of a list of length m shifts elements k+1..m-1 left and leaves
 * slot m-1 as it was; appending to a list of length m writes slot m. The
 * caller of mergeSlice in mergePatchIntoOriginal still holds the full-length
 * slice and so sees these writes in its "server order". view (length n)
 * replays them; NULL when nobody looks. */
static void alias_delete(json_t *view, size_t k, size_t m)
{
    for (size_t i = k; view && i + 1 < m && i + 1 < json_array_size(view); i++)
        json_array_set(view, i, json_array_get(view, i + 1));
}

static void alias_append(json_t *view, size_t m, json_t *v)
{
    if (view && m < json_array_size(view))
        json_array_set(view, m, v);
}

/* mergeSliceWithSpecialElements: *orig and *patch are replaced by new lists;
 * *aliased says whether *orig still shares the original's backing array. */
static int special_elements(smp *s, json_t **orig, json_t **patch, const char *mk, json_t *view,
                            bool *aliased)
{
    json_t *plain = json_array(), *o = json_copy(*orig), *v;
    bool replace = false;
    size_t i;
    if (!plain || !o)
        goto nomem;
    json_array_foreach(*patch, i, v) {
        json_t *d = json_object_get(v, DIRECTIVE);
        if (!d) {
            if (json_array_append(plain, v))
                goto nomem;
            continue;
        }
        const char *ds = json_is_string(d) ? json_string_value(d) : "";
        if (json_is_string(d) && strcmp(ds, "delete") == 0) {
            json_t *mv = json_object_get(v, mk);
            if (!mv) {
                err_no_merge_key(s, v, mk);
                goto fail;
            }
            long at;
            while ((at = find_map(s, o, mk, mv)) >= 0) {
                alias_delete(view, (size_t)at, json_array_size(o));
                json_array_remove(o, (size_t)at);
            }
            if (at == -2)
                goto fail;
        } else if (json_is_string(d) && strcmp(ds, "replace") == 0) {
            replace = true;
        } else if (json_is_string(d) && strcmp(ds, "merge") == 0) {
            fail(s, -EPROTO, "merging lists cannot yet be specified in the patch");
            goto fail;
        } else {
            err_bad_patch_type(s, d, v);
            goto fail;
        }
    }
    json_decref(*orig);
    json_decref(*patch);
    *aliased = !replace;
    if (replace) {
        json_decref(o);
        *orig = plain;
        *patch = json_array();
        return *patch ? 0 : oom(s);
    }
    *orig = o;
    *patch = plain;
    return 0;
nomem:
    oom(s);
fail:
    json_decref(plain);
    json_decref(o);
    return s->err->code;
}

/* mergeSliceWithoutSpecialElements: merges into orig (owned, modified). */
static int merge_elements(smp *s, json_t *orig, const json_t *patch, const char *mk, sm_cur sc,
                          json_t *view)
{
    size_t i;
    json_t *v;
    json_array_foreach(patch, i, v) {
        json_t *mv = json_object_get(v, mk);
        if (!mv)
            return err_no_merge_key(s, v, mk);
        long at = find_map(s, orig, mk, mv);
        if (at == -2)
            return s->err->code;
        if (at >= 0) {
            json_t *m = merge_map(s, json_array_get(orig, (size_t)at), v, sc);
            if (!m || json_array_set_new(orig, (size_t)at, m))
                return m ? oom(s) : s->err->code;
        } else {
            json_t *c = clean_copy(v);
            if (c)
                alias_append(view, json_array_size(orig), c);
            if (!c || json_array_append_new(orig, c))
                return oom(s);
        }
    }
    return 0;
}

/* mergeSlice: a new list, or NULL with the error set. */
static json_t *merge_slice(smp *s, const json_t *original, const json_t *patch, sm_cur sc,
                           const char *mk, bool delete_list)
{
    json_t *o = NULL, *p = NULL, *merged = NULL, *in = NULL, *out = NULL, *res = NULL;
    json_t *view = s->view; /* borrowed; only for this call, not nested ones */
    bool aliased = true;
    int kind;
    s->view = NULL;
    if (json_array_size(original) == 0 && json_array_size(patch) == 0)
        return json_incref((json_t *)original);
    if (element_kind(s, original, patch, &kind))
        return NULL;
    if (kind != K_MAP && delete_list) {
        if (!(res = delete_from(original, patch)))
            oom(s);
        return res;
    }
    o = json_copy((json_t *)original);
    p = json_copy((json_t *)patch);
    if (!o || !p) {
        oom(s);
        goto out;
    }
    if (kind != K_MAP) {
        merged = json_copy(o);
        if (!merged || json_array_extend(merged, p) || dedupe(merged)) {
            oom(s);
            goto out;
        }
    } else {
        if (!*mk) {
            fail(s, -EPROTO, "cannot merge lists without merge key for %s",
                 sc.type >= 0 ? "struct" : "string");
            goto out;
        }
        if (special_elements(s, &o, &p, mk, view, &aliased))
            goto out;
        merged = json_copy(o);
        if (!merged) {
            oom(s);
            goto out;
        }
        if (merge_elements(s, merged, p, mk, sc, aliased ? view : NULL))
            goto out;
    }
    if (partition(s, merged, p, kind == K_MAP ? mk : "", &in, &out))
        goto out;
    res = normalize_order(s, in, out, p, o, kind == K_MAP ? mk : "", kind);
out:
    json_decref(o);
    json_decref(p);
    json_decref(merged);
    json_decref(in);
    json_decref(out);
    return res;
}

/* mergeSliceHandler */
static json_t *merge_slice_field(smp *s, const json_t *orig, const json_t *patch, sm_meta m,
                                 bool delete_list)
{
    if (m.flags & SM_MERGE)
        return merge_slice(s, orig, patch, m.sub, m.merge_key, delete_list);
    json_t *c = clean_copy(patch); /* replaced whole */
    if (!c)
        oom(s);
    return c;
}

/* ---- directives ---------------------------------------------------------- */

/* extractKey: the list name after "<prefix>/", or NULL. */
static const char *extract_key(const char *k, const char *prefix)
{
    size_t n = strlen(prefix);
    const char *slash = strchr(k, '/');
    if (!slash || (size_t)(slash - k) != n || strncmp(k, prefix, n) != 0)
        return NULL;
    return slash + 1;
}

static int retain_keys(smp *s, json_t *original, json_t *patch)
{
    json_t *rk = json_object_get(patch, RETAIN_KEYS), *v;
    const char *k;
    void *tmp;
    if (!rk)
        return 0;
    json_incref(rk);
    json_object_del(patch, RETAIN_KEYS);
    int rc = 0;
    if (!json_is_array(rk)) {
        rc = fail(s, FL_EPARSE, "invalid patch format of retainKeys");
        goto out;
    }
    json_object_foreach(patch, k, v) {
        if (json_is_null(v) || fl_str_has_prefix(k, DELETE_PRIM) || fl_str_has_prefix(k, SET_ORDER))
            continue;
        json_t *ks = json_string(k);
        if (!ks) {
            rc = oom(s);
            goto out;
        }
        bool found = index_of(rk, ks, "", K_SCALAR) >= 0;
        json_decref(ks);
        if (!found) {
            rc = fail(s, FL_EPARSE, "invalid patch format of retainKeys");
            goto out;
        }
    }
    json_object_foreach_safe(original, tmp, k, v) {
        json_t *ks = json_string(k);
        if (!ks) {
            rc = oom(s);
            goto out;
        }
        if (index_of(rk, ks, "", K_SCALAR) < 0)
            json_object_del(original, k);
        json_decref(ks);
    }
out:
    json_decref(rk);
    return rc;
}

/* validatePatchWithSetOrderList */
static int check_set_order(smp *s, const json_t *plist, const json_t *order, const char *mk)
{
    size_t pi = 0, oi = 0, np, no = json_array_size(order), i;
    json_t *v, *nd = json_array();
    int rc = 0;
    if (!nd)
        return oom(s);
    if (!plist || json_array_size(plist) == 0 || no == 0)
        goto out;
    json_array_foreach(plist, i, v) {
        if (*mk && !json_is_object(v)) {
            rc = err_bad_arg(s, "map[string]interface {}", v);
            goto out;
        }
        if (*mk && is_delete_item(v))
            continue;
        if (json_array_append(nd, v)) {
            rc = oom(s);
            goto out;
        }
    }
    np = json_array_size(nd);
    while (pi < np && oi < no) {
        json_t *a = json_array_get(nd, pi), *b = json_array_get(order, oi);
        if (json_is_object(a) && json_object_get(a, DIRECTIVE)) {
            pi++;
            continue;
        }
        bool eq;
        if (!*mk) {
            eq = go_eq(a, b);
        } else {
            if (!json_is_object(a)) {
                rc = err_bad_arg(s, "map[string]interface {}", a);
                goto out;
            }
            if (!json_is_object(b)) {
                rc = err_bad_arg(s, "map[string]interface {}", b);
                goto out;
            }
            if (!json_object_get(a, mk)) {
                rc = err_no_merge_key(s, a, mk);
                goto out;
            }
            if (!json_object_get(b, mk)) {
                rc = err_no_merge_key(s, b, mk);
                goto out;
            }
            eq = go_eq(json_object_get(a, mk), json_object_get(b, mk));
        }
        if (eq)
            pi++;
        oi++;
    }
    if (pi < np && oi >= no) {
        char a[200], b[200];
        rc = fail(s, -EPROTO, "The order in patch list:\n%s\n doesn't match %s list:\n%s\n",
                  gov(plist, a, sizeof a), SET_ORDER, gov(order, b, sizeof b));
    }
out:
    json_decref(nd);
    return rc;
}

/* One $setElementOrder/<name> directive (mergePatchIntoOriginal body). */
static int set_order_one(smp *s, json_t *original, json_t *patch, const char *dkey, json_t *order,
                         sm_cur sc)
{
    const char *name = extract_key(dkey, SET_ORDER);
    json_t *ol, *pl, *merged = NULL, *in = NULL, *out = NULL, *both = NULL, *view = NULL;
    int kind, rc = 0;
    if (!json_is_array(order))
        return err_bad_arg(s, "[]interface {}", order);
    if (!name)
        return fail(s, FL_EPARSE, "invalid patch format of setElementOrder list");
    ol = json_object_get(original, name);
    pl = json_object_get(patch, name);
    if (ol && !json_is_array(ol))
        return err_bad_arg(s, "[]interface {}", ol);
    if (pl && !json_is_array(pl))
        return err_bad_arg(s, "[]interface {}", pl);
    sm_meta m = lookup(sc, name);
    const char *mk = m.merge_key;
    if ((rc = check_set_order(s, pl, order, mk)) != 0)
        return rc;
    if (!ol && !pl)
        return 0;
    if (ol && !pl) {
        merged = json_incref(ol);
    } else if (!ol) {
        merged = clean_copy(pl);
    } else {
        if (!(view = json_copy(ol)))
            return oom(s);
        s->view = view;
        merged = merge_slice_field(s, ol, pl, m, false);
        s->view = NULL;
    }
    if (!merged) {
        json_decref(view);
        return s->err->code ? s->err->code : oom(s);
    }
    if ((rc = partition(s, merged, order, mk, &in, &out)) != 0)
        goto done;
    if ((rc = element_kind(s, view ? view : ol, pl, &kind)) != 0)
        goto done;
    both = normalize_order(s, in, out, order, view ? view : ol, mk, kind);
    if (!both) {
        rc = s->err->code;
        goto done;
    }
    if (json_object_set_new(original, name, both)) {
        rc = oom(s);
        goto done;
    }
    json_object_del(patch, name);
done:
    json_decref(view);
    json_decref(merged);
    json_decref(in);
    json_decref(out);
    return rc;
}

static int set_element_order(smp *s, json_t *original, json_t *patch, sm_cur sc)
{
    const char *k;
    json_t *v, *keys = json_array();
    size_t i;
    int rc = 0;
    if (!keys)
        return oom(s);
    json_object_foreach(patch, k, v)
        if (fl_str_has_prefix(k, SET_ORDER) && json_array_append_new(keys, json_string(k))) {
            json_decref(keys);
            return oom(s);
        }
    json_array_foreach(keys, i, v) {
        const char *key = json_string_value(v);
        json_t *order = key ? json_object_get(patch, key) : NULL;
        if (!order)
            continue; /* deleted meanwhile (it named a list) */
        json_incref(order);
        json_object_del(patch, key);
        rc = set_order_one(s, original, patch, key, order, sc);
        json_decref(order);
        if (rc)
            break;
    }
    json_decref(keys);
    return rc;
}

/* ---- mergeMap ------------------------------------------------------------ */

static int merge_one(smp *s, json_t *original, const char *key, json_t *pv, sm_cur sc)
{
    const char *k = key;
    bool del_list = false;
    if (fl_str_has_prefix(key, DELETE_PRIM)) {
        const char *name = extract_key(key, DELETE_PRIM);
        if (!name)
            return fail(s, FL_EPARSE, "invalid patch format of primitive list");
        del_list = true;
        if (*name)
            k = name;
    }
    if (json_is_null(pv)) {
        json_object_del(original, k);
        return 0;
    }
    json_t *ov = json_object_get(original, k), *nv;
    if (!ov || !same_type(ov, pv)) {
        if (del_list)
            return 0;
        nv = clean_copy(pv);
        if (!nv || json_object_set_new(original, k, nv))
            return oom(s);
        return 0;
    }
    if (json_is_object(ov)) {
        sm_meta m = lookup(sc, k);
        nv = (m.flags & SM_REPLACE) ? clean_copy(pv) : merge_map(s, ov, pv, m.sub);
    } else if (json_is_array(ov)) {
        nv = merge_slice_field(s, ov, pv, lookup(sc, k), del_list);
    } else {
        nv = json_deep_copy(pv);
    }
    if (!nv)
        return s->err->code ? s->err->code : oom(s);
    return json_object_set_new(original, k, nv) ? oom(s) : 0;
}

/* mergeMap: merge patch into original (not modified). A new reference, or
 * NULL with the error set. patch is copied first: directives are deleted
 * from it as they are processed, as upstream does. */
static json_t *merge_map(smp *s, json_t *original, json_t *patch_in, sm_cur sc)
{
    json_t *patch = json_copy(patch_in), *orig = NULL, *d, *v;
    const char *k;
    if (!patch) {
        oom(s);
        return NULL;
    }
    if ((d = json_object_get(patch, DIRECTIVE)) != NULL) {
        if (json_is_string(d) && strcmp(json_string_value(d), "replace") == 0) {
            json_object_del(patch, DIRECTIVE);
            json_t *c = clean_copy(patch);
            json_decref(patch);
            if (!c)
                oom(s);
            return c;
        }
        if (json_is_string(d) && strcmp(json_string_value(d), "delete") == 0) {
            json_decref(patch);
            return json_object();
        }
        err_bad_patch_type(s, d, patch);
        json_decref(patch);
        return NULL;
    }
    orig = original ? json_copy(original) : json_object();
    if (!orig) {
        oom(s);
        goto fail;
    }
    if (retain_keys(s, orig, patch) || set_element_order(s, orig, patch, sc))
        goto fail;
    json_object_foreach(patch, k, v)
        if (merge_one(s, orig, k, v, sc))
            goto fail;
    json_decref(patch);
    return orig;
fail:
    json_decref(patch);
    json_decref(orig);
    return NULL;
}

int fl_patch_strategic_apply(const json_t *original, const json_t *patch,
                             const fl_patch_schema *schema, json_t **out, fl_err *err)
{
    fl_err local = FL_ERR_INIT;
    smp s = {err ? err : &local, NULL};
    s.err->code = 0;
    if (!json_is_object(original))
        return fl_err_set(err, FL_EPARSE, "invalid JSON document");
    if (!json_is_object(patch))
        return fl_err_set(err, FL_EPARSE, "invalid JSON document");
    json_t *doc = json_deep_copy(original);
    if (!doc)
        return fl_err_set(err, -ENOMEM, "out of memory");
    sm_cur root = {schema ? schema->root : -1, false};
    json_t *res = merge_map(&s, doc, (json_t *)patch, root);
    json_decref(doc);
    if (!res)
        return s.err->code ? s.err->code : -EPROTO;
    *out = res;
    return 0;
}
