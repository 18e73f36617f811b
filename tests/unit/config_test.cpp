#include <catch2/catch.hpp>
#include <cstdlib>

#include "core/error.hpp"
#include "core/project/config.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

static std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_CASE("project config: a full file parses into typed structs", "[config]") {
  std::vector<std::string> warnings;
  auto cfg = parse_project_config(R"(name: demo
stages: [dev, prod]
artifacts:
  m:
    path: models/m
    type: model
    description: a model
remotes:
  a: {url: /tmp/a}
  b: {url: /tmp/b, default: true}
gates:
  prod:
    - eval: evals/x.yaml
      min_pass_rate: 0.75
defaults:
  device: cpu
)",
                                  "xops.yaml", &warnings);
  CHECK(warnings.empty());
  CHECK(cfg.name == "demo");
  CHECK(cfg.stages == std::vector<std::string>{"dev", "prod"});
  REQUIRE(cfg.artifacts.size() == 1);
  CHECK(cfg.artifacts[0].path == "models/m");
  REQUIRE(cfg.default_remote());
  CHECK(cfg.default_remote()->name == "b");
  REQUIRE(cfg.gates.size() == 1);
  CHECK(cfg.gates[0].min_pass_rate == Approx(0.75));
  CHECK(cfg.defaults.at("device") == "cpu");
  CHECK(cfg.defaults_where.at("device") == "xops.yaml:16");
}

TEST_CASE("project config: unknown keys warn with file:line and a suggestion", "[config]") {
  std::vector<std::string> warnings;
  parse_project_config("name: x\nstagez: [a]\n", "xops.yaml", &warnings);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "xops.yaml:2: unknown key 'stagez' in the project file (did you mean 'stages'?)");
}

TEST_CASE("project config: errors name file:line:column", "[config]") {
  std::vector<std::string> w;
  CHECK(message_of([&] { parse_project_config("stages: [a]\n", "p.yaml", &w); }) ==
        "p.yaml:1:1: the project file is missing required key 'name'");
  CHECK(message_of([&] { parse_project_config("name: x\nstages: 3\n", "p.yaml", &w); }) ==
        "p.yaml:2:9: 'stages' must be a list, found a scalar");
  CHECK(message_of([&] {
          parse_project_config("name: x\ngates:\n  prod:\n    - eval: e\n      min_pass_rate: high\n",
                               "p.yaml", &w);
        }) == "p.yaml:5:22: gate for 'prod' min_pass_rate must be a number, found 'high'");
  auto syntax = message_of([&] { parse_project_config("name: x\nstages: [a\n", "p.yaml", &w); });
  CHECK_THAT(syntax, Catch::StartsWith("p.yaml:"));
  CHECK_THAT(syntax, Catch::Contains("invalid YAML"));
}

TEST_CASE("settings: flag > env > project > user > default, each with its origin", "[config]") {
  test::TempDir tmp;
  test::write_text(tmp / "user.yaml", "defaults:\n  threads: \"3\"\n  device: cpu\n  dtype: bf16\n");
  std::vector<std::string> w;
  auto project = parse_project_config("name: x\ndefaults:\n  device: cuda\n  dtype: fp16\n",
                                      "xops.yaml", &w);
  ::setenv("XOPS_DTYPE", "fp32", 1);
  auto s = Settings::resolve({{"jobs", "5"}}, &project, tmp / "user.yaml", &w);
  ::unsetenv("XOPS_DTYPE");
  CHECK(s.get("jobs").value == "5");
  CHECK(s.get("jobs").origin == "flag --jobs");
  CHECK(s.get("dtype").value == "fp32");
  CHECK(s.get("dtype").origin == "env XOPS_DTYPE");
  CHECK(s.get("device").value == "cuda");
  CHECK(s.get("device").origin == "xops.yaml:3");
  CHECK(s.get("threads").value == "3");
  CHECK(s.get("threads").origin == (tmp / "user.yaml").string() + ":2");
  CHECK(s.get("remote").origin == "default");
}

TEST_CASE("settings: invalid values are usage errors naming their origin", "[config]") {
  std::vector<std::string> w;
  try {
    Settings::resolve({{"threads", "many"}}, nullptr, std::nullopt, &w);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK_THAT(std::string(e.what()), Catch::Contains("flag --threads"));
  }
}

