#pragma once
// Whether a stage must run, and why, as `dvc status` decides: never run, always_changed, its
// command, a dependency's content, a params value, or an output missing or differing from
// dvc.lock. Also the run-cache key of what a run would use now.
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/pipeline/lock.hpp"
#include "core/pipeline/pipeline.hpp"

namespace xops::pipeline {

// Hash of a workspace path (file: sha256; directory: manifest id + ".dir"); nullopt when absent.
using PathHashFn = std::function<std::optional<LockedPath>(const std::string& rel)>;

// Params files read once per decision pass.
class ParamsCache {
 public:
  explicit ParamsCache(std::filesystem::path root) : root_(std::move(root)) {}
  const J& file(const std::string& rel);
  void forget(const std::string& rel) { files_.erase(rel); }

 private:
  std::filesystem::path root_;
  std::map<std::string, J> files_;
};

struct StageCheck {
  bool changed = false;
  // First reason first, e.g. "param train.lr changed: 0.1 -> 0.2"; those of missing_deps lead.
  std::vector<std::string> reasons;
  std::vector<std::string> missing_deps;  // declared dependencies that do not exist
  bool outputs_only = false;              // changed only because outputs are missing or edited
  LockedStage now;                        // cmd, deps and params as they are; outs that exist
};

// The current values of a stage's params: file (as written) -> {key -> value}; a key not in
// its file is an error naming the stage.
J stage_params(const Stage& s, ParamsCache& params);

StageCheck check_stage(const Stage& s, const LockedStage* locked, const PathHashFn& hash,
                       ParamsCache& params);

// The run-cache key: sha256 of the command, every dependency's path and hash, the params
// values and the output paths (DVC's run cache keys the same things).
std::string run_key(const Stage& s, const LockedStage& now);

}  // namespace xops::pipeline
