/*
 * tests/fuzz/fuzz_fields.c: libFuzzer target for fl_field_selector_parse.
 * No crash, and for every accepted input String() parses again with the
 * same number of terms, and String() is a fixed point from the second round
 * on (the first may reorder: upstream sorts raw terms, and "a==" prints as
 * "a=", which sorts elsewhere), with identical terms.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *get(const char *field, void *ud)
{
    (void)ud;
    return strcmp(field, "metadata.name") == 0 ? "a,b=c" : NULL;
}

/* String() of sel parsed again into *out; aborts if that fails. */
static void reparse(const fl_field_selector *sel, fl_field_selector **out, fl_buf *s)
{
    if (fl_field_selector_string(sel, s) != 0)
        abort();
    const char *str = s->data ? s->data : "";
    if (fl_field_selector_parse(str, strlen(str), out, NULL) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_field_selector *sel = NULL, *two = NULL, *three = NULL;
    if (fl_field_selector_parse((const char *)data, size, &sel, NULL) != 0)
        return 0;
    fl_buf a = FL_BUF_INIT(1 << 20), b = FL_BUF_INIT(1 << 20), c = FL_BUF_INIT(1 << 20);
    reparse(sel, &two, &a);
    reparse(two, &three, &b);
    if (fl_field_selector_string(three, &c) != 0 ||
        strcmp(b.data ? b.data : "", c.data ? c.data : "") != 0)
        abort();
    size_t n = fl_field_selector_count(sel);
    if (n != fl_field_selector_count(two) || n != fl_field_selector_count(three))
        abort();
    for (size_t i = 0; i < n; i++) {
        fl_field_term x, y;
        fl_field_selector_term(two, i, &x);
        fl_field_selector_term(three, i, &y);
        if (strcmp(x.value, y.value) != 0 || strcmp(x.field, y.field) != 0 || x.op != y.op)
            abort();
    }
    (void)fl_field_selector_matches(sel, get, NULL);
    fl_buf_done(&a);
    fl_buf_done(&b);
    fl_buf_done(&c);
    fl_field_selector_free(sel);
    fl_field_selector_free(two);
    fl_field_selector_free(three);
    return 0;
}
