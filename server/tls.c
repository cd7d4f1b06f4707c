/*
 * server/tls.c: the GnuTLS side of HTTPS listeners. libmicrohttpd runs the
 * handshake and asks for a client certificate when a client CA is set
 * (MHD_OPTION_HTTPS_MEM_TRUST); here we verify what the client sent against
 * that CA (for client authentication) and read the subject as Kubernetes'
 * x509 authenticator does: CN is the user, every O is a group. A missing
 * certificate yields no user; one that does not verify marks the request
 * (fl_request_cert_rejected) so that it is refused, not made anonymous.
 */
#include "server/server_int.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>

static char *dn_value(gnutls_x509_crt_t crt, const char *oid, unsigned idx)
{
    char buf[256];
    size_t len = sizeof(buf);
    if (gnutls_x509_crt_get_dn_by_oid(crt, oid, idx, 0, buf, &len) < 0)
        return NULL;
    return fl_strndup(buf, len < sizeof(buf) ? len : sizeof(buf) - 1);
}

static bool verified(gnutls_session_t sess)
{
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
    unsigned status = 1;
    return gnutls_certificate_verify_peers(sess, &purpose, 1, &status) == 0 && status == 0;
}

/* Verify the connection's client certificate once and remember the
 * subject in cc (MHD thread of that connection). */
static void check_conn(struct MHD_Connection *c, srv_conn *cc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t sess = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned n = 0;
    const gnutls_datum_t *certs = sess ? gnutls_certificate_get_peers(sess, &n) : NULL;
    gnutls_x509_crt_t crt = NULL;
    cc->checked = true;
    if (!certs || n == 0)
        return;
    cc->rejected = true; /* until it verifies and has a CN */
    if (!verified(sess) || gnutls_x509_crt_init(&crt) < 0)
        return;
    if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0)
        goto out;
    cc->user = dn_value(crt, GNUTLS_OID_X520_COMMON_NAME, 0);
    if (!cc->user)
        goto out;
    cc->rejected = false;
    for (unsigned i = 0; i < SRV_MAX_GROUPS; i++) {
        char *g = dn_value(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i);
        if (!g)
            break;
        cc->groups[cc->ngroups++] = g;
    }
out:
    gnutls_x509_crt_deinit(crt);
}

void srv_conn_free(srv_conn *cc)
{
    if (!cc)
        return;
    for (size_t i = 0; i < cc->ngroups; i++)
        free(cc->groups[i]);
    free(cc->user);
    free(cc);
}

void srv_tls_peer(fl_request *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    srv_conn *cc = ci ? ci->socket_context : NULL;
    if (!cc)
        return;
    if (!cc->checked)
        check_conn(r->conn, cc);
    r->cert_rejected = cc->rejected;
    if (!cc->user)
        return;
    /* The request may outlive the connection: it gets its own copies. */
    r->cert_user = strdup(cc->user);
    r->groups = cc->ngroups ? calloc(cc->ngroups, sizeof(char *)) : NULL;
    for (size_t i = 0; r->groups && i < cc->ngroups; i++) {
        r->groups[i] = strdup(cc->groups[i]);
        if (r->groups[i])
            r->ngroups++;
    }
}

int srv_tls_check(const char *cert, const char *key, const char *ca, fl_err *err)
{
    gnutls_certificate_credentials_t cred = NULL;
    int rc = 0, g;
    if (!cert || !key)
        return fl_err_set(err, FL_ETLS, "TLS needs both a certificate and a key");
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        return fl_err_set(err, -ENOMEM, "out of memory");
    gnutls_datum_t c = {(unsigned char *)cert, (unsigned)strlen(cert)};
    gnutls_datum_t k = {(unsigned char *)key, (unsigned)strlen(key)};
    g = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
    if (g < 0) {
        rc = fl_err_set(err, FL_ETLS, "server certificate/key: %s", gnutls_strerror(g));
        goto out;
    }
    if (ca) {
        gnutls_datum_t a = {(unsigned char *)ca, (unsigned)strlen(ca)};
        g = gnutls_certificate_set_x509_trust_mem(cred, &a, GNUTLS_X509_FMT_PEM);
        if (g <= 0)
            rc = fl_err_set(err, FL_ETLS, "client CA: %s",
                            g < 0 ? gnutls_strerror(g) : "no certificate in the PEM");
    }
out:
    gnutls_certificate_free_credentials(cred);
    return rc;
}
