// Workflow trust: nothing loses data, Ctrl-C ends every command in a defined state, runs are
// always ended (or shown as crashed), and options parse in any order.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path project(const TempDir& tmp) {
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  return tmp / "p";
}

json runs_of(const fs::path& p) {
  auto r = run_xops({"--json", "track", "runs"}, p);
  REQUIRE(r.rc == 0);
  return json::parse(r.out);
}

// Starts xops in `cwd` in its own process group; returns the pid.
pid_t spawn_xops(const std::vector<std::string>& args, const fs::path& cwd) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    if (chdir(cwd.c_str()) != 0) _exit(127);
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1), dup2(devnull, 2);
    std::vector<char*> argv;
    auto bin = xops_binary();
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int wait_rc(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

size_t files_in(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("workflow: gc keeps what runs reference - verify checks it", "[e2e][workflow]") {
  TempDir tmp;
  auto p = project(tmp);
  // The repro: a run's stdout log and a logged artifact live only in the store.
  auto run = run_xops({"track", "run", "-n", "a", "--", "sh", "-c",
                       "echo logged; echo hi > o.txt; \"$XOPS_BIN\" track log artifact o.txt"},
                      p);
  INFO(run.err);
  REQUIRE(run.rc == 0);
  auto before = files_in(p / ".xops/objects");
  REQUIRE(before >= 2);
  auto gc = run_xops({"--json", "track", "gc"}, p);
  REQUIRE(gc.rc == 0);
  CHECK(json::parse(gc.out)["removed"].empty());  // before: both objects deleted
  CHECK(files_in(p / ".xops/objects") == before);
  CHECK(run_xops({"track", "verify"}, p).rc == 0);
  // verify notices when one goes missing anyway.
  for (auto& e : fs::recursive_directory_iterator(p / ".xops/objects"))
    if (e.is_regular_file()) {
      fs::remove(e.path());
      break;
    }
  auto v = run_xops({"track", "verify"}, p);
  CHECK(v.rc == 4);
  CHECK_THAT(v.out, Catch::Contains("missing\t"));
  // Deleting the run releases its objects to gc.
  auto id = runs_of(p)[0]["id"].get<std::string>();
  CHECK(run_xops({"track", "rm", id}, p).rc == 0);
  CHECK(runs_of(p).empty());
  auto gc2 = run_xops({"--json", "track", "gc"}, p);
  CHECK(!json::parse(gc2.out)["removed"].empty());
}

TEST_CASE("workflow: track add DIR refuses paths inside it that are tracked on their own",
          "[e2e][workflow]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "data/x.bin", "x");
  write_text(p / "data/y.bin", "y");
  REQUIRE(run_xops({"-q", "track", "add", "data/x.bin"}, p).rc == 0);
  auto r = run_xops({"track", "add", "data"}, p);
  CHECK(r.rc == 2);  // before: exit 0, data/x.xops swallowed into one opaque manifest
  CHECK_THAT(r.err, Catch::Contains("data/x.bin"));
  CHECK(fs::exists(p / "data/x.bin.xops"));
  CHECK_FALSE(fs::exists(p / "data.xops"));
}

TEST_CASE("workflow: the exec provider's cache follows the script's content",
          "[e2e][workflow][eval]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "answer.sh", "echo 4\n");
  write_text(p / "suite.yaml",
             "prompts: [\"2+2\"]\nproviders: [\"exec:sh answer.sh\"]\n"
             "tests:\n  - assert: [{type: equals, value: \"4\"}]\n");
  CHECK(run_xops({"eval", "suite.yaml"}, p).rc == 0);
  write_text(p / "answer.sh", "echo 5\n");
  auto r = run_xops({"eval", "suite.yaml"}, p);
  CHECK(r.rc == 4);  // before: 0, a stale cached answer
  // A command that names a directory is not cached at all.
  fs::create_directories(p / "tools");
  write_text(p / "list.sh", "ls \"$1\"\n");
  write_text(p / "dir.yaml",
             "prompts: [\"x\"]\nproviders: [\"exec:sh list.sh tools\"]\ntests:\n  - assert: "
             "[{type: equals, value: \"\"}]\n");
  CHECK(run_xops({"eval", "dir.yaml"}, p).rc == 0);
  write_text(p / "tools/new", "");
  CHECK(run_xops({"eval", "dir.yaml"}, p).rc == 4);
}

TEST_CASE("workflow: reports are complete when no case fails, and in suite order whatever -j",
          "[e2e][workflow][eval]") {
  TempDir tmp;
  auto p = project(tmp);
  // Later cases finish first.
  write_text(
      p / "suite.yaml",
      "prompts: [\"{{n}}\"]\nproviders: [\"exec:sh -c 'sleep $(( (9 - $0) / 10 )).$(( 9 - $0 )); "
      "echo $0'\"]\n"
      "tests:\n" +
          [] {
            std::string t;
            for (int i = 0; i < 8; ++i)
              t += "  - vars: {n: " + std::to_string(i) +
                   "}\n    assert: [{type: equals, value: \"" + std::to_string(i) + "\"}]\n";
            return t;
          }());
  auto r = run_xops({"eval", "suite.yaml", "-j", "8", "--no-cache", "--jsonl", "r.jsonl", "--html",
                     "r.html", "--junit", "j.xml"},
                    p);
  INFO(r.err);
  CHECK(r.rc == 0);
  auto html = read_text(p / "r.html");
  CHECK_THAT(html, Catch::Contains("</html>"));  // before: an empty file
  size_t rows = 0;
  for (size_t pos = 0; (pos = html.find("<tr class=\"pass\"", pos)) != std::string::npos; ++pos)
    ++rows;
  CHECK(rows == 8);
  std::vector<int> order;
  std::istringstream lines(read_text(p / "r.jsonl"));
  for (std::string line; std::getline(lines, line);)
    order.push_back(json::parse(line)["test"].get<int>());
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(run_process({"xmllint", "--noout", (p / "j.xml").string()}, p).rc == 0);
}

TEST_CASE("workflow: Ctrl-C during eval: exit 130, run killed, no temp files",
          "[e2e][workflow][eval]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "suite.yaml",
             "prompts: [\"x\"]\nproviders: [\"exec:sh -c 'sleep 20'\"]\ntests:\n  - vars: {}\n");
  auto pid = spawn_xops({"eval", "suite.yaml", "--jsonl", "out.jsonl", "--html", "out.html"}, p);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(pid, SIGINT);
  CHECK(wait_rc(pid) == 130);
  auto runs = runs_of(p);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["status"] == "killed");  // before: `running` forever
  CHECK(runs[0]["exit_code"] == 130);
  for (auto& e : fs::directory_iterator(p))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  CHECK_FALSE(fs::exists(p / "out.jsonl"));
}

