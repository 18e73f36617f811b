// Attention of decode rows and prompt chunks straight over the KV caches against a
// double-precision evaluation of softmax(q K^T / sqrt(d)) V over what the caches hold
// afterwards (LibTorch ops in double),
// for the vector head sizes (16, 32, 64, 128), a scalar one (8), fp32 and bf16 caches,
// grouped-query heads, context lengths that leave partial 16-lane blocks, and prompt rows in
// tiles (each sees only positions up to its own, though later rows of its chunk are written).
// LibTorch's headers first: they bring glog's CHECK, which Catch's must replace.
#include <ATen/ATen.h>
#undef CHECK

#include <catch2/catch.hpp>

#include "core/torch/decode_attention.hpp"

using namespace xops;

TEST_CASE("decode attention: every head size and cache type against a double reference",
          "[kernels]") {
  if (!decode_attention_supported()) return;  // a CPU without AVX-512: LibTorch's path runs
  at::manual_seed(11);
  const int slots = 3, n_head = 8, n_kv = 2;
  const int64_t ctx = 256;
  for (int hd : {8, 16, 32, 64, 128})
    for (bool bf16 : {false, true}) {
      INFO("head_dim " << hd << (bf16 ? " bf16" : " fp32") << " caches");
      const auto cdt = bf16 ? at::kBFloat16 : at::kFloat;
      auto kc = at::randn({slots, n_kv, ctx, hd}).to(cdt),
           vc = at::randn({slots, n_kv, ctx, hd}).to(cdt);
      // Rows: (slot, position): a first token, short and long contexts, partial blocks.
      std::vector<DecodeRow> rows{{0, 0, 0}, {1, 5, 1}, {2, 37, 2}, {0, 200, 3}, {1, 255, 4}};
      // Prompt chunks, consecutive positions of one slot: 21 rows (a 16-row tile and a
      // 5-row one) starting at 100 in slot 2, 3 rows (attended one by one) in slot 1 from 0,
      // and a chunk from position 0 in slot 0 that also holds decode row 3's cache.
      for (int64_t i = 0; i < 21; ++i)
        rows.push_back({2, 100 + i, static_cast<int64_t>(rows.size())});
      for (int64_t i = 0; i < 3; ++i) rows.push_back({1, i, static_cast<int64_t>(rows.size())});
      for (int64_t i = 0; i < 7; ++i) rows.push_back({0, 1 + i, static_cast<int64_t>(rows.size())});
      const int64_t N = static_cast<int64_t>(rows.size());
      auto q = at::randn({N, n_head * hd}) * 2, k = at::randn({N, n_kv * hd}),
           v = at::randn({N, n_kv * hd});
      auto y = at::full({N, n_head * hd}, 7.0f);
      DecodeAttention a;
      a.n_head = n_head, a.n_kv = n_kv, a.head_dim = hd, a.context = ctx, a.bf16 = bf16;
      a.k_cache = kc.data_ptr(), a.v_cache = vc.data_ptr();
      a.q = q.data_ptr<float>(), a.k = k.data_ptr<float>(), a.v = v.data_ptr<float>();
      a.q_stride = q.stride(0), a.k_stride = k.stride(0), a.v_stride = v.stride(0);
      a.y = y.data_ptr<float>();
      decode_attention(a, rows, 2);
      for (const auto& r : rows) {
        INFO("slot " << r.slot << " position " << r.pos);
        // The new key and value landed at the row's position (rounded to bf16 if so).
        auto knew = kc[r.slot].select(1, r.pos).reshape({n_kv * hd}).to(at::kFloat);
        CHECK(at::allclose(knew, k[r.row].to(cdt).to(at::kFloat)));
        for (int h = 0; h < n_head; ++h) {
          const int kv = h / (n_head / n_kv);
          auto K = kc[r.slot][kv].narrow(0, 0, r.pos + 1).to(at::kDouble);
          auto V = vc[r.slot][kv].narrow(0, 0, r.pos + 1).to(at::kDouble);
          auto qh = q[r.row].narrow(0, h * hd, hd).to(at::kDouble);
          auto p = at::softmax(at::mv(K, qh) / std::sqrt(static_cast<double>(hd)), 0);
          auto want = at::mv(V.t(), p);
          auto got = y[r.row].narrow(0, h * hd, hd).to(at::kDouble);
          CHECK(at::allclose(got, want, 1e-4, 1e-5));
        }
      }
    }
}
