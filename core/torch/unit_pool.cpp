#include "core/torch/unit_pool.hpp"

#include <immintrin.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace xops {
namespace {

using Clock = std::chrono::steady_clock;

// The dispatch word: epoch (32 bits) | next unit to claim (16) | units (16). Claiming is a CAS
// on it, so a worker that read an old epoch can never take a unit of a newer region, and a
// region's callable is read only after a claim succeeded (the caller cannot move on to the
// next region until that unit is done).
constexpr uint64_t kMaxUnits = 0xffff;
uint32_t epoch_of(uint64_t s) {
  return static_cast<uint32_t>(s >> 32);
}
uint32_t next_of(uint64_t s) {
  return static_cast<uint32_t>(s >> 16) & 0xffff;
}
uint32_t units_of(uint64_t s) {
  return static_cast<uint32_t>(s) & 0xffff;
}

thread_local bool t_in_unit = false;

void futex_wait(std::atomic<uint32_t>* w, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr,
          0);
}
void futex_wake_all(std::atomic<uint32_t>* w) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr,
          0);
}

class Pool {
 public:
  // Never destroyed: workers may be asleep in a futex when the process exits.
  static Pool& get() {
    static Pool* p = new Pool();
    return *p;
  }

  bool try_run(int units, int threads, const UnitFn& fn) {
    std::unique_lock<std::mutex> lk(dispatch_mu_, std::try_to_lock);
    if (!lk.owns_lock()) return false;
    ensure_workers(threads - 1);
    fn_ = &fn;
    done_.store(0, std::memory_order_relaxed);
    participants_.store(threads - 1, std::memory_order_relaxed);
    if (++epoch_ == 0) ++epoch_;  // 0 is the workers' starting value
    state_.store(static_cast<uint64_t>(epoch_) << 32 | static_cast<uint64_t>(units),
                 std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      wake_.fetch_add(1, std::memory_order_seq_cst);
      futex_wake_all(&wake_);
    }
    claim_and_run(epoch_);
    // What is left are units other threads took; one preempted mid-unit is waited out by
    // giving this CPU away rather than spinning on it.
    const auto spin_until = Clock::now() + std::chrono::microseconds(50);
    for (int i = 0; done_.load(std::memory_order_acquire) != units; ++i) {
      if (i < 64 || Clock::now() < spin_until)
        _mm_pause();
      else
        sched_yield();
    }
    return true;
  }

 private:
  Pool() : spin_us_(parse_spin_us(std::getenv("XOPS_SPIN_US"))) {}

  void ensure_workers(int n) {
    n = std::min(n, 63);
    for (; workers_ < n; ++workers_) std::thread([this, id = workers_] { worker(id); }).detach();
  }

  void claim_and_run(uint32_t epoch) {
    for (;;) {
      uint64_t s = state_.load(std::memory_order_acquire);
      do {
        if (epoch_of(s) != epoch || next_of(s) >= units_of(s)) return;
      } while (!state_.compare_exchange_weak(s, s + (1u << 16), std::memory_order_acq_rel,
                                             std::memory_order_acquire));
      t_in_unit = true;
      (*fn_)(static_cast<int>(next_of(s)));
      t_in_unit = false;
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  void worker(int id) {
    uint32_t seen = 0;
    for (;;) {
      uint64_t s = 0;
      auto spin_until = Clock::now() + std::chrono::microseconds(spin_us_);
      for (unsigned i = 1;; ++i) {
        s = state_.load(std::memory_order_acquire);
        if (epoch_of(s) != seen) break;
        _mm_pause();
        if (i % 256 == 0 && Clock::now() >= spin_until) {
          const uint32_t w = wake_.load(std::memory_order_seq_cst);
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          if (epoch_of(state_.load(std::memory_order_seq_cst)) == seen) futex_wait(&wake_, w);
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
          spin_until = Clock::now() + std::chrono::microseconds(spin_us_);
        }
      }
      seen = epoch_of(s);
      if (id < participants_.load(std::memory_order_relaxed)) claim_and_run(seen);
    }
  }

  const int spin_us_;
  std::mutex dispatch_mu_;
  uint32_t epoch_ = 0;  // under dispatch_mu_
  const UnitFn* fn_ = nullptr;
  std::atomic<uint64_t> state_{0};
  std::atomic<int> done_{0};
  std::atomic<int> participants_{0};
  std::atomic<uint32_t> wake_{0};  // futex word, bumped when sleepers must wake
  std::atomic<int> sleepers_{0};
  int workers_ = 0;  // started, under dispatch_mu_
};

}  // namespace

void for_each_unit(int units, int threads, UnitFn run) {
  if (units <= 0) return;
  threads = std::min(threads, units);
  if (static_cast<uint64_t>(units) > kMaxUnits) {
    // More units than the dispatch word counts: hand out groups of consecutive units.
    const int group = static_cast<int>((static_cast<uint64_t>(units) + kMaxUnits - 1) / kMaxUnits);
    const int groups = (units + group - 1) / group;
    auto grouped = [&](int g) {
      for (int u = g * group; u < std::min(units, (g + 1) * group); ++u) run(u);
    };
    for_each_unit(groups, threads, grouped);
    return;
  }
  if (threads > 1 && !t_in_unit && Pool::get().try_run(units, threads, run)) return;
  for (int u = 0; u < units; ++u) run(u);
}

int parse_spin_us(const char* value) {
  constexpr int kDefault = 200;
  if (value == nullptr || *value == '\0') return kDefault;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(value, &end, 10);
  const bool whole = errno == 0 && end != nullptr && *end == '\0' &&
                     std::isdigit(static_cast<unsigned char>(*value));
  return whole && n >= 0 && n <= 1000000 ? static_cast<int>(n) : kDefault;
}

}  // namespace xops
