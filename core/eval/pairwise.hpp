#pragma once
// Pairwise judging, fairly: every pair is judged twice, the candidate's answer first and then
// second, and only verdicts that agree count; a judge that always says "A" (position bias)
// yields ties, not wins (MT-Bench, Zheng et al. 2023, "conservative" swap rule). The summary
// statistics of a set of such comparisons: win rate with a 95% Wilson interval, a two-sided
// sign test, and the mean answer lengths of each side (a judge that prefers longer answers is
// visible there; AlpacaEval's length-control caveat).
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace xops {

// The judge's instruction for one order ("Answer A" is `first`).
std::string pairwise_prompt(const std::string& criteria, const std::string& prompt,
                            const std::string& first, const std::string& second);

// The config a baseline answers under, from the candidate's: a local model baseline takes its
// sampling and length (max_tokens, temperature, top_p, top_k, seed, stop); a baseline of the
// candidate's own kind (exec:, openai:) takes the whole config.
nlohmann::json baseline_config(const std::string& candidate_id,
                               const nlohmann::json& candidate_config,
                               const std::string& baseline_id);

struct PairVerdict {
  std::string winner;  // "A", "B" or "tie"
  std::string reason;
};
// Reads {"winner": "A"|"B"|"tie", "reason": ...} out of the judge's answer; anything else is
// an error (a garbled judge is not a loss for either side).
PairVerdict parse_pair_verdict(const std::string& answer, const std::string& judge);

// +1: the candidate won in both orders, -1: lost in both, 0: anything else (a tie, or orders
// that disagree).
int pair_outcome(const PairVerdict& candidate_first, const PairVerdict& candidate_second);

struct PairwiseStats {
  size_t wins = 0, ties = 0, losses = 0;
  double candidate_chars = 0, baseline_chars = 0;  // sums of answer lengths, in characters
  size_t n() const { return wins + ties + losses; }
  double win_rate() const;  // (wins + ties / 2) / n
  // The 95% Wilson score interval of win_rate (ties counted as half a win).
  std::pair<double, double> interval() const;
  // Two-sided exact sign test of wins against losses (ties dropped): the chance of a split at
  // least this uneven if neither side were better. 1 when there are no decided pairs.
  double sign_test_p() const;
};

// The figures a comparison is recorded with (run metrics pairwise/NAME), in one place for the
// offline (`eval --baseline`) and the live (`eval --from-logs --pairwise`) writers.
std::vector<std::pair<std::string, double>> pairwise_figures(const PairwiseStats& s);

}  // namespace xops
