#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;

namespace {
fs::path project(const TempDir& tmp) {
  REQUIRE(run_xops({"-q", "init", "p"}, tmp.path()).rc == 0);
  REQUIRE(sh("git add -A && git commit -qm init", tmp / "p").rc == 0);
  return tmp / "p";
}
}  // namespace

TEST_CASE("e2e: a script under track run logs params and metrics, runs --json shows them", "[e2e][tracking]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "train.sh",
             "#!/bin/sh\nset -e\n\"$XOPS_BIN\" track log param lr=0.001\n"
             "for s in 1 2 3; do \"$XOPS_BIN\" track log metric loss=0.$((4 - s)) --step $s; done\n"
             "echo '{\"step\": 3, \"acc\": 0.9}' >> \"$XOPS_METRICS_FILE\"\necho trained\n");
  REQUIRE(sh("chmod +x train.sh", p).rc == 0);
  auto r = run_xops({"track", "run", "-n", "demo", "-p", "seed=1", "--", "./train.sh"}, p);
  REQUIRE(r.rc == 0);
  CHECK(r.out == "trained\n");  // the child's stdout passes through untouched
  auto runs = run_xops({"--json", "track", "runs"}, p);
  REQUIRE(runs.rc == 0);
  auto j = nlohmann::json::parse(runs.out);
  REQUIRE(j.size() == 1);
  const auto& run = j[0];
  CHECK(run["status"] == "finished");
  CHECK(run["exit_code"] == 0);
  CHECK(run["params"]["lr"] == "0.001");
  CHECK(run["params"]["seed"] == "1");
  CHECK(run["metrics"]["loss"]["count"] == 3);
  CHECK(run["metrics"]["loss"]["last"] == Approx(0.1));
  CHECK(run["metrics"]["acc"]["last"] == Approx(0.9));
  auto head = sh("git rev-parse HEAD", p).out;
  CHECK(run["git"]["commit"].get<std::string>() + "\n" == head);
  CHECK(run["inputs"].contains("data/dates-train.jsonl"));  // lineage: the template's tracked data
  CHECK(run["artifacts"][0]["name"] == "stdout.log");
  auto show = run_xops({"track", "show", run["id"].get<std::string>().substr(0, 22)}, p);
  CHECK(show.rc == 0);
  CHECK_THAT(show.out, Catch::Contains("loss"));
  auto report = run_xops({"track", "report", "--html", "r.html"}, p);
  CHECK(report.rc == 0);
  auto html = read_text(p / "r.html");
  CHECK_THAT(html, Catch::Contains("<svg"));
  CHECK_THAT(html, Catch::Contains("<polyline"));
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
}

TEST_CASE("e2e: a failing command gives status failed and its exit code, SIGINT gives killed", "[e2e][tracking]") {
  TempDir tmp;
  auto p = project(tmp);
  auto r = run_xops({"track", "run", "--", "sh", "-c", "exit 7"}, p);
  CHECK(r.rc == 7);
  auto missing = run_xops({"track", "run", "--", "no-such-command-xyz"}, p);
  CHECK(missing.rc == 2);
  CHECK_THAT(missing.err, Catch::Contains("cannot run 'no-such-command-xyz'"));
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(p.c_str()) != 0) _exit(99);
    execl(XOPS_BINARY, XOPS_BINARY, "-q", "track", "run", "-n", "sleeper", "--", "sleep", "30", (char*)nullptr);
    _exit(98);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  kill(pid, SIGINT);
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WEXITSTATUS(st) == 130);
  auto j = nlohmann::json::parse(run_xops({"--json", "track", "runs", "--sort", "start_time"}, p).out);
  REQUIRE(j.size() == 3);
  CHECK(j[0]["status"] == "failed");
  CHECK(j[0]["exit_code"] == 7);
  CHECK(j[2]["status"] == "killed");
  auto filtered = run_xops({"--json", "track", "runs", "--filter", "status = 'killed'"}, p);
  CHECK(nlohmann::json::parse(filtered.out).size() == 1);
  auto bad = run_xops({"track", "runs", "--filter", "metrics.loss <"}, p);
  CHECK(bad.rc == 2);
  auto outside = run_xops({"track", "log", "metric", "x=1"}, p);
  CHECK(outside.rc == 2);
  CHECK_THAT(outside.err, Catch::Contains("no run to log into"));
}
