"""pamkit-authd behind a balancer: PROXY protocol v1/v2 headers from
trusted sources (proxy_protocol_sources), refused from anyone else and
when malformed, slow or too long; and the statistics endpoint."""
import socket
import struct
import time

from bareos_wire import Wire
from test_authd import GREET, login_direct, login_interactive, start_pam, wait_log

V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"
LOCAL = V2SIG + b"\x20\x00\x00\x00"      # a balancer's own health check


def v2(src="192.0.2.7", sport=51234, tlv=b"", cmd=0x21, fam=0x11):
    body = (socket.inet_aton(src) + socket.inet_aton("127.0.0.1")
            + struct.pack(">HH", sport, 9101) + tlv)
    return V2SIG + bytes([cmd, fam]) + struct.pack(">H", len(body)) + body


def v1(src="192.0.2.7", family="TCP4", dst="127.0.0.1"):
    return f"PROXY {family} {src} {dst} 51234 9101\r\n".encode()


def login_via(port, header, console="pamcon", source=None):
    """A direct-PAM login as alice behind header; the greeting checked."""
    w = Wire(port, source=source, preamble=header)
    assert w.auth(console=console) == b"1000 OK auth\n"
    assert w.recv() == b"1001\x1e"
    w.send(b"4002\x1ealice\x1ewonderland")
    assert w.recv() == GREET
    assert w.recv() == b"1002\x1eYou are logged in as: alice"
    return w


def refused_at_once(port, data, limit=1.0):
    """The server closes after data, within limit seconds."""
    w = Wire(port, timeout=5, preamble=data)
    t = time.monotonic()
    assert w.closed_by_server(), data
    took = time.monotonic() - t
    w.close()
    assert took < limit, (data, took)


def trusted(make_daemon, **over):
    return make_daemon(proxy_protocol_sources="127.0.0.1, ::1",
                       statistics_listen="127.0.0.1:0", **over)


def test_header_names_the_client_for_log_and_pam_rhost(make_daemon):
    d = trusted(make_daemon)
    # v2 with TLVs (ALPN "h2", a NOOP pad): pam_pktest checks that
    # PAM_RHOST is 192.0.2.7, not the balancer
    login_via(d.port, v2(tlv=b"\x01\x00\x02h2\x04\x00\x02\x00\x00"),
              console="pkrhost").close()
    login_via(d.port, v1(), console="pkrhost").close()
    login_via(d.port, v1("2001:db8::7", "TCP6", "2001:db8::1")).close()
    assert wait_log(d, "login: console=pkrhost user=alice from 192.0.2.7 "
                       "via 127.0.0.1 (PAM)")
    assert wait_log(d, "from 2001:db8::7 via 127.0.0.1 (PAM)")
    m = d.metrics()
    assert m["pamkit_authd_proxy_headers_total"] == 3
    assert m['pamkit_authd_logins_total{result="success",mode="direct"}'] == 3


def test_per_source_limit_counts_the_client_not_the_balancer(make_daemon):
    d = trusted(make_daemon, max_unauth_per_source="2")
    idle = [Wire(d.port, preamble=v2("198.51.100.9")) for _ in range(2)]
    for w in idle:      # the header was taken: they wait in the Hello state
        w.s.settimeout(0.3)
        assert not w.closed_by_server()
    w3 = Wire(d.port, timeout=5, preamble=v2("198.51.100.9"))
    assert w3.closed_by_server()
    assert wait_log(d, "198.51.100.9 (via 127.0.0.1) has 2 connections not "
                       "logged in, refusing")
    # the balancer's address holds 3 connections and is not limited;
    # another client behind it logs in
    login_via(d.port, v2("192.0.2.7"), console="pkrhost").close()
    m = d.metrics()
    assert m['pamkit_authd_refusals_total{reason="source_limit"}'] == 1
    assert m['pamkit_authd_connections{state="preauth"}'] == 2
    for w in idle + [w3]:
        w.close()


def test_header_from_an_untrusted_source_is_refused(make_daemon):
    d = make_daemon(proxy_protocol_sources="10.0.0.0/8",
                    statistics_listen="127.0.0.1:0")
    for hdr in (v2("192.0.2.7"), v1("192.0.2.7"), LOCAL):
        refused_at_once(d.port, hdr)
    assert wait_log(d, "refused 127.0.0.1: PROXY header from a source not "
                       "in proxy_protocol_sources")
    assert d.threads() == 1         # no PAM worker was ever borrowed
    assert "login failed" not in d.logtext()
    # without a header the same address is served as before
    login_direct(d.port).close()
    m = d.metrics()
    assert m['pamkit_authd_refusals_total{reason="proxy"}'] == 3


