#!/usr/bin/python3
"""tests/cmd/test_control.py: the daemon's own control-plane API (no host:
in flotilla.yaml) end to end, with the real binary, real kubectl and a real
control.db:
  * kubectl with dataDir/flotilla.kubeconfig: apply twice (unchanged), apply
    a change (strategic merge), scale, edit via patch, delete --wait, watch,
    explain; the host objects (KarmadaQuota) reach quota/ through it;
  * roles from token groups: admin, edit (scoped namespaces), view, none,
    with kube-apiserver's Forbidden wording; a bad token is 401;
  * kill -9 during a write storm, N rounds: every acknowledged create is
    there after restart with its resourceVersion, nothing half-written;
  * after kill -9, a watch from a resourceVersion handed out before it
    (raw, and `kubectl get --raw`) replays every later event with its own
    type, in order;
  * `flotilla backup` while serving, `flotilla restore` into a fresh data
    dir: same objects and resourceVersions;
  * a corrupt control.db: serve refuses to start, naming the file.
Needs FLOTILLA_BIN (tests/meson.build). KILL_ROUNDS overrides 20.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import (check, control_up, done, free_port, http_json, kubectl,  # noqa: E402
                     start_sim, stop_procs, wait)

BIN = os.environ["FLOTILLA_BIN"]
ROUNDS = int(os.environ.get("KILL_ROUNDS", "20"))
procs = []
TOKENS = {"admin-tok": ("alice", "admin"), "edit-tok": ("bob", "edit"),
          "view-tok": ("carol", "view"), "none-tok": ("dave", "people")}


def write_config(d, data_dir, port):
    src = open(os.path.join(d, "flotilla.yaml")).read()
    lines = []
    for line in src.splitlines():
        if line.startswith("listen:"):
            line = "listen: 127.0.0.1:%d" % port
        elif line.startswith("dataDir:"):
            line = "dataDir: %s\nmaxRequestBytes: 1048576" % data_dir
        elif line.startswith("  tokensFile:"):
            line = "  tokensFile: roles.csv\n  scopes:\n  - {group: edit, clusters: [\"*\"], " \
                   "namespaces: [team-a], resources: [\"*\"]}\n" \
                   "  - {group: admin, clusters: [\"*\"], namespaces: [\"*\"], resources: [\"*\"]}\n" \
                   "  - {group: view, clusters: [\"*\"], namespaces: [\"*\"], resources: [\"*\"]}"
        lines.append(line)
    path = os.path.join(d, "ctl-%d.yaml" % port)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "roles.csv"), "w") as f:
        for tok, (user, group) in TOKENS.items():
            f.write('%s,%s,"%s"\n' % (tok, user, group))
    return path


LOGS = []


def serve(cfg):
    log = open(cfg + ".%d.log" % len(LOGS), "w")
    LOGS.append(log.name)
    p = subprocess.Popen([BIN, "serve", "-c", cfg], stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    procs.append(p)
    return p


def daemon_log():
    """The last daemon's log tail, for a failure message."""
    try:
        return open(LOGS[-1]).read()[-1500:]
    except (OSError, IndexError):
        return ""


def req(port, method, path, body=None, token="admin-tok", ctype="application/json"):
    return http_json(port, method, path, body, token, ctype)


def up(port):
    return control_up(port, "admin-tok")


def cm(name, ns="default", payload="x"):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": {"v": payload}}


