// Data-parallel `xops finetune` over c10d (Gloo on loopback): N processes must train what one
// process trains with the same global batch, a dead worker must end the run quickly (not
// hang), and a run must resume with another world size.
#include <signal.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/model/safetensors.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A project with a small text corpus and a config for a tiny byte-level GPT.
struct DistProject {
  TempDir tmp;
  fs::path p;
  DistProject() {
    REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc ==
            0);
    p = tmp / "p";
    std::string text;
    for (int i = 0; i < 1500; ++i)
      text += "line " + std::to_string(i) + ": the quick brown fox jumps over dog " +
              std::to_string(i * 7 % 13) + ".\n";
    write_text(p / "data/corpus.txt", text);
    write_text(
        p / "full.yaml",
        "model: {init: {arch: gpt2, layers: 2, d_model: 32, heads: 2, ctx: 32, vocab: byte}}\n"
        "data: {train: data/corpus.txt, seq_len: 24, val_split: 0.05}\n"
        "method: full\noptimizer: {lr: 2.0e-3}\nschedule: {type: constant}\n"
        "batch_size: 4\nmax_steps: 20\neval_interval: 10\neval_batches: 3\n"
        "device: cpu\nthreads: 1\noutput: full-1\n");
  }
  json finetune(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
    args.insert(args.begin(), {"--json", "finetune"});
    auto r = run_xops(args, p, env);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    return json::parse(r.out);
  }
};

double max_loss_diff(const json& a, const json& b) {
  REQUIRE(a["losses"].size() == b["losses"].size());
  double d = 0;
  for (size_t i = 0; i < a["losses"].size(); ++i)
    d = std::max(d, std::abs(a["losses"][i].get<double>() - b["losses"][i].get<double>()));
  return d;
}

// The largest difference between same-named tensors of two safetensors files.
double max_weight_diff(const fs::path& a, const fs::path& b) {
  auto fa = xops::SafetensorsFile::open(a), fb = xops::SafetensorsFile::open(b);
  REQUIRE(fa->tensors().size() == fb->tensors().size());
  double d = 0;
  for (const auto& ta : fa->tensors()) {
    const xops::TensorView* tb = nullptr;
    for (const auto& t : fb->tensors())
      if (t.name == ta.name) tb = &t;
    REQUIRE(tb);
    REQUIRE(ta.nbytes == tb->nbytes);
    const float* x = static_cast<const float*>(ta.data);
    const float* y = static_cast<const float*>(tb->data);
    for (size_t i = 0; i < ta.nbytes / 4; ++i) d = std::max(d, double(std::abs(x[i] - y[i])));
  }
  return d;
}

std::string read_proc(int pid, const char* what) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/" + what, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The pid of the worker with this RANK whose command line contains marker (0: none yet).
int worker_pid(const std::string& marker, int rank) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    int pid = std::stoi(name);
    auto cmd = read_proc(pid, "cmdline");
    if (cmd.find(marker) == std::string::npos || cmd.find("--nproc-per-node") != std::string::npos)
      continue;
    auto env = read_proc(pid, "environ");
    if (env.find(std::string("\0RANK=", 6) + std::to_string(rank) + '\0') != std::string::npos)
      return pid;
  }
  return 0;
}

int free_port() {
  // Ports from a range the launcher's free-port choice (ephemeral) rarely hands out.
  return 20000 + static_cast<int>(::getpid() % 5000) * 2;
}

}  // namespace

