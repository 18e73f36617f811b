#include "core/torch/q8_gemm.hpp"

#include "core/model/ggml_types.hpp"
#include "core/torch/small_gemm.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// `#pragma GCC unroll 16` on every loop over a register tile's rows and columns: without it
// GCC 12 at -O2 keeps arrays of __m512 accumulators in memory and each FMA loads and stores
// its accumulator (the fp32 tiles ran at 57 instead of 150-176 GFLOP/s on 2 threads, decode
// rows at 23.6 instead of 28-32 GB/s).
namespace xops {

namespace {

#define XOPS_Q8 __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
#define XOPS_Q8_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c")))

constexpr int kBlock = 32, kBlockBytes = 34;

// One row of x as ggml quantizes it for a Q8_0 product, scales as fp16-rounded floats. The
// int8 values q are stored for the multiply that pair_step does: biased, q + 128, for
// vpdpbusd's unsigned side (VNNI), or as they are for vpmaddubsw, which takes |w| unsigned.
struct QuantRow {
  std::vector<uint8_t> q;    // K: q + 128 (VNNI) or q as int8
  std::vector<float> d;      // K / 32
  std::vector<float> dpair;  // per pair of blocks: 8 lanes of d[b], 8 of d[b+1] (0 past K)
};

XOPS_Q8 void quantize_row(const float* x, int K, bool biased, uint8_t* out, float* d) {
  const int nb = K / kBlock;
  for (int b = 0; b < nb; ++b) {
    const float* xb = x + b * kBlock;
    __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
    float amax =
        std::max(_mm512_reduce_max_ps(_mm512_abs_ps(v0)), _mm512_reduce_max_ps(_mm512_abs_ps(v1)));
    const float dd = amax / 127.f;
    // The block's scale as stored (fp16) and read back, as ggml multiplies with it.
    d[b] = _cvtsh_ss(_cvtss_sh(dd, _MM_FROUND_TO_NEAREST_INT));
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    const __m512 mul = _mm512_set1_ps(id);
    __m512i q0 =
        _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT));
    __m512i q1 =
        _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT));
    __m128i b0 = _mm512_cvtsepi32_epi8(q0), b1 = _mm512_cvtsepi32_epi8(q1);
    __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(b0), b1, 1);
    // q + 128 as a byte is q with its top bit flipped.
    if (biased) q = _mm256_xor_si256(q, _mm256_set1_epi8(static_cast<char>(0x80)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * kBlock), q);
  }
}

// One pair of blocks (64 weights of one row) against MM rows of x. `single`: the row's last,
// unpaired block (the upper 32 lanes are zero).
template <bool VNNI, int MM>
XOPS_Q8_VNNI __attribute__((always_inline)) inline void pair_step(const int8_t* wr, const float* dr,
                                                                  const QuantRow* rows, int p,
                                                                  bool single, __m512* acc) {
  const __m512i halves_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  __m512i w;
  __m512 dw;
  if (!single) {
    w = _mm512_loadu_si512(wr + p * 64);
    dw = _mm512_permutexvar_ps(halves_idx, _mm512_castps128_ps512(_mm_castsi128_ps(_mm_loadl_epi64(
                                               reinterpret_cast<const __m128i*>(dr + 2 * p)))));
  } else {
    w = _mm512_maskz_loadu_epi8(0xFFFFFFFFull, wr + p * 64);
    dw = _mm512_maskz_mov_ps(static_cast<__mmask16>(0x00FF), _mm512_set1_ps(dr[2 * p]));
  }
  if constexpr (VNNI) {
    // sum (q + 128) w = sum q w + 128 sum w: each lane starts at -128 x its four weights' sum,
    // computed once for all MM rows, so vpdpbusd leaves exactly sum q w (int32, no saturation:
    // |lane| <= 4 x 255 x 128). One instruction fewer per row than moving a sign per row.
    const __m512i bias = _mm512_sub_epi32(
        _mm512_setzero_si512(),
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(0x80)), w));
#pragma GCC unroll 16
    for (int i = 0; i < MM; ++i) {
      const QuantRow& r = rows[i];
      __m512i xu = _mm512_loadu_si512(r.q.data() + p * 64);  // w is zero past K
      __m512 dx = _mm512_loadu_ps(r.dpair.data() + p * 16);
      __m512 prod = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(bias, xu, w));
      acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(dx, dw), prod, acc[i]);
    }
  } else {
    // vpmaddubsw multiplies unsigned by signed bytes and sums pairs in int16 with
    // saturation: |w| (at most 128) against q with w's sign (|q| <= 127, so the flip cannot
    // overflow), a pair at most 2 x 128 x 127 = 32512. Moving q's sign onto w instead would
    // wrap a weight of -128.
    const __m512i aw = _mm512_abs_epi8(w);
    const __mmask64 wneg = _mm512_movepi8_mask(w);
#pragma GCC unroll 16
    for (int i = 0; i < MM; ++i) {
      const QuantRow& r = rows[i];
      __m512i xq = _mm512_loadu_si512(r.q.data() + p * 64);  // w is zero past K
      __m512 dx = _mm512_loadu_ps(r.dpair.data() + p * 16);
      __m512i sx = _mm512_mask_sub_epi8(xq, wneg, _mm512_setzero_si512(), xq);
      __m512i sum = _mm512_madd_epi16(_mm512_maddubs_epi16(aw, sx), _mm512_set1_epi16(1));
      __m512 prod = _mm512_cvtepi32_ps(sum);
      acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(dx, dw), prod, acc[i]);
    }
  }
}

