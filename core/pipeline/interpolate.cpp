#include "core/pipeline/interpolate.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/pipeline/values.hpp"

namespace xops::pipeline {

namespace {

void merge_into(J& dst, const J& src, const std::string& path, const std::string& where) {
  for (auto it = src.begin(); it != src.end(); ++it) {
    auto key = path.empty() ? it.key() : path + "." + it.key();
    auto found = dst.find(it.key());
    if (found == dst.end()) {
      dst[it.key()] = it.value();
    } else if (found->is_object() && it.value().is_object()) {
      merge_into(*found, it.value(), key, where);
    } else {
      throw usage_error(
          fmt::format("{}: cannot redefine '{}': it is already defined by an earlier vars source",
                      where, key),
          "give it another name; DVC refuses the same redefinition");
    }
  }
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

}  // namespace

bool has_interpolation(const std::string& s) {
  return s.find("${") != std::string::npos;
}

void Context::merge(const J& values, const std::string& source, const std::string& where) {
  merge_into(data_, values, "", where);
  if (source.empty()) return;
  files_[source] = true;
  auto& mine = file_values_[source];
  if (mine.is_null()) mine = J::object();
  merge_into(mine, values, "", where);
}

void Context::set_local(const std::string& name, const J& value) {
  data_[name] = value;
  for (auto& [file, values] : file_values_) values.erase(name);  // foreach's item/key hide a file's
}

J Context::resolve(const J& v, const std::string& where, Used* used) const {
  if (v.is_string()) return resolve_string(v.get<std::string>(), where, used);
  if (v.is_array()) {
    J out = J::array();
    for (const auto& x : v) out.push_back(resolve(x, where, used));
    return out;
  }
  if (v.is_object()) {
    J out = J::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      auto k = resolve_string(it.key(), where, used);
      if (!k.is_string() && !k.is_number())
        throw usage_error(fmt::format("{}: a key must interpolate to text", where));
      out[k.is_string() ? k.get<std::string>() : to_str(k)] = resolve(it.value(), where, used);
    }
    return out;
  }
  return v;
}

J Context::resolve_string(const std::string& s, const std::string& where, Used* used) const {
  if (s.find("${") == std::string::npos) return s;
  std::string out;
  std::optional<J> whole;
  size_t i = 0, pieces = 0;
  while (i < s.size()) {
    if (s.compare(i, 3, "\\${") == 0) {  // escaped: a literal ${
      out += "${";
      i += 3;
      ++pieces;
      continue;
    }
    if (s.compare(i, 2, "${") != 0) {
      out += s[i++];
      continue;
    }
    auto close = s.find('}', i + 2);
    if (close == std::string::npos)
      throw usage_error(fmt::format("{}: unterminated ${{ in '{}'", where, s),
                        "close it with }, or write \\${ for a literal");
    auto key = trim(s.substr(i + 2, close - i - 2));
    if (key.empty() || key.find_first_of("${}") != std::string::npos)
      throw usage_error(
          fmt::format("{}: '${{{}}}' is not a variable name", where, key),
          "xops reads names like ${a.b} and ${list[0]}; expressions are not supported");
    const J* v = lookup(data_, key);
    if (!v)
      throw usage_error(fmt::format("{}: could not find '{}'", where, key),
                        "define it in params.yaml or under vars:");
    if (used)  // every file holding (part of) it: a mapping may merge keys from two files
      for (const auto& [file, values] : file_values_)
        if (const J* mine = lookup(values, key)) (*used)[file][key] = *mine;
    if (i == 0 && close + 1 == s.size()) {
      whole = *v;
    } else {
      if (v->is_object() || v->is_array())
        throw usage_error(
            fmt::format("{}: '{}' is a {} and cannot be part of a string", where, key,
                        v->is_object() ? "mapping" : "list"),
            "interpolate one of its values instead (${key.name}); xops does not unfold "
            "mappings into --options as DVC's cmd does");
      out += to_str(*v);
    }
    ++pieces;
    i = close + 1;
  }
  if (whole && pieces == 1) return *whole;
  return out;
}

}  // namespace xops::pipeline
