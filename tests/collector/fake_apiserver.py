#!/usr/bin/python3
"""tests/collector/fake_apiserver.py: a small Kubernetes API for the
collector's tests (Python stdlib only). One process = one member cluster.

Serves /readyz /healthz /version, discovery for /api/v1 (pods, configmaps,
nodes, namespaces) and /apis/apps/v1 (404 unless --apps), LIST with
limit/continue and WATCH (chunked JSON lines, bookmarks, resume from a
resourceVersion, ERROR 410 once that is older than the kept history,
timeoutSeconds), with fieldSelector metadata.namespace!=X / metadata.name!=X.
Bearer token required when --token is given.

Control (POST, JSON body) to drive tests deterministically:
  /control/upsert  {"resource","namespace","name","labels"?}  ADDED/MODIFIED
  /control/delete  {"resource","namespace","name"}             DELETED
  /control/vanish  {"resource","namespace","name"}  delete without any event
  /control/compact {}            forget history: older RVs get 410
  /control/drop    {}            cut every open watch (no final chunk)
  /control/churn   {"on": bool}   pods churn-0..49 created/updated/deleted every 5 ms
  /control/apps    {"on": bool}   serve apps/v1 (deployments) or not
  /control/fault   {"mode": ""|"html"|"500"|"401"|"403"|"hang"|"silent"|"garbage"|"nometa"
                            |"truncated"|"big"|"nobookmarks",
                    "lists": bool, "watches": bool, "health": bool}
                   truncated: list bodies cut in the middle (a valid HTTP response);
                   nobookmarks: watches send no BOOKMARK (kube-apiserver v1.26 on an
                   idle resource) and end only at their timeoutSeconds;
                   big: every list page and every watch event carries one extra
                   object of --big-mb MB (default 50)
TLS: --tls-dir DIR makes DIR/ca.crt (+ key) and a serving certificate for
127.0.0.1 with the openssl command and serves HTTPS; --tls-expired makes
that certificate one that expired yesterday.
Prints the bound port on stdout, then serves until killed.
"""
import argparse
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CORE = {"pods": ("Pod", True), "configmaps": ("ConfigMap", True),
        "nodes": ("Node", False), "namespaces": ("Namespace", False)}
APPS = {"deployments": ("Deployment", True)}


class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 100
        self.objs = {}       # (resource, ns, name) -> obj
        self.text = {}       # (resource, ns, name) -> its JSON (lists join these)
        self.pad = 0         # bytes of annotation added to every object (bench)
        self.history = []    # (rv, resource, type, obj)
        self.oldest = 100    # watches from an RV below this get 410
        self.gen = 0         # bumped by /control/drop
        self.fault = {"mode": ""}
        self.churn = False
        self.churner = None
        self.apps = False
        self.big = None      # the --big-mb object's JSON, made on first use
        self.big_mb = 50

    def bump(self):
        self.rv += 1
        return str(self.rv)

    def upsert(self, res, ns, name, labels=None):
        kind = (CORE.get(res) or APPS.get(res))[0]
        key = (res, ns, name)
        typ = "MODIFIED" if key in self.objs else "ADDED"
        meta = {"name": name, "uid": "uid-%s-%s-%s" % key,
                "resourceVersion": self.bump(),
                "creationTimestamp": "2026-11-22T00:00:00Z"}
        if ns:
            meta["namespace"] = ns
        if labels:
            meta["labels"] = labels
        if self.pad:
            meta["annotations"] = {"bench/pad": "x" * self.pad}
        obj = {"kind": kind, "apiVersion": "apps/v1" if res in APPS else "v1",
               "metadata": meta, "spec": {}}
        self.objs[key] = obj
        self.text[key] = json.dumps(obj, separators=(",", ":"))
        self.history.append((self.rv, res, typ, obj))
        self.lock.notify_all()

    def delete(self, res, ns, name, silent=False):
        obj = self.objs.pop((res, ns, name), None)
        self.text.pop((res, ns, name), None)
        if obj is None:
            return
        obj = json.loads(json.dumps(obj))
        obj["metadata"]["resourceVersion"] = self.bump()
        if not silent:
            self.history.append((self.rv, res, "DELETED", obj))
        self.lock.notify_all()


def churn(st):
    import random
    rnd = random.Random(7)
    while True:
        time.sleep(0.005)
        with st.lock:
            if not st.churn:
                continue
            name = "churn-%d" % rnd.randrange(50)
            if rnd.random() < 0.3:
                st.delete("pods", "default", name)
            else:
                st.upsert("pods", "default", name, {"n": str(rnd.randrange(5))})
            if len(st.history) > 5000:
                del st.history[:1000]
                st.oldest = st.history[0][0]


