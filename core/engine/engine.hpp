#pragma once
// The narrow interface to the LibTorch engine. The implementation lives in
// libxops_engine.so (core/torch/), dlopen'ed on first use by engine(), so commands that
// run no model never map libtorch. Nothing here includes LibTorch.
#include <string>

namespace xops {

inline constexpr int kEngineAbi = 1;

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string torch_version() const = 0;
  virtual bool cuda_available() const = 0;
  virtual int cuda_device_count() const = 0;
};

// Loads the engine library once (XOPS_ENGINE_LIB, then beside the binary, then
// ../lib/xops/); throws Error(Precondition) with a hint when it cannot.
Engine& engine();
// True once engine() has loaded the library (for tests of lazy loading).
bool engine_loaded();

}  // namespace xops

// The one symbol the engine library exports.
extern "C" xops::Engine* xops_engine_create(int abi);