def test_kubectl(d, port, data_dir):
    kc = os.path.join(data_dir, "flotilla.kubeconfig")
    check(os.path.exists(kc), "serve wrote dataDir/flotilla.kubeconfig")
    check("token:" in open(kc).read(), "the kubeconfig carries the admin token")
    dep = os.path.join(d, "dep.yaml")
    with open(dep, "w") as f:
        f.write("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n"
                "spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n"
                "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
                "      - {name: web, image: nginx:1.25}\n")
    rc, out, err = kubectl(kc, "apply", "-f", dep)
    check(rc == 0 and "created" in out, "kubectl apply creates: %s %s" % (out, err))
    rc, out, err = kubectl(kc, "apply", "-f", dep)
    check(rc == 0 and "unchanged" in out, "kubectl apply again: unchanged: %s %s" % (out, err))
    with open(dep, "a") as f:
        pass
    text = open(dep).read().replace("image: nginx:1.25}", "image: nginx:1.26}\n      - {name: side, image: busybox}")
    with open(dep, "w") as f:
        f.write(text)
    rc, out, err = kubectl(kc, "apply", "-f", dep)
    check(rc == 0 and "configured" in out, "kubectl apply a change: configured: %s %s" % (out, err))
    rc, out, _ = kubectl(kc, "get", "deploy", "web", "-o",
                         "jsonpath={.spec.template.spec.containers[*].image}")
    check(out == "nginx:1.26 busybox", "strategic merge by container name: %r" % out)
    rc, out, err = kubectl(kc, "scale", "deploy", "web", "--replicas=5")
    check(rc == 0, "kubectl scale: %s" % err)
    rc, out, _ = kubectl(kc, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}")
    check(out == "5", "scaled to 5: %r" % out)
    rc, out, _ = kubectl(kc, "get", "pods", "-A", "-o", "name")
    check(rc == 0 and out.strip() == "", "no controllers: a Deployment is a template (%r)" % out)
    # kubectl edit, with an editor that changes the replicas in the file it is given
    env = dict(os.environ, KUBE_EDITOR="sed -i -e 's/replicas: 5/replicas: 4/'")
    p = subprocess.run(["kubectl", "--kubeconfig", kc, "edit", "deploy", "web"], env=env,
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and "edited" in p.stdout, "kubectl edit: %s %s" % (p.stdout, p.stderr))
    rc, out, _ = kubectl(kc, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}")
    check(out == "4", "edited to 4: %r" % out)
    rc, out, err = kubectl(kc, "describe", "deploy", "web")
    check(rc == 0 and "Replicas:" in out and "nginx:1.26" in out, "kubectl describe: %s %s" %
          (out[:300], err))
    # bad input: a stale resourceVersion, an unknown field under Strict, an oversized body
    code, cur = req(port, "GET", "/apis/apps/v1/namespaces/default/deployments/web")
    stale = dict(cur, metadata=dict(cur["metadata"], resourceVersion="1"))
    code, st = req(port, "PUT", "/apis/apps/v1/namespaces/default/deployments/web", stale)
    check(code == 409 and st.get("reason") == "Conflict", "stale resourceVersion: 409 %s" % code)
    bad = dict(cur, spec=dict(cur["spec"], bogus=1))
    code, st = req(port, "PUT", "/apis/apps/v1/namespaces/default/deployments/web?"
                   "fieldValidation=Strict", bad)
    check(code == 400 and 'unknown field "spec.bogus"' in st.get("message", ""),
          "unknown field under Strict: 400 %s %s" % (code, st))
    # (the answer comes before the body is read: announce 2 MiB, under the
    # 3 MiB default but over the config's maxRequestBytes, and send none)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sk:
        sk.sendall(b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
                   b"Authorization: Bearer admin-tok\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n" % (2 << 20))
        answer = b""
        while b"1048576" not in answer:
            chunk = sk.recv(4096)
            if not chunk:
                break
            answer += chunk
        status = answer.split(b"\r\n")[0]
    check(b" 413 " in status and b"1048576" in answer,
          "a body over maxRequestBytes: 413 naming the limit (%r)" % answer[:300])
    rc, out, err = kubectl(kc, "patch", "deploy", "web", "-p",
                           '{"metadata":{"labels":{"tier":"front"}}}')
    check(rc == 0, "kubectl patch (what edit sends): %s" % err)
    rc, out, _ = kubectl(kc, "get", "deploy", "web", "-o", "jsonpath={.metadata.labels.tier}")
    check(out == "front", "patched label: %r" % out)
    # watch: a second process sees the change
    w = subprocess.Popen(["kubectl", "--kubeconfig", kc, "get", "cm", "-w", "--no-headers",
                          "--output-watch-events"], stdout=subprocess.PIPE, text=True)
    time.sleep(3)
    req(port, "POST", "/api/v1/namespaces/default/configmaps", cm("watched"))
    seen = []

    def reader():
        for line in w.stdout:
            seen.append(line)
            if "watched" in line:
                return
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(20)
    w.kill()
    w.wait()
    check(any("ADDED" in s and "watched" in s for s in seen), "kubectl get -w saw ADDED: %r" % seen)
    rc, out, err = kubectl(kc, "delete", "deploy", "web", "--wait")
    check(rc == 0 and "deleted" in out, "kubectl delete --wait: %s %s" % (out, err))
    rc, out, err = kubectl(kc, "get", "deploy", "web")
    check(rc != 0 and "NotFound" in err, "gone after delete: %s" % err)
    rc, out, err = kubectl(kc, "explain", "deployment.spec.replicas")
    check(rc == 0 and "replicas" in out and "Number of desired pods" in out,
          "kubectl explain prints upstream's field description: %s %s" % (out[:300], err))
    rc, out, err = kubectl(kc, "explain", "deployment.spec")
    check(rc == 0 and "DeploymentSpec is the specification" in out and
          "minReadySeconds" in out, "kubectl explain deployment.spec: %s %s" % (out[:300], err))
    rc, out, err = kubectl(kc, "explain", "propagationpolicies")
    check(rc == 0 and "PropagationPolicy" in out, "kubectl explain a Karmada kind: %s" % err)
    for path, want in [("propagationpolicy.spec.placement", ["clusterAffinity", "replicaScheduling",
                                                              "Where the selected resources go"]),
                       ("propagationpolicy.spec.placement.replicaScheduling.weightPreference",
                        ["staticWeightList", "dynamicWeight"]),
                       ("clusterpropagationpolicy.spec.resourceSelectors", ["apiVersion",
                                                                            "labelSelector"]),
                       ("overridepolicy.spec.overrideRules.overriders", ["imageOverrider",
                                                                         "plaintext"]),
                       ("federatedresourcequota.spec", ["overall", "staticAssignments"]),
                       ("federatedresourcequota.status", ["overallUsed", "aggregatedStatus"]),
                       ("karmadaquota.spec", ["hard", "scopeSelector"]),
                       ("resourcebinding.spec.clusters", ["replicas", "The scheduling result"]),
                       ("clusterresourcebinding.status", ["aggregatedStatus", "conditions"]),
                       ("cluster.spec", ["apiEndpoint", "taints"])]:
        rc, out, err = kubectl(kc, "explain", path)
        check(rc == 0 and all(w in out for w in want),
              "kubectl explain %s shows %s: %s %s" % (path, want, out[:400], err))
    pp = os.path.join(d, "pp.yaml")
    with open(pp, "w") as f:
        f.write("apiVersion: policy.karmada.io/v1alpha1\nkind: PropagationPolicy\nmetadata:\n"
                "  name: web\n  namespace: default\nspec:\n  resourceSelectors:\n"
                "  - {apiVersion: apps/v1, kind: Deployment, name: web}\n"
                "  placement:\n    clusterAffinity: {clusterNames: [east-1]}\n"
                "    futureField: {kept: true}\n  futureSpecField: 7\n")
    rc, out, err = kubectl(kc, "apply", "-f", pp)
    check(rc == 0 and "created" in out, "apply a PropagationPolicy: %s %s" % (out, err))
    code, got = req(port, "GET", "/apis/policy.karmada.io/v1alpha1/namespaces/default/"
                    "propagationpolicies/web")
    spec = got.get("spec", {}) if code == 200 else {}
    check(spec.get("placement", {}).get("clusterAffinity") == {"clusterNames": ["east-1"]} and
          spec.get("placement", {}).get("futureField") == {"kept": True} and
          spec.get("futureSpecField") == 7,
          "pruning keeps the declared and the undeclared fields a user wrote: %r" % spec)
    # /openapi/v2: JSON with every served kind's definition; protobuf alone is 406
    code, v2 = req(port, "GET", "/openapi/v2")
    defs = v2.get("definitions", {}) if code == 200 else {}
    check(code == 200 and v2.get("swagger") == "2.0" and
          "io.k8s.api.apps.v1.Deployment" in defs and
          any(k.endswith("policy.v1alpha1.PropagationPolicy") for k in defs) and
          "#/definitions/" in json.dumps(defs["io.k8s.api.apps.v1.Deployment"]),
          "/openapi/v2 as JSON: %s %s" % (code, sorted(defs)[:5]))
    r = urllib.request.Request("http://127.0.0.1:%d/openapi/v2" % port)
    r.add_header("Authorization", "Bearer admin-tok")
    r.add_header("Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    try:
        urllib.request.urlopen(r, timeout=30)
        code = 200
    except urllib.error.HTTPError as e:
        code = e.code
    check(code == 406, "/openapi/v2 in protobuf only: 406 (%s)" % code)
    # a KarmadaQuota applied here reaches quota/ (the host collector reads our own API)
    kq = os.path.join(d, "kq.yaml")
    with open(kq, "w") as f:
        f.write("apiVersion: quota.flotilla.io/v1alpha1\nkind: KarmadaQuota\nmetadata:\n"
                "  name: q1\n  namespace: default\nspec:\n  hard: {pods: \"10\"}\n")
    rc, out, err = kubectl(kc, "apply", "-f", kq)
    check(rc == 0, "apply a KarmadaQuota: %s %s" % (out, err))
    ok = wait(lambda: "q1" in json.dumps(req(port, "GET", "/api/v1/quota")[1]), 90, 0.5)
    check(ok, "quota/ sees the KarmadaQuota applied to the daemon's own API: %s" %
          json.dumps(req(port, "GET", "/api/v1/quota")[1])[:300])


def test_roles(port):
    code, st = req(port, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": "team-a"}})
    check(code == 201, "admin creates a namespace: %s %s" % (code, st))
    req(port, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "team-b"}})
    code, st = req(port, "POST", "/api/v1/namespaces/team-a/configmaps", cm("e1", "team-a"),
                   token="edit-tok")
    check(code == 201, "edit writes in its scoped namespace: %s %s" % (code, st))
    code, st = req(port, "POST", "/api/v1/namespaces/team-b/configmaps", cm("e2", "team-b"),
                   token="edit-tok")
    check(code == 403 and st.get("reason") == "Forbidden" and st.get("message") ==
          'configmaps is forbidden: User "bob" cannot create resource "configmaps" in API group '
          '"" in the namespace "team-b"', "edit elsewhere: Forbidden wording: %s %s" % (code, st))
    code, st = req(port, "DELETE", "/api/v1/namespaces/team-a", token="edit-tok")
    check(code == 403 and st.get("message") == 'namespaces "team-a" is forbidden: User "bob" '
          'cannot delete resource "namespaces" in API group "" at the cluster scope',
          "edit cannot touch cluster-scoped objects: %s" % st)
    code, st = req(port, "GET", "/api/v1/namespaces/team-b/configmaps", token="view-tok")
    check(code == 200, "view lists: %s" % code)
    code, st = req(port, "GET", "/api/v1/namespaces/team-b/secrets", token="view-tok")
    check(code == 403, "view does not read Secrets: %s" % code)
    code, st = req(port, "PATCH", "/apis/apps/v1/namespaces/default/deployments/x", {},
                   token="view-tok", ctype="application/merge-patch+json")
    check(code == 403 and 'User "carol" cannot patch resource "deployments" in API group "apps" '
          'in the namespace "default"' in st.get("message", ""), "view cannot patch: %s" % st)
    code, st = req(port, "GET", "/api/v1/namespaces", token="none-tok")
    check(code == 403 and st.get("message") == 'namespaces is forbidden: User "dave" cannot list '
          'resource "namespaces" in API group "" at the cluster scope', "no role: 403: %s" % st)
    code, st = req(port, "GET", "/api/v1/namespaces", token="wrong")
    check(code == 401, "bad token: 401 (%s)" % code)
    code, st = req(port, "GET", "/apis", token="view-tok")
    check(code == 200 and "policy.karmada.io" in json.dumps(st), "discovery for any user")


