// vocab.json + merges.txt: the input is split at its first NUL byte (vocab before, merges after).
#include <cstring>

#include "core/model/tokenizer.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static xops::fuzz::MemFile vocab("vocab.json"), merges("merges.txt");
  auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  size_t split = nul ? static_cast<size_t>(nul - data) : size;
  std::string vp = vocab.write(data, split);
  std::string mp = merges.write(nul ? nul + 1 : data + size, nul ? size - split - 1 : 0);
  return xops::fuzz::expect_error_or_success([&] {
    auto tok = xops::Tokenizer::from_files(vp, mp);
    tok.decode(tok.encode("the quick brown fox, 1234 <|endoftext|>", true), true);
  });
}
