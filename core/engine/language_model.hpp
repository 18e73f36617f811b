#pragma once
// A loaded causal language model, as the rest of xops sees it (no LibTorch types here).
// Implemented in libxops_engine.so (core/torch/).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/model/model_config.hpp"
#include "core/model/tokenizer.hpp"

namespace xops {

struct LoadOptions {
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  std::string dtype = "fp32";   // fp32 | bf16 | fp16
  int threads = 0;              // CPU threads (0 = all cores)
  std::filesystem::path adapter;  // a PEFT LoRA adapter directory to apply (optional)
  bool zero_copy = true;  // fp32 CPU weights map the file read-only instead of copying it
};

struct SamplingOptions {
  int max_tokens = 64;
  double temperature = 0.0;  // 0 = greedy
  int top_k = 0;             // 0 = off
  double top_p = 1.0;        // 1 = off
  uint64_t seed = 0;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool stop_at_eos = true;
  bool use_cache = true;  // false recomputes the whole sequence each step (for checks)
};

struct Generation {
  std::vector<int32_t> ids;   // generated ids (not the prompt)
  std::string text;           // generated text (complete UTF-8, stop string removed)
  std::string finish_reason;  // "stop" (EOS or a stop string) or "length"
  size_t prompt_tokens = 0;
};

struct GenerationStats {
  double prefill_seconds = 0, decode_seconds = 0;
  size_t prefill_tokens = 0, decode_tokens = 0;
};

// (prompt index, token id, newly completed text); return false to stop that prompt.
using TokenCallback = std::function<bool(size_t, int32_t, const std::string&)>;
// (prompt index, step, logits over the vocabulary) for every generated token.
using LogitsCallback = std::function<void(size_t, size_t, const float*, size_t)>;

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  virtual std::string device() const = 0;
  virtual std::string dtype() const = 0;
  // Logits at every position of each sequence (row-major [len, vocab]); sequences of
  // different lengths are batched with padding and an attention mask.
  virtual std::vector<std::vector<float>> forward_logits(const std::vector<std::vector<int32_t>>& seqs) = 0;
  // A sentence embedding: the mean of the final hidden states (for `similar` assertions).
  virtual std::vector<float> embed(const std::vector<int32_t>& ids) = 0;
  // Generates for several prompts at once (left-padded batch with a KV cache).
  virtual std::vector<Generation> generate(const std::vector<std::vector<int32_t>>& prompts,
                                           const SamplingOptions& opts, const TokenCallback& on_token = {},
                                           const LogitsCallback& on_logits = {},
                                           GenerationStats* stats = nullptr) = 0;
  // Writes config.json, model.safetensors and the tokenizer files (HF layout) into dir.
  virtual void save(const std::filesystem::path& dir) const = 0;
};

}  // namespace xops
