#pragma once
// The OpenAI-compatible stub (tests/fixtures/openai_stub.py) as a test fixture: started on a
// free loopback port, stopped at scope exit.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace xops::test {

// The OpenAI-compatible stub (tests/fixtures/openai_stub.py) on a free loopback port.
struct Stub {
  pid_t pid = -1;
  int port = 0;
  explicit Stub(const std::string& log = "") {
    int out[2];
    REQUIRE(pipe(out) == 0);
    pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      if (!log.empty()) setenv("STUB_LOG", log.c_str(), 1);
      execlp("python3", "python3",
             (std::string(XOPS_SOURCE_DIR) + "/tests/fixtures/openai_stub.py").c_str(),
             (char*)nullptr);
      _exit(127);
    }
    close(out[1]);
    char buf[32] = {};
    ssize_t n = read(out[0], buf, sizeof buf - 1);
    close(out[0]);
    REQUIRE(n > 0);
    port = std::atoi(buf);
  }
  ~Stub() {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
};

}  // namespace xops::test
