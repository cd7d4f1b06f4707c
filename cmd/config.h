/*
 * cmd/config.h: flotilla.yaml, the daemon's configuration (DESIGN.md's
 * schema), loaded into a typed struct. Loading validates everything once:
 * unknown keys, wrong types and bad values are errors that name the file,
 * the line and the field ("flotilla.yaml:12: members[1].kubeconfig: must be
 * a string"). Relative paths resolve against the file's directory, so the
 * struct only holds absolute (or as-given absolute) paths.
 *
 * Threads: any; a loaded fl_config is immutable and may be shared read-only.
 */
#ifndef FL_CMD_CONFIG_H
#define FL_CMD_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Largest configuration file accepted. */
#define FL_CONFIG_MAX_BYTES (4u << 20)

typedef struct fl_config_taint {
    char *key, *value, *effect; /* effect: NoSchedule | PreferNoSchedule | NoExecute */
} fl_config_taint;

typedef struct fl_config_member {
    char *name;       /* DNS-1123 label, unique among members */
    char *kubeconfig; /* absolute path */
    char *context;    /* "" = the kubeconfig's current-context */
    char **label_keys, **label_values;
    size_t nlabels;
    fl_config_taint *taints;
    size_t ntaints;
} fl_config_member;

/* One entry of sync.resources: resources "*" means every resource of the
 * group/version the member's discovery lists. */
typedef struct fl_config_gv {
    char *group;   /* "" = core */
    char *version; /* required */
    char **resources;
    size_t nresources; /* >= 1 */
} fl_config_gv;

typedef struct fl_config_scope {
    char *group;
    char **clusters, **namespaces, **resources;
    size_t nclusters, nnamespaces, nresources;
} fl_config_scope;

typedef struct fl_config {
    char *path; /* the file as given */
    char *dir;  /* its directory (absolute) */

    char *listen;                             /* "host:port"; default 127.0.0.1:7443 */
    char *tls_cert, *tls_key, *tls_client_ca; /* NULL when absent; cert and key together */
    char *data_dir;                           /* default <dir>/flotilla-data */
    int64_t max_request_bytes; /* request bodies above it get 413; default 3 MiB as kube */
    int64_t control_history;   /* controlPlane.history: changes kept, default 10,000 */

    char *tokens_file; /* NULL when absent */
    /* "file:line: field" of each file above (NULL when absent), for errors
     * found when the file is read (serve: missing or unreadable) */
    char *tls_cert_at, *tls_key_at, *tls_client_ca_at, *tokens_file_at;
    bool anonymous_loopback;
    /* query: POST /query caps (row cap, time budget) and whether `objects`
     * / WITH DELETED are open to non-admins */
    int64_t sql_max_rows, sql_budget_ms;
    bool sql_objects_for_all;
    fl_config_scope *scopes;
    size_t nscopes;
    char **admin_groups; /* auth.adminGroups: unrestricted besides system:masters */
    size_t nadmin_groups;

    bool has_host;
    char *host_kubeconfig, *host_context;

    fl_config_member *members;
    size_t nmembers;

    fl_config_gv *resources;
    size_t nresources;
    char **ns_include, **ns_exclude; /* empty include = every namespace */
    size_t nns_include, nns_exclude;
    bool prune_managed_fields; /* default true */
    bool prune_last_applied;   /* default true */
    int64_t retain_deleted_ms; /* default 1h */

    /* Collector tuning (sync.*; documented in flotilla.example.yaml). */
    int64_t page_size; /* sync.pageSize: LIST limit, default 500 */
    int64_t
        watch_timeout_ms; /* sync.watchTimeout: minimum; the real one is random in [t, 2t), default 5m */
    int64_t
        stall_timeout_ms; /* sync.stallTimeout: no bytes for this long restarts a watch, default 3m */
    int64_t health_interval_ms;    /* sync.healthInterval: default 10s */
    int64_t health_timeout_ms;     /* sync.healthTimeout: default 5s */
    int64_t discovery_interval_ms; /* sync.discoveryInterval: re-discovery (CRDs), default 1m */

    /* quota.* (quota/quota.h): stale policy, reservations, admission workers. */
    int64_t quota_stale_after_ms;     /* quota.staleAfter, default 30s */
    bool quota_stale_allow;           /* quota.stalePolicy: allow (default deny) */
    int64_t quota_reservation_ttl_ms; /* quota.reservationTTL, default 2m */
    int64_t quota_threads;            /* quota.admissionThreads, default 4 */

    /* failover.* and propagation.* (scheduler/'s propagation controller). */
    int64_t failover_failure_ms;          /* failover.failureThreshold, default 30s */
    int64_t failover_success_ms;          /* failover.successThreshold, default 30s */
    int64_t failover_toleration_ms;       /* failover.tolerationSeconds, default 300 */
    int64_t failover_eviction_rate;       /* failover.evictionRate, bindings/s, default 50 */
    int64_t failover_eviction_timeout_ms; /* failover.gracefulEvictionTimeout, default 10m */
    int64_t propagation_interval_ms;      /* propagation.interval, default 1s */
} fl_config;

/* Returns the source line of obj[key] (when obj and key are given: the
 * key's line) or else of value; 0 when unknown. */
typedef int (*fl_config_line_fn)(const json_t *obj, const char *key, const json_t *value, void *ud);

/* Validate a parsed document (root must be an object) into a new config.
 * path names the file in errors and gives the base for relative paths (its
 * directory; made absolute against the working directory). line (may be
 * NULL) maps values to lines. Returns 0, FL_EPARSE (err: "path:line: field:
 * message") or -ENOMEM. *out is written only on success; free with
 * fl_config_free. */
int fl_config_from_json(const json_t *root, const char *path, fl_config_line_fn line, void *ud,
                        fl_config **out, fl_err *err);

/* Read and validate a YAML file (at most FL_CONFIG_MAX_BYTES). Returns 0,
 * -errno (cannot read), FL_EPARSE (YAML or schema; err names file:line:
 * field) or -ENOMEM. *out is written only on success. */
int fl_config_load(const char *path, fl_config **out, fl_err *err);

/* Replace listen / data_dir (command-line overrides). data_dir resolves
 * against the working directory. 0 or -ENOMEM. */
int fl_config_set_listen(fl_config *c, const char *listen);
int fl_config_set_data_dir(fl_config *c, const char *dir);

/* Parse a Go duration ("1h30m", "500ms", "2.5s", "0"): 0 or FL_EPARSE;
 * *ms written only on success. Negative durations are rejected. */
int fl_config_parse_duration(const char *s, int64_t *ms);

/* Free everything; accepts NULL. */
void fl_config_free(fl_config *c);

#endif
