#!/usr/bin/python3
"""tests/sim/test_api_more.py: the parts of the sim's API added after the
first cut, against a plain-http cluster with no controllers: kubectl over
http (it sends no token there, and a loopback http sim serves it as
admin; a wrong token is still 401), deletecollection (selectors, dryRun,
the list it answers, 405 where the verb is not served), the deprecated
/watch/ paths, ListOptions validation (resourceVersionMatch,
sendInitialEvents: 422 with causes), sendInitialEvents=false,
fieldValidation Strict/Warn/Ignore against the served schemas, spec
validation (422 with every cause), and a LIST
at a future resourceVersion waiting ~3 s before its 504 (as the watch
cache does), with kubectl's `delete --raw` and `get --raw` where kubectl
can reach a feature."""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest import Sim, check, done  # noqa: E402

sim = Sim("--clusters", "1", "--no-controllers")
A = "east-1"
CM = "/api/v1/namespaces/default/configmaps"
HAVE_KUBECTL = shutil.which("kubectl") is not None


def kubectl_run(*args, timeout=30):
    env = dict(os.environ, HOME=sim.dir, KUBECONFIG=sim.kubeconfig(A))
    return subprocess.run(["kubectl", "--cache-dir", os.path.join(sim.dir, "kc")] + list(args),
                          env=env, text=True, capture_output=True, timeout=timeout)


def kubectl(*args, timeout=30):
    p = kubectl_run(*args, timeout=timeout)
    check(p.returncode == 0, "kubectl %s -> rc %d: %s" % (" ".join(args), p.returncode,
                                                          p.stderr[-600:]))
    return p.stdout


