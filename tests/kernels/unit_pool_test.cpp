// The engine's own worker threads: every unit runs exactly once whoever takes it, callers from
// several threads at once, nested calls, more units than the dispatch word counts, and a
// worker held up mid-unit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/torch/unit_pool.hpp"

using namespace xops;

namespace {

std::vector<int> run_counts(int units, int threads) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(units));
  for (auto& h : hits) h = 0;
  for_each_unit(units, threads, [&](int u) { hits[static_cast<size_t>(u)].fetch_add(1); });
  std::vector<int> out;
  for (auto& h : hits) out.push_back(h.load());
  return out;
}

}  // namespace

TEST_CASE("unit pool: every unit runs exactly once", "[kernels][pool]") {
  for (int threads : {1, 2, 3, 8})
    for (int units : {0, 1, 2, 7, 64, 1000, 70000}) {  // 70000: past the 16-bit unit count
      INFO(threads << " threads, " << units << " units");
      auto c = run_counts(units, threads);
      CHECK(std::count(c.begin(), c.end(), 1) == units);
    }
  // Many regions back to back: a worker that wakes late must never run a unit of a region it
  // did not see start, nor one twice.
  for (int r = 0; r < 2000; ++r) {
    auto c = run_counts(1 + r % 13, 2);
    REQUIRE(std::count(c.begin(), c.end(), 1) == 1 + r % 13);
  }
}

TEST_CASE("unit pool: more than one thread runs units, and the caller is one of them",
          "[kernels][pool]") {
  // Units that wait for each other can finish only if two threads take them at once.
  std::atomic<int> arrived{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  for_each_unit(2, 2, [&](int) {
    {
      std::lock_guard<std::mutex> lk(mu);
      ids.insert(std::this_thread::get_id());
    }
    arrived.fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (arrived.load() < 2 && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
  });
  CHECK(arrived == 2);
  CHECK(ids.size() == 2);
  CHECK(ids.count(std::this_thread::get_id()) == 1);
}

TEST_CASE("unit pool: nested calls and concurrent callers run inline, nothing lost",
          "[kernels][pool]") {
  std::atomic<int> inner{0};
  for_each_unit(8, 2, [&](int) { for_each_unit(5, 2, [&](int) { inner.fetch_add(1); }); });
  CHECK(inner == 40);
  // Four callers at once: one holds the pool, the others run their units on their own thread.
  std::vector<std::thread> callers;
  std::atomic<int> total{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      for (int r = 0; r < 300; ++r) for_each_unit(9, 2, [&](int) { total.fetch_add(1); });
    });
  for (auto& c : callers) c.join();
  CHECK(total == 4 * 300 * 9);
}

TEST_CASE("unit pool: a unit held up on another thread is waited for, not lost",
          "[kernels][pool]") {
  // The slow unit stands for a worker the OS preempted mid-unit: the caller finishes the rest
  // and returns only once that unit is done.
  std::atomic<bool> slow_done{false};
  std::atomic<int> count{0};
  for_each_unit(40, 2, [&](int u) {
    if (u == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      slow_done = true;
    }
    count.fetch_add(1);
  });
  CHECK(slow_done);
  CHECK(count == 40);
}

TEST_CASE("unit pool: XOPS_SPIN_US takes whole microseconds, anything else the default",
          "[kernels][pool]") {
  CHECK(parse_spin_us("50") == 50);
  CHECK(parse_spin_us("0") == 0);
  CHECK(parse_spin_us("1000000") == 1000000);
  for (const char* bad : {"", "abc", "12x", "-5", " 7", "1000001", "99999999999999999999"})
    CHECK(parse_spin_us(bad) == 200);
  CHECK(parse_spin_us(nullptr) == 200);
}
