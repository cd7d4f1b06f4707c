#!/usr/bin/python3
"""tests/scheduler/test_place.py: the placement engine through the real
binary (`flotilla debug place`): Karmada's own unit-test tables for the
Webster method (pkg/util/helper/webstermethod_test.go), division
(pkg/scheduler/core/assignment_test.go, re-derived where Karmada moved from
floor-and-remainder to Webster) and spread selection
(pkg/scheduler/core/spreadconstraint), plus cases derived from Karmada's
documented behaviour for tie-breaks, scale up and down, Fresh mode,
fallback affinity groups, tolerations, capacity from nodes and pods with
node selectors and taints, policy matching, and quota refusal. Every
request goes in one run; each answer must equal the expected JSON exactly.
FLOTILLA_BIN names the binary."""
import json
import os
import subprocess
import sys

BIN = os.environ.get("FLOTILLA_BIN") or sys.argv[1]
CASES = []


def case(name, req, want):
    CASES.append((name, req, want))


def A(*pairs):
    return {"assignment": [{"name": n, "replicas": r} for n, r in pairs]}


def W(*pairs):
    return {"assignment": [{"name": n, "seats": s} for n, s in pairs]}


def cl(name, **kw):
    d = {"name": name}
    d.update(kw)
    return d


# ---------------------------------------------------------------- webster
VOTES = [("PartyA", 100000), ("PartyB", 80000), ("PartyC", 30000), ("PartyD", 20000)]
ROUNDS = {1: (1, 0, 0, 0), 2: (1, 1, 0, 0), 3: (2, 1, 0, 0), 4: (2, 1, 1, 0),
          5: (2, 2, 1, 0), 6: (2, 2, 1, 1), 7: (3, 2, 1, 1), 8: (3, 3, 1, 1)}
for k, seats in ROUNDS.items():
    case("classic example, round %d" % k,
         {"op": "webster", "seats": k, "uid": "",
          "parties": [{"name": n, "votes": v} for n, v in VOTES]},
         W(*zip([n for n, _ in VOTES], seats)))
case("example Alpha/Beta/Gamma", {"op": "webster", "seats": 4, "parties": [
    {"name": "Alpha", "votes": 1200}, {"name": "Beta", "votes": 900}, {"name": "Gamma", "votes": 400}]},
    W(("Alpha", 2), ("Beta", 1), ("Gamma", 1)))
case("empty parties", {"op": "webster", "seats": 1, "parties": []}, {"assignment": []})
case("no new seats", {"op": "webster", "seats": 0, "parties": [
    {"name": "PartyA", "votes": 100}, {"name": "PartyB", "votes": 200}]}, W(("PartyA", 0), ("PartyB", 0)))
case("tie broken by seats", {"op": "webster", "seats": 1, "parties": [
    {"name": "PartyA", "votes": 3, "initial": 1}, {"name": "PartyB", "votes": 1}]},
    W(("PartyA", 1), ("PartyB", 1)))
case("tie broken by name", {"op": "webster", "seats": 1, "uid": "", "parties": [
    {"name": "PartyA", "votes": 1}, {"name": "PartyB", "votes": 1}]}, W(("PartyA", 1), ("PartyB", 0)))
case("tie by name descending for an odd fnv32a(uid)", {"op": "webster", "seats": 1, "uid": "uid-a",
     "parties": [{"name": "PartyA", "votes": 1}, {"name": "PartyB", "votes": 1}]},
     W(("PartyA", 0), ("PartyB", 1)))
case("tie by name ascending for an even fnv32a(uid)", {"op": "webster", "seats": 1, "uid": "uid-b",
     "parties": [{"name": "PartyA", "votes": 1}, {"name": "PartyB", "votes": 1}]},
     W(("PartyA", 1), ("PartyB", 0)))
case("new party joins, old keeps its seats", {"op": "webster", "seats": 2, "parties": [
    {"name": "NewParty1", "votes": 1}, {"name": "NewParty2", "votes": 1},
    {"name": "OldParty", "votes": 0, "initial": 0}]},
    W(("NewParty1", 1), ("NewParty2", 1), ("OldParty", 0)))
case("old and new compete", {"op": "webster", "seats": 2, "parties": [
    {"name": "OldParty", "votes": 1, "initial": 1}, {"name": "NewParty", "votes": 1}]},
    W(("NewParty", 2), ("OldParty", 1)))
case("a 0-vote party keeps its initial seats", {"op": "webster", "seats": 2, "parties": [
    {"name": "PartyA", "votes": 100}, {"name": "PartyB", "votes": 0, "initial": 3}]},
    W(("PartyA", 2), ("PartyB", 3)))
case("0-vote parties get seats once every party is at priority 0", {"op": "webster", "seats": 3,
     "parties": [{"name": "a", "votes": 0, "initial": 2}, {"name": "b", "votes": 0},
                 {"name": "c", "votes": 0, "initial": 1}]},
    W(("a", 2), ("b", 2), ("c", 2)))

