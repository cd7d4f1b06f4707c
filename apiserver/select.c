/*
 * apiserver/select.c: label and field selectors (kube/labels.h, kube/fields.h)
 * matched against stored objects without parsing them: labels and the
 * common field-selector fields are extracted at store time; other fields
 * fall back to parsing the object. Also which field labels the apiserver
 * accepts per kind (others are a 400).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"

struct fl_apiserver_sel {
    fl_label_selector *labels; /* one of the two */
    fl_field_selector *fields;
};

void fl_apiserver_sel_free(fl_apiserver_sel *s)
{
    if (!s)
        return;
    fl_label_selector_free(s->labels);
    fl_field_selector_free(s->fields);
    free(s);
}

int fl_apiserver_sel_parse_labels(const char *s, fl_apiserver_sel **out, fl_err *err)
{
    fl_apiserver_sel *sel = calloc(1, sizeof(*sel));
    if (!sel)
        return -ENOMEM;
    int rc = fl_label_selector_parse(s ? s : "", s ? strlen(s) : 0, &sel->labels, err);
    if (rc != 0) {
        free(sel);
        return rc;
    }
    *out = sel;
    return 0;
}

int fl_apiserver_sel_parse_fields(const char *s, fl_apiserver_sel **out, fl_err *err)
{
    fl_apiserver_sel *sel = calloc(1, sizeof(*sel));
    if (!sel)
        return -ENOMEM;
    int rc = fl_field_selector_parse(s ? s : "", s ? strlen(s) : 0, &sel->fields, err);
    if (rc != 0) {
        free(sel);
        return rc;
    }
    *out = sel;
    return 0;
}

typedef struct getter {
    const fl_apiserver_obj *o;
    json_t *parsed; /* slow path for fields not extracted at store time */
} getter;

static const char *get_label(const char *key, void *ud)
{
    return fl_apiserver_obj_label(((getter *)ud)->o, key);
}

static const char *get_field(const char *key, void *ud)
{
    getter *g = ud;
    const fl_apiserver_obj *o = g->o;
    if (!strcmp(key, "metadata.name"))
        return o->name;
    if (!strcmp(key, "metadata.namespace"))
        return o->ns;
    if (!strcmp(key, "spec.nodeName"))
        return o->node;
    if (!strcmp(key, "status.phase"))
        return o->phase;
    if (!g->parsed)
        g->parsed = fl_apiserver_obj_parse(o);
    json_t *v = g->parsed ? fl_obj_get(g->parsed, key) : NULL;
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return json_string_value(v);
}

bool fl_apiserver_sel_match(const fl_apiserver_sel *s, const fl_apiserver_obj *o)
{
    getter g = {o, NULL};
    bool ok = true;
    if (s && s->labels)
        ok = fl_label_selector_matches_fn(s->labels, get_label, &g);
    else if (s && s->fields)
        ok = fl_field_selector_matches(s->fields, get_field, &g);
    json_decref(g.parsed);
    return ok;
}

/* Field selector keys a kind supports (the apiserver answers 400 for
 * others): metadata.name/namespace everywhere, plus a few per kind. */
bool fl_apiserver_sel_fields_supported(const fl_apiserver_sel *s, const char *kind,
                                       const char **bad)
{
    static const char *const pod[] = {"spec.nodeName",
                                      "spec.restartPolicy",
                                      "spec.schedulerName",
                                      "spec.serviceAccountName",
                                      "status.phase",
                                      "status.podIP",
                                      "status.nominatedNodeName",
                                      NULL};
    static const char *const other[] = {"spec.unschedulable",
                                        "involvedObject.kind",
                                        "involvedObject.name",
                                        "involvedObject.namespace",
                                        "reason",
                                        "type",
                                        "status.phase",
                                        "spec.nodeName",
                                        "type",
                                        "status.successful",
                                        NULL};
    size_t n = s && s->fields ? fl_field_selector_count(s->fields) : 0;
    for (size_t i = 0; i < n; i++) {
        fl_field_term t;
        fl_field_selector_term(s->fields, i, &t);
        const char *k = t.field;
        bool ok = !strcmp(k, "metadata.name") || !strcmp(k, "metadata.namespace");
        const char *const *list = !strcmp(kind, "Pod") ? pod : other;
        for (size_t j = 0; !ok && list[j]; j++)
            ok = !strcmp(k, list[j]);
        if (!ok) {
            *bad = k;
            return false;
        }
    }
    return true;
}
