#include "core/model/adapter_config.hpp"
#include "core/util/json_error.hpp"

#include <nlohmann/json.hpp>

#include <climits>
#include <cmath>

#include "core/error.hpp"

namespace xops {

AdapterConfig parse_adapter_config(const std::string& text, const std::string& name) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(fmt::format("{}: invalid JSON: {}", name, json_error(e)));
  }
  if (!j.is_object() || !j.contains("peft_type") || j["peft_type"] != "LORA")
    throw runtime_error(fmt::format("{}: peft_type is not \"LORA\"", name),
                        "xops loads PEFT LoRA adapters");
  AdapterConfig c;
  // r sizes every LoRA tensor: bounded here, and checked against the adapter file's own
  // tensors before any allocation (`r: 20000000` once allocated 10 GB).
  if (!j.contains("r") || !j["r"].is_number_integer())
    throw runtime_error(fmt::format("{}: 'r' must be an integer", name));
  auto r = j["r"].is_number_unsigned() && j["r"].get<uint64_t>() > INT64_MAX
               ? INT64_MAX
               : j["r"].get<int64_t>();
  if (r < 1 || r > 4096)
    throw runtime_error(fmt::format("{}: 'r' is {}; it must be between 1 and 4096", name, r));
  c.r = r;
  if (j.contains("lora_alpha") && !j["lora_alpha"].is_null()) {
    if (!j["lora_alpha"].is_number() || !std::isfinite(j["lora_alpha"].get<double>()))
      throw runtime_error(fmt::format("{}: 'lora_alpha' must be a finite number", name));
    c.alpha = j["lora_alpha"].get<double>();
  }
  if (j.contains("target_modules") && j["target_modules"].is_array()) {
    for (const auto& t : j["target_modules"]) {
      if (!t.is_string())
        throw runtime_error(fmt::format("{}: target_modules must be strings", name));
      c.targets.push_back(t.get<std::string>());
    }
  } else if (j.contains("target_modules") && j["target_modules"].is_string()) {
    c.targets = {j["target_modules"].get<std::string>()};
  } else if (j.contains("target_modules") && !j["target_modules"].is_null()) {
    throw runtime_error(fmt::format("{}: target_modules must be a list of names", name));
  }
  return c;
}

}  // namespace xops
