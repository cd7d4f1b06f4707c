/*
 * scheduler/override.c: OverridePolicy and ClusterOverridePolicy, applied to
 * the copy of a template that goes to one member cluster, in Karmada's
 * order: ClusterOverridePolicies before OverridePolicies, each set sorted by
 * implicit priority (match all < kind < labelSelector < name) then name, so
 * the most precise policy writes last; inside a rule the overriders run as
 * imageOverrider, commandOverrider, argsOverrider, labelsOverrider,
 * annotationsOverrider, fieldOverrider, plaintext. Pure: touches only its
 * arguments.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/patch.h"
#include "kube/yaml.h"
#include "scheduler/sched_int.h"

#define IMAGE_MAX 1024
#define MAX_POLICIES 4096

typedef struct opol {
    const json_t *pol;
    int prio;     /* implicit priority; 0 = no selectors (match all) */
    bool cluster; /* ClusterOverridePolicy */
} opol;

/* Implicit priority of pol for tmpl: -1 no match, 0 match all, 1..3. */
static int override_match(const json_t *pol, const json_t *tmpl)
{
    const char *kind = fl_obj_str_or(pol, "kind", "OverridePolicy");
    if (strcmp(kind, "OverridePolicy") == 0 &&
        strcmp(fl_obj_str_or(pol, "metadata.namespace", ""),
               fl_obj_str_or(tmpl, "metadata.namespace", "")) != 0)
        return -1;
    if (strcmp(kind, "OverridePolicy") != 0 && strcmp(kind, "ClusterOverridePolicy") != 0)
        return -1;
    const json_t *sels = fl_obj_get(pol, "spec.resourceSelectors");
    if (json_array_size(sels) == 0)
        return 0;
    int best = -1;
    size_t i;
    const json_t *rs;
    json_array_foreach(sels, i, rs) {
        int m = fl_sched_selector_match(rs, tmpl);
        if (m > 0 && m > best)
            best = m;
    }
    return best;
}

static int cmp_opol(const void *a, const void *b)
{
    const opol *x = a, *y = b;
    if (x->cluster != y->cluster)
        return x->cluster ? -1 : 1;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    return strcmp(fl_obj_str_or(x->pol, "metadata.name", ""),
                  fl_obj_str_or(y->pol, "metadata.name", ""));
}

/* ------------------------------------------------------------ images */

/* An image reference split as Karmada's imageparser does:
 * [registry/]repository[:tag|@digest]. */
typedef struct image {
    char registry[IMAGE_MAX], repo[IMAGE_MAX], tag[IMAGE_MAX]; /* tag keeps its ':' or '@' */
} image;

static void image_parse(const char *s, image *im)
{
    memset(im, 0, sizeof *im);
    const char *slash = strchr(s, '/');
    if (slash) {
        size_t n = (size_t)(slash - s);
        bool host =
            memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !strncmp(s, "localhost", 9));
        if (host) {
            snprintf(im->registry, sizeof im->registry, "%.*s", (int)n, s);
            s = slash + 1;
        }
    }
    const char *at = strchr(s, '@');
    const char *colon = at ? NULL : strrchr(s, ':');
    const char *end = at ? at : colon ? colon : s + strlen(s);
    snprintf(im->repo, sizeof im->repo, "%.*s", (int)(end - s), s);
    snprintf(im->tag, sizeof im->tag, "%s", end);
}

static void image_format(const image *im, char *out, size_t n)
{
    snprintf(out, n, "%s%s%s%s", im->registry, im->registry[0] ? "/" : "", im->repo, im->tag);
}

static int image_apply(const json_t *ov, const char *in, char *out, size_t n, fl_err *err)
{
    const char *comp = fl_obj_str_or(ov, "component", ""), *op = fl_obj_str_or(ov, "operator", "");
    const char *val = fl_obj_str_or(ov, "value", "");
    image im;
    image_parse(in, &im);
    char *field = !strcmp(comp, "Registry")     ? im.registry
                  : !strcmp(comp, "Repository") ? im.repo
                  : !strcmp(comp, "Tag")        ? im.tag
                                                : NULL;
    if (!field)
        return fl_err_set(err, FL_EPARSE, "imageOverrider: unknown component \"%s\"", comp);
    char buf[IMAGE_MAX];
    if (field == im.tag) {
        if (!strcmp(op, "remove"))
            im.tag[0] = 0;
        else if (!strcmp(op, "add") || !strcmp(op, "replace"))
            snprintf(im.tag, sizeof im.tag, "%s%s", val[0] == '@' ? "" : ":", val);
        else
            return fl_err_set(err, FL_EPARSE, "imageOverrider: unknown operator \"%s\"", op);
    } else if (!strcmp(op, "add")) {
        snprintf(buf, sizeof buf, "%s%s", field, val);
        memcpy(field, buf, IMAGE_MAX);
    } else if (!strcmp(op, "replace")) {
        snprintf(field, IMAGE_MAX, "%s", val);
    } else if (!strcmp(op, "remove")) {
        field[0] = 0;
    } else {
        return fl_err_set(err, FL_EPARSE, "imageOverrider: unknown operator \"%s\"", op);
    }
    image_format(&im, out, n);
    return 0;
}

