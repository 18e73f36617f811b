#!/usr/bin/python3
"""The table bench/generate.sh prints: RESULTS.jsonl ONE_LAYER.json."""
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
one = json.load(open(sys.argv[2]))
def med(v): return st.median(v) if v else float("nan")
print(f"\n{'model':8} {'dtype':5} {'comp':4} | {'llama.cpp pp / tg':>19} | {'xops prefill / decode':>22} | {'ratio pp / tg':>13} | {'8 slots':>8} {'x1 slot':>7} {'outside':>7}")
keys = sorted({(r["model"], r["dtype"], r["competitor"]) for r in rows}, key=lambda k: (k[2], k[0], k[1]))
gpt2_step = None
for k in keys:
    peer = [r for r in rows if (r["model"], r["dtype"], r["competitor"]) == k and r["engine"] == "llama.cpp"]
    ours = [r["r"] for r in rows if (r["model"], r["dtype"], r["competitor"]) == k and r["engine"] == "xops"]
    pp = med([r["pp"][0]["avg_ts"] for r in peer]); tg = med([r["tg"][0]["avg_ts"] for r in peer])
    op = med([o["prefill_tokens_per_s"] for o in ours]); od = med([o["decode"]["tokens_per_s"] for o in ours])
    ob = med([o["batch_decode"]["tokens_per_s"] for o in ours])
    out = med([o["decode"]["outside_projections"] for o in ours])
    if k[0] == "gpt2" and k[1] == "fp32" and not k[2]:
        gpt2_step = med([o["decode"]["ms_per_step"] for o in ours])
    print(f"{k[0]:8} {k[1]:5} {'yes' if k[2] else 'no':4} | {pp:8.0f} / {tg:8.1f} | {op:9.0f} / {od:10.1f} | "
          f"{op/pp:5.2f} / {od/tg:5.2f} | {ob:8.1f} {ob/od:6.2f}x {out:6.1%}")
d = one["decode"]
overhead_ms = d["ms_per_step"] * d["outside_projections"]
print(f"\n1-layer GPT-2: {d['ms_per_step']:.2f} ms per decode step, {overhead_ms:.2f} ms outside the projections"
      + (f" = {overhead_ms / gpt2_step:.1%} of a 12-layer GPT-2-small step ({gpt2_step:.1f} ms)" if gpt2_step else ""))
loads = [r["load"] for r in rows]
print(f"load average during runs: {min(loads):.2f}-{max(loads):.2f}"
      + ("  (above 1: another process shared the cores; treat the figures as noisy)" if max(loads) > 1 else ""))
