#!/usr/bin/python3
"""tests/query/test_logs.py: pods/log through the search API. Starts
`flotilla sim` (controllers on; 2 clusters with generated, Running pods that
have the same names in both clusters), adds a member whose apiserver does not
listen, runs `flotilla serve` and checks with Debian's kubectl and urllib:
`kubectl logs` and `kubectl logs -f` (killed after a few followed lines)
through a /clusters/<name> kubeconfig and through the all-clusters prefix
(the pod's cluster found in the index), a pod name in two clusters (400
naming the /clusters/ prefix), options passed through (tailLines,
container: the member's 400 Status passed through), unknown cluster (404),
unknown pod (the member's 404), unreachable member (503), scopes (403), and
that the daemon drains with exit status 0 afterwards, even with a follow
still open (no thread or leak left behind). MANY follows are opened at once
(from several loopback addresses: the listener caps connections per
address): every one gets its lines while the daemon's thread count
(/proc/PID/task) stays what it was before them, and the memory each costs is
printed. Needs FLOTILLA_BIN (tests/meson.build).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import FAILS, check, free_port, kubeconfig, kubectl, wait, sim_token, stop_procs  # noqa: E402
from testlib import start_sim as testlib_start_sim  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]
PREFIX = "/apis/clusterpedia.io/v1beta1/resources"
PROCS = []


def start_sim(d):
    p, clusters = testlib_start_sim(BIN, d, "--clusters", "2", "--pods", "2")
    PROCS.append(p)
    return clusters


def http(url, token=None, timeout=10):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def post(url, body, token):
    req = urllib.request.Request(url, method="POST", data=json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code





def write_config(d):
    """The sim's config plus a dead member, scopes, and a team-a token."""
    dead = os.path.join(d, "dead.kubeconfig")
    with open(dead, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n"
                "  cluster: {server: \"http://127.0.0.1:%d\"}\nusers:\n- name: u\n  user: {}\n"
                "contexts:\n- name: c\n  context: {cluster: c, user: u}\n" % free_port())
    with open(os.path.join(d, "tokens.csv"), "a") as f:
        f.write('\nteam-a-token,alice,"team-a"\n')
    src = open(os.path.join(d, "flotilla.yaml")).read()
    port = free_port()
    src = src.replace("listen: 127.0.0.1:7443", "listen: 127.0.0.1:%d" % port)
    src = src.replace("dataDir: ./flotilla-data", "dataDir: ./data-logs")
    src = src.replace("  tokensFile: tokens.csv\n", "  tokensFile: tokens.csv\n"
                      "  anonymousLoopback: true\n  scopes:\n"
                      "  - {group: system:unauthenticated, clusters: [\"*\"], namespaces: [\"*\"],"
                      " resources: [\"*\"]}\n"
                      "  - {group: team-a, clusters: [east-1], namespaces: [team], "
                      "resources: [pods]}\n")
    src = src.replace("members:\n", "members:\n- name: dead-1\n  kubeconfig: %s\n" % dead)
    path = os.path.join(d, "logs.yaml")
    with open(path, "w") as f:
        f.write(src)
    return path, "http://127.0.0.1:%d" % port


def start_serve(d, path, base):
    log = open(os.path.join(d, "serve.log"), "w")
    p = subprocess.Popen([BIN, "serve", "-c", path], stdout=log, stderr=log)
    PROCS.append(p)
    for _ in range(100):
        try:
            if http(base + "/healthz")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    return p





def running_pods(base, cluster):
    st, body, _ = http(base + PREFIX + "/clusters/%s/api/v1/pods" % cluster)
    if st != 200:
        return []
    return [(i["metadata"]["namespace"], i["metadata"]["name"])
            for i in json.loads(body)["items"] if i.get("status", {}).get("phase") == "Running"]



