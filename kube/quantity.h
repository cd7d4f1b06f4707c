/*
 * kube/quantity.h: resource.Quantity with k8s.io/apimachinery's exact
 * semantics — parse every form upstream accepts ("1.5Gi", "100m", "1e3",
 * "+.5E-2", ...), exact arithmetic with no floating point, Value() and
 * MilliValue() rounding away from zero as upstream's int64 path does, and
 * the canonical string form (CanonicalizeBytes). Unlike upstream, the
 * string form is always the canonical one, even where upstream echoes a
 * non-canonical input such as "+1" (kubernetes#138165).
 *
 * A quantity is a plain value (no heap): sign, up to FL_QTY_MAX_DIGITS
 * significant decimal digits and a base-10 exponent. Upstream falls back to
 * an arbitrary-precision decimal; we cap the significant digits instead
 * (96 digits covers every int64 value at nano scale three times over), and
 * an operation whose exact result would need more digits fails -ERANGE.
 * Where upstream's int32 scale arithmetic would wrap (exponents near
 * +-2^31) we compute exactly instead, and BinarySI values of 1024^7 and
 * more print with an "Ei" suffix and a larger number, where upstream drops
 * the suffix.
 *
 * Threads: any; functions only touch the values passed in.
 */
#ifndef FL_KUBE_QUANTITY_H
#define FL_KUBE_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define FL_QTY_MAX_DIGITS 96
/* Longest input fl_quantity_parse accepts (bytes). */
#define FL_QTY_MAX_INPUT 256
/* A buffer of this size always holds fl_quantity_format's output. */
#define FL_QTY_STR_MAX 160

/* The format a quantity was written in, kept for its canonical string. */
typedef enum fl_qty_format {
    FL_QTY_DECIMAL_SI = 0,      /* "1k", "100m", "5" */
    FL_QTY_BINARY_SI = 1,       /* "1Ki", "1.5Gi" */
    FL_QTY_DECIMAL_EXPONENT = 2 /* "1e3", "2E-3" */
} fl_qty_format;

/* Invariant: value = (neg ? -1 : 1) * dig[0..ndig) * 10^exp, where dig holds
 * digit values 0..9, most significant first. Normalised: ndig == 0 means
 * zero (then neg is false and exp is 0); otherwise dig[0] != 0 and
 * dig[ndig-1] != 0. Treat the members as read-only; use the functions. */
typedef struct fl_quantity {
    int64_t exp;
    uint16_t ndig;
    bool neg;
    fl_qty_format format;
    uint8_t dig[FL_QTY_MAX_DIGITS];
} fl_quantity;

/* Zero in DecimalSI, as resource.Quantity{} with Format DecimalSI. */
#define FL_QUANTITY_ZERO                                                                           \
    {                                                                                              \
        0, 0, false, FL_QTY_DECIMAL_SI,                                                            \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* resource.ParseQuantity on s[0..n): the same accepted and rejected inputs,
 * the same rounding (values below 1n round up to 1n, away from zero), the
 * same BinarySI cap at 2^63-1 and the same format. Returns 0, FL_EPARSE
 * (err->msg is upstream's message: "quantities must match the regular
 * expression ..." or "unable to parse quantity's suffix"), or -ERANGE (more
 * than FL_QTY_MAX_INPUT bytes or FL_QTY_MAX_DIGITS significant digits).
 * *out is written only on success. */
int fl_quantity_parse(const char *s, size_t n, fl_quantity *out, fl_err *err);

/* The canonical string (upstream's String() of a re-parsed quantity), NUL
 * terminated, into out[0..size). Returns the length, or -E2BIG if size is
 * too small (FL_QTY_STR_MAX always suffices). */
int fl_quantity_format(const fl_quantity *q, char *out, size_t size);

/* value * 10^scale in the given format (resource.NewScaledQuantity);
 * fl_quantity_from_milli(v, f) is value * 10^-3 (NewMilliQuantity). */
void fl_quantity_from_scaled(int64_t value, int32_t scale, fl_qty_format f, fl_quantity *out);
void fl_quantity_from_milli(int64_t milli, fl_qty_format f, fl_quantity *out);

/* -1, 0 or 1 as a < b, a == b, a > b (exact; formats ignored). */
int fl_quantity_cmp(const fl_quantity *a, const fl_quantity *b);
/* -1, 0 or 1 by sign; true when zero. */
int fl_quantity_sign(const fl_quantity *q);
bool fl_quantity_is_zero(const fl_quantity *q);

/* q += y, q -= y, q *= n, exactly. As upstream, q takes y's format when q
 * is zero before add/sub; mul keeps q's format. Returns 0 or -ERANGE (the
 * exact result would need more than FL_QTY_MAX_DIGITS digits); q is left
 * unchanged on failure. */
int fl_quantity_add(fl_quantity *q, const fl_quantity *y);
int fl_quantity_sub(fl_quantity *q, const fl_quantity *y);
int fl_quantity_mul(fl_quantity *q, int64_t n);

/* ceil-away-from-zero of q * 10^-scale as int64 (upstream ScaledValue on
 * its int64 path: 1.5 -> 2, -1.5 -> -2). Value() is scale 0, MilliValue()
 * scale -3. Returns 0 or -ERANGE when the result does not fit int64 (where
 * upstream would silently return garbage). *out written only on success. */
int fl_quantity_scaled_value(const fl_quantity *q, int32_t scale, int64_t *out);
int fl_quantity_value(const fl_quantity *q, int64_t *out);
int fl_quantity_milli_value(const fl_quantity *q, int64_t *out);

#endif
