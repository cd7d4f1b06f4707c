/*
 * kube/table.c: server-side Table rendering (see kube/table.h). The column
 * definitions and cell logic port kubernetes v1.26
 * pkg/printers/internalversion (rendered with Wide: true, as the
 * apiserver does), the apiextensions-apiserver tableconvertor for custom
 * resources, and the default convertor (Name, Created At) for the rest.
 * Pure functions over borrowed jansson values; no state, any thread.
 */
#include "kube/table.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/json.h"

/* A column definition. Descriptions are the upstream SwaggerDoc texts. */
typedef struct col {
    const char *name, *type, *format;
    int priority;
    const char *desc;
} col;

static const char D_NAME[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: http://kubernetes.io/docs/user-guide/identifiers#names";
static const char D_AGE[] =
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
static const col C_POD[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."},
    {"Status", "string", "", 0, "The aggregate status of the containers in this pod."},
    {"Restarts", "string", "", 0,
     "The number of times the containers in this pod have been restarted and when the last "
     "container in this pod has restarted."},
    {"Age", "string", "", 0, D_AGE},
    {"IP", "string", "", 1,
     "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
     "allocated."},
    {"Node", "string", "", 1,
     "NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the "
     "scheduler simply schedules this pod onto that node, assuming that it fits resource "
     "requirements."},
    {"Nominated Node", "string", "", 1,
     "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot "
     "be scheduled right away as preemption victims receive their graceful termination periods. "
     "This field does not guarantee that the pod will be scheduled on this node. Scheduler may "
     "decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also "
     "decide to give the resources on this node to a higher priority pod that is created after "
     "preemption. As a result, this field may be different than PodSpec.nodeName when the pod is "
     "scheduled."},
    {"Readiness Gates", "string", "", 1,
     "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when "
     "all its containers are ready AND all conditions specified in the readiness gates have status "
     "equal to \"True\" More info: "
     "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"},
};
static const col C_DEPLOY[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Ready", "string", "", 0, "Number of the pod with ready state"},
    {"Up-to-date", "string", "", 0,
     "Total number of non-terminated pods targeted by this deployment that have the desired "
     "template spec."},
    {"Available", "string", "", 0,
     "Total number of available pods (ready for at least minReadySeconds) targeted by this "
     "deployment."},
    {"Age", "string", "", 0, D_AGE},
    {"Containers", "string", "", 1, "Names of each container in the template."},
    {"Images", "string", "", 1, "Images referenced by each container in the template."},
    {"Selector", "string", "", 1,
     "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
     "ones affected by this deployment."},
};
static const col C_RS[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Desired", "integer", "", 0,
     "Replicas is the number of desired replicas. This is a pointer to distinguish between "
     "explicit zero and unspecified. Defaults to 1. More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
     "#what-is-a-replicationcontroller"},
    {"Current", "integer", "", 0,
     "Replicas is the most recently observed number of replicas. More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
     "#what-is-a-replicationcontroller"},
    {"Ready", "integer", "", 0,
     "readyReplicas is the number of pods targeted by this ReplicaSet with a Ready Condition."},
    {"Age", "string", "", 0, D_AGE},
    {"Containers", "string", "", 1, "Names of each container in the template."},
    {"Images", "string", "", 1, "Images referenced by each container in the template."},
    {"Selector", "string", "", 1,
     "Selector is a label query over pods that should match the replica count. If the selector is "
     "empty, it is defaulted to the labels present on the pod template. Label keys and values that "
     "must match in order to be controlled by this replica set. More info: "
     "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"},
};
static const col C_DS[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Desired", "integer", "", 0,
     "The total number of nodes that should be running the daemon pod (including nodes correctly "
     "running the daemon pod). More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"},
    {"Current", "integer", "", 0,
     "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
     "daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"},
    {"Ready", "integer", "", 0,
     "numberReady is the number of nodes that should be running the daemon pod and have one or "
     "more of the daemon pod running with a Ready Condition."},
    {"Up-to-date", "integer", "", 0,
     "The total number of nodes that are running updated daemon pod"},
    {"Available", "integer", "", 0,
     "The number of nodes that should be running the daemon pod and have one or more of the daemon "
     "pod running and available (ready for at least spec.minReadySeconds)"},
    {"Node Selector", "string", "", 0,
     "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which "
     "must match a node's labels for the pod to be scheduled on that node. More info: "
     "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"},
    {"Age", "string", "", 0, D_AGE},
    {"Containers", "string", "", 1, "Names of each container in the template."},
    {"Images", "string", "", 1, "Images referenced by each container in the template."},
    {"Selector", "string", "", 1,
     "A label query over pods that are managed by the daemon set. Must match in order to be "
     "controlled. If empty, defaulted to labels on Pod template. More info: "
     "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"},
};
static const col C_STS[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Ready", "string", "", 0, "Number of the pod with ready state"},
    {"Age", "string", "", 0, D_AGE},
    {"Containers", "string", "", 1, "Names of each container in the template."},
    {"Images", "string", "", 1, "Images referenced by each container in the template."},
};
static const col C_JOB[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Completions", "string", "", 0, "The number of pods which reached phase Succeeded."},
    {"Duration", "string", "", 0, "Time required to complete the job."},
    {"Age", "string", "", 0, D_AGE},
    {"Containers", "string", "", 1, "Names of each container in the template."},
    {"Images", "string", "", 1, "Images referenced by each container in the template."},
    {"Selector", "string", "", 1,
     "A label query over pods that should match the pod count. Normally, the system sets this "
     "field for you. More info: "
     "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"},
};
static const col C_CJ[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Schedule", "string", "", 0,
     "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."},
    {"Suspend", "boolean", "", 0,
     "This flag tells the controller to suspend subsequent executions, it does not apply to "
     "already started executions.  Defaults to false."},
    {"Active", "integer", "", 0, "A list of pointers to currently running jobs."},
    {"Last Schedule", "string", "", 0,
     "Information when was the last time the job was successfully scheduled."},
    {"Age", "string", "", 0, D_AGE},
    {"Containers", "string", "", 1, "Names of each container in the template."},
    {"Images", "string", "", 1, "Images referenced by each container in the template."},
    {"Selector", "string", "", 1,
     "A label query over pods that should match the pod count. Normally, the system sets this "
     "field for you. More info: "
     "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"},
};
static const col C_SVC[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Type", "string", "", 0,
     "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
     "ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a "
     "cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the "
     "selector or if that is not specified, by manual construction of an Endpoints object or "
     "EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the "
     "endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds "
     "on ClusterIP and allocates a port on every node which routes to the same endpoints as the "
     "clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if "
     "supported in the current cloud) which routes to the same endpoints as the clusterIP. "
     "\"ExternalName\" aliases this service to the specified externalName. Several other fields do "
     "not apply to ExternalName services. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"
     "#publishing-services-service-types"},
    {"Cluster-IP", "string", "", 0,
     "clusterIP is the IP address of the service and is usually assigned randomly. If an address "
     "is specified manually, is in-range (as per system configuration), and is not in use, it will "
     "be allocated to the service; otherwise creation of the service will fail. This field may not "
     "be changed through updates unless the type field is also being changed to ExternalName "
     "(which requires this field to be blank) or the type field is being changed from ExternalName "
     "(in which case this field may optionally be specified, as describe above).  Valid values are "
     "\"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a "
     "\"headless service\" (no virtual IP), which is useful when direct endpoint connections are "
     "preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and "
     "LoadBalancer. If this field is specified when creating a Service of type ExternalName, "
     "creation will fail. This field will be wiped when updating a Service to type ExternalName. "
     "More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"
     "#virtual-ips-and-service-proxies"},
    {"External-IP", "string", "", 0,
     "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
     "traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible "
     "for ensuring that traffic arrives at a node with this IP.  A common example is external "
     "load-balancers that are not part of the Kubernetes system."},
    {"Port(s)", "string", "", 0,
     "The list of ports that are exposed by this service. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"
     "#virtual-ips-and-service-proxies"},
    {"Age", "string", "", 0, D_AGE},
    {"Selector", "string", "", 1,
     "Route service traffic to pods with label keys and values matching this selector. If empty or "
     "not present, the service is assumed to have an external process managing its endpoints, "
     "which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and "
     "LoadBalancer. Ignored if type is ExternalName. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"},
};
static const col C_EP[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Endpoints", "string", "", 0,
     "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
     "according to the IPs they share. A single address with multiple ports, some of which are "
     "ready and some of which are not (because they come from different containers) will result in "
     "the address being displayed in different subsets for the different ports. No address will "
     "appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and "
     "ports that comprise a service."},
    {"Age", "string", "", 0, D_AGE},
};
static const col C_NODE[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Status", "string", "", 0, "The status of the node"},
    {"Roles", "string", "", 0, "The roles of the node"},
    {"Age", "string", "", 0, D_AGE},
    {"Version", "string", "", 0, "Kubelet Version reported by the node."},
    {"Internal-IP", "string", "", 1,
     "List of addresses reachable to the node. Queried from cloud provider, if available. More "
     "info: https://kubernetes.io/docs/concepts/nodes/node/#addresses Note: This field is declared "
     "as mergeable, but the merge key is not sufficiently unique, which can cause data corruption "
     "when it is merged. Callers should instead use a full-replacement patch. See "
     "https://pr.k8s.io/79391 for an example."},
    {"External-IP", "string", "", 1,
     "List of addresses reachable to the node. Queried from cloud provider, if available. More "
     "info: https://kubernetes.io/docs/concepts/nodes/node/#addresses Note: This field is declared "
     "as mergeable, but the merge key is not sufficiently unique, which can cause data corruption "
     "when it is merged. Callers should instead use a full-replacement patch. See "
     "https://pr.k8s.io/79391 for an example."},
    {"OS-Image", "string", "", 1,
     "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."},
    {"Kernel-Version", "string", "", 1,
     "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."},
    {"Container-Runtime", "string", "", 1,
     "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
     "containerd://1.4.2)."},
};
static const col C_EVENT[] = {
    {"Last Seen", "string", "", 0,
     "The time at which the most recent occurrence of this event was recorded."},
    {"Type", "string", "", 0,
     "Type of this event (Normal, Warning), new types could be added in the future"},
    {"Reason", "string", "", 0,
     "This should be a short, machine understandable string that gives the reason for the "
     "transition into the object's current status."},
    {"Object", "string", "", 0, "The object that this event is about."},
    {"Subobject", "string", "", 1,
     "If referring to a piece of an object instead of an entire object, this string should contain "
     "a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For "
     "example, if the object reference is to a container within a pod, this would take on a value "
     "like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that "
     "triggered the event) or if no container name is specified \"spec.containers[2]\" (container "
     "with index 2 in this pod). This syntax is chosen only to have some well-defined way of "
     "referencing a part of an object."},
    {"Source", "string", "", 1,
     "The component reporting this event. Should be a short machine understandable string."},
    {"Message", "string", "", 0, "A human-readable description of the status of this operation."},
    {"First Seen", "string", "", 1,
     "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"},
    {"Count", "string", "", 1, "The number of times this event has occurred."},
    {"Name", "string", "name", 1, D_NAME},
};
static const col C_NS[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Status", "string", "", 0, "The status of the namespace"},
    {"Age", "string", "", 0, D_AGE},
};
static const col C_SECRET[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Type", "string", "", 0,
     "Used to facilitate programmatic handling of secret data. More info: "
     "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"},
    {"Data", "string", "", 0,
     "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or "
     "'.'. The serialized form of the secret data is a base64 encoded string, representing the "
     "arbitrary (possibly non-string) data value here. Described in "
     "https://tools.ietf.org/html/rfc4648#section-4"},
    {"Age", "string", "", 0, D_AGE},
};
static const col C_SA[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Secrets", "string", "", 0,
     "Secrets is a list of the secrets in the same namespace that pods running using this "
     "ServiceAccount are allowed to use. Pods are only limited to this list if this service "
     "account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". This "
     "field should not be used to find auto-generated service account token secrets for use "
     "outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or "
     "service account token secrets can be manually created. More info: "
     "https://kubernetes.io/docs/concepts/configuration/secret"},
    {"Age", "string", "", 0, D_AGE},
};
static const col C_CM[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Data", "string", "", 0,
     "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', "
     "'_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys "
     "stored in Data must not overlap with the keys in the BinaryData field, this is enforced "
     "during validation process."},
    {"Age", "string", "", 0, D_AGE},
};
static const col C_QUOTA[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Age", "string", "", 0, D_AGE},
    {"Request", "string", "", 0,
     "Request represents a minimum amount of cpu/memory that a container may consume."},
    {"Limit", "string", "", 0,
     "Limits control the maximum amount of cpu/memory that a container may use independent of "
     "contention on the node."},
};
static const col C_CR[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Controller", "string", "", 0, "Controller of the object"},
    {"Revision", "string", "", 0,
     "Revision indicates the revision of the state represented by Data."},
    {"Age", "string", "", 0, D_AGE},
};
static const col C_LEASE[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Holder", "string", "", 0, "The holder of the lease"},
    {"Age", "string", "", 0, D_AGE},
};
static const col C_WEBHOOK[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Webhooks", "integer", "", 0,
     "Webhooks indicates the number of webhooks registered in this configuration"},
    {"Age", "string", "", 0, D_AGE},
};
static const col C_DEFAULT[] = {
    {"Name", "string", "name", 0, D_NAME},
    {"Created At", "date", "", 0, D_AGE},
};

