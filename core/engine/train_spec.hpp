#pragma once
// What the engine needs to train: the hyperparameters of a run and its tokenised data. Defined
// here, below finetune/, so the engine does not depend on how a config file is read
// (FinetuneConfig extends TrainSpec with the file's data, model and output settings).
#include <cstdint>
#include <string>
#include <vector>

namespace xops {

struct TrainSpec {
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
};

struct TokenWindows {
  int seq_len = 0;
  std::vector<int32_t> ids;   // count() * (seq_len + 1)
  std::vector<uint8_t> mask;  // 1 where the token counts as a prediction target
  size_t count() const { return seq_len ? ids.size() / (seq_len + 1) : 0; }
};

}  // namespace xops
