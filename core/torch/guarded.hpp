#pragma once
// The engine boundary: nothing from LibTorch leaves libxops_engine.so as a raw c10::Error
// (whose what() carries a 25-line C++ backtrace) or an abort. Every entry point the rest of
// xops calls (Engine, LanguageModel, Decoder) runs its body through guarded().
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <new>
#include <string>

#include "core/error.hpp"

namespace xops {

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

}  // namespace xops
