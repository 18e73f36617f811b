// A directory manifest object pulled from a remote.
#include "core/store/pointer.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  return xops::fuzz::expect_error_or_success([&] {
    auto entries = xops::parse_manifest(text, "0123456789abcdef");
    auto again = xops::parse_manifest(xops::render_manifest(entries), "rendered");  // round trip
    if (again.size() != entries.size()) std::abort();
  });
}
