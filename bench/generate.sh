#!/usr/bin/env bash
# Prefill and decode of xops beside llama.cpp on the same weights, alternating runs in one
# invocation. Models: a random GPT-2-small-shaped one (12 x 768, vocab 50257) and a
# Llama-shaped one (12 x 768, GQA 12/4, SwiGLU 2048), made in HF layout by
# xops_bench_generate and written as GGUF (F32, F16, Q8_0) by `xops export` (identical to
# llama.cpp's converter and llama-quantize: bench/gguf_parity.sh).
#
#   LLAMA_BENCH=/path/to/llama-bench bench/generate.sh      (recipe: bench/README.md)
#
# Without LLAMA_BENCH only xops's figures print. THREADS (2), ROUNDS (2), NEW (128),
# MODELS ("gpt2 llama"), DTYPES ("fp32 bf16 q8_0"; q8_0: both engines read the same Q8_0
# GGUF, xops keeping it 8-bit), COMPETITOR=1 adds COMPETITOR_ROUNDS (2) fp32 rounds with one
# CPU-bound process running beside both engines (its rows are exempt from the quiet check). Every
# measured run records the CPU other processes used meanwhile (bench/common.sh); ratios are
# withheld when that passed 0.5 core, unless --noisy.
source "$(dirname "$0")/common.sh"
SHARED="${SHARED:-$ROOT/../shared}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-2}"
NEW="${NEW:-128}"
PROMPT=128
SLOTS=8
MODELS="${MODELS:-gpt2 llama}"
DTYPES="${DTYPES:-fp32 bf16 q8_0}"
WORK="${BENCH_DIR:-/tmp/xops-bench-generate}"
BENCH="$ROOT/build/xops_bench_generate"
LLAMA_BENCH="${LLAMA_BENCH:-}"
[ -x "$BENCH" ] || "$ROOT/scripts/setup.sh"
mkdir -p "$WORK"

load() { cut -d' ' -f1 /proc/loadavg; }
machine
echo "threads: $THREADS, prompt $PROMPT tokens, $NEW new tokens, $SLOTS slots for batched decode, $ROUNDS rounds"
echo "load average at start: $(load)"

for m in $MODELS gpt2-1l; do
  arch=${m%-1l}; layers=12; [ "$m" = gpt2-1l ] && layers=1
  [ -f "$WORK/$m/model.safetensors" ] || "$BENCH" make "$WORK/$m" "$arch" "$SHARED/golden/tokenizer" "$layers" >/dev/null
done
for m in $MODELS; do
  for f in f32 f16 q8_0; do
    [ -f "$WORK/$m-$f.gguf" ] || "$XOPS" export "$WORK/$m" -o "$WORK/$m-$f.gguf" --type "$f" --no-modelfile >/dev/null
  done
done

# The ceilings: read bandwidth (decode) and fp32 FMA peak (prefill) on THREADS threads.
BW="$ROOT/build/xops_bench_bandwidth"
[ -x "$BW" ] || cmake --build "$ROOT/build" --target xops_bench_bandwidth >/dev/null
measured bandwidth "$BW" 512 "$THREADS" >"$WORK/bandwidth.json"
results="$WORK/results.jsonl"
: >"$results"
ours() {  # model dtype round competitor
  local j
  local model="$WORK/$1" dtype="$2"
  [ "$2" = q8_0 ] && model="$WORK/$1-q8_0.gguf" dtype=fp32  # the GGUF's Q8_0 matrices stay 8-bit
  if [ "$4" = 1 ]; then
    j=$("$BENCH" run "$model" "$THREADS" "$dtype" "$PROMPT" "$NEW" "$SLOTS")
  else
    j=$(measured "xops $1 $2" "$BENCH" run "$model" "$THREADS" "$dtype" "$PROMPT" "$NEW" "$SLOTS")
  fi
  echo "{\"engine\":\"xops\",\"model\":\"$1\",\"dtype\":\"$2\",\"round\":$3,\"competitor\":$4,\"load\":$(load),\"r\":$j}" >>"$results"
}
peer() {  # model dtype round competitor
  local f=f32 pp tg
  [ "$2" = bf16 ] && f=f16
  [ "$2" = q8_0 ] && f=q8_0
  # Prefill of the 128-token prompt; then 128 tokens decoded after it (depth 128), as ours.
  local m=()
  [ "$4" = 1 ] || m=(measured "llama.cpp $1 $2")
  pp=$("${m[@]}" "$LLAMA_BENCH" -m "$WORK/$1-$f.gguf" -t "$THREADS" -p "$PROMPT" -n 0 -r 2 -o json 2>/dev/null | tr -d '\n')
  tg=$("${m[@]}" "$LLAMA_BENCH" -m "$WORK/$1-$f.gguf" -t "$THREADS" -p 0 -n "$NEW" -d "$PROMPT" -r 2 -o json 2>/dev/null | tr -d '\n')
  echo "{\"engine\":\"llama.cpp\",\"model\":\"$1\",\"dtype\":\"$2\",\"round\":$3,\"competitor\":$4,\"load\":$(load),\"pp\":$pp,\"tg\":$tg}" >>"$results"
}
round() {  # round competitor
  for m in $MODELS; do
    for d in $DTYPES; do
      [ -n "$LLAMA_BENCH" ] && peer "$m" "$d" "$1" "$2"
      ours "$m" "$d" "$1" "$2"
    done
  done
}
for r in $(seq 1 "$ROUNDS"); do round "$r" 0; done
if [ "${COMPETITOR:-0}" = 1 ]; then
  /usr/bin/python3 -c 'while True: pass' &
  spin=$!
  trap 'kill $spin 2>/dev/null || true' EXIT
  for r in $(seq 1 "${COMPETITOR_ROUNDS:-2}"); do NEW=64 DTYPES=fp32 round "$r" 1; done
  kill $spin
fi
# The per-step overhead outside the projections, on a 1-layer model.
"$BENCH" run "$WORK/gpt2-1l" "$THREADS" fp32 "$PROMPT" "$NEW" 1 >"$WORK/one-layer.json"
echo "load average at end: $(load)"
quiet_gate
/usr/bin/python3 "$ROOT/bench/generate_report.py" "$results" "$WORK/one-layer.json" "$QUIET_OK" "$WORK"
