#pragma once
// What every command receives: global options, the output, and lazy access to the
// workspace and resolved settings.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/project/config.hpp"
#include "core/project/workspace.hpp"
#include "term/output.hpp"

namespace xops::cli {

struct Context {
  OutputOptions out_opts;
  std::string chdir;  // -C DIR
  bool version = false;
  // Set by the chosen subcommand's parse callback; run after global set-up.
  std::function<int()> action;
  // Setting values given as flags (key -> value), e.g. --device cuda.
  std::map<std::string, std::string> setting_flags;

  Output& out() const { return cli::out(); }
  // The workspace around the current directory (Precondition error when none).
  Workspace& workspace();
  // The workspace when the current directory is inside one, else null (commands that also
  // work outside a project: generate, serve, export).
  const Workspace* workspace_if_any();
  // Settings resolved against the workspace (if any); with -v, each value's origin is logged.
  const Settings& settings();

 private:
  std::optional<Workspace> ws_;
  std::optional<Settings> settings_;
};

}  // namespace xops::cli
