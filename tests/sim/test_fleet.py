"""tests/sim/test_fleet.py: generated fleets (`--pods --namespaces --seed`) and
churn (`--churn`): the same seed gives the same objects and another seed
others; counts are exact; ownerReferences resolve (Pod -> ReplicaSet ->
Deployment, by uid); pods are Running on Nodes that exist, with requests and
limits; churn produces ADDED/MODIFIED/DELETED watch events on pods."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from simtest import Sim, check, done  # noqa: E402

PODS, NS, NODES = 300, 5, 7


def items(sim, cluster, path):
    st, _, body = sim.req(cluster, path)
    check(st == 200, "list %s: %s" % (path, st))
    return body.get("items", []) if isinstance(body, dict) else []


def snapshot(sim, cluster):
    out = {}
    for path in ("/api/v1/pods", "/apis/apps/v1/deployments", "/apis/apps/v1/replicasets"):
        objs = items(sim, cluster, path)
        for o in objs:
            o["metadata"].pop("resourceVersion", None)
        out[path] = sorted(json.dumps(o, sort_keys=True) for o in objs)
    return out


def check_shape(sim, cluster):
    pods = items(sim, cluster, "/api/v1/pods")
    deps = items(sim, cluster, "/apis/apps/v1/deployments")
    rss = items(sim, cluster, "/apis/apps/v1/replicasets")
    nss = items(sim, cluster, "/api/v1/namespaces")
    nodes = {n["metadata"]["name"] for n in items(sim, cluster, "/api/v1/nodes")}
    check(len(pods) == PODS, "%s: %d pods (%d)" % (cluster, PODS, len(pods)))
    check(len(nss) == NS + 4, "%s: %d namespaces (%d)" % (cluster, NS + 4, len(nss)))
    check(len(nodes) == NODES, "%s: %d nodes" % (cluster, NODES))
    check(len(deps) == len(rss) and len(deps) >= PODS // 8, "deployments = replicasets")
    for d in deps:
        d["kind"] = "Deployment"  # list items carry no kind, as in kube-apiserver
    for r in rss:
        r["kind"] = "ReplicaSet"
    by_uid = {o["metadata"]["uid"]: o for o in deps + rss}
    bad_owner = bad_node = bad_res = 0
    replicas = {}
    for p in pods:
        md = p["metadata"]
        ref = md.get("ownerReferences", [{}])[0]
        rs = by_uid.get(ref.get("uid"))
        if not rs or rs["kind"] != "ReplicaSet" or rs["metadata"]["name"] != ref.get("name"):
            bad_owner += 1
            continue
        dref = rs["metadata"]["ownerReferences"][0]
        dep = by_uid.get(dref["uid"])
        if not dep or dep["kind"] != "Deployment":
            bad_owner += 1
        replicas[rs["metadata"]["uid"]] = replicas.get(rs["metadata"]["uid"], 0) + 1
        if p["spec"].get("nodeName") not in nodes or p["status"]["phase"] != "Running":
            bad_node += 1
        cs = p["spec"]["containers"]
        if not (1 <= len(cs) <= 3) or not all("requests" in c["resources"] and
                                                "limits" in c["resources"] for c in cs):
            bad_res += 1
        labels = md.get("labels", {})
        for k in ("app", "team", "tier", "pod-template-hash"):
            if k not in labels:
                bad_res += 1
        if not md.get("managedFields"):
            bad_res += 1
    check(bad_owner == 0, "%s: pod ownerReferences resolve to RS and Deployment (%d bad)" %
          (cluster, bad_owner))
    check(bad_node == 0, "%s: pods Running on existing nodes (%d bad)" % (cluster, bad_node))
    check(bad_res == 0, "%s: containers, labels, managedFields (%d bad)" % (cluster, bad_res))
    check(all(replicas.get(r["metadata"]["uid"], 0) == r["spec"]["replicas"] for r in rss),
          "%s: every ReplicaSet owns spec.replicas pods" % cluster)
    check(all("kubectl.kubernetes.io/last-applied-configuration" in
              d["metadata"].get("annotations", {}) for d in deps),
          "%s: deployments carry the last-applied annotation" % cluster)
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    check(len(images) >= 5, "%s: varied images (%d)" % (cluster, len(images)))


def main():
    # generation itself: no controllers stamping status times onto workloads
    args = ["--clusters", "2", "--nodes", str(NODES), "--pods", str(PODS), "--namespaces",
            str(NS), "--no-controllers"]
    a = Sim(*(args + ["--seed", "7"]))
    b = Sim(*(args + ["--seed", "7"]))
    c = Sim(*(args + ["--seed", "8"]))
    try:
        for cl in ("east-1", "east-2"):
            check_shape(a, cl)
        sa, sb, sc = snapshot(a, "east-1"), snapshot(b, "east-1"), snapshot(c, "east-1")
        check(sa == sb, "same seed -> identical pods, deployments, replicasets")
        check(sa["/api/v1/pods"] != sc["/api/v1/pods"], "another seed -> other pods")
        check(snapshot(a, "east-2") != sa, "clusters of one fleet differ")
    finally:
        a.stop()
        b.stop()
        c.stop()

    # controllers run by default: they must neither duplicate nor delete the
    # generated pods (owned by generated ReplicaSets) nor fight churn's pods
    s = Sim("--clusters", "2", "--nodes", "3", "--pods", "40", "--namespaces", "3",
            "--churn", "60")
    try:
        st, _, body = s.req("east-1", "/api/v1/pods")
        rv = body["metadata"]["resourceVersion"]
        fleet0 = sorted(p["metadata"]["name"] for p in body["items"]
                        if "-churn-" not in p["metadata"]["name"])
        check(len(fleet0) == 40, "40 generated pods at start (%d)" % len(fleet0))
        t0 = time.time()
        st, evs = s.watch("east-1", "/api/v1/pods?watch=true&timeoutSeconds=2&resourceVersion=" +
                          rv)
        types = {e["type"] for e in evs}
        nss = {e["object"]["metadata"]["namespace"] for e in evs}
        check(st == 200 and len(evs) >= 60, "churn 60/s: >= 60 events in 2 s (%d)" % len(evs))
        check(types == {"ADDED", "MODIFIED", "DELETED"}, "churn: all three event types (%s)" %
              sorted(types))
        check(len(nss) == 3, "churn: spread over namespaces (%s)" % sorted(nss))
        check(time.time() - t0 < 4, "watch ended on time")
        st, evs2 = s.watch("east-2", "/api/v1/pods?watch=true&timeoutSeconds=1&resourceVersion=" +
                           s.req("east-2", "/api/v1/pods")[2]["metadata"]["resourceVersion"])
        check(len(evs2) >= 30, "churn also on east-2 (%d)" % len(evs2))
        body = s.req("east-1", "/api/v1/pods")[2]
        fleet1 = sorted(p["metadata"]["name"] for p in body["items"]
                        if "-churn-" not in p["metadata"]["name"])
        check(fleet1 == fleet0, "controllers + churn: generated pods neither duplicated nor "
              "deleted (%d -> %d)" % (len(fleet0), len(fleet1)))
        churn = [p for p in body["items"] if "-churn-" in p["metadata"]["name"]]
        check(len(churn) >= 8, "churn pods live alongside the controllers (%d)" % len(churn))
        reasons = {e["reason"] for e in s.req("east-1", "/api/v1/events")[2]["items"]}
        check(not reasons & {"SuccessfulCreate", "SuccessfulDelete", "ScalingReplicaSet"},
              "no ReplicaSet create/delete at startup or from churn (%s)" % sorted(reasons))
        rs = s.req("east-1", "/apis/apps/v1/replicasets")[2]["items"]
        check(sum(r["spec"]["replicas"] for r in rs) == 40 and
              sum(r["status"]["replicas"] for r in rs) == 40,
              "replicasets still want and have 40 pods")
    finally:
        s.stop()
    done()


if __name__ == "__main__":
    main()
