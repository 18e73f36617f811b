// Use cases called without the CLI: promotion (its gates run evaluate() directly) and a
// tracked command (the run, the child's XOPS_* environment, the metrics file). Real git, the
// real tracking database, real child processes.
#include <catch2/catch.hpp>

#include <map>

#include "core/app/evaluate.hpp"
#include "core/app/promotion.hpp"
#include "core/app/tracked_command.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/resolve.hpp"
#include "core/tracking/evidence.hpp"
#include "core/tracking/tracker.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::test;
namespace fs = std::filesystem;

namespace {

// A project whose prompt artifact `greet` (committed to git) is registered as v0.0.1, with a
// prod gate on a suite whose provider echoes the prompt it is sent.
fs::path prompt_project(const TempDir& tmp, const std::string& prompt, const std::string& check) {
  auto p = tmp / "p";
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  fs::create_directories(p / "prompts");
  fs::create_directories(p / "evals");
  write_text(p / "prompts/greet.txt", prompt);
  write_text(p / "evals/echo.sh", "printf '%s' \"$1\"\n");
  write_text(p / "evals/greet.yaml",
             "prompts: [file://../prompts/greet.txt]\nproviders: [\"exec:sh echo.sh\"]\ntests:\n"
             "  - vars: {name: Ada}\n    assert: [{type: icontains, value: " +
                 check + "}]\n");
  write_text(p / "xops.yaml",
             "name: p\nartifacts:\n  greet: {path: prompts/greet.txt, type: prompt}\n"
             "gates:\n  prod:\n    - {eval: evals/greet.yaml, min_pass_rate: 1.0}\n");
  REQUIRE(sh("git add -A && git commit -qm prompt", p).rc == 0);
  REQUIRE(run_xops({"-q", "promote", "register", "greet"}, p).rc == 0);
  return p;
}

Workspace open_ws(const fs::path& p) {
  std::vector<std::string> warnings;
  return Workspace::open(p, &warnings);
}

}  // namespace

TEST_CASE("app: promote() runs a missing gate's eval through evaluate() and writes the tag",
          "[unit][app]") {
  TempDir tmp;
  auto p = prompt_project(tmp, "Hello {{name}}", "hello");
  auto ws = open_ws(p);
  app::PromotionRequest req;
  req.ref = "greet@v0.0.1";
  req.stage = "prod";
  req.run_evals = true;
  std::vector<std::string> infos;
  size_t evals = 0, cases = 0;
  app::PromotionObserver obs;
  obs.on_info = [&](const std::string& s) { infos.push_back(s); };
  obs.eval.on_case = [&](const CaseResult&) { ++cases; };
  obs.on_eval_done = [&](const EvalOutcome& o) {
    ++evals;
    CHECK(o.summary.pass_rate() == 1.0);
  };
  auto o = app::promote(ws, req, obs);
  CHECK(evals == 1);
  CHECK(cases == 1);
  REQUIRE(o.plan.gates.size() == 1);
  CHECK(o.plan.gates[0].passed);
  CHECK(o.plan.allowed);
  CHECK(o.written);
  CHECK(sh("git tag -l 'greet#prod#*'", p).out == "greet#prod#1\n");
  // The gate's evidence is the eval run evaluate() recorded for exactly this content.
  auto tracker = Tracker::for_workspace(ws);
  auto eval_run = tracker.get(o.plan.gates[0].run_id);
  CHECK(eval_run.kind == "eval");
  CHECK(evidence::find_eval_of({eval_run}, o.plan.gates[0].suite_hash, o.plan.content_hash) !=
        nullptr);
  auto record = tracker.get(o.run_id);
  CHECK(record.kind == "promote");
  CHECK(record.status == "finished");
  REQUIRE(!infos.empty());
  CHECK(infos[0].find("running `xops eval evals/greet.yaml --prompt greet@v0.0.1`") !=
        std::string::npos);
}

