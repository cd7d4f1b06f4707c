/*
 * tests/fuzz/fuzz_index_scan.c: the in-place decoder against the jansson
 * one on arbitrary bytes. Aborts when kube/jscan calls plain what jansson
 * rejects, or when index/scan.c decodes an object into a record that
 * differs from the jansson path's (every field; the JSON as a value), for
 * a Pod, a Node, a Secret and a Deployment source, pruning on and off.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "index/index_int.h"
#include "tests/index/rec_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fl_index_src srcs[] = {{"c", "", "v1", "pods", "Pod"},
                                        {"c", "", "v1", "nodes", "Node"},
                                        {"c", "", "v1", "secrets", "Secret"},
                                        {"c", "apps", "v1", "deployments", ""}};
    const char *p = (const char *)data;
    if (!fl_jscan_plain(p, size))
        return 0;
    json_t *j = NULL;
    fl_err err = FL_ERR_INIT;
    if (fl_json_parse(p, size, &j, &err) < 0) {
        fprintf(stderr, "jscan accepted what jansson rejects: %s\n", err.msg);
        abort();
    }
    fl_jval v = fl_jscan_trim(p, size);
    for (size_t i = 0; json_is_object(j) && i < sizeof srcs / sizeof srcs[0]; i++) {
        for (int keep = 0; keep < 2; keep++) {
            dec_opts o = {keep, keep};
            fl_rec *fast = NULL;
            int rc = idx_dec_object_scan(&o, &srcs[i], v, REC_UPSERT, &fast);
            if (rc < 0)
                continue; /* out of memory */
            json_t *copy = json_deep_copy(j);
            fl_rec *slow = idx_dec_object(&o, &srcs[i], copy, REC_UPSERT);
            json_decref(copy);
            char why[128];
            if (rc == 1 && (!slow || !rec_same(fast, slow, why, sizeof why))) {
                fprintf(stderr, "paths differ (%s): %s\n", srcs[i].resource,
                        slow ? why : "the jansson path has no record");
                abort();
            }
            idx_rec_free(fast), idx_rec_free(slow);
        }
    }
    json_decref(j);
    return 0;
}
