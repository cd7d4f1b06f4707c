/*
 * kube/quantity.c: resource.Quantity (see quantity.h). Parsing follows
 * apimachinery's parseQuantityString + ParseQuantity step by step: the same
 * scanner, the same suffix table, and the same choice between its int64
 * fast path and its inf.Dec slow path (only the slow path needs a digit in
 * the number, rounds to 1n and caps BinarySI at 2^63-1). Arithmetic works on
 * a decimal digit array ("wnum", least significant digit first) so every
 * result is exact; nothing here uses floating point.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kube/quantity.h"

#define QTY_ERR_FORMAT                                                                             \
    "quantities must match the regular expression "                                                \
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define QTY_ERR_NUMERIC "unable to parse numeric part of quantity"
#define QTY_ERR_SUFFIX "unable to parse quantity's suffix"

/* Working number: magnitude d[0..n) (least significant first) * 10^exp.
 * Big enough for a parsed input times 2^60 and for add/sub/mul results. */
#define WORK 2 * FL_QTY_MAX_INPUT + 64
typedef struct wnum {
    int n;
    int64_t exp;
    uint8_t d[WORK];
} wnum;

/* Strip leading and trailing zeros (the latter into exp). */
static void w_norm(wnum *w)
{
    while (w->n > 0 && w->d[w->n - 1] == 0)
        w->n--;
    int lo = 0;
    while (lo < w->n && w->d[lo] == 0)
        lo++;
    if (lo) {
        memmove(w->d, w->d + lo, (size_t)(w->n - lo));
        w->n -= lo;
        w->exp += lo;
    }
    if (w->n == 0)
        w->exp = 0;
}

static void w_load(const fl_quantity *q, wnum *w)
{
    w->n = q->ndig;
    w->exp = q->exp;
    for (int i = 0; i < q->ndig; i++)
        w->d[i] = q->dig[q->ndig - 1 - i];
}

static int w_store(wnum *w, bool neg, fl_qty_format f, fl_quantity *out)
{
    w_norm(w);
    if (w->n > FL_QTY_MAX_DIGITS)
        return -ERANGE;
    out->ndig = (uint16_t)w->n;
    out->exp = w->exp;
    out->neg = w->n ? neg : false;
    out->format = f;
    for (int i = 0; i < w->n; i++)
        out->dig[i] = w->d[w->n - 1 - i];
    return 0;
}

/* w *= m (magnitudes). -ERANGE if the product would not fit WORK digits. */
static int w_mul_u64(wnum *w, uint64_t m)
{
    uint8_t md[20];
    int mn = 0;
    for (; m; m /= 10)
        md[mn++] = (uint8_t)(m % 10);
    if (w->n + mn > WORK)
        return -ERANGE;
    uint32_t acc[WORK];
    memset(acc, 0, (size_t)(w->n + mn) * sizeof acc[0]);
    for (int i = 0; i < w->n; i++)
        for (int j = 0; j < mn; j++)
            acc[i + j] += (uint32_t)w->d[i] * md[j];
    uint32_t carry = 0;
    int n = w->n + mn;
    for (int k = 0; k < n; k++) {
        uint32_t v = acc[k] + carry;
        w->d[k] = (uint8_t)(v % 10);
        carry = v / 10;
    }
    w->n = mn ? n : 0;
    return 0;
}

/* Add 1 at the lowest digit (magnitude). */
static int w_inc(wnum *w)
{
    for (int i = 0; i < w->n; i++) {
        if (w->d[i] < 9) {
            w->d[i]++;
            return 0;
        }
        w->d[i] = 0;
    }
    if (w->n >= WORK)
        return -ERANGE;
    w->d[w->n++] = 1;
    return 0;
}

/* Round a non-zero magnitude away from zero to `scale` (10^scale units):
 * drop the digits below it, adding one if any dropped digit was non-zero.
 * Returns true when the value changed. */
