#!/usr/bin/python3
"""tests/quota/test_debug_quota.py: drives `flotilla debug quota` through the
real binary with every case of tests/quota/cases.py — Karmada's
FederatedResourceQuota validation and ResourceBinding admission test cases,
Kubernetes' pod evaluator usage cases, kube-apiserver v1.26's golden quota
answers (tests/quota/quota-*.json, copied from k8s-golden) and the evaluator
rules (scopes, services, pvcs, object counts, workloads) — in one run. Each
answer must equal the expected JSON; cases marked "error" must answer
{"error": "..."}. Then malformed lines, which must not stop the loop.
FLOTILLA_BIN names the binary."""
import json
import os
import subprocess
import sys

BIN = os.environ.get("FLOTILLA_BIN") or sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cases import CASES  # noqa: E402
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


def run(stdin):
    p = subprocess.run([BIN, "debug", "quota"], input=stdin.encode(), capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def check_cases():
    cases = CASES
    rc, out, err = run("".join(compact(c["in"]) + "\n" for c in cases))
    lines = out.split("\n")
    if rc != 0 or lines[-1] != "" or len(lines) - 1 != len(cases):
        fail("rc %d, %d answers for %d requests; stderr %s" % (rc, len(lines) - 1, len(cases), err))
        return
    for c, got in zip(cases, lines):
        ans = json.loads(got)
        if c.get("error"):
            if set(ans) != {"error"} or not ans["error"]:
                fail("%s: want an error, got %s" % (c["name"], got))
        elif ans != c["out"]:
            fail("%s:\n   got  %s\n   want %s" % (c["name"], got, compact(c["out"])))
    print("%d cases" % len(cases))


def check_malformed():
    reqs = ["garbage", "[1]", '{"op":"frq.validate"}', '{"op":"binding.admit"}', '{"op":"quota.admit"}',
            '{"op":"quota.usage","object":{}}', '{"op":"quantity","input":"1"}',
            '{"op":"binding.usage","binding":{"clusters":5}}',
            '{"op":"frq.validate","frq":{"spec":{"overall":{"cpu":"1"}}}}']
    rc, out, _ = run("\n".join(reqs) + "\n")
    lines = out.split("\n")[:-1]
    if rc != 0 or len(lines) != len(reqs):
        fail("malformed: rc %d, %d answers for %d lines" % (rc, len(lines), len(reqs)))
        return
    for r, got in zip(reqs[:-1], lines[:-1]):
        if "error" not in json.loads(got):
            fail("malformed %r answered %s" % (r, got))
    if json.loads(lines[-1]) != {"errors": []}:
        fail("the loop did not go on after malformed lines: %s" % lines[-1])


check_cases()
check_malformed()
if failures:
    print("%d failure(s)" % failures)
    sys.exit(1)
print("ok")