def storm(port, prefix, stop, acked, lock):
    i = 0
    while not stop.is_set():
        name = "%s-%d" % (prefix, i)
        i += 1
        try:
            code, body = req(port, "POST", "/api/v1/namespaces/default/configmaps",
                             cm(name, payload=name * 20))
        except Exception:  # the daemon died under us: unacknowledged
            return
        if code == 201:
            with lock:
                acked[name] = body["metadata"]["resourceVersion"]


def test_kill9(d, cfg, port):
    total = 0
    for rnd in range(ROUNDS):
        p = serve(cfg)
        if not wait(lambda: up(port), 60, 0.1):
            check(False, "round %d: daemon up: %s" % (rnd, daemon_log()))
            return
        stop, acked, lock = threading.Event(), {}, threading.Lock()
        ts = [threading.Thread(target=storm, args=(port, "r%d-t%d" % (rnd, k), stop, acked, lock),
                               daemon=True) for k in range(4)]
        for t in ts:
            t.start()
        time.sleep(random.uniform(0.3, 1.2))
        p.send_signal(signal.SIGKILL)
        p.wait()
        stop.set()
        for t in ts:
            t.join(10)
        p = serve(cfg)
        if not wait(lambda: up(port), 60, 0.1):
            check(False, "round %d: restart: %s" % (rnd, daemon_log()))
            return
        code, lst = req(port, "GET", "/api/v1/namespaces/default/configmaps")
        have = {o["metadata"]["name"]: o for o in lst["items"]}
        missing = [n for n in acked if n not in have]
        wrong_rv = [n for n in acked if n in have and
                    have[n]["metadata"]["resourceVersion"] != acked[n]]
        half = [n for n, o in have.items() if n.startswith("r%d-" % rnd) and
                o.get("data", {}).get("v") != n * 20]
        check(not missing, "round %d: every acknowledged write survived kill -9 (%d acked, "
              "missing %s)" % (rnd, len(acked), missing[:5]))
        check(not wrong_rv, "round %d: same resourceVersions after restart: %s" % (rnd, wrong_rv[:5]))
        check(not half, "round %d: nothing half-written: %s" % (rnd, half[:5]))
        total += len(acked)
        p.send_signal(signal.SIGKILL)
        p.wait()
    print("kill -9 rounds: %d, acknowledged creates checked: %d" % (ROUNDS, total))


