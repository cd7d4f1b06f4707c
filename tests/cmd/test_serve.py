#!/usr/bin/python3
"""tests/cmd/test_serve.py: `flotilla serve` and `flotilla clusters` end to
end against fake member clusters (tests/collector/fake_apiserver.py):
config errors name file:line:field and fail; the daemon syncs, answers
/readyz and GET /api/v1/clusters (bearer token from tokens.csv; without a
tokens file only anonymousLoopback lets anyone in; `flotilla clusters`
with --token, $FLOTILLA_TOKEN or --kubeconfig), follows
changes within a second, restarts after SIGKILL from its data dir and
converges (deletes what vanished meanwhile), and drains on SIGTERM with
exit status 0. Needs FLOTILLA_BIN and FLOTILLA_SRC (tests/meson.build).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import FAILS, check, free_port, wait  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]
SRC = os.environ.get("FLOTILLA_SRC", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
FAKE = os.path.join(SRC, "tests", "collector", "fake_apiserver.py")
TOKEN = "test-token-123"
procs = []






def start_fake(*args):
    p = subprocess.Popen(["/usr/bin/python3", FAKE] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    procs.append(p)
    return p, int(p.stdout.readline())


def control(port, what, body):
    req = urllib.request.Request("http://127.0.0.1:%d/control/%s" % (port, what),
                                 data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def kubeconfig(d, name, port):
    path = os.path.join(d, name + ".kubeconfig")
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                "clusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:%d\"}\n"
                "users:\n- name: u\n  user: {token: t}\n"
                "contexts:\n- name: c\n  context: {cluster: c, user: u}\n" % port)
    return name + ".kubeconfig"  # relative: resolved against the config's directory


def get(port, path, token=TOKEN):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""




def objects(port, cluster, resource):
    code, body = get(port, "/api/v1/clusters/" + cluster)
    if code != 200:
        return -1
    for r in json.loads(body).get("resources", []):
        if r["resource"] == resource:
            return r.get("objects", -1)
    return -1


def start_serve(cfg, port, data):
    p = subprocess.Popen([BIN, "serve", "-c", cfg, "--listen", "127.0.0.1:%d" % port,
                          "--data-dir", data], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    procs.append(p)
    return p


def test_config_errors(d):
    bad = os.path.join(d, "bad.yaml")
    with open(bad, "w") as f:
        f.write("listen: 127.0.0.1:0\nmembrs: []\n")
    r = subprocess.run([BIN, "serve", "-c", bad], capture_output=True, text=True, timeout=10)
    check(r.returncode == 1, "bad config exits 1 (got %d)" % r.returncode)
    check("bad.yaml:2: membrs: unknown field" in r.stderr, "error names file:line:field: " + r.stderr)
    r = subprocess.run([BIN, "serve"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "-c FILE" in r.stderr, "missing -c is a usage error")
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "Usage: flotilla serve" in r.stdout, "serve --help")
    r = subprocess.run([BIN, "clusters", "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "Usage: flotilla clusters" in r.stdout, "clusters --help")


def test_daemon(d):
    fa, pa = start_fake("--pods", "4")
    dead = free_port()
    cfg = os.path.join(d, "flotilla.yaml")
    with open(os.path.join(d, "tokens.csv"), "w") as f:
        f.write('%s,admin,"system:masters"\n' % TOKEN)
    with open(cfg, "w") as f:
        f.write("listen: 127.0.0.1:1\n"
                "auth: {tokensFile: tokens.csv}\n"
                "members:\n"
                "- {name: alpha, kubeconfig: %s, labels: {region: east}}\n"
                "- {name: dead, kubeconfig: %s}\n"
                "sync:\n"
                "  resources:\n"
                "  - {version: v1, resources: [pods, namespaces]}\n"
                "  namespaces: {exclude: [kube-system]}\n"
                "  healthInterval: 200ms\n"
                "  discoveryInterval: 1s\n"
                % (kubeconfig(d, "alpha", pa), kubeconfig(d, "dead", dead)))
    port = free_port()
    data = os.path.join(d, "data")
    s = start_serve(cfg, port, data)
    check(wait(lambda: get(port, "/readyz", None)[0] == 200, 10), "/readyz turns 200")
    check(get(port, "/healthz", None) == (200, b"ok"), "/healthz ok")
    code, _ = get(port, "/api/v1/clusters", None)
    check(code == 401, "no token: 401 (got %d)" % code)
    code, _ = get(port, "/api/v1/clusters", "wrong")
    check(code == 401, "wrong token: 401")
    check(wait(lambda: objects(port, "alpha", "pods") == 4, 5), "4 pods (kube-system excluded)")
    code, body = get(port, "/api/v1/clusters")
    doc = json.loads(body) if code == 200 else {}
    by = {c["name"]: c for c in doc.get("clusters", [])}
    check(by.get("alpha", {}).get("health") == "Ready", "alpha Ready")
    check(by.get("alpha", {}).get("labels") == {"region": "east"}, "labels shown")
    check(by.get("dead", {}).get("health") == "Unreachable", "dead Unreachable")
    check("ConnectionRefused" in by.get("dead", {}).get("lastError", ""), "dead's error shown")
    check(get(port, "/api/v1/clusters/nope")[0] == 404, "unknown cluster 404")

    t0 = time.time()
    control(pa, "upsert", {"resource": "pods", "namespace": "default", "name": "new"})
    check(wait(lambda: objects(port, "alpha", "pods") == 5, 1.0), "create seen within 1s")
    control(pa, "delete", {"resource": "pods", "namespace": "default", "name": "pod-0"})
    check(wait(lambda: objects(port, "alpha", "pods") == 4, 1.0), "delete seen within 1s")
    print("create+delete seen in %.0f ms" % ((time.time() - t0) * 1000), file=sys.stderr)

    env = dict(os.environ, FLOTILLA_SERVER="http://127.0.0.1:%d" % port)
    r = subprocess.run([BIN, "clusters", "--token", TOKEN], capture_output=True, text=True,
                       env=env, timeout=10)
    check(r.returncode == 0 and "alpha" in r.stdout and "Ready" in r.stdout
          and "Unreachable" in r.stdout, "clusters table:\n" + r.stdout + r.stderr)
    r = subprocess.run([BIN, "clusters", "--token", TOKEN, "-o", "wide"], capture_output=True,
                       text=True, env=env, timeout=10)
    check(r.returncode == 0 and "v1/pods" in r.stdout and "Watching" in r.stdout,
          "clusters -o wide:\n" + r.stdout)
    r = subprocess.run([BIN, "clusters", "--token", TOKEN, "-o", "json"], capture_output=True,
                       text=True, env=env, timeout=10)
    check(r.returncode == 0 and json.loads(r.stdout)["clusters"][0]["name"] == "alpha",
          "clusters -o json")
    r = subprocess.run([BIN, "clusters"], capture_output=True, text=True, env=env, timeout=10)
    check(r.returncode == 1 and "Unauthorized" in r.stderr and "--token" in r.stderr,
          "clusters without token fails and says how: " + r.stderr)
    # a kubectl kubeconfig for the search API: its server path is dropped
    kc = os.path.join(d, "flotilla.kc")
    with open(kc, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n"
                "  cluster: {server: \"http://127.0.0.1:%d/apis/clusterpedia.io/v1beta1/"
                "resources\"}\nusers:\n- name: u\n  user: {token: %s}\ncontexts:\n"
                "- name: c\n  context: {cluster: c, user: u}\n" % (port, TOKEN))
    noenv = {k: v for k, v in os.environ.items() if not k.startswith("FLOTILLA_")}
    r = subprocess.run([BIN, "clusters", "--kubeconfig", kc], capture_output=True, text=True,
                       env=noenv, timeout=10)
    check(r.returncode == 0 and "alpha" in r.stdout, "clusters --kubeconfig: " + r.stdout + r.stderr)
    r = subprocess.run([BIN, "clusters", "--kubeconfig", kc, "--token", "wrong"],
                       capture_output=True, text=True, env=noenv, timeout=10)
    check(r.returncode == 1 and "401" in r.stderr, "--token overrides the kubeconfig's")
    r = subprocess.run([BIN, "clusters"], capture_output=True, text=True,
                       env=dict(env, FLOTILLA_TOKEN=TOKEN), timeout=10)
    check(r.returncode == 0 and "alpha" in r.stdout, "clusters with $FLOTILLA_TOKEN")

    # SIGKILL; changes while down are replayed to the restarted daemon,
    # which resumes its watches from the stored resourceVersions (no relist).
    s.kill()
    s.wait()
    control(pa, "upsert", {"resource": "pods", "namespace": "default", "name": "w1"})
    control(pa, "delete", {"resource": "pods", "namespace": "default", "name": "pod-2"})
    s = start_serve(cfg, port, data)
    check(wait(lambda: get(port, "/readyz", None)[0] == 200, 10), "/readyz after restart")
    check(wait(lambda: objects(port, "alpha", "pods") == 4, 5), "resumed after SIGKILL")

    def relists():
        code, body = get(port, "/api/v1/clusters/alpha")
        rs = [r for r in json.loads(body)["resources"] if r["resource"] == "pods"] if code == 200 else []
        return rs[0]["relists"] if rs else -1
    check(relists() == 0, "restart resumed the watch, no relist (relists=%d)" % relists())

    # SIGKILL; meanwhile a pod vanishes without an event and history is
    # compacted: the resumed watch gets 410, the relist converges.
    s.kill()
    s.wait()
    control(pa, "vanish", {"resource": "pods", "namespace": "default", "name": "pod-1"})
    control(pa, "upsert", {"resource": "pods", "namespace": "default", "name": "while-down"})
    control(pa, "compact", {})
    s = start_serve(cfg, port, data)
    check(wait(lambda: get(port, "/readyz", None)[0] == 200, 10), "/readyz after restart")
    check(wait(lambda: objects(port, "alpha", "pods") == 4, 5), "converged after SIGKILL")
    check(relists() == 1, "410 after restart relisted once (relists=%d)" % relists())

    s.send_signal(signal.SIGTERM)
    try:
        rc = s.wait(timeout=10)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, "SIGTERM drains and exits 0 (got %r)" % rc)
    err = s.stderr.read()
    check("draining" in err and "stopped" in err, "drain logged")
    check(err.count("cluster dead: Unreachable") == 1, "dead cluster logged once:\n" + err)


CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
CR = """apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: c1, namespace: default}
spec: {x: 1}
"""


def raw(port, path, token=None):
    """(status, body, headers) of GET path."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)
    except OSError:
        return 0, b"", {}


