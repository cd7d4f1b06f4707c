#!/usr/bin/python3
"""tests/sim/test_api.py: the simulator's HTTP API against the behaviours of
the kube-apiserver recordings (tests/golden/README's list): auth and token isolation, headers,
discovery, OpenAPI v3 caching, list paging/continue/410, resourceVersion
rules, selectors, watch (initial state, resume, 410 ERROR event, bookmarks,
selector enter/leave, sendInitialEvents), writes (defaults, 409/404/422/400,
dry run, generation, delete semantics, scale, status, CRDs)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simtest import Sim, b64url_json, check, done  # noqa: E402

# a dead, strict cluster: no controllers touching objects, anonymous = 403
sim = Sim("--clusters", "2", "--host", "--history", "40", "--no-controllers", "--strict-auth",
          "--write-config", "{dir}/cfg/flotilla.yaml")
A, B = "east-1", "east-2"
check(set(sim.clusters) == {"east-1", "east-2", "host"}, "cluster names %s" % sim.clusters)

# ---- the config written for the daemon
import yaml  # noqa: E402
cfg = yaml.safe_load(open(os.path.join(sim.dir, "cfg", "flotilla.yaml")))
check([m["name"] for m in cfg["members"]] == ["east-1", "east-2"] and
      cfg["members"][1]["labels"] == {"region": "east", "zone": "east-b", "provider": "aws"} and
      os.path.exists(cfg["members"][0]["kubeconfig"]) and os.path.exists(cfg["host"]["kubeconfig"]) and
      cfg["auth"]["tokensFile"] == "tokens.csv" and cfg["sync"]["resources"][1]["group"] == "apps",
      "flotilla.yaml %s" % cfg)
tok = open(os.path.join(sim.dir, "cfg", "tokens.csv")).read().split(",")[0]
check(any(tok in l for l in sim.lines), "admin token printed")
kc = yaml.safe_load(open(sim.kubeconfig(A)))
check(kc["clusters"][0]["cluster"]["server"] == sim.clusters[A] and kc["users"][0]["user"]["token"],
      "kubeconfig")

# ---- auth: 401 with a wrong or other cluster's token, no Pf headers; anonymous 403
st, h, body = sim.req(A, "/api/v1/namespaces/default/pods", token=sim.token(B))
check(st == 401 and body["reason"] == "Unauthorized" and body["message"] == "Unauthorized",
      "other cluster's token -> 401 %s %s" % (st, body))
check(h.get("X-Kubernetes-Pf-Flowschema-Uid") is None, "401 has no Pf headers")
st, h, body = sim.req(A, "/api/v1/namespaces/default/pods", token=False)
check(st == 403, "anonymous -> 403 (%s)" % st)
st, h, body = sim.req(A, "/healthz", token=False)
check(st == 200 and body == "ok" and h["Content-Type"] == "text/plain; charset=utf-8" and
      h["X-Content-Type-Options"] == "nosniff", "healthz anonymous %s %r" % (st, body))
st, h, body = sim.req(A, "/api/v1/namespaces")
check(st == 200 and h.get("X-Kubernetes-Pf-Flowschema-Uid") and h.get("Audit-Id") and
      h["Cache-Control"] == "no-cache, private", "authenticated headers %s" % dict(h))
names = [i["metadata"]["name"] for i in body["items"]]
check(names == ["default", "kube-node-lease", "kube-public", "kube-system"], "namespaces %s" % names)
check("kind" not in body["items"][0], "built-in list items have no kind")

# ---- discovery
st, _, body = sim.req(A, "/api")
check(st == 200 and body["kind"] == "APIVersions", "/api")
st, _, body = sim.req(A, "/api", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
check(st == 406, "aggregated-only Accept -> 406 (%s)" % st)
st, _, body = sim.req(A, "/apis/apps/v1")
res = {r["name"] for r in body["resources"]}
check({"deployments", "deployments/scale", "deployments/status"} <= res, "apps/v1 resources %s" % res)
st, h, body = sim.req(A, "/apis/nope.example.org/v1/things", raw=True)
check(st == 404 and body == b"404 page not found\n", "unknown group -> plain 404")
st, _, body = sim.req(A, "/api/v1/foos")
check(st == 404 and body["message"] == "the server could not find the requested resource",
      "unknown resource -> Status 404")
st, _, body = sim.req(A, "/version")
check(st == 200 and body["gitVersion"].startswith("v1."), "/version")

# ---- OpenAPI v3
st, _, idx = sim.req(A, "/openapi/v3")
url = idx["paths"]["apis/apps/v1"]["serverRelativeURL"]
st, h, body = sim.req(A, url, raw=True)
etag = h["Etag"]
check(st == 200 and h["Content-Type"] == "text/plain; charset=utf-8" and
      h["Cache-Control"] == "public, immutable" and h.get("Expires"), "openapi doc with hash")
st, h, _ = sim.req(A, url, headers={"If-None-Match": etag}, raw=True)
check(st == 304, "If-None-Match -> 304 (%s)" % st)
st, h, _ = sim.req(A, "/openapi/v3/apis/apps/v1?hash=00", raw=True)
check(st == 301 and h["Location"] == url, "wrong hash -> 301 to the current one (%s)" % st)
st, h, body = sim.req(A, "/openapi/v3/apis/nope/v1", raw=True)
check(st == 404 and body == b"", "unknown GV openapi -> empty 404")
check("apis/policy.karmada.io/v1alpha1" in sim.req("host", "/openapi/v3")[2]["paths"],
      "host has the Karmada CRDs in openapi")

# ---- writes
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "web", "image": "nginx:1.25.3",
                                "resources": {"requests": {"cpu": "100m"}}}]}}
st, _, p = sim.req(A, "/api/v1/namespaces/default/pods", "POST", pod)
check(st == 201 and p["status"] == {"phase": "Pending", "qosClass": "Burstable"} and
      p["spec"]["dnsPolicy"] == "ClusterFirst" and len(p["spec"]["tolerations"]) == 2 and
      p["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent" and
      p["metadata"]["managedFields"][0]["manager"] == "simtest", "pod create defaults %s" % p)
check(list(p.keys()) == ["kind", "apiVersion", "metadata", "spec", "status"], "field order")
st, _, body = sim.req(A, "/api/v1/namespaces/default/pods", "POST", pod)
check(st == 409 and body["reason"] == "AlreadyExists" and
      body["message"] == 'pods "web-0" already exists', "409 AlreadyExists")
st, _, body = sim.req(A, "/api/v1/namespaces/nope/configmaps", "POST",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
check(st == 404 and body["message"] == 'namespaces "nope" not found', "missing ns 404 %s" % body)
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps", "POST",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})
check(st == 422 and body["reason"] == "Invalid" and body["details"]["causes"][0]["field"] ==
      "metadata.name", "422 bad name %s" % body)
st, _, body = sim.req(A, "/api/v1/namespaces/default/pods", "POST",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
check(st == 400, "kind mismatch 400")
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps", "POST",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}})
check(st == 400 and "does not match the namespace" in body["message"], "ns mismatch 400")
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "POST",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "bogus": 1})
check(st == 400 and 'unknown field "bogus"' in body["message"], "strict 400 %s" % body)
st, _, body = sim.req(A, "/api/v1/namespaces/default/pods?dryRun=All", "POST",
                      dict(pod, metadata={"name": "dry"}))
check(st == 201 and "resourceVersion" not in body["metadata"] and body["metadata"].get("uid"), "dry run")
check(sim.req(A, "/api/v1/namespaces/default/pods/dry")[0] == 404, "dry run stores nothing")
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps", "POST",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}})
check(st == 201 and body["metadata"]["name"].startswith("gen-") and len(body["metadata"]["name"]) == 9,
      "generateName")

dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
       "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25.3"}]}}}}
st, _, d = sim.req(A, "/apis/apps/v1/namespaces/default/deployments", "POST", dep)
check(st == 201 and d["status"] == {} and d["metadata"]["generation"] == 1 and
      d["spec"]["revisionHistoryLimit"] == 10 and d["spec"]["strategy"]["type"] == "RollingUpdate",
      "deployment defaults")
rv = d["metadata"]["resourceVersion"]
d["metadata"]["labels"] = {"x": "1"}
st, _, d2 = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web", "PUT", d)
check(st == 200 and d2["metadata"]["generation"] == 1 and int(d2["metadata"]["resourceVersion"]) > int(rv),
      "metadata-only update keeps generation")
st, _, body = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web", "PUT", d)
check(st == 409 and body["reason"] == "Conflict", "stale rv PUT -> 409")
st, _, body = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web/scale", "PATCH",
                      {"spec": {"replicas": 5}}, ctype="application/merge-patch+json")
check(st == 200 and body["kind"] == "Scale" and body["spec"]["replicas"] == 5 and
      body["status"]["selector"] == "app=web", "scale patch %s" % body)
st, _, d3 = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web")
check(d3["spec"]["replicas"] == 5 and d3["metadata"]["generation"] == 2 and d3["status"] == {},
      "scale bumps generation, status untouched")
st, _, body = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web", "PATCH",
                      {"spec": {"replicas": 1}}, ctype="application/json")
check(st == 415, "PATCH with application/json -> 415")
st, _, body = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web", "PATCH",
                      {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}},
                      ctype="application/merge-patch+json")
check(st == 409, "merge patch with stale rv -> 409")
st, _, body = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web/status", "PATCH",
                      {"status": {"replicas": 5}, "spec": {"replicas": 9}},
                      ctype="application/merge-patch+json")
check(st == 200 and body["status"]["replicas"] == 5 and body["spec"]["replicas"] == 5,
      "status patch changes status only")

# ---- delete semantics
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps", "POST",
                      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "to-delete"}})
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps/to-delete", "DELETE")
check(st == 200 and body["kind"] == "Status" and body["status"] == "Success" and
      body["details"]["kind"] == "configmaps", "delete -> Status Success")
st, _, body = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web", "DELETE",
                      {"propagationPolicy": "Foreground"})
check(st == 200 and body["metadata"]["finalizers"] == ["foregroundDeletion"] and
      body["metadata"].get("deletionTimestamp"), "foreground delete leaves finalizer")
st, _, body = sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web", "PATCH",
                      [{"op": "remove", "path": "/metadata/finalizers"}],
                      ctype="application/json-patch+json")
check(sim.req(A, "/apis/apps/v1/namespaces/default/deployments/web")[0] == 404,
      "removing the last finalizer deletes")
st, _, body = sim.req(A, "/api/v1/namespaces/default/pods/web-0/binding", "POST",
                      {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web-0"},
                       "target": {"apiVersion": "v1", "kind": "Node", "name": "east-1-node-1"}})
check(st == 201, "binding 201")
st, _, body = sim.req(A, "/api/v1/namespaces/default/pods/web-0", "DELETE")
check(st == 200 and body["metadata"].get("deletionTimestamp") and
      body["metadata"]["deletionGracePeriodSeconds"] == 30, "bound pod goes Terminating")
check(sim.req(A, "/api/v1/namespaces/default/pods/web-0")[0] == 200, "terminating pod stays")
st, _, body = sim.req(A, "/api/v1/namespaces/default/pods/web-0?gracePeriodSeconds=0", "DELETE")
check(sim.req(A, "/api/v1/namespaces/default/pods/web-0")[0] == 404, "force delete removes it")

# ---- lists: paging over a consistent snapshot
for i in range(6):
    sim.req(A, "/api/v1/namespaces/default/configmaps", "POST",
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "cm-%d" % i, "labels": {"idx": str(i), "grp": "a" if i < 3 else "b"}}})
st, _, p1 = sim.req(A, "/api/v1/namespaces/default/configmaps?limit=2&labelSelector=grp")
tok = p1["metadata"]["continue"]
t = b64url_json(tok)
check(t["v"] == "meta.k8s.io/v1" and t["rv"] == int(p1["metadata"]["resourceVersion"]) and
      t["start"] == "default/cm-1\x00", "continue token format %s" % t)
check(p1["metadata"]["remainingItemCount"] == 4, "remainingItemCount")
sim.req(A, "/api/v1/namespaces/default/configmaps/cm-3", "DELETE")
st, _, p2 = sim.req(A, "/api/v1/namespaces/default/configmaps?limit=2&labelSelector=grp&continue=" + tok)
check([i["metadata"]["name"] for i in p2["items"]] == ["cm-2", "cm-3"] and
      p2["metadata"]["resourceVersion"] == p1["metadata"]["resourceVersion"], "page 2 from snapshot")
st, _, p3 = sim.req(A, "/api/v1/namespaces/default/configmaps?limit=2&labelSelector=grp&continue=" +
                    p2["metadata"]["continue"])
check([i["metadata"]["name"] for i in p3["items"]] == ["cm-4", "cm-5"] and
      "continue" not in p3["metadata"], "last page")
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps?limit=2&continue=garbage")
check(st == 400, "malformed continue -> 400")
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps?limit=2&resourceVersion=5&continue=" + tok)
check(st == 400, "continue with rv -> 400")
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps?limit=2&resourceVersion=0")
check(st == 200 and "continue" not in body["metadata"] and len(body["items"]) > 2, "rv=0 ignores limit")
st, _, body = sim.req(A, "/api/v1/pods?resourceVersionMatch=Exact")
check(st == 422, "rvMatch without rv -> 422")
st, _, body = sim.req(A, "/api/v1/pods?resourceVersion=999999")
check(st == 504 and body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge", "too large rv 504")
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps?labelSelector=idx+in+(1,4)&fieldSelector=metadata.name!=cm-1")
check([i["metadata"]["name"] for i in body["items"]] == ["cm-4"], "label + field selector")
st, _, body = sim.req(A, "/api/v1/pods?labelSelector=a%20b")
check(st == 400, "bad selector 400")
st, _, body = sim.req(A, "/api/v1/pods?fieldSelector=spec.bogus=1")
check(st == 400 and "field label not supported" in body["message"], "unsupported field 400")
# Table
st, _, body = sim.req(A, "/api/v1/namespaces", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
check(st == 200 and body["kind"] == "Table" and [c["name"] for c in body["columnDefinitions"]] ==
      ["Name", "Status", "Age"] and len(body["rows"]) == 4, "namespace Table")

# ---- history window: writes push the old snapshot out -> 410 with an inconsistent token
for i in range(45):
    sim.req(A, "/api/v1/namespaces/default/configmaps/cm-0", "PATCH", {"data": {"n": str(i)}},
            ctype="application/merge-patch+json")
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps?limit=2&continue=" + tok)
check(st == 410 and body["reason"] == "Expired" and b64url_json(body["metadata"]["continue"])["rv"] == -1,
      "expired continue -> 410 with rv -1 token %s" % body)
st, _, body = sim.req(A, "/api/v1/namespaces/default/configmaps?limit=2&continue=" + body["metadata"]["continue"])
check(st == 200 and body["items"][0]["metadata"]["name"] == "cm-2", "inconsistent continue works")
st, _, body = sim.req(A, "/api/v1/pods?resourceVersion=2&resourceVersionMatch=Exact")
check(st == 410 and body["message"] == "The resourceVersion for the provided list is too old.", "exact too old 410")

# ---- watch
st, ev = sim.watch(A, "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&timeoutSeconds=2")
check(st == 200 and len(ev) == 1 and ev[0]["type"] == "ERROR" and ev[0]["object"]["code"] == 410 and
      ev[0]["object"]["message"].startswith("too old resource version: 1 ("), "too-old watch %s" % ev[:1])
st, _, lst = sim.req(A, "/api/v1/namespaces/default/configmaps")
lrv = lst["metadata"]["resourceVersion"]


def writer():
    time.sleep(0.4)
    sim.req(A, "/api/v1/namespaces/default/configmaps", "POST",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sel-1", "labels": {"app": "sel"}}})
    sim.req(A, "/api/v1/namespaces/default/configmaps/sel-1", "PATCH",
            {"metadata": {"labels": {"app": "other"}}}, ctype="application/merge-patch+json")
    sim.req(A, "/api/v1/namespaces/default/configmaps/sel-1", "PATCH",
            {"data": {"k": "v"}}, ctype="application/merge-patch+json")
    sim.req(A, "/api/v1/namespaces/default/configmaps/sel-1", "PATCH",
            {"metadata": {"labels": {"app": "sel"}}}, ctype="application/merge-patch+json")
    sim.req(A, "/api/v1/namespaces/default/configmaps/sel-1", "DELETE")


th = threading.Thread(target=writer)
th.start()
t0 = time.time()
st, ev = sim.watch(A, "/api/v1/namespaces/default/configmaps?watch=true&labelSelector=app%3Dsel"
                      "&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=" + lrv)
th.join()
types = [e["type"] for e in ev if e["type"] != "BOOKMARK"]
check(types == ["ADDED", "DELETED", "ADDED", "DELETED"], "enter/leave events %s" % types)
bms = [e for e in ev if e["type"] == "BOOKMARK"]
check(len(bms) == 1 and bms[0]["object"]["kind"] == "ConfigMap" and
      bms[0]["object"]["metadata"]["creationTimestamp"] is None, "one bookmark before the deadline %s" % bms)
check(2.5 < time.time() - t0 < 5, "timeoutSeconds ends the watch")
# resume from the list rv replays exactly those events (no selector: 5 events)
st, ev = sim.watch(A, "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=" + lrv)
check([e["type"] for e in ev] == ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"], "resume %s" % [e["type"] for e in ev])
st, ev = sim.watch(A, "/api/v1/namespaces?watch=true&timeoutSeconds=1")
check([e["type"] for e in ev] == ["ADDED"] * 4 and "kind" in ev[0]["object"], "rv unset: initial ADDED")
st, ev = sim.watch(A, "/api/v1/namespaces?watch=true&timeoutSeconds=1&sendInitialEvents=true"
                      "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
check([e["type"] for e in ev][:5] == ["ADDED"] * 4 + ["BOOKMARK"] and
      ev[4]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"},
      "initial events end bookmark")
st, ev = sim.watch(A, "/api/v1/nodes?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Deast-1-node-2")
check(len(ev) == 1 and ev[0]["object"]["metadata"]["name"] == "east-1-node-2", "field selector watch")

# ---- CRDs: served as soon as created, CR lists carry kind and continue ""
crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
st, _, body = sim.req(B, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "POST", crd)
check(st == 201 and body["status"]["conditions"][1]["type"] == "Established", "CRD created")
st, _, body = sim.req(B, "/apis/example.com/v1/namespaces/default/widgets", "POST",
                      {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "gizmo"}, "spec": {"size": 3}})
check(st == 201 and body["metadata"]["generation"] == 1, "CR created")
st, _, body = sim.req(B, "/apis/example.com/v1/namespaces/default/widgets")
check(st == 200 and body["items"][0]["kind"] == "Widget" and body["metadata"]["continue"] == "", "CR list")
st, _, body = sim.req(B, "/apis/example.com/v1/namespaces/default/widgets/gizmo", "PATCH", {"spec": {"size": 4}},
                      ctype="application/strategic-merge-patch+json")
check(st == 415, "strategic patch on CR -> 415")
check(sim.req(A, "/apis/example.com/v1/namespaces/default/widgets")[0] == 404, "CRDs are per cluster")
st, _, body = sim.req(B, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com", "DELETE")
check(st == 200, "CRD delete %s" % st)
st, _, body = sim.req(B, "/apis/example.com/v1/namespaces/default/widgets")
check(st == 404, "CRD deleted: its resources are no longer served (%s)" % st)
st, _, body = sim.req(B, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "POST", crd)
st, _, body = sim.req(B, "/apis/example.com/v1/namespaces/default/widgets")
check(st == 200 and body["items"] == [], "re-created CRD serves an empty collection %s" % body)
st, _, body = sim.req("host", "/apis/policy.karmada.io/v1alpha1/propagationpolicies")
check(st == 200 and body["kind"] == "PropagationPolicyList", "host serves Karmada CRs")

# ---- resourceVersions only grow, per cluster
rva = int(sim.req(A, "/api/v1/namespaces")[2]["metadata"]["resourceVersion"])
rvb = int(sim.req(B, "/api/v1/namespaces")[2]["metadata"]["resourceVersion"])
check(rva > rvb, "separate counters per cluster (%d vs %d)" % (rva, rvb))
sim.stop()

# ---- --prefix: one port, clusters under /clusters/<name>
ps = Sim("--clusters", "2", "--prefix")
u1, u2 = ps.clusters["east-1"], ps.clusters["east-2"]
check(u1.endswith("/clusters/east-1") and u1.rsplit("/clusters", 1)[0] == u2.rsplit("/clusters", 1)[0],
      "prefix URLs %s %s" % (u1, u2))
st, _, body = ps.req("east-2", "/api/v1/nodes")
check(st == 200 and body["items"][0]["metadata"]["name"].startswith("east-2-node-"), "prefix list")
st, _, body = ps.req("east-2", "/api/v1/nodes", token=ps.token("east-1"))
check(st == 401, "prefix mode token isolation (%s)" % st)
# a watch still open at SIGTERM: the sim ends it and exits cleanly
wt = threading.Thread(target=lambda: ps.watch("east-1", "/api/v1/pods?watch=true&timeoutSeconds=30"))
wt.start()
time.sleep(0.5)
ps.stop()
wt.join(10)
check(not wt.is_alive(), "open watch ended by shutdown")
done()
