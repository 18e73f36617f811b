#pragma once
// What `xops finetune` asks of the engine (no LibTorch types here).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/train_spec.hpp"
#include "core/model/model_config.hpp"
#include "core/model/tokenizer.hpp"

namespace xops {

struct TrainJob {
  TrainSpec cfg;
  std::filesystem::path base_dir;    // the base model (empty: create from init_config)
  ModelConfig init_config;           // with an init: block
  std::shared_ptr<const Tokenizer> init_tokenizer;
  const TokenWindows* train = nullptr;
  const TokenWindows* val = nullptr;
  std::filesystem::path checkpoint_dir;  // checkpoints go here (step-N/)
  bool resume = false;
  std::filesystem::path output_dir;      // final model (full) or adapter (lora)
  std::filesystem::path merged_dir;      // lora + --merge: the merged full model (empty: none)
};

struct TrainStep {
  int step = 0, total = 0;
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0, seconds = 0;
};

struct TrainCallbacks {
  std::function<void(const std::string& what)> on_info;  // e.g. the trainable-parameter line
  std::function<void(const TrainStep&)> on_step;
  std::function<void(int step, double eval_loss)> on_eval;
  std::function<void(int step, const std::filesystem::path&)> on_checkpoint;
  std::function<bool()> should_stop;  // checked every step (Ctrl-C)
};

struct TrainResult {
  int steps = 0, total_steps = 0, resumed_from = 0;
  bool interrupted = false;
  double final_loss = 0, tokens_per_s = 0, seconds = 0;
  std::optional<double> eval_loss;
  int64_t trainable_params = 0, total_params = 0;
  std::vector<double> losses;  // per step (for tests and reports)
  std::filesystem::path last_checkpoint;
};

}  // namespace xops
