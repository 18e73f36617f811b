#include "term/context.hpp"

#include <fmt/format.h>

namespace xops::cli {

Workspace& Context::workspace() {
  if (!ws_) {
    std::vector<std::string> warnings;
    ws_ = Workspace::open(std::filesystem::current_path(), &warnings);
    for (const auto& w : warnings) out().warn(w);
  }
  return *ws_;
}

const Workspace* Context::workspace_if_any() {
  if (!ws_ && !Workspace::find_root(std::filesystem::current_path())) return nullptr;
  return &workspace();
}

const Settings& Context::settings() {
  if (!settings_) {
    std::vector<std::string> warnings;
    const ProjectConfig* project = nullptr;
    if (ws_ || Workspace::find_root(std::filesystem::current_path()))
      project = &workspace().config();
    settings_ = Settings::resolve(setting_flags, project, default_user_config_path(), &warnings);
    for (const auto& w : warnings) out().warn(w);
    for (const auto& [key, s] : settings_->all())
      out().verbose(1, fmt::format("setting {} = '{}' (from {})", key, s.value, s.origin));
  }
  return *settings_;
}

}  // namespace xops::cli
