#pragma once
// One traffic group as JSON: the shape `xops monitor --json` prints and `xops ui`'s
// /api/traffic serves (docs/json.md, docs/ui.md), so the two cannot drift apart.
#include <nlohmann/json.hpp>

#include "core/monitor/traffic.hpp"

namespace xops {

// With prev: "change" against it (p95 latency ratio, error-rate and `score`-mean deltas).
nlohmann::json traffic_group_json(const TrafficGroup& g, const TrafficGroup* prev = nullptr);

}  // namespace xops
