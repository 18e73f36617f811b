// A pointer file (PATH.xops) from someone else's commit, and the path rule applied to it.
#include "core/store/pointer.hpp"
#include "core/util/safe_path.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  xops::unsafe_path_reason(text);
  return xops::fuzz::expect_error_or_success([&] {
    auto p = xops::parse_pointer(text, "data.xops");
    auto again = xops::parse_pointer(xops::render_pointer(p), "rendered");  // round trip
    if (again.sha256 != p.sha256 || again.size != p.size || again.name != p.name) std::abort();
  });
}
