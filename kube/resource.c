/*
 * kube/resource.c: the resource-type registry (see kube/resource.h).
 *
 * Built-in types are static tables (copied from kube-apiserver v1.26
 * discovery, golden 01-discovery/); types learnt at run time (CRDs, member
 * discovery) are heap entries owned by the registry. Entries are immutable
 * once added; removal only clears `live`, so borrowed pointers stay valid
 * until the registry is freed. One rwlock guards the entry array.
 * This file builds no documents: discovery.c and openapi.c do, through
 * the public API.
 */
#include "kube/resource.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- built-ins */

static const char *const V_ALL[] = {
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL};
static const char *const V_NS[] = {"create", "delete", "get",   "list",
                                   "patch",  "update", "watch", NULL};
static const char *const V_CRD[] = {"delete", "deletecollection", "get",   "list", "patch",
                                    "create", "update",           "watch", NULL};
static const char *const V_GPU[] = {"get", "patch", "update", NULL};
static const char *const V_CREATE[] = {"create", NULL};
static const char *const V_GET[] = {"get", NULL};
static const char *const V_UPDATE[] = {"update", NULL};
static const char *const NONE[] = {NULL};
static const char *const C_ALL[] = {"all", NULL};
static const char *const C_EXT[] = {"api-extensions", NULL};

#define SHORT(...) ((const char *const[]){__VA_ARGS__, NULL})

static const fl_kube_subresource S_POD[] = {
    {"binding", "Binding", "", "", V_CREATE},
    {"eviction", "Eviction", "policy", "v1", V_CREATE},
    {"log", "Pod", "", "", V_GET},
    {"status", "Pod", "", "", V_GPU},
};
static const fl_kube_subresource S_NAMESPACE[] = {
    {"finalize", "Namespace", "", "", V_UPDATE},
    {"status", "Namespace", "", "", V_GPU},
};
#define S_STATUS(name, kind)                                                                       \
    static const fl_kube_subresource name[] = {{"status", kind, "", "", V_GPU}}
S_STATUS(S_NODE, "Node");
S_STATUS(S_SERVICE, "Service");
S_STATUS(S_QUOTA, "ResourceQuota");
S_STATUS(S_PVC, "PersistentVolumeClaim");
S_STATUS(S_DS, "DaemonSet");
S_STATUS(S_JOB, "Job");
S_STATUS(S_CJ, "CronJob");
S_STATUS(S_CRD, "CustomResourceDefinition");
#define S_SCALE(name, kind)                                                                        \
    static const fl_kube_subresource name[] = {{"scale", "Scale", "autoscaling", "v1", V_GPU},     \
                                               {"status", kind, "", "", V_GPU}}
S_SCALE(S_DEPLOY, "Deployment");
S_SCALE(S_RS, "ReplicaSet");
S_SCALE(S_STS, "StatefulSet");

#define B(g, v, plural, singular, kind, ns, verbs, shorts, cats, subs, nsubs, hash)                \
    {                                                                                              \
        g, v, plural, singular, kind, kind "List", ns, verbs, shorts, cats, subs, nsubs, hash,     \
            FL_KUBE_ORIGIN_BUILTIN, "", NULL, NULL, true, NULL                                     \
    }

