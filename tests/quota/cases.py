"""tests/quota/cases.py: the `flotilla debug quota` cases, as a list CASES of
{"name", "in", "out"} (or "error": True for malformed requests). Expected
answers are written by hand from Karmada's and Kubernetes' sources and unit
tests (Karmada's Test_validateOverallAndAssignments and
TestValidatingAdmission_Handle, Kubernetes' TestPodEvaluatorUsage and
TestPodConstraintsFunc) and from kube-apiserver v1.26's recorded answers
(quota-*.json beside this file, copied from k8s-golden/07-semantics)."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
C = []
def case(name, inp, out=None, error=False):
    c = {"name": name, "in": inp}
    if error: c["error"] = True
    else: c["out"] = out
    C.append(c)

def frq(overall, sas, name="f", status=None):
    o = {"metadata": {"name": name, "namespace": "ns"}, "spec": {"overall": overall, "staticAssignments": [{"clusterName": c, "hard": h} for c, h in sas]}}
    if status is not None: o["status"] = status
    return {"op": "frq.validate", "frq": o}

# ---- Karmada Test_validateOverallAndAssignments
case("karmada: normal", frq({"cpu": "10", "memory": "10Gi"}, [("m1", {"cpu": "1", "memory": "1Gi"}), ("m2", {"cpu": "1.5", "memory": "2Gi"})]), {"errors": []})
case("karmada: overall[cpu] is less than assignments", frq({"cpu": "10", "memory": "10Gi"}, [("m1", {"cpu": "1", "memory": "1Gi"}), ("m2", {"cpu": "10", "memory": "2Gi"})]),
     {"errors": ['spec.overall[cpu]: Invalid value: "10": overall is less than assignments']})
case("karmada: overall[memory] is less than assignments", frq({"cpu": "10", "memory": "10Gi"}, [("m1", {"cpu": "1", "memory": "1Gi"}), ("m2", {"cpu": "1.5", "memory": "10Gi"})]),
     {"errors": ['spec.overall[memory]: Invalid value: "10Gi": overall is less than assignments']})
case("karmada: assignment resourceName is not exist in overall", frq({"cpu": "10", "memory": "10Gi"}, [("m1", {"cpux": "1", "memory": "1Gi"}), ("m2", {"cpu": "1.5", "memory": "2Gi"})]),
     {"errors": ['spec.staticAssignments[0].hard[cpux]: Invalid value: "cpux": must be a standard resource type or fully qualified',
                 'spec.staticAssignments[0].hard[cpux]: Invalid value: "cpux": must be a standard resource for quota',
                 'spec.staticAssignments[0].hard[cpux]: Invalid value: "cpux": assignment resourceName is not exist in overall']})
case("karmada: name longer than 63", frq({"cpu": "1"}, [], name="a" * 64),
     {"errors": ['metadata.name: Invalid value: "%s": must be no more than 63 characters' % ("a" * 64)]})
case("karmada: name of 63 is fine", frq({"cpu": "1"}, [], name="a" * 63), {"errors": []})
case("karmada: empty cluster name", frq({"cpu": "2"}, [("", {"cpu": "1"})]),
     {"errors": ['spec.staticAssignments[0].clusterName: Invalid value: "": must be not empty']})
case("karmada: cluster name longer than 48", frq({"cpu": "2"}, [("c" * 49, {"cpu": "1"})]),
     {"errors": ['spec.staticAssignments[0].clusterName: Invalid value: "%s": must be no more than 48 characters' % ("c" * 49)]})
case("karmada: cluster name not a DNS label", frq({"cpu": "2"}, [("Member_1", {"cpu": "1"})]),
     {"errors": ["spec.staticAssignments[0].clusterName: Invalid value: \"Member_1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]})
case("kube: negative quantity", frq({"cpu": "-1"}, []),
     {"errors": ['spec.overall[cpu]: Invalid value: "-1": must be greater than or equal to 0',
                 'spec.overall[cpu]: Invalid value: "-1": overall is less than assignments']})
case("kube: pods must be an integer", frq({"pods": "1.5"}, []),
     {"errors": ['spec.overall[pods]: Invalid value: "1500m": must be an integer']})
case("kube: extended resource must be an integer", frq({"nvidia.com/gpu": "500m", "requests.nvidia.com/gpu": "500m"}, []),
     {"errors": ['spec.overall[nvidia.com/gpu]: Invalid value: "500m": must be an integer']})
case("kube: storage is no quota resource", frq({"storage": "1Gi", "requests.storage": "1Gi"}, []),
     {"errors": ['spec.overall[storage]: Invalid value: "storage": must be a standard resource for quota']})
case("kube: not a qualified name", frq({"a b": "1"}, []),
     {"errors": ["spec.overall[a b]: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]})
case("kube: count/ and hugepages are quota names", frq({"count/deployments.apps": "3", "hugepages-2Mi": "1Gi", "requests.hugepages-2Mi": "1Gi", "services.nodeports": "2"}, []), {"errors": []})
case("karmada: status lists are validated", frq({"cpu": "2"}, [], status={"overall": {"cpu": "2"}, "overallUsed": {"cpu": "-1"}, "aggregatedStatus": [{"clusterName": "UP", "hard": {"cpu": "1"}, "used": {"pods": "0.5"}}]}),
     {"errors": ['status.overallUsed[cpu]: Invalid value: "-1": must be greater than or equal to 0',
                 "status.aggregatedStatus[0].clusterName: Invalid value: \"UP\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                 'status.aggregatedStatus[0].used[pods]: Invalid value: "500m": must be an integer']})
case("malformed: overall not an object", {"op": "frq.validate", "frq": {"spec": {"overall": [1]}}}, error=True)
case("malformed: unparsable quantity", {"op": "frq.validate", "frq": {"spec": {"overall": {"cpu": "ten"}}}}, error=True)

# ---- binding.usage
def rb(ns, name, clusters, req=None, comps=None, karmada=False):
    spec = {"clusters": [{"name": c, "replicas": r} for c, r in clusters]}
    if req is not None: spec["replicaRequirements"] = {"resourceRequest": req}
    if comps is not None: spec["components"] = comps
    if karmada:
        return {"metadata": {"namespace": ns, "name": name}, "spec": spec}
    return dict({"namespace": ns, "name": name}, **spec)

case("usage: replicas over clusters", {"op": "binding.usage", "binding": rb("a", "b", [("m1", 1), ("m2", 1)], {"cpu": "1", "memory": "2Gi"})}, {"usage": {"cpu": "2", "memory": "4Gi"}})
case("usage: Karmada object shape", {"op": "binding.usage", "binding": rb("a", "b", [("m1", 3)], {"cpu": "250m"}, karmada=True)}, {"usage": {"cpu": "750m"}})
case("usage: zero requests left out", {"op": "binding.usage", "binding": rb("a", "b", [("m1", 3)], {"cpu": "0", "memory": "1Gi"})}, {"usage": {"memory": "3Gi"}})
case("usage: not scheduled", {"op": "binding.usage", "binding": rb("a", "b", [], {"cpu": "1"})}, {"usage": {}})
case("usage: zero replicas", {"op": "binding.usage", "binding": rb("a", "b", [("m1", 0)], {"cpu": "1"})}, {"usage": {}})
case("usage: no requirements", {"op": "binding.usage", "binding": rb("a", "b", [("m1", 2)])}, {"usage": {}})
case("usage: components", {"op": "binding.usage", "binding": rb("a", "b", [("m1", 1)], None, [{"name": "jm", "replicas": 1, "resourceRequest": {"cpu": "1"}}, {"name": "tm", "replicas": 3, "replicaRequirements": {"resourceRequest": {"cpu": "500m", "memory": "1Gi"}}}])},
     {"usage": {"cpu": "2500m", "memory": "3Gi"}})
case("usage: negative request (Karmada's error)", {"op": "binding.usage", "binding": rb("a", "b", [("m1", 1)], {"cpu": "-1"})}, {"error": "resource request for cpu in RB a/b has a negative value: -1"})
case("usage: canonical strings", {"op": "binding.usage", "binding": rb("a", "b", [("m1", 4)], {"cpu": "0.5", "memory": "1536Mi", "nvidia.com/gpu": "1"})}, {"usage": {"cpu": "2", "memory": "6Gi", "nvidia.com/gpu": "4"}})

# ---- frq.used
b1 = rb("a", "b1", [("m1", 1), ("m2", 1)], {"cpu": "1", "memory": "1Gi"})
b2 = rb("a", "b2", [("m1", 1)], {"cpu": "500m", "nvidia.com/gpu": "1"})
case("used: keys of overall only", {"op": "frq.used", "overall": {"cpu": "10", "memory": "10Gi"}, "bindings": [b1, b2]}, {"used": {"cpu": "2500m", "memory": "2Gi"}})
case("used: requests.* keys count (karmada #7864)", {"op": "frq.used", "overall": {"requests.cpu": "10", "requests.nvidia.com/gpu": "4", "pods": "10"}, "bindings": [b1, b2]},
     {"used": {"requests.cpu": "2500m", "requests.nvidia.com/gpu": "1"}})
case("used: no bindings", {"op": "frq.used", "overall": {"cpu": "1"}, "bindings": []}, {"used": {}})

# ---- binding.admit: Karmada's TestValidatingAdmission_Handle
def f(ns, name, overall, used):
    o = {"metadata": {"namespace": ns, "name": name}, "spec": {"overall": overall}}
    if used is not None: o["status"] = {"overallUsed": used}
    return o
def admit(op, old, new, frqs, dry=False):
    return {"op": "binding.admit", "operation": op, "dryRun": dry, "old": old, "new": new, "frqs": frqs}
passOld = rb("quota-ns", "rb-update-pass", [("m1", 1)], {"cpu": "50m"}, karmada=True)
passNew = rb("quota-ns", "rb-update-pass", [("m1", 1)], {"cpu": "100m"}, karmada=True)
case("karmada: create operation not yet scheduled should be allowed",
     admit("CREATE", None, rb("default", "rb-unscheduled", [], {"cpu": "100m"}, karmada=True), [f("default", "frq-for-create-unscheduled", {"cpu": "200m"}, {"cpu": "100m"})]),
     {"allowed": True, "overallUsed": {}})
nochange = rb("default", "rb-nochange", [("m1", 1)], {"cpu": "100m"}, karmada=True)
case("karmada: update operation with no relevant field change should be allowed",
     admit("UPDATE", nochange, nochange, [f("default", "frq-for-nochange", {"cpu": "200m"}, {"cpu": "100m"})]), {"allowed": True, "overallUsed": {}})
case("karmada: total RB delta is zero should be allowed",
     admit("UPDATE", rb("default", "rb-delta-zero", [("m2", 2)], {"cpu": "100m"}, karmada=True), rb("default", "rb-delta-zero", [("m1", 1)], {"cpu": "200m"}, karmada=True),
           [f("default", "frq-fordeltazero", {"cpu": "1Gi"}, {})]), {"allowed": True, "overallUsed": {}})
case("karmada: no FRQs found should be allowed",
     admit("CREATE", None, rb("ns-no-frq", "test-rb-no-frq", [("m1", 1)], {"cpu": "1"}, karmada=True), []), {"allowed": True, "overallUsed": {}})
case("karmada: create quota exceeded should deny",
     admit("CREATE", None, rb("quota-ns", "rb-create-exceed", [("m1", 1)], {"cpu": "200m"}, karmada=True), [f("quota-ns", "frq-create-exceeds", {"cpu": "150m"}, {"cpu": "0m"})]),
     {"allowed": False, "code": 403, "reason": "QuotaExceeded", "message": "FederatedResourceQuota(quota-ns/frq-create-exceeds) exceeded for resource cpu: requested sum 200m, limit 150m."})
case("karmada: update passes quota (non-dryrun)",
     admit("UPDATE", passOld, passNew, [f("quota-ns", "frq-update-pass-nondryrun", {"cpu": "200m"}, {"cpu": "100m"})]),
     {"allowed": True, "overallUsed": {"frq-update-pass-nondryrun": {"cpu": "150m"}}})
case("karmada: update passes quota (dry run: answered, not stored)",
     admit("UPDATE", passOld, passNew, [f("quota-ns", "frq-update-pass-dryrun", {"cpu": "200m"}, {"cpu": "100m"})], dry=True),
     {"allowed": True, "overallUsed": {"frq-update-pass-dryrun": {"cpu": "150m"}}})
case("karmada: update fails quota (denied response)",
     admit("UPDATE", rb("quota-ns", "rb-update-fail", [("m1", 1)], {"cpu": "50m"}, karmada=True), rb("quota-ns", "rb-update-fail", [("m1", 2)], {"cpu": "80m"}, karmada=True),
           [f("quota-ns", "frq-update-fail", {"cpu": "100m"}, {"cpu": "0m"})]),
     {"allowed": False, "code": 403, "reason": "QuotaExceeded", "message": "FederatedResourceQuota(quota-ns/frq-update-fail) exceeded for resource cpu: requested sum 110m, limit 100m."})
case("binding: the issue's example (bare shapes, binding namespace)",
     admit("CREATE", None, rb("ns", "b", [("m1", 2)], {"cpu": "1"}), [{"name": "q", "spec": {"overall": {"cpu": "1"}}, "status": {"overallUsed": {}}}]),
     {"allowed": False, "code": 403, "reason": "QuotaExceeded", "message": "FederatedResourceQuota(ns/q) exceeded for resource cpu: requested sum 2, limit 1."})
case("binding: requests.cpu in overall is enforced (karmada #7864)",
     admit("CREATE", None, rb("ns", "b", [("m1", 2)], {"cpu": "1"}), [f("ns", "q", {"requests.cpu": "1"}, {})]),
     {"allowed": False, "code": 403, "reason": "QuotaExceeded", "message": "FederatedResourceQuota(ns/q) exceeded for resource requests.cpu: requested sum 2, limit 1."})
case("binding: FRQ without spec.overall is skipped",
     admit("CREATE", None, rb("ns", "b", [("m1", 2)], {"cpu": "1"}), [{"metadata": {"name": "q"}, "spec": {}}]), {"allowed": True, "overallUsed": {}})
case("binding: keys outside overall do not change it",
     admit("CREATE", None, rb("ns", "b", [("m1", 2)], {"memory": "1Gi"}), [f("ns", "q", {"cpu": "1"}, {"cpu": "500m"})]), {"allowed": True, "overallUsed": {}})
case("binding: two FRQs, both updated, memory kept as BinarySI",
     admit("CREATE", None, rb("ns", "b", [("m1", 1), ("m2", 2)], {"cpu": "100m", "memory": "1536Mi"}), [f("ns", "a", {"cpu": "1"}, {"cpu": "200m"}), f("ns", "z", {"memory": "10Gi"}, {"memory": "1Gi"})]),
     {"allowed": True, "overallUsed": {"a": {"cpu": "500m"}, "z": {"memory": "5632Mi"}}})
case("binding: scale down releases (used drops, zero entries dropped)",
     admit("UPDATE", rb("ns", "b", [("m1", 2)], {"cpu": "1"}, karmada=True), rb("ns", "b", [("m1", 1)], {"cpu": "1"}, karmada=True), [f("ns", "q", {"cpu": "4"}, {"cpu": "1"})]),
     {"allowed": True, "overallUsed": {"q": {}}})
case("binding: exact fit is allowed",
     admit("CREATE", None, rb("ns", "b", [("m1", 2)], {"cpu": "500m"}), [f("ns", "q", {"cpu": "2"}, {"cpu": "1"})]), {"allowed": True, "overallUsed": {"q": {"cpu": "2"}}})
case("binding: DELETE is allowed (the recomputation releases)", admit("DELETE", rb("ns", "b", [("m1", 2)], {"cpu": "1"}), None, [f("ns", "q", {"cpu": "1"}, {"cpu": "2"})]), {"allowed": True, "overallUsed": {}})
case("binding: negative request is Karmada's 500",
     admit("CREATE", None, rb("ns", "rb", [("m1", 1)], {"cpu": "-1"}, karmada=True), [f("ns", "q", {"cpu": "1"}, {})]),
     {"allowed": False, "code": 500, "message": "resource request for cpu in RB ns/rb has a negative value: -1"})
case("malformed: no operation", {"op": "binding.admit", "new": {}}, error=True)
case("malformed: UPDATE without old", admit("UPDATE", None, rb("ns", "b", [("m1", 1)], {"cpu": "1"}), []), error=True)
case("malformed: frqs not an array", {"op": "binding.admit", "operation": "CREATE", "new": rb("ns", "b", [("m1", 1)], {"cpu": "1"}), "frqs": {}}, error=True)

# ---- quota.admit: kube-apiserver v1.26 golden answers and the evaluator rules
def q(name, hard, scopes=None, sel=None):
    o = {"metadata": {"name": name, "namespace": "ns"}, "spec": {"hard": hard}}
    if scopes: o["spec"]["scopes"] = scopes
    if sel: o["spec"]["scopeSelector"] = {"matchExpressions": sel}
    return o
def pod(containers, init=None, **spec):
    s = dict(spec); s["containers"] = containers
    if init: s["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": s}
def c(name, req=None, lim=None):
    o = {"name": name, "image": "nginx"}
    r = {}
    if req: r["requests"] = req
    if lim: r["limits"] = lim
    if r: o["resources"] = r
    return o
def qa(quotas, used, obj, op="CREATE", **kw):
    d = {"op": "quota.admit", "quotas": quotas, "used": used, "object": obj, "operation": op}
    d.update(kw); return d
def deny(msg): return {"allowed": False, "code": 403, "reason": "Forbidden", "message": msg}
def ok(used): return {"allowed": True, "used": used}

gold = {}
for n in ("exceeded-403", "fits-201", "must-specify-403"):
    with open(os.path.join(HERE, "quota-%s.json" % n)) as fh:
        gold[n] = json.load(fh)
def gold_msg(n):
    m = gold[n]["response"]["body"]["message"]
    return m.split(" is forbidden: ", 1)[1]
compute = [q("compute", {"requests.cpu": "2"})]
for n, out in (("exceeded-403", deny(gold_msg("exceeded-403"))), ("fits-201", ok({"compute": {"requests.cpu": "2"}})), ("must-specify-403", deny(gold_msg("must-specify-403")))):
    b = dict(gold[n]["request"]["body"]); b["apiVersion"] = "v1"; b["kind"] = "Pod"
    case("golden: " + n, qa(compute, {"compute": {"requests.cpu": "1500m"}}, b), out)
case("cpu is requests.cpu", qa([q("compute", {"cpu": "2"})], {"compute": {"cpu": "1500m"}}, pod([c("c", {"cpu": "1"})])),
     deny("exceeded quota: compute, requested: cpu=1, used: cpu=1500m, limited: cpu=2"))
case("memory is requests.memory, both forms enforced", qa([q("m", {"memory": "4Gi", "requests.memory": "2Gi"})], {"m": {"memory": "1Gi", "requests.memory": "1Gi"}}, pod([c("c", {"memory": "1536Mi"})])),
     deny("exceeded quota: m, requested: requests.memory=1536Mi, used: requests.memory=1Gi, limited: requests.memory=2Gi"))
case("several exceeded, sorted; limits default requests", qa([q("q", {"limits.memory": "1Gi", "requests.cpu": "1"})], {}, pod([c("c", {"cpu": "2"}, {"memory": "2Gi"})])),
     deny("exceeded quota: q, requested: limits.memory=2Gi,requests.cpu=2, used: limits.memory=0,requests.cpu=0, limited: limits.memory=1Gi,requests.cpu=1"))
case("pods count", qa([q("q", {"pods": "1"})], {"q": {"pods": "1"}}, pod([c("c")])), deny("exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"))
case("count/pods", qa([q("q", {"count/pods": "2"})], {"q": {"count/pods": "1"}}, pod([c("c")])), ok({"q": {"count/pods": "2"}}))
case("terminal pod: only count/pods", qa([q("q", {"pods": "1", "requests.cpu": "1"})], {"q": {"pods": "1"}}, dict(pod([c("c", {"cpu": "2"})]), status={"phase": "Succeeded"})),
     ok({"q": {"pods": "1", "requests.cpu": "0"}}))
case("pod past its deletion grace period", qa([q("q", {"pods": "1"})], {"q": {"pods": "1"}}, dict(pod([c("c")]), metadata={"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30}), now=1767225700),
     ok({"q": {"pods": "1"}}))
case("pod within its deletion grace period", qa([q("q", {"pods": "1"})], {"q": {"pods": "1"}}, dict(pod([c("c")]), metadata={"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30}), now=1767225610),
     deny("exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"))
case("init containers: max against the sum", qa([q("q", {"requests.cpu": "3"})], {}, pod([c("a", {"cpu": "1"}), c("b", {"cpu": "1"})], init=[c("i", {"cpu": "4"})])),
     deny("exceeded quota: q, requested: requests.cpu=4, used: requests.cpu=0, limited: requests.cpu=3"))
case("overhead counts", qa([q("q", {"requests.cpu": "2"})], {"q": {"requests.cpu": "500m"}}, pod([c("a", {"cpu": "1"})], overhead={"cpu": "600m"})),
     deny("exceeded quota: q, requested: requests.cpu=1600m, used: requests.cpu=500m, limited: requests.cpu=2"))
case("extended resource", qa([q("q", {"requests.nvidia.com/gpu": "1"})], {}, pod([c("a", {"nvidia.com/gpu": "2"}, {"nvidia.com/gpu": "2"})])),
     deny("exceeded quota: q, requested: requests.nvidia.com/gpu=2, used: requests.nvidia.com/gpu=0, limited: requests.nvidia.com/gpu=1"))
case("hugepages", qa([q("q", {"requests.hugepages-2Mi": "100Mi"})], {}, pod([c("a", {"hugepages-2Mi": "200Mi", "memory": "1Gi"}, {"hugepages-2Mi": "200Mi", "memory": "1Gi"})])),
     deny("exceeded quota: q, requested: requests.hugepages-2Mi=200Mi, used: requests.hugepages-2Mi=0, limited: requests.hugepages-2Mi=100Mi"))
case("must specify, several resources and containers", qa([q("q", {"cpu": "10", "memory": "10Gi", "limits.cpu": "10"})], {}, pod([c("b"), c("a", {"cpu": "1"})])),
     deny("failed quota: q: must specify cpu for: b; limits.cpu for: a,b; memory for: a,b"))
case("must specify, init containers too", qa([q("q", {"requests.memory": "1Gi"})], {}, pod([c("a", {"memory": "1Mi"})], init=[c("init", {"cpu": "1"})])),
     deny("failed quota: q: must specify requests.memory for: init"))
case("quotas checked in name order", qa([q("zz", {"pods": "0"}), q("aa", {"pods": "0"})], {}, pod([c("c")])), deny("exceeded quota: aa, requested: pods=1, used: pods=0, limited: pods=0"))
case("negative usage", qa([q("q", {"requests.cpu": "10"})], {}, pod([c("c", {"cpu": "-1"})])), deny("quota usage is negative for resource(s): cpu,requests.cpu"))
case("status.used of the quota serves", qa([dict(q("q", {"pods": "2"}), status={"hard": {"pods": "2"}, "used": {"pods": "2"}})], {}, pod([c("c")])), deny("exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"))
# scopes
be = pod([c("c")]); nbe = pod([c("c", {"cpu": "1"})])
case("scope BestEffort matches a best-effort pod", qa([q("q", {"pods": "0"}, ["BestEffort"])], {}, be), deny("exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"))
case("scope BestEffort ignores a burstable pod", qa([q("q", {"pods": "0"}, ["BestEffort"])], {}, nbe), ok({}))
case("scope NotBestEffort", qa([q("q", {"requests.cpu": "500m"}, ["NotBestEffort"])], {}, nbe), deny("exceeded quota: q, requested: requests.cpu=1, used: requests.cpu=0, limited: requests.cpu=500m"))
case("zero requests are best effort", qa([q("q", {"pods": "0"}, ["BestEffort"])], {}, pod([c("c", {"cpu": "0"})])), deny("exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"))
case("scope Terminating", qa([q("q", {"pods": "0"}, ["Terminating"])], {}, pod([c("c")], activeDeadlineSeconds=30)), deny("exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"))
case("scope Terminating ignores long-running pods", qa([q("q", {"pods": "0"}, ["Terminating"])], {}, be), ok({}))
case("scope NotTerminating", qa([q("q", {"pods": "0"}, ["NotTerminating"])], {}, be), deny("exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"))
case("two scopes must both match", qa([q("q", {"pods": "0"}, ["NotTerminating", "NotBestEffort"])], {}, be), ok({}))
hi = pod([c("c")], priorityClassName="high")
case("PriorityClass In", qa([q("q", {"pods": "0"}, sel=[{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}])], {}, hi), deny("exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"))
case("PriorityClass In, other class", qa([q("q", {"pods": "0"}, sel=[{"scopeName": "PriorityClass", "operator": "In", "values": ["low"]}])], {}, hi), ok({}))
case("PriorityClass NotIn, no class", qa([q("q", {"pods": "0"}, sel=[{"scopeName": "PriorityClass", "operator": "NotIn", "values": ["high"]}])], {}, be), deny("exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"))
case("PriorityClass Exists", qa([q("q", {"pods": "0"}, sel=[{"scopeName": "PriorityClass", "operator": "Exists"}])], {}, be), ok({}))
case("PriorityClass DoesNotExist", qa([q("q", {"pods": "0"}, sel=[{"scopeName": "PriorityClass", "operator": "DoesNotExist"}])], {}, be), deny("exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"))
case("scopes: PriorityClass in scopes is Exists", qa([q("q", {"pods": "0"}, ["PriorityClass"])], {}, hi), deny("exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"))
case("scoped quota never matches a configmap", qa([q("q", {"configmaps": "0"}, ["BestEffort"])], {}, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}), ok({}))
# services, pvcs, object counts
svc = lambda t, n, **kw: {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": dict({"type": t, "ports": [{"port": 80 + i, "nodePort": 30000 + i} for i in range(n)]}, **kw)}
case("services.nodeports", qa([q("q", {"services.nodeports": "1"})], {}, svc("NodePort", 2)), deny("exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"))
case("services.loadbalancers", qa([q("q", {"services.loadbalancers": "0", "services": "5"})], {}, svc("LoadBalancer", 1)), deny("exceeded quota: q, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0"))
case("services count", qa([q("q", {"services": "3", "count/services": "3", "services.nodeports": "3"})], {"q": {"services": "1"}}, svc("ClusterIP", 2)), ok({"q": {"count/services": "1", "services": "2", "services.nodeports": "0"}}))
case("service UPDATE to NodePort charges the delta", qa([q("q", {"services.nodeports": "1"})], {"q": {"services.nodeports": "0"}}, svc("NodePort", 2), "UPDATE", oldObject=dict(svc("ClusterIP", 2), metadata={"name": "s", "resourceVersion": "7"})),
     deny("exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"))
case("LoadBalancer without node ports", qa([q("q", {"services.nodeports": "0"})], {}, svc("LoadBalancer", 2, allocateLoadBalancerNodePorts=False)), deny("exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=0"))
pvc = lambda size, sc=None: {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "spec": dict({"resources": {"requests": {"storage": size}}}, **({"storageClassName": sc} if sc else {}))}
case("pvc requests.storage", qa([q("q", {"requests.storage": "10Gi", "persistentvolumeclaims": "10"})], {"q": {"requests.storage": "9Gi", "persistentvolumeclaims": "1"}}, pvc("2Gi")),
     deny("exceeded quota: q, requested: requests.storage=2Gi, used: requests.storage=9Gi, limited: requests.storage=10Gi"))
case("pvc per storage class", qa([q("q", {"gold.storageclass.storage.k8s.io/requests.storage": "1Gi"})], {}, pvc("2Gi", "gold")),
     deny("exceeded quota: q, requested: gold.storageclass.storage.k8s.io/requests.storage=2Gi, used: gold.storageclass.storage.k8s.io/requests.storage=0, limited: gold.storageclass.storage.k8s.io/requests.storage=1Gi"))
case("pvc of another class", qa([q("q", {"gold.storageclass.storage.k8s.io/requests.storage": "1Gi"})], {}, pvc("2Gi", "silver")), ok({"q": {"gold.storageclass.storage.k8s.io/requests.storage": "0"}}))
case("configmaps", qa([q("q", {"configmaps": "1"})], {"q": {"configmaps": "1"}}, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}), deny("exceeded quota: q, requested: configmaps=1, used: configmaps=1, limited: configmaps=1"))
case("secrets and count/secrets", qa([q("q", {"secrets": "5", "count/secrets": "5"})], {}, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}), ok({"q": {"count/secrets": "1", "secrets": "1"}}))
case("count/<resource>.<group>", qa([q("q", {"count/deployments.apps": "1"})], {"q": {"count/deployments.apps": "1"}}, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}}),
     deny("exceeded quota: q, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"))
case("count/ for a CRD named by resource", qa([q("q", {"count/widgets.example.com": "0"})], {}, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}, resource={"group": "example.com", "resource": "widgets"}),
     deny("exceeded quota: q, requested: count/widgets.example.com=1, used: count/widgets.example.com=0, limited: count/widgets.example.com=0"))
case("object counts only on CREATE", qa([q("q", {"configmaps": "0"})], {}, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, "UPDATE", oldObject={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "resourceVersion": "3"}}), ok({}))
case("pod UPDATE is not charged", qa([q("q", {"pods": "0"})], {}, pod([c("c")]), "UPDATE", oldObject=dict(pod([c("c")]), metadata={"name": "p", "resourceVersion": "5"})), ok({}))
case("DELETE is allowed", {"op": "quota.admit", "quotas": [q("q", {"pods": "0"})], "operation": "DELETE"}, ok({}))
# workloads: replicas x template checked, not charged
dep = lambda n, cpu: {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": n, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [c("c", {"cpu": cpu})]}}}}
case("deployment: replicas x template must fit", qa([q("q", {"requests.cpu": "2"})], {"q": {"requests.cpu": "1"}}, dep(3, "500m")),
     deny("exceeded quota: q, requested: requests.cpu=1500m, used: requests.cpu=1, limited: requests.cpu=2"))
case("deployment: fits and is not charged", qa([q("q", {"requests.cpu": "2"})], {"q": {"requests.cpu": "1"}}, dep(2, "500m")), ok({}))
case("deployment scale-up checks the delta", qa([q("q", {"requests.cpu": "2"})], {"q": {"requests.cpu": "1500m"}}, dep(4, "500m"), "UPDATE", oldObject=dep(3, "500m")), ok({}))
case("deployment scale-up past the quota", qa([q("q", {"requests.cpu": "2"})], {"q": {"requests.cpu": "1500m"}}, dep(5, "500m"), "UPDATE", oldObject=dep(3, "500m")),
     deny("exceeded quota: q, requested: requests.cpu=1, used: requests.cpu=1500m, limited: requests.cpu=2"))
case("deployment template must specify", qa([q("q", {"requests.memory": "2Gi"})], {}, dep(1, "1")), deny("failed quota: q: must specify requests.memory for: c"))
job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"parallelism": 3, "template": {"spec": {"containers": [c("c", {"cpu": "1"})]}}}}
case("job: parallelism x template", qa([q("q", {"pods": "2"})], {}, job), deny("exceeded quota: q, requested: pods=3, used: pods=0, limited: pods=2"))
case("malformed: object missing", {"op": "quota.admit", "quotas": [], "operation": "CREATE"}, error=True)
case("malformed: unknown kind", qa([], {}, {"apiVersion": "x/v1", "kind": "Nope"}), error=True)
case("malformed: bad quantity in a container", qa([q("q", {"pods": "1"})], {}, pod([c("c", {"cpu": "one"})])), error=True)

# ---- quota.usage: Kubernetes' TestPodEvaluatorUsage
def usage(name, obj, out, res="pods", now=None):
    d = {"op": "quota.usage", "resource": res, "object": obj}
    if now is not None: d["now"] = now
    case("usage: " + name, d, {"usage": out})
P = lambda containers=None, init=None, **kw: {"spec": dict(kw, **({"containers": containers} if containers else {}), **({"initContainers": init} if init else {}))}
R = lambda req=None, lim=None: {"resources": dict(({"requests": req} if req else {}), **({"limits": lim} if lim else {}))}
usage("init container CPU", P(init=[R({"cpu": "1m"}, {"cpu": "2m"})]), {"count/pods": "1", "cpu": "1m", "limits.cpu": "2m", "pods": "1", "requests.cpu": "1m"})
usage("init container MEM", P(init=[R({"memory": "1m"}, {"memory": "2m"})]), {"count/pods": "1", "limits.memory": "2m", "memory": "1m", "pods": "1", "requests.memory": "1m"})
usage("init container local ephemeral storage", P(init=[R({"ephemeral-storage": "32Mi"}, {"ephemeral-storage": "64Mi"})]),
      {"count/pods": "1", "ephemeral-storage": "32Mi", "limits.ephemeral-storage": "64Mi", "pods": "1", "requests.ephemeral-storage": "32Mi"})
usage("init container hugepages", P(init=[R({"hugepages-2Mi": "100Mi"})]), {"count/pods": "1", "hugepages-2Mi": "100Mi", "pods": "1", "requests.hugepages-2Mi": "100Mi"})
usage("init container extended resources", P(init=[R({"example.com/dongle": "3"}, {"example.com/dongle": "3"})]), {"count/pods": "1", "pods": "1", "requests.example.com/dongle": "3"})
usage("container CPU", P([R({"cpu": "1m"}, {"cpu": "2m"})]), {"count/pods": "1", "cpu": "1m", "limits.cpu": "2m", "pods": "1", "requests.cpu": "1m"})
usage("container hugepages", P([R({"hugepages-2Mi": "100Mi"})]), {"count/pods": "1", "hugepages-2Mi": "100Mi", "pods": "1", "requests.hugepages-2Mi": "100Mi"})
usage("terminated generic count still appears", dict(P([R({"example.com/dongle": "3"}, {"example.com/dongle": "3"})]), status={"phase": "Succeeded"}), {"count/pods": "1"})
usage("init container maximums override sum of containers",
      P([R({"cpu": "1", "memory": "50M", "example.com/dongle": "1"}, {"cpu": "2", "memory": "100M", "example.com/dongle": "1"}),
         R({"cpu": "2", "memory": "25M", "example.com/dongle": "2"}, {"cpu": "5", "memory": "50M", "example.com/dongle": "2"})],
        init=[R({"cpu": "4", "memory": "100M", "example.com/dongle": "4"}, {"cpu": "8", "memory": "200M", "example.com/dongle": "4"}),
              R({"cpu": "1", "memory": "50M", "example.com/dongle": "2"}, {"cpu": "2", "memory": "100M", "example.com/dongle": "2"})]),
      {"count/pods": "1", "cpu": "4", "limits.cpu": "8", "limits.memory": "200M", "memory": "100M", "pods": "1", "requests.cpu": "4", "requests.example.com/dongle": "4", "requests.memory": "100M"})
usage("pod deletion timestamp exceeded", dict(P([R({"cpu": "1", "memory": "50M"}, {"cpu": "2", "memory": "100M"})]), metadata={"deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30}),
      {"count/pods": "1"}, now=1767225660)
usage("pod deletion timestamp not exceeded", dict(P([R({"cpu": "1"}, {"cpu": "2"})]), metadata={"deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30}),
      {"count/pods": "1", "cpu": "1", "limits.cpu": "2", "pods": "1", "requests.cpu": "1"}, now=1767225600)
usage("count pod overhead as usage", P([R({"cpu": "1"}, {"cpu": "2"})], overhead={"cpu": "1"}), {"count/pods": "1", "cpu": "2", "limits.cpu": "3", "pods": "1", "requests.cpu": "2"})
usage("service NodePort", {"spec": {"type": "NodePort", "ports": [{"port": 1}, {"port": 2}]}}, {"count/services": "1", "services": "1", "services.loadbalancers": "0", "services.nodeports": "2"}, res="services")
usage("pvc with class annotation", {"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "gold"}}, "spec": {"storageClassName": "x", "resources": {"requests": {"storage": "1Gi"}}}},
      {"count/persistentvolumeclaims": "1", "gold.storageclass.storage.k8s.io/persistentvolumeclaims": "1", "gold.storageclass.storage.k8s.io/requests.storage": "1Gi", "persistentvolumeclaims": "1", "requests.storage": "1Gi"}, res="persistentvolumeclaims")
usage("jobs.batch object count", {"spec": {}}, {"count/jobs.batch": "1"}, res="jobs.batch")
usage("configmaps legacy alias", {}, {"configmaps": "1", "count/configmaps": "1"}, res="configmaps")

CASES = C