def test_logs(d, base, clusters):
    pods = wait(lambda: running_pods(base, "east-1"), 15, 0.1)
    if not check(pods, "east-1 has Running pods in the index"):
        return
    ns, name = pods[0]
    kc1 = kubeconfig(d, "east1", base + PREFIX + "/clusters/east-1")
    kca = kubeconfig(d, "all", base + PREFIX)
    rc, out, err = kubectl(kc1, "logs", "-n", ns, name)
    lines = out.strip().split("\n")
    check(rc == 0 and len(lines) == 20 and "INFO" in lines[0] and name in lines[0],
          "kubectl logs via /clusters/east-1: %d %r %s" % (rc, lines[:2], err))
    rc, out, err = kubectl(kc1, "logs", "-n", ns, name, "--tail", "3")
    check(rc == 0 and len(out.strip().split("\n")) == 3, "--tail 3: %r %s" % (out, err))
    # "twin" in both clusters, "solo" only in east-2
    for c, pn in (("east-1", "twin"), ("east-2", "twin"), ("east-2", "solo")):
        check(post(clusters[c] + "/api/v1/namespaces/%s/pods" % ns,
                   {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pn, "namespace": ns},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}},
                   sim_token(d, c)) == 201, "create pod %s in %s" % (pn, c))
    for c, pn in (("east-1", "twin"), ("east-2", "twin"), ("east-2", "solo")):
        check(wait(lambda: (ns, pn) in running_pods(base, c), 15, 0.1),
              "%s Running in the index of %s" % (pn, c))
    rc, out, err = kubectl(kca, "logs", "-n", ns, "twin")
    check(rc != 0 and "/clusters/" in err, "same pod in 2 clusters: 400: %s" % err)
    st, body, _ = http(base + PREFIX + "/api/v1/namespaces/%s/pods/twin/log" % ns)
    check(st == 400 and json.loads(body).get("kind") == "Status", "400 Status: %s" % st)
    rc, out, err = kubectl(kca, "logs", "-n", ns, "solo", "--tail", "2")
    check(rc == 0 and len(out.strip().split("\n")) == 2 and "solo" in out,
          "kubectl logs via the all-clusters prefix: %r %s" % (out, err))
    follow(kca, ns, "solo")
    follow(kc1, ns, name)
    test_traversal(d, base, clusters, ns)
    test_known_unreachable(base, ns)
    # errors
    st, body, _ = http(base + PREFIX + "/clusters/nope-1/api/v1/namespaces/%s/pods/x/log" % ns)
    check(st == 404 and b"nope-1" in body, "unknown cluster: %s %s" % (st, body[:200]))
    st, body, _ = http(base + PREFIX + "/clusters/east-1/api/v1/namespaces/%s/pods/none/log" % ns)
    check(st == 404 and json.loads(body).get("reason") == "NotFound",
          "member's 404 passed through: %s %s" % (st, body[:200]))
    st, body, _ = http(base + PREFIX + "/api/v1/namespaces/%s/pods/none/log" % ns)
    check(st == 404, "unknown pod via the all-clusters prefix: %s" % st)
    st, body, _ = http(base + PREFIX + "/clusters/east-1/api/v1/namespaces/%s/pods/%s/log"
                       "?container=nope" % (ns, name))
    check(st == 400 and json.loads(body).get("kind") == "Status",
          "member's 400 (bad container) passed through: %s %s" % (st, body[:200]))
    st, body, _ = http(base + PREFIX + "/clusters/dead-1/api/v1/namespaces/%s/pods/x/log" % ns)
    check(st == 503 and json.loads(body).get("kind") == "Status" and b"dead-1" in body,
          "unreachable member: %s %s" % (st, body[:200]))
    st, body, _ = http(base + PREFIX + "/clusters/east-1/api/v1/namespaces/%s/pods/%s/log"
                       % (ns, name), token="team-a-token")
    check(st == 403, "scope forbids: %s %s" % (st, body[:200]))
    st, body, _ = http(base + PREFIX + "/clusters/east-1/api/v1/namespaces/%s/pods/%s/log"
                       % (ns, name), token="wrong")
    check(st == 401, "wrong token: %s" % st)
    for bad in ("Bad_Name", "a%3Fb", "a%20b", "x" * 300):
        st, body, _ = http(base + PREFIX + "/clusters/east-1/api/v1/namespaces/%s/pods/%s/log"
                           % (ns, bad))
        check(st in (400, 404) and json.loads(body).get("kind") == "Status",
              "hostile pod name %r: %s" % (bad[:20], st))
    st, body, _ = http(base + PREFIX + "/clusters/east-1/api/v1/namespaces/%s/pods/%s/log?"
                       "container=%s" % (ns, name, urllib.parse.quote("a&follow=true\r\nX: y")))
    check(st == 400, "hostile container reaches the member escaped (its 400): %s %s"
          % (st, body[:200]))
    st, body, _ = http(base + PREFIX + "/clusters/east-2/api/v1/namespaces/%s/pods/solo/log"
                       "?container=app&tailLines=1&timestamps=true&limitBytes=20&bogus=1" % ns)
    check(st == 200 and len(body.strip().split(b"\n")) == 1 and b"request 20)" in body,
          "options passed: %s %s" % (st, body[:200]))


