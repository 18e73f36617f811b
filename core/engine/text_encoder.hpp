#pragma once
// A text -> vector model for retrieval and coverage, as the rest of xops sees it: a BERT-family
// sentence encoder run by the engine library (core/torch/bert_encoder.cpp), or a causal model's
// mean-pooled final hidden states. No LibTorch types here.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/language_model.hpp"

namespace xops {

class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  virtual int dims() const = 0;
  // What it is, for manifests and messages ("BertModel 6x384, mean pooling, normalised, 256
  // tokens").
  virtual std::string describe() const = 0;
  // The longest input in tokens; longer texts are truncated.
  virtual int max_tokens() const = 0;
  // Tokens of a text without truncation or special tokens (for chunking by tokens).
  virtual std::vector<int32_t> tokens(const std::string& text) const = 0;
  // One vector per text. Texts are batched internally (memory bounded by the batch).
  virtual std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) = 0;
};

// BERT-family directories (config.json names BertModel) through the engine; GPT-2/Llama
// directories as mean-pooled hidden states. Loads the engine library on first use.
std::unique_ptr<TextEncoder> open_text_encoder(const std::filesystem::path& dir,
                                               const LoadOptions& opts);

}  // namespace xops
