#include "core/torch/torch_model.hpp"

#include <torch/torch.h>

#include <malloc.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "core/error.hpp"
#include "core/model/gguf_model.hpp"
#include "core/model/safetensors.hpp"
#include "core/torch/decoder.hpp"
#include "core/torch/guarded.hpp"
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

at::ScalarType resolve_dtype(const std::string& dtype, at::Device dev) {
  if (dtype == "fp32") return at::kFloat;
  if (dtype == "bf16") return at::kBFloat16;
  if (dtype == "fp16") {
    // LibTorch 1.13 has no half-precision matrix products on the CPU ("addmm_impl_cpu_ not
    // implemented for 'Half'"): say so up front rather than fail at the first token.
    if (dev.is_cpu())
      throw usage_error("dtype fp16 runs only on CUDA: this LibTorch has no fp16 matrix products on the CPU",
                        "use --dtype bf16 (same size, CPU kernels) or fp32 on the CPU");
    return at::kHalf;
  }
  throw usage_error(fmt::format("unknown dtype '{}'", dtype), "use fp32, bf16 or fp16");
}

void configure_threads(int threads) {
  // Every engine entry comes through here. The step temporaries of a long prefill (score
  // blocks, activations: 1-30 MB) cross glibc's mmap threshold, so each one was a fresh
  // mapping the kernel zeroed page by page (clear_page was 8% of a 1,000-token prefill);
  // keep them in the heap for reuse, as training always did.
  static const bool heap = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)heap;
  // LibTorch defaults to 1 thread here; decide deliberately.
  int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

TorchModel::TorchModel(ModelConfig cfg, Weights w, Tokenizer tok, at::Device dev, at::ScalarType dt)
    : cfg_(std::move(cfg)), w_(std::move(w)), tok_(std::move(tok)), dev_(dev), dt_(dt) {
  to_inference_layout(cfg_, w_);
}

std::unique_ptr<TorchModel> TorchModel::load(const std::filesystem::path& dir, const LoadOptions& opts) {
  configure_threads(opts.threads);
  // A GGUF file is parsed once for its config, tokenizer and weights (its metadata holds the
  // whole vocabulary and merges).
  std::shared_ptr<const GgufFile> gguf;
  if (is_gguf_file(dir)) gguf = GgufFile::open(dir);
  auto cfg = gguf ? gguf_model_config(*gguf) : load_model_config(dir);
  auto tok = gguf ? gguf_tokenizer(*gguf) : Tokenizer::load(dir);
  if (tok.vocab_size() > static_cast<size_t>(cfg.vocab_size))
    throw runtime_error(fmt::format("{}: the tokenizer has {} tokens but the model only {}", dir.string(),
                                    tok.vocab_size(), cfg.vocab_size));
  auto dev = resolve_device(opts.device);
  auto dt = resolve_dtype(opts.dtype, dev);
  std::shared_ptr<const Checkpoint> ckpt;
  if (gguf)
    ckpt = std::make_shared<const Checkpoint>(gguf_checkpoint(gguf, cfg));
  else
    ckpt = std::make_shared<const Checkpoint>(Checkpoint::open(dir));
  auto w = load_weights(cfg, ckpt, at::TensorOptions().dtype(dt).device(dev), opts.zero_copy,
                        opts.keep_quantized);
  if (!opts.adapter.empty()) load_peft_adapter(cfg, w, opts.adapter);
  return std::make_unique<TorchModel>(std::move(cfg), std::move(w), std::move(tok), dev, dt);
}

std::string TorchModel::dtype() const {
  if (w_.quantized()) return "q8_0";
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
  return guarded("computing logits", [&] { return forward_logits_impl(seqs); });
}

std::vector<std::vector<float>> TorchModel::forward_logits_impl(const std::vector<std::vector<int32_t>>& seqs) {
  at::NoGradGuard no_grad;
  for (const auto& s : seqs)
    if (s.empty() || static_cast<int>(s.size()) > cfg_.max_positions)
      throw usage_error(fmt::format("a sequence has {} tokens; the model takes 1..{}", s.size(), cfg_.max_positions));
  for (const auto& s : seqs)
    for (auto id : s)
      if (id < 0 || id >= cfg_.vocab_size)
        throw usage_error(fmt::format("token id {} is outside the vocabulary (0..{})", id, cfg_.vocab_size - 1));
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
  return guarded("embedding", [&] { return embed_impl(ids); });
}

