#!/usr/bin/python3
"""tests/query/test_query.py: the search API end to end. Starts `flotilla sim`
(2 clusters), fills it with pods and deployments, runs `flotilla serve` on it
and drives it with Debian's kubectl (a kubeconfig per prefix: all clusters,
and /clusters/east-1) and urllib: discovery/api-resources, get -A, -l,
--field-selector (list fields, numeric), -o json|yaml|jsonpath|wide,
--chunk-size, get <kind> <name> with a cluster in the path, search labels
and parameters, pagination under churn (unchanged objects exactly once),
tampered continue tokens (400), hostile parameters (400, no effect), and
auth on a second daemon (no token / wrong token 401, scopes, 403).
Needs FLOTILLA_BIN (tests/meson.build).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import (FAILS, check, free_port, kubeconfig, kubectl, serve_sim_config,  # noqa: E402
                     sim_token, stop_procs)
from testlib import start_sim as testlib_start_sim  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]
PREFIX = "/apis/clusterpedia.io/v1beta1/resources"
PROCS = []
SERVES = []


def start_sim(d):
    p, clusters = testlib_start_sim(BIN, d, "--clusters", "2", "--no-controllers")
    PROCS.append(p)
    return clusters


def http(method, url, body=None, token=None, headers=None):
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)





def reversed_members(src):
    """members in reverse name order: kubectl get clusters must still sort by name"""
    head, rest = src.split("members:\n", 1)
    members, tail = rest.split("sync:\n", 1)
    blocks = ["- name:" + b for b in members.split("- name:")[1:]]
    return head + "members:\n" + "".join(reversed(blocks)) + "sync:\n" + tail


def start_serve(d, name, extra_auth):
    base, p = serve_sim_config(BIN, d, name, extra_auth, edit=reversed_members)
    PROCS.append(p)
    SERVES.append(p)
    return base





def pod(name, ns, labels, image="nginx:1.25", prio=None, owner=None):
    spec = {"containers": [{"name": "c", "image": image}, {"name": "side", "image": "envoy:1"}]}
    if prio is not None:
        spec["priority"] = prio
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec}
    if owner:
        p["metadata"]["ownerReferences"] = [owner]
    return p


def owner_ref(kind, api, obj):
    return {"apiVersion": api, "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def fill(d, clusters):
    for c, url in clusters.items():
        tok = sim_token(d, c)
        http("POST", url + "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": "team"}}, tok)
        for i in range(20):
            img = "nginx:1.25" if i % 2 == 0 else "redis:7"
            st, body, _ = http("POST", url + "/api/v1/namespaces/default/pods",
                               pod("web-%02d" % i, "default", {"app": "web", "idx": str(i)},
                                   img, i), tok)
            check(st == 201, "create pod in %s: %s %s" % (c, st, body[:200]))
        st, body, _ = http("POST", url + "/apis/apps/v1/namespaces/team/deployments",
                           {"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "db", "labels": {"app": "db"}},
                            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                                     "template": {"metadata": {"labels": {"app": "db"}},
                                                  "spec": {"containers": [
                                                      {"name": "c", "image": "postgres:16"}]}}}},
                           tok)
        check(st == 201, "create deployment: %s" % st)
        dep = json.loads(body)
        st, body, _ = http("POST", url + "/apis/apps/v1/namespaces/team/replicasets",
                           {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                            "metadata": {"name": "db-5f7d", "labels": {"app": "db"},
                                         "ownerReferences": [owner_ref("Deployment", "apps/v1",
                                                                       dep)]},
                            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "db"}},
                                     "template": {"metadata": {"labels": {"app": "db"}},
                                                  "spec": {"containers": [
                                                      {"name": "c", "image": "postgres:16"}]}}}},
                           tok)
        check(st == 201, "create replicaset: %s %s" % (st, body[:200]))
        rs = json.loads(body)
        for i in range(3):
            http("POST", url + "/api/v1/namespaces/team/pods",
                 pod("db-%d" % i, "team", {"app": "db"}, "postgres:16",
                     owner=owner_ref("ReplicaSet", "apps/v1", rs)), tok)
        http("POST", url + "/api/v1/namespaces/team/secrets",
             {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw"},
              "data": {"password": "aHVudGVyMg=="}, "stringData": {"x": "y"}}, tok)


def wait_count(base, want):
    n = -1
    for _ in range(100):
        st, body, _ = http("GET", base + PREFIX + "/api/v1/pods")
        if st == 200:
            n = len(json.loads(body)["items"])
            if n >= want:
                return n
        time.sleep(0.1)
    return n


def test_kubectl(d, base):
    kc = kubeconfig(d, "all", base + PREFIX)
    kc1 = kubeconfig(d, "east1", base + PREFIX + "/clusters/east-1")
    rc, out, err = kubectl(kc, "api-resources")
    check(rc == 0 and "pods" in out and "deployments" in out, "api-resources: " + err + out[:300])
    rc, out, err = kubectl(kc, "api-resources", "-o", "wide")
    bad = [l for l in out.split("\n")[1:] if l.strip() and "get,list,watch" not in l.split()]
    check(rc == 0 and out.count("get,list,watch") >= 5 and not bad,
          "api-resources advertises only get, list, watch: %s %s" % (err, bad[:5]))
    rc, out, err = kubectl(kc, "get", "pod", "nosuch", "-n", "default")
    check(rc != 0 and "NotFound" in err and "exists in" not in err,
          "no namespace warning before a NotFound: " + out + err)
    for _ in range(50):  # the first health probe may still be running
        rc, out, err = kubectl(kc, "get", "clusters")
        rows = [l.split() for l in out.strip().split("\n")]
        if rc == 0 and len(rows) == 3 and all("True" in r for r in rows[1:]):
            break
        time.sleep(0.2)
    check(rc == 0 and rows[0][:4] == ["NAME", "VERSION", "MODE", "READY"] and
          [r[0] for r in rows[1:]] == ["east-1", "east-2"] and
          all("True" in r for r in rows[1:]), "get clusters: " + out + err)
    check(rows[0][-1] == "AGE" and all(re.fullmatch(r"\d+[smhd]\S*", r[-1]) for r in rows[1:]),
          "get clusters AGE (creationTimestamp): " + out)
    rc, out, err = kubectl(kc, "get", "cluster", "east-2", "-o", "jsonpath={.spec.zone}")
    check(rc == 0 and out == "east-b", "get cluster east-2 zone: " + out + err)
    rc, out, err = kubectl(kc, "explain", "deployments.spec.replicas")
    check(rc == 0 and "replicas" in out and "Number of desired pods" in out,
          "kubectl explain (OpenAPI v3, upstream's descriptions): " + out[:200] + err[:300])
    rc, out, err = kubectl(kc, "explain", "pods.spec")
    check(rc == 0 and "PodSpec is a description of a pod" in out and "nodeName" in out,
          "kubectl explain pods.spec with descriptions: " + out[:200] + err[:300])
    rc, out, err = kubectl(kc, "get", "pods", "-A")
    lines = out.strip().split("\n")
    check(rc == 0 and lines[0].split()[:3] == ["NAMESPACE", "CLUSTER", "NAME"],
          "get pods -A header: %r %s" % (lines[:1], err))
    check(len(lines) == 1 + 46, "get pods -A rows: %d" % len(lines))
    rc, out, err = kubectl(kc, "get", "pods", "-A", "-l", "app=db", "-o", "wide")
    check(rc == 0 and len(out.strip().split("\n")) == 7, "-l app=db: " + out + err)
    rc, out, err = kubectl(kc, "get", "pods", "-A", "--field-selector",
                           "spec.containers[].image=redis:7", "-o", "json")
    items = json.loads(out)["items"] if rc == 0 else []
    check(len(items) == 20, "field selector list field: %d %s" % (len(items), err))
    check(all(i["metadata"]["annotations"].get("shadow.clusterpedia.io/cluster-name")
              for i in items), "cluster annotation")
    rc, out, err = kubectl(kc, "get", "pods", "-A", "--field-selector", "spec.priority>15",
                           "-o", "jsonpath={.items[*].metadata.name}")
    check(rc == 0 and sorted(out.split()) == sorted(["web-%02d" % i for i in (16, 17, 18, 19)] * 2),
          "numeric field selector: " + out + err)
    rc, out, err = kubectl(kc, "get", "pods", "-n", "team", "-o", "yaml")
    check(rc == 0 and out.count("kind: Pod\n") == 6, "-o yaml: " + err)
    rc, out, err = kubectl(kc, "get", "pods", "-A", "--chunk-size", "7", "-o", "name")
    check(rc == 0 and len(out.split()) == 46 and len(set(out.split())) == 23,
          "--chunk-size 7: %d %s" % (len(out.split()), err))
    rc, out, err = kubectl(kc1, "get", "pod", "web-03", "-o", "json")
    check(rc == 0 and json.loads(out)["metadata"]["annotations"][
        "shadow.clusterpedia.io/cluster-name"] == "east-1", "get pod by name: " + err)
    rc, out, err = kubectl(kc1, "get", "pods", "-A")
    check(rc == 0 and len(out.strip().split("\n")) == 24 and "east-2" not in out,
          "cluster prefix list: " + err)
    rc, out, err = kubectl(kc1, "get", "pod", "nope")
    check(rc != 0 and "not found" in err, "get missing pod: " + err)
    rc, out, err = kubectl(kc, "get", "deploy", "-A", "-l",
                           "search.clusterpedia.io/clusters notin (east-1)")
    check(rc == 0 and "east-2" in out and "east-1" not in out, "clusters notin: " + out + err)
    rc, out, err = kubectl(kc, "get", "pods", "-A", "-l",
                           "internalstorage.clusterpedia.io/fuzzy-name=db")
    check(rc == 0 and len(out.strip().split("\n")) == 7, "fuzzy-name: " + out + err)


def test_secrets(base):
    st, body, _ = http("GET", base + PREFIX + "/api/v1/secrets")
    items = json.loads(body)["items"] if st == 200 else []
    check(len(items) == 2 and all("data" not in i and "stringData" not in i for i in items)
          and b"aHVudGVyMg" not in body, "secrets without data: %s %s" % (st, body[:300]))
    st, body, _ = http("GET", base + PREFIX + "/clusters/east-1/api/v1/namespaces/team/secrets/pw")
    check(st == 200 and b"aHVudGVyMg" not in body, "secret GET without data: %s" % st)


def names(base, q):
    st, body, _ = http("GET", base + PREFIX + "/api/v1/pods?" + q)
    return st, json.loads(body)


def test_params(base):
    st, b = names(base, "clusters=east-2&namespaces=team")
    check(st == 200 and len(b["items"]) == 3, "clusters=&namespaces= params: %s" % st)
    st, b = names(base, "labelSelector=" + urllib.parse.quote("search.clusterpedia.io/size=5,app=web"))
    check(st == 200 and len(b["items"]) == 5 and b["metadata"].get("continue"),
          "size synonym: %s %s" % (st, b.get("metadata")))
    st, b = names(base, "limit=5&withRemainingCount=true")
    check(st == 200 and b["metadata"].get("remainingItemCount") == 41, "remaining count %s"
          % b.get("metadata"))
    tok = b["metadata"]["continue"]
    bad = tok[:-3] + ("AAA" if tok[-3:] != "AAA" else "BBB")
    st, b = names(base, "limit=5&continue=" + urllib.parse.quote(bad))
    check(st == 400 and b.get("kind") == "Status", "tampered token: %s" % st)
    st, b = names(base, "limit=5&withRemainingCount=true&continue=" + urllib.parse.quote(tok))
    check(st == 200 and len(b["items"]) == 5 and b["metadata"].get("remainingItemCount") == 36,
          "good token: %s %s" % (st, b.get("metadata")))


GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "07-semantics")


def golden(name):
    with open(os.path.join(GOLDEN, name + ".json")) as f:
        return json.load(f)


def test_semantics(base):
    """Parameter validation as kube-apiserver v1.26 answers it (k8s-golden 07-semantics)."""
    url = base + PREFIX + "/api/v1/namespaces/team/pods?"
    for name, q in (("list-resourceversion-not-a-number-400", "resourceVersion=abc"),
                    ("list-resourceversionmatch-exact-without-rv-400", "resourceVersionMatch=Exact")):
        want = golden(name)["response"]
        st, body, _ = http("GET", url + q)
        b = json.loads(body)
        check(st == want["status"] and b.get("code") == want["body"]["code"] and
              b.get("message") == want["body"]["message"] and
              b.get("reason") == want["body"].get("reason"),
              "%s: %s %s" % (name, st, body[:300]))
    for name, path in (("list-unknown-field-selector-configmaps-400",
                        "/api/v1/namespaces/team/configmaps?fieldSelector=foo%3Dbar"),
                       ("list-unknown-field-selector-pods-400", "/api/v1/pods?fieldSelector=spec.bogus%3D1")):
        want = golden(name)["response"]
        st, body, _ = http("GET", base + PREFIX + path)
        b = json.loads(body)
        check(st == want["status"] and b.get("message") == want["body"]["message"] and
              b.get("reason") == want["body"]["reason"], "%s: %s %s" % (name, st, body[:300]))
    want = golden("list-pods-supported-field-selector")["response"]
    for fs in ("status.phase%3DPending,spec.nodeName%3D", "metadata.labels.app%3Dweb",
               "spec.containers[].ports[].containerPort%3D80", "metadata.namespace%21%3Dx"):
        st, body, _ = http("GET", base + PREFIX + "/api/v1/pods?limit=1&fieldSelector=" + fs)
        check(st == want["status"] and json.loads(body)["kind"] == want["body"]["kind"],
              "field selector on a schema path %s: %s %s" % (fs, st, body[:300]))
    # list items carry no kind/apiVersion; unfiltered pages count what remains
    want = golden("list-pages-are-a-snapshot")["response"]["body"]
    st, b = names(base, "limit=5")
    check(st == 200 and b["metadata"].get("remainingItemCount") == 41 and
          "remainingItemCount" in want[0]["metadata"] and
          all("kind" not in i and "apiVersion" not in i and i["metadata"]["name"] for i in b["items"]),
          "unfiltered page: %s %s" % (b.get("metadata"), b.get("items", [{}])[0].keys()))
    st, b = names(base, "limit=5&labelSelector=app%3Dweb")
    check(st == 200 and "remainingItemCount" not in b["metadata"], "labelled page: %s" % b["metadata"])
    # resourceVersionMatch=Exact: the current revision is served, an older one as it was
    # (golden list-resourceversionmatch-exact; 410 once the change log forgot it: query_gone),
    # a future one 504
    for _ in range(10):  # the revision may move between the two requests: try again
        st, b = names(base, "limit=1")
        cur = int(b["metadata"]["resourceVersion"])
        st, b = names(base, "limit=1&resourceVersionMatch=Exact&resourceVersion=%d" % cur)
        if st == 200:
            break
    check(st == 200 and b["metadata"]["resourceVersion"] == str(cur) and len(b["items"]) == 1,
          "Exact at the current revision: %s %s" % (st, b.get("metadata")))
    want = golden("list-resourceversionmatch-exact")["response"]
    st, b = names(base, "limit=1&resourceVersionMatch=Exact&resourceVersion=1")
    check(st == want["status"] and b["metadata"]["resourceVersion"] == "1" and
          all(int(i["metadata"]["resourceVersion"]) <= 1 for i in b["items"]),
          "Exact at an old revision: %s %s" % (st, b))
    st, b = names(base, "limit=1&resourceVersionMatch=Exact&resourceVersion=%d" % (cur + 10**9))
    check(st == 504, "Exact at a future revision: %s %s" % (st, b))
    st, body, _ = http("GET", url + "resourceVersion=0&resourceVersionMatch=NotOlderThan")
    check(st == 200, "resourceVersionMatch=NotOlderThan with resourceVersion=0: %s" % st)
    # watch=maybe is a watch (Go's bool conversion): the stream stays open
    req = urllib.request.Request(url + "watch=maybe&limit=1")
    t0 = time.time()
    try:
        with urllib.request.urlopen(req, timeout=3) as r:
            first = r.readline()
            r.read()
        check(False, "watch=maybe ended: %s" % first[:200])
    except OSError:  # the read timed out: a watch, as the golden's stream_still_open_after
        check(time.time() - t0 >= 2.5, "watch=maybe failed fast")
    # a watch from a future resourceVersion: 200, no events, ends at timeoutSeconds
    want = golden("watch-future-resourceversion")["response"]
    t0 = time.time()
    st, body, _ = http("GET", url + "watch=true&resourceVersion=100000000&timeoutSeconds=2")
    el = time.time() - t0
    check(st == want["status"] and body.decode() == want["body"] and el >= 1.5,
          "watch from a future resourceVersion: %s %r %.1fs" % (st, body[:200], el))


def key(i):
    return (i["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"],
            i["metadata"]["namespace"], i["metadata"]["name"])


def test_owner(base):
    dep_uid = None
    st2, body, _ = http("GET", base + PREFIX + "/clusters/east-1/apis/apps/v1/namespaces/team/"
                        "deployments/db")
    if check(st2 == 200, "get deployment db: %s" % st2):
        dep_uid = json.loads(body)["metadata"]["uid"]
    st, b = names(base, "ownerUID=%s&ownerSeniority=1" % dep_uid)
    check(st == 200 and sorted(key(i) for i in b["items"]) ==
          [("east-1", "team", "db-%d" % i) for i in range(3)],
          "ownerUID + ownerSeniority=1 (Deployment -> Pods): %s %s" % (st, b.get("items", b)))
    st, b = names(base, "labelSelector=" + urllib.parse.quote(
        "search.clusterpedia.io/owner-name=db,search.clusterpedia.io/owner-seniority=1"))
    check(st == 200 and sorted(key(i) for i in b["items"]) ==
          sorted((c, "team", "db-%d" % i) for c in ("east-1", "east-2") for i in range(3)),
          "owner-name=db seniority 1 across clusters: %s %d" % (st, len(b.get("items", []))))
    st, b = names(base, "clusters=east-2&ownerName=db&ownerSeniority=1&ownerGR=deployments.apps")
    check(st == 200 and sorted(key(i) for i in b["items"]) ==
          [("east-2", "team", "db-%d" % i) for i in range(3)], "ownerGR deployments.apps: %s" % st)
    st, b = names(base, "ownerName=db&ownerSeniority=1&ownerGR=replicasets.apps")
    check(st == 200 and b["items"] == [], "ownerGR replicasets.apps (no RS named db): %s" % st)
    st, b = names(base, "ownerName=db-5f7d&namespaces=team")
    check(st == 200 and len(b["items"]) == 6, "ownerName = the ReplicaSet, seniority 0: %s" % st)
    st, b = names(base, "ownerName=db")
    check(st == 200 and b["items"] == [], "ownerName=db seniority 0: pods are not children")
    st, body, _ = http("GET", base + PREFIX + "/apis/apps/v1/replicasets?ownerName=db")
    check(st == 200 and len(json.loads(body)["items"]) == 2, "replicasets owned by db: %s" % st)
    st, b = names(base, "ownerName=nothing-here&ownerSeniority=2")
    check(st == 200 and b["items"] == [], "unknown owner: nothing")


def test_orderby(d, base):
    st, b = names(base, "limit=1000")
    allk = [key(i) for i in b["items"]]
    want = sorted(allk, key=lambda k: (k[1], k[2], k[0]))
    want = sorted(want, key=lambda k: k[2], reverse=True)  # stable: ties keep key order
    got, cont, pages = [], "", 0
    for _ in range(30):
        st, b = names(base, "orderby=" + urllib.parse.quote("name desc") +
                      "&limit=7&withRemainingCount=true" +
                      ("&continue=" + urllib.parse.quote(cont) if cont else ""))
        if not check(st == 200, "orderby page: %s %s" % (st, b)):
            break
        if pages == 0:
            check(b["metadata"].get("remainingItemCount") == len(allk) - 7,
                  "ordered remainingItemCount: %s" % b["metadata"])
            first_token = b["metadata"].get("continue")
        pages += 1
        got += [key(i) for i in b["items"]]
        cont = b["metadata"].get("continue", "")
        if not cont:
            break
    check(got == want, "orderby=name desc paged:\n%s\n%s" % (got[:10], want[:10]))
    st, b = names(base, "orderby=namespace&limit=7&continue=" + urllib.parse.quote(first_token))
    check(st == 400, "token of another orderby: %s" % st)
    st, b = names(base, "orderby=cluster,namespace%20desc,name&limit=1000")
    got = [key(i) for i in b["items"]]
    want = sorted(sorted(allk, key=lambda k: k[2]), key=lambda k: k[1], reverse=True)
    want = sorted(want, key=lambda k: k[0])
    check(st == 200 and got == want, "orderby=cluster,namespace desc,name")
    kc = os.path.join(d, "all.kc")
    rc, out, err = kubectl(kc, "get", "pods", "-n", "team", "--chunk-size", "2", "-o", "name",
                           "-l", "search.clusterpedia.io/orderby in (name_desc,cluster)")
    got = out.split()  # label values arrive sorted (labels.Parse): cluster, then name_desc
    check(rc == 0 and got == ["pod/db-2", "pod/db-1", "pod/db-0"] * 2,
          "kubectl -l orderby in (name_desc,cluster) --chunk-size 2: %s %s" % (got, err))
    rc, out, err = kubectl(kc, "get", "pods", "-n", "team", "-l",
                           "search.clusterpedia.io/orderby=created_at", "-o", "name")
    check(rc == 0 and len(out.split()) == 6, "orderby=created_at: %s %s" % (out, err))
    rc, out, err = kubectl(kc, "get", "pods", "-A", "-l", "app=web,search.clusterpedia.io/orderby"
                           " in (name_desc,namespace)", "--chunk-size", "3")
    rows = [l.split()[:3] for l in out.strip().split("\n")[1:]]
    want = [["default", c, "web-%02d" % i] for i in range(19, -1, -1) for c in ("east-1", "east-2")]
    check(rc == 0 and rows == want, "kubectl table, orderby name desc, chunks of 3: %s %s"
          % (rows[:4], err))


def test_openapi(base):
    """kube-apiserver's OpenAPI v3 caching (k8s-golden 02-openapi)."""
    import http.client
    u = urllib.parse.urlparse(base)

    def get(path, headers=None):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body, {k.lower(): v for k, v in r.getheaders()}
    st, body, _ = get(PREFIX + "/clusters/east-1/openapi/v3")
    paths = json.loads(body)["paths"] if st == 200 else {}
    url = paths.get("api/v1", {}).get("serverRelativeURL", "")
    check(url.startswith(PREFIX + "/clusters/east-1/openapi/v3/api/v1?hash="), "index url: " + url)
    h = url.split("hash=")[-1]
    st, body, hd = get(url)
    check(st == 200 and hd.get("etag") == '"%s"' % h and hd.get("cache-control") ==
          "public, immutable" and hd.get("expires", "").endswith("UTC") and
          json.loads(body).get("openapi", "").startswith("3."), "doc with hash: %s %s" % (st, hd))
    st, body, hd = get(url, {"If-None-Match": '"%s"' % h})
    check(st == 304 and body == b"", "If-None-Match: 304 (got %s)" % st)
    st, body, hd = get(url.split("?")[0] + "?hash=0000")
    check(st == 301 and hd.get("location") == url and b"Moved Permanently" in body,
          "stale hash: 301 to the current one: %s %s" % (st, hd.get("location")))
    st, body, hd = get(url.split("?")[0])
    check(st == 200 and "immutable" not in hd.get("cache-control", ""), "no hash: not immutable")
    st, body, hd = get(PREFIX + "/openapi/v3/apis/nope.example.com/v1")
    check(st == 404 and body == b"", "unknown gv: 404 empty: %s" % st)
    # /openapi/v2: one Swagger 2.0 JSON document of the same types (older kubectl's explain)
    st, body, hd = get(PREFIX + "/clusters/east-1/openapi/v2", {"Accept": "application/json"})
    doc = json.loads(body) if st == 200 else {}
    check(st == 200 and doc.get("swagger") == "2.0" and
          "io.k8s.api.core.v1.Pod" in doc.get("definitions", {}),
          "openapi/v2: swagger 2.0 with the Pod definition: %s" % st)
    st, body, hd = get(PREFIX + "/openapi/v2",
                       {"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    check(st == 406 and b'"NotAcceptable"' in body, "openapi/v2 protobuf only: 406 (%s)" % st)
    return get


def test_openapi_follows_types(d, base, clusters, get):
    """A type that appears in a cluster's index appears in its OpenAPI
    index (the cached documents follow the served types)."""
    st, body, _ = get(PREFIX + "/clusters/east-1/openapi/v3")
    check(st == 200 and "apis/batch/v1" not in json.loads(body)["paths"], "no jobs in east-1 yet")
    st = http("POST", clusters["east-1"] + "/apis/batch/v1/namespaces/team/jobs",
              {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                   {"name": "c", "image": "busybox"}]}}}}, sim_token(d, "east-1"))[0]
    check(st == 201, "create job: %s" % st)
    for _ in range(50):
        st, body, _ = get(PREFIX + "/clusters/east-1/openapi/v3")
        if st == 200 and "apis/batch/v1" in json.loads(body)["paths"]:
            break
        time.sleep(0.1)
    check("apis/batch/v1" in json.loads(body)["paths"], "batch/v1 listed once a job is indexed")