static bool w_round_up(wnum *w, int64_t scale)
{
    if (w->n == 0 || w->exp >= scale)
        return false;
    int64_t drop = scale - w->exp;
    bool frac = false;
    if (drop >= w->n) {
        w->n = 1;
        w->d[0] = 1;
        w->exp = scale;
        return true;
    }
    for (int64_t i = 0; i < drop; i++)
        frac |= w->d[i] != 0;
    memmove(w->d, w->d + drop, (size_t)(w->n - drop));
    w->n -= (int)drop;
    w->exp = scale;
    if (frac)
        w_inc(w); /* cannot fail: we just dropped at least one digit */
    return frac;
}

/* Compare magnitudes of two normalised numbers. */
static int w_cmp_mag(const wnum *a, const wnum *b)
{
    if (a->n == 0 || b->n == 0)
        return (a->n != 0) - (b->n != 0);
    int64_t ta = a->exp + a->n, tb = b->exp + b->n;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    int i = a->n - 1, j = b->n - 1;
    for (; i >= 0 && j >= 0; i--, j--)
        if (a->d[i] != b->d[j])
            return a->d[i] < b->d[j] ? -1 : 1;
    if (i >= 0)
        return 1;
    if (j >= 0)
        return -1;
    return 0;
}

/* Digit of w at absolute position p (value 10^p), 0 outside. */
static int w_digit(const wnum *w, int64_t p)
{
    int64_t i = p - w->exp;
    return (i >= 0 && i < w->n) ? w->d[i] : 0;
}

/* r = |a| + |b| (sub false) or |a| - |b| with |a| >= |b| (sub true). */
static int w_addsub_mag(const wnum *a, const wnum *b, bool sub, wnum *r)
{
    int64_t lo = a->exp < b->exp ? a->exp : b->exp;
    int64_t ta = a->exp + a->n, tb = b->exp + b->n;
    int64_t hi = ta > tb ? ta : tb;
    if (a->n == 0)
        lo = b->exp, hi = tb;
    if (b->n == 0)
        lo = a->exp, hi = ta;
    if (hi - lo + 1 > WORK)
        return -ERANGE;
    int n = (int)(hi - lo);
    int carry = 0;
    for (int k = 0; k < n; k++) {
        int v =
            w_digit(a, lo + k) + (sub ? -(w_digit(b, lo + k) + carry) : w_digit(b, lo + k) + carry);
        if (sub) {
            carry = v < 0;
            v += carry ? 10 : 0;
        } else {
            carry = v >= 10;
            v -= carry ? 10 : 0;
        }
        r->d[k] = (uint8_t)v;
    }
    if (!sub && carry)
        r->d[n++] = 1;
    r->n = n;
    r->exp = lo;
    return 0;
}

/* ---------------------------------------------------------------- parsing */

/* The pieces parseQuantityString finds. */
typedef struct qscan {
    bool positive;
    bool value_digit; /* the "value" part holds at least one digit */
    const char *num;  /* leading zeros stripped; "0" when empty */
    size_t num_len;
    const char *denom;
    size_t denom_len;
    const char *suffix;
    size_t suffix_len;
} qscan;

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_suffix_char(char c)
{
    switch (c) {
    case 'e':
    case 'E':
    case 'i':
    case 'n':
    case 'u':
    case 'm':
    case 'k':
    case 'K':
    case 'M':
    case 'G':
    case 'T':
    case 'P': return true;
    default: return false;
    }
}

/* Upstream's scanner: sign, zeros, numerator, '.', denominator, suffix
 * letters, optional sign, exponent digits. Returns 0 or FL_EPARSE. */
