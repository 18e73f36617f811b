// Hostile or broken input through the binary: a child's metrics file, a corrupt database,
// bad flag values. Each ends in a defined state with a documented exit code.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;

namespace {
fs::path project(const TempDir& tmp) {
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  return tmp / "p";
}
}  // namespace

TEST_CASE("attack: a metrics-file line with an empty key is skipped, the run completes",
          "[e2e][attack][tracking]") {
  TempDir tmp;
  auto p = project(tmp);
  // Before: `track run` exited on the empty key and orphaned its child.
  auto r = run_xops({"track", "run", "-n", "m", "--", "sh", "-c",
                     "printf '{\"\": 1}\\n{\"loss\": 0.5, \"step\": 1}\\n{\"key\": 7, \"value\": "
                     "1}\\nnot json\\n' "
                     ">> \"$XOPS_METRICS_FILE\"; sleep 1; echo done"},
                    p);
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK_THAT(r.err, Catch::Contains("metrics.jsonl:1: ignored a line: a metric key must be"));
  CHECK_THAT(r.err, Catch::Contains("metrics.jsonl:3: ignored a line"));
  auto show = run_xops({"--json", "track", "runs"}, p);
  auto runs = nlohmann::json::parse(show.out);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["status"] == "finished");
  auto detail = run_xops({"--json", "track", "show", runs[0]["id"].get<std::string>()}, p);
  CHECK_THAT(detail.out, Catch::Contains("\"loss\""));
}

TEST_CASE("attack: a corrupt .xops/xops.db blocks neither status, checkout nor verify",
          "[e2e][attack][track]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "data.bin", "payload");
  REQUIRE(run_xops({"-q", "track", "add", "data.bin"}, p).rc == 0);
  REQUIRE(sh("git commit -qm data", p).rc == 0);
  for (const char* f : {"xops.db-wal", "xops.db-shm"}) fs::remove(p / ".xops" / f);
  write_text(p / ".xops/xops.db", std::string(8192, 'Z'));
  fs::remove(p / "data.bin");
  CHECK(run_xops({"track", "status"}, p).rc == 0);
  auto co = run_xops({"track", "checkout"}, p);
  INFO(co.err);
  CHECK(co.rc == 0);
  CHECK(read_text(p / "data.bin") == "payload");
  CHECK(run_xops({"track", "verify"}, p).rc == 0);
  // gc must know what runs reference: it refuses rather than guess.
  auto gc = run_xops({"track", "gc"}, p);
  CHECK(gc.rc == 1);
  CHECK(fs::exists(p / ".xops/objects"));
}

TEST_CASE("attack: generate refuses sizes that never end", "[e2e][attack]") {
  TempDir tmp;
  // --batch-size 0 looped forever; now a usage error before any model is loaded.
  auto r = run_xops({"generate", "nowhere", "--batch", "x.jsonl", "--batch-size", "0"}, tmp.path());
  CHECK(r.rc == 2);
  CHECK_THAT(r.err, Catch::Contains("--batch-size"));
  CHECK(run_xops({"generate", "nowhere", "-n", "-1", "hi"}, tmp.path()).rc == 2);
  CHECK(run_xops({"generate", "nowhere", "--top-p", "2", "hi"}, tmp.path()).rc == 2);
}

TEST_CASE("attack: a suite or cases file that is not UTF-8 is refused where it comes in", "[e2e][attack][eval]") {
  TempDir tmp;
  // Found by fuzz_eval_suite: invalid UTF-8 in a suite escaped later as a JSON-library error.
  write_text(tmp / "s.yaml", "prompts: [\"{{a}}\"]\nproviders: [\"exec:echo x\"]\ntests:\n  - vars: {a: \"\xf4\x90\"}\n");
  auto r = run_xops({"eval", "s.yaml", "--no-track"}, tmp.path());
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("s.yaml:4: not valid UTF-8"));
  write_text(tmp / "c.csv", "a\n\xff\n");
  write_text(tmp / "s2.yaml", "prompts: [\"{{a}}\"]\nproviders: [\"exec:echo x\"]\ntests: file://c.csv\n");
  auto c = run_xops({"eval", "s2.yaml", "--no-track"}, tmp.path());
  CHECK(c.rc == 1);
  CHECK_THAT(c.err, Catch::Contains("c.csv:2: not valid UTF-8"));
}
