// tokenizer.json from a model directory someone else published.
#include "core/model/tokenizer.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static xops::fuzz::MemFile file("tokenizer.json");
  const auto& path = file.write(data, size);
  return xops::fuzz::expect_error_or_success([&] {
    auto tok = xops::Tokenizer::from_tokenizer_json(path);
    for (bool special : {false, true}) {
      auto ids = tok.encode("Hello, world! <|endoftext|> 12 ab", special);
      tok.decode(ids, false);
      xops::Tokenizer::StreamDecoder sd(tok);
      for (auto id : ids) sd.push(id);
      sd.flush();
    }
  });
}
