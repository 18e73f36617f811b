#pragma once
// Finds and dlopens one of xops's own shared libraries (the LibTorch engine, the libgit2
// backend) on first use, so the commands that do not need them never pay their load time.
#include <string>

namespace xops {

// Looks in $env_var, beside the executable, one level up, and in ../lib/xops; returns the
// address of `symbol`, or nullptr with the reasons in *error.
void* load_plugin_symbol(const std::string& lib_name, const char* env_var, const char* symbol,
                         std::string* error);

}  // namespace xops