static int scan(const char *s, size_t end, qscan *q)
{
    size_t pos = 0;
    memset(q, 0, sizeof *q);
    q->positive = true;
    q->suffix = "";
    q->denom = "";
    if (s[0] == '-' || s[0] == '+')
        q->positive = s[pos++] != '-';
    size_t zeros = pos;
    while (pos < end && s[pos] == '0')
        pos++;
    if (pos >= end) {
        q->num = "0", q->num_len = 1, q->value_digit = true;
        return 0;
    }
    q->value_digit = pos > zeros;
    size_t start = pos;
    while (pos < end && is_digit(s[pos]))
        pos++;
    q->num = s + start, q->num_len = pos - start;
    q->value_digit |= q->num_len > 0;
    if (q->num_len == 0)
        q->num = "0", q->num_len = 1;
    if (pos < end && s[pos] == '.') {
        start = ++pos;
        while (pos < end && is_digit(s[pos]))
            pos++;
        q->denom = s + start, q->denom_len = pos - start;
        q->value_digit |= q->denom_len > 0;
    }
    size_t suf = pos;
    while (pos < end && is_suffix_char(s[pos]))
        pos++;
    if (pos < end && (s[pos] == '-' || s[pos] == '+'))
        pos++;
    while (pos < end && is_digit(s[pos]))
        pos++;
    if (pos < end)
        return FL_EPARSE;
    q->suffix = s + suf, q->suffix_len = end - suf;
    return 0;
}

typedef struct qsuffix {
    const char *s;
    int base;
    int32_t exp;
} qsuffix;

static const qsuffix dec_suffixes[] = {
    {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"", 10, 0},   {"k", 10, 3},
    {"M", 10, 6},  {"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18},
};
static const qsuffix bin_suffixes[] = {
    {"Ki", 2, 10}, {"Mi", 2, 20}, {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60},
};

/* quantitySuffixer.interpret. Returns false for an unknown suffix. */
static bool interpret(const char *s, size_t n, int *base, int32_t *exp, fl_qty_format *f)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(dec_suffixes); i++)
        if (strlen(dec_suffixes[i].s) == n && memcmp(dec_suffixes[i].s, s, n) == 0) {
            *base = 10, *exp = dec_suffixes[i].exp, *f = FL_QTY_DECIMAL_SI;
            return true;
        }
    for (size_t i = 0; i < FL_ARRAY_LEN(bin_suffixes); i++)
        if (n == 2 && memcmp(bin_suffixes[i].s, s, 2) == 0) {
            *base = 2, *exp = bin_suffixes[i].exp, *f = FL_QTY_BINARY_SI;
            return true;
        }
    int64_t v;
    if (n > 1 && (s[0] == 'e' || s[0] == 'E') && fl_parse_i64(s + 1, n - 1, &v) == 0) {
        /* Go's int32(parsed) keeps the low 32 bits. */
        *base = 10, *exp = (int32_t)(uint32_t)(uint64_t)v, *f = FL_QTY_DECIMAL_EXPONENT;
        return true;
    }
    return false;
}

/* Digits of num followed by denom into w (exp 0). */
static void load_digits(const qscan *q, wnum *w)
{
    size_t total = q->num_len + q->denom_len;
    w->n = (int)total;
    w->exp = 0;
    for (size_t i = 0; i < q->num_len; i++)
        w->d[total - 1 - i] = (uint8_t)(q->num[i] - '0');
    for (size_t i = 0; i < q->denom_len; i++)
        w->d[q->denom_len - 1 - i] = (uint8_t)(q->denom[i] - '0');
}

/* Would upstream take its int64 fast path? (precision and scale checks;
 * the int64 overflow check is done by the caller on the exact value.) */
static bool fast_path(const qscan *q, int base, int32_t exp, int64_t *scale)
{
    int64_t precision;
    *scale = 0;
    if (base == 10) {
        *scale = exp;
        precision = 18 - (int64_t)(q->num_len + q->denom_len);
    } else if (exp >= 0 && q->denom_len == 0) {
        precision = 15 - (int64_t)q->num_len - exp * 3 / 10 - 1;
    } else {
        precision = -1;
    }
    if (precision < 0)
        return false;
    *scale -= (int64_t)q->denom_len;
    return *scale >= -9;
}

