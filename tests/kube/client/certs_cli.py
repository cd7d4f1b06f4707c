#!/usr/bin/python3
"""tests/kube/client/certs_cli.py: `flotilla certs` end to end. Makes a CA,
a serving certificate and a client certificate with the CLI, then checks
them with the openssl command (chain, SANs, subject, key modes) and checks
the usage errors. FLOTILLA_BIN is the binary."""
import os
import stat
import subprocess
import sys
import tempfile

BIN = os.environ["FLOTILLA_BIN"]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)


def run(*args):
    return subprocess.run([BIN, "certs", *args], capture_output=True, text=True, timeout=30)


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


with tempfile.TemporaryDirectory() as d:
    ca, srv, cli = (os.path.join(d, x) for x in ("ca", "srv", "cli"))
    r = run("ca", "--out", ca, "--cn", "test-ca")
    check(r.returncode == 0, "certs ca: " + r.stderr)
    r = run("server", "--ca", ca, "--host", "127.0.0.1,localhost,::1", "--out", srv)
    check(r.returncode == 0, "certs server: " + r.stderr)
    r = run("client", "--ca", ca, "--user", "alice", "--group", "system:masters",
            "--group", "team-a", "--out", cli, "--days", "30")
    check(r.returncode == 0, "certs client: " + r.stderr)
    v = openssl("verify", "-CAfile", os.path.join(ca, "ca.crt"), os.path.join(srv, "server.crt"),
                os.path.join(cli, "client.crt"))
    check(v.returncode == 0 and v.stdout.count(": OK") == 2, "openssl verify: " + v.stdout + v.stderr)
    v = openssl("verify", "-CAfile", os.path.join(ca, "ca.crt"), "-purpose", "sslserver",
                os.path.join(srv, "server.crt"))
    check(v.returncode == 0, "server purpose")
    v = openssl("verify", "-CAfile", os.path.join(ca, "ca.crt"), "-purpose", "sslclient",
                os.path.join(cli, "client.crt"))
    check(v.returncode == 0, "client purpose")
    t = openssl("x509", "-in", os.path.join(srv, "server.crt"), "-noout", "-ext", "subjectAltName")
    check("IP Address:127.0.0.1" in t.stdout and "DNS:localhost" in t.stdout
          and "IP Address:0:0:0:0:0:0:0:1" in t.stdout, "SANs: " + t.stdout)
    t = openssl("x509", "-in", os.path.join(cli, "client.crt"), "-noout", "-subject")
    check("CN = alice" in t.stdout and "O = system:masters" in t.stdout
          and "O = team-a" in t.stdout, "subject: " + t.stdout)
    for p in (os.path.join(ca, "ca.key"), os.path.join(srv, "server.key"),
              os.path.join(cli, "client.key")):
        check(stat.S_IMODE(os.stat(p).st_mode) == 0o600, "mode of " + p)
    check(os.path.exists(os.path.join(srv, "ca.crt")) and not os.path.exists(os.path.join(srv, "ca.key")),
          "server dir has ca.crt but not ca.key")
    # usage errors
    r = run("server", "--out", srv)
    check(r.returncode != 0 and "--ca" in r.stderr, "missing --ca: " + r.stderr)
    r = run("client", "--ca", ca, "--out", cli)
    check(r.returncode != 0 and "--user" in r.stderr, "missing --user: " + r.stderr)
    r = run("bogus", "--out", d)
    check(r.returncode == 2, "unknown kind")
    r = run("ca", "--out", ca, "--days", "0")
    check(r.returncode == 2, "bad --days")
    r = run("--help")
    check(r.returncode == 0 and "flotilla certs ca" in r.stdout, "--help")

print("certs cli: %d failures" % failures)
sys.exit(1 if failures else 0)
