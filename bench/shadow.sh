#!/usr/bin/env bash
# What `xops serve --shadow` costs the users of the served version: the same server with and
# without a shadow, alternating (ROUNDS pairs) so drift in the machine's load hits both, at
# 8 concurrent streaming clients. Prints p50 request latency, TTFT and ITL of the served
# answers per round, the median ratio shadow/alone, and the load average with each figure
# (above 0.5 the numbers are noise).
#
#   bench/shadow.sh     SERVED, SHADOW (model dirs; default the golden tiny GPT-2 / Llama),
#                       ROUNDS (3), PER (requests per client, 8), MAX_TOKENS (32), THREADS (2),
#                       GAP (seconds of quiet before each run, 20: the load average is a
#                       1-minute mean, and the previous run's clients are in it)
source "$(dirname "$0")/common.sh"
SHARED="${SHARED:-$ROOT/../shared}"
SERVED="${SERVED:-$SHARED/golden/models/gpt2-tiny}"
SHADOW="${SHADOW:-$SHARED/golden/models/llama-tiny}"
ROUNDS="${ROUNDS:-3}" GAP="${GAP:-20}" PER="${PER:-8}" MAX_TOKENS="${MAX_TOKENS:-32}" THREADS="${THREADS:-2}"
WORK="$(mktemp -d -t xops-bench-shadow.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
machine
echo "served: $SERVED; shadow: $SHADOW; 8 clients x $PER requests, $MAX_TOKENS tokens, threads $THREADS"
# A project, so both arms are logged as they would be in production.
(cd "$WORK" && "$XOPS" -q init p --template minimal --no-hooks)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 600); do curl -sf "$1/health" >/dev/null && return 0; sleep 0.1; done; return 1; }
results="$WORK/results.jsonl"
one() {  # arm, then extra serve flags
  local arm=$1 port url pid
  shift
  sleep "$GAP"
  port=$(free_port)
  url="http://127.0.0.1:$port"
  (cd "$WORK/p" && exec "$XOPS" serve "$SERVED" --threads "$THREADS" --port "$port" "$@") >/dev/null 2>"$WORK/$arm.log" &
  pid=$!
  wait_ready "$url" || { echo "shadow.sh: serve did not start (see $WORK/$arm.log)" >&2; kill $pid; return 1; }
  /usr/bin/python3 "$ROOT/bench/serve_load.py" "$url" 2 1 8 >/dev/null  # warm-up
  local load r
  load=$(cut -d' ' -f1 /proc/loadavg)
  r=$(measured "$arm" --pids "$pid" /usr/bin/python3 "$ROOT/bench/serve_load.py" "$url" 8 "$PER" "$MAX_TOKENS")
  local shadows
  shadows=$(curl -sf "$url/metrics" | awk '/^xops_shadow_started_total/{print $2}')
  echo "{\"arm\":\"$arm\",\"load\":$load,\"shadows\":\"${shadows:-0}\",\"r\":$r}" >>"$results"
  kill -TERM $pid
  wait $pid || true
}
for i in $(seq 1 "$ROUNDS"); do
  one alone
  one shadow --shadow "$SHADOW"
done
quiet_gate
/usr/bin/python3 - "$results" "$QUIET_OK" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
quiet = sys.argv[2] == "1"
print(f"\n{'round':>5} | {'arm':6} | {'load':>4} | {'latency p50 ms':>14} | {'TTFT p50 ms':>11} | {'ITL p50 ms':>10} | {'tok/s':>6} | shadows")
for i, r in enumerate(rows):
    x = r["r"]
    print(f"{i // 2 + 1:>5} | {r['arm']:6} | {r['load']:>4.2f} | {x['latency_p50_ms']:>14.1f} | {x['ttft_p50_ms']:>11.1f} | "
          f"{x['itl_p50_ms']:>10.2f} | {x['tokens_per_s']:>6.0f} | {r['shadows']}")
ratios = [b["r"]["latency_p50_ms"] / a["r"]["latency_p50_ms"] for a, b in zip(rows[::2], rows[1::2])]
print(f"\nserved latency p50, shadow / alone: median "
      + (f"{statistics.median(ratios):.2f} (rounds: {', '.join(f'{x:.2f}' for x in ratios)})" if quiet else "withheld")
      + f"; load {min(r['load'] for r in rows):.2f}-{max(r['load'] for r in rows):.2f}")
PY
