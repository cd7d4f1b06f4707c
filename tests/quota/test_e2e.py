#!/usr/bin/python3
"""tests/quota/test_e2e.py: fleet-wide quota enforced at every member's
admission, end to end. `flotilla sim --host --tls` (two members and a host
with the KarmadaQuota CRD), `flotilla serve` over HTTPS with quota on, the
ValidatingWebhookConfiguration from `flotilla certs webhook` applied in each
member with kubectl, a KarmadaQuota applied on the host with kubectl. Then:
  * pods created in both members fill the namespace's quota; one more pod in
    either member is refused by kubectl with kube-apiserver's wording
    (`Error from server (Forbidden): ... admission webhook "quota.flotilla.io"
    denied the request: exceeded quota: ...`), and the same pod fits once the
    other member's pod is deleted;
  * `flotilla quota` shows used / hard / percent (scoped: a team's user sees
    its namespaces only); an invalid FRQ gets a Valid=False condition and a
    Warning event on the host; status is written back to
    the host's KarmadaQuota and FederatedResourceQuota (aggregatedStatus per
    static assignment); an FRQ denies with Karmada's wording; an invalid FRQ
    enforces nothing and says why; static assignments become member
    ResourceQuotas (created, updated, deleted);
  * 64 clients racing over HTTPS for the last units: exactly the free units
    are granted (zero over-admission); a dry run reserves nothing;
  * hostile reviews: wrong secret / unknown cluster 403, malformed JSON,
    wrong kind, missing fields 400 Status, a huge body 413 — none reserves;
  * drift: a pod whose deletion grace period runs out changes nothing in the
    index, so the followed usage still counts it; `flotilla quota recount`
    (POST /api/v1/quota/recount) finds the difference, names the namespace
    and counts it in flotilla_quota_drift_total; a scoped user's recount is
    refused 403 Forbidden (Status), `flotilla quota recount --help` says what
    it does;
  * a member that goes down makes its reviews follow the stale policy (deny,
    naming the cluster), and recovering lifts it;
  * the webhook secrets never reach the access log.
Needs FLOTILLA_BIN, kubectl and openssl-free TLS (certs come from
`flotilla certs`)."""
import calendar
import concurrent.futures
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import check, done, free_port, kubectl, run, start_sim, stop_procs, wait  # noqa: E402

BIN = os.environ.get("FLOTILLA_BIN") or sys.argv[1]
if not shutil.which("kubectl"):
    print("kubectl not on PATH", file=sys.stderr)
    sys.exit(77)

D = tempfile.mkdtemp(prefix="flotilla-quota-e2e-")
procs = []
NS = "team-a"


def kc(cluster, *args, stdin=None):
    return kubectl(os.path.join(D, cluster + ".kubeconfig"), *args, stdin=stdin)


def pod_yaml(name, cpu, ns=NS):
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                       "spec": {"containers": [{"name": "c", "image": "nginx",
                                                "resources": {"requests": {"cpu": cpu}}}]}})


def setup():
    sim, clusters = start_sim(BIN, D, "--clusters", "2", "--tls", "--host", "--no-controllers")
    procs.append(sim)
    members = sorted(c for c in clusters if c != "host")
    check(len(members) == 2 and "host" in clusters, "sim clusters: %s" % clusters)
    for args in (["ca", "--out", os.path.join(D, "ca")],
                 ["server", "--ca", os.path.join(D, "ca"), "--host", "127.0.0.1,localhost",
                  "--out", os.path.join(D, "tls")]):
        rc, _, err = run(BIN, "certs", *args)
        check(rc == 0, "certs %s: %s" % (args[0], err))
    port = free_port()
    # a scoped user (team-a only) beside the sim's admin token
    with open(os.path.join(D, "tokens.csv"), "a") as f:
        f.write('\nteam-a-token,alice,"team-a"\n')
    cfg = os.path.join(D, "flotilla.yaml")
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text.replace("  tokensFile: tokens.csv\n", "  tokensFile: tokens.csv\n  scopes:\n"
                             "  - {group: team-a, clusters: [\"*\"], namespaces: [team-a], "
                             "resources: [\"*\"]}\n", 1))
    with open(os.path.join(D, "flotilla.yaml"), "a") as f:
        f.write("tls: {cert: tls/server.crt, key: tls/server.key}\n"
                "quota: {staleAfter: 30s, stalePolicy: deny, reservationTTL: 2m}\n")
    log = open(os.path.join(D, "serve.log"), "w")
    srv = subprocess.Popen([BIN, "serve", "-c", os.path.join(D, "flotilla.yaml"), "--listen",
                            "127.0.0.1:%d" % port], stdout=log, stderr=log)
    procs.append(srv)
    ctx = ssl.create_default_context(cafile=os.path.join(D, "ca", "ca.crt"))
    up = wait(lambda: get_ok(port, ctx), 30)
    check(up, "daemon did not come up (see %s/serve.log)" % D)
    return members, port, ctx


