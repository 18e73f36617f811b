// The built binary, run in temp dirs: exit codes, stdout/stderr, files.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;

TEST_CASE("e2e: init gives a repo that commits clean, a second init exits 3", "[e2e]") {
  TempDir tmp;
  auto r = run_xops({"init", "demo"}, tmp.path());
  REQUIRE(r.rc == 0);
  CHECK(r.out == (tmp / "demo").string() + "\n");
  CHECK_THAT(r.err, Catch::Contains("Initialized xops project 'demo'"));
  // The hooks run during this commit (XOPS_BIN points at the built binary).
  auto c = sh("git add -A && git commit -qm init && git status --porcelain", tmp / "demo");
  CHECK(c.rc == 0);
  CHECK(c.out.empty());
  auto again = run_xops({"init", "demo"}, tmp.path());
  CHECK(again.rc == 3);
  CHECK_THAT(again.err, Catch::Contains("already an xops project"));
  auto cfg = run_xops({"--json", "config"}, tmp / "demo/data");  // discovered from a subdirectory
  CHECK(cfg.rc == 0);
  CHECK(nlohmann::json::parse(cfg.out)["device"]["origin"].get<std::string>().find("xops.yaml:") !=
        std::string::npos);
}

TEST_CASE("e2e: a malformed xops.yaml names file and line, exit 1, nothing written", "[e2e]") {
  TempDir tmp;
  write_text(tmp / "xops.yaml", "name: p\nstages: [dev, prod\nartifacts: {}\n");
  auto before = fs::directory_iterator(tmp.path());
  auto r = run_xops({"config"}, tmp.path());
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("xops.yaml:3:"));
  CHECK_THAT(r.err, Catch::Contains("invalid YAML"));
  int n = 0;
  for (auto& e : fs::directory_iterator(tmp.path())) (void)e, ++n;
  CHECK(n == 1);  // no .xops/ or anything else appeared

  write_text(tmp / "xops.yaml", "name: p\nremotes:\n  r: {url: [1, 2]}\n");
  auto t = run_xops({"config"}, tmp.path());
  CHECK(t.rc == 1);
  CHECK_THAT(t.err, Catch::Contains("xops.yaml:3:12: remote 'r' url must be a string"));
}

TEST_CASE("e2e: an unknown key is a warning on stderr naming file:line", "[e2e]") {
  TempDir tmp;
  write_text(tmp / "xops.yaml", "name: p\ndefaults:\n  devise: cpu\n");
  auto r = run_xops({"config"}, tmp.path());
  CHECK(r.rc == 0);
  CHECK_THAT(r.err, Catch::Contains("xops.yaml:3: unknown key 'devise' in 'defaults' (did you mean 'device'?)"));
}

TEST_CASE("e2e: --version never maps libtorch, --version -v loads the engine", "[e2e]") {
  TempDir tmp;
  auto r = run_xops({"--version"}, tmp.path(), {{"LD_DEBUG", "libs"}});
  CHECK(r.rc == 0);
  CHECK(r.err.find("libtorch") == std::string::npos);
  CHECK(r.err.find("libc.so") != std::string::npos);  // LD_DEBUG did report the libraries
  auto init = run_xops({"init", "p", "--template", "minimal"}, tmp.path(), {{"LD_DEBUG", "libs"}});
  CHECK(init.rc == 0);
  CHECK(init.err.find("libtorch") == std::string::npos);
  auto v = run_xops({"--version", "-v"}, tmp.path());
  CHECK(v.rc == 0);
  CHECK_THAT(v.out, Catch::Contains("libtorch 1."));
}

TEST_CASE("e2e: -q silences info, --color always paints errors, NO_COLOR wins over auto", "[e2e]") {
  TempDir tmp;
  auto q = run_xops({"-q", "init", "a"}, tmp.path());
  CHECK(q.rc == 0);
  CHECK(q.err.empty());
  auto c = run_xops({"--color", "always", "nonsense"}, tmp.path());
  CHECK(c.rc == 2);
  CHECK_THAT(c.err, Catch::Contains("\033[31mxops: error: \033[0m"));
  auto n = run_xops({"nonsense"}, tmp.path(), {{"NO_COLOR", "1"}});
  CHECK(n.err.find("\033[") == std::string::npos);
}
