/*
 * tests/fuzz/fuzz_sim_token.c: the simulator's continue-token parser (the
 * one place sim/ parses a client-supplied token): any input either fails
 * cleanly or decodes to a token that re-encodes and decodes to the same
 * (rv, start).
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *s = fl_strndup((const char *)data, size);
    char *start = NULL, *start2 = NULL;
    int64_t rv = 0, rv2 = 0;
    fl_buf again = FL_BUF_INIT(1 << 20);
    fl_err err = FL_ERR_INIT;
    if (!s)
        return 0;
    if (fl_apiserver_token_decode(s, &rv, &start, &err) == 0 &&
        fl_apiserver_token_encode(rv < 0 ? 0 : (uint64_t)rv, rv < 0, start, &again) == 0 &&
        fl_apiserver_token_decode(again.data, &rv2, &start2, &err) == 0) {
        if ((rv < 0) != (rv2 < 0) || (rv >= 0 && rv != rv2) || strcmp(start, start2) != 0)
            abort();
    }
    free(start);
    free(start2);
    fl_buf_done(&again);
    free(s);
    return 0;
}
