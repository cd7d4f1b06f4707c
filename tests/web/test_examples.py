#!/usr/bin/python3
"""tests/web/test_examples.py: examples/ applied unchanged with kubectl to the
daemon's control-plane API over a 6-cluster sim fleet (the `./dev demo` fleet;
west-2 labelled gpu-pool=true), each checked for the placement or denial its
README promises; then the dashboard in headless Chromium shows what they made:
the quota gauges and the denial, the placements timeline, a query's rows in a
sortable table and a full-text search's rows (screenshot kept as
$FLOTILLA_ARTIFACTS/ui-examples.png); the team quota denies pods past it as
a KarmadaQuota and as a FederatedResourceQuota; after the daemon restarts,
the denials and the placements timeline are still there (dataDir/recent.db).
Needs FLOTILLA_BIN and kubectl (skips, 77, without); Chromium optional."""
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
from testlib import FAILS, check, free_port, run, start_sim, stop_procs, wait  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]
SRC = os.environ["FLOTILLA_SRC"]
EX = os.path.join(SRC, "examples")
if not shutil.which("kubectl"):
    print("kubectl not on PATH", file=sys.stderr)
    sys.exit(77)
D = tempfile.mkdtemp(prefix="fl-test-examples-")
procs = []
REGION = {"east-1": "east", "east-2": "east", "west-1": "west", "west-2": "west",
          "central-1": "central", "central-2": "central"}


def kc(*args):
    return run("kubectl", "--kubeconfig", os.path.join(D, "data", "flotilla.kubeconfig"),
               "--cache-dir", os.path.join(D, "kcache"), *args, timeout=120)


def http(port, path, token, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body,
                                 method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            try:
                return r.status, json.loads(raw or b"null")
            except ValueError:
                return r.status, raw
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, None


def start():
    sim, clusters = start_sim(BIN, D, "--clusters", "6", "--nodes", "3", "--pods", "30")
    procs.append(sim)
    check(sorted(clusters) == sorted(REGION), "sim fleet: %s" % sorted(clusters))
    cfg = os.path.join(D, "flotilla.yaml")
    text = open(cfg).read()
    text = text.replace("zone: west-b, provider: gcp}", "zone: west-b, provider: gcp, gpu-pool: \"true\"}")
    check("gpu-pool" in text, "west-2 labelled gpu-pool=true")
    open(cfg, "w").write(text)
    port = free_port()
    serve(port)
    token = open(os.path.join(D, "tokens.csv")).read().split(",")[0]
    check(wait(lambda: http(port, "/readyz", None)[0] == 200, 120), "daemon ready")
    return port, token


def serve(port):
    log = open(os.path.join(D, "serve.log"), "a")
    procs.append(subprocess.Popen([BIN, "serve", "-c", os.path.join(D, "flotilla.yaml"), "--listen",
                                   "127.0.0.1:%d" % port, "--data-dir", os.path.join(D, "data")],
                                  stdout=log, stderr=log))


def binding(ns, name):
    rc, out, _ = kc("get", "resourcebindings", "-n", ns, name + "-deployment", "-o", "json")
    if rc != 0:
        return None
    spec = json.loads(out).get("spec", {})
    return {c["name"]: c.get("replicas", 0) for c in spec.get("clusters") or []} or None


def placed(ns, name, ok):
    got = [None]

    def settled():
        got[0] = binding(ns, name)
        return got[0] is not None and ok(got[0])
    return wait(settled, 60, 0.5), got[0]


def test_placements():
    for d in ("two-regions-three-dcs", "active-active-one-city", "remote-disaster-recovery",
              "burst-to-public-cloud", "gpu-pool"):
        rc, _, err = kc("apply", "-f", os.path.join(EX, d))
        check(rc == 0, "kubectl apply -f examples/%s: %s" % (d, err))
    ok, got = placed("shop", "web", lambda b: len(b) == 3 and sum(b.values()) == 6
                     and len({REGION[c] for c in b}) == 2)
    check(ok, "two regions, three DCs: 6 replicas on 3 clusters in 2 regions: %s" % got)
    ok, got = placed("payments", "api", lambda b: b == {"east-1": 2, "east-2": 2})
    check(ok, "active-active: a full copy in east-1 and east-2: %s" % got)
    ok, got = placed("finance", "ledger", lambda b: set(b) <= {"east-1", "east-2"}
                     and sum(b.values()) == 4)
    check(ok, "disaster recovery: 4 replicas in the primary region only: %s" % got)
    ok, got = placed("analytics", "batch", lambda b: set(b) <= {"central-1", "central-2"}
                     and sum(b.values()) == 4)
    check(ok, "burst: every replica on the private (azure) clusters: %s" % got)
    ok, got = placed("ml", "trainer", lambda b: set(b) == {"west-2"})
    check(ok, "GPU pool: only the pool member west-2: %s" % got)
    # the override reached the member copy in east-2
    check(wait(lambda: run("kubectl", "--kubeconfig", os.path.join(D, "east-2.kubeconfig"), "get",
                           "deployment", "-n", "payments", "api", "-o",
                           "jsonpath={.spec.template.spec.containers[0].env[0].value}")[1]
               == "east-b.internal", 30, 0.5),
          "OverridePolicy: east-2's copy points at east-b.internal")


def review(name, cpu, ns, memory=None):
    req = {"cpu": cpu}
    if memory:
        req["memory"] = memory
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
           "spec": {"containers": [{"name": "c", "image": "nginx",
                                    "resources": {"requests": req}}]}}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "uid-" + name, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": ns,
        "name": name, "operation": "CREATE", "object": pod, "oldObject": None,
        "dryRun": False}}).encode()


