/*
 * kube/table.h: server-side meta.k8s.io/v1 Table rendering, as
 * kube-apiserver v1.26 answers `Accept: application/json;as=Table;v=v1;
 * g=meta.k8s.io` (golden 04-responses/table-*.json): the printers of
 * kubernetes/pkg/printers/internalversion for the built-in kinds, the
 * CRD additionalPrinterColumns for custom resources, and the default
 * (Name, Age) for anything else. Also HumanDuration, as
 * k8s.io/apimachinery/pkg/util/duration formats ages.
 *
 * Printers (v1.26 columns, always "wide" as the server renders them):
 * Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision,
 * Job, CronJob, Service, Endpoints, Node, Event (core), Namespace, Secret,
 * ServiceAccount, ConfigMap, ResourceQuota, Lease, Mutating/Validating-
 * WebhookConfiguration. Custom resources: Name + the CRD's
 * additionalPrinterColumns (or the default Age column). Anything else,
 * CustomResourceDefinitions included: Name, Created At (as upstream's
 * default table convertor).
 *
 * Threads: any; everything here is pure (no state). Input objects are
 * borrowed and not modified.
 */
#ifndef FL_KUBE_TABLE_H
#define FL_KUBE_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "kube/resource.h"

/* What each row's "object" holds (?includeObject=). */
typedef enum {
    FL_KUBE_TABLE_METADATA = 0, /* default: PartialObjectMetadata (kind, apiVersion, metadata) */
    FL_KUBE_TABLE_OBJECT,       /* includeObject=Object: the full object (with kind/apiVersion) */
    FL_KUBE_TABLE_NONE,         /* includeObject=None: "object": null (as upstream) */
} fl_kube_table_include;

/* Parse "None" / "Object" / "Metadata" (the query parameter). NULL or ""
 * gives METADATA. Returns 0 or FL_EPARSE. */
int fl_kube_table_include_parse(const char *s, fl_kube_table_include *out);

/* Value for the optional leading cluster column of a row; return a
 * borrowed string or NULL (then the shadow.clusterpedia.io/cluster-name
 * annotation is used, and "" if absent). */
typedef const char *(*fl_kube_table_cluster_fn)(const json_t *obj, void *ud);

typedef struct fl_kube_table_opts {
    int64_t now; /* unix seconds for Age cells; 0 = current time */
    fl_kube_table_include include;
    const char *api_version;      /* "meta.k8s.io/v1" (NULL) or "meta.k8s.io/v1beta1" */
    const char *resource_version; /* Table metadata.resourceVersion; NULL = omitted */
    const char *continue_token;   /* metadata.continue; NULL/"" = omitted */
    int64_t remaining_item_count; /* metadata.remainingItemCount; < 0 = omitted */
    /* Search API: a first column {"name":"Cluster","type":"string"} whose
     * cell comes from cluster_fn or the cluster-name annotation. */
    bool cluster_column;
    fl_kube_table_cluster_fn cluster_fn;
    void *cluster_ud;
    /* Watch events after the first: "columnDefinitions": null (golden
     * watch-pods-table-format). The first event and lists: false. */
    bool omit_column_definitions;
} fl_kube_table_opts;
#define FL_KUBE_TABLE_OPTS_INIT                                                                    \
    {                                                                                              \
        .include = FL_KUBE_TABLE_METADATA, .remaining_item_count = -1                              \
    }

/* Render objs[0..n) (objects of type r: r selects the printer; a CRD
 * resource uses its printer columns) as a Table. objs are borrowed;
 * objects without kind/apiVersion (list items) get r's in PartialObject-
 * Metadata / full-object rows. n == 0 gives "rows": []. For a single-
 * object GET pass n = 1 and the object's resourceVersion as
 * opts->resource_version. For a watch event, pass the one object with
 * its resourceVersion (omit_column_definitions after the first event)
 * and send {"type": ..., "object": <this Table>}.
 * Returns 0 and a new reference in *out, FL_EPARSE (an object is not a
 * JSON object), -ENOMEM. *out written only on success. */
int fl_kube_table_render(const fl_kube_resource *r, json_t *const *objs, size_t n,
                         const fl_kube_table_opts *opts, json_t **out, fl_err *err);

/* Same, for the "items" array of a List object (borrowed). */
int fl_kube_table_render_list(const fl_kube_resource *r, const json_t *list,
                              const fl_kube_table_opts *opts, json_t **out, fl_err *err);

/* The columnDefinitions array r's Tables use (with the cluster column if
 * asked). New reference, or NULL on -ENOMEM. */
json_t *fl_kube_table_columns(const fl_kube_resource *r, bool cluster_column);

/* duration.HumanDuration(d) for d = seconds (negative allowed):
 * "<invalid>", "0s", "47s", "2m43s", "3h", "2d5h", "3y"... as upstream.
 * out must hold 32 bytes. */
void fl_kube_human_duration(int64_t seconds, char out[32]);
/* Same with nanosecond precision (time.Duration), for upstream's tests. */
void fl_kube_human_duration_ns(int64_t ns, char out[32]);

/* Evaluate a kubectl/CRD JSONPath (".spec.size", ".status.conditions[?(@.type==\"Ready\")].status",
 * ".spec.tags[0]", ".metadata.labels.app") against obj. Returns a borrowed
 * value or NULL when missing or the path is unsupported. */
const json_t *fl_kube_jsonpath_get(const json_t *obj, const char *path);

#endif
