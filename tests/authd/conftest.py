"""Fixtures for pamkit-authd end-to-end tests on loopback.

The daemon and pamkit-console are taken from PAMKIT_BUILD_DIR (default
<repo>/build).  PAM runs for real with a private service directory
(pam_start_confdir through libpamkit) using pam_matrix from libpam-wrapper
and the stock pam_permit/pam_deny/pam_echo modules."""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PAMKIT_BUILD_DIR", REPO / "build"))
DAEMON = BUILD / "authd" / "pamkit-authd"
CONSOLE = BUILD / "authd" / "client" / "pamkit-console"
SECDIR = pathlib.Path("/usr/lib/x86_64-linux-gnu/security")
MATRIX = pathlib.Path("/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so")
PKTEST = BUILD / "tests" / "modules" / "pam_pktest.so"

CONSOLE_PW = "consolesecret"
DIRECTOR = "pamkit-test-dir"


def need_binaries():
    # meson builds all three before this suite (depends:); a missing one is
    # a broken build, not a reason to skip
    for f in (DAEMON, CONSOLE, PKTEST, MATRIX):
        assert f.exists(), f"{f} missing (build first; libpam-wrapper installed?)"


def write_pam(confdir, passdb):
    m = f"{MATRIX} passdb={passdb}"
    # pam_permit asks for the user (pam_get_user: "login: ") when PAM has
    # none, as pam_unix does; pam_matrix then asks for the password.
    u = f"auth required {SECDIR}/pam_permit.so\n"
    svc = {
        "bareos": u + f"auth required {m}\naccount required {m}\n"
                  f"session required {SECDIR}/pam_permit.so\n",
        "bareos-info": u + f"auth optional {SECDIR}/pam_echo.so pktest info for %u\n"
                       f"auth required {m}\naccount required {SECDIR}/pam_permit.so\n"
                       f"session required {SECDIR}/pam_permit.so\n",
        "bareos-noacct": u + f"auth required {m}\naccount required {SECDIR}/pam_deny.so\n"
                         f"session required {SECDIR}/pam_permit.so\n",
    }
    # pam_pktest (tests/modules/README.md): several rounds, echo on and off,
    # info and error messages, one batch of three messages
    pk = str(PKTEST)
    svc["bareos-pktest"] = (
        f"auth required {pk} get_user [prompt_off=Password: |wonderland] flush "
        "[info=Second factor follows] [error=Last failure: yesterday] "
        "[prompt_on=OTP code: |123456] flush [prompt_off=PIN: |0000]\n"
        # the Bareos director's items: interactive, no PAM_RUSER, no PAM_TTY
        f"account required {pk} check_item=tty: check_item=ruser:\n"
        f"session required {pk}\n")
    # a direct (4002) login: PAM items as the Bareos director sets them
    # (PAM_RUSER the 4002 user, no PAM_TTY; PAM_RHOST with pam_rhost = yes),
    # then a slow module (the client may be gone by the time it returns)
    # (and PAM_DISALLOW_NULL_AUTHTOK, which the director does not pass)
    svc["bareos-pkdirect"] = (
        f"auth required {pk} get_user [prompt_off=Password: |wonderland] "
        "check_item=tty: check_item=ruser:alice "
        "check_item=rhost:127.0.0.1 flag=PAM_DISALLOW_NULL_AUTHTOK\n"
        f"account required {pk} delay_ms=%s flag=PAM_DISALLOW_NULL_AUTHTOK\n"
        f"session required {pk}\n")
    # behind a balancer: PAM_RHOST is the client its PROXY header names
    svc["bareos-pkrhost"] = (
        f"auth required {pk} get_user [prompt_off=Password: |wonderland] "
        "check_item=rhost:192.0.2.7\n"
        f"account required {pk}\n")
    # any user PAM accepts (the User resource decides)
    svc["bareos-any"] = (f"auth required {SECDIR}/pam_permit.so\n"
                         f"account required {SECDIR}/pam_permit.so\n")
    # the fail delay comes from the stack: pam_faildelay 1 s and 3 s, or
    # none (pam_matrix alone)
    for name, usec in (("bareos-fd1", 1000000), ("bareos-fd3", 3000000)):
        svc[name] = (f"auth optional {SECDIR}/pam_faildelay.so delay={usec}\n"
                     f"auth required {m}\naccount required {m}\n")
    svc["bareos-fd0"] = f"auth required {m}\naccount required {m}\n"
    for name, text in svc.items():
        (confdir / name).write_text(text.replace("%s", "0"))
    (confdir / "bareos-pkslow").write_text(
        svc["bareos-pkdirect"].replace("pkdirect", "pkslow").replace("%s", "400"))


