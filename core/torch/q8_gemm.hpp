#pragma once
// y = x W^T (+ b) with W from ggml's Q8_0 blocks (per 32 weights an fp16 scale and 32 int8),
// kept 8-bit in memory. At load the blocks are repacked once (q8_repack): each row's int8
// values contiguous and its scales as fp32 beside them, so the kernel does aligned 64-byte
// loads and no fp16 conversions. The activations are quantized to Q8_0 too, row by row, the
// way ggml's x86 quantize_row_q8_0 does (scale max|x|/127, rounded to fp16; values rounded
// half to even), and each pair of blocks is multiplied in int8 with int32 sums (AVX512-VNNI
// vpdpbusd where present, else vpmaddubsw), scaled by d_x * d_w in fp32: the arithmetic of
// ggml_vec_dot_q8_0_q8_0, so the numbers agree with llama.cpp's. OpenMP threads take ~64 KB
// units of weight rows dynamically.
#include <cstdint>

namespace xops {

struct Q8Gemm {
  const float* x = nullptr;     // [M, K] fp32, row-major
  int M = 0, K = 0, N = 0;      // K a multiple of 32
  const int8_t* wq = nullptr;   // [N, K] the blocks' int8 values
  const float* wd = nullptr;    // [N, K/32] the blocks' scales
  const float* bias = nullptr;  // [N] or null
  float* y = nullptr;           // [M, N]
  bool vnni = true;             // false: the vpmaddubsw path even where VNNI exists (tests)
};

// Whether this CPU runs q8_gemm (AVX-512 F/BW/VL and F16C; VNNI is used when present).
bool q8_gemm_supported();
void q8_gemm(const Q8Gemm& g, int threads);
// ggml blocks ([rows, K/32] x 34 bytes) -> wq [rows, K] and wd [rows, K/32].
void q8_repack(const uint8_t* blocks, int64_t rows, int64_t K, int8_t* wq, float* wd);

}  // namespace xops
