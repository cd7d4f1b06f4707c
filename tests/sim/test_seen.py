"""tests/sim/test_seen.py: the simulator as a user of the demo fleet sees it
(`--nodes 5 --pods 500 --namespaces 4 --churn 2`, the demo's shape):
* nodes have room: on every node the pods' requests take at most 65% of
  allocatable cpu and memory, and fewer pods than its pod capacity; a new
  Deployment schedules;
* a pod that fits nowhere gets kube-scheduler's message, every node
  counted once ("0/5 nodes are available: 5 Insufficient cpu. preemption:
  0/5 ...");
* pod IPs are unique; churn's pods are created now (not 418 days ago);
* a Secret written with stringData is served with it merged into data,
  never with stringData;
* logs of a seeded pod are recent lines (--since=1h returns lines of the
  last hour).
"""
import base64
import calendar
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest import Sim, check, done  # noqa: E402


def milli(q):
    q = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6,
             "G": 10**9}
    if q.endswith("m"):
        return int(q[:-1])
    for u, m in units.items():
        if q.endswith(u):
            return int(float(q[:-len(u)]) * m * 1000)
    return int(float(q) * 1000)


def items(sim, path):
    st, _, body = sim.req(A, path)
    check(st == 200, "list %s: %s" % (path, st))
    return body.get("items", []) if isinstance(body, dict) else []


def ts(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


sim = Sim("--clusters", "1", "--nodes", "5", "--pods", "500", "--namespaces", "4",
          "--churn", "2")
A = "east-1"
nodes = {n["metadata"]["name"]: n for n in items(sim, "/api/v1/nodes")}
pods = items(sim, "/api/v1/pods")
check(len(nodes) == 5 and len(pods) >= 500, "fleet: %d nodes, %d pods" % (len(nodes), len(pods)))
use = {n: {"cpu": 0, "memory": 0, "pods": 0} for n in nodes}
for p in pods:
    n = p["spec"].get("nodeName")
    if n not in use:
        continue
    use[n]["pods"] += 1
    for c in p["spec"]["containers"]:
        for k in ("cpu", "memory"):
            use[n][k] += milli(c.get("resources", {}).get("requests", {}).get(k, "0"))
for n, u in use.items():
    alloc = nodes[n]["status"]["allocatable"]
    for k in ("cpu", "memory"):
        check(u[k] <= 0.65 * milli(alloc[k]), "%s: %s requests %d of %s" % (n, k, u[k], alloc[k]))
    check(u["pods"] < int(alloc["pods"]), "%s: %d pods of %s" % (n, u["pods"], alloc["pods"]))

ips = [p["status"].get("podIP") for p in pods if p["status"].get("podIP")]
check(len(ips) == len(set(ips)), "pod IPs unique (%d, %d distinct)" % (len(ips), len(set(ips))))

# a new Deployment schedules (the demo's "Try next")
st, _, _ = sim.req(A, "/apis/apps/v1/namespaces/default/deployments", "POST", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}})
check(st == 201, "create web: %s" % st)
deadline = time.time() + 20
while time.time() < deadline:
    web = items(sim, "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
    if len(web) == 3 and all(p["status"].get("phase") == "Running" for p in web):
        break
    time.sleep(0.2)
check(len(web) == 3 and all(p["status"].get("phase") == "Running" for p in web),
      "web's 3 pods Running: %r" % [p["status"].get("phase") for p in web])
ips = [p["status"].get("podIP") for p in items(sim, "/api/v1/pods") if p["status"].get("podIP")]
check(len(ips) == len(set(ips)), "pod IPs unique with the kubelet's too (%d, %d distinct)"
      % (len(ips), len(set(ips))))

# a pod that fits nowhere: each node counted once
st, _, _ = sim.req(A, "/api/v1/namespaces/default/pods", "POST", {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
    "spec": {"containers": [{"name": "c", "image": "x",
                             "resources": {"requests": {"cpu": "100000"}}}]}})
check(st == 201, "create huge: %s" % st)
want = ("0/5 nodes are available: 5 Insufficient cpu. preemption: 0/5 nodes are available: "
        "5 No preemption victims found for incoming pod.")
msg = None
deadline = time.time() + 20
while time.time() < deadline and msg != want:
    evs = items(sim, "/api/v1/namespaces/default/events")
    msg = next((e["message"] for e in evs if e["reason"] == "FailedScheduling"
                and e["involvedObject"]["name"] == "huge"), None)
    time.sleep(0.2)
check(msg == want, "FailedScheduling message: %r" % msg)

# churn's pods are new
deadline = time.time() + 20
churned = []
while time.time() < deadline and not churned:
    churned = [p for p in items(sim, "/api/v1/pods") if "-churn-" in p["metadata"]["name"]]
    time.sleep(0.2)
now = time.time()
check(churned and all(now - 120 <= ts(p["metadata"]["creationTimestamp"]) <= now + 2
                      for p in churned),
      "churned pods created now: %r" % [p["metadata"]["creationTimestamp"] for p in churned[:3]])

# Secret stringData is merged into data and never served
st, _, body = sim.req(A, "/api/v1/namespaces/default/secrets", "POST", {
    "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
    "data": {"a": base64.b64encode(b"old").decode(), "b": base64.b64encode(b"kept").decode()},
    "stringData": {"a": "new", "c": "plain"}})
want = {"a": base64.b64encode(b"new").decode(), "b": base64.b64encode(b"kept").decode(),
        "c": base64.b64encode(b"plain").decode()}
check(st == 201 and "stringData" not in body and body.get("data") == want,
      "create answer: %s %r" % (st, body))
st, _, body = sim.req(A, "/api/v1/namespaces/default/secrets/s")
check(st == 200 and "stringData" not in body and body.get("data") == want, "GET: %r" % body)
body["stringData"] = {"b": "changed"}
st, _, body = sim.req(A, "/api/v1/namespaces/default/secrets/s", "PUT", body)
check(st == 200 and "stringData" not in body
      and body.get("data", {}).get("b") == base64.b64encode(b"changed").decode(),
      "update answer: %s %r" % (st, body))

# logs of a seeded pod: recent lines
p = next(p for p in pods if "-churn-" not in p["metadata"]["name"])
path = "/api/v1/namespaces/%s/pods/%s/log?container=%s&sinceSeconds=3600" % (
    p["metadata"]["namespace"], p["metadata"]["name"], p["spec"]["containers"][0]["name"])
st, _, body = sim.req(A, path)
lines = body.splitlines() if isinstance(body, str) else []
now = time.time()
check(st == 200 and len(lines) == 20 and all(now - 3600 <= ts(ln.split()[0]) <= now + 1
                                             for ln in lines),
      "--since=1h: %s %r" % (st, lines[:2]))

sim.stop()
done()