def test_auth_modes(d):
    """/api/v1/clusters authenticates like the search API: without a tokens
    file nobody gets in (401 Status) unless anonymousLoopback; health
    endpoints stay open, with kube-apiserver's headers."""
    dd = os.path.join(d, "auth")
    os.mkdir(dd)
    for anon in (False, True):
        cfg = os.path.join(dd, "f%d.yaml" % anon)
        with open(cfg, "w") as f:
            f.write("listen: 127.0.0.1:1\n%s"
                    "members:\n- {name: dead, kubeconfig: %s}\n"
                    "sync:\n  resources:\n  - {version: v1, resources: [pods]}\n"
                    % ("auth: {anonymousLoopback: true}\n" if anon else "",
                       kubeconfig(dd, "dead", free_port())))
        port = free_port()
        s = start_serve(cfg, port, os.path.join(dd, "data%d" % anon))
        check(wait(lambda: get(port, "/healthz", None)[0] == 200, 10), "healthz up")
        code, body, hdr = raw(port, "/healthz")
        check(code == 200 and body == b"ok" and hdr.get("X-Content-Type-Options") == "nosniff",
              "/healthz: %s %s %s" % (code, body, hdr))
        code, body, hdr = raw(port, "/livez?verbose")
        check(code == 200 and b"livez check passed" in body, "/livez?verbose: %s" % body)
        code, body, hdr = raw(port, "/readyz?verbose")
        check(code in (200, 503) and b"readyz check" in body, "/readyz?verbose: %s" % body)
        code, body, hdr = raw(port, "/api/v1/clusters")
        if anon:
            check(code == 200 and b"dead" in body, "anonymousLoopback: clusters open: %s" % code)
        else:
            check(code == 401 and json.loads(body).get("kind") == "Status",
                  "no tokens file, no anonymousLoopback: 401 Status (got %s)" % code)
            code, _, _ = raw(port, "/api/v1/clusters/dead", "anything")
            check(code == 401, "any token: 401 (got %s)" % code)
        s.send_signal(signal.SIGTERM)
        check(s.wait(timeout=20) == 0, "drains")


