/*
 * tests/server/test_tls.c: HTTPS listeners of server/ — a serving
 * certificate the client verifies, client certificates verified against
 * client_ca_pem (CN = user, O = groups as Kubernetes reads them), a
 * certificate from another CA or none at all giving no user, keep-alive
 * over TLS, and bad PEM refused at start. Certificates come from kube/cert.h.
 */
#include "server/server.h"
#include "kube/kube.h"
#include "tests/test.h"
#include "tests/server/client.h"

static void who(fl_request *r, void *ud)
{
    json_t *o = json_object(), *g = json_array();
    const char *const *groups = NULL;
    size_t n = fl_request_cert_groups(r, &groups);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(g, json_string(groups[i]));
    const char *u = fl_request_cert_user(r);
    json_object_set_new(o, "user", u ? json_string(u) : json_null());
    json_object_set_new(o, "groups", g);
    json_object_set_new(o, "rejected", json_boolean(fl_request_cert_rejected(r)));
    if (u)
        fl_request_set_user(r, u);
    fl_request_reply_json(r, 200, o);
}

static void set_blob(CURL *h, CURLoption opt, const char *pem)
{
    struct curl_blob b = {(void *)pem, strlen(pem), CURL_BLOB_COPY};
    curl_easy_setopt(h, opt, &b);
}

/* GET url over TLS trusting ca; with client pair when given. */
static CURL *tls_handle(const char *ca, const fl_cert_pair *client)
{
    CURL *h = curl_easy_init();
    set_blob(h, CURLOPT_CAINFO_BLOB, ca);
    if (client) {
        set_blob(h, CURLOPT_SSLCERT_BLOB, client->cert_pem);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        set_blob(h, CURLOPT_SSLKEY_BLOB, client->key_pem);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    return h;
}

static json_t *who_am_i(const char *url, const char *ca, const fl_cert_pair *client,
                        long *connects2)
{
    CURL *h = tls_handle(ca, client);
    resp r;
    json_t *j = NULL;
    http_on(h, "GET", url, NULL, 0, NULL, &r);
    T_EQ_INT(r.rc, CURLE_OK);
    T_EQ_INT(r.code, 200);
    if (r.body.data)
        j = json_loadb(r.body.data, r.body.len, 0, NULL);
    resp_done(&r);
    if (connects2) { /* a second request on the same connection */
        http_on(h, "GET", url, NULL, 0, NULL, &r);
        T_EQ_INT(r.code, 200);
        *connects2 = r.connects;
        resp_done(&r);
    }
    curl_easy_cleanup(h);
    return j;
}

static fl_server *tls_server(const fl_cert_pair *srv, const char *client_ca, fl_err *err)
{
    fl_server_opts o = FL_SERVER_OPTS_INIT;
    fl_server *s = NULL;
    o.name = client_ca ? "mtls" : "tls";
    o.tls_cert_pem = srv->cert_pem;
    o.tls_key_pem = srv->key_pem;
    o.client_ca_pem = client_ca;
    T_EQ_INT(fl_server_new(&o, &s, err), 0);
    T_EQ_INT(fl_server_route(s, "GET", "/who", who, NULL), 0);
    int rc = fl_server_start(s, err);
    T_EQ_INT(rc, 0);
    if (rc)
        fprintf(stderr, "start: %s\n", err->msg);
    return s;
}

int main(void)
{
    fl_err err = FL_ERR_INIT;
    fl_cert_pair ca = FL_CERT_PAIR_INIT, other = FL_CERT_PAIR_INIT, srv = FL_CERT_PAIR_INIT;
    fl_cert_pair alice = FL_CERT_PAIR_INIT, mallory = FL_CERT_PAIR_INIT;
    const char *hosts[] = {"127.0.0.1", "localhost"};
    const char *groups[] = {"team-a", "system:masters"};
    char url[128];
    long again = -1;
    curl_global_init(CURL_GLOBAL_ALL);
    T_EQ_INT(fl_cert_ca_new("test-ca", 1, &ca, &err), 0);
    T_EQ_INT(fl_cert_ca_new("other-ca", 1, &other, &err), 0);
    T_EQ_INT(fl_cert_server_new(&ca, hosts, 2, 1, &srv, &err), 0);
    T_EQ_INT(fl_cert_client_new(&ca, "alice", groups, 2, 1, &alice, &err), 0);
    T_EQ_INT(fl_cert_client_new(&other, "mallory", groups, 1, 1, &mallory, &err), 0);
    if (!ca.cert_pem || !srv.cert_pem || !alice.cert_pem || !mallory.cert_pem) {
        fprintf(stderr, "certificates: %s\n", err.msg);
        return t_done();
    }

    fl_server *s = tls_server(&srv, ca.cert_pem, &err);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/who", fl_server_port(s));
    json_t *j = who_am_i(url, ca.cert_pem, &alice, &again);
    T_EQ_STR(json_string_value(json_object_get(j, "user")), "alice");
    T_EQ_INT(json_array_size(json_object_get(j, "groups")), 2);
    T_EQ_STR(json_string_value(json_array_get(json_object_get(j, "groups"), 0)), "team-a");
    T_EQ_STR(json_string_value(json_array_get(json_object_get(j, "groups"), 1)), "system:masters");
    T_EQ_INT(again, 0); /* keep-alive over TLS */
    T_CHECK(json_is_false(json_object_get(j, "rejected")));
    json_decref(j);
    j = who_am_i(url, ca.cert_pem, &mallory, NULL); /* signed by another CA */
    T_CHECK(json_is_null(json_object_get(j, "user")));
    T_EQ_INT(json_array_size(json_object_get(j, "groups")), 0);
    T_CHECK(json_is_true(json_object_get(j, "rejected"))); /* #19.4: 401, not anonymous */
    json_decref(j);
    j = who_am_i(url, ca.cert_pem, NULL, NULL); /* no certificate */
    T_CHECK(json_is_null(json_object_get(j, "user")));
    T_CHECK(json_is_false(json_object_get(j, "rejected")));
    json_decref(j);
    /* Plain HTTP to a TLS port fails rather than answering in clear. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/who", fl_server_port(s));
    resp r;
    http("GET", url, NULL, 0, NULL, &r);
    T_CHECK(r.code != 200);
    resp_done(&r);
    fl_server_free(s);

    /* Without client_ca_pem no certificate is asked for or believed. */
    s = tls_server(&srv, NULL, &err);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/who", fl_server_port(s));
    j = who_am_i(url, ca.cert_pem, &alice, NULL);
    T_CHECK(json_is_null(json_object_get(j, "user")));
    json_decref(j);
    fl_server_free(s);

    fl_server_opts o = FL_SERVER_OPTS_INIT;
    o.tls_cert_pem = "not a pem";
    o.tls_key_pem = srv.key_pem;
    T_EQ_INT(fl_server_new(&o, &s, &err), 0);
    T_EQ_INT(fl_server_start(s, &err), FL_ETLS);
    T_CHECK(strstr(err.msg, "certificate") != NULL);
    fl_server_free(s);

    fl_cert_pair_done(&ca);
    fl_cert_pair_done(&other);
    fl_cert_pair_done(&srv);
    fl_cert_pair_done(&alice);
    fl_cert_pair_done(&mallory);
    curl_global_cleanup();
    return t_done();
}
