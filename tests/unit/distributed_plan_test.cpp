// How a distributed run splits its data and reads its environment (core/engine/batch_plan,
// core/app/finetune_launch): the parts that decide whether N processes train what one does.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "core/app/finetune_launch.hpp"
#include "core/engine/batch_plan.hpp"
#include "core/error.hpp"

using namespace xops;

TEST_CASE("batch plan: over one epoch every window is read exactly once across ranks",
          "[unit][distributed]") {
  for (int world : {1, 2, 3, 4}) {
    for (int batch : {4, 5, 7}) {
      const size_t windows = 60;
      const int accum = 2;
      BatchPlan plan(windows, 42, batch, accum);
      std::map<size_t, int> seen;
      uint64_t samples = 0;
      for (int step = 1; samples < windows; ++step)
        for (int micro = 0; micro < accum && samples < windows; ++micro) {
          auto global = plan.global_batch(step, micro);
          for (int rank = 0; rank < world; ++rank) {
            auto [b, e] = BatchPlan::shard(global.size(), rank, world);
            for (size_t i = b; i < e && samples < windows; ++i, ++samples) ++seen[global[i]];
          }
        }
      INFO("world " << world << " batch " << batch);
      CHECK(seen.size() == windows);
      for (auto& [w, n] : seen) CHECK(n == 1);
    }
  }
}

TEST_CASE("batch plan: shards are contiguous, disjoint, cover the batch and differ by at most one",
          "[unit][distributed]") {
  for (size_t batch : {1u, 2u, 5u, 8u, 13u})
    for (int world = 1; world <= static_cast<int>(batch); ++world) {
      size_t next = 0, lo = batch, hi = 0;
      for (int r = 0; r < world; ++r) {
        auto [b, e] = BatchPlan::shard(batch, r, world);
        CHECK(b == next);
        next = e;
        lo = std::min(lo, e - b);
        hi = std::max(hi, e - b);
      }
      CHECK(next == batch);
      CHECK(hi - lo <= 1);
      CHECK(lo >= 1);
    }
}

TEST_CASE("batch plan: the global batch depends on the seed and step, not on the world size",
          "[unit][distributed]") {
  BatchPlan a(100, 7, 8, 2), b(100, 7, 8, 2), c(100, 8, 8, 2);
  CHECK(a.global_batch(3, 1) == b.global_batch(3, 1));
  CHECK(a.global_batch(3, 1) != c.global_batch(3, 1));
  // Step 1 micro 1 continues where micro 0 stopped: samples 8..15 of the permutation.
  BatchPlan d(100, 7, 8, 2);
  std::vector<size_t> expect;
  for (uint64_t i = 8; i < 16; ++i) expect.push_back(d.window_at(i));
  CHECK(a.global_batch(1, 1) == expect);
}

namespace {
app::EnvLookup env_of(std::map<std::string, std::string> m) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(m));
  return [shared](const char* k) -> const char* {
    auto it = shared->find(k);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}
}  // namespace

