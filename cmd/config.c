/*
 * cmd/config.c: flotilla.yaml → fl_config. Parsing the YAML is kube/yaml.h's
 * job; this file walks the resulting JSON once, checks every key and type
 * against the schema (DESIGN.md + the collector's sync.* tuning), fills in
 * defaults and resolves relative paths against the file's directory.
 * Every error says "file:line: field: what is wrong".
 */
#include "cmd/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/kube.h"

/* Walk context: where errors point and where relative paths start. */
typedef struct walk {
    const char *path;
    const char *dir;
    fl_config_line_fn line;
    void *ud;
    const json_t *root;
    fl_err *err;
} walk;

static int vfail(walk *w, const json_t *obj, const char *key, const json_t *at, const char *field,
                 const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
static int vfail(walk *w, const json_t *obj, const char *key, const json_t *at, const char *field,
                 const char *fmt, va_list ap)
{
    char msg[384];
    vsnprintf(msg, sizeof msg, fmt, ap);
    int ln = w->line ? w->line(obj, key, at, w->ud) : 0;
    if (ln > 0)
        return fl_err_set(w->err, FL_EPARSE, "%s:%d: %s: %s", w->path, ln, field, msg);
    return fl_err_set(w->err, FL_EPARSE, "%s: %s: %s", w->path, field, msg);
}

static int fail(walk *w, const json_t *at, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(walk *w, const json_t *at, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(w, NULL, NULL, at, field, fmt, ap);
    va_end(ap);
    return rc;
}

/* An error about obj[key] (its line is the key's line). */
static int failk(walk *w, const json_t *obj, const char *key, const char *field, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
static int failk(walk *w, const json_t *obj, const char *key, const char *field, const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(w, obj, key, json_object_get(obj, key), field, fmt, ap);
    va_end(ap);
    return rc;
}

static void join(char *out, size_t n, const char *prefix, const char *key)
{
    if (prefix && *prefix)
        snprintf(out, n, "%s.%s", prefix, key);
    else
        snprintf(out, n, "%s", key);
}

static const char *type_name(const json_t *v)
{
    if (!v)
        return "empty";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "a mapping";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Every key of obj must be in allowed (NULL-terminated). */
static int check_keys(walk *w, const json_t *obj, const char *prefix, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            char f[256];
            join(f, sizeof f, prefix, key);
            return failk(w, obj, key, f, "unknown field");
        }
    }
    return 0;
}

/* obj[key] as an object (NULL when absent or null). */
static int get_obj(walk *w, const json_t *obj, const char *prefix, const char *key, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    char f[256];
    join(f, sizeof f, prefix, key);
    if (v && !json_is_null(v) && !json_is_object(v))
        return failk(w, obj, key, f, "must be a mapping, not %s", type_name(v));
    *out = json_is_object(v) ? v : NULL;
    return 0;
}

/* obj[key] as a new string; def (may be NULL) when absent. */
static int get_str(walk *w, const json_t *obj, const char *prefix, const char *key, bool required,
                   const char *def, char **out)
{
    json_t *v = json_object_get(obj, key);
    char f[256];
    join(f, sizeof f, prefix, key);
    if (!v || json_is_null(v)) {
        if (required)
            return fail(w, obj, f, "required");
        *out = def ? strdup(def) : NULL;
        return (def && !*out) ? -ENOMEM : 0;
    }
    if (!json_is_string(v))
        return failk(w, obj, key, f, "must be a string, not %s", type_name(v));
    if (required && json_string_length(v) == 0)
        return failk(w, obj, key, f, "must not be empty");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return failk(w, obj, key, f, "must not contain NUL");
    *out = strdup(json_string_value(v));
    return *out ? 0 : -ENOMEM;
}

static int get_bool(walk *w, const json_t *obj, const char *prefix, const char *key, bool def,
                    bool *out)
{
    json_t *v = json_object_get(obj, key);
    char f[256];
    join(f, sizeof f, prefix, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return failk(w, obj, key, f, "must be true or false, not %s", type_name(v));
    *out = json_is_true(v);
    return 0;
}

static int get_strs(walk *w, const json_t *obj, const char *prefix, const char *key, char ***out,
                    size_t *n)
{
    json_t *v = json_object_get(obj, key);
    char f[256];
    join(f, sizeof f, prefix, key);
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return failk(w, obj, key, f, "must be a list of strings, not %s", type_name(v));
    size_t cnt = json_array_size(v);
    if (cnt == 0)
        return 0;
    char **a = calloc(cnt, sizeof *a);
    if (!a)
        return -ENOMEM;
    *out = a; /* owned by the config from here: freed with it */
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            char fi[288];
            snprintf(fi, sizeof fi, "%s[%zu]", f, i);
            return fail(w, e, fi, "must be a string, not %s", type_name(e));
        }
        if (!(a[i] = strdup(json_string_value(e))))
            return -ENOMEM;
        (*n)++;
    }
    return 0;
}

static int get_duration(walk *w, const json_t *obj, const char *prefix, const char *key,
                        int64_t def, int64_t min_ms, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    char f[256];
    join(f, sizeof f, prefix, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    int64_t ms;
    if (!json_is_string(v) || fl_config_parse_duration(json_string_value(v), &ms) != 0)
        return failk(w, obj, key, f, "must be a duration such as \"30s\", \"5m\" or \"1h\"");
    if (ms < min_ms)
        return failk(w, obj, key, f, "must be at least %lldms", (long long)min_ms);
    *out = ms;
    return 0;
}

static int get_int(walk *w, const json_t *obj, const char *prefix, const char *key, int64_t def,
                   int64_t lo, int64_t hi, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    char f[256];
    join(f, sizeof f, prefix, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v))
        return failk(w, obj, key, f, "must be an integer, not %s", type_name(v));
    int64_t x = (int64_t)json_integer_value(v);
    if (x < lo || x > hi)
        return failk(w, obj, key, f, "must be between %lld and %lld", (long long)lo, (long long)hi);
    *out = x;
    return 0;
}

/* Absolute path of p relative to dir (p itself when already absolute). */
static char *resolve(const char *dir, const char *p)
{
    if (!p)
        return NULL;
    if (p[0] == '/')
        return strdup(p);
    fl_buf b = FL_BUF_INIT(PATH_MAX);
    if (fl_buf_printf(&b, "%s/%s", dir, p) != 0) {
        fl_buf_done(&b);
        return NULL;
    }
    return fl_buf_steal(&b);
}

/* *slot (a relative path or NULL) becomes absolute against w->dir. */
static int resolve_in_place(walk *w, char **slot)
{
    if (!*slot)
        return 0;
    char *abs = resolve(w->dir, *slot);
    if (!abs)
        return -ENOMEM;
    free(*slot);
    *slot = abs;
    return 0;
}

/* ---------------------------------------------------------------- durations */

static int unit_ms(const char *u, size_t n, double *out)
{
    static const struct {
        const char *name;
        double ms;
    } units[] = {
        {"ns", 1e-6}, {"us", 1e-3}, {"µs", 1e-3},   {"ms", 1},
        {"s", 1000},  {"m", 60000}, {"h", 3600000},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(units); i++)
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0) {
            *out = units[i].ms;
            return 0;
        }
    return FL_EPARSE;
}