def get_ok(port, ctx):
    try:
        with urllib.request.urlopen("https://127.0.0.1:%d/readyz" % port, context=ctx, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def post(port, ctx, path, body, timeout=10):
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (port, path), data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw
    except OSError as e:
        return 0, str(e)


def secret_of(cluster):
    with open(os.path.join(D, "flotilla-data", "quota-webhook-secrets.json")) as f:
        return json.load(f)[cluster]


def review(name, cpu, ns, dry=False, uid=None, op="CREATE"):
    obj = json.loads(pod_yaml(name, cpu, ns))
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid or "uid-" + name, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": ns,
        "name": name, "operation": op, "object": obj, "oldObject": None, "dryRun": dry}}).encode()


def install(members, port):
    for m in members:
        rc, yaml, err = run(BIN, "certs", "webhook", "-c", os.path.join(D, "flotilla.yaml"),
                            "--cluster", m, "--url-host", "127.0.0.1:%d" % port, "--ca",
                            os.path.join(D, "ca"))
        check(rc == 0 and "quota.flotilla.io" in yaml and "caBundle: " in yaml,
              "certs webhook %s: %s" % (m, err))
        rc, _, err = kc(m, "apply", "-f", "-", stdin=yaml)
        check(rc == 0, "apply webhook in %s: %s" % (m, err))
        for ns in (NS, "race"):
            kc(m, "create", "namespace", ns)
    for ns in (NS, "race"):
        kc("host", "create", "namespace", ns)
    kq = {"apiVersion": "quota.flotilla.io/v1alpha1", "kind": "KarmadaQuota",
          "metadata": {"name": "team-quota", "namespace": NS},
          "spec": {"hard": {"requests.cpu": "2", "pods": "10"}}}
    rc, _, err = kc("host", "apply", "-f", "-", stdin=json.dumps(kq))
    check(rc == 0, "apply KarmadaQuota on host: %s" % err)
    race = {"apiVersion": "quota.flotilla.io/v1alpha1", "kind": "KarmadaQuota",
            "metadata": {"name": "race-quota", "namespace": "race"}, "spec": {"hard": {"pods": "5"}}}
    rc, _, err = kc("host", "apply", "-f", "-", stdin=json.dumps(race))
    check(rc == 0, "apply race KarmadaQuota on host: %s" % err)


def kubectl_flow(members, port, ctx):
    a, b = members
    # the quota must be visible to the daemon before pods are checked against it
    probe = lambda: post(port, ctx, "/admission/clusters/%s/%s/quota" % (a, secret_of(a)),
                         review("probe", "3", NS, dry=True))[1]
    seen = wait(lambda: (probe() or {}).get("response", {}).get("allowed") is False, 20, 0.2)
    check(seen, "the daemon never saw the host's KarmadaQuota: %s" % probe())
    rc, _, err = kc(a, "apply", "-f", "-", stdin=pod_yaml("p1", "1"))
    check(rc == 0, "p1 in %s: %s" % (a, err))
    rc, _, err = kc(b, "apply", "-f", "-", stdin=pod_yaml("p2", "1"))
    check(rc == 0, "p2 in %s: %s" % (b, err))
    rc, _, err = kc(a, "apply", "-f", "-", stdin=pod_yaml("p3", "500m"))
    want = ('Error from server (Forbidden): error when creating "STDIN": admission webhook '
            '"quota.flotilla.io" denied the request: exceeded quota: team-quota, requested: '
            'requests.cpu=500m, used: requests.cpu=2, limited: requests.cpu=2')
    check(rc != 0 and want in err, "p3 past the fleet-wide quota: rc %d, %r" % (rc, err))
    rc, _, err = kc(b, "delete", "pod", "p2", "-n", NS, "--wait=false")
    check(rc == 0, "delete p2 in %s: %s" % (b, err))
    fits = wait(lambda: kc(a, "apply", "-f", "-", stdin=pod_yaml("p3", "500m"))[0] == 0, 20, 0.3)
    check(fits, "p3 never fit after p2 was deleted in the other member")


