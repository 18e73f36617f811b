#pragma once
// config.json of the architectures xops runs: GPT2LMHeadModel and LlamaForCausalLM.
#include <filesystem>
#include <string>
#include <vector>

namespace xops {

enum class Arch { Gpt2, Llama };

struct ModelConfig {
  Arch arch = Arch::Gpt2;
  int vocab_size = 0;
  int n_layer = 0;
  int d_model = 0;
  int n_head = 0;
  int n_kv_head = 0;
  int head_dim = 0;
  int d_ff = 0;
  int max_positions = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_embeddings = true;
  bool attention_bias = false;  // llama only
  bool mlp_bias = false;        // llama only
  int bos_id = -1, eos_id = -1;

  const char* arch_name() const { return arch == Arch::Gpt2 ? "GPT2LMHeadModel" : "LlamaForCausalLM"; }
  int64_t parameter_count() const;
};

ModelConfig parse_model_config(const std::string& json_text, const std::string& display);
ModelConfig load_model_config(const std::filesystem::path& dir);
// HF-compatible config.json text.
std::string render_model_config(const ModelConfig& c);

// The projections LoRA adapts when a config names none (PEFT's defaults for these
// architectures): c_attn for GPT-2, q_proj and v_proj for Llama.
std::vector<std::string> default_lora_targets(const ModelConfig& c);

}  // namespace xops
