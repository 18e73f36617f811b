#pragma once
// The runtime library of the Nunjucks subset (see nunjucks.hpp): JavaScript's value
// conversions, operators, filters and tests. Undefined is a discarded JSON value.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xops::nunjucks::builtins {

using json = nlohmann::json;

inline const json kUndefined = json(json::value_t::discarded);
inline bool undefined(const json& v) {
  return v.is_discarded();
}

bool truthy(const json& v);       // JS truthiness: [] and {} are true
std::string text(const json& v);  // String(v); undefined and null give ""
double number(const json& v);     // Number(v); NaN when not numeric
json num_value(double d);         // an integer when d is one
long long to_int(double d, long long lo, long long hi, long long dflt);  // clamped, NaN -> dflt
bool loose_equal(const json& a, const json& b);                          // JS ==
int compare_values(const json& a, const json& b);
size_t utf8_length(const std::string& s);

json member(const json& obj, const json& key);  // obj.key / obj[key]
json binary(const std::string& op, const json& a, const json& b);
json apply_filter(const std::string& name, const json& v, const std::vector<json>& args);
json apply_test(const std::string& name, const json& v, const json& arg);
const std::vector<std::string>& filter_names();
const std::vector<std::string>& test_names();

}  // namespace xops::nunjucks::builtins