# ---------------------------------------------------------------- assign: static weight
M3 = ["member1", "member2", "member3"]
case("replica 12, weight 3:2:1", {"op": "assign", "strategy": "static_weight", "replicas": 12,
     "clusters": [cl(n, weight=w) for n, w in zip(M3, (3, 2, 1))]},
     A(("member1", 6), ("member2", 4), ("member3", 2)))
case("replica 12, default weight", {"op": "assign", "strategy": "static_weight", "replicas": 12,
     "clusters": [cl(n) for n in M3]}, A(("member1", 4), ("member2", 4), ("member3", 4)))
case("replica 14, weight 3:2:1 (Webster)", {"op": "assign", "strategy": "static_weight",
     "replicas": 14, "clusters": [cl(n, weight=w) for n, w in zip(M3, (3, 2, 1))]},
     A(("member1", 7), ("member2", 5), ("member3", 2)))
case("replica 0 keeps every cluster at 0", {"op": "assign", "strategy": "static_weight",
     "replicas": 0, "clusters": [cl("member1", weight=1), cl("member2", weight=1)]},
     A(("member1", 0), ("member2", 0)))
case("cluster without weight is ignored", {"op": "assign", "strategy": "static_weight",
     "replicas": 2, "clusters": [cl("member1", weight=1), cl("member2", weight=None)]},
     A(("member1", 2)))
case("weight 0 drops the cluster", {"op": "assign", "strategy": "static_weight", "replicas": 5,
     "clusters": [cl("member1", weight=0), cl("member2", weight=1)]}, A(("member2", 5)))
case("equal weights, odd uid: names descending", {"op": "assign", "strategy": "static_weight",
     "replicas": 3, "uid": "uid-a", "clusters": [cl("m1", weight=1), cl("m2", weight=1)]},
     A(("m1", 1), ("m2", 2)))
case("equal weights, even uid: names ascending", {"op": "assign", "strategy": "static_weight",
     "replicas": 3, "uid": "uid-b", "clusters": [cl("m1", weight=1), cl("m2", weight=1)]},
     A(("m1", 2), ("m2", 1)))
case("static weights start from scratch", {"op": "assign", "strategy": "static_weight",
     "replicas": 4, "clusters": [cl("m1", weight=1, current=4), cl("m2", weight=1)]},
     A(("m1", 2), ("m2", 2)))

# ---------------------------------------------------------------- assign: duplicated
case("duplicated", {"op": "assign", "strategy": "duplicated", "replicas": 3,
     "clusters": [cl("m1"), cl("m2")]}, A(("m1", 3), ("m2", 3)))
case("no candidate", {"op": "assign", "strategy": "duplicated", "replicas": 3, "clusters": []},
     {"error": "no clusters available to schedule"})

# ---------------------------------------------------------------- assign: dynamic
case("replica 12 -> 6, dynamic weighted", {"op": "assign", "strategy": "dynamic_weight",
     "replicas": 6, "clusters": [cl(n, available=1, current=c) for n, c in zip(M3, (2, 4, 6))]},
     A(("member1", 1), ("member2", 2), ("member3", 3)))
# scale up divides the new replicas alone and adds them (karmada 1ead5cb, after #6837)
case("replica 12 -> 24, dynamic weighted 10:10:10", {"op": "assign", "strategy": "dynamic_weight",
     "replicas": 24, "clusters": [cl(n, available=10, current=c) for n, c in zip(M3, (2, 4, 6))]},
     A(("member1", 6), ("member2", 8), ("member3", 10)))
case("replica 12 -> 24, dynamic weighted 1:1:1 is unschedulable",
     {"op": "assign", "strategy": "dynamic_weight", "replicas": 24,
      "clusters": [cl(n, available=1, current=c) for n, c in zip(M3, (2, 4, 6))]},
     {"error": "failed to scale up: Clusters available replicas 3 are not enough to schedule."})
case("first schedule, dynamic", {"op": "assign", "strategy": "dynamic_weight", "replicas": 6,
     "clusters": [cl("m1", available=2), cl("m2", available=4)]}, A(("m1", 2), ("m2", 4)))
case("first schedule without an estimate uses the replicas", {"op": "assign",
     "strategy": "dynamic_weight", "replicas": 4, "clusters": [cl("m1"), cl("m2")]},
     A(("m1", 2), ("m2", 2)))
case("unchanged replicas keep the placement", {"op": "assign", "strategy": "dynamic_weight",
     "replicas": 6, "clusters": [cl("m1", available=100, current=1), cl("m2", available=0, current=5)]},
     A(("m1", 1), ("m2", 5)))
