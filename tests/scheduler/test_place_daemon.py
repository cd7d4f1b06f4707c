#!/usr/bin/python3
"""tests/scheduler/test_place_daemon.py: `flotilla place` against the
running daemon on a sim fleet (3 members, their nodes and pods in the
index): a Divided placement by available replicas restricted by a provider
field selector, a node selector no node satisfies (NoClusterFit), a
ClusterPropagationPolicy losing to a PropagationPolicy, -o json, the 401
without a token, and the usage errors. FLOTILLA_BIN names the binary."""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import check, done, free_port, start_sim, stop_procs, wait  # noqa: E402

BIN = os.environ.get("FLOTILLA_BIN") or sys.argv[1]

WORKLOAD = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 7
  template:
    spec:
      %s
      containers:
      - name: c
        image: nginx
        resources: {requests: {cpu: 500m, memory: 256Mi}}
"""
POLICY = """apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web-pp}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  placement:
    clusterAffinity: {fieldSelector: {matchExpressions: [{key: provider, operator: In, values: [aws]}]}}
    replicaScheduling: {replicaSchedulingType: Divided, replicaDivisionPreference: Weighted,
                        weightPreference: {dynamicWeight: AvailableReplicas}}
---
apiVersion: policy.karmada.io/v1alpha1
kind: ClusterPropagationPolicy
metadata: {name: everything}
spec:
  priority: 1000
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment}]
  placement:
    replicaScheduling: {replicaSchedulingType: Duplicated}
"""


def place(files, port, token, *extra):
    args = [BIN, "place", "--server", "http://127.0.0.1:%d" % port]
    for f in files:
        args += ["-f", f]
    if token:
        args += ["--token", token]
    env = dict(os.environ)
    env.pop("FLOTILLA_TOKEN", None)
    return subprocess.run(args + list(extra), capture_output=True, text=True, timeout=60, env=env)


def main():
    d = tempfile.mkdtemp(prefix="fl-place-")
    procs = []
    try:
        sim, _ = start_sim(BIN, d, "--clusters", "3", "--nodes", "3", "--pods", "4")
        procs.append(sim)
        token = None
        for line in open(os.path.join(d, "tokens.csv")):
            token = line.split(",")[0].strip()
            break
        port = free_port()
        serve = subprocess.Popen([BIN, "serve", "-c", os.path.join(d, "flotilla.yaml"), "--listen",
                                  "127.0.0.1:%d" % port, "--data-dir", os.path.join(d, "data")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(serve)

        def ready():
            try:
                return urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2).status == 200
            except Exception:
                return False
        check(wait(ready, 30), "the daemon gets ready")
        w = os.path.join(d, "w.yaml")
        p = os.path.join(d, "p.yaml")
        open(w, "w").write(WORKLOAD % "")
        open(p, "w").write(POLICY)

        # nodes are in the index once ready; capacity counts them
        r = place([w, p], port, token)
        check(r.returncode == 0, "place: rc %d %s %s" % (r.returncode, r.stdout, r.stderr))
        check("PropagationPolicy default/web-pp, DynamicWeight, 7 replicas" in r.stdout,
              "policy line: %s" % r.stdout)
        check("west-1" in r.stdout and "did not match the placement cluster affinity" in r.stdout,
              "west-1 filtered: %s" % r.stdout)
        check("Scheduled:" in r.stdout and "west-1=" not in r.stdout, "scheduled line: %s" % r.stdout)

        r = place([w, p], port, token, "-o", "json")
        ans = json.loads(r.stdout) if r.returncode == 0 else {}
        got = {c["name"]: c["replicas"] for c in ans.get("clusters", [])}
        check(set(got) <= {"east-1", "east-2"} and sum(got.values()) == 7, "json clusters: %s" % got)
        ex = ans.get("explain", {})
        avail = [c.get("available") for c in ex.get("attempts", [{}])[0].get("clusters", [])
                 if c.get("filter") == "passed"]
        check(len(avail) == 2 and all(isinstance(a, int) and a > 0 for a in avail),
              "available replicas from the index: %s" % avail)

        open(w, "w").write(WORKLOAD % "nodeSelector: {disk: none-such}")
        r = place([w, p], port, token)
        check(r.returncode == 1 and "NoClusterFit" in r.stdout, "node selector: %s %s" % (r.stdout, r.stderr))

        r = place([w, p], port, None)
        check(r.returncode == 1 and "401" in r.stderr, "no token: %s" % r.stderr)
        r = place([p], port, token)
        check(r.returncode == 1 and "no workload" in r.stderr, "only policies: %s" % r.stderr)
        r = subprocess.run([BIN, "place"], capture_output=True, text=True, timeout=10)
        check(r.returncode == 2 and "Usage: flotilla place" in r.stderr, "usage")
        r = subprocess.run([BIN, "place", "--help"], capture_output=True, text=True, timeout=10)
        check(r.returncode == 0 and "Usage: flotilla place" in r.stdout, "--help")
    finally:
        stop_procs(procs)
        subprocess.run(["rm", "-rf", d])
    done()


main()
