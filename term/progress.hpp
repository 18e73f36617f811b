#pragma once
// A progress bar on stderr, drawn only on a TTY and never with -q or --json: count or bytes,
// rate and ETA, redrawn at most 10 times a second. Thread-safe updates.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "term/output.hpp"

namespace xops::cli {

class ProgressBar {
 public:
  ProgressBar(const Output& o, std::string label, uint64_t total, bool bytes);
  ~ProgressBar();
  void advance(uint64_t n);
  void set(uint64_t done);
  void set_suffix(std::string s);  // e.g. "loss 2.31 lr 3e-4"
  void finish();
  bool enabled() const { return enabled_; }
  // Text of the bar for `done` at `elapsed` seconds (exposed for tests).
  std::string render(uint64_t done, double elapsed, int width) const;

 private:
  void draw(bool force);
  bool enabled_;
  std::string label_, suffix_;
  uint64_t total_;
  bool bytes_;
  std::atomic<uint64_t> done_{0};
  std::mutex mu_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool finished_ = false;
};

std::string human_bytes(double n);
std::string human_duration(double seconds);

}  // namespace xops::cli
