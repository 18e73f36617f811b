// The `pairwise` promotion gate (#28): a version reaches a stage only when an eval of exactly
// its content against exactly the baseline's content judged it no worse than asked (win rate
// of pairs judged in both orders, regressions). Real git, real tracking, two real models
// (the golden GPT-2 and Llama checkpoints as v0.0.1 and v0.0.2 of one artifact), a scripted
// judge that prefers the longer answer (the Llama's 6 tokens are longer on every prompt here:
// the first eval below reads the answers and checks it).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/tracking/interaction_log.hpp"
#include "tests/support/process.hpp"
#include "tests/support/project_db.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xops_server.hpp"

using namespace xops::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kLongerJudge = R"(python3 - "$1" <<'PY'
import json, re, sys
p = sys.argv[1]
a = re.search(r"Answer A: (.*?)\n\nAnswer B: ", p, re.S).group(1)
b = re.search(r"\n\nAnswer B: (.*)\n$", p, re.S).group(1)
print(json.dumps({"winner": "A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie",
                  "reason": "%d vs %d characters" % (len(a), len(b))}))
PY
)";

struct Project {
  TempDir tmp;
  fs::path p;
  explicit Project(const std::string& gates) : p(tmp / "p") {
    REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc ==
            0);
    fs::create_directories(p / "models");
    fs::create_directories(p / "evals");
    write_text(p / "evals/judge.sh", kLongerJudge);
    write_text(p / "evals/cmp.yaml", R"(prompts: ['{{q}}']
providers:
  - {id: models/m, config: {max_tokens: 6}}
defaultTest:
  options: {provider: 'exec:sh judge.sh'}
  assert: [{type: regex, value: '^'}]
tests:
  - vars: {q: 'Hello'}
  - vars: {q: 'The cat'}
  - vars: {q: 'Once upon'}
  - vars: {q: 'It was'}
)");
    write_text(p / "xops.yaml",
               "name: p\nstages: [dev, staging, prod]\nartifacts:\n"
               "  m: {path: models/m, type: model}\ngates:\n" +
                   gates);
    version("gpt2-tiny", "v1");
    version("llama-tiny", "v2");
  }
  // The golden checkpoint `name` as the next version of m.
  void version(const std::string& name, const std::string& msg) {
    fs::remove_all(p / "models/m");
    fs::copy(shared_dir() / "golden/models" / name, p / "models/m", fs::copy_options::recursive);
    REQUIRE(x({"-q", "track", "add", "models/m"}).rc == 0);
    REQUIRE(sh("git add -A && git commit -qm " + msg, p).rc == 0);
    REQUIRE(x({"-q", "promote", "register", "m"}).rc == 0);
  }
  ProcResult x(const std::vector<std::string>& args) const { return run_xops(args, p); }
  json promote(const std::vector<std::string>& args, int want) const {
    std::vector<std::string> a = {"--json", "promote"};
    a.insert(a.end(), args.begin(), args.end());
    auto r = x(a);
    INFO(r.err);
    CHECK(r.rc == want);
    return json::parse(r.out.substr(0, r.out.find('\n')));
  }
};

}  // namespace

