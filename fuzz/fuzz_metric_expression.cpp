// A suite's derivedMetrics expression: parsed at load, evaluated after the run.
#include "core/eval/metric_expression.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  return xops::fuzz::expect_error_or_success([&] {
    xops::check_metric_expression(text, "fuzz");
    xops::eval_metric_expression(text, {{"a", 1.5}, {"b", 0}, {"__count", 3}});
  });
}
