#!/usr/bin/python3
"""Honest streaming clients beside an abusive crowd (#26): what half-open connections cost.

    serve_abuse.py URL [HALF_OPEN=512] [HONEST=8] [MAX_TOKENS=64] [PER=3]

Runs bench/serve_load.py's HONEST streaming clients twice against a running server: alone,
then while HALF_OPEN sockets hold connections with an unfinished request header (reopened
whenever the server drops one, each sending a header line every 2 s: slowloris). Meanwhile
/health is polled every 0.1 s. Prints the honest throughput both times, its ratio (the peer
here is the same server unloaded), and /health's worst latency under the crowd."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

url = sys.argv[1]
half_open = int(sys.argv[2]) if len(sys.argv) > 2 else 512
honest = int(sys.argv[3]) if len(sys.argv) > 3 else 8
max_tokens = sys.argv[4] if len(sys.argv) > 4 else "64"
per = sys.argv[5] if len(sys.argv) > 5 else "3"
u = urllib.parse.urlparse(url)
load = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve_load.py")


def honest_run():
    out = subprocess.run([sys.executable, load, url, str(honest), per, max_tokens],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def crowd(stop, opened):
    socks = []

    def connect():
        s = socket.create_connection((u.hostname, u.port))
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
        return s

    for _ in range(half_open):
        socks.append(connect())
    opened.set()
    while not stop.is_set():
        for i, s in enumerate(socks):
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                s.close()
                socks[i] = connect()
        stop.wait(2)
    for s in socks:
        s.close()


def health(stop, worst):
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            urllib.request.urlopen(url + "/health", timeout=10).read()
            worst[0] = max(worst[0], time.perf_counter() - t0)
        except Exception:
            worst[1] += 1
        stop.wait(0.1)


alone = honest_run()
stop, opened, worst = threading.Event(), threading.Event(), [0.0, 0]
t = threading.Thread(target=crowd, args=(stop, opened))
t.start()
opened.wait()
h = threading.Thread(target=health, args=(stop, worst))
h.start()
loaded = honest_run()
stop.set()
t.join()
h.join()
ratio = loaded["tokens_per_s"] / alone["tokens_per_s"]
print(f"honest clients: {honest} streams, {max_tokens} tokens x {per} requests each")
print(f"alone:              {alone['tokens_per_s']:.1f} tokens/s")
print(f"with {half_open} half-open: {loaded['tokens_per_s']:.1f} tokens/s  (ratio {ratio:.2f}; "
      f"errors {loaded.get('errors', 0)})")
print(f"/health under the crowd: worst {worst[0] * 1000:.0f} ms, {worst[1]} failed")
sys.exit(0 if ratio >= 0.8 and worst[0] < 1.0 and worst[1] == 0 else 1)
