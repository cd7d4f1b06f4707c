/*
 * quota/webhook.c: POST /admission/clusters/<cluster>/<secret>/quota — the
 * HTTP side of the ledger. The route handler runs on the server thread that
 * read the request (never queued behind search handlers on the server's
 * worker pool) and checks the path (unknown cluster or wrong secret: 403
 * Status, nothing reserved) and the AdmissionReview (admission.k8s.io/v1 or
 * v1beta1; anything else, or a malformed one: 400 Status, nothing
 * reserved). It decides there too when the namespace's ledger is free and
 * warm (tens of microseconds); otherwise — the ledger is busy, or a full
 * count is due — the request goes to the ledger's own worker threads, which
 * may wait. Either way a slow search never delays an admission answer.
 * A full queue answers 429. The top layer of quota/.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "quota/ledger_int.h"
#include "server/server.h"

#define ROUTE "/admission/clusters"
#define SECRETS_REREAD_MS 1000

struct webhook_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fl_request **ring;
    size_t head, n, cap;
    bool stop;
    pthread_t *threads;
    unsigned nthreads;
};

/* Constant-time comparison of two NUL-terminated strings of known length. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0 && la > 0;
}

/* The secret matches the cluster's (re-reading the file, at most once a
 * second, when it does not: `flotilla certs webhook` may have added it). */
