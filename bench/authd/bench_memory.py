#!/usr/bin/python3
"""pamkit-authd's memory per connection, by kind, and what a waiting
interactive login holds.

  PAMKIT_BUILD_DIR=$PWD/build /usr/bin/python3 bench/authd/bench_memory.py [N]

One daemon (PAM: pam_permit for auth and account), RSS before and after N
connections of each kind, held open:
  - pre-auth, cleartext: connected, nothing sent (a slow loris);
  - pre-auth, TLS: a partial ClientHello sent, so the daemon has made its
    SSL object and read buffer;
  - logged in and idle: TLS-PSK, CRAM-MD5, a direct PAM login (loadgen -i).
Then one interactive (4001) login left waiting at its prompt: the daemon's
thread count before and after (it borrows one libpamkit worker).
Prints one JSON object.  Needs root only for nothing; loopback only.
"""
import json
import os
import pathlib
import re
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PAMKIT_BUILD_DIR", REPO / "build"))
DAEMON = BUILD / "authd" / "pamkit-authd"
LOADGEN = BUILD / "authd" / "authd-loadgen"
SECDIR = "/usr/lib/x86_64-linux-gnu/security"
sys.path.insert(0, str(REPO / "tests" / "authd"))
from bareos_wire import Wire  # noqa: E402


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def settle(pid):
    time.sleep(0.5)
    return rss_kb(pid)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="authd-mem-"))
    pamd = tmp / "pam.d"
    pamd.mkdir()
    (pamd / "bench").write_text(f"auth required {SECDIR}/pam_permit.so\n"
                                f"account required {SECDIR}/pam_permit.so\n")
    conf = tmp / "authd.conf"
    conf.write_text(
        f"director_name = pamkit-test-dir\nlisten_port = 0\n"
        f"pam_service = bench\npam_confdir = {pamd}\n"
        f"tls = optional\nmax_connections = {3 * n + 100}\n"
        "max_unauth_per_source = 0\npreauth_timeout_ms = 600000\n"
        "login_timeout_ms = 600000\nfail_delay_ms = 0\npam_any_user = yes\n"
        "[console benchcon]\npassword = benchsecret\npam = yes\n"
        "[console pamcon]\npassword = consolesecret\npam = yes\n")
    conf.chmod(0o600)
    res = {"connections_per_kind": n}

    def daemon():
        """A fresh daemon per kind: memory another kind freed would be
        reused and hide the cost."""
        log = tmp / "authd.log"
        d = subprocess.Popen([str(DAEMON), "-f", "-c", str(conf)],
                             stderr=open(log, "w"),
                             preexec_fn=lambda: resource.setrlimit(
                                 resource.RLIMIT_NOFILE, (hard, hard)))
        for _ in range(200):
            m = re.search(r"port (\d+)", log.read_text())
            if m:
                return d, int(m.group(1))
            time.sleep(0.05)
        raise RuntimeError(log.read_text())

    def stop(d):
        d.terminate()
        d.wait(15)

    # pre-auth, cleartext
    d, port = daemon()
    base = settle(d.pid)
    res["daemon_rss_kib_at_start"] = base
    plain = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    res["preauth_cleartext_kib_each"] = round((settle(d.pid) - base) / n, 2)
    for s in plain:
        s.close()
    stop(d)
    # pre-auth, TLS: record header and the start of a ClientHello
    d, port = daemon()
    base = settle(d.pid)
    tls = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        tls.append(s)
    res["preauth_tls_kib_each"] = round((settle(d.pid) - base) / n, 2)
    for s in tls:
        s.close()
    stop(d)
    # logged in, idle
    d, port = daemon()
    base = settle(d.pid)
    idle = subprocess.Popen([str(LOADGEN), "-p", str(port), "-i", str(n)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    line = idle.stdout.readline()
    held = settle(d.pid)
    res["idle_logged_in"] = int(line.split("=")[1])
    res["idle_logged_in_kib_each"] = round((held - base) /
                                           max(1, res["idle_logged_in"]), 2)
    res["threads_with_idle_consoles"] = threads(d.pid)
    idle.stdin.close()
    idle.wait(60)
    # one interactive login waiting at its prompt
    before = threads(d.pid)
    w = Wire(port)
    assert w.auth(console="pamcon", password="consolesecret") == b"1000 OK auth\n"
    w.recv()
    w.send(b"4001\x1e")
    w.recv()
    w.recv()                                # the prompt: PAM waits now
    time.sleep(0.3)
    res["threads_before_waiting_login"] = before
    res["threads_with_one_login_at_a_prompt"] = threads(d.pid)
    w.close()
    stop(d)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
