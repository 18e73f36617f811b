// `pairwise` judged fairly (#28), through the binary with scripted judges: each pair is judged
// in both orders and only agreeing verdicts count, so a judge with a position bias produces
// ties; a judge that prefers longer answers shows in the length columns; a garbled judge is an
// error, not a loss; a baseline compared with itself is skipped, not averaged in; and a
// baseline named by id answers under the candidate's config.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xops_server.hpp"

using namespace xops::test;

namespace {

// Judges: exec scripts given the judge prompt as $1.
const char* kAlwaysA = R"(echo '{"winner": "A", "reason": "first is best"}')";
const char* kLonger = R"(python3 - "$1" <<'PY'
import json, re, sys
p = sys.argv[1]
a = re.search(r"Answer A: (.*?)\n\nAnswer B: ", p, re.S).group(1)
b = re.search(r"\n\nAnswer B: (.*)\n$", p, re.S).group(1)
print(json.dumps({"winner": "A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie",
                  "reason": "longer"}))
PY)";
const char* kPrefersShort = R"(python3 - "$1" <<'PY'
import json, re, sys
p = sys.argv[1]
a = re.search(r"Answer A: (.*?)\n\nAnswer B: ", p, re.S).group(1)
print(json.dumps({"winner": "A" if a.startswith("short") else "B", "reason": "the short one"}))
PY)";
const char* kGarbled = R"(echo 'I think both are fine, really')";

nlohmann::json eval_json(const TempDir& tmp, const std::string& judge) {
  write_text(tmp / "judge.sh", judge);
  auto r = run_xops({"eval", "-c", "suite.yaml", "--json", "--no-cache", "--no-track"}, tmp.path());
  INFO(r.err);
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("results")) return j;
  }
  FAIL("no JSON summary: " << r.out.substr(0, 400));
  return {};
}

void write_suite(const TempDir& tmp) {
  // The candidate answers "short N"; the baseline a longer text.
  write_text(tmp / "cand.sh", "printf 'short %s' \"$(echo \"$1\" | tr -dc 0-9)\"\n");
  write_text(tmp / "base.sh", "printf 'a much longer baseline answer to %s' \"$1\"\n");
  write_text(tmp / "suite.yaml", R"(prompts: ['question {{n}}']
providers:
  - {id: 'exec:sh cand.sh', label: new}
  - {id: 'exec:sh base.sh', label: prev}
defaultTest:
  options: {provider: 'exec:sh judge.sh'}
  assert:
    - type: pairwise
      baseline: prev
tests:
  - vars: {n: '1'}
  - vars: {n: '2'}
  - vars: {n: '3'}
  - vars: {n: '4'}
)");
}

const nlohmann::json& pairwise_row(const nlohmann::json& j) {
  REQUIRE(j["pairwise"].size() == 1);  // new vs prev only: prev vs prev is skipped
  const auto& p = j["pairwise"][0];
  CHECK(p["provider"] == "new");
  CHECK(p["baseline"] == "prev");
  return p;
}

}  // namespace

TEST_CASE("pairwise: a judge that always answers A gives ties, not wins", "[e2e][eval]") {
  TempDir tmp;
  write_suite(tmp);
  auto j = eval_json(tmp, kAlwaysA);
  const auto& p = pairwise_row(j);
  CHECK(p["wins"] == 0);
  CHECK(p["ties"] == 4);
  CHECK(p["losses"] == 0);
  CHECK(p["win_rate"] == 0.5);
  CHECK(p["sign_test_p"] == 1.0);
  for (const auto& c : j["results"]) {
    const auto& a = c["asserts"][0];
    if (c["provider"] == "prev") {  // the baseline's own cases: skipped, not a self-comparison
      CHECK(a["skipped"] == true);
      CHECK(c["named_scores"].empty());
      continue;
    }
    CHECK(a["detail"]["outcome"] == "tie");
    CHECK(a["detail"]["verdicts"][0]["winner"] == "A");
    CHECK(a["detail"]["verdicts"][1]["winner"] == "A");
    CHECK(a["detail"]["baseline_output"].get<std::string>().rfind("a much longer", 0) == 0);
  }
}

TEST_CASE("pairwise: a judge that prefers longer answers shows in the length columns",
          "[e2e][eval]") {
  TempDir tmp;
  write_suite(tmp);
  auto j = eval_json(tmp, kLonger);
  const auto& p = pairwise_row(j);
  CHECK(p["losses"] == 4);  // the longer baseline wins in both orders every time
  CHECK(p["win_rate"] == 0.0);
  CHECK(p["mean_candidate_chars"].get<double>() < p["mean_baseline_chars"].get<double>());
  CHECK(p["sign_test_p"].get<double>() == Approx(0.125));  // 2 * 0.5^4
  auto ci = p["win_rate_95"];
  CHECK(ci[0].get<double>() == 0.0);
  CHECK(ci[1].get<double>() == Approx(0.4899).epsilon(0.001));  // Wilson, n = 4
  CHECK(j["failed"] == 4);
}

