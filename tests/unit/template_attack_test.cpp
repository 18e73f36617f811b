// Templates that try to exhaust memory or time (#26 finding 2). Each must end in a clear
// error naming the budget (docs/security.md), quickly, and never in std::bad_alloc: suites,
// assertion values and served chat templates share this renderer.
#include <catch2/catch.hpp>

#include <chrono>

#include "core/error.hpp"
#include "core/template/nunjucks.hpp"

using namespace xops;
using nlohmann::json;

namespace {

// The error a template ends in, after checking it is an xops Error and came fast.
std::string refusal(const std::string& tpl, const json& vars = json::object()) {
  auto t0 = std::chrono::steady_clock::now();
  try {
    nunjucks::render(tpl, vars, "attack");
  } catch (const Error& e) {
    auto s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO(tpl << " took " << s << " s");
    CHECK(s < 20);  // bounded (the old renderer: 21 s and 3.4 GB, or the OOM killer)
    return e.what();
  } catch (const std::bad_alloc&) {
    FAIL("std::bad_alloc: the budget did not hold for " << tpl);
  }
  FAIL("rendered without an error: " << tpl);
  return "";
}

}  // namespace

TEST_CASE("attack: templates that grow a value are stopped by the value budget", "[attack]") {
  // Doubling by concatenation in a loop: 2^40 bytes were asked for.
  CHECK_THAT(refusal("{% set s = 'ab' %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}"
                     "{{ s | length }}"),
             Catch::Contains("larger than 16 MiB"));
  // Chained replace squares the size at each step.
  CHECK_THAT(
      refusal("{% set s = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' %}{% for i in range(10) %}"
              "{% set s = s | replace('a', s) %}{% endfor %}{{ s | length }}"),
      Catch::Contains("replace's output"));
  // Lists of lists of the same list.
  CHECK_THAT(refusal("{% set l = [1,2,3,4,5,6,7,8] %}{% for i in range(30) %}"
                     "{% set l = [l, l] %}{% endfor %}{{ l | length }}"),
             Catch::Contains("template:"));
  // join and dump over a list of 3 MiB strings (a var from a suite or a served message).
  const json big{{"s", std::string(3 << 20, 'x')}, {"n", std::string(3 << 20, '\n')}};
  CHECK_THAT(refusal("{{ [s,s,s,s] | join(s) | length }}", big), Catch::Contains("join's output"));
  CHECK_THAT(refusal("{{ [n] | dump | length }}", big), Catch::Contains("dump's output"));
  CHECK_THAT(refusal("{{ s | list | length }}", big), Catch::Contains("list's output"));
}

TEST_CASE("attack: depth, range and loops are bounded with an error, not silently", "[attack]") {
  CHECK_THAT(refusal("{% set l = [] %}{% for i in range(1000) %}{% set l = [l] %}{% endfor %}"
                     "{{ l | dump }}"),
             Catch::Contains("nested deeper than 64"));
  // range() used to stop quietly at 100,001 items.
  CHECK_THAT(refusal("{{ range(10000000) | length }}"), Catch::Contains("at most 1000000"));
  CHECK_THAT(
      refusal("{% for i in range(1000) %}{% for j in range(1001) %}{% endfor %}{% endfor %}"),
      Catch::Contains("1,000,000 loop iterations"));
  // Copying a big value over and over: the work budget.
  CHECK_THAT(refusal("{% for i in range(1000) %}{% set t = big %}{% endfor %}",
                     json{{"big", std::string(1 << 20, 'b')}}),
             Catch::Contains("more than 256 MiB"));
}

TEST_CASE("attack: templates inside the budget still render", "[attack]") {
  // The limits are not in the way of real prompts: 1,000,000 iterations, an 8 MiB value.
  CHECK(nunjucks::render("{% for i in range(1000) %}{% for j in range(998) %}{% endfor %}"
                         "{% endfor %}ok",
                         json::object()) == "ok");
  CHECK(nunjucks::render("{{ s | length }}", json{{"s", std::string(8 << 20, 's')}}) ==
        std::to_string(8 << 20));
  CHECK(nunjucks::render("{{ range(5) | join(',') }}", json::object()) == "0,1,2,3,4");
}