TEST_CASE("workflow: Ctrl-C during track add leaves no partial object", "[e2e][workflow][track]") {
  TempDir tmp;
  auto p = project(tmp);
  {
    std::ofstream big(p / "big.bin", std::ios::binary);
    std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 1536; ++i) {
      chunk[0] = static_cast<char>(i);
      big << chunk;
    }
  }
  auto pid = spawn_xops({"track", "add", "big.bin"}, p);
  // Interrupt only once the object is being written (its temp file exists): the test must
  // see an interrupted add, never pass on one that finished first.
  bool writing = false;
  for (int i = 0; i < 400 && !writing; ++i) {
    writing = fs::exists(p / ".xops/tmp") && files_in(p / ".xops/tmp") > 0;
    if (!writing) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGINT);
  int rc = wait_rc(pid);
  REQUIRE(writing);
  CHECK(rc == 130);
  CHECK(files_in(p / ".xops/tmp") == 0);  // before: a partial object kept for an hour
  CHECK_FALSE(fs::exists(p / "big.bin.xops"));
  CHECK(run_xops({"track", "verify"}, p).rc == 0);
}

TEST_CASE("workflow: a run whose process died is shown as crashed", "[e2e][workflow][tracking]") {
  TempDir tmp;
  auto p = project(tmp);
  auto pid = spawn_xops({"track", "run", "-n", "doomed", "--", "sleep", "30"}, p);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  kill(-pid, SIGKILL);  // xops and its child, no chance to clean up
  wait_rc(pid);
  auto runs = runs_of(p);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["status"] == "crashed");  // before: `running` forever
}

