#!/usr/bin/python3
"""tests/cmd/test_debug.py: drives `flotilla debug kube` through the real
binary. Feeds every request of tests/cmd/debug/cases.jsonl in one run and
checks each answer line (exact compact bytes for the expected answers,
{"valid":false,"error":...} for invalid operands), then malformed lines (the
loop must go on), --help, an unknown domain, and plain `flotilla debug`.
FLOTILLA_BIN names the binary."""
import json
import os
import subprocess
import sys

BIN = os.environ.get("FLOTILLA_BIN") or sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


def run(args, stdin):
    p = subprocess.run([BIN] + args, input=stdin.encode(), capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def check_cases():
    with open(os.path.join(HERE, "debug", "cases.jsonl")) as f:
        cases = [json.loads(line) for line in f if line.strip()]
    rc, out, err = run(["debug", "kube"], "".join(compact(c["in"]) + "\n" for c in cases))
    lines = out.split("\n")
    if rc != 0 or lines[-1] != "" or len(lines) - 1 != len(cases):
        fail("rc %d, %d answers for %d requests; stderr %s" % (rc, len(lines) - 1, len(cases), err))
        return
    for c, got in zip(cases, lines):
        if "out" in c:
            if got != compact(c["out"]):
                fail("%s: got %s want %s" % (compact(c["in"]), got, compact(c["out"])))
            continue
        ans = json.loads(got)
        if ans.get("valid") is not False or not isinstance(ans.get("error"), str) or not ans["error"]:
            fail("%s: want invalid, got %s" % (compact(c["in"]), got))


def check_malformed():
    reqs = ["garbage", "[1,2]", '{"op":5}', '{"input":"1"}', '{"op":"nope"}',
            '{"op":"quantity"}', '{"op":"fields.match","selector":"a=","fields":3}', "",
            '{"op":"quantity","input":"1"}']
    rc, out, _ = run(["debug", "kube"], "\n".join(reqs) + "\n")
    lines = out.split("\n")[:-1]
    if rc != 0 or len(lines) != len(reqs):
        fail("malformed: rc %d, %d answers for %d lines" % (rc, len(lines), len(reqs)))
        return
    for r, got in zip(reqs[:-1], lines[:-1]):
        ans = json.loads(got)
        if list(ans.keys()) != ["error"]:
            fail("malformed %r: got %s" % (r, got))
    if json.loads(lines[-1]).get("string") != "1":
        fail("the loop did not go on after malformed lines: %s" % lines[-1])
    # a line past the cap is answered, the next one still works
    rc, out, _ = run(["debug"], "x" * (1 << 20 + 1) + '\n{"op":"quantity","input":"2k"}\n')
    lines = out.split("\n")[:-1]
    if len(lines) != 2 or "error" not in json.loads(lines[0]) or json.loads(lines[1])["string"] != "2k":
        fail("long line: %s" % out[:200])
    # last line without a newline is still answered
    rc, out, _ = run(["debug"], '{"op":"quantity","input":"1Ki"}')
    if out != '{"valid":true,"string":"1Ki","value":"1024","milli":"1024000"}\n':
        fail("no trailing newline: %r" % out)


def check_cli():
    rc, out, _ = run(["debug", "--help"], "")
    if rc != 0 or "quantity.cmp" not in out:
        fail("debug --help: rc %d" % rc)
    # every op shows its input members and an example whose answer is what
    # the loop answers for that request
    ops = out.split("\n\n  ")[1:]
    for block in ops:
        lines = [ln.strip() for ln in block.splitlines()]
        name = lines[0]
        if len(lines) < 5 or not lines[1].startswith("in:") or not lines[2].startswith("out:"):
            fail("debug --help: %s lacks in:/out:" % name)
            continue
        req, ans = lines[3], lines[4]
        if not ans.startswith("-> ") or json.loads(req).get("op") != name:
            fail("debug --help: %s example: %r %r" % (name, req, ans))
            continue
        _, got, _ = run(["debug"], req + "\n")
        if json.loads(got) != json.loads(ans[3:]):
            fail("debug --help: %s example answers %s, help says %s" % (name, got.strip(), ans))
    if len(ops) < 9:
        fail("debug --help lists %d ops" % len(ops))
    rc, _, err = run(["debug", "bogus"], "")
    if rc != 2 or "unknown domain" not in err:
        fail("debug bogus: rc %d" % rc)
    rc, out, _ = run(["--help"], "")
    if "debug" not in out:
        fail("flotilla --help does not list debug")


check_cases()
check_malformed()
check_cli()
print("%d failures" % failures)
sys.exit(1 if failures else 0)
