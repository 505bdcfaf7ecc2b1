"""Fixtures for the pam_oauth2 end-to-end tests: a test CA, a real HTTPS
OIDC provider on 127.0.0.1, a private PAM service directory and a driver that
runs pam_start_confdir..pam_end through the real libpam."""
import base64
import datetime
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD = pathlib.Path(os.environ.get("PAMKIT_BUILD_DIR", REPO / "build"))
MODDIR = BUILD / "modules" / "pam_oauth2"
MODULE = MODDIR / "pam_oauth2.so"
DRIVER = MODDIR / "oa2-pam-driver"
SHIM = MODDIR / "oa2-syslog-shim.so"

PAM_SUCCESS = 0
PAM_SERVICE_ERR = 3
PAM_AUTH_ERR = 7
PAM_AUTHINFO_UNAVAIL = 9
LOG_AUTH = 4 << 3


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n, length=None):
    length = length or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(length, "big"))


_KEYS = {}


def key(name):
    """Session-wide test keys: rsa, rsa2, rsa1024, p256, p384, p521."""
    if name not in _KEYS:
        if name.startswith("rsa"):
            bits = 1024 if name == "rsa1024" else 2048
            _KEYS[name] = rsa.generate_private_key(65537, bits)
        else:
            curve = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(),
                     "p521": ec.SECP521R1()}[name]
            _KEYS[name] = ec.generate_private_key(curve)
    return _KEYS[name]


def jwk(k, kid, **extra):
    pub = k.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        d = {"kty": "RSA", "n": _int_b64(nums.n), "e": _int_b64(nums.e)}
    else:
        nums = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {256: "P-256", 384: "P-384", 521: "P-521"}[pub.curve.key_size]
        d = {"kty": "EC", "crv": crv, "x": _int_b64(nums.x, size),
             "y": _int_b64(nums.y, size)}
    if kid is not None:
        d["kid"] = kid
    d.update(extra)
    return d


HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


