/*
 * index/scan.c: the decoders' in-place path. For an object inside a
 * document that kube/jscan accepted as plain, the stored JSON is written
 * by copying the member's own bytes: the top-level members as they came
 * (minus Secret data), metadata without managedFields, annotations without
 * the last-applied configuration and with the cluster-name annotation
 * appended (where jansson's json_object_set would put it), and list items
 * prefixed with kind and apiVersion (as decode.c's with_type_meta). What
 * the writer stores beside the JSON is extracted by decode.c's idx_dec_fill
 * from a small view parsed by jansson: the pruned metadata, the members
 * of spec that extraction reads, and the status members of pods and nodes.
 * Any shape not handled here returns 0 and the caller takes the jansson
 * path, so both paths give the same record (tests/index/test_scan.c and
 * the index_scan fuzz target check that).
 * Runs on decoder threads; touches only its arguments.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"
#define TOP_MAX 32

/* Strings we write ourselves must need no escaping in Go's encoding. */
static bool plain_str(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&')
            return false;
    }
    return true;
}

static bool is_core(const fl_index_src *src, const char *resource)
{
    return src->group[0] == 0 && strcmp(src->resource, resource) == 0;
}

static int put(fl_buf *b, fl_jval v)
{
    return fl_buf_append(b, v.p, v.n);
}

static int putc1(fl_buf *b, char c)
{
    return fl_buf_append(b, &c, 1);
}

/* ------------------------------------------------------------ the stored JSON */

/* annotations (ann NULL: absent) minus last-applied (always for a Secret:
 * it holds the data in plaintext), plus the cluster; 1 when the cluster
 * annotation is already there (the jansson path replaces it in place). */
static int emit_ann(fl_buf *b, const fl_jval *ann, bool keep_applied, const char *cluster)
{
    bool first = true;
    int rc = putc1(b, '{');
    if (ann) {
        fl_jiter it = fl_jscan_iter(*ann);
        fl_jval k, m;
        while (rc == 0 && fl_jscan_next(&it, &k, NULL, &m)) {
            if (!keep_applied && fl_jscan_key_is(k, LAST_APPLIED))
                continue;
            if (fl_jscan_key_is(k, FL_INDEX_CLUSTER_ANNOTATION))
                return 1;
            if (!first)
                rc = putc1(b, ',');
            if (rc == 0)
                rc = put(b, m);
            first = false;
        }
    }
    if (rc == 0 && !first)
        rc = putc1(b, ',');
    if (rc == 0)
        rc = fl_buf_puts(b, "\"" FL_INDEX_CLUSTER_ANNOTATION "\":\"");
    if (rc == 0)
        rc = fl_buf_puts(b, cluster);
    return rc ? rc : fl_buf_puts(b, "\"}");
}

/* metadata minus managedFields, with emit_ann's annotations (appended at
 * the end when absent); *at and *len get where it is in b. */
static int emit_md(fl_buf *b, fl_jval md, const dec_opts *o, bool secret, const char *cluster,
                   size_t *at, size_t *len)
{
    fl_jiter it = fl_jscan_iter(md);
    fl_jval k, v, m;
    bool first = true, had_ann = false;
    int rc;
    *at = b->len;
    rc = putc1(b, '{');
    while (rc == 0 && fl_jscan_next(&it, &k, &v, &m)) {
        if (!o->keep_managed_fields && fl_jscan_key_is(k, "managedFields"))
            continue;
        if (!first)
            rc = putc1(b, ',');
        first = false;
        if (rc == 0 && fl_jscan_key_is(k, "annotations")) {
            had_ann = true;
            if (fl_jscan_kind(v) != '{')
                return 1; /* null annotations: the jansson path */
            rc = fl_buf_append(b, m.p, (size_t)(v.p - m.p)); /* "key": */
            if (rc == 0)
                rc = emit_ann(b, &v, o->keep_last_applied && !secret, cluster);
        } else if (rc == 0) {
            rc = put(b, m);
        }
    }
    if (rc == 0 && !had_ann) {
        if (!first)
            rc = putc1(b, ',');
        if (rc == 0)
            rc = fl_buf_puts(b, "\"annotations\":");
        if (rc == 0)
            rc = emit_ann(b, NULL, o->keep_last_applied && !secret, cluster);
    }
    if (rc == 0 && (rc = putc1(b, '}')) == 0)
        *len = b->len - *at;
    return rc;
}