case("previous clusters are placed again", {"op": "assign", "strategy": "dynamic_weight",
     "replicas": 4, "clusters": [cl("m1", available=10), cl("m2", available=10)],
     "previous": [{"name": "m9", "replicas": 4}]}, A(("m1", 2), ("m2", 2)))
case("fresh mode divides from scratch", {"op": "assign", "strategy": "dynamic_weight",
     "replicas": 12, "mode": "Fresh",
     "clusters": [cl("member1", available=4, current=2), cl("member2", available=4, current=4)]},
     A(("member1", 5), ("member2", 7)))
case("fresh mode, not enough", {"op": "assign", "strategy": "dynamic_weight", "replicas": 12,
     "mode": "Fresh", "clusters": [cl("m1", available=1, current=2), cl("m2", available=1, current=4)]},
     {"error": "failed to do fresh scale: Clusters available replicas 8 are not enough to schedule."})

# ---------------------------------------------------------------- assign: aggregated
case("replica 12 -> 6, aggregated", {"op": "assign", "strategy": "aggregated", "replicas": 6,
     "clusters": [cl("member1", available=1, current=4), cl("member2", available=1, current=8),
                  cl("member3", available=1)]}, A(("member2", 6)))
case("replica 12 -> 8, aggregated 100:100", {"op": "assign", "strategy": "aggregated", "replicas": 8,
     "clusters": [cl("member1", available=100, current=4), cl("member2", available=100, current=8)]},
     A(("member2", 8)))
case("first schedule, aggregated takes the shortest prefix", {"op": "assign",
     "strategy": "aggregated", "replicas": 5,
     "clusters": [cl("m1", available=3), cl("m2", available=8), cl("m3", available=4)]},
     A(("m2", 5)))
case("aggregated ties keep candidate order", {"op": "assign", "strategy": "aggregated",
     "replicas": 5, "clusters": [cl("m2", available=8), cl("m1", available=8)]}, A(("m2", 5)))
# holders first (m2, then m1); the 4 new replicas divided 1:3 by 3:10, added to m2's 2
case("aggregated scale up: holders first, new seats by Webster",
     {"op": "assign", "strategy": "aggregated", "replicas": 6,
      "clusters": [cl("m1", available=10), cl("m2", available=3, current=2)]},
     A(("m1", 3), ("m2", 3)))

# ---------------------------------------------------------------- select
S3 = [cl("member1", score=60, available=40), cl("member2", score=50, available=30),
      cl("member3", score=40, available=60)]


def sel(replicas, strategy, spread, clusters):
    return {"op": "select", "replicas": replicas, "strategy": strategy,
            "spreadConstraints": spread, "clusters": clusters}


CLU = lambda lo, hi: {"spreadByField": "cluster", "minGroups": lo, "maxGroups": hi}
REG = lambda lo, hi: {"spreadByField": "region", "minGroups": lo, "maxGroups": hi}
case("no constraints: every cluster", sel(10, "divided", [], S3),
     {"clusters": ["member1", "member2", "member3"]})
case("by cluster, duplicated: best scores", sel(80, "duplicated", [CLU(1, 2)], S3),
     {"clusters": ["member1", "member2"]})
case("by cluster, divided: swap in capacity", sel(80, "divided", [CLU(1, 2)], S3),
     {"clusters": ["member1", "member3"]})
case("by cluster, divided: not enough", sel(200, "divided", [CLU(1, 2)], S3),
     {"error": "no enough resource when selecting 2 clusters"})
case("by cluster, too few clusters", sel(10, "divided", [CLU(4, 4)], S3),
     {"error": "the number of feasible clusters is less than spreadConstraint.MinGroups"})
# Karmada's TestSelectBestClusters (pkg/scheduler/core/spreadconstraint/select_clusters_test.go)
K4 = [cl("member4", score=60, available=50, provider="P2", region="R2", zone="Z2"),
      cl("member2", score=40, available=60, provider="P1", region="R1", zone="Z2"),
      cl("member3", score=30, available=80, provider="P2", region="R1", zone="Z1"),
      cl("member1", score=20, available=40, provider="P1", region="R1", zone="Z1")]
case("karmada: select clusters by cluster score", {"op": "select", "replicas": 100,
     "spreadConstraints": [CLU(1, 2)], "clusters": K4}, {"clusters": ["member4", "member2"]})
case("karmada: duplicated ignores available resources", sel(120, "duplicated", [CLU(1, 2)], K4),
     {"clusters": ["member4", "member2"]})
case("karmada: static weight ignores the spread constraints", sel(120, "static_weight", [CLU(1, 2)], K4),
     {"clusters": ["member4", "member2", "member3", "member1"]})
case("karmada: by cluster score and satisfy available resources", sel(120, "divided", [CLU(1, 2)], K4),
     {"clusters": ["member4", "member3"]})
