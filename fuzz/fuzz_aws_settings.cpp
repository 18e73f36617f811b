// An s3:// remote's settings: ~/.aws/credentials and ~/.aws/config (INI), and the s3:// URL
// from xops.yaml (a cloned project's remotes are someone else's text).
#include "core/store/s3_config.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  xops::fuzz::expect_error_or_success([&] { xops::parse_aws_ini(text, "credentials"); });
  xops::fuzz::expect_error_or_success([&] { xops::parse_s3_url(text); });
  xops::fuzz::expect_error_or_success([&] { xops::parse_s3_url("s3://" + text); });
  xops::aws_uri_encode(text, true);
  return 0;
}
