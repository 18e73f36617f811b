#pragma once
// A pipeline as DVC's dvc.yaml declares it, after `vars`, `${}` and `foreach` are resolved:
// stages with a command, a working directory, dependencies, params and outputs. Paths are
// kept twice: as written (relative to the stage's wdir, what dvc.lock records) and
// workspace-relative (what the graph and the store use).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace xops::pipeline {

using J = nlohmann::ordered_json;

struct PathEntry {
  std::string path;  // as written, relative to the stage's wdir
  std::string rel;   // workspace-relative, normalised
};

enum class OutKind { Out, Metric, Plot };
const char* out_kind_name(OutKind k);

struct Output : PathEntry {
  OutKind kind = OutKind::Out;
  bool cache = true;     // false: left to git, hashed only
  bool persist = false;  // true: not removed before the command runs
  std::string desc;
};

// One params file a stage reads, and the keys it reads from it (empty: the whole file).
struct ParamsRef {
  std::string file;  // as written, relative to the stage's wdir
  std::string rel;   // workspace-relative
  std::vector<std::string> keys;
  bool all = false;  // `- file.yaml:` with no keys: every top-level key
};

struct Stage {
  std::string name;              // NAME, or NAME@KEY for a foreach member
  std::vector<std::string> cmd;  // one or more commands, run in order
  std::string wdir;              // workspace-relative ("" = the workspace root)
  std::vector<PathEntry> deps;
  std::vector<ParamsRef> params;
  std::vector<Output> outs;  // outs, metrics and plots, in that order
  bool frozen = false, always_changed = false;
  std::string desc;
  std::string where;  // dvc.yaml:LINE of its definition
};

struct Pipeline {
  std::string file;                  // workspace-relative dvc.yaml
  std::vector<Stage> stages;         // in file order
  std::vector<std::string> metrics;  // top-level `metrics:` files (workspace-relative)
  std::vector<std::string> params;   // top-level `params:` files (workspace-relative)
  std::vector<std::string> warnings;
  const Stage* find(const std::string& name) const;
};

}  // namespace xops::pipeline