case("karmada: by cluster score and insufficient resources", sel(200, "divided", [CLU(1, 2)], K4),
     {"error": "no enough resource when selecting 2 clusters"})
case("karmada: exceeded the number of available clusters", {"op": "select", "replicas": 30,
     "spreadConstraints": [CLU(7, 7)], "clusters": K4},
     {"error": "the number of feasible clusters is less than spreadConstraint.MinGroups"})
# Karmada's Test_selectBestClustersByRegion (select_clusters_by_region_test.go). Karmada's
# table gives region scores directly; here they are derived from the clusters (divided, 0
# replicas: 1000 + the best cluster's score), which keeps every table's region order.


def reg(clusters):
    return [cl(n, score=sc, available=av, region=r, provider="P1", zone="Z1") for n, sc, av, r in clusters]


KR1 = reg([("member1", 100, 40, "R1"), ("member2", 80, 40, "R1"), ("member3", 80, 40, "R2"),
           ("member4", 80, 40, "R2"), ("member5", 60, 40, "R2")])
case("karmada: cluster from the region with the higher score", sel(0, "divided", [REG(1, 1), CLU(2, 2)], KR1),
     {"clusters": ["member1", "member2"]})
case("karmada: cluster from the region with enough clusters", sel(0, "divided", [REG(1, 1), CLU(3, 3)], KR1),
     {"clusters": ["member3", "member4", "member5"]})
KR3 = reg([("member1", 90, 40, "R1"), ("member2", 70, 40, "R2"), ("member3", 60, 40, "R2"),
           ("member4", 30, 40, "R2"), ("member5", 80, 40, "R3"), ("member6", 50, 60, "R3"),
           ("member7", 50, 50, "R4"), ("member8", 40, 50, "R4"), ("member9", 10, 50, "R4"),
           ("member10", 0, 50, "R4")])
case("karmada: regions with enough clusters and higher score", sel(0, "divided", [REG(2, 2), CLU(4, 5)], KR3),
     {"clusters": ["member1", "member2", "member3", "member4"]})
KR4 = reg([("member1", 70, 40, "R1"), ("member2", 40, 40, "R2"), ("member3", 40, 40, "R2"),
           ("member4", 40, 40, "R2"), ("member5", 60, 40, "R3"), ("member6", 50, 60, "R3"),
           ("member7", 70, 100, "R4"), ("member8", 50, 50, "R5")])
case("karmada: more than minGroups regions with enough clusters and higher score",
     sel(0, "divided", [REG(1, 3), CLU(6, 8)], KR4),
     {"clusters": ["member1", "member5", "member2", "member6", "member3", "member4"]})
case("karmada: no enough region", sel(0, "divided", [REG(3, 3), CLU(3, 3)], KR1),
     {"error": "the number of feasible region is less than spreadConstraint.MinGroups"})
case("karmada: no enough clusters", sel(0, "divided", [REG(1, 1), CLU(4, 4)], KR1),
     {"error": "the number of clusters is less than the cluster spreadConstraint.MinGroups"})
case("karmada: no more regions to replace", sel(0, "divided", [REG(1, 1), CLU(3, 4)],
     reg([("member1", 100, 40, "R1"), ("member2", 80, 20, "R1")])),
     {"error": "the number of clusters is less than the cluster spreadConstraint.MinGroups"})
R5 = [cl("member1", score=60, available=40, region="R1"), cl("member2", score=50, available=30, region="R1"),
      cl("member3", score=40, available=60, region="R2"), cl("member4", score=30, available=10, region="R2"),
      cl("member5", score=20, available=100, region="R3")]
case("by region then cluster", sel(100, "divided", [REG(2, 2), CLU(2, 3)], R5),
     {"clusters": ["member1", "member3", "member2"]})
case("by region, too few regions", sel(100, "divided", [REG(4, 4), CLU(2, 3)], R5),
     {"error": "the number of feasible region is less than spreadConstraint.MinGroups"})
case("by region, clusters short of the cluster minGroups", sel(100, "divided", [REG(1, 1), CLU(3, 3)], R5),
     {"error": "the number of clusters is less than the cluster spreadConstraint.MinGroups"})
case("by region, duplicated group scores", sel(50, "duplicated", [REG(1, 1), CLU(1, 2)], R5),
     {"clusters": ["member3", "member4"]})
Z = [cl("a", score=0, available=5, zone="z1"), cl("b", score=0, available=9, zone="z2"),
     cl("c", score=0, available=1, zone="z2")]
case("by zone (Flotilla's extension)", sel(6, "divided",
     [{"spreadByField": "zone", "minGroups": 1, "maxGroups": 1}, CLU(1, 2)], Z),
     {"clusters": ["b", "c"]})

# ---------------------------------------------------------------- place


