#!/usr/bin/python3
"""tests/query/test_sql.py: the SQL-like language end to end.
Starts `flotilla sim` (3 clusters, no controllers), writes a fleet with known
answers (per cluster: nodes n1 Ready / n2 NotReady, four team-a pods with
requests and set phases, a default pod, deployments front (nginx:1.25, east-1
only) and cache (redis:7)), runs `flotilla serve` on it and checks:
the issue's four queries verbatim with their known answers (POST /query and
`flotilla query -o json|csv|table|yaml`, --plan), errors with line:column and
suggestions, injection through literals and identifiers, deep nesting, a 1 MB
query, a cartesian join (row cap), a query that never ends (time budget)
without slowing another request, and scoping (a scoped user's counts equal
the counts over their namespaces; objects / WITH DELETED admin-only).
Needs FLOTILLA_BIN (tests/meson.build).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import FAILS, check, serve_sim_config, sim_token, stop_procs  # noqa: E402
from testlib import start_sim as testlib_start_sim  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]
PROCS = []
SERVES = []

Q1 = """SELECT cluster, namespace, name, status.phase, spec.nodeName FROM pods
WHERE labels.app = 'web' AND cluster IN ('east-1', 'west-1') AND status.phase != 'Running'
ORDER BY metadata.creationTimestamp DESC LIMIT 50;"""
Q2 = """SELECT cluster, count(*), sum(requests.cpu), sum(requests.memory) FROM pods
WHERE namespace = 'team-a' GROUP BY cluster;"""
Q3 = """SELECT p.cluster, p.name, n.name FROM pods p JOIN nodes n ON p.cluster = n.cluster AND p.node = n.name
WHERE n.ready = false;"""
Q4 = """SELECT cluster, namespace, name FROM deployments WHERE MATCH('nginx:1.2');"""


def http(method, url, body=None, token=None, timeout=30):
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def start_serve(d, name, extra_auth, extra=""):
    base, p = serve_sim_config(BIN, d, name, extra_auth, extra)
    PROCS.append(p)
    SERVES.append(p)
    return base


def put_status(url, path, obj, status, tok):
    st, body = http("POST", url + path, obj, tok)
    check(st == 201, "create %s: %s %s" % (path, st, body[:200]))
    cur = json.loads(body)
    cur["status"] = status
    name = cur["metadata"]["name"]
    st, body = http("PUT", url + path + "/" + name + "/status", cur, tok)
    check(st == 200, "status of %s/%s: %s %s" % (path, name, st, body[:200]))


def node(name, ready):
    return ({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}},
            {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
             "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
             "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"}})


def pod(name, ns, node_name, phase, image="nginx:1.25"):
    return ({"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
             "spec": {"nodeName": node_name, "containers": [{
                 "name": "c", "image": image,
                 "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}]}},
            {"phase": phase})


def deployment(name, image):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


PHASES = ["Running", "Pending", "Running", "Failed"]


def fill(d, clusters):
    for c, url in clusters.items():
        tok = sim_token(d, c)
        for ns in ("team-a",):
            http("POST", url + "/api/v1/namespaces",
                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, tok)
        for n, ready in (("n1", True), ("n2", False)):
            obj, status = node(n, ready)
            put_status(url, "/api/v1/nodes", obj, status, tok)
        for i, phase in enumerate(PHASES):
            obj, status = pod("a-%d" % i, "team-a", "n1" if i < 2 else "n2", phase)
            put_status(url, "/api/v1/namespaces/team-a/pods", obj, status, tok)
        obj, status = pod("d-0", "default", "n1", "Running", "busybox:1")
        if c == "east-1":
            # the owner chain: Deployment front -> ReplicaSet front-1 -> Pod d-0
            st, body = http("POST", url + "/apis/apps/v1/namespaces/default/deployments",
                            deployment("front", "nginx:1.25"), tok)
            check(st == 201, "create front")
            dep = json.loads(body)
            rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": {"name": "front-1", "ownerReferences": [{
                      "apiVersion": "apps/v1", "kind": "Deployment", "name": "front",
                      "uid": dep["metadata"]["uid"], "controller": True}]},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "front"}},
                           "template": dep["spec"]["template"]}}
            st, body = http("POST", url + "/apis/apps/v1/namespaces/default/replicasets", rs, tok)
            check(st == 201, "create front-1: %s %s" % (st, body[:200]))
            obj["metadata"]["ownerReferences"] = [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "front-1",
                "uid": json.loads(body)["metadata"]["uid"], "controller": True}]
        put_status(url, "/api/v1/namespaces/default/pods", obj, status, tok)
        st, _ = http("POST", url + "/apis/apps/v1/namespaces/default/deployments",
                     deployment("cache", "redis:7"), tok)
        check(st == 201, "create cache in %s" % c)


def q(base, sql, params=None, token=None, plan=False, timeout=30):
    body = {"sql": sql}
    if params is not None:
        body["params"] = params
    if plan:
        body["plan"] = True
    st, raw = http("POST", base + "/query", body, token, timeout)
    try:
        return st, json.loads(raw)
    except ValueError:
        return st, {"raw": raw[:300]}


def wait_synced(base, token=None):
    want = {"pods": 15, "nodes": 6, "deployments": 4, "replicasets": 1}
    got = {}
    for _ in range(300):
        ok = True
        for res, n in want.items():
            st, doc = q(base, "SELECT count(*) FROM %s" % res, token=token)
            got[res] = doc.get("rows") if st == 200 else (st, doc)
            ok = ok and st == 200 and doc["rows"] == [[n]]
        # the status writes land after the creates: wait for the last phase
        st, doc = q(base, "SELECT count(*) FROM pods WHERE phase = 'Failed'", token=token)
        ok = ok and st == 200 and doc["rows"] == [[3]]
        st, doc = q(base, "SELECT count(*) FROM nodes WHERE ready = false", token=token)
        ok = ok and st == 200 and doc["rows"] == [[3]]
        if ok:
            return True
        time.sleep(0.2)
    check(False, "fleet synced: %s" % got)
    return False


def test_issue_queries(base, d):
    st, doc = q(base, Q1)
    check(st == 200, "Q1: %s %s" % (st, doc))
    rows = doc.get("rows", [])
    check(doc.get("columns") == ["cluster", "namespace", "name", "status.phase", "spec.nodeName"],
          "Q1 columns: %s" % doc.get("columns"))
    check(sorted(rows) == sorted([[c, "team-a", n, ph, nd] for c in ("east-1", "west-1")
                                  for n, ph, nd in (("a-1", "Pending", "n1"),
                                                    ("a-3", "Failed", "n2"))]),
          "Q1 rows: %s" % rows)
    check(doc.get("truncated") is False and doc.get("revision", 0) > 0, "Q1 truncated/revision")

    st, doc = q(base, Q2)
    check(st == 200 and sorted(doc.get("rows", [])) == [[c, 4, "1", "1Gi"] for c in
                                                        ("east-1", "east-2", "west-1")],
          "Q2 rows (exact quantity sums, canonical): %s %s" % (st, doc))
    check(doc.get("columns") == ["cluster", "count(*)", "sum(requests.cpu)",
                                 "sum(requests.memory)"], "Q2 columns %s" % doc.get("columns"))

    st, doc = q(base, Q3)
    check(st == 200 and sorted(doc.get("rows", [])) == sorted(
        [[c, p, "n2"] for c in ("east-1", "east-2", "west-1") for p in ("a-2", "a-3")]),
        "Q3 rows: %s %s" % (st, doc))

    st, doc = q(base, Q4)
    check(st == 200 and doc.get("rows") == [["east-1", "default", "front"]],
          "Q4 rows: %s %s" % (st, doc))

    # the CLI, every output format, and --plan
    env = dict(os.environ, FLOTILLA_SERVER=base)
    out = subprocess.run([BIN, "query", "-o", "json", Q2], capture_output=True, text=True,
                         env=env, timeout=60)
    check(out.returncode == 0 and len(json.loads(out.stdout or "{}").get("rows", [])) == 3,
          "flotilla query -o json: %s %s" % (out.returncode, out.stderr))
    out = subprocess.run([BIN, "query", "-o", "csv", Q4], capture_output=True, text=True,
                         env=env, timeout=60)
    check(out.stdout == "cluster,namespace,name\neast-1,default,front\n",
          "flotilla query -o csv: %r %s" % (out.stdout, out.stderr))
    out = subprocess.run([BIN, "query", Q4], capture_output=True, text=True, env=env, timeout=60)
    check(out.stdout.split("\n")[0].split() == ["cluster", "namespace", "name"] and
          "front" in out.stdout, "flotilla query table: %r" % out.stdout)
    out = subprocess.run([BIN, "query", "-o", "yaml", Q4], capture_output=True, text=True,
                         env=env, timeout=60)
    check(out.stdout.startswith('- "cluster": "east-1"'), "yaml: %r" % out.stdout)
    out = subprocess.run([BIN, "query", "--plan", Q1], capture_output=True, text=True,
                         env=env, timeout=60)
    check(out.returncode == 0 and "pods.phase (materialized column)" in out.stdout and
          "labels (indexed side table)" in out.stdout and "Plan:" in out.stdout,
          "--plan: %s %s" % (out.stdout, out.stderr))
    out = subprocess.run([BIN, "query", "-p", "team-a", "-p", "2",
                          "SELECT name FROM pods WHERE namespace = $1 AND phase = 'Running' "
                          "ORDER BY name LIMIT $2"],
                         capture_output=True, text=True, env=env, timeout=60)
    check(out.returncode != 0 and "at 1:" in out.stderr,
          "LIMIT takes a number, not a parameter: %r" % out.stderr)
    out = subprocess.run([BIN, "query", "-o", "json", "-p", "team-a",
                          "SELECT name FROM pods WHERE namespace = $1 AND cluster = 'east-1' "
                          "AND phase = 'Running' ORDER BY name"],
                         capture_output=True, text=True, env=env, timeout=60)
    check(out.returncode == 0 and json.loads(out.stdout)["rows"] == [["a-0"], ["a-2"]],
          "params: %s %s" % (out.stdout, out.stderr))


def test_language(base):
    cases = [
        # quantity-aware comparisons, HAVING, ORDER BY an aggregate, OFFSET
        ("SELECT count(*) FROM pods WHERE requests.cpu >= '250m' AND requests.memory < '1Gi'",
         [[15]]),
        ("SELECT count(*) FROM pods WHERE requests.cpu > 0.25", [[0]]),
        ("SELECT count(*) FROM nodes WHERE allocatable.memory >= '16Gi' AND capacity.cpu = 4",
         [[6]]),
        ("SELECT cluster, sum(requests.cpu) AS cpu FROM pods GROUP BY cluster "
         "HAVING sum(requests.cpu) > '1' ORDER BY cpu DESC, cluster LIMIT 2 OFFSET 1",
         [["east-2", "1250m"], ["west-1", "1250m"]]),
        ("SELECT phase, count(*) FROM pods WHERE cluster = 'east-1' GROUP BY phase ORDER BY 2 DESC, 1",
         [["Running", 3], ["Failed", 1], ["Pending", 1]]),
        ("SELECT count(DISTINCT node), min(requests.memory), max(name) FROM pods",
         [[2, "256Mi", "d-0"]]),
        ("SELECT name, spec.containers[0].image, spec.containers[].image FROM pods "
         "WHERE cluster = 'west-1' AND namespace = 'default'",
         [["d-0", "busybox:1", ["busybox:1"]]]),
        ("SELECT count(*) FROM pods WHERE spec.containers[].image LIKE 'nginx%'", [[12]]),
        ("SELECT count(*) FROM pods WHERE NOT (phase = 'Running' OR phase IN ('Failed')) "
         "AND labels.app IS NOT NULL AND annotations.nothing IS NULL", [[3]]),
        ("select Count(*) from PODS where NAMESPACE not in ('team-a')", [[3]]),
        ("SELECT count(*) FROM po WHERE node = 'n1'", [[9]]),
        ("SELECT count(*) FROM deployments.apps WHERE spec.replicas = 1", [[4]]),
        ("SELECT kind, count(*) FROM deploy GROUP BY kind", [["Deployment", 4]]),
        ("SELECT count(*) FROM pods WHERE created > '2001-01-01T00:00:00Z' AND terminal = true",
         [[3]]),
        ("SELECT count(*) FROM pods WHERE MATCH('busybox')", [[3]]),
        ("SELECT \"name\" FROM pods WHERE labels.\"app\" = 'web' AND name = 'd-0' "
         "AND cluster = 'east-1' -- a comment\n", [["d-0"]]),
        ("SELECT d.name, p.name FROM deployments d JOIN pods p ON p.owner_uid = d.uid", []),
        # workloads <-> pods through the owner chain
        ("SELECT d.cluster, d.name, r.name, p.name, p.phase FROM deployments d "
         "JOIN replicasets r ON r.owner_uid = d.uid AND r.cluster = d.cluster "
         "JOIN pods p ON p.owner_uid = r.uid AND p.cluster = r.cluster",
         [["east-1", "front", "front-1", "d-0", "Running"]]),
    ]
    for sql, want in cases:
        st, doc = q(base, sql)
        check(st == 200 and doc.get("rows") == want, "%s\n  -> %s %s" % (sql, st, doc))


def test_errors(base):
    cases = [
        ("SELECT cluster, stauts.phase FROM pods", 400,
         "unknown column 'stauts.phase' at 1:17 (did you mean 'status.phase'?)"),
        ("SELECT name FROM pdos", 400, "unknown resource 'pdos' at 1:18 (did you mean 'pods'?)"),
        ("SELECT name FROM pods WHERE", 400, "at 1:28"),
        ("SELECT name\nFROM pods\nWHERE phase = 'Running' AND", 400, "at 3:28"),
        ("SELECT cnt(*) FROM pods", 400, "unknown function 'cnt' at 1:8 (did you mean 'count'?)"),
        ("SELECT name FROM pods WHERE requests.cpu > 'lots'", 400, "is not a quantity"),
        ("SELECT name FROM pods WHERE count(*) > 1", 400, "not allowed in WHERE"),
        ("SELECT name FROM pods WHERE name = 'x", 400, "unterminated string at 1:36"),
        ("SELECT p.name FROM pods p JOIN nodes n ON p.node = n.name WHERE name = 'x'", 400,
         "needs a table alias"),
        ("SELECT data.password FROM secrets", 403, "Secret data is never returned"),
        ("SELECT name FROM pods WHERE MATCH('ab')", 400, "3 or more characters"),
        ("SELECT name FROM pods WHERE name = $1", 400, "parameter"),
        ("", 400, "expected SELECT"),
    ]
    for sql, code, msg in cases:
        st, doc = q(base, sql)
        check(st == code and msg in doc.get("message", ""),
              "error for %r: %s %s" % (sql, st, doc.get("message", doc)))
    st, doc = q(base, "SELECT name FROM pods", params={"a": 1})
    check(st == 400, "params must be an array: %s" % st)
    st, raw = http("POST", base + "/query", None)
    check(st == 400, "no body: %s" % st)


def test_hostile(base):
    # injection through every literal and identifier: no effect, no error from SQLite
    hostile = ["'; DROP TABLE objects; --", "x' OR '1'='1", "\" OR 1=1 --", "]) OR 1=1 --",
               "$.metadata') OR 1=1 --", "fts MATCH '*'", "\\", "\u00e9\u6f22\U0001F600"]
    for h in hostile:
        lit = h.replace("'", "''")
        for sql in ("SELECT count(*) FROM pods WHERE name = '%s'" % lit,
                    "SELECT count(*) FROM pods WHERE labels.app IN ('%s')" % lit,
                    "SELECT count(*) FROM pods WHERE requests.cpu > '%s'" % lit,
                    "SELECT count(*) FROM pods WHERE MATCH('%s')" % lit,
                    "SELECT count(*) FROM pods WHERE name LIKE '%s'" % lit):
            st, doc = q(base, sql)
            check(st in (200, 400) and (st == 400 or doc.get("rows") == [[0]]),
                  "hostile literal %r: %s %s" % (sql, st, doc))
        ident = h.replace('"', '""')
        for sql in ('SELECT count(*) FROM pods WHERE labels."%s" = \'web\'' % ident,
                    'SELECT count(*) FROM pods WHERE annotations."%s" IS NOT NULL' % ident,
                    'SELECT count(*) FROM pods WHERE metadata."%s" IS NOT NULL' % ident,
                    'SELECT count(*) FROM pods WHERE requests."%s" > 0' % ident,
                    'SELECT count(*) FROM "%s"' % ident,
                    'SELECT "%s" FROM pods' % ident):
            st, doc = q(base, sql)
            check(st in (200, 400) and (st == 400 or doc.get("rows") == [[0]]),
                  "hostile identifier %r: %s %s" % (sql, st, doc))
        st, doc = q(base, "SELECT count(*) FROM pods WHERE name = $1", params=[h])
        check(st == 200 and doc.get("rows") == [[0]], "hostile param %r: %s" % (h, doc))
    st, doc = q(base, "SELECT count(*) FROM pods")
    check(st == 200 and doc["rows"] == [[15]], "the index is intact: %s" % doc)
    # deep nesting
    deep = "SELECT name FROM pods WHERE " + "(" * 5000 + "name = 'x'" + ")" * 5000
    st, doc = q(base, deep)
    check(st == 400 and "nested deeper" in doc.get("message", ""), "deep nesting: %s" % st)
    deep = "SELECT name FROM pods WHERE " + "NOT " * 5000 + "name = 'x'"
    st, doc = q(base, deep)
    check(st == 400 and "nested deeper" in doc.get("message", ""), "deep NOT: %s" % st)
    # a 1 MB query
    big = "SELECT name FROM pods WHERE name = '" + "x" * (1 << 20) + "'"
    st, doc = q(base, big)
    check(st == 400 and "limit" in doc.get("message", ""), "1 MB query: %s %s" % (st, doc))
    many = "SELECT name FROM pods WHERE " + " OR ".join("name = 'x%d'" % i for i in range(8000))
    st, doc = q(base, many)
    check(st == 400, "too many terms: %s %s" % (st, doc.get("message")))
    # a cartesian join: capped, and says so
    st, doc = q(base, "SELECT a.name, b.name FROM pods a JOIN pods b ON 1 = 1 "
                      "JOIN pods c ON 1 = 1")
    check(st == 200 and doc.get("truncated") is True and len(doc["rows"]) == 1000,
          "cartesian join capped at the row cap: %s %s" % (st, doc.get("truncated")))
    # a query that never ends: stopped by the time budget, while others are served
    # one OR term over all four tables: evaluated for every combination
    # (~2.8M), each with four JSON scans: minutes of work, stopped at 1.5 s
    slow = ("SELECT count(*) FROM objects a JOIN objects b ON 1 = 1 JOIN objects c ON 1 = 1 "
            "JOIN objects d ON 1 = 1 WITH DELETED WHERE a.metadata.uid = b.spec.containers[].image "
            "OR b.metadata.uid = c.spec.containers[].image OR c.metadata.uid = "
            "d.spec.containers[].image OR d.metadata.uid = a.spec.containers[].image")
    res = {}

    def run_slow():
        t0 = time.time()
        res["r"] = q(base, slow, timeout=60)
        res["t"] = time.time() - t0
    th = threading.Thread(target=run_slow)
    th.start()
    time.sleep(0.2)
    t0 = time.time()
    st, doc = q(base, "SELECT count(*) FROM nodes")
    quick = time.time() - t0
    th.join()
    st2, doc2 = res["r"]
    check(st2 == 504 and "time budget" in doc2.get("message", ""),
          "never-ending query stopped: %s %s" % (st2, doc2))
    check(st == 200 and quick < res["t"], "a quick query is not delayed by the slow one "
          "(%.2fs vs %.2fs)" % (quick, res["t"]))
    # what the authorizer refuses is never reachable: the compiled SQL only
    # reads object tables; check the plan names none other
    st, doc = q(base, Q3, plan=True)
    check(st == 200 and "changelog" not in doc.get("sql", "") and "?" in doc.get("sql", ""),
          "plan: %s" % doc)


def test_scopes(d, clusters):
    with open(os.path.join(d, "tokens.csv"), "a") as f:
        f.write('\nteam-a-token,alice,"team-a"\neast-token,carol,"east"\nnobody-token,bob,"nobody"\n')
    scopes = ("  scopes:\n"
              "  - {group: system:masters, clusters: [\"*\"], namespaces: [\"*\"], resources: [\"*\"]}\n"
              "  - {group: team-a, clusters: [\"*\"], namespaces: [team-a], resources: [\"*\"]}\n"
              "  - {group: east, clusters: [east-1], namespaces: [default], resources: [pods]}\n")
    base = start_serve(d, "auth", scopes)
    admin = open(os.path.join(d, "tokens.csv")).readline().split(",")[0]
    check(q(base, "SELECT count(*) FROM pods")[0] == 401, "no token: 401")
    wait_synced(base, admin)
    # team-a: counts equal the counts over team-a only
    for sql in ("SELECT count(*) FROM pods", "SELECT cluster, count(*), sum(requests.cpu) "
                "FROM pods GROUP BY cluster ORDER BY cluster",
                "SELECT count(*) FROM pods WHERE labels.app = 'web'"):
        st, mine = q(base, sql, token="team-a-token")
        where = " WHERE namespace = 'team-a'" if "WHERE" not in sql else " AND namespace = 'team-a'"
        if "GROUP BY" in sql:
            ref = sql.replace(" GROUP BY", where + " GROUP BY")
        else:
            ref = sql + where
        st2, theirs = q(base, ref, token=admin)
        check(st == 200 and st2 == 200 and mine["rows"] == theirs["rows"],
              "scoped %r: %s vs %s" % (sql, mine, theirs))
    st, doc = q(base, "SELECT count(*) FROM nodes", token="team-a-token")
    check(st == 200 and doc["rows"] == [[0]], "team-a sees no nodes (cluster-scoped): %s" % doc)
    st, doc = q(base, Q3, token="team-a-token")
    check(st == 200 and doc["rows"] == [], "join through invisible nodes: %s" % doc)
    st, doc = q(base, "SELECT cluster, count(*) FROM pods GROUP BY cluster", token="east-token")
    check(st == 200 and doc["rows"] == [["east-1", 1]], "east scope: %s" % doc)
    st, doc = q(base, "SELECT count(*) FROM deployments", token="east-token")
    check(st == 200 and doc["rows"] == [[0]], "east: no deployments: %s" % doc)
    st, doc = q(base, "SELECT kind, count(*) FROM objects GROUP BY kind", token="team-a-token")
    check(st == 403, "objects is admin-only: %s" % st)
    st, doc = q(base, "SELECT count(*) FROM pods WITH DELETED", token="team-a-token")
    check(st == 403, "WITH DELETED is admin-only: %s" % st)
    st, doc = q(base, "SELECT count(*) FROM objects WITH DELETED WHERE kind = 'Pod'", token=admin)
    check(st == 200 and doc["rows"][0][0] >= 15, "admin objects WITH DELETED: %s" % doc)
    check(q(base, "SELECT count(*) FROM pods", token="nobody-token")[0] == 403, "no scope: 403")


def main():
    d = tempfile.mkdtemp(prefix="flotilla-sql-")
    try:
        p, clusters = testlib_start_sim(BIN, d, "--clusters", "3", "--nodes", "0", "--no-controllers")
        PROCS.append(p)
        fill(d, clusters)
        base = start_serve(d, "main", "  anonymousLoopback: true\n",
                           "query: {maxRows: 1000, budgetMs: 1500}\n")
        if wait_synced(base):
            test_issue_queries(base, d)
            test_language(base)
            test_errors(base)
            test_hostile(base)
            test_scopes(d, clusters)
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