TEST_CASE("pairwise: a consistent judge's wins count, a garbled one is an error", "[e2e][eval]") {
  TempDir tmp;
  write_suite(tmp);
  auto j = eval_json(tmp, kPrefersShort);
  const auto& p = pairwise_row(j);
  CHECK(p["wins"] == 4);
  CHECK(p["win_rate"] == 1.0);
  auto g = eval_json(tmp, kGarbled);
  CHECK(g["pairwise"].empty());  // nothing judged: nothing counted as a loss
  CHECK(g["errors"] == 4);
  for (const auto& c : g["results"])
    if (c["provider"] == "new")
      CHECK_THAT(c["error"].get<std::string>(), Catch::Contains("did not name a winner"));
}

TEST_CASE("pairwise: a baseline named by id answers under the candidate's config", "[e2e][eval]") {
  TempDir tmp;
  write_text(tmp / "judge.sh", kAlwaysA);
  // Both record the options they were given (promptfoo's exec contract: $2 is {config}).
  write_text(tmp / "cand.sh", "printf '%s\\n' \"$2\" >> cand.log; printf 'short'\n");
  write_text(tmp / "base.sh", "printf '%s\\n' \"$2\" >> base.log; printf 'long answer'\n");
  write_text(tmp / "suite.yaml", R"(prompts: ['q {{n}}']
providers:
  - id: 'exec:sh cand.sh'
    label: new
    config: {max_tokens: 8, stop: ['\n'], temperature: 0}
defaultTest:
  options: {provider: 'exec:sh judge.sh'}
  assert: [{type: pairwise, baseline: 'exec:sh base.sh'}]
tests:
  - vars: {n: '1'}
  - vars: {n: '2'}
)");
  auto r = run_xops({"eval", "-c", "suite.yaml", "--no-cache", "--no-track"}, tmp.path());
  INFO(r.out << r.err);
  CHECK(r.rc == 0);
  auto cand = read_text(tmp / "cand.log"), base = read_text(tmp / "base.log");
  CHECK(!cand.empty());
  CHECK(cand == base);
  CHECK_THAT(base, Catch::Contains("\"max_tokens\":8"));
}

TEST_CASE("select-best: a suite that gives each test one output is refused before it runs",
          "[e2e][eval]") {
  TempDir tmp;
  write_text(tmp / "suite.yaml", R"(prompts: ['q']
providers: ['exec:echo hi']
tests:
  - assert: [{type: select-best, value: best, provider: 'exec:echo 0'}]
)");
  auto r = run_xops({"eval", "-c", "suite.yaml", "--no-cache", "--no-track"}, tmp.path());
  CHECK(r.rc == 2);
  CHECK_THAT(r.err, Catch::Contains("compare a test's outputs"));
}

