// run_child: the one way xops runs another program (eval's exec provider and assertions,
// track run's supervised command).
#include <signal.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/error.hpp"
#include "core/util/interrupt.hpp"
#include "core/util/subprocess.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
namespace fs = std::filesystem;

namespace {

bool alive(pid_t pid) {
  return test::process_alive(pid);
}

pid_t read_pid(const fs::path& p) {
  std::ifstream f(p);
  pid_t pid = 0;
  f >> pid;
  return pid;
}

// Sends `sig` to this process after `ms`, from another thread (as kill(1) from a shell would).
std::thread signal_later(int sig, int ms) {
  return std::thread([sig, ms] {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    ::kill(::getpid(), sig);
  });
}

}  // namespace

TEST_CASE("run_child: input on stdin, output collected, exit code", "[unit][subprocess]") {
  auto r = run_command({"sh", "-c", "tr a-z A-Z; echo err >&2; exit 3"}, "hello", 10000);
  CHECK(r.out == "HELLO");
  CHECK(r.err == "err\n");
  CHECK(r.exit_code == 3);
  CHECK_FALSE(r.timed_out);
}

TEST_CASE("run_child: a command that cannot be started says why", "[unit][subprocess]") {
  auto r = run_command({"/nonexistent/prog"}, "", 10000);
  CHECK(r.exit_code == 127);
  CHECK(r.exec_errno == ENOENT);
  CHECK(r.err.find("cannot run '/nonexistent/prog'") != std::string::npos);
}

TEST_CASE("run_child: the timeout kills the whole tree, even after the pipes close",
          "[unit][subprocess]") {
  test::TempDir tmp;
  auto pidfile = tmp / "bg.pid";
  // The command leaves a background sleeper with its output closed and then waits.
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_command(
      {"sh", "-c",
       "sleep 30 >/dev/null 2>&1 & echo $! > " + pidfile.string() + "; exec >&- 2>&-; wait"},
      "", 500);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(r.timed_out);
  CHECK(s < 10);
  auto bg = read_pid(pidfile);
  REQUIRE(bg > 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(alive(bg));
}

TEST_CASE("run_child: output over the cap kills the command", "[unit][subprocess]") {
  auto r = run_command({"sh", "-c", "yes"}, "", 20000, {}, 1 << 16);
  CHECK(r.output_too_large);
  CHECK(r.out.size() == (1u << 16));
}

TEST_CASE("run_child: streamed output, environment, ticks", "[unit][subprocess]") {
  ChildSpec s;
  s.argv = {"sh", "-c", "echo $XOPS_T; sleep 1.2; echo two >&2"};
  s.env = {{"XOPS_T", "one"}};
  std::string o[2];
  s.on_output = [&](int fd, const char* d, size_t n) { o[fd - 1].append(d, n); };
  int ticks = 0;
  s.on_tick = [&] { ++ticks; };
  pid_t started = 0;
  s.on_start = [&](pid_t p) { started = p; };
  auto r = run_child(s);
  CHECK(r.exit_code == 0);
  CHECK(o[0] == "one\n");
  CHECK(o[1] == "two\n");
  CHECK(r.out.empty());
  CHECK(ticks >= 2);
  CHECK(started > 0);
}

TEST_CASE("run_child: an interrupt kills the command's group and ends ours with Interrupted",
          "[unit][subprocess][interrupt]") {
  test::TempDir tmp;
  interrupt::install();
  interrupt::reset();
  auto pidfile = tmp / "bg.pid";
  auto t = signal_later(SIGINT, 500);
  bool threw = false;
  try {
    run_command({"sh", "-c", "sleep 30 & echo $! > " + pidfile.string() + "; wait"}, "", 60000);
  } catch (const Error& e) {
    threw = e.kind() == ErrorKind::Interrupted;
  }
  t.join();
  interrupt::reset();
  CHECK(threw);
  auto bg = read_pid(pidfile);
  REQUIRE(bg > 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(alive(bg));
}

TEST_CASE("run_child: in Forward mode a signal goes to the command, which decides how to stop",
          "[unit][subprocess][interrupt]") {
  test::TempDir tmp;
  interrupt::install();
  interrupt::reset();
  ChildSpec s;
  s.argv = {"sh", "-c",
            "trap 'kill $!; echo cleaned > " + (tmp / "done").string() +
                "; exit 7' TERM; sleep 30 & wait"};
  s.on_interrupt = OnInterrupt::Forward;
  auto t = signal_later(SIGTERM, 500);
  auto r = run_child(s);
  t.join();
  CHECK(r.interrupted);
  CHECK(r.exit_code == 7);  // the command's own choice, after its cleanup
  CHECK(fs::exists(tmp / "done"));
  CHECK_FALSE(interrupt::requested());  // the signal was the command's; we go on
}
