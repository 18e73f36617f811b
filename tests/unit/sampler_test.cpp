// The sampler against a reference written the obvious way (sort the whole vocabulary, apply
// top_k, then top_p over what is left, renormalise): the frequencies of 100,000 draws must
// match the reference's probabilities for every token, including the paths that sort only
// a head of the vocabulary (a flat distribution whose top_p needs far more than 64 tokens).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "core/engine/generation.hpp"

using namespace xops;

namespace {

std::vector<double> reference(const std::vector<float>& logits, const SamplingOptions& o) {
  const size_t V = logits.size();
  std::vector<std::pair<float, int32_t>> c;
  for (size_t i = 0; i < V; ++i) c.emplace_back(logits[i], static_cast<int32_t>(i));
  std::sort(c.begin(), c.end(), std::greater<>());
  size_t keep = o.top_k > 0 ? std::min<size_t>(V, static_cast<size_t>(o.top_k)) : V;
  std::vector<double> w(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i)
    sum += w[i] = std::exp((c[i].first - c[0].first) / o.temperature);
  if (o.top_p < 1.0) {
    double acc = 0;
    size_t n = 0;
    while (n < keep && acc < o.top_p * sum) acc += w[n++];
    keep = std::max<size_t>(1, n);
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += w[i];
  std::vector<double> p(V, 0.0);
  for (size_t i = 0; i < keep; ++i) p[static_cast<size_t>(c[i].second)] = w[i] / kept;
  return p;
}

void check_matches(const std::vector<float>& logits, const SamplingOptions& o) {
  const int draws = 100000;
  Sampler s(o, 11);
  std::vector<int> count(logits.size(), 0);
  for (int i = 0; i < draws; ++i)
    ++count[static_cast<size_t>(s.sample(logits.data(), logits.size()))];
  auto p = reference(logits, o);
  for (size_t i = 0; i < logits.size(); ++i) {
    INFO("token " << i << " p " << p[i] << " seen " << count[i]);
    if (p[i] == 0) {
      CHECK(count[i] == 0);
    } else {
      // 5 standard deviations of a binomial count, plus one draw.
      const double sd = std::sqrt(draws * p[i] * (1 - p[i]));
      CHECK(std::abs(count[i] - draws * p[i]) <= 5 * sd + 1);
    }
  }
}

}  // namespace

TEST_CASE("sampler: temperature, top_k and top_p draw what the sorted reference defines",
          "[unit][sampling]") {
  std::mt19937 r(3);
  std::normal_distribution<float> n(0.f, 2.f);
  std::vector<float> peaked(300);
  for (auto& v : peaked) v = n(r);
  peaked[17] = 9.f, peaked[250] = 8.5f;
  peaked[5] = peaked[6] = 7.f;  // a tie: the higher id ranks first, as std::greater on pairs
  SamplingOptions o;
  o.temperature = 1.0;
  SECTION("plain temperature") {
    check_matches(peaked, o);
  }
  SECTION("hot temperature") {
    o.temperature = 2.5;
    check_matches(peaked, o);
  }
  SECTION("top_k") {
    o.top_k = 3;  // 17, 250 and one of the tied pair
    check_matches(peaked, o);
  }
  SECTION("top_p") {
    o.top_p = 0.8;
    check_matches(peaked, o);
  }
  SECTION("top_k then top_p within it") {
    o.top_k = 20;
    o.top_p = 0.5;
    check_matches(peaked, o);
  }
  SECTION("top_p over a flat distribution needs most of the vocabulary") {
    std::vector<float> flat(1000);
    for (size_t i = 0; i < flat.size(); ++i) flat[i] = 0.001f * static_cast<float>(i % 7);
    o.top_p = 0.9;
    check_matches(flat, o);
  }
}

TEST_CASE("sampler: a seed repeats its draws, another seed does not", "[unit][sampling]") {
  std::vector<float> logits(500);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i));
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_p = 0.95;
  Sampler a(o, 5), b(o, 5), c(o, 6);
  std::vector<int32_t> da, db, dc;
  for (int i = 0; i < 50; ++i) {
    da.push_back(a.sample(logits.data(), logits.size()));
    db.push_back(b.sample(logits.data(), logits.size()));
    dc.push_back(c.sample(logits.data(), logits.size()));
  }
  CHECK(da == db);
  CHECK(da != dc);
}
