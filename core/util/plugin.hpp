#pragma once
// Finds and dlopens one of xops's own shared libraries (the LibTorch engine, the libgit2
// backend, the HTTP client) on first use, so the commands that do not need them never pay
// their load time.
#include <mutex>
#include <string>

namespace xops {

// Looks in $env_var, beside the executable, one level up, and in ../lib/xops; returns the
// address of `symbol`, or nullptr with the reasons in *error.
void* load_plugin_symbol(const std::string& lib_name, const char* env_var, const char* symbol,
                         std::string* error);

// The instance a plugin's factory `T* symbol(int abi)` returns, loaded once per process;
// nullptr (with the reason in *error) when the library is missing or built for another ABI.
template <typename T>
T* plugin_instance(const char* lib_name, const char* env_var, const char* symbol, int abi, std::string* error) {
  static std::once_flag once;
  static T* instance = nullptr;
  static std::string failure;
  std::call_once(once, [&] {
    auto factory = reinterpret_cast<T* (*)(int)>(load_plugin_symbol(lib_name, env_var, symbol, &failure));
    if (factory && !(instance = factory(abi))) failure = std::string(lib_name) + " was built for another ABI";
  });
  if (!instance && error) *error = failure;
  return instance;
}

[[noreturn]] void throw_plugin_error(const char* what, const char* lib_name, const char* env_var,
                                     const std::string& failure);

// plugin_instance, or a runtime error: "cannot load the WHAT: why", with where the library belongs.
template <typename T>
T& require_plugin(const char* lib_name, const char* env_var, const char* symbol, int abi,
                  const char* what) {
  std::string failure;
  if (auto* p = plugin_instance<T>(lib_name, env_var, symbol, abi, &failure)) return *p;
  throw_plugin_error(what, lib_name, env_var, failure);
}

}  // namespace xops
