#!/usr/bin/python3
"""tests/query/test_secrets.py: Secret data never lands in the index or an
answer (#19.5). With `sync.prune: {lastAppliedConfiguration: false}` (so
other objects keep the annotation), a Secret created by `kubectl apply`
(whose last-applied annotation holds its data in plaintext) and one POSTed
with such an annotation are synced; then the database file, its WAL and
every API answer (list, get, Table with objects, watch, search, the
all-clusters and /clusters/ prefixes) are searched for the plaintext and
its base64. A ConfigMap keeps its annotation (the setting is honoured for
other types). Needs FLOTILLA_BIN (tests/meson.build) and kubectl.
"""
import base64
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import FAILS, check, free_port, wait, sim_token, stop_procs  # noqa: E402
from testlib import start_sim  # noqa: E402

BIN = os.environ["FLOTILLA_BIN"]
PREFIX = "/apis/clusterpedia.io/v1beta1/resources"
PROCS = []
PLAIN = [b"s3cr3t-applied-pw", b"s3cr3t-posted-pw"]
SECRETS = PLAIN + [base64.b64encode(p).rstrip(b"=") for p in PLAIN]


def http(url, token=None, headers=None, timeout=10, method="GET", body=None):
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def status(url):
    try:
        return http(url)[0]
    except OSError:
        return 0


def leaks(data):
    return [s.decode() for s in SECRETS if s in data]


def create(d, clusters):
    kc = os.path.join(d, "east-1.kubeconfig")
    y = os.path.join(d, "secret.yaml")
    with open(y, "w") as f:
        f.write("apiVersion: v1\nkind: Secret\nmetadata: {name: applied, namespace: default}\n"
                "stringData: {password: %s}\n---\n"
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied-cm, namespace: default}\n"
                "data: {k: plain-config}\n" % PLAIN[0].decode())
    p = subprocess.run(["kubectl", "--kubeconfig", kc, "--cache-dir", os.path.join(d, "kcache"),
                        "apply", "-f", y], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "kubectl apply to the sim: %s" % p.stderr[:300])
    la = json.dumps({"apiVersion": "v1", "kind": "Secret", "stringData": {"pw": PLAIN[1].decode()},
                     "metadata": {"name": "posted", "namespace": "default"}})
    st, _ = http(clusters["east-1"] + "/api/v1/namespaces/default/secrets", sim_token(d, "east-1"),
                 method="POST", body={"apiVersion": "v1", "kind": "Secret",
                                      "metadata": {"name": "posted", "namespace": "default",
                                                   "annotations": {
                                                       "kubectl.kubernetes.io/last-applied-"
                                                       "configuration": la}},
                                      "data": {"pw": base64.b64encode(PLAIN[1]).decode()}})
    check(st == 201, "POST secret with a last-applied annotation: %s" % st)


def main():
    d = tempfile.mkdtemp(prefix="flotilla-secrets-")
    serve = None
    try:
        p, clusters = start_sim(BIN, d, "--clusters", "2")
        PROCS.append(p)
        create(d, clusters)
        src = open(os.path.join(d, "flotilla.yaml")).read()
        port = free_port()
        src = src.replace("listen: 127.0.0.1:7443", "listen: 127.0.0.1:%d" % port)
        src = src.replace("dataDir: ./flotilla-data", "dataDir: %s/data" % d)
        src = src.replace("  tokensFile: tokens.csv\n", "  tokensFile: tokens.csv\n"
                          "  anonymousLoopback: true\n")
        src = src.replace("sync:\n", "sync:\n  prune: {lastAppliedConfiguration: false}\n")
        cfg = os.path.join(d, "secrets.yaml")
        with open(cfg, "w") as f:
            f.write(src)
        log = open(os.path.join(d, "serve.log"), "w")
        serve = subprocess.Popen([BIN, "serve", "-c", cfg], stdout=log, stderr=log)
        PROCS.append(serve)
        base = "http://127.0.0.1:%d" % port
        one = base + PREFIX + "/clusters/east-1/api/v1/namespaces/default/secrets/"
        ok = wait(lambda: all(status(one + n) == 200 for n in ("applied", "posted")), 30, 0.2)
        check(ok, "both Secrets synced")
        st, body = http(base + PREFIX + "/clusters/east-1/api/v1/namespaces/default/configmaps/"
                        "applied-cm")
        check(st == 200 and b"last-applied-configuration" in body,
              "a ConfigMap keeps its annotation (prune off): %s" % st)
        table = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
        answers = [
            (base + PREFIX + "/api/v1/secrets", None),
            (base + PREFIX + "/api/v1/namespaces/default/secrets", None),
            (base + PREFIX + "/clusters/east-1/api/v1/secrets", None),
            (one + "applied", None), (one + "posted", None),
            (base + PREFIX + "/api/v1/secrets?includeObject=Object", table),
            (one + "applied?includeObject=Object", table),
            (base + PREFIX + "/api/v1/secrets?search=s3cr3t", None),
            (base + PREFIX + "/api/v1/secrets?watch=1&timeoutSeconds=1", None),
            (base + PREFIX + "/api/v1/secrets?watch=1&timeoutSeconds=1&resourceVersion=0", None),
        ]
        for url, hdr in answers:
            st, body = http(url, headers=hdr)
            check(st in (200, 400) and not leaks(body) and
                  b"last-applied-configuration" not in body,
                  "API answer %s: %s leaks %s" % (url[len(base):], st, leaks(body)))
        st, body = http(one + "applied")
        check(st == 200 and json.loads(body)["metadata"]["name"] == "applied", "GET works")
        # the database and its WAL, while running and after a clean stop
        for when in ("running", "stopped"):
            if when == "stopped":
                serve.terminate()
                serve.wait(20)
            files = [f for f in glob.glob(os.path.join(d, "data", "**"), recursive=True)
                     if os.path.isfile(f)]
            check(any(f.endswith(".db") for f in files), "database file found: %s" % files)
            for f in files:
                data = open(f, "rb").read()
                check(not leaks(data), "%s (%s): leaks %s" % (os.path.basename(f), when,
                                                                leaks(data)))
    finally:
        stop_procs(PROCS)
        if FAILS:
            sys.stderr.write(open(os.path.join(d, "serve.log")).read()[-3000:])
        shutil.rmtree(d, ignore_errors=True)
    print("%d failure(s)" % len(FAILS), file=sys.stderr)
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
