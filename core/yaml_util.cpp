#include "core/yaml_util.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.hpp"
#include "core/util/text_distance.hpp"

namespace xops::yaml {

std::string Doc::where(const YAML::Node& n) const {
  for (const auto& [node, label] : overrides)
    if (n.is(node)) return label;
  auto m = n.Mark();
  if (m.is_null()) return file;
  return fmt::format("{}:{}:{}", file, m.line + 1, m.column + 1);
}

std::string Doc::line_of(const YAML::Node& n) const {
  for (const auto& [node, label] : overrides)
    if (n.is(node)) return label;
  auto m = n.Mark();
  if (m.is_null()) return file;
  return fmt::format("{}:{}", file, m.line + 1);
}

void Doc::fail(const YAML::Node& n, const std::string& msg, const std::string& hint) const {
  throw runtime_error(fmt::format("{}: {}", where(n), msg), hint);
}

static const char* type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "empty";
    default: return "undefined";
  }
}

void Doc::expect_map(const YAML::Node& n, const std::string& what) const {
  if (!n.IsMap()) fail(n, fmt::format("{} must be a mapping, found {}", what, type_name(n)));
}

std::string Doc::str(const YAML::Node& n, const std::string& what) const {
  if (!n.IsScalar()) fail(n, fmt::format("{} must be a string, found {}", what, type_name(n)));
  return n.Scalar();
}

double Doc::num(const YAML::Node& n, const std::string& what) const {
  if (n.IsScalar()) {
    try {
      size_t pos = 0;
      double v = std::stod(n.Scalar(), &pos);
      if (pos == n.Scalar().size() && std::isfinite(v)) return v;
    } catch (...) {
    }
  }
  fail(n, fmt::format("{} must be a number, found {}", what,
                      n.IsScalar() ? "'" + n.Scalar() + "'" : type_name(n)));
}

long long Doc::integer(const YAML::Node& n, const std::string& what) const {
  if (n.IsScalar()) {
    try {
      size_t pos = 0;
      long long v = std::stoll(n.Scalar(), &pos);
      if (pos == n.Scalar().size()) return v;
    } catch (...) {
    }
  }
  fail(n, fmt::format("{} must be an integer, found {}", what,
                      n.IsScalar() ? "'" + n.Scalar() + "'" : type_name(n)));
}

long long Doc::integer_in(const YAML::Node& n, const std::string& what, long long min, long long max) const {
  auto v = integer(n, what);
  if (v < min || v > max) fail(n, fmt::format("{} must be between {} and {}, found {}", what, min, max, v));
  return v;
}

bool Doc::boolean(const YAML::Node& n, const std::string& what) const {
  if (n.IsScalar()) {
    auto s = n.Scalar();
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  fail(n, fmt::format("{} must be true or false", what));
}

std::vector<std::string> Doc::str_list(const YAML::Node& n, const std::string& what) const {
  if (!n.IsSequence()) fail(n, fmt::format("{} must be a list, found {}", what, type_name(n)));
  std::vector<std::string> out;
  for (const auto& item : n) out.push_back(str(item, what + " item"));
  return out;
}

YAML::Node Doc::require(const YAML::Node& map, const char* key, const std::string& what) const {
  auto v = map[key];
  if (!v) fail(map, fmt::format("{} is missing required key '{}'", what, key));
  return v;
}

void Doc::check_keys(const YAML::Node& map, std::initializer_list<const char*> allowed,
                     const std::string& what) const {
  for (const auto& kv : map) {
    auto key = kv.first.Scalar();
    bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
    if (ok) continue;
    std::string suggestion;
    for (const char* a : allowed)
      if (edit_distance(key, a) <= 2) suggestion = fmt::format(" (did you mean '{}'?)", a);
    // A key typed on the command line (its node has no position in any file) is a mistake
    // to stop at, not a warning to scroll past.
    if (!overrides.empty() && kv.first.Mark().is_null()) {
      std::string arg;
      for (const auto& [node, label] : overrides)
        if (kv.second.is(node)) arg = label;
      throw usage_error(fmt::format("{}: unknown key '{}' in {}{}", arg.empty() ? "--set" : arg, key, what, suggestion),
                        "the keys are listed in docs/finetune.md");
    }
    if (warnings)
      warnings->push_back(fmt::format("{}: unknown key '{}' in {}{}", line_of(kv.first), key, what, suggestion));
  }
}

// yaml-cpp keeps both entries of a duplicated key and answers lookups with the first, so
// `lr: 1` ... `lr: 2` silently trains with 1: a duplicate is an error naming both lines.
static void check_duplicates(const YAML::Node& n, const std::string& file, int depth) {
  if (depth > 256) return;  // yaml-cpp's parser bounds nesting well before this
  if (n.IsMap()) {
    std::map<std::string, int> seen;
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) continue;
      int line = kv.first.Mark().is_null() ? 0 : kv.first.Mark().line + 1;
      auto [it, fresh] = seen.emplace(kv.first.Scalar(), line);
      if (!fresh)
        throw runtime_error(fmt::format("{}:{}: duplicate key '{}' (first at line {})", file, line, kv.first.Scalar(),
                                        it->second),
                            "remove one of them: YAML keeps only one value per key");
      check_duplicates(kv.second, file, depth + 1);
    }
  } else if (n.IsSequence()) {
    for (const auto& item : n) check_duplicates(item, file, depth + 1);
  }
}

YAML::Node parse(const std::string& text, const std::string& file) {
  try {
    auto root = YAML::Load(text);
    check_duplicates(root, file, 0);
    return root;
  } catch (const YAML::Exception& e) {  // ParserException, DeepRecursion, ...
    throw runtime_error(
        fmt::format("{}:{}:{}: invalid YAML: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg),
        "fix the syntax at that position (indentation, a missing ':' or an unclosed quote)");
  }
}

std::string format_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);  // fmt prints the shortest round-trip form: 3e-4 -> 0.0003
}

}  // namespace xops::yaml