typedef struct top {
    fl_jval key[TOP_MAX], val[TOP_MAX], mem[TOP_MAX];
    size_t n;
    int md; /* index of metadata */
    bool has_kind, has_av;
} top;

/* The top-level members; false when there are too many or metadata is
 * missing or not an object (the jansson path handles those). */
static bool read_top(fl_jval obj, top *t)
{
    fl_jiter it = fl_jscan_iter(obj);
    t->n = 0, t->md = -1, t->has_kind = t->has_av = false;
    while (fl_jscan_next(&it, &t->key[t->n], &t->val[t->n], &t->mem[t->n])) {
        fl_jval k = t->key[t->n];
        if (fl_jscan_key_is(k, "metadata"))
            t->md = (int)t->n;
        else if (fl_jscan_key_is(k, "kind"))
            t->has_kind = true;
        else if (fl_jscan_key_is(k, "apiVersion"))
            t->has_av = true;
        if (++t->n == TOP_MAX)
            return false;
    }
    return t->md >= 0 && fl_jscan_kind(t->val[t->md]) == '{';
}

/* The stored JSON into b; *md_at and *md_len: where metadata is in b. 0 on
 * success, 1 when the jansson path must do it, -ENOMEM, -E2BIG. */
static int emit_obj(fl_buf *b, const dec_opts *o, const fl_index_src *src, const top *t,
                    size_t *md_at, size_t *md_len)
{
    bool first = true, secret = is_core(src, "secrets");
    int rc = 0;
    if (!t->has_kind && src->kind[0]) {
        if (t->has_av || !plain_str(src->kind) || !plain_str(src->group) ||
            !plain_str(src->version))
            return 1; /* with_type_meta would reorder an apiVersion */
        rc = fl_buf_printf(b, "{\"kind\":\"%s\",\"apiVersion\":\"%s%s%s\"", src->kind, src->group,
                           src->group[0] ? "/" : "", src->version);
        first = false;
    } else {
        rc = putc1(b, '{');
    }
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        if (secret &&
            (fl_jscan_key_is(t->key[i], "data") || fl_jscan_key_is(t->key[i], "stringData")))
            continue;
        if (!first)
            rc = putc1(b, ',');
        first = false;
        if (rc == 0 && (int)i == t->md) {
            rc = fl_buf_append(b, t->mem[i].p, (size_t)(t->val[i].p - t->mem[i].p));
            if (rc == 0)
                rc = emit_md(b, t->val[i], o, secret, src->cluster, md_at, md_len);
        } else if (rc == 0) {
            rc = put(b, t->mem[i]);
        }
    }
    return rc ? rc : putc1(b, '}');
}

/* ---------------------------------------------------------------- the view */

static const char *const SPEC_KEEP[] = {"containers",    "initContainers", "ephemeralContainers",
                                        "overhead",      "nodeName",       "priorityClassName",
                                        "unschedulable", "taints",         "template",
                                        "jobTemplate"};
static const char *const CONTAINER_KEEP[] = {"image", "resources", "restartPolicy"};
static const char *const POD_STATUS_KEEP[] = {"phase", "qosClass"};
static const char *const NODE_STATUS_KEEP[] = {"conditions", "capacity", "allocatable"};

static bool key_in(fl_jval k, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fl_jscan_key_is(k, names[i]))
            return true;
    return false;
}

/* obj with only the members named in keep (containers: deep, each element
 * cut to CONTAINER_KEEP). Anything but an object is copied whole. */