/* ---------------------------------------------------------------- HumanDuration */

void fl_kube_human_duration_ns(int64_t ns, char out[32])
{
    const int64_t S = 1000000000LL, M = 60 * S, H = 60 * M;
    int64_t seconds = ns / S, minutes, hours;
    if (seconds < -1) {
        snprintf(out, 32, "<invalid>");
        return;
    }
    if (seconds < 0) {
        snprintf(out, 32, "0s");
        return;
    }
    if (seconds < 60 * 2) {
        snprintf(out, 32, "%llds", (long long)seconds);
        return;
    }
    minutes = ns / M;
    if (minutes < 10) {
        int64_t s = (ns / S) % 60;
        if (s == 0)
            snprintf(out, 32, "%lldm", (long long)minutes);
        else
            snprintf(out, 32, "%lldm%llds", (long long)minutes, (long long)s);
        return;
    }
    if (minutes < 60 * 3) {
        snprintf(out, 32, "%lldm", (long long)minutes);
        return;
    }
    hours = ns / H;
    if (hours < 8) {
        int64_t m = (ns / M) % 60;
        if (m == 0)
            snprintf(out, 32, "%lldh", (long long)hours);
        else
            snprintf(out, 32, "%lldh%lldm", (long long)hours, (long long)m);
    } else if (hours < 48) {
        snprintf(out, 32, "%lldh", (long long)hours);
    } else if (hours < 24 * 8) {
        int64_t h = hours % 24;
        if (h == 0)
            snprintf(out, 32, "%lldd", (long long)(hours / 24));
        else
            snprintf(out, 32, "%lldd%lldh", (long long)(hours / 24), (long long)h);
    } else if (hours < 24 * 365 * 2) {
        snprintf(out, 32, "%lldd", (long long)(hours / 24));
    } else if (hours < 24 * 365 * 8) {
        int64_t dy = (hours / 24) % 365;
        if (dy == 0)
            snprintf(out, 32, "%lldy", (long long)(hours / 24 / 365));
        else
            snprintf(out, 32, "%lldy%lldd", (long long)(hours / 24 / 365), (long long)dy);
    } else {
        snprintf(out, 32, "%lldy", (long long)(hours / 24 / 365));
    }
}

void fl_kube_human_duration(int64_t seconds, char out[32])
{
    const int64_t cap = INT64_MAX / 1000000000LL;
    if (seconds > cap)
        seconds = cap;
    if (seconds < -cap)
        seconds = -cap;
    fl_kube_human_duration_ns(seconds * 1000000000LL, out);
}

/* ---------------------------------------------------------------- row building */

/* Cells under construction. oom is sticky: once set, the row is dropped. */
typedef struct rowb {
    json_t *cells;
    json_t *conditions; /* TableRow conditions (Completed pods), or NULL */
    int64_t now;
    bool oom;
} rowb;

static void add(rowb *b, json_t *v)
{
    if (json_array_append_new(b->cells, v) != 0)
        b->oom = true;
}
static void add_str(rowb *b, const char *s)
{
    add(b, json_string(s ? s : ""));
}
static void add_int(rowb *b, int64_t v)
{
    add(b, json_integer(v));
}

