#!/usr/bin/python3
"""tests/sim/test_webhook.py: ValidatingWebhookConfiguration honoured by
`flotilla sim` (controllers on by default): a Python HTTPS webhook (cert from openssl,
caBundle verified) gets a real admission.k8s.io/v1 AdmissionReview at
url?timeout=Ns; allow, deny with message (kube-apiserver's text, no
reason), warnings as Warning headers, timeout with failurePolicy Fail
(500 InternalError) and Ignore, namespaceSelector, a webhook that is
down, a controller-created pod denied -> ReplicaFailure, DELETE reviews
(oldObject, objectSelector, deletecollection), dry run vs sideEffects, and
matchPolicy Equivalent/Exact across the versions of a CRD, and a controller's
scale-down delete denied (ReplicaFailure FailedDelete)."""
import base64
import http.server
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest import Sim, check, done  # noqa: E402

if not shutil.which("openssl"):
    print("openssl not on PATH", file=sys.stderr)
    sys.exit(77)

sim = Sim("--clusters", "1", "--tls")  # controllers run by default
A = "east-1"
NS = "/api/v1/namespaces/default"
D = sim.dir


def sh(*args):
    subprocess.run(list(args), check=True, capture_output=True, cwd=D)


sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "whca.key", "-out",
   "whca.crt", "-days", "2", "-subj", "/CN=webhook-ca")
sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "wh.key", "-out", "wh.csr",
   "-subj", "/CN=127.0.0.1")
with open(os.path.join(D, "ext.cnf"), "w") as f:
    f.write("subjectAltName=IP:127.0.0.1\n")
sh("openssl", "x509", "-req", "-in", "wh.csr", "-CA", "whca.crt", "-CAkey", "whca.key",
   "-CAcreateserial", "-out", "wh.crt", "-days", "2", "-extfile", "ext.cnf")

RECEIVED = []


class Hook(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        rev = json.loads(self.rfile.read(n))
        RECEIVED.append((self.path, dict(self.headers), rev))
        req = rev["request"]
        name = req.get("name", "")
        labels = (req.get("object") or {}).get("metadata", {}).get("labels", {})
        resp = {"uid": req["uid"], "allowed": True}
        if self.path.startswith("/validate/keep"):
            if req["operation"] == "DELETE":
                resp = {"uid": req["uid"], "allowed": False,
                        "status": {"code": 403, "message": "keep pods are precious"}}
        elif self.path.startswith("/validate/configmaps"):
            if req["operation"] == "DELETE":
                resp = {"uid": req["uid"], "allowed": False,
                        "status": {"code": 403, "message": "configmap is protected"}}
        elif self.path.startswith("/validate/deployments"):
            imgs = [c["image"] for c in req["object"]["spec"]["template"]["spec"]["containers"]]
            if any(i.endswith(":latest") for i in imgs):
                resp = {"uid": req["uid"], "allowed": False,
                        "status": {"code": 422, "reason": "Invalid",
                                   "message": "images must not use the :latest tag"}}
            else:
                resp["warnings"] = ["image tags look fine"]
        elif name == "deny-me":
            resp = {"uid": req["uid"], "allowed": False,
                    "status": {"code": 403, "message": "pod name deny-me is not allowed by policy"}}
        elif name == "invalid-me":
            resp = {"uid": req["uid"], "allowed": False,
                    "status": {"code": 422, "reason": "Invalid", "message": "bad spec"}}
        elif name == "warn-me":
            resp["warnings"] = ["careful with that pod"]
        elif name == "slow":
            time.sleep(2.5)
        elif labels.get("app") == "blocked":
            resp = {"uid": req["uid"], "allowed": False,
                    "status": {"code": 403, "message": "blocked by policy"}}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass   # the "slow" call's client gave up: expected


srv = Server(("127.0.0.1", 0), Hook)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(D, "wh.crt"), os.path.join(D, "wh.key"))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
PORT = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
with open(os.path.join(D, "whca.crt"), "rb") as f:
    CA = base64.b64encode(f.read()).decode()
URL = "https://127.0.0.1:%d/validate/pods" % PORT
HOOK = "pods.test.example.com"


