"""pamkit end to end, answers through a pipe on stdin."""
import json
import time

from conftest import PASSWORD, REPO, run


def base(pamkit, confdir, *extra):
    return [pamkit, "--confdir", confdir, "-s", "svc", "-u", "alice", *extra]


def test_success_all_ops(pamkit, matrix_svc):
    r = run(base(pamkit, matrix_svc, "authenticate", "acct_mgmt",
                 "open_session", "close_session"), input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    for op in ("authenticate", "acct_mgmt", "open_session", "close_session"):
        assert f"pamkit: {op}: PAM_SUCCESS" in r.stdout
    assert "Password: " in r.stderr
    assert PASSWORD not in r.stdout + r.stderr


def test_wrong_password(pamkit, matrix_svc):
    r = run(base(pamkit, matrix_svc, "authenticate", "acct_mgmt"),
            input="nope\n")
    assert r.returncode == 1
    assert "pamkit: authenticate failed: PAM_AUTH_ERR (Authentication failure)" in r.stderr
    assert "acct_mgmt" not in r.stdout  # stopped at the first failure


def test_eof_fails_conversation(pamkit, matrix_svc):
    r = run(base(pamkit, matrix_svc, "authenticate"), input="")
    assert r.returncode == 1
    # once: the cancelled prompt is never shown (or read) again
    assert r.stderr.count("end of input") == 1
    assert r.stderr.count("Password: ") == 1
    assert "pamkit: authenticate failed: " in r.stderr


def test_line_too_long_rejected(pamkit, matrix_svc):
    r = run(base(pamkit, matrix_svc, "authenticate"), input="x" * 4096 + "\n")
    assert r.returncode == 1
    assert "longer than 4095 bytes" in r.stderr
    assert "pamkit: authenticate failed: " in r.stderr


def test_line_of_4095_accepted(pamkit, confdir, matrix, tmp_path):
    long_pw = "p" * 4095
    db = tmp_path / "longdb"
    db.write_text(f"alice:{long_pw}:svc\n")
    cd = confdir("svc", f"auth required {matrix} passdb={db}\n")
    r = run(base(pamkit, cd, "authenticate"), input=long_pw + "\n")
    # pam_matrix may have its own limit; what matters is pamkit passed it on
    assert "longer than" not in r.stderr


def test_session_env_and_env_roundtrip(pamkit, matrix_svc):
    r = run(base(pamkit, matrix_svc, "--env", "FOO=bar baz", "--env", "EMPTY=",
                 "authenticate", "open_session", "env"), input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "FOO=bar baz" in lines
    assert "EMPTY=" in lines
    assert "HOMEDIR=/home/alice" in lines  # set by pam_matrix's session
    assert "pamkit: env: PAM_SUCCESS" in lines


def test_json_output(pamkit, matrix_svc):
    r = run(base(pamkit, matrix_svc, "--json", "--env", "K=V", "authenticate",
                 "open_session", "env"), input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # stdout is pure JSON
    assert doc["ok"] is True
    assert doc["service"] == "svc"
    assert doc["user"] == "alice"
    assert [o["op"] for o in doc["ops"]] == ["authenticate", "open_session", "env"]
    assert all(o["name"] == "PAM_SUCCESS" and o["code"] == 0 for o in doc["ops"])
    assert doc["env"]["K"] == "V"
    assert doc["env"]["HOMEDIR"] == "/home/alice"
    assert isinstance(doc["transcript"], list)
    assert "Password: " in r.stderr  # prompt kept off stdout


def test_json_failure(pamkit, matrix_svc):
    r = run(base(pamkit, matrix_svc, "--json", "authenticate", "acct_mgmt"),
            input="bad\n")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False
    assert len(doc["ops"]) == 1
    assert doc["ops"][0]["name"] == "PAM_AUTH_ERR"
    assert doc["ops"][0]["message"] == "Authentication failure"
    assert "env" not in doc


def test_chauthtok_matrix(pamkit, matrix_svc, passdb):
    # pam_matrix: old password, new, verify: three prompts in three batches
    r = run(base(pamkit, matrix_svc, "chauthtok"),
            input=f"{PASSWORD}\nnewpw\nnewpw\n")
    assert r.returncode == 0, r.stderr
    assert "pamkit: chauthtok: PAM_SUCCESS" in r.stdout
    assert "alice:newpw:svc" in open(passdb).read()
    r = run(base(pamkit, matrix_svc, "authenticate"), input="newpw\n")
    assert r.returncode == 0, r.stderr


def test_chauthtok_mismatch(pamkit, matrix_svc):
    r = run(base(pamkit, matrix_svc, "chauthtok"),
            input=f"{PASSWORD}\nnewpw\nother\n")
    assert r.returncode == 1
    assert "pamkit: chauthtok failed: PAM_" in r.stderr


def test_setcred_ops(pamkit, confdir):
    cd = confdir("svc", "auth required pam_permit.so\n")
    ops = ["setcred=establish", "setcred=refresh", "setcred=reinit",
           "setcred=delete"]
    r = run(base(pamkit, cd, *ops))
    assert r.returncode == 0, r.stderr
    for op in ops:
        assert f"pamkit: {op}: PAM_SUCCESS" in r.stdout


def test_setcred_failure_code(pamkit, confdir):
    cd = confdir("svc", "auth required pam_deny.so\n")
    r = run(base(pamkit, cd, "setcred=establish"))
    assert r.returncode == 1
    assert "pamkit: setcred=establish failed: PAM_" in r.stderr


def test_info_message_printed(pamkit, confdir, matrix, passdb):
    cd = confdir("svc", "auth optional pam_echo.so hello %u from pamkit\n"
                        f"auth required {matrix} passdb={passdb}\n")
    r = run(base(pamkit, cd, "authenticate"), input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert "hello alice from pamkit" in r.stdout.splitlines()
    r = run(base(pamkit, cd, "--json", "authenticate"), input=PASSWORD + "\n")
    doc = json.loads(r.stdout)
    assert {"op": "authenticate", "style": "info",
            "text": "hello alice from pamkit"} in doc["transcript"]


def test_multi_prompt_get_user(pamkit, confdir, matrix, passdb):
    # no -u: pam_permit asks for the user name, then pam_matrix the password
    cd = confdir("svc", "auth required pam_permit.so\n"
                        f"auth required {matrix} passdb={passdb}\n")
    r = run([pamkit, "--confdir", cd, "-s", "svc", "authenticate"],
            input=f"alice\n{PASSWORD}\n")
    assert r.returncode == 0, r.stderr
    r = run([pamkit, "--confdir", cd, "-s", "svc", "get_user"], input="bob\n")
    assert r.returncode == 0, r.stderr
    assert "pamkit: user: bob" in r.stdout


def test_timeout_without_answer(pamkit, matrix_svc):
    import subprocess
    p = subprocess.Popen(base(pamkit, matrix_svc, "--timeout", "0.5",
                              "authenticate"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    try:
        rc = p.wait(timeout=15)  # stdin stays open and is never written
        elapsed = time.monotonic() - start
        out, err = p.stdout.read(), p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()
    assert 0.4 < elapsed < 10
    assert rc == 1
    assert "timed out" in err
    assert "pamkit: authenticate failed: PAM_" in err
    assert "authenticate: PAM_SUCCESS" not in out


def test_usage_errors(pamkit):
    for args in ([], ["-s", "svc"], ["-s", "svc", "fly"],
                 ["-s", "svc", "setcred=bogus", ], ["--bogus", "-s", "x", "env"],
                 ["-s", "svc", "--timeout", "-1", "env"],
                 ["-s", "svc", "--timeout", "abc", "env"],
                 ["-s", "svc", "--env", "=x", "env"],
                 ["-s"]):
        r = run([pamkit, *args])
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("pamkit: "), args
    r = run([pamkit, "--help"])
    assert r.returncode == 0 and "Usage: pamkit" in r.stdout
    r = run([pamkit, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("pamkit 0.1.0")


def test_unknown_service_fails(pamkit, confdir):
    # an empty confdir: no such service and no "other" fallback
    r = run([pamkit, "--confdir", confdir.path, "-s", "missing", "-u", "a",
             "authenticate"])
    assert r.returncode == 1
    assert "pamkit: " in r.stderr
    assert "PAM_SUCCESS" not in r.stdout


def test_demo_command():
    """The README's main job, run from the repo root as documented."""
    from conftest import PAMKIT
    r = run([str(PAMKIT), "--confdir", "demo/pam.d", "-s", "pamkit-demo",
             "-u", "alice", "authenticate", "acct_mgmt", "open_session",
             "close_session"], input="wonderland\n", cwd=str(REPO))
    assert r.returncode == 0, r.stderr
    assert "pamkit: close_session: PAM_SUCCESS" in r.stdout
    r = run([str(PAMKIT), "--confdir", "demo/pam.d", "-s", "pamkit-demo",
             "-u", "alice", "authenticate"], input="alice?\n", cwd=str(REPO))
    assert r.returncode == 1
    assert "PAM_AUTH_ERR" in r.stderr


def test_json_info_goes_to_stderr(pamkit, confdir):
    cd = confdir("svc", "auth optional pam_echo.so note for %u\n"
                        "auth required pam_permit.so\n")
    r = run(base(pamkit, cd, "--json", "authenticate"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["transcript"] == [{"op": "authenticate", "style": "info",
                                  "text": "note for alice"}]
    assert "note for alice" in r.stderr


def test_flags_accepted(pamkit, matrix_svc, passdb):
    r = run(base(pamkit, matrix_svc, "--silent", "--disallow-null",
                 "--rhost", "127.0.0.1", "--ruser", "bob", "--tty", "pts/9",
                 "authenticate", "acct_mgmt"), input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    r = run(base(pamkit, matrix_svc, "--change-expired", "chauthtok"),
            input=f"{PASSWORD}\nn2\nn2\n")
    assert r.returncode == 0, r.stderr
    assert "alice:n2:svc" in open(passdb).read()