/* The string value of v, or "" (NULL or not a string). */
static const char *sval(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

/* The string member key of o, or dflt. */
static const char *mstr(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static const char *str_at(const json_t *obj, const char *path)
{
    return fl_obj_str(obj, path);
}
static const char *str_or(const json_t *obj, const char *path, const char *dflt)
{
    const char *s = fl_obj_str(obj, path);
    return s && s[0] ? s : dflt;
}
static int64_t int_at(const json_t *obj, const char *path, int64_t dflt)
{
    const json_t *v = fl_obj_get(obj, path);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}
static size_t len_at(const json_t *obj, const char *path)
{
    const json_t *v = fl_obj_get(obj, path);
    return json_is_array(v) ? json_array_size(v) : json_is_object(v) ? json_object_size(v) : 0;
}

/* translateTimestampSince: "<unknown>" for a missing/zero time. */
static void since(const char *ts, int64_t now, char out[32])
{
    int64_t t;
    if (!ts || !ts[0] || fl_time_parse(ts, &t) < 0) {
        snprintf(out, 32, "<unknown>");
        return;
    }
    fl_kube_human_duration(now - t, out);
}
static void add_since(rowb *b, const char *ts)
{
    char d[32];
    since(ts, b->now, d);
    add_str(b, d);
}
static void add_age(rowb *b, const json_t *obj)
{
    add_since(b, str_at(obj, "metadata.creationTimestamp"));
}
static void add_name(rowb *b, const json_t *obj)
{
    add_str(b, str_at(obj, "metadata.name"));
}

/* layoutContainerCells: "a,b" names and images. */
static void add_containers(rowb *b, const json_t *containers)
{
    fl_buf names = FL_BUF_INIT(1 << 20), images = FL_BUF_INIT(1 << 20);
    size_t i;
    const json_t *c;
    int rc = 0;
    json_array_foreach(containers, i, c) {
        const char *sep = i ? "," : "";
        const char *n = json_string_value(json_object_get(c, "name"));
        const char *im = json_string_value(json_object_get(c, "image"));
        rc |= fl_buf_printf(&names, "%s%s", sep, n ? n : "");
        rc |= fl_buf_printf(&images, "%s%s", sep, im ? im : "");
    }
    if (rc)
        b->oom = true;
    add_str(b, names.data ? names.data : "");
    add_str(b, images.data ? images.data : "");
    fl_buf_done(&names);
    fl_buf_done(&images);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of a JSON object, sorted (borrowed strings); *n set. */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
    size_t cnt = json_is_object(obj) ? json_object_size(obj) : 0, i = 0;
    const char **k = fl_calloc(cnt + 1, sizeof *k);
    const char *key;
    const json_t *v;
    *n = 0;
    if (!k)
        return NULL;
    json_object_foreach((json_t *)obj, key, v)
        k[i++] = key;
    qsort(k, i, sizeof *k, cmp_str);
    *n = i;
    return k;
}

/* labels.FormatLabels: "k=v,k2=v2" sorted, "<none>" when empty. */
static void add_labels(rowb *b, const json_t *m)
{
    size_t n = 0;
    const char **k = sorted_keys(m, &n);
    fl_buf out = FL_BUF_INIT(1 << 20);
    int rc = k ? 0 : -ENOMEM;
    for (size_t i = 0; k && i < n; i++)
        rc |= fl_buf_printf(&out, "%s%s=%s", i ? "," : "", k[i], sval(json_object_get(m, k[i])));
    if (rc)
        b->oom = true;
    add_str(b, n ? out.data : "<none>");
    fl_buf_done(&out);
    free(k);
}

/* One LabelSelectorRequirement in labels.Selector.String() form. */
static int selector_expr(fl_buf *out, const json_t *e)
{
    const char *key = json_string_value(json_object_get(e, "key"));
    const char *op = json_string_value(json_object_get(e, "operator"));
    const json_t *vals = json_object_get(e, "values");
    size_t n = 0;
    const char **v = NULL;
    int rc;
    n = json_is_array(vals) ? json_array_size(vals) : 0;
    if (!key || !op)
        return FL_EPARSE;
    /* labels.NewRequirement: Exists/DoesNotExist take no values, In/NotIn some */
    if (strcmp(op, "Exists") == 0)
        return n ? FL_EPARSE : fl_buf_puts(out, key);
    if (strcmp(op, "DoesNotExist") == 0)
        return n ? FL_EPARSE : fl_buf_printf(out, "!%s", key);
    if ((strcmp(op, "In") != 0 && strcmp(op, "NotIn") != 0) || n == 0)
        return FL_EPARSE;
    /* values are a set: sorted */
    v = fl_calloc(n + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = sval(json_array_get(vals, i));
    qsort(v, n, sizeof *v, cmp_str);
    rc = fl_buf_printf(out, "%s %s (", key, strcmp(op, "In") == 0 ? "in" : "notin");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fl_buf_printf(out, "%s%s", i ? "," : "", v[i]);
    if (rc == 0)
        rc = fl_buf_puts(out, ")");
    free(v);
    return rc;
}

/* metav1.LabelSelectorAsSelector(sel).String(): matchLabels become
 * "k=v", all requirements sorted by key; "<invalid>" on bad operators. */
typedef struct req {
    const char *key;
    const json_t *expr; /* NULL for matchLabels k=v */
    const char *value;
} req;

static int cmp_req(const void *a, const void *b)
{
    return strcmp(((const req *)a)->key, ((const req *)b)->key);
}

/* How a printer shows a selector: Deployments print selector.String()
 * ("" when empty, "<invalid>" on error); the others use
 * metav1.FormatLabelSelector ("<none>" when empty, "<error>" on error). */
typedef enum { SEL_STRING, SEL_FORMAT } sel_style;

static void add_selector(rowb *b, const json_t *sel, sel_style style)
{
    const json_t *ml = json_object_get(sel, "matchLabels");
    const json_t *me = json_object_get(sel, "matchExpressions");
    size_t n = len_at(sel, "matchLabels") + (json_is_array(me) ? json_array_size(me) : 0), i = 0;
    req *r = fl_calloc(n + 1, sizeof *r);
    fl_buf out = FL_BUF_INIT(1 << 20);
    const char *key;
    const json_t *v;
    int rc = r ? 0 : -ENOMEM;
    if (r && json_is_object(ml))
        json_object_foreach((json_t *)ml, key, v)
            r[i++] = (req){key, NULL, json_string_value(v)};
    for (size_t j = 0; r && json_is_array(me) && j < json_array_size(me); j++) {
        const json_t *e = json_array_get(me, j);
        const char *k = json_string_value(json_object_get(e, "key"));
        r[i++] = (req){k ? k : "", e, NULL};
    }
    if (r)
        qsort(r, i, sizeof *r, cmp_req);
    for (size_t j = 0; r && j < i && rc == 0; j++) {
        if (j)
            rc = fl_buf_puts(&out, ",");
        if (rc == 0 && r[j].expr)
            rc = selector_expr(&out, r[j].expr);
        else if (rc == 0)
            rc = fl_buf_printf(&out, "%s=%s", r[j].key, r[j].value ? r[j].value : "");
    }
    if (rc == -ENOMEM || rc == -E2BIG)
        b->oom = true;
    if (rc != 0)
        add_str(b, style == SEL_FORMAT ? "<error>" : "<invalid>");
    else if (out.len == 0)
        add_str(b, style == SEL_FORMAT ? "<none>" : "");
    else
        add_str(b, out.data);
    fl_buf_done(&out);
    free(r);
}

/* ---------------------------------------------------------------- printers */

/* Find a container status's state member ("waiting", ...) or NULL. */
static const json_t *state(const json_t *cs, const char *which)
{
    return json_object_get(json_object_get(cs, "state"), which);
}

/* The later of *best and the lastState.terminated.finishedAt of cs. */
static void last_restart(const json_t *cs, int64_t *best)
{
    const json_t *t = json_object_get(json_object_get(cs, "lastState"), "terminated");
    const char *fin = json_string_value(json_object_get(t, "finishedAt"));
    int64_t ts;
    if (fin && fl_time_parse(fin, &ts) == 0 && ts > *best)
        *best = ts;
}

/* Terminated reason, or Signal:N / ExitCode:N; prefix "Init:" or "". */
static void terminated_reason(const json_t *t, const char *prefix, char *out, size_t size)
{
    const char *reason = json_string_value(json_object_get(t, "reason"));
    int64_t sig = int_at(t, "signal", 0), code = int_at(t, "exitCode", 0);
    if (reason && reason[0])
        snprintf(out, size, "%s%s", prefix, reason);
    else if (sig != 0)
        snprintf(out, size, "%sSignal:%lld", prefix, (long long)sig);
    else
        snprintf(out, size, "%sExitCode:%lld", prefix, (long long)code);
}

/* The init-container pass of printPod; true while initializing. */
static bool pod_init_status(const json_t *pod, char *reason, size_t size, int64_t *restarts,
                            int64_t *last)
{
    const json_t *ics = fl_obj_get(pod, "status.initContainerStatuses");
    size_t i, ninit = len_at(pod, "spec.initContainers");
    const json_t *cs;
    json_array_foreach(ics, i, cs) {
        const json_t *term = state(cs, "terminated"), *wait = state(cs, "waiting");
        const char *wr = json_string_value(json_object_get(wait, "reason"));
        *restarts += int_at(cs, "restartCount", 0);
        last_restart(cs, last);
        if (term && int_at(term, "exitCode", 0) == 0)
            continue;
        if (term)
            terminated_reason(term, "Init:", reason, size);
        else if (wait && wr && wr[0] && strcmp(wr, "PodInitializing") != 0)
            snprintf(reason, size, "Init:%s", wr);
        else
            snprintf(reason, size, "Init:%zu/%zu", i, ninit);
        return true;
    }
    return false;
}

static bool pod_ready_condition(const json_t *pod)
{
    const json_t *conds = fl_obj_get(pod, "status.conditions"), *c;
    size_t i;
    json_array_foreach(conds, i, c) {
        if (strcmp(mstr(c, "type", ""), "Ready") == 0 && strcmp(mstr(c, "status", ""), "True") == 0)
            return true;
    }
    return false;
}

/* The container pass of printPod (newest status wins: walk backwards). */
static int64_t pod_containers(const json_t *pod, char *reason, size_t size, int64_t *restarts,
                              int64_t *last)
{
    const json_t *css = fl_obj_get(pod, "status.containerStatuses");
    size_t n = json_is_array(css) ? json_array_size(css) : 0;
    int64_t ready = 0;
    bool running = false;
    *restarts = 0;
    for (size_t k = n; k-- > 0;) {
        const json_t *cs = json_array_get(css, k);
        const json_t *wait = state(cs, "waiting"), *term = state(cs, "terminated");
        const char *wr = json_string_value(json_object_get(wait, "reason"));
        const char *tr = json_string_value(json_object_get(term, "reason"));
        *restarts += int_at(cs, "restartCount", 0);
        last_restart(cs, last);
        if (wait && wr && wr[0])
            snprintf(reason, size, "%s", wr);
        else if (term && tr && tr[0])
            snprintf(reason, size, "%s", tr);
        else if (term)
            terminated_reason(term, "", reason, size);
        else if (json_is_true(json_object_get(cs, "ready")) && state(cs, "running")) {
            running = true;
            ready++;
        }
    }
    if (strcmp(reason, "Completed") == 0 && running)
        snprintf(reason, size, "%s", pod_ready_condition(pod) ? "Running" : "NotReady");
    return ready;
}

static json_t *pod_row_conditions(const char *phase)
{
    bool ok = strcmp(phase, "Succeeded") == 0;
    if (!ok && strcmp(phase, "Failed") != 0)
        return NULL;
    return json_pack("[{s:s, s:s, s:s, s:s}]", "type", "Completed", "status", "True", "reason",
                     phase, "message",
                     ok ? "The pod has completed successfully." : "The pod failed.");
}

/* "n/m" readiness gates, or "<none>". */
static void pod_gates(const json_t *pod, char *out, size_t size)
{
    const json_t *gates = fl_obj_get(pod, "spec.readinessGates"), *g, *c;
    const json_t *conds = fl_obj_get(pod, "status.conditions");
    size_t i, j, ok = 0, n = json_is_array(gates) ? json_array_size(gates) : 0;
    if (n == 0) {
        snprintf(out, size, "<none>");
        return;
    }
    json_array_foreach(gates, i, g) {
        const char *t = mstr(g, "conditionType", "");
        json_array_foreach(conds, j, c) {
            if (strcmp(mstr(c, "type", ""), t) != 0)
                continue;
            if (strcmp(mstr(c, "status", ""), "True") == 0)
                ok++;
            break;
        }
    }
    snprintf(out, size, "%zu/%zu", ok, n);
}

static const char *pod_ip(const json_t *pod)
{
    const char *ip = json_string_value(
        json_object_get(json_array_get(fl_obj_get(pod, "status.podIPs"), 0), "ip"));
    if (!ip || !ip[0])
        ip = str_at(pod, "status.podIP");
    return ip && ip[0] ? ip : "<none>";
}

static void print_pod(rowb *b, const json_t *pod)
{
    char reason[256], buf[64], gates[48], ago[32];
    const char *phase = str_or(pod, "status.phase", "");
    const char *sreason = str_or(pod, "status.reason", "");
    const json_t *conds = fl_obj_get(pod, "status.conditions"), *c;
    int64_t restarts = 0, last = INT64_MIN, ready = 0;
    size_t i;
    snprintf(reason, sizeof reason, "%s", sreason[0] ? sreason : phase);
    json_array_foreach(conds, i, c) {
        if (strcmp(mstr(c, "type", ""), "PodScheduled") == 0 &&
            strcmp(mstr(c, "reason", ""), "SchedulingGated") == 0)
            snprintf(reason, sizeof reason, "SchedulingGated");
    }
    b->conditions = pod_row_conditions(phase);
    if (!pod_init_status(pod, reason, sizeof reason, &restarts, &last))
        ready = pod_containers(pod, reason, sizeof reason, &restarts, &last);
    if (fl_obj_get(pod, "metadata.deletionTimestamp"))
        snprintf(reason, sizeof reason, "%s",
                 strcmp(sreason, "NodeLost") == 0 ? "Unknown" : "Terminating");
    add_name(b, pod);
    snprintf(buf, sizeof buf, "%lld/%zu", (long long)ready, len_at(pod, "spec.containers"));
    add_str(b, buf);
    add_str(b, reason);
    if (restarts != 0 && last != INT64_MIN) {
        fl_kube_human_duration(b->now - last, ago);
        snprintf(buf, sizeof buf, "%lld (%s ago)", (long long)restarts, ago);
    } else {
        snprintf(buf, sizeof buf, "%lld", (long long)restarts);
    }
    add_str(b, buf);
    add_age(b, pod);
    add_str(b, pod_ip(pod));
    add_str(b, str_or(pod, "spec.nodeName", "<none>"));
    add_str(b, str_or(pod, "status.nominatedNodeName", "<none>"));
    pod_gates(pod, gates, sizeof gates);
    add_str(b, gates);
}

static void add_ratio(rowb *b, int64_t x, int64_t y)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%lld/%lld", (long long)x, (long long)y);
    add_str(b, buf);
}

static void print_deployment(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_ratio(b, int_at(o, "status.readyReplicas", 0), int_at(o, "spec.replicas", 1));
    add_int(b, int_at(o, "status.updatedReplicas", 0));
    add_int(b, int_at(o, "status.availableReplicas", 0));
    add_age(b, o);
    add_containers(b, fl_obj_get(o, "spec.template.spec.containers"));
    add_selector(b, fl_obj_get(o, "spec.selector"), SEL_STRING);
}

static void print_replicaset(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_int(b, int_at(o, "spec.replicas", 1));
    add_int(b, int_at(o, "status.replicas", 0));
    add_int(b, int_at(o, "status.readyReplicas", 0));
    add_age(b, o);
    add_containers(b, fl_obj_get(o, "spec.template.spec.containers"));
    add_selector(b, fl_obj_get(o, "spec.selector"), SEL_FORMAT);
}

static void print_daemonset(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_int(b, int_at(o, "status.desiredNumberScheduled", 0));
    add_int(b, int_at(o, "status.currentNumberScheduled", 0));
    add_int(b, int_at(o, "status.numberReady", 0));
    add_int(b, int_at(o, "status.updatedNumberScheduled", 0));
    add_int(b, int_at(o, "status.numberAvailable", 0));
    add_labels(b, fl_obj_get(o, "spec.template.spec.nodeSelector"));
    add_age(b, o);
    add_containers(b, fl_obj_get(o, "spec.template.spec.containers"));
    add_selector(b, fl_obj_get(o, "spec.selector"), SEL_FORMAT);
}

static void print_statefulset(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_ratio(b, int_at(o, "status.readyReplicas", 0), int_at(o, "spec.replicas", 1));
    add_age(b, o);
    add_containers(b, fl_obj_get(o, "spec.template.spec.containers"));
}

static void print_job(rowb *b, const json_t *o)
{
    char buf[64], dur[32] = "";
    int64_t ok = int_at(o, "status.succeeded", 0), par = int_at(o, "spec.parallelism", 0);
    const json_t *comp = fl_obj_get(o, "spec.completions");
    const char *start = str_at(o, "status.startTime"), *end = str_at(o, "status.completionTime");
    int64_t ts, te;
    if (json_is_integer(comp))
        snprintf(buf, sizeof buf, "%lld/%lld", (long long)ok, (long long)json_integer_value(comp));
    else if (par > 1)
        snprintf(buf, sizeof buf, "%lld/1 of %lld", (long long)ok, (long long)par);
    else
        snprintf(buf, sizeof buf, "%lld/1", (long long)ok);
    if (start && fl_time_parse(start, &ts) == 0) {
        if (!end || fl_time_parse(end, &te) < 0)
            te = b->now;
        fl_kube_human_duration(te - ts, dur);
    }
    add_name(b, o);
    add_str(b, buf);
    add_str(b, dur);
    add_age(b, o);
    add_containers(b, fl_obj_get(o, "spec.template.spec.containers"));
    add_selector(b, fl_obj_get(o, "spec.selector"), SEL_FORMAT);
}

static void print_cronjob(rowb *b, const json_t *o)
{
    const json_t *susp = fl_obj_get(o, "spec.suspend");
    const char *last = str_at(o, "status.lastScheduleTime");
    add_name(b, o);
    add_str(b, str_at(o, "spec.schedule"));
    add_str(b, json_is_boolean(susp) ? (json_is_true(susp) ? "True" : "False") : "<unset>");
    add_int(b, (int64_t)len_at(o, "status.active"));
    if (last)
        add_since(b, last);
    else
        add_str(b, "<none>");
    add_age(b, o);
    add_containers(b, fl_obj_get(o, "spec.jobTemplate.spec.template.spec.containers"));
    add_selector(b, fl_obj_get(o, "spec.jobTemplate.spec.selector"), SEL_FORMAT);
}

/* Join the strings of a JSON array with sep into out. */
static int join_strings(fl_buf *out, const json_t *arr, const char *sep)
{
    size_t i;
    const json_t *v;
    int rc = 0;
    json_array_foreach(arr, i, v)
        rc |= fl_buf_printf(out, "%s%s", i ? sep : "", sval(v));
    return rc;
}

/* getServiceExternalIP (wide). */
static void service_external_ip(const json_t *o, fl_buf *out)
{
    const char *type = str_or(o, "spec.type", "ClusterIP");
    const json_t *ext = fl_obj_get(o, "spec.externalIPs"), *ing, *e;
    size_t i, n0;
    if (strcmp(type, "ClusterIP") == 0 || strcmp(type, "NodePort") == 0) {
        if (len_at(o, "spec.externalIPs"))
            join_strings(out, ext, ",");
        else
            fl_buf_puts(out, "<none>");
        return;
    }
    if (strcmp(type, "ExternalName") == 0) {
        fl_buf_puts(out, str_or(o, "spec.externalName", ""));
        return;
    }
    if (strcmp(type, "LoadBalancer") != 0) {
        fl_buf_puts(out, "<unknown>");
        return;
    }
    /* loadBalancerStatusStringer: a set of ingress IPs/hostnames, sorted */
    ing = fl_obj_get(o, "status.loadBalancer.ingress");
    const char **vals = fl_calloc(json_array_size(ing) + 1, sizeof *vals);
    size_t nv = 0;
    json_array_foreach(ing, i, e) {
        const char *ip = json_string_value(json_object_get(e, "ip"));
        const char *host = json_string_value(json_object_get(e, "hostname"));
        const char *v = ip && ip[0] ? ip : host;
        if (vals && v && v[0])
            vals[nv++] = v;
    }
    if (vals)
        qsort(vals, nv, sizeof *vals, cmp_str);
    for (i = 0; i < nv; i++)
        if (i == 0 || strcmp(vals[i], vals[i - 1]) != 0)
            fl_buf_printf(out, "%s%s", out->len ? "," : "", vals[i]);
    free(vals);
    n0 = out->len;
    if (len_at(o, "spec.externalIPs")) {
        if (n0)
            fl_buf_puts(out, ",");
        join_strings(out, ext, ",");
    } else if (n0 == 0) {
        fl_buf_puts(out, "<pending>");
    }
}

static void print_service(rowb *b, const json_t *o)
{
    fl_buf ext = FL_BUF_INIT(1 << 20), ports = FL_BUF_INIT(1 << 20);
    const json_t *ps = fl_obj_get(o, "spec.ports"), *p;
    const char *cip = json_string_value(json_array_get(fl_obj_get(o, "spec.clusterIPs"), 0));
    size_t i;
    if (!cip || !cip[0])
        cip = str_or(o, "spec.clusterIP", "<none>");
    service_external_ip(o, &ext);
    json_array_foreach(ps, i, p) {
        int64_t port = int_at(p, "port", 0), np = int_at(p, "nodePort", 0);
        const char *proto = mstr(p, "protocol", "TCP");
        if (np > 0)
            fl_buf_printf(&ports, "%s%lld:%lld/%s", i ? "," : "", (long long)port, (long long)np,
                          proto);
        else
            fl_buf_printf(&ports, "%s%lld/%s", i ? "," : "", (long long)port, proto);
    }
    add_name(b, o);
    add_str(b, str_or(o, "spec.type", "ClusterIP"));
    add_str(b, cip);
    add_str(b, ext.data ? ext.data : "");
    add_str(b, ports.len ? ports.data : "<none>");
    add_age(b, o);
    add_labels(b, fl_obj_get(o, "spec.selector"));
    fl_buf_done(&ext);
    fl_buf_done(&ports);
}

/* formatEndpoints(ep, nil): up to 3 "ip:port", then " + N more...". */
static void print_endpoints(rowb *b, const json_t *o)
{
    const json_t *subsets = fl_obj_get(o, "subsets"), *ss;
    fl_buf out = FL_BUF_INIT(1 << 20);
    size_t i, j, k, listed = 0, count = 0;
    json_array_foreach(subsets, i, ss) {
        const json_t *addrs = json_object_get(ss, "addresses"),
                     *ports = json_object_get(ss, "ports");
        size_t np = json_is_array(ports) ? json_array_size(ports) : 0;
        for (j = 0; j < (np ? np : 1); j++) {
            const json_t *a;
            json_array_foreach(addrs, k, a) {
                const char *ip = mstr(a, "ip", "");
                if (listed < 3) {
                    const char *sep = listed ? "," : "";
                    if (!np)
                        fl_buf_printf(&out, "%s%s", sep, ip);
                    else if (strchr(ip, ':'))
                        fl_buf_printf(&out, "%s[%s]:%lld", sep, ip,
                                      (long long)int_at(json_array_get(ports, j), "port", 0));
                    else
                        fl_buf_printf(&out, "%s%s:%lld", sep, ip,
                                      (long long)int_at(json_array_get(ports, j), "port", 0));
                    listed++;
                }
                count++;
            }
        }
    }
    if (count > 3)
        fl_buf_printf(&out, " + %zu more...", count - 3);
    add_name(b, o);
    add_str(b, len_at(o, "subsets") == 0 ? "<none>" : out.data ? out.data : "");
    add_age(b, o);
    fl_buf_done(&out);
}

/* The first address of type t, or "<none>". */
static const char *node_address(const json_t *o, const char *t)
{
    const json_t *addrs = fl_obj_get(o, "status.addresses"), *a;
    size_t i;
    json_array_foreach(addrs, i, a) {
        if (strcmp(mstr(a, "type", ""), t) == 0)
            return mstr(a, "address", "");
    }
    return "<none>";
}

/* findNodeRoles: node-role.kubernetes.io/<role> and kubernetes.io/role, sorted, unique. */
static void add_node_roles(rowb *b, const json_t *o)
{
    const json_t *labels = fl_obj_get(o, "metadata.labels");
    size_t n = 0, m = 0;
    const char **k = sorted_keys(labels, &n);
    const char **roles = fl_calloc(n + 1, sizeof *roles);
    fl_buf out = FL_BUF_INIT(1 << 20);
    static const char prefix[] = "node-role.kubernetes.io/";
    for (size_t i = 0; k && roles && i < n; i++) {
        const char *r = NULL;
        if (fl_str_has_prefix(k[i], prefix) && k[i][sizeof prefix - 1])
            r = k[i] + sizeof prefix - 1;
        else if (strcmp(k[i], "kubernetes.io/role") == 0)
            r = json_string_value(json_object_get(labels, k[i]));
        if (r && r[0])
            roles[m++] = r;
    }
    if (roles)
        qsort(roles, m, sizeof *roles, cmp_str);
    for (size_t i = 0; roles && i < m; i++)
        if (i == 0 || strcmp(roles[i], roles[i - 1]) != 0)
            fl_buf_printf(&out, "%s%s", out.len ? "," : "", roles[i]);
    if (!k || !roles)
        b->oom = true;
    add_str(b, out.len ? out.data : "<none>");
    fl_buf_done(&out);
    free(roles);
    free(k);
}

static void print_node(rowb *b, const json_t *o)
{
    const json_t *conds = fl_obj_get(o, "status.conditions"), *c, *ready = NULL;
    char status[64];
    size_t i;
    json_array_foreach(conds, i, c) {
        if (strcmp(mstr(c, "type", ""), "Ready") == 0)
            ready = c; /* the last one wins, as in the Go map */
    }
    if (!ready)
        snprintf(status, sizeof status, "Unknown");
    else if (strcmp(mstr(ready, "status", ""), "True") == 0)
        snprintf(status, sizeof status, "Ready");
    else
        snprintf(status, sizeof status, "NotReady");
    if (json_is_true(fl_obj_get(o, "spec.unschedulable")))
        snprintf(status + strlen(status), sizeof status - strlen(status), ",SchedulingDisabled");
    add_name(b, o);
    add_str(b, status);
    add_node_roles(b, o);
    add_age(b, o);
    add_str(b, str_or(o, "status.nodeInfo.kubeletVersion", ""));
    add_str(b, node_address(o, "InternalIP"));
    add_str(b, node_address(o, "ExternalIP"));
    add_str(b, str_or(o, "status.nodeInfo.osImage", "<unknown>"));
    add_str(b, str_or(o, "status.nodeInfo.kernelVersion", "<unknown>"));
    add_str(b, str_or(o, "status.nodeInfo.containerRuntimeVersion", "<unknown>"));
}

static void print_namespace(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_str(b, str_or(o, "status.phase", ""));
    add_age(b, o);
}

static void print_event(rowb *b, const json_t *o)
{
    char first[32], lastc[32], target[512];
    const char *ft = str_at(o, "firstTimestamp"), *lt = str_at(o, "lastTimestamp");
    const char *kind = str_or(o, "involvedObject.kind", ""),
               *name = str_at(o, "involvedObject.name");
    const char *comp = str_or(o, "source.component", str_or(o, "reportingComponent", ""));
    const char *host = str_or(o, "source.host", str_or(o, "reportingInstance", ""));
    const json_t *series = fl_obj_get(o, "series");
    int64_t count = int_at(o, "count", 0);
    char lower[256], source[512], msg[4096];
    size_t i, n;
    since(ft && ft[0] ? ft : str_at(o, "eventTime"), b->now, first);
    if (lt && lt[0])
        since(lt, b->now, lastc);
    else
        snprintf(lastc, sizeof lastc, "%s", first);
    if (json_is_object(series)) {
        since(str_at(series, "lastObservedTime"), b->now, lastc);
        count = int_at(series, "count", 0);
    } else if (count == 0) {
        count = 1;
    }
    for (i = 0; kind[i] && i + 1 < sizeof lower; i++)
        lower[i] = (char)tolower((unsigned char)kind[i]);
    lower[i] = 0;
    if (name && name[0])
        snprintf(target, sizeof target, "%s/%s", lower, name);
    else
        snprintf(target, sizeof target, "%s", lower);
    snprintf(source, sizeof source, "%s%s%s", comp, host[0] ? ", " : "", host);
    /* strings.TrimSpace(message) */
    const char *m = str_or(o, "message", "");
    while (*m && isspace((unsigned char)*m))
        m++;
    n = strlen(m);
    while (n && isspace((unsigned char)m[n - 1]))
        n--;
    snprintf(msg, sizeof msg, "%.*s", (int)(n < sizeof msg ? n : sizeof msg - 1), m);
    add_str(b, lastc);
    add_str(b, str_or(o, "type", ""));
    add_str(b, str_or(o, "reason", ""));
    add_str(b, target);
    add_str(b, str_or(o, "involvedObject.fieldPath", ""));
    add_str(b, source);
    add_str(b, msg);
    add_str(b, first);
    add_int(b, count);
    add_name(b, o);
}

/* events.k8s.io/v1 Events print as core Events after upstream's field
 * conversion (note -> message, regarding -> involvedObject, ...). */
static void print_event_v1(rowb *b, const json_t *o)
{
    static const char *const map[][2] = {
        {"regarding", "involvedObject"},
        {"note", "message"},
        {"deprecatedSource", "source"},
        {"deprecatedFirstTimestamp", "firstTimestamp"},
        {"deprecatedLastTimestamp", "lastTimestamp"},
        {"deprecatedCount", "count"},
        {"reportingController", "reportingComponent"},
        {"reportingInstance", "reportingInstance"},
        {"eventTime", "eventTime"},
        {"series", "series"},
        {"type", "type"},
        {"reason", "reason"},
        {"metadata", "metadata"},
    };
    json_t *core = json_object();
    for (size_t i = 0; core && i < FL_ARRAY_LEN(map); i++) {
        json_t *v = json_object_get(o, map[i][0]);
        if (v && json_object_set(core, map[i][1], v) != 0)
            b->oom = true;
    }
    if (!core) {
        b->oom = true;
        return;
    }
    print_event(b, core);
    json_decref(core);
}

static void print_secret(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_str(b, str_or(o, "type", ""));
    add_int(b, (int64_t)len_at(o, "data"));
    add_age(b, o);
}

static void print_configmap(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_int(b, (int64_t)(len_at(o, "data") + len_at(o, "binaryData")));
    add_age(b, o);
}

static void print_serviceaccount(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_int(b, (int64_t)len_at(o, "secrets"));
    add_age(b, o);
}

static void print_quota(rowb *b, const json_t *o)
{
    const json_t *hard = fl_obj_get(o, "status.hard"), *used = fl_obj_get(o, "status.used");
    fl_buf rq = FL_BUF_INIT(1 << 20), lim = FL_BUF_INIT(1 << 20);
    size_t n = 0;
    const char **k = sorted_keys(hard, &n);
    for (size_t i = 0; k && i < n; i++) {
        fl_buf *w = fl_str_has_prefix(k[i], "limits.") ? &lim : &rq;
        const char *u = json_string_value(json_object_get(used, k[i]));
        const char *h = json_string_value(json_object_get(hard, k[i]));
        fl_buf_printf(w, "%s%s: %s/%s", w->len ? ", " : "", k[i], u ? u : "0", h ? h : "0");
    }
    if (!k)
        b->oom = true;
    add_name(b, o);
    add_age(b, o);
    add_str(b, rq.data ? rq.data : "");
    add_str(b, lim.data ? lim.data : "");
    fl_buf_done(&rq);
    fl_buf_done(&lim);
    free(k);
}

static void print_controllerrevision(rowb *b, const json_t *o)
{
    const json_t *owners = fl_obj_get(o, "metadata.ownerReferences"), *ow, *ctl = NULL;
    char name[600] = "<none>", kind[256];
    size_t i;
    json_array_foreach(owners, i, ow) {
        if (json_is_true(json_object_get(ow, "controller"))) {
            ctl = ow;
            break;
        }
    }
    if (ctl) {
        const char *av = mstr(ctl, "apiVersion", "");
        const char *slash = strchr(av, '/');
        const char *k = mstr(ctl, "kind", "");
        size_t j;
        for (j = 0; k[j] && j + 1 < sizeof kind; j++)
            kind[j] = (char)tolower((unsigned char)k[j]);
        kind[j] = 0;
        if (slash)
            snprintf(name, sizeof name, "%s.%.*s/%s", kind, (int)(slash - av), av,
                     mstr(ctl, "name", ""));
        else
            snprintf(name, sizeof name, "%s/%s", kind, mstr(ctl, "name", ""));
    }
    add_name(b, o);
    add_str(b, name);
    add_int(b, int_at(o, "revision", 0));
    add_age(b, o);
}

static void print_lease(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_str(b, str_or(o, "spec.holderIdentity", ""));
    add_age(b, o);
}

static void print_webhooks(rowb *b, const json_t *o)
{
    add_name(b, o);
    add_int(b, (int64_t)len_at(o, "webhooks"));
    add_age(b, o);
}

/* The default convertor: Name, Created At (RFC 3339). */
static void print_default(rowb *b, const json_t *o)
{
    const char *ts = str_at(o, "metadata.creationTimestamp");
    int64_t t;
    char out[32];
    add_name(b, o);
    if (ts && fl_time_parse(ts, &t) == 0) {
        fl_time_format(t, out);
        add_str(b, out);
    } else {
        add(b, json_null());
    }
}

typedef void (*printer_fn)(rowb *b, const json_t *obj);

typedef struct printer {
    const char *group, *kind;
    const col *cols;
    size_t ncols;
    printer_fn fn;
} printer;

#define P(g, k, cols, fn)                                                                          \
    {                                                                                              \
        g, k, cols, FL_ARRAY_LEN(cols), fn                                                         \
    }
static const printer PRINTERS[] = {
    P("", "Pod", C_POD, print_pod),
    P("apps", "Deployment", C_DEPLOY, print_deployment),
    P("apps", "ReplicaSet", C_RS, print_replicaset),
    P("apps", "DaemonSet", C_DS, print_daemonset),
    P("apps", "StatefulSet", C_STS, print_statefulset),
    P("apps", "ControllerRevision", C_CR, print_controllerrevision),
    P("batch", "Job", C_JOB, print_job),
    P("batch", "CronJob", C_CJ, print_cronjob),
    P("", "Service", C_SVC, print_service),
    P("", "Endpoints", C_EP, print_endpoints),
    P("", "Node", C_NODE, print_node),
    P("", "Event", C_EVENT, print_event),
    P("events.k8s.io", "Event", C_EVENT, print_event_v1),
    P("", "Namespace", C_NS, print_namespace),
    P("", "Secret", C_SECRET, print_secret),
    P("", "ServiceAccount", C_SA, print_serviceaccount),
    P("", "ConfigMap", C_CM, print_configmap),
    P("", "ResourceQuota", C_QUOTA, print_quota),
    P("coordination.k8s.io", "Lease", C_LEASE, print_lease),
    P("admissionregistration.k8s.io", "MutatingWebhookConfiguration", C_WEBHOOK, print_webhooks),
    P("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", C_WEBHOOK, print_webhooks),
};
static const printer DEFAULT_PRINTER = P("", "", C_DEFAULT, print_default);

/* The built-in printer for r (never NULL; the default for unknown kinds).
 * Custom resources are handled by the cr_* functions below. */
static const printer *printer_for(const fl_kube_resource *r)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(PRINTERS); i++)
        if (strcmp(PRINTERS[i].group, r->group) == 0 && strcmp(PRINTERS[i].kind, r->kind) == 0)
            return &PRINTERS[i];
    return &DEFAULT_PRINTER;
}

