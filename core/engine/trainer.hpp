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

// One process's place in a data-parallel run (torchrun's RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT). world_size 1: an ordinary single-process run.
struct WorldSpec {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  int timeout_s = 300;  // rendezvous and every collective; a dead or hung peer ends the run
  bool distributed() const { return world_size > 1; }
};

struct TrainJob {
  TrainSpec cfg;
  WorldSpec world;
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
  std::function<bool()> should_stop;  // checked every step (Ctrl-C); agreed across ranks
  // Distributed runs, rank 0, after the rendezvous: every rank's host name, by rank.
  std::function<void(const std::vector<std::string>& hosts)> on_world;
};

struct TrainResult {
  int steps = 0, total_steps = 0, resumed_from = 0, world_size = 1;
  bool interrupted = false;
  double final_loss = 0, tokens_per_s = 0, seconds = 0;
  std::optional<double> eval_loss;
  int64_t trainable_params = 0, total_params = 0;
  std::vector<double> losses;  // per step (for tests and reports)
  std::filesystem::path last_checkpoint;
};

}  // namespace xops
