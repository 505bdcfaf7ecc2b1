"""pam_oauth2 end to end: real libpam, real HTTPS IdP on loopback."""
import json
import os
import socket
import stat
import subprocess
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import (BUILD, MODULE, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SERVICE_ERR,
                      PAM_SUCCESS, b64u, claims, jwk, key, make_token)

ALGS = [("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"),
        ("PS256", "rsa"), ("PS384", "rsa"), ("PS512", "rsa"),
        ("ES256", "p256"), ("ES384", "p384"), ("ES512", "p521")]


def setup_idp(env, keys=None):
    env.idp.discovery()
    env.idp.jwks(keys if keys is not None else [jwk(key("rsa"), "k1")])


def tok(env, alg="RS256", k="rsa", kid="k1", **cl):
    h = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        h["kid"] = kid
    return make_token(h, claims(env.idp.issuer, **cl), key(k))


# ---------------------------------------------------------------- success
@pytest.mark.parametrize("alg,k", ALGS)
def test_valid_token_each_algorithm(env, alg, k):
    setup_idp(env, [jwk(key(k), "k1")])
    assert env.run(tok(env, alg, k), extra="algorithm=" + alg) == PAM_SUCCESS
    assert "authentication succeeded for user 'alice'" in env.log()


def test_wrong_user_is_auth_err(env):
    setup_idp(env)
    assert env.run(tok(env, sub="bob")) == PAM_AUTH_ERR
    assert "login_field mismatch" in env.log()


def test_login_field_email(env):
    setup_idp(env)
    t = tok(env, email="alice@example.com", sub="x")
    assert env.run(t, user="alice@example.com", extra="login_field=email") == PAM_SUCCESS
    assert env.run(t, user="Alice@example.com", extra="login_field=email") == PAM_AUTH_ERR


def test_multiple_audiences(env):
    setup_idp(env)
    t = tok(env, aud=["other", "ssh"])
    assert env.run(t, extra="aud=ssh") == PAM_SUCCESS
    assert env.run(t) == PAM_AUTH_ERR


# ---------------------------------------------------------------- config
@pytest.mark.parametrize("args", [
    "issuer=https://127.0.0.1:1 aud=pam algorithm=HS256",
    "issuer=https://127.0.0.1:1 aud=pam algorithm=none",
    "issuer=http://127.0.0.1:1 aud=pam",
    "issuer=https://127.0.0.1:1",
    "aud=pam",
    "issuer=https://127.0.0.1:1 aud=pam leeway=1000",
    "issuer=https://127.0.0.1:1 aud=pam frobnicate=1",
])
def test_config_errors_are_service_err(env, args):
    assert env.run("x.y.z", args=args) == PAM_SERVICE_ERR
    assert "configuration error" in env.log()


def test_standard_flags_tolerated(env):
    setup_idp(env)
    assert env.run(tok(env), extra="try_first_pass debug") == PAM_SUCCESS


def test_use_first_pass_without_token(env):
    setup_idp(env)
    assert env.run(tok(env), extra="use_first_pass") == PAM_AUTH_ERR


def test_empty_token(env):
    setup_idp(env)
    assert env.run("") == PAM_AUTH_ERR


# ------------------------------------------------- algorithm / key confusion
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("sig", [b"", b"abc"])
def test_alg_none(env, alg, sig):
    setup_idp(env)
    t = make_token({"alg": alg, "kid": "k1"}, claims(env.idp.issuer), None, raw_sig=sig)
    assert env.run(t) == PAM_AUTH_ERR


def _pub_encodings(k):
    pub = k.public_key()
    pem = pub.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return [pem, pem.rstrip(b"\n"),
            pub.public_bytes(serialization.Encoding.PEM,
                             serialization.PublicFormat.PKCS1),
            pub.public_bytes(serialization.Encoding.DER,
                             serialization.PublicFormat.SubjectPublicKeyInfo),
            json.dumps(jwk(k, "k1")).encode(),
            pub.public_numbers().n.to_bytes(256, "big"), b""]


@pytest.mark.parametrize("idx", range(7))
def test_hs256_with_public_key_as_secret(env, idx):
    setup_idp(env)
    secret = _pub_encodings(key("rsa"))[idx]
    t = make_token({"alg": "HS256", "kid": "k1"}, claims(env.idp.issuer), secret)
    assert env.run(t) == PAM_AUTH_ERR


@pytest.mark.parametrize("cfg,alg,k", [("RS256", "RS512", "rsa"), ("RS256", "PS256", "rsa"),
                                       ("ES256", "ES384", "p384"), ("PS256", "RS256", "rsa")])
def test_alg_mismatch_same_family(env, cfg, alg, k):
    setup_idp(env, [jwk(key(k), "k1")])
    assert env.run(tok(env, alg, k), extra="algorithm=" + cfg) == PAM_AUTH_ERR


@pytest.mark.parametrize("alg", ['"RS256 "', '"rs256"', "1", '["RS256"]', "null", None])
def test_alg_bad_values(env, alg):
    setup_idp(env)
    hdr = '{"kid":"k1"%s}' % ("" if alg is None else ',"alg":' + alg)
    t = make_token(hdr, claims(env.idp.issuer), key("rsa"), alg="RS256")
    assert env.run(t) == PAM_AUTH_ERR


def test_es256_signature_forms(env):
    setup_idp(env, [jwk(key("p256"), "k1")])
    hdr = {"alg": "ES256", "kid": "k1"}
    c = claims(env.idp.issuer)
    good = make_token(hdr, c, key("p256"))
    assert env.run(good, extra="algorithm=ES256") == PAM_SUCCESS
    head, _, sig = good.rpartition(".")
    import base64
    raw = base64.urlsafe_b64decode(sig + "==")
    der = make_token(hdr, c, key("p256"), der=True)
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    bad = [der, head + "." + b64u(b"\0" * 2 + raw), head + "." + b64u(raw[:63]),
           head + "." + b64u(b"\0" * 32 + raw[32:]), head + "." + b64u(raw[:32] + b"\0" * 32),
           head + "." + b64u(n.to_bytes(32, "big") + raw[32:]),
           head + "." + b64u(raw[:32] + n.to_bytes(32, "big")),
           head + "." + b64u(raw[:32] + (n + 1).to_bytes(32, "big"))]
    for t in bad:
        assert env.run(t, extra="algorithm=ES256") == PAM_AUTH_ERR


