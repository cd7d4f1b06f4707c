/*
 * tests/fuzz/fuzz_sim_proto.c: the simulator's protobuf request-body
 * decoder (sim/proto.c) on arbitrary bytes: it must fail cleanly or
 * produce a JSON object with kind and apiVersion.
 */
#include <stdlib.h>

#include "apiserver/apiserver.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    json_t *obj = NULL;
    fl_err err = FL_ERR_INIT;
    if (fl_apiserver_proto_decode((const char *)data, size, &obj, &err) == 0) {
        if (!json_is_object(obj) || !fl_obj_str(obj, "kind") || !fl_obj_str(obj, "apiVersion"))
            abort();
        json_decref(obj);
    }
    return 0;
}