def test_traversal(d, base, clusters, ns):
    """#19.1: dot segments in the namespace or pod name must never reach the
    member as another API path (libcurl collapsed them: a Secret was served)."""
    tok = sim_token(d, "east-1")
    check(post(clusters["east-1"] + "/api/v1/namespaces",
               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pods"}}, tok)
          in (201, 409), "create namespace pods")
    check(post(clusters["east-1"] + "/api/v1/namespaces/pods/secrets",
               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "log", "namespace": "pods"},
                "stringData": {"pw": "hunter2-traversal"}, "data": {"k": "aHVudGVyMi10cmF2ZXJzYWw="}},
               tok) == 201, "create secret pods/log")
    paths = ["namespaces/%2e/pods/secrets/log", "namespaces/%2E/pods/secrets/log",
             "namespaces/./pods/secrets/log", "namespaces/%2e%2e/pods/secrets/log",
             "namespaces/pods/pods/%2e%2e/log", "namespaces/pods/pods/%2e/log",
             "namespaces/pods/pods/a..b/log", "namespaces/-a/pods/x/log",
             "namespaces/a.b/pods/x/log", "namespaces/pods/pods/.x/log",
             "namespaces/pods%2fsecrets/pods/log/log"]
    for pth in paths:
        for pre in ("/clusters/east-1/api/v1/", "/api/v1/"):
            st, body, _ = http(base + PREFIX + pre + pth)
            check(st in (400, 404) and b"hunter2" not in body and b"aHVudGVy" not in body
                  and b'"kind":"Secret"' not in body.replace(b" ", b""),
                  "traversal %s%s: %s %s" % (pre, pth, st, body[:160]))
    st, body, _ = http(base + PREFIX + "/clusters/east-1/api/v1/namespaces/%2e/pods/secrets/log",
                       token="team-a-token")
    check(st in (400, 403, 404) and b"hunter2" not in body, "traversal as team-a: %s" % st)


def dead_health(base):
    st, body, _ = http(base + PREFIX + "/apis/cluster.karmada.io/v1alpha1/clusters/dead-1")
    if st != 200:
        return None
    return json.loads(body)["status"]["conditions"][0]["reason"]


def test_known_unreachable(base, ns):
    """A member already known Unreachable fails at once, naming its state."""
    if not check(wait(lambda: dead_health(base) == "Unreachable", 30, 0.2),
                 "dead-1 Unreachable: %s" % dead_health(base)):
        return
    t0 = time.time()
    st, body, _ = http(base + PREFIX + "/clusters/dead-1/api/v1/namespaces/%s/pods/x/log" % ns)
    dt = time.time() - t0
    check(st == 503 and b"Unreachable" in body and dt < 1.0,
          "known-unreachable member fails fast: %s %.2fs %s" % (st, dt, body[:200]))