TEST_CASE("workflow: track run takes its options in any order before --",
          "[e2e][workflow][tracking]") {
  TempDir tmp;
  auto p = project(tmp);
  // Before: "-p lr=0.1 -- sh -c true" failed with "argument was not expected: -c".
  CHECK(run_xops({"track", "run", "-n", "x", "-p", "lr=0.1", "--", "sh", "-c", "true"}, p).rc == 0);
  CHECK(run_xops(
            {"track", "run", "-p", "lr=0.1", "--tag", "t=1", "-n", "y", "--", "sh", "-c", "exit 3"},
            p)
            .rc == 3);
  CHECK(run_xops(
            {"track", "run", "--tag", "t=1", "-p", "a=1", "-p", "b=2", "--", "sh", "-c", "true"}, p)
            .rc == 0);
  auto runs = runs_of(p);
  REQUIRE(runs.size() == 3);
  for (const auto& r : runs)
    if (r["name"] == "y") CHECK(r["exit_code"] == 3);  // the code the process really returned
}

TEST_CASE("workflow: an eval that misses its thresholds is recorded as failed",
          "[e2e][workflow][eval]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "suite.yaml",
             "prompts: [\"x\"]\nproviders: [\"exec:echo no\"]\ntests:\n  - assert: [{type: equals, "
             "value: yes}]\n");
  CHECK(run_xops({"eval", "suite.yaml"}, p).rc == 4);
  auto runs = runs_of(p);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["status"] == "failed");  // before: finished
  CHECK(runs[0]["exit_code"] == 4);
}

TEST_CASE("workflow: hooks check only what a commit carries, per project in a monorepo",
          "[e2e][workflow][hooks]") {
  TempDir tmp;
  auto repo = tmp / "mono";
  fs::create_directories(repo);
  REQUIRE(sh("git init -q . && git commit -q --allow-empty -m root", repo).rc == 0);
  REQUIRE(run_xops({"-q", "init", "ml", "--template", "minimal"}, repo).rc == 0);
  // CI files go where the forge reads them.
  CHECK(fs::exists(repo / ".github/workflows/xops-ml.yml"));
  CHECK_FALSE(fs::exists(repo / "ml/.github"));
  CHECK_THAT(read_text(repo / ".github/workflows/xops-ml.yml"),
             Catch::Contains("./ml/ci/xops-check.sh"));
  auto env = "export PATH=\"$(dirname \"$XOPS_BIN\"):$PATH\"; ";
  write_text(repo / "ml/data/d.bin", "one");
  REQUIRE(run_xops({"-q", "track", "add", "data/d.bin"}, repo / "ml").rc == 0);
  REQUIRE(sh(std::string(env) + "git add -A && git commit -qm data", repo).rc == 0);
  // Data changed but not part of the commit: unrelated code commits (before: refused).
  write_text(repo / "ml/data/d.bin", "two");
  write_text(repo / "app.py", "print(1)\n");
  auto code = sh(std::string(env) + "git add app.py && git commit -qm code", repo);
  INFO(code.err);
  CHECK(code.rc == 0);
  CHECK_THAT(code.err, Catch::Contains("not part of this commit"));
  // A staged pointer whose data moved on is refused.
  REQUIRE(run_xops({"-q", "track", "add", "data/d.bin"}, repo / "ml").rc == 0);
  write_text(repo / "ml/data/d.bin", "three");
  CHECK(sh(std::string(env) + "git commit -qm stale", repo).rc != 0);
  // A fresh clone gets its hooks from install-hooks, which is idempotent.
  REQUIRE(sh("git clone -q mono clone", tmp.path()).rc == 0);
  CHECK(run_xops({"install-hooks"}, tmp / "clone/ml").rc == 0);
  CHECK(run_xops({"install-hooks"}, tmp / "clone/ml").rc == 0);
  auto hook = read_text(tmp / "clone/.git/hooks/pre-commit");
  CHECK(hook.find(">>> xops hook ml >>>") == hook.rfind(">>> xops hook ml >>>"));
}