/* Groups in kube-apiserver's order (golden apis.json); resources sorted. */
static const fl_kube_resource BUILTINS[] = {
    B("", "v1", "configmaps", "configmap", "ConfigMap", true, V_ALL, SHORT("cm"), NONE, NULL, 0,
      "qFsyl6wFWjQ="),
    B("", "v1", "endpoints", "endpoints", "Endpoints", true, V_ALL, SHORT("ep"), NONE, NULL, 0,
      "fWeeMqaN/OA="),
    B("", "v1", "events", "event", "Event", true, V_ALL, SHORT("ev"), NONE, NULL, 0,
      "r2yiGXH7wu8="),
    B("", "v1", "namespaces", "namespace", "Namespace", false, V_NS, SHORT("ns"), NONE, S_NAMESPACE,
      FL_ARRAY_LEN(S_NAMESPACE), "Q3oi5N2YM8M="),
    B("", "v1", "nodes", "node", "Node", false, V_ALL, SHORT("no"), NONE, S_NODE,
      FL_ARRAY_LEN(S_NODE), "XwShjMxG9Fs="),
    B("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true,
      V_ALL, SHORT("pvc"), NONE, S_PVC, FL_ARRAY_LEN(S_PVC), "QWTyNDq0dC4="),
    B("", "v1", "pods", "pod", "Pod", true, V_ALL, SHORT("po"), C_ALL, S_POD, FL_ARRAY_LEN(S_POD),
      "xPOwRZ+Yhw8="),
    B("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", true, V_ALL, SHORT("quota"),
      NONE, S_QUOTA, FL_ARRAY_LEN(S_QUOTA), "8uhSgffRX6w="),
    B("", "v1", "secrets", "secret", "Secret", true, V_ALL, NONE, NONE, NULL, 0, "S6u1pOWzb84="),
    B("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, V_ALL, SHORT("sa"),
      NONE, NULL, 0, "pbx9ZvyFpBE="),
    B("", "v1", "services", "service", "Service", true, V_ALL, SHORT("svc"), C_ALL, S_SERVICE,
      FL_ARRAY_LEN(S_SERVICE), "0/CO1lhkEBI="),
    B("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, V_ALL,
      NONE, NONE, NULL, 0, "85nkx63pcBU="),
    B("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, V_ALL, SHORT("ds"), C_ALL, S_DS,
      FL_ARRAY_LEN(S_DS), "dd7pWHUlMKQ="),
    B("apps", "v1", "deployments", "deployment", "Deployment", true, V_ALL, SHORT("deploy"), C_ALL,
      S_DEPLOY, FL_ARRAY_LEN(S_DEPLOY), "8aSe+NMegvE="),
    B("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, V_ALL, SHORT("rs"), C_ALL,
      S_RS, FL_ARRAY_LEN(S_RS), "P1RzHs8/mWQ="),
    B("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, V_ALL, SHORT("sts"), C_ALL,
      S_STS, FL_ARRAY_LEN(S_STS), "H+vl74LkKdo="),
    B("events.k8s.io", "v1", "events", "event", "Event", true, V_ALL, SHORT("ev"), NONE, NULL, 0,
      "r2yiGXH7wu8="),
    B("batch", "v1", "cronjobs", "cronjob", "CronJob", true, V_ALL, SHORT("cj"), C_ALL, S_CJ,
      FL_ARRAY_LEN(S_CJ), "sd5LIXh4Fjs="),
    B("batch", "v1", "jobs", "job", "Job", true, V_ALL, NONE, C_ALL, S_JOB, FL_ARRAY_LEN(S_JOB),
      "mudhfqk/qZY="),
    B("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
      "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", false, V_ALL, NONE, C_EXT,
      NULL, 0, "Sqi0GUgDaX0="),
    B("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
      "validatingwebhookconfiguration", "ValidatingWebhookConfiguration", false, V_ALL, NONE, C_EXT,
      NULL, 0, "B0wHjQmsGNk="),
    B("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
      "CustomResourceDefinition", false, V_ALL, SHORT("crd", "crds"), C_EXT, S_CRD,
      FL_ARRAY_LEN(S_CRD), "jfWCUB31mvA="),
    B("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, V_ALL, NONE, NONE, NULL, 0,
      "gqkMMb/YqFM="),
};

/* ---------------------------------------------------------------- registry */

/* A registry entry. Invariants: a built-in entry's pub points into the
 * static tables and blocks is empty; a CRD/discovery entry's pub points only
 * into blocks and the json members, which the entry owns. live == false
 * means removed or replaced: unlinked from lookups, kept until the
 * registry is freed. */
typedef struct entry {
    fl_kube_resource pub;
    bool live;
    void **blocks; /* owned strings and arrays */
    size_t nblocks, capblocks;
    json_t *columns, *schema, *scale;
} entry;

struct fl_kube_resources {
    pthread_rwlock_t lock;
    entry **e; /* all entries ever added, in registration order */
    size_t n;
    uint64_t generation;
};

static void entry_free(entry *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nblocks; i++)
        free(e->blocks[i]);
    free(e->blocks);
    json_decref(e->columns);
    json_decref(e->schema);
    json_decref(e->scale);
    free(e);
}

/* Track p as owned by e. Returns p, or NULL (and frees p) on ENOMEM. */
static void *own(entry *e, void *p)
{
    if (!p)
        return NULL;
    if (fl_grow(&e->blocks, &e->capblocks, e->nblocks + 1, sizeof *e->blocks) != 0) {
        free(p);
        return NULL;
    }
    e->blocks[e->nblocks++] = p;
    return p;
}

static const char *own_str(entry *e, const char *s)
{
    return own(e, fl_strdup(s ? s : ""));
}

