// The hand-written GELU (tanh approximation) against a double-precision evaluation of its
// definition, gelu(x) = 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3),
// with gradients from LibTorch's autograd in double. LibTorch's own fp32/bf16 at::gelu is no
// oracle for small results: 1 + tanh(u) cancels for x below about -3 (its bf16 gelu(-3.06) is
// -0, the value is -0.00297), so it is compared only for agreement where it is accurate.
// LibTorch's headers first: they bring glog's CHECK, which Catch's must replace.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/generated/variable_factories.h>
#undef CHECK

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/torch/fast_gelu.hpp"

using namespace xops;

namespace {

// A dense sweep of [-12, 12], random values, and an odd count (a masked tail).
at::Tensor inputs() {
  at::manual_seed(7);
  return at::cat({at::linspace(-12, 12, 48001, at::kFloat), at::randn({1001}, at::kFloat) * 3});
}

at::Tensor reference(const at::Tensor& x) {
  auto d = x.to(at::kDouble);
  auto u = 0.7978845608028654 * (d + 0.044715 * d * d * d);
  return d * at::sigmoid(2 * u);
}

// How far past |want| * rel + abs the worst element is (<= 0: all within).
double excess(const at::Tensor& got, const at::Tensor& want, double rel, double abs) {
  auto g = got.to(at::kDouble), w = want.to(at::kDouble);
  return ((g - w).abs() - (w.abs() * rel + abs)).max().item<double>();
}

}  // namespace

TEST_CASE("fast gelu: the reference is LibTorch's gelu tanh where that is accurate", "[kernels]") {
  auto x = inputs().to(at::kDouble);
  auto near = x.abs() < 5;
  CHECK(excess(at::gelu(x, "tanh").masked_select(near), reference(x).masked_select(near), 0,
               1e-14) <= 0);
}

TEST_CASE("fast gelu: fp32 values and gradients", "[kernels]") {
  auto x = inputs();
  auto want = reference(x);
  auto got = gelu_tanh(x);
  REQUIRE(got.scalar_type() == at::kFloat);
  // Relative 1e-5: below x = -3 the value is ill-conditioned (d ln y / d ln x reaches 30 at
  // x = -4.7, so one ulp of x or u moves y by 2e-6); results below 1e-30 (x < -9.9, subnormal
  // in fp32) are only held absolutely.
  CHECK(excess(got, want, 1e-5, 1e-30) <= 0);
  auto near = x.abs() < 3;
  CHECK(excess(got.masked_select(near), want.masked_select(near), 2e-6, 1e-30) <= 0);
  // No worse than LibTorch's fp32 kernel anywhere.
  auto ours = (got.to(at::kDouble) - want).abs().max().item<double>();
  auto theirs = (at::gelu(x, "tanh").to(at::kDouble) - want).abs().max().item<double>();
  CHECK(ours <= 1.5 * theirs);

  auto dy = at::randn_like(x);
  auto a = x.clone().requires_grad_(true);
  gelu_tanh(a).backward(dy);
  auto d = x.to(at::kDouble).requires_grad_(true);
  reference(d).backward(dy.to(at::kDouble));
  REQUIRE(a.grad().defined());
  CHECK(excess(a.grad(), d.grad(), 1e-5, 1e-6) <= 0);
}

TEST_CASE("fast gelu: extremes, NaN, strided, empty and non-float inputs", "[kernels]") {
  const float inf = std::numeric_limits<float>::infinity();
  auto x = at::tensor({0.f, -0.f, 1e-30f, -1e-30f, 40.f, -40.f, 1e4f, -1e4f, 3e38f, -3e38f, inf},
                      at::kFloat);
  auto got = gelu_tanh(x);
  CHECK(at::equal(got.narrow(0, 0, 10), reference(x.narrow(0, 0, 10)).to(at::kFloat)));
  CHECK(got[10].item<float>() == inf);
  CHECK(gelu_tanh(at::full({17}, std::numeric_limits<float>::quiet_NaN()))
            .isnan()
            .all()
            .item<bool>());
  auto t = at::randn({64, 96}, at::kFloat).t();  // not contiguous
  CHECK(excess(gelu_tanh(t), reference(t), 1e-5, 1e-30) <= 0);
  CHECK(gelu_tanh(at::empty({0}, at::kFloat)).numel() == 0);
  auto d = at::randn({33}, at::kDouble);  // not a fast-path dtype: LibTorch's kernel
  CHECK(at::allclose(gelu_tanh(d), at::gelu(d, "tanh")));
}

TEST_CASE("fast gelu: bf16 is the fp32 result rounded to nearest", "[kernels]") {
  auto x = inputs().to(at::kBFloat16);
  auto got = gelu_tanh(x);
  REQUIRE(got.scalar_type() == at::kBFloat16);
  CHECK(at::equal(got, gelu_tanh(x.to(at::kFloat)).to(at::kBFloat16)));
  // Rounded once: within half a bf16 step (2^-8 relative) of the exact value, plus the fp32
  // kernel's few ulps.
  CHECK(excess(got, reference(x), 1.0 / 256 + 1e-5, 1e-30) <= 0);

  auto dy = at::randn(x.sizes(), at::kFloat).to(at::kBFloat16);
  auto a = x.clone().requires_grad_(true);
  gelu_tanh(a).backward(dy);
  REQUIRE(a.grad().scalar_type() == at::kBFloat16);
  auto d = x.to(at::kDouble).requires_grad_(true);
  reference(d).backward(dy.to(at::kDouble));
  CHECK(excess(a.grad(), d.grad(), 1.0 / 256 + 1e-5, 1e-6) <= 0);
}