int fl_config_parse_duration(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return FL_EPARSE;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    double total = 0;
    const char *p = s;
    while (*p) {
        const char *num = p;
        while ((*p >= '0' && *p <= '9') || *p == '.')
            p++;
        if (p == num || p - num > 20)
            return FL_EPARSE;
        char nb[24];
        memcpy(nb, num, (size_t)(p - num));
        nb[p - num] = 0;
        char *end;
        double x = strtod(nb, &end);
        if (*end || nb[0] == '.' || nb[p - num - 1] == '.')
            return FL_EPARSE;
        const char *u = p;
        while (*p && !((*p >= '0' && *p <= '9') || *p == '.'))
            p++;
        double mul;
        if (unit_ms(u, (size_t)(p - u), &mul) != 0)
            return FL_EPARSE;
        total += x * mul;
        if (total > 9.2e15)
            return FL_EPARSE;
    }
    *ms = (int64_t)(total + 0.5);
    return 0;
}

/* ---------------------------------------------------------------- sections */

static bool listen_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    int64_t port;
    return colon && colon != s && fl_parse_i64(colon + 1, strlen(colon + 1), &port) == 0 &&
           port >= 0 && port <= 65535;
}

/* "file:line: field" of obj[key] into *out when the key is there. */
static int where(walk *w, const json_t *obj, const char *key, const char *field, char **out)
{
    char buf[4400];
    int ln = w->line && json_object_get(obj, key) ? w->line(obj, key, NULL, w->ud) : 0;
    if (!json_object_get(obj, key))
        return 0;
    if (ln > 0)
        snprintf(buf, sizeof buf, "%s:%d: %s", w->path, ln, field);
    else
        snprintf(buf, sizeof buf, "%s: %s", w->path, field);
    return (*out = strdup(buf)) ? 0 : -ENOMEM;
}

