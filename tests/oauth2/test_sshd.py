"""The device login through a real sshd's keyboard-interactive, as root:
Debian's sshd on loopback (started under another name, so that its PAM
service is a file of the test's own: OpenSSH names the service after the
program), a throwaway system user, the real OpenID provider
(test_device.py) and paramiko as the SSH client, answering the prompts as
a person would: Enter at the token prompt, the browser login at the URL
shown, Enter again."""
import os
import re
import secrets
import socket
import subprocess
import time

import pytest

from conftest import MODULE, _asan_runtime
from test_device import Provider

try:
    import paramiko
except ImportError:             # .ci/packages installs python3-paramiko
    paramiko = None

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (sshd)"),
    # an ASan-built module cannot load into Debian's uninstrumented sshd;
    # the device flow itself runs under ASan in test_device.py
    pytest.mark.skipif(_asan_runtime() is not None,
                       reason="ASan build: sshd cannot load the module"),
]

SSHD = "/usr/sbin/sshd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path, pki):
    """(port, user, op): sshd whose PAM service runs pam_oauth2 with the
    device flow against the real provider."""
    assert os.path.exists(SSHD), "openssh-server missing (.ci/packages)"
    assert paramiko is not None, "python3-paramiko missing (.ci/packages)"
    op = Provider(tmp_path, pki)
    user = "oa2" + secrets.token_hex(3)
    name = "sshd-pamkit-" + secrets.token_hex(3)
    pamfile = f"/etc/pam.d/{name}"
    proc = None
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", user], check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{user}:Pw-{secrets.token_hex(8)}\n",
                       text=True, check=True)
        cache = tmp_path / "cache"
        with open(pamfile, "w") as f:
            f.write(f"auth required {MODULE} issuer={op.issuer} aud=pam-device "
                    f"client_id=pam-device device_flow ca_file={pki / 'ca.pem'} "
                    f"cache_dir={cache}\n"
                    "account required pam_permit.so\n"
                    "session required pam_permit.so\n")
        link = tmp_path / name
        link.symlink_to(SSHD)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                        "-f", str(tmp_path / "hostkey")], check=True)
        port = free_port()
        cfg = tmp_path / "sshd_config"
        cfg.write_text(f"Port {port}\nListenAddress 127.0.0.1\n"
                       f"HostKey {tmp_path / 'hostkey'}\nPidFile {tmp_path / 'pid'}\n"
                       "UsePAM yes\nKbdInteractiveAuthentication yes\n"
                       "PasswordAuthentication no\nPubkeyAuthentication no\n"
                       "AuthenticationMethods keyboard-interactive\n"
                       f"AllowUsers {user}\nLoginGraceTime 60\n")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        log = open(tmp_path / "sshd.log", "w")
        proc = subprocess.Popen([str(link), "-D", "-e", "-f", str(cfg)],
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "sshd.log").read_text()
                time.sleep(0.05)
        yield port, user, op, tmp_path / "sshd.log"
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        op.stop()
        if os.path.exists(pamfile):
            os.unlink(pamfile)
        subprocess.run(["userdel", "-f", user], check=False)


def ssh_login(port, user, answer_round):
    """keyboard-interactive as a person: answer_round(text, prompts) gets
    what sshd shows (info text and prompts) and returns the answers."""
    seen = []

    def handler(title, instructions, prompts):
        text = "\n".join([title, instructions] + [p for p, _ in prompts])
        seen.append(text)
        return answer_round(text, prompts)
    t = paramiko.Transport(("127.0.0.1", port))
    try:
        t.start_client(timeout=20)
        try:
            t.auth_interactive(user, handler)
        except paramiko.AuthenticationException:
            pass
        return t.is_authenticated(), seen
    finally:
        t.close()


def test_device_login_through_sshd_keyboard_interactive(sshd):
    port, user, op, log = sshd

    def person(text, prompts):
        m = re.search(r"or open (https://\S+)", text)
        if m:                           # the code is on the screen: log in
            assert "Sign-in Success" in op.browser(m.group(1), user)
        return [""] * len(prompts)      # Enter
    ok, seen = ssh_login(port, user, person)
    assert ok, "\n---\n".join(seen) + log.read_text()
    # the code and the Enter prompt came together, before any polling
    assert any("and enter the code" in s and "Press Enter once you have logged in"
               in s for s in seen), seen
    assert "JWT (Enter to log in with a browser)" in seen[0]


def test_device_login_as_another_user_through_sshd(sshd):
    port, user, op, log = sshd

    def someone_else(text, prompts):
        m = re.search(r"or open (https://\S+)", text)
        if m:
            op.browser(m.group(1), "mallory")
        return [""] * len(prompts)
    ok, seen = ssh_login(port, user, someone_else)
    assert not ok
