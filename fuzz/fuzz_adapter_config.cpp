// adapter_config.json of a PEFT LoRA adapter.
#include "core/model/adapter_config.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  return xops::fuzz::expect_error_or_success(
      [&] { xops::parse_adapter_config(text, "adapter_config.json"); });
}
