#!/usr/bin/python3
"""tests/scheduler/test_override.py: OverridePolicy / ClusterOverridePolicy
through `flotilla debug place` ("override" op): each overrider (image with
Karmada's registry/repository/tag rules, command, args, labels,
annotations, fieldOverrider on a JSON string field, plaintext JSON patch),
target clusters by name, labelSelector and exclude, and Karmada's order
(ClusterOverridePolicies first; by implicit priority then name, so the more
precise policy writes last). FLOTILLA_BIN names the binary."""
import json
import os
import subprocess
import sys

BIN = os.environ.get("FLOTILLA_BIN") or sys.argv[1]

TMPL = {"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "web", "image": "docker.io/library/nginx:1.25", "command": ["nginx"],
             "args": ["-g", "daemon off;"]}]}}}}
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"},
      "data": {"conf.json": "{\"level\":\"info\",\"port\":80}"}}
WEST = {"name": "west-1", "labels": {"region": "west"}, "region": "west"}
EAST = {"name": "east-1", "labels": {"region": "east"}, "region": "east"}


def op(name, rules, kind="OverridePolicy", selectors=None, ns="shop"):
    p = {"apiVersion": "policy.karmada.io/v1alpha1", "kind": kind, "metadata": {"name": name},
         "spec": {"overrideRules": rules}}
    if kind == "OverridePolicy":
        p["metadata"]["namespace"] = ns
    if selectors is not None:
        p["spec"]["resourceSelectors"] = selectors
    return p


def img(component, operator, value=""):
    return [{"overriders": {"imageOverrider": [{"component": component, "operator": operator,
                                                "value": value}]}}]


def image_of(ans):
    return ans["object"]["spec"]["template"]["spec"]["containers"][0]["image"]


CASES = []


def case(name, req, check):
    CASES.append((name, req, check))


for comp, oper, val, want in [
        ("Registry", "replace", "mirror.example", "mirror.example/library/nginx:1.25"),
        ("Registry", "add", ".cn", "docker.io.cn/library/nginx:1.25"),
        ("Registry", "remove", "", "library/nginx:1.25"),
        ("Repository", "replace", "team/nginx", "docker.io/team/nginx:1.25"),
        ("Repository", "add", "-slim", "docker.io/library/nginx-slim:1.25"),
        ("Tag", "replace", "1.26", "docker.io/library/nginx:1.26"),
        ("Tag", "remove", "", "docker.io/library/nginx")]:
    case("image %s %s" % (comp, oper), {"template": TMPL, "cluster": WEST,
                                        "policies": [op("p", img(comp, oper, val))]},
         lambda a, want=want: image_of(a) == want)
case("image on a short name", {"template": dict(TMPL, spec={"template": {"spec": {"containers": [
    {"name": "c", "image": "nginx"}]}}}), "cluster": WEST,
    "policies": [op("p", img("Registry", "replace", "reg.local:5000"))]},
    lambda a: image_of(a) == "reg.local:5000/nginx")
