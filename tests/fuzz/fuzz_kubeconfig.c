/* tests/fuzz/fuzz_kubeconfig.c: libFuzzer target for kube/kubeconfig.c —
 * parse any bytes as a kubeconfig and resolve every context. Relative file
 * references resolve under a directory that does not exist, and exec
 * plugins are resolved but never run (resolution does not run them). */
#include <stdint.h>

#include "kube/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_kubeconfig *kc = NULL;
    fl_err e = FL_ERR_INIT;
    if (fl_kubeconfig_parse((const char *)data, size, "fuzz.kubeconfig", "/nonexistent-fuzz-dir",
                            &kc, &e) != 0)
        return 0;
    size_t n = fl_kubeconfig_context_count(kc);
    for (size_t i = 0; i <= n && i < 16; i++) {
        fl_kube_conn *c = NULL;
        const char *name = i < n ? fl_kubeconfig_context_name(kc, i) : NULL;
        if (fl_kubeconfig_resolve(kc, name, &c, &e) == 0) {
            const fl_kube_conn_info *in = fl_kube_conn_get_info(c);
            if (!in->server || in->server[0] == 0)
                __builtin_trap();
            fl_kube_conn_unref(c);
        }
    }
    fl_kubeconfig_free(kc);
    return 0;
}
