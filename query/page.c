/*
 * query/page.c: one page of a resource list: rows from the index that pass
 * the request's conditions and the user's scope, kept as the stored JSON
 * (unparsed when possible) or parsed objects, and answered as a List or a
 * Table with a leading Cluster column. Also the page of one type that
 * collectionresources (collection.c) asks for. Calls nothing above it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

/* kube-apiserver's list items carry no kind/apiVersion (the list's own do):
 * the length of the stored object's leading "kind":"K","apiVersion":"V",
 * members after its '{' (Go's encoding puts them first), 0 if not there. */
static size_t type_prefix(const char *j, size_t n)
{
    static const char *const keys[] = {"\"kind\":\"", "\"apiVersion\":\""};
    size_t at = 1;
    if (n < 2 || j[0] != '{')
        return 0;
    for (int k = 0; k < 2; k++) {
        size_t kl = strlen(keys[k]);
        if (n - at < kl || memcmp(j + at, keys[k], kl))
            return 0;
        at += kl;
        while (at < n && j[at] != '"' && j[at] != '\\')
            at++;
        if (at + 1 >= n || j[at] != '"' || j[at + 1] != ',')
            return 0;
        at += 2;
    }
    return at - 1;
}

int query_row_json(const fl_index_row *row, fl_buf *out)
{
    static const char md_key[] = "\"metadata\":{", rv_key[] = "\"resourceVersion\":\"";
    const char *j = row->json, *end = row->json + row->json_len;
    char rv[24];
    /* Stored objects are compact with the top-level metadata before any
     * nested one (Go's member order), and a key pattern cannot occur inside
     * a string (its quotes would be escaped). */
    const char *md = memmem(j, row->json_len, md_key, sizeof md_key - 1);
    const char *v = md ? memmem(md, (size_t)(end - md), rv_key, sizeof rv_key - 1) : NULL;
    const char *e =
        v ? memchr(v + sizeof rv_key - 1, '"', (size_t)(end - v - (sizeof rv_key - 1))) : NULL;
    if (!e)
        return fl_buf_append(out, j, row->json_len);
    v += sizeof rv_key - 1;
    snprintf(rv, sizeof rv, "%lld", (long long)row->revision);
    int rc = fl_buf_append(out, j, (size_t)(v - j));
    if (!rc)
        rc = fl_buf_puts(out, rv);
    return rc ? rc : fl_buf_append(out, e, (size_t)(end - e));
}

int query_page_add(query_page *x, const fl_index_row *row)
{
    json_t *obj = NULL;
    fl_buf js = FL_BUF_INIT(QUERY_REPLY_MAX);
    int rc = query_row_json(row, &js);
    if (rc)
        goto out;
    if (!x->raw_ok || query_conds_fields(x->c)) {
        fl_err e = FL_ERR_INIT;
        if (fl_json_parse(js.data, js.len, &obj, &e) != 0 ||
            !fl_query_fields_match(query_conds_fields(x->c), obj))
            goto out; /* unreadable row, or not selected: skip */
    }
    x->emitted++;
    if (row->revision > x->max_rev)
        x->max_rev = row->revision;
    if (!x->raw_ok) {
        rc = json_array_append(x->objs, obj) ? -ENOMEM : 0;
        goto out;
    }
    size_t skip = type_prefix(js.data, js.len);
    if ((rc = x->out.len ? fl_buf_puts(&x->out, ",") : 0) != 0)
        goto out;
    if (!skip)
        rc = fl_buf_append(&x->out, js.data, js.len);
    else if (!(rc = fl_buf_puts(&x->out, "{")))
        rc = fl_buf_append(&x->out, js.data + 1 + skip, js.len - 1 - skip);
out:
    json_decref(obj);
    fl_buf_done(&js);
    return rc;
}

int query_page_row(void *arg, const fl_index_row *row)
{
    query_page *x = arg;
    if ((x->filtered ? x->emitted : x->seen) == x->limit ||
        (x->filtered && (x->seen % 256) == 255 && fl_mono_ms() > x->scan_until)) {
        x->more = true; /* a filtered page stops early at its time budget */
        return 1;
    }
    x->seen++;
    fl_strlcpy(x->last.cluster, row->cluster, sizeof x->last.cluster);
    fl_strlcpy(x->last.namespace_, row->namespace_, sizeof x->last.namespace_);
    fl_strlcpy(x->last.name, row->name, sizeof x->last.name);
    if (!query_conds_row_ok(x->c, row) ||
        !query_scope_allows(x->q, x->u, row->cluster, row->namespace_, row->group, row->resource))
        return 0;
    int rc = query_page_add(x, row);
    if (rc) {
        x->rc = rc;
        return 2;
    }
    return 0;
}

