#pragma once
// Checking one output against one assertion. Deterministic types are evaluated here; the
// ones that need a model (llm-rubric, similar, pairwise, perplexity) get it through Helpers.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/eval/suite.hpp"

namespace xops {

struct AssertionResult {
  bool pass = false;
  double score = 0;  // 0..1
  std::string reason;
  // Not applicable to this case (a pairwise baseline compared with itself): listed in the
  // report, but it neither passes nor fails the case and adds to no score.
  bool skipped = false;
  // What reports show beside the reason (pairwise: both answers, both verdicts, the outcome).
  nlohmann::json detail = nullptr;
};

struct AssertionContext {
  std::string output;  // the text text assertions see (a transformed value as JSON text)
  // A transform's non-text result (an object, a number, ...): javascript / python assertions
  // receive it as it is; null when the output is text.
  const nlohmann::json* output_value = nullptr;
  std::string prompt;
  double latency_ms = 0;
  const std::map<std::string, std::string>* vars = nullptr;
  const nlohmann::json* values = nullptr;  // the vars with their types (templates)
  // Services for model-backed assertions; empty when unavailable.
  std::function<std::string(const std::string& provider, const std::string& prompt)>
      ask;  // judge call
  std::function<std::vector<float>(const std::string& provider, const std::string& text)> embed;
  std::function<std::optional<double>(const std::string& prompt, const std::string& output)>
      perplexity;
  std::function<std::string(const std::string& baseline_provider)> baseline_output;
  // javascript / python assertions: runs a request in that language's worker (ScriptWorkers).
  std::function<nlohmann::json(const std::string& language, const nlohmann::json& request,
                               int timeout_ms)>
      run_script;
  std::string test_description;
  std::string provider_id, provider_label;  // the provider that answered (the candidate)
  std::string default_judge;
  std::string default_embedding;  // `similar` without a provider: this, else default_judge
};

AssertionResult check_assertion(const AssertionSpec& a, const AssertionContext& ctx);
// The assertion types check_assertion runs (from its table), as the suite loader names them
// ("exec:CMD" for the exec: prefix); whether `base` (without not-) is one of them.
std::vector<std::string> assertion_type_names();
bool known_assertion_type(const std::string& base);

// Text metrics (exposed for tests).
size_t levenshtein(const std::string& a, const std::string& b);
double rouge_l(const std::string& candidate, const std::string& reference);
double rouge_n(const std::string& candidate, const std::string& reference, int n);
double bleu(const std::string& candidate, const std::string& reference);
double bleu(const std::string& candidate, const std::vector<std::string>& references);
std::vector<std::string> treebank_tokens(const std::string& text);
// promptfoo's extractJsonObjects (contains-json): each balanced {...} that parses.
std::vector<nlohmann::json> extract_json_objects(const std::string& text);

}  // namespace xops
