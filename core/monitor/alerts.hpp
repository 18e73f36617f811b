#pragma once
// `xops monitor --check`: each served version's traffic against the `monitor:` thresholds of
// xops.yaml; what crossed, said per version and figure.
#include <string>
#include <vector>

#include "core/monitor/traffic.hpp"
#include "core/project/config.hpp"

namespace xops {

struct Alert {
  std::string group, figure;  // e.g. "m@v1.2.0", "p95 latency"
  double value = 0, threshold = 0;
  std::string message;  // "m@v1.2.0: p95 latency 2300 ms > 2000 ms (xops.yaml:14)"
};

// Groups with fewer than min_requests requests are not judged.
std::vector<Alert> check_traffic(const std::vector<TrafficGroup>& groups, const MonitorConfig& m);

}  // namespace xops
