#pragma once
// PEFT's adapter_config.json, parsed without LibTorch (so that it can be fuzzed and checked
// before anything is allocated). Errors name the file and the key.
#include <string>
#include <vector>

namespace xops {

struct AdapterConfig {
  int64_t r = 0;
  double alpha = 8.0;
  std::vector<std::string> targets;  // empty: the architecture's defaults
};

AdapterConfig parse_adapter_config(const std::string& text, const std::string& display);

}  // namespace xops
