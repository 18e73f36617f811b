#pragma once
// Everything `xops eval` does, as one function: load the suite, apply a model override, run
// it with the provider cache, write the reports, and record a tracking run with its inputs
// (suite content, prompts, the exact model/adapter content) and its outcome. `xops eval` and
// the promotion gates (`xops promote --run-evals`) both call it, so a gate can never judge
// differently from the command.
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/eval/runner.hpp"

namespace xops {

class Workspace;

struct EvalRequest {
  std::filesystem::path suite;     // as the user gave it (recorded as such)
  std::filesystem::path base_dir;  // a relative suite path is under this ("" = the cwd)
  // --model (repeatable): evaluate these models (paths, artifacts or registry refs) instead of
  // the suite's providers, each under the first provider's config: a matrix of versions.
  std::vector<std::string> models;
  std::string prompt;              // send this prompt (file or registry ref) instead of the suite's
  std::string judge, embedding;    // --judge / --embedding: override the suite's
  // --baseline: also run every case on this (the suite's `baseline:` otherwise), list the
  // regressions and fixes, and judge each pair when there is a judge.
  std::string baseline;
  bool fail_on_regression = false;  // a regression against the baseline misses the thresholds
  std::string default_judge,
      default_embedding;  // eval.judge / eval.embedding: when the suite names none
  std::map<std::string, std::string> vars;  // --var: set in every test
  EvalOptions opts;
  bool track = true;  // record a run (when inside a workspace)
  std::string jsonl, junit, html;
  std::vector<std::string> outputs;  // -o FILE: the report type from the extension
  // promptfoo's filters, applied to the suite's tests before anything runs.
  std::string filter_pattern;  // tests whose description matches this regex
  size_t filter_first_n = 0;   // only the first N tests (0: all)
  std::string filter_failing;  // tests that failed or errored in this earlier -o results.json
                               // (xops's, or promptfoo's own output file)
};

struct EvalObserver {
  std::function<void(const std::string&)> on_warning;
  std::function<void(size_t total)> on_start;
  std::function<void(const CaseResult&)> on_case;  // in suite order
};

struct EvalOutcome {
  Suite suite;
  EvalSummary summary;
  std::string run_id;  // "" when not tracked
  // 0 passed, 4 thresholds missed, 1 provider errors: the exit code `xops eval` returns.
  int exit_code() const { return summary.errors ? 1 : summary.thresholds_met ? 0 : 4; }
};

// Hosts allowed to receive API keys from the environment: `flags` plus XOPS_KEY_HOSTS (a,b).
// Never xops.yaml: it arrives in commits like the suite itself.
std::vector<std::string> key_hosts_with_env(std::vector<std::string> flags);

// Applies req's --filter-* options to suite.tests; throws Usage when none is left.
void filter_tests(Suite& suite, const EvalRequest& req);

// Throws for suite errors and interrupts (the run is then marked failed/killed); provider
// errors and missed thresholds are in the outcome.
EvalOutcome evaluate(const EvalRequest& req, const Workspace* ws, const EvalObserver& obs = {});

}  // namespace xops
