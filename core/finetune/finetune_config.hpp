#pragma once
// `xops finetune` configuration: one YAML file (every key documented in docs/finetune.md),
// overridable with --set key=value; the resolved config is saved with the run.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/train_spec.hpp"

namespace xops {

struct InitSpec {
  std::string arch = "gpt2";  // gpt2 | llama
  int layers = 4, d_model = 128, heads = 4, kv_heads = 0, ctx = 128, d_ff = 0;
  std::string vocab = "byte";  // byte | PATH to a tokenizer (dir or tokenizer.json)
};

// The file's training half (method, optimizer, schedule, ...) is the engine's TrainSpec.
struct FinetuneConfig : TrainSpec {
  std::filesystem::path file;  // where it was read from (relative paths resolve against its dir)
  std::string model;           // base model path/ref (empty with init)
  std::optional<InitSpec> init;
  struct Data {
    std::vector<std::string> train;
    std::string validation;
    double val_split = 0.0;
    std::string format = "auto";  // auto | text | prompt_completion | chat
    int seq_len = 128;
    // Unset: pack plain text (pretraining); one example per window for prompt/completion and
    // chat data, where fixed packed windows invite memorising positions instead of the task.
    std::optional<bool> packing;
    std::string chat_template = "default";
  } data;
  std::string output;      // artifact name (and default output directory models/<output>)
  std::string output_dir;  // default: models/<output>

  std::string render_yaml() const;
};

// Parses text with `--set key=value` overrides applied first; errors name file:line:column.
FinetuneConfig parse_finetune_config(const std::string& text, const std::string& display,
                                     const std::vector<std::string>& overrides,
                                     std::vector<std::string>* warnings);
FinetuneConfig load_finetune_config(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                    std::vector<std::string>* warnings);

}  // namespace xops
