/*
 * tests/fuzz/fuzz_watchscan.c: libFuzzer target for the collector's raw
 * JSON scanner (cl_scan_str / cl_scan_int), which reads list pages and
 * watch lines straight from member clusters. No crash, no read past the
 * input, and for every value found: it fits the output and is
 * NUL-terminated; when jansson parses the input as an object whose value at
 * the path is a plain string (no escapes), the scanner finds the same.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const char *d, size_t n, const char *const *path, size_t depth)
{
    char out[32];
    int rc = cl_scan_str(d, n, path, depth, out, sizeof out);
    if (rc == 0 && strlen(out) >= sizeof out)
        abort();
    int64_t v;
    (void)cl_scan_int(d, n, path, depth, &v);
    /* cross-check against a real parser for simple cases */
    json_t *doc = json_loadb(d, n, JSON_REJECT_DUPLICATES, NULL);
    json_t *cur = doc;
    for (size_t i = 0; cur && i < depth; i++)
        cur = json_is_object(cur) ? json_object_get(cur, path[i]) : NULL;
    if (cur && json_is_string(cur) && json_string_length(cur) < sizeof out && !memchr(d, '\\', n)) {
        if (rc != 0 || strcmp(out, json_string_value(cur)) != 0)
            abort();
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const typ[] = {"type"};
    static const char *const orv[] = {"object", "metadata", "resourceVersion"};
    static const char *const cont[] = {"metadata", "continue"};
    one((const char *)data, size, typ, 1);
    one((const char *)data, size, orv, 3);
    one((const char *)data, size, cont, 2);
    return 0;
}
