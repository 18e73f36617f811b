#pragma once
// One interrupt mechanism for every command. The CLI installs it at start: the first SIGINT,
// SIGTERM or SIGHUP only sets a flag; long-running work checks it (parallel loops, copy and
// hash loops, subprocess waits, eval cases, generation, training) and throws
// Error(Interrupted), so the stack unwinds: temp files go (their RAII owners remove them), a
// run is marked `killed`, the progress line is finished, and the single error handler exits
// 130. A second signal ends the process at once (130), for work that does not check.
namespace xops::interrupt {

void install();
bool requested();
// The signal that was received (0 when none).
int signal_number();
// Throws Error(Interrupted) when an interrupt was requested.
void check();
// For tests: forget a request.
void reset();

}  // namespace xops::interrupt