def token():
    with open(os.path.join(D, "tokens.csv")) as f:
        return f.readline().split(",")[0]


def flotilla_quota(port, *args):
    return run(BIN, "quota", "--server", "https://127.0.0.1:%d" % port, "--token", token(),
               "--certificate-authority", os.path.join(D, "ca", "ca.crt"), *args)


def visible(members, port, ctx):
    """`flotilla quota`, status written back to the host, FRQs end to end."""
    a, b = members
    row = lambda: [l.split() for l in flotilla_quota(port, "-n", NS)[1].splitlines()]
    got = wait(lambda: ["team-a", "team-quota", "requests.cpu", "1500m", "2", "75%"] in row(), 10, 0.3)
    check(got, "flotilla quota -n team-a: %s" % row())
    rc, out, err = flotilla_quota(port, "-o", "json")
    check(rc == 0 and any(i["name"] == "team-quota" and i["used"]["pods"] == "2"
                          for i in json.loads(out)["items"]), "flotilla quota -o json: %s %s" % (out, err))

    def status():
        rc, out, _ = kc("host", "get", "karmadaquota", "team-quota", "-n", NS, "-o", "json")
        return json.loads(out).get("status", {}) if rc == 0 else {}
    st = wait(lambda: status().get("used", {}).get("requests.cpu") == "1500m" and status(), 15, 0.3)
    check(st and st.get("hard") == {"pods": "10", "requests.cpu": "2"},
          "KarmadaQuota status written back to the host: %s" % status())
    # a FederatedResourceQuota: Karmada's denial wording, status with aggregatedStatus
    for m in members + ["host"]:
        kc(m, "create", "namespace", "fed")
        kc(m, "create", "namespace", "bad")
    frq = {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "FederatedResourceQuota",
           "metadata": {"name": "fed-quota", "namespace": "fed"},
           "spec": {"overall": {"cpu": "1"}, "staticAssignments": [
               {"clusterName": a, "hard": {"cpu": "600m"}}]}}
    rc, _, err = kc("host", "apply", "-f", "-", stdin=json.dumps(frq))
    check(rc == 0, "apply FRQ: %s" % err)
    bad = {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "FederatedResourceQuota",
           "metadata": {"name": "bad-quota", "namespace": "bad"},
           "spec": {"overall": {"cpu": "1"}, "staticAssignments": [{"clusterName": a, "hard": {"cpu": "2"}}]}}
    rc, _, err = kc("host", "apply", "-f", "-", stdin=json.dumps(bad))
    check(rc == 0, "apply invalid FRQ: %s" % err)
    wait(lambda: "fed-quota" in flotilla_quota(port, "-n", "fed")[1], 10, 0.3)
    rc, _, err = kc(a, "apply", "-f", "-", stdin=pod_yaml("f1", "600m", "fed"))
    check(rc == 0, "f1 under the FRQ: %s" % err)
    rc, _, err = kc(b, "apply", "-f", "-", stdin=pod_yaml("f2", "600m", "fed"))
    want = ('admission webhook "quota.flotilla.io" denied the request: FederatedResourceQuota'
            '(fed/fed-quota) exceeded for resource cpu: requested sum 1200m, limit 1.')
    check(rc != 0 and want in err, "f2 past the FRQ: rc %d %r" % (rc, err))
    rc, _, err = kc(b, "apply", "-f", "-", stdin=pod_yaml("f3", "2", "bad"))
    check(rc == 0, "an invalid FRQ enforces nothing: %s" % err)
    rc, out, _ = flotilla_quota(port, "-n", "bad")
    check("invalid: spec.overall[cpu]: Invalid value: \"1\": overall is less than assignments" in out,
          "flotilla quota shows why an FRQ is invalid: %s" % out)

    # the invalid FRQ gets a condition naming the problem, and a Warning event, on the host
    def valid_condition(name, ns):
        rc, out, _ = kc("host", "get", "federatedresourcequota", name, "-n", ns, "-o", "json")
        conds = json.loads(out).get("status", {}).get("conditions", []) if rc == 0 else []
        return next((c for c in conds if c.get("type") == "Valid"), None) or {}
    why = 'spec.overall[cpu]: Invalid value: "1": overall is less than assignments'
    cond = wait(lambda: valid_condition("bad-quota", "bad").get("status") == "False"
                and valid_condition("bad-quota", "bad"), 15, 0.3)
    check(cond and cond.get("reason") == "Invalid" and why in cond.get("message", ""),
          "invalid FRQ condition: %s" % valid_condition("bad-quota", "bad"))
    check(wait(lambda: valid_condition("fed-quota", "fed").get("status") == "True", 15, 0.3),
          "a valid FRQ's condition: %s" % valid_condition("fed-quota", "fed"))

    def bad_event():
        rc, out, _ = kc("host", "get", "events", "-n", "bad", "-o", "json")
        evs = json.loads(out).get("items", []) if rc == 0 else []
        return [e for e in evs if e.get("involvedObject", {}).get("name") == "bad-quota"]
    evs = wait(bad_event, 15, 0.3)
    check(evs and evs[0]["type"] == "Warning" and why in evs[0]["message"],
          "invalid FRQ event: %s" % bad_event())

    # GET /api/v1/quota is scoped: team-a's user sees team-a's quota, not fed's or bad's
    rc, out, err = run(BIN, "quota", "--server", "https://127.0.0.1:%d" % port, "--token",
                       "team-a-token", "--certificate-authority", os.path.join(D, "ca", "ca.crt"),
                       "-o", "json")
    seen = sorted({i["namespace"] for i in json.loads(out)["items"]}) if rc == 0 else (rc, err)
    check(seen == ["team-a"], "a user scoped to team-a sees only team-a's quotas: %s" % (seen,))
    rc, out, _ = flotilla_quota(port, "-o", "json")
    seen = {i["namespace"] for i in json.loads(out)["items"]} if rc == 0 else set()
    check({"team-a", "fed", "bad"} <= seen, "the admin sees every namespace's quotas: %s" % seen)

    def frq_status():
        rc, out, _ = kc("host", "get", "federatedresourcequota", "fed-quota", "-n", "fed", "-o", "json")
        return json.loads(out).get("status", {}) if rc == 0 else {}
    st = wait(lambda: frq_status().get("overallUsed") == {"cpu": "600m"} and frq_status(), 15, 0.3)
    check(st and st.get("overall") == {"cpu": "1"} and st.get("aggregatedStatus") == [
        {"clusterName": a, "hard": {"cpu": "600m"}, "used": {"cpu": "600m"}}],
        "FRQ status written back: %s" % frq_status())
    rc, out, _ = flotilla_quota(port, "-n", "fed", "-o", "wide")
    check("%s=600m/600m" % a in out, "flotilla quota -o wide: %s" % out)

    # the static assignment became a ResourceQuota in member a (and none in b) ...
    def member_rq(m):
        rc, out, _ = kc(m, "get", "resourcequota", "fed-quota", "-n", "fed", "-o", "json")
        return json.loads(out) if rc == 0 else None
    rq = wait(lambda: member_rq(a), 15, 0.3)
    check(rq and rq["spec"]["hard"] == {"cpu": "600m"} and
          rq["metadata"]["labels"].get("federatedresourcequota.karmada.io/name") == "fed-quota",
          "static assignment -> ResourceQuota in %s: %s" % (a, rq))
    check(member_rq(b) is None, "no ResourceQuota in %s, which has no assignment" % b)
    # ... follows a change of the assignment, and goes when the assignment goes
    frq["spec"]["staticAssignments"][0]["hard"] = {"cpu": "700m"}
    kc("host", "apply", "-f", "-", stdin=json.dumps(frq))
    check(wait(lambda: (member_rq(a) or {}).get("spec", {}).get("hard") == {"cpu": "700m"}, 15, 0.3),
          "the member ResourceQuota follows the assignment: %s" % member_rq(a))
    del frq["spec"]["staticAssignments"]
    kc("host", "apply", "-f", "-", stdin=json.dumps(frq))
    check(wait(lambda: member_rq(a) is None, 15, 0.3), "the member ResourceQuota is deleted with "
          "its assignment: %s" % member_rq(a))


