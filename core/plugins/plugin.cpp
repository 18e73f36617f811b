#include "core/plugins/plugin.hpp"

#include "core/error.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace xops {

void* load_plugin_symbol(const std::string& lib_name, const char* env_var, const char* symbol,
                         std::string* error) {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv(env_var); env && *env) candidates.push_back(env);
  std::error_code ec;
  auto dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  if (!ec) {
    candidates.push_back(dir / lib_name);
    candidates.push_back(dir.parent_path() / lib_name);  // tests live one level below
    candidates.push_back(dir.parent_path() / "lib" / "xops" / lib_name);
  }
  std::string errors;
  for (const auto& c : candidates) {
    if (!fs::exists(c, ec)) continue;
    void* h = ::dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      errors += std::string("; ") + ::dlerror();
      continue;
    }
    if (void* sym = ::dlsym(h, symbol)) return sym;
    errors += "; " + c.string() + " lacks " + symbol;
  }
  if (error)
    *error = errors.empty() ? lib_name + " not found beside the xops binary" : errors.substr(2);
  return nullptr;
}

void throw_plugin_error(const char* what, const char* lib_name, const char* env_var,
                        const std::string& failure, const char* extra_hint) {
  throw precondition_error(
      fmt::format("cannot load the {}: {}", what, failure),
      fmt::format("{}keep {} beside the xops binary (or set {})",
                  extra_hint ? std::string(extra_hint) + "; " : std::string(), lib_name, env_var));
}

}  // namespace xops