static int reg_append(fl_kube_resources *reg, entry *e)
{
    if (reg->n >= FL_KUBE_RESOURCES_MAX)
        return -E2BIG;
    if (reg->n % 64 == 0) {
        entry **ne = fl_realloc(reg->e, (reg->n + 64) * sizeof *ne);
        if (!ne)
            return -ENOMEM;
        reg->e = ne;
    }
    reg->e[reg->n++] = e;
    reg->generation++;
    return 0;
}

int fl_kube_resources_new(bool with_builtins, fl_kube_resources **out)
{
    fl_kube_resources *reg = fl_calloc(1, sizeof *reg);
    int rc = 0;
    if (!reg)
        return -ENOMEM;
    if (pthread_rwlock_init(&reg->lock, NULL) != 0) {
        free(reg);
        return -ENOMEM;
    }
    for (size_t i = 0; with_builtins && i < FL_ARRAY_LEN(BUILTINS); i++) {
        entry *e = fl_calloc(1, sizeof *e);
        if (!e) {
            rc = -ENOMEM;
            goto out;
        }
        e->pub = BUILTINS[i];
        e->live = true;
        rc = reg_append(reg, e);
        if (rc < 0) {
            free(e);
            goto out;
        }
    }
out:
    if (rc < 0) {
        fl_kube_resources_free(reg);
        return rc;
    }
    *out = reg;
    return 0;
}

void fl_kube_resources_free(fl_kube_resources *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++)
        entry_free(reg->e[i]);
    free(reg->e);
    pthread_rwlock_destroy(&reg->lock);
    free(reg);
}

static void rdlock(const fl_kube_resources *reg)
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&reg->lock);
}
static void wrlock(fl_kube_resources *reg)
{
    pthread_rwlock_wrlock(&reg->lock);
}
static void unlock(const fl_kube_resources *reg)
{
    pthread_rwlock_unlock((pthread_rwlock_t *)&reg->lock);
}

uint64_t fl_kube_resources_generation(const fl_kube_resources *reg)
{
    rdlock(reg);
    uint64_t g = reg->generation;
    unlock(reg);
    return g;
}

/* ---------------------------------------------------------------- lookups */

