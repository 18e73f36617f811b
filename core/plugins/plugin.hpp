#pragma once
// Finds and dlopens one of xops's own shared libraries (the LibTorch engine, the libgit2
// backend, the HTTP client) on first use, so the commands that do not need them never pay
// their load time.
#include <mutex>
#include <string>

#include "core/util/interrupt.hpp"

// One seam shape: each plugin exports a factory `T* xops_NAME(int abi)` (nullptr for another
// ABI) returning an interface declared in core, loaded by require_plugin<T>(); a plugin that
// cannot load is always the same precondition error (exit 3) naming the library.
#define XOPS_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

// Every plugin also exports this probe: the interrupt flag as the plugin's code sees it. The
// flag lives in libxops_base.so, so it is the binary's (tests/unit/plugin_base_test.cpp).
#define XOPS_PLUGIN_PROBE                                    \
  XOPS_PLUGIN_EXPORT int xops_plugin_interrupt_requested() { \
    return xops::interrupt::requested() ? 1 : 0;             \
  }

namespace xops {

// Looks in $env_var, beside the executable, one level up, and in ../lib/xops; returns the
// address of `symbol`, or nullptr with the reasons in *error.
void* load_plugin_symbol(const std::string& lib_name, const char* env_var, const char* symbol,
                         std::string* error);

// The instance a plugin's factory `T* symbol(int abi)` returns, loaded once per process;
// nullptr (with the reason in *error) when the library is missing or built for another ABI.
template <typename T>
T* plugin_instance(const char* lib_name, const char* env_var, const char* symbol, int abi,
                   std::string* error) {
  static std::once_flag once;
  static T* instance = nullptr;
  static std::string failure;
  std::call_once(once, [&] {
    auto factory =
        reinterpret_cast<T* (*)(int)>(load_plugin_symbol(lib_name, env_var, symbol, &failure));
    if (factory && !(instance = factory(abi)))
      failure = std::string(lib_name) + " was built for another ABI";
  });
  if (!instance && error) *error = failure;
  return instance;
}

// "cannot load the WHAT: why" (Precondition, exit 3), with where the library belongs and an
// optional extra hint.
[[noreturn]] void throw_plugin_error(const char* what, const char* lib_name, const char* env_var,
                                     const std::string& failure, const char* extra_hint = nullptr);

// plugin_instance, or a runtime error: "cannot load the WHAT: why", with where the library belongs.
template <typename T>
T& require_plugin(const char* lib_name, const char* env_var, const char* symbol, int abi,
                  const char* what, const char* extra_hint = nullptr) {
  std::string failure;
  if (auto* p = plugin_instance<T>(lib_name, env_var, symbol, abi, &failure)) return *p;
  throw_plugin_error(what, lib_name, env_var, failure, extra_hint);
}

}  // namespace xops
