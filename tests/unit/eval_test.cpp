#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/eval/assertions.hpp"
#include "core/eval/suite.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

namespace {
AssertionResult check(const std::string& type, nlohmann::json value, const std::string& output,
                      std::optional<double> threshold = std::nullopt, double latency = 0) {
  AssertionSpec a;
  a.type = type;
  a.value = std::move(value);
  a.threshold = threshold;
  std::map<std::string, std::string> vars = {{"city", "Paris"}};
  AssertionContext ctx;
  ctx.output = output;
  ctx.vars = &vars;
  ctx.latency_ms = latency;
  return check_assertion(a, ctx);
}
}  // namespace

TEST_CASE("eval: deterministic assertions, templated values and not- negation", "[eval]") {
  CHECK(check("equals", "Paris", "Paris").pass);
  CHECK_FALSE(check("equals", "Paris", "Paris ").pass);
  CHECK(check("contains", "{{city}}", "It is Paris.").pass);
  CHECK(check("icontains", "PARIS", "it is paris").pass);
  CHECK(check("contains-any", nlohmann::json::array({"x", "is"}), "it is").pass);
  CHECK_FALSE(check("contains-all", nlohmann::json::array({"x", "is"}), "it is").pass);
  CHECK(check("starts-with", "It", "It is").pass);
  CHECK(check("regex", "^\\d{4}-\\d{2}$", "2024-05").pass);
  CHECK(check("not-contains", "London", "Paris").pass);
  CHECK(check("is-json", nullptr, "{\"a\": 1}").pass);
  CHECK_FALSE(check("is-json", nullptr, "{a: 1}").pass);
  nlohmann::json schema = {{"type", "object"}, {"required", {"a"}}, {"properties", {{"a", {{"type", "integer"}}}}}};
  CHECK(check("is-json", schema, "{\"a\": 1}").pass);
  auto bad = check("is-json", schema, "{\"a\": \"x\"}");
  CHECK_FALSE(bad.pass);
  CHECK_THAT(bad.reason, Catch::Contains("$.a"));
  CHECK(check("levenshtein", "kitten", "sitting", 3.0).pass);
  CHECK_FALSE(check("levenshtein", "kitten", "sitting", 2.0).pass);
  CHECK(check("latency", nullptr, "x", 100.0, 50).pass);
  CHECK_FALSE(check("latency", nullptr, "x", 100.0, 150).pass);
  CHECK_THROWS_AS(check("regex", "(", "x"), Error);
  CHECK_THROWS_AS(check("llm-rubric", "is polite", "x"), Error);  // no judge configured
}

TEST_CASE("eval: text metrics", "[eval]") {
  CHECK(levenshtein("kitten", "sitting") == 3);
  CHECK(rouge_l("the cat sat on the mat", "the cat sat on the mat") == Approx(1.0));
  CHECK(rouge_l("the cat", "the dog sat") == Approx(2.0 * 0.5 * (1.0 / 3) / (0.5 + 1.0 / 3)));
  CHECK(bleu("the quick brown fox jumps", "the quick brown fox jumps") == Approx(1.0));
  CHECK(bleu("completely different words", "the quick brown fox") < 0.3);
  CHECK(check("rouge-l", "the cat sat", "the cat sat down", 0.8).pass);
  CHECK(check("bleu", "the quick brown fox jumps over", "the quick brown fox jumps over", 0.9).pass);
}

TEST_CASE("eval: a suite with file prompts, CSV tests and defaultTest", "[eval]") {
  test::TempDir tmp;
  test::write_text(tmp / "p.txt", "Capital of {{country}}?");
  test::write_text(tmp / "t.csv", "country,__expected\nFrance,contains:Paris\n\"Japan, the\",Tokyo\n");
  test::write_text(tmp / "s.yaml", R"(description: caps
prompts: [file://p.txt, "Inline {{country}}"]
providers: [exec:cat]
tests:
  - file://t.csv
  - vars: {country: Peru}
    assert: [{type: icontains, value: lima, weight: 2, metric: acc}]
defaultTest:
  vars: {extra: "1"}
  assert: [{type: latency, threshold: 60000}]
thresholds: {pass_rate: 0.5, metrics: {acc: 0.9}}
)");
  std::vector<std::string> w;
  auto s = load_suite(tmp / "s.yaml", &w);
  CHECK(w.empty());
  REQUIRE(s.prompts.size() == 2);
  CHECK(s.prompts[0].text == "Capital of {{country}}?");
  REQUIRE(s.tests.size() == 3);
  CHECK(s.tests[0].asserts.size() == 2);  // latency (default) + contains
  CHECK(s.tests[0].asserts[1].type == "contains");
  CHECK(s.tests[1].vars.at("country") == "Japan, the");
  CHECK(s.tests[1].asserts[1].type == "equals");
  CHECK(s.tests[2].vars.at("extra") == "1");
  CHECK(s.tests[2].asserts[1].weight == 2);
  CHECK(*s.pass_rate == 0.5);
  CHECK(s.metric_minimums.at("acc") == 0.9);
  CHECK(s.content_sha256.size() == 64);
  // Nunjucks: an undefined variable renders empty.
  CHECK(render_template("a {{ x }} {{y}}", nlohmann::json{{"x", "1"}}) == "a 1 ");
}

TEST_CASE("eval: suite errors name file:line", "[eval]") {
  test::TempDir tmp;
  test::write_text(tmp / "s.yaml", "prompts: [hi]\nproviders: [exec:cat]\ntests:\n  - assert: [{type: fuzzy, value: x}]\n");
  std::vector<std::string> w;
  try {
    load_suite(tmp / "s.yaml", &w);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("s.yaml:4:") && Catch::Contains("unknown assertion type 'fuzzy'"));
  }
}

