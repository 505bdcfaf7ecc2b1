#!/usr/bin/python3
"""pam_oauth2 benchmark: warm-cache validations per second of
pam_sm_authenticate (RS256, ES256) against `openssl speed` verify rates of the
same key size measured in the same run, printed as ratios, plus the time of one
whole pam_start..pam_end login with a warm cache.

Starts the same loopback HTTPS IdP as the e2e tests to warm the cache. The
pam_authenticate loop runs with the IdP still up and checks that its request
counter does not move; the direct loop runs with the IdP stopped. Both check
that libcurl never got mapped into the process (/proc/self/maps).
syslog() goes to the C library (no capture shim), as in production. Where
this machine has no /dev/log, glibc retries socket()+connect() on every
message; the direct loop is then run a second time inside an unprivileged
user+mount namespace whose /dev/log is a datagram listener of this script, the
production situation (one send per message), if unshare(1) allows it.
usage: PAMKIT_BUILD_DIR=build /usr/bin/python3 bench/oauth2/bench_oauth2.py [LOOPS]
"""
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import threading

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests" / "oauth2"))
import conftest as c  # noqa: E402

OPENSSL = {"RS256": ("rsa2048", r"^rsa\s+2048 bits"),
           "ES256": ("ecdsap256", r"^\s*256 bits ecdsa")}


ROUNDS = 3
SECONDS = 1


def openssl_verify_rate(alg, seconds):
    name, pat = OPENSSL[alg]
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), name],
                         capture_output=True, text=True, timeout=120).stdout
    for line in out.splitlines():
        if re.search(pat, line):
            return float(line.split()[-1])  # verify/s is the last column
    raise RuntimeError("cannot parse openssl speed output:\n" + out)


# Runs "$@" with /dev replaced by a tmpfs holding the usual device nodes
# (bind mounts) and /dev/log bound to the listener socket $1.
DEVLOG_SH = r"""set -e
sock=$1; old=$2; shift 2
mount --rbind /dev "$old"
mount -t tmpfs -o mode=755 oa2dev /dev
for f in null zero full random urandom; do
  touch /dev/$f; mount --bind "$old/$f" /dev/$f
done
touch /dev/log; mount --bind "$sock" /dev/log
exec "$@"
"""


class DevLog:
    """A /dev/log stand-in: a datagram socket that counts messages."""

    def __init__(self, td):
        self.path = td / "devlog.sock"
        self.old = td / "olddev"
        self.old.mkdir()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.count = 0
        self.stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop:
            try:
                self.sock.recv(8192)
                self.count += 1
            except socket.timeout:
                pass

    def wrap(self):
        probe = subprocess.run(["unshare", "-rm", "sh", "-c", DEVLOG_SH, "sh",
                                str(self.path), str(self.old), "true"],
                               capture_output=True, timeout=30)
        if probe.returncode != 0:
            return None
        return ["unshare", "-rm", "sh", "-c", DEVLOG_SH, "sh", str(self.path),
                str(self.old)]

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


def field(out, name):
    return float(re.search(name + r"=([\d.]+)", out).group(1))


def run_alg(td, pki, alg, kname, loops, devlog):
    root = td / ("idp-" + alg)
    root.mkdir()
    idp = c.IdP(root, pki)
    idp.start()
    try:
        work = td / ("w-" + alg)
        work.mkdir()
        env = c.Env(work, idp, pki)
        idp.discovery()
        idp.jwks([c.jwk(c.key(kname), "k1")])
        tok = c.make_token({"alg": alg, "kid": "k1"}, c.claims(idp.issuer), c.key(kname))
        extra = "algorithm=" + alg
        assert env.run(tok, extra=extra) == c.PAM_SUCCESS  # cold: fetches
        assert "curl_loaded=1" in env.last_stdout
        before = len(idp.requests())
        assert env.run(tok, extra=extra, loops=loops, capture_log=False) == c.PAM_SUCCESS
        out = env.last_stdout
        assert len(idp.requests()) == before, "network traffic on a warm cache"
        assert "curl_loaded=0" in out, "libcurl mapped on a warm cache"
        idp.stop()  # from here on no IdP at all
        # The machine is shared: interleave the module's loops with the
        # openssl reference and keep the best of ROUNDS for each.
        r = {"direct": 0.0, "devlog": None, "openssl": 0.0, "pam": field(out, "per_second"),
             "login_ms": field(out, "login_ms"), "requests": len(idp.requests()) - before}
        wrap = devlog.wrap() if devlog is not None else None
        for _ in range(ROUNDS):
            r["openssl"] = max(r["openssl"], openssl_verify_rate(alg, SECONDS))
            assert env.run(tok, extra=extra, loops=loops, direct=True,
                           capture_log=False) == c.PAM_SUCCESS
            assert "curl_loaded=0" in env.last_stdout
            r["direct"] = max(r["direct"], field(env.last_stdout, "per_second"))
            if wrap is None:
                continue
            n = devlog.count
            assert env.run(tok, extra=extra, loops=loops, direct=True,
                           capture_log=False, wrap=wrap) == c.PAM_SUCCESS
            r["devlog"] = max(r["devlog"] or 0.0, field(env.last_stdout, "per_second"))
            for _ in range(50):
                if devlog.count - n >= loops:
                    break
                threading.Event().wait(0.1)
            assert devlog.count - n >= loops, "syslog lines did not arrive"
        return r
    finally:
        idp.stop()


def main():
    loops = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    res = {}
    with tempfile.TemporaryDirectory() as td:
        td = pathlib.Path(td)
        pki = td / "pki"
        pki.mkdir()
        c._ca_and_cert(pki)
        devlog = DevLog(td) if not os.path.exists("/dev/log") else None
        try:
            for alg, kname in (("RS256", "rsa"), ("ES256", "p256")):
                res[alg] = run_alg(td, pki, alg, kname, loops, devlog)
        finally:
            if devlog is not None:
                devlog.close()
    print("pam_oauth2 warm-cache benchmark: %d validations per loop, "
          "openssl speed -seconds %d, best of %d interleaved rounds"
          % (loops, SECONDS, ROUNDS))
    for alg, r in res.items():
        print("%s: pam_sm_authenticate %.0f/s, openssl speed %s verify %.0f/s, "
              "ratio %.2f%s" % (alg, r["direct"], OPENSSL[alg][0], r["openssl"],
                                r["direct"] / r["openssl"],
                                "" if os.path.exists("/dev/log") else
                                " (no /dev/log: glibc reconnects per message)"))
        if r["devlog"] is not None:
            print("%s: pam_sm_authenticate with a /dev/log listener %.0f/s, "
                  "ratio %.2f" % (alg, r["devlog"], r["devlog"] / r["openssl"]))
        print("%s: through pam_authenticate on one handle %.0f/s (ratio %.2f; "
              "includes libpam's own per-call audit work); one whole "
              "pam_start..pam_end login %.2f ms" % (alg, r["pam"], r["pam"] / r["openssl"],
                                                 r["login_ms"]))
        print("%s: IdP requests during warm loops: %d; libcurl mapped on warm "
              "path: no" % (alg, r["requests"]))


if __name__ == "__main__":
    main()
