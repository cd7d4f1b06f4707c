/*
 * kube/cert.c: CA, serving and client certificates with OpenSSL 3 (EC
 * P-256 keys, SHA-256 signatures), PEM in memory, and the file helpers.
 * Holds no state; every OpenSSL object is freed before returning.
 */
#include "kube/cert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#define PEM_FILE_MAX (1u << 20)

void fl_cert_pair_done(fl_cert_pair *p)
{
    if (!p)
        return;
    free(p->cert_pem);
    if (p->key_pem)
        OPENSSL_cleanse(p->key_pem, strlen(p->key_pem));
    free(p->key_pem);
    p->cert_pem = p->key_pem = NULL;
}

/* FL_ETLS with OpenSSL's most recent error text appended. */
static int ossl_err(fl_err *err, int code, const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return fl_err_set(err, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static char *bio_string(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    return n >= 0 ? fl_strndup(p, (size_t)n) : NULL;
}

static int to_pem(X509 *x, EVP_PKEY *k, fl_cert_pair *out, fl_err *err)
{
    BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
    fl_cert_pair p = FL_CERT_PAIR_INIT;
    int rc = 0;
    if (!bc || !bk || !PEM_write_bio_X509(bc, x) ||
        !PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL)) {
        rc = ossl_err(err, FL_ETLS, "writing PEM");
        goto out;
    }
    p.cert_pem = bio_string(bc);
    p.key_pem = bio_string(bk);
    if (!p.cert_pem || !p.key_pem) {
        fl_cert_pair_done(&p);
        rc = fl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    *out = p;
out:
    BIO_free(bc);
    BIO_free(bk);
    return rc;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!e)
        return -1;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* A new certificate for key with a random serial, subject from name,
 * validity [now-1h, now+days]. */
static X509 *new_cert(EVP_PKEY *key, X509_NAME *name, int days)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    if (!x || fl_random_bytes(serial, sizeof serial) != 0)
        goto fail;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    if (!ai || !X509_set_version(x, 2) || !X509_set_serialNumber(x, ai) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x),
                         (long)(days > 0 ? days : FL_CERT_DAYS_DEFAULT) * 86400) ||
        !X509_set_subject_name(x, name) || !X509_set_pubkey(x, key))
        goto fail;
    BN_free(bn);
    ASN1_INTEGER_free(ai);
    return x;
fail:
    BN_free(bn);
    ASN1_INTEGER_free(ai);
    X509_free(x);
    return NULL;
}

static X509_NAME *name_cn(const char *cn, const char *const *orgs, size_t norgs)
{
    X509_NAME *n = X509_NAME_new();
    if (!n)
        return NULL;
    for (size_t i = 0; i < norgs; i++)
        if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)orgs[i], -1,
                                        -1, 0))
            goto fail;
    if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
        goto fail;
    return n;
fail:
    X509_NAME_free(n);
    return NULL;
}

int fl_cert_ca_new(const char *cn, int days, fl_cert_pair *out, fl_err *err)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509_NAME *name = name_cn(cn && *cn ? cn : "flotilla-ca", NULL, 0);
    X509 *x = key && name ? new_cert(key, name, days) : NULL;
    int rc;
    if (!x || !X509_set_issuer_name(x, name) ||
        add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE") ||
        add_ext(x, NULL, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign") ||
        add_ext(x, NULL, NID_subject_key_identifier, "hash") || !X509_sign(x, key, EVP_sha256())) {
        rc = ossl_err(err, FL_ETLS, "creating CA certificate");
        goto out;
    }
    rc = to_pem(x, key, out, err);
out:
    X509_free(x);
    X509_NAME_free(name);
    EVP_PKEY_free(key);
    return rc;
}

