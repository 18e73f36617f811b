#pragma once
// What turns text into vectors for an index: a local encoder or an /v1/embeddings provider
// (made in core/app/embedders.cpp). Chunking counts its tokens.
#include <string>
#include <string_view>
#include <vector>

namespace xops::index {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string describe() const = 0;
  // The local model's content hash; "" for a provider (its model can change behind its name).
  virtual std::string content_sha256() const = 0;
  // "tokens" (the model's tokenizer counts) or "words" (a provider: its tokenizer is not known).
  virtual std::string unit() const = 0;
  virtual size_t count(std::string_view word) const = 0;
  virtual int max_tokens() const = 0;  // 0: not known
  virtual int dims() const = 0;        // 0: not known before the first call
  virtual std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) = 0;
};

}  // namespace xops::index
