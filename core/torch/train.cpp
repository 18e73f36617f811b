// The training loop: pretraining, full fine-tuning and LoRA with AdamW, warmup + cosine or
// linear decay, gradient accumulation and clipping, bf16 autocast, evaluation, atomic
// checkpoints (weights, optimizer, RNG, data position) and exact resume.
#include <ATen/autocast_mode.h>
#include <malloc.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.hpp"
#include "core/model/safetensors.hpp"
#include "core/torch/lora.hpp"
#include "core/torch/torch_model.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

namespace fs = std::filesystem;

// Which windows make up sample index i: a seeded permutation per epoch.
class Sampler {
 public:
  Sampler(size_t n, uint64_t seed) : n_(n), seed_(seed) {}
  size_t at(uint64_t i) {
    uint64_t epoch = i / n_;
    if (epoch != epoch_ || perm_.empty()) {
      perm_.resize(n_);
      for (size_t k = 0; k < n_; ++k) perm_[k] = k;
      std::mt19937_64 rng(seed_ * 1000003ULL + epoch);
      std::shuffle(perm_.begin(), perm_.end(), rng);
      epoch_ = epoch;
    }
    return perm_[i % n_];
  }

 private:
  size_t n_;
  uint64_t seed_, epoch_ = ~0ULL;
  std::vector<size_t> perm_;
};

// [B, T+1] windows -> inputs [B, T] and targets [B, T] (-100 where the mask says no).
std::pair<at::Tensor, at::Tensor> make_batch(const TokenWindows& w, const std::vector<size_t>& idx, at::Device dev) {
  const int64_t T = w.seq_len, B = static_cast<int64_t>(idx.size());
  auto ids = at::empty({B, T + 1}, at::kLong), tgt = at::empty({B, T}, at::kLong);
  auto ia = ids.accessor<int64_t, 2>();
  auto ta = tgt.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* row = w.ids.data() + idx[b] * (T + 1);
    const uint8_t* m = w.mask.data() + idx[b] * (T + 1);
    for (int64_t t = 0; t <= T; ++t) ia[b][t] = row[t];
    for (int64_t t = 0; t < T; ++t) ta[b][t] = m[t + 1] ? row[t + 1] : -100;
  }
  return {ids.narrow(1, 0, T).to(dev), tgt.to(dev)};
}

at::Tensor loss_of(const ModelConfig& c, const Weights& w, const at::Tensor& inputs, const at::Tensor& targets,
                   bool training) {
  auto B = inputs.size(0), T = inputs.size(1);
  // [1, T]: the position embedding is gathered once and broadcast over the batch.
  auto pos = at::arange(T, inputs.options()).unsqueeze(0);
  auto valid = at::ones({B, T}, inputs.options().dtype(at::kBool));
  auto h = forward_hidden(c, w, inputs, pos, valid, nullptr, training);
  auto logits = lm_logits(c, w, h).to(at::kFloat);
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

double lr_at(const TrainSpec& cfg, int step, int total) {
  const auto& s = cfg.schedule;
  double base = cfg.optimizer.lr;
  if (s.warmup_steps > 0 && step <= s.warmup_steps) return base * step / s.warmup_steps;
  if (s.type == "constant") return base;
  double span = std::max(1, total - s.warmup_steps);
  double p = std::min(1.0, (step - s.warmup_steps) / span);
  double floor = base * s.min_lr_ratio;
  if (s.type == "linear") return floor + (base - floor) * (1.0 - p);
  return floor + (base - floor) * 0.5 * (1.0 + std::cos(M_PI * p));
}

std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (size_t i = 0; i < n; ++i) s[2 * i] = d[p[i] >> 4], s[2 * i + 1] = d[p[i] & 15];
  return s;
}

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(std::stoi(s.substr(2 * i, 2), nullptr, 16));
  return out;
}

struct Trainable {
  std::vector<std::pair<std::string, at::Tensor*>> named;  // what a checkpoint holds
  std::vector<at::Tensor> decay, no_decay;
};

Trainable collect(const ModelConfig& c, Weights& w, bool lora) {
  Trainable t;
  if (lora) {
    for (auto& [n, p] : named_tensors(c, w)) p->set_requires_grad(false);
    t.named = lora_tensors(c, w);
  } else {
    t.named = named_tensors(c, w);
  }
  for (auto& [name, p] : t.named) {
    p->set_requires_grad(true);
    // No weight decay on biases, norms and LoRA's B (as common practice); decay on matrices.
    (p->dim() >= 2 && name.find("norm") == std::string::npos ? t.decay : t.no_decay).push_back(*p);
  }
  return t;
}

