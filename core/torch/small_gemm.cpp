#include "core/torch/small_gemm.hpp"

#include <immintrin.h>

// GCC 12 flags the "undefined" passthrough operand inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <omp.h>

#include <algorithm>
#include <cstddef>

namespace xops {

namespace {

#define XOPS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

// 16 weights widened to fp32 (bf16 -> fp32 is exact: the bf16 bits are the top half).
template <bool BF16>
XOPS_AVX512 inline __m512 load_w(const void* w, size_t off) {
  if constexpr (BF16) {
    auto h =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + off));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_loadu_ps(static_cast<const float*>(w) + off);
  }
}

template <bool BF16>
XOPS_AVX512 inline __m512 load_w_masked(const void* w, size_t off, __mmask16 m) {
  if constexpr (BF16) {
    auto h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + off);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + off);
  }
}

// W [N, K]: MM rows of x against NN rows of W, each output a dot product over K.
template <int MM, int NN, bool BF16>
XOPS_AVX512 void dot_tile(const SmallGemm& g, int m0, int n) {
  const int K = g.K;
  const float* x = g.x + static_cast<size_t>(m0) * K;
  __m512 acc[MM][NN];
  for (int i = 0; i < MM; ++i)
    for (int j = 0; j < NN; ++j) acc[i][j] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 wv[NN];
    for (int j = 0; j < NN; ++j) wv[j] = load_w<BF16>(g.w, static_cast<size_t>(n + j) * K + k);
    for (int i = 0; i < MM; ++i) {
      __m512 xv = _mm512_loadu_ps(x + static_cast<size_t>(i) * K + k);
      for (int j = 0; j < NN; ++j) acc[i][j] = _mm512_fmadd_ps(wv[j], xv, acc[i][j]);
    }
  }
  if (k < K) {
    auto mask = static_cast<__mmask16>((1u << (K - k)) - 1);
    __m512 wv[NN];
    for (int j = 0; j < NN; ++j)
      wv[j] = load_w_masked<BF16>(g.w, static_cast<size_t>(n + j) * K + k, mask);
    for (int i = 0; i < MM; ++i) {
      __m512 xv = _mm512_maskz_loadu_ps(mask, x + static_cast<size_t>(i) * K + k);
      for (int j = 0; j < NN; ++j) acc[i][j] = _mm512_fmadd_ps(wv[j], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < MM; ++i)
    for (int j = 0; j < NN; ++j)
      g.y[static_cast<size_t>(m0 + i) * g.N + n + j] =
          _mm512_reduce_add_ps(acc[i][j]) + (g.bias ? g.bias[n + j] : 0.f);
}

// W [K, N]: MM rows of x against a block of 64 output columns, streaming rows k0..k1 of W;
// the partial sums live in y between row chunks (first chunk: zero).
template <int MM, bool BF16>
XOPS_AVX512 void axpy_tile(const SmallGemm& g, int m0, int c, int k0, int k1, bool prefetch) {
  const int K = g.K, N = g.N;
  const float* x = g.x + static_cast<size_t>(m0) * K;
  constexpr size_t esz = BF16 ? 2 : 4;
  const char* wb = static_cast<const char*>(g.w);
  __m512 acc[MM][4];
  for (int i = 0; i < MM; ++i)
    for (int j = 0; j < 4; ++j)
      acc[i][j] = k0 == 0 ? _mm512_setzero_ps()
                          : _mm512_loadu_ps(g.y + static_cast<size_t>(m0 + i) * N + c + 16 * j);
  for (int k = k0; k < k1; ++k) {
    const size_t off = static_cast<size_t>(k) * N + c;
    // Rows are N apart: too far for the hardware prefetcher to follow, so ask ahead.
    if (prefetch) {
      const char* ahead = wb + (off + static_cast<size_t>(8) * N) * esz;
      for (size_t b = 0; b < 64 * esz; b += 64) _mm_prefetch(ahead + b, _MM_HINT_T0);
    }
    __m512 wv[4];
    for (int j = 0; j < 4; ++j) wv[j] = load_w<BF16>(g.w, off + 16 * j);
    for (int i = 0; i < MM; ++i) {
      __m512 xb = _mm512_set1_ps(x[static_cast<size_t>(i) * K + k]);
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_fmadd_ps(wv[j], xb, acc[i][j]);
    }
  }
  const bool last = k1 == K;
  for (int i = 0; i < MM; ++i)
    for (int j = 0; j < 4; ++j) {
      __m512 v = acc[i][j];
      if (last && g.bias) v = _mm512_add_ps(v, _mm512_loadu_ps(g.bias + c + 16 * j));
      _mm512_storeu_ps(g.y + static_cast<size_t>(m0 + i) * N + c + 16 * j, v);
    }
}

// Rows of x in groups of up to 4 (the register budget), over one unit of outputs; later
// groups find the unit's weights in cache.
template <bool BF16>
void dot_unit(const SmallGemm& g, int n0, int n1) {
  for (int m0 = 0; m0 < g.M; m0 += 4) {
    const int mm = std::min(4, g.M - m0);
    int n = n0;
    for (; n + 4 <= n1; n += 4) switch (mm) {
        case 1:
          dot_tile<1, 4, BF16>(g, m0, n);
          break;
        case 2:
          dot_tile<2, 4, BF16>(g, m0, n);
          break;
        case 3:
          dot_tile<3, 4, BF16>(g, m0, n);
          break;
        default:
          dot_tile<4, 4, BF16>(g, m0, n);
          break;
      }
    for (; n < n1; ++n) switch (mm) {
        case 1:
          dot_tile<1, 1, BF16>(g, m0, n);
          break;
        case 2:
          dot_tile<2, 1, BF16>(g, m0, n);
          break;
        case 3:
          dot_tile<3, 1, BF16>(g, m0, n);
          break;
        default:
          dot_tile<4, 1, BF16>(g, m0, n);
          break;
      }
  }
}

template <bool BF16>
void axpy_unit(const SmallGemm& g, int c) {
  // Up to 4 rows: one pass over W. More: W in chunks of 64 rows (16 KB of fp32, L1-sized)
  // that every row group reuses from cache.
  const int chunk = g.M <= 4 ? g.K : 64;
  for (int k0 = 0; k0 < g.K; k0 += chunk) {
    const int k1 = std::min(g.K, k0 + chunk);
    for (int m0 = 0; m0 < g.M; m0 += 4) {
      const bool prefetch = m0 == 0;
      switch (std::min(4, g.M - m0)) {
        case 1:
          axpy_tile<1, BF16>(g, m0, c, k0, k1, prefetch);
          break;
        case 2:
          axpy_tile<2, BF16>(g, m0, c, k0, k1, prefetch);
          break;
        case 3:
          axpy_tile<3, BF16>(g, m0, c, k0, k1, prefetch);
          break;
        default:
          axpy_tile<4, BF16>(g, m0, c, k0, k1, prefetch);
          break;
      }
    }
  }
}

bool cpu_has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl");
  return ok;
}

}  // namespace

bool small_gemm_supported(const SmallGemm& g) {
  if (!cpu_has_avx512() || g.M < 1 || g.M > kSmallGemmMaxRows || g.K < 1 || g.N < 1) return false;
  return !g.w_kn || g.N % 64 == 0;
}

void small_gemm(const SmallGemm& g, int threads) {
  constexpr int kDotUnit = 16;  // output rows per work unit ([N, K] layout)
  const int units = g.w_kn ? g.N / 64 : (g.N + kDotUnit - 1) / kDotUnit;
  auto run = [&](int u) {
    if (g.w_kn) {
      g.w_bf16 ? axpy_unit<true>(g, u * 64) : axpy_unit<false>(g, u * 64);
    } else {
      int n0 = u * kDotUnit, n1 = std::min(g.N, n0 + kDotUnit);
      g.w_bf16 ? dot_unit<true>(g, n0, n1) : dot_unit<false>(g, n0, n1);
    }
  };
  threads = std::max(1, std::min(threads, units));
  if (threads == 1) {
    for (int u = 0; u < units; ++u) run(u);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int u = 0; u < units; ++u) run(u);
}

}  // namespace xops
