# A hostile S3 endpoint for the attack tests (#26 finding 6). It serves one object (KEY, the
# bytes of FILE) in ways a broken or malicious server might:
#   repeat-token  every listing page says "truncated" and gives the same continuation token
#   fresh-tokens  every listing page is empty, truncated, with a new token (memory and time)
#   endless       the listing is honest; a GET sends the object and then bytes forever
#   drip          the listing is honest; a GET sends two bytes a second
#   honest        what S3 would do
# Requests are counted in LOG (one line each); the port goes to PORT_FILE.
import http.server
import itertools
import sys
import threading
import time

mode, key, path, log, port_file = sys.argv[1:6]
body = open(path, "rb").read()
counter = itertools.count()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status, data, ctype="application/xml"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        n = next(counter)
        with lock, open(log, "a") as f:
            f.write(f"GET {self.path}\n")
        if "list-type=2" in self.path:
            listed = f"<Contents><Key>{key}</Key><Size>{len(body)}</Size></Contents>"
            if mode == "repeat-token":
                page = "<IsTruncated>true</IsTruncated><NextContinuationToken>SAME</NextContinuationToken>"
            elif mode == "fresh-tokens":
                page = f"<IsTruncated>true</IsTruncated><NextContinuationToken>T{n}</NextContinuationToken>"
            else:
                page = listed + "<IsTruncated>false</IsTruncated>"
            return self.send(200, f"<ListBucketResult>{page}</ListBucketResult>".encode())
        if mode == "endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
                junk = b"x" * 65536
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(junk), junk))
            except OSError:
                return
        if mode == "drip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(0, len(body), 2):
                    self.wfile.write(body[i:i + 2])
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                return
            return
        self.send(200, body, "application/octet-stream")

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