/* ---------------------------------------------------------------- JSONPath */

#define JP_MAX 512

/* Parse a quoted or bare literal into out; returns chars consumed or -1. */
static int jp_literal(const char *p, char *out, size_t size)
{
    size_t n = 0;
    const char *s = p;
    if (*s == '"' || *s == '\'') {
        char q = *s++;
        while (*s && *s != q && n + 1 < size)
            out[n++] = *s++;
        if (*s != q)
            return -1;
        s++;
    } else {
        while (*s && *s != ')' && *s != ']' && !isspace((unsigned char)*s) && n + 1 < size)
            out[n++] = *s++;
    }
    out[n] = 0;
    return (int)(s - p);
}

/* Does v (a JSON scalar) equal the literal lit (quoted or not)? */
static bool jp_equals(const json_t *v, const char *lit, bool quoted)
{
    if (json_is_string(v))
        return strcmp(json_string_value(v), lit) == 0;
    if (quoted)
        return false;
    if (json_is_integer(v)) {
        int64_t x;
        return fl_parse_i64(lit, strlen(lit), &x) == 0 && x == json_integer_value(v);
    }
    if (json_is_boolean(v))
        return strcmp(lit, json_is_true(v) ? "true" : "false") == 0;
    return false;
}

/* Apply a "[?(@.a.b==lit)]" filter to array arr: the first match. */
static const json_t *jp_filter(const json_t *arr, const char *expr, const char **end)
{
    char field[JP_MAX], lit[JP_MAX];
    const char *p = expr, *eq = strstr(expr, "==");
    size_t fl;
    int used;
    bool quoted;
    const json_t *item;
    size_t i;
    if (!eq || strncmp(p, "@.", 2) != 0)
        return NULL;
    fl = (size_t)(eq - p - 2);
    while (fl && isspace((unsigned char)p[2 + fl - 1]))
        fl--;
    if (fl == 0 || fl >= sizeof field)
        return NULL;
    memcpy(field, p + 2, fl);
    field[fl] = 0;
    p = eq + 2;
    while (isspace((unsigned char)*p))
        p++;
    quoted = *p == '"' || *p == '\'';
    used = jp_literal(p, lit, sizeof lit);
    if (used < 0)
        return NULL;
    p += used;
    while (isspace((unsigned char)*p))
        p++;
    if (strncmp(p, ")]", 2) != 0)
        return NULL;
    *end = p + 2;
    json_array_foreach(arr, i, item) {
        const json_t *v = fl_obj_get(item, field);
        if (v && jp_equals(v, lit, quoted))
            return item;
    }
    return NULL;
}