case("command add, args remove", {"template": TMPL, "cluster": WEST, "policies": [op("p", [{
    "overriders": {"commandOverrider": [{"containerName": "web", "operator": "add",
                                         "value": ["-c", "/etc/n.conf"]}],
                   "argsOverrider": [{"containerName": "web", "operator": "remove",
                                      "value": ["daemon off;"]}]}}])]},
    lambda a: a["object"]["spec"]["template"]["spec"]["containers"][0]["command"] ==
    ["nginx", "-c", "/etc/n.conf"] and a["object"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["-g"])
case("labels add/replace/remove, annotations add", {"template": TMPL, "cluster": WEST, "policies": [
    op("p", [{"overriders": {
        "labelsOverrider": [{"operator": "add", "value": {"tier": "front"}},
                            {"operator": "replace", "value": {"app": "web2", "absent": "x"}},
                            {"operator": "remove", "value": {"tier": ""}}],
        "annotationsOverrider": [{"operator": "add", "value": {"owner": "west-team"}}]}}])]},
    lambda a: a["object"]["metadata"]["labels"] == {"app": "web2"} and
    a["object"]["metadata"]["annotations"] == {"owner": "west-team"})
case("plaintext JSON patch", {"template": TMPL, "cluster": WEST, "policies": [op("p", [{
    "overriders": {"plaintext": [{"path": "/spec/replicas", "operator": "replace", "value": 5},
                                 {"path": "/metadata/labels/app", "operator": "remove"}]}}])]},
    lambda a: a["object"]["spec"]["replicas"] == 5 and a["object"]["metadata"]["labels"] == {})
case("fieldOverrider inside a JSON string", {"template": CM, "cluster": WEST, "policies": [op("p", [{
    "overriders": {"fieldOverrider": [{"fieldPath": "/data/conf.json", "json": [
        {"subPath": "/level", "operator": "replace", "value": "debug"}]}]}}],
    selectors=[{"apiVersion": "v1", "kind": "ConfigMap"}])]},
    lambda a: json.loads(a["object"]["data"]["conf.json"]) == {"level": "debug", "port": 80})
west_only = [{"targetCluster": {"labelSelector": {"matchLabels": {"region": "west"}}},
              "overriders": {"labelsOverrider": [{"operator": "add", "value": {"r": "west"}}]}}]
case("labelSelector target: west matches", {"template": TMPL, "cluster": WEST,
                                            "policies": [op("p", west_only)]},
     lambda a: a["object"]["metadata"]["labels"].get("r") == "west" and a["applied"] == ["OverridePolicy/shop/p"])
case("labelSelector target: east untouched", {"template": TMPL, "cluster": EAST,
                                              "policies": [op("p", west_only)]},
     lambda a: "r" not in a["object"]["metadata"]["labels"] and a["applied"] == [])
case("clusterNames and exclude", {"template": TMPL, "cluster": WEST, "policies": [
    op("a", [{"targetCluster": {"clusterNames": ["west-1"]},
              "overriders": {"labelsOverrider": [{"operator": "add", "value": {"a": "1"}}]}}]),
    op("b", [{"targetCluster": {"exclude": ["west-1"]},
              "overriders": {"labelsOverrider": [{"operator": "add", "value": {"b": "1"}}]}}])]},
    lambda a: a["object"]["metadata"]["labels"].get("a") == "1" and "b" not in a["object"]["metadata"]["labels"])
case("other namespace's OverridePolicy ignored", {"template": TMPL, "cluster": WEST, "policies": [
    op("p", img("Tag", "replace", "x"), ns="other")]}, lambda a: image_of(a) == TMPL["spec"]["template"]["spec"]["containers"][0]["image"])
# order: cluster policy first, then by implicit priority (name-selector last), then name
case("Karmada's order", {"template": TMPL, "cluster": WEST, "policies": [
    op("z-by-name", img("Tag", "replace", "by-name"),
       selectors=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]),
    op("a-kind", img("Tag", "replace", "kind"), selectors=[{"apiVersion": "apps/v1", "kind": "Deployment"}]),
    op("all", img("Tag", "replace", "all")),
    op("cop", img("Tag", "replace", "cluster"), kind="ClusterOverridePolicy")]},
    lambda a: image_of(a) == "docker.io/library/nginx:by-name" and a["applied"] == [
        "ClusterOverridePolicy/cop", "OverridePolicy/shop/all", "OverridePolicy/shop/a-kind",
        "OverridePolicy/shop/z-by-name"])
case("bad operator is an error", {"template": TMPL, "cluster": WEST,
                                  "policies": [op("p", img("Tag", "frobnicate", "x"))]},
     lambda a: "unknown operator" in a.get("error", ""))

stdin = "".join(json.dumps(dict(req, op="override")) + "\n" for _, req, _ in CASES)
p = subprocess.run([BIN, "debug", "place"], input=stdin.encode(), capture_output=True, timeout=60)
lines = p.stdout.decode().splitlines()
fails = 0
if len(lines) != len(CASES):
    print("FAIL: %d answers for %d cases: %s" % (len(lines), len(CASES), p.stderr.decode()[:500]))
    sys.exit(1)
for (name, _, chk), line in zip(CASES, lines):
    ans = json.loads(line)
    try:
        good = chk(ans)
    except (KeyError, IndexError, TypeError):
        good = False
    if not good:
        fails += 1
        print("FAIL: %s: %s" % (name, line[:600]), file=sys.stderr)
print("%d case(s), %d failure(s)" % (len(CASES), fails), file=sys.stderr)
sys.exit(1 if fails else 0)
