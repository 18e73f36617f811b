#pragma once
// The run cache (DVC's .dvc/cache/runs): for each run key (stage_state.hpp's run_key) the
// outputs that run produced, as object ids in the store, under .xops/runs/. A stage whose
// command, dependencies and params match an earlier run gets its outputs back from the
// store instead of running again.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/pipeline/lock.hpp"

namespace xops::pipeline {

std::optional<std::vector<LockedPath>> run_cache_get(const std::filesystem::path& dir,
                                                     const std::string& key);
void run_cache_put(const std::filesystem::path& dir, const std::string& key,
                   const std::string& stage, const std::vector<LockedPath>& outs);

}  // namespace xops::pipeline
