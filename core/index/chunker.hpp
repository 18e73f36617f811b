#pragma once
// Splits text into overlapping chunks of about N tokens along word boundaries, keeping each
// chunk's byte offsets in the source. Tokens are counted by the embedding model's tokenizer
// (per distinct word, cached), so a chunk fits what the encoder reads.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace xops::index {

struct ChunkSpec {
  int tokens = 200;  // per chunk (0: one chunk per document)
  int overlap = 40;  // tokens repeated from the end of the chunk before
};

struct Span {
  uint64_t start = 0, end = 0;  // byte offsets, [start, end)
  size_t tokens = 0;
};

using TokenCounter = std::function<size_t(std::string_view word)>;

// Chunks of `text`; whitespace-only text gives none. A word longer than the chunk size is a
// chunk by itself (the encoder truncates it).
std::vector<Span> chunk_text(std::string_view text, const ChunkSpec& spec,
                             const TokenCounter& count);

}  // namespace xops::index