def vwc(policy, url=URL):
    return {"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "test-validator"},
            "webhooks": [{"name": HOOK, "clientConfig": {"url": url, "caBundle": CA},
                          "rules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                     "operations": ["CREATE"], "resources": ["pods"],
                                     "scope": "Namespaced"}],
                          "namespaceSelector": {"matchExpressions": [
                              {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                               "values": ["kube-system"]}]},
                          "admissionReviewVersions": ["v1"], "sideEffects": "None",
                          "failurePolicy": policy, "timeoutSeconds": 1},
                         {"name": "deployments.test.example.com",
                          "clientConfig": {"url": url.replace("pods", "deployments"),
                                           "caBundle": CA},
                          "rules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                     "operations": ["UPDATE"], "resources": ["deployments"],
                                     "scope": "Namespaced"}],
                          "admissionReviewVersions": ["v1"], "sideEffects": "None",
                          "failurePolicy": "Fail", "timeoutSeconds": 5}]}


VWC = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
st, _, b = sim.req(A, VWC, "POST", vwc("Fail"))
check(st == 201, "create vwc %s %r" % (st, b))


def pod(name, labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}


# ---- allowed: the AdmissionReview as kube-apiserver sends it
st, _, b = sim.req(A, NS + "/pods?fieldManager=kubectl-create&fieldValidation=Strict", "POST",
                   pod("ok-pod"))
check(st == 201, "allowed pod created %s %r" % (st, b))
check(len(RECEIVED) == 1, "webhook called once (%d)" % len(RECEIVED))
if RECEIVED:
    path, hdrs, rev = RECEIVED[0]
    r = rev["request"]
    check(path == "/validate/pods?timeout=1s", "path %r" % path)
    check(hdrs.get("User-Agent") == "kube-apiserver-admission", "UA %r" % hdrs.get("User-Agent"))
    check(rev["apiVersion"] == "admission.k8s.io/v1" and rev["kind"] == "AdmissionReview",
          "review type")
    check(r["kind"] == {"group": "", "version": "v1", "kind": "Pod"} and
          r["resource"] == {"group": "", "version": "v1", "resource": "pods"} and
          r["requestKind"] == r["kind"] and r["requestResource"] == r["resource"], "gvk/gvr")
    check(r["name"] == "ok-pod" and r["namespace"] == "default" and r["operation"] == "CREATE",
          "name/ns/op %r" % r)
    check(r["userInfo"]["groups"] == ["system:masters", "system:authenticated"], "userInfo")
    check(r["oldObject"] is None and r["dryRun"] is False, "oldObject/dryRun")
    check(r["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1",
                           "fieldManager": "kubectl-create", "fieldValidation": "Strict"},
          "options %r" % r["options"])
    obj = r["object"]
    check(obj["spec"].get("schedulerName") == "default-scheduler" and
          obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"},
          "object after defaulting %r" % obj.get("status"))

# ---- denied: kube-apiserver's Status, the webhook's code, no reason
st, _, b = sim.req(A, NS + "/pods", "POST", pod("deny-me"))
check(st == 403 and b == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure",
                          "message": 'admission webhook "%s" denied the request: pod name '
                          'deny-me is not allowed by policy' % HOOK, "code": 403},
      "denied %s %r" % (st, b))
check(sim.req(A, NS + "/pods/deny-me")[0] == 404, "denied pod not stored")
st, _, b = sim.req(A, NS + "/pods", "POST", pod("invalid-me"))
check(st == 422 and b.get("reason") == "Invalid" and b["message"].endswith("request: bad spec"),
      "422 with reason %s %r" % (st, b))

# ---- warnings
st, h, b = sim.req(A, NS + "/pods", "POST", pod("warn-me"))
check(st == 201 and h.get("Warning") == '299 - "careful with that pod"',
      "warning header %s %r" % (st, h.get("Warning")))

