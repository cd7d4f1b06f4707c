#!/usr/bin/python3
"""tests/cmd/test_control_schema.py: a CRD a user applies to the daemon's
own control-plane API, with real kubectl:
  * `kubectl explain` of its kind and of nested fields (kubectl 1.32 reads
    /openapi/v3 and the group/version document it links; the CRD's
    descriptions, apiVersion/kind/metadata as kube-apiserver describes them);
  * field validation inside x-kubernetes-preserve-unknown-fields, as
    kube-apiserver does it: `kubectl apply --validate=strict` accepts the
    fields a preserving object does not declare and refuses unknown fields
    below the ones it declares (objects, arrays of objects, maps, embedded
    resources' metadata, the root's metadata) naming every path;
    --validate=warn and =ignore store the object pruned the same way.
Needs FLOTILLA_BIN (tests/meson.build).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import (check, control_up, done, free_port, kubeconfig, kubectl,  # noqa: E402
                     stop_procs, wait)

BIN = os.environ["FLOTILLA_BIN"]
procs = []

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A Gadget is a test kind with open and closed parts.
        properties:
          spec:
            type: object
            description: What the gadget should be.
            properties:
              size: {type: integer, description: How big the gadget is.}
              extra:
                type: object
                description: Free-form settings; the declared ones are checked.
                x-kubernetes-preserve-unknown-fields: true
                properties:
                  limits:
                    type: object
                    description: Limits of the gadget.
                    properties:
                      cpu: {type: string, description: CPU limit.}
                  ports:
                    type: array
                    items:
                      type: object
                      properties:
                        port: {type: integer}
                  byName:
                    type: object
                    additionalProperties:
                      type: object
                      properties:
                        value: {type: string}
                  template:
                    type: object
                    x-kubernetes-embedded-resource: true
                    x-kubernetes-preserve-unknown-fields: true
"""

GOOD = """apiVersion: example.com/v1
kind: Gadget
metadata: {name: %s, namespace: default}
spec:
  size: 3
  extra:
    anything: {deep: [1, {x: 2}]}
    limits: {cpu: 500m}
    ports: [{port: 80}]
    byName: {one: {value: a}}
    template: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {whatever: 1}}
"""

BAD = """apiVersion: example.com/v1
kind: Gadget
metadata: {name: %s, namespace: default, bogusMeta: 1}
spec:
  size: 3
  bogusSpec: 1
  extra:
    anything: {deep: [1, {x: 2}]}
    limits: {cpu: 500m, memory: 1Gi}
    ports: [{port: 80}, {port: 81, proto: TCP}]
    byName: {one: {value: a, other: b}}
    template: {apiVersion: v1, kind: Pod, metadata: {name: p, bogusEmb: 1}, spec: {whatever: 1}}
"""

UNKNOWN = ["metadata.bogusMeta", "spec.bogusSpec", "spec.extra.byName.one.other",
           "spec.extra.limits.memory", "spec.extra.ports[1].proto",
           "spec.extra.template.metadata.bogusEmb"]


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_explain(kc):
    rc, out, err = kubectl(kc, "explain", "gadget")
    check(rc == 0 and "KIND:       Gadget" in out and "GROUP:      example.com" in out and
          "A Gadget is a test kind with open and closed parts." in out and
          "What the gadget should be." in out,
          "kubectl explain a user's CRD kind: %s %s" % (out[:500], err))
    check("APIVersion defines the versioned schema" in out and
          "Kind is a string value representing the REST resource" in out and
          "Standard object's metadata." in out,
          "apiVersion, kind and metadata described as kube-apiserver does for CRDs: %s" % out)
    rc, out, err = kubectl(kc, "explain", "gadget.spec.extra.limits")
    check(rc == 0 and "Limits of the gadget." in out and "cpu" in out and "CPU limit." in out,
          "kubectl explain a field inside a preserving object: %s %s" % (out[:500], err))
    rc, out, err = kubectl(kc, "explain", "gadget.metadata.labels")
    check(rc == 0 and "Map of string keys and values" in out,
          "kubectl explain gadget.metadata.labels (ObjectMeta): %s %s" % (out[:400], err))
    rc, out, err = kubectl(kc, "explain", "gadget", "--recursive")
    check(rc == 0 and "byName" in out and "port" in out,
          "kubectl explain --recursive: %s %s" % (out[:500], err))


