"""pamkit-authd answering as the Bareos director does where the protocol
description (bareos-console-pam.rst) or the director defines it, and doing
better where the director leaks: the default console's greeting and
whoami, .api modes refused rather than ignored, PAM only for 18.2+
consoles and only for users with a User resource, the fail delay the PAM
stack asks for, an unknown console name indistinguishable from a wrong
password (TLS-PSK and CRAM-MD5), a cleartext refusal without a reset, a
logout without close_notify that is no error."""
import hashlib
import re
import signal
import socket
import subprocess
import threading
import time

from bareos_wire import EOD, TERMINATE, Wire, cram
from conftest import BUILD, CONSOLE_PW, DAEMON
from test_authd import GREET, start_pam, wait_log

BAREOS_CONF = """Director {{
  Name = pamkit-test-dir
  Password = "dirsecret"
  DirAddress = 127.0.0.1
  DirPort = 0
  TLS Require = no
  Pam Confdir = "@CONFDIR@"
  Fail Delay Ms = 100
  Version = "0.1.0 (pamkit test)"
}}
Console {{
  Name = anycon
  Password = "{pw}"
  UsePamAuthentication = yes
  Pam Service = bareos-any
}}
{users}"""


def bareos_daemon(make_daemon, users="User { Name = alice }\n"):
    return make_daemon(raw_conf=BAREOS_CONF.format(pw=CONSOLE_PW, users=users))


def direct_login(port, user, console="anycon", password="wonderland"):
    """(the Wire, the first frame after the 4002 line or None: closed)."""
    w = start_pam(port, f"4002\x1e{user}\x1e{password}".encode(), console)
    try:
        return w, w.recv()
    except EOFError:
        return w, None


# ---- the default console ---------------------------------------------------

def test_default_console_greeting_and_whoami(make_daemon):
    d = bareos_daemon(make_daemon)
    w = Wire(d.port)
    assert w.auth(console="*UserAgent*", password="dirsecret") == b"1000 OK auth\n"
    assert w.recv() == GREET
    assert w.recv() == b"1002\x1eYou are connected using the default console"
    w.send(b"whoami")
    assert w.recv() == b"root\n"
    assert w.recv() == EOD
    w.close()


# ---- PAM users: only configured ones ---------------------------------------

def test_only_users_with_a_user_resource_log_in(make_daemon):
    d = bareos_daemon(make_daemon)
    w, first = direct_login(d.port, "alice")
    assert first == GREET
    w.close()
    # pam_permit says yes to mallory, the director would not
    w, first = direct_login(d.port, "mallory")
    assert first is None                # closed, as any failed login
    assert wait_log(d, "login failed: console=anycon user=mallory from "
                       "127.0.0.1: PAM said yes, but no User resource")
    assert "login: console=anycon user=mallory" not in d.logtext()