static int parse_top(walk *w, const json_t *root, fl_config *c)
{
    static const char *const keys[] = {"listen",       "tls",         "dataDir", "auth",
                                       "host",         "members",     "sync",    "quota",
                                       "failover",     "propagation", "query",   "maxRequestBytes",
                                       "controlPlane", NULL};
    int rc;
    json_t *tls;
    if ((rc = check_keys(w, root, "", keys)) ||
        (rc = get_str(w, root, "", "listen", false, "127.0.0.1:7443", &c->listen)) ||
        (rc = get_str(w, root, "", "dataDir", false, "flotilla-data", &c->data_dir)) ||
        (rc = get_int(w, root, "", "maxRequestBytes", 3 << 20, 64 << 10, 256 << 20,
                      &c->max_request_bytes)) ||
        (rc = get_obj(w, root, "", "tls", &tls)))
        return rc;
    if (!listen_ok(c->listen))
        return failk(w, root, "listen", "listen", "must be HOST:PORT, got \"%s\"", c->listen);
    if (strlen(c->data_dir) == 0)
        return failk(w, root, "dataDir", "dataDir", "must not be empty");
    if ((rc = resolve_in_place(w, &c->data_dir)))
        return rc;
    if (!tls)
        return 0;
    static const char *const tkeys[] = {"cert", "key", "clientCA", NULL};
    if ((rc = check_keys(w, tls, "tls", tkeys)) ||
        (rc = get_str(w, tls, "tls", "cert", true, NULL, &c->tls_cert)) ||
        (rc = get_str(w, tls, "tls", "key", true, NULL, &c->tls_key)) ||
        (rc = get_str(w, tls, "tls", "clientCA", false, NULL, &c->tls_client_ca)) ||
        (rc = resolve_in_place(w, &c->tls_cert)) || (rc = resolve_in_place(w, &c->tls_key)) ||
        (rc = resolve_in_place(w, &c->tls_client_ca)) ||
        (rc = where(w, tls, "cert", "tls.cert", &c->tls_cert_at)) ||
        (rc = where(w, tls, "key", "tls.key", &c->tls_key_at)) ||
        (rc = where(w, tls, "clientCA", "tls.clientCA", &c->tls_client_ca_at)))
        return rc;
    return 0;
}

static int parse_scope(walk *w, const json_t *v, const char *f, fl_config_scope *s)
{
    static const char *const keys[] = {"group", "clusters", "namespaces", "resources", NULL};
    int rc;
    if (!json_is_object(v))
        return fail(w, v, f, "must be a mapping, not %s", type_name(v));
    if ((rc = check_keys(w, v, f, keys)) ||
        (rc = get_str(w, v, f, "group", true, NULL, &s->group)) ||
        (rc = get_strs(w, v, f, "clusters", &s->clusters, &s->nclusters)) ||
        (rc = get_strs(w, v, f, "namespaces", &s->namespaces, &s->nnamespaces)) ||
        (rc = get_strs(w, v, f, "resources", &s->resources, &s->nresources)))
        return rc;
    return 0;
}

/* controlPlane: {history}: the daemon's own API (without host:). history
 * is how many changes control.db (and memory: one slot each, allocated at
 * start) keep for watches and lists at an older resourceVersion. */
static int parse_control(walk *w, const json_t *root, fl_config *c)
{
    static const char *const keys[] = {"history", NULL};
    json_t *cp;
    int rc;
    c->control_history = 10000;
    if ((rc = get_obj(w, root, "", "controlPlane", &cp)) || !cp)
        return rc;
    if ((rc = check_keys(w, cp, "controlPlane", keys)) ||
        (rc = get_int(w, cp, "controlPlane", "history", 10000, 100, 1000000, &c->control_history)))
        return rc;
    return 0;
}

/* query: {maxRows, budgetMs, objectsForAll}: POST /query's caps (query/SQL.md). */
static int parse_query(walk *w, const json_t *root, fl_config *c)
{
    static const char *const keys[] = {"maxRows", "budgetMs", "objectsForAll", NULL};
    json_t *qy;
    int rc;
    c->sql_max_rows = 10000;
    c->sql_budget_ms = 5000;
    if ((rc = get_obj(w, root, "", "query", &qy)) || !qy)
        return rc;
    if ((rc = check_keys(w, qy, "query", keys)) ||
        (rc = get_int(w, qy, "query", "maxRows", 10000, 1, 10000000, &c->sql_max_rows)) ||
        (rc = get_int(w, qy, "query", "budgetMs", 5000, 10, 3600000, &c->sql_budget_ms)) ||
        (rc = get_bool(w, qy, "query", "objectsForAll", false, &c->sql_objects_for_all)))
        return rc;
    return 0;
}

