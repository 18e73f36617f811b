#!/usr/bin/python3
"""A bounded load generator for OpenAI-compatible servers (bench/serve.sh).

    serve_load.py URL CONCURRENCY REQUESTS_PER_WORKER MAX_TOKENS [MODEL]

Each worker sends streaming /v1/completions requests one after another (greedy, EOS
ignored; request i's prompt is the 17-word list rotated by 7i, so 17 distinct prompts recur
and a server's prompt cache can serve repeats); prints JSON: total generated tokens/s, and p50/p99 time
to first token and inter-token latency, measured at the client."""
import http.client
import json
import sys
import threading
import time
import urllib.parse

url, conc, per, max_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model = sys.argv[5] if len(sys.argv) > 5 else None
u = urllib.parse.urlparse(url)
words = "the quick brown fox jumps over the lazy dog while seven wizards quietly hex jolly brave zebras".split()
ttft, itl, tokens, errors, latency = [], [], [0], [0], []
lock = threading.Lock()


def one(i):
    prompt = " ".join(words[(i * 7 + k) % len(words)] for k in range(48))
    req = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True, "ignore_eos": True}
    if model:
        req["model"] = model
    body = json.dumps(req)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        with lock:
            errors[0] += 1
        return
    first, last, n = None, None, 0
    buf = b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: ") or ev == b"data: [DONE]":
                continue
            d = json.loads(ev[6:])
            if not d.get("choices") or not d["choices"][0].get("text"):
                continue
            now = time.perf_counter()
            if first is None:
                first = now
                with lock:
                    ttft.append(now - t0)
            else:
                with lock:
                    itl.append(now - last)
            last = now
            n += 1
    with lock:
        tokens[0] += n
        latency.append(time.perf_counter() - t0)
    c.close()


def worker(w):
    for k in range(per):
        one(w * per + k)


t0 = time.perf_counter()
ts = [threading.Thread(target=worker, args=(w,)) for w in range(conc)]
for t in ts:
    t.start()
for t in ts:
    t.join()
wall = time.perf_counter() - t0


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] if v else float("nan")


print(json.dumps({"concurrency": conc, "requests": conc * per, "errors": errors[0], "tokens": tokens[0],
                  "tokens_per_s": tokens[0] / wall, "ttft_p50_ms": 1e3 * pct(ttft, 50), "ttft_p99_ms": 1e3 * pct(ttft, 99),
                  "itl_p50_ms": 1e3 * pct(itl, 50), "itl_p99_ms": 1e3 * pct(itl, 99),
                  "latency_p50_ms": 1e3 * pct(latency, 50), "latency_p99_ms": 1e3 * pct(latency, 99)}))