/* |w| <= INT64_MAX (w need not be normalised). */
static bool fits_int64(const wnum *w)
{
    static const char max[] = "9223372036854775807";
    int top = w->n;
    while (top > 0 && w->d[top - 1] == 0)
        top--;
    if (top == 0)
        return true;
    int lo = 0;
    while (w->d[lo] == 0)
        lo++;
    int64_t digits = (int64_t)top + w->exp; /* integer digits of |w| */
    if (digits != 19)
        return digits < 19;
    int i = top - 1;
    for (int k = 0; k < 19; i--, k++) {
        int d = i >= lo ? w->d[i] : 0;
        if (d != max[k] - '0')
            return d < max[k] - '0';
    }
    return i < lo; /* equal so far: any further non-zero digit is a fraction */
}

static void set_int64_max(wnum *w)
{
    static const char max[] = "9223372036854775807";
    w->n = 19;
    w->exp = 0;
    for (int i = 0; i < 19; i++)
        w->d[18 - i] = (uint8_t)(max[i] - '0');
}

int fl_quantity_parse(const char *s, size_t n, fl_quantity *out, fl_err *err)
{
    if (n == 0 || !s)
        return fl_err_set(err, FL_EPARSE, QTY_ERR_FORMAT);
    if (n > FL_QTY_MAX_INPUT)
        return fl_err_set(err, -ERANGE, "quantity longer than %d bytes", FL_QTY_MAX_INPUT);
    qscan q;
    if (scan(s, n, &q) != 0)
        return fl_err_set(err, FL_EPARSE, QTY_ERR_FORMAT);
    int base;
    int32_t exp;
    fl_qty_format f;
    if (!interpret(q.suffix, q.suffix_len, &base, &exp, &f))
        return fl_err_set(err, FL_EPARSE, QTY_ERR_SUFFIX);
    wnum w;
    load_digits(&q, &w);
    int64_t scale;
    bool fast = fast_path(&q, base, exp, &scale);
    if (base == 2 && w_mul_u64(&w, (uint64_t)1 << exp) != 0)
        return fl_err_set(err, -ERANGE, "quantity has too many digits");
    fast = fast && fits_int64(&w); /* int64Multiply(value, mantissa) */
    w.exp = base == 10 ? (int64_t)exp - (int64_t)q.denom_len : -(int64_t)q.denom_len;
    w_norm(&w);
    if (fast)
        goto store;
    if (!q.value_digit)
        return fl_err_set(err, FL_EPARSE, QTY_ERR_NUMERIC);
    w_round_up(&w, -9);
    if (f == FL_QTY_BINARY_SI && !fits_int64(&w))
        set_int64_max(&w);
    w_norm(&w);
    if (f == FL_QTY_BINARY_SI && w.n && w.exp + w.n <= 0)
        f = FL_QTY_DECIMAL_SI; /* 0 < |x| < 1 */
store:;
    fl_quantity tmp;
    if (w_store(&w, !q.positive, f, &tmp) != 0)
        return fl_err_set(err, -ERANGE, "quantity has more than %d significant digits",
                          FL_QTY_MAX_DIGITS);
    *out = tmp;
    return 0;
}

/* ---------------------------------------------------------------- format */

static const char *dec_suffix_for(int64_t e)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(dec_suffixes); i++)
        if (dec_suffixes[i].exp == e)
            return dec_suffixes[i].s;
    return NULL;
}

/* |q| < 1024 (q normalised). */
static bool below_1024(const fl_quantity *q)
{
    int64_t top = q->exp + q->ndig; /* 10^(top-1) <= |q| < 10^top */
    if (top <= 3)
        return true;
    if (top > 4)
        return false;
    /* four integer digits: compare the integer part with 1024 */
    int v = 0;
    for (int i = 0; i < 4; i++)
        v = v * 10 + (i < q->ndig ? q->dig[i] : 0);
    return v < 1024;
}

