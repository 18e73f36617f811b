#pragma once
// Continuous batching for `xops serve`: one thread drives the step-level decoder; requests
// join the running batch at the next step and leave when done, cancelled or timed out, and
// their slot is free at once. A bounded queue holds what does not fit.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/engine/decoder.hpp"
#include "core/engine/generation.hpp"

namespace xops {

class LanguageModel;

// One generation. The callbacks run on the scheduler thread and must not block.
struct GenRequest {
  std::vector<int32_t> prompt;
  SamplingOptions sampling;
  int adapter = -1;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // (token id, text that became final, its logprob entry or null)
  std::function<void(int32_t, const std::string&, const TokenLogprob*)> on_token;
  std::function<void(const Generation&)> on_done;  // exactly once
  std::atomic<bool> cancelled{false};              // set by any thread (client gone)
};

struct SchedulerOptions {
  int slots = 8;              // sequences decoded together
  int context = 0;            // tokens per slot (0: the model's maximum)
  int max_step_tokens = 1024;       // tokens one step processes (prefill chunks + decode rows)
  int prefill_while_decoding = 64;  // prompt tokens per step while others decode
  int max_queue = 64;         // requests waiting for a slot; more are refused
  bool prefix_cache = true;   // reuse cached KV rows of a shared prompt prefix
  int burst_window_ms = 10;   // idle: wait up to this for a burst's other requests (0: off)
  int burst_gap_ms = 2;       // ... but stop waiting once this long passes without an arrival
};

struct SchedulerCounters {
  size_t queued = 0, running = 0;
  size_t max_batch = 0;        // the most sequences one decoder step has carried
  uint64_t batched_steps = 0;  // steps that carried two or more sequences
  size_t kv_bytes_in_use = 0, kv_bytes_reserved = 0;
  uint64_t prompt_tokens = 0, generated_tokens = 0;
  DecoderStats decoder;
};

class Scheduler {
 public:
  Scheduler(LanguageModel& model, const SchedulerOptions& o);
  ~Scheduler();  // stops: queued requests end "cancelled", running ones are finished first
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; false when the queue is full (the caller answers 429). Throws
  // Error(Usage) for a prompt that cannot fit the context.
  bool submit(std::shared_ptr<GenRequest> r);
  // Finishes running and queued requests, then ends the thread.
  void drain();
  SchedulerCounters counters() const;
  // Changes how long an idle scheduler waits for a burst's other requests (see the options).
  void set_burst_window(int window_ms, int gap_ms);
  int context() const { return context_; }

 private:
  struct Active {
    std::shared_ptr<GenRequest> req;
    std::unique_ptr<Sequence> seq;  // (not assignable: it holds a reference to the options)
  };
  void loop();
  void admit_locked();
  struct Finished {
    std::shared_ptr<GenRequest> req;
    Generation gen;
  };
  // Frees the slot and hands back the request with its result; finish() also calls on_done.
  Finished retire(int slot, const std::string& cancel_reason);
  void finish(int slot, const std::string& cancel_reason);

  LanguageModel& model_;
  SchedulerOptions o_;
  std::unique_ptr<Decoder> dec_;
  int context_ = 0;
  std::vector<Active> active_;  // by slot
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<GenRequest>> queue_;
  bool stopping_ = false;
  size_t running_ = 0;          // scheduler thread only
  SchedulerCounters counters_;  // under mu_
  std::thread thread_;
};

}  // namespace xops
