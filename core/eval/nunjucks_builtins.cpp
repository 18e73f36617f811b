// The runtime library of the Nunjucks subset: values with JavaScript's conversions (Nunjucks
// compiles templates to JS), operators, and the built-in filters and tests.
#include "core/eval/nunjucks_builtins.hpp"
#include "core/util/strings.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace xops::nunjucks::builtins {

// ---- values with JavaScript's conversions (Nunjucks compiles to JS)

bool truthy(const json& v) {
  if (undefined(v) || v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) {
    double d = v.get<double>();
    return d != 0 && !std::isnan(d);
  }
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  return true;  // arrays and objects, even empty ones
}

std::string number_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == std::floor(d) && std::fabs(d) < 1e21) return fmt::format("{:.0f}", d);
  return fmt::format("{}", d);
}

std::string text(const json& v) {
  if (undefined(v) || v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return number_text(v.get<double>());
  if (v.is_array()) {  // Array.prototype.toString
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + text(v[i]);
    return s;
  }
  return "[object Object]";
}

double number(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_null()) return 0;
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    auto b = s.find_first_not_of(" \t\n\r");
    if (b == std::string::npos) return 0;
    char* end = nullptr;
    double d = std::strtod(s.c_str() + b, &end);
    while (end && *end && std::isspace(static_cast<unsigned char>(*end))) ++end;
    return end && *end == 0 ? d : NAN;
  }
  return NAN;
}

// A number from a template as an integer in [lo, hi] (NaN gives dflt): no undefined casts.
long long to_int(double d, long long lo, long long hi, long long dflt) {
  if (std::isnan(d)) return dflt;
  if (d <= static_cast<double>(lo)) return lo;
  if (d >= static_cast<double>(hi)) return hi;
  return static_cast<long long>(d);
}

json num_value(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15)
    return json(static_cast<long long>(d));
  return json(d);
}

bool loose_equal(const json& a, const json& b) {
  bool an = undefined(a) || a.is_null(), bn = undefined(b) || b.is_null();
  if (an || bn) return an && bn;
  if (a.is_string() && b.is_string()) return a == b;
  if ((a.is_number() || a.is_boolean() || a.is_string()) &&
      (b.is_number() || b.is_boolean() || b.is_string()))
    return number(a) == number(b);
  return a == b;  // arrays/objects: JS compares identity; equal structure is the closest here
}

int compare_values(const json& a, const json& b) {  // <0, 0, >0; strings lexicographic
  if (a.is_string() && b.is_string())
    return a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
  double x = number(a), y = number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

const std::vector<std::string>& filter_names() {
  static const std::vector<std::string> f = {
      "abs",       "capitalize", "d",         "default", "dump",    "e",        "escape",
      "first",     "float",      "int",       "join",    "last",    "length",   "list",
      "load",      "lower",      "nl2br",     "replace", "reverse", "round",    "safe",
      "sort",      "string",     "striptags", "title",   "trim",    "truncate", "upper",
      "urlencode", "wordcount",  "batch",     "sum",     "select",  "reject",   "indent"};
  return f;
}
const std::vector<std::string>& test_names() {
  static const std::vector<std::string> t = {
      "defined", "undefined", "none",   "null",    "number",      "string",
      "odd",     "even",      "truthy", "falsy",   "divisibleby", "iterable",
      "mapping", "sameas",    "eq",     "equalto", "lower",       "upper"};
  return t;
}

json member(const json& obj, const json& key) {
  if (obj.is_object()) {
    auto k = text(key);
    auto f = obj.find(k);
    return f == obj.end() ? kUndefined : *f;
  }
  if (obj.is_array() || obj.is_string()) {
    if (key.is_string() && key.get_ref<const std::string&>() == "length")
      return obj.is_array() ? json(obj.size())
                            : json(utf8_length(obj.get_ref<const std::string&>()));
    double d = number(key);
    if (std::isnan(d) || d < 0 || d > 1e15 || d != std::floor(d)) return kUndefined;
    auto i = static_cast<size_t>(d);
    if (obj.is_array()) return i < obj.size() ? obj[i] : kUndefined;
    const auto& s = obj.get_ref<const std::string&>();
    return i < s.size() ? json(s.substr(i, 1)) : kUndefined;
  }
  return kUndefined;
}

json binary(const std::string& op, const json& a, const json& b) {
  if (op == "+") {
    if (a.is_string() || b.is_string() || a.is_array() || b.is_array() || a.is_object() ||
        b.is_object())
      return text(a) + text(b);
    return num_value(number(a) + number(b));
  }
  if (op == "~") return text(a) + text(b);
  if (op == "-") return num_value(number(a) - number(b));
  if (op == "*") return num_value(number(a) * number(b));
  if (op == "/") return num_value(number(a) / number(b));
  if (op == "//") return num_value(std::floor(number(a) / number(b)));
  if (op == "%") return num_value(std::fmod(number(a), number(b)));
  if (op == "**") return num_value(std::pow(number(a), number(b)));
  if (op == "==") return loose_equal(a, b);
  if (op == "!=") return !loose_equal(a, b);
  if (op == "===") return a == b && !undefined(a);
  if (op == "!==") return !(a == b && !undefined(a));
  if (op == "<") return compare_values(a, b) < 0;
  if (op == ">") return compare_values(a, b) > 0;
  if (op == "<=") return compare_values(a, b) <= 0;
  if (op == ">=") return compare_values(a, b) >= 0;
  if (op == "in" || op == "not in") {
    bool in = false;
    if (b.is_string())
      in = b.get_ref<const std::string&>().find(text(a)) != std::string::npos;
    else if (b.is_array())
      for (const auto& x : b) in |= loose_equal(x, a);
    else if (b.is_object())
      in = b.contains(text(a));
    return op == "in" ? in : !in;
  }
  return kUndefined;
}

namespace {

std::string map_chars(std::string s, int (*f)(int)) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x80)
      c = static_cast<char>(f(static_cast<unsigned char>(c)));
  return s;
}