static bool secret_ok(fl_quota *q, const char *cluster, const char *secret)
{
    bool ok;
    pthread_mutex_lock(&q->mu);
    const char *want = json_string_value(json_object_get(q->secrets, cluster));
    ok = want && same_secret(want, secret);
    int64_t now = fl_now_ms();
    if (!ok && q->secrets_path && now - q->secrets_read_ms > SECRETS_REREAD_MS) {
        json_t *fresh = NULL;
        q->secrets_read_ms = now;
        const char *one[1] = {cluster};
        if (fl_quota_secrets(q->secrets_path, one, 1, &fresh, NULL) == 0) {
            json_decref(q->secrets);
            q->secrets = fresh;
            want = json_string_value(json_object_get(q->secrets, cluster));
            ok = want && same_secret(want, secret);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

/* "/admission/clusters/<cluster>/<secret>/quota" into its parts. */
static bool split_path(const char *path, char *cluster, char *secret, size_t n)
{
    const char *p = path + strlen(ROUTE);
    if (*p++ != '/')
        return false;
    const char *s1 = strchr(p, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s1 || !s2 || strcmp(s2, "/quota") != 0)
        return false;
    size_t lc = (size_t)(s1 - p), ls = (size_t)(s2 - s1 - 1);
    if (!lc || !ls || lc >= n || ls >= n)
        return false;
    memcpy(cluster, p, lc), cluster[lc] = 0;
    memcpy(secret, s1 + 1, ls), secret[ls] = 0;
    return true;
}

/* Parse, decide, answer one request; wait false: return false (nothing
 * answered) when the decision would wait for its namespace's ledger or
 * count it in full. */
static bool serve_one(fl_quota *q, fl_request *r, bool wait)
{
    char cluster[256], secret[256];
    size_t len;
    const char *body = fl_request_body(r, &len);
    json_t *doc = NULL, *resp = NULL;
    fl_err err = FL_ERR_INIT;
    split_path(fl_request_path(r), cluster, secret, sizeof cluster);
    if (fl_json_parse(body, len, &doc, &err) != 0) {
        fl_request_reply_status(r, 400, "BadRequest", "malformed AdmissionReview: %s", err.msg);
        return true;
    }
    const char *av = fl_obj_str_or(doc, "apiVersion", ""), *kind = fl_obj_str_or(doc, "kind", "");
    if (!json_is_object(doc) || strcmp(kind, "AdmissionReview") ||
        (strcmp(av, "admission.k8s.io/v1") && strcmp(av, "admission.k8s.io/v1beta1"))) {
        fl_request_reply_status(r, 400, "BadRequest",
                                "expected an AdmissionReview of "
                                "admission.k8s.io/v1 or v1beta1, got kind %.64s apiVersion %.64s",
                                *kind ? kind : "(none)", *av ? av : "(none)");
        json_decref(doc);
        return true;
    }
    int rc = quota_review(q, cluster, json_object_get(doc, "request"), wait, &resp, &err);
    if (rc == -EAGAIN && !wait) {
        json_decref(doc);
        return false;
    }
    if (rc == FL_EPARSE)
        fl_request_reply_status(r, 400, "BadRequest", "malformed AdmissionReview: %s", err.msg);
    else if (rc) {
        fl_log(FL_LOG_ERROR, "quota", "review from %s: %s", cluster, err.msg);
        fl_request_reply_status(r, 500, "InternalError", "quota: %s",
                                err.msg[0] ? err.msg : fl_strerror(rc));
    } else
        fl_request_reply_json(r, 200,
                              json_pack("{s:s,s:s,s:o}", "apiVersion", av, "kind",
                                        "AdmissionReview", "response", resp));
    json_decref(doc);
    return true;
}

static void *worker(void *arg)
{
    fl_quota *q = arg;
    webhook_pool *p = q->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->n == 0)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->n == 0 && p->stop)
            break;
        fl_request *r = p->ring[p->head];
        p->head = (p->head + 1) % p->cap, p->n--;
        bool stopping = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stopping)
            fl_request_reply_status(r, 503, "ServiceUnavailable", "quota: shutting down");
        else
            serve_one(q, r, true);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void on_review(fl_request *r, void *ud)
{
    fl_quota *q = ud;
    webhook_pool *p = q->pool;
    char cluster[256], secret[256], logged[320];
    bool parts = split_path(fl_request_path(r), cluster, secret, sizeof cluster);
    snprintf(logged, sizeof logged, ROUTE "/%s/***/quota", parts ? cluster : "?");
    fl_request_set_log_uri(r, logged); /* the secret stays out of the access log */
    if (!parts) {
        fl_request_reply_status(r, 404, "NotFound", "use POST %s/<cluster>/<secret>/quota", ROUTE);
        return;
    }
    if (!ledger_is_member(q, cluster) || !secret_ok(q, cluster, secret)) {
        fl_request_reply_status(r, 403, "Forbidden", "quota: unknown cluster or wrong secret");
        return;
    }
    fl_request_set_user(r, cluster);
    if (serve_one(q, r, false))
        return; /* decided here: its namespace was free and warm */
    pthread_mutex_lock(&p->mu);
    bool queued = !p->stop && p->n < p->cap;
    if (queued) {
        p->ring[(p->head + p->n) % p->cap] = r;
        p->n++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (!queued)
        fl_request_reply_status(r, 429, "TooManyRequests", "quota: %zu reviews pending", p->cap);
}

int fl_quota_route(fl_quota *q, fl_server *s)
{
    int rc = fl_server_hide_path(s, ROUTE);
    return rc ? rc : fl_server_route_inline(s, "POST", ROUTE, on_review, q);
}

int quota_webhook_start(fl_quota *q, fl_err *err)
{
    webhook_pool *p = calloc(1, sizeof *p);
    if (!p)
        return fl_err_set(err, -ENOMEM, "out of memory");
    p->cap = q->o.queue_max ? q->o.queue_max : 4096;
    p->nthreads = q->o.threads ? q->o.threads : 4;
    p->ring = calloc(p->cap, sizeof *p->ring);
    p->threads = calloc(p->nthreads, sizeof *p->threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    q->pool = p;
    if (!p->ring || !p->threads)
        return fl_err_set(err, -ENOMEM, "out of memory");
    for (unsigned i = 0; i < p->nthreads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker, q);
        if (rc) {
            p->nthreads = i;
            return fl_err_set(err, -rc, "quota workers: %s", fl_strerror(-rc));
        }
    }
    return 0;
}

void quota_webhook_stop(fl_quota *q)
{
    webhook_pool *p = q->pool;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; p->threads && i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring), free(p->threads), free(p);
    q->pool = NULL;
}

/* ---------------------------------------------------------------- configuration */

int fl_quota_webhook_yaml(const char *cluster, const char *url_host, const char *secret,
                          const char *ca_pem, fl_buf *out)
{
    int rc = fl_buf_printf(
        out,
        "# ValidatingWebhookConfiguration for member cluster %s: every pod and counted object\n"
        "# created or updated there is checked against its namespace's fleet-wide quota.\n"
        "apiVersion: admissionregistration.k8s.io/v1\n"
        "kind: ValidatingWebhookConfiguration\n"
        "metadata:\n"
        "  name: quota.flotilla.io\n"
        "webhooks:\n"
        "- name: quota.flotilla.io\n"
        "  admissionReviewVersions: [\"v1\", \"v1beta1\"]\n"
        "  clientConfig:\n"
        "    url: https://%s" ROUTE "/%s/%s/quota\n"
        "    caBundle: ",
        cluster, url_host, cluster, secret);
    if (!rc)
        rc = fl_base64_encode(FL_BASE64_STD, ca_pem, strlen(ca_pem), out);
    if (!rc)
        rc = fl_buf_puts(
            out,
            "\n"
            "  rules:\n"
            "  - apiGroups: [\"\"]\n"
            "    apiVersions: [\"v1\"]\n"
            "    operations: [\"CREATE\", \"UPDATE\"]\n"
            "    resources: [\"pods\", \"services\", \"persistentvolumeclaims\", \"configmaps\",\n"
            "                \"secrets\", \"replicationcontrollers\"]\n"
            "    scope: Namespaced\n"
            "  - apiGroups: [\"apps\"]\n"
            "    apiVersions: [\"v1\"]\n"
            "    operations: [\"CREATE\", \"UPDATE\"]\n"
            "    resources: [\"deployments\", \"replicasets\", \"statefulsets\", \"daemonsets\"]\n"
            "    scope: Namespaced\n"
            "  - apiGroups: [\"batch\"]\n"
            "    apiVersions: [\"v1\"]\n"
            "    operations: [\"CREATE\", \"UPDATE\"]\n"
            "    resources: [\"jobs\", \"cronjobs\"]\n"
            "    scope: Namespaced\n"
            "  namespaceSelector:\n"
            "    matchExpressions:\n"
            "    - {key: kubernetes.io/metadata.name, operator: NotIn,\n"
            "       values: [kube-system, kube-public, kube-node-lease]}\n"
            "  failurePolicy: Fail\n"
            "  matchPolicy: Equivalent\n"
            "  sideEffects: None\n"
            "  timeoutSeconds: 5\n");
    return rc;
}
