#pragma once
// Runs a suite: every test x prompt x provider (x repeat), in parallel, with a result cache;
// each result is handed to a sink as soon as it exists (bounded memory for huge suites).
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/eval/assertions.hpp"
#include "core/eval/pairwise.hpp"
#include "core/eval/retrieval.hpp"
#include "core/eval/suite.hpp"

namespace xops {

class Workspace;
namespace db {
class Database;
}

struct EvalOptions {
  int jobs = 4;
  bool use_cache = true;
  int repeat = 1;
  std::vector<std::string> key_hosts;  // see KeyHosts in providers.hpp
  // Searches an index for a suite's `{retrieve: ...}` vars (the application opens indexes);
  // unset: such a suite is refused.
  RetrieveFn retrieve;
};

struct CaseResult {
  size_t index = 0;  // test index
  size_t prompt = 0, provider = 0;
  int repeat = 0;
  std::string test_description, prompt_label, provider_label, rendered_prompt, output, error;
  std::map<std::string, std::string> vars;
  bool pass = false, cached = false;
  double score = 0, latency_ms = 0;
  std::vector<std::pair<AssertionSpec, AssertionResult>> asserts;
  // Per metric, this case's weighted mean (or what its assertScoringFunction returned).
  std::map<std::string, double> named_scores;
  // The chunks each retrieval var got: [{var, index, query, chunks: [{id, source, score}]}];
  // null when the test retrieves nothing.
  nlohmann::json retrieval;
};

struct ProviderSummary {
  std::string label;
  size_t cases = 0, passed = 0, failed = 0, errors = 0;
  double latency_ms_total = 0;
};

struct DerivedMetric {
  std::string name, prompt, provider;
  double value = 0;
  std::string error;  // a name that no case scored, a division by nothing, ...
};

// A candidate provider's pairwise comparisons with one baseline (the `pairwise` assertions).
struct PairwiseSummary {
  std::string provider, baseline;
  PairwiseStats stats;
  // The same pairs split by the assertion's `metric` ("metric:NAME") and by each of the
  // test's metadata entries ("KEY=VALUE"): where a version wins and where it loses.
  std::map<std::string, PairwiseStats> by_group;
};

// A case named for a list: which test, prompt and repeat.
struct CaseRef {
  size_t test = 0;
  std::string description, prompt;
  int repeat = 0;
};

// A provider's cases against the baseline's same cases (judge-free): regressions passed on the
// baseline and fail now; fixes the other way. Cases that errored on either side are not
// compared.
struct BaselineDiff {
  std::string provider, baseline;
  size_t compared = 0;
  std::vector<CaseRef> regressions, fixes;
};

struct EvalSummary {
  size_t cases = 0, passed = 0, failed = 0, errors = 0, cached = 0;
  double seconds = 0;
  std::vector<ProviderSummary> providers;
  std::map<std::string, std::pair<double, size_t>> metrics;  // name -> (sum of scores, count)
  std::vector<DerivedMetric> derived;                 // derivedMetrics, per prompt x provider
  std::vector<std::string> flaky;                     // tests whose outcome differed across repeats
  std::map<std::string, std::string> content_hashes;  // "provider:LABEL/model" -> sha256
  std::vector<PairwiseSummary> pairwise;
  std::vector<BaselineDiff> against_baseline;  // when the suite has a baseline
  // The versions evaluated: a baseline's own cases (--baseline) are there to compare with.
  double pass_rate() const {
    size_t n = cases, ok = passed;
    for (const auto& p : providers)
      if (!baseline.empty() && p.label == baseline) n -= p.cases, ok -= p.passed;
    return n ? static_cast<double>(ok) / n : 0;
  }
  std::string baseline;  // the baseline provider's label, when there is one
  bool thresholds_met = true;
  std::vector<std::string> threshold_failures;
};

// Cases run_suite runs: tests x the (prompt, provider) pairs providers[].prompts allow x repeat.
size_t count_cases(const Suite& suite, int repeat);

EvalSummary run_suite(const Suite& suite, const Workspace* ws, db::Database* cache,
                      const EvalOptions& opts, const std::function<void(const CaseResult&)>& sink);

}  // namespace xops