def test_collections(base):
    cp = "/apis/clusterpedia.io/v1beta1/collectionresources"
    st, body, _ = http("GET", base + cp)
    check(st == 200 and [i["metadata"]["name"] for i in json.loads(body)["items"]] ==
          ["workloads", "kuberesources", "any"], "collectionresources list: %s" % st)
    st, body, _ = http("GET", base + cp + "/workloads")
    b = json.loads(body)
    check(st == 200 and [i["kind"] for i in b["items"]] == ["Deployment", "Deployment"] and
          {"group": "apps", "version": "v1", "kind": "Deployment", "resource": "deployments"}
          in b["resourceTypes"], "workloads: %s %s" % (st, body[:300]))
    seen, cont = [], ""
    for _ in range(50):
        st, body, _ = http("GET", base + cp + "/any?resources=apps/deployments,pods&limit=5"
                           + ("&continue=" + urllib.parse.quote(cont) if cont else ""))
        if not check(st == 200, "any page: %s %s" % (st, body[:200])):
            break
        b = json.loads(body)
        seen += [(i["kind"], i["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"],
                  i["metadata"]["namespace"], i["metadata"]["name"]) for i in b["items"]]
        cont = b["metadata"].get("continue", "")
        if not cont:
            break
    check(len(seen) == len(set(seen)) and sum(1 for s in seen if s[0] == "Pod") == 46 and
          sum(1 for s in seen if s[0] == "Deployment") == 2, "any paged: %d" % len(seen))
    st, body, _ = http("GET", base + cp + "/kuberesources?clusters=east-1&limit=1000")
    kinds = {i["kind"] for i in json.loads(body)["items"]}
    check(st == 200 and {"Pod", "Deployment", "Namespace"} <= kinds, "kuberesources: %s" % kinds)
    check(http("GET", base + cp + "/nope")[0] == 404, "unknown collection 404")


