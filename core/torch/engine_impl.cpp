// The LibTorch side of core/engine/engine.hpp; built into libxops_engine.so only.
#include <torch/torch.h>

#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/torch/torch_model.hpp"

namespace xops {
namespace {

// LibTorch errors stop at this boundary: a c10::Error's what() carries a 25-line C++
// backtrace, so the user sees its first line as an xops error instead.
template <typename F>
auto guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    throw runtime_error(fmt::format("{}: LibTorch: {}", what, msg),
                        "the model or its configuration is not one this engine can run");
  } catch (const std::bad_alloc&) {
    throw runtime_error(fmt::format("{}: out of memory", what),
                        "a smaller model, batch or context needs less; check config.json's sizes");
  }
}

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
  std::unique_ptr<LanguageModel> create(const ModelConfig& cfg, Tokenizer tok, uint64_t seed,
                                        const LoadOptions& opts) override {
    return guarded("creating the model", [&]() -> std::unique_ptr<LanguageModel> {
      configure_threads(opts.threads);
      auto dev = resolve_device(opts.device);
      auto dt = resolve_dtype(opts.dtype);
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

extern "C" __attribute__((visibility("default"))) xops::Engine* xops_engine_create(int abi) {
  if (abi != xops::kEngineAbi) return nullptr;
  static xops::TorchEngine engine;
  return &engine;
}
