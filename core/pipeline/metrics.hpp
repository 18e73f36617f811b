#pragma once
// Metrics files as `dvc metrics show` reads them: JSON or YAML, every numeric leaf by its
// dotted key (booleans and text are not metrics). Bounded: a metrics file is small.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace xops::pipeline {

using MetricValues = std::vector<std::pair<std::string, double>>;

MetricValues parse_metrics(const std::string& text, const std::string& shown);
MetricValues read_metrics_file(const std::filesystem::path& file, const std::string& shown);

}  // namespace xops::pipeline
