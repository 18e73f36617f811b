// Crafted registry tags (#26 finding 10): one unreadable tag must not hide the others, tag
// text must not reach the terminal as escape sequences, and `ls` and `history` must agree on
// which version a stage holds when crafted tags put several versions on one commit.
#include <catch2/catch.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/util/fs.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
using nlohmann::json;

namespace {

struct Project {
  TempDir tmp;
  std::filesystem::path p;
  Project() {
    REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc ==
            0);
    p = tmp / "p";
    write_text(p / "data.txt", "v1\n");
    write_text(p / "xops.yaml",
               "name: p\nstages: [dev, staging, prod]\nartifacts:\n  d: {path: data.txt}\n");
    REQUIRE(sh("git add -A && git commit -qm v1", p).rc == 0);
    x({"-q", "promote", "register", "d"});
    x({"-q", "promote", "d@v0.0.1", "--to", "prod"});
  }
  ProcResult x(const std::vector<std::string>& args) const {
    auto r = run_xops(args, p);
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    return r;
  }
  json prod() const {
    auto ls = json::parse(x({"--json", "promote", "ls"}).out);
    for (const auto& a : ls)
      if (a["name"] == "d") return a["stages"]["prod"]["version"];
    return nullptr;
  }
};

}  // namespace

TEST_CASE("attack: an unreadable tag hides only itself", "[e2e][promote][attack]") {
  Project pr;
  // A packed ref with a 1,000-character name (no file system can hold it as a loose ref),
  // appended out of order to a packed-refs that says it is sorted.
  REQUIRE(sh("git pack-refs --all && echo \"$(git rev-parse HEAD) refs/tags/$(head -c 1000 "
             "/dev/zero | tr '\\0' a)\" >> .git/packed-refs",
             pr.p)
              .rc == 0);
  CHECK(pr.prod() == "v0.0.1");  // it used to print dashes for every artifact, exit 0
  auto show = run_xops({"promote", "show", "d#prod"}, pr.p);
  INFO(show.err);
  CHECK(show.rc == 0);
}

TEST_CASE("attack: tag messages cannot send escape sequences to the terminal",
          "[e2e][promote][attack]") {
  Project pr;
  REQUIRE(
      sh("git tag -a 'd@v0.0.2' -m \"$(printf 'hi\\033]0;pwned\\007\\033[31mred')\"", pr.p).rc ==
      0);
  auto h = pr.x({"promote", "history", "d"});
  CHECK(h.out.find('\033') == std::string::npos);
  CHECK(h.out.find('\007') == std::string::npos);
  CHECK_THAT(h.out, Catch::Contains("hi\\x1b]0;pwned"));
  auto j = pr.x({"--json", "promote", "history", "d"});
  CHECK(j.out.find("\\u001b") == std::string::npos);  // not even escaped in JSON: shown as text
}

TEST_CASE("attack: with several versions on one commit, ls and history agree",
          "[e2e][promote][attack]") {
  Project pr;
  // A second version registered on the same commit, a minute after prod was assigned.
  REQUIRE(sh("GIT_COMMITTER_DATE=\"$(date -R -d '+1 minute')\" git tag -a 'd@v0.0.2' -m "
             "'Registering artifact d version v0.0.2' HEAD",
             pr.p)
              .rc == 0);
  auto holder = pr.prod();
  auto hist = json::parse(pr.x({"--json", "promote", "history", "d"}).out);
  std::string assigned;
  for (const auto& e : hist)
    if (e["event"] == "assign" && e["stage"] == "prod") assigned = e["version"];
  CHECK(holder == "v0.0.1");
  CHECK(assigned == holder);  // history used to name v0.0.2, the later registration
}

TEST_CASE("cli: a stage name with a typo is answered with the stage it meant", "[e2e][promote]") {
  Project pr;
  auto r = run_xops({"promote", "show", "d#prd"}, pr.p);
  CHECK(r.rc == 3);
  CHECK_THAT(r.err, Catch::Contains("did you mean 'prod'?"));  // not "promote it to prd"
  CHECK_THAT(r.err, !Catch::Contains("--to prd"));
}
