#pragma once
// The server's Prometheus metrics (text exposition format 0.0.4): counters by route and
// status, latency histograms, and gauges sampled at scrape time.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace xops {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds{0.005, 0.01, 0.025, 0.05, 0.075, 0.1,  0.25,
                                                  0.5,   0.75, 1.0,   2.5,  5.0,   10.0, 30.0};
  void observe(double seconds);
  // "# TYPE name histogram" and its _bucket/_sum/_count lines.
  std::string render(const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kBounds.size() + 1> counts_{};  // the last: above every bound
  double sum_ = 0;
  uint64_t n_ = 0;
};

class ServeMetrics {
 public:
  void request(const std::string& route, int status);
  Histogram ttft, itl, request_seconds;
  std::atomic<uint64_t> log_failures{0};  // responses the interaction log could not keep
  // serve --shadow / --canary: shadow runs started and dropped (the candidate's queue full or
  // the request not valid for it), and requests the canary answered.
  std::atomic<uint64_t> shadow_started{0}, shadow_dropped{0}, canary_requests{0};
  // Counters by (route, status), rendered as xops_requests_total.
  std::string render_requests() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
};

}  // namespace xops
