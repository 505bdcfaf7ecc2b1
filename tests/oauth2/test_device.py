"""pam_oauth2's device authorization grant (RFC 8628) against a real
OpenID provider: oidc-provider from npm (tests/oauth2/oidc, installed by
.ci/install), over HTTPS on 127.0.0.1 with the tests' CA.  The test plays
the user: it reads the verification URL the module shows, logs in through
the provider's own pages, and the module, polling, gets the ID token and
validates it by every rule a typed token meets."""
import http.cookiejar
import re
import shutil
import ssl
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import HERE, PAM_AUTH_ERR, PAM_SERVICE_ERR, PAM_SUCCESS

OIDC = HERE / "oidc"
NODE = shutil.which("node") or "/usr/bin/node"


class Provider:
    def __init__(self, tmp, pki):
        assert (OIDC / "node_modules" / "oidc-provider").is_dir(), \
            "oidc-provider missing: .ci/install runs npm ci in tests/oauth2/oidc"
        portfile = tmp / "op.port"
        self.log = open(tmp / "op.log", "w")
        self.proc = subprocess.Popen(
            [NODE, str(OIDC / "provider.mjs"), str(pki / "srv.pem"),
             str(pki / "srv.key"), str(portfile)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not portfile.exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                (tmp / "op.log").read_text()
            time.sleep(0.05)
        self.port = int(portfile.read_text())
        self.issuer = f"https://127.0.0.1:{self.port}"
        self.ca = pki / "ca.pem"

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)
        self.log.close()

    def browser(self, url, login, approve=True):
        """What the user does in a browser: open the URL the module showed,
        confirm the code, log in (the provider's development pages take any
        password), consent."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        op = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ctx),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        resp = op.open(url, timeout=10)
        html = resp.read().decode()
        for _ in range(8):
            action = re.search(r'<form[^>]*action="([^"]*)"', html)
            if action is None:
                return html
            fields = dict(re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
            names = re.findall(r'name="(\w+)"', html)
            if "login" in names:
                fields.update(login=login, password="any")
            aborting = "confirm" in fields and not approve
            if aborting:
                del fields["confirm"]
                fields["abort"] = "yes"
            resp = op.open(urllib.parse.urljoin(resp.geturl(), action.group(1)),
                           urllib.parse.urlencode(fields).encode(), timeout=10)
            html = resp.read().decode()
            if aborting:
                return html     # the page asks for a code again
        raise AssertionError("the provider's pages did not end")


@pytest.fixture
def op(tmp_path, pki):
    p = Provider(tmp_path, pki)
    yield p
    p.stop()


def args(env, op, extra=""):
    return (f"issuer={op.issuer} aud=pam-device client_id=pam-device "
            f"device_flow ca_file={env.pki / 'ca.pem'} cache_dir={env.cache} "
            f"{extra}").strip()


def shown_url(proc, timeout=20):
    """The URL with the code in it, from the info text the module sent."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode()
        if not line:
            break
        text += line
        m = re.search(r"or open (https://\S+)", text)
        if m:
            return text, m.group(1)
    raise AssertionError("no device code shown: " + text)


def finish(proc, timeout=60):
    """The login's PAM code; what it wrote to stderr is in proc.err_text."""
    out, err = proc.communicate(timeout=timeout)
    out, proc.err_text = out.decode(), err.decode()
    assert out.startswith("rc="), out + proc.err_text
    return int(out.split()[0][3:])


def test_device_login(env, op):
    p = env.popen(args(env, op))
    text, url = shown_url(p)
    # what the user reads: the page, the code, the complete URL
    m = re.search(r"To log in, open (https://127\.0\.0\.1:\d+/device)\n"
                  r"and enter the code ([A-Z]{4}-[A-Z]{4}), or open ", text)
    assert m, text
    assert url.endswith("user_code=" + m.group(2))
    assert "Sign-in Success" in op.browser(url, "alice")
    assert finish(p) == PAM_SUCCESS
    assert "authentication succeeded for user 'alice'" in env.log()


def test_device_login_as_someone_else_is_refused(env, op):
    """The ID token says mallory: the PAM user alice does not get in."""
    p = env.popen(args(env, op))
    _, url = shown_url(p)
    op.browser(url, "mallory")
    assert finish(p) == PAM_AUTH_ERR
    assert "login_field mismatch" in env.log()


def test_device_login_with_claims_rules(env, op):
    """The token is held to the same rules: login_field=email with a user
    map, and a required claim it lacks."""
    m = env.tmp / "users.map"
    m.write_text("alice@example.com alice\n")
    p = env.popen(args(env, op, f"login_field=email user_map={m} scope=openid,email"))
    _, url = shown_url(p)
    op.browser(url, "alice")
    assert finish(p) == PAM_SUCCESS
    p = env.popen(args(env, op, "require_claim=groups:admins"))
    _, url = shown_url(p)
    op.browser(url, "alice")
    assert finish(p) == PAM_AUTH_ERR
    assert "required claim missing" in env.log()


def test_device_login_denied(env, op):
    p = env.popen(args(env, op))
    _, url = shown_url(p)
    op.browser(url, "alice", approve=False)
    t = time.monotonic()
    assert finish(p) == PAM_AUTH_ERR
    assert time.monotonic() - t < 15
    assert "device login refused: access_denied" in env.log()


def test_device_login_times_out(env, op):
    """Nobody logs in: refused once device_timeout has passed."""
    t = time.monotonic()
    p = env.popen(args(env, op, "device_timeout=10"))
    shown_url(p)
    assert finish(p) == PAM_AUTH_ERR
    assert 5 <= time.monotonic() - t < 20
    assert "device login not completed in time" in env.log()


def test_device_flow_configuration(env, op):
    for bad in (f"issuer={op.issuer} aud=pam-device device_flow",
                f"issuer={op.issuer} aud=other client_id=pam-device device_flow",
                args(env, op, "device_timeout=5")):
        p = env.popen(bad)
        assert finish(p) == PAM_SERVICE_ERR, bad
    # a token typed at the prompt still logs in without the browser
    # (wrong issuer here: refused, but no device code was asked for)
    p = env.popen(args(env, op), token="not-a-token")
    assert finish(p) == PAM_AUTH_ERR
    assert "info:" not in p.err_text


def test_device_flow_idp_without_it(env):
    """The stand-in IdP has no device endpoint: a clear reason, and
    PAM_AUTHINFO_UNAVAIL (the IdP cannot do it), not a hang."""
    from conftest import PAM_AUTHINFO_UNAVAIL
    env.idp.discovery()
    a = (f"issuer={env.idp.issuer} aud=pam-device client_id=pam-device "
         f"device_flow ca_file={env.pki / 'ca.pem'} cache_dir={env.cache}")
    p = env.popen(a)
    assert finish(p, timeout=30) == PAM_AUTHINFO_UNAVAIL
    assert "the IdP offers no device authorization" in env.log()


def test_device_flow_hostile_idp_answers(env):
    """What the IdP sends is shown on the user's terminal, so it must be
    https:// and printable; an error code it sends back is logged only if
    printable; a 200 without an ID token is no login."""
    from conftest import PAM_AUTHINFO_UNAVAIL
    iss = env.idp.issuer
    env.idp.discovery(device_authorization_endpoint=iss + "/device/auth",
                      token_endpoint=iss + "/token")
    a = (f"issuer={iss} aud=pam-device client_id=pam-device device_flow "
         f"ca_file={env.pki / 'ca.pem'} cache_dir={env.cache}")
    good = {"device_code": "dc", "user_code": "WDJB-MJHT",
            "verification_uri": iss + "/device", "expires_in": 60,
            "interval": 1}
    for bad in (dict(good, user_code="\x1b[2JEVIL"),
                dict(good, verification_uri="http://evil.example/device"),
                dict(good, verification_uri=iss + "/device\nPassword:"),
                dict(good, expires_in="60"),
                {k: v for k, v in good.items() if k != "device_code"}):
        env.idp.put("device_auth", bad)
        p = env.popen(a)
        assert finish(p, timeout=30) == PAM_AUTHINFO_UNAVAIL, bad
        assert "info:" not in p.err_text, (bad, p.err_text)
    assert env.log().count("device authorization refused or malformed") == 5
    env.idp.put("device_auth", good)
    env.idp.put("token", {"error": "\x1b[31mred"}, status=400)
    p = env.popen(a)
    assert finish(p, timeout=30) == PAM_AUTH_ERR
    assert "device login refused: error" in env.log()
    assert "\x1b" not in env.log()
    env.idp.put("token", {"access_token": "x"})
    p = env.popen(a)
    assert finish(p, timeout=30) == PAM_AUTH_ERR
    assert "device login refused: no id_token in the answer" in env.log()
