#include "core/eval/json_schema.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "core/util/regex.hpp"
#include "core/util/utf8.hpp"

namespace xops {

namespace {

bool matches(const std::string& pattern, const std::string& subject, bool caseless = false) {
  return regex_search(pattern, subject, nullptr, caseless);
}

bool valid_pattern(const std::string& pattern) {
  std::string error;
  regex_search(pattern, "", &error);
  return error.empty();
}

bool leap(int y) {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

bool valid_date(const std::string& s) {
  if (!matches(R"(^\d\d\d\d-\d\d-\d\d$)", s)) return false;
  int y = std::stoi(s.substr(0, 4)), m = std::stoi(s.substr(5, 2)), d = std::stoi(s.substr(8, 2));
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m >= 1 && m <= 12 && d >= 1 && d <= (m == 2 && leap(y) ? 29 : days[m - 1]);
}

bool valid_time(const std::string& s) {
  // ajv-formats (full mode): hh:mm:ss[.frac] with a zone (Z or +hh:mm); leap second 60 allowed.
  return matches(
      R"(^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(z|[+-]([01]\d|2[0-3]):?[0-5]\d)$)", s, true);
}

// ajv-formats' "full" formats, the ones real suites use.
const std::set<std::string>& known_formats() {
  static const std::set<std::string> f = {"email", "date", "time", "date-time", "uri",
                                          "uuid",  "ipv4", "ipv6", "hostname"};
  return f;
}

bool valid_format(const std::string& format, const std::string& s) {
  if (format == "email")
    return matches(
        R"(^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$)",
        s, true);
  if (format == "date") return valid_date(s);
  if (format == "time") return valid_time(s);
  if (format == "date-time") {
    auto t = s.find_first_of("tT ");
    return t != std::string::npos && valid_date(s.substr(0, t)) && valid_time(s.substr(t + 1));
  }
  if (format == "uri") return matches(R"(^[a-z][a-z0-9+\-.]*:[^\s]*$)", s, true);
  if (format == "uuid")
    return matches(R"(^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$)", s, true);
  if (format == "ipv4")
    return matches(
        R"(^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$)", s);
  if (format == "ipv6")
    return s.find(':') != std::string::npos && matches(R"(^[0-9a-f:.]+$)", s, true) &&
           s.size() <= 45;
  if (format == "hostname")
    return s.size() <= 253 &&
           matches(
               R"(^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*\.?$)",
               s, true);
  return true;
}

bool is_integer(const nlohmann::json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && d == std::floor(d);  // JSON 3.0 is the integer 3 in JavaScript
}

bool type_ok(const std::string& t, const nlohmann::json& v) {
  return (t == "object" && v.is_object()) || (t == "array" && v.is_array()) ||
         (t == "string" && v.is_string()) || (t == "number" && v.is_number()) ||
         (t == "integer" && is_integer(v)) || (t == "boolean" && v.is_boolean()) ||
         (t == "null" && v.is_null());
}

bool json_equal(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

}  // namespace

void check_json_schema(const nlohmann::json& s, const std::string& where) {
  if (s.is_boolean()) return;
  if (!s.is_object()) throw usage_error(fmt::format("{}: a JSON schema must be an object", where));
  static const std::set<std::string> keywords = {"type",
                                                 "enum",
                                                 "const",
                                                 "properties",
                                                 "required",
                                                 "additionalProperties",
                                                 "items",
                                                 "minItems",
                                                 "maxItems",
                                                 "uniqueItems",
                                                 "minimum",
                                                 "maximum",
                                                 "exclusiveMinimum",
                                                 "exclusiveMaximum",
                                                 "multipleOf",
                                                 "minLength",
                                                 "maxLength",
                                                 "pattern",
                                                 "format",
                                                 "anyOf",
                                                 "oneOf",
                                                 "allOf",
                                                 "not",
                                                 "$schema",
                                                 "$id",
                                                 "title",
                                                 "description",
                                                 "default",
                                                 "examples",
                                                 "$comment"};
  for (auto& [k, v] : s.items()) {
    if (!keywords.count(k))
      throw usage_error(
          fmt::format("{}: JSON schema keyword '{}' is not supported", where, k),
          "xops checks: type, enum, const, properties, required, additionalProperties, items, "
          "min/maxItems, uniqueItems, minimum/maximum (and exclusive), multipleOf, min/maxLength, "
          "pattern, format, anyOf/oneOf/allOf/not");
    if (k == "format" && (!v.is_string() || !known_formats().count(v.get<std::string>())))
      throw usage_error(fmt::format("{}: unknown format {}", where, v.dump()),
                        "known: email, date, time, date-time, uri, uuid, ipv4, ipv6, hostname");
    if (k == "pattern" && (!v.is_string() || !valid_pattern(v.get<std::string>())))
      throw usage_error(
          fmt::format("{}: pattern {} is not a valid regular expression", where, v.dump()));
    if (k == "properties") {
      if (!v.is_object()) throw usage_error(fmt::format("{}: properties must be an object", where));
      for (auto& [name, sub] : v.items()) check_json_schema(sub, where + "." + name);
    }
    if ((k == "items" || k == "not" || (k == "additionalProperties" && !v.is_boolean())))
      check_json_schema(v, where + "/" + k);
    if (k == "anyOf" || k == "oneOf" || k == "allOf") {
      if (!v.is_array() || v.empty())
        throw usage_error(fmt::format("{}: {} must be a non-empty list", where, k));
      for (const auto& sub : v) check_json_schema(sub, where + "/" + k);
    }
    if (k == "type") {
      auto types = v.is_array() ? v : nlohmann::json::array({v});
      for (const auto& t : types)
        if (!t.is_string() || !std::set<std::string>{"object", "array", "string", "number",
                                                     "integer", "boolean", "null"}
                                   .count(t.get<std::string>()))
          throw usage_error(fmt::format("{}: unknown type {}", where, t.dump()));
    }
    if ((k == "required" || k == "enum") && !v.is_array())
      throw usage_error(fmt::format("{}: {} must be a list", where, k));
    if ((k == "minimum" || k == "maximum" || k == "exclusiveMinimum" || k == "exclusiveMaximum" ||
         k == "multipleOf" || k == "minItems" || k == "maxItems" || k == "minLength" ||
         k == "maxLength") &&
        !v.is_number())
      throw usage_error(fmt::format("{}: {} must be a number", where, k));
  }
}

std::string validate_json_schema(const nlohmann::json& v, const nlohmann::json& s,
                                 const std::string& path) {
  if (s.is_boolean()) return s.get<bool>() ? "" : path + ": no value is allowed here";
  if (!s.is_object()) return "";
  if (s.contains("type")) {
    bool ok = false;
    if (s["type"].is_array())
      for (const auto& t : s["type"]) ok |= t.is_string() && type_ok(t.get<std::string>(), v);
    else
      ok = s["type"].is_string() && type_ok(s["type"].get<std::string>(), v);
    if (!ok)
      return fmt::format("{}: must be {}", path,
                         s["type"].is_string() ? s["type"].get<std::string>() : s["type"].dump());
  }
  if (s.contains("enum") && s["enum"].is_array() &&
      std::none_of(s["enum"].begin(), s["enum"].end(),
                   [&](const nlohmann::json& e) { return json_equal(e, v); }))
    return fmt::format("{}: {} is not one of {}", path, v.dump(), s["enum"].dump());
  if (s.contains("const") && !json_equal(s["const"], v))
    return fmt::format("{}: must be {}", path, s["const"].dump());
  if (v.is_number()) {
    double x = v.get<double>();
    auto num = [&](const char* k) {
      return s.contains(k) && s[k].is_number() ? std::optional<double>(s[k].get<double>())
                                               : std::nullopt;
    };
    if (auto m = num("minimum"); m && x < *m) return fmt::format("{}: must be >= {}", path, *m);
    if (auto m = num("maximum"); m && x > *m) return fmt::format("{}: must be <= {}", path, *m);
    if (auto m = num("exclusiveMinimum"); m && x <= *m)
      return fmt::format("{}: must be > {}", path, *m);
    if (auto m = num("exclusiveMaximum"); m && x >= *m)
      return fmt::format("{}: must be < {}", path, *m);
    if (auto m = num("multipleOf"); m && *m > 0) {
      double q = x / *m;
      if (std::fabs(q - std::round(q)) > 1e-9)
        return fmt::format("{}: must be a multiple of {}", path, *m);
    }
  }
  if (v.is_string()) {
    const auto& str = v.get_ref<const std::string&>();
    auto n = utf16_length(str);  // JavaScript string lengths
    if (s.contains("minLength") && s["minLength"].is_number() && n < s["minLength"].get<double>())
      return fmt::format("{}: must have at least {} characters", path, s["minLength"].dump());
    if (s.contains("maxLength") && s["maxLength"].is_number() && n > s["maxLength"].get<double>())
      return fmt::format("{}: must have at most {} characters", path, s["maxLength"].dump());
    if (s.contains("pattern") && s["pattern"].is_string() &&
        !matches(s["pattern"].get<std::string>(), str))
      return fmt::format("{}: must match pattern {}", path, s["pattern"].dump());
    if (s.contains("format") && s["format"].is_string() &&
        !valid_format(s["format"].get<std::string>(), str))
      return fmt::format("{}: must match format {}", path, s["format"].dump());
  }
  if (v.is_object()) {
    if (s.contains("required") && s["required"].is_array())
      for (const auto& k : s["required"])
        if (k.is_string() && !v.contains(k.get<std::string>()))
          return fmt::format("{}: must have required property '{}'", path, k.get<std::string>());
    const auto* props =
        s.contains("properties") && s["properties"].is_object() ? &s["properties"] : nullptr;
    if (props)
      for (auto& [k, sub] : props->items())
        if (v.contains(k))
          if (auto e = validate_json_schema(v[k], sub, path + "." + k); !e.empty()) return e;
    if (s.contains("additionalProperties"))
      for (auto& [k, x] : v.items()) {
        if (props && props->contains(k)) continue;
        const auto& ap = s["additionalProperties"];
        if (ap.is_boolean() && !ap.get<bool>())
          return fmt::format("{}: must not have additional property '{}'", path, k);
        if (ap.is_object())
          if (auto e = validate_json_schema(x, ap, path + "." + k); !e.empty()) return e;
      }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && s["minItems"].is_number() &&
        v.size() < s["minItems"].get<double>())
      return fmt::format("{}: must have at least {} items", path, s["minItems"].dump());
    if (s.contains("maxItems") && s["maxItems"].is_number() &&
        v.size() > s["maxItems"].get<double>())
      return fmt::format("{}: must have at most {} items", path, s["maxItems"].dump());
    if (s.value("uniqueItems", false) == true)
      for (size_t i = 0; i < v.size(); ++i)
        for (size_t j = i + 1; j < v.size(); ++j)
          if (json_equal(v[i], v[j]))
            return fmt::format("{}: items {} and {} are identical", path, i, j);
    if (s.contains("items") && s["items"].is_object())
      for (size_t i = 0; i < v.size(); ++i)
        if (auto e = validate_json_schema(v[i], s["items"], fmt::format("{}[{}]", path, i));
            !e.empty())
          return e;
  }
  if (s.contains("allOf") && s["allOf"].is_array())
    for (const auto& sub : s["allOf"])
      if (auto e = validate_json_schema(v, sub, path); !e.empty()) return e;
  if (s.contains("anyOf") && s["anyOf"].is_array() &&
      std::none_of(s["anyOf"].begin(), s["anyOf"].end(), [&](const nlohmann::json& sub) {
        return validate_json_schema(v, sub, path).empty();
      }))
    return path + ": must match a schema in anyOf";
  if (s.contains("oneOf") && s["oneOf"].is_array() &&
      std::count_if(s["oneOf"].begin(), s["oneOf"].end(), [&](const nlohmann::json& sub) {
        return validate_json_schema(v, sub, path).empty();
      }) != 1)
    return path + ": must match exactly one schema in oneOf";
  if (s.contains("not") && validate_json_schema(v, s["not"], path).empty())
    return path + ": must not match the schema in not";
  return "";
}

}  // namespace xops
