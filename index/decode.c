/*
 * index/decode.c: what the decoder workers do to one submitted item —
 * parse the watch event or list page, prune each object (managedFields,
 * last-applied annotation, Secret data), add the cluster-name annotation,
 * and extract what the writer stores beside the JSON: key, uid, owner,
 * labels, full-text fields and the materialized pod/node facts.
 * Runs on decoder threads; touches only its arguments.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_int.h"
#include "kube/kube.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"
#define FTS_TEXT_MAX 8192 /* per FTS column; longer text is cut */

void idx_rec_free(fl_rec *r)
{
    if (!r)
        return;
    free(r->ns), free(r->name), free(r->uid), free(r->rv), free(r->owner_uid);
    free(r->json);
    free(r->zjson);
    for (size_t i = 0; i < r->n_labels * 2; i++)
        free(r->labels[i]);
    free(r->labels);
    free(r->fts_labels), free(r->fts_annotations), free(r->fts_images);
    free(r->node), free(r->phase), free(r->qos), free(r->prio_class);
    free(r->region), free(r->zone), free(r->taints);
    for (size_t i = 0; i < r->n_res; i++)
        free(r->res[i].name);
    free(r->res);
    free(r);
}

void idx_dec_out_done(dec_out *out)
{
    for (size_t i = 0; i < out->n_recs; i++)
        idx_rec_free(out->recs[i]);
    free(out->recs);
    free(out->rv);
    free(out->error);
    memset(out, 0, sizeof *out);
}

uint64_t fl_hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 31);
}

static char *dupstr(const char *s)
{
    return fl_strndup(s ? s : "", s ? strlen(s) : 0);
}

/* ---------------------------------------------------------------- pruning */

static bool is_core(const fl_index_src *src, const char *resource)
{
    return src->group[0] == 0 && strcmp(src->resource, resource) == 0;
}

static int prune_and_annotate(const dec_opts *o, const fl_index_src *src, json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    if (!o->keep_managed_fields && md)
        json_object_del(md, "managedFields");
    bool secret = is_core(src, "secrets");
    /* A Secret's last-applied annotation holds its data in plaintext: it
     * goes whatever sync.prune says (#19.5). */
    if ((!o->keep_last_applied || secret) && md) {
        json_t *ann = json_object_get(md, "annotations");
        if (ann)
            json_object_del(ann, LAST_APPLIED);
    }
    if (secret) {
        json_object_del(obj, "data");
        json_object_del(obj, "stringData");
    }
    return fl_obj_set_annotation(obj, FL_INDEX_CLUSTER_ANNOTATION, src->cluster);
}

/* List items come without kind/apiVersion: put them first, as Go would. */
static json_t *with_type_meta(const fl_index_src *src, json_t *obj)
{
    if (json_object_get(obj, "kind") || !src->kind[0])
        return json_incref(obj);
    char av[256];
    if (src->group[0])
        snprintf(av, sizeof av, "%s/%s", src->group, src->version);
    else
        snprintf(av, sizeof av, "%s", src->version);
    json_t *n = json_object();
    if (!n || json_object_set_new(n, "kind", json_string(src->kind)) < 0 ||
        json_object_set_new(n, "apiVersion", json_string(av)) < 0 ||
        json_object_update(n, obj) < 0) {
        json_decref(n);
        return NULL;
    }
    return n;
}

/* ------------------------------------------------------------- extraction */

static int text_add(fl_buf *b, const char *k, const char *v)
{
    if (b->len >= FTS_TEXT_MAX)
        return 0;
    int rc = b->len ? fl_buf_puts(b, " ") : 0;
    if (rc == 0)
        rc = fl_buf_puts(b, k);
    if (rc == 0 && v) {
        if ((rc = fl_buf_puts(b, "=")) == 0)
            rc = fl_buf_puts(b, v);
    }
    return rc == -E2BIG ? 0 : rc;
}

static char *buf_take(fl_buf *b)
{
    if (!b->data)
        return dupstr("");
    return fl_buf_steal(b);
}

static int extract_labels(fl_rec *r, json_t *md)
{
    json_t *labels = json_object_get(md, "labels");
    size_t n = json_is_object(labels) ? json_object_size(labels) : 0;
    fl_buf txt = FL_BUF_INIT(FTS_TEXT_MAX + 1024);
    uint64_t h = 7;
    const char *k;
    json_t *v;
    r->labels = calloc(n * 2 + 1, sizeof *r->labels);
    if (!r->labels)
        return -ENOMEM;
    json_object_foreach(labels, k, v) {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        size_t i = r->n_labels * 2;
        if (!(r->labels[i] = dupstr(k)) || !(r->labels[i + 1] = dupstr(s)))
            goto nomem;
        r->n_labels++;
        h = fl_hash64(k, strlen(k) + 1, h);
        h = fl_hash64(s, strlen(s) + 1, h);
        if (text_add(&txt, k, s) < 0)
            goto nomem;
    }
    r->labels_hash = h;
    r->fts_labels = buf_take(&txt);
    return r->fts_labels ? 0 : -ENOMEM;
nomem:
    fl_buf_done(&txt);
    return -ENOMEM;
}

