// The Nunjucks subset, checked against Nunjucks' documented behaviour (mozilla.github.io/nunjucks
// templating docs) and what promptfoo prompts do with it.
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/template/nunjucks.hpp"

using namespace xops;
using nlohmann::json;

namespace {
std::string R(const std::string& t, const json& v = json::object()) {
  return nunjucks::render(t, v, "t.txt");
}
std::string error_of(const std::string& t) {
  try {
    nunjucks::render(t, json::object(), "p.txt");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("nunjucks: variables, lookups and undefined", "[unit][nunjucks]") {
  json v = {
      {"name", "Ada"}, {"user", {{"langs", {"en", "fr"}}, {"age", 36}}}, {"n", 3}, {"pi", 3.5}};
  CHECK(R("Hi {{ name }}!", v) == "Hi Ada!");
  CHECK(R("{{name}}/{{  name  }}", v) == "Ada/Ada");
  CHECK(R("{{ user.langs[1] }} {{ user['age'] }} {{ user.langs.length }}", v) == "fr 36 2");
  CHECK(R("[{{ missing }}][{{ missing.deeper }}][{{ user.nope }}]", v) ==
        "[][][]");                             // undefined renders empty
  CHECK(R("{{ user.langs }}", v) == "en,fr");  // Array.toString
  CHECK(R("{{ n + 1 }} {{ n / 2 }} {{ n // 2 }} {{ n % 2 }} {{ 2 ** 3 }} {{ pi * 2 }}", v) ==
        "4 1.5 1 1 8 7");
  CHECK(R("{{ 'a' ~ n ~ 'b' }} {{ 'x' + 1 }}", v) == "a3b x1");
  CHECK(R("{{ 'yes' if n > 2 else 'no' }}{{ 'never' if false }}", v) == "yes");
  CHECK(R("{{ none }}{{ true }} {{ [1, 2] | length }} {{ {a: 1}.a }}", v) == "true 2 1");
  CHECK(R("no template syntax: { not } a {tag}") == "no template syntax: { not } a {tag}");
}

TEST_CASE("nunjucks: if, for, set, comments, whitespace control", "[unit][nunjucks]") {
  json v = {{"items", {"a", "b", "c"}}, {"obj", {{"k", 1}}}, {"empty", json::array()}, {"x", 5}};
  CHECK(R("{% if x > 3 %}big{% elif x > 1 %}mid{% else %}small{% endif %}", v) == "big");
  CHECK(R("{% if not x %}none{% elif x == '5' %}loose{% endif %}", v) == "loose");  // == is JS's ==
  CHECK(
      R("{% for i in items %}{{ loop.index }}{{ i }}{% if not loop.last %},{% endif %}{% endfor %}",
        v) == "1a,2b,3c");
  CHECK(R("{% for i in empty %}x{% else %}nothing{% endfor %}", v) == "nothing");
  CHECK(R("{% for k, val in obj %}{{ k }}={{ val }}{% endfor %}", v) == "k=1");
  CHECK(R("{% set y = x * 2 %}{{ y }}", v) == "10");
  CHECK(R("a{# a comment {{ x }} #}b", v) == "ab");
  CHECK(R("a  {%- if true -%}  b  {%- endif -%}  c", v) == "abc");
  CHECK(R("{{- ' x ' -}}", v) == " x ");
  CHECK(R("line\n{% if true %}\nyes\n{% endif %}\n", v) ==
        "line\n\nyes\n\n");  // no trimBlocks by default
  CHECK(R("{{ 'b' in items }} {{ 'z' not in items }} {{ 'ell' in 'hello' }} {{ 'k' in obj }}", v) ==
        "true true true true");
  CHECK(R("{{ x is defined }} {{ nope is defined }} {{ x is odd }} {{ 6 is divisibleby 3 }}", v) ==
        "true false true true");
  CHECK(R("{% for i in range(3) %}{{ i }}{% endfor %}") == "012");
}

TEST_CASE("nunjucks: filters", "[unit][nunjucks]") {
  json v = {
      {"s", "  Hello World  "}, {"list", {3, 1, 2}}, {"obj", {{"a", 1}}}, {"j", "{\"k\": [1, 2]}"}};
  CHECK(R("{{ s | trim | upper }}|{{ s | lower | trim }}", v) == "HELLO WORLD|hello world");
  CHECK(R("{{ list | join(', ') }} {{ list | first }} {{ list | last }} {{ list | length }}", v) ==
        "3, 1, 2 3 2 3");
  CHECK(R("{{ list | sort | join }} {{ list | reverse | join('-') }}", v) == "123 2-1-3");
  CHECK(R("{{ obj | dump }} {{ missing | default('dflt') }} {{ '' | default('e', true) }}", v) ==
        "{\"a\":1} dflt e");
  CHECK(R("{{ 'a-b-a' | replace('a', 'x') }} {{ 'hello' | capitalize }} {{ 'the cat' | title }}",
          v) == "x-b-x Hello The Cat");
  CHECK(R("{{ (j | load).k[1] }} {{ '<b>' | safe }} {{ '<b>' | escape }}", v) == "2 <b> &lt;b&gt;");
  CHECK(R("{{ 3.7 | int }} {{ '2.5' | float }} {{ 2.567 | round(2) }} {{ -3 | abs }} {{ list | sum "
          "}}",
          v) == "3 2.5 2.57 3 6");
  // Nunjucks cuts at lastIndexOf(' ', 7): tests/compat/nunjucks/expected.json records it.
  CHECK(R("{{ 'one two three' | wordcount }} {{ 'one two three' | truncate(7) }}", v) ==
        "3 one two...");
}

TEST_CASE("nunjucks: unsupported constructs are errors naming the line, never sent as they are",
          "[unit][nunjucks]") {
  CHECK_THAT(error_of("ok\n{% include 'x.txt' %}"),
             Catch::Contains("p.txt:2: unsupported Nunjucks tag 'include'"));
  CHECK_THAT(error_of("{{ x | frobnicate }}"),
             Catch::Contains("p.txt:1: unknown filter 'frobnicate'"));
  CHECK_THAT(error_of("a\n\n{% if x %}never closed"), Catch::Contains("missing {% endif %}"));
  CHECK_THAT(error_of("{{ x"), Catch::Contains("p.txt:1: '{{' is never closed"));
  CHECK_THAT(error_of("{% endfor %}"), Catch::Contains("without its opening tag"));
  CHECK_THAT(error_of("{{ foo(1) }}"), Catch::Contains("calling functions is not supported"));
  CHECK_THAT(error_of("{{ 1 + }}"), Catch::Contains("expected an expression"));
  CHECK_THAT(error_of("{# open"), Catch::Contains("never closed"));
}
