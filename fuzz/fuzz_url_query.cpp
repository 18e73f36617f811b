// `xops ui`'s query strings (percent-decoding, '+', repeated and empty keys): any bytes parse.
#include "core/util/url_query.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto q = xops::parse_query(text);
  for (const auto& [k, v] : q)
    if (k.size() > text.size() || v.size() > text.size())
      __builtin_trap();  // decoding only shrinks
  auto once = xops::percent_decode(text);
  if (once.size() > text.size()) __builtin_trap();
  return 0;
}
