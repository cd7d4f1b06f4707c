/*
 * apiserver/prune.c: the fields of a custom resource its CRD's structural
 * schema does not know, as kube-apiserver finds them for pruning and for
 * fieldValidation (apiextensions-apiserver's schema/pruning and
 * schema/objectmeta, the unstructured schema coercer):
 *
 *   - the root is an embedded resource: apiVersion, kind and metadata are
 *     never pruned there, nor in an x-kubernetes-embedded-resource object;
 *   - an object keeps the keys its properties declare (each pruned by its
 *     schema), with additionalProperties every key (pruned by that schema;
 *     additionalProperties: true has none, so an object under it loses
 *     every member); other keys are unknown;
 *   - x-kubernetes-preserve-unknown-fields keeps the keys it does not
 *     declare as they are, but the ones it declares (properties or
 *     additionalProperties) are pruned by their schemas as anywhere else,
 *     also through arrays of such objects;
 *   - a value without a schema (an array without items, the value of
 *     additionalProperties: true) loses every member of every object in it;
 *   - metadata, at the root and in every embedded resource reached through
 *     declared fields (also inside preserved subtrees), is ObjectMeta
 *     decoded strictly: a member ObjectMeta does not have is unknown
 *     ("metadata.bogus", "spec.template.metadata.bogus"; below an
 *     additionalProperties key that key is written [key], as field.Path
 *     does there).
 *
 * Paths are written as the pruner records them: keys joined by ".",
 * indices as [i]. Nothing here knows HTTP.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"

#define MAX_DEPTH 64

typedef struct walk {
    fl_apiserver_unknown *u;
    fl_buf path;
} walk;

static void record(walk *w, const char *key)
{
    fl_apiserver_unknown *u = w->u;
    size_t at = w->path.len;
    if (key)
        fl_buf_printf(&w->path, "%s%s", at ? "." : "", key);
    if (u->n < FL_APISERVER_MAX_UNKNOWN &&
        (u->paths[u->n] = strdup(w->path.data ? w->path.data : "")))
        u->n++;
    else if (u->n >= FL_APISERVER_MAX_UNKNOWN)
        u->more = true;
    w->path.len = at;
    if (w->path.data)
        w->path.data[at] = 0;
}

static size_t push_key(walk *w, const char *k)
{
    size_t at = w->path.len;
    fl_buf_printf(&w->path, "%s%s", at ? "." : "", k);
    return at;
}

static size_t push_index(walk *w, size_t i)
{
    size_t at = w->path.len;
    fl_buf_printf(&w->path, "[%zu]", i);
    return at;
}

static void pop(walk *w, size_t at)
{
    w->path.len = at;
    if (w->path.data)
        w->path.data[at] = 0;
}

static bool flag(const json_t *sc, const char *ext)
{
    return sc && json_is_true(json_object_get(sc, ext));
}

static bool meta_field(const char *k)
{
    return !strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata");
}

/* The schema of key k of an object under sc: *declared says whether sc
 * declares it at all (properties, or any additionalProperties); the
 * schema is NULL for additionalProperties: true (and false). */
static const json_t *member(const json_t *sc, const char *k, bool *declared)
{
    const json_t *p = json_object_get(json_object_get(sc, "properties"), k);
    const json_t *addl = json_object_get(sc, "additionalProperties");
    *declared = p || addl;
    if (p)
        return p;
    return json_is_object(addl) ? addl : NULL;
}

static void skip_prune(walk *w, const json_t *sc, json_t *v, bool root, int depth);

/* pruning.prune: v against sc (NULL = no schema). */
static void prune(walk *w, const json_t *sc, json_t *v, bool root, int depth)
{
    if (depth > MAX_DEPTH)
        return;
    if (flag(sc, "x-kubernetes-preserve-unknown-fields")) {
        skip_prune(w, sc, v, root, depth);
        return;
    }
    if (json_is_object(v)) {
        bool embedded = root || flag(sc, "x-kubernetes-embedded-resource");
        const char *k;
        json_t *e;
        void *next;
        json_object_foreach_safe(v, next, k, e) {
            bool declared = false;
            const json_t *sub = sc ? member(sc, k, &declared) : NULL;
            if (embedded && meta_field(k))
                continue;
            if (declared) {
                size_t at = push_key(w, k);
                prune(w, sub, e, false, depth + 1);
                pop(w, at);
            } else {
                record(w, k);
                if (w->u->prune)
                    json_object_del(v, k);
            }
        }
    } else if (json_is_array(v)) {
        const json_t *items = sc ? json_object_get(sc, "items") : NULL;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            size_t at = push_index(w, i);
            prune(w, json_is_object(items) ? items : NULL, e, false, depth + 1);
            pop(w, at);
        }
    }
}

/* pruning.skipPrune: under x-kubernetes-preserve-unknown-fields only the
 * declared members are pruned (by their schemas). */
static void skip_prune(walk *w, const json_t *sc, json_t *v, bool root, int depth)
{
    if (!sc || depth > MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        bool embedded = root || flag(sc, "x-kubernetes-embedded-resource");
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            bool declared = false;
            const json_t *sub = member(sc, k, &declared);
            if ((embedded && meta_field(k)) || !declared)
                continue;
            size_t at = push_key(w, k);
            prune(w, sub, e, false, depth + 1);
            pop(w, at);
        }
    } else if (json_is_array(v)) {
        const json_t *items = json_object_get(sc, "items");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            size_t at = push_index(w, i);
            skip_prune(w, json_is_object(items) ? items : NULL, e, false, depth + 1);
            pop(w, at);
        }
    }
}

