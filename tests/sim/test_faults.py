"""tests/sim/test_faults.py: every fault of `flotilla sim ctl` against a
2-cluster sim, observed with urllib: the fault shows on the faulty cluster,
the other cluster keeps answering normally, and recover restores normal
answers. Also the control endpoint's auth and the ctl command line."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from simtest import Sim, check, done  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]


def ctl(sim, *args):
    r = subprocess.run([BIN, "sim", "ctl", "--kubeconfig-dir", sim.dir] + list(args),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def normal(sim, cluster):
    st, _, body = sim.req(cluster, "/api/v1/namespaces")
    return st == 200 and isinstance(body, dict) and body.get("kind") == "NamespaceList"


def raw_get(sim, cluster, path, timeout=5):
    """(status, content-type, body bytes) or an exception name."""
    u = urllib.parse.urlsplit(sim.clusters[cluster])
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Authorization": "Bearer " + sim.token(cluster)})
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__, None, b""
    finally:
        c.close()


def open_watch(sim, cluster, path):
    u = urllib.parse.urlsplit(sim.clusters[cluster])
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", path, headers={"Authorization": "Bearer " + sim.token(cluster)})
    r = c.getresponse()
    return c, r


def read_lines(resp, n, timeout=5):
    """Up to n lines (or until EOF / timeout) from a streaming response."""
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        line = resp.readline()
        if not line:
            out.append(None)  # EOF
            break
        if line.strip():
            out.append(line)
    return out


def test_cli(sim):
    rc, out, _ = ctl(sim, "--help")
    check(rc == 0 and "garble-watch" in out and "expire-token" in out, "ctl --help lists faults")
    rc, _, _ = ctl(sim, "east-1", "no-such-fault")
    check(rc == 1, "unknown fault refused (rc=%s)" % rc)
    rc, _, _ = ctl(sim, "nope-9", "down")
    check(rc == 1, "unknown cluster refused")
    rc, _, _ = ctl(sim, "east-1", "slow", "abc")
    check(rc == 1, "bad argument refused")
    info = json.load(open(os.path.join(sim.dir, "sim-control.json")))
    check(oct(os.stat(os.path.join(sim.dir, "sim-control.json")).st_mode & 0o777) == "0o600",
          "sim-control.json is 0600")
    rc, _, _ = subprocess.run([BIN, "sim", "ctl", "--server", info["url"], "--token", "bad",
                               "east-1", "down"], capture_output=True, text=True).returncode, 0, 0
    check(rc == 1, "bad control token refused")
    rc, out, _ = ctl(sim, "status")
    check(rc == 0 and len(json.loads(out)["clusters"]) == 2, "status lists both clusters")


def test_down(sim):
    rc, out, err = ctl(sim, "east-1", "down")
    check(rc == 0 and json.loads(out)["down"] is True, "down applied: %s %s" % (out, err))
    st, _, _ = raw_get(sim, "east-1", "/api/v1/namespaces")
    check(st == "ConnectionRefusedError", "down: connection refused (%s)" % st)
    check(normal(sim, "east-2"), "down: east-2 unaffected")
    # the port stays the cluster's: no other program can bind it meanwhile
    u = urllib.parse.urlsplit(sim.clusters["east-1"])
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        other.bind((u.hostname, u.port))
        other.listen()
        taken = True
    except OSError:
        taken = False
    finally:
        other.close()
    check(not taken, "down: another server could listen on the down cluster's port %d" % u.port)
    rc, _, err = ctl(sim, "east-1", "recover")
    check(rc == 0, "recover: %s" % err)
    check(normal(sim, "east-1"), "down: recover restores east-1 on the same URL")


def test_hang(sim):
    ctl(sim, "east-1", "hang")
    st, _, _ = raw_get(sim, "east-1", "/api/v1/namespaces", timeout=1)
    check(st in ("timeout", "TimeoutError", "socket.timeout"), "hang: no answer (%s)" % st)
    check(normal(sim, "east-2"), "hang: east-2 unaffected")
    ctl(sim, "east-1", "recover")
    check(normal(sim, "east-1"), "hang: recovered")


def test_slow(sim):
    ctl(sim, "east-1", "slow", "800")
    t = time.time()
    ok = normal(sim, "east-1")
    dt = time.time() - t
    check(ok and dt >= 0.8, "slow: answer after >= 800 ms (%.3f)" % dt)
    t = time.time()
    normal(sim, "east-2")
    check(time.time() - t < 0.6, "slow: east-2 fast")
    ctl(sim, "east-1", "recover")
    t = time.time()
    normal(sim, "east-1")
    check(time.time() - t < 0.6, "slow: recovered")


def test_drop_watches(sim):
    c, r = open_watch(sim, "east-1", "/api/v1/namespaces?watch=true")
    c2, r2 = open_watch(sim, "east-2", "/api/v1/namespaces?watch=true")
    first = read_lines(r, 4, timeout=3)  # the 4 initial ADDED
    read_lines(r2, 4, timeout=3)
    check(len(first) == 4 and None not in first, "drop-watches: watch open")
    time.sleep(0.2)
    ctl(sim, "east-1", "drop-watches")
    rest = read_lines(r, 1, timeout=3)
    check(rest == [None], "drop-watches: stream ended (%r)" % rest)
    st, _, body = sim.req("east-2", "/api/v1/namespaces", method="POST",
                          body={"metadata": {"name": "after-drop"}})
    ev = read_lines(r2, 1, timeout=3)
    check(ev and ev[0] and b"after-drop" in ev[0], "drop-watches: east-2 watch still open")
    c.close()
    c2.close()
    check(normal(sim, "east-1"), "drop-watches: east-1 still serves")


def test_force_410(sim):
    c, r = open_watch(sim, "east-1", "/api/v1/namespaces?watch=true")
    read_lines(r, 4, timeout=3)
    time.sleep(0.2)
    ctl(sim, "east-1", "force-410")
    ev = read_lines(r, 2, timeout=3)
    e = json.loads(ev[0]) if ev and ev[0] else {}
    check(e.get("type") == "ERROR" and e.get("object", {}).get("code") == 410,
          "force-410: open watch gets ERROR 410 (%r)" % ev)
    check(ev[-1] is None, "force-410: open watch ends")
    c.close()
    st, _, body = sim.req("east-1", "/api/v1/pods")
    check(st == 410 and body.get("reason") == "Expired", "force-410: next list 410 (%s)" % st)
    st, evs = sim.watch("east-1", "/api/v1/pods?watch=true&resourceVersion=1")
    check(st == 200 and evs and evs[0]["type"] == "ERROR" and evs[0]["object"]["code"] == 410,
          "force-410: next watch ERROR 410 (%r)" % evs[:1])
    st, _, _ = sim.req("east-1", "/api/v1/pods")
    check(st == 200, "force-410: one-shot: the list after is 200")
    check(normal(sim, "east-2"), "force-410: east-2 unaffected")


def test_error_rate(sim):
    ctl(sim, "east-1", "error-rate", "50")
    codes = [sim.req("east-1", "/api/v1/namespaces")[0] for _ in range(20)]
    check(codes.count(500) == 10 and codes.count(200) == 10, "error-rate 50: half 500 (%s)" % codes)
    st, _, body = sim.req("east-1", "/api")
    check(isinstance(body, dict) and body.get("kind") in ("Status", "APIVersions"),
          "error-rate: answers stay JSON")
    check(all(normal(sim, "east-2") for _ in range(5)), "error-rate: east-2 unaffected")
    ctl(sim, "east-1", "recover")
    check(all(normal(sim, "east-1") for _ in range(5)), "error-rate: recovered")


def test_garble(sim):
    ctl(sim, "east-1", "garble-watch")
    c, r = open_watch(sim, "east-1", "/api/v1/namespaces?watch=true&timeoutSeconds=2")
    lines = [l for l in read_lines(r, 4, timeout=3) if l]
    bad = 0
    for l in lines:
        try:
            json.loads(l)
        except ValueError:
            bad += 1
    check(lines and bad == len(lines), "garble-watch: every line unparseable (%d/%d)" %
          (bad, len(lines)))
    c.close()
    st, evs = sim.watch("east-2", "/api/v1/namespaces?watch=true&timeoutSeconds=1")
    check(st == 200 and len(evs) >= 4, "garble-watch: east-2 watch parses")
    check(normal(sim, "east-1"), "garble-watch: lists unaffected")
    ctl(sim, "east-1", "recover")
    st, evs = sim.watch("east-1", "/api/v1/namespaces?watch=true&timeoutSeconds=1")
    check(st == 200 and len(evs) >= 4, "garble-watch: recovered")


def test_html(sim):
    ctl(sim, "east-1", "html")
    st, ctype, body = raw_get(sim, "east-1", "/api/v1/namespaces")
    check(st == 200 and ctype.startswith("text/html") and body.lstrip().startswith(b"<"),
          "html: text/html answer (%s %s)" % (st, ctype))
    check(normal(sim, "east-2"), "html: east-2 unaffected")
    ctl(sim, "east-1", "recover")
    check(normal(sim, "east-1"), "html: recovered")


def test_expire_token(sim):
    ctl(sim, "east-1", "expire-token")
    st, _, body = sim.req("east-1", "/api/v1/namespaces")
    check(st == 401 and body.get("reason") == "Unauthorized", "expire-token: 401 (%s)" % st)
    check(normal(sim, "east-2"), "expire-token: east-2 unaffected")
    ctl(sim, "east-1", "recover")
    check(normal(sim, "east-1"), "expire-token: recovered")


def test_churn_ctl(sim):
    rc, out, _ = ctl(sim, "east-1", "churn", "50")
    check(rc == 0 and json.loads(out)["churn"] == 50, "churn set to 50")
    st, _, body = sim.req("east-1", "/api/v1/pods")
    rv = body["metadata"]["resourceVersion"]
    st, evs = sim.watch("east-1", "/api/v1/pods?watch=true&timeoutSeconds=1&resourceVersion=" + rv)
    check(len(evs) >= 20, "churn 50/s: >= 20 pod events in 1 s (%d)" % len(evs))
    ctl(sim, "east-1", "churn", "0")
    time.sleep(0.1)
    st, _, body = sim.req("east-1", "/api/v1/pods")
    rv = body["metadata"]["resourceVersion"]
    st, evs = sim.watch("east-1", "/api/v1/pods?watch=true&timeoutSeconds=1&resourceVersion=" + rv)
    check(len(evs) == 0, "churn 0: no events (%d)" % len(evs))


def main():
    sim = Sim("--clusters", "2")
    try:
        check(set(sim.clusters) == {"east-1", "east-2"}, "two clusters")
        for t in (test_cli, test_down, test_hang, test_slow, test_drop_watches, test_force_410,
                  test_error_rate, test_garble, test_html, test_expire_token, test_churn_ctl):
            t(sim)
            ctl(sim, "east-1", "recover")
    finally:
        sim.stop()
    # --prefix: down answers 503 (the port is shared)
    sim = Sim("--clusters", "2", "--prefix")
    try:
        ctl(sim, "east-1", "down")
        st, _, _ = sim.req("east-1", "/api/v1/namespaces")
        check(st == 503, "prefix mode: down answers 503 (%s)" % st)
        check(normal(sim, "east-2"), "prefix mode: east-2 unaffected")
        ctl(sim, "east-1", "recover")
        check(normal(sim, "east-1"), "prefix mode: recovered")
    finally:
        sim.stop()
    done()


if __name__ == "__main__":
    main()