/* The pod spec of a workload (Pod, or anything with spec.template.spec,
 * or a CronJob's spec.jobTemplate.spec.template.spec), or NULL. */
static json_t *pod_spec(json_t *obj)
{
    if (!strcmp(fl_obj_str_or(obj, "kind", ""), "Pod"))
        return json_object_get(obj, "spec");
    json_t *s = fl_obj_get(obj, "spec.template.spec");
    return s ? s : fl_obj_get(obj, "spec.jobTemplate.spec.template.spec");
}

static int images(json_t *obj, const json_t *list, fl_err *err)
{
    size_t i, j;
    const json_t *ov;
    json_array_foreach(list, i, ov) {
        const char *path = fl_obj_str(ov, "predicate.path");
        if (path) { /* one image at a JSON pointer */
            /* resolve the pointer by walking "/a/0/b" */
            json_t *cur = obj;
            char seg[256];
            const char *p = path;
            while (cur && *p == '/') {
                const char *e = strchr(p + 1, '/');
                size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
                snprintf(seg, sizeof seg, "%.*s", (int)n, p + 1);
                if (json_is_array(cur)) {
                    char *endp = NULL;
                    unsigned long k = strtoul(seg, &endp, 10);
                    cur = endp && !*endp ? json_array_get(cur, k) : NULL;
                } else {
                    cur = json_object_get(cur, seg);
                }
                p += n + 1;
            }
            if (!json_is_string(cur))
                return fl_err_set(err, FL_EPARSE, "imageOverrider: no image at %s", path);
            char out[IMAGE_MAX * 3];
            int rc = image_apply(ov, json_string_value(cur), out, sizeof out, err);
            if (rc)
                return rc;
            json_string_set(cur, out);
            continue;
        }
        json_t *ps = pod_spec(obj), *c;
        static const char *const lists[] = {"containers", "initContainers"};
        for (size_t l = 0; ps && l < 2; l++) {
            json_array_foreach(json_object_get(ps, lists[l]), j, c) {
                json_t *img = json_object_get(c, "image");
                char out[IMAGE_MAX * 3];
                if (!json_is_string(img))
                    continue;
                int rc = image_apply(ov, json_string_value(img), out, sizeof out, err);
                if (rc)
                    return rc;
                json_string_set(img, out);
            }
        }
    }
    return 0;
}

/* commandOverrider / argsOverrider: add appends values, remove drops them. */
static int cmdargs(json_t *obj, const json_t *list, const char *field, fl_err *err)
{
    size_t i, j, k;
    const json_t *ov, *v;
    json_t *c, *ps = pod_spec(obj);
    json_array_foreach(list, i, ov) {
        const char *name = fl_obj_str_or(ov, "containerName", "");
        const char *op = fl_obj_str_or(ov, "operator", "");
        bool add = !strcmp(op, "add");
        if (!add && strcmp(op, "remove"))
            return fl_err_set(err, FL_EPARSE, "%sOverrider: unknown operator \"%s\"", field, op);
        json_array_foreach(json_object_get(ps, "containers"), j, c) {
            if (strcmp(fl_obj_str_or(c, "name", ""), name))
                continue;
            json_t *arr = json_object_get(c, field);
            if (!json_is_array(arr)) {
                arr = json_array();
                json_object_set_new(c, field, arr);
            }
            json_array_foreach(json_object_get(ov, "value"), k, v) {
                if (add) {
                    json_array_append(arr, (json_t *)v);
                    continue;
                }
                for (size_t m = json_array_size(arr); m-- > 0;)
                    if (json_equal(json_array_get(arr, m), (json_t *)v))
                        json_array_remove(arr, m);
            }
        }
    }
    return 0;
}

/* labelsOverrider / annotationsOverrider: add sets, replace sets keys that
 * exist, remove deletes. */
