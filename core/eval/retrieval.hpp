#pragma once
// Retrieval in eval suites (RAG): a var written as
//   context: {retrieve: docs-index#prod, query: "{{question}}", k: 4,
//             relevant: [docs/refunds.md, 17], where: {lang: en}, separator: "\n\n"}
// becomes, per case, the text of the k chunks an index returns for the rendered query, joined
// by the separator; the prompt and the assertions see that text. With `relevant` labels (a
// chunk's source path, or its id) the case also scores retrieval/recall@k, retrieval/mrr and
// retrieval/ndcg@k. The index is searched through a function the application supplies.
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/index/passage.hpp"

namespace xops {

struct RetrievalSpec {
  std::string index, query;
  size_t k = 4;
  std::vector<nlohmann::json> relevant;  // strings (sources) and integers (chunk ids)
  std::map<std::string, std::string> where;
  std::string separator = "\n\n";
};

// nullopt when the value is not a retrieval ({retrieve: ...}); throws a usage error naming
// `where` for a retrieval written wrong (unknown keys included).
std::optional<RetrievalSpec> retrieval_spec(const nlohmann::json& value, const std::string& where);

using RetrievedChunk = index::Passage;

using RetrieveFn =
    std::function<std::vector<RetrievedChunk>(const RetrievalSpec& spec, const std::string& query)>;

struct RetrievalMetrics {
  double recall = 0, mrr = 0, ndcg = 0;
};
// Each label counts once: the first retrieved chunk that matches it is relevant (gain 1),
// later chunks matching the same label are not. recall@k: labels found / labels; MRR: 1/rank
// of the first relevant chunk; nDCG@k: DCG / the ideal DCG of min(labels, k) relevant chunks.
RetrievalMetrics retrieval_metrics(const std::vector<RetrievedChunk>& got,
                                   const std::vector<nlohmann::json>& relevant, size_t k);

// One {retrieve: ...} var of a test, searched: the text the var becomes (the chunks joined by
// the separator), its entry in the case's retrieval log, and with relevant labels the
// retrieval/recall@k, retrieval/mrr and retrieval/ndcg@k scores.
struct RetrievedVar {
  std::string text;
  nlohmann::json log;
  std::map<std::string, double> scores;
};
RetrievedVar retrieve_var(const std::string& var, const RetrievalSpec& spec,
                          const std::string& query, const RetrieveFn& retrieve);

}  // namespace xops
