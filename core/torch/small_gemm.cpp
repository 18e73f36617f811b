#include "core/torch/small_gemm.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <vector>

// GCC 12 flags the "undefined" passthrough operand inside its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// `#pragma GCC unroll 16` on every loop over a register tile's rows and columns: without it
// GCC 12 at -O2 keeps arrays of __m512 accumulators in memory and each FMA loads and stores
// its accumulator (the fp32 tiles ran at 57 instead of 150-176 GFLOP/s on 2 threads, decode
// rows at 23.6 instead of 28-32 GB/s).
namespace xops {

namespace {

#define XOPS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

// fp32 weights: MM rows of x against NN rows of W, each output a dot product over K.
template <int MM, int NN>
XOPS_AVX512 void dot_tile_f32(const SmallGemm& g, int m0, int n) {
  const int K = g.K;
  const float* x = g.x + static_cast<size_t>(m0) * K;
  const float* w = static_cast<const float*>(g.w);
  __m512 acc[MM][NN];
#pragma GCC unroll 16
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < NN; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int k = 0; k < K; k += 16) {
    const auto mask = static_cast<__mmask16>(K - k >= 16 ? 0xFFFF : (1u << (K - k)) - 1);
    __m512 wv[NN];
#pragma GCC unroll 16
    for (int j = 0; j < NN; ++j)
      wv[j] = _mm512_maskz_loadu_ps(mask, w + static_cast<size_t>(n + j) * K + k);
#pragma GCC unroll 16
    for (int i = 0; i < MM; ++i) {
      __m512 xv = _mm512_maskz_loadu_ps(mask, x + static_cast<size_t>(i) * K + k);
#pragma GCC unroll 16
      for (int j = 0; j < NN; ++j) acc[i][j] = _mm512_fmadd_ps(wv[j], xv, acc[i][j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < NN; ++j)
      g.y[static_cast<size_t>(m0 + i) * g.N + n + j] =
          _mm512_reduce_add_ps(acc[i][j]) + (g.bias ? g.bias[n + j] : 0.f);
}

// bf16 weights, widened exactly to fp32 without a shuffle: a 32-bit lane holds elements 2i
// (low half) and 2i+1 (high half); `lane << 16` is element 2i as fp32 and `lane & 0xFFFF0000`
// element 2i+1. x comes de-interleaved to match (`xd`: per 32 elements, 16 even then 16 odd).
template <int MM, int NN>
XOPS_AVX512 void dot_tile_bf16(const SmallGemm& g, const float* xd, int Kp, int m0, int n) {
  const int K = g.K;
  const uint16_t* w = static_cast<const uint16_t*>(g.w);
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m512 acc[MM][NN];
#pragma GCC unroll 16
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < NN; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int k = 0; k < K; k += 32) {
    const auto mask = static_cast<__mmask32>(K - k >= 32 ? 0xFFFFFFFFu : (1u << (K - k)) - 1);
    __m512 lo[NN], hi[NN];
#pragma GCC unroll 16
    for (int j = 0; j < NN; ++j) {
      __m512i v = _mm512_maskz_loadu_epi16(mask, w + static_cast<size_t>(n + j) * K + k);
      lo[j] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      hi[j] = _mm512_castsi512_ps(_mm512_and_si512(v, high));
    }
#pragma GCC unroll 16
    for (int i = 0; i < MM; ++i) {
      const float* xi = xd + static_cast<size_t>(m0 + i) * Kp + k;
      __m512 xe = _mm512_loadu_ps(xi), xo = _mm512_loadu_ps(xi + 16);
#pragma GCC unroll 16
      for (int j = 0; j < NN; ++j)
        acc[i][j] = _mm512_fmadd_ps(hi[j], xo, _mm512_fmadd_ps(lo[j], xe, acc[i][j]));
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < NN; ++j)
      g.y[static_cast<size_t>(m0 + i) * g.N + n + j] =
          _mm512_reduce_add_ps(acc[i][j]) + (g.bias ? g.bias[n + j] : 0.f);
}

// y[m0 + i, n] = the sum of row i's four accumulators (+ bias), for MM rows of x.
template <int MM>
XOPS_AVX512 inline void store_row(const SmallGemm& g, __m512 (&acc)[MM][4], int m0, int n) {
#pragma GCC unroll 16
  for (int i = 0; i < MM; ++i)
    g.y[static_cast<size_t>(m0 + i) * g.N + n] =
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[i][0], acc[i][1]),
                                           _mm512_add_ps(acc[i][2], acc[i][3]))) +
        (g.bias ? g.bias[n] : 0.f);
}

// One weight row against MM rows of x, with four independent accumulators per x row over 64
// elements at a time: a single sequential stream through W (what the hardware prefetcher
// follows best) and no FMA waits on another. For the few rows of decode this runs at the
// memory's read bandwidth (35.8 of 35.8 GB/s measured, fp32, 2 threads) where tiles of 4
// interleaved weight rows reached two thirds of it; bf16 gains more (8.9 -> 18.9 GB/s on one
// thread), as its widening then overlaps the loads.
template <int MM>
XOPS_AVX512 void dot_row_f32(const SmallGemm& g, int m0, int n) {
  const int K = g.K;
  const float* w = static_cast<const float*>(g.w) + static_cast<size_t>(n) * K;
  const float* x = g.x + static_cast<size_t>(m0) * K;
  __m512 acc[MM][4];
#pragma GCC unroll 16
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 64 <= K; k += 64) {
    const __m512 w0 = _mm512_loadu_ps(w + k), w1 = _mm512_loadu_ps(w + k + 16);
    const __m512 w2 = _mm512_loadu_ps(w + k + 32), w3 = _mm512_loadu_ps(w + k + 48);
#pragma GCC unroll 16
    for (int i = 0; i < MM; ++i) {
      const float* xi = x + static_cast<size_t>(i) * K + k;
      acc[i][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xi), acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xi + 16), acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xi + 32), acc[i][2]);
      acc[i][3] = _mm512_fmadd_ps(w3, _mm512_loadu_ps(xi + 48), acc[i][3]);
    }
  }
  for (; k < K; k += 16) {
    const auto mask = static_cast<__mmask16>(K - k >= 16 ? 0xFFFF : (1u << (K - k)) - 1);
    const __m512 wv = _mm512_maskz_loadu_ps(mask, w + k);
#pragma GCC unroll 16
    for (int i = 0; i < MM; ++i)
      acc[i][0] = _mm512_fmadd_ps(
          wv, _mm512_maskz_loadu_ps(mask, x + static_cast<size_t>(i) * K + k), acc[i][0]);
  }
  store_row<MM>(g, acc, m0, n);
}