def manifest(name, text):
    path = os.path.join(sim.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def cm(name, **labels):
    st, _, _ = sim.req(A, CM, "POST", {"apiVersion": "v1", "kind": "ConfigMap",
                                       "metadata": {"name": name, "labels": labels},
                                       "data": {"k": name}})
    check(st == 201, "create %s (%s)" % (name, st))


def names(body):
    return sorted(i["metadata"]["name"] for i in body["items"])


def rv_now():
    return int(sim.req(A, CM)[2]["metadata"]["resourceVersion"])


# ---- auth over plain http on loopback: no token = admin, wrong token = 401
st, h, body = sim.req(A, CM, token=False)
check(st == 200 and h.get("X-Kubernetes-Pf-Flowschema-Uid"), "http, no token: served (%s)" % st)
st, _, body = sim.req(A, CM, token="not-the-token")
check(st == 401 and body["reason"] == "Unauthorized", "http, wrong token: 401 (%s)" % st)
if HAVE_KUBECTL:
    out = kubectl("get", "ns")
    check("kube-system" in out, "kubectl over plain http:\n" + out)

# ---- deletecollection
for n, g in (("a1", "x"), ("a2", "x"), ("a3", "y"), ("a4", "y")):
    cm(n, grp=g)
st, _, body = sim.req(A, CM + "?labelSelector=grp%3Dx", "DELETE")
check(st == 200 and body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1" and
      names(body) == ["a1", "a2"] and "kind" not in body["items"][0] and
      body["metadata"]["resourceVersion"], "deletecollection answers the deleted list %s" % body)
st, _, body = sim.req(A, CM + "?labelSelector=grp")
check(names(body) == ["a3", "a4"], "deletecollection by label left %s" % names(body))
st, _, body = sim.req(A, CM + "?fieldSelector=metadata.name%3Da3&dryRun=All", "DELETE")
check(st == 200 and names(body) == ["a3"], "dry-run deletecollection answers the list")
check(sim.req(A, CM + "/a3")[0] == 200, "dry-run deletecollection deletes nothing")
st, _, body = sim.req(A, CM + "?dryRun=Some", "DELETE")
check(st == 422 and body["details"]["causes"][0]["field"] == "dryRun", "bad dryRun 422 (%s)" % st)
st, _, body = sim.req(A, CM + "?fieldSelector=data.k%3Da3", "DELETE")
check(st == 400 and "field label not supported" in body["message"], "bad field 400 (%s)" % st)
st, _, body = sim.req(A, "/api/v1/namespaces", "DELETE")
check(st == 405 and body["reason"] == "MethodNotAllowed", "namespaces: no deletecollection (%s)" % st)
for i in range(3):
    sim.req(A, "/api/v1/namespaces/default/pods", "POST",
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dc-%d" % i},
             "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
st, _, body = sim.req(A, "/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DPending",
                      "DELETE")
check(st == 200 and body["kind"] == "PodList" and len(body["items"]) == 3, "pods deletecollection")
check(sim.req(A, "/api/v1/namespaces/default/pods")[2]["items"] == [], "pods gone")
if HAVE_KUBECTL:
    cm("k1", grp="z")
    cm("k2", grp="z")
    out = kubectl("delete", "--raw", CM + "?labelSelector=grp%3Dz")
    check(json.loads(out)["kind"] == "ConfigMapList", "kubectl delete --raw on a collection")
    check(names(sim.req(A, CM + "?labelSelector=grp%3Dz")[2]) == [], "kubectl deletecollection")

# ---- the deprecated watch paths
st, ev = sim.watch(A, "/api/v1/watch/namespaces/default/configmaps?timeoutSeconds=1&labelSelector=grp")
check(st == 200 and sorted(e["object"]["metadata"]["name"] for e in ev) == ["a3", "a4"] and
      all(e["type"] == "ADDED" for e in ev), "legacy namespaced watch %s" % ev)
st, ev = sim.watch(A, "/api/v1/watch/namespaces/default/configmaps/a4?timeoutSeconds=1")
check(st == 200 and [e["object"]["metadata"]["name"] for e in ev] == ["a4"],
      "legacy watch of one object %s" % ev)
st, ev = sim.watch(A, "/api/v1/watch/namespaces?timeoutSeconds=1")
check(len(ev) == 4, "legacy cluster-scoped watch (%d)" % len(ev))
st, ev = sim.watch(A, "/apis/apps/v1/watch/deployments?timeoutSeconds=1")
check(st == 200 and ev == [], "legacy group watch")
st, _, _ = sim.req(A, "/api/v1/watch/namespaces/default/configmaps", "POST", {})
check(st == 405, "legacy watch path takes GET only (%s)" % st)
if HAVE_KUBECTL:
    out = kubectl("get", "--raw", "/api/v1/watch/namespaces/default/configmaps/a3?timeoutSeconds=1")
    check('"name":"a3"' in out and '"a4"' not in out, "kubectl get --raw on a watch path: %r" % out)

# ---- fieldValidation against the served OpenAPI schemas (kubectl sends Strict)
BAD_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad, bogus: 1}\ndata: {a: b}\nextra: 2\n"
BAD_DEP = """apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replicas: 1
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: x, resources: {requests: {cpu: 1}}, bogusField: 1}]
"""
if HAVE_KUBECTL:
    p = kubectl_run("create", "-f", manifest("bad-cm.yaml", BAD_CM))
    check(p.returncode != 0 and 'ConfigMap in version "v1" cannot be handled as a ConfigMap: '
          'strict decoding error: unknown field "extra", unknown field "metadata.bogus"' in p.stderr,
          "kubectl create: strict top-level and metadata fields: %r" % p.stderr)
    p = kubectl_run("apply", "-f", manifest("bad-dep.yaml", BAD_DEP))
    check(p.returncode != 0 and 'unknown field "spec.template.spec.containers[0].bogusField"' in
          p.stderr, "kubectl apply: nested unknown field: %r" % p.stderr)
    p = kubectl_run("create", "--validate=warn", "-f", os.path.join(sim.dir, "bad-dep.yaml"))
    check(p.returncode == 0 and 'Warning: unknown field "spec.template.spec.containers[0].bogusField"'
          in p.stderr, "kubectl --validate=warn: created with a warning: %r" % p.stderr)
st, _, body = sim.req(A, CM + "?fieldValidation=Strict", "POST",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fine"},
                       "data": {"any-key": "v"}, "binaryData": {"b": "AA=="}, "immutable": False})
check(st == 201, "strict: maps with free keys are fine (%s %s)" % (st, body))
st, _, body = sim.req(A, CM + "?fieldValidation=Ignore", "POST",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ign"},
                       "whatever": 1})
check(st == 201, "fieldValidation=Ignore accepts unknown fields (%s)" % st)
st, h, body = sim.req(A, CM, "POST", {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": "dflt", "zzz": 1}, "aaa": 2})
check(st == 201 and h.get_all("Warning") == ['299 - "unknown field \\"aaa\\""',
                                             '299 - "unknown field \\"metadata.zzz\\""'],
      "no fieldValidation = Warn, sorted (%s %r)" % (st, h.get_all("Warning")))
# patches are validated on their result, as upstream's field_validation_test does
st, _, _ = sim.req(A, "/apis/apps/v1/namespaces/default/deployments", "POST", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pt"},
    "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
        "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
check(st == 201, "deployment pt (%s)" % st)
st, _, body = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/pt?fieldValidation=Strict",
                      "PATCH", {"spec": {"unknown1": "v", "template": {"spec": {"containers": [
                          {"name": "c", "image": "x", "unknownNested": 1}]}}}},
                      ctype="application/merge-patch+json")
check(st == 400 and body["message"].endswith(
      'strict decoding error: unknown field "spec.template.spec.containers[0].unknownNested", '
      'unknown field "spec.unknown1"'), "strict merge patch: %s %s" % (st, body))
st, h, body = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/pt", "PATCH",
                      {"spec": {"unknown1": "v"}}, ctype="application/strategic-merge-patch+json")
check(st == 200 and h.get_all("Warning") == ['299 - "unknown field \\"spec.unknown1\\""'],
      "strategic patch warns by default: %s %r" % (st, h.get_all("Warning")))
for n in ("fine", "ign", "dflt"):
    sim.req(A, CM + "/" + n, "DELETE")
sim.req(A, "/apis/apps/v1/namespaces/default/deployments/pt", "DELETE")

# ---- spec validation: 422 Invalid with every cause, as field.ErrorList reports them
INV_DEP = """apiVersion: apps/v1
kind: Deployment
metadata: {name: inv}
spec:
  replicas: -1
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b, tier: x}}
    spec:
      containers: [{name: c, image: x}, {name: c}]
"""
DEPS = "/apis/apps/v1/namespaces/default/deployments"
st, _, body = sim.req(A, DEPS, "POST", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "inv"},
    "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "a"}},
             "template": {"metadata": {"labels": {"app": "b", "tier": "x"}},
                          "spec": {"containers": [{"name": "c", "image": "x"}, {"name": "c"}]}}}})
