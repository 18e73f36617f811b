// `xops ui`'s JSON API called as the page calls it (GET requests to UiApi::handle): pages of
// runs in the server's order, the filter language's errors as 400s naming the column, the
// eval matrix from a tracked eval's kept results, literal search over logged traffic, and the
// embedded assets. A real project: git, the tracking database, the interaction log.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/app/evaluate.hpp"
#include "core/app/ui.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/interaction_log.hpp"
#include "core/tracking/tracker.hpp"
#include "tests/support/process.hpp"
#include "tests/support/project_db.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::test;
using nlohmann::json;

namespace {

http::ServerReply get(const app::UiApi& api, const std::string& target,
                      const std::string& method = "GET") {
  http::ServerRequest r;
  r.method = method;
  auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = target.substr(q + 1);
  return api.handle(r);
}

json get_json(const app::UiApi& api, const std::string& target, int status = 200) {
  auto r = get(api, target);
  INFO(target << " -> " << r.body);
  REQUIRE(r.status == status);
  return json::parse(r.body);
}

}  // namespace

TEST_CASE("ui api: runs page by page in the asked order, with filter errors as 400s",
          "[unit][ui][tracking]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  {
    Tracker t(project_db(p));
    for (int i = 0; i < 120; ++i) {
      RunStart s;
      s.name = "r" + std::to_string(i);
      s.params = {{"lr", i % 2 ? "0.1" : "0.01"}};
      auto id = t.start_run(s, nullptr);
      t.log_metrics(id, {{"loss", 1000.0 - i, 1, 0}, {"loss", 500.0 - i, 2, 0}});
      t.finish_run(id, "finished", 0);
    }
  }
  std::vector<std::string> warnings;
  auto ws = Workspace::open(p, &warnings);
  app::UiApi api(ws);
  auto page = get_json(api, "/api/runs?sort=metrics.loss&limit=50&offset=50");
  CHECK(page["total"] == 120);
  REQUIRE(page["runs"].size() == 50);
  // Ascending by the last loss (500 - i): the 51st smallest is run 69.
  CHECK(page["runs"][0]["name"] == "r69");
  CHECK(page["runs"][0]["metrics"]["loss"] == 431);
  CHECK(page["params"] == json::array({"lr"}));
  auto filtered = get_json(api, "/api/runs?filter=params.lr%20%3D%20%270.1%27&limit=500");
  CHECK(filtered["total"] == 60);
  CHECK(filtered["runs"].size() == 60);
  auto bad = get_json(api, "/api/runs?filter=metrics.loss%20%3C", 400);
  CHECK_THAT(bad["error"].get<std::string>(), Catch::Contains("column"));
  CHECK_THAT(get_json(api, "/api/runs?limit=0", 400)["error"].get<std::string>(),
             Catch::Contains("'limit' must be a whole number from 1 to 500"));
  get_json(api, "/api/runs?limit=12x", 400);
  // One run with its series (every step) and the 404 of an unknown id.
  auto one = get_json(api, "/api/runs/" + page["runs"][0]["id"].get<std::string>());
  CHECK(one["series"]["loss"] == json::array({json::array({1, 931}), json::array({2, 431})}));
  get_json(api, "/api/runs/NOPE", 404);
  CHECK(get(api, "/api/runs", "POST").status == 405);
  get_json(api, "/api/nothing", 404);
  // No traffic logged yet: empty answers, not errors.
  CHECK(get_json(api, "/api/interactions")["total"] == 0);
  // The page and its script, embedded, under a policy that allows no inline script.
  auto index = get(api, "/");
  CHECK(index.status == 200);
  CHECK_THAT(index.content_type, Catch::Contains("text/html"));
  CHECK_THAT(index.headers["Content-Security-Policy"], Catch::Contains("script-src 'self'"));
  CHECK_THAT(index.body, Catch::Contains("/assets/app.js"));
  CHECK(get(api, "/assets/app.js").status == 200);
  CHECK(get(api, "/assets/../xops.yaml").status == 404);
}

TEST_CASE("ui api: the eval matrix from a tracked eval, and literal search over traffic",
          "[unit][ui][eval]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  write_text(p / "suite.yaml",
             "prompts: ['{{w}}']\nproviders: [echo, \"exec:printf no\"]\ntests:\n"
             "  - vars: {w: yes}\n    assert: [{type: equals, value: 'yes'}]\n"
             "  - vars: {w: no}\n    assert: [{type: equals, value: 'no'}]\n"
             "thresholds: {pass_rate: 0}\n");
  REQUIRE(run_xops({"-q", "eval", "suite.yaml"}, p).rc == 0);
  {
    InteractionLog log(project_db(p), 0);
    for (auto [id, prompt] : {std::pair{"cmpl-a", "a 100% sure"}, std::pair{"cmpl-b", "b 1000"}}) {
      Interaction x;
      x.id = id, x.route = "completions", x.model = "m", x.version = "m@v1", x.prompt = prompt;
      x.output = "o", x.params = "{}", x.finish_reason = "stop", x.latency_ms = 5;
      log.record(x);
    }
    Feedback f;
    f.score = 1, f.user = "ann";
    REQUIRE(log.add_scores("cmpl-a", {f}));
  }
  std::vector<std::string> warnings;
  auto ws = Workspace::open(p, &warnings);
  app::UiApi api(ws);
  auto evals = get_json(api, "/api/evals");
  REQUIRE(evals["total"] == 1);
  auto id = evals["runs"][0]["id"].get<std::string>();
  auto m = get_json(api, "/api/evals/" + id)["matrix"];
  REQUIRE(m["providers"].size() == 2);
  CHECK(m["tests_total"] == 2);
  // echo passes both; "printf no" passes only the second: one test where they disagree.
  CHECK(get_json(api, "/api/evals/" + id + "?failures=1")["matrix"]["matched"] == 1);
  auto dis = get_json(api, "/api/evals/" + id + "?disagree=1")["matrix"];
  REQUIRE(dis["rows"].size() == 1);
  CHECK(dis["rows"][0]["vars"]["w"] == "yes");
  // '%' is searched for, not a wildcard: "0%" matches "100%" and not "1000".
  auto hits = get_json(api, "/api/interactions?q=0%25");
  REQUIRE(hits["total"] == 1);
  CHECK(hits["rows"][0]["id"] == "cmpl-a");
  CHECK(hits["rows"][0]["feedback"][0]["user"] == "ann");
  CHECK(get_json(api, "/api/interactions/cmpl-b")["prompt"] == "b 1000");
  get_json(api, "/api/interactions/cmpl-zzz", 404);
  auto traffic = get_json(api, "/api/traffic?since=all");
  REQUIRE(traffic["versions"].size() == 1);
  CHECK(traffic["versions"][0]["requests"] == 2);
  get_json(api, "/api/traffic?since=soon", 400);
}