def test_hostile(base):
    huge = ",".join("k%d=v" % i for i in range(300))
    bad = ["labelSelector=" + urllib.parse.quote("a in ("), "labelSelector=" + urllib.parse.quote(huge),
           "fieldSelector=" + urllib.parse.quote("a=b=c"), "limit=-1", "limit=x",
           "since=" + urllib.parse.quote("'; DROP TABLE objects; --"),
           "labelSelector=" + urllib.parse.quote("search.clusterpedia.io/orderby=bogus"),
           "orderby=" + urllib.parse.quote("name sideways"), "ownerSeniority=-1",
           "labelSelector=" + urllib.parse.quote("search.clusterpedia.io/owner-seniority=x"),
           "continue=" + urllib.parse.quote("1' OR '1'='1")]
    for q in bad:
        st, body, _ = http("GET", base + PREFIX + "/api/v1/pods?" + q)
        check(st == 400 and b'"kind":"Status"' in body.replace(b" ", b""), "hostile %s: %s" % (q[:60], st))
    inj = ["names=" + urllib.parse.quote("x' OR 1=1 --"), "clusters=" + urllib.parse.quote("\";DELETE"),
           "labelSelector=" + urllib.parse.quote("app=x"), "namespaces=" + urllib.parse.quote("%'")]
    for q in inj:
        st, body, _ = http("GET", base + PREFIX + "/api/v1/pods?" + q)
        check(st in (200, 400) and (st == 400 or json.loads(body)["items"] == []),
              "injection %s: %s" % (q, st))
    for p in ["/api/v1/namespaces/x/pods/y/z/w", "/apis/none/v1/things", "//api", "/api/v1/pods/x",
              "/clusters/BAD_NAME/api/v1/pods"]:
        st, _, _ = http("GET", base + PREFIX + p)
        check(st in (400, 404), "invalid path %s: %s" % (p, st))
    # #19.4: a NUL or bad escape in any parameter is a 400, never a dropped filter
    for q in ("labelSelector=app%3Dx%00y", "fieldSelector=metadata.name%3Dx%00",
              "clusters=east-1%00", "labelSelector=app%3Dweb%zz", "names=a%00"):
        st, body, _ = http("GET", base + PREFIX + "/api/v1/pods?" + q)
        check(st == 400 and b'"kind":"Status"' in body.replace(b" ", b""), "NUL %s: %s" % (q, st))
    many = "app in (%s)" % ",".join("v%d" % i for i in range(300))
    st, body, _ = http("GET", base + PREFIX + "/api/v1/pods?labelSelector=" + urllib.parse.quote(many))
    check(st == 400 and b"at most 256" in body, "300 label values: the limit named: %s %s"
          % (st, body[:200]))
    t0 = time.time()
    req = urllib.request.Request(base + PREFIX + "/api/v1/pods?watch=1&timeoutSeconds=9300000000000000")
    ended = None
    try:
        with urllib.request.urlopen(req, timeout=1.5) as r:
            r.read()  # the initial events, then (with the bug) EOF at once
            ended = True
    except OSError as e:  # the read timed out: the watch is still open
        ended = "timed out" not in str(e)
    check(ended is False and time.time() - t0 >= 1.4,
          "huge timeoutSeconds does not end the watch: %s %.1fs" % (ended, time.time() - t0))
    check(wait_count(base, 46) == 46, "still 46 pods after hostile requests")
    st, body, _ = http("GET", base + PREFIX + "/api/v1/pods?labelSelector=" + urllib.parse.quote("app=web"))
    check(st == 200 and len(json.loads(body)["items"]) == 40, "other requests unaffected")


