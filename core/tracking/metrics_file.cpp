#include "core/tracking/metrics_file.hpp"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace xops {

using nlohmann::json;

void MetricsFileReader::poll() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(offset_));
  constexpr size_t kMaxChunk = 16 << 20;
  std::string chunk(kMaxChunk, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<size_t>(in.gcount()));
  auto last_nl = chunk.rfind('\n');
  if (last_nl == std::string::npos) {
    if (chunk.size() == kMaxChunk) {  // one line longer than the whole chunk: drop it
      offset_ += chunk.size();
      warn_line("a line over 16 MiB");
    }
    return;
  }
  offset_ += last_nl + 1;
  std::vector<MetricPoint> points;
  size_t pos = 0;
  while (pos <= last_nl) {
    auto end = chunk.find('\n', pos);
    auto line = chunk.substr(pos, end - pos);
    pos = end + 1;
    ++line_no_;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      warn_line("not a JSON metric object");
      continue;
    }
    int64_t step = 0;
    if (j.contains("step")) {
      if (!j["step"].is_number_integer()) {
        warn_line("'step' is not an integer");
        continue;
      }
      step = j["step"].get<int64_t>();
    }
    auto add = [&](const std::string& key, const json& v) {
      if (key.empty() || key.size() > 250 ||
          key.find_first_of(std::string("\0\n\r\t", 4)) != std::string::npos)
        return warn_line("a metric key must be 1-250 printable characters");
      if (!v.is_number())
        return warn_line(fmt::format("metric '{}' is not a number", key.substr(0, 40)));
      points.push_back({key, v.get<double>(), step, 0});
    };
    if (j.contains("key") && j.contains("value")) {
      if (!j["key"].is_string())
        warn_line("'key' is not a string");
      else
        add(j["key"].get<std::string>(), j["value"]);
    } else {
      for (auto& [k, v] : j.items())
        if (k != "step" && k != "timestamp" && v.is_number()) add(k, v);
    }
  }
  try {
    t_.log_metrics(id_, points);
  } catch (const std::exception& e) {
    warn(fmt::format("{}: metrics not recorded: {}", path_.filename().string(), e.what()));
  }
}

void MetricsFileReader::warn(const std::string& s) const {
  if (warn_) warn_(s);
}
void MetricsFileReader::warn_line(const std::string& why) {
  warn(fmt::format("{}:{}: ignored a line: {}", path_.filename().string(), line_no_, why));
}

}  // namespace xops