/* Parse the CA pair's certificate and key; both must match. */
static int load_ca(const fl_cert_pair *ca, X509 **cx, EVP_PKEY **ck, fl_err *err)
{
    if (!ca || !ca->cert_pem || !ca->key_pem)
        return fl_err_set(err, -EINVAL, "no CA certificate and key");
    BIO *b1 = BIO_new_mem_buf(ca->cert_pem, -1), *b2 = BIO_new_mem_buf(ca->key_pem, -1);
    X509 *x = b1 ? PEM_read_bio_X509(b1, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = b2 ? PEM_read_bio_PrivateKey(b2, NULL, NULL, NULL) : NULL;
    BIO_free(b1);
    BIO_free(b2);
    int rc = 0;
    if (!x || !k)
        rc = ossl_err(err, FL_EPARSE, !x ? "CA certificate is not PEM" : "CA key is not PEM");
    else if (X509_check_private_key(x, k) != 1)
        rc = ossl_err(err, FL_EPARSE, "CA key does not match the CA certificate");
    if (rc) {
        X509_free(x);
        EVP_PKEY_free(k);
        return rc;
    }
    *cx = x;
    *ck = k;
    return 0;
}

static bool is_ip(const char *h)
{
    unsigned char tmp[16];
    return inet_pton(AF_INET, h, tmp) == 1 || inet_pton(AF_INET6, h, tmp) == 1;
}

static int san_list(const char *const *hosts, size_t n, fl_buf *b)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!hosts[i] || !*hosts[i] || strchr(hosts[i], ','))
            return -EINVAL;
        rc = fl_buf_printf(b, "%s%s:%s", i ? "," : "", is_ip(hosts[i]) ? "IP" : "DNS", hosts[i]);
    }
    return rc;
}

/* Issue a leaf certificate for subject, signed by ca, with the given
 * extended key usage and optional SAN list. */
