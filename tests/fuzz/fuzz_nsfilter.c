/*
 * tests/fuzz/fuzz_nsfilter.c: libFuzzer target for the collector's raw
 * page checks on bytes from member clusters: cl_json_complete (a list page
 * must be one whole JSON document before it counts in a relist) and the
 * sync-time namespace filter (cl_nsfilter_page / cl_nsfilter_event). No
 * crash, no read past the input; whatever jansson accepts as an object or
 * array is complete; a filtered page of a document jansson accepts parses
 * again, keeps exactly *kept items, all inside the set, in their order.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"a", "team-b"};

static void check_filtered(const json_t *in, const fl_buf *out, size_t kept)
{
    json_t *doc = json_loadb(out->data, out->len, 0, NULL);
    json_t *items = json_object_get(doc, "items");
    json_t *orig = json_object_get(in, "items");
    cl_nsfilter f = {names, 2, false};
    size_t i, j = 0;
    json_t *it;
    if (!doc || (json_is_array(orig) && json_array_size(items) != kept))
        abort();
    json_array_foreach(orig, i, it) { /* the kept ones, in order */
        const char *ns =
            json_string_value(json_object_get(json_object_get(it, "metadata"), "namespace"));
        if (ns && !strchr(ns, '\\') && cl_nsfilter_has(&f, ns) &&
            !json_equal(it, json_array_get(items, j++)))
            abort();
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    cl_nsfilter f = {names, 2, false}, byname = {names, 2, true};
    bool complete = cl_json_complete(d, size);
    json_t *doc = json_loadb(d, size, JSON_REJECT_DUPLICATES,
                             NULL); /* the scanner takes the first of two keys */
    if (doc && (json_is_object(doc) || json_is_array(doc)) && !complete)
        abort();
    fl_buf out = FL_BUF_INIT(size + 16);
    size_t kept = 0, dropped = 0;
    int rc = cl_nsfilter_page(&f, d, size, &out, &kept, &dropped);
    if (rc == 0 && out.len > size + 2)
        abort(); /* filtering never grows a page (an empty list adds "]") */
    if (rc == 0 && json_is_object(doc) && !memchr(d, '\\', size))
        check_filtered(doc, &out, kept);
    fl_buf_reset(&out);
    (void)cl_nsfilter_page(&byname, d, size, &out, &kept, &dropped);
    (void)cl_nsfilter_event(&f, d, size);
    fl_buf_done(&out);
    json_decref(doc);
    return 0;
}
