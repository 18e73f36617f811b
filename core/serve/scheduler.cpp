#include "core/serve/scheduler.hpp"

#include <fmt/format.h>
#include <algorithm>

#include "core/engine/language_model.hpp"
#include "core/error.hpp"

namespace xops {

Scheduler::Scheduler(LanguageModel& model, const SchedulerOptions& o) : model_(model), o_(o) {
  DecoderOptions d;
  d.slots = o.slots;
  d.context = o.context;
  d.max_step_tokens = o.max_step_tokens;
  d.prefill_while_decoding = o.prefill_while_decoding;
  d.prefix_cache = o.prefix_cache;
  dec_ = model_.decoder(d);
  context_ = dec_->context();
  active_.resize(static_cast<size_t>(dec_->slots()));
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  drain();
}

bool Scheduler::submit(std::shared_ptr<GenRequest> r) {
  if (r->prompt.empty()) throw usage_error("the prompt is empty");
  if (r->prompt.size() >= static_cast<size_t>(context_))
    throw usage_error(
        fmt::format("the prompt has {} tokens; the context holds {} (prompt and completion)",
                    r->prompt.size(), context_),
        "shorten the prompt");
  std::lock_guard<std::mutex> lk(mu_);
  if (stopping_ || queue_.size() >= static_cast<size_t>(o_.max_queue)) return false;
  queue_.push_back(std::move(r));
  cv_.notify_one();
  return true;
}

void Scheduler::drain() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SchedulerCounters Scheduler::counters() const {
  std::lock_guard<std::mutex> lk(mu_);
  SchedulerCounters c = counters_;
  c.queued = queue_.size();
  return c;
}

void Scheduler::admit_locked() {
  const auto& cfg = model_.config();
  // Of the requests that get a slot now, those whose prompt starts with cached tokens go
  // first (longest first): a request without one takes the least recently used cache, which
  // may be the one a later request in the same batch would have reused.
  size_t free = 0;
  for (const auto& a : active_) free += a.req ? 0 : 1;
  const auto take = static_cast<std::ptrdiff_t>(std::min(free, queue_.size()));
  if (take > 1) {
    std::vector<std::pair<size_t, std::shared_ptr<GenRequest>>> batch;
    for (auto it = queue_.begin(); it != queue_.begin() + take; ++it)
      batch.emplace_back(dec_->cached_prefix((*it)->prompt, (*it)->adapter), std::move(*it));
    std::stable_sort(batch.begin(), batch.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::ptrdiff_t i = 0; i < take; ++i)
      queue_[static_cast<size_t>(i)] = std::move(batch[static_cast<size_t>(i)].second);
  }
  // The decoder chooses the slot (the one whose cached rows serve the prompt best), not
  // necessarily the next free one in order: admit while any slot is free.
  while (running_ < active_.size() && !queue_.empty()) {
    auto req = std::move(queue_.front());
    queue_.pop_front();
    const int max_new = std::max(
        0, std::min(req->sampling.max_tokens, context_ - static_cast<int>(req->prompt.size())));
    Active a;
    a.req = req;
    a.seq = std::make_unique<Sequence>(model_.tokenizer(), cfg.eos_id, req->sampling,
                                       req->prompt.size(), max_new, req->sampling.seed);
    if (req->cancelled || a.seq->done()) {  // gone while queued, or nothing to generate
      if (req->cancelled) a.seq->cancel("cancelled");
      req->on_done(a.seq->take());
      continue;
    }
    int slot = dec_->admit(req->prompt, req->adapter);
    if (slot < 0 || active_[static_cast<size_t>(slot)].req) {  // cannot happen: one was free
      queue_.push_front(std::move(req));
      return;
    }
    counters_.prompt_tokens += req->prompt.size();
    active_[static_cast<size_t>(slot)] = std::move(a);
    ++running_;
  }
}

Scheduler::Finished Scheduler::retire(int slot, const std::string& cancel_reason) {
  auto& a = active_[static_cast<size_t>(slot)];
  if (!cancel_reason.empty()) a.seq->cancel(cancel_reason);
  dec_->release(slot);
  Finished f{std::move(a.req), a.seq->take()};
  a = Active{};
  --running_;
  return f;
}

void Scheduler::finish(int slot, const std::string& cancel_reason) {
  auto f = retire(slot, cancel_reason);
  f.req->on_done(f.gen);
}

void Scheduler::set_burst_window(int window_ms, int gap_ms) {
  std::lock_guard<std::mutex> lk(mu_);
  o_.burst_window_ms = window_ms;
  o_.burst_gap_ms = gap_ms;
}

void Scheduler::loop() {
  const size_t V = static_cast<size_t>(model_.config().vocab_size);
  const int32_t eos = model_.config().eos_id;
  std::string piece;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty() || running_ > 0; });
      // Idle, and a request arrived: clients of a burst arrive over a few milliseconds, so
      // wait briefly for them (until burst_gap_ms pass without one, at most burst_window_ms) and
      // prefill them in one step; otherwise the first step takes the first few and every
      // later arrival's prefill stalls the first ones' decoding.
      if (running_ == 0 && o_.burst_window_ms > 0) {
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.burst_window_ms);
        for (;;) {
          const size_t seen = queue_.size();
          if (stopping_ || seen >= active_.size()) break;
          const auto gap =
              std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.burst_gap_ms);
          if (!cv_.wait_until(lk, std::min(until, gap),
                              [&] { return stopping_ || queue_.size() != seen; }))
            break;  // burst_gap_ms without an arrival, or the window is over
          if (std::chrono::steady_clock::now() >= until) break;
        }
      }
      // Stopping: what is queued or running still finishes (graceful shutdown).
      if (stopping_ && queue_.empty() && running_ == 0) return;
      admit_locked();
    }
    auto now = std::chrono::steady_clock::now();
    for (size_t s = 0; s < active_.size(); ++s) {
      const auto& r = active_[s].req;
      if (r && r->cancelled)
        finish(static_cast<int>(s), "cancelled");
      else if (r && now > r->deadline)
        finish(static_cast<int>(s), "timeout");
    }
    if (running_ == 0) continue;
    const size_t in_step = running_;  // every admitted sequence takes part (prefill or decode)
    std::vector<SlotLogits> ready;
    try {
      ready = dec_->step();
    } catch (const std::exception&) {
      for (size_t s = 0; s < active_.size(); ++s)
        if (active_[s].req) finish(static_cast<int>(s), "error");
      continue;
    }
    uint64_t generated = 0;
    std::vector<Finished> finished;
    for (const auto& r : ready) {
      auto& a = active_[static_cast<size_t>(r.slot)];
      if (!a.req) continue;
      int32_t id = a.seq->accept(r.logits, V, piece);
      ++generated;
      const auto& gen = a.seq->result();
      const TokenLogprob* lp =
          a.req->sampling.logprobs >= 0 && !gen.logprobs.empty() ? &gen.logprobs.back() : nullptr;
      bool is_eos = a.req->sampling.stop_at_eos && id == eos;
      if (a.req->on_token && (!is_eos || !piece.empty())) a.req->on_token(id, piece, lp);
      if (a.seq->done())
        finished.push_back(retire(r.slot, ""));
      else
        dec_->feed(r.slot, id);
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      counters_.generated_tokens += generated;
      counters_.max_batch = std::max(counters_.max_batch, in_step);
      if (in_step >= 2) ++counters_.batched_steps;
      counters_.running = running_;
      counters_.kv_bytes_in_use = dec_->kv_bytes_in_use();
      counters_.kv_bytes_reserved = dec_->kv_bytes_reserved();
      counters_.decoder = dec_->stats();
    }
    // Completion is announced after the counters hold this step: a client that reads the
    // metrics once its answer came sees the step that produced it.
    for (auto& f : finished) f.req->on_done(f.gen);
  }
}

}  // namespace xops
