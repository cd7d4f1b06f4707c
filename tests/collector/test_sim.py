#!/usr/bin/python3
"""tests/collector/test_sim.py: `flotilla serve` against real sim clusters
(`flotilla sim`, three members on loopback) rather than the fake server:

* every fault `flotilla sim ctl` can switch on one member (down, hang, slow,
  drop-watches, force-410, error-rate, garble-watch, html, expire-token)
  shows in that member's status, while a ConfigMap created on another
  member is still found through the search API within a second; after
  `recover`, what was written on the faulty member during and after the
  fault is found too;
* 20 SIGKILLs of the daemon at random moments of the initial sync and of
  pod churn, then one more run: the set of (cluster, resource, namespace,
  name, resourceVersion) in the index equals the sim's, and rows whose
  resourceVersion did not change kept the synced time of their first write.

Needs FLOTILLA_BIN and FLOTILLA_SRC (tests/meson.build)."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

SRC = os.environ.get("FLOTILLA_SRC", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import simtest  # noqa: E402
from simtest import Sim, check, done  # noqa: E402
from testlib import free_port, second, wait  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]
PREFIX = "/apis/clusterpedia.io/v1beta1/resources"
RESOURCES = ("pods", "configmaps", "nodes")






class Daemon:
    def __init__(self, sim, cfg, data):
        self.cfg, self.data, self.port = cfg, data, free_port()
        self.token = open(os.path.join(sim.dir, "tokens.csv")).read().split(",")[0]
        self.log = open(os.path.join(data + ".log"), "a")
        self.p = None

    def start(self):
        self.p = subprocess.Popen([BIN, "serve", "-c", self.cfg, "--listen",
                                   "127.0.0.1:%d" % self.port, "--data-dir", self.data],
                                  stdout=subprocess.DEVNULL, stderr=self.log)

    def get(self, path):
        r = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path))
        r.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(r, timeout=5) as resp:
                st, text = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, None
        except OSError:
            return 0, None
        try:
            return st, json.loads(text)
        except ValueError:
            return st, text

    def status(self, cluster):
        st, body = self.get("/api/v1/clusters/" + cluster)
        return body if st == 200 and isinstance(body, dict) else {}

    def has_cm(self, cluster, name):
        st, _ = self.get("%s/clusters/%s/api/v1/namespaces/default/configmaps/%s"
                         % (PREFIX, cluster, name))
        return st == 200

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        rc = self.p.wait(timeout=20)
        self.p = None
        return rc


def ctl(sim, cluster, *fault):
    r = subprocess.run([BIN, "sim", "ctl", "--kubeconfig-dir", sim.dir, cluster] + list(fault),
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "sim ctl %s %s: %s" % (cluster, fault, r.stderr))


def create_cm(sim, cluster, name, tries=1):
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": {"k": name}}
    for _ in range(tries):
        try:
            st, _, _ = sim.req(cluster, "/api/v1/namespaces/default/configmaps", "POST", body)
            if st == 201:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return False


def shows(d, cluster, what):
    """The member's status mentions what (health or any error)."""
    s = d.status(cluster)
    text = json.dumps(s)
    return what in text and s


# (fault args, what the faulty member's status must show, can it take writes meanwhile)
FAULTS = [
    (("down",), "Unreachable", False),
    (("hang",), "Unreachable", False),
    (("slow", "1500"), None, True),
    (("drop-watches",), None, True),
    (("force-410",), None, True),
    (("error-rate", "60"), "InternalError", False),
    (("garble-watch",), "malformed event", True),
    (("html",), "text/html", False),
    (("expire-token",), "Unauthorized", False),
]


