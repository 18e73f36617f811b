#pragma once
// `xops finetune` configuration: one YAML file (every key documented in docs/finetune.md),
// overridable with --set key=value; the resolved config is saved with the run.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace xops {

struct InitSpec {
  std::string arch = "gpt2";  // gpt2 | llama
  int layers = 4, d_model = 128, heads = 4, kv_heads = 0, ctx = 128, d_ff = 0;
  std::string vocab = "byte";  // byte | PATH to a tokenizer (dir or tokenizer.json)
};

struct FinetuneConfig {
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
  std::string method = "full";  // full | lora
  struct Lora {
    int r = 8;
    double alpha = 16;
    double dropout = 0.05;
    std::vector<std::string> target_modules;  // default: c_attn (gpt2), q_proj+v_proj (llama)
  } lora;
  struct Optimizer {
    double lr = 3e-4, beta1 = 0.9, beta2 = 0.999, weight_decay = 0.01, eps = 1e-8;
  } optimizer;
  struct Schedule {
    std::string type = "cosine";  // cosine | linear | constant
    int warmup_steps = 0;
    double min_lr_ratio = 0.1;
  } schedule;
  int batch_size = 8, grad_accum = 1, max_steps = 0, epochs = 0;
  double grad_clip = 1.0;
  uint64_t seed = 0;
  std::string dtype = "fp32", device = "auto";
  int threads = 0;
  int eval_interval = 0, eval_batches = 8, save_interval = 0, keep_last = 2, log_interval = 10;
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
