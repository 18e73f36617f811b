#pragma once
// Runs a command as a child process (argv, no shell): streams its stdout/stderr to callbacks,
// samples CPU/RSS (and GPU when nvidia-smi exists). Built on run_child in Forward mode: Ctrl-C
// at the terminal reaches the command directly, signals sent to xops by kill(2) are forwarded
// to it, and xops waits for it to end (a second Ctrl-C does not abandon it).
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xops {

struct SystemSample {
  double cpu_percent = 0;  // of one core; 200 = two cores busy
  double rss_mb = 0;       // the child and its descendants
  std::optional<double> gpu_util, gpu_mem_mb;
};

struct SupervisedCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to ours
  std::string cwd;                         // "" = ours
  bool inherit_stdin = true;               // false: stdin is empty (parallel pipeline stages)
  bool own_group = false;  // true: its own process group, every signal forwarded to all of it
  std::function<void(int fd, const char* data, size_t n)> on_output;  // fd 1 or 2
  std::function<void(const SystemSample&)> on_sample;
  double sample_seconds = 5;
  std::function<void()> on_tick;  // about twice a second (e.g. to ingest a metrics file)
};

struct RunOutcome {
  int exit_code = 0;         // the child's, or 128 + signal
  int signal = 0;            // non-zero when the child died of a signal
  bool interrupted = false;  // we received SIGINT/SIGTERM and forwarded it
  double seconds = 0;
};

// Throws Error(Usage) when the command cannot be started (not found, not executable).
RunOutcome supervise(const SupervisedCommand& cmd);

}  // namespace xops
