#!/usr/bin/python3
"""tests/cmd/test_control_disk.py: the daemon's control-plane API when its
disk fills up, with the real binary, real kubectl and a real control.db.
Two ways to fill it, neither needing root:
  * a full disk: dataDir on a 9 MiB tmpfs mounted in a user and mount
    namespace (`unshare --user --map-root-user --mount`; where unprivileged
    user namespaces are off this part says so and is skipped). SQLite says
    "database or disk is full"; on the way the WAL's checkpoint into the
    main file fails first (the commit that triggered it is durable and must
    be acknowledged as such);
  * a size limit: the daemon under RLIMIT_FSIZE (writes past it fail with
    EFBIG: SQLite's "disk I/O error"). Always runs.
Each writes 100 KB ConfigMaps until one is refused, then checks: that
answer is 500 with a Kubernetes Status (reason InternalError, "Internal
error occurred: control.db: <step>: <SQLite's words>", the cause in
details), kubectl prints it; the refused object is not there, reads go on,
a later write is refused the same way; after a restart on the same files
with room every acknowledged object reads back with its resourceVersion,
the refused ones do not exist, and new writes get higher resourceVersions.
Also the other bound of control.db: controlPlane.history (flotilla.yaml)
changes kept; a watch from an older resourceVersion answers 410 Expired,
also after a restart, one within them replays every later change.
Needs FLOTILLA_BIN (tests/meson.build).
"""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import (check, control_up, done, free_port, http_json, kubeconfig,  # noqa: E402
                     kubectl, stop_procs, wait)

BIN = os.environ["FLOTILLA_BIN"]
PAYLOAD = "x" * 100000
procs = []


def write_config(d, name, data_dir, port, extra=""):
    path = os.path.join(d, name + ".yaml")
    with open(path, "w") as f:
        f.write("listen: 127.0.0.1:%d\ndataDir: %s\nmembers: []\n%s" % (port, data_dir, extra))
    return path


def cm(name):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": {"v": PAYLOAD}}


CMS = "/api/v1/namespaces/default/configmaps"


def fill(d, port, words):
    """Create ConfigMaps until one is refused; check the refusal. Returns
    ({name: resourceVersion} acknowledged, [names refused])."""
    acked, refused = {}, []
    code, st = 0, None
    for i in range(600):
        name = "fill-%d" % i
        code, st = http_json(port, "POST", CMS, cm(name))
        if code != 201:
            refused.append(name)
            break
        acked[name] = st["metadata"]["resourceVersion"]
    check(code == 500, "a write the disk cannot take: 500 (%s after %d writes: %s)" %
          (code, len(acked), str(st)[:300]))
    if code != 500:
        return acked, refused
    msg = st.get("message", "") if isinstance(st, dict) else ""
    causes = st.get("details", {}).get("causes", []) if isinstance(st, dict) else []
    check(st.get("kind") == "Status" and st.get("status") == "Failure" and
          st.get("reason") == "InternalError" and st.get("code") == 500,
          "the answer is a Kubernetes Status, reason InternalError: %s" % st)
    check(msg.startswith("Internal error occurred: control.db: ") and words in msg,
          "its message names the file and SQLite's words (%r): %r" % (words, msg))
    check(len(causes) == 1 and causes[0].get("message") == msg[len("Internal error occurred: "):],
          "the cause in details.causes, as kube-apiserver's NewInternalError: %s" % causes)
    check(len(acked) >= 2, "some writes were acknowledged before the disk filled (%d)" % len(acked))
    # the refused object does not exist; reads go on
    code, _ = http_json(port, "GET", CMS + "/" + refused[0])
    check(code == 404, "the refused object is not there: %s" % code)
    code, lst = http_json(port, "GET", CMS)
    names = sorted(o["metadata"]["name"] for o in lst.get("items", [])) if code == 200 else None
    check(names == sorted(acked), "the list holds exactly the acknowledged objects (%d of %d)" %
          (len(names or []), len(acked)))
    # kubectl shows the Status; an update and a delete are refused the same way
    kc = kubeconfig(d, "disk-%d" % port, "http://127.0.0.1:%d" % port)
    big = os.path.join(d, "big.json")
    with open(big, "w") as f:
        json.dump(cm("by-kubectl"), f)
    rc, out, err = kubectl(kc, "create", "-f", big)
    check(rc != 0 and "Error from server (InternalError)" in err and words in err,
          "kubectl create: Error from server (InternalError) ... %s: %s %s" % (words, out, err))
    refused.append("by-kubectl")
    first = sorted(acked)[0]
    code, cur = http_json(port, "GET", CMS + "/" + first)
    cur["data"]["v"] = PAYLOAD.replace("x", "y")
    code, st = http_json(port, "PUT", CMS + "/" + first, cur)
    check(code == 500 and isinstance(st, dict) and st.get("reason") == "InternalError",
          "an update the disk cannot take: 500 InternalError (%s %s)" % (code, str(st)[:200]))
    code, got = http_json(port, "GET", CMS + "/" + first)
    check(code == 200 and got["data"]["v"] == PAYLOAD and
          got["metadata"]["resourceVersion"] == acked[first],
          "after a refused update the object is as it was")
    return acked, refused


