#!/usr/bin/env bash
# `xops serve` under load beside llama.cpp's llama-server on the same weights (GPT-2-small
# shape, fp32 / F32), one after the other in one invocation: generated tokens/s at 1, 4, 8
# and 16 concurrent streams, p50/p99 time to first token and inter-token latency, measured
# by bench/serve_load.py on loopback.
#
#   LLAMA_SERVER=/path/to/llama-server bench/serve.sh     (build recipe: bench/README.md)
#
# THREADS (2), MAX_TOKENS (64), PER (requests per stream, 2), ROUNDS (1, alternating). Each load level records the CPU
# other processes used meanwhile (bench/common.sh); ratios are withheld when that passed
# 0.5 core, unless --noisy.
source "$(dirname "$0")/common.sh"
SHARED="${SHARED:-$ROOT/../shared}"
THREADS="${THREADS:-2}"
MAX_TOKENS="${MAX_TOKENS:-64}"
PER="${PER:-2}"
WORK="${BENCH_DIR:-/tmp/xops-bench-generate}"
BENCH="$ROOT/build/xops_bench_generate"
LLAMA_SERVER="${LLAMA_SERVER:-}"
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
mkdir -p "$WORK"
[ -f "$WORK/gpt2/model.safetensors" ] || "$BENCH" make "$WORK/gpt2" gpt2 "$SHARED/golden/tokenizer" >/dev/null
[ -f "$WORK/gpt2-f32.gguf" ] || "$XOPS" export "$WORK/gpt2" -o "$WORK/gpt2-f32.gguf" --no-modelfile >/dev/null
machine
echo "threads: $THREADS, $MAX_TOKENS tokens per request after a 48-word prompt, $PER requests per stream"
echo "load average at start: $(cut -d' ' -f1 /proc/loadavg)"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 600); do curl -sf "$1/health" >/dev/null && return 0; sleep 0.1; done; return 1; }
results="$WORK/serve-results.jsonl"
: >"$results"
# Both servers run side by side (an idle one sleeps), and each load level is measured on one
# then the other, ROUNDS times: this VM's speed drifts by +-15% over minutes, so runs that
# alternate compare like with like; medians are reported.
names=() urls=() pids=()
start_engine() {  # name, then the server command line
  local name=$1 port url
  shift
  port=$(free_port)
  url="http://127.0.0.1:$port"
  "$@" --port "$port" >/dev/null 2>"$WORK/$name.log" &
  pids+=($!)
  wait_ready "$url" || { echo "serve.sh: $name did not start (see $WORK/$name.log)" >&2; return 1; }
  /usr/bin/python3 "$ROOT/bench/serve_load.py" "$url" 1 1 8 >/dev/null  # warm-up
  names+=("$name") urls+=("$url")
}
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null' EXIT
[ -n "$LLAMA_SERVER" ] && start_engine llama-server "$LLAMA_SERVER" -m "$WORK/gpt2-f32.gguf" -t "$THREADS" -np 16 \
  -c $((16 * 1024)) --host 127.0.0.1
# shellcheck disable=SC2086
start_engine xops "$XOPS" serve "$WORK/gpt2" --threads "$THREADS" --max-batch 16 --no-log ${XOPS_SERVE_ARGS:-}
for c in 1 4 8 16; do
  for _ in $(seq "${ROUNDS:-1}"); do
    for i in "${!names[@]}"; do
      echo "{\"engine\":\"${names[$i]}\",\"load\":$(cut -d' ' -f1 /proc/loadavg),\"r\":$(measured "${names[$i]} $c streams" --pids "${pids[*]}" /usr/bin/python3 "$ROOT/bench/serve_load.py" "${urls[$i]}" "$c" "$PER" "$MAX_TOKENS")}" >>"$results"
    done
  done
done
echo "load average at end: $(cut -d' ' -f1 /proc/loadavg)"
quiet_gate
/usr/bin/python3 - "$results" "$QUIET_OK" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
quiet = sys.argv[2] == "1"
groups = {}
for r in rows:
    groups.setdefault((r["engine"], r["r"]["concurrency"]), []).append(r["r"])
# Each figure: the median over the rounds.
by = {k: {"r": {f: statistics.median(g[f] for g in v) for f in v[0] if isinstance(v[0][f], (int, float))}}
      for k, v in groups.items()}
print(f"\n{max(len(v) for v in groups.values())} round(s) per level, servers alternating; medians")
print(f"\n{'streams':>7} | {'engine':12} | {'tok/s':>7} | {'TTFT p50/p99 ms':>16} | {'ITL p50/p99 ms':>15} | errors | xops/peer")
for c in (1, 4, 8, 16):
    for e in ("llama-server", "xops"):
        if (e, c) not in by: continue
        r = by[(e, c)]["r"]
        peer = by.get(("llama-server", c))
        ratio = f"{r['tokens_per_s'] / peer['r']['tokens_per_s']:.2f}" if e == "xops" and peer and peer["r"]["tokens_per_s"] else ""
        if ratio and not quiet: ratio = "withheld"
        print(f"{c:7} | {e:12} | {r['tokens_per_s']:7.1f} | {r['ttft_p50_ms']:7.0f} /{r['ttft_p99_ms']:7.0f} | "
              f"{r['itl_p50_ms']:6.1f} /{r['itl_p99_ms']:6.1f} | {r['errors']:6.0f} | {ratio}")
x1, x8 = by.get(("xops", 1)), by.get(("xops", 8))
if x1 and x8 and x1["r"]["tokens_per_s"] > 0:
    print(f"\nxops at 8 streams: {x8['r']['tokens_per_s'] / x1['r']['tokens_per_s']:.2f}x its single stream")
loads = [r["load"] for r in rows]
print(f"load average during runs: {min(loads):.2f}-{max(loads):.2f} (the servers' own threads included)")
PY