class Daemon:
    def __init__(self, tmp, nofile=None, raw_conf=None, **over):
        self.tmp = tmp
        confdir = tmp / "pam.d"
        confdir.mkdir(exist_ok=True)
        passdb = tmp / "passdb"
        passdb.write_text("alice:wonderland:bareos\nalice:wonderland:bareos-info\n"
                          "alice:wonderland:bareos-noacct\n"
                          + "".join(f"alice:wonderland:bareos-fd{i}\n"
                                    for i in (0, 1, 3)))
        write_pam(confdir, passdb)
        opts = {
            "director_name": DIRECTOR,
            "version": "0.1.0 (pamkit test)",
            "listen_address": "127.0.0.1",
            "listen_port": "0",
            "pam_service": "bareos",
            "pam_confdir": str(confdir),
            "tls": "optional",
            "max_connections": "300",
            "login_timeout_ms": "5000",
            "fail_delay_ms": "200",
            "step_timeout_ms": "10000",
            "pam_rhost": "yes",   # bareos-pkdirect checks it (default: no)
            "pam_users": "alice", # the director's User { Name = alice }
        }
        opts.update(over)
        lines = [f"{k} = {v}" for k, v in opts.items()]
        lines += ["[console pamcon]", f"password = {CONSOLE_PW}", "pam = yes",
                  "[console infocon]", f"password = {CONSOLE_PW}", "pam = yes",
                  "pam_service = bareos-info",
                  "[console noacct]", f"password = {CONSOLE_PW}", "pam = yes",
                  "pam_service = bareos-noacct",
                  "[console plaincon]", f"password = {CONSOLE_PW}", "pam = no",
                  "[console pkcon]", f"password = {CONSOLE_PW}", "pam = yes",
                  "pam_service = bareos-pktest",
                  "[console pkdirect]", f"password = {CONSOLE_PW}", "pam = yes",
                  "pam_service = bareos-pkdirect",
                  "[console pkslow]", f"password = {CONSOLE_PW}", "pam = yes",
                  "pam_service = bareos-pkslow",
                  "[console pkrhost]", f"password = {CONSOLE_PW}", "pam = yes",
                  "pam_service = bareos-pkrhost"]
        # the bench's load generator (authd-loadgen) logs in as benchcon
        lines += ["[console benchcon]", "password = benchsecret", "pam = yes"]
        for svc in ("any", "fd0", "fd1", "fd3"):
            lines += [f"[console {svc}con]", f"password = {CONSOLE_PW}",
                      "pam = yes", f"pam_service = bareos-{svc}"]
        self.conf = tmp / "authd.conf"
        text = "\n".join(lines) + "\n"
        if raw_conf is not None:    # a whole file of the test's own
            text = raw_conf.replace("@CONFDIR@", str(confdir))
        self.conf.write_text(text)
        self.conf.chmod(0o600)      # it holds console passwords
        self.log = tmp / "authd.log"
        self.logf = open(self.log, "w")
        def limit_fds():
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen([str(DAEMON), "-f", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=self.logf,
                                     preexec_fn=limit_fds if nofile else None)
        self.port = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = re.search(r"listening on \S+ port (\d+)", self.log.read_text())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if self.port is None:
            self.stop()
            raise RuntimeError("daemon did not start:\n" + self.log.read_text())

    def logtext(self):
        return self.log.read_text()

    def threads(self):
        """The daemon's thread count (/proc)."""
        status = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))

    def metrics(self, path="/metrics", raw=False):
        """GET the statistics endpoint (statistics_listen); the samples as
        {'name{labels}': value}, or the raw HTTP response."""
        m = re.search(r"statistics on (?:unix (\S+)|(\S+) port (\d+))",
                      self.logtext())
        assert m, "no statistics_listen in the log"
        if m.group(1):
            s = socket.socket(socket.AF_UNIX)
            s.connect(m.group(1))
        else:
            s = socket.create_connection((m.group(2), int(m.group(3))))
        with s:
            s.settimeout(5)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            resp = b""
            while chunk := s.recv(65536):
                resp += chunk
        if raw:
            return resp
        head, _, body = resp.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200 OK"), head
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.logf.close()
        return self.proc.returncode

    def console(self, *args, env=None, stdin=None, console="pamcon",
                password=CONSOLE_PW, timeout=30):
        e = dict(os.environ)
        e["PAMKIT_CONSOLE_PASSWORD"] = password
        e.update(env or {})
        return subprocess.run([str(CONSOLE), "-p", str(self.port), "-n", console,
                               "-t", "10000", *args],
                              input=stdin, capture_output=True, text=True,
                              env=e, timeout=timeout)


@pytest.fixture
def daemon(tmp_path):
    need_binaries()
    d = Daemon(tmp_path)
    yield d
    rc = d.stop()
    assert rc == 0, d.logtext()


@pytest.fixture
def make_daemon(tmp_path):
    need_binaries()
    made = []

    def make(**over):
        sub = tmp_path / f"d{len(made)}"
        sub.mkdir()
        d = Daemon(sub, **over)
        made.append(d)
        return d
    yield make
    # a clean exit also means no sanitizer report in an ASan build
    bad = [(d.stop(), d.logtext()) for d in made]
    assert all(rc == 0 for rc, _ in bad), [t for rc, t in bad if rc != 0]
