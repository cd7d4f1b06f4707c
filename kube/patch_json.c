/*
 * kube/patch_json.c: RFC 6902 JSON patch exactly as kube-apiserver applies
 * it: first its strict decode into []jsonPatchOp (type errors are 400s with
 * Go's message), the 10000-operation cap (413), then evanphx/json-patch
 * v4.12.0's Apply, whose quirks we keep (negative array indices, "replace"
 * on a missing object member adds it, "copy" from a missing member copies
 * null, a path without a leading '/' has its first segment ignored) and whose
 * error texts we reproduce (the 422 Status itself is generic).
 * Private helpers; the entry point is fl_patch_json_apply. Any thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kube/patch_int.h"

/* Our cap on what "copy" operations may add, in JSON nodes: upstream's
 * AccumulatedCopySizeLimit, counted in nodes instead of bytes. */
#define COPY_NODES_MAX (1u << 20)

typedef struct jp {
    json_t *doc;   /* owned: the document being patched */
    size_t copied; /* nodes added by copy so far */
    fl_err *err;
} jp;

__attribute__((format(printf, 2, 3))) static int fail(jp *j, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fl_err_set(j->err, -EINVAL, "%s", msg);
}

/* decodePatchKey: "~1" -> "/", then "~0" -> "~". */
static void decode_key(const char *s, size_t n, fl_buf *out)
{
    fl_buf_reset(out);
    fl_buf_append(out, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '~' && i + 1 < n && s[i + 1] == '1') {
            fl_buf_append(out, "/", 1);
            i++;
        } else
            fl_buf_append(out, &s[i], 1);
    }
    size_t w = 0;
    for (size_t i = 0; i < out->len; i++) {
        if (out->data[i] == '~' && i + 1 < out->len && out->data[i + 1] == '0') {
            out->data[w++] = '~';
            i++;
        } else
            out->data[w++] = out->data[i];
    }
    out->len = w;
    out->data[w] = 0;
}

/* strconv.Atoi's error text for s. */
static void atoi_error(const char *s, int rc, char *msg, size_t sz)
{
    snprintf(msg, sz, "strconv.Atoi: parsing \"%s\": %s", s,
             rc == -ERANGE ? "value out of range" : "invalid syntax");
}

/* partialArray index for get/remove (len = array size): negative indices
 * count from the end. 0 or -EINVAL with msg. */
static int array_index(const char *key, size_t len, size_t *idx, char *msg, size_t sz)
{
    int64_t v;
    int rc = fl_parse_i64(key, strlen(key), &v);
    if (rc) {
        atoi_error(key, rc, msg, sz);
        return -EINVAL;
    }
    if (v >= (int64_t)len || (v < 0 && v < -(int64_t)len)) {
        snprintf(msg, sz, "Unable to access invalid index: %lld: invalid index referenced",
                 (long long)v);
        return -EINVAL;
    }
    *idx = (size_t)(v < 0 ? v + (int64_t)len : v);
    return 0;
}

/* container.get: borrowed value; NULL for a missing or null member. */
static int con_get(json_t *con, const char *key, json_t **val, char *msg, size_t sz)
{
    size_t i;
    if (json_is_object(con)) {
        json_t *v = json_object_get(con, key);
        *val = json_is_null(v) ? NULL : v;
        return 0;
    }
    if (array_index(key, json_array_size(con), &i, msg, sz))
        return -EINVAL;
    json_t *v = json_array_get(con, i);
    *val = json_is_null(v) ? NULL : v;
    return 0;
}

/* container.add: takes the reference val (NULL = JSON null). */
static int con_add(json_t *con, const char *key, json_t *val, char *msg, size_t sz)
{
    int64_t v;
    if (!val)
        val = json_null();
    if (json_is_object(con))
        return json_object_set_new(con, key, val) ? -ENOMEM : 0;
    size_t len = json_array_size(con);
    if (strcmp(key, "-") == 0)
        return json_array_append_new(con, val) ? -ENOMEM : 0;
    int rc = fl_parse_i64(key, strlen(key), &v);
    if (rc) {
        char a[200];
        atoi_error(key, rc, a, sizeof a);
        snprintf(msg, sz, "value was not a proper array index: '%s': %s", key, a);
    } else if (v > (int64_t)len || v < -(int64_t)len - 1) {
        snprintf(msg, sz, "Unable to access invalid index: %lld: invalid index referenced",
                 (long long)v);
        rc = -EINVAL;
    } else {
        size_t at = (size_t)(v < 0 ? v + (int64_t)len + 1 : v);
        return json_array_insert_new(con, at, val) ? -ENOMEM : 0;
    }
    json_decref(val);
    return -EINVAL;
}

