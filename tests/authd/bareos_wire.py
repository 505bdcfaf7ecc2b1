"""A tiny cleartext Bareos console speaking raw frames (for byte-exact and
malformed-input tests; TLS-PSK paths go through pamkit-console)."""
import hashlib
import hmac
import re
import socket
import struct

D = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
EOD, TERMINATE = -1, -4


def bareos_b64(data, compat=False):
    reg = rem = 0
    out = []
    i = 0
    while i < len(data):
        if rem < 6:
            b = data[i]
            reg = (reg << 8) & 0xFFFFFFFF
            reg |= b if compat or b < 0x80 else (b - 256) & 0xFFFFFFFF
            i += 1
            rem += 8
        out.append(D[(reg >> (rem - 6)) & 0x3F])
        rem -= 6
    if rem:
        mask = (1 << rem) - 1
        out.append(D[((reg & mask) << (6 - rem)) & 0x3F] if compat else D[reg & mask])
    return "".join(out)


def key_of(password):
    return hashlib.md5(password.encode()).hexdigest().encode()


def cram(chal, password, compat=False):
    mac = hmac.new(key_of(password), chal.encode(), hashlib.md5).digest()
    return bareos_b64(mac, compat)


class Wire:
    def __init__(self, port, timeout=10, source=None, preamble=b""):
        """source: the local address to connect from (127.0.0.2, ...);
        preamble: bytes sent first (a PROXY header)."""
        self.s = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout,
            source_address=(source, 0) if source else None)
        if preamble:
            self.s.sendall(preamble)

    def close(self):
        self.s.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(struct.pack(">i", len(data)) + data)

    def send_signal(self, sig):
        self.s.sendall(struct.pack(">i", sig))

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("server closed")
            buf += chunk
        return buf

    def recv(self):
        (n,) = struct.unpack(">i", self._exact(4))
        if n < 0:
            return n
        return self._exact(n) if n else b""

    def closed_by_server(self):
        try:
            while True:
                if not self.s.recv(4096):
                    return True
        except (ConnectionResetError, EOFError):
            return True
        except socket.timeout:
            return False

    def auth(self, console="pamcon", password="consolesecret",
             director="pamkit-test-dir"):
        self.send(f"Hello {console} calling version 26.0.0\n")
        line = self.recv().decode()
        m = re.fullmatch(r"auth cram-md5 (<\d+\.\d+@R_DIRECTOR::" + re.escape(director)
                         + r">) ssl=0\n", line)
        assert m, line
        self.send(cram(m.group(1), password).encode() + b"\0")
        ok = self.recv()
        if ok != b"1000 OK auth\n":
            return ok
        chal = "<12345.67890@R_CONSOLE::" + console + ">"
        self.send(f"auth cram-md5 {chal} ssl=0\n")
        resp = self.recv()
        assert resp == cram(chal, password).encode() + b"\0", resp
        self.send("1000 OK auth\n")
        return ok
