// What `xops serve` reports about itself (#29): refused and failed requests logged with their
// status, one access-log line per request with -v, /metrics labelled by version and adapter,
// and feedback held to xops.yaml's declared scores. The real binary, real curl, and the
// interaction log read back through `xops monitor`.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "core/tracking/interaction_log.hpp"
#include "core/util/fs.hpp"
#include "tests/support/process.hpp"
#include "tests/support/project_db.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xops_server.hpp"

using namespace xops;
using namespace xops::test;
using nlohmann::json;

namespace {

// The value of the one exposition line that starts with `series` (name{labels}); -1 if none.
double metric(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace

TEST_CASE("e2e: serve logs refusals with their status, labels /metrics, checks feedback scores",
          "[e2e][serve][monitor]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto proj = tmp / "p";
  write_text(proj / "xops.yaml", read_text(proj / "xops.yaml") +
                                     "feedback:\n  scores:\n    score: {min: 0, max: 1}\n"
                                     "    helpful: {min: 1, max: 5, integer: true}\n");
  std::string ok_id;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  {
    Server s(tmp.path(), {"-v"}, {}, proj);
    auto ok = s.post("/v1/completions",
                     R"({"prompt": "Once upon a time", "max_tokens": 5, "temperature": 0,
                         "user": "ann"})");
    REQUIRE(ok.status == 200);
    ok_id = ok.j()["id"];
    prompt_tokens = ok.j()["usage"]["prompt_tokens"];
    completion_tokens = ok.j()["usage"]["completion_tokens"];
    CHECK(s.post("/v1/completions", R"({"prompt": "x", "model": "nope"})").status == 404);
    CHECK(s.post("/v1/completions", R"({"prompt": "x", "max_tokens": -3})").status == 400);
    CHECK(s.post("/v1/chat/completions", R"({"messages": 3})").status == 400);

    // Feedback: named scores within their declared ranges, with who gave it.
    auto fb = s.post("/v1/feedback", json{{"id", ok_id},
                                          {"scores", {{"helpful", 4}, {"score", 1}}},
                                          {"user", "ann"},
                                          {"session", "s-1"},
                                          {"comment", "good"}}
                                         .dump());
    INFO(fb.body);
    CHECK(fb.status == 200);
    CHECK(fb.j()["scores"]["helpful"] == 4);
    struct Bad {
      json body;
      const char* says;
    };
    for (const auto& b : std::vector<Bad>{
             {{{"id", ok_id}, {"scores", {{"helpful", 6}}}}, "between 1 and 5"},
             {{{"id", ok_id}, {"scores", {{"helpful", 3.5}}}}, "whole number"},
             {{{"id", ok_id}, {"name", "helpful"}, {"score", 0}}, "between 1 and 5"},
             {{{"id", ok_id}, {"score", 5}}, "'score' must be between 0 and 1"},
             {{{"id", ok_id}, {"scores", {{"helpfull", 4}}}}, "no feedback score is named"},
             {{{"id", ok_id}, {"scroe", 1}}, "unknown field 'scroe'"},
             {{{"id", ok_id}, {"score", 1}, {"user", 7}}, "'user' must be a string"}}) {
      auto r = s.post("/v1/feedback", b.body.dump());
      INFO(b.body.dump() << " -> " << r.body);
      CHECK(r.status == 400);
      CHECK_THAT(r.body, Catch::Contains(b.says));
    }

    auto m = s.get("/metrics").body;
    INFO(m);
    // Counted with the version that answered (a directory ref: its path) and the adapter.
    std::smatch v;
    REQUIRE(std::regex_search(
        m, v, std::regex(R"re(xops_model_info\{model="[^"]*",version="([^"]*)")re")));
    const std::string labels = "version=\"" + v[1].str() + "\",adapter=\"\"";
    CHECK(metric(m, "xops_requests_total{route=\"/v1/completions\",status=\"200\"," + labels +
                        "}") == 1);
    CHECK(metric(m, "xops_requests_total{route=\"/v1/completions\",status=\"404\"," + labels +
                        "}") == 1);
    CHECK(metric(m, "xops_requests_total{route=\"/v1/feedback\",status=\"400\"," + labels + "}") ==
          7);
    CHECK(metric(m, "xops_prompt_tokens_total{" + labels + "}") == prompt_tokens);
    CHECK(metric(m, "xops_generation_tokens_total{" + labels + "}") == completion_tokens);
    CHECK(metric(m, "xops_feedback_total{name=\"helpful\"," + labels + "}") == 1);
    CHECK(metric(m, "xops_feedback_score_sum{name=\"helpful\"," + labels + "}") == 4);
    CHECK(metric(m, "xops_feedback_score_sum{name=\"score\"," + labels + "}") == 1);
    CHECK(s.stop() == 0);
  }
  // -v: one access-log line per request, with status, version, tokens and the error code.
  auto err = read_text(tmp / "serve.err");
  CHECK_THAT(err, Catch::Contains("POST /v1/completions 200 "));
  CHECK_THAT(err, Catch::Contains(fmt::format("in={} out={}", prompt_tokens, completion_tokens)));
  CHECK_THAT(err, Catch::Contains(ok_id));
  CHECK_THAT(err,
             Catch::Contains("POST /v1/completions 404 ") && Catch::Contains("model_not_found"));
  CHECK_THAT(err, Catch::Contains("POST /v1/chat/completions 400 "));