static int parse_auth(walk *w, const json_t *root, fl_config *c)
{
    static const char *const keys[] = {"tokensFile", "anonymousLoopback", "scopes", "adminGroups",
                                       NULL};
    json_t *auth, *scopes;
    int rc;
    if ((rc = get_obj(w, root, "", "auth", &auth)) || !auth)
        return rc;
    if ((rc = check_keys(w, auth, "auth", keys)) ||
        (rc = get_str(w, auth, "auth", "tokensFile", false, NULL, &c->tokens_file)) ||
        (rc = resolve_in_place(w, &c->tokens_file)) ||
        (rc = where(w, auth, "tokensFile", "auth.tokensFile", &c->tokens_file_at)) ||
        (rc = get_bool(w, auth, "auth", "anonymousLoopback", false, &c->anonymous_loopback)) ||
        (rc = get_strs(w, auth, "auth", "adminGroups", &c->admin_groups, &c->nadmin_groups)))
        return rc;
    scopes = json_object_get(auth, "scopes");
    if (!scopes || json_is_null(scopes))
        return 0;
    if (!json_is_array(scopes))
        return fail(w, scopes, "auth.scopes", "must be a list, not %s", type_name(scopes));
    if (json_array_size(scopes) == 0)
        return 0;
    if (!(c->scopes = calloc(json_array_size(scopes), sizeof *c->scopes)))
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(scopes); i++) {
        char f[64];
        snprintf(f, sizeof f, "auth.scopes[%zu]", i);
        c->nscopes++;
        if ((rc = parse_scope(w, json_array_get(scopes, i), f, &c->scopes[i])))
            return rc;
    }
    return 0;
}

static int parse_host(walk *w, const json_t *root, fl_config *c)
{
    static const char *const keys[] = {"kubeconfig", "context", NULL};
    json_t *host;
    int rc;
    if ((rc = get_obj(w, root, "", "host", &host)) || !host)
        return rc;
    c->has_host = true;
    if ((rc = check_keys(w, host, "host", keys)) ||
        (rc = get_str(w, host, "host", "kubeconfig", true, NULL, &c->host_kubeconfig)) ||
        (rc = get_str(w, host, "host", "context", false, "", &c->host_context)) ||
        (rc = resolve_in_place(w, &c->host_kubeconfig)))
        return rc;
    return 0;
}

/* quota: {staleAfter, stalePolicy: deny|allow, reservationTTL, admissionThreads} */
static int parse_quota(walk *w, const json_t *root, fl_config *c)
{
    static const char *const keys[] = {"staleAfter", "stalePolicy", "reservationTTL",
                                       "admissionThreads", NULL};
    json_t *q;
    char *policy = NULL;
    int rc;
    c->quota_stale_after_ms = 30000, c->quota_reservation_ttl_ms = 120000;
    c->quota_threads = 4;
    if ((rc = get_obj(w, root, "", "quota", &q)) || !q)
        return rc;
    if ((rc = check_keys(w, q, "quota", keys)) ||
        (rc = get_duration(w, q, "quota", "staleAfter", 30000, 100, &c->quota_stale_after_ms)) ||
        (rc = get_duration(w, q, "quota", "reservationTTL", 120000, 100,
                           &c->quota_reservation_ttl_ms)) ||
        (rc = get_int(w, q, "quota", "admissionThreads", 4, 1, 64, &c->quota_threads)) ||
        (rc = get_str(w, q, "quota", "stalePolicy", false, "deny", &policy)))
        return rc;
    c->quota_stale_allow = !strcmp(policy, "allow");
    if (strcmp(policy, "allow") && strcmp(policy, "deny"))
        rc = failk(w, q, "stalePolicy", "quota.stalePolicy", "must be deny or allow, not \"%s\"",
                   policy);
    free(policy);
    return rc;
}

/* failover: {failureThreshold, successThreshold, tolerationSeconds (the
 * NoExecute default), evictionRate (bindings/s), gracefulEvictionTimeout};
 * propagation: {interval}. */