def test_quota(port, token):
    rc, _, err = kc("apply", "-f", os.path.join(EX, "team-quota"))
    check(rc == 0, "kubectl apply -f examples/team-quota: %s" % err)
    secrets = json.load(open(os.path.join(D, "data", "quota-webhook-secrets.json")))
    path = "/admission/clusters/east-1/%s/quota" % secrets["east-1"]
    answer = [None]

    def denied():
        answer[0] = http(port, path, None, review("too-big", "3", "search"))[1]
        return isinstance(answer[0], dict) and answer[0]["response"]["allowed"] is False
    check(wait(denied, 30, 0.5), "a pod past the team's 2 CPUs is denied: %s" % answer[0])
    msg = (answer[0] or {}).get("response", {}).get("status", {}).get("message", "")
    check("exceeded quota: team-search" in msg, "kube-apiserver's wording: %s" % msg)
    code, ok = http(port, path, None, review("fits", "500m", "search"))
    check(code == 200 and ok["response"]["allowed"] is True, "a pod within the quota is allowed")
    # the same limit as Karmada's FederatedResourceQuota (spec.overall cpu 2, memory 4Gi),
    # namespace search-frq; as a ResourceQuota with memory, pods must say their memory
    code, doc = http(port, path, None, review("frq-no-memory", "500m", "search-frq"))
    msg = (doc or {}).get("response", {}).get("status", {}).get("message", "")
    check(code == 200 and doc["response"]["allowed"] is False and "must specify memory" in msg,
          "FederatedResourceQuota: a pod without a memory request is denied: %s" % doc)

    def frq_denied():
        answer[0] = http(port, path, None,
                         review("frq-too-big", "3", "search-frq", "1Gi"))[1]
        return isinstance(answer[0], dict) and answer[0]["response"]["allowed"] is False
    check(wait(frq_denied, 30, 0.5),
          "FederatedResourceQuota: a pod past its overall 2 CPUs is denied: %s" % answer[0])
    resp = (answer[0] or {}).get("response", {})
    msg = resp.get("status", {}).get("message", "")
    check(resp.get("status", {}).get("code") == 403 and
          "FederatedResourceQuota(search-frq/team-search) exceeded for resource cpu" in msg,
          "the FRQ denial in Karmada's wording: %s" % resp)
    code, ok = http(port, path, None, review("frq-fits", "1500m", "search-frq", "1Gi"))
    check(code == 200 and ok["response"]["allowed"] is True,
          "FederatedResourceQuota: a pod within its overall is allowed: %s" % ok)
    code, doc = http(port, "/api/v1/quota/denials", token)
    check(code == 200 and any(d["name"] == "too-big" and d["cluster"] == "east-1"
                              for d in doc["items"]), "the denial is listed: %s" % doc)
    check(code == 200 and any(d["name"] == "frq-too-big" and d["namespace"] == "search-frq"
                              for d in doc["items"]), "the FRQ denial is listed: %s" % doc)
    code, doc = http(port, "/api/v1/quota", token)
    check(code == 200 and any(q["name"] == "team-search" for q in doc["items"]),
          "the quota is reported")