def race(members, port, ctx):
    a, b = members
    path = {m: "/admission/clusters/%s/%s/quota" % (m, secret_of(m)) for m in members}
    # a dry run is answered but reserves nothing
    for i in range(8):
        code, r = post(port, ctx, path[a], review("dry-%d" % i, "1m", "race", dry=True))
        check(code == 200 and r["response"]["allowed"], "dry run %d: %s" % (i, r))

    def one(i):
        m = members[i % 2]
        code, r = post(port, ctx, path[m], review("racer-%d" % i, "1m", "race"), timeout=30)
        return code, (r or {}).get("response", {}) if isinstance(r, dict) else {}

    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        results = list(ex.map(one, range(64)))
    allowed = sum(1 for c, r in results if c == 200 and r.get("allowed"))
    denied = [r for c, r in results if c == 200 and r.get("allowed") is False]
    check(allowed == 5, "64 racing clients for 5 pods: %d allowed" % allowed)
    check(len(denied) == 59 and all("exceeded quota: race-quota, requested: pods=1, used: pods=5, "
                                    "limited: pods=5" == d["status"]["message"] for d in denied),
          "the other 59 are denied with Kubernetes' message: %s" % (denied[:1],))
    check(all(d["status"]["code"] == 403 and d["status"]["reason"] == "Forbidden" for d in denied),
          "denials are 403 Forbidden")