static int parse_failover(walk *w, const json_t *root, fl_config *c)
{
    static const char *const fk[] = {"failureThreshold",        "successThreshold",
                                     "tolerationSeconds",       "evictionRate",
                                     "gracefulEvictionTimeout", NULL};
    static const char *const pk[] = {"interval", NULL};
    json_t *f, *pr;
    int64_t tol = 300, rate = 50;
    int rc;
    c->failover_failure_ms = 30000, c->failover_success_ms = 30000;
    c->failover_toleration_ms = 300000, c->failover_eviction_rate = 50;
    c->failover_eviction_timeout_ms = 600000;
    c->propagation_interval_ms = 1000;
    if ((rc = get_obj(w, root, "", "failover", &f)) ||
        (rc = get_obj(w, root, "", "propagation", &pr)))
        return rc;
    if (f && ((rc = check_keys(w, f, "failover", fk)) ||
              (rc = get_duration(w, f, "failover", "failureThreshold", 30000, 0,
                                 &c->failover_failure_ms)) ||
              (rc = get_duration(w, f, "failover", "successThreshold", 30000, 0,
                                 &c->failover_success_ms)) ||
              (rc = get_int(w, f, "failover", "tolerationSeconds", 300, 0, 86400 * 365, &tol)) ||
              (rc = get_int(w, f, "failover", "evictionRate", 50, 1, 1000000, &rate)) ||
              (rc = get_duration(w, f, "failover", "gracefulEvictionTimeout", 600000, 1000,
                                 &c->failover_eviction_timeout_ms))))
        return rc;
    c->failover_toleration_ms = tol * 1000;
    c->failover_eviction_rate = rate;
    if (pr && ((rc = check_keys(w, pr, "propagation", pk)) ||
               (rc = get_duration(w, pr, "propagation", "interval", 1000, 10,
                                  &c->propagation_interval_ms))))
        return rc;
    return 0;
}

static int parse_labels(walk *w, const json_t *m, const char *f, fl_config_member *mb)
{
    json_t *labels;
    char lf[128];
    int rc;
    snprintf(lf, sizeof lf, "%s.labels", f);
    if ((rc = get_obj(w, m, f, "labels", &labels)) || !labels || json_object_size(labels) == 0)
        return rc;
    size_t n = json_object_size(labels);
    if (!(mb->label_keys = calloc(n, sizeof(char *))) ||
        !(mb->label_values = calloc(n, sizeof(char *))))
        return -ENOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v) {
        char kf[320];
        snprintf(kf, sizeof kf, "%s.%s", lf, k);
        if (!json_is_string(v))
            return fail(w, v, kf, "label values must be strings, not %s (quote it)", type_name(v));
        mb->label_keys[mb->nlabels] = strdup(k);
        mb->label_values[mb->nlabels] = strdup(json_string_value(v));
        mb->nlabels++;
        if (!mb->label_keys[mb->nlabels - 1] || !mb->label_values[mb->nlabels - 1])
            return -ENOMEM;
    }
    return 0;
}

static int parse_taint(walk *w, const json_t *t, const char *f, fl_config_taint *out)
{
    static const char *const keys[] = {"key", "value", "effect", NULL};
    int rc;
    if (!json_is_object(t))
        return fail(w, t, f, "must be a mapping, not %s", type_name(t));
    if ((rc = check_keys(w, t, f, keys)) || (rc = get_str(w, t, f, "key", true, NULL, &out->key)) ||
        (rc = get_str(w, t, f, "value", false, "", &out->value)) ||
        (rc = get_str(w, t, f, "effect", true, NULL, &out->effect)))
        return rc;
    if (strcmp(out->effect, "NoSchedule") && strcmp(out->effect, "PreferNoSchedule") &&
        strcmp(out->effect, "NoExecute")) {
        char ef[160];
        snprintf(ef, sizeof ef, "%s.effect", f);
        return fail(w, json_object_get(t, "effect"), ef,
                    "must be NoSchedule, PreferNoSchedule or NoExecute, got \"%s\"", out->effect);
    }
    return 0;
}

