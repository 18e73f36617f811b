// The serving scheduler over the real decoder: admission when the decoder picks slots by
// their cached prompt rows, and bursts gathered into one step.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "core/engine/engine.hpp"
#include "core/serve/scheduler.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

namespace {

std::unique_ptr<LanguageModel> tiny_model() {
  LoadOptions o;
  o.device = "cpu";
  o.threads = 1;
  return engine().load(test::shared_dir() / "golden/models/gpt2-tiny", o);
}

std::vector<std::vector<int32_t>> golden_prompts() {
  auto g =
      nlohmann::json::parse(read_file(test::shared_dir() / "golden/models/gpt2-tiny/golden.json"));
  std::vector<std::vector<int32_t>> out;
  for (const auto& p : g["prompts"]) out.push_back(p["prompt_ids"].get<std::vector<int32_t>>());
  return out;
}

// Submits the prompts at once and waits for all of them; returns the tokens of each.
std::vector<std::vector<int32_t>> burst(Scheduler& s, const std::vector<std::vector<int32_t>>& ps,
                                        int n) {
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;
  std::vector<std::vector<int32_t>> out(ps.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    auto r = std::make_shared<GenRequest>();
    r->prompt = ps[i];
    r->sampling.max_tokens = n;
    r->sampling.stop_at_eos = false;
    r->on_done = [&, i](const Generation& g) {
      std::lock_guard<std::mutex> lk(mu);
      out[i] = g.ids;
      ++done;
      cv.notify_all();
    };
    REQUIRE(s.submit(r));
  }
  std::unique_lock<std::mutex> lk(mu);
  cv.wait(lk, [&] { return done == ps.size(); });
  return out;
}

}  // namespace

TEST_CASE("scheduler: a burst fills every free slot even when the decoder picks them by cache",
          "[engine][serve]") {
  auto m = tiny_model();
  auto g = golden_prompts();
  std::vector<std::vector<int32_t>> ps{g[0], g[1], g[2], g[3]};
  SchedulerOptions so;
  so.slots = 4;
  Scheduler s(*m, so);
  const int n = 8;
  // One at a time: each prompt's rows stay cached in its own slot (0, 1, 2, 3).
  std::vector<std::vector<int32_t>> alone;
  for (const auto& p : ps) alone.push_back(burst(s, {p}, n)[0]);
  // Again, all at once and in reverse: the first admitted goes to the last slot (its cache).
  // Admission once stopped at the scheduler's slot index already taken, leaving a request for
  // the next step; now all four start together: n steps (their last prompt token and n - 1
  // fed tokens), and the answers are unchanged.
  // The four are submitted one after another by this thread; on a busy machine (CI runs tests
  // in parallel) two submissions can lie more than the default 2 ms apart. The scheduler stops
  // waiting as soon as all four slots are asked for, so a wide window keeps the step count
  // exact and costs nothing.
  s.set_burst_window(20000, 10000);
  const auto before = s.counters().decoder;
  auto got = burst(s, {ps[3], ps[2], ps[1], ps[0]}, n);
  const auto after = s.counters().decoder;
  CHECK(after.reused_tokens - before.reused_tokens ==
        ps[0].size() + ps[1].size() + ps[2].size() + ps[3].size() - 4);
  CHECK(after.steps - before.steps == static_cast<uint64_t>(n));
  CHECK(s.counters().max_batch == 4);
  for (size_t i = 0; i < 4; ++i) CHECK(got[3 - i] == alone[i]);
}

namespace {

// Submits one request to an idle scheduler and says whether it finished within `limit` (a
// bound far above any step here: only a scheduler still waiting for a burst misses it).
bool finishes_within(Scheduler& s, const std::vector<int32_t>& prompt,
                     std::chrono::milliseconds limit) {
  auto mu = std::make_shared<std::mutex>();
  auto cv = std::make_shared<std::condition_variable>();
  auto done = std::make_shared<bool>(false);
  auto r = std::make_shared<GenRequest>();
  r->prompt = prompt;
  r->sampling.max_tokens = 2;
  r->on_done = [mu, cv, done](const Generation&) {
    std::lock_guard<std::mutex> lk(*mu);
    *done = true;
    cv->notify_all();
  };
  REQUIRE(s.submit(r));
  std::unique_lock<std::mutex> lk(*mu);
  return cv->wait_for(lk, limit, [&] { return *done; });
}

}  // namespace

TEST_CASE("scheduler: --burst-window 0 starts at the first arrival, a window caps the wait",
          "[engine][serve]") {
  auto m = tiny_model();
  const auto p = golden_prompts()[0];
  SchedulerOptions so;
  so.slots = 4;  // one request never fills the slots, so only the window ends the wait
  so.burst_window_ms = 0;
  so.burst_gap_ms = 600000;  // were the window ignored, the gap would hold it for 10 minutes
  {
    Scheduler s(*m, so);
    CHECK(finishes_within(s, p, std::chrono::seconds(60)));
  }
  // A window shorter than the gap ends the wait; one longer keeps the request waiting.
  Scheduler s(*m, so);
  s.set_burst_window(200, 600000);
  CHECK(finishes_within(s, p, std::chrono::seconds(60)));
  s.set_burst_window(600000, 600000);
  CHECK_FALSE(finishes_within(s, p, std::chrono::milliseconds(500)));
  // Leaving scope drains the scheduler: the waiting request still runs to its end.
}
