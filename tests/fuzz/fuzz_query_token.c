/*
 * tests/fuzz/fuzz_query_token.c: the search API's continue-token decoder
 * (query/token.c) on arbitrary input. Tokens are the one opaque value
 * clients hand back; the decoder must reject anything not minted by the key
 * without reading out of bounds. Also checks encode/decode round trips
 * (keyset and ordered cursors).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fl_index *idx;
static fl_query *q;
static char dir[] = "/tmp/flotilla-fuzz-token-XXXXXX";

static void cleanup(void)
{
    char cmd[128];
    fl_query_free(q);
    fl_index_close(idx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return;
}

static void setup(void)
{
    char path[128];
    fl_index_opts io = FL_INDEX_OPTS_INIT;
    fl_query_opts qo = FL_QUERY_OPTS_INIT;
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/index.db", dir);
    io.path = path;
    fl_log_set_level(FL_LOG_OFF);
    if (fl_index_open(&io, &idx, NULL) != 0)
        abort();
    qo.index = idx;
    if (fl_query_new(&qo, &q, NULL) != 0)
        abort();
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!q)
        setup();
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    fl_query_cursor c, d;
    if (fl_query_token_decode(q, s, &c) == 0) {
        fl_buf b = FL_BUF_INIT(8192);
        if (fl_query_token_encode(q, &c, &b) != 0 || fl_query_token_decode(q, b.data, &d) != 0 ||
            d.revision != c.revision || strcmp(d.name, c.name) != 0)
            abort();
        fl_buf_done(&b);
    }
    /* mint a token from the input as a name and check the round trip */
    memset(&c, 0, sizeof c);
    if (size < sizeof c.name && !memchr(s, '/', size) && !memchr(s, 0, size)) {
        fl_buf b = FL_BUF_INIT(8192);
        memcpy(c.name, s, size + 1);
        c.revision = (int64_t)size;
        if (fl_query_token_encode(q, &c, &b) == 0 &&
            (fl_query_token_decode(q, b.data, &d) != 0 || strcmp(d.name, c.name) != 0))
            abort();
        /* an ordered (orderby) cursor with the input as its resourceVersion */
        b.len = 0;
        c.ordered = true;
        c.order_sig = (uint32_t)size * 2654435761u;
        c.created = -(int64_t)size;
        if (size < sizeof c.rv)
            memcpy(c.rv, s, size + 1);
        if (fl_query_token_encode(q, &c, &b) == 0 &&
            (fl_query_token_decode(q, b.data, &d) != 0 || !d.ordered ||
             d.order_sig != c.order_sig || d.created != c.created || strcmp(d.rv, c.rv) != 0 ||
             strcmp(d.name, c.name) != 0))
            abort();
        fl_buf_done(&b);
    }
    free(s);
    return 0;
}
