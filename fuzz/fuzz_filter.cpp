// The `track runs --filter` / `--sort` languages (compiled to parameterised SQL).
#include "core/tracking/filter.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  xops::fuzz::expect_error_or_success([&] { xops::compile_filter(text); });
  xops::fuzz::expect_error_or_success([&] { xops::compile_sort(text); });
  xops::fuzz::expect_error_or_success([&] { xops::compile_filter(text, xops::db::Dialect::Postgres); });
  return 0;
}
