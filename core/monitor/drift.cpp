#include "core/monitor/drift.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace xops {

const std::vector<const char*> kRefusalOpenings = {
    "i can't",         "i cannot",         "i can\u2019t", "i'm sorry",   "i am sorry",
    "i'm not able to", "i am not able to", "i'm unable",   "i am unable", "as an ai"};

double population_stability(std::vector<double> ref, std::vector<double> cur) {
  if (ref.empty() || cur.empty()) return 0;
  std::sort(ref.begin(), ref.end());
  // Bin edges: the reference's deciles, each once (token counts repeat).
  std::vector<double> edges;
  for (int k = 1; k < 10; ++k) {
    double e = ref[std::min(ref.size() - 1, ref.size() * static_cast<size_t>(k) / 10)];
    if (edges.empty() || e > edges.back()) edges.push_back(e);
  }
  auto shares = [&](const std::vector<double>& v) {
    std::vector<double> n(edges.size() + 1, 0);
    for (double x : v)
      ++n[static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin())];
    for (auto& c : n) c = (c + 0.5) / (static_cast<double>(v.size()) + 0.5 * n.size());
    return n;
  };
  auto r = shares(ref), c = shares(cur);
  double psi = 0;
  for (size_t i = 0; i < r.size(); ++i) psi += (c[i] - r[i]) * std::log(c[i] / r[i]);
  return psi;
}

double ks_statistic(std::vector<double> a, std::vector<double> b) {
  if (a.empty() || b.empty()) return 0;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  size_t i = 0, j = 0;
  double d = 0;
  while (i < a.size() && j < b.size()) {
    double x = std::min(a[i], b[j]);
    while (i < a.size() && a[i] <= x) ++i;
    while (j < b.size() && b[j] <= x) ++j;
    d = std::max(d,
                 std::fabs(static_cast<double>(i) / a.size() - static_cast<double>(j) / b.size()));
  }
  return d;
}

DriftReport traffic_drift(db::Database& db, const DriftWindow& reference,
                          const DriftWindow& current, const std::string& only,
                          double psi_threshold) {
  DriftReport out;
  out.reference = reference;
  out.current = current;
  struct Sample {
    std::vector<double> prompt, completion;
    size_t truncated = 0, empty = 0, refused = 0;
  } ref, cur;
  // A refusal: an answer that opens by declining (matched in SQL on its first 200 characters,
  // so answers never leave the database).
  std::string refused = "(";
  for (const char* p : kRefusalOpenings) {
    std::string quoted;  // a literal in SQL: ' doubled
    for (const char* c = p; *c; ++c) quoted += *c == '\'' ? std::string("''") : std::string(1, *c);
    refused += fmt::format("{}lower(substr(output, 1, 200)) LIKE '%{}%'",
                           refused.size() > 1 ? " OR " : "", quoted);
  }
  refused += ")";
  auto st = db.prepare(
      "SELECT created_ms, model, version, prompt_tokens, completion_tokens, finish_reason, "
      "CASE WHEN " +
      refused +
      " THEN 1 ELSE 0 END FROM interactions WHERE created_ms >= ? AND created_ms < ? AND "
      "finish_reason <> ''");
  st.bind(1, std::min(reference.from_ms, current.from_ms));
  st.bind(2, std::max(reference.to_ms, current.to_ms));
  while (st.step()) {
    if (!only.empty() && st.text(1) != only && st.text(2) != only &&
        st.text(2).rfind(only + "@", 0) != 0)
      continue;
    int64_t t = st.int64(0);
    for (auto [w, s] : {std::pair{&reference, &ref}, std::pair{&current, &cur}}) {
      if (t < w->from_ms || t >= w->to_ms) continue;
      s->prompt.push_back(static_cast<double>(st.int64(3)));
      s->completion.push_back(static_cast<double>(st.int64(4)));
      s->truncated += st.text(5) == "length";
      s->empty += st.int64(4) == 0;
      s->refused += st.int64(6) != 0;
    }
  }
  auto share = [](size_t k, size_t n) { return n ? static_cast<double>(k) / n : 0.0; };
  out.truncated_reference = share(ref.truncated, ref.prompt.size());
  out.truncated_current = share(cur.truncated, cur.prompt.size());
  out.empty_reference = share(ref.empty, ref.prompt.size());
  out.empty_current = share(cur.empty, cur.prompt.size());
  out.refused_reference = share(ref.refused, ref.prompt.size());
  out.refused_current = share(cur.refused, cur.prompt.size());
  for (auto [name, r, c] : {std::tuple{"prompt_tokens", &ref.prompt, &cur.prompt},
                            std::tuple{"completion_tokens", &ref.completion, &cur.completion}})
    out.figures.push_back(compare_samples(name, *r, *c, psi_threshold));
  return out;
}

DriftFigure compare_samples(const std::string& name, const std::vector<double>& r,
                            const std::vector<double>& c, double psi_threshold) {
  auto mean = [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  };
  DriftFigure f;
  f.name = name;
  f.n_reference = r.size();
  f.n_current = c.size();
  f.mean_reference = mean(r);
  f.mean_current = mean(c);
  f.psi = population_stability(r, c);
  f.ks = ks_statistic(r, c);
  if (f.n_reference && f.n_current) {
    double n = static_cast<double>(f.n_reference), m = static_cast<double>(f.n_current);
    f.ks_critical = 1.358 * std::sqrt((n + m) / (n * m));
  }
  f.drifted = f.n_reference && f.n_current && f.psi > psi_threshold && f.ks > f.ks_critical;
  return f;
}

}  // namespace xops