def test_churn(d, base, clusters, extra=""):
    """Page with limit=4 while another thread updates and creates pods; the
    unchanged web-* pods must each appear exactly once (keyset pages, and
    with extra="&orderby=...", pages of an ordered list)."""
    stop = threading.Event()
    url = clusters["east-1"]
    tok = sim_token(d, "east-1")

    def churn():
        i = 1000 if extra else 0
        while not stop.is_set():
            http("POST", url + "/api/v1/namespaces/team/pods",
                 pod("churn-%d" % i, "team", {"app": "churn"}), tok)
            http("DELETE", url + "/api/v1/namespaces/team/pods/churn-%d" % (i - 1), None, tok)
            i += 1
    t = threading.Thread(target=churn)
    t.start()
    seen = []
    cont = ""
    try:
        for _ in range(100):
            st, b = names(base, "limit=4&continue=" + urllib.parse.quote(cont) + extra)
            if not check(st == 200, "churn page %s" % st):
                break
            seen += [(i["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"],
                      i["metadata"]["namespace"], i["metadata"]["name"]) for i in b["items"]]
            cont = b["metadata"].get("continue", "")
            time.sleep(0.02)
            if not cont:
                break
    finally:
        stop.set()
        t.join()
    stable = [s for s in seen if not s[2].startswith("churn-")]
    check(len(stable) == 46 and len(set(stable)) == 46, "churn%s: %d stable, %d unique"
          % (extra, len(stable), len(set(stable))))