static int extract_annotations(fl_rec *r, json_t *md)
{
    fl_buf txt = FL_BUF_INIT(FTS_TEXT_MAX + 1024);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(md, "annotations"), k, v) {
        if (strcmp(k, FL_INDEX_CLUSTER_ANNOTATION) == 0 || !json_string_value(v))
            continue;
        if (text_add(&txt, k, json_string_value(v)) < 0) {
            fl_buf_done(&txt);
            return -ENOMEM;
        }
    }
    r->fts_annotations = buf_take(&txt);
    return r->fts_annotations ? 0 : -ENOMEM;
}

static int images_of(fl_buf *b, json_t *podspec)
{
    static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};
    for (size_t l = 0; l < FL_ARRAY_LEN(lists); l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(podspec, lists[l]), i, c) {
            const char *img = json_string_value(json_object_get(c, "image"));
            if (img && text_add(b, img, NULL) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static int extract_images(fl_rec *r, json_t *obj)
{
    /* Pods, pod templates (workloads) and CronJob job templates. */
    static const char *const paths[] = {"spec", "spec.template.spec",
                                        "spec.jobTemplate.spec.template.spec"};
    fl_buf txt = FL_BUF_INIT(FTS_TEXT_MAX + 1024);
    for (size_t i = 0; i < FL_ARRAY_LEN(paths); i++) {
        json_t *ps = fl_obj_get(obj, paths[i]);
        if (json_is_object(ps) && images_of(&txt, ps) < 0) {
            fl_buf_done(&txt);
            return -ENOMEM;
        }
    }
    r->fts_images = buf_take(&txt);
    return r->fts_images ? 0 : -ENOMEM;
}

static char *controller_uid(json_t *md)
{
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(md, "ownerReferences"), i, ref) {
        if (json_is_true(json_object_get(ref, "controller")))
            return dupstr(json_string_value(json_object_get(ref, "uid")));
    }
    return dupstr("");
}

static uint64_t fts_hash_of(const fl_rec *r)
{
    uint64_t h = fl_hash64(r->name, strlen(r->name) + 1, 11);
    h = fl_hash64(r->ns, strlen(r->ns) + 1, h);
    h = fl_hash64(r->fts_labels, strlen(r->fts_labels) + 1, h);
    h = fl_hash64(r->fts_annotations, strlen(r->fts_annotations) + 1, h);
    return fl_hash64(r->fts_images, strlen(r->fts_images) + 1, h);
}

static int serialize(fl_rec *r, const json_t *obj)
{
    fl_buf b = FL_BUF_INIT(FL_INDEX_ITEM_MAX);
    int rc = fl_json_encode(obj, false, &b);
    if (rc < 0) {
        fl_buf_done(&b);
        return rc;
    }
    if (b.len && b.data[b.len - 1] == '\n')
        b.data[--b.len] = 0;
    r->json_len = b.len;
    r->json = fl_buf_steal(&b);
    return r->json ? 0 : -ENOMEM;
}

int idx_dec_fill(fl_rec *r, const fl_index_src *src, json_t *view)
{
    json_t *md = json_object_get(view, "metadata");
    const char *ts = json_string_value(json_object_get(md, "creationTimestamp"));
    if (ts && fl_time_parse(ts, &r->created) < 0)
        r->created = 0;
    r->name = dupstr(json_string_value(json_object_get(md, "name")));
    r->ns = dupstr(json_string_value(json_object_get(md, "namespace")));
    r->uid = dupstr(json_string_value(json_object_get(md, "uid")));
    r->rv = dupstr(json_string_value(json_object_get(md, "resourceVersion")));
    r->owner_uid = controller_uid(md);
    if (!r->name || !r->ns || !r->uid || !r->rv || !r->owner_uid)
        return -ENOMEM;
    if (r->op == REC_UPSERT && (extract_labels(r, md) < 0 || extract_annotations(r, md) < 0 ||
                                extract_images(r, view) < 0 || idx_dec_facts(r, src, view) < 0))
        return -ENOMEM;
    if (r->op == REC_UPSERT)
        r->fts_hash = fts_hash_of(r);
    return 0;
}

fl_rec *idx_dec_object(const dec_opts *o, const fl_index_src *src, json_t *in, rec_op op)
{
    const char *name = fl_obj_str(in, "metadata.name");
    json_t *obj = NULL;
    fl_rec *r = NULL;
    if (!name || !name[0] || !(r = calloc(1, sizeof *r)))
        return NULL;
    r->op = op;
    if (!(obj = with_type_meta(src, in)) || prune_and_annotate(o, src, obj) < 0 ||
        idx_dec_fill(r, src, obj) < 0 || serialize(r, obj) < 0)
        goto fail;
    json_decref(obj);
    return r;
fail:
    json_decref(obj);
    idx_rec_free(r);
    return NULL;
}

/* ------------------------------------------------------------ items */

static int push_rec(dec_out *out, fl_rec *r, size_t *cap)
{
    if (fl_grow(&out->recs, cap, out->n_recs + 1, sizeof *out->recs) != 0) {
        idx_rec_free(r);
        return -ENOMEM;
    }
    out->recs[out->n_recs++] = r;
    return 0;
}

/* Record "what: detail" as the item's error message. */
static int set_msg(dec_out *out, const char *what, const char *detail)
{
    fl_err e = FL_ERR_INIT;
    fl_err_set(&e, FL_EPARSE, "%s: %s", what, detail ? detail : "");
    free(out->error);
    out->error = dupstr(e.msg);
    return out->error ? 0 : -ENOMEM;
}

/* A decode failure: message plus the decode_errors count. */
static int set_error(dec_out *out, const char *what, const char *detail)
{
    out->decode_errors++;
    return set_msg(out, what, detail);
}

/* ------------------------------------------------------ in-place fast path
 * Documents kube/jscan accepts as plain are read in place (scan.c); what
 * is unusual goes the jansson way below, which also words every error. */

/* A string member's bytes when plain (no escapes); *set false if absent
 * or not a string. false: present as a string with escapes. */
static bool raw_member(fl_jval obj, const char *key, fl_jval *s, bool *set)
{
    fl_jval v;
    *set = false;
    if (!fl_jscan_get(obj, key, &v, NULL) || fl_jscan_kind(v) != '"')
        return true;
    *set = true;
    return fl_jscan_str_raw(v, s);
}

/* The RV at obj.metadata.resourceVersion into out->rv. 1 done, 0 escaped
 * (jansson path), -ENOMEM. */
static int scan_rv(fl_jval obj, dec_out *out)
{
    fl_jval md, rv;
    bool set;
    if (!fl_jscan_get(obj, "metadata", &md, NULL) || fl_jscan_kind(md) != '{')
        return 1;
    if (!raw_member(md, "resourceVersion", &rv, &set))
        return 0;
    if (set && !(out->rv = fl_strndup(rv.p, rv.n)))
        return -ENOMEM;
    return 1;
}

/* 1 decoded, 0 take the jansson path (out untouched), -ENOMEM. */
static int scan_event_in(const dec_opts *o, const fl_index_src *src, fl_jval ev, dec_out *out)
{
    fl_jval type, obj;
    bool set;
    size_t cap = 0;
    rec_op op;
    fl_rec *r = NULL;
    if (fl_jscan_kind(ev) != '{' || !raw_member(ev, "type", &type, &set) || !set ||
        !fl_jscan_get(ev, "object", &obj, NULL) || fl_jscan_kind(obj) != '{')
        return 0;
#define TYPE_IS(s) (type.n == sizeof s - 1 && memcmp(type.p, s, type.n) == 0)
    if (TYPE_IS("ADDED") || TYPE_IS("MODIFIED"))
        op = REC_UPSERT;
    else if (TYPE_IS("DELETED"))
        op = REC_DELETE;
    else if (!TYPE_IS("BOOKMARK"))
        return 0;
    else
        op = 0;
#undef TYPE_IS
    int rc = op ? idx_dec_object_scan(o, src, obj, op, &r) : 1;
    if (rc <= 0)
        return rc;
    if ((rc = scan_rv(obj, out)) <= 0) {
        idx_rec_free(r);
        return rc;
    }
    return r ? (push_rec(out, r, &cap) < 0 ? -ENOMEM : 1) : 1;
}

/* 1 decoded, 0 take the jansson path (out untouched), -ENOMEM. */
static int scan_list_in(const dec_opts *o, const fl_index_src *src, fl_jval list, dec_out *out)
{
    fl_jval items, it;
    size_t cap = 0;
    int rc;
    if (fl_jscan_kind(list) != '{' || !fl_jscan_get(list, "items", &items, NULL) ||
        (fl_jscan_kind(items) != '[' && fl_jscan_kind(items) != 'n'))
        return 0;
    if ((rc = scan_rv(list, out)) <= 0)
        return rc;
    fl_jiter iter = fl_jscan_iter(items);
    while (fl_jscan_next(&iter, NULL, &it, NULL)) {
        fl_rec *r = NULL;
        if (fl_jscan_kind(it) != '{') {
            out->decode_errors++;
            continue;
        }
        if ((rc = idx_dec_object_scan(o, src, it, REC_UPSERT, &r)) < 0)
            return rc;
        if (rc == 0) { /* this item the jansson way */
            json_t *j = json_loadb(it.p, it.n, JSON_ALLOW_NUL, NULL);
            r = j ? idx_dec_object(o, src, j, REC_UPSERT) : NULL;
            json_decref(j);
            out->parsed += r != NULL;
        }
        if (!r) {
            out->decode_errors++;
            continue;
        }
        if (push_rec(out, r, &cap) < 0)
            return -ENOMEM;
    }
    return 1;
}

/* Validate and index data once, then decode it in place. */
static int scan_doc(const dec_opts *o, const fl_index_src *src, const char *data, size_t len,
                    dec_out *out, bool list)
{
    fl_jdoc doc;
    int rc = 0;
    if (fl_jscan_doc(&doc, data, len)) {
        fl_jval root = fl_jscan_root(&doc, data, len);
        rc = list ? scan_list_in(o, src, root, out) : scan_event_in(o, src, root, out);
    }
    fl_jscan_doc_done(&doc);
    return rc;
}

int idx_dec_event(const dec_opts *o, const fl_index_src *src, const char *data, size_t len,
                  dec_out *out)
{
    int fast = scan_doc(o, src, data, len, out, false);
    if (fast != 0)
        return fast < 0 ? fast : 0;
    json_t *ev = NULL;
    fl_err e = FL_ERR_INIT;
    size_t cap = 0;
    int rc = 0;
    if (fl_json_parse(data, len, &ev, &e) < 0)
        return set_error(out, "watch event", e.msg);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        rc = set_error(out, "watch event", "no type or object");
        goto out;
    }
    if (strcmp(type, "ERROR") == 0) {
        const char *msg = json_string_value(json_object_get(obj, "message"));
        rc = set_msg(out, "watch error", msg ? msg : "(no message)");
        goto out;
    }
    const char *rv = fl_obj_str(obj, "metadata.resourceVersion");
    if (rv && !(out->rv = dupstr(rv))) {
        rc = -ENOMEM;
        goto out;
    }
    if (strcmp(type, "BOOKMARK") == 0)
        goto out;
    rec_op op;
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0)
        op = REC_UPSERT;
    else if (strcmp(type, "DELETED") == 0)
        op = REC_DELETE;
    else {
        rc = set_error(out, "watch event: unknown type", type);
        goto out;
    }
    fl_rec *r = idx_dec_object(o, src, obj, op);
    if (!r)
        rc = set_error(out, "watch event", "object without metadata.name (or out of memory)");
    else if ((rc = push_rec(out, r, &cap)) == 0)
        out->parsed++;
