#pragma once
// LoRA adapters on the model's projections, saved and loaded in PEFT's layout
// (adapter_config.json + adapter_model.safetensors with base_model.model.<module>.lora_A/B).
#include <filesystem>
#include <string>
#include <vector>

#include "core/torch/transformer.hpp"

namespace xops {

struct LoraSpec {
  int r = 8;
  double alpha = 16;
  double dropout = 0.0;
  std::vector<std::string> targets;
};

// Adds A (PEFT's kaiming-uniform init) and B (zeros) to every matching projection.
std::vector<std::string> attach_lora(const ModelConfig& c, Weights& w, const LoraSpec& spec, uint64_t seed);
// PEFT tensor name -> tensor, for every attached adapter.
std::vector<std::pair<std::string, at::Tensor*>> lora_tensors(const ModelConfig& c, Weights& w);
void save_peft_adapter(const ModelConfig& c, Weights& w, const LoraSpec& spec, const std::filesystem::path& dir,
                       const std::string& base_model);
LoraSpec load_peft_adapter(const ModelConfig& c, Weights& w, const std::filesystem::path& dir);
// W += scale * B A (Conv1D: transposed), then drops the adapters.
void merge_lora(const ModelConfig& c, Weights& w);

}  // namespace xops
