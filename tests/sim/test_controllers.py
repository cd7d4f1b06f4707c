#!/usr/bin/python3
"""tests/sim/test_controllers.py: `flotilla sim` (controllers on by default, plain
http, so kubectl sends no token) — kubectl
create deployment -> ReplicaSet -> Pods Running and Ready within seconds
with true workload status; scale up and down; delete with GC (background,
foreground, orphan); scheduling with nodeSelector, taints/tolerations,
extended resources (nvidia.com/gpu) and Unschedulable pending pods with a
FailedScheduling event; StatefulSet, DaemonSet and Job pods."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest import Sim, check, done  # noqa: E402

if not shutil.which("kubectl"):
    print("kubectl not on PATH", file=sys.stderr)
    sys.exit(77)

# plain http, controllers on by default: kubectl sends no token to http://
# servers, and a loopback http sim serves it as admin (old insecure port)
sim = Sim("--clusters", "1", "--nodes", "3", "--host")
A = "east-1"
CACHE = os.path.join(sim.dir, "kube-cache")
NS = "/api/v1/namespaces/default"
APPS = "/apis/apps/v1/namespaces/default"


def kubectl(*args, timeout=30):
    env = dict(os.environ, HOME=sim.dir, KUBECONFIG=sim.kubeconfig(A))
    p = subprocess.run(["kubectl", "--cache-dir", CACHE] + list(args), env=env, text=True,
                       capture_output=True, timeout=timeout)
    check(p.returncode == 0, "kubectl %s -> rc %d: %s" % (" ".join(args), p.returncode,
                                                          p.stderr[-600:]))
    return p.stdout


def get(path):
    st, _, body = sim.req(A, path)
    return body if st == 200 else None


def wait(what, fn, secs=8.0):
    end = time.time() + secs
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    check(False, "timed out waiting for %s (last %r)" % (what, last))
    return last


def pods(selector):
    body = get(NS + "/pods?labelSelector=" + selector)
    return body["items"] if body else []


def running(selector, n):
    ps = pods(selector)
    live = [p for p in ps if "deletionTimestamp" not in p["metadata"]]
    ok = len(live) == n and all(p["status"].get("phase") == "Running" for p in live)
    return live if ok else None


# ---- plain http: kubectl got here without a token; a wrong token is 401
check(sim.req(A, NS + "/pods", token="wrong")[0] == 401, "wrong token over http -> 401")
check(sim.req(A, NS + "/pods", token=False)[0] == 200, "no token over loopback http -> admin")

# ---- Deployment -> ReplicaSet -> Pods (and nothing in the host cluster)
HOST_DEP = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
check(sim.req("host", APPS + "/deployments", "POST", HOST_DEP)[0] == 201, "deployment in host")
t0 = time.time()
kubectl("create", "deployment", "web", "--image=nginx:1.25", "--replicas=3")
ps = wait("3 web pods Running", lambda: running("app%3Dweb", 3))
check(time.time() - t0 < 5, "pods Running within 5 s")
if ps:
    p = ps[0]
    conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
    check(conds == {"Initialized": "True", "Ready": "True", "ContainersReady": "True",
                    "PodScheduled": "True"}, "pod conditions %r" % conds)
    check(p["spec"]["nodeName"].startswith("east-1-node-"), "bound to a node")
    check(p["status"]["containerStatuses"][0]["ready"] is True, "container ready")
    ref = p["metadata"]["ownerReferences"][0]
    check(ref["kind"] == "ReplicaSet" and ref["controller"] is True, "pod owned by RS %r" % ref)
    check(len({q["spec"]["nodeName"] for q in ps}) == 3, "3 pods spread over 3 nodes")


check(sim.req("host", APPS + "/replicasets")[2]["items"] == [] and
      sim.req("host", NS + "/pods")[2]["items"] == [], "no controllers in the host cluster")


def dep_done(n):
    d = get(APPS + "/deployments/web")
    s = d and d.get("status", {})
    ok = s and s.get("replicas") == n and s.get("readyReplicas") == n and \
        s.get("availableReplicas") == n and s.get("updatedReplicas") == n and \
        s.get("observedGeneration") == d["metadata"]["generation"]
    return d if ok else None


d = wait("deployment status 3/3", lambda: dep_done(3))
if d:
    conds = {c["type"]: (c["status"], c["reason"]) for c in d["status"]["conditions"]}
    check(conds.get("Available") == ("True", "MinimumReplicasAvailable"), "Available %r" % conds)
    check(conds.get("Progressing") == ("True", "NewReplicaSetAvailable"), "Progressing %r" % conds)
rs = get(APPS + "/replicasets")["items"]
check(len(rs) == 1 and rs[0]["metadata"]["name"].startswith("web-") and
      rs[0]["metadata"]["labels"].get("pod-template-hash") and
      rs[0]["status"].get("readyReplicas") == 3, "one RS with status: %r" %
      [r.get("status") for r in rs])
out = kubectl("get", "deployment", "web")
check("3/3" in out, "kubectl get deployment shows 3/3:\n" + out)

# ---- scale up and down
kubectl("scale", "deployment", "web", "--replicas=5")
wait("5 pods", lambda: running("app%3Dweb", 5))
wait("deployment status 5", lambda: dep_done(5))
kubectl("scale", "deployment", "web", "--replicas=1")
wait("1 pod", lambda: len(pods("app%3Dweb")) == 1)
wait("deployment status 1", lambda: dep_done(1))

# ---- rolling update basics: a new template makes a new RS, the old one goes to 0
kubectl("set", "image", "deployment/web", "nginx=nginx:1.26")
wait("2 replicasets", lambda: len(get(APPS + "/replicasets")["items"]) == 2)
wait("old RS scaled to 0", lambda: sorted(r["spec"]["replicas"] for r in
                                          get(APPS + "/replicasets")["items"]) == [0, 1])
wait("new pod runs nginx:1.26", lambda: [p for p in (running("app%3Dweb", 1) or [])
                                         if p["spec"]["containers"][0]["image"] == "nginx:1.26"])

# ---- delete with GC (background)
kubectl("delete", "deployment", "web")
wait("RS collected", lambda: get(APPS + "/replicasets")["items"] == [])
wait("pods collected", lambda: pods("app%3Dweb") == [])

# ---- foreground: the owner stays until its dependents are gone
kubectl("create", "deployment", "fg", "--image=nginx:1.25", "--replicas=2")
wait("fg pods", lambda: running("app%3Dfg", 2))
st, _, body = sim.req(A, APPS + "/deployments/fg", "DELETE", {"propagationPolicy": "Foreground"})
check(st == 200 and "foregroundDeletion" in body["metadata"].get("finalizers", []),
      "foreground delete keeps the owner with a finalizer: %s %r" % (st, body))
wait("fg deployment gone", lambda: sim.req(A, APPS + "/deployments/fg")[0] == 404)
check(pods("app%3Dfg") == [] or all("deletionTimestamp" in p["metadata"]
                                    for p in pods("app%3Dfg")), "fg pods gone first")

# ---- orphan: dependents stay, without the reference
kubectl("create", "deployment", "orph", "--image=nginx:1.25", "--replicas=1")
wait("orph pods", lambda: running("app%3Dorph", 1))
kubectl("delete", "deployment", "orph", "--cascade=orphan")
wait("orph deployment gone", lambda: sim.req(A, APPS + "/deployments/orph")[0] == 404)
rs = [r for r in get(APPS + "/replicasets")["items"] if r["metadata"]["name"].startswith("orph-")]
check(len(rs) == 1 and "ownerReferences" not in rs[0]["metadata"], "orphaned RS stays: %r" %
      [r["metadata"] for r in rs])
time.sleep(0.5)
check(running("app%3Dorph", 1) is not None, "orphaned RS keeps its pod")

# ---- scheduling: nodeSelector, taints, gpus, unschedulable


def pod(name, spec_extra, cpu="100m"):
    spec = {"containers": [{"name": "c", "image": "busybox:1.36",
                            "resources": {"requests": {"cpu": cpu}}}]}
    spec.update(spec_extra)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"t": name}},
            "spec": spec}


def create(body):
    st, _, b = sim.req(A, NS + "/pods", "POST", body)
    check(st == 201, "create pod %s: %s %r" % (body["metadata"]["name"], st, b))


kubectl("label", "node", "east-1-node-2", "disk=ssd")
create(pod("sel", {"nodeSelector": {"disk": "ssd"}}))
p = wait("sel Running", lambda: running("t%3Dsel", 1))
check(p and p[0]["spec"]["nodeName"] == "east-1-node-2", "nodeSelector honoured")

for n in ("east-1-node-1", "east-1-node-2", "east-1-node-3"):
    kubectl("taint", "node", n, "dedicated=infra:NoSchedule")
create(pod("untol", {}))
create(pod("tol", {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra",
                                    "effect": "NoSchedule"}]}))
wait("tolerating pod Running", lambda: running("t%3Dtol", 1))


def unsched(name):
    p = get(NS + "/pods/" + name)
    for c in (p or {}).get("status", {}).get("conditions", []):
        if c["type"] == "PodScheduled" and c["status"] == "False":
            return c
    return None


c = wait("untolerated pod Unschedulable", lambda: unsched("untol"))
if c:
    check(c["reason"] == "Unschedulable" and c["message"].startswith(
        "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: infra}."),
        "taint message %r" % c["message"])
check(get(NS + "/pods/untol")["status"]["phase"] == "Pending", "untolerated stays Pending")
for n in ("east-1-node-1", "east-1-node-2", "east-1-node-3"):
    kubectl("taint", "node", n, "dedicated-")
wait("untol scheduled once taints go", lambda: running("t%3Duntol", 1))

create(pod("huge", {}, cpu="64"))
c = wait("huge pod Unschedulable", lambda: unsched("huge"))
if c:
    check(c["message"] == "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes "
          "are available: 3 No preemption victims found for incoming pod.", "cpu msg %r" %
          c["message"])


def failed_event(name):
    evs = get(NS + "/events?fieldSelector=involvedObject.name%3D" + name) or {"items": []}
    return [e for e in evs["items"] if e["reason"] == "FailedScheduling" and
            e["type"] == "Warning" and e["source"]["component"] == "default-scheduler"]


wait("FailedScheduling event", lambda: failed_event("huge"))

gpu = pod("gpu", {})
gpu["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
create(gpu)
c = wait("gpu pod Unschedulable", lambda: unsched("gpu"))
check(c and "3 Insufficient nvidia.com/gpu" in c["message"], "gpu msg %r" % (c,))
st, _, _ = sim.req(A, "/api/v1/nodes/east-1-node-3/status", "PATCH",
                   {"status": {"allocatable": {"nvidia.com/gpu": "1"},
                               "capacity": {"nvidia.com/gpu": "1"}}},
                   ctype="application/merge-patch+json")
check(st == 200, "node status patch %s" % st)
p = wait("gpu pod Running on node-3", lambda: running("t%3Dgpu", 1))
check(p and p[0]["spec"]["nodeName"] == "east-1-node-3", "gpu pod on the gpu node")
gpu2 = pod("gpu2", {})
gpu2["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
create(gpu2)
wait("second gpu pod Unschedulable (gpu used)", lambda: unsched("gpu2"))

# ---- StatefulSet, DaemonSet, Job
tmpl = {"metadata": {"labels": {"app": "db"}},
        "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}
st, _, _ = sim.req(A, APPS + "/statefulsets", "POST", {
    "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
    "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
             "template": tmpl}})
check(st == 201, "create statefulset %s" % st)
ps = wait("db-0, db-1 Running", lambda: running("app%3Ddb", 2))
check(ps and sorted(p["metadata"]["name"] for p in ps) == ["db-0", "db-1"], "ordinal names")
wait("sts status", lambda: (get(APPS + "/statefulsets/db") or {}).get("status", {})
     .get("readyReplicas") == 2)

tmpl = {"metadata": {"labels": {"app": "agent"}},
        "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}
st, _, _ = sim.req(A, APPS + "/daemonsets", "POST", {
    "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
    "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": tmpl}})
check(st == 201, "create daemonset %s" % st)
ps = wait("one agent per node", lambda: running("app%3Dagent", 3))
check(ps and len({p["spec"]["nodeName"] for p in ps}) == 3, "agents on 3 nodes")
wait("ds status", lambda: (get(APPS + "/daemonsets/agent") or {}).get("status", {})
     .get("numberReady") == 3)

kubectl("create", "job", "once", "--image=busybox:1.36")
wait("job complete", lambda: (get("/apis/batch/v1/namespaces/default/jobs/once") or {})
     .get("status", {}).get("succeeded") == 1 and
     any(c["type"] == "Complete" for c in get("/apis/batch/v1/namespaces/default/jobs/once")
         ["status"].get("conditions", [])))
ps = pods("job-name%3Donce")
check(len(ps) == 1 and ps[0]["status"]["phase"] == "Succeeded", "job pod Succeeded")

# ---- pods/log: the kubelet keeps the last 20 lines, the last logged now,
# a second apart (closer for a young container, never before its start);
# tailLines, sinceSeconds, timestamps, previous, follow
import calendar  # noqa: E402
import re  # noqa: E402
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) INFO c: GET \S+ 200 "
                  r"\(default/sel request (\d+)\)$")


def ts_of(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) if s else 0


def parsed(out):
    got = [LINE.match(ln) for ln in out.splitlines()]
    return [(calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ")), int(m.group(2)))
            if m else None for m in got]


time.sleep(2)
out = kubectl("logs", "sel")
lines = parsed(out)
now = time.time()
check(len(lines) == 20 and None not in lines, "logs %r" % out.splitlines()[:2])
check([n for _, n in lines] == list(range(1, 21)), "numbered 1..20: %r" % lines[:3])
check(all(a[0] <= b[0] <= a[0] + 1 for a, b in zip(lines, lines[1:])),
      "at most a second apart, in order: %r" % lines[:3])
sel_start = ts_of((get(NS + "/pods/sel") or {}).get("status", {}).get("startTime"))
check(now - 5 <= lines[-1][0] <= now + 1 and lines[0][0] >= sel_start,
      "the last line is from now, the first not before the start: %r" % lines[::19])
tail = parsed(kubectl("logs", "sel", "--tail=3"))
check([n for _, n in tail] == [18, 19, 20], "--tail=3: %r" % tail)
since = parsed(kubectl("logs", "sel", "--since=2s"))
check(1 <= len(since) < 20 and all(t >= time.time() - 4 for t, _ in since) and
      since[-1][1] == 20, "--since=2s: %r" % since)
ts = kubectl("logs", "sel", "--timestamps", "--tail=2").splitlines()
check(len(ts) == 2 and all(re.match(r"^(\S{19})\.\d{9}Z \1Z INFO", ln) for ln in ts),
      "--timestamps prefixes the kubelet's time: %r" % ts)
env = dict(os.environ, HOME=sim.dir, KUBECONFIG=sim.kubeconfig(A))
pp = subprocess.run(["kubectl", "--cache-dir", CACHE, "logs", "--previous", "sel"], env=env,
                    text=True, capture_output=True, timeout=30)
check(pp.returncode != 0 and 'previous terminated container "c" in pod "sel" not found'
      in pp.stderr, "--previous without a restart: %r" % pp.stderr)
st, _, b = sim.req(A, NS + "/pods/sel/log?container=nope")
check(st == 400 and b == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "message": "container nope is not valid for pod sel",
                          "reason": "BadRequest", "code": 400}, "bad container %s %r" % (st, b))
fp = subprocess.Popen(["kubectl", "--cache-dir", CACHE, "logs", "-f", "--tail=1", "sel"], env=env,
                      stdout=subprocess.PIPE, text=True)
got = parsed("".join(fp.stdout.readline() for _ in range(3)))
fp.kill()
fp.wait()
check(None not in got and [n for _, n in got] == [20, 21, 22], "follow streams new lines: %r"
      % got)

# ---- ResourceQuota: status.hard/used and the exceeded-quota denial
kubectl("create", "namespace", "q")
QNS = "/api/v1/namespaces/q"
st, _, _ = sim.req(A, QNS + "/resourcequotas", "POST", {
    "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute"},
    "spec": {"hard": {"pods": "2", "requests.cpu": "1", "requests.memory": "1Gi",
                      "count/deployments.apps": "1"}}})
check(st == 201, "create quota %s" % st)


def quota_used(want):
    q = get(QNS + "/resourcequotas/compute")
    used = (q or {}).get("status", {}).get("used")
    return used if used == want else None


wait("quota status zero", lambda: quota_used({"pods": "0", "requests.cpu": "0",
                                              "requests.memory": "0",
                                              "count/deployments.apps": "0"}))
qpod = pod("p1", {}, cpu="600m")
qpod["spec"]["containers"][0]["resources"]["requests"]["memory"] = "100Mi"
st, _, b = sim.req(A, QNS + "/pods", "POST", qpod)
check(st == 201, "pod within quota %s %r" % (st, b))
wait("quota counts p1", lambda: quota_used({"pods": "1", "requests.cpu": "600m",
                                            "requests.memory": "100Mi",
                                            "count/deployments.apps": "0"}))
st, _, b = sim.req(A, QNS + "/pods", "POST", pod("p2", {}, cpu="600m"))
check(st == 403 and b["reason"] == "Forbidden" and b["message"] ==
      'pods "p2" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, '
      'used: requests.cpu=600m, limited: requests.cpu=1', "quota denial %s %r" % (st, b))
check(b.get("details") == {"name": "p2", "kind": "pods"}, "denial details %r" % b.get("details"))
kubectl("create", "deployment", "qd", "--image=nginx:1.25", "--replicas=3", "-n", "q")
st, _, b = sim.req(A, "/apis/apps/v1/namespaces/q/deployments", "POST", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "qd2"},
    "spec": {"selector": {"matchLabels": {"a": "b"}},
             "template": {"metadata": {"labels": {"a": "b"}},
                          "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
check(st == 403 and "exceeded quota: compute, requested: count/deployments.apps=1, used: "
      "count/deployments.apps=1, limited: count/deployments.apps=1" in b.get("message", ""),
      "count/deployments.apps denial %s %r" % (st, b))


def rs_failure():
    for r in get("/apis/apps/v1/namespaces/q/replicasets")["items"]:
        for c in r.get("status", {}).get("conditions", []):
            if c["type"] == "ReplicaFailure" and c["status"] == "True":
                return c
    return None


c = wait("ReplicaFailure on the quota-limited RS", rs_failure)
check(c and c["reason"] == "FailedCreate" and "is forbidden: exceeded quota: compute, "
      "requested: pods=1, used: pods=2, limited: pods=2" in c["message"], "RS failure %r" % (c,))
evs = get(QNS + "/events")["items"]
check(any(e["reason"] == "FailedCreate" and e["message"].startswith("Error creating: pods \"qd-")
          for e in evs), "FailedCreate event")

sim.stop()
done()