def hostile(members, port, ctx):
    a = members[0]
    good = "/admission/clusters/%s/%s/quota" % (a, secret_of(a))
    for path in ("/admission/clusters/%s/wrong/quota" % a,
                 "/admission/clusters/nope/%s/quota" % secret_of(a)):
        code, body = post(port, ctx, path, review("h", "1m", "race"))
        check(code == 403 and isinstance(body, dict) and body.get("kind") == "Status",
              "%s: want a 403 Status, got %d %s" % (path, code, body))
    bad = [b"{not json", b"[]", json.dumps({"apiVersion": "v1", "kind": "Pod"}).encode(),
           json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
           json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": "", "operation": "CREATE"}}).encode(),
           json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": "x", "operation": "CREATE",
                                   "resource": {"group": "", "version": "v1", "resource": "pods"},
                                   "namespace": "race", "object": "pod"}}).encode(),
           json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": "x", "operation": "CREATE", "namespace": "race",
                                   "resource": {"group": "", "version": "v1", "resource": "pods"},
                                   "object": {"spec": {"containers": [{"name": "c", "resources":
                                              {"requests": {"cpu": "lots"}}}]}}}}).encode()]
    for body in bad:
        code, r = post(port, ctx, good, body)
        check(code == 400 and isinstance(r, dict) and r.get("kind") == "Status" and r.get("code") == 400,
              "malformed review %r: want 400 Status, got %d %s" % (body[:60], code, r))
    code, body = post(port, ctx, good, b"{" + b" " * (4 << 20) + b"}")
    # 413 before the handler runs; the server may close while the client still sends
    check(code == 413 or (code == 0 and ("reset" in body or "Broken pipe" in body or "EOF" in body)),
          "a 4 MiB review: want 413, got %d %s" % (code, body))
    # v1beta1 is answered in kind
    rv = json.loads(review("beta", "1m", "race", dry=True))
    rv["apiVersion"] = "admission.k8s.io/v1beta1"
    code, r = post(port, ctx, good, json.dumps(rv).encode())
    check(code == 200 and r.get("apiVersion") == "admission.k8s.io/v1beta1" and
          r["response"]["uid"] == "uid-beta", "v1beta1 review: %d %s" % (code, r))
    # none of the above reserved anything: still exactly full, not over
    code, r = post(port, ctx, good, review("after-hostile", "1m", "race"))
    check(code == 200 and r["response"]["allowed"] is False and
          "used: pods=5," in r["response"]["status"]["message"],
          "hostile reviews reserved something: %s" % r)


def get_json(port, ctx, path, tok=None):
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (port, path),
                                 headers={"Authorization": "Bearer " + (tok or token())})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if path != "/metrics" else raw.decode()
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError) as e:
        return 0, str(e)


