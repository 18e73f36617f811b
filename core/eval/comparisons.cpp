#include "core/eval/comparisons.hpp"

#include <limits>
#include <regex>

#include <fmt/format.h>

#include "core/error.hpp"

namespace xops {

bool is_comparison_assertion(const std::string& type) {
  return type == "max-score" || type.rfind("select-", 0) == 0;
}

namespace {

// promptfoo's SELECT_BEST_PROMPT (its system message), with the outputs in order.
std::string select_best_prompt(const std::string& criteria, const std::vector<CaseResult*>& cases) {
  std::string texts;
  for (size_t i = 0; i < cases.size(); ++i)
    texts += fmt::format("\n<Text index=\"{}\">\n{}\n</Text>\n", i,
                         cases[i]->error.empty() ? cases[i]->output : "");
  return fmt::format(
      "You are comparing multiple pieces of text to see which best fits the following criteria: "
      "{}\n\nHere are the pieces of text:\n{}\nOutput the index of the text that best fits the "
      "criteria. You must output a single integer.",
      criteria, texts);
}

std::vector<AssertionResult> select_best(const AssertionSpec& a,
                                         const std::vector<CaseResult*>& cases,
                                         const std::string& default_judge, const AskJudge& ask) {
  auto criteria = a.value.is_string() ? a.value.get<std::string>() : a.value.dump();
  auto judge = !a.provider.empty() ? a.provider : default_judge;
  auto all = [&](const std::string& why) {
    return std::vector<AssertionResult>(cases.size(), AssertionResult{false, 0, why});
  };
  if (judge.empty())
    return all("select-best needs a judge: give the assertion a provider, or --judge");
  std::string answer;
  try {
    answer = ask(judge, select_best_prompt(criteria, cases));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Interrupted) throw;
    return all(e.what());
  }
  // The first integer of the answer, as promptfoo reads it.
  std::smatch m;
  long verdict = -1;
  if (std::regex_search(answer, m, std::regex("\\d+"))) {
    try {
      verdict = std::stol(m.str());
    } catch (const std::exception&) {
      verdict = std::numeric_limits<long>::max();
    }
  }
  if (verdict < 0 || verdict >= static_cast<long>(cases.size()))
    return all(verdict < 0 ? "Invalid select-best verdict: NaN"
                           : fmt::format("Invalid select-best verdict: {}", verdict));
  std::vector<AssertionResult> out;
  for (size_t i = 0; i < cases.size(); ++i)
    out.push_back(static_cast<long>(i) == verdict
                      ? AssertionResult{true, 1, "Output selected as the best: " + criteria}
                      : AssertionResult{false, 0, "Output not selected: " + criteria});
  return out;
}

struct MaxScoreRow {
  double score = 0;
  double total_weight = 0;
};

std::vector<AssertionResult> max_score(const AssertionSpec& a,
                                       const std::vector<CaseResult*>& cases) {
  std::vector<MaxScoreRow> rows;
  const auto& v = a.value.is_object() ? a.value : nlohmann::json::object();
  auto method = v.value("method", std::string("average"));
  auto weights = v.value("weights", nlohmann::json::object());
  std::optional<double> threshold;
  if (v.contains("threshold") && v["threshold"].is_number()) threshold = v["threshold"];
  for (auto* c : cases) {
    MaxScoreRow r;
    double sum = 0;
    for (const auto& [spec, res] : c->asserts) {
      if (is_comparison_assertion(spec.type) || spec.type == "assertScoringFunction" || res.skipped)
        continue;
      double w = weights.contains(spec.type) && weights[spec.type].is_number()
                     ? weights[spec.type].get<double>()
                     : 1.0;
      sum += res.score * w;
      r.total_weight += w;
    }
    r.score = method == "sum" ? sum : r.total_weight > 0 ? sum / r.total_weight : 0;
    rows.push_back(r);
  }
  double best = -std::numeric_limits<double>::infinity();
  size_t winner = 0;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].score > best) best = rows[i].score, winner = i;
  bool meets = !threshold || best >= *threshold;
  std::vector<AssertionResult> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    bool won = i == winner && meets;
    out.push_back(
        {won, won ? 1.0 : 0.0,
         won ? fmt::format("Selected as highest scoring output (score: {:.3f})", rows[i].score)
         : rows[i].score == best && !meets
             ? fmt::format("Not selected - score {:.3f} below threshold {}", rows[i].score,
                           *threshold)
             : fmt::format("Not selected (score: {:.3f}, max: {:.3f})", rows[i].score, best)});
  }
  return out;
}

}  // namespace

void apply_comparisons(const TestSpec& test, const std::vector<CaseResult*>& cases,
                       const std::string& judge, const AskJudge& ask) {
  const AssertionSpec* select = nullptr;
  const AssertionSpec* max = nullptr;
  for (const auto& a : test.asserts) {
    if (a.type.rfind("select-", 0) == 0 && !select) select = &a;
    if (a.type == "max-score" && !max) max = &a;
  }
  // A comparison can only take a pass away; a lost one also takes the score (promptfoo's
  // mergeSelectBestGradingResult / mergeMaxScoreGradingResult). promptfoo also writes
  // max-score's own numbers into the grading result's named scores after the case's were
  // taken, so its reports and metrics never show them; neither do ours.
  auto merge = [&](const AssertionSpec& spec, const std::vector<AssertionResult>& results) {
    for (size_t i = 0; i < cases.size(); ++i) {
      auto& c = *cases[i];
      if (!results[i].pass) {
        c.pass = false;
        c.score = results[i].score;
      }
      c.asserts.emplace_back(spec, results[i]);
    }
  };
  if (select) merge(*select, select_best(*select, cases, judge, ask));
  if (max) merge(*max, max_score(*max, cases));
}

}  // namespace xops
