// The training loop: pretraining, full fine-tuning and LoRA with AdamW, warmup + cosine or
// linear decay, gradient accumulation and clipping, bf16 autocast, evaluation, atomic
// checkpoints (weights, optimizer, RNG, data position) and exact resume.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "core/engine/batch_plan.hpp"
#include "core/error.hpp"
#include "core/torch/data_parallel.hpp"
#include "core/torch/lora.hpp"
#include "core/torch/torch_model.hpp"
#include "core/torch/train_checkpoint.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

namespace fs = std::filesystem;

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

// The mean cross-entropy over target tokens, or (sum) their total.
at::Tensor loss_of(const ModelConfig& c, const Weights& w, const at::Tensor& inputs,
                   const at::Tensor& targets, bool training, bool sum = false) {
  auto B = inputs.size(0), T = inputs.size(1);
  // [1, T]: the position embedding is gathered once and broadcast over the batch.
  auto pos = at::arange(T, inputs.options()).unsqueeze(0);
  auto valid = at::ones({B, T}, inputs.options().dtype(at::kBool));
  auto h = forward_hidden(c, w, inputs, pos, valid, nullptr, training);
  auto logits = lm_logits(c, w, h).to(at::kFloat);
  auto opts = torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100);
  if (sum) opts.reduction(torch::kSum);
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                              targets.reshape({-1}), opts);
}

