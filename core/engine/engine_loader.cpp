#include <mutex>

#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/util/plugin.hpp"

namespace xops {

namespace {
Engine* g_engine = nullptr;
}

bool engine_loaded() { return g_engine != nullptr; }

Engine& engine() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    auto create = reinterpret_cast<Engine* (*)(int)>(
        load_plugin_symbol("libxops_engine.so", "XOPS_ENGINE_LIB", "xops_engine_create", &failure));
    if (create && !(g_engine = create(kEngineAbi))) failure = "libxops_engine.so was built for another engine ABI";
  });
  if (!g_engine)
    throw precondition_error("cannot load the model engine: " + failure,
                             "this command needs LibTorch: build with XOPS_WITH_TORCH=ON, keep "
                             "libxops_engine.so beside the xops binary, or set XOPS_ENGINE_LIB");
  return *g_engine;
}

}  // namespace xops
