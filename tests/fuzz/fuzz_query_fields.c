/*
 * tests/fuzz/fuzz_query_fields.c: the search API's field-selector parser
 * (query/fields.c) and matcher on arbitrary input: the selector is the
 * input; the object is a fixed pod with lists, numbers and strings.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    fl_query_fields *f = NULL;
    if (fl_query_fields_parse(s, &f, NULL) == 0) {
        json_t *obj = json_loads("{\"metadata\":{\"name\":\"p\",\"labels\":{\"a\":\"b\"}},"
                                 "\"spec\":{\"replicas\":3,\"containers\":[{\"image\":\"x\"},"
                                 "{\"image\":\"y\",\"ports\":[{\"containerPort\":80}]}]}}",
                                 0, NULL);
        (void)fl_query_fields_match(f, obj);
        json_decref(obj);
        fl_query_fields_free(f);
    }
    free(s);
    return 0;
}
