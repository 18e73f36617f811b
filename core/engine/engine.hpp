#pragma once
// The narrow interface to the LibTorch engine. The implementation lives in
// libxops_engine.so (core/torch/), dlopen'ed on first use by engine(), so commands that
// run no model never map libtorch. Nothing here includes LibTorch.
#include <filesystem>
#include <memory>
#include <string>

#include "core/engine/language_model.hpp"
#include "core/engine/text_encoder.hpp"
#include "core/engine/trainer.hpp"

namespace xops {

inline constexpr int kEngineAbi = 6;

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string torch_version() const = 0;
  virtual bool cuda_available() const = 0;
  virtual int cuda_device_count() const = 0;
  // Loads a Hugging Face model directory (config.json, safetensors, tokenizer) or a GGUF file.
  virtual std::unique_ptr<LanguageModel> load(const std::filesystem::path& dir, const LoadOptions& opts) = 0;
  // A BERT-family sentence encoder (config.json BertModel, sentence-transformers pooling).
  virtual std::unique_ptr<TextEncoder> load_encoder(const std::filesystem::path& dir,
                                                    const LoadOptions& opts) = 0;
  // A freshly initialised model (GPT-2 initialisation, seeded) for training from scratch.
  virtual std::unique_ptr<LanguageModel> create(const ModelConfig& cfg, Tokenizer tok, uint64_t seed,
                                                const LoadOptions& opts) = 0;
  // Pretraining, full fine-tuning or LoRA; resumable from checkpoints.
  virtual TrainResult train(const TrainJob& job, const TrainCallbacks& cb) = 0;
};

// Loads the engine library once (XOPS_ENGINE_LIB, then beside the binary, then
// ../lib/xops/); throws Error(Precondition) with a hint when it cannot.
Engine& engine();

}  // namespace xops

// The one symbol the engine library exports.
extern "C" xops::Engine* xops_engine_create(int abi);
