#include "core/eval/assertion_shorthand.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "core/eval/assertions.hpp"
#include "core/util/strings.hpp"

namespace xops {

bool is_javascript_file(const std::string& path) {
  auto p = path.substr(0, path.rfind(':') > path.rfind('.') && path.rfind(':') != std::string::npos
                              ? path.rfind(':')
                              : std::string::npos);
  for (const char* ext : {".js", ".cjs", ".mjs", ".ts", ".cts", ".mts"})
    if (ends_with(p, ext)) return true;
  return false;
}

std::vector<std::string> split_comma_list(const std::string& v) {
  std::vector<std::string> out;
  size_t i = 0;
  auto space = [&] {
    while (i < v.size() && std::isspace(static_cast<unsigned char>(v[i]))) ++i;
  };
  while (i < v.size()) {
    while (i < v.size() && (std::isspace(static_cast<unsigned char>(v[i])) || v[i] == ',')) ++i;
    if (i >= v.size()) break;
    std::string field;
    if (v[i] == '"') {
      ++i;
      while (i < v.size()) {
        if (v[i] == '\\' && i + 1 < v.size() && (v[i + 1] == '"' || v[i + 1] == '\\'))
          field += v[i + 1], i += 2;
        else if (v[i] == '"' && i + 1 < v.size() && v[i + 1] == '"')
          field += '"', i += 2;
        else if (v[i] == '"') {
          ++i;
          break;
        } else
          field += v[i++];
      }
      space();
    } else {
      size_t b = i;
      while (i < v.size() && v[i] != ',') ++i;
      field = trim(v.substr(b, i - b));
    }
    out.push_back(field);
  }
  return out;
}

AssertionSpec assertion_from_string(const std::string& e) {
  AssertionSpec a;
  auto starts = [&](const char* p) { return e.rfind(p, 0) == 0; };
  if (starts("javascript:") || starts("fn:") || starts("eval:") ||
      (starts("file://") && is_javascript_file(e.substr(7)))) {
    a.type = "javascript";
    a.value = trim(starts("javascript:") ? e.substr(11)
                   : starts("fn:")       ? e.substr(3)
                   : starts("eval:")     ? e.substr(5)
                                         : e);
    return a;
  }
  if (starts("grade:") || starts("llm-rubric:")) {
    a.type = "llm-rubric";
    a.value = e.substr(starts("grade:") ? 6 : 11);
    return a;
  }
  if (starts("python:") ||
      (starts("file://") && (ends_with(e, ".py") || e.find(".py:") != std::string::npos))) {
    a.type = "python";
    a.value = trim(starts("python:") ? e.substr(7) : e);
    return a;
  }
  // ^(not-)?(TYPE)(\(threshold\))?(:value)?$
  bool negate = starts("not-");
  size_t pos = negate ? 4 : 0;
  std::string type;
  for (const auto& t : assertion_type_names()) {
    if (t == "exec:CMD") continue;  // not a shorthand type: only the named ones are
    if (e.compare(pos, t.size(), t) != 0) continue;
    char next = pos + t.size() < e.size() ? e[pos + t.size()] : '\0';
    if ((next == '\0' || next == ':' || next == '(') && t.size() > type.size()) type = t;
  }
  if (!type.empty()) {
    size_t i = pos + type.size();
    std::optional<double> threshold;
    bool ok = true;
    if (i < e.size() && e[i] == '(') {
      auto close = e.find(')', i);
      auto num = close == std::string::npos ? "" : e.substr(i + 1, close - i - 1);
      ok = !num.empty() && num.find_first_not_of("0123456789.") == std::string::npos &&
           num.front() != '.' && num.back() != '.' && std::count(num.begin(), num.end(), '.') <= 1;
      if (ok) threshold = std::stod(num), i = close + 1;
    }
    ok = ok && (i == e.size() || e[i] == ':');
    if (ok) {
      a.type = (negate ? "not-" : "") + type;
      std::optional<std::string> value;
      if (i < e.size()) value = e.substr(i + 1);
      if (type == "contains-all" || type == "contains-any" || type == "icontains-all" ||
          type == "icontains-any") {
        if (value) a.value = split_comma_list(*value);
      } else if (type == "contains-json" || type == "is-json") {
        if (value) a.value = *value;
      } else {
        if (value) a.value = trim(*value);
        if (type == "levenshtein" || type == "rouge-n" || type == "similar" ||
            type == "starts-with" || type == "perplexity" || type == "latency")
          a.threshold = threshold ? *threshold : type == "similar" ? 0.8 : 0.75;
      }
      return a;
    }
  }
  a.type = "equals";
  a.value = e;
  return a;
}

}  // namespace xops
