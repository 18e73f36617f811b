// The runtime library of the Nunjucks subset: values with JavaScript's conversions (Nunjucks
// compiles templates to JS), operators, and the built-in filters and tests.
#include "core/template/nunjucks_builtins.hpp"

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

}  // namespace xops::nunjucks::builtins