def test_watch(d, base, clusters):
    st, b = names(base, "limit=1")
    rv = b["metadata"]["resourceVersion"]
    url = clusters["east-2"]
    tok = sim_token(d, "east-2")
    req = urllib.request.Request(base + PREFIX + "/api/v1/namespaces/team/pods?watch=1&resourceVersion="
                                 + rv + "&timeoutSeconds=3")
    events = []

    def reader():
        with urllib.request.urlopen(req, timeout=10) as r:
            for line in r:
                events.append(json.loads(line))
    t = threading.Thread(target=reader)
    t.start()
    kc = os.path.join(d, "all.kc")
    kw = subprocess.Popen(["kubectl", "--kubeconfig", kc, "get", "pods", "-n", "team", "-w"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    http("POST", url + "/api/v1/namespaces/team/pods", pod("watched", "team", {"app": "w"}), tok)
    http("POST", url + "/api/v1/namespaces/default/pods", pod("elsewhere", "default", {"app": "w"}), tok)
    t.join()
    time.sleep(0.5)
    kw.terminate()
    out, err = kw.communicate(timeout=10)
    got = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    check(("ADDED", "watched") in got and not any(n == "elsewhere" for _, n in got),
          "watch events: %s" % got)
    check("watched" in out and "CLUSTER" in out, "kubectl get -w: %s %s" % (out, err))
    last = events[-1]["object"]["metadata"]["resourceVersion"] if events else rv
    st, body, _ = http("GET", base + PREFIX + "/api/v1/pods?watch=1&timeoutSeconds=1&resourceVersion="
                       + last)
    check(st == 200 and b"watched" not in body, "watch resume after last event: %s" % body[:300])
    st, body, _ = http("GET", base + PREFIX + "/api/v1/pods?watch=1&timeoutSeconds=1&resourceVersion=x")
    check(st == 400, "watch bad resourceVersion: %s" % st)


def test_auth(d, clusters):
    with open(os.path.join(d, "tokens.csv"), "a") as f:
        f.write('\nteam-a-token,alice,"team-a"\nnobody-token,bob,"nobody"\n')
    scopes = ("  scopes:\n"
              "  - {group: system:masters, clusters: [\"*\"], namespaces: [\"*\"], resources: [\"*\"]}\n"
              "  - {group: team-a, clusters: [east-1], namespaces: [team], resources: [pods]}\n")
    base = start_serve(d, "auth", scopes)
    admin = open(os.path.join(d, "tokens.csv")).readline().split(",")[0]
    u = base + PREFIX + "/api/v1/pods"
    check(http("GET", u)[0] == 401, "no token: 401")
    check(http("GET", u, token="wrong")[0] == 401, "wrong token: 401")
    for _ in range(100):
        st, body, _ = http("GET", u, token=admin)
        if st == 200 and len(json.loads(body)["items"]) >= 46:
            break
        time.sleep(0.1)
    check(st == 200 and len(json.loads(body)["items"]) >= 46, "admin sees all: %s" % st)
    st, body, _ = http("GET", u, token="team-a-token")
    items = json.loads(body).get("items", []) if st == 200 else None
    items = [i for i in items or [] if not i["metadata"]["name"].startswith("churn-")]
    check(items is not None and len(items) == 3 and all(
        i["metadata"]["namespace"] == "team" for i in items), "team-a scope: %s %s" % (st, items and len(items)))
    st, body, _ = http("GET", base + PREFIX + "/apis/apps/v1/deployments", token="team-a-token")
    check(st == 404, "team-a: deployments are outside the scope, as unknown: %s" % st)
    check(http("GET", u, token="nobody-token")[0] == 403, "no scope: 403")
    # the daemon's member status follows the same scopes
    st, body, _ = http("GET", base + "/api/v1/clusters", token="team-a-token")
    check(st == 200 and [c["name"] for c in json.loads(body)["clusters"]] == ["east-1"],
          "/api/v1/clusters for team-a: %s %s" % (st, body[:200]))
    st, body, _ = http("GET", base + "/api/v1/clusters/east-2", token="team-a-token")
    check(st == 404, "/api/v1/clusters/east-2 for team-a: %s" % st)
    st, body, _ = http("GET", base + "/api/v1/clusters", token=admin)
    check(st == 200 and len(json.loads(body)["clusters"]) == 2, "/api/v1/clusters for admin")
    check(http("GET", base + "/api/v1/clusters")[0] == 401, "/api/v1/clusters without token: 401")


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_certs(d):
    """A CA, a server cert for 127.0.0.1 and a client cert CN=carol O=system:masters;
    mallory's (same subject) from another CA."""
    c = lambda n: os.path.join(d, n)
    for ca in ("ca", "evil"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", c(ca + ".key"), "-out",
                c(ca + ".pem"), "-days", "1", "-subj", "/CN=query-test-" + ca)
    for name, subj, ext, ca in (
            ("srv", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1", "ca"),
            ("cli", "/CN=carol/O=system:masters", "extendedKeyUsage=clientAuth", "ca"),
            ("mal", "/CN=carol/O=system:masters", "extendedKeyUsage=clientAuth", "evil")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", c(name + ".key"), "-out",
                c(name + ".csr"), "-subj", subj)
        with open(c(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", c(name + ".csr"), "-CA", c(ca + ".pem"), "-CAkey",
                c(ca + ".key"), "-CAcreateserial", "-out", c(name + ".crt"), "-days", "1",
                "-extfile", c(name + ".ext"))


def test_tls(d):
    import ssl
    make_certs(d)
    src = open(os.path.join(d, "flotilla.yaml")).read()
    port = free_port()
    src = src.replace("listen: 127.0.0.1:7443", "listen: 127.0.0.1:%d\ntls: {cert: %s, key: %s, "
                      "clientCA: %s}" % (port, os.path.join(d, "srv.crt"), os.path.join(d, "srv.key"),
                                         os.path.join(d, "ca.pem")))
    src = src.replace("  tokensFile: tokens.csv\n", "  tokensFile: tokens.csv\n  anonymousLoopback: true\n")
    src = src.replace("dataDir: ./flotilla-data", "dataDir: ./data-tls")
    path = os.path.join(d, "tls.yaml")
    with open(path, "w") as f:
        f.write(src)
    log = open(os.path.join(d, "tls.log"), "w")
    p = subprocess.Popen([BIN, "serve", "-c", path], stdout=log, stderr=log)
    PROCS.append(p)
    SERVES.append(p)
    base = "https://127.0.0.1:%d" % port
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    cctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    cctx.load_cert_chain(os.path.join(d, "cli.crt"), os.path.join(d, "cli.key"))
    mctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    mctx.load_cert_chain(os.path.join(d, "mal.crt"), os.path.join(d, "mal.key"))

    def get(url, context):
        try:
            with urllib.request.urlopen(url, context=context, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            return 0, b""
    for _ in range(100):
        if get(base + "/healthz", ctx)[0] == 200:
            break
        time.sleep(0.1)
    check(get(base + PREFIX + "/api/v1/pods", ctx)[0] == 200,
          "tls without cert or token from loopback: anonymous (anonymousLoopback)")
    # #19.4: a certificate from another CA is refused, never made anonymous
    check(get(base + PREFIX + "/api/v1/pods", mctx)[0] == 401, "tls with a wrong-CA cert: 401")
    for _ in range(100):
        st, body = get(base + PREFIX + "/api/v1/pods", cctx)
        if st == 200 and len(json.loads(body)["items"]) >= 46:
            break
        time.sleep(0.1)
    check(st == 200 and len(json.loads(body)["items"]) >= 46, "client cert carol: %s" % st)
    kc = os.path.join(d, "tls.kc")
    with open(kc, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n"
                "  cluster: {server: \"%s%s\", certificate-authority: %s}\nusers:\n- name: u\n"
                "  user: {client-certificate: %s, client-key: %s}\ncontexts:\n- name: c\n"
                "  context: {cluster: c, user: u}\n" % (base, PREFIX, os.path.join(d, "ca.pem"),
                                                        os.path.join(d, "cli.crt"),
                                                        os.path.join(d, "cli.key")))
    rc, out, err = kubectl(kc, "get", "deploy", "-A")
    check(rc == 0 and "east-1" in out and "east-2" in out, "kubectl with client cert: " + out + err)
    if "carol" not in open(os.path.join(d, "tls.log")).read():
        check(False, "access log names the cert user")


def main():
    d = tempfile.mkdtemp(prefix="flotilla-query-")
    try:
        clusters = start_sim(d)
        fill(d, clusters)
        base = start_serve(d, "main", "  anonymousLoopback: true\n")
        check(wait_count(base, 46) == 46, "46 pods synced")
        test_kubectl(d, base)
        test_params(base)
        test_semantics(base)
        test_owner(base)
        test_orderby(d, base)
        get = test_openapi(base)
        test_openapi_follows_types(d, base, clusters, get)
        test_secrets(base)
        test_collections(base)
        test_hostile(base)
        test_churn(d, base, clusters)
        test_churn(d, base, clusters, "&orderby=" + urllib.parse.quote("name desc,cluster"))
        test_watch(d, base, clusters)
        test_auth(d, clusters)
        test_tls(d)
    finally:
        stop_procs(PROCS)
        for p in SERVES:
            check(p.returncode == 0, "serve exit status %s (sanitizer report in its log?)"
                  % p.returncode)
        if FAILS:
            for f in os.listdir(d):
                if f.endswith(".log"):
                    sys.stderr.write("--- %s\n%s\n" % (f, open(os.path.join(d, f)).read()[-3000:]))
        shutil.rmtree(d, ignore_errors=True)
    print("%d failure(s)" % len(FAILS), file=sys.stderr)
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