static int con_remove(json_t *con, const char *key, char *msg, size_t sz)
{
    size_t i;
    if (json_is_object(con)) {
        if (!json_object_get(con, key)) {
            snprintf(msg, sz, "Unable to remove nonexistent key: %s: missing value", key);
            return -EINVAL;
        }
        json_object_del(con, key);
        return 0;
    }
    if (array_index(key, json_array_size(con), &i, msg, sz))
        return -EINVAL;
    json_array_remove(con, i);
    return 0;
}

/* findObject: the container holding path's last segment, and that segment
 * decoded into key. NULL when a step is missing or not a container. */
static json_t *find_object(json_t *doc, const char *path, fl_buf *key)
{
    const char *slash = strchr(path, '/');
    char msg[64];
    if (!slash)
        return NULL;
    json_t *con = doc;
    const char *seg = slash + 1;
    for (const char *next; (next = strchr(seg, '/')) != NULL; seg = next + 1) {
        json_t *v;
        decode_key(seg, (size_t)(next - seg), key);
        if (con_get(con, key->data, &v, msg, sizeof msg) || !v)
            return NULL;
        if (!json_is_object(v) && !json_is_array(v))
            return NULL;
        con = v;
    }
    decode_key(seg, strlen(seg), key);
    return con;
}

/* An operation's string member: 1 present, 0 missing or null. */
static int op_str(const json_t *op, const char *name, const char **out)
{
    json_t *v = json_object_get(op, name);
    if (!v || json_is_null(v))
        return 0;
    *out = json_string_value(v);
    return 1;
}

/* op.value(): *has = the member exists; the value (NULL for null). */
static json_t *op_value(const json_t *op, bool *has)
{
    json_t *v = json_object_get(op, "value");
    *has = v != NULL;
    return json_is_null(v) ? NULL : v;
}

static json_t *copy_value(const json_t *v)
{
    return v ? json_deep_copy(v) : json_null();
}

static int op_add(jp *j, const json_t *op, fl_buf *key)
{
    const char *path;
    char msg[300] = "";
    bool has;
    if (!op_str(op, "path", &path))
        return fail(j, "add operation failed to decode path: missing value");
    json_t *con = find_object(j->doc, path, key);
    if (!con)
        return fail(j, "add operation does not apply: doc is missing path: \"%s\": missing value",
                    path);
    json_t *val = copy_value(op_value(op, &has));
    if (!val)
        return fl_err_set(j->err, -ENOMEM, "out of memory");
    int rc = con_add(con, key->data, val, msg, sizeof msg);
    if (rc == -EINVAL)
        return fail(j, "error in add for path: '%s': %s", path, msg);
    return rc ? fl_err_set(j->err, rc, "out of memory") : 0;
}

static int op_remove(jp *j, const json_t *op, fl_buf *key)
{
    const char *path;
    char msg[300] = "";
    if (!op_str(op, "path", &path))
        return fail(j, "remove operation failed to decode path: missing value");
    json_t *con = find_object(j->doc, path, key);
    if (!con)
        return fail(
            j, "remove operation does not apply: doc is missing path: \"%s\": missing value", path);
    if (con_remove(con, key->data, msg, sizeof msg))
        return fail(j, "error in remove for path: '%s': %s", path, msg);
    return 0;
}

static int replace_root(jp *j, const json_t *op)
{
    bool has;
    json_t *v = op_value(op, &has);
    if (!has)
        return fl_err_set(j->err, -EPROTO, "replace operation hit impossible case");
    if (!json_is_object(v) && !json_is_array(v))
        return 0; /* upstream: Wrapf(nil) == no error */
    json_t *c = json_deep_copy(v);
    if (!c)
        return fl_err_set(j->err, -ENOMEM, "out of memory");
    json_decref(j->doc);
    j->doc = c;
    return 0;
}