static int pick(fl_buf *b, fl_jval obj, const char *const *keep, size_t nkeep, bool deep)
{
    if (fl_jscan_kind(obj) != '{')
        return put(b, obj);
    fl_jiter it = fl_jscan_iter(obj);
    fl_jval k, v, m;
    bool first = true;
    int rc = putc1(b, '{');
    while (rc == 0 && fl_jscan_next(&it, &k, &v, &m)) {
        if (!key_in(k, keep, nkeep))
            continue;
        if (!first)
            rc = putc1(b, ',');
        first = false;
        if (rc == 0 && deep && fl_jscan_kind(v) == '[' && key_in(k, SPEC_KEEP, 3)) {
            fl_jiter ci = fl_jscan_iter(v);
            fl_jval c;
            bool cfirst = true;
            rc = fl_buf_append(b, m.p, (size_t)(v.p - m.p));
            if (rc == 0)
                rc = putc1(b, '[');
            while (rc == 0 && fl_jscan_next(&ci, NULL, &c, NULL)) {
                if (!cfirst)
                    rc = putc1(b, ',');
                cfirst = false;
                if (rc == 0)
                    rc = pick(b, c, CONTAINER_KEEP, FL_ARRAY_LEN(CONTAINER_KEEP), false);
            }
            if (rc == 0)
                rc = putc1(b, ']');
        } else if (rc == 0) {
            rc = put(b, m);
        }
    }
    return rc ? rc : putc1(b, '}');
}

static int build_view(fl_buf *v, const fl_index_src *src, const top *t, fl_jval md_out)
{
    int rc = fl_buf_puts(v, "{\"metadata\":");
    if (rc == 0)
        rc = put(v, md_out);
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        fl_jval k = t->key[i];
        if (fl_jscan_key_is(k, "spec")) {
            if ((rc = fl_buf_puts(v, ",\"spec\":")) == 0)
                rc = pick(v, t->val[i], SPEC_KEEP, FL_ARRAY_LEN(SPEC_KEEP), true);
        } else if (fl_jscan_key_is(k, "status") && is_core(src, "pods")) {
            if ((rc = fl_buf_puts(v, ",\"status\":")) == 0)
                rc = pick(v, t->val[i], POD_STATUS_KEEP, FL_ARRAY_LEN(POD_STATUS_KEEP), false);
        } else if (fl_jscan_key_is(k, "status") && is_core(src, "nodes")) {
            if ((rc = fl_buf_puts(v, ",\"status\":")) == 0)
                rc = pick(v, t->val[i], NODE_STATUS_KEEP, FL_ARRAY_LEN(NODE_STATUS_KEEP), false);
        }
    }
    return rc ? rc : putc1(v, '}');
}

/* ------------------------------------------------------------------ entry */

int idx_dec_object_scan(const dec_opts *o, const fl_index_src *src, fl_jval obj, rec_op op,
                        fl_rec **out)
{
    fl_buf b = FL_BUF_INIT(FL_INDEX_ITEM_MAX), v = FL_BUF_INIT(FL_INDEX_ITEM_MAX);
    json_t *view = NULL;
    fl_rec *r = NULL;
    top *t = NULL;
    size_t md_at = 0, md_len = 0;
    int rc = 0;
    if (fl_jscan_kind(obj) != '{' || !plain_str(src->cluster))
        return 0;
    if (!(t = malloc(sizeof *t)))
        return -ENOMEM;
    if (!read_top(obj, t) || (rc = fl_buf_reserve(&b, obj.n + 256)) < 0)
        goto out;
    if ((rc = emit_obj(&b, o, src, t, &md_at, &md_len)) != 0) {
        if (rc > 0)
            rc = 0;
        goto out;
    }
    fl_jval md_out = {b.data + md_at, md_len, NULL};
    if ((rc = build_view(&v, src, t, md_out)) < 0)
        goto out;
    if (!(view = json_loadb(v.data, v.len, JSON_ALLOW_NUL, NULL)))
        goto out; /* rc 0: the jansson path decides */
    const char *name = fl_obj_str(view, "metadata.name");
    if (!name || !name[0])
        goto out;
    if (!(r = calloc(1, sizeof *r))) {
        rc = -ENOMEM;
        goto out;
    }
    r->op = op;
    if ((rc = idx_dec_fill(r, src, view)) < 0)
        goto out;
    r->json_len = b.len;
    r->json = fl_buf_steal(&b);
    *out = r;
    r = NULL;
    rc = 1;
out:
    if (rc == -E2BIG)
        rc = 0; /* too big to copy: the jansson path reports it */
    idx_rec_free(r);
    json_decref(view);
    fl_buf_done(&b), fl_buf_done(&v);
    free(t);
    return rc;
}
