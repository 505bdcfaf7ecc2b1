"""pamkit-console against the director's side of real traffic
(tests/authd/golden: a real bareos-dir and bconsole, decoded).  A scripted
server replays each director frame; every frame pamkit-console sends must
be the captured one, byte for byte, except its own CRAM-MD5 challenge
(random) and a 26.x Hello's version; the director's answer to that
challenge is computed as the director would."""
import os
import pathlib
import re
import socket
import struct
import subprocess
import threading

import pytest

from bareos_wire import cram
from conftest import CONSOLE, CONSOLE_PW, need_binaries

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"
LINE = re.compile(r"^(console|director) -> (?:console|director): hdr=([0-9a-f]{8})"
                  r"(?: len=(\d+) data=(.*)| signal (-?\d+) \S+)$")


def decode(text):
    out = bytearray()
    i = 0
    while i < len(text):
        for tok, b in (("<RS>", b"\x1e"), ("<0x01>", b"\x01"), ("<02>", b"\x02"),
                       ("\\n", b"\n"), ("\\0", b"\0")):
            if text.startswith(tok, i):
                out += b
                i += len(tok)
                break
        else:
            out += text[i].encode()
            i += 1
    return bytes(out)


def frames(name):
    """[(who, bytes or signal int)], each data length checked."""
    out = []
    for line in (GOLDEN / name).read_text().splitlines():
        m = LINE.match(line)
        assert m, line
        who, hdr, n, data, sig = m.groups()
        if sig is not None:
            out.append((who, int(sig)))
        else:
            b = decode(data)
            assert len(b) == int(n) == int(hdr, 16), (line, b)
            out.append((who, b))
    return out


def read_frame(conn):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError("console closed")
            buf += chunk
        return buf
    (n,) = struct.unpack(">i", exact(4))
    return n if n < 0 else exact(n)


def replay(name, args, env, edit=None):
    """Run pamkit-console against the replayed director; returns
    (the console's result, mismatches).  edit(frames) may change the
    script first."""
    script = frames(name)
    if edit:
        script = edit(script)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    problems = []

    def director():
        conn, _ = srv.accept()
        conn.settimeout(10)
        own_chal = None
        try:
            for who, want in script:
                if who == "director":
                    if isinstance(want, int):
                        conn.sendall(struct.pack(">i", want))
                        continue
                    if own_chal and re.fullmatch(rb"[A-Za-z0-9+/]{22}\0", want):
                        # the answer to the console's own challenge
                        want = cram(own_chal, CONSOLE_PW).encode() + b"\0"
                        own_chal = None
                    conn.sendall(struct.pack(">i", len(want)) + want)
                    continue
                got = read_frame(conn)
                if isinstance(want, bytes) and want.startswith(b"auth cram-md5 <"):
                    m = re.fullmatch(rb"auth cram-md5 (<\d+\.\d+@R_CONSOLE::pamcon>) ssl=\d\n",
                                     got if isinstance(got, bytes) else b"")
                    if not m:
                        problems.append(("challenge", got))
                        return
                    own_chal = m.group(1).decode()
                elif isinstance(want, bytes) and want.startswith(b"Hello "):
                    ok = got == want or re.fullmatch(
                        rb"Hello pamcon calling version \d+\.\d+\.\d+\n", got)
                    if not ok:
                        problems.append(("hello", want, got))
                        return
                elif got != want:
                    problems.append((want, got))
                    return
        except (EOFError, OSError) as e:
            problems.append(("io", repr(e)))
        finally:
            conn.close()

    t = threading.Thread(target=director)
    t.start()
    r = subprocess.run([str(CONSOLE), "-T", "-p", str(port), "-t", "10000", *args],
                       input="alice\nwonderland\n", capture_output=True,
                       text=True, env=env, timeout=30)
    t.join(30)
    srv.close()
    return r, problems


@pytest.fixture
def console_env():
    need_binaries()
    e = dict(os.environ, PAMKIT_CONSOLE_PASSWORD=CONSOLE_PW,
             PAMKIT_PAM_PASSWORD="wonderland")
    return e


def test_golden_transcripts_parse():
    for name in ("pam-direct.txt", "v25-pam-interactive.txt"):
        assert len(frames(name)) > 10


def test_direct_pam_login_as_bconsole_26(console_env):
    """Hello, CRAM-MD5 both ways (the response to the captured challenge is
    the captured one), 1001, 4002, the greeting, whoami, terminate."""
    r, problems = replay("pam-direct.txt", ["-n", "pamcon", "-u", "alice",
                                            "whoami"], console_env)
    assert not problems, problems
    assert r.returncode == 0, r.stderr
    assert r.stdout == "alice\n"


def test_interactive_pam_login_as_bconsole_25(console_env):
    """The 25.1.0 console's Hello, byte for byte, and its interactive PAM
    answers; the director's banner lines and 'You have messages.' pass
    through as output."""
    r, problems = replay("v25-pam-interactive.txt", ["-n", "pamcon", "whoami"],
                         console_env)
    assert not problems, problems
    assert r.returncode == 0, r.stderr
    assert r.stdout == "alice\nYou have messages.\n"
    assert "login: " in r.stderr and "Password: " in r.stderr


def test_a_command_the_director_refuses(console_env):
    """The director's words for an unknown command end the run with the
    command status (7), its text printed."""
    def frobnicate(script):
        return [(who, b"frobnicate" if data == b"whoami" else
                 b"frobnicate: is an invalid command.\n" if data == b"alice\n"
                 else data) for who, data in script]
    r, problems = replay("pam-direct.txt", ["-n", "pamcon", "-u", "alice",
                                            "frobnicate"], console_env,
                         edit=frobnicate)
    assert not problems, problems
    assert r.returncode == 7, r.stderr
    assert r.stdout == "frobnicate: is an invalid command.\n"
