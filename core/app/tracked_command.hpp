#pragma once
// `xops track run -- CMD` as one use case: start a run, run CMD as a supervised child with the
// XOPS_* environment (so `xops track log` and the metrics file reach this run), pass its
// output through and keep it as artifacts, sample CPU/RSS/GPU, ingest the metrics file as it
// grows, and end the run with the child's status. Tests call run_tracked() directly.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tracking/run_session.hpp"

namespace xops {
class Workspace;
class Tracker;
}  // namespace xops

namespace xops::app {

struct TrackedCommand {
  std::vector<std::string> argv;  // the command (no shell)
  std::string name;               // "" = the program's file name
  std::map<std::string, std::string> params, tags;
  double sample_seconds = 5;  // CPU/RSS/GPU sampling period
  std::string cwd;            // "" = ours
  bool inherit_stdin = true;
  bool own_group = false;  // see SupervisedCommand
};

struct TrackedCommandObserver {
  std::function<void(const std::string&)> on_info;
  std::function<void(const std::string&)> on_warning;  // e.g. a bad metrics-file line
  // The child's output as it arrives (fd 1 or 2); unset: written to this process's fd.
  std::function<void(int fd, const char* data, size_t n)> on_output;
};

struct TrackedCommandResult {
  std::string run_id, name;
  RunStatus status = RunStatus::Finished;
  int exit_code = 0;  // the child's, or 128 + signal
  double seconds = 0;
};

// The environment a tracked child gets: XOPS_RUN_ID, XOPS_DB (the tracking URL),
// XOPS_METRICS_FILE and XOPS_WORKSPACE.
std::map<std::string, std::string> child_environment(const std::string& run_id, Tracker& tracker,
                                                     const std::string& metrics_file,
                                                     const Workspace& ws);

// Throws a usage error for an empty argv or a command that cannot start (the run is then
// marked failed with 127).
TrackedCommandResult run_tracked(const Workspace& ws, const TrackedCommand& cmd,
                                 const TrackedCommandObserver& obs = {});

}  // namespace xops::app
