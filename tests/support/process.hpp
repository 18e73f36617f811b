#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace xops::test {

struct ProcResult {
  int rc = -1;  // exit status, or 128 + signal
  std::string out, err;
};

// Runs argv (no shell) in cwd with extra environment variables, feeding `input` on stdin.
ProcResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                       const std::map<std::string, std::string>& env = {},
                       const std::string& input = {});

// The xops binary under test: $XOPS_TEST_BINARY, else the one this build made.
std::string xops_binary();
// Runs the built xops binary.
ProcResult run_xops(const std::vector<std::string>& args, const std::filesystem::path& cwd,
                const std::map<std::string, std::string>& env = {}, const std::string& input = {});

// Whether pid is a running process (a zombie nobody reaped yet counts as gone: PID 1 in a
// container may never reap the orphans a killed command leaves).
bool process_alive(int pid);

// sh -c SCRIPT, for git plumbing in tests.
ProcResult sh(const std::string& script, const std::filesystem::path& cwd);

}  // namespace xops::test