def selector_ok(obj, sel):
    if not sel:
        return True
    for term in sel.split(","):
        if "!=" in term:
            field, val = term.split("!=", 1)
            neg = True
        elif "=" in term:
            field, val = term.split("=", 1)
            neg = False
        else:
            continue
        have = obj["metadata"].get(field.split(".", 1)[1], "")
        if (have == val) == neg:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    st = None
    token = None

    def log_message(self, *args):
        pass

    def send_json(self, code, obj, ctype="application/json"):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, msg):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": msg, "reason": reason,
                              "code": code})

    def fault_for(self, what):
        f = self.st.fault
        if not f.get("mode") or not f.get(what, True):
            return False
        mode = f["mode"]
        if mode == "html":
            body = b"<html><body>502 Bad Gateway</body></html>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return True
        if mode == "500":
            self.status(500, "InternalError", "etcdserver: request timed out")
            return True
        if mode == "401":
            self.status(401, "Unauthorized", "Unauthorized")
            return True
        if mode == "403":
            self.status(403, "Forbidden", 'pods is forbidden: User "x" cannot list resource "pods"')
            return True
        if mode == "hang":
            time.sleep(3600)
            return True
        if mode == "silent":  # headers, then nothing: a stalled stream
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            time.sleep(3600)
            return True
        return False

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        st = self.st
        with st.lock:
            p = self.path
            if p == "/control/upsert":
                st.upsert(body["resource"], body.get("namespace", ""), body["name"],
                          body.get("labels"))
            elif p == "/control/delete":
                st.delete(body["resource"], body.get("namespace", ""), body["name"])
            elif p == "/control/vanish":
                st.delete(body["resource"], body.get("namespace", ""), body["name"], True)
            elif p == "/control/compact":
                st.oldest = st.rv + 1
                st.history = []
            elif p == "/control/drop":
                st.gen += 1
                st.lock.notify_all()
            elif p == "/control/churn":  # {"on": bool}: random churn-N upserts/deletes
                st.churn = bool(body.get("on"))
                if st.churn and not st.churner:
                    st.churner = threading.Thread(target=churn, args=(st,), daemon=True)
                    st.churner.start()
            elif p == "/control/apps":
                st.apps = bool(body.get("on"))
            elif p == "/control/fault":
                st.fault = body
                st.lock.notify_all()
            else:
                return self.status(404, "NotFound", "no such control")
            rv = st.rv
        self.send_json(200, {"resourceVersion": str(rv)})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        if path in ("/readyz", "/healthz", "/livez"):
            if self.st.fault.get("health") and self.fault_for("health"):
                return
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(body)
            return
        if self.token and self.headers.get("Authorization") != "Bearer " + self.token:
            return self.status(401, "Unauthorized", "Unauthorized")
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "26", "gitVersion": "v1.26.0-fake"})
        if path == "/api/v1":
            return self.send_json(200, discovery("v1", CORE))
        if path == "/apis/apps/v1":
            if not self.st.apps:
                return self.send_json(404, {"kind": "Status", "code": 404, "reason": "NotFound",
                                            "message": "the server could not find the requested resource"})
            return self.send_json(200, discovery("apps/v1", APPS))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
        elif parts[:3] == ["apis", "apps", "v1"] and self.st.apps:
            rest = parts[3:]
        else:
            return self.status(404, "NotFound", "the server could not find the requested resource")
        ns = None
        if len(rest) == 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        if len(rest) != 1 or (rest[0] not in CORE and rest[0] not in APPS):
            return self.status(404, "NotFound", "the server could not find the requested resource")
        res = rest[0]
        if q.get("watch") in ("1", "true"):
            return self.watch(res, ns, q)
        return self.list(res, ns, q)

    def matching(self, res, ns, sel):
        out = []
        for key in sorted(self.st.objs):
            r, ons, name = key
            obj = self.st.objs[key]
            if r == res and (ns is None or ons == ns) and selector_ok(obj, sel):
                out.append(key)
        return out

    def list(self, res, ns, q):
        if self.fault_for("lists"):
            return
        st = self.st
        with st.lock:
            limit = int(q.get("limit", "0") or 0)
            cont = q.get("continue", "")
            if cont:
                off, rv = cont.split(":")
                off = int(off)
                if int(rv) < st.oldest - 1:
                    return self.status(410, "Expired", "The provided continue parameter is too old")
            else:
                off, rv = 0, str(st.rv)
            keys = self.matching(res, ns, q.get("fieldSelector", ""))
            page = keys[off:off + limit] if limit else keys[off:]
            meta = {"resourceVersion": rv}
            if limit and off + limit < len(keys):
                meta["continue"] = "%d:%s" % (off + limit, rv)
            kind = (CORE.get(res) or APPS.get(res))[0]
            items = [st.text[k] for k in page]
            lfault = st.fault.get("mode") if st.fault.get("lists", True) else ""
            if lfault == "nometa":
                items.append(json.dumps({"kind": kind, "spec": {}}))
            if lfault == "big":
                items.append(big_object(st, kind, ns or "default"))
            body = ('{"kind":"%sList","apiVersion":"v1","metadata":%s,"items":[%s]}\n'
                    % (kind, json.dumps(meta), ",".join(items))).encode()
            if lfault == "truncated":
                body = body[:len(body) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, res, ns, q):
        if self.fault_for("watches"):
            return
        st = self.st
        sel = q.get("fieldSelector", "")
        timeout = float(q.get("timeoutSeconds", "300"))
        deadline = time.time() + timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with st.lock:
            gen = st.gen
            since = int(q.get("resourceVersion") or st.rv)
            if since < st.oldest - 1:
                err = {"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "too old resource version: %d (%d)" % (since, st.oldest),
                    "reason": "Expired", "code": 410}}
                self.chunk((json.dumps(err) + "\n").encode())
                self.chunk(b"")
                return
        last_bookmark = time.time()
        try:
            while True:
                with st.lock:
                    if st.gen != gen:
                        self.close_connection = True
                        return  # cut: no final chunk
                    evs = [(rv, t, o) for (rv, r, t, o) in st.history
                           if rv > since and r == res and
                           (ns is None or o["metadata"].get("namespace") == ns) and
                           selector_ok(o, sel)]
                    if evs:
                        since = evs[-1][0]
                    mode = st.fault.get("mode") if st.fault.get("watches", True) else ""
                    quiet = mode == "nobookmarks"
                    if not evs and time.time() < deadline and (
                            quiet or time.time() - last_bookmark < 1):
                        st.lock.wait(0.2)
                        continue
                for rv, t, o in evs:
                    if mode == "garbage":
                        self.chunk(b"this is not json\n")
                    if mode == "nometa":
                        self.chunk(b'{"type":"ADDED","object":{"kind":"Pod"}}\n')
                    if mode == "big":
                        self.chunk(('{"type":"ADDED","object":%s}\n'
                                    % big_object(st, "Pod", "default")).encode())
                    self.chunk((json.dumps({"type": t, "object": o}) + "\n").encode())
                if time.time() >= deadline:
                    self.chunk(b"")
                    return
                if not quiet and time.time() - last_bookmark >= 1:
                    kind = (CORE.get(res) or APPS.get(res))[0]
                    bm = {"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": "v1",
                          "metadata": {"resourceVersion": str(max(since, st.oldest - 1))}}}
                    self.chunk((json.dumps(bm) + "\n").encode())
                    last_bookmark = time.time()
        except (BrokenPipeError, ConnectionResetError):
            return