TEST_CASE(
    "pairwise gate: the better version passes, the worse one is refused with the roles swapped",
    "[e2e][promote]") {
  Project pr(R"(  staging:
    - pairwise: {suite: evals/cmp.yaml, baseline: m@v0.0.2, min_win_rate: 0.5}
  prod:
    - pairwise: {suite: evals/cmp.yaml, baseline: prod, min_win_rate: 0.5, max_regressions: 0}
)");
  // The first version in prod has nothing to be compared with, and says so.
  auto first = pr.promote({"m@v0.0.1", "--to", "prod"}, 0);
  CHECK(first["gates"][0]["passed"] == true);
  CHECK_THAT(first["gates"][0]["reason"].get<std::string>(),
             Catch::Contains("no version of m is in prod yet"));

  // No comparison recorded: refused, and the hint is the command that records it.
  auto none = pr.x({"promote", "m@v0.0.2", "--to", "prod"});
  CHECK(none.rc == 4);
  CHECK_THAT(none.err,
             Catch::Contains("xops eval evals/cmp.yaml --model m@v0.0.2 --baseline m@v0.0.1"));

  // The comparison by hand, as the hint says: read the answers, so the judge's verdicts are
  // checked against the lengths, not taken on trust.
  auto ev = pr.x({"eval", "evals/cmp.yaml", "--model", "m@v0.0.2", "--baseline", "m@v0.0.1", "-o",
                  "cmp.json"});
  REQUIRE(ev.rc == 0);
  auto out = json::parse(read_text(pr.p / "cmp.json"));
  std::map<std::string, std::map<std::string, size_t>> len;  // test -> provider -> chars
  for (const auto& r : out["results"])
    len[r["vars"]["q"]][r["provider"]] = r["output"].get<std::string>().size();
  REQUIRE(len.size() == 4);
  for (const auto& [q, by] : len) {
    INFO(q);
    CHECK(by.at("m@v0.0.2") > by.at("m@v0.0.1"));
  }

  // Promoted on that evidence; the gate names both versions, their contents and the run.
  auto ok = pr.promote({"m@v0.0.2", "--to", "prod"}, 0);
  const auto& g = ok["gates"][0];
  CHECK(g["kind"] == "pairwise");
  CHECK(g["passed"] == true);
  CHECK(g["pairwise"]["baseline"] == "m@v0.0.1");
  CHECK(g["pairwise"]["win_rate"] == 1.0);
  CHECK(g["pairwise"]["pairs"] == 4);
  CHECK(g["pairwise"]["regressions"] == 0);
  CHECK(g["pairwise"]["compared"] == 4);
  CHECK(g["pairwise"]["sign_test_p"] == Approx(0.125));  // 4 of 4: 2 * 0.5^4
  CHECK(g["pairwise"]["win_rate_95"][0].get<double>() == Approx(0.510).epsilon(0.01));
  auto v1 = pr.x({"--json", "promote", "show", "m@v0.0.1"});
  REQUIRE(v1.rc == 0);
  CHECK(g["pairwise"]["baseline_sha256"] == json::parse(v1.out)["content_sha256"]);
  CHECK(g["run"].is_string());
  CHECK(ok["content_sha256"] != g["pairwise"]["baseline_sha256"]);

  // Re-checked once it holds prod (CI does, on the pushed tag): "prod" is now the version that
  // held it before, not itself.
  auto again = pr.promote({"m@v0.0.2", "--to", "prod", "--dry-run"}, 0);
  CHECK(again["gates"][0]["pairwise"]["baseline"] == "m@v0.0.1");
  CHECK(again["gates"][0]["run"] == g["run"]);

  // The roles swapped: v0.0.1 against v0.0.2 loses every pair and is refused.
  auto swapped = pr.promote({"m@v0.0.1", "--to", "staging", "--run-evals"}, 4);
  const auto& s = swapped["gates"][0];
  CHECK(s["passed"] == false);
  CHECK(s["pairwise"]["win_rate"] == 0.0);
  CHECK(s["pairwise"]["baseline"] == "m@v0.0.2");
  CHECK_THAT(s["reason"].get<std::string>(), Catch::Contains("win rate 0.000"));
  CHECK(sh("git tag -l 'm#staging*'", pr.p).out.empty());
}

