// Use cases that load the engine, called without the CLI: a fine-tune job (tracked, stored,
// stoppable) and a serve session (listening, answering, logging time to first token).
#include <catch2/catch.hpp>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/app/finetune_job.hpp"
#include "core/app/serve_session.hpp"
#include "core/error.hpp"
#include "core/plugins/http.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/interaction_log.hpp"
#include "core/tracking/tracker.hpp"
#include "core/tracking/tracking_db.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Project {
  TempDir tmp;
  fs::path p = tmp / "p";
  Project() {
    REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc ==
            0);
  }
  Workspace ws() const {
    std::vector<std::string> warnings;
    return Workspace::open(p, &warnings);
  }
};

const char* kTiny =
    "model: {init: {arch: gpt2, layers: 1, d_model: 32, heads: 2, ctx: 32}}\n"
    "data: {train: data/corpus.txt, seq_len: 16}\n"
    "max_steps: 6\nbatch_size: 2\nseed: 1\nthreads: 1\ndevice: cpu\nlog_interval: 3\n"
    "optimizer: {lr: 3.0e-3}\noutput: tiny\n";

}  // namespace

TEST_CASE("app: run_finetune() trains, tracks the run and stores the output", "[engine][app]") {
  Project pr;
  fs::create_directories(pr.p / "data");
  write_text(pr.p / "data/corpus.txt", std::string(4000, 'a') + "the quick brown fox\n");
  write_text(pr.p / "configs/tiny.yaml", kTiny);
  auto ws = pr.ws();
  std::vector<int> steps, logged;
  app::FinetuneObserver obs;
  obs.on_step = [&](const TrainStep& s, bool log_line) {
    steps.push_back(s.step);
    if (log_line) logged.push_back(s.step);
  };
  auto o = app::run_finetune({pr.p / "configs/tiny.yaml", {"max_steps=4"}, false, false}, &ws, obs);
  CHECK(steps == std::vector<int>{1, 2, 3, 4});
  CHECK(logged == std::vector<int>{3, 4});  // log_interval, and the last step
  CHECK(o.result.steps == 4);
  CHECK(o.result.losses.size() == 4);
  CHECK(fs::exists(o.output_dir / "model.safetensors"));
  CHECK(o.output_dir == ws.root() / "models/tiny");
  CHECK(o.sha256.size() == 64);
  CHECK(fs::exists(ws.root() / "models/tiny.xops"));
  auto run = Tracker::for_workspace(ws).get(o.run_id);
  CHECK(run.kind == "finetune");
  CHECK(run.status == "finished");
  CHECK(run.params.at("max_steps") == "4");
  bool loss = false;
  for (const auto& m : run.metrics)
    if (m.key == "train/loss") loss = m.count == 4 && m.last == Approx(o.result.losses.back());
  CHECK(loss);
  // LoRA on it without target_modules: the run records what was adapted, not "".
  write_text(pr.p / "configs/lora.yaml",
             "model: models/tiny\ndata: {train: data/corpus.txt, seq_len: 16}\nmethod: lora\n"
             "max_steps: 2\nbatch_size: 2\nthreads: 1\ndevice: cpu\noutput: tiny-lora\n");
  auto l = app::run_finetune({pr.p / "configs/lora.yaml", {}, false, false}, &ws);
  auto lora_run = Tracker::for_workspace(ws).get(l.run_id);
  CHECK(lora_run.params.at("lora.target_modules") == "c_attn");
  CHECK(fs::exists(l.output_dir / "adapter_model.safetensors"));
}

TEST_CASE("app: run_finetune() stops when asked, marks the run killed, keeps a checkpoint",
          "[engine][app]") {
  Project pr;
  fs::create_directories(pr.p / "data");
  write_text(pr.p / "data/corpus.txt", std::string(4000, 'b') + "\n");
  write_text(pr.p / "configs/tiny.yaml", kTiny);
  auto ws = pr.ws();
  int seen = 0;
  app::FinetuneObserver obs;
  obs.on_step = [&](const TrainStep&, bool) { ++seen; };
  obs.should_stop = [&] { return seen >= 2; };
  try {
    app::run_finetune({pr.p / "configs/tiny.yaml", {}, false, false}, &ws, obs);
    FAIL("training did not stop");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Interrupted);
    CHECK(e.hint() == "continue with --resume");
  }
  RunQuery q;
  auto runs = Tracker::for_workspace(ws).list(q);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].status == "killed");
  CHECK(runs[0].exit_code == 130);
  CHECK(fs::exists(ws.state_dir() / "checkpoints/tiny"));
}

TEST_CASE("app: serve() answers on an ephemeral port and logs 0 < ttft <= latency",
          "[engine][app][serve]") {
  Project pr;
  fs::create_directories(pr.p / "models");
  fs::copy(shared_dir() / "golden/models/gpt2-tiny", pr.p / "models/m",
           fs::copy_options::recursive);
  auto ws = pr.ws();
  app::ServeRequest req;
  req.ref = (pr.p / "models/m").string();
  req.http.port = 0;
  req.load.device = "cpu";
  req.load.threads = 1;
  std::atomic<bool> stop{false};
  std::string url;
  std::atomic<bool> listening{false};
  app::ServeObserver obs;
  obs.on_listening = [&](const std::string& u) {
    url = u;
    listening = true;
  };
  obs.should_stop = [&] { return stop.load(); };
  std::exception_ptr failed;
  std::thread server([&] {
    try {
      app::serve(req, &ws, obs);
    } catch (...) {
      failed = std::current_exception();
      listening = true;
    }
  });
  struct Stop {
    std::atomic<bool>& s;
    std::thread& t;
    ~Stop() {
      s = true;
      if (t.joinable()) t.join();
    }
  } stopper{stop, server};
  while (!listening) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE_FALSE(failed);
  auto& http = http::client();
  for (int i = 0; i < 600 && http.get(url + "/health", {}, 1000).status != 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto whole =
      http.post_json(url + "/v1/completions",
                     R"({"prompt": "Hello there", "max_tokens": 4, "temperature": 0})", {}, 60000);
  REQUIRE(whole.status == 200);
  auto w = json::parse(whole.body);
  auto streamed =
      http.post_json(url + "/v1/completions",
                     R"({"prompt": "Hello there", "max_tokens": 4, "temperature": 0, "stream": true,
          "stream_options": {"include_usage": true}})",
                     {}, 60000);
  REQUIRE(streamed.status == 200);
  // The streamed usage is the same as the whole reply's (it once read a dead stack frame).
  auto at = streamed.body.find("\"usage\"");
  REQUIRE(at != std::string::npos);
  auto line_start = streamed.body.rfind("data: ", at) + 6;
  auto usage =
      json::parse(streamed.body.substr(line_start, streamed.body.find('\n', at) - line_start));
  CHECK(usage["usage"] == w["usage"]);
  CHECK(w["usage"]["prompt_tokens"].get<int>() > 0);
  stop = true;
  server.join();
  auto db = open_tracking_db(ws);
  auto logged = read_interactions(db, 0);
  REQUIRE(logged.size() == 2);
  for (const auto& l : logged) {
    const auto& i = l.interaction;
    REQUIRE(i.ttft_ms);
    CHECK(*i.ttft_ms > 0);
    CHECK(*i.ttft_ms <= i.latency_ms);
    CHECK(i.completion_tokens > 0);
  }
}
