#pragma once
// GPT-2 and Llama as plain tensors with Hugging Face names and layouts (internal to the
// engine library). Only core/torch/*.cpp include this.
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model/model_config.hpp"
#include "core/model/safetensors.hpp"

namespace xops {

class Checkpoint;

// A safetensors dtype as LibTorch's (F32, F16, BF16, F64; others throw).
at::ScalarType scalar_type(DType d);

// GGUF Q8_0 weights kept 8-bit, repacked for q8_gemm: q int8 [out, in], d fp32 [out, in/32].
struct Q8Weight {
  at::Tensor q, d;
  bool defined() const { return q.defined(); }
  int64_t in() const { return q.size(1); }
  int64_t out() const { return q.size(0); }
};
// y = x W^T (+ b): x quantized per row as ggml does, int8 products (core/torch/q8_gemm.hpp).
at::Tensor q8_linear(const Q8Weight& w, const at::Tensor& b, const at::Tensor& x);

// One projection. GPT-2's Conv1D stores [in, out] (y = x W + b); Llama's Linear [out, in].
// An optional LoRA pair adds scale * B(A(dropout(x))).
struct Proj {
  at::Tensor w, b;
  bool conv1d = false;       // w is [in, out] (GPT-2's Conv1D, as trained and saved)
  bool from_conv1d = false;  // w was Conv1D on disk and is held as [out, in] for inference
  at::Tensor lora_a, lora_b;  // [r, in], [out, r] (PEFT layout for both families)
  double lora_scale = 0.0;
  double lora_dropout = 0.0;
  // Adapters added after loading (LanguageModel::add_adapter), by id; the decoder applies
  // each to the rows of the sequences that chose it. `a` undefined: not on this projection.
  struct Lora {
    at::Tensor a, b;
    double scale = 0;
  };
  std::vector<Lora> extra;
  Q8Weight q8;  // instead of w (then undefined) for a GGUF Q8_0 model on the CPU
  at::Tensor operator()(const at::Tensor& x, bool training) const;
  int64_t in_features() const { return q8.defined() ? q8.in() : conv1d ? w.size(0) : w.size(1); }
  int64_t out_features() const { return q8.defined() ? q8.out() : conv1d ? w.size(1) : w.size(0); }
  // Options for tensors that live beside the weight (LoRA pairs).
  at::TensorOptions options() const { return w.defined() ? w.options() : q8.d.options(); }
};

struct Layer {
  at::Tensor norm1_w, norm1_b, norm2_w, norm2_b;  // *_b: GPT-2 only
  Proj qkv;                                       // GPT-2 c_attn
  Proj q, k, v;                                   // Llama
  Proj o;                                         // c_proj / o_proj
  Proj fc, fc_out;                                // GPT-2 c_fc / mlp.c_proj
  Proj gate, up, down;                            // Llama
  // Llama's q, k, v and gate, up weights as one matrix each ([q; k; v] rows, [gate; up]),
  // when the loader placed them back to back on the CPU without biases (views, no copy): the
  // decoder runs one product instead of three and two. Undefined otherwise.
  at::Tensor qkv_rows, gate_up_rows;
};

struct Weights {
  at::Tensor wte, wpe, norm_w, norm_b, lm_head;  // lm_head undefined when tied
  Q8Weight lm_head_q8;  // the output matrix kept 8-bit (GGUF Q8_0), used before lm_head/wte
  bool quantized() const;
  std::vector<Layer> layers;
};

// Every tensor with its Hugging Face name (the checkpoint's spelling).
std::vector<std::pair<std::string, at::Tensor*>> named_tensors(const ModelConfig& c, Weights& w);
std::vector<std::pair<std::string, Proj*>> named_projections(const ModelConfig& c, Weights& w);
// Holds Conv1D weights as [out, in] (one transposed copy each), so that decode reads every
// weight row contiguously; save() writes them back in the Conv1D layout.
void to_inference_layout(const ModelConfig& c, Weights& w);

// zero_copy: CPU tensors whose dtype matches become read-only views of the mapped file (kept
// alive by the tensors), so loading costs no copy and frozen weights no second resident copy.
// Only for weights that are never written in place (inference, a LoRA base).
// keep_q8: Q8_0 matrices (GGUF) stay 8-bit for q8_gemm on this CPU; otherwise they are
// widened to opts' dtype (training, CUDA, a CPU without AVX-512).
Weights load_weights(const ModelConfig& c, const std::shared_ptr<const Checkpoint>& ckpt,
                     const at::TensorOptions& opts, bool zero_copy, bool keep_q8 = false);
Weights init_weights(const ModelConfig& c, uint64_t seed, const at::TensorOptions& opts);

// Per-layer keys/values for incremental decoding: [B, n_kv, capacity, head_dim].
struct KVCache {
  std::vector<at::Tensor> k, v;
  at::Tensor key_valid;  // [B, capacity] bool: false for left padding
  int64_t len = 0;
  int64_t capacity = 0;
  void reset(const ModelConfig& c, int64_t batch, int64_t capacity, const at::TensorOptions& opts);
};

// ids, positions: [B, T] int64; valid: [B, T] bool (false = padding). With a cache, the
// new keys/values are appended. Returns the final hidden states [B, T, D] (before lm_head).
at::Tensor forward_hidden(const ModelConfig& c, const Weights& w, const at::Tensor& ids,
                          const at::Tensor& positions, const at::Tensor& valid, KVCache* cache,
                          bool training = false);
// HF Llama RoPE tables for positions of any shape P: cos/sin of shape [P..., head_dim].
std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& c, const at::Tensor& positions, at::ScalarType dt);
at::Tensor rotate_half(const at::Tensor& x);
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);

at::Tensor lm_logits(const ModelConfig& c, const Weights& w, const at::Tensor& hidden);

}  // namespace xops
