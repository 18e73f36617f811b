// The decoder step's LayerNorm, RMSNorm and residual add against LibTorch's layer_norm and the
// RMSNorm formula evaluated in double, for one row (decode), a few, and enough to be split across
// threads; inputs they do not take come back undefined.
// LibTorch's headers first: they bring glog's CHECK, which Catch's must replace.
#include <ATen/ATen.h>
#undef CHECK

#include <catch2/catch.hpp>

#include "core/torch/step_ops.hpp"

using namespace xops;

TEST_CASE("step ops: LayerNorm and RMSNorm against double-precision references", "[kernels]") {
  at::manual_seed(5);
  for (int64_t D : {32, 768})
    for (int64_t N : {1, 3, 300}) {
      INFO(N << " rows of " << D);
      auto x = at::randn({N, D}) * 3 + 1, w = at::randn({D}), b = at::randn({D});
      auto xd = x.to(at::kDouble);
      auto ln = layer_norm_rows(x, w, b, 1e-5);
      REQUIRE(ln.defined());
      auto ln_want = at::layer_norm(xd, {D}, w.to(at::kDouble), b.to(at::kDouble), 1e-5);
      CHECK(at::allclose(ln.to(at::kDouble), ln_want, 1e-4, 1e-5));
      auto rms = rms_norm_rows(x, w, 1e-6);
      REQUIRE(rms.defined());
      auto rms_want = xd * at::rsqrt(xd.pow(2).mean(-1, true) + 1e-6) * w.to(at::kDouble);
      CHECK(at::allclose(rms.to(at::kDouble), rms_want, 1e-4, 1e-5));
    }
  auto x = at::randn({4, 16}), w = at::ones({16}), b = at::zeros({16});
  CHECK_FALSE(layer_norm_rows(x.to(at::kBFloat16), w, b, 1e-5).defined());
  CHECK_FALSE(layer_norm_rows(x.t(), w, b, 1e-5).defined());  // not contiguous
  CHECK_FALSE(layer_norm_rows(x, at::ones({8}), b, 1e-5).defined());
  CHECK_FALSE(rms_norm_rows(x, at::ones({8}), 1e-5).defined());
}

TEST_CASE("step ops: the residual add is in place and refuses what it cannot take", "[kernels]") {
  for (int64_t N : {1, 300}) {
    auto x = at::randn({N, 768}), y = at::randn({N, 768});
    auto want = x + y;
    auto before = x.data_ptr();
    REQUIRE(add_rows_inplace(x, y));
    CHECK(x.data_ptr() == before);
    CHECK(at::equal(x, want));
  }
  auto x = at::randn({4, 16});
  CHECK_FALSE(add_rows_inplace(x, at::randn({4, 8})));
  CHECK_FALSE(add_rows_inplace(x, at::randn({4, 16}).to(at::kBFloat16)));
}

TEST_CASE("step ops: SwiGLU's silu(gate) * up over strided rows against double", "[kernels]") {
  at::manual_seed(9);
  for (int64_t N : {1, 3, 200})
    for (int64_t F : {2048, 37}) {  // 37: a partial 16-lane block
      INFO(N << " rows of " << F);
      auto gu = at::randn({N, 2 * F}) * 4;  // one stacked product: gate | up
      auto g = gu.narrow(1, 0, F), u = gu.narrow(1, F, F);
      auto got = silu_mul_rows(g, u);
      if (!got.defined()) return;  // no AVX-512: LibTorch's ops run
      auto gd = g.to(at::kDouble), ud = u.to(at::kDouble);
      CHECK(got.is_contiguous());
      CHECK(at::allclose(got.to(at::kDouble), gd * at::sigmoid(gd) * ud, 1e-5, 1e-6));
    }
  CHECK_FALSE(silu_mul_rows(at::randn({2, 8}), at::randn({2, 9})).defined());
  CHECK_FALSE(silu_mul_rows(at::randn({8, 2}).t(), at::randn({2, 8})).defined());
}
