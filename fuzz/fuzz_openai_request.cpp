// `xops serve`'s request bodies (/v1/completions and /v1/chat/completions), as they arrive
// from the network: a bad one must become an ApiError (an xops::Error), nothing else.
#include "core/serve/openai_request.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  for (bool chat : {false, true})
    xops::fuzz::expect_error_or_success([&] { xops::parse_generation_request(body, chat, 50257); });
  return 0;
}
