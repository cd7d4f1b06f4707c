#!/usr/bin/python3
"""tests/cmd/test_ready.py: what `flotilla serve`'s /readyz promises
(collector.h, fl_collector_ready) against fake members
(tests/collector/fake_apiserver.py):
* the first 200 comes only once the initial lists are in the index: at that
  moment every pod of a 4,000-pod member is counted there (informer
  HasSynced), and the 503s before say "initial sync in progress";
* a member that is down, or one that fails its lists, does not hold
  readiness back; the synced member is served, ?verbose names the failing;
* when the only member is down, 503 "no member is synced" with its name;
* GET /api/v1/clusters and `flotilla clusters` show each member's sync state
  (Synced / Syncing / Failing) with its progress, and a health error that
  is gone after recovery.
Needs FLOTILLA_BIN and FLOTILLA_SRC (tests/meson.build).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import FAILS, check, free_port, wait  # noqa: E402
import test_serve as ts  # noqa: E402

PODS = 4000


def config(d, name, members, extra=""):
    with open(os.path.join(d, "tokens.csv"), "w") as f:
        f.write('%s,admin,"system:masters"\n' % ts.TOKEN)
    cfg = os.path.join(d, name + ".yaml")
    with open(cfg, "w") as f:
        f.write("listen: 127.0.0.1:1\n"
                "auth: {tokensFile: tokens.csv}\n"
                "members:\n")
        for m, port in members:
            f.write("- {name: %s, kubeconfig: %s}\n" % (m, ts.kubeconfig(d, m, port)))
        f.write("sync:\n"
                "  resources:\n"
                "  - {version: v1, resources: [pods, namespaces]}\n"
                "  healthInterval: 200ms\n"
                "  discoveryInterval: 1s\n" + extra)
    return cfg


def clusters(port):
    code, body = ts.get(port, "/api/v1/clusters")
    return json.loads(body) if code == 200 else {}


def member(port, name):
    for c in clusters(port).get("clusters", []):
        if c["name"] == name:
            return c
    return {}


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def test_ready_means_listed(d):
    """The first 200 of /readyz: every pod is already in the index."""
    fa, pa = ts.start_fake("--pods", str(PODS), "--pad", "600")
    dead = free_port()
    cfg = config(d, "big", [("alpha", pa), ("dead", dead)])
    port = free_port()
    s = ts.start_serve(cfg, port, os.path.join(d, "data-big"))
    seen_503, body_503, first_ok = 0, b"", None
    deadline = time.time() + 60
    while time.time() < deadline:
        code, body = ts.get(port, "/readyz", None)
        if code == 503:
            seen_503 += 1
            body_503 = body
        if code == 200:
            first_ok = ts.objects(port, "alpha", "pods")
            break
        time.sleep(0.01)
    # the fake also has one pod in kube-system
    check(first_ok == PODS + 1, "at the first 200 every pod is in the index (%r of %d)"
          % (first_ok, PODS + 1))
    check(seen_503 == 0 or b"initial sync in progress" in body_503
          or b"first health probe" in body_503, "503 says why: %r" % body_503)
    alpha, dm = member(port, "alpha"), member(port, "dead")
    check(alpha.get("sync") == "Synced" and alpha.get("resourcesSynced") == 2
          and alpha.get("resourcesTotal") == 2, "alpha Synced 2/2: %r" %
          {k: alpha.get(k) for k in ("sync", "resourcesSynced", "resourcesTotal")})
    check(all(r.get("synced") for r in alpha.get("resources", [])), "alpha's resources synced")
    check(dm.get("sync") == "Failing", "the dead member is Failing, not Syncing: %r"
          % dm.get("sync"))
    code, body = ts.get(port, "/readyz?verbose", None)
    check(code == 200 and b"dead (Unreachable" in body, "?verbose names the failing: %r" % body)
    r = subprocess.run([ts.BIN, "clusters", "--token", ts.TOKEN, "--server",
                        "http://127.0.0.1:%d" % port], capture_output=True, text=True, timeout=10)
    lines = r.stdout.splitlines()
    check(r.returncode == 0 and len(lines) == 3 and "SYNC" in lines[0], "table: %r" % r.stdout)
    row = {ln.split()[0]: ln for ln in lines[1:]}
    check("Synced 2/2" in row.get("alpha", ""), "alpha row shows Synced 2/2: %r" % row)
    check("Failing 0/0" in row.get("dead", "") and "ConnectionRefused" in row.get("dead", ""),
          "dead row shows Failing and its error: %r" % row)
    # $KUBECONFIG as kubectl reads it: the first file of the list that exists
    kc = os.path.join(d, "flotilla.kubeconfig")
    with open(kc, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: fleet\n"
                "clusters:\n- name: fleet\n  cluster: {server: \"http://127.0.0.1:%d/apis/"
                "clusterpedia.io/v1beta1/resources\"}\n"
                "users:\n- name: u\n  user: {token: %s}\n"
                "contexts:\n- name: fleet\n  context: {cluster: fleet, user: u}\n"
                % (port, ts.TOKEN))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOTILLA_")}
    env["KUBECONFIG"] = os.path.join(d, "missing") + ":" + kc
    r = subprocess.run([ts.BIN, "clusters"], capture_output=True, text=True, env=env, timeout=10)
    check(r.returncode == 0 and "Synced 2/2" in r.stdout, "clusters via $KUBECONFIG: %r %r"
          % (r.stdout, r.stderr))
    stop(s)
    stop(fa)


def test_only_member_down(d):
    """One member, down: not ready, and the reason names it."""
    dead = free_port()
    cfg = config(d, "down", [("gone", dead)])
    port = free_port()
    s = ts.start_serve(cfg, port, os.path.join(d, "data-down"))
    check(wait(lambda: b"no member is synced" in ts.get(port, "/readyz", None)[1], 10),
          "503 no member is synced")
    code, body = ts.get(port, "/readyz", None)
    check(code == 503 and b"gone (Unreachable" in body, "names the member: %d %r" % (code, body))
    time.sleep(1)
    check(ts.get(port, "/readyz", None)[0] == 503, "and stays 503")
    stop(s)


def test_failing_member(d):
    """A member whose lists fail (health fine) does not hold readiness back;
    after it recovers it syncs and its error is gone."""
    fa, pa = ts.start_fake("--pods", "5")
    fb, pb = ts.start_fake("--pods", "5")
    fc, pc = ts.start_fake("--pods", "5")
    ts.control(pb, "fault", {"mode": "500", "lists": True, "watches": True, "health": False})
    ts.control(pc, "fault", {"mode": "garbage", "lists": False, "watches": True, "health": False})
    cfg = config(d, "half", [("good", pa), ("bad", pb), ("garbled", pc)])
    port = free_port()
    s = ts.start_serve(cfg, port, os.path.join(d, "data-half"))
    check(wait(lambda: ts.get(port, "/readyz", None)[0] == 200, 15),
          "ready with one member failing its lists")
    bad = member(port, "bad")
    check(bad.get("health") == "Ready" and bad.get("sync") == "Failing",
          "bad: health Ready, sync Failing: %r" % {k: bad.get(k) for k in ("health", "sync")})
    code, body = ts.get(port, "/readyz?verbose", None)
    check(b"bad (pods: " in body or b"bad (namespaces: " in body, "verbose: %r" % body)
    # a member garbling its watches: listed, so synced; its relists never
    # make the daemon unready (#19 item 6)
    check(member(port, "garbled").get("sync") == "Synced", "garbled: Synced")
    t_end = time.time() + 4
    while time.time() < t_end:
        check(ts.get(port, "/readyz", None)[0] == 200, "still ready while it garbles")
        time.sleep(0.5)
    ts.control(pb, "fault", {"mode": ""})
    check(wait(lambda: member(port, "bad").get("sync") == "Synced", 40), "bad syncs on recovery")
    stop(s)
    stop(fa)
    stop(fb)
    stop(fc)


def test_health_error_clears(d):
    """LAST ERROR is the current problem: gone once the member is back."""
    fa, pa = ts.start_fake("--pods", "2")
    cfg = config(d, "flap", [("flap", pa)])
    port = free_port()
    s = ts.start_serve(cfg, port, os.path.join(d, "data-flap"))
    check(wait(lambda: ts.get(port, "/readyz", None)[0] == 200, 15), "flap ready")
    ts.control(pa, "fault", {"mode": "500", "health": True, "lists": False, "watches": False})
    check(wait(lambda: member(port, "flap").get("health") == "NotReady", 10), "flap NotReady")
    check("500" in member(port, "flap").get("lastError", ""), "its error shown")
    check(ts.get(port, "/readyz", None)[0] == 503, "its only member down: 503")
    ts.control(pa, "fault", {"mode": ""})
    check(wait(lambda: member(port, "flap").get("health") == "Ready", 10), "flap Ready again")
    check(member(port, "flap").get("lastError") == "", "and its error is gone")
    check(ts.get(port, "/readyz", None)[0] == 200, "ready again (synced before: HasSynced stays)")
    stop(s)
    stop(fa)


def lag_of(port, name, resource):
    for r in member(port, name).get("resources", []):
        if r["resource"] == resource:
            return r.get("lagMs")
    return None


def test_lag(d):
    """LAG counts from the outage (not from the last event of a quiet
    resource), and failed retries do not reset it."""
    fa, pa = ts.start_fake("--pods", "3")
    cfg = config(d, "lag", [("quiet", pa)])
    port = free_port()
    s = ts.start_serve(cfg, port, os.path.join(d, "data-lag"))
    check(wait(lambda: ts.get(port, "/readyz", None)[0] == 200, 15), "quiet ready")
    time.sleep(3)  # nothing happens on the member meanwhile
    check(lag_of(port, "quiet", "pods") == 0, "watching: lag 0")
    ts.control(pa, "fault", {"mode": "500", "lists": True, "watches": True, "health": False})
    ts.control(pa, "drop", {})
    t0 = time.time()
    check(wait(lambda: (lag_of(port, "quiet", "pods") or 0) > 0, 5), "lag starts at the outage")
    time.sleep(2)
    l1, el1 = lag_of(port, "quiet", "pods"), (time.time() - t0) * 1000
    check(l1 is not None and 500 <= l1 <= el1 + 500, "lag %r ms about the %d ms since the outage"
          % (l1, el1))
    time.sleep(2)
    l2 = lag_of(port, "quiet", "pods")
    check(l2 is not None and l2 >= l1 + 1500, "retries do not reset it: %r then %r" % (l1, l2))
    ts.control(pa, "fault", {"mode": ""})
    check(wait(lambda: lag_of(port, "quiet", "pods") == 0, 20), "lag 0 once the watch is back")
    stop(s)
    stop(fa)


def main():
    d = tempfile.mkdtemp(prefix="fl-test-ready-")
    try:
        test_ready_means_listed(d)
        test_only_member_down(d)
        test_failing_member(d)
        test_health_error_clears(d)
        test_lag(d)
    finally:
        for p in ts.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)
    print("%d FAILS" % len(FAILS), file=sys.stderr)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