TEST_CASE("e2e: 2 data-parallel processes train what 1 process trains, full fine-tuning",
          "[e2e][distributed]") {
  DistProject d;
  auto one = d.finetune({"full.yaml"});
  auto two = d.finetune({"full.yaml", "--set", "output=full-2", "--nproc-per-node", "2"});
  CHECK(one["world_size"] == 1);
  CHECK(two["world_size"] == 2);
  CHECK(two["steps"] == 20);
  // The same global batch of 4: 2 windows per rank; losses within 1e-5 per step for 20 steps.
  CHECK(max_loss_diff(one, two) < 1e-5);
  CHECK(std::abs(one["eval_loss"].get<double>() - two["eval_loss"].get<double>()) < 1e-5);
  CHECK(max_weight_diff(d.p / "models/full-1/model.safetensors",
                        d.p / "models/full-2/model.safetensors") < 1e-4);
  // Rank 0 alone tracked the run: once, with the world size and every rank's host.
  auto runs = json::parse(run_xops({"--json", "track", "runs"}, d.p).out);
  REQUIRE(runs.size() == 2);
  const json* dist = nullptr;
  for (const auto& r : runs)
    if (r["name"] == "full-2") dist = &r;
  REQUIRE(dist);
  CHECK((*dist)["status"] == "finished");
  CHECK((*dist)["params"]["distributed.world_size"] == "2");
  CHECK((*dist)["metrics"]["train/loss"]["count"] == 20);
  // The gradient itself, not only where Adam (scale-invariant) takes the weights: the
  // all-reduced gradient's norm is the single process's (a mean over ranks instead of the
  // sum of their parts would halve it).
  const json* single = &runs[0] == dist ? &runs[1] : &runs[0];
  for (const char* k : {"max", "min", "last"})
    CHECK(std::abs((*dist)["metrics"]["train/grad_norm"][k].get<double>() -
                   (*single)["metrics"]["train/grad_norm"][k].get<double>()) < 1e-4);
  auto hosts = (*dist)["tags"]["distributed.hosts"].get<std::string>();
  CHECK(hosts.rfind("0=", 0) == 0);
  CHECK(hosts.find(",1=") != std::string::npos);
}

TEST_CASE("e2e: 2 data-parallel processes train what 1 process trains, LoRA with uneven shards",
          "[e2e][distributed]") {
  DistProject d;
  d.finetune({"full.yaml", "--set", "max_steps=5"});
  write_text(d.p / "lora.yaml",
             "model: models/full-1\ndata: {train: data/corpus.txt, seq_len: 24}\nmethod: lora\n"
             "lora: {r: 4, alpha: 8, dropout: 0}\noptimizer: {lr: 5.0e-3}\n"
             "batch_size: 5\ngrad_accum: 2\nmax_steps: 20\ndevice: cpu\nthreads: 1\n"
             "output: lora-1\n");
  // Global batch 5 in 2 micro-batches: 3 windows on rank 0, 2 on rank 1.
  auto one = d.finetune({"lora.yaml"});
  auto two = d.finetune({"lora.yaml", "--set", "output=lora-2", "--nproc-per-node", "2"});
  CHECK(max_loss_diff(one, two) < 1e-5);
  CHECK(one["trainable_params"] == two["trainable_params"]);
  CHECK(max_weight_diff(d.p / "models/lora-1/adapter_model.safetensors",
                        d.p / "models/lora-2/adapter_model.safetensors") < 1e-5);
}

TEST_CASE("e2e: workers started by hand with torchrun's environment train as the launcher's do",
          "[e2e][distributed]") {
  DistProject d;
  auto launched = d.finetune({"full.yaml", "--set", "output=launched", "--nproc-per-node", "2"});
  const std::string port = std::to_string(free_port());
  auto worker = [&](int rank) {
    return run_xops({"--json", "finetune", "full.yaml", "--set", "output=by-hand"}, d.p,
                    {{"RANK", std::to_string(rank)},
                     {"WORLD_SIZE", "2"},
                     {"MASTER_ADDR", "127.0.0.1"},
                     {"MASTER_PORT", port},
                     {"XOPS_DIST_TIMEOUT", "60"}});
  };
  auto r1 = std::async(std::launch::async, worker, 1);  // rank 1 first: it waits for rank 0
  auto r0 = worker(0);
  auto w1 = r1.get();
  INFO(r0.err << w1.err);
  REQUIRE(r0.rc == 0);
  REQUIRE(w1.rc == 0);
  CHECK(w1.out.empty());  // stdout is rank 0's
  auto by_hand = json::parse(r0.out);
  CHECK(by_hand["world_size"] == 2);
  CHECK(max_loss_diff(launched, by_hand) < 1e-7);
  CHECK(fs::exists(d.p / "models/by-hand/model.safetensors"));
}

