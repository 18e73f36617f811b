#!/usr/bin/env python3
"""Writes the small seed inputs in fuzz/seeds/<target>/ (committed; re-run to regenerate).
bench/fuzz.sh adds the project's own templates and examples and ../shared's model configs."""
import json, os, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
shared = os.path.join(here, "..", "..", "shared", "golden", "tokenizer")


def put(target, name, data):
    d = os.path.join(here, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# A small byte-level BPE tokenizer: GPT-2's byte alphabet, its first 60 merges, dense ids.
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

alphabet = [bytes_to_unicode()[b] for b in range(256)]
vocab = {t: i for i, t in enumerate(alphabet)}
merges = []
with open(os.path.join(shared, "merges.txt"), encoding="utf-8") as f:
    for line in f:
        if line.startswith("#version") or not line.strip():
            continue
        a, b = line.rstrip("\n").split(" ")
        if a in vocab and b in vocab:
            merges.append(f"{a} {b}")
            vocab.setdefault(a + b, len(vocab))
        if len(merges) == 60:
            break
vocab["<|endoftext|>"] = len(vocab)
tok = {"version": "1.0", "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True}],
       "model": {"type": "BPE", "vocab": vocab, "merges": merges}}
put("tokenizer_json", "small.json", json.dumps(tok))
tok2 = dict(tok); tok2["model"] = dict(tok["model"], merges=[m.split(" ") for m in merges])
put("tokenizer_json", "pair-merges.json", json.dumps(tok2))
put("vocab_merges", "small", json.dumps(vocab).encode() + b"\0" + ("#version: 0.2\n" + "\n".join(merges) + "\n").encode())

put("model_config", "gpt2.json", json.dumps({"architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_layer": 2, "n_head": 4,
                                              "n_positions": 128, "vocab_size": 300, "eos_token_id": 299}))
put("model_config", "llama.json", json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
                                               "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
                                               "vocab_size": 300, "rope_theta": 10000.0, "bos_token_id": [1]}))

def safetensors(tensors, meta=None):
    header, blob = {}, b""
    if meta: header["__metadata__"] = meta
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob

put("safetensors", "two.safetensors", safetensors({"a": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                                                   "b": ("BF16", [3], b"\x80\x3f\x00\x40\x40\x40")}, {"format": "pt"}))
put("adapter_config", "peft.json", json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
                                                "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}))
put("pointer", "file.xops", "sha256: " + "ab" * 32 + "\nsize: 12\ntype: file\npath: \"data.bin\"\ndesc: \"x\"\n")
put("pointer", "dir.xops", "sha256: " + "cd" * 32 + "\nsize: 99\ntype: dir\nfiles: 3\npath: \"set\"\n")
put("manifest", "m.json", json.dumps({"version": 1, "files": [{"path": "a/b.txt", "sha256": "ef" * 32, "size": 3, "exec": False},
                                                              {"path": "c", "sha256": "01" * 32, "size": 0, "exec": True}]}))
put("filter", "f1", "metrics.loss < 0.5 and params.lr = '0.001'")
put("filter", "f2", "(tags.stage in ('dev', 'prod') or not attributes.status = 'failed') and name ilike 'run%'")
put("filter", "f3", "metrics.loss desc, start_time")
put("eval_cases", "cases.jsonl", '{"vars": {"a": "x", "b": 2}, "assert": [{"type": "contains", "value": "x"}]}\n'
                                 '{"description": "d", "vars": {"a": "y"}}\n')
put("eval_cases", "cases.csv", 'a,b,__expected\nx,"q,""u""",contains:x\ny,2,z\n')
put("eval_suite", "inline.yaml", "prompts: [\"{{a}}\", \"file://cases.jsonl\"]\nproviders:\n  - id: exec:cat\n    config: {timeout: 10}\n"
                                 "tests:\n  - vars: {a: 1}\n    assert: [{type: equals, value: \"1\"}, {type: regex, value: \"^1$\"}]\n"
                                 "  - file://cases.csv\nthresholds: {pass_rate: 0.5}\n")
put("finetune_config", "lora.yaml", "#set lora.r=4\nmodel: {path: models/base}\ndata: {train: data/train.jsonl, seq_len: 64}\n"
                                    "method: lora\nlora: {r: 8, alpha: 16}\nmax_steps: 10\noutput: tuned\n")
put("project_config", "xops.yaml", "name: p\nremotes:\n  shared: {url: /tmp/r, default: true}\ndefaults: {jobs: 2}\n")
put("nunjucks", "n1", "Hi {{ name | upper }}{% for i in items %}{{ loop.index }}:{{ i }}{% if not loop.last %}, {% endif %}{% endfor %}")
put("nunjucks", "n2", "{% if n > 2 and 'k' in obj %}{{ obj.k ~ (n * 2) | round }}{% elif name is defined %}x{% else %}{{ missing | default('d') }}{% endif %}{# c #}")
put("nunjucks", "n4", "{% set s = name %}{% for i in range(30) %}{% set s = s ~ s | replace('a', s) %}{{ s | length }}{% endfor %}{{ [items, [items, [items]]] | dump(2) | indent(8) }}{{ range(5, 1, -1) | join(s) }}")
put("http_request", "post", "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"prompt\":1}")
put("http_request", "chunked", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\n")
put("http_request", "pipelined", "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n")
put("nunjucks", "n3", "{%- set y = [1, {a: 'b'}] -%}{{ y[1].a | replace('b', 'c') }} {{ y | dump }} {{ 'x' if true else 'z' }}")
print("seeds written to", os.path.join(here, "seeds"))

# dvc.yaml (DVC's get-started shape with vars, ${} and foreach) and a dvc.lock, one file each.
put("pipeline_files", "dvc.yaml", """vars:
  - extra: {n: 2}
stages:
  prepare:
    cmd: python prepare.py ${lr}
    deps: [data.xml]
    params: [lr, train.epochs]
    outs: [prepared]
  gen:
    foreach: ${sizes}
    do:
      cmd: echo ${key} ${item} > out-${key}
      deps: [prepared/a]
      outs:
      - out-${key}:
          cache: false
  train:
    wdir: .
    cmd: [a, "b ${list[1]}"]
    deps: [out-a, out-b]
    outs: [model]
    metrics: [{m.json: {cache: false}}]
metrics: [m.json]
""")
put("pipeline_files", "dvc.lock", """schema: '2.0'
stages:
  prepare:
    cmd: python prepare.py 0.1
    deps:
    - path: data.xml
      hash: sha256
      sha256: 93d4e5c77838e0aa5cb6647c385c810a7c2782bf769029e6c420052048ab22bb
      size: 292
    params:
      params.yaml:
        lr: 0.1
    outs:
    - path: prepared
      hash: sha256
      sha256: 7bc49b6d0373ea9e9db452e03673a75bca1198dc0333f3468783036bbe7f613f.dir
      size: 296
      nfiles: 3
""")


# GGUF: a 1-layer Llama with the byte vocabulary above (no merges), F32, F16 and Q8_0 tensors.
def gguf(kv, tensors):
    def string(x):
        x = x.encode() if isinstance(x, str) else x
        return struct.pack("<Q", len(x)) + x
    def value(t, v):
        if t == 8: return string(v)
        if t == 9:
            et, items = v
            return struct.pack("<IQ", et, len(items)) + b"".join(value(et, i) for i in items)
        return struct.pack({4: "<I", 5: "<i", 6: "<f", 7: "<B"}[t], v)
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        out += string(k) + struct.pack("<I", t) + value(t, v)
    off, blobs = 0, []
    for name, gtype, shape, blob in tensors:
        out += string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in reversed(shape))
        out += struct.pack("<IQ", gtype, off)
        blobs.append(blob + b"\0" * (-len(blob) % 32)); off += len(blobs[-1])
    out += b"\0" * (-len(out) % 32)
    return out + b"".join(blobs)

def f32(n, scale=0.02): return struct.pack(f"<{n}f", *[scale * ((i * 7919) % 13 - 6) for i in range(n)])
def f16(n): return struct.pack(f"<{n}e", *[0.01 * ((i * 31) % 7 - 3) for i in range(n)])
def q8(rows, cols): return b"".join(struct.pack("<e", 0.01) + bytes((i * 13) % 256 for i in range(32)) for _ in range(rows * cols // 32))

V, D, F = 257, 32, 64
tokens = alphabet + ["<|endoftext|>"]
kv = [("general.architecture", 8, "llama"), ("general.type", 8, "model"), ("llama.block_count", 4, 1),
      ("llama.context_length", 4, 64), ("llama.embedding_length", 4, D), ("llama.feed_forward_length", 4, F),
      ("llama.attention.head_count", 4, 4), ("llama.attention.head_count_kv", 4, 2),
      ("llama.rope.freq_base", 6, 10000.0), ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5),
      ("tokenizer.ggml.model", 8, "gpt2"), ("tokenizer.ggml.pre", 8, "gpt-2"),
      ("tokenizer.ggml.tokens", 9, (8, tokens)), ("tokenizer.ggml.token_type", 9, (5, [1] * 256 + [3])),
      ("tokenizer.ggml.merges", 9, (8, [])), ("tokenizer.ggml.eos_token_id", 4, 256), ("tokenizer.ggml.add_bos_token", 7, 0)]
ts = [("token_embd.weight", 8, [V, D], q8(V, D)), ("output_norm.weight", 0, [D], f32(D, 1)),
      ("blk.0.attn_norm.weight", 0, [D], f32(D, 1)), ("blk.0.ffn_norm.weight", 0, [D], f32(D, 1)),
      ("blk.0.attn_q.weight", 8, [D, D], q8(D, D)), ("blk.0.attn_k.weight", 1, [16, D], f16(16 * D)),
      ("blk.0.attn_v.weight", 0, [16, D], f32(16 * D)), ("blk.0.attn_output.weight", 0, [D, D], f32(D * D)),
      ("blk.0.ffn_gate.weight", 8, [F, D], q8(F, D)), ("blk.0.ffn_up.weight", 0, [F, D], f32(F * D)),
      ("blk.0.ffn_down.weight", 1, [D, F], f16(D * F))]
put("gguf", "llama-1l.gguf", gguf(kv, ts))
put("gguf", "header-only.gguf", gguf(kv[:3] + [("general.alignment", 4, 64)], []))
