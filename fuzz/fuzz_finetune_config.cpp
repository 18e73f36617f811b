// A finetune config (YAML), with one --set override taken from the input's first line.
#include "core/finetune/finetune_config.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto nl = text.find('\n');
  std::vector<std::string> sets;
  if (nl != std::string::npos && text.rfind("#set ", 0) == 0)
    sets.push_back(text.substr(5, nl - 5));
  return xops::fuzz::expect_error_or_success([&] {
    std::vector<std::string> warnings;
    xops::parse_finetune_config(text, "finetune.yaml", sets, &warnings);
  });
}