def tmpl(replicas=3, ns="default", name="web", labels=None, spec=None, uid=""):
    pod = spec or {"containers": [{"name": "c", "image": "nginx"}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": "web"}, "uid": uid},
            "spec": {"replicas": replicas, "template": {"spec": pod}}}


def pp(placement, name="pp", ns="default", kind="PropagationPolicy", selectors=None, priority=None):
    spec = {"resourceSelectors": selectors or [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "placement": placement}
    if priority is not None:
        spec["priority"] = priority
    md = {"name": name}
    if kind == "PropagationPolicy":
        md["namespace"] = ns
    return {"apiVersion": "policy.karmada.io/v1alpha1", "kind": kind, "metadata": md, "spec": spec}


FLEET = [cl("m1", region="east", zone="east-a", provider="aws", labels={"env": "prod"}),
         cl("m2", region="east", zone="east-b", provider="gcp", labels={"env": "prod"},
            taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
         cl("m3", region="west", zone="west-a", provider="aws", labels={"env": "dev"})]
DUP = {"replicaScheduling": {"replicaSchedulingType": "Duplicated"}}


def place(placement, clusters=FLEET, t=None, **kw):
    r = {"op": "place", "policy": pp(placement), "template": t or tmpl(), "clusters": clusters}
    r.update(kw)
    return r


def P(*pairs, **extra):
    d = {"clusters": [{"name": n, "replicas": r} for n, r in pairs]}
    d.update(extra)
    return d


case("place: duplicated over clusterNames", place(dict(DUP, clusterAffinity={"clusterNames": ["m1", "m3"]})),
     P(("m1", 3), ("m3", 3)))
case("place: untolerated taint filters", place(DUP), P(("m1", 3), ("m3", 3)))
case("place: tolerated taint passes", place(dict(DUP, clusterTolerations=[
    {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])),
    P(("m1", 3), ("m2", 3), ("m3", 3)))
case("place: a cluster that holds the workload passes NoSchedule", place(DUP, previous=[{"name": "m2", "replicas": 3}]),
     P(("m1", 3), ("m2", 3), ("m3", 3)))
case("place: ... but not NoExecute", place(DUP, previous=[{"name": "m2", "replicas": 3}], clusters=[
    cl("m1"), cl("m2", taints=[{"key": "down", "effect": "NoExecute"}])]), P(("m1", 3)))
case("place: NoExecute message without a value", place(dict(DUP, clusterAffinity={"clusterNames": ["m2"]}),
     clusters=[cl("m2", taints=[{"key": "down", "effect": "NoExecute"}])]),
     {"error": "0/1 clusters are available: 1 cluster(s) had untolerated taint {down:NoExecute}.",
      "reason": "NoClusterFit"})
case("place: labelSelector", place(dict(DUP, clusterAffinity={"labelSelector": {"matchLabels": {"env": "dev"}}})),
     P(("m3", 3)))
case("place: fieldSelector on region", place(dict(DUP, clusterAffinity={"fieldSelector": {"matchExpressions": [
    {"key": "region", "operator": "In", "values": ["east"]}]}}, clusterTolerations=[{"operator": "Exists"}])),
    P(("m1", 3), ("m2", 3)))
case("place: exclude", place(dict(DUP, clusterAffinity={"exclude": ["m1"]})), P(("m3", 3)))
case("place: NoClusterFit with a reason per cluster", place(dict(DUP, clusterAffinity={"clusterNames": ["m2"]})),
     {"error": "0/3 clusters are available: 1 cluster(s) had untolerated taint {dedicated=gpu:NoSchedule}, "
               "2 cluster(s) did not match the placement cluster affinity constraint.", "reason": "NoClusterFit"})
case("place: eviction and API enablement", place(DUP, clusters=[
    cl("m1", evicting=True), cl("m3", apis=["v1/ConfigMap"]), cl("m4", apis=["apps/v1/Deployment"])]),
    P(("m4", 3)))
# more than one zone per cluster (Karmada's cluster.spec.zones)
ZONED = [cl("m1", score=60, available=50, zones=["a", "b"]), cl("m2", score=50, available=50, zone="c"),
         cl("m3", score=40, available=50, zones=["c"])]
ZONE = lambda lo, hi: {"spreadByField": "zone", "minGroups": lo, "maxGroups": hi}
case("select: the zone with more fitting clusters scores higher", sel(10, "duplicated", [ZONE(2, 2)], ZONED),
     {"clusters": ["m2", "m1"]})
case("select: a cluster in two selected zones is chosen once", sel(10, "duplicated", [ZONE(3, 3)], ZONED[:2]),
     {"clusters": ["m1", "m2"]})
case("select: zone groups with clusters filled by score", sel(10, "duplicated", [ZONE(3, 3), CLU(1, 3)], ZONED),
     {"clusters": ["m2", "m1", "m3"]})
case("select: zones counted across clusters", sel(10, "duplicated", [ZONE(4, 4)], ZONED),
     {"error": "the number of feasible zone is less than spreadConstraint.MinGroups"})
ZF = [cl("m1", zones=["a", "b"]), cl("m2", zone="a"), cl("m3", zones=[])]
case("place: zone In needs every zone of the cluster listed (Karmada's matchZones)",
     place(dict(DUP, clusterAffinity={"fieldSelector": {"matchExpressions": [
         {"key": "zone", "operator": "In", "values": ["a"]}]}}), clusters=ZF), P(("m2", 3)))
case("place: zone In with all of them", place(dict(DUP, clusterAffinity={"fieldSelector": {"matchExpressions": [
    {"key": "zone", "operator": "In", "values": ["a", "b"]}]}}), clusters=ZF), P(("m1", 3), ("m2", 3)))
case("place: zone NotIn excludes a cluster with any of them", place(dict(DUP, clusterAffinity={"fieldSelector": {
    "matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}}), clusters=ZF),
    P(("m2", 3), ("m3", 3)))
case("place: zones satisfy a zone spread constraint's filter", place(dict(DUP, spreadConstraints=[ZONE(1, 2)]),
     clusters=[cl("m1", zones=["a", "b"]), cl("m3")]), P(("m1", 3)))

# Karmada's ClusterEviction plugin (cluster_eviction_test.go): eviction tasks and the last failover
case("place: a cluster in the binding's gracefulEvictionTasks is filtered",
     place(dict(DUP, clusterAffinity={"clusterNames": ["m1"]}), binding={"spec": {"gracefulEvictionTasks": [
         {"fromCluster": "m1"}]}}),
     {"error": "0/3 clusters are available: 1 cluster(s) did not match the placement cluster affinity "
               "constraint, 1 cluster(s) had untolerated taint {dedicated=gpu:NoSchedule}, 1 cluster(s) is in "
               "the process of eviction.", "reason": "NoClusterFit"})
case("place: clusters the last failover left are filtered",
     place(dict(DUP, clusterAffinity={"clusterNames": ["m1", "m3"]}), binding={"status": {"failoverHistory": [
         {"clustersBeforeFailover": ["m3"]}, {"clustersBeforeFailover": ["m1"]}]}}), P(("m3", 3)))
case("place: the failover message names the cluster",
     place(dict(DUP, clusterAffinity={"clusterNames": ["m1"]}), binding={"status": {"failoverHistory": [
         {"clustersBeforeFailover": ["m1"]}]}}),
     {"error": "0/3 clusters are available: 1 cluster(s) did not match the placement cluster affinity "
               "constraint, 1 cluster(s) had untolerated taint {dedicated=gpu:NoSchedule}, 1 workload has "
               "been failed over from this cluster m1.", "reason": "NoClusterFit"})
case("place: clusterAffinities fall back in order", place(dict(DUP, clusterAffinities=[
    {"affinityName": "primary", "clusterNames": ["m2"]}, {"affinityName": "backup", "clusterNames": ["m3"]}])),
    P(("m3", 3), affinityName="backup"))
case("place: clusterAffinities start from the group in use", place(dict(DUP, clusterAffinities=[
    {"affinityName": "primary", "clusterNames": ["m1"]}, {"affinityName": "backup", "clusterNames": ["m3"]}]),
    affinityName="backup"), P(("m3", 3), affinityName="backup"))
ONE = dict(DUP, spreadConstraints=[{"spreadByField": "cluster", "minGroups": 1, "maxGroups": 1}])
case("place: spread by cluster picks by score then name", place(ONE, clusters=[cl("m1"), cl("m3")]), P(("m1", 3)))
case("place: locality (score 100) keeps the cluster in use", place(ONE, clusters=[cl("m1"), cl("m3")],
     previous=[{"name": "m3", "replicas": 3}]), P(("m3", 3)))
STATIC = {"replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted",
          "weightPreference": {"staticWeightList": [
              {"targetCluster": {"clusterNames": ["m1"]}, "weight": 1},
              {"targetCluster": {"labelSelector": {"matchLabels": {"env": "dev"}}}, "weight": 2},
              {"targetCluster": {"clusterNames": ["m3"]}, "weight": 1}]}}}
case("place: static weights, max over matching rules", place(STATIC, t=tmpl(replicas=9)),
     P(("m1", 3), ("m3", 6)))

# capacity from nodes and pods
def node(name, cpu="4", pods="110", labels=None, taints=None, ready=True, unschedulable=False):
    n = {"metadata": {"name": name, "labels": labels or {}},
         "spec": {"taints": taints or []},
         "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": pods},
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    if unschedulable:
        n["spec"]["unschedulable"] = True
    return n


def pod(node_name, cpu="1", phase="Running"):
    return {"metadata": {"name": "p"}, "spec": {"nodeName": node_name, "containers": [
        {"name": "c", "resources": {"requests": {"cpu": cpu}}}]}, "status": {"phase": phase}}


REQ = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}], "nodeSelector": {"disk": "ssd"}}
DYN = {"replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted",
       "weightPreference": {"dynamicWeight": "AvailableReplicas"}}}
CAP = [cl("c1", nodes=[node("n1", cpu="2", labels={"disk": "ssd"})],
          pods=[pod("n1", "1"), pod("n1", "1", phase="Succeeded")]),
       cl("c2", nodes=[node("n1", labels={"disk": "hdd"}),
                       node("n2", labels={"disk": "ssd"}, taints=[{"key": "x", "effect": "NoSchedule"}]),
                       node("n3", labels={"disk": "ssd"}, ready=False),
                       node("n4", labels={"disk": "ssd"}, unschedulable=True)], pods=[]),
       cl("c3", nodes=[node("n1", labels={"disk": "ssd"}), node("n2", labels={"disk": "ssd"}, pods="3")], pods=[])]
case("place: capacity from nodes, selectors, taints and pods", place(DYN, clusters=CAP, t=tmpl(6, spec=REQ)),
     P(("c1", 1), ("c3", 5)))
case("place: capacity short is unschedulable", place(DYN, clusters=CAP, t=tmpl(20, spec=REQ)),
     {"error": "failed to scale up: Clusters available replicas 13 are not enough to schedule.",
      "reason": "NoClusterFit"})
case("place: tolerations open tainted nodes", place(DYN, clusters=CAP, t=tmpl(20, spec=dict(REQ, tolerations=[
    {"key": "x", "operator": "Exists"}]))), P(("c1", 2), ("c2", 8), ("c3", 10)))
case("place: spread by region filters clusters without one", place(dict(DUP, spreadConstraints=[
    {"spreadByField": "region", "minGroups": 1, "maxGroups": 1}, {"spreadByField": "cluster", "minGroups": 1, "maxGroups": 1}]),
    clusters=[cl("a"), cl("b", region="r1", zone="z")]), P(("b", 3)))
case("place: spread filter wording", place(dict(DUP, spreadConstraints=[{"spreadByField": "zone", "minGroups": 1, "maxGroups": 1}]),
     clusters=[cl("a")]), {"error": "0/1 clusters are available: 1 cluster(s) didn't have zone property.",
                           "reason": "NoClusterFit"})
case("place: pending replicas are not free", place(DYN, clusters=[cl("a", available=4, pending=3), cl("b", available=4)],
     t=tmpl(5)), P(("a", 1), ("b", 4)))

# non-workloads and jobs
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": {"a": "b"}}
case("place: a non-workload goes to every candidate with 0 replicas", {"op": "place", "policy": pp(
    dict(DUP, clusterAffinity={"clusterNames": ["m1", "m3"]}), selectors=[{"apiVersion": "v1", "kind": "ConfigMap"}]),
    "template": CM, "clusters": FLEET}, P(("m1", 0), ("m3", 0)))
JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "default"},
       "spec": {"parallelism": 4, "template": {"spec": {"containers": [{"name": "c"}]}}}}
case("place: a Job divides its parallelism", {"op": "place", "policy": pp(dict(STATIC, clusterAffinity={
    "clusterNames": ["m1", "m3"]}), selectors=[{"apiVersion": "batch/v1", "kind": "Job"}]), "template": JOB,
    "clusters": FLEET}, P(("m1", 1), ("m3", 3)))

# quota
QREQ = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]}
case("place: quota refusal", place(dict(DUP, clusterAffinity={"clusterNames": ["m1"]}), t=tmpl(4, spec=QREQ),
     quota={"name": "q", "hard": {"requests.cpu": "2"}, "used": {"requests.cpu": "1"}}),
     {"error": "exceeded quota: q, requested: requests.cpu=2, used: requests.cpu=1, limited: requests.cpu=2 "
               "(cluster m1, namespace default)", "reason": "QuotaExceeded"})
