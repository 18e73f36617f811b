#include "core/torch/decode_attention.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace xops {

namespace {

#define XOPS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

inline float bf16_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as LibTorch converts fp32 to bf16.
inline uint16_t float_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

template <typename T>
inline float load(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, uint16_t>)
    return bf16_to_float(p[i]);
  else
    return p[i];
}

template <typename T>
inline void store(T* p, int64_t i, float v) {
  if constexpr (std::is_same_v<T, uint16_t>)
    p[i] = float_to_bf16(v);
  else
    p[i] = v;
}

template <typename T>
XOPS_AVX512 void write_kv(const DecodeAttention& a, const DecodeRow& r) {
  const int64_t hd = a.head_dim;
  for (int64_t kv = 0; kv < a.n_kv; ++kv) {
    const int64_t base = ((static_cast<int64_t>(r.slot) * a.n_kv + kv) * a.context + r.pos) * hd;
    const float* k = a.k + r.row * a.k_stride + kv * hd;
    const float* v = a.v + r.row * a.v_stride + kv * hd;
    for (int64_t d = 0; d < hd; ++d) {
      store(static_cast<T*>(a.k_cache), base + d, k[d]);
      store(static_cast<T*>(a.v_cache), base + d, v[d]);
    }
  }
}

// One query head of one row against positions 0..pos of its KV head.
template <typename T>
XOPS_AVX512 void attend_head(const DecodeAttention& a, const DecodeRow& r, int h,
                             std::vector<float>& scores) {
  const int64_t hd = a.head_dim, S = r.pos + 1;
  const int64_t kv = h / (a.n_head / a.n_kv);
  const int64_t base = (static_cast<int64_t>(r.slot) * a.n_kv + kv) * a.context * hd;
  const T* K = static_cast<const T*>(a.k_cache) + base;
  const T* V = static_cast<const T*>(a.v_cache) + base;
  const float* q = a.q + r.row * a.q_stride + h * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  scores.resize(static_cast<size_t>(S));
  float mx = -INFINITY;
  for (int64_t s = 0; s < S; ++s) {
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t d = 0; d < hd; ++d) dot += q[d] * load(K, s * hd + d);
    scores[static_cast<size_t>(s)] = dot * scale;
    mx = std::max(mx, dot * scale);
  }
  float sum = 0;
  for (int64_t s = 0; s < S; ++s)
    sum += scores[static_cast<size_t>(s)] = std::exp(scores[static_cast<size_t>(s)] - mx);
  float* y = a.y + r.row * a.n_head * hd + h * hd;
  for (int64_t d = 0; d < hd; ++d) y[d] = 0;
  for (int64_t s = 0; s < S; ++s) {
    const float p = scores[static_cast<size_t>(s)] / sum;
#pragma omp simd
    for (int64_t d = 0; d < hd; ++d) y[d] += p * load(V, s * hd + d);
  }
}

template <typename T>
void run(const DecodeAttention& a, const std::vector<DecodeRow>& rows, int threads) {
  for (const auto& r : rows) write_kv<T>(a, r);
  const int64_t jobs = static_cast<int64_t>(rows.size()) * a.n_head;
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, jobs / 4)));
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> scores;
#pragma omp for schedule(static)
    for (int64_t j = 0; j < jobs; ++j)
      attend_head<T>(a, rows[static_cast<size_t>(j / a.n_head)], static_cast<int>(j % a.n_head),
                     scores);
  }
}

}  // namespace

bool decode_attention_supported() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl");
  return ok;
}

void decode_attention(const DecodeAttention& a, const std::vector<DecodeRow>& rows, int threads) {
  if (a.bf16)
    run<uint16_t>(a, rows, threads);
  else
    run<float>(a, rows, threads);
}

}  // namespace xops