static int maps(json_t *obj, const json_t *list, const char *field, fl_err *err)
{
    size_t i;
    const json_t *ov, *v;
    const char *k;
    json_array_foreach(list, i, ov) {
        const char *op = fl_obj_str_or(ov, "operator", "");
        json_t *meta = fl_obj_ensure(obj, "metadata");
        json_t *m = json_object_get(meta, field);
        if (!json_is_object(m)) {
            m = json_object();
            json_object_set_new(meta, field, m);
        }
        json_object_foreach((json_t *)json_object_get(ov, "value"), k, v) {
            if (!strcmp(op, "add"))
                json_object_set(m, k, (json_t *)v);
            else if (!strcmp(op, "replace") && json_object_get(m, k))
                json_object_set(m, k, (json_t *)v);
            else if (!strcmp(op, "remove"))
                json_object_del(m, k);
            else if (strcmp(op, "replace"))
                return fl_err_set(err, FL_EPARSE, "%sOverrider: unknown operator \"%s\"", field,
                                  op);
        }
    }
    return 0;
}

/* Apply [{path|subPath, operator, value}] as a JSON patch to *doc. */
static int patch_ops(json_t **doc, const json_t *list, const char *pathkey, const char *what,
                     fl_err *err)
{
    json_t *ops = json_array(), *out = NULL;
    size_t i;
    const json_t *ov;
    json_array_foreach(list, i, ov) {
        json_t *op = json_pack("{s:s,s:s}", "op", fl_obj_str_or(ov, "operator", ""), "path",
                               fl_obj_str_or(ov, pathkey, ""));
        if (op && json_object_get(ov, "value"))
            json_object_set(op, "value", json_object_get(ov, "value"));
        json_array_append_new(ops, op);
    }
    int rc = fl_patch_json_apply(*doc, ops, &out, err);
    json_decref(ops);
    if (rc)
        return fl_err_wrap(err, rc, "%s", what);
    json_decref(*doc);
    *doc = out;
    return 0;
}

static int plaintext(json_t *obj, const json_t *list, fl_err *err)
{
    json_t *doc = json_deep_copy(obj);
    if (!doc)
        return -ENOMEM;
    int rc = patch_ops(&doc, list, "path", "plaintext overrider", err);
    if (rc == 0) { /* replace obj's members: keys the patch removed go too */
        json_object_clear(obj);
        json_object_update(obj, doc);
    }
    json_decref(doc);
    return rc;
}

/* fieldOverrider: a string field holding JSON or YAML, patched inside. The
 * result is written back as compact JSON (valid YAML too). */
static int fields(json_t *obj, const json_t *list, fl_err *err)
{
    size_t i;
    const json_t *ov;
    json_array_foreach(list, i, ov) {
        const char *path = fl_obj_str_or(ov, "fieldPath", "");
        const json_t *jl = json_object_get(ov, "json"), *yl = json_object_get(ov, "yaml");
        json_t *tmp = json_pack("{s:O}", "o", obj), *found = NULL;
        char ptr[1100];
        snprintf(ptr, sizeof ptr, "/o%s", path);
        json_t *t = json_pack("[{s:s,s:s,s:s}]", "op", "copy", "from", ptr, "path", "/x");
        int rc = fl_patch_json_apply(tmp, t, &found, err);
        json_decref(t);
        json_decref(tmp);
        const json_t *s = rc == 0 ? json_object_get(found, "x") : NULL;
        if (!json_is_string(s)) {
            json_decref(found);
            return fl_err_set(err, FL_EPARSE, "fieldOverrider: %s is not a string field", path);
        }
        json_t *doc = NULL;
        const char *text = json_string_value(s);
        if (json_array_size(yl) ? fl_yaml_parse(text, strlen(text), &doc, err)
                                : fl_json_parse(text, strlen(text), &doc, err)) {
            json_decref(found);
            return fl_err_wrap(err, FL_EPARSE, "fieldOverrider %s", path);
        }
        json_decref(found);
        rc = patch_ops(&doc, json_array_size(yl) ? yl : jl, "subPath", "fieldOverrider", err);
        char *dump = rc == 0 ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (rc)
            return rc;
        json_t *set =
            json_pack("[{s:s,s:s,s:s}]", "op", "replace", "path", path, "value", dump ? dump : "");
        free(dump);
        json_t *copy = json_deep_copy(obj), *res = NULL;
        rc = fl_patch_json_apply(copy, set, &res, err);
        json_decref(set);
        json_decref(copy);
        if (rc)
            return rc;
        json_object_clear(obj);
        json_object_update(obj, res);
        json_decref(res);
    }
    return 0;
}

