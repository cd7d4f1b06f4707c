/*
 * tests/fuzz/fuzz_quantity.c: libFuzzer target for fl_quantity_parse. No
 * crash, and for every accepted input: format succeeds, parse(String(q))
 * equals q in value, String is a fixed point from the second round on (the
 * first may change format: BinarySI "62.5Ki" prints "64000", which parses
 * as DecimalSI "64k", as upstream), and Value/MilliValue/add/sub/mul run
 * cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_quantity q, again;
    if (fl_quantity_parse((const char *)data, size, &q, NULL) != 0)
        return 0;
    char s1[FL_QTY_STR_MAX], s2[FL_QTY_STR_MAX];
    int n = fl_quantity_format(&q, s1, sizeof s1);
    if (n < 0)
        abort();
    /* The one accepted exception: an exponent pushed past int32 by
     * canonicalisation ("200e2147483647" -> "2e2147483649") is read back
     * with upstream's int32 truncation, so it cannot round-trip (upstream
     * cannot either). */
    const char *e = strpbrk(s1, "eE");
    int64_t x;
    if (e && (fl_parse_i64(e + 1, strlen(e + 1), &x) != 0 || x > INT32_MAX || x < INT32_MIN))
        return 0;
    if (fl_quantity_parse(s1, (size_t)n, &again, NULL) != 0)
        abort();
    if (fl_quantity_cmp(&q, &again) != 0)
        abort();
    n = fl_quantity_format(&again, s2, sizeof s2);
    if (n < 0 || fl_quantity_parse(s2, (size_t)n, &again, NULL) != 0)
        abort();
    if (fl_quantity_format(&again, s1, sizeof s1) < 0 || strcmp(s1, s2) != 0)
        abort();
    int64_t v;
    (void)fl_quantity_value(&q, &v);
    (void)fl_quantity_milli_value(&q, &v);
    fl_quantity sum = q;
    if (fl_quantity_add(&sum, &q) == 0 && fl_quantity_sub(&sum, &q) == 0 &&
        fl_quantity_cmp(&sum, &q) != 0)
        abort();
    fl_quantity m = q;
    (void)fl_quantity_mul(&m, -3);
    return 0;
}
