#!/usr/bin/env bash
# Training throughput of `xops finetune` against ../shared/peers/torch_gpt_train.py (PyTorch in
# Python) on the same model (GPT, 4 layers, d_model 128, 4 heads, ctx 128, byte vocabulary),
# data (austen.txt) and batch (16), same thread count, in fp32 and in bf16 autocast (master
# weights fp32; the bf16 loss curve's largest deviation from fp32's is printed); then peak RSS of LoRA against full
# fine-tuning of one larger model (12 x 768, ~85M parameters) where weights and optimizer
# state dominate memory. Then data parallelism: the small model on 1 process x 1 thread
# against 2 processes x 1 thread (`--nproc-per-node 2`, Gloo over loopback), and against
# 1 process x 2 threads (what the same 2 cores give without processes). Ratios are withheld
# when another process used more than 0.5 core during a timed run (bench/common.sh), unless
# --noisy.
source "$(dirname "$0")/common.sh"
SHARED="${SHARED:-$ROOT/../shared}"
THREADS="${THREADS:-2}"; STEPS="${STEPS:-100}"
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
/usr/bin/python3 -c 'import torch' 2>/dev/null || "$ROOT/scripts/setup.sh" --bench
W="$(mktemp -d "${TMPDIR:-/tmp}/xops-bench.XXXXXX")"; trap 'rm -rf "$W"' EXIT
cd "$W" && "$XOPS" -q init p --template minimal --no-hooks >/dev/null && cd p
cp "$SHARED/data/austen.txt" data/
cat > small.yaml <<YAML
model: {init: {arch: gpt2, layers: 4, d_model: 128, heads: 4, ctx: 128, vocab: byte}}
data: {train: data/austen.txt, seq_len: 128}
method: full
optimizer: {lr: 3.0e-4, weight_decay: 0.01}
schedule: {type: constant}
batch_size: 16
max_steps: $STEPS
grad_clip: 0
threads: $THREADS
device: cpu
output: small
YAML
sed -e 's|^device: cpu|device: cpu\ndtype: bf16|' -e 's|output: small|output: small-bf16|' small.yaml > bf16.yaml
"$XOPS" -q --json finetune small.yaml > /dev/null  # warm the tokenised-data cache
load_before=$(load1)
# Alternating rounds (this VM's speed drifts by +-20% over minutes); medians are reported.
PEER=(/usr/bin/python3 "$SHARED/peers/torch_gpt_train.py" --text "$SHARED/data/austen.txt" --layers 4
      --d-model 128 --heads 4 --ctx 128 --batch 16 --steps "$STEPS" --threads "$THREADS" --json)
: >"$W/fp32.x"; : >"$W/fp32.p"; : >"$W/bf16.x"; : >"$W/bf16.p"
for _ in $(seq "${ROUNDS:-3}"); do
  measured "xops fp32" "$XOPS" -q --json finetune small.yaml >>"$W/fp32.x"
  measured "pytorch fp32" "${PEER[@]}" >>"$W/fp32.p"
  measured "xops bf16" "$XOPS" -q --json finetune bf16.yaml >>"$W/bf16.x"
  measured "pytorch bf16" "${PEER[@]}" --bf16 >>"$W/bf16.p"
done

