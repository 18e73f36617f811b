#pragma once
// A loaded causal language model, as the rest of xops sees it (no LibTorch types here).
// Implemented in libxops_engine.so (core/torch/).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/decoder.hpp"
#include "core/model/gguf_model.hpp"
#include "core/model/model_config.hpp"
#include "core/model/tokenizer.hpp"

namespace xops {

struct LoadOptions {
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  std::string dtype = "fp32";   // fp32 | bf16 | fp16
  int threads = 0;              // CPU threads (0 = all cores)
  std::filesystem::path adapter;  // a PEFT LoRA adapter directory to apply (optional)
  // true: fp32 CPU weights are read-only views of the mapped file (no copy, shared page cache,
  // but 4 KiB pages). false (inference's default): copied into the weight arena's huge pages,
  // which decode streams 10-17% faster here (Llama 12x768 fp32: 60-68 -> 70-79 tok/s) for a
  // copy at load (~0.1 s per 500 MB). LoRA training and export, which only read the base, map.
  bool zero_copy = false;
  // GGUF Q8_0 matrices stay 8-bit on a CPU with AVX-512 (false: widened to dtype, as training
  // and exporting need).
  bool keep_quantized = true;
};

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
  // A step-level decoder over this model (slots with their own KV memory). The model must
  // outlive it. Generation goes through it: see core/engine/generation.hpp.
  virtual std::unique_ptr<Decoder> decoder(const DecoderOptions& opts) = 0;
  // Loads one more PEFT LoRA adapter onto the same base, for Decoder::admit to choose per
  // sequence; returns its id (0, 1, ...). The base weights are shared, not copied.
  virtual int add_adapter(const std::filesystem::path& dir) = 0;
  // Writes config.json, model.safetensors and the tokenizer files (HF layout) into dir.
  virtual void save(const std::filesystem::path& dir) const = 0;
  // Writes one GGUF file as llama.cpp's converter lays it out, with the LoRA adapter loaded
  // through LoadOptions::adapter merged into the weights (W + scale * B A).
  virtual void export_gguf(const std::filesystem::path& file,
                           const GgufExportOptions& opts) const = 0;
};

}  // namespace xops
