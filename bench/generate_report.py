#!/usr/bin/python3
"""The table bench/generate.sh prints: RESULTS.jsonl ONE_LAYER.json [QUIET [WORK]]. QUIET 0: the
quiet check failed, so the ratio column is withheld (rows run beside the deliberate competitor
keep theirs: that is what they measure). WORK holds the models and bandwidth.json: each decode
figure is then also given as the fraction of the measured read bandwidth its weight traffic
takes (every weight read once per token), and each prefill as the fraction of the measured
fp32 FMA peak its matrix FLOPs take (2 per weight per token)."""
import json, os, struct, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
quiet = len(sys.argv) < 4 or sys.argv[3] == "1"
work = sys.argv[4] if len(sys.argv) > 4 else None
bw = json.load(open(os.path.join(work, "bandwidth.json"))) if work and os.path.exists(os.path.join(work, "bandwidth.json")) else None

def weights(model):
    """(bytes per decode step by dtype, matrix weights per token) from the HF safetensors header:
    every tensor but position embeddings and (untied) input embeddings, which are gathered."""
    with open(os.path.join(work, model, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    tied = "lm_head.weight" not in hdr
    out = {"fp32": 0, "bf16": 0, "q8_0": 0}; mat = 0
    for name, t in hdr.items():
        if name == "__metadata__" or "wpe" in name or (not tied and "embed_tokens" in name):
            continue
        k = 1
        for d in t["shape"]: k *= d
        two_d = len(t["shape"]) == 2
        out["fp32"] += 4 * k
        out["bf16"] += (2 if two_d else 4) * k
        out["q8_0"] += (k * 34 // 32 if two_d and t["shape"][-1] % 32 == 0 else (2 if two_d else 4) * k)
        # Prefill's matrix work: the layers' projections (the head runs on the last token only).
        if two_d and ("layers." in name or name.startswith("h.") or ".h." in name): mat += k
    return out, mat
one = json.load(open(sys.argv[2]))
def med(v): return st.median(v) if v else float("nan")
print(f"\n{'model':8} {'dtype':5} {'comp':4} | {'llama.cpp pp / tg':>19} | {'xops prefill / decode':>22} | {'ratio pp / tg':>13} | {'8 slots':>8} {'x1 slot':>7} {'outside':>7}"
      + (" | decode % of read BW (xops / llama.cpp) | prefill % of fp32 peak" if bw else ""))
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
    ratio = f"{op/pp:5.2f} / {od/tg:5.2f}" if quiet or k[2] else "withheld     "
    extra = ""
    if bw:
        read = bw[f"read_gbs_{bw['threads']}"] * 1e9; peak = bw[f"fp32_gflops_{bw['threads']}"] * 1e9
        by, mat = weights(k[0])
        b = by[k[1]]
        # The fp32 FMA peak bounds fp32 prefill only (bf16 runs on AVX512_BF16 dot products,
        # Q8_0 on integer ones).
        flops = (f"{op * 2 * mat / peak:6.1%} / {pp * 2 * mat / peak:6.1%}" if k[1] == "fp32" else "     -")
        extra = f" | {od * b / read:6.1%} / {tg * b / read:6.1%} ({b / 1e6:.0f} MB a token) | {flops}"
    print(f"{k[0]:8} {k[1]:5} {'yes' if k[2] else 'no':4} | {pp:8.0f} / {tg:8.1f} | {op:9.0f} / {od:10.1f} | "
          f"{ratio} | {ob:8.1f} {ob/od:6.2f}x {out:6.1%}{extra}")
d = one["decode"]
overhead_ms = d["ms_per_step"] * d["outside_projections"]
print(f"\n1-layer GPT-2: {d['ms_per_step']:.2f} ms per decode step, {overhead_ms:.2f} ms outside the projections"
      + (f" = {overhead_ms / gpt2_step:.1%} of a 12-layer GPT-2-small step ({gpt2_step:.1f} ms)" if gpt2_step else ""))
if bw:
    t = bw["threads"]
    print(f"\nceilings on {t} threads: read {bw[f'read_gbs_{t}']:.1f} GB/s (1 thread {bw['read_gbs_1']:.1f}), triad "
          f"{bw[f'triad_gbs_{t}']:.1f} GB/s, fp32 FMA peak {bw[f'fp32_gflops_{t}']:.0f} GFLOP/s (1 thread {bw['fp32_gflops_1']:.0f})")
loads = [r["load"] for r in rows]
print(f"load average during runs: {min(loads):.2f}-{max(loads):.2f}"
      + ("  (above 1: another process shared the cores; treat the figures as noisy)" if max(loads) > 1 else ""))
