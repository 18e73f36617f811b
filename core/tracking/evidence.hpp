#pragma once
// The lineage an eval run records (run inputs: key -> sha256) and how a promotion gate reads it
// back: one module, so the writer (`evaluate()`) and the reader (the gates) cannot drift apart.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tracking/tracker.hpp"

namespace xops::evidence {

// "eval-suite:PATH": the suite file's content.
std::string suite_key(const std::string& suite_path);
// "prompt:LABEL": a prompt the suite sent (its file's or its text's sha256).
std::string prompt_key(const std::string& label);
// "provider:LABEL/WHAT": content a provider ran; WHAT is "model" or "adapter".
std::string provider_key(const std::string& label, const std::string& what);
// provider_key from the "LABEL/WHAT" form EvalSummary::content_hashes uses.
std::string provider_key(const std::string& label_and_what);
// "baseline:LABEL/WHAT": content an eval compared against (--baseline); never evidence for it.
std::string baseline_key(const std::string& label_and_what);

// The newest eval run (runs listed newest first) of exactly this suite content and this
// artifact content: a provider's model or adapter, or a prompt the suite sent. A model that
// ran under an adapter is not evidence for that model alone: an adapter's eval must not
// promote its base.
const RunRecord* find_eval_of(const std::vector<RunRecord>& runs, const std::string& suite_hash,
                              const std::string& content_hash);

// The newest eval run of this suite content in which this content ran as a provider against
// `baseline_hash` as its --baseline (the evidence a pairwise gate reads).
const RunRecord* find_comparison_of(const std::vector<RunRecord>& runs,
                                    const std::string& suite_hash, const std::string& content_hash,
                                    const std::string& baseline_hash);

// The newest judged live comparison (`xops eval --from-logs --pairwise`, kind
// online-pairwise) in which this content answered as the candidate.
const RunRecord* find_live_comparison_of(const std::vector<RunRecord>& runs,
                                         const std::string& content_hash);

// A run's last value of a metric (what the gates compare), nullopt when it has none.
std::optional<double> metric_of(const RunRecord& run, const std::string& key);

}  // namespace xops::evidence