// As dot_row_f32 for bf16 weights widened as in dot_tile_bf16 (x de-interleaved in xd).
template <int MM>
XOPS_AVX512 void dot_row_bf16(const SmallGemm& g, const float* xd, int Kp, int m0, int n) {
  const int K = g.K;
  const uint16_t* w = static_cast<const uint16_t*>(g.w) + static_cast<size_t>(n) * K;
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m512 acc[MM][4];
#pragma GCC unroll 16
  for (int i = 0; i < MM; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 64 <= K; k += 64) {
    const __m512i v0 = _mm512_loadu_si512(w + k), v1 = _mm512_loadu_si512(w + k + 32);
    const __m512 w0 = _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16));
    const __m512 w1 = _mm512_castsi512_ps(_mm512_and_si512(v0, high));
    const __m512 w2 = _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16));
    const __m512 w3 = _mm512_castsi512_ps(_mm512_and_si512(v1, high));
#pragma GCC unroll 16
    for (int i = 0; i < MM; ++i) {
      const float* xi = xd + static_cast<size_t>(m0 + i) * Kp + k;
      acc[i][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xi), acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xi + 16), acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xi + 32), acc[i][2]);
      acc[i][3] = _mm512_fmadd_ps(w3, _mm512_loadu_ps(xi + 48), acc[i][3]);
    }
  }
  for (; k < K; k += 32) {
    const auto mask = static_cast<__mmask32>(K - k >= 32 ? 0xFFFFFFFFu : (1u << (K - k)) - 1);
    const __m512i v = _mm512_maskz_loadu_epi16(mask, w + k);
    const __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    const __m512 hi = _mm512_castsi512_ps(_mm512_and_si512(v, high));
#pragma GCC unroll 16
    for (int i = 0; i < MM; ++i) {
      const float* xi = xd + static_cast<size_t>(m0 + i) * Kp + k;
      acc[i][0] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xi), acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xi + 16), acc[i][1]);
    }
  }
  store_row<MM>(g, acc, m0, n);
}

