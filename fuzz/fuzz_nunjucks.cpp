// Prompt and assertion-value templates (the Nunjucks subset): parsed and rendered.
#include "core/template/nunjucks.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  static const nlohmann::json vars = {
      {"name", "Ada"}, {"items", {1, 2, 3}}, {"obj", {{"k", "v"}}}, {"n", 2.5}};
  xops::fuzz::expect_error_or_success([&] { xops::nunjucks::render(text, vars, "fuzz"); });
  return 0;
}
