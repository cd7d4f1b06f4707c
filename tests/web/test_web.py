#!/usr/bin/python3
"""tests/web/test_web.py: web/ against a sim fleet.
* GET /api/v1/capacity: per cluster, nodes and allocatable CPU equal what the
  search API's node objects say; region / provider / zone / node-label
  groupings add up to the same totals; namespace groups carry requests;
  a bad groupBy is 400, no token is 401;
* `flotilla capacity` (table, --by region, -o wide, -o json);
* GET /metrics parses as Prometheus text (names, TYPE before samples,
  counters end in _total, no duplicate series) and holds per-cluster series
  that agree with the capacity document;
* GET /ui in headless Chromium (when installed): the page loads with no
  console errors, shows every cluster with its sync state and sync lag (the
  worst lagMs of its resources in /api/v1/clusters), and its screenshot is
  kept in $FLOTILLA_ARTIFACTS/ui.png.
Needs FLOTILLA_BIN (tests/meson.build).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import FAILS, check, free_port, wait  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]
procs = []
SCOPED = "scoped-token-w"
NS_SCOPED = "scoped-token-ns"  # every cluster, namespace "default" only


def get(port, path, token):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def cpu_milli(q):
    return int(q[:-1]) if q.endswith("m") else int(float(q) * 1000)


def start(d):
    cfg = os.path.join(d, "flotilla.yaml")
    sim = subprocess.Popen([BIN, "sim", "--clusters", "3", "--nodes", "4", "--pods", "60",
                            "--kubeconfig-dir", os.path.join(d, "kc"), "--write-config", cfg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(sim)
    t0 = time.time()
    for line in sim.stdout:
        if line.startswith("ready") or time.time() - t0 > 60:
            break
    token = open(os.path.join(d, "tokens.csv")).read().split(",")[0]
    with open(os.path.join(d, "tokens.csv"), "a") as f:  # a user scoped to west-1
        f.write('%s,bob,"team-w"\n' % SCOPED)
        f.write('%s,carol,"team-default"\n' % NS_SCOPED)
    text = open(cfg).read().replace(
        "  tokensFile: tokens.csv\n",
        "  tokensFile: tokens.csv\n  scopes:\n"
        "  - {group: \"system:masters\", clusters: [\"*\"], namespaces: [\"*\"], resources: [\"*\"]}\n"
        "  - {group: team-w, clusters: [west-1], namespaces: [\"*\"], resources: [\"*\"]}\n"
        "  - {group: team-default, clusters: [\"*\"], namespaces: [default], resources: [\"*\"]}\n",
        1)
    open(cfg, "w").write(text)
    port = free_port()
    log = open(os.path.join(d, "serve.log"), "w")
    s = subprocess.Popen([BIN, "serve", "-c", cfg, "--listen", "127.0.0.1:%d" % port,
                          "--data-dir", os.path.join(d, "data")], stdout=log, stderr=log)
    procs.append(s)
    return port, token


def totals(doc, res="cpu", what="allocatable"):
    return round(sum(g["resources"].get(res, {}).get(what, 0) for g in doc["groups"]), 3)


def test_capacity(port, token):
    def cap(by="cluster"):
        code, body = get(port, "/api/v1/capacity?groupBy=" + by, token)
        return json.loads(body) if code == 200 else None

    def settled():
        c = cap()
        return c and len(c["groups"]) == 3 and all(g["nodes"]["total"] == 4 for g in c["groups"]) \
            and totals(c, "pods", "requested") > 0
    check(wait(settled, 60), "capacity: 3 clusters of 4 nodes with scheduled pods")
    time.sleep(1)
    c = cap()
    # Independent check: node objects through the search API.
    code, body = get(port, "/apis/clusterpedia.io/v1beta1/resources/api/v1/nodes", token)
    check(code == 200, "search API lists nodes")
    per = {}
    for n in json.loads(body).get("items", []):
        cl = n["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"]
        per[cl] = per.get(cl, 0) + cpu_milli(n["status"]["allocatable"]["cpu"])
    got = {g["name"]: round(g["resources"]["cpu"]["allocatable"] * 1000) for g in c["groups"]}
    check(got == per, "cpu allocatable per cluster matches the node objects: %s vs %s" % (got, per))
    for g in c["groups"]:
        r = g["resources"]["cpu"]
        check(abs(r["free"] - (r["allocatable"] - r["requested"])) < 1e-6, "free = alloc - requested")
        check(0 <= r["largestFree"] <= r["allocatable"], "largestFree within allocatable")
        check(g["nodes"]["ready"] + g["nodes"]["notReady"] == 4, "node states add up")
        check("memory" in g["resources"] and "pods" in g["resources"], "memory and pods shown")
    for by in ("region", "zone", "provider", "node-label:topology.kubernetes.io/zone"):
        d = cap(by)
        check(d is not None and totals(d) == totals(c), "groupBy=%s keeps the cpu total" % by)
        check(d is not None and totals(d, "cpu", "requested") == totals(c, "cpu", "requested"),
              "groupBy=%s keeps requests" % by)
        check(d is not None and "<none>" not in [g["name"] for g in d["groups"]],
              "groupBy=%s: every node has a group" % by)
    z, nl = cap("zone"), cap("node-label:topology.kubernetes.io/zone")
    check(z and nl and [g["name"] for g in z["groups"]] == [g["name"] for g in nl["groups"]],
          "node-label:topology.kubernetes.io/zone groups as zone")
    ns = cap("namespace")
    check(ns and totals(ns, "cpu", "requested") >= totals(c, "cpu", "requested") > 0,
          "namespace groups carry at least the scheduled requests")
    check(get(port, "/api/v1/capacity?groupBy=colour", token)[0] == 400, "bad groupBy: 400")
    check(get(port, "/api/v1/capacity", None)[0] == 401, "no token: 401")
    code, body = get(port, "/api/v1/capacity", SCOPED)
    check(code == 200 and [g["name"] for g in json.loads(body)["groups"]] == ["west-1"],
          "a user scoped to west-1 sees only west-1's capacity")
    code, body = get(port, "/api/v1/capacity?groupBy=namespace", NS_SCOPED)
    check(code == 200 and [g["name"] for g in json.loads(body)["groups"]] == ["default"]
          and json.loads(body)["groups"][0] == [g for g in ns["groups"] if g["name"] == "default"][0],
          "a user scoped to namespace default sees its requests: %s" % body[:300])
    code, body = get(port, "/api/v1/capacity?groupBy=cluster", NS_SCOPED)
    check(code == 200 and json.loads(body)["groups"] == [],
          "a user scoped to a namespace sees no node capacity: %s" % body[:300])
    code, body = get(port, "/metrics", SCOPED)
    check(code == 200 and b'cluster="east-1"' not in body and b'cluster="west-1"' in body,
          "a scoped user's /metrics shows only its clusters")
    return c


def cli(port, token, *args):
    p = subprocess.run([BIN, "capacity", "--server", "http://127.0.0.1:%d" % port, "--token",
                        token] + list(args), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_cli(port, token, c):
    rc, out, err = cli(port, token)
    check(rc == 0 and out.startswith("GROUP") and all(g["name"] in out for g in c["groups"]),
          "flotilla capacity: table with every cluster: " + out + err)
    rc, out, _ = cli(port, token, "--by", "region")
    check(rc == 0 and len(out.strip().splitlines()) >= 2, "flotilla capacity --by region")
    rc, out, _ = cli(port, token, "-o", "wide")
    check(rc == 0 and "LARGEST-FREE" in out, "flotilla capacity -o wide")
    rc, out, _ = cli(port, token, "-o", "json")
    check(rc == 0 and len(json.loads(out)["groups"]) == 3, "flotilla capacity -o json")
    rc, _, err = cli(port, token, "--by", "colour")
    check(rc == 1 and "groupBy" in err, "flotilla capacity --by colour fails with the reason")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_exposition(text):
    """{family: {"type":..., "samples": [(labels dict, value)]}}; checks the format."""
    fams, seen = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            check(name not in fams, "one TYPE per family: " + name)
            check(typ in ("counter", "gauge", "histogram", "summary", "untyped"), "type " + typ)
            fams[name] = {"type": typ, "samples": []}
            continue
        m = SAMPLE.match(line)
        check(m is not None, "sample line parses: %r" % line)
        if not m:
            continue
        name, labels = m.group(1), {}
        pos, body = 0, m.group(3) or ""
        while pos < len(body):
            lm = LABEL.match(body, pos)
            check(lm is not None, "labels parse: %r" % body)
            if not lm:
                break
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and fams.get(base, {}).get("type") == "histogram":
                fam = base
        check(fam in fams, "TYPE before samples: " + name)
        key = (name, tuple(sorted(labels.items())))
        check(key not in seen, "no duplicate series: %s" % (key,))
        seen.add(key)
        if fam in fams:
            fams[fam]["samples"].append((labels if fam == name else dict(labels, __name__=name),
                                         float(m.group(4))))
    for name, f in fams.items():
        check(name.startswith("flotilla_"), "prefix: " + name)
        check((f["type"] == "counter") == name.endswith("_total"), "_total iff counter: " + name)
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return fams


def check_histogram(name, samples):
    """Buckets cumulative and ending in +Inf = _count, per label set."""
    series = {}
    for labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k not in ("le", "__name__")))
        series.setdefault(rest, {"buckets": [], "count": None})
        kind = labels.get("__name__", "")
        if kind.endswith("_bucket"):
            le = labels["le"]
            series[rest]["buckets"].append((float("inf") if le == "+Inf" else float(le), v))
        elif kind.endswith("_count"):
            series[rest]["count"] = v
    for rest, s in series.items():
        b = s["buckets"]
        check(b and b[-1][0] == float("inf") and b[-1][1] == s["count"],
              "%s%s: +Inf bucket = count" % (name, rest))
        check(all(b[i][0] < b[i + 1][0] and b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)),
              "%s%s: buckets ordered and cumulative" % (name, rest))


def test_metrics(port, token, c):
    code, body = get(port, "/metrics", token)
    check(code == 200, "/metrics answers")
    check(get(port, "/metrics", None)[0] == 401, "/metrics needs a token")
    fams = parse_exposition(body.decode())
    for f in ("flotilla_build_info", "flotilla_cluster_ready", "flotilla_cluster_synced",
              "flotilla_sync_lag_seconds", "flotilla_watch_events_total", "flotilla_relists_total",
              "flotilla_index_objects", "flotilla_index_objects_written_total",
              "flotilla_index_revision", "flotilla_cluster_allocatable",
              "flotilla_cluster_requested", "flotilla_cluster_nodes", "flotilla_quota_admission_reviews_total"):
        check(f in fams and fams[f]["samples"], "metric family present: " + f)
    ready = {s[0]["cluster"]: s[1] for s in fams.get("flotilla_cluster_ready", {"samples": []})["samples"]}
    check(ready == {g["name"]: 1.0 for g in c["groups"]}, "every cluster ready: %s" % ready)
    alloc = {s[0]["cluster"]: s[1] for s in fams["flotilla_cluster_allocatable"]["samples"]
             if s[0]["resource"] == "cpu"}
    check(alloc == {g["name"]: g["resources"]["cpu"]["allocatable"] for g in c["groups"]},
          "cpu allocatable in /metrics = capacity")
    ns = {(s[0]["cluster"], s[0]["state"]): s[1] for s in fams["flotilla_cluster_nodes"]["samples"]}
    check(all(ns.get((g["name"], "ready")) == 4 for g in c["groups"]), "flotilla_cluster_nodes ready")
    nodes = [s for s in fams["flotilla_index_objects"]["samples"] if s[0]["resource"] == "nodes"]
    check(len(nodes) == 3 and all(s[1] == 4 for s in nodes), "index objects: 4 nodes per cluster")
    # the requests this test made are in the per-route histogram
    h = fams.get("flotilla_http_request_duration_seconds", {"type": None, "samples": []})
    check(h["type"] == "histogram", "request latency histogram present")
    routes = {s[0].get("route") for s in h["samples"]}
    check("/api/v1/capacity" in routes and "/apis/clusterpedia.io" in " ".join(sorted(routes)),
          "latency per route: capacity and the search API: %s" % sorted(routes))
    cap = [s for s in h["samples"] if s[0].get("route") == "/api/v1/capacity"
           and s[0]["__name__"].endswith("_count")]
    check(cap and cap[0][1] >= 10, "capacity requests counted: %s" % cap)
    codes = {(s[0]["route"], s[0]["code"]) for s in fams["flotilla_http_requests_total"]["samples"]}
    check(("/api/v1/capacity", "4xx") in codes and ("/api/v1/capacity", "2xx") in codes,
          "requests by status class: %s" % sorted(codes))
    for f in ("flotilla_scheduler_decisions_total", "flotilla_scheduler_unschedulable_total",
              "flotilla_scheduler_failover_evictions_total"):
        check(f in fams, "scheduler metric present: " + f)


def test_ui(port, token, d, c):
    chromium = shutil.which("chromium")
    if not chromium:
        print("chromium not installed: /ui browser part skipped (./dev deps installs it)",
              file=sys.stderr)
        check(get(port, "/ui", None)[0] == 200, "/ui is served")
        return
    url = "http://127.0.0.1:%d/ui#token=%s" % (port, token)
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--user-data-dir=" + tempfile.mkdtemp(dir=d),
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=8000"]
    p = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    dom = p.stdout
    check('data-loaded="1"' in dom, "the page loaded its data (every API call answered)")
    for g in c["groups"]:
        check(g["name"] in dom, "the page shows cluster " + g["name"])
    check("<canvas" in dom, "Chart.js drew the capacity bars")
    check("<th" in dom and ">Lag</th>" in dom, "the clusters table has a Lag column")
    st, body = get(port, "/api/v1/clusters", token)
    api = {cl["name"]: cl for cl in json.loads(body)["clusters"]} if st == 200 else {}
    check(len(api) == len(c["groups"]), "/api/v1/clusters lists every member")
    for name, cl in api.items():
        lag = 0
        for r in cl.get("resources", []):
            if r.get("phase") in ("Skipped", "Stopped"):
                continue
            l = r.get("lagMs", 0)
            if l < 0 or (lag >= 0 and l > lag):
                lag = -1 if l < 0 else l
        row = re.search(r"<tr><td>%s</td>(.*?)</tr>" % re.escape(name), dom)
        check(row is not None, "the clusters table has a row for " + name)
        if not row:
            continue
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
        check(cl["sync"] in cells, "%s: sync state %s shown (%s)" % (name, cl["sync"], cells))
        m = re.search(r'data-lag-ms="(-?\d+)"[^>]*>([^<]*)<', row.group(1))
        check(m is not None, "%s: a sync lag cell" % name)
        if m:
            shown = int(m.group(1))
            # the page and this read are moments apart: equal, or both lagging
            check(shown == lag or (shown > 0 and lag > 0),
                  "%s: lag shown %d ms, /api/v1/clusters says %d" % (name, shown, lag))
            text = m.group(2)
            check(text == ("-" if shown < 0 else "%dms" % shown) if shown < 1000 else
                  re.fullmatch(r"\d+[smh]", text) is not None,
                  "%s: lag written for people (%r)" % (name, text))
    # Chromium's log does not say a console message's level (console.error
    # shows as INFO:CONSOLE), and the page logs nothing when all is well:
    # any console line at all fails.
    console = [l for l in p.stderr.splitlines() if ":CONSOLE" in l]
    check(not console, "no console messages: %s" % console)
    art = os.environ.get("FLOTILLA_ARTIFACTS", d)
    os.makedirs(art, exist_ok=True)
    shot = os.path.join(art, "ui.png")
    if os.path.exists(shot):
        os.unlink(shot)
    subprocess.run(base + ["--screenshot=" + shot, "--window-size=1280,1000", url],
                   capture_output=True, text=True, timeout=120)
    check(os.path.exists(shot) and os.path.getsize(shot) > 10000, "screenshot kept at " + shot)


def main():
    d = tempfile.mkdtemp(prefix="fl-test-web-")
    try:
        port, token = start(d)
        check(wait(lambda: get(port, "/readyz", None)[0] == 200, 90), "daemon ready on the sim fleet")
        c = test_capacity(port, token)
        test_cli(port, token, c)
        test_metrics(port, token, c)
        test_ui(port, token, d, c)
        procs[1].send_signal(signal.SIGTERM)
        check(procs[1].wait(timeout=30) == 0, "serve drains and exits 0 (leak-free under ASan)")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if FAILS:
            print(open(os.path.join(d, "serve.log")).read()[-3000:], file=sys.stderr)
        shutil.rmtree(d, ignore_errors=True)
    if FAILS:
        print("%d check(s) failed" % len(FAILS), file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