TEST_CASE("pairwise gate: a version compared with itself is refused, a regression fails the gate",
          "[e2e][promote]") {
  Project pr(R"(  staging:
    - pairwise: {suite: evals/reg.yaml, baseline: m@v0.0.1, max_regressions: 0}
  prod:
    - pairwise: {suite: evals/cmp.yaml, baseline: m@v0.0.2, min_win_rate: 0.5}
)");
  // v0.0.1 (GPT-2) answers "It was" with " flirt flirt ..."; v0.0.2 (Llama) does not.
  write_text(pr.p / "evals/reg.yaml", R"(prompts: ['{{q}}']
providers:
  - {id: models/m, config: {max_tokens: 6}}
tests:
  - {description: hello, vars: {q: 'Hello'}, assert: [{type: regex, value: '^'}]}
  - {description: flirt, vars: {q: 'It was'}, assert: [{type: contains, value: flirt}]}
)");
  REQUIRE(sh("git add -A && git commit -qm reg", pr.p).rc == 0);
  auto self = pr.x({"promote", "m@v0.0.2", "--to", "prod", "--run-evals"});
  CHECK(self.rc == 3);
  CHECK_THAT(self.err, Catch::Contains("comparison with itself"));
  auto reg = pr.promote({"m@v0.0.2", "--to", "staging", "--run-evals"}, 4);
  const auto& g = reg["gates"][0];
  CHECK(g["pairwise"]["regressions"] == 1);
  CHECK(g["pairwise"]["compared"] == 2);
  CHECK(g["pairwise"]["win_rate"].is_null());  // no judge: regressions only
  CHECK_THAT(g["reason"].get<std::string>(),
             Catch::Contains("1 regression(s) against m@v0.0.1 > 0 allowed"));
  CHECK(sh("git tag -l 'm#*'", pr.p).out.empty());

  // `--baseline NAME#STAGE` when the candidate holds that stage: refused, pointing at ~1.
  REQUIRE(pr.x({"-q", "promote", "m@v0.0.1", "--to", "dev"}).rc == 0);
  REQUIRE(pr.x({"-q", "promote", "m@v0.0.2", "--to", "dev"}).rc == 0);
  auto same = pr.x({"eval", "evals/reg.yaml", "--model", "m@v0.0.2", "--baseline", "m#dev"});
  CHECK(same.rc == 2);
  CHECK_THAT(same.err, Catch::Contains("m#dev~1 is the version that held the stage before it"));
  auto prev = pr.x({"eval", "evals/reg.yaml", "--model", "m@v0.0.2", "--baseline", "m#dev~1",
                    "--no-track", "-o", "prev.json"});
  CHECK(prev.rc == 4);  // v0.0.2 fails "flirt": the suite (no thresholds) wants every case
  auto j = json::parse(read_text(pr.p / "prev.json"));
  REQUIRE(j["summary"]["against_baseline"].size() == 1);
  CHECK(j["summary"]["against_baseline"][0]["baseline"] == "m#dev~1");
  CHECK(j["summary"]["against_baseline"][0]["regressions"][0]["description"] == "flirt");
}

