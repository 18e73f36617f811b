#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU and a CUDA PyTorch (the device machine):
#  1. builds xops against the CUDA LibTorch inside that PyTorch (Torch_DIR from
#     torch.utils.cmake_prefix_path) in build-cuda/;
#  2. runs the golden parity tests on the GPU in fp32 (same tolerances as CPU: 3e-4 GPT-2,
#     1e-5 Llama) and the engine tests;
#  3. prints decode tokens/s on the GPU for the benchmark model.
# The device machine reaches no package registry: run scripts/fetch-debs.sh here first; its
# .debs/ folder (git-ignored, carried to the device) is unpacked into a prefix when the
# Debian -dev packages are not installed there.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PY="${PYTHON:-python3}"
$PY - <<'PY'
import torch, sys
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, available: {torch.cuda.is_available()}")
if not torch.cuda.is_available(): sys.exit("gpu-check: no CUDA device visible to PyTorch")
if not torch._C._GLIBCXX_USE_CXX11_ABI:
    sys.exit("gpu-check: this PyTorch was built with the pre-C++11 std::string ABI; xops (and Debian's "
             "libraries) use the C++11 ABI, so its LibTorch cannot be linked into xops")
PY
TORCH_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
PREFIX_PATH="$TORCH_PREFIX"
if [ -d .debs ] && ! pkg-config --exists libgit2 2>/dev/null; then
  mkdir -p .debs/root
  for d in .debs/*.deb; do dpkg -x "$d" .debs/root; done
  R="$PWD/.debs/root"
  export PKG_CONFIG_PATH="$R/usr/lib/x86_64-linux-gnu/pkgconfig:$R/usr/share/pkgconfig:${PKG_CONFIG_PATH:-}"
  export LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  export CPATH="$R/usr/include:${CPATH:-}"
  PREFIX_PATH="$PREFIX_PATH;$R/usr;$R/usr/lib/x86_64-linux-gnu/cmake;$R/usr/share/cmake"
fi
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
# nccl.h for distributed training on NCCL: pip's nvidia-nccl package, when this PyTorch has it.
NCCL_INC=$($PY -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "include"))' 2>/dev/null || true)
cmake -S . -B build-cuda "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$PREFIX_PATH" \
  -DCMAKE_CUDA_ARCHITECTURES=native "-DXOPS_NCCL_INCLUDE=$NCCL_INC" >/dev/null
cmake --build build-cuda -j "$(nproc)" --target xops engine_tests xops_bench_generate
SHARED="${SHARED:-$PWD/../shared}"
echo "== golden parity on CUDA (fp32)"
XOPS_TEST_DEVICE=cuda XOPS_SHARED_DIR="$SHARED" ./build-cuda/tests/engine_tests
echo "== xops --version -v"
./build-cuda/xops --version -v
echo "== decode throughput on CUDA (GPT-2 golden model, 64 tokens)"
for dt in fp32 bf16; do
  ./build-cuda/xops generate "$SHARED/golden/models/gpt2-tiny" "The quick brown fox" -n 64 --ignore-eos \
    --device cuda --dtype "$dt" --json | $PY -c "import json,sys; d=json.load(sys.stdin); print('$dt', 'decode tokens/s:', round(d['timing']['decode_tokens_per_second']))"
done
echo "== bf16 training on CUDA: a GPT-2-small-sized model (12 x 768, random init), full and LoRA"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
(cd "$W" && "$REPO/build-cuda/xops" -q init g --template minimal --no-hooks >/dev/null)
cp "$SHARED/data/austen.txt" "$W/g/data/"
cat > "$W/g/full.yaml" <<YAML
model: {init: {arch: gpt2, layers: 12, d_model: 768, heads: 12, ctx: 512, vocab: $SHARED/golden/tokenizer}}
data: {train: data/austen.txt, seq_len: 512}
batch_size: 16
max_steps: 30
dtype: bf16
device: cuda
output: gpt2-small
YAML
cd "$W/g"
for method in full lora; do
  extra=(); [ "$method" = lora ] && extra=(--set model=models/gpt2-small --set method=lora --set output=gpt2-small-lora)
  "$REPO/build-cuda/xops" --json finetune full.yaml "${extra[@]}" 2>/dev/null | $PY -c "
import json, sys
d = json.load(sys.stdin)
tps = d['tokens_per_s']; n = d['total_params']; t = d['trainable_params']
# Model FLOPs per token: 6N for full training (2N forward, 4N backward); LoRA skips weight grads: ~4N.
flops = (6 if '$method' == 'full' else 4) * n * tps
print(f'$method bf16: {tps:,.0f} tokens/s, {n:,} params ({t:,} trainable), ~{flops/1e12:.1f} TFLOP/s model FLOPs; '
      f'MFU {100*flops/989e12:.1f}% of an H100 SXM bf16 dense peak (989 TFLOP/s)')"
done
GPUS=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$GPUS" -ge 2 ]; then
  echo "== data-parallel bf16 training on NCCL: 2 processes, one GPU each, vs 1 process (same global batch)"
  for n in 1 2; do
    args=(--set output=dp-$n --set max_steps=20); [ "$n" = 2 ] && args+=(--nproc-per-node 2)
    "$REPO/build-cuda/xops" --json finetune full.yaml "${args[@]}" 2>/dev/null > "dp-$n.json"
  done
  $PY - <<'PY'
import json
a, b = json.load(open("dp-1.json")), json.load(open("dp-2.json"))
d = max(abs(x - y) for x, y in zip(a["losses"], b["losses"]))
print(f"1 GPU {a['tokens_per_s']:,.0f} tokens/s, 2 GPUs {b['tokens_per_s']:,.0f} tokens/s (world size {b['world_size']}), "
      f"scaling {b['tokens_per_s'] / (2 * a['tokens_per_s']):.2f}; largest per-step loss difference {d:.2e} (bf16)")
PY
else
  echo "== data-parallel NCCL run skipped: $GPUS GPU(s) visible, it needs 2"
fi
