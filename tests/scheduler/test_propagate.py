#!/usr/bin/python3
"""tests/scheduler/test_propagate.py: propagation and failover end to end.
`flotilla sim --clusters 3 --host` (members run controllers; the host holds
the Karmada CRDs), `flotilla serve` with host: set, and kubectl against the
host and the members. Covered:
  * a Deployment and a PropagationPolicy (Divided, dynamic weights) applied on
    the host reach the members with per-cluster replicas, the namespace
    created first, ownership labels; the ResourceBinding shows Scheduled and
    then FullyApplied with aggregatedStatus; the template's status sums the
    members' (readyReplicas);
  * scaling the template rescales the members; an OverridePolicy replaces the
    image in region west only;
  * conflictResolution Abort leaves a foreign object alone; suspension pauses
    dispatching; preserveResourcesOnDeletion keeps member copies of a deleted
    template;
  * member writes through a 30% error rate land once; a flapping cluster
    keeps its replicas;
  * a cluster taken down with `flotilla sim ctl` loses its replicas to the
    others after failureThreshold + toleration; brought back, it is cleaned;
  * a KarmadaQuota refusal keeps the old placement (Scheduled=False,
    QuotaExceeded);
  * deleting the template deletes the member objects and the binding.
Needs FLOTILLA_BIN and kubectl."""
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

D = tempfile.mkdtemp(prefix="flotilla-prop-e2e-")
procs = []
NS = "shop"


FLEET = Fleet(D)
kc, get, apply = FLEET.kc, FLEET.get, FLEET.apply


def deploy(replicas, image="nginx:1.25"):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS, "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": image,
                                                           "resources": {"requests": {"cpu": "100m"}}}]}}}}


def member_replicas(members):
    out = {}
    for m in members:
        d = get(m, "deployment", "web", "-n", NS)
        if d:
            out[m] = d["spec"].get("replicas")
    return out


def binding():
    return get("host", "resourcebindings.work.karmada.io", "web-deployment", "-n", NS)