def test_dashboard(port, token):
    chromium = shutil.which("chromium")
    if not chromium:
        print("chromium not installed: dashboard part skipped", file=sys.stderr)
        return
    sql = "SELECT cluster, count(*) FROM pods GROUP BY cluster ORDER BY cluster"
    url = "http://127.0.0.1:%d/ui#token=%s&sql=%s&search=%s" % (
        port, token, urllib.parse.quote(sql), "nginx")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--user-data-dir=" + tempfile.mkdtemp(dir=D),
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"]
    p = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=180)
    dom = p.stdout
    check('data-loaded="1"' in dom, "the page loaded its data")
    sec = lambda i: dom[dom.find('id="%s"' % i) - 40:dom.find('id="%s"' % i) + 40]
    for s in ("quota-section", "denials-box", "placements-section", "query-result",
              "search-result"):
        check('class="hidden"' not in sec(s), "panel %s shown: %s" % (s, sec(s)))
    check("team-search" in dom, "quota gauges show team-search")
    check("too-big" in dom and "exceeded quota" in dom, "the denial is shown")
    check("shop/web" in dom and "payments/api" in dom, "the placements timeline shows the examples")
    check('data-query-result="6"' in dom, "the query returned a row per cluster")
    check('class="sort"' in dom, "the result table sorts by its headers")
    check('data-search-result="' in dom and 'data-search-result="0"' not in dom,
          "full-text search returned rows")
    console = [l for l in p.stderr.splitlines() if ":CONSOLE" in l]
    check(not console, "no console messages: %s" % console)
    art = os.environ.get("FLOTILLA_ARTIFACTS", D)
    os.makedirs(art, exist_ok=True)
    shot = os.path.join(art, "ui-examples.png")
    if os.path.exists(shot):
        os.unlink(shot)
    subprocess.run(base + ["--screenshot=" + shot, "--window-size=1280,2200", url],
                   capture_output=True, text=True, timeout=180)
    check(os.path.exists(shot) and os.path.getsize(shot) > 10000, "screenshot kept at " + shot)


def test_restart(port, token):
    """The denials and the placements timeline outlive a restart."""
    _, before_d = http(port, "/api/v1/quota/denials", token)
    _, before_p = http(port, "/api/v1/placements", token)
    s = procs[-1]
    s.terminate()
    check(s.wait(timeout=60) == 0, "serve drains and exits 0")
    check(os.path.exists(os.path.join(D, "data", "recent.db")), "dataDir/recent.db written")
    serve(port)
    check(wait(lambda: http(port, "/readyz", None)[0] == 200, 120), "daemon ready again")
    code, doc = http(port, "/api/v1/quota/denials", token)
    names = [d["name"] for d in (doc or {}).get("items", [])] if code == 200 else []
    check("too-big" in names and "frq-too-big" in names,
          "the denials survived the restart: %s" % names)
    old = [(d["time"], d["name"]) for d in before_d["items"]]
    check([(d["time"], d["name"]) for d in doc["items"]][:len(old)] == old,
          "as they were, oldest first")
    code, doc = http(port, "/api/v1/placements", token)
    got = {(e["namespace"], e["name"], e["time"]) for e in (doc or {}).get("items", [])}
    want = {(e["namespace"], e["name"], e["time"]) for e in before_p["items"]}
    check(code == 200 and want and want <= got,
          "the placements timeline survived the restart (%d of %d)" % (len(want & got), len(want)))


def main():
    try:
        port, token = start()
        test_placements()
        test_quota(port, token)
        test_dashboard(port, token)
        test_restart(port, token)
    finally:
        stop_procs(procs)
        if FAILS:
            print(open(os.path.join(D, "serve.log")).read()[-4000:], file=sys.stderr)
        shutil.rmtree(D, ignore_errors=True)
    if FAILS:
        print("%d check(s) failed" % len(FAILS), file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