def raw_watch(port, path, seconds=3):
    """The event lines a watch answers until its timeoutSeconds."""
    url = "http://127.0.0.1:%d%s&timeoutSeconds=%d" % (port, path, seconds)
    r = urllib.request.Request(url)
    r.add_header("Authorization", "Bearer admin-tok")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, [json.loads(line) for line in resp.read().splitlines() if line]
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_watch_resume(cfg, port, data_dir):
    p = serve(cfg)
    check(wait(lambda: up(port), 60, 0.1), "daemon up for the watch resume")
    code, lst = req(port, "GET", "/api/v1/namespaces/default/configmaps?limit=1")
    rv0 = lst["metadata"]["resourceVersion"]
    req(port, "POST", "/api/v1/namespaces/default/configmaps", cm("resume-a"))
    req(port, "POST", "/api/v1/namespaces/default/configmaps", cm("resume-b"))
    req(port, "PUT", "/api/v1/namespaces/default/configmaps/resume-a", cm("resume-a", payload="y"))
    code, _ = req(port, "DELETE", "/api/v1/namespaces/default/configmaps/resume-b")
    check(code == 200, "delete before the kill: %s" % code)
    p.send_signal(signal.SIGKILL)
    p.wait()
    procs.remove(p)
    p = serve(cfg)
    check(wait(lambda: up(port), 60, 0.1), "restart after kill -9")
    code, evs = raw_watch(port, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=%s"
                          % rv0)
    got = [(e["type"], e["object"]["metadata"]["name"]) for e in evs if e["type"] != "BOOKMARK"]
    want = [("ADDED", "resume-a"), ("ADDED", "resume-b"), ("MODIFIED", "resume-a"),
            ("DELETED", "resume-b")]
    check(code == 200 and got == want,
          "a watch from rv %s (before kill -9) replays each event: %s %r" % (rv0, code, got))
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    check(rvs == sorted(rvs) and len(set(rvs)) == len(rvs), "in resourceVersion order: %r" % rvs)
    kc = os.path.join(data_dir, "flotilla.kubeconfig")
    rc, out, err = kubectl(kc, "get", "--raw", "/api/v1/namespaces/default/configmaps?watch=1&"
                           "resourceVersion=%s&timeoutSeconds=2" % rv0)
    kevs = [json.loads(x) for x in out.splitlines() if x.strip()] if rc == 0 else []
    kgot = [(e["type"], e["object"]["metadata"]["name"]) for e in kevs if e["type"] != "BOOKMARK"]
    check(rc == 0 and kgot == want, "kubectl get --raw watch from rv %s: %s %r" % (rv0, err, kgot))
    code, body = raw_watch(port, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1"
                           "&fieldSelector=metadata.name%3Dresume-a")
    check(code == 200, "a watch from rv 1 (inside the bounded history) is served: %s" % code)
    # a list at the pre-restart resourceVersion is that snapshot
    code, old = req(port, "GET", "/api/v1/namespaces/default/configmaps?resourceVersion=%s"
                    "&resourceVersionMatch=Exact" % rv0)
    names = [o["metadata"]["name"] for o in old.get("items", [])] if code == 200 else []
    check(code == 200 and "resume-a" not in names, "list at rv %s after restart: %s" % (rv0, code))
    stop_procs([p])
    procs.remove(p)


