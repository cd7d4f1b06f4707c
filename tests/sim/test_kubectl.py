#!/usr/bin/python3
"""tests/sim/test_kubectl.py: Debian's kubectl against `flotilla sim --tls --no-controllers`:
get (table, -o wide/json/yaml/jsonpath/name), get -w, --chunk-size,
create -f, apply -f twice with a changed container list (and unchanged),
patch with all three types, scale, delete --wait, api-resources, get --raw,
a CRD and its custom resources, logs of an unscheduled pod, and token
isolation between clusters."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest import Sim, check, done  # noqa: E402

if not shutil.which("kubectl"):
    print("kubectl not on PATH", file=sys.stderr)
    sys.exit(77)

sim = Sim("--clusters", "2", "--tls", "--no-controllers")  # nothing creates pods behind us
CACHE = os.path.join(sim.dir, "kube-cache")


def kubectl(*args, cluster="east-1", timeout=30, kubeconfig=None):
    env = dict(os.environ, HOME=sim.dir, KUBECONFIG=kubeconfig or sim.kubeconfig(cluster))
    p = subprocess.run(["kubectl", "--cache-dir", CACHE] + list(args), env=env, text=True,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def ok(what, *args, **kw):
    rc, out, err = kubectl(*args, **kw)
    check(rc == 0, "%s: kubectl %s -> rc %d: %s" % (what, " ".join(args), rc, err[-800:]))
    return out


def manifest(name, text):
    path = os.path.join(sim.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25.3
        ports: [{containerPort: 80}]
"""
DEPLOY_V2 = DEPLOY.replace("nginx:1.25.3", "nginx:1.26.0") + """      - name: log-shipper
        image: busybox:1.36
"""

# ---- get in every output form
out = ok("get nodes", "get", "nodes")
check("east-1-node-1" in out and "Ready" in out and "v1.26.0" in out, "get nodes table:\n" + out)
out = ok("get nodes -o wide", "get", "nodes", "-o", "wide")
check("INTERNAL-IP" in out and "containerd://" in out, "-o wide columns:\n" + out)
out = ok("get ns -o json", "get", "ns", "-o", "json")
check(len(json.loads(out)["items"]) == 4, "-o json")
out = ok("get ns -o yaml", "get", "ns", "default", "-o", "yaml")
check("kubernetes.io/metadata.name: default" in out, "-o yaml")
out = ok("jsonpath", "get", "nodes", "-o", "jsonpath={.items[*].metadata.labels.topology\\.kubernetes\\.io/region}")
check(out.split() == ["east"] * 3, "jsonpath: %r" % out)
out = ok("-o name", "get", "ns", "-o", "name")
check("namespace/kube-system" in out, "-o name")

# ---- create -f, apply twice, unchanged apply
dep = manifest("deploy.yaml", DEPLOY)
out = ok("create -f", "create", "-f", dep)
check("deployment.apps/web created" in out, "create output %r" % out)
rc, out, err = kubectl("create", "-f", dep)
check(rc != 0 and "AlreadyExists" in err, "second create fails AlreadyExists: %r" % err)
out = ok("apply first", "apply", "-f", dep)
check("configured" in out, "first apply on a created object: %r" % out)
out = ok("apply v2", "apply", "-f", manifest("deploy-v2.yaml", DEPLOY_V2))
check("deployment.apps/web configured" in out, "apply v2 %r" % out)
out = ok("apply v2 again", "apply", "-f", os.path.join(sim.dir, "deploy-v2.yaml"))
check("unchanged" in out, "unchanged apply %r" % out)
out = ok("containers", "get", "deploy", "web", "-o",
         "jsonpath={.spec.template.spec.containers[*].name} {.spec.template.spec.containers[0].image} {.metadata.generation}")
check(out == "nginx log-shipper nginx:1.26.0 2", "containers after apply: %r" % out)
rc, out, err = kubectl("apply", "-f", dep)
out = ok("containers", "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].name}")
check(out == "nginx", "apply back to one container removes log-shipper: %r" % out)
out = ok("get deploy", "get", "deploy", "-A")
check("web" in out and "0/2" in out, "deploy table %r" % out)

# ---- patch, all three types, and "(no change)"
out = ok("patch merge", "patch", "deploy", "web", "--type=merge", "-p", '{"metadata":{"labels":{"tier":"front"}}}')
check("patched" in out and "no change" not in out, "merge patch %r" % out)
out = ok("patch json", "patch", "deploy", "web", "--type=json", "-p",
         '[{"op":"replace","path":"/spec/replicas","value":3}]')
check("patched" in out, "json patch %r" % out)
out = ok("patch strategic", "patch", "deploy", "web", "-p",
         '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}')
out = ok("containers", "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].name} {.spec.replicas} {.metadata.labels.tier}")
check(out == "sidecar nginx 3 front" or out == "nginx sidecar 3 front", "strategic patch merges by name: %r" % out)
out = ok("patch no change", "patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":3}}')
check("(no change)" in out, "no-change patch %r" % out)

# ---- scale
out = ok("scale", "scale", "deploy", "web", "--replicas=5")
check("deployment.apps/web scaled" in out, "scale %r" % out)
out = ok("scale check", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}")
check(out == "5", "replicas after scale %r" % out)

