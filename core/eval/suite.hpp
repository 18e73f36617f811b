#pragma once
// Evaluation suites in promptfoo's shape (prompts / providers / tests / defaultTest / assert),
// plus `thresholds` that decide the gate.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xops {

struct AssertionSpec {
  std::string type;      // equals, contains, ..., with an optional "not-" prefix
  nlohmann::json value;  // string / list / object (schema) / number, templated with {{vars}}
  std::optional<double> threshold;
  double weight = 1.0;
  std::string metric;      // a named score averaged across tests (thresholds.metrics)
  std::string provider;    // judge (llm-rubric, pairwise) or embedding provider (similar)
  std::string baseline;    // pairwise: the provider to compare against
  int timeout_ms = 60000;  // exec:, javascript and python assertions
  nlohmann::json config;   // javascript/python: passed to the function as context.config
  // promptfoo's assertion-level `transform`: JavaScript (code, or {"file","function"}) applied
  // to the output this assertion sees; null when none.
  nlohmann::json transform;
  // The value is data (a logged answer, via a test's `options.literal`): never rendered as a
  // template, so `{{ 7*7 }}` in it stays as written.
  bool literal = false;
};

struct PromptSpec {
  std::string label;  // shown in reports (file name or the first line)
  std::string text;
  std::string where;  // for template errors: the file, or the suite and line
  std::string ref;    // as the suite wrote it (file://x.txt, or the inline text)
  // sha256 of the file the prompt came from, as it is on disk (what a prompt artifact's
  // version is): lineage and promotion gates match on it. Empty for inline prompts.
  std::string file_sha256;
  // The text parses as JSON (a chat prompt: a list of {role, content}, or any JSON value):
  // as in promptfoo, every string inside is rendered and the result sent as indented JSON.
  bool json = false;
  // promptfoo's prompt-level `config` (response_format, temperature, ...): merged over the
  // provider's config for calls with this prompt.
  nlohmann::json config = nlohmann::json::object();
};

struct ProviderSpec {
  std::string
      id;  // a model path/artifact, "exec:CMD", "openai:chat:MODEL", "openai:completion:MODEL"
  std::string label;
  nlohmann::json config = nlohmann::json::object();
  std::vector<std::string> prompts;  // promptfoo's providers[].prompts: labels it runs; empty = all
};

struct TestSpec {
  std::string description;
  std::map<std::string, std::string> vars;  // as text (reports, exec scripts)
  nlohmann::json values =
      nlohmann::json::object();  // the same vars with their types, for templates
  // options.transform: JavaScript applied to the output before the assertions (code, or
  // {"file", "function"}); null when none.
  nlohmann::json transform;
  std::optional<double> threshold;  // the case passes when its weighted score reaches it
  std::string prefix, suffix;       // around the rendered prompt (CSV __prefix / __suffix)
  std::map<std::string, std::string> metadata;
  std::vector<AssertionSpec> asserts;
  // promptfoo's assertScoringFunction: {file, function, language, ref}, called with the case's
  // named scores and {threshold, componentResults, tokensUsed}; its GradingResult decides the
  // case. Null when none (the weighted mean of the assertions decides).
  nlohmann::json scoring_function;
};

struct Suite {
  std::filesystem::path file;
  std::string description;
  std::vector<PromptSpec> prompts;
  std::vector<ProviderSpec> providers;
  std::vector<TestSpec> tests;                    // defaultTest already merged in
  std::optional<double> pass_rate;                // thresholds.pass_rate
  std::map<std::string, double> metric_minimums;  // thresholds.metrics
  std::string judge;                              // defaultTest.options.provider (or its `text`)
  std::string embedding;                          // defaultTest.options.provider.embedding
  // Judges, embedders and baselines given as {id, label, config} objects, by the name the
  // assertions (judge, embedding) carry: made with exactly that config.
  std::map<std::string, ProviderSpec> named_providers;
  // promptfoo's derivedMetrics: a name and an arithmetic expression over named metrics.
  std::vector<std::pair<std::string, std::string>> derived_metrics;
  std::string content_sha256;  // of the suite file and every file it reads
  // `baseline: REF` (or `xops eval --baseline REF`): every case also runs on this, and the
  // report lists the cases that regress (passed on it, fail now) and the ones fixed.
  std::string baseline_ref;
  std::string baseline;  // the baseline provider's label once it has been added
};

Suite load_suite(const std::filesystem::path& file, std::vector<std::string>* warnings);
// Renders a prompt or assertion value with the vars (Nunjucks, see core/template/nunjucks.hpp).
std::string render_template(const std::string& tpl, const nlohmann::json& values,
                            const std::string& where = "template");
// A prompt as promptfoo sends it: its prefix/suffix around the rendered text; a JSON prompt
// has each string inside rendered and is sent as JSON indented by two spaces.
std::string render_prompt(const PromptSpec& p, const nlohmann::json& values);
// Whether providers[].prompts entry `want` names this prompt (its label, a label prefix
// "want: ...", or its file:// reference).
bool prompt_matches(const PromptSpec& p, const std::string& want);

}  // namespace xops