/* Divide the integer magnitude (LS-first) by 1024; true when exact. */
static bool div1024(wnum *w, wnum *quot)
{
    uint32_t rem = 0;
    quot->n = w->n;
    quot->exp = 0;
    for (int i = w->n - 1; i >= 0; i--) {
        uint32_t cur = rem * 10 + w->d[i];
        quot->d[i] = (uint8_t)(cur / 1024);
        rem = cur % 1024;
    }
    while (quot->n > 0 && quot->d[quot->n - 1] == 0)
        quot->n--;
    return rem == 0;
}

static int put_digits(const wnum *w, char *buf, size_t size, size_t *len)
{
    for (int i = w->n - 1; i >= 0; i--) {
        if (*len + 1 >= size)
            return -E2BIG;
        buf[(*len)++] = (char)('0' + w->d[i]);
    }
    return 0;
}

static int finish(char *out, size_t size, char *buf, size_t len, const char *suffix)
{
    int r = snprintf(buf + len, FL_QTY_STR_MAX + 64 - len, "%s", suffix);
    if (r < 0)
        return -E2BIG;
    len += (size_t)r;
    if (len + 1 > size)
        return -E2BIG;
    memcpy(out, buf, len + 1);
    return (int)len;
}

/* BinarySI rendering for an integer |q| >= 1024; false when the integer
 * is too long to materialise (then the caller prints DecimalSI). */
static bool format_binary(const fl_quantity *q, char *buf, size_t *len)
{
    static const char *suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    wnum w, quot;
    if (q->exp + q->ndig > FL_QTY_STR_MAX - 8)
        return false;
    w_load(q, &w);
    memmove(w.d + w.exp, w.d, (size_t)w.n);
    memset(w.d, 0, (size_t)w.exp);
    w.n += (int)w.exp;
    w.exp = 0;
    int times = 0;
    /* removeInt64Factors(value, 1024), capped at Ei (upstream has no larger
     * suffix and would drop the exponent). */
    static const wnum k1024 = {.n = 4, .d = {4, 2, 0, 1}};
    while (times < 6 && w_cmp_mag(&w, &k1024) >= 0 && div1024(&w, &quot)) {
        w = quot;
        times++;
    }
    if (q->neg)
        buf[(*len)++] = '-';
    put_digits(&w, buf, FL_QTY_STR_MAX + 64, len);
    *len += (size_t)snprintf(buf + *len, 8, "%s", suffix[times]);
    return true;
}

int fl_quantity_format(const fl_quantity *q, char *out, size_t size)
{
    char buf[FL_QTY_STR_MAX + 64];
    size_t len = 0;
    if (q->ndig == 0)
        return finish(out, size, buf, 0, "0");
    fl_qty_format f = q->format;
    if (f == FL_QTY_BINARY_SI && (below_1024(q) || q->exp < 0))
        f = FL_QTY_DECIMAL_SI;
    if (f == FL_QTY_BINARY_SI) {
        if (format_binary(q, buf, &len))
            return finish(out, size, buf, len, "");
        f = FL_QTY_DECIMAL_SI;
    }
    /* AsCanonicalBytes: trailing zeros are already in exp; lower exp to a
     * multiple of three. */
    int64_t e = q->exp;
    int pad = (int)(((e % 3) + 3) % 3);
    e -= pad;
    if (q->neg)
        buf[len++] = '-';
    for (int i = 0; i < q->ndig; i++)
        buf[len++] = (char)('0' + q->dig[i]);
    for (int i = 0; i < pad; i++)
        buf[len++] = '0';
    const char *suf = f == FL_QTY_DECIMAL_SI ? dec_suffix_for(e) : (e == 0 ? "" : NULL);
    if (suf)
        return finish(out, size, buf, len, suf);
    char ebuf[32];
    snprintf(ebuf, sizeof ebuf, "e%" PRId64, e);
    return finish(out, size, buf, len, ebuf);
}

/* ---------------------------------------------------------------- values */

void fl_quantity_from_scaled(int64_t value, int32_t scale, fl_qty_format f, fl_quantity *out)
{
    wnum w;
    uint64_t m = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    w.n = 0;
    for (; m; m /= 10)
        w.d[w.n++] = (uint8_t)(m % 10);
    w.exp = scale;
    w_store(&w, value < 0, f, out); /* at most 19 digits: cannot fail */
}

