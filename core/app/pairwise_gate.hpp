#pragma once
// A promotion gate that compares: `pairwise: {suite, baseline, min_win_rate, max_regressions}`.
// The candidate passes when an eval of exactly its content against exactly the baseline's
// content (`xops eval SUITE --model CANDIDATE --baseline BASELINE`) judged it no worse than
// asked: the win rate of the pairs judged in both orders, and the cases the baseline passed
// and the candidate fails.
#include <string>
#include <vector>

#include "core/project/config.hpp"
#include "core/registry/promote.hpp"
#include "core/tracking/tracker.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

// The version a pairwise gate compares the candidate with.
struct PairwiseBaseline {
  std::string ref;           // NAME@vX.Y.Z, what `xops eval --baseline` is given
  std::string content_hash;  // its content, as the eval records it (baseline:...)
  std::string none;          // why there is none (an empty stage): nothing to compare with
};

// `baseline: STAGE` is the candidate's artifact in that stage: its holder, or the version that
// held it before when the candidate is the holder (a re-check after promotion); a registry ref
// is that version. Throws when the baseline is the candidate itself.
PairwiseBaseline pairwise_baseline(const Workspace& ws, const GateConfig& g,
                                   const registry::PromotionPlan& plan);

registry::GateCheck check_pairwise_gate(const Workspace& ws, const std::vector<RunRecord>& runs,
                                        const GateConfig& g, const std::string& content_hash,
                                        const PairwiseBaseline& baseline);

// online_pairwise: the newest judged live comparison of exactly this content as the candidate.
registry::GateCheck check_online_pairwise_gate(const std::vector<RunRecord>& runs,
                                               const GateConfig& g,
                                               const std::string& content_hash);

}  // namespace xops::app
