/*
 * cmd/webhook.c: `flotilla certs webhook -c flotilla.yaml --cluster NAME
 * --url-host HOST[:PORT] [--ca DIR]` — print the ValidatingWebhookConfiguration
 * that turns fleet-wide quota enforcement on for one member: its URL carries
 * the member's secret (dataDir/quota-webhook-secrets.json, shared with the
 * daemon, created when missing) and its caBundle the CA of the daemon's
 * serving certificate (DIR/ca.crt; without --ca, ca.crt beside tls.cert, or
 * tls.cert itself).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/config.h"
#include "kube/kube.h"
#include "quota/quota.h"

#define PEM_MAX (1u << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: flotilla certs webhook -c FILE --cluster NAME --url-host HOST[:PORT] "
            "[--ca DIR]\n\n"
            "Prints the ValidatingWebhookConfiguration to apply in member NAME so that its\n"
            "admissions ask the daemon of FILE (flotilla.yaml) for the fleet-wide quota:\n"
            "  kubectl --context NAME apply -f <(flotilla certs webhook -c FILE --cluster NAME \\\n"
            "      --url-host DAEMON_HOST:PORT)\n"
            "--ca DIR: the CA that signed the daemon's serving certificate (DIR/ca.crt);\n"
            "default: ca.crt beside tls.cert, else tls.cert itself.\n");
}

static int read_ca(const fl_config *cfg, const char *ca_dir, fl_buf *pem, fl_err *err)
{
    char path[4200];
    if (ca_dir) {
        snprintf(path, sizeof path, "%s/ca.crt", ca_dir);
        return fl_buf_read_file(pem, path, err);
    }
    if (!cfg->tls_cert)
        return fl_err_set(err, -EINVAL,
                          "%s has no tls: the webhook needs HTTPS (give tls.cert "
                          "and --ca DIR)",
                          cfg->path);
    snprintf(path, sizeof path, "%s", cfg->tls_cert);
    char *slash = strrchr(path, '/');
    if (slash) {
        snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "ca.crt");
        if (fl_buf_read_file(pem, path, NULL) == 0)
            return 0;
        fl_buf_reset(pem);
    }
    return fl_buf_read_file(pem, cfg->tls_cert, err);
}

int cmd_certs_webhook(int argc, char **argv)
{
    const char *cfg_path = NULL, *cluster = NULL, *url_host = NULL, *ca_dir = NULL;
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = !strcmp(a, "-c") || !strcmp(a, "--config") ? &cfg_path
                            : !strcmp(a, "--cluster")                  ? &cluster
                            : !strcmp(a, "--url-host")                 ? &url_host
                            : !strcmp(a, "--ca")                       ? &ca_dir
                                                                       : NULL;
        if (!slot || !v) {
            fprintf(stderr, "flotilla certs webhook: %s %s\n", a,
                    slot ? "needs a value" : "unknown");
            usage(stderr);
            return 2;
        }
        *slot = v, i++;
    }
    if (!cfg_path || !cluster || !url_host) {
        fprintf(stderr, "flotilla certs webhook: -c, --cluster and --url-host are required\n");
        usage(stderr);
        return 2;
    }
    fl_config *cfg = NULL;
    fl_err err = FL_ERR_INIT;
    fl_buf pem = FL_BUF_INIT(PEM_MAX), yaml = FL_BUF_INIT(PEM_MAX * 2);
    json_t *secrets = NULL;
    int status = 1;
    char path[4200];
    const char *one[1] = {cluster};
    bool member = false;
    if (fl_config_load(cfg_path, &cfg, &err) != 0)
        goto out;
    for (size_t i = 0; i < cfg->nmembers; i++)
        member = member || !strcmp(cfg->members[i].name, cluster);
    if (!member) {
        fl_err_set(&err, -EINVAL, "%s is not a member in %s", cluster, cfg_path);
        goto out;
    }
    snprintf(path, sizeof path, "%s/" FL_QUOTA_SECRETS_FILE, cfg->data_dir);
    if (read_ca(cfg, ca_dir, &pem, &err) != 0 ||
        fl_quota_secrets(path, one, 1, &secrets, &err) != 0)
        goto out;
    if (fl_quota_webhook_yaml(cluster, url_host,
                              json_string_value(json_object_get(secrets, cluster)), pem.data,
                              &yaml) != 0) {
        fl_err_set(&err, -ENOMEM, "out of memory");
        goto out;
    }
    fputs(yaml.data, stdout);
    status = 0;
out:
    if (status)
        fprintf(stderr, "flotilla certs webhook: %s\n", err.msg[0] ? err.msg : "failed");
    json_decref(secrets);
    fl_buf_done(&pem), fl_buf_done(&yaml);
    fl_config_free(cfg);
    return status;
}