def drift_total(port, ctx):
    code, text = get_json(port, ctx, "/metrics")
    check(code == 200, "GET /metrics: %s %s" % (code, text))
    for line in text.splitlines():
        if line.startswith("flotilla_quota_drift_total "):
            return float(line.split()[1])
    check(False, "no flotilla_quota_drift_total in /metrics")


def drift(members, port, ctx):
    """A pod past its deletion grace period stops counting without any change in
    the index: only a full recount sees it. The on-demand recount finds it."""
    a = members[0]
    ns = "drift"
    for m in members + ["host"]:
        kc(m, "create", "namespace", ns)
    kq = {"apiVersion": "quota.flotilla.io/v1alpha1", "kind": "KarmadaQuota",
          "metadata": {"name": "drift-quota", "namespace": ns},
          "spec": {"hard": {"requests.cpu": "4", "pods": "10"}}}
    rc, _, err = kc("host", "apply", "-f", "-", stdin=json.dumps(kq))
    check(rc == 0, "apply drift KarmadaQuota: %s" % err)
    path = "/admission/clusters/%s/%s/quota" % (a, secret_of(a))
    probe = lambda: post(port, ctx, path, review("probe", "5", ns, dry=True))[1]
    check(wait(lambda: (probe() or {}).get("response", {}).get("allowed") is False, 20, 0.2),
          "the daemon never saw the drift namespace's quota: %s" % probe())
    # bound (nodeName) and held by a finalizer: a graceful delete leaves it in place
    # with deletionTimestamp = now + 5 s and deletionGracePeriodSeconds = 5
    pod = json.loads(pod_yaml("d1", "1", ns))
    pod["metadata"]["finalizers"] = ["flotilla.io/test-hold"]
    pod["spec"]["nodeName"] = "node-0"
    rc, _, err = kc(a, "apply", "-f", "-", stdin=json.dumps(pod))
    check(rc == 0, "d1 in %s: %s" % (a, err))
    before = drift_total(port, ctx)
    rc, _, err = kc(a, "delete", "pod", "d1", "-n", ns, "--grace-period=5", "--wait=false")
    check(rc == 0, "delete d1: %s" % err)
    search = "/apis/clusterpedia.io/v1beta1/resources/clusters/%s/api/v1/namespaces/%s/pods/d1" % (a, ns)
    seen = wait(lambda: (get_json(port, ctx, search)[1] or {}).get("metadata", {})
                .get("deletionTimestamp"), 8, 0.1)
    check(seen, "the index never showed d1 terminating: %s" % (get_json(port, ctx, search),))
    # a decision now follows the change log: d1 still counts (its grace runs until +10 s)
    code, r = post(port, ctx, path, review("during", "3500m", ns, dry=True))
    check(code == 200 and r["response"]["allowed"] is False and
          "used: requests.cpu=1, limited: requests.cpu=4" in r["response"]["status"]["message"],
          "d1 counts while terminating: %s" % r)
    # refused to a scoped user, over HTTP and through the CLI
    code, st = post_as(port, ctx, "/api/v1/quota/recount?namespace=" + ns, "team-a-token")
    check(code == 403 and isinstance(st, dict) and st.get("kind") == "Status" and
          st.get("reason") == "Forbidden" and "alice" in st.get("message", ""),
          "a scoped user's recount: want a 403 Status, got %s %s" % (code, st))
    rc, out, err = run(BIN, "quota", "recount", "-n", ns, "--server", "https://127.0.0.1:%d" % port,
                       "--token", "team-a-token", "--certificate-authority",
                       os.path.join(D, "ca", "ca.crt"))
    check(rc == 1 and "403 Forbidden" in err, "flotilla quota recount as a scoped user: %d %r" % (rc, err))
    # past deletionTimestamp + grace: the full count leaves d1 out, the followed usage does not
    time.sleep(max(0.0, ts_of(seen) + 5 + 1.5 - time.time()))
    rc, out, err = flotilla_quota(port, "recount", "-n", ns, "-o", "json")
    doc = json.loads(out) if rc == 0 else {}
    check(doc.get("namespaces") == 1 and doc.get("recounted") == 1 and doc.get("drift") == 1 and
          doc.get("driftNamespaces") == [ns] and isinstance(doc.get("durationMs"), int),
          "flotilla quota recount -n drift: rc %d %s %s" % (rc, out, err))
    after = drift_total(port, ctx)
    # (>=: a reservation of the race above may expire meanwhile, which is drift too)
    check(after >= before + 1, "flotilla_quota_drift_total: %s before, %s after" % (before, after))
    row = lambda: [l.split() for l in flotilla_quota(port, "-n", ns)[1].splitlines()]
    check(["drift", "drift-quota", "requests.cpu", "0", "4", "0%"] in row(),
          "the recount's usage replaced the drifted one: %s" % row())
    # nothing drifts now; every namespace at once, the plain output
    rc, out, err = flotilla_quota(port, "recount")
    check(rc == 0 and "namespace(s)" in out and "drift: 0" in out,
          "flotilla quota recount (all): %d %r %r" % (rc, out, err))
    rc, out, _ = run(BIN, "quota", "recount", "--help")
    check(rc == 0 and "flotilla quota recount" in out and "drift" in out and "Admins only" in out,
          "flotilla quota recount --help: %r" % out)