def test_faults(sim, d):
    for i, (fault, sign, writable) in enumerate(FAULTS):
        name = fault[0]
        ctl(sim, "east-1", *fault)
        if writable:
            check(create_cm(sim, "east-1", "during-" + name, tries=20),
                  "%s: a write on the faulty member" % name)
        if sign:
            check(wait(lambda: shows(d, "east-1", sign), 15),
                  "%s: east-1 status shows %r: %s" % (name, sign, json.dumps(d.status("east-1"))))
        # the other members are not held up
        check(create_cm(sim, "east-2", "ok-" + name), "%s: write on east-2" % name)
        t0, bound = time.time(), second()
        found = wait(lambda: d.has_cm("east-2", "ok-" + name), 3)
        check(found and time.time() - t0 < bound,
              "%s: east-2's ConfigMap found within %g s (%.2f s)" % (name, bound, time.time() - t0))
        ctl(sim, "east-1", "recover")
        check(create_cm(sim, "east-1", "after-" + name, tries=20), "%s: write after recover" % name)
        for cm in (["during-" + name] if writable else []) + ["after-" + name]:
            check(wait(lambda: d.has_cm("east-1", cm), 20),
                  "%s: east-1's %s found after recover: %s" % (name, cm,
                                                              json.dumps(d.status("east-1"))))
        check(wait(lambda: d.status("east-1").get("health") == "Ready", 15),
              "%s: east-1 Ready again" % name)


def sim_set(sim):
    rows = set()
    for c in sim.clusters:
        if c == "host":
            continue
        for res in RESOURCES:
            st, _, body = sim.req(c, "/api/v1/" + res)
            if not check(st == 200, "sim list %s %s: %s" % (c, res, st)):
                continue
            for o in body["items"]:
                m = o["metadata"]
                rows.add((c, res, m.get("namespace", ""), m["name"], m["resourceVersion"]))
    return rows


def index_rows(data):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "index.db"), uri=True,
                         timeout=10)
    try:
        q = ("SELECT c.name, g.res, o.ns, o.name, o.rv, o.synced_ms FROM objects o "
             "JOIN clusters c ON c.id = o.cluster_id JOIN gvrs g ON g.id = o.gvr_id "
             "WHERE o.deleted_ms IS NULL AND g.grp = '' AND g.res IN (%s)"
             % ",".join("'%s'" % r for r in RESOURCES))
        return {r[:5]: r[5] for r in db.execute(q)}
    finally:
        db.close()


def test_sigkill(sim, d):
    d.stop()
    first = index_rows(d.data)
    check(len(first) > 300, "index before the kills holds the fleet (%d rows)" % len(first))
    for c in ("east-1", "east-2", "west-1"):
        ctl(sim, c, "churn", "40")
    rnd = random.Random(7)
    for i in range(20):
        d.start()
        time.sleep(rnd.uniform(0.05, 0.6))
        d.p.kill()
        d.p.wait()
        d.p = None
        if i == 10:  # a write between two runs
            create_cm(sim, "west-1", "between-kills", tries=5)
    for c in ("east-1", "east-2", "west-1"):
        ctl(sim, c, "churn", "0")
    d.start()
    want = sim_set(sim)
    got = wait(lambda: (lambda r: r if set(r) == want else None)(index_rows(d.data)), 30)
    if not check(got is not None, "index equals the sim after 20 SIGKILLs"):
        have = set(index_rows(d.data))
        print("missing %s\nextra %s" % (sorted(want - have)[:5], sorted(have - want)[:5]),
              file=sys.stderr)
        return
    same = [k for k in first if k in got]
    moved = [k for k in same if got[k] != first[k]]
    check(len(same) > 300 and not moved,
          "%d unchanged rows kept their synced time (%d were rewritten: %s)"
          % (len(same), len(moved), moved[:3]))
    check(d.stop() == 0, "the daemon drains on SIGTERM")


def main():
    sim = Sim("--clusters", "3", "--nodes", "3", "--pods", "100", "--namespaces", "2",
              "--write-config", "{dir}/flotilla.yaml")
    cfg = os.path.join(sim.dir, "flotilla.yaml")
    with open(cfg, "a") as f:  # quick probes, so faults show within seconds
        f.write("  healthInterval: 300ms\n  healthTimeout: 500ms\n"
                "  discoveryInterval: 10m\n")
    d = Daemon(sim, cfg, os.path.join(sim.dir, "data"))
    d.start()
    try:
        synced = wait(lambda: d.get("/readyz")[0] == 200, 30)
        check(synced, "daemon synced the sim fleet")
        if synced:
            test_faults(sim, d)
            test_sigkill(sim, d)
    finally:
        if d.p:
            d.p.kill()
            d.p.wait()
        if simtest.FAILS:
            d.log.flush()
            print(open(d.log.name, errors="replace").read()[-3000:], file=sys.stderr)
        sim.stop()
    done()


if __name__ == "__main__":
    main()
