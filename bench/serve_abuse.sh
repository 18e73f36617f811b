#!/usr/bin/env bash
# `xops serve` under 512 half-open (slowloris) connections: honest streaming clients' tokens/s
# with and without the crowd (the ratio), and /health's worst latency meanwhile.
#
#   bench/serve_abuse.sh        HALF_OPEN (512), HONEST (8), MAX_TOKENS (64), PER (3)
#
# Model: a GPT-2-small-shaped random model (as bench/serve.sh). Prints the load average;
# above 0.5 the ratio is noise.
source "$(dirname "$0")/common.sh"
SHARED="${SHARED:-$ROOT/../shared}"
WORK="${BENCH_DIR:-/tmp/xops-bench-generate}"
BENCH="$ROOT/build/xops_bench_generate"
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
mkdir -p "$WORK"
[ -f "$WORK/gpt2/model.safetensors" ] || "$BENCH" make "$WORK/gpt2" gpt2 "$SHARED/golden/tokenizer" >/dev/null
machine
echo "load average at start: $(cut -d' ' -f1 /proc/loadavg)"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$XOPS" serve "$WORK/gpt2" --port "$port" --max-batch 8 --threads "${THREADS:-2}" --no-log >"$WORK/abuse.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
measured "honest streams, alone then beside the crowd" --pids "$pid" /usr/bin/python3 "$ROOT/bench/serve_abuse.py" \
  "http://127.0.0.1:$port" "${HALF_OPEN:-512}" "${HONEST:-8}" "${MAX_TOKENS:-64}" "${PER:-3}" >"$WORK/abuse.out"
echo "load average at end: $(cut -d' ' -f1 /proc/loadavg)"
quiet_gate
if [ "$QUIET_OK" = 1 ]; then cat "$WORK/abuse.out"; else sed -E 's/\(ratio [0-9.]+;/(ratio withheld;/' "$WORK/abuse.out"; fi
