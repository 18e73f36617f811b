// xops's Nunjucks against real Nunjucks: tests/compat/nunjucks/expected.json holds what
// Nunjucks 3.2.4 (under Node, autoescape off as promptfoo sets it) rendered for each case in
// cases.json, recorded by tests/compat/nunjucks/record.js. The oracle is never our output.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/template/nunjucks.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

TEST_CASE("nunjucks: every recorded case renders as real Nunjucks renders it", "[unit][nunjucks]") {
  auto doc = nlohmann::json::parse(
      test::read_text(std::string(XOPS_SOURCE_DIR) + "/tests/compat/nunjucks/expected.json"));
  const auto& cases = doc.at("cases");
  REQUIRE(cases.size() >= 40);
  size_t agree = 0;
  for (const auto& c : cases) {
    auto tpl = c.at("t").get<std::string>();
    INFO(tpl << " with " << c.at("v").dump());
    REQUIRE(c.contains("out"));  // the recorded cases are all ones Nunjucks renders
    std::string mine;
    try {
      mine = nunjucks::render(tpl, c.at("v"), "case");
    } catch (const Error& e) {
      mine = std::string("error: ") + e.what();
    }
    CHECK(mine == c.at("out").get<std::string>());
    agree += mine == c.at("out").get<std::string>();
  }
  WARN(agree << " of " << cases.size() << " cases agree with nunjucks "
             << doc.at("nunjucks").get<std::string>());
}
