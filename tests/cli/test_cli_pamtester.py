"""pamkit as a drop-in for pamtester.

pamtester's invocation (`pamkit [-v] [-I item=value] [-E VAR=value] SERVICE
USER OP...`), its messages, flags and exit statuses, written from
pamtester 0.1.2's src/pamtester.c and src/app.c (Debian's package prints
"successfully opened a session"; upstream's source says "sucessfully").

As root, pamkit and Debian's real pamtester run the same sequences of
operations on the stock services (login, sshd, su, other) and on a
pam_unix-only service with a throwaway user, and must end them the same
way: same exit status, same stdout and stderr (program name aside).
"""
import os
import pwd
import shutil
import subprocess
import uuid

import pytest

from conftest import PASSWORD, run


def pt(pamkit, cd, *args, input=None):
    return run([pamkit, "--confdir", cd, *args], input=input)


@pytest.fixture
def svc(confdir, pktest):
    """A pam_pktest service 'svc' that checks what pamtester's options set."""
    return confdir("svc",
                   f"auth required {pktest} setcred=skip prompt_off=Password:|pw\n"
                   f"account required {pktest}\n"
                   f"session required {pktest}\n"
                   f"password required {pktest} [prompt_off=New password: |n1]\n")


def test_success_messages(pamkit, svc):
    r = pt(pamkit, svc, "svc", "alice", "authenticate", "acct_mgmt",
           "setcred", "open_session", "close_session", "chauthtok",
           input="pw\nn1\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "pamkit: successfully authenticated",
        "pamkit: account management done.",
        "pamkit: credential info has successfully been set.",
        "pamkit: successfully opened a session",
        "pamkit: session has successfully been closed.",
        "pamkit: authentication token altered successfully.",
    ]
    # misc_conv prints the prompts and nothing after a piped answer
    assert r.stderr == "Password:New password: "


def test_failure_message_and_status(pamkit, svc):
    r = pt(pamkit, svc, "svc", "alice", "authenticate", "acct_mgmt",
           input="wrong\n")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == "Password:pamkit: Authentication failure\n"


def test_program_name_is_argv0(pamkit, svc, tmp_path):
    link = tmp_path / "pamtester"
    link.symlink_to(pamkit)
    r = run([str(link), "--confdir", svc, "svc", "alice", "authenticate"],
            input="pw\n")
    assert r.returncode == 0
    assert r.stdout == "pamtester: successfully authenticated\n"


def test_verbose(pamkit, svc):
    r = pt(pamkit, svc, "-v", "svc", "alice", "authenticate", input="pw\n")
    assert r.returncode == 0
    assert r.stderr == ("pamkit: invoking pam_start(svc, alice, ...)\n"
                        "pamkit: performing operation - authenticate\n"
                        "Password:")


def test_flags_in_parentheses(pamkit, confdir, pktest):
    cd = confdir("svc",
                 f"auth required {pktest} setcred=skip check_env=PKTEST_SILENT=1\n"
                 f"session required {pktest}\n")
    r = pt(pamkit, cd, "svc", "alice", "authenticate(PAM_SILENT)",
           "open_session( pam_silent | 0 )", "close_session()")
    assert r.returncode == 0, r.stderr
    # the same op without the flag fails the check
    r = pt(pamkit, cd, "svc", "alice", "authenticate")
    assert r.returncode == 1
    assert r.stderr.endswith("pamkit: Authentication failure\n")