/* One bracket step at *pp applied to cur; NULL when missing. */
static const json_t *jp_bracket(const json_t *cur, const char **pp)
{
    const char *p = *pp + 1, *close;
    char key[JP_MAX];
    if (*p == '?' && p[1] == '(')
        return jp_filter(cur, p + 2, pp);
    if (*p == '\'' || *p == '"') {
        int used = jp_literal(p, key, sizeof key);
        if (used < 0 || p[used] != ']')
            return NULL;
        *pp = p + used + 1;
        return json_object_get(cur, key);
    }
    close = strchr(p, ']');
    if (!close)
        return NULL;
    *pp = close + 1;
    if (*p == '*' && close == p + 1)
        return json_array_get(cur, 0); /* first result only, as the tableconvertor */
    int64_t idx;
    if (fl_parse_i64(p, (size_t)(close - p), &idx) < 0)
        return NULL;
    if (idx < 0)
        idx += (int64_t)json_array_size(cur);
    return idx < 0 ? NULL : json_array_get(cur, (size_t)idx);
}

const json_t *fl_kube_jsonpath_get(const json_t *obj, const char *path)
{
    char buf[JP_MAX];
    size_t n;
    const char *p;
    const json_t *cur = obj;
    if (!obj || !path)
        return NULL;
    while (isspace((unsigned char)*path))
        path++;
    n = strlen(path);
    if (n >= sizeof buf)
        return NULL;
    memcpy(buf, path, n + 1);
    if (buf[0] == '{' && n >= 2 && buf[n - 1] == '}') { /* "{.spec.size}" */
        buf[n - 1] = 0;
        memmove(buf, buf + 1, n - 1);
    }
    p = buf;
    while (*p && cur) {
        if (*p == '.') {
            char key[JP_MAX];
            size_t k = 0;
            p++;
            while (*p && *p != '.' && *p != '[' && k + 1 < sizeof key) {
                if (*p == '\\' && p[1])
                    p++;
                key[k++] = *p++;
            }
            key[k] = 0;
            if (k)
                cur = json_object_get(cur, key);
        } else if (*p == '[') {
            cur = jp_bracket(cur, &p);
        } else {
            return NULL;
        }
    }
    return *p ? NULL : cur;
}