static bool streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool in_list(const char *const *list, const char *s, bool nocase)
{
    for (size_t i = 0; list && list[i]; i++)
        if (nocase ? strcasecmp(list[i], s) == 0 : strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* Caller holds the lock. */
static entry *find_locked(const fl_kube_resources *reg, const char *group, const char *version,
                          const char *resource)
{
    for (size_t i = 0; i < reg->n; i++) {
        entry *e = reg->e[i];
        if (e->live && streq(e->pub.group, group) && streq(e->pub.version, version) &&
            streq(e->pub.resource, resource))
            return e;
    }
    return NULL;
}

const fl_kube_resource *fl_kube_resources_find(const fl_kube_resources *reg, const char *group,
                                               const char *version, const char *resource)
{
    rdlock(reg);
    entry *e = find_locked(reg, group, version, resource);
    unlock(reg);
    return e ? &e->pub : NULL;
}

const fl_kube_resource *fl_kube_resources_find_kind(const fl_kube_resources *reg, const char *group,
                                                    const char *kind)
{
    const fl_kube_resource *r = NULL;
    rdlock(reg);
    for (size_t i = 0; i < reg->n && !r; i++) {
        entry *e = reg->e[i];
        if (e->live && streq(e->pub.group, group) && streq(e->pub.kind, kind))
            r = &e->pub;
    }
    unlock(reg);
    return r;
}

const fl_kube_resource *fl_kube_resources_find_gvk(const fl_kube_resources *reg,
                                                   const char *api_version, const char *kind)
{
    char group[FL_KUBE_NAME_MAX + 1] = "";
    const char *version = api_version ? api_version : "";
    const char *slash = strchr(version, '/');
    if (slash) {
        size_t gl = (size_t)(slash - version);
        if (gl > FL_KUBE_NAME_MAX)
            return NULL;
        memcpy(group, version, gl);
        group[gl] = 0;
        version = slash + 1;
    }
    const fl_kube_resource *r = NULL;
    rdlock(reg);
    for (size_t i = 0; i < reg->n && !r; i++) {
        entry *e = reg->e[i];
        if (e->live && streq(e->pub.group, group) && streq(e->pub.version, version) &&
            streq(e->pub.kind, kind))
            r = &e->pub;
    }
    unlock(reg);
    return r;
}

/* Does e answer to the user's word? (plural, singular, short name, kind) */
static bool name_matches(const entry *e, const char *word)
{
    return strcasecmp(e->pub.resource, word) == 0 || strcasecmp(e->pub.singular, word) == 0 ||
           strcasecmp(e->pub.kind, word) == 0 || in_list(e->pub.short_names, word, true);
}

/* Split "deployments.v1.apps" / "deploy.apps" into word, version, group. */
static void split_resource_arg(char *buf, const char **word, const char **version,
                               const char **group)
{
    *word = buf;
    *version = NULL;
    *group = NULL;
    char *dot = strchr(buf, '.');
    if (!dot)
        return;
    *dot = 0;
    char *rest = dot + 1;
    char *dot2 = strchr(rest, '.');
    /* "x.v1.apps": a version-looking middle part */
    if (dot2 && rest[0] == 'v' && isdigit((unsigned char)rest[1])) {
        *dot2 = 0;
        *version = rest;
        *group = dot2 + 1;
        return;
    }
    *group = rest;
}

const fl_kube_resource *fl_kube_resources_resolve(const fl_kube_resources *reg, const char *name)
{
    char buf[2 * FL_KUBE_NAME_MAX + 2];
    const char *word, *version, *group;
    if (!name || fl_strlcpy(buf, name, sizeof buf) >= sizeof buf)
        return NULL;
    split_resource_arg(buf, &word, &version, &group);
    const fl_kube_resource *r = NULL;
    rdlock(reg);
    for (size_t i = 0; i < reg->n && !r; i++) {
        entry *e = reg->e[i];
        if (!e->live || !name_matches(e, word))
            continue;
        if (group && !streq(e->pub.group, group))
            continue;
        if (version && !streq(e->pub.version, version))
            continue;
        r = &e->pub;
    }
    unlock(reg);
    return r;
}

size_t fl_kube_resources_list(const fl_kube_resources *reg, const fl_kube_resource **out,
                              size_t max)
{
    size_t n = 0;
    rdlock(reg);
    for (size_t i = 0; i < reg->n; i++) {
        if (!reg->e[i]->live)
            continue;
        if (n < max)
            out[n] = &reg->e[i]->pub;
        n++;
    }
    unlock(reg);
    return n;
}

const fl_kube_subresource *fl_kube_resource_sub(const fl_kube_resource *r, const char *sub)
{
    for (size_t i = 0; sub && i < r->n_subresources; i++)
        if (strcmp(r->subresources[i].name, sub) == 0)
            return &r->subresources[i];
    return NULL;
}

bool fl_kube_resource_has_verb(const fl_kube_resource *r, const char *verb)
{
    return verb && in_list(r->verbs, verb, false);
}

void fl_kube_resource_api_version(const fl_kube_resource *r, char *out, size_t size)
{
    if (r->group[0])
        snprintf(out, size, "%s/%s", r->group, r->version);
    else
        snprintf(out, size, "%s", r->version);
}

int fl_kube_resource_path(const fl_kube_resource *r, const char *ns, const char *name,
                          const char *subresource, char *out, size_t size)
{
    const bool has_name = name && name[0];
    const bool has_sub = subresource && subresource[0];
    const bool has_ns = r->namespaced && ns && ns[0];
    char tmp[1024];
    int n;
    if (has_sub && !has_name)
        return -EINVAL;
    n = snprintf(tmp, sizeof tmp, "%s%s/%s%s%s/%s%s%s%s%s", r->group[0] ? "/apis/" : "/api",
                 r->group, r->version, has_ns ? "/namespaces/" : "", has_ns ? ns : "", r->resource,
                 has_name ? "/" : "", has_name ? name : "", has_sub ? "/" : "",
                 has_sub ? subresource : "");
    if (n < 0 || (size_t)n >= sizeof tmp || (size_t)n >= size)
        return -E2BIG;
    memcpy(out, tmp, (size_t)n + 1);
    return 0;
}

/* ---------------------------------------------------------------- adding */

/* discovery.StorageVersionHash: base64(sha256("group/version/kind")[:8]). */
static const char *storage_hash(entry *e, const char *g, const char *v, const char *k)
{
    char gvk[3 * FL_KUBE_NAME_MAX + 4];
    unsigned char dig[SHA256_DIGEST_LENGTH];
    unsigned char b64[16];
    int n = snprintf(gvk, sizeof gvk, "%s/%s/%s", g, v, k);
    if (n < 0 || (size_t)n >= sizeof gvk)
        return NULL;
    SHA256((const unsigned char *)gvk, (size_t)n, dig);
    EVP_EncodeBlock(b64, dig, 8);
    return own_str(e, (const char *)b64);
}

/* A NULL-terminated copy of a JSON array of strings (NULL/absent = empty). */
static const char *const *own_str_array(entry *e, const json_t *arr)
{
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    const char **a = own(e, fl_calloc(n + 1, sizeof *a));
    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || !(a[i] = own_str(e, s)))
            return NULL;
    }
    return a;
}