template <int MM>
void row(const SmallGemm& g, const float* xd, int Kp, int m0, int n) {
  if (g.w_bf16)
    dot_row_bf16<MM>(g, xd, Kp, m0, n);
  else
    dot_row_f32<MM>(g, m0, n);
}

template <int MM, int NN>
void tile(const SmallGemm& g, const float* xd, int Kp, int m0, int n) {
  if (g.w_bf16)
    dot_tile_bf16<MM, NN>(g, xd, Kp, m0, n);
  else
    dot_tile_f32<MM, NN>(g, m0, n);
}

template <int NN>
void tile_rows(const SmallGemm& g, const float* xd, int Kp, int m0, int n) {
  switch (std::min(4, g.M - m0)) {
    case 1:
      tile<1, NN>(g, xd, Kp, m0, n);
      break;
    case 2:
      tile<2, NN>(g, xd, Kp, m0, n);
      break;
    case 3:
      tile<3, NN>(g, xd, Kp, m0, n);
      break;
    default:
      tile<4, NN>(g, xd, Kp, m0, n);
      break;
  }
}

// Output rows n0..n1 for every row of x, in groups of up to 4 rows (the register budget);
// later groups find the unit's weights in cache. One or two rows of x (a decode step) go
// weight row by weight row; more rows use tiles of 4 weight rows, whose loads each row reuses.
void unit(const SmallGemm& g, const float* xd, int Kp, int n0, int n1) {
  if (g.M <= 2) {
    for (int n = n0; n < n1; ++n) g.M == 1 ? row<1>(g, xd, Kp, 0, n) : row<2>(g, xd, Kp, 0, n);
    return;
  }
  for (int m0 = 0; m0 < g.M; m0 += 4) {
    int n = n0;
    for (; n + 4 <= n1; n += 4) tile_rows<4>(g, xd, Kp, m0, n);
    for (; n < n1; ++n) tile_rows<1>(g, xd, Kp, m0, n);
  }
}

}  // namespace

bool cpu_has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl");
  return ok;
}

bool small_gemm_supported(const SmallGemm& g) {
  return cpu_has_avx512() && g.M >= 1 && g.M <= kSmallGemmMaxRows && g.K >= 1 && g.N >= 1;
}

void small_gemm(const SmallGemm& g, int threads) {
  // bf16: x de-interleaved once (zero-padded to a multiple of 32) for dot_tile_bf16.
  std::vector<float> xd;
  const int Kp = (g.K + 31) / 32 * 32;
  if (g.w_bf16) {
    xd.assign(static_cast<size_t>(g.M) * Kp, 0.f);
    for (int m = 0; m < g.M; ++m)
      for (int k = 0; k < g.K; ++k)
        xd[static_cast<size_t>(m) * Kp + k / 32 * 32 + (k % 2) * 16 + (k % 32) / 2] =
            g.x[static_cast<size_t>(m) * g.K + k];
  }
  // A work unit is ~192 KiB of consecutive weight rows: long enough that each thread's reads
  // stay one sequential stream the prefetchers follow (16 rows of bf16 were 24 KiB: 25 GB/s,
  // 128 rows 34 GB/s), short enough to leave 4 units per thread for balancing (a preempted
  // thread holds up one unit).
  const size_t row_bytes = static_cast<size_t>(g.K) * (g.w_bf16 ? 2 : 4);
  int rows = static_cast<int>(std::clamp<size_t>((size_t(192) << 10) / row_bytes, 16, 256));
  while (rows > 16 && (g.N + rows - 1) / rows < 4 * std::max(1, threads)) rows /= 2;
  const int units = (g.N + rows - 1) / rows;
  auto run = [&](int u) { unit(g, xd.data(), Kp, u * rows, std::min(g.N, (u + 1) * rows)); };
  for_each_unit(units, threads, run);
}

}  // namespace xops
