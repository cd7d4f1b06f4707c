/*
 * apiserver/obj.c: stored objects — immutable, reference-counted, shared
 * between the store, its history and readers. Builds the stored form of a
 * JSON object (compact JSON plus the fields selectors read) and reads it
 * back (generated records are rendered by their recipe's ops). Calls
 * nothing above it in apiserver/.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"

/* ----------------------------------------------------------------- objects */

void fl_apiserver_obj_ref(fl_apiserver_obj *o)
{
    if (o)
        atomic_fetch_add(&o->refs, 1);
}

void fl_apiserver_obj_unref(fl_apiserver_obj *o)
{
    if (o && atomic_fetch_sub(&o->refs, 1) == 1) {
        if (o->gen)
            o->gen->ops->unref(o->gen);
        free(o);
    }
}

int fl_apiserver_obj_write(const fl_apiserver_obj *o, bool item, fl_buf *out)
{
    if (!o->json)
        return o->gen->ops->render(o, item, out);
    if (!item || !o->hdr)
        return fl_buf_append(out, o->json, o->len);
    int rc = fl_buf_puts(out, "{");
    return rc ? rc : fl_buf_append(out, o->json + 1 + o->hdr, o->len - 1 - o->hdr);
}

const char *fl_apiserver_obj_json(const fl_apiserver_obj *o, fl_buf *scratch, size_t *len)
{
    if (o->json) {
        *len = o->len;
        return o->json;
    }
    fl_buf_reset(scratch);
    if (fl_apiserver_obj_write(o, false, scratch) != 0)
        return NULL;
    *len = scratch->len;
    return scratch->data;
}

bool fl_apiserver_obj_contains(const fl_apiserver_obj *o, const char *needle)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    size_t n;
    const char *s = fl_apiserver_obj_json(o, &b, &n);
    bool found = s && strstr(s, needle) != NULL;
    fl_buf_done(&b);
    return found;
}

json_t *fl_apiserver_obj_parse(const fl_apiserver_obj *o)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    size_t n;
    const char *s = fl_apiserver_obj_json(o, &b, &n);
    json_t *v = s ? json_loadb(s, n, 0, NULL) : NULL;
    fl_buf_done(&b);
    return v;
}

const char *fl_apiserver_obj_label(const fl_apiserver_obj *o, const char *key)
{
    for (const char *p = o->labels; *p;) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, key) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

static size_t labels_size(const json_t *labels)
{
    size_t n = 1;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
        if (json_is_string(v))
            n += strlen(k) + 1 + json_string_length(v) + 1;
    return n;
}

static char *put(char **p, const char *s)
{
    char *at = *p;
    size_t n = strlen(s) + 1;
    memcpy(at, s, n);
    *p += n;
    return at;
}

fl_apiserver_obj *fl_apiserver_obj_build(const fl_apiserver_res *r, const json_t *obj, uint64_t rv)
{
    fl_buf b = FL_BUF_INIT(64u << 20);
    fl_apiserver_obj *o = NULL;
    if (fl_json_encode(obj, false, &b) != 0)
        goto out;
    if (b.len && b.data[b.len - 1] == '\n')
        b.len--;
    const char *ns = fl_obj_str(obj, "metadata.namespace");
    const char *name = fl_obj_str(obj, "metadata.name");
    const char *node = fl_obj_str(obj, "spec.nodeName");
    const char *phase = fl_obj_str(obj, "status.phase");
    json_t *labels = fl_obj_get(obj, "metadata.labels");
    ns = (r->kr->namespaced && ns) ? ns : "";
    name = name ? name : "";
    node = node ? node : "";
    phase = phase ? phase : "";
    size_t ln = json_is_object(labels) ? labels_size(labels) : 1;
    size_t keyn = strlen(ns) + 1 + strlen(name) + 1;
    size_t sz = sizeof(*o) + keyn + strlen(ns) + 1 + strlen(name) + 1 + ln + strlen(node) + 1 +
                strlen(phase) + 1 + b.len + 1;
    o = malloc(sz);
    if (!o)
        goto out;
    char *p = (char *)(o + 1);
    *o = (fl_apiserver_obj){.rv = rv};
    atomic_init(&o->refs, 1);
    o->res = r;
    o->key = p;
    if (*ns) {
        memcpy(p, ns, strlen(ns));
        p += strlen(ns);
        *p++ = '/';
    }
    put(&p, name);
    o->ns = put(&p, ns);
    o->name = put(&p, name);
    o->labels = p;
    if (json_is_object(labels)) {
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v) {
            if (!json_is_string(v))
                continue;
            put(&p, k);
            put(&p, json_string_value(v));
        }
    }
    *p++ = 0;
    o->node = put(&p, node);
    o->phase = put(&p, phase);
    memcpy(p, b.data, b.len);
    p[b.len] = 0;
    o->json = p;
    o->len = b.len;
    /* {"kind":"X","apiVersion":"Y", is what the encoder wrote first. */
    const char *hdr_end = NULL;
    if (strncmp(p, "{\"kind\":", 8) == 0) {
        hdr_end = strstr(p, "\"apiVersion\":\"");
        if (hdr_end)
            hdr_end = strchr(hdr_end + 14, '"');
    }
    o->hdr = (hdr_end && hdr_end[1] == ',') ? (size_t)(hdr_end + 2 - (p + 1)) : 0;
out:
    fl_buf_done(&b);
    return o;
}
