#pragma once
// Typed reads from yaml-cpp nodes whose errors name file:line:column.
#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace xops::yaml {

struct Doc {
  Doc(std::string f, std::vector<std::string>* w = nullptr) : file(std::move(f)), warnings(w) {}
  std::string file;  // display name used in messages
  std::vector<std::string>* warnings = nullptr;
  // Nodes that came from the command line (`--set KEY=VALUE`): errors about them name the
  // argument instead of a file position, and an unknown key there is an error, not a warning.
  std::vector<std::pair<YAML::Node, std::string>> overrides;

  std::string where(const YAML::Node& n) const;    // "file:line:col"
  std::string line_of(const YAML::Node& n) const;  // "file:line"
  [[noreturn]] void fail(const YAML::Node& n, const std::string& msg,
                         const std::string& hint = {}) const;

  void expect_map(const YAML::Node& n, const std::string& what) const;
  std::string str(const YAML::Node& n, const std::string& what) const;
  double num(const YAML::Node& n, const std::string& what) const;
  long long integer(const YAML::Node& n, const std::string& what) const;
  // An integer in [min, max]: sizes from a file are bounded before anything is allocated.
  long long integer_in(const YAML::Node& n, const std::string& what, long long min,
                       long long max) const;
  bool boolean(const YAML::Node& n, const std::string& what) const;
  std::vector<std::string> str_list(const YAML::Node& n, const std::string& what) const;
  // Required key: error at the map's position when missing.
  YAML::Node require(const YAML::Node& map, const char* key, const std::string& what) const;
  // Warn about keys not in `allowed`.
  void check_keys(const YAML::Node& map, std::initializer_list<const char*> allowed,
                  const std::string& what) const;
};

// Loads text; a syntax error becomes Error "file:line:col: ..." with the parser's message.
YAML::Node parse(const std::string& text, const std::string& file);
// The text with every plain scalar that holds '?' inside a flow collection single-quoted
// ({q: Why?} -> {q: 'Why?'}): yaml-cpp 0.7 cannot read those, YAML 1.2 can. parse() retries
// with it when the text as written does not load.
std::string quote_flow_question_marks(const std::string& text);

// Formats a double for YAML without yaml-cpp's 0.00029999999999999997 artefacts.
std::string format_number(double v);

}  // namespace xops::yaml
