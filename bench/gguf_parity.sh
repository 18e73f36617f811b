#!/usr/bin/env bash
# GGUF interop with llama.cpp, checked against llama.cpp itself (not a benchmark: a parity
# check that needs a llama.cpp build, see bench/README.md):
#   1. `xops export --type f32` of the golden fixtures is tensor-for-tensor identical to the
#      model.gguf that llama.cpp's convert_hf_to_gguf.py made of the same safetensors;
#   2. `xops export --type f16|bf16|q8_0` is identical to what llama-quantize makes of xops's
#      F32 export (GPT-2-small and a 12 x 768 Llama with random weights, and the fixtures);
#   3. llama.cpp (llama-simple, greedy) and `xops generate -t 0` produce the same tokens from
#      the F32 export and the HF directory (64 tokens on 3 prompts; a difference fails), and
#      how long they agree from the F16, BF16 and Q8_0 exports (reported);
#   4. GGUF -> `xops export --format hf` -> HF round trip is bit-exact (safetensors bytes).
#
#   LLAMA_BIN=/tmp/llama/src/build/bin bench/gguf_parity.sh
#
# Prints one line per check and a summary; exits non-zero on any difference.
source "$(dirname "$0")/common.sh"
SHARED="${SHARED:-$ROOT/../shared}"
LLAMA_BIN="${LLAMA_BIN:-/tmp/llama/src/build/bin}"
GGUF_PY="${GGUF_PY:-$LLAMA_BIN/../../gguf-py}"
WORK="${BENCH_DIR:-/tmp/xops-gguf-parity}"
NEW="${NEW:-64}"
BENCH="$ROOT/build/xops_bench_generate"
for t in llama-simple llama-quantize; do
  [ -x "$LLAMA_BIN/$t" ] || { echo "gguf_parity.sh: no $LLAMA_BIN/$t (build llama.cpp: bench/README.md)" >&2; exit 2; }
done
/usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "gguf_parity.sh: needs python3-numpy" >&2; exit 2; }
mkdir -p "$WORK"
machine
fail=0
ok() { echo "ok    $*"; }
bad() { echo "FAIL  $*"; fail=$((fail + 1)); }

# Tensor-by-tensor comparison of two GGUF files (names, types, shapes, bytes).
same_tensors() {
  GGUF_PY="$GGUF_PY" /usr/bin/python3 - "$1" "$2" <<'EOF'
import os, sys
sys.path.insert(0, os.environ["GGUF_PY"])
import gguf, numpy as np
a = {t.name: t for t in gguf.GGUFReader(sys.argv[1]).tensors}
b = {t.name: t for t in gguf.GGUFReader(sys.argv[2]).tensors}
diff = sorted(set(a) ^ set(b))
for n in sorted(set(a) & set(b)):
    x, y = a[n], b[n]
    if x.tensor_type != y.tensor_type or list(x.shape) != list(y.shape) or \
       not np.array_equal(np.asarray(x.data).view(np.uint8), np.asarray(y.data).view(np.uint8)):
        diff.append(n)
print(f"{len(a)} tensors, {len(diff)} differ" + (f": {diff[:5]}" if diff else ""))
sys.exit(1 if diff else 0)
EOF
}

