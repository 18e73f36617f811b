#pragma once
// One interrupt mechanism for every command. The CLI installs it at start: the first SIGINT,
// SIGTERM or SIGHUP only sets a flag; long-running work checks it (parallel loops, copy and
// hash loops, subprocess waits, eval cases, generation, training) and throws
// Error(Interrupted), so the stack unwinds: temp files go (their RAII owners remove them), a
// run is marked `killed`, the progress line is finished, and the single error handler exits
// 130. A second signal ends the process at once (130), for work that does not check; the
// process groups of running children (ChildGroup) are killed first so none outlives us.
//
// While a child is supervised with signal forwarding (ForwardScope: `track run`), every
// signal belongs to the child: none ends xops, each is counted for the supervisor to forward.
#include <sys/types.h>

#include "core/error.hpp"  // XOPS_BASE_API: the flag lives once, in libxops_base.so

namespace xops::interrupt {

XOPS_BASE_API void install();
XOPS_BASE_API bool requested();
// The signal that was received (0 when none).
XOPS_BASE_API int signal_number();
// How many signals arrived since install (or reset); the supervisor forwards the new ones.
XOPS_BASE_API unsigned count();
// Whether the latest signal came from the terminal (Ctrl-C reaches the whole foreground
// process group, so a child in our group already has it) rather than from kill(2).
XOPS_BASE_API bool last_from_terminal();
// Throws Error(Interrupted) when an interrupt was requested.
XOPS_BASE_API void check();
// Forget a request (tests; and the supervisor, once the child it forwarded to has ended).
XOPS_BASE_API void reset();

// Registers a child's process group to be SIGKILLed when a second signal ends us.
class XOPS_BASE_API ChildGroup {
 public:
  explicit ChildGroup(pid_t pgid);
  ~ChildGroup();
  ChildGroup(const ChildGroup&) = delete;
  ChildGroup& operator=(const ChildGroup&) = delete;

 private:
  int slot_ = -1;
};

// While alive, signals are counted and never end the process (the supervisor forwards them).
class XOPS_BASE_API ForwardScope {
 public:
  ForwardScope();
  ~ForwardScope();
  ForwardScope(const ForwardScope&) = delete;
  ForwardScope& operator=(const ForwardScope&) = delete;
};

}  // namespace xops::interrupt