TEST_CASE("project config: gates with no_regression and sign-offs", "[config][promote]") {
  std::vector<std::string> w;
  auto cfg = parse_project_config(
      "name: p\ngates:\n  prod:\n    - {eval: e.yaml, min_pass_rate: 0.9, no_regression: [pass_rate, metric/acc], "
      "tolerance: 0.02}\n    - approve: true\n",
      "xops.yaml", &w);
  REQUIRE(cfg.gates.size() == 2);
  CHECK(cfg.gates[0].no_regression == std::vector<std::string>{"pass_rate", "metric/acc"});
  CHECK(cfg.gates[0].tolerance == Approx(0.02));
  CHECK(cfg.gates[1].approval);
  CHECK(cfg.gates[1].eval.empty());
  CHECK_THAT(message_of([&] { parse_project_config("name: p\ngates:\n  prod:\n    - {eval: e.yaml, approve: true}\n", "xops.yaml", &w); }),
             Catch::Contains("xops.yaml:4:"));
  CHECK_THAT(message_of([&] { parse_project_config("name: p\ngates:\n  prod:\n    - {eval: e.yaml, tolerance: -1}\n", "xops.yaml", &w); }),
             Catch::Contains("tolerance must be >= 0"));
}

TEST_CASE("project config: pairwise gates, strict at every level", "[config][promote]") {
  std::vector<std::string> w;
  auto parse = [&](const std::string& gate) {
    return parse_project_config("name: p\ngates:\n  prod:\n    - " + gate + "\n", "xops.yaml", &w);
  };
  auto cfg =
      parse("pairwise: {suite: e.yaml, baseline: prod, min_win_rate: 0.55, max_regressions: 2}");
  REQUIRE(cfg.gates.size() == 1);
  const auto& g = cfg.gates[0];
  CHECK(g.pairwise);
  CHECK(g.eval == "e.yaml");
  CHECK(g.baseline == "prod");
  CHECK(*g.min_win_rate == Approx(0.55));
  CHECK(*g.max_regressions == 2);
  CHECK(g.min_pass_rate == 0);
  CHECK(parse("pairwise: {suite: e.yaml, baseline: 'm#prod~1', max_regressions: 0}")
            .gates[0]
            .baseline == "m#prod~1");
  // A misspelt threshold is an error (a gate that checks less than it says), not a warning.
  CHECK_THAT(
      message_of([&] { parse("pairwise: {suite: e.yaml, baseline: prod, min_winrate: 0.5}"); }),
      Catch::Contains("xops.yaml:4") && Catch::Contains("unknown key 'min_winrate'"));
  CHECK_THAT(message_of([&] { parse("pairwise: {suite: e.yaml, baseline: prod}"); }),
             Catch::Contains("needs min_win_rate or max_regressions"));
  CHECK_THAT(message_of([&] { parse("pairwise: {baseline: prod, min_win_rate: 0.5}"); }),
             Catch::Contains("suite"));
  CHECK_THAT(
      message_of([&] { parse("pairwise: {suite: e.yaml, baseline: prdo, min_win_rate: 0.5}"); }),
      Catch::Contains("neither a stage nor a registry ref"));
  CHECK_THAT(
      message_of([&] { parse("pairwise: {suite: e.yaml, baseline: prod, min_win_rate: 1.5}"); }),
      Catch::Contains("between 0 and 1"));
  CHECK_THAT(
      message_of([&] { parse("pairwise: {suite: e.yaml, baseline: prod, max_regressions: -1}"); }),
      Catch::Contains("max_regressions"));
  CHECK_THAT(
      message_of([&] {
        parse("{eval: e.yaml, pairwise: {suite: e.yaml, baseline: prod, min_win_rate: 0.5}}");
      }),
      Catch::Contains("stands alone"));
}