def test_backup_restore(d, cfg, port, data_dir):
    p = serve(cfg)
    check(wait(lambda: up(port), 60, 0.1), "daemon up for backup")
    code, before = req(port, "GET", "/api/v1/namespaces/default/configmaps")
    bak = os.path.join(d, "control.bak")
    r = subprocess.run([BIN, "backup", "-c", cfg, bak], capture_output=True, text=True)
    check(r.returncode == 0 and os.path.exists(bak), "flotilla backup online: %s" % r.stderr)
    stop_procs([p])
    procs.remove(p)
    fresh = os.path.join(d, "fresh-data")
    port2 = free_port()
    cfg2 = write_config(d, fresh, port2)
    r = subprocess.run([BIN, "restore", "-c", cfg2, bak], capture_output=True, text=True)
    check(r.returncode == 0, "flotilla restore into a fresh data dir: %s" % r.stderr)
    r = subprocess.run([BIN, "restore", "-c", cfg2, bak], capture_output=True, text=True)
    check(r.returncode != 0 and "exists" in r.stderr, "restore refuses to overwrite: %s" % r.stderr)
    p = serve(cfg2)
    check(wait(lambda: up(port2), 60, 0.1), "daemon up on the restored data dir")
    code, after = req(port2, "GET", "/api/v1/namespaces/default/configmaps")
    b = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in before["items"]}
    a = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in after["items"]}
    check(b == a and len(a) > 0, "restored: same objects and resourceVersions (%d)" % len(a))
    check(after["metadata"]["resourceVersion"] >= before["metadata"]["resourceVersion"] or
          int(after["metadata"]["resourceVersion"]) >= int(before["metadata"]["resourceVersion"]),
          "the restored counter does not go back")
    stop_procs([p])
    procs.remove(p)


