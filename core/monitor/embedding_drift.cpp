#include "core/monitor/embedding_drift.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace xops {

namespace {

std::vector<double> unit(const std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += double(x) * double(x);
  n = std::sqrt(n);
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = n > 0 ? v[i] / n : 0;
  return out;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<double> mean_of(const std::vector<std::vector<double>>& vs) {
  std::vector<double> m(vs[0].size(), 0.0);
  for (const auto& v : vs)
    for (size_t i = 0; i < v.size(); ++i) m[i] += v[i];
  return m;
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double na = std::sqrt(dot(a, a)), nb = std::sqrt(dot(b, b));
  return na > 0 && nb > 0 ? dot(a, b) / (na * nb) : 0;
}

}  // namespace

double binomial_tail(size_t k, size_t n, double p) {
  if (k == 0) return 1;
  if (k > n) return 0;
  // Sum of the pmf from k to n in log space (n is at most a few thousand here).
  double total = 0;
  for (size_t i = k; i <= n; ++i) {
    double log_pmf = std::lgamma(double(n) + 1) - std::lgamma(double(i) + 1) -
                     std::lgamma(double(n - i) + 1) + double(i) * std::log(p) +
                     double(n - i) * std::log1p(-p);
    total += std::exp(log_pmf);
  }
  return std::min(1.0, total);
}

EmbeddingDrift embedding_drift(const std::vector<std::vector<float>>& reference,
                               const std::vector<std::vector<float>>& current, double quantile) {
  if (reference.size() < 5)
    throw usage_error(fmt::format("embedding drift needs at least 5 reference prompts (the suite "
                                  "has {})",
                                  reference.size()),
                      "a suite with more cases, or drift of lengths only (--drift)");
  if (current.empty()) throw usage_error("no served prompts in the window to compare");
  const size_t dim = reference[0].size();
  for (const auto* set : {&reference, &current})
    for (const auto& v : *set)
      if (v.size() != dim || dim == 0)
        throw usage_error("the embedding provider returned vectors of different sizes");
  std::vector<std::vector<double>> ref, cur;
  for (const auto& v : reference) ref.push_back(unit(v));
  for (const auto& v : current) cur.push_back(unit(v));
  EmbeddingDrift d;
  d.n_reference = ref.size();
  d.n_current = cur.size();
  d.quantile = quantile;
  d.centroid_distance = 1 - cosine(mean_of(ref), mean_of(cur));
  // Each case's nearest other case: how close the suite's own prompts are to each other.
  std::vector<double> own;
  for (size_t i = 0; i < ref.size(); ++i) {
    double best = -1;
    for (size_t j = 0; j < ref.size(); ++j)
      if (j != i) best = std::max(best, dot(ref[i], ref[j]));
    own.push_back(best);
  }
  std::sort(own.begin(), own.end());
  d.threshold = own[static_cast<size_t>(std::floor(quantile * double(own.size() - 1)))];
  std::vector<EmbeddingDrift::Example> all;
  size_t beyond = 0;
  for (size_t i = 0; i < cur.size(); ++i) {
    EmbeddingDrift::Example e{i, 0, -2};
    for (size_t j = 0; j < ref.size(); ++j)
      if (double s = dot(cur[i], ref[j]); s > e.similarity) e.similarity = s, e.nearest = j;
    beyond += e.similarity < d.threshold;
    all.push_back(e);
  }
  d.share_beyond = double(beyond) / double(cur.size());
  d.p_value = binomial_tail(beyond, cur.size(), quantile);
  d.drifted = d.p_value < 0.01 && d.share_beyond > 2 * quantile;
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.similarity < b.similarity; });
  all.resize(std::min<size_t>(all.size(), 5));
  d.farthest = all;
  return d;
}

}  // namespace xops