causes = [(c["field"], c["reason"]) for c in (body.get("details") or {}).get("causes", [])]
check(st == 422 and body["reason"] == "Invalid" and body["details"]["kind"] == "Deployment" and
      body["details"]["group"] == "apps" and causes ==
      [("spec.replicas", "FieldValueInvalid"), ("spec.template.metadata.labels", "FieldValueInvalid"),
       ("spec.template.spec.containers[1].name", "FieldValueDuplicate"),
       ("spec.template.spec.containers[1].image", "FieldValueRequired")] and
      body["message"].startswith('Deployment.apps "inv" is invalid: [spec.replicas: Invalid value: '
                                 '-1: must be greater than or equal to 0, spec.template.metadata.'
                                 'labels: Invalid value: map[string]string{"app":"b", "tier":"x"}: '
                                 '`selector` does not match template `labels`'),
      "invalid deployment: %s %s" % (st, body))
st, _, body = sim.req(A, "/api/v1/namespaces/default/pods", "POST",
                      {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "e"},
                       "spec": {"containers": []}})
check(st == 422 and body["message"] == 'Pod "e" is invalid: spec.containers: Required value',
      "pod without containers: %s %s" % (st, body))
if HAVE_KUBECTL:
    p = kubectl_run("create", "-f", manifest("inv.yaml", INV_DEP))
    check(p.returncode != 0 and 'The Deployment "inv" is invalid:' in p.stderr and
          "* spec.template.spec.containers[1].image: Required value" in p.stderr,
          "kubectl shows every cause: %r" % p.stderr)
    kubectl("create", "deployment", "okdep", "--image=nginx")
    p = kubectl_run("patch", "deploy", "okdep", "--type=json", "-p",
                    '[{"op":"replace","path":"/spec/replicas","value":-2}]')
    check(p.returncode != 0 and "spec.replicas: Invalid value: -2: must be greater than or equal "
          "to 0" in p.stderr, "patch validated too: %r" % p.stderr)
    kubectl("delete", "deploy", "okdep")

# ---- ListOptions validation (422 Invalid with causes)
def invalid(path, field, words):
    st, _, body = sim.req(A, path)
    ok = st == 422 and body["reason"] == "Invalid" and body["details"]["kind"] == "ListOptions" and \
        any(c["field"] == field and words in c["message"] for c in body["details"]["causes"]) and \
        body["message"].startswith('ListOptions.meta.k8s.io "" is invalid: ')
    check(ok, "%s -> 422 %s: %s" % (path, words, body))


invalid(CM + "?sendInitialEvents=true", "sendInitialEvents", "forbidden for list")
invalid(CM + "?watch=true&sendInitialEvents=true", "resourceVersionMatch",
        "requires setting resourceVersionMatch to NotOlderThan")
invalid(CM + "?watch=true&resourceVersionMatch=NotOlderThan", "resourceVersionMatch",
        "forbidden for watch unless sendInitialEvents is provided")
invalid(CM + "?resourceVersion=1&resourceVersionMatch=Newest", "resourceVersionMatch",
        'Unsupported value: "Newest"')
invalid(CM + "?resourceVersion=0&resourceVersionMatch=Exact", "resourceVersionMatch",
        'forbidden for resourceVersion "0"')
st, _, body = sim.req(A, CM + "?resourceVersion=0&resourceVersionMatch=NotOlderThan")
check(st == 200, "NotOlderThan with rv 0 is fine (%s)" % st)

# ---- sendInitialEvents=false: no initial state, only what happens next
def later_write():
    time.sleep(0.3)
    cm("after", grp="w")


