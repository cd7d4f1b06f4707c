/*
 * kube/patch.c: the public face of kube/patch.h — Content-Type mapping,
 * schema lookup, the fl_patch_apply dispatcher with kube-apiserver's decode
 * step and messages, RFC 7386 JSON merge patch (as evanphx/json-patch v4's
 * MergePatch), the two-way merge diff, and the Status for a failure.
 * JSON patch lives in patch_json.c, strategic merge in patch_strategic.c.
 * Pure functions on caller-owned values; any thread.
 */
#include <errno.h>
#include <string.h>

#include "kube/json.h"
#include "kube/patch_int.h"

static const struct {
    fl_patch_type type;
    const char *media;
} media_types[] = {
    {FL_PATCH_JSON, "application/json-patch+json"},
    {FL_PATCH_MERGE, "application/merge-patch+json"},
    {FL_PATCH_STRATEGIC, "application/strategic-merge-patch+json"},
    {FL_PATCH_APPLY, "application/apply-patch+yaml"},
};

int fl_patch_type_parse(const char *content_type, fl_patch_type *out)
{
    if (!content_type)
        return FL_EUNSUPPORTED;
    /* kube-apiserver cuts at the first ';' unless it is the first character,
     * then compares exactly (case and blanks matter). */
    const char *semi = strchr(content_type, ';');
    size_t n = semi && semi != content_type ? (size_t)(semi - content_type) : strlen(content_type);
    for (size_t i = 0; i < FL_ARRAY_LEN(media_types); i++) {
        if (strlen(media_types[i].media) == n &&
            memcmp(media_types[i].media, content_type, n) == 0) {
            *out = media_types[i].type;
            return 0;
        }
    }
    return FL_EUNSUPPORTED;
}

const char *fl_patch_type_media(fl_patch_type t)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(media_types); i++)
        if (media_types[i].type == t)
            return media_types[i].media;
    return "";
}

const fl_patch_schema *fl_patch_schema_for(const char *group, const char *kind)
{
    if (!kind)
        return NULL;
    for (size_t i = 0; i < fl_patch_sm_nkinds; i++) {
        const fl_patch_schema *s = &fl_patch_sm_kinds[i];
        if (strcmp(s->group, group ? group : "") == 0 && strcmp(s->kind, kind) == 0)
            return s;
    }
    return NULL;
}

/* ---- JSON merge patch (RFC 7386, evanphx/json-patch v4 MergePatch) ------ */

/* A copy of v with null members of objects removed, recursively; nulls in
 * arrays stay (pruneNulls). New reference or NULL on ENOMEM. */
