"""tests/sim/simtest.py: shared helpers for the simulator's Python drivers —
start `$FLOTILLA_BIN sim` in a temp dir, wait for "ready", read the
kubeconfigs, talk to a cluster with urllib, stop it with SIGTERM."""
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import FAILS, check, done  # noqa: E402,F401 (re-exported to the sim drivers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


class Sim:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="flotilla-sim-")
        cmd = [os.environ["FLOTILLA_BIN"], "sim", "--kubeconfig-dir", self.dir] + \
            [a.replace("{dir}", self.dir) for a in args]
        # The sim's log goes to a file, never to an unread pipe that could fill and block it.
        self.log = open(os.path.join(self.dir, "sim.log"), "w+")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.lines = []
        self.clusters = {}
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("cluster "):
                parts = line.split()
                self.clusters[parts[1]] = parts[2]
            if line.strip() == "ready":
                break
        if not self.clusters:
            raise SystemExit("sim did not start: " + self.log_tail())
        self.ctx = None
        if os.path.exists(os.path.join(self.dir, "ca.crt")):
            self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))

    def log_tail(self, n=4000):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()[-n:]

    def kubeconfig(self, name):
        return os.path.join(self.dir, name + ".kubeconfig")

    def token(self, name):
        with open(self.kubeconfig(name)) as f:
            for line in f:
                if line.strip().startswith("token:"):
                    return line.split()[1]
        return None

    def req(self, cluster, path, method="GET", body=None, token=True, headers=None,
            ctype="application/json", raw=False):
        """Returns (status, headers, body) with body parsed when JSON."""
        url = self.clusters[cluster] + path
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = urllib.request.Request(url, data=data, method=method)
        if token is True:
            r.add_header("Authorization", "Bearer " + self.token(cluster))
        elif token:
            r.add_header("Authorization", "Bearer " + token)
        r.add_header("Accept", "application/json")
        r.add_header("User-Agent", "simtest/1.0")
        if data is not None:
            r.add_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            r.add_header(k, v)
        try:
            opener = urllib.request.build_opener(
                NoRedirect, urllib.request.HTTPSHandler(context=self.ctx))
            resp = opener.open(r, timeout=30)
            status, hdrs, text = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, text = e.code, e.headers, e.read()
        except urllib.error.URLError:
            print("sim exit status %s; its log ends:\n%s" % (self.p.poll(), self.log_tail()),
                  file=sys.stderr)
            raise
        if raw:
            return status, hdrs, text
        try:
            return status, hdrs, json.loads(text) if text else None
        except ValueError:
            return status, hdrs, text.decode(errors="replace")

    def watch(self, cluster, path, token=True, headers=None):
        """Returns (status, list of events) for a watch that ends by itself."""
        st, hdrs, text = self.req(cluster, path, token=token, headers=headers, raw=True)
        events = [json.loads(l) for l in text.decode().splitlines() if l.strip()]
        return st, events

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = -9
        check(rc == 0, "sim exits cleanly on SIGTERM (rc=%s): %s" % (rc, self.log_tail()))
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def b64url_json(tok):
    tok += "=" * (-len(tok) % 4)
    return json.loads(base64.urlsafe_b64decode(tok))