def after_restart(cfg, port, acked, refused, what):
    p = subprocess.Popen([BIN, "serve", "-c", cfg], stdout=subprocess.DEVNULL,
                         stderr=open(cfg + ".log", "w"))
    procs.append(p)
    check(wait(lambda: control_up(port), 60, 0.1),
          "%s: the daemon starts again on the same files" % what)
    code, lst = http_json(port, "GET", CMS)
    got = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
           for o in lst.get("items", [])} if code == 200 else {}
    check(got == acked, "%s: every acknowledged object reads back with its resourceVersion "
          "(%d of %d; extra %s)" % (what, len(set(got) & set(acked)), len(acked),
                                     sorted(set(got) - set(acked))[:5]))
    check(not any(n in got for n in refused),
          "%s: the refused objects do not exist: %s" % (what, refused))
    full = all(o["data"]["v"] == PAYLOAD for o in lst.get("items", []))
    check(full, "%s: with their whole data" % what)
    code, st = http_json(port, "POST", CMS, cm("after-restart"))
    newest = max([int(v) for v in acked.values()] or [0])
    check(code == 201 and int(st["metadata"]["resourceVersion"]) > newest,
          "%s: a new write gets a higher resourceVersion (%s %s > %d)" %
          (what, code, st.get("metadata", {}).get("resourceVersion") if isinstance(st, dict)
           else st, newest))
    stop_procs([p])
    procs.remove(p)
    check(p.returncode == 0, "%s: the restarted daemon drains on SIGTERM" % what)


def userns_ok():
    try:
        r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /tmp"],
                           capture_output=True, timeout=30)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_tmpfs(d):
    if not userns_ok():
        print("note: no unprivileged user and mount namespaces here: the full-disk (tmpfs) "
              "part is skipped; the RLIMIT_FSIZE part runs", file=sys.stderr)
        return
    data, copy = os.path.join(d, "tmpfs-data"), os.path.join(d, "tmpfs-copy")
    os.makedirs(data)
    os.makedirs(copy)
    port = free_port()
    cfg = write_config(d, "tmpfs", data, port)
    pidfile = os.path.join(d, "tmpfs.pid")
    # the tmpfs lives as long as the namespace: the daemon runs in it, and
    # once it stopped the files are copied out for the restart
    script = ('mount -t tmpfs -o size=9m tmpfs "$1" && { "$2" serve -c "$3" & echo $! > "$4"; '
              'wait $!; rc=$?; cp -a "$1"/. "$5"/; exit $rc; }')
    log = open(cfg + ".log", "w")
    sh = subprocess.Popen(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script,
                           "sh", data, BIN, cfg, pidfile, copy],
                          stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    procs.append(sh)
    check(wait(lambda: control_up(port), 60, 0.1), "daemon up with its dataDir on a 9 MiB tmpfs")
    acked, refused = fill(d, port, "database or disk is full")
    logtext = open(cfg + ".log").read()
    check("checkpoint: database or disk is full" in logtext,
          "the WAL checkpoint failed before the commits did (logged, not the writers' error)")
    check("control.db: commit: database or disk is full" in logtext,
          "the daemon's log names the file and the failing step")
    pid = wait(lambda: open(pidfile).read().strip(), 10)
    os.kill(int(pid), signal.SIGTERM)
    try:
        sh.wait(timeout=60)
    except subprocess.TimeoutExpired:
        sh.kill()
    procs.remove(sh)
    check(sh.returncode == 0, "the daemon on a full disk drains on SIGTERM: %s" % sh.returncode)
    port2 = free_port()
    after_restart(write_config(d, "tmpfs-copy", copy, port2), port2, acked, refused,
                  "full disk")


