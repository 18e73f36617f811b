#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <vector>

#include "core/engine/engine.hpp"
#include "core/error.hpp"

namespace xops {

namespace {
Engine* g_engine = nullptr;

std::filesystem::path self_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}
}  // namespace

bool engine_loaded() { return g_engine != nullptr; }

Engine& engine() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    std::vector<std::filesystem::path> candidates;
    if (const char* env = std::getenv("XOPS_ENGINE_LIB"); env && *env) candidates.push_back(env);
    auto dir = self_dir();
    candidates.push_back(dir / "libxops_engine.so");
    candidates.push_back(dir / ".." / "lib" / "xops" / "libxops_engine.so");
    std::string errors;
    for (const auto& c : candidates) {
      if (!std::filesystem::exists(c)) continue;
      void* h = ::dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        errors += std::string("; ") + ::dlerror();
        continue;
      }
      auto create = reinterpret_cast<Engine* (*)(int)>(::dlsym(h, "xops_engine_create"));
      if (!create) {
        errors += "; " + c.string() + " has no xops_engine_create";
        continue;
      }
      g_engine = create(kEngineAbi);
      if (g_engine) return;
      errors += "; " + c.string() + " was built for another engine ABI";
    }
    failure = errors.empty() ? "libxops_engine.so not found beside the binary"
                             : "cannot load the model engine" + errors;
  });
  if (!g_engine)
    throw precondition_error(failure,
                             "this command needs LibTorch: build with XOPS_WITH_TORCH=ON, keep "
                             "libxops_engine.so beside the xops binary, or set XOPS_ENGINE_LIB");
  return *g_engine;
}

}  // namespace xops
