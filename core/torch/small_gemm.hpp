#pragma once
// Decode-time projections: y = x W^T (+ b) for a few rows (decode) or a prompt chunk (fp32
// prefill), where LibTorch
// 1.13 on the CPU is slow — `linear` runs a GEMM built for big M, `mv` does not thread well,
// and its bf16 kernels run at a tenth of fp32 speed. Decode reads every weight once per
// step, so the job is to stream W from memory at full bandwidth and do every row's FMAs
// while the weights are in registers. AVX-512 with fp32 accumulation (bf16 weights are
// widened exactly to fp32); the engine's threads (unit_pool.hpp) take blocks of outputs
// dynamically, so a thread that the OS preempts does not hold up the others' work.
#include <cstdint>

#include "core/torch/unit_pool.hpp"  // for_each_unit

namespace xops {

struct SmallGemm {
  const float* x = nullptr;  // [M, K] fp32, row-major
  int M = 0, K = 0, N = 0;
  const void* w = nullptr;  // [N, K] (nn.Linear's layout), fp32 or bf16 bit patterns
  bool w_bf16 = false;
  const float* bias = nullptr;  // [N] fp32 or null
  float* y = nullptr;           // [M, N] fp32
};

constexpr int kSmallGemmMaxRows = 4096;

// Whether this CPU has the AVX-512 subsets (F, BW, VL) the hand-written kernels use.
bool cpu_has_avx512();

// Whether small_gemm can take this on this CPU (AVX-512F/BW/VL). When false the caller uses
// LibTorch.
bool small_gemm_supported(const SmallGemm& g);
void small_gemm(const SmallGemm& g, int threads);

}  // namespace xops
