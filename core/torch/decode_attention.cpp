#include "core/torch/decode_attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "core/torch/avx512_math.hpp"
#include "core/torch/small_gemm.hpp"

namespace xops {

namespace {

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

// The keys and values query head h of a slot reads (its KV head under grouped-query
// attention): [context, head_dim] each.
template <typename T>
std::pair<const T*, const T*> head_memory(const DecodeAttention& a, int slot, int h) {
  const int64_t kv = h / (a.n_head / a.n_kv);
  const int64_t base = (static_cast<int64_t>(slot) * a.n_kv + kv) * a.context * a.head_dim;
  return {static_cast<const T*>(a.k_cache) + base, static_cast<const T*>(a.v_cache) + base};
}

// Scores sc[0..S) become e^(score - max) in place, 16 at a time; returns 1 / their sum.
XOPS_AVX512 float softmax_weights(float* sc, int64_t S) {
  __m512 mxv = _mm512_set1_ps(-INFINITY);
  for (int64_t s = 0; s < S; s += 16)
    mxv = _mm512_mask_max_ps(mxv, tail(S - s), mxv, _mm512_loadu_ps(sc + s));
  const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(mxv));
  __m512 sumv = _mm512_setzero_ps();
  for (int64_t s = 0; s < S; s += 16) {
    const __mmask16 m = tail(S - s);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sc + s), mx));
    sumv = _mm512_mask_add_ps(sumv, m, sumv, e);
    _mm512_mask_storeu_ps(sc + s, m, e);
  }
  return 1.0f / _mm512_reduce_add_ps(sumv);
}

// One query head of one row against positions 0..pos of its KV head, for head_dim = 16 NC:
// the query and the output stay in registers, softmax's exponentials go 16 at a time (scalar
// exp was ~1.5% of a decode step at 256 positions, and grows with the context).
template <int NC, typename T>
XOPS_AVX512 void attend_head_vec(const DecodeAttention& a, const DecodeRow& r, int h,
                                 std::vector<float>& scores) {
  constexpr int64_t hd = NC * 16;
  const int64_t S = r.pos + 1;
  const auto [K, V] = head_memory<T>(a, r.slot, h);
  const float* q = a.q + r.row * a.q_stride + h * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  scores.resize(static_cast<size_t>((S + 15) / 16 * 16));
  float* sc = scores.data();
  __m512 qv[NC];
  for (int c = 0; c < NC; ++c)
    qv[c] = _mm512_mul_ps(_mm512_loadu_ps(q + c * 16), _mm512_set1_ps(scale));
  for (int64_t s = 0; s < S; ++s) {
    __m512 acc = _mm512_mul_ps(qv[0], load16(K + s * hd, 0xFFFF));
    for (int c = 1; c < NC; ++c)
      acc = _mm512_fmadd_ps(qv[c], load16(K + s * hd + c * 16, 0xFFFF), acc);
    sc[s] = _mm512_reduce_add_ps(acc);
  }
  const float inv_sum = softmax_weights(sc, S);
  __m512 yv[NC];
  for (int c = 0; c < NC; ++c) yv[c] = _mm512_setzero_ps();
  for (int64_t s = 0; s < S; ++s) {
    const __m512 p = _mm512_set1_ps(sc[s]);
    for (int c = 0; c < NC; ++c)
      yv[c] = _mm512_fmadd_ps(p, load16(V + s * hd + c * 16, 0xFFFF), yv[c]);
  }
  const __m512 inv = _mm512_set1_ps(inv_sum);
  float* y = a.y + r.row * a.n_head * hd + h * hd;
  for (int c = 0; c < NC; ++c) _mm512_storeu_ps(y + c * 16, _mm512_mul_ps(yv[c], inv));
}

