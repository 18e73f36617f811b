#pragma once
// What a training run trains, and its checkpoints: step-N/ directories holding the trainable
// tensors (safetensors), the optimizer state, the losses so far and the CPU RNG, written
// atomically (built beside, renamed), the newest keep_last kept. A checkpoint also travels as
// one byte string, so that a distributed run's rank 0 can hand it to ranks on other machines.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/torch/transformer.hpp"

namespace torch::optim {
class AdamW;
}  // namespace torch::optim

namespace xops {

struct Trainable {
  std::vector<std::pair<std::string, at::Tensor*>> named;  // what a checkpoint holds
  std::vector<at::Tensor> decay, no_decay;
};

// The model's tensors to train (LoRA: the adapters only, the base frozen), grouped for decay.
Trainable collect(const ModelConfig& c, Weights& w, bool lora);

void save_checkpoint(const std::filesystem::path& dir, int step, const Trainable& t,
                     torch::optim::AdamW& opt, const std::vector<double>& losses, int keep_last);
// The newest complete step-N/ in dir ("" when none).
std::filesystem::path latest_checkpoint(const std::filesystem::path& dir);
// Restores tensors, optimizer, losses and RNG; returns the step it was written after.
int load_checkpoint(const std::filesystem::path& ckpt, Trainable& t, torch::optim::AdamW& opt,
                    std::vector<double>& losses);

// A checkpoint directory's files as one string, and back into a new directory.
std::string pack_checkpoint(const std::filesystem::path& ckpt);
void unpack_checkpoint(const std::string& packed, const std::filesystem::path& dir);

}  // namespace xops
