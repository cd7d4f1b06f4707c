#!/usr/bin/python3
"""tests/kube/client/server.py: the HTTPS server test_client.c talks to.

Two listeners on 127.0.0.1 (ports written to DIR/ports as "tls mtls"):
  tls   server certificate DIR/server.crt + DIR/server.key, client
        certificates optional (verified against DIR/ca.crt when sent);
  mtls  the same, but a client certificate is required.
Routes (an optional /clusters/<name> prefix is ignored for routing):
  /ok            200 JSON {path, host, method, user, auth}, a Warning header
  /auth          200 when "Authorization: Bearer <DIR/valid-token>", else a 401 Status
  /notfound      404 Status; /status500 500 text/plain; /status418 418 no body
  /echo          JSON {method, content_type, body}
  /big?n=N       N bytes of 'x'
  /hang          headers, then silence for 30 s
  /slow          a chunked body that drips one byte every 200 ms
  /watch?n=N     N JSON lines (chunked), then a clean end
  /cutclean      "one\\n" + "two-without-newline", clean chunked end
  /cutabrupt     "one\\n" + "partial", then the connection is dropped
  /bigline       one 10 MiB line
Stdlib only. Exits when stdin closes or on SIGTERM.
"""
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

DIR = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def route(self):
        path = urllib.parse.urlsplit(self.path).path
        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "clusters":
            path = "/" + "/".join(parts[3:])
        return path

    def query(self):
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)

    def send_json(self, code, obj, extra=()):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, message):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message, "reason": reason,
                              "code": code})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def start_chunked(self, ctype="application/json"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def peer_user(self):
        cert = self.connection.getpeercert()
        if not cert:
            return ""
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return ""

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def handle_any(self):
        r = self.route()
        req_body = self.body()
        if r == "/ok":
            self.send_json(200, {"path": urllib.parse.urlsplit(self.path).path,
                                 "host": self.headers.get("Host"), "method": self.command,
                                 "user": self.peer_user(),
                                 "auth": self.headers.get("Authorization") or "",
                                 "accept": self.headers.get("Accept") or "",
                                 "agent": self.headers.get("User-Agent") or ""},
                           [("Warning", '299 - "deprecated thing"'),
                            ("Warning", '299 - "second warning"')])
        elif r == "/auth":
            try:
                with open(os.path.join(DIR, "valid-token")) as f:
                    valid = f.read().strip()
            except OSError:
                valid = None
            if valid and self.headers.get("Authorization") == "Bearer " + valid:
                self.send_json(200, {"ok": True, "token": valid})
            else:
                self.status(401, "Unauthorized", "Unauthorized")
        elif r == "/notfound":
            self.status(404, "NotFound", 'pods "x" not found')
        elif r == "/status500":
            body = b"oops, internal\n"
            self.send_response(500)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif r == "/status418":
            self.send_response(418)
            self.send_header("Content-Length", "0")
            self.send_header("Retry-After", "7")
            self.end_headers()
        elif r == "/echo":
            self.send_json(200, {"method": self.command,
                                 "content_type": self.headers.get("Content-Type") or "",
                                 "body": req_body.decode()})
        elif r == "/big":
            n = int(self.query().get("n", ["0"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(b"x" * n)
        elif r == "/hang":
            self.start_chunked()
            time.sleep(30)
        elif r == "/slow":
            self.start_chunked()
            for _ in range(300):
                self.chunk(b"x")
                time.sleep(0.2)
        elif r == "/watch":
            n = int(self.query().get("n", ["3"])[0])
            self.start_chunked()
            for i in range(n):
                self.chunk(b'{"type":"ADDED","object":{"i":%d}}\n' % i)
            self.wfile.write(b"0\r\n\r\n")
        elif r == "/cutclean":
            self.start_chunked()
            self.chunk(b"one\n")
            self.chunk(b"two-without-newline")
            self.wfile.write(b"0\r\n\r\n")
        elif r == "/cutabrupt":
            self.start_chunked()
            self.chunk(b"one\n")
            self.chunk(b"partial")
            self.wfile.flush()
            time.sleep(0.1)
            self.close_connection = True
            try:
                self.connection.unwrap()
            except (OSError, ssl.SSLError):
                pass
            self.connection.close()
        elif r == "/bigline":
            self.start_chunked()
            block = b"y" * (1 << 20)
            try:
                for _ in range(10):
                    self.chunk(block)
                self.chunk(b"\n")
                self.wfile.write(b"0\r\n\r\n")
            except (OSError, ssl.SSLError):
                pass
        else:
            self.status(404, "NotFound", "the server could not find the requested resource")


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, ctx):
        self.ctx = ctx
        super().__init__(("127.0.0.1", 0), Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request's thread, not the acceptor.
        try:
            tls = self.ctx.wrap_socket(request, server_side=True,
                                       do_handshake_on_connect=False)
        except (ssl.SSLError, OSError):
            request.close()
            return
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError):
            # Our alert is on its way: half-close and drain what the client
            # sent after its Finished, so that close() does not reset the
            # connection before the client reads the alert.
            try:
                tls.shutdown(socket.SHUT_WR)
                tls.settimeout(2)
                deadline = time.time() + 2
                while time.time() < deadline and tls.recv(65536):
                    pass
            except (ssl.SSLError, OSError):
                pass
            tls.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass

    def handle_error(self, request, client_address):
        pass


def context(required):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(DIR, "server.crt"), os.path.join(DIR, "server.key"))
    ctx.load_verify_locations(os.path.join(DIR, "ca.crt"))
    ctx.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return ctx


def main():
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    servers = [TLSServer(context(False)), TLSServer(context(True))]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = os.path.join(DIR, "ports.tmp")
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (servers[0].server_address[1], servers[1].server_address[1]))
    os.rename(tmp, os.path.join(DIR, "ports"))
    sys.stdin.read()  # the test closes our stdin (or dies) when done
    os._exit(0)


if __name__ == "__main__":
    main()
