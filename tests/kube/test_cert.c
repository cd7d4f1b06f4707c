/* tests/kube/test_cert.c: kube/cert.h — a CA, serving and client
 * certificates verified with OpenSSL directly (chain, SANs, key usage,
 * subject), the file helpers, and error paths. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kube/kube.h"
#include "tests/test.h"

static X509 *load(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return x;
}

/* Verify leaf against ca with OpenSSL's own verifier and a purpose. */
static int verify(const char *ca_pem, const char *leaf_pem, int purpose)
{
    X509 *ca = load(ca_pem), *leaf = load(leaf_pem);
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = -1;
    if (ca && leaf && st && ctx && X509_STORE_add_cert(st, ca) &&
        X509_STORE_CTX_init(ctx, st, leaf, NULL)) {
        X509_STORE_CTX_set_purpose(ctx, purpose);
        ok = X509_verify_cert(ctx);
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    X509_free(ca);
    X509_free(leaf);
    return ok;
}

static void test_generate(void)
{
    fl_cert_pair ca = FL_CERT_PAIR_INIT, srv = FL_CERT_PAIR_INIT, cli = FL_CERT_PAIR_INIT;
    fl_cert_pair other = FL_CERT_PAIR_INIT;
    fl_err e = FL_ERR_INIT;
    T_EQ_INT(fl_cert_ca_new("test-ca", 30, &ca, &e), 0);
    T_CHECK(ca.cert_pem && strstr(ca.cert_pem, "BEGIN CERTIFICATE"));
    T_CHECK(ca.key_pem && strstr(ca.key_pem, "PRIVATE KEY"));
    X509 *cx = load(ca.cert_pem);
    T_CHECK(cx != NULL);
    T_EQ_INT(X509_check_ca(cx), 1);
    X509_free(cx);

    const char *hosts[] = {"127.0.0.1", "localhost", "::1", "api.example.com"};
    T_EQ_INT(fl_cert_server_new(&ca, hosts, 4, 30, &srv, &e), 0);
    T_EQ_INT(verify(ca.cert_pem, srv.cert_pem, X509_PURPOSE_SSL_SERVER), 1);
    X509 *sx = load(srv.cert_pem);
    T_CHECK(sx != NULL);
    T_EQ_INT(X509_check_ip_asc(sx, "127.0.0.1", 0), 1);
    T_EQ_INT(X509_check_ip_asc(sx, "::1", 0), 1);
    T_EQ_INT(X509_check_host(sx, "localhost", 0, 0, NULL), 1);
    T_EQ_INT(X509_check_host(sx, "api.example.com", 0, 0, NULL), 1);
    T_EQ_INT(X509_check_host(sx, "evil.example.com", 0, 0, NULL), 0);
    T_EQ_INT(X509_check_ip_asc(sx, "10.0.0.1", 0), 0);
    T_EQ_INT(X509_check_ca(sx), 0);
    X509_free(sx);
    T_EQ_INT(fl_cert_verify(ca.cert_pem, srv.cert_pem, "127.0.0.1", &e), 0);
    T_EQ_INT(fl_cert_verify(ca.cert_pem, srv.cert_pem, "localhost", &e), 0);
    T_EQ_INT(fl_cert_verify(ca.cert_pem, srv.cert_pem, "10.1.1.1", &e), FL_ETLS);

    const char *groups[] = {"system:masters", "team-a"};
    T_EQ_INT(fl_cert_client_new(&ca, "alice", groups, 2, 30, &cli, &e), 0);
    T_EQ_INT(verify(ca.cert_pem, cli.cert_pem, X509_PURPOSE_SSL_CLIENT), 1);
    T_CHECK(verify(ca.cert_pem, cli.cert_pem, X509_PURPOSE_SSL_SERVER) != 1);
    X509 *lx = load(cli.cert_pem);
    char line[512] = "";
    X509_NAME_oneline(X509_get_subject_name(lx), line, sizeof line);
    T_CHECK(strstr(line, "CN=alice") != NULL);
    T_CHECK(strstr(line, "O=system:masters") != NULL);
    T_CHECK(strstr(line, "O=team-a") != NULL);
    X509_free(lx);

    /* a different CA does not verify our leaves */
    T_EQ_INT(fl_cert_ca_new(NULL, 0, &other, &e), 0);
    T_CHECK(verify(other.cert_pem, srv.cert_pem, X509_PURPOSE_SSL_SERVER) != 1);
    T_EQ_INT(fl_cert_verify(other.cert_pem, srv.cert_pem, NULL, &e), FL_ETLS);
    T_CHECK(strstr(e.msg, "verify failed") != NULL);

    /* errors */
    T_EQ_INT(fl_cert_server_new(&ca, hosts, 0, 30, &other, &e), -EINVAL);
    T_EQ_INT(fl_cert_client_new(&ca, "", NULL, 0, 30, &other, &e), -EINVAL);
    fl_cert_pair bad = {ca.cert_pem, srv.key_pem};
    fl_cert_pair out = FL_CERT_PAIR_INIT;
    T_EQ_INT(fl_cert_server_new(&bad, hosts, 1, 30, &out, &e), FL_EPARSE);
    T_CHECK(out.cert_pem == NULL);
    fl_cert_pair junk = {"junk", "junk"};
    T_EQ_INT(fl_cert_client_new(&junk, "bob", NULL, 0, 30, &out, &e), FL_EPARSE);

    /* files */
    char dir[] = "/tmp/fl-cert-XXXXXX";
    T_CHECK(mkdtemp(dir) != NULL);
    char sub[256];
    snprintf(sub, sizeof sub, "%s/ca", dir);
    T_EQ_INT(fl_cert_pair_write(&ca, sub, "ca", &e), 0);
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "%s/ca.key", sub);
    T_EQ_INT(stat(path, &st), 0);
    T_EQ_INT(st.st_mode & 0777, 0600);
    fl_cert_pair back = FL_CERT_PAIR_INIT;
    T_EQ_INT(fl_cert_pair_read(sub, "ca", &back, &e), 0);
    T_EQ_STR(back.cert_pem, ca.cert_pem);
    T_EQ_STR(back.key_pem, ca.key_pem);
    T_EQ_INT(fl_cert_pair_read(sub, "missing", &out, &e), -ENOENT);
    unlink(path);
    snprintf(path, sizeof path, "%s/ca.crt", sub);
    unlink(path);
    rmdir(sub);
    rmdir(dir);

    fl_cert_pair_done(&back);
    fl_cert_pair_done(&ca);
    fl_cert_pair_done(&srv);
    fl_cert_pair_done(&cli);
    fl_cert_pair_done(&other);
    fl_cert_pair_done(NULL);
}

int main(void)
{
    test_generate();
    return t_done();
}
