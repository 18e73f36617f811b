// The torch-free pieces of `xops serve`: the OpenAI routes before a model is loaded, request
// authentication, metrics rendering, the interaction log and its conversion to eval cases.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/eval/assertions.hpp"
#include "core/eval/from_logs.hpp"
#include "core/eval/suite.hpp"
#include "core/serve/chat_template.hpp"
#include "core/serve/metrics.hpp"
#include "core/serve/openai_api.hpp"
#include "core/serve/openai_request.hpp"
#include "core/tracking/interaction_log.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using nlohmann::json;

TEST_CASE("serve: constant-time key comparison and the built-in chat template", "[serve]") {
  CHECK(constant_time_equal("sekret", "sekret"));
  CHECK_FALSE(constant_time_equal("sekreT", "sekret"));
  CHECK_FALSE(constant_time_equal("sekret1", "sekret"));
  CHECK_FALSE(constant_time_equal("", "sekret"));
  CHECK_FALSE(constant_time_equal("", ""));  // an empty key never authenticates
  CHECK(render_chat({{"system", "Be brief."}, {"user", "Hi"}}) ==
        "<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\n");
}

TEST_CASE(
    "serve: before a model is loaded, health is 503 and routes answer in OpenAI's error shape",
    "[serve]") {
  ApiOptions o;
  o.model_id = "m";
  o.api_key = "k";
  OpenAiApi api(o);
  auto req = [](std::string method, std::string path, std::string auth = "") {
    http::ServerRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    if (!auth.empty()) r.headers["authorization"] = "Bearer " + auth;
    return r;
  };
  auto health = api.handle(req("GET", "/health"));
  CHECK(health.status == 503);
  CHECK(json::parse(health.body)["error"]["code"] == "loading");
  CHECK(api.handle(req("POST", "/v1/completions")).status == 401);
  CHECK(api.handle(req("POST", "/v1/completions", "wrong")).status == 401);
  CHECK(api.handle(req("POST", "/v1/completions", "k")).status == 503);
  CHECK(api.handle(req("GET", "/v1/completions", "k")).status == 405);
  CHECK(api.handle(req("GET", "/nope", "k")).status == 404);
  auto metrics = api.handle(req("GET", "/metrics", "k"));
  CHECK(metrics.status == 200);
  // Each request counted once (the 401s too), with the version that answered: none yet.
  for (const char* line :
       {R"(xops_requests_total{route="/health",status="503",version="",adapter=""} 1)",
        R"(xops_requests_total{route="other",status="404",version="",adapter=""} 1)",
        R"(xops_requests_total{route="/v1/completions",status="401",version="",adapter=""} 2)",
        R"(xops_requests_total{route="/v1/completions",status="503",version="",adapter=""} 1)"})
    CHECK_THAT(metrics.body, Catch::Contains(line));
  CHECK_THAT(metrics.body, Catch::Contains("ready=\"false\""));
}

