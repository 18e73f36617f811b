#include <cstdlib>

#include "core/engine/engine.hpp"
#include "core/plugins/plugin.hpp"

namespace xops {

namespace {

// libgomp reads its spin count once, when the engine library loads it. Its default (300,000
// pauses, a few milliseconds) keeps LibTorch's idle OpenMP threads spinning long after each
// region, on the very cores the engine's own threads (core/torch/unit_pool.hpp) need next: a
// 128-token prefill fell from ~850 to ~550 tokens/s. 10,000 (about 0.2 ms) keeps
// back-to-back regions warm and gives the cores back soon after. A value the user set is
// kept; ours is removed again once the library is loaded, so the processes xops starts
// (eval's exec providers, hooks) inherit the user's environment unchanged.
class SpinCountWhileLoading {
 public:
  SpinCountWhileLoading() : ours_(std::getenv("GOMP_SPINCOUNT") == nullptr) {
    if (ours_) ::setenv("GOMP_SPINCOUNT", "10000", 0);
  }
  ~SpinCountWhileLoading() {
    if (ours_) ::unsetenv("GOMP_SPINCOUNT");
  }
  SpinCountWhileLoading(const SpinCountWhileLoading&) = delete;
  SpinCountWhileLoading& operator=(const SpinCountWhileLoading&) = delete;

 private:
  bool ours_;
};

Engine& load_engine() {
  return require_plugin<Engine>("libxops_engine.so", "XOPS_ENGINE_LIB", "xops_engine_create",
                                kEngineAbi, "model engine",
                                "this command needs LibTorch: build with XOPS_WITH_TORCH=ON");
}

}  // namespace

Engine& engine() {
  // Loaded once; a failed load is tried again on the next call.
  static Engine& e = []() -> Engine& {
    SpinCountWhileLoading spin;
    return load_engine();
  }();
  return e;
}

}  // namespace xops