cat > big.yaml <<YAML
model: {init: {arch: gpt2, layers: 12, d_model: 768, heads: 12, ctx: 64, vocab: byte}}
data: {train: data/austen.txt, seq_len: 64}
batch_size: 2
max_steps: 1
threads: $THREADS
device: cpu
output: big
YAML
"$XOPS" -q finetune big.yaml > /dev/null
sed -e 's|^model:.*|model: models/big|' -e 's|output: big|output: big-full|' -e 's|max_steps: 1|max_steps: 3|' big.yaml > full.yaml
sed -e 's|output: big-full|output: big-lora|' full.yaml > lora.yaml
echo "method: lora" >> lora.yaml; echo "lora: {r: 8, alpha: 16, target_modules: [c_attn]}" >> lora.yaml
rss_full=$( { /usr/bin/time -f '%M' "$XOPS" -q finetune full.yaml > /dev/null; } 2>&1 | tail -1)
rss_lora=$( { /usr/bin/time -f '%M' "$XOPS" -q finetune lora.yaml > /dev/null; } 2>&1 | tail -1)
sed -e 's|^threads:.*|threads: 1|' -e 's|output: small|output: dp1|' small.yaml > dp.yaml
dp_load=$(load1)
d1=$(measured "xops 1 process 1 thread" "$XOPS" -q --json finetune dp.yaml)
d2=$(measured "xops 2 processes" "$XOPS" -q --json finetune dp.yaml --set output=dp2 --nproc-per-node 2)
load_after=$(load1)
machine "$W"
echo "load average (1 min): $load_before before, $dp_load before the data-parallel runs, $load_after after"
quiet_gate
python3 - "$W" "$rss_full" "$rss_lora" "$d1" "$d2" "$QUIET_OK" <<'PY'
import json, statistics, sys
w, quiet = sys.argv[1], sys.argv[6] == "1"
def r(v, fmt): return format(v, fmt) if quiet else "withheld"
def runs(name): return [json.loads(l) for l in open(f"{w}/{name}") if l.strip()]
xs, ps, xb, pb = runs("fp32.x"), runs("fp32.p"), runs("bf16.x"), runs("bf16.p")
rf, rl = int(sys.argv[2]), int(sys.argv[3])
d1, d2 = json.loads(sys.argv[4]), json.loads(sys.argv[5])
med = lambda rows, k: statistics.median(x[k] for x in rows)
x32, p32, x16, p16 = med(xs, "tokens_per_s"), med(ps, "train_tokens_per_s"), med(xb, "tokens_per_s"), med(pb, "train_tokens_per_s")
span = lambda rows, k: f"{min(x[k] for x in rows):.0f}-{max(x[k] for x in rows):.0f}"
print(f"model: GPT 4 x 128, ctx 128, byte vocab; batch 16; {xs[0]['steps']} steps; {ps[0]['threads']} threads; "
      f"medians of {len(xs)} alternating rounds (range in brackets)")
print(f"xops fp32:            {x32:10.0f} tokens/s [{span(xs, 'tokens_per_s')}] (final loss {xs[0]['final_loss']:.3f}, {xs[0]['total_params']:,} params)")
print(f"peer fp32 ({ps[0]['peer']}): {p32:10.0f} tokens/s [{span(ps, 'train_tokens_per_s')}] (final loss {ps[0]['final_loss']:.3f}, {ps[0]['params']:,} params)")
print(f"xops bf16 autocast:   {x16:10.0f} tokens/s [{span(xb, 'tokens_per_s')}] (final loss {xb[0]['final_loss']:.3f})")
print(f"peer bf16 autocast:   {p16:10.0f} tokens/s [{span(pb, 'train_tokens_per_s')}] (final loss {pb[0]['final_loss']:.3f})")
dev = max(abs(a - b) / b for a, b in zip(xb[0]["losses"], xs[0]["losses"]))
print(f"bf16 loss curve: largest per-step deviation from fp32's {dev * 100:.2f}% (tolerance 2%, as tests/engine/train_test.cpp holds)")
print(f"ratio xops fp32 / peer fp32: {r(x32 / p32, '.2f')}x")
print(f"ratio xops bf16 / peer fp32: {r(x16 / p32, '.2f')}x (goal >= 1.5)")
print(f"ratio xops bf16 / peer bf16: {r(x16 / p16, '.2f')}x")
print(f"peak RSS, 12 x 768 model (~85M params), 3 steps: full {rf/1024:.0f} MiB, LoRA r=8 on c_attn {rl/1024:.0f} MiB, "
      f"ratio {rl/rf:.2f} (goal <= 0.5)")
diff = max(abs(a - b) for a, b in zip(d1["losses"], d2["losses"]))
print(f"data parallel, same model and global batch 16, {d2['steps']} steps:")
print(f"  1 process  x 1 thread:  {d1['tokens_per_s']:10.0f} tokens/s")
print(f"  2 processes x 1 thread: {d2['tokens_per_s']:10.0f} tokens/s (--nproc-per-node 2; world size {d2['world_size']}), "
      f"scaling efficiency {r(d2['tokens_per_s'] / (2 * d1['tokens_per_s']), '.2f')}; largest per-step loss difference {diff:.1e}")
print(f"  1 process  x 2 threads: {x32:10.0f} tokens/s; processes / threads {r(d2['tokens_per_s'] / x32, '.2f')}x")
PY