int query_page_reply_table(query_page *x, fl_request *r, const char *rv, const char *cont,
                           int64_t remaining)
{
    fl_kube_table_opts to = FL_KUBE_TABLE_OPTS_INIT;
    fl_kube_table_include inc = FL_KUBE_TABLE_METADATA;
    fl_err e = FL_ERR_INIT;
    json_t *tab = NULL;
    fl_kube_table_include_parse(fl_request_query(r, "includeObject"), &inc);
    to.include = inc;
    to.resource_version = rv;
    to.continue_token = cont;
    to.remaining_item_count = remaining;
    to.cluster_column = true;
    const char *a = fl_request_header(r, "Accept");
    to.api_version = a && strstr(a, "v=v1beta1") ? "meta.k8s.io/v1beta1" : "meta.k8s.io/v1";
    size_t n = json_array_size(x->objs);
    json_t **objs = calloc(n ? n : 1, sizeof *objs);
    if (!objs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        objs[i] = json_array_get(x->objs, i);
    int rc = fl_kube_table_render(x->t->res, objs, n, &to, &tab, &e);
    free(objs);
    if (rc)
        return rc;
    fl_request_reply_json(r, 200, tab);
    return 0;
}

int query_page_reply_list(query_page *x, fl_request *r, const char *rv, const char *cont,
                          int64_t remaining)
{
    char av[512];
    fl_buf b = FL_BUF_INIT(QUERY_REPLY_MAX);
    fl_kube_resource_api_version(x->t->res, av, sizeof av);
    int rc = fl_buf_printf(&b,
                           "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":"
                           "{\"resourceVersion\":\"%s\"",
                           x->t->res->list_kind, av, rv);
    if (!rc && cont)
        rc = fl_buf_printf(&b, ",\"continue\":\"%s\"", cont);
    if (!rc && remaining >= 0)
        rc = fl_buf_printf(&b, ",\"remainingItemCount\":%lld", (long long)remaining);
    if (!rc)
        rc = fl_buf_puts(&b, "},\"items\":[");
    if (!rc && x->raw_ok)
        rc = fl_buf_append(&b, x->out.data ? x->out.data : "", x->out.len);
    for (size_t i = 0; !rc && !x->raw_ok && i < json_array_size(x->objs); i++) {
        if (i)
            rc = fl_buf_puts(&b, ",");
        fl_buf one = FL_BUF_INIT(QUERY_REPLY_MAX);
        if (!rc && !(rc = fl_json_encode(json_array_get(x->objs, i), false, &one)))
            rc = fl_buf_append(&b, one.data, one.len - 1); /* drop the newline */
        fl_buf_done(&one);
    }
    if (!rc)
        rc = fl_buf_puts(&b, "]}\n");
    if (!rc && fl_request_wants_pretty(r)) {
        json_t *v = NULL;
        if (!(rc = fl_json_parse(b.data, b.len, &v, NULL)))
            fl_request_reply_json(r, 200, v);
    } else if (!rc) {
        fl_request_reply(r, 200, "application/json", b.data, b.len);
    }
    fl_buf_done(&b);
    return rc;
}

int query_collect(fl_query *q, const query_user *u, const conds *c, const fl_kube_resource *res,
                  fl_index_reader *rd, const fl_query_cursor *after, int64_t limit, json_t *items,
                  fl_query_cursor *last, bool *more, fl_err *err)
{
    query_target t = {NULL, res, NULL, NULL};
    query_page x = {
        .q = q, .u = u, .c = c, .t = &t, .raw_ok = false, .objs = items, .limit = limit};
    fl_index_query iq = FL_INDEX_QUERY_INIT;
    query_scope_buf sb;
    if (query_conds_order(c)->n)
        return fl_err_set(err, FL_EUNSUPPORTED, "orderby is not supported on collections");
    query_conds_index_query(c, &t, &iq);
    if (!query_scope_query(q, u, res, &sb, &iq)) {
        *more = false;
        memset(last, 0, sizeof *last);
        return 0;
    }
    if (after && after->name[0]) {
        iq.after_cluster = after->cluster;
        iq.after_namespace = after->namespace_;
        iq.after_name = after->name;
    }
    iq.limit = limit + 1;
    int rc = fl_index_list(rd, &iq, query_page_row, &x, NULL, err);
    if (rc == 2 || rc < 0)
        return x.rc ? x.rc : rc;
    *last = x.last;
    *more = x.more;
    return 0;
}

bool query_user_scoped(const fl_query *q, const query_user *u)
{
    return q->nscopes > 0 && !query_user_is_admin(q, u);
}

void query_page_revision(const query_page *x, int64_t rev, char out[32])
{
    snprintf(out, 32, "%lld", (long long)(query_user_scoped(x->q, x->u) ? x->max_rev : rev));
}
