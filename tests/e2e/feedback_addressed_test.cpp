// `feedback-addressed` (#28): logged answers users complained about, with their comments, become
// through `xops eval --from-logs --max-score S` cases that a judge scores on whether a new
// version takes the comment into account. The log is written as `xops serve` writes it (the
// same InteractionLog), the rest runs through the binary; the judge is a script that reads
// its prompt's sections, so a judge shown the wrong text (no comment, no earlier answer)
// fails the test instead of agreeing.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/db/database.hpp"
#include "core/tracking/interaction_log.hpp"
#include "tests/support/process.hpp"
#include "tests/support/project_db.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::test;
using nlohmann::json;

namespace {

// Passes when the new answer contains the word the user put in quotes; insists on seeing the
// earlier answer and the comment.
const char* kJudge = R"JUDGE(python3 - "$1" <<'PY'
import json, re, sys
p = sys.argv[1]
prev = re.search(r"\n\nEarlier answer: (.*?)\n\nUser's comment: ", p, re.S)
comment = re.search(r"\n\nUser's comment: (.*?)\n\nNew answer: ", p, re.S)
new = re.search(r"\n\nNew answer: (.*)\n$", p, re.S)
if not (prev and comment and new and prev.group(1)):
    print("I was not shown the earlier answer and the comment")
    sys.exit(0)
want = re.search(r'"([^"]+)"', comment.group(1)).group(1)
ok = want in new.group(1)
print(json.dumps({"pass": ok, "reason": "%s %r (earlier %r)" % (
    "says" if ok else "still lacks", want, prev.group(1))}))
PY
)JUDGE";

}  // namespace

TEST_CASE("feedback-addressed: a complaint the new version fixes passes, one it ignores fails",
          "[e2e][eval]") {
  TempDir tmp;
  auto p = tmp / "p";
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  {
    InteractionLog log(project_db(p), 0);
    Interaction a;
    a.route = "completions", a.model = "m", a.params = "{}", a.finish_reason = "stop";
    a.id = "cmpl-fr", a.prompt = "Capital of France?", a.output = "Lyon", a.created_ms = 1000;
    log.record(a);
    a.id = "cmpl-it", a.prompt = "Capital of Italy?", a.output = "Milan", a.created_ms = 2000;
    log.record(a);
    a.id = "cmpl-es", a.prompt = "Capital of Spain?", a.output = "Madrid", a.created_ms = 3000;
    log.record(a);
    REQUIRE(log.add_feedback("cmpl-fr", {0.0, "wrong: it is \"Paris\"", 0}));
    REQUIRE(log.add_feedback("cmpl-it", {0.0, "no, \"Rome\"", 0}));
    REQUIRE(log.add_feedback("cmpl-es", {1.0, "right", 0}));  // not a complaint
  }
  auto logs = run_xops({"eval", "--from-logs", "--max-score", "0.2", "-o", "complaints.jsonl"}, p);
  INFO(logs.err);
  REQUIRE(logs.rc == 0);
  std::istringstream lines(read_text(p / "complaints.jsonl"));
  std::vector<json> cases;
  for (std::string line; std::getline(lines, line);) cases.push_back(json::parse(line));
  REQUIRE(cases.size() == 2);
  CHECK(cases[0]["assert"][1] ==
        json({{"type", "feedback-addressed"},
              {"value", {{"comment", "wrong: it is \"Paris\""}, {"previous", "Lyon"}}}}));

  // The new version fixes France and still answers Milan for Italy.
  write_text(p / "new.sh",
             "case \"$1\" in *France*) printf Paris;; *Italy*) printf Milan;; esac\n");
  write_text(p / "judge.sh", kJudge);
  write_text(p / "suite.yaml", R"(prompts: ['{{prompt}}']
providers: ['exec:sh new.sh']
defaultTest: {options: {provider: 'exec:sh judge.sh'}}
tests: file://complaints.jsonl
)");
  auto r = run_xops({"eval", "suite.yaml", "--no-cache", "--no-track", "-o", "out.json"}, p);
  INFO(r.err);
  CHECK(r.rc == 4);  // one complaint not addressed
  auto out = json::parse(read_text(p / "out.json"));
  REQUIRE(out["results"].size() == 2);
  std::map<std::string, json> by_prompt;
  for (const auto& c : out["results"]) by_prompt[c["vars"]["prompt"]] = c;
  const auto& fr = by_prompt.at("Capital of France?");
  const auto& it = by_prompt.at("Capital of Italy?");
  CHECK(fr["pass"] == true);
  CHECK(it["pass"] == false);
  const auto& fr_fa = fr["asserts"][1];
  CHECK(fr_fa["type"] == "feedback-addressed");
  CHECK(fr_fa["pass"] == true);
  CHECK_THAT(fr_fa["reason"].get<std::string>(), Catch::Contains("says 'Paris' (earlier 'Lyon')"));
  CHECK(fr_fa["detail"]["previous_output"] == "Lyon");
  const auto& it_fa = it["asserts"][1];
  CHECK(it_fa["pass"] == false);
  CHECK_THAT(it_fa["reason"].get<std::string>(), Catch::Contains("still lacks 'Rome'"));
  CHECK(out["summary"]["passed"] == 1);

  // A judge that does not answer the question is an error, not a verdict either way.
  write_text(p / "judge.sh", "echo 'looks fine to me'\n");
  auto garbled = run_xops({"eval", "suite.yaml", "--no-cache", "--no-track", "-o", "g.json"}, p);
  CHECK(garbled.rc == 1);
  auto g = json::parse(read_text(p / "g.json"));
  CHECK(g["summary"]["errors"] == 2);
}

TEST_CASE("feedback-addressed: its value is checked when the suite loads", "[e2e][eval]") {
  TempDir tmp;
  write_text(tmp / "suite.yaml", R"(prompts: ['q']
providers: ['exec:echo hi']
tests:
  - assert: [{type: feedback-addressed, value: {comment: too long, previuos: x}}]
)");
  auto r = run_xops({"eval", "suite.yaml", "--no-track", "--judge", "exec:echo"}, tmp.path());
  CHECK(r.rc == 1);  // a suite that does not load, as every other suite error
  CHECK_THAT(r.err, Catch::Contains("suite.yaml:4"));
  CHECK_THAT(r.err, Catch::Contains("{comment: TEXT, previous: TEXT}"));
}
