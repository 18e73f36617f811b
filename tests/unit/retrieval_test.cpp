// Retrieval vars in suites: the spec is checked key by key, and recall@k, MRR and nDCG@k equal
// values worked out by hand.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.hpp"
#include "core/eval/retrieval.hpp"

using namespace xops;
using nlohmann::json;

namespace {
RetrievedChunk chunk(uint64_t id, const std::string& source) {
  return {id, source, "text", 0.5};
}
}  // namespace

TEST_CASE("retrieval metrics equal hand-computed values", "[retrieval]") {
  // Ranked: a (relevant), b, a again (a label counts once), c (relevant); label z never found.
  std::vector<RetrievedChunk> got = {chunk(1, "a"), chunk(2, "b"), chunk(3, "a"), chunk(4, "c")};
  auto m = retrieval_metrics(got, {"a", "c", "z"}, 4);
  CHECK(m.recall == Approx(2.0 / 3));
  CHECK(m.mrr == Approx(1.0));
  // DCG = 1/log2(2) + 1/log2(5); ideal for 3 labels = 1 + 1/log2(3) + 1/log2(4).
  double dcg = 1.0 + 1.0 / std::log2(5.0), ideal = 1.0 + 1.0 / std::log2(3.0) + 0.5;
  CHECK(m.ndcg == Approx(dcg / ideal));
  CHECK(m.ndcg == Approx(0.671385).epsilon(1e-5));

  // Only the first k count: at k = 2 just "a" is found.
  auto k2 = retrieval_metrics(got, {"a", "c", "z"}, 2);
  CHECK(k2.recall == Approx(1.0 / 3));
  CHECK(k2.ndcg == Approx(1.0 / (1.0 + 1.0 / std::log2(3.0))));

  // A chunk id as the label, found third: MRR 1/3, nDCG 1/log2(4) / 1 = 0.5.
  auto byid = retrieval_metrics(got, {json(3)}, 4);
  CHECK(byid.recall == 1.0);
  CHECK(byid.mrr == Approx(1.0 / 3));
  CHECK(byid.ndcg == Approx(0.5));

  // Nothing relevant retrieved; nothing retrieved at all.
  auto none = retrieval_metrics(got, {"zz"}, 4);
  CHECK(none.recall == 0);
  CHECK(none.mrr == 0);
  CHECK(none.ndcg == 0);
  CHECK(retrieval_metrics({}, {"a"}, 4).recall == 0);
}

TEST_CASE("a retrieval var is checked key by key", "[retrieval]") {
  CHECK_FALSE(retrieval_spec(json("plain text"), "var x"));
  CHECK_FALSE(retrieval_spec(json{{"a", 1}}, "var x"));
  auto s = retrieval_spec(json{{"retrieve", "docs#prod"},
                               {"query", "{{q}}"},
                               {"k", 3},
                               {"relevant", {"a.md", 7}},
                               {"where", {{"lang", "en"}, {"n", 2}}},
                               {"separator", "\n---\n"}},
                          "var context");
  REQUIRE(s);
  CHECK(s->index == "docs#prod");
  CHECK(s->k == 3);
  CHECK(s->relevant.size() == 2);
  CHECK(s->where.at("n") == "2");
  CHECK(s->separator == "\n---\n");
  auto refused = [](const json& v, const std::string& needle) {
    try {
      retrieval_spec(v, "var context");
      FAIL("accepted");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
      CHECK(e.kind() == ErrorKind::Usage);
    }
  };
  refused({{"retrieve", "d"}, {"query", "q"}, {"top_k", 3}}, "unknown key 'top_k'");
  refused({{"retrieve", "d"}}, "needs a query");
  refused({{"retrieve", "d"}, {"query", "q"}, {"k", 0}}, "k must be an integer 1..100");
  refused({{"retrieve", "d"}, {"query", "q"}, {"relevant", "a.md"}}, "'relevant' must be a list");
  refused({{"retrieve", "d"}, {"query", "q"}, {"relevant", {json::object()}}},
          "a source path or a chunk id");
  refused({{"retrieve", ""}, {"query", "q"}}, "'retrieve' must be a non-empty string");
  refused({{"retrieve", "d"}, {"query", "q"}, {"where", {{"a", {1, 2}}}}}, "where.a must be");
}
