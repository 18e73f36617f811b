#pragma once
// Promotion as one use case: check a version's gates for a stage (running a missing gate's
// suite through evaluate() when asked, exactly as `xops eval` would), record the decision as a
// tracking run, write the stage tag when every gate passes, and push it. `xops promote` turns
// flags into a PromotionRequest and renders the outcome; tests call promote() directly.
#include <functional>
#include <string>
#include <vector>

#include "core/app/evaluate.hpp"
#include "core/error.hpp"
#include "core/registry/promote.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

// Runs the gate's suite on a version ref of an artifact of `type` (model and adapter as the
// suite's model, prompt as its prompt), against `baseline` (a pairwise gate's) when not empty.
using GateRunner = std::function<void(const GateConfig& gate, const std::string& ref,
                                      const std::string& type, const std::string& baseline)>;

// Checks every gate of `stage` for the version `ref` names (name@vX, name@latest, or a bare
// name: its latest version); writes nothing. With `run_missing`, a gate without passing
// evidence has its suite run on exactly that version first, then is checked again.
// `approved`: the user signed off (--approve), for `approve: true` gates.
registry::PromotionPlan plan_promotion(const Workspace& ws, const std::string& ref,
                                       const std::string& stage, const GateRunner& run_missing = {},
                                       bool approved = false);

struct PromotionRequest {
  std::string ref, stage, message;
  bool dry_run = false;
  bool run_evals = false;  // a gate without evidence runs its suite on exactly this version
  bool approve = false;    // the user's sign-off, for `approve: true` gates
  std::string push;        // a git remote to push the stage tag to ("" = none)
  // How a gate's suite runs with run_evals, as `xops eval` would run it.
  std::vector<std::string> key_hosts;
  std::string default_judge, default_embedding;
};

struct PromotionObserver {
  std::function<void(const std::string&)> on_info;
  EvalObserver eval;  // a gate's eval (run_evals)
  std::function<void(const EvalOutcome&)> on_eval_done;
};

struct PromotionOutcome {
  registry::PromotionPlan plan;
  bool written = false;  // the stage tag was written (allowed and not a dry run)
  std::string run_id;    // the promotion's tracking run ("" for a dry run)
};

// Throws usage errors for a bad stage or ref; a refused promotion is an outcome
// (plan.allowed false), recorded unless dry_run; refusal() turns it into the error to raise.
PromotionOutcome promote(const Workspace& ws, const PromotionRequest& req,
                         const PromotionObserver& obs = {});

// The CheckFailed error for a refused plan: how many gates failed and what to do next.
Error refusal(const registry::PromotionPlan& plan);

}  // namespace xops::app
