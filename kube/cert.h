/*
 * kube/cert.h: X.509 certificates for Flotilla's own TLS (OpenSSL): a CA,
 * serving certificates with DNS and IP SANs, and client certificates in
 * Kubernetes' convention (CN = user name, O = groups). Keys are EC P-256;
 * everything is PEM text in memory, with helpers to write and read the
 * usual file layout (DIR/ca.crt + DIR/ca.key, DIR/server.crt, ...).
 * Used by `flotilla certs`, the simulator (--tls), the daemon and tests.
 *
 * Threads: any (OpenSSL 3 is thread-safe; no state is kept here).
 */
#ifndef FL_KUBE_CERT_H
#define FL_KUBE_CERT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

/* A certificate and its private key, PEM, NUL-terminated, owned. */
typedef struct fl_cert_pair {
    char *cert_pem;
    char *key_pem;
} fl_cert_pair;
#define FL_CERT_PAIR_INIT                                                                          \
    {                                                                                              \
        0                                                                                          \
    }
void fl_cert_pair_done(fl_cert_pair *p); /* frees and zeroes; accepts a zeroed pair */

#define FL_CERT_DAYS_DEFAULT 365

/* A self-signed CA (basicConstraints CA:TRUE, keyCertSign|cRLSign), CN = cn
 * (NULL: "flotilla-ca"), valid from 1 hour ago for `days` days (<= 0:
 * FL_CERT_DAYS_DEFAULT). *out written only on success.
 * Returns 0, -EINVAL, -ENOMEM, FL_ETLS (OpenSSL failed; err has its text). */
int fl_cert_ca_new(const char *cn, int days, fl_cert_pair *out, fl_err *err);

/* A serving certificate signed by ca (extKeyUsage serverAuth). hosts[0..n)
 * become SANs: a string that parses as an IPv4/IPv6 address is an IP SAN,
 * anything else a DNS SAN; CN = hosts[0]. n must be >= 1. Codes as above,
 * plus FL_EPARSE (ca's PEM unreadable or key not matching). */
int fl_cert_server_new(const fl_cert_pair *ca, const char *const *hosts, size_t n, int days,
                       fl_cert_pair *out, fl_err *err);

/* A client certificate signed by ca (extKeyUsage clientAuth): CN = user,
 * one O per group (groups may be NULL when ngroups is 0). Codes as above. */
int fl_cert_client_new(const fl_cert_pair *ca, const char *user, const char *const *groups,
                       size_t ngroups, int days, fl_cert_pair *out, fl_err *err);

/* Write DIR/NAME.crt (0644) and DIR/NAME.key (0600), creating DIR (0755)
 * when missing; files are replaced atomically (write + rename).
 * Returns 0 or -errno (err names the path). */
int fl_cert_pair_write(const fl_cert_pair *p, const char *dir, const char *name, fl_err *err);

/* Read DIR/NAME.crt and DIR/NAME.key (each at most 1 MiB). *out written
 * only on success. 0, -errno, -E2BIG, FL_EPARSE (not PEM). */
int fl_cert_pair_read(const char *dir, const char *name, fl_cert_pair *out, fl_err *err);

/* Check that cert_pem chains to ca_pem and (when host is not NULL) is valid
 * for host (DNS name or IP address). 0, FL_ETLS (err says why), FL_EPARSE. */
int fl_cert_verify(const char *ca_pem, const char *cert_pem, const char *host, fl_err *err);

#endif
