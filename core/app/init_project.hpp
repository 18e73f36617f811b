#pragma once
// `xops init`: scaffold a git-backed project from the templates compiled into the binary.
#include <filesystem>
#include <string>
#include <vector>

namespace xops {

struct InitOptions {
  std::filesystem::path dir;
  std::string template_name = "llm";
  std::string name;  // defaults to the directory name
  bool hooks = true;
  bool force = false;
};

struct InitResult {
  std::filesystem::path root;
  std::string name;
  std::string template_name;
  bool git_initialized = false;
  std::vector<std::string> written;   // relative paths
  std::vector<std::string> kept;      // existing files left alone
  std::vector<std::string> hooks;     // hook names installed or appended
  std::vector<std::string> tracked;   // template data put into the content store
  std::vector<std::string> warnings;  // e.g. a foreign hook we did not touch
};

// Installs (or refreshes) xops's block in the repository's pre-commit, pre-push and
// post-checkout hooks for the project at `project_root`: idempotent, other hook content and
// other projects' blocks are kept. The hooks run against this project (`xops -C`), so a
// project in a subdirectory of a monorepo checks only itself.
struct HookResult {
  std::vector<std::string> hooks;     // installed, refreshed or "NAME (appended)"
  std::vector<std::string> warnings;  // a non-shell hook left alone
  std::vector<std::filesystem::path> created;
};
HookResult install_hooks(const std::filesystem::path& project_root);

std::vector<std::string> template_names();
InitResult init_project(const InitOptions& opts);

}  // namespace xops
