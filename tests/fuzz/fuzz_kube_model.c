/*
 * tests/fuzz/fuzz_kube_model.c: libFuzzer target for the API model's
 * parsers of outside input: CRD JSONPath columns, CustomResourceDefinition
 * objects, discovery APIResourceLists, and the Table printers fed with
 * arbitrary objects. Input: "<jsonpath>\n<json>". No crash, no leak, and
 * rendering always yields one row per object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Render obj with every registered printer; each gives exactly one row. */
static void render_all(const fl_kube_resources *reg, json_t *obj)
{
    const fl_kube_resource *rs[64];
    size_t n = fl_kube_resources_list(reg, rs, 64);
    fl_kube_table_opts o = FL_KUBE_TABLE_OPTS_INIT;
    o.now = 1795000000;
    o.cluster_column = true;
    for (size_t i = 0; i < n && i < 64; i++) {
        json_t *t = NULL;
        if (fl_kube_table_render(rs[i], &obj, 1, &o, &t, NULL) != 0)
            continue; /* only ENOMEM can fail for an object */
        if (json_array_size(json_object_get(t, "rows")) != 1)
            abort();
        json_decref(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *path = fl_strndup((const char *)data, plen);
    json_t *obj = NULL;
    fl_kube_resources *reg = NULL;
    if (!path)
        return 0;
    if (nl)
        obj = json_loadb((const char *)nl + 1, size - plen - 1, JSON_REJECT_DUPLICATES, NULL);
    fl_kube_jsonpath_get(obj, path);
    if (!json_is_object(obj) || fl_kube_resources_new(true, &reg) != 0)
        goto out;
    fl_kube_resources_add_crd(reg, obj, NULL);
    fl_kube_resources_add_discovery(reg, obj, NULL);
    render_all(reg, obj);
out:
    fl_kube_resources_free(reg);
    json_decref(obj);
    free(path);
    return 0;
}