std::string js_trim(const std::string& s) {
  return trim(s, " \t\r\n\f\v");
}  // String.prototype.trim

}  // namespace

json apply_test(const std::string& t, const json& v, const json& arg) {
  if (t == "defined") return !undefined(v);
  if (t == "undefined") return undefined(v);
  if (t == "none" || t == "null") return v.is_null();
  if (t == "number") return v.is_number();
  if (t == "string") return v.is_string();
  if (t == "odd") return v.is_number() && std::fmod(std::fabs(number(v)), 2) == 1;
  if (t == "even") return v.is_number() && std::fmod(std::fabs(number(v)), 2) == 0;
  if (t == "truthy") return truthy(v);
  if (t == "falsy") return !truthy(v);
  if (t == "divisibleby") return std::fmod(number(v), number(arg)) == 0;
  if (t == "iterable") return v.is_array() || v.is_string() || v.is_object();
  if (t == "mapping") return v.is_object();
  if (t == "sameas" || t == "eq" || t == "equalto") return v == arg;
  if (t == "lower") {
    auto s = text(v);
    return std::none_of(s.begin(), s.end(),
                        [](char c) { return std::isupper(static_cast<unsigned char>(c)); });
  }
  if (t == "upper") {
    auto s = text(v);
    return std::none_of(s.begin(), s.end(),
                        [](char c) { return std::islower(static_cast<unsigned char>(c)); });
  }
  return false;
}

