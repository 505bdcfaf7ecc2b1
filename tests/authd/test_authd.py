"""pamkit-authd end to end on loopback: real libpam, private confdir."""
import os
import socket
import struct
import threading
import time

from bareos_wire import EOD, TERMINATE, Wire, bareos_b64, cram
from conftest import CONSOLE_PW, PKTEST

GREET = b"1000\x1eOK: pamkit-test-dir Version: 0.1.0 (pamkit test)"
LOGGED_IN = b"1002\x1eYou are logged in as: alice"


def start_pam(port, mode, console="pamcon", timeout=10):
    """Cleartext console past CRAM-MD5 and 1001, mode (4001/4002 line) sent."""
    w = Wire(port, timeout=timeout)
    assert w.auth(console=console) == b"1000 OK auth\n"
    assert w.recv() == b"1001\x1e"
    w.send(mode)
    return w


def login_direct(port, console="pamcon", timeout=10):
    """A logged-in console (direct PAM as alice), greeting checked."""
    w = start_pam(port, b"4002\x1ealice\x1ewonderland", console, timeout)
    assert w.recv() == GREET
    assert w.recv() == LOGGED_IN
    return w


def login_interactive(port, timeout=10):
    """A logged-in console (interactive PAM: user, then password prompt)."""
    w = start_pam(port, b"4001\x1e", timeout=timeout)
    for answer in (b"alice", b"wonderland"):
        w.recv()
        w.recv()
        w.send(answer)
    assert w.recv() == b"\x00" and w.recv() == b"\x00"
    assert w.recv() == GREET and w.recv() == LOGGED_IN
    return w


def wait_log(d, text, timeout=5):
    deadline = time.monotonic() + timeout
    while text not in d.logtext() and time.monotonic() < deadline:
        time.sleep(0.02)
    return text in d.logtext()