static int op_replace(jp *j, const json_t *op, fl_buf *key)
{
    const char *path;
    char msg[300] = "";
    json_t *cur;
    bool has;
    if (!op_str(op, "path", &path))
        return fail(
            j,
            "replace operation failed to decode path: operation missing path field: missing value");
    if (!*path)
        return replace_root(j, op);
    json_t *con = find_object(j->doc, path, key);
    if (!con)
        return fail(j, "replace operation does not apply: doc is missing path: %s: missing value",
                    path);
    if (con_get(con, key->data, &cur, msg, sizeof msg))
        return fail(j, "replace operation does not apply: doc is missing key: %s: missing value",
                    path);
    json_t *val = copy_value(op_value(op, &has));
    if (!val)
        return fl_err_set(j->err, -ENOMEM, "out of memory");
    int rc;
    if (json_is_object(con)) {
        rc = json_object_set_new(con, key->data, val);
    } else {
        size_t i = 0;
        array_index(key->data, json_array_size(con), &i, msg, sizeof msg); /* checked by get */
        rc = json_array_set_new(con, i, val);
    }
    return rc ? fl_err_set(j->err, -ENOMEM, "out of memory") : 0;
}

static int op_move(jp *j, const json_t *op, fl_buf *key)
{
    const char *from, *path;
    char msg[300] = "";
    json_t *val;
    if (!op_str(op, "from", &from))
        return fail(
            j,
            "move operation failed to decode from: operation, missing from field: missing value");
    json_t *con = find_object(j->doc, from, key);
    if (!con)
        return fail(j, "move operation does not apply: doc is missing from path: %s: missing value",
                    from);
    if (con_get(con, key->data, &val, msg, sizeof msg))
        return fail(j, "error in move for path: '%s': %s", key->data, msg);
    json_incref(val);
    if (con_remove(con, key->data, msg, sizeof msg)) {
        json_decref(val);
        return fail(j, "error in move for path: '%s': %s", key->data, msg);
    }
    if (!op_str(op, "path", &path)) {
        json_decref(val);
        return fail(
            j, "move operation failed to decode path: operation missing path field: missing value");
    }
    con = find_object(j->doc, path, key);
    if (!con) {
        json_decref(val);
        return fail(
            j, "move operation does not apply: doc is missing destination path: %s: missing value",
            path);
    }
    int rc = con_add(con, key->data, val, msg, sizeof msg);
    if (rc == -EINVAL)
        return fail(j, "error in move for path: '%s': %s", path, msg);
    return rc ? fl_err_set(j->err, rc, "out of memory") : 0;
}

static int op_test(jp *j, const json_t *op, fl_buf *key)
{
    const char *path;
    char msg[300] = "";
    json_t *val;
    bool has;
    if (!op_str(op, "path", &path))
        return fail(
            j, "test operation failed to decode path: operation missing path field: missing value");
    json_t *want = op_value(op, &has);
    if (!*path) {
        if (!has)
            return fl_err_set(j->err, -EPROTO, "test operation without a value");
        if (want && json_equal(j->doc, want))
            return 0;
        return fail(j, "testing value %s failed: test failed", path);
    }
    json_t *con = find_object(j->doc, path, key);
    if (!con)
        return fail(j, "test operation does not apply: is missing path: %s: missing value", path);
    if (con_get(con, key->data, &val, msg, sizeof msg))
        return fail(j, "error in test for path: '%s': %s", path, msg);
    if (!val) {
        if (!has)
            return fl_err_set(j->err, -EPROTO, "test operation without a value");
        if (!want)
            return 0;
    } else if (has && want && json_equal(val, want)) {
        return 0;
    }
    return fail(j, "testing value %s failed: test failed", path);
}

static size_t count_nodes(const json_t *v)
{
    size_t n = 1, i;
    const char *k;
    json_t *x;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x)
            n += count_nodes(x);
    else if (json_is_array(v))
        json_array_foreach(v, i, x)
            n += count_nodes(x);
    return n;
}

