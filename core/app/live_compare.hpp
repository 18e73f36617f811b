#pragma once
// `xops eval --from-logs --pairwise`: the logged pairs of `serve --shadow` (the served answer
// and the candidate's to the same request) judged in both orders, one win-rate table per
// candidate/served pair of versions, each recorded as a tracking run (kind online-pairwise:
// the candidate's content as provider, the served version's as baseline) that a promotion
// gate `online_pairwise: {min_win_rate, min_pairs}` reads.
#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/logged_pairs.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

struct LiveCompareRequest {
  int64_t since_ms = 0;
  std::string judge;     // a provider id (required)
  std::string criteria;  // what "better" means, for the judge ("" = overall)
  std::vector<std::string> key_hosts;
  size_t max_pairs = 0;  // per candidate: the newest N (0 = all)
  bool track = true;
};

struct LiveCompareOutcome {
  std::vector<LivePairwise> groups;
  std::vector<std::string> run_ids;  // one per group when tracked
};

LiveCompareOutcome judge_live_traffic(const Workspace& ws, const LiveCompareRequest& req);

}  // namespace xops::app