def test_strict(d, kc, port):
    good = write(d, "good.yaml", GOOD % "good")
    rc, out, err = kubectl(kc, "apply", "--validate=strict", "-f", good)
    check(rc == 0 and "created" in out and "Warning" not in err,
          "strict: undeclared fields of a preserving object are accepted: %s %s" % (out, err))
    rc, out, _ = kubectl(kc, "get", "gadget", "good", "-o", "json")
    spec = json.loads(out)["spec"] if rc == 0 else {}
    check(spec.get("extra", {}).get("anything") == {"deep": [1, {"x": 2}]} and
          spec["extra"].get("template", {}).get("spec") == {"whatever": 1},
          "and kept as sent: %s" % spec)

    bad = write(d, "bad.yaml", BAD % "bad")
    rc, out, err = kubectl(kc, "apply", "--validate=strict", "-f", bad)
    want = ", ".join('unknown field "%s"' % p for p in UNKNOWN)
    check(rc != 0 and "Error from server (BadRequest)" in err and
          'Gadget in version "v1" cannot be handled as a Gadget: strict decoding error: ' in err
          and want in err,
          "strict: unknown fields below the declared ones are refused, each named:\n%s\nwant %s" %
          (err, want))
    rc, _, _ = kubectl(kc, "get", "gadget", "bad")
    check(rc != 0, "and the object was not stored")

    rc, out, err = kubectl(kc, "apply", "--validate=warn", "-f", write(d, "warn.yaml",
                                                                     BAD % "warned"))
    check(rc == 0 and all('Warning: unknown field "%s"' % p in err for p in UNKNOWN),
          "warn: stored, a warning per unknown field: %s %s" % (out, err))
    rc, out, _ = kubectl(kc, "get", "gadget", "warned", "-o", "json")
    obj = json.loads(out) if rc == 0 else {}
    extra = obj.get("spec", {}).get("extra", {})
    check("bogusMeta" not in obj.get("metadata", {}) and "bogusSpec" not in obj.get("spec", {}) and
          extra.get("limits") == {"cpu": "500m"} and
          extra.get("ports") == [{"port": 80}, {"port": 81}] and
          extra.get("byName") == {"one": {"value": "a"}} and
          extra.get("template", {}).get("metadata") == {"name": "p"} and
          extra.get("anything") == {"deep": [1, {"x": 2}]},
          "warn: pruned as kube-apiserver prunes (declared parts checked, the rest kept): %s" % obj)

    rc, out, err = kubectl(kc, "apply", "--validate=false", "-f", write(d, "ignore.yaml",
                                                                      BAD % "ignored"))
    check(rc == 0 and "Warning" not in err, "ignore: stored silently: %s %s" % (out, err))
    rc, out, _ = kubectl(kc, "get", "gadget", "ignored", "-o", "jsonpath={.spec.extra.limits}")
    check(rc == 0 and json.loads(out or "{}") == {"cpu": "500m"}, "ignore: pruned too: %r" % out)

    # an update (kubectl apply of a change: a patch) is checked the same way
    changed = (GOOD % "good").replace("limits: {cpu: 500m}", "limits: {cpu: 1, gpu: 2}")
    rc, out, err = kubectl(kc, "apply", "--validate=strict", "-f", write(d, "chg.yaml", changed))
    check(rc != 0 and 'unknown field "spec.extra.limits.gpu"' in err,
          "strict: a patch adding an unknown field below a declared one is refused: %s %s" %
          (out, err))


def main():
    d = tempfile.mkdtemp(prefix="fl-control-schema-")
    try:
        port = free_port()
        cfg = write(d, "flotilla.yaml", "listen: 127.0.0.1:%d\ndataDir: %s\nmembers: []\n" %
                    (port, os.path.join(d, "data")))
        p = subprocess.Popen([BIN, "serve", "-c", cfg], stdout=subprocess.DEVNULL,
                             stderr=open(cfg + ".log", "w"))
        procs.append(p)
        check(wait(lambda: control_up(port), 60, 0.1), "daemon serves its control-plane API")
        kc = kubeconfig(d, "ctl", "http://127.0.0.1:%d" % port)
        rc, out, err = kubectl(kc, "apply", "-f", write(d, "crd.yaml", CRD))
        check(rc == 0 and "created" in out, "apply a CRD: %s %s" % (out, err))
        ok = wait(lambda: kubectl(kc, "get", "gadgets")[0] == 0, 30, 0.2)
        check(ok, "its kind is served")
        test_explain(kc)
        test_strict(d, kc, port)
    finally:
        stop_procs(procs)
        shutil.rmtree(d, ignore_errors=True)
    done()


if __name__ == "__main__":
    main()
