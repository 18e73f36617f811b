// config.json of a Hugging Face model directory.
#include "core/model/model_config.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  return xops::fuzz::expect_error_or_success([&] {
    auto c = xops::parse_model_config(text, "config.json");
    (void)c.parameter_count();
    xops::parse_model_config(xops::render_model_config(c), "rendered");  // round trip must parse
  });
}