TEST_CASE(
    "e2e: a killed worker ends the distributed run at once, and --resume continues it with "
    "another world size",
    "[e2e][distributed]") {
  DistProject d;
  const std::string marker = "output=killed";
  auto launcher = std::async(std::launch::async, [&] {
    return run_xops({"finetune", "full.yaml", "--set", marker, "--set", "max_steps=100000", "--set",
                     "save_interval=10", "--set", "eval_interval=0", "--nproc-per-node", "2",
                     "--dist-timeout", "60"},
                    d.p);
  });
  const auto ckpt = d.p / ".xops/checkpoints/killed/step-20";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(ckpt) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(fs::exists(ckpt));
  int victim = worker_pid(marker, 1);
  REQUIRE(victim > 0);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(::kill(victim, SIGKILL) == 0);
  REQUIRE(launcher.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto r = launcher.get();
  INFO(r.err);
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("worker rank 1 (pid " + std::to_string(victim) +
                                    ") was killed by signal 9"));
  CHECK_THAT(r.err, Catch::Contains("rank 0 of 2"));  // rank 0 saw the collective fail
  CHECK(took < 30);  // the peers' failure, not the 60 s collective timeout, ended it
  CHECK(worker_pid(marker, 0) == 0);  // no worker outlived the launcher
  // The run was recorded as failed, not left running.
  auto runs = json::parse(run_xops({"--json", "track", "runs"}, d.p).out);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["status"] == "failed");

  // One process continues the two-process run from its newest checkpoint.
  auto resumed = d.finetune({"full.yaml", "--set", marker, "--set", "max_steps=40", "--set",
                             "save_interval=10", "--set", "eval_interval=0", "--resume"});
  CHECK(resumed["resumed_from"].get<int>() >= 20);
  CHECK(resumed["steps"] == 40);
  CHECK(resumed["losses"].size() == 40);
}

TEST_CASE("e2e: a one-process checkpoint resumes on two processes as if never stopped",
          "[e2e][distributed]") {
  DistProject d;
  // Constant learning rate: stopping at 10 of 20 steps changes nothing but the stop.
  auto whole = d.finetune({"full.yaml", "--set", "output=whole", "--set", "eval_interval=0"});
  d.finetune({"full.yaml", "--set", "output=halves", "--set", "eval_interval=0", "--set",
              "max_steps=10", "--set", "save_interval=10"});
  // Rank 0 reads the checkpoint and sends it to rank 1 over the process group (ranks need not
  // share a file system).
  auto second = d.finetune({"full.yaml", "--set", "output=halves", "--set", "eval_interval=0",
                            "--resume", "--nproc-per-node", "2"});
  CHECK(second["resumed_from"] == 10);
  CHECK(max_loss_diff(whole, second) < 1e-5);
  CHECK(max_weight_diff(d.p / "models/whole/model.safetensors",
                        d.p / "models/halves/model.safetensors") < 1e-4);
}

TEST_CASE("e2e: distributed misconfiguration is refused with the variable and a hint, never a hang",
          "[e2e][distributed]") {
  DistProject d;
  auto bad = [&](const std::map<std::string, std::string>& env) {
    return run_xops({"finetune", "full.yaml"}, d.p, env);
  };
  auto r = bad({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_PORT", "29999"}});
  CHECK(r.rc == 2);
  CHECK_THAT(r.err, Catch::Contains("RANK=\"2\" is not a whole number from 0 to 1"));
  r = bad({{"WORLD_SIZE", "2"}, {"RANK", "0"}});
  CHECK(r.rc == 2);
  CHECK_THAT(r.err, Catch::Contains("MASTER_PORT is not set"));
  r = bad({{"WORLD_SIZE", "two"}, {"RANK", "0"}, {"MASTER_PORT", "29999"}});
  CHECK(r.rc == 2);
  CHECK_THAT(r.err, Catch::Contains("WORLD_SIZE=\"two\""));
  // Rank 0 alone: the rendezvous times out and says so.
  auto t0 = std::chrono::steady_clock::now();
  r = bad({{"WORLD_SIZE", "2"},
           {"RANK", "0"},
           {"MASTER_PORT", std::to_string(free_port() + 1)},
           {"XOPS_DIST_TIMEOUT", "2"}});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("no rendezvous of 2 ranks at 127.0.0.1:"));
  CHECK(took < 20);
  // A global batch smaller than the world cannot be split.
  r = run_xops({"finetune", "full.yaml", "--set", "batch_size=1", "--nproc-per-node", "2"}, d.p);
  CHECK(r.rc == 2);
  CHECK_THAT(r.err, Catch::Contains("batch_size 1 is smaller than the world size 2"));
  // Launcher options without the launcher.
  r = run_xops({"finetune", "full.yaml", "--nnodes", "2"}, d.p);
  CHECK(r.rc == 2);
  CHECK_THAT(r.err, Catch::Contains("go with --nproc-per-node"));
}
