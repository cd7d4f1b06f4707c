/*
 * quota/secrets.c: the per-cluster webhook secrets, a small JSON file
 * ({"east-1": "9f3c...", ...}, mode 0600) that the daemon and
 * `flotilla certs webhook` share: whoever needs a cluster's secret first
 * creates it. Writes are atomic (temp file + rename). Knows nothing of
 * the ledger.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quota/quota_int.h"

#define SECRETS_MAX_BYTES (4u << 20)

static int read_secrets(const char *path, json_t **out, fl_err *err)
{
    fl_buf b = FL_BUF_INIT(SECRETS_MAX_BYTES);
    int rc = fl_buf_read_file(&b, path, err);
    if (rc == -ENOENT) {
        fl_buf_done(&b);
        *out = json_object();
        return *out ? 0 : -ENOMEM;
    }
    json_t *j = NULL;
    if (!rc && fl_json_parse(b.data, b.len, &j, err) != 0)
        rc = fl_err_wrap(err, FL_EPARSE, "%s", path);
    fl_buf_done(&b);
    if (!rc && !json_is_object(j)) {
        json_decref(j);
        rc = fl_err_set(err, FL_EPARSE, "%s: not a JSON object of secrets", path);
    }
    if (!rc)
        *out = j;
    return rc;
}

static int write_secrets(const char *path, const json_t *j, fl_err *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return fl_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s)
        return fl_err_set(err, -ENOMEM, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -errno : 0;
    size_t len = strlen(s);
    if (!rc && write(fd, s, len) != (ssize_t)len)
        rc = -EIO;
    if (!rc && write(fd, "\n", 1) != 1)
        rc = -EIO;
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    free(s);
    return rc ? fl_err_set(err, rc, "%s: %s", path, fl_strerror(rc)) : 0;
}

int fl_quota_secrets(const char *path, const char *const *clusters, size_t n, json_t **secrets,
                     fl_err *err)
{
    json_t *j = NULL;
    int rc = read_secrets(path, &j, err);
    if (rc)
        return rc;
    bool changed = false;
    for (size_t i = 0; !rc && i < n; i++) {
        if (json_is_string(json_object_get(j, clusters[i])))
            continue;
        unsigned char raw[16];
        char hex[33];
        if ((rc = fl_random_bytes(raw, sizeof raw)) != 0) {
            fl_err_set(err, rc, "random: %s", fl_strerror(rc));
            break;
        }
        for (size_t k = 0; k < sizeof raw; k++)
            snprintf(hex + 2 * k, 3, "%02x", raw[k]);
        json_object_set_new(j, clusters[i], json_string(hex));
        changed = true;
    }
    if (!rc && changed)
        rc = write_secrets(path, j, err);
    if (rc) {
        json_decref(j);
        return rc;
    }
    *secrets = j;
    return 0;
}
