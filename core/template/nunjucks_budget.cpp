#include "core/template/nunjucks_budget.hpp"

#include <fmt/format.h>

#include <utility>
#include <vector>

#include "core/error.hpp"

namespace xops::nunjucks::budget {

using nlohmann::json;

namespace {
[[noreturn]] void too_large(const std::string& what) {
  throw runtime_error(
      fmt::format("template: {} would be larger than {} MiB", what, kMaxValueBytes >> 20),
      "templates are bounded (docs/security.md); check loops that grow a value");
}
}  // namespace

size_t measure(const json& v, const std::string& what) {
  size_t total = 0;
  // Iterative: a deeply nested value must not overflow the stack while it is measured.
  std::vector<std::pair<const json*, size_t>> todo{{&v, 0}};
  while (!todo.empty()) {
    auto [j, depth] = todo.back();
    todo.pop_back();
    if (depth > kMaxDepth)
      throw runtime_error(
          fmt::format("template: {} is nested deeper than {} lists or dicts", what, kMaxDepth),
          "templates are bounded (docs/security.md)");
    total += 16;
    if (j->is_string()) {
      total += j->get_ref<const std::string&>().size();
    } else if (j->is_array()) {
      for (const auto& x : *j) todo.emplace_back(&x, depth + 1);
    } else if (j->is_object()) {
      for (auto it = j->begin(); it != j->end(); ++it) {
        total += it.key().size();
        todo.emplace_back(&it.value(), depth + 1);
      }
    }
    if (total > kMaxValueBytes) too_large(what);
  }
  return total;
}

void check_growth(size_t bytes, const std::string& what) {
  if (bytes > kMaxValueBytes) too_large(what);
}

}  // namespace xops::nunjucks::budget