// How many tokens of these windows count in the loss.
int64_t target_count(const TokenWindows& w, const std::vector<size_t>& idx) {
  const size_t T = static_cast<size_t>(w.seq_len);
  int64_t n = 0;
  for (size_t i : idx) {
    const uint8_t* m = w.mask.data() + i * (T + 1);
    for (size_t t = 1; t <= T; ++t) n += m[t] ? 1 : 0;
  }
  return n;
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

// bf16 autocast around one forward pass, as `with torch.autocast(...)` scopes it. Autocast
// caches the bf16 copy of every weight it casts until the outermost scope exits; a scope held
// across optimizer steps would keep running the forward on the first step's weights (the
// loss then falls far slower than in fp32), so each forward gets its own scope.
class AutocastScope {
 public:
  AutocastScope(const std::string& dtype, at::Device dev)
      : on_(dtype == "bf16"), cuda_(dev.is_cuda()) {
    if (!on_) return;
    prev_ = cuda_ ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
    if (cuda_) {
      at::autocast::set_enabled(true);
    } else {
      prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    if (cuda_) {
      at::autocast::set_enabled(prev_);
    } else {
      at::autocast::set_cpu_enabled(prev_);
      at::autocast::set_autocast_cpu_dtype(prev_dtype_);
    }
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_, cuda_, prev_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// The device a rank trains on: on CUDA each rank of a node takes its own GPU, cuda:LOCAL_RANK
// (NCCL refuses two ranks on one device).
at::Device rank_device(const std::string& device, const WorldSpec& world) {
  auto dev = resolve_device(device);
  if (!dev.is_cuda() || world.local_world_size <= 1) return dev;
  if (device != "auto" && device != "cuda")
    throw usage_error(fmt::format("device {} with {} ranks on this node: every rank would use the "
                                  "same GPU",
                                  device, world.local_world_size),
                      "use device: cuda (rank r of a node takes cuda:LOCAL_RANK)");
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(world.local_rank));
}

// One training run: the model, what trains, the optimizer, and the loop over steps. With a
// world of several processes it is one rank of a data-parallel run: every rank holds the
// whole model and steps the same optimizer on gradients all-reduced over the group; rank 0
// alone reports, checkpoints and writes the output.
class Trainer {
 public:
  Trainer(const TrainJob& job, const TrainCallbacks& cb)
      : job_(job),
        cfg_(job.cfg),
        cb_(cb),
        dev_(rank_device(cfg_.device, job.world)),
        lora_(cfg_.method == "lora"),
        lead_(job.world.rank == 0) {}

  TrainResult run() {
    setup();
    int start = resume();
    loop(start);
    if (!res_.eval_loss && !res_.interrupted) res_.eval_loss = validation_loss();
    if (!res_.interrupted && lead_) save_output();
    return res_;
  }

 private:
  // loss_of under the run's precision: the forward in bf16 autocast when dtype is bf16 (the
  // backward runs outside it, as PyTorch recommends).
  at::Tensor loss(const at::Tensor& in, const at::Tensor& tg, bool training, bool sum = false) {
    AutocastScope autocast(cfg_.dtype, dev_);
    return loss_of(model_->config(), model_->weights(), in, tg, training, sum);
  }

  void info(const std::string& s) {
    if (lead_ && cb_.on_info) cb_.on_info(s);
  }

  void setup() {
    at::manual_seed(cfg_.seed);
    if (!job_.train || job_.train->count() == 0) throw runtime_error("no training windows");
    if (job_.world.distributed()) join_world();
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
    info(fmt::format("trainable params: {} || all params: {} || trainable%: {:.4f}",
                     res_.trainable_params, res_.total_params,
                     100.0 * res_.trainable_params / res_.total_params));
    opt_ = make_optimizer(cfg_, t_);
    const int64_t per_step = static_cast<int64_t>(cfg_.batch_size) * cfg_.grad_accum;
    total_ =
        cfg_.max_steps > 0
            ? cfg_.max_steps
            : static_cast<int>(cfg_.epochs * ((job_.train->count() + per_step - 1) / per_step));
    res_.total_steps = total_;
    if (dp_) share_model();
  }

  // The rendezvous, before the model is loaded: a rank that cannot join fails fast.
  void join_world() {
    const auto& wd = job_.world;
    if (cfg_.batch_size < wd.world_size)
      throw usage_error(
          fmt::format("batch_size {} is smaller than the world size {}: every rank needs at "
                      "least one window of each micro-batch",
                      cfg_.batch_size, wd.world_size),
          "raise batch_size (it is the global batch) or start fewer processes");
    dp_ = DataParallel::connect(wd, dev_.is_cuda());
    res_.world_size = wd.world_size;
    if (lead_ && cb_.on_world) cb_.on_world(dp_->hosts());
  }

  // Every rank must train the same run: what rank 0 has is compared with everyone's (a rank
  // with other data or settings would silently train something else), then rank 0's starting
  // weights are copied to all, as DDP does.
  void share_model() {
    const auto& tr = *job_.train;
    int64_t data_sum = 0;
    for (size_t i = 0; i < tr.ids.size(); i += 97) data_sum = data_sum * 31 + tr.ids[i];
    std::vector<int64_t> mine = {static_cast<int64_t>(tr.count()),
                                 tr.seq_len,
                                 data_sum,
                                 job_.val ? static_cast<int64_t>(job_.val->count()) : 0,
                                 cfg_.batch_size,
                                 cfg_.grad_accum,
                                 total_,
                                 static_cast<int64_t>(cfg_.seed),
                                 res_.trainable_params,
                                 res_.total_params};
    auto theirs = at::tensor(mine, at::kLong);
    dp_->broadcast({theirs});
    static const char* names[] = {
        "training windows", "seq_len", "data", "validation windows",   "batch_size",
        "grad_accum",       "steps",   "seed", "trainable parameters", "parameters"};
    for (size_t i = 0; i < mine.size(); ++i)
      if (theirs[static_cast<int64_t>(i)].item<int64_t>() != mine[i])
        throw usage_error(
            fmt::format("rank {}'s run differs from rank 0's in its {} ({} here, {} on rank 0)",
                        job_.world.rank, names[i], mine[i],
                        theirs[static_cast<int64_t>(i)].item<int64_t>()),
            "start every rank with the same config, data and base model");
    std::vector<at::Tensor> params;
    for (auto& [n, p] : t_.named) params.push_back(*p);
    dp_->broadcast(params);
    dp_->attach(params);
  }

  // The step to continue after: 0, or the latest checkpoint's with --resume. In a distributed
  // run rank 0 reads it and sends it to every rank (they need not share a file system), so
  // a run may resume with another world size: the data position is the step.
  int resume() {
    if (!job_.resume) return 0;
    fs::path ck = lead_ ? latest_checkpoint(job_.checkpoint_dir) : fs::path();
    std::string packed;
    if (dp_) {
      packed = dp_->broadcast_bytes(lead_ && !ck.empty() ? pack_checkpoint(ck) : std::string());
      if (!packed.empty() && !lead_) {
        scratch_.path = fs::temp_directory_path() /
                        fmt::format("xops-resume-{}-{}", ::getpid(), job_.world.rank);
        unpack_checkpoint(packed, scratch_.path);
        ck = scratch_.path;
      }
    }
    if (ck.empty() || (dp_ && packed.empty()))
      throw precondition_error(
          fmt::format("--resume: no checkpoint in {}", job_.checkpoint_dir.string()),
          "run without --resume to start from step 0");
    int start = load_checkpoint(ck, t_, *opt_, res_.losses);
    scratch_.remove();
    res_.resumed_from = start;
    info(fmt::format("resumed from {} (step {})",
                     lead_ ? ck.string() : job_.checkpoint_dir.string(), start));
    return start;
  }

  // The mean loss over up to eval_batches validation batches (none without validation data).
  // Distributed: batch n is computed by rank n mod world and the sums are all-reduced.
  std::optional<double> validation_loss() {
    if (!job_.val || job_.val->count() == 0) return std::nullopt;
    at::NoGradGuard no_grad;
    const auto& val = *job_.val;
    const int world = dp_ ? dp_->world_size() : 1, rank = dp_ ? dp_->rank() : 0;
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < val.count() && n < cfg_.eval_batches; i += cfg_.batch_size, ++n) {
      if (n % world != rank) continue;
      std::vector<size_t> idx;
      for (size_t k = i; k < std::min(val.count(), i + cfg_.batch_size); ++k) idx.push_back(k);
      auto [in, tg] = make_batch(val, idx, dev_);
      sum += loss(in, tg, false).item<double>();
    }
    if (dp_) {
      auto t = at::tensor({sum}, at::kDouble);
      dp_->all_reduce_sum(t);
      sum = t[0].item<double>();
    }
    return n ? std::optional<double>(sum / n) : std::nullopt;
  }

  struct StepResult {
    double loss = 0, grad_norm = 0;
    int64_t tokens = 0;  // of the global batch
  };

  // One optimizer step over grad_accum micro-batches.
  StepResult step(int step, BatchPlan& plan) {
    StepResult r;
    for (int micro = 0; micro < cfg_.grad_accum; ++micro) {
      auto global = plan.global_batch(step, micro);
      r.tokens += static_cast<int64_t>(global.size()) * job_.train->seq_len;
      if (!dp_) {
        auto [in, tg] = make_batch(*job_.train, global, dev_);
        auto loss = this->loss(in, tg, true) / cfg_.grad_accum;
        loss.backward();
        r.loss += loss.item<double>();
        continue;
      }
      // This rank's slice of the global micro-batch. Its loss is its tokens' sum over the
      // global batch's target count, so the ranks' parts add up to the mean one process
      // computes even when the slices hold different numbers of targets; the Reducer
      // averages gradients over ranks, so the part is scaled by the world size to sum them.
      auto [b, e] = BatchPlan::shard(global.size(), dp_->rank(), dp_->world_size());
      std::vector<size_t> idx(global.begin() + static_cast<std::ptrdiff_t>(b),
                              global.begin() + static_cast<std::ptrdiff_t>(e));
      auto [in, tg] = make_batch(*job_.train, idx, dev_);
      const double targets =
          static_cast<double>(std::max<int64_t>(1, target_count(*job_.train, global)));
      auto part = loss(in, tg, true, /*sum=*/true) / (targets * cfg_.grad_accum);
      if (micro == cfg_.grad_accum - 1) dp_->prepare_for_backward();
      auto loss = part * static_cast<double>(dp_->world_size());
      dp_->guarded("backward (gradient all-reduce)", [&] { loss.backward(); });
      r.loss += part.item<double>();
    }
    std::vector<at::Tensor> params;
    for (auto& [n, p] : t_.named) params.push_back(*p);
    r.grad_norm =
        cfg_.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(params, cfg_.grad_clip) : 0.0;
    opt_->step();
    opt_->zero_grad();
    return r;
  }

  // The global loss: the sum of the ranks' parts.
  void agree_loss(StepResult& r) {
    if (!dp_) return;
    auto t = at::tensor({r.loss}, at::kDouble);
    dp_->all_reduce_sum(t);
    r.loss = t[0].item<double>();
  }

  // Whether to stop after this step: asked on any rank means all stop (a rank that stopped
  // alone would leave the others waiting in the next collective).
  bool should_stop() {
    bool stop = cb_.should_stop && cb_.should_stop();
    if (!dp_) return stop;
    auto t = at::tensor({stop ? 1.0 : 0.0}, at::kDouble);
    dp_->all_reduce_sum(t);
    return t[0].item<double>() > 0;
  }

  // After a step: evaluation at eval_interval, a checkpoint at save_interval or when asked to
  // stop (rank 0 writes it). Returns whether to stop.
  bool after_step(int step, bool stop) {
    if (cfg_.eval_interval > 0 && (step % cfg_.eval_interval == 0 || step == total_)) {
      res_.eval_loss = validation_loss();
      if (res_.eval_loss && lead_ && cb_.on_eval) cb_.on_eval(step, *res_.eval_loss);
    }
    if ((cfg_.save_interval > 0 && step % cfg_.save_interval == 0) || stop) {
      if (lead_) save_checkpoint(job_.checkpoint_dir, step, t_, *opt_, res_.losses, cfg_.keep_last);
      res_.last_checkpoint = job_.checkpoint_dir / ("step-" + std::to_string(step));
      if (lead_ && cb_.on_checkpoint) cb_.on_checkpoint(step, res_.last_checkpoint);
    }
    res_.interrupted = stop;
    return stop;
  }

  void loop(int start) {
    BatchPlan plan(job_.train->count(), cfg_.seed, cfg_.batch_size, cfg_.grad_accum);
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
      auto r = step(s, plan);
      agree_loss(r);
      tokens += r.tokens;
      res_.losses.push_back(r.loss);
      res_.final_loss = r.loss;
      auto now = std::chrono::steady_clock::now();
      if (s - start == warmup) steady_t0 = now;
      if (s - start > warmup) steady_tokens += r.tokens;
      double dt = std::chrono::duration<double>(now - last).count();
      if (lead_ && cb_.on_step)
        cb_.on_step(TrainStep{s, total_, r.loss, lr, r.grad_norm, dt > 0 ? r.tokens / dt : 0,
                              std::chrono::duration<double>(now - t0).count()});
      last = now;
      if (after_step(s, should_stop())) break;
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
  bool lora_, lead_;
  std::unique_ptr<DataParallel> dp_;  // null: one process
  std::unique_ptr<TorchModel> model_;
  LoraSpec spec_;
  Trainable t_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  int total_ = 0;
  // A checkpoint received from rank 0, removed with the trainer whatever happens.
  struct Scratch {
    fs::path path;
    void remove() {
      std::error_code ec;
      if (!path.empty()) fs::remove_all(path, ec);
      path.clear();
    }
    ~Scratch() { remove(); }
  } scratch_;
  TrainResult res_;
};

}  // namespace

TrainResult train_model(const TrainJob& job, const TrainCallbacks& cb) {
  configure_threads(job.cfg.threads);  // also keeps large temporaries in the heap
  return Trainer(job, cb).run();
}

}  // namespace xops