def sign(alg, k, data, pss_salt=None, der=False):
    h = HASHES[alg[2:]]
    if alg.startswith("RS"):
        return k.sign(data, padding.PKCS1v15(), h)
    if alg.startswith("PS"):
        salt = h.digest_size if pss_salt is None else pss_salt
        return k.sign(data, padding.PSS(padding.MGF1(h), salt), h)
    if alg.startswith("HS"):
        m = hmac.HMAC(k, h)
        m.update(data)
        return m.finalize()
    sig = k.sign(data, ec.ECDSA(h))
    if der:
        return sig
    r, s = decode_dss_signature(sig)
    size = (k.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def make_token(header, payload, k, alg=None, raw_sig=None, **kw):
    """header/payload: dict or raw JSON text; alg: the signing algorithm."""
    h = header if isinstance(header, str) else json.dumps(header)
    p = payload if isinstance(payload, str) else json.dumps(payload)
    signing_input = (b64u(h) + "." + b64u(p)).encode()
    if raw_sig is not None:
        sig = raw_sig
    else:
        alg = alg or json.loads(h)["alg"]
        sig = sign(alg, k, signing_input, **kw)
    return signing_input.decode() + "." + b64u(sig)


def _ca_and_cert(d):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oa2 test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                       False, False), True)
          .sign(ca_key, hashes.SHA256()))
    import ipaddress
    # srv: the IdP's certificate for 127.0.0.1; wronghost: same CA, other name
    for name, san in (("srv", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
                      ("wronghost", x509.DNSName("wrong.example"))):
        srv_key = ec.generate_private_key(ec.SECP256R1())
        cn = "127.0.0.1" if name == "srv" else "wrong.example"
        srv = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(ca_name).public_key(srv_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.SubjectAlternativeName([san]), False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
               .sign(ca_key, hashes.SHA256()))
        (d / (name + ".pem")).write_bytes(srv.public_bytes(serialization.Encoding.PEM))
        (d / (name + ".key")).write_bytes(srv_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    _ca_and_cert(d)
    other = d / "other"
    other.mkdir()
    _ca_and_cert(other)  # a second, unrelated CA
    return d


def _asan_runtime():
    out = subprocess.run(["ldd", str(DRIVER)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "libasan" in line and "=>" in line:
            return line.split("=>")[1].split()[0]
    return None


class IdP:
    """A real HTTPS OIDC provider on 127.0.0.1, started and stopped by the test."""

    def __init__(self, root, pki, cert="srv"):
        self.root = root
        self.pki = pki
        self.cert = cert
        self.proc = None
        self.port = None

    def start(self):
        portfile = self.root / "port"
        if portfile.exists():
            portfile.unlink()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3",
             str(HERE / "idp.py"), str(self.root), str(self.pki / (self.cert + ".pem")),
             str(self.pki / (self.cert + ".key")), str(portfile)])
        deadline = time.time() + 20
        while not portfile.exists():
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("IdP did not start")
            time.sleep(0.02)
        self.port = int(portfile.read_text())

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    @property
    def issuer(self):
        return "https://127.0.0.1:%d" % self.port

    def put(self, name, obj, status=None):
        text = obj if isinstance(obj, (str, bytes)) else json.dumps(obj)
        p = self.root / name
        p.write_bytes(text.encode() if isinstance(text, str) else text)
        st = self.root / (name + ".status")
        if status is None:
            if st.exists():
                st.unlink()
        else:
            st.write_text(str(status))

    def discovery(self, **override):
        doc = {"issuer": self.issuer, "jwks_uri": self.issuer + "/jwks"}
        doc.update(override)
        self.put(".well-known_openid-configuration", doc)

    def jwks(self, keys, status=None):
        self.put("jwks", keys if isinstance(keys, (str, bytes)) else {"keys": keys},
                 status)

    def requests(self, path=None):
        log = self.root / "requests.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [l for l in lines if path is None or l == path]


class Env:
    def __init__(self, tmp, idp, pki):
        self.tmp = tmp
        self.idp = idp
        self.pki = pki
        self.cache = tmp / "cache"
        self.confdir = tmp / "pam.d"
        self.confdir.mkdir()
        (self.confdir / "other").write_text("auth required pam_deny.so\n")
        self.syslog = tmp / "syslog.txt"
        self.tokens = []
        self.asan = _asan_runtime()

    def service(self, args, name="oa2test"):
        line = "auth required %s %s\n" % (MODULE, args)
        f = self.confdir / name
        if not f.exists() or f.read_text() != line:
            tmp = self.confdir / (".tmp-%s-%d" % (name, threading.get_ident()))
            tmp.write_text(line)
            tmp.rename(f)  # atomic: concurrent logins never see a partial file
        return name

    def std_args(self, extra=""):
        return ("issuer=%s aud=pam ca_file=%s cache_dir=%s %s" %
                (self.idp.issuer, self.pki / "ca.pem", self.cache, extra)).strip()

    def run(self, token, user="alice", args=None, extra="", env=None, loops=None,
            direct=False, capture_log=True, wrap=None, service=None):
        """Runs one login; returns the PAM result code. capture_log=False
        (benchmark) leaves syslog() to the C library instead of the shim.
        service: a service file of the test's own in confdir."""
        self.tokens.append(token)
        svc = service or self.service(args if args is not None else self.std_args(extra))
        e = self.driver_env(env, capture_log)
        argv = (wrap or []) + [str(DRIVER), str(self.confdir), svc, user]
        if loops:
            argv.append(str(loops))
        if direct:
            argv += ["--direct", str(MODULE)] + (args if args is not None
                                                 else self.std_args(extra)).split()
        p = subprocess.run(argv, input=token.encode() if isinstance(token, str) else token,
                           capture_output=True, timeout=60, env=e)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        out = p.stdout.decode()
        assert out.startswith("rc="), out
        self.last_stdout = out
        return int(out.split()[0][3:])

    def driver_env(self, env=None, capture_log=True):
        """The driver's environment: the syslog shim (and libasan first in
        an ASan build), no proxy."""
        e = dict(os.environ)
        e.pop("https_proxy", None)
        e.update(env or {})
        e["OA2_SYSLOG_FILE"] = str(self.syslog)
        pre = [str(SHIM)] if capture_log else []
        if self.asan:
            pre.insert(0, self.asan)
            e.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        if pre:
            e["LD_PRELOAD"] = ":".join(pre)
        else:
            e.pop("LD_PRELOAD", None)
        return e

    def popen(self, args, user="alice", token=""):
        """A login left running (the device flow): its stderr carries the
        conversation's info text; communicate() ends it."""
        svc = self.service(args)
        p = subprocess.Popen([str(DRIVER), str(self.confdir), svc, user],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.driver_env())
        p.stdin.write(token.encode())
        p.stdin.close()
        p.stdin = None          # communicate() must not flush it
        return p

    def log(self):
        return self.syslog.read_text() if self.syslog.exists() else ""

    def check_log_clean(self):
        text = self.log()
        assert "eyJ" not in text
        for tok in self.tokens:
            if not isinstance(tok, str):
                continue
            for seg in tok.split("."):
                for i in range(0, max(len(seg) - 12, 1), 12):
                    frag = seg[i:i + 12]
                    if len(frag) >= 12:
                        assert frag not in text, "token fragment in log"
        for line in text.splitlines():
            if "pam_oauth2(" not in line:
                continue  # libpam's own messages
            prio = int(line.split()[0])
            assert prio & ~7 == LOG_AUTH, line


@pytest.fixture
def env(tmp_path, pki):
    assert MODULE.exists(), "build first: %s" % MODULE
    root = tmp_path / "idp"
    root.mkdir()
    idp = IdP(root, pki)
    idp.start()
    e = Env(tmp_path, idp, pki)
    try:
        yield e
        e.check_log_clean()
    finally:
        idp.stop()


def claims(issuer, sub="alice", **kw):
    now = int(time.time())
    c = {"iss": issuer, "aud": "pam", "sub": sub, "exp": now + 300, "iat": now}
    c.update(kw)
    return c
