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

double lr_at(const FinetuneConfig& cfg, int step, int total) {
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

}  // namespace

TrainResult train_model(const TrainJob& job, const TrainCallbacks& cb) {
  // Large temporaries cross glibc's mmap threshold every step: keep them in the heap.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  const auto& cfg = job.cfg;
  configure_threads(cfg.threads);
  auto dev = resolve_device(cfg.device);
  at::manual_seed(cfg.seed);
  const bool lora = cfg.method == "lora";
  if (!job.train || job.train->count() == 0) throw runtime_error("no training windows");

  // Master weights stay fp32; bf16 runs under autocast.
  std::unique_ptr<TorchModel> model;
  if (!job.base_dir.empty()) {
    LoadOptions lo;
    lo.device = dev.str();
    lo.threads = cfg.threads;
    lo.zero_copy = lora;  // full training writes every weight in place: it needs its own copy
    model = TorchModel::load(job.base_dir, lo);
  } else {
    if (!job.init_tokenizer) throw runtime_error("internal: init without a tokenizer");
    auto w = init_weights(job.init_config, cfg.seed, at::TensorOptions().dtype(at::kFloat).device(dev));
    model = std::make_unique<TorchModel>(job.init_config, std::move(w), job.init_tokenizer->clone(), dev, at::kFloat);
  }
  const auto& mc = model->config();
  auto& w = model->weights();
  if (job.train->seq_len > mc.max_positions)
    throw usage_error(fmt::format("data.seq_len {} exceeds the model's context of {}", job.train->seq_len, mc.max_positions));
  LoraSpec spec{cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.target_modules};
  if (lora) attach_lora(mc, w, spec, cfg.seed);
  auto t = collect(mc, w, lora);
  TrainResult res;
  for (auto& [n, p] : named_tensors(mc, w)) res.total_params += p->numel();
  for (auto& [n, p] : t.named) res.trainable_params += p->numel();
  if (lora) res.total_params += res.trainable_params;
  if (cb.on_info)
    cb.on_info(fmt::format("trainable params: {} || all params: {} || trainable%: {:.4f}", res.trainable_params,
                           res.total_params, 100.0 * res.trainable_params / res.total_params));

  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(cfg.optimizer.lr)
                                                            .betas({cfg.optimizer.beta1, cfg.optimizer.beta2})
                                                            .eps(cfg.optimizer.eps)
                                                            .weight_decay(wd));
  };
  if (!t.decay.empty()) groups.emplace_back(t.decay, opts(cfg.optimizer.weight_decay));
  if (!t.no_decay.empty()) groups.emplace_back(t.no_decay, opts(0.0));
  torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(cfg.optimizer.lr));

  const auto& train = *job.train;
  const int64_t per_step = static_cast<int64_t>(cfg.batch_size) * cfg.grad_accum;
  int total = cfg.max_steps > 0 ? cfg.max_steps
                                : static_cast<int>(cfg.epochs * ((train.count() + per_step - 1) / per_step));
  res.total_steps = total;
  int start = 0;
  if (job.resume) {
    auto ck = latest_checkpoint(job.checkpoint_dir);
    if (ck.empty())
      throw precondition_error(fmt::format("--resume: no checkpoint in {}", job.checkpoint_dir.string()),
                               "run without --resume to start from step 0");
    start = load_checkpoint(ck, t, opt, res.losses);
    res.resumed_from = start;
    if (cb.on_info) cb.on_info(fmt::format("resumed from {} (step {})", ck.string(), start));
  }
  Sampler sampler(train.count(), cfg.seed);
  if (cfg.dtype == "bf16") {
    if (dev.is_cuda()) {
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
  }
  auto eval = [&]() -> std::optional<double> {
    if (!job.val || job.val->count() == 0) return std::nullopt;
    at::NoGradGuard no_grad;
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < job.val->count() && n < cfg.eval_batches; i += cfg.batch_size, ++n) {
      std::vector<size_t> idx;
      for (size_t k = i; k < std::min(job.val->count(), i + cfg.batch_size); ++k) idx.push_back(k);
      auto [in, tg] = make_batch(*job.val, idx, dev);
      sum += loss_of(mc, w, in, tg, false).item<double>();
    }
    return n ? std::optional<double>(sum / n) : std::nullopt;
  };

  auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  int64_t tokens = 0, tokens_since = 0;
  // Throughput leaves out the first steps (allocator and thread-pool warm-up), as the
  // PyTorch peer does with --warmup.
  const int warmup = std::min(5, std::max(0, (total - start) / 10));
  auto steady_t0 = t0;
  int64_t steady_tokens = 0;
  int step = start;
  for (step = start + 1; step <= total; ++step) {
    double lr = lr_at(cfg, step, total);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    double step_loss = 0;
    for (int micro = 0; micro < cfg.grad_accum; ++micro) {
      std::vector<size_t> idx;
      uint64_t base = static_cast<uint64_t>(step - 1) * per_step + static_cast<uint64_t>(micro) * cfg.batch_size;
      for (int b = 0; b < cfg.batch_size; ++b) idx.push_back(sampler.at(base + b));
      auto [in, tg] = make_batch(train, idx, dev);
      auto loss = loss_of(mc, w, in, tg, true) / cfg.grad_accum;
      loss.backward();
      step_loss += loss.item<double>();
      tokens += in.numel();
      tokens_since += in.numel();
    }
    std::vector<at::Tensor> params;
    for (auto& [n, p] : t.named) params.push_back(*p);
    double gnorm = cfg.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(params, cfg.grad_clip)
                                     : 0.0;
    opt.step();
    opt.zero_grad();
    res.losses.push_back(step_loss);
    res.final_loss = step_loss;
    auto now = std::chrono::steady_clock::now();
    if (step - start == warmup) steady_t0 = now;
    if (step - start > warmup) steady_tokens += tokens_since;
    double dt = std::chrono::duration<double>(now - last).count();
    if (cb.on_step) {
      TrainStep s{step, total, step_loss, lr, gnorm, dt > 0 ? tokens_since / dt : 0,
                  std::chrono::duration<double>(now - t0).count()};
      cb.on_step(s);
    }
    last = now;
    tokens_since = 0;
    if (cfg.eval_interval > 0 && (step % cfg.eval_interval == 0 || step == total)) {
      res.eval_loss = eval();
      if (res.eval_loss && cb.on_eval) cb.on_eval(step, *res.eval_loss);
    }
    bool stop = cb.should_stop && cb.should_stop();
    if ((cfg.save_interval > 0 && step % cfg.save_interval == 0) || stop) {
      save_checkpoint(job.checkpoint_dir, step, t, opt, res.losses, cfg.keep_last);
      res.last_checkpoint = job.checkpoint_dir / ("step-" + std::to_string(step));
      if (cb.on_checkpoint) cb.on_checkpoint(step, res.last_checkpoint);
    }
    if (stop) {
      res.interrupted = true;
      break;
    }
  }
  at::autocast::set_enabled(false);
  at::autocast::set_cpu_enabled(false);
  res.steps = res.interrupted ? step : total;
  auto t_end = std::chrono::steady_clock::now();
  res.seconds = std::chrono::duration<double>(t_end - t0).count();
  double steady_s = std::chrono::duration<double>(t_end - steady_t0).count();
  res.tokens_per_s = steady_tokens > 0 && steady_s > 0 ? steady_tokens / steady_s
                                                       : (res.seconds > 0 ? tokens / res.seconds : 0);
  if (!res.eval_loss && !res.interrupted) res.eval_loss = eval();
  if (res.interrupted) return res;

  for (auto& [n, p] : named_tensors(mc, w)) p->set_requires_grad(false);
  for (auto& [n, p] : lora_tensors(mc, w)) p->set_requires_grad(false);
  if (lora) {
    save_peft_adapter(mc, w, spec, job.output_dir, job.base_dir.string());
    if (!job.merged_dir.empty()) {
      merge_lora(mc, w);
      model->save(job.merged_dir);
    }
  } else {
    model->save(job.output_dir);
  }
  return res;
}

}  // namespace xops
