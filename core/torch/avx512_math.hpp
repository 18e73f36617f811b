#pragma once
// AVX-512 building blocks shared by the hand-written kernels (GELU, attention): a vector e^x
// and bf16 <-> fp32 in registers. Callers check cpu_has_avx512() before running them.
#include <immintrin.h>

#include <cstdint>

// GCC 12 warns that the masked-load intrinsics read an uninitialised vector (their
// "undefined" pass-through operand): a false positive in every file that uses them.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define XOPS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

namespace xops {

// e^x: x log2(e) = n + f with |f| <= 1/2, 2^f by its Taylor series in f ln2 to degree 7
// (|f ln2| <= 0.347: truncation below 1e-8), times 2^n by scalef (inf and 0 beyond range,
// no integer overflow).
XOPS_AVX512 inline __m512 exp512(__m512 x) {
  const __m512 t =
      _mm512_mul_ps(_mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(200.f)), _mm512_set1_ps(-200.f)),
                    _mm512_set1_ps(1.4426950408889634f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_mul_ps(_mm512_sub_ps(t, n), _mm512_set1_ps(0.6931471805599453f));
  __m512 p = _mm512_set1_ps(1.f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// bf16 <-> fp32 in registers: widening is exact; narrowing rounds to nearest even as
// c10::BFloat16 does, NaN kept a (quiet) NaN.
XOPS_AVX512 inline __m512 load_bf16(const uint16_t* p, __mmask16 m) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}
XOPS_AVX512 inline void store_bf16(uint16_t* p, __m512 v, __mmask16 m) {
  const __m512i b = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  __m512i r =
      _mm512_srli_epi32(_mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7FC0));
  _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(r));
}

template <class T>
XOPS_AVX512 inline __m512 load16(const T* p, __mmask16 m) {
  if constexpr (sizeof(T) == 4)
    return _mm512_maskz_loadu_ps(m, p);
  else
    return load_bf16(reinterpret_cast<const uint16_t*>(p), m);
}
template <class T>
XOPS_AVX512 inline void store16(T* p, __m512 v, __mmask16 m) {
  if constexpr (sizeof(T) == 4)
    _mm512_mask_storeu_ps(p, m, v);
  else
    store_bf16(reinterpret_cast<uint16_t*>(p), v, m);
}

inline __mmask16 tail(int64_t left) {
  return static_cast<__mmask16>(left >= 16 ? 0xFFFF : (1u << left) - 1);
}

}  // namespace xops
