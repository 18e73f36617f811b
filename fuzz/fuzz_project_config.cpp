// xops.yaml, the project file (it arrives in commits).
#include "core/project/config.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  return xops::fuzz::expect_error_or_success([&] {
    std::vector<std::string> warnings;
    xops::parse_project_config(text, "xops.yaml", &warnings);
  });
}
