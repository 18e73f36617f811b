#pragma once
// The suite loader's private parts, shared by the files that read a suite: suite.cpp (the
// document, prompts, load_suite), suite_loader.cpp (files, $ref, assertions, options,
// providers) and suite_tests.cpp (tests inline and from JSONL/JSON/YAML/CSV files).
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/eval/suite.hpp"
#include "core/store/sha256.hpp"
#include "core/util/yaml_json.hpp"
#include "core/util/yaml_util.hpp"

namespace xops::suite_detail {

using yaml::to_json;

std::string scalar_text(const nlohmann::json& j);

// Suites, prompts and cases are UTF-8 text: invalid bytes are refused where they come in
// (a JSON library would otherwise throw its own error much later, mid-run).
void require_utf8(const std::string& text, const std::string& file);

bool has_glob(const std::string& s);

// A suite's test options (`options:`), as far as xops runs them.
struct TestOptions {
  nlohmann::json transform;  // null, code, or {"file", "function"}
  std::string prefix, suffix, provider, embedding;
  // xops's `literal: true`: the test's vars and assertion values are data (logged traffic):
  // no file:// loading, no list or glob expansion, no template rendering of values.
  bool literal = false;
};

// Reads one suite file into a Suite: every reference resolved under `root`, every value
// checked, each error with file:line.
struct Loader {
  std::filesystem::path dir;
  Sha256 hash;
  yaml::Doc doc;
  std::vector<std::string>* warnings = nullptr;

  std::filesystem::path
      root;           // file:// references must stay under it (the workspace, else the suite's dir)
  YAML::Node config;  // the suite document, for `$ref: '#/...'`
  // Judges and embedders given as objects ({id, label, config}), by the name assertions use.
  std::map<std::string, ProviderSpec> named_providers;

  std::filesystem::path resolve(const std::string& path);

  std::string read(const std::string& ref);

  // file://dir/*.txt -> the matching files in the order promptfoo's glob walks them
  // (core/util/node_glob.hpp); a pattern that matches nothing is an error.
  std::vector<std::string> expand(const std::string& ref);

  // `$ref: '#/path/to/node'` (JSON pointer into this suite), as promptfoo resolves it.
  YAML::Node deref(const YAML::Node& n, int depth = 0);

  // file://path.js[:function] of a script assertion or transform: checked (inside the
  // project), hashed like every file a suite reads, and made absolute for the worker.
  nlohmann::json script_ref(const std::string& v);

  nlohmann::json transform(const YAML::Node& t, const std::string& what);

  // assertScoringFunction: file://path.{js,cjs,mjs,ts,...,py}[:function], as promptfoo's schema
  // takes it; a .py file without a function name calls `func` (promptfoo's loadFunction).
  nlohmann::json scoring_function(const YAML::Node& n);

  // Checks an assertion whatever its source (YAML, a CSV cell): type, value shape, files.
  void finish_assertion(AssertionSpec& a, const YAML::Node& at);

  AssertionSpec assertion(const YAML::Node& n0);

  std::vector<AssertionSpec> assertions(const YAML::Node& n);

  // Unknown keys are refused, not ignored: a setting xops does not run would change the
  // verdicts silently.
  void strict(const YAML::Node& n, std::initializer_list<const char*> allowed,
              const std::string& what);

  TestOptions options(const YAML::Node& o);

  // A var's value as promptfoo loads it: file://x.txt is the file's text (trimmed),
  // file://x.yaml its data as JSON text; script-computed vars are refused.
  nlohmann::json load_var(const nlohmann::json& v, const YAML::Node& at);

  void add_test(const YAML::Node& n0, std::vector<TestSpec>& out);
  TestSpec test_base(const YAML::Node& n, const TestOptions& o);
  void add_literal_test(const YAML::Node& n, const nlohmann::json& vars, const TestOptions& o,
                        std::vector<TestSpec>& out);

  void add_tests(const YAML::Node& n, std::vector<TestSpec>& out);

  // Loads another file's tests with that file's name in error messages.
  template <class F>
  void with_doc(const std::string& name, F&& f) {
    auto saved = doc.file;
    doc.file = name;
    try {
      f();
    } catch (...) {
      doc.file = saved;
      throw;
    }
    doc.file = saved;
  }

  void tests_from_file(const std::string& ref, std::vector<TestSpec>& out);

  void tests_from_csv(const std::string& text, const std::string& path, std::vector<TestSpec>& out);

  // One `prompts:` entry: inline text, or file:// (a glob, several prompts per file).
  void add_prompt(const YAML::Node& p, std::vector<PromptSpec>& out, const std::string& suite_file);

  ProviderSpec provider(const YAML::Node& p);

  // A judge, embedder or baseline named by an assertion or options.provider: an id, or an
  // object {id, label, config} honoured in full (kept in named_providers under the name
  // returned); any other key is refused.
  std::string provider_ref(const YAML::Node& v, const std::string& what);
};

}  // namespace xops::suite_detail
