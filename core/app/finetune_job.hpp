#pragma once
// `xops finetune` as one use case: read the config (with --set overrides), prepare the base or
// a new model and the tokenised data, train through the engine, record everything as a
// tracking run, and put the output into the content store. The command renders the observer's
// events and the outcome; tests call run_finetune() directly.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/engine/trainer.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

struct FinetuneRequest {
  std::filesystem::path config;   // the YAML file
  std::vector<std::string> sets;  // --set key=value, applied first
  bool resume = false;            // continue from the latest checkpoint
  bool merge = false;             // LoRA: also write the base with the adapter merged in
  // One rank of a distributed run (finetune_launch.hpp reads it from the environment). Rank 0
  // records the run and stores the output; the others only train, quietly.
  WorldSpec world;
};

struct FinetuneObserver {
  std::function<void(const std::string&)> on_warning;
  std::function<void(const std::string&)> on_info;
  std::function<void(const std::string&)> on_detail;  // checkpoints (shown with -v)
  // Every step; `log_line` on the steps a plain log shows (log_interval and the last).
  std::function<void(const TrainStep&, bool log_line)> on_step;
  std::function<void(int step, double eval_loss)> on_eval;
  // Checked every step; unset: the process's interrupt flag (Ctrl-C).
  std::function<bool()> should_stop;
};

struct FinetuneOutcome {
  std::string run_id;                            // "" outside a project (not tracked)
  std::string method;                            // full | lora
  std::filesystem::path output_dir, merged_dir;  // merged_dir empty without merge
  std::string sha256;                            // the output's content id (tracked) or ""
  TrainResult result;
};

// ws null: outside a project (no run, no store; paths resolve against the config's
// directory). Throws usage errors for bad configs, an Interrupted error (the run marked
// killed, a checkpoint written) when should_stop() said so.
FinetuneOutcome run_finetune(const FinetuneRequest& req, const Workspace* ws,
                             const FinetuneObserver& obs = {});

// What a launcher does before it starts workers: the config read and checked, the base model
// resolved and the data tokenised into the cache (so N workers do not each tokenise it, and a
// bad config fails once). Warnings go to the observer.
void check_finetune(const FinetuneRequest& req, const Workspace* ws,
                    const FinetuneObserver& obs = {});

}  // namespace xops::app