def follow(kc, ns, name):
    """kubectl logs -f: the 20 lines so far, then a new line about every second."""
    p = subprocess.Popen(["kubectl", "--kubeconfig", kc, "--cache-dir",
                          os.path.join(os.path.dirname(kc), "kcache"), "logs", "-f", "-n", ns,
                          name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got = []
    t0 = time.time()
    while len(got) < 22 and time.time() - t0 < 15:
        line = p.stdout.readline()
        if not line:
            break
        got.append(line)
    p.kill()
    p.wait()
    check(len(got) == 22 and all(name in l for l in got) and "request 22)" in got[-1],
          "kubectl logs -f %s: %d lines %r %s" % (name, len(got), got[-2:],
                                                   p.stderr.read()[:300]))


MANY = 200
PER_USER = 256  # query/logs.c LOG_PER_USER


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_many_follows(base, pid, ns, name):
    """MANY followed logs at once cost memory, not threads."""
    import http.client
    u = urllib.parse.urlparse(base)
    path = PREFIX + "/clusters/east-1/api/v1/namespaces/%s/pods/%s/log?follow=true&tailLines=1" % (
        ns, name)
    before, rss0 = threads(pid), rss_kib(pid)
    conns, resps, got = [], [], 0
    try:
        for i in range(MANY):
            # 50 per source address: the listener allows 64 per client address
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=15,
                                           source_address=("127.0.0.%d" % (2 + i // 50), 0))
            c.request("GET", path)
            conns.append(c)
        for c in conns:
            r = c.getresponse()
            resps.append(r)
            line = r.readline()
            if got == 0 and not (r.status == 200 and name.encode() in line):
                check(False, "a followed log: %s %r" % (r.status, line[:300]))
                break
            if r.status == 200 and name.encode() in line:
                got += 1
        during, rss1 = threads(pid), rss_kib(pid)
        check(got == MANY, "%d/%d followed logs got their first line" % (got, MANY))
        # every follow goes on: one more line each (the sim logs one a second)
        more = sum(1 for r in resps if name.encode() in r.readline())
        check(more == MANY, "%d/%d followed logs got a second line" % (more, MANY))
        check(during == before, "threads with %d followed logs: %d, before: %d"
              % (MANY, during, before))
        print("%d followed logs: threads %d -> %d, RSS %d -> %d KiB (%.1f KiB each)"
              % (MANY, before, during, rss0, rss1, (rss1 - rss0) / MANY), file=sys.stderr)
        # one user holds at most PER_USER at once; the next one gets 429
        for i in range(MANY, PER_USER + 1):
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=15,
                                           source_address=("127.0.0.%d" % (2 + i // 50), 0))
            c.request("GET", path)
            conns.append(c)
            r = c.getresponse()
            if i < PER_USER:
                resps.append(r)
                r.readline()
                if r.status != 200:
                    check(False, "followed log %d of one user: %s" % (i + 1, r.status))
                    break
            else:
                body = r.read()
                check(r.status == 429 and b"too many log streams for user" in body,
                      "log %d of one user: want 429 naming the user, got %s %s"
                      % (i + 1, r.status, body[:200]))
    finally:
        for c in conns:
            c.close()
    # the daemon lets go of them: a new follow is admitted and threads stay flat
    def admitted():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
        try:
            c.request("GET", path)
            return c.getresponse().status == 200
        finally:
            c.close()
    check(wait(admitted, 15, 0.3), "a follow is admitted again once the others left")
    ok = wait(lambda: threads(pid) == before, 10, 0.2)
    check(ok, "threads after the followed logs left: %d (before %d)" % (threads(pid), before))


def open_follow(base, ns, name):
    """A follow left open while the daemon drains (it must still exit 0)."""
    import http.client
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", PREFIX + "/clusters/east-2/api/v1/namespaces/%s/pods/%s/log?follow=true"
              "&container=app" % (ns, name))
    r = c.getresponse()
    first = r.fp.readline()
    check(r.status == 200 and first, "open follow: %s %r" % (r.status, first))
    return c


def main():
    d = tempfile.mkdtemp(prefix="flotilla-logs-")
    serve = None
    keep = None
    try:
        clusters = start_sim(d)
        path, base = write_config(d)
        serve = start_serve(d, path, base)
        test_logs(d, base, clusters)
        twin = [p for p in running_pods(base, "east-1") if p[1] == "twin"]
        if check(twin, "twin still Running in east-1"):
            test_many_follows(base, serve.pid, twin[0][0], "twin")
        solo = [p for p in running_pods(base, "east-2") if p[1] == "solo"]
        if check(solo, "solo still Running"):
            keep = open_follow(base, solo[0][0], "solo")
    finally:
        stop_procs(PROCS)
        if serve:
            check(serve.returncode == 0, "serve exit status %s (with a follow open)"
                  % serve.returncode)
        if keep:
            keep.close()
        if FAILS:
            sys.stderr.write(open(os.path.join(d, "serve.log")).read()[-4000:])
        shutil.rmtree(d, ignore_errors=True)
    print("%d failure(s)" % len(FAILS), file=sys.stderr)
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