  // The log: the answered request and the three refused ones, read back through monitor.
  auto mon = run_xops({"--json", "monitor"}, proj);
  INFO(mon.err);
  REQUIRE(mon.rc == 0);
  auto g = json::parse(mon.out)["groups"].at(0);
  CHECK(g["requests"] == 4);
  CHECK(g["refused"] == 3);
  CHECK(g["errors"] == 0);
  CHECK(g["statuses"] == json{{"200", 1}, {"400", 2}, {"404", 1}});
  CHECK(g["error_codes"]["model_not_found"] == 1);
  CHECK(g["latency_ms"]["n"] == 1);  // refusals have no generation timings
  CHECK(g["prompt_tokens"] == prompt_tokens);
  CHECK(g["scores"]["helpful"]["mean"] == 4);
  {  // the rows themselves: the request's user, each refusal's status and code
    auto db = project_db(proj);
    auto rows = read_interactions(db, 0, false);
    REQUIRE(rows.size() == 4);
    std::map<int, std::string> codes;
    for (const auto& l : rows) {
      const auto& i = l.interaction;
      if (i.id == ok_id) {
        CHECK(i.user == "ann");
        CHECK(i.status == 200);
        CHECK(i.generated());
      } else {
        CHECK_FALSE(i.generated());
        CHECK(i.id.rfind("err-", 0) == 0);
        CHECK(!i.output.empty());  // the message the client got
        codes[i.status] += i.error + " ";
      }
    }
    CHECK(codes[404] == "model_not_found ");
    CHECK(codes[400].size() > 2);
  }
  // Refusals are not replayed as eval cases.
  REQUIRE(run_xops({"eval", "--from-logs", "-o", "cases.jsonl"}, proj).rc == 0);
  auto cases = read_text(proj / "cases.jsonl");
  CHECK(std::count(cases.begin(), cases.end(), '\n') == 1);
  // monitor feedback: both scores, with user, session and the comment.
  auto fl = run_xops({"--json", "monitor", "feedback", "--session", "s-1"}, proj);
  INFO(fl.err);
  REQUIRE(fl.rc == 0);
  auto rows = json::parse(fl.out)["feedback"];
  REQUIRE(rows.size() == 2);
  for (const auto& r : rows) {
    CHECK(r["user"] == "ann");
    CHECK(r["interaction"] == ok_id);
  }
  CHECK((rows[0]["comment"] == "good") != (rows[1]["comment"] == "good"));
  auto human = run_xops({"monitor", "feedback"}, proj);
  CHECK(human.rc == 0);
  CHECK_THAT(human.out, Catch::Contains("helpful") && Catch::Contains("s-1"));
}

TEST_CASE("e2e: a client without the API key cannot write into the interaction log",
          "[e2e][serve][monitor]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto proj = tmp / "p";
  {
    Server s(tmp.path(), {"--api-key-env", "XOPS_TEST_KEY"}, {{"XOPS_TEST_KEY", "k1"}}, proj);
    for (int i = 0; i < 5; ++i)
      CHECK(s.post("/v1/completions", R"({"prompt": "x"})").status == 401);
    CHECK(s.post("/v1/completions", R"({"prompt": "x", "max_tokens": -1})",
                 {"-H", "Authorization: Bearer k1"})
              .status == 400);
    auto m = s.get("/metrics", {"-H", "Authorization: Bearer k1"}).body;
    CHECK_THAT(m, Catch::Contains("status=\"401\""));  // counted, not logged
    CHECK(s.stop() == 0);
  }
  auto mon = run_xops({"--json", "monitor"}, proj);
  INFO(mon.err);
  REQUIRE(mon.rc == 0);
  auto g = json::parse(mon.out)["groups"].at(0);
  CHECK(g["requests"] == 1);  // the authenticated 400 only
  CHECK(g["statuses"] == json{{"400", 1}});
}