/* ------------------------------------------------------------ ObjectMeta
 * metav1.ObjectMeta's JSON members, and those of the structs in it, as a
 * strict decode knows them. */
typedef enum { M_SCALAR, M_MAP, M_LIST, M_OBJS, M_FREE } mkind;
typedef struct mfield {
    const char *name;
    mkind kind;
    const struct mfield *of; /* M_OBJS: the item struct */
} mfield;

static const mfield OWNER_REF[] = {
    {"apiVersion", M_SCALAR, NULL}, {"kind", M_SCALAR, NULL},
    {"name", M_SCALAR, NULL},       {"uid", M_SCALAR, NULL},
    {"controller", M_SCALAR, NULL}, {"blockOwnerDeletion", M_SCALAR, NULL},
    {NULL, M_SCALAR, NULL}};
static const mfield MANAGED[] = {{"manager", M_SCALAR, NULL},     {"operation", M_SCALAR, NULL},
                                 {"apiVersion", M_SCALAR, NULL},  {"time", M_SCALAR, NULL},
                                 {"fieldsType", M_SCALAR, NULL},  {"fieldsV1", M_FREE, NULL},
                                 {"subresource", M_SCALAR, NULL}, {NULL, M_SCALAR, NULL}};
static const mfield OBJECT_META[] = {{"name", M_SCALAR, NULL},
                                     {"generateName", M_SCALAR, NULL},
                                     {"namespace", M_SCALAR, NULL},
                                     {"selfLink", M_SCALAR, NULL},
                                     {"uid", M_SCALAR, NULL},
                                     {"resourceVersion", M_SCALAR, NULL},
                                     {"generation", M_SCALAR, NULL},
                                     {"creationTimestamp", M_SCALAR, NULL},
                                     {"deletionTimestamp", M_SCALAR, NULL},
                                     {"deletionGracePeriodSeconds", M_SCALAR, NULL},
                                     {"labels", M_MAP, NULL},
                                     {"annotations", M_MAP, NULL},
                                     {"ownerReferences", M_OBJS, OWNER_REF},
                                     {"finalizers", M_LIST, NULL},
                                     {"managedFields", M_OBJS, MANAGED},
                                     {NULL, M_SCALAR, NULL}};

/* Members of struct value v that fields does not have: recorded under
 * prefix (the path so far) and dropped unless strict. */
static void meta_struct(walk *w, const mfield *fields, json_t *v)
{
    if (!json_is_object(v))
        return;
    const char *k;
    json_t *e;
    void *next;
    json_object_foreach_safe(v, next, k, e) {
        const mfield *f = fields;
        while (f->name && strcmp(f->name, k))
            f++;
        if (!f->name) {
            record(w, k);
            if (w->u->prune)
                json_object_del(v, k);
        } else if (f->kind == M_OBJS && json_is_array(e)) {
            size_t i;
            json_t *item;
            json_array_foreach(e, i, item) {
                size_t at = push_key(w, k);
                fl_buf_printf(&w->path, "[%zu]", i);
                meta_struct(w, f->of, item);
                pop(w, at);
            }
        }
    }
}

/* The metadata member of object v, whose path is w->path. */
static void check_meta(walk *w, json_t *v)
{
    json_t *m = json_object_get(v, "metadata");
    if (!json_is_object(m))
        return;
    size_t at = push_key(w, "metadata");
    meta_struct(w, OBJECT_META, m);
    pop(w, at);
}

/* objectmeta.Coerce: the metadata of every embedded resource reached
 * through declared members (the root's is checked apart). Keys of
 * additionalProperties are written [key], as field.Path.Key does. */
static void coerce(walk *w, const json_t *sc, json_t *v, int depth)
{
    if (!sc || depth > MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        if (flag(sc, "x-kubernetes-embedded-resource"))
            check_meta(w, v);
        const json_t *props = json_object_get(sc, "properties"),
                     *addl = json_object_get(sc, "additionalProperties");
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            const json_t *p = json_object_get(props, k);
            size_t at = w->path.len;
            if (p) {
                push_key(w, k);
                coerce(w, p, e, depth + 1);
            } else if (json_is_object(addl)) {
                fl_buf_printf(&w->path, "[%s]", k);
                coerce(w, addl, e, depth + 1);
            }
            pop(w, at);
        }
    } else if (json_is_array(v)) {
        const json_t *items = json_object_get(sc, "items");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            size_t at = push_index(w, i);
            coerce(w, json_is_object(items) ? items : NULL, e, depth + 1);
            pop(w, at);
        }
    }
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort paths[from..n): each finding is sorted within its own kind. */
static void sort_from(fl_apiserver_unknown *u, size_t from)
{
    if (u->n > from + 1)
        qsort(u->paths + from, u->n - from, sizeof(u->paths[0]), cmp_path);
}

void fl_apiserver_prune_cr(const json_t *schema, json_t *obj, fl_apiserver_unknown *u)
{
    walk w = {u, FL_BUF_INIT(1u << 20)};
    /* as the coercer: the root's metadata, then pruning (sorted), then
     * the embedded resources' metadata (sorted) */
    check_meta(&w, obj);
    size_t from = u->n;
    prune(&w, schema, obj, true, 0);
    sort_from(u, from);
    from = u->n;
    coerce(&w, schema, obj, 0);
    sort_from(u, from);
    fl_buf_done(&w.path);
}

void fl_apiserver_unknown_done(fl_apiserver_unknown *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->paths[i]);
    u->n = 0;
}
