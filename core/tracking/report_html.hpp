#pragma once
// One self-contained HTML file (inline CSS and SVG, no network assets): a line chart per
// metric with the runs overlaid, and a params/metrics table.
#include <map>
#include <string>
#include <vector>

#include "core/tracking/tracker.hpp"

namespace xops {

using MetricSeries = std::map<std::string, std::vector<std::pair<int64_t, double>>>;  // key -> points

std::string render_report_html(const std::vector<RunRecord>& runs, const std::vector<MetricSeries>& series);
std::string html_escape(const std::string& s);

}  // namespace xops