def test_a_second_header_from_the_client_is_refused(make_daemon):
    """A client behind the balancer cannot name another address."""
    d = trusted(make_daemon)
    refused_at_once(d.port, v2("192.0.2.7") + v1("203.0.113.1"))
    assert wait_log(d, "refused 192.0.2.7 via 127.0.0.1: PROXY header from "
                       "a source not in proxy_protocol_sources")


def test_bad_headers_are_refused_at_once_without_pam(make_daemon):
    d = trusted(make_daemon)
    bad = [
        V2SIG + b"\x11\x11\x00\x0c" + bytes(12),        # version 1 in v2
        V2SIG + b"\x22\x11\x00\x0c" + bytes(12),        # command 2
        V2SIG + b"\x21\x12\x00\x0c" + bytes(12),        # datagram
        V2SIG + b"\x21\x11\x00\x0b" + bytes(11),        # address too short
        v2(tlv=b"\x01\x00\x09h2"),                      # TLV past the end
        V2SIG + b"\x21\x11\xff\xff",                    # 64 KiB: too long
        V2SIG[:6] + b"X" + V2SIG[7:] + b"\x21\x11\x00\x00",  # signature
        b"PROXY TCP4 192.0.2.7 127.0.0.1 1\r\n",        # field missing
        b"PROXY TCP4 192.0.2.300 127.0.0.1 1 2\r\n",    # address
        b"PROXY TCP4 192.0.2.7 127.0.0.1 1 2\n",        # bare LF
        b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n",       # over 107 bytes
        b"\x00\x00\x00\x18Hello pamcon calling",        # no header at all
        b"\x16\x03\x01\x00\x05hello",                   # TLS, no header
    ]
    for hdr in bad:
        refused_at_once(d.port, hdr, limit=0.5)
    assert wait_log(d, "refused 127.0.0.1: PROXY header too long")
    assert wait_log(d, "refused 127.0.0.1: no PROXY header")
    assert wait_log(d, "refused 127.0.0.1: malformed PROXY v2 TLV")
    assert d.threads() == 1
    assert "login failed" not in d.logtext()
    m = d.metrics()
    assert m['pamkit_authd_refusals_total{reason="proxy"}'] == len(bad)
    assert m["pamkit_authd_proxy_headers_total"] == 0


def test_a_slow_header_is_refused_after_two_seconds(make_daemon):
    d = trusted(make_daemon)
    w = Wire(d.port, timeout=5, preamble=b"PROXY TCP4 19")
    t = time.monotonic()
    for c in b"2.0.2.7 127.0":        # a byte every 0.1 s: no reprieve
        w.s.sendall(bytes([c]))
        time.sleep(0.1)
    assert w.closed_by_server()
    took = time.monotonic() - t
    assert 1.7 < took < 3.0, took
    assert wait_log(d, "no PROXY header from 127.0.0.1 within 2000 ms")
    assert d.threads() == 1


def test_health_checks_are_quiet(make_daemon):
    """TCP connects, LOCAL headers and resets: no log line, no failed
    login; counted as empty connections."""
    d = trusted(make_daemon)
    before = d.logtext()
    for _ in range(10):
        socket.create_connection(("127.0.0.1", d.port)).close()
    for _ in range(10):
        Wire(d.port, preamble=LOCAL).close()
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", d.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()                       # RST
    deadline = time.monotonic() + 5
    while (d.metrics()["pamkit_authd_empty_connections_total"] < 25
           and time.monotonic() < deadline):
        time.sleep(0.05)
    m = d.metrics()
    assert m["pamkit_authd_empty_connections_total"] == 25
    assert m["pamkit_authd_proxy_headers_total"] == 10
    assert d.logtext() == before
    assert sum(v for k, v in m.items()
               if k.startswith("pamkit_authd_refusals_total")) == 0
    # after LOCAL the balancer's own address stands
    login_via(d.port, LOCAL).close()
    assert wait_log(d, "login: console=pamcon user=alice from 127.0.0.1 "
                       "via 127.0.0.1 (PAM)")