std::vector<float> TorchModel::embed_impl(const std::vector<int32_t>& ids) {
  at::NoGradGuard no_grad;
  if (ids.empty()) throw usage_error("cannot embed an empty text");
  std::vector<int32_t> seq(ids.begin(), ids.begin() + std::min<size_t>(ids.size(), cfg_.max_positions));
  auto b = make_batch({seq}, 0, dev_);
  auto h = forward_hidden(cfg_, w_, b.ids, b.positions, b.valid, nullptr).mean(1).squeeze(0);
  auto cpu = h.to(at::kFloat).to(at::kCPU).contiguous();
  return std::vector<float>(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
}

std::unique_ptr<Decoder> TorchModel::decoder(const DecoderOptions& opts) {
  return make_torch_decoder(cfg_, w_, dev_, dt_, opts);
}

int TorchModel::add_adapter(const std::filesystem::path& dir) {
  return guarded("loading the adapter", [&] {
    // Load into a shallow copy (tensors are shared), then keep only its LoRA pairs.
    Weights copy = w_;
    for (auto& [name, p] : named_projections(cfg_, copy)) p->lora_a = p->lora_b = at::Tensor();
    load_peft_adapter(cfg_, copy, dir);
    int id = adapters_++;
    auto mine = named_projections(cfg_, w_);
    auto theirs = named_projections(cfg_, copy);
    for (size_t i = 0; i < mine.size(); ++i) {
      auto& extra = mine[i].second->extra;
      extra.resize(static_cast<size_t>(id) + 1);
      const Proj& t = *theirs[i].second;
      if (t.lora_a.defined()) extra[static_cast<size_t>(id)] = {t.lora_a, t.lora_b, t.lora_scale};
    }
    return id;
  });
}

void TorchModel::save(const std::filesystem::path& dir) const {
  if (w_.quantized())
    throw usage_error(
        "this model holds Q8_0 weights in 8 bits; it is not saved in Hugging Face layout",
        "load it with keep_quantized off (xops export does) to widen the weights first");
  std::filesystem::create_directories(dir);
  auto& self = const_cast<TorchModel&>(*this);
  std::vector<at::Tensor> keep;  // contiguous CPU copies alive until written
  std::vector<TensorToWrite> tensors;
  std::set<const at::Tensor*> transposed;
  for (auto& [name, p] : named_projections(cfg_, self.w_))
    if (p->from_conv1d) transposed.insert(&p->w);
  for (auto& [name, t] : named_tensors(cfg_, self.w_)) {
    auto cpu = (transposed.count(t) ? t->t() : *t).detach().to(at::kCPU).contiguous();
    keep.push_back(cpu);
    DType d = cpu.scalar_type() == at::kFloat ? DType::F32 : cpu.scalar_type() == at::kBFloat16 ? DType::BF16 : DType::F16;
    tensors.push_back({name, d, cpu.sizes().vec(), cpu.data_ptr(), static_cast<size_t>(cpu.nbytes())});
  }
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  atomic_write_file(dir / "config.json", render_model_config(cfg_));
  tok_.save(dir);
}

void TorchModel::export_gguf(const std::filesystem::path& file,
                             const GgufExportOptions& opts) const {
  guarded("exporting GGUF", [&] {
    if (w_.quantized())
      throw usage_error("this model holds Q8_0 weights in 8 bits; exporting needs them widened",
                        "load it with keep_quantized off (xops export does)");
    at::NoGradGuard no_grad;
    auto& self = const_cast<TorchModel&>(*this);
    // LoRA merged in fp32: W' = W + scale * B A, on the [out, in] weight held for inference.
    std::map<const at::Tensor*, at::Tensor> merged;
    for (auto& [name, p] : named_projections(cfg_, self.w_))
      if (p->lora_a.defined()) {
        auto w = p->w.to(at::kCPU).to(at::kFloat);
        auto delta =
            at::mm(p->lora_b.to(at::kCPU).to(at::kFloat), p->lora_a.to(at::kCPU).to(at::kFloat));
        merged[&p->w] = (w + delta * p->lora_scale).contiguous();
      }
    auto keep = std::make_shared<std::vector<at::Tensor>>();
    std::vector<TensorView> views;
    for (auto& [name, t] : named_tensors(cfg_, self.w_)) {
      auto it = merged.find(t);
      auto x =
          it != merged.end() ? it->second : t->detach().to(at::kCPU).to(at::kFloat).contiguous();
      keep->push_back(x);
      TensorView v;
      v.name = name;
      v.dtype = DType::F32;
      v.shape = x.sizes().vec();
      v.data = x.data_ptr();
      v.nbytes = static_cast<size_t>(x.nbytes());
      views.push_back(std::move(v));
    }
    // The constructor holds every projection [out, in] (to_inference_layout): GGUF's layout.
    auto ckpt = Checkpoint::from_views(std::move(views), keep, true);
    write_gguf_model(file, cfg_, tok_, ckpt, opts);
  });
}

}  // namespace xops
