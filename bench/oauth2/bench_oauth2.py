#!/usr/bin/python3
"""pam_oauth2 benchmark: warm-cache validations per second through
pam_authenticate (RS256, ES256) against `openssl speed` verify rates measured
in the same run, plus the time of one pam_start..pam_end login.

Starts the same loopback HTTPS IdP as the e2e tests only to warm the cache,
then stops it: the measured logins run with the IdP down (no network at all).
usage: PAMKIT_BUILD_DIR=build /usr/bin/python3 bench/oauth2/bench_oauth2.py [LOOPS]
"""
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests" / "oauth2"))
import conftest as c  # noqa: E402


def openssl_verify_rate(alg):
    out = subprocess.run(["openssl", "speed", "-seconds", "2", alg],
                         capture_output=True, text=True, timeout=120).stdout
    pat = {"rsa2048": r"^rsa\s+2048 bits", "ecdsap256": r"^\s*256 bits ecdsa"}[alg]
    for line in out.splitlines():
        if re.search(pat, line):
            return float(line.split()[-1])
    raise RuntimeError("cannot parse openssl speed output:\n" + out)


def main():
    loops = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    with tempfile.TemporaryDirectory() as td:
        td = pathlib.Path(td)
        pki = td / "pki"
        pki.mkdir()
        c._ca_and_cert(pki)
        results = {}
        for alg, kname in (("RS256", "rsa"), ("ES256", "p256")):
            root = td / ("idp-" + alg)
            root.mkdir()
            idp = c.IdP(root, pki)
            idp.start()
            work = td / ("w-" + alg)
            work.mkdir()
            env = c.Env(work, idp, pki)
            idp.discovery()
            idp.jwks([c.jwk(c.key(kname), "k1")])
            tok = c.make_token({"alg": alg, "kid": "k1"}, c.claims(idp.issuer),
                               c.key(kname))
            extra = "algorithm=" + alg
            assert env.run(tok, extra=extra) == c.PAM_SUCCESS  # warm the cache
            idp.stop()  # from here on: no network at all
            assert env.run(tok, extra=extra, loops=loops) == c.PAM_SUCCESS
            out = env.last_stdout
            rate = float(re.search(r"per_second=([\d.]+)", out).group(1))
            login_ms = float(re.search(r"login_ms=([\d.]+)", out).group(1))
            assert env.run(tok, extra=extra, loops=loops, direct=True) == c.PAM_SUCCESS
            direct = float(re.search(r"per_second=([\d.]+)", env.last_stdout).group(1))
            results[alg] = (rate, login_ms, direct)
        rsa = openssl_verify_rate("rsa2048")
        ec = openssl_verify_rate("ecdsap256")
    print("pam_oauth2 warm-cache benchmark (%d validations per algorithm)" % loops)
    for alg, ref, name in (("RS256", rsa, "rsa2048"), ("ES256", ec, "ecdsap256")):
        rate, login_ms, direct = results[alg]
        print("%s: pam_sm_authenticate called directly %.0f validations/s (ratio %.2f to "
              "openssl speed %s verify %.0f/s); through pam_authenticate %.0f/s "
              "(ratio %.2f); one pam_start..pam_end login %.2f ms"
              % (alg, direct, direct / ref, name, ref, rate, rate / ref, login_ms))


if __name__ == "__main__":
    main()
