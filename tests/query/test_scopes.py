#!/usr/bin/python3
"""tests/query/test_scopes.py: scopes are compiled into the index query and
leak nothing (#19.2). `flotilla sim` (2 clusters, no controllers) gets pods
in namespaces team (label team=a) and other (team=payments) in both
clusters; `flotilla serve` runs with one scope (team-a: east-1, namespace
team, pods), auth.adminGroups [ops] and a dead member. Checks:
  - system:masters and an adminGroups member are unrestricted (no scope
    entry names them);
  - a scoped user's pages are full (limit=1: one item a page, as many pages
    as objects in scope) and its continue tokens are opaque (no object name
    inside, even base64-decoded);
  - a token only works for the user, resource, path and query it was made
    for (else 400);
  - no token oracle: a selector that only matches outside the scope gives
    an empty list without a continue token;
  - a cluster outside the scope answers exactly as an unknown one, a type
    outside it exactly as an unknown type; a namespace outside it is 403
    (list, get and watch);
  - collectionresources lists only types in scope;
  - the not-ready Warning names only clusters in scope;
  - the list resourceVersion a scoped user sees moves only when objects in
    its scope change (changes elsewhere in the fleet do not show);
  - a scoped user gets no remainingItemCount (kube sends none when it
    cannot count exactly);
  - owner lookups only resolve owners inside the scope (an owner outside it
    is as one that does not exist).
Needs FLOTILLA_BIN (tests/meson.build).
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import FAILS, check, free_port, wait, sim_token, stop_procs  # noqa: E402
from testlib import start_sim  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]
PREFIX = "/apis/clusterpedia.io/v1beta1/resources"
PROCS = []
TEAM, ADMIN, OPS = "team-a-token", None, "ops-token"


def http(url, token=None, method="GET", body=None, timeout=10):
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def items(base, path, token):
    st, body, _ = http(base + PREFIX + path, token)
    return json.loads(body).get("items", []) if st == 200 else None


def fill(d, clusters):
    for c, url in clusters.items():
        tok = sim_token(d, c)
        for ns in ("team", "other"):
            http(url + "/api/v1/namespaces", tok, "POST",
                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for i in range(3):
            http(url + "/api/v1/namespaces/team/pods", tok, "POST", pod("a-%d" % i, "team", "a"))
        for i in range(6):
            http(url + "/api/v1/namespaces/other/pods", tok, "POST",
                 pod("secretive-%d" % i, "other", "payments"))


def pod(name, ns, team):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"team": team}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}


def config(d):
    dead = os.path.join(d, "dead.kubeconfig")
    with open(dead, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n"
                "  cluster: {server: \"http://127.0.0.1:%d\"}\nusers:\n- name: u\n  user: {}\n"
                "contexts:\n- name: c\n  context: {cluster: c, user: u}\n" % free_port())
    with open(os.path.join(d, "tokens.csv"), "a") as f:
        f.write('\n%s,alice,"team-a"\n%s,olga,"ops"\n' % (TEAM, OPS))
    src = open(os.path.join(d, "flotilla.yaml")).read()
    port = free_port()
    src = src.replace("listen: 127.0.0.1:7443", "listen: 127.0.0.1:%d" % port)
    src = src.replace("dataDir: ./flotilla-data", "dataDir: %s/data" % d)
    src = src.replace("  tokensFile: tokens.csv\n", "  tokensFile: tokens.csv\n"
                      "  adminGroups: [ops]\n  scopes:\n"
                      "  - {group: team-a, clusters: [east-1, dead-1], namespaces: [team], "
                      "resources: [pods]}\n")
    src = src.replace("members:\n", "members:\n- name: dead-1\n  kubeconfig: %s\n" % dead)
    path = os.path.join(d, "scopes.yaml")
    with open(path, "w") as f:
        f.write(src)
    return path, "http://127.0.0.1:%d" % port


def pages(base, path, token, limit=1):
    """Every page of a list: (number of pages, items, tokens)."""
    got, toks, n, cont = [], [], 0, None
    while n < 100:
        q = "limit=%d" % limit + ("&continue=" + urllib.parse.quote(cont) if cont else "")
        st, body, _ = http(base + PREFIX + path + ("&" if "?" in path else "?") + q, token)
        if st != 200:
            return None, got, toks
        b = json.loads(body)
        n += 1
        got += b["items"]
        cont = b["metadata"].get("continue")
        if not cont:
            break
        toks.append(cont)
    return n, got, toks


def b64_any(tok):
    t = tok.replace(".", "")
    return base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))


def test_scopes(d, base):
    admin = ADMIN
    ok = wait(lambda: len(items(base, "/api/v1/pods", admin) or []) == 18, 30, 0.2)
    check(ok, "admin (system:masters, no scope entry) sees all 18 pods")
    check(len(items(base, "/api/v1/pods", OPS) or []) == 18, "adminGroups member sees all")
    # full pages, opaque tokens
    n, got, toks = pages(base, "/api/v1/pods", TEAM)
    names = sorted(i["metadata"]["name"] for i in got)
    check(n == 3 and names == ["a-0", "a-1", "a-2"] and
          all(i["metadata"]["annotations"].get("shadow.clusterpedia.io/cluster-name",
                                                "east-1") == "east-1" for i in got),
          "team-a: 3 full pages of 1: %s %s" % (n, names))
    for t in toks:
        raw = b64_any(t)
        check(not any(w in raw for w in (b"a-0", b"a-1", b"team", b"east")),
              "token opaque: %r" % raw[:60])
    # tokens are bound
    _, _, atoks = pages(base, "/api/v1/pods", admin)
    tok = urllib.parse.quote(toks[0])
    for who, path in ((admin, "/api/v1/pods?limit=1&continue=" + tok),
                      (TEAM, "/api/v1/pods?limit=1&labelSelector=team%3Da&continue=" + tok),
                      (TEAM, "/clusters/east-1/api/v1/pods?limit=1&continue=" + tok),
                      (admin, "/apis/apps/v1/deployments?limit=1&continue=" +
                       urllib.parse.quote(atoks[0])),
                      (TEAM, "/api/v1/pods?limit=1&continue=" + urllib.parse.quote(atoks[0]))):
        st, body, _ = http(base + PREFIX + path, who)
        check(st == 400, "token used elsewhere: 400: %s %s %s" % (path[:60], st, body[:120]))
    st, body, _ = http(base + PREFIX + "/api/v1/pods?limit=1&continue=" + tok, TEAM)
    check(st == 200, "token where it belongs: %s" % st)
    # no oracle
    st, body, _ = http(base + PREFIX + "/api/v1/pods?limit=1&labelSelector=team%3Dpayments", TEAM)
    b = json.loads(body)
    check(st == 200 and b["items"] == [] and not b["metadata"].get("continue"),
          "selector matching outside the scope: empty, no token: %s" % b.get("metadata"))
    # clusters outside the scope answer as unknown ones
    for p in ("/api/v1", "/api/v1/pods", "/api/v1/namespaces/team/pods", "/apis",
              "/api/v1/namespaces/team/pods/a-0", "/apis/apps/v1/deployments"):
        a = http(base + PREFIX + "/clusters/east-2" + p, TEAM)
        u = http(base + PREFIX + "/clusters/nope-9" + p, TEAM)
        check((a[0], a[1].replace(b"east-2", b"X")) == (u[0], u[1].replace(b"nope-9", b"X")),
              "east-2 as unknown for team-a %s: %s %s / %s %s" % (p, a[0], a[1][:100], u[0],
                                                                   u[1][:100]))
    # types outside the scope answer as unknown ones
    for p in ("/apis/apps/v1/deployments", "/api/v1/secrets", "/api/v1/namespaces/team/configmaps"):
        a = http(base + PREFIX + p, TEAM)
        u = http(base + PREFIX + p.replace("deployments", "nothings").replace(
            "secrets", "nothings").replace("configmaps", "nothings"), TEAM)
        check(a[0] == 404 and a[0] == u[0], "type outside the scope %s: %s vs %s" % (p, a[0], u[0]))
    st, body, _ = http(base + PREFIX + "/api/v1", TEAM)
    res = [r["name"] for r in json.loads(body).get("resources", [])] if st == 200 else []
    check(res and all(r == "pods" or r.startswith("pods/") for r in res),
          "discovery lists only types in scope: %s" % res)
    # namespaces outside the scope: 403
    for p in ("/api/v1/namespaces/other/pods", "/api/v1/namespaces/other/pods/secretive-1",
              "/api/v1/namespaces/other/pods?watch=1&timeoutSeconds=2"):
        st, body, _ = http(base + PREFIX + p, TEAM)
        check(st == 403 and b"secretive" not in body.replace(b"secretive-1\"", b""),
              "namespace outside the scope %s: %s" % (p, st))
    # collectionresources: only types in scope
    st, body, _ = http(base + "/apis/clusterpedia.io/v1beta1/collectionresources/kuberesources"
                       "?limit=1", TEAM)
    b = json.loads(body) if st == 200 else {}
    types = [t["resource"] for t in b.get("resourceTypes", [])]
    check(st == 200 and types == ["pods"] and len(b["items"]) == 1,
          "collectionresources for team-a: %s %s" % (st, types))
    # Warnings only for clusters in scope: dead-1 is in team-a's, east-2 never is
    wait(lambda: "dead-1" in str(http(base + PREFIX + "/api/v1/pods", admin)[2]), 30, 0.3)
    _, _, h = http(base + PREFIX + "/api/v1/pods", TEAM)
    w = " ".join(v for k, v in h.items() if k.lower() == "warning")
    check("east-2" not in w, "no warning about clusters outside the scope: %s" % w)


def rv_of(base, path, token):
    st, body, _ = http(base + PREFIX + path, token)
    return json.loads(body)["metadata"].get("resourceVersion") if st == 200 else None


def test_leaks(d, base, clusters):
    admin = ADMIN
    tok1, tok2 = sim_token(d, "east-1"), sim_token(d, "east-2")
    rv_team, rv_admin = rv_of(base, "/api/v1/pods", TEAM), rv_of(base, "/api/v1/pods", admin)
    http(clusters["east-2"] + "/api/v1/namespaces/other/pods", tok2, "POST",
         pod("churn-0", "other", "payments"))
    ok = wait(lambda: rv_of(base, "/api/v1/pods", admin) != rv_admin, 30, 0.2)
    rv_team2 = rv_of(base, "/api/v1/pods", TEAM)
    check(ok and rv_team2 == rv_team,
          "a change outside the scope leaves the scoped list revision: %s -> %s" % (rv_team, rv_team2))
    http(clusters["east-1"] + "/api/v1/namespaces/team/pods", tok1, "POST", pod("a-9", "team", "a"))
    ok = wait(lambda: rv_of(base, "/api/v1/pods", TEAM) != rv_team, 30, 0.2)
    check(ok, "a change inside the scope moves the scoped list revision")
    st, body, _ = http(base + PREFIX + "/api/v1/pods?limit=1", TEAM)
    md = json.loads(body)["metadata"] if st == 200 else {}
    check(st == 200 and md.get("continue") and "remainingItemCount" not in md,
          "scoped list: no remainingItemCount: %s %s" % (st, md))
    # owner lookups: an in-scope pod owned by a pod outside the scope
    st, body, _ = http(base + PREFIX + "/clusters/east-1/api/v1/namespaces/other/pods/secretive-0",
                       admin)
    uid = json.loads(body)["metadata"]["uid"] if st == 200 else "none"
    child = pod("child-0", "team", "a")
    child["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": "secretive-0",
                                             "uid": uid, "controller": True}]
    http(clusters["east-1"] + "/api/v1/namespaces/team/pods", tok1, "POST", child)
    q = "/api/v1/pods?ownerName=secretive-0"
    ok = wait(lambda: [p["metadata"]["name"] for p in items(base, q, admin) or []] == ["child-0"],
              30, 0.2)
    check(ok, "admin: ownerName finds the child: %s" % items(base, q, admin))
    got = items(base, q, TEAM)
    check(got == [], "scoped user: an owner outside the scope matches nothing: %s" %
          [p["metadata"]["name"] for p in got or []])
    q = "/api/v1/pods?ownerName=a-0"
    check(items(base, q, TEAM) == [], "scoped user: owner lookup in scope still answers")


def main():
    global ADMIN
    d = tempfile.mkdtemp(prefix="flotilla-scopes-")
    try:
        p, clusters = start_sim(BIN, d, "--clusters", "2", "--no-controllers")
        PROCS.append(p)
        fill(d, clusters)
        ADMIN = open(os.path.join(d, "tokens.csv")).readline().split(",")[0]
        path, base = config(d)
        log = open(os.path.join(d, "serve.log"), "w")
        PROCS.append(subprocess.Popen([BIN, "serve", "-c", path], stdout=log, stderr=log))
        for _ in range(100):
            try:
                if http(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        test_scopes(d, base)
        test_leaks(d, base, clusters)
    finally:
        stop_procs(PROCS)
        if FAILS:
            sys.stderr.write(open(os.path.join(d, "serve.log")).read()[-3000:])
        shutil.rmtree(d, ignore_errors=True)
    print("%d failure(s)" % len(FAILS), file=sys.stderr)
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