// Weight row n against MM rows of x: two accumulators per x row (even and odd pairs) so that
// consecutive FMAs do not wait on each other.
template <bool VNNI, int MM>
XOPS_Q8_VNNI void tile(const Q8Gemm& g, const QuantRow* rows, int m0, int n) {
  const int nb = g.K / kBlock, pairs = nb / 2;
  const int8_t* wr = g.wq + static_cast<size_t>(n) * g.K;
  const float* dr = g.wd + static_cast<size_t>(n) * nb;
  __m512 a0[MM], a1[MM];
#pragma GCC unroll 16
  for (int i = 0; i < MM; ++i) a0[i] = a1[i] = _mm512_setzero_ps();
  int p = 0;
  for (; p + 2 <= pairs; p += 2) {
    pair_step<VNNI, MM>(wr, dr, rows + m0, p, false, a0);
    pair_step<VNNI, MM>(wr, dr, rows + m0, p + 1, false, a1);
  }
  if (p < pairs) pair_step<VNNI, MM>(wr, dr, rows + m0, p++, false, a0);
  if (nb % 2) pair_step<VNNI, MM>(wr, dr, rows + m0, p, true, a1);
#pragma GCC unroll 16
  for (int i = 0; i < MM; ++i)
    g.y[static_cast<size_t>(m0 + i) * g.N + n] =
        _mm512_reduce_add_ps(_mm512_add_ps(a0[i], a1[i])) + (g.bias ? g.bias[n] : 0.f);
}

template <bool VNNI>
void tile_rows(const Q8Gemm& g, const QuantRow* rows, int m0, int n) {
  switch (std::min(4, g.M - m0)) {
    case 1:
      tile<VNNI, 1>(g, rows, m0, n);
      break;
    case 2:
      tile<VNNI, 2>(g, rows, m0, n);
      break;
    case 3:
      tile<VNNI, 3>(g, rows, m0, n);
      break;
    default:
      tile<VNNI, 4>(g, rows, m0, n);
      break;
  }
}

template <bool VNNI>
void unit(const Q8Gemm& g, const QuantRow* rows, int n0, int n1) {
  for (int m0 = 0; m0 < g.M; m0 += 4) {
    // One weight row at a time: a single sequential stream per thread. Tiles of 2 or 4 rows
    // (as small_gemm uses for fp32) ran 1.5-1.8x slower here: 4 interleaved streams and
    // register spills.
    for (int n = n0; n < n1; ++n) tile_rows<VNNI>(g, rows, m0, n);
  }
}

bool has_vnni() {
  static const bool ok = __builtin_cpu_supports("avx512vnni");
  return ok;
}

}  // namespace

void q8_repack(const uint8_t* blocks, int64_t rows, int64_t K, int8_t* wq, float* wd) {
  const int64_t nb = K / kBlock;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = blocks + (r * nb + b) * kBlockBytes;
      uint16_t h;
      std::memcpy(&h, blk, 2);
      wd[r * nb + b] = fp16_to_fp32(h);
      std::memcpy(wq + r * K + b * kBlock, blk + 2, kBlock);
    }
}

bool q8_gemm_supported() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c");
  return ok;
}

void q8_gemm(const Q8Gemm& g, int threads) {
  const bool vnni = g.vnni && has_vnni();
  // Each row of x quantized once (ggml does the same before its dot products).
  std::vector<QuantRow> rows(static_cast<size_t>(g.M));
  for (int m = 0; m < g.M; ++m) {
    auto& r = rows[static_cast<size_t>(m)];
    r.q.assign(static_cast<size_t>(g.K) + 64, 0);  // + 64: a 512-bit load past the last pair
    r.d.assign(static_cast<size_t>(g.K / kBlock) + 1, 0.f);
    quantize_row(g.x + static_cast<size_t>(m) * g.K, g.K, vnni, r.q.data(), r.d.data());
    const int nb = g.K / kBlock;
    r.dpair.assign(static_cast<size_t>((nb + 1) / 2) * 16, 0.f);
    for (int b = 0; b < nb; ++b)
      for (int l = 0; l < 8; ++l)
        r.dpair[static_cast<size_t>(b / 2 * 16 + (b % 2) * 8 + l)] = r.d[static_cast<size_t>(b)];
  }
  // Work units of ~192 KB of weights (a multiple of 4 rows; as small_gemm's): long
  // sequential sweeps for the prefetchers, still 4 units per thread for one that the OS
  // preempts to hand over.
  const int row_bytes = g.K + g.K / kBlock * 4;
  int kUnit = std::max(4, ((192 << 10) / row_bytes) / 4 * 4);
  while (kUnit > 16 && (g.N + kUnit - 1) / kUnit < 4 * std::max(1, threads)) kUnit = kUnit / 8 * 4;
  const int units = (g.N + kUnit - 1) / kUnit;
  auto run = [&](int u) {
    int n0 = u * kUnit, n1 = std::min(g.N, (u + 1) * kUnit);
    if (vnni)
      unit<true>(g, rows.data(), n0, n1);
    else
      unit<false>(g, rows.data(), n0, n1);
  };
  for_each_unit(units, threads, run);
}

}  // namespace xops