th = threading.Thread(target=later_write)
th.start()
st, ev = sim.watch(A, CM + "?watch=true&timeoutSeconds=1&sendInitialEvents=false"
                           "&resourceVersionMatch=NotOlderThan")
th.join()
check(st == 200 and [(e["type"], e["object"]["metadata"]["name"]) for e in ev] ==
      [("ADDED", "after")], "sendInitialEvents=false %s" % ev)

# ---- a LIST at a future resourceVersion waits (up to ~3 s) like the watch cache
cur = rv_now()
th = threading.Thread(target=lambda: (time.sleep(0.5), cm("future", grp="f")))
th.start()
t0 = time.time()
st, _, body = sim.req(A, CM + "?resourceVersion=%d" % (cur + 1))
th.join()
check(st == 200 and "future" in names(body) and 0.3 < time.time() - t0 < 2.5,
      "future rv reached while waiting: 200 after %.1f s (%s)" % (time.time() - t0, st))
t0 = time.time()
st, h, body = sim.req(A, CM + "?resourceVersion=%d" % (cur + 1000))
took = time.time() - t0
check(st == 504 and body["reason"] == "Timeout" and h.get("Retry-After") == "1" and
      body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge" and 2.5 < took < 5,
      "too large rv: 504 after %.1f s, not at once (%s %s)" % (took, st, body))
st, ev = sim.watch(A, CM + "?watch=true&timeoutSeconds=1&resourceVersion=%d" % (rv_now() + 50))
check(st == 200 and ev == [], "watch at a future rv: 200, then nothing %s" % ev)

# ---- custom resources are pruned to their CRD's structural schema, as the
# apiextensions apiserver does (Warn reports, Ignore is silent, Strict refuses)
crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.prune.example.com"},
       "spec": {"group": "prune.example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                    "openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {
                            "size": {"type": "integer"},
                            "parts": {"type": "array", "items": {
                                "type": "object", "properties": {"name": {"type": "string"}}}},
                            "free": {"type": "object",
                                     "x-kubernetes-preserve-unknown-fields": True}}}}}}}]}}
st, _, _ = sim.req(A, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "POST", crd)
check(st == 201, "create CRD widgets (%s)" % st)
W = "/apis/prune.example.com/v1/namespaces/default/widgets"


def widget(name, q=""):
    return sim.req(A, W + q, "POST", {
        "apiVersion": "prune.example.com/v1", "kind": "Widget",
        "metadata": {"name": name, "labels": {"a": "b"}},
        "spec": {"size": 3, "bogus": 1, "parts": [{"name": "x", "extra": True}],
                 "free": {"anything": {"goes": 1}}},
        "status2": "no"})


for _ in range(50):  # the CRD's resource is served at once, but be patient
    st, h, body = widget("w1")
    if st != 404:
        break
    time.sleep(0.1)
warns = sorted(h.get_all("Warning") or [])
check(st == 201 and len(warns) == 3 and all("unknown field" in w for w in warns) and
      any("spec.parts[0].extra" in w for w in warns), "Warn: 201 with 3 warnings %s %s" % (st, warns))
st, _, got = sim.req(A, W + "/w1")
spec = got.get("spec", {}) if st == 200 else {}
check(st == 200 and "bogus" not in spec and "status2" not in got and
      spec.get("parts") == [{"name": "x"}] and spec.get("free") == {"anything": {"goes": 1}} and
      spec.get("size") == 3 and got["metadata"]["labels"] == {"a": "b"},
      "stored pruned (preserve-unknown-fields kept): %s" % got)
st, h, _ = widget("w2", "?fieldValidation=Ignore")
st2, _, got = sim.req(A, W + "/w2")
check(st == 201 and not h.get_all("Warning") and "bogus" not in got.get("spec", {}),
      "Ignore: pruned silently (%s %s)" % (st, got))
st, _, body = widget("w3", "?fieldValidation=Strict")
check(st == 400 and "strict decoding error" in body.get("message", "") and
      'unknown field "spec.bogus"' in body.get("message", ""), "Strict: 400 %s %s" % (st, body))

# ---- built-ins of the core and apps groups drop unknown fields too (Go decoding)
st, h, _ = sim.req(A, CM, "POST", {"apiVersion": "v1", "kind": "ConfigMap", "bogus": 1,
                                   "metadata": {"name": "pruned", "nope": 2},
                                   "data": {"k": "v"}})
warns = sorted(h.get_all("Warning") or [])
st2, _, got = sim.req(A, CM + "/pruned")
check(st == 201 and len(warns) == 2 and st2 == 200 and "bogus" not in got and
      "nope" not in got["metadata"] and got["data"] == {"k": "v"},
      "ConfigMap: unknown fields warned and dropped: %s %s %s" % (st, warns, got))

sim.stop()
done()
