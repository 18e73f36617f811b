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

void ServeMetrics::request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lk(mu_);
  ++requests_[{route, status}];
}

std::string ServeMetrics::render_requests() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::string out =
      "# HELP xops_requests_total HTTP requests by route and status.\n# TYPE xops_requests_total "
      "counter\n";
  for (const auto& [k, n] : requests_)
    out +=
        fmt::format("xops_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", k.first, k.second, n);
  return out;
}

}  // namespace xops
