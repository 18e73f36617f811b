// promptfoo's suite language as xops reads it: the pieces the compatibility suite
// (tests/compat/promptfoo) exercises end to end, checked here one by one with promptfoo's
// own numbers where it prints them.
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/eval/assertion_shorthand.hpp"
#include "core/eval/assertions.hpp"
#include "core/eval/json_schema.hpp"
#include "core/eval/metric_expression.hpp"
#include "core/eval/suite.hpp"
#include "core/util/env_file.hpp"
#include "core/util/yaml_util.hpp"

using namespace xops;

TEST_CASE("compat: promptfoo's \"type:value\" assertion shorthand", "[eval][compat]") {
  auto a = assertion_from_string("icontains: bonjour");
  CHECK(a.type == "icontains");
  CHECK(a.value == "bonjour");  // the value is trimmed
  a = assertion_from_string("not-contains:5");
  CHECK(a.type == "not-contains");
  CHECK(a.value == "5");
  a = assertion_from_string("icontains-any:blue, \"sky, azure\"");
  CHECK(a.value == nlohmann::json({"blue", "sky, azure"}));
  a = assertion_from_string("levenshtein(3):kitten");
  CHECK(a.type == "levenshtein");
  CHECK(a.threshold == Approx(3));
  a = assertion_from_string("rouge-n:the cat");
  CHECK(a.threshold == Approx(0.75));  // promptfoo's default for threshold types
  a = assertion_from_string("javascript: output.length > 3");
  CHECK(a.type == "javascript");
  CHECK(a.value == "output.length > 3");
  CHECK(assertion_from_string("file://check.py:fn").type == "python");
  CHECK(assertion_from_string("file://check.js").type == "javascript");
  CHECK(assertion_from_string("grade: is polite").type == "llm-rubric");
  a = assertion_from_string("Bonne nuit");  // a plain answer
  CHECK(a.type == "equals");
  CHECK(a.value == "Bonne nuit");
  CHECK(assertion_from_string("containsx: y").type == "equals");  // not a type: the whole text
  CHECK(assertion_from_string("is-json").value.is_null());
}

TEST_CASE("compat: comma-separated lists for contains-any/all", "[eval][compat]") {
  CHECK(split_comma_list("kiwi, pears") == std::vector<std::string>{"kiwi", "pears"});
  CHECK(split_comma_list(" a ,, b ,") == std::vector<std::string>{"a", "b"});
  CHECK(split_comma_list("\"a, b\", c") == std::vector<std::string>{"a, b", "c"});
  CHECK(split_comma_list("\"say \\\"hi\\\"\"") == std::vector<std::string>{"say \"hi\""});
  CHECK(split_comma_list("").empty());
}

TEST_CASE("compat: BLEU and ROUGE-N give promptfoo's scores", "[eval][compat]") {
  // Scores promptfoo 0.121.20 reported for these pairs (tests/compat/promptfoo/cases/15-*).
  CHECK(bleu("the cat is on the mat", "the cat sat on the mat") ==
        Approx(0.010573712634405643).epsilon(1e-9));
  CHECK(rouge_n("the cat is on the mat", "the cat sat on the mat", 1) ==
        Approx(0.8333333333333334));
  CHECK(rouge_n("A completely different sentence about cats",
                "The quick brown fox jumped over the lazy dog", 1) == 0);
  CHECK(bleu("", "x") == 0);
  CHECK(bleu("same words here", std::vector<std::string>{"other", "same words here"}) ==
        Approx(1.0));
  // Treebank tokens: punctuation and contractions split, as js-rouge does.
  CHECK(treebank_tokens("Don't stop, now.") ==
        std::vector<std::string>{"Do", "n't", "stop", ",", "now", "."});
  CHECK(levenshtein("naïve", "naive") == 1);  // JavaScript counts UTF-16 units, not bytes
}

TEST_CASE("compat: contains-json finds JSON inside text", "[eval][compat]") {
  auto found = extract_json_objects("Here: {\"a\": {\"b\": 1}} and {bad} then {\"c\": 2} -- done");
  REQUIRE(found.size() == 2);
  CHECK(found[0]["a"]["b"] == 1);
  CHECK(found[1]["c"] == 2);
  CHECK(extract_json_objects("no braces").empty());
  CHECK(extract_json_objects("{\"open\": 1").size() == 1);  // closed for it, as promptfoo does
}