def alice_logs_in(d):
    """A direct-PAM console login as alice; the daemon still serves."""
    r = d.console("-u", "alice", env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 0, r.stderr
    return r


def test_cram_vector_from_real_traffic():
    # docs/bareos/pam-interactive-pipe.txt
    assert cram("<1921128304.1795433377@R_DIRECTOR::pamkit-test-dir>",
                "consolesecret") == "zS+oFk+7Bg/nE4+Be7M90C"
    assert bareos_b64(b"abc", True) == "YWJj"


def test_direct_pam_tls(daemon):
    r = alice_logs_in(daemon)
    assert r.stdout == "alice\n"
    assert "logged in as alice" in r.stderr


def test_interactive_pam_tls(daemon):
    r = daemon.console("whoami", stdin="alice\nwonderland\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "alice\n"
    assert "login:" in r.stderr and "Password:" in r.stderr


def test_multi_prompt_stack_with_info(daemon):
    # pam_echo info message, then login: and Password: -> three relayed
    # messages; the info answer is read and dropped, so we stay in step.
    r = daemon.console("whoami", console="infocon", stdin="alice\n\nwonderland\n")
    assert r.returncode == 0, r.stderr + daemon.logtext()
    assert r.stdout == "alice\n"
    assert "pktest info for alice" in r.stderr


def test_wrong_pam_password(daemon):
    r = daemon.console("-u", "alice", env={"PAMKIT_PAM_PASSWORD": "WRONG"})
    assert r.returncode == 5, r.stderr
    r = daemon.console(stdin="alice\nWRONG\n")
    assert r.returncode == 5, r.stderr
    assert "PAM authenticate: PAM_AUTH_ERR" in daemon.logtext()
    assert "WRONG" not in daemon.logtext()


def test_account_not_allowed(daemon):
    r = daemon.console("-u", "alice", console="noacct",
                       env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 5, r.stderr
    assert "PAM acct_mgmt" in daemon.logtext()


def test_wrong_console_password_tls(daemon):
    r = daemon.console("-u", "alice", password="nope",
                       env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 3, r.stderr
    # the client may see the alert before the daemon has written its line
    assert wait_log(daemon, "TLS-PSK handshake failed")


def test_wrong_console_password_cleartext(daemon):
    r = daemon.console("-T", "-u", "alice", password="nope",
                       env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 4, r.stderr
    assert "CRAM-MD5 response wrong" in daemon.logtext()
    assert "nope" not in daemon.logtext()


def test_console_without_pam_and_commands(daemon):
    r = daemon.console("version", console="plaincon")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("pamkit-test-dir Version: 0.1.0")
    r = daemon.console("status dir", console="plaincon")
    assert r.returncode == 7
    assert 'command "status" is not supported' in r.stdout


def test_byte_exact_interactive(daemon):
    w = start_pam(daemon.port, b"4001\x1e")
    assert w.recv() == b"\x02"
    assert w.recv() == b"login:\x00"   # libpam's own prompt, as the director
    w.send(b"alice")
    assert w.recv() == b"\x01"
    assert w.recv() == b"Password: \x00"
    w.send(b"wonderland")
    assert w.recv() == b"\x00"
    assert w.recv() == b"\x00"
    assert w.recv() == GREET
    assert w.recv() == LOGGED_IN
    w.send(b"whoami")
    assert w.recv() == b"alice\n"
    assert w.recv() == EOD
    # the director's API modes are refused, never "accepted" and ignored
    for mode in (b"2", b"json", b"1"):
        w.send(b".api " + mode)
        assert w.recv() == (b"pamkit-authd: .api modes 1, 2 and json are not "
                            b"supported: this console answers in text (.api 0)\n")
        assert w.recv() == EOD
    w.send(b".api 0")
    assert w.recv() == EOD
    w.send_signal(TERMINATE)
    assert w.closed_by_server()
    w.close()


def test_byte_exact_direct(daemon):
    w = login_direct(daemon.port)
    w.send(b"quit")
    assert w.recv() == TERMINATE
    w.close()


def test_malformed_hello_and_packets(daemon):
    for bad in [b"Hullo pamcon calling\n", b"Hello \x02x calling\n",
                b"Hello pamcon\n", b"\xff\xfe"]:
        w = Wire(daemon.port)
        w.send(bad)
        assert w.closed_by_server()
        w.close()
    w = Wire(daemon.port)
    w.s.sendall(struct.pack(">i", 0x7FFFFFFF) + b"xx")
    assert w.closed_by_server()
    w.close()
    w = Wire(daemon.port)
    w.s.sendall(struct.pack(">i", -1000))
    assert w.closed_by_server()
    w.close()
    w = start_pam(daemon.port, b"4003\x1e")
    assert w.closed_by_server()
    w.close()
    log = daemon.logtext()
    assert "malformed Hello" in log and "oversized packet" in log
    # still serving
    alice_logs_in(daemon)


def test_client_gone_mid_conversation(daemon):
    for _ in range(5):
        w = start_pam(daemon.port, b"4001\x1e")
        assert w.recv() == b"\x02"
        w.close()
    time.sleep(0.3)
    alice_logs_in(daemon)
    assert "client gone" in daemon.logtext()


def test_slow_loris(make_daemon):
    d = make_daemon(login_timeout_ms="800", fail_delay_ms="100")
    w = Wire(d.port, timeout=10)
    w.s.sendall(b"\x00\x00")  # half a header, then nothing
    t0 = time.monotonic()
    alice_logs_in(d)
    assert w.closed_by_server()
    assert time.monotonic() - t0 < 5
    w.close()
    assert "login timeout" in d.logtext()


def test_200_concurrent_clients(make_daemon):
    # 200 consoles from one address at once: no per-source limit here
    d = make_daemon(max_connections="300", fail_delay_ms="100",
                    max_unauth_per_source="0")
    results = []
    lock = threading.Lock()
    start = threading.Barrier(200)

    def one(i):
        ok = False
        try:
            start.wait(20)
            if i % 2:
                w = login_direct(d.port, timeout=60)
            else:  # interactive: each one a conversation thread meanwhile
                w = login_interactive(d.port, timeout=60)
            w.send(b"whoami")
            ok = w.recv() == b"alice\n"
            w.close()
        except Exception as e:  # noqa: BLE001 - counted below
            with lock:
                results.append(repr(e))
            return
        with lock:
            results.append(ok)

    th = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in th:
        t.start()
    for t in th:
        t.join(120)
    assert results.count(True) == 200, [r for r in results if r is not True][:5]


def test_connection_cap(make_daemon):
    d = make_daemon(max_connections="3")
    held = [Wire(d.port) for _ in range(3)]
    time.sleep(0.2)
    extra = Wire(d.port)
    assert extra.closed_by_server()
    extra.close()
    for w in held:
        w.close()
    time.sleep(0.3)
    alice_logs_in(d)
    assert "connection limit" in d.logtext()


def test_sigterm_with_open_connections(make_daemon):
    d = make_daemon()
    ws = [Wire(d.port) for _ in range(4)]
    ws.append(start_pam(d.port, b"4001\x1e"))
    assert ws[-1].recv() == b"\x02"
    t0 = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - t0 < 8
    for x in ws:
        x.close()


def test_config_errors(tmp_path):
    from conftest import DAEMON, need_binaries
    import subprocess
    need_binaries()
    bad = tmp_path / "bad.conf"
    for text, msg in [("bogus = 1\n[console a]\npassword = x\n", "unknown key"),
                      ("max_connections = -3\n[console a]\npassword = x\n", "bad value"),
                      ("[console a]\n", "has no password")]:
        bad.write_text(text)
        bad.chmod(0o600)
        r = subprocess.run([str(DAEMON), "-t", "-c", str(bad)],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and msg in r.stderr, (text, r.stderr)
    # no console at all (the packaged default): valid, with a warning
    bad.write_text("# every console is commented out\n")
    bad.chmod(0o600)
    r = subprocess.run([str(DAEMON), "-t", "-c", str(bad)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "no console defined: every login is refused" in r.stderr
    # readable by others: refused, as sshd refuses such host keys
    bad.write_text("[console a]\npassword = x\n")
    bad.chmod(0o644)
    r = subprocess.run([str(DAEMON), "-t", "-c", str(bad)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "accessible by others" in r.stderr
    assert "chmod 600" in r.stderr
    r = subprocess.run([str(DAEMON), "--version"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("pamkit-authd ")


def test_unknown_console(daemon):
    r = daemon.console("-u", "alice", console="ghost",
                       env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 3, r.stderr
    # cleartext: the same steps run and fail at the hash, like a wrong password
    w = Wire(daemon.port)
    w.send("Hello ghost calling\n")
    line = w.recv()
    assert line.startswith(b"auth cram-md5 <") and line.endswith(b"> ssl=0\n")
    w.send(b"AAAAAAAAAAAAAAAAAAAAAA\0")
    assert w.recv() == b"1999 Authorization failed.\n"
    assert w.closed_by_server()
    w.close()
    assert "unknown console" in daemon.logtext()


# ---- pam_pktest stacks ---------------------------------------------------

PK_ROUNDS = [  # (wire style, text, answer) in the order PAM sends them
    (b"\x02", b"login:", b"alice"),
    (b"\x01", b"Password: ", b"wonderland"),
    (b"\x02", b"Second factor follows", b""),   # info: echo-on, answer dropped
    (b"\x02", b"Last failure: yesterday", b""),  # error: the same
    (b"\x02", b"OTP code: ", b"123456"),
    (b"\x01", b"PIN: ", b"0000"),
]


def test_pktest_multi_round_stack_byte_exact(daemon):
    w = start_pam(daemon.port, b"4001\x1e", console="pkcon")
    for style, text, answer in PK_ROUNDS:
        assert w.recv() == style
        assert w.recv() == text + b"\x00"
        w.send(answer)
    assert w.recv() == b"\x00"
    assert w.recv() == b"\x00"
    assert w.recv() == GREET
    assert w.recv() == LOGGED_IN
    w.send(b"whoami")
    assert w.recv() == b"alice\n"
    w.close()
    log = daemon.logtext()
    assert "login: console=pkcon user=alice" in log
    for secret in ("wonderland", "123456", "0000"):
        assert secret not in log


def test_pktest_multi_round_stack_console(daemon):
    answers = "".join(a.decode() + "\n" for _, _, a in PK_ROUNDS)
    r = daemon.console("whoami", console="pkcon", stdin=answers)
    assert r.returncode == 0, r.stderr + daemon.logtext()
    assert r.stdout == "alice\n"
    for _, text, _ in PK_ROUNDS:
        assert text.decode().strip() in r.stderr


def test_pktest_wrong_answer_in_a_later_round(daemon):
    w = start_pam(daemon.port, b"4001\x1e", console="pkcon")
    for style, text, answer in PK_ROUNDS[:-1]:
        assert w.recv() == style
        assert w.recv() == text + b"\x00"
        w.send(answer)
    assert w.recv() == b"\x01"
    assert w.recv() == b"PIN: \x00"
    w.send(b"9999")
    assert w.closed_by_server()   # after the fail delay, nothing else
    w.close()
    log = daemon.logtext()
    assert "login failed: console=pkcon" in log and "PAM_AUTH_ERR" in log
    assert "9999" not in log


def test_pktest_direct_login_items(daemon):
    # direct (4002): PAM_TTY, PAM_RUSER and PAM_RHOST as documented
    r = daemon.console("-u", "alice", console="pkdirect",
                       env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 0, r.stderr + daemon.logtext()
    assert r.stdout == "alice\n"
    r = daemon.console("-u", "alice", console="pkdirect",
                       env={"PAMKIT_PAM_PASSWORD": "wonderlan"})
    assert r.returncode == 5, r.stderr


def test_pam_rhost_no_leaves_it_unset(make_daemon):
    # pam_rhost = no (the default, as the Bareos director): bareos-pkdirect
    # requires PAM_RHOST 127.0.0.1, so the same login now fails in PAM
    d = make_daemon(pam_rhost="no")
    r = d.console("-u", "alice", console="pkdirect",
                  env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 5, r.stderr
    assert "login failed: console=pkdirect" in d.logtext()
    r = d.console("-u", "alice", env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 0, r.stderr
    assert d.stop() == 0


def test_direct_client_gone_while_pam_runs(daemon):
    # the login runs on the PAM pool (account takes 400 ms); the client is
    # gone long before: its result is ended, nothing leaks, the daemon serves
    for _ in range(3):
        start_pam(daemon.port, b"4002\x1ealice\x1ewonderland", "pkslow").close()
    time.sleep(1.0)
    r = daemon.console("-u", "alice", console="pkdirect",
                       env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 0, r.stderr
    assert "client gone" in daemon.logtext()
    assert "login: console=pkslow" not in daemon.logtext()


def test_console_not_allowed_to_use_pam(daemon):
    # plaincon has pam = no: no 1001, it is logged in as itself, and PAM
    # credentials it sends anyway are an unsupported command, never a login
    w = Wire(daemon.port)
    w.auth(console="plaincon")
    assert w.recv() == GREET
    assert w.recv() == b"1002\x1eYou are logged in as: plaincon"
    w.send(b"4002\x1ealice\x1ewonderland")
    line = w.recv()
    assert b"not supported" in line and b"wonderland" not in line
    assert w.recv() == EOD
    w.send(b"whoami")
    assert w.recv() == b"plaincon\n"
    w.close()
    log = daemon.logtext()
    assert "user=alice" not in log and "wonderland" not in log
    # a PAM console sending a console command instead of 4001/4002
    w = start_pam(daemon.port, b"whoami")
    assert w.closed_by_server()
    w.close()
    assert "malformed PAM login" in daemon.logtext()


def test_sigterm_with_logged_in_sessions(make_daemon):
    d = make_daemon()
    held = []
    for console in ("pamcon", "pkdirect"):
        held.append(login_direct(d.port, console))
    assert d.stop() == 0, d.logtext()
    assert "shutting down (2 connection(s) open)" in d.logtext()
    for w in held:
        assert w.closed_by_server()
        w.close()


def test_ipv4_ipv6_and_unix_listeners(make_daemon, tmp_path):
    sock = tmp_path / "authd.sock"
    d = make_daemon(listen_address="127.0.0.1, ::1", listen_unix=str(sock))
    assert (f"listening on 127.0.0.1 port {d.port}, ::1 port {d.port}, "
            f"unix {sock}") in d.logtext()
    pam = {"PAMKIT_PAM_PASSWORD": "wonderland"}
    for host in ("127.0.0.1", "::1", str(sock)):
        r = d.console("-H", host, "-u", "alice", env=pam)
        assert r.returncode == 0, (host, r.stderr)
        assert r.stdout == "alice\n"
    assert "from ::1" in d.logtext() and "from unix" in d.logtext()
    # PAM_RHOST: the peer address over TCP, unset over the UNIX socket
    r = d.console("-H", str(sock), "-u", "alice", console="pkdirect", env=pam)
    assert r.returncode == 5, r.stderr
    r = d.console("-H", "127.0.0.1", "-u", "alice", console="pkdirect", env=pam)
    assert r.returncode == 0, r.stderr
    # cleartext over the UNIX socket (tls = optional in these tests)
    r = d.console("-H", str(sock), "-T", "-u", "alice", env=pam)
    assert r.returncode == 0, r.stderr
    assert d.stop() == 0
    assert not sock.exists()


def make_cert(dirpath, name, san):
    import subprocess
    key, crt = dirpath / f"{name}.key", dirpath / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                    "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}",
                    "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=30)
    return crt, key


def test_tls_with_certificate(make_daemon, tmp_path):
    crt, key = make_cert(tmp_path, "authd", "IP:127.0.0.1")
    other, _ = make_cert(tmp_path, "other", "IP:127.0.0.1")
    d = make_daemon(tls="required", tls_certificate=str(crt), tls_key=str(key))
    pam = {"PAMKIT_PAM_PASSWORD": "wonderland"}
    # certificate TLS, then CRAM-MD5 and PAM as always
    r = d.console("-C", str(crt), "-u", "alice", env=pam)
    assert r.returncode == 0, r.stderr + d.logtext()
    assert r.stdout == "alice\n"
    # the console password still matters (CRAM-MD5)
    r = d.console("-C", str(crt), "-u", "alice", password="nope", env=pam)
    assert r.returncode == 4, r.stderr
    # a server certificate the CA file does not vouch for
    r = d.console("-C", str(other), "-u", "alice", env=pam)
    assert r.returncode == 3, r.stderr
    # the right certificate for a name it does not carry
    r = d.console("-C", str(crt), "-H", "localhost", "-u", "alice", env=pam)
    assert r.returncode in (2, 3), r.stderr
    # TLS-PSK still works on the same port; cleartext does not (required)
    r = d.console("-u", "alice", env=pam)
    assert r.returncode == 0, r.stderr
    r = d.console("-T", "-u", "alice", env=pam)
    assert r.returncode != 0
    assert "CRAM-MD5 response wrong" in d.logtext()
    assert "nope" not in d.logtext()


def test_tls_certificate_config_errors(tmp_path):
    import subprocess
    from conftest import DAEMON
    crt, key = make_cert(tmp_path, "authd", "IP:127.0.0.1")
    other_crt, other_key = make_cert(tmp_path, "other", "IP:127.0.0.1")
    conf = tmp_path / "c.conf"
    base = "listen_port = 0\n[console a]\npassword = x\n"
    conf.write_text(f"tls_key = {key}\n" + base)
    conf.chmod(0o600)
    r = subprocess.run([str(DAEMON), "-t", "-c", str(conf)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "tls_key without tls_certificate" in r.stderr
    conf.write_text(f"tls_certificate = {crt}\ntls_key = {other_key}\n" + base)
    conf.chmod(0o600)
    r = subprocess.run([str(DAEMON), "-c", str(conf)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "does not match" in r.stderr


def test_logged_in_consoles_hold_no_thread(daemon):
    base = daemon.threads()
    held = []
    for _ in range(10):
        held.append(login_interactive(daemon.port))
    held += [login_direct(daemon.port) for _ in range(10)]
    # each PAM operation borrowed one of libpamkit's workers and gave it
    # back; the pool keeps a few idle for the next login, but 20 logged-in
    # consoles hold none: far fewer threads than consoles
    assert daemon.threads() <= base + 4
    for w in held:
        w.send(b"whoami")
        assert w.recv() == b"alice\n"
        w.close()


def test_interactive_step_timeout(make_daemon):
    d = make_daemon(step_timeout_ms="300", fail_delay_ms="100")
    w = start_pam(d.port, b"4001\x1e")
    assert w.recv() == b"\x02"
    assert w.recv() == b"login:\x00"   # libpam's own prompt, as the director
    # no answer: the conversation fails after 300 ms, the login ends
    t0 = time.monotonic()
    assert w.closed_by_server()
    assert time.monotonic() - t0 < 4
    w.close()
    assert "login failed: console=pamcon" in d.logtext()
    alice_logs_in(d)


def _pam_log(path):
    """The calls pam_pktest's log= recorded (its SPAN timing lines aside)."""
    try:
        return [ln.split()[0] for ln in open(path)
                if not ln.startswith("SPAN ")]
    except FileNotFoundError:
        return []


def _spans(path):
    out = []
    for ln in open(path):
        if ln.startswith("SPAN "):
            kv = dict(x.split("=") for x in ln.split()[1:])
            out.append((kv["h"], int(kv["t0"]), int(kv["t1"]), kv["tid"]))
    return out


def test_directors_pam_file_without_a_session_line(make_daemon):
    """/etc/pam.d/bareos as the Bareos manual documents it (auth and
    account only, no 'other' file beside it): the director calls no
    pam_open_session, nor does pamkit-authd by default."""
    d = make_daemon()
    log = d.tmp / "calls.log"
    (d.tmp / "pam.d" / "bareos-pkdirect").write_text(
        f"auth required {PKTEST} get_user [prompt_off=Password: |wonderland] log={log}\n"
        f"account required {PKTEST} log={log}\n")
    r = d.console("-u", "alice", console="pkdirect",
                  env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 0, r.stderr + d.logtext()
    assert _pam_log(log) == ["AUTH", "ACCT", "END"]


def test_pam_session_yes_opens_and_closes(make_daemon):
    d = make_daemon(pam_session="yes")
    log = d.tmp / "calls.log"
    (d.tmp / "pam.d" / "bareos-pkdirect").write_text(
        f"auth required {PKTEST} get_user [prompt_off=Password: |wonderland] log={log}\n"
        f"account required {PKTEST} log={log}\n"
        f"session required {PKTEST} log={log}\n")
    w = login_direct(d.port, console="pkdirect")
    assert _pam_log(log) == ["AUTH", "ACCT", "OPEN_SESSION"]
    w.send(b"whoami")
    assert w.recv() == b"alice\n"
    w.close()
    deadline = time.monotonic() + 5
    while len(_pam_log(log)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    # closed by a borrowed worker, ended after: never on the event loop
    assert _pam_log(log) == ["AUTH", "ACCT", "OPEN_SESSION", "CLOSE_SESSION",
                             "END"]


def test_vanished_direct_logins_never_run(make_daemon):
    """One PAM worker, busy in a slow module; 4002 logins whose clients
    vanish meanwhile wait in libpamkit's queue and are withdrawn when the
    connection goes: their PAM operations never run."""
    d = make_daemon(pam_threads="1")
    log = d.tmp / "calls.log"
    (d.tmp / "pam.d" / "bareos-pkslow").write_text(
        f"auth required {PKTEST} get_user [prompt_off=Password: |wonderland] "
        f"delay_ms=800 log={log}\n"
        f"account required {PKTEST} log={log}\n")
    busy = start_pam(d.port, b"4002\x1ealice\x1ewonderland", "pkslow")
    time.sleep(0.2)                         # the one worker sleeps 800 ms
    for _ in range(200):
        start_pam(d.port, b"4002\x1ealice\x1ewonderland", "pkslow").close()
    assert busy.recv() == GREET             # the first login still ends well
    busy.close()
    time.sleep(0.5)
    assert _pam_log(log).count("AUTH") == 1, _pam_log(log)
    alice_logs_in(d)


def test_attacker_strings_are_escaped_in_the_log(daemon):
    """A newline or ESC in the 4002 user (the client's bytes) can never
    forge a second log line or a terminal sequence."""
    w = start_pam(daemon.port, b"4002\x1eeve\nfake: login: console=pamcon"
                               b" user=root\x1b[2J\x1ewrong")
    assert w.closed_by_server()
    w.close()
    deadline = time.monotonic() + 5
    while "login failed: console=pamcon user=eve" not in daemon.logtext() \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    log = daemon.logtext()
    line = [ln for ln in log.splitlines() if "user=eve" in ln]
    assert len(line) == 1, log
    assert "eve\\x0afake: login: console=pamcon user=root\\x1b[2J" in line[0]
    assert "\x1b" not in log
    assert not any(ln.startswith("fake:") for ln in log.splitlines())


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_slow_loris_1000_connections_from_one_source(make_daemon):
    """1,000 connections from 127.0.0.2 that trickle a byte now and then:
    that source gets max_unauth_per_source of them, the rest are closed at
    once (with a rate-limited log), and fresh logins from 127.0.0.1 keep
    succeeding meanwhile."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    d = make_daemon(max_connections="2000", max_unauth_per_source="16",
                    preauth_timeout_ms="60000", login_timeout_ms="60000")
    held = []
    try:
        for _ in range(1000):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", d.port))
                s.sendall(b"\x00")          # half a frame header
                held.append(s)
            except OSError:
                s.close()
        time.sleep(0.5)
        t0 = time.monotonic()
        for _ in range(5):
            alice_logs_in(d)                # another source: not starved
        assert time.monotonic() - t0 < 10
        for s in held[:200]:
            try:
                s.sendall(b"\x00")          # the trickle goes on
            except OSError:
                pass
        alice_logs_in(d)
        time.sleep(1.2)                     # the dropped-lines summary
        log = d.logtext()
        refused = log.count("127.0.0.2 has 16 connections not logged in")
        assert 0 < refused <= 60, refused   # rate-limited, not 984 lines
        assert "more such lines in the last second not logged" in log
    finally:
        for s in held:
            s.close()


def test_emfile_does_not_spin(make_daemon):
    """At the fd limit the daemon closes what it cannot take and pauses
    accepting: the CPU stays idle, and logins work again afterwards."""
    d = make_daemon(nofile=48, max_unauth_per_source="0",
                    preauth_timeout_ms="60000", login_timeout_ms="60000")
    held = []
    for _ in range(80):
        try:
            held.append(socket.create_connection(("127.0.0.1", d.port),
                                                 timeout=5))
        except OSError:
            pass
    time.sleep(0.5)
    c0 = _cpu_seconds(d.proc.pid)
    time.sleep(2.0)
    used = _cpu_seconds(d.proc.pid) - c0
    assert used < 0.3, f"{used:.2f} s of CPU in 2 s at EMFILE"
    assert "out of file descriptors" in d.logtext()
    for s in held:
        s.close()
    time.sleep(0.3)
    alice_logs_in(d)


def test_preauth_deadline(make_daemon):
    """A connection that does not get through TLS/Hello/CRAM-MD5 within
    preauth_timeout_ms is closed, whatever login_timeout_ms allows."""
    d = make_daemon(preauth_timeout_ms="300", login_timeout_ms="20000",
                    fail_delay_ms="50")
    w = Wire(d.port, timeout=10)
    t0 = time.monotonic()
    assert w.closed_by_server()
    assert time.monotonic() - t0 < 3
    w.close()
    alice_logs_in(d)


def test_sighup_reloads_without_dropping_consoles(make_daemon):
    import signal
    d = make_daemon()
    held = login_direct(d.port)            # logged in before the reload
    text = d.conf.read_text()
    # a new password for pamcon, and a new console
    d.conf.write_text(text.replace("[console pamcon]\npassword = consolesecret",
                                   "[console pamcon]\npassword = newsecret")
                      + "[console late]\npassword = latesecret\npam = no\n")
    d.conf.chmod(0o600)
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "configuration reloaded" not in d.logtext() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "configuration reloaded" in d.logtext(), d.logtext()
    held.send(b"whoami")                   # still there, still served
    assert held.recv() == b"alice\n"
    assert held.recv() == EOD
    r = d.console("-u", "alice", env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode != 0               # the old console password
    r = d.console("-u", "alice", password="newsecret",
                  env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 0, r.stderr
    r = d.console(console="late", password="latesecret")
    assert r.returncode == 0 and r.stdout == "late\n", r.stderr
    # a broken file on SIGHUP: said in the log, the running one stays
    d.conf.write_text("bogus = 1\n")
    d.conf.chmod(0o600)
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "not reloaded" not in d.logtext() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "configuration not reloaded" in d.logtext()
    r = d.console(console="late", password="latesecret")
    assert r.returncode == 0, r.stderr
    held.send(b"whoami")
    assert held.recv() == b"alice\n"
    assert held.recv() == EOD
    held.close()


def test_sigterm_with_a_module_stuck_for_a_minute(make_daemon):
    """A module that sleeps 60 s must not hold the daemon: SIGTERM exits
    within a few seconds (the stuck worker is cancelled and left)."""
    import signal
    d = make_daemon()
    (d.tmp / "pam.d" / "bareos-pkslow").write_text(
        f"auth required {PKTEST} get_user [prompt_off=Password: |wonderland] "
        "delay_ms=60000\n")
    w = start_pam(d.port, b"4002\x1ealice\x1ewonderland", "pkslow")
    time.sleep(0.3)                        # inside the module now
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    d.proc.wait(10)
    assert time.monotonic() - t0 < 5
    assert d.proc.returncode == 0
    w.close()


def test_bareos_syntax_configuration(make_daemon):
    """The Director and Console resources of a bareos-dir.conf, as an admin
    has them: a console name with a space, an [md5] password, the
    default console from the Director's password, other resources
    skipped; the daemon's own keys in the Director."""
    import hashlib
    md5 = hashlib.md5(CONSOLE_PW.encode()).hexdigest().upper()
    conf = f"""
Director {{
  Name = pamkit-test-dir
  Password = "dirsecret"
  DirPort = 0
  DirAddress = 127.0.0.1
  TLS Require = no
  Maximum Concurrent Jobs = 10
  Messages = Daemon
  Pam Confdir = "@CONFDIR@"
  Pam Service = bareos
  Version = "0.1.0 (pamkit test)"
}}
Job {{ Name = "backup"; Client = c; Schedule = {{ Run = daily }} }}
Console {{
  Name = "web admin"
  Password = "[md5]{md5}"
  Profile = "webui-admin"
  UsePamAuthentication = yes
}}
User {{ Name = alice }}
"""
    d = make_daemon(raw_conf=conf)
    r = d.console("-u", "alice", console="web admin",
                  env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 0, r.stderr + d.logtext()
    assert r.stdout == "alice\n"
    assert "console=web admin user=alice" in d.logtext()
    # bconsole's default console: the Director's password, no PAM
    r = d.console(console="*UserAgent*", password="dirsecret")
    assert r.returncode == 0, r.stderr + d.logtext()


def test_no_pam_handle_in_two_threads_at_once(make_daemon):
    """100 logins at once, direct and interactive, with a module that logs
    when each call ran on which handle: the calls of one handle never
    overlap, whichever worker ran them."""
    d = make_daemon(max_unauth_per_source="0", pam_threads="8")
    log = d.tmp / "calls.log"
    (d.tmp / "pam.d" / "bareos-pkdirect").write_text(
        f"auth required {PKTEST} get_user [prompt_off=Password: |wonderland] "
        f"delay_ms=5 log={log}\n"
        f"account required {PKTEST} delay_ms=5 log={log}\n")
    errors = []

    def one(i):
        try:
            w = login_direct(d.port, console="pkdirect")
            w.close()
        except Exception as e:              # noqa: BLE001
            errors.append(repr(e))
    th = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    assert errors == []
    spans = _spans(log)
    assert len(spans) == 200                # AUTH and ACCT per login
    by_handle = {}
    for h, t0, t1, tid in spans:
        by_handle.setdefault(h, []).append((t0, t1))
    for calls in by_handle.values():
        calls.sort()
        for (a0, a1), (b0, b1) in zip(calls, calls[1:]):
            assert a1 <= b0, "one handle in two calls at once"
    assert len({tid for *_, tid in spans}) > 1   # several workers served


def test_partial_client_hello_holds_no_tls_state_and_no_cpu(make_daemon):
    """Clients that send the start of a ClientHello and stop: the daemon
    waits for the whole record (edge-triggered) before OpenSSL gets it, so
    it neither spins on the waiting bytes nor holds TLS state for them."""
    d = make_daemon(max_unauth_per_source="0", preauth_timeout_ms="30000",
                    login_timeout_ms="30000")
    rss0 = int([ln for ln in open(f"/proc/{d.proc.pid}/status")
                if ln.startswith("VmRSS:")][0].split()[1])
    held = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        held.append(s)
    time.sleep(0.5)
    c0 = _cpu_seconds(d.proc.pid)
    time.sleep(1.0)
    assert _cpu_seconds(d.proc.pid) - c0 < 0.1
    rss1 = int([ln for ln in open(f"/proc/{d.proc.pid}/status")
                if ln.startswith("VmRSS:")][0].split()[1])
    assert (rss1 - rss0) / 200 < 20, f"{(rss1 - rss0) / 200:.1f} KiB each"
    alice_logs_in(d)                        # TLS-PSK logins still work
    for s in held:
        s.close()