/* ---------------------------------------------------------------- custom resources */

/* cellForJSONValue for one printer column of a CR. New reference. */
static json_t *cr_cell(const json_t *column, const json_t *v, int64_t now)
{
    const char *type = mstr(column, "type", "string");
    if (!v || json_is_null(v))
        return json_null();
    if (strcmp(type, "string") == 0) {
        if (json_is_string(v))
            return json_incref((json_t *)v);
        if (json_is_integer(v))
            return json_sprintf("%lld", (long long)json_integer_value(v));
        if (json_is_real(v))
            return json_sprintf("%g", json_real_value(v));
        if (json_is_boolean(v))
            return json_string(json_is_true(v) ? "true" : "false");
        char *s = json_dumps(v, JSON_COMPACT);
        json_t *r = s ? json_string(s) : NULL;
        free(s);
        return r ? r : json_null();
    }
    if (strcmp(type, "integer") == 0) {
        if (json_is_integer(v))
            return json_incref((json_t *)v);
        if (json_is_real(v))
            return json_integer((json_int_t)json_real_value(v));
    } else if (strcmp(type, "number") == 0) {
        if (json_is_number(v))
            return json_real(json_number_value(v));
    } else if (strcmp(type, "boolean") == 0) {
        if (json_is_boolean(v))
            return json_incref((json_t *)v);
    } else if (strcmp(type, "date") == 0) {
        char d[32];
        int64_t t;
        if (!json_is_string(v))
            return json_null();
        if (fl_time_parse(json_string_value(v), &t) < 0)
            return json_string("<invalid>");
        fl_kube_human_duration(now - t, d);
        return json_string(d);
    }
    return json_null();
}

