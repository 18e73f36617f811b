// The Q8_0 product against ggml's arithmetic written out in double: each row of x quantized
// per 32-block (scale max|x|/127 rounded to fp16, values rounded half to even), integer sums
// per block, scaled by both blocks' scales. Weights span the whole int8 range, -128 included
// (ggml never writes it; a GGUF from elsewhere may), and K covers a lone block, an odd block
// after pairs, and a model's width; both the VNNI form and the vpmaddubsw one (which runs where
// AVX512-VNNI is missing).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/model/ggml_types.hpp"
#include "core/torch/q8_gemm.hpp"

using namespace xops;

namespace {

struct Quantized {
  std::vector<int> q;
  std::vector<double> d;
};

Quantized ggml_quantize(const float* x, int K) {
  Quantized r;
  for (int b = 0; b < K / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    r.d.push_back(fp16_to_fp32(fp32_to_fp16(amax / 127.f)));
    const float id = amax != 0 ? 127.f / amax : 0.f;
    for (int j = 0; j < 32; ++j) {
      float v = std::nearbyint(x[b * 32 + j] * id);
      r.q.push_back(static_cast<int>(std::min(127.f, std::max(-128.f, v))));
    }
  }
  return r;
}

}  // namespace

TEST_CASE("q8 gemm: ggml's Q8_0 x Q8_0 arithmetic, every tile height and block layout",
          "[kernels]") {
  if (!q8_gemm_supported()) {
    WARN("this CPU lacks AVX-512: q8_gemm is not used here");
    return;
  }
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> byte(-128, 127);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (bool vnni : {true, false})
    for (int K : {32, 96, 768})
      for (int M : {1, 2, 3, 4, 5, 9})
        for (int N : {1, 7, 300}) {
          INFO(M << " x " << K << " by " << N << " weight rows" << (vnni ? ", VNNI" : ""));
          const int nb = K / 32;
          // ggml's blocks: an fp16 scale, then 32 int8 values.
          std::vector<uint8_t> blocks(static_cast<size_t>(N) * nb * 34);
          for (int n = 0; n < N; ++n)
            for (int b = 0; b < nb; ++b) {
              uint8_t* blk = &blocks[(static_cast<size_t>(n) * nb + b) * 34];
              const uint16_t h = fp32_to_fp16(0.01f * normal(rng));
              std::memcpy(blk, &h, 2);
              for (int j = 0; j < 32; ++j) blk[2 + j] = static_cast<uint8_t>(byte(rng));
            }
          std::vector<int8_t> wq(static_cast<size_t>(N) * K);
          std::vector<float> wd(static_cast<size_t>(N) * nb);
          q8_repack(blocks.data(), N, K, wq.data(), wd.data());
          std::vector<float> x(static_cast<size_t>(M) * K), bias(N), y(static_cast<size_t>(M) * N);
          for (auto& v : x) v = 3 * normal(rng);
          if (M > 1)  // a block of zeros quantizes to scale 0
            std::fill(x.begin() + K, x.begin() + K + 32, 0.f);
          for (auto& v : bias) v = normal(rng);
          Q8Gemm g;
          g.x = x.data(), g.M = M, g.K = K, g.N = N;
          g.wq = wq.data(), g.wd = wd.data(), g.bias = bias.data(), g.y = y.data();
          g.vnni = vnni;  // the biased-activation products, or |w| with w's sign on q
          q8_gemm(g, 2);
          double worst = 0;
          for (int m = 0; m < M; ++m) {
            const auto xq = ggml_quantize(&x[static_cast<size_t>(m) * K], K);
            for (int n = 0; n < N; ++n) {
              double want = bias[static_cast<size_t>(n)], scale = 0;
              for (int b = 0; b < nb; ++b) {
                const uint8_t* blk = &blocks[(static_cast<size_t>(n) * nb + b) * 34];
                uint16_t h;
                std::memcpy(&h, blk, 2);
                int64_t isum = 0;
                for (int j = 0; j < 32; ++j)
                  isum += int64_t{xq.q[static_cast<size_t>(b * 32 + j)]} *
                          static_cast<int8_t>(blk[2 + j]);
                const double term = xq.d[static_cast<size_t>(b)] * fp16_to_fp32(h) * double(isum);
                want += term;
                scale += std::fabs(term);
              }
              const double got = y[static_cast<size_t>(m) * N + n];
              worst = std::max(worst, std::fabs(got - want) / (scale + std::fabs(want) + 1e-30));
            }
          }
          // fp32 lanes and a 16-lane reduction over up to 24 blocks: a few 1e-6 of the terms'
          // magnitude. One value quantized one step off moves a 768-wide sum by ~1e-4.
          CHECK(worst < 2e-5);
        }
}
