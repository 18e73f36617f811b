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
  std::string type;        // equals, contains, ..., with an optional "not-" prefix
  nlohmann::json value;    // string / list / object (schema) / number, templated with {{vars}}
  std::optional<double> threshold;
  double weight = 1.0;
  std::string metric;      // a named score averaged across tests (thresholds.metrics)
  std::string provider;    // judge (llm-rubric, pairwise) or embedding provider (similar)
  std::string baseline;    // pairwise: the provider to compare against
  int timeout_ms = 60000;  // exec:, javascript and python assertions
  nlohmann::json config;   // javascript/python: passed to the function as context.config
};

struct PromptSpec {
  std::string label;  // shown in reports (file name or the first line)
  std::string text;
  std::string where;  // for template errors: the file, or the suite and line
};

struct ProviderSpec {
  std::string id;     // a model path/artifact, "exec:CMD", "openai:chat:MODEL", "openai:completion:MODEL"
  std::string label;
  nlohmann::json config = nlohmann::json::object();
};

struct TestSpec {
  std::string description;
  std::map<std::string, std::string> vars;  // as text (reports, exec scripts)
  nlohmann::json values = nlohmann::json::object();  // the same vars with their types, for templates
  // options.transform: JavaScript applied to the output before the assertions (code, or
  // {"file", "function"}); null when none.
  nlohmann::json transform;
  std::optional<double> threshold;  // the case passes when its weighted score reaches it
  std::string prefix, suffix;       // around the rendered prompt (CSV __prefix / __suffix)
  std::map<std::string, std::string> metadata;
  std::vector<AssertionSpec> asserts;
};

struct Suite {
  std::filesystem::path file;
  std::string description;
  std::vector<PromptSpec> prompts;
  std::vector<ProviderSpec> providers;
  std::vector<TestSpec> tests;  // defaultTest already merged in
  std::optional<double> pass_rate;                // thresholds.pass_rate
  std::map<std::string, double> metric_minimums;  // thresholds.metrics
  std::string judge;                              // defaultTest.options.provider
  std::string content_sha256;                     // of the suite file and every file it reads
};

Suite load_suite(const std::filesystem::path& file, std::vector<std::string>* warnings);
// "{{ name }}" -> vars["name"]; unknown names stay as they are.
// Renders a prompt or assertion value with the vars (Nunjucks, see core/eval/nunjucks.hpp).
std::string render_template(const std::string& tpl, const nlohmann::json& values, const std::string& where = "template");

}  // namespace xops