/* The printer columns of a CR type: its own, or the default Age column. */
static json_t *cr_columns_json(const fl_kube_resource *r)
{
    if (json_is_array(r->printer_columns) && json_array_size(r->printer_columns) > 0)
        return json_incref((json_t *)r->printer_columns);
    return json_pack("[{s:s, s:s, s:s, s:s}]", "name", "Age", "type", "date", "jsonPath",
                     ".metadata.creationTimestamp", "description", D_AGE);
}

static bool is_cr(const fl_kube_resource *r)
{
    return r->origin == FL_KUBE_ORIGIN_CRD;
}

static void cr_row(rowb *b, const json_t *cols, const json_t *obj)
{
    size_t i;
    const json_t *c;
    add_name(b, obj);
    json_array_foreach(cols, i, c) {
        const char *path = mstr(c, "jsonPath", "");
        json_t *cell = cr_cell(c, fl_kube_jsonpath_get(obj, path), b->now);
        add(b, cell ? cell : json_null());
    }
}

/* ---------------------------------------------------------------- column definitions */

static json_t *col_json(const char *name, const char *type, const char *format, int64_t prio,
                        const char *desc)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", name, "type", type, "format",
                     format ? format : "", "description", desc ? desc : "", "priority",
                     (json_int_t)prio);
}

