#!/usr/bin/python3
"""tests/scheduler/test_failover.py: propagateDeps, application failover with
graceful eviction, and binding events, end to end. `flotilla sim --clusters 3
--host`, `flotilla serve` with host: set, kubectl against the host and the
members. Covered:
  * propagateDeps: the ConfigMap (volume), Secret (envFrom, with its data),
    ServiceAccount and PersistentVolumeClaim a Deployment references reach every cluster the Deployment
    goes to, each with an attached ResourceBinding whose spec.requiredBy
    names the workload's binding;
  * the binding's events (ScheduleBindingSucceed) and the reason for the last
    change (annotation flotilla.io/last-change, status.lastScheduledTime);
  * application failover: an OverridePolicy makes the pods unschedulable in
    one cluster; after tolerationSeconds its replicas move to the others, a
    gracefulEvictionTasks entry (ApplicationFailure, purgeMode Never) keeps
    the old copy there and the ClusterEviction filter keeps the cluster out;
    clearing suppressDeletion ends the task and the old copy is deleted;
  * statePreservation: a one-cluster workload moved by application failover
    gets the label its policy's rule preserved from the evicted copy's
    status (the task's preservedLabelState, clustersBeforeFailover) in the
    cluster it moves to.
Needs FLOTILLA_BIN and kubectl."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import (Fleet, check, done, free_port, run, start_sim,  # noqa: E402
                     stop_procs, wait)

BIN = os.environ.get("FLOTILLA_BIN") or sys.argv[1]
if not shutil.which("kubectl"):
    print("kubectl not on PATH", file=sys.stderr)
    sys.exit(77)

D = tempfile.mkdtemp(prefix="flotilla-failover-e2e-")
procs = []
NS = "shop"


FLEET = Fleet(D)
kc, get, apply = FLEET.kc, FLEET.get, FLEET.apply


def binding(name="app-deployment"):
    return get("host", "resourcebindings.work.karmada.io", name, "-n", NS)


def placed(name="app-deployment"):
    rb = binding(name)
    return {c["name"]: c["replicas"] for c in (rb or {}).get("spec", {}).get("clusters", [])}


def tasks(name="app-deployment"):
    return (binding(name) or {}).get("spec", {}).get("gracefulEvictionTasks", [])


def state_preservation(members):
    """statePreservation: a one-replica Deployment (Aggregated: one cluster)
    whose pods are made unschedulable where it runs; application failover
    moves it to a cluster it was not in, with the label the policy's rule
    preserved from the evicted copy's status. (A PVC for propagateDeps is
    not here: the simulator serves no persistentvolumeclaims.)"""
    apply("host", {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "flink", "namespace": NS, "labels": {"app": "flink"}},
                   "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "flink"}},
                            "template": {"metadata": {"labels": {"app": "flink"}}, "spec": {
                                "containers": [{"name": "jm", "image": "flink:1.18",
                                                "resources": {"requests": {"cpu": "100m"}}}]}}}})
    label = "failover.example.io/replicas"
    apply("host", {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
                   "metadata": {"name": "flink", "namespace": NS},
                   "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                   "name": "flink"}],
                            "placement": {"clusterAffinity": {"clusterNames": members},
                                          "replicaScheduling": {
                                              "replicaSchedulingType": "Divided",
                                              "replicaDivisionPreference": "Aggregated"}},
                            "failover": {"application": {
                                "decisionConditions": {"tolerationSeconds": 2},
                                "purgeMode": "Never",
                                "statePreservation": {"rules": [
                                    {"aliasLabelName": label, "jsonPath": "{ .replicas }"}]}}}}})

    def where():
        return placed("flink-deployment")
    ok = wait(lambda: len(where()) == 1, 30, 0.2)
    check(ok, "flink on one cluster: %s" % where())
    first = next(iter(where()), members[0])
    ok = wait(lambda: (get(first, "deployment", "flink", "-n", NS) or {}).get("status", {})
              .get("readyReplicas") == 1, 60, 0.2)
    check(ok, "flink running in %s" % first)
    apply("host", {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "OverridePolicy",
                   "metadata": {"name": "flink-too-big", "namespace": NS},
                   "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                   "name": "flink"}],
                            "overrideRules": [{"targetCluster": {"clusterNames": [first]},
                                               "overriders": {"plaintext": [{
                                                   "path": "/spec/template/spec/containers/0/resources/requests/cpu",
                                                   "operator": "replace", "value": "1000"}]}}]}})
    ok = wait(lambda: where() and first not in where(), 60, 0.2)
    check(ok, "flink moved off %s: %s" % (first, where()))
    to = next(iter(where()), "")
    ts = tasks("flink-deployment")
    # the evicted copy's status.replicas: 1, or 2 while its stuck rollout surges
    kept = (ts[0].get("preservedLabelState") or {}).get(label) if ts else None
    check(len(ts) == 1 and kept in ("1", "2") and ts[0].get("clustersBeforeFailover") == [first],
          "the eviction task preserves the state: %s" % ts)
    ok = wait(lambda: (get(to, "deployment", "flink", "-n", NS) or {}).get("metadata", {})
              .get("labels", {}).get(label) == kept, 30, 0.2)
    check(ok, "the copy in %s carries the preserved label %s=%s: %s" % (
        to, label, kept,
        (get(to, "deployment", "flink", "-n", NS) or {}).get("metadata", {}).get("labels")))
    old = get(first, "deployment", "flink", "-n", NS) or {}
    check(old and label not in old.get("metadata", {}).get("labels", {}),
          "the evicted copy (kept: purgeMode Never) has no such label: %s" % old.get("metadata"))


def main():
    sim, clusters = start_sim(BIN, D, "--clusters", "3", "--host", "--nodes", "2")
    procs.append(sim)
    members = sorted(c for c in clusters if c != "host")
    with open(os.path.join(D, "flotilla.yaml"), "a") as f:
        f.write("  healthInterval: 500ms\n  healthTimeout: 500ms\n"
                "failover: {failureThreshold: 1s, successThreshold: 2s, tolerationSeconds: 2}\n"
                "propagation: {interval: 200ms}\n")
    port = free_port()
    log = open(os.path.join(D, "serve.log"), "w")
    srv = subprocess.Popen([BIN, "serve", "-c", os.path.join(D, "flotilla.yaml"), "--listen",
                            "127.0.0.1:%d" % port], stdout=log, stderr=log)
    procs.append(srv)
    kc("host", "create", "namespace", NS)
    apply("host", {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cfg", "namespace": NS}, "data": {"k": "v"}})
    apply("host", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec", "namespace": NS},
                   "type": "Opaque", "data": {"password": base64.b64encode(b"s3cret").decode()}})
    apply("host", {"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "runner", "namespace": NS}})
    apply("host", {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "unused", "namespace": NS}, "data": {"k": "v"}})
    apply("host", {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "data", "namespace": NS},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}})
    apply("host", {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "app", "namespace": NS, "labels": {"app": "app"}},
                   "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "app"}},
                            "template": {"metadata": {"labels": {"app": "app"}}, "spec": {
                                "serviceAccountName": "runner",
                                "volumes": [{"name": "c", "configMap": {"name": "cfg"}},
                                            {"name": "d",
                                             "persistentVolumeClaim": {"claimName": "data"}}],
                                "containers": [{"name": "app", "image": "nginx:1.25",
                                                "envFrom": [{"secretRef": {"name": "sec"}}],
                                                "resources": {"requests": {"cpu": "100m"}}}]}}}})
    policy = {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
              "metadata": {"name": "app", "namespace": NS},
              "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "app"}],
                       "propagateDeps": True,
                       "placement": {"clusterAffinity": {"clusterNames": members},
                                     "replicaScheduling": {
                                         "replicaSchedulingType": "Divided",
                                         "replicaDivisionPreference": "Weighted",
                                         "weightPreference": {
                                             "dynamicWeight": "AvailableReplicas"}}}}}
    apply("host", policy)

    def reps(m):
        d = get(m, "deployment", "app", "-n", NS)
        return d and d["spec"].get("replicas")
    ok = wait(lambda: all(reps(m) == 2 for m in members), 60, 0.2)
    check(ok, "6 replicas divided 2/2/2: %s (see %s/serve.log)" % ([reps(m) for m in members], D))

    # propagateDeps
    def deps_everywhere():
        for m in members:
            s = get(m, "secret", "sec", "-n", NS)
            pvc = get(m, "persistentvolumeclaim", "data", "-n", NS)
            if not (get(m, "configmap", "cfg", "-n", NS) and s and
                    get(m, "serviceaccount", "runner", "-n", NS) and pvc and
                    pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"):
                return False
            if base64.b64decode(s.get("data", {}).get("password", "")) != b"s3cret":
                return False
        return True
    ok = wait(deps_everywhere, 30, 0.2)
    check(ok, "ConfigMap, Secret (with data), ServiceAccount and PVC in every member: %s" %
          [(m, bool(get(m, "configmap", "cfg", "-n", NS)), bool(get(m, "secret", "sec", "-n", NS)),
            bool(get(m, "serviceaccount", "runner", "-n", NS)),
            bool(get(m, "persistentvolumeclaim", "data", "-n", NS))) for m in members])
    ok = wait(lambda: any(r.get("name") == "app-deployment" for r in
                          (binding("data-persistentvolumeclaim") or {}).get("spec", {})
                          .get("requiredBy", [])), 20, 0.2)
    check(ok, "the PVC's binding is required by app-deployment: %s" %
          json.dumps(binding("data-persistentvolumeclaim"))[:600])
    check(all(get(m, "configmap", "unused", "-n", NS) is None for m in members),
          "a ConfigMap nothing references stays on the host")
    ok = wait(lambda: any(r.get("name") == "app-deployment" for r in
                          (binding("cfg-configmap") or {}).get("spec", {}).get("requiredBy", [])),
              20, 0.2)
    check(ok, "cfg's binding is required by app-deployment: %s" %
          json.dumps(binding("cfg-configmap"))[:600])

    # a cluster-scoped template: a CRD by ClusterPropagationPolicy, a ClusterResourceBinding
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {
                                      "type": "object",
                                      "x-kubernetes-preserve-unknown-fields": True}}}]}}
    apply("host", crd)
    apply("host", {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "ClusterPropagationPolicy",
                   "metadata": {"name": "widgets"},
                   "spec": {"resourceSelectors": [{"apiVersion": "apiextensions.k8s.io/v1",
                                                   "kind": "CustomResourceDefinition",
                                                   "name": "widgets.example.com"}],
                            "placement": {"clusterAffinity": {"clusterNames": members}}}})
    ok = wait(lambda: all(get(m, "crd", "widgets.example.com") for m in members), 30, 0.2)
    check(ok, "CRD propagated to every member: %s" %
          [bool(get(m, "crd", "widgets.example.com")) for m in members])

    def crb():
        return get("host", "clusterresourcebindings.work.karmada.io",
                   "widgets.example.com-customresourcedefinition")
    ok = wait(lambda: any(c.get("type") == "Scheduled" and c.get("status") == "True"
                          for c in (crb() or {}).get("status", {}).get("conditions", [])), 20, 0.2)
    check(ok, "ClusterResourceBinding Scheduled: %s" % json.dumps(crb())[:600])
    check(sorted(c["name"] for c in crb()["spec"]["clusters"]) == members, "CRB clusters")

    # events and the reason for the last change
    def events():
        ev = get("host", "events", "-n", NS) or {"items": []}
        return [e for e in ev["items"] if e.get("involvedObject", {}).get("name") == "app-deployment"]
    ok = wait(lambda: any(e.get("reason") == "ScheduleBindingSucceed" for e in events()), 20, 0.2)
    check(ok, "ScheduleBindingSucceed event on the binding: %s" % events())
    rb = binding()
    check("first schedule" in rb["metadata"].get("annotations", {}).get("flotilla.io/last-change", "")
          and rb.get("status", {}).get("lastScheduledTime"),
          "last change recorded: %s" % json.dumps(rb["metadata"])[:500])

    # application failover: pods cannot be scheduled in the victim. The
    # policy asks for it once every member runs its replicas (a 2 s
    # toleration would otherwise count a slow first rollout as a failure)
    ok = wait(lambda: all((get(m, "deployment", "app", "-n", NS) or {}).get("status", {})
                          .get("readyReplicas") == 2 for m in members), 60, 0.2)
    check(ok, "every member runs its 2 replicas")
    policy["spec"]["failover"] = {"application": {"decisionConditions": {"tolerationSeconds": 2},
                                                  "purgeMode": "Never"}}
    apply("host", policy)
    victim = members[0]
    rest = members[1:]
    apply("host", {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "OverridePolicy",
                   "metadata": {"name": "too-big", "namespace": NS},
                   "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                   "name": "app"}],
                            "overrideRules": [{"targetCluster": {"clusterNames": [victim]},
                                               "overriders": {"plaintext": [{
                                                   "path": "/spec/template/spec/containers/0/resources/requests/cpu",
                                                   "operator": "replace", "value": "1000"}]}}]}})
    t0 = time.time()
    ok = wait(lambda: victim not in placed() and sum(placed().values()) == 6, 60, 0.2)
    check(ok, "replicas moved off %s: %s" % (victim, placed()))
    print("application failover (toleration 2 s) in %.2f s" % (time.time() - t0))
    ts = tasks()
    check(len(ts) == 1 and ts[0]["fromCluster"] == victim and ts[0]["reason"] == "ApplicationFailure"
          and ts[0]["purgeMode"] == "Never" and ts[0].get("suppressDeletion") is True,
          "graceful eviction task: %s" % ts)
    ok = wait(lambda: all((reps(m) or 0) >= 2 for m in rest) and
              sum(reps(m) or 0 for m in rest) == 6, 30, 0.2)
    check(ok, "the others run all 6: %s" % [reps(m) for m in rest])
    time.sleep(2)
    check(get(victim, "deployment", "app", "-n", NS) is not None and victim not in placed(),
          "purgeMode Never: the old copy stays in %s and the cluster is not chosen again" % victim)
    rb = binding()
    check("ApplicationFailure" in rb["metadata"].get("annotations", {})
          .get("flotilla.io/last-change", ""), "last change names the eviction: %s" %
          rb["metadata"].get("annotations"))
    # clearing suppressDeletion ends the task; the copy goes
    rb["spec"]["gracefulEvictionTasks"][0]["suppressDeletion"] = False
    rc, _, err = kc("host", "replace", "-f", "-", stdin=json.dumps(rb))
    check(rc == 0, "binding replaced: %s" % err)
    ok = wait(lambda: get(victim, "deployment", "app", "-n", NS) is None and not tasks(), 30, 0.2)
    check(ok, "task ended and %s cleaned: %s, %s" % (victim, tasks(),
                                                     bool(get(victim, "deployment", "app", "-n", NS))))
    check(placed() == {m: 3 for m in rest} or sum(placed().values()) == 6,
          "placement unchanged: %s" % placed())
    state_preservation(members)
    # `flotilla place`: the dry run starts from the binding and checks the quota
    token = open(os.path.join(D, "tokens.csv")).readline().split(",")[0].strip()
    tmpl = get("host", "deployment", "app", "-n", NS)
    pol = get("host", "propagationpolicy", "app", "-n", NS)
    for o in (tmpl, pol):
        for k in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
            o["metadata"].pop(k, None)
        o.pop("status", None)
    tmpl["spec"]["replicas"] = 8
    wf, pf = os.path.join(D, "w.json"), os.path.join(D, "p.json")
    json.dump(tmpl, open(wf, "w"))
    json.dump(pol, open(pf, "w"))
    before = placed()

    def dry(*extra):
        env = dict(os.environ)
        env.pop("FLOTILLA_TOKEN", None)
        return subprocess.run([BIN, "place", "--server", "http://127.0.0.1:%d" % port, "-f", wf,
                               "-f", pf, "--token", token] + list(extra),
                              capture_output=True, text=True, timeout=60, env=env)
    r = dry("-o", "json")
    check(r.returncode == 0, "dry run: %s %s" % (r.stdout, r.stderr))
    ans = json.loads(r.stdout)
    ans = ans[0] if isinstance(ans, list) else ans
    got = {c["name"]: c["replicas"] for c in ans.get("clusters", [])}
    check({c["name"]: c["replicas"] for c in ans.get("previous", [])} == before,
          "dry run starts from the binding: %s vs %s" % (ans.get("previous"), before))
    check(sum(got.values()) == 8 and all(got.get(m, 0) >= before.get(m, 0) for m in before),
          "scale up adds to the previous placement: %s from %s" % (got, before))
    apply("host", {"apiVersion": "quota.flotilla.io/v1alpha1", "kind": "KarmadaQuota",
                   "metadata": {"name": "q", "namespace": NS}, "spec": {"hard": {"cpu": "700m"}}})

    def refused():
        r = dry()
        return r.returncode == 1 and "QuotaExceeded" in r.stdout and "Previous:" in r.stdout
    ok = wait(refused, 30, 0.5)
    check(ok, "dry run over the quota answers QuotaExceeded: %s" % dry().stdout)
    check(placed() == before, "the dry run changed nothing: %s" % placed())
    stop_procs(procs)
    check(srv.returncode == 0, "daemon exit status %s" % srv.returncode)
    done()


try:
    main()
finally:
    stop_procs(procs)