TEST_CASE("compat: JSON schemas as ajv checks them (strict, with formats)", "[eval][compat]") {
  nlohmann::json s = {
      {"type", "object"},
      {"required", {"email"}},
      {"properties",
       {{"email", {{"type", "string"}, {"format", "email"}}},
        {"age", {{"type", "integer"}, {"minimum", 0}}},
        {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}, {"uniqueItems", true}}}}}};
  CHECK_NOTHROW(check_json_schema(s, "s"));
  CHECK(
      validate_json_schema(nlohmann::json::parse(R"({"email": "a@b.co", "age": 3.0})"), s).empty());
  CHECK_THAT(validate_json_schema(nlohmann::json::parse(R"({"email": "nope"})"), s),
             Catch::Contains("format"));
  CHECK_THAT(validate_json_schema(nlohmann::json::parse(R"({"email": "a@b.co", "age": -1})"), s),
             Catch::Contains(">= 0"));
  CHECK_FALSE(
      validate_json_schema(nlohmann::json::parse(R"({"email": "a@b.co", "tags": ["x", "x"]})"), s)
          .empty());
  nlohmann::json dates = {{"format", "date"}};
  CHECK(validate_json_schema("2024-02-29", dates).empty());
  CHECK_FALSE(validate_json_schema("2023-02-29", dates).empty());
  nlohmann::json any = {{"anyOf", {{{"type", "string"}}, {{"type", "number"}}}}};
  CHECK(validate_json_schema(3, any).empty());
  CHECK_FALSE(validate_json_schema(true, any).empty());
  CHECK_THROWS_WITH(check_json_schema({{"typo", 1}}, "s"),
                    Catch::Contains("'typo' is not supported"));
  CHECK_THROWS_WITH(check_json_schema({{"format", "credit-card"}}, "s"),
                    Catch::Contains("unknown format"));
}

TEST_CASE("compat: derivedMetrics expressions", "[eval][compat]") {
  std::map<std::string, double> m = {{"brevity", 2}, {"accuracy", 1}, {"__count", 4}};
  CHECK(eval_metric_expression("(brevity + accuracy) / 2", m) == Approx(1.5));
  CHECK(eval_metric_expression("brevity / __count * 100", m) == Approx(50));
  CHECK(eval_metric_expression("-2 ^ 2 + 2 ^ 3 ^ 2", m) == Approx(-4 + 512));
  CHECK_THROWS_WITH(eval_metric_expression("missing + 1", m),
                    Catch::Contains("no metric named 'missing'"));
  CHECK_THROWS_WITH(check_metric_expression("(a + ", "s.yaml:3"), Catch::Contains("s.yaml:3"));
  CHECK_THROWS(check_metric_expression("a $ b", "x"));
}

TEST_CASE("compat: YAML that js-yaml reads and yaml-cpp does not", "[eval][compat]") {
  CHECK(yaml::quote_flow_question_marks("vars: {q: Why?, b: c}") == "vars: {q: 'Why?', b: c}");
  CHECK(yaml::quote_flow_question_marks("- {q: it's?}") == "- {q: 'it''s?'}");
  // Outside flow collections, in quotes, comments and block scalars nothing changes.
  std::string same = "a: Why?\nb: \"{x?}\"\n# {y?}\nc: |\n  {z?}\nd: [1, 2]\n";
  CHECK(yaml::quote_flow_question_marks(same) == same);
  auto n = yaml::parse("tests:\n  - vars: {question: What time is it?}\n", "t.yaml");
  CHECK(n["tests"][0]["vars"]["question"].as<std::string>() == "What time is it?");
  CHECK_THROWS_WITH(yaml::parse("a: [b?\n", "t.yaml"),
                    Catch::Contains("t.yaml:"));  // still an error
}

TEST_CASE("compat: --env-file reads dotenv files", "[eval][compat]") {
  auto v = parse_env_file(
      "# keys\nexport A=1\nB = two words # note\nC='x # y'\nD=\"line\\nnext\"\n\nE=\n", ".env");
  CHECK(v["A"] == "1");
  CHECK(v["B"] == "two words");
  CHECK(v["C"] == "x # y");
  CHECK(v["D"] == "line\nnext");
  CHECK(v["E"].empty());
  CHECK_THROWS_WITH(parse_env_file("A=1\nnot a pair\n", ".env"), Catch::Contains(".env:2"));
  CHECK_THROWS_WITH(parse_env_file("A=\"open\n", ".env"), Catch::Contains("no closing"));
}
