#pragma once
// The one way xops runs another program (argv, no shell): `track run`'s supervised command,
// the eval `exec:` provider, exec assertions and script checks all go through run_child.
// Pipes for stdin/stdout/stderr, the child's own process group (so a timeout, an output cap
// or Ctrl-C kill its whole tree), an optional timeout that holds even after the command
// closes its pipes, and the interrupt module's signals either killing the child (default)
// or being forwarded to it (supervision: the child decides how to stop).
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xops {

enum class OnInterrupt {
  Kill,          // Ctrl-C kills the child's process group; run_child then throws Error(Interrupted)
  Forward,       // the child stays in our process group (it may read the terminal, and Ctrl-C
                 // reaches it directly); signals sent to us by kill(2) are forwarded to it; we wait
                 // for it to end and report `interrupted` instead of throwing
  ForwardGroup,  // as Forward, but the child leads its own process group and every signal we
                 // receive goes to that whole group (a pipeline stage: the shell and all it
                 // started stop, not just the shell); its stdin should not be the terminal
};

struct ChildSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to (or replacing) ours
  std::string input;                       // written to stdin, which is then closed
  bool inherit_stdin = false;              // the child reads our stdin instead
  std::string cwd;                         // where it runs ("" = ours)
  int timeout_ms = 0;                      // 0: no limit
  size_t max_output = 4u << 20;            // per stream, collected mode only; 0: no cap
  // When set, output is streamed here (fd 1 or 2) instead of collected into out/err.
  std::function<void(int fd, const char* data, size_t n)> on_output;
  std::function<void(pid_t)> on_start;  // once it runs (e.g. to sample its resource use)
  std::function<void()> on_tick;        // about twice a second while the child runs
  OnInterrupt on_interrupt = OnInterrupt::Kill;
};

struct ChildResult {
  int exit_code = -1;  // the child's, or 128 + signal; 127 when it could not be started
  int signal = 0;      // non-zero when the child died of a signal
  int exec_errno = 0;  // non-zero when exec failed (then err says so)
  bool timed_out = false;
  bool output_too_large = false;  // a stream passed max_output (the group was killed)
  bool interrupted = false;       // we received a signal while it ran (Forward mode)
  double seconds = 0;
  std::string out, err;  // collected mode
};

// Throws only for failures of our own (pipe, fork) and, in Kill mode, Error(Interrupted).
ChildResult run_child(const ChildSpec& spec);

// Collected output, input on stdin, a timeout: what eval's exec provider and assertions use.
using CommandResult = ChildResult;
inline constexpr size_t kDefaultMaxOutput = 4u << 20;
CommandResult run_command(const std::vector<std::string>& argv, const std::string& input, int timeout_ms,
                          const std::map<std::string, std::string>& env = {},
                          size_t max_output = kDefaultMaxOutput);

// A long-lived child speaking a line protocol on stdin/stdout (eval's JavaScript and Python
// assertion workers): its own process group (registered, so a second Ctrl-C kills it too),
// killed when destroyed or when a read times out.
class LineChild {
 public:
  // Throws when the program cannot be started.
  explicit LineChild(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~LineChild();
  LineChild(const LineChild&) = delete;
  LineChild& operator=(const LineChild&) = delete;

  bool alive() const;
  bool write(const std::string& data);  // false when the child is gone
  // The next stdout line that starts with `marker` (without it). Other lines are kept in the
  // stderr tail. nullopt on EOF or timeout (then the child is killed). Ctrl-C kills the child
  // and throws Error(Interrupted).
  std::optional<std::string> read_line(const std::string& marker, int timeout_ms);
  std::string stderr_tail() const;  // its last 8 KiB of stderr (and stray stdout)
  void kill();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace xops
