// Attacks on `xops eval` through the outputs it judges (#26 finding 7): a model output built to
// exhaust a regex must make its case an error, never a pass of a `not-regex` guard.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/util/fs.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::test;

TEST_CASE("attack: an output that exhausts a regex errors its case instead of passing a guard",
          "[e2e][eval][attack]") {
  TempDir tmp;
  const std::string hostile = std::string(25, 'a') + std::string(5000, 'b');
  write_text(tmp / "s.yaml",
             "prompts: ['{{out}}']\nproviders: [echo]\ntests:\n"
             "  - vars: {out: '" +
                 hostile +
                 "'}\n"
                 "    assert: [{type: not-regex, value: '(.*a){20}'}]\n"
                 "  - vars: {out: 'aaab'}\n"
                 "    assert: [{type: not-regex, value: '(.*a){20}'}]\n");
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-cache", "--no-track"}, tmp.path());
  INFO(r.out << r.err);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["passed"] == 1);  // the short output: truly no match
  CHECK(j["errors"] == 1);  // the hostile one: undecided, so an error (it used to pass)
  CHECK(r.rc != 0);
  CHECK_THAT(r.out + r.err, Catch::Contains("could not be decided"));
}

TEST_CASE(
    "e2e: an assertion that cannot be graded errors its case, and the others run (as promptfoo)",
    "[e2e][eval]") {
  TempDir tmp;
  write_text(tmp / "s.yaml",
             "prompts: ['{{w}}']\nproviders: [echo]\ntests:\n"
             "  - vars: {w: hello}\n    assert: [{type: similar, value: hi}]\n"
             "  - vars: {w: hello}\n    assert: [{type: llm-rubric, value: polite}]\n"
             "  - vars: {w: hello}\n    assert: [{type: equals, value: hello}]\n");
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-cache", "--no-track"}, tmp.path(),
                    {{"OPENAI_API_KEY", ""}, {"XOPS_EVAL_JUDGE", ""}, {"XOPS_EVAL_EMBEDDING", ""}});
  INFO(r.out << r.err);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["passed"] == 1);  // the gradable case ran (the suite used to be refused whole)
  CHECK(j["errors"] == 2);
  CHECK_THAT(r.out, Catch::Contains("similar needs an embedding provider"));
  CHECK_THAT(r.out, Catch::Contains("llm-rubric needs a judge provider"));
}