// Any other head size, scalar.
template <typename T>
XOPS_AVX512 void attend_head(const DecodeAttention& a, const DecodeRow& r, int h,
                             std::vector<float>& scores) {
  const int64_t hd = a.head_dim, S = r.pos + 1;
  const auto [K, V] = head_memory<T>(a, r.slot, h);
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

// A tile of up to kTile prompt rows of one slot (causal: each attends to 0..its position)
// under one query head. Keys are transposed 16 positions at a time into a [hd][16] block, so
// each score is 16 lanes of plain FMAs with no horizontal sum, and the block is reused by
// every row of the tile; values stream through broadcast FMAs. Scores are kept for the
// tile's rows only ([rows][positions]), never the whole prompt's matrix.
constexpr int kTile = 16;

template <int NC, typename T>
XOPS_AVX512 void attend_tile(const DecodeAttention& a, const DecodeRow* rows, int n, int h,
                             std::vector<float>& buf) {
  constexpr int64_t hd = NC * 16;
  int64_t S = 0;
  for (int i = 0; i < n; ++i) S = std::max(S, rows[i].pos + 1);
  const int64_t Sp = (S + 15) / 16 * 16;
  const auto [K, V] = head_memory<T>(a, rows[0].slot, h);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  buf.resize(static_cast<size_t>(n * Sp + hd * 16));
  float* sc = buf.data();
  float* kt = sc + n * Sp;
  for (int64_t s0 = 0; s0 < S; s0 += 16) {
    const int64_t m = std::min<int64_t>(16, S - s0);
    for (int64_t j = 0; j < 16; ++j)
      for (int64_t d = 0; d < hd; ++d) kt[d * 16 + j] = j < m ? load(K, (s0 + j) * hd + d) : 0.f;
    // Eight rows at a time: eight independent FMA chains share each key-block load (one
    // chain per row stalls on the FMA latency).
    int i = 0;
    for (; i < n; i += 8) {
      const int g = std::min(8, n - i);
      if (rows[i].pos + 1 - s0 <= 0 && rows[i + g - 1].pos + 1 - s0 <= 0) continue;
      const float* q[8];
      __m512 acc[8];
      for (int r = 0; r < 8; ++r) {
        q[r] = a.q + rows[i + std::min(r, g - 1)].row * a.q_stride + h * hd;
        acc[r] = _mm512_setzero_ps();
      }
      for (int64_t d = 0; d < hd; ++d) {
        const __m512 kd = _mm512_loadu_ps(kt + d * 16);
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[r][d]), kd, acc[r]);
      }
      for (int r = 0; r < g; ++r) {
        const int64_t upto = rows[i + r].pos + 1 - s0;  // positions of this block it may see
        if (upto > 0)
          _mm512_mask_storeu_ps(sc + (i + r) * Sp + s0, tail(upto),
                                _mm512_mul_ps(acc[r], _mm512_set1_ps(scale)));
      }
    }
  }
  float inv[kTile];
  for (int i = 0; i < n; ++i) inv[i] = softmax_weights(sc + i * Sp, rows[i].pos + 1);
  // Values: two rows at a time over the positions both see (2 NC independent chains), then
  // the rest of the longer one.
  for (int i = 0; i < n; i += 2) {
    const int g = std::min(2, n - i);
    __m512 y0[NC], y1[NC];
    for (int c = 0; c < NC; ++c) y0[c] = y1[c] = _mm512_setzero_ps();
    const float* s0 = sc + i * Sp;
    const float* s1 = sc + (i + g - 1) * Sp;
    const int64_t S0 = rows[i].pos + 1, S1 = rows[i + g - 1].pos + 1;
    const int64_t both = std::min(S0, S1);
    for (int64_t s = 0; s < both; ++s) {
      const __m512 p0 = _mm512_set1_ps(s0[s]), p1 = _mm512_set1_ps(s1[s]);
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) {
        const __m512 vv = load16(V + s * hd + c * 16, 0xFFFF);
        y0[c] = _mm512_fmadd_ps(p0, vv, y0[c]);
        y1[c] = _mm512_fmadd_ps(p1, vv, y1[c]);
      }
    }
    for (int64_t s = both; s < S0; ++s) {
      const __m512 p0 = _mm512_set1_ps(s0[s]);
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c)
        y0[c] = _mm512_fmadd_ps(p0, load16(V + s * hd + c * 16, 0xFFFF), y0[c]);
    }
    for (int64_t s = both; s < S1; ++s) {
      const __m512 p1 = _mm512_set1_ps(s1[s]);
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c)
        y1[c] = _mm512_fmadd_ps(p1, load16(V + s * hd + c * 16, 0xFFFF), y1[c]);
    }
    const __m512 i0 = _mm512_set1_ps(inv[i]), i1 = _mm512_set1_ps(inv[i + g - 1]);
    float* out0 = a.y + rows[i].row * a.n_head * hd + h * hd;
    float* out1 = a.y + rows[i + g - 1].row * a.n_head * hd + h * hd;
#pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) {
      _mm512_storeu_ps(out0 + c * 16, _mm512_mul_ps(y0[c], i0));
      if (g == 2) _mm512_storeu_ps(out1 + c * 16, _mm512_mul_ps(y1[c], i1));
    }
  }
}

// Rows in tiles: consecutive rows of one slot (a prompt chunk) go together, up to kTile; a
// decode row is a tile of its own. Rows of 4 or more share the transposed key blocks; fewer
// attend one by one.
template <typename T>
void run(const DecodeAttention& a, const std::vector<DecodeRow>& rows, int threads) {
  for (const auto& r : rows) write_kv<T>(a, r);
  std::vector<std::pair<int, int>> tiles;  // (first row, count)
  for (size_t i = 0; i < rows.size();) {
    size_t e = i + 1;
    while (e < rows.size() && e - i < kTile && rows[e].slot == rows[i].slot &&
           rows[e].pos == rows[e - 1].pos + 1)
      ++e;
    tiles.emplace_back(static_cast<int>(i), static_cast<int>(e - i));
    i = e;
  }
  // The longest tiles (latest positions) first, so no thread is left with a long one at the end.
  std::stable_sort(tiles.begin(), tiles.end(), [&](const auto& x, const auto& y) {
    return rows[static_cast<size_t>(x.first + x.second - 1)].pos >
           rows[static_cast<size_t>(y.first + y.second - 1)].pos;
  });
  const int64_t jobs = static_cast<int64_t>(tiles.size()) * a.n_head;
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, jobs)));
  auto each = [&](auto one, auto tile) {
    for_each_unit(static_cast<int>(jobs), threads, [&](int j) {
      thread_local std::vector<float> buf;
      const auto& t = tiles[static_cast<size_t>(j / a.n_head)];
      const int h = j % a.n_head;
      if (t.second >= 4 && tile != nullptr) {
        tile(a, &rows[static_cast<size_t>(t.first)], t.second, h, buf);
        return;
      }
      for (int i = 0; i < t.second; ++i) one(a, rows[static_cast<size_t>(t.first + i)], h, buf);
    });
  };
  using Tile = void (*)(const DecodeAttention&, const DecodeRow*, int, int, std::vector<float>&);
  switch (a.head_dim) {
    case 16:
      each(attend_head_vec<1, T>, &attend_tile<1, T>);
      break;
    case 32:
      each(attend_head_vec<2, T>, &attend_tile<2, T>);
      break;
    case 64:
      each(attend_head_vec<4, T>, &attend_tile<4, T>);
      break;
    case 128:
      each(attend_head_vec<8, T>, &attend_tile<8, T>);
      break;
    default:
      each(attend_head<T>, static_cast<Tile>(nullptr));
  }
}

}  // namespace

bool decode_attention_supported() {
  return cpu_has_avx512();
}

void decode_attention(const DecodeAttention& a, const std::vector<DecodeRow>& rows, int threads) {
  if (a.bf16)
    run<uint16_t>(a, rows, threads);
  else
    run<float>(a, rows, threads);
}

}  // namespace xops