static bool name_ok(const char *s)
{
    return s && s[0] && strlen(s) <= FL_KUBE_NAME_MAX;
}

static void lower_copy(char *dst, const char *src, size_t size)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = 0;
}

/* The pieces of a CRD shared by every version. */
typedef struct crd_names {
    const char *group, *plural, *singular, *kind, *list_kind;
    const json_t *short_names, *categories;
    bool namespaced;
} crd_names;

static int crd_names_parse(const json_t *crd, crd_names *n, fl_err *err)
{
    const json_t *spec = json_object_get(crd, "spec");
    const json_t *names = json_object_get(spec, "names");
    const char *scope = json_string_value(json_object_get(spec, "scope"));
    n->group = json_string_value(json_object_get(spec, "group"));
    n->plural = json_string_value(json_object_get(names, "plural"));
    n->singular = json_string_value(json_object_get(names, "singular"));
    n->kind = json_string_value(json_object_get(names, "kind"));
    n->list_kind = json_string_value(json_object_get(names, "listKind"));
    n->short_names = json_object_get(names, "shortNames");
    n->categories = json_object_get(names, "categories");
    if (!name_ok(n->group))
        return fl_err_set(err, FL_EPARSE, "CustomResourceDefinition: spec.group is required");
    if (!name_ok(n->plural) || !name_ok(n->kind))
        return fl_err_set(err, FL_EPARSE,
                          "CustomResourceDefinition: spec.names.plural and kind are required");
    if (!scope || (strcmp(scope, "Namespaced") != 0 && strcmp(scope, "Cluster") != 0))
        return fl_err_set(err, FL_EPARSE,
                          "CustomResourceDefinition: spec.scope must be Namespaced or Cluster");
    n->namespaced = strcmp(scope, "Namespaced") == 0;
    return 0;
}

/* One heap entry for version object v of a CRD. NULL on ENOMEM. */
static entry *crd_entry(const crd_names *n, const json_t *v, const char *storage_version)
{
    entry *e = fl_calloc(1, sizeof *e);
    char buf[FL_KUBE_NAME_MAX + 8];
    const json_t *subs = json_object_get(v, "subresources");
    fl_kube_subresource *sr = NULL;
    size_t ns = 0;
    if (!e)
        return NULL;
    fl_kube_resource *p = &e->pub;
    p->group = own_str(e, n->group);
    p->version = own_str(e, json_string_value(json_object_get(v, "name")));
    p->resource = own_str(e, n->plural);
    p->kind = own_str(e, n->kind);
    lower_copy(buf, n->kind, sizeof buf);
    p->singular = own_str(e, n->singular && n->singular[0] ? n->singular : buf);
    p->discovery_singular = p->singular;
    snprintf(buf, sizeof buf, "%sList", n->kind);
    p->list_kind = own_str(e, n->list_kind && n->list_kind[0] ? n->list_kind : buf);
    p->namespaced = n->namespaced;
    p->verbs = V_CRD;
    p->short_names = own_str_array(e, n->short_names);
    p->categories = own_str_array(e, n->categories);
    p->storage_version_hash = storage_hash(e, n->group, storage_version, n->kind);
    p->origin = FL_KUBE_ORIGIN_CRD;
    p->served = true;
    sr = own(e, fl_calloc(2, sizeof *sr));
    if (sr && json_object_get(subs, "status"))
        sr[ns++] = (fl_kube_subresource){"status", p->kind, "", "", V_GPU};
    if (sr && json_object_get(subs, "scale")) {
        sr[ns++] = (fl_kube_subresource){"scale", "Scale", "autoscaling", "v1", V_GPU};
        e->scale = json_deep_copy(json_object_get(subs, "scale"));
        p->crd_scale = e->scale;
    }
    p->subresources = sr;
    p->n_subresources = ns;
    e->columns = json_deep_copy(json_object_get(v, "additionalPrinterColumns"));
    e->schema = json_deep_copy(json_object_get(json_object_get(v, "schema"), "openAPIV3Schema"));
    p->printer_columns = e->columns;
    p->schema = e->schema;
    e->live = true;
    if (!p->group || !p->version || !p->resource || !p->kind || !p->singular || !p->list_kind ||
        !p->short_names || !p->categories || !p->storage_version_hash || !sr ||
        (json_object_get(subs, "scale") && !e->scale)) {
        entry_free(e);
        return NULL;
    }
    return e;
}

