#include "core/torch/fast_gelu.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <immintrin.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstdint>

#include "core/torch/avx512_math.hpp"
#include "core/torch/small_gemm.hpp"

namespace xops {

namespace {

constexpr float kC0 = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kC1 = 0.044715f;

// sigmoid(2u) for u = sqrt(2/pi) (x + 0.044715 x^3): 0.5 (1 + tanh(u)).
XOPS_AVX512 inline __m512 half_one_plus_tanh(__m512 x, __m512 x2) {
  const __m512 u = _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(kC0)),
                                 _mm512_fmadd_ps(x2, _mm512_set1_ps(kC1), _mm512_set1_ps(1.f)));
  const __m512 e = exp512(_mm512_mul_ps(u, _mm512_set1_ps(-2.f)));
  return _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_add_ps(_mm512_set1_ps(1.f), e));
}

XOPS_AVX512 inline __m512 gelu(__m512 x) {
  return _mm512_mul_ps(x, half_one_plus_tanh(x, _mm512_mul_ps(x, x)));
}

// d gelu / dx = s + x s (1 - s) 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2), s = sigmoid(2u).
XOPS_AVX512 inline __m512 gelu_grad(__m512 x, __m512 dy) {
  const __m512 x2 = _mm512_mul_ps(x, x);
  const __m512 s = half_one_plus_tanh(x, x2);
  const __m512 du =
      _mm512_mul_ps(_mm512_set1_ps(2.f * kC0),
                    _mm512_fmadd_ps(x2, _mm512_set1_ps(3.f * kC1), _mm512_set1_ps(1.f)));
  const __m512 ds = _mm512_mul_ps(s, _mm512_sub_ps(_mm512_set1_ps(1.f), s));
  return _mm512_mul_ps(dy, _mm512_fmadd_ps(_mm512_mul_ps(x, ds), du, s));
}

template <class T>
XOPS_AVX512 void forward_span(const T* x, T* y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i += 16) {
    const auto m = tail(e - i);
    store16(y + i, gelu(load16(x + i, m)), m);
  }
}

template <class T>
XOPS_AVX512 void backward_span(const T* x, const T* dy, T* dx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; i += 16) {
    const auto m = tail(e - i);
    store16(dx + i, gelu_grad(load16(x + i, m), load16(dy + i, m)), m);
  }
}

constexpr int64_t kGrain = 16384;  // elements per task: far above a thread hand-off's cost

bool fast_path(const at::Tensor& x) {
  return x.device().is_cpu() &&
         (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16) && cpu_has_avx512();
}

// Inference runs on the engine's own threads, as the decode kernels around it do (two
// thread pools handing a step back and forth cost more than the GELU); training keeps
// LibTorch's, which run everything else of its step.
template <class T>
void forward_all(const T* xp, T* yp, int64_t n, bool own_threads) {
  if (!own_threads) {
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { forward_span(xp, yp, b, e); });
    return;
  }
  const int units = static_cast<int>((n + kGrain - 1) / kGrain);
  for_each_unit(units, at::get_num_threads(),
                [&](int u) { forward_span(xp, yp, u * kGrain, std::min(n, (u + 1) * kGrain)); });
}

at::Tensor forward_kernel(const at::Tensor& input, bool own_threads) {
  auto x = input.contiguous();
  auto y = at::empty_like(x);
  const int64_t n = x.numel();
  if (x.scalar_type() == at::kFloat)
    forward_all(x.data_ptr<float>(), y.data_ptr<float>(), n, own_threads);
  else
    forward_all(x.data_ptr<at::BFloat16>(), y.data_ptr<at::BFloat16>(), n, own_threads);
  return y;
}

at::Tensor backward_kernel(const at::Tensor& input, const at::Tensor& grad) {
  auto x = input.contiguous();
  auto dy = grad.to(x.scalar_type()).contiguous();
  auto dx = at::empty_like(x);
  const int64_t n = x.numel();
  if (x.scalar_type() == at::kFloat) {
    const float *xp = x.data_ptr<float>(), *gp = dy.data_ptr<float>();
    float* dp = dx.data_ptr<float>();
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { backward_span(xp, gp, dp, b, e); });
  } else {
    const auto *xp = x.data_ptr<at::BFloat16>(), *gp = dy.data_ptr<at::BFloat16>();
    auto* dp = dx.data_ptr<at::BFloat16>();
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { backward_span(xp, gp, dp, b, e); });
  }
  return dx;
}

struct GeluTanhFunction : torch::autograd::Function<GeluTanhFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    return forward_kernel(x, false);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto x = ctx->get_saved_variables()[0];
    return {backward_kernel(x, grads[0])};
  }
};

}  // namespace

at::Tensor gelu_tanh(const at::Tensor& x) {
  if (!fast_path(x)) return at::gelu(x, "tanh");
  if (x.requires_grad() && at::GradMode::is_enabled()) return GeluTanhFunction::apply(x);
  return forward_kernel(x, true);
}

}  // namespace xops