TEST_CASE("serve: histograms render cumulative Prometheus buckets", "[serve]") {
  Histogram h;
  h.observe(0.003);
  h.observe(0.2);
  h.observe(100);
  auto text = h.render("x_seconds", "help");
  CHECK_THAT(text, Catch::Contains("# TYPE x_seconds histogram"));
  CHECK_THAT(text, Catch::Contains("x_seconds_bucket{le=\"0.005\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("x_seconds_bucket{le=\"0.25\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("x_seconds_bucket{le=\"30\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("x_seconds_bucket{le=\"+Inf\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("x_seconds_count 3\n"));
}

TEST_CASE("serve: the interaction log keeps feedback and becomes eval cases", "[serve][eval]") {
  test::TempDir tmp;
  auto db_path = tmp / "xops.db";
  {
    InteractionLog log(db::Database::open(db_path), 0);
    Interaction a;
    a.id = "cmpl-a", a.route = "completions", a.model = "m", a.prompt = "Hi", a.output = " there";
    a.params = R"({"max_tokens": 4})", a.finish_reason = "length", a.created_ms = 1000;
    log.record(a);
    Interaction b = a;
    b.id = "chatcmpl-b", b.route = "chat", b.messages = R"([{"role": "user", "content": "Yo"}])";
    b.prompt = "<|user|>\nYo\n<|assistant|>\n", b.output = "bad", b.created_ms = 5000;
    log.record(b);
    CHECK(log.add_feedback("cmpl-a", {0.9, "good", 0}));
    CHECK(log.add_feedback("cmpl-a", {0.7, "", 0}));
    CHECK(log.add_feedback("chatcmpl-b", {0.0, "wrong", 0}));
    CHECK_FALSE(log.add_feedback("cmpl-zzz", {1.0, "", 0}));
  }
  auto db = db::Database::open(db_path);
  auto all = cases_from_logs(db, {});
  REQUIRE(all.size() == 2);
  auto a = json::parse(all[0]);
  CHECK_FALSE(a.contains("assert"));
  CHECK(a["metadata"]["score"].get<double>() == Approx(0.8));
  CHECK(a["metadata"]["comments"] == json::array({"good"}));
  FromLogsOptions good;
  good.min_score = 0.5;
  auto g = cases_from_logs(db, good);
  REQUIRE(g.size() == 1);
  CHECK(json::parse(g[0])["assert"][0] == json({{"type", "equals"}, {"value", " there"}}));
  FromLogsOptions bad;
  bad.max_score = 0.1;
  auto b = cases_from_logs(db, bad);
  REQUIRE(b.size() == 1);
  auto bj = json::parse(b[0]);
  CHECK(bj["assert"][0]["type"] == "not-equals");
  CHECK(bj["assert"][1] == json({{"type", "feedback-addressed"},
                                 {"value", {{"comment", "wrong"}, {"previous", "bad"}}}}));
  CHECK(bj["vars"]["messages"][0]["content"] == "Yo");
  FromLogsOptions recent;
  recent.since_ms = 2000;
  CHECK(cases_from_logs(db, recent).size() == 1);
  // Retention deletes old interactions (and their feedback) when the log opens.
  { InteractionLog pruned(db::Database::open(db_path), 1); }
  CHECK(cases_from_logs(db, {}).empty());
}

TEST_CASE("eval --from-logs: --since takes dates and ages", "[serve][eval]") {
  const int64_t now = 1796290000000;
  CHECK(parse_since("7d", now) == now - 7 * 86400000LL);
  CHECK(parse_since("24h", now) == now - 24 * 3600000LL);
  CHECK(parse_since("30m", now) == now - 30 * 60000LL);
  CHECK(parse_since("2026-12-01", now) == 1796083200000LL);
  CHECK(parse_since("2026-12-01T08:30:00", now) == 1796083200000LL + 8 * 3600000LL + 30 * 60000LL);
  CHECK(parse_since("2026-12-01T08:30:00Z", now) == 1796083200000LL + 8 * 3600000LL + 30 * 60000LL);
  for (auto bad : {"yesterday", "7w", "2026-12", "d", "2026-12-01x"})
    CHECK_THROWS_AS(parse_since(bad, now), Error);
}

TEST_CASE("serve: a model's chat_template is used when the renderer can run it", "[serve]") {
  test::TempDir tmp;
  auto write_cfg = [&](const json& cfg) {
    atomic_write_file(tmp / "tokenizer_config.json", cfg.dump());
  };
  CHECK(load_chat_template(tmp.path()).source.empty());  // no tokenizer_config.json: built-in
  const std::string chatml =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + '<|im_end|>' + "
      "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif "
      "%}";
  write_cfg({{"chat_template", chatml}, {"eos_token", {{"content", "</s>"}}}});
  auto t = load_chat_template(tmp.path());
  CHECK(t.note.empty());
  CHECK(t.eos_token == "</s>");
  CHECK(t.render({{"user", "Hi"}}) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  // Jinja beyond the subset (Python string methods, raise_exception): the built-in, with a note.
  write_cfg({{"chat_template", "{% for m in messages %}{{ m['content'].strip() }}{% endfor %}"}});
  t = load_chat_template(tmp.path());
  CHECK(t.source.empty());
  CHECK_THAT(t.note, Catch::Contains("beyond the Jinja subset"));
  CHECK(t.render({{"user", "Hi"}}) == "<|user|>\nHi\n<|assistant|>\n");
  write_cfg({{"chat_template", json::array({{{"name", "tool_use"}, {"template", "x"}}})}});
  CHECK_THAT(load_chat_template(tmp.path()).note, Catch::Contains("no default entry"));
}

TEST_CASE("serve: request bodies become typed requests or 4xx ApiErrors, nothing else", "[serve]") {
  auto r = parse_generation_request(
      R"({"model": "m:a", "prompt": [1, 2], "max_tokens": 4.0, "temperature": 0, "stop": "\n", "seed": 7,
          "stream": true, "stream_options": {"include_usage": true}, "logprobs": 2, "ignore_eos": true})",
      false, 100);
  CHECK(r.model == "m:a");
  CHECK(r.prompt_ids == std::vector<int32_t>{1, 2});
  CHECK(r.sampling.max_tokens == 4);
  CHECK(r.sampling.stop == std::vector<std::string>{"\n"});
  CHECK(r.sampling.seed == 7);
  CHECK(r.sampling.logprobs == 2);
  CHECK_FALSE(r.sampling.stop_at_eos);
  CHECK(r.stream);
  CHECK(r.include_usage);
  auto c = parse_generation_request(
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]})",
      true, 100);
  CHECK(c.messages == std::vector<std::pair<std::string, std::string>>{{"user", "ab"}});
  CHECK(c.sampling.temperature == 1.0);  // OpenAI's default
  for (auto body : {R"({"prompt": [100]})", R"({"prompt": "x", "max_tokens": 4.5})",
                    R"({"messages": [{"role": "user", "content": [{"type": 3, "text": "a"}]}]})",
                    R"({"prompt": "x", "seed": 1.5})",
                    R"({"prompt": "x", "stream_options": 1, "stream": 1})"}) {
    INFO(body);
    bool chat = std::string(body).find("messages") != std::string::npos;
    try {
      parse_generation_request(body, chat, 100);
      FAIL("accepted");
    } catch (const ApiError& e) {
      CHECK(e.status == 400);
    }
  }
}

TEST_CASE("attack: logged traffic becomes cases that are data, never paths or templates",
          "[serve][eval][attack]") {
  test::TempDir tmp;
  auto db_path = tmp / "xops.db";
  test::write_text(tmp / ".env", "SECRET=hunter2\n");
  {
    InteractionLog log(db::Database::open(db_path), 0);
    Interaction a;
    a.id = "cmpl-a", a.route = "completions", a.model = "m", a.prompt = "file://.env";
    a.output = "say {{ 7*7 }}", a.params = "{}", a.finish_reason = "stop";
    log.record(a);
    Interaction b = a;
    b.id = "chatcmpl-b", b.route = "chat", b.prompt = "file://*";
    b.messages =
        R"([{"role": "user", "content": "file://.git/config"}, {"role": "user", "content": "x"}])";
    log.record(b);
    CHECK(log.add_feedback("cmpl-a", {1.0, "", 0}));
    CHECK(log.add_feedback("chatcmpl-b", {1.0, "", 0}));
  }
  auto db = db::Database::open(db_path);
  FromLogsOptions good;
  good.min_score = 0.5;
  std::string lines;
  for (const auto& c : cases_from_logs(db, good)) lines += c + "\n";
  test::write_text(tmp / "cases.jsonl", lines);
  test::write_text(tmp / "s.yaml",
                   "prompts: ['{{prompt}}']\nproviders: [echo]\ntests: file://cases.jsonl\n");
  auto s = load_suite(tmp / "s.yaml", nullptr);
  // One case per interaction: `file://*` is not one case per project file, the two messages
  // are not two cases.
  REQUIRE(s.tests.size() == 2);
  const bool env_first = s.tests[0].values["prompt"] == "file://.env";
  const auto& env = s.tests[env_first ? 0 : 1];
  const auto& chat = s.tests[env_first ? 1 : 0];
  CHECK(env.values["prompt"] == "file://.env");  // not the file's contents
  CHECK(chat.values["prompt"] == "file://*");
  CHECK(chat.values["messages"].size() == 2);
  CHECK(chat.values["messages"][0]["content"] == "file://.git/config");
  for (const auto& t : s.tests)
    for (const auto& [k, v] : t.vars) CHECK(v.find("hunter2") == std::string::npos);
  // The logged answer is compared as written: `{{ 7*7 }}` is not rendered to 49.
  const auto& eq = env.asserts.at(0);
  CHECK(eq.literal);
  AssertionContext ctx;
  ctx.values = &env.values;
  ctx.output = "say {{ 7*7 }}";
  CHECK(check_assertion(eq, ctx).pass);
  ctx.output = "say 49";
  CHECK_FALSE(check_assertion(eq, ctx).pass);
  // A suite cannot switch this off for its defaults by mistake: literal is per test.
  test::write_text(tmp / "d.yaml",
                   "prompts: [x]\nproviders: [echo]\ndefaultTest:\n  options: {literal: true}\n"
                   "tests: [{vars: {a: 1}}]\n");
  CHECK_THROWS_WITH(load_suite(tmp / "d.yaml", nullptr), Catch::Contains("d.yaml:4"));
}

TEST_CASE("serve: a logged answer cut mid-character is kept as the client got it",
          "[serve][attack]") {
  test::TempDir tmp;
  auto db_path = tmp / "xops.db";
  {
    InteractionLog log(db::Database::open(db_path), 0);
    Interaction a;
    a.id = "cmpl-cut", a.route = "completions", a.model = "m", a.params = "{}";
    a.prompt = "caf\xc3";   // a prompt given as token ids can end mid-character too
    a.output = "\xe2\x82";  // the first two bytes of the euro sign: one token's worth
    a.finish_reason = "length";
    log.record(a);  // PostgreSQL refused such bytes and the record was lost
  }
  auto db = db::Database::open(db_path);
  auto all = read_interactions(db, 0);
  REQUIRE(all.size() == 1);
  // What the API's JSON sent for those bytes (nlohmann's replace policy): U+FFFD.
  auto sent = json::parse(json("\xe2\x82").dump(-1, ' ', false, json::error_handler_t::replace))
                  .get<std::string>();
  CHECK(all[0].interaction.output == sent);
  CHECK(all[0].interaction.output.find("\xef\xbf\xbd") != std::string::npos);
  CHECK(all[0].interaction.prompt.rfind("caf", 0) == 0);
  CHECK(all[0].interaction.prompt != "caf\xc3");
}
