#include "core/monitor/coverage.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"

namespace xops {

namespace {

std::vector<float> unit(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  std::vector<float> out(v);
  if (s > 0)
    for (auto& x : out) x = static_cast<float>(x / std::sqrt(s));
  return out;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

}  // namespace

Coverage coverage(const std::vector<std::vector<float>>& cases_in,
                  const std::vector<std::vector<float>>& prompts_in,
                  const std::vector<std::string>& groups, double threshold, size_t max_clusters) {
  if (cases_in.empty()) throw usage_error("coverage needs a suite with at least one case");
  if (!groups.empty() && groups.size() != prompts_in.size())
    throw runtime_error("coverage: one group per prompt");
  std::vector<std::vector<float>> cases, prompts;
  for (const auto& c : cases_in) cases.push_back(unit(c));
  for (const auto& p : prompts_in) {
    if (p.size() != cases[0].size())
      throw usage_error("the prompts and the cases were embedded with different dimensions");
    prompts.push_back(unit(p));
  }
  Coverage out;
  out.threshold_auto = threshold <= 0;
  if (out.threshold_auto) {
    if (cases.size() < 2)
      throw usage_error("an automatic coverage threshold needs 2 or more cases",
                        "give --threshold SIMILARITY");
    std::vector<double> nn;
    for (size_t i = 0; i < cases.size(); ++i) {
      double best = -1;
      for (size_t j = 0; j < cases.size(); ++j)
        if (j != i) best = std::max(best, dot(cases[i], cases[j]));
      nn.push_back(best);
    }
    std::sort(nn.begin(), nn.end());
    out.threshold = nn[static_cast<size_t>(std::floor(0.05 * double(nn.size() - 1)))];
  } else {
    out.threshold = threshold;
  }
  out.prompts = prompts.size();
  std::vector<size_t> uncovered;
  for (size_t i = 0; i < prompts.size(); ++i) {
    double best = -2;
    size_t at = 0;
    for (size_t c = 0; c < cases.size(); ++c) {
      double s = dot(prompts[i], cases[c]);
      if (s > best) best = s, at = c;
    }
    out.nearest.push_back(best);
    out.nearest_case.push_back(at);
    bool ok = best >= out.threshold - 1e-12;
    out.covered += ok;
    if (!groups.empty()) {
      auto& g = out.by_group[groups[i]];
      g.first += ok;
      ++g.second;
    }
    if (!ok) uncovered.push_back(i);
  }
  // Leaders in order of distance from the suite (the most foreign first), members join the
  // first leader they are near.
  std::stable_sort(uncovered.begin(), uncovered.end(),
                   [&](size_t a, size_t b) { return out.nearest[a] < out.nearest[b]; });
  std::vector<CoverageCluster> clusters;
  for (size_t i : uncovered) {
    bool joined = false;
    for (auto& c : clusters)
      if (dot(prompts[i], prompts[c.members[0]]) >= out.threshold) {
        c.members.push_back(i);
        joined = true;
        break;
      }
    if (!joined) clusters.push_back({{i}, out.nearest[i], out.nearest_case[i]});
  }
  std::stable_sort(clusters.begin(), clusters.end(),
                   [](const CoverageCluster& a, const CoverageCluster& b) {
                     return a.members.size() > b.members.size();
                   });
  if (clusters.size() > max_clusters) clusters.resize(max_clusters);
  out.uncovered = std::move(clusters);
  return out;
}

std::vector<size_t> most_novel(const std::vector<double>& nearest,
                               const std::vector<double>& scores, size_t n, double penalty) {
  std::vector<size_t> idx(nearest.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  auto rank = [&](size_t i) {
    double r = 1 - nearest[i];
    if (i < scores.size() && !std::isnan(scores[i]))
      r += penalty * (1 - std::clamp(scores[i], 0.0, 1.0));
    return r;
  };
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return rank(a) > rank(b); });
  if (idx.size() > n) idx.resize(n);
  return idx;
}

}  // namespace xops
