#pragma once
// Training data for finetune: JSONL (`text`, `prompt`/`completion`, chat `messages`) or plain
// text, tokenised into fixed windows of seq_len + 1 tokens with a loss mask (prompt tokens do
// not count), packed or padded, split into train/validation. Cached by content hash.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/finetune/finetune_config.hpp"
#include "core/model/tokenizer.hpp"

namespace xops {

struct PreparedData {
  TokenWindows train, val;
  std::string format;  // what was detected
  size_t examples = 0;
  size_t target_tokens = 0;  // train tokens that count in the loss
  std::string key;           // cache key (sha256)
  bool from_cache = false;
};

// One example's tokens and mask (exposed for tests).
struct Example {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
};
std::vector<Example> read_examples(const std::filesystem::path& file, const std::string& format, const Tokenizer& tok,
                                   int32_t eos, const std::string& chat_template, std::string* detected);

PreparedData prepare_data(const FinetuneConfig& cfg, const Tokenizer& tok, int32_t eos, const std::string& tokenizer_id,
                          const std::filesystem::path& base_dir, const std::filesystem::path& cache_dir);

}  // namespace xops