def cond(rb, t):
    for c in (rb or {}).get("status", {}).get("conditions", []):
        if c["type"] == t:
            return c
    return {}


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
    apply("host", deploy(6))
    apply("host", {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
                   "metadata": {"name": "web", "namespace": NS},
                   "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                   "name": "web"}],
                            "placement": {"clusterAffinity": {"clusterNames": members},
                                          "replicaScheduling": {
                                              "replicaSchedulingType": "Divided",
                                              "replicaDivisionPreference": "Weighted",
                                              "weightPreference": {
                                                  "dynamicWeight": "AvailableReplicas"}}}}})
    t0 = time.time()
    ok = wait(lambda: member_replicas(members) == {m: 2 for m in members}, 60, 0.2)
    check(ok, "6 replicas divided 2/2/2 over %s: %s (see %s/serve.log)" %
          (members, member_replicas(members), D))
    print("propagated in %.2f s" % (time.time() - t0))
    d = get(members[0], "deployment", "web", "-n", NS)
    check(d["metadata"]["labels"].get("karmada.io/managed") == "true" and
          d["metadata"]["annotations"].get("resourcebinding.karmada.io/name") == "web-deployment",
          "ownership label and annotations: %s" % d["metadata"])
    rb = binding()
    check(rb and cond(rb, "Scheduled").get("status") == "True",
          "binding Scheduled: %s" % json.dumps(rb)[:600])
    check(sorted(c["name"] for c in rb["spec"]["clusters"]) == members, "binding clusters")
    ok = wait(lambda: cond(binding(), "FullyApplied").get("status") == "True", 30, 0.2)
    check(ok, "FullyApplied: %s" % json.dumps(binding())[:800])
    ok = wait(lambda: (get("host", "deployment", "web", "-n", NS) or {}).get("status", {})
              .get("readyReplicas") == 6, 60, 0.3)
    check(ok, "template status readyReplicas 6: %s" %
          (get("host", "deployment", "web", "-n", NS) or {}).get("status"))
    agg = binding()["status"].get("aggregatedStatus", [])
    check(len(agg) == 3 and all(a.get("applied") for a in agg), "aggregatedStatus: %s" % agg)

    # scale
    kc("host", "scale", "deployment", "web", "-n", NS, "--replicas", "9")
    ok = wait(lambda: member_replicas(members) == {m: 3 for m in members}, 30, 0.2)
    check(ok, "scaled to 9 = 3/3/3: %s" % member_replicas(members))

    # override the image in region west
    apply("host", {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "OverridePolicy",
                   "metadata": {"name": "west-image", "namespace": NS},
                   "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                   "name": "web"}],
                            "overrideRules": [{"targetCluster": {"labelSelector": {
                                "matchLabels": {"region": "west"}}},
                                "overriders": {
                                    "imageOverrider": [{"component": "Registry", "operator": "replace",
                                                        "value": "mirror.west.example"}],
                                    "labelsOverrider": [{"operator": "add",
                                                         "value": {"region": "west"}}]}}]}})

    def image(m):
        d = get(m, "deployment", "web", "-n", NS)
        return d and d["spec"]["template"]["spec"]["containers"][0]["image"]
    west = [m for m in members if m.startswith("west")]
    east = [m for m in members if m.startswith("east")]
    ok = wait(lambda: all(image(m) == "mirror.west.example/nginx:1.25" for m in west), 30, 0.2)
    check(ok, "west image overridden: %s" % [image(m) for m in west])
    check(all(image(m) == "nginx:1.25" for m in east), "east image kept: %s" %
          [image(m) for m in east])

    # conflictResolution Abort: a foreign ConfigMap stays untouched
    apply(members[0], {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "cfg", "namespace": NS}, "data": {"owner": "member"}})
    apply("host", {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cfg", "namespace": NS}, "data": {"owner": "host"}})
    apply("host", {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
                   "metadata": {"name": "cfg", "namespace": NS},
                   "spec": {"resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap",
                                                   "name": "cfg"}],
                            "placement": {"clusterAffinity": {"clusterNames": members}}}})
    ok = wait(lambda: all((get(m, "configmap", "cfg", "-n", NS) or {}).get("data", {}).get("owner")
                          == "host" for m in members[1:]), 30, 0.2)
    check(ok, "ConfigMap propagated to the clusters without one")
    cfg_rb = get("host", "resourcebindings.work.karmada.io", "cfg-configmap", "-n", NS)
    check(get(members[0], "configmap", "cfg", "-n", NS)["data"]["owner"] == "member",
          "Abort kept the member's own ConfigMap")
    ok = wait(lambda: "Abort" in cond(get("host", "resourcebindings.work.karmada.io",
                                          "cfg-configmap", "-n", NS), "FullyApplied")
              .get("message", ""), 20, 0.2)
    check(ok, "FullyApplied says Abort: %s" % cond(cfg_rb, "FullyApplied"))

    # suspension: dispatching paused, then resumed; preserveResourcesOnDeletion keeps copies
    def cfg_policy(**spec):
        body = {"resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "cfg"}],
                "placement": {"clusterAffinity": {"clusterNames": members}}}
        body.update(spec)
        apply("host", {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
                       "metadata": {"name": "cfg", "namespace": NS}, "spec": body})

    def owner(m):
        return (get(m, "configmap", "cfg", "-n", NS) or {}).get("data", {}).get("owner")
    cfg_policy(suspension={"dispatching": True})
    time.sleep(1.5)
    apply("host", {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cfg", "namespace": NS}, "data": {"owner": "host-2"}})
    time.sleep(2)
    check(owner(members[1]) == "host", "suspended: member copy unchanged (%s)" % owner(members[1]))
    cfg_policy(preserveResourcesOnDeletion=True)
    ok = wait(lambda: owner(members[1]) == "host-2", 20, 0.2)
    check(ok, "resumed: member copy updated (%s)" % owner(members[1]))
    ok = wait(lambda: (get("host", "resourcebindings.work.karmada.io", "cfg-configmap", "-n", NS)
                       or {}).get("spec", {}).get("preserveResourcesOnDeletion") is True, 20, 0.2)
    check(ok, "binding records preserveResourcesOnDeletion")
    kc("host", "delete", "configmap", "cfg", "-n", NS)
    ok = wait(lambda: get("host", "resourcebindings.work.karmada.io", "cfg-configmap", "-n", NS)
              is None, 20, 0.2)
    check(ok, "binding of the deleted ConfigMap removed")
    check(all(owner(m) == "host-2" for m in members[1:]), "preserved copies: %s" %
          [owner(m) for m in members[1:]])

    victim = west[0] if west else members[-1]
    rest = [m for m in members if m != victim]

    # a member write that fails (30% of requests answer 500) is retried until it lands, once
    run(BIN, "sim", "ctl", "--kubeconfig-dir", D, members[0], "error-rate", "30")
    kc("host", "scale", "deployment", "web", "-n", NS, "--replicas", "12")

    def consistent(total):
        rb = binding()
        cl = {c["name"]: c["replicas"] for c in (rb or {}).get("spec", {}).get("clusters", [])}
        return sum(cl.values()) == total and member_replicas(list(cl)) == cl
    ok = wait(lambda: consistent(12), 60, 0.3)
    run(BIN, "sim", "ctl", "--kubeconfig-dir", D, members[0], "error-rate", "0")
    check(ok, "scaled to 12 through a 30%% error rate: %s vs %s" %
          (binding()["spec"]["clusters"], member_replicas(members)))
    rc, out, _ = kc(members[0], "get", "deployments", "-n", NS, "-o", "name")
    check(out.split() == ["deployment.apps/web"], "one copy in %s: %s" % (members[0], out))
    kc("host", "scale", "deployment", "web", "-n", NS, "--replicas", "9")
    ok = wait(lambda: consistent(9), 30, 0.3)
    check(ok, "back to 9")

    # a flapping cluster (down for less than threshold + toleration) keeps its replicas
    before = binding()["spec"]["clusters"]
    run(BIN, "sim", "ctl", "--kubeconfig-dir", D, victim, "down")
    time.sleep(1.5)
    run(BIN, "sim", "ctl", "--kubeconfig-dir", D, victim, "recover")
    time.sleep(4)
    check(binding()["spec"]["clusters"] == before, "flapping %s did not evict: %s vs %s" %
          (victim, binding()["spec"]["clusters"], before))

    # failover: take west-1 down
    rc, _, err = run(BIN, "sim", "ctl", "--kubeconfig-dir", D, victim, "down")
    check(rc == 0, "sim ctl down: %s" % err)
    t0 = time.time()

    def moved():
        rb = binding()
        cl = {c["name"]: c["replicas"] for c in (rb or {}).get("spec", {}).get("clusters", [])}
        return victim not in cl and sum(cl.values()) == 9 and member_replicas(rest) == cl
    ok = wait(moved, 60, 0.2)
    check(ok, "replicas moved off %s: %s / %s" % (victim, binding()["spec"]["clusters"],
                                                   member_replicas(rest)))
    print("failover (detection 1 s + toleration 2 s included) in %.2f s" % (time.time() - t0))
    run(BIN, "sim", "ctl", "--kubeconfig-dir", D, victim, "recover")
    ok = wait(lambda: get(victim, "deployment", "web", "-n", NS) is None, 60, 0.3)
    check(ok, "%s cleaned after it came back" % victim)

    # quota refusal keeps the old placement
    apply("host", {"apiVersion": "quota.flotilla.io/v1alpha1", "kind": "KarmadaQuota",
                   "metadata": {"name": "q", "namespace": NS}, "spec": {"hard": {"cpu": "1200m"}}})
    time.sleep(1)
    before = binding()["spec"]["clusters"]
    kc("host", "scale", "deployment", "web", "-n", NS, "--replicas", "40")
    ok = wait(lambda: cond(binding(), "Scheduled").get("reason") == "QuotaExceeded", 30, 0.2)
    check(ok, "Scheduled=False QuotaExceeded: %s" % cond(binding(), "Scheduled"))
    check(binding()["spec"]["clusters"] == before, "old placement kept: %s vs %s" %
          (binding()["spec"]["clusters"], before))

    # template deleted: member objects and binding go
    kc("host", "delete", "deployment", "web", "-n", NS)
    ok = wait(lambda: not member_replicas(members) and binding() is None, 60, 0.3)
    check(ok, "deleted everywhere: %s, binding %s" % (member_replicas(members), bool(binding())))
    stop_procs(procs)
    check(srv.returncode == 0, "daemon exit status %s" % srv.returncode)
    done()


try:
    main()
finally:
    stop_procs(procs)
