#pragma once
// Attention of a step's rows straight over the slots' KV memory: decode rows (one new token
// of a slot) and prompt chunks (consecutive positions of one slot, causal). Each LibTorch op
// costs microseconds of dispatch: at 8 slots × 12 layers the dozen ops of a per-slot
// bmm/softmax/bmm took half of every step for a few hundred kFLOP of work, and a prompt's
// bmm/softmax materialised its whole score matrix on OpenMP's threads. One call per layer
// hands every (tile of rows, head) to the engine's threads; fp32 math, fp32 or bf16 memory.
#include <cstdint>
#include <vector>

namespace xops {

struct DecodeAttention {
  int n_head = 0, n_kv = 0, head_dim = 0;
  int64_t context = 0;      // positions a slot holds in the caches
  bool bf16 = false;        // the caches' element type (else fp32)
  void* k_cache = nullptr;  // [slots, n_kv, context, head_dim]
  void* v_cache = nullptr;
  const float* q = nullptr;  // row r's query heads at q + r * q_stride ([n_head * head_dim])
  const float* k = nullptr;  // row r's new key at k + r * k_stride ([n_kv * head_dim])
  const float* v = nullptr;
  int64_t q_stride = 0, k_stride = 0, v_stride = 0;
  float* y = nullptr;  // row r's output at y + r * n_head * head_dim
};

struct DecodeRow {
  int slot = 0;
  int64_t pos = 0;  // the new token's position: its K/V go there, it attends to 0..pos
  int64_t row = 0;  // its row in q/k/v/y
};

// Whether this CPU runs the kernel (AVX-512F); otherwise the caller uses LibTorch.
bool decode_attention_supported();
// Writes every row's K/V first, then attends: a prompt's rows (listed consecutively, positions
// ascending) see each other causally.
void decode_attention(const DecodeAttention& a, const std::vector<DecodeRow>& rows, int threads);

}  // namespace xops