def test_setcred_kinds(pamkit, confdir, pktest):
    cd = confdir("svc", f"auth required {pktest} check_env=PKTEST_SETCRED=refresh\n")
    r = pt(pamkit, cd, "svc", "alice", "setcred(PAM_REFRESH_CRED)")
    assert r.returncode == 0, r.stderr
    cd = confdir("svc", f"auth required {pktest} check_env=PKTEST_SETCRED=establish\n")
    r = pt(pamkit, cd, "svc", "alice", "setcred", "setcred(PAM_ESTABLISH_CRED|PAM_SILENT)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("credential info has successfully been set.") == 2


def test_flag_expression_errors(pamkit, svc):
    r = pt(pamkit, svc, "svc", "alice", "authenticate(FOO)")
    assert r.returncode == 1
    assert r.stderr == 'pamkit: undefined constant "FOO"\n'
    r = pt(pamkit, svc, "svc", "alice", "authenticate(PAM_SILENT|)")
    assert r.returncode == 1
    assert "unexpected token" in r.stderr
    # a bad spec is a usage error, worded (and unterminated) as pamtester's
    r = pt(pamkit, svc, "svc", "alice", "authenticate(")
    assert r.returncode == 255
    assert r.stderr == 'pamkit: incorrect op_name spec "authenticate(".'


def test_ops_run_until_the_bad_one(pamkit, svc):
    # pamtester checks an op only when it gets there
    r = pt(pamkit, svc, "svc", "alice", "authenticate", "fly",
           input="pw\n")
    assert r.returncode == 1
    assert r.stdout == "pamkit: successfully authenticated\n"
    assert r.stderr.endswith('pamkit: Unsupported operation "fly"\n')


def test_op_names_case_insensitive(pamkit, svc):
    r = pt(pamkit, svc, "svc", "alice", "Authenticate", "ACCT_MGMT",
           input="pw\n")
    assert r.returncode == 0, r.stderr


def test_items_and_env(pamkit, confdir, pktest):
    cd = confdir("svc",
                 f"auth required {pktest} setcred=skip check_item=rhost:h.example "
                 "check_item=tty:/dev/pts/3 check_item=ruser:carol "
                 "check_item=user_prompt:Who? check_env=FOO=bar check_env=GONE\n")
    r = pt(pamkit, cd, "-I", "rhost=h.example", "-Itty=/dev/pts/3",
           "--item", "ruser=carol", "-I", "prompt=Who?", "-E", "FOO=bar",
           "-EGONE", "svc", "alice", "authenticate")
    assert r.returncode == 0, r.stderr
    r = pt(pamkit, cd, "-I", "foo=1", "svc", "alice", "authenticate")
    assert r.returncode == 1
    assert r.stderr == 'pamkit: Unknown item type "foo"\n'
    # -I user=... replaces the user
    cd = confdir("svc", f"auth required {pktest} setcred=skip user=bob\n")
    r = pt(pamkit, cd, "-I", "user=bob", "svc", "alice", "authenticate")
    assert r.returncode == 0, r.stderr


def test_usage_statuses(pamkit):
    for args, msg in (
            (["svc"], "pamkit: please specify user name.\n"),
            (["svc", "alice"], "pamkit: specify one or more operations.\n")):
        r = run([pamkit, *args])
        assert r.returncode == 255, (args, r.stderr)
        assert r.stderr == msg
    r = run([pamkit, "-I"])
    assert r.returncode == 2


def test_start_failure(pamkit, tmp_path):
    empty = tmp_path / "none"
    empty.mkdir()
    # no service file and no 'other': libpam still starts (it fails at
    # the first call), exactly as pamtester sees it
    r = run([pamkit, "--confdir", str(empty), "nosuch", "alice", "authenticate"])
    assert r.returncode == 1
    assert r.stderr.startswith("pamkit: ")


def test_pamkit_options_with_pamtester_form(pamkit, svc):
    r = pt(pamkit, svc, "--json", "svc", "alice", "authenticate", input="pw\n")
    assert r.returncode == 0
    assert '"ok": true' in r.stdout or '"ok":true' in r.stdout
    r = pt(pamkit, svc, "--timeout", "0.3", "svc", "alice", "authenticate",
           input=None)
    assert r.returncode == 1


# ---- as root: the real pamtester on Debian's own services -----------------

PAMTESTER = shutil.which("pamtester")
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
needs_pamtester = pytest.mark.skipif(PAMTESTER is None,
                                     reason="pamtester not installed")


@pytest.fixture(scope="module")
def throwaway_user():
    name = "pkt" + uuid.uuid4().hex[:8]
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True)
    subprocess.run(["chpasswd"], input=f"{name}:{PASSWORD}\n", text=True,
                   check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", "-f", name], check=False,
                       capture_output=True)