void save_checkpoint(const fs::path& dir, int step, const Trainable& t, torch::optim::AdamW& opt,
                     const std::vector<double>& losses, int keep_last) {
  fs::create_directories(dir);
  auto final_dir = dir / ("step-" + std::to_string(step));
  auto tmp = dir / (".step-" + std::to_string(step) + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (auto& [name, p] : t.named) {
    auto cpu = p->detach().to(at::kCPU).contiguous();
    keep.push_back(cpu);
    tensors.push_back({name, DType::F32, cpu.sizes().vec(), cpu.data_ptr(), static_cast<size_t>(cpu.nbytes())});
  }
  write_safetensors(tmp / "weights.safetensors", tensors);
  torch::save(opt, (tmp / "optimizer.pt").string());
  auto rng = at::detail::getDefaultCPUGenerator().get_state();
  nlohmann::json state = {{"step", step}, {"losses", losses},
                          {"cpu_rng", hex(rng.data_ptr<uint8_t>(), static_cast<size_t>(rng.numel()))}};
  atomic_write_file(tmp / "state.json", state.dump());
  fsync_dir(tmp);
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir);
  fsync_dir(dir);
  // Keep the newest keep_last checkpoints.
  std::vector<int> steps;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("step-", 0) == 0) steps.push_back(std::stoi(e.path().filename().string().substr(5)));
  std::sort(steps.rbegin(), steps.rend());
  for (size_t i = static_cast<size_t>(keep_last); i < steps.size(); ++i)
    fs::remove_all(dir / ("step-" + std::to_string(steps[i])), ec);
}

fs::path latest_checkpoint(const fs::path& dir) {
  std::error_code ec;
  int best = -1;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto n = e.path().filename().string();
    if (n.rfind("step-", 0) == 0 && fs::exists(e.path() / "state.json")) best = std::max(best, std::stoi(n.substr(5)));
  }
  return best < 0 ? fs::path() : dir / ("step-" + std::to_string(best));
}

int load_checkpoint(const fs::path& ckpt, Trainable& t, torch::optim::AdamW& opt, std::vector<double>& losses) {
  auto file = SafetensorsFile::open(ckpt / "weights.safetensors");
  std::map<std::string, const TensorView*> by;
  for (const auto& v : file->tensors()) by[v.name] = &v;
  {
    at::NoGradGuard no_grad;
    for (auto& [name, p] : t.named) {
      auto it = by.find(name);
      if (it == by.end() || it->second->shape != p->sizes().vec())
        throw precondition_error(fmt::format("checkpoint {} does not match this model ({})", ckpt.string(), name),
                                 "resume with the config that wrote it, or start without --resume");
      p->copy_(at::from_blob(const_cast<void*>(it->second->data), it->second->shape, at::kFloat));
    }
  }
  torch::load(opt, (ckpt / "optimizer.pt").string());
  auto state = nlohmann::json::parse(read_file(ckpt / "state.json"));
  losses = state.value("losses", std::vector<double>{});
  auto bytes = unhex(state.at("cpu_rng").get<std::string>());
  auto rng = at::from_blob(bytes.data(), {static_cast<int64_t>(bytes.size())}, at::kByte).clone();
  auto gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(rng);
  return state.at("step").get<int>();
}

// The base model loaded, or a new one initialised (master weights stay fp32).
std::unique_ptr<TorchModel> model_for(const TrainJob& job, at::Device dev, bool lora) {
  const auto& cfg = job.cfg;
  if (!job.base_dir.empty()) {
    LoadOptions lo;
    lo.device = dev.str();
    lo.threads = cfg.threads;
    lo.zero_copy = lora;  // full training writes every weight in place: it needs its own copy
    lo.keep_quantized = false;  // a GGUF Q8_0 base is widened: training runs in fp32/bf16
    return TorchModel::load(job.base_dir, lo);
  }
  if (!job.init_tokenizer) throw runtime_error("internal: init without a tokenizer");
  auto w =
      init_weights(job.init_config, cfg.seed, at::TensorOptions().dtype(at::kFloat).device(dev));
  return std::make_unique<TorchModel>(job.init_config, std::move(w), job.init_tokenizer->clone(),
                                      dev, at::kFloat);
}

// AdamW with weight decay on the matrices only.
std::unique_ptr<torch::optim::AdamW> make_optimizer(const TrainSpec& cfg, const Trainable& t) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(cfg.optimizer.lr)
                                                            .betas({cfg.optimizer.beta1, cfg.optimizer.beta2})
                                                            .eps(cfg.optimizer.eps)
                                                            .weight_decay(wd));
  };
  if (!t.decay.empty()) groups.emplace_back(t.decay, opts(cfg.optimizer.weight_decay));
  if (!t.no_decay.empty()) groups.emplace_back(t.no_decay, opts(0.0));
  return std::make_unique<torch::optim::AdamW>(groups,
                                               torch::optim::AdamWOptions(cfg.optimizer.lr));
}