out:
    json_decref(ev);
    return rc;
}

int idx_dec_list(const dec_opts *o, const fl_index_src *src, const char *data, size_t len,
                 dec_out *out)
{
    int fast = scan_doc(o, src, data, len, out, true);
    if (fast != 0)
        return fast < 0 ? fast : 0;
    json_t *list = NULL, *it;
    fl_err e = FL_ERR_INIT;
    size_t cap = 0, i;
    int rc = 0;
    if (fl_json_parse(data, len, &list, &e) < 0)
        return set_error(out, "list", e.msg);
    json_t *items = json_object_get(list, "items");
    if (!json_is_array(items) && !json_is_null(items)) {
        rc = set_error(out, "list", "no items array");
        goto out;
    }
    const char *rv = fl_obj_str(list, "metadata.resourceVersion");
    if (rv && !(out->rv = dupstr(rv))) {
        rc = -ENOMEM;
        goto out;
    }
    json_array_foreach(items, i, it) {
        fl_rec *r = json_is_object(it) ? idx_dec_object(o, src, it, REC_UPSERT) : NULL;
        if (!r) {
            out->decode_errors++;
            continue;
        }
        if ((rc = push_rec(out, r, &cap)) < 0)
            goto out;
        out->parsed++;
    }
out:
    json_decref(list);
    return rc;
}