static int apply_overriders(json_t *obj, const json_t *ovs, fl_err *err)
{
    int rc;
    if ((rc = images(obj, json_object_get(ovs, "imageOverrider"), err)) ||
        (rc = cmdargs(obj, json_object_get(ovs, "commandOverrider"), "command", err)) ||
        (rc = cmdargs(obj, json_object_get(ovs, "argsOverrider"), "args", err)) ||
        (rc = maps(obj, json_object_get(ovs, "labelsOverrider"), "labels", err)) ||
        (rc = maps(obj, json_object_get(ovs, "annotationsOverrider"), "annotations", err)) ||
        (rc = fields(obj, json_object_get(ovs, "fieldOverrider"), err)))
        return rc;
    const json_t *pt = json_object_get(ovs, "plaintext");
    return json_array_size(pt) ? plaintext(obj, pt, err) : 0;
}

int fl_sched_overrides_apply(const json_t *policies, const json_t *tmpl, const json_t *cl,
                             json_t *obj, json_t **applied, fl_err *err)
{
    size_t n = json_array_size(policies), k = 0, i, j;
    if (n > MAX_POLICIES)
        return fl_err_set(err, -E2BIG, "more than %d override policies", MAX_POLICIES);
    opol *v = calloc(n + 1, sizeof *v);
    json_t *used = json_array();
    int rc = 0;
    if (!v || !used) {
        rc = fl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    const json_t *p, *rule;
    json_array_foreach(policies, i, p) {
        int m = override_match(p, tmpl);
        if (m >= 0)
            v[k++] = (opol){p, m, !strcmp(fl_obj_str_or(p, "kind", ""), "ClusterOverridePolicy")};
    }
    qsort(v, k, sizeof *v, cmp_opol);
    for (i = 0; rc == 0 && i < k; i++) {
        const json_t *spec = json_object_get(v[i].pol, "spec");
        bool any = false;
        json_array_foreach(json_object_get(spec, "overrideRules"), j, rule) {
            const json_t *tc = json_object_get(rule, "targetCluster");
            if (!fl_sched_affinity_matches(json_is_object(tc) ? tc : NULL, cl))
                continue;
            if ((rc = apply_overriders(obj, json_object_get(rule, "overriders"), err)) != 0)
                break;
            any = true;
        }
        /* the deprecated top-level targetCluster + overriders */
        const json_t *ovs = json_object_get(spec, "overriders");
        const json_t *tc = json_object_get(spec, "targetCluster");
        if (rc == 0 && json_is_object(ovs) &&
            fl_sched_affinity_matches(json_is_object(tc) ? tc : NULL, cl)) {
            rc = apply_overriders(obj, ovs, err);
            any = true;
        }
        if (rc == 0 && any) {
            char name[600];
            snprintf(name, sizeof name, "%s/%s%s%s", fl_obj_str_or(v[i].pol, "kind", ""),
                     fl_obj_str_or(v[i].pol, "metadata.namespace", ""),
                     fl_obj_str(v[i].pol, "metadata.namespace") ? "/" : "",
                     fl_obj_str_or(v[i].pol, "metadata.name", ""));
            json_array_append_new(used, json_string(name));
        }
    }
    if (rc == 0 && applied) {
        *applied = used;
        used = NULL;
    }
out:
    free(v);
    json_decref(used);
    return rc;
}

json_t *fl_sched_op_override(const json_t *req, fl_err *err)
{
    const json_t *tmpl = json_object_get(req, "template"), *cl = json_object_get(req, "cluster");
    const json_t *pols = json_object_get(req, "policies");
    if (!json_is_object(tmpl) || !json_is_object(cl) || !json_is_array(pols)) {
        fl_err_set(err, FL_EPARSE,
                   "members \"template\" (object), \"policies\" (array) and "
                   "\"cluster\" (object) needed");
        return NULL;
    }
    json_t *obj = json_deep_copy(tmpl), *applied = NULL;
    fl_err e = FL_ERR_INIT;
    if (!obj)
        return NULL;
    int rc = fl_sched_overrides_apply(pols, tmpl, cl, obj, &applied, &e);
    if (rc) {
        json_decref(obj);
        return rc == -ENOMEM ? NULL : fl_sched_error(e.msg, NULL);
    }
    return json_pack("{s:o,s:o}", "object", obj, "applied", applied);
}
