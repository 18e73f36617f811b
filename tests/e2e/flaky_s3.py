# A fake S3 endpoint for the retry test: the first N requests get 503 SlowDown (or, with
# N < 0, every request gets 500), then it behaves as an empty bucket that accepts PUTs.
# Each request's method and path go to LOG; the port it listens on (127.0.0.1) to PORT_FILE.
import http.server
import sys
import threading

fail_first, log, port_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
count = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, method):
        global count
        with lock:
            count += 1
            n = count
            with open(log, "a") as f:
                f.write(f"{method} {self.path}\n")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {}
        if fail_first < 0:
            status, body = 500, b"<Error><Code>InternalError</Code><Message>always</Message></Error>"
        elif n <= fail_first:
            status, body = 503, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        elif method == "GET":
            status, body = 200, b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"
        else:
            status, body, headers = 200, b"", {"ETag": '"0"'}
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer("GET")

    def do_PUT(self):
        self.answer("PUT")

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