def test_corrupt(d, port):
    bad = os.path.join(d, "bad-data")
    os.makedirs(bad)
    with open(os.path.join(bad, "control.db"), "w") as f:
        f.write("not a database " * 300)
    cfg = write_config(d, bad, port)
    r = subprocess.run([BIN, "serve", "-c", cfg], capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "control.db" in r.stderr and "not a database" in r.stderr,
          "corrupt control.db: refused naming the file: %r" % r.stderr)
    check(open(os.path.join(bad, "control.db")).read().startswith("not a database"),
          "and left as it was")


def main():
    d = tempfile.mkdtemp(prefix="fl-control-")
    try:
        sim, _ = start_sim(BIN, d, "--clusters", "1")
        procs.append(sim)
        port = free_port()
        data_dir = os.path.join(d, "data")
        cfg = write_config(d, data_dir, port)
        p = serve(cfg)
        check(wait(lambda: up(port), 60, 0.1), "daemon serves its control-plane API: " +
              daemon_log())
        test_kubectl(d, port, data_dir)
        test_roles(port)
        stop_procs([p])
        check(p.returncode == 0, "drains on SIGTERM: %s %s" % (p.returncode, daemon_log()))
        procs.remove(p)
        test_kill9(d, cfg, port)
        test_watch_resume(cfg, port, data_dir)
        test_backup_restore(d, cfg, port, data_dir)
        test_corrupt(d, free_port())
    finally:
        stop_procs(procs)
        shutil.rmtree(d, ignore_errors=True)
    done()


if __name__ == "__main__":
    main()
