#pragma once
// The LibTorch LanguageModel (internal to the engine library).
#include <ATen/ATen.h>

#include <memory>

#include "core/engine/language_model.hpp"
#include "core/engine/trainer.hpp"
#include "core/torch/transformer.hpp"

namespace xops {

at::Device resolve_device(const std::string& device);
at::ScalarType resolve_dtype(const std::string& dtype, at::Device dev);
void configure_threads(int threads);

class TorchModel final : public LanguageModel {
 public:
  TorchModel(ModelConfig cfg, Weights w, Tokenizer tok, at::Device dev, at::ScalarType dt);
  static std::unique_ptr<TorchModel> load(const std::filesystem::path& dir, const LoadOptions& opts);

  const ModelConfig& config() const override { return cfg_; }
  const Tokenizer& tokenizer() const override { return tok_; }
  std::string device() const override { return dev_.str(); }
  std::string dtype() const override;
  std::vector<std::vector<float>> forward_logits(const std::vector<std::vector<int32_t>>& seqs) override;
  std::vector<float> embed(const std::vector<int32_t>& ids) override;
  std::unique_ptr<Decoder> decoder(const DecoderOptions& opts) override;
  int add_adapter(const std::filesystem::path& dir) override;
  void save(const std::filesystem::path& dir) const override;
  void export_gguf(const std::filesystem::path& file, const GgufExportOptions& opts) const override;

  Weights& weights() { return w_; }
  at::Device torch_device() const { return dev_; }
  at::ScalarType torch_dtype() const { return dt_; }

 private:
  std::vector<std::vector<float>> forward_logits_impl(const std::vector<std::vector<int32_t>>& seqs);
  std::vector<float> embed_impl(const std::vector<int32_t>& ids);

  ModelConfig cfg_;
  Weights w_;
  Tokenizer tok_;
  at::Device dev_;
  at::ScalarType dt_;
  int adapters_ = 0;
};

TrainResult train_model(const TrainJob& job, const TrainCallbacks& cb);

// Left-pads sequences into [B, T] ids/positions/valid tensors on `dev`.
struct Batch {
  at::Tensor ids, positions, valid;
  std::vector<int64_t> lengths;
};
Batch make_batch(const std::vector<std::vector<int32_t>>& seqs, int32_t pad_id, at::Device dev);

}  // namespace xops
