/*
 * bench/bench_patch.c: what applying a PATCH costs, each figure printed
 * beside the raw baseline it chases, measured in the same run: the baseline
 * is the work no patch can avoid — parsing the patch body with jansson and
 * deep-copying the original object (the result must be a new object).
 *   kubectl scale (merge patch)           vs  parse + copy
 *   kubectl patch --type=json (2 ops)     vs  parse + copy
 *   kubectl apply (strategic, $setElementOrder, 2 containers) vs parse + copy
 * Prints figures only; never pass/fail. `bench_patch [iterations]`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kube.h"

static const char deployment[] =
    "{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":\"web\","
    "\"namespace\":\"default\",\"uid\":\"60c51f38-8c5d-46fd-931f-4fccdf93ab41\","
    "\"resourceVersion\":\"230\",\"generation\":2,\"labels\":{\"app\":\"web\"},"
    "\"annotations\":{\"deployment.kubernetes.io/revision\":\"1\"}},\"spec\":{\"replicas\":2,"
    "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":"
    "{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1.25.3\","
    "\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}],\"resources\":{\"requests\":"
    "{\"cpu\":\"100m\",\"memory\":\"128Mi\"}},\"terminationMessagePath\":\"/dev/termination-log\","
    "\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":\"IfNotPresent\"}],"
    "\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":"
    "\"ClusterFirst\",\"securityContext\":{},\"schedulerName\":\"default-scheduler\"}},"
    "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":\"25%\","
    "\"maxSurge\":\"25%\"}},\"revisionHistoryLimit\":10,\"progressDeadlineSeconds\":600},"
    "\"status\":{}}";

static const char scale[] = "{\"spec\":{\"replicas\":5}}";
static const char jsonp[] =
    "[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3},{\"op\":\"add\",\"path\":"
    "\"/metadata/annotations/example.com~1owner\",\"value\":\"team-web\"}]";
static const char apply[] =
    "{\"spec\":{\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"nginx\"},"
    "{\"name\":\"log-shipper\"}],\"containers\":[{\"image\":\"nginx:1.26.0\",\"name\":\"nginx\"},"
    "{\"command\":[\"sh\",\"-c\",\"tail -F /var/log/nginx/access.log\"],\"image\":\"busybox:1.36\","
    "\"name\":\"log-shipper\"}]}}}}";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double baseline(const json_t *orig, const char *patch, long iters)
{
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        json_t *p = json_loadb(patch, strlen(patch), JSON_DECODE_ANY, NULL);
        json_t *c = json_deep_copy(orig);
        json_decref(p);
        json_decref(c);
    }
    return (now_ns() - t0) / (double)iters;
}

static void run(const char *what, fl_patch_type t, const json_t *orig, const char *patch,
                const fl_patch_schema *schema, long iters)
{
    fl_err err = FL_ERR_INIT;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        json_t *out = NULL;
        if (fl_patch_apply(t, orig, patch, strlen(patch), schema, &out, &err) != 0) {
            printf("%s: failed: %s\n", what, err.msg);
            return;
        }
        json_decref(out);
    }
    double ns = (now_ns() - t0) / (double)iters, base = baseline(orig, patch, iters);
    printf("%-34s %9.2f us/op   | baseline parse+copy %9.2f us/op  (x%.1f)\n", what, ns / 1e3,
           base / 1e3, base > 0 ? ns / base : 0.0);
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    if (iters <= 0)
        iters = 20000;
    json_t *orig = json_loads(deployment, 0, NULL);
    if (!orig)
        return 1;
    run("merge patch (kubectl scale)", FL_PATCH_MERGE, orig, scale, NULL, iters);
    run("json patch (2 ops)", FL_PATCH_JSON, orig, jsonp, NULL, iters);
    run("strategic merge (kubectl apply)", FL_PATCH_STRATEGIC, orig, apply,
        fl_patch_schema_for("apps", "Deployment"), iters);
    json_decref(orig);
    return 0;
}