/* Kubernetes version priority (k8s.io/apimachinery/pkg/version.CompareKubeAwareVersionStrings):
 * GA > beta > alpha > other; higher major first, then higher minor. */
static int64_t version_rank(const char *v)
{
    int64_t major = 0, minor = 0;
    int kind = 3; /* 3 GA, 2 beta, 1 alpha */
    const char *p = v + 1, *q;
    if (v[0] != 'v' || !isdigit((unsigned char)v[1]))
        return -1;
    for (q = p; isdigit((unsigned char)*q); q++)
        ;
    if (fl_parse_i64(p, (size_t)(q - p), &major) < 0 || major > 100000)
        return -1;
    if (*q) {
        kind = strncmp(q, "beta", 4) == 0 ? 2 : strncmp(q, "alpha", 5) == 0 ? 1 : 0;
        if (kind == 0)
            return -1;
        p = q + (kind == 2 ? 4 : 5);
        for (q = p; isdigit((unsigned char)*q); q++)
            ;
        if (*q || q == p || fl_parse_i64(p, (size_t)(q - p), &minor) < 0 || minor > 100000)
            return -1;
    }
    return (int64_t)kind * 10000000000LL + major * 100000 + minor;
}

static int cmp_version_desc(const void *a, const void *b)
{
    const char *va = json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *vb = json_string_value(json_object_get(*(json_t *const *)b, "name"));
    int64_t ra = version_rank(va), rb = version_rank(vb);
    if (ra != rb)
        return ra > rb ? -1 : 1;
    return strcmp(va, vb);
}

/* Unlink every live CRD entry of group+plural. Caller holds the write lock. */
static int unlink_crd_locked(fl_kube_resources *reg, const char *group, const char *plural)
{
    int found = 0;
    for (size_t i = 0; i < reg->n; i++) {
        entry *e = reg->e[i];
        if (e->live && e->pub.origin == FL_KUBE_ORIGIN_CRD && streq(e->pub.group, group) &&
            streq(e->pub.resource, plural)) {
            e->live = false;
            found = 1;
        }
    }
    if (found)
        reg->generation++;
    return found;
}

static bool builtin_exists_locked(const fl_kube_resources *reg, const char *group,
                                  const char *plural)
{
    for (size_t i = 0; i < reg->n; i++) {
        const entry *e = reg->e[i];
        if (e->live && e->pub.origin == FL_KUBE_ORIGIN_BUILTIN && streq(e->pub.group, group) &&
            streq(e->pub.resource, plural))
            return true;
    }
    return false;
}

/* The served versions of a CRD, sorted by priority; storage version out. */
static int crd_versions(const json_t *crd, json_t **sorted, size_t max, size_t *n,
                        const char **storage, fl_err *err)
{
    const json_t *versions = json_object_get(json_object_get(crd, "spec"), "versions");
    size_t i;
    json_t *v;
    *n = 0;
    *storage = NULL;
    if (!json_is_array(versions) || json_array_size(versions) == 0)
        return fl_err_set(err, FL_EPARSE, "CustomResourceDefinition: spec.versions is required");
    json_array_foreach(versions, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (!name_ok(name))
            return fl_err_set(err, FL_EPARSE,
                              "CustomResourceDefinition: spec.versions[%zu].name is required", i);
        if (json_is_true(json_object_get(v, "storage")))
            *storage = name;
        if (!json_is_true(json_object_get(v, "served")))
            continue;
        if (*n >= max)
            return fl_err_set(err, -E2BIG, "CustomResourceDefinition: too many versions");
        sorted[(*n)++] = v;
    }
    if (!*storage)
        *storage = json_string_value(json_object_get(json_array_get(versions, 0), "name"));
    qsort(sorted, *n, sizeof *sorted, cmp_version_desc);
    return 0;
}

static bool strv_eq(const char *const *a, const char *const *b)
{
    size_t i = 0;
    for (; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return (!a || !a[i]) && (!b || !b[i]);
}

static bool json_eq(const json_t *a, const json_t *b)
{
    return (!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b));
}

