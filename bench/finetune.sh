#!/usr/bin/env bash
# Training throughput of `xops finetune` against ../shared/peers/torch_gpt_train.py (PyTorch in
# Python) on the same model (GPT, 4 layers, d_model 128, 4 heads, ctx 128, byte vocabulary),
# data (austen.txt) and batch (16), same thread count; then peak RSS of LoRA against full
# fine-tuning of one larger model (12 x 768, ~85M parameters) where weights and optimizer
# state dominate memory.
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
"$XOPS" -q --json finetune small.yaml > /dev/null  # warm the tokenised-data cache
x=$("$XOPS" -q --json finetune small.yaml)
p=$(/usr/bin/python3 "$SHARED/peers/torch_gpt_train.py" --text "$SHARED/data/austen.txt" --layers 4 --d-model 128 \
    --heads 4 --ctx 128 --batch 16 --steps "$STEPS" --threads "$THREADS" --json)

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
machine "$W"
python3 - "$x" "$p" "$rss_full" "$rss_lora" <<'PY'
import json, sys
x, p, rf, rl = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"model: GPT 4 x 128, ctx 128, byte vocab; batch 16; {x['steps']} steps; fp32; {p['threads']} threads")
print(f"xops finetune:        {x['tokens_per_s']:10.0f} tokens/s (final loss {x['final_loss']:.3f}, {x['total_params']:,} params)")
print(f"peer ({p['peer']}): {p['train_tokens_per_s']:10.0f} tokens/s (final loss {p['final_loss']:.3f}, {p['params']:,} params)")
print(f"ratio xops / peer:    {x['tokens_per_s'] / p['train_tokens_per_s']:10.2f}x (goal >= 1.2)")
print(f"peak RSS, 12 x 768 model (~85M params), 3 steps: full {rf/1024:.0f} MiB, LoRA r=8 on c_attn {rl/1024:.0f} MiB, "
      f"ratio {rl/rf:.2f} (goal <= 0.5)")
PY