TEST_CASE("world from env: torchrun's variables, defaults and refusals", "[unit][distributed]") {
  CHECK(!app::world_from_env(env_of({})));
  CHECK(!app::world_from_env(env_of({{"WORLD_SIZE", "1"}, {"RANK", "0"}})));
  auto w = app::world_from_env(env_of({{"WORLD_SIZE", "4"},
                                       {"RANK", "3"},
                                       {"LOCAL_RANK", "1"},
                                       {"LOCAL_WORLD_SIZE", "2"},
                                       {"MASTER_ADDR", "10.0.0.5"},
                                       {"MASTER_PORT", "29500"},
                                       {"XOPS_DIST_TIMEOUT", "42"}}));
  REQUIRE(w);
  CHECK(w->rank == 3);
  CHECK(w->world_size == 4);
  CHECK(w->local_rank == 1);
  CHECK(w->local_world_size == 2);
  CHECK(w->master_addr == "10.0.0.5");
  CHECK(w->master_port == 29500);
  CHECK(w->timeout_s == 42);
  // Set by hand with only the essentials: one node, loopback.
  auto h =
      app::world_from_env(env_of({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_PORT", "1234"}}));
  REQUIRE(h);
  CHECK(h->local_rank == 1);
  CHECK(h->local_world_size == 2);
  CHECK(h->master_addr == "127.0.0.1");
  auto refused = [](std::map<std::string, std::string> m) {
    try {
      app::world_from_env(env_of(std::move(m)));
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(refused({{"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}), Catch::Contains("RANK is not"));
  CHECK_THAT(refused({{"WORLD_SIZE", "2"}, {"RANK", "-1"}, {"MASTER_PORT", "1"}}),
             Catch::Contains("RANK=\"-1\""));
  CHECK_THAT(refused({{"WORLD_SIZE", "2"}, {"RANK", "1 "}, {"MASTER_PORT", "1"}}),
             Catch::Contains("RANK=\"1 \""));
  CHECK_THAT(refused({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "70000"}}),
             Catch::Contains("MASTER_PORT=\"70000\""));
  CHECK_THAT(refused({{"WORLD_SIZE", "0"}, {"RANK", "0"}, {"MASTER_PORT", "1"}}),
             Catch::Contains("WORLD_SIZE=\"0\""));
  CHECK_THAT(refused({{"WORLD_SIZE", "4"},
                      {"RANK", "0"},
                      {"LOCAL_WORLD_SIZE", "2"},
                      {"LOCAL_RANK", "2"},
                      {"MASTER_PORT", "1"}}),
             Catch::Contains("LOCAL_RANK=\"2\""));
}

TEST_CASE("launcher: workers run the command line without the launcher's own options",
          "[unit][distributed]") {
  std::vector<std::string> argv = {"/usr/bin/xops",
                                   "-q",
                                   "finetune",
                                   "c.yaml",
                                   "--set",
                                   "max_steps=5",
                                   "--nproc-per-node",
                                   "2",
                                   "--master-port=29501",
                                   "--nnodes",
                                   "1",
                                   "--dist-timeout",
                                   "30",
                                   "--resume"};
  CHECK(app::strip_launcher_args(argv) == std::vector<std::string>{"/usr/bin/xops", "-q",
                                                                   "finetune", "c.yaml", "--set",
                                                                   "max_steps=5", "--resume"});
}

TEST_CASE("launcher: impossible layouts are refused before anything starts",
          "[unit][distributed]") {
  app::LaunchSpec s;
  s.worker_argv = {"/bin/false"};
  s.nproc_per_node = 2;
  s.nnodes = 2;
  s.node_rank = 2;
  CHECK_THROWS_WITH(app::launch_workers(s), Catch::Contains("need N >= 1"));
  s.node_rank = 1;
  CHECK_THROWS_WITH(app::launch_workers(s), Catch::Contains("needs --master-addr"));
}

TEST_CASE("launcher: a failing worker's exit code becomes the launcher's error kind",
          "[unit][distributed]") {
  app::LaunchSpec s;
  s.nproc_per_node = 2;
  s.grace_s = 5;
  // Rank 1 fails with a usage error; rank 0 would run for a minute unless stopped.
  s.worker_argv = {"/bin/sh", "-c", "if [ \"$RANK\" = 1 ]; then exit 2; fi; sleep 60"};
  auto t0 = std::chrono::steady_clock::now();
  try {
    app::launch_workers(s);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK_THAT(e.what(), Catch::Contains("worker rank 1"));
    CHECK_THAT(e.what(), Catch::Contains("exited with status 2"));
  }
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4));  // SIGTERM, not grace
  // Every worker sees torchrun's variables.
  s.worker_argv = {"/bin/sh", "-c",
                   "test \"$WORLD_SIZE\" = 2 -a \"$LOCAL_WORLD_SIZE\" = 2 -a \"$LOCAL_RANK\" = "
                   "\"$RANK\" -a \"$MASTER_ADDR\" = 127.0.0.1 -a -n \"$MASTER_PORT\" -a "
                   "\"$GROUP_RANK\" = 0"};
  CHECK_NOTHROW(app::launch_workers(s));
}