TEST_CASE("eval --baseline: regressions and fixes by case, exit 4 with --fail-on-regression",
          "[e2e][eval]") {
  TempDir tmp;
  // The candidate knows 1 and 2, the baseline 1 and 3.
  write_text(tmp / "cand.sh",
             "case \"$1\" in *1*) echo one;; *2*) echo two;; *) echo '?';; esac\n");
  write_text(tmp / "base.sh",
             "case \"$1\" in *1*) echo one;; *3*) echo three;; *) echo '?';; esac\n");
  write_text(tmp / "judge.sh", kPrefersShort);
  write_text(tmp / "suite.yaml", R"(prompts: ['number {{n}}']
providers: ['exec:sh cand.sh']
tests:
  - {description: one, vars: {n: '1'}, assert: [{type: equals, value: one}]}
  - {description: two, vars: {n: '2'}, assert: [{type: equals, value: two}]}
  - {description: three, vars: {n: '3'}, assert: [{type: equals, value: three}]}
)");
  auto r = run_xops({"eval", "-c", "suite.yaml", "--baseline", "exec:sh base.sh", "--json",
                     "--no-cache", "--no-track", "--judge", "exec:sh judge.sh"},
                    tmp.path());
  INFO(r.err);
  nlohmann::json j;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (auto x = nlohmann::json::parse(line, nullptr, false);
        x.is_object() && x.contains("results"))
      j = x;
  REQUIRE(j.is_object());
  REQUIRE(j["against_baseline"].size() == 1);
  const auto& d = j["against_baseline"][0];
  CHECK(d["provider"] == "exec:sh cand.sh");
  CHECK(d["baseline"] == "exec:sh base.sh");
  CHECK(d["compared"] == 3);
  REQUIRE(d["regressions"].size() == 1);
  CHECK(d["regressions"][0]["description"] == "three");
  REQUIRE(d["fixes"].size() == 1);
  CHECK(d["fixes"][0]["description"] == "two");
  // With a judge, every pair is also judged (weight 0: the assertions still decide).
  REQUIRE(j["pairwise"].size() == 1);
  CHECK(j["pairwise"][0]["wins"].get<int>() + j["pairwise"][0]["ties"].get<int>() +
            j["pairwise"][0]["losses"].get<int>() ==
        3);
  CHECK(j["passed"] == 4);  // cand 1, 2; base 1, 3
  auto gate = run_xops({"eval", "-c", "suite.yaml", "--baseline", "exec:sh base.sh",
                        "--fail-on-regression", "--no-cache", "--no-track"},
                       tmp.path());
  CHECK(gate.rc == 4);
  CHECK_THAT(gate.out + gate.err, Catch::Contains("regressed three"));
  CHECK_THAT(gate.err, Catch::Contains("1 regression(s)"));

  // The HTML report side by side: the baseline's column first, each test a row classed as
  // what happened to it (the page filters on the class), the judge's verdict in the cell.
  write_text(tmp / "knows.sh", R"(python3 - "$1" <<'PY'
import json, re, sys
p = sys.argv[1]
a = re.search(r"Answer A: (.*?)\n\nAnswer B: ", p, re.S).group(1).strip()
b = re.search(r"\n\nAnswer B: (.*)\n$", p, re.S).group(1).strip()
w = "tie" if (a == "?") == (b == "?") else ("B" if a == "?" else "A")
print(json.dumps({"winner": w, "reason": "the one that knows"}))
PY
)");
  auto h = run_xops({"eval", "-c", "suite.yaml", "--baseline", "exec:sh base.sh", "--no-cache",
                     "--no-track", "--judge", "exec:sh knows.sh", "-o", "report.html"},
                    tmp.path());
  INFO(h.err);
  REQUIRE(h.rc == 4);  // "three" fails on the candidate: the report is written all the same
  auto html = read_text(tmp / "report.html");
  CHECK_THAT(html, Catch::Contains("<table class=\"matrix\"><tr><th>test</th><th>exec:sh base.sh "
                                   "(baseline)</th><th>exec:sh cand.sh</th></tr>"));
  CHECK_THAT(html, Catch::Contains("<tr class=\"row regression loss\"><td>three [number {{n}}]"));
  CHECK_THAT(html, Catch::Contains("<tr class=\"row fix\"><td>two [number {{n}}]"));
  CHECK_THAT(html, Catch::Contains("<tr class=\"row \"><td>one [number {{n}}]"));
  CHECK_THAT(html, Catch::Contains("<div class=\"verdict win\">win against exec:sh base.sh"));
  CHECK_THAT(html, Catch::Contains("as A: B — the one that knows"));  // both orders shown
  CHECK_THAT(html, Catch::Contains("#mx-reg:checked~table.matrix tr.row:not(.regression)"));
}

TEST_CASE("eval --baseline: a version compared with itself is refused", "[e2e][eval]") {
  TempDir tmp;
  write_text(tmp / "suite.yaml", R"(prompts: ['q']
providers: ['exec:echo hi']
tests: [{assert: [{type: contains, value: hi}]}]
)");
  auto same = run_xops({"eval", "-c", "suite.yaml", "--baseline", "exec:echo hi", "--no-track"},
                       tmp.path());
  CHECK(same.rc == 2);
  CHECK_THAT(same.err, Catch::Contains("with itself"));
  // The same model directory by another spelling.
  auto model = model_dir();
  auto again =
      run_xops({"eval", "-c", "suite.yaml", "--model", model, "--baseline",
                model + "/../" + std::filesystem::path(model).filename().string(), "--no-track"},
               tmp.path());
  CHECK(again.rc == 2);
  CHECK_THAT(again.err, Catch::Contains("with itself"));
}

TEST_CASE("pairwise: the win rate split by metric and by test metadata", "[e2e][eval]") {
  TempDir tmp;
  // The candidate answers odd questions tersely and even ones at length; the judge prefers
  // the longer answer: it wins the even ones, loses the odd ones.
  write_text(tmp / "cand.sh",
             "case \"$1\" in *1*|*3*) printf x;; *) printf 'a much much longer answer';; esac\n");
  write_text(tmp / "base.sh", "printf 'a medium answer'\n");
  write_text(tmp / "suite.yaml", R"(prompts: ['question {{n}}']
providers:
  - {id: 'exec:sh cand.sh', label: new}
  - {id: 'exec:sh base.sh', label: prev}
defaultTest:
  options: {provider: 'exec:sh judge.sh'}
  assert: [{type: pairwise, baseline: prev, metric: quality}]
tests:
  - {vars: {n: '1'}, metadata: {parity: odd}}
  - {vars: {n: '2'}, metadata: {parity: even}}
  - {vars: {n: '3'}, metadata: {parity: odd}}
  - {vars: {n: '4'}, metadata: {parity: even}}
)");
  auto j = eval_json(tmp, kLonger);
  const auto& p = pairwise_row(j);
  CHECK(p["wins"] == 2);
  CHECK(p["losses"] == 2);
  const auto& g = p["by_group"];
  CHECK(g["parity=even"]["wins"] == 2);
  CHECK(g["parity=even"]["win_rate"] == 1.0);
  CHECK(g["parity=odd"]["losses"] == 2);
  CHECK(g["parity=odd"]["win_rate"] == 0.0);
  CHECK(g["metric:quality"]["win_rate"] == 0.5);
  CHECK(g["metric:quality"]["wins"] == 2);
}