static json_t *prune_nulls(const json_t *v)
{
    const char *k;
    json_t *x, *c;
    size_t i;
    if (json_is_object(v)) {
        if (!(c = json_object()))
            return NULL;
        json_object_foreach((json_t *)v, k, x) {
            if (json_is_null(x))
                continue;
            if (json_object_set_new(c, k, prune_nulls(x))) {
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
            if (json_array_append_new(c, prune_nulls(x))) {
                json_decref(c);
                return NULL;
            }
        return c;
    }
    return json_deep_copy(v);
}

/* mergeDocs: merge patch object p into object doc (owned, modified). */
static int merge_docs(json_t *doc, const json_t *p)
{
    const char *k;
    json_t *pv;
    json_object_foreach((json_t *)p, k, pv) {
        json_t *cur = json_object_get(doc, k), *nv;
        if (json_is_null(pv)) {
            json_object_del(doc, k);
            continue;
        }
        if (!cur || json_is_null(cur) || !json_is_object(cur)) {
            nv = prune_nulls(pv); /* new member, or a non-object replaced */
        } else if (!json_is_object(pv)) {
            nv = json_deep_copy(pv); /* merge(): patch not a doc, taken as is */
        } else {
            if (merge_docs(cur, pv))
                return -ENOMEM;
            continue;
        }
        if (!nv || json_object_set_new(doc, k, nv))
            return -ENOMEM;
    }
    return 0;
}

int fl_patch_merge_apply(const json_t *original, const json_t *patch, json_t **out, fl_err *err)
{
    json_t *doc;
    if (!json_is_object(patch)) { /* RFC 7386: the patch replaces the target */
        doc = prune_nulls(patch);
    } else if (!json_is_object(original)) {
        doc = prune_nulls(patch);
    } else {
        doc = json_deep_copy(original);
        if (doc && merge_docs(doc, patch)) {
            json_decref(doc);
            doc = NULL;
        }
    }
    if (!doc)
        return fl_err_set(err, -ENOMEM, "out of memory");
    *out = doc;
    return 0;
}

/* ---- two-way merge diff -------------------------------------------------- */

static int diff_objects(const json_t *from, const json_t *to, json_t *into)
{
    const char *k;
    json_t *tv, *fv;
    json_object_foreach((json_t *)to, k, tv) {
        fv = json_object_get(from, k);
        if (fv && json_is_object(fv) && json_is_object(tv)) {
            json_t *sub = json_object();
            if (!sub || diff_objects(fv, tv, sub)) {
                json_decref(sub);
                return -ENOMEM;
            }
            if (json_object_size(sub) == 0) {
                json_decref(sub);
                continue;
            }
            if (json_object_set_new(into, k, sub))
                return -ENOMEM;
            continue;
        }
        if (fv && fl_patch_scalar_eq(fv, tv))
            continue;
        if (json_object_set_new(into, k, json_deep_copy(tv)))
            return -ENOMEM;
    }
    json_object_foreach((json_t *)from, k, fv) {
        if (!json_object_get(to, k) && json_object_set_new(into, k, json_null()))
            return -ENOMEM;
    }
    return 0;
}

int fl_patch_merge_diff(const json_t *from, const json_t *to, json_t **out, fl_err *err)
{
    if (!json_is_object(from) || !json_is_object(to))
        return fl_err_set(err, -EINVAL, "merge diff needs two objects");
    json_t *d = json_object();
    if (!d || diff_objects(from, to, d)) {
        json_decref(d);
        return fl_err_set(err, -ENOMEM, "out of memory");
    }
    *out = d;
    return 0;
}

/* ---- dispatcher ---------------------------------------------------------- */

/* kube-apiserver decodes merge and strategic patches into a
 * map[string]interface{} first: anything but an object or null fails. */
static int need_object(const json_t *p, const char *prefix, fl_err *err)
{
    if (json_is_object(p) || json_is_null(p))
        return 0;
    return fl_err_set(err, FL_EPARSE,
                      "%sjson: cannot unmarshal %s into Go value of type map[string]interface {}",
                      prefix, fl_patch_go_kind(p));
}

static int apply_parsed(fl_patch_type type, const json_t *original, const json_t *p,
                        const fl_patch_schema *schema, json_t **out, fl_err *err)
{
    int rc;
    switch (type) {
    case FL_PATCH_MERGE:
        if ((rc = need_object(p, "error decoding patch: ", err)) != 0)
            return rc;
        if (json_is_null(p))
            return fl_err_set(err, FL_EPARSE, "Invalid JSON Patch");
        return fl_patch_merge_apply(original, p, out, err);
    case FL_PATCH_JSON: return fl_patch_json_apply(original, p, out, err);
    case FL_PATCH_STRATEGIC:
        if ((rc = need_object(p, "", err)) != 0)
            return rc;
        if (json_is_null(p)) {
            json_t *c = json_deep_copy(original);
            if (!c)
                return fl_err_set(err, -ENOMEM, "out of memory");
            *out = c;
            return 0;
        }
        return fl_patch_strategic_apply(original, p, schema, out, err);
    default: return fl_err_set(err, FL_EUNSUPPORTED, "415: Unsupported Media Type");
    }
}

int fl_patch_apply(fl_patch_type type, const json_t *original, const char *patch, size_t len,
                   const fl_patch_schema *schema, json_t **out, fl_err *err)
{
    json_t *p = NULL;
    int rc;
    if (type != FL_PATCH_JSON && type != FL_PATCH_MERGE && type != FL_PATCH_STRATEGIC)
        return fl_err_set(err, FL_EUNSUPPORTED, "415: Unsupported Media Type");
    if (type == FL_PATCH_STRATEGIC && !schema)
        return fl_err_set(err, FL_EUNSUPPORTED,
                          "the body of the request was in an unknown format - accepted media "
                          "types include: application/json-patch+json, "
                          "application/merge-patch+json, application/apply-patch+yaml");
    if (!original)
        return fl_err_set(err, -EINVAL, "no original document");
    rc = fl_patch_parse(patch ? patch : "", patch ? len : 0,
                        type == FL_PATCH_STRATEGIC ? "" : "error decoding patch: ", &p, err);
    if (rc)
        return rc;
    rc = apply_parsed(type, original, p, schema, out, err);
    json_decref(p);
    return rc;
}

json_t *fl_patch_status(int rc, const fl_err *err)
{
    const char *msg = err && err->msg[0] ? err->msg : fl_strerror(rc);
    json_t *st;
    switch (rc) {
    case FL_EPARSE: return fl_status_new(400, "BadRequest", msg);
    case -E2BIG: return fl_status_new(413, "RequestEntityTooLarge", msg);
    case FL_EUNSUPPORTED:
        st = fl_status_new(415, "UnsupportedMediaType", msg);
        /* the terse negotiation error carries empty details, the
         * "unknown format" one none (golden 04-responses/status-415-*) */
        if (st && strcmp(msg, "415: Unsupported Media Type") == 0)
            fl_status_set_details(st, NULL, NULL, NULL);
        return st;
    case -EINVAL:
        /* NewGenericServerResponse(422, ...): generic text, empty details */
        st = fl_status_new(422, "Invalid",
                           "the server rejected our request due to an error in our request");
        if (st)
            fl_status_set_details(st, NULL, NULL, NULL);
        return st;
    default: return fl_status_new(500, "InternalError", msg);
    }
}
