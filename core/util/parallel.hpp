#pragma once
// parallel_for: runs fn(i) for i in [0, n) on `jobs` threads (0 = hardware threads).
// The first exception stops further work and is rethrown in the caller; an interrupt
// (Ctrl-C) stops it between items with Error(Interrupted).
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "core/util/interrupt.hpp"

namespace xops {

inline unsigned resolve_jobs(int jobs) {
  if (jobs > 0) return static_cast<unsigned>(jobs);
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? hw : 2;
}

template <typename Fn>
void parallel_for(size_t n, int jobs, Fn&& fn) {
  unsigned threads = std::min<size_t>(resolve_jobs(jobs), n);
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) {
      interrupt::check();
      fn(i);
    }
    return;
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex mu;
  auto worker = [&] {
    while (!stop) {
      size_t i = next++;
      if (i >= n) return;
      try {
        interrupt::check();
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) {
    // A thread that cannot be created (EAGAIN: a process or memory limit) is not fatal:
    // carry on with those that exist (at least this one) instead of std::terminate.
    try {
      pool.emplace_back(worker);
    } catch (const std::system_error&) {
      break;
    }
  }
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace xops
