#pragma once
// Registering versions, promoting them through stages behind evaluation gates, and turning a
// registry reference into content on disk. Core only: no printing; the command renders.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/project/config.hpp"
#include "core/refs/content.hpp"
#include "core/store/pointer.hpp"
#include "core/util/line_diff.hpp"

namespace xops {
class Workspace;
}

namespace xops::registry {

struct RegisterRequest {
  std::string artifact, rev = "HEAD", version;  // version empty: bump
  enum Bump { Patch, Minor, Major } bump = Patch;
  std::string message;
};
struct RegisterResult {
  std::string tag, version, commit, content_hash;
};
RegisterResult register_version(const Workspace& ws, const RegisterRequest& r);

struct GateCheck {
  std::string kind = "eval";  // eval | pairwise | approval
  std::string suite;
  std::string suite_hash;
  double min_pass_rate = 0;
  bool passed = false;
  std::string run_id;  // the evidence, when an eval of exactly this content was found
  std::optional<double> pass_rate;
  std::string reason;
  // no_regression: each metric of this content's eval against the stage holder's.
  struct Comparison {
    std::string metric;
    std::optional<double> value, baseline;
    bool ok = false;
  };
  std::vector<Comparison> comparisons;
  std::string baseline_version, baseline_run;
  // pairwise: the candidate judged against baseline_version (content baseline_hash) in run_id.
  std::string baseline_hash;
  std::optional<double> min_win_rate, win_rate, win_rate_low, win_rate_high, sign_test_p;
  std::optional<int> max_regressions, min_pairs;
  std::optional<double> pairs, regressions, compared;
};

struct PromotionPlan {
  Resolved version;
  std::string stage, content_hash, tag;  // the tag it would write
  std::string type;                      // the artifact's (model, adapter, prompt, ...)
  std::vector<GateCheck> gates;
  bool allowed = false;
  std::string current;  // the version now in the stage ("" when none)
};

// Writes the assignment tag of an allowed plan; a precondition error when another promotion
// took the counter first (nothing written).
void apply_promotion(const Workspace& ws, PromotionPlan& plan, const std::string& message);
// The promotion as a tracking run (kind promote: the version, stage, content and each gate's
// evidence), finished with exit 0 when the tag was written and failed with 4 when the gates
// refused; writes the tag (apply_promotion) when the plan is allowed. Returns the run id.
std::string record_promotion(const Workspace& ws, PromotionPlan& plan, const std::string& message);

// NAME#STAGE!#N at the commit of the version now in the stage (the stage is empty after it),
// and NAME@deprecated#N at the latest version's commit (HEAD when none). Return the tag.
std::string unassign_stage(const Workspace& ws, const std::string& artifact,
                           const std::string& stage, const std::string& message);
std::string deprecate_artifact(const Workspace& ws, const std::string& artifact,
                               const std::string& message);

// Pushes a registry tag to a git remote; a clear error (the tag stays local) when it fails.
void push_tag(const Workspace& ws, const std::string& remote, const std::string& tag);

// How two versions differ: for a file, its lines; for a directory, which files were added,
// removed or changed, with the lines of changed text files (configs, tokenizer files).
struct FileDiff {
  std::string path, status;  // added | removed | changed
  bool binary = false;       // not diffed line by line (binary or over 1 MiB)
  uint64_t size_a = 0, size_b = 0;
  std::vector<DiffLine> lines;
};
struct VersionDiff {
  ResolvedContent a, b;
  std::vector<FileDiff> files;
};
VersionDiff diff_versions(const Workspace& ws, const std::string& ref_a, const std::string& ref_b);

}  // namespace xops::registry
