#pragma once
// Read-only views of a dvc.yaml pipeline: `xops dag`, `xops params diff` and
// `xops metrics show|diff` across git revisions. A revision's metrics come from git when
// the file is committed (cache: false) and otherwise from the store, through the dvc.lock
// of that revision (as DVC reads them from its cache).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/pipeline/pipeline.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

// `xops stage list`: the stages the pipeline file declares, foreach members expanded.
pipeline::Pipeline list_stages(const Workspace& ws, const std::string& file);

struct DagOptions {
  std::vector<std::string> targets;
  bool dot = false;
  std::string file = "dvc.yaml";
};
std::string render_dag(const Workspace& ws, const DagOptions& o);

// A revision: a git rev, or "" for the workspace as it is.
struct ParamChange {
  std::string file, key;
  std::optional<nlohmann::ordered_json> old_value, new_value;  // absent on that side
  bool changed = false;
};
std::vector<ParamChange> params_diff(const Workspace& ws, const std::string& a_rev,
                                     const std::string& b_rev, bool all,
                                     const std::string& file = "dvc.yaml");

struct MetricRow {
  std::string file, key;
  std::optional<double> old_value, new_value;
  bool changed() const { return old_value != new_value; }
};
// The metrics files the pipeline declares (top-level metrics: and stage metrics:) at `rev`.
std::vector<MetricRow> metrics_show(const Workspace& ws, const std::string& rev,
                                    const std::string& file = "dvc.yaml");
std::vector<MetricRow> metrics_diff(const Workspace& ws, const std::string& a_rev,
                                    const std::string& b_rev, bool all,
                                    const std::string& file = "dvc.yaml");

}  // namespace xops::app
