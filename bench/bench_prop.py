#!/usr/bin/python3
"""bench/bench_prop.py: propagation latency and failover time, end to end.
A `flotilla sim --host --no-controllers` fleet, `flotilla serve` with host:
set, templates written to the host API directly (HTTP on loopback).

  propagation  W Deployments duplicated to every member by one
               ClusterPropagationPolicy; then S of them get a new image one at
               a time, and the time from the template PATCH answer to the new
               image seen on every member (a watch per member) is recorded:
               P50/P90/P99, beside one raw PATCH to a sim member in the same run.
  failover     F Deployments (20 replicas, Divided by available replicas) over
               the members; one member goes down (`flotilla sim ctl down`) and
               the time until every binding has left it and every other member
               holds the new counts is printed, with the detection threshold
               (failureThreshold + toleration) separately and when the daemon
               logged the member down. Bindings and member Deployments are
               mirrored by list+watch (no list per poll), checked every 50 ms.

Usage: bench_prop.py FLOTILLA_BIN [--clusters 20] [--workloads 1000] [--samples 200]
                     [--failover-workloads 1000]
Prints figures; never passes or fails on time."""
import argparse
import calendar
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from testlib import free_port, start_sim, stop_procs, wait  # noqa: E402

A = argparse.ArgumentParser()
A.add_argument("bin")
A.add_argument("--clusters", type=int, default=20)
A.add_argument("--workloads", type=int, default=1000)
A.add_argument("--samples", type=int, default=200)
A.add_argument("--failover-workloads", type=int, default=1000)
args = A.parse_args()
D = tempfile.mkdtemp(prefix="flotilla-bench-prop-")
procs = []


def http(url, method="GET", body=None, ctype="application/json", timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def deploy(ns, name, replicas, image):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image,
                                                           "resources": {"requests": {"cpu": "10m"}}}]}}}}


def count(url, ns):
    try:
        return len(http(url + "/apis/apps/v1/namespaces/%s/deployments?labelSelector=karmada.io%%2Fmanaged%%3Dtrue" % ns)["items"])
    except Exception:
        return -1


def watcher(name, url, ns, seen, stop):
    """Record when each (deployment, image) first shows on this member."""
    while not stop.is_set():
        try:
            rv = http(url + "/apis/apps/v1/namespaces/%s/deployments?limit=1" % ns)["metadata"]["resourceVersion"]
            with urllib.request.urlopen(url + "/apis/apps/v1/namespaces/%s/deployments?watch=1&resourceVersion=%s"
                                        % (ns, rv), timeout=600) as r:
                for line in r:
                    if stop.is_set():
                        return
                    ev = json.loads(line)
                    o = ev.get("object", {})
                    try:
                        img = o["spec"]["template"]["spec"]["containers"][0]["image"]
                    except (KeyError, IndexError, TypeError):
                        continue
                    seen.setdefault((name, o["metadata"]["name"], img), time.monotonic())
        except Exception:
            time.sleep(0.1)


class Mirror:
    """A list+watch of one collection kept in memory (name -> object), so
    that checking "moved" costs no list of 1,000 objects per member per
    poll (which took seconds at 1,000 x 20 and competed with the daemon for
    the CPU)."""

    def __init__(self, url, path):
        self.url, self.path, self.objs, self.lock = url, path, {}, threading.Lock()
        self.writes = self.spec_writes = 0  # MODIFIED events seen; those that changed the spec
        self.stop = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop.is_set():
            try:
                lst = http(self.url + self.path)
                with self.lock:
                    self.objs = {o["metadata"]["name"]: o for o in lst["items"]}
                with urllib.request.urlopen(self.url + self.path + "?watch=1&resourceVersion=%s"
                                            % lst["metadata"]["resourceVersion"], timeout=600) as r:
                    for line in r:
                        if self.stop.is_set():
                            return
                        ev = json.loads(line)
                        o = ev.get("object", {})
                        name = o.get("metadata", {}).get("name")
                        if not name:
                            continue
                        with self.lock:
                            if ev.get("type") == "DELETED":
                                self.objs.pop(name, None)
                            else:
                                old = self.objs.get(name)
                                if ev.get("type") == "MODIFIED":
                                    self.writes += 1
                                    self.spec_writes += old is None or old.get("spec") != o.get("spec")
                                self.objs[name] = o
            except Exception:
                time.sleep(0.1)

    def snapshot(self):
        with self.lock:
            return dict(self.objs)


