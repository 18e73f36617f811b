#pragma once
// Runs a command (argv, no shell) with input on stdin, collecting stdout/stderr, with a timeout.
#include <map>
#include <string>
#include <vector>

namespace xops {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed
  bool timed_out = false;
  std::string out, err;
};

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input, int timeout_ms,
                          const std::map<std::string, std::string>& env = {});

}  // namespace xops