@pytest.fixture(scope="module")
def unix_only_service():
    name = "pamkit-unix-" + uuid.uuid4().hex[:8]
    path = f"/etc/pam.d/{name}"
    with open(path, "w") as f:
        for group in ("auth", "account", "session", "password"):
            f.write(f"{group} required pam_unix.so\n")
    try:
        yield name
    finally:
        os.unlink(path)


def _norm(text, prog):
    """Program name out; lastlog's time line changes between two runs."""
    lines = [ln.replace(prog + ":", "PROG:") for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if not ln.startswith("Last login:"))


SEQUENCES = [
    ["authenticate"],
    ["authenticate", "acct_mgmt"],
    ["authenticate", "acct_mgmt", "open_session", "close_session"],
    ["authenticate(PAM_SILENT)", "setcred(PAM_ESTABLISH_CRED)", "acct_mgmt",
     "open_session(PAM_SILENT)", "close_session", "setcred(PAM_REFRESH_CRED)"],
    ["acct_mgmt"],
    ["open_session", "close_session"],
    ["setcred", "setcred(PAM_REINITIALIZE_CRED)"],
]


def _both(service, user, ops, answer):
    out = []
    for prog in (PAMTESTER, os.environ.get("PAMKIT_BIN")):
        env = dict(os.environ)
        # a sanitized pamkit needs libcrypt loaded first for pam_unix
        preload = os.environ.get("PAMKIT_CLI_PRELOAD")
        if preload and prog != PAMTESTER:
            env["LD_PRELOAD"] = preload
        r = subprocess.run([prog, service, user, *ops], input=answer,
                           capture_output=True, text=True, timeout=60,
                           env=env)
        name = os.path.basename(prog)
        out.append((r.returncode, _norm(r.stdout, name), _norm(r.stderr, name)))
    return out


@root_only
@needs_pamtester
@pytest.mark.parametrize("service", ["login", "sshd", "su", "other", "UNIX"])
def test_same_end_as_pamtester(pamkit, service, throwaway_user,
                               unix_only_service, monkeypatch):
    if service == "UNIX":
        service = unix_only_service
    elif not os.path.exists(f"/etc/pam.d/{service}"):
        pytest.skip(f"/etc/pam.d/{service} missing (openssh-server for sshd)")
    monkeypatch.setenv("PAMKIT_BIN", pamkit)
    # a failure costs the stack's fail delay (login: 3 s) in each tool:
    # a wrong password and an empty stdin once each
    runs = [(ops, PASSWORD + "\n") for ops in SEQUENCES]
    runs += [(SEQUENCES[0], "wrong\n"), (SEQUENCES[2], "")]
    for ops, answer in runs:
        theirs, ours = _both(service, throwaway_user, ops, answer)
        assert ours == theirs, (service, ops, answer)


def test_fail_delay_is_kept(pamkit, confdir, pktest):
    """libpam's fail delay (pam_faildelay 1 s, randomised +-50 % by libpam)
    is slept before the failure is reported, in both forms."""
    import time
    cd = confdir("svc", "auth optional pam_faildelay.so delay=1000000\n"
                        f"auth required {pktest} setcred=skip prompt_off=Password:|pw\n")
    for args in (["svc", "alice", "authenticate"],
                 ["-s", "svc", "-u", "alice", "authenticate"]):
        t0 = time.monotonic()
        r = pt(pamkit, cd, *args, input="wrong\n")
        assert r.returncode == 1
        assert time.monotonic() - t0 >= 0.5
