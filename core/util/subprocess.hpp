#pragma once
// Runs a command (argv, no shell) in its own process group with input on stdin, collecting
// stdout/stderr, under a timeout and an output cap. The whole group is killed when either is
// exceeded, and the timeout holds even when the command closes its pipes and keeps running.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace xops {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed
  bool timed_out = false;
  bool output_too_large = false;  // stdout or stderr passed max_output (the group was killed)
  std::string out, err;
};

inline constexpr size_t kDefaultMaxOutput = 4u << 20;

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input, int timeout_ms,
                          const std::map<std::string, std::string>& env = {},
                          size_t max_output = kDefaultMaxOutput);

}  // namespace xops
