// The LibTorch side of core/engine/engine.hpp; built into libxops_engine.so only.
#include <torch/torch.h>

#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/plugins/plugin.hpp"
#include "core/torch/bert_encoder.hpp"
#include "core/torch/guarded.hpp"
#include "core/torch/torch_model.hpp"

namespace xops {
namespace {

class TorchEngine final : public Engine {
 public:
  std::string torch_version() const override {
    return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
           std::to_string(TORCH_VERSION_PATCH);
  }
  bool cuda_available() const override { return torch::cuda::is_available(); }
  int cuda_device_count() const override { return static_cast<int>(torch::cuda::device_count()); }
  std::unique_ptr<LanguageModel> load(const std::filesystem::path& dir, const LoadOptions& opts) override {
    return guarded("loading the model", [&] { return TorchModel::load(dir, opts); });
  }
  std::unique_ptr<TextEncoder> load_encoder(const std::filesystem::path& dir,
                                            const LoadOptions& opts) override {
    return guarded("loading the encoder", [&] { return load_bert_encoder(dir, opts); });
  }
  std::unique_ptr<LanguageModel> create(const ModelConfig& cfg, Tokenizer tok, uint64_t seed,
                                        const LoadOptions& opts) override {
    return guarded("creating the model", [&]() -> std::unique_ptr<LanguageModel> {
      configure_threads(opts.threads);
      auto dev = resolve_device(opts.device);
      auto dt = resolve_dtype(opts.dtype, dev);
      auto w = init_weights(cfg, seed, at::TensorOptions().dtype(dt).device(dev));
      return std::make_unique<TorchModel>(cfg, std::move(w), std::move(tok), dev, dt);
    });
  }
  TrainResult train(const TrainJob& job, const TrainCallbacks& cb) override {
    return guarded("training", [&] { return train_model(job, cb); });
  }
};

}  // namespace
}  // namespace xops

XOPS_PLUGIN_EXPORT xops::Engine* xops_engine_create(int abi) {
  if (abi != xops::kEngineAbi) return nullptr;
  static xops::TorchEngine engine;
  return &engine;
}

XOPS_PLUGIN_PROBE