def test_sim_kubectl(d):
    """Against real sim clusters (TLS): what kubectl creates, updates and
    deletes shows up in the index within a second."""
    if not shutil.which("kubectl"):
        print("kubectl not on PATH: sim part skipped", file=sys.stderr)
        return
    sd = os.path.join(d, "sim")
    os.mkdir(sd)
    cfg = os.path.join(sd, "flotilla.yaml")
    sim = subprocess.Popen([BIN, "sim", "--tls", "--clusters", "2", "--kubeconfig-dir",
                            os.path.join(sd, "kc"), "--write-config", cfg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(sim)
    t0 = time.time()
    for line in sim.stdout:
        if line.startswith("ready") or time.time() - t0 > 20:
            break
    check(os.path.exists(cfg), "sim wrote its config")
    if not os.path.exists(cfg):
        return
    token = open(os.path.join(sd, "tokens.csv")).read().split(",")[0]
    with open(cfg, "a") as f:  # a CRD group, and no periodic rediscovery to hide behind
        f.write("  - {group: stable.example.com, version: v1, resources: [\"*\"]}\n"
                "  discoveryInterval: 10m\n")
    port = free_port()
    s = start_serve(cfg, port, os.path.join(sd, "data"))

    def cms():
        code, body = get(port, "/api/v1/clusters/east-1", token)
        if code != 200:
            return -1
        return sum(r.get("objects", 0) for r in json.loads(body)["resources"]
                   if r["resource"] == "configmaps")
    check(wait(lambda: get(port, "/readyz", None)[0] == 200, 15), "sim fleet synced")
    base = cms()
    kc = ["kubectl", "--kubeconfig", os.path.join(sd, "kc", "east-1.kubeconfig")]
    r = subprocess.run(kc + ["create", "configmap", "flotilla-e2e", "--from-literal=a=b"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "kubectl create: " + r.stderr)
    check(wait(lambda: cms() == base + 1, 1.0), "kubectl-created configmap indexed within 1s")
    r = subprocess.run(kc + ["delete", "configmap", "flotilla-e2e"], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0, "kubectl delete: " + r.stderr)
    check(wait(lambda: cms() == base, 1.0), "kubectl-deleted configmap gone within 1s")

    # a CRD appears: the CRD watch re-runs discovery, "*" picks it up
    r = subprocess.run(kc + ["apply", "-f", "-"], input=CRD, capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0, "kubectl apply CRD: " + r.stderr)
    time.sleep(0.5)
    r = subprocess.run(kc + ["apply", "-f", "-"], input=CR, capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0, "kubectl apply CronTab: " + r.stderr)

    def crontabs():
        code, body = get(port, "/api/v1/clusters/east-1", token)
        rs = [x for x in json.loads(body)["resources"] if x["resource"] == "crontabs"] \
            if code == 200 else []
        return rs and rs[0]["phase"] == "Watching" and rs[0].get("objects") == 1
    check(wait(crontabs, 5), "CRD discovered through the CRD watch, its object indexed")
    s.send_signal(signal.SIGTERM)
    check(s.wait(timeout=10) == 0, "serve on the sim drains")
    sim.send_signal(signal.SIGTERM)
    try:
        sim.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sim.kill()


def main():
    d = tempfile.mkdtemp(prefix="fl-test-serve-")
    try:
        test_config_errors(d)
        test_daemon(d)
        test_auth_modes(d)
        test_sim_kubectl(d)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)
    print("%d FAILS" % len(FAILS), file=sys.stderr)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
