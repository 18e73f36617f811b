#include "core/serve/metrics.hpp"

#include <fmt/format.h>

namespace xops {

void Histogram::observe(double seconds) {
  std::lock_guard<std::mutex> lk(mu_);
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
  ++n_;
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::string out = fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, n_, name, sum_,
                     name, n_);
  return out;
}

std::string prometheus_label(const std::string& v) {
  std::string o;
  for (char ch : v) {
    if (ch == '\\' || ch == '"') o += '\\';
    if (ch == '\n') {
      o += "\\n";
      continue;
    }
    o += ch;
  }
  return o;
}

void LabeledCounters::add(const std::string& name,
                          const std::vector<std::pair<std::string, std::string>>& labels,
                          double by) {
  std::string rendered;
  for (const auto& [k, v] : labels)
    rendered += fmt::format("{}{}=\"{}\"", rendered.empty() ? "" : ",", k, prometheus_label(v));
  std::lock_guard<std::mutex> lk(mu_);
  values_[name][rendered] += by;
}

std::string LabeledCounters::render(const std::string& name, const std::string& help) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = values_.find(name);
  if (it == values_.end()) return {};
  std::string out = fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
  for (const auto& [labels, v] : it->second) out += fmt::format("{}{{{}}} {}\n", name, labels, v);
  return out;
}

double LabeledCounters::value(const std::string& name, const std::string& labels) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = values_.find(name);
  if (it == values_.end()) return 0;
  auto v = it->second.find(labels);
  return v == it->second.end() ? 0 : v->second;
}

void ServeMetrics::request(const std::string& route, int status, const std::string& version,
                           const std::string& adapter) {
  counters_.add("xops_requests_total", {{"route", route},
                                        {"status", std::to_string(status)},
                                        {"version", version},
                                        {"adapter", adapter}});
}

void ServeMetrics::tokens(const std::string& version, const std::string& adapter, uint64_t prompt,
                          uint64_t generated) {
  counters_.add("xops_prompt_tokens_total", {{"version", version}, {"adapter", adapter}},
                static_cast<double>(prompt));
  counters_.add("xops_generation_tokens_total", {{"version", version}, {"adapter", adapter}},
                static_cast<double>(generated));
}

void ServeMetrics::feedback(const std::string& name, const std::string& version,
                            const std::string& adapter, double score) {
  std::vector<std::pair<std::string, std::string>> labels{
      {"name", name}, {"version", version}, {"adapter", adapter}};
  counters_.add("xops_feedback_total", labels);
  counters_.add("xops_feedback_score_sum", labels, score);
}

std::string ServeMetrics::render_counters() const {
  return counters_.render("xops_requests_total",
                          "HTTP requests by route, status and the version that answered.") +
         counters_.render("xops_prompt_tokens_total", "Prompt tokens of finished generations.") +
         counters_.render("xops_generation_tokens_total", "Tokens generated.") +
         counters_.render("xops_feedback_total", "Feedback scores received, by score name.") +
         counters_.render("xops_feedback_score_sum",
                          "The sum of feedback scores (over xops_feedback_total: the mean).");
}

}  // namespace xops