case("place: within quota", place(dict(DUP, clusterAffinity={"clusterNames": ["m1"]}), t=tmpl(2, spec=QREQ),
     quota={"name": "q", "hard": {"requests.cpu": "2"}, "used": {"requests.cpu": "1"}}), P(("m1", 2)))
case("place: quota counts only what is added", place(dict(DUP, clusterAffinity={"clusterNames": ["m1"]}),
     t=tmpl(4, spec=QREQ), previous=[{"name": "m1", "replicas": 3}],
     quota={"name": "q", "hard": {"requests.cpu": "2"}, "used": {"requests.cpu": "1"}}), P(("m1", 4)))

# policy matching
def policies_req(policies, t=None):
    return {"op": "place", "policies": policies, "template": t or tmpl(), "clusters": [cl("m1"), cl("m3")]}


ONLY = lambda c: dict(DUP, clusterAffinity={"clusterNames": [c]})
case("policy: name beats kind", policies_req([
    pp(ONLY("m1"), name="a-kind"),
    pp(ONLY("m3"), name="z-name", selectors=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}])]),
    P(("m3", 3)))
case("policy: labelSelector beats kind", policies_req([
    pp(ONLY("m1"), name="a-kind"),
    pp(ONLY("m3"), name="b-label", selectors=[{"apiVersion": "apps/v1", "kind": "Deployment",
                                               "labelSelector": {"matchLabels": {"app": "web"}}}])]),
    P(("m3", 3)))
