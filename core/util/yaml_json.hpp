#pragma once
// A YAML node as JSON, typed by YAML 1.2's core schema (what js-yaml and ruamel read): a
// quoted scalar stays a string, true/false/null and numbers are typed, 0x1F and nan are not.
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <string>

namespace xops::yaml {

// J is nlohmann::json, or nlohmann::ordered_json where key order is sent on (chat prompts).
template <class J = nlohmann::json>
J to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: {
      auto a = J::array();
      for (const auto& x : n) a.push_back(to_json<J>(x));
      return a;
    }
    case YAML::NodeType::Map: {
      auto o = J::object();
      for (const auto& kv : n) o[kv.first.Scalar()] = to_json<J>(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar: {
      const auto& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted in the YAML: keep it a string
      // YAML 1.2's core schema, as js-yaml (promptfoo) reads it.
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
      if (s == "null" || s == "Null" || s == "NULL" || s == "~") return nullptr;
      try {  // integers stay integers: a provider's max_tokens: 128 is sent as 128, not 128.0
        size_t used = 0;
        long long i = std::stoll(s, &used, 10);
        if (used == s.size()) return i;
      } catch (...) {
      }
      try {
        size_t used = 0;
        double d = std::stod(s, &used);
        if (used == s.size() && s.find_first_of("xXnN") == std::string::npos)
          return d;  // not 0x1F, nan, inf
      } catch (...) {
      }
      return s;
    }
    default:
      return nullptr;
  }
}

}  // namespace xops::yaml
