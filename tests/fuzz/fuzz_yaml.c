/* tests/fuzz/fuzz_yaml.c: libFuzzer target for kube/yaml.c — single and
 * multi-document parsing and the line-map document API must never crash,
 * leak or overrun on any input, and a successful parse must be JSON that
 * jansson can encode. */
#include <stdint.h>
#include <stdlib.h>

#include "kube/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    json_t *v = NULL;
    fl_err e = FL_ERR_INIT;
    if (fl_yaml_parse(s, size, &v, &e) == 0) {
        char *out = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!out)
            abort();
        free(out);
        json_decref(v);
    }
    v = NULL;
    if (fl_yaml_parse_all(s, size, &v, &e) == 0) {
        if (!json_is_array(v))
            abort();
        json_decref(v);
    }
    fl_yaml_doc *doc = NULL;
    if (fl_yaml_doc_parse(s, size, "fuzz.yaml", &doc, &e) == 0) {
        json_t *root = fl_yaml_doc_root(doc);
        const char *k;
        json_t *val;
        if (json_is_object(root))
            json_object_foreach(root, k, val) {
                (void)fl_yaml_key_line(doc, root, k);
                (void)fl_yaml_line(doc, val);
            }
        fl_yaml_doc_free(doc);
    }
    return 0;
}
