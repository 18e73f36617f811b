#pragma once
// promptfoo's comparison assertions, which judge one test's outputs against each other once
// every prompt and provider has answered it (src/matchers/comparison.ts and the evaluator's
// mergeSelectBestGradingResult / mergeMaxScoreGradingResult):
// - `select-best` asks the judge which output best fits the criteria (the value); the chosen
//   one passes, the others fail;
// - `max-score` picks the output whose other assertions scored highest (value: {method:
//   average|sum, weights: {TYPE: w}, threshold}); the first of equal maxima wins.
// Each result is appended to the case's assertions and can only take a pass away.
#include <functional>
#include <string>
#include <vector>

#include "core/eval/runner.hpp"

namespace xops {

bool is_comparison_assertion(const std::string& type);

using AskJudge = std::function<std::string(const std::string& judge, const std::string& prompt)>;

// `cases`: one test's results for one repeat, in prompt-then-provider order (errored cases
// included: they take part as empty outputs, as in promptfoo). `judge`: the suite's default.
void apply_comparisons(const TestSpec& test, const std::vector<CaseResult*>& cases,
                       const std::string& judge, const AskJudge& ask);

}  // namespace xops
