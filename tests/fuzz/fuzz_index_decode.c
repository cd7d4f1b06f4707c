/*
 * tests/fuzz/fuzz_index_decode.c: the index decoder on arbitrary bytes —
 * the same input as a watch event line and as a list page, for a Pod, a
 * Node and a Secret source (so pruning and fact extraction run too).
 */
#include <stddef.h>
#include <stdint.h>

#include "index/index_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fl_index_src srcs[] = {{"c", "", "v1", "pods", "Pod"},
                                        {"c", "", "v1", "nodes", "Node"},
                                        {"c", "", "v1", "secrets", "Secret"}};
    dec_opts o = {false, false};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        dec_out out = {0};
        idx_dec_event(&o, &srcs[i], (const char *)data, size, &out);
        idx_dec_out_done(&out);
        idx_dec_list(&o, &srcs[i], (const char *)data, size, &out);
        idx_dec_out_done(&out);
    }
    return 0;
}