@pytest.mark.parametrize("k", ["p384", "p521"])
def test_es256_header_signed_by_other_curve(env, k):
    setup_idp(env, [jwk(key(k), "k1")])
    t = make_token({"alg": "ES256", "kid": "k1"}, claims(env.idp.issuer), key(k), alg="ES" + k[1:].replace("521", "512"))
    assert env.run(t, extra="algorithm=ES256") == PAM_AUTH_ERR


@pytest.mark.parametrize("e", [1, 2, 65536, 2 ** 40 + 1])
def test_rsa_bad_exponent(env, e):
    j = jwk(key("rsa"), "k1")
    j["e"] = b64u(e.to_bytes((e.bit_length() + 7) // 8, "big"))
    setup_idp(env, [j])
    assert env.run(tok(env)) == PAM_AUTH_ERR


def test_rsa_1024_key_refused(env):
    setup_idp(env, [jwk(key("rsa1024"), "k1")])
    assert env.run(tok(env, k="rsa1024")) == PAM_AUTH_ERR


@pytest.mark.parametrize("salt", [0, 222])
def test_pss_wrong_salt(env, salt):
    setup_idp(env)
    t = make_token({"alg": "PS256", "kid": "k1"}, claims(env.idp.issuer), key("rsa"),
                   pss_salt=salt)
    assert env.run(t, extra="algorithm=PS256") == PAM_AUTH_ERR


@pytest.mark.parametrize("extra", [{"use": "enc"}, {"key_ops": ["encrypt"]}, {"alg": "RS512"}])
def test_key_not_for_signing(env, extra):
    setup_idp(env, [jwk(key("rsa"), "k1", **extra)])
    assert env.run(tok(env)) == PAM_AUTH_ERR


def test_ambiguous_kid(env):
    setup_idp(env, [jwk(key("rsa"), "k1"), jwk(key("rsa2"), "k1")])
    assert env.run(tok(env)) == PAM_AUTH_ERR
    assert "ambiguous" in env.log()


def test_shared_kid_filtered_by_use(env):
    setup_idp(env, [jwk(key("rsa2"), "k1", use="enc"), jwk(key("rsa"), "k1", use="sig"),
                    jwk(key("p256"), "k1")])
    assert env.run(tok(env)) == PAM_SUCCESS


@pytest.mark.parametrize("bad", [{"d": "AQAB"}, {"kty": "oct", "k": "c2VjcmV0"}])
def test_jwks_with_private_members_refused(env, bad):
    j = jwk(key("rsa"), "k1")
    j.update(bad)
    setup_idp(env, [jwk(key("rsa2"), "k2"), j])
    assert env.run(tok(env, kid="k2", k="rsa2")) == PAM_AUTHINFO_UNAVAIL


def test_x5c_only_key(env):
    setup_idp(env, [{"kty": "RSA", "kid": "k1", "x5c": ["MIIB"]}])
    assert env.run(tok(env)) == PAM_AUTH_ERR


def test_no_kid(env):
    setup_idp(env, [jwk(key("rsa"), "k1")])
    assert env.run(tok(env, kid=None)) == PAM_SUCCESS
    setup_idp(env, [jwk(key("rsa"), "k1"), jwk(key("rsa2"), "k2")])
    assert env.run(tok(env, kid=None), extra="cache_ttl=0") == PAM_AUTH_ERR


def test_cross_issuer_kid(env, pki):
    """Issuer A's cache holds kid k1; a token from issuer B with kid k1 fails."""
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    t = make_token({"alg": "RS256", "kid": "k1"},
                   claims("https://127.0.0.1:1"), key("rsa"))
    assert env.run(t, extra="", args=env.std_args().replace(
        env.idp.issuer, "https://127.0.0.1:1")) in (PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR)
    assert env.run(t) == PAM_AUTH_ERR  # issuer mismatch at A


# ---------------------------------------------------------- header injection
def test_jku_x5u_never_fetched(env):
    setup_idp(env)
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    lst.setblocking(False)
    url = "https://127.0.0.1:%d/jwks" % lst.getsockname()[1]
    evil = key("rsa2")
    for h in ({"jku": url}, {"x5u": url}, {"jwk": jwk(evil, "k1")}, {"x5c": ["MIIB"]}):
        hdr = {"alg": "RS256", "kid": "evil"}
        hdr.update(h)
        assert env.run(make_token(hdr, claims(env.idp.issuer), evil),
                       extra="min_refresh_interval=0") == PAM_AUTH_ERR
    with pytest.raises(BlockingIOError):
        lst.accept()
    lst.close()


@pytest.mark.parametrize("h", [{"crit": ["exp"]}, {"crit": ["x-unknown"]}, {"crit": []},
                               {"zip": "DEF"}, {"b64": False}])
def test_forbidden_header_params(env, h):
    setup_idp(env)
    hdr = {"alg": "RS256", "kid": "k1"}
    hdr.update(h)
    assert env.run(make_token(hdr, claims(env.idp.issuer), key("rsa"))) == PAM_AUTH_ERR


def test_duplicate_header_alg(env):
    setup_idp(env)
    t = make_token('{"alg":"none","alg":"RS256","kid":"k1"}', claims(env.idp.issuer),
                   key("rsa"), alg="RS256")
    assert env.run(t) == PAM_AUTH_ERR


@pytest.mark.parametrize("kid", ["../../../../dev/null", "/etc/passwd", "x' OR '1'='1",
                                 "$(id)", "|id", "a\u0000b", "k\npam_oauth2(x): FAKE LINE",
                                 "A" * (1 << 20)], ids=range(8))
def test_kid_injection(env, kid):
    setup_idp(env)
    t = make_token({"alg": "RS256", "kid": kid}, claims(env.idp.issuer), key("rsa"))
    assert env.run(t) == PAM_AUTH_ERR
    for line in env.log().splitlines():
        assert "FAKE LINE" not in line or "\\x0a" in line
    assert not any(l.startswith("pam_oauth2(x)") for l in env.log().splitlines())
    if env.cache.exists():  # no file named after the kid, ever
        assert all(f.endswith(".json") and len(f) == 69 for f in os.listdir(env.cache))


def test_events_and_typ(env):
    setup_idp(env)
    t = tok(env, events={"http://schemas.openid.net/event/backchannel-logout": {}})
    assert env.run(t) == PAM_AUTH_ERR


def test_duplicate_sub_in_payload(env):
    setup_idp(env)
    c = claims(env.idp.issuer, sub="bob")
    text = json.dumps(c)[:-1] + ', "sub": "alice"}'
    t = make_token({"alg": "RS256", "kid": "k1"}, text, key("rsa"))
    assert env.run(t) == PAM_AUTH_ERR


# ------------------------------------------------------------------ claims
def _claims_case(env, mutate, user="alice"):
    setup_idp(env)
    c = claims(env.idp.issuer)
    mutate(c)
    return env.run(make_token({"alg": "RS256", "kid": "k1"}, c, key("rsa")), user=user)


@pytest.mark.parametrize("iss", ["{}/", "{}x", "HTTPS://127.0.0.1", "http://127.0.0.1",
                                 None, 1, ["{}"]])
def test_bad_iss(env, iss):
    def m(c):
        if iss is None:
            del c["iss"]
        elif isinstance(iss, str):
            c["iss"] = iss.format(env.idp.issuer)
        elif isinstance(iss, list):
            c["iss"] = [env.idp.issuer]
        else:
            c["iss"] = iss
    assert _claims_case(env, m) == PAM_AUTH_ERR


@pytest.mark.parametrize("aud", ["other", ["x"], [], [123], None, "pam ", "MISSING"])
def test_bad_aud(env, aud):
    def m(c):
        if aud == "MISSING":
            del c["aud"]
        else:
            c["aud"] = aud
    assert _claims_case(env, m) == PAM_AUTH_ERR


@pytest.mark.parametrize("delta,ok", [(0 - 60, False), (-59, True), (None, False)])
def test_exp_boundaries(env, delta, ok):
    now = int(time.time())

    def m(c):
        if delta is None:
            del c["exp"]
        else:
            c["exp"] = now + delta + 1 if ok else now + delta
        c.pop("iat")
    assert (_claims_case(env, m) == PAM_SUCCESS) == ok


@pytest.mark.parametrize("exp", ["9999999999", 1e300, -1, 1.5, [1]])
def test_exp_bad_types(env, exp):
    assert _claims_case(env, lambda c: c.update(exp=exp)) == PAM_AUTH_ERR


def test_exp_huge_integer(env):
    setup_idp(env)
    c = json.dumps(claims(env.idp.issuer))
    import re
    c = re.sub(r'"exp": \d+', '"exp": 99999999999999999999', c)
    assert env.run(make_token({"alg": "RS256", "kid": "k1"}, c, key("rsa"))) == PAM_AUTH_ERR


def test_nbf_iat(env):
    now = int(time.time())
    assert _claims_case(env, lambda c: c.update(nbf=now + 200)) == PAM_AUTH_ERR
    assert _claims_case(env, lambda c: c.update(nbf="1")) == PAM_AUTH_ERR
    assert _claims_case(env, lambda c: c.update(iat=now + 3600)) == PAM_AUTH_ERR
    assert _claims_case(env, lambda c: c.update(nbf=now + 30)) == PAM_SUCCESS


@pytest.mark.parametrize("sub,user", [(None, "root"), ("", "root"), (1000, "1000"),
                                      (True, "true"), (["root"], "root"), ({}, "root"),
                                      ("ROOT", "root"), ("root\u0000x", "root"),
                                      ("r\u043e\u043et", "root"), (" root", "root"),
                                      ("root ", "root")])
def test_login_field_attacks(env, sub, user):
    def m(c):
        if sub is None:
            del c["sub"]
        else:
            c["sub"] = sub
    assert _claims_case(env, m, user=user) == PAM_AUTH_ERR


# ---------------------------------------------------------- encoding / size
def test_oversized_tokens(env):
    setup_idp(env)
    big = tok(env, pad="x" * 70000)
    assert env.run(big) == PAM_AUTH_ERR
    assert "too long" in env.log()
    assert env.idp.requests() == []  # rejected before any network


def test_token_of_4095_bytes(env):
    setup_idp(env)
    t = tok(env)
    t4095 = t + "A" * (4095 - len(t))
    assert len(t4095) == 4095
    assert env.run(t4095) == PAM_AUTH_ERR
    assert "4095" in env.log()


@pytest.mark.parametrize("mut", ["pad", "pad2", "padgarbage", "plus", "space", "newline",
                                 "mod1", "trailbits", "empty", "two", "four", "five",
                                 "json"])
def test_malformed_encoding(env, mut):
    setup_idp(env)
    t = tok(env)
    h, p, s = t.split(".")
    v = {"pad": h + "=." + p + "." + s, "pad2": h + "." + p + "." + s + "==",
         "padgarbage": h + "." + p + "." + s + "==AAAA",
         "plus": h + "." + p + "." + s.replace("-", "+").replace("_", "/") + "+/",
         "space": h + ". " + p + "." + s, "newline": t + "\n" + "x",
         "mod1": h + "." + p + "." + s + "A", "trailbits": h + "." + p + "." + s[:-1] +
         chr(ord(s[-1]) ^ 1 if s[-1] not in "AQgw" else ord(s[-1]) + 1),
         "empty": "..", "two": h + "." + p, "four": t + ".x", "five": t + ".x.y",
         "json": json.dumps({"payload": p, "signature": s})}[mut]
    assert env.run(v) == PAM_AUTH_ERR


@pytest.mark.parametrize("payload", ["not json", "[]", '"x"', b"\xff\xfe",
                                     '{"a":"\\u0000"}', "[" * 10000 + "]" * 10000,
                                     "{" + ",".join('"k%d":1' % i for i in range(100000)) + "}"],
                         ids=range(7))
def test_payload_not_object(env, payload):
    setup_idp(env)
    h = b64u(json.dumps({"alg": "RS256", "kid": "k1"}))
    p = b64u(payload)
    from conftest import sign
    s = b64u(sign("RS256", key("rsa"), (h + "." + p).encode()))
    assert env.run(h + "." + p + "." + s, extra="max_token_len=1048576") == PAM_AUTH_ERR


# ----------------------------------------------------- discovery / network
def test_discovery_issuer_mismatch(env):
    setup_idp(env)
    env.idp.discovery(issuer=env.idp.issuer + "/")
    assert env.run(tok(env)) == PAM_AUTHINFO_UNAVAIL
    env.idp.discovery(issuer="https://evil.example")
    assert env.run(tok(env)) == PAM_AUTHINFO_UNAVAIL


def test_jwks_uri_http(env):
    setup_idp(env)
    env.idp.discovery(jwks_uri="http://127.0.0.1:%d/jwks" % env.idp.port)
    assert env.run(tok(env)) == PAM_AUTHINFO_UNAVAIL


def test_redirects_not_followed(env):
    setup_idp(env)
    (env.idp.root / "jwks.redirect").write_text("http://127.0.0.1:%d/jwks2" % env.idp.port)
    assert env.run(tok(env)) == PAM_AUTHINFO_UNAVAIL
    assert "/jwks2" not in env.idp.requests()


def test_untrusted_certificate(env, pki):
    setup_idp(env)
    args = env.std_args().replace(str(pki / "ca.pem"), str(pki / "other" / "ca.pem"))
    assert env.run(tok(env), args=args) == PAM_AUTHINFO_UNAVAIL
    args = " ".join(a for a in env.std_args().split() if not a.startswith("ca_file="))
    assert env.run(tok(env), args=args) == PAM_AUTHINFO_UNAVAIL
    assert env.idp.requests() == []


@pytest.mark.parametrize("body,status", [("{}", 404), ('{"keys":[]}', 500),
                                         ("<html>error</html>", 200),
                                         ('{"error":"x"}', 200), ("nope", 200),
                                         ('{"keys":{}}', 200), ('{"keys":[]}', 200)])
def test_bad_jwks_not_cached(env, body, status):
    env.idp.discovery()
    env.idp.jwks(body, status=status)
    assert env.run(tok(env)) == PAM_AUTHINFO_UNAVAIL
    assert not env.cache.exists() or os.listdir(env.cache) == []


def test_response_size_cap(env):
    env.idp.discovery()
    env.idp.jwks([jwk(key("rsa"), "k1")] + [{"kty": "x", "pad": "x" * 4096}] * 70)
    assert env.run(tok(env)) == PAM_AUTHINFO_UNAVAIL


def test_slow_loris_timeout(env):
    setup_idp(env)
    (env.idp.root / "jwks.delay").write_text("0.5")
    t0 = time.time()
    assert env.run(tok(env), extra="timeout=2") == PAM_AUTHINFO_UNAVAIL
    assert time.time() - t0 < 8


def test_proxy_environment_ignored(env):
    setup_idp(env)
    bogus = {"https_proxy": "http://127.0.0.1:1", "HTTPS_PROXY": "http://127.0.0.1:1",
             "ALL_PROXY": "http://127.0.0.1:1", "all_proxy": "http://127.0.0.1:1"}
    assert env.run(tok(env), env=bogus) == PAM_SUCCESS


# ------------------------------------------------------------ cache behaviour
def test_warm_cache_needs_no_network(env):
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    n = len(env.idp.requests())
    assert n == 2
    assert env.run(tok(env)) == PAM_SUCCESS
    assert len(env.idp.requests()) == n
    st = os.stat(env.cache)
    assert st.st_mode & 0o777 == 0o700
    files = os.listdir(env.cache)
    assert len(files) == 1 and files[0].endswith(".json") and "k1" not in files[0]


def test_libcurl_loaded_only_when_fetching(env):
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    assert "curl_loaded=1" in env.last_stdout  # cold: fetched
    assert env.run(tok(env)) == PAM_SUCCESS
    assert "curl_loaded=0" in env.last_stdout  # warm: libcurl never mapped
    assert env.run("x.y.z") == PAM_AUTH_ERR
    assert "curl_loaded=0" in env.last_stdout  # malformed: no network


def test_idp_down_with_warm_cache(env):
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    env.idp.stop()
    assert env.run(tok(env)) == PAM_SUCCESS


def test_idp_down_without_cache(env):
    setup_idp(env)
    env.idp.stop()
    assert env.run(tok(env)) == PAM_AUTHINFO_UNAVAIL


def test_idp_down_expired_cache(env):
    setup_idp(env)
    assert env.run(tok(env), extra="cache_ttl=1") == PAM_SUCCESS
    env.idp.stop()
    time.sleep(1.2)
    assert env.run(tok(env), extra="cache_ttl=1") == PAM_AUTHINFO_UNAVAIL


def test_key_rotation(env):
    setup_idp(env)
    assert env.run(tok(env), extra="min_refresh_interval=0") == PAM_SUCCESS
    env.idp.jwks([jwk(key("rsa2"), "k2")])
    assert env.run(tok(env, k="rsa2", kid="k2"), extra="min_refresh_interval=0") == PAM_SUCCESS
    assert len(env.idp.requests("/jwks")) == 2
    # the old key is gone after rotation
    assert env.run(tok(env), extra="min_refresh_interval=0") == PAM_AUTH_ERR


def test_unknown_kid_flood(env):
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    assert len(env.idp.requests("/jwks")) == 1
    for i in range(8):
        assert env.run(tok(env, kid="rand%d" % i), extra="min_refresh_interval=2") == PAM_AUTH_ERR
    # the first unknown kid may refetch only after the interval since the fetch
    assert len(env.idp.requests("/jwks")) <= 2
    time.sleep(2.1)
    for i in range(8):
        assert env.run(tok(env, kid="again%d" % i), extra="min_refresh_interval=2") == PAM_AUTH_ERR
    assert len(env.idp.requests("/jwks")) <= 3


def _age_cache(env, seconds):
    f = _cache_file(env)
    d = json.loads(f.read_text())
    d["fetched_at"] -= seconds
    d["attempt_at"] -= seconds
    f.write_text(json.dumps(d))
    os.chmod(f, 0o600)


def test_unknown_kid_flood_idp_down(env):
    """With the IdP failing, a flood of unknown kids costs one fetch per interval,
    and the cached keys stay usable."""
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    _age_cache(env, 100)
    env.idp.jwks("{}", status=503)
    for i in range(6):
        assert env.run(tok(env, kid="r%d" % i)) == PAM_AUTH_ERR
    assert len(env.idp.requests("/jwks")) == 2
    assert env.run(tok(env)) == PAM_SUCCESS  # cache kept, error not cached
    assert len(env.idp.requests("/jwks")) == 2


def test_unknown_kid_flood_one_refetch(env):
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    _age_cache(env, 100)
    for i in range(10):
        assert env.run(tok(env, kid="flood%d" % i)) == PAM_AUTH_ERR
    assert len(env.idp.requests("/jwks")) == 2
    # discovery and JWKS twice each: an unknown kid rereads discovery too
    assert len(env.idp.requests()) == 4


def test_rotation_that_moves_jwks_uri(env):
    """A rotation that also moves jwks_uri: the unknown kid rereads
    discovery (still once per min_refresh_interval) and finds the new
    key at the new place, long before the cache TTL ends."""
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    _age_cache(env, 100)
    env.idp.discovery(jwks_uri=env.idp.issuer + "/keys/v2")
    env.idp.put("keys_v2", {"keys": [jwk(key("rsa2"), "k2")]})
    env.idp.jwks([], status=404)            # the old place is gone
    assert env.run(tok(env, k="rsa2", kid="k2")) == PAM_SUCCESS
    assert env.idp.requests("/keys/v2") == ["/keys/v2"]
    assert env.run(tok(env, k="rsa2", kid="k2")) == PAM_SUCCESS
    assert len(env.idp.requests("/keys/v2")) == 1   # served from the cache
    # discovery down: the known jwks_uri is tried, once per interval
    _age_cache(env, 100)
    env.idp.discovery()
    env.idp.put(".well-known_openid-configuration", "{}", status=503)
    assert env.run(tok(env, kid="k3")) == PAM_AUTH_ERR
    assert len(env.idp.requests("/keys/v2")) == 2
    assert env.run(tok(env, kid="k4")) == PAM_AUTH_ERR
    assert len(env.idp.requests("/keys/v2")) == 2


def _cache_file(env):
    files = [f for f in os.listdir(env.cache) if f.endswith(".json")]
    assert len(files) == 1
    return env.cache / files[0]


@pytest.mark.parametrize("kind", ["symlink", "world_writable", "truncated", "other_issuer",
                                  "tmp_left"])
def test_cache_tampering(env, kind):
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    f = _cache_file(env)
    before = len(env.idp.requests())
    if kind == "symlink":
        real = env.tmp / "elsewhere.json"
        real.write_bytes(f.read_bytes())
        f.unlink()
        f.symlink_to(real)
    elif kind == "world_writable":
        os.chmod(f, 0o666)
    elif kind == "truncated":
        f.write_bytes(f.read_bytes()[:40])
    elif kind == "other_issuer":
        d = json.loads(f.read_text())
        d["issuer"] = "https://evil.example"
        f.write_text(json.dumps(d))
        os.chmod(f, 0o600)
    elif kind == "tmp_left":
        (env.cache / (f.name + ".abc123")).write_text("{garbage")
    assert env.run(tok(env)) == PAM_SUCCESS
    after = len(env.idp.requests())
    if kind == "tmp_left":
        assert after == before
    else:
        assert after == before + 2  # ignored and refetched


def test_cache_with_attacker_keys_refetched(env):
    """A cache file holding the attacker's key but owned by someone else is ignored
    (here: made group-writable, as any non-owner write would require)."""
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    f = _cache_file(env)
    d = json.loads(f.read_text())
    d["jwks"] = {"keys": [jwk(key("rsa2"), "k1")]}
    f.write_text(json.dumps(d))
    os.chmod(f, 0o620)
    assert env.run(tok(env, k="rsa2")) == PAM_AUTH_ERR


def test_concurrent_logins_write_cache(env):
    setup_idp(env)
    t = tok(env)
    results = []

    env.service(env.std_args("min_refresh_interval=0"))  # written before the race

    def one():
        results.append(env.run(t, extra="min_refresh_interval=0"))
    threads = [threading.Thread(target=one) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert results == [PAM_SUCCESS] * 8, env.log()
    d = json.loads(_cache_file(env).read_text())
    assert d["issuer"] == env.idp.issuer
    assert [f for f in os.listdir(env.cache) if not f.endswith(".json")] == []


def test_cache_disabled(env):
    setup_idp(env)
    assert env.run(tok(env), extra="cache_ttl=0") == PAM_SUCCESS
    assert env.run(tok(env), extra="cache_ttl=0") == PAM_SUCCESS
    assert len(env.idp.requests()) == 4
    assert not env.cache.exists()


# ---------------------------------------------------------- remaining vectors
def test_pss_mgf1_other_hash(env):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    setup_idp(env)
    h = b64u(json.dumps({"alg": "PS256", "kid": "k1"}))
    p = b64u(json.dumps(claims(env.idp.issuer)))
    sig = key("rsa").sign((h + "." + p).encode(),
                          padding.PSS(padding.MGF1(hashes.SHA1()), 32), hashes.SHA256())
    assert env.run(h + "." + p + "." + b64u(sig), extra="algorithm=PS256") == PAM_AUTH_ERR
    assert "signature verification failed" in env.log()


def test_rsa_16384_bit_key_refused(env):
    import secrets
    n = secrets.randbits(16384) | (1 << 16383) | 1
    j = {"kty": "RSA", "kid": "k1", "e": "AQAB",
         "n": b64u(n.to_bytes(2048, "big"))}
    setup_idp(env, [j])
    t = make_token({"alg": "RS256", "kid": "k1"}, claims(env.idp.issuer), None,
                   raw_sig=b"\1" * 2048)
    assert env.run(t) == PAM_AUTH_ERR
    assert "2048..8192" in env.log()


def test_empty_pam_user(env):
    setup_idp(env)
    assert env.run(tok(env), user="") == PAM_AUTH_ERR


@pytest.mark.parametrize("typ,ok", [("JWT", True), ("at+jwt", True), ("logout+jwt", False),
                                    ("secevent+jwt", False), (None, False), ("jwt", False)])
def test_typ_allowlist(env, typ, ok):
    setup_idp(env)
    hdr = {"alg": "RS256", "kid": "k1"}
    if typ is not None:
        hdr["typ"] = typ
    t = make_token(hdr, claims(env.idp.issuer), key("rsa"))
    rc = env.run(t, extra="typ=JWT typ=at+jwt")
    assert rc == (PAM_SUCCESS if ok else PAM_AUTH_ERR)


# ------------------------------------------------- in-process key cache (one handle)
def _rcs(env):
    line = [l for l in env.last_stdout.splitlines() if l.startswith("rcs=")][0]
    return [int(x) for x in line[4:].split(",")]


@pytest.mark.parametrize("alg,k", [("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "p256")])
def test_keycache_warm_handle_still_checks_everything(env, alg, k):
    """Repeated pam_authenticate on one handle: the memoized key never lets a
    bad signature, another user's token or an expired token through."""
    setup_idp(env, [jwk(key(k), "k1")])
    extra = "algorithm=" + alg
    good = tok(env, alg, k)
    assert env.run(good, extra=extra) == PAM_SUCCESS  # disk cache warm
    n = len(env.idp.requests())
    h, p, s = good.split(".")
    tampered = h + "." + p + "." + s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
    bob = tok(env, alg, k, sub="bob")
    expired = tok(env, alg, k, exp=int(time.time()) - 3600)
    other_kid = tok(env, alg, k, kid="k2")
    seq = [good, tampered, bob, expired, good, other_kid, good]
    assert env.run("\0".join(seq), extra=extra + " min_refresh_interval=3600",
                   loops=len(seq)) == PAM_SUCCESS
    assert _rcs(env) == [0, 7, 7, 7, 0, 7, 0]
    assert len(env.idp.requests()) == n  # warm: no network at all
    assert "curl_loaded=0" in env.last_stdout


def test_keycache_forgets_rotated_key(env):
    """Key rotation inside one process: once the cache file is rewritten, the
    memoized old key is not used any more."""
    setup_idp(env)
    assert env.run(tok(env)) == PAM_SUCCESS
    _age_cache(env, 100)  # a refetch is allowed once
    env.idp.jwks([jwk(key("rsa2"), "k2")])  # k1 retired at the IdP
    seq = [tok(env), tok(env, k="rsa2", kid="k2"), tok(env), tok(env, k="rsa2", kid="k2")]
    assert env.run("\0".join(seq), loops=len(seq)) == PAM_SUCCESS
    assert _rcs(env) == [0, 0, 7, 0]
    assert len(env.idp.requests("/jwks")) == 2


# ------------------------------------------------------------- more vectors
def test_conversation_failure(env):
    setup_idp(env)
    assert env.run(tok(env), env={"OA2_DRIVER_CONV_FAIL": "1"}) == PAM_AUTH_ERR
    assert "no token" in env.log()
    assert env.idp.requests() == []


def test_exp_equal_now_rejected_without_leeway(env):
    now = int(time.time())
    setup_idp(env)
    t = make_token({"alg": "RS256", "kid": "k1"}, claims(env.idp.issuer, exp=now), key("rsa"))
    assert env.run(t, extra="leeway=0") == PAM_AUTH_ERR  # "on or after" exp
    t = make_token({"alg": "RS256", "kid": "k1"},
                   claims(env.idp.issuer, exp=int(time.time()) + 30), key("rsa"))
    assert env.run(t, extra="leeway=0") == PAM_SUCCESS


def test_wrong_host_certificate(env, pki):
    """A certificate from the trusted CA but for another host name fails."""
    from conftest import IdP
    root = env.tmp / "idp-wronghost"
    root.mkdir()
    other = IdP(root, pki, cert="wronghost")
    other.start()
    try:
        other.discovery()
        other.jwks([jwk(key("rsa"), "k1")])
        t = make_token({"alg": "RS256", "kid": "k1"}, claims(other.issuer), key("rsa"))
        args = env.std_args().replace(env.idp.issuer, other.issuer)
        assert env.run(t, args=args) == PAM_AUTHINFO_UNAVAIL
        assert other.requests() == []  # TLS failed before any HTTP request
    finally:
        other.stop()


def test_no_claim_or_token_content_logged(env):
    """Distinctive claim values across several failure paths never reach syslog
    (the env fixture also checks every test's log for token fragments)."""
    setup_idp(env)
    marks = {"sub": "SUBJECTMARK", "iss": "https://ISSMARK.example", "aud": "AUDMARK",
             "email": "EMAILMARK@example.com"}
    now = int(time.time())
    cases = [claims(env.idp.issuer, sub=marks["sub"]),
             claims(marks["iss"], sub=marks["sub"]),
             claims(env.idp.issuer, aud=marks["aud"]),
             claims(env.idp.issuer, email=marks["email"], exp=now - 3600)]
    for c in cases:
        assert env.run(make_token({"alg": "RS256", "kid": "k1"}, c, key("rsa"))) == PAM_AUTH_ERR
    assert env.run(tok(env, alg="RS512"), extra="login_field=email") == PAM_AUTH_ERR
    text = env.log()
    assert text.count("authentication failed") >= 5
    for m in marks.values():
        assert m not in text


# ------------------------------------------- the seed's other behaviours
def test_cache_dir_parents_are_made(env, tmp_path):
    """cache_dir whose parents do not exist (the seed: os.makedirs): made,
    so the next login is served from the cache while the IdP is down."""
    setup_idp(env)
    deep = tmp_path / "var" / "cache" / "pam_oauth2"
    args = env.std_args().replace("cache_dir=%s" % env.cache,
                                  "cache_dir=%s" % deep)
    assert env.run(tok(env), args=args) == PAM_SUCCESS
    assert stat.S_IMODE(os.stat(deep).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(deep.parent).st_mode) == 0o755
    assert len(list(deep.glob("*.json"))) == 1
    env.idp.discovery()
    env.idp.put(".well-known_openid-configuration", "{}", status=503)
    env.idp.jwks([], status=503)
    assert env.run(tok(env), args=args) == PAM_SUCCESS
    assert "jwks cache write failed" not in env.log()


def test_session_and_account_lines(env):
    """auth, account, session and password lines naming pam_oauth2, run
    through libpamkit's CLI: sessions succeed (as the seed's module),
    account and password answer PAM_IGNORE, so the stack decides."""
    setup_idp(env)
    cli = BUILD / "tools" / "pamkit"
    args = env.std_args()
    (env.confdir / "oa2full").write_text(
        f"auth required {MODULE} {args}\n"
        f"account required {MODULE} {args}\n"
        f"account required pam_permit.so\n"
        f"session required {MODULE} {args}\n"
        f"password required {MODULE} {args}\n"
        f"password required pam_deny.so\n")
    (env.confdir / "oa2acct").write_text(
        f"auth required {MODULE} {args}\n"
        f"account required {MODULE} {args}\n")

    def run(svc, *ops):
        return subprocess.run([str(cli), "--confdir", str(env.confdir), "-s", svc,
                               "-u", "alice", "--json", *ops],
                              input=tok(env) + "\n", capture_output=True,
                              text=True, timeout=60)
    r = run("oa2full", "authenticate", "acct_mgmt", "open_session",
            "close_session")
    assert r.returncode == 0, r.stdout + r.stderr
    # the module alone on account lines decides nothing: libpam refuses
    r = run("oa2acct", "authenticate", "acct_mgmt")
    assert r.returncode == 1
    assert "PAM_SUCCESS" in r.stdout and "PAM_PERM_DENIED" in r.stdout, r.stdout
    # password: IGNORE, then pam_deny decides
    r = run("oa2full", "chauthtok")
    assert r.returncode == 1
    assert json.loads(r.stdout)["ops"][0]["name"] == "PAM_AUTHTOK_ERR", r.stdout
    # with the module alone, libpam has nobody to decide: never a success
    (env.confdir / "oa2pw").write_text(f"password required {MODULE} {args}\n")
    r = run("oa2pw", "chauthtok")
    assert r.returncode == 1, r.stdout


# ------------------------------------------------------------ jwt_only
PKTEST = BUILD / "tests" / "modules" / "pam_pktest.so"


def _password_or_token(env, extra):
    """The seed's stack: sufficient pam_oauth2, then a password module
    (pam_pktest standing in for pam_unix try_first_pass: it succeeds
    when PAM_AUTHTOK is the Unix password)."""
    (env.confdir / "pwortok").write_text(
        f"auth sufficient {MODULE} {env.std_args(extra)}\n"
        f"auth required {PKTEST} authtok=unix-pw-1\n")
    return "pwortok"


def test_jwt_only_passes_passwords_on_quietly(env):
    setup_idp(env)
    svc = _password_or_token(env, "jwt_only")
    assert env.run("unix-pw-1", service=svc) == PAM_SUCCESS
    assert env.run("unix-pw-2", service=svc) == PAM_AUTH_ERR  # pktest says no
    assert env.run("", service=svc) == PAM_AUTH_ERR
    # a password is no failed token: nothing in the log
    assert "pam_oauth2" not in env.log()
    # a token still logs in alone, and a bad token is still a logged failure
    assert env.run(tok(env), service=svc) == PAM_SUCCESS
    assert env.run(tok(env, exp=1), service=svc) == PAM_AUTH_ERR
    assert "authentication failed for user 'alice': token has expired" in env.log()
    # something JWT-shaped whose header is no JSON object is a password
    assert env.run("eyJub3Q.anNvbg.c2ln", service=svc) == PAM_AUTH_ERR
    assert env.log().count("authentication failed") == 1


def test_jwt_only_debug_says_why(env):
    setup_idp(env)
    svc = _password_or_token(env, "jwt_only debug")
    assert env.run("unix-pw-1", service=svc) == PAM_SUCCESS
    assert "not a JWT for user 'alice': ignored (jwt_only)" in env.log()
    assert "unix-pw-1" not in env.log()


def test_without_jwt_only_a_password_is_a_failed_token(env):
    """The seed's behaviour, kept by default."""
    setup_idp(env)
    svc = _password_or_token(env, "")
    assert env.run("unix-pw-1", service=svc) == PAM_AUTH_ERR
    assert "authentication failed for user 'alice': malformed token" in env.log()


# ------------------------------------------------ authorisation by claims
def test_require_claim(env):
    setup_idp(env)
    req = "require_claim=groups:admins|ops require_claim=email_verified:true"
    ok = dict(groups=["users", "admins"], email_verified=True)
    assert env.run(tok(env, **ok), extra=req) == PAM_SUCCESS
    assert env.run(tok(env, groups="ops", email_verified=True), extra=req) == PAM_SUCCESS
    for bad in (dict(groups=["users"], email_verified=True),      # no allowed group
                dict(groups=["admins"], email_verified=False),    # all must hold
                dict(groups=["admins"]),                          # claim missing
                dict(groups=[["admins"]], email_verified=True),   # nested: no
                dict(groups="administrators", email_verified=True)):
        assert env.run(tok(env, **bad), extra=req) == PAM_AUTH_ERR, bad
    assert env.log().count("required claim missing or without an allowed "
                           "value") == 5
    for arg in ("require_claim=groups", "require_claim=:x", "require_claim=groups:"):
        assert env.run(tok(env, **ok), extra=arg) == PAM_SERVICE_ERR, arg


def test_allowed_users(env):
    setup_idp(env)
    assert env.run(tok(env), extra="allowed_users=bob,alice") == PAM_SUCCESS
    assert env.run(tok(env), extra="allowed_users=bob,alicia") == PAM_AUTH_ERR
    assert "user not in allowed_users" in env.log()


def test_user_map(env, tmp_path):
    """login_field=email without local users named like e-mail addresses."""
    setup_idp(env)
    m = tmp_path / "users.map"
    m.write_text("# claim value   local user\n"
                 "alice@example.com  alice\n"
                 "carol@example.com\tcarol\n")
    m.chmod(0o644)
    extra = f"login_field=email user_map={m}"
    t = tok(env, email="alice@example.com")
    assert env.run(t, extra=extra) == PAM_SUCCESS
    assert env.run(t, user="carol", extra=extra) == PAM_AUTH_ERR
    assert "user_map maps the token to another user" in env.log()
    assert env.run(tok(env, email="mallory@example.com"), user="mallory",
                   extra=extra) == PAM_AUTH_ERR
    assert "login_field value not in user_map" in env.log()
    # with allowed_users too: both apply
    assert env.run(t, extra=extra + " allowed_users=carol") == PAM_AUTH_ERR
    # a map others may change is refused: fail closed
    m.chmod(0o666)
    assert env.run(t, extra=extra) == PAM_AUTH_ERR
    assert "user_map may be changed by others" in env.log()
    m.chmod(0o644)
    m.unlink()
    assert env.run(t, extra=extra) == PAM_AUTH_ERR
    assert env.run(t, extra="login_field=email user_map=users.map") == PAM_SERVICE_ERR


# --------------------------------------------------------- several issuers
def test_several_issuers(env, tmp_path):
    """Two IdPs on one line, each with its own aud, algorithm, login_field,
    discovery and cache; the token's iss picks the group, never its kid
    (both IdPs use kid k1 here, for different keys)."""
    from conftest import IdP
    setup_idp(env)
    root2 = tmp_path / "idp2"
    root2.mkdir()
    idp2 = IdP(root2, env.pki)
    idp2.start()
    try:
        idp2.discovery()
        idp2.jwks([jwk(key("p256"), "k1")])
        args = (f"issuer={env.idp.issuer} aud=pam "
                f"issuer={idp2.issuer} aud=ssh alg=ES256 login_field=email "
                f"ca_file={env.pki / 'ca.pem'} cache_dir={env.cache}")

        def tok2(k="p256", iss=None, aud="ssh"):
            c = claims(iss or idp2.issuer, aud=aud, email="alice", sub="x")
            return make_token({"alg": "ES256", "kid": "k1"}, c, key(k))
        assert env.run(tok(env), args=args) == PAM_SUCCESS
        assert env.run(tok2(), args=args) == PAM_SUCCESS
        assert len(list(env.cache.glob("*.json"))) == 2
        # A's token shape under B's name: B's keys and rules apply
        assert env.run(tok2(iss=env.idp.issuer), args=args) == PAM_AUTH_ERR
        # B's name, A's key (same kid): B's JWKS has no such key
        bad = make_token({"alg": "ES256", "kid": "k1"},
                         claims(idp2.issuer, aud="ssh", email="alice"), key("p384"))
        assert env.run(bad, args=args) == PAM_AUTH_ERR
        # group rules do not leak: aud=pam is A's only
        assert env.run(tok2(aud="pam"), args=args) == PAM_AUTH_ERR
        # an issuer nobody configured
        other = tok(env, iss="https://127.0.0.1:1")
        assert env.run(other, args=args) == PAM_AUTH_ERR
        assert "token issuer not configured" in env.log()
        for bad_args in (args + f" issuer={idp2.issuer} aud=x",
                         " ".join(f"issuer=https://h{i}.example aud=a"
                                  for i in range(9))):
            assert env.run(tok(env), args=bad_args) == PAM_SERVICE_ERR
    finally:
        idp2.stop()


# ------------------------------------------------------ pam_oauth2-check
CHECK = BUILD / "modules" / "pam_oauth2" / "pam_oauth2-check"


def check(env, token, user="alice", args=None, extra=""):
    env.tokens.append(token)
    r = subprocess.run([str(CHECK), "-u", user, "-c",
                        args if args is not None else env.std_args(extra), "-"],
                       input=token, capture_output=True, text=True, timeout=60)
    # never the token, nor a piece of it
    for seg in token.split("."):
        if len(seg) >= 12:
            assert seg[:12] not in r.stdout + r.stderr
    return r


def test_check_explains_each_step(env):
    setup_idp(env)
    r = check(env, tok(env))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    steps = [l.split()[0] for l in lines]
    assert steps[:2] == ["config", "token"]
    for s in ("cache", "discovery", "key", "signature", "claim", "login_field",
              "result"):
        assert s in steps, r.stdout
    assert lines[-1].split() == ["result", "PAM_SUCCESS"]
    # warm: the cache is used, no discovery
    r = check(env, tok(env))
    assert "discovery" not in r.stdout and "cache" in r.stdout
    # the admin's question: why "login_field mismatch"?
    r = check(env, tok(env, email="alice@example.com"), extra="login_field=email",
              user="alice")
    assert r.returncode == 1
    assert ("login_field    FAIL email is 'alice@example.com', the user is "
            "'alice'") in r.stdout, r.stdout
    assert r.stdout.splitlines()[-1] == "result         PAM_AUTH_ERR: login_field mismatch"
    # expired, wrong key, IdP down: each says so
    r = check(env, tok(env, exp=int(time.time()) - 1000))
    assert "claim exp      FAIL expired" in r.stdout
    r = check(env, tok(env, k="rsa2"))
    assert "signature      FAIL signature verification failed" in r.stdout
    r = check(env, tok(env, groups=["users"]), extra="require_claim=groups:admins")
    assert "require_claim  FAIL required claim missing" in r.stdout
    assert "users" not in r.stdout              # claim values are not shown
    env.idp.stop()
    r = check(env, tok(env), extra="cache_ttl=0")
    assert r.returncode == 1
    assert "discovery      FAIL" in r.stdout
    assert "PAM_AUTHINFO_UNAVAIL" in r.stdout


def test_check_usage_and_config_errors(env):
    setup_idp(env)
    r = subprocess.run([str(CHECK), "-c", env.std_args()], capture_output=True,
                       text=True, input="")
    assert r.returncode == 2 and "usage" in r.stderr
    r = check(env, tok(env), args="issuer=http://insecure aud=pam")
    assert r.returncode == 2
    assert r.stdout.startswith("config         FAIL issuer must use HTTPS")
    r = check(env, "hunter2", extra="jwt_only")
    assert "PAM_IGNORE" in r.stdout and r.returncode == 1
    r = check(env, "not.a.jwt")
    assert r.returncode == 1 and "token          FAIL" in r.stdout
