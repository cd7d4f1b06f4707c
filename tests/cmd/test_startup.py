#!/usr/bin/python3
"""tests/cmd/test_startup.py: how `flotilla serve` starts, or refuses to:
* a second daemon on the same dataDir exits 1 naming the data dir and the
  first one's pid (the first keeps serving); after the first stops, it can;
* a missing auth.tokensFile / tls.cert is an error naming file:line: key;
* a listen port in use: the error and the log name that port, not 0;
* the startup log says how clients get in, and warns when nobody can.
Needs FLOTILLA_BIN and FLOTILLA_SRC (tests/meson.build).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import FAILS, check, free_port, wait  # noqa: E402
import test_serve as ts  # noqa: E402


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def serve(cfg, port, data):
    return subprocess.Popen([ts.BIN, "serve", "-c", cfg, "--listen", "127.0.0.1:%d" % port,
                             "--data-dir", data], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def run_serve(cfg, port, data, timeout=10):
    p = serve(cfg, port, data)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err
    return p.returncode, err


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return p.returncode, err


def test_lock(d):
    write(d, "tokens.csv", 't1,admin,"system:masters"\n')
    cfg = write(d, "a.yaml", "auth: {tokensFile: tokens.csv}\nmembers: []\n")
    data = os.path.join(d, "data")
    port = free_port()
    first = serve(cfg, port, data)
    check(wait(lambda: ts.get(port, "/healthz", None)[0] == 200, 10), "first daemon up")
    rc, err = run_serve(cfg, free_port(), data)
    check(rc == 1 and "in use by another flotilla serve (pid %d)" % first.pid in err
          and data in err, "second daemon refused: %r %r" % (rc, err))
    check("UNIQUE constraint" not in err, "no index write from the second")
    check(ts.get(port, "/healthz", None)[0] == 200, "the first still serves")
    rc, _ = stop(first)
    check(rc == 0, "first drains")
    p = serve(cfg, port, data)
    check(wait(lambda: ts.get(port, "/healthz", None)[0] == 200, 10), "after it, a new one starts")
    stop(p)


def test_missing_files(d):
    cfg = write(d, "b.yaml", "listen: 127.0.0.1:1\nauth:\n  tokensFile: nope.csv\nmembers: []\n")
    rc, err = run_serve(cfg, free_port(), os.path.join(d, "data-b"))
    check(rc == 1 and "b.yaml:3: auth.tokensFile: " in err and "nope.csv: No such file" in err,
          "missing tokensFile names file:line: key: %r" % err)
    cfg = write(d, "c.yaml", "listen: 127.0.0.1:1\ntls:\n  cert: no.crt\n  key: no.key\n"
                "members: []\n")
    rc, err = run_serve(cfg, free_port(), os.path.join(d, "data-c"))
    check(rc == 1 and "c.yaml:3: tls.cert: " in err and "no.crt: No such file" in err,
          "missing tls.cert names file:line: key: %r" % err)


def test_port_in_use(d):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    cfg = write(d, "e.yaml", "auth: {anonymousLoopback: true}\nmembers: []\n")
    rc, err = run_serve(cfg, port, os.path.join(d, "data-e"))
    s.close()
    check(rc == 1 and "127.0.0.1:%d" % port in err, "bind failure names the address: %r" % err)
    check("port 0" not in err and ("port %d" % port in err or "bind" not in err),
          "the log names the real port: %r" % err)


def test_access_line(d):
    cfg = write(d, "f.yaml", "members: []\n")
    port = free_port()
    p = serve(cfg, port, os.path.join(d, "data-f"))
    check(wait(lambda: ts.get(port, "/healthz", None)[0] == 200, 10), "no-auth daemon up")
    check(ts.get(port, "/api/v1/clusters", None)[0] == 401, "no auth: 401")
    _, err = stop(p)
    check("nobody can get in" in err and "auth.tokensFile" in err, "warned: %r" % err)
    write(d, "tokens.csv", 't1,admin,"system:masters"\n')
    cfg = write(d, "g.yaml", "auth: {tokensFile: tokens.csv}\nmembers: []\n")
    port = free_port()
    p = serve(cfg, port, os.path.join(d, "data-g"))
    check(wait(lambda: ts.get(port, "/healthz", None)[0] == 200, 10), "token daemon up")
    _, err = stop(p)
    check("API access (/api, /apis): bearer tokens listed in" in err
          and "http://127.0.0.1:%d/apis/clusterpedia.io/v1beta1/resources" % port in err,
          "access line: %r" % err)


def main():
    d = tempfile.mkdtemp(prefix="fl-test-startup-")
    try:
        test_lock(d)
        test_missing_files(d)
        test_port_in_use(d)
        test_access_line(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    time.sleep(0)
    print("%d FAILS" % len(FAILS), file=sys.stderr)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