def test_rlimit(d):
    data = os.path.join(d, "limit-data")
    port = free_port()
    cfg = write_config(d, "limit", data, port)
    limit = 2 << 20

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a core dump
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    p = subprocess.Popen([BIN, "serve", "-c", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=limited)
    procs.append(p)
    check(wait(lambda: control_up(port), 60, 0.1), "daemon up with files limited to 2 MiB")
    acked, refused = fill(d, port, "disk I/O error")
    stop_procs([p])
    procs.remove(p)
    check(p.returncode == 0, "the daemon that hit the limit drains on SIGTERM: %s" % p.returncode)
    after_restart(cfg, port, acked, refused, "size limit")


def watch(port, rv):
    """(HTTP code, event list or Status) of a 2 s watch of ConfigMaps from rv."""
    url = "http://127.0.0.1:%d%s?watch=1&resourceVersion=%s&timeoutSeconds=2" % (port, CMS, rv)
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, [json.loads(line) for line in resp.read().splitlines() if line]
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_history(d):
    port = free_port()
    cfg = write_config(d, "history", os.path.join(d, "history-data"), port,
                       "controlPlane: {history: 100}\n")
    for start in range(2):
        p = subprocess.Popen([BIN, "serve", "-c", cfg], stdout=subprocess.DEVNULL,
                             stderr=open(cfg + ".log", "a"))
        procs.append(p)
        check(wait(lambda: control_up(port), 60, 0.1), "daemon up with controlPlane.history 100")
        if start == 0:
            rvs = []
            for i in range(150):
                code, st = http_json(port, "POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                                         "metadata": {"name": "h-%d" % i}})
                rvs.append(st["metadata"]["resourceVersion"] if code == 201 else "0")
        what = "after a restart" if start else "serving"
        code, got = watch(port, rvs[10])
        expired = (code == 410 and got.get("reason") == "Expired") or (
            code == 200 and len(got) == 1 and got[0].get("type") == "ERROR" and
            got[0]["object"].get("code") == 410)
        check(expired, "%s: a watch from a change older than the last 100 answers 410 Expired: "
              "%s %s" % (what, code, str(got)[:300]))
        code, got = watch(port, rvs[-60])
        names = [e["object"]["metadata"]["name"] for e in got if e.get("type") == "ADDED"] \
            if code == 200 else got
        check(names == ["h-%d" % i for i in range(91, 150)],
              "%s: a watch from one of the last 100 replays every later change: %s" %
              (what, str(names)[:300]))
        stop_procs([p])
        procs.remove(p)


def main():
    d = tempfile.mkdtemp(prefix="fl-control-disk-")
    try:
        t0 = time.time()
        test_tmpfs(d)
        test_rlimit(d)
        test_history(d)
        print("%.1f s" % (time.time() - t0))
    finally:
        stop_procs(procs)
        shutil.rmtree(d, ignore_errors=True)
    done()


if __name__ == "__main__":
    main()
