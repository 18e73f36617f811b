#include "core/pipeline/values.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/strings.hpp"
#include "core/util/yaml_json.hpp"
#include "core/util/yaml_util.hpp"

namespace xops::pipeline {

namespace {
constexpr uint64_t kMaxValuesFile = 16u << 20;  // a params file is configuration, not data
}

J parse_document(const std::string& text, const std::string& shown) {
  bool json = shown.size() > 5 && shown.compare(shown.size() - 5, 5, ".json") == 0;
  if (!json) {
    auto node = yaml::parse(text, shown);
    return node.IsNull() ? J::object() : yaml::to_json<J>(node);
  }
  try {
    return J::parse(text);
  } catch (const std::exception& e) {
    throw usage_error(fmt::format("{}: not valid JSON: {}", shown, e.what()));
  }
}

J parse_values(const std::string& text, const std::string& shown) {
  auto doc = parse_document(text, shown);
  if (!doc.is_object())
    throw usage_error(fmt::format("{}: the document must be a mapping of names to values", shown));
  return doc;
}

J load_values(const std::filesystem::path& file, const std::string& shown) {
  auto ext = file.extension().string();
  if (ext == ".toml" || ext == ".py")
    throw usage_error(
        fmt::format("{}: xops reads params from YAML and JSON files, not {}", shown, ext),
        "convert it to params.yaml (DVC reads YAML too)");
  if (ext != ".yaml" && ext != ".yml" && ext != ".json")
    throw usage_error(fmt::format("{}: a params file must end in .yaml, .yml or .json", shown));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw usage_error(fmt::format("params file {} does not exist", shown),
                      "create it, or remove it from the stage's params");
  return parse_values(read_file_limited(file, kMaxValuesFile, "a params file"), shown);
}

const J* lookup(const J& root, const std::string& key) {
  const J* cur = &root;
  size_t i = 0;
  while (i < key.size()) {
    if (key[i] == '[') {
      auto close = key.find(']', i);
      if (close == std::string::npos || !cur->is_array()) return nullptr;
      auto idx = key.substr(i + 1, close - i - 1);
      if (idx.empty() || idx.size() > 9 || idx.find_first_not_of("0123456789") != std::string::npos)
        return nullptr;
      size_t n = std::stoul(idx);
      if (n >= cur->size()) return nullptr;
      cur = &(*cur)[n];
      i = close + 1;
      if (i < key.size() && key[i] == '.') ++i;
      continue;
    }
    auto end = key.find_first_of(".[", i);
    auto part = key.substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (end == std::string::npos) break;
    i = key[end] == '.' ? end + 1 : end;
  }
  return cur;
}

std::string to_str(const J& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_null()) return "None";
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    // fmt's shortest round-trip form switches to an exponent where Python's repr does
    // (below 1e-4, from 1e16); Python keeps a ".0" on integral values.
    auto s = fmt::format("{}", d);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
  }
  return v.dump();
}

void flatten(const J& v, const std::string& prefix, J& out) {
  if (v.is_object() && !v.empty()) {
    for (auto it = v.begin(); it != v.end(); ++it)
      flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    return;
  }
  out[prefix] = v;
}

}  // namespace xops::pipeline
