/*
 * tests/fuzz/fuzz_query_params.c: libFuzzer target for the request-target
 * decoder as the search API uses it: server/'s srv_uri_parse (path
 * percent-decoding, query pairs) followed by query/'s name checks. It
 * checks what the security fixes rely on:
 *   - a %00 or a bad escape anywhere fails the whole target (never a pair
 *     silently dropped, which let a selector fail open);
 *   - every decoded pair re-encodes and re-parses to the same pairs (no
 *     second meaning);
 *   - a path segment accepted as a namespace or object name (DNS-1123) is
 *     never "." or "..", never holds '/', and has no dot segment, so a
 *     member URL built from it cannot be rewritten by dot-segment rules.
 */
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "server/server_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const char hexd[] = "0123456789ABCDEF";

static void enc(fl_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[3] = {'%', hexd[c >> 4], hexd[c & 15]};
        fl_buf_append(b, e, 3);
    }
}

static bool has_nul_escape(const char *raw)
{
    for (const char *p = raw; (p = strchr(p, '%')); p++)
        if (p[1] == '0' && p[2] == '0')
            return true;
    return false;
}

static void check_names(const char *path)
{
    char seg[300];
    for (const char *s = path; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n < sizeof seg) {
            memcpy(seg, s, n);
            seg[n] = 0;
            if (fl_kube_dns_subdomain(seg) || fl_kube_dns_label(seg)) {
                if (!strcmp(seg, ".") || !strcmp(seg, "..") || strstr(seg, "..") ||
                    strchr(seg, '/') || seg[0] == '.' || seg[n - 1] == '.')
                    abort();
            }
            if (fl_kube_dns_label(seg) && (strchr(seg, '.') || n > 63))
                abort();
        }
        s += n + (e ? 1 : 0);
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *raw = malloc(size + 1);
    if (!raw)
        return 0;
    memcpy(raw, data, size);
    raw[size] = '\0';
    size_t np = srv_uri_count_pairs(raw);
    size_t cap = strlen(raw) + np + 2;
    char *out = malloc(cap), *out2 = NULL;
    kv *q = calloc(np + 1, sizeof(kv)), *q2 = NULL;
    fl_buf re = FL_BUF_INIT(1u << 24);
    const char *path = NULL, *path2 = NULL;
    if (!out || !q)
        goto done;
    int n = srv_uri_parse(raw, out, q, np, &path);
    if (n >= 0 && has_nul_escape(raw))
        abort(); /* a %00 must fail the target */
    if (n < 0)
        goto done;
    check_names(path);
    /* re-encode every pair (keys too) and parse again: the same pairs */
    fl_buf_puts(&re, "/p?");
    for (int i = 0; i < n; i++) {
        if (i)
            fl_buf_puts(&re, "&");
        enc(&re, q[i].k);
        fl_buf_puts(&re, "=");
        enc(&re, q[i].v);
    }
    if (!re.data)
        goto done;
    size_t np2 = srv_uri_count_pairs(re.data);
    out2 = malloc(re.len + np2 + 2);
    q2 = calloc(np2 + 1, sizeof(kv));
    if (!out2 || !q2)
        goto done;
    int n2 = srv_uri_parse(re.data, out2, q2, np2, &path2);
    if (n2 != n)
        abort();
    for (int i = 0; i < n; i++)
        if (strcmp(q[i].k, q2[i].k) || strcmp(q[i].v, q2[i].v))
            abort();
done:
    fl_buf_done(&re);
    free(q2);
    free(out2);
    free(q);
    free(out);
    free(raw);
    return 0;
}