case("policy: explicit priority first", policies_req([
    pp(ONLY("m1"), name="a-kind", priority=5),
    pp(ONLY("m3"), name="z-name", selectors=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}])]),
    P(("m1", 3)))
case("policy: name order last", policies_req([pp(ONLY("m3"), name="b"), pp(ONLY("m1"), name="a")]), P(("m1", 3)))
case("policy: PropagationPolicy beats ClusterPropagationPolicy", policies_req([
    pp(ONLY("m1"), name="cpp", kind="ClusterPropagationPolicy", priority=100,
       selectors=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]),
    pp(ONLY("m3"), name="pp")]), P(("m3", 3)))
case("policy: another namespace's PropagationPolicy does not match", policies_req([
    pp(ONLY("m1"), name="other", ns="other"), pp(ONLY("m3"), name="cpp", kind="ClusterPropagationPolicy")]),
    P(("m3", 3)))
case("policy: none matches", policies_req([pp(ONLY("m1"), selectors=[{"apiVersion": "v1", "kind": "ConfigMap"}])]),
     {"error": "no PropagationPolicy or ClusterPropagationPolicy matches the template", "reason": "NoPolicyMatch"})


case("place: explain shows each cluster's filter, score, availability and share",
     dict(place(DYN, clusters=[cl("a", available=3), cl("b", available=9, taints=[{"key": "x", "effect": "NoSchedule"}]),
                               cl("c", available=4)], t=tmpl(5)), explain=True),
     {"clusters": [{"name": "a", "replicas": 2}, {"name": "c", "replicas": 3}],
      "explain": {"policy": "default/pp", "kind": "PropagationPolicy", "strategy": "DynamicWeight", "replicas": 5,
                  "attempts": [{"affinityName": None, "clusters": [
                      {"name": "a", "filter": "passed", "score": 0, "available": 3, "selected": True, "replicas": 2},
                      {"name": "b", "filter": "cluster(s) had untolerated taint {x:NoSchedule}"},
                      {"name": "c", "filter": "passed", "score": 0, "available": 4, "selected": True, "replicas": 3}],
                      "quota": "not checked"}]}})


