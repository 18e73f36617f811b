#pragma once
// The decoder step's norms and residual adds over fp32 CPU rows [N, D], on the engine's own
// threads (unit_pool.hpp) like the projections around them. LibTorch's layer_norm opens an
// OpenMP region for as few as two rows, its adds for a prompt chunk, and its RMSNorm is five
// ops whose dispatch costs more than the arithmetic at decode sizes; a step that hands the
// cores between OpenMP's threads and the engine's at every norm and add loses more than the
// op costs. Each reports when it does not apply (not fp32, not on the CPU, not contiguous,
// shapes differ) and the caller uses LibTorch.
#include <ATen/ATen.h>

namespace xops {

// HF's x * rsqrt(mean(x^2) + eps) * w.
at::Tensor rms_norm_rows(const at::Tensor& x, const at::Tensor& w, double eps);
// (x - mean) / sqrt(var + eps) * w + b, the biased variance, as torch.nn.LayerNorm.
at::Tensor layer_norm_rows(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                           double eps);
// SwiGLU's silu(gate) * up for [N, F] rows that may be strided (slices of one stacked
// gate/up product), into a new contiguous [N, F]; undefined when it does not apply.
at::Tensor silu_mul_rows(const at::Tensor& gate, const at::Tensor& up);
// x += y in place; false (nothing done) when it does not apply.
bool add_rows_inplace(at::Tensor& x, const at::Tensor& y);

}  // namespace xops