# ---- UPDATE of a Deployment: oldObject, UpdateOptions, 422 with reason, warnings
DEP = "/apis/apps/v1/namespaces/default/deployments"
st, _, b = sim.req(A, DEP, "POST", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
    "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "api"}},
             "template": {"metadata": {"labels": {"app": "api"}},
                          "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}})
check(st == 201, "create deployment api %s" % st)
n0 = len(RECEIVED)
patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:latest"}]}}}}
st, _, b = sim.req(A, DEP + "/api?fieldManager=kubectl-set", "PATCH", patch,
                   ctype="application/strategic-merge-patch+json")
check(st == 422 and b == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "message": 'admission webhook '
                          '"deployments.test.example.com" denied the request: images must not '
                          'use the :latest tag', "reason": "Invalid", "code": 422},
      "update denied %s %r" % (st, b))
if len(RECEIVED) > n0:
    r = RECEIVED[n0][2]["request"]
    check(r["operation"] == "UPDATE" and r["oldObject"]["spec"]["template"]["spec"]
          ["containers"][0]["image"] == "nginx:1.25" and
          r["options"] == {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1",
                           "fieldManager": "kubectl-set"}, "UPDATE review %r" % r.get("options"))
st, _, d = sim.req(A, DEP + "/api")
check(d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25", "denied not stored")
patch["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
st, h, b = sim.req(A, DEP + "/api", "PATCH", patch, ctype="application/strategic-merge-patch+json")
check(st == 200 and h.get("Warning") == '299 - "image tags look fine"',
      "update allowed with warning %s %r" % (st, h.get("Warning")))

# ---- namespaceSelector: kube-system is not sent
n0 = len(RECEIVED)
st, _, b = sim.req(A, "/api/v1/namespaces/kube-system/pods", "POST", pod("deny-me"))
check(st == 201 and len(RECEIVED) == n0, "namespaceSelector skips kube-system (%s)" % st)

# ---- timeout: Fail -> 500 InternalError, Ignore -> allowed
t0 = time.time()
st, _, b = sim.req(A, NS + "/pods", "POST", pod("slow"))
msg = 'failed calling webhook "%s": failed to call webhook: Post "%s?timeout=1s": ' \
      'context deadline exceeded' % (HOOK, URL)
check(st == 500 and b.get("reason") == "InternalError" and
      b.get("message") == "Internal error occurred: " + msg and
      b.get("details") == {"causes": [{"message": msg}]}, "timeout Fail %s %r" % (st, b))
check(time.time() - t0 < 2.4, "timeoutSeconds honoured (%.1fs)" % (time.time() - t0))
st, _, cur = sim.req(A, VWC + "/test-validator")
cur["webhooks"][0]["failurePolicy"] = "Ignore"
st, _, b = sim.req(A, VWC + "/test-validator", "PUT", cur)
check(st == 200, "update vwc %s" % st)
st, _, b = sim.req(A, NS + "/pods", "POST", pod("slow"))
check(st == 201, "timeout Ignore -> created %s %r" % (st, b))

# ---- a controller-created pod denied -> ReplicaFailure + FailedCreate
st, _, b = sim.req(A, "/apis/apps/v1/namespaces/default/deployments", "POST", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "blocked"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "blocked"}},
             "template": {"metadata": {"labels": {"app": "blocked"}},
                          "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}})
check(st == 201, "create deployment %s" % st)


def failure():
    st, _, l = sim.req(A, "/apis/apps/v1/namespaces/default/replicasets")
    for r in (l or {}).get("items", []):
        for c in r.get("status", {}).get("conditions", []):
            if c["type"] == "ReplicaFailure":
                return c
    return None


c = None
end = time.time() + 8
while time.time() < end and not c:
    c = failure()
    time.sleep(0.1)
check(c and c["status"] == "True" and c["reason"] == "FailedCreate" and
      c["message"] == 'admission webhook "%s" denied the request: blocked by policy' % HOOK,
      "ReplicaFailure %r" % (c,))
sa = [rv["request"]["userInfo"]["username"] for _, _, rv in RECEIVED
      if rv["request"]["object"]["metadata"].get("labels", {}).get("app") == "blocked"]
check(sa and sa[0] == "system:serviceaccount:kube-system:replicaset-controller",
      "controller's identity %r" % sa[:1])
st, _, evs = sim.req(A, NS + "/events")
check(any(e["reason"] == "FailedCreate" and "blocked by policy" in e["message"]
          for e in evs["items"]), "FailedCreate event")

# ---- DELETE: object null, oldObject stored, objectSelector on the old object;
# deletecollection goes through the same path; dry run and sideEffects
CMS = NS + "/configmaps"
CMURL = URL.replace("pods", "configmaps")
st, _, b = sim.req(A, VWC, "POST", {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "cm-validator"},
    "webhooks": [{"name": "cm-delete.test.example.com",
                  "clientConfig": {"url": CMURL, "caBundle": CA},
                  "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["DELETE"],
                             "resources": ["configmaps"]}],
                  "objectSelector": {"matchLabels": {"protect": "yes"}},
                  "admissionReviewVersions": ["v1"], "sideEffects": "None",
                  "failurePolicy": "Fail", "timeoutSeconds": 5},
                 {"name": "cm-side-effects.test.example.com",
                  "clientConfig": {"url": CMURL, "caBundle": CA},
                  "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                             "resources": ["configmaps"]}],
                  "objectSelector": {"matchLabels": {"side": "effects"}},
                  "admissionReviewVersions": ["v1"], "sideEffects": "Some",
                  "failurePolicy": "Fail", "timeoutSeconds": 5}]})
