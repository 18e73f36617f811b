#include "core/util/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "core/error.hpp"

namespace xops::interrupt {

namespace {
std::atomic<int> g_signal{0};

void on_signal(int sig) {
  if (g_signal.exchange(sig) != 0) {
    static const char msg[] = "\nxops: interrupted again: stopping now\n";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(130);
  }
}
}  // namespace

void install() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking read returns EINTR and the loop checks the flag
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

bool requested() {
  return g_signal.load(std::memory_order_relaxed) != 0;
}
int signal_number() {
  return g_signal.load();
}

void check() {
  if (requested())
    throw Error(ErrorKind::Interrupted, "interrupted",
                "nothing half-written was kept; run the command again to finish");
}

void reset() {
  g_signal = 0;
}

}  // namespace xops::interrupt
