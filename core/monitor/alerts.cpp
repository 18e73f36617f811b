#include "core/monitor/alerts.hpp"

#include <fmt/format.h>

namespace xops {

std::vector<Alert> check_traffic(const std::vector<TrafficGroup>& groups, const MonitorConfig& m) {
  std::vector<Alert> out;
  auto add = [&](const TrafficGroup& g, const char* figure, double value, double threshold,
                 bool above, const char* unit) {
    bool crossed = above ? value > threshold : value < threshold;
    if (!crossed) return;
    out.push_back(
        {g.key, figure, value, threshold,
         fmt::format("{}: {} {:g}{} {} {:g}{} ({} requests; monitor: in {})", g.key, figure, value,
                     unit, above ? ">" : "<", threshold, unit, g.requests, m.where)});
  };
  for (const auto& g : groups) {
    if (g.requests < m.min_requests) continue;
    if (m.max_p95_latency_ms && g.latency_ms.n)
      add(g, "p95 latency", g.latency_ms.p95, *m.max_p95_latency_ms, true, " ms");
    if (m.max_p95_ttft_ms && g.ttft_ms.n)
      add(g, "p95 time to first token", g.ttft_ms.p95, *m.max_p95_ttft_ms, true, " ms");
    if (m.max_error_rate) add(g, "error rate", g.error_rate(), *m.max_error_rate, true, "");
    for (const auto& [name, min] : m.min_feedback_mean)
      if (auto it = g.scores.find(name); it != g.scores.end() && it->second.n) {
        auto figure = name == "score" ? std::string("feedback mean")
                                      : fmt::format("feedback mean of {}", name);
        add(g, figure.c_str(), it->second.mean, min, false, "");
      }
  }
  return out;
}

}  // namespace xops