static int op_copy(jp *j, const json_t *op, fl_buf *key)
{
    const char *from, *path;
    char msg[300] = "";
    json_t *val;
    if (!op_str(op, "from", &from))
        return fail(
            j,
            "copy operation failed to decode from: operation, missing from field: missing value");
    json_t *con = find_object(j->doc, from, key);
    if (!con)
        return fail(j, "copy operation does not apply: doc is missing from path: %s: missing value",
                    from);
    if (con_get(con, key->data, &val, msg, sizeof msg))
        return fail(j, "error in copy for from: '%s': %s", from, msg);
    if (!op_str(op, "path", &path))
        return fail(j, "copy operation failed to decode path: missing value");
    con = find_object(j->doc, path, key);
    if (!con)
        return fail(
            j, "copy operation does not apply: doc is missing destination path: %s: missing value",
            path);
    j->copied += val ? count_nodes(val) : 1;
    if (j->copied > COPY_NODES_MAX)
        return fl_err_set(j->err, -EINVAL,
                          "Unable to complete the copy, the accumulated size increase "
                          "of copy is %zu nodes, exceeding the limit %u",
                          j->copied, COPY_NODES_MAX);
    json_t *c = copy_value(val);
    if (!c)
        return fl_err_set(j->err, -ENOMEM, "out of memory");
    int rc = con_add(con, key->data, c, msg, sizeof msg);
    if (rc == -EINVAL)
        return fail(j, "error while adding value during copy: %s", msg);
    return rc ? fl_err_set(j->err, rc, "out of memory") : 0;
}

static int apply_op(jp *j, const json_t *op, fl_buf *key)
{
    static const struct {
        const char *name;
        int (*fn)(jp *, const json_t *, fl_buf *);
    } ops[] = {{"add", op_add},   {"remove", op_remove}, {"replace", op_replace},
               {"move", op_move}, {"test", op_test},     {"copy", op_copy}};
    const char *kind = "unknown";
    op_str(op, "op", &kind);
    for (size_t i = 0; i < FL_ARRAY_LEN(ops); i++)
        if (strcmp(kind, ops[i].name) == 0)
            return ops[i].fn(j, op, key);
    return fail(j, "Unexpected kind: %s", kind);
}

/* kube-apiserver's strict decode into []jsonPatchOp{op,path,from string;
 * value interface{}}: the first type error, as Go words it. */
static int check_ops(const json_t *ops, fl_err *err)
{
    static const char *const strs[] = {"op", "path", "from"};
    size_t i;
    json_t *op;
    if (json_is_null(ops))
        return 0;
    if (!json_is_array(ops))
        return fl_err_set(err, FL_EPARSE,
                          "error decoding patch: json: cannot unmarshal %s into Go "
                          "value of type []handlers.jsonPatchOp",
                          fl_patch_go_kind(ops));
    json_array_foreach(ops, i, op) {
        if (json_is_null(op))
            continue;
        if (!json_is_object(op))
            return fl_err_set(err, FL_EPARSE,
                              "error decoding patch: json: cannot unmarshal %s into "
                              "Go value of type handlers.jsonPatchOp",
                              fl_patch_go_kind(op));
        const char *k;
        json_t *v;
        json_object_foreach(op, k, v) {
            for (size_t s = 0; s < FL_ARRAY_LEN(strs); s++)
                if (strcmp(k, strs[s]) == 0 && !json_is_string(v) && !json_is_null(v))
                    return fl_err_set(err, FL_EPARSE,
                                      "error decoding patch: json: cannot unmarshal %s "
                                      "into Go struct field jsonPatchOp.%s of type string",
                                      fl_patch_go_kind(v), k);
        }
    }
    if (json_array_size(ops) > FL_PATCH_MAX_JSON_OPS)
        return fl_err_set(err, -E2BIG,
                          "The allowed maximum operations in a JSON patch is %d, got %zu",
                          FL_PATCH_MAX_JSON_OPS, json_array_size(ops));
    return 0;
}

int fl_patch_json_apply(const json_t *original, const json_t *ops, json_t **out, fl_err *err)
{
    fl_buf key = FL_BUF_INIT(1u << 20);
    jp j = {NULL, 0, err};
    size_t i;
    json_t *op;
    int rc;
    if (!original || !ops)
        return fl_err_set(err, -EINVAL, "no document or patch");
    if ((rc = check_ops(ops, err)) != 0)
        return rc;
    j.doc = json_deep_copy(original);
    if (!j.doc)
        return fl_err_set(err, -ENOMEM, "out of memory");
    json_array_foreach(ops, i, op) {
        if (json_is_null(op)) {
            rc = fail(&j, "Unexpected kind: unknown");
            break;
        }
        if ((rc = apply_op(&j, op, &key)) != 0)
            break;
    }
    fl_buf_done(&key);
    if (rc) {
        json_decref(j.doc);
        return rc;
    }
    *out = j.doc;
    return 0;
}