def detected_at(log_path, cluster):
    """Wall-clock time of the daemon's "cluster X: Ready -> ..." line, or None."""
    try:
        for line in open(log_path):
            if "prop: cluster %s: Ready -> " % cluster in line:
                ts = line.split()[0].rstrip("Z")
                return calendar.timegm(time.strptime(ts.split(".")[0], "%Y-%m-%dT%H:%M:%S")) + \
                    float("0." + ts.split(".")[1])
    except (OSError, IndexError, ValueError):
        pass
    return None


def main():
    sim, clusters = start_sim(args.bin, D, "--clusters", str(args.clusters), "--host", "--nodes", "4",
                              "--no-controllers")
    procs.append(sim)
    host = clusters.pop("host")
    members = sorted(clusters)
    with open(os.path.join(D, "flotilla.yaml"), "a") as f:
        f.write("  healthInterval: 500ms\n  healthTimeout: 500ms\n"
                "failover: {failureThreshold: 1s, successThreshold: 1s, tolerationSeconds: 1,"
                " evictionRate: 1000}\npropagation: {interval: 200ms}\n")
    port = free_port()
    log = open(os.path.join(D, "serve.log"), "w")
    procs.append(subprocess.Popen([args.bin, "serve", "-c", os.path.join(D, "flotilla.yaml"),
                                   "--listen", "127.0.0.1:%d" % port], stdout=log, stderr=log))
    for ns in ("bench-d", "bench-f"):
        http(host + "/api/v1/namespaces", "POST", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": ns}})
    http(host + "/apis/policy.karmada.io/v1alpha1/clusterpropagationpolicies", "POST", {
        "apiVersion": "policy.karmada.io/v1alpha1", "kind": "ClusterPropagationPolicy",
        "metadata": {"name": "dup"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                        "namespace": "bench-d"}],
                 "placement": {"replicaScheduling": {"replicaSchedulingType": "Duplicated"}}}})
    W = args.workloads
    t0 = time.monotonic()
    for i in range(W):
        http(host + "/apis/apps/v1/namespaces/bench-d/deployments", "POST",
             deploy("bench-d", "w%04d" % i, 1, "nginx:v0"))
    t_created = time.monotonic() - t0
    ok = wait(lambda: all(count(clusters[m], "bench-d") == W for m in members), 900, 0.5)
    t_all = time.monotonic() - t0
    print("initial: %d templates x %d clusters = %d objects: %s in %.1f s (templates written in %.1f s)"
          % (W, len(members), W * len(members), "propagated" if ok else "NOT all propagated",
             t_all, t_created))
    # raw PATCH to one member
    m0 = clusters[members[0]]
    raw = []
    for i in range(50):
        t = time.monotonic()
        http(m0 + "/apis/apps/v1/namespaces/bench-d/deployments/w0000", "PATCH",
             {"metadata": {"annotations": {"bench": str(i)}}}, "application/merge-patch+json")
        raw.append((time.monotonic() - t) * 1000)
    print("raw PATCH to one sim member: P50 %.1f ms P99 %.1f ms (50)" % (pct(raw, 50), pct(raw, 99)))
    seen, stop = {}, threading.Event()
    ths = [threading.Thread(target=watcher, args=(m, clusters[m], "bench-d", seen, stop), daemon=True)
           for m in members]
    for t in ths:
        t.start()
    time.sleep(1.0)
    lat, missed, ts0, at = [], 0, time.monotonic(), []
    for s in range(args.samples):
        name = "w%04d" % ((s * 7919) % W)
        img = "nginx:s%d" % s
        http(host + "/apis/apps/v1/namespaces/bench-d/deployments/" + name, "PATCH",
             {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": img}]}}}},
             "application/strategic-merge-patch+json")
        t = time.monotonic()
        if wait(lambda: all((m, name, img) in seen for m in members), 30, 0.002):
            lat.append((max(seen[(m, name, img)] for m in members) - t) * 1000)
            at.append((lat[-1], s, t - ts0))
        else:
            missed += 1
    stop.set()
    print("slowest samples (ms, sample, s since the first): %s" %
          ", ".join("%.0f #%d %.1fs" % x for x in sorted(at, reverse=True)[:3]))
    print("propagation latency, template PATCH -> new image in all %d members (%d samples, %d missed):"
          " P50 %.0f ms P90 %.0f ms P99 %.0f ms max %.0f ms" %
          (len(members), len(lat), missed, pct(lat, 50), pct(lat, 90), pct(lat, 99),
           max(lat) if lat else float("nan")))
    try:
        print("load average: %s" % open("/proc/loadavg").read().strip())
    except OSError:
        pass
    # failover
    F = args.failover_workloads
    http(host + "/apis/policy.karmada.io/v1alpha1/clusterpropagationpolicies", "POST", {
        "apiVersion": "policy.karmada.io/v1alpha1", "kind": "ClusterPropagationPolicy",
        "metadata": {"name": "div"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                        "namespace": "bench-f"}],
                 "placement": {"replicaScheduling": {
                     "replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted",
                     "weightPreference": {"dynamicWeight": "AvailableReplicas"}}}}})
    for i in range(F):
        http(host + "/apis/apps/v1/namespaces/bench-f/deployments", "POST",
             deploy("bench-f", "f%04d" % i, len(members), "nginx:v0"))
    victim = members[-1]
    rest = [m for m in members if m != victim]

    def rbs():
        try:
            return http(host + "/apis/work.karmada.io/v1alpha2/namespaces/bench-f/resourcebindings")["items"]
        except Exception:
            return []

    def placed():
        b = rbs()
        return len(b) == F and all(sum(c["replicas"] for c in r["spec"].get("clusters", [])) == len(members)
                                   and any(c["name"] == victim for c in r["spec"]["clusters"]) for r in b)
    ok = wait(placed, 900, 0.5)
    ok = ok and wait(lambda: count(clusters[victim], "bench-f") == F, 900, 0.5)
    print("failover set-up: %d workloads x %d replicas placed: %s" % (F, len(members), ok))
    mb = Mirror(host, "/apis/work.karmada.io/v1alpha2/namespaces/bench-f/resourcebindings")
    mm = {m: Mirror(clusters[m], "/apis/apps/v1/namespaces/bench-f/deployments") for m in rest}
    wait(lambda: len(mb.snapshot()) == F and all(len(x.snapshot()) > 0 for x in mm.values()), 60, 0.1)
    time.sleep(2)
    subprocess.run([args.bin, "sim", "ctl", "--kubeconfig-dir", D, victim, "down"],
                   capture_output=True)
    t0, w0 = time.monotonic(), time.time()
    w_before, s_before = mb.writes, mb.spec_writes

    def moved():
        b = mb.snapshot()
        if len(b) != F:
            return False
        want = {}
        for r in b.values():
            cl = {c["name"]: c["replicas"] for c in r["spec"].get("clusters", [])}
            if victim in cl or sum(cl.values()) != len(members):
                return False
            want[r["spec"]["resource"]["name"]] = cl
        for m in rest:
            have = mm[m].snapshot()
            for name, cl in want.items():
                if cl.get(m, 0) and have.get(name, {}).get("spec", {}).get("replicas") != cl[m]:
                    return False
        return True
    ok = wait(moved, 600, 0.05)
    el = time.monotonic() - t0
    det = detected_at(os.path.join(D, "serve.log"), victim)
    print("failover: %d workloads off %s, cluster down -> every replica re-placed and written on the"
          " other %d members: %s in %.1f s (of which detection+toleration: health probe 0.5 s +"
          " failureThreshold 1 s + tolerationSeconds 1 s; the daemon logged the member down"
          " %s after the down)" % (F, victim, len(rest), "done" if ok else "NOT done", el,
                                   "%.2f s" % (det - w0) if det else "(not found)"))
    time.sleep(5)
    nw, ns = mb.writes - w_before, mb.spec_writes - s_before
    print("binding writes from the down to 5 s after: %d (%.2f per binding: %d spec, %d status)"
          % (nw, nw / float(F), ns, nw - ns))
    mb.stop.set()
    for x in mm.values():
        x.stop.set()
    try:
        print("load average: %s" % open("/proc/loadavg").read().strip())
    except OSError:
        pass


try:
    main()
finally:
    stop_procs(procs)
