#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/util/plugin.hpp"

namespace xops {

Engine& engine() {
  std::string failure;
  auto* e = plugin_instance<Engine>("libxops_engine.so", "XOPS_ENGINE_LIB", "xops_engine_create", kEngineAbi, &failure);
  if (!e)
    throw precondition_error("cannot load the model engine: " + failure,
                             "this command needs LibTorch: build with XOPS_WITH_TORCH=ON, keep "
                             "libxops_engine.so beside the xops binary, or set XOPS_ENGINE_LIB");
  return *e;
}

}  // namespace xops