# ---------------------------------------------------------------- upstream tables as data
# tests/scheduler/cases/*.jsonl: one case a line, {"name", "upstream", "req", "want"[, "note"]},
# ported from Karmada's unit-test tables (the file named in "upstream")
CASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
for fn in sorted(os.listdir(CASES_DIR)):
    if fn.endswith(".jsonl"):
        with open(os.path.join(CASES_DIR, fn)) as f:
            for ln in f:
                if ln.strip():
                    c = json.loads(ln)
                    case("%s: %s" % (fn, c["name"]), c["req"], c["want"])


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def main():
    fails = 0
    stdin = "".join(compact(r) + "\n" for _, r, _ in CASES)
    p = subprocess.run([BIN, "debug", "place"], input=stdin.encode(), capture_output=True, timeout=60)
    lines = p.stdout.decode().split("\n")
    if p.returncode != 0 or len(lines) - 1 != len(CASES):
        print("FAIL: rc %d, %d answers for %d requests; stderr %s" %
              (p.returncode, len(lines) - 1, len(CASES), p.stderr.decode()))
        sys.exit(1)
    for (name, _, want), got in zip(CASES, lines):
        if json.loads(got) != want:
            fails += 1
            print("FAIL: %s\n  got  %s\n  want %s" % (name, got, compact(want)))
    # malformed requests answer an error and the loop goes on
    bad = ['{"op":"assign","strategy":"nope","clusters":[]}', '{"op":"select"}',
           '{"op":"webster","parties":[{"name":"a"},{"name":"a"}]}', '{"op":"place"}',
           '{"op":"webster","seats":-1,"parties":[]}']
    p = subprocess.run([BIN, "debug", "place"], input=("\n".join(bad) + "\n").encode(),
                       capture_output=True, timeout=60)
    answers = [json.loads(l) for l in p.stdout.decode().split("\n") if l]
    if len(answers) != len(bad) or not all("error" in a for a in answers):
        fails += 1
        print("FAIL: malformed requests: %s" % p.stdout.decode())
    print("%d cases, %d failure(s)" % (len(CASES), fails))
    sys.exit(1 if fails else 0)


main()
