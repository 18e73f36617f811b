#pragma once
// The server's Prometheus metrics (text exposition format 0.0.4): counters by route, status,
// version and adapter, latency histograms, and gauges sampled at scrape time. Counters live
// here, not in a loaded version, so they keep counting across a --watch swap.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

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

// A label value as the exposition format quotes it (\\, \", \n escaped).
std::string prometheus_label(const std::string& v);

// Counter families with labels: name -> rendered label set -> value.
class LabeledCounters {
 public:
  void add(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
           double by = 1);
  // "# HELP/# TYPE name counter" then one line per label set; nothing when never counted.
  std::string render(const std::string& name, const std::string& help) const;
  double value(const std::string& name, const std::string& rendered_labels) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, double>> values_;
};

// The decoder's counters of versions no longer served (added when a version is released), so
// xops_decoder_steps_total does not fall back to 0 on a swap.
struct RetiredDecoders {
  std::atomic<uint64_t> steps{0}, batched_steps{0}, reused_tokens{0};
};

class ServeMetrics {
 public:
  // One finished request: xops_requests_total{route,status,version,adapter}.
  void request(const std::string& route, int status, const std::string& version = {},
               const std::string& adapter = {});
  // A finished generation's tokens, per version and adapter.
  void tokens(const std::string& version, const std::string& adapter, uint64_t prompt,
              uint64_t generated);
  // A feedback score (by name) on a response of this version and adapter.
  void feedback(const std::string& name, const std::string& version, const std::string& adapter,
                double score);
  Histogram ttft, itl, request_seconds;
  std::atomic<uint64_t> log_failures{0};  // responses the interaction log could not keep
  // serve --shadow / --canary: shadow runs started and dropped (the candidate's queue full or
  // the request not valid for it), and requests the canary answered.
  std::atomic<uint64_t> shadow_started{0}, shadow_dropped{0}, canary_requests{0};
  std::shared_ptr<RetiredDecoders> retired = std::make_shared<RetiredDecoders>();
  // The labeled counter families (requests, tokens, feedback).
  std::string render_counters() const;
  const LabeledCounters& counters() const { return counters_; }

 private:
  LabeledCounters counters_;
};

}  // namespace xops