json apply_filter(const std::string& f, const json& v, const std::vector<json>& a) {
  auto arg = [&](size_t i) { return i < a.size() ? a[i] : kUndefined; };
  if (f == "safe" || f == "string") return f == "string" ? json(text(v)) : v;
  if (f == "upper") return map_chars(text(v), ::toupper);
  if (f == "lower") return map_chars(text(v), ::tolower);
  if (f == "trim") return js_trim(text(v));
  if (f == "capitalize") {
    auto s = map_chars(text(v), ::tolower);
    if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return s;
  }
  if (f == "title") {
    auto s = map_chars(text(v), ::tolower);
    bool start = true;
    for (auto& c : s) {
      if (start && std::isalpha(static_cast<unsigned char>(c)))
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      start = std::isspace(static_cast<unsigned char>(c)) || c == '-';
    }
    return s;
  }
  if (f == "default" || f == "d") {
    bool falsy_too = truthy(arg(1));
    return (undefined(v) || (falsy_too && !truthy(v))) ? arg(0) : v;
  }
  if (f == "dump") {  // JSON.stringify(v, null, indent)
    if (undefined(v)) return "";
    int indent = a.empty() ? -1 : static_cast<int>(to_int(number(a[0]), -1, 16, -1));
    return v.dump(indent > 0 ? indent : -1, ' ', false, json::error_handler_t::replace);
  }
  if (f == "load") {  // promptfoo's: JSON.parse
    try {
      return json::parse(text(v));
    } catch (const json::exception&) {
      return kUndefined;
    }
  }
  if (f == "length") {
    if (v.is_array() || v.is_object()) return v.size();
    if (v.is_string()) return utf8_length(v.get_ref<const std::string&>());
    return 0;
  }
  if (f == "join") {
    std::string sep = undefined(arg(0)) ? "" : text(arg(0)), out;
    if (!v.is_array()) return text(v);
    for (size_t i = 0; i < v.size(); ++i)
      out += (i ? sep : "") + text(undefined(arg(1)) ? v[i] : member(v[i], arg(1)));
    return out;
  }
  if (f == "first" || f == "last") {
    if (v.is_array()) return v.empty() ? kUndefined : (f == "first" ? v.front() : v.back());
    if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      return s.empty() ? kUndefined : json(f == "first" ? s.substr(0, 1) : s.substr(s.size() - 1));
    }
    return kUndefined;
  }
  if (f == "replace") {
    auto s = text(v), from = text(arg(0)), to = text(arg(1));
    long long max = undefined(arg(2)) ? -1 : to_int(number(arg(2)), -1, 1 << 30, -1);
    if (from.empty()) return s;
    std::string out;
    size_t pos = 0;
    long long n = 0;
    for (size_t hit; (max < 0 || n < max) && (hit = s.find(from, pos)) != std::string::npos; ++n) {
      out += s.substr(pos, hit - pos) + to;
      pos = hit + from.size();
    }
    return out + s.substr(pos);
  }
  if (f == "reverse") {
    if (v.is_array()) return json(std::vector<json>(v.rbegin(), v.rend()));
    auto s = text(v);
    return std::string(s.rbegin(), s.rend());
  }
  if (f == "list") {
    if (v.is_array()) return v;
    json out = json::array();
    if (v.is_string())
      for (char c : v.get<std::string>()) out.push_back(std::string(1, c));
    else if (v.is_object())
      for (auto& [k, x] : v.items()) out.push_back(k);
    return out;
  }
  if (f == "sort") {
    if (!v.is_array()) return v;
    std::vector<json> items(v.begin(), v.end());
    bool rev = truthy(arg(0));
    std::stable_sort(items.begin(), items.end(), [&](const json& x, const json& y) {
      json kx = undefined(arg(2)) ? x : member(x, arg(2)),
           ky = undefined(arg(2)) ? y : member(y, arg(2));
      int c = compare_values(kx, ky);
      return rev ? c > 0 : c < 0;
    });
    return json(items);
  }
  if (f == "abs") return num_value(std::fabs(number(v)));
  if (f == "int") {
    double d = number(v);
    return std::isnan(d) ? (undefined(arg(0)) ? json(0) : arg(0))
                         : json(to_int(d, -(1LL << 53), 1LL << 53, 0));
  }
  if (f == "float") {
    double d = number(v);
    return std::isnan(d) ? (undefined(arg(0)) ? json(0.0) : arg(0)) : json(d);
  }
  if (f == "round") {
    int prec = undefined(arg(0)) ? 0 : static_cast<int>(to_int(number(arg(0)), -20, 20, 0));
    auto method = undefined(arg(1)) ? std::string("common") : text(arg(1));
    double m = std::pow(10.0, prec), d = number(v) * m;
    d = method == "ceil" ? std::ceil(d) : method == "floor" ? std::floor(d) : std::round(d);
    return num_value(d / m);
  }
  if (f == "sum") {
    double s = 0;
    if (v.is_array())
      for (const auto& x : v) s += number(undefined(arg(0)) ? x : member(x, arg(0)));
    return num_value(s);
  }
  if (f == "wordcount") {
    auto s = text(v);
    size_t n = 0;
    bool in = false;
    for (char c : s) {
      bool w = !std::isspace(static_cast<unsigned char>(c));
      n += w && !in;
      in = w;
    }
    return n;
  }
  if (f == "truncate") {
    auto s = text(v);
    size_t len =
        undefined(arg(0)) ? 255 : static_cast<size_t>(to_int(number(arg(0)), 0, 1 << 30, 255));
    if (s.size() <= len) return s;
    bool killwords = truthy(arg(1));
    std::string end = undefined(arg(2)) ? "..." : text(arg(2));
    auto cut = s.substr(0, len);
    if (!killwords) {
      auto sp = cut.find_last_of(' ');
      if (sp != std::string::npos) cut = cut.substr(0, sp);
    }
    return cut + end;
  }
  if (f == "escape" || f == "e") {
    std::string out;
    for (char c : text(v)) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out += c;
      }
    }
    return out;
  }
  if (f == "nl2br") {
    std::string out;
    for (char c : text(v)) out += c == '\n' ? std::string("<br />\n") : std::string(1, c);
    return out;
  }
  if (f == "striptags") {
    std::string out;
    bool in = false;
    for (char c : text(v)) {
      if (c == '<')
        in = true;
      else if (c == '>')
        in = false;
      else if (!in)
        out += c;
    }
    return js_trim(out);
  }
  if (f == "urlencode") {
    std::string out;
    for (unsigned char c : text(v)) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
        out += static_cast<char>(c);
      else
        out += fmt::format("%{:02X}", c);
    }
    return out;
  }
  if (f == "indent") {
    int width = undefined(arg(0)) ? 4 : static_cast<int>(to_int(number(arg(0)), 0, 256, 4));
    bool first = truthy(arg(1));
    std::string pad(static_cast<size_t>(std::max(0, width)), ' '), s = text(v), out;
    bool line_start = first;
    for (char c : s) {
      if (line_start && c != '\n') out += pad;
      out += c;
      line_start = c == '\n';
    }
    return out;
  }
  if (f == "batch") {
    json out = json::array();
    size_t n = static_cast<size_t>(to_int(number(arg(0)), 1, 1 << 30, 1));
    if (v.is_array())
      for (size_t i = 0; i < v.size(); i += n) {
        json row = json::array();
        for (size_t j = i; j < std::min(v.size(), i + n); ++j) row.push_back(v[j]);
        out.push_back(row);
      }
    return out;
  }
  if (f == "select" || f == "reject") {
    json out = json::array();
    if (v.is_array())
      for (const auto& x : v) {
        bool t = undefined(arg(0)) ? truthy(x) : truthy(apply_test(text(arg(0)), x, arg(1)));
        if (t == (f == "select")) out.push_back(x);
      }
    return out;
  }
  return kUndefined;
}

}  // namespace xops::nunjucks::builtins