TEST_CASE("refs: a file, a registry ref and nothing resolve to what they name", "[unit][app]") {
  TempDir tmp;
  auto p = prompt_project(tmp, "Hello {{name}}", "hello");
  auto ws = open_ws(p);
  auto by_path = refs::resolve_file((p / "prompts/greet.txt").string(), &ws);
  REQUIRE(by_path);
  CHECK(by_path->kind == refs::Target::Kind::Path);
  CHECK(by_path->content_hash.empty());
  auto reg = refs::resolve_file("greet@v0.0.1", &ws);
  REQUIRE(reg);
  CHECK(reg->kind == refs::Target::Kind::Registry);
  CHECK(reg->version == "greet@v0.0.1");
  // The content hash is the file's sha256, as sha256sum computes it (not our own output).
  auto sum = sh("sha256sum prompts/greet.txt | cut -c1-64", p);
  CHECK(reg->content_hash + "\n" == sum.out);
  CHECK(read_text(reg->path) == "Hello {{name}}");
  CHECK_FALSE(refs::resolve_file("no-such-file.txt", &ws));
}

TEST_CASE("app: a failing gate refuses the promotion, records it, and writes no tag",
          "[unit][app]") {
  TempDir tmp;
  auto p = prompt_project(tmp, "Goodbye {{name}}", "hello");
  auto ws = open_ws(p);
  app::PromotionRequest req;
  req.ref = "greet@v0.0.1";
  req.stage = "prod";
  req.run_evals = true;
  auto o = app::promote(ws, req);
  CHECK_FALSE(o.plan.allowed);
  CHECK_FALSE(o.written);
  CHECK(sh("git tag -l 'greet#prod#*'", p).out.empty());
  CHECK(Tracker::for_workspace(ws).get(o.run_id).exit_code == 4);
  auto e = app::refusal(o.plan);
  CHECK(e.kind() == ErrorKind::CheckFailed);
  CHECK(std::string(e.what()).find("1 of 1 gate(s) failed") != std::string::npos);
  // It was evaluated and failed: the hint says so, not "evaluate exactly this version".
  CHECK(e.hint().find("did not pass (run " + o.plan.gates[0].run_id + ")") != std::string::npos);
  CHECK(e.hint().find("xops eval") == std::string::npos);
  // Without run_evals nothing runs: no evidence means refused, and a dry run records nothing.
  req.run_evals = false;
  req.dry_run = true;
  auto dry = app::promote(ws, req);
  CHECK_FALSE(dry.plan.allowed);
  CHECK(dry.run_id.empty());
}

TEST_CASE("app: a gate whose eval could not run says why (provider errors), not just pass_rate 0",
          "[unit][app]") {
  TempDir tmp;
  auto p = prompt_project(tmp, "Hello {{name}}", "hello");
  // The suite's provider now fails every call (exit 3): cases error, the eval exits 1.
  write_text(p / "evals/echo.sh", "echo 'judge endpoint unreachable' >&2; exit 3\n");
  REQUIRE(sh("git add -A && git commit -qm 'provider down'", p).rc == 0);
  auto ws = open_ws(p);
  app::PromotionRequest req;
  req.ref = "greet@v0.0.1";
  req.stage = "prod";
  req.run_evals = true;
  auto o = app::promote(ws, req);
  REQUIRE(o.plan.gates.size() == 1);
  const auto& g = o.plan.gates[0];
  CHECK_FALSE(g.passed);
  CHECK(g.reason.find("1 case(s) could not be evaluated") != std::string::npos);
  CHECK(g.reason.find("judge endpoint unreachable") != std::string::npos);
}

