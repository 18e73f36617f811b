#include "core/eval/retrieval.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "core/error.hpp"

namespace xops {

std::optional<RetrievalSpec> retrieval_spec(const nlohmann::json& v, const std::string& where) {
  if (!v.is_object() || !v.contains("retrieve")) return std::nullopt;
  const std::set<std::string> known = {"retrieve", "query", "k", "relevant", "where", "separator"};
  for (auto& [key, _] : v.items())
    if (!known.count(key))
      throw usage_error(fmt::format("{}: unknown key '{}' in a retrieval", where, key),
                        "a retrieval takes retrieve, query, k, relevant, where, separator");
  RetrievalSpec s;
  auto str = [&](const char* key) {
    if (!v[key].is_string() || v[key].get<std::string>().empty())
      throw usage_error(fmt::format("{}: retrieval '{}' must be a non-empty string", where, key));
    return v[key].get<std::string>();
  };
  s.index = str("retrieve");
  if (!v.contains("query"))
    throw usage_error(fmt::format("{}: a retrieval needs a query", where),
                      "query: \"{{question}}\" (a template over the vars)");
  s.query = str("query");
  if (v.contains("k")) {
    if (!v["k"].is_number_integer() || v["k"].get<int64_t>() < 1 || v["k"].get<int64_t>() > 100)
      throw usage_error(fmt::format("{}: retrieval k must be an integer 1..100", where));
    s.k = v["k"].get<size_t>();
  }
  if (v.contains("relevant")) {
    const auto& r = v["relevant"];
    if (!r.is_array())
      throw usage_error(fmt::format("{}: retrieval 'relevant' must be a list", where));
    for (const auto& x : r) {
      if (!(x.is_string() && !x.get<std::string>().empty()) &&
          !(x.is_number_integer() && x.get<int64_t>() >= 0))
        throw usage_error(fmt::format(
            "{}: each relevant label is a source path or a chunk id, found {}", where, x.dump()));
      s.relevant.push_back(x);
    }
  }
  if (v.contains("where")) {
    if (!v["where"].is_object())
      throw usage_error(fmt::format("{}: retrieval 'where' must be a map", where));
    for (auto& [key, val] : v["where"].items()) {
      if (val.is_object() || val.is_array() || val.is_null())
        throw usage_error(
            fmt::format("{}: retrieval where.{} must be a string, number or boolean", where, key));
      s.where[key] = val.is_string() ? val.get<std::string>() : val.dump();
    }
  }
  if (v.contains("separator")) {
    if (!v["separator"].is_string())
      throw usage_error(fmt::format("{}: retrieval 'separator' must be a string", where));
    s.separator = v["separator"].get<std::string>();
  }
  return s;
}

RetrievalMetrics retrieval_metrics(const std::vector<RetrievedChunk>& got,
                                   const std::vector<nlohmann::json>& relevant, size_t k) {
  RetrievalMetrics m;
  if (relevant.empty()) return m;
  std::vector<bool> found(relevant.size(), false);
  double dcg = 0;
  size_t n = std::min(k, got.size());
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < relevant.size(); ++j) {
      const auto& label = relevant[j];
      bool match = label.is_string() ? got[i].source == label.get<std::string>()
                                     : got[i].id == label.get<uint64_t>();
      if (!match || found[j]) continue;
      found[j] = true;
      dcg += 1.0 / std::log2(static_cast<double>(i) + 2.0);
      if (m.mrr == 0) m.mrr = 1.0 / static_cast<double>(i + 1);
      break;
    }
  }
  size_t hits = 0;
  for (bool f : found) hits += f;
  m.recall = static_cast<double>(hits) / static_cast<double>(relevant.size());
  double ideal = 0;
  for (size_t i = 0; i < std::min(k, relevant.size()); ++i)
    ideal += 1.0 / std::log2(static_cast<double>(i) + 2.0);
  m.ndcg = ideal > 0 ? dcg / ideal : 0;
  return m;
}

RetrievedVar retrieve_var(const std::string& var, const RetrievalSpec& spec,
                          const std::string& query, const RetrieveFn& retrieve) {
  RetrievedVar r;
  auto chunks = retrieve(spec, query);
  nlohmann::json shown = nlohmann::json::array();
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i) r.text += spec.separator;
    r.text += chunks[i].text;
    shown.push_back(
        {{"id", chunks[i].id}, {"source", chunks[i].source}, {"score", chunks[i].score}});
  }
  r.log = {{"var", var}, {"index", spec.index}, {"query", query}, {"chunks", shown}};
  if (!spec.relevant.empty()) {
    auto m = retrieval_metrics(chunks, spec.relevant, spec.k);
    auto suffix = fmt::format("@{}", spec.k);
    r.scores["retrieval/recall" + suffix] = m.recall;
    r.scores["retrieval/mrr"] = m.mrr;
    r.scores["retrieval/ndcg" + suffix] = m.ndcg;
  }
  return r;
}

}  // namespace xops
