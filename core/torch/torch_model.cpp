#include "core/torch/torch_model.hpp"

#include <torch/torch.h>

#include <chrono>
#include <random>
#include <thread>

#include "core/error.hpp"
#include "core/model/safetensors.hpp"
#include "core/torch/lora.hpp"
#include "core/util/fs.hpp"

namespace xops {

at::Device resolve_device(const std::string& device) {
  if (device == "auto") return torch::cuda::is_available() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  if (device == "cpu") return at::Device(at::kCPU);
  if (device.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw precondition_error("device 'cuda' requested but CUDA is not available",
                               "this LibTorch build or machine has no GPU: choose the CPU (generate --device cpu, "
                               "finetune --set device=cpu, or XOPS_DEVICE=cpu)");
    return at::Device(device);
  }
  throw usage_error(fmt::format("unknown device '{}'", device), "use auto, cpu, cuda or cuda:N");
}

at::ScalarType resolve_dtype(const std::string& dtype) {
  if (dtype == "fp32") return at::kFloat;
  if (dtype == "bf16") return at::kBFloat16;
  if (dtype == "fp16") return at::kHalf;
  throw usage_error(fmt::format("unknown dtype '{}'", dtype), "use fp32, bf16 or fp16");
}

void configure_threads(int threads) {
  // LibTorch defaults to 1 thread here; decide deliberately.
  int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

TorchModel::TorchModel(ModelConfig cfg, Weights w, Tokenizer tok, at::Device dev, at::ScalarType dt)
    : cfg_(std::move(cfg)), w_(std::move(w)), tok_(std::move(tok)), dev_(dev), dt_(dt) {}

std::unique_ptr<TorchModel> TorchModel::load(const std::filesystem::path& dir, const LoadOptions& opts) {
  configure_threads(opts.threads);
  auto cfg = load_model_config(dir);
  auto tok = Tokenizer::load(dir);
  if (tok.vocab_size() > static_cast<size_t>(cfg.vocab_size))
    throw runtime_error(fmt::format("{}: the tokenizer has {} tokens but the model only {}", dir.string(),
                                    tok.vocab_size(), cfg.vocab_size));
  auto dev = resolve_device(opts.device);
  auto dt = resolve_dtype(opts.dtype);
  auto ckpt = std::make_shared<const Checkpoint>(Checkpoint::open(dir));
  auto w = load_weights(cfg, ckpt, at::TensorOptions().dtype(dt).device(dev), opts.zero_copy);
  if (!opts.adapter.empty()) load_peft_adapter(cfg, w, opts.adapter);
  return std::make_unique<TorchModel>(std::move(cfg), std::move(w), std::move(tok), dev, dt);
}

std::string TorchModel::dtype() const {
  return dt_ == at::kFloat ? "fp32" : dt_ == at::kBFloat16 ? "bf16" : "fp16";
}

Batch make_batch(const std::vector<std::vector<int32_t>>& seqs, int32_t pad_id, at::Device dev) {
  Batch b;
  int64_t B = static_cast<int64_t>(seqs.size()), T = 0;
  for (const auto& s : seqs) T = std::max<int64_t>(T, static_cast<int64_t>(s.size()));
  auto ids = at::full({B, T}, pad_id, at::kLong);
  auto pos = at::zeros({B, T}, at::kLong);
  auto valid = at::zeros({B, T}, at::kBool);
  auto ia = ids.accessor<int64_t, 2>();
  auto pa = pos.accessor<int64_t, 2>();
  auto va = valid.accessor<bool, 2>();
  for (int64_t i = 0; i < B; ++i) {
    int64_t n = static_cast<int64_t>(seqs[i].size()), off = T - n;
    for (int64_t j = 0; j < n; ++j) {
      ia[i][off + j] = seqs[i][j];
      pa[i][off + j] = j;
      va[i][off + j] = true;
    }
    b.lengths.push_back(n);
  }
  b.ids = ids.to(dev);
  b.positions = pos.to(dev);
  b.valid = valid.to(dev);
  return b;
}

std::vector<std::vector<float>> TorchModel::forward_logits(const std::vector<std::vector<int32_t>>& seqs) {
  at::NoGradGuard no_grad;
  for (const auto& s : seqs)
    if (s.empty() || static_cast<int>(s.size()) > cfg_.max_positions)
      throw usage_error(fmt::format("a sequence has {} tokens; the model takes 1..{}", s.size(), cfg_.max_positions));
  auto b = make_batch(seqs, 0, dev_);
  auto hidden = forward_hidden(cfg_, w_, b.ids, b.positions, b.valid, nullptr);
  auto logits = lm_logits(cfg_, w_, hidden).to(at::kFloat).to(at::kCPU).contiguous();
  std::vector<std::vector<float>> out;
  int64_t T = logits.size(1), V = logits.size(2);
  for (size_t i = 0; i < seqs.size(); ++i) {
    int64_t n = b.lengths[i];
    const float* p = logits.data_ptr<float>() + (static_cast<int64_t>(i) * T + (T - n)) * V;
    out.emplace_back(p, p + n * V);
  }
  return out;
}

std::vector<float> TorchModel::embed(const std::vector<int32_t>& ids) {
  at::NoGradGuard no_grad;
  if (ids.empty()) throw usage_error("cannot embed an empty text");
  std::vector<int32_t> seq(ids.begin(), ids.begin() + std::min<size_t>(ids.size(), cfg_.max_positions));
  auto b = make_batch({seq}, 0, dev_);
  auto h = forward_hidden(cfg_, w_, b.ids, b.positions, b.valid, nullptr).mean(1).squeeze(0);
  auto cpu = h.to(at::kFloat).to(at::kCPU).contiguous();
  return std::vector<float>(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
}

namespace {

int32_t sample(const float* logits, size_t V, const SamplingOptions& o, std::mt19937_64& rng) {
  if (o.temperature <= 0) return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  std::vector<std::pair<float, int32_t>> cand(V);
  for (size_t i = 0; i < V; ++i) cand[i] = {logits[i], static_cast<int32_t>(i)};
  size_t keep = V;
  if (o.top_k > 0 && static_cast<size_t>(o.top_k) < V) {
    keep = static_cast<size_t>(o.top_k);
    std::partial_sort(cand.begin(), cand.begin() + keep, cand.end(), std::greater<>());
  } else {
    std::sort(cand.begin(), cand.end(), std::greater<>());
  }
  cand.resize(keep);
  std::vector<double> p(keep);
  double mx = cand[0].first, sum = 0;
  for (size_t i = 0; i < keep; ++i) sum += p[i] = std::exp((cand[i].first - mx) / o.temperature);
  if (o.top_p < 1.0) {
    double acc = 0;
    size_t n = 0;
    while (n < keep && acc < o.top_p * sum) acc += p[n++];
    keep = std::max<size_t>(1, n);
    p.resize(keep);
  }
  std::discrete_distribution<size_t> dist(p.begin(), p.end());
  return cand[dist(rng)].second;
}

}  // namespace

std::vector<Generation> TorchModel::generate(const std::vector<std::vector<int32_t>>& prompts,
                                             const SamplingOptions& o, const TokenCallback& on_token,
                                             const LogitsCallback& on_logits, GenerationStats* stats) {
  at::NoGradGuard no_grad;
  const size_t B = prompts.size();
  std::vector<Generation> out(B);
  if (B == 0) return out;
  size_t longest = 0;
  for (const auto& p : prompts) {
    if (p.empty()) throw usage_error("a prompt is empty", "give at least one token (e.g. the BOS/EOS id)");
    longest = std::max(longest, p.size());
  }
  int max_new = std::max(0, std::min<int>(o.max_tokens, cfg_.max_positions - static_cast<int>(longest)));
  if (longest > static_cast<size_t>(cfg_.max_positions))
    throw usage_error(fmt::format("the prompt has {} tokens; the model's context is {}", longest, cfg_.max_positions));
  const int32_t pad = cfg_.eos_id >= 0 ? cfg_.eos_id : 0;
  const size_t V = static_cast<size_t>(cfg_.vocab_size);

  std::vector<std::mt19937_64> rngs;
  for (size_t i = 0; i < B; ++i) rngs.emplace_back(o.seed + i);
  std::vector<Tokenizer::StreamDecoder> decoders;
  for (size_t i = 0; i < B; ++i) decoders.emplace_back(tok_);
  std::vector<bool> done(B, false);
  std::vector<std::vector<int32_t>> seqs = prompts;  // grows (for the no-cache path)
  for (size_t i = 0; i < B; ++i) out[i].prompt_tokens = prompts[i].size();

  auto t0 = std::chrono::steady_clock::now();
  auto batch = make_batch(prompts, pad, dev_);
  KVCache cache;
  at::Tensor logits;  // [B, V] float on CPU, for the next token
  auto last_logits = [&](const at::Tensor& hidden) {
    auto h = hidden.select(1, hidden.size(1) - 1).unsqueeze(1);  // left padding: last column
    return lm_logits(cfg_, w_, h).squeeze(1).to(at::kFloat).to(at::kCPU).contiguous();
  };
  if (o.use_cache) {
    cache.reset(cfg_, static_cast<int64_t>(B), static_cast<int64_t>(longest) + max_new,
                at::TensorOptions().dtype(dt_).device(dev_));
    logits = last_logits(forward_hidden(cfg_, w_, batch.ids, batch.positions, batch.valid, &cache));
  } else {
    logits = last_logits(forward_hidden(cfg_, w_, batch.ids, batch.positions, batch.valid, nullptr));
  }
  auto t1 = std::chrono::steady_clock::now();
  size_t decoded = 0;

  for (int step = 0; step < max_new; ++step) {
    std::vector<int64_t> next(B, pad);
    for (size_t i = 0; i < B; ++i) {
      if (done[i]) continue;
      const float* row = logits.data_ptr<float>() + i * V;
      if (on_logits) on_logits(i, static_cast<size_t>(step), row, V);
      int32_t id = sample(row, V, o, rngs[i]);
      next[i] = id;
      auto& g = out[i];
      ++decoded;
      if (o.stop_at_eos && id == cfg_.eos_id) {
        g.finish_reason = "stop";
        done[i] = true;
        continue;
      }
      g.ids.push_back(id);
      seqs[i].push_back(id);
      auto piece = decoders[i].push(id);
      // Stop strings: cut the text where the first one begins.
      g.text += piece;
      bool stopped = false;
      for (const auto& s : o.stop) {
        auto pos = g.text.find(s);
        if (!s.empty() && pos != std::string::npos) {
          piece.resize(piece.size() - std::min(piece.size(), g.text.size() - pos));
          g.text.resize(pos);
          stopped = true;
        }
      }
      if (on_token && !on_token(i, id, piece)) stopped = true;
      if (stopped) {
        g.finish_reason = "stop";
        done[i] = true;
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    if (step + 1 == max_new) break;
    if (o.use_cache) {
      auto ids = at::from_blob(next.data(), {static_cast<int64_t>(B), 1}, at::kLong).clone().to(dev_);
      std::vector<int64_t> pos(B);
      for (size_t i = 0; i < B; ++i) pos[i] = static_cast<int64_t>(prompts[i].size()) + step;
      auto positions = at::from_blob(pos.data(), {static_cast<int64_t>(B), 1}, at::kLong).clone().to(dev_);
      auto valid = at::ones({static_cast<int64_t>(B), 1}, at::TensorOptions().dtype(at::kBool).device(dev_));
      logits = last_logits(forward_hidden(cfg_, w_, ids, positions, valid, &cache));
    } else {
      for (size_t i = 0; i < B; ++i)
        if (done[i]) seqs[i].push_back(pad);  // keep the batch rectangular; never read
      auto b = make_batch(seqs, pad, dev_);
      logits = last_logits(forward_hidden(cfg_, w_, b.ids, b.positions, b.valid, nullptr));
    }
  }
  for (size_t i = 0; i < B; ++i) {
    auto& g = out[i];
    if (g.finish_reason.empty()) {
      g.finish_reason = "length";
      auto rest = decoders[i].flush();
      g.text += rest;
      if (on_token && !rest.empty()) on_token(i, -1, rest);
    }
  }
  auto t2 = std::chrono::steady_clock::now();
  if (stats) {
    stats->prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
    stats->decode_seconds = std::chrono::duration<double>(t2 - t1).count();
    stats->prefill_tokens = 0;
    for (const auto& p : prompts) stats->prefill_tokens += p.size();
    stats->decode_tokens = decoded;
  }
  return out;
}

void TorchModel::save(const std::filesystem::path& dir) const {
  std::filesystem::create_directories(dir);
  auto& self = const_cast<TorchModel&>(*this);
  std::vector<at::Tensor> keep;  // contiguous CPU copies alive until written
  std::vector<TensorToWrite> tensors;
  for (auto& [name, t] : named_tensors(cfg_, self.w_)) {
    auto cpu = t->detach().to(at::kCPU).contiguous();
    keep.push_back(cpu);
    DType d = cpu.scalar_type() == at::kFloat ? DType::F32 : cpu.scalar_type() == at::kBFloat16 ? DType::BF16 : DType::F16;
    tensors.push_back({name, d, cpu.sizes().vec(), cpu.data_ptr(), static_cast<size_t>(cpu.nbytes())});
  }
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  atomic_write_file(dir / "config.json", render_model_config(cfg_));
  tok_.save(dir);
}

}  // namespace xops