void enable_autocast(const std::string& dtype, at::Device dev) {
  if (dtype != "bf16") return;
  if (dev.is_cuda()) {
    at::autocast::set_enabled(true);
  } else {
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
}

// One training run: the model, what trains, the optimizer, and the loop over steps.
class Trainer {
 public:
  Trainer(const TrainJob& job, const TrainCallbacks& cb)
      : job_(job),
        cfg_(job.cfg),
        cb_(cb),
        dev_(resolve_device(cfg_.device)),
        lora_(cfg_.method == "lora") {}

  TrainResult run() {
    setup();
    int start = resume();
    enable_autocast(cfg_.dtype, dev_);
    loop(start);
    at::autocast::set_enabled(false);
    at::autocast::set_cpu_enabled(false);
    if (!res_.eval_loss && !res_.interrupted) res_.eval_loss = validation_loss();
    if (!res_.interrupted) save_output();
    return res_;
  }

 private:
  void setup() {
    at::manual_seed(cfg_.seed);
    if (!job_.train || job_.train->count() == 0) throw runtime_error("no training windows");
    model_ = model_for(job_, dev_, lora_);
    const auto& mc = model_->config();
    auto& w = model_->weights();
    if (job_.train->seq_len > mc.max_positions)
      throw usage_error(fmt::format("data.seq_len {} exceeds the model's context of {}",
                                    job_.train->seq_len, mc.max_positions));
    spec_ = LoraSpec{cfg_.lora.r, cfg_.lora.alpha, cfg_.lora.dropout, cfg_.lora.target_modules};
    if (lora_) attach_lora(mc, w, spec_, cfg_.seed);
    t_ = collect(mc, w, lora_);
    for (auto& [n, p] : named_tensors(mc, w)) res_.total_params += p->numel();
    for (auto& [n, p] : t_.named) res_.trainable_params += p->numel();
    if (lora_) res_.total_params += res_.trainable_params;
    if (cb_.on_info)
      cb_.on_info(fmt::format("trainable params: {} || all params: {} || trainable%: {:.4f}",
                              res_.trainable_params, res_.total_params,
                              100.0 * res_.trainable_params / res_.total_params));
    opt_ = make_optimizer(cfg_, t_);
    const int64_t per_step = static_cast<int64_t>(cfg_.batch_size) * cfg_.grad_accum;
    total_ =
        cfg_.max_steps > 0
            ? cfg_.max_steps
            : static_cast<int>(cfg_.epochs * ((job_.train->count() + per_step - 1) / per_step));
    res_.total_steps = total_;
  }

  // The step to continue after: 0, or the latest checkpoint's with --resume.
  int resume() {
    if (!job_.resume) return 0;
    auto ck = latest_checkpoint(job_.checkpoint_dir);
    if (ck.empty())
      throw precondition_error(
          fmt::format("--resume: no checkpoint in {}", job_.checkpoint_dir.string()),
          "run without --resume to start from step 0");
    int start = load_checkpoint(ck, t_, *opt_, res_.losses);
    res_.resumed_from = start;
    if (cb_.on_info) cb_.on_info(fmt::format("resumed from {} (step {})", ck.string(), start));
    return start;
  }

  // The mean loss over up to eval_batches validation batches (none without validation data).
  std::optional<double> validation_loss() {
    if (!job_.val || job_.val->count() == 0) return std::nullopt;
    at::NoGradGuard no_grad;
    const auto& val = *job_.val;
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < val.count() && n < cfg_.eval_batches; i += cfg_.batch_size, ++n) {
      std::vector<size_t> idx;
      for (size_t k = i; k < std::min(val.count(), i + cfg_.batch_size); ++k) idx.push_back(k);
      auto [in, tg] = make_batch(val, idx, dev_);
      sum += loss_of(model_->config(), model_->weights(), in, tg, false).item<double>();
    }
    return n ? std::optional<double>(sum / n) : std::nullopt;
  }

  struct StepResult {
    double loss = 0, grad_norm = 0;
    int64_t tokens = 0;
  };

  // One optimizer step over grad_accum micro-batches.
  StepResult step(int step, Sampler& sampler) {
    const int64_t per_step = static_cast<int64_t>(cfg_.batch_size) * cfg_.grad_accum;
    StepResult r;
    for (int micro = 0; micro < cfg_.grad_accum; ++micro) {
      std::vector<size_t> idx;
      uint64_t base = static_cast<uint64_t>(step - 1) * per_step +
                      static_cast<uint64_t>(micro) * cfg_.batch_size;
      for (int b = 0; b < cfg_.batch_size; ++b) idx.push_back(sampler.at(base + b));
      auto [in, tg] = make_batch(*job_.train, idx, dev_);
      auto loss = loss_of(model_->config(), model_->weights(), in, tg, true) / cfg_.grad_accum;
      loss.backward();
      r.loss += loss.item<double>();
      r.tokens += in.numel();
    }
    std::vector<at::Tensor> params;
    for (auto& [n, p] : t_.named) params.push_back(*p);
    r.grad_norm =
        cfg_.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(params, cfg_.grad_clip) : 0.0;
    opt_->step();
    opt_->zero_grad();
    return r;
  }

  // After a step: evaluation at eval_interval, a checkpoint at save_interval or when asked to
  // stop. Returns whether to stop.
  bool after_step(int step) {
    if (cfg_.eval_interval > 0 && (step % cfg_.eval_interval == 0 || step == total_)) {
      res_.eval_loss = validation_loss();
      if (res_.eval_loss && cb_.on_eval) cb_.on_eval(step, *res_.eval_loss);
    }
    bool stop = cb_.should_stop && cb_.should_stop();
    if ((cfg_.save_interval > 0 && step % cfg_.save_interval == 0) || stop) {
      save_checkpoint(job_.checkpoint_dir, step, t_, *opt_, res_.losses, cfg_.keep_last);
      res_.last_checkpoint = job_.checkpoint_dir / ("step-" + std::to_string(step));
      if (cb_.on_checkpoint) cb_.on_checkpoint(step, res_.last_checkpoint);
    }
    res_.interrupted = stop;
    return stop;
  }

  void loop(int start) {
    Sampler sampler(job_.train->count(), cfg_.seed);
    auto t0 = std::chrono::steady_clock::now();
    auto last = t0;
    int64_t tokens = 0;
    // Throughput leaves out the first steps (allocator and thread-pool warm-up), as the
    // PyTorch peer does with --warmup.
    const int warmup = std::min(5, std::max(0, (total_ - start) / 10));
    auto steady_t0 = t0;
    int64_t steady_tokens = 0;
    int s = start;
    for (s = start + 1; s <= total_; ++s) {
      double lr = lr_at(cfg_, s, total_);
      for (auto& g : opt_->param_groups())
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      auto r = step(s, sampler);
      tokens += r.tokens;
      res_.losses.push_back(r.loss);
      res_.final_loss = r.loss;
      auto now = std::chrono::steady_clock::now();
      if (s - start == warmup) steady_t0 = now;
      if (s - start > warmup) steady_tokens += r.tokens;
      double dt = std::chrono::duration<double>(now - last).count();
      if (cb_.on_step)
        cb_.on_step(TrainStep{s, total_, r.loss, lr, r.grad_norm, dt > 0 ? r.tokens / dt : 0,
                              std::chrono::duration<double>(now - t0).count()});
      last = now;
      if (after_step(s)) break;
    }
    res_.steps = res_.interrupted ? s : total_;
    auto t_end = std::chrono::steady_clock::now();
    res_.seconds = std::chrono::duration<double>(t_end - t0).count();
    double steady_s = std::chrono::duration<double>(t_end - steady_t0).count();
    res_.tokens_per_s = steady_tokens > 0 && steady_s > 0
                            ? steady_tokens / steady_s
                            : (res_.seconds > 0 ? tokens / res_.seconds : 0);
  }

  // The adapter in PEFT layout (and the merged model with --merge), or the full model.
  void save_output() {
    const auto& mc = model_->config();
    auto& w = model_->weights();
    for (auto& [n, p] : named_tensors(mc, w)) p->set_requires_grad(false);
    for (auto& [n, p] : lora_tensors(mc, w)) p->set_requires_grad(false);
    if (!lora_) {
      model_->save(job_.output_dir);
      return;
    }
    save_peft_adapter(mc, w, spec_, job_.output_dir, job_.base_dir.string());
    if (!job_.merged_dir.empty()) {
      merge_lora(mc, w);
      model_->save(job_.merged_dir);
    }
  }

  const TrainJob& job_;
  const TrainSpec& cfg_;
  const TrainCallbacks& cb_;
  at::Device dev_;
  bool lora_;
  std::unique_ptr<TorchModel> model_;
  LoraSpec spec_;
  Trainable t_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  int total_ = 0;
  TrainResult res_;
};

}  // namespace

TrainResult train_model(const TrainJob& job, const TrainCallbacks& cb) {
  // Large temporaries cross glibc's mmap threshold every step: keep them in the heap.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  configure_threads(job.cfg.threads);
  return Trainer(job, cb).run();
}

}  // namespace xops