# ---- pods, chunked get, watch
for i in range(5):
    ok("run", "run", "p%d" % i, "--image=nginx", "--labels=app=p")
out = ok("chunk", "get", "pods", "--chunk-size=2")
check(len(out.strip().splitlines()) == 6, "chunked get lists 5 pods:\n" + out)
rc, out, err = kubectl("logs", "p0")
check(rc == 0 and out == "", "logs of an unscheduled pod are empty (204): %r %r" % (out, err))
env = dict(os.environ, HOME=sim.dir, KUBECONFIG=sim.kubeconfig("east-1"))
w = subprocess.Popen(["kubectl", "--cache-dir", CACHE, "get", "pods", "-w", "--request-timeout=0"],
                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(1.5)
ok("label", "label", "pod", "p1", "x=y")
out = ok("delete pod", "delete", "pod", "p2", "--wait")
check('pod "p2" deleted' in out, "delete pod %r" % out)
time.sleep(1.0)
w.terminate()
wout, werr = w.communicate(timeout=10)
lines = wout.strip().splitlines()
check(len(lines) >= 8 and any("Terminating" in l for l in lines[6:]), "get -w shows changes:\n" + wout + werr)

# ---- delete --wait of a deployment, CRD and custom resources
out = ok("delete deploy", "delete", "deploy", "web", "--wait", timeout=20)
check('deployment.apps "web" deleted' in out, "delete deploy %r" % out)
rc, out, err = kubectl("get", "deploy", "web")
check(rc != 0 and "NotFound" in err, "deployment gone: %r" % err)
crd = manifest("crd.yaml", """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget, shortNames: [wd]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
""")
ok("create crd", "create", "-f", crd)
ok("create cr", "create", "-f", manifest("w.yaml", "apiVersion: example.com/v1\nkind: Widget\n"
                                          "metadata: {name: gizmo}\nspec: {size: 3}\n"))
ok("apply cr", "apply", "-f", manifest("w2.yaml", "apiVersion: example.com/v1\nkind: Widget\n"
                                        "metadata: {name: gadget}\nspec: {size: 7}\n"))
out = ok("get widgets", "get", "wd")
check("gizmo" in out and "gadget" in out and "SIZE" in out and "7" in out, "widgets table:\n" + out)

# ---- create generators (kubectl sends these as protobuf)
ok("create ns", "create", "ns", "team-a")
ok("create cm", "create", "configmap", "c1", "-n", "team-a", "--from-literal=a=b")
ok("create secret", "create", "secret", "generic", "s1", "--from-literal=p=q")
ok("create deployment", "create", "deployment", "api", "--image=nginx:1.25", "--replicas=3", "--port=80")
ok("create job", "create", "job", "j1", "--image=busybox")
out = ok("check", "get", "deploy", "api", "-o",
         "jsonpath={.spec.replicas} {.spec.strategy.type} {.spec.template.spec.containers[0].ports[0].containerPort}")
check(out == "3 RollingUpdate 80", "protobuf deployment decoded and defaulted: %r" % out)
out = ok("check cm", "get", "cm", "c1", "-n", "team-a", "-o", "jsonpath={.data.a}")
check(out == "b", "protobuf configmap: %r" % out)
out = ok("check secret", "get", "secret", "s1", "-o", "jsonpath={.data.p} {.type}")
check(out == "cQ== Opaque", "protobuf secret: %r" % out)
out = ok("delete ns", "delete", "ns", "team-a", "--wait", timeout=20)
rc, out, err = kubectl("get", "cm", "c1", "-n", "team-a")
check(rc != 0, "namespace delete removes its objects")

# ---- the shipped Karmada/Flotilla CRDs install with kubectl and serve their kinds
crds = os.path.join(os.environ.get("FLOTILLA_SRC", os.path.join(os.path.dirname(__file__), "..", "..")),
                    "deploy", "crds")
out = ok("apply deploy/crds", "apply", "-f", crds)
check(out.count("created") == 9, "9 CRDs applied: %r" % out)
ok("create pp", "create", "-f", manifest("pp.yaml", """apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  placement: {clusterAffinity: {clusterNames: [east-1, west-1]}}
"""))
out = ok("get pp", "get", "pp")
check("web" in out, "PropagationPolicy listed: %r" % out)

# ---- api-resources, get --raw
out = ok("api-resources", "api-resources")
check("deployments" in out and "widgets" in out and "customresourcedefinitions" in out, "api-resources")
out = ok("raw", "get", "--raw", "/api/v1/namespaces/default/pods?limit=2")
body = json.loads(out)
check(len(body["items"]) == 2 and body["metadata"].get("continue"), "get --raw paging")

# ---- token isolation: east-1's kubeconfig with east-2's token
kc = open(sim.kubeconfig("east-1")).read().replace(sim.token("east-1"), sim.token("east-2"))
rc, out, err = kubectl("get", "ns", kubeconfig=manifest("mixed.kubeconfig", kc))
check(rc != 0 and "Unauthorized" in err, "other cluster's token is refused: %r" % err)
out = ok("east-2", "get", "deploy", cluster="east-2")
check("web" not in out, "clusters are separate")
sim.stop()
done()
