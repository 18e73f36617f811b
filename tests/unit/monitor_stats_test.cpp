// The statistics behind `xops monitor --drift`, on samples whose answers are known by hand:
// the binomial tail (summed out by hand), KS on disjoint and overlapping samples, PSI of a
// sample against itself, and embedding drift on constructed vectors (the same cloud, a
// shifted cloud, a cloud that is only rescaled, too few cases).
#include <catch2/catch.hpp>

#include <random>

#include "core/error.hpp"
#include "core/monitor/drift.hpp"
#include "core/monitor/embedding_drift.hpp"

using namespace xops;

TEST_CASE("monitor stats: binomial tail, KS and PSI against hand-computed values",
          "[unit][monitor]") {
  CHECK(binomial_tail(0, 10, 0.05) == 1);
  CHECK(binomial_tail(2, 3, 0.5) == Approx(0.5));  // 3/8 + 1/8
  // 1 - (0.95^10 + 10 * 0.05 * 0.95^9 + 45 * 0.05^2 * 0.95^8)
  CHECK(binomial_tail(3, 10, 0.05) == Approx(0.0115036).epsilon(1e-4));
  CHECK(binomial_tail(11, 10, 0.05) == 0);
  CHECK(ks_statistic({1, 2, 3}, {4, 5, 6}) == Approx(1));
  CHECK(ks_statistic({1, 2, 3, 4}, {3, 4, 5, 6}) == Approx(0.5));
  std::vector<double> same{1, 2, 2, 3, 5, 8, 13, 21, 34, 55};
  CHECK(population_stability(same, same) == Approx(0).margin(1e-12));
}

namespace {
std::vector<std::vector<float>> cloud(std::mt19937& rng, size_t n, std::vector<float> center,
                                      float spread) {
  std::normal_distribution<float> nd(0, spread);
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < n; ++i) {
    auto v = center;
    for (auto& x : v) x += nd(rng);
    out.push_back(v);
  }
  return out;
}
}  // namespace

TEST_CASE(
    "monitor stats: embedding drift is quiet on the suite's own distribution and loud on "
    "another",
    "[unit][monitor]") {
  std::mt19937 rng(5);
  std::vector<float> a(16, 0.f), b(16, 0.f);
  a[0] = 1, b[1] = 1;
  auto suite = cloud(rng, 40, a, 0.15f);
  auto alike = cloud(rng, 400, a, 0.15f);
  auto other = cloud(rng, 400, b, 0.15f);
  auto quiet = embedding_drift(suite, alike);
  CHECK_FALSE(quiet.drifted);
  CHECK(quiet.p_value > 0.01);
  CHECK(quiet.share_beyond < 0.12);
  auto loud = embedding_drift(suite, other);
  CHECK(loud.drifted);
  CHECK(loud.share_beyond == Approx(1));
  CHECK(loud.centroid_distance > 0.5);
  REQUIRE(loud.farthest.size() == 5);
  CHECK(loud.farthest[0].similarity <= loud.farthest[4].similarity);
  // Cosine similarity: the same directions at 10x the length are not a drift.
  auto scaled = alike;
  for (auto& v : scaled)
    for (auto& x : v) x *= 10;
  CHECK(embedding_drift(suite, scaled).share_beyond == Approx(quiet.share_beyond));
  // Too few cases to know their spread, or vectors of two sizes: refused.
  CHECK_THROWS_AS(embedding_drift({a, a, a, a}, alike), Error);
  CHECK_THROWS_AS(embedding_drift(suite, {std::vector<float>(3, 1.f)}), Error);
}