static int parse_taints(walk *w, const json_t *m, const char *f, fl_config_member *mb)
{
    json_t *taints = json_object_get(m, "taints");
    char tf[128];
    snprintf(tf, sizeof tf, "%s.taints", f);
    if (!taints || json_is_null(taints))
        return 0;
    if (!json_is_array(taints))
        return fail(w, taints, tf, "must be a list, not %s", type_name(taints));
    if (json_array_size(taints) == 0)
        return 0;
    if (!(mb->taints = calloc(json_array_size(taints), sizeof *mb->taints)))
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(taints); i++) {
        char f2[160];
        snprintf(f2, sizeof f2, "%s[%zu]", tf, i);
        mb->ntaints++;
        int rc = parse_taint(w, json_array_get(taints, i), f2, &mb->taints[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_member(walk *w, const json_t *m, size_t i, fl_config *c)
{
    static const char *const keys[] = {"name", "kubeconfig", "context", "labels", "taints", NULL};
    fl_config_member *mb = &c->members[i];
    char f[64];
    int rc;
    snprintf(f, sizeof f, "members[%zu]", i);
    if (!json_is_object(m))
        return fail(w, m, f, "must be a mapping, not %s", type_name(m));
    if ((rc = check_keys(w, m, f, keys)) || (rc = get_str(w, m, f, "name", true, NULL, &mb->name)))
        return rc;
    char nf[80];
    snprintf(nf, sizeof nf, "%s.name", f);
    if (!fl_kube_dns_label(mb->name))
        return fail(w, json_object_get(m, "name"), nf,
                    "\"%s\" must be a DNS label (lower-case letters, digits and '-', at most 63)",
                    mb->name);
    for (size_t j = 0; j < i; j++)
        if (strcmp(c->members[j].name, mb->name) == 0)
            return fail(w, json_object_get(m, "name"), nf, "duplicate member name \"%s\"",
                        mb->name);
    if ((rc = get_str(w, m, f, "kubeconfig", true, NULL, &mb->kubeconfig)) ||
        (rc = resolve_in_place(w, &mb->kubeconfig)) ||
        (rc = get_str(w, m, f, "context", false, "", &mb->context)) ||
        (rc = parse_labels(w, m, f, mb)) || (rc = parse_taints(w, m, f, mb)))
        return rc;
    return 0;
}

static int parse_members(walk *w, const json_t *root, fl_config *c)
{
    json_t *members = json_object_get(root, "members");
    if (!members || json_is_null(members))
        return 0;
    if (!json_is_array(members))
        return fail(w, members, "members", "must be a list, not %s", type_name(members));
    if (json_array_size(members) == 0)
        return 0;
    if (!(c->members = calloc(json_array_size(members), sizeof *c->members)))
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(members); i++) {
        c->nmembers++;
        int rc = parse_member(w, json_array_get(members, i), i, c);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_gv(walk *w, const json_t *v, const char *f, fl_config_gv *gv)
{
    static const char *const keys[] = {"group", "version", "resources", NULL};
    int rc;
    if (!json_is_object(v))
        return fail(w, v, f, "must be a mapping, not %s", type_name(v));
    if ((rc = check_keys(w, v, f, keys)) ||
        (rc = get_str(w, v, f, "group", false, "", &gv->group)) ||
        (rc = get_str(w, v, f, "version", true, NULL, &gv->version)) ||
        (rc = get_strs(w, v, f, "resources", &gv->resources, &gv->nresources)))
        return rc;
    char rf[96];
    snprintf(rf, sizeof rf, "%s.resources", f);
    if (gv->nresources == 0)
        return fail(w, json_object_get(v, "resources") ? json_object_get(v, "resources") : v, rf,
                    "must list at least one resource (or \"*\")");
    for (size_t i = 0; i < gv->nresources; i++)
        if (gv->resources[i][0] == 0 || strchr(gv->resources[i], '/'))
            return fail(w, json_array_get(json_object_get(v, "resources"), i), rf,
                        "\"%s\" is not a resource name", gv->resources[i]);
    return 0;
}

/* Defaults when sync.resources is absent: the core objects search, quota
 * and the scheduler read. */
static int default_resources(fl_config *c)
{
    static const char *const core[] = {
        "nodes",          "namespaces",      "pods",
        "services",       "configmaps",      "secrets",
        "resourcequotas", "serviceaccounts", "persistentvolumeclaims"};
    static const char *const apps[] = {"deployments", "replicasets", "statefulsets", "daemonsets"};
    static const char *const ext[] = {"customresourcedefinitions"};
    static const struct {
        const char *g;
        const char *const *r;
        size_t n;
    } d[] = {{"", core, FL_ARRAY_LEN(core)},
             {"apps", apps, FL_ARRAY_LEN(apps)},
             {"apiextensions.k8s.io", ext, FL_ARRAY_LEN(ext)}};
    if (!(c->resources = calloc(FL_ARRAY_LEN(d), sizeof *c->resources)))
        return -ENOMEM;
    for (size_t i = 0; i < FL_ARRAY_LEN(d); i++) {
        fl_config_gv *gv = &c->resources[c->nresources++];
        gv->group = strdup(d[i].g);
        gv->version = strdup("v1");
        gv->resources = calloc(d[i].n, sizeof(char *));
        if (!gv->group || !gv->version || !gv->resources)
            return -ENOMEM;
        for (size_t j = 0; j < d[i].n; j++, gv->nresources++)
            if (!(gv->resources[j] = strdup(d[i].r[j])))
                return -ENOMEM;
    }
    return 0;
}

static int parse_resources(walk *w, const json_t *sync, fl_config *c)
{
    json_t *res = sync ? json_object_get(sync, "resources") : NULL;
    if (!res || json_is_null(res))
        return default_resources(c);
    if (!json_is_array(res))
        return fail(w, res, "sync.resources", "must be a list, not %s", type_name(res));
    if (json_array_size(res) == 0)
        return fail(w, res, "sync.resources", "must not be empty");
    if (!(c->resources = calloc(json_array_size(res), sizeof *c->resources)))
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(res); i++) {
        char f[64];
        snprintf(f, sizeof f, "sync.resources[%zu]", i);
        c->nresources++;
        int rc = parse_gv(w, json_array_get(res, i), f, &c->resources[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* Namespace names go into field selectors and paths: each must be a DNS
 * label (what Kubernetes allows for namespaces), so a ',' or '=' can never
 * change a selector's meaning. */
static int check_ns_names(walk *w, const json_t *ns, const char *key)
{
    json_t *v = json_object_get(ns, key), *e;
    size_t i;
    json_array_foreach(v, i, e) {
        if (!fl_kube_dns_label(json_string_value(e))) {
            char f[96];
            snprintf(f, sizeof f, "sync.namespaces.%s[%zu]", key, i);
            return fail(w, e, f,
                        "\"%s\" is not a namespace name (a DNS label: lower-case "
                        "letters, digits and '-', at most 63)",
                        json_string_value(e));
        }
    }
    return 0;
}

static int parse_sync_sub(walk *w, const json_t *sync, fl_config *c)
{
    static const char *const nkeys[] = {"include", "exclude", NULL};
    static const char *const pkeys[] = {"managedFields", "lastAppliedConfiguration", NULL};
    json_t *ns = NULL, *prune = NULL;
    int rc;
    if (sync && ((rc = get_obj(w, sync, "sync", "namespaces", &ns)) ||
                 (rc = get_obj(w, sync, "sync", "prune", &prune))))
        return rc;
    if (ns &&
        ((rc = check_keys(w, ns, "sync.namespaces", nkeys)) ||
         (rc = get_strs(w, ns, "sync.namespaces", "include", &c->ns_include, &c->nns_include)) ||
         (rc = get_strs(w, ns, "sync.namespaces", "exclude", &c->ns_exclude, &c->nns_exclude)) ||
         (rc = check_ns_names(w, ns, "include")) || (rc = check_ns_names(w, ns, "exclude"))))
        return rc;
    c->prune_managed_fields = c->prune_last_applied = true;
    if (prune &&
        ((rc = check_keys(w, prune, "sync.prune", pkeys)) ||
         (rc = get_bool(w, prune, "sync.prune", "managedFields", true, &c->prune_managed_fields)) ||
         (rc = get_bool(w, prune, "sync.prune", "lastAppliedConfiguration", true,
                        &c->prune_last_applied))))
        return rc;
    return 0;
}

static int parse_sync(walk *w, const json_t *root, fl_config *c)
{
    static const char *const keys[] = {"resources",
                                       "namespaces",
                                       "prune",
                                       "retainDeleted",
                                       "pageSize",
                                       "watchTimeout",
                                       "stallTimeout",
                                       "healthInterval",
                                       "healthTimeout",
                                       "discoveryInterval",
                                       NULL};
    json_t *sync;
    int rc;
    if ((rc = get_obj(w, root, "", "sync", &sync)))
        return rc;
    const json_t *s = sync ? sync : json_object(); /* defaults from an empty object */
    if (!s)
        return -ENOMEM;
    if ((rc = check_keys(w, s, "sync", keys)) || (rc = parse_resources(w, sync, c)) ||
        (rc = parse_sync_sub(w, sync, c)) ||
        (rc = get_duration(w, s, "sync", "retainDeleted", 3600000, 0, &c->retain_deleted_ms)) ||
        (rc = get_int(w, s, "sync", "pageSize", 500, 1, 100000, &c->page_size)) ||
        (rc = get_duration(w, s, "sync", "watchTimeout", 300000, 1000, &c->watch_timeout_ms)) ||
        (rc = get_duration(w, s, "sync", "stallTimeout", 30000, 100, &c->stall_timeout_ms)) ||
        (rc = get_duration(w, s, "sync", "healthInterval", 10000, 100, &c->health_interval_ms)) ||
        (rc = get_duration(w, s, "sync", "healthTimeout", 5000, 100, &c->health_timeout_ms)) ||
        (rc = get_duration(w, s, "sync", "discoveryInterval", 60000, 100,
                           &c->discovery_interval_ms)))
        goto out;
out:
    if (!sync)
        json_decref((json_t *)s);
    return rc;
}

/* Absolute directory of path. */
static char *dir_of(const char *path)
{
    char cwd[PATH_MAX];
    const char *slash = strrchr(path, '/');
    fl_buf b = FL_BUF_INIT(2 * PATH_MAX);
    int rc = 0;
    if (path[0] != '/') {
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        rc = fl_buf_puts(&b, cwd);
        if (!rc && slash)
            rc = fl_buf_puts(&b, "/");
    }
    if (!rc && slash)
        rc = fl_buf_append(&b, path, (size_t)(slash - path));
    if (!rc && b.len == 0)
        rc = fl_buf_puts(&b, "/");
    if (rc) {
        fl_buf_done(&b);
        return NULL;
    }
    return fl_buf_steal(&b);
}

int fl_config_from_json(const json_t *root, const char *path, fl_config_line_fn line, void *ud,
                        fl_config **out, fl_err *err)
{
    fl_config *c = calloc(1, sizeof *c);
    walk w = {path, NULL, line, ud, root, err};
    int rc = -ENOMEM;
    if (!c || !(c->path = strdup(path)) || !(c->dir = dir_of(path)))
        goto fail;
    w.dir = c->dir;
    if (!json_is_object(root)) {
        rc = fail(&w, root, "(top)", "must be a mapping, not %s", root ? type_name(root) : "empty");
        goto fail;
    }
    if ((rc = parse_top(&w, root, c)) || (rc = parse_auth(&w, root, c)) ||
        (rc = parse_host(&w, root, c)) || (rc = parse_members(&w, root, c)) ||
        (rc = parse_sync(&w, root, c)) || (rc = parse_quota(&w, root, c)) ||
        (rc = parse_failover(&w, root, c)) || (rc = parse_query(&w, root, c)) ||
        (rc = parse_control(&w, root, c)))
        goto fail;
    *out = c;
    return 0;
fail:
    if (rc == -ENOMEM)
        fl_err_set(err, rc, "%s: out of memory", path);
    fl_config_free(c);
    return rc;
}

static int yaml_line(const json_t *obj, const char *key, const json_t *value, void *ud)
{
    const fl_yaml_doc *doc = ud;
    int ln = (obj && key) ? fl_yaml_key_line(doc, obj, key) : 0;
    return ln > 0 ? ln : (value ? fl_yaml_line(doc, value) : 0);
}

int fl_config_load(const char *path, fl_config **out, fl_err *err)
{
    fl_yaml_doc *doc = NULL;
    int rc = fl_yaml_doc_load(path, &doc, err);
    if (rc)
        return rc;
    rc = fl_config_from_json(fl_yaml_doc_root(doc), path, yaml_line, doc, out, err);
    fl_yaml_doc_free(doc);
    return rc;
}

int fl_config_set_listen(fl_config *c, const char *listen)
{
    char *s = strdup(listen);
    if (!s)
        return -ENOMEM;
    free(c->listen);
    c->listen = s;
    return 0;
}

int fl_config_set_data_dir(fl_config *c, const char *dir)
{
    char cwd[PATH_MAX];
    char *s = dir[0] == '/' ? strdup(dir) : (getcwd(cwd, sizeof cwd) ? resolve(cwd, dir) : NULL);
    if (!s)
        return -ENOMEM;
    free(c->data_dir);
    c->data_dir = s;
    return 0;
}

static void free_strs(char **a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        free(a[i]);
    free(a);
}

static void free_member(fl_config_member *m)
{
    free(m->name);
    free(m->kubeconfig);
    free(m->context);
    free_strs(m->label_keys, m->nlabels);
    free_strs(m->label_values, m->nlabels);
    for (size_t i = 0; i < m->ntaints; i++) {
        free(m->taints[i].key);
        free(m->taints[i].value);
        free(m->taints[i].effect);
    }
    free(m->taints);
}

void fl_config_free(fl_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->dir);
    free(c->listen);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_client_ca);
    free(c->data_dir);
    free(c->tokens_file);
    free(c->tls_cert_at);
    free(c->tls_key_at);
    free(c->tls_client_ca_at);
    free(c->tokens_file_at);
    for (size_t i = 0; i < c->nscopes; i++) {
        free(c->scopes[i].group);
        free_strs(c->scopes[i].clusters, c->scopes[i].nclusters);
        free_strs(c->scopes[i].namespaces, c->scopes[i].nnamespaces);
        free_strs(c->scopes[i].resources, c->scopes[i].nresources);
    }
    free(c->scopes);
    free_strs(c->admin_groups, c->nadmin_groups);
    free(c->host_kubeconfig);
    free(c->host_context);
    for (size_t i = 0; i < c->nmembers; i++)
        free_member(&c->members[i]);
    free(c->members);
    for (size_t i = 0; i < c->nresources; i++) {
        free(c->resources[i].group);
        free(c->resources[i].version);
        free_strs(c->resources[i].resources, c->resources[i].nresources);
    }
    free(c->resources);
    free_strs(c->ns_include, c->nns_include);
    free_strs(c->ns_exclude, c->nns_exclude);
    free(c);
}
