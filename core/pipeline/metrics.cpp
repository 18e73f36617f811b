#include "core/pipeline/metrics.hpp"

#include "core/pipeline/pipeline.hpp"
#include "core/pipeline/values.hpp"
#include "core/util/fs.hpp"

namespace xops::pipeline {

MetricValues parse_metrics(const std::string& text, const std::string& shown) {
  auto doc = parse_document(text, shown);
  J flat = J::object();
  flatten(doc, "", flat);
  MetricValues out;
  for (auto it = flat.begin(); it != flat.end(); ++it)
    if (it.value().is_number()) out.emplace_back(it.key(), it.value().get<double>());
  return out;
}

MetricValues read_metrics_file(const std::filesystem::path& file, const std::string& shown) {
  return parse_metrics(read_file_limited(file, 16u << 20, "a metrics file"), shown);
}

}  // namespace xops::pipeline