TEST_CASE("app: run_tracked() gives the child its run and reads its metrics file", "[unit][app]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto ws = open_ws(tmp / "p");
  app::TrackedCommand cmd;
  cmd.name = "child";
  cmd.params = {{"lr", "0.1"}};
  // The child writes its environment and two metric lines (one bad), then exits 3.
  cmd.argv = {"sh", "-c",
              "echo \"$XOPS_RUN_ID $XOPS_WORKSPACE\"; "
              "printf '{\"step\": 1, \"loss\": 0.5}\\nnot json\\n{\"step\": 2, \"loss\": 0.25}\\n' "
              ">> \"$XOPS_METRICS_FILE\"; sleep 1; exit 3"};
  std::string out;
  std::vector<std::string> warnings;
  app::TrackedCommandObserver obs;
  obs.on_output = [&](int fd, const char* d, size_t n) {
    if (fd == 1) out.append(d, n);
  };
  obs.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto r = app::run_tracked(ws, cmd, obs);
  CHECK(r.exit_code == 3);
  CHECK(r.status == RunStatus::Failed);
  CHECK(r.name == "child");
  CHECK(out == r.run_id + " " + ws.root().string() + "\n");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("metrics.jsonl:2: ignored a line: not a JSON metric object") !=
        std::string::npos);
  auto rec = Tracker::for_workspace(ws).get(r.run_id);
  CHECK(rec.status == "failed");
  CHECK(rec.exit_code == 3);
  CHECK(rec.params.at("lr") == "0.1");
  bool loss = false;
  for (const auto& m : rec.metrics)
    if (m.key == "loss") {
      loss = true;
      CHECK(m.last == 0.25);
      CHECK(m.count == 2);
    }
  CHECK(loss);
  bool stdout_kept = false;
  for (const auto& a : rec.artifacts) stdout_kept |= a.name == "stdout.log";
  CHECK(stdout_kept);
  CHECK_THROWS_AS(app::run_tracked(ws, app::TrackedCommand{}), Error);
}

TEST_CASE("app: an eval with --baseline records the baseline apart, and is no evidence for it",
          "[unit][app]") {
  TempDir tmp;
  auto p = prompt_project(tmp, "Hello {{name}}", "hello");
  auto ws = open_ws(p);
  auto gpt2 = (shared_dir() / "golden/models/gpt2-tiny").string();
  auto llama = (shared_dir() / "golden/models/llama-tiny").string();
  write_text(p / "evals/models.yaml",
             "prompts: ['Hello']\nproviders: [\"exec:echo x\"]\ntests:\n"
             "  - assert: [{type: contains, value: zzz-never}]\n  - assert: [{type: latency, "
             "threshold: 600000}]\n");
  EvalRequest req;
  req.suite = p / "evals/models.yaml";
  req.models = {gpt2};
  req.baseline = llama;
  auto o = evaluate(req, &ws, {});
  REQUIRE(o.summary.against_baseline.size() == 1);
  CHECK(o.summary.against_baseline[0].compared == 2);
  CHECK(o.summary.cases == 4);
  CHECK(o.summary.pass_rate() == 0.5);  // the candidate's 1 of 2, the baseline's cases aside
  auto run = Tracker::for_workspace(ws).get(o.run_id);
  std::string llama_hash, gpt2_hash;
  for (const auto& [k, v] : run.inputs) {
    if (k.rfind("baseline:", 0) == 0) llama_hash = v;
    if (k.rfind("provider:", 0) == 0) gpt2_hash = v;
  }
  REQUIRE(!llama_hash.empty());
  REQUIRE(!gpt2_hash.empty());
  auto suite_hash = run.inputs.at(evidence::suite_key((p / "evals/models.yaml").string()));
  CHECK(evidence::find_eval_of({run}, suite_hash, gpt2_hash) != nullptr);
  CHECK(evidence::find_eval_of({run}, suite_hash, llama_hash) == nullptr);
  std::map<std::string, double> metrics;
  for (const auto& m : run.metrics) metrics[m.key] = m.last;
  CHECK(metrics.at("pass_rate") == 0.5);
  // Read back: both fail the first test and pass the second, so nothing moved.
  CHECK(metrics.at("baseline/compared") == 2);
  CHECK(metrics.at("baseline/regressions") == 0);
  CHECK(metrics.at("baseline/fixes") == 0);
  CHECK(metrics.count("pairwise/win_rate") == 0);  // no judge: no pairs judged
}
