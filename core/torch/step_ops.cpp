#include "core/torch/step_ops.hpp"

#include <algorithm>
#include <cmath>

#include "core/torch/avx512_math.hpp"
#include "core/torch/small_gemm.hpp"  // cpu_has_avx512
#include "core/torch/unit_pool.hpp"

namespace xops {

namespace {

bool fp32_rows(const at::Tensor& t, int dims) {
  return t.defined() && t.is_cpu() && t.scalar_type() == at::kFloat && t.dim() == dims &&
         t.is_contiguous();
}

// Rows in units of at least ~16k elements: below that a hand-off costs more than the work.
template <class F>
void for_row_blocks(int64_t N, int64_t D, const F& rows) {
  const int64_t per = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, D));
  const int units = static_cast<int>((N + per - 1) / per);
  for_each_unit(units, at::get_num_threads(),
                [&](int u) { rows(u * per, std::min(N, (u + 1) * per)); });
}

// silu(g) * u = g * u / (1 + e^-g), 16 lanes at a time.
XOPS_AVX512 void silu_mul_row(const float* g, const float* u, float* y, int64_t F) {
  for (int64_t i = 0; i < F; i += 16) {
    const __mmask16 m = tail(F - i);
    const __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv));
    const __m512 s = _mm512_div_ps(gv, _mm512_add_ps(_mm512_set1_ps(1.f), e));
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
  }
}

}  // namespace

at::Tensor silu_mul_rows(const at::Tensor& gate, const at::Tensor& up) {
  auto rows = [](const at::Tensor& t) {
    return t.defined() && t.is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 2 &&
           t.stride(1) == 1;
  };
  if (!cpu_has_avx512() || !rows(gate) || !rows(up) || gate.sizes() != up.sizes()) return {};
  const int64_t N = gate.size(0), F = gate.size(1), gs = gate.stride(0), us = up.stride(0);
  auto y = at::empty({N, F}, at::kFloat);
  const float *gp = gate.data_ptr<float>(), *up_ = up.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for_row_blocks(N, F, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) silu_mul_row(gp + n * gs, up_ + n * us, yp + n * F, F);
  });
  return y;
}

at::Tensor rms_norm_rows(const at::Tensor& x, const at::Tensor& w, double eps) {
  if (!fp32_rows(x, 2) || !fp32_rows(w, 1) || w.size(0) != x.size(1)) return {};
  const int64_t N = x.size(0), D = x.size(1);
  auto y = at::empty({N, D}, at::kFloat);
  const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for_row_blocks(N, D, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const float* xr = xp + n * D;
      float ss = 0.f;
      for (int64_t i = 0; i < D; ++i) ss += xr[i] * xr[i];
      const float r = 1.0f / std::sqrt(ss / static_cast<float>(D) + static_cast<float>(eps));
      for (int64_t i = 0; i < D; ++i) yp[n * D + i] = xr[i] * r * wp[i];
    }
  });
  return y;
}

at::Tensor layer_norm_rows(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                           double eps) {
  if (!fp32_rows(x, 2) || !fp32_rows(w, 1) || !fp32_rows(b, 1) || w.size(0) != x.size(1) ||
      b.size(0) != x.size(1))
    return {};
  const int64_t N = x.size(0), D = x.size(1);
  auto y = at::empty({N, D}, at::kFloat);
  const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>(), *bp = b.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for_row_blocks(N, D, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      const float* xr = xp + n * D;
      float* yr = yp + n * D;
      float sum = 0.f;
      for (int64_t i = 0; i < D; ++i) sum += xr[i];
      const float mean = sum / static_cast<float>(D);
      float ss = 0.f;
      for (int64_t i = 0; i < D; ++i) ss += (xr[i] - mean) * (xr[i] - mean);
      const float r = 1.0f / std::sqrt(ss / static_cast<float>(D) + static_cast<float>(eps));
      for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mean) * r * wp[i] + bp[i];
    }
  });
  return y;
}

bool add_rows_inplace(at::Tensor& x, const at::Tensor& y) {
  if (!fp32_rows(x, 2) || !fp32_rows(y, 2) || x.sizes() != y.sizes()) return false;
  const int64_t N = x.size(0), D = x.size(1);
  float* xp = x.data_ptr<float>();
  const float* yp = y.data_ptr<float>();
  for_row_blocks(N, D, [&](int64_t b, int64_t e) {
    for (int64_t i = b * D; i < e * D; ++i) xp[i] += yp[i];
  });
  return true;
}

}  // namespace xops
