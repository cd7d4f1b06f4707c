/*
 * tests/fuzz/fuzz_labels.c: libFuzzer target for fl_label_selector_parse.
 * No crash, and for every accepted input String() parses again to the same
 * String(), and matching against a fixed label set runs cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *get(const char *key, void *ud)
{
    (void)ud;
    return strcmp(key, "x") == 0 ? "1" : (strcmp(key, "app") == 0 ? "web" : NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_label_selector *sel = NULL, *again = NULL;
    if (fl_label_selector_parse((const char *)data, size, &sel, NULL) != 0)
        return 0;
    fl_buf a = FL_BUF_INIT(1 << 20), b = FL_BUF_INIT(1 << 20);
    if (fl_label_selector_string(sel, &a) != 0)
        abort();
    const char *s = a.data ? a.data : "";
    if (fl_label_selector_parse(s, strlen(s), &again, NULL) != 0)
        abort();
    if (fl_label_selector_string(again, &b) != 0 || strcmp(s, b.data ? b.data : "") != 0)
        abort();
    if (fl_label_selector_count(sel) != fl_label_selector_count(again))
        abort();
    if (fl_label_selector_matches_fn(sel, get, NULL) !=
        fl_label_selector_matches_fn(again, get, NULL))
        abort();
    fl_buf_done(&a);
    fl_buf_done(&b);
    fl_label_selector_free(sel);
    fl_label_selector_free(again);
    return 0;
}