TEST_CASE("workflow: pull checks out what it fetched (--no-checkout to skip)",
          "[e2e][workflow][track]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "xops.yaml", "name: p\nremotes:\n  r:\n    url: " + (tmp / "remote").string() +
                                  "\n    default: true\n");
  write_text(p / "data/d.bin", "payload");
  REQUIRE(run_xops({"-q", "track", "add", "data/d.bin"}, p).rc == 0);
  REQUIRE(run_xops({"-q", "track", "push"}, p).rc == 0);
  REQUIRE(sh("git add -A && git commit -qm d && cd .. && git clone -q p c && git clone -q p c2", p)
              .rc == 0);
  CHECK(run_xops({"track", "pull"}, tmp / "c").rc == 0);
  CHECK(read_text(tmp / "c/data/d.bin") == "payload");  // before: fetched, not checked out
  CHECK(run_xops({"track", "pull", "--no-checkout"}, tmp / "c2").rc == 0);
  CHECK_FALSE(fs::exists(tmp / "c2/data/d.bin"));
  CHECK(run_xops({"track", "status", "--exit-code", "data/d.bin"}, tmp / "c").rc == 0);
  CHECK(run_xops({"track", "status", "nothing"}, tmp / "c").rc == 2);
}

TEST_CASE("workflow: duplicate YAML keys are errors naming both lines", "[e2e][workflow]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "xops.yaml", "name: p\nstages: [dev]\nname: q\n");
  auto r = run_xops({"track", "status"}, p);
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("xops.yaml:3: duplicate key 'name' (first at line 1)"));
  write_text(p / "xops.yaml", "name: p\n");
  write_text(p / "s.yaml",
             "prompts: [x]\nproviders: [\"exec:echo x\"]\ntests:\n  - vars: {a: 1, a: 2}\n");
  auto e = run_xops({"eval", "s.yaml"}, p);
  CHECK(e.rc == 1);
  CHECK_THAT(e.err, Catch::Contains("duplicate key 'a'"));
}

TEST_CASE("workflow: a missing model exits 3 in every command", "[e2e][workflow]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "s.yaml", "prompts: [x]\nproviders: [models/absent]\ntests:\n  - vars: {}\n");
  write_text(p / "f.yaml", "model: {path: models/absent}\ndata: {train: d.jsonl}\nmax_steps: 1\noutput: o\n");
  write_text(p / "d.jsonl", "{\"text\": \"a\"}\n");
  // Before: 2 (a usage error) in each.
  CHECK(run_xops({"generate", "models/absent", "hi"}, p).rc == 3);
  CHECK(run_xops({"eval", "s.yaml"}, p).rc == 3);
  CHECK(run_xops({"eval", "s.yaml", "--model", "models/other"}, p).rc == 3);
  CHECK(run_xops({"finetune", "f.yaml"}, p).rc == 3);
  // The recorded eval runs store the code the process returned.
  for (const auto& r : runs_of(p)) {
    CHECK(r["status"] == "failed");
    CHECK(r["exit_code"] == 3);
  }
}

TEST_CASE("workflow: with --json an error is a JSON object on stdout too", "[e2e][workflow]") {
  TempDir tmp;
  auto r = run_xops({"--json", "generate", "nowhere", "hi"}, tmp.path());
  CHECK(r.rc == 3);
  auto j = json::parse(r.out);
  CHECK(j["error"]["kind"] == "precondition");
  CHECK(j["error"]["exit_code"] == 3);
  CHECK_THAT(j["error"]["message"].get<std::string>(), Catch::Contains("no model 'nowhere'"));
  CHECK_THAT(r.err, Catch::Contains("xops: error:"));  // humans still read stderr
  auto usage = run_xops({"--json", "track", "statsu"}, tmp.path());
  CHECK(usage.rc == 2);
  CHECK(json::parse(usage.out)["error"]["kind"] == "usage");
}

