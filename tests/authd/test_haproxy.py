"""Two pamkit-authd instances behind the real HAProxy (Debian's haproxy),
configured by docs/examples/haproxy-pamkit-authd.cfg with only its ports
and check interval changed: clients seen by their own address, per-source
limits per client, untrusted headers refused, an instance killed during a
run of logins, statistics that match the logins made."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from bareos_wire import Wire
from conftest import CONSOLE, CONSOLE_PW, REPO, Daemon, need_binaries
from test_authd import wait_log
from test_proxy import login_via, v2

EXAMPLE = REPO / "docs" / "examples" / "haproxy-pamkit-authd.cfg"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Balancer:
    """HAProxy running the documented example: only the frontend port, the
    servers' ports (server lines past len(backends) dropped) and the check
    interval differ.  Also used by bench/authd/bench_haproxy.py."""

    def __init__(self, tmp, backends, preexec_fn=None):
        self.port = free_port()
        text = EXAMPLE.read_text()
        text = text.replace("bind :9101", f"bind 127.0.0.1:{self.port}")
        for i in range(1, 3):
            pat = rf"( *)server authd{i} 127\.0\.0\.1:\d+\n"
            repl = (rf"\1server authd{i} 127.0.0.1:{backends[i - 1]}\n"
                    if i <= len(backends) else "")
            text, n = re.subn(pat, repl, text)
            assert n == 1, pat
        text = text.replace("inter 2s", "inter 200ms")
        cfg = tmp / "haproxy.cfg"
        cfg.write_text("global\n    maxconn 4000\n"
                       "    log stdout format raw local0 info\n\n" + text)
        self.log = tmp / "haproxy.log"
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     preexec_fn=preexec_fn)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                assert self.proc.poll() is None, self.log.read_text()
                time.sleep(0.05)
        # both servers up (rise 2 x 200 ms)
        time.sleep(0.6)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.logf.close()


@pytest.fixture
def farm(tmp_path):
    """Two authd instances (trusting 127.0.0.1 only) and HAProxy."""
    need_binaries()
    assert os.path.exists(HAPROXY), "haproxy missing (.ci/packages installs it)"
    ds = []
    for i in range(2):
        sub = tmp_path / f"authd{i + 1}"
        sub.mkdir()
        ds.append(Daemon(sub, proxy_protocol_sources="127.0.0.1",
                         statistics_listen="127.0.0.1:0",
                         max_unauth_per_source="3"))
    lb = Balancer(tmp_path, [d.port for d in ds])
    yield lb, ds
    lb.stop()
    for d in ds:
        rc = d.stop()
        assert rc in (0, -signal.SIGKILL), d.logtext()


def total(ds, key):
    return sum(d.metrics().get(key, 0) for d in ds)


def test_clients_are_seen_by_their_own_address(farm):
    lb, ds = farm
    for _ in range(10):
        login_via(lb.port, b"", source="127.0.0.2").close()
    # pamkit-console (TLS-PSK) through the balancer
    env = dict(os.environ, PAMKIT_CONSOLE_PASSWORD=CONSOLE_PW,
               PAMKIT_PAM_PASSWORD="wonderland")
    r = subprocess.run([str(CONSOLE), "-p", str(lb.port), "-n", "pamcon",
                        "-u", "alice", "-t", "10000", "whoami"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0 and r.stdout == "alice\n", r.stderr
    logs = "".join(d.logtext() for d in ds)
    assert logs.count("user=alice from 127.0.0.2 via 127.0.0.1 (PAM)") == 10
    assert logs.count("user=alice from 127.0.0.1 via 127.0.0.1 (PAM)") == 1
    key = 'pamkit_authd_logins_total{result="success",mode="direct"}'
    assert total(ds, key) == 11
    assert total(ds, "pamkit_authd_proxy_headers_total") >= 11


def test_health_checks_fill_no_log(farm):
    lb, ds = farm
    before = [d.logtext() for d in ds]
    time.sleep(1.0)                     # ~5 checks per instance
    for d, text in zip(ds, before):
        assert d.logtext() == text
        m = d.metrics()
        assert m["pamkit_authd_empty_connections_total"] >= 3
        assert sum(v for k, v in m.items()
                   if k.startswith("pamkit_authd_refusals_total")) == 0
        assert m['pamkit_authd_logins_total{result="failure",mode="none"}'] == 0


def test_per_source_limits_apply_per_client(farm):
    lb, ds = farm
    idle = [Wire(lb.port, timeout=5, source="127.0.0.3") for _ in range(8)]
    time.sleep(0.3)
    closed = 0
    for w in idle:
        w.s.settimeout(0.2)
        closed += w.closed_by_server()
    # 3 per instance may wait unauthenticated: of 8, at least 2 refused
    assert closed >= 2, closed
    assert any("127.0.0.3 (via 127.0.0.1) has 3 connections not logged in"
               in d.logtext() for d in ds)
    # another client behind the same balancer is not starved
    login_via(lb.port, b"", source="127.0.0.2").close()
    assert total(ds, 'pamkit_authd_refusals_total{reason="source_limit"}') == closed
    for w in idle:
        w.close()


def test_untrusted_headers_are_refused(farm):
    lb, ds = farm
    # a client behind the balancer sending its own header
    w = Wire(lb.port, timeout=5, source="127.0.0.2",
             preamble=v2("203.0.113.66"))
    assert w.closed_by_server()
    # 127.0.0.2 straight to an instance: not a trusted source
    w2 = Wire(ds[0].port, timeout=5, source="127.0.0.2",
              preamble=v2("203.0.113.66"))
    assert w2.closed_by_server()
    assert any(wait_log(d, "refused 127.0.0.2 via 127.0.0.1: PROXY header "
                           "from a source not in proxy_protocol_sources", 1)
               for d in ds)
    assert wait_log(ds[0], "refused 127.0.0.2: PROXY header from a source "
                           "not in proxy_protocol_sources")
    logs = "".join(d.logtext() for d in ds)
    assert "203.0.113.66" not in logs


def test_logins_go_on_when_an_instance_is_killed(farm):
    lb, ds = farm
    served = 0
    for i in range(30):
        if i == 10:
            ds[0].proc.kill()           # SIGKILL: no goodbye
            ds[0].proc.wait(5)
        login_via(lb.port, b"", source="127.0.0.2").close()
        served += 1
    assert served == 30
    assert "user=alice from 127.0.0.2" in ds[1].logtext()
    # the survivor served every login after the kill
    key = 'pamkit_authd_logins_total{result="success",mode="direct"}'
    assert ds[1].metrics()[key] >= 20
