/*
 * tests/fuzz/fuzz_server_uri.c: libFuzzer target for server/'s request
 * target parser (path percent-decoding, query splitting), the one place
 * server/ parses untrusted URL text. Checks the output stays inside the
 * buffer the caller sizes by contract and every pair is well formed.
 */
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *raw = malloc(size + 1);
    if (!raw)
        return 0;
    memcpy(raw, data, size);
    raw[size] = '\0'; /* MHD hands us a C string: stop at the first NUL */
    size_t np = srv_uri_count_pairs(raw);
    size_t cap = strlen(raw) + np + 2;
    char *out = malloc(cap);
    kv *q = calloc(np + 1, sizeof(kv));
    const char *path = NULL;
    if (out && q) {
        int n = srv_uri_parse(raw, out, q, np, &path);
        if (n >= 0) {
            if ((size_t)n > np || !path)
                abort();
            for (int i = 0; i < n; i++)
                if (!q[i].k[0] || q[i].k < out || q[i].v + strlen(q[i].v) >= out + cap)
                    abort();
        }
    }
    free(q);
    free(out);
    free(raw);
    return 0;
}
