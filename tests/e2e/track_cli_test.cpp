// xops track through the binary: exit codes, JSON, and SIGKILL safety.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;

namespace {
fs::path new_project(const TempDir& tmp) {
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal"}, tmp.path()).rc == 0);
  return tmp / "p";
}
}  // namespace

TEST_CASE("e2e: track status exit codes, JSON and the pre-commit hook", "[e2e][track]") {
  TempDir tmp;
  auto p = new_project(tmp);
  write_text(p / "data/a b/ü.txt", "one");
  auto add = run_xops({"--json", "track", "add", "data/a b"}, p);
  REQUIRE(add.rc == 0);
  auto j = nlohmann::json::parse(add.out);
  CHECK(j[0]["type"] == "dir");
  CHECK(j[0]["files"] == 1);
  CHECK(sh("git commit -qm data", p).rc == 0);
  CHECK(run_xops({"track", "status", "--exit-code"}, p).rc == 0);
  write_text(p / "data/a b/ü.txt", "two");
  auto st = run_xops({"track", "status", "--exit-code"}, p);
  CHECK(st.rc == 4);
  CHECK_THAT(st.out, Catch::Contains("modified\tdata/a b/"));
  // The pre-commit hook lets unrelated code through (with a note) and refuses a commit
  // whose staged pointer does not match its data.
  write_text(p / "notes.txt", "x");
  auto commit = sh("git add notes.txt && git commit -qm notes", p);
  CHECK(commit.rc == 0);
  CHECK_THAT(commit.err, Catch::Contains("not part of this commit"));
  REQUIRE(run_xops({"-q", "track", "add", "data/a b"}, p).rc == 0);
  write_text(p / "data/a b/ü.txt", "three");
  auto stale = sh("git commit -qm data", p);
  CHECK(stale.rc != 0);
  CHECK_THAT(stale.err, Catch::Contains("staged pointers above do not match"));
  auto verify = run_xops({"track", "verify"}, p);
  CHECK(verify.rc == 0);
  auto push = run_xops({"track", "push"}, p);
  CHECK(push.rc == 3);  // no remote configured
  CHECK_THAT(push.err, Catch::Contains("no remote is configured"));
  CHECK(run_xops({"track", "push", "--skip-if-no-remote"}, p).rc == 0);
  auto outside = run_xops({"track", "add", "../elsewhere"}, p);
  CHECK(outside.rc == 2);
}

TEST_CASE("e2e: SIGKILL during track add leaves a clean store and a re-run completes", "[e2e][track]") {
  TempDir tmp;
  auto p = new_project(tmp);
  std::mt19937 rng(42);
  std::string blob(1 << 20, 'x');
  for (int i = 0; i < 200; ++i) {
    for (auto& c : blob) c = static_cast<char>(rng());
    write_text(p / "data/set" / (std::to_string(i) + ".bin"), blob.substr(0, 64 * 1024 + i * 997));
  }
  write_text(p / "data/big.bin", std::string(48 << 20, 'b'));
  for (int attempt = 0; attempt < 4; ++attempt) {
    pid_t pid = fork();
    if (pid == 0) {
      if (chdir(p.c_str()) != 0) _exit(127);
      int devnull = ::open("/dev/null", O_WRONLY);
      dup2(devnull, 1), dup2(devnull, 2);
      execl(XOPS_BINARY, XOPS_BINARY, "track", "add", "data/set", "data/big.bin", (char*)nullptr);
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + static_cast<int>(rng() % 60)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    auto v = run_xops({"track", "verify"}, p);
    CHECK(v.rc == 0);
    CHECK(v.out.empty());
    // The stat cache sits in SQLite; whatever was committed there still matches.
  }
  auto again = run_xops({"track", "add", "data/set", "data/big.bin"}, p);
  CHECK(again.rc == 0);
  CHECK(run_xops({"track", "status", "--exit-code"}, p).rc == 0);
  CHECK(run_xops({"track", "verify"}, p).rc == 0);
}