TEST_CASE("workflow: help verb, examples, and suggestions only when close", "[e2e][workflow][cli]") {
  TempDir tmp;
  auto h = run_xops({"help", "track", "run"}, tmp.path());
  CHECK(h.rc == 0);
  CHECK_THAT(h.out, Catch::Contains("Examples:") && Catch::Contains("xops track run -n baseline"));
  for (auto verb : {"init", "eval", "finetune", "generate", "track"})
    CHECK_THAT(run_xops({verb, "--help"}, tmp.path()).out, Catch::Contains("Examples:"));
  auto flag = run_xops({"track", "status", "--exti-code"}, tmp.path());
  CHECK(flag.rc == 2);
  CHECK_THAT(flag.err, Catch::Contains("did you mean '--exit-code'?"));
  // Two edits away from a two-letter word is no suggestion (before: `uz` -> "did you mean 'run'?").
  auto far = run_xops({"track", "uz"}, tmp.path());
  CHECK(far.rc == 2);
  CHECK_THAT(far.err, !Catch::Contains("did you mean"));
  auto near = run_xops({"track", "statsu"}, tmp.path());
  CHECK_THAT(near.err, Catch::Contains("did you mean 'status'?"));
  CHECK(run_xops({"help", "nosuch"}, tmp.path()).rc == 2);
}

TEST_CASE("workflow: track run --json ends with the run as a JSON object - -q keeps stdout data", "[e2e][workflow][tracking]") {
  TempDir tmp;
  auto p = project(tmp);
  auto r = run_xops({"--json", "track", "run", "-n", "j", "--", "sh", "-c", "echo out; exit 2"}, p);
  CHECK(r.rc == 2);
  auto last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  auto j = json::parse(last);
  CHECK(j["status"] == "failed");
  CHECK(j["exit_code"] == 2);
  CHECK(r.out.rfind("out\n", 0) == 0);  // the command's own output first
  write_text(p / "d.bin", "x");
  REQUIRE(run_xops({"-q", "track", "add", "d.bin"}, p).rc == 0);
  auto st = run_xops({"-q", "track", "status"}, p);
  CHECK_THAT(st.out, Catch::Contains("d.bin"));  // before: -q hid status's data
  CHECK(st.err.empty());
}

TEST_CASE("workflow: track run forwards a signal to its command, which decides how to stop",
          "[e2e][workflow][tracking]") {
  TempDir tmp;
  auto p = project(tmp);
  // The command cleans up on TERM and exits 7; its background sleeper goes with it.
  auto pid = spawn_xops({"track", "run", "-n", "graceful", "--", "sh", "-c",
                         "trap 'kill $!; echo saved > saved.txt; exit 7' TERM; sleep 30 & wait"},
                        p);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(pid, SIGTERM);  // to xops only, as a CI runner or systemd would send it
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(pid, SIGTERM);  // a second signal does not abandon the command either
  CHECK(wait_rc(pid) == 7);  // the command's own exit code
  CHECK(fs::exists(p / "saved.txt"));
  auto runs = runs_of(p);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["status"] == "killed");
  CHECK(runs[0]["exit_code"] == 7);
}

TEST_CASE("workflow: Ctrl-C during an exec assertion kills its whole process tree",
          "[e2e][workflow][eval]") {
  TempDir tmp;
  auto p = project(tmp);
  write_text(p / "slow.sh", "sleep 60 & echo $! > bg.pid; wait\n");
  write_text(p / "suite.yaml",
             "prompts: [\"x\"]\nproviders: [\"exec:echo hi\"]\ntests:\n  - assert:\n      - type: \"exec:sh slow.sh\"\n");
  auto pid = spawn_xops({"eval", "suite.yaml"}, p);
  for (int i = 0; i < 50 && !fs::exists(p / "bg.pid"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(fs::exists(p / "bg.pid"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  kill(pid, SIGINT);
  CHECK(wait_rc(pid) == 130);
  pid_t bg = std::stoi(read_text(p / "bg.pid"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK_FALSE(process_alive(bg));  // no sleeper left behind
  auto runs = runs_of(p);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["status"] == "killed");
}