def big_object(st, kind, ns):
    """One object of --big-mb MB (JSON text), built once."""
    if st.big is None:
        st.big = json.dumps({"kind": kind, "apiVersion": "v1", "metadata": {
            "name": "huge", "namespace": ns, "uid": "uid-huge", "resourceVersion": str(st.rv),
            "annotations": {"big": "x" * (st.big_mb << 20)}}})
    return st.big


def make_tls(d, expired):
    """CA + serving certificate for 127.0.0.1 in d (openssl command line)."""
    import os
    import subprocess
    os.makedirs(d, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *ec, "-keyout", d + "/ca.key", "-out", d + "/ca.crt",
        "-subj", "/CN=fake-ca", "-days", "30")
    run("req", *ec, "-keyout", d + "/server.key", "-out", d + "/server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(d + "/ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.crt", "-CAkey", d + "/ca.key",
        "-CAcreateserial", "-days", "-1" if expired else "30", "-extfile", d + "/ext",
        "-out", d + "/server.crt")


def discovery(gv, table):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": n, "singularName": "", "namespaced": nsd, "kind": k,
                           "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                          for n, (k, nsd) in table.items()]
            + [{"name": "pods/status", "singularName": "", "namespaced": True, "kind": "Pod",
                "verbs": ["get", "patch", "update"]}]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--token", default=None)
    ap.add_argument("--apps", action="store_true")
    ap.add_argument("--pods", type=int, default=0, help="pods to create in namespace default")
    ap.add_argument("--pad", type=int, default=0, help="annotation bytes per object")
    ap.add_argument("--big-mb", type=int, default=50, help="size of the 'big' fault's object")
    ap.add_argument("--tls-dir", default=None)
    ap.add_argument("--tls-expired", action="store_true")
    a = ap.parse_args()
    st = State()
    st.pad = a.pad
    st.big_mb = a.big_mb
    st.apps = a.apps
    with st.lock:
        for ns in ("default", "kube-system", "team-a"):
            st.upsert("namespaces", "", ns)
        st.upsert("pods", "kube-system", "coredns")
        for i in range(a.pods):
            st.upsert("pods", "default", "pod-%d" % i, {"app": "demo"})
    Handler.st = st
    Handler.token = a.token
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None  # TLS failures are expected
    if a.tls_dir:
        import ssl
        make_tls(a.tls_dir, a.tls_expired)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_dir + "/server.crt", a.tls_dir + "/server.key")
        # the handshake runs in the request thread, so a bad client never
        # blocks accept()
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    sys.stdout.write("%d\n" % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