check(st == 201, "create cm-validator %s %r" % (st, b))
for name, labels in (("p1", {"protect": "yes"}), ("p2", {"x": "y"})):
    st, _, b = sim.req(A, CMS, "POST", {"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": name, "labels": labels}})
    check(st == 201, "create cm %s (%s)" % (name, st))
def cm_reviews():  # the controllers keep calling the pods webhook meanwhile
    return [rv for path, _, rv in RECEIVED if path.startswith("/validate/configmaps")]


n0 = len(cm_reviews())
st, _, b = sim.req(A, CMS + "/p1?propagationPolicy=Background", "DELETE")
check(st == 403 and b.get("message") == 'admission webhook "cm-delete.test.example.com" denied '
      'the request: configmap is protected', "DELETE denied %s %r" % (st, b))
check(sim.req(A, CMS + "/p1")[0] == 200, "denied delete keeps the object")
if check(len(cm_reviews()) == n0 + 1, "DELETE review sent once (%d)" % (len(cm_reviews()) - n0)):
    r = cm_reviews()[n0]["request"]
    check(r["operation"] == "DELETE" and r["object"] is None and r["name"] == "p1" and
          r["namespace"] == "default" and r["oldObject"]["metadata"]["name"] == "p1" and
          r["options"] == {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1",
                           "propagationPolicy": "Background"}, "DELETE review %r" % r)
st, _, b = sim.req(A, CMS + "/p2", "DELETE")
check(st == 200 and len(cm_reviews()) == n0 + 1,
      "objectSelector: unlabelled delete not sent (%s)" % st)
st, _, b = sim.req(A, CMS + "?labelSelector=protect", "DELETE")
check(st == 403 and "configmap is protected" in b.get("message", ""),
      "deletecollection goes through webhooks %s" % st)
st, _, b = sim.req(A, NS + "/pods?dryRun=All", "POST", pod("dry-pod"))
dry = [rv for _, _, rv in RECEIVED if rv["request"]["name"] == "dry-pod"]
check(st == 201 and len(dry) == 1 and dry[0]["request"]["dryRun"] is True,
      "dry run: sideEffects None webhook called with dryRun true (%s)" % st)
check(sim.req(A, NS + "/pods/dry-pod")[0] == 404, "dry-run pod not stored")
side = {"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "fx", "labels": {"side": "effects"}}}
n0 = len(cm_reviews())
st, _, b = sim.req(A, CMS + "?dryRun=All", "POST", side)
check(st == 400 and b.get("message") == 'admission webhook "cm-side-effects.test.example.com" '
      'does not support dry run' and len(cm_reviews()) == n0,
      "sideEffects Some + dry run: 400 %s %r" % (st, b))
st, _, b = sim.req(A, CMS, "POST", side)
check(st == 201 and len(cm_reviews()) == n0 + 1, "sideEffects Some, not dry: called (%s)" % st)

# ---- matchPolicy: a rule for v1 sees a v2 write (Equivalent, the default), not when Exact
crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                          "listKind": "WidgetList"},
                "versions": [{"name": v, "served": True, "storage": v == "v1",
                              "schema": {"openAPIV3Schema": {
                                  "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
                             for v in ("v1", "v2")]}}
st, _, b = sim.req(A, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "POST", crd)
check(st == 201, "two-version CRD %s %r" % (st, b))
WURL = URL.replace("pods", "widgets")
wvwc = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "widget-validator"},
        "webhooks": [{"name": "widgets.test.example.com",
                      "clientConfig": {"url": WURL, "caBundle": CA},
                      "rules": [{"apiGroups": ["example.com"], "apiVersions": ["v1"],
                                 "operations": ["CREATE"], "resources": ["widgets"]}],
                      "admissionReviewVersions": ["v1"], "sideEffects": "None",
                      "failurePolicy": "Fail", "timeoutSeconds": 5}]}
st, _, b = sim.req(A, VWC, "POST", wvwc)
check(st == 201, "widget vwc %s" % st)


def widget_reviews():
    return [rv["request"] for path, _, rv in RECEIVED if path.startswith("/validate/widgets")]


W2 = "/apis/example.com/v2/namespaces/default/widgets"
st, _, b = sim.req(A, W2, "POST", {"apiVersion": "example.com/v2", "kind": "Widget",
                                   "metadata": {"name": "w1"}})
wr = widget_reviews()
check(st == 201 and len(wr) == 1 and wr[0]["kind"]["version"] == "v1" and
      wr[0]["requestKind"]["version"] == "v2" and wr[0]["resource"]["version"] == "v1",
      "Equivalent: v1 rule sees a v2 create (%s %r)" % (st, wr[:1]))
