"""A tiny HTTPS OIDC provider for the pam_oauth2 end-to-end tests.

usage: idp.py DOCROOT CERT KEY PORTFILE

GET and POST alike (a POST's body is ignored): for a request path P the
served file is DOCROOT/<P without leading '/' and with
'/' replaced by '_'>.  Optional siblings change the answer:
  <name>.status   HTTP status code to send (default 200)
  <name>.redirect send a 302 to the URL in this file
  <name>.delay    trickle the body one byte per this many seconds
Every request path is appended to DOCROOT/requests.log.  The server exits by
itself after 300 seconds.
"""
import http.server
import os
import ssl
import sys
import threading
import time

docroot, cert, key, portfile = sys.argv[1:5]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        with open(os.path.join(docroot, "requests.log"), "a") as f:
            f.write(self.path + "\n")
        name = self.path.split("?")[0].strip("/").replace("/", "_") or "index"
        base = os.path.join(docroot, name)
        if os.path.exists(base + ".redirect"):
            with open(base + ".redirect") as f:
                loc = f.read().strip()
            self.send_response(302)
            self.send_header("Location", loc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not os.path.exists(base):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = 200
        if os.path.exists(base + ".status"):
            with open(base + ".status") as f:
                status = int(f.read())
        with open(base, "rb") as f:
            body = f.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if os.path.exists(base + ".delay"):
            with open(base + ".delay") as f:
                delay = float(f.read())
            for b in body:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(delay)
        else:
            self.wfile.write(body)


Handler.do_POST = Handler.do_GET


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
threading.Timer(300, lambda: os._exit(0)).start()
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