void fl_quantity_from_milli(int64_t milli, fl_qty_format f, fl_quantity *out)
{
    fl_quantity_from_scaled(milli, -3, f, out);
}

int fl_quantity_sign(const fl_quantity *q)
{
    return q->ndig == 0 ? 0 : (q->neg ? -1 : 1);
}

bool fl_quantity_is_zero(const fl_quantity *q)
{
    return q->ndig == 0;
}

/* Magnitude comparison on the MS-first digits. */
static int cmp_mag(const fl_quantity *a, const fl_quantity *b)
{
    if (a->ndig == 0 || b->ndig == 0)
        return (a->ndig != 0) - (b->ndig != 0);
    int64_t ta = a->exp + a->ndig, tb = b->exp + b->ndig;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    int n = a->ndig < b->ndig ? a->ndig : b->ndig;
    int c = memcmp(a->dig, b->dig, (size_t)n);
    if (c)
        return c < 0 ? -1 : 1;
    return (a->ndig > n) - (b->ndig > n);
}

int fl_quantity_cmp(const fl_quantity *a, const fl_quantity *b)
{
    int sa = fl_quantity_sign(a), sb = fl_quantity_sign(b);
    if (sa != sb)
        return sa < sb ? -1 : 1;
    int m = cmp_mag(a, b);
    return sa < 0 ? -m : m;
}

static int addsub(fl_quantity *q, const fl_quantity *y, bool negate_y)
{
    wnum a, b, r;
    bool yneg = y->ndig ? (y->neg != negate_y) : false;
    fl_qty_format f = q->ndig == 0 ? y->format : q->format;
    w_load(q, &a);
    w_load(y, &b);
    int rc;
    bool neg;
    if (q->neg == yneg || q->ndig == 0 || y->ndig == 0) {
        rc = w_addsub_mag(&a, &b, false, &r);
        neg = q->ndig ? q->neg : yneg;
    } else if (cmp_mag(q, y) >= 0) {
        rc = w_addsub_mag(&a, &b, true, &r);
        neg = q->neg;
    } else {
        rc = w_addsub_mag(&b, &a, true, &r);
        neg = yneg;
    }
    fl_quantity tmp;
    if (rc == 0)
        rc = w_store(&r, neg, f, &tmp);
    if (rc == 0)
        *q = tmp;
    return rc;
}

int fl_quantity_add(fl_quantity *q, const fl_quantity *y)
{
    return addsub(q, y, false);
}

int fl_quantity_sub(fl_quantity *q, const fl_quantity *y)
{
    return addsub(q, y, true);
}

int fl_quantity_mul(fl_quantity *q, int64_t n)
{
    wnum w;
    w_load(q, &w);
    uint64_t m = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    int rc = w_mul_u64(&w, m);
    fl_quantity tmp;
    if (rc == 0)
        rc = w_store(&w, q->neg != (n < 0), q->format, &tmp);
    if (rc == 0)
        *q = tmp;
    return rc;
}

int fl_quantity_scaled_value(const fl_quantity *q, int32_t scale, int64_t *out)
{
    wnum w;
    w_load(q, &w);
    w.exp -= scale;
    w_round_up(&w, 0);
    w_norm(&w);
    if (w.n && w.n + w.exp > 19)
        return -ERANGE;
    uint64_t v = 0;
    for (int i = w.n - 1; i >= 0; i--)
        v = v * 10 + w.d[i];
    for (int64_t i = 0; w.n && i < w.exp; i++)
        v *= 10; /* at most 19 digits in all: no wrap before the check */
    if (q->neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return -ERANGE;
    *out = q->neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int fl_quantity_value(const fl_quantity *q, int64_t *out)
{
    return fl_quantity_scaled_value(q, 0, out);
}

int fl_quantity_milli_value(const fl_quantity *q, int64_t *out)
{
    return fl_quantity_scaled_value(q, -3, out);
}
