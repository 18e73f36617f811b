#pragma once
// The HTML report's side-by-side view, for a suite with two or more providers (a --baseline,
// several --model): one row per test (and prompt, and repeat), one column per provider, the
// baseline first; each cell its output and verdict, and a candidate's cell the pairwise
// judgement against the baseline (win, tie, loss) with both orders' rationales. Rows carry
// `regression` (the baseline passed, a candidate fails), `fix` and `loss` classes, and the
// page filters on them without a script.
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/eval/runner.hpp"

namespace xops {

class HtmlMatrix {
 public:
  void add(const CaseResult& c);
  // "" when fewer than two providers answered.
  std::string render(const std::string& baseline) const;

 private:
  struct Cell {
    bool pass = false;
    std::string output, error, outcome, reasons;
  };
  struct Row {
    std::string description, prompt, rendered;
    std::map<std::string, Cell> cells;  // by provider label
  };
  std::map<std::tuple<size_t, std::string, int>, Row> rows_;  // (test, prompt, repeat)
  std::vector<std::string> providers_;                        // in order of first answer
  size_t dropped_ = 0;                                        // rows past the bound
};

}  // namespace xops
