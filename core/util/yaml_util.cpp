#include "core/util/yaml_util.hpp"

#include <cstring>

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
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "empty";
    default:
      return "undefined";
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

long long Doc::integer_in(const YAML::Node& n, const std::string& what, long long min,
                          long long max) const {
  auto v = integer(n, what);
  if (v < min || v > max)
    fail(n, fmt::format("{} must be between {} and {}, found {}", what, min, max, v));
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
      if (edit_distance(key, std::string(a)) <= 2)
        suggestion = fmt::format(" (did you mean '{}'?)", a);
    // A key typed on the command line (its node has no position in any file) is a mistake
    // to stop at, not a warning to scroll past.
    if (!overrides.empty() && kv.first.Mark().is_null()) {
      std::string arg;
      for (const auto& [node, label] : overrides)
        if (kv.second.is(node)) arg = label;
      throw usage_error(fmt::format("{}: unknown key '{}' in {}{}", arg.empty() ? "--set" : arg,
                                    key, what, suggestion),
                        "the keys are listed in docs/finetune.md");
    }
    if (warnings)
      warnings->push_back(
          fmt::format("{}: unknown key '{}' in {}{}", line_of(kv.first), key, what, suggestion));
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
        throw runtime_error(fmt::format("{}:{}: duplicate key '{}' (first at line {})", file, line,
                                        kv.first.Scalar(), it->second),
                            "remove one of them: YAML keeps only one value per key");
      check_duplicates(kv.second, file, depth + 1);
    }
  } else if (n.IsSequence()) {
    for (const auto& item : n) check_duplicates(item, file, depth + 1);
  }
}

std::string quote_flow_question_marks(const std::string& t) {
  std::string out;
  out.reserve(t.size() + 16);
  int depth = 0;  // flow collections open ({ and [)
  bool value_start =
      true;  // block context: the next non-space begins a node (line start, after "- " or ": ")
  size_t block_indent =
      std::string::npos;  // inside a | or > block scalar: lines indented more than this
  size_t line_indent = 0;
  size_t i = 0;
  auto copy_quoted = [&](char q) {  // copies a quoted scalar, which may span lines
    out += t[i++];
    while (i < t.size()) {
      char c = t[i];
      out += c;
      ++i;
      if (q == '"' && c == '\\' && i < t.size())
        out += t[i++];
      else if (c == q) {
        if (q == '\'' && i < t.size() && t[i] == '\'')
          out += t[i++];
        else
          return;
      }
    }
  };
  while (i < t.size()) {
    char c = t[i];
    bool line_start = i == 0 || t[i - 1] == '\n';
    if (line_start) {
      size_t sp = 0;
      while (i + sp < t.size() && t[i + sp] == ' ') ++sp;
      bool blank = i + sp >= t.size() || t[i + sp] == '\n' || t[i + sp] == '\r';
      if (block_indent != std::string::npos) {
        if (blank || sp > block_indent) {  // block scalar content: copied as it is
          auto nl = t.find('\n', i);
          out.append(t, i, nl == std::string::npos ? std::string::npos : nl - i + 1);
          i = nl == std::string::npos ? t.size() : nl + 1;
          continue;
        }
        block_indent = std::string::npos;
      }
      if (depth == 0) {
        line_indent = sp;
        value_start = true;
      }
    }
    if (c == '#' &&
        (i == 0 || t[i - 1] == ' ' || t[i - 1] == '\t' || t[i - 1] == '\n')) {  // a comment
      auto nl = t.find('\n', i);
      out.append(t, i, nl == std::string::npos ? std::string::npos : nl - i);
      i = nl == std::string::npos ? t.size() : nl;
      continue;
    }
    if (c == '"' || (c == '\'' && (depth > 0 || value_start))) {
      copy_quoted(c);
      value_start = false;
      continue;
    }
    if (depth == 0) {
      if (value_start && (c == '{' || c == '[')) {
        ++depth;
        out += c, ++i;
        continue;
      }
      if (value_start && (c == '|' || c == '>')) block_indent = line_indent;
      if ((c == '-' || c == ':' || c == '?') &&
          (i + 1 >= t.size() || t[i + 1] == ' ' || t[i + 1] == '\n')) {
        value_start = true;
      } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
        value_start = false;
      }
      out += c, ++i;
      continue;
    }
    // Flow context.
    if (c == '{' || c == '[') {
      ++depth;
      out += c, ++i;
      continue;
    }
    if (c == '}' || c == ']') {
      --depth;
      out += c, ++i;
      if (depth == 0) value_start = false;
      continue;
    }
    if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
        (c == ':' && (i + 1 >= t.size() || std::strchr(" \n,]}", t[i + 1]))) ||
        (c == '?' && i + 1 < t.size() && t[i + 1] == ' ')) {
      out += c, ++i;
      continue;
    }
    // A plain scalar: up to ", ] } : " or " #" on this line.
    size_t b = i;
    while (i < t.size()) {
      char d = t[i];
      if (d == ',' || d == ']' || d == '}' || d == '\n' || d == '\r') break;
      if (d == ':' && (i + 1 >= t.size() || std::strchr(" \n,]}", t[i + 1]))) break;
      if (d == '#' && t[i - 1] == ' ') break;
      ++i;
    }
    auto scalar = t.substr(b, i - b);
    auto end = scalar.find_last_not_of(" \t");
    std::string trailing = end == std::string::npos ? "" : scalar.substr(end + 1);
    scalar = end == std::string::npos ? scalar : scalar.substr(0, end + 1);
    if (scalar.find('?') != std::string::npos) {
      std::string q = "'";
      for (char x : scalar) q += x == '\'' ? std::string("''") : std::string(1, x);
      out += q + "'" + trailing;
    } else {
      out += scalar + trailing;
    }
  }
  return out;
}

YAML::Node parse(const std::string& text, const std::string& file) {
  try {
    auto root = YAML::Load(text);
    check_duplicates(root, file, 0);
    return root;
  } catch (const YAML::Exception& e) {  // ParserException, DeepRecursion, ...
    // yaml-cpp reads '?' inside a flow collection's plain scalar ({q: Why?}) as a key
    // indicator, which YAML 1.2 (and js-yaml, promptfoo's parser) do not: retry with such
    // scalars quoted, and report the original error if that does not parse either.
    if (text.find('?') != std::string::npos) {
      try {
        auto root = YAML::Load(quote_flow_question_marks(text));
        check_duplicates(root, file, 0);
        return root;
      } catch (const YAML::Exception&) {
      }
    }
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
