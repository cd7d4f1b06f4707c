/* tests/base/test_base64.c: base64 in both alphabets, RFC 4648 vectors,
 * strict rejection of malformed input, and large inputs. */
#include <errno.h>
#include <stdlib.h>

#include "base/base.h"
#include "tests/test.h"

/* RFC 4648 section 10. */
static const struct {
    const char *plain, *std, *url;
} vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void check_encode(fl_base64 enc, const char *plain, const char *want)
{
    fl_buf b = FL_BUF_INIT(1024);
    T_EQ_INT(fl_base64_encode(enc, plain, strlen(plain), &b), 0);
    T_EQ_STR(b.data, want);
    T_EQ_INT(b.len, strlen(want));
    fl_buf_done(&b);
}

static void check_decode(fl_base64 enc, const char *text, const char *want)
{
    fl_buf b = FL_BUF_INIT(1024);
    T_EQ_INT(fl_base64_decode(enc, text, strlen(text), &b), 0);
    T_EQ_STR(b.data, want);
    T_EQ_INT(b.len, strlen(want));
    fl_buf_done(&b);
}

static void test_vectors(void)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(vectors); i++) {
        check_encode(FL_BASE64_STD, vectors[i].plain, vectors[i].std);
        check_encode(FL_BASE64_URL, vectors[i].plain, vectors[i].url);
        check_decode(FL_BASE64_STD, vectors[i].std, vectors[i].plain);
        check_decode(FL_BASE64_URL, vectors[i].url, vectors[i].plain);
    }
}

static void test_alphabets(void)
{
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    fl_buf b = FL_BUF_INIT(64);
    T_EQ_INT(fl_base64_encode(FL_BASE64_STD, bytes, 3, &b), 0);
    T_EQ_STR(b.data, "+/+/");
    fl_buf_reset(&b);
    T_EQ_INT(fl_base64_encode(FL_BASE64_URL, bytes, 2, &b), 0);
    T_EQ_STR(b.data, "-_8");
    fl_buf_reset(&b);
    T_EQ_INT(fl_base64_decode(FL_BASE64_URL, "-_-_", 4, &b), 0);
    T_EQ_INT(b.len, 3);
    T_CHECK(memcmp(b.data, bytes, 3) == 0);
    /* CR and LF are skipped, as in PEM-wrapped text */
    fl_buf_reset(&b);
    T_EQ_INT(fl_base64_decode(FL_BASE64_STD, "Zm9v\r\nYmFy\n", 11, &b), 0);
    T_EQ_STR(b.data, "foobar");
    /* both append to what out holds */
    fl_buf_reset(&b);
    T_EQ_INT(fl_buf_puts(&b, "x:"), 0);
    T_EQ_INT(fl_base64_encode(FL_BASE64_STD, "f", 1, &b), 0);
    T_EQ_INT(fl_base64_decode(FL_BASE64_STD, "Zg==", 4, &b), 0);
    T_EQ_STR(b.data, "x:Zg==f");
    fl_buf_done(&b);
}

static void test_bad_input(void)
{
    static const struct {
        fl_base64 enc;
        const char *text;
    } bad[] = {
        {FL_BASE64_STD, "Zg"},   /* padding missing */
        {FL_BASE64_STD, "Zg="},  /* padding short */
        {FL_BASE64_STD, "Z==="}, /* three '=' */
        {FL_BASE64_STD, "===="},
        {FL_BASE64_STD, "Zg==Zg=="}, /* data after padding */
        {FL_BASE64_STD, "Zg=a"},
        {FL_BASE64_STD, "Zh=="}, /* unused bits set: a second spelling of "f" */
        {FL_BASE64_STD, "Zm9="}, /* the same for two bytes */
        {FL_BASE64_STD, "Zm9v!"},
        {FL_BASE64_STD, "Zm 9v"}, /* spaces are not skipped */
        {FL_BASE64_STD, "-_8="},  /* URL alphabet */
        {FL_BASE64_URL, "+/8"},   /* standard alphabet */
        {FL_BASE64_URL, "Zg=="},  /* padding in the unpadded spelling */
        {FL_BASE64_URL, "Z"},     /* a lone last character */
        {FL_BASE64_URL, "Zm9vY"},
        {FL_BASE64_URL, "Zh"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        fl_buf b = FL_BUF_INIT(64);
        T_EQ_INT(fl_buf_puts(&b, "keep"), 0);
        int rc = fl_base64_decode(bad[i].enc, bad[i].text, strlen(bad[i].text), &b);
        if (rc != FL_EPARSE)
            fprintf(stderr, "accepted: \"%s\"\n", bad[i].text);
        T_EQ_INT(rc, FL_EPARSE);
        T_EQ_STR(b.data, "keep"); /* unchanged on failure */
        fl_buf_done(&b);
    }
    /* a NUL inside the counted input is a bad character too */
    fl_buf b = FL_BUF_INIT(64);
    T_EQ_INT(fl_base64_decode(FL_BASE64_STD, "Zm\0v", 4, &b), FL_EPARSE);
    fl_buf_done(&b);
}

static void test_caps(void)
{
    fl_buf b = FL_BUF_INIT(5);
    T_EQ_INT(fl_base64_encode(FL_BASE64_STD, "foob", 4, &b), -E2BIG);
    T_EQ_INT(b.len, 0);
    T_EQ_INT(fl_base64_decode(FL_BASE64_STD, "Zm9vYmFy", 8, &b), -E2BIG);
    T_EQ_INT(b.len, 0);
    /* a padded input whose bytes fit exactly */
    T_EQ_INT(fl_base64_decode(FL_BASE64_STD, "Zm9vYg==", 8, &b), 0);
    T_EQ_STR(b.data, "foob");
    fl_buf_reset(&b);
    T_EQ_INT(fl_base64_decode(FL_BASE64_URL, "Zm9vYmE", 7, &b), 0);
    T_EQ_STR(b.data, "fooba");
    fl_buf_done(&b);
}

/* Inputs longer than one OpenSSL call's chunk, every length mod 3. */
static void test_large(void)
{
    size_t n = 100003;
    unsigned char *p = malloc(n);
    T_CHECK(p != NULL);
    if (!p)
        return;
    T_EQ_INT(fl_random_bytes(p, n), 0);
    for (size_t len = n - 2; len <= n; len++) {
        for (int e = 0; e < 2; e++) {
            fl_base64 enc = e ? FL_BASE64_URL : FL_BASE64_STD;
            fl_buf t = FL_BUF_INIT(1u << 20), d = FL_BUF_INIT(1u << 20);
            T_EQ_INT(fl_base64_encode(enc, p, len, &t), 0);
            T_EQ_INT(t.len, enc == FL_BASE64_STD ? (len + 2) / 3 * 4 : (len * 4 + 2) / 3);
            T_EQ_INT(fl_base64_decode(enc, t.data, t.len, &d), 0);
            T_EQ_INT(d.len, len);
            T_CHECK(d.len == len && memcmp(d.data, p, len) == 0);
            fl_buf_done(&t);
            fl_buf_done(&d);
        }
    }
    free(p);
}

int main(void)
{
    test_vectors();
    test_alphabets();
    test_bad_input();
    test_caps();
    test_large();
    return t_done();
}
