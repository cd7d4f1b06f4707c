/*
 * kube/kube_int.h: private declarations shared by the files of kube/'s
 * connection chapters (yaml, kubeconfig, cert, client). Not for other
 * modules: nothing here is part of kube's contract.
 */
#ifndef FL_KUBE_INT_H
#define FL_KUBE_INT_H

#include <stddef.h>

#include "base/base.h"


/* Standard base64 (Go's StdEncoding: padding required, \r and \n ignored)
 * into out (appending). 0, FL_EPARSE, -ENOMEM, -E2BIG. (kubeconfig.c) */
int fl_kube_base64_decode(const char *s, size_t n, fl_buf *out);

/* Standard base64 with padding, appended to out. (kubeconfig.c) */
int fl_kube_base64_encode(const void *p, size_t n, fl_buf *out);

#endif