def test_pam_any_user_is_an_explicit_opt_in(make_daemon, tmp_path):
    d = make_daemon(raw_conf=BAREOS_CONF.format(pw=CONSOLE_PW, users="").replace(
        "Fail Delay Ms = 100", "Fail Delay Ms = 100\n  Pam Any User = yes"))
    w, first = direct_login(d.port, "mallory")
    assert first == GREET
    w.close()
    # -t says when nobody could log in by PAM
    conf = tmp_path / "nousers.conf"
    conf.write_text(BAREOS_CONF.format(pw=CONSOLE_PW, users="").replace(
        "@CONFDIR@", str(tmp_path)))
    conf.chmod(0o600)
    r = subprocess.run([str(DAEMON), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0
    assert "no User resource (pam_users): every PAM login is refused" in r.stderr


def test_pam_users_key(make_daemon):
    d = make_daemon(pam_users="bob, carol")
    w, first = direct_login(d.port, "carol")
    assert first == GREET
    w.close()
    w, first = direct_login(d.port, "alice")      # PAM accepts, not listed
    assert first is None
    w.close()


# ---- PAM only for consoles of 18.2 and later ---------------------------------

def test_pam_needs_a_console_that_says_its_version(daemon):
    w = Wire(daemon.port)
    w.send("Hello pamcon calling\n")               # a pre-18.2 console
    line = w.recv().decode()
    chal = re.search(r"<[^>]+>", line).group(0)
    w.send(cram(chal, CONSOLE_PW).encode() + b"\0")
    assert w.recv() == b"1000 OK auth\n"
    w.send("auth cram-md5 <1.2@R_CONSOLE::pamcon> ssl=0\n")
    w.recv()
    w.send("1000 OK auth\n")
    assert w.closed_by_server()                    # no 1001
    assert wait_log(daemon, "older than Bareos 18.2): no PAM login")
    # a console without PAM still logs in with the old Hello
    w = Wire(daemon.port)
    w.send("Hello plaincon calling\n")
    chal = re.search(r"<[^>]+>", w.recv().decode()).group(0)
    w.send(cram(chal, CONSOLE_PW).encode() + b"\0")
    assert w.recv() == b"1000 OK auth\n"
    w.send("auth cram-md5 <1.2@R_CONSOLE::plaincon> ssl=0\n")
    w.recv()
    w.send("1000 OK auth\n")
    assert w.recv() == GREET
    w.close()


# ---- the fail delay comes from the PAM stack ----------------------------------

def timed_failure(port, console):
    w = start_pam(port, b"4002\x1ealice\x1ewrong", console)
    t = time.monotonic()
    assert w.closed_by_server()
    took = time.monotonic() - t
    w.close()
    return took


def test_fail_delay_is_what_the_stack_asks_for(make_daemon):
    d = make_daemon(fail_delay_ms="2000")   # before PAM only
    took0 = timed_failure(d.port, "fd0con")
    assert took0 < 0.5, took0               # asks for none: none (director)
    for console, want in (("fd1con", 1.0), ("fd3con", 3.0)):
        took = timed_failure(d.port, console)
        # libpam randomises the delay; the log says what it chose
        m = re.findall(r"console=" + console + r" .*the stack's fail delay: "
                       r"(\d+) ms\)", d.logtext())
        assert m, d.logtext()
        chosen = int(m[-1]) / 1000
        assert 0.5 * want <= chosen <= 1.5 * want, chosen
        assert abs(took - chosen) <= 0.2 * chosen, (took, chosen)
    # the optional minimum
    d2 = make_daemon(pam_fail_delay_min_ms="700")
    assert 0.6 <= timed_failure(d2.port, "fd0con") < 1.5


def test_fail_delays_hold_no_thread(make_daemon):
    """100 failures at once through pam_faildelay 1 s: the delays are the
    loop's timers, the thread count stays flat."""
    d = make_daemon(max_unauth_per_source="0", pam_threads="8")
    base = d.threads()
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], d.threads())
            time.sleep(0.02)
    t = threading.Thread(target=sample)
    t.start()
    ws = [start_pam(d.port, b"4002\x1ealice\x1ewrong", "fd1con")
          for _ in range(100)]
    time.sleep(0.4)                          # all inside their delays now
    during = d.threads()
    for w in ws:
        assert w.closed_by_server()
        w.close()
    stop.set()
    t.join()
    assert during <= base + 8, (base, during)     # at most the PAM workers
    assert peak[0] <= base + 8, (base, peak[0])
    assert d.logtext().count("the stack's fail delay") == 100


# ---- an unknown console name looks like a wrong password ---------------------

def psk_alert(port, name, password, version):
    key = hashlib.md5(password.encode()).hexdigest().encode().hex()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                        "-psk_identity", "R_CONSOLE\x1e" + name, "-psk", key,
                        version, "-cipher", "PSK", "-quiet"],
                       input=b"", capture_output=True, timeout=20)
    alerts = re.findall(r"alert [a-z ]+", r.stderr.decode())
    return alerts


def test_tls_psk_unknown_name_and_wrong_password_alike(daemon):
    for version in ("-tls1_3", "-tls1_2"):
        unknown = psk_alert(daemon.port, "nosuchcon", "whatever", version)
        wrong = psk_alert(daemon.port, "pamcon", "wrongpw", version)
        assert unknown and unknown == wrong, (version, unknown, wrong)
        assert not any("unknown psk identity" in a for a in unknown)
        assert psk_alert(daemon.port, "pamcon", CONSOLE_PW, version) == []


def test_cram_unknown_name_and_wrong_password_alike(daemon):
    answers = []
    for name, pw in (("ghost", CONSOLE_PW), ("pamcon", "wrongpw")):
        w = Wire(daemon.port)
        w.send(f"Hello {name} calling version 25.1.0\n")
        chal = re.search(r"<[^>]+>", w.recv().decode()).group(0)
        w.send(cram(chal, pw).encode() + b"\0")
        answers.append(w.recv())
        assert w.closed_by_server()
        w.close()
    assert answers[0] == answers[1] == b"1999 Authorization failed.\n"


