// `xops eval coverage` and `--from-logs --novel` (#30) on a synthetic traffic set: two topics
// the suite asks about and one it never does, over two versions, embedded by a controlled
// bag-of-words space (the OpenAI stub). The unasked topic is the uncovered cluster, with its
// prompts as examples; per-version shares are counted again here; --novel picks from it,
// worst-scored first.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>

#include "core/tracking/interaction_log.hpp"
#include "tests/support/openai_stub.hpp"
#include "tests/support/process.hpp"
#include "tests/support/project_db.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::test;
using nlohmann::json;

namespace {
const char* kWeather[] = {"will it rain in london tomorrow", "weather forecast rain london weekend",
                          "is rain expected tomorrow in paris",
                          "forecast for rain and wind tomorrow"};
const char* kRefund[] = {"how do refunds work for orders", "when is my refund paid for the order",
                         "refund for a damaged order please", "order refund status and payment"};
const char* kUnasked[] = {"kubernetes pod stuck crashloop backoff",
                          "kubernetes pod restarts crashloop",
                          "crashloop backoff kubernetes deployment pod"};
}  // namespace

TEST_CASE("e2e: coverage finds the topic the suite never asks about, --novel picks from it",
          "[e2e][eval][monitor]") {
  Stub stub;
  auto base = "http://127.0.0.1:" + std::to_string(stub.port) + "/v1";
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  write_text(p / "evals/support.yaml",
             "prompts: ['{{q}}']\nproviders: [echo]\ntests:\n"
             "  - vars: {q: will it rain tomorrow in london}\n  - vars: {q: rain forecast for the "
             "weekend}\n"
             "  - vars: {q: when is the refund for my order paid}\n  - vars: {q: how do order "
             "refunds work}\n");
  // 3 x (4 weather + 4 refund) + 2 x 3 unasked prompts, alternating versions v1 / v2.
  std::map<std::string, std::pair<int, int>> want;  // version -> (covered, total)
  std::set<std::string> unasked_ids;
  std::string worst_unasked;
  {
    InteractionLog log(project_db(p), 0);
    int n = 0;
    auto add = [&](const std::string& prompt, bool covered) {
      Interaction i;
      i.id = fmt::format("i{:03d}", n);
      i.route = "completions";
      i.model = "m";
      i.version = n % 2 ? "m@v0.0.2" : "m@v0.0.1";
      i.prompt = prompt;
      i.output = "ok";
      i.finish_reason = "stop";
      i.created_ms = 1796000000000 + n * 1000;
      log.record(i);
      auto& w = want[i.version];
      w.first += covered;
      ++w.second;
      if (!covered) unasked_ids.insert(i.id);
      ++n;
      return i.id;
    };
    for (int r = 0; r < 3; ++r) {
      for (auto q : kWeather) add(q, true);
      for (auto q : kRefund) add(q, true);
    }
    for (int r = 0; r < 2; ++r)
      for (auto q : kUnasked) {
        auto id = add(q, false);
        Feedback f;
        f.score = id == "i025" ? 0.0 : 1.0;  // one unasked answer was badly scored
        log.add_feedback(id, f);
        if (id == "i025") worst_unasked = id;
      }
  }
  REQUIRE(!worst_unasked.empty());
  std::map<std::string, std::string> env = {{"OPENAI_BASE_URL", base}, {"OPENAI_API_KEY", "test"}};
  auto r = run_xops({"--json", "eval", "coverage", "evals/support.yaml", "--embedding",
                     "openai:embedding:bag-of-words", "--threshold", "0.3"},
                    p, env);
  INFO(r.err);
  REQUIRE(r.rc == 0);
  auto j = json::parse(r.out);
  CHECK(j["prompts"] == 30);
  CHECK(j["covered"] == 24);
  CHECK(j["share"].get<double>() == Approx(0.8));
  for (const auto& [v, c] : want) {
    CHECK(j["by_version"][v]["covered"] == c.first);
    CHECK(j["by_version"][v]["prompts"] == c.second);
  }
  REQUIRE(j["uncovered"].size() >= 1);
  const auto& top = j["uncovered"][0];
  CHECK(top["size"] == 6);  // the whole unasked topic, one cluster
  for (const auto& e : top["examples"])
    CHECK(unasked_ids.count(e["interaction"].get<std::string>()));
  CHECK_THAT(top["examples"][0]["prompt"].get<std::string>(),
             Catch::Contains("kubernetes") || Catch::Contains("crashloop"));

  // The automatic threshold (from the suite's own spread) finds the same topic.
  auto a = json::parse(run_xops({"--json", "eval", "coverage", "evals/support.yaml", "--embedding",
                                 "openai:embedding:bag-of-words"},
                                p, env)
                           .out);
  CHECK(a["threshold_auto"] == true);
  REQUIRE(!a["uncovered"].empty());
  for (const auto& e : a["uncovered"][0]["examples"])
    CHECK(unasked_ids.count(e["interaction"].get<std::string>()));

  // --novel 3: three unasked interactions, the badly scored one first.
  auto nv = run_xops({"eval", "evals/support.yaml", "--from-logs", "--novel", "3", "--embedding",
                      "openai:embedding:bag-of-words", "-o", "novel.jsonl"},
                     p, env);
  INFO(nv.err);
  REQUIRE(nv.rc == 0);
  auto lines = read_text(p / "novel.jsonl");
  std::vector<json> cases;
  for (size_t at = 0, nl; (nl = lines.find('\n', at)) != std::string::npos; at = nl + 1)
    cases.push_back(json::parse(lines.substr(at, nl - at)));
  REQUIRE(cases.size() == 3);
  CHECK(cases[0]["metadata"]["interaction"] == worst_unasked);
  for (const auto& c : cases) {
    CHECK(unasked_ids.count(c["metadata"]["interaction"].get<std::string>()));
    CHECK(c["metadata"]["nearest_case_similarity"].get<double>() < 0.3);
    CHECK(c["options"]["literal"] == true);  // logged text stays data
  }
  // Without a suite, --novel has nothing to compare with.
  CHECK(run_xops({"eval", "--from-logs", "--novel", "3", "-o", "x.jsonl"}, p, env).rc == 2);
}