TEST_CASE("project config: a gate's artifacts say which artifacts it applies to",
          "[config][promote]") {
  std::vector<std::string> w;
  auto parse = [&](const std::string& gates) {
    return parse_project_config(
        "name: p\nartifacts:\n  m: {path: m, type: model}\n  a: {path: a, type: adapter}\n"
        "  p: {path: p.txt, type: prompt}\ngates:\n  prod:\n" +
            gates,
        "xops.yaml", &w);
  };
  auto cfg = parse(
      "    - {eval: e.yaml, artifacts: [p]}\n"
      "    - pairwise: {suite: e.yaml, baseline: prod, min_win_rate: 0.5}\n"
      "    - {pairwise: {suite: e.yaml, baseline: 'm@v1.0.0', max_regressions: 0}, "
      "artifacts: [a]}\n");
  REQUIRE(cfg.gates.size() == 3);
  CHECK(cfg.gates[0].applies_to("p", "prompt"));
  CHECK_FALSE(cfg.gates[0].applies_to("m", "model"));
  // A pairwise gate compares models and adapters: by default those, never a prompt.
  CHECK(cfg.gates[1].applies_to("m", "model"));
  CHECK(cfg.gates[1].applies_to("a", "adapter"));
  CHECK_FALSE(cfg.gates[1].applies_to("p", "prompt"));
  CHECK(cfg.gates[2].applies_to("a", "adapter"));
  CHECK_FALSE(cfg.gates[2].applies_to("m", "model"));
  CHECK_THAT(message_of([&] { parse("    - {eval: e.yaml, artifacts: [mm]}\n"); }),
             Catch::Contains("xops.yaml:8:") && Catch::Contains("artifact 'mm'"));
  CHECK_THAT(message_of([&] {
               parse(
                   "    - {pairwise: {suite: e.yaml, baseline: prod, min_win_rate: 0.5}, "
                   "artifacts: [p]}\n");
             }),
             Catch::Contains("'p' is a prompt"));
}

TEST_CASE("config: feedback scores are declared with ranges and thresholds name them",
          "[config][monitor]") {
  auto cfg = parse_project_config(R"(name: p
feedback:
  scores:
    helpful: {min: 1, max: 5, integer: true, description: 1 useless .. 5 spot on}
    correct: {min: 0, max: 1}
monitor:
  min_feedback_mean: {helpful: 3.5}
)",
                                  "xops.yaml", nullptr);
  REQUIRE(cfg.feedback_scores.size() == 2);
  CHECK(cfg.feedback_scores.at("helpful").max == 5);
  CHECK(cfg.feedback_scores.at("helpful").integer);
  CHECK_FALSE(cfg.feedback_scores.at("correct").integer);
  CHECK(cfg.feedback_scores.count("score") == 0);  // declared scores replace the default
  CHECK(cfg.monitor.min_feedback_mean.at("helpful") == 3.5);
  CHECK(cfg.feedback_where == "xops.yaml:3");
  // Undeclared: the one score "score", 0..1; a plain number threshold is its.
  auto plain =
      parse_project_config("name: p\nmonitor: {min_feedback_mean: 0.6}\n", "xops.yaml", nullptr);
  CHECK(plain.feedback_scores.size() == 1);
  CHECK(plain.feedback_scores.at("score").max == 1);
  CHECK(plain.monitor.min_feedback_mean.at("score") == 0.6);

  auto fails = [](const std::string& text) {
    return message_of([&] { parse_project_config(text, "xops.yaml", nullptr); });
  };
  CHECK_THAT(fails("name: p\nfeedback:\n  scores:\n    h: {min: 5, max: 1}\n"),
             Catch::Contains("xops.yaml:4") && Catch::Contains("min (5) must be below max (1)"));
  CHECK_THAT(fails("name: p\nfeedback:\n  scores:\n    h: {min: 0, max: 1, integr: true}\n"),
             Catch::Contains("integr"));
  CHECK_THAT(fails("name: p\nfeedback:\n  scores:\n    h: {max: 1}\n"), Catch::Contains("min"));
  CHECK_THAT(fails("name: p\nfeedback:\n  scores:\n    'a b': {min: 0, max: 1}\n"),
             Catch::Contains("not a plain name"));
  CHECK_THAT(fails("name: p\nfeedback: {scores: {h: {min: 0, max: 1}}}\nmonitor:\n  "
                   "min_feedback_mean: {helpfull: 3}\n"),
             Catch::Contains("xops.yaml:4") && Catch::Contains("'helpfull'"));
  CHECK_THAT(fails("name: p\nfeedback: {scores: {h: {min: 0, max: 1}}}\nmonitor: "
                   "{min_feedback_mean: 0.5}\n"),
             Catch::Contains("name the score"));
}
