// The team database end to end: xops.yaml's `tracking:` and XOPS_TRACKING on a real
// PostgreSQL (ctest's throw-away cluster), `track sync`, and its failures.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/services.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
fs::path project(const TempDir& tmp) {
  REQUIRE(run_xops({"-q", "init", "p"}, tmp.path()).rc == 0);
  REQUIRE(sh("git add -A && git commit -qm init", tmp / "p").rc == 0);
  return tmp / "p";
}
json runs_json(const fs::path& p, const std::map<std::string, std::string>& env = {}) {
  auto r = run_xops({"--json", "track", "runs", "--sort", "name"}, p, env);
  REQUIRE(r.rc == 0);
  return json::parse(r.out);
}
}  // namespace

TEST_CASE("e2e: offline runs synced into PostgreSQL once, however often sync runs",
          "[e2e][tracking][pg]") {
  TempDir tmp;
  auto pg = tracking_url("postgres", tmp);
  if (pg.empty()) return;
  auto p = project(tmp);
  std::map<std::string, std::string> local{{"XOPS_TRACKING", "local"}};
  write_text(p / "train.sh",
             "#!/bin/sh\nfor s in 1 2 3; do \"$XOPS_BIN\" track log metric loss=0.$((4 - s)) "
             "--step $s; done\n");
  REQUIRE(sh("chmod +x train.sh", p).rc == 0);
  REQUIRE(run_xops({"track", "run", "-n", "a", "-p", "lr=0.1", "--", "./train.sh"}, p, local).rc ==
          0);
  REQUIRE(run_xops({"track", "run", "-n", "b", "--tag", "team=nlp", "--", "false"}, p, local).rc ==
          1);
  // The project names the team database in xops.yaml; sync's default target is it.
  auto yaml = read_text(p / "xops.yaml");
  write_text(p / "xops.yaml", yaml + "tracking: " + pg + "\n");
  auto s1 = run_xops({"--json", "track", "sync"}, p);
  REQUIRE(s1.rc == 0);
  auto j1 = json::parse(s1.out);
  CHECK(j1["runs_copied"] == 2);
  CHECK(j1["metric_points"] == 3);
  auto s2 = run_xops({"--json", "track", "sync"}, p);
  REQUIRE(s2.rc == 0);
  CHECK(json::parse(s2.out)["runs_unchanged"] == 2);
  CHECK(json::parse(s2.out)["runs_copied"] == 0);
  // The same runs, read from PostgreSQL (tracking: in xops.yaml) and from the local file.
  auto team = runs_json(p), mine = runs_json(p, local);
  REQUIRE(team.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(team[i]["id"] == mine[i]["id"]);
    CHECK(team[i]["status"] == mine[i]["status"]);
    CHECK(team[i]["params"] == mine[i]["params"]);
    CHECK(team[i]["tags"] == mine[i]["tags"]);
    CHECK(team[i]["metrics"] == mine[i]["metrics"]);
    CHECK(team[i]["artifacts"] == mine[i]["artifacts"]);
  }
  // New work offline: one more run and a renamed one; sync sends only that.
  REQUIRE(run_xops({"track", "rename", "b", "b-failed"}, p, local).rc == 0);
  REQUIRE(run_xops({"track", "run", "-n", "c", "--", "true"}, p, local).rc == 0);
  auto s3 = json::parse(run_xops({"--json", "track", "sync"}, p).out);
  CHECK(s3["runs_copied"] == 1);
  CHECK(s3["runs_updated"] == 1);
  CHECK(s3["runs_unchanged"] == 1);
  auto filtered = run_xops(
      {"--json", "track", "runs", "--filter", "params.lr > 0.05 and status = 'finished'"}, p);
  REQUIRE(filtered.rc == 0);
  CHECK(json::parse(filtered.out).size() == 1);
  // A run recorded straight into PostgreSQL (tracking: in xops.yaml) is there too.
  REQUIRE(run_xops({"track", "run", "-n", "d", "--", "./train.sh"}, p).rc == 0);
  CHECK(runs_json(p).size() == 4);
  CHECK(runs_json(p, local).size() == 3);
}

TEST_CASE("e2e: a tracking database that is down or refuses the password fails cleanly",
          "[e2e][tracking][pg]") {
  TempDir tmp;
  auto pg = tracking_url("postgres", tmp);
  if (pg.empty()) return;
  auto p = project(tmp);
  // A password in xops.yaml is refused, with file:line.
  auto yaml = read_text(p / "xops.yaml");
  auto with_pw = "postgresql://xops:hunter2@" + pg.substr(pg.find('@') + 1);
  write_text(p / "xops.yaml", yaml + "tracking: " + with_pw + "\n");
  auto r = run_xops({"track", "runs"}, p);
  CHECK(r.rc != 0);
  CHECK_THAT(r.err, Catch::Contains("xops.yaml:") && Catch::Contains("password") &&
                        Catch::Contains("PGPASSWORD"));
  write_text(p / "xops.yaml", yaml);
  // Down: nothing listens there. The command does not run, exit 1, the URL is named.
  auto down = run_xops({"track", "run", "--", "touch", "ran"}, p,
                       {{"XOPS_TRACKING", "postgresql://xops@127.0.0.1:1/team?connect_timeout=2"}});
  CHECK(down.rc == 1);
  CHECK_THAT(down.err, Catch::Contains("postgresql://xops@127.0.0.1:1/team"));
  CHECK(!fs::exists(p / "ran"));
  // A wrong password: exit 1, the URL without the password, the hint says where it comes from.
  auto bad = run_xops({"track", "runs"}, p, {{"XOPS_TRACKING", with_pw}, {"PGPASSWORD", "wrong"}});
  CHECK(bad.rc == 1);
  CHECK_THAT(bad.err, Catch::Contains("127.0.0.1") && Catch::Contains("PGPASSWORD"));
  CHECK(bad.err.find("hunter2") == std::string::npos);
  // Nothing was half-written locally by the failed attempts.
  CHECK(run_xops({"--json", "track", "runs"}, p, {{"XOPS_TRACKING", "local"}}).out == "[]\n");
}