TEST_CASE("eval: icontains folds case for all of Unicode", "[eval]") {
  CHECK(check("icontains", "ÉTÉ", "un bel été").pass);
  CHECK(check("icontains", "straße", "STRASSE") .pass == false);  // simple folding, as JS toLowerCase()
  CHECK(check("icontains", "ΣΟΦΊΑ", "η σοφία").pass);
  CHECK(check("icontains-any", nlohmann::json::array({"ÖL", "x"}), "öl und wasser").pass);
  CHECK_FALSE(check("contains", "ÉTÉ", "un bel été").pass);
}

TEST_CASE("eval: assertScoringFunction takes file:// JavaScript or Python, by file:line",
          "[eval]") {
  test::TempDir tmp;
  test::write_text(tmp / "score.py",
                   "def func(s, c):\n    return {'pass': True, 'score': 1, 'reason': ''}\n");
  test::write_text(tmp / "score.js",
                   "module.exports.f = () => ({pass: true, score: 1, reason: ''});\n");
  test::write_text(tmp / "s.yaml", R"(prompts: [hi]
providers: [exec:cat]
defaultTest:
  assertScoringFunction: file://score.js:f
tests:
  - vars: {a: '1'}
  - vars: {a: '2'}
    assertScoringFunction: file://score.py
)");
  std::vector<std::string> w;
  auto s = load_suite(tmp / "s.yaml", &w);
  REQUIRE(s.tests.size() == 2);
  CHECK(s.tests[0].scoring_function["language"] == "javascript");
  CHECK(s.tests[0].scoring_function["function"] == "f");
  CHECK(s.tests[1].scoring_function["language"] == "python");
  CHECK(s.tests[1].scoring_function["function"] == "func");  // promptfoo's default name
  for (auto [value, why] : {std::pair{"'output.length > 2'", "must be a file:// reference"},
                            std::pair{"file://score.txt", "not a JavaScript or Python file"},
                            std::pair{"file://missing.js", "missing.js"},
                            std::pair{"file://../outside.js", "outside"}}) {
    INFO(value);
    test::write_text(
        tmp / "bad.yaml",
        std::string("prompts: [hi]\nproviders: [exec:cat]\ntests:\n  - vars: {a: '1'}\n"
                    "    assertScoringFunction: ") +
            value + "\n");
    try {
      load_suite(tmp / "bad.yaml", &w);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(why));
      if (std::string(why).find("file://") != std::string::npos ||
          std::string(why).find("JavaScript") != std::string::npos)
        CHECK_THAT(std::string(e.what()), Catch::Contains("bad.yaml:5:"));
    }
  }
}

TEST_CASE("eval: lists expand in the suite's var order, a list of non-strings is one value",
          "[eval]") {
  test::TempDir tmp;
  test::write_text(tmp / "s.yaml", R"(prompts: ['{{name}} {{lang}} {{n}}']
providers: [exec:cat]
tests:
  - vars: {name: [Ana, Bo], lang: [fr, de], n: [1, 2]}
)");
  std::vector<std::string> w;
  auto s = load_suite(tmp / "s.yaml", &w);
  REQUIRE(s.tests.size() == 4);  // name x lang; n stays one value
  CHECK(s.tests[0].vars.at("name") == "Ana");
  CHECK(s.tests[0].vars.at("lang") == "fr");
  CHECK(s.tests[1].vars.at("name") == "Ana");  // the first var varies slowest
  CHECK(s.tests[1].vars.at("lang") == "de");
  CHECK(s.tests[2].vars.at("name") == "Bo");
  CHECK(s.tests[0].values.at("n") == nlohmann::json::array({1, 2}));
}

TEST_CASE("eval: select-best and max-score are checked when the suite loads", "[eval]") {
  test::TempDir tmp;
  std::vector<std::string> w;
  for (auto [asserts, why] :
       {std::pair{"[{type: max-score}]", "no assertion for it to add up"},
        std::pair{"[{type: select-best}]", "needs its criteria"},
        std::pair{"[{type: not-select-best, value: x}]", "no not- form"},
        std::pair{"[{type: equals, value: a}, {type: max-score, value: {method: median}}]",
                  "'method' is not"},
        std::pair{"[{type: equals, value: a}, {type: max-score, value: {weights: {equals: a}}}]",
                  "'weights' is not"}}) {
    INFO(asserts);
    test::write_text(tmp / "s.yaml", std::string("prompts: [a, b]\nproviders: [exec:cat]\n"
                                                 "tests:\n  - assert: ") +
                                         asserts + "\n");
    try {
      load_suite(tmp / "s.yaml", &w);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(why));
    }
  }
  test::write_text(tmp / "s.yaml",
                   "prompts: [a, b]\nproviders: [exec:cat]\ntests:\n  - assert: [{type: equals, "
                   "value: a}, {type: max-score, value: {method: sum, weights: {equals: 2}, "
                   "threshold: 1}}]\n");
  CHECK(load_suite(tmp / "s.yaml", &w).tests[0].asserts.size() == 2);
}
