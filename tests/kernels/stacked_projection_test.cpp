// Llama's q/k/v (and gate/up) in one product over back-to-back weights, against each
// projection on its own (LibTorch's linear for the reference).
// LibTorch's headers first: they bring glog's CHECK, which Catch's must replace.
#include <ATen/ATen.h>
#undef CHECK

#include <catch2/catch.hpp>

#include "core/torch/row_projection.hpp"
#include "core/torch/transformer.hpp"

using namespace xops;

TEST_CASE("stacked projections: one product equals each projection, adapters included",
          "[kernels]") {
  at::manual_seed(3);
  for (auto dt : {at::kFloat, at::kBFloat16}) {
    INFO("dtype " << c10::toString(dt));
    const int64_t D = 96, outs[3] = {96, 32, 32};
    auto all = at::randn({160, D}).to(dt);  // q, k, v rows back to back
    Proj q, k, v;
    q.w = all.narrow(0, 0, 96), k.w = all.narrow(0, 96, 32), v.w = all.narrow(0, 128, 32);
    k.lora_a = at::randn({4, D}) * 0.1, k.lora_b = at::randn({32, 4}) * 0.1, k.lora_scale = 2.0;
    auto rows = at::from_blob(all.data_ptr(), {160, D}, all.options());
    for (int64_t n : {1, 5}) {  // decode rows (bf16 goes through small_gemm up to 8 rows)
      INFO(n << " rows");
      auto x = at::randn({n, D});
      auto got = project_stacked(rows, {&q, &k, &v}, x, {});
      REQUIRE(got.size() == 3);
      int i = 0;
      for (const Proj* p : {&q, &k, &v}) {
        auto want = at::linear(x, p->w.to(at::kFloat));
        if (p->lora_a.defined())
          want += at::linear(at::linear(x, p->lora_a), p->lora_b) * p->lora_scale;
        CHECK(got[i].sizes() == at::IntArrayRef({n, outs[i]}));
        CHECK(at::allclose(got[i], want, 1e-4, 1e-4));
        ++i;
      }
    }
    // Not back to back (a weight replaced since): empty, the caller projects each.
    Proj k2 = k;
    k2.w = k.w.clone();
    CHECK(project_stacked(rows, {&q, &k2, &v}, at::randn({1, D}), {}).empty());
    CHECK(project_stacked(at::Tensor(), {&q, &k, &v}, at::randn({1, D}), {}).empty());
  }
}
