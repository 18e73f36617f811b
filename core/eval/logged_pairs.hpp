#pragma once
// Live comparison, judged: `xops serve NAME#prod --shadow CANDIDATE` logs each served answer
// (arm "prod") and the candidate's answer to the same request (arm "shadow", pair_id = the
// served one). Here those pairs are read back and judged as `pairwise` judges offline (both
// orders, MT-Bench's rule), grouped by which two versions answered, into the same win-rate
// statistics.
#include <functional>
#include <string>
#include <vector>

#include "core/db/database.hpp"
#include "core/eval/pairwise.hpp"
#include "core/tracking/interaction_log.hpp"

namespace xops {

struct LoggedPair {
  Interaction served, shadow;
};

// Pairs whose served answer was created at or after since_ms, oldest first.
std::vector<LoggedPair> logged_pairs(db::Database& db, int64_t since_ms);

struct LoggedPairVerdict {
  std::string served_id, shadow_id;
  int outcome = 0;    // +1 the shadow (candidate) won in both orders, -1 lost, 0 otherwise
  std::string error;  // the judge could not be read: not counted either way
  std::vector<PairVerdict> verdicts;
};

// One candidate against one served version: every logged pair between them.
struct LivePairwise {
  std::string candidate_version, served_version;
  std::string candidate_model_hash, candidate_adapter_hash, served_model_hash, served_adapter_hash;
  PairwiseStats stats;
  size_t errors = 0;
  std::vector<LoggedPairVerdict> pairs;
};

// Judges each pair in both orders with `ask(judge_prompt)` (the judge's raw answer; throws
// on a failed call, counted as an error); `max_pairs` > 0 keeps the newest that many per
// group. Groups in order of first appearance.
std::vector<LivePairwise> judge_logged_pairs(
    const std::vector<LoggedPair>& pairs, const std::string& judge,
    const std::function<std::string(const std::string&)>& ask, const std::string& criteria = {},
    size_t max_pairs = 0);

}  // namespace xops