st, _, cur = sim.req(A, VWC + "/widget-validator")
cur["webhooks"][0]["matchPolicy"] = "Exact"
check(sim.req(A, VWC + "/widget-validator", "PUT", cur)[0] == 200, "vwc to Exact")
st, _, b = sim.req(A, W2, "POST", {"apiVersion": "example.com/v2", "kind": "Widget",
                                   "metadata": {"name": "w2"}})
check(st == 201 and len(widget_reviews()) == 1, "Exact: v2 create not sent (%s)" % st)

# ---- a controller's scale-down delete denied -> ReplicaFailure FailedDelete, pod stays
KEEP = "/apis/apps/v1/namespaces/default/deployments/keep"
st, _, b = sim.req(A, "/apis/apps/v1/namespaces/default/deployments", "POST", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "keep"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "keep"}},
             "template": {"metadata": {"labels": {"app": "keep"}},
                          "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}})
check(st == 201, "create deployment keep %s" % st)


def keep_pods():
    return [p for p in sim.req(A, NS + "/pods?labelSelector=app%3Dkeep")[2]["items"]
            if "deletionTimestamp" not in p["metadata"]]


end = time.time() + 8
while time.time() < end and len(keep_pods()) != 2:
    time.sleep(0.1)
check(len(keep_pods()) == 2, "2 keep pods")
st, _, b = sim.req(A, VWC, "POST", {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "keep-validator"},
    "webhooks": [{"name": "keep.test.example.com",
                  "clientConfig": {"url": URL.replace("pods", "keep"), "caBundle": CA},
                  "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["DELETE"],
                             "resources": ["pods"]}],
                  "objectSelector": {"matchLabels": {"app": "keep"}},
                  "admissionReviewVersions": ["v1"], "sideEffects": "None",
                  "failurePolicy": "Fail", "timeoutSeconds": 5}]})
check(st == 201, "keep vwc %s" % st)
sim.req(A, KEEP, "PATCH", {"spec": {"replicas": 1}}, ctype="application/merge-patch+json")


def keep_failure():
    for r in sim.req(A, "/apis/apps/v1/namespaces/default/replicasets")[2]["items"]:
        if r["metadata"]["name"].startswith("keep-"):
            for c in r.get("status", {}).get("conditions", []):
                if c["type"] == "ReplicaFailure" and c["reason"] == "FailedDelete":
                    return c
    return None


c = None
end = time.time() + 8
while time.time() < end and not c:
    c = keep_failure()
    time.sleep(0.1)
check(c and c["message"] == 'admission webhook "keep.test.example.com" denied the request: '
      'keep pods are precious', "ReplicaFailure FailedDelete %r" % (c,))
check(len(keep_pods()) == 2, "denied scale-down keeps both pods")
evs = sim.req(A, NS + "/events")[2]["items"]
fd = [e for e in evs if e["reason"] == "FailedDelete"]
check(len(fd) == 1 and fd[0]["message"].startswith("Error deleting: admission webhook") and
      fd[0]["involvedObject"]["kind"] == "ReplicaSet", "one FailedDelete event %r" % fd)
dels = [rv["request"] for path, _, rv in RECEIVED if path.startswith("/validate/keep")]
check(dels and dels[0]["userInfo"]["username"] ==
      "system:serviceaccount:kube-system:replicaset-controller" and dels[0]["object"] is None,
      "controller DELETE review %r" % dels[:1])
check(sim.req(A, VWC + "/keep-validator", "DELETE")[0] == 200, "delete keep vwc")
end = time.time() + 8
while time.time() < end and (len(keep_pods()) != 1 or keep_failure()):
    time.sleep(0.1)
check(len(keep_pods()) == 1 and not keep_failure(), "webhook gone: scale-down done, condition cleared")

# ---- webhook down with Fail -> 500 connection refused
srv.shutdown()
srv.server_close()
st, _, cur = sim.req(A, VWC + "/test-validator")
cur["webhooks"][0]["failurePolicy"] = "Fail"
sim.req(A, VWC + "/test-validator", "PUT", cur)
st, _, b = sim.req(A, NS + "/pods", "POST", pod("after-down"))
check(st == 500 and b.get("reason") == "InternalError" and
      b.get("message", "").endswith("dial tcp 127.0.0.1:%d: connect: connection refused" % PORT),
      "webhook down %s %r" % (st, b))

sim.stop()
done()