def ts_of(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def post_as(port, ctx, path, tok):
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (port, path), data=b"", method="POST",
                                 headers={"Authorization": "Bearer " + tok})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read())
        except ValueError:
            return e.code, None
    except OSError as e:
        return 0, str(e)


def member_state(port, ctx, name):
    """What the daemon says of one member (for a failure message)."""
    req = urllib.request.Request("https://127.0.0.1:%d/api/v1/clusters" % port,
                                 headers={"Authorization": "Bearer " + token()})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            items = json.loads(r.read()).get("clusters", [])
    except (OSError, ValueError) as e:
        return str(e)
    return [c for c in items if c.get("name") == name or c.get("metadata", {}).get("name") == name]


def stale(members, port, ctx):
    a = members[0]
    path = "/admission/clusters/%s/%s/quota" % (a, secret_of(a))
    rc, _, err = run(BIN, "sim", "ctl", "--kubeconfig-dir", D, a, "down")
    check(rc == 0, "sim ctl down: %s" % err)

    def denied_stale():
        code, r = post(port, ctx, path, review("s1", "1m", NS, dry=True))
        msg = (r or {}).get("response", {}).get("status", {}).get("message", "") if code == 200 else ""
        return ("cluster %s is" % a) in msg and "stalePolicy deny" in msg and msg
    msg = wait(denied_stale, 40, 0.5)
    check(msg, "a down member's reviews follow the stale policy (deny, naming it)")
    rc, _, err = run(BIN, "sim", "ctl", "--kubeconfig-dir", D, a, "recover")
    check(rc == 0, "sim ctl recover: %s" % err)
    last = []

    def answered():
        last[:] = [post(port, ctx, path, review("s2", "1m", NS, dry=True))]
        r = last[0][1]
        return isinstance(r, dict) and r.get("response", {}).get("allowed")
    if not wait(answered, 60, 0.5):
        with open(os.path.join(D, "serve.log")) as f:
            said = [ln for ln in f if ("collector: %s " % a) in ln or ("cluster %s:" % a) in ln]
        check(False, "reviews are answered again once the member recovered: last %s; the member: "
              "%s; the daemon said of it:\n%s" % (last, member_state(port, ctx, a),
                                                   "".join(said[-40:])))


def no_secrets_logged(members):
    with open(os.path.join(D, "serve.log")) as f:
        log = f.read()
    check("/admission/clusters/%s/***/quota" % members[0] in log, "admissions are logged")
    for m in members:
        check(secret_of(m) not in log, "the access log shows %s's webhook secret" % m)


try:
    members, port, ctx = setup()
    install(members, port)
    kubectl_flow(members, port, ctx)
    visible(members, port, ctx)
    race(members, port, ctx)
    hostile(members, port, ctx)
    drift(members, port, ctx)
    stale(members, port, ctx)
    no_secrets_logged(members)
finally:
    stop_procs(procs)
    if len(procs) > 1:  # the daemon drains and exits 0 (under ASan: no leak, no error)
        check(procs[1].returncode == 0, "flotilla serve exited %s (see serve.log)" % procs[1].returncode)
    if not os.environ.get("KEEP"):
        shutil.rmtree(D, ignore_errors=True)
    else:
        print("kept", D, file=sys.stderr)
done()