static bool push(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
}

json_t *fl_kube_table_columns(const fl_kube_resource *r, bool cluster_column)
{
    json_t *out = json_array(), *crcols = NULL;
    bool ok = out != NULL;
    if (ok && cluster_column)
        ok = push(out, col_json("Cluster", "string", "", 0, "The member cluster of the object."));
    if (ok && is_cr(r)) {
        size_t i;
        const json_t *c;
        ok = push(out, col_json("Name", "string", "name", 0, D_NAME));
        crcols = cr_columns_json(r);
        ok = ok && crcols;
        json_array_foreach(crcols, i, c) {
            const char *path = mstr(c, "jsonPath", "");
            const char *d = json_string_value(json_object_get(c, "description"));
            char desc[1024];
            if (d && d[0])
                snprintf(desc, sizeof desc, "%s", d);
            else
                snprintf(desc, sizeof desc,
                         "Custom resource definition column (in JSONPath format): %s", path);
            ok =
                ok && push(out, col_json(mstr(c, "name", ""), mstr(c, "type", "string"),
                                         json_string_value(json_object_get(c, "format")),
                                         json_integer_value(json_object_get(c, "priority")), desc));
        }
    } else if (ok) {
        const printer *p = printer_for(r);
        for (size_t i = 0; ok && i < p->ncols; i++)
            ok = push(out, col_json(p->cols[i].name, p->cols[i].type, p->cols[i].format,
                                    p->cols[i].priority, p->cols[i].desc));
    }
    json_decref(crcols);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---------------------------------------------------------------- rows and tables */

int fl_kube_table_include_parse(const char *s, fl_kube_table_include *out)
{
    fl_kube_table_include v;
    if (!s || !s[0] || strcmp(s, "Metadata") == 0)
        v = FL_KUBE_TABLE_METADATA;
    else if (strcmp(s, "Object") == 0)
        v = FL_KUBE_TABLE_OBJECT;
    else if (strcmp(s, "None") == 0)
        v = FL_KUBE_TABLE_NONE;
    else
        return FL_EPARSE;
    *out = v;
    return 0;
}

/* The row "object": PartialObjectMetadata, the full object, or null. */
static json_t *row_object(const fl_kube_resource *r, const json_t *obj, const fl_kube_table_opts *o,
                          const char *meta_api)
{
    char av[2 * FL_KUBE_NAME_MAX + 2];
    const char *key;
    json_t *v, *out;
    if (o->include == FL_KUBE_TABLE_NONE)
        return json_null();
    if (o->include == FL_KUBE_TABLE_METADATA) {
        json_t *md = json_object_get(obj, "metadata");
        return json_pack("{s:s, s:s, s:o}", "kind", "PartialObjectMetadata", "apiVersion", meta_api,
                         "metadata", md ? json_incref(md) : json_object());
    }
    fl_kube_resource_api_version(r, av, sizeof av);
    out = json_pack("{s:s, s:s}", "kind", str_or(obj, "kind", r->kind), "apiVersion",
                    str_or(obj, "apiVersion", av));
    json_object_foreach((json_t *)obj, key, v) {
        if (out && strcmp(key, "kind") != 0 && strcmp(key, "apiVersion") != 0 &&
            json_object_set(out, key, v) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

/* The cluster cell: callback, else the clusterpedia annotation, else "". */
static const char *cluster_of(const json_t *obj, const fl_kube_table_opts *o)
{
    const char *c = o->cluster_fn ? o->cluster_fn(obj, o->cluster_ud) : NULL;
    if (!c) {
        const json_t *ann = fl_obj_get(obj, "metadata.annotations");
        c = json_string_value(json_object_get(ann, "shadow.clusterpedia.io/cluster-name"));
    }
    return c ? c : "";
}

static json_t *build_row(const fl_kube_resource *r, const json_t *obj, const json_t *crcols,
                         const fl_kube_table_opts *o, const char *meta_api, int64_t now)
{
    rowb b = {json_array(), NULL, now, false};
    json_t *row = NULL, *object = NULL;
    if (!b.cells)
        return NULL;
    if (o->cluster_column)
        add_str(&b, cluster_of(obj, o));
    if (crcols)
        cr_row(&b, crcols, obj);
    else
        printer_for(r)->fn(&b, obj);
    object = row_object(r, obj, o, meta_api);
    if (!b.oom && object) {
        row = json_pack("{s:o}", "cells", b.cells);
        b.cells = NULL;
        if (row && b.conditions && json_object_set(row, "conditions", b.conditions) != 0) {
            json_decref(row);
            row = NULL;
        }
        if (row && json_object_set_new(row, "object", object) != 0) {
            json_decref(row);
            row = NULL;
        }
        object = NULL;
    }
    json_decref(object);
    json_decref(b.cells);
    json_decref(b.conditions);
    return row;
}

/* Table metadata: resourceVersion, continue, remainingItemCount. */
static json_t *table_meta(const fl_kube_table_opts *o)
{
    json_t *m = json_object();
    bool ok = m != NULL;
    if (ok && o->resource_version)
        ok = json_object_set_new(m, "resourceVersion", json_string(o->resource_version)) == 0;
    if (ok && o->continue_token && o->continue_token[0])
        ok = json_object_set_new(m, "continue", json_string(o->continue_token)) == 0;
    if (ok && o->remaining_item_count >= 0)
        ok = json_object_set_new(m, "remainingItemCount", json_integer(o->remaining_item_count)) ==
             0;
    if (!ok) {
        json_decref(m);
        return NULL;
    }
    return m;
}

int fl_kube_table_render(const fl_kube_resource *r, json_t *const *objs, size_t n,
                         const fl_kube_table_opts *opts, json_t **out, fl_err *err)
{
    fl_kube_table_opts o = opts ? *opts : (fl_kube_table_opts)FL_KUBE_TABLE_OPTS_INIT;
    const char *meta_api = o.api_version ? o.api_version : "meta.k8s.io/v1";
    int64_t now = o.now ? o.now : fl_now_ms() / 1000;
    json_t *table = NULL, *rows = NULL, *cols = NULL, *crcols = NULL;
    int rc = -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!json_is_object(objs[i]))
            return fl_err_set(err, FL_EPARSE, "table: item %zu is not an object", i);
    cols = o.omit_column_definitions ? json_null() : fl_kube_table_columns(r, o.cluster_column);
    crcols = is_cr(r) ? cr_columns_json(r) : NULL;
    rows = json_array();
    table = json_pack("{s:s, s:s, s:o}", "kind", "Table", "apiVersion", meta_api, "metadata",
                      table_meta(&o));
    if (!cols || !rows || !table || (is_cr(r) && !crcols))
        goto out;
    if (json_object_set(table, "columnDefinitions", cols) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (!push(rows, build_row(r, objs[i], crcols, &o, meta_api, now)))
            goto out;
    if (json_object_set(table, "rows", rows) != 0)
        goto out;
    *out = json_incref(table);
    rc = 0;
out:
    if (rc < 0)
        fl_err_set(err, rc, "table: out of memory");
    json_decref(cols);
    json_decref(crcols);
    json_decref(rows);
    json_decref(table);
    return rc;
}

int fl_kube_table_render_list(const fl_kube_resource *r, const json_t *list,
                              const fl_kube_table_opts *opts, json_t **out, fl_err *err)
{
    const json_t *items = json_object_get(list, "items");
    size_t n = json_is_array(items) ? json_array_size(items) : 0;
    json_t **objs;
    int rc;
    if (items && !json_is_array(items) && !json_is_null(items))
        return fl_err_set(err, FL_EPARSE, "table: items is not an array");
    objs = fl_calloc(n + 1, sizeof *objs);
    if (!objs)
        return fl_err_set(err, -ENOMEM, "table: out of memory");
    for (size_t i = 0; i < n; i++)
        objs[i] = json_array_get(items, i);
    rc = fl_kube_table_render(r, objs, n, opts, out, err);
    free(objs);
    return rc;
}