/* Do two entries describe the same type in every field? */
static bool entry_eq(const fl_kube_resource *a, const fl_kube_resource *b)
{
    if (!streq(a->group, b->group) || !streq(a->version, b->version) ||
        !streq(a->resource, b->resource) || !streq(a->singular, b->singular) ||
        !streq(a->kind, b->kind) || !streq(a->list_kind, b->list_kind) ||
        a->namespaced != b->namespaced || !strv_eq(a->verbs, b->verbs) ||
        !strv_eq(a->short_names, b->short_names) || !strv_eq(a->categories, b->categories) ||
        !streq(a->storage_version_hash, b->storage_version_hash) ||
        !json_eq(a->printer_columns, b->printer_columns) || !json_eq(a->schema, b->schema) ||
        !json_eq(a->crd_scale, b->crd_scale) || a->n_subresources != b->n_subresources)
        return false;
    for (size_t i = 0; i < a->n_subresources; i++) {
        const fl_kube_subresource *x = &a->subresources[i], *y = &b->subresources[i];
        if (!streq(x->name, y->name) || !streq(x->kind, y->kind) || !streq(x->group, y->group) ||
            !streq(x->version, y->version) || !strv_eq(x->verbs, y->verbs))
            return false;
    }
    return true;
}

/* Are the live CRD entries of this group+plural exactly made[0..n), in
 * order? Then re-adding changes nothing (CRD status updates, resyncs).
 * Caller holds the lock. */
static bool crd_unchanged_locked(const fl_kube_resources *reg, entry *const *made, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < reg->n; i++) {
        const entry *e = reg->e[i];
        if (!e->live || e->pub.origin != FL_KUBE_ORIGIN_CRD ||
            !streq(e->pub.group, made[0]->pub.group) ||
            !streq(e->pub.resource, made[0]->pub.resource))
            continue;
        if (k >= n || !entry_eq(&e->pub, &made[k]->pub))
            return false;
        k++;
    }
    return k == n;
}

