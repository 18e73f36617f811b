#pragma once
// Decode-time projections: y = x W^T (+ b) for a few rows (decode) or a prompt chunk (fp32
// prefill), where LibTorch
// 1.13 on the CPU is slow — `linear` runs a GEMM built for big M, `mv` does not thread well,
// and its bf16 kernels run at a tenth of fp32 speed. Decode reads every weight once per
// step, so the job is to stream W from memory at full bandwidth and do every row's FMAs
// while the weights are in registers. AVX-512 with fp32 accumulation (bf16 weights are
// widened exactly to fp32); OpenMP threads take blocks of outputs dynamically, so a thread
// that the OS preempts does not hold up the others' work.
#include <cstdint>

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

// Whether small_gemm can take this on this CPU (AVX-512F/BW/VL). When false the caller uses
// LibTorch.
bool small_gemm_supported(const SmallGemm& g);
void small_gemm(const SmallGemm& g, int threads);

// Runs run(u) for every work unit u in [0, units) on up to `threads` OpenMP threads that take
// units dynamically (a preempted thread holds up one unit, not a fixed half); inline when one.
template <class F>
void for_each_unit(int units, int threads, const F& run) {
  threads = threads < units ? threads : units;
  if (threads <= 1) {
    for (int u = 0; u < units; ++u) run(u);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int u = 0; u < units; ++u) run(u);
}

}  // namespace xops
