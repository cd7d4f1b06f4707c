#!/usr/bin/env python3
"""Copy every Kubernetes object found in k8s-golden's recorded responses into
golden-objects.ndjson (one line: {"group","version","resource","kind","list",
"object"}), Go-encoded (compact, <>& escaped) as kube-apiserver sends them.
The recordings it reads are in the repo (tests/golden/, copied from a real
kube-apiserver v1.26); tests read only the output.
usage: extract_golden.py [DIR] > golden-objects.ndjson   (DIR: default tests/golden)"""
import json, os, sys

PLURAL = {"Endpoints": "endpoints", "Ingress": "ingresses", "NetworkPolicy": "networkpolicies",
          "PriorityClass": "priorityclasses", "StorageClass": "storageclasses"}

def resource_of(kind):
    if kind in PLURAL:
        return PLURAL[kind]
    k = kind.lower()
    return k + ("es" if k.endswith("s") else "s")

def go(v):
    s = json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

def objects(body):
    if not isinstance(body, dict):
        return
    items = body.get("items")
    if isinstance(items, list) and body.get("kind", "").endswith("List"):
        kind = body["kind"][:-4]
        for it in items:
            if isinstance(it, dict) and isinstance(it.get("metadata"), dict) and it["metadata"].get("name"):
                yield body.get("apiVersion", "v1"), kind, True, it
        return
    md = body.get("metadata")
    if isinstance(md, dict) and md.get("name") and "kind" in body and body["kind"] not in ("Status", "Table"):
        yield body.get("apiVersion", "v1"), body["kind"], False, body

def bodies(v):
    if isinstance(v, dict):
        if "body" in v:
            yield v["body"]
        for x in v.values():
            yield from bodies(x)
    elif isinstance(v, list):
        for x in v:
            yield from bodies(x)

seen = set()
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "golden")
for dirpath, _, files in sorted(os.walk(root)):
    for f in sorted(files):
        if not f.endswith(".json"):
            continue
        try:
            doc = json.load(open(os.path.join(dirpath, f)))
        except Exception:
            continue
        for body in bodies(doc):
            for av, kind, is_item, obj in objects(body):
                line = go(obj)
                if line in seen or "\n" in line:
                    continue
                seen.add(line)
                g, _, ver = av.rpartition("/")
                print(go({"group": g, "version": ver, "resource": resource_of(kind), "kind": kind,
                          "list": is_item}).rstrip("}") + ',"object":' + line + "}")
