#pragma once
// Reading dvc.yaml as DVC does: `stages` (cmd, wdir, deps, params, outs, metrics, plots,
// frozen, always_changed, desc, vars, meta), `foreach`/`do`, `vars` and `${}` with
// params.yaml loaded by default, and the top-level `metrics`, `params` and `plots` lists.
// What xops would read differently from DVC (matrix, `remote:`/`push:` on an output, TOML
// params, dict unfolding in cmd) is refused with dvc.yaml:LINE, never read another way.
#include <filesystem>
#include <string>

#include "core/pipeline/pipeline.hpp"

namespace xops::pipeline {

// `file`: the dvc.yaml, workspace-relative; `root`: the workspace.
Pipeline load_pipeline(const std::filesystem::path& root, const std::string& file = "dvc.yaml");

// `path` (relative to the workspace directory `base`) -> workspace-relative and normalised;
// absolute paths, paths leaving the workspace and paths in .git/.xops are refused.
std::string workspace_rel(const std::string& base, const std::string& path,
                          const std::string& where);

}  // namespace xops::pipeline
