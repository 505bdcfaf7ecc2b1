"""pamkit end to end through a pseudo-terminal: echo off for secrets and the
terminal mode restored afterwards, also after SIGINT."""
import os
import select
import signal
import subprocess
import termios
import time

import pytest

from conftest import PASSWORD


class PtyRun:
    def __init__(self, args):
        self.master, self.slave = os.openpty()
        self.before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(args, stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, start_new_session=True,
                                     close_fds=True)
        self.out = b""

    def expect(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} in {self.out!r}")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"EOF before {text!r}: {self.out!r}")
                self.out += chunk

    def send(self, line):
        os.write(self.master, line.encode() + b"\n")

    def echo_on(self):
        return bool(termios.tcgetattr(self.slave)[3] & termios.ECHO)

    def finish(self, timeout=10):
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        # drain what is left
        while True:
            r, _, _ = select.select([self.master], [], [], 0.2)
            if not r:
                break
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.out += chunk
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def ptyrun():
    runs = []

    def start(args):
        p = PtyRun(args)
        runs.append(p)
        return p

    yield start
    for p in runs:
        p.close()


def test_secret_prompt_echo_off_and_restored(pamkit, matrix_svc, ptyrun):
    p = ptyrun([pamkit, "--confdir", matrix_svc, "-s", "svc", "-u", "alice",
                "authenticate", "acct_mgmt"])
    # echo was on when pamkit started (checking the live terminal here
    # would race pamkit turning it off before the prompt)
    assert p.before[3] & termios.ECHO
    p.expect("Password: ")
    assert not p.echo_on(), "echo must be off at a PAM_PROMPT_ECHO_OFF prompt"
    p.send(PASSWORD)
    assert p.finish() == 0, p.out
    assert b"pamkit: acct_mgmt: PAM_SUCCESS" in p.out
    assert PASSWORD.encode() not in p.out, "the secret was echoed"
    assert termios.tcgetattr(p.slave) == p.before, "terminal mode not restored"


def test_wrong_password_on_tty(pamkit, matrix_svc, ptyrun):
    p = ptyrun([pamkit, "--confdir", matrix_svc, "-s", "svc", "-u", "alice",
                "authenticate"])
    p.expect("Password: ")
    p.send("wrong")
    assert p.finish() == 1
    assert b"PAM_AUTH_ERR" in p.out
    assert termios.tcgetattr(p.slave) == p.before


def test_user_prompt_echoes(pamkit, confdir, matrix, passdb, ptyrun):
    # no -u: the user name prompt (pam_permit asks) is PAM_PROMPT_ECHO_ON,
    # pam_matrix's password prompt is not
    cd = confdir("svc", "auth required pam_permit.so\n"
                        f"auth required {matrix} passdb={passdb}\n")
    p = ptyrun([pamkit, "--confdir", cd, "-s", "svc", "authenticate"])
    p.expect("login:")
    assert p.echo_on()
    p.send("alice")
    p.expect("Password: ")
    assert not p.echo_on()
    p.send(PASSWORD)
    assert p.finish() == 0, p.out
    assert b"alice" in p.out  # echoed user name
    assert PASSWORD.encode() not in p.out


def test_sigint_restores_terminal(pamkit, matrix_svc, ptyrun):
    p = ptyrun([pamkit, "--confdir", matrix_svc, "-s", "svc", "-u", "alice",
                "authenticate"])
    p.expect("Password: ")
    assert not p.echo_on()
    p.proc.send_signal(signal.SIGINT)
    rc = p.finish()
    assert rc == -signal.SIGINT
    assert termios.tcgetattr(p.slave) == p.before, "terminal mode not restored"


def test_timeout_on_tty(pamkit, matrix_svc, ptyrun):
    p = ptyrun([pamkit, "--confdir", matrix_svc, "-s", "svc", "-u", "alice",
                "--timeout", "0.5", "authenticate"])
    p.expect("Password: ")
    assert p.finish(timeout=10) == 1
    assert b"timed out" in p.out
    assert termios.tcgetattr(p.slave) == p.before