PROMPTS=("The quick brown fox jumps over the lazy dog." "Once upon a time, in a land far away," "def fibonacci(n):")
# llama-simple keeps its KV cache in F16 and uses flash attention; the golden data and xops
# use an F32 cache without it. A llama-simple built so (bench/README.md: three lines)
# compares like with like when present.
SIMPLE="$LLAMA_BIN/llama-simple"
[ -x "$LLAMA_BIN/llama-simple-f32kv" ] && SIMPLE="$LLAMA_BIN/llama-simple-f32kv"
echo "llama.cpp greedy runner: $(basename "$SIMPLE")"
# Greedy continuations of xops and llama.cpp on one model file; $3: the model xops reads
# (default the same file); $4 = strict: any difference fails (F32); otherwise the length of
# the common prefix is reported (random weights leave top-2 logits 1e-4 apart, where 16-bit
# and 8-bit arithmetic of two engines may pick differently).
same_greedy() {
  local gguf="$1" label="$2" ours="${3:-$1}" strict="${4:-}" n=0 agree=0 report=""
  for p in "${PROMPTS[@]}"; do
    n=$((n + 1))
    theirs=$("$SIMPLE" -m "$gguf" -n "$NEW" "$p" 2>/dev/null)
    theirs="${theirs#"$p"}"
    mine=$("$XOPS" generate "$ours" "$p" -n "$NEW" -t 0 2>/dev/null)
    if [ "$theirs" = "$mine" ]; then agree=$((agree + 1)); report+=" same"; else
      local k=0
      while [ "$k" -lt "${#mine}" ] && [ "${mine:$k:1}" = "${theirs:$k:1}" ]; do k=$((k + 1)); done
      report+=" ${k}/${#theirs}chars"
    fi
  done
  if [ "$agree" = "$n" ]; then ok "$label: same $NEW greedy tokens on $n prompts"
  elif [ -n "$strict" ]; then bad "$label: $agree of $n prompts agree (common prefix:$report)"
  else echo "note  $label: $agree of $n prompts identical; common prefix per prompt:$report"; fi
}

for m in gpt2-tiny llama-tiny; do
  "$XOPS" export "$SHARED/golden/models/$m" -o "$WORK/$m-f32.gguf" --no-modelfile >/dev/null 2>&1
  if out=$(same_tensors "$WORK/$m-f32.gguf" "$SHARED/golden/models/$m/model.gguf"); then
    ok "$m F32 export = convert_hf_to_gguf.py's model.gguf ($out)"
  else bad "$m F32 export vs convert_hf_to_gguf.py: $out"; fi
done

for m in gpt2 llama gpt2-tiny llama-tiny; do
  case $m in
    *-tiny) src="$SHARED/golden/models/$m" ;;
    *) src="$WORK/$m"; [ -f "$src/model.safetensors" ] || "$BENCH" make "$src" "$m" "$SHARED/golden/tokenizer" 12 >/dev/null ;;
  esac
  for t in f32 f16 bf16 q8_0; do
    "$XOPS" export "$src" -o "$WORK/$m-$t.gguf" --type "$t" --no-modelfile >/dev/null 2>&1
  done
  for t in f16:F16 bf16:BF16 q8_0:Q8_0; do
    "$LLAMA_BIN/llama-quantize" "$WORK/$m-f32.gguf" "$WORK/$m-llama-${t%%:*}.gguf" "${t##*:}" >/dev/null 2>&1
    if out=$(same_tensors "$WORK/$m-${t%%:*}.gguf" "$WORK/$m-llama-${t%%:*}.gguf"); then
      ok "$m ${t%%:*} export = llama-quantize ${t##*:} ($out)"
    else bad "$m ${t%%:*} export vs llama-quantize: $out"; fi
  done
  same_greedy "$WORK/$m-f32.gguf" "$m F32 (xops on the HF directory)" "$src" strict
  same_greedy "$WORK/$m-f32.gguf" "$m f32" "" strict
  for t in f16 bf16 q8_0; do same_greedy "$WORK/$m-$t.gguf" "$m $t"; done
  # Round trip: GGUF F32 -> HF -> the same safetensors bytes as the source.
  rm -rf "$WORK/$m-back"
  "$XOPS" export "$WORK/$m-f32.gguf" --format hf -o "$WORK/$m-back" >/dev/null 2>&1
  if GGUF_PY="$GGUF_PY" /usr/bin/python3 - "$src/model.safetensors" "$WORK/$m-back/model.safetensors" <<'EOF'
import json, struct, sys
def load(p):
    with open(p, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
        data = f.read()
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in h.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
a = {k.removeprefix("transformer."): v for k, v in a.items()}
b = {k.removeprefix("transformer."): v for k, v in b.items()}
sys.exit(0 if a == b else 1)
EOF
  then ok "$m HF -> GGUF F32 -> HF: every tensor bit-exact"; else bad "$m round trip differs"; fi
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$fail" = 0 ] && echo "gguf parity: all checks passed" || { echo "gguf parity: $fail checks failed"; exit 1; }
