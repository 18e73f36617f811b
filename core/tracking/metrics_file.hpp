#pragma once
// The metrics file of a tracked command (XOPS_METRICS_FILE): JSON lines the child appends,
// `{"step": 3, "loss": 0.5}` or `{"key": "loss", "value": 0.5, "step": 3}`, read as they
// grow and logged into the run.
#include <filesystem>
#include <functional>
#include <string>

#include "core/tracking/tracker.hpp"

namespace xops {

class MetricsFileReader {
 public:
  MetricsFileReader(std::filesystem::path p, Tracker& t, std::string id,
                    std::function<void(const std::string&)> warn)
      : path_(std::move(p)), t_(t), id_(std::move(id)), warn_(std::move(warn)) {}
  // Reads new complete lines. A bad line (not JSON, an empty or oversized key, a non-number)
  // is skipped with a warning naming it: the child's output never ends the run or orphans the
  // child. At most 16 MiB is read per poll, so a runaway writer cannot exhaust memory.
  void poll();

 private:
  void warn(const std::string& s) const;
  void warn_line(const std::string& why);
  std::filesystem::path path_;
  Tracker& t_;
  std::string id_;
  std::function<void(const std::string&)> warn_;
  size_t offset_ = 0, line_no_ = 0;
};

}  // namespace xops
