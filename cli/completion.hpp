#pragma once
// Shell completion scripts and the man page, generated from the CLI11 definition itself, so
// they list exactly the verbs and flags that parse.
#include <string>

namespace CLI {
class App;
}

namespace xops::cli {

struct Context;

// `xops completion bash|zsh|fish` and `xops man` (hidden; the build writes xops.1 with it).
void register_completion(CLI::App& app, Context& ctx);

// The scripts and page as text (exposed for tests).
std::string bash_completion(const CLI::App& app);
std::string zsh_completion(const CLI::App& app);
std::string fish_completion(const CLI::App& app);
std::string man_page(const CLI::App& app);

}  // namespace xops::cli