int fl_kube_resources_add_crd(fl_kube_resources *reg, const json_t *crd, fl_err *err)
{
    crd_names names = {0};
    json_t *vers[32];
    entry *made[32] = {0};
    size_t nv = 0, i;
    const char *storage;
    int rc = crd_names_parse(crd, &names, err);
    if (rc < 0)
        return rc;
    rc = crd_versions(crd, vers, FL_ARRAY_LEN(vers), &nv, &storage, err);
    if (rc < 0)
        return rc;
    for (i = 0; i < nv; i++)
        if (!(made[i] = crd_entry(&names, vers[i], storage))) {
            rc = fl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
    wrlock(reg);
    if (builtin_exists_locked(reg, names.group, names.plural)) {
        rc = fl_err_set(err, -EEXIST, "%s.%s is a built-in resource", names.plural, names.group);
    } else if (nv > 0 && crd_unchanged_locked(reg, made, nv)) {
        /* nothing changed: keep the live entries (and the generation) */
    } else if (reg->n + nv > FL_KUBE_RESOURCES_MAX) {
        rc = fl_err_set(err, -E2BIG, "resource registry is full (%d entries)",
                        FL_KUBE_RESOURCES_MAX);
    } else {
        unlink_crd_locked(reg, names.group, names.plural);
        for (i = 0; i < nv && rc == 0; i++) {
            rc = reg_append(reg, made[i]);
            if (rc == 0)
                made[i] = NULL;
        }
    }
    unlock(reg);
    if (rc == -ENOMEM)
        fl_err_set(err, rc, "out of memory");
out:
    for (i = 0; i < nv; i++)
        entry_free(made[i]);
    return rc;
}

int fl_kube_resources_remove_crd(fl_kube_resources *reg, const char *group, const char *plural)
{
    wrlock(reg);
    int found = unlink_crd_locked(reg, group, plural);
    unlock(reg);
    return found ? 0 : FL_ENOTFOUND;
}

/* ---------------------------------------------------------------- discovery input */

static int split_gv(const char *gv, char *group, size_t gsize, const char **version)
{
    const char *slash = strchr(gv, '/');
    if (!slash) {
        group[0] = 0;
        *version = gv;
        return 0;
    }
    if ((size_t)(slash - gv) >= gsize)
        return FL_EPARSE;
    memcpy(group, gv, (size_t)(slash - gv));
    group[slash - gv] = 0;
    *version = slash + 1;
    return 0;
}

/* Build a heap entry for a top-level APIResource r with its "r/x" entries
 * from list. NULL on ENOMEM. */
static entry *discovery_entry(const char *group, const char *version, const json_t *r,
                              const json_t *all)
{
    entry *e = fl_calloc(1, sizeof *e);
    const char *name = json_string_value(json_object_get(r, "name"));
    const char *kind = json_string_value(json_object_get(r, "kind"));
    const char *sing = json_string_value(json_object_get(r, "singularName"));
    const char *hash = json_string_value(json_object_get(r, "storageVersionHash"));
    char buf[FL_KUBE_NAME_MAX + 8];
    size_t i, ns = 0, plen = strlen(name);
    const json_t *x;
    if (!e)
        return NULL;
    fl_kube_resource *p = &e->pub;
    fl_kube_subresource *sr = own(e, fl_calloc(json_array_size(all) + 1, sizeof *sr));
    p->group = own_str(e, group);
    p->version = own_str(e, version);
    p->resource = own_str(e, name);
    p->kind = own_str(e, kind);
    lower_copy(buf, kind, sizeof buf);
    p->singular = own_str(e, sing && sing[0] ? sing : buf);
    p->discovery_singular = own_str(e, sing);
    snprintf(buf, sizeof buf, "%sList", kind);
    p->list_kind = own_str(e, buf);
    p->namespaced = json_is_true(json_object_get(r, "namespaced"));
    p->verbs = own_str_array(e, json_object_get(r, "verbs"));
    p->short_names = own_str_array(e, json_object_get(r, "shortNames"));
    p->categories = own_str_array(e, json_object_get(r, "categories"));
    p->storage_version_hash = hash ? own_str(e, hash) : NULL;
    p->origin = FL_KUBE_ORIGIN_DISCOVERY;
    p->served = true;
    json_array_foreach(all, i, x) {
        const char *xn = json_string_value(json_object_get(x, "name"));
        if (!sr || !xn || strncmp(xn, name, plen) != 0 || xn[plen] != '/')
            continue;
        const char *xk = json_string_value(json_object_get(x, "kind"));
        sr[ns].name = own_str(e, xn + plen + 1);
        sr[ns].kind = own_str(e, xk);
        sr[ns].group = own_str(e, json_string_value(json_object_get(x, "group")));
        sr[ns].version = own_str(e, json_string_value(json_object_get(x, "version")));
        sr[ns].verbs = own_str_array(e, json_object_get(x, "verbs"));
        if (!sr[ns].name || !sr[ns].kind || !sr[ns].group || !sr[ns].version || !sr[ns].verbs)
            sr = NULL;
        else
            ns++;
    }
    p->subresources = sr;
    p->n_subresources = ns;
    e->live = true;
    if (!sr || !p->group || !p->version || !p->resource || !p->kind || !p->singular ||
        !p->discovery_singular || !p->list_kind || !p->verbs || !p->short_names || !p->categories ||
        (hash && !p->storage_version_hash)) {
        entry_free(e);
        return NULL;
    }
    return e;
}

static int check_api_resource(const json_t *r, size_t i, fl_err *err)
{
    const char *name = json_string_value(json_object_get(r, "name"));
    const char *kind = json_string_value(json_object_get(r, "kind"));
    if (!name_ok(name) || !name_ok(kind))
        return fl_err_set(err, FL_EPARSE, "APIResourceList: resources[%zu] needs name and kind", i);
    return 0;
}

int fl_kube_resources_add_discovery(fl_kube_resources *reg, const json_t *list, fl_err *err)
{
    const char *gv = json_string_value(json_object_get(list, "groupVersion"));
    const json_t *res = json_object_get(list, "resources");
    char group[FL_KUBE_NAME_MAX + 1];
    const char *version;
    const json_t *r;
    size_t i;
    int added = 0, rc = 0;
    if (!gv || !json_is_array(res) || split_gv(gv, group, sizeof group, &version) < 0 ||
        !name_ok(version))
        return fl_err_set(err, FL_EPARSE, "APIResourceList: groupVersion and resources required");
    json_array_foreach(res, i, r) {
        rc = check_api_resource(r, i, err);
        if (rc < 0)
            return rc;
    }
    json_array_foreach(res, i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        if (strchr(name, '/'))
            continue;
        rdlock(reg);
        bool known = find_locked(reg, group, version, name) != NULL;
        unlock(reg);
        if (known)
            continue;
        entry *e = discovery_entry(group, version, r, res);
        if (!e)
            return fl_err_set(err, -ENOMEM, "out of memory");
        wrlock(reg);
        rc = find_locked(reg, group, version, name) ? 1 : reg_append(reg, e);
        unlock(reg);
        if (rc != 0)
            entry_free(e);
        if (rc < 0)
            return fl_err_set(err, rc, "resource registry: %s", fl_strerror(rc));
        if (rc == 0)
            added++;
    }
    return added;
}
