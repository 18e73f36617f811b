#include "core/util/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "core/error.hpp"

namespace xops::interrupt {

namespace {
std::atomic<int> g_signal{0};
std::atomic<unsigned> g_count{0};
std::atomic<bool> g_from_terminal{false};
std::atomic<int> g_forwarding{0};

// Process groups of running children (eval runs several at once with -j); 0 = free slot.
constexpr int kMaxGroups = 256;
std::atomic<pid_t> g_groups[kMaxGroups];

void on_signal(int sig, siginfo_t* info, void*) {
  // The tty driver sends with si_code SI_KERNEL; kill(2) from another process with SI_USER.
  g_from_terminal.store(info && info->si_code == SI_KERNEL);
  g_count.fetch_add(1);
  if (g_forwarding.load() > 0) {
    g_signal.store(sig);
    return;
  }
  if (g_signal.exchange(sig) != 0) {
    for (auto& g : g_groups)
      if (pid_t p = g.load(); p > 0) ::kill(-p, SIGKILL);
    static const char msg[] = "\nxops: interrupted again: stopping now\n";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(130);
  }
}
}  // namespace

void install() {
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: a blocking read returns EINTR and the loop checks the flag.
  sa.sa_flags = SA_SIGINFO;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

bool requested() {
  return g_signal.load(std::memory_order_relaxed) != 0;
}
int signal_number() {
  return g_signal.load();
}
unsigned count() {
  return g_count.load();
}
bool last_from_terminal() {
  return g_from_terminal.load();
}

void check() {
  if (requested())
    throw Error(ErrorKind::Interrupted, "interrupted",
                "nothing half-written was kept; run the command again to finish");
}

void reset() {
  g_signal = 0;
}

ChildGroup::ChildGroup(pid_t pgid) {
  for (int i = 0; i < kMaxGroups; ++i) {
    pid_t free = 0;
    if (g_groups[i].compare_exchange_strong(free, pgid)) {
      slot_ = i;
      return;
    }
  }
}
ChildGroup::~ChildGroup() {
  if (slot_ >= 0) g_groups[slot_].store(0);
}

ForwardScope::ForwardScope() {
  g_forwarding.fetch_add(1);
}
ForwardScope::~ForwardScope() {
  g_forwarding.fetch_sub(1);
}

}  // namespace xops::interrupt
