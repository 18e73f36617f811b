#!/usr/bin/python3
"""Converts an HF-layout GPT-2 or Llama model (config.json + model.safetensors, as
`xops_bench_generate make` writes them) to GGUF for llama.cpp, so both engines run the same
weights. llama.cpp's own convert_hf_to_gguf.py needs `transformers`, which Debian 12 lacks;
this uses only numpy and llama.cpp's gguf-py (GGUF_PY=/path/to/llama.cpp/gguf-py).

    hf_to_gguf.py MODEL_DIR OUT.gguf f32|f16 TEMPLATE.gguf

TEMPLATE.gguf supplies the tokenizer metadata (any GGUF with the GPT-2 vocabulary, e.g.
../shared/golden/models/gpt2-tiny/model.gguf). Tensor names and the q/k row permutation
follow convert_hf_to_gguf.py (GPT2Model, LlamaModel)."""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.environ.get("GGUF_PY", "/tmp/llama/src/gguf-py"))
import gguf  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
    data = np.memmap(path, dtype=np.uint8, mode="r")
    dtypes = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        arr = data[base + a:base + b].view(dtypes[t["dtype"]]).reshape(t["shape"])
        if t["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = np.asarray(arr, dtype=np.float32)
    return out


def permute(w, n_head, n_head_kv):
    # HF's rotate-half q/k rows to llama.cpp's interleaved RoPE (convert_hf_to_gguf.py).
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    model_dir, out_path, ftype, template = sys.argv[1:5]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    st = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    arch = cfg["model_type"]
    half = ftype == "f16"
    w = gguf.GGUFWriter(out_path, arch)
    w.add_name(os.path.basename(os.path.normpath(model_dir)))
    w.add_file_type(1 if half else 0)

    def put(name, arr):
        arr = np.ascontiguousarray(arr)
        if half and arr.ndim == 2:
            arr = arr.astype(np.float16)
        w.add_tensor(name, arr)

    if arch == "gpt2":
        n_embd = cfg["n_embd"]
        w.add_block_count(cfg["n_layer"])
        w.add_context_length(cfg["n_positions"])
        w.add_embedding_length(n_embd)
        w.add_feed_forward_length(cfg.get("n_inner") or 4 * n_embd)
        w.add_head_count(cfg["n_head"])
        w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
        p = "transformer." if "transformer.wte.weight" in st else ""
        put("token_embd.weight", st[p + "wte.weight"])
        put("position_embd.weight", st[p + "wpe.weight"])
        for i in range(cfg["n_layer"]):
            h = f"{p}h.{i}."
            b = f"blk.{i}."
            # GPT-2's Conv1D stores [in, out]: transpose to [out, in].
            for src, dst in [("ln_1", "attn_norm"), ("ln_2", "ffn_norm")]:
                put(b + dst + ".weight", st[h + src + ".weight"])
                put(b + dst + ".bias", st[h + src + ".bias"])
            for src, dst in [("attn.c_attn", "attn_qkv"), ("attn.c_proj", "attn_output"), ("mlp.c_fc", "ffn_up"),
                             ("mlp.c_proj", "ffn_down")]:
                put(b + dst + ".weight", st[h + src + ".weight"].T)
                put(b + dst + ".bias", st[h + src + ".bias"])
        put("output_norm.weight", st[p + "ln_f.weight"])
        put("output_norm.bias", st[p + "ln_f.bias"])
    elif arch == "llama":
        n_head, n_kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
        hd = cfg.get("head_dim") or cfg["hidden_size"] // n_head
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(cfg["hidden_size"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_head_count(n_head)
        w.add_head_count_kv(n_kv)
        w.add_rope_freq_base(cfg.get("rope_theta", 10000.0))
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        w.add_key_length(hd)
        w.add_value_length(hd)
        w.add_vocab_size(cfg["vocab_size"])
        w.add_rope_dimension_count(hd)
        put("token_embd.weight", st["model.embed_tokens.weight"])
        for i in range(cfg["num_hidden_layers"]):
            h = f"model.layers.{i}."
            b = f"blk.{i}."
            put(b + "attn_norm.weight", st[h + "input_layernorm.weight"])
            put(b + "ffn_norm.weight", st[h + "post_attention_layernorm.weight"])
            put(b + "attn_q.weight", permute(st[h + "self_attn.q_proj.weight"], n_head, n_head))
            put(b + "attn_k.weight", permute(st[h + "self_attn.k_proj.weight"], n_head, n_kv))
            put(b + "attn_v.weight", st[h + "self_attn.v_proj.weight"])
            put(b + "attn_output.weight", st[h + "self_attn.o_proj.weight"])
            put(b + "ffn_gate.weight", st[h + "mlp.gate_proj.weight"])
            put(b + "ffn_up.weight", st[h + "mlp.up_proj.weight"])
            put(b + "ffn_down.weight", st[h + "mlp.down_proj.weight"])
        put("output_norm.weight", st["model.norm.weight"])
        put("output.weight", st.get("lm_head.weight", st["model.embed_tokens.weight"]))
    else:
        sys.exit(f"hf_to_gguf: model_type {arch} is not supported (gpt2, llama)")

    # The tokenizer: copied from a GGUF with the same GPT-2 vocabulary.
    r = gguf.GGUFReader(template)
    f = r.fields
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list([bytes(f["tokenizer.ggml.tokens"].parts[i]) for i in f["tokenizer.ggml.tokens"].data])
    w.add_token_types([int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data])
    w.add_token_merges([bytes(f["tokenizer.ggml.merges"].parts[i]) for i in f["tokenizer.ggml.merges"].data])
    w.add_bos_token_id(cfg.get("bos_token_id", 50256))
    w.add_eos_token_id(cfg.get("eos_token_id", 50256))
    w.add_add_bos_token(False)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
