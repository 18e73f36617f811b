#include "core/eval/case_scoring.hpp"

#include "core/error.hpp"
#include "core/eval/script_assertions.hpp"

namespace xops {

using nlohmann::json;

std::map<std::string, double> named_scores_of(const AssertionOutcomes& asserts) {
  std::map<std::string, std::pair<double, double>> sums;  // metric -> (sum w*score, sum w)
  for (const auto& [a, r] : asserts) {
    if (a.metric.empty() || r.skipped) continue;
    double w = a.weight > 0 ? a.weight : 1.0;
    sums[a.metric].first += w * r.score;
    sums[a.metric].second += w;
  }
  std::map<std::string, double> out;
  for (const auto& [name, s] : sums) out[name] = s.second > 0 ? s.first / s.second : 0;
  return out;
}

namespace {

// promptfoo's isGradingResult: pass a boolean, score a number, reason a string; namedScores,
// when present, an object.
bool is_grading_result(const json& v) {
  return v.is_object() && v.contains("pass") && v["pass"].is_boolean() && v.contains("score") &&
         v["score"].is_number() && v.contains("reason") && v["reason"].is_string() &&
         (!v.contains("namedScores") || v["namedScores"].is_object());
}

json component_results(const AssertionOutcomes& asserts) {
  json out = json::array();
  for (const auto& [a, r] : asserts) {
    if (r.skipped) continue;
    json assertion = {{"type", a.type}, {"value", a.value}};
    if (!a.metric.empty()) assertion["metric"] = a.metric;
    if (a.weight != 1.0) assertion["weight"] = a.weight;
    if (a.threshold) assertion["threshold"] = *a.threshold;
    out.push_back(
        {{"pass", r.pass}, {"score", r.score}, {"reason", r.reason}, {"assertion", assertion}});
  }
  return out;
}

}  // namespace

ScoringVerdict run_scoring_function(const TestSpec& test, const AssertionOutcomes& asserts,
                                    const std::map<std::string, double>& named_scores,
                                    ScriptWorkers& scripts) {
  const auto& f = test.scoring_function;
  json context = {
      {"componentResults", component_results(asserts)},
      // No token counts reach the assertions here (promptfoo sums the graders').
      {"tokensUsed",
       {{"total", 0}, {"prompt", 0}, {"completion", 0}, {"cached", 0}, {"numRequests", 0}}}};
  if (test.threshold) context["threshold"] = *test.threshold;
  json request = {{"file", f["file"]},
                  {"function", f["function"]},
                  {"output", named_scores},
                  {"context", context}};
  ScoringVerdict v;
  try {
    auto got = scripts.call(f["language"].get<std::string>(), request, 60000);
    if (!is_grading_result(got))
      throw runtime_error("assertion scoring function must return a GradingResult");
    v.result.pass = got["pass"].get<bool>();
    v.result.score = got["score"].get<double>();
    v.result.reason = got["reason"].get<std::string>();
    if (got.contains("namedScores")) {
      v.named_scores_given = true;
      for (const auto& [name, value] : got["namedScores"].items())
        if (value.is_number()) v.named_scores[name] = value.get<double>();
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Interrupted) throw;
    v.result.pass = false;
    v.result.score = 0;
    v.result.reason = std::string("Scoring function error: ") + e.what();
  }
  return v;
}

}  // namespace xops
