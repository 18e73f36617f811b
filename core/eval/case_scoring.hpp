#pragma once
// How a case's assertion results become its named scores, and promptfoo's
// assertScoringFunction: a JavaScript or Python function of those named scores that decides
// the case in place of the weighted mean (src/assertions/assertionsResult.ts, testResult).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/eval/assertions.hpp"
#include "core/eval/suite.hpp"

namespace xops {

class ScriptWorkers;

using AssertionOutcomes = std::vector<std::pair<AssertionSpec, AssertionResult>>;

// Per metric, the weighted mean of the scores of the assertions that name it (promptfoo's
// normalised namedScores). A weight-0 assertion counts with weight 1 here: it is there to be
// measured (later promptfoo versions do the same for their metric-only assertions).
std::map<std::string, double> named_scores_of(const AssertionOutcomes& asserts);

struct ScoringVerdict {
  AssertionResult result;  // pass, score, reason (`Scoring function error: ...` on failure)
  bool named_scores_given = false;
  std::map<std::string, double> named_scores;  // replaces the case's when given
};

// Calls the test's scoring function with (namedScores, {threshold, componentResults,
// tokensUsed}). Whatever goes wrong (it throws, times out, returns something that is not a
// {pass, score, reason} GradingResult) fails the case with the reason, as promptfoo does; only
// an interrupt propagates.
ScoringVerdict run_scoring_function(const TestSpec& test, const AssertionOutcomes& asserts,
                                    const std::map<std::string, double>& named_scores,
                                    ScriptWorkers& scripts);

}  // namespace xops
