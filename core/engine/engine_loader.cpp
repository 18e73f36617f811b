#include "core/engine/engine.hpp"
#include "core/plugins/plugin.hpp"

namespace xops {

Engine& engine() {
  return require_plugin<Engine>("libxops_engine.so", "XOPS_ENGINE_LIB", "xops_engine_create",
                                kEngineAbi, "model engine",
                                "this command needs LibTorch: build with XOPS_WITH_TORCH=ON");
}

}  // namespace xops
