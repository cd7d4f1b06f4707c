/*
 * cmd/certs.c: `flotilla certs` — make a CA, serving certificates and
 * client certificates as PEM files (kube/cert.h), for the daemon's TLS, the
 * simulator and kubeconfigs:
 *   flotilla certs ca     --out DIR [--cn NAME] [--days N]
 *   flotilla certs server --ca DIR --host 127.0.0.1,localhost --out DIR [--days N]
 *   flotilla certs client --ca DIR --user U [--group G]... --out DIR [--days N]
 * Writes DIR/ca.{crt,key}, DIR/server.{crt,key} (plus DIR/ca.crt) or
 * DIR/client.{crt,key} (plus DIR/ca.crt). Keys are written 0600.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "kube/kube.h"

#define MAX_LIST 64

typedef struct {
    const char *kind, *out, *ca, *cn, *user;
    const char *hosts[MAX_LIST];
    size_t nhosts;
    const char *groups[MAX_LIST];
    size_t ngroups;
    int days;
    char *host_arg; /* owned copy of --host, split in place */
} certs_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage:\n"
            "  flotilla certs ca     --out DIR [--cn NAME] [--days N]\n"
            "  flotilla certs server --ca DIR --host H1,H2,... --out DIR [--days N]\n"
            "  flotilla certs client --ca DIR --user NAME [--group G]... --out DIR [--days N]\n"
            "  flotilla certs webhook -c FILE --cluster NAME --url-host HOST[:PORT] [--ca DIR]\n\n"
            "Makes EC P-256 certificates as PEM files:\n"
            "  ca      DIR/ca.crt, DIR/ca.key (a self-signed CA)\n"
            "  server  DIR/server.crt, DIR/server.key, DIR/ca.crt; each host is an IP or DNS SAN\n"
            "  client  DIR/client.crt, DIR/client.key, DIR/ca.crt; CN = user, O = each group\n"
            "--ca DIR reads DIR/ca.crt and DIR/ca.key. --days defaults to %d.\n",
            FL_CERT_DAYS_DEFAULT);
}

static int split_hosts(certs_opts *o, const char *arg)
{
    free(o->host_arg);
    o->host_arg = strdup(arg);
    o->nhosts = 0;
    if (!o->host_arg)
        return -ENOMEM;
    char *p = o->host_arg;
    while (p && *p) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        if (*p) {
            if (o->nhosts == MAX_LIST)
                return -E2BIG;
            o->hosts[o->nhosts++] = p;
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int parse_args(int argc, char **argv, certs_opts *o)
{
    if (argc < 2)
        return -EINVAL;
    o->kind = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "flotilla certs: %s needs a value\n", a);
            return -EINVAL;
        }
        i++;
        if (strcmp(a, "--out") == 0)
            o->out = v;
        else if (strcmp(a, "--ca") == 0)
            o->ca = v;
        else if (strcmp(a, "--cn") == 0)
            o->cn = v;
        else if (strcmp(a, "--user") == 0)
            o->user = v;
        else if (strcmp(a, "--host") == 0) {
            if (split_hosts(o, v) != 0)
                return -EINVAL;
        } else if (strcmp(a, "--group") == 0) {
            if (o->ngroups == MAX_LIST)
                return -E2BIG;
            o->groups[o->ngroups++] = v;
        } else if (strcmp(a, "--days") == 0) {
            int64_t d;
            if (fl_parse_i64(v, strlen(v), &d) != 0 || d <= 0 || d > 36500) {
                fprintf(stderr, "flotilla certs: --days wants 1..36500\n");
                return -EINVAL;
            }
            o->days = (int)d;
        } else {
            fprintf(stderr, "flotilla certs: unknown option %s\n", a);
            return -EINVAL;
        }
    }
    return 0;
}

/* Make the pair for o->kind (CA read from o->ca when needed). */
static int make(const certs_opts *o, fl_cert_pair *ca, fl_cert_pair *out, fl_err *err)
{
    if (strcmp(o->kind, "ca") == 0)
        return fl_cert_ca_new(o->cn, o->days, out, err);
    if (!o->ca)
        return fl_err_set(err, -EINVAL, "--ca DIR is required");
    int rc = fl_cert_pair_read(o->ca, "ca", ca, err);
    if (rc)
        return rc;
    if (strcmp(o->kind, "server") == 0) {
        if (!o->nhosts)
            return fl_err_set(err, -EINVAL, "--host is required");
        return fl_cert_server_new(ca, o->hosts, o->nhosts, o->days, out, err);
    }
    if (!o->user)
        return fl_err_set(err, -EINVAL, "--user is required");
    return fl_cert_client_new(ca, o->user, o->groups, o->ngroups, o->days, out, err);
}

static int write_all(const certs_opts *o, const fl_cert_pair *ca, const fl_cert_pair *p,
                     fl_err *err)
{
    int rc = fl_cert_pair_write(p, o->out, o->kind, err);
    if (rc || strcmp(o->kind, "ca") == 0)
        return rc;
    /* beside a leaf, the CA certificate only (never its key) */
    char path[4096];
    snprintf(path, sizeof path, "%s/ca.crt", o->out);
    FILE *f = fopen(path, "w");
    if (!f)
        return fl_err_set(err, -errno, "%s: %s", path, strerror(errno));
    bool ok = fputs(ca->cert_pem, f) >= 0;
    if (fclose(f) != 0 || !ok)
        return fl_err_set(err, -EIO, "%s: write failed", path);
    return 0;
}

int cmd_certs(int argc, char **argv)
{
    certs_opts o = {0};
    fl_cert_pair ca = FL_CERT_PAIR_INIT, p = FL_CERT_PAIR_INIT;
    fl_err err = FL_ERR_INIT;
    int rc = 2;
    if (argc >= 2 && strcmp(argv[1], "webhook") == 0)
        return cmd_certs_webhook(argc - 1, argv + 1);
    if (cmd_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (parse_args(argc, argv, &o) != 0)
        goto out;
    if (strcmp(o.kind, "ca") != 0 && strcmp(o.kind, "server") != 0 &&
        strcmp(o.kind, "client") != 0) {
        fprintf(stderr, "flotilla certs: unknown kind \"%s\" (ca, server or client)\n", o.kind);
        goto out;
    }
    if (!o.out) {
        fprintf(stderr, "flotilla certs: --out DIR is required\n");
        goto out;
    }
    if (make(&o, &ca, &p, &err) != 0 || write_all(&o, &ca, &p, &err) != 0) {
        fprintf(stderr, "flotilla certs: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    printf("wrote %s/%s.crt and %s/%s.key\n", o.out, o.kind, o.out, o.kind);
    rc = 0;
    goto done;
out:
    usage(stderr);
done:
    fl_cert_pair_done(&ca);
    fl_cert_pair_done(&p);
    free(o.host_arg);
    return rc;
}