TEST_CASE("online_pairwise gate: judged shadow traffic promotes the candidate that won it",
          "[e2e][promote][serve]") {
  Project pr(R"(  staging:
    - online_pairwise: {min_win_rate: 0.5, min_pairs: 4}
  prod:
    - online_pairwise: {min_win_rate: 0.5, min_pairs: 5}
)");
  {
    // v0.0.1 serves; v0.0.2 shadows every request after it is answered.
    Server s(pr.tmp.path(), {"m@v0.0.1", "--shadow", "m@v0.0.2"}, {}, pr.p);
    for (const char* q : {"Hello", "The cat", "Once upon", "It was"}) {
      auto r = s.post("/v1/completions",
                      json({{"prompt", q}, {"max_tokens", 6}, {"temperature", 0}}).dump());
      REQUIRE(r.status == 200);
    }
    for (int i = 0; i < 200; ++i) {  // the shadows finish after the answers
      if (s.get("/metrics").body.find("xops_shadow_started_total 4") != std::string::npos) {
        auto db = project_db(pr.p);
        size_t shadows = 0;
        for (const auto& l : xops::read_interactions(db, 0))
          shadows += l.interaction.arm == "shadow";
        if (shadows == 4) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(s.stop() == 0);
  }
  auto none = pr.x({"promote", "m@v0.0.2", "--to", "staging"});
  CHECK(none.rc == 4);
  CHECK_THAT(none.out, Catch::Contains("no judged live traffic of exactly this content"));

  auto judged =
      pr.x({"--json", "eval", "--from-logs", "--pairwise", "--judge", "exec:sh evals/judge.sh"});
  INFO(judged.err);
  REQUIRE(judged.rc == 0);
  auto j = json::parse(judged.out);
  REQUIRE(j["pairwise"].size() == 1);
  const auto& g = j["pairwise"][0];
  CHECK(g["candidate"] == "m@v0.0.2");
  CHECK(g["served"] == "m@v0.0.1");
  CHECK(g["wins"] == 4);  // the Llama's answers are the longer ones (see the first test)
  CHECK(g["pairs"].size() == 4);
  CHECK(g["pairs"][0]["verdicts"].size() == 2);

  auto ok = pr.promote({"m@v0.0.2", "--to", "staging"}, 0);
  CHECK(ok["gates"][0]["kind"] == "online_pairwise");
  CHECK(ok["gates"][0]["run"] == g["run"]);
  CHECK(ok["gates"][0]["baseline_version"] == "m@v0.0.1");
  // Too few pairs for prod; and the served version has no judged traffic as a candidate.
  auto few = pr.promote({"m@v0.0.2", "--to", "prod"}, 4);
  CHECK_THAT(few["gates"][0]["reason"].get<std::string>(),
             Catch::Contains("4 judged pair(s) < 5 required"));
  auto served = pr.promote({"m@v0.0.1", "--to", "staging"}, 4);
  CHECK(served["gates"][0]["passed"] == false);
}

TEST_CASE("eval --model A --model B --baseline C: one row per candidate, and a gate reads its own",
          "[e2e][promote]") {
  Project pr(R"(  staging:
    - pairwise: {suite: evals/cmp.yaml, baseline: m@v0.0.1, min_win_rate: 0.75}
)");
  // Two candidates against v0.0.1: v0.0.2 (the Llama) and the GPT-2 checkpoint v0.0.1 was made
  // of (the same answers as the baseline: every pair a tie).
  auto gpt2 = (shared_dir() / "golden/models/gpt2-tiny").string();
  auto r = pr.x({"eval", "evals/cmp.yaml", "--model", "m@v0.0.2", "--model", gpt2, "--baseline",
                 "m@v0.0.1", "-o", "multi.json"});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("m@v0.0.2"));
  auto j = json::parse(read_text(pr.p / "multi.json"));
  std::map<std::string, json> rows;
  for (const auto& p : j["summary"]["pairwise"]) rows[p["provider"]] = p;
  REQUIRE(rows.size() == 2);
  CHECK(rows.at("m@v0.0.2")["win_rate"] == 1.0);
  CHECK(rows.at(gpt2)["win_rate"] == 0.5);
  CHECK(rows.at(gpt2)["ties"] == 4);
  CHECK(j["summary"]["cases"] == 12);  // 4 tests x (2 candidates + the baseline)
  // The gate finds this run for v0.0.2 and reads v0.0.2's row, not the last one logged.
  auto ok = pr.promote({"m@v0.0.2", "--to", "staging"}, 0);
  CHECK(ok["gates"][0]["pairwise"]["win_rate"] == 1.0);
  CHECK(ok["gates"][0]["pairwise"]["pairs"] == 4);
  // The same version twice is one column, not two.
  auto twice = pr.x({"eval", "evals/cmp.yaml", "--model", "m@v0.0.2", "--model", "m@v0.0.2"});
  CHECK(twice.rc == 2);
  CHECK_THAT(twice.err, Catch::Contains("given twice"));
}