def test_statistics_count_the_logins_made(make_daemon, tmp_path):
    sock = tmp_path / "stats.sock"
    d = make_daemon(statistics_listen=str(sock))
    keep = [login_direct(d.port) for _ in range(3)]
    keep.append(login_interactive(d.port))
    for _ in range(2):                  # wrong PAM password
        w = start_pam(d.port, b"4002\x1ealice\x1ewrong")
        assert w.closed_by_server()
    w = Wire(d.port)                    # a console without PAM
    assert w.auth(console="plaincon") == b"1000 OK auth\n"
    assert w.recv() == GREET
    keep.append(w)
    w = Wire(d.port)                    # wrong console password
    assert w.auth(password="nope") != b"1000 OK auth\n"
    assert w.closed_by_server()
    m = d.metrics()
    L = 'pamkit_authd_logins_total{result="%s",mode="%s"}'
    assert m[L % ("success", "direct")] == 3
    assert m[L % ("success", "interactive")] == 1
    assert m[L % ("success", "cram")] == 1
    assert m[L % ("failure", "direct")] == 2
    assert m[L % ("failure", "none")] == 1
    assert m['pamkit_authd_refusals_total{reason="pam"}'] == 2
    assert m['pamkit_authd_refusals_total{reason="cram"}'] == 1
    # six PAM runs, the typing of the interactive one left out
    assert m["pamkit_authd_pam_seconds_count"] == 6
    assert m['pamkit_authd_pam_seconds_bucket{le="+Inf"}'] == 6
    assert m['pamkit_authd_pam_seconds_bucket{le="1"}'] == 6
    assert m['pamkit_authd_connections{state="console"}'] == 5
    assert m["pamkit_authd_pam_workers_max"] == 64
    # no names, no secrets
    raw = d.metrics(raw=True)
    for word in (b"alice", b"pamcon", b"wonderland", b"consolesecret"):
        assert word not in raw
    assert raw.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"Content-Type: text/plain; version=0.0.4" in raw
    assert d.metrics("/nope", raw=True).startswith(b"HTTP/1.0 404")
    for w in keep:
        w.close()


def test_statistics_endpoint_refuses_what_is_not_a_scrape(make_daemon):
    d = make_daemon(statistics_listen="127.0.0.1:0")
    m = d.metrics()
    port = int(__import__("re").search(r"statistics on 127.0.0.1 port (\d+)",
                                        d.logtext()).group(1))

    def ask(data):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(data)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out
    assert ask(b"POST /metrics HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 405")
    head = ask(b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and head.endswith(b"\r\n\r\n")
    assert ask(b"GET /" + b"a" * 5000).startswith(b"HTTP/1.0 431")
    # idle scrapers cannot hold the endpoint: the oldest is pushed out
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    assert d.metrics()["pamkit_authd_scrapes_total"] >= m[
        "pamkit_authd_scrapes_total"] + 2
    for s in idle:
        s.close()
    # the console port is untouched by all this
    login_direct(d.port).close()


def test_configuration_checks(tmp_path):
    """statistics_listen only local; proxy sources exact networks."""
    import subprocess
    from conftest import DAEMON, need_binaries
    need_binaries()
    cases = {
        "statistics_listen = 0.0.0.0:9188": False,
        "statistics_listen = 192.0.2.1:9188": False,
        "statistics_listen = [::1]:9188": True,
        "statistics_listen = 127.0.0.2:9188": True,
        "statistics_listen = relative.sock": False,
        "statistics_listen = /run/pamkit/stats.sock": True,
        "proxy_protocol_sources = 10.0.0.0/8, 192.0.2.7 2001:db8::/32": True,
        "proxy_protocol_sources = 10.0.0.1/8": False,
        "proxy_protocol_sources = lb.example": False,
        "Proxy Protocol Sources = 10.0.0.0/8": None,   # Bareos form below
    }
    for line, ok in cases.items():
        if ok is None:
            continue
        f = tmp_path / "c.conf"
        f.write_text(line + "\n")
        f.chmod(0o600)
        r = subprocess.run([str(DAEMON), "-t", "-c", str(f)],
                           capture_output=True, text=True)
        assert (r.returncode == 0) == ok, (line, r.stderr)
        if not ok:
            assert "bad value" in r.stderr, r.stderr
    f = tmp_path / "b.conf"
    f.write_text('Director {\n  Name = d\n  Password = "x"\n'
                 '  Proxy Protocol Sources = "10.0.0.0/8, ::1"\n'
                 '  Statistics Listen = "127.0.0.1:9188"\n}\n')
    f.chmod(0o600)
    r = subprocess.run([str(DAEMON), "-t", "-c", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