static int issue(const fl_cert_pair *ca, X509_NAME *subject, const char *eku, const char *san,
                 int days, fl_cert_pair *out, fl_err *err)
{
    X509 *cx = NULL, *x = NULL;
    EVP_PKEY *ck = NULL, *key = NULL;
    int rc = load_ca(ca, &cx, &ck, err);
    if (rc)
        return rc;
    key = EVP_EC_gen("P-256");
    x = key ? new_cert(key, subject, days) : NULL;
    if (!x || !X509_set_issuer_name(x, X509_get_subject_name(cx)) ||
        add_ext(x, cx, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(x, cx, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        add_ext(x, cx, NID_ext_key_usage, eku) ||
        add_ext(x, cx, NID_authority_key_identifier, "keyid:always") ||
        (san && add_ext(x, cx, NID_subject_alt_name, san)) || !X509_sign(x, ck, EVP_sha256())) {
        rc = ossl_err(err, FL_ETLS, "creating certificate");
        goto out;
    }
    rc = to_pem(x, key, out, err);
out:
    X509_free(x);
    X509_free(cx);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ck);
    return rc;
}

int fl_cert_server_new(const fl_cert_pair *ca, const char *const *hosts, size_t n, int days,
                       fl_cert_pair *out, fl_err *err)
{
    fl_buf san = FL_BUF_INIT(64u << 10);
    X509_NAME *name = NULL;
    int rc;
    if (!hosts || n == 0)
        return fl_err_set(err, -EINVAL, "a serving certificate needs at least one host");
    if ((rc = san_list(hosts, n, &san)) != 0) {
        rc = fl_err_set(err, rc == -EINVAL ? -EINVAL : rc, "bad host list for certificate");
        goto out;
    }
    if (!(name = name_cn(hosts[0], NULL, 0))) {
        rc = ossl_err(err, FL_ETLS, "certificate subject");
        goto out;
    }
    rc = issue(ca, name, "serverAuth", san.data, days, out, err);
out:
    X509_NAME_free(name);
    fl_buf_done(&san);
    return rc;
}

int fl_cert_client_new(const fl_cert_pair *ca, const char *user, const char *const *groups,
                       size_t ngroups, int days, fl_cert_pair *out, fl_err *err)
{
    if (!user || !*user)
        return fl_err_set(err, -EINVAL, "a client certificate needs a user name");
    X509_NAME *name = name_cn(user, groups, ngroups);
    if (!name)
        return ossl_err(err, FL_ETLS, "certificate subject");
    int rc = issue(ca, name, "clientAuth", NULL, days, out, err);
    X509_NAME_free(name);
    return rc;
}

/* ---------------------------------------------------------------- files */

static int write_atomic(const char *path, const char *data, mode_t mode, fl_err *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fl_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return fl_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
    size_t len = strlen(data), off = 0;
    int rc = 0;
    while (off < len && !rc) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            rc = fl_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
        else
            off += (size_t)w;
    }
    if (!rc && fchmod(fd, mode) != 0)
        rc = fl_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = fl_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = fl_err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

static int file_path(char *out, size_t size, const char *dir, const char *name, const char *ext,
                     fl_err *err)
{
    if ((size_t)snprintf(out, size, "%s/%s.%s", dir, name, ext) >= size)
        return fl_err_set(err, -ENAMETOOLONG, "%s/%s.%s: path too long", dir, name, ext);
    return 0;
}

int fl_cert_pair_write(const fl_cert_pair *p, const char *dir, const char *name, fl_err *err)
{
    char path[4096];
    int rc;
    if (!p || !p->cert_pem || !p->key_pem)
        return fl_err_set(err, -EINVAL, "nothing to write");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return fl_err_set(err, -errno, "%s: %s", dir, strerror(errno));
    if ((rc = file_path(path, sizeof path, dir, name, "key", err)) != 0 ||
        (rc = write_atomic(path, p->key_pem, 0600, err)) != 0)
        return rc;
    if ((rc = file_path(path, sizeof path, dir, name, "crt", err)) != 0 ||
        (rc = write_atomic(path, p->cert_pem, 0644, err)) != 0)
        return rc;
    return 0;
}

static int read_pem(const char *path, char **out, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(PEM_FILE_MAX);
    int rc = fl_buf_read_file(&b, path, err);
    if (!rc && (!b.data || !strstr(b.data, "-----BEGIN ")))
        rc = fl_err_set(err, FL_EPARSE, "%s: not a PEM file", path);
    if (rc) {
        fl_buf_done(&b);
        return rc;
    }
    *out = fl_buf_steal(&b);
    return 0;
}

int fl_cert_pair_read(const char *dir, const char *name, fl_cert_pair *out, fl_err *err)
{
    char path[4096];
    fl_cert_pair p = FL_CERT_PAIR_INIT;
    int rc;
    if ((rc = file_path(path, sizeof path, dir, name, "crt", err)) != 0 ||
        (rc = read_pem(path, &p.cert_pem, err)) != 0)
        goto fail;
    if ((rc = file_path(path, sizeof path, dir, name, "key", err)) != 0 ||
        (rc = read_pem(path, &p.key_pem, err)) != 0)
        goto fail;
    *out = p;
    return 0;
fail:
    fl_cert_pair_done(&p);
    return rc;
}

int fl_cert_verify(const char *ca_pem, const char *cert_pem, const char *host, fl_err *err)
{
    BIO *b1 = BIO_new_mem_buf(ca_pem, -1), *b2 = BIO_new_mem_buf(cert_pem, -1);
    X509 *ca = b1 ? PEM_read_bio_X509(b1, NULL, NULL, NULL) : NULL;
    X509 *x = b2 ? PEM_read_bio_X509(b2, NULL, NULL, NULL) : NULL;
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    int rc = 0;
    if (!ca || !x) {
        rc = ossl_err(err, FL_EPARSE, "certificate is not PEM");
        goto out;
    }
    if (!st || !sc || !X509_STORE_add_cert(st, ca) || !X509_STORE_CTX_init(sc, st, x, NULL)) {
        rc = ossl_err(err, FL_ETLS, "verify setup");
        goto out;
    }
    if (X509_verify_cert(sc) != 1) {
        rc = fl_err_set(err, FL_ETLS, "certificate verify failed: %s",
                        X509_verify_cert_error_string(X509_STORE_CTX_get_error(sc)));
        goto out;
    }
    if (host) {
        int ok = is_ip(host) ? X509_check_ip_asc(x, host, 0) : X509_check_host(x, host, 0, 0, NULL);
        if (ok != 1)
            rc = fl_err_set(err, FL_ETLS, "certificate is not valid for %s", host);
    }
out:
    ERR_clear_error();
    X509_STORE_CTX_free(sc);
    X509_STORE_free(st);
    X509_free(x);
    X509_free(ca);
    BIO_free(b1);
    BIO_free(b2);
    return rc;
}
