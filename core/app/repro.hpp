#pragma once
// `xops repro`: run a dvc.yaml pipeline's stages in dependency order, each only when its
// command, a dependency's content or a params value changed (or an output is missing), as
// DVC's repro decides. Before running, a stage whose run is in the run cache (or whose
// outputs dvc.lock names and the store holds) gets them back without running. Each run is
// a tracked run (params, input hashes, outputs, metrics files); cached outputs go into the
// store behind pointer files, as `track add` puts them; dvc.lock is rewritten after each
// stage that succeeds. A stage that fails or is interrupted commits nothing and leaves its
// dvc.lock entry as it was. Independent stages run in parallel with jobs > 1.
#include <functional>
#include <string>
#include <vector>

namespace xops {
class Workspace;
}

namespace xops::app {

struct ReproOptions {
  std::vector<std::string> targets;  // stage names (NAME selects every NAME@KEY); empty: all
  bool force = false;                // run the selected stages even when unchanged
  bool dry = false;                  // decide and report, run nothing
  bool single_item = false;          // the targets only, not their upstream stages
  bool downstream = false;           // also every stage downstream of the targets
  bool run_cache = true;             // false: never restore from the run cache
  bool pull = false, push = false;   // sync the store with the remote before / after
  std::string remote;
  int jobs = 1;  // stages run at once
  std::string file = "dvc.yaml";
};

// What happened to one stage: unchanged | ran | restored | frozen | would-run | maybe | failed |
// not-run
struct StageReport {
  std::string name, action;
  std::vector<std::string> reasons;
  std::string run_id;  // the tracked run, when it ran
  double seconds = 0;
  std::string error;  // failed: why
};

struct ReproResult {
  std::vector<StageReport> stages;
  std::vector<std::string> warnings;
  bool failed = false;
  bool interrupted = false;
};

struct ReproObserver {
  std::function<void(const std::string& stage, const std::vector<std::string>& reasons)>
      on_stage_start;
  std::function<void(const StageReport&)> on_stage_end;
  std::function<void(const std::string&)> on_info;
  // Stage output as it arrives (fd 1 or 2); unset: written to this process's fd.
  std::function<void(const std::string& stage, int fd, const char* data, size_t n)> on_output;
};

// Throws for a pipeline that cannot run at all (bad dvc.yaml, a cycle, a held lock). A stage
// that fails is reported (failed = true) after the stages already running have ended.
ReproResult repro(const Workspace& ws, const ReproOptions& o, const ReproObserver& obs = {});

}  // namespace xops::app
