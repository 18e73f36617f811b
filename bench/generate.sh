#!/usr/bin/env bash
# Decode/prefill throughput of xops beside PyTorch (Python) on the same small GPT
# (../shared/peers/torch_gpt_train.py: 4 layers, d_model 128, 4 heads, ctx 128, byte vocab),
# and GPT-2 tokenizer encode speed on austen.txt.
source "$(dirname "$0")/common.sh"
SHARED="${SHARED:-$ROOT/../shared}"
THREADS="${THREADS:-2}"
BENCH="$ROOT/build/xops_bench_generate"
[ -x "$BENCH" ] || "$ROOT/scripts/setup.sh"
/usr/bin/python3 -c 'import torch' 2>/dev/null || "$ROOT/scripts/setup.sh" --bench
x=$("$BENCH" "$SHARED/data/austen.txt" "$SHARED/golden/tokenizer" 4 128 4 128 "$THREADS")
p=$(/usr/bin/python3 "$SHARED/peers/torch_gpt_train.py" --text "$SHARED/data/austen.txt" --layers 4 \
    --d-model 128 --heads 4 --ctx 128 --batch 16 --steps 3 --warmup 1 --threads "$THREADS" --json)
machine
python3 - "$x" "$p" <<'PY'
import json, sys
x, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"model: {x['model']['layers']} layers, d_model {x['model']['d_model']}, ctx {x['model']['ctx']}, "
      f"{x['model']['params']:,} params, {x['model']['threads']} threads, fp32")
print(f"xops prefill (127 tokens, batch 1):      {x['prefill']['tokens_per_s']:10.0f} tokens/s")
print(f"xops decode  (KV cache, batch 1):        {x['decode_batch1']['tokens_per_s']:10.0f} tokens/s")
print(f"xops decode  (KV cache, batch 8):        {x['decode_batch8']['tokens_per_s']:10.0f} tokens/s")
print(f"peer greedy loop ({p['peer']}, no cache): {p['generate_tokens_per_s']:10.0f} tokens/s")
print(f"ratio decode batch 1, xops / peer:       {x['decode_batch1']['tokens_per_s'] / p['generate_tokens_per_s']:10.2f}x")
t = x['tokenizer']
print(f"tokenizer encode (GPT-2 BPE, austen.txt {t['bytes']/1e6:.1f} MB -> {t['tokens']:,} tokens): {t['mb_per_s']:.1f} MB/s")
PY
