// `xops eval --env-file`: a dotenv file. Bad lines must become an xops::Error.
#include "core/util/env_file.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  return xops::fuzz::expect_error_or_success([&] { xops::parse_env_file(text, ".env"); });
}