# ---- refusals the client can read; logouts that are no errors -----------------

def test_cleartext_while_tls_is_required_gets_an_answer(make_daemon):
    d = make_daemon(tls="required")
    w = Wire(d.port)
    w.send("Hello pamcon calling version 25.1.0\n")
    assert w.recv() == TERMINATE          # not a reset with the Hello unread
    assert w.closed_by_server()
    w.close()
    assert wait_log(d, "refused: cleartext, and tls = required")


def test_logout_without_close_notify_is_no_error(make_daemon):
    """Consoles that just close the socket (bconsole, python-bareos; here a
    load generator killed with its consoles logged in): a normal logout."""
    d = make_daemon(max_unauth_per_source="0")
    env = None
    gen = subprocess.Popen([str(BUILD / "authd" / "authd-loadgen"), "-p",
                            str(d.port), "-i", "5"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = gen.stdout.readline()
        assert line.startswith("idle=5"), line
    finally:
        gen.send_signal(signal.SIGKILL)
        gen.wait(10)
    deadline = time.monotonic() + 5
    while d.logtext().count("login: ") < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    text = d.logtext()
    assert text.count("login: ") == 5, text
    assert "read error" not in text and "closed:" not in text, text
    # the daemon holds none of them any more
    with socket.create_connection(("127.0.0.1", d.port)):
        pass


# ---- pamkit-console: several commands in one session -------------------------

def test_console_runs_several_commands(daemon):
    r = daemon.console("-u", "alice", "whoami", "version", "whoami",
                       env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "alice" and lines[2] == "alice", r.stdout
    assert lines[1].startswith("pamkit-test-dir Version: 0.1.0 (pamkit test)")
    # -s: the PAM answers, then one command a line
    r = daemon.console("-s", stdin="alice\nwonderland\nwhoami\n\nversion\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "alice"
    assert r.stdout.splitlines()[1].startswith("pamkit-test-dir Version:")
    # a refused command: its answer is printed, the run stops there with
    # the command status (7)
    r = daemon.console("-u", "alice", "whoami", "frobnicate", "whoami",
                       env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    assert r.returncode == 7, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0] == "alice", r.stdout
    assert lines[1].startswith('pamkit-authd: command "frobnicate" is not '
                               'supported'), r.stdout


def test_console_hello_says_a_numeric_version(daemon):
    daemon.console("-u", "alice", env={"PAMKIT_PAM_PASSWORD": "wonderland"})
    # the daemon would have refused PAM to a console without a version
    assert wait_log(daemon, "login: console=pamcon user=alice")


# ---- pamkit-console -c bconsole.conf ---------------------------------------

def test_console_reads_bconsole_conf(daemon, tmp_path):
    import os
    conf = tmp_path / "bconsole.conf"
    key = hashlib.md5(CONSOLE_PW.encode()).hexdigest()
    conf.write_text(f"""# as bconsole reads it
Director {{
  Name = pamkit-test-dir
  DIRport = {daemon.port}
  address = 127.0.0.1
  Password = "not-the-default-console's"
}}
Console {{
  Name = pamcon
  Password = "[md5]{key}"
  Director = pamkit-test-dir
  Heartbeat Interval = 1 min
}}
""")
    conf.chmod(0o640)               # root:bareos 0640, as Bareos ships it
    env = dict(os.environ, PAMKIT_PAM_PASSWORD="wonderland")
    env.pop("PAMKIT_CONSOLE_PASSWORD", None)
    console = str(BUILD / "authd" / "client" / "pamkit-console")
    r = subprocess.run([console, "-c", str(conf), "-u", "alice", "whoami"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "alice\n"
    assert "login: console=pamcon user=alice" in daemon.logtext()
    # a console the file does not have
    r = subprocess.run([console, "-c", str(conf), "-n", "ghost", "-u", "alice"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1 and 'no console "ghost"' in r.stderr
    # a file everybody may read holds the password in the clear: refused
    conf.chmod(0o644)
    r = subprocess.run([console, "-c", str(conf), "-u", "alice"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1 and "accessible by others" in r.stderr
